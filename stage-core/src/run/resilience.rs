//! Resilience policies around a stage call (contract §6), in the contract's order: rate limit
//! (per policy), circuit breaker (per stage), retries with backoff, each attempt bounded by
//! the policy's timeout. Time is the runner's clock, so tests run on fake time.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::policy::{Backoff, BackoffStrategy, CircuitBreaker, RateLimit};
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Resilience {
    /// Waits for the policy's next rate-limit slot.
    pub(crate) fn acquire(&self, policy: &str, limit: &RateLimit, clock: &dyn Clock) {
        let interval = Duration::from_secs_f64(1.0 / limit.rate_limit_per_second.max(f64::MIN_POSITIVE));
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
        let recovery = Duration::from_secs_f64(breaker.recovery_timeout.max(0.0));
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

    /// The pause before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.
    pub(crate) fn backoff(&self, backoff: &Backoff, attempt: u32) -> Duration {
        let base = match backoff.strategy {
            BackoffStrategy::None => return Duration::ZERO,
            BackoffStrategy::Exponential => {
                backoff.initial * 2f64.powi(attempt.saturating_sub(1).min(60) as i32)
            }
            BackoffStrategy::Linear => backoff.initial * f64::from(attempt),
        };
        let capped = base.min(backoff.maximum).max(0.0);
        let secs = if backoff.jitter {
            // Equal jitter: half the delay, plus a uniformly random part of the other half.
            capped / 2.0 + capped / 2.0 * self.uniform()
        } else {
            capped
        };
        Duration::from_secs_f64(secs)
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
}
