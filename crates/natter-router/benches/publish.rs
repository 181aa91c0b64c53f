//! Publish path benchmarks: a 16 B message to no subscriber, one, four, and a queue group
//! of four, all socket sessions in one account. `publish_16b` goes through
//! `Client::publish` (the in-process API, shared match cache under a lock);
//! `read_path_16b` through the session's own `Ingest` (`Ingest::publish`), as
//! the server's connection reader publishes (counts settled once per batch, as per read).
//!
//! Each iteration publishes a batch of [`BATCH`] messages, then drains every
//! subscriber's outbound as a connection writer would (take, report written), so
//! pending bytes stay far below the stall mark and the figure is per message routed.
//!
//! Run with `cargo bench -p natter-router --bench publish`. On a machine shared with
//! other work, set `NATTER_BENCH_CLOCK=cpu` (Linux) to time with this thread's CPU time
//! instead of the wall clock, as the sublist benchmarks do; that clock advances in
//! scheduler ticks, so this mode takes ten samples of about 200 ms each.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::measurement::Measurement;

#[path = "../../../benches/support/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::{cpu_clock, ThreadCpuTime};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use natter_proto::{Connect, PubRef};
use natter_router::{Client, ClientInfo, Router, RouterOptions};

/// Messages published per iteration, between two drains of the subscribers' outbounds.
const BATCH: usize = 256;

fn session(router: &Router) -> Arc<Client> {
    let c = router.register(
        &router.global_account(),
        ClientInfo {
            host: "127.0.0.1".into(),
            port: 40000,
            ..Default::default()
        },
    );
    c.set_connect(&Connect {
        verbose: false,
        pedantic: false,
        headers: true,
        ..Connect::default()
    });
    c
}

/// A publisher plus `plain` plain subscribers and `queued` members of one queue group,
/// all on `bench.subject`, in a trie that also holds unrelated subscriptions.
fn setup(plain: usize, queued: usize) -> (Router, Arc<Client>, Vec<Arc<Client>>) {
    let router = Router::new(RouterOptions::default());
    let publisher = session(&router);
    let others = session(&router);
    for i in 0..100 {
        others
            .subscribe(
                Bytes::from(format!("o{i}")),
                Bytes::from(format!("other.{i}.*")),
                None,
            )
            .expect("subscribe");
    }
    let mut subs = Vec::new();
    for i in 0..plain + queued {
        let s = session(&router);
        let queue = (i >= plain).then(|| Bytes::from_static(b"workers"));
        s.subscribe(
            Bytes::from_static(b"1"),
            Bytes::from_static(b"bench.*"),
            queue,
        )
        .expect("subscribe");
        subs.push(s);
    }
    (router, publisher, subs)
}

/// Name, plain subscribers, queue group members.
const SCENARIOS: [(&str, usize, usize); 4] = [
    ("no_subscriber", 0, 0),
    ("1_subscriber", 1, 0),
    ("4_subscribers", 4, 0),
    ("queue_group_of_4", 0, 4),
];

fn drain(subs: &[Arc<Client>], scratch: &mut BytesMut) {
    for s in subs {
        s.outbound().take(scratch);
        let n = scratch.len();
        scratch.clear();
        s.outbound().written(n);
    }
}

fn publish<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("publish_16b");
    timing(&mut group);
    group.throughput(Throughput::Elements(BATCH as u64));
    let subject = Bytes::from_static(b"bench.subject");
    let payload = Bytes::from_static(&[b'x'; 16]);
    for (name, plain, queued) in SCENARIOS {
        let (_router, publisher, subs) = setup(plain, queued);
        let mut scratch = BytesMut::with_capacity(64 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    publisher
                        .publish(black_box(&subject), None, None, black_box(&payload))
                        .expect("publish");
                }
                drain(&subs, &mut scratch);
            })
        });
        for s in &subs {
            assert!(!s.is_closed(), "{name}: a subscriber was closed");
        }
    }
    group.finish();
}

fn read_path<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("read_path_16b");
    timing(&mut group);
    group.throughput(Throughput::Elements(BATCH as u64));
    let payload = [b'x'; 16];
    for (name, plain, queued) in SCENARIOS {
        let (_router, publisher, subs) = setup(plain, queued);
        let mut ingest = publisher.ingest();
        let mut scratch = BytesMut::with_capacity(64 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let m = PubRef {
                        subject: black_box(b"bench.subject"),
                        reply: None,
                        headers: None,
                        payload: black_box(&payload),
                    };
                    ingest.publish(m).expect("publish");
                }
                ingest.settle();
                drain(&subs, &mut scratch);
            })
        });
        for s in &subs {
            assert!(!s.is_closed(), "{name}: a subscriber was closed");
        }
    }
    group.finish();
}

/// Applies the timing settings; with the coarse CPU clock every sample must be long.
fn timing<M: Measurement>(group: &mut BenchmarkGroup<'_, M>) {
    group.warm_up_time(Duration::from_millis(500));
    if cpu_clock() {
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(2));
    } else {
        group.measurement_time(Duration::from_secs(3));
    }
}

fn main() {
    if cpu_clock() {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        publish(&mut c);
        read_path(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        publish(&mut c);
        read_path(&mut c);
        c.final_summary();
    }
}
