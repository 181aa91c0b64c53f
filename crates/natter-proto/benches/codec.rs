//! Codec benchmarks: PUB decode (single frames and a batch in one buffer) and MSG encode.
//!
//! Run with `cargo bench -p natter-proto`. Measurement times are short so the whole run
//! stays well under two minutes; pass `--measurement-time` for steadier figures.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use natter_proto::{encode, ClientOp, ClientParser, Limits};

const SIZES: [usize; 3] = [16, 128, 1024];
const BATCH: usize = 1000;

fn pub_frame(size: usize) -> Vec<u8> {
    let mut v = format!("PUB orders.eu.created _INBOX.reply.42 {size}\r\n").into_bytes();
    v.extend(std::iter::repeat_n(b'x', size));
    v.extend_from_slice(b"\r\n");
    v
}

/// A read buffer as the server holds it after its first split: already in the shared
/// representation, so the measurement is the parser, not `BytesMut`'s one-time promotion.
fn read_buffer(bytes: &[u8]) -> BytesMut {
    let mut buf = BytesMut::from(bytes);
    let _ = buf.split_to(0);
    buf
}

fn decode_pub(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_pub");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    for size in SIZES {
        let frame = pub_frame(size);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{size}B"), |b| {
            let mut parser = ClientParser::new(Limits::default());
            b.iter_batched(
                || read_buffer(&frame),
                |mut buf| {
                    let op = parser.decode(&mut buf).unwrap();
                    debug_assert!(matches!(op, Some(ClientOp::Pub { .. })));
                    (op, buf)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn decode_pub_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_pub_batch");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    for size in SIZES {
        let stream: Vec<u8> = (0..BATCH).flat_map(|_| pub_frame(size)).collect();
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function(format!("{BATCH}x{size}B"), |b| {
            let mut parser = ClientParser::new(Limits::default());
            b.iter_batched(
                || read_buffer(&stream),
                |mut buf| {
                    let mut n = 0usize;
                    while let Some(op) = parser.decode(&mut buf).unwrap() {
                        black_box(&op);
                        n += 1;
                    }
                    assert_eq!(n, BATCH);
                    buf
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn encode_msg(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_msg");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    for size in SIZES {
        let payload = vec![b'x'; size];
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{size}B"), |b| {
            let mut out = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                if out.len() > 60 * 1024 {
                    out.clear();
                }
                encode::msg(
                    &mut out,
                    black_box(b"orders.eu.created"),
                    black_box(b"17"),
                    Some(black_box(b"_INBOX.reply.42")),
                    black_box(&payload),
                );
            })
        });
    }
    g.finish();
}

// `criterion_group!` defines a public fn that cannot carry a doc comment.
#[allow(missing_docs)]
mod harness {
    use super::*;
    criterion_group!(benches, decode_pub, decode_pub_batch, encode_msg);
}
criterion_main!(harness::benches);
