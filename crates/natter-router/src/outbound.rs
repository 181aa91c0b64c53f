use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::client::Client;
use crate::options::{over_limit, Limits};
use crate::stall::stall_threshold;
use crate::CloseReason;

/// The outbound byte buffer of one socket session.
///
/// Publishers (on any thread) append encoded frames; the connection's writer task waits
/// on [`ready`](Outbound::ready), then [`take`](Outbound::take)s everything at once and
/// writes it with as few syscalls as it can, reporting progress with
/// [`written`](Outbound::written). The writer is woken only when the buffer goes from
/// empty to non-empty, so a burst of messages costs one wake.
///
/// Bytes count against `max_pending` until they are written, as in nats-server: queued
/// ones and the ones the writer took but has not written yet. Past half of `max_pending`
/// the outbound is *stalled*: publishers that fed it wait a moment (see
/// [`Client::stall_wait`]) until the writer brings it back under that mark.
pub struct Outbound {
    state: Mutex<State>,
    /// Mirrors `state.buf.len()` so `ready` needs no lock.
    pending: AtomicUsize,
    /// Mirrors `state.buf.len() + state.in_flight` for monitoring.
    unsent: AtomicUsize,
    closed: AtomicBool,
    /// Mirrors `state.stalled` so the publish path checks it without the lock.
    stalled: AtomicBool,
    notify: Notify,
    /// Wakes publishers waiting for this outbound to leave the stalled state.
    drained: Notify,
    /// Bytes ever written (socket) or read (local): tells a stuck session from a slow one.
    progress: AtomicU64,
    /// `progress` when a stall wait on this session timed out without it moving at all;
    /// publishers do not wait for it again until it moves. `u64::MAX`: never.
    stuck_at: AtomicU64,
    limits: Arc<Limits>,
    /// The session to close when a `push` makes it a slow consumer.
    owner: Weak<Client>,
}

struct State {
    buf: BytesMut,
    /// Bytes the writer took and has not reported written.
    in_flight: usize,
    stalled: bool,
    reason: Option<CloseReason>,
}

/// What happened to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Append {
    Queued,
    Closed,
    /// The writer given to [`Outbound::append_if`] wrote nothing.
    Declined,
    /// The frame would have taken pending bytes over `max_pending`: it was dropped and the
    /// outbound is now closed with [`CloseReason::SlowConsumer`].
    SlowConsumer,
}

impl Outbound {
    pub(crate) fn new(limits: Arc<Limits>, owner: Weak<Client>) -> Self {
        Outbound {
            state: Mutex::new(State {
                buf: BytesMut::new(),
                in_flight: 0,
                stalled: false,
                reason: None,
            }),
            pending: AtomicUsize::new(0),
            unsent: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            notify: Notify::new(),
            drained: Notify::new(),
            progress: AtomicU64::new(0),
            stuck_at: AtomicU64::new(u64::MAX),
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
            Append::Closed | Append::Declined => false,
            Append::SlowConsumer => {
                if let Some(client) = self.owner.upgrade() {
                    client.slow_consumer();
                }
                false
            }
        }
    }

    /// Runs `f` under this outbound's lock: excludes the deliveries [`append_if`]
    /// counts there.
    ///
    /// [`append_if`]: Outbound::append_if
    pub(crate) fn locked<R>(&self, f: impl FnOnce() -> R) -> R {
        let _state = self.state.lock();
        f()
    }

    /// Appends what `f` writes; the caller handles a slow consumer itself.
    pub(crate) fn append(&self, f: impl FnOnce(&mut BytesMut)) -> Append {
        self.append_if(
            |buf| {
                f(buf);
                true
            },
            || {},
        )
    }

    /// The publish path's append. `f` writes one message, or declines by returning false;
    /// `queued` runs once the message is accepted. Both run under this outbound's lock, so
    /// whatever they count for the session is counted one delivery at a time without
    /// atomic read-modify-writes (as nats-server counts under the subscriber's lock).
    pub(crate) fn append_if(
        &self,
        f: impl FnOnce(&mut BytesMut) -> bool,
        queued: impl FnOnce(),
    ) -> Append {
        let mut st = self.state.lock();
        if st.reason.is_some() {
            return Append::Closed;
        }
        let before = st.buf.len();
        if !f(&mut st.buf) {
            return Append::Declined;
        }
        let after = st.buf.len();
        let unsent = after + st.in_flight;
        let max_pending = self.limits.max_pending();
        if over_limit(unsent, max_pending) {
            st.reason = Some(CloseReason::SlowConsumer);
            self.discard(&mut st);
            st.stalled = false;
            self.stalled.store(false, Ordering::Release);
            self.closed.store(true, Ordering::Release);
            drop(st);
            self.notify.notify_one();
            self.drained.notify_waiters();
            return Append::SlowConsumer;
        }
        if !st.stalled && stall_threshold(max_pending).is_some_and(|t| unsent > t) {
            st.stalled = true;
            self.stalled.store(true, Ordering::Release);
        }
        self.pending.store(after, Ordering::Release);
        self.unsent.store(unsent, Ordering::Relaxed);
        queued();
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
    ///
    /// All of `into` then counts as in flight (still against `max_pending`) until the
    /// writer reports it with [`written`](Outbound::written).
    pub fn take(&self, into: &mut BytesMut) {
        let mut st = self.state.lock();
        if into.is_empty() {
            std::mem::swap(into, &mut st.buf);
        } else {
            into.extend_from_slice(&st.buf);
            st.buf.clear();
        }
        st.in_flight = into.len();
        self.pending.store(0, Ordering::Release);
        self.unsent.store(st.in_flight, Ordering::Relaxed);
    }

    /// The writer wrote `n` more of the bytes it took to the socket.
    ///
    /// Once the unwritten bytes are back under half of `max_pending`, publishers held
    /// back by this outbound go on.
    pub fn written(&self, n: usize) {
        let mut st = self.state.lock();
        st.in_flight = st.in_flight.saturating_sub(n);
        self.advanced(n);
        let unsent = st.buf.len() + st.in_flight;
        self.unsent.store(unsent, Ordering::Relaxed);
        if st.stalled && stall_threshold(self.limits.max_pending()).is_none_or(|t| unsent <= t) {
            st.stalled = false;
            self.stalled.store(false, Ordering::Release);
            drop(st);
            self.drained.notify_waiters();
        }
    }

    /// Bytes waiting for the writer (not yet taken).
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Bytes not written to the socket yet: waiting, plus taken by the writer and not
    /// reported [`written`](Outbound::written). This is what counts against
    /// `max_pending`, and what nats-server reports as a connection's pending bytes.
    pub fn unsent_bytes(&self) -> usize {
        self.unsent.load(Ordering::Relaxed)
    }

    /// Whether the unwritten bytes passed half of `max_pending`, so publishers feeding
    /// this outbound should hold back for a moment.
    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    /// Resolves once the outbound is no longer stalled, or is closed.
    ///
    /// Never resolves while it stays stalled: callers bound the wait.
    pub async fn unstalled(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the check: a release between the check and the await
            // still wakes this waiter.
            notified.as_mut().enable();
            if !self.is_stalled() || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Counts `n` bytes delivered for good (written, or read by a local subscription).
    pub(crate) fn advanced(&self, n: usize) {
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// A stall wait timed out while nothing at all moved since `progress` was `at`.
    pub(crate) fn mark_stuck(&self, at: u64) {
        if self.progress() == at {
            self.stuck_at.store(at, Ordering::Relaxed);
        }
    }

    /// Whether nothing moved since a stall wait on this session timed out: waiting for it
    /// again would only slow the publisher down until it becomes a slow consumer.
    pub(crate) fn is_stuck(&self) -> bool {
        self.stuck_at.load(Ordering::Relaxed) == self.progress()
    }

    /// Marks a local session's channel backlog as stalled or not; `level` is read under
    /// the lock so a concurrent reader cannot leave it stalled after catching up.
    pub(crate) fn set_local_stall(&self, level: impl FnOnce() -> usize) {
        let mut st = self.state.lock();
        if st.reason.is_some() {
            return;
        }
        let stalled = stall_threshold(self.limits.max_pending()).is_some_and(|t| level() > t);
        if stalled == st.stalled {
            return;
        }
        st.stalled = stalled;
        self.stalled.store(stalled, Ordering::Release);
        drop(st);
        if !stalled {
            self.drained.notify_waiters();
        }
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
        if st.reason.is_some_and(|r| r.skips_flush()) {
            self.discard(&mut st);
        }
        st.stalled = false;
        self.stalled.store(false, Ordering::Release);
        self.closed.store(true, Ordering::Release);
        drop(st);
        self.notify.notify_one();
        // Nobody needs to wait for a closed session to catch up.
        self.drained.notify_waiters();
    }

    /// Frees everything queued for a session whose unsent bytes will never be written.
    /// Publishers' match caches may keep the session alive for a while after it closed;
    /// without this, each such slow consumer would pin up to `max_pending` bytes.
    fn discard(&self, st: &mut State) {
        st.buf = BytesMut::new();
        st.in_flight = 0;
        self.pending.store(0, Ordering::Release);
        self.unsent.store(0, Ordering::Relaxed);
    }

    /// Resolves once the outbound is closed for a reason that drops what is unsent
    /// (slow consumer, read or write error), as nats-server skips the final flush then.
    ///
    /// Meant for the writer while a write is in progress; it shares the writer's wake, so
    /// it must not run at the same time as [`ready`](Outbound::ready).
    pub async fn abandoned(&self) -> CloseReason {
        loop {
            let notified = self.notify.notified();
            if self.is_closed() {
                if let Some(reason) = self.close_reason().filter(CloseReason::skips_flush) {
                    return reason;
                }
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("pending", &self.pending_bytes())
            .field("unsent", &self.unsent_bytes())
            .field("stalled", &self.is_stalled())
            .field("closed", &self.is_closed())
            .finish()
    }
}
