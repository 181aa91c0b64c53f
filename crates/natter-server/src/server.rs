//! The embedding API: build a server, start it, and hold its handle.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use natter_proto::Limits;
use natter_router::{Client, ClientInfo, ClientKind, Router, RouterOptions};
use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::auth::{Authenticator, StaticAuth};
use crate::config::{Authorization, Options, ReloadPlan, User};
use crate::error::Error;
use crate::info::{new_server_id, InfoTemplate, NATTER_VERSION};
use crate::monitor::MonitorState;
use crate::{connection, lame_duck, monitor, ports_file};

/// Entry point of the embedding API; see [`Server::builder`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with nats-server's defaults (port 4222 on all interfaces).
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            options: Options::default(),
            router: None,
        }
    }
}

/// Configures a server before it starts. Setters override the matching [`Options`] field.
#[derive(Debug)]
pub struct ServerBuilder {
    options: Options,
    router: Option<Router>,
}

impl ServerBuilder {
    /// Replaces all options (for example the result of [`crate::config::load`]).
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Address to listen on (`0.0.0.0` by default). The monitoring port follows it unless
    /// [`ServerBuilder::http_host`] chose another address.
    pub fn host(mut self, host: &str) -> Self {
        if self.options.http_host == self.options.host {
            self.options.http_host = host.to_string();
        }
        self.options.host = host.to_string();
        self
    }

    /// Serves the monitoring endpoints (`/varz`, `/connz`, `/metrics`, ...) on this port;
    /// 0 picks a free port (see [`ServerHandle::monitor_url`]).
    pub fn http_port(mut self, port: u16) -> Self {
        self.options.http_port = Some(if port == 0 { -1 } else { i32::from(port) });
        self
    }

    /// Address the monitoring port listens on (defaults to the client listener's).
    pub fn http_host(mut self, host: &str) -> Self {
        self.options.http_host = host.to_string();
        self
    }

    /// Port to listen on; 0 picks a free port.
    pub fn port(mut self, port: u16) -> Self {
        self.options.port = i32::from(port);
        self
    }

    /// Server name shown in INFO (defaults to the server id).
    pub fn name(mut self, name: &str) -> Self {
        self.options.server_name = Some(name.to_string());
        self
    }

    /// Largest accepted message payload.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.options.max_payload = bytes;
        self
    }

    /// Outbound bytes a client may have pending before it is closed as a slow consumer.
    pub fn max_pending(mut self, bytes: usize) -> Self {
        self.options.max_pending = bytes;
        self
    }

    /// Most client connections at once.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.options.max_connections = n;
        self
    }

    /// Most subscriptions per connection (0: unlimited).
    pub fn max_subscriptions(mut self, n: usize) -> Self {
        self.options.max_subscriptions = n;
        self
    }

    /// How often the server PINGs an idle client.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.options.ping_interval = d;
        self
    }

    /// Unanswered PINGs before a client is closed as stale.
    pub fn ping_max(mut self, n: u32) -> Self {
        self.options.ping_max = n;
        self
    }

    /// How long one socket write may block before the client is dropped as a slow consumer.
    pub fn write_deadline(mut self, d: Duration) -> Self {
        self.options.write_deadline = d;
        self
    }

    /// How long a client has to send CONNECT when authentication is required.
    pub fn auth_timeout(mut self, d: Duration) -> Self {
        self.options.auth_timeout = d;
        self
    }

    /// Requires this user and password.
    pub fn user(mut self, user: &str, password: &str) -> Self {
        let auth = self
            .options
            .authorization
            .get_or_insert_with(Authorization::default);
        auth.users.push(User {
            user: user.to_string(),
            password: Some(password.to_string()),
        });
        self
    }

    /// Requires this token.
    pub fn token(mut self, token: &str) -> Self {
        let auth = self
            .options
            .authorization
            .get_or_insert_with(Authorization::default);
        auth.token = Some(token.to_string());
        self
    }

    /// Lame duck timing: wait `grace`, then close clients spread over the rest of `duration`.
    pub fn lame_duck(mut self, duration: Duration, grace: Duration) -> Self {
        self.options.lame_duck_duration = duration;
        self.options.lame_duck_grace_period = grace;
        self
    }

    /// Uses an existing router instead of a fresh one, so in-process sessions and socket
    /// clients share subscriptions.
    pub fn router(mut self, router: Router) -> Self {
        self.router = Some(router);
        self
    }

    /// Binds the listener and starts accepting clients.
    pub async fn start(self) -> Result<ServerHandle, Error> {
        let opts = self.options;
        let id = new_server_id();
        let name = opts.server_name.clone().unwrap_or_else(|| id.clone());
        tracing::info!("Starting natter-server");
        tracing::info!("  Version:  {NATTER_VERSION}");
        tracing::info!("  Protocol: {}", opts.protocol_version);
        tracing::info!("  Name:     {name}");
        tracing::info!("  ID:       {id}");
        if let Some(f) = &opts.config_file {
            tracing::info!("Using configuration file: {}", f.display());
        }
        // Monitoring first, as nats-server does: harnesses that poll /varz see it as soon
        // as the client port is up.
        let monitor_listener = match opts.http_port.filter(|p| *p != 0) {
            Some(port) => {
                let l = bind(&opts.http_host, port).await?;
                let a = l
                    .local_addr()
                    .map_err(|e| Error::io("reading the monitoring address", e))?;
                tracing::info!(
                    "Starting http monitor on {}",
                    display_host_port(&opts.http_host, a.port())
                );
                Some((l, a))
            }
            None => None,
        };

        let listener = bind(&opts.host, opts.port).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listener address", e))?;
        let router = self
            .router
            .unwrap_or_else(|| Router::new(router_options(&opts)));
        let settings = ConnSettings::from_options(&opts, &id, &name, addr.port());
        let (state, _) = watch::channel(State::Running);
        let (tracker, _) = watch::channel(());
        let shared = Arc::new(Shared {
            id,
            name,
            router,
            addr,
            settings: watch::Sender::new(Arc::new(settings)),
            options: RwLock::new(opts.clone()),
            state,
            tracker,
            clients: Mutex::new(HashMap::new()),
            num_clients: AtomicUsize::new(0),
            ports_file: Mutex::new(None),
            monitor: MonitorState::new(),
            monitor_addr: monitor_listener.as_ref().map(|(_, a)| *a),
        });

        tracing::info!(
            "Listening for client connections on {}",
            display_host_port(&opts.host, addr.port())
        );
        if let Some(dir) = &opts.ports_file_dir {
            let monitoring = shared.monitor_addr.map(|a| (opts.http_host.as_str(), a));
            let path = ports_file::write(dir, &opts.host, addr, monitoring)
                .map_err(|e| Error::io("writing the ports file", e))?;
            *shared.ports_file.lock() = Some(path);
        }
        if let Some(pid) = &opts.pid_file {
            std::fs::write(pid, std::process::id().to_string())
                .map_err(|e| Error::io(format!("writing pid file {}", pid.display()), e))?;
        }

        if let Some((l, _)) = monitor_listener {
            monitor::spawn(shared.clone(), l, shared.tracker.subscribe());
        }
        let accept_guard = shared.tracker.subscribe();
        tokio::spawn(accept_loop(shared.clone(), listener, accept_guard));
        tracing::info!("Server is ready");
        Ok(ServerHandle { shared })
    }
}

/// Reloadable in [`Options::reload_diff`]'s eyes, but the logger installed at start keeps
/// them until a restart.
const RESTART_ONLY: &[&str] = &["log_file", "logtime"];

fn router_options(opts: &Options) -> RouterOptions {
    RouterOptions {
        max_payload: opts.max_payload,
        max_pending: opts.max_pending,
        max_subscriptions: opts.max_subscriptions,
    }
}

/// The address a local client dials for a listener bound to `ip`.
fn loopback_if_unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// `HOST:PORT` as nats-server logs it (IPv6 in brackets).
fn display_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn bind(host: &str, port: i32) -> Result<TcpListener, Error> {
    let port =
        u16::try_from(port.max(0)).map_err(|_| Error::config(format!("invalid port {port}")))?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::bind(display_host_port(host, port), e))?
            .next()
            .ok_or_else(|| Error::config(format!("host {host} did not resolve")))?,
    };
    let bind_err = |e| Error::bind(addr, e);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(bind_err)?;
    // A restarted server must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    socket.bind(&addr.into()).map_err(bind_err)?;
    socket.listen(1024).map_err(bind_err)?;
    TcpListener::from_std(socket.into()).map_err(bind_err)
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, guard: watch::Receiver<()>) {
    let mut state = shared.state.subscribe();
    loop {
        if *state.borrow_and_update() != State::Running {
            break;
        }
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => shared.clone().spawn_connection(stream, peer, guard.clone()),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!("Error accepting client connection: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    tracing::debug!("Client accept loop exiting..");
    drop(listener);
    drop(guard);
}

/// Lifecycle of a server, watched by the accept loop and every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    /// Not accepting; clients told `ldm: true` and closed gradually.
    LameDuck,
    /// Every connection flushes and closes.
    Shutdown,
}

/// Per-connection settings. A reload publishes a new set; every connection picks it up
/// between two read batches (limits, trace, auth, ping and write settings), the INFO
/// template only applies to connections accepted later.
#[derive(Clone)]
pub(crate) struct ConnSettings {
    pub(crate) info: InfoTemplate,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) limits: Limits,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_max: u32,
    pub(crate) write_deadline: Duration,
    pub(crate) auth_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) trace: bool,
    pub(crate) trace_verbose: bool,
}

impl ConnSettings {
    fn from_options(opts: &Options, id: &str, name: &str, port: u16) -> Self {
        let auth =
            StaticAuth::from_options(opts.authorization.as_ref(), opts.no_auth_user.as_deref());
        let info = InfoTemplate::new(
            id,
            name,
            &opts.protocol_version,
            &opts.host,
            port,
            opts.max_payload,
            auth.required(),
        );
        ConnSettings {
            info,
            auth: Arc::new(auth),
            limits: Limits {
                max_control_line: opts.max_control_line,
                max_payload: opts.max_payload,
            },
            ping_interval: nonzero(opts.ping_interval, Duration::from_secs(120)),
            ping_max: opts.ping_max,
            write_deadline: nonzero(opts.write_deadline, Duration::from_secs(10)),
            auth_timeout: nonzero(opts.auth_timeout, Duration::from_secs(2)),
            max_connections: opts.max_connections,
            trace: opts.trace,
            trace_verbose: opts.trace_verbose,
        }
    }
}

fn nonzero(d: Duration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d
    }
}

/// State shared by the accept loop, every connection and the handle.
pub(crate) struct Shared {
    id: String,
    name: String,
    router: Router,
    addr: SocketAddr,
    settings: watch::Sender<Arc<ConnSettings>>,
    options: RwLock<Options>,
    state: watch::Sender<State>,
    /// Every task holds a receiver; `closed()` resolves once all of them are done.
    tracker: watch::Sender<()>,
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    num_clients: AtomicUsize,
    ports_file: Mutex<Option<PathBuf>>,
    // --- monitoring (src/monitor/) ---
    monitor: MonitorState,
    monitor_addr: Option<SocketAddr>,
}

impl Shared {
    pub(crate) fn settings(&self) -> Arc<ConnSettings> {
        self.settings.borrow().clone()
    }

    pub(crate) fn settings_receiver(&self) -> watch::Receiver<Arc<ConnSettings>> {
        self.settings.subscribe()
    }

    pub(crate) fn state_receiver(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    pub(crate) fn register_client(&self, peer: SocketAddr) -> Arc<Client> {
        let account = self.router.global_account();
        let info = ClientInfo {
            host: peer.ip().to_string(),
            port: peer.port(),
            kind: ClientKind::Client,
        };
        let client = self.router.register(&account, info);
        self.clients.lock().insert(client.id(), client.clone());
        client
    }

    pub(crate) fn unregister_client(&self, id: u64) {
        let removed = self.clients.lock().remove(&id);
        // Kept for /connz?state=closed.
        if let Some(client) = removed {
            self.monitor.record_closed(&client);
        }
    }

    pub(crate) fn clients(&self) -> Vec<Arc<Client>> {
        self.clients.lock().values().cloned().collect()
    }

    pub(crate) fn tracker_guard(&self) -> watch::Receiver<()> {
        self.tracker.subscribe()
    }

    pub(crate) fn set_state(&self, s: State) {
        self.state.send_if_modified(|cur| {
            // Shutdown is final; lame duck only follows running.
            let allowed = matches!(
                (*cur, s),
                (State::Running, _) | (State::LameDuck, State::Shutdown)
            );
            if allowed {
                *cur = s;
            }
            allowed
        });
    }

    pub(crate) fn state(&self) -> State {
        *self.state.borrow()
    }

    pub(crate) fn options(&self) -> Options {
        self.options.read().clone()
    }

    // --- read by the monitoring endpoints (src/monitor/) ---
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn router(&self) -> &Router {
        &self.router
    }

    pub(crate) fn client_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn monitor(&self) -> &MonitorState {
        &self.monitor
    }

    pub(crate) fn monitor_addr(&self) -> Option<SocketAddr> {
        self.monitor_addr
    }
    // --- end of monitoring accessors ---

    fn spawn_connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        guard: watch::Receiver<()>,
    ) {
        let _ = stream.set_nodelay(true);
        let max = self.settings.borrow().max_connections;
        let n = self.num_clients.fetch_add(1, Ordering::AcqRel);
        if max > 0 && n >= max {
            self.num_clients.fetch_sub(1, Ordering::AcqRel);
            tokio::spawn(async move {
                connection::reject(self, stream, peer).await;
                drop(guard);
            });
            return;
        }
        tokio::spawn(async move {
            connection::run(self.clone(), stream, peer).await;
            self.num_clients.fetch_sub(1, Ordering::AcqRel);
            drop(guard);
        });
    }

    async fn stopped(&self) {
        self.tracker.closed().await;
        if let Some(path) = self.ports_file.lock().take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A running server. Dropping the handle leaves the server running; call
/// [`ServerHandle::shutdown`] to stop it.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("id", &self.shared.id)
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The URL clients connect to, e.g. `nats://127.0.0.1:4222` (loopback when listening on
    /// all interfaces).
    pub fn client_url(&self) -> String {
        let addr = self.addr();
        let ip = loopback_if_unspecified(addr.ip());
        format!("nats://{}", SocketAddr::new(ip, addr.port()))
    }

    /// The bound listener address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The bound monitoring address, if monitoring is on (the real port when a free one
    /// was asked for).
    pub fn monitor_addr(&self) -> Option<SocketAddr> {
        self.shared.monitor_addr
    }

    /// The monitoring base URL, e.g. `http://127.0.0.1:8222` (loopback when listening on
    /// all interfaces), if monitoring is on.
    pub fn monitor_url(&self) -> Option<String> {
        self.shared.monitor_addr.map(|a| {
            format!(
                "http://{}",
                SocketAddr::new(loopback_if_unspecified(a.ip()), a.port())
            )
        })
    }

    /// The routing engine, for in-process sessions beside socket clients.
    pub fn router(&self) -> &Router {
        &self.shared.router
    }

    /// The server id sent in INFO (`N` and 55 base32 characters).
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The server name sent in INFO.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Number of client connections open now.
    pub fn num_clients(&self) -> usize {
        self.shared.num_clients.load(Ordering::Acquire)
    }

    /// Whether the server is in lame duck mode or shutting down.
    pub fn is_lame_duck(&self) -> bool {
        self.shared.state() != State::Running
    }

    /// Stops accepting, lets every connection flush what is pending, closes them, and waits
    /// until all connection tasks are done.
    pub async fn shutdown(self) {
        if self.shared.state() != State::Shutdown {
            tracing::info!("Initiating Shutdown...");
        }
        self.shared.set_state(State::Shutdown);
        self.shared.stopped().await;
        tracing::info!("Server Exiting..");
    }

    /// Enters lame duck mode: stop accepting, tell clients (`ldm: true` in INFO), then close
    /// them gradually over the lame duck duration and shut down. Returns at once; await
    /// [`ServerHandle::stopped`] to know when it is over.
    pub fn lame_duck(&self) {
        if self.shared.state() != State::Running {
            return;
        }
        tracing::info!("Entering lame duck mode, stop accepting new clients");
        self.shared.set_state(State::LameDuck);
        let guard = self.shared.tracker_guard();
        tokio::spawn(lame_duck::run(self.shared.clone(), guard));
    }

    /// Resolves once the server has stopped (after [`ServerHandle::shutdown`] or the end of
    /// lame duck mode).
    pub async fn stopped(&self) {
        self.shared.stopped().await;
    }

    /// The options the server runs with (after reloads).
    pub fn options(&self) -> Options {
        self.shared.options()
    }

    /// Applies the reloadable part of `new` to the running server and says what changed.
    ///
    /// Open connections take the new limits, trace flags, ping and write settings before
    /// their next read; on an authorization change every client is checked again with the
    /// credentials it connected with and closed with `Authorization Violation` if it no
    /// longer passes (as nats-server does). Settings in `not_reloadable` keep their running
    /// values until a restart. Log settings (`debug`, `trace` levels) are the caller's: the
    /// binary applies them to its logger.
    pub fn reload(&self, mut new: Options) -> ReloadPlan {
        let old = self.shared.options();
        let mut plan = old.reload_diff(&new);
        // The logger's file and line format are fixed when it is installed.
        for name in RESTART_ONLY {
            if let Some(i) = plan.applied.iter().position(|n| n == name) {
                plan.not_reloadable.push(plan.applied.remove(i));
            }
        }
        new.host = old.host.clone();
        new.port = old.port;
        new.http_host = old.http_host.clone();
        new.http_port = old.http_port;
        new.server_name = old.server_name.clone();
        new.client_advertise = old.client_advertise.clone();
        new.ports_file_dir = old.ports_file_dir.clone();
        new.protocol_version = old.protocol_version.clone();
        new.no_log = old.no_log;
        new.log_file = old.log_file.clone();
        new.logtime = old.logtime;
        if new.pid_file != old.pid_file {
            if let Some(pid) = &new.pid_file {
                if let Err(e) = std::fs::write(pid, std::process::id().to_string()) {
                    tracing::error!("Reload: cannot write pid file {}: {e}", pid.display());
                }
            }
        }
        let mut settings = ConnSettings::from_options(
            &new,
            &self.shared.id,
            &self.shared.name,
            self.shared.addr.port(),
        );
        // Connections re-check their client only when authorization really changed.
        if new.authorization == old.authorization && new.no_auth_user == old.no_auth_user {
            settings.auth = self.shared.settings().auth.clone();
        }
        self.shared.settings.send_replace(Arc::new(settings));
        self.shared.router.set_options(router_options(&new));
        *self.shared.options.write() = new;
        self.shared.monitor.config_reloaded();
        plan
    }
}
