//! `natter bench`: a load generator shaped like `nats bench` (publishers and subscribers on
//! their own connections, per-client and aggregate rates, CSV output), plus request/reply
//! latency percentiles.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::{Client, Event, RequestErrorKind, Subscriber};
use bytes::Bytes;
use clap::ArgMatches;
use futures::StreamExt;
use tokio::sync::{oneshot, watch};

use crate::common::{
    commas, go_duration, human_bytes, log, parse_size, round_trip, Failure, Global, Outcome,
};
use crate::wire::{self, Endpoint, Wire};

/// What `nats bench` measures for one client: messages of the job, their bytes, and when the
/// client started and finished.
#[derive(Clone, Copy, Debug)]
struct Sample {
    msgs: u64,
    bytes: u64,
    start: Instant,
    end: Instant,
}

impl Sample {
    fn seconds(&self) -> f64 {
        self.end
            .saturating_duration_since(self.start)
            .as_secs_f64()
            .max(1e-9)
    }
    fn rate(&self) -> i64 {
        (self.msgs as f64 / self.seconds()) as i64
    }
    fn throughput(&self) -> f64 {
        self.bytes as f64 / self.seconds()
    }
    fn describe(&self) -> String {
        format!(
            "{} msgs/sec ~ {}/sec",
            commas(self.rate()),
            human_bytes(self.throughput())
        )
    }
    /// The clients' totals over the span from the earliest start to the latest end. A client
    /// that got no message (a queue member the group never chose, a replier no request
    /// reached) has no span of its own, only the moment it was ready, so it is left out of
    /// the timing.
    fn merge(samples: &[Sample]) -> Option<Sample> {
        let mut timed = samples.iter().filter(|s| s.msgs > 0);
        let Some(first) = timed.next() else {
            return samples.first().map(|s| Sample {
                msgs: 0,
                bytes: 0,
                ..*s
            });
        };
        Some(timed.fold(*first, |acc, s| Sample {
            msgs: acc.msgs + s.msgs,
            bytes: acc.bytes + s.bytes,
            start: acc.start.min(s.start),
            end: acc.end.max(s.end),
        }))
    }
}

/// `min | avg | max | stddev` of the per-client rates, as nats bench computes them.
fn statistics(samples: &[Sample]) -> String {
    let rates: Vec<i64> = samples.iter().map(Sample::rate).collect();
    let min = rates.iter().copied().min().unwrap_or(0);
    let max = rates.iter().copied().max().unwrap_or(0);
    let avg = rates.iter().sum::<i64>() / rates.len().max(1) as i64;
    let var = rates
        .iter()
        .map(|r| (*r as f64 - avg as f64).powi(2))
        .sum::<f64>()
        / rates.len().max(1) as f64;
    format!(
        "min {} | avg {} | max {} | stddev {} msgs",
        commas(min),
        commas(avg),
        commas(max),
        commas(var.sqrt() as i64)
    )
}

/// Spreads `total` messages over `clients` as evenly as possible (the first ones get the rest).
fn split(total: u64, clients: usize) -> Vec<u64> {
    let n = clients as u64;
    (0..n)
        .map(|i| total / n + u64::from(i < total % n))
        .collect()
}

/// Latency figures of one publisher (or of all of them), in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Latency {
    min: u64,
    avg: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    count: usize,
}

impl Latency {
    /// `sorted` must be sorted ascending and non-empty. Nearest-rank percentiles.
    fn of(sorted: &[u64]) -> Option<Latency> {
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        // Per-mille in integers: float rounding would turn 99.9% of 1000 into rank 1000.
        let pct = |per_mille: usize| sorted[(per_mille * n).div_ceil(1000).clamp(1, n) - 1];
        Some(Latency {
            min: sorted[0],
            avg: (sorted.iter().map(|v| *v as u128).sum::<u128>() / n as u128) as u64,
            p50: pct(500),
            p90: pct(900),
            p99: pct(990),
            p999: pct(999),
            max: sorted[n - 1],
            count: n,
        })
    }
    fn csv(&self) -> String {
        let us = |ns: u64| format!("{:.3}", ns as f64 / 1e3);
        [
            self.min, self.avg, self.p50, self.p90, self.p99, self.p999, self.max,
        ]
        .iter()
        .map(|v| us(*v))
        .collect::<Vec<_>>()
        .join(",")
    }
}

fn ns(v: u64) -> String {
    go_duration(Duration::from_nanos(v))
}

struct Settings {
    subject: String,
    pubs: usize,
    subs: usize,
    msgs: u64,
    size: usize,
    request: bool,
    /// Queue group the subscribers (or repliers) join.
    queue: Option<String>,
    csv: Option<String>,
    progress: bool,
    /// Clients speak the protocol themselves ([`wire`]) rather than use async-nats.
    wire: bool,
}

/// One client's live counter, read by the progress bar and the stall watchdog.
type Counter = Arc<AtomicU64>;

/// A requester's sample and its round-trip times in nanoseconds.
type Timed = (Sample, Vec<u64>);

/// The largest `--size` accepted: 64 MiB.
const MAX_SIZE: usize = 64 << 20;

/// Round-trip times are kept per request; vectors start at most this large and grow.
const PREALLOC_LIMIT: u64 = 1 << 20;

pub(crate) async fn run(g: &Global, m: &ArgMatches) -> Outcome {
    let size = parse_size(m.get_one::<String>("size").map_or("128", |s| s.as_str()))
        .map_err(|e| Failure::new(format!("--size: {e}")))?;
    // No NATS server accepts a larger payload (nats-server caps max_payload at 64 MB); the
    // check comes before the payload buffer is allocated.
    if size > MAX_SIZE {
        return Err(Failure::new(format!(
            "--size: {size} bytes is larger than any server's max_payload (at most {MAX_SIZE})"
        )));
    }
    let s = Settings {
        subject: m.get_one::<String>("subject").cloned().unwrap_or_default(),
        pubs: *m.get_one::<usize>("pub").unwrap_or(&1),
        subs: *m.get_one::<usize>("sub").unwrap_or(&0),
        msgs: *m.get_one::<u64>("msgs").unwrap_or(&100_000),
        size,
        request: m.get_flag("request"),
        queue: m.get_one::<String>("queue").cloned(),
        csv: m.get_one::<String>("csv").cloned(),
        progress: !m.get_flag("no-progress") && std::io::stderr().is_terminal(),
        wire: m.get_one::<String>("client").is_none_or(|c| c == "wire"),
    };
    // Bad login flags fail here, whichever client the run uses.
    g.options("natter bench")?;
    if s.subject.is_empty() || s.subject.contains(char::is_whitespace) {
        return Err(Failure::new(format!("invalid subject {:?}", s.subject)));
    }
    if let Some(q) = &s.queue {
        if q.is_empty() || q.contains(char::is_whitespace) {
            return Err(Failure::new(format!("invalid queue group {q:?}")));
        }
        if s.subs == 0 {
            return Err(Failure::new("--queue needs at least one --sub subscriber"));
        }
    }
    if s.msgs == 0 {
        return Err(Failure::new("--msgs must be greater than 0"));
    }
    if s.pubs == 0 && s.subs == 0 {
        return Err(Failure::new("nothing to do: --pub and --sub are both 0"));
    }
    if s.request && (s.pubs == 0 || s.subs == 0) {
        return Err(Failure::new(
            "--request needs at least one --pub requester and one --sub replier",
        ));
    }
    if (s.pubs as u64) > s.msgs {
        return Err(Failure::new(
            "--msgs must be at least the number of publishers",
        ));
    }
    let kind = if s.request {
        "request/reply"
    } else {
        "pub/sub"
    };
    let queue = s
        .queue
        .as_ref()
        .map_or(String::new(), |q| format!(", queue={q}"));
    // Which clients the run uses: the wire client unless asked otherwise or the URL is one it
    // does not take (a server that requires TLS is found only on connecting, and said then).
    let endpoint = endpoint(g, &s);
    log(format_args!(
        "Starting Core NATS {kind} benchmark [subject={}, msgs={}, msgsize={} B, pubs={}, subs={}{queue}, client={}]",
        s.subject,
        commas(s.msgs as i64),
        s.size,
        s.pubs,
        s.subs,
        if endpoint.is_some() { "wire" } else { "async-nats" }
    ));
    let open_files = raise_open_file_limit();
    let report = if s.request {
        request_reply(g, &s, endpoint.as_ref()).await
    } else {
        pub_sub(g, &s, endpoint.as_ref()).await
    }
    .map_err(|e| explain_open_files(e, s.pubs + s.subs, open_files))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(report.text(&s).as_bytes());
        let _ = out.flush();
    }
    if let Some(path) = &s.csv {
        std::fs::write(path, report.csv(&s))
            .map_err(|e| Failure::new(format!("cannot write {path}: {e}")))?;
        log(format_args!("Saved metric data in csv file {path}"));
    }
    Ok(())
}

/// Raises this process's soft limit on open files to the hard limit, as `nats bench` does:
/// every pub/sub client has a thread, a runtime and a connection of its own, about five file
/// descriptors each, so a few hundred clients pass the usual soft limit of 1024. Failure is
/// ignored (the run then meets the old limit). Returns the soft limit in force afterwards,
/// `None` when unlimited.
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// Says, when `failure` is the process running out of file descriptors, how many clients
/// were asked for and how to allow more.
fn explain_open_files(failure: Failure, clients: usize, limit: Option<u64>) -> Failure {
    let m = &failure.message;
    if !(m.contains("Too many open files") || m.contains("os error 24")) {
        return failure;
    }
    let limit = limit.map_or(String::new(), |l| format!(" of {l}"));
    Failure {
        message: format!(
            "{m}: {clients} clients were asked for, each with a thread, a runtime and a \
             connection of its own (about 5 file descriptors), beyond this process's limit{limit} \
             on open files; raise it with `ulimit -n` (up to the hard limit, `ulimit -Hn`) or \
             run fewer clients"
        ),
        code: failure.code,
    }
}

struct Report {
    pubs: Vec<Sample>,
    subs: Vec<Sample>,
    /// Per publisher, request/reply mode only.
    latencies: Vec<Latency>,
    all_latency: Option<Latency>,
}

impl Report {
    fn text(&self, s: &Settings) -> String {
        let mut out = String::from("\n");
        let mut indent = "";
        let both = !self.pubs.is_empty() && !self.subs.is_empty();
        if both {
            let all: Vec<Sample> = self.pubs.iter().chain(&self.subs).copied().collect();
            if let Some(agg) = Sample::merge(&all) {
                out += &format!("NATS Pub/Sub stats: {}\n", agg.describe());
            }
            indent = " ";
        }
        for (label, group) in [("Pub", &self.pubs), ("Sub", &self.subs)] {
            let Some(agg) = Sample::merge(group) else {
                continue;
            };
            out += &format!("{indent}{label} stats: {}\n", agg.describe());
            if group.len() > 1 {
                for (i, c) in group.iter().enumerate() {
                    out += &format!("{indent} [{}] {} ({} msgs)\n", i + 1, c.describe(), c.msgs);
                }
                out += &format!("{indent} {}\n", statistics(group));
            }
        }
        if let Some(l) = &self.all_latency {
            out += &format!(
                "{indent}Request latency ({} requests of {} B): min {} | avg {} | max {}\n",
                commas(l.count as i64),
                s.size,
                ns(l.min),
                ns(l.avg),
                ns(l.max)
            );
            out += &format!(
                "{indent} p50 {} | p90 {} | p99 {} | p99.9 {}\n",
                ns(l.p50),
                ns(l.p90),
                ns(l.p99),
                ns(l.p999)
            );
        }
        out
    }

    fn csv(&self, s: &Settings) -> String {
        let run_id = format!(
            "{}-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            std::process::id()
        );
        let mut out =
            String::from("#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs");
        if s.request {
            out += ",LatencyMinUs,LatencyAvgUs,LatencyP50Us,LatencyP90Us,LatencyP99Us,LatencyP999Us,LatencyMaxUs";
        }
        out.push('\n');
        let mut row = |id: String, c: &Sample, latency: Option<&Latency>| {
            out += &format!(
                "{run_id},{id},{},{},{},{:.6},{:.6}",
                c.msgs,
                c.bytes,
                c.rate(),
                c.throughput(),
                c.seconds()
            );
            if s.request {
                match latency {
                    Some(l) => out += &format!(",{}", l.csv()),
                    None => out += ",,,,,,,",
                }
            }
            out.push('\n');
        };
        for (i, c) in self.subs.iter().enumerate() {
            row(format!("S{i}"), c, None);
        }
        for (i, c) in self.pubs.iter().enumerate() {
            row(format!("P{i}"), c, self.latencies.get(i));
        }
        out
    }
}

/// Commands a benchmark client may queue for its connection task. The client and the
/// connection task share a thread (see [`start_client`]), so a publisher fills this queue and
/// the connection task then turns it into socket writes of 64 KiB; a deeper queue only spreads
/// the same work over more memory than the CPU caches hold.
const CLIENT_CAPACITY: usize = 4096;

/// Connection options for benchmark clients: a subscription buffer deep enough that a
/// subscriber which falls behind for a moment does not lose messages.
async fn bench_client(g: &Global, name: &str, drops: Option<Counter>) -> Outcome<Client> {
    let mut o = g
        .options(name)?
        .client_capacity(CLIENT_CAPACITY)
        .subscription_capacity(1 << 22)
        .skip_subject_validation(true);
    if let Some(drops) = drops {
        o = o.event_callback(move |e| {
            let drops = drops.clone();
            async move {
                if let Event::SlowConsumer(_) = e {
                    drops.fetch_add(1, Relaxed);
                }
            }
        });
    }
    g.connect_with(o).await
}

/// Runs one benchmark client on an OS thread of its own, in a single-threaded runtime.
/// async-nats spawns a connection task next to the caller, so the client's loop and its
/// connection task share the thread: a publisher queues commands until the queue is full and
/// the connection task then writes them out in large batches, and a subscriber drains what its
/// connection task has just read, with no wakeup passed between threads for each message.
/// `setup` connects (and subscribes) and must succeed before [`start_client`] returns; `job`
/// then runs, and its result arrives on the returned receiver. Dropping that receiver stops
/// the client.
async fn start_client<C, T, S, SF, J, JF>(
    thread: String,
    setup: S,
    job: J,
) -> Outcome<oneshot::Receiver<Outcome<T>>>
where
    C: 'static,
    T: Send + 'static,
    S: FnOnce() -> SF + Send + 'static,
    SF: Future<Output = Outcome<C>> + 'static,
    J: FnOnce(C) -> JF + Send + 'static,
    JF: Future<Output = Outcome<T>> + 'static,
{
    let (ready_tx, ready_rx) = oneshot::channel::<Outcome<()>>();
    let (mut result_tx, result_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(thread)
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(Failure::new(format!(
                        "cannot start a benchmark runtime: {e}"
                    ))));
                    return;
                }
            };
            let out = runtime.block_on(async {
                let run = async {
                    let state = match setup().await {
                        Ok(state) => state,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return None;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    Some(job(state).await)
                };
                tokio::select! {
                    out = run => out,
                    _ = result_tx.closed() => None,
                }
            });
            if let Some(out) = out {
                let _ = result_tx.send(out);
            }
        })
        .map_err(|e| Failure::new(format!("cannot start a benchmark thread: {e}")))?;
    ready_rx
        .await
        .map_err(|_| Failure::new("benchmark thread failed"))??;
    Ok(result_rx)
}

/// Waits for the results of clients started by [`start_client`].
/// The results in the clients' order; the first failure, as soon as any client fails (the
/// caller then drops the other receivers, which stops those clients).
async fn join_all<T>(results: Vec<oneshot::Receiver<Outcome<T>>>) -> Outcome<Vec<T>> {
    let mut pending: futures::stream::FuturesUnordered<_> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| async move { (i, r.await) })
        .collect();
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None)
        .take(pending.len())
        .collect();
    while let Some((i, r)) = pending.next().await {
        out[i] = Some(r.map_err(|_| Failure::new("benchmark thread failed"))??);
    }
    Ok(out.into_iter().flatten().collect())
}

struct Progress {
    enabled: bool,
    total: u64,
    started: Instant,
    shown: bool,
}

impl Progress {
    fn draw(&mut self, done: u64) {
        // Short runs finish before a bar would help; only draw after the first second.
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let width = 40usize;
        let frac = (done as f64 / self.total.max(1) as f64).min(1.0);
        let filled = (frac * width as f64) as usize;
        let bar: String = (0..width)
            .map(|i| if i < filled { '=' } else { ' ' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r[{bar}] {:>3.0}% {}/{} msgs ",
            frac * 100.0,
            commas(done as i64),
            commas(self.total as i64)
        );
        let _ = err.flush();
        self.shown = true;
    }
    fn finish(&mut self) {
        if self.shown {
            let _ = writeln!(std::io::stderr());
            self.shown = false;
        }
    }
}

/// Watches the counters while `work` runs: draws progress and fails when nothing moved for
/// the stall timeout (or on Ctrl-C), naming what each client got.
async fn supervise<T>(
    g: &Global,
    work: impl std::future::Future<Output = T>,
    counters: &[(String, Counter, u64)],
    waiting_for_outside: bool,
    drops: &Counter,
    progress: &mut Progress,
) -> Outcome<T> {
    tokio::pin!(work);
    let stall = g.timeout.max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_total = 0u64;
    let mut last_change = Instant::now();
    let total_expected: u64 = counters.iter().map(|c| c.2).sum();
    loop {
        tokio::select! {
            out = &mut work => {
                progress.draw(total_expected);
                progress.finish();
                return Ok(out);
            }
            _ = tick.tick() => {
                let total: u64 = counters.iter().map(|c| c.1.load(Relaxed)).sum();
                progress.draw(total);
                if total != last_total {
                    last_total = total;
                    last_change = Instant::now();
                } else if (total > 0 || !waiting_for_outside) && last_change.elapsed() >= stall {
                    progress.finish();
                    let detail: Vec<String> = counters
                        .iter()
                        .filter(|c| c.1.load(Relaxed) < c.2)
                        .map(|(name, n, want)| {
                            format!("{name} got {} of {}", commas(n.load(Relaxed) as i64), commas(*want as i64))
                        })
                        .collect();
                    let dropped = drops.load(Relaxed);
                    let hint = if dropped > 0 {
                        format!(" ({dropped} slow-consumer events in the client)")
                    } else {
                        String::new()
                    };
                    return Err(Failure::new(format!(
                        "benchmark stalled: no progress for {}: {}{hint}",
                        go_duration(stall),
                        detail.join(", ")
                    )));
                }
            }
            _ = tokio::signal::ctrl_c() => {
                progress.finish();
                return Err(Failure::new("interrupted"));
            }
        }
    }
}

/// The endpoint wire clients connect to, or `None` when the run uses async-nats (asked for,
/// or needed for the server URL; said once).
fn endpoint(g: &Global, s: &Settings) -> Option<Endpoint> {
    if !s.wire {
        return None;
    }
    match Endpoint::of(g) {
        Ok(ep) => Some(ep),
        Err(why) => {
            log(format_args!(
                "Using async-nats clients: the built-in wire client does not take {why}"
            ));
            None
        }
    }
}

async fn pub_sub(g: &Global, s: &Settings, endpoint: Option<&Endpoint>) -> Outcome<Report> {
    let size = s.size as u64;
    // One benchmark runs per process, so the subject and payload can be leaked to make them
    // `'static`: a static subject and `Bytes` are cloned by copying a pointer, where shared
    // ones would have their reference counts raised and dropped for every message. The
    // payload is made only if an async-nats publisher needs it.
    let subject: &'static str = Box::leak(s.subject.clone().into_boxed_str());
    static PAYLOAD: OnceLock<Bytes> = OnceLock::new();
    let payload = move || {
        PAYLOAD
            .get_or_init(|| {
                Bytes::from_static(Box::leak(vec![0u8; size as usize].into_boxed_slice()))
            })
            .clone()
    };
    let drops: Counter = Arc::default();
    let mut counters: Vec<(String, Counter, u64)> = Vec::new();
    let endpoint = endpoint.cloned();

    // Subscribers first, each confirmed by a round trip, so no message is published before
    // every subscription is in place.
    let mut sub_results = Vec::new();
    // In a queue group each message goes to one member, so only the group's total has a
    // target; it is the one counter the watchdog and the progress bar follow.
    let group_total: Counter = Arc::default();
    if let Some(q) = &s.queue {
        counters.push((format!("queue group {q}"), group_total.clone(), s.msgs));
    }
    let group_done = Arc::new(watch::channel(false).0);
    // When the publishers were let go: a wire subscriber's clock starts here (see
    // [`receive_wire`]).
    let go_at: Arc<OnceLock<Instant>> = Arc::default();
    for i in 0..s.subs {
        let n: Counter = Arc::default();
        if s.queue.is_none() {
            counters.push((format!("subscriber {}", i + 1), n.clone(), s.msgs));
        }
        let (g, drops, queue) = (g.clone(), drops.clone(), s.queue.clone());
        let group = s.queue.as_ref().map(|_| Group {
            total: group_total.clone(),
            done: group_done.clone(),
        });
        let expect = s.msgs;
        let endpoint = endpoint.clone();
        let go_at = go_at.clone();
        let setup = move || async move {
            let name = format!("NATTER BENCH SUB {}", i + 1);
            let what = format!("subscriber {}", i + 1);
            if let Some(mut w) = wire_client(endpoint.as_ref(), &name, &what).await? {
                w.subscribe(subject, queue.as_deref()).await?;
                return Ok(SubConn::Wire(w));
            }
            let c = bench_client(&g, &name, Some(drops)).await?;
            let sub = match queue {
                Some(q) => c.queue_subscribe(subject, q).await?,
                None => c.subscribe(subject).await?,
            };
            round_trip(&c, g.timeout).await?;
            Ok(SubConn::Nats(c, sub))
        };
        let job = move |conn: SubConn| async move {
            let counted = Counted {
                n,
                group,
                expect,
                size,
            };
            // Without a cooperative budget the subscriber takes everything that has been
            // read before it yields, not 128 messages at a time.
            match conn {
                SubConn::Wire(w) => {
                    tokio::task::unconstrained(receive_wire(w, counted, &go_at)).await
                }
                SubConn::Nats(client, sub) => {
                    let _keep = client;
                    tokio::task::unconstrained(receive(sub, counted)).await
                }
            }
        };
        sub_results.push(start_client(format!("bench-sub-{}", i + 1), setup, job).await?);
    }
    let (go, _) = watch::channel(false);
    let mut pub_results = Vec::new();
    for (i, count) in split(s.msgs, s.pubs).into_iter().enumerate() {
        let n: Counter = Arc::default();
        counters.push((format!("publisher {}", i + 1), n.clone(), count));
        let g = g.clone();
        let mut go = go.subscribe();
        let timeout = g.timeout;
        let endpoint = endpoint.clone();
        let setup = move || async move {
            let name = format!("NATTER BENCH PUB {}", i + 1);
            let what = format!("publisher {}", i + 1);
            if let Some(w) = wire_client(endpoint.as_ref(), &name, &what).await? {
                return Ok(PubConn::Wire(w.publisher(subject, size as usize)?));
            }
            let client = bench_client(&g, &name, None).await?;
            Ok(PubConn::Nats(client, payload()))
        };
        let job = move |conn: PubConn| async move {
            go.wait_for(|go| *go)
                .await
                .map_err(|_| Failure::new("benchmark cancelled"))?;
            let start = Instant::now();
            // The publisher is done when the server has everything it sent.
            let confirm = timeout.max(Duration::from_secs(30));
            match conn {
                PubConn::Wire(p) => p.run(count, &n, confirm).await?,
                PubConn::Nats(client, payload) => {
                    // Without a cooperative budget the loop runs until the command queue is
                    // full, then the connection task writes the whole queue out.
                    tokio::task::unconstrained(async {
                        for i in 1..=count {
                            client.publish(subject, payload.clone()).await?;
                            n.store(i, Relaxed);
                        }
                        Ok::<_, Failure>(())
                    })
                    .await?;
                    round_trip(&client, confirm).await?;
                }
            }
            Ok(Sample {
                msgs: count,
                bytes: count * size,
                start,
                end: Instant::now(),
            })
        };
        pub_results.push(start_client(format!("bench-pub-{}", i + 1), setup, job).await?);
    }
    match &s.queue {
        Some(q) => log(format_args!(
            "Starting {} subscriber(s) in queue group {q}, expecting {} messages between them",
            s.subs,
            commas(s.msgs as i64)
        )),
        None if s.subs > 0 => log(format_args!(
            "Starting {} subscriber(s), expecting {} messages each",
            s.subs,
            commas(s.msgs as i64)
        )),
        None => {}
    }
    if s.pubs > 0 {
        log(format_args!(
            "Starting {} publisher(s), publishing {} messages",
            s.pubs,
            commas(s.msgs as i64)
        ));
    }
    if s.pubs > 0 {
        go_at.get_or_init(Instant::now);
    }
    go.send_replace(true);

    let mut progress = Progress {
        enabled: s.progress,
        total: counters.iter().map(|c| c.2).sum(),
        started: Instant::now(),
        shown: false,
    };
    let work = async { futures::try_join!(join_all(pub_results), join_all(sub_results)) };
    // On failure the result receivers are dropped here, which stops every client.
    let (pubs, subs) = supervise(g, work, &counters, s.pubs == 0, &drops, &mut progress)
        .await
        .and_then(|r| r)?;
    Ok(Report {
        pubs,
        subs,
        latencies: Vec::new(),
        all_latency: None,
    })
}

/// A pub/sub client's connection: the built-in wire client, or async-nats where that cannot
/// serve (see [`wire`]).
enum PubConn {
    Wire(wire::Publisher),
    Nats(Client, Bytes),
}

/// A request/reply requester: a wire client with its ready-made request, or async-nats.
enum Requester {
    Wire(Wire, Vec<u8>),
    Nats(Client),
}

/// A request/reply replier: a wire client, or async-nats with its subscription.
enum Replier {
    Wire(Wire),
    Nats(Client, Subscriber),
}

enum SubConn {
    Wire(Wire),
    Nats(Client, Subscriber),
}

/// Connects a wire client; `None` when the run uses async-nats (no endpoint), or when the
/// server requires TLS, which only async-nats speaks here (said once per run).
async fn wire_client(ep: Option<&Endpoint>, name: &str, what: &str) -> Outcome<Option<Wire>> {
    static TOLD: std::sync::Once = std::sync::Once::new();
    let Some(ep) = ep else {
        return Ok(None);
    };
    match wire::connect(ep, name, what).await? {
        wire::Connect::Ready(w) => Ok(Some(w)),
        wire::Connect::NeedsTls => {
            TOLD.call_once(|| {
                log(format_args!(
                    "Using async-nats clients: the server requires TLS"
                ))
            });
            Ok(None)
        }
    }
}

/// The shared state of the subscribers in a queue group: how many messages the group has
/// received, and whether that is all of them.
struct Group {
    total: Counter,
    done: Arc<watch::Sender<bool>>,
}

/// What a subscriber counts toward: its counter, its group if it is in one, the messages
/// expected (of it, or of the group) and their size.
struct Counted {
    n: Counter,
    group: Option<Group>,
    expect: u64,
    size: u64,
}

impl Counted {
    /// Counts `k` more messages, `got` in all; true once this subscriber, or its group, has
    /// all it expects.
    fn add(&self, got: u64, k: u64) -> bool {
        match &self.group {
            None => {
                self.n.store(got, Relaxed);
                got >= self.expect
            }
            Some(g) => {
                let complete = g.total.fetch_add(k, Relaxed) + k >= self.expect;
                if complete {
                    g.done.send_replace(true);
                }
                complete
            }
        }
    }

    /// Resolves when this subscriber's group has all its messages; never outside a group.
    fn group_finished(&self) -> impl Future<Output = ()> {
        let finished = self.group.as_ref().map(|g| g.done.subscribe());
        async move {
            match finished {
                Some(mut f) => {
                    let _ = f.wait_for(|d| *d).await;
                }
                None => std::future::pending().await,
            }
        }
    }

    fn sample(&self, got: u64, start: Instant, end: Instant) -> Sample {
        Sample {
            msgs: got,
            bytes: got * self.size,
            start: start.min(end),
            end,
        }
    }
}

/// Counts one subscriber's messages until it has `expect`, or in a queue group until the
/// group as a whole has `expect`. The sample spans the subscriber's first message to its
/// last, and a group member the group never chose reports zero.
async fn receive(mut sub: Subscriber, c: Counted) -> Outcome<Sample> {
    let group_finished = c.group_finished();
    tokio::pin!(group_finished);
    let mut got = 0u64;
    let mut start = None;
    let mut end = Instant::now();
    loop {
        let msg = tokio::select! {
            biased;
            msg = sub.next() => msg,
            _ = &mut group_finished => break,
        };
        if msg.is_none() {
            return Err(Failure::new(format!(
                "subscription closed after {got} messages"
            )));
        }
        got += 1;
        // The clock is read for the first message, and for every one only in a group,
        // where a member's last message may come at any time.
        if got == 1 || c.group.is_some() {
            end = Instant::now();
            start.get_or_insert(end);
        }
        if c.add(got, 1) {
            break;
        }
    }
    if c.group.is_none() {
        end = Instant::now();
    }
    Ok(c.sample(got, start.unwrap_or(end), end))
}

/// [`receive`] for a wire client, which counts the messages in its read buffer a buffer at a
/// time. One read can hold thousands of messages (a short run's all), so the arrival of the
/// first is not known closely enough to start the clock there, as `nats bench` does. With
/// publishers in this run the clock starts when they are let go (`go_at`): earlier than the
/// first message by the publishers' wakeup, their first write and its trip through the
/// server, so a rate can come out lower, never higher. Without (the messages come from
/// outside) it starts when the first read that held messages returns. A group member's
/// sample spans that start to its own last message.
async fn receive_wire(mut w: Wire, c: Counted, go_at: &OnceLock<Instant>) -> Outcome<Sample> {
    let group_finished = c.group_finished();
    tokio::pin!(group_finished);
    let mut got = 0u64;
    let mut start: Option<Instant> = None;
    let mut end = Instant::now();
    loop {
        // Alone, a subscriber takes exactly its `expect` messages; in a group, whatever the
        // server sends it until the group has them all.
        let limit = if c.group.is_some() {
            u64::MAX
        } else {
            c.expect - got
        };
        // Dropping `messages` for the group's end loses nothing: the group has all its
        // messages, so none this member has read but not counted can be wanted.
        let batch = tokio::select! {
            biased;
            batch = w.messages(limit) => match batch {
                Ok(batch) => batch,
                Err(e) if w.closed_by_server() => return Err(Failure::new(format!(
                    "{} after {} of {} messages (a server cuts off a subscriber that falls too \
                     far behind, a slow consumer: see its log)",
                    e.message,
                    commas(got as i64),
                    commas(c.expect as i64)
                ))),
                Err(e) => return Err(e),
            },
            _ = &mut group_finished => break,
        };
        got += batch;
        end = Instant::now();
        // Read only now: the subscriber waits before the publishers are let go.
        start.get_or_insert_with(|| go_at.get().copied().unwrap_or(end));
        if c.add(got, batch) {
            break;
        }
    }
    Ok(c.sample(got, start.unwrap_or(end), end))
}

/// Every requester and replier runs on a thread of its own in a single-threaded runtime
/// (see [`start_client`]): a message wakes exactly the thread that waits for it, and no
/// runtime hands a ready socket from one thread to another, which in a shared runtime
/// added tens of microseconds to each round trip.
async fn request_reply(g: &Global, s: &Settings, endpoint: Option<&Endpoint>) -> Outcome<Report> {
    let subject: &'static str = Box::leak(s.subject.clone().into_boxed_str());
    let size = s.size;
    let drops: Counter = Arc::default();
    let epoch = Instant::now();

    // Repliers share a queue group so each request gets exactly one reply.
    let mut replier_state = Vec::new();
    let mut replier_results = Vec::new();
    for i in 0..s.subs {
        let group = s.queue.as_deref().unwrap_or("natter-bench").to_string();
        let count: Counter = Arc::default();
        let first: Counter = Arc::default();
        let last: Counter = Arc::default();
        replier_state.push((count.clone(), first.clone(), last.clone()));
        // Stamps the replier's progress after `k` more answers (`n` in all).
        let answered = move |n: u64, k: u64| {
            let t = epoch.elapsed().as_nanos() as u64;
            if n == k {
                first.store(t, Relaxed);
            }
            last.store(t, Relaxed);
            count.store(n, Relaxed);
        };
        let (g, drops, endpoint) = (g.clone(), drops.clone(), endpoint.cloned());
        let what = format!("replier {}", i + 1);
        let setup = {
            let what = what.clone();
            move || async move {
                let name = format!("NATTER BENCH REPLY {}", i + 1);
                if let Some(mut w) = wire_client(endpoint.as_ref(), &name, &what).await? {
                    w.check_size(size)?;
                    w.subscribe(subject, Some(&group)).await?;
                    return Ok(Replier::Wire(w));
                }
                let c = bench_client(&g, &name, Some(drops)).await?;
                let sub = c.queue_subscribe(subject, group).await?;
                round_trip(&c, g.timeout).await?;
                Ok(Replier::Nats(c, sub))
            }
        };
        // A replier runs until it is stopped; one that ends has failed.
        let job = move |replier: Replier| async move {
            let mut n = 0u64;
            match replier {
                Replier::Wire(mut w) => {
                    let mut answering = |k| {
                        n += k;
                        answered(n, k);
                    };
                    loop {
                        w.answer_requests(size, &mut answering).await?;
                    }
                }
                Replier::Nats(c, mut sub) => {
                    let payload = Bytes::from(vec![0u8; size]);
                    while let Some(msg) = sub.next().await {
                        let Some(reply) = msg.reply else { continue };
                        // Counted first, so the count is never behind a reply that arrived.
                        n += 1;
                        answered(n, 1);
                        c.publish(reply, payload.clone())
                            .await
                            .map_err(|e| Failure::new(format!("{what}: {e}")))?;
                    }
                    Err::<std::convert::Infallible, _>(Failure::new(format!(
                        "{what}: the subscription closed"
                    )))
                }
            }
        };
        replier_results.push(start_client(format!("bench-reply-{}", i + 1), setup, job).await?);
    }
    let (go, _) = watch::channel(false);
    let mut requester_results = Vec::new();
    let mut counters: Vec<(String, Counter, u64)> = Vec::new();
    for (i, count) in split(s.msgs, s.pubs).into_iter().enumerate() {
        let n: Counter = Arc::default();
        counters.push((format!("requester {}", i + 1), n.clone(), count));
        let (g, endpoint) = (g.clone(), endpoint.cloned());
        let mut go = go.subscribe();
        let setup = move || async move {
            let name = format!("NATTER BENCH REQUEST {}", i + 1);
            let what = format!("requester {}", i + 1);
            let Some(mut w) = wire_client(endpoint.as_ref(), &name, &what).await? else {
                return Ok(Requester::Nats(bench_client(&g, &name, None).await?));
            };
            w.check_size(size)?;
            // Requests go one at a time, so one inbox serves them all.
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let inbox = format!(
                "_INBOX.natter-bench.{}.{nanos}.{}",
                std::process::id(),
                i + 1
            );
            w.subscribe(&inbox, None).await?;
            let frame = wire::pub_frame(subject, Some(&inbox), size);
            Ok(Requester::Wire(w, frame))
        };
        let job = move |mut requester: Requester| async move {
            go.wait_for(|go| *go)
                .await
                .map_err(|_| Failure::new("benchmark cancelled"))?;
            let payload = Bytes::from(vec![0u8; size]);
            let mut rtts = Vec::with_capacity(count.min(PREALLOC_LIMIT) as usize);
            let start = Instant::now();
            for i in 1..=count {
                let t0 = Instant::now();
                match &mut requester {
                    Requester::Wire(w, frame) => w.request(frame, subject).await?,
                    Requester::Nats(client) => {
                        client
                            .request(subject, payload.clone())
                            .await
                            .map_err(|e| match e.kind() {
                                RequestErrorKind::NoResponders => {
                                    Failure::new(format!("no responders on {subject:?}"))
                                }
                                _ => {
                                    Failure::new(format!("request {i} on {subject:?} failed: {e}"))
                                }
                            })?;
                    }
                }
                rtts.push(t0.elapsed().as_nanos() as u64);
                n.store(i, Relaxed);
            }
            let sample = Sample {
                msgs: count,
                bytes: count * size as u64,
                start,
                end: Instant::now(),
            };
            Ok::<Timed, Failure>((sample, rtts))
        };
        requester_results.push(start_client(format!("bench-req-{}", i + 1), setup, job).await?);
    }
    log(format_args!(
        "Starting {} requester(s) against {} replier(s), {} requests in total",
        s.pubs,
        s.subs,
        commas(s.msgs as i64)
    ));
    go.send_replace(true);
    // A replier that ends has failed, and ends the run with its reason rather than leaving
    // the requesters to stall. When `work` is dropped, so are the result receivers, which
    // stops every client.
    let work = async {
        tokio::select! {
            // Requesters first: a replier that fails as the last reply lands does not undo a
            // run that completed.
            biased;
            r = join_all(requester_results) => r,
            (failed, _, _) = futures::future::select_all(replier_results) => match failed {
                Ok(Err(e)) => Err(e),
                Ok(Ok(never)) => match never {},
                Err(_) => Err(Failure::new("benchmark thread failed")),
            },
        }
    };
    let mut progress = Progress {
        enabled: s.progress,
        total: s.msgs,
        started: Instant::now(),
        shown: false,
    };
    let results = supervise(g, work, &counters, false, &drops, &mut progress).await??;
    let mut pubs = Vec::new();
    let mut latencies = Vec::new();
    let mut all = Vec::with_capacity(s.msgs.min(PREALLOC_LIMIT) as usize);
    for (sample, mut rtts) in results {
        rtts.sort_unstable();
        if let Some(l) = Latency::of(&rtts) {
            latencies.push(l);
        }
        all.extend_from_slice(&rtts);
        pubs.push(sample);
    }
    all.sort_unstable();
    let subs = replier_state
        .iter()
        .map(|(count, first, last)| {
            let n = count.load(Relaxed);
            Sample {
                msgs: n,
                bytes: n * size as u64,
                start: epoch + Duration::from_nanos(first.load(Relaxed)),
                end: epoch + Duration::from_nanos(last.load(Relaxed)),
            }
        })
        .collect();
    Ok(Report {
        pubs,
        subs,
        latencies,
        all_latency: Latency::of(&all),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_evenly() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(9, 3), vec![3, 3, 3]);
        assert_eq!(split(5, 1), vec![5]);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        let l = Latency::of(&v).unwrap();
        assert_eq!(
            (l.min, l.p50, l.p90, l.p99, l.p999, l.max),
            (1, 500, 900, 990, 999, 1000)
        );
        assert_eq!(l.avg, 500);
        let one = Latency::of(&[7]).unwrap();
        assert_eq!((one.p50, one.p999), (7, 7));
        assert!(Latency::of(&[]).is_none());
    }

    #[test]
    fn statistics_line_matches_nats_bench() {
        let t = Instant::now();
        let mk = |msgs| Sample {
            msgs,
            bytes: msgs,
            start: t,
            end: t + Duration::from_secs(1),
        };
        assert_eq!(
            statistics(&[mk(1000), mk(3000)]),
            "min 1,000 | avg 2,000 | max 3,000 | stddev 1,000 msgs"
        );
        assert_eq!(mk(2_000_000).describe(), "2,000,000 msgs/sec ~ 1.91 MB/sec");
    }

    #[test]
    fn merge_leaves_clients_without_messages_out_of_the_timing() {
        let t = Instant::now();
        let at = |from: u64, to: u64, msgs| Sample {
            msgs,
            bytes: msgs * 10,
            start: t + Duration::from_millis(from),
            end: t + Duration::from_millis(to),
        };
        // A queue member that got nothing was ready at 0 ms, long before the others ran
        // from 500 to 1500 ms; it adds neither messages nor time.
        let m = Sample::merge(&[at(0, 0, 0), at(500, 1000, 3), at(600, 1500, 1)]).unwrap();
        assert_eq!((m.msgs, m.bytes), (4, 40));
        assert_eq!(m.start, t + Duration::from_millis(500));
        assert_eq!(m.end, t + Duration::from_millis(1500));
        assert_eq!(m.rate(), 4);
        // Members listed after the busy ones are left out as well.
        let m = Sample::merge(&[at(500, 1000, 2), at(0, 2000, 0)]).unwrap();
        assert_eq!(
            (m.msgs, m.start, m.end),
            (2, at(500, 1000, 2).start, at(500, 1000, 2).end)
        );
        // Nobody got anything: a zero sample, no failure.
        let m = Sample::merge(&[at(0, 0, 0), at(5, 5, 0)]).unwrap();
        assert_eq!((m.msgs, m.rate()), (0, 0));
        assert!(Sample::merge(&[]).is_none());
    }

    #[test]
    fn running_out_of_file_descriptors_is_explained() {
        let e = explain_open_files(
            Failure::new("cannot start a benchmark runtime: Too many open files (os error 24)"),
            251,
            Some(1024),
        );
        assert!(e.message.contains("251 clients"), "{}", e.message);
        assert!(e.message.contains("limit of 1024"), "{}", e.message);
        assert!(e.message.contains("ulimit -n"), "{}", e.message);
        let other = explain_open_files(Failure::new("connection refused"), 251, Some(1024));
        assert_eq!(other.message, "connection refused");
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let hard = getrlimit(Resource::Nofile)
            .maximum
            .expect("the open-file hard limit is finite on Linux");
        // Start below the hard limit, as a shell's usual soft limit of 1024 is.
        let low = hard.min(64);
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(low),
                maximum: Some(hard),
            },
        )
        .expect("lowering the soft limit");
        assert_eq!(getrlimit(Resource::Nofile).current, Some(low));
        assert_eq!(raise_open_file_limit(), Some(hard));
        assert_eq!(getrlimit(Resource::Nofile).current, Some(hard));
    }
}
