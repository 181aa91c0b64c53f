//! `cargo xtask bench --counting`: what the publish path's counters cost.
//!
//! Runs natter-router's `read_path_16b` criterion group (the server reader's publish path:
//! no subscriber, one, four, a queue group of four) in two builds, alternating: as shipped,
//! and with `--cfg natter_uncounted`, which leaves out every in/out message and byte count
//! and the per-subscription delivery counts. The second build has its own target
//! directory, so the first stays as it was, and each build writes its criterion results to
//! a directory of its own (`CRITERION_HOME`). Then, end to end, natter-server built both
//! ways (located through cargo's messages) is driven by `natter bench` (its wire client,
//! which drives natter-server faster than libnats does; pub-only and 1 pub -> 1 sub, 16 B),
//! alternating too. Prints the medians and the differences, and
//! writes them to docs/benchmarks.md unless `--no-write`.

use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
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
    fn name(self) -> &'static str {
        match self {
            Build::Counted => "counted",
            Build::Uncounted => "uncounted",
        }
    }

    /// Where criterion writes this build's results, so the two builds never share them.
    fn criterion_home(self) -> PathBuf {
        workspace::target_dir()
            .join("bench")
            .join(format!("criterion-{}", self.name()))
    }
}

/// Runs `rounds` alternating pairs and reports; `quick` lowers the end-to-end message counts.
pub fn run(rounds: usize, write: bool, quick: bool) -> Result<(), Failure> {
    let mut counted: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len()];
    let mut uncounted: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len()];
    for round in 1..=rounds {
        for build in [Build::Counted, Build::Uncounted] {
            println!(
                "xtask: counting round {round}/{rounds}, {} build",
                build.name()
            );
            bench(build)?;
            let into = match build {
                Build::Counted => &mut counted,
                Build::Uncounted => &mut uncounted,
            };
            for (i, name) in SCENARIOS.iter().enumerate() {
                into[i].push(per_message_ns(&build.criterion_home(), name)?);
            }
        }
    }
    let table = table(&counted, &uncounted);
    println!("\n{table}");
    let end_to_end = end_to_end(rounds, quick)?;
    println!("{end_to_end}");
    if write {
        let path = workspace::root().join("docs/benchmarks.md");
        let doc = fs::read_to_string(&path).unwrap_or_default();
        let section = format!(
            "{HEADING}\n\n\
             `cargo xtask bench --counting{}` ({rounds} alternating rounds): natter-router's \
             `{GROUP}` criterion group, 16 B messages through `Ingest::publish` as the \
             server's reader publishes, built as shipped and with `--cfg natter_uncounted` \
             (no in/out message and byte counters, no per-subscription delivery counts). \
             Medians of the per-message times; the difference is what counting costs.\n\n\
             {table}\n{end_to_end}",
            if quick { " --quick" } else { "" }
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

/// Runs the criterion group in `build`, after deleting that build's previous results so
/// that only this run's can be read.
fn bench(build: Build) -> Result<(), Failure> {
    let home = build.criterion_home();
    for scenario in SCENARIOS {
        let new = home.join(GROUP).join(scenario).join("new");
        match fs::remove_dir_all(&new) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::new(
                    "bench",
                    format!("cannot delete {}: {e}", new.display()),
                ))
            }
        }
    }
    let mut cmd = workspace::cargo();
    cmd.env("CRITERION_HOME", &home);
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
fn configure(cmd: &mut Command, build: Build) -> &mut Command {
    if build == Build::Uncounted {
        let (var, flags) = uncounted_flags(
            std::env::var_os("CARGO_ENCODED_RUSTFLAGS"),
            std::env::var_os("RUSTFLAGS"),
        );
        cmd.env(var, flags).env(
            "CARGO_TARGET_DIR",
            workspace::target_dir().join("uncounted"),
        );
    }
    cmd
}

/// The variable and value that add `--cfg natter_uncounted` to the caller's flags. Cargo
/// ignores `RUSTFLAGS` when `CARGO_ENCODED_RUSTFLAGS` is set (even empty), so the flag then
/// goes there, as separate arguments joined by 0x1f.
fn uncounted_flags(encoded: Option<OsString>, plain: Option<OsString>) -> (&'static str, OsString) {
    match encoded {
        Some(mut flags) => {
            if !flags.is_empty() {
                flags.push("\x1f");
            }
            flags.push("--cfg\x1fnatter_uncounted");
            ("CARGO_ENCODED_RUSTFLAGS", flags)
        }
        None => {
            let mut flags = plain.unwrap_or_default();
            if !flags.is_empty() {
                flags.push(" ");
            }
            flags.push("--cfg natter_uncounted");
            ("RUSTFLAGS", flags)
        }
    }
}

/// natter-server built both ways, each run on a fresh server, driven by `natter bench`:
/// the table of rates.
fn end_to_end(rounds: usize, quick: bool) -> Result<String, Failure> {
    let scratch = workspace::target_dir().join("bench");
    let cli = {
        let mut cmd = workspace::cargo();
        cmd.args(["build", "--release", "-p", "natter-cli"]);
        let built = workspace::build_executables("bench", configure(&mut cmd, Build::Counted))?;
        workspace::find_executable("bench", &built, "natter")?
    };
    let mut servers = Vec::new();
    for build in [Build::Counted, Build::Uncounted] {
        let mut cmd = workspace::cargo();
        cmd.args(["build", "--release", "-p", "natter-server"]);
        let built = workspace::build_executables("bench", configure(&mut cmd, build))?;
        servers.push(Target {
            kind: Kind::Natter,
            binary: workspace::find_executable("bench", &built, "natter-server")?,
        });
    }
    let runner = Bench {
        natter_cli: cli,
        logs: scratch.join("logs"),
        cli_queue: true,
        quick,
        run_timeout: Duration::from_secs(180),
    };
    let shapes = [
        ("pub-only, published", Shape::PubOnly),
        ("1 pub → 1 sub, delivered", Shape::FanOut(1)),
    ];
    let mut out = String::from(
        "End to end, natter-server built both ways and driven by `natter bench` (its wire \
         client; 16 B, a fresh server per run, alternating), msgs/s:\n\n\
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
                let measure = runner
                    .scenario(server, shape, 16)
                    .map_err(|e| Failure::new("bench", e))?;
                rates[i].push(measure.rate);
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
/// iteration it declared as throughput, from the results under `home` (`CRITERION_HOME`).
fn per_message_ns(home: &Path, scenario: &str) -> Result<f64, Failure> {
    let dir = home.join(GROUP).join(scenario).join("new");
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
            // The difference is noise-sized when the uncounted median lies within the counted
            // runs' min–max.
            if c.min <= u.median && u.median <= c.max {
                "yes"
            } else {
                "no"
            }
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
        // An uncounted median slower than every counted run is outside the spread too.
        let t = table(
            &[vec![10.0, 11.0, 12.0], none(), none(), none()],
            &[vec![13.0], none(), none(), none()],
        );
        assert!(t.contains("| -2.0 ns (-15.4 %) | no |"), "{t}");
        // On the edges of the spread counts as inside.
        let t = table(
            &[vec![10.0, 11.0, 12.0], none(), none(), none()],
            &[vec![12.0], none(), none(), none()],
        );
        assert!(t.contains("| -1.0 ns (-8.3 %) | yes |"), "{t}");
    }

    #[test]
    fn uncounted_flags_go_where_cargo_reads_them() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            uncounted_flags(None, None),
            ("RUSTFLAGS", OsString::from("--cfg natter_uncounted"))
        );
        assert_eq!(
            uncounted_flags(None, os("-C target-cpu=native")),
            (
                "RUSTFLAGS",
                OsString::from("-C target-cpu=native --cfg natter_uncounted")
            )
        );
        assert_eq!(
            uncounted_flags(os("-C\x1ftarget-cpu=native"), os("ignored")),
            (
                "CARGO_ENCODED_RUSTFLAGS",
                OsString::from("-C\x1ftarget-cpu=native\x1f--cfg\x1fnatter_uncounted")
            )
        );
        assert_eq!(
            uncounted_flags(os(""), os("ignored")),
            (
                "CARGO_ENCODED_RUSTFLAGS",
                OsString::from("--cfg\x1fnatter_uncounted")
            )
        );
    }
}
