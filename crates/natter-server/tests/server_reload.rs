//! Live operations on a running server: configuration reload (through
//! [`ServerHandle::reload`] and through the binary with SIGHUP), log reopen on SIGUSR1,
//! `--signal` sending, and the ports file name.
//!
//! What is checked against nats-server 2.9.10's behaviour: a reload that changes the
//! authorization closes open clients that no longer pass with `Authorization Violation`; a
//! lowered max_payload is enforced on open connections and the error closes them; trace
//! turned on traces existing connections too.

mod server_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use natter_router::{Router, RouterOptions};
use natter_server::config::Authorization;
use natter_server::{Server, ServerHandle};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use server_support::Raw;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_natter-server");
const AUTH_VIOLATION: &[u8] = b"-ERR 'Authorization Violation'\r\n";
const MAX_PAYLOAD: &[u8] = b"-ERR 'Maximum Payload Violation'\r\n";

async fn start(builder: natter_server::ServerBuilder) -> ServerHandle {
    builder
        .host("127.0.0.1")
        .port(0)
        .start()
        .await
        .expect("server starts")
}

/// A client past INFO that sent `connect` and saw its PONG.
async fn connected(handle: &ServerHandle, connect: &str) -> Raw {
    let (mut raw, _) = Raw::handshake(handle.addr()).await;
    raw.send(format!("CONNECT {connect}\r\n").as_bytes()).await;
    assert_eq!(raw.sync().await, "", "nothing before PONG for {connect}");
    raw
}

fn with_token(handle: &ServerHandle, token: &str) -> natter_server::Options {
    let mut opts = handle.options();
    opts.authorization = Some(Authorization {
        token: Some(token.to_string()),
        ..Authorization::default()
    });
    opts
}

#[tokio::test]
async fn reload_to_a_token_closes_clients_without_it() {
    let handle = start(Server::builder()).await;
    let mut before = connected(&handle, r#"{"verbose":false}"#).await;
    // Still within its auth window: it has no credentials either.
    let (mut idle, _) = Raw::handshake(handle.addr()).await;

    let plan = handle.reload(with_token(&handle, "s3cret"));
    assert!(plan.applied.contains(&"authorization"), "{plan:?}");

    for (name, raw) in [("connected", &mut before), ("idle", &mut idle)] {
        let got = raw.read_to_eof().await;
        assert_eq!(got, AUTH_VIOLATION, "{name} client");
        assert!(raw.eof, "{name} client closed");
    }

    let (mut anon, info) = Raw::handshake(handle.addr()).await;
    assert_eq!(info["auth_required"], true);
    anon.send(b"CONNECT {\"verbose\":false}\r\n").await;
    assert_eq!(anon.read_to_eof().await, AUTH_VIOLATION);

    let mut good = connected(&handle, r#"{"verbose":false,"auth_token":"s3cret"}"#).await;
    // A reload that leaves authorization alone re-checks nobody: neither the authenticated
    // client nor one that has yet to send CONNECT is closed.
    let (mut waiting, _) = Raw::handshake(handle.addr()).await;
    let mut opts = handle.options();
    opts.max_pending *= 2;
    let plan = handle.reload(opts);
    assert_eq!(plan.applied, vec!["max_pending"]);
    assert_eq!(good.sync().await, "");
    waiting
        .send(b"CONNECT {\"verbose\":false,\"auth_token\":\"s3cret\"}\r\n")
        .await;
    assert_eq!(waiting.sync().await, "");

    // Another token: the authenticated client's original credentials no longer pass.
    handle.reload(with_token(&handle, "other"));
    assert_eq!(good.read_to_eof().await, AUTH_VIOLATION);
    assert_eq!(waiting.read_to_eof().await, AUTH_VIOLATION);
    handle.shutdown().await;
}

#[tokio::test]
async fn reload_with_user_password_keeps_clients_that_still_pass() {
    let handle = start(Server::builder().user("u", "p")).await;
    let mut a = connected(&handle, r#"{"verbose":false,"user":"u","pass":"p"}"#).await;
    let mut b = connected(&handle, r#"{"verbose":false,"user":"u","pass":"p"}"#).await;
    let mut opts = handle.options();
    opts.authorization
        .as_mut()
        .unwrap()
        .users
        .push(natter_server::config::User {
            user: "v".to_string(),
            password: Some("q".to_string()),
        });
    handle.reload(opts);
    assert_eq!(a.sync().await, "", "u/p still passes");
    let mut opts = handle.options();
    opts.authorization = None;
    handle.reload(opts);
    assert_eq!(b.sync().await, "", "no auth at all: everyone passes");
    handle.shutdown().await;
}

#[tokio::test]
async fn reload_lowering_max_payload_refuses_and_closes_open_connections() {
    let handle = start(Server::builder()).await;
    let mut c = connected(&handle, r#"{"verbose":false}"#).await;
    let body = vec![b'x'; 100];
    let mut publish = b"SUB foo 1\r\nPUB foo 100\r\n".to_vec();
    publish.extend_from_slice(&body);
    publish.extend_from_slice(b"\r\n");
    c.send(&publish).await;
    let got = c.sync().await;
    assert!(got.starts_with("MSG foo 1 100\r\n"), "{got:?}");

    let mut opts = handle.options();
    opts.max_payload = 50;
    handle.reload(opts);
    c.send(&publish[b"SUB foo 1\r\n".len()..]).await;
    assert_eq!(c.read_to_eof().await, MAX_PAYLOAD);
    assert!(c.eof, "nats-server closes after a max payload violation");

    let (_, info) = Raw::handshake(handle.addr()).await;
    assert_eq!(
        info["max_payload"], 50,
        "new clients are told the new limit"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn router_max_payload_refusal_closes_the_connection() {
    // The parser allows 1 MiB; the router (shared with in-process sessions) only 64 bytes.
    let router = Router::new(RouterOptions {
        max_payload: 64,
        ..RouterOptions::default()
    });
    let handle = start(Server::builder().router(router)).await;
    let mut c = connected(&handle, r#"{"verbose":false}"#).await;
    let mut publish = b"PUB foo 100\r\n".to_vec();
    publish.extend_from_slice(&[b'x'; 100]);
    publish.extend_from_slice(b"\r\nPING\r\n");
    c.send(&publish).await;
    assert_eq!(c.read_to_eof().await, MAX_PAYLOAD);
    assert!(c.eof);
    handle.shutdown().await;
}

#[tokio::test]
async fn reload_ping_interval_reaches_open_connections() {
    let handle = start(Server::builder()).await;
    let mut c = connected(&handle, r#"{"verbose":false}"#).await;
    let mut opts = handle.options();
    opts.ping_interval = Duration::from_millis(100);
    handle.reload(opts);
    // With the old 2 minute interval the first PING would come 2 s after CONNECT.
    let got = c.read_for(Duration::from_millis(800)).await;
    assert!(
        got.starts_with(b"PING\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    handle.shutdown().await;
}

// --- the binary -------------------------------------------------------------------------

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-reload-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until the log has `needle` (appearing after `from` bytes) and returns the text.
async fn wait_log(log: &Path, from: usize, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.get(from..).is_some_and(|t| t.contains(needle)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log after byte {from}:\n{text}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

async fn listening_addr(log: &Path) -> std::net::SocketAddr {
    let text = wait_log(log, 0, "Listening for client connections on ").await;
    let line = text.lines().find(|l| l.contains("Listening")).unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn spawn(args: &[&str], log: &Path, extra: &[&Path]) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.args(["-a", "127.0.0.1", "-p", "-1"]).args(args);
    for p in extra {
        cmd.arg(p);
    }
    cmd.arg("-l")
        .arg(log)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn send_signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id().unwrap() as i32), sig).unwrap();
}

async fn raw_at(addr: std::net::SocketAddr, connect: &str) -> Raw {
    let (mut raw, _) = Raw::handshake(addr).await;
    raw.send(format!("CONNECT {connect}\r\n").as_bytes()).await;
    assert_eq!(raw.sync().await, "");
    raw
}

#[tokio::test]
async fn sighup_applies_the_rewritten_config_to_open_connections() {
    let dir = scratch("sighup");
    let (log, conf) = (dir.join("natter.log"), dir.join("natter.conf"));
    std::fs::write(&conf, "max_payload: 1024\n").unwrap();
    let mut child = spawn(&["-c"], &log, &[&conf]);
    let addr = listening_addr(&log).await;
    let mut a = raw_at(addr, r#"{"verbose":false}"#).await;
    let mut b = raw_at(addr, r#"{"verbose":false}"#).await;

    // Phase 1: trace on, a smaller max_payload.
    let mark = std::fs::read_to_string(&log).unwrap().len();
    std::fs::write(&conf, "max_payload: 512\ntrace: true\n").unwrap();
    send_signal(&child, Signal::SIGHUP);
    let text = wait_log(&log, mark, "Reloaded server configuration").await;
    let applied = text[mark..]
        .lines()
        .find(|l| l.contains("Reload: applied "))
        .unwrap_or_else(|| panic!("no applied line:\n{text}"));
    assert!(
        applied.ends_with("Reload: applied trace, max_payload"),
        "{applied}"
    );
    a.send(b"PUB traced.subject 2\r\nhi\r\n").await;
    assert_eq!(a.sync().await, "");
    wait_log(&log, mark, "<<- [PUB traced.subject 2]").await;
    let mut big = b"PUB foo 600\r\n".to_vec();
    big.extend_from_slice(&[b'x'; 600]);
    big.extend_from_slice(b"\r\n");
    a.send(&big).await;
    assert_eq!(a.read_to_eof().await, MAX_PAYLOAD);
    assert!(a.eof);

    // Phase 2: a token (b has none and is closed), and a setting that needs a restart.
    let mark = std::fs::read_to_string(&log).unwrap().len();
    std::fs::write(
        &conf,
        "max_payload: 512\ntrace: true\nlogtime: false\nauthorization { token: t1 }\n",
    )
    .unwrap();
    send_signal(&child, Signal::SIGHUP);
    assert_eq!(b.read_to_eof().await, AUTH_VIOLATION);
    let text = wait_log(&log, mark, "Reloaded server configuration partially").await;
    assert!(
        text[mark..].contains("Reload: applied authorization\n"),
        "{}",
        &text[mark..]
    );
    assert!(
        text[mark..].contains("Reload: not applied, restart to apply: logtime\n"),
        "{}",
        &text[mark..]
    );
    let (mut anon, _) = Raw::handshake(addr).await;
    anon.send(b"CONNECT {}\r\n").await;
    assert_eq!(anon.read_to_eof().await, AUTH_VIOLATION);
    raw_at(addr, r#"{"verbose":false,"auth_token":"t1"}"#).await;

    send_signal(&child, Signal::SIGTERM);
    let status = timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sigusr1_reopens_the_log_at_its_path() {
    let dir = scratch("usr1");
    let (log, rotated) = (dir.join("natter.log"), dir.join("natter.log.1"));
    let mut child = spawn(&["-D"], &log, &[]);
    let addr = listening_addr(&log).await;
    std::fs::rename(&log, &rotated).unwrap();
    send_signal(&child, Signal::SIGUSR1);
    wait_log(&log, 0, "File log re-opened").await;
    // New lines go to the new file, none to the rotated one.
    let rotated_len = std::fs::read_to_string(&rotated).unwrap().len();
    raw_at(addr, r#"{"verbose":false}"#).await;
    wait_log(&log, 0, "Client connection created").await;
    let rotated_text = std::fs::read_to_string(&rotated).unwrap();
    assert_eq!(rotated_text.len(), rotated_len, "{rotated_text}");
    assert!(rotated_text.contains("Server is ready"));
    send_signal(&child, Signal::SIGTERM);
    let _ = timeout(Duration::from_secs(5), child.wait()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn run_signal_command(arg: String) {
    let out = Command::new(BIN)
        .arg("--signal")
        .arg(&arg)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn signal_flag_stops_and_lame_ducks_a_running_server() {
    use std::os::unix::process::ExitStatusExt;

    let dir = scratch("signal-flag");
    let log = dir.join("stop.log");
    let mut child = spawn(&[], &log, &[]);
    listening_addr(&log).await;
    run_signal_command(format!("stop={}", child.id().unwrap())).await;
    let status = timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("stopped")
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(Signal::SIGKILL as i32),
        "as nats-server"
    );

    let log = dir.join("ldm.log");
    let mut child = spawn(&[], &log, &[]);
    listening_addr(&log).await;
    run_signal_command(format!("ldm={}", child.id().unwrap())).await;
    let status = timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("lame duck ends the server")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Entering lame duck mode"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn ports_file_is_named_after_the_invoked_program() {
    let dir = scratch("ports-symlink");
    let link = dir.join("nats-server");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let log = dir.join("natter.log");
    let mut child = Command::new(&link)
        .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
        .arg(&dir)
        .arg("-l")
        .arg(&log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = listening_addr(&log).await;
    let ports = dir.join(format!("nats-server_{}.ports", child.id().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ports.exists() {
        assert!(Instant::now() < deadline, "no {}", ports.display());
        sleep(Duration::from_millis(20)).await;
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ports).unwrap()).unwrap();
    assert_eq!(doc["nats"][0], format!("nats://{addr}"));
    send_signal(&child, Signal::SIGTERM);
    let _ = timeout(Duration::from_secs(5), child.wait()).await;
    assert!(!ports.exists(), "removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}
