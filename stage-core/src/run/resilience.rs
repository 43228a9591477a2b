//! Resilience policies around a stage call (contract §6), in the contract's order: rate limit
//! (per policy), circuit breaker (per stage), retries with backoff, each attempt bounded by
//! the policy's timeout. Time is the runner's clock, so tests run on fake time.
//!
//! [`Resilience::call`] composes the layers into one call around a closure that makes one
//! attempt (as tower composes layers around a service): the runner knows how to attempt a
//! stage, and nothing of the policy; this module knows the policy, and nothing of stages.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::attempt::Ended;
use super::report::FailureKind;
use crate::policy::{
    duration_from_secs, Backoff, BackoffStrategy, CircuitBreaker, Policy, RateLimit, MAX_BACKOFF_SECONDS,
};
use crate::Clock;

/// Per-runner resilience state: shared by every run of the runner.
#[derive(Debug)]
pub(crate) struct Resilience {
    /// Next free slot per policy name.
    limiters: Mutex<HashMap<String, SystemTime>>,
    /// Breaker state per `pipeline/stage`.
    breakers: Mutex<HashMap<String, Breaker>>,
    rng: Mutex<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: SystemTime },
    HalfOpen,
}

impl Default for Resilience {
    fn default() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        Resilience { limiters: Mutex::default(), breakers: Mutex::default(), rng: Mutex::new(h.finish() | 1) }
    }
}

/// The stage a call is for, as the policy layers see it.
pub(crate) struct Target<'a> {
    /// The pipeline's name: with the stage's, the key of the stage's circuit breaker.
    pub(crate) pipeline: &'a str,
    /// The stage's name.
    pub(crate) stage: &'a str,
    /// Whether the stage is a gate: a gate's waiting is governed by its own timing, never by
    /// the policy's timeout.
    pub(crate) parks: bool,
}

/// What a call under a policy came to: the final outcome, and the attempt figures.
pub(crate) struct Guarded {
    /// How the last attempt (or the breaker) ended the call.
    pub(crate) ended: Ended,
    /// The attempts made (1 when the breaker refused the first).
    pub(crate) attempts: u32,
    /// For a failure: whether it was retried and why (not), for its report line.
    pub(crate) retry: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Resilience {
    /// One call of `target` under `policy`, its layers in the contract's order: rate limit →
    /// circuit breaker → attempt → retry with backoff, every attempt going through all of
    /// them. `attempt` makes one attempt, bounded by the timeout it is given (`None`: no
    /// bound); `retrying` is told of each retry (the attempt that failed, the pause, its
    /// error) before the pause. Without a policy: one attempt, unbounded, not retried.
    pub(crate) fn call(
        &self,
        policy: Option<&Policy>,
        target: &Target<'_>,
        clock: &dyn Clock,
        mut attempt: impl FnMut(Option<Duration>) -> Ended,
        mut retrying: impl FnMut(u32, Duration, String),
    ) -> Guarded {
        let Some(policy) = policy else {
            let ended = attempt(None);
            let retry =
                matches!(ended, Ended::Failed(..)).then(|| "not retried: the stage has no policy".to_owned());
            return Guarded { ended, attempts: 1, retry };
        };
        let max_attempts = policy.max_attempts.max(1);
        let timeout =
            (!target.parks).then(|| duration_from_secs(policy.timeout_seconds, MAX_BACKOFF_SECONDS));
        let breaker = policy.circuit_breaker.as_ref();
        let breaker_key =
            if breaker.is_some() { format!("{}/{}", target.pipeline, target.stage) } else { String::new() };
        let mut attempts = 0;
        let ended = loop {
            attempts += 1;
            if let Some(limit) = &policy.rate_limit {
                self.acquire(&policy.name, limit, clock);
            }
            if let Some(cb) = breaker {
                if let Err(msg) = self.allow(&breaker_key, cb, clock) {
                    break Ended::Failed(msg, FailureKind::BreakerOpen);
                }
            }
            let outcome = attempt(timeout);
            if let Some(cb) = breaker {
                // The breaker protects the outside service: it counts only that service's
                // (transient) failures; bad data, panics and timeouts say nothing about it.
                match &outcome {
                    Ended::Failed(_, FailureKind::Transient) => self.record(&breaker_key, cb, false, clock),
                    Ended::Failed(..) => {}
                    Ended::Done { .. } | Ended::Parked(_) => self.record(&breaker_key, cb, true, clock),
                }
            }
            match outcome {
                Ended::Failed(reason, kind) if kind.is_retryable() && attempts < max_attempts => {
                    let pause = self.backoff(&policy.backoff, attempts);
                    retrying(attempts, pause, reason);
                    clock.sleep(pause);
                }
                other => break other,
            }
        };
        let retry = match &ended {
            Ended::Failed(_, kind) => Some(retry_note(*kind, attempts, max_attempts, &policy.name)),
            _ => None,
        };
        Guarded { ended, attempts, retry }
    }

    /// Waits for the policy's next rate-limit slot.
    pub(crate) fn acquire(&self, policy: &str, limit: &RateLimit, clock: &dyn Clock) {
        // A rate of 0.1/s (the smallest a policy file allows) is a 10 s interval; the cap only
        // matters for a policy built in code with a wild rate.
        let interval = duration_from_secs(1.0 / limit.rate_limit_per_second, MAX_BACKOFF_SECONDS);
        let wait = {
            let now = clock.now();
            let mut slots = lock(&self.limiters);
            let slot = slots.entry(policy.to_owned()).or_insert(now);
            let start = (*slot).max(now);
            *slot = start + interval;
            start.duration_since(now).unwrap_or_default()
        };
        if !wait.is_zero() {
            clock.sleep(wait);
        }
    }

    /// Whether the breaker lets a call through now; the message when it does not.
    pub(crate) fn allow(&self, key: &str, breaker: &CircuitBreaker, clock: &dyn Clock) -> Result<(), String> {
        let mut breakers = lock(&self.breakers);
        let state = breakers.entry(key.to_owned()).or_insert(Breaker::Closed { failures: 0 });
        match *state {
            Breaker::Open { until } if clock.now() < until => {
                let left = until.duration_since(clock.now()).unwrap_or_default();
                Err(format!(
                    "circuit breaker open after {} consecutive failures; calls resume in {:.1} s",
                    breaker.failure_threshold,
                    left.as_secs_f64()
                ))
            }
            Breaker::Open { .. } => {
                *state = Breaker::HalfOpen;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Records an attempt's outcome.
    pub(crate) fn record(&self, key: &str, breaker: &CircuitBreaker, ok: bool, clock: &dyn Clock) {
        let mut breakers = lock(&self.breakers);
        let state = breakers.entry(key.to_owned()).or_insert(Breaker::Closed { failures: 0 });
        let recovery = duration_from_secs(breaker.recovery_timeout, MAX_BACKOFF_SECONDS);
        *state = match (*state, ok) {
            (_, true) => Breaker::Closed { failures: 0 },
            (Breaker::HalfOpen, false) => Breaker::Open { until: clock.now() + recovery },
            (Breaker::Closed { failures }, false) if failures + 1 >= breaker.failure_threshold => {
                Breaker::Open { until: clock.now() + recovery }
            }
            (Breaker::Closed { failures }, false) => Breaker::Closed { failures: failures + 1 },
            (open @ Breaker::Open { .. }, false) => open,
        };
    }

    /// The pause before attempt `attempt + 1`, after attempt `attempt` (1-based) failed:
    /// never more than `maximum`, nor than [`MAX_BACKOFF_SECONDS`] (a policy file cannot give
    /// more; a policy built in code with NaN, infinite or huge values gets a bounded pause, not
    /// a panic).
    pub(crate) fn backoff(&self, backoff: &Backoff, attempt: u32) -> Duration {
        let base = match backoff.strategy {
            BackoffStrategy::None => return Duration::ZERO,
            BackoffStrategy::Exponential => {
                backoff.initial * 2f64.powi(attempt.saturating_sub(1).min(60) as i32)
            }
            BackoffStrategy::Linear => backoff.initial * f64::from(attempt),
        };
        let capped = base.min(backoff.maximum).clamp(0.0, MAX_BACKOFF_SECONDS);
        let capped = if capped.is_nan() { 0.0 } else { capped };
        let secs = if backoff.jitter {
            // Equal jitter: half the delay, plus a uniformly random part of the other half.
            capped / 2.0 + capped / 2.0 * self.uniform()
        } else {
            capped
        };
        duration_from_secs(secs, MAX_BACKOFF_SECONDS)
    }

    /// A uniform number in [0, 1) (xorshift64*, seeded per process).
    fn uniform(&self) -> f64 {
        let mut s = lock(&self.rng);
        let mut x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Why a failed stage was, or was not, retried (more), for its report line.
fn retry_note(kind: FailureKind, attempts: u32, max_attempts: u32, policy: &str) -> String {
    match kind {
        FailureKind::Transient | FailureKind::TimedOut if attempts >= max_attempts => {
            if max_attempts <= 1 {
                format!("not retried: policy `{policy}` allows one attempt")
            } else {
                format!("retried: all {max_attempts} attempts that policy `{policy}` allows failed")
            }
        }
        FailureKind::Transient | FailureKind::TimedOut => "not retried".to_owned(),
        FailureKind::Permanent => {
            "not retried: a permanent failure (another attempt cannot fix it)".to_owned()
        }
        FailureKind::Panicked => {
            "not retried: a panic is a bug or bad data, not a transient failure".to_owned()
        }
        FailureKind::BreakerOpen => {
            "not retried: the stage's circuit breaker is open (its outside service failed repeatedly)"
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeClock;

    fn backoff(strategy: BackoffStrategy, jitter: bool) -> Backoff {
        Backoff { strategy, initial: 0.5, maximum: 3.0, jitter }
    }

    #[test]
    fn backoff_grows_as_its_strategy_says_and_is_capped() {
        let r = Resilience::default();
        let secs = |b: &Backoff| (1..=5).map(|a| r.backoff(b, a).as_secs_f64()).collect::<Vec<_>>();
        assert_eq!(secs(&backoff(BackoffStrategy::Exponential, false)), [0.5, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(secs(&backoff(BackoffStrategy::Linear, false)), [0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(secs(&backoff(BackoffStrategy::None, true)), [0.0; 5]);
    }

    #[test]
    fn jitter_really_jitters_within_half_and_full_delay() {
        let r = Resilience::default();
        let b = backoff(BackoffStrategy::Exponential, true);
        let samples: Vec<f64> = (0..200).map(|_| r.backoff(&b, 3).as_secs_f64()).collect();
        assert!(samples.iter().all(|s| (1.0..=2.0).contains(s)), "{samples:?}");
        let distinct: std::collections::BTreeSet<u64> = samples.iter().map(|s| (s * 1e6) as u64).collect();
        assert!(distinct.len() > 150, "only {} distinct delays", distinct.len());
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((1.35..1.65).contains(&mean), "mean {mean}");
    }

    #[test]
    fn wild_backoff_numbers_give_bounded_pauses_not_panics() {
        let r = Resilience::default();
        let day = Duration::from_secs(86_400);
        for (initial, maximum) in [
            (1e308, 1e308),
            (1e9, 1e9),
            (f64::INFINITY, f64::INFINITY),
            (f64::NAN, f64::NAN),
            (-1.0, -5.0),
            (0.5, f64::NAN),
        ] {
            for strategy in [BackoffStrategy::Exponential, BackoffStrategy::Linear] {
                for jitter in [false, true] {
                    let b = Backoff { strategy, initial, maximum, jitter };
                    for attempt in [1, 2, 63, 64, u32::MAX] {
                        let d = r.backoff(&b, attempt);
                        assert!(d <= day, "{b:?} attempt {attempt}: {d:?}");
                    }
                }
            }
        }
        let huge =
            Backoff { strategy: BackoffStrategy::Exponential, initial: 1e308, maximum: 1e308, jitter: false };
        assert_eq!(r.backoff(&huge, 1), day, "capped at one day");
        let nan =
            Backoff { strategy: BackoffStrategy::Linear, initial: f64::NAN, maximum: 1.0, jitter: false };
        assert_eq!(r.backoff(&nan, 3), Duration::from_secs(1), "a NaN delay falls back to `maximum`");
        // Rate limits and breakers built in code with wild numbers do not panic either.
        let clock = FakeClock::default();
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            r.acquire("wild", &RateLimit { rate_limit_per_second: rate }, &clock);
        }
        let cb = CircuitBreaker { failure_threshold: 1, recovery_timeout: f64::INFINITY };
        r.record("p/wild", &cb, false, &clock);
        assert!(r.allow("p/wild", &cb, &clock).is_err());
    }

    #[test]
    fn the_rate_limit_spaces_calls_on_the_clock() {
        let r = Resilience::default();
        let clock = FakeClock::default();
        let start = clock.now();
        let limit = RateLimit { rate_limit_per_second: 5.0 };
        for _ in 0..11 {
            r.acquire("polite-api", &limit, &clock);
        }
        // The first call goes at once, the next ten every 200 ms.
        assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn the_breaker_opens_at_its_threshold_and_closes_after_recovery() {
        let r = Resilience::default();
        let clock = FakeClock::default();
        let cb = CircuitBreaker { failure_threshold: 3, recovery_timeout: 60.0 };
        for _ in 0..3 {
            assert!(r.allow("p/s", &cb, &clock).is_ok());
            r.record("p/s", &cb, false, &clock);
        }
        let open = r.allow("p/s", &cb, &clock).unwrap_err();
        assert_eq!(open, "circuit breaker open after 3 consecutive failures; calls resume in 60.0 s");
        clock.advance(Duration::from_secs(59));
        assert!(r.allow("p/s", &cb, &clock).is_err());
        clock.advance(Duration::from_secs(1));
        // Half-open: one trial; a failure opens it again at once.
        assert!(r.allow("p/s", &cb, &clock).is_ok());
        r.record("p/s", &cb, false, &clock);
        assert!(r.allow("p/s", &cb, &clock).is_err());
        clock.advance(Duration::from_secs(60));
        assert!(r.allow("p/s", &cb, &clock).is_ok());
        r.record("p/s", &cb, true, &clock);
        assert!(r.allow("p/s", &cb, &clock).is_ok());
        // Other stages have their own breaker.
        assert!(r.allow("p/other", &cb, &clock).is_ok());
    }

    #[test]
    fn a_call_takes_every_attempt_through_every_layer_and_a_gate_gets_no_timeout() {
        let r = Resilience::default();
        let clock = FakeClock::default();
        let start = clock.now();
        let policy = Policy {
            name: "p".to_owned(),
            max_attempts: 3,
            timeout_seconds: 30.0,
            backoff: Backoff {
                strategy: BackoffStrategy::Linear,
                initial: 1.0,
                maximum: 10.0,
                jitter: false,
            },
            circuit_breaker: None,
            rate_limit: Some(RateLimit { rate_limit_per_second: 0.5 }),
            loc: Default::default(),
        };
        let mut timeouts = Vec::new();
        let mut retries = Vec::new();
        let target = Target { pipeline: "pl", stage: "s", parks: false };
        let out = r.call(
            Some(&policy),
            &target,
            &clock,
            |t| {
                timeouts.push(t);
                Ended::Failed("down".to_owned(), FailureKind::Transient)
            },
            |attempt, pause, reason| retries.push((attempt, pause.as_secs(), reason)),
        );
        assert_eq!(out.attempts, 3);
        assert_eq!(out.retry.as_deref(), Some("retried: all 3 attempts that policy `p` allows failed"));
        assert_eq!(timeouts, [Some(Duration::from_secs(30)); 3]);
        assert_eq!(retries, [(1, 1, "down".to_owned()), (2, 2, "down".to_owned())]);
        // Each retry waits for its rate-limit slot too: 0 s, then 1 s backoff + 1 s more for
        // the slot (one call per 2 s), then 2 s backoff, the slot already free.
        assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(4));

        // A gate's waiting is its own: no timeout, even under a policy.
        let gate = Target { pipeline: "pl", stage: "g", parks: true };
        let mut timeouts = Vec::new();
        let out = r.call(
            Some(&policy),
            &gate,
            &clock,
            |t| {
                timeouts.push(t);
                Ended::Parked("waiting".to_owned())
            },
            |_, _, _| panic!("a park is not retried"),
        );
        assert_eq!((out.attempts, out.retry), (1, None));
        assert_eq!(timeouts, [None]);
    }
}
