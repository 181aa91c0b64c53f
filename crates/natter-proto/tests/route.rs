//! Route protocol parsing, against bytes captured from nats-server 2.9.10 routes.

use bytes::{Bytes, BytesMut};
use natter_proto::{Limits, ProtoError, RouteConnect, RouteOp, RouteParser};

fn run(input: &[u8]) -> (Vec<RouteOp>, Option<ProtoError>) {
    let mut p = RouteParser::new(Limits::default());
    let mut buf = BytesMut::from(input);
    let mut ops = Vec::new();
    loop {
        match p.decode(&mut buf) {
            Ok(Some(op)) => ops.push(op),
            Ok(None) => return (ops, None),
            Err(e) => return (ops, Some(e)),
        }
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn rmsg(
    subject: &'static str,
    reply: Option<&'static str>,
    queues: &[&'static str],
    headers: Option<&'static str>,
    payload: &'static str,
) -> RouteOp {
    RouteOp::RMsg {
        account: b("$G"),
        subject: b(subject),
        reply: reply.map(b),
        queues: queues.iter().copied().map(b).collect(),
        headers: headers.map(b),
        payload: b(payload),
    }
}

// What a nats-server 2.9.10 wrote on a route after a client subscribed (plain, queue x2,
// wildcard), published (with/without reply, headers, to a remote queue), and unsubscribed.
const CAPTURED: &[u8] = b"INFO {\"server_id\":\"NBCP4KAF\",\"server_name\":\"real\",\"version\":\"2.9.10\",\"proto\":2,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":24231,\"headers\":true,\"max_payload\":1048576,\"nonce\":\"l1lQ_x8lTDfrcxw\",\"cluster\":\"c\",\"connect_urls\":[\"127.0.0.1:24230\"],\"lnoc\":true} \r\n\
RS+ $SYS $SYS.REQ.SERVER.PING.STATSZ\r\n\
PONG\r\n\
PING\r\nRS+ $G foo\r\nRS+ $G foo q 1\r\nRS+ $G foo q 2\r\nRS+ $G bar.*\r\n\
RMSG $G baz rep 2\r\nhi\r\nHMSG $G baz 12 14\r\nNATS/1.0\r\n\r\nab\r\nRMSG $G qq + rep grp 1\r\nx\r\nRMSG $G qq | grp 1\r\ny\r\nHMSG $G qq + rep grp 12 13\r\nNATS/1.0\r\n\r\nz\r\n\
RS- $G bar.*\r\nRS+ $G foo q 1\r\n";

#[test]
fn decodes_a_real_nats_route_stream() {
    let (ops, err) = run(CAPTURED);
    assert_eq!(err, None);
    let RouteOp::Info(info) = &ops[0] else {
        panic!("{:?}", ops[0])
    };
    assert_eq!(
        (info.proto, info.lnoc, info.cluster.as_deref()),
        (2, true, Some("c"))
    );
    assert_eq!(info.connect_urls, ["127.0.0.1:24230"]);
    let rs_plus =
        |acc: &'static str, s: &'static str, q: Option<(&'static str, u32)>| RouteOp::RsPlus {
            account: b(acc),
            subject: b(s),
            queue: q.map(|q| b(q.0)),
            weight: q.map(|q| q.1),
        };
    assert_eq!(
        ops[1..],
        [
            rs_plus("$SYS", "$SYS.REQ.SERVER.PING.STATSZ", None),
            RouteOp::Pong,
            RouteOp::Ping,
            rs_plus("$G", "foo", None),
            rs_plus("$G", "foo", Some(("q", 1))),
            rs_plus("$G", "foo", Some(("q", 2))),
            rs_plus("$G", "bar.*", None),
            rmsg("baz", Some("rep"), &[], None, "hi"),
            rmsg("baz", None, &[], Some("NATS/1.0\r\n\r\n"), "ab"),
            rmsg("qq", Some("rep"), &["grp"], None, "x"),
            rmsg("qq", None, &["grp"], None, "y"),
            rmsg("qq", Some("rep"), &["grp"], Some("NATS/1.0\r\n\r\n"), "z"),
            RouteOp::RsMinus {
                account: b("$G"),
                subject: b("bar.*"),
                queue: None
            },
            rs_plus("$G", "foo", Some(("q", 1))),
        ]
    );
}

#[test]
fn reencoding_reproduces_nats_bytes() {
    // Everything after the INFO (whose JSON field order differs) re-encodes byte for byte.
    let (ops, _) = run(CAPTURED);
    let mut out = BytesMut::new();
    for op in &ops[1..] {
        op.encode(&mut out);
    }
    let start = CAPTURED.windows(4).position(|w| w == b"RS+ ").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&CAPTURED[start..])
    );
}

#[test]
fn rmsg_grammar_edge_cases() {
    // Four arguments: the third is a reply even if it looks like a marker (as nats-server).
    let (ops, err) = run(
        b"RMSG $G foo | 1\r\nx\r\nRMSG $G foo + r 1\r\nx\r\nRMSG\t$G  foo | q1 q2\tq3 1\r\nx\r\n",
    );
    assert_eq!(err, None);
    assert_eq!(
        ops,
        [
            rmsg("foo", Some("|"), &[], None, "x"),
            rmsg("foo", Some("r"), &[], None, "x"),
            rmsg("foo", None, &["q1", "q2", "q3"], None, "x"),
        ]
    );
    let many: String = (0..20).map(|i| format!(" q{i}")).collect();
    let line = format!("RMSG $G foo + r{many} 1\r\nx\r\n");
    let (ops, err) = run(line.as_bytes());
    assert_eq!(err, None);
    let RouteOp::RMsg { queues, reply, .. } = &ops[0] else {
        panic!()
    };
    assert_eq!((queues.len(), reply.as_deref()), (20, Some(&b"r"[..])));
    assert_eq!(&queues[19][..], b"q19");
}

#[test]
fn route_errors() {
    let bad: &[(&[u8], &str)] = &[
        (b"RMSG $G 1\r\n", "RMSG"),
        (b"RMSG $G foo x r q 1\r\n", "RMSG"),
        (b"RMSG $G foo r x\r\n", "RMSG"),
        (b"HMSG $G foo 1\r\n", "HMSG"),
        (b"HMSG $G foo 5 3\r\n", "HMSG"),
        (b"HMSG $G foo * q 1 3\r\n", "HMSG"),
        (b"RS+ $G\r\n", "RS+"),
        (b"RS+ $G foo q\r\n", "RS+"),
        (b"RS- $G foo q x\r\n", "RS-"),
    ];
    for (input, op) in bad {
        let (_, err) = run(input);
        assert!(
            matches!(err, Some(ProtoError::InvalidArguments { op: o, .. }) if o == *op),
            "{:?}: {err:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(run(b"PUB foo 1\r\nx\r\n").1, Some(ProtoError::UnknownOp));
    assert_eq!(
        run(b"RMSG $G foo 1\r\nxy\r\n").1,
        Some(ProtoError::UnknownOp)
    );
    assert!(matches!(
        run(b"CONNECT {\r\n").1,
        Some(ProtoError::InvalidJson { op: "CONNECT", .. })
    ));
    let small = Limits {
        max_control_line: 4096,
        max_payload: 4,
    };
    let mut p = RouteParser::new(small);
    assert_eq!(p.limits().max_payload, 4);
    assert_eq!(
        p.decode(&mut BytesMut::from(&b"RMSG $G foo 5\r\n"[..])),
        Err(ProtoError::MaxPayload)
    );
}

#[test]
fn bad_weight_reads_as_one_and_err_is_an_op() {
    let (ops, err) = run(b"RS+ $G foo q x\r\n+OK\r\n-ERR 'Authorization Violation'\r\n");
    assert_eq!(err, None);
    assert_eq!(
        ops,
        [
            RouteOp::RsPlus {
                account: b("$G"),
                subject: b("foo"),
                queue: Some(b("q")),
                weight: Some(1)
            },
            RouteOp::Err("'Authorization Violation'".into()),
        ]
    );
}

#[test]
fn route_connect_json_as_nats_sends_it() {
    let raw = br#"CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"NBCP","cluster":"c","lnoc":true}"#;
    let mut input = raw.to_vec();
    input.extend_from_slice(b"\r\n");
    let (ops, err) = run(&input);
    assert_eq!(err, None);
    let RouteOp::Connect(c) = &ops[0] else {
        panic!()
    };
    assert_eq!(
        **c,
        RouteConnect {
            echo: true,
            headers: true,
            name: "NBCP".into(),
            cluster: "c".into(),
            lnoc: true,
            ..RouteConnect::default()
        }
    );
    let mut out = BytesMut::new();
    ops[0].encode(&mut out);
    assert_eq!(&out[..], &input[..]);
}
