//! Server -> client operations, against bytes captured from nats-server 2.9.10.

use bytes::{Bytes, BytesMut};
use natter_proto::{encode, Limits, ProtoError, ServerOp, ServerParser};

fn run(input: &[u8]) -> (Vec<ServerOp>, Option<ProtoError>) {
    let mut p = ServerParser::new(Limits::default());
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

const CAPTURED: &[u8] = b"INFO {\"server_id\":\"NAMW\",\"server_name\":\"NAMW\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":14222,\"headers\":true,\"max_payload\":1048576,\"client_id\":4,\"client_ip\":\"127.0.0.1\"} \r\n\
+OK\r\nPING\r\nMSG foo 1 2\r\nhi\r\nMSG foo 3 r1 2\r\nho\r\nHMSG foo 1 r2 12 14\r\nNATS/1.0\r\n\r\nab\r\n\
-ERR 'Permissions Violation for Subscription to \"bar\" using queue \"q\"'\r\nPONG\r\n-ERR 'Stale Connection'\r\n";

#[test]
fn decodes_a_real_server_stream() {
    let (ops, err) = run(CAPTURED);
    assert_eq!(err, None);
    let ServerOp::Info(info) = &ops[0] else {
        panic!()
    };
    assert_eq!(
        (info.client_id, info.max_payload, info.port),
        (Some(4), 1_048_576, 14222)
    );
    assert_eq!(
        ops[1..],
        [
            ServerOp::Ok,
            ServerOp::Ping,
            ServerOp::Msg {
                subject: b("foo"),
                sid: b("1"),
                reply: None,
                payload: b("hi")
            },
            ServerOp::Msg {
                subject: b("foo"),
                sid: b("3"),
                reply: Some(b("r1")),
                payload: b("ho")
            },
            ServerOp::HMsg {
                subject: b("foo"),
                sid: b("1"),
                reply: Some(b("r2")),
                headers: b("NATS/1.0\r\n\r\n"),
                payload: b("ab")
            },
            ServerOp::Err(
                "'Permissions Violation for Subscription to \"bar\" using queue \"q\"'".into()
            ),
            ServerOp::Pong,
            ServerOp::Err("'Stale Connection'".into()),
        ]
    );
    let mut out = BytesMut::new();
    for op in &ops[1..] {
        op.encode(&mut out);
    }
    let start = CAPTURED.windows(3).position(|w| w == b"+OK").unwrap();
    assert_eq!(&out[..], &CAPTURED[start..]);
}

#[test]
fn error_texts_are_the_ones_nats_sends() {
    // Each text was observed on the wire from nats-server 2.9.10.
    let observed = [
        (ProtoError::UnknownOp, "'Unknown Protocol Operation'", true),
        (
            ProtoError::MaxControlLine,
            "'maximum control line exceeded'",
            true,
        ),
        (ProtoError::MaxPayload, "'Maximum Payload Violation'", true),
        (ProtoError::InvalidSubject, "'Invalid Subject'", false),
        (
            ProtoError::InvalidPublishSubject,
            "'Invalid Publish Subject'",
            false,
        ),
        (
            ProtoError::AuthorizationViolation,
            "'Authorization Violation'",
            true,
        ),
        (
            ProtoError::AuthenticationTimeout,
            "'Authentication Timeout'",
            true,
        ),
        (ProtoError::StaleConnection, "'Stale Connection'", true),
        (
            ProtoError::MaxConnectionsExceeded,
            "'maximum connections exceeded'",
            true,
        ),
        (
            ProtoError::MaxSubscriptionsExceeded,
            "'maximum subscriptions exceeded'",
            false,
        ),
        (
            ProtoError::InvalidClientProtocol,
            "'invalid client protocol'",
            true,
        ),
        (
            ProtoError::NoRespondersRequiresHeaders,
            "'no responders requires headers support'",
            true,
        ),
    ];
    for (e, text, closes) in observed {
        assert_eq!(e.err_text(), text);
        assert!(e.sends_err());
        assert_eq!(e.closes_connection(), closes, "{e:?}");
        let mut buf = BytesMut::new();
        encode::err(&mut buf, e.err_text());
        assert_eq!(buf, format!("-ERR {text}\r\n").as_bytes());
    }
    for silent in [
        ProtoError::SlowConsumer,
        ProtoError::HeadersNotSupported,
        ProtoError::ErrReceived("x".into()),
    ] {
        assert!(!silent.sends_err() && silent.err_text().is_empty() && silent.closes_connection());
    }
    assert_eq!(
        ProtoError::subscription_violation_text(b"bar", Some(b"q")),
        "'Permissions Violation for Subscription to \"bar\" using queue \"q\"'"
    );
    assert_eq!(
        ProtoError::subscription_violation_text(b"bar", None),
        "'Permissions Violation for Subscription to \"bar\"'"
    );
    assert_eq!(
        ProtoError::publish_violation_text(b"bar"),
        "'Permissions Violation for Publish to \"bar\"'"
    );
    assert_eq!(
        ProtoError::publish_violation_text(b"a\"b\x01"),
        "'Permissions Violation for Publish to \"a\\\"b\\x01\"'"
    );
    assert_eq!(
        ProtoError::publish_reply_violation_text(b"_INBOX.x"),
        "'Permissions Violation for Publish with Reply of \"_INBOX.x\"'"
    );
    assert_eq!(
        ProtoError::MaxPayload.to_string(),
        "Maximum Payload Violation"
    );
}

#[test]
fn server_parser_errors() {
    assert!(matches!(
        run(b"MSG foo 2\r\nhi\r\n").1,
        Some(ProtoError::InvalidArguments { op: "MSG", .. })
    ));
    assert!(matches!(
        run(b"HMSG foo 1 3 2\r\n").1,
        Some(ProtoError::InvalidArguments { op: "HMSG", .. })
    ));
    assert!(matches!(
        run(b"INFO {\r\n").1,
        Some(ProtoError::InvalidJson { op: "INFO", .. })
    ));
    assert_eq!(run(b"PUB foo 1\r\nx\r\n").1, Some(ProtoError::UnknownOp));
    assert_eq!(
        run(b"MSG foo 1 2\r\nhi!\r\n").1,
        Some(ProtoError::UnknownOp)
    );
    let mut p = ServerParser::new(Limits {
        max_control_line: 16,
        max_payload: 1,
    });
    p.set_limits(Limits {
        max_control_line: 16,
        max_payload: 2,
    });
    assert_eq!(p.limits().max_payload, 2);
    assert_eq!(
        p.decode(&mut BytesMut::from(&b"MSG foo 1 3\r\n"[..])),
        Err(ProtoError::MaxPayload)
    );
    let mut p = ServerParser::new(Limits {
        max_control_line: 16,
        max_payload: 2,
    });
    assert_eq!(
        p.decode(&mut BytesMut::from(&b"MSG a.very.long.subject 1 1"[..])),
        Err(ProtoError::MaxControlLine)
    );
}
