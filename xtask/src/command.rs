//! Running the tools xtask drives, echoing each command line first so a CI log shows exactly
//! what ran.

use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::failure::Failure;

/// What a command printed (stdout and stderr, each line whole, in arrival order per stream) and
/// how it ended.
pub struct Transcript {
    pub status: ExitStatus,
    pub text: String,
}

/// Runs `cmd` with the terminal attached; any non-zero exit fails `step`.
pub fn run(step: &str, cmd: &mut Command) -> Result<(), Failure> {
    announce(step, cmd);
    let status = cmd.status().map_err(|e| cannot_start(step, cmd, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(failed(step, cmd, status))
    }
}

/// Runs `cmd`, passing its output through as it comes and also keeping it, so the caller can
/// read test counts from it. The caller judges the exit status (pytest's 5 means something
/// different from its 1).
pub fn tee(step: &str, cmd: &mut Command) -> Result<Transcript, Failure> {
    announce(step, cmd);
    // Piped output makes cargo and nextest drop colours; keep them for a person at a terminal.
    if io::stdout().is_terminal() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        cmd.env("CARGO_TERM_COLOR", "always");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| cannot_start(step, cmd, e))?;
    let kept = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    let out_pump = pump(stdout, io::stdout(), Arc::clone(&kept));
    let err_pump = pump(stderr, io::stderr(), Arc::clone(&kept));
    let status = child.wait().map_err(|e| cannot_start(step, cmd, e))?;
    // A pump only ends at end of file, which comes once the child (and anything it spawned
    // that inherited the pipe) has exited.
    let _ = out_pump.join();
    let _ = err_pump.join();
    let text = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Transcript { status, text })
}

/// Runs `cmd` quietly and says whether it succeeded; for probing whether a tool is installed.
pub fn probe(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` quietly and returns its stdout when it succeeded.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pump(
    from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    kept: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let _ = to.write_all(&buf);
                    let _ = to.flush();
                    kept.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_str(&String::from_utf8_lossy(&buf));
                }
            }
        }
    })
}

fn announce(step: &str, cmd: &Command) {
    println!("\n==> [{step}] {}", line(cmd));
    let _ = io::stdout().flush();
}

/// The command as a person would type it, with the environment it was given in front.
pub fn line(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .filter(|w| !w.starts_with("CARGO_TERM_COLOR="))
        .collect();
    // `CARGO` is a long toolchain path; a person would type `cargo`.
    let program = cmd.get_program();
    if std::env::var_os("CARGO").is_some_and(|cargo| cargo == program) {
        words.push("cargo".into());
    } else {
        words.push(program.to_string_lossy().into_owned());
    }
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status} (killed by a signal)"),
    }
}

/// Failure text for a command that ran but ended badly.
pub fn failed(step: &str, cmd: &Command, status: ExitStatus) -> Failure {
    Failure::new(
        step,
        format!("`{}` exited with {}", line(cmd), describe_status(status)),
    )
}

fn cannot_start(step: &str, cmd: &Command, e: io::Error) -> Failure {
    Failure::new(
        step,
        format!(
            "could not run `{}`: {e}",
            cmd.get_program().to_string_lossy()
        ),
    )
}
