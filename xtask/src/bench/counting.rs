//! `cargo xtask bench --counting`: what the publish path's counters cost.
//!
//! Runs natter-router's `read_path_16b` criterion group (the server reader's publish path:
//! no subscriber, one, four, a queue group of four) in two builds, alternating: as shipped,
//! and with `--cfg natter_uncounted`, which leaves out every in/out message and byte count
//! and the per-subscription delivery counts. The second build has its own target
//! directory, so the first stays as it was. Then, end to end, natter-server built both
//! ways is driven by the libnats generator (pub-only and 1 pub -> 1 sub, 16 B), alternating
//! too. Prints the medians and the differences, and writes them to docs/benchmarks.md
//! unless `--no-write`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bench::report;
use crate::bench::servers::{Kind, Target};
use crate::bench::stats::summarize;
use crate::bench::{Bench, Shape};
use crate::command;
use crate::failure::Failure;
use crate::workspace;

/// The section of docs/benchmarks.md this command writes.
const HEADING: &str = "## What counting costs";

/// The criterion group, and the scenarios in it, in the order printed.
const GROUP: &str = "read_path_16b";
const SCENARIOS: [&str; 4] = [
    "no_subscriber",
    "1_subscriber",
    "4_subscribers",
    "queue_group_of_4",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    Counted,
    Uncounted,
}

impl Build {
    fn target_dir(self) -> PathBuf {
        match self {
            Build::Counted => workspace::target_dir(),
            Build::Uncounted => workspace::target_dir().join("uncounted"),
        }
    }
}

/// Runs `rounds` alternating pairs and reports.
pub fn run(rounds: usize, write: bool) -> Result<(), Failure> {
    let mut counted: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len()];
    let mut uncounted: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len()];
    for round in 1..=rounds {
        for build in [Build::Counted, Build::Uncounted] {
            println!(
                "xtask: counting round {round}/{rounds}, {} build",
                match build {
                    Build::Counted => "counted",
                    Build::Uncounted => "uncounted",
                }
            );
            bench(build)?;
            let into = match build {
                Build::Counted => &mut counted,
                Build::Uncounted => &mut uncounted,
            };
            for (i, name) in SCENARIOS.iter().enumerate() {
                into[i].push(per_message_ns(&build.target_dir(), name)?);
            }
        }
    }
    let table = table(&counted, &uncounted);
    println!("\n{table}");
    let end_to_end = end_to_end(rounds)?;
    println!("{end_to_end}");
    if write {
        let path = workspace::root().join("docs/benchmarks.md");
        let doc = fs::read_to_string(&path).unwrap_or_default();
        let section = format!(
            "{HEADING}\n\n\
             `cargo xtask bench --counting` ({rounds} alternating rounds): natter-router's \
             `{GROUP}` criterion group, 16 B messages through `Ingest::publish` as the \
             server's reader publishes, built as shipped and with `--cfg natter_uncounted` \
             (no in/out message and byte counters, no per-subscription delivery counts). \
             Medians of the per-message times; the difference is what counting costs.\n\n\
             {table}\n{end_to_end}"
        );
        fs::write(
            &path,
            report::replace_section_under(&doc, HEADING, &section),
        )
        .map_err(|e| Failure::new("bench", format!("cannot write {}: {e}", path.display())))?;
        println!("xtask: wrote \"{}\" in {}", &HEADING[3..], path.display());
    }
    Ok(())
}

fn bench(build: Build) -> Result<(), Failure> {
    let mut cmd = workspace::cargo();
    cmd.args([
        "bench",
        "-p",
        "natter-router",
        "--bench",
        "publish",
        "--",
        GROUP,
    ]);
    command::run("bench", configure(&mut cmd, build))
}

/// Points `cmd` (a cargo command) at `build`'s flags and target directory.
fn configure(cmd: &mut std::process::Command, build: Build) -> &mut std::process::Command {
    if build == Build::Uncounted {
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        flags.push_str(" --cfg natter_uncounted");
        cmd.env("RUSTFLAGS", flags.trim())
            .env("CARGO_TARGET_DIR", build.target_dir());
    }
    cmd
}

/// natter-server built both ways, each run on a fresh server, driven by the libnats
/// generator: the table of rates, or a line saying why there is none.
fn end_to_end(rounds: usize) -> Result<String, Failure> {
    let scratch = workspace::target_dir().join("bench");
    let Some(gen) = super::libnats_generator(&scratch) else {
        return Ok("End to end: not measured (the libnats generator could not be built).\n".into());
    };
    let mut servers = Vec::new();
    for build in [Build::Counted, Build::Uncounted] {
        let mut cmd = workspace::cargo();
        cmd.args(["build", "--release", "-p", "natter-server"]);
        command::run("bench", configure(&mut cmd, build))?;
        servers.push(Target {
            kind: Kind::Natter,
            binary: build.target_dir().join("release").join("natter-server"),
        });
    }
    let runner = Bench {
        natter_cli: PathBuf::new(),
        logs: scratch.join("logs"),
        cli_queue: false,
        quick: false,
        run_timeout: Duration::from_secs(180),
    };
    let shapes = [
        ("pub-only, published", Shape::PubOnly),
        ("1 pub → 1 sub, delivered", Shape::FanOut(1)),
    ];
    let mut out = String::from(
        "End to end, natter-server built both ways and driven by the libnats generator \
         (16 B, a fresh server per run, alternating), msgs/s:\n\n\
         | scenario | counted | uncounted | counted / uncounted | ranges overlap |\n\
         |---|---:|---:|---:|---|\n",
    );
    for (label, shape) in shapes {
        let mut rates = [Vec::new(), Vec::new()];
        for round in 1..=rounds {
            for (i, server) in servers.iter().enumerate() {
                println!(
                    "xtask: end to end, {label}, round {round}/{rounds}, build {}",
                    i + 1
                );
                let (rate, _) = runner
                    .libnats(&gen, server, shape, 16)
                    .map_err(|e| Failure::new("bench", e))?;
                rates[i].push(rate);
            }
        }
        let (Some(c), Some(u)) = (summarize(&rates[0]), summarize(&rates[1])) else {
            continue;
        };
        out.push_str(&format!(
            "| {label} | {:.2} M ({:.2}–{:.2}) | {:.2} M ({:.2}–{:.2}) | {:.2} | {} |\n",
            c.median / 1e6,
            c.min / 1e6,
            c.max / 1e6,
            u.median / 1e6,
            u.min / 1e6,
            u.max / 1e6,
            c.median / u.median,
            // Overlapping min–max ranges: the builds differ by less than runs of one do.
            if c.min <= u.max && u.min <= c.max {
                "yes"
            } else {
                "no"
            }
        ));
    }
    Ok(out)
}

/// Criterion's mean time per iteration of `scenario`, divided by the messages per
/// iteration it declared as throughput.
fn per_message_ns(target: &Path, scenario: &str) -> Result<f64, Failure> {
    let dir = target
        .join("criterion")
        .join(GROUP)
        .join(scenario)
        .join("new");
    let read = |file: &str| {
        fs::read_to_string(dir.join(file)).map_err(|e| {
            Failure::new(
                "bench",
                format!("criterion wrote no {}: {e}", dir.join(file).display()),
            )
        })
    };
    let estimates = read("estimates.json")?;
    let benchmark = read("benchmark.json")?;
    let mean = number_after(&estimates, "\"mean\"", "\"point_estimate\":");
    let elements = number_after(&benchmark, "\"throughput\"", "\"Elements\":");
    match (mean, elements) {
        (Some(ns), Some(n)) if n > 0.0 => Ok(ns / n),
        _ => Err(Failure::new(
            "bench",
            format!("cannot read the mean and throughput in {}", dir.display()),
        )),
    }
}

/// The number after the first `key` that follows `scope` in a JSON text.
fn number_after(json: &str, scope: &str, key: &str) -> Option<f64> {
    let from = json.find(scope)?;
    let rest = &json[from..];
    let at = rest.find(key)? + key.len();
    let digits: String = rest[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    digits.parse().ok()
}

fn table(counted: &[Vec<f64>], uncounted: &[Vec<f64>]) -> String {
    let mut out = String::from(
        "| scenario | counted (ns/msg) | uncounted (ns/msg) | counting costs | inside the counted build's own spread |\n\
         |---|---:|---:|---:|---|\n",
    );
    for (i, name) in SCENARIOS.iter().enumerate() {
        let (Some(c), Some(u)) = (summarize(&counted[i]), summarize(&uncounted[i])) else {
            continue;
        };
        out.push_str(&format!(
            "| {} | {:.1} ({:.1}–{:.1}) | {:.1} ({:.1}–{:.1}) | {:+.1} ns ({:+.1} %) | {} |\n",
            name.replace('_', " "),
            c.median,
            c.min,
            c.max,
            u.median,
            u.min,
            u.max,
            c.median - u.median,
            (c.median - u.median) / u.median * 100.0,
            // The difference is noise-sized when the uncounted median is no faster than the
            // fastest counted run.
            if u.median >= c.min { "yes" } else { "no" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_files() {
        let estimates = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2560.5,"standard_error":0.1},"median":{"point_estimate":9.0}}"#;
        assert_eq!(
            number_after(estimates, "\"mean\"", "\"point_estimate\":"),
            Some(2560.5)
        );
        let benchmark = r#"{"group_id":"g","throughput":{"Elements":256},"full_id":"g/x"}"#;
        assert_eq!(
            number_after(benchmark, "\"throughput\"", "\"Elements\":"),
            Some(256.0)
        );
        assert_eq!(number_after(benchmark, "\"mean\"", "\"Elements\":"), None);
    }

    #[test]
    fn table_shows_the_difference() {
        let t = table(
            &[vec![11.0, 10.0, 12.0], vec![], vec![], vec![]],
            &[vec![10.0, 9.0, 10.0], vec![], vec![], vec![]],
        );
        assert!(
            t.contains(
                "| no subscriber | 11.0 (10.0–12.0) | 10.0 (9.0–10.0) | +1.0 ns (+10.0 %) | yes |"
            ),
            "{t}"
        );
        let none = Vec::new;
        let t = table(
            &[vec![11.0], none(), none(), none()],
            &[vec![9.0], none(), none(), none()],
        );
        assert!(t.contains("| +2.0 ns (+22.2 %) | no |"), "{t}");
        assert_eq!(t.lines().count(), 3, "{t}");
    }
}
