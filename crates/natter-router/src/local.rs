use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use natter_proto::{HeaderMap, ProtoError};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::client::Client;
use crate::sub::{Delivery, Event, Sub};
use crate::{CloseReason, RouterError};

/// Options of an in-process session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// Connection name, shown in monitoring.
    pub name: Option<String>,
    /// Account to join; `None` is the global account.
    pub account: Option<String>,
    /// Receive own messages (default true).
    pub echo: bool,
    /// Receive header blocks (default true). Without it, header blocks are stripped.
    pub headers: bool,
    /// Get a 503 status back when a request reaches nobody (default true).
    pub no_responders: bool,
    /// Prefix of the reply subjects `request` uses (default `_INBOX`).
    pub inbox_prefix: String,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            name: None,
            account: None,
            echo: true,
            headers: true,
            no_responders: true,
            inbox_prefix: "_INBOX".to_string(),
        }
    }
}

/// A message delivered to an in-process subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject it was published on.
    pub subject: Bytes,
    /// The reply subject, if any.
    pub reply: Option<Bytes>,
    /// The raw header block (`NATS/1.0...\r\n\r\n`), if it had one and the session
    /// receives headers.
    pub headers: Option<Bytes>,
    /// The body.
    pub payload: Bytes,
}

impl Message {
    /// The parsed header block, if there is one.
    pub fn header_map(&self) -> Option<Result<HeaderMap, ProtoError>> {
        self.headers.as_deref().map(HeaderMap::parse)
    }

    /// The status code on the header block's first line (`NATS/1.0 503`), if any.
    pub fn status(&self) -> Option<u16> {
        let h = self.headers.as_deref()?;
        let line = h.strip_prefix(b"NATS/1.0")?;
        let end = line.iter().position(|b| *b == b'\r').unwrap_or(line.len());
        let code = line[..end].trim_ascii_start();
        let digits = code
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(code.len());
        std::str::from_utf8(&code[..digits]).ok()?.parse().ok()
    }

    /// Whether this is the server's "no responders" answer to a request.
    pub fn is_no_responders(&self) -> bool {
        self.status() == Some(503) && self.payload.is_empty()
    }

    /// Bytes this message counts against `max_pending` while unread.
    pub(crate) fn pending_size(&self) -> usize {
        self.subject.len()
            + self.reply.as_ref().map_or(0, |r| r.len())
            + self.headers.as_ref().map_or(0, |h| h.len())
            + self.payload.len()
    }
}

/// Why a [`LocalClient::request`] got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// Nobody was subscribed to the subject (the server answered with status 503).
    NoResponders,
    /// No reply arrived within the timeout.
    Timeout,
    /// The request could not be published.
    Router(RouterError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::NoResponders => f.write_str("no responders"),
            RequestError::Timeout => f.write_str("request timed out"),
            RequestError::Router(e) => write!(f, "request failed: {e}"),
        }
    }
}

impl std::error::Error for RequestError {}

impl From<RouterError> for RequestError {
    fn from(e: RouterError) -> Self {
        RequestError::Router(e)
    }
}

/// The reply inbox of one local session: one wildcard subscription for all its
/// requests, each waiting on its own last token, as real clients do.
pub(crate) struct Inbox {
    /// `_INBOX.<random>.`
    prefix: Bytes,
    waiters: Mutex<HashMap<Bytes, oneshot::Sender<Message>>>,
    next: AtomicU64,
}

impl Inbox {
    pub(crate) fn deliver(&self, m: Message) {
        let Some(token) = m.subject.strip_prefix(&self.prefix[..]) else {
            return;
        };
        let waiter = self.waiters.lock().remove(token);
        if let Some(w) = waiter {
            // The requester may have given up in the meantime; a late reply is dropped.
            let _ = w.send(m);
        }
    }
}

/// Removes a request's waiter however the request ends (reply, timeout, cancellation).
struct Waiting<'a> {
    inbox: &'a Inbox,
    token: Bytes,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.inbox.waiters.lock().remove(&self.token);
    }
}

/// An in-process session: publish, subscribe and request without a socket.
///
/// Deliveries follow exactly the rules of socket sessions (echo, headers, queue groups,
/// auto-unsubscribe, slow consumer), since they go through the same code. Dropping it
/// closes it.
pub struct LocalClient {
    client: Arc<Client>,
    next_sid: AtomicU64,
    inbox_prefix: String,
    inbox: Mutex<Option<Arc<Inbox>>>,
}

impl LocalClient {
    pub(crate) fn new(client: Arc<Client>, opts: LocalOptions) -> Self {
        client.set_flags(opts.echo, opts.headers, opts.no_responders);
        client.set_name(opts.name);
        LocalClient {
            client,
            next_sid: AtomicU64::new(1),
            inbox_prefix: opts.inbox_prefix,
            inbox: Mutex::new(None),
        }
    }

    /// The session id.
    pub fn id(&self) -> u64 {
        self.client.id()
    }

    /// The underlying session (stats, account, close reason).
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    fn next_sid(&self) -> Bytes {
        Bytes::from(self.next_sid.fetch_add(1, Ordering::Relaxed).to_string())
    }

    /// Subscribes to `subject` (wildcards allowed).
    pub fn subscribe(&self, subject: impl Into<Bytes>) -> Result<Subscription, RouterError> {
        self.subscribe_inner(subject.into(), None)
    }

    /// Joins queue group `queue` on `subject`: each message goes to one member.
    pub fn queue_subscribe(
        &self,
        subject: impl Into<Bytes>,
        queue: impl Into<Bytes>,
    ) -> Result<Subscription, RouterError> {
        self.subscribe_inner(subject.into(), Some(queue.into()))
    }

    fn subscribe_inner(
        &self,
        subject: Bytes,
        queue: Option<Bytes>,
    ) -> Result<Subscription, RouterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = self
            .client
            .subscribe_with(self.next_sid(), subject, queue, Delivery::Channel(tx))?
            .ok_or(RouterError::Closed)?;
        Ok(Subscription {
            sub,
            rx,
            ended: false,
        })
    }

    /// Publishes `payload` on `subject`.
    pub fn publish(
        &self,
        subject: impl Into<Bytes>,
        payload: impl Into<Bytes>,
    ) -> Result<(), RouterError> {
        self.client
            .publish(&subject.into(), None, None, &payload.into())
    }

    /// Publishes with a reply subject.
    pub fn publish_with_reply(
        &self,
        subject: impl Into<Bytes>,
        reply: impl Into<Bytes>,
        payload: impl Into<Bytes>,
    ) -> Result<(), RouterError> {
        self.client
            .publish(&subject.into(), Some(&reply.into()), None, &payload.into())
    }

    /// Publishes with headers.
    pub fn publish_with_headers(
        &self,
        subject: impl Into<Bytes>,
        headers: &HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), RouterError> {
        let mut block = BytesMut::new();
        headers.encode(&mut block);
        self.client.publish(
            &subject.into(),
            None,
            Some(&block.freeze()),
            &payload.into(),
        )
    }

    /// Publishes a whole [`Message`] (subject, reply, raw header block, body).
    pub fn publish_message(&self, m: &Message) -> Result<(), RouterError> {
        self.client
            .publish(&m.subject, m.reply.as_ref(), m.headers.as_ref(), &m.payload)
    }

    /// Publishes a request and waits up to `timeout` for the first reply.
    ///
    /// Replies come through one `<inbox_prefix>.<random>.*` subscription per session.
    pub async fn request(
        &self,
        subject: impl Into<Bytes>,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let inbox = self.inbox()?;
        let n = inbox.next.fetch_add(1, Ordering::Relaxed);
        let token = Bytes::from(n.to_string());
        let mut reply = BytesMut::with_capacity(inbox.prefix.len() + token.len());
        reply.put_slice(&inbox.prefix);
        reply.put_slice(&token);
        let reply = reply.freeze();
        let (tx, rx) = oneshot::channel();
        inbox.waiters.lock().insert(token.clone(), tx);
        let _waiting = Waiting {
            inbox: &inbox,
            token,
        };
        self.client
            .publish(&subject.into(), Some(&reply), None, &payload.into())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(m)) if m.is_no_responders() => Err(RequestError::NoResponders),
            Ok(Ok(m)) => Ok(m),
            // The inbox went away with the session.
            Ok(Err(_)) => Err(RequestError::Router(RouterError::Closed)),
            Err(_) => Err(RequestError::Timeout),
        }
    }

    fn inbox(&self) -> Result<Arc<Inbox>, RouterError> {
        let mut slot = self.inbox.lock();
        if let Some(i) = slot.as_ref() {
            return Ok(i.clone());
        }
        let mut prefix = BytesMut::new();
        prefix.put_slice(self.inbox_prefix.as_bytes());
        prefix.put_u8(b'.');
        prefix.put_slice(random_token().as_bytes());
        prefix.put_u8(b'.');
        let inbox = Arc::new(Inbox {
            prefix: prefix.freeze(),
            waiters: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        });
        let mut subject = BytesMut::from(&inbox.prefix[..]);
        subject.put_u8(b'*');
        self.client.subscribe_with(
            self.next_sid(),
            subject.freeze(),
            None,
            Delivery::Inbox(inbox.clone()),
        )?;
        *slot = Some(inbox.clone());
        Ok(inbox)
    }

    /// Resolves once everything published before it has been routed, and subscribers
    /// those publishes left more than half full had a bounded chance to catch up.
    ///
    /// Routing is inline in `publish`, which never waits. A fast producer that awaits
    /// `flush` now and then is held back the way nats-server holds back a socket
    /// publisher (see [`Client::stall_wait`]): at most 1 s per call, and not at all when
    /// every subscriber keeps up. Needs a Tokio runtime with timers only when it waits.
    pub async fn flush(&self) -> Result<(), RouterError> {
        if self.client.is_closed() {
            return Err(RouterError::Closed);
        }
        self.client.stall_wait().await;
        Ok(())
    }

    /// Closes the session and removes its subscriptions; their streams end.
    pub fn close(&self) {
        self.client.close(CloseReason::ClientClosed);
    }

    /// Whether the session is closed (by `close`, or as a slow consumer).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for LocalClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalClient")
            .field("client", &self.client)
            .finish()
    }
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22)
        .map(|_| ALPHABET[crate::rng::below(ALPHABET.len())] as char)
        .collect()
}

/// The messages of one in-process subscription. Dropping it unsubscribes.
pub struct Subscription {
    sub: Arc<Sub>,
    rx: mpsc::UnboundedReceiver<Event>,
    ended: bool,
}

impl Subscription {
    /// The next message; `None` once the subscription is gone (unsubscribed,
    /// auto-unsubscribe limit reached, or session closed) and everything before that
    /// was read.
    pub async fn next(&mut self) -> Option<Message> {
        if self.ended {
            return None;
        }
        let ev = self.rx.recv().await;
        self.on_event(ev)
    }

    /// The next message if one is already waiting.
    pub fn try_next(&mut self) -> Option<Message> {
        if self.ended {
            return None;
        }
        let ev = self.rx.try_recv().ok();
        match ev {
            Some(ev) => self.on_event(Some(ev)),
            None => None,
        }
    }

    fn on_event(&mut self, ev: Option<Event>) -> Option<Message> {
        match ev {
            Some(Event::Msg(m)) => {
                self.sub.client.consumed(m.pending_size());
                Some(m)
            }
            Some(Event::End) | None => {
                self.ended = true;
                // Messages that raced in after the end still hold pending bytes.
                while let Ok(ev) = self.rx.try_recv() {
                    if let Event::Msg(m) = ev {
                        self.sub.client.consumed(m.pending_size());
                    }
                }
                None
            }
        }
    }

    /// The subscription id.
    pub fn sid(&self) -> &Bytes {
        &self.sub.sid
    }

    /// The subject subscribed to.
    pub fn subject(&self) -> &Bytes {
        &self.sub.subject
    }

    /// The queue group, if any.
    pub fn queue(&self) -> Option<&Bytes> {
        self.sub.queue.as_ref()
    }

    /// Messages delivered to this subscription so far.
    pub fn delivered(&self) -> u64 {
        self.sub.delivered()
    }

    /// Ends the subscription after `max` deliveries in total (at once if it already had
    /// that many), as `UNSUB sid max`.
    pub fn unsubscribe_after(&self, max: u64) -> Result<(), RouterError> {
        self.sub.client.unsubscribe(&self.sub.sid, Some(max))
    }

    /// Ends the subscription now. Messages already queued can still be read.
    pub fn unsubscribe(&self) {
        self.sub.client.remove_sub(&self.sub);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.sub.client.remove_sub(&self.sub);
        while let Ok(ev) = self.rx.try_recv() {
            if let Event::Msg(m) = ev {
                self.sub.client.consumed(m.pending_size());
            }
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("sid", &self.sub.sid)
            .field("subject", &self.sub.subject)
            .field("queue", &self.sub.queue)
            .finish()
    }
}
