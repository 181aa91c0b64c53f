//! `cargo xtask interop`: the nats-py suite in `interop/python`, against a freshly built
//! `natter-server`, from a virtualenv xtask keeps under the target directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command;
use crate::failure::Failure;
use crate::tally::Tally;
use crate::workspace;

/// Everything the suite needs from PyPI, pinned, one place: xtask installs exactly this file
/// and rebuilds the virtualenv whenever its contents change.
const REQUIREMENTS: &str = "interop/python/requirements.txt";

const SUITE: &str = "interop/python";

/// pytest's exit code for "collected no tests".
const PYTEST_NO_TESTS: i32 = 5;

/// Sets up the virtualenv, builds the server, runs pytest; returns pytest's counts.
pub fn run() -> Result<Tally, Failure> {
    let (tally, result) = suite();
    result.map(|()| tally.unwrap_or_default())
}

/// [`run`], also giving pytest's counts when pytest ran but the suite failed, so `ci` can
/// count failed tests. `None`: pytest did not get to run.
pub fn suite() -> (Option<Tally>, Result<(), Failure>) {
    let root = workspace::root();
    let suite = root.join(SUITE);
    if !suite.is_dir() {
        return (
            None,
            Err(Failure::new(
                "interop",
                format!(
                    "{} does not exist; the nats-py suite is part of the test command",
                    suite.display()
                ),
            )),
        );
    }
    let prepared = virtualenv(&root).and_then(|python| Ok((python, build_server()?)));
    let (python, server) = match prepared {
        Ok(ready) => ready,
        Err(e) => return (None, Err(e)),
    };

    let mut cmd = Command::new(&python);
    cmd.current_dir(&root)
        .env("NATTER_SERVER_BIN", &server)
        // Keep the work tree clean: no __pycache__ beside the tests, no .pytest_cache at the root.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider"]);
    let out = match command::tee("interop", &mut cmd) {
        Ok(out) => out,
        Err(e) => return (None, Err(e)),
    };
    let tally = Tally::from_pytest(&out.text);
    let result = match out.status.code() {
        Some(0) if tally.passed > 0 => Ok(()),
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
    };
    (Some(tally), result)
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

    let requirements = root.join(REQUIREMENTS);
    let pins = fs::read_to_string(&requirements).map_err(|e| {
        Failure::new(
            STEP,
            format!(
                "cannot read {} ({e}); it lists the packages the interop suite needs",
                requirements.display()
            ),
        )
    })?;
    let stamp = stamp(base_version.trim(), &pins);

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
        "-r",
    ])
    .arg(&requirements);
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

/// What the virtualenv's stamp file holds: the base interpreter and the requirements exactly as
/// read, so editing a pin (or adding a package) rebuilds the virtualenv on the next run.
fn stamp(base_version: &str, requirements: &str) -> String {
    format!("{base_version}\n{REQUIREMENTS}:\n{requirements}")
}

/// Builds `natter-server` (debug) and returns the binary's absolute path, read from cargo's own
/// artifact messages so any target-dir setting is honoured.
fn build_server() -> Result<PathBuf, Failure> {
    const STEP: &str = "interop-build";
    let mut cmd = workspace::cargo();
    cmd.args(["build", "-p", "natter-server", "--bin", "natter-server"]);
    let built = workspace::build_executables(STEP, &mut cmd)?;
    let binary = workspace::find_executable(STEP, &built, "natter-server")?;
    if !binary.is_file() {
        return Err(Failure::new(
            STEP,
            format!("cargo reported {} but it is not there", binary.display()),
        ));
    }
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn stamp_changes_with_any_pin_or_the_interpreter() {
        let pins = "nats-py==2.16.0\npytest==9.2.0\n";
        let base = stamp("Python 3.11.2", pins);
        assert_eq!(base, stamp("Python 3.11.2", pins));
        assert_ne!(
            base,
            stamp("Python 3.11.2", "nats-py==2.16.1\npytest==9.2.0\n")
        );
        assert_ne!(
            base,
            stamp(
                "Python 3.11.2",
                "nats-py==2.16.0\npytest==9.2.0\nprometheus-client==0.26.0\n"
            )
        );
        assert_ne!(base, stamp("Python 3.12.1", pins));
    }
}
