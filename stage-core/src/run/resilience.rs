//! Resilience policies around a stage call (contract §6), in the contract's order: rate limit
//! (per policy), circuit breaker (per stage), retries with backoff, each attempt bounded by
//! the policy's timeout. Time is the runner's clock, so tests run on fake time.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::policy::{
    duration_from_secs, Backoff, BackoffStrategy, CircuitBreaker, RateLimit, MAX_BACKOFF_SECONDS,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Resilience {
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
}
