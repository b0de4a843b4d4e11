//! How the reactor spells its `mio::Token`s: a tag that marks the crate's tokens, a generation,
//! and a slot in the socket table.
//!
//! ```text
//! 64-bit usize:  [ tag: 8 bits ][ generation: 24 bits ][ slot: 32 bits ]
//! 32-bit usize:  [ tag: 4 bits ][ generation:  8 bits ][ slot: 20 bits ]
//! ```
//!
//! The tag lets the reactor share a `Poll` with the user's own sources: the crate owns every
//! token whose top bits equal the tag, and user tokens (usually small numbers) never collide
//! with it. The generation is what keeps a stale event from reaching the wrong socket: events
//! already collected in one `poll` batch may name a socket that an earlier event in the same
//! batch closed, and whose slot a new dial then reused; the generation no longer matches, so the
//! event is dropped. The all-ones slot is reserved for the waker.

use mio::Token;

const SLOT_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
const GEN_BITS: u32 = if usize::BITS >= 64 { 24 } else { 8 };
const TAG_SHIFT: u32 = SLOT_BITS + GEN_BITS;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

/// The tag used unless the user picks another.
const DEFAULT_TAG: u8 = if usize::BITS >= 64 { 0xC3 } else { 0xC };

/// The largest number of sockets the token layout can address at once.
pub(crate) const MAX_SLOTS: usize = SLOT_MASK; // the all-ones slot is the waker's

/// The crate's share of a `Poll`'s token space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSpace {
    tag: usize,
}

impl Default for TokenSpace {
    fn default() -> Self {
        TokenSpace::new(DEFAULT_TAG)
    }
}

impl TokenSpace {
    /// The tokens whose top bits equal `tag` (8 bits on 64-bit targets; 4 bits, the low ones
    /// of `tag`, on 32-bit targets). A zero tag is replaced by the default, since small user
    /// tokens would collide with it.
    pub const fn new(tag: u8) -> Self {
        let bits = usize::BITS - TAG_SHIFT;
        let mut t = (tag as usize) & ((1 << bits) - 1);
        if t == 0 {
            t = DEFAULT_TAG as usize;
        }
        TokenSpace { tag: t << TAG_SHIFT }
    }

    /// Whether `token` belongs to the crate.
    pub fn owns(&self, token: Token) -> bool {
        token.0 & !((1usize << TAG_SHIFT) - 1) == self.tag
    }

    /// The token for the reactor's waker (create a `mio::Waker` with it when embedding).
    pub fn waker(&self) -> Token {
        Token(self.tag | ((GEN_MASK as usize) << SLOT_BITS) | SLOT_MASK)
    }

    pub(crate) fn token(&self, slot: usize, generation: u32) -> Token {
        debug_assert!(slot <= SLOT_MASK);
        Token(self.tag | (((generation & GEN_MASK) as usize) << SLOT_BITS) | slot)
    }

    /// Splits one of the crate's socket tokens into slot and generation.
    pub(crate) fn split(&self, token: Token) -> (usize, u32) {
        (token.0 & SLOT_MASK, ((token.0 >> SLOT_BITS) as u32) & GEN_MASK)
    }
}

/// Advances a generation counter within the bits a token has for it.
pub(crate) fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1) & GEN_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_in_the_space() {
        let space = TokenSpace::default();
        for (slot, gen) in [(0, 0), (1, 1), (12345, GEN_MASK), (MAX_SLOTS - 1, 7)] {
            let t = space.token(slot, gen);
            assert!(space.owns(t));
            assert_eq!(space.split(t), (slot, gen));
            assert_ne!(t, space.waker());
        }
    }

    #[test]
    fn generations_wrap_inside_their_bits() {
        assert_eq!(next_generation(GEN_MASK), 0);
        assert_eq!(next_generation(0), 1);
    }

    #[test]
    fn different_tags_do_not_overlap() {
        let a = TokenSpace::new(1);
        let b = TokenSpace::new(2);
        assert!(!a.owns(b.token(5, 5)));
        assert!(!b.owns(a.waker()));
        assert_eq!(TokenSpace::new(0), TokenSpace::default());
    }
}
