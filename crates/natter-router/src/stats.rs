use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::{ClientKind, CloseReason};

/// In/out message and byte counters, relaxed atomics.
///
/// Bytes are header block plus body, as nats-server counts them; protocol lines are not
/// counted.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub(crate) in_msgs: AtomicU64,
    pub(crate) in_bytes: AtomicU64,
    pub(crate) out_msgs: AtomicU64,
    pub(crate) out_bytes: AtomicU64,
}

impl Traffic {
    pub(crate) fn add_in(&self, bytes: usize) {
        self.in_msgs.fetch_add(1, Ordering::Relaxed);
        self.in_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_out(&self, msgs: u64, bytes: u64) {
        self.out_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.out_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Router-wide counters.
#[derive(Debug, Default)]
pub(crate) struct RouterCounters {
    pub(crate) traffic: Traffic,
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

impl RouterCounters {
    pub(crate) fn snapshot(&self) -> RouterStats {
        let t = &self.traffic;
        RouterStats {
            in_msgs: t.in_msgs.load(Ordering::Relaxed),
            in_bytes: t.in_bytes.load(Ordering::Relaxed),
            out_msgs: t.out_msgs.load(Ordering::Relaxed),
            out_bytes: t.out_bytes.load(Ordering::Relaxed),
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
    /// Last publish, subscribe or unsubscribe.
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
