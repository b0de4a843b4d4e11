//! SHA3-256 (FIPS 202), just enough to check an onion address: one private function, no
//! dependency. Speed does not matter here (one hash per parsed onion), so the permutation is
//! the plain textbook loop.

/// The sponge's rate for SHA3-256: 1600 - 2 * 256 bits, in bytes.
const RATE: usize = 136;

const ROUND_CONSTANTS: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Rho's rotation of each lane, in the order pi visits the lanes.
const ROTATIONS: [u32; 24] =
    [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44];

/// Pi's walk over the lanes (index x + 5y), starting from lane 1.
const PI_LANES: [usize; 24] = [10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1];

/// Keccak-f[1600] on 25 little-endian lanes.
fn keccak_f(a: &mut [u64; 25]) {
    for rc in ROUND_CONSTANTS {
        // Theta.
        let mut c = [0_u64; 5];
        for (x, col) in c.iter_mut().enumerate() {
            *col = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        }
        for x in 0..5 {
            let d = c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1);
            for y in 0..5 {
                a[5 * y + x] ^= d;
            }
        }
        // Rho and pi.
        let mut carried = a[1];
        for (&lane, &rot) in PI_LANES.iter().zip(&ROTATIONS) {
            let next = a[lane];
            a[lane] = carried.rotate_left(rot);
            carried = next;
        }
        // Chi.
        for y in 0..5 {
            let row = [a[5 * y], a[5 * y + 1], a[5 * y + 2], a[5 * y + 3], a[5 * y + 4]];
            for x in 0..5 {
                a[5 * y + x] = row[x] ^ (!row[(x + 1) % 5] & row[(x + 2) % 5]);
            }
        }
        // Iota.
        a[0] ^= rc;
    }
}

/// SHA3-256 of the concatenation of `parts` (no buffer needed to join them).
pub(super) fn sha3_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = [0_u64; 25];
    let mut at = 0;
    for &byte in parts.iter().flat_map(|p| p.iter()) {
        state[at / 8] ^= u64::from(byte) << (8 * (at % 8));
        at += 1;
        if at == RATE {
            keccak_f(&mut state);
            at = 0;
        }
    }
    // SHA3's domain bits (01) and the first pad bit, then the last pad bit.
    state[at / 8] ^= 0x06 << (8 * (at % 8));
    state[(RATE - 1) / 8] ^= 0x80 << (8 * ((RATE - 1) % 8));
    keccak_f(&mut state);
    let mut digest = [0_u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = (state[i / 8] >> (8 * (i % 8))) as u8;
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::sha3_256;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn fips_202_known_answers() {
        // FIPS 202 / NIST CAVP examples.
        assert_eq!(hex(&sha3_256(&[])), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
        assert_eq!(hex(&sha3_256(&[b"abc"])), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
        // NIST's 1600-bit message (0xA3 x 200): more than one block.
        assert_eq!(hex(&sha3_256(&[&[0xA3; 200]])), "79f38adec5c20307a98ef76e8324afbfd46cfd81b22e3973c65fa1bd9de31787");
    }

    #[test]
    fn block_boundaries() {
        // One byte short of a block (the pad bytes share a byte) and exactly one block (padding
        // gets a block of its own). Answers from Python's hashlib.sha3_256.
        assert_eq!(hex(&sha3_256(&[&[b'a'; 135]])), "8094bb53c44cfb1e67b7c30447f9a1c33696d2463ecc1d9c92538913392843c9");
        assert_eq!(hex(&sha3_256(&[&[b'a'; 136]])), "3fc5559f14db8e453a0a3091edbd2bc25e11528d81c66fa570a4efdcc2695ee1");
    }

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(sha3_256(&[b"a", b"", b"bc"]), sha3_256(&[b"abc"]));
        assert_ne!(sha3_256(&[b"ab"]), sha3_256(&[b"abc"]));
    }
}
