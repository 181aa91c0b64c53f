use std::sync::atomic::{AtomicUsize, Ordering};

/// Limits the router enforces on every session.
///
/// Read on the publish path through relaxed atomics, so [`Router::set_options`]
/// takes effect for existing sessions at once.
///
/// [`Router::set_options`]: crate::Router::set_options
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOptions {
    /// Largest message (header block plus body) a session may publish, in bytes.
    /// 0 means no limit. Default 1 MiB, as nats-server.
    pub max_payload: usize,
    /// Largest number of bytes that may wait for one session before it is closed as a
    /// slow consumer. 0 means no limit. Default 64 MiB, as nats-server.
    pub max_pending: usize,
    /// Most subscriptions one session may hold. 0 means no limit (the default).
    pub max_subscriptions: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            max_payload: 1024 * 1024,
            max_pending: 64 * 1024 * 1024,
            max_subscriptions: 0,
        }
    }
}

/// The live copy of [`RouterOptions`]: atomics so the hot path never takes a lock.
#[derive(Debug)]
pub(crate) struct Limits {
    max_payload: AtomicUsize,
    max_pending: AtomicUsize,
    max_subscriptions: AtomicUsize,
}

impl Limits {
    pub(crate) fn new(o: &RouterOptions) -> Self {
        let l = Limits {
            max_payload: AtomicUsize::new(0),
            max_pending: AtomicUsize::new(0),
            max_subscriptions: AtomicUsize::new(0),
        };
        l.store(o);
        l
    }

    pub(crate) fn store(&self, o: &RouterOptions) {
        self.max_payload.store(o.max_payload, Ordering::Relaxed);
        self.max_pending.store(o.max_pending, Ordering::Relaxed);
        self.max_subscriptions
            .store(o.max_subscriptions, Ordering::Relaxed);
    }

    pub(crate) fn load(&self) -> RouterOptions {
        RouterOptions {
            max_payload: self.max_payload(),
            max_pending: self.max_pending(),
            max_subscriptions: self.max_subscriptions(),
        }
    }

    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload.load(Ordering::Relaxed)
    }

    pub(crate) fn max_pending(&self) -> usize {
        self.max_pending.load(Ordering::Relaxed)
    }

    pub(crate) fn max_subscriptions(&self) -> usize {
        self.max_subscriptions.load(Ordering::Relaxed)
    }
}

/// True when `pending` bytes break a `limit` (0 = unlimited).
pub(crate) fn over_limit(pending: usize, limit: usize) -> bool {
    limit != 0 && pending > limit
}
