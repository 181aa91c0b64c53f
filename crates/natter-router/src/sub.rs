use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::local::{Inbox, Message};

/// Where a subscription's messages go. One variant per session kind.
///
/// A mesh route will add a variant that encodes `RMSG` into the route's outbound.
pub(crate) enum Delivery {
    /// Encoded as `MSG` / `HMSG` frames into the session's [`Outbound`](crate::Outbound).
    Wire,
    /// Sent whole through the channel a [`Subscription`](crate::Subscription) reads.
    Channel(mpsc::UnboundedSender<Event>),
    /// The reply inbox of a [`LocalClient`](crate::LocalClient): handed to the request
    /// waiting on the last subject token.
    Inbox(Arc<Inbox>),
}

/// What a [`Delivery::Channel`] carries.
pub(crate) enum Event {
    Msg(Message),
    /// The subscription was removed: no more messages will follow.
    End,
}

/// One subscription of one session.
pub(crate) struct Sub {
    pub(crate) client: Arc<Client>,
    pub(crate) sid: Bytes,
    pub(crate) subject: Bytes,
    pub(crate) queue: Option<Bytes>,
    pub(crate) delivery: Delivery,
    delivered: AtomicU64,
    /// Auto-unsubscribe limit; 0 means none.
    max: AtomicU64,
    removed: AtomicBool,
}

impl Sub {
    pub(crate) fn new(
        client: Arc<Client>,
        sid: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
        delivery: Delivery,
    ) -> Self {
        Sub {
            client,
            sid,
            subject,
            queue,
            delivery,
            delivered: AtomicU64::new(0),
            max: AtomicU64::new(0),
            removed: AtomicBool::new(false),
        }
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Counts one delivery attempt and returns the new total.
    pub(crate) fn count_delivery(&self) -> u64 {
        self.delivered.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// [`count_delivery`](Self::count_delivery) for a caller that holds the lock every
    /// delivery to this subscription takes (a wire subscription's outbound lock): a plain
    /// load and store, no read-modify-write.
    pub(crate) fn count_delivery_serialized(&self) -> u64 {
        let n = self.delivered.load(Ordering::Acquire) + 1;
        self.delivered.store(n, Ordering::Release);
        n
    }

    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Acquire)
    }

    pub(crate) fn set_max(&self, max: u64) {
        self.max.store(max, Ordering::Release);
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Marks the subscription removed; true for the caller that did it first.
    pub(crate) fn mark_removed(&self) -> bool {
        !self.removed.swap(true, Ordering::AcqRel)
    }
}

/// The value stored in an account's sublist: identity is the subscription itself.
#[derive(Clone)]
pub(crate) struct SubRef(pub(crate) Arc<Sub>);

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SubRef {}

impl Hash for SubRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state);
    }
}
