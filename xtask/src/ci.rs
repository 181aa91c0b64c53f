//! `cargo xtask ci`: the project's one test command.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::command::{self, Transcript};
use crate::failure::Failure;
use crate::interop;
use crate::tally::Tally;
use crate::workspace;

/// The stable tests that replay the checked-in fuzz corpus, and the corpus directories each one
/// reads. Listed here, and run by name, so that deleting or renaming one fails CI instead of
/// quietly dropping the replay.
pub const CORPUS_REPLAYS: &[(&str, &[&str])] = &[
    ("natter-proto", &["client_ops", "route_ops", "roundtrip"]),
    ("natter-sublist", &["sublist_ops"]),
];

/// The fuzz project, a workspace of its own that the steps above do not see.
const FUZZ_MANIFEST: &str = "fuzz/Cargo.toml";

/// The name of the replay test in each crate of [`CORPUS_REPLAYS`] (`tests/corpus_replay.rs`).
const REPLAY_TEST: &str = "corpus_replay";

/// Runs every step in order and stops at the first that fails.
pub fn run() -> Result<(), Failure> {
    let started = Instant::now();
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    let mut total = Tally::default();

    let t = Instant::now();
    for manifest in ["Cargo.toml", FUZZ_MANIFEST] {
        command::run("fmt", workspace::cargo().args(fmt_args(manifest))).map_err(|_| {
            Failure::new(
                "fmt",
                format!(
                    "some files are not formatted as rustfmt would; run \
                     `cargo {}` and look at the diff above",
                    fmt_args(manifest)
                        .iter()
                        .filter(|a| **a != "--check")
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            )
        })?;
    }
    timings.push(("fmt", t.elapsed()));

    let t = Instant::now();
    command::run(
        "clippy",
        workspace::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    timings.push(("clippy", t.elapsed()));

    let t = Instant::now();
    let (runner, tests) = test_suite()?;
    total += tests;
    timings.push((runner, t.elapsed()));

    let t = Instant::now();
    total += corpus_replay()?;
    timings.push(("corpus-replay", t.elapsed()));

    let t = Instant::now();
    fuzz_targets()?;
    timings.push(("fuzz-targets", t.elapsed()));

    let t = Instant::now();
    total += interop::run()?;
    timings.push(("interop", t.elapsed()));

    let steps: Vec<String> = timings
        .iter()
        .map(|(name, d)| format!("{name} {}s", d.as_secs()))
        .collect();
    println!(
        "\nxtask ci: all steps passed in {}s ({})",
        started.elapsed().as_secs(),
        steps.join(", ")
    );
    // Alone on the last line, in the shape CI tooling reads as the run's test count.
    println!("ci: {total}");
    Ok(())
}

/// The workspace's tests: nextest (which skips doctests, so they run after it) when installed,
/// else plain `cargo test`. Returns which runner it used and the counts.
fn test_suite() -> Result<(&'static str, Tally), Failure> {
    let nextest = command::probe(workspace::cargo().args(["nextest", "--version"]));
    if !nextest {
        println!("\nxtask: cargo-nextest is not installed; running the suite with `cargo test`");
        let mut cmd = workspace::cargo();
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
        let out = command::tee("tests", &mut cmd)?;
        let tally = Tally::from_libtest(&out.text);
        judge("tests", &cmd, &out, tally)?;
        return Ok(("cargo-test", tally));
    }

    let mut cmd = workspace::cargo();
    cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    let out = command::tee("tests", &mut cmd)?;
    let mut tally = Tally::from_nextest(&out.text);
    judge("tests", &cmd, &out, tally)?;

    let mut cmd = workspace::cargo();
    cmd.args(["test", "--workspace", "--doc", "--no-fail-fast"]);
    let out = command::tee("doctests", &mut cmd)?;
    let doc = Tally::from_libtest(&out.text);
    if !out.status.success() {
        return Err(command::failed("doctests", &cmd, out.status));
    }
    tally += doc;
    Ok(("nextest+doctests", tally))
}

/// A test run passes only if the runner said so and it ran at least one test.
fn judge(
    step: &str,
    cmd: &std::process::Command,
    out: &Transcript,
    tally: Tally,
) -> Result<(), Failure> {
    if !out.status.success() {
        return Err(command::failed(step, cmd, out.status));
    }
    if tally.passed == 0 {
        return Err(Failure::new(
            step,
            format!(
                "`{}` succeeded but no test passed; a suite that runs nothing proves nothing",
                command::line(cmd)
            ),
        ));
    }
    Ok(())
}

/// Checks each replayed corpus is there and non-empty, then runs every replay test by name.
fn corpus_replay() -> Result<Tally, Failure> {
    const STEP: &str = "corpus-replay";
    let corpus = workspace::root().join("fuzz").join("corpus");
    let mut total = Tally::default();
    for (krate, dirs) in CORPUS_REPLAYS {
        for dir in *dirs {
            let files = count_files(&corpus.join(dir)).map_err(|why| {
                Failure::new(
                    STEP,
                    format!("fuzz/corpus/{dir} (replayed by {krate}) {why}; seed it with inputs for that fuzz target"),
                )
            })?;
            println!("xtask: fuzz/corpus/{dir}: {files} inputs");
        }
        let mut cmd = workspace::cargo();
        cmd.args(["test", "-p", krate, "--test", REPLAY_TEST]);
        let out = command::tee(STEP, &mut cmd)?;
        if !out.status.success() {
            return Err(Failure::new(
                STEP,
                format!(
                    "`{}` failed; if cargo says there is no such test target, {krate}/tests/{REPLAY_TEST}.rs is gone and the corpus is no longer replayed",
                    command::line(&cmd)
                ),
            ));
        }
        let tally = Tally::from_libtest(&out.text);
        judge(STEP, &cmd, &out, tally)?;
        total += tally;
    }
    Ok(total)
}

/// `cargo fmt --check` for one workspace. For the fuzz project only its own package: `--all`
/// would also reach its path dependencies, the crates the main workspace already checked.
fn fmt_args(manifest: &str) -> Vec<&str> {
    let mut args = vec!["fmt", "--check", "--manifest-path", manifest];
    if manifest != FUZZ_MANIFEST {
        args.insert(1, "--all");
    }
    args
}

/// Type-checks and lints the fuzz targets, so an API change in the crates they drive breaks CI
/// instead of the next fuzzing session. Without the `libfuzzer` feature nothing is linked, so
/// the C++ runtime is not built and no nightly flag is needed.
fn fuzz_targets() -> Result<(), Failure> {
    command::run(
        "fuzz-targets",
        workspace::cargo().args([
            "clippy",
            "--manifest-path",
            FUZZ_MANIFEST,
            "--bins",
            "--no-default-features",
            "--",
            "-D",
            "warnings",
        ]),
    )
}

/// Number of regular files directly in `dir`, or why the directory is unusable.
fn count_files(dir: &Path) -> Result<usize, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot be read ({e})"))?;
    let mut files = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot be read ({e})"))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            files += 1;
        }
    }
    if files == 0 {
        return Err("is empty".into());
    }
    Ok(files)
}
