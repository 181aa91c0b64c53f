//! `cargo xtask bench`: natter-server side by side with nats-server.
//!
//! Both servers run the same scenarios, driven by the same load generator (`natter bench`),
//! alternating A B A B: every (round, scenario) runs natter-server then nats-server, each on a
//! fresh process on a loopback port, so no run inherits another's buffers, caches or heap
//! growth, and a burst of background load lands on both rather than on one. A second,
//! independent generator (a small program on the official C client, libnats) drives
//! nats-server too, to show `natter bench` is not what limits the figures. The result is
//! printed and written into docs/benchmarks.md.
//!
//! `cargo xtask bench --crates` runs the criterion benches of the leaf crates instead;
//! `cargo xtask bench --counting` measures what the publish path's counters cost
//! (see `bench/counting.rs`).

mod counting;
mod csv;
mod report;
mod servers;
mod stats;
mod wire;

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::command;
use crate::failure::Failure;
use crate::workspace;
use report::{GeneratorLine, Line, Unit};
use servers::{Kind, Running, Target};
use stats::{summarize, Summary};

const STEP: &str = "bench";

/// Where Debian's package puts nats-server.
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// The C source of the second load generator, compiled against libnats at run time.
const LIBNATS_SOURCE: &str = include_str!("bench/libnats_bench.c");

/// Idle connections opened for the RSS figure.
const IDLE_CONNECTIONS: usize = 1000;

/// Members of the queue group in the queue scenario.
const QUEUE_MEMBERS: usize = 4;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub quick: bool,
    pub rounds: usize,
    pub write: bool,
    pub crates: bool,
    pub counting: bool,
}

impl Request {
    pub fn parse(args: &[String]) -> Result<Request, Failure> {
        let mut req = Request {
            quick: false,
            rounds: 0,
            write: true,
            crates: false,
            counting: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => req.quick = true,
                "--no-write" => req.write = false,
                "--crates" => req.crates = true,
                "--counting" => req.counting = true,
                "--rounds" => {
                    let n = args
                        .next()
                        .ok_or_else(|| Failure::usage("`--rounds` needs a number"))?;
                    req.rounds =
                        n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            Failure::usage(format!("`--rounds {n}`: not a count"))
                        })?;
                }
                other => return Err(Failure::usage(format!("`bench` does not take `{other}`"))),
            }
        }
        if req.crates && req.counting {
            return Err(Failure::usage(
                "`--crates` and `--counting` are two different benchmarks; choose one",
            ));
        }
        if req.rounds == 0 {
            req.rounds = if req.quick { 1 } else { 3 };
        }
        Ok(req)
    }

    /// The command as typed, for the doc.
    fn command_line(&self) -> String {
        let mut line = String::from("cargo xtask bench");
        if self.quick {
            line.push_str(" --quick");
        }
        let default_rounds = if self.quick { 1 } else { 3 };
        if self.rounds != default_rounds {
            line.push_str(&format!(" --rounds {}", self.rounds));
        }
        if !self.write {
            line.push_str(" --no-write");
        }
        line
    }
}

/// The traffic pattern of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    PubOnly,
    FanOut(usize),
    Queue(usize),
    Request,
}

impl Shape {
    fn label(self) -> String {
        match self {
            Shape::PubOnly => "pub-only".into(),
            Shape::FanOut(1) => "1 pub → 1 sub".into(),
            Shape::FanOut(n) => format!("1 pub → {n} subs"),
            Shape::Queue(n) => format!("1 pub → queue group of {n}"),
            Shape::Request => "request/reply".into(),
        }
    }
}

/// Payload sizes of every scenario.
const SIZES: [usize; 3] = [16, 128, 1024];

fn payload_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Messages per run, chosen so each run takes about a second on the 2-core machine (the full
/// run then takes a few minutes); `--quick` sends a quarter.
fn message_count(shape: Shape, size: usize, quick: bool) -> u64 {
    let big = size >= 1024;
    let n: u64 = match shape {
        Shape::PubOnly if big => 2_000_000,
        Shape::PubOnly => 10_000_000,
        Shape::FanOut(1) | Shape::Queue(_) if big => 1_000_000,
        Shape::FanOut(1) | Shape::Queue(_) => 5_000_000,
        Shape::FanOut(_) if big => 400_000,
        Shape::FanOut(_) => 2_000_000,
        Shape::Request => 20_000,
    };
    if quick {
        n / 4
    } else {
        n
    }
}

/// One run's figures: the headline rate and, for request/reply, latency percentiles.
#[derive(Debug, Clone, Copy)]
struct Measure {
    rate: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
}

/// Everything needed to run scenarios.
pub(crate) struct Bench {
    natter_cli: PathBuf,
    logs: PathBuf,
    /// `natter bench` takes `--queue`; otherwise the queue group is emulated.
    cli_queue: bool,
    quick: bool,
    run_timeout: Duration,
}

/// Entry point of `cargo xtask bench`.
pub fn run(req: Request) -> Result<(), Failure> {
    if req.counting {
        return counting::run(req.rounds, req.write, req.quick);
    }
    if req.crates {
        return command::run(
            "bench",
            workspace::cargo().args(["bench", "-p", "natter-proto", "-p", "natter-sublist"]),
        );
    }
    let built = build()?;
    let nats_binary = nats_server()?;
    // The build is not part of the benchmark's running time.
    let started = Instant::now();
    let scratch = workspace::target_dir().join("bench");
    let logs = scratch.join("logs");
    let libnats = libnats_generator(&scratch);

    let natter = Target {
        kind: Kind::Natter,
        binary: built.server.clone(),
    };
    let nats = Target {
        kind: Kind::Nats,
        binary: nats_binary.clone(),
    };
    let help =
        command::output(Command::new(&built.cli).args(["bench", "--help"])).ok_or_else(|| {
            Failure::new(
                STEP,
                format!(
                    "`{} bench --help` failed: natter-cli has no working `bench` subcommand yet",
                    built.cli.display()
                ),
            )
        })?;
    let bench = Bench {
        natter_cli: built.cli.clone(),
        logs: logs.clone(),
        cli_queue: help.contains("--queue"),
        quick: req.quick,
        run_timeout: Duration::from_secs(if req.quick { 60 } else { 180 }),
    };
    if !bench.cli_queue {
        println!(
            "xtask: `natter bench` has no --queue option; the queue group is {QUEUE_MEMBERS} raw \
             subscribers inside xtask, with `natter bench` publishing"
        );
    }

    let shapes = [
        Shape::PubOnly,
        Shape::FanOut(1),
        Shape::FanOut(4),
        Shape::Queue(QUEUE_MEMBERS),
        Shape::Request,
    ];
    let mut results: HashMap<(Shape, usize, Kind), Vec<Measure>> = HashMap::new();
    let mut generator: HashMap<(Shape, usize, Kind), Vec<f64>> = HashMap::new();
    let mut rss: HashMap<Kind, Vec<f64>> = HashMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut libnats_version = None;

    for round in 1..=req.rounds {
        println!("\n==> [bench] round {round} of {}", req.rounds);
        for &shape in &shapes {
            for size in SIZES {
                for target in [&natter, &nats] {
                    let what = format!(
                        "r{round} {} {} {}",
                        shape.label(),
                        payload_label(size),
                        target.kind.name()
                    );
                    match bench.scenario(target, shape, size) {
                        Ok(m) => {
                            println!("  {what}: {}", describe(&m));
                            results
                                .entry((shape, size, target.kind))
                                .or_default()
                                .push(m);
                        }
                        Err(why) => {
                            println!("  {what}: FAILED: {why}");
                            failures.push(format!("{what}: {why}"));
                        }
                    }
                }
            }
        }
        if let Some(gen) = &libnats {
            for shape in [Shape::PubOnly, Shape::FanOut(1)] {
                for size in SIZES {
                    for target in [&natter, &nats] {
                        let what = format!(
                            "r{round} libnats {} {} {}",
                            shape.label(),
                            payload_label(size),
                            target.kind.name()
                        );
                        match bench.libnats(gen, target, shape, size) {
                            Ok((rate, version)) => {
                                println!(
                                    "  {what}: {}",
                                    report::cell(summarize(&[rate]).as_ref(), Unit::Rate)
                                );
                                generator
                                    .entry((shape, size, target.kind))
                                    .or_default()
                                    .push(rate);
                                libnats_version = Some(version);
                            }
                            Err(why) => {
                                println!("  {what}: FAILED: {why}");
                                failures.push(format!("{what}: {why}"));
                            }
                        }
                    }
                }
            }
        }
        for target in [&natter, &nats] {
            match idle_rss(target, &logs) {
                Ok(kib) => {
                    println!(
                        "  r{round} RSS per idle connection {}: {kib:.2} KiB",
                        target.kind.name()
                    );
                    rss.entry(target.kind).or_default().push(kib);
                }
                Err(why) => {
                    println!("  r{round} RSS {}: FAILED: {why}", target.kind.name());
                    failures.push(format!("r{round} RSS {}: {why}", target.kind.name()));
                }
            }
        }
    }

    if results.is_empty() {
        return Err(Failure::new(
            STEP,
            format!(
                "every run failed; the first: {}",
                failures.first().map_or("", |f| f.as_str())
            ),
        ));
    }

    let mut lines = table_lines(&shapes, &results, &rss);
    let libnats_runs =
        |shape, size, kind| summarize(generator.get(&(shape, size, kind)).map_or(&[][..], |v| v));
    // Where libnats also drove nats-server, the row is scored against that figure too.
    for l in lines.iter_mut() {
        for shape in [Shape::PubOnly, Shape::FanOut(1)] {
            for size in SIZES {
                let kind = if shape == Shape::PubOnly {
                    "published"
                } else {
                    "delivered"
                };
                if l.scenario == format!("{}, {kind} msgs/s", shape.label())
                    && l.payload == payload_label(size)
                {
                    l.nats_libnats = libnats_runs(shape, size, Kind::Nats);
                }
            }
        }
    }
    for shape in [Shape::PubOnly, Shape::FanOut(1)] {
        for size in SIZES {
            if generator.keys().any(|k| k.0 == shape && k.1 == size) {
                lines.push(Line {
                    scenario: format!("{}, libnats generator", shape.label()),
                    payload: payload_label(size),
                    unit: Unit::CheckRate,
                    natter: libnats_runs(shape, size, Kind::Natter),
                    nats: libnats_runs(shape, size, Kind::Nats),
                    nats_libnats: None,
                });
            }
        }
    }
    let gen_lines: Vec<GeneratorLine> = [Shape::PubOnly, Shape::FanOut(1)]
        .iter()
        .flat_map(|&shape| SIZES.iter().map(move |&size| (shape, size)))
        .map(|(shape, size)| GeneratorLine {
            scenario: shape.label(),
            payload: payload_label(size),
            natter_bench: summarize(
                &results
                    .get(&(shape, size, Kind::Nats))
                    .map(|ms| ms.iter().map(|m| m.rate).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
            libnats: libnats_runs(shape, size, Kind::Nats),
            reach: summarize(
                &results
                    .get(&(shape, size, Kind::Natter))
                    .map(|ms| ms.iter().map(|m| m.rate).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
        })
        .collect();

    let facts = Facts::gather(&req, &built, &nats_binary, libnats_version, &bench);
    let section = render_section(&facts, &lines, &gen_lines, &failures, started.elapsed());
    println!("\n{section}");
    if req.write {
        let path = workspace::root().join("docs").join("benchmarks.md");
        let doc = fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
        fs::write(&path, report::replace_section(&doc, &section))
            .map_err(|e| Failure::new(STEP, format!("cannot write {}: {e}", path.display())))?;
        println!(
            "xtask: wrote the section \"{}\" of {}",
            &report::HEADING[3..],
            path.display()
        );
    }
    println!(
        "xtask bench: {} rounds in {}s, {} failed runs",
        req.rounds,
        started.elapsed().as_secs(),
        failures.len()
    );
    Ok(())
}

fn describe(m: &Measure) -> String {
    let mut s = report::cell(summarize(&[m.rate]).as_ref(), Unit::Rate);
    if let (Some(p50), Some(p99)) = (m.p50_us, m.p99_us) {
        s.push_str(&format!(", p50 {p50:.1} µs, p99 {p99:.1} µs"));
    }
    s
}

fn table_lines(
    shapes: &[Shape],
    results: &HashMap<(Shape, usize, Kind), Vec<Measure>>,
    rss: &HashMap<Kind, Vec<f64>>,
) -> Vec<Line> {
    let pick = |shape, size, kind, f: &dyn Fn(&Measure) -> Option<f64>| -> Option<Summary> {
        let values: Vec<f64> = results
            .get(&(shape, size, kind))?
            .iter()
            .filter_map(f)
            .collect();
        summarize(&values)
    };
    let mut lines = Vec::new();
    for &shape in shapes {
        for size in SIZES {
            let mut line = |label: String, unit, f: &dyn Fn(&Measure) -> Option<f64>| {
                lines.push(Line {
                    scenario: label,
                    payload: payload_label(size),
                    unit,
                    natter: pick(shape, size, Kind::Natter, f),
                    nats: pick(shape, size, Kind::Nats, f),
                    nats_libnats: None,
                });
            };
            match shape {
                Shape::Request => {
                    line("request/reply, requests/s".into(), Unit::Rate, &|m| {
                        Some(m.rate)
                    });
                    line("request/reply, p50 latency".into(), Unit::Micros, &|m| {
                        m.p50_us
                    });
                    line("request/reply, p99 latency".into(), Unit::Micros, &|m| {
                        m.p99_us
                    });
                }
                Shape::PubOnly => line(
                    format!("{}, published msgs/s", shape.label()),
                    Unit::Rate,
                    &|m| Some(m.rate),
                ),
                _ => line(
                    format!("{}, delivered msgs/s", shape.label()),
                    Unit::Rate,
                    &|m| Some(m.rate),
                ),
            }
        }
    }
    lines.push(Line {
        scenario: format!("RSS per idle connection ({IDLE_CONNECTIONS} conns, 1 sub each)"),
        payload: "–".into(),
        unit: Unit::KiB,
        natter: summarize(rss.get(&Kind::Natter).map_or(&[][..], |v| v)),
        nats: summarize(rss.get(&Kind::Nats).map_or(&[][..], |v| v)),
        nats_libnats: None,
    });
    lines
}

impl Bench {
    /// One scenario against a fresh server.
    fn scenario(&self, target: &Target, shape: Shape, size: usize) -> Result<Measure, String> {
        let server = Running::start(target, &self.logs)?;
        let msgs = message_count(shape, size, self.quick);
        let subject = format!("bench.{}", size);
        match shape {
            Shape::Queue(members) if !self.cli_queue => {
                let rate = self.emulated_queue(&server, &subject, members, msgs, size)?;
                Ok(Measure {
                    rate,
                    p50_us: None,
                    p99_us: None,
                })
            }
            _ => {
                let (pubs, subs) = match shape {
                    Shape::PubOnly => (1, 0),
                    Shape::FanOut(n) | Shape::Queue(n) => (1, n),
                    Shape::Request => (1, 1),
                };
                let mut extra: Vec<String> = Vec::new();
                if let Shape::Queue(_) = shape {
                    extra.extend(["--queue".into(), "bench-q".into()]);
                }
                if shape == Shape::Request {
                    extra.push("--request".into());
                }
                let report =
                    self.natter_bench(&server, &subject, pubs, subs, msgs, size, &extra)?;
                let rate = match shape {
                    Shape::PubOnly | Shape::Request => report.publish_rate(),
                    _ => report.delivery_rate(),
                };
                if !rate.is_finite() {
                    return Err("the CSV report has no rows for the measured side".into());
                }
                Ok(Measure {
                    rate,
                    p50_us: report.latency_us(50.0),
                    p99_us: report.latency_us(99.0),
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn natter_bench(
        &self,
        server: &Running,
        subject: &str,
        pubs: usize,
        subs: usize,
        msgs: u64,
        size: usize,
        extra: &[String],
    ) -> Result<csv::Report, String> {
        let csv_path = self.logs.join("natter-bench.csv");
        let _ = fs::remove_file(&csv_path);
        let mut cmd = Command::new(&self.natter_cli);
        cmd.arg("bench")
            .arg(subject)
            .args(["--server", &server.url()])
            .args(["--pub", &pubs.to_string(), "--sub", &subs.to_string()])
            .args(["--msgs", &msgs.to_string(), "--size", &size.to_string()])
            .args(extra)
            .arg("--csv")
            .arg(&csv_path)
            .arg("--no-progress");
        self.run_logged(&mut cmd, "natter-bench")?;
        let text = fs::read_to_string(&csv_path)
            .map_err(|e| format!("`natter bench` wrote no CSV at {}: {e}", csv_path.display()))?;
        csv::Report::parse(&text)
    }

    /// Runs `cmd` with output to `logs/<name>.out`, killing it after the run timeout.
    fn run_logged(&self, cmd: &mut Command, name: &str) -> Result<String, String> {
        let out_path = self.logs.join(format!("{name}.out"));
        let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let line = command::line(cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run `{line}`: {e}"))?;
        let deadline = Instant::now() + self.run_timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{line}` did not finish within {}s; see {}",
                    self.run_timeout.as_secs(),
                    out_path.display()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        };
        let text = fs::read_to_string(&out_path).unwrap_or_default();
        if !status.success() {
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            return Err(format!(
                "`{line}` exited with {status}: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
        Ok(text)
    }

    /// A queue group of raw xtask subscribers, with `natter bench` as the publisher: the rate
    /// is every delivered message over the time from the first delivery to the last.
    fn emulated_queue(
        &self,
        server: &Running,
        subject: &str,
        members: usize,
        msgs: u64,
        size: usize,
    ) -> Result<f64, String> {
        let received = Arc::new(AtomicU64::new(0));
        let mut conns = Vec::new();
        for i in 0..members {
            let mut conn = wire::RawConn::connect(server.addr, &format!("queue-{i}"))
                .map_err(|e| format!("queue subscriber: {e}"))?;
            conn.send(format!("SUB {subject} bench-q {}\r\n", i + 1).as_bytes())
                .and_then(|()| conn.round_trip())
                .and_then(|()| conn.set_read_timeout(Duration::from_millis(200)))
                .map_err(|e| format!("queue subscriber: {e}"))?;
            conns.push(conn);
        }
        let give_up = Instant::now() + self.run_timeout;
        let readers: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let received = Arc::clone(&received);
                thread::spawn(move || -> Result<Option<(Instant, Instant)>, String> {
                    let mut span: Option<(Instant, Instant)> = None;
                    while received.load(Ordering::Relaxed) < msgs && Instant::now() < give_up {
                        match conn.read_some() {
                            Ok(seen) if seen.msgs > 0 => {
                                let now = Instant::now();
                                span = Some((span.map_or(now, |s| s.0), now));
                                received.fetch_add(seen.msgs, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) => {}
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                    Ok(span)
                })
            })
            .collect();
        let mut cmd = Command::new(&self.natter_cli);
        cmd.arg("bench")
            .arg(subject)
            .args(["--server", &server.url(), "--pub", "1", "--sub", "0"])
            .args(["--msgs", &msgs.to_string(), "--size", &size.to_string()])
            .arg("--no-progress");
        let published = self.run_logged(&mut cmd, "natter-bench");
        let mut first: Option<Instant> = None;
        let mut last: Option<Instant> = None;
        let mut reader_error = None;
        for r in readers {
            match r.join() {
                Ok(Ok(Some((a, b)))) => {
                    first = Some(first.map_or(a, |f: Instant| f.min(a)));
                    last = Some(last.map_or(b, |l: Instant| l.max(b)));
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => reader_error = Some(e),
                Err(_) => reader_error = Some("a queue reader panicked".into()),
            }
        }
        published?;
        if let Some(e) = reader_error {
            return Err(format!("queue subscriber: {e}"));
        }
        let got = received.load(Ordering::Relaxed);
        if got < msgs {
            return Err(format!("the queue group received {got} of {msgs} messages"));
        }
        match (first, last) {
            (Some(a), Some(b)) => Ok(stats::rate(got as f64, (b - a).as_secs_f64())),
            _ => Err("no message reached the queue group".into()),
        }
    }

    /// The libnats generator against a fresh server: (rate, libnats version).
    fn libnats(
        &self,
        gen: &Path,
        target: &Target,
        shape: Shape,
        size: usize,
    ) -> Result<(f64, String), String> {
        let server = Running::start(target, &self.logs)?;
        let msgs = message_count(shape, size, self.quick);
        let subs = if shape == Shape::PubOnly { 0 } else { 1 };
        let mut cmd = Command::new(gen);
        cmd.arg(server.url())
            .arg(format!("bench.{size}"))
            .arg(msgs.to_string())
            .arg(size.to_string())
            .arg(subs.to_string());
        let out = self.run_logged(&mut cmd, "libnats-bench")?;
        let parsed = parse_libnats(&out).ok_or_else(|| format!("unexpected output: {out}"))?;
        let rate = if subs == 0 {
            parsed.pub_rate
        } else {
            parsed.sub_rate
        };
        Ok((rate, parsed.version))
    }
}

/// What the libnats generator printed.
#[derive(Debug, PartialEq)]
struct LibnatsOutput {
    pub_rate: f64,
    sub_rate: f64,
    version: String,
}

fn parse_libnats(text: &str) -> Option<LibnatsOutput> {
    let mut out = LibnatsOutput {
        pub_rate: f64::NAN,
        sub_rate: f64::NAN,
        version: String::new(),
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["pub", n, secs] => out.pub_rate = stats::rate(n.parse().ok()?, secs.parse().ok()?),
            ["sub", n, secs] => out.sub_rate = stats::rate(n.parse().ok()?, secs.parse().ok()?),
            ["version", v] => out.version = v.to_string(),
            _ => {}
        }
    }
    (!out.pub_rate.is_nan()).then_some(out)
}

/// RSS growth per idle connection: a fresh server, its RSS, then 1,000 raw connections with
/// one subscription each (each confirmed by PING/PONG), then its RSS again.
fn idle_rss(target: &Target, logs: &Path) -> Result<f64, String> {
    let server = Running::start(target, logs)?;
    thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib().ok_or("cannot read the server's VmRSS")?;
    let mut conns = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let mut conn = open_idle(server.addr, i).map_err(|e| format!("connection {i}: {e}"))?;
        conn.round_trip()
            .map_err(|e| format!("connection {i}: {e}"))?;
        conns.push(conn);
    }
    thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib().ok_or("cannot read the server's VmRSS")?;
    drop(conns);
    Ok((after as f64 - before as f64) / IDLE_CONNECTIONS as f64)
}

fn open_idle(addr: SocketAddr, i: usize) -> std::io::Result<wire::RawConn> {
    let mut conn = wire::RawConn::connect(addr, "idle")?;
    conn.send(format!("SUB idle.{i} 1\r\n").as_bytes())?;
    Ok(conn)
}

/// The release binaries this run measures.
struct Built {
    server: PathBuf,
    cli: PathBuf,
}

fn build() -> Result<Built, Failure> {
    const BUILD: &str = "bench-build";
    let mut cmd = workspace::cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "natter-server",
        "-p",
        "natter-cli",
    ]);
    let executables = workspace::build_executables(BUILD, &mut cmd)?;
    Ok(Built {
        server: workspace::find_executable(BUILD, &executables, "natter-server")?,
        cli: workspace::find_executable(BUILD, &executables, "natter")?,
    })
}

fn is_root() -> bool {
    command::output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0")
}

/// nats-server from Debian's package, installed when missing and we are root.
fn nats_server() -> Result<PathBuf, Failure> {
    const NATS: &str = "bench-nats-server";
    let path = PathBuf::from(NATS_SERVER);
    if path.is_file() {
        return Ok(path);
    }
    if !is_root() {
        return Err(Failure::new(
            NATS,
            format!(
                "{NATS_SERVER} is not installed; install it with `sudo apt-get install -y nats-server` and run again"
            ),
        ));
    }
    command::run(
        NATS,
        Command::new("apt-get").args(["install", "-y", "nats-server"]),
    )?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(Failure::new(
            NATS,
            format!("apt-get installed nats-server but {NATS_SERVER} is not there"),
        ))
    }
}

/// Compiles the libnats generator (installing libnats-dev when missing and we are root). Its
/// absence only drops the generator check, with a note, not the whole benchmark.
fn libnats_generator(scratch: &Path) -> Option<PathBuf> {
    let header = Path::new("/usr/include/nats/nats.h");
    if !header.is_file() {
        if is_root() {
            let _ = command::run(
                "bench-libnats",
                Command::new("apt-get").args(["install", "-y", "libnats-dev"]),
            );
        }
        if !header.is_file() {
            println!(
                "xtask: libnats-dev is not installed (`apt-get install -y libnats-dev`); \
                 skipping the second-generator check"
            );
            return None;
        }
    }
    let source = scratch.join("libnats_bench.c");
    let binary = scratch.join("libnats-bench");
    let up_to_date =
        fs::read_to_string(&source).is_ok_and(|s| s == LIBNATS_SOURCE) && binary.is_file();
    if up_to_date {
        return Some(binary);
    }
    if fs::create_dir_all(scratch)
        .and_then(|()| fs::write(&source, LIBNATS_SOURCE))
        .is_err()
    {
        println!(
            "xtask: cannot write {}; skipping the second-generator check",
            source.display()
        );
        return None;
    }
    let compiled = command::run(
        "bench-libnats",
        Command::new("cc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&binary)
            .arg(&source)
            .args(["-lnats", "-lpthread"]),
    );
    match compiled {
        Ok(()) => Some(binary),
        Err(e) => {
            println!("xtask: {e}; skipping the second-generator check");
            let _ = fs::remove_file(&source);
            None
        }
    }
}

/// Date, machine and versions for the doc.
struct Facts {
    date: String,
    machine: String,
    load: String,
    natter_version: String,
    nats_version: String,
    cli: String,
    libnats: Option<String>,
    rustc: String,
    commit: String,
    command: String,
    cli_queue: bool,
    quick: bool,
    rounds: usize,
}

impl Facts {
    fn gather(
        req: &Request,
        built: &Built,
        nats: &Path,
        libnats: Option<String>,
        bench: &Bench,
    ) -> Facts {
        let first_line = |cmd: &mut Command| {
            command::output(cmd)
                .and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
                .unwrap_or_else(|| "unknown".into())
        };
        let nats_go = Running::start(
            &Target {
                kind: Kind::Nats,
                binary: nats.to_path_buf(),
            },
            &bench.logs,
        )
        .ok()
        .and_then(|s| workspace::json_string_field(&s.info, "go"));
        let mut nats_version = first_line(Command::new(nats).arg("--version"));
        if let Some(go) = nats_go {
            nats_version.push_str(&format!(" ({go})"));
        }
        let async_nats = fs::read_to_string(workspace::root().join("Cargo.lock"))
            .ok()
            .and_then(|lock| locked_version(&lock, "async-nats"))
            .map_or_else(String::new, |v| format!(" on async-nats {v}"));
        Facts {
            date: first_line(Command::new("date").args(["-u", "+%Y-%m-%d"])),
            machine: servers::machine(),
            load: fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "unknown".into()),
            natter_version: first_line(Command::new(&built.server).arg("--version")),
            nats_version,
            cli: format!(
                "{}{async_nats}",
                first_line(Command::new(&built.cli).arg("--version"))
            ),
            libnats,
            rustc: first_line(Command::new("rustc").arg("--version")),
            commit: commit(),
            command: req.command_line(),
            cli_queue: bench.cli_queue,
            quick: req.quick,
            rounds: req.rounds,
        }
    }
}

/// The short commit, marked when tracked files differ from it (the figures are then of a
/// work tree, not of that commit).
fn commit() -> String {
    let git = || {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(workspace::root());
        cmd
    };
    let Some(head) = command::output(git().args(["rev-parse", "--short", "HEAD"])) else {
        return "unknown".into();
    };
    let dirty = command::output(git().args(["status", "--porcelain", "--untracked-files=no"]))
        .is_some_and(|s| !s.trim().is_empty());
    format!(
        "{}{}",
        head.trim(),
        if dirty {
            " plus uncommitted changes"
        } else {
            ""
        }
    )
}

/// The version of `name` recorded in Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let want = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == want {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}

fn render_section(
    facts: &Facts,
    lines: &[Line],
    generators: &[GeneratorLine],
    failures: &[String],
    elapsed: Duration,
) -> String {
    let mut s = String::new();
    s.push_str(report::HEADING);
    s.push_str("\n\n");
    s.push_str(&format!(
        "Recorded {} with `{}` ({} round{}{}, {} s), written by the command itself.\n\n",
        facts.date,
        facts.command,
        facts.rounds,
        if facts.rounds == 1 { "" } else { "s" },
        if facts.quick {
            ", --quick message counts"
        } else {
            ""
        },
        elapsed.as_secs()
    ));
    s.push_str(&format!(
        "- Machine: {}; load average {} when the run started.\n\
         - Servers: {} (commit {}, {}, release profile) and {} (Debian package), both with default \
           settings on a loopback port.\n\
         - Load generator: `natter bench` ({}), publishers and subscribers on separate \
           connections, like `nats bench`. Its pub/sub clients speak the protocol themselves \
           (`--client wire`, the default): a publisher writes batches of ready-made `PUB` \
           frames and a subscriber counts `MSG` frames in its read buffer, so the server does \
           all of its usual work per message and the client little; request/reply requesters and \
           repliers do the same.{}\n\
         - Client and server share the machine's 2 cores; nothing is pinned. Each `natter \
           bench` client runs on a thread of its own, and those threads share the 2 cores with \
           the server, so absolute rates are lower than on a machine with separate client \
           hosts; the ratio is the figure to read.\n\
         - Method: for every round, every scenario runs against natter-server and then \
           nats-server (A B A B), each time on a fresh server process, so no run inherits \
           another's buffers, caches or heap growth, and background load hits both alike. \
           Figures are the median over rounds, with min–max in brackets. Published rate = \
           messages over the publisher's duration; delivered rate = messages received by all \
           subscribers over the slowest subscriber's duration.\n\
         - {}\n\
         - RSS per idle connection: fresh server, VmRSS from /proc/PID/status, then \
           {IDLE_CONNECTIONS} raw TCP connections from xtask (CONNECT, one SUB each, PING/PONG \
           to confirm), VmRSS again; (after − before) / {IDLE_CONNECTIONS}.\n\n",
        facts.machine,
        facts.load,
        facts.natter_version,
        facts.commit,
        facts.rustc,
        facts.nats_version,
        facts.cli,
        if facts.cli_queue {
            ""
        } else {
            " The queue-group scenario uses `natter bench` as the publisher and four raw \
             subscribers inside xtask (`SUB subject bench-q`), as `natter bench` has no queue \
             option; its rate is deliveries over the first-to-last delivery span."
        },
        "Goal (issue 4): natter/nats ≥ 1.25 on throughput; latency and RSS no worse than \
         nats-server (ratio ≤ 1)."
    ));
    s.push_str(&report::main_table(lines));
    s.push_str("\n### Is the load generator the bottleneck?\n\n");
    match &facts.libnats {
        Some(v) => s.push_str(&format!(
            "The same nats-server driven by a second, independent generator: a small C program on \
             the official NATS C client, libnats {v} (Debian's libnats-dev; source in \
             `xtask/src/bench/libnats_bench.c`). Where `natter bench` drives nats-server at least \
             as fast as libnats does, the server, not the generator, sets the figures above. The \
             last column is the same generator against natter-server, from the main table: how \
             fast the generator itself can go. The table above also has \
             rows driven by libnats against both servers (pub-only and 1 pub → 1 sub), marked \
             \"generator check\": they are there to check `natter bench` with a generator \
             that shares none of its code, and are not scored against the goal.\n\n"
        )),
        None => s.push_str(
            "libnats-dev was not available on this machine; no second generator ran.\n\n",
        ),
    }
    s.push_str(&report::generator_table(generators));
    s.push('\n');
    s.push_str(&report::generator_verdict(generators));
    if !failures.is_empty() {
        s.push_str("\nRuns that failed (left out of the medians):\n\n");
        for f in failures {
            s.push_str(&format!("- {f}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn request_defaults_and_flags() {
        let r = Request::parse(&[]).unwrap();
        assert_eq!(
            (r.quick, r.rounds, r.write, r.crates),
            (false, 3, true, false)
        );
        assert_eq!(r.command_line(), "cargo xtask bench");
        let r = Request::parse(&args(&["--quick", "--no-write"])).unwrap();
        assert_eq!((r.quick, r.rounds, r.write), (true, 1, false));
        assert_eq!(r.command_line(), "cargo xtask bench --quick --no-write");
        let r = Request::parse(&args(&["--rounds", "5"])).unwrap();
        assert_eq!(r.rounds, 5);
        assert_eq!(r.command_line(), "cargo xtask bench --rounds 5");
        assert!(Request::parse(&args(&["--rounds"])).is_err());
        assert!(Request::parse(&args(&["--rounds", "0"])).is_err());
        assert!(Request::parse(&args(&["--fast"])).is_err());
        let r = Request::parse(&args(&["--quick", "--counting"])).unwrap();
        assert_eq!(
            (r.quick, r.counting, r.crates, r.rounds),
            (true, true, false, 1)
        );
        let r = Request::parse(&args(&["--crates"])).unwrap();
        assert_eq!((r.crates, r.counting), (true, false));
        let both = Request::parse(&args(&["--crates", "--counting"]));
        assert!(both.as_ref().is_err_and(|f| f.is_usage()), "{both:?}");
        assert!(Request::parse(&args(&["--counting", "--no-write", "--crates"])).is_err());
    }

    #[test]
    fn libnats_output_gives_both_rates() {
        let out = parse_libnats("pub 1000000 0.5\nsub 1000000 0.8\nversion 3.4.1\n").unwrap();
        assert_eq!(out.pub_rate, 2_000_000.0);
        assert_eq!(out.sub_rate, 1_250_000.0);
        assert_eq!(out.version, "3.4.1");
        let pub_only = parse_libnats("pub 10 1.0\nversion 3.4.1\n").unwrap();
        assert!(pub_only.sub_rate.is_nan());
        assert_eq!(
            parse_libnats("libnats-bench: connect: Connection Refused\n"),
            None
        );
    }

    #[test]
    fn reads_a_locked_version() {
        let lock = "[[package]]\nname = \"async-nats\"\nversion = \"0.51.0\"\nsource = \"x\"\n\n[[package]]\nname = \"bytes\"\nversion = \"1.10.1\"\n";
        assert_eq!(
            locked_version(lock, "async-nats").as_deref(),
            Some("0.51.0")
        );
        assert_eq!(locked_version(lock, "bytes").as_deref(), Some("1.10.1"));
        assert_eq!(locked_version(lock, "tokio"), None);
    }

    #[test]
    fn quick_sends_a_quarter_and_sizes_are_labelled() {
        assert_eq!(message_count(Shape::PubOnly, 16, false), 10_000_000);
        assert_eq!(message_count(Shape::PubOnly, 16, true), 2_500_000);
        assert_eq!(payload_label(16), "16 B");
        assert_eq!(payload_label(1024), "1 KiB");
    }

    #[test]
    fn the_table_has_one_row_per_figure() {
        let shapes = [Shape::PubOnly, Shape::Request];
        let mut results = HashMap::new();
        for kind in [Kind::Natter, Kind::Nats] {
            results.insert(
                (Shape::Request, 16, kind),
                vec![Measure {
                    rate: 1000.0,
                    p50_us: Some(40.0),
                    p99_us: Some(90.0),
                }],
            );
        }
        let lines = table_lines(&shapes, &results, &HashMap::new());
        // pub-only x 3 sizes, request x 3 sizes x 3 figures, RSS.
        assert_eq!(lines.len(), 3 + 9 + 1);
        let p99 = lines
            .iter()
            .find(|l| l.scenario.contains("p99") && l.payload == "16 B")
            .unwrap();
        assert_eq!(p99.natter.unwrap().median, 90.0);
        assert!(lines[0].natter.is_none(), "no pub-only results were given");
    }
}
