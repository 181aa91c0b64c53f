//! Sublist benchmarks after nats-server's own (`server/sublist_test.go`): insert, and
//! match on a cache hit and on a cache miss, in tries of 10k and 100k subscriptions that
//! mix literal tokens with `*` and `>`.
//!
//! Run with `cargo bench -p natter-sublist`; measurement times are short so the whole
//! run stays under about three minutes. On a machine shared with other work, set
//! `NATTER_BENCH_CLOCK=cpu` (Linux) to time with this thread's CPU time instead of the
//! wall clock: time spent descheduled then no longer counts, which approximates an idle
//! machine (cache pollution by the other work still shows). That clock, read from
//! `/proc/thread-self/schedstat`, advances in scheduler ticks of a few milliseconds, so
//! this mode takes ten equal samples of about 200 ms each, keeping the error near 2%.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::Measurement;

#[path = "../../../benches/support/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::{cpu_clock, ThreadCpuTime};
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use natter_sublist::Sublist;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Token choices per position: a few applications, more services, many entities, as
/// subjects like `orders.eu.customer-42.created` spread out in real deployments. Wide
/// enough that subscriptions rarely collide, so a match returns a handful of
/// subscribers, as in nats-server's benchmarks, rather than hundreds.
const WIDTHS: [usize; 5] = [10, 100, 1000, 1000, 100];

fn token(rng: &mut StdRng, level: usize) -> String {
    format!("t{level}x{}", rng.random_range(0..WIDTHS[level]))
}

/// A subscription subject of 3-5 tokens; one token in a hundred is `*` and one subject
/// in a hundred ends in `>`, so about 5% of subscriptions use a wildcard.
fn pattern(rng: &mut StdRng) -> String {
    let len = rng.random_range(3..=5);
    let mut tokens: Vec<String> = (0..len)
        .map(|l| {
            if rng.random_bool(0.01) {
                "*".to_string()
            } else {
                token(rng, l)
            }
        })
        .collect();
    if rng.random_bool(0.01) {
        *tokens.last_mut().expect("at least two tokens") = ">".to_string();
    }
    tokens.join(".")
}

/// A publish subject: mostly one that some subscription covers (publishers publish where
/// someone listens), otherwise a random one.
fn literal(rng: &mut StdRng, subs: &[String]) -> String {
    if rng.random_bool(0.8) {
        let sub = &subs[rng.random_range(0..subs.len())];
        let mut out: Vec<String> = Vec::new();
        for (l, t) in sub.split('.').enumerate() {
            match t {
                "*" => out.push(token(rng, l)),
                ">" => {
                    for extra in l..rng.random_range(l + 1..=5) {
                        out.push(token(rng, extra));
                    }
                }
                t => out.push(t.to_string()),
            }
        }
        out.join(".")
    } else {
        let len = rng.random_range(3..=5);
        (0..len)
            .map(|l| token(rng, l))
            .collect::<Vec<_>>()
            .join(".")
    }
}

fn patterns(n: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(n as u64);
    (0..n).map(|_| pattern(&mut rng)).collect()
}

fn literals(n: usize, seed: u64, subs: &[String]) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| literal(&mut rng, subs)).collect()
}

fn filled(subs: &[String], cache: usize) -> Sublist<u64> {
    let list = Sublist::with_cache_capacity(cache);
    for (i, s) in subs.iter().enumerate() {
        list.insert(s.as_bytes(), None, i as u64)
            .expect("generated subjects are valid");
    }
    list
}

/// Applies the timing settings; with the coarse CPU clock every sample must be long.
fn timing<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, measure: Duration) {
    group.warm_up_time(Duration::from_millis(500));
    if cpu_clock() {
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(2));
    } else {
        group.measurement_time(measure);
    }
}

fn sizes() -> [(usize, &'static str); 2] {
    [(10_000, "10k"), (100_000, "100k")]
}

fn insert<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("insert");
    group.sample_size(10);
    timing(&mut group, Duration::from_secs(3));
    for (n, name) in sizes() {
        let subs = patterns(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                Sublist::<u64>::new,
                |list| {
                    for (i, s) in subs.iter().enumerate() {
                        list.insert(s.as_bytes(), None, i as u64).expect("valid");
                    }
                    list
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn match_cache_hit<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("match_cache_hit");
    timing(&mut group, Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    for (n, name) in sizes() {
        let subs = patterns(n);
        let list = filled(&subs, natter_sublist::DEFAULT_CACHE_CAPACITY);
        // Fewer hot subjects than cache slots, so every lookup after warm-up hits.
        let hot = literals(256, 7, &subs);
        for s in &hot {
            list.matches(s.as_bytes());
        }
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 255;
                black_box(list.matches(black_box(hot[i].as_bytes())))
            })
        });
        group.bench_function(format!("{name}/has_interest"), |b| {
            b.iter(|| {
                i = (i + 1) & 255;
                black_box(list.has_interest(black_box(hot[i].as_bytes())))
            })
        });
    }
    group.finish();
}

fn match_cache_miss<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("match_cache_miss");
    timing(&mut group, Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    // Many more distinct subjects than cache slots: nearly every lookup misses, walks the
    // trie, stores its result and now and then sweeps the cache.
    for (n, name) in sizes() {
        let subs = patterns(n);
        let cold = literals(200_000, 11, &subs);
        let cached = filled(&subs, natter_sublist::DEFAULT_CACHE_CAPACITY);
        // A hit leaves the cache's length as it was, while a miss adds an entry or sweeps
        // a shard, so one pass over the rotation counts the hits the timed loop would see.
        let hits = cold
            .iter()
            .filter(|s| {
                let before = cached.cache_len();
                cached.matches(s.as_bytes());
                cached.cache_len() == before
            })
            .count();
        eprintln!(
            "{name}: {hits} of {} lookups in the rotation hit the cache",
            cold.len()
        );
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % cold.len();
                black_box(cached.matches(black_box(cold[i].as_bytes())))
            })
        });
        drop(cached);
        // The trie walk alone, with the cache switched off.
        let uncached = filled(&subs, 0);
        let sample = &cold[..10_000];
        let fanout: usize = sample
            .iter()
            .map(|s| uncached.matches(s.as_bytes()).len())
            .sum();
        let hits = sample
            .iter()
            .filter(|s| uncached.has_interest(s.as_bytes()))
            .count();
        eprintln!(
            "{name}: {:.2} subscriptions per match on average, {}% of subjects with interest",
            fanout as f64 / sample.len() as f64,
            hits * 100 / sample.len()
        );
        group.bench_function(format!("{name}/no_cache"), |b| {
            b.iter(|| {
                i = (i + 1) % cold.len();
                black_box(uncached.matches(black_box(cold[i].as_bytes())))
            })
        });
        group.bench_function(format!("{name}/has_interest"), |b| {
            b.iter(|| {
                i = (i + 1) % cold.len();
                black_box(uncached.has_interest(black_box(cold[i].as_bytes())))
            })
        });
        drop(uncached);
        // 4096 subjects cycled in order still miss a 1024-entry cache every time, but the
        // parts of the trie they reach stay in the CPU caches, as for a server whose
        // publishers use a few thousand subjects.
        let cached = filled(&subs, natter_sublist::DEFAULT_CACHE_CAPACITY);
        let few = &cold[..4096];
        group.bench_function(format!("{name}/4096_subjects"), |b| {
            b.iter(|| {
                i = (i + 1) % few.len();
                black_box(cached.matches(black_box(few[i].as_bytes())))
            })
        });
    }
    group.finish();
}

fn run<M: Measurement>(mut c: Criterion<M>) {
    insert(&mut c);
    match_cache_hit(&mut c);
    match_cache_miss(&mut c);
    c.final_summary();
}

fn main() {
    if cpu_clock() {
        run(Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args());
    } else {
        run(Criterion::default().configure_from_args());
    }
}
