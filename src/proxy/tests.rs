use super::*;
use proptest::prelude::*;

const ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

/// How a scripted exchange went.
#[derive(Debug)]
struct Run {
    /// Everything the client wrote.
    sent: Vec<u8>,
    result: Result<Step, ProxyError>,
    /// How many bytes of the proxy's stream the client read.
    consumed: usize,
}

/// Runs `socks` against a proxy whose whole output is `from_proxy` (then end of stream),
/// accepting writes and delivering reads in chunks cycled from the given sizes (a size is capped
/// by what is wanted or available). Checks the buffer contract at every step.
fn run(mut socks: Handshake, from_proxy: &[u8], write_chunks: &[usize], read_chunks: &[usize]) -> Run {
    let (mut sent, mut at, mut writes, mut reads) = (Vec::new(), 0, 0, 0);
    let mut result = socks.step();
    // Every call moves at least one byte or ends the handshake.
    for _ in 0..=Handshake::BUFFER_LEN + from_proxy.len() + 1 {
        result = match result {
            Ok(Step::Write) => {
                assert_eq!(socks.want(), 0);
                let data = socks.to_send();
                assert!(!data.is_empty());
                let n = write_chunks[writes % write_chunks.len()].clamp(1, data.len());
                writes += 1;
                sent.extend_from_slice(&data[..n]);
                socks.sent(n)
            }
            Ok(Step::Read) => {
                assert!(socks.to_send().is_empty());
                let want = socks.want();
                assert!((1..=Handshake::BUFFER_LEN).contains(&want));
                let buf = socks.recv_buf();
                assert_eq!(buf.len(), want);
                let n = read_chunks[reads % read_chunks.len()].max(1).min(want).min(from_proxy.len() - at);
                reads += 1;
                buf[..n].copy_from_slice(&from_proxy[at..at + n]);
                at += n;
                socks.received(n)
            }
            done => return Run { sent, result: done, consumed: at },
        };
    }
    panic!("no end after {} steps: {socks:?}", Handshake::BUFFER_LEN + from_proxy.len() + 1);
}

fn run_whole(socks: Handshake, from_proxy: &[u8]) -> Run {
    run(socks, from_proxy, &[usize::MAX], &[usize::MAX])
}

fn target(s: &str) -> Target {
    s.parse().unwrap()
}

fn connect(s: &str) -> Handshake {
    Handshake::connect(&target(s), Auth::None)
}

fn creds() -> Credentials {
    Credentials::new("alice", "s3cret").unwrap()
}

/// The request bytes the client sends for `s`, after the greeting and authentication.
fn request_of(socks: &Handshake) -> Vec<u8> {
    socks.buf[usize::from(socks.auth_end)..usize::from(socks.request_end)].to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const METHOD_OK: [u8; 2] = [5, 0];
const REPLY_V4: [u8; 10] = [5, 0, 0, 1, 192, 0, 2, 1, 0x1f, 0x90];

// ---- known answers: RFC 1928 section 4 and 6, RFC 1929 section 2 ----

#[test]
fn greetings() {
    assert_eq!(connect("1.2.3.4:1").to_send(), [5, 1, 0]);
    assert_eq!(Handshake::connect(&target("1.2.3.4:1"), Auth::Password(&creds())).to_send(), [5, 1, 2]);
    assert_eq!(Handshake::connect(&target("1.2.3.4:1"), Auth::Isolate(7)).to_send(), [5, 1, 2]);
}

#[test]
fn connect_requests() {
    assert_eq!(request_of(&connect("1.2.3.4:8333")), [5, 1, 0, 1, 1, 2, 3, 4, 0x20, 0x8d]);
    let v6 = request_of(&connect("[2001:db8::7]:443"));
    assert_eq!(v6[..4], [5, 1, 0, 4]);
    assert_eq!(v6[4..20], "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(v6[20..], [0x01, 0xbb]);
    assert_eq!(v6.len(), 22);
    // Names go unresolved, lower-cased as stored.
    assert_eq!(request_of(&connect("A.Example:80")), cat(&[&[5, 1, 0, 3, 9], b"a.example", &[0, 80]]));
    let onion = request_of(&connect(&format!("{}:8333", ONION.to_uppercase())));
    assert_eq!(onion, cat(&[&[5, 1, 0, 3, 62], ONION.as_bytes(), &[0x20, 0x8d]]));
}

#[test]
fn resolve_requests() {
    // btcd's bytes: both port bytes are present.
    let socks = Handshake::resolve("a.b", Auth::None).unwrap();
    assert_eq!(request_of(&socks), [5, 0xF0, 0, 3, 3, b'a', b'.', b'b', 0, 0]);
    let longest = "h".repeat(255);
    assert_eq!(request_of(&Handshake::resolve(&longest, Auth::None).unwrap()).len(), 7 + 255);
    assert_eq!(Handshake::resolve("", Auth::None).unwrap_err(), RequestError::EmptyName);
    assert_eq!(Handshake::resolve(&"h".repeat(256), Auth::None).unwrap_err(), RequestError::NameTooLong(256));
    // Bytes, not characters, count.
    assert_eq!(Handshake::resolve(&"é".repeat(128), Auth::None).unwrap_err(), RequestError::NameTooLong(256));
}

#[test]
fn auth_requests() {
    let socks = Handshake::connect(&target("1.2.3.4:1"), Auth::Password(&creds()));
    assert_eq!(socks.buf[3..usize::from(socks.auth_end)], cat(&[&[1, 5], b"alice", &[6], b"s3cret"]));
    let isolated = Handshake::connect(&target("1.2.3.4:1"), Auth::Isolate(0x0123_4567_89ab_cdef));
    let hex = b"0123456789abcdef";
    assert_eq!(isolated.buf[3..usize::from(isolated.auth_end)], cat(&[&[1, 16], hex, &[16], hex]));
    let other = Handshake::connect(&target("1.2.3.4:1"), Auth::Isolate(0x0123_4567_89ab_cdee));
    assert_ne!(isolated.buf[..40], other.buf[..40], "another number, other credentials");
}

#[test]
fn largest_messages_fit() {
    let long = Credentials::new("u".repeat(255), "p".repeat(255)).unwrap();
    let label = "a".repeat(63);
    let name = target(&format!("{label}.{label}.{label}.{}:1", "b".repeat(61)));
    let socks = Handshake::connect(&name, Auth::Password(&long));
    assert_eq!(usize::from(socks.auth_end), 3 + 3 + 255 + 255);
    assert_eq!(usize::from(socks.request_end), 3 + 513 + 4 + 1 + 253 + 2);
    let resolve = Handshake::resolve(&"r".repeat(255), Auth::Password(&long)).unwrap();
    assert_eq!(usize::from(resolve.request_end), Handshake::BUFFER_LEN);
    let from_proxy = cat(&[&[5, 2], &[1, 0], &REPLY_V4]);
    let done = run(resolve, &from_proxy, &[100], &[1]);
    assert_eq!(done.result, Ok(Step::Resolved("192.0.2.1".parse().unwrap())));
    assert_eq!(done.sent.len(), Handshake::BUFFER_LEN);
}

#[test]
fn credentials_are_checked_and_not_shown() {
    assert_eq!(Credentials::new("", "p"), Err(CredentialsError::Username(0)));
    assert_eq!(Credentials::new("u".repeat(256), "p"), Err(CredentialsError::Username(256)));
    assert_eq!(Credentials::new("u", ""), Err(CredentialsError::Password(0)));
    assert_eq!(Credentials::new("u", "p".repeat(256)), Err(CredentialsError::Password(256)));
    let c = creds();
    assert_eq!(c.username(), "alice");
    assert!(!format!("{c:?}").contains("s3cret"));
    let socks = Handshake::connect(&target("1.2.3.4:1"), Auth::Password(&c));
    assert!(!format!("{socks:?}").contains("s3cret"));
}

// ---- scripted conversations ----

#[test]
fn connect_without_auth_one_byte_at_a_time() {
    let socks = connect("seed.example.org:8333");
    let request = request_of(&socks);
    let done = run(socks, &cat(&[&METHOD_OK, &REPLY_V4]), &[1], &[1]);
    assert_eq!(done.sent, cat(&[&[5, 1, 0], &request]));
    assert_eq!(done.result, Ok(Step::Connected { bound: Some("192.0.2.1:8080".parse().unwrap()) }));
    assert_eq!(done.consumed, 12);
}

#[test]
fn connect_with_password_and_partial_writes() {
    let socks = Handshake::connect(&target("[::1]:8333"), Auth::Password(&creds()));
    let request = request_of(&socks);
    let mut reply_v6 = vec![5, 0, 0, 4];
    reply_v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    reply_v6.extend_from_slice(&[0x04, 0x38]);
    for (writes, reads) in [([1, 2], [1, 3]), ([2, 5], [2, 7]), ([usize::MAX, 1], [usize::MAX, 1])] {
        let from_proxy = cat(&[&[5, 2], &[1, 0], &reply_v6]);
        let done = run(socks.clone(), &from_proxy, &writes, &reads);
        let auth = cat(&[&[1, 5], b"alice", &[6], b"s3cret"]);
        assert_eq!(done.sent, cat(&[&[5, 1, 2], &auth, &request]));
        assert_eq!(done.result, Ok(Step::Connected { bound: Some("[::1]:1080".parse().unwrap()) }));
        assert_eq!(done.consumed, from_proxy.len());
    }
}

#[test]
fn resolve_answers() {
    let socks = Handshake::resolve("seed.example.org", Auth::None).unwrap();
    let done = run(socks.clone(), &cat(&[&METHOD_OK, &REPLY_V4]), &[3], &[1]);
    assert_eq!(done.result, Ok(Step::Resolved("192.0.2.1".parse().unwrap())));
    let mut v6 = vec![5, 0, 0, 4];
    v6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    v6.extend_from_slice(&[0, 0]);
    let done = run(socks, &cat(&[&METHOD_OK, &v6]), &[1], &[5]);
    assert_eq!(done.result, Ok(Step::Resolved("2001:db8::7".parse().unwrap())));
    assert_eq!(done.consumed, 2 + 22);
}

#[test]
fn domain_bound_address() {
    for len in [1_u8, 3, 6, 18, 255] {
        let reply = cat(&[&[5, 0, 0, 3, len], &vec![b'x'; usize::from(len)], &[0, 80]]);
        let done = run(connect("1.2.3.4:1"), &cat(&[&METHOD_OK, &reply, b"peer"]), &[9], &[1, 4]);
        // A 3-byte name makes a 10-byte reply, the length of an IPv4 one: the type decides.
        assert_eq!(done.result, Ok(Step::Connected { bound: None }), "len {len}");
        assert_eq!(done.consumed, 2 + reply.len(), "len {len}");
    }
}

#[test]
fn exact_reads_leave_the_peer_bytes() {
    let replies: [Vec<u8>; 3] =
        [REPLY_V4.to_vec(), cat(&[&[5, 0, 0, 4], &[0xAB; 16], &[0, 1]]), cat(&[&[5, 0, 0, 3, 7], b"a.b.c.d", &[0, 1]])];
    for reply in &replies {
        for chunk in 1..=30 {
            let from_proxy = cat(&[&METHOD_OK, reply, b"PEER BYTES: never the proxy's"]);
            let done = run(connect("a.example:1"), &from_proxy, &[chunk], &[chunk]);
            assert!(matches!(done.result, Ok(Step::Connected { .. })), "{done:?}");
            assert_eq!(done.consumed, 2 + reply.len(), "chunk {chunk}");
        }
    }
}

#[test]
fn every_reply_code_is_distinct() {
    let expected = [
        (1, ProxyError::GeneralFailure),
        (2, ProxyError::NotAllowed),
        (3, ProxyError::NetworkUnreachable),
        (4, ProxyError::HostUnreachable),
        (5, ProxyError::ConnectionRefused),
        (6, ProxyError::TtlExpired),
        (7, ProxyError::CommandNotSupported),
        (8, ProxyError::AddressTypeNotSupported),
    ];
    for (code, err) in expected.clone() {
        // Reported as soon as the code arrives, whether the rest follows or not.
        for reply in [vec![5, code], vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0]] {
            let done = run(connect("1.2.3.4:1"), &cat(&[&METHOD_OK, &reply]), &[1], &[1]);
            assert_eq!(done.result, Err(err.clone()), "code {code}");
            assert_eq!(done.consumed, 4, "code {code}: nothing read past the code");
        }
        assert_eq!(err.reply_code(), Some(code));
    }
    let mut texts: Vec<String> = expected.iter().map(|(_, e)| e.to_string()).collect();
    texts.dedup();
    assert_eq!(texts.len(), 8);
    for code in 9..=255 {
        let done = run_whole(connect("1.2.3.4:1"), &cat(&[&METHOD_OK, &[5, code, 0, 1]]));
        assert_eq!(done.result, Err(ProxyError::UnknownReply(code)));
        assert_eq!(ProxyError::UnknownReply(code).reply_code(), Some(code));
    }
}

#[test]
fn faults_tell_the_proxy_from_the_target() {
    for code in [3, 4, 5, 6, 0xF0, 0xF7] {
        assert!(!ProxyError::from_reply_code(code).unwrap().is_proxy_fault(), "code {code}");
    }
    for code in [1, 2, 7, 8, 9, 0xEF, 0xF8, 0xFF] {
        assert!(ProxyError::from_reply_code(code).unwrap().is_proxy_fault(), "code {code}");
    }
    for e in [
        ProxyError::NoAcceptableMethod,
        ProxyError::AuthRejected(1),
        ProxyError::Closed { phase: Phase::Reply, received: 3 },
        ProxyError::EmptyDomain,
    ] {
        assert!(e.is_proxy_fault(), "{e:?}");
    }
    // A proxy that is down looks like a refused connect to the reactor: it is the proxy's fault.
    let down = ProxyError::Unreachable(std::io::ErrorKind::ConnectionRefused.into());
    assert!(down.is_proxy_fault());
    assert_eq!(down.to_string(), "SOCKS proxy unreachable");
    assert!(std::error::Error::source(&down).is_some());
    let refused = ProxyError::ConnectionRefused;
    assert!(!refused.is_proxy_fault());
    // Only reply 5 becomes an io::Error of kind ConnectionRefused.
    let kind = |e: ProxyError| std::io::Error::from(e).kind();
    assert_eq!(kind(ProxyError::ConnectionRefused), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(kind(ProxyError::NotAllowed), std::io::ErrorKind::PermissionDenied);
    assert_eq!(kind(ProxyError::AuthRejected(1)), std::io::ErrorKind::PermissionDenied);
    assert_eq!(kind(ProxyError::Closed { phase: Phase::Method, received: 0 }), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn method_selection_failures() {
    let with_creds = || Handshake::connect(&target("1.2.3.4:1"), Auth::Password(&creds()));
    let cases: [(Handshake, &[u8], ProxyError); 6] = [
        (connect("1.2.3.4:1"), &[4, 0], ProxyError::BadVersion { phase: Phase::Method, version: 4 }),
        (connect("1.2.3.4:1"), b"HTTP/1.0 400", ProxyError::BadVersion { phase: Phase::Method, version: b'H' }),
        (connect("1.2.3.4:1"), &[5, 0xFF], ProxyError::NoAcceptableMethod),
        (connect("1.2.3.4:1"), &[5, 2], ProxyError::UnexpectedMethod(2)),
        // Credentials offered, and the proxy tries to skip them.
        (with_creds(), &[5, 0], ProxyError::UnexpectedMethod(0)),
        (with_creds(), &[5, 0xFF], ProxyError::NoAcceptableMethod),
    ];
    for (socks, from_proxy, err) in cases {
        let done = run(socks, from_proxy, &[1], &[1]);
        assert_eq!(done.result, Err(err));
        assert_eq!(done.sent.len(), 3, "nothing after the greeting");
    }
}

#[test]
fn auth_failures() {
    let with_creds = || Handshake::connect(&target("1.2.3.4:1"), Auth::Password(&creds()));
    for (reply, err, consumed) in [
        ([1, 1], ProxyError::AuthRejected(1), 4),
        ([1, 0xFF], ProxyError::AuthRejected(0xFF), 4),
        // Refused at its first byte.
        ([5, 0], ProxyError::BadVersion { phase: Phase::Auth, version: 5 }, 3),
    ] {
        let done = run(with_creds(), &cat(&[&[5, 2], &reply, &REPLY_V4]), &[1], &[1]);
        assert_eq!(done.result, Err(err));
        assert_eq!(done.consumed, consumed);
        assert_eq!(done.sent.len(), 3 + 3 + 5 + 6, "no request after a refusal");
    }
}

#[test]
fn malformed_replies() {
    let cases: [(&[u8], ProxyError); 6] = [
        (&[4, 0, 0, 1], ProxyError::BadVersion { phase: Phase::Reply, version: 4 }),
        (&[5, 0, 1, 1], ProxyError::ReservedByte(1)),
        (&[5, 0, 0, 0], ProxyError::UnknownAddressType(0)),
        (&[5, 0, 0, 2], ProxyError::UnknownAddressType(2)),
        (&[5, 0, 0, 5], ProxyError::UnknownAddressType(5)),
        (&[5, 0, 0, 3, 0, 0, 0], ProxyError::EmptyDomain),
    ];
    for (reply, err) in cases {
        let done = run(connect("1.2.3.4:1"), &cat(&[&METHOD_OK, reply, &[0; 30]]), &[1], &[1]);
        assert_eq!(done.result, Err(err), "{reply:?}");
    }
    let resolve = Handshake::resolve("a.example", Auth::None).unwrap();
    let done = run_whole(resolve, &cat(&[&METHOD_OK, &[5, 0, 0, 3, 1, b'x', 0, 0]]));
    assert_eq!(done.result, Err(ProxyError::DomainForResolve));
    assert_eq!(done.consumed, 2 + 4, "refused at the address type");
}

#[test]
fn truncated_replies_report_where() {
    let socks = Handshake::connect(&target("1.2.3.4:1"), Auth::Password(&creds()));
    let script: [(&[u8], Phase); 3] = [(&[5, 2], Phase::Method), (&[1, 0], Phase::Auth), (&REPLY_V4, Phase::Reply)];
    let mut before = Vec::new();
    for (reply, phase) in script {
        for cut in 0..reply.len() {
            let from_proxy = cat(&[&before, &reply[..cut]]);
            let done = run(socks.clone(), &from_proxy, &[2], &[1]);
            assert_eq!(done.result, Err(ProxyError::Closed { phase, received: cut }), "{phase:?} cut {cut}");
        }
        before.extend_from_slice(reply);
    }
    // A complete exchange is complete even if the proxy closes right after it.
    assert!(run(socks, &before, &[2], &[1]).result.is_ok());
}

#[test]
fn closed_while_sending() {
    let mut socks = connect("1.2.3.4:1");
    assert_eq!(socks.sent(1), Ok(Step::Write));
    assert_eq!(socks.closed(), ProxyError::Closed { phase: Phase::Method, received: 0 });
    assert_eq!(socks.step(), Err(ProxyError::Closed { phase: Phase::Method, received: 0 }));
}

#[test]
fn an_ended_handshake_stays_ended() {
    let mut done = connect("1.2.3.4:1");
    let finished = run_whole(done.clone(), &cat(&[&METHOD_OK, &REPLY_V4]));
    // Replay on the original to inspect it.
    done.sent(3).unwrap();
    done.recv_buf().copy_from_slice(&METHOD_OK);
    done.received(2).unwrap();
    let n = done.to_send().len();
    done.sent(n).unwrap();
    for chunk in [&REPLY_V4[..4], &REPLY_V4[4..]] {
        done.recv_buf().copy_from_slice(chunk);
        done.received(chunk.len()).unwrap();
    }
    assert_eq!(done.step(), finished.result);
    assert!(done.to_send().is_empty());
    assert_eq!(done.want(), 0);
    assert!(done.recv_buf().is_empty());
    assert_eq!(done.sent(5), finished.result);
    assert_eq!(done.received(5), finished.result);
    assert_eq!(done.received(0), finished.result, "no read is wanted, so 0 is not an end of stream");
    let _ = done.closed();
    assert_eq!(done.step(), finished.result, "closing the tunnel later is not a handshake failure");

    let mut failed = run_whole(connect("1.2.3.4:1"), &[5, 0xFF]).result.unwrap_err();
    let mut socks = connect("1.2.3.4:1");
    socks.sent(3).unwrap();
    socks.recv_buf().copy_from_slice(&[5, 0xFF]);
    assert_eq!(socks.received(2), Err(failed.clone()));
    assert_eq!(socks.step(), Err(failed.clone()));
    assert_eq!(socks.received(1), Err(failed.clone()));
    assert_eq!(socks.sent(1), Err(failed.clone()));
    failed = socks.closed();
    assert_eq!(failed, ProxyError::NoAcceptableMethod);
}

#[test]
fn oversized_counts_are_capped() {
    let mut socks = connect("1.2.3.4:1");
    assert_eq!(socks.sent(usize::MAX), Ok(Step::Read));
    assert_eq!(socks.want(), 2);
    socks.recv_buf().copy_from_slice(&METHOD_OK);
    assert_eq!(socks.received(usize::MAX), Ok(Step::Write));
}

#[test]
fn stage_size() {
    assert_eq!(Handshake::BUFFER_LEN, 778);
    assert!(std::mem::size_of::<Handshake>() <= 808, "{}", std::mem::size_of::<Handshake>());
}

// ---- random input ----

fn any_handshake() -> impl Strategy<Value = Handshake> {
    prop_oneof![
        Just(connect("1.2.3.4:1")),
        Just(connect("a.example:1")),
        Just(Handshake::connect(&target("[::1]:1"), Auth::Password(&creds()))),
        any::<u64>().prop_map(|token| Handshake::connect(&target(&format!("{ONION}:1")), Auth::Isolate(token))),
        Just(Handshake::resolve("a.example", Auth::None).unwrap()),
        Just(Handshake::resolve("a.example", Auth::Password(&creds())).unwrap()),
    ]
}

/// A valid success reply with a random bound address.
fn any_success_reply() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| cat(&[&[5, 0, 0, 1], &ip, &port.to_be_bytes()])),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| cat(&[&[5, 0, 0, 4], &ip, &port.to_be_bytes()])),
        proptest::collection::vec(any::<u8>(), 1..=255).prop_map(|name| cat(&[
            &[5, 0, 0, 3, name.len() as u8],
            &name,
            &[0, 1]
        ])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_replies_end_without_panic(
        socks in any_handshake(),
        from_proxy in proptest::collection::vec(any::<u8>(), 0..400),
        writes in proptest::collection::vec(1_usize..40, 1..8),
        reads in proptest::collection::vec(0_usize..40, 1..8),
    ) {
        // `run` checks want() and recv_buf() at every step and fails if the handshake does not
        // end within its bound.
        let done = run(socks, &from_proxy, &writes, &reads);
        prop_assert!(done.result != Ok(Step::Write) && done.result != Ok(Step::Read));
        prop_assert!(done.consumed <= from_proxy.len());
    }

    #[test]
    fn random_replies_starting_well_end_without_panic(
        socks in any_handshake(),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
        reads in proptest::collection::vec(0_usize..40, 1..8),
    ) {
        // Past the method and auth replies, so the reply parser sees the random bytes.
        let from_proxy = cat(&[&[5, socks.method], &[1, 0], &[5, 0, 0], &tail]);
        let done = run(socks, &from_proxy, &[7], &reads);
        prop_assert!(done.result != Ok(Step::Write) && done.result != Ok(Step::Read));
    }

    #[test]
    fn valid_replies_are_taken_exactly(
        reply in any_success_reply(),
        peer in proptest::collection::vec(any::<u8>(), 0..64),
        reads in proptest::collection::vec(1_usize..300, 1..8),
    ) {
        let from_proxy = cat(&[&METHOD_OK, &reply, &peer]);
        let done = run(connect("a.example:1"), &from_proxy, &[5], &reads);
        let bound = match reply[3] {
            1 => Some(SocketAddr::new(IpAddr::from([reply[4], reply[5], reply[6], reply[7]]), u16::from_be_bytes([reply[8], reply[9]]))),
            4 => {
                let octets: [u8; 16] = reply[4..20].try_into().unwrap();
                Some(SocketAddr::new(IpAddr::from(octets), u16::from_be_bytes([reply[20], reply[21]])))
            }
            _ => None,
        };
        prop_assert_eq!(done.result, Ok(Step::Connected { bound }));
        prop_assert_eq!(done.consumed, 2 + reply.len());
    }
}

/// The whole CONNECT of the module docs, step by step: what a reactor does at each readiness.
#[test]
fn a_connect_walked_through() -> Result<(), Box<dyn std::error::Error>> {
    let mut socks = Handshake::connect(&target("seed.example.org:8333"), Auth::None);
    // Writable: send the greeting (a nonblocking write may take only part of it).
    assert_eq!(socks.to_send(), [5, 1, 0]);
    assert_eq!(socks.sent(3)?, Step::Read);
    // Readable: read at most want() bytes into recv_buf().
    assert_eq!(socks.want(), 2);
    socks.recv_buf().copy_from_slice(&[5, 0]); // the proxy accepts "no authentication"
    assert_eq!(socks.received(2)?, Step::Write);
    // The request carries the name, unresolved.
    let request = cat(&[&[5, 1, 0, 3, 16], b"seed.example.org", &8333_u16.to_be_bytes()]);
    assert_eq!(socks.to_send(), request);
    assert_eq!(socks.sent(request.len())?, Step::Read);
    // The reply arrives with the peer's first bytes behind it; only the reply is taken.
    let from_proxy = [5, 0, 0, 1, 10, 0, 0, 1, 0x20, 0x8d, b'p', b'e', b'e', b'r'];
    let mut at = 0;
    let step = loop {
        let n = socks.want();
        socks.recv_buf().copy_from_slice(&from_proxy[at..at + n]);
        at += n;
        match socks.received(n)? {
            Step::Read => continue,
            done => break done,
        }
    };
    assert_eq!(step, Step::Connected { bound: Some("10.0.0.1:8333".parse()?) });
    assert_eq!(&from_proxy[at..], b"peer");
    Ok(())
}
