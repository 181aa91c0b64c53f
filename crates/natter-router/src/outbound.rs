use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::client::Client;
use crate::options::{over_limit, Limits};
use crate::CloseReason;

/// The outbound byte buffer of one socket session.
///
/// Publishers (on any thread) append encoded frames; the connection's writer task waits
/// on [`ready`](Outbound::ready), then [`take`](Outbound::take)s everything at once and
/// writes it with as few syscalls as it can. The writer is woken only when the buffer
/// goes from empty to non-empty, so a burst of messages costs one wake.
pub struct Outbound {
    state: Mutex<State>,
    /// Mirrors `state.buf.len()` so monitoring and `ready` need no lock.
    pending: AtomicUsize,
    closed: AtomicBool,
    notify: Notify,
    limits: Arc<Limits>,
    /// The session to close when a `push` makes it a slow consumer.
    owner: Weak<Client>,
}

struct State {
    buf: BytesMut,
    reason: Option<CloseReason>,
}

/// What happened to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Append {
    Queued,
    Closed,
    /// The frame would have taken pending bytes over `max_pending`: it was dropped and the
    /// outbound is now closed with [`CloseReason::SlowConsumer`].
    SlowConsumer,
}

impl Outbound {
    pub(crate) fn new(limits: Arc<Limits>, owner: Weak<Client>) -> Self {
        Outbound {
            state: Mutex::new(State {
                buf: BytesMut::new(),
                reason: None,
            }),
            pending: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            notify: Notify::new(),
            limits,
            owner,
        }
    }

    /// Appends whatever `f` writes (INFO, PONG, `+OK`, `-ERR`...) and wakes the writer.
    ///
    /// Returns false if the outbound is closed, or if these bytes made the session a slow
    /// consumer (they are dropped and the session is closed).
    pub fn push(&self, f: impl FnOnce(&mut BytesMut)) -> bool {
        match self.append(f) {
            Append::Queued => true,
            Append::Closed => false,
            Append::SlowConsumer => {
                if let Some(client) = self.owner.upgrade() {
                    client.slow_consumer();
                }
                false
            }
        }
    }

    /// The publish path's append: the caller handles a slow consumer itself.
    pub(crate) fn append(&self, f: impl FnOnce(&mut BytesMut)) -> Append {
        let mut st = self.state.lock();
        if st.reason.is_some() {
            return Append::Closed;
        }
        let before = st.buf.len();
        f(&mut st.buf);
        let after = st.buf.len();
        if over_limit(after, self.limits.max_pending()) {
            st.buf.truncate(before);
            st.reason = Some(CloseReason::SlowConsumer);
            self.closed.store(true, Ordering::Release);
            drop(st);
            self.notify.notify_one();
            return Append::SlowConsumer;
        }
        self.pending.store(after, Ordering::Release);
        drop(st);
        if before == 0 && after > 0 {
            self.notify.notify_one();
        }
        Append::Queued
    }

    /// Resolves when there are bytes to write or the outbound was closed.
    ///
    /// Cancel safe. Meant for a single writer task.
    pub async fn ready(&self) {
        loop {
            // Created before the check: a push between the check and the await still
            // leaves a permit, so the wake cannot be lost.
            let notified = self.notify.notified();
            if self.pending.load(Ordering::Acquire) > 0 || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Moves everything pending into `into` (appending if `into` is not empty).
    ///
    /// When `into` is empty the two buffers are swapped, so nothing is copied and the
    /// writer's spare capacity is reused for the next batch. Still works after close, so
    /// a graceful shutdown can flush what is left.
    pub fn take(&self, into: &mut BytesMut) {
        let mut st = self.state.lock();
        if into.is_empty() {
            std::mem::swap(into, &mut st.buf);
        } else {
            into.extend_from_slice(&st.buf);
            st.buf.clear();
        }
        self.pending.store(0, Ordering::Release);
    }

    /// Bytes waiting for the writer.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Whether the outbound was closed; nothing more will be queued.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Why the outbound was closed, if it was.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.state.lock().reason
    }

    /// Closes the outbound (first reason wins) and wakes the writer so it can finish.
    pub(crate) fn close(&self, reason: CloseReason) {
        let mut st = self.state.lock();
        if st.reason.is_none() {
            st.reason = Some(reason);
        }
        self.closed.store(true, Ordering::Release);
        drop(st);
        self.notify.notify_one();
    }
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("pending", &self.pending_bytes())
            .field("closed", &self.is_closed())
            .finish()
    }
}
