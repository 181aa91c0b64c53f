//! One client connection: a reader that parses and routes inline, and a writer that drains
//! the outbound buffer.
//!
//! The reader pays for routing (as in nats-server), so a fast publisher is slowed by its own
//! fan-out, never by other connections. The writer takes everything pending in one swap and
//! writes it with one `write_all`, many messages per syscall.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use natter_proto::{encode, ClientOp, ClientParser, Connect, ProtoError};
use natter_router::{Client, CloseReason, RouterError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::{sleep, timeout, Instant};

use crate::server::{ConnSettings, Shared, State};

/// nats-server sends the first PING early so a dead peer is noticed soon after connecting.
const FIRST_PING_MAX: Duration = Duration::from_secs(2);
const READ_MIN: usize = 4 * 1024;
const READ_MAX: usize = 64 * 1024;

/// Liveness bookkeeping shared by the reader (PONGs, input) and the writer (PING timer).
#[derive(Default)]
struct Liveness {
    pings_out: AtomicU32,
    had_input: AtomicBool,
    got_pong: AtomicBool,
}

/// Runs one accepted connection to completion.
pub(crate) async fn run(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let settings = shared.settings();
    let client = shared.register_client(peer);
    let cid = client.id();
    tracing::debug!("{peer} - cid:{cid} - Client connection created");
    client
        .outbound()
        .push(|b| settings.info.encode_for(b, cid, peer, false));
    if settings.trace {
        tracing::trace!("{peer} - cid:{cid} - ->> [INFO]");
    }

    let (rd, wr) = stream.into_split();
    let liveness = Arc::new(Liveness::default());
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let writer = tokio::spawn(write_loop(
        wr,
        client.clone(),
        liveness.clone(),
        settings.clone(),
        done_tx,
    ));

    let mut reader = Reader {
        client: client.clone(),
        settings: settings.clone(),
        liveness,
        peer,
        connected: false,
        // nats-server applies the CONNECT defaults to a client that never sent one.
        verbose: true,
        pedantic: true,
        async_info: false,
        first_pong_sent: false,
        ldm_sent: false,
    };
    let state_rx = shared.state_receiver();
    let reason = reader.read_loop(rd, done_rx, state_rx).await;
    client.close(reason);
    let _ = writer.await;
    shared.unregister_client(cid);
    let reason = client.outbound().close_reason().unwrap_or(reason);
    tracing::debug!("{peer} - cid:{cid} - Client connection closed: {}", reason);
}

/// Rejects a connection over `max_connections` the way nats-server does: INFO, then the error,
/// then close.
pub(crate) async fn reject(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let settings = shared.settings();
    let mut buf = BytesMut::with_capacity(512);
    settings.info.encode_for(&mut buf, 0, peer, false);
    let err = ProtoError::MaxConnectionsExceeded;
    encode::err(&mut buf, err.err_text());
    tracing::error!("{peer} - {}", err.err_text().trim_matches('\''));
    let _ = timeout(settings.write_deadline, async {
        let _ = stream.write_all(&buf).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

struct Reader {
    client: Arc<Client>,
    settings: Arc<ConnSettings>,
    liveness: Arc<Liveness>,
    peer: SocketAddr,
    connected: bool,
    verbose: bool,
    pedantic: bool,
    /// The client understands INFO updates after the handshake (CONNECT `protocol` >= 1).
    async_info: bool,
    first_pong_sent: bool,
    ldm_sent: bool,
}

impl Reader {
    async fn read_loop(
        &mut self,
        mut rd: OwnedReadHalf,
        mut writer_done: oneshot::Receiver<()>,
        mut state: watch::Receiver<State>,
    ) -> CloseReason {
        let mut parser = ClientParser::new(self.settings.limits);
        let mut buf = BytesMut::with_capacity(READ_MIN);
        let mut read_size = READ_MIN;
        let auth_deadline = self
            .settings
            .auth
            .required()
            .then(|| Instant::now() + self.settings.auth_timeout);
        let auth_timer = sleep(self.settings.auth_timeout);
        tokio::pin!(auth_timer);

        // A lame duck or shutdown that began before this connection got going still applies.
        if let Some(reason) = self.on_state(*state.borrow_and_update()) {
            return reason;
        }
        loop {
            if let Some(reason) = self.process(&mut parser, &mut buf) {
                return reason;
            }
            if buf.capacity() - buf.len() < READ_MIN {
                buf.reserve(read_size);
            }
            let spare = buf.capacity() - buf.len();
            tokio::select! {
                biased;
                _ = &mut writer_done => {
                    return self.client.outbound().close_reason().unwrap_or(CloseReason::WriteError);
                }
                changed = state.changed() => {
                    let s = if changed.is_ok() { *state.borrow_and_update() } else { State::Shutdown };
                    if let Some(reason) = self.on_state(s) {
                        return reason;
                    }
                }
                _ = &mut auth_timer, if auth_deadline.is_some() && !self.connected => {
                    tracing::error!("{} - cid:{} - authentication timeout", self.peer, self.client.id());
                    return self.fail(ProtoError::AuthenticationTimeout, CloseReason::AuthTimeout);
                }
                r = rd.read_buf(&mut buf) => match r {
                    Ok(0) => return CloseReason::ClientClosed,
                    Ok(n) => {
                        self.liveness.had_input.store(true, Ordering::Relaxed);
                        if n == spare && read_size < READ_MAX {
                            read_size *= 2;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("{} - cid:{} - read error: {e}", self.peer, self.client.id());
                        return CloseReason::ReadError;
                    }
                },
            }
        }
    }

    /// Decodes and handles every complete op in `buf`. `Some` when the connection must close.
    fn process(&mut self, parser: &mut ClientParser, buf: &mut BytesMut) -> Option<CloseReason> {
        loop {
            let before = buf.len();
            match parser.decode(buf) {
                Ok(Some(op)) => {
                    if let Some(reason) = self.handle(op) {
                        return Some(reason);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    self.log_parse_error(&e);
                    // A non-closing error that consumed nothing would spin forever.
                    let stuck = buf.len() == before;
                    if e.closes_connection() || stuck {
                        let reason = match e {
                            ProtoError::MaxPayload => CloseReason::MaxPayload,
                            ProtoError::MaxControlLine => CloseReason::MaxControlLine,
                            _ => CloseReason::ProtocolError,
                        };
                        return Some(self.fail(e, reason));
                    }
                    self.send_err(&e);
                }
            }
        }
    }

    fn on_state(&mut self, state: State) -> Option<CloseReason> {
        match state {
            State::Running => None,
            State::LameDuck => {
                self.send_ldm_info();
                None
            }
            State::Shutdown => Some(CloseReason::ServerShutdown),
        }
    }

    fn send_ldm_info(&mut self) {
        if self.ldm_sent || !self.async_info || !self.first_pong_sent {
            return;
        }
        self.ldm_sent = true;
        let (cid, peer, settings) = (self.client.id(), self.peer, &self.settings);
        self.client
            .outbound()
            .push(|b| settings.info.encode_for(b, cid, peer, true));
    }

    fn handle(&mut self, op: ClientOp) -> Option<CloseReason> {
        if self.settings.trace {
            self.trace_in(&op);
        }
        if !self.connected
            && self.settings.auth.required()
            && !self.settings.auth.allows_anonymous()
            && !matches!(op, ClientOp::Connect(_))
        {
            tracing::error!(
                "{} - cid:{} - authentication error",
                self.peer,
                self.client.id()
            );
            return Some(self.fail(
                ProtoError::AuthorizationViolation,
                CloseReason::AuthViolation,
            ));
        }
        match op {
            ClientOp::Connect(c) => return self.connect(&c),
            ClientOp::Ping => {
                self.push_traced("PONG", encode::pong);
                if self.connected {
                    self.first_pong_sent = true;
                }
            }
            ClientOp::Pong => {
                self.liveness.pings_out.store(0, Ordering::Relaxed);
                self.liveness.got_pong.store(true, Ordering::Relaxed);
            }
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => self.publish(&subject, reply.as_ref(), None, &payload),
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => {
                if !self.client.headers() {
                    tracing::error!(
                        "{} - cid:{} - message headers not supported",
                        self.peer,
                        self.client.id()
                    );
                    return Some(
                        self.fail(ProtoError::HeadersNotSupported, CloseReason::ProtocolError),
                    );
                }
                self.publish(&subject, reply.as_ref(), Some(&headers), &payload)
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => match self.client.subscribe(sid, subject, queue) {
                Ok(()) => self.ok(),
                Err(e) => self.router_err(e),
            },
            ClientOp::Unsub { sid, max } => match self.client.unsubscribe(&sid, max) {
                Ok(()) => self.ok(),
                Err(e) => self.router_err(e),
            },
            #[allow(unreachable_patterns)]
            _ => {}
        }
        None
    }

    fn connect(&mut self, c: &Connect) -> Option<CloseReason> {
        let refused = if !(0..=1).contains(&c.protocol) {
            Some(ProtoError::InvalidClientProtocol)
        } else if c.no_responders && !c.headers {
            Some(ProtoError::NoRespondersRequiresHeaders)
        } else {
            None
        };
        if let Some(e) = refused {
            tracing::error!("{} - cid:{} - {e}", self.peer, self.client.id());
            return Some(self.fail(e, CloseReason::ProtocolError));
        }
        if !self.settings.auth.check(c) {
            tracing::error!(
                "{} - cid:{} - authentication error",
                self.peer,
                self.client.id()
            );
            return Some(self.fail(
                ProtoError::AuthorizationViolation,
                CloseReason::AuthViolation,
            ));
        }
        self.client.set_connect(c);
        self.connected = true;
        self.verbose = c.verbose;
        self.pedantic = c.pedantic;
        self.async_info = c.protocol >= 1;
        self.ok();
        None
    }

    fn publish(
        &mut self,
        subject: &Bytes,
        reply: Option<&Bytes>,
        headers: Option<&Bytes>,
        payload: &Bytes,
    ) {
        // nats-server reports a pedantic subject error but still acknowledges and routes.
        let invalid = self.pedantic && !natter_sublist::subject::is_valid_literal(subject);
        if invalid {
            self.send_err(&ProtoError::InvalidPublishSubject);
        }
        self.ok();
        if let Err(e) = self.client.publish(subject, reply, headers, payload) {
            if !invalid {
                self.router_err(e);
            }
        }
    }

    fn router_err(&self, e: RouterError) {
        if let Some(e) = e.to_proto() {
            self.send_err(&e);
        }
    }

    fn ok(&mut self) {
        if self.verbose {
            self.push_traced("OK", encode::ok);
        }
    }

    fn push_traced(&self, what: &str, f: impl FnOnce(&mut BytesMut)) {
        if self.settings.trace {
            tracing::trace!("{} - cid:{} - ->> [{what}]", self.peer, self.client.id());
        }
        self.client.outbound().push(f);
    }

    fn send_err(&self, e: &ProtoError) {
        let text = e.err_text();
        // Some conditions close the connection without a word, as in nats-server.
        if text.is_empty() {
            return;
        }
        if self.settings.trace {
            tracing::trace!(
                "{} - cid:{} - ->> [-ERR {}]",
                self.peer,
                self.client.id(),
                text.trim_matches('\'')
            );
        }
        self.client.outbound().push(|b| encode::err(b, text));
    }

    /// Sends the error and returns the close reason; the writer flushes the error before it
    /// shuts the socket.
    fn fail(&self, e: ProtoError, reason: CloseReason) -> CloseReason {
        self.send_err(&e);
        self.client.close(reason);
        reason
    }

    fn log_parse_error(&self, e: &ProtoError) {
        tracing::error!(
            "{} - cid:{} - Client parser ERROR: {}",
            self.peer,
            self.client.id(),
            e.err_text().trim_matches('\'')
        );
    }

    fn trace_in(&self, op: &ClientOp) {
        let (peer, cid) = (self.peer, self.client.id());
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let line = match op {
            ClientOp::Connect(c) => format!("CONNECT {}", redacted_connect(c)),
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => match reply {
                Some(r) => format!("PUB {} {} {}", s(subject), s(r), payload.len()),
                None => format!("PUB {} {}", s(subject), payload.len()),
            },
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => {
                let total = headers.len() + payload.len();
                match reply {
                    Some(r) => format!("HPUB {} {} {} {total}", s(subject), s(r), headers.len()),
                    None => format!("HPUB {} {} {total}", s(subject), headers.len()),
                }
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => match queue {
                Some(q) => format!("SUB {} {} {}", s(subject), s(q), s(sid)),
                None => format!("SUB {} {}", s(subject), s(sid)),
            },
            ClientOp::Unsub { sid, max } => match max {
                Some(m) => format!("UNSUB {} {m}", s(sid)),
                None => format!("UNSUB {}", s(sid)),
            },
            ClientOp::Ping => "PING".to_string(),
            ClientOp::Pong => "PONG".to_string(),
            #[allow(unreachable_patterns)]
            _ => return,
        };
        tracing::trace!("{peer} - cid:{cid} - <<- [{line}]");
        if self.settings.trace_verbose {
            if let ClientOp::Pub { payload, .. } | ClientOp::HPub { payload, .. } = op {
                tracing::trace!("{peer} - cid:{cid} - <<- MSG_PAYLOAD: [{:?}]", s(payload));
            }
        }
    }
}

/// CONNECT as JSON with the secrets replaced, for protocol traces.
pub(crate) fn redacted_connect(c: &Connect) -> String {
    let mut c = c.clone();
    const REDACTED: &str = "[REDACTED]";
    if c.pass.is_some() {
        c.pass = Some(REDACTED.to_string());
    }
    if c.auth_token.is_some() {
        c.auth_token = Some(REDACTED.to_string());
    }
    if c.sig.is_some() {
        c.sig = Some(REDACTED.to_string());
    }
    serde_json::to_string(&c).unwrap_or_default()
}

/// Drains the outbound buffer to the socket and runs the server-side PING timer.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    client: Arc<Client>,
    liveness: Arc<Liveness>,
    settings: Arc<ConnSettings>,
    _done: oneshot::Sender<()>,
) {
    let outbound = client.outbound();
    let mut out = BytesMut::with_capacity(READ_MIN);
    let first = settings.ping_interval.min(FIRST_PING_MAX);
    let mut ping = tokio::time::interval_at(Instant::now() + first, settings.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = outbound.ready() => {
                let closed = outbound.is_closed();
                outbound.take(&mut out);
                if !out.is_empty() {
                    if let Err(reason) = write_out(&mut wr, &out, &settings).await {
                        client.close(reason);
                        return;
                    }
                    out.clear();
                }
                if closed {
                    // Whatever was queued before the close (an -ERR, the last messages) goes out first.
                    outbound.take(&mut out);
                    if !out.is_empty() {
                        let _ = write_out(&mut wr, &out, &settings).await;
                    }
                    let _ = timeout(settings.write_deadline, wr.shutdown()).await;
                    return;
                }
            }
            _ = ping.tick() => {
                // Recent input shows the peer is alive; skip the PING once a PONG proved it answers.
                if liveness.had_input.swap(false, Ordering::Relaxed)
                    && liveness.got_pong.load(Ordering::Relaxed)
                {
                    continue;
                }
                let out_now = liveness.pings_out.load(Ordering::Relaxed);
                if out_now + 1 > settings.ping_max {
                    tracing::debug!("{} - Stale Client Connection - Closing", client.id());
                    let err = ProtoError::StaleConnection;
                    outbound.push(|b| encode::err(b, err.err_text()));
                    client.close(CloseReason::StaleConnection);
                } else {
                    liveness.pings_out.store(out_now + 1, Ordering::Relaxed);
                    outbound.push(encode::ping);
                }
            }
        }
    }
}

async fn write_out(
    wr: &mut OwnedWriteHalf,
    out: &[u8],
    settings: &ConnSettings,
) -> Result<(), CloseReason> {
    match timeout(settings.write_deadline, wr.write_all(out)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(CloseReason::WriteError),
        // nats-server treats a missed write deadline as a slow consumer.
        Err(_) => Err(CloseReason::SlowConsumerWriteDeadline),
    }
}
