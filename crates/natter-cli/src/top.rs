//! `natter top`: a nats-top-like view of a server, built from its `/varz` and `/connz`
//! monitoring endpoints (nats-server's field names, so it works against either server).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::ArgMatches;
use serde_json::Value;

use crate::common::{go_duration_secs, parse_duration, Failure, Global, Outcome};
use crate::http::{self, BaseUrl};
use crate::term::Screen;

/// Columns `--sort` accepts: the `/connz?sort=` names nats-top uses.
pub(crate) const SORT_KEYS: [&str; 10] = [
    "cid",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "idle",
    "last",
    "uptime",
];

struct Poll {
    at: Instant,
    varz: Value,
    connz: Value,
}

fn int(v: &Value, key: &str) -> i64 {
    match &v[key] {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// nats-top's compact units: `512`, `1.2K`, `3.4M`, `5.6G`.
fn short(n: f64) -> String {
    const STEPS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")];
    for (scale, unit) in STEPS {
        if n >= scale {
            return format!("{:.1}{unit}", n / scale);
        }
    }
    format!("{n:.0}")
}

fn short_bytes(n: f64) -> String {
    const STEPS: [(f64, &str); 4] = [
        (1024f64 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024f64 * 1024.0 * 1024.0, "G"),
        (1024f64 * 1024.0, "M"),
        (1024.0, "K"),
    ];
    for (scale, unit) in STEPS {
        if n >= scale {
            return format!("{:.1}{unit}", n / scale);
        }
    }
    format!("{n:.0}")
}

async fn poll(base: &BaseUrl, sort: &str, conns: usize, timeout: Duration) -> Outcome<Poll> {
    let (status, body) = http::get(base, "/varz", timeout).await?;
    if status != 200 {
        return Err(Failure::new(format!("GET /varz answered HTTP {status}")));
    }
    let varz: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(format!("/varz is not JSON: {e}")))?;
    // The server sorts and limits so the busiest connections are the ones returned; if it
    // refuses the parameters, take everything and sort here.
    let (mut status, mut body) =
        http::get(base, &format!("/connz?sort={sort}&limit={conns}"), timeout).await?;
    if status != 200 {
        (status, body) = http::get(base, "/connz", timeout).await?;
    }
    if status != 200 {
        return Err(Failure::new(format!("GET /connz answered HTTP {status}")));
    }
    let connz: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(format!("/connz is not JSON: {e}")))?;
    Ok(Poll {
        at: Instant::now(),
        varz,
        connz,
    })
}

fn sort_connections(conns: &mut [Value], key: &str) {
    let num = |c: &Value| -> f64 {
        match key {
            "cid" => -(int(c, "cid") as f64),
            "subs" => int(c, "subscriptions") as f64,
            "pending" => int(c, "pending_bytes") as f64,
            "msgs_to" => int(c, "out_msgs") as f64,
            "msgs_from" => int(c, "in_msgs") as f64,
            "bytes_to" => int(c, "out_bytes") as f64,
            "bytes_from" => int(c, "in_bytes") as f64,
            "idle" => go_duration_secs(text(c, "idle")),
            "uptime" => go_duration_secs(text(c, "uptime")),
            _ => 0.0,
        }
    };
    if key == "last" {
        // RFC 3339 times from one server share a format, so text order is time order.
        conns.sort_by(|a, b| text(b, "last_activity").cmp(text(a, "last_activity")));
    } else {
        conns.sort_by(|a, b| num(b).total_cmp(&num(a)));
    }
}

/// Renders one screen from the latest poll and the one before it (for the rates).
fn frame(prev: &Poll, cur: &Poll, sort: &str, limit: usize) -> String {
    let v = &cur.varz;
    let secs = cur.at.duration_since(prev.at).as_secs_f64().max(1e-3);
    let rate = |key: &str| ((int(v, key) - int(&prev.varz, key)).max(0) as f64) / secs;
    let mut out = String::new();
    out += &format!(
        "NATS server version {} (uptime: {}) {}\n",
        text(v, "version"),
        text(v, "uptime"),
        text(v, "server_name")
    );
    out += "Server:\n";
    out += &format!("  ID:   {}\n", text(v, "server_id"));
    out += &format!(
        "  Load: CPU: {:>5.1}%  Memory: {}  Slow Consumers: {}\n",
        v["cpu"].as_f64().unwrap_or(0.0),
        short_bytes(int(v, "mem") as f64),
        int(v, "slow_consumers")
    );
    out += &format!(
        "  Conns: {}  Total: {}  Subscriptions: {}\n",
        int(v, "connections"),
        int(v, "total_connections"),
        int(v, "subscriptions")
    );
    for (label, dir) in [("In: ", "in"), ("Out:", "out")] {
        let (m, b) = (format!("{dir}_msgs"), format!("{dir}_bytes"));
        out += &format!(
            "  {label}  Msgs: {}  Bytes: {}  Msgs/Sec: {:.1}  Bytes/Sec: {}\n",
            short(int(v, &m) as f64),
            short_bytes(int(v, &b) as f64),
            rate(&m),
            short_bytes(rate(&b))
        );
    }
    let mut conns: Vec<Value> = cur.connz["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    sort_connections(&mut conns, sort);
    conns.truncate(limit);
    out += &format!("\nConnections Polled: {} (sorted by {sort})\n", conns.len());
    out += &format!(
        "  {:<21} {:<6} {:<24} {:<6} {:<9} {:<9} {:<9} {:<9} {:<9} {:<8} {:<9} {:<9} {:<9}\n",
        "HOST",
        "CID",
        "NAME",
        "SUBS",
        "PENDING",
        "MSGS_TO",
        "MSGS_FROM",
        "BYTES_TO",
        "BYTES_FROM",
        "LANG",
        "VERSION",
        "UPTIME",
        "LAST_ACTIVITY"
    );
    for c in &conns {
        let host = format!("{}:{}", text(c, "ip"), int(c, "port"));
        let name: String = text(c, "name").chars().take(24).collect();
        out += &format!(
            "  {:<21} {:<6} {:<24} {:<6} {:<9} {:<9} {:<9} {:<9} {:<9} {:<8} {:<9} {:<9} {}\n",
            host,
            int(c, "cid"),
            name,
            int(c, "subscriptions"),
            short_bytes(int(c, "pending_bytes") as f64),
            short(int(c, "out_msgs") as f64),
            short(int(c, "in_msgs") as f64),
            short_bytes(int(c, "out_bytes") as f64),
            short_bytes(int(c, "in_bytes") as f64),
            text(c, "lang"),
            text(c, "version"),
            text(c, "uptime"),
            text(c, "last_activity")
        );
    }
    out
}

pub(crate) async fn run(g: &Global, m: &ArgMatches) -> Outcome {
    let base = BaseUrl::parse(
        m.get_one::<String>("monitor")
            .map_or("http://127.0.0.1:8222", |s| s.as_str()),
    )?;
    let delay = parse_duration(m.get_one::<String>("delay").map_or("1s", |s| s.as_str()))
        .map_err(|e| Failure::new(format!("--delay: {e}")))?;
    let delay = delay.max(Duration::from_millis(10));
    let sort = m
        .get_one::<String>("sort")
        .map_or("cid", |s| s.as_str())
        .to_string();
    let conns = m.get_one::<u64>("conns").map_or(1024, |n| *n as usize);
    let timeout = g.timeout;

    let mut prev = poll(&base, &sort, conns, timeout).await?;
    if m.get_flag("once") {
        // Rates need two polls.
        tokio::time::sleep(delay).await;
        let cur = poll(&base, &sort, conns, timeout).await?;
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(frame(&prev, &cur, &sort, conns).as_bytes());
        let _ = out.flush();
        return Ok(());
    }

    let interactive = std::io::stdin().is_terminal();
    let (keys_tx, mut keys) = tokio::sync::mpsc::unbounded_channel::<u8>();
    if interactive {
        // A plain thread: blocking stdin reads must not occupy a runtime worker.
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin();
            let mut b = [0u8; 1];
            while let Ok(1) = stdin.read(&mut b) {
                if keys_tx.send(b[0]).is_err() {
                    break;
                }
            }
        });
    }
    let screen = Screen::enter(interactive);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    screen.draw(&frame(&prev, &prev, &sort, conns));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {
                match poll(&base, &sort, conns, timeout).await {
                    Ok(cur) => {
                        screen.draw(&frame(&prev, &cur, &sort, conns));
                        prev = cur;
                    }
                    Err(e) => {
                        drop(screen);
                        return Err(e);
                    }
                }
            }
            key = keys.recv(), if interactive => {
                // `q`, Ctrl-C and Ctrl-D quit; raw mode delivers Ctrl-C as a byte.
                if matches!(key, Some(b'q' | b'Q' | 3 | 4) | None) {
                    return Ok(());
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connections_sort_by_the_chosen_column() {
        let mut c = vec![
            json!({"cid": 1, "out_msgs": 5, "idle": "2s", "last_activity": "2026-01-01T00:00:01Z"}),
            json!({"cid": 2, "out_msgs": 50, "idle": "1m", "last_activity": "2026-01-01T00:00:03Z"}),
            json!({"cid": 3, "out_msgs": 7, "idle": "1ms", "last_activity": "2026-01-01T00:00:02Z"}),
        ];
        let cids = |c: &[Value]| c.iter().map(|v| int(v, "cid")).collect::<Vec<_>>();
        sort_connections(&mut c, "msgs_to");
        assert_eq!(cids(&c), vec![2, 3, 1]);
        sort_connections(&mut c, "cid");
        assert_eq!(cids(&c), vec![1, 2, 3]);
        sort_connections(&mut c, "idle");
        assert_eq!(cids(&c), vec![2, 1, 3]);
        sort_connections(&mut c, "last");
        assert_eq!(cids(&c), vec![2, 3, 1]);
    }

    #[test]
    fn rates_come_from_two_polls() {
        let t = Instant::now();
        let a = Poll {
            at: t,
            varz: json!({"in_msgs": 100, "out_msgs": 0, "in_bytes": 0, "out_bytes": 0}),
            connz: json!({"connections": []}),
        };
        let b = Poll {
            at: t + Duration::from_secs(2),
            varz: json!({"in_msgs": 300, "out_msgs": 0, "in_bytes": 2048, "out_bytes": 0, "version": "9.9"}),
            connz: json!({"connections": [{"cid": 4, "ip": "127.0.0.1", "port": 5, "name": "x"}]}),
        };
        let f = frame(&a, &b, "cid", 10);
        assert!(f.contains("NATS server version 9.9"), "{f}");
        assert!(f.contains("Msgs/Sec: 100.0  Bytes/Sec: 1.0K"), "{f}");
        assert!(f.contains("127.0.0.1:5"), "{f}");
        assert!(f.contains("Connections Polled: 1"), "{f}");
    }
}
