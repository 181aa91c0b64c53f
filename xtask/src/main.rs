//! Natter's project automation, run as `cargo xtask <command>`.
//!
//! It only orchestrates tools that already exist (cargo, rustfmt, clippy, nextest, cargo-fuzz,
//! python3 and pytest) and depends on nothing but `std`, so building it costs seconds, not
//! minutes, on a fresh clone.
//!
//! ```text
//! cargo xtask ci                      # the one test command (README, .ci/run)
//! cargo xtask interop                 # only the nats-py interop suite
//! cargo xtask fuzz client_ops --seconds 60
//! cargo xtask fuzz roundtrip fuzz/artifacts/roundtrip/crash-...   # reproduce a crash
//! cargo xtask bench [--quick] [--rounds N] [--no-write] [--crates | --counting]
//! ```

mod bench;
mod ci;
mod command;
mod failure;
mod fuzz;
mod interop;
mod tally;
mod workspace;

use std::process::ExitCode;

use failure::Failure;

const HELP: &str = "\
cargo xtask <COMMAND>

Natter's project automation. Every command stops at the first failing step, says which step
failed and why, and exits non-zero.

Commands:
  ci                     The whole check, in order: cargo fmt --check; cargo clippy
                         (-D warnings); the test suite (cargo nextest + doctests when
                         cargo-nextest is installed and NATTER_CI_NO_NEXTEST is unset, else
                         cargo test); a check that the fuzz corpus replay tests ran; the fuzz
                         targets' lints; the nats-py interop suite. Last line:
                         `ci: N passed, M failed`. This is the project's test command.
  interop                Only the Python interop suite: a virtualenv under target/interop-venv
                         (interop/python/requirements.txt), a debug build of natter-server, then
                         pytest over interop/python with NATTER_SERVER_BIN set.
  fuzz [TARGET [INPUT]] [--seconds N]
                         Runs the libFuzzer targets in fuzz/ through cargo-fuzz on the stable
                         toolchain (RUSTC_BOOTSTRAP=1), installing cargo-fuzz when it is missing.
                         Without TARGET every target runs in turn; N seconds each (default 60).
                         Crashes land in fuzz/artifacts/TARGET/; see docs/fuzzing.md. With
                         INPUT (such a crash file), runs only that input, to reproduce it.
  bench [--quick] [--rounds N] [--no-write] [--crates | --counting]
                         natter-server side by side with nats-server (Debian's package,
                         installed when missing and run as root): release build, the same
                         scenarios driven by `natter bench` against both, alternating, N rounds
                         (default 3; --quick: 1 round, a quarter of the messages), RSS per idle
                         connection, and a second load generator (libnats) as a check. Writes
                         the table into docs/benchmarks.md unless --no-write. A few minutes;
                         --quick under one. --crates: the criterion benches of natter-proto and
                         natter-sublist instead. --counting: what counting costs: natter-router's
                         read-path bench built with and without its counters, alternating N
                         rounds, then natter-server built both ways end to end (--quick: a
                         quarter of the messages), written to docs/benchmarks.md unless
                         --no-write. --crates and --counting exclude each other.
  help                   This text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    let outcome = match command {
        "ci" => no_arguments("ci", rest).and_then(|()| ci::run()),
        "interop" => no_arguments("interop", rest).and_then(|()| interop::run().map(drop)),
        "fuzz" => fuzz::Request::parse(rest).and_then(fuzz::run),
        "bench" => bench::Request::parse(rest).and_then(bench::run),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(Failure::usage(format!("unknown command `{other}`"))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("\nxtask: {failure}");
            if failure.is_usage() {
                eprint!("\n{HELP}");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn no_arguments(command: &str, rest: &[String]) -> Result<(), Failure> {
    match rest.first() {
        None => Ok(()),
        Some(extra) => Err(Failure::usage(format!(
            "`{command}` takes no arguments, got `{extra}`"
        ))),
    }
}
