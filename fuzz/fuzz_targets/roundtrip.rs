//! Encode -> decode round trips, two ways over the same input bytes.
//!
//! - Structured: the bytes, read through `Arbitrary`, are sequences of client and server ops.
//!   Encoded into one stream per direction and fed back to the parsers in chunks of a
//!   fuzzer-chosen size, they must come out as exactly the same ops, in order, with no byte
//!   left over.
//! - Raw: the bytes, read as a protocol stream by the client, server and route parsers, give
//!   ops that re-encode to a stream decoding to the same ops. This is the check the stable
//!   corpus replay (`natter-proto/tests/corpus_replay.rs`) runs on `fuzz/corpus/roundtrip`,
//!   whose seeds are protocol streams; here they also seed the structured half.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use natter_proto::{
    ClientOp, ClientParser, Connect, HeaderMap, Info, Limits, ProtoError, RouteOp, RouteParser,
    ServerOp, ServerParser,
};

/// Longest generated string, so a CONNECT or INFO stays well inside the control-line limit.
const MAX_TEXT: usize = 48;
/// Longest generated payload.
const MAX_PAYLOAD: usize = 4096;

#[derive(Debug, Arbitrary)]
struct Input {
    ops: Vec<Op>,
    chunk: u8,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Client(ClientSpec),
    Server(ServerSpec),
}

#[derive(Debug, Arbitrary)]
enum ClientSpec {
    Connect(ConnectSpec),
    Pub {
        subject: Token,
        reply: Option<Token>,
        payload: Vec<u8>,
    },
    HPub {
        subject: Token,
        reply: Option<Token>,
        headers: HeaderSpec,
        payload: Vec<u8>,
    },
    Sub {
        subject: Token,
        queue: Option<Token>,
        sid: Token,
    },
    Unsub {
        sid: Token,
        /// nats-server reads a max of more than 9 digits as "no max", so larger values have
        /// no wire form; they are folded into range.
        max: Option<u32>,
    },
    Ping,
    Pong,
}

#[derive(Debug, Arbitrary)]
enum ServerSpec {
    Info(InfoSpec),
    Msg {
        subject: Token,
        sid: Token,
        reply: Option<Token>,
        payload: Vec<u8>,
    },
    HMsg {
        subject: Token,
        sid: Token,
        reply: Option<Token>,
        headers: HeaderSpec,
        payload: Vec<u8>,
    },
    Ok,
    Err(String),
    Ping,
    Pong,
}

/// A protocol argument: any bytes but the separators (space, tab) and line ends.
#[derive(Debug, Arbitrary)]
struct Token(Vec<u8>);

impl Token {
    fn bytes(&self) -> Bytes {
        let mut arg: Vec<u8> = self
            .0
            .iter()
            .take(MAX_TEXT)
            .map(|&b| match b {
                b' ' | b'\t' | b'\r' | b'\n' => b'_',
                b => b,
            })
            .collect();
        if arg.is_empty() {
            arg.push(b'x');
        }
        Bytes::from(arg)
    }
}

#[derive(Debug, Arbitrary)]
struct ConnectSpec {
    verbose: bool,
    pedantic: bool,
    tls_required: bool,
    echo: bool,
    headers: bool,
    no_responders: bool,
    /// nats-server refuses protocol levels other than 0 and 1, so only those are generated.
    protocol_one: bool,
    name: Option<String>,
    lang: Option<String>,
    version: Option<String>,
    user: Option<String>,
    pass: Option<String>,
    auth_token: Option<String>,
}

#[derive(Debug, Arbitrary)]
struct InfoSpec {
    server_id: String,
    server_name: String,
    version: String,
    headers: bool,
    auth_required: bool,
    ldm: bool,
    proto: i32,
    port: u16,
    client_id: Option<u64>,
    nonce: Option<String>,
    connect_urls: Vec<String>,
}

/// A header block in the canonical shape `NATS/1.0[ status[ description]]` CRLF, then
/// `Key: Value` CRLF lines, then CRLF.
#[derive(Debug, Arbitrary)]
struct HeaderSpec {
    status: Option<(u16, Option<String>)>,
    entries: Vec<(String, String)>,
}

impl HeaderSpec {
    fn block(&self) -> Bytes {
        let mut block = b"NATS/1.0".to_vec();
        if let Some((code, description)) = &self.status {
            block.extend_from_slice(format!(" {}", 100 + code % 900).as_bytes());
            if let Some(d) = description
                .as_deref()
                .map(line_text)
                .filter(|d| !d.is_empty())
            {
                block.push(b' ');
                block.extend_from_slice(d.as_bytes());
            }
        }
        block.extend_from_slice(b"\r\n");
        for (key, value) in self.entries.iter().take(8) {
            let key: String = key
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(MAX_TEXT)
                .collect();
            let key = if key.is_empty() { "K".to_owned() } else { key };
            block.extend_from_slice(format!("{key}: {}\r\n", line_text(value)).as_bytes());
        }
        block.extend_from_slice(b"\r\n");
        Bytes::from(block)
    }
}

/// Text that fits on one protocol line: no CR or LF, no surrounding whitespace, bounded.
fn line_text(s: &str) -> String {
    s.chars()
        .take(MAX_TEXT)
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn text(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| s.chars().take(MAX_TEXT).collect())
}

fn payload(p: &[u8]) -> Bytes {
    Bytes::copy_from_slice(&p[..p.len().min(MAX_PAYLOAD)])
}

fn client_op(spec: &ClientSpec) -> ClientOp {
    match spec {
        ClientSpec::Connect(c) => {
            let connect = Connect {
                verbose: c.verbose,
                pedantic: c.pedantic,
                tls_required: c.tls_required,
                echo: c.echo,
                headers: c.headers,
                no_responders: c.no_responders,
                protocol: i32::from(c.protocol_one),
                name: text(&c.name),
                lang: text(&c.lang),
                version: text(&c.version),
                user: text(&c.user),
                pass: text(&c.pass),
                auth_token: text(&c.auth_token),
                ..Connect::default()
            };
            ClientOp::Connect(Box::new(connect))
        }
        ClientSpec::Pub {
            subject,
            reply,
            payload: p,
        } => ClientOp::Pub {
            subject: subject.bytes(),
            reply: reply.as_ref().map(Token::bytes),
            payload: payload(p),
        },
        ClientSpec::HPub {
            subject,
            reply,
            headers,
            payload: p,
        } => ClientOp::HPub {
            subject: subject.bytes(),
            reply: reply.as_ref().map(Token::bytes),
            headers: headers.block(),
            payload: payload(p),
        },
        ClientSpec::Sub {
            subject,
            queue,
            sid,
        } => ClientOp::Sub {
            subject: subject.bytes(),
            queue: queue.as_ref().map(Token::bytes),
            sid: sid.bytes(),
        },
        ClientSpec::Unsub { sid, max } => ClientOp::Unsub {
            sid: sid.bytes(),
            max: max.map(|m| u64::from(m % 1_000_000_000)),
        },
        ClientSpec::Ping => ClientOp::Ping,
        ClientSpec::Pong => ClientOp::Pong,
    }
}

fn server_op(spec: &ServerSpec) -> ServerOp {
    match spec {
        ServerSpec::Info(i) => {
            let info = Info {
                server_id: line_text(&i.server_id),
                server_name: line_text(&i.server_name),
                version: line_text(&i.version),
                headers: i.headers,
                auth_required: i.auth_required,
                ldm: i.ldm,
                proto: i.proto,
                port: i.port,
                client_id: i.client_id,
                nonce: text(&i.nonce),
                connect_urls: i
                    .connect_urls
                    .iter()
                    .take(4)
                    .map(|u| line_text(u))
                    .collect(),
                ..Info::default()
            };
            ServerOp::Info(Box::new(info))
        }
        ServerSpec::Msg {
            subject,
            sid,
            reply,
            payload: p,
        } => ServerOp::Msg {
            subject: subject.bytes(),
            sid: sid.bytes(),
            reply: reply.as_ref().map(Token::bytes),
            payload: payload(p),
        },
        ServerSpec::HMsg {
            subject,
            sid,
            reply,
            headers,
            payload: p,
        } => ServerOp::HMsg {
            subject: subject.bytes(),
            sid: sid.bytes(),
            reply: reply.as_ref().map(Token::bytes),
            headers: headers.block(),
            payload: payload(p),
        },
        ServerSpec::Ok => ServerOp::Ok,
        ServerSpec::Err(e) => {
            let e = line_text(e);
            ServerOp::Err(if e.is_empty() { "'x'".to_owned() } else { e })
        }
        ServerSpec::Ping => ServerOp::Ping,
        ServerSpec::Pong => ServerOp::Pong,
    }
}

/// A header block the generator wrote must parse, and encode back to the same bytes.
fn check_headers(block: &Bytes) {
    let map = HeaderMap::parse(block)
        .unwrap_or_else(|e| panic!("generated header block {block:?} does not parse: {e:?}"));
    let mut again = BytesMut::new();
    map.encode(&mut again);
    assert_eq!(
        &again[..],
        &block[..],
        "HeaderMap::parse then encode changed the block"
    );
}

fuzz_target!(|data: &[u8]| {
    raw(data);
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        structured(input);
    }
});

fn structured(input: Input) {
    let chunk = usize::from(input.chunk) + 1;
    let mut client_ops = Vec::new();
    let mut server_ops = Vec::new();
    let mut client_wire = BytesMut::new();
    let mut server_wire = BytesMut::new();
    for op in &input.ops {
        match op {
            Op::Client(spec) => {
                let op = client_op(spec);
                if let ClientOp::HPub { headers, .. } = &op {
                    check_headers(headers);
                }
                op.encode(&mut client_wire);
                client_ops.push(op);
            }
            Op::Server(spec) => {
                let op = server_op(spec);
                if let ServerOp::HMsg { headers, .. } = &op {
                    check_headers(headers);
                }
                op.encode(&mut server_wire);
                server_ops.push(op);
            }
        }
    }

    let mut parser = ClientParser::new(Limits::default());
    let decoded = feed(&client_wire, chunk, |buf| parser.decode(buf));
    assert_eq!(
        decoded, client_ops,
        "client ops changed in encode -> decode"
    );

    let mut parser = ServerParser::new(Limits::default());
    let decoded = feed(&server_wire, chunk, |buf| parser.decode(buf));
    assert_eq!(
        decoded, server_ops,
        "server ops changed in encode -> decode"
    );
}

/// Decodes `data` as a stream with each parser, then checks the ops it got re-encode to a
/// stream that decodes to the same ops.
fn raw(data: &[u8]) {
    raw_with(
        data,
        ClientParser::new,
        ClientOp::encode,
        ClientParser::decode,
    );
    raw_with(
        data,
        ServerParser::new,
        ServerOp::encode,
        ServerParser::decode,
    );
    raw_with(data, RouteParser::new, RouteOp::encode, RouteParser::decode);
}

fn raw_with<P, O: std::fmt::Debug + PartialEq>(
    data: &[u8],
    new: fn(Limits) -> P,
    encode: fn(&O, &mut BytesMut),
    decode: fn(&mut P, &mut BytesMut) -> Result<Option<O>, ProtoError>,
) {
    let mut parser = new(Limits::default());
    let mut buf = BytesMut::from(data);
    let mut ops = Vec::new();
    while let Ok(Some(op)) = decode(&mut parser, &mut buf) {
        ops.push(op);
    }
    let mut wire = BytesMut::new();
    for op in &ops {
        encode(op, &mut wire);
    }
    // Written-out defaults can make a re-encoded CONNECT or INFO longer than the original.
    let mut parser = new(Limits {
        max_control_line: usize::MAX,
        ..Limits::default()
    });
    let mut again = Vec::new();
    while let Some(op) = decode(&mut parser, &mut wire)
        .unwrap_or_else(|e| panic!("re-encoded {ops:?} does not decode: {e:?}"))
    {
        again.push(op);
    }
    assert!(
        wire.is_empty(),
        "bytes left after re-encoded {ops:?}: {wire:?}"
    );
    assert_eq!(again, ops, "decode -> encode -> decode differs");
}

/// Appends `wire` to a buffer `chunk` bytes at a time, decoding everything complete after each
/// append, and checks nothing is left at the end.
fn feed<T: std::fmt::Debug, E: std::fmt::Debug>(
    wire: &[u8],
    chunk: usize,
    mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
) -> Vec<T> {
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(op) = decode(&mut buf)
            .unwrap_or_else(|e| panic!("encoded ops fail to decode: {e:?} (left: {buf:?})"))
        {
            ops.push(op);
        }
    }
    assert!(buf.is_empty(), "bytes left over after the last op: {buf:?}");
    ops
}
