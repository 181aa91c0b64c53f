//! `cargo xtask fuzz [TARGET [INPUT]] [--seconds N]`: real coverage-guided fuzzing with
//! cargo-fuzz, or one saved input (a crash artifact) run through a target to reproduce it.
//!
//! cargo-fuzz passes nightly-only flags (`-Zsanitizer=address`, sanitizer coverage) to rustc.
//! No nightly toolchain can be installed here, so the stable compiler is told to accept them
//! with `RUSTC_BOOTSTRAP=1`; docs/fuzzing.md records that this works on the machine's toolchain.

use std::fs;
use std::path::{Path, PathBuf};

use crate::command;
use crate::failure::Failure;
use crate::workspace;

/// The cargo-fuzz release this was checked with; installed when `cargo fuzz` is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

const DEFAULT_SECONDS: u64 = 60;

/// What to fuzz and for how long.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    target: Option<String>,
    /// A file to run through `target` once instead of fuzzing.
    input: Option<PathBuf>,
    seconds: u64,
}

impl Request {
    /// Parses `[TARGET [INPUT]] [--seconds N]` (also `--seconds=N`).
    pub fn parse(args: &[String]) -> Result<Request, Failure> {
        let mut request = Request {
            target: None,
            input: None,
            seconds: DEFAULT_SECONDS,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let seconds = if arg == "--seconds" {
                Some(
                    args.next()
                        .ok_or_else(|| Failure::usage("`--seconds` needs a number"))?
                        .as_str(),
                )
            } else {
                arg.strip_prefix("--seconds=")
            };
            if let Some(n) = seconds {
                request.seconds = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    Failure::usage(format!("`--seconds {n}`: want a positive whole number"))
                })?;
            } else if arg.starts_with('-') {
                return Err(Failure::usage(format!(
                    "`fuzz` does not know the option `{arg}`"
                )));
            } else if request.target.is_none() {
                request.target = Some(arg.clone());
            } else if request.input.replace(PathBuf::from(arg)).is_some() {
                return Err(Failure::usage(
                    "`fuzz` takes at most a TARGET and one INPUT file",
                ));
            }
        }
        Ok(request)
    }
}

/// Fuzzes the requested target, or every target in turn; stops at the first crash.
pub fn run(request: Request) -> Result<(), Failure> {
    let all = targets()?;
    let chosen: Vec<String> = match request.target {
        Some(t) if all.contains(&t) => vec![t],
        Some(t) => {
            return Err(Failure::usage(format!(
                "no fuzz target `{t}`; the targets are: {}",
                all.join(", ")
            )))
        }
        None => all,
    };
    ensure_cargo_fuzz()?;

    let root = workspace::root();
    if let Some(input) = &request.input {
        return reproduce(&root, &chosen[0], input);
    }
    for target in &chosen {
        // libFuzzer writes every new interesting input into the first corpus directory. Point
        // it at a scratch directory so the checked-in seeds only change when someone means it.
        let scratch = workspace::target_dir().join("fuzz-corpus").join(target);
        fs::create_dir_all(&scratch).map_err(|e| {
            Failure::new("fuzz", format!("cannot create {}: {e}", scratch.display()))
        })?;
        let seeds = root.join("fuzz").join("corpus").join(target);

        let mut cmd = workspace::cargo();
        cmd.env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--fuzz-dir"])
            .arg(root.join("fuzz"))
            .arg(target)
            .arg(&scratch);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        cmd.arg("--")
            .arg(format!("-max_total_time={}", request.seconds));
        if let Some(len) = max_len(target) {
            cmd.arg(format!("-max_len={len}"));
        }
        command::run("fuzz", &mut cmd).map_err(|_| {
            Failure::new(
                "fuzz",
                format!(
                    "target `{target}` failed (a crash, a leak, or a build error: see above). \
                     A crashing input is saved under fuzz/artifacts/{target}/; \
                     docs/fuzzing.md says how to reproduce it and add it to the corpus"
                ),
            )
        })?;
        println!(
            "xtask: `{target}` ran {}s without a crash; new inputs are in {}",
            request.seconds,
            scratch.display()
        );
    }
    Ok(())
}

/// Runs one saved input through `target` once, as libFuzzer does for a file argument: the same
/// build, checks and sanitizer as the fuzzing run that saved it, so a crash reproduces exactly,
/// including one from the `Arbitrary` half of `roundtrip`, which the stable replay never runs.
fn reproduce(root: &Path, target: &str, input: &Path) -> Result<(), Failure> {
    if !input.is_file() {
        return Err(Failure::usage(format!(
            "INPUT `{}` is not a file",
            input.display()
        )));
    }
    // Relative to where the command was typed, while cargo runs from the repository root.
    let input = std::env::current_dir()
        .map(|dir| dir.join(input))
        .unwrap_or_else(|_| input.to_path_buf());
    let mut cmd = workspace::cargo();
    cmd.env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--fuzz-dir"])
        .arg(root.join("fuzz"))
        .arg(target)
        .arg(&input);
    command::run("fuzz", &mut cmd).map_err(|_| {
        Failure::new(
            "fuzz",
            format!(
                "`{target}` fails on {}: reproduced (the panic and its message are above)",
                input.display()
            ),
        )
    })?;
    println!("xtask: `{target}` passes on {}", input.display());
    Ok(())
}

/// libFuzzer's `-max_len` for a target, when its default (the largest seed, at least 4096
/// bytes) is too short: the stream parsers fuzz with the default limits, and only an input
/// longer than the 4096-byte control-line limit reaches that check.
fn max_len(target: &str) -> Option<usize> {
    matches!(target, "client_ops" | "route_ops").then_some(8192)
}

/// The fuzz targets: one per `fuzz/fuzz_targets/*.rs`.
fn targets() -> Result<Vec<String>, Failure> {
    let dir: PathBuf = workspace::root().join("fuzz").join("fuzz_targets");
    let entries = fs::read_dir(&dir)
        .map_err(|e| Failure::new("fuzz", format!("cannot read {}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Failure::new(
            "fuzz",
            format!("{} holds no fuzz targets", dir.display()),
        ));
    }
    Ok(names)
}

fn ensure_cargo_fuzz() -> Result<(), Failure> {
    if command::probe(workspace::cargo().args(["fuzz", "--version"])) {
        return Ok(());
    }
    println!(
        "\nxtask: cargo-fuzz is not installed; installing {CARGO_FUZZ_VERSION} from crates.io"
    );
    command::run(
        "fuzz-install",
        workspace::cargo().args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Request, Failure> {
        Request::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn target_input_and_seconds() {
        assert_eq!(
            parse(&["roundtrip", "fuzz/artifacts/roundtrip/crash-1"]).unwrap(),
            Request {
                target: Some("roundtrip".into()),
                input: Some(PathBuf::from("fuzz/artifacts/roundtrip/crash-1")),
                seconds: DEFAULT_SECONDS,
            }
        );
        assert_eq!(
            parse(&["--seconds=5", "client_ops"]).unwrap(),
            Request {
                target: Some("client_ops".into()),
                input: None,
                seconds: 5,
            }
        );
    }

    #[test]
    fn a_third_positional_argument_is_refused() {
        let err = parse(&["roundtrip", "a", "b"]).unwrap_err();
        assert!(err.is_usage());
        assert!(parse(&["--seconds", "0"]).unwrap_err().is_usage());
    }

    #[test]
    fn only_the_stream_parsers_get_a_longer_max_len() {
        assert_eq!(max_len("client_ops"), Some(8192));
        assert_eq!(max_len("route_ops"), Some(8192));
        assert_eq!(max_len("roundtrip"), None);
        assert_eq!(max_len("sublist_ops"), None);
    }
}
