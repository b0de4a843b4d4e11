//! Time as an input: the manager's clock is a count of 1 ms ticks since an epoch, and the
//! timers waiting on it live in a [`Wheel`].
//!
//! Nothing in the core reads the system clock. The reactor samples `Instant::now()` once per
//! loop turn and hands it in; a tick clock turns that instant into a tick for the wheel and the
//! wheel's next deadline back into an instant to sleep until. Deadlines round up and "now"
//! rounds down, so a timer never fires before the instant it was armed for.
//!
//! The [`Wheel`] is an allocation-free (in steady state) hierarchical timer wheel with O(1)
//! insert and cancel and no periodic tick. It is private: only the core and the reactor arm it.
//! `benches/wheel.rs` includes `wheel.rs` by path, so the file depends on nothing else here.

use std::time::{Duration, Instant};

mod wheel;
#[cfg(test)]
mod wheel_model;
pub(crate) use wheel::{TimerKey, Wheel};

/// The longest delay a timer is armed for, and the longest duration any setting accepts
/// (`Config` checks its settings against it): a year. Longer ones are almost certainly a unit
/// mistake, and keeping them bounded keeps deadline arithmetic far from overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

const NANOS_PER_TICK: u32 = 1_000_000;

/// The instant `delay` after `now`, for arming a timer. Delays longer than [`MAX_DURATION`] (a
/// year) count as a year, so an absurd delay still means "much later", never "now" (an
/// overflowing addition must not fire a timer early).
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    let delay = delay.min(MAX_DURATION);
    // A year after any `Instant` a program can hold fits; if the platform says otherwise, the
    // latest representable instant is still "much later".
    now.checked_add(delay).unwrap_or_else(|| {
        let mut step = delay;
        let mut at = now;
        while !step.is_zero() {
            match at.checked_add(step) {
                Some(later) => at = later,
                None => step /= 2,
            }
        }
        at
    })
}

/// Converts between `Instant` and wheel ticks (1 tick = 1 ms since `epoch`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickClock {
    epoch: Instant,
}

impl TickClock {
    /// Creates a clock whose tick 0 begins at `epoch`.
    pub(crate) fn new(epoch: Instant) -> Self {
        TickClock { epoch }
    }

    /// Tick for a deadline, rounded UP, so a timer never fires before its instant.
    ///
    /// Instants at or before the epoch map to tick 0; the result saturates at `u64::MAX`.
    pub(crate) fn deadline_tick(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.epoch);
        let partial = d.subsec_nanos() % NANOS_PER_TICK != 0;
        millis(d).saturating_add(u64::from(partial))
    }

    /// Tick for "now", rounded DOWN: only whole elapsed milliseconds have passed.
    ///
    /// Instants before the epoch map to tick 0; the result saturates at `u64::MAX`.
    pub(crate) fn now_tick(&self, now: Instant) -> u64 {
        millis(now.saturating_duration_since(self.epoch))
    }

    /// The instant at which `tick` begins (epoch + `tick` ms).
    ///
    /// Never panics: if that instant is not representable on this platform, the result is the
    /// farthest representable instant found by halving the offset, which is still far enough in
    /// the future to mean "not yet" to any caller.
    pub(crate) fn instant(&self, tick: u64) -> Instant {
        let mut offset = Duration::from_millis(tick);
        loop {
            if let Some(at) = self.epoch.checked_add(offset) {
                return at;
            }
            // Terminates: a zero offset always succeeds.
            offset /= 2;
        }
    }
}

/// Whole milliseconds, saturating, without the 128-bit division of `as_millis` (this runs on
/// every event).
fn millis(d: Duration) -> u64 {
    d.as_secs().saturating_mul(1000).saturating_add(u64::from(d.subsec_millis()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn absurd_delays_mean_much_later_never_now() {
        let now = Instant::now();
        let year = super::MAX_DURATION;
        assert_eq!(super::deadline_after(now, Duration::MAX), now + year);
        assert_eq!(super::deadline_after(now, Duration::from_millis(5)), now + Duration::from_millis(5));
    }
    use super::*;

    #[test]
    fn deadline_rounds_up() {
        let epoch = Instant::now();
        let clock = TickClock::new(epoch);
        let ns = Duration::from_nanos(1);
        let ms = Duration::from_millis(1);
        assert_eq!(clock.deadline_tick(epoch), 0);
        assert_eq!(clock.deadline_tick(epoch + ns), 1);
        assert_eq!(clock.deadline_tick(epoch + ms), 1);
        assert_eq!(clock.deadline_tick(epoch + ms + ns), 2);
        assert_eq!(clock.deadline_tick(epoch + 2 * ms - ns), 2);
    }

    #[test]
    fn now_rounds_down() {
        let epoch = Instant::now();
        let clock = TickClock::new(epoch);
        let ns = Duration::from_nanos(1);
        let ms = Duration::from_millis(1);
        assert_eq!(clock.now_tick(epoch), 0);
        assert_eq!(clock.now_tick(epoch + ns), 0);
        assert_eq!(clock.now_tick(epoch + ms - ns), 0);
        assert_eq!(clock.now_tick(epoch + ms), 1);
        assert_eq!(clock.now_tick(epoch + 2 * ms - ns), 1);
    }

    #[test]
    fn before_epoch_is_tick_zero() {
        let epoch = Instant::now() + Duration::from_secs(10);
        let clock = TickClock::new(epoch);
        let earlier = epoch - Duration::from_secs(5);
        assert_eq!(clock.deadline_tick(earlier), 0);
        assert_eq!(clock.now_tick(earlier), 0);
    }

    #[test]
    fn instant_round_trips() {
        let epoch = Instant::now();
        let clock = TickClock::new(epoch);
        for tick in [0, 1, 2, 999, 1_000, 86_400_000, 1 << 40] {
            let at = clock.instant(tick);
            assert_eq!(at, epoch + Duration::from_millis(tick));
            assert_eq!(clock.deadline_tick(at), tick);
            assert_eq!(clock.now_tick(at), tick);
        }
        // A deadline armed from any instant never begins before that instant.
        let at = epoch + Duration::from_nanos(12_345_678);
        assert!(clock.instant(clock.deadline_tick(at)) >= at);
        assert!(clock.instant(clock.now_tick(at)) <= at);
    }

    #[test]
    fn instant_never_panics() {
        let clock = TickClock::new(Instant::now());
        let far = clock.instant(u64::MAX);
        assert!(far > clock.epoch);
    }
}
