//! A criterion measurement that times the benchmark thread's CPU time instead of wall
//! time, shared by the crate benches (`NATTER_BENCH_CLOCK=cpu`): on a machine busy with
//! builds, wall time mostly measures the scheduler. Linux only (reads
//! `/proc/thread-self/schedstat`). Included with `#[path]`, so it stays one file.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// Whether `NATTER_BENCH_CLOCK=cpu` asks for thread CPU time.
pub fn cpu_clock() -> bool {
    std::env::var_os("NATTER_BENCH_CLOCK").is_some_and(|v| v == "cpu")
}

/// The calling thread's CPU time, as the scheduler accounts it.
pub struct ThreadCpuTime;

static WALL: WallTime = WallTime;

fn thread_cpu_now() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux /proc/thread-self/schedstat");
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat starts with run time in ns");
    Duration::from_nanos(nanos)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}
