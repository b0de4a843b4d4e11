//! The failure and backoff policy, btcd's `handleFailedConn` as a pure function: what happens
//! to a request after a failed dial (or a disconnect that asks for a reconnect).
//!
//! - A permanent request (or one disconnected with `trigger_reconnect`) is retried after
//!   `retry_count x retry_duration`, capped at `max_retry_duration`: linear, as btcd, so with
//!   5 s it waits 5, 10, 15 ... s and reaches a 5 min cap at the 60th retry. `retry_count`
//!   resets only when a connection succeeds.
//! - An automatic request is replaced by a new one, at once while fewer than
//!   `max_failed_attempts` attempts have failed in a row (across all automatic requests), and
//!   after a flat `retry_duration` from then on. Any successful connection resets the count.
//! - A one-shot manual request ends.
//!
//! Keeping this apart from the state machine means the arithmetic is tested exactly, on its
//! own, and the state machine only applies the decision.

use std::time::Duration;

use crate::config::Config;
use crate::policy::outbound::Backoff;
use crate::rng::Rng;

/// What happens to a request after a failure. Reported with every dial failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The same request (same id) dials again after this delay.
    RetryIn(Duration),
    /// The request ended ([`ConnState::Canceled`](crate::ConnState::Canceled)) and a new
    /// automatic request, with a new id, replaces it now.
    Replaced,
    /// The request waits this long, then ends and is replaced by a new automatic request.
    ReplaceIn(Duration),
    /// The request ended and nothing replaces it.
    Ended,
}

/// The retry arithmetic, from a [`Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    retry_duration: Duration,
    max_retry_duration: Duration,
    max_failed_attempts: u32,
    backoff: Backoff,
}

impl RetryPolicy {
    /// The policy a manager with this configuration follows.
    pub(crate) fn from_config(config: &Config) -> Self {
        RetryPolicy {
            retry_duration: config.retry_duration,
            max_retry_duration: config.max_retry_duration,
            max_failed_attempts: config.max_failed_attempts,
            backoff: config.outbound.backoff,
        }
    }

    /// The delay before retry number `retry_count` (1 for the first): linear, capped.
    pub(crate) fn retry_delay(&self, retry_count: u32) -> Duration {
        self.retry_duration.saturating_mul(retry_count).min(self.max_retry_duration)
    }

    /// The run of failures from which replacements are throttled.
    pub(crate) fn max_failed_attempts(&self) -> u32 {
        self.max_failed_attempts
    }

    /// Decides what follows a failure and updates the two counters it depends on.
    ///
    /// `retries` is "permanent, or disconnected with `trigger_reconnect`"; `automatic` is
    /// whether the request came from the address source. `retry_count` is the request's own
    /// counter, `failed_attempts` the manager-wide run of failures.
    /// What follows a failure or a disconnection. `charge` is false when the node itself is to
    /// blame (offline): a permanent request's backoff does not step, and the failure does not
    /// count toward the automatic throttle.
    pub(crate) fn decide(&self, failure: Failure<'_>, rng: &mut Rng) -> NextStep {
        let Failure { retries, automatic, charge, backoff, failed_attempts } = failure;
        if retries {
            let (base, cap) = (self.retry_duration, self.max_retry_duration);
            if !charge {
                return NextStep::RetryIn(self.backoff.hold(base, cap, *backoff, rng));
            }
            let (delay, next) = self.backoff.next(base, cap, *backoff, rng);
            *backoff = next;
            return NextStep::RetryIn(delay);
        }
        if !automatic {
            return NextStep::Ended;
        }
        if charge {
            *failed_attempts = failed_attempts.saturating_add(1);
        }
        if *failed_attempts >= self.max_failed_attempts {
            NextStep::ReplaceIn(self.retry_duration)
        } else {
            NextStep::Replaced
        }
    }
}

/// One failure, for [`RetryPolicy::decide`].
pub(crate) struct Failure<'a> {
    /// A permanent request: it retries.
    pub(crate) retries: bool,
    pub(crate) automatic: bool,
    /// The peer is to blame.
    pub(crate) charge: bool,
    /// The request's backoff state.
    pub(crate) backoff: &'a mut u32,
    /// The manager's run of failed automatic attempts (btcd's `failedAttempts`).
    pub(crate) failed_attempts: &'a mut u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(base_ms: u64, cap_ms: u64) -> RetryPolicy {
        RetryPolicy::from_config(&Config {
            retry_duration: Duration::from_millis(base_ms),
            max_retry_duration: Duration::from_millis(cap_ms),
            ..Config::default()
        })
    }

    fn decide(p: &RetryPolicy, retries: bool, automatic: bool, backoff: &mut u32, fa: &mut u32) -> NextStep {
        let failure = Failure { retries, automatic, charge: true, backoff, failed_attempts: fa };
        p.decide(failure, &mut Rng::new(0))
    }

    #[test]
    fn permanent_backoff_is_linear_and_capped() {
        let p = RetryPolicy::from_config(&Config::default());
        let (mut rc, mut fa) = (0, 0);
        let delays: Vec<_> = (0..62)
            .map(|_| match decide(&p, true, false, &mut rc, &mut fa) {
                NextStep::RetryIn(d) => d.as_secs(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(&delays[..4], &[5, 10, 15, 20]);
        assert_eq!(delays[58], 295);
        assert_eq!(delays[59], 300, "the 60th retry reaches the cap");
        assert_eq!(delays[61], 300);
        assert_eq!(fa, 0, "permanent retries never touch the manager-wide failure run");
    }

    #[test]
    fn cap_below_base_caps_every_delay() {
        let p = policy(5, 2);
        assert_eq!(p.retry_delay(1), Duration::from_millis(2));
    }

    #[test]
    fn automatic_failures_throttle_from_the_configured_count() {
        let p = policy(5000, 300_000);
        let (mut rc, mut fa) = (0, 0);
        for n in 1..=24 {
            assert_eq!(decide(&p, false, true, &mut rc, &mut fa), NextStep::Replaced, "failure {n}");
        }
        for _ in 25..=30 {
            assert_eq!(decide(&p, false, true, &mut rc, &mut fa), NextStep::ReplaceIn(Duration::from_secs(5)));
        }
        assert_eq!(fa, 30);
        assert_eq!(rc, 0);
    }

    #[test]
    fn one_shot_manual_requests_end() {
        let p = policy(5000, 300_000);
        let (mut rc, mut fa) = (0, 0);
        assert_eq!(decide(&p, false, false, &mut rc, &mut fa), NextStep::Ended);
        assert_eq!(fa, 0, "a manual request's failure is not an automatic attempt");
    }

    #[test]
    fn huge_retry_counts_saturate_instead_of_overflowing() {
        let p = policy(u64::from(u32::MAX), 300_000);
        let mut rc = u32::MAX - 1;
        let mut fa = 0;
        assert_eq!(decide(&p, true, false, &mut rc, &mut fa), NextStep::RetryIn(Duration::from_secs(300)));
        assert_eq!(decide(&p, true, false, &mut rc, &mut fa), NextStep::RetryIn(Duration::from_secs(300)));
        assert_eq!(rc, u32::MAX);
    }
}
