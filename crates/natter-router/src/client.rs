use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;

use natter_sublist::Matches;

use crate::account::Account;
use crate::matchcache::MatchCache;
use crate::outbound::Outbound;
use crate::router::{Registry, Shared};
use crate::stall::{stall_duration, stall_threshold};
use crate::stats::{ClientStats, SubscriptionInfo, Traffic};
use crate::sub::{Delivery, Event, Sub, SubRef};
use crate::{CloseReason, RouterError};

/// What kind of session a [`Client`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientKind {
    /// A client on a socket: deliveries are encoded into its [`Outbound`].
    #[default]
    Client,
    /// An in-process session made by [`Router::connect`](crate::Router::connect).
    Local,
}

/// Where a socket session comes from, given to [`Router::register`](crate::Router::register).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Remote address.
    pub host: String,
    /// Remote port.
    pub port: u16,
    /// Session kind; socket servers use [`ClientKind::Client`].
    pub kind: ClientKind,
}

const ECHO: u8 = 1;
const HEADERS: u8 = 1 << 1;
const NO_RESPONDERS: u8 = 1 << 2;
const VERBOSE: u8 = 1 << 3;
const PEDANTIC: u8 = 1 << 4;

/// CONNECT defaults as nats-server applies them before (and without) a CONNECT.
const DEFAULT_FLAGS: u8 = ECHO | VERBOSE | PEDANTIC;

/// Most stalled subscribers one publisher waits for at a time.
const STALL_TRACKED: usize = 16;

#[derive(Debug, Default)]
struct Meta {
    name: Option<String>,
    lang: Option<String>,
    version: Option<String>,
}

/// One session: a socket client, or the core of a [`LocalClient`](crate::LocalClient).
///
/// Made by [`Router::register`](crate::Router::register). The server calls
/// [`subscribe`](Client::subscribe), [`unsubscribe`](Client::unsubscribe) and
/// [`publish`](Client::publish) inline from the connection's reader, drains
/// [`outbound`](Client::outbound) from its writer, and calls [`close`](Client::close)
/// when the connection ends. A session that is never closed keeps its subscriptions.
pub struct Client {
    id: u64,
    kind: ClientKind,
    account: Arc<Account>,
    shared: Arc<Shared>,
    registry: Weak<Registry>,
    this: Weak<Client>,
    outbound: Outbound,
    flags: AtomicU8,
    meta: Mutex<Meta>,
    /// Who the session authenticated as; read by monitoring only, never when publishing.
    authorized_user: Mutex<Option<Arc<str>>>,
    host: String,
    port: u16,
    start: SystemTime,
    epoch: Instant,
    /// Nanoseconds after `epoch`.
    last_activity: AtomicU64,
    subs: Mutex<HashMap<Bytes, Arc<Sub>>>,
    /// What a socket session held when it was closed: `close` empties `subs`, and
    /// monitoring lists closed connections with the subscriptions they had.
    subs_at_close: Mutex<Vec<SubscriptionInfo>>,
    /// Last PING to PONG round trip the server measured, in nanoseconds (0: none yet).
    rtt: AtomicU64,
    /// Shared with the router's session table, which sums it into the router totals.
    /// Its publish-side lock (counters and match cache) is taken by this session's own
    /// publishes and by monitoring, never while delivering, so a delivery that closes a
    /// session cannot deadlock on it.
    traffic: Arc<Traffic>,
    /// Bytes sent to this session's channels and not yet read (local sessions).
    local_pending: AtomicUsize,
    slow_consumers: AtomicU64,
    closed: AtomicBool,
    /// Sessions this one's publishes left stalled since its last [`Client::stall_wait`].
    stalls: Mutex<Vec<Arc<Client>>>,
    /// Whether `stalls` may be non-empty; read after every publish, so no lock.
    stalling: AtomicBool,
}

/// Whether the publish path counts: messages and bytes in and out per session, and each
/// subscription's deliveries where no `max` needs them. Only a build with
/// `--cfg natter_uncounted` turns it off: `cargo xtask bench --counting` compares the two
/// builds to show what counting costs. That build is for that benchmark alone: its
/// monitoring figures stay at zero, and an `UNSUB sid max` sent after deliveries counts
/// from the UNSUB instead of from the subscription's start.
const COUNTED: bool = !cfg!(natter_uncounted);

/// Counts one more delivery to `sub` with `count` and checks it against the subscription's
/// `max` (`UNSUB sid max`): `None` when it already had all of them, else whether this one
/// is its last.
fn take_delivery(sub: &Sub, count: impl FnOnce(&Sub) -> u64) -> Option<bool> {
    let max = sub.max();
    if !COUNTED && max == 0 {
        return Some(false);
    }
    let n = count(sub);
    if max > 0 && n > max {
        None
    } else {
        Some(n == max)
    }
}

/// What became of one delivery.
enum Pushed {
    /// Queued; `last`: it was the subscription's final one (`UNSUB sid max`).
    Queued { last: bool },
    /// The session is closed or just became a slow consumer.
    Refused { last: bool },
    /// The subscription had already had its `max` deliveries.
    OverMax,
}

/// One message on its way through [`Client::publish`] or [`Ingest::publish`].
pub(crate) struct Outgoing<'a> {
    pub(crate) subject: Part<'a>,
    pub(crate) reply: Option<Part<'a>>,
    pub(crate) headers: Option<Part<'a>>,
    pub(crate) payload: Part<'a>,
    /// The message as in-process subscribers get it, made on the first such delivery and
    /// shared by the rest (borrowed parts are copied once per publish, not per subscriber).
    owned: std::cell::OnceCell<crate::Message>,
}

impl<'a> Outgoing<'a> {
    fn new(
        subject: Part<'a>,
        reply: Option<Part<'a>>,
        headers: Option<Part<'a>>,
        payload: Part<'a>,
    ) -> Self {
        Outgoing {
            subject,
            reply,
            headers,
            payload,
            owned: std::cell::OnceCell::new(),
        }
    }
}

/// A piece of a message being published. Shared when the publisher holds it as `Bytes`,
/// so an in-process subscriber gets the same buffer; borrowed from a read buffer
/// otherwise, and copied only for in-process subscribers (socket subscribers get it
/// encoded into their outbound buffer either way).
#[derive(Clone, Copy)]
pub(crate) enum Part<'a> {
    Shared(&'a Bytes),
    Borrowed(&'a [u8]),
}

impl<'a> Part<'a> {
    fn slice(self) -> &'a [u8] {
        match self {
            Part::Shared(b) => b,
            Part::Borrowed(s) => s,
        }
    }

    fn to_bytes(self) -> Bytes {
        match self {
            Part::Shared(b) => b.clone(),
            Part::Borrowed(s) => Bytes::copy_from_slice(s),
        }
    }
}

/// A session's publish state kept by the one task that reads its connection: its own
/// match cache and the publish counts not yet added to the session's counters. Publishing
/// through it ([`Ingest::publish`]) takes no lock and clones nothing per message.
///
/// Counts reach the session's counters (`/connz`, `/varz`) at [`Ingest::settle`], which
/// a read loop calls after each batch and before answering a PING, and on drop. It holds
/// its session, so those last counts land before the session's totals are retired.
pub struct Ingest {
    client: Arc<Client>,
    matches: MatchCache,
    msgs: u64,
    bytes: u64,
}

impl Ingest {
    /// The session this publishes for.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// [`Client::publish`] for a message read off the session's connection, borrowed
    /// from the read buffer: the match cache and counters are this `Ingest`'s own, so
    /// nothing is locked or reference-counted before the deliveries themselves.
    pub fn publish(&mut self, m: natter_proto::PubRef<'_>) -> Result<(), RouterError> {
        let client = &*self.client;
        let msg = Outgoing::new(
            Part::Borrowed(m.subject),
            m.reply.map(Part::Borrowed),
            m.headers.map(Part::Borrowed),
            Part::Borrowed(m.payload),
        );
        let size = client.admit(&msg)?;
        if COUNTED {
            self.msgs += 1;
            self.bytes += size as u64;
        }
        let matches = self.matches.lookup(&client.account.sublist, m.subject);
        client.route(matches, &msg);
        Ok(())
    }

    /// Adds the publishes counted since the last call to the session's counters, and its
    /// sublist lookups to the account's. Also forgets cached results the sublist has moved
    /// past: they hold subscriptions, and through them sessions that may have closed.
    pub fn settle(&mut self) {
        let client = &*self.client;
        client.account.count_matches(self.matches.take_counts());
        self.matches.forget_if_stale(&client.account.sublist);
        if self.msgs != 0 {
            let mut inbound = client.traffic.inbound.lock();
            inbound.in_msgs += self.msgs;
            inbound.in_bytes += self.bytes;
            drop(inbound);
            self.msgs = 0;
            self.bytes = 0;
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.settle();
    }
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("msgs", &self.msgs)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(
        id: u64,
        account: Arc<Account>,
        info: ClientInfo,
        shared: Arc<Shared>,
        registry: Weak<Registry>,
    ) -> Arc<Client> {
        let traffic = Arc::new(Traffic::default());
        shared.counters.sessions.lock().add(id, traffic.clone());
        Arc::new_cyclic(|this| Client {
            id,
            kind: info.kind,
            account,
            outbound: Outbound::new(shared.limits.clone(), this.clone()),
            shared,
            registry,
            this: this.clone(),
            flags: AtomicU8::new(DEFAULT_FLAGS),
            meta: Mutex::new(Meta::default()),
            authorized_user: Mutex::new(None),
            host: info.host,
            port: info.port,
            start: SystemTime::now(),
            epoch: Instant::now(),
            last_activity: AtomicU64::new(0),
            subs: Mutex::new(HashMap::new()),
            subs_at_close: Mutex::new(Vec::new()),
            rtt: AtomicU64::new(0),
            traffic,
            local_pending: AtomicUsize::new(0),
            slow_consumers: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            stalls: Mutex::new(Vec::new()),
            stalling: AtomicBool::new(false),
        })
    }

    /// The session id (`cid`), unique within one router, starting at 1.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The session kind.
    pub fn kind(&self) -> ClientKind {
        self.kind
    }

    /// The account this session is bound to.
    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }

    /// Applies the options of a CONNECT: echo, headers, no_responders, verbose, pedantic,
    /// name, lang, version. Validation (auth, protocol, no_responders without headers) is
    /// the server's job.
    pub fn set_connect(&self, c: &natter_proto::Connect) {
        let mut f = 0;
        for (on, bit) in [
            (c.echo, ECHO),
            (c.headers, HEADERS),
            (c.no_responders, NO_RESPONDERS),
            (c.verbose, VERBOSE),
            (c.pedantic, PEDANTIC),
        ] {
            if on {
                f |= bit;
            }
        }
        self.flags.store(f, Ordering::Release);
        let mut m = self.meta.lock();
        m.name = c.name.clone();
        m.lang = c.lang.clone();
        m.version = c.version.clone();
        drop(m);
        self.touch();
    }

    /// Records the user name the session authenticated as (`/connz?auth=1`
    /// `authorized_user`). The server decides what counts as one; the router only keeps it.
    pub fn set_authorized_user(&self, user: &str) {
        *self.authorized_user.lock() = Some(Arc::from(user));
    }

    /// The user name given to [`set_authorized_user`](Self::set_authorized_user), if any.
    pub fn authorized_user(&self) -> Option<String> {
        self.authorized_user.lock().as_deref().map(str::to_string)
    }

    pub(crate) fn set_flags(&self, echo: bool, headers: bool, no_responders: bool) {
        let mut f = self.flags.load(Ordering::Acquire) & !(ECHO | HEADERS | NO_RESPONDERS);
        if echo {
            f |= ECHO;
        }
        if headers {
            f |= HEADERS;
        }
        if no_responders {
            f |= NO_RESPONDERS;
        }
        self.flags.store(f, Ordering::Release);
    }

    pub(crate) fn set_name(&self, name: Option<String>) {
        self.meta.lock().name = name;
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags.load(Ordering::Relaxed) & bit != 0
    }

    /// Whether the session receives its own messages (CONNECT `echo`, default true).
    pub fn echo(&self) -> bool {
        self.flag(ECHO)
    }

    /// Whether the session understands `HMSG` (CONNECT `headers`).
    pub fn headers(&self) -> bool {
        self.flag(HEADERS)
    }

    /// Whether the session wants a 503 status when a request reaches nobody.
    pub fn no_responders(&self) -> bool {
        self.flag(NO_RESPONDERS)
    }

    /// CONNECT `verbose` (default true): the server answers `+OK`.
    pub fn verbose(&self) -> bool {
        self.flag(VERBOSE)
    }

    /// CONNECT `pedantic` (default true): the server checks subjects strictly.
    pub fn pedantic(&self) -> bool {
        self.flag(PEDANTIC)
    }

    /// The outbound byte buffer the connection's writer drains.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// Whether the session was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Why the session was closed, if it was.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.outbound.close_reason()
    }

    /// Records activity now (for `/connz` `last_activity`).
    ///
    /// Subscribe, unsubscribe and CONNECT do this, and so does a local session's publish.
    /// A socket session's publish does not: reading the clock per message is a large share
    /// of a small message's cost, so the connection calls this once per read batch.
    pub fn touch(&self) {
        let ns = self.epoch.elapsed().as_nanos() as u64;
        self.last_activity.store(ns, Ordering::Relaxed);
    }

    /// Adds a subscription.
    ///
    /// A `sid` the session already uses is ignored, as nats-server does.
    pub fn subscribe(
        &self,
        sid: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
    ) -> Result<(), RouterError> {
        self.subscribe_with(sid, subject, queue, Delivery::Wire)
            .map(|_| ())
    }

    /// Adds a subscription delivered through `delivery`; returns it when it is new.
    pub(crate) fn subscribe_with(
        &self,
        sid: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
        delivery: Delivery,
    ) -> Result<Option<Arc<Sub>>, RouterError> {
        let me = self.this.upgrade().ok_or(RouterError::Closed)?;
        let mut subs = self.subs.lock();
        // Checked under the lock: `close` sets the flag before it empties the map, so a
        // racing subscribe either lands in the map it empties or sees the flag.
        if self.is_closed() {
            return Err(RouterError::Closed);
        }
        let max = self.shared.limits.max_subscriptions();
        if max != 0 && subs.len() >= max {
            return Err(RouterError::MaxSubscriptions);
        }
        if subs.contains_key(&sid) {
            return Ok(None);
        }
        let sub = Arc::new(Sub::new(me, sid.clone(), subject, queue, delivery));
        self.account
            .sublist
            .insert(&sub.subject, sub.queue.as_deref(), SubRef(sub.clone()))
            .map_err(|_| RouterError::InvalidSubject)?;
        subs.insert(sid, sub.clone());
        // Still under the session lock: a `close` on another thread (write error, slow
        // consumer) takes the subscription only after its interest was counted, so the
        // removal it reports always follows this addition.
        self.account
            .interest_added(&sub.subject, sub.queue.as_ref());
        self.shared
            .counters
            .subscriptions
            .fetch_add(1, Ordering::Relaxed);
        drop(subs);
        self.touch();
        Ok(Some(sub))
    }

    /// Removes the subscription `sid` now (`max` None or 0), or after it has delivered
    /// `max` messages in total. If it already delivered `max` or more, it goes now.
    ///
    /// An unknown `sid` is not an error (nats-server ignores it).
    pub fn unsubscribe(&self, sid: &[u8], max: Option<u64>) -> Result<(), RouterError> {
        if self.is_closed() {
            return Err(RouterError::Closed);
        }
        self.touch();
        let sub = match self.subs.lock().get(sid) {
            Some(s) => s.clone(),
            None => return Ok(()),
        };
        let used_up = match max {
            Some(max) if max > 0 => {
                let set = || {
                    if sub.delivered() >= max {
                        return true;
                    }
                    sub.set_max(max);
                    // A delivery counted before the new limit was visible.
                    sub.delivered() >= max
                };
                match sub.delivery {
                    // Wire deliveries are counted and checked against the max under the
                    // outbound lock: setting it there leaves no delivery in between.
                    Delivery::Wire => self.outbound.locked(set),
                    Delivery::Channel(_) | Delivery::Inbox(_) => set(),
                }
            }
            _ => true,
        };
        if used_up {
            self.remove_sub(&sub);
        }
        Ok(())
    }

    /// Removes `sub` if it is still this session's subscription under its sid.
    pub(crate) fn remove_sub(&self, sub: &Arc<Sub>) {
        let mut subs = self.subs.lock();
        match subs.get(&sub.sid) {
            Some(s) if Arc::ptr_eq(s, sub) => {
                subs.remove(&sub.sid);
            }
            _ => return,
        }
        drop(subs);
        self.drop_sub(sub);
    }

    /// Takes a subscription (already out of the session map) out of the account.
    fn drop_sub(&self, sub: &Arc<Sub>) {
        if !sub.mark_removed() {
            return;
        }
        let removed =
            self.account
                .sublist
                .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
        if matches!(removed, Ok(true)) {
            self.account
                .interest_removed(&sub.subject, sub.queue.as_ref());
            self.shared
                .counters
                .subscriptions
                .fetch_sub(1, Ordering::Relaxed);
        }
        if let Delivery::Channel(tx) = &sub.delivery {
            // The receiver may be gone already; then nobody needs to hear the end.
            let _ = tx.send(Event::End);
        }
    }

    /// Subscriptions the session holds now.
    pub fn subscription_count(&self) -> usize {
        self.subs.lock().len()
    }

    /// The session's subscriptions, for monitoring.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let subs: Vec<Arc<Sub>> = self.subs.lock().values().cloned().collect();
        subs.iter().map(|s| sub_info(s)).collect()
    }

    /// The subscriptions a socket session ([`ClientKind::Client`]) held when it was
    /// closed, in no particular order; empty while it is open and for local sessions.
    pub fn subscriptions_at_close(&self) -> Vec<SubscriptionInfo> {
        self.subs_at_close.lock().clone()
    }

    /// Records a PING to PONG round trip the server measured (`/connz` `rtt`). Zero is
    /// stored as one nanosecond, so a measured session never reads as unmeasured.
    pub fn set_rtt(&self, rtt: Duration) {
        let ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.rtt.store(ns, Ordering::Relaxed);
    }

    /// The last round trip given to [`set_rtt`](Client::set_rtt); zero before any.
    pub fn rtt(&self) -> Duration {
        Duration::from_nanos(self.rtt.load(Ordering::Relaxed))
    }

    /// Routes one message: to every matching plain subscription and to one member of
    /// each matching queue group. Inline; never blocks on a slow subscriber.
    ///
    /// `headers` is the raw header block (`NATS/1.0...\r\n\r\n`) of an HPUB. Subscribers
    /// that did not declare `headers` get a `MSG` with the body only.
    pub fn publish(
        &self,
        subject: &Bytes,
        reply: Option<&Bytes>,
        headers: Option<&Bytes>,
        payload: &Bytes,
    ) -> Result<(), RouterError> {
        let msg = Outgoing::new(
            Part::Shared(subject),
            reply.map(Part::Shared),
            headers.map(Part::Shared),
            Part::Shared(payload),
        );
        let size = self.admit(&msg)?;
        let matches = {
            let mut inbound = self.traffic.inbound.lock();
            if COUNTED {
                inbound.in_msgs += 1;
                inbound.in_bytes += size as u64;
            }
            let m = inbound.matches.get(&self.account.sublist, subject);
            self.account.count_matches(inbound.matches.take_counts());
            // A `close` on another thread clears the cache under this lock after setting
            // the flag: whichever of the two takes the lock second sees the other's work,
            // so nothing refilled here outlives the session's end.
            if self.is_closed() {
                inbound.matches.clear();
            }
            m
        };
        if self.kind == ClientKind::Local {
            self.touch();
        }
        self.route(&matches, &msg);
        Ok(())
    }

    /// A fresh [`Ingest`] for the task that reads this session's connection.
    pub fn ingest(self: &Arc<Self>) -> Ingest {
        Ingest {
            client: Arc::clone(self),
            matches: MatchCache::default(),
            msgs: 0,
            bytes: 0,
        }
    }

    /// Whether this session may publish `msg`; its size (header block plus body) if so.
    fn admit(&self, msg: &Outgoing<'_>) -> Result<usize, RouterError> {
        if self.is_closed() {
            return Err(RouterError::Closed);
        }
        let size = msg.headers.map_or(0, |h| h.slice().len()) + msg.payload.slice().len();
        let max = self.shared.limits.max_payload();
        if max != 0 && size > max {
            return Err(RouterError::MaxPayload);
        }
        if msg.subject.slice().is_empty() {
            return Err(RouterError::InvalidSubject);
        }
        Ok(size)
    }

    /// Delivers `msg` to the matching subscriptions, or answers a request that reaches
    /// nobody with a no-responders status.
    fn route(&self, matches: &Matches<SubRef>, msg: &Outgoing<'_>) {
        let mut delivered = false;
        for s in &matches.plain {
            delivered |= self.deliver(&s.0, msg);
        }
        for group in &matches.queues {
            let n = group.members.len();
            let start = if n > 1 { crate::rng::below(n) } else { 0 };
            // From a random start, the first member that takes it (nats-server skips a
            // member that cannot, e.g. the publisher itself with echo off).
            for i in 0..n {
                if self.deliver(&group.members[(start + i) % n].0, msg) {
                    delivered = true;
                    break;
                }
            }
        }
        if !delivered {
            if let Some(reply) = msg.reply.filter(|_| self.no_responders() && self.headers()) {
                self.send_no_responders(reply);
            }
        }
    }

    /// Delivers `msg` to `sub` on behalf of the publisher `self`; true if it was queued.
    fn deliver(&self, sub: &Arc<Sub>, msg: &Outgoing<'_>) -> bool {
        if sub.is_removed() {
            return false;
        }
        let target = &*sub.client;
        if std::ptr::eq(target, self) && !target.echo() {
            return false;
        }
        if target.is_closed() {
            return false;
        }
        let headers = if target.headers() { msg.headers } else { None };
        let bytes = (headers.map_or(0, |h| h.slice().len()) + msg.payload.slice().len()) as u64;
        let pushed = match &sub.delivery {
            Delivery::Wire => target.push_wire(sub, msg, headers, bytes),
            Delivery::Channel(_) | Delivery::Inbox(_) => {
                target.push_local(sub, msg, headers, bytes)
            }
        };
        let (ok, last) = match pushed {
            Pushed::OverMax => {
                target.remove_sub(sub);
                return false;
            }
            Pushed::Queued { last } => (true, last),
            Pushed::Refused { last } => (false, last),
        };
        if ok && target.outbound.is_stalled() {
            self.note_stall(&sub.client);
        }
        if last {
            target.remove_sub(sub);
        }
        ok
    }

    /// Counts a delivery to `sub` and queues it, all under this (subscribing) session's
    /// outbound lock: every wire delivery to this session is counted there, one at a
    /// time, so plain loads and stores do.
    fn push_wire(
        &self,
        sub: &Sub,
        msg: &Outgoing<'_>,
        headers: Option<Part<'_>>,
        bytes: u64,
    ) -> Pushed {
        let (subject, reply) = (msg.subject.slice(), msg.reply.map(Part::slice));
        let mut over = false;
        let mut last = false;
        let r = self.outbound.append_if(
            |buf| {
                match take_delivery(sub, Sub::count_delivery_serialized) {
                    Some(l) => last = l,
                    None => {
                        over = true;
                        return false;
                    }
                }
                match headers {
                    Some(h) => natter_proto::encode::hmsg(
                        buf,
                        subject,
                        &sub.sid,
                        reply,
                        h.slice(),
                        msg.payload.slice(),
                    ),
                    None => natter_proto::encode::msg(
                        buf,
                        subject,
                        &sub.sid,
                        reply,
                        msg.payload.slice(),
                    ),
                }
                true
            },
            || {
                if COUNTED {
                    // An in-process session's counters are also bumped by its channel
                    // deliveries, outside this lock: only a socket session's are ours alone.
                    if self.kind == ClientKind::Local {
                        self.traffic.add_out(1, bytes);
                    } else {
                        self.traffic.add_out_serialized(1, bytes);
                    }
                }
            },
        );
        if over {
            return Pushed::OverMax;
        }
        if self.after_append(r) {
            Pushed::Queued { last }
        } else {
            Pushed::Refused { last }
        }
    }

    /// Counts a delivery to `sub` and hands it to this (in-process) session's channel or
    /// inbox; deliveries from several publishers race here, so the counts are atomic.
    fn push_local(
        &self,
        sub: &Sub,
        msg: &Outgoing<'_>,
        headers: Option<Part<'_>>,
        bytes: u64,
    ) -> Pushed {
        let Some(last) = take_delivery(sub, Sub::count_delivery) else {
            return Pushed::OverMax;
        };
        let ok = match &sub.delivery {
            Delivery::Channel(tx) => self.send_local(tx, msg.to_message(headers.is_some())),
            Delivery::Inbox(inbox) => {
                inbox.deliver(msg.to_message(headers.is_some()));
                true
            }
            Delivery::Wire => false,
        };
        if ok {
            if COUNTED {
                self.traffic.add_out(1, bytes);
            }
            Pushed::Queued { last }
        } else {
            Pushed::Refused { last }
        }
    }

    fn after_append(&self, r: crate::outbound::Append) -> bool {
        match r {
            crate::outbound::Append::Queued => true,
            crate::outbound::Append::Closed | crate::outbound::Append::Declined => false,
            crate::outbound::Append::SlowConsumer => {
                self.slow_consumer();
                false
            }
        }
    }

    /// Sends to a local subscription's channel, with the same pending limit and stall
    /// mark as a socket.
    fn send_local(
        &self,
        tx: &tokio::sync::mpsc::UnboundedSender<Event>,
        m: crate::Message,
    ) -> bool {
        let size = m.pending_size();
        let pending = self.local_pending.fetch_add(size, Ordering::AcqRel) + size;
        let max_pending = self.shared.limits.max_pending();
        if crate::options::over_limit(pending, max_pending) {
            self.local_pending.fetch_sub(size, Ordering::AcqRel);
            self.slow_consumer();
            return false;
        }
        if tx.send(Event::Msg(m)).is_err() {
            self.local_pending.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        if !self.outbound.is_stalled() && stall_threshold(max_pending).is_some_and(|t| pending > t)
        {
            self.outbound
                .set_local_stall(|| self.local_pending.load(Ordering::Acquire));
        }
        true
    }

    /// A local subscription consumed `size` bytes.
    pub(crate) fn consumed(&self, size: usize) {
        self.local_pending.fetch_sub(size, Ordering::AcqRel);
        self.outbound.advanced(size);
        if self.outbound.is_stalled() {
            self.outbound
                .set_local_stall(|| self.local_pending.load(Ordering::Acquire));
        }
    }

    /// Remembers that a publish of this session left `target` stalled.
    ///
    /// At most [`STALL_TRACKED`] sessions per wait: the wait is bounded by the fullest
    /// one anyway, and a wide fan-out to many stalled subscribers must not turn every
    /// delivery into a long scan.
    fn note_stall(&self, target: &Arc<Client>) {
        let mut stalls = self.stalls.lock();
        if stalls.len() < STALL_TRACKED && !stalls.iter().any(|c| Arc::ptr_eq(c, target)) {
            stalls.push(target.clone());
        }
        drop(stalls);
        self.stalling.store(true, Ordering::Release);
    }

    /// Whether this session's publishes left a subscriber stalled (past half of
    /// `max_pending`) since the last [`stall_wait`](Client::stall_wait). Cheap; a socket
    /// server checks it after each read batch.
    pub fn is_stalling(&self) -> bool {
        self.stalling.load(Ordering::Acquire)
    }

    /// Holds this publisher back until the subscribers its publishes left stalled are
    /// back under half of `max_pending`, or a timeout passes: 100 ms, growing to 1 s for
    /// a subscriber at `max_pending` (nats-server's fast-producer stall). Returns at once
    /// when nothing is stalled.
    ///
    /// A subscriber that took nothing at all during a whole timed-out wait is not waited
    /// for again until it takes something: it is stuck, not slow, and holding publishers
    /// back would only delay its end as a slow consumer.
    ///
    /// A socket server awaits this after routing a read batch, before reading more. No
    /// lock is held while it waits. Needs a Tokio runtime with timers.
    pub async fn stall_wait(&self) {
        if !self.stalling.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut targets = std::mem::take(&mut *self.stalls.lock());
        let waits: Vec<(Arc<Client>, u64)> = targets
            .drain(..)
            .filter(|t| !t.outbound.is_stuck())
            .map(|t| {
                let at = t.outbound.progress();
                (t, at)
            })
            .collect();
        // Keeps the list's capacity for the next stall.
        {
            let mut stalls = self.stalls.lock();
            if stalls.is_empty() {
                *stalls = targets;
            }
        }
        let max_pending = self.shared.limits.max_pending();
        let Some(ttl) = waits
            .iter()
            .map(|(t, _)| stall_duration(t.unsent(), max_pending))
            .max()
        else {
            return;
        };
        let deadline = tokio::time::Instant::now() + ttl;
        for (t, _) in &waits {
            if tokio::time::timeout_at(deadline, t.outbound.unstalled())
                .await
                .is_err()
            {
                tracing::debug!(cid = self.id, "timed out of fast producer stall ({ttl:?})");
                for (t, at) in &waits {
                    if t.outbound.is_stalled() {
                        t.outbound.mark_stuck(*at);
                    }
                }
                break;
            }
        }
    }

    /// Bytes delivered to this session and not yet written (socket) or read (local).
    fn unsent(&self) -> usize {
        self.outbound.unsent_bytes() + self.local_pending.load(Ordering::Relaxed)
    }

    /// Sends the no-responders status to the session's own subscription on `reply`, as
    /// nats-server does: `HMSG <reply> <sid> 16 16` with a `NATS/1.0 503` header.
    fn send_no_responders(&self, reply: Part<'_>) {
        let matches = self.account.sublist.matches(reply.slice());
        let Some(sub) = matches
            .plain
            .iter()
            .find(|s| std::ptr::eq(&*s.0.client, self))
        else {
            return;
        };
        let sub = &sub.0;
        let headers = Bytes::from_static(natter_proto::NO_RESPONDERS_HEADER);
        match &sub.delivery {
            Delivery::Wire => {
                let r = self.outbound.append(|buf| {
                    natter_proto::encode::hmsg(buf, reply.slice(), &sub.sid, None, &headers, b"")
                });
                self.after_append(r);
            }
            Delivery::Channel(tx) => {
                self.send_local(tx, no_responders_message(reply, headers));
            }
            Delivery::Inbox(inbox) => inbox.deliver(no_responders_message(reply, headers)),
        }
    }

    /// Counts and closes a slow consumer. Only the first detection counts.
    pub(crate) fn slow_consumer(&self) {
        if self.close_as(CloseReason::SlowConsumer) {
            self.slow_consumers.fetch_add(1, Ordering::Relaxed);
            self.shared
                .counters
                .slow_consumers
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(cid = self.id, "slow consumer: max_pending exceeded");
        }
    }

    /// Closes the session: closes its outbound, removes all its subscriptions and takes
    /// it out of the router. Idempotent; the first reason is kept.
    pub fn close(&self, reason: CloseReason) {
        self.close_as(reason);
    }

    /// Closes; true for the call that did it.
    fn close_as(&self, reason: CloseReason) -> bool {
        self.outbound.close(reason);
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        let subs = std::mem::take(&mut *self.subs.lock());
        if self.kind == ClientKind::Client && !subs.is_empty() {
            *self.subs_at_close.lock() = subs.values().map(|s| sub_info(s)).collect();
        }
        for sub in subs.values() {
            self.drop_sub(sub);
        }
        self.stalls.lock().clear();
        // Cached results may hold this session's own subscriptions: a cycle otherwise.
        self.traffic.inbound.lock().matches.clear();
        self.shared
            .counters
            .connections
            .fetch_sub(1, Ordering::Relaxed);
        if let Some(reg) = self.registry.upgrade() {
            reg.remove(self.id);
        }
        true
    }

    /// A snapshot for monitoring.
    pub fn stats(&self) -> ClientStats {
        let m = self.meta.lock();
        let (name, lang, version) = (m.name.clone(), m.lang.clone(), m.version.clone());
        drop(m);
        let [in_msgs, in_bytes, out_msgs, out_bytes] = self.traffic.load();
        let last = Duration::from_nanos(self.last_activity.load(Ordering::Relaxed));
        ClientStats {
            cid: self.id,
            kind: self.kind,
            account: self.account.name_arc().clone(),
            host: self.host.clone(),
            port: self.port,
            name,
            lang,
            version,
            start: self.start,
            last_activity: self.start + last,
            in_msgs,
            in_bytes,
            out_msgs,
            out_bytes,
            pending_bytes: self.unsent(),
            subscriptions: self.subscription_count(),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
            closed: self.close_reason(),
        }
    }
}

fn sub_info(s: &Sub) -> SubscriptionInfo {
    SubscriptionInfo {
        sid: s.sid.clone(),
        subject: s.subject.clone(),
        queue: s.queue.clone(),
        delivered: s.delivered(),
        max: Some(s.max()).filter(|m| *m > 0),
    }
}

fn no_responders_message(reply: Part<'_>, headers: Bytes) -> crate::Message {
    crate::Message {
        subject: reply.to_bytes(),
        reply: None,
        headers: Some(headers),
        payload: Bytes::new(),
    }
}

impl Outgoing<'_> {
    /// The message for an in-process subscriber; `with_headers` false strips the header
    /// block (a subscriber that did not ask for headers).
    fn to_message(&self, with_headers: bool) -> crate::Message {
        let full = self.owned.get_or_init(|| crate::Message {
            subject: self.subject.to_bytes(),
            reply: self.reply.map(Part::to_bytes),
            headers: self.headers.map(Part::to_bytes),
            payload: self.payload.to_bytes(),
        });
        let mut m = full.clone();
        if !with_headers {
            m.headers = None;
        }
        m
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let retired = self.shared.counters.sessions.lock().retire(self.id);
        drop(retired);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("account", &self.account.name())
            .field("closed", &self.is_closed())
            .finish()
    }
}
