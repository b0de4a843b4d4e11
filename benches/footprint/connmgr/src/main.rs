//! Keeps 8 automatic outbound connections with `Manager` to loopback listeners of its own, and
//! stops once all 8 are up. Built with no default features, against `../baseline`.

use connmgr::{AddressError, ClassId, Config, ConnInfo, Ctx, Handler, Manager, Target};
use std::net::{SocketAddr, TcpListener};

const CONNECTIONS: usize = 8;

struct Node {
    addrs: Vec<SocketAddr>,
    next: usize,
    up: usize,
}

impl Handler for Node {
    fn new_address(&mut self, _class: ClassId) -> Option<Result<Target, AddressError>> {
        let addr = self.addrs[self.next % self.addrs.len()];
        self.next += 1;
        Some(Ok(Target::from(addr)))
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
        self.up += 1;
        if self.up == CONNECTIONS {
            let _ = ctx.stop();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listeners = (0..CONNECTIONS).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    let addrs = listeners.iter().map(TcpListener::local_addr).collect::<Result<Vec<_>, _>>()?;
    let config = Config { target_outbound: CONNECTIONS as u32, ..Config::default() };
    let mut manager = Manager::new(config, Node { addrs, next: 0, up: 0 })?;
    manager.run()?;
    println!("{} connected", manager.counters().connected);
    Ok(())
}
