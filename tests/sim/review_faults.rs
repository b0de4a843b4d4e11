//! A review fault on the simulator (see `loopback::review_faults` for the others).

use connmgr::{Config, ConnState, ConnectOptions};

use crate::support;

/// `state(id)` of an ended request used to be `None` at once (btcd answers `Canceled` after
/// `Remove`); ended requests now answer with their final state while `Config::ended_history`
/// remembers them, and only the oldest are forgotten.
#[test]
fn ended_requests_answer_their_state_until_pushed_out_of_the_history() {
    let mut sim = support::sim(Config { target_outbound: 0, ended_history: 2, ..Config::default() })
        .with_net(support::Network::new(support::Outcome::BlackHole));
    sim.apply(|core, now| core.start(now));
    let ids: Vec<_> = (1..=3)
        .map(|port| sim.apply(|core, now| core.connect(now, support::addr(port), ConnectOptions::once())).unwrap())
        .collect();
    assert_eq!(sim.apply(|core, now| core.remove(now, ids[0])), Ok(()));
    assert_eq!(sim.state(ids[0]), Some(ConnState::Canceled), "a removed pending request answers Canceled");
    sim.apply(|core, now| core.remove(now, ids[1])).unwrap();
    sim.apply(|core, now| core.remove(now, ids[2])).unwrap();
    assert_eq!(sim.state(ids[0]), None, "the third-oldest ended request is forgotten");
    assert_eq!(sim.state(ids[1]), Some(ConnState::Canceled));
    assert_eq!(sim.state(ids[2]), Some(ConnState::Canceled));
    assert_eq!(sim.state(connmgr::ConnId::new(99)), None, "never issued");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}
