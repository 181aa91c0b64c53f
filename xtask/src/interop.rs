//! `cargo xtask interop`: the nats-py suite in `interop/python`, against a freshly built
//! `natter-server`, from a virtualenv xtask keeps under the target directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::command;
use crate::failure::Failure;
use crate::tally::Tally;
use crate::workspace;

/// What the suite needs from PyPI, pinned so every machine tests against the same client.
const PACKAGES: &[&str] = &["nats-py==2.16.0", "pytest==9.2.0", "pytest-asyncio==1.5.0"];

/// Extra packages the suite itself may ask for, installed on top of [`PACKAGES`] when present.
const SUITE_REQUIREMENTS: &str = "interop/python/requirements.txt";

const SUITE: &str = "interop/python";

/// pytest's exit code for "collected no tests".
const PYTEST_NO_TESTS: i32 = 5;

/// Sets up the virtualenv, builds the server, runs pytest; returns pytest's counts.
pub fn run() -> Result<Tally, Failure> {
    let root = workspace::root();
    let suite = root.join(SUITE);
    if !suite.is_dir() {
        return Err(Failure::new(
            "interop",
            format!(
                "{} does not exist; the nats-py suite is part of the test command",
                suite.display()
            ),
        ));
    }
    let python = virtualenv(&root)?;
    let server = build_server()?;

    let mut cmd = Command::new(&python);
    cmd.current_dir(&root)
        .env("NATTER_SERVER_BIN", &server)
        // Keep the work tree clean: no __pycache__ beside the tests, no .pytest_cache at the root.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider"]);
    let out = command::tee("interop", &mut cmd)?;
    let tally = Tally::from_pytest(&out.text);
    match out.status.code() {
        Some(0) if tally.passed > 0 => Ok(tally),
        Some(0) => Err(Failure::new(
            "interop",
            "pytest exited 0 but reported no passed test",
        )),
        Some(PYTEST_NO_TESTS) => Err(Failure::new(
            "interop",
            format!(
                "pytest collected no tests in {SUITE} (exit code 5); the suite must not be empty"
            ),
        )),
        _ => Err(command::failed("interop", &cmd, out.status)),
    }
}

/// Returns the virtualenv's python, creating the virtualenv or reusing it when its stamp says
/// it already holds exactly the packages wanted, for the same base interpreter.
fn virtualenv(root: &Path) -> Result<PathBuf, Failure> {
    const STEP: &str = "interop-venv";
    let base_version =
        command::output(Command::new("python3").arg("--version")).ok_or_else(|| {
            Failure::new(
                STEP,
                "python3 is not installed or does not run; the interop suite needs it. \
             On Debian/Ubuntu: apt-get install python3 python3-venv",
            )
        })?;
    let venv = workspace::target_dir().join("interop-venv");
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join("natter-stamp.txt");

    let requirements = root.join(SUITE_REQUIREMENTS);
    let extra = fs::read_to_string(&requirements).unwrap_or_default();
    let stamp = format!(
        "{}\n{}\n{}",
        base_version.trim(),
        PACKAGES.join("\n"),
        extra.trim()
    );

    let stamped = fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp);
    if stamped
        && command::probe(Command::new(&python).args(["-c", "import nats, pytest, pytest_asyncio"]))
    {
        println!("\nxtask: reusing the virtualenv at {}", venv.display());
        return Ok(python);
    }

    command::run(
        STEP,
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )
    .map_err(|e| {
        Failure::new(
            STEP,
            format!(
                "{e}\n  python3 could not create a virtualenv. On Debian/Ubuntu install the venv \
                 module: apt-get install python3-venv"
            ),
        )
    })?;

    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
    ])
    .args(PACKAGES);
    if !extra.trim().is_empty() {
        pip.arg("-r").arg(&requirements);
    }
    command::run(STEP, &mut pip).map_err(|e| {
        Failure::new(
            STEP,
            format!("{e}\n  pip could not install the interop packages; is PyPI reachable?"),
        )
    })?;
    fs::write(&stamp_path, stamp)
        .map_err(|e| Failure::new(STEP, format!("cannot write {}: {e}", stamp_path.display())))?;
    Ok(python)
}

/// Builds `natter-server` (debug) and returns the binary's absolute path, read from cargo's own
/// artifact messages so any target-dir setting is honoured.
fn build_server() -> Result<PathBuf, Failure> {
    const STEP: &str = "interop-build";
    let mut cmd = workspace::cargo();
    cmd.args([
        "build",
        "-p",
        "natter-server",
        "--bin",
        "natter-server",
        "--message-format=json-render-diagnostics",
    ]);
    println!("\n==> [{STEP}] {}", command::line(&cmd));
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(STEP, format!("could not run cargo: {e}")))?;
    if !out.status.success() {
        return Err(command::failed(STEP, &cmd, out.status));
    }
    let messages = String::from_utf8_lossy(&out.stdout);
    let binary = messages
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter(|l| l.contains(r#""name":"natter-server""#))
        .find_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            Failure::new(
                STEP,
                "cargo built natter-server but named no executable for it",
            )
        })?;
    if !binary.is_file() {
        return Err(Failure::new(
            STEP,
            format!("cargo reported {} but it is not there", binary.display()),
        ));
    }
    Ok(binary)
}

/// The string value of `"field":"..."` in one line of cargo's JSON, unescaped.
fn json_string_field(line: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":\"");
    let start = line.find(&key)? + key.len();
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::json_string_field;

    #[test]
    fn reads_the_executable_of_an_artifact_message() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"natter-server"},"executable":"/w/target/debug/natter-server","fresh":true}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some("/w/target/debug/natter-server")
        );
    }

    #[test]
    fn unescapes_quotes_and_backslashes() {
        let line = r#"{"executable":"/a \"b\"/c\\d"}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some(r#"/a "b"/c\d"#)
        );
    }

    #[test]
    fn null_executable_is_absent() {
        let line = r#"{"reason":"compiler-artifact","executable":null}"#;
        assert_eq!(json_string_field(line, "executable"), None);
    }
}
