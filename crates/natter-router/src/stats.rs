use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::matchcache::MatchCache;
use crate::{ClientKind, CloseReason};

/// In/out message and byte counters of one session.
///
/// Bytes are header block plus body, as nats-server counts them; protocol lines are not
/// counted. One per session, on a cache line of its own: the router totals are summed
/// from these when read, so publishers on different cores never write a shared line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Traffic {
    /// Written by whichever session delivers to this one.
    pub(crate) out_msgs: AtomicU64,
    pub(crate) out_bytes: AtomicU64,
    /// The publish side. An in-process publish counts here under the lock it takes
    /// anyway for its match cache; a socket session's reader counts in its `Ingest` and
    /// adds the totals here once per read batch.
    pub(crate) inbound: Mutex<Inbound>,
}

/// What only this session's publishes touch.
#[derive(Default)]
pub(crate) struct Inbound {
    pub(crate) in_msgs: u64,
    pub(crate) in_bytes: u64,
    pub(crate) matches: MatchCache,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("in_msgs", &self.in_msgs)
            .field("in_bytes", &self.in_bytes)
            .finish_non_exhaustive()
    }
}

impl Traffic {
    pub(crate) fn add_out(&self, msgs: u64, bytes: u64) {
        self.out_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.out_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// [`add_out`](Self::add_out) for deliveries to a socket session, made under its
    /// outbound lock and so one at a time: plain loads and stores. Only for socket
    /// sessions: nothing else counts on their out counters. (An in-process session may
    /// also hold wire subscriptions; its counts all use [`add_out`](Self::add_out).)
    pub(crate) fn add_out_serialized(&self, msgs: u64, bytes: u64) {
        let m = self.out_msgs.load(Ordering::Relaxed);
        self.out_msgs.store(m + msgs, Ordering::Relaxed);
        let b = self.out_bytes.load(Ordering::Relaxed);
        self.out_bytes.store(b + bytes, Ordering::Relaxed);
    }

    /// `[in_msgs, in_bytes, out_msgs, out_bytes]`.
    pub(crate) fn load(&self) -> [u64; 4] {
        let inbound = self.inbound.lock();
        let (in_msgs, in_bytes) = (inbound.in_msgs, inbound.in_bytes);
        drop(inbound);
        [
            in_msgs,
            in_bytes,
            self.out_msgs.load(Ordering::Relaxed),
            self.out_bytes.load(Ordering::Relaxed),
        ]
    }
}

/// Router-wide counters.
///
/// Message and byte totals are not kept here: every publish would write the same cache
/// line from every reader thread. They are the sum of the sessions' own counters, plus
/// what sessions already dropped had counted.
#[derive(Debug, Default)]
pub(crate) struct RouterCounters {
    pub(crate) sessions: Mutex<Sessions>,
    pub(crate) slow_consumers: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) total_connections: AtomicU64,
    pub(crate) subscriptions: AtomicU64,
}

/// A snapshot of the router's totals (the numbers `/varz` shows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Messages published by all sessions.
    pub in_msgs: u64,
    /// Header plus body bytes published by all sessions.
    pub in_bytes: u64,
    /// Messages delivered to subscribers.
    pub out_msgs: u64,
    /// Header plus body bytes delivered to subscribers (headers count only where they
    /// were delivered).
    pub out_bytes: u64,
    /// Sessions closed as slow consumers since the router started.
    pub slow_consumers: u64,
    /// Sessions open now.
    pub connections: u64,
    /// Sessions ever registered.
    pub total_connections: u64,
    /// Subscriptions held now, over all accounts.
    pub subscriptions: u64,
}

/// The traffic counters of every session not dropped yet, and the totals of those
/// dropped.
///
/// A session leaves only when its last reference goes, so nothing can count on its
/// counters any more: its totals move to `retired` whole, none lost to a late delivery.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    live: HashMap<u64, Arc<Traffic>>,
    retired: [u64; 4],
}

impl Sessions {
    pub(crate) fn add(&mut self, id: u64, traffic: Arc<Traffic>) {
        self.live.insert(id, traffic);
    }

    /// Moves a dropped session's totals to `retired`. The counters come back so the
    /// caller drops them after unlocking: the match cache inside may hold the last
    /// references to other sessions, whose own drop takes this lock.
    pub(crate) fn retire(&mut self, id: u64) -> Option<Arc<Traffic>> {
        let t = self.live.remove(&id)?;
        for (total, v) in self.retired.iter_mut().zip(t.load()) {
            *total += v;
        }
        Some(t)
    }
}

impl RouterCounters {
    fn totals(&self) -> [u64; 4] {
        // Taken together under the lock, read after it: a session retiring in between
        // counts once, through the copy of its counters held here. The only publish lock
        // taken under this one is a dropped session's (in `retire`), which no publish
        // holds any more; so a publish may drop other sessions while holding its own.
        let sessions = self.sessions.lock();
        let mut sum = sessions.retired;
        let live: Vec<Arc<Traffic>> = sessions.live.values().cloned().collect();
        drop(sessions);
        for t in &live {
            for (total, v) in sum.iter_mut().zip(t.load()) {
                *total += v;
            }
        }
        sum
    }
}

impl RouterCounters {
    pub(crate) fn snapshot(&self) -> RouterStats {
        let [in_msgs, in_bytes, out_msgs, out_bytes] = self.totals();
        RouterStats {
            in_msgs,
            in_bytes,
            out_msgs,
            out_bytes,
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            total_connections: self.total_connections.load(Ordering::Relaxed),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of one session (the numbers `/connz` shows).
#[derive(Debug, Clone)]
pub struct ClientStats {
    /// The session id (nats-server's `cid`), unique within one router.
    pub cid: u64,
    /// What kind of session this is.
    pub kind: ClientKind,
    /// Name of the account the session is bound to.
    pub account: Arc<str>,
    /// Remote host, as given at registration.
    pub host: String,
    /// Remote port, as given at registration.
    pub port: u16,
    /// `name` from CONNECT.
    pub name: Option<String>,
    /// `lang` from CONNECT.
    pub lang: Option<String>,
    /// `version` from CONNECT.
    pub version: Option<String>,
    /// When the session was registered.
    pub start: SystemTime,
    /// Last subscribe, unsubscribe or CONNECT, local publish, or [`Client::touch`] (which
    /// a socket server calls once per read batch instead of per publish).
    ///
    /// [`Client::touch`]: crate::Client::touch
    pub last_activity: SystemTime,
    /// Messages this session published.
    pub in_msgs: u64,
    /// Header plus body bytes this session published.
    pub in_bytes: u64,
    /// Messages delivered to this session.
    pub out_msgs: u64,
    /// Header plus body bytes delivered to this session.
    pub out_bytes: u64,
    /// Bytes waiting to be written to (or read by) this session.
    pub pending_bytes: usize,
    /// Subscriptions the session holds now.
    pub subscriptions: usize,
    /// Times this session was found to be a slow consumer (0 or 1: it is closed then).
    pub slow_consumers: u64,
    /// Why the session was closed, if it was.
    pub closed: Option<CloseReason>,
}

/// One subscription of a session, for monitoring (`/connz?subs=detail`) and the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// The subscription id the client chose.
    pub sid: Bytes,
    /// The subject, possibly with wildcards.
    pub subject: Bytes,
    /// The queue group, if any.
    pub queue: Option<Bytes>,
    /// Messages delivered so far.
    pub delivered: u64,
    /// Auto-unsubscribe limit (`UNSUB sid max`), if set.
    pub max: Option<u64>,
}
