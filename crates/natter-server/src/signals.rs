//! Unix signals, handled as nats-server does: TERM/INT stop gracefully, USR2 enters lame duck
//! mode, USR1 reopens the log file, HUP reloads the configuration.

use std::ffi::OsString;
use std::io;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{SignalCommand, SignalTarget};

use crate::logging::{LogHandle, LogSettings};
use crate::ServerHandle;

/// Runs until the server stops: by SIGTERM/SIGINT, or at the end of lame duck mode.
///
/// `args` are the original command line, program name first, re-read on SIGHUP.
pub async fn run(
    handle: ServerHandle,
    args: Vec<OsString>,
    log: Option<LogHandle>,
) -> io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::debug!("Trapped \"terminated\" signal");
                handle.shutdown().await;
                return Ok(());
            }
            _ = int.recv() => {
                tracing::debug!("Trapped \"interrupt\" signal");
                handle.shutdown().await;
                return Ok(());
            }
            _ = usr2.recv() => handle.lame_duck(),
            _ = usr1.recv() => {
                if let Some(log) = &log {
                    match log.reopen() {
                        Ok(()) => tracing::info!("File log re-opened"),
                        Err(e) => tracing::error!("Error re-opening the log file: {e}"),
                    }
                }
            }
            _ = hup.recv() => reload(&handle, &args, log.as_ref()),
            _ = handle.stopped() => {
                tracing::info!("Server Exiting..");
                return Ok(());
            }
        }
    }
}

/// Re-reads the configuration from the original arguments and applies what can change live.
fn reload(handle: &ServerHandle, args: &[OsString], log: Option<&LogHandle>) {
    tracing::info!("Reloading server configuration");
    let loaded = match crate::config::load(args.iter().skip(1).cloned()) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("Failed to reload server configuration: {e}");
            return;
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let new = loaded.options;
    if let Some(log) = log {
        log.set_level(&LogSettings {
            debug: new.debug,
            trace: new.trace || new.trace_verbose,
            logtime: new.logtime,
            file: new.log_file.clone(),
            no_log: new.no_log,
        });
    }
    let plan = handle.reload(new);
    if plan.is_empty() {
        tracing::info!("Reloaded server configuration: no changes");
        return;
    }
    if !plan.applied.is_empty() {
        tracing::info!("Reload: applied {}", plan.applied.join(", "));
    }
    if !plan.not_reloadable.is_empty() {
        tracing::warn!(
            "Reload: not applied, restart to apply: {}",
            plan.not_reloadable.join(", ")
        );
    }
    if plan.not_reloadable.is_empty() {
        tracing::info!("Reloaded server configuration");
    } else {
        tracing::warn!("Reloaded server configuration partially");
    }
}

/// The Unix signal nats-server sends for each `--signal` command.
pub fn signal_for(command: SignalCommand) -> Signal {
    match command {
        SignalCommand::Stop => Signal::SIGKILL,
        SignalCommand::Quit => Signal::SIGINT,
        SignalCommand::Term => Signal::SIGTERM,
        SignalCommand::Reopen => Signal::SIGUSR1,
        SignalCommand::Reload => Signal::SIGHUP,
        SignalCommand::LameDuck => Signal::SIGUSR2,
    }
}

/// Sends `command` to a running server (`--signal CMD[=PID|=PIDFILE]`) and returns its pid.
/// Without a target, the one running `natter-server` process is found in `/proc`.
pub fn send(command: SignalCommand, target: Option<&SignalTarget>) -> Result<u32, String> {
    let pid = match target {
        Some(SignalTarget::Pid(p)) => *p,
        Some(SignalTarget::PidFile(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read pid file {}: {e}", path.display()))?;
            text.trim()
                .parse()
                .map_err(|_| format!("pid file {} does not hold a process id", path.display()))?
        }
        None => find_running()?,
    };
    let raw = i32::try_from(pid).map_err(|_| format!("invalid pid {pid}"))?;
    kill(Pid::from_raw(raw), signal_for(command))
        .map_err(|e| format!("cannot send {} to pid {pid}: {e}", command.as_str()))?;
    Ok(pid)
}

fn find_running() -> Result<u32, String> {
    let me = std::process::id();
    let mut found = Vec::new();
    let dir = std::fs::read_dir("/proc").map_err(|e| format!("cannot list processes: {e}"))?;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if pid != me && comm.trim_end() == "natter-server" {
            found.push(pid);
        }
    }
    match found.as_slice() {
        [] => Err("no natter-server process is running".to_string()),
        [one] => Ok(*one),
        many => {
            Err(format!(
            "multiple natter-server processes are running ({}); give one with --signal {{cmd}}=PID",
            many.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ))
        }
    }
}
