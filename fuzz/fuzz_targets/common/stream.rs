//! What the stream targets (`client_ops`, `route_ops`) check, for any of natter-proto's
//! incremental parsers: the input is the byte stream itself, as in the checked-in seeds
//! (which the stable corpus replay reads the same way). It is decoded three times: whole,
//! byte by byte, and in chunks of a size that varies with the input; all three must give
//! the same ops and errors. While decoding, the parser must never panic, must consume bytes
//! for every op and for every error that leaves the connection open (or a server's reader
//! would spin), and must keep no more than one frame's worth of bytes while it waits. Each
//! op then goes through the target's own check (payload limit, encode -> decode).

use std::fmt::Debug;

use bytes::BytesMut;
use natter_proto::{ClientOp, ClientParser, Limits, ProtoError, RouteOp, RouteParser};

/// One of natter-proto's stream parsers.
pub trait StreamParser {
    /// What it decodes.
    type Op: Debug + PartialEq;
    /// A parser with these limits.
    fn with_limits(limits: Limits) -> Self;
    /// The next complete op, as the parser's own `decode`.
    fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Op>, ProtoError>;
}

impl StreamParser for ClientParser {
    type Op = ClientOp;
    fn with_limits(limits: Limits) -> Self {
        ClientParser::new(limits)
    }
    fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ProtoError> {
        self.decode(buf)
    }
}

impl StreamParser for RouteParser {
    type Op = RouteOp;
    fn with_limits(limits: Limits) -> Self {
        RouteParser::new(limits)
    }
    fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<RouteOp>, ProtoError> {
        self.decode(buf)
    }
}

/// The limits the stable corpus replay (`natter-proto/tests/corpus_replay.rs`) decodes
/// with, so an input a target keeps or crashes on is checked under the same limits once it
/// is added to the corpus. Short inputs still reach both limit checks: a declared size over
/// 1 MiB is a few bytes, and `cargo xtask fuzz` raises libFuzzer's `-max_len` to 8192 so a
/// control line can run past 4096 bytes.
pub fn replay_limits() -> Limits {
    Limits::default()
}

/// Decodes `data` whole, byte by byte and in input-dependent chunks, and requires the same
/// outcome from all three.
pub fn check_stream<P: StreamParser>(data: &[u8], check: impl Fn(&P::Op, &Limits)) {
    let whole = decode::<P>(data, data.len().max(1), &check);
    let bytewise = decode::<P>(data, 1, &check);
    assert_eq!(bytewise, whole, "byte-by-byte decode differs from whole");
    let chunk = 2 + data.len() % 61;
    let chunked = decode::<P>(data, chunk, &check);
    assert_eq!(
        chunked, whole,
        "decode in {chunk}-byte chunks differs from whole"
    );
}

/// Most bytes a parser waiting for the rest of a frame may keep: a control line at the
/// limit, its CRLF, a payload at the limit and its CRLF, plus the chunk just appended.
fn max_buffered(limits: &Limits, chunk: usize) -> usize {
    limits.max_control_line + limits.max_payload + 4 + chunk
}

/// What a connection would see: the ops decoded, and the errors, up to the first error
/// that closes the connection.
fn decode<P: StreamParser>(
    data: &[u8],
    chunk: usize,
    check: &impl Fn(&P::Op, &Limits),
) -> Vec<Result<P::Op, ProtoError>> {
    let limits = replay_limits();
    let mut parser = P::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut outcome = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match parser.next_op(&mut buf) {
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
