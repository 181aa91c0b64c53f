//! A stream cut at arbitrary byte boundaries decodes to exactly the operations encoded into
//! it, for the client, server and route parsers.

use bytes::{Bytes, BytesMut};
use natter_proto::{
    ClientOp, ClientOpRef, ClientParser, Connect, Info, Limits, PubRef, RouteOp, RouteParser,
    ServerOp, ServerParser,
};
use proptest::prelude::*;
use proptest::sample::Index;

const TOKEN_CHARS: &[u8] = b"abcXYZ019._-$>*";

fn token() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(prop::sample::select(TOKEN_CHARS), 1..12).prop_map(Bytes::from)
}

fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        // CR/LF-heavy bodies look like frame ends.
        prop::collection::vec(prop::sample::select(&b"\r\nPUB 3"[..]), 0..40),
        prop::collection::vec(any::<u8>(), 0..2000),
    ]
    .prop_map(Bytes::from)
}

fn header_block() -> impl Strategy<Value = Bytes> {
    prop::collection::vec((token(), token()), 0..3).prop_map(|kv| {
        let mut s = b"NATS/1.0\r\n".to_vec();
        for (k, v) in kv {
            s.extend_from_slice(&k);
            s.extend_from_slice(b": ");
            s.extend_from_slice(&v);
            s.extend_from_slice(b"\r\n");
        }
        s.extend_from_slice(b"\r\n");
        Bytes::from(s)
    })
}

fn client_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        4 => (token(), proptest::option::of(token()), payload())
            .prop_map(|(subject, reply, payload)| ClientOp::Pub { subject, reply, payload }),
        2 => (token(), proptest::option::of(token()), header_block(), payload())
            .prop_map(|(subject, reply, headers, payload)| ClientOp::HPub { subject, reply, headers, payload }),
        1 => (token(), proptest::option::of(token()), token())
            .prop_map(|(subject, queue, sid)| ClientOp::Sub { subject, queue, sid }),
        1 => (token(), proptest::option::of(0u64..1_000_000))
            .prop_map(|(sid, max)| ClientOp::Unsub { sid, max }),
        1 => Just(ClientOp::Ping),
        1 => Just(ClientOp::Pong),
        1 => (any::<bool>(), any::<bool>(), proptest::option::of("[a-z ]{0,8}"))
            .prop_map(|(verbose, headers, name)| ClientOp::Connect(Box::new(Connect { verbose, headers, name, ..Connect::default() }))),
    ]
}

fn server_op() -> impl Strategy<Value = ServerOp> {
    prop_oneof![
        4 => (token(), token(), proptest::option::of(token()), payload())
            .prop_map(|(subject, sid, reply, payload)| ServerOp::Msg { subject, sid, reply, payload }),
        2 => (token(), token(), proptest::option::of(token()), header_block(), payload())
            .prop_map(|(subject, sid, reply, headers, payload)| ServerOp::HMsg { subject, sid, reply, headers, payload }),
        1 => Just(ServerOp::Ok),
        1 => Just(ServerOp::Ping),
        1 => Just(ServerOp::Pong),
        1 => Just(ServerOp::Err("'Slow Consumer'".into())),
        1 => (0u16..65535).prop_map(|port| ServerOp::Info(Box::new(Info { server_id: "S".into(), port, headers: true, ..Info::default() }))),
    ]
}

fn route_op() -> impl Strategy<Value = RouteOp> {
    prop_oneof![
        4 => (token(), token(), proptest::option::of(token()), prop::collection::vec(token(), 0..4),
              proptest::option::of(header_block()), payload())
            .prop_map(|(account, subject, reply, queues, headers, payload)| RouteOp::RMsg { account, subject, reply, queues, headers, payload }),
        2 => (token(), token(), proptest::option::of((token(), 0u32..1000)))
            .prop_map(|(account, subject, q)| RouteOp::RsPlus { account, subject, weight: q.as_ref().map(|q| q.1), queue: q.map(|q| q.0) }),
        1 => (token(), token(), proptest::option::of(token()))
            .prop_map(|(account, subject, queue)| RouteOp::RsMinus { account, subject, queue }),
        1 => Just(RouteOp::Ping),
        1 => Just(RouteOp::Pong),
        1 => Just(RouteOp::Err("'Authorization Violation'".into())),
    ]
}

/// Cuts `stream` at the given points and feeds the pieces one by one.
fn pieces(stream: &[u8], cuts: &[Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    points.sort_unstable();
    points.push(stream.len());
    let mut out = Vec::new();
    let mut from = 0;
    for p in points {
        out.push(stream[from..p].to_vec());
        from = p;
    }
    out
}

macro_rules! feed {
    ($parser:expr, $pieces:expr) => {{
        let mut parser = $parser;
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in $pieces {
            buf.extend_from_slice(&piece);
            while let Some(op) = parser.decode(&mut buf).expect("valid stream") {
                got.push(op);
            }
        }
        assert!(buf.is_empty(), "leftover bytes: {:?}", buf);
        got
    }};
}

/// An in-place publish copied out, to compare with what `decode` returns.
fn owned(op: ClientOpRef<'_>) -> ClientOp {
    let b = Bytes::copy_from_slice;
    match op {
        ClientOpRef::Pub(PubRef {
            subject,
            reply,
            headers: None,
            payload,
        }) => ClientOp::Pub {
            subject: b(subject),
            reply: reply.map(b),
            payload: b(payload),
        },
        ClientOpRef::Pub(PubRef {
            subject,
            reply,
            headers: Some(headers),
            payload,
        }) => ClientOp::HPub {
            subject: b(subject),
            reply: reply.map(b),
            headers: b(headers),
            payload: b(payload),
        },
        ClientOpRef::Other(op) => op,
    }
}

/// [`ClientParser::decode_with`] over the pieces: ops until the first error (kept) or the
/// end, and the bytes left in the buffer.
fn decode_all_in_place(
    mut p: ClientParser,
    pieces: Vec<Vec<u8>>,
) -> (Vec<ClientOp>, Option<natter_proto::ProtoError>, usize) {
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(&piece);
        loop {
            match p.decode_with(&mut buf, owned) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e), buf.len()),
            }
        }
    }
    (ops, None, buf.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn client_stream_in_place_cut_anywhere(ops in prop::collection::vec(client_op(), 1..12), cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let mut stream = BytesMut::new();
        for op in &ops { op.encode(&mut stream); }
        let (got, err, left) = decode_all_in_place(ClientParser::default(), pieces(&stream, &cuts));
        prop_assert_eq!(err, None);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(got, ops);
    }

    /// On any input, the in-place path returns what `decode` returns, errors included.
    #[test]
    fn in_place_decoding_matches_decode_on_garbage(data in prop::collection::vec(prop::sample::select(&b"PUBSHMGINCO \t\r\n0123+-RS"[..]), 0..200), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let limits = Limits { max_control_line: 64, max_payload: 64 };
        let by_decode = decode_all(ClientParser::new(limits), pieces(&data, &cuts));
        let (ops, err, _) = decode_all_in_place(ClientParser::new(limits), pieces(&data, &cuts));
        prop_assert_eq!(by_decode, (ops, err));
    }

    #[test]
    fn client_stream_cut_anywhere(ops in prop::collection::vec(client_op(), 1..12), cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let mut stream = BytesMut::new();
        for op in &ops { op.encode(&mut stream); }
        let got = feed!(ClientParser::new(Limits::default()), pieces(&stream, &cuts));
        prop_assert_eq!(got, ops);
    }

    #[test]
    fn client_stream_byte_by_byte(ops in prop::collection::vec(client_op(), 1..4)) {
        let mut stream = BytesMut::new();
        for op in &ops { op.encode(&mut stream); }
        let got = feed!(ClientParser::default(), stream.chunks(1));
        prop_assert_eq!(got, ops);
    }

    #[test]
    fn server_stream_cut_anywhere(ops in prop::collection::vec(server_op(), 1..12), cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let mut stream = BytesMut::new();
        for op in &ops { op.encode(&mut stream); }
        let got = feed!(ServerParser::new(Limits::default()), pieces(&stream, &cuts));
        prop_assert_eq!(got, ops);
    }

    #[test]
    fn route_stream_cut_anywhere(ops in prop::collection::vec(route_op(), 1..12), cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let mut stream = BytesMut::new();
        for op in &ops { op.encode(&mut stream); }
        let got = feed!(RouteParser::new(Limits::default()), pieces(&stream, &cuts));
        prop_assert_eq!(got, ops);
    }

    /// Arbitrary bytes never panic, and an error or a result does not depend on the cuts.
    #[test]
    fn garbage_is_judged_the_same_however_cut(data in prop::collection::vec(prop::sample::select(&b"PUBSHMGINCO \t\r\n0123+-RS"[..]), 0..200), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let limits = Limits { max_control_line: 64, max_payload: 64 };
        let whole = decode_all(ClientParser::new(limits), vec![data.clone()]);
        let cut = decode_all(ClientParser::new(limits), pieces(&data, &cuts));
        prop_assert_eq!(whole, cut);
    }
}

/// Ops decoded until the first error (kept) or the end.
macro_rules! decode_all_fn {
    ($name:ident, $parser:ty, $op:ty) => {
        fn $name(
            mut p: $parser,
            pieces: Vec<Vec<u8>>,
        ) -> (Vec<$op>, Option<natter_proto::ProtoError>) {
            let mut buf = BytesMut::new();
            let mut ops = Vec::new();
            for piece in pieces {
                buf.extend_from_slice(&piece);
                loop {
                    match p.decode(&mut buf) {
                        Ok(Some(op)) => ops.push(op),
                        Ok(None) => break,
                        Err(e) => return (ops, Some(e)),
                    }
                }
            }
            (ops, None)
        }
    };
}
decode_all_fn!(decode_all, ClientParser, ClientOp);
decode_all_fn!(decode_all_route, RouteParser, RouteOp);
decode_all_fn!(decode_all_server, ServerParser, ServerOp);

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn route_garbage_is_judged_the_same_however_cut(data in prop::collection::vec(prop::sample::select(&b"RMSGHS+-|$ \t\r\n0123qPINOK"[..]), 0..200), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let limits = Limits { max_control_line: 64, max_payload: 64 };
        let whole = decode_all_route(RouteParser::new(limits), vec![data.clone()]);
        let cut = decode_all_route(RouteParser::new(limits), pieces(&data, &cuts));
        prop_assert_eq!(whole, cut);
    }

    #[test]
    fn server_garbage_is_judged_the_same_however_cut(data in prop::collection::vec(prop::sample::select(&b"MSGHINFO+OK-ER {} \t\r\n0123"[..]), 0..200), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let limits = Limits { max_control_line: 64, max_payload: 64 };
        let whole = decode_all_server(ServerParser::new(limits), vec![data.clone()]);
        let cut = decode_all_server(ServerParser::new(limits), pieces(&data, &cuts));
        prop_assert_eq!(whole, cut);
    }

    /// Any bytes at all: no panic, and whole vs byte-by-byte feeding agree for every parser.
    #[test]
    fn arbitrary_bytes_whole_or_byte_by_byte(data in prop::collection::vec(any::<u8>(), 0..300)) {
        let limits = Limits { max_control_line: 32, max_payload: 32 };
        let bytes: Vec<Vec<u8>> = data.chunks(1).map(<[u8]>::to_vec).collect();
        prop_assert_eq!(
            decode_all(ClientParser::new(limits), vec![data.clone()]),
            decode_all(ClientParser::new(limits), bytes.clone())
        );
        prop_assert_eq!(
            decode_all_route(RouteParser::new(limits), vec![data.clone()]),
            decode_all_route(RouteParser::new(limits), bytes.clone())
        );
        prop_assert_eq!(
            decode_all_server(ServerParser::new(limits), vec![data]),
            decode_all_server(ServerParser::new(limits), bytes)
        );
    }
}
