//! The monitoring JSON has every field nats-server 2.9.10 emits, with the same JSON type,
//! so tools written for nats-server read Natter unchanged.
//!
//! The reference documents in `tests/fixtures/monitor/` were captured from the real
//! nats-server (see the README there); the same client scenario is replayed against
//! Natter here and the key sets are compared recursively.

mod monitor_common;

use std::path::Path;

use monitor_common::{eventually, get_json, monitor, start, Nats};
use natter_server::Server;
use serde_json::{Map, Value};

/// Fields nats-server has that Natter deliberately leaves out, as `file: path`, with why.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// Objects whose keys are data rather than field names (request paths): only the type of
/// their values is compared.
const MAPS: &[&str] = &["http_req_stats"];

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/monitor")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The union of the elements' fields: optional fields (`qgroup`, `name`...) show up in
/// some elements only, so arrays are compared by the union of what their elements carry.
fn merged(items: &[Value]) -> Option<Value> {
    let mut out = Map::new();
    let mut any_object = false;
    for item in items {
        match item {
            Value::Object(o) => {
                any_object = true;
                for (k, v) in o {
                    let slot = out.entry(k.clone()).or_insert(Value::Null);
                    *slot = match (slot.take(), v) {
                        (Value::Array(mut a), Value::Array(b)) => {
                            a.extend(b.iter().cloned());
                            Value::Array(a)
                        }
                        (Value::Null, v) => v.clone(),
                        (old, _) => old,
                    };
                }
            }
            other => return Some(other.clone()),
        }
    }
    if any_object {
        Some(Value::Object(out))
    } else {
        items.first().cloned()
    }
}

fn compare(file: &str, path: &str, nats: &Value, ours: &Value, problems: &mut Vec<String>) {
    if EXCEPTIONS.iter().any(|(f, p, _)| *f == file && *p == path) {
        return;
    }
    if kind(nats) != kind(ours) {
        problems.push(format!(
            "{file}: {path}: nats-server has {}, natter has {}",
            kind(nats),
            kind(ours)
        ));
        return;
    }
    match (nats, ours) {
        (Value::Object(n), Value::Object(o)) if MAPS.contains(&path) => {
            let want = n.values().next().map(kind);
            for (k, v) in o {
                if want.is_some_and(|w| w != kind(v)) {
                    problems.push(format!("{file}: {path}.{k}: not a {}", want.unwrap()));
                }
            }
        }
        (Value::Object(n), Value::Object(o)) => {
            for (k, nv) in n {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if EXCEPTIONS.iter().any(|(f, e, _)| *f == file && *e == p) {
                    continue;
                }
                match o.get(k) {
                    Some(ov) => compare(file, &p, nv, ov, problems),
                    None => problems.push(format!("{file}: {p}: missing in natter")),
                }
            }
        }
        (Value::Array(n), Value::Array(o)) => {
            let p = format!("{path}[]");
            match (merged(n), merged(o)) {
                (Some(nv), Some(ov)) => compare(file, &p, &nv, &ov, problems),
                (Some(_), None) => problems.push(format!("{file}: {p}: natter's list is empty")),
                _ => {}
            }
        }
        _ => {}
    }
}

fn check(file: &str, ours: &Value, problems: &mut Vec<String>) {
    compare(file, "", &fixture(file), ours, problems);
}

#[test]
fn exceptions_name_real_fixture_fields() {
    // An exception for a field nats-server does not send would hide nothing.
    for (file, path, why) in EXCEPTIONS {
        assert!(!why.is_empty());
        let mut v = fixture(file);
        for part in path.split('.') {
            v = match part.strip_suffix("[]") {
                Some(key) => merged(v[key].as_array().unwrap()).unwrap(),
                None => v[part].clone(),
            };
        }
        assert!(!v.is_null(), "{file}: {path} is not in the fixture");
    }
}

#[tokio::test]
async fn json_fields_match_nats_server() {
    let server = start().await;
    let m = monitor(&server);
    let addr = server.addr();

    // The scenario the fixtures were captured with.
    let mut a = Nats::connect(addr, "sub-a").await;
    a.sub("foo.*", None, 1).await;
    a.sub("bar", Some("q1"), 2).await;
    a.sync().await;
    let mut b = Nats::connect(addr, "pub-b").await;
    for _ in 0..5 {
        b.publish("foo.x", "hello").await;
    }
    b.publish("bar", "abc").await;
    b.sync().await;
    let mut c = Nats::connect(addr, "gone-c").await;
    c.sub("baz", None, 1).await;
    c.sync().await;
    drop(c);
    eventually("the closed connection", || async {
        let v = get_json(m, "/connz?state=closed").await;
        (v["num_connections"] == 1).then_some(())
    })
    .await;

    let mut problems = Vec::new();
    check("varz.json", &get_json(m, "/varz").await, &mut problems);
    check(
        "connz_subs.json",
        &get_json(m, "/connz?subs=1").await,
        &mut problems,
    );
    check(
        "connz_subs_detail.json",
        &get_json(m, "/connz?subs=detail").await,
        &mut problems,
    );
    check(
        "connz_closed.json",
        &get_json(m, "/connz?state=closed&subs=1").await,
        &mut problems,
    );
    check("subsz.json", &get_json(m, "/subsz").await, &mut problems);
    check(
        "subsz_subs.json",
        &get_json(m, "/subsz?subs=1").await,
        &mut problems,
    );
    check(
        "subsz_test.json",
        &get_json(m, "/subsz?subs=1&test=foo.x").await,
        &mut problems,
    );
    check("routez.json", &get_json(m, "/routez").await, &mut problems);
    check(
        "healthz.json",
        &get_json(m, "/healthz").await,
        &mut problems,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    drop((a, b));
    server.shutdown().await;
}

#[tokio::test]
async fn auth_fields_match_nats_server() {
    let server = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .http_port(0)
        .user("bob", "secret")
        .start()
        .await
        .unwrap();
    let m = monitor(&server);
    let mut c =
        Nats::connect_with(server.addr(), "authd", r#","user":"bob","pass":"secret""#).await;
    c.sub("x", None, 1).await;
    c.sync().await;

    let mut problems = Vec::new();
    let varz = get_json(m, "/varz").await;
    assert_eq!(varz["auth_required"], true);
    check("varz_auth.json", &varz, &mut problems);
    let connz = get_json(m, "/connz?auth=1").await;
    assert_eq!(connz["connections"][0]["authorized_user"], "bob");
    check("connz_auth.json", &connz, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let plain = get_json(m, "/connz").await;
    assert!(plain["connections"][0].get("authorized_user").is_none());
    drop(c);
    // nats-server keeps the user of a closed connection too.
    let closed = eventually("the closed connection", || async {
        let v = get_json(m, "/connz?state=closed&auth=1").await;
        (v["num_connections"] == 1).then_some(v)
    })
    .await;
    assert_eq!(closed["connections"][0]["authorized_user"], "bob");
    server.shutdown().await;
}

#[test]
fn the_comparison_catches_a_missing_or_retyped_field() {
    // Guard against a comparison that passes everything.
    let nats = serde_json::json!({"a": 1, "b": {"c": "x"}, "l": [{"d": 1}, {"e": true}]});
    let mut problems = Vec::new();
    compare(
        "t",
        "",
        &nats,
        &serde_json::json!({"a": 1, "b": {"c": 2}, "l": [{"d": 1}]}),
        &mut problems,
    );
    assert_eq!(
        problems,
        vec![
            "t: b.c: nats-server has string, natter has number",
            "t: l[].e: missing in natter"
        ]
    );
}
