//! Retry delays for permanent requests: btcd's linear steps, or exponential with jitter.
//!
//! A request keeps one `u32` of backoff state: the attempt count for the linear and exponential
//! rules, the previous delay in milliseconds for decorrelated jitter (which depends on nothing
//! else). Zero means fresh. Randomness is an input, so simulated runs repeat exactly.

use std::time::Duration;

use crate::rng::Rng;

/// How long a permanent request waits before its next attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backoff {
    /// btcd's rule: `retry_duration × attempt`, capped at `max_retry_duration`.
    #[default]
    Linear,
    /// `retry_duration × 2^(attempt − 1)`, capped at `max_retry_duration`, then jittered.
    Exponential(Jitter),
}

/// How an exponential delay is spread, so peers that failed together do not retry together
/// (the names are those of the AWS architecture blog's "Exponential Backoff And Jitter").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// The delay as computed.
    #[default]
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[retry_duration, 3 × previous delay]`, capped; it grows without an attempt count.
    Decorrelated,
}

impl Backoff {
    /// The next delay and the request's new backoff state, from its current state.
    pub(crate) fn next(self, base: Duration, cap: Duration, state: u32, rng: &mut Rng) -> (Duration, u32) {
        match self {
            Backoff::Linear => {
                let n = state.saturating_add(1);
                (base.saturating_mul(n).min(cap), n)
            }
            Backoff::Exponential(Jitter::Decorrelated) => {
                let prev = if state == 0 { base } else { Duration::from_millis(u64::from(state)) };
                let hi = prev.saturating_mul(3).min(cap);
                let lo = base.min(hi);
                let delay = uniform(lo, hi, rng);
                // At least 1 so the state never reads as fresh again.
                (delay, u32::try_from(delay.as_millis()).unwrap_or(u32::MAX).max(1))
            }
            Backoff::Exponential(jitter) => {
                let n = state.saturating_add(1);
                let shift = (n - 1).min(63);
                let factor = 1u64.checked_shl(shift).unwrap_or(u64::MAX);
                let delay = saturating_mul64(base, factor).min(cap);
                let delay = if jitter == Jitter::Full { uniform(Duration::ZERO, delay, rng) } else { delay };
                (delay, n)
            }
        }
    }
}

impl Backoff {
    /// The delay again without a step, for a failure charged to nobody: the last delay given
    /// (re-drawn under full jitter), or the first one if there was none.
    pub(crate) fn hold(self, base: Duration, cap: Duration, state: u32, rng: &mut Rng) -> Duration {
        match self {
            Backoff::Exponential(Jitter::Decorrelated) if state != 0 => {
                Duration::from_millis(u64::from(state)).min(cap)
            }
            Backoff::Exponential(Jitter::Decorrelated) => base.min(cap),
            _ => self.next(base, cap, state.saturating_sub(1), rng).0,
        }
    }
}

fn saturating_mul64(d: Duration, factor: u64) -> Duration {
    match u32::try_from(factor) {
        Ok(f) => d.saturating_mul(f),
        Err(_) => d.saturating_mul(u32::MAX),
    }
}

/// Uniform in `[lo, hi]` at nanosecond resolution (spans here are at most a year, ~2^55 ns).
fn uniform(lo: Duration, hi: Duration, rng: &mut Rng) -> Duration {
    let span = u64::try_from((hi - lo).as_nanos()).unwrap_or(u64::MAX);
    let offset = match span.checked_add(1) {
        Some(n) => rng.next_u64() % n,
        None => rng.next_u64(),
    };
    lo + Duration::from_nanos(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(1);

    fn run(b: Backoff, base: Duration, cap: Duration, n: usize, seed: u64) -> Vec<Duration> {
        let mut rng = Rng::new(seed);
        let mut state = 0;
        (0..n)
            .map(|_| {
                let (d, s) = b.next(base, cap, state, &mut rng);
                state = s;
                d
            })
            .collect()
    }

    #[test]
    fn holding_repeats_the_last_delay() {
        let mut rng = Rng::new(1);
        for b in [Backoff::Linear, Backoff::Exponential(Jitter::None)] {
            assert_eq!(b.hold(S, 60 * S, 0, &mut rng), S, "{b:?}: nothing given yet: the first delay");
            let (d1, s1) = b.next(S, 60 * S, 0, &mut rng);
            let (d2, s2) = b.next(S, 60 * S, s1, &mut rng);
            assert_eq!(b.hold(S, 60 * S, s1, &mut rng), d1, "{b:?}");
            assert_eq!(b.hold(S, 60 * S, s2, &mut rng), d2, "{b:?}");
        }
        let deco = Backoff::Exponential(Jitter::Decorrelated);
        let (d, s) = deco.next(S, 60 * S, 0, &mut rng);
        assert_eq!(deco.hold(S, 60 * S, s, &mut rng), Duration::from_millis(d.as_millis() as u64));
    }

    #[test]
    fn linear_is_btcds() {
        let d = run(Backoff::Linear, 5 * S, 300 * S, 62, 0);
        assert_eq!(&d[..3], &[5 * S, 10 * S, 15 * S]);
        assert_eq!((d[59], d[61]), (300 * S, 300 * S));
    }

    #[test]
    fn exponential_doubles_to_the_cap_and_never_overflows() {
        let d = run(Backoff::Exponential(Jitter::None), S, 60 * S, 100, 0);
        assert_eq!(&d[..7], &[S, 2 * S, 4 * S, 8 * S, 16 * S, 32 * S, 60 * S]);
        assert!(d[6..].iter().all(|&x| x == 60 * S));
    }

    proptest! {
        #[test]
        fn jittered_delays_stay_in_their_bounds(
            base_ms in 1u64..10_000, cap_ms in 1u64..600_000, seed: u64, n in 1usize..80,
        ) {
            let (base, cap) = (Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
            let full = run(Backoff::Exponential(Jitter::Full), base, cap, n, seed);
            let plain = run(Backoff::Exponential(Jitter::None), base, cap, n, seed);
            for (j, p) in full.iter().zip(&plain) {
                prop_assert!(j <= p, "full jitter {j:?} above its exponential {p:?}");
            }
            let deco = run(Backoff::Exponential(Jitter::Decorrelated), base, cap, n, seed);
            let mut prev = base;
            for &d in &deco {
                prop_assert!(d <= cap, "{d:?} above the cap {cap:?}");
                prop_assert!(d >= base.min(cap), "{d:?} below the base {base:?}");
                // Within a millisecond of 3x the previous one (the state keeps milliseconds).
                prop_assert!(d <= (prev * 3).min(cap) + Duration::from_millis(3), "{d:?} after {prev:?}");
                prev = d;
            }
        }
    }

    #[test]
    fn jitter_spreads_delays_and_repeats_with_its_seed() {
        let a = run(Backoff::Exponential(Jitter::Full), S, 3600 * S, 20, 7);
        assert_eq!(a, run(Backoff::Exponential(Jitter::Full), S, 3600 * S, 20, 7));
        assert_ne!(a, run(Backoff::Exponential(Jitter::Full), S, 3600 * S, 20, 8));
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 15, "{a:?}");
    }

    #[test]
    fn decorrelated_grows_on_average() {
        let d = run(Backoff::Exponential(Jitter::Decorrelated), Duration::from_millis(100), 3600 * S, 30, 3);
        let first: Duration = d[..5].iter().sum();
        let last: Duration = d[25..].iter().sum();
        assert!(last > first * 10, "{d:?}");
    }
}
