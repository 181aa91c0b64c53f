//! The monitoring endpoints report what really happened: real clients connect, subscribe
//! and publish, and `/varz`, `/connz`, `/subsz`, `/routez`, `/healthz` and `/` are read
//! with plain HTTP requests.

mod monitor_common;

use std::time::Duration;

use futures::StreamExt;
use monitor_common::{
    eventually, get, get_json, monitor, parse_answer, parse_head_answer, raw_http, start, Nats,
    WAIT,
};
use natter_server::Server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() >= 20
        && s.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s[..4].bytes().all(|c| c.is_ascii_digit())
}

fn is_uptime(s: &str) -> bool {
    s.ends_with('s')
        && s.bytes()
            .all(|c| c.is_ascii_digit() || b"ydhms".contains(&c))
}

fn cids(connz: &Value) -> Vec<u64> {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cid"].as_u64().unwrap())
        .collect()
}

fn names(connz: &Value) -> Vec<String> {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn varz_reports_options_identity_and_traffic() {
    let server = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .http_port(0)
        .name("varz-test")
        .max_payload(2048)
        .max_connections(77)
        .ping_interval(Duration::from_secs(33))
        .start()
        .await
        .unwrap();
    let m = monitor(&server);
    assert_eq!(server.monitor_url().unwrap(), format!("http://{m}"));

    let v = get_json(m, "/varz").await;
    assert_eq!(v["server_id"], server.id());
    assert_eq!(v["server_name"], "varz-test");
    assert_eq!(v["version"], server.options().protocol_version.as_str());
    assert_eq!(v["proto"], 1);
    assert_eq!(v["host"], "127.0.0.1");
    assert_eq!(v["port"], server.addr().port());
    assert_eq!(v["http_host"], "127.0.0.1");
    assert_eq!(v["http_port"], m.port());
    assert_eq!(v["max_payload"], 2048);
    assert_eq!(v["max_connections"], 77);
    assert_eq!(v["max_control_line"], 4096);
    assert_eq!(v["max_pending"], 64 * 1024 * 1024);
    assert_eq!(v["ping_interval"], 33_000_000_000u64);
    assert_eq!(v["ping_max"], 2);
    assert_eq!(v["write_deadline"], 10_000_000_000u64);
    assert_eq!(v["auth_timeout"].as_f64(), Some(2.0));
    assert!(v.get("auth_required").is_none(), "omitted without auth");
    assert_eq!(v["connections"], 0);
    assert_eq!(v["in_msgs"], 0);
    assert_eq!(v["routes"], 0);
    assert!(
        is_rfc3339_utc(v["start"].as_str().unwrap()),
        "{}",
        v["start"]
    );
    assert!(is_rfc3339_utc(v["now"].as_str().unwrap()), "{}", v["now"]);
    assert!(v["now"].as_str() >= v["start"].as_str());
    assert!(is_uptime(v["uptime"].as_str().unwrap()), "{}", v["uptime"]);
    assert!(v["mem"].as_u64().unwrap() > 1024 * 1024, "RSS in bytes");
    assert!(v["cores"].as_u64().unwrap() >= 1);
    assert!(v["cpu"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["http_req_stats"]["/varz"], 1);
    assert_eq!(v["natter_version"], env!("CARGO_PKG_VERSION"));

    // Traffic through real clients.
    let subscriber = async_nats::connect(server.client_url()).await.unwrap();
    let publisher = async_nats::connect(server.client_url()).await.unwrap();
    let mut sub = subscriber.subscribe("greet.*").await.unwrap();
    subscriber.flush().await.unwrap();
    for i in 0..10 {
        publisher
            .publish(format!("greet.{i}"), "hello".into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    for _ in 0..10 {
        timeout(WAIT, sub.next()).await.unwrap().unwrap();
    }

    let v = get_json(m, "/varz").await;
    assert_eq!(v["connections"], 2);
    assert_eq!(v["total_connections"], 2);
    assert_eq!(v["subscriptions"], 1);
    assert_eq!(v["in_msgs"], 10);
    assert_eq!(v["in_bytes"], 50);
    assert_eq!(v["out_msgs"], 10);
    assert_eq!(v["out_bytes"], 50);
    assert_eq!(v["slow_consumers"], 0);
    assert_eq!(v["http_req_stats"]["/varz"], 2);

    drop(publisher);
    let v = eventually("the publisher to be gone", || async {
        let v = get_json(m, "/varz").await;
        (v["connections"] == 1).then_some(v)
    })
    .await;
    assert_eq!(v["total_connections"], 2, "total does not drop");
    drop((sub, subscriber));
    server.shutdown().await;
}

#[tokio::test]
async fn connz_lists_connections_with_their_figures() {
    let server = start().await;
    let m = monitor(&server);
    let addr = server.addr();

    let mut alpha = Nats::connect(addr, "alpha").await;
    for (i, s) in ["a.1", "a.2", "a.3"].iter().enumerate() {
        alpha.sub(s, None, i as u32 + 1).await;
    }
    alpha.sync().await;
    let mut gamma_first = Nats::connect(addr, "gamma").await;
    gamma_first.sub("x", Some("workers"), 7).await;
    gamma_first.sync().await;
    let mut beta = Nats::connect(addr, "beta").await;
    for _ in 0..4 {
        beta.publish("x", "0123456789").await;
    }
    beta.sync().await;
    let gamma_port = gamma_first.stream.local_addr().unwrap().port();
    gamma_first.sync().await; // the 4 deliveries have been flushed before this PONG

    let c = get_json(m, "/connz").await;
    assert_eq!(c["server_id"], server.id());
    assert_eq!(c["num_connections"], 3);
    assert_eq!(c["total"], 3);
    assert_eq!(c["offset"], 0);
    assert_eq!(c["limit"], 1024);
    assert!(is_rfc3339_utc(c["now"].as_str().unwrap()));
    assert_eq!(
        names(&c),
        ["alpha", "gamma", "beta"],
        "cid order by default"
    );
    let ids = cids(&c);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let conns = c["connections"].as_array().unwrap();
    let (a, g, b) = (&conns[0], &conns[1], &conns[2]);
    assert_eq!(g["kind"], "Client");
    assert_eq!(g["type"], "nats");
    assert_eq!(g["ip"], "127.0.0.1");
    assert_eq!(g["port"], gamma_port);
    assert_eq!(g["lang"], "rawtest");
    assert_eq!(g["version"], "0.1");
    assert_eq!(g["rtt"], "0s");
    assert!(is_uptime(g["uptime"].as_str().unwrap()));
    assert!(is_uptime(g["idle"].as_str().unwrap()));
    assert!(is_rfc3339_utc(g["start"].as_str().unwrap()));
    assert!(g["last_activity"].as_str() >= g["start"].as_str());
    assert!(g.get("stop").is_none() && g.get("reason").is_none());
    assert_eq!(g["pending_bytes"], 0);
    assert_eq!(a["subscriptions"], 3);
    assert_eq!(g["subscriptions"], 1);
    assert_eq!(
        (b["in_msgs"].as_u64(), b["in_bytes"].as_u64()),
        (Some(4), Some(40))
    );
    assert_eq!(
        (b["out_msgs"].as_u64(), b["out_bytes"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (g["out_msgs"].as_u64(), g["out_bytes"].as_u64()),
        (Some(4), Some(40))
    );
    assert!(a.get("subscriptions_list").is_none(), "only with subs=1");

    // Sort orders, as nats-server 2.9 returns them.
    let order =
        |q: &'static str| async move { names(&get_json(m, &format!("/connz?sort={q}")).await) };
    assert_eq!(order("cid").await, ["alpha", "gamma", "beta"]);
    assert_eq!(order("start").await, ["alpha", "gamma", "beta"]);
    assert_eq!(order("subs").await, ["alpha", "gamma", "beta"]);
    assert_eq!(order("msgs_from").await[0], "beta");
    assert_eq!(order("bytes_from").await[0], "beta");
    assert_eq!(order("msgs_to").await[0], "gamma");
    assert_eq!(order("bytes_to").await[0], "gamma");
    assert_eq!(
        order("uptime").await,
        ["beta", "gamma", "alpha"],
        "shortest first"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    alpha.sub("a.4", None, 4).await;
    alpha.sync().await;
    assert_eq!(
        order("last").await[0],
        "alpha",
        "most recent activity first"
    );
    assert_eq!(
        *order("idle").await.last().unwrap(),
        "alpha",
        "most idle first"
    );
    assert_eq!(order("pending").await.len(), 3);

    // Paging and one cid.
    let p = get_json(m, "/connz?sort=cid&limit=1&offset=1").await;
    assert_eq!(
        (p["num_connections"].as_u64(), p["total"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        (p["offset"].as_u64(), p["limit"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(names(&p), ["gamma"]);
    let p = get_json(m, "/connz?offset=10").await;
    assert_eq!(
        (p["num_connections"].as_u64(), p["total"].as_u64()),
        (Some(0), Some(3))
    );
    let one = get_json(m, &format!("/connz?cid={}", ids[2])).await;
    assert_eq!(names(&one), ["beta"]);
    assert_eq!(one["limit"], 1);

    // Subscription lists.
    let s = get_json(m, "/connz?subs=1").await;
    let list: Vec<&str> = s["connections"][0]["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(list, ["a.1", "a.2", "a.3", "a.4"]);
    assert!(
        s["connections"][2].get("subscriptions_list").is_none(),
        "none: omitted"
    );
    let d = get_json(m, "/connz?subs=detail").await;
    let detail = &d["connections"][1]["subscriptions_list_detail"][0];
    assert_eq!(detail["subject"], "x");
    assert_eq!(detail["qgroup"], "workers");
    assert_eq!(detail["sid"], "7");
    assert_eq!(detail["msgs"], 4);
    assert_eq!(detail["cid"], ids[1]);
    assert!(detail.get("account").is_none());

    // Bad parameters get nats-server's 400 answers.
    for (q, text) in [
        ("sort=bogus", "invalid sorting option: bogus"),
        ("sort=stop", "sort by stop only valid on closed connections"),
        (
            "sort=reason&state=any",
            "sort by reason only valid on closed connections",
        ),
        ("state=weird", "Error decoding state for weird"),
        ("limit=abc", "Error decoding int for 'limit'"),
        ("subs=maybe", "Error decoding boolean for 'subs'"),
        ("cid=x", "Error decoding uint64 for 'cid'"),
    ] {
        let a = get(m, &format!("/connz?{q}")).await;
        assert_eq!(a.status, 400, "{q}");
        assert!(a.body.starts_with(text), "{q}: {}", a.body);
    }
    drop((alpha, beta, gamma_first));
    server.shutdown().await;
}

#[tokio::test]
async fn closed_connections_are_kept_with_their_reason() {
    let server = start().await;
    let m = monitor(&server);
    let addr = server.addr();

    let stays = Nats::connect(addr, "stays").await;
    let mut leaves = Nats::connect(addr, "leaves").await;
    leaves.publish("p", "abc").await;
    leaves.sync().await;
    drop(leaves);
    eventually("the first close", || async {
        (get_json(m, "/connz?state=closed").await["total"] == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut breaks = Nats::connect(addr, "breaks").await;
    breaks.send(b"XYZ\r\n").await;
    let mut sink = Vec::new();
    let _ = timeout(WAIT, breaks.stream.read_to_end(&mut sink)).await;

    let closed = eventually("both closes", || async {
        let c = get_json(m, "/connz?state=closed").await;
        (c["total"] == 2).then_some(c)
    })
    .await;
    assert_eq!(names(&closed), ["leaves", "breaks"]);
    let leaves = &closed["connections"][0];
    assert_eq!(leaves["reason"], "Client Closed");
    assert_eq!(leaves["in_msgs"], 1);
    assert_eq!(leaves["in_bytes"], 3);
    let stop = leaves["stop"].as_str().unwrap();
    assert!(is_rfc3339_utc(stop) && stop >= leaves["start"].as_str().unwrap());
    assert_eq!(closed["connections"][1]["reason"], "Protocol Violation");

    let by_stop = get_json(m, "/connz?state=closed&sort=stop").await;
    assert_eq!(
        names(&by_stop),
        ["breaks", "leaves"],
        "most recent stop first"
    );
    let by_reason = get_json(m, "/connz?state=closed&sort=reason").await;
    assert_eq!(
        names(&by_reason),
        ["leaves", "breaks"],
        "alphabetical reason"
    );

    let open = get_json(m, "/connz").await;
    assert_eq!(names(&open), ["stays"]);
    let any = get_json(m, "/connz?state=any").await;
    assert_eq!(names(&any), ["stays", "leaves", "breaks"]);
    assert_eq!(any["total"], 3);
    let upper = get_json(m, "/connz?state=CLOSED&limit=1").await;
    assert_eq!(names(&upper), ["leaves"]);
    assert_eq!(upper["total"], 2);

    drop(stays);
    server.shutdown().await;
}

#[tokio::test]
async fn subsz_counts_lists_and_tests_subjects() {
    let server = start().await;
    let m = monitor(&server);
    let mut c = Nats::connect(server.addr(), "subs").await;
    c.sub("foo.*", None, 1).await;
    c.sub("foo.>", None, 2).await;
    c.sub("bar", Some("q1"), 3).await;
    c.sub("baz", None, 4).await;
    c.publish("foo.x", "hi").await;
    c.sync().await;
    c.sync().await;

    let stats = get_json(m, "/subsz").await;
    assert_eq!(stats["num_subscriptions"], 4);
    assert!(stats.get("subscriptions_list").is_none());
    assert!(stats["cache_hit_rate"].is_number());
    assert_eq!(get_json(m, "/subscriptionsz").await["num_subscriptions"], 4);

    let all = get_json(m, "/subsz?subs=1").await;
    assert_eq!(all["server_id"], server.id());
    assert_eq!(all["total"], 4);
    assert_eq!(all["limit"], 1024);
    let list = all["subscriptions_list"].as_array().unwrap();
    let subjects: Vec<&str> = list
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["foo.*", "foo.>", "bar", "baz"]);
    assert!(list.iter().all(|s| s["account"] == "$G"));
    assert_eq!(list[2]["qgroup"], "q1");
    assert_eq!(list[0]["msgs"], 1);
    assert_eq!(list[0]["sid"], "1");

    let t = get_json(m, "/subsz?subs=1&test=foo.x").await;
    assert_eq!(t["total"], 2);
    let t = get_json(m, "/subsz?subs=1&test=foo.x.y").await;
    assert_eq!(t["total"], 1);
    assert_eq!(t["subscriptions_list"][0]["subject"], "foo.>");
    let none = get_json(m, "/subsz?subs=1&test=nothing.here").await;
    assert!(
        none.get("total").is_none(),
        "nats-server sends the bare stats then"
    );

    let page = get_json(m, "/subsz?subs=1&limit=1&offset=2").await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["subscriptions_list"].as_array().unwrap().len(), 1);
    assert_eq!(page["subscriptions_list"][0]["subject"], "bar");

    let bad = get(m, "/subsz?subs=1&test=foo.*").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.starts_with("invalid test subject"), "{}", bad.body);

    let v = get_json(m, "/varz").await;
    // Eight requests, one of them to the alias and one answered 400.
    assert_eq!(
        v["http_req_stats"]["/subsz"], 8,
        "/subscriptionsz counts as /subsz"
    );
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn subsz_counts_inserts_removes_and_cached_subjects() {
    let server = start().await;
    let m = monitor(&server);
    let before = get_json(m, "/subsz").await;
    assert_eq!(before["num_inserts"], 0);
    assert_eq!(before["num_cache"], 0);

    let mut c = Nats::connect(server.addr(), "churn").await;
    for sid in 1..=5 {
        c.sub(&format!("s.{sid}"), None, sid).await;
    }
    c.send(b"UNSUB 2\r\nUNSUB 4\r\n").await;
    c.publish("s.1", "hi").await;
    c.publish("s.3", "hi").await;
    c.sync().await;

    let stats = get_json(m, "/subsz").await;
    assert_eq!(stats["num_subscriptions"], 3);
    assert_eq!(stats["num_inserts"], 5);
    assert_eq!(stats["num_removes"], 2);
    // Two subjects, each a miss in the session's cache and then in the sublist's.
    assert_eq!(stats["num_cache"], 2, "{stats}");
    assert_eq!(stats["num_matches"], 2, "{stats}");
    assert_eq!(stats["cache_hit_rate"], 0.0, "{stats}");
    assert_eq!(stats["max_fanout"], 1, "{stats}");
    assert_eq!(stats["avg_fanout"], 1.0, "{stats}");

    // Again from the same session: its own cache answers, the sublist is not asked.
    c.publish("s.1", "again").await;
    c.sync().await;
    assert_eq!(get_json(m, "/subsz").await["num_matches"], 2);
    // From another session: the sublist is asked, and its cache answers.
    let mut other = Nats::connect(server.addr(), "other").await;
    other.sub("s.1", None, 9).await;
    other.publish("s.3", "hi").await;
    other.sync().await;
    let stats = get_json(m, "/subsz").await;
    assert_eq!(stats["num_matches"], 3, "{stats}");
    assert_eq!(stats["cache_hit_rate"], 1.0 / 3.0, "{stats}");
    drop(other);

    drop(c);
    eventually("the closed clients' subscriptions removed", || async {
        let v = get_json(m, "/subsz").await;
        (v["num_removes"] == 6 && v["num_inserts"] == 6).then_some(())
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn routez_healthz_index_and_errors() {
    let server = start().await;
    let m = monitor(&server);

    let r = get_json(m, "/routez").await;
    assert_eq!(r["num_routes"], 0);
    assert_eq!(r["routes"], serde_json::json!([]));
    assert_eq!(r["server_id"], server.id());

    let h = get(m, "/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body, r#"{"status":"ok"}"#);

    let index = get(m, "/").await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    for link in ["varz", "connz", "subsz", "routez", "healthz", "metrics"] {
        assert!(
            index.body.contains(&format!("href=\"./{link}\"")),
            "{link} in {}",
            index.body
        );
    }

    let missing = get(m, "/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, "404 page not found\n");
    assert_eq!(get(m, "/varz/extra").await.status, 404);

    let post = parse_answer(&raw_http(m, "POST /varz HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));

    let head =
        parse_head_answer(&raw_http(m, "HEAD /varz HTTP/1.1\r\nConnection: close\r\n\r\n").await);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 100
    );
    assert!(head.header("Date").unwrap().ends_with(" GMT"));

    let jsonp = get(m, "/varz?callback=show").await;
    assert_eq!(jsonp.header("Content-Type"), Some("application/javascript"));
    assert!(jsonp.body.starts_with("show({") && jsonp.body.ends_with("})"));

    let stats = get_json(m, "/varz").await["http_req_stats"].clone();
    assert_eq!(stats["/routez"], 1);
    assert_eq!(stats["/healthz"], 1);
    assert_eq!(stats["/"], 1);
    assert!(
        stats.get("/nope").is_none(),
        "unknown paths are not counted"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start().await;
    let m = monitor(&server);
    let mut s = TcpStream::connect(m).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /routez HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    timeout(WAIT, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{out}");
    assert_eq!(out.matches(r#"{"status":"ok"}"#).count(), 2);
    assert!(out.contains("\"num_routes\": 0"));
    server.shutdown().await;
}

#[tokio::test]
async fn monitoring_stops_with_the_server_and_is_off_by_default() {
    let plain = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .start()
        .await
        .unwrap();
    assert_eq!(plain.monitor_addr(), None);
    assert_eq!(plain.monitor_url(), None);
    plain.shutdown().await;

    let server = start().await;
    let m = monitor(&server);
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(m).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = timeout(WAIT, idle.read(&mut buf)).await.unwrap().unwrap();
    assert!(n > 0);
    timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown is quick");
    assert!(TcpStream::connect(m).await.is_err(), "monitor port closed");
}
