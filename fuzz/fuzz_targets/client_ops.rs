//! A client's byte stream through `ClientParser`, with the default limits.
//!
//! The stream checks are in `common/stream.rs`, shared with the other stream target; this
//! file adds what is particular to ClientParser: the payload limit on its ops, that every
//! op survives encode -> decode unchanged, and that the in-place path the server reads with
//! (`decode_with`) gives the same ops and errors as `decode`.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use natter_proto::{ClientOp, ClientOpRef, ClientParser, Limits, ProtoError};

#[path = "common/stream.rs"]
mod stream;

fuzz_target!(|data: &[u8]| {
    stream::check_stream::<ClientParser>(data, check);
    let chunk = 1 + data.len() % 23;
    assert_eq!(
        in_place(data, chunk),
        owned(data, chunk),
        "decode_with differs from decode"
    );
});

/// Ops until the first error (kept) or the end, by `decode`, fed `chunk` bytes at a time.
fn owned(data: &[u8], chunk: usize) -> (Vec<ClientOp>, Option<ProtoError>) {
    let mut parser = ClientParser::new(stream::replay_limits());
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match parser.decode(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

/// The same through `decode_with`, each borrowed publish copied out.
fn in_place(data: &[u8], chunk: usize) -> (Vec<ClientOp>, Option<ProtoError>) {
    let mut parser = ClientParser::new(stream::replay_limits());
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    let copy = Bytes::copy_from_slice;
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let op = parser.decode_with(&mut buf, |op| match op {
                ClientOpRef::Pub(m) => match m.headers {
                    None => ClientOp::Pub {
                        subject: copy(m.subject),
                        reply: m.reply.map(copy),
                        payload: copy(m.payload),
                    },
                    Some(h) => ClientOp::HPub {
                        subject: copy(m.subject),
                        reply: m.reply.map(copy),
                        headers: copy(h),
                        payload: copy(m.payload),
                    },
                },
                ClientOpRef::Other(op) => op,
            });
            match op {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
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
