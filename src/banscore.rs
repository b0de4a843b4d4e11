//! Misbehaviour scores for peers: btcd's `DynamicBanScore`, with the same numbers.
//!
//! A score has a persistent part, which only grows until [`DynamicBanScore::reset`], and a
//! transient part that halves every [`HALFLIFE`] seconds and counts as zero once it is more than
//! [`LIFETIME`] seconds old. The maths is btcd's: the same decay
//! expression, the same 64-entry table for young ages, the same truncation to `u32`, the same
//! wrapping `u32` sums and the same asymmetries, so scores equal btcd's. That includes one quirk,
//! kept for parity and documented on [`DynamicBanScore::increase_at`]: `increase(p, 0)` returns a
//! total whose transient part is not decayed. [`DynamicBanScore::int_at`] always gives the
//! correctly decayed value.
//!
//! The decay factor cannot be bit-identical on every platform, because btcd's is not either:
//! Go's `math.Exp` is amd64 assembly (with two paths, FMA or not) on amd64 and portable Go
//! elsewhere, and these disagree in the last bit for roughly one age in eight; Rust's `f64::exp`
//! uses the platform's libm. The reference ages (0, 60, 420, 1800, 1801) agree bit for bit with
//! Go on linux/amd64, and against both Go variants no truncated score differs for integer
//! transient amounts up to 5000 or `u32::MAX` at any age up to [`LIFETIME`].
//!
//! btcd guards its struct with a mutex and reads the wall clock inside every call. Here the type
//! is a plain value changed through `&mut self`, and every operation has an `_at` form that takes
//! the time as Unix seconds, so tests (and a reactor with a simulated clock) are deterministic.
//! Share a score between threads by wrapping it in a `Mutex`; connmgr's reactor owns its scores
//! and needs no lock.
//!
//! Nothing here knows about banning itself: btcd's server compares the returned score with its
//! ban threshold (100 by default) and keeps the ban list; connmgr never consults scores.
//!
//! # Examples
//!
//! btcd's server bans a peer once its score passes a threshold (100 by default):
//!
//! ```
//! use connmgr::banscore::DynamicBanScore;
//!
//! const BAN_THRESHOLD: u32 = 100;
//! let mut score = DynamicBanScore::new();
//! let t0 = 1_700_000_000;
//! score.increase_at(0, 60, t0); // a burst of unrequested messages
//! score.increase_at(0, 60, t0 + 600); // more of the same, ten minutes later
//! assert!(score.int_at(t0 + 600) < BAN_THRESHOLD, "the first burst has decayed");
//! score.increase_at(100, 0, t0 + 600); // a protocol violation: persistent
//! assert!(score.int_at(t0 + 600) > BAN_THRESHOLD);
//! ```

use std::f64::consts::LN_2;
use std::fmt;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds after which the transient part has decayed to half its value (btcd `Halflife`).
pub const HALFLIFE: i64 = 60;

/// Age in seconds beyond which the transient part counts as zero (btcd `Lifetime`).
///
/// The bound is inclusive: a transient part exactly `LIFETIME` seconds old still counts.
pub const LIFETIME: i64 = 1800;

/// The decay constant `ln 2 / HALFLIFE`, per second.
///
/// Go rounds its untyped constant `math.Ln2 / Halflife` once to `f64`; dividing Rust's `f64`
/// `LN_2` by 60 lands on the same value, `0x1.7a8cffee8c654p-7` (pinned by a unit test), which
/// is what makes the decay factors, and so every score, identical to btcd's.
pub(crate) const LAMBDA: f64 = LN_2 / HALFLIFE as f64;

/// Ages, in seconds, whose decay factors are tabulated once (btcd `precomputedLen`).
const PRECOMPUTED_LEN: usize = 64;

/// The decay factor of an integer age, always evaluated as btcd writes it.
///
/// Keeping the exact operation order (`-1.0 * t`, then `* LAMBDA`, then `exp`) matters: the
/// factor at 60 s must come out as exactly 0.5, or scenario S17's `50 * 0.5 = 25` would truncate
/// to 24. (Multiplying by -1.0 is exact, so clippy's `-(t as f64)` would give the same bits; the
/// literal form is kept so the line reads as btcd's.)
#[allow(clippy::neg_multiply)]
fn exp_decay(t: i64) -> f64 {
    (-1.0 * t as f64 * LAMBDA).exp()
}

/// The table btcd fills in its package `init`; built on first use here.
fn precomputed() -> &'static [f64; PRECOMPUTED_LEN] {
    static TABLE: OnceLock<[f64; PRECOMPUTED_LEN]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0.0; PRECOMPUTED_LEN];
        for (age, slot) in (0_i64..).zip(table.iter_mut()) {
            *slot = exp_decay(age);
        }
        table
    })
}

/// btcd's `decayFactor`: the table for young ages, the same expression otherwise.
///
/// The table holds exactly what the expression computes, so it is a cache, not an approximation.
/// Callers only pass ages in `0..=LIFETIME`; a negative age (which would make Go panic on the
/// table index) falls through to the expression instead.
fn decay_factor(t: i64) -> f64 {
    match usize::try_from(t) {
        Ok(age) if age < PRECOMPUTED_LEN => precomputed()[age],
        _ => exp_decay(t),
    }
}

/// Go's `uint32(f)`: truncation toward zero.
///
/// For values above `u32::MAX` Go's result is implementation-defined (linux/amd64 keeps the low
/// 32 bits, so 8589934590.0 becomes 4294967294); Rust's `as` saturates to `u32::MAX` (and maps
/// NaN to 0). Only a transient part above 4294967295, which takes at least two maximal increases
/// within the lifetime, can tell the two apart, and saturating is the safer answer for a ban
/// score.
fn trunc_u32(x: f64) -> u32 {
    x as u32
}

/// The wall clock as Unix seconds, rounded toward negative infinity like Go's `Time.Unix`.
fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                whole.saturating_neg().saturating_sub(1)
            } else {
                whole.saturating_neg()
            }
        }
    }
}

/// A peer's ban score: a persistent part plus a transient part that decays exponentially.
///
/// The zero value ([`Default`], [`DynamicBanScore::new`]) is ready to use. Methods take
/// `&mut self` where btcd took its internal mutex; wrap the score in a `Mutex` to share it across
/// threads. Each wall-clock method ([`increase`](Self::increase), [`int`](Self::int), the
/// [`Display`](fmt::Display) impl) has a twin taking the time as Unix seconds
/// ([`increase_at`](Self::increase_at), [`int_at`](Self::int_at), [`display_at`](Self::display_at)),
/// which is what tests and simulated clocks use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DynamicBanScore {
    last_unix: i64,
    transient: f64,
    persistent: u32,
}

impl DynamicBanScore {
    /// The zero score, usable in `const` and `static` contexts.
    pub const fn new() -> Self {
        DynamicBanScore { last_unix: 0, transient: 0.0, persistent: 0 }
    }

    /// The transient part as it stood at `last_unix`, before any decay since.
    #[cfg(test)]
    fn transient(&self) -> f64 {
        self.transient
    }

    /// Unix seconds of the last increase with a non-zero transient amount (0 if none yet).
    #[cfg(test)]
    fn last_unix(&self) -> i64 {
        self.last_unix
    }

    /// The score at `now_unix` (btcd's internal `int`): the persistent part plus the decayed
    /// transient part, truncated to an integer.
    ///
    /// The transient part is ignored when it is below 1, when it is more than [`LIFETIME`]
    /// seconds old, and when `now_unix` lies before the last increase (btcd's behaviour after the
    /// wall clock stepped backwards: the transient part is invisible until the clock catches up).
    /// The sum wraps around like Go's `uint32`.
    pub fn int_at(&self, now_unix: i64) -> u32 {
        let dt = now_unix.saturating_sub(self.last_unix);
        if self.transient < 1.0 || !(0..=LIFETIME).contains(&dt) {
            return self.persistent;
        }
        self.persistent.wrapping_add(trunc_u32(self.transient * decay_factor(dt)))
    }

    /// Adds to both parts as of `now_unix` and returns the resulting score (btcd's internal
    /// `increase`).
    ///
    /// The persistent amount is added with `u32` wrap-around. A non-zero transient amount first
    /// ages the existing transient part: it is dropped when older than [`LIFETIME`], decayed when
    /// above 1 and `now_unix` is later than the last increase (so a transient part of exactly 1
    /// is not decayed, and nothing decays when the clock went backwards), then the amount is
    /// added and the increase time becomes `now_unix`, even if that is earlier than before.
    ///
    /// # The `transient == 0` quirk (kept for parity with btcd)
    ///
    /// With a zero transient amount the existing transient part is neither decayed nor expired
    /// before it is added into the returned total. `increase_at(p, 0, now)` therefore returns
    /// `persistent + transient-as-last-stored`, which can be far above the real score: a
    /// transient 90 from an hour ago plus `p = 20` returns 110 while [`int_at`](Self::int_at)
    /// says 20. btcd's server bans when this return value exceeds its threshold, so it can ban a
    /// peer whose real score is low. The stored state is not harmed; callers that decide on the
    /// score should read [`int_at`](Self::int_at) (or [`int`](Self::int)) after increasing.
    pub fn increase_at(&mut self, persistent: u32, transient: u32, now_unix: i64) -> u32 {
        self.persistent = self.persistent.wrapping_add(persistent);
        let dt = now_unix.saturating_sub(self.last_unix);
        if transient > 0 {
            if dt > LIFETIME {
                self.transient = 0.0;
            } else if self.transient > 1.0 && dt > 0 {
                self.transient *= decay_factor(dt);
            }
            self.transient += f64::from(transient);
            self.last_unix = now_unix;
        }
        self.persistent.wrapping_add(trunc_u32(self.transient))
    }

    /// [`int_at`](Self::int_at) at the wall clock (btcd `Int`).
    pub fn int(&self) -> u32 {
        self.int_at(unix_now())
    }

    /// [`increase_at`](Self::increase_at) at the wall clock (btcd `Increase`), including its
    /// `transient == 0` quirk.
    pub fn increase(&mut self, persistent: u32, transient: u32) -> u32 {
        self.increase_at(persistent, transient, unix_now())
    }

    /// Back to the zero score (btcd `Reset`).
    pub fn reset(&mut self) {
        *self = DynamicBanScore::new();
    }

    /// Formats like the [`Display`](fmt::Display) impl but evaluates the score at `now_unix`, so
    /// the text is deterministic.
    pub fn display_at(&self, now_unix: i64) -> DisplayAt<'_> {
        DisplayAt { score: self, now_unix }
    }

    fn write_at(&self, f: &mut fmt::Formatter<'_>, now_unix: i64) -> fmt::Result {
        write!(
            f,
            "persistent {} + transient {} at {} = {} as of now",
            self.persistent,
            GoFloat(self.transient),
            self.last_unix,
            self.int_at(now_unix)
        )
    }
}

/// btcd's `String()`: `persistent <p> + transient <t> at <lastUnix> = <score now> as of now`.
///
/// The transient part is printed as Go's `%v` prints a `float64` (`50`, `12.5`,
/// `4.294967295e+09`). btcd's 2019 version deadlocked here (W14); this type has no lock to take.
impl fmt::Display for DynamicBanScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, unix_now())
    }
}

/// A [`DynamicBanScore`] rendered at a fixed time; made by [`DynamicBanScore::display_at`].
#[derive(Clone, Copy, Debug)]
pub struct DisplayAt<'a> {
    score: &'a DynamicBanScore,
    now_unix: i64,
}

impl fmt::Display for DisplayAt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.score.write_at(f, self.now_unix)
    }
}

/// An `f64` printed the way Go's `fmt` prints it with `%v`.
///
/// That is `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest digits that read back as the same
/// value, in plain notation when the decimal exponent is in `-4..6` and in exponent notation
/// (`d.ddde±XX`, at least two exponent digits) otherwise; infinities print as `+Inf`/`-Inf` and
/// NaN as `NaN`. Rust's `{:e}` yields the same shortest digits, so only the layout is redone.
struct GoFloat(f64);

impl fmt::Display for GoFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("NaN");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        }
        if v.is_sign_negative() {
            f.write_str("-")?;
        }
        if v == 0.0 {
            return f.write_str("0");
        }
        // `{:e}` of a finite non-zero value is `d[.ddd]e[-]x` with the shortest digits.
        let sci = format!("{:e}", v.abs());
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let exp: i32 = exponent.parse().unwrap_or(0);
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
        let digit =
            |i: i32| -> char { usize::try_from(i).ok().and_then(|i| digits.get(i)).map_or('0', |&d| char::from(d)) };

        if !(-4..6).contains(&exp) {
            // Go's fmtE: first digit, the rest after a point, then e±dd.
            write!(f, "{}", digit(0))?;
            if nd > 1 {
                f.write_str(".")?;
                for i in 1..nd {
                    write!(f, "{}", digit(i))?;
                }
            }
            let sign = if exp < 0 { '-' } else { '+' };
            return write!(f, "e{}{:02}", sign, exp.unsigned_abs());
        }

        // Go's fmtF with as many decimals as the shortest digits need.
        let dp = exp + 1; // digits before the decimal point
        if dp > 0 {
            for i in 0..dp {
                write!(f, "{}", digit(i))?;
            }
        } else {
            f.write_str("0")?;
        }
        let decimals = (nd - dp).max(0);
        if decimals > 0 {
            f.write_str(".")?;
            for i in 0..decimals {
                write!(f, "{}", digit(dp + i))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const BASE: i64 = 1_700_000_000;

    fn go(v: f64) -> String {
        GoFloat(v).to_string()
    }

    #[test]
    fn lambda_matches_go_constant_bit_for_bit() {
        // 0x1.7a8cffee8c654p-7: biased exponent 1023 - 7 = 0x3f8, mantissa 0x7a8cffee8c654.
        assert_eq!(LAMBDA.to_bits(), 0x3f87_a8cf_fee8_c654);
        assert_eq!((HALFLIFE as f64 * LAMBDA).to_bits(), LN_2.to_bits());
    }

    #[test]
    fn factor_60_is_exactly_one_half() {
        assert_eq!(decay_factor(60), 0.5);
        assert_eq!(exp_decay(60), 0.5);
    }

    #[test]
    fn factor_reference_values() {
        // Bit patterns printed by Go 1.19 on linux/amd64 (math.Exp, FMA path) for btcd's
        // expression; glibc's exp agrees on these ages. btcd's own figures round two of them:
        // factor(420) is one ulp above 2^-7 and factor(1800) four ulps above 2^-30.
        assert_eq!(decay_factor(0), 1.0);
        assert_eq!(decay_factor(420), 0.007812500000000002);
        assert_eq!(decay_factor(420).to_bits(), 0x3f80_0000_0000_0001);
        assert_eq!(decay_factor(1800), 9.313225746154793e-10);
        assert_eq!(decay_factor(1800).to_bits(), 0x3e10_0000_0000_0004);
        assert_eq!(decay_factor(1801), 9.206254224785569e-10);
        assert_eq!(decay_factor(1801).to_bits(), 0x3e0f_a1e8_27a1_b38d);
        assert_eq!(decay_factor(63).to_bits(), 0x3fde_e8f3_4dd8_042f);
        assert_eq!(decay_factor(64).to_bits(), 0x3fde_8e0f_fab4_f93e);
    }

    #[test]
    fn table_equals_expression() {
        for age in 0..PRECOMPUTED_LEN as i64 {
            assert_eq!(decay_factor(age).to_bits(), exp_decay(age).to_bits());
        }
        assert_eq!(decay_factor(-1), exp_decay(-1));
    }

    /// From btcd TestDynamicBanScoreDecay (scenario S17).
    #[test]
    fn transient_score_halves_every_minute() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.increase_at(100, 50, BASE), 150);
        assert_eq!(bs.int_at(BASE + 60), 125);
        assert_eq!(bs.int_at(BASE + 7 * 60), 100);
    }

    /// From btcd TestDynamicBanScoreLifetime (scenario S18).
    #[test]
    fn transient_score_is_zero_after_its_lifetime() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.increase_at(0, u32::MAX, BASE), u32::MAX);
        // 4294967295 * 2^-30 = 3.99999999907 truncates to 3.
        assert_eq!(bs.int_at(BASE + LIFETIME), 3);
        assert_eq!(bs.int_at(BASE + LIFETIME + 1), 0);
    }

    /// From btcd TestDynamicBanScoreReset (scenario S19).
    #[test]
    fn int_increase_and_reset() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.int(), 0);
        assert_eq!(bs.increase(100, 0), 100);
        assert_eq!(bs.int(), 100);
        bs.reset();
        assert_eq!(bs.int(), 0);
        assert_eq!(bs, DynamicBanScore::new());
    }

    /// From btcd TestDynamicBanScoreString (scenario S20).
    #[test]
    fn display_does_not_deadlock_and_formats() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.increase_at(100, 50, BASE), 150);
        assert_eq!(bs.display_at(BASE).to_string(), format!("persistent 100 + transient 50 at {BASE} = 150 as of now"));

        // The wall-clock Display, called while the score sits behind a held lock (the shape that
        // deadlocked btcd's 2019 String()).
        let shared = Mutex::new(DynamicBanScore::default());
        let mut guard = shared.lock().unwrap();
        let at = guard.increase(100, 50);
        assert_eq!(at, 150);
        let text = guard.to_string();
        drop(guard);
        let last = shared.lock().unwrap().last_unix();
        assert!(text.starts_with(&format!("persistent 100 + transient 50 at {last} = ")), "{text}");
        assert!(text.ends_with(" as of now"), "{text}");
    }

    #[test]
    fn display_prints_transient_like_go() {
        let mut half = DynamicBanScore::default();
        half.increase_at(0, 25, BASE);
        half.increase_at(0, 1, BASE + 60); // 25 * 0.5 + 1 = 13.5
        assert_eq!(
            half.display_at(BASE + 60).to_string(),
            format!("persistent 0 + transient 13.5 at {} = 13 as of now", BASE + 60)
        );
        let mut big = DynamicBanScore::default();
        big.increase_at(7, u32::MAX, BASE);
        assert_eq!(
            big.display_at(BASE).to_string(),
            format!("persistent 7 + transient 4.294967295e+09 at {BASE} = 6 as of now")
        );
        assert_eq!(
            DynamicBanScore::new().display_at(BASE).to_string(),
            "persistent 0 + transient 0 at 0 = 0 as of now"
        );
    }

    #[test]
    fn go_float_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (50.0, "50"),
            (12.5, "12.5"),
            (-12.5, "-12.5"),
            (1.0, "1"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (123456.5, "123456.5"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (4294967295.0, "4.294967295e+09"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1e-7, "1e-07"),
            (2.5e-10, "2.5e-10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (13.5, "13.5"),
            (8589934590.0, "8.58993459e+09"),
            (9.313225746154793e-10, "9.313225746154793e-10"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for &(v, want) in cases {
            assert_eq!(go(v), want, "formatting {v:?}");
        }
    }

    #[test]
    fn increase_with_zero_transient_returns_undecayed_total_quirk() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.increase_at(0, 90, BASE - 3600), 90);
        // btcd's Increase(20, 0) an hour later: the stale 90 is still added in.
        assert_eq!(bs.increase_at(20, 0, BASE), 110);
        // The real score: the transient part is long expired.
        assert_eq!(bs.int_at(BASE), 20);
        // The stored state is unchanged apart from the persistent part.
        assert_eq!(bs.transient(), 90.0);
        assert_eq!(bs.last_unix(), BASE - 3600);
        // A later non-zero transient increase expires the old part as usual.
        assert_eq!(bs.increase_at(0, 5, BASE), 25);
    }

    #[test]
    fn clock_moved_back_ignores_transient_then_rebases() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.increase_at(10, 50, BASE), 60);
        // Evaluation before the last increase: only the persistent part.
        assert_eq!(bs.int_at(BASE - 1), 10);
        assert_eq!(bs.int_at(BASE), 60);
        // An increase before the last one: no decay, the amount is added, and the increase time
        // moves backwards.
        assert_eq!(bs.increase_at(0, 10, BASE - 5), 70);
        assert_eq!(bs.last_unix(), BASE - 5);
        assert_eq!(bs.transient(), 60.0);
        assert_eq!(bs.int_at(BASE - 5), 70);
        // Five seconds later it has decayed from the rebased time: 60 * 2^(-5/60) = 56.6.
        assert_eq!(bs.int_at(BASE), 10 + 56);
    }

    #[test]
    fn transient_of_exactly_one_is_not_decayed_on_increase() {
        let mut one = DynamicBanScore::default();
        one.increase_at(0, 1, BASE);
        // Not 1 * 0.5 + 1 = 1.5: a transient part of exactly 1 is left alone.
        assert_eq!(one.increase_at(0, 1, BASE + 60), 2);
        assert_eq!(one.transient(), 2.0);

        let mut two = DynamicBanScore::default();
        two.increase_at(0, 2, BASE);
        assert_eq!(two.increase_at(0, 2, BASE + 60), 3);
        assert_eq!(two.transient(), 3.0);
    }

    #[test]
    fn same_second_increases_do_not_decay() {
        let mut bs = DynamicBanScore::default();
        bs.increase_at(0, 10, BASE);
        assert_eq!(bs.increase_at(0, 10, BASE), 20);
    }

    #[test]
    fn expired_transient_is_dropped_on_increase() {
        let mut bs = DynamicBanScore::default();
        bs.increase_at(0, 1000, BASE);
        // At exactly the lifetime the old part still decays in (1000 * 2^-30 < 1).
        assert_eq!(bs.increase_at(0, 1, BASE + LIFETIME), 1);
        let mut bs = DynamicBanScore::default();
        bs.increase_at(0, 1000, BASE);
        assert_eq!(bs.increase_at(0, 1, BASE + LIFETIME + 1), 1);
        assert_eq!(bs.transient(), 1.0);
    }

    #[test]
    fn persistent_wraps_around_like_go() {
        let mut bs = DynamicBanScore::default();
        assert_eq!(bs.increase_at(u32::MAX, 0, BASE), u32::MAX);
        assert_eq!(bs.increase_at(2, 0, BASE), 1);
        assert_eq!(bs.int_at(BASE), 1);

        // The sum of the two parts wraps too.
        let mut bs = DynamicBanScore::default();
        bs.increase_at(u32::MAX, 0, BASE);
        assert_eq!(bs.increase_at(0, 1, BASE), 0);
        assert_eq!(bs.int_at(BASE), 0);
    }

    #[test]
    fn transient_beyond_u32_saturates_where_go_is_undefined() {
        // Not a parity test: Go's float64 -> uint32 conversion is implementation-defined here.
        let mut bs = DynamicBanScore::default();
        bs.increase_at(0, u32::MAX, BASE);
        assert_eq!(bs.increase_at(0, u32::MAX, BASE), u32::MAX);
        assert_eq!(bs.int_at(BASE), u32::MAX);
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let mut bs = DynamicBanScore::default();
        bs.increase_at(1, 10, i64::MIN);
        assert_eq!(bs.int_at(i64::MAX), 1);
        assert_eq!(bs.increase_at(0, 10, i64::MAX), 11);
        assert_eq!(bs.int_at(i64::MIN), 1);
    }

    #[test]
    fn wall_clock_now_is_after_2020() {
        assert!(unix_now() > 1_577_836_800);
    }
}
