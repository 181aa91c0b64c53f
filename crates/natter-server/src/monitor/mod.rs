//! The monitoring port: nats-server's HTTP endpoints (`/varz`, `/connz`, `/subsz`,
//! `/routez`, `/healthz`, `/`) with the same JSON field names, types and units, plus
//! `/metrics` in the Prometheus text format.
//!
//! Everything is computed when a request comes in, from counters the router already keeps
//! as relaxed atomics; nothing here runs on the publish path. The only bookkeeping outside
//! requests is a bounded ring of recently closed connections, filled when a connection
//! ends.

pub(crate) mod clock;
mod connz;
mod healthz;
pub(crate) mod http;
mod index;
mod metrics;
mod process;
mod routez;
mod subsz;
mod varz;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use natter_router::{Client, ClientKind, ClientStats, CloseReason, SubscriptionInfo};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use crate::server::{Shared, State};
use http::{HttpLimits, Phase, Request, Response};

/// Closed connections kept for `/connz?state=closed` (nats-server's `max_closed_clients`
/// default).
const MAX_CLOSED: usize = 10_000;

/// Monitoring connections served at once, so a misbehaving scraper cannot exhaust the
/// server's file descriptors. At the cap a new connection takes the place of the one that
/// has waited longest for request bytes; it is refused only when every slot is busy
/// answering.
const MAX_HTTP_CONNECTIONS: usize = 256;

/// Monitoring bookkeeping held by the server.
pub(crate) struct MonitorState {
    start: SystemTime,
    config_load: Mutex<SystemTime>,
    requests: Mutex<BTreeMap<&'static str, u64>>,
    closed: Mutex<VecDeque<Arc<ClosedConn>>>,
    cpu: process::CpuSampler,
    http: Mutex<HttpConns>,
}

/// The open monitoring connections and what each is doing.
#[derive(Default)]
struct HttpConns {
    next_id: u64,
    open: HashMap<u64, HttpConn>,
}

struct HttpConn {
    phase: Phase,
    /// When `phase` began.
    since: Instant,
    /// Wakes the connection's task when it was chosen to make room.
    evict: Arc<Notify>,
}

impl HttpConns {
    /// A slot for a new connection, making room if the cap is reached. Returns the
    /// connection's id and what wakes it if it is evicted later; None when every slot is
    /// answering a request.
    fn admit(&mut self, max: usize, now: Instant) -> Option<(u64, Arc<Notify>)> {
        if self.open.len() >= max {
            // Idle sockets go first, longest idle first; then heads that have been
            // trickling in longest, since a well-behaved client sends its head at once.
            // A connection answering a request is never cut off mid-response.
            let victim = self
                .open
                .iter()
                .filter(|(_, c)| c.phase != Phase::Busy)
                .min_by_key(|(_, c)| (c.phase == Phase::Reading, c.since))
                .map(|(&id, _)| id)?;
            if let Some(gone) = self.open.remove(&victim) {
                gone.evict.notify_one();
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let evict = Arc::new(Notify::new());
        self.open.insert(
            id,
            HttpConn {
                phase: Phase::Idle,
                since: now,
                evict: evict.clone(),
            },
        );
        Some((id, evict))
    }

    /// Records a phase change; false when the connection was evicted and must end.
    /// Deciding under the same lock as `admit` means a connection that became busy can no
    /// longer be chosen, and one that was chosen never starts answering.
    fn enter(&mut self, id: u64, phase: Phase, now: Instant) -> bool {
        match self.open.get_mut(&id) {
            Some(c) => {
                c.phase = phase;
                c.since = now;
                true
            }
            None => false,
        }
    }

    fn release(&mut self, id: u64) {
        self.open.remove(&id);
    }
}

/// A connection that ended, as `/connz?state=closed` shows it.
pub(crate) struct ClosedConn {
    stats: ClientStats,
    stop: SystemTime,
    reason: &'static str,
    rtt: Duration,
    authorized_user: Option<String>,
    /// What it held when it closed, in [`sorted_subscriptions`] order.
    subs: Vec<SubscriptionInfo>,
}

impl MonitorState {
    pub(crate) fn new() -> Self {
        let now = SystemTime::now();
        MonitorState {
            start: now,
            config_load: Mutex::new(now),
            requests: Mutex::new(BTreeMap::new()),
            closed: Mutex::new(VecDeque::new()),
            cpu: process::CpuSampler::new(),
            http: Mutex::new(HttpConns::default()),
        }
    }

    /// When the server started (`/varz` `start`).
    pub(crate) fn start(&self) -> SystemTime {
        self.start
    }

    /// A reload applied new options (`/varz` `config_load_time`).
    pub(crate) fn config_reloaded(&self) {
        *self.config_load.lock() = SystemTime::now();
    }

    /// Remembers a socket client that just ended, for `/connz?state=closed`.
    pub(crate) fn record_closed(&self, client: &Client) {
        if client.kind() != ClientKind::Client {
            return;
        }
        let mut stats = client.stats();
        let reason = stats.closed.unwrap_or(CloseReason::ClientClosed).as_str();
        let mut subs = client.subscriptions_at_close();
        // nats-server unsubscribes a closing client's auto-unsubscribe limits away before
        // it keeps the list, so closed entries show no `max`.
        subs.iter_mut().for_each(|s| s.max = None);
        sort_subscriptions(&mut subs);
        stats.subscriptions = subs.len();
        let conn = Arc::new(ClosedConn {
            stats,
            stop: SystemTime::now(),
            reason,
            rtt: client.rtt(),
            authorized_user: client.authorized_user(),
            subs,
        });
        let mut ring = self.closed.lock();
        if ring.len() >= MAX_CLOSED {
            ring.pop_front();
        }
        ring.push_back(conn);
    }

    fn closed(&self) -> Vec<Arc<ClosedConn>> {
        self.closed.lock().iter().cloned().collect()
    }

    fn count(&self, path: &'static str) {
        *self.requests.lock().entry(path).or_insert(0) += 1;
    }

    fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        self.requests.lock().clone()
    }
}

/// One subscription in `/connz?subs=detail` and `/subsz?subs=1`.
#[derive(Debug, Serialize)]
pub(crate) struct SubDetail {
    /// Only `/subsz` names the account; `/connz` lists subscriptions of one connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<String>,
    sid: String,
    msgs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
    cid: u64,
}

impl SubDetail {
    fn new(sub: &SubscriptionInfo, cid: u64, account: Option<&str>) -> Self {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        SubDetail {
            account: account.map(str::to_string),
            subject: s(&sub.subject),
            qgroup: sub.queue.as_deref().map(s),
            sid: s(&sub.sid),
            msgs: sub.delivered,
            max: sub.max,
            cid,
        }
    }
}

/// A client's subscriptions in a stable order (numeric sids by value).
fn sorted_subscriptions(client: &Client) -> Vec<SubscriptionInfo> {
    let mut subs = client.subscriptions();
    sort_subscriptions(&mut subs);
    subs
}

fn sort_subscriptions(subs: &mut [SubscriptionInfo]) {
    subs.sort_by(|a, b| {
        let num = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<u64>().ok();
        match (num(&a.sid), num(&b.sid)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.sid.cmp(&b.sid),
        }
    });
}

/// Starts serving the monitoring port; the loop ends when the server shuts down (lame
/// duck mode keeps it up, as harnesses poll `/varz` until the very end).
pub(crate) fn spawn(shared: Arc<Shared>, listener: TcpListener, guard: watch::Receiver<()>) {
    tokio::spawn(accept_loop(shared, listener, guard));
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, guard: watch::Receiver<()>) {
    let mut state = shared.state_receiver();
    loop {
        if *state.borrow_and_update() == State::Shutdown {
            break;
        }
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => serve_connection(shared.clone(), stream, guard.clone()),
                Err(e) => {
                    tracing::error!("Error accepting monitoring connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
    }
    tracing::debug!("Monitoring accept loop exiting..");
}

fn serve_connection(shared: Arc<Shared>, stream: TcpStream, guard: watch::Receiver<()>) {
    let admitted = shared
        .monitor()
        .http
        .lock()
        .admit(MAX_HTTP_CONNECTIONS, Instant::now());
    let Some((id, evict)) = admitted else {
        return;
    };
    let _ = stream.set_nodelay(true);
    tokio::spawn(async move {
        let state = shared.state_receiver();
        let stop = async move {
            tokio::select! {
                _ = shutdown(state) => {}
                _ = evict.notified() => {}
            }
        };
        let handler = |req: &Request| route(&shared, req);
        let phase = |p: Phase| shared.monitor().http.lock().enter(id, p, Instant::now());
        http::serve(stream, HttpLimits::default(), stop, handler, phase).await;
        shared.monitor().http.lock().release(id);
        drop(guard);
    });
}

async fn shutdown(mut state: watch::Receiver<State>) {
    loop {
        if *state.borrow_and_update() == State::Shutdown {
            return;
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// The endpoints, with the path their requests are counted under in `http_req_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Root,
    Varz,
    Connz,
    Subsz,
    Routez,
    Healthz,
    Metrics,
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/" => Endpoint::Root,
            "/varz" => Endpoint::Varz,
            "/connz" => Endpoint::Connz,
            "/subsz" | "/subscriptionsz" => Endpoint::Subsz,
            "/routez" => Endpoint::Routez,
            "/healthz" => Endpoint::Healthz,
            "/metrics" => Endpoint::Metrics,
            _ => return None,
        })
    }

    fn stat_path(self) -> &'static str {
        match self {
            Endpoint::Root => "/",
            Endpoint::Varz => "/varz",
            Endpoint::Connz => "/connz",
            Endpoint::Subsz => "/subsz",
            Endpoint::Routez => "/routez",
            Endpoint::Healthz => "/healthz",
            Endpoint::Metrics => "/metrics",
        }
    }
}

fn route(shared: &Shared, req: &Request) -> Response {
    let Some(endpoint) = Endpoint::from_path(&req.path) else {
        return Response::not_found();
    };
    shared.monitor().count(endpoint.stat_path());
    let q = &req.query;
    let result = match endpoint {
        Endpoint::Root => return index::page(),
        Endpoint::Metrics => return metrics::page(shared),
        Endpoint::Healthz => return healthz::page(),
        Endpoint::Varz => Ok(json(&varz::build(shared))),
        Endpoint::Connz => connz::build(shared, q).map(|c| json(&c)),
        Endpoint::Subsz => subsz::build(shared, q).map(|s| json(&s)),
        Endpoint::Routez => Ok(json(&routez::build(shared))),
    };
    match result {
        Ok(body) => json_response(body, q.get("callback")),
        Err(msg) => Response::text(400, msg),
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// JSON, or JSONP when the request names a `callback` (nats-server supports both; old
/// browser dashboards use JSONP).
fn json_response(body: Vec<u8>, callback: Option<&str>) -> Response {
    match callback {
        None => Response::new(200, "application/json", body),
        Some(cb) => {
            let valid = cb
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$');
            if !valid {
                return Response::text(400, "invalid callback name");
            }
            let mut out = Vec::with_capacity(body.len() + cb.len() + 2);
            out.extend_from_slice(cb.as_bytes());
            out.push(b'(');
            out.extend_from_slice(&body);
            out.push(b')');
            Response::new(200, "application/javascript", out)
        }
    }
}

/// A float as Go's JSON encoder writes it: whole numbers without a fraction (`2`, not
/// `2.0`), so the documents read the same as nats-server's.
pub(crate) fn go_float<S: serde::Serializer>(f: &f64, s: S) -> Result<S::Ok, S::Error> {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        s.serialize_i64(*f as i64)
    } else {
        s.serialize_f64(*f)
    }
}

/// Go's `strconv.ParseBool`, which nats-server uses for flags such as `subs` and `auth`.
fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(v) => Err(format!(
            "Error decoding boolean for '{name}': strconv.ParseBool: parsing \"{v}\": invalid syntax"
        )),
    }
}

/// An integer parameter; absent means 0.
fn parse_int(name: &str, value: Option<&str>) -> Result<i64, String> {
    match value {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            format!(
                "Error decoding int for '{name}': strconv.Atoi: parsing \"{v}\": invalid syntax"
            )
        }),
    }
}

/// `offset` and `limit` as nats-server applies them: negative offsets are 0, a limit of 0
/// or less is the default.
fn paging(q: &http::Query, default_limit: usize) -> Result<(usize, usize), String> {
    let offset = parse_int("offset", q.get("offset"))?.max(0) as usize;
    let limit = match parse_int("limit", q.get("limit"))? {
        n if n <= 0 => default_limit,
        n => n as usize,
    };
    Ok((offset, limit))
}

fn page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut conns = HttpConns::default();
        let (a, evict_a) = conns.admit(3, at(0)).unwrap();
        let (b, _) = conns.admit(3, at(1)).unwrap();
        let (c, evict_c) = conns.admit(3, at(2)).unwrap();
        // `a` is answering, `b` has sent part of a head, `c` went idle after a request.
        assert!(conns.enter(a, Phase::Busy, at(3)));
        assert!(conns.enter(b, Phase::Reading, at(4)));
        assert!(conns.enter(c, Phase::Busy, at(5)));
        assert!(conns.enter(c, Phase::Idle, at(6)));

        let (d, _) = conns.admit(3, at(7)).unwrap();
        assert!(!conns.open.contains_key(&c), "the idle one goes first");
        assert!(evict_c.notified().now_or_never().is_some(), "and is woken");
        assert!(
            !conns.enter(c, Phase::Reading, at(8)),
            "an evicted conn ends"
        );
        assert_eq!(conns.open.len(), 3);

        // Idle `d` goes before `b`, whose head has been trickling in for longer.
        let (e, _) = conns.admit(3, at(9)).unwrap();
        assert!(!conns.open.contains_key(&d) && conns.open.contains_key(&b));
        assert!(conns.enter(e, Phase::Busy, at(10)));

        // No idle socket left: the head trickling in goes, the busy ones stay.
        let (f, _) = conns.admit(3, at(11)).unwrap();
        assert!(!conns.open.contains_key(&b));
        assert!(conns.open.contains_key(&a) && conns.open.contains_key(&e));

        // All busy: the new connection is refused and nobody was woken.
        assert!(conns.enter(f, Phase::Busy, at(12)));
        assert!(conns.admit(3, at(13)).is_none());
        assert_eq!(conns.open.len(), 3);
        assert!(
            evict_a.notified().now_or_never().is_none(),
            "a busy connection is never told to stop"
        );

        conns.release(a);
        assert!(conns.admit(3, at(14)).is_some());
    }

    #[test]
    fn go_bool_syntax() {
        assert_eq!(parse_bool("subs", Some("1")), Ok(true));
        assert_eq!(parse_bool("subs", Some("True")), Ok(true));
        assert_eq!(parse_bool("subs", Some("f")), Ok(false));
        assert_eq!(parse_bool("subs", None), Ok(false));
        assert_eq!(
            parse_bool("subs", Some("xyz")),
            Err(
                "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"xyz\": invalid syntax"
                    .to_string()
            )
        );
    }

    #[test]
    fn paging_clamps_like_nats() {
        let q = http::Query::parse("offset=-1&limit=-5");
        assert_eq!(paging(&q, 1024), Ok((0, 1024)));
        let q = http::Query::parse("offset=2&limit=3");
        assert_eq!(paging(&q, 1024), Ok((2, 3)));
        let q = http::Query::parse("limit=abc");
        assert!(paging(&q, 1024)
            .unwrap_err()
            .starts_with("Error decoding int for 'limit'"));
        assert_eq!(page(vec![1, 2, 3, 4], 1, 2), vec![2, 3]);
        assert_eq!(page(vec![1, 2], 5, 2), Vec::<i32>::new());
    }

    #[test]
    fn whole_floats_print_like_go() {
        #[derive(Serialize)]
        struct F {
            #[serde(serialize_with = "go_float")]
            a: f64,
            #[serde(serialize_with = "go_float")]
            b: f64,
        }
        let text = serde_json::to_string(&F { a: 2.0, b: 0.25 }).unwrap();
        assert_eq!(text, r#"{"a":2,"b":0.25}"#);
    }

    #[test]
    fn jsonp_wraps_and_checks_the_name() {
        let r = json_response(b"{}".to_vec(), Some("cb"));
        assert_eq!(r.body, b"cb({})");
        assert_eq!(r.content_type, "application/javascript");
        assert_eq!(json_response(b"{}".to_vec(), Some("a<b")).status, 400);
    }
}
