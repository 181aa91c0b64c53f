//! One client connection: a reader that parses and routes inline, and a writer that drains
//! the outbound buffer.
//!
//! The reader pays for routing (as in nats-server), so a fast publisher is slowed by its own
//! fan-out, never by other connections. The writer takes everything pending in one swap and
//! writes it with one `write_all`, many messages per syscall.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use natter_proto::{encode, ClientOp, ClientOpRef, ClientParser, Connect, ProtoError, PubRef};
use natter_router::{Client, CloseReason, Ingest, Outbound, RouterError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::{sleep, timeout, Instant};

use crate::server::{ConnSettings, Shared, State};

/// nats-server sends the first PING early after CONNECT, so a dead peer is noticed soon.
const FIRST_PING_MAX: Duration = Duration::from_secs(2);
const READ_MIN: usize = 4 * 1024;
const READ_MAX: usize = 64 * 1024;
/// Largest write buffer kept after a batch is written.
const WRITE_BUF_KEEP: usize = 1024 * 1024;

/// Liveness bookkeeping shared by the reader (PONGs, input) and the writer (PING timer).
struct Liveness {
    pings_out: AtomicU32,
    had_input: AtomicBool,
    got_pong: AtomicBool,
    /// A CONNECT was accepted: the writer restarts its PING timer with the short first
    /// interval.
    connected: Notify,
    /// Origin of `ping_sent`.
    epoch: Instant,
    /// When the last server PING was queued, in nanoseconds after `epoch` plus one (0: no
    /// PING awaits its PONG). As in nats-server, a later PING restarts the measurement.
    ping_sent: AtomicU64,
}

impl Liveness {
    fn new() -> Self {
        Liveness {
            pings_out: AtomicU32::new(0),
            had_input: AtomicBool::new(false),
            got_pong: AtomicBool::new(false),
            connected: Notify::new(),
            epoch: Instant::now(),
            ping_sent: AtomicU64::new(0),
        }
    }

    fn since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    fn ping_queued(&self) {
        self.ping_sent.store(self.since_epoch(), Ordering::Relaxed);
    }

    /// The round trip of the PING this PONG answers; `None` for a PONG nobody asked for.
    fn pong_received(&self) -> Option<Duration> {
        let sent = self.ping_sent.swap(0, Ordering::Relaxed);
        (sent != 0).then(|| Duration::from_nanos(self.since_epoch().saturating_sub(sent)))
    }
}

/// Runs one accepted connection to completion.
pub(crate) async fn run(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let mut settings_rx = shared.settings_receiver();
    let settings = settings_rx.borrow_and_update().clone();
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
    let liveness = Arc::new(Liveness::new());
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let writer = tokio::spawn(write_loop(
        wr,
        client.clone(),
        liveness.clone(),
        shared.settings_receiver(),
        done_tx,
    ));

    let mut reader = Reader {
        client: client.clone(),
        settings,
        liveness,
        peer,
        connected: false,
        credentials: None,
        // nats-server applies the CONNECT defaults to a client that never sent one.
        verbose: true,
        pedantic: true,
        async_info: false,
        first_pong_sent: false,
        ldm_sent: false,
    };
    let state_rx = shared.state_receiver();
    let reason = reader.read_loop(rd, done_rx, state_rx, settings_rx).await;
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
    /// The live settings, refreshed between read batches when a reload changed them.
    settings: Arc<ConnSettings>,
    liveness: Arc<Liveness>,
    peer: SocketAddr,
    connected: bool,
    /// The accepted CONNECT, kept so a reload that changes authorization can check this
    /// client again, as nats-server does.
    credentials: Option<Box<Connect>>,
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
        mut settings: watch::Receiver<Arc<ConnSettings>>,
    ) -> CloseReason {
        let mut parser = ClientParser::new(self.settings.limits);
        let mut ingest = self.client.ingest();
        let mut buf = BytesMut::with_capacity(READ_MIN);
        let mut read_size = READ_MIN;
        let started = Instant::now();
        let auth_timer = sleep(self.settings.auth_timeout);
        tokio::pin!(auth_timer);

        // A lame duck or shutdown that began before this connection got going still applies.
        if let Some(reason) = self.on_state(*state.borrow_and_update()) {
            return reason;
        }
        loop {
            if let Some(reason) = self.process(&mut parser, &mut buf, &mut ingest) {
                return reason;
            }
            // nats-server's fast-producer stall: a subscriber this batch pushed past half of
            // max_pending gets a bounded moment to catch up before this client is read again.
            if self.client.is_stalling() {
                tokio::select! {
                    biased;
                    _ = &mut writer_done => {
                        return self.client.outbound().close_reason().unwrap_or(CloseReason::WriteError);
                    }
                    _ = self.client.stall_wait() => {}
                }
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
                // Between two read batches, never within one: a batch is handled under one
                // set of settings.
                Ok(()) = settings.changed() => {
                    let new = settings.borrow_and_update().clone();
                    auth_timer.as_mut().reset(started + new.auth_timeout);
                    if let Some(reason) = self.apply_settings(new, &mut parser) {
                        return reason;
                    }
                }
                _ = &mut auth_timer, if self.settings.auth.required() && !self.connected => {
                    tracing::error!("{} - cid:{} - authentication timeout", self.peer, self.client.id());
                    return self.fail(ProtoError::AuthenticationTimeout, CloseReason::AuthTimeout);
                }
                r = rd.read_buf(&mut buf) => match r {
                    Ok(0) => return CloseReason::ClientClosed,
                    Ok(n) => {
                        self.liveness.had_input.store(true, Ordering::Relaxed);
                        // Once per read, not per message: a clock read per PUB showed up in profiles.
                        self.client.touch();
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
    fn process(
        &mut self,
        parser: &mut ClientParser,
        buf: &mut BytesMut,
        ingest: &mut Ingest,
    ) -> Option<CloseReason> {
        loop {
            // nats-server decides on the first byte of an operation: while a client must
            // still authenticate, anything that cannot start CONNECT is a violation, even
            // a line that would not parse or a client's INFO / +OK.
            if self.awaiting_auth()
                && parser.at_op_start()
                && buf.first().is_some_and(|b| !matches!(b, b'C' | b'c'))
            {
                return Some(self.auth_violation());
            }
            let before = buf.len();
            match parser.decode_with(buf, |op| self.handle(op, ingest)) {
                Ok(Some(None)) => {}
                Ok(Some(Some(reason))) => return Some(reason),
                Ok(None) => {
                    ingest.settle();
                    return None;
                }
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

    /// Authentication is required and this client has not sent an accepted CONNECT yet.
    fn awaiting_auth(&self) -> bool {
        !self.connected && self.settings.auth.required() && !self.settings.auth.allows_anonymous()
    }

    fn auth_violation(&self) -> CloseReason {
        tracing::error!(
            "{} - cid:{} - authentication error",
            self.peer,
            self.client.id()
        );
        self.fail(
            ProtoError::AuthorizationViolation,
            CloseReason::AuthViolation,
        )
    }

    /// Takes reloaded settings. On an authorization change the client's original
    /// credentials are checked again and a client that no longer passes is closed, as
    /// nats-server does; one still waiting to send CONNECT is checked with none.
    fn apply_settings(
        &mut self,
        new: Arc<ConnSettings>,
        parser: &mut ClientParser,
    ) -> Option<CloseReason> {
        let auth_changed = !Arc::ptr_eq(&self.settings.auth, &new.auth);
        parser.set_limits(new.limits);
        self.settings = new;
        if auth_changed {
            let anonymous = Connect::default();
            let creds = self.credentials.as_deref().unwrap_or(&anonymous);
            let passes = if self.connected {
                self.settings.auth.check(creds)
            } else {
                !self.awaiting_auth()
            };
            if !passes {
                return Some(self.auth_violation());
            }
        }
        None
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

    fn handle(&mut self, op: ClientOpRef<'_>, ingest: &mut Ingest) -> Option<CloseReason> {
        let op = match op {
            ClientOpRef::Pub(m) => return self.handle_pub(m, ingest),
            ClientOpRef::Other(op) => op,
        };
        debug_assert!(op.as_pub().is_none(), "decode_with lends every publish");
        // Publishes are counted before anything else is answered: a client that has the
        // PONG to its PING finds its publishes in the monitoring figures.
        ingest.settle();
        if self.settings.trace {
            self.trace_in(&op);
        }
        if self.awaiting_auth() && !matches!(op, ClientOp::Connect(_)) {
            return Some(self.auth_violation());
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
                if let Some(rtt) = self.liveness.pong_received() {
                    self.client.set_rtt(rtt);
                }
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => match self.client.subscribe(sid, subject, queue) {
                Ok(()) => self.ok(),
                Err(e) => return self.router_err(e),
            },
            ClientOp::Unsub { sid, max } => match self.client.unsubscribe(&sid, max) {
                Ok(()) => self.ok(),
                Err(e) => return self.router_err(e),
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
            return Some(self.auth_violation());
        }
        self.client.set_connect(c);
        if let Some(user) = self.settings.auth.authorized_user(c) {
            self.client.set_authorized_user(user);
        }
        self.connected = true;
        self.credentials = Some(Box::new(c.clone()));
        self.liveness.connected.notify_one();
        self.verbose = c.verbose;
        self.pedantic = c.pedantic;
        self.async_info = c.protocol >= 1;
        self.ok();
        None
    }

    /// A `PUB` or `HPUB`, borrowed from the read buffer.
    fn handle_pub(&mut self, m: PubRef<'_>, ingest: &mut Ingest) -> Option<CloseReason> {
        if self.settings.trace {
            self.trace_pub(&m);
        }
        if self.awaiting_auth() {
            return Some(self.auth_violation());
        }
        if m.headers.is_some() && !self.client.headers() {
            tracing::error!(
                "{} - cid:{} - message headers not supported",
                self.peer,
                self.client.id()
            );
            return Some(self.fail(ProtoError::HeadersNotSupported, CloseReason::ProtocolError));
        }
        // nats-server reports a pedantic subject error but still acknowledges and routes.
        let invalid = self.pedantic && !natter_sublist::subject::is_valid_literal(m.subject);
        if invalid {
            self.send_err(&ProtoError::InvalidPublishSubject);
        }
        self.ok();
        match ingest.publish(m) {
            Err(e) if !invalid => self.router_err(e),
            _ => None,
        }
    }

    /// Reports a router refusal. A payload over the limit closes the connection, as in
    /// nats-server; the router sees it when a reload lowered max_payload after the parser
    /// read the control line, or when the router was built with a lower limit.
    fn router_err(&self, e: RouterError) -> Option<CloseReason> {
        let e = e.to_proto()?;
        if matches!(e, ProtoError::MaxPayload) {
            self.log_parse_error(&e);
            return Some(self.fail(e, CloseReason::MaxPayload));
        }
        self.send_err(&e);
        None
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
    }

    fn trace_pub(&self, m: &PubRef<'_>) {
        let (peer, cid) = (self.peer, self.client.id());
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let subject = s(m.subject);
        let reply = m.reply.map(|r| format!(" {}", s(r))).unwrap_or_default();
        let line = match m.headers {
            None => format!("PUB {subject}{reply} {}", m.payload.len()),
            Some(h) => format!(
                "HPUB {subject}{reply} {} {}",
                h.len(),
                h.len() + m.payload.len()
            ),
        };
        tracing::trace!("{peer} - cid:{cid} - <<- [{line}]");
        if self.settings.trace_verbose {
            tracing::trace!("{peer} - cid:{cid} - <<- MSG_PAYLOAD: [{:?}]", s(m.payload));
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
    mut settings_rx: watch::Receiver<Arc<ConnSettings>>,
    _done: oneshot::Sender<()>,
) {
    let mut settings = settings_rx.borrow_and_update().clone();
    let outbound = client.outbound();
    // Swapped with the outbound's buffer on every take, so the two allocations take turns
    // and a steady flow allocates nothing.
    let mut out = BytesMut::with_capacity(READ_MIN);
    // Until CONNECT, the full interval: nats-server starts the short first PING only then.
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Ok(()) = settings_rx.changed() => {
                let new = settings_rx.borrow_and_update().clone();
                if new.ping_interval != settings.ping_interval {
                    let every = new.ping_interval;
                    ping = tokio::time::interval_at(Instant::now() + every, every);
                    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                }
                settings = new;
            }
            _ = liveness.connected.notified() => {
                ping.reset_at(Instant::now() + settings.ping_interval.min(FIRST_PING_MAX));
            }
            _ = outbound.ready() => {
                let closed = outbound.is_closed();
                outbound.take(&mut out);
                if !out.is_empty() {
                    if let Err(reason) = write_out(&mut wr, &out, outbound, &settings).await {
                        client.close(reason);
                        return;
                    }
                    out.clear();
                    if out.capacity() > WRITE_BUF_KEEP {
                        // A burst grew it; an idle connection should not keep that much.
                        out = BytesMut::new();
                    }
                }
                if closed {
                    // Whatever was queued before the close (an -ERR, the last messages) goes
                    // out first, unless the close means the peer cannot take it.
                    let skip = outbound.close_reason().is_some_and(|r| r.skips_flush());
                    outbound.take(&mut out);
                    if !out.is_empty() && !skip {
                        let _ = write_out(&mut wr, &out, outbound, &settings).await;
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
                    liveness.ping_queued();
                    outbound.push(encode::ping);
                }
            }
        }
    }
}

/// Writes one batch, each syscall taking all that is left of it, and reports progress to
/// the outbound so publishers stalled on this connection resume as soon as it drains.
///
/// Gives up at once when the connection is closed as a slow consumer (or on a read or
/// write error) meanwhile: nats-server drops what is unsent then, rather than keeping a
/// socket nobody reads open until the write deadline.
async fn write_out(
    wr: &mut OwnedWriteHalf,
    out: &[u8],
    outbound: &Outbound,
    settings: &ConnSettings,
) -> Result<(), CloseReason> {
    let write = async {
        let mut at = 0;
        while at < out.len() {
            match wr.write(&out[at..]).await {
                Ok(0) | Err(_) => return Err(CloseReason::WriteError),
                Ok(n) => {
                    at += n;
                    outbound.written(n);
                }
            }
        }
        Ok(())
    };
    tokio::select! {
        r = timeout(settings.write_deadline, write) => match r {
            Ok(r) => r,
            // nats-server treats a missed write deadline as a slow consumer.
            Err(_) => Err(CloseReason::SlowConsumerWriteDeadline),
        },
        reason = outbound.abandoned() => Err(reason),
    }
}
