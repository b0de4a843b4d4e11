//! Tor v3 onion addresses (rend-spec-v3 section 6): the 35 bytes behind the 56 characters,
//! checked once at parse time so that a typo fails here instead of as a Tor timeout minutes later.

use std::fmt;
use std::str::FromStr;

use super::{base32, sha3, TargetError};

/// Public key, checksum and version.
const RAW_LEN: usize = 35;
/// Base32 characters before ".onion".
pub(super) const TEXT_LEN: usize = base32::encoded_len(RAW_LEN);
/// The length of a v2 address's label, which Tor no longer serves.
const V2_TEXT_LEN: usize = 16;
pub(super) const VERSION: u8 = 3;
const SUFFIX: &str = ".onion";
/// `"<56 chars>.onion"`.
pub(crate) const HOST_LEN: usize = TEXT_LEN + SUFFIX.len();

/// A Tor v3 onion service address, such as
/// `2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion`: its ed25519 public key, with
/// the checksum and version verified.
///
/// Stored as the decoded 35 bytes, inline, so a copy costs nothing. Parse it from text (either
/// case; one trailing dot allowed) or build it from a key, as BIP 155 `addrv2` messages carry it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OnionAddr([u8; RAW_LEN]);

impl OnionAddr {
    /// The address of the service with this ed25519 public key.
    pub fn from_pubkey(pubkey: [u8; 32]) -> OnionAddr {
        let mut raw = [0_u8; RAW_LEN];
        raw[..32].copy_from_slice(&pubkey);
        let [a, b] = checksum(&pubkey);
        raw[32] = a;
        raw[33] = b;
        raw[34] = VERSION;
        OnionAddr(raw)
    }

    /// The service's ed25519 public key (BIP 155's 32-byte `TORV3` address).
    pub fn pubkey(&self) -> [u8; 32] {
        let mut key = [0_u8; 32];
        key.copy_from_slice(&self.0[..32]);
        key
    }

    /// Writes `"<56 lower-case chars>.onion"`, the form a SOCKS request carries.
    pub(crate) fn write_host(&self, out: &mut [u8; HOST_LEN]) {
        // The output is exactly the encoded length, so `encode` cannot fail.
        let _ = base32::encode(&self.0, &mut out[..TEXT_LEN]);
        out[TEXT_LEN..].copy_from_slice(SUFFIX.as_bytes());
    }

    /// Parses `host`, whose last label is known to be `onion` (either case, maybe a trailing dot).
    pub(crate) fn parse_host(host: &str) -> Result<OnionAddr, TargetError> {
        let host = host.strip_suffix('.').unwrap_or(host);
        let label = &host[..host.len().saturating_sub(SUFFIX.len())];
        if label.contains('.') {
            return Err(TargetError::OnionSubdomain);
        }
        match label.len() {
            TEXT_LEN => {}
            V2_TEXT_LEN => return Err(TargetError::OnionV2),
            len => return Err(TargetError::OnionLength(len)),
        }
        let mut raw = [0_u8; RAW_LEN];
        base32::decode(label.as_bytes(), &mut raw).map_err(|e| match e {
            base32::DecodeError::Char(i) => TargetError::OnionBase32(label[i..].chars().next().unwrap_or('?')),
            // 56 characters are exactly 35 bytes: neither can happen.
            base32::DecodeError::Length | base32::DecodeError::TrailingBits => TargetError::OnionLength(label.len()),
        })?;
        if raw[34] != VERSION {
            return Err(TargetError::OnionVersion(raw[34]));
        }
        let addr = OnionAddr::from_pubkey(OnionAddr(raw).pubkey());
        if addr != OnionAddr(raw) {
            return Err(TargetError::OnionChecksum);
        }
        Ok(addr)
    }
}

/// SHA3-256(".onion checksum" || PUBKEY || VERSION)[..2].
fn checksum(pubkey: &[u8; 32]) -> [u8; 2] {
    let digest = sha3::sha3_256(&[b".onion checksum", pubkey, &[VERSION]]);
    [digest[0], digest[1]]
}

/// Accepts `<56 base32 chars>.onion`, in either case, with an optional trailing dot.
impl FromStr for OnionAddr {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let host = s.strip_suffix('.').unwrap_or(s);
        let is_onion = host.len() >= SUFFIX.len()
            && host.is_char_boundary(host.len() - SUFFIX.len())
            && host[host.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX);
        if !is_onion {
            return Err(TargetError::NotOnion);
        }
        OnionAddr::parse_host(s)
    }
}

impl fmt::Display for OnionAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut host = [0_u8; HOST_LEN];
        self.write_host(&mut host);
        // Base32 and ".onion" are ASCII.
        f.write_str(std::str::from_utf8(&host).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for OnionAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnionAddr({self})")
    }
}
