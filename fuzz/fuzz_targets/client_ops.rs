//! A client's byte stream through `ClientParser`, with the default limits.
//!
//! The input is the stream itself, as in the checked-in seeds (`fuzz/corpus/client_ops`, which
//! the stable corpus replay reads the same way). It is decoded three times: whole, byte by
//! byte, and in chunks of a size that varies with the input; all three must give the same ops
//! and errors. While decoding, the parser must never panic, must consume bytes for every op
//! and for every error that leaves the connection open (or a server's reader would spin),
//! must keep no more than one frame's worth of bytes while it waits, and must never hand out
//! a payload over the limit. Every op it returns must survive encode -> decode unchanged.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natter_proto::{ClientOp, ClientParser, Limits, ProtoError};

/// The limits the stable corpus replay (`natter-proto/tests/corpus_replay.rs`) decodes with, so
/// an input this target keeps or crashes on is checked under the same limits once it is added
/// to the corpus. Short inputs still reach both limit checks: a declared size over 1 MiB is a
/// few bytes, and `cargo xtask fuzz` raises libFuzzer's `-max_len` to 8192 so a control line
/// can run past 4096 bytes.
fn replay_limits() -> Limits {
    Limits::default()
}

/// Most bytes a parser waiting for the rest of a frame may keep: a control line at the limit,
/// its CRLF, a payload at the limit and its CRLF, plus the chunk that was just appended.
fn max_buffered(limits: &Limits, chunk: usize) -> usize {
    limits.max_control_line + limits.max_payload + 4 + chunk
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, data.len().max(1));
    let bytewise = decode(data, 1);
    assert_eq!(bytewise, whole, "byte-by-byte decode differs from whole");
    let chunk = 2 + data.len() % 61;
    let chunked = decode(data, chunk);
    assert_eq!(
        chunked, whole,
        "decode in {chunk}-byte chunks differs from whole"
    );
});

/// What a connection would see: the ops decoded, and the errors, up to the first error that
/// closes the connection.
type Outcome = Vec<Result<ClientOp, ProtoError>>;

fn decode(data: &[u8], chunk: usize) -> Outcome {
    let limits = replay_limits();
    let mut parser = ClientParser::new(limits);
    let mut buf = BytesMut::new();
    let mut outcome = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match parser.decode(&mut buf) {
                Ok(Some(op)) => {
                    assert!(buf.len() < before, "an op was decoded from no bytes");
                    check(&op, &limits);
                    outcome.push(Ok(op));
                }
                Ok(None) => break,
                Err(err) if err.closes_connection() => {
                    outcome.push(Err(err));
                    return outcome;
                }
                Err(err) => {
                    assert!(
                        buf.len() < before,
                        "{err:?} keeps the connection open but consumed no bytes"
                    );
                    outcome.push(Err(err));
                }
            }
        }
        assert!(
            buf.len() <= max_buffered(&limits, chunk),
            "parser holds {} bytes waiting for a frame",
            buf.len()
        );
    }
    outcome
}

fn check(op: &ClientOp, limits: &Limits) {
    match op {
        ClientOp::Pub { payload, .. } => assert!(payload.len() <= limits.max_payload),
        ClientOp::HPub {
            headers, payload, ..
        } => assert!(headers.len() + payload.len() <= limits.max_payload),
        _ => {}
    }
    // Re-encoding may lengthen a CONNECT (defaults written out), so decode it with the default
    // limits.
    let mut wire = BytesMut::new();
    op.encode(&mut wire);
    let mut parser = ClientParser::new(Limits::default());
    let again = parser
        .decode(&mut wire)
        .unwrap_or_else(|e| panic!("re-encoded {op:?} does not decode: {e:?}"))
        .unwrap_or_else(|| panic!("re-encoded {op:?} is an incomplete frame"));
    assert_eq!(&again, op, "decode(encode(op)) differs");
    assert!(wire.is_empty(), "bytes left after a re-encoded op");
}
