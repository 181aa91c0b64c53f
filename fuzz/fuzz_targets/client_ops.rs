//! A client's byte stream through `ClientParser`, with the default limits.
//!
//! The stream checks are in `common/stream.rs`, shared with the other stream target; this
//! file adds what is particular to ClientParser: the payload limit on its ops, and that every
//! op survives encode -> decode unchanged.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natter_proto::{ClientOp, ClientParser, Limits};

#[path = "common/stream.rs"]
mod stream;

fuzz_target!(|data: &[u8]| stream::check_stream::<ClientParser>(data, check));

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
