//! Meaning of the value tree: nats-server's configuration keys mapped onto [`Options`].
//!
//! Keys match case-insensitively, as in nats-server. Three fates for a key Natter does not
//! implement: a notice when ignoring it is harmless (clustering, JetStream, ...); an error
//! when ignoring it would silently weaken security (TLS, permissions, nkeys/JWT, accounts
//! with users, bcrypt passwords); an "unknown field" error when nats-server itself does not
//! know it (checked against nats-server v2.9.10), unless it is only used as a `$variable`.

use std::time::Duration;

use super::duration::{fits_go, format_go_duration, go_seconds, parse_go_duration};
use super::error::{ConfigError, Diagnostic, ErrorKind, Location};
use super::options::{Authorization, Options, User, DEFAULT_PORT};
use super::value::{Entry, Map, Node, Value};

/// Applies every key of a parsed file to `options`. All problems are collected, as
/// nats-server reports all of them at once.
pub(crate) fn apply_tree(
    map: &Map,
    options: &mut Options,
    warnings: &mut Vec<String>,
    notices: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let mut a = Applier {
        options,
        warnings,
        notices,
        errors: Vec::new(),
        http_host_set: false,
        payload_unlimited: false,
    };
    for entry in map.entries() {
        a.top_level(entry);
    }
    if !a.http_host_set {
        a.options.http_host = a.options.host.clone();
    }
    if a.payload_unlimited {
        // A payload is buffered whole and must fit a subscriber's pending bytes; nats-server
        // keeps max_payload in an int32.
        a.options.max_payload = a.options.max_pending.min(i32::MAX as usize);
    }
    let mut errors = a.errors;
    if errors.is_empty() {
        if let Err(e) = validate(options) {
            errors.extend(e.into_diagnostics());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::from_diagnostics(errors))
    }
}

/// Checks that hold whatever set the options (file, flags, both).
pub(crate) fn validate(o: &Options) -> Result<(), ConfigError> {
    if o.max_payload > o.max_pending {
        return Err(ConfigError::new(
            ErrorKind::InvalidValue,
            None,
            format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                o.max_payload, o.max_pending
            ),
        ));
    }
    if let Some(auth) = &o.authorization {
        if (auth.user.is_some() || auth.password.is_some()) && auth.token.is_some() {
            return Err(ConfigError::new(
                ErrorKind::InvalidValue,
                None,
                "cannot have a user/password and a token",
            ));
        }
    }
    check_no_auth_user(o)
}

/// Top-level keys nats-server accepts that Natter ignores with a notice, and why.
fn ignored_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "cluster"
        | "gateway"
        | "leaf"
        | "leafnodes"
        | "connect_error_reports"
        | "reconnect_error_reports" => "clustering is not implemented yet",
        "jetstream" | "store_dir" | "storedir" | "default_js_domain" => {
            "JetStream (persistence) is not implemented yet"
        }
        "mqtt" => "the MQTT listener is not implemented yet",
        "websocket" | "ws" => "the WebSocket listener is not implemented yet",
        "system_account" | "system" => "there is no system account yet",
        "syslog" | "remote_syslog" => {
            "syslog output is not implemented yet; logs go to stderr or the log file"
        }
        "logfile_size_limit" | "log_size_limit" | "logfile_max_num" => {
            "log file rotation is not implemented yet"
        }
        "mappings" | "maps" => "subject mappings are not implemented yet",
        "http_base_path" => "the monitoring endpoints are served at the root path",
        "prof_port" => "the profiling endpoint is not implemented",
        "server_tags" | "server_metadata" => "server tags are not implemented yet",
        "no_header_support" => "headers are always supported",
        "disable_sublist_cache" | "no_sublist_cache" => "the subject cache cannot be disabled",
        "max_sub_tokens" | "max_subscription_tokens" => {
            "the subject token limit is not implemented yet"
        }
        "allow_non_tls" | "ocsp" | "ocsp_cache" => "TLS is not implemented",
        _ => return None,
    })
}

/// Top-level keys whose guarantee Natter cannot give: refusing to start is the safe answer.
fn unsupported_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "tls" => "TLS is not supported by Natter yet; terminate TLS in front of Natter or remove the tls block",
        "https" | "https_port" => "HTTPS monitoring is not supported by Natter yet (TLS is not implemented)",
        "operator" | "operators" | "roots" | "root" | "root_operators" | "root_operator"
        | "resolver" | "account_resolver" | "accounts_resolver" | "resolver_tls"
        | "resolver_preload" | "resolver_pinned_accounts" | "trusted" | "trusted_keys" => {
            "JWT/operator authentication is not supported by Natter yet"
        }
        _ => return None,
    })
}

struct Applier<'o, 'w> {
    options: &'o mut Options,
    /// What nats-server itself warns about (and `-t` fails on).
    warnings: &'w mut Vec<String>,
    /// What nats-server accepts and Natter ignores, for now.
    notices: &'w mut Vec<String>,
    errors: Vec<Diagnostic>,
    http_host_set: bool,
    /// `max_payload: -1`: resolved once `max_pending` is known too.
    payload_unlimited: bool,
}

type Res<T> = Result<T, Diagnostic>;

fn diag(kind: ErrorKind, at: &Location, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        kind,
        location: Some(at.clone()),
        message: message.into(),
    }
}

fn wrong_type(key: &str, expected: &str, node: &Node) -> Diagnostic {
    diag(
        ErrorKind::InvalidValue,
        &node.location,
        format!(
            "{key}: expected {expected}, found {}",
            node.value.type_name()
        ),
    )
}

fn string(key: &str, node: &Node) -> Res<String> {
    match &node.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(key, "a string", node)),
    }
}

fn int(key: &str, node: &Node) -> Res<i64> {
    match &node.value {
        Value::Integer(i) => Ok(*i),
        _ => Err(wrong_type(key, "an integer", node)),
    }
}

fn boolean(key: &str, node: &Node) -> Res<bool> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type(key, "a boolean (true/false)", node)),
    }
}

/// A limit nats-server only applies when it is above 0: a negative value is `no_limit`, 0
/// keeps the default.
fn no_limit_if_negative(key: &str, node: &Node, current: usize, no_limit: usize) -> Res<usize> {
    if int(key, node)? < 0 {
        return Ok(no_limit);
    }
    size(key, node, current)
}

/// A non-negative size; 0 keeps the default, as in nats-server.
fn size(key: &str, node: &Node, current: usize) -> Res<usize> {
    let n = int(key, node)?;
    if n < 0 {
        return Err(diag(
            ErrorKind::InvalidValue,
            &node.location,
            format!("{key}: must not be negative, found {n}"),
        ));
    }
    if n == 0 {
        return Ok(current);
    }
    usize::try_from(n).map_err(|_| {
        diag(
            ErrorKind::InvalidValue,
            &node.location,
            format!("{key} value is too big"),
        )
    })
}

fn port_number(key: &str, n: i64, at: &Location) -> Res<i32> {
    if !(-1..=65535).contains(&n) {
        return Err(diag(
            ErrorKind::InvalidValue,
            at,
            format!("{key}: port {n} is out of range (0-65535, or -1 for a free port)"),
        ));
    }
    Ok(n as i32)
}

/// `host:port` as Go's `net.SplitHostPort` reads it (`[::1]:4222` for IPv6).
pub(crate) fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

/// `listen`/`http`: a port alone, or `"host:port"`.
fn listen(key: &str, node: &Node) -> Res<(Option<String>, i32)> {
    match &node.value {
        Value::Integer(p) => Ok((None, port_number(key, *p, &node.location)?)),
        Value::String(s) => {
            let bad = || {
                diag(
                    ErrorKind::InvalidValue,
                    &node.location,
                    format!("{key}: could not parse address string \"{s}\" (expected host:port)"),
                )
            };
            let (host, port) = split_host_port(s).ok_or_else(bad)?;
            let port: i64 = port.parse().map_err(|_| bad())?;
            Ok((Some(host), port_number(key, port, &node.location)?))
        }
        _ => Err(wrong_type(key, "a port or \"host:port\"", node)),
    }
}

/// `ping_interval`/`write_deadline`: a duration string, or (old style, with a warning, as
/// nats-server) a number of seconds.
fn duration_or_seconds(key: &str, node: &Node, warnings: &mut Vec<String>) -> Res<Duration> {
    match &node.value {
        Value::String(s) => parse_go_duration(s).map_err(|e| {
            diag(
                ErrorKind::InvalidValue,
                &node.location,
                format!("{key}: {e}"),
            )
        }),
        Value::Integer(n) if *n >= 0 => {
            let hint = match &node.literal {
                Some(lit) => format!(
                    " (the bare {lit} is the number {n}, read as {n} seconds; write \"{lit}\" in quotes for a duration)"
                ),
                None => format!(" (read as {n} seconds; write \"{n}s\")"),
            };
            let d = go_seconds(*n as u64).ok_or_else(|| {
                diag(
                    ErrorKind::InvalidValue,
                    &node.location,
                    format!(
                        "{key}: {n} seconds is longer than a Go duration can be (about 292 years)"
                    ),
                )
            })?;
            warnings.push(format!(
                "{}: {key} should be converted to a duration{hint}",
                node.location
            ));
            Ok(d)
        }
        _ => Err(wrong_type(
            key,
            "a duration such as \"2m\" or \"30s\"",
            node,
        )),
    }
}

fn duration_string(key: &str, node: &Node) -> Res<Duration> {
    match &node.value {
        Value::String(s) => parse_go_duration(s).map_err(|e| {
            diag(
                ErrorKind::InvalidValue,
                &node.location,
                format!("{key}: {e}"),
            )
        }),
        _ => Err(wrong_type(key, "a duration string such as \"30s\"", node)),
    }
}

fn is_bcrypt(s: &str) -> bool {
    s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$")
}

fn unknown_field(entry: &Entry) -> Diagnostic {
    diag(
        ErrorKind::UnknownField,
        &entry.key_location,
        format!("unknown field \"{}\"", entry.key),
    )
}

impl Applier<'_, '_> {
    /// Notes a setting nats-server accepts and Natter ignores.
    fn notice(&mut self, at: &Location, message: String) {
        self.notices.push(format!("{at}: {message}"));
    }

    fn top_level(&mut self, entry: &Entry) {
        if let Err(d) = self.top_level_inner(entry) {
            self.errors.push(d);
        }
    }

    fn top_level_inner(&mut self, entry: &Entry) -> Res<()> {
        let key = entry.key.to_ascii_lowercase();
        let k = key.as_str();
        let node = &entry.value;
        let o = &mut *self.options;
        match k {
            "listen" => {
                let (host, port) = listen(k, node)?;
                if let Some(h) = host {
                    o.host = h;
                }
                o.port = client_port(port);
            }
            "port" => o.port = client_port(port_number(k, int(k, node)?, &node.location)?),
            "host" | "net" => o.host = string(k, node)?,
            "server_name" => {
                let name = string(k, node)?;
                if name.contains(' ') {
                    return Err(diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        "server_name cannot contain spaces",
                    ));
                }
                o.server_name = Some(name);
            }
            "client_advertise" => o.client_advertise = Some(string(k, node)?),
            "http" => {
                let (host, port) = listen(k, node)?;
                if let Some(h) = host {
                    o.http_host = h;
                    self.http_host_set = true;
                }
                o.http_port = monitor_port(port);
            }
            "http_port" | "monitor_port" => {
                o.http_port = monitor_port(port_number(k, int(k, node)?, &node.location)?)
            }
            "max_payload" => {
                let n = int(k, node)?;
                // nats-server: -1 is jwt.NoLimit; any other negative fails every PUB.
                if n == -1 {
                    self.payload_unlimited = true;
                    return Ok(());
                }
                if n < 0 {
                    return Err(diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        format!(
                            "max_payload: {n} would refuse every message (nats-server starts \
                             with it, then rejects every publish); use -1 for no limit"
                        ),
                    ));
                }
                let v = size(k, node, o.max_payload)?;
                if v > i32::MAX as usize {
                    return Err(diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        "max_payload value is too big",
                    ));
                }
                self.payload_unlimited = false;
                o.max_payload = v;
            }
            "max_control_line" => {
                let n = int(k, node)?;
                if n < 0 {
                    return Err(diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        format!(
                            "max_control_line: {n} would refuse every protocol line (nats-server \
                             starts with it, then closes every client at CONNECT)"
                        ),
                    ));
                }
                let v = size(k, node, o.max_control_line)?;
                if v > i32::MAX as usize {
                    return Err(diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        "max_control_line value is too big",
                    ));
                }
                o.max_control_line = v;
            }
            // nats-server refuses to start: max_payload is then higher than max_pending.
            "max_pending" => o.max_pending = size(k, node, o.max_pending)?,
            // nats-server only limits these when they are above 0.
            "max_connections" | "max_conn" => {
                o.max_connections = no_limit_if_negative(k, node, o.max_connections, usize::MAX)?
            }
            "max_subscriptions" | "max_subs" => {
                o.max_subscriptions = no_limit_if_negative(k, node, 0, 0)?
            }
            "max_traced_msg_len" => o.max_traced_msg_len = no_limit_if_negative(k, node, 0, 0)?,
            "ping_interval" => {
                let d = duration_or_seconds(k, node, self.warnings)?;
                if !d.is_zero() {
                    self.options.ping_interval = d;
                }
            }
            "ping_max" => {
                let n = size(k, node, o.ping_max as usize)?;
                o.ping_max = u32::try_from(n).map_err(|_| {
                    diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        "ping_max value is too big",
                    )
                })?;
            }
            "write_deadline" => {
                let d = duration_or_seconds(k, node, self.warnings)?;
                if !d.is_zero() {
                    self.options.write_deadline = d;
                }
            }
            "lame_duck_duration" => {
                let d = duration_string(k, node)?;
                if d < Duration::from_secs(30) {
                    return Err(diag(
                        ErrorKind::InvalidValue,
                        &node.location,
                        format!(
                            "invalid lame_duck_duration of {}, minimum is 30 seconds",
                            format_go_duration(d)
                        ),
                    ));
                }
                o.lame_duck_duration = d;
            }
            "lame_duck_grace_period" => o.lame_duck_grace_period = duration_string(k, node)?,
            "debug" => o.debug = boolean(k, node)?,
            "trace" => o.trace = boolean(k, node)?,
            "trace_verbose" => {
                let v = boolean(k, node)?;
                o.trace_verbose = v;
                o.trace = v;
            }
            "logtime" => o.logtime = boolean(k, node)?,
            "logfile" | "log_file" => o.log_file = Some(string(k, node)?.into()),
            "pidfile" | "pid_file" => o.pid_file = Some(string(k, node)?.into()),
            "ports_file_dir" => o.ports_file_dir = Some(string(k, node)?.into()),
            "no_auth_user" => o.no_auth_user = Some(string(k, node)?),
            "protocol_version" | "version" => o.protocol_version = string(k, node)?,
            "authorization" => {
                let auth = self.authorization(node)?;
                if let Some(t) = auth.timeout {
                    self.options.auth_timeout = t;
                }
                self.options.authorization = Some(auth);
            }
            "accounts" => self.accounts(entry)?,
            "no_system_account" | "no_system" | "no_sys_acc" => {
                // Natter has no system account, which is what `true` asks for.
                if boolean(k, node)? {
                    return Ok(());
                }
                let at = entry.key_location.clone();
                self.notice(
                    &at,
                    format!("'{}' is ignored: there is no system account yet", entry.key),
                );
            }
            _ => {
                if let Some(why) = unsupported_key(k) {
                    return Err(diag(
                        ErrorKind::Unsupported,
                        &entry.key_location,
                        format!("'{}' is not supported: {why}", entry.key),
                    ));
                }
                if let Some(why) = ignored_key(k) {
                    let at = entry.key_location.clone();
                    self.notice(
                        &at,
                        format!(
                            "'{}' is not implemented by Natter and is ignored: {why}",
                            entry.key
                        ),
                    );
                    return Ok(());
                }
                if !entry.used_as_variable {
                    return Err(unknown_field(entry));
                }
            }
        }
        Ok(())
    }

    fn authorization(&mut self, node: &Node) -> Res<Authorization> {
        let Value::Map(map) = &node.value else {
            return Err(wrong_type("authorization", "a block { ... }", node));
        };
        let mut auth = Authorization::default();
        let mut users_present = false;
        for entry in map.entries() {
            let key = entry.key.to_ascii_lowercase();
            let k = key.as_str();
            let v = &entry.value;
            match k {
                "user" | "username" => auth.user = Some(string(k, v)?),
                "pass" | "password" => auth.password = Some(secret(k, v)?),
                "token" => auth.token = Some(secret(k, v)?),
                "timeout" => auth.timeout = Some(auth_timeout(v)?),
                "users" => {
                    users_present = true;
                    auth.users = self.users(v)?;
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    return Err(diag(
                        ErrorKind::Unsupported,
                        &entry.key_location,
                        format!(
                            "authorization '{}' is not supported: Natter does not enforce \
                             permissions yet",
                            entry.key
                        ),
                    ))
                }
                "auth_callout" | "auth_hook" => {
                    return Err(diag(
                        ErrorKind::Unsupported,
                        &entry.key_location,
                        format!(
                            "authorization '{}' is not supported by Natter yet",
                            entry.key
                        ),
                    ))
                }
                _ if entry.used_as_variable => {}
                _ => return Err(unknown_field(entry)),
            }
        }
        let at = &node.location;
        if (auth.user.is_some() || auth.password.is_some()) && auth.token.is_some() {
            return Err(diag(
                ErrorKind::InvalidValue,
                at,
                "Cannot have a user/pass and token",
            ));
        }
        if users_present && auth.user.is_some() {
            return Err(diag(
                ErrorKind::InvalidValue,
                at,
                "Can not have a single user/pass and a users array",
            ));
        }
        if users_present && auth.token.is_some() {
            return Err(diag(
                ErrorKind::InvalidValue,
                at,
                "Can not have a token and a users array",
            ));
        }
        Ok(auth)
    }

    fn users(&mut self, node: &Node) -> Res<Vec<User>> {
        let Value::Array(items) = &node.value else {
            return Err(wrong_type("users", "an array", node));
        };
        let mut users: Vec<User> = Vec::new();
        for item in items {
            let Value::Map(map) = &item.value else {
                return Err(wrong_type(
                    "users entry",
                    "a block { user: ..., password: ... }",
                    item,
                ));
            };
            let mut user = User::default();
            let mut named = false;
            for entry in map.entries() {
                let key = entry.key.to_ascii_lowercase();
                let k = key.as_str();
                let v = &entry.value;
                match k {
                    "user" | "username" => {
                        user.user = string(k, v)?;
                        named = true;
                    }
                    "pass" | "password" => user.password = Some(secret(k, v)?),
                    "permissions" => {
                        return Err(diag(
                            ErrorKind::Unsupported,
                            &entry.key_location,
                            "user permissions are not supported: Natter does not enforce \
                             permissions yet",
                        ))
                    }
                    "nkey" => {
                        return Err(diag(
                            ErrorKind::Unsupported,
                            &entry.key_location,
                            "nkey users are not supported by Natter yet",
                        ))
                    }
                    "account" => {
                        return Err(diag(
                            ErrorKind::Unsupported,
                            &entry.key_location,
                            "users bound to accounts are not supported: Natter has one account \
                             yet, so it could not keep accounts apart",
                        ))
                    }
                    "allowed_connection_types" | "connection_types" | "clients" => {
                        self.connection_types(entry)?
                    }
                    _ if entry.used_as_variable => {}
                    _ => return Err(unknown_field(entry)),
                }
            }
            if !named {
                return Err(diag(
                    ErrorKind::InvalidValue,
                    &item.location,
                    "users entry needs a user name",
                ));
            }
            if users.iter().any(|u| u.user == user.user) {
                return Err(diag(
                    ErrorKind::InvalidValue,
                    &item.location,
                    format!("Duplicate user \"{}\" detected", user.user),
                ));
            }
            users.push(user);
        }
        Ok(users)
    }

    /// Natter only has standard client connections, so a restriction that allows them is
    /// kept; one that forbids them could not be honoured.
    fn connection_types(&mut self, entry: &Entry) -> Res<()> {
        let Value::Array(items) = &entry.value.value else {
            return Err(wrong_type(
                &entry.key,
                "an array of connection types",
                &entry.value,
            ));
        };
        let mut standard = false;
        for item in items {
            if string(&entry.key, item)?.eq_ignore_ascii_case("STANDARD") {
                standard = true;
            }
        }
        if !standard {
            return Err(diag(
                ErrorKind::Unsupported,
                &entry.key_location,
                "allowed_connection_types without STANDARD cannot be honoured: Natter only \
                 accepts standard client connections",
            ));
        }
        Ok(())
    }

    fn accounts(&mut self, entry: &Entry) -> Res<()> {
        let node = &entry.value;
        let Value::Map(map) = &node.value else {
            return Err(wrong_type("accounts", "a block { ... }", node));
        };
        for account in map.entries() {
            if let Value::Map(acc) = &account.value.value {
                for field in acc.entries() {
                    let k = field.key.to_ascii_lowercase();
                    if k == "users" || k == "nkey" {
                        return Err(diag(
                            ErrorKind::Unsupported,
                            &field.key_location,
                            format!(
                                "accounts with users are not supported: Natter has one account \
                                 yet and would accept clients that account '{}' is meant to \
                                 authenticate",
                                account.key
                            ),
                        ));
                    }
                }
            }
        }
        self.notice(
            &entry.key_location,
            "'accounts' is not implemented by Natter and is ignored: every client uses one \
             global account"
                .to_string(),
        );
        Ok(())
    }
}

/// A password or token; bcrypt hashes are refused, since Natter compares plain text.
fn secret(key: &str, node: &Node) -> Res<String> {
    let s = string(key, node)?;
    if is_bcrypt(&s) {
        return Err(diag(
            ErrorKind::Unsupported,
            &node.location,
            format!(
                "{key}: bcrypt-hashed secrets are not supported by Natter yet; use the plain value"
            ),
        ));
    }
    Ok(s)
}

/// `authorization.timeout`: seconds (integer or float) or a duration string.
fn auth_timeout(node: &Node) -> Res<Duration> {
    let bad = || {
        diag(
            ErrorKind::InvalidValue,
            &node.location,
            "timeout: expected seconds (e.g. 2 or 0.5) or a duration such as \"2s\"",
        )
    };
    let d = match &node.value {
        Value::Integer(n) if *n >= 0 => go_seconds(*n as u64),
        Value::Float(f) if f.is_finite() && *f >= 0.0 => Duration::try_from_secs_f64(*f).ok(),
        Value::String(s) => parse_go_duration(s).ok(),
        _ => None,
    };
    // Past Go's limit, nats-server's own conversion overflows; the timer needs a bound.
    d.filter(|d| fits_go(*d)).ok_or_else(bad)
}

/// nats-server: a client port of 0 means the default port.
fn client_port(p: i32) -> i32 {
    if p == 0 {
        DEFAULT_PORT
    } else {
        p
    }
}

/// nats-server: a monitoring port of 0 means no monitoring.
fn monitor_port(p: i32) -> Option<i32> {
    (p != 0).then_some(p)
}

/// Checks that `no_auth_user` names a configured user.
fn check_no_auth_user(o: &Options) -> Result<(), ConfigError> {
    let Some(name) = &o.no_auth_user else {
        return Ok(());
    };
    // As nats-server: only a member of a users array can be the no-auth user.
    let known = o
        .authorization
        .as_ref()
        .is_some_and(|a| a.users.iter().any(|u| &u.user == name));
    if known {
        Ok(())
    } else {
        Err(ConfigError::new(
            ErrorKind::InvalidValue,
            None,
            format!("no_auth_user: \"{name}\" not present as user in authorization block"),
        ))
    }
}
