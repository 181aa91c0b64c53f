//! `/connz`: client connections, open and recently closed, sorted and paged.
//!
//! Query parameters as nats-server 2.9: `sort`, `subs` (bool or `detail`), `auth`,
//! `offset`, `limit` (default 1024), `cid`, `state` (`open`, `closed`, `any`) and `acc`.
//! Sort orders follow what nats-server 2.9.10 returns: `cid` and `start` ascending,
//! `uptime` shortest first, `reason` alphabetical, every other key largest (or most
//! recent) first; ties keep cid order.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use natter_router::{Client, ClientKind, ClientStats, GLOBAL_ACCOUNT};
use serde::Serialize;

use super::http::Query;
use super::{clock, page, paging, parse_bool, sorted_subscriptions, ClosedConn, SubDetail};
use crate::server::Shared;

const DEFAULT_LIMIT: usize = 1024;

/// The `/connz` document.
#[derive(Debug, Serialize)]
pub(crate) struct Connz {
    server_id: String,
    now: String,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    connections: Vec<ConnInfo>,
}

/// One connection, fields in nats-server's order; empty optional ones are left out as
/// nats-server does.
#[derive(Debug, Serialize)]
pub(crate) struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    conn_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// Round trip of the last server PING, `0s` until one was answered.
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorized_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortBy {
    Cid,
    Start,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
}

impl SortBy {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cid" => SortBy::Cid,
            "start" => SortBy::Start,
            "subs" => SortBy::Subs,
            "pending" => SortBy::Pending,
            "msgs_to" => SortBy::MsgsTo,
            "msgs_from" => SortBy::MsgsFrom,
            "bytes_to" => SortBy::BytesTo,
            "bytes_from" => SortBy::BytesFrom,
            "last" => SortBy::Last,
            "idle" => SortBy::Idle,
            "uptime" => SortBy::Uptime,
            "stop" => SortBy::Stop,
            "reason" => SortBy::Reason,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    Open,
    Closed,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubsDetail {
    None,
    List,
    Detail,
}

/// Parsed query parameters.
#[derive(Debug, Clone)]
pub(crate) struct ConnzOptions {
    pub(crate) sort: SortBy,
    subs: SubsDetail,
    auth: bool,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    pub(crate) cid: Option<u64>,
    pub(crate) state: ConnState,
    account: Option<String>,
}

impl ConnzOptions {
    /// What a plain `GET /connz` selects (open connections by cid, the default limit),
    /// which is what prometheus-nats-exporter reads; `/metrics` shows the same.
    pub(crate) fn exporter_view() -> Self {
        ConnzOptions {
            sort: SortBy::Cid,
            subs: SubsDetail::None,
            auth: false,
            offset: 0,
            limit: DEFAULT_LIMIT,
            cid: None,
            state: ConnState::Open,
            account: None,
        }
    }

    /// The request's parameters, or the 400 text nats-server answers with.
    pub(crate) fn parse(q: &Query) -> Result<Self, String> {
        let subs = match q.get("subs") {
            Some("detail") => SubsDetail::Detail,
            v => {
                if parse_bool("subs", v)? {
                    SubsDetail::List
                } else {
                    SubsDetail::None
                }
            }
        };
        let auth = parse_bool("auth", q.get("auth"))?;
        let state = match q.get("state").map(str::to_ascii_lowercase).as_deref() {
            None | Some("open") => ConnState::Open,
            Some("closed") => ConnState::Closed,
            Some("any" | "all") => ConnState::Any,
            Some(_) => {
                return Err(format!(
                    "Error decoding state for {}",
                    q.get("state").unwrap_or_default()
                ))
            }
        };
        let sort = match q.get("sort") {
            None => SortBy::Cid,
            Some(s) => SortBy::parse(s).ok_or_else(|| format!("invalid sorting option: {s}"))?,
        };
        if state != ConnState::Closed {
            match sort {
                SortBy::Stop => return Err("sort by stop only valid on closed connections".into()),
                SortBy::Reason => {
                    return Err("sort by reason only valid on closed connections".into())
                }
                _ => {}
            }
        }
        let cid = match q.get("cid") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                format!(
                    "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"{v}\": invalid syntax"
                )
            })?),
        };
        let (offset, mut limit) = paging(q, DEFAULT_LIMIT)?;
        if cid.is_some() {
            limit = 1;
        }
        Ok(ConnzOptions {
            sort,
            subs,
            auth,
            offset,
            limit,
            cid,
            state,
            account: q.get("acc").map(str::to_string),
        })
    }
}

/// One connection before it is turned into JSON.
pub(crate) struct Row {
    pub(crate) stats: ClientStats,
    /// Set for open connections, whose subscriptions can still be listed.
    client: Option<Arc<Client>>,
    closed: Option<Arc<ClosedConn>>,
}

impl Row {
    fn stop(&self) -> Option<SystemTime> {
        self.closed.as_ref().map(|c| c.stop)
    }

    /// The instant `uptime` and `idle` are measured to: now, or when it closed.
    fn end(&self, now: SystemTime) -> SystemTime {
        self.stop().unwrap_or(now)
    }

    pub(crate) fn uptime(&self, now: SystemTime) -> Duration {
        since(self.end(now), self.stats.start)
    }

    pub(crate) fn idle(&self, now: SystemTime) -> Duration {
        since(self.end(now), self.stats.last_activity)
    }
}

fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

/// The connections a request selects, sorted and paged, with the total before paging.
pub(crate) fn select(shared: &Shared, opts: &ConnzOptions, now: SystemTime) -> (Vec<Row>, usize) {
    let mut rows = Vec::new();
    if opts.state != ConnState::Closed {
        rows.extend(
            shared
                .clients()
                .into_iter()
                .filter(|c| c.kind() == ClientKind::Client)
                .map(|c| Row {
                    stats: c.stats(),
                    client: Some(c),
                    closed: None,
                }),
        );
    }
    if opts.state != ConnState::Open {
        rows.extend(shared.monitor().closed().into_iter().map(|c| Row {
            stats: c.stats.clone(),
            client: None,
            closed: Some(c),
        }));
    }
    if let Some(acc) = &opts.account {
        rows.retain(|r| *r.stats.account == **acc);
    }
    // nats-server reports the size of the whole state set as the total even when one cid
    // is asked for.
    let total = rows.len();
    if let Some(cid) = opts.cid {
        rows.retain(|r| r.stats.cid == cid);
        return (rows, total);
    }
    sort(&mut rows, opts.sort, now);
    (page(rows, opts.offset, opts.limit), total)
}

fn sort(rows: &mut [Row], by: SortBy, now: SystemTime) {
    // Stable sorts over cid order, so ties stay in cid order.
    rows.sort_by_key(|r| r.stats.cid);
    match by {
        SortBy::Cid => {}
        SortBy::Start => rows.sort_by_key(|r| r.stats.start),
        SortBy::Uptime => rows.sort_by_key(|r| r.uptime(now)),
        SortBy::Reason => rows.sort_by_key(reason),
        _ => rows.sort_by_key(|r| Reverse(descending_key(r, by, now))),
    }
}

/// The figure the largest-first orders compare.
fn descending_key(r: &Row, by: SortBy, now: SystemTime) -> u128 {
    let nanos = |t: SystemTime| since(t, SystemTime::UNIX_EPOCH).as_nanos();
    let s = &r.stats;
    match by {
        SortBy::Subs => s.subscriptions as u128,
        SortBy::Pending => s.pending_bytes as u128,
        SortBy::MsgsTo => s.out_msgs.into(),
        SortBy::MsgsFrom => s.in_msgs.into(),
        SortBy::BytesTo => s.out_bytes.into(),
        SortBy::BytesFrom => s.in_bytes.into(),
        SortBy::Last => nanos(s.last_activity),
        SortBy::Idle => r.idle(now).as_nanos(),
        SortBy::Stop => r.stop().map_or(0, nanos),
        SortBy::Cid | SortBy::Start | SortBy::Uptime | SortBy::Reason => 0,
    }
}

fn rtt(row: &Row) -> String {
    let d = match (&row.client, &row.closed) {
        (Some(c), _) => c.rtt(),
        (None, Some(closed)) => closed.rtt,
        (None, None) => Duration::ZERO,
    };
    rtt_text(d)
}

/// The round trip as nats-server prints it: between a microsecond and a millisecond it
/// is truncated to whole microseconds.
fn rtt_text(d: Duration) -> String {
    let d = if d > Duration::from_micros(1) && d < Duration::from_millis(1) {
        Duration::from_micros(d.as_micros() as u64)
    } else {
        d
    };
    clock::go_duration(d)
}

/// Who the connection authenticated as, kept past its close as nats-server does.
fn authorized_user(r: &Row) -> Option<String> {
    match (&r.client, &r.closed) {
        (Some(c), _) => c.authorized_user(),
        (None, Some(closed)) => closed.authorized_user.clone(),
        (None, None) => None,
    }
}

fn reason(r: &Row) -> &'static str {
    r.closed.as_ref().map_or("", |c| c.reason)
}

pub(crate) fn build(shared: &Shared, q: &Query) -> Result<Connz, String> {
    let opts = ConnzOptions::parse(q)?;
    let now = SystemTime::now();
    let (rows, total) = select(shared, &opts, now);
    let connections: Vec<ConnInfo> = rows.iter().map(|r| conn_info(r, &opts, now)).collect();
    Ok(Connz {
        server_id: shared.id().to_string(),
        now: clock::rfc3339_nanos(now),
        num_connections: connections.len(),
        total,
        offset: opts.offset,
        limit: opts.limit,
        connections,
    })
}

fn conn_info(row: &Row, opts: &ConnzOptions, now: SystemTime) -> ConnInfo {
    let s = &row.stats;
    let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let subs = match (&row.client, &row.closed, opts.subs) {
        (_, _, SubsDetail::None) => Vec::new(),
        (Some(c), _, _) => sorted_subscriptions(c),
        (None, Some(closed), _) => closed.subs.clone(),
        (None, None, _) => Vec::new(),
    };
    // nats-server names the account in the kept detail of a closed connection.
    let detail_account = row.closed.as_ref().map(|_| &*s.account);
    let (list, detail) = match opts.subs {
        SubsDetail::None => (Vec::new(), Vec::new()),
        SubsDetail::List => (
            subs.iter()
                .map(|sub| String::from_utf8_lossy(&sub.subject).into_owned())
                .collect(),
            Vec::new(),
        ),
        SubsDetail::Detail => (
            Vec::new(),
            subs.iter()
                .map(|sub| SubDetail::new(sub, s.cid, detail_account))
                .collect(),
        ),
    };
    ConnInfo {
        cid: s.cid,
        kind: "Client",
        conn_type: "nats",
        ip: s.host.clone(),
        port: s.port,
        start: clock::rfc3339_nanos(s.start),
        last_activity: clock::rfc3339_nanos(s.last_activity),
        stop: row.stop().map(clock::rfc3339_nanos),
        reason: row.closed.as_ref().map(|c| c.reason),
        rtt: rtt(row),
        uptime: clock::uptime(row.uptime(now)),
        idle: clock::uptime(row.idle(now)),
        pending_bytes: s.pending_bytes,
        in_msgs: s.in_msgs,
        out_msgs: s.out_msgs,
        in_bytes: s.in_bytes,
        out_bytes: s.out_bytes,
        subscriptions: s.subscriptions,
        name: nonempty(&s.name),
        lang: nonempty(&s.lang),
        version: nonempty(&s.version),
        authorized_user: opts.auth.then(|| authorized_user(row)).flatten(),
        account: (opts.auth && *s.account != *GLOBAL_ACCOUNT).then(|| s.account.to_string()),
        subscriptions_list: list,
        subscriptions_list_detail: detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_prints_like_nats_server() {
        assert_eq!(rtt_text(Duration::ZERO), "0s");
        assert_eq!(rtt_text(Duration::from_nanos(1)), "1ns");
        assert_eq!(rtt_text(Duration::from_nanos(1_000)), "1µs");
        assert_eq!(rtt_text(Duration::from_nanos(314_159)), "314µs");
        assert_eq!(rtt_text(Duration::from_nanos(999_999)), "999µs");
        assert_eq!(rtt_text(Duration::from_nanos(505_662_119)), "505.662119ms");
        assert_eq!(
            rtt_text(Duration::from_nanos(1_500_000_001)),
            "1.500000001s"
        );
    }
}
