//! `/metrics` is strictly valid Prometheus text exposition (format 0.0.4), uses the
//! metric names prometheus-nats-exporter publishes, and its figures follow the traffic.

mod monitor_common;

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use monitor_common::{get, monitor, start, Nats, WAIT};
use tokio::time::timeout;

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the one sample of `name` whose labels include all of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0].value
    }

    /// The server-wide sample (no per-connection labels).
    fn total(&self, name: &str) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name && !s.labels.contains_key("cid"))
            .collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0].value
    }
}

fn valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with("__")
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v.parse::<f64>().map_err(|_| format!("bad value {v:?}")),
    }
}

/// `{a="x",b="y"}` -> labels, and the rest of the line after `}`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("no {")?;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("unquoted label value")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("raw newline in label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or }".into());
        }
    }
}

/// Parses the exposition format strictly; any deviation is an error naming the line.
fn check_exposition(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    let mut x = Exposition::default();
    let mut helps = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    for (no, line) in text.lines().enumerate() {
        let err = |e: String| format!("line {}: {e}: {line:?}", no + 1);
        if line.is_empty() {
            return Err(err("empty line".into()));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest
                .split_once(' ')
                .ok_or_else(|| err("bare comment".into()))?;
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            if !valid_metric_name(name) {
                return Err(err("bad metric name".into()));
            }
            if finished.contains(name)
                || current.as_deref() == Some(name)
                    && x.samples.last().is_some_and(|s| s.name == name)
            {
                return Err(err("metadata after samples".into()));
            }
            if current.as_deref() != Some(name) {
                if let Some(c) = current.take() {
                    finished.insert(c);
                }
                current = Some(name.to_string());
            }
            match kw {
                "HELP" => {
                    if !helps.insert(name.to_string()) {
                        return Err(err("second HELP".into()));
                    }
                    if arg.is_empty() {
                        return Err(err("empty HELP".into()));
                    }
                }
                "TYPE" => {
                    if !["counter", "gauge", "untyped", "histogram", "summary"].contains(&arg) {
                        return Err(err("unknown type".into()));
                    }
                    if x.types.insert(name.to_string(), arg.to_string()).is_some() {
                        return Err(err("second TYPE".into()));
                    }
                }
                _ => return Err(err("comment that is not HELP or TYPE".into())),
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(err("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(err)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("no space before the value".into()))?;
        if value.contains(' ') {
            return Err(err("timestamps or trailing text".into()));
        }
        let value = parse_value(value).map_err(err)?;
        if current.as_deref() != Some(name) {
            return Err(err(
                "sample without HELP and TYPE right before its family".into()
            ));
        }
        if !helps.contains(name) || !x.types.contains_key(name) {
            return Err(err("sample before its HELP and TYPE".into()));
        }
        let kind = &x.types[name];
        if kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(err("negative counter".into()));
        }
        if kind != "histogram" && kind != "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                if name.ends_with(suffix) {
                    return Err(err(format!("{kind} named like a histogram part")));
                }
            }
        }
        if !labels.contains_key("server_id") {
            return Err(err("no server_id label".into()));
        }
        let key = format!("{name}{labels:?}");
        if !series.insert(key) {
            return Err(err("duplicate series".into()));
        }
        x.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(x)
}

async fn scrape(m: std::net::SocketAddr) -> Exposition {
    let a = get(m, "/metrics").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    check_exposition(&a.body).unwrap_or_else(|e| panic!("{e}\n{}", a.body))
}

#[test]
fn the_checker_rejects_broken_expositions() {
    let ok = "# HELP a_b x\n# TYPE a_b gauge\na_b{server_id=\"s\",n=\"q\\\"\\\\\\n\"} 1\n";
    let x = check_exposition(ok).unwrap();
    assert_eq!(x.samples[0].labels["n"], "q\"\\\n");
    for bad in [
        "a_b{server_id=\"s\"} 1\n",                               // no HELP/TYPE
        "# HELP a_b x\n# TYPE a_b gauge\na_b{server_id=\"s\"} 1", // no final newline
        "# HELP a_b x\n# TYPE a_b gauge\na_b{server_id=\"s\"} 1\na_b{server_id=\"s\"} 2\n", // duplicate
        "# HELP a_b x\n# TYPE a_b gauge\na_b{server_id=\"s\",x=\"\\q\"} 1\n", // bad escape
        "# HELP a_b x\n# TYPE a_b counter\na_b{server_id=\"s\"} -1\n",        // negative counter
        "# HELP 1ab x\n# TYPE 1ab gauge\n1ab{server_id=\"s\"} 1\n",           // bad name
        "# HELP a_b x\n# TYPE a_b gauge\na_b{server_id=\"s\"} one\n",         // bad value
        "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na{server_id=\"s\"} 1\n", // out of its family
        "# HELP a_count x\n# TYPE a_count counter\na_count{server_id=\"s\"} 1\n",
        "# HELP a_b x\n# TYPE a_b gauge\na_b 1\n", // no server_id
    ] {
        assert!(check_exposition(bad).is_err(), "accepted: {bad:?}");
    }
}

#[tokio::test]
async fn metrics_are_valid_and_follow_traffic() {
    let server = start().await;
    let m = monitor(&server);
    let id = server.id().to_string();

    let before = scrape(m).await;
    assert_eq!(before.total("gnatsd_varz_connections"), 0.0);
    assert_eq!(before.total("gnatsd_varz_in_msgs"), 0.0);
    assert_eq!(before.types["gnatsd_varz_in_msgs"], "counter");
    assert_eq!(before.types["gnatsd_varz_connections"], "gauge");
    assert_eq!(before.types["gnatsd_connz_pending_bytes"], "gauge");
    assert_eq!(before.types["gnatsd_connz_out_msgs"], "counter");
    assert!(before.samples.iter().all(|s| s.labels["server_id"] == id));
    assert_eq!(
        before.value("gnatsd_varz_version", &[]),
        1.0,
        "identity strings become labels"
    );
    assert!(before.total("gnatsd_varz_mem") > 1e6);
    assert_eq!(before.total("gnatsd_healthz_status"), 0.0);
    assert_eq!(before.total("gnatsd_routez_num_routes"), 0.0);

    // A publisher with an awkward name (escaping) and an async-nats subscriber.
    let mut publisher = Nats::connect(server.addr(), r#"pub \"quoted\" \\ back\nslash"#).await;
    let subscriber = async_nats::connect(server.client_url()).await.unwrap();
    let mut sub = subscriber.subscribe("m.>").await.unwrap();
    subscriber.flush().await.unwrap();
    for i in 0..10 {
        publisher.publish(&format!("m.{i}"), "1234567").await;
    }
    publisher.sync().await;
    for _ in 0..10 {
        timeout(WAIT, sub.next()).await.unwrap().unwrap();
    }

    let after = scrape(m).await;
    assert_eq!(after.total("gnatsd_varz_connections"), 2.0);
    assert_eq!(after.total("gnatsd_varz_total_connections"), 2.0);
    assert_eq!(after.total("gnatsd_varz_subscriptions"), 1.0);
    assert_eq!(after.total("gnatsd_varz_in_msgs"), 10.0);
    assert_eq!(after.total("gnatsd_varz_in_bytes"), 70.0);
    assert_eq!(after.total("gnatsd_varz_out_msgs"), 10.0);
    assert_eq!(after.total("gnatsd_varz_out_bytes"), 70.0);
    assert_eq!(after.total("gnatsd_varz_slow_consumers"), 0.0);
    assert_eq!(after.total("gnatsd_connz_num_connections"), 2.0);
    assert_eq!(after.total("gnatsd_connz_in_msgs"), 10.0);
    assert_eq!(after.total("gnatsd_subsz_num_subscriptions"), 1.0);

    let name = "pub \"quoted\" \\ back\nslash";
    let conn = after
        .samples
        .iter()
        .find(|s| {
            s.name == "gnatsd_connz_in_msgs"
                && s.labels.get("name").map(String::as_str) == Some(name)
        })
        .expect("per-connection series with the unescaped name");
    assert_eq!(conn.value, 10.0);
    let cid = conn.labels["cid"].clone();
    assert_eq!(conn.labels["lang"], "rawtest");
    assert_eq!(conn.labels["ip"], "127.0.0.1");
    let by_cid = |metric: &str| after.value(metric, &[("cid", cid.as_str())]);
    assert_eq!(by_cid("gnatsd_connz_in_bytes"), 70.0);
    assert_eq!(by_cid("gnatsd_connz_out_msgs"), 0.0);
    assert_eq!(by_cid("gnatsd_connz_pending_bytes"), 0.0);
    assert_eq!(by_cid("gnatsd_connz_num_connections"), 1.0);
    let sub_cid = after
        .samples
        .iter()
        .find(|s| {
            s.name == "gnatsd_connz_out_msgs" && s.value == 10.0 && s.labels.contains_key("cid")
        })
        .expect("the subscriber's series");
    assert_eq!(
        after.value("gnatsd_connz_out_bytes", &[("cid", &sub_cid.labels["cid"])]),
        70.0
    );
    assert!(by_cid("gnatsd_connz_start") > 1.7e12, "epoch milliseconds");

    let counted = scrape(m).await;
    assert_eq!(counted.value("gnatsd_varz_in_msgs", &[]), 10.0);
    drop((publisher, sub, subscriber));
    server.shutdown().await;
}
