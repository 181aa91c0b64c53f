//! The server's settings, with nats-server's defaults, and what a reload can change live.

use std::path::PathBuf;
use std::time::Duration;

/// The nats-server release whose protocol level Natter reports in INFO `version` unless the
/// configuration overrides it (`protocol_version`). Clients turn features on by comparing it.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2.10.0";

/// Port a client listener uses when none is configured.
pub const DEFAULT_PORT: i32 = 4222;

/// Everything the server needs to start. `Options::default()` is nats-server's defaults.
///
/// Ports: `-1` (and `0` from the embedding API) ask for a free port. A config file or flag
/// saying `port: 0` means the default port 4222, as in nats-server.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Client listener address (`host`, `net`, `listen`, `-a`). Default `0.0.0.0`.
    pub host: String,
    /// Client listener port (`port`, `listen`, `-p`). Default 4222; `-1` or `0`: a free port.
    pub port: i32,
    /// Server name reported in INFO (`server_name`, `-n`). `None`: the server id.
    pub server_name: Option<String>,
    /// Client URL advertised to other servers (`client_advertise`).
    pub client_advertise: Option<String>,
    /// Monitoring listener address (`http: host:port`). Defaults to `host`.
    pub http_host: String,
    /// Monitoring port (`http`, `http_port`, `monitor_port`, `-m`). `None`: no monitoring;
    /// `Some(-1)`: a free port.
    pub http_port: Option<i32>,
    /// Largest message payload accepted (`max_payload`). Default 1 MiB.
    pub max_payload: usize,
    /// Longest protocol line accepted (`max_control_line`). Default 4096.
    pub max_control_line: usize,
    /// Outbound bytes pending for one client before it is a slow consumer (`max_pending`).
    /// Default 64 MiB.
    pub max_pending: usize,
    /// Most client connections at once (`max_connections`, `max_conn`). Default 65536.
    pub max_connections: usize,
    /// Most subscriptions per connection (`max_subscriptions`, `max_subs`). 0: no limit.
    pub max_subscriptions: usize,
    /// Longest message body printed by the protocol trace (`max_traced_msg_len`). 0: all.
    pub max_traced_msg_len: usize,
    /// How often the server PINGs a client (`ping_interval`). Default 2 minutes.
    pub ping_interval: Duration,
    /// Unanswered PINGs before `Stale Connection` (`ping_max`). Default 2.
    pub ping_max: u32,
    /// How long a write to a client may block (`write_deadline`). Default 10 seconds.
    pub write_deadline: Duration,
    /// How long a client has to send CONNECT when auth is required (`authorization.timeout`).
    /// Default 2 seconds.
    pub auth_timeout: Duration,
    /// How long lame duck mode spreads client closes over (`lame_duck_duration`). Default 2m.
    pub lame_duck_duration: Duration,
    /// Wait before lame duck mode starts closing clients (`lame_duck_grace_period`). Default 10s.
    pub lame_duck_grace_period: Duration,
    /// Debug logging (`debug`, `-D`).
    pub debug: bool,
    /// Protocol trace logging (`trace`, `-V`).
    pub trace: bool,
    /// Verbose protocol trace (`trace_verbose`, `-VV`); implies `trace`.
    pub trace_verbose: bool,
    /// Timestamps in log lines (`logtime`, `-T`). Default true.
    pub logtime: bool,
    /// Log to this file instead of stderr (`log_file`, `logfile`, `-l`).
    pub log_file: Option<PathBuf>,
    /// Write the process id here (`pid_file`, `pidfile`, `-P`).
    pub pid_file: Option<PathBuf>,
    /// Write `<dir>/<binary>_<pid>.ports` here once listening (`ports_file_dir`).
    pub ports_file_dir: Option<PathBuf>,
    /// No logging at all (embedding only; no config key).
    pub no_log: bool,
    /// Client credentials (`authorization {}`, `--user`, `--pass`, `--auth`). `None`: open.
    pub authorization: Option<Authorization>,
    /// User that clients connecting without credentials are treated as (`no_auth_user`).
    pub no_auth_user: Option<String>,
    /// What INFO `version` reports (`protocol_version`, `version`). Default
    /// [`DEFAULT_PROTOCOL_VERSION`].
    pub protocol_version: String,
    /// The configuration file these options came from (`-c`), for reloads.
    pub config_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            server_name: None,
            client_advertise: None,
            http_host: "0.0.0.0".to_string(),
            http_port: None,
            max_payload: 1024 * 1024,
            max_control_line: 4096,
            max_pending: 64 * 1024 * 1024,
            max_connections: 64 * 1024,
            max_subscriptions: 0,
            max_traced_msg_len: 0,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(2),
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            debug: false,
            trace: false,
            trace_verbose: false,
            logtime: true,
            log_file: None,
            pid_file: None,
            ports_file_dir: None,
            no_log: false,
            authorization: None,
            no_auth_user: None,
            protocol_version: DEFAULT_PROTOCOL_VERSION.to_string(),
            config_file: None,
        }
    }
}

/// The `authorization` block: one user, one token, or a list of users.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    /// Single user name (`user`, `username`, `--user`).
    pub user: Option<String>,
    /// Its password (`password`, `pass`, `--pass`), plain text.
    pub password: Option<String>,
    /// Token (`token`, `--auth`), plain text.
    pub token: Option<String>,
    /// Several users (`users: [{user, password}]`).
    pub users: Vec<User>,
    /// `timeout`, also copied to [`Options::auth_timeout`].
    pub timeout: Option<Duration>,
}

/// One entry of `authorization.users`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// User name.
    pub user: String,
    /// Plain-text password.
    pub password: Option<String>,
}

/// What a reload would change: settings applied to the running server, and settings that
/// only take effect after a restart. Names are the [`Options`] field names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadPlan {
    /// Changed settings the running server can apply.
    pub applied: Vec<&'static str>,
    /// Changed settings that need a restart (listeners, names).
    pub not_reloadable: Vec<&'static str>,
}

impl ReloadPlan {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.not_reloadable.is_empty()
    }
}

impl Options {
    /// Compares these (running) options with `new` (just reloaded) and sorts the changed
    /// fields into what can be applied live and what needs a restart.
    pub fn reload_diff(&self, new: &Options) -> ReloadPlan {
        let mut plan = ReloadPlan::default();
        let mut live = |changed: bool, name: &'static str| {
            if changed {
                plan.applied.push(name);
            }
        };
        live(self.debug != new.debug, "debug");
        live(self.trace != new.trace, "trace");
        live(self.trace_verbose != new.trace_verbose, "trace_verbose");
        live(self.logtime != new.logtime, "logtime");
        live(self.log_file != new.log_file, "log_file");
        live(self.pid_file != new.pid_file, "pid_file");
        live(self.max_payload != new.max_payload, "max_payload");
        live(
            self.max_control_line != new.max_control_line,
            "max_control_line",
        );
        live(self.max_pending != new.max_pending, "max_pending");
        live(
            self.max_connections != new.max_connections,
            "max_connections",
        );
        live(
            self.max_subscriptions != new.max_subscriptions,
            "max_subscriptions",
        );
        live(
            self.max_traced_msg_len != new.max_traced_msg_len,
            "max_traced_msg_len",
        );
        live(self.ping_interval != new.ping_interval, "ping_interval");
        live(self.ping_max != new.ping_max, "ping_max");
        live(self.write_deadline != new.write_deadline, "write_deadline");
        live(self.auth_timeout != new.auth_timeout, "auth_timeout");
        live(self.authorization != new.authorization, "authorization");
        live(self.no_auth_user != new.no_auth_user, "no_auth_user");
        live(
            self.lame_duck_duration != new.lame_duck_duration,
            "lame_duck_duration",
        );
        live(
            self.lame_duck_grace_period != new.lame_duck_grace_period,
            "lame_duck_grace_period",
        );
        let mut restart = |changed: bool, name: &'static str| {
            if changed {
                plan.not_reloadable.push(name);
            }
        };
        restart(self.host != new.host, "host");
        restart(self.port != new.port, "port");
        restart(self.http_host != new.http_host, "http_host");
        restart(self.http_port != new.http_port, "http_port");
        restart(self.server_name != new.server_name, "server_name");
        restart(
            self.client_advertise != new.client_advertise,
            "client_advertise",
        );
        restart(self.ports_file_dir != new.ports_file_dir, "ports_file_dir");
        restart(
            self.protocol_version != new.protocol_version,
            "protocol_version",
        );
        restart(self.no_log != new.no_log, "no_log");
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_nats_defaults() {
        let o = Options::default();
        assert_eq!(o.port, 4222);
        assert_eq!(o.max_payload, 1048576);
        assert_eq!(o.max_pending, 67108864);
        assert_eq!(o.max_connections, 65536);
        assert_eq!(o.ping_interval, Duration::from_secs(120));
        assert_eq!(o.ping_max, 2);
        assert_eq!(o.write_deadline, Duration::from_secs(10));
        assert_eq!(o.auth_timeout, Duration::from_secs(2));
        assert!(o.logtime);
        assert_eq!(o.protocol_version, DEFAULT_PROTOCOL_VERSION);
    }

    #[test]
    fn reload_diff_sorts_changes() {
        let old = Options::default();
        assert!(old.reload_diff(&old.clone()).is_empty());
        let mut new = old.clone();
        new.debug = true;
        new.max_payload = 2048;
        new.port = 5222;
        new.http_port = Some(8222);
        new.authorization = Some(Authorization {
            token: Some("t".into()),
            ..Default::default()
        });
        let plan = old.reload_diff(&new);
        assert_eq!(plan.applied, vec!["debug", "max_payload", "authorization"]);
        assert_eq!(plan.not_reloadable, vec!["port", "http_port"]);
    }
}
