//! The `natter-server` binary serves monitoring with `-m`, logs where, and lists it in the
//! ports file, as harnesses written for nats-server expect.

mod monitor_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use monitor_common::get_json;
use tokio::process::{Child, Command};
use tokio::time::{sleep, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_natter-server");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-monitor-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn(log: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .arg("-l")
        .arg(log)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits for the client listening line, then returns the whole log.
async fn wait_ready(log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("Server is ready") {
            return text;
        }
        assert!(Instant::now() < deadline, "not ready: {text:?}");
        sleep(Duration::from_millis(20)).await;
    }
}

fn port_after(text: &str, marker: &str) -> Option<u16> {
    let line = text.lines().find(|l| l.contains(marker))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

#[tokio::test]
async fn free_port_is_logged_listed_and_serves_varz() {
    let dir = scratch("free");
    let log = dir.join("n.log");
    let dir_arg = dir.to_str().unwrap();
    let mut child = spawn(
        &log,
        &[
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-m",
            "-1",
            "--ports_file_dir",
            dir_arg,
        ],
    );
    let text = wait_ready(&log).await;
    let mport = port_after(&text, "Starting http monitor on 127.0.0.1:").expect("monitor line");
    let cport = port_after(&text, "Listening for client connections on ").unwrap();
    let monitor_at = text.find("Starting http monitor").unwrap();
    assert!(
        monitor_at < text.find("Listening for client connections").unwrap(),
        "nats-server logs the monitor first"
    );

    let varz = get_json(([127, 0, 0, 1], mport).into(), "/varz").await;
    assert_eq!(varz["port"], cport);
    assert_eq!(varz["http_port"], mport);

    let ports = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ports"))
        .expect("ports file");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ports).unwrap()).unwrap();
    assert_eq!(doc["monitoring"][0], format!("http://127.0.0.1:{mport}"));
    assert_eq!(doc["nats"][0], format!("nats://127.0.0.1:{cport}"));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn fixed_port_serves_varz_and_zero_means_off() {
    let dir = scratch("fixed");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = dir.join("fixed.log");
    let port_arg = port.to_string();
    let mut child = spawn(&log, &["-a", "127.0.0.1", "-p", "-1", "-m", &port_arg]);
    let text = wait_ready(&log).await;
    assert!(
        text.contains(&format!("Starting http monitor on 127.0.0.1:{port}")),
        "{text}"
    );
    let varz = get_json(([127, 0, 0, 1], port).into(), "/varz").await;
    assert_eq!(varz["http_port"], port);
    assert!(varz["server_id"].as_str().unwrap().starts_with('N'));
    child.kill().await.unwrap();

    // nats-server treats `-m 0` as "no monitoring"; so does Natter.
    let log = dir.join("off.log");
    let mut child = spawn(&log, &["-a", "127.0.0.1", "-p", "-1", "-m", "0"]);
    let text = wait_ready(&log).await;
    assert!(!text.contains("http monitor"), "{text}");
    assert!(!text.contains("not implemented"), "{text}");
    child.kill().await.unwrap();
}
