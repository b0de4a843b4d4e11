//! The DNS wire format, as much of it as a stub resolver needs: one question out, A, AAAA and
//! CNAME records in (RFC 1035 section 4, RFC 3596).
//!
//! A small codec of our own rather than a crate: the candidates were over the footprint budget,
//! above the crate's MSRV or unmaintained (the module docs of [`crate::dns`] give the numbers).
//! Queries are written into a fixed buffer ([`QueryBuf`]) and names live in fixed arrays
//! ([`Name`]), so nothing here allocates. The parser trusts nothing: every length is checked
//! against the message, compression pointers must go strictly backwards (so a pointer loop is
//! impossible, and hops are bounded besides), and names longer than 255 bytes are rejected.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const HEADER_LEN: usize = 12;
/// The longest name on the wire, root label included (RFC 1035 2.3.4).
pub(crate) const MAX_NAME_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;
/// The largest query: header, the longest name, type and class.
pub(crate) const MAX_QUERY_LEN: usize = HEADER_LEN + MAX_NAME_LEN + 4;
/// Compression pointers followed for one name. Pointers must go strictly backwards, which
/// already bounds them by the message length; this bounds the work per name to a constant.
const MAX_POINTER_HOPS: usize = 32;

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_CNAME: u16 = 5;
pub(crate) const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

pub(crate) const RCODE_SERVFAIL: u8 = 2;
pub(crate) const RCODE_NXDOMAIN: u8 = 3;
pub(crate) const RCODE_REFUSED: u8 = 5;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;

/// A domain name in uncompressed wire form (length-prefixed labels, then the root's 0).
#[derive(Clone, Copy)]
pub(crate) struct Name {
    len: u8,
    wire: [u8; MAX_NAME_LEN],
}

impl Name {
    /// Encodes a dotted name (one trailing dot allowed). Labels are 1 to 63 printable ASCII
    /// bytes other than `.`; internationalized names must already be in punycode.
    pub(crate) fn from_text(text: &str) -> Option<Name> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut name = Name { len: 0, wire: [0; MAX_NAME_LEN] };
        let mut at = 0;
        if text.is_empty() {
            return None;
        }
        for label in text.split('.') {
            let bytes = label.as_bytes();
            let valid = bytes.iter().all(|b| b.is_ascii_graphic());
            if bytes.is_empty() || bytes.len() > MAX_LABEL_LEN || !valid || at + 1 + bytes.len() + 1 > MAX_NAME_LEN {
                return None;
            }
            name.wire[at] = bytes.len() as u8;
            name.wire[at + 1..at + 1 + bytes.len()].copy_from_slice(bytes);
            at += 1 + bytes.len();
        }
        name.wire[at] = 0;
        name.len = (at + 1) as u8;
        Some(name)
    }

    pub(crate) fn wire(&self) -> &[u8] {
        &self.wire[..usize::from(self.len)]
    }

    /// DNS names compare ASCII case-insensitively (RFC 4343). Length bytes are at most 63,
    /// below every letter, so comparing the wire forms byte by byte is exact.
    pub(crate) fn eq_ignore_case(&self, other: &Name) -> bool {
        self.wire().eq_ignore_ascii_case(other.wire())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wire = self.wire();
        let mut at = 0;
        while let Some(&len) = wire.get(at) {
            if len == 0 {
                break;
            }
            if at > 0 {
                f.write_str(".")?;
            }
            let label = wire.get(at + 1..at + 1 + usize::from(len)).unwrap_or_default();
            for &b in label {
                // Decoded names may hold any byte; show the odd ones escaped, as dig does.
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
            at += 1 + usize::from(len);
        }
        if at == 0 {
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// One query, with room for TCP's 2-byte length prefix in front of it.
#[derive(Clone, Copy)]
pub(crate) struct QueryBuf {
    bytes: [u8; 2 + MAX_QUERY_LEN],
    len: usize,
}

impl QueryBuf {
    pub(crate) const fn new() -> Self {
        QueryBuf { bytes: [0; 2 + MAX_QUERY_LEN], len: 2 }
    }

    /// Writes a standard query (opcode 0, RD set, one question of class IN, nothing else).
    pub(crate) fn write(&mut self, id: u16, name: &Name, qtype: u16) {
        let wire = name.wire();
        let msg_len = HEADER_LEN + wire.len() + 4;
        let b = &mut self.bytes;
        b[0..2].copy_from_slice(&(msg_len as u16).to_be_bytes());
        b[2..4].copy_from_slice(&id.to_be_bytes());
        b[4..6].copy_from_slice(&FLAG_RD.to_be_bytes());
        b[6..8].copy_from_slice(&1u16.to_be_bytes());
        b[8..14].fill(0);
        let q = 2 + HEADER_LEN;
        b[q..q + wire.len()].copy_from_slice(wire);
        let t = q + wire.len();
        b[t..t + 2].copy_from_slice(&qtype.to_be_bytes());
        b[t + 2..t + 4].copy_from_slice(&CLASS_IN.to_be_bytes());
        self.len = 2 + msg_len;
    }

    /// The message as a UDP datagram.
    pub(crate) fn udp(&self) -> &[u8] {
        &self.bytes[2..self.len]
    }

    /// The message with its length prefix, as TCP carries it (RFC 1035 4.2.2).
    pub(crate) fn tcp(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for QueryBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryBuf").field("len", &self.udp().len()).finish()
    }
}

/// The question a reply must answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expect<'a> {
    pub(crate) id: u16,
    pub(crate) name: &'a Name,
    pub(crate) qtype: u16,
}

/// Why a message is not a usable reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not a reply to our query at all: too short for a header, another id, not a response,
    /// another opcode. Spoofed or stray; the query keeps waiting.
    NotOurs,
    /// Our id, but a different question: stray or forged.
    WrongQuestion,
    /// Our id and question, but the rest does not parse.
    Malformed,
}

/// What a reply to our question says.
// The alias makes `Answer` large; a `Reply` lives only between the parser and its caller.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reply {
    /// TC was set (on UDP): ask again over TCP.
    Truncated,
    /// A non-zero RCODE.
    Rcode(u8),
    /// NOERROR: addresses (maybe none) and what the CNAME chain in the answer led to.
    Answer(Answer),
}

/// The useful part of a NOERROR reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    /// Addresses written to the output, in answer order.
    pub(crate) addrs: usize,
    /// Addresses of the right name and type that did not fit in the output.
    pub(crate) dropped: usize,
    /// The smallest TTL of the records used (CNAMEs and addresses), in seconds.
    pub(crate) ttl: u32,
    /// When the answer holds no address but a CNAME chain led away from the question: the end
    /// of the chain, to ask about next.
    pub(crate) alias: Option<Name>,
}

/// Parses `msg` as a reply to `expect`, writing A or AAAA addresses (the question's type) into
/// `out` and dropping those that do not fit.
///
/// Only records owned by the question's name, or by the target of a CNAME met earlier in the
/// answer section, are used (answer order, as servers write chains); everything else in the
/// answer is skipped, and the authority and additional sections are not read. A reply with TC
/// set is reported as [`Reply::Truncated`] unless `over_tcp`, where what did arrive is used.
pub(crate) fn parse_reply(
    msg: &[u8],
    expect: Expect<'_>,
    over_tcp: bool,
    out: &mut [IpAddr],
) -> Result<Reply, ParseError> {
    if msg.len() < HEADER_LEN || be16(msg, 0) != Some(expect.id) {
        return Err(ParseError::NotOurs);
    }
    let flags = be16(msg, 2).unwrap_or(0);
    let opcode = (flags >> 11) & 0xF;
    if flags & FLAG_QR == 0 || opcode != 0 {
        return Err(ParseError::NotOurs);
    }
    let rcode = (flags & 0xF) as u8;
    let qdcount = be16(msg, 4).unwrap_or(0);
    let ancount = be16(msg, 6).unwrap_or(0);
    // Some servers drop the question from error replies; the id (and the server, checked by
    // the caller) is all there is to match then.
    if qdcount == 0 && rcode != 0 {
        return Ok(Reply::Rcode(rcode));
    }
    if qdcount != 1 {
        return Err(ParseError::WrongQuestion);
    }
    let (qname, at) = read_name(msg, HEADER_LEN)?;
    let (qtype, qclass) = match (be16(msg, at), be16(msg, at + 2)) {
        (Some(t), Some(c)) => (t, c),
        _ => return Err(ParseError::Malformed),
    };
    if !qname.eq_ignore_case(expect.name) || qtype != expect.qtype || qclass != CLASS_IN {
        return Err(ParseError::WrongQuestion);
    }
    if flags & FLAG_TC != 0 && !over_tcp {
        return Ok(Reply::Truncated);
    }
    if rcode != 0 {
        return Ok(Reply::Rcode(rcode));
    }

    let mut pos = at + 4;
    let mut current = *expect.name;
    let mut moved = false;
    let mut answer = Answer { addrs: 0, dropped: 0, ttl: u32::MAX, alias: None };
    for _ in 0..ancount {
        let (owner, fixed) = read_name(msg, pos)?;
        let (Some(rtype), Some(class), Some(ttl_hi), Some(ttl_lo), Some(rdlen)) =
            (be16(msg, fixed), be16(msg, fixed + 2), be16(msg, fixed + 4), be16(msg, fixed + 6), be16(msg, fixed + 8))
        else {
            return Err(ParseError::Malformed);
        };
        let start = fixed + 10;
        let end = start + usize::from(rdlen);
        let rdata = msg.get(start..end).ok_or(ParseError::Malformed)?;
        pos = end;
        if class != CLASS_IN || !owner.eq_ignore_case(&current) {
            continue;
        }
        // RFC 2181 8: a TTL with the top bit set is read as 0.
        let ttl = match (u32::from(ttl_hi) << 16) | u32::from(ttl_lo) {
            t if t > i32::MAX as u32 => 0,
            t => t,
        };
        if rtype == TYPE_CNAME {
            let (target, after) = read_name(msg, start)?;
            if after != end {
                return Err(ParseError::Malformed);
            }
            current = target;
            moved = true;
            answer.ttl = answer.ttl.min(ttl);
        } else if rtype == expect.qtype {
            let ip = match (rtype, rdata.len()) {
                (TYPE_A, 4) => IpAddr::V4(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
                (TYPE_AAAA, 16) => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(rdata);
                    IpAddr::V6(Ipv6Addr::from(octets))
                }
                _ => return Err(ParseError::Malformed),
            };
            match out.get_mut(answer.addrs) {
                Some(slot) => {
                    *slot = ip;
                    answer.addrs += 1;
                }
                None => answer.dropped += 1,
            }
            answer.ttl = answer.ttl.min(ttl);
        }
    }
    if answer.ttl == u32::MAX {
        answer.ttl = 0;
    }
    if answer.addrs == 0 && answer.dropped == 0 && moved {
        answer.alias = Some(current);
    }
    Ok(Reply::Answer(answer))
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    match msg.get(at..at.checked_add(2)?) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// Reads the possibly compressed name at `start`; returns it uncompressed and the offset just
/// after its encoding in place (after the first pointer, if any).
///
/// Every pointer must point before the start of the labels being read (the name's own start,
/// then each earlier pointer's target), so targets strictly decrease and no loop is possible;
/// a pointer into the header is rejected too.
fn read_name(msg: &[u8], start: usize) -> Result<(Name, usize), ParseError> {
    let mut name = Name { len: 0, wire: [0; MAX_NAME_LEN] };
    let mut len = 0;
    let mut pos = start;
    let mut segment_start = start;
    let mut end = None;
    let mut hops = 0;
    loop {
        let byte = *msg.get(pos).ok_or(ParseError::Malformed)?;
        match byte & 0xC0 {
            0x00 if byte == 0 => {
                name.wire[len] = 0;
                name.len = (len + 1) as u8;
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label_len = usize::from(byte);
                let label = msg.get(pos + 1..pos + 1 + label_len).ok_or(ParseError::Malformed)?;
                // Room for this label and the root's 0 after it.
                if len + 1 + label_len + 1 > MAX_NAME_LEN {
                    return Err(ParseError::Malformed);
                }
                name.wire[len] = byte;
                name.wire[len + 1..len + 1 + label_len].copy_from_slice(label);
                len += 1 + label_len;
                pos += 1 + label_len;
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or(ParseError::Malformed)?;
                let target = (usize::from(byte & 0x3F) << 8) | usize::from(low);
                hops += 1;
                if target >= segment_start || target < HEADER_LEN || hops > MAX_POINTER_HOPS {
                    return Err(ParseError::Malformed);
                }
                end.get_or_insert(pos + 2);
                segment_start = target;
                pos = target;
            }
            // 0x40 and 0x80: extended and reserved label types (RFC 6891), never valid here.
            _ => return Err(ParseError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

    /// A reply builder independent of the codec: raw bytes laid out by hand, RFC 1035 4.1.
    struct Msg(Vec<u8>);

    impl Msg {
        fn header(id: u16, flags: u16, qd: u16, an: u16) -> Msg {
            let mut m = Vec::new();
            for v in [id, flags, qd, an, 0, 0] {
                m.extend_from_slice(&v.to_be_bytes());
            }
            Msg(m)
        }
        fn raw(mut self, bytes: &[u8]) -> Msg {
            self.0.extend_from_slice(bytes);
            self
        }
        fn u16(self, v: u16) -> Msg {
            self.raw(&v.to_be_bytes())
        }
        fn u32(self, v: u32) -> Msg {
            self.raw(&v.to_be_bytes())
        }
        /// Fixed part of a resource record after its owner name.
        fn rr(self, rtype: u16, ttl: u32, rdata: &[u8]) -> Msg {
            self.u16(rtype).u16(CLASS_IN).u32(ttl).u16(rdata.len() as u16).raw(rdata)
        }
    }

    /// `seed.example.org` in wire form.
    const SEED: &[u8] = b"\x04seed\x07example\x03org\x00";

    fn reply_header(id: u16, an: u16) -> Msg {
        // QR, RD, RA set; NOERROR.
        Msg::header(id, 0x8180, 1, an)
    }

    fn parse(msg: &[u8], qname: &str, qtype: u16, out: &mut [IpAddr]) -> Result<Reply, ParseError> {
        parse_reply(msg, Expect { id: 0xBEEF, name: &name(qname), qtype }, false, out)
    }

    fn answer(reply: Result<Reply, ParseError>) -> Answer {
        match reply {
            Ok(Reply::Answer(a)) => a,
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn query_matches_rfc_1035_layout() {
        let mut q = QueryBuf::new();
        q.write(0x1234, &name("seed.Example.org."), TYPE_AAAA);
        let expected: Vec<u8> = [
            &[0x12, 0x34][..], // ID
            &[0x01, 0x00],     // QR=0 OPCODE=0 AA=0 TC=0 RD=1 | RA=0 Z=0 RCODE=0
            &[0, 1, 0, 0, 0, 0, 0, 0],
            b"\x04seed\x07Example\x03org\x00",
            &[0, 28], // QTYPE AAAA
            &[0, 1],  // QCLASS IN
        ]
        .concat();
        assert_eq!(q.udp(), &expected[..]);
        assert_eq!(&q.tcp()[..2], &(expected.len() as u16).to_be_bytes());
        assert_eq!(&q.tcp()[2..], &expected[..]);
    }

    #[test]
    fn longest_name_fits_and_longer_ones_are_refused() {
        // 4 labels of 63 bytes: 4 * 64 + 1 = 257 > 255; 3 of 63 and one of 61: 255 exactly.
        let l63 = "a".repeat(63);
        let longest = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61));
        let n = name(&longest);
        assert_eq!(n.wire().len(), MAX_NAME_LEN);
        let mut q = QueryBuf::new();
        q.write(1, &n, TYPE_A);
        assert_eq!(q.udp().len(), MAX_QUERY_LEN);
        assert!(Name::from_text(&format!("{longest}b")).is_none());
        assert!(Name::from_text(&format!("{l63}a.example")).is_none(), "a 64-byte label");
        for bad in ["", ".", "a..b", ".a", "a b.example", "caf\u{e9}.example", "a.b.."] {
            assert!(Name::from_text(bad).is_none(), "{bad:?}");
        }
        assert_eq!(name("x9.seed.example.org.").wire(), b"\x02x9\x04seed\x07example\x03org\x00");
    }

    #[test]
    fn display_round_trips_text_and_escapes_odd_bytes() {
        assert_eq!(name("x9.Seed.example.").to_string(), "x9.Seed.example");
        let mut odd = Name { len: 0, wire: [0; MAX_NAME_LEN] };
        odd.wire[..5].copy_from_slice(b"\x03a.b\x00");
        odd.len = 5;
        assert_eq!(odd.to_string(), "a\\046b");
    }

    #[test]
    fn names_compare_case_insensitively() {
        assert!(name("SEED.example.ORG").eq_ignore_case(&name("seed.EXAMPLE.org")));
        assert!(!name("seed.example.org").eq_ignore_case(&name("seed.example.orh")));
        assert!(!name("a.b").eq_ignore_case(&name("ab")));
    }

    #[test]
    fn parses_a_records_with_compressed_owners() {
        // Owners are pointers to the question at offset 12, as servers write them.
        let msg = reply_header(0xBEEF, 2)
            .raw(SEED)
            .u16(TYPE_A)
            .u16(CLASS_IN)
            .raw(&[0xC0, 12])
            .rr(TYPE_A, 300, &[192, 0, 2, 1])
            .raw(&[0xC0, 12])
            .rr(TYPE_A, 60, &[192, 0, 2, 2]);
        let mut out = [UNSPECIFIED; 4];
        let a = answer(parse(&msg.0, "SEED.example.org", TYPE_A, &mut out));
        assert_eq!(a.addrs, 2);
        assert_eq!(&out[..2], &["192.0.2.1".parse::<IpAddr>().unwrap(), "192.0.2.2".parse().unwrap()]);
        assert_eq!(a.ttl, 60, "the smallest TTL");
        assert!(a.alias.is_none());
    }

    #[test]
    fn follows_a_cname_chain_inside_the_answer() {
        // www.example.org CNAME seed.example.org (suffix compressed), then its AAAA, plus an
        // AAAA for an unrelated name that must be skipped.
        let msg =
            reply_header(0xBEEF, 3).raw(b"\x03www\x07example\x03org\x00").u16(TYPE_AAAA).u16(CLASS_IN).raw(&[0xC0, 12]);
        // CNAME target: "seed" + pointer to "example.org" at offset 16.
        let msg = msg.rr(TYPE_CNAME, 120, b"\x04seed\xC0\x10");
        let target_at = (msg.0.len() - 7) as u8;
        let six = "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets();
        let msg = msg.raw(b"\x05other\x00").rr(TYPE_AAAA, 1, &[0; 16]).raw(&[0xC0, target_at]).rr(TYPE_AAAA, 90, &six);
        let mut out = [UNSPECIFIED; 4];
        let a = answer(parse(&msg.0, "www.example.org", TYPE_AAAA, &mut out));
        assert_eq!((a.addrs, a.ttl), (1, 90));
        assert_eq!(out[0], IpAddr::V6(Ipv6Addr::from(six)));
    }

    #[test]
    fn cname_only_answer_names_the_alias() {
        let msg = reply_header(0xBEEF, 1)
            .raw(b"\x03www\x07example\x03org\x00")
            .u16(TYPE_A)
            .u16(CLASS_IN)
            .raw(&[0xC0, 12])
            .rr(TYPE_CNAME, 5, b"\x04next\x07example\x03net\x00");
        let a = answer(parse(&msg.0, "www.example.org", TYPE_A, &mut [UNSPECIFIED; 2]));
        assert_eq!(a.addrs, 0);
        assert!(a.alias.unwrap().eq_ignore_case(&name("next.example.net")));
        assert_eq!(a.ttl, 5);
    }

    #[test]
    fn addresses_beyond_the_output_are_counted_as_dropped() {
        let mut msg = reply_header(0xBEEF, 5).raw(SEED).u16(TYPE_A).u16(CLASS_IN);
        for i in 0..5 {
            msg = msg.raw(&[0xC0, 12]).rr(TYPE_A, 10, &[192, 0, 2, i]);
        }
        let mut out = [UNSPECIFIED; 3];
        let a = answer(parse(&msg.0, "seed.example.org", TYPE_A, &mut out));
        assert_eq!((a.addrs, a.dropped), (3, 2));
        assert_eq!(out[2], IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    }

    #[test]
    fn header_and_question_checks() {
        let good = || reply_header(0xBEEF, 0).raw(SEED).u16(TYPE_A).u16(CLASS_IN);
        let mut out = [UNSPECIFIED; 1];
        assert_eq!(answer(parse(&good().0, "seed.example.org", TYPE_A, &mut out)).addrs, 0);
        let mut wrong_id = good().0;
        wrong_id[1] ^= 1;
        assert_eq!(parse(&wrong_id, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::NotOurs);
        let mut query = good().0;
        query[2] &= 0x7F; // QR = 0
        assert_eq!(parse(&query, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::NotOurs);
        let mut opcode = good().0;
        opcode[2] |= 0x10; // opcode 2 (STATUS)
        assert_eq!(parse(&opcode, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::NotOurs);
        assert_eq!(parse(&good().0[..11], "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::NotOurs);
        for (qname, qtype) in [("seed.example.net", TYPE_A), ("seed.example.org", TYPE_AAAA)] {
            assert_eq!(parse(&good().0, qname, qtype, &mut out).unwrap_err(), ParseError::WrongQuestion);
        }
        let chaos = reply_header(0xBEEF, 0).raw(SEED).u16(TYPE_A).u16(3);
        assert_eq!(parse(&chaos.0, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::WrongQuestion);
        let two_questions = Msg::header(0xBEEF, 0x8180, 2, 0).raw(SEED).u16(TYPE_A).u16(CLASS_IN);
        assert_eq!(
            parse(&two_questions.0, "seed.example.org", TYPE_A, &mut out).unwrap_err(),
            ParseError::WrongQuestion
        );
        // A question cut short.
        assert_eq!(parse(&good().0[..30], "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
    }

    #[test]
    fn rcodes_and_truncation() {
        let with_flags = |flags: u16| Msg::header(0xBEEF, flags, 1, 0).raw(SEED).u16(TYPE_A).u16(CLASS_IN).0;
        let mut out = [UNSPECIFIED; 1];
        let rcode = |msg: &[u8], out: &mut [IpAddr]| match parse(msg, "seed.example.org", TYPE_A, out) {
            Ok(Reply::Rcode(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(rcode(&with_flags(0x8183), &mut out), RCODE_NXDOMAIN);
        assert_eq!(rcode(&with_flags(0x8182), &mut out), RCODE_SERVFAIL);
        assert_eq!(rcode(&with_flags(0x8185), &mut out), RCODE_REFUSED);
        // An error reply without the question: matched by id alone.
        assert_eq!(rcode(&Msg::header(0xBEEF, 0x8185, 0, 0).0, &mut out), RCODE_REFUSED);
        let tc = with_flags(0x8380);
        assert!(matches!(parse(&tc, "seed.example.org", TYPE_A, &mut out), Ok(Reply::Truncated)));
        let over_tcp =
            parse_reply(&tc, Expect { id: 0xBEEF, name: &name("seed.example.org"), qtype: TYPE_A }, true, &mut out);
        assert!(matches!(over_tcp, Ok(Reply::Answer(_))), "over TCP, TC is not a reason to retry");
    }

    #[test]
    fn rejects_bad_records() {
        let base = || reply_header(0xBEEF, 1).raw(SEED).u16(TYPE_A).u16(CLASS_IN).raw(&[0xC0, 12]);
        let mut out = [UNSPECIFIED; 2];
        let short_a = base().rr(TYPE_A, 1, &[1, 2, 3]);
        assert_eq!(parse(&short_a.0, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        let mut overlong = base().rr(TYPE_A, 1, &[1, 2, 3, 4]).0;
        overlong.pop(); // rdlength says 4, 3 are there
        assert_eq!(parse(&overlong, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        let cname_slack = base().rr(TYPE_CNAME, 1, b"\x01a\x00\x00");
        assert_eq!(parse(&cname_slack.0, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        // More answers announced than present.
        let mut missing = base().rr(TYPE_A, 1, &[1, 2, 3, 4]).0;
        missing[7] = 2;
        assert_eq!(parse(&missing, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        // Other types and classes are skipped, even with odd lengths.
        let txt = base().rr(16, 1, b"\x03abc");
        assert_eq!(answer(parse(&txt.0, "seed.example.org", TYPE_A, &mut out)).addrs, 0);
        // A TTL with the top bit set counts as 0.
        let huge_ttl = base().rr(TYPE_A, 0x8000_0000, &[1, 2, 3, 4]);
        assert_eq!(answer(parse(&huge_ttl.0, "seed.example.org", TYPE_A, &mut out)).ttl, 0);
    }

    #[test]
    fn compression_pointer_rules() {
        let mut out = [UNSPECIFIED; 1];
        let with_owner = |owner: &[u8]| {
            reply_header(0xBEEF, 1).raw(SEED).u16(TYPE_A).u16(CLASS_IN).raw(owner).rr(TYPE_A, 1, &[1, 2, 3, 4]).0
        };
        let owner_at = (HEADER_LEN + SEED.len() + 4) as u8;
        // A pointer to itself, forwards, into the header, and a two-pointer loop.
        for owner in [[0xC0, owner_at], [0xC0, owner_at + 2], [0xC0, 2]] {
            let msg = with_owner(&owner);
            assert_eq!(parse(&msg, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        }
        // Label "a" then a pointer back to that label: backwards from the pointer, but not
        // before the labels being read, so it would loop.
        let msg = with_owner(&[1, b'a', 0xC0, owner_at]);
        assert_eq!(parse(&msg, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        // Reserved label types.
        for b in [0x40, 0x80] {
            let msg = with_owner(&[b, 0]);
            assert_eq!(parse(&msg, "seed.example.org", TYPE_A, &mut out).unwrap_err(), ParseError::Malformed);
        }
        // A chain of backwards pointers is fine: "x" + ptr(question) at owner_at, then a
        // name that is only ptr(owner_at).
        let msg = reply_header(0xBEEF, 2)
            .raw(SEED)
            .u16(TYPE_A)
            .u16(CLASS_IN)
            .raw(&[1, b'x', 0xC0, 12])
            .rr(TYPE_A, 1, &[9, 9, 9, 9])
            .raw(&[0xC0, owner_at]);
        let (decoded, end) = read_name(&msg.0, msg.0.len() - 2).unwrap();
        assert!(decoded.eq_ignore_case(&name("x.seed.example.org")));
        assert_eq!(end, msg.0.len());
    }

    #[test]
    fn decoded_names_longer_than_255_are_rejected() {
        // Each record's owner: a 63-byte label then a pointer to the previous owner, so the
        // fourth one decodes to more than 255 bytes.
        let mut msg = reply_header(0xBEEF, 4).raw(SEED).u16(TYPE_A).u16(CLASS_IN);
        let mut prev = 12u16;
        for _ in 0..4 {
            let at = msg.0.len() as u16;
            msg = msg.raw(&[63]).raw(&[b'z'; 63]).u16(0xC000 | prev).rr(16, 1, b"");
            prev = at;
        }
        assert_eq!(
            parse(&msg.0, "seed.example.org", TYPE_A, &mut [UNSPECIFIED; 1]).unwrap_err(),
            ParseError::Malformed
        );
    }

    /// A valid reply to seed.example.org A with `n` addresses and a CNAME in front.
    fn valid_reply(n: u8) -> Vec<u8> {
        let mut msg = reply_header(0xBEEF, u16::from(n) + 1)
            .raw(b"\x03www\x07example\x03org\x00")
            .u16(TYPE_A)
            .u16(CLASS_IN)
            .raw(&[0xC0, 12])
            .rr(TYPE_CNAME, 7, b"\x04seed\xC0\x10");
        let target = (msg.0.len() - 7) as u8;
        for i in 0..n {
            msg = msg.raw(&[0xC0, target]).rr(TYPE_A, 30, &[10, 0, 0, i]);
        }
        msg.0
    }

    fn check_any(msg: &[u8]) {
        let mut out = [UNSPECIFIED; 8];
        let q = name("www.example.org");
        for tcp in [false, true] {
            if let Ok(Reply::Answer(a)) =
                parse_reply(msg, Expect { id: 0xBEEF, name: &q, qtype: TYPE_A }, tcp, &mut out)
            {
                assert!(a.addrs <= out.len());
                // Every record takes at least 11 bytes, so no answer can claim more.
                assert!(a.addrs + a.dropped <= msg.len() / 11);
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            check_any(&bytes);
        }

        #[test]
        fn random_bytes_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            // Our id and a response flag, so parsing gets past the header.
            let mut msg = vec![0xBE, 0xEF, 0x81, 0x80, 0, 1, 0, 7, 0, 0, 0, 0];
            msg.extend(tail);
            check_any(&msg);
        }

        #[test]
        fn mutated_valid_replies_never_panic(
            n in 0u8..12,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut msg = valid_reply(n);
            for (at, byte) in edits {
                let i = at % msg.len();
                msg[i] = byte;
            }
            msg.truncate(cut % (msg.len() + 1));
            check_any(&msg);
        }

        #[test]
        fn valid_replies_parse_completely(n in 0u8..40) {
            let msg = valid_reply(n);
            let mut out = [UNSPECIFIED; 16];
            let q = name("www.example.org");
            let a = match parse_reply(&msg, Expect { id: 0xBEEF, name: &q, qtype: TYPE_A }, false, &mut out) {
                Ok(Reply::Answer(a)) => a,
                other => panic!("{other:?}"),
            };
            prop_assert_eq!(a.addrs, usize::from(n).min(16));
            prop_assert_eq!(a.dropped, usize::from(n).saturating_sub(16));
            prop_assert_eq!(a.ttl, 7, "the CNAME's 7 s is below the addresses' 30 s");
            prop_assert_eq!(a.alias.is_some(), n == 0);
        }

        #[test]
        fn pointer_loops_are_rejected(
            first in proptest::collection::vec("[a-z]{1,5}", 0..4),
            second in proptest::collection::vec("[a-z]{1,5}", 0..4),
            back in any::<usize>(),
        ) {
            // Name 1: labels, then a pointer to somewhere in its own labels or to itself.
            // Name 2, after it: labels, then a pointer to name 1. Both must be rejected.
            let mut msg = reply_header(0xBEEF, 0).raw(SEED).u16(TYPE_A).u16(CLASS_IN).0;
            let put = |msg: &mut Vec<u8>, labels: &[String], target: usize| {
                for l in labels {
                    msg.push(l.len() as u8);
                    msg.extend_from_slice(l.as_bytes());
                }
                msg.extend_from_slice(&(0xC000 | target as u16).to_be_bytes());
            };
            let s1 = msg.len();
            let labels_len: usize = first.iter().map(|l| l.len() + 1).sum();
            put(&mut msg, &first, s1 + back % (labels_len + 1));
            let s2 = msg.len();
            put(&mut msg, &second, s1);
            prop_assert_eq!(read_name(&msg, s1).unwrap_err(), ParseError::Malformed);
            prop_assert_eq!(read_name(&msg, s2).unwrap_err(), ParseError::Malformed);
        }

        #[test]
        fn text_names_round_trip(labels in proptest::collection::vec("[a-zA-Z0-9_-]{1,20}", 1..6)) {
            let text = labels.join(".");
            let n = Name::from_text(&text).unwrap();
            prop_assert_eq!(n.to_string(), text.clone());
            let mut q = QueryBuf::new();
            q.write(7, &n, TYPE_A);
            let (decoded, end) = read_name(q.udp(), HEADER_LEN).unwrap();
            prop_assert!(decoded.eq_ignore_case(&n));
            prop_assert_eq!(end, q.udp().len() - 4);
        }
    }
}
