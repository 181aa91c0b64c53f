//! Client protocol parsing, checked case by case against what nats-server 2.9.10 does with
//! the same bytes (each case was run against a real server on loopback).

use bytes::{Bytes, BytesMut};
use natter_proto::{ClientOp, ClientParser, Connect, Limits, ProtoError};

/// Decodes everything; returns the ops and the error that stopped decoding, if any.
fn run(input: &[u8]) -> (Vec<ClientOp>, Option<ProtoError>) {
    run_with(Limits::default(), input)
}

fn run_with(limits: Limits, input: &[u8]) -> (Vec<ClientOp>, Option<ProtoError>) {
    let mut p = ClientParser::new(limits);
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

fn publish(subject: &'static str, reply: Option<&'static str>, payload: &'static str) -> ClientOp {
    ClientOp::Pub {
        subject: b(subject),
        reply: reply.map(b),
        payload: b(payload),
    }
}

#[test]
fn pub_forms_nats_accepts() {
    let cases: &[(&[u8], ClientOp)] = &[
        (b"PUB foo 3\r\nabc\r\n", publish("foo", None, "abc")),
        (b"pub foo 3\r\nabc\r\n", publish("foo", None, "abc")),
        (b"PuB foo r 3\r\nabc\r\n", publish("foo", Some("r"), "abc")),
        (b"PUB\tfoo\t3\r\nabc\r\n", publish("foo", None, "abc")),
        (b"PUB  foo  3 \r\nabc\r\n", publish("foo", None, "abc")),
        (b"PUB foo 3\nabc\r\n", publish("foo", None, "abc")),
        (b"PUB foo 0\r\n\r\n", publish("foo", None, "")),
        (b"PUB foo 00003\r\nabc\r\n", publish("foo", None, "abc")),
        // Payloads are opaque: CRLF inside is data.
        (
            b"PUB foo 4\r\n\r\n\r\n\r\n",
            publish("foo", None, "\r\n\r\n"),
        ),
        // Subjects are not validated by the parser (pedantic checks are the server's).
        (b"PUB foo.. 3\r\nabc\r\n", publish("foo..", None, "abc")),
    ];
    for (input, want) in cases {
        let (ops, err) = run(input);
        assert_eq!(err, None, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(
            ops,
            vec![want.clone()],
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn errors_match_nats_server() {
    use ProtoError::*;
    let cases: &[(&[u8], ProtoError)] = &[
        (b"FOO\r\n", UnknownOp),
        (b"\r\nPING\r\n", UnknownOp),
        (b" PING\r\n", UnknownOp),
        (b"PIN\r\n", UnknownOp),
        (b"PUB\r\n", UnknownOp),
        (b"UNSUB\r\n", UnknownOp),
        (b"MSG foo 1 3\r\nabc\r\n", UnknownOp),
        (b"RS+ foo\r\n", UnknownOp),
        // The payload must be followed by CRLF, nothing else.
        (b"PUB foo 3\r\nabcd\r\n", UnknownOp),
        (b"PUB foo 3\r\nabc\nPING\n", UnknownOp),
        (b"PUB foo 3\r\nabcPING\n", UnknownOp),
        (b"PUB foo 3\r\nabc\r\n\r\nPING\r\n", UnknownOp),
        (b"PUB foo 2000000\r\n", MaxPayload),
        (b"PUB foo bar 2000000\r\n", MaxPayload),
        (b"HPUB foo 12 2000000\r\n", MaxPayload),
    ];
    for (input, want) in cases {
        let (_, err) = run(input);
        assert_eq!(
            err.as_ref(),
            Some(want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn silent_protocol_violations() {
    // nats-server closes these connections without -ERR.
    let cases: &[(&[u8], &str)] = &[
        (b"PUB foo\r\n", "PUB"),
        (b"PUB \r\n", "PUB"),
        (b"PUB foo a b c 3\r\n", "PUB"),
        (b"PUB foo abc\r\n", "PUB"),
        (b"PUB foo -1\r\n", "PUB"),
        (b"PUB foo 3x\r\n", "PUB"),
        (b"PUB foo +3\r\n", "PUB"),
        (b"PUB foo 99999999999999999999\r\n", "PUB"),
        (b"HPUB foo 14 12\r\n", "HPUB"),
        (b"HPUB foo 12\r\n", "HPUB"),
        (b"HPUB foo x 14\r\n", "HPUB"),
        (b"HPUB foo -1 12\r\n", "HPUB"),
        (b"HPUB foo bar baz 12 12\r\n", "HPUB"),
        (b"SUB foo\r\n", "SUB"),
        (b"SUB foo q 1 2\r\n", "SUB"),
        (b"UNSUB 1 2 3\r\n", "UNSUB"),
        (b"UNSUB \r\n", "UNSUB"),
    ];
    for (input, op) in cases {
        let (_, err) = run(input);
        let err =
            err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)));
        assert!(
            matches!(err, ProtoError::InvalidArguments { op: o, .. } if o == *op),
            "{:?}: {err:?}",
            String::from_utf8_lossy(input)
        );
        assert!(!err.sends_err() && err.closes_connection());
    }
    for input in [
        &b"CONNECT {bad\r\n"[..],
        b"CONNECT {\"verbose\":false} xyz\r\n",
        b"CONNECT {\"echo\":\"x\"}\r\n",
        b"INFO {bad\r\n",
        b"INFO\r\n",
    ] {
        let (_, err) = run(input);
        assert!(
            matches!(err, Some(ProtoError::InvalidJson { .. })),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let (_, err) = run(b"-ERR 'oops'\r\n");
    assert_eq!(err, Some(ProtoError::ErrReceived("'oops'".into())));
}

#[test]
fn hpub_sizes_count_the_header_block() {
    let (ops, err) = run(
        b"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nab\r\nHPUB foo 0 0\r\n\r\nHPUB foo 3 5\r\nabcde\r\n",
    );
    assert_eq!(err, None);
    assert_eq!(
        ops,
        vec![
            ClientOp::HPub {
                subject: b("foo"),
                reply: Some(b("r")),
                headers: b("NATS/1.0\r\n\r\n"),
                payload: b("ab")
            },
            ClientOp::HPub {
                subject: b("foo"),
                reply: None,
                headers: b(""),
                payload: b("")
            },
            // nats-server does not look inside the header block.
            ClientOp::HPub {
                subject: b("foo"),
                reply: None,
                headers: b("abc"),
                payload: b("de")
            },
        ]
    );
    // hdr == total: headers only, empty body.
    let (ops, _) = run(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    assert!(
        matches!(&ops[0], ClientOp::HPub { headers, payload, .. } if headers.len() == 12 && payload.is_empty())
    );
}

#[test]
fn sub_unsub_ping_pong_connect() {
    let (ops, err) = run(
        b"SUB foo 1\r\nSUB foo bar 2\r\nsub\tfoo.*\tq\t3\r\nUNSUB 1\r\nUNSUB 2 5\r\nUNSUB 3 x\r\nUNSUB 4 0\r\n\
          PING\r\nPINGX\r\nPONG foo\nping\r\nCONNECT{\"verbose\":false}\r\n",
    );
    assert_eq!(err, None);
    let c = Connect {
        verbose: false,
        ..Connect::default()
    };
    assert_eq!(
        ops,
        vec![
            ClientOp::Sub {
                subject: b("foo"),
                queue: None,
                sid: b("1")
            },
            ClientOp::Sub {
                subject: b("foo"),
                queue: Some(b("bar")),
                sid: b("2")
            },
            ClientOp::Sub {
                subject: b("foo.*"),
                queue: Some(b("q")),
                sid: b("3")
            },
            ClientOp::Unsub {
                sid: b("1"),
                max: None
            },
            ClientOp::Unsub {
                sid: b("2"),
                max: Some(5)
            },
            // nats-server ignores an unparsable max: plain unsubscribe.
            ClientOp::Unsub {
                sid: b("3"),
                max: None
            },
            ClientOp::Unsub {
                sid: b("4"),
                max: Some(0)
            },
            ClientOp::Ping,
            ClientOp::Ping,
            ClientOp::Pong,
            ClientOp::Ping,
            ClientOp::Connect(Box::new(c)),
        ]
    );
}

#[test]
fn info_and_ok_from_a_client_are_ignored() {
    let (ops, err) = run(b"INFO {}\r\n+OK\r\nINFO{\"a\":1}\r\nPING\r\n");
    assert_eq!(err, None);
    assert_eq!(ops, vec![ClientOp::Ping]);
}

#[test]
fn first_argument_byte_is_never_the_terminator() {
    // nats-server enters its argument state on the first non-blank byte without looking at
    // it, so "SUB \n" continues the line; its SUB splitter then drops the line break.
    let (ops, err) = run(b"SUB \nfoo 1\r\n");
    assert_eq!(err, None);
    assert_eq!(
        ops,
        vec![ClientOp::Sub {
            subject: b("foo"),
            queue: None,
            sid: b("1")
        }]
    );
}

fn pub_with_arg_len(n: usize) -> Vec<u8> {
    let mut v = b"PUB ".to_vec();
    v.extend(std::iter::repeat_n(b'a', n - 2));
    v.extend_from_slice(b" 3\r\nabc\r\n");
    v
}

#[test]
fn control_line_limit_counts_arguments_like_nats() {
    // Verified boundary on nats-server 2.9.10: 4096 argument bytes pass, 4097 fail.
    let (ops, err) = run(&pub_with_arg_len(4096));
    assert_eq!((ops.len(), err), (1, None));
    let (_, err) = run(&pub_with_arg_len(4097));
    assert_eq!(err, Some(ProtoError::MaxControlLine));
    // Blanks between verb and arguments do not count.
    let mut v = b"PUB".to_vec();
    v.extend(std::iter::repeat_n(b' ', 100));
    v.extend(pub_with_arg_len(4096).into_iter().skip(4));
    assert_eq!(run(&v).1, None);
    let long_connect = format!("CONNECT {{\"name\":\"{}\"}}\r\n", "x".repeat(5000));
    assert_eq!(
        run(long_connect.as_bytes()).1,
        Some(ProtoError::MaxControlLine)
    );
    // PING's trailing bytes are not arguments.
    let mut ping = b"PING".to_vec();
    ping.extend(std::iter::repeat_n(b'x', 6000));
    ping.extend_from_slice(b"\r\n");
    assert_eq!(run(&ping), (vec![ClientOp::Ping], None));
}

#[test]
fn overlong_partial_line_fails_as_soon_as_known() {
    let full = pub_with_arg_len(4097);
    let mut p = ClientParser::default();
    let mut buf = BytesMut::new();
    // "PUB " + 4096 argument bytes: still within the limit, keep waiting.
    buf.extend_from_slice(&full[..4 + 4096]);
    assert_eq!(p.decode(&mut buf), Ok(None));
    // A trailing CR is not counted.
    buf.extend_from_slice(b"\r");
    let mut p2 = ClientParser::default();
    let mut buf2 = BytesMut::from(&full[..4 + 4096][..]);
    buf2.extend_from_slice(b"\r");
    assert_eq!(p2.decode(&mut buf2), Ok(None));
    // One more argument byte: error without waiting for the line end.
    let mut p3 = ClientParser::default();
    let mut buf3 = BytesMut::from(&full[..4 + 4097][..]);
    assert_eq!(p3.decode(&mut buf3), Err(ProtoError::MaxControlLine));
}

#[test]
fn nothing_is_buffered_without_bound() {
    let mut p = ClientParser::default();
    let mut buf = BytesMut::new();
    // Blanks after a verb and junk after PING are consumed as they arrive.
    buf.extend_from_slice(b"PUB");
    for _ in 0..100 {
        buf.extend_from_slice(&[b' '; 1000]);
        assert_eq!(p.decode(&mut buf), Ok(None));
        assert!(buf.len() <= 1000);
    }
    buf.extend_from_slice(b"foo 2\r\nhi\r\nPING");
    assert_eq!(
        p.decode(&mut buf).unwrap(),
        Some(ClientOp::Pub {
            subject: b("foo"),
            reply: None,
            payload: b("hi")
        })
    );
    for _ in 0..100 {
        buf.extend_from_slice(&[b'x'; 1000]);
        assert_eq!(p.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(p.decode(&mut buf), Ok(Some(ClientOp::Ping)));
}

#[test]
fn bad_payload_trailer_is_reported_as_soon_as_it_arrives() {
    let mut p = ClientParser::default();
    let mut buf = BytesMut::from(&b"PUB foo 3\r\nab"[..]);
    assert_eq!(p.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"c\r");
    assert_eq!(p.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"X");
    assert_eq!(p.decode(&mut buf), Err(ProtoError::UnknownOp));

    let mut p = ClientParser::default();
    let mut buf = BytesMut::from(&b"PUB foo 3\r\nabcX"[..]);
    assert_eq!(p.decode(&mut buf), Err(ProtoError::UnknownOp));
}

#[test]
fn max_payload_is_checked_on_the_control_line() {
    let limits = Limits {
        max_control_line: 4096,
        max_payload: 8,
    };
    assert_eq!(run_with(limits, b"PUB foo 8\r\n12345678\r\n").1, None);
    // No payload bytes needed to know.
    assert_eq!(
        run_with(limits, b"PUB foo 9\r\n").1,
        Some(ProtoError::MaxPayload)
    );
    assert_eq!(
        run_with(limits, b"HPUB foo 2 9\r\n").1,
        Some(ProtoError::MaxPayload)
    );
    let mut p = ClientParser::new(limits);
    p.set_limits(Limits {
        max_payload: 100,
        ..limits
    });
    assert_eq!(p.limits().max_payload, 100);
    let mut buf = BytesMut::from(&b"PUB foo 9\r\n123456789\r\n"[..]);
    assert!(matches!(p.decode(&mut buf), Ok(Some(ClientOp::Pub { .. }))));
}

#[test]
fn payload_is_a_slice_of_the_read_buffer() {
    let mut p = ClientParser::default();
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"PUB foo 5\r\nhello\r\n");
    let base = buf.as_ptr() as usize;
    let Some(ClientOp::Pub {
        subject, payload, ..
    }) = p.decode(&mut buf).unwrap()
    else {
        panic!()
    };
    assert_eq!(subject.as_ptr() as usize, base + 4);
    assert_eq!(payload.as_ptr() as usize, base + 11);
}

#[test]
fn parser_is_reset_after_an_error() {
    let mut p = ClientParser::default();
    let mut buf = BytesMut::from(&b"PUB foo 3\r\nab"[..]);
    assert_eq!(p.decode(&mut buf), Ok(None));
    let mut bad = BytesMut::from(&b"cX\r\n"[..]);
    assert_eq!(p.decode(&mut bad), Err(ProtoError::UnknownOp));
    let mut fresh = BytesMut::from(&b"PING\r\n"[..]);
    assert_eq!(p.decode(&mut fresh), Ok(Some(ClientOp::Ping)));
}

#[test]
fn encode_writes_what_clients_write() {
    let mut buf = BytesMut::new();
    publish("foo", Some("r"), "hi").encode(&mut buf);
    ClientOp::HPub {
        subject: b("foo"),
        reply: None,
        headers: b("NATS/1.0\r\n\r\n"),
        payload: b("x"),
    }
    .encode(&mut buf);
    ClientOp::Sub {
        subject: b("foo"),
        queue: Some(b("q")),
        sid: b("7"),
    }
    .encode(&mut buf);
    ClientOp::Unsub {
        sid: b("7"),
        max: Some(10),
    }
    .encode(&mut buf);
    ClientOp::Ping.encode(&mut buf);
    ClientOp::Pong.encode(&mut buf);
    assert_eq!(
        &buf[..],
        &b"PUB foo r 2\r\nhi\r\nHPUB foo 12 13\r\nNATS/1.0\r\n\r\nx\r\nSUB foo q 7\r\nUNSUB 7 10\r\nPING\r\nPONG\r\n"[..]
    );
    let mut buf = BytesMut::new();
    ClientOp::Connect(Box::default()).encode(&mut buf);
    assert!(buf.starts_with(b"CONNECT {\"verbose\":true,\"pedantic\":true,"));
    assert!(buf.ends_with(b"}\r\n"));
}

#[test]
fn connect_null_values_read_as_defaults() {
    // nats-server 2.9.10 answers PONG after this CONNECT: Go keeps the default on null.
    let (ops, err) =
        run(b"CONNECT {\"verbose\":false,\"echo\":null,\"protocol\":null}\r\nPING\r\n");
    assert_eq!(err, None);
    let expected = Connect {
        verbose: false,
        ..Connect::default()
    };
    assert_eq!(
        ops,
        vec![ClientOp::Connect(Box::new(expected)), ClientOp::Ping]
    );
}

#[test]
fn at_op_start_is_false_inside_a_line_or_payload() {
    let mut p = ClientParser::default();
    assert!(p.at_op_start());
    let mut buf = BytesMut::from(&b"CONNECT "[..]);
    assert_eq!(p.decode(&mut buf), Ok(None));
    assert!(!p.at_op_start(), "CONNECT and its blank were consumed");
    buf.extend_from_slice(b"{}\r\nPUB foo 5\r\nhe");
    assert!(matches!(p.decode(&mut buf), Ok(Some(ClientOp::Connect(_)))));
    assert_eq!(p.decode(&mut buf), Ok(None));
    assert!(!p.at_op_start(), "a payload is pending");
    buf.extend_from_slice(b"llo\r\n");
    assert!(matches!(p.decode(&mut buf), Ok(Some(ClientOp::Pub { .. }))));
    assert!(p.at_op_start());
    buf.extend_from_slice(b"PI");
    assert_eq!(p.decode(&mut buf), Ok(None));
    assert!(p.at_op_start(), "a partial verb stays in the buffer");
    buf.extend_from_slice(b"NG and more");
    assert_eq!(p.decode(&mut buf), Ok(None));
    assert!(
        !p.at_op_start(),
        "the rest of the PING line is being skipped"
    );
    buf.extend_from_slice(b"\r\n");
    assert_eq!(p.decode(&mut buf), Ok(Some(ClientOp::Ping)));
    assert!(p.at_op_start());
}
