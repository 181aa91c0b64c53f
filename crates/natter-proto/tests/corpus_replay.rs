//! Replays the fuzz seed corpus (and anything the fuzzer added) on stable Rust:
//! `fuzz/corpus/{client_ops,route_ops,roundtrip}`.
//!
//! - every file goes through every parser without panicking;
//! - a `client_ops` / `route_ops` file decodes to the same operations and error whether it
//!   arrives whole, cut in two anywhere, or byte by byte;
//! - a `roundtrip` file, decoded by each parser, re-encodes to bytes that decode to the
//!   same operations.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use natter_proto::{
    ClientOp, ClientParser, Limits, ProtoError, RouteOp, RouteParser, ServerOp, ServerParser,
};

trait Decoder: Sized {
    type Op: Debug + PartialEq;
    fn with_limits(limits: Limits) -> Self;
    fn decode_one(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Op>, ProtoError>;
    fn encode_op(op: &Self::Op, buf: &mut BytesMut);
}

macro_rules! decoder {
    ($parser:ty, $op:ty) => {
        impl Decoder for $parser {
            type Op = $op;
            fn with_limits(limits: Limits) -> Self {
                <$parser>::new(limits)
            }
            fn decode_one(&mut self, buf: &mut BytesMut) -> Result<Option<$op>, ProtoError> {
                self.decode(buf)
            }
            fn encode_op(op: &$op, buf: &mut BytesMut) {
                op.encode(buf)
            }
        }
    };
}
decoder!(ClientParser, ClientOp);
decoder!(ServerParser, ServerOp);
decoder!(RouteParser, RouteOp);

type Outcome<O> = (Vec<O>, Option<ProtoError>);

fn decode_pieces<D: Decoder>(limits: Limits, pieces: &[&[u8]]) -> Outcome<D::Op> {
    let mut parser = D::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match parser.decode_one(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

fn same_however_cut<D: Decoder>(name: &str, data: &[u8]) {
    let limits = Limits::default();
    let whole = decode_pieces::<D>(limits, &[data]);
    for cut in 0..=data.len() {
        let (a, b) = data.split_at(cut);
        assert_eq!(
            decode_pieces::<D>(limits, &[a, b]),
            whole,
            "{name}: cut at {cut}"
        );
    }
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(
        decode_pieces::<D>(limits, &bytes),
        whole,
        "{name}: byte by byte"
    );
}

fn round_trip<D: Decoder>(name: &str, data: &[u8]) {
    let (ops, _) = decode_pieces::<D>(Limits::default(), &[data]);
    let mut encoded = BytesMut::new();
    for op in &ops {
        D::encode_op(op, &mut encoded);
    }
    // Re-encoded JSON may be longer than the original line (defaults made explicit).
    let roomy = Limits {
        max_control_line: usize::MAX,
        ..Limits::default()
    };
    let (again, err) = decode_pieces::<D>(roomy, &[&encoded]);
    assert_eq!(err, None, "{name}: re-encoded stream does not decode");
    assert_eq!(again, ops, "{name}: decode/encode/decode differs");
}

fn corpus(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "fuzz",
        "corpus",
        dir,
    ]
    .iter()
    .collect();
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", root.display());
    files
        .into_iter()
        .map(|p: PathBuf| (name_of(&p), std::fs::read(&p).expect("read corpus file")))
        .collect()
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn every_parser_survives(name: &str, data: &[u8]) {
    let _ = decode_pieces::<ClientParser>(Limits::default(), &[data]);
    let _ = decode_pieces::<ServerParser>(Limits::default(), &[data]);
    let _ = decode_pieces::<RouteParser>(Limits::default(), &[data]);
    let tiny = Limits {
        max_control_line: 8,
        max_payload: 8,
    };
    let _ = decode_pieces::<ClientParser>(tiny, &[data]);
    let _ = decode_pieces::<RouteParser>(tiny, &[data]);
    let _ = name;
}

#[test]
fn client_ops_corpus() {
    for (name, data) in corpus("client_ops") {
        every_parser_survives(&name, &data);
        same_however_cut::<ClientParser>(&name, &data);
    }
}

#[test]
fn route_ops_corpus() {
    for (name, data) in corpus("route_ops") {
        every_parser_survives(&name, &data);
        same_however_cut::<RouteParser>(&name, &data);
    }
}

#[test]
fn roundtrip_corpus() {
    for (name, data) in corpus("roundtrip") {
        every_parser_survives(&name, &data);
        round_trip::<ClientParser>(&name, &data);
        round_trip::<ServerParser>(&name, &data);
        round_trip::<RouteParser>(&name, &data);
    }
}

#[test]
fn seed_files_decode_as_their_names_say() {
    // Guards the seeds themselves, so the corpus keeps covering what it claims to.
    let client = |n: &str| {
        let (_, data) = corpus("client_ops")
            .into_iter()
            .find(|(f, _)| f == n)
            .expect(n);
        decode_pieces::<ClientParser>(Limits::default(), &[&data])
    };
    assert_eq!(client("max_payload").1, Some(ProtoError::MaxPayload));
    assert_eq!(
        client("max_control_line").1,
        Some(ProtoError::MaxControlLine)
    );
    assert_eq!(client("unknown_op").1, Some(ProtoError::UnknownOp));
    assert_eq!(client("payload_no_crlf").1, Some(ProtoError::UnknownOp));
    assert_eq!(client("split_mid_payload"), (vec![], None));
    assert_eq!(client("batch_mixed").0.len(), 7);
    let (ops, err) = {
        let (_, data) = corpus("route_ops")
            .into_iter()
            .find(|(f, _)| f == "captured_nats_2_9_10")
            .unwrap();
        decode_pieces::<RouteParser>(Limits::default(), &[&data])
    };
    assert_eq!((ops.len(), err), (15, None));
}
