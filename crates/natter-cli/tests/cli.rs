//! The `natter` binary run as a process against an in-process natter-server.

use std::process::{Output, Stdio};
use std::time::Duration;

use natter_server::{Server, ServerHandle};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const LIMIT: Duration = Duration::from_secs(30);

async fn server() -> ServerHandle {
    Server::builder()
        .host("127.0.0.1")
        .port(0)
        .start()
        .await
        .expect("server starts")
}

/// A server with monitoring on a free port too.
async fn monitored_server() -> ServerHandle {
    Server::builder()
        .host("127.0.0.1")
        .port(0)
        .http_port(0)
        .start()
        .await
        .expect("server starts")
}

fn natter(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_natter"));
    c.args(args)
        .env("NATS_URL", url)
        .env_remove("NATS_USER")
        .env_remove("NATS_PASSWORD")
        .env_remove("NATS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run(url: &str, args: &[&str]) -> Output {
    let child = natter(url, args).spawn().expect("natter runs");
    tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("natter {args:?} did not finish"))
        .expect("natter output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stderr of a run of `args` that must have failed with exit code 1.
fn failed(out: &Output, args: &[&str]) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// Reads `stream` (named for messages) until a line contains `ready`, within `LIMIT`.
async fn wait_for_line<R: AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    stream: &str,
    args: &[&str],
    ready: &str,
) {
    let wait = async {
        while let Some(line) = lines
            .next_line()
            .await
            .unwrap_or_else(|e| panic!("read {stream}: {e}"))
        {
            if line.contains(ready) {
                return;
            }
        }
        panic!("natter {args:?} exited before printing {ready:?}");
    };
    tokio::time::timeout(LIMIT, wait)
        .await
        .unwrap_or_else(|_| panic!("natter {args:?} never printed {ready:?}"));
}

/// Starts a long-running command and waits for the stdout line that says it is ready.
async fn start_until(
    url: &str,
    args: &[&str],
    ready: &str,
) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = natter(url, args).spawn().expect("natter runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    wait_for_line(&mut lines, "stdout", args, ready).await;
    (child, lines)
}

/// As `start_until`, for commands that announce readiness on stderr (`sub --raw`).
async fn start_until_stderr(
    url: &str,
    args: &[&str],
    ready: &str,
) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = natter(url, args).spawn().expect("natter runs");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut errs = BufReader::new(child.stderr.take().expect("stderr")).lines();
    wait_for_line(&mut errs, "stderr", args, ready).await;
    // Keep draining stderr so the child never writes to a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = errs.next_line().await {} });
    (child, lines)
}

async fn rest_of(
    mut child: Child,
    mut lines: Lines<BufReader<ChildStdout>>,
) -> (std::process::ExitStatus, String) {
    let collect = async {
        let mut out = String::new();
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            out.push_str(&line);
            out.push('\n');
        }
        (child.wait().await.expect("exit status"), out)
    };
    tokio::time::timeout(LIMIT, collect)
        .await
        .expect("process finishes")
}

#[tokio::test(flavor = "multi_thread")]
async fn published_messages_reach_a_subscriber_process_with_headers() {
    let srv = server().await;
    let url = srv.client_url();
    let (sub, lines) = start_until(
        &url,
        &["sub", "demo.*", "--count", "2"],
        "Subscribing on demo.*",
    )
    .await;

    let out = run(
        &url,
        &[
            "pub",
            "demo.x",
            "hello {{Count}}",
            "--count",
            "2",
            "-H",
            "trace:t{{Count}}",
        ],
    )
    .await;
    assert!(out.status.success(), "pub failed: {}", text(&out.stderr));
    let published = text(&out.stdout);
    assert_eq!(
        published.matches("Published 7 bytes to \"demo.x\"").count(),
        2,
        "{published}"
    );

    let (status, got) = rest_of(sub, lines).await;
    assert!(status.success());
    assert_eq!(
        got,
        "[#1] Received on \"demo.x\"\ntrace: t1\n\nhello 1\n\n[#2] Received on \"demo.x\"\ntrace: t2\n\nhello 2\n\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_queue_subscriber_prints_bodies_and_reply_subjects_show() {
    let srv = server().await;
    let url = srv.client_url();
    // With --raw, stdout carries only bodies; the banner goes to stderr.
    let (raw, raw_lines) = start_until_stderr(
        &url,
        &["sub", "jobs", "--queue", "workers", "--count", "1", "--raw"],
        "Subscribing on jobs in group workers",
    )
    .await;
    let (plain, plain_lines) = start_until(
        &url,
        &["sub", "jobs", "--count", "1"],
        "Subscribing on jobs",
    )
    .await;
    let out = run(&url, &["pub", "jobs", "payload", "--reply", "back.here"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, got) = rest_of(plain, plain_lines).await;
    assert!(status.success());
    assert_eq!(
        got,
        "[#1] Received on \"jobs\" with reply \"back.here\"\npayload\n\n"
    );
    let (status, got) = rest_of(raw, raw_lines).await;
    assert!(status.success());
    assert_eq!(got, "payload\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_and_reply_between_two_processes() {
    let srv = server().await;
    let url = srv.client_url();
    let (replier, lines) = start_until(
        &url,
        &[
            "reply",
            "svc.time",
            "answer to {{Request}} #{{Count}}",
            "--count",
            "1",
        ],
        "Listening on \"svc.time\"",
    )
    .await;

    let out = run(
        &url,
        &[
            "req",
            "svc.time",
            "ping",
            "-H",
            "who:tester",
            "--timeout",
            "5s",
        ],
    )
    .await;
    assert!(out.status.success(), "req failed: {}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("Sending request on \"svc.time\""), "{shown}");
    assert!(shown.contains("Received with rtt "), "{shown}");
    assert!(shown.ends_with("answer to ping #1\n"), "{shown}");

    let (status, got) = rest_of(replier, lines).await;
    assert!(status.success());
    assert!(
        got.contains("[#1] Received on subject \"svc.time\":"),
        "{got}"
    );
    assert!(got.contains("who: tester"), "{got}");
    assert!(got.contains("\nping\n"), "{got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_replier_returns_the_request_raw() {
    let srv = server().await;
    let url = srv.client_url();
    let (replier, lines) =
        start_until(&url, &["reply", "echo", "--count", "1"], "Listening on").await;
    let out = run(&url, &["req", "echo", "same bytes back", "--raw"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "same bytes back\n");
    let (status, _) = rest_of(replier, lines).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn request_without_responders_fails_with_exit_code_1() {
    let srv = server().await;
    let out = run(&srv.client_url(), &["req", "nobody.home", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no responders"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_and_argument_errors_are_one_line_and_non_zero() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = run(&url, &["pub", "x", "y", "--timeout", "2s"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("natter: error: cannot connect to"), "{err}");

    let out = run(&url, &["pub", "x", "y", "--timeout", "soon"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--timeout"));

    let out = run(&url, &["bench", "x", "--pub", "many"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out.stderr).contains("panicked"));

    // Sizes and counts that cannot be allocated are refused, not an abort.
    let out = run(&url, &["bench", "x", "--size", "1000000G"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--size"));
    let out = run(&url, &["bench", "x", "--msgs", "18446744073709551615"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_pub_sub_reports_every_client_and_writes_csv() {
    for client in ["wire", "async-nats"] {
        bench_pub_sub_with(client).await;
    }
}

async fn bench_pub_sub_with(client: &str) {
    let srv = server().await;
    let dir =
        std::env::temp_dir().join(format!("natter-cli-bench-{client}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("ps.csv");
    let out = run(
        &srv.client_url(),
        &[
            "bench",
            "--client",
            client,
            "load",
            "--pub",
            "2",
            "--sub",
            "2",
            "--msgs",
            "3001",
            "--size",
            "16",
            "--no-progress",
            "--csv",
            csv.to_str().unwrap(),
        ],
    )
    .await;
    let report = text(&out.stdout);
    assert!(
        out.status.success(),
        "{client}: {}\n{report}",
        text(&out.stderr)
    );
    // The clients asked for, with no fallback to others.
    assert!(report.contains(&format!(", client={client}]")), "{report}");
    assert!(!report.contains("Using async-nats clients"), "{report}");
    assert!(report.contains("NATS Pub/Sub stats: "), "{report}");
    assert!(report.contains(" Pub stats: "), "{report}");
    assert!(report.contains(" Sub stats: "), "{report}");
    assert!(
        report.contains("  [1] ") && report.contains("  [2] "),
        "{report}"
    );
    // 3001 over two publishers: 1501 + 1500; every subscriber gets all 3001.
    assert!(
        report.contains(" (1501 msgs)\n") && report.contains(" (1500 msgs)\n"),
        "{report}"
    );
    assert_eq!(report.matches(" (3001 msgs)\n").count(), 2, "{report}");
    assert_eq!(report.matches("| stddev ").count(), 2, "{report}");

    let rows = std::fs::read_to_string(&csv).unwrap();
    let mut lines = rows.lines();
    assert_eq!(
        lines.next(),
        Some("#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(ids, vec!["S0", "S1", "P0", "P1"]);
    let counts: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(counts, vec!["3001", "3001", "1501", "1500"]);
    let bytes: Vec<&str> = rows.iter().map(|r| r[3]).collect();
    assert_eq!(bytes, vec!["48016", "48016", "24016", "24000"]);
    for r in &rows {
        assert_eq!(r.len(), 7);
        assert!(r[4].parse::<u64>().unwrap() > 0);
        assert!(r[6].parse::<f64>().unwrap() > 0.0);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_logs_in_with_user_or_token_and_reports_a_refused_login() {
    let by_user = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .user("bench", "pw")
        .start()
        .await
        .unwrap();
    let by_token = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .token("s3cret")
        .start()
        .await
        .unwrap();
    let bench = [
        "bench", "login", "--pub", "1", "--sub", "1", "--msgs", "2000", "--size", "16",
    ];
    for client in ["wire", "async-nats"] {
        for (srv, login) in [
            (&by_user, ["--user", "bench", "--password", "pw"]),
            (&by_token, ["--token", "s3cret", "--timeout", "5s"]),
        ] {
            let args = [
                &bench[..],
                &["--no-progress", "--client", client],
                &login[..],
            ]
            .concat();
            let out = run(&srv.client_url(), &args).await;
            let report = text(&out.stdout);
            assert!(
                out.status.success(),
                "{args:?}: {}\n{report}",
                text(&out.stderr)
            );
            assert!(report.contains(" Pub stats: "), "{report}");
            assert!(report.contains(" Sub stats: "), "{report}");
            // The clients asked for, with no fallback to others.
            assert!(report.contains(&format!(", client={client}]")), "{report}");
            assert!(!report.contains("Using async-nats clients"), "{report}");
        }
        let args = [
            &bench[..],
            &[
                "--no-progress",
                "--client",
                client,
                "--user",
                "bench",
                "--password",
                "nope",
            ],
        ]
        .concat();
        let err = failed(&run(&by_user.client_url(), &args).await, &args);
        assert!(err.contains("cannot connect to nats://127.0.0.1:"), "{err}");
        assert!(
            err.to_lowercase().contains("authorization violation"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_queue_group_shares_the_messages_between_subscribers() {
    let srv = server().await;
    let dir = std::env::temp_dir().join(format!("natter-cli-bq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("q.csv");
    let help = run(&srv.client_url(), &["bench", "--help"]).await;
    assert!(text(&help.stdout).contains("--queue <NAME>"));
    let out = run(
        &srv.client_url(),
        &[
            "bench",
            "work",
            "--pub",
            "1",
            "--sub",
            "4",
            "--queue",
            "q",
            "--msgs",
            "4000",
            "--size",
            "8",
            "--no-progress",
            "--csv",
            csv.to_str().unwrap(),
        ],
    )
    .await;
    let report = text(&out.stdout);
    assert!(out.status.success(), "{}\n{report}", text(&out.stderr));
    assert!(report.contains("queue=q, client=wire]"), "{report}");
    assert!(
        report.contains("in queue group q, expecting 4,000 messages between them"),
        "{report}"
    );
    let rows = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(ids, vec!["S0", "S1", "S2", "S3", "P0"]);
    let subs: Vec<u64> = rows[..4].iter().map(|r| r[2].parse().unwrap()).collect();
    // Each message reached exactly one member, so the members' counts add up to the total
    // and none of them got everything.
    assert_eq!(subs.iter().sum::<u64>(), 4000, "{subs:?}");
    assert!(subs.iter().all(|n| *n < 4000), "{subs:?}");
    let sub_bytes: u64 = rows[..4].iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert_eq!(sub_bytes, 4000 * 8);
    assert_eq!(rows[4][2], "4000");
    assert!(report.contains(" Sub stats: "), "{report}");

    let out = run(
        &srv.client_url(),
        &["bench", "x", "--queue", "q", "--msgs", "10"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--queue needs"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_request_reply_prints_latency_percentiles() {
    for client in ["wire", "async-nats"] {
        bench_request_reply_with(client).await;
    }
}

async fn bench_request_reply_with(client: &str) {
    let srv = server().await;
    let dir = std::env::temp_dir().join(format!("natter-cli-breq-{client}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("rr.csv");
    let out = run(
        &srv.client_url(),
        &[
            "bench",
            "--client",
            client,
            "svc",
            "--request",
            "--pub",
            "2",
            "--sub",
            "2",
            "--msgs",
            "400",
            "--size",
            "32",
            "--no-progress",
            "--csv",
            csv.to_str().unwrap(),
        ],
    )
    .await;
    let report = text(&out.stdout);
    assert!(out.status.success(), "{}\n{report}", text(&out.stderr));
    assert!(
        report.contains("Request latency (400 requests of 32 B): min "),
        "{report}"
    );
    assert!(report.contains(&format!(", client={client}]")), "{report}");
    assert!(!report.contains("Using async-nats clients"), "{report}");
    for p in [" p50 ", " | p90 ", " | p99 ", " | p99.9 "] {
        assert!(report.contains(p), "missing {p:?} in {report}");
    }
    let rows = std::fs::read_to_string(&csv).unwrap();
    let header = rows.lines().next().unwrap();
    assert!(header.ends_with(",LatencyMinUs,LatencyAvgUs,LatencyP50Us,LatencyP90Us,LatencyP99Us,LatencyP999Us,LatencyMaxUs"));
    let rows: Vec<Vec<&str>> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4);
    // Repliers in a queue group: their counts add up to the requests.
    let replied: u64 = rows[..2].iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(replied, 400);
    for r in &rows[2..] {
        assert_eq!(r[2], "200");
        let lat: Vec<f64> = r[7..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(lat.len(), 7);
        // min <= p50 <= p90 <= p99 <= p99.9 <= max
        let ordered = [lat[0], lat[2], lat[3], lat[4], lat[5], lat[6]];
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{lat:?}");
        assert!(lat[0] > 0.0);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_fails_cleanly_when_messages_exceed_max_payload() {
    let srv = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .max_payload(1024)
        .start()
        .await
        .unwrap();
    let base = [
        "bench", "big", "--pub", "1", "--sub", "1", "--msgs", "10", "--size", "2KB",
    ];
    for extra in [&["--no-progress"][..], &["--no-progress", "--request"]] {
        for client in ["wire", "async-nats"] {
            let args = [&base[..], extra, &["--client", client]].concat();
            let err = failed(&run(&srv.client_url(), &args).await, &args);
            assert!(err.starts_with("natter: error: "), "{args:?}: {err}");
            assert!(err.to_lowercase().contains("payload"), "{args:?}: {err}");
            // The wire clients check before they send, rather than meet the server's -ERR.
            if client == "wire" {
                assert!(
                    err.contains("is larger than the server's max_payload of 1024 B"),
                    "{args:?}: {err}"
                );
            }
        }
    }
}

/// GET `path` from a monitoring URL, the body as text.
async fn http_get(monitor: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = monitor.trim_start_matches("http://").trim_end_matches('/');
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    sock.read_to_string(&mut response).await.unwrap();
    let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    body.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_clients_are_the_kind_asked_for_and_credentials_in_the_url_fall_back() {
    let bench = [
        "bench",
        "kind",
        "--pub",
        "1",
        "--sub",
        "1",
        "--msgs",
        "100",
        "--size",
        "8",
        "--no-progress",
    ];
    // The wire client sends natter's own version in CONNECT, async-nats its library's: the
    // closed connections of a fresh server per run show which clients ran.
    let ours = env!("CARGO_PKG_VERSION").to_string();
    for mode in [&[][..], &["--request"]] {
        for client in ["wire", "async-nats"] {
            let srv = monitored_server().await;
            let args = [&bench[..], mode, &["--client", client]].concat();
            let out = run(&srv.client_url(), &args).await;
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            let monitor = srv.monitor_url().unwrap();
            let closed: serde_json::Value =
                serde_json::from_str(&http_get(&monitor, "/connz?state=closed").await).unwrap();
            let versions: Vec<&str> = closed["connections"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| {
                    c["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("NATTER BENCH"))
                })
                .map(|c| c["version"].as_str().unwrap_or_default())
                .collect();
            assert_eq!(versions.len(), 2, "{args:?}: {closed}");
            let wire = versions.iter().filter(|v| **v == ours).count();
            assert_eq!(
                wire,
                if client == "wire" { 2 } else { 0 },
                "{args:?}: {versions:?}"
            );
        }
    }

    let srv = server().await;
    // Credentials in the URL: the wire client does not take them, so async-nats runs.
    let url = srv
        .client_url()
        .replace("nats://", "nats://someone:secret@");
    let out = run(&url, &bench).await;
    let report = text(&out.stdout);
    assert!(out.status.success(), "{}\n{report}", text(&out.stderr));
    assert!(report.contains(", client=async-nats]"), "{report}");
    assert!(
        report.contains("Using async-nats clients: the built-in wire client does not take credentials in the URL"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_help_has_an_example() {
    for sub in ["pub", "sub", "req", "reply", "bench", "top"] {
        let out = run("nats://127.0.0.1:1", &[sub, "--help"]).await;
        assert!(out.status.success());
        let help = text(&out.stdout);
        assert!(help.contains("Examples:"), "{sub}: {help}");
        assert!(help.contains(&format!("natter {sub} ")), "{sub}: {help}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn top_once_prints_server_load_and_connections() {
    let srv = monitored_server().await;
    let monitor = srv.monitor_url().expect("monitoring is on");
    let url = srv.client_url();
    // One named connection with two subscriptions that has received traffic.
    let (sub, _lines) = start_until(&url, &["sub", "top.test"], "Subscribing on top.test").await;
    let out = run(&url, &["pub", "top.test", "x", "--count", "3"]).await;
    assert!(out.status.success());

    let out = run(
        &url,
        &[
            "top",
            "--once",
            "--monitor",
            &monitor,
            "--delay",
            "200ms",
            "--sort",
            "msgs_to",
        ],
    )
    .await;
    let frame = text(&out.stdout);
    assert!(out.status.success(), "{}\n{frame}", text(&out.stderr));
    assert!(
        !frame.contains('\x1b'),
        "--once must not emit escape codes: {frame:?}"
    );
    assert!(frame.starts_with("NATS server version "), "{frame}");
    assert!(frame.contains(&format!("  ID:   {}", srv.id())), "{frame}");
    assert!(frame.contains("Msgs/Sec: "), "{frame}");
    assert!(
        frame.contains("HOST") && frame.contains("MSGS_TO"),
        "{frame}"
    );
    let row = frame
        .lines()
        .find(|l| l.contains("NATTER CLI Subscriber"))
        .unwrap_or_else(|| panic!("subscriber connection missing: {frame}"));
    // HOST CID NAME(3 words) SUBS PENDING MSGS_TO ...: three published messages plus the
    // readiness echo the subscriber sends itself.
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert!(cols[0].starts_with("127.0.0.1:"), "{row}");
    assert_eq!(cols[5], "1", "one subscription: {row}");
    assert_eq!(cols[7], "4", "four messages delivered: {row}");
    drop(sub);
}
