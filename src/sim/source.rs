//! The simulated address source: how the simulator answers `Action::NeedAddress`.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::target::Target;

use crate::error::AddressError;
use crate::rng::Rng;

/// Where automatic requests get their addresses (btcd's `GetNewAddress`).
#[derive(Clone, Debug)]
pub struct AddressSource(Kind);

#[derive(Clone, Debug)]
enum Kind {
    None,
    Fixed(SocketAddr),
    RoundRobin { addrs: Vec<SocketAddr>, next: usize },
    Script { answers: VecDeque<Result<Target, AddressError>>, then: Box<AddressSource> },
    Failing(AddressError),
    Flaky { addrs: Vec<SocketAddr>, next: usize, error_permille: u32, rng: Rng },
}

impl AddressSource {
    /// No source at all (btcd's nil `GetNewAddress`): the core is told `None` and uses no id.
    pub fn none() -> Self {
        AddressSource(Kind::None)
    }

    /// Always the same address (btcd's test suite: 127.0.0.1:18555).
    pub fn fixed(addr: SocketAddr) -> Self {
        AddressSource(Kind::Fixed(addr))
    }

    /// These addresses in turn, for ever.
    pub fn round_robin(addrs: Vec<SocketAddr>) -> Self {
        assert!(!addrs.is_empty(), "a round robin needs addresses");
        AddressSource(Kind::RoundRobin { addrs, next: 0 })
    }

    /// `answers` first (addresses or errors), then whatever `then` gives.
    pub fn script<T: Into<Target>>(
        answers: impl IntoIterator<Item = Result<T, AddressError>>,
        then: AddressSource,
    ) -> Self {
        let answers = answers.into_iter().map(|a| a.map(Into::into)).collect();
        AddressSource(Kind::Script { answers, then: Box::new(then) })
    }

    /// Always this error (btcd: "no valid connect address").
    pub fn failing(error: AddressError) -> Self {
        AddressSource(Kind::Failing(error))
    }

    /// Round robin over `addrs`, each answer an error with probability `error_permille / 1000`.
    pub fn flaky(addrs: Vec<SocketAddr>, error_permille: u32, seed: u64) -> Self {
        assert!(!addrs.is_empty(), "a round robin needs addresses");
        AddressSource(Kind::Flaky { addrs, next: 0, error_permille, rng: Rng::new(seed) })
    }

    /// The answer to one `NeedAddress`.
    pub(crate) fn next_answer(&mut self) -> Option<Result<Target, AddressError>> {
        match &mut self.0 {
            Kind::None => None,
            Kind::Fixed(addr) => Some(Ok(Target::Ip(*addr))),
            Kind::RoundRobin { addrs, next } => {
                let addr = addrs[*next % addrs.len()];
                *next += 1;
                Some(Ok(Target::Ip(addr)))
            }
            Kind::Script { answers, then } => match answers.pop_front() {
                Some(answer) => Some(answer),
                None => then.next_answer(),
            },
            Kind::Failing(error) => Some(Err(error.clone())),
            Kind::Flaky { addrs, next, error_permille, rng } => {
                if rng.chance(*error_permille) {
                    return Some(Err(AddressError::new("no valid connect address")));
                }
                let addr = addrs[*next % addrs.len()];
                *next += 1;
                Some(Ok(Target::Ip(addr)))
            }
        }
    }
}
