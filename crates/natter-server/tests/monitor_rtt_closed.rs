//! `/connz` `rtt` from the server's PING to the client's PONG, and closed connections
//! listing the subscriptions they had, as nats-server 2.9.10 shows them.

mod monitor_common;

use std::time::Duration;

use monitor_common::{eventually, get_json, monitor, Nats, WAIT};
use natter_server::{Server, ServerHandle};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::time::{sleep, timeout};

/// How long the test client sits on the server's PING before answering it.
const HOLD: Duration = Duration::from_millis(60);

async fn start(ping_interval: Duration) -> ServerHandle {
    Server::builder()
        .host("127.0.0.1")
        .port(0)
        .http_port(0)
        .ping_interval(ping_interval)
        .start()
        .await
        .expect("server starts")
}

/// Reads until the server's PING arrives, waits `HOLD`, then answers it and makes sure the
/// server processed the PONG.
async fn answer_server_ping(n: &mut Nats) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    timeout(WAIT, async {
        while !seen.windows(6).any(|w| w == b"PING\r\n") {
            let got = n.stream.read(&mut chunk).await.unwrap();
            assert!(got > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&chunk[..got]);
        }
    })
    .await
    .expect("a server PING");
    sleep(HOLD).await;
    n.send(b"PONG\r\n").await;
    n.sync().await;
}

/// A Go duration string of at least a millisecond (`61.234567ms`, `1.5s`) as a Duration.
fn parse_go(s: &str) -> Duration {
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_secs_f64(ms.parse::<f64>().unwrap() / 1e3)
    } else if let Some(secs) = s.strip_suffix('s') {
        Duration::from_secs_f64(secs.parse::<f64>().unwrap())
    } else {
        panic!("not a Go duration of a millisecond or more: {s:?}")
    }
}

fn by_name<'a>(connz: &'a Value, name: &str) -> &'a Value {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection {name} in {connz}"))
}

#[tokio::test]
async fn rtt_is_the_servers_ping_to_the_clients_pong() {
    // Short, so the first PING comes soon; the client stops answering after one and is
    // closed as stale a few intervals later, which keeps the measurement too.
    let server = start(Duration::from_millis(300)).await;
    let m = monitor(&server);
    let mut answers = Nats::connect(server.addr(), "answers").await;

    let before = get_json(m, "/connz").await;
    assert_eq!(by_name(&before, "answers")["rtt"], "0s");

    answer_server_ping(&mut answers).await;
    let after = get_json(m, "/connz").await;
    let rtt = parse_go(by_name(&after, "answers")["rtt"].as_str().unwrap());
    assert!(rtt >= HOLD && rtt < WAIT, "{rtt:?}");

    // The measurement survives the close.
    drop(answers);
    let closed = eventually("the close", || async {
        let c = get_json(m, "/connz?state=closed").await;
        (c["num_connections"] == 1 && c["connections"][0]["name"] == "answers").then_some(c)
    })
    .await;
    let kept = parse_go(by_name(&closed, "answers")["rtt"].as_str().unwrap());
    assert_eq!(kept, rtt);
    server.shutdown().await;
}

#[tokio::test]
async fn closed_connections_list_the_subscriptions_they_had() {
    // The default interval: no server PING during the test.
    let server = start(Duration::from_secs(120)).await;
    let m = monitor(&server);
    let mut c = Nats::connect(server.addr(), "leaver").await;
    c.sub("foo.*", None, 1).await;
    c.sub("bar", Some("q1"), 2).await;
    c.sub("baz", None, 10).await;
    // An auto-unsubscribe limit, which nats-server drops from the kept list.
    c.send(b"UNSUB 2 5\r\n").await;
    c.sync().await;
    let open = get_json(m, "/connz?subs=1").await;
    assert_eq!(by_name(&open, "leaver")["subscriptions"], 3);
    drop(c);
    eventually("the close", || async {
        let v = get_json(m, "/connz?state=closed").await;
        (v["num_connections"] == 1).then_some(())
    })
    .await;

    let plain = get_json(m, "/connz?state=closed").await;
    let gone = by_name(&plain, "leaver");
    assert_eq!(gone["subscriptions"], 3);
    assert!(gone.get("subscriptions_list").is_none(), "{gone}");
    assert!(gone.get("subscriptions_list_detail").is_none(), "{gone}");

    let list = get_json(m, "/connz?state=closed&subs=1").await;
    let gone = by_name(&list, "leaver");
    assert_eq!(gone["subscriptions"], 3);
    assert_eq!(
        gone["subscriptions_list"],
        serde_json::json!(["foo.*", "bar", "baz"]),
        "in sid order"
    );

    let detail = get_json(m, "/connz?state=closed&subs=detail").await;
    let gone = by_name(&detail, "leaver");
    assert!(gone.get("subscriptions_list").is_none(), "{gone}");
    let cid = gone["cid"].clone();
    assert_eq!(
        gone["subscriptions_list_detail"],
        serde_json::json!([
            {"account": "$G", "subject": "foo.*", "sid": "1", "msgs": 0, "cid": cid},
            {"account": "$G", "subject": "bar", "qgroup": "q1", "sid": "2", "msgs": 0, "cid": cid},
            {"account": "$G", "subject": "baz", "sid": "10", "msgs": 0, "cid": cid},
        ])
    );
    // The subscriptions themselves are gone from the server.
    assert_eq!(get_json(m, "/subsz").await["num_subscriptions"], 0);
    server.shutdown().await;
}
