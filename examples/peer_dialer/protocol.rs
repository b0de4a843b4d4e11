//! The Bitcoin P2P protocol of one connection, as a pure state machine: bytes in, messages,
//! events and bytes out. No sockets, no clock (time is an argument), so it is tested directly.
//!
//! - [`check_header`] validates a 24-byte message header *before* anything is allocated for the
//!   payload: network magic, command string, and a payload length within Bitcoin Core's
//!   `MAX_PROTOCOL_MESSAGE_LENGTH` (4,000,000 bytes).
//! - [`Framer`] buffers a stream (never more than one message plus one read chunk) and hands
//!   each complete message to the `bitcoin` crate to decode (which also checks the checksum).
//! - [`Session`] runs the version handshake in both directions (both sides send `version` at
//!   once, each answers the other's `version` with `verack`), answers `ping` with `pong`, asks
//!   for addresses with `getaddr` once the handshake is done, and reports `addr` / `addrv2`.
//!
//! Encoding and decoding of the messages themselves is the `bitcoin` crate's; the header is
//! parsed here only to validate it.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bitcoin::consensus::encode;
use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, Magic, ServiceFlags};
use connmgr::{addr::OnionAddr, Target};

/// Size of a message header: magic (4), command (12), payload length (4), checksum (4).
pub const HEADER_LEN: usize = 24;

/// The largest payload accepted: Bitcoin Core's `MAX_PROTOCOL_MESSAGE_LENGTH` (4,000,000 bytes).
/// rust-bitcoin reads up to its `MAX_MSG_SIZE` (5,000,000) for a whole message; the protocol's
/// own limit is the stricter one, so it is checked here, on the header, first.
pub const MAX_PAYLOAD: usize = 4_000_000;

/// The protocol version sent (Bitcoin Core 0.21+'s `PROTOCOL_VERSION`, BIP 339 `wtxidrelay`).
/// rust-bitcoin's own `p2p::PROTOCOL_VERSION` (70001) is older; peers at or above this one
/// may send `sendaddrv2` and `wtxidrelay`, which are understood (or ignored) here.
pub const PROTOCOL_VERSION: u32 = 70016;

/// The oldest protocol version accepted from a peer (Bitcoin Core's `MIN_PEER_PROTO_VERSION`).
pub const MIN_PEER_VERSION: u32 = 31800;

/// The most addresses one `addr`/`addrv2` may carry (Bitcoin Core's `MAX_ADDR_TO_SEND`).
pub const MAX_ADDRS: usize = 1000;

/// The most unsent bytes kept for a peer that does not read; past it the connection ends.
pub const MAX_OUTBOX: usize = 1 << 20;

/// A stream that cannot be framed, or a message that does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The header's network magic is another network's (or garbage).
    WrongMagic {
        /// What the header said.
        got: [u8; 4],
        /// What this network uses.
        expected: [u8; 4],
    },
    /// The command is not NUL-padded printable ASCII.
    BadCommand,
    /// The header claims a payload above [`MAX_PAYLOAD`].
    Oversize {
        /// The claimed length.
        len: u32,
    },
    /// The payload's checksum does not match the header's.
    BadChecksum,
    /// The payload does not decode as its command says.
    Malformed {
        /// The command.
        command: String,
        /// What the decoder said.
        reason: String,
    },
    /// The stream ended in the middle of a message.
    Truncated {
        /// Bytes of the message received.
        have: usize,
        /// Bytes the message needs (the header's 24 while the header is incomplete).
        need: usize,
    },
}

impl FrameError {
    /// A short, stable name of the kind of error, for counting in summaries.
    pub fn label(&self) -> &'static str {
        match self {
            FrameError::WrongMagic { .. } => "wrong network magic",
            FrameError::BadCommand => "bad command",
            FrameError::Oversize { .. } => "oversize message",
            FrameError::BadChecksum => "bad checksum",
            FrameError::Malformed { .. } => "malformed message",
            FrameError::Truncated { .. } => "truncated message",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::WrongMagic { got, expected } => {
                write!(f, "wrong network magic {} (expected {})", hex(got), hex(expected))
            }
            FrameError::BadCommand => f.write_str("bad command (not NUL-padded ASCII)"),
            FrameError::Oversize { len } => write!(f, "oversize message: {len} bytes > {MAX_PAYLOAD}"),
            FrameError::BadChecksum => f.write_str("bad checksum"),
            FrameError::Malformed { command, reason } => write!(f, "malformed {command}: {reason}"),
            FrameError::Truncated { have, need } => {
                write!(f, "truncated message: peer closed after {have} of {need} bytes")
            }
        }
    }
}

impl std::error::Error for FrameError {}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A validated message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The command, NUL-padded.
    pub command: [u8; 12],
    /// The payload length (at most [`MAX_PAYLOAD`]).
    pub len: u32,
}

impl Header {
    /// Header plus payload.
    pub fn message_len(&self) -> usize {
        HEADER_LEN + self.len as usize
    }

    /// The command without its padding.
    pub fn command_str(&self) -> &str {
        let end = self.command.iter().position(|&b| b == 0).unwrap_or(12);
        std::str::from_utf8(&self.command[..end]).unwrap_or("?")
    }
}

/// Validates a header: magic, command, length. Nothing is allocated, whatever it claims.
pub fn check_header(bytes: &[u8; HEADER_LEN], magic: Magic) -> Result<Header, FrameError> {
    let got: [u8; 4] = bytes[0..4].try_into().expect("4 bytes");
    if got != magic.to_bytes() {
        return Err(FrameError::WrongMagic { got, expected: magic.to_bytes() });
    }
    let command: [u8; 12] = bytes[4..16].try_into().expect("12 bytes");
    // Bitcoin Core's IsCommandValid: printable ASCII, then only NUL padding.
    let end = command.iter().position(|&b| b == 0).unwrap_or(12);
    if end == 0 || !command[..end].iter().all(|b| (0x20..=0x7e).contains(b)) || command[end..].iter().any(|&b| b != 0) {
        return Err(FrameError::BadCommand);
    }
    let len = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if len as usize > MAX_PAYLOAD {
        return Err(FrameError::Oversize { len });
    }
    Ok(Header { command, len })
}

/// Encodes one message with the `bitcoin` crate (header, checksum and payload).
pub fn encode_message(magic: Magic, payload: NetworkMessage) -> Vec<u8> {
    encode::serialize(&RawNetworkMessage::new(magic, payload))
}

/// Cuts a byte stream into messages. Holds at most one incomplete message: the header is
/// checked as soon as its 24 bytes are in, so a bad one is refused before its payload is read,
/// and the buffer only grows as bytes actually arrive, never to what a header claims.
#[derive(Debug)]
pub struct Framer {
    magic: Magic,
    buf: Vec<u8>,
    header: Option<Header>,
}

impl Framer {
    /// A framer for this network.
    pub fn new(magic: Magic) -> Self {
        Framer { magic, buf: Vec::new(), header: None }
    }

    /// Bytes buffered of the next message.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes and decodes every complete message, in order. After an error
    /// the stream is unusable (the caller closes the connection).
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<NetworkMessage>) -> Result<(), FrameError> {
        while !data.is_empty() {
            // Take only what the current message still needs, so the buffer never holds more
            // than one message, whatever the size of `data`.
            let need = match self.header {
                None => HEADER_LEN,
                Some(h) => h.message_len(),
            };
            let take = (need - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < need {
                break;
            }
            match self.header {
                None => {
                    let bytes: &[u8; HEADER_LEN] = self.buf[..HEADER_LEN].try_into().expect("a full header");
                    let header = check_header(bytes, self.magic)?;
                    self.header = Some(header);
                    if header.len == 0 {
                        out.push(self.decode(header)?);
                    }
                }
                Some(header) => out.push(self.decode(header)?),
            }
        }
        Ok(())
    }

    /// The stream ended: an error if it ended inside a message.
    pub fn finish(&self) -> Result<(), FrameError> {
        match (self.buf.len(), self.header) {
            (0, _) => Ok(()),
            (have, None) => Err(FrameError::Truncated { have, need: HEADER_LEN }),
            (have, Some(h)) => Err(FrameError::Truncated { have, need: h.message_len() }),
        }
    }

    fn decode(&mut self, header: Header) -> Result<NetworkMessage, FrameError> {
        let result = encode::deserialize::<RawNetworkMessage>(&self.buf);
        self.buf.clear();
        self.header = None;
        // Give back the memory of a large message at once; small ones keep the allocation.
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
        match result {
            Ok(raw) => Ok(raw.into_payload()),
            Err(encode::Error::InvalidChecksum { .. }) => Err(FrameError::BadChecksum),
            Err(e) => Err(FrameError::Malformed { command: header.command_str().to_owned(), reason: e.to_string() }),
        }
    }
}

/// What this side says about itself in its `version`.
#[derive(Clone, Debug)]
pub struct LocalInfo {
    /// The network.
    pub magic: Magic,
    /// Services offered.
    pub services: ServiceFlags,
    /// The user agent, BIP 14 style (`/name:version/`).
    pub user_agent: String,
    /// The best height known.
    pub start_height: i32,
    /// Whether the peer should announce transactions.
    pub relay: bool,
    /// The nonce of every `version` this process sends: a peer echoing it is this process.
    pub nonce: u64,
}

/// What a peer said in its `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerVersion {
    /// Its protocol version.
    pub version: u32,
    /// Its services.
    pub services: ServiceFlags,
    /// Its user agent.
    pub user_agent: String,
    /// Its best height.
    pub start_height: i32,
    /// Its relay flag.
    pub relay: bool,
}

/// Something a [`Session`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Both `version`s and both `verack`s are through. `rtt` is from our `version` to the
    /// peer's `verack`.
    Handshaken {
        /// The handshake's round trip.
        rtt: Duration,
    },
    /// Addresses from an `addr` or `addrv2`: IPv4, IPv6 and Tor v3 (I2P and CJDNS are skipped).
    Addresses(Vec<Target>),
    /// The peer asked for addresses (the session does not answer: it has no address book).
    GetAddr,
    /// The answer to a [`Session::ping`].
    Pong {
        /// The round trip.
        rtt: Duration,
    },
    /// The peer announced a block or a transaction: useful work, which eviction protects.
    Announced {
        /// A block (else a transaction).
        block: bool,
    },
}

/// The peer broke the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The stream could not be framed or decoded.
    Frame(FrameError),
    /// A second `version`.
    DuplicateVersion,
    /// `verack` before `version`.
    VerackBeforeVersion,
    /// The peer's `version` carries our own nonce: we dialled ourselves.
    SelfConnection,
    /// The peer's protocol version is too old.
    Obsolete(u32),
    /// An `addr` with more entries than the protocol allows.
    TooManyAddresses(usize),
    /// The peer does not read and our unsent data grew past [`MAX_OUTBOX`].
    SendBufferFull,
}

impl ProtocolError {
    /// A short, stable name of the kind of error, for counting in summaries.
    pub fn label(&self) -> &'static str {
        match self {
            ProtocolError::Frame(e) => e.label(),
            ProtocolError::DuplicateVersion => "duplicate version",
            ProtocolError::VerackBeforeVersion => "verack before version",
            ProtocolError::SelfConnection => "connected to self",
            ProtocolError::Obsolete(_) => "obsolete version",
            ProtocolError::TooManyAddresses(_) => "oversize addr",
            ProtocolError::SendBufferFull => "send buffer full",
        }
    }

    /// Whether the peer broke the protocol (bad framing, bad messages), as opposed to being
    /// ourselves, too old, or slow to read: what earns a ban score.
    pub fn is_violation(&self) -> bool {
        !matches!(self, ProtocolError::SelfConnection | ProtocolError::Obsolete(_) | ProtocolError::SendBufferFull)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => fmt::Display::fmt(e, f),
            ProtocolError::DuplicateVersion => f.write_str("duplicate version message"),
            ProtocolError::VerackBeforeVersion => f.write_str("verack before version"),
            ProtocolError::SelfConnection => f.write_str("connected to self (own nonce)"),
            ProtocolError::Obsolete(v) => write!(f, "obsolete protocol version {v} < {MIN_PEER_VERSION}"),
            ProtocolError::TooManyAddresses(n) => write!(f, "addr with {n} entries > {MAX_ADDRS}"),
            ProtocolError::SendBufferFull => write!(f, "peer does not read: over {MAX_OUTBOX} bytes unsent"),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> Self {
        ProtocolError::Frame(e)
    }
}

/// One connection's protocol state. Created when the TCP connection is established, it queues
/// our `version` (and `sendaddrv2`) at once; feed it what is read with [`receive`], send what
/// [`outbox`] holds, tell it how much went out with [`consume`].
///
/// [`receive`]: Session::receive
/// [`outbox`]: Session::outbox
/// [`consume`]: Session::consume
#[derive(Debug)]
pub struct Session {
    magic: Magic,
    nonce: u64,
    framer: Framer,
    outbox: Vec<u8>,
    version_sent: Instant,
    peer: Option<PeerVersion>,
    got_verack: bool,
    handshaken: bool,
    ping: Option<(u64, Instant)>,
    messages: Vec<NetworkMessage>,
}

impl Session {
    /// Starts a session on a connection from `local` to `remote`. `unix_time` is the
    /// `version` timestamp (seconds since 1970).
    pub fn new(me: &LocalInfo, local: SocketAddr, remote: SocketAddr, now: Instant, unix_time: i64) -> Self {
        let mut session = Session {
            magic: me.magic,
            nonce: me.nonce,
            framer: Framer::new(me.magic),
            outbox: Vec::with_capacity(256),
            version_sent: now,
            peer: None,
            got_verack: false,
            handshaken: false,
            ping: None,
            messages: Vec::new(),
        };
        session.send(NetworkMessage::Version(version_message(me, local, remote, unix_time)));
        // BIP 155: must come before our verack; asks the peer for addrv2 (Tor v3, I2P, ...).
        session.send(NetworkMessage::SendAddrV2);
        session
    }

    /// Queues a message.
    pub fn send(&mut self, msg: NetworkMessage) {
        self.outbox.extend_from_slice(&encode_message(self.magic, msg));
    }

    /// Queues a `ping`; its `pong` is reported with the round trip.
    pub fn ping(&mut self, nonce: u64, now: Instant) {
        self.ping = Some((nonce, now));
        self.send(NetworkMessage::Ping(nonce));
    }

    /// Bytes waiting to be written.
    pub fn outbox(&self) -> &[u8] {
        &self.outbox
    }

    /// `n` bytes of the outbox were written.
    pub fn consume(&mut self, n: usize) {
        self.outbox.drain(..n.min(self.outbox.len()));
    }

    /// Whether the handshake is done.
    pub fn is_handshaken(&self) -> bool {
        self.handshaken
    }

    /// The peer's `version`, once received.
    pub fn peer(&self) -> Option<&PeerVersion> {
        self.peer.as_ref()
    }

    /// Handles received bytes; events go to `events`, answers to the outbox.
    pub fn receive(&mut self, data: &[u8], now: Instant, events: &mut Vec<SessionEvent>) -> Result<(), ProtocolError> {
        let mut messages = std::mem::take(&mut self.messages);
        let framed = self.framer.feed(data, &mut messages);
        // Messages before a framing error are still handled, in order: the error comes last.
        let mut result = Ok(());
        for msg in messages.drain(..) {
            if let Err(e) = self.handle(msg, now, events) {
                result = Err(e);
                break;
            }
        }
        self.messages = messages;
        result?;
        framed?;
        if self.outbox.len() > MAX_OUTBOX {
            return Err(ProtocolError::SendBufferFull);
        }
        Ok(())
    }

    /// The peer closed its side: an error if it did so inside a message.
    pub fn closed(&self) -> Result<(), ProtocolError> {
        Ok(self.framer.finish()?)
    }

    fn handle(
        &mut self,
        msg: NetworkMessage,
        now: Instant,
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), ProtocolError> {
        match msg {
            NetworkMessage::Version(v) => {
                if self.peer.is_some() {
                    return Err(ProtocolError::DuplicateVersion);
                }
                if v.nonce == self.nonce && v.nonce != 0 {
                    return Err(ProtocolError::SelfConnection);
                }
                if v.version < MIN_PEER_VERSION {
                    return Err(ProtocolError::Obsolete(v.version));
                }
                self.peer = Some(PeerVersion {
                    version: v.version,
                    services: v.services,
                    user_agent: v.user_agent,
                    start_height: v.start_height,
                    relay: v.relay,
                });
                self.send(NetworkMessage::Verack);
                self.check_handshake(now, events);
            }
            NetworkMessage::Verack => {
                if self.peer.is_none() {
                    return Err(ProtocolError::VerackBeforeVersion);
                }
                if !self.got_verack {
                    self.got_verack = true;
                    self.check_handshake(now, events);
                }
            }
            NetworkMessage::Ping(nonce) => self.send(NetworkMessage::Pong(nonce)),
            NetworkMessage::Pong(nonce) => {
                if let Some((sent_nonce, at)) = self.ping {
                    if sent_nonce == nonce {
                        self.ping = None;
                        events.push(SessionEvent::Pong { rtt: now.saturating_duration_since(at) });
                    }
                }
            }
            NetworkMessage::Addr(list) => {
                if list.len() > MAX_ADDRS {
                    return Err(ProtocolError::TooManyAddresses(list.len()));
                }
                let addrs = list.iter().filter_map(|(_, a)| a.socket_addr().ok()).map(Target::Ip).collect();
                events.push(SessionEvent::Addresses(addrs));
            }
            NetworkMessage::AddrV2(list) => {
                if list.len() > MAX_ADDRS {
                    return Err(ProtocolError::TooManyAddresses(list.len()));
                }
                let addrs = list
                    .iter()
                    .filter_map(|a| match a.addr {
                        AddrV2::TorV3(key) => Some(Target::Onion(OnionAddr::from_pubkey(key), a.port)),
                        _ => a.socket_addr().ok().map(Target::Ip),
                    })
                    .collect();
                events.push(SessionEvent::Addresses(addrs));
            }
            NetworkMessage::GetAddr => events.push(SessionEvent::GetAddr),
            NetworkMessage::Inv(items) => {
                use bitcoin::p2p::message_blockdata::Inventory;
                let block = items.iter().any(|i| matches!(i, Inventory::Block(_) | Inventory::WitnessBlock(_)));
                let tx = items.iter().any(|i| {
                    matches!(i, Inventory::Transaction(_) | Inventory::WitnessTransaction(_) | Inventory::WTx(_))
                });
                if block || tx {
                    events.push(SessionEvent::Announced { block });
                }
            }
            NetworkMessage::Headers(headers) if !headers.is_empty() => {
                events.push(SessionEvent::Announced { block: true });
            }
            // Everything else (sendaddrv2, wtxidrelay, sendcmpct, feefilter, ...) is none of a
            // dialer's business.
            other => log::trace!("ignoring {}", other.cmd()),
        }
        Ok(())
    }

    fn check_handshake(&mut self, now: Instant, events: &mut Vec<SessionEvent>) {
        if !self.handshaken && self.peer.is_some() && self.got_verack {
            self.handshaken = true;
            events.push(SessionEvent::Handshaken { rtt: now.saturating_duration_since(self.version_sent) });
            self.send(NetworkMessage::GetAddr);
        }
    }
}

/// Our `version` for a connection from `local` to `remote`.
pub fn version_message(me: &LocalInfo, local: SocketAddr, remote: SocketAddr, unix_time: i64) -> VersionMessage {
    VersionMessage {
        version: PROTOCOL_VERSION,
        services: me.services,
        timestamp: unix_time,
        receiver: Address::new(&remote, ServiceFlags::NONE),
        sender: Address::new(&local, me.services),
        nonce: me.nonce,
        user_agent: me.user_agent.clone(),
        start_height: me.start_height,
        relay: me.relay,
    }
}

/// Service flags without the `ServiceFlags(...)` wrapping of their `Display`.
pub fn services_str(s: ServiceFlags) -> String {
    let text = s.to_string();
    let inner = text.strip_prefix("ServiceFlags(").and_then(|t| t.strip_suffix(')')).unwrap_or(&text);
    inner.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(nonce: u64) -> LocalInfo {
        LocalInfo {
            magic: Magic::REGTEST,
            services: ServiceFlags::NETWORK,
            user_agent: "/test:1/".into(),
            start_height: 7,
            relay: false,
            nonce,
        }
    }

    fn header(magic: [u8; 4], command: &[u8], len: u32) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&magic);
        h[4..4 + command.len()].copy_from_slice(command);
        h[16..20].copy_from_slice(&len.to_le_bytes());
        h
    }

    #[test]
    fn header_checks_magic_command_and_length() {
        let m = Magic::REGTEST;
        let ok = check_header(&header(m.to_bytes(), b"version", 100), m).unwrap();
        assert_eq!((ok.command_str(), ok.len, ok.message_len()), ("version", 100, 124));
        assert!(matches!(
            check_header(&header(Magic::BITCOIN.to_bytes(), b"version", 100), m),
            Err(FrameError::WrongMagic { .. })
        ));
        assert_eq!(check_header(&header(m.to_bytes(), b"", 0), m), Err(FrameError::BadCommand));
        assert_eq!(check_header(&header(m.to_bytes(), b"ver\0ion", 0), m), Err(FrameError::BadCommand));
        assert_eq!(check_header(&header(m.to_bytes(), b"ver\x01", 0), m), Err(FrameError::BadCommand));
        assert!(check_header(&header(m.to_bytes(), b"inv", MAX_PAYLOAD as u32), m).is_ok());
        assert_eq!(
            check_header(&header(m.to_bytes(), b"inv", MAX_PAYLOAD as u32 + 1), m),
            Err(FrameError::Oversize { len: MAX_PAYLOAD as u32 + 1 })
        );
    }

    #[test]
    fn an_oversize_header_is_refused_before_any_payload_is_buffered() {
        let mut f = Framer::new(Magic::REGTEST);
        let h = header(Magic::REGTEST.to_bytes(), b"block", u32::MAX);
        let mut out = Vec::new();
        assert_eq!(f.feed(&h, &mut out), Err(FrameError::Oversize { len: u32::MAX }));
        assert!(f.buf.capacity() < 1024, "nothing allocated for the claimed payload");
    }

    #[test]
    fn the_buffer_grows_with_bytes_received_not_with_the_claimed_length() {
        let mut f = Framer::new(Magic::REGTEST);
        let h = header(Magic::REGTEST.to_bytes(), b"block", MAX_PAYLOAD as u32);
        let mut out = Vec::new();
        f.feed(&h, &mut out).unwrap();
        f.feed(&[0u8; 100], &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(f.buffered(), 124);
        assert!(f.buf.capacity() < 64 * 1024, "capacity {} follows the data", f.buf.capacity());
        assert_eq!(f.finish(), Err(FrameError::Truncated { have: 124, need: HEADER_LEN + MAX_PAYLOAD }));
    }

    #[test]
    fn messages_split_anywhere_are_reassembled_and_never_overbuffered() {
        let mut bytes = encode_message(Magic::REGTEST, NetworkMessage::Ping(42));
        bytes.extend(encode_message(Magic::REGTEST, NetworkMessage::Verack));
        bytes.extend(encode_message(Magic::REGTEST, NetworkMessage::Pong(43)));
        for split in 1..bytes.len() {
            let mut f = Framer::new(Magic::REGTEST);
            let mut out = Vec::new();
            for chunk in bytes.chunks(split) {
                f.feed(chunk, &mut out).unwrap();
                assert!(f.buffered() < HEADER_LEN + 8);
            }
            assert_eq!(out, vec![NetworkMessage::Ping(42), NetworkMessage::Verack, NetworkMessage::Pong(43)]);
            assert_eq!(f.finish(), Ok(()));
        }
    }

    #[test]
    fn checksum_and_payload_errors_are_told_apart() {
        let mut bytes = encode_message(Magic::REGTEST, NetworkMessage::Ping(42));
        bytes[HEADER_LEN] ^= 1;
        let mut out = Vec::new();
        assert_eq!(Framer::new(Magic::REGTEST).feed(&bytes, &mut out), Err(FrameError::BadChecksum));

        // A ping whose payload is 4 bytes instead of 8, with a correct checksum.
        let payload = [1u8, 2, 3, 4];
        let mut h = header(Magic::REGTEST.to_bytes(), b"ping", 4);
        let sum = bitcoin::hashes::sha256d::Hash::hash(&payload);
        h[20..24].copy_from_slice(&sum.as_byte_array()[..4]);
        let mut bytes = h.to_vec();
        bytes.extend_from_slice(&payload);
        let err = Framer::new(Magic::REGTEST).feed(&bytes, &mut out).unwrap_err();
        assert!(matches!(err, FrameError::Malformed { ref command, .. } if command == "ping"), "{err}");
    }

    use bitcoin::hashes::Hash;

    #[test]
    fn two_sessions_shake_hands_and_exchange_addresses() {
        let now = Instant::now();
        let (a_addr, b_addr): (SocketAddr, SocketAddr) =
            ("127.0.0.1:1".parse().unwrap(), "127.0.0.2:2".parse().unwrap());
        let mut a = Session::new(&me(1), a_addr, b_addr, now, 0);
        let mut b = Session::new(&me(2), b_addr, a_addr, now, 0);
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let out = a.outbox().to_vec();
            a.consume(out.len());
            b.receive(&out, now, &mut eb).unwrap();
            let out = b.outbox().to_vec();
            b.consume(out.len());
            a.receive(&out, now, &mut ea).unwrap();
        }
        assert!(a.is_handshaken() && b.is_handshaken());
        assert_eq!(a.peer().unwrap().user_agent, "/test:1/");
        assert!(ea.contains(&SessionEvent::Handshaken { rtt: Duration::ZERO }));
        assert!(eb.contains(&SessionEvent::GetAddr), "getaddr follows the handshake: {eb:?}");
        b.send(NetworkMessage::Addr(vec![(0, Address::new(&"127.0.0.9:8333".parse().unwrap(), ServiceFlags::NONE))]));
        let out = b.outbox().to_vec();
        a.receive(&out, now, &mut ea).unwrap();
        assert!(ea.contains(&SessionEvent::Addresses(vec!["127.0.0.9:8333".parse().unwrap()])));
    }

    #[test]
    fn own_nonce_is_a_self_connection() {
        let now = Instant::now();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut a = Session::new(&me(5), addr, addr, now, 0);
        let mut twin = Session::new(&me(5), addr, addr, now, 0);
        let out = twin.outbox().to_vec();
        twin.consume(out.len());
        assert_eq!(a.receive(&out, now, &mut Vec::new()), Err(ProtocolError::SelfConnection));
    }

    #[test]
    fn services_print_without_wrapping() {
        assert_eq!(services_str(ServiceFlags::NETWORK | ServiceFlags::WITNESS), "NETWORK|WITNESS");
        assert_eq!(services_str(ServiceFlags::NONE), "NONE");
    }
}
