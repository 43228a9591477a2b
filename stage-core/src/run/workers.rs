//! Threads for attempts that run under a timeout, kept between attempts: starting a thread
//! per attempt costs a spawn (and cold caches) on every stage call.
//!
//! An attempt that outlives its timeout keeps its thread until the stage returns; the thread
//! then becomes idle again. Idle threads end after [`IDLE`] without work.

use std::sync::{mpsc, Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// How long an idle thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(30);

type Task = Box<dyn FnOnce() + Send + 'static>;

/// The pool: the senders of the idle threads, most recently idle last.
#[derive(Default)]
pub(crate) struct Workers {
    idle: Mutex<Vec<mpsc::Sender<Task>>>,
}

impl Workers {
    /// Runs `task` on an idle thread, or on a new one.
    pub(crate) fn run(self: &Arc<Self>, task: Task) -> std::io::Result<()> {
        let mut task = task;
        loop {
            let next = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some(worker) = next else { break };
            match worker.send(task) {
                Ok(()) => return Ok(()),
                // That thread ended (idle too long): try the next one.
                Err(mpsc::SendError(back)) => task = back,
            }
        }
        let (tx, rx) = mpsc::channel::<Task>();
        let pool: Weak<Workers> = Arc::downgrade(self);
        let own = tx.clone();
        tx.send(task).map_err(|_| std::io::Error::other("the new worker's channel closed"))?;
        std::thread::Builder::new().name("stage-attempt".to_owned()).spawn(move || {
            while let Ok(task) = rx.recv_timeout(IDLE) {
                task();
                let Some(pool) = pool.upgrade() else { break };
                pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(own.clone());
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_reused_between_tasks() {
        let pool = Arc::new(Workers::default());
        let mut ids = Vec::new();
        for _ in 0..5 {
            let (tx, rx) = mpsc::channel();
            pool.run(Box::new(move || tx.send(std::thread::current().id()).unwrap())).unwrap();
            ids.push(rx.recv().unwrap());
            // Let the thread put itself back before the next task.
            while pool.idle.lock().unwrap().is_empty() {
                std::thread::yield_now();
            }
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one thread for all: {ids:?}");
    }

    #[test]
    fn a_busy_thread_is_not_given_more_work() {
        let pool = Arc::new(Workers::default());
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (id_tx, id_rx) = mpsc::channel();
        let first = id_tx.clone();
        pool.run(Box::new(move || {
            first.send(std::thread::current().id()).unwrap();
            let _ = hold_rx.recv();
        }))
        .unwrap();
        pool.run(Box::new(move || id_tx.send(std::thread::current().id()).unwrap())).unwrap();
        let (a, b) = (id_rx.recv().unwrap(), id_rx.recv().unwrap());
        assert_ne!(a, b, "the second task ran while the first held its thread");
        drop(hold_tx);
    }
}
