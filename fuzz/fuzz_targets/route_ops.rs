//! A route peer's byte stream through `RouteParser`, with the default limits.
//!
//! The stream checks are in `common/stream.rs`, shared with the other stream target; this
//! file adds what is particular to RouteParser: the payload limit on its ops, and that every
//! op survives encode -> decode unchanged.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natter_proto::{Limits, RouteOp, RouteParser};

#[path = "common/stream.rs"]
mod stream;

fuzz_target!(|data: &[u8]| stream::check_stream::<RouteParser>(data, check));

fn check(op: &RouteOp, limits: &Limits) {
    if let RouteOp::RMsg {
        headers, payload, ..
    } = op
    {
        let header_len = headers.as_ref().map_or(0, |h| h.len());
        assert!(header_len + payload.len() <= limits.max_payload);
    }
    // Re-encoding may lengthen INFO and CONNECT (defaults written out), so decode with the
    // default limits.
    let mut wire = BytesMut::new();
    op.encode(&mut wire);
    let mut parser = RouteParser::new(Limits::default());
    let again = parser
        .decode(&mut wire)
        .unwrap_or_else(|e| panic!("re-encoded route op {op:?} does not decode: {e:?}"))
        .unwrap_or_else(|| panic!("re-encoded route op {op:?} is an incomplete frame"));
    assert_eq!(&again, op, "decode(encode(op)) differs");
    assert!(wire.is_empty(), "bytes left after a re-encoded op");
}
