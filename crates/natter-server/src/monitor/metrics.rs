//! `/metrics`: the monitoring figures in the Prometheus text exposition format 0.0.4.
//!
//! Metric names and labels are the ones prometheus-nats-exporter publishes when it polls
//! a nats-server's monitoring port (`gnatsd_varz_*` for every number in `/varz`,
//! `gnatsd_connz_*` for connections with per-connection series as its `connz_detailed`
//! mode labels them, `gnatsd_subsz_*`, `gnatsd_routez_*`, `gnatsd_healthz_status`), so
//! Grafana dashboards and alerts written for nats-server + exporter work unchanged when
//! Prometheus scrapes Natter directly. The one deliberate difference: figures that only
//! ever grow (messages, bytes, total connections, slow consumers) are typed `counter`
//! where the exporter types every `/varz` figure `gauge`; queries do not change.
//!
//! As in the exporter, the `gnatsd_connz_*` families hold one summary series per server
//! (label `server_id` only, summed over the listed connections) and one series per
//! connection (labels `server_id`, `cid`, `kind`, `type`, `ip`, `port`, `name`, `lang`,
//! `version`); select `{cid=""}` for the summary. Like the exporter, which reads
//! `/connz` with its default limit, at most the first 1024 connections by cid are listed.

use std::fmt::Write;
use std::time::SystemTime;

use super::connz::{self, ConnzOptions, Row};
use super::http::Response;
use super::{subsz, varz};
use crate::server::Shared;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/varz` figures that only grow.
const COUNTERS: &[&str] = &[
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "total_connections",
    "slow_consumers",
];

/// Help text for the `/varz` figures dashboards use most; others get their field name, as
/// the exporter gives.
const VARZ_HELP: &[(&str, &str)] = &[
    ("connections", "Client connections open now"),
    (
        "total_connections",
        "Client connections accepted since the server started",
    ),
    ("subscriptions", "Subscriptions held now"),
    ("in_msgs", "Messages received from clients"),
    ("out_msgs", "Messages delivered to clients"),
    (
        "in_bytes",
        "Message bytes (headers and payload) received from clients",
    ),
    (
        "out_bytes",
        "Message bytes (headers and payload) delivered to clients",
    ),
    ("slow_consumers", "Clients closed as slow consumers"),
    ("mem", "Resident memory of the server process in bytes"),
    (
        "cpu",
        "CPU use of the server process in percent of one core",
    ),
    ("cores", "CPU cores the server may use"),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Untyped,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
        }
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(u64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(n: u64) -> Self {
        Num::Int(n)
    }
}

impl From<usize> for Num {
    fn from(n: usize) -> Self {
        Num::Int(n as u64)
    }
}

impl From<f64> for Num {
    fn from(f: f64) -> Self {
        Num::Float(f)
    }
}

/// Writes families: HELP and TYPE, then every sample of that family.
struct Exposition {
    out: String,
    server_id: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: Kind) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Num) {
        self.out.push_str(name);
        self.out.push_str("{server_id=\"");
        self.out.push_str(&escape_label(&self.server_id));
        self.out.push('"');
        for (k, v) in labels {
            let _ = write!(self.out, ",{k}=\"{}\"", escape_label(v));
        }
        self.out.push_str("} ");
        match value {
            Num::Int(n) => {
                let _ = write!(self.out, "{n}");
            }
            Num::Float(f) => self.out.push_str(&format_float(f)),
        }
        self.out.push('\n');
    }

    /// A family with the single server-wide sample.
    fn single(&mut self, name: &str, help: &str, kind: Kind, value: Num) {
        self.family(name, help, kind);
        self.sample(name, &[], value);
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f}")
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

pub(crate) fn page(shared: &Shared) -> Response {
    let mut x = Exposition {
        out: String::with_capacity(8 * 1024),
        server_id: shared.id().to_string(),
    };
    write_varz(&mut x, &varz::build(shared));
    write_connz(&mut x, shared);
    write_subsz(&mut x, shared);
    x.single(
        "gnatsd_routez_num_routes",
        "Cluster routes connected",
        Kind::Gauge,
        Num::Int(0),
    );
    x.single(
        "gnatsd_healthz_status",
        "Health probe result: 0 ok, 1 failing",
        Kind::Gauge,
        Num::Int(0),
    );
    Response::new(200, CONTENT_TYPE, x.out)
}

/// Every number in `/varz` under `gnatsd_varz_<field>`, plus the identity strings as
/// `gnatsd_varz_<field>{value="..."} 1`, as the exporter maps them.
fn write_varz(x: &mut Exposition, varz: &varz::Varz) {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(varz) else {
        return;
    };
    for (key, value) in &fields {
        let num = match value {
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(u) => Num::Int(u),
                None => Num::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s)
                if matches!(key.as_str(), "server_id" | "server_name" | "version") =>
            {
                let name = format!("gnatsd_varz_{key}");
                x.family(&name, key, Kind::Gauge);
                x.sample(&name, &[("value", s)], Num::Int(1));
                continue;
            }
            _ => continue,
        };
        let name = format!("gnatsd_varz_{key}");
        let help = VARZ_HELP
            .iter()
            .find(|(k, _)| k == key)
            .map_or(key.as_str(), |(_, h)| h);
        let kind = if COUNTERS.contains(&key.as_str()) {
            Kind::Counter
        } else {
            Kind::Gauge
        };
        x.single(&name, help, kind, num);
    }
}

fn write_connz(x: &mut Exposition, shared: &Shared) {
    let opts = ConnzOptions::exporter_view();
    let now = SystemTime::now();
    let (rows, total) = connz::select(shared, &opts, now);
    let labels: Vec<Vec<(&str, String)>> = rows.iter().map(detail_labels).collect();

    x.family(
        "gnatsd_connz_num_connections",
        "Connections listed (per connection: 1)",
        Kind::Gauge,
    );
    x.sample("gnatsd_connz_num_connections", &[], rows.len().into());
    for l in &labels {
        x.sample("gnatsd_connz_num_connections", &borrow(l), Num::Int(1));
    }
    x.single(
        "gnatsd_connz_total",
        "Connections open",
        Kind::Gauge,
        total.into(),
    );
    x.single(
        "gnatsd_connz_offset",
        "offset",
        Kind::Gauge,
        opts.offset.into(),
    );
    x.single(
        "gnatsd_connz_limit",
        "limit",
        Kind::Gauge,
        opts.limit.into(),
    );

    type Field = fn(&Row, SystemTime) -> u64;
    let per_conn: [(&str, &str, Kind, bool, Field); 11] = [
        (
            "pending_bytes",
            "Bytes waiting to be written to the connection",
            Kind::Gauge,
            true,
            |r, _| r.stats.pending_bytes as u64,
        ),
        (
            "subscriptions",
            "Subscriptions of the connection",
            Kind::Gauge,
            true,
            |r, _| r.stats.subscriptions as u64,
        ),
        (
            "in_bytes",
            "Message bytes received from the connection",
            Kind::Counter,
            true,
            |r, _| r.stats.in_bytes,
        ),
        (
            "out_bytes",
            "Message bytes delivered to the connection",
            Kind::Counter,
            true,
            |r, _| r.stats.out_bytes,
        ),
        (
            "in_msgs",
            "Messages received from the connection",
            Kind::Counter,
            true,
            |r, _| r.stats.in_msgs,
        ),
        (
            "out_msgs",
            "Messages delivered to the connection",
            Kind::Counter,
            true,
            |r, _| r.stats.out_msgs,
        ),
        (
            "start",
            "epoch time at which the connection was started",
            Kind::Untyped,
            false,
            |r, _| millis(r.stats.start),
        ),
        (
            "last_activity",
            "epoch time at which the last activity was registered",
            Kind::Untyped,
            false,
            |r, _| millis(r.stats.last_activity),
        ),
        (
            "rtt",
            "response time latency in microseconds",
            Kind::Gauge,
            false,
            |_, _| 0,
        ),
        (
            "uptime",
            "uptime duration in milliseconds",
            Kind::Untyped,
            false,
            |r, now| r.uptime(now).as_millis() as u64,
        ),
        (
            "idle",
            "idle time duration in milliseconds",
            Kind::Gauge,
            false,
            |r, now| r.idle(now).as_millis() as u64,
        ),
    ];
    for (field, help, kind, summed, value) in per_conn {
        let name = format!("gnatsd_connz_{field}");
        x.family(&name, help, kind);
        if summed {
            let sum: u64 = rows.iter().map(|r| value(r, now)).sum();
            x.sample(&name, &[], sum.into());
        }
        for (r, l) in rows.iter().zip(&labels) {
            x.sample(&name, &borrow(l), value(r, now).into());
        }
    }
}

fn detail_labels(r: &Row) -> Vec<(&'static str, String)> {
    let s = &r.stats;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        ("cid", s.cid.to_string()),
        ("kind", "Client".to_string()),
        ("type", "nats".to_string()),
        ("ip", s.host.clone()),
        ("port", s.port.to_string()),
        ("name", opt(&s.name)),
        ("lang", opt(&s.lang)),
        ("version", opt(&s.version)),
    ]
}

fn borrow<'a>(labels: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn write_subsz(x: &mut Exposition, shared: &Shared) {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(subsz::stats(shared)) else {
        return;
    };
    for (key, value) in &fields {
        let Some(n) = value.as_number() else { continue };
        let num = n
            .as_u64()
            .map_or(Num::Float(n.as_f64().unwrap_or(0.0)), Num::Int);
        x.single(&format!("gnatsd_subsz_{key}"), key, Kind::Gauge, num);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn floats_use_prometheus_spelling() {
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
