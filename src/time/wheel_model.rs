//! The timer wheel against a model (a unit test: the wheel is private): a `BTreeMap` ordered by
//! (deadline, insertion sequence).
//!
//! Random runs of insert, cancel (of any key ever issued, so stale keys too), single polls and
//! full advances, with delays and time jumps that mix the tick scale of every wheel level. After
//! each step the wheel must agree with the model on what is live, what fired, and when.

use super::{TimerKey, Wheel};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone)]
enum Op {
    /// Arm a timer `delay` ticks after elapsed.
    Insert(u64),
    /// Arm a timer with a deadline `back` ticks before elapsed (fires at the next poll).
    InsertPast(u64),
    /// Cancel the issued key at this index (modulo the number issued), live or not.
    Cancel(usize),
    /// Poll once at elapsed + dt.
    PollOnce(u64),
    /// Poll at elapsed + dt until nothing is due.
    Advance(u64),
}

fn delay() -> impl Strategy<Value = u64> {
    const MAX: u64 = Wheel::<u64>::MAX_DELAY;
    prop_oneof![
        10 => 0..70u64,
        10 => 0..5_000u64,
        10 => 0..(1u64 << 32),
        // Around the end of the range, where the top level wraps and deadlines clamp.
        1 => (MAX - (1 << 31))..(MAX + (1 << 31)),
    ]
}

fn jump() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        4 => 0..70u64,
        4 => 0..5_000u64,
        2 => 0..(1u64 << 24),
        1 => 0..(1u64 << 32),
        1 => (1u64 << 32)..(1u64 << 40),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => delay().prop_map(Op::Insert),
        1 => (0..10_000u64).prop_map(Op::InsertPast),
        3 => any::<usize>().prop_map(Op::Cancel),
        2 => jump().prop_map(Op::PollOnce),
        3 => jump().prop_map(Op::Advance),
    ]
}

/// What the wheel should hold: live timers by (deadline, seq), and each key's (deadline, seq).
#[derive(Default)]
struct Model {
    due: BTreeMap<(u64, u64), TimerKey>,
    live: HashMap<TimerKey, (u64, u64)>,
    issued: Vec<TimerKey>,
    next_seq: u64,
}

impl Model {
    fn insert(&mut self, wheel: &mut Wheel<u64>, deadline: u64, armed: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = wheel.insert(deadline, seq);
        assert_eq!(wheel.deadline(key), Some(armed));
        assert_eq!(wheel.get(key), Some(&seq));
        assert!(self.live.insert(key, (armed, seq)).is_none(), "key reused");
        self.due.insert((armed, seq), key);
        self.issued.push(key);
    }

    /// Checks one popped timer: live in the model, due, and the earliest one left.
    fn fired(&mut self, wheel: &Wheel<u64>, now: u64, key: TimerKey, value: u64) -> u64 {
        let (deadline, seq) = self.live.remove(&key).expect("popped a timer that is not live");
        assert_eq!(value, seq, "popped the wrong value for its key");
        assert!(deadline <= now, "fired early: deadline {deadline} > now {now}");
        let (&(earliest, _), _) = self.due.iter().next().expect("model is not empty");
        assert_eq!(deadline, earliest, "fired out of deadline order");
        assert_eq!(wheel.elapsed(), deadline);
        self.due.remove(&(deadline, seq));
        seq
    }

    fn check(&self, wheel: &Wheel<u64>) {
        assert_eq!(wheel.len(), self.live.len());
        assert_eq!(wheel.is_empty(), self.live.is_empty());
        match (wheel.next_deadline(), self.due.keys().next()) {
            (None, None) => {}
            (Some(next), Some(&(earliest, _))) => {
                assert!(next >= wheel.elapsed(), "next_deadline {next} in the past");
                assert!(next <= earliest, "next_deadline {next} after {earliest}");
            }
            (next, earliest) => panic!("next_deadline {next:?} but model min {earliest:?}"),
        }
    }
}

fn run(ops: &[Op]) {
    let mut wheel = Wheel::new();
    let mut model = Model::default();
    for op in ops {
        let elapsed = wheel.elapsed();
        match *op {
            Op::Insert(delay) => {
                let deadline = elapsed.saturating_add(delay);
                let armed = deadline.min(elapsed.saturating_add(Wheel::<u64>::MAX_DELAY));
                model.insert(&mut wheel, deadline, armed);
            }
            Op::InsertPast(back) => {
                model.insert(&mut wheel, elapsed.saturating_sub(back), elapsed);
            }
            Op::Cancel(pick) => {
                if model.issued.is_empty() {
                    continue;
                }
                let key = model.issued[pick % model.issued.len()];
                let expected = model.live.remove(&key).map(|(deadline, seq)| {
                    model.due.remove(&(deadline, seq));
                    (deadline, seq)
                });
                assert_eq!(wheel.deadline(key), expected.map(|(deadline, _)| deadline));
                assert_eq!(wheel.get(key).copied(), expected.map(|(_, seq)| seq));
                assert_eq!(wheel.cancel(key), expected.map(|(_, seq)| seq));
                assert_eq!(wheel.cancel(key), None);
            }
            Op::PollOnce(dt) => {
                let now = elapsed.saturating_add(dt);
                match wheel.poll(now) {
                    Some((key, value)) => {
                        model.fired(&wheel, now, key, value);
                    }
                    None => {
                        assert!(model.due.range(..=(now, u64::MAX)).next().is_none());
                        assert_eq!(wheel.elapsed(), now);
                    }
                }
            }
            Op::Advance(dt) => {
                let now = elapsed.saturating_add(dt);
                let expected: BTreeSet<u64> = model.due.range(..=(now, u64::MAX)).map(|(&(_, seq), _)| seq).collect();
                let mut fired = BTreeSet::new();
                while let Some((key, value)) = wheel.poll(now) {
                    assert!(fired.len() < expected.len(), "popped more than was due");
                    fired.insert(model.fired(&wheel, now, key, value));
                }
                assert_eq!(fired, expected);
                assert_eq!(wheel.elapsed(), now);
            }
        }
        model.check(&wheel);
    }
    // Everything left fires, exactly once, by the end of the range.
    let end = wheel.elapsed() + Wheel::<u64>::MAX_DELAY;
    while let Some((key, value)) = wheel.poll(end) {
        model.fired(&wheel, end, key, value);
    }
    assert!(model.live.is_empty());
    model.check(&wheel);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn wheel_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(&ops);
    }
}
