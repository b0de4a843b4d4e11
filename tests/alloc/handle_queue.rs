//! A review fault, under the counting allocator: a handle's queue used to be unbounded (see
//! `loopback::review_faults` for the others).

use connmgr::{Config, ConnState, ConnectOptions, Manager, OpError};

use crate::support;
use crate::support::counting_alloc::count_allocs;

/// A handle's queue used to be unbounded: a reactor that did not keep up grew memory without
/// end. With `command_queue: 8` and nobody turning the manager, the ninth command is refused
/// (`Full`) and refusals allocate nothing; `stop` still gets through, and one turn applies what
/// was queued.
#[test]
fn the_handle_queue_is_bounded_and_stop_still_gets_through() {
    let config = Config { target_outbound: 0, command_queue: 8, ..Config::default() };
    let mut m = Manager::new(config, support::Recorder::new()).unwrap();
    let ids: Vec<_> = (0..9).map(|port| m.connect(support::addr(port), ConnectOptions::once()).unwrap()).collect();
    let handle = m.handle();
    for &id in &ids[..8] {
        assert_eq!(handle.remove(id), Ok(()));
    }
    assert_eq!(handle.remove(ids[8]), Err(OpError::Full));
    let ((), allocs) = count_allocs(|| {
        for _ in 0..10_000 {
            assert_eq!(handle.remove(ids[8]), Err(OpError::Full));
        }
    });
    assert_eq!(allocs, 0, "refused commands allocate nothing, so memory cannot grow with them");
    assert_eq!(handle.stop(), Ok(()), "stop is not queued behind a full queue");

    m.turn(Some(support::LIMIT)).unwrap();
    assert!(m.reactor().is_stopped());
    for &id in &ids[..8] {
        assert_eq!(m.state(id), Some(ConnState::Canceled), "the queued remove of {id} was applied");
    }
    let ended: Vec<_> = m.reactor().handler().ended().into_iter().map(|(info, state)| (info.id, state)).collect();
    assert!(ended.contains(&(ids[8], ConnState::Canceled)), "the ninth ended with the stop");
    assert_eq!(handle.remove(ids[8]), Err(OpError::Stopped));
}
