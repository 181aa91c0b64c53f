//! Raw-protocol conformance: telnet-style byte sessions replayed against a Natter server,
//! compared byte for byte with what nats-server answers.
//!
//! The expected bytes in `conformance/cases.rs` came from nats-server v2.9.10 via
//! `conformance/capture.py` (the date is in its header). They are nats-server's answers, not Natter's: when a
//! case fails, Natter is what differs. To add or change a case, edit `capture.py` and re-run it
//! against a real nats-server (`python3 tests/conformance/capture.py`); `--check` re-captures and
//! compares with the checked-in table. With `CONFORMANCE_NATS_SERVER=<path to nats-server>` this
//! test replays the table against that binary instead of Natter, which checks the table and the
//! harness themselves.
//!
//! The INFO line legitimately differs per server (ids, ports, versions), so it is not part of the
//! table: `info_line_has_the_nats_shape` checks its shape and field set separately.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use natter_server::{Options, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

#[path = "conformance/cases.rs"]
#[rustfmt::skip]
mod cases;

/// Server configuration a case was captured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// All defaults: max_payload 1 MiB, max_control_line 4096.
    Default,
    /// max_payload 1024 and max_control_line 256, so limit cases stay short.
    Small,
    /// `authorization { user: u, password: p }`.
    Auth,
}

impl Config {
    fn max_payload(self) -> usize {
        match self {
            Config::Default => 1024 * 1024,
            Config::Small => 1024,
            Config::Auth => 1024 * 1024,
        }
    }

    /// The nats-server configuration file text for this config.
    fn nats_conf(self) -> &'static str {
        match self {
            Config::Default => "",
            Config::Small => "max_payload: 1024\nmax_control_line: 256\n",
            Config::Auth => "authorization { user: u, password: p }\n",
        }
    }
}

/// One write on one connection, and what every connection received until the server settled.
struct Step {
    conn: usize,
    send: &'static [u8],
    /// `(connection, bytes)` for each connection that received something during this step.
    expect: &'static [(usize, &'static [u8])],
}

/// A session over `conns` raw connections opened before the first step.
struct Case {
    name: &'static str,
    config: Config,
    conns: usize,
    steps: &'static [Step],
    /// Connections the server has closed by the end of the case.
    closed: &'static [usize],
}

/// How long a read waits for bytes the table says must come. A correct server answers in
/// microseconds; only a failing case pays this. Kept under the 2 s after which nats-server (and
/// Natter) send their first PING, so that PING never shows up in a diff.
const EXPECT_WAIT: Duration = Duration::from_millis(1200);
/// Pause after a step with no expected output, so the next write reaches the server as a
/// separate read (split-frame cases rely on it).
const SILENT_STEP_PAUSE: Duration = Duration::from_millis(30);
/// After the last step: how long a connection must stay silent to count as open with nothing
/// more to say.
const FINAL_QUIET: Duration = Duration::from_millis(300);
/// How long a connection the server should close may take to reach EOF (under the first PING
/// too).
const CLOSE_WAIT: Duration = Duration::from_millis(1200);
/// Cases run concurrently, each against its own server.
const PARALLEL: usize = 8;

/// Extra INFO fields Natter may send on top of nats-server's set.
const NATTER_EXTRA_INFO_FIELDS: &[&str] = &["natter_version", "git_commit"];

/// The server under test: Natter, or a real nats-server when `CONFORMANCE_NATS_SERVER` names
/// its binary. Replaying the table against nats-server checks the table and this harness
/// themselves (`CONFORMANCE_NATS_SERVER=$(command -v nats-server) cargo test --test conformance`).
enum Target {
    Natter(ServerHandle),
    Nats {
        child: Box<tokio::process::Child>,
        addr: SocketAddr,
        dir: PathBuf,
    },
}

impl Target {
    async fn start(config: Config) -> Self {
        match std::env::var_os("CONFORMANCE_NATS_SERVER") {
            Some(binary) => start_nats(PathBuf::from(binary), config).await,
            None => {
                let mut options = Options::default();
                if config == Config::Small {
                    options.max_payload = 1024;
                    options.max_control_line = 256;
                }
                let mut builder = Server::builder().options(options);
                if config == Config::Auth {
                    builder = builder.user("u", "p");
                }
                let handle = builder
                    .host("127.0.0.1")
                    .port(0)
                    .start()
                    .await
                    .expect("natter server starts");
                Target::Natter(handle)
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Target::Natter(handle) => handle.addr(),
            Target::Nats { addr, .. } => *addr,
        }
    }

    async fn stop(self) {
        match self {
            Target::Natter(handle) => handle.shutdown().await,
            Target::Nats { mut child, dir, .. } => {
                let _ = child.kill().await;
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

async fn start_nats(binary: PathBuf, config: Config) -> Target {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "natter-conformance-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cmd = tokio::process::Command::new(&binary);
    cmd.args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
        .arg(&dir)
        .arg("-l")
        .arg(dir.join("log"))
        .kill_on_drop(true);
    if config != Config::Default {
        let conf = dir.join("nats.conf");
        std::fs::write(&conf, config.nats_conf()).expect("write config");
        cmd.arg("-c").arg(conf);
    }
    let child = cmd.spawn().expect("spawn nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ports = std::fs::read_dir(&dir)
            .expect("read temp dir")
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "ports"));
        // The ports file may be seen before it is fully written: retry until it parses.
        let parsed = ports
            .and_then(|e| std::fs::read(e.path()).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["nats"][0].as_str().map(str::to_owned))
            .and_then(|url| {
                url.rsplit_once("://")
                    .and_then(|(_, a)| a.parse::<SocketAddr>().ok())
            });
        if let Some(addr) = parsed {
            return Target::Nats {
                child: Box::new(child),
                addr,
                dir,
            };
        }
        assert!(
            Instant::now() < deadline,
            "nats-server did not write its ports file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A connection as the test sees it: bytes received but not yet attributed to a step, and
/// whether the server closed it.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    eof: bool,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<(Self, Vec<u8>), String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut conn = Conn {
            stream,
            pending: Vec::new(),
            eof: false,
        };
        let deadline = Instant::now() + EXPECT_WAIT;
        loop {
            if let Some(end) = find(&conn.pending, b"\r\n") {
                let info: Vec<u8> = conn.pending.drain(..end + 2).collect();
                return Ok((conn, info));
            }
            if conn.eof || !conn.read_until(deadline).await {
                return Err(format!(
                    "no INFO line; got {} before {}",
                    show(&conn.pending),
                    if conn.eof { "EOF" } else { "timeout" }
                ));
            }
        }
    }

    /// One read, waiting until `deadline`. False when nothing came (timeout or EOF).
    async fn read_until(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let mut buf = [0u8; 16 * 1024];
        let wait = deadline.saturating_duration_since(Instant::now());
        match timeout(wait, self.stream.read(&mut buf)).await {
            Err(_) => false,
            Ok(Ok(0)) | Ok(Err(_)) => {
                // A reset after the server's last bytes counts as a close, as it does for clients.
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    /// Collects at least `want` bytes, or whatever came before EXPECT_WAIT ran out or EOF.
    async fn take(&mut self, want: usize) -> Vec<u8> {
        let deadline = Instant::now() + EXPECT_WAIT;
        while self.pending.len() < want && self.read_until(deadline).await {}
        std::mem::take(&mut self.pending)
    }

    /// Reads until EOF or until the connection stayed quiet for `quiet` (up to `limit` overall).
    async fn settle(&mut self, quiet: Duration, limit: Duration) -> Vec<u8> {
        let end = Instant::now() + limit;
        loop {
            let deadline = (Instant::now() + quiet).min(end);
            if !self.read_until(deadline).await {
                break;
            }
        }
        std::mem::take(&mut self.pending)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Bytes as a Rust byte-string literal, shortened in the middle when long.
fn show(bytes: &[u8]) -> String {
    const KEEP: usize = 160;
    let escape = |b: &[u8]| -> String {
        b.iter()
            .flat_map(|&c| std::ascii::escape_default(c))
            .map(char::from)
            .collect()
    };
    if bytes.len() <= 2 * KEEP {
        format!("b\"{}\"", escape(bytes))
    } else {
        format!(
            "b\"{}\"...({} bytes)...b\"{}\"",
            escape(&bytes[..KEEP]),
            bytes.len() - 2 * KEEP,
            escape(&bytes[bytes.len() - KEEP..])
        )
    }
}

/// Runs one case against a fresh server; returns a description of every difference.
async fn run_case(case: &'static Case) -> Vec<String> {
    let server = Target::start(case.config).await;
    let diffs = replay(case, server.addr()).await;
    server.stop().await;
    diffs
}

async fn replay(case: &Case, addr: SocketAddr) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut conns = Vec::with_capacity(case.conns);
    for i in 0..case.conns {
        match Conn::open(addr).await {
            Ok((conn, info)) => {
                if !info.starts_with(b"INFO {") || !info.ends_with(b"} \r\n") {
                    diffs.push(format!(
                        "conn {i}: first line is not `INFO {{...}} \\r\\n`: {}",
                        show(&info)
                    ));
                }
                conns.push(conn);
            }
            Err(e) => {
                diffs.push(format!("conn {i}: {e}"));
                return diffs;
            }
        }
    }

    for (n, step) in case.steps.iter().enumerate() {
        let conn = &mut conns[step.conn];
        // Writing to a connection the server already closed may fail; what was received and
        // the close itself are what the table compares.
        if !conn.eof && conn.stream.write_all(step.send).await.is_err() {
            conn.eof = true;
        }
        if step.expect.is_empty() {
            tokio::time::sleep(SILENT_STEP_PAUSE).await;
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let want = step
                .expect
                .iter()
                .find(|(k, _)| *k == i)
                .map_or(&b""[..], |(_, b)| b);
            // Connections that expect nothing are not waited for: anything they got shows up
            // in a later step or in the final check.
            let got = if want.is_empty() {
                std::mem::take(&mut c.pending)
            } else {
                c.take(want.len()).await
            };
            if got != want {
                diffs.push(format!(
                    "step {} of {}, conn {i} (after conn {} sent {})\n      expected: {}\n      actual:   {}",
                    n + 1,
                    case.steps.len(),
                    step.conn,
                    show(step.send),
                    show(want),
                    show(&got)
                ));
            }
        }
    }

    for (i, c) in conns.iter_mut().enumerate() {
        let should_close = case.closed.contains(&i);
        let trailing = if should_close {
            c.settle(CLOSE_WAIT, CLOSE_WAIT).await
        } else {
            c.settle(FINAL_QUIET, FINAL_QUIET * 4).await
        };
        if !trailing.is_empty() {
            diffs.push(format!(
                "conn {i}: unexpected bytes after the last step: {}",
                show(&trailing)
            ));
        }
        match (should_close, c.eof) {
            (true, false) => diffs.push(format!(
                "conn {i}: nats-server closes this connection; Natter kept it open"
            )),
            (false, true) => diffs.push(format!(
                "conn {i}: nats-server keeps this connection open; Natter closed it"
            )),
            _ => {}
        }
    }
    diffs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sessions_match_nats_server() {
    let names: BTreeSet<&str> = cases::CASES.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases::CASES.len(), "case names must be unique");

    let results: Vec<(&'static Case, Vec<String>)> = stream::iter(cases::CASES)
        .map(|case| async move { (case, run_case(case).await) })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;

    let mut failed: Vec<_> = results.into_iter().filter(|(_, d)| !d.is_empty()).collect();
    failed.sort_by_key(|(case, _)| case.name);
    let mut report = String::new();
    for (case, diffs) in &failed {
        let _ = writeln!(report, "\n--- {} ({:?} config)", case.name, case.config);
        for d in diffs {
            let _ = writeln!(report, "    {d}");
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} raw-protocol cases differ from nats-server v2.9.10:{report}\nfailing: {}",
        failed.len(),
        cases::CASES.len(),
        failed
            .iter()
            .map(|(c, _)| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The INFO line is server specific (ids, versions, ports); check its framing, that it carries
/// the fields nats-server sends a plain client, and the values that are fixed by the setup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_line_has_the_nats_shape() {
    let mut problems = Vec::new();
    for config in [Config::Default, Config::Small] {
        let server = Target::start(config).await;
        let addr = server.addr();
        let mut client_ids = Vec::new();
        for _ in 0..2 {
            let (_conn, line) = match Conn::open(addr).await {
                Ok(ok) => ok,
                Err(e) => {
                    problems.push(format!("{config:?}: {e}"));
                    continue;
                }
            };
            let ctx = |msg: String| format!("{config:?}: {msg} in {}", show(&line));
            let Some(json) = line
                .strip_prefix(b"INFO ")
                .and_then(|l| l.strip_suffix(b" \r\n"))
            else {
                problems.push(ctx(
                    "line does not start with `INFO ` and end with ` \\r\\n`".into(),
                ));
                continue;
            };
            let info: serde_json::Map<String, serde_json::Value> =
                match serde_json::from_slice(json) {
                    Ok(v) => v,
                    Err(e) => {
                        problems.push(ctx(format!("INFO is not a JSON object ({e})")));
                        continue;
                    }
                };
            for field in cases::NATS_INFO_FIELDS {
                if !info.contains_key(*field) {
                    problems.push(ctx(format!("missing field `{field}`")));
                }
            }
            for field in info.keys() {
                if !cases::NATS_INFO_FIELDS.contains(&field.as_str())
                    && !NATTER_EXTRA_INFO_FIELDS.contains(&field.as_str())
                {
                    problems.push(ctx(format!(
                        "field `{field}` that nats-server does not send a plain client"
                    )));
                }
            }
            let expect = [
                ("proto", serde_json::json!(1)),
                ("headers", serde_json::json!(true)),
                ("max_payload", serde_json::json!(config.max_payload())),
                ("host", serde_json::json!("127.0.0.1")),
                ("port", serde_json::json!(addr.port())),
                ("client_ip", serde_json::json!("127.0.0.1")),
            ];
            for (field, want) in expect {
                if let Some(got) = info.get(field) {
                    if *got != want {
                        problems.push(ctx(format!("`{field}` is {got}, expected {want}")));
                    }
                }
            }
            for field in ["server_id", "server_name", "version", "go"] {
                if let Some(v) = info.get(field) {
                    if v.as_str().is_none_or(str::is_empty) {
                        problems.push(ctx(format!(
                            "`{field}` should be a non-empty string, is {v}"
                        )));
                    }
                }
            }
            match info.get("client_id").and_then(serde_json::Value::as_u64) {
                Some(id) if id > 0 => client_ids.push(id),
                _ => problems.push(ctx("`client_id` should be a positive integer".into())),
            }
        }
        if client_ids.len() == 2 && client_ids[0] == client_ids[1] {
            problems.push(format!(
                "{config:?}: two connections got the same client_id {}",
                client_ids[0]
            ));
        }
        server.stop().await;
    }
    assert!(
        problems.is_empty(),
        "INFO differs from nats-server's shape:\n  {}",
        problems.join("\n  ")
    );
}
