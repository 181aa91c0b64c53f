//! The built `natter-server` binary: flags, log and pid files, signals.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_natter-server");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-bin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until the log file has the listening line and returns the port from it.
async fn listening_port(log: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("Listening for client connections on "))
        {
            let addr = line.rsplit(' ').next().unwrap();
            return addr.rsplit(':').next().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no listening line in {text:?}");
        sleep(Duration::from_millis(20)).await;
    }
}

fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id().unwrap() as i32), sig).unwrap();
}

async fn exit_code(child: &mut Child) -> i32 {
    timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exits in time")
        .unwrap()
        .code()
        .expect("exit code, not a signal")
}

#[tokio::test]
async fn runs_logs_writes_pid_and_stops_on_sigterm() {
    let dir = scratch("run");
    let (log, pid) = (dir.join("natter.log"), dir.join("natter.pid"));
    let mut child = Command::new(BIN)
        .args(["-a", "127.0.0.1", "-p", "-1", "-l"])
        .arg(&log)
        .arg("-P")
        .arg(&pid)
        .arg("--ports_file_dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let port = listening_port(&log).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let pid_text = std::fs::read_to_string(&pid).unwrap();
    assert_eq!(
        pid_text,
        child.id().unwrap().to_string(),
        "pid file holds digits only"
    );
    let line = text.lines().find(|l| l.contains("Listening")).unwrap();
    let prefix = format!("[{}] ", child.id().unwrap());
    assert!(line.starts_with(&prefix), "{line}");
    assert!(
        line.contains(" [INF] Listening for client connections on 127.0.0.1:"),
        "{line}"
    );
    // `[pid] YYYY/MM/DD HH:MM:SS.micro [INF]`
    let stamp = &line[prefix.len()..prefix.len() + 26];
    assert_eq!(stamp.as_bytes()[4], b'/', "{stamp}");
    assert_eq!(stamp.as_bytes()[19], b'.', "{stamp}");

    let ports = dir.join(format!("natter-server_{}.ports", child.id().unwrap()));
    let ports_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ports).unwrap()).unwrap();
    assert_eq!(ports_json["nats"][0], format!("nats://127.0.0.1:{port}"));

    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap();
    client.flush().await.unwrap();

    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_code(&mut child).await, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Server is ready"), "{text}");
    assert!(text.contains("Server Exiting.."), "{text}");
    assert!(!ports.exists(), "ports file removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn no_timestamps_with_t_false_and_lame_duck_exit() {
    let dir = scratch("ldm");
    let log = dir.join("natter.log");
    let mut child = Command::new(BIN)
        .args(["-a", "127.0.0.1", "-p", "-1", "-T=false", "-l"])
        .arg(&log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    listening_port(&log).await;
    let pid = child.id().unwrap();
    signal(&child, Signal::SIGUSR2);
    assert_eq!(exit_code(&mut child).await, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("lame duck"))
        .expect("lame duck logged");
    assert_eq!(
        line,
        format!("[{pid}] [INF] Entering lame duck mode, stop accepting new clients")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_flag_is_a_clear_error() {
    let out = Command::new(BIN)
        .arg("--no-such-flag")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-flag"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn port_in_use_exits_with_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["-a", "127.0.0.1", "-p", &port])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&port), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
