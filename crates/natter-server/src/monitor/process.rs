//! Process figures for `/varz`: resident memory, CPU use and core count, read from
//! `/proc` at request time (0 where `/proc` is missing).

use std::time::Instant;

use parking_lot::Mutex;

/// The kernel reports CPU times in clock ticks of `USER_HZ`, which Linux fixes at 100 for
/// every architecture's user-space ABI.
const TICKS_PER_SEC: f64 = 100.0;

/// A CPU sample shorter than this reuses the previous figure: two scrapes a few
/// milliseconds apart would otherwise give wildly noisy percentages.
const MIN_WINDOW_SECS: f64 = 1.0;

/// Resident set size in bytes. `VmRSS` in `/proc/self/status` holds the same figure as the
/// second field of `/proc/self/statm`, but in kB rather than pages, so no page size lookup
/// (a libc call) is needed.
pub(crate) fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User plus system CPU seconds this process has used (`/proc/self/stat` fields 14, 15).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Logical CPUs this process may run on (Go's `runtime.NumCPU`).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU use in percent of one core over the time since the previous sample (like `ps`
/// and nats-server: 100 = one core busy).
pub(crate) struct CpuSampler {
    last: Mutex<Sample>,
}

struct Sample {
    at: Instant,
    cpu: f64,
    percent: f64,
}

impl CpuSampler {
    pub(crate) fn new() -> Self {
        CpuSampler {
            last: Mutex::new(Sample {
                at: Instant::now(),
                cpu: cpu_seconds().unwrap_or(0.0),
                percent: 0.0,
            }),
        }
    }

    pub(crate) fn percent(&self) -> f64 {
        let Some(cpu) = cpu_seconds() else {
            return 0.0;
        };
        let now = Instant::now();
        let mut last = self.last.lock();
        let wall = now.duration_since(last.at).as_secs_f64();
        if wall < MIN_WINDOW_SECS {
            return last.percent;
        }
        let percent = ((cpu - last.cpu).max(0.0) / wall * 100.0 * 100.0).round() / 100.0;
        *last = Sample {
            at: now,
            cpu,
            percent,
        };
        percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_plausible() {
        let rss = rss_bytes();
        assert!(
            rss > 1024 * 1024,
            "a test process uses more than 1 MiB: {rss}"
        );
        assert!(cpu_seconds().is_some());
        assert!(cores() >= 1);
    }

    #[test]
    fn busy_process_shows_cpu() {
        let sampler = CpuSampler::new();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 1200 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(7));
        }
        std::hint::black_box(x);
        let p = sampler.percent();
        assert!(p > 10.0, "spinning for 1.2 s shows as CPU use: {p}");
    }
}
