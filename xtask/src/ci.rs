//! `cargo xtask ci`: the project's one test command.

use std::env;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::command::{self, Transcript};
use crate::failure::Failure;
use crate::interop;
use crate::tally::Tally;
use crate::workspace;

/// The stable tests that replay the checked-in fuzz corpus, and the corpus directories each one
/// reads. Listed here, and checked by name, so that deleting or renaming one fails CI instead of
/// quietly dropping the replay.
pub const CORPUS_REPLAYS: &[(&str, &[&str])] = &[
    ("natter-proto", &["client_ops", "route_ops", "roundtrip"]),
    ("natter-sublist", &["sublist_ops"]),
];

/// The fuzz project, a workspace of its own that the steps above do not see.
const FUZZ_MANIFEST: &str = "fuzz/Cargo.toml";

/// The name of the replay test in each crate of [`CORPUS_REPLAYS`] (`tests/corpus_replay.rs`).
const REPLAY_TEST: &str = "corpus_replay";

/// Set (to anything but `0` or nothing) to run the suite with `cargo test` even when
/// cargo-nextest is installed: the path a machine without nextest takes.
const NO_NEXTEST_ENV: &str = "NATTER_CI_NO_NEXTEST";

/// Which runner ran the workspace's tests; the corpus-replay check asks the same one, so its
/// build is the one that just ran and nothing is recompiled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runner {
    Nextest,
    CargoTest,
}

/// What a run has done so far: step timings and the tests counted.
#[derive(Default)]
struct Progress {
    timings: Vec<(&'static str, Duration)>,
    total: Tally,
    /// Whether any step that runs tests has reported counts (or failed while running them).
    counted: bool,
}

impl Progress {
    /// Runs one step, recording how long it took even when it fails.
    fn step<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let t = Instant::now();
        let result = f(self);
        self.timings.push((name, t.elapsed()));
        result
    }

    /// Adds a test step's counts, failed tests included, before the step is judged.
    fn count(&mut self, tally: Tally) {
        self.total += tally;
        self.counted = true;
    }
}

/// Runs every step in order and stops at the first that fails. Once tests have run, the count
/// is the last line on stdout, whether the run passed or not (a failure's explanation follows
/// on stderr).
pub fn run() -> Result<(), Failure> {
    let started = Instant::now();
    let mut progress = Progress::default();
    let result = steps(&mut progress);

    let steps: Vec<String> = progress
        .timings
        .iter()
        .map(|(name, d)| format!("{name} {:.1}s", d.as_secs_f64()))
        .collect();
    let verdict = match &result {
        Ok(()) => "all steps passed",
        Err(_) => "stopped at a failing step",
    };
    let skipped = match progress.total.skipped {
        0 => String::new(),
        n => format!("; {n} tests skipped or ignored"),
    };
    println!(
        "\nxtask ci: {verdict} in {}s ({}){skipped}",
        started.elapsed().as_secs(),
        steps.join(", ")
    );
    if progress.counted {
        // Alone on the last line, in the shape CI tooling reads as the run's test count.
        println!("{}", progress.total.ci_line());
    }
    result
}

fn steps(progress: &mut Progress) -> Result<(), Failure> {
    progress.step("fmt", |_| {
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
        Ok(())
    })?;

    progress.step("clippy", |_| {
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
        )
    })?;

    let runner = choose_runner();
    match runner {
        Runner::Nextest => {
            progress.step("nextest", nextest_suite)?;
            progress.step("doctests", doctests)?;
        }
        Runner::CargoTest => progress.step("cargo-test", cargo_test_suite)?,
    }

    progress.step("corpus-replay", |_| corpus_replay(runner))?;
    progress.step("fuzz-targets", |_| fuzz_targets())?;
    progress.step("interop", |p| {
        let (tally, result) = interop::suite();
        if let Some(tally) = tally {
            p.count(tally);
        }
        result
    })
}

/// nextest when installed and not switched off by [`NO_NEXTEST_ENV`], else `cargo test`.
fn choose_runner() -> Runner {
    if env::var_os(NO_NEXTEST_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        println!("\nxtask: {NO_NEXTEST_ENV} is set; running the suite with `cargo test`");
        return Runner::CargoTest;
    }
    if command::probe(workspace::cargo().args(["nextest", "--version"])) {
        Runner::Nextest
    } else {
        println!("\nxtask: cargo-nextest is not installed; running the suite with `cargo test`");
        Runner::CargoTest
    }
}

/// The workspace's tests under nextest, which skips doctests (the next step runs them).
fn nextest_suite(progress: &mut Progress) -> Result<(), Failure> {
    let mut cmd = workspace::cargo();
    cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    let out = command::tee("nextest", &mut cmd)?;
    let tally = Tally::from_nextest(&out.text);
    progress.count(tally);
    judge("nextest", &cmd, &out, tally)
}

/// The doctests, which nextest cannot run. A workspace may have none, so zero is not a failure.
fn doctests(progress: &mut Progress) -> Result<(), Failure> {
    let mut cmd = workspace::cargo();
    cmd.args(["test", "--workspace", "--doc", "--no-fail-fast"]);
    let out = command::tee("doctests", &mut cmd)?;
    progress.count(Tally::from_libtest(&out.text));
    if !out.status.success() {
        return Err(command::failed("doctests", &cmd, out.status));
    }
    Ok(())
}

/// Every test binary and the doctests in one `cargo test` run.
fn cargo_test_suite(progress: &mut Progress) -> Result<(), Failure> {
    let mut cmd = workspace::cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"]);
    let out = command::tee("cargo-test", &mut cmd)?;
    let tally = Tally::from_libtest(&out.text);
    progress.count(tally);
    judge("cargo-test", &cmd, &out, tally)
}

/// A test run passes only if the runner said so and it ran at least one test.
fn judge(step: &str, cmd: &Command, out: &Transcript, tally: Tally) -> Result<(), Failure> {
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

/// Checks that each replayed corpus is there and non-empty, and that each replay test exists
/// and passes. The tests already ran in the suite above; asking again, with the same runner
/// over the same `--workspace` build (so the same features and no recompilation), takes
/// seconds and fails loudly if a replay test was renamed or deleted. Counts are not added to
/// the total: these tests were counted once already.
fn corpus_replay(runner: Runner) -> Result<(), Failure> {
    const STEP: &str = "corpus-replay";
    let root = workspace::root();
    let corpus = root.join("fuzz").join("corpus");
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
        let test_file = root
            .join("crates")
            .join(krate)
            .join("tests")
            .join(format!("{REPLAY_TEST}.rs"));
        if !test_file.is_file() {
            return Err(Failure::new(
                STEP,
                format!(
                    "crates/{krate}/tests/{REPLAY_TEST}.rs is gone, so fuzz/corpus/{{{}}} is no \
                     longer replayed; restore it or update CORPUS_REPLAYS in xtask/src/ci.rs",
                    dirs.join(",")
                ),
            ));
        }
    }

    match runner {
        Runner::Nextest => {
            for (krate, _) in CORPUS_REPLAYS {
                let mut cmd = workspace::cargo();
                cmd.args(["nextest", "run", "--workspace", "--no-fail-fast", "-E"])
                    .arg(format!("binary_id({krate}::{REPLAY_TEST})"));
                let out = command::tee(STEP, &mut cmd)?;
                judge(STEP, &cmd, &out, Tally::from_nextest(&out.text))?;
            }
        }
        Runner::CargoTest => {
            let mut cmd = workspace::cargo();
            cmd.args(["test", "--workspace", "--test", REPLAY_TEST]);
            let out = command::tee(STEP, &mut cmd)?;
            judge(STEP, &cmd, &out, Tally::from_libtest(&out.text))?;
            // One libtest summary per crate: the output does not name the crate, so a missing
            // binary shows up as a missing summary.
            let binaries = Tally::libtest_binaries(&out.text);
            if binaries.len() != CORPUS_REPLAYS.len() || binaries.iter().any(|t| t.passed == 0) {
                return Err(Failure::new(
                    STEP,
                    format!(
                        "`{}` ran {} test binaries ({}); want {}, one per crate in \
                         CORPUS_REPLAYS, each with a passing test",
                        command::line(&cmd),
                        binaries.len(),
                        binaries
                            .iter()
                            .map(|t| format!("{} passed", t.passed))
                            .collect::<Vec<_>>()
                            .join(", "),
                        CORPUS_REPLAYS.len()
                    ),
                ));
            }
        }
    }
    Ok(())
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
/// the C++ runtime is not built and no nightly flag is needed. `--locked`: the versions come
/// from the committed fuzz/Cargo.lock, the same on every machine and with no index lookup.
fn fuzz_targets() -> Result<(), Failure> {
    const STEP: &str = "fuzz-targets";
    let mut cmd = workspace::cargo();
    cmd.args([
        "clippy",
        "--manifest-path",
        FUZZ_MANIFEST,
        "--locked",
        "--bins",
        "--no-default-features",
        "--",
        "-D",
        "warnings",
    ]);
    command::run(STEP, &mut cmd).map_err(|_| {
        Failure::new(
            STEP,
            format!(
                "`{}` failed. If cargo said the lock file needs to be updated, a dependency \
                 of natter-proto or natter-sublist changed: run `cargo check --manifest-path \
                 {FUZZ_MANIFEST} --no-default-features` once, without --locked, and commit \
                 the updated fuzz/Cargo.lock",
                command::line(&cmd)
            ),
        )
    })
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
