//! `/varz`: server identity, configuration, process figures and traffic totals.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::{clock, process};
use crate::info::{GO_FIELD, NATTER_VERSION};
use crate::server::Shared;

/// A sub-object nats-server prints as `{}` when the feature is not configured (cluster,
/// gateway, leaf nodes, MQTT, websocket, JetStream): Natter has none of them configured.
#[derive(Debug, Serialize)]
pub(crate) struct Unconfigured {}

/// The `/varz` document, fields in nats-server 2.9's order.
///
/// Units as nats-server: `ping_interval` and `write_deadline` in nanoseconds,
/// `auth_timeout` and `tls_timeout` in (fractional) seconds, `mem` in bytes, `cpu` in
/// percent of one core.
#[derive(Debug, Serialize)]
pub(crate) struct Varz {
    pub(crate) server_id: String,
    pub(crate) server_name: String,
    /// The nats-server protocol level Natter reports (as in INFO).
    pub(crate) version: String,
    pub(crate) proto: u32,
    pub(crate) go: &'static str,
    pub(crate) host: String,
    pub(crate) port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) auth_required: bool,
    pub(crate) max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) max_subscriptions: usize,
    pub(crate) ping_interval: u64,
    pub(crate) ping_max: u32,
    pub(crate) http_host: String,
    pub(crate) http_port: u16,
    pub(crate) http_base_path: &'static str,
    pub(crate) https_port: u16,
    #[serde(serialize_with = "super::go_float")]
    pub(crate) auth_timeout: f64,
    pub(crate) max_control_line: usize,
    pub(crate) max_payload: usize,
    pub(crate) max_pending: usize,
    pub(crate) cluster: Unconfigured,
    pub(crate) gateway: Unconfigured,
    pub(crate) leaf: Unconfigured,
    pub(crate) mqtt: Unconfigured,
    pub(crate) websocket: Unconfigured,
    pub(crate) jetstream: Unconfigured,
    /// No TLS: no handshake timeout applies.
    #[serde(serialize_with = "super::go_float")]
    pub(crate) tls_timeout: f64,
    pub(crate) write_deadline: u64,
    pub(crate) start: String,
    pub(crate) now: String,
    pub(crate) uptime: String,
    pub(crate) mem: u64,
    pub(crate) cores: usize,
    /// Go's scheduler width; for Natter the cores the runtime may use.
    pub(crate) gomaxprocs: usize,
    #[serde(serialize_with = "super::go_float")]
    pub(crate) cpu: f64,
    pub(crate) connections: usize,
    pub(crate) total_connections: u64,
    pub(crate) routes: u64,
    pub(crate) remotes: u64,
    pub(crate) leafnodes: u64,
    pub(crate) in_msgs: u64,
    pub(crate) out_msgs: u64,
    pub(crate) in_bytes: u64,
    pub(crate) out_bytes: u64,
    pub(crate) slow_consumers: u64,
    pub(crate) subscriptions: u64,
    pub(crate) http_req_stats: BTreeMap<&'static str, u64>,
    pub(crate) config_load_time: String,
    /// Natter has no system account; the field is kept (empty) for tools that read it.
    pub(crate) system_account: String,
    /// Natter's own release, beside the protocol level in `version`.
    pub(crate) natter_version: &'static str,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub(crate) fn build(shared: &Shared) -> Varz {
    let opts = shared.options();
    let monitor = shared.monitor();
    let now = SystemTime::now();
    let start = monitor.start();
    let stats = shared.router().stats();
    let cores = process::cores();
    Varz {
        server_id: shared.id().to_string(),
        server_name: shared.name().to_string(),
        version: opts.protocol_version.clone(),
        proto: 1,
        go: GO_FIELD,
        host: opts.host.clone(),
        port: shared.client_addr().port(),
        auth_required: shared.settings().auth.required(),
        max_connections: opts.max_connections,
        max_subscriptions: opts.max_subscriptions,
        ping_interval: opts.ping_interval.as_nanos() as u64,
        ping_max: opts.ping_max,
        http_host: opts.http_host.clone(),
        http_port: shared.monitor_addr().map_or(0, |a| a.port()),
        http_base_path: "",
        https_port: 0,
        auth_timeout: opts.auth_timeout.as_secs_f64(),
        max_control_line: opts.max_control_line,
        max_payload: opts.max_payload,
        max_pending: opts.max_pending,
        cluster: Unconfigured {},
        gateway: Unconfigured {},
        leaf: Unconfigured {},
        mqtt: Unconfigured {},
        websocket: Unconfigured {},
        jetstream: Unconfigured {},
        tls_timeout: 0.0,
        write_deadline: opts.write_deadline.as_nanos() as u64,
        start: clock::rfc3339_nanos(start),
        now: clock::rfc3339_nanos(now),
        uptime: clock::uptime(now.duration_since(start).unwrap_or_default()),
        mem: process::rss_bytes(),
        cores,
        gomaxprocs: cores,
        cpu: monitor.cpu.percent(),
        connections: shared.clients().len(),
        total_connections: stats.total_connections,
        routes: 0,
        remotes: 0,
        leafnodes: 0,
        in_msgs: stats.in_msgs,
        out_msgs: stats.out_msgs,
        in_bytes: stats.in_bytes,
        out_bytes: stats.out_bytes,
        slow_consumers: stats.slow_consumers,
        subscriptions: stats.subscriptions,
        http_req_stats: monitor.request_counts(),
        config_load_time: clock::rfc3339_nanos(*monitor.config_load.lock()),
        system_account: String::new(),
        natter_version: NATTER_VERSION,
    }
}
