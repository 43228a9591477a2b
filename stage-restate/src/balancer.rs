//! A small HTTP/2 load balancer for N workers: `stagectl balance`.
//!
//! Restate pushes a deployment's invocations to one URI. To spread runs over N workers, register
//! a balancer in front of them as the deployment: it sends each request (one invocation attempt,
//! one HTTP/2 stream) to the next worker in turn. Any worker can continue any run, since a
//! replay rebuilds the run from the server's journal, so no request needs to stick to a worker.
//!
//! A worker that cannot be reached is skipped for [`DOWN_FOR`] after the request that found it
//! down (that request answers 502 and the server retries the invocation, which goes to a worker
//! that is up); when every worker is down, each request tries the next one anyway. This is
//! enough for workers on one machine or a few; in production, any L7 balancer that speaks
//! HTTP/2 cleartext (h2c) to its backends does the same job (envoy, nginx `grpc_pass`, a
//! cloud load balancer).
//!
//! ```no_run
//! # fn main() -> Result<(), stage_restate::RestateError> {
//! let workers = vec!["127.0.0.1:9081".parse().unwrap(), "127.0.0.1:9082".parse().unwrap()];
//! stage_restate::balancer::balance_blocking("127.0.0.1:9080".parse().unwrap(), workers, |addr| {
//!     println!("balancing on http://{addr}");
//! })?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::RestateError;

/// How long a worker that could not be reached is skipped.
pub const DOWN_FOR: Duration = Duration::from_secs(2);

type Body = BoxBody<Bytes, hyper::Error>;

/// The workers and whose turn it is.
struct Backends {
    addrs: Vec<SocketAddr>,
    next: AtomicUsize,
    /// Per worker: until when it is skipped, in milliseconds since `epoch` (0: up).
    down_until: Vec<AtomicU64>,
    epoch: Instant,
}

impl Backends {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The next worker in turn that is not marked down (or simply the next one if all are).
    fn pick(&self) -> usize {
        let n = self.addrs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = self.now_ms();
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.down_until[i].load(Ordering::Relaxed) <= now)
            .unwrap_or(start)
    }

    fn mark_down(&self, i: usize) {
        let until = self.now_ms().saturating_add(u64::try_from(DOWN_FOR.as_millis()).unwrap_or(u64::MAX));
        self.down_until[i].store(until, Ordering::Relaxed);
    }
}

/// Forwards each request on connections `listener` accepts to the next of `workers` in turn,
/// until `shutdown` completes.
pub async fn balance(
    listener: tokio::net::TcpListener,
    workers: Vec<SocketAddr>,
    shutdown: impl std::future::Future,
) -> Result<(), RestateError> {
    if workers.is_empty() {
        return Err(RestateError::Server("the balancer needs at least one worker address".into()));
    }
    let backends = Arc::new(Backends {
        down_until: workers.iter().map(|_| AtomicU64::new(0)).collect(),
        addrs: workers,
        next: AtomicUsize::new(0),
        epoch: Instant::now(),
    });
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("balancer: cannot accept a connection: {e}");
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let (client, backends) = (client.clone(), backends.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                forward(client.clone(), backends.clone(), req)
            });
            if let Err(e) = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("balancer: connection ended: {e}");
            }
        });
    }
}

async fn forward(
    client: Client<HttpConnector, Incoming>,
    backends: Arc<Backends>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let i = backends.pick();
    let addr = backends.addrs[i];
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri = format!("http://{addr}{path}");
    match uri.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(e) => return Ok(status(StatusCode::BAD_REQUEST, format!("bad request path: {e}"))),
    }
    match client.request(req).await {
        Ok(response) => Ok(response.map(BodyExt::boxed)),
        Err(e) => {
            if e.is_connect() {
                backends.mark_down(i);
            }
            tracing::warn!("balancer: worker {addr} did not answer: {e}");
            Ok(status(StatusCode::BAD_GATEWAY, format!("worker {addr} did not answer: {e}")))
        }
    }
}

fn status(code: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed());
    *response.status_mut() = code;
    response
}

/// Runs [`balance`] on `addr` (port 0: a free one) on a runtime of its own, until SIGTERM or
/// SIGINT; `ready` is told the address it listens on.
pub fn balance_blocking(
    addr: SocketAddr,
    workers: Vec<SocketAddr>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), RestateError> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        balance(listener, workers, crate::shutdown_signal("balancer")).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(n: usize) -> Backends {
        Backends {
            addrs: (0..n).map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16))).collect(),
            next: AtomicUsize::new(0),
            down_until: (0..n).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
        }
    }

    #[test]
    fn workers_take_turns_and_a_down_one_is_skipped() {
        let b = backends(3);
        assert_eq!((0..6).map(|_| b.pick()).collect::<Vec<_>>(), [0, 1, 2, 0, 1, 2]);
        b.mark_down(1);
        assert_eq!((0..4).map(|_| b.pick()).collect::<Vec<_>>(), [0, 2, 2, 0]);
    }

    #[test]
    fn when_all_are_down_each_still_gets_its_turn() {
        let b = backends(2);
        b.mark_down(0);
        b.mark_down(1);
        assert_eq!((0..4).map(|_| b.pick()).collect::<Vec<_>>(), [0, 1, 0, 1]);
    }
}
