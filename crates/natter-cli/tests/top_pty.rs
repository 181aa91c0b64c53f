//! `natter top` run on a pseudo-terminal against an in-process natter-server: keys are
//! typed on the master side and the screen is rebuilt from what the program writes.

mod support;

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::Term;

/// Longest wait for something to appear on the screen (polls are every 100 ms).
const LIMIT: Duration = Duration::from_secs(15);

/// The `natter` process, killed if the test fails before it exits.
struct Natter(Child);

impl Drop for Natter {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// An in-process natter-server on free loopback ports, with monitoring, and its monitor URL.
fn monitored_server(rt: &tokio::runtime::Runtime) -> (natter_server::ServerHandle, String) {
    let srv = rt.block_on(async {
        natter_server::Server::builder()
            .host("127.0.0.1")
            .port(0)
            .http_port(0)
            .start()
            .await
            .expect("server starts")
    });
    let monitor = srv.monitor_url().expect("monitoring is on");
    (srv, monitor)
}

/// Runs `natter ARGS` with stdin, stdout and stderr on a new `rows` x `cols` pseudo-terminal;
/// the returned `Term` reads and types on its master side.
fn on_a_pty(args: &[&str], rows: u16, cols: u16) -> (Natter, Term, Pid) {
    on_a_pty_but(args, rows, cols, None)
}

/// [`on_a_pty`], with stdout sent to `stdout` instead when given.
fn on_a_pty_but(args: &[&str], rows: u16, cols: u16, stdout: Option<Stdio>) -> (Natter, Term, Pid) {
    let pty = openpty(
        &Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
        None,
    )
    .expect("openpty");
    let slave = |what| Stdio::from(pty.slave.try_clone().expect(what));
    let natter = Natter(
        Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(args)
            .stdin(slave("stdin"))
            .stdout(stdout.unwrap_or_else(|| slave("stdout")))
            .stderr(slave("stderr"))
            .spawn()
            .expect("natter runs"),
    );
    // Only the child may hold the slave side, so its exit closes the terminal.
    drop(pty.slave);
    let term = Term::new(pty.master, rows.into(), cols.into());
    let pid = Pid::from_raw(i32::try_from(natter.0.id()).expect("pid"));
    (natter, term, pid)
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn top_on_a_terminal_takes_keys_fits_the_window_survives_a_lost_server_and_restores_the_screen() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (srv, monitor) = monitored_server(&rt);
    // Six connections with one subscription each: more than a small window can list.
    let clients = rt.block_on(async {
        let mut clients = Vec::new();
        for i in 0..6 {
            let client = async_nats::connect(srv.client_url())
                .await
                .expect("connect");
            let sub = client
                .subscribe(format!("pty.{i}"))
                .await
                .expect("subscribe");
            client.flush().await.expect("flush");
            clients.push((client, sub));
        }
        clients
    });

    let (mut natter, mut term, pid) =
        on_a_pty(&["top", "--monitor", &monitor, "--delay", "100ms"], 40, 250);
    let child = &mut natter.0;

    term.wait_for("the first frame", LIMIT, |vt| {
        vt.alternate && vt.text().contains("Connections Polled: 6 (sorted by cid)")
    });

    // o opens the sort prompt on the bottom line; the name and Enter apply it.
    term.send(b"o");
    term.wait_for("the sort prompt", LIMIT, |vt| {
        vt.bottom() == "sort by [cid]:" && vt.cursor_visible
    });
    term.send(b"msgs_to\r");
    term.wait_for("the new sort", LIMIT, |vt| {
        vt.text()
            .contains("Connections Polled: 6 (sorted by msgs_to)")
            && vt.bottom().is_empty()
    });

    // A bad name is a message, not a crash.
    term.send(b"obogus\r");
    term.wait_for("the invalid order message", LIMIT, |vt| {
        vt.bottom().starts_with("invalid order: bogus")
    });
    assert!(
        child.try_wait().expect("child status").is_none(),
        "natter top exited on a bad sort name:\n{}",
        term.vt.text()
    );
    let draws = term.vt.draws;
    term.wait_for("the view to go on", LIMIT, |vt| {
        vt.draws >= draws + 2 && vt.text().contains("(sorted by msgs_to)")
    });

    // s adds each connection's subscriptions.
    term.send(b"s");
    term.wait_for("the subscriptions column", LIMIT, |vt| {
        let text = vt.text();
        text.contains(" SUBSCRIPTIONS") && (0..6).all(|i| text.contains(&format!(" pty.{i}")))
    });
    assert!(!term.vt.overflowed, "a line wrapped:\n{}", term.vt.text());

    // d shows the hosts by name, found by reverse lookup; d again by address.
    let localhost = dns_lookup::lookup_addr(&[127, 0, 0, 1].into())
        .expect("this test needs a name for 127.0.0.1 (the hosts file's localhost line)");
    term.send(b"d");
    term.wait_for("hosts by name", LIMIT, |vt| {
        let text = vt.text();
        text.matches(&format!("\n  {localhost}:")).count() == 6 && !text.contains("127.0.0.1:")
    });
    term.send(b"d");
    term.wait_for("hosts by address again", LIMIT, |vt| {
        vt.text().matches("\n  127.0.0.1:").count() == 6
    });

    // ? shows the keys and the sort columns; any key goes back.
    term.send(b"?");
    term.wait_for("the help", LIMIT, |vt| {
        let text = vt.text();
        text.contains("Press any key to go back")
            && text.contains("bytes_from")
            && !text.contains("Connections Polled")
    });
    term.send(b"x");
    term.wait_for("the view after the help", LIMIT, |vt| {
        vt.text().contains(" SUBSCRIPTIONS")
    });

    // A smaller window: the program is told (SIGWINCH) and the frame must fit it.
    let (small_rows, small_cols) = (14u16, 60u16);
    term.resize(small_rows, small_cols);
    kill(pid, Signal::SIGWINCH).expect("send SIGWINCH");
    // 10 header lines and the bottom line leave 3 rows: 2 connections and the note.
    term.wait_for("a frame for the small window", LIMIT, |vt| {
        vt.line(12)
            .starts_with("  ... 4 more connections not shown")
    });
    // Frames written for the old size may have wrapped; from here on, none may.
    term.vt.overflowed = false;
    let draws = term.vt.draws;
    term.wait_for("two more frames", LIMIT, |vt| vt.draws >= draws + 2);
    // A frame may be half drawn when a read ends, so the whole picture is the condition
    // and the wait retries until it holds.
    term.wait_for("a complete frame", LIMIT, |vt| {
        vt.line(12).starts_with("  ... 4 more connections")
            && vt.line(0).starts_with("NATS server version")
            && vt.line(8).starts_with("Connections Polled: 6")
            && vt.line(10).starts_with("  127.0.0.1:")
            && vt.line(11).starts_with("  127.0.0.1:")
            // The column titles are cut exactly at the width, the last column kept.
            && vt.line(9).chars().count() == usize::from(small_cols)
            && vt.line(9).ends_with(" SUBS")
    });
    let screen = term.vt.text();
    assert!(
        !term.vt.overflowed,
        "a line wrapped or the screen scrolled:\n{screen}"
    );

    // The server goes away: the view stays, says why it is stale, and q still quits.
    drop(clients);
    rt.block_on(srv.shutdown());
    term.wait_for("the poll failure on the bottom line", LIMIT, |vt| {
        vt.bottom().starts_with("poll failed:")
    });
    assert!(
        child.try_wait().expect("child status").is_none(),
        "natter top exited when the server went away:\n{}",
        term.vt.text()
    );

    term.send(b"q");
    let Some(status) = wait_exit(child, Duration::from_secs(5)) else {
        panic!("natter top did not quit on q:\n{}", term.vt.text());
    };
    term.read_to_close(LIMIT);
    assert!(status.success(), "{status}:\n{}", term.vt.text());
    let out = String::from_utf8_lossy(&term.raw);
    let left = out
        .rfind("\x1b[?1049l")
        .expect("the alternate screen is left");
    assert!(
        out.rfind("\x1b[?1049h")
            .is_some_and(|entered| entered < left),
        "{out:?}"
    );
    assert!(!term.vt.alternate && term.vt.cursor_visible);
    assert!(term.cooked(), "line editing and echo are not back on");
}

/// A monitoring endpoint that answers the first `answered` requests (`/varz` with `{}`,
/// anything else with no connections) and then accepts requests but never answers them;
/// each unanswered request is reported on the channel.
fn stalling_monitor(answered: usize) -> (String, std::sync::mpsc::Receiver<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { break };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(n @ 1..) => request.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            if n < answered {
                let body = if request.starts_with(b"GET /varz") {
                    "{}"
                } else {
                    r#"{"connections": []}"#
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else {
                held.push(stream);
                if tx.send(()).is_err() {
                    break;
                }
            }
        }
    });
    (url, rx)
}

#[test]
fn keys_and_signals_are_served_while_a_poll_waits_for_the_server() {
    let (monitor, stalled) = stalling_monitor(2);
    // The poll timeout is far longer than any wait below: only a loop that serves keys
    // and signals while a poll is under way can pass.
    let (mut natter, mut term, pid) = on_a_pty(
        &[
            "--timeout",
            "120s",
            "top",
            "--monitor",
            &monitor,
            "--delay",
            "100ms",
        ],
        30,
        200,
    );
    let child = &mut natter.0;
    term.wait_for("the first frame", LIMIT, |vt| {
        vt.alternate && vt.text().contains("Connections Polled: 0 (sorted by cid)")
    });
    stalled
        .recv_timeout(LIMIT)
        .expect("a second poll reaches the server");

    term.send(b"?");
    term.wait_for("the help while a poll waits", LIMIT, |vt| {
        vt.text().contains("Press any key to go back")
    });
    term.send(b"x");
    term.wait_for("the view again", LIMIT, |vt| {
        vt.text().contains("Connections Polled: 0")
    });
    // s needs a new poll, which cannot finish; the screen still changes at once.
    term.send(b"s");
    term.wait_for(
        "the subscriptions column before any poll answers",
        LIMIT,
        |vt| vt.text().contains(" SUBSCRIPTIONS"),
    );

    kill(pid, Signal::SIGINT).expect("send SIGINT");
    let Some(status) = wait_exit(child, LIMIT) else {
        panic!("natter top did not exit on SIGINT:\n{}", term.vt.text());
    };
    term.read_to_close(LIMIT);
    assert!(status.success(), "{status}:\n{}", term.vt.text());
    assert!(!term.vt.alternate && term.vt.cursor_visible);
    assert!(term.cooked(), "line editing and echo are not back on");
}

#[test]
fn top_into_a_pipe_prints_plain_frames_and_exits_when_the_reader_goes() {
    use std::io::Read;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (srv, monitor) = monitored_server(&rt);
    let mut natter = Natter(
        Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(["top", "--monitor", &monitor, "--delay", "100ms"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("natter runs"),
    );
    let child = &mut natter.0;
    let mut stdout = child.stdout.take().expect("stdout");
    // Read on a thread until the first frame is complete, then close the pipe (as
    // `head` does); every wait here has a time limit.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&out).contains("LAST_ACTIVITY") {
            match stdout.read(&mut buf) {
                Ok(n @ 1..) => out.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        drop(stdout);
        let _ = tx.send(out);
    });
    let out = rx.recv_timeout(LIMIT).expect("the first frame");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("Connections Polled:"), "{text}");
    assert!(!out.contains(&0x1b), "an escape code in {text:?}");
    let Some(status) = wait_exit(child, LIMIT) else {
        panic!("natter top did not exit when its output pipe closed");
    };
    assert!(status.success(), "{status}");
    rt.block_on(srv.shutdown());
}

#[test]
fn errors_on_the_terminal_start_at_the_left_edge_while_frames_go_to_a_pipe() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (srv, monitor) = monitored_server(&rt);
    // Keys come from the terminal (so it is in raw mode), frames go to a pipe, and the
    // poll errors of a lost server go to stderr on the terminal.
    let (natter, mut term, _pid) = on_a_pty_but(
        &["top", "--monitor", &monitor, "--delay", "100ms"],
        24,
        100,
        Some(Stdio::piped()),
    );
    let mut natter = natter;
    let mut frames = natter.0.stdout.take().expect("piped stdout");
    let mut first = [0u8; 64];
    use std::io::Read;
    assert!(frames.read(&mut first).expect("a frame") > 0);
    rt.block_on(srv.shutdown());
    term.wait_for("three poll errors", LIMIT, |vt| {
        vt.text().matches("poll failed").count() >= 3
    });
    let text = term.vt.text();
    for line in text.lines().filter(|l| l.contains("poll failed")) {
        assert!(line.starts_with("natter top: poll failed"), "{text}");
    }
    term.send(b"q");
    assert!(wait_exit(&mut natter.0, LIMIT).is_some_and(|s| s.success()));
}

#[test]
fn hangup_terminate_and_quit_signals_give_the_terminal_back() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_srv, monitor) = monitored_server(&rt);
    for signal in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGQUIT] {
        let (mut natter, mut term, pid) =
            on_a_pty(&["top", "--monitor", &monitor, "--delay", "100ms"], 24, 120);
        term.wait_for("the first frame", LIMIT, |vt| {
            vt.alternate && !vt.cursor_visible && vt.text().contains("Connections Polled:")
        });
        assert!(!term.cooked(), "{signal}: the terminal is not in raw mode");
        kill(pid, signal).expect("send the signal");
        let Some(status) = wait_exit(&mut natter.0, LIMIT) else {
            panic!("natter top did not exit on {signal}:\n{}", term.vt.text());
        };
        term.read_to_close(LIMIT);
        assert!(status.success(), "{signal}: {status}");
        assert!(
            !term.vt.alternate && term.vt.cursor_visible,
            "{signal}: the screen is not restored"
        );
        assert!(
            term.cooked(),
            "{signal}: line editing and echo are not back on"
        );
    }
}
