//! Pieces every subcommand shares: connection settings, the error type, and the small
//! formatting helpers that keep output shaped like the `nats` CLI and `nats bench`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::{Client, ConnectOptions, HeaderMap};
use clap::ArgMatches;
use futures::StreamExt;

/// A failure that ends the command: one line on stderr and a non-zero exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(e.to_string())
    }
}

pub(crate) type Outcome<T = ()> = Result<T, Failure>;

/// Connection settings from the global flags (and their environment variables).
#[derive(Clone, Debug)]
pub(crate) struct Global {
    pub(crate) server: String,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) timeout: Duration,
}

impl Global {
    pub(crate) fn from_matches(m: &ArgMatches) -> Outcome<Self> {
        let pick = |flag: &str, env: &str| -> Option<String> {
            m.get_one::<String>(flag)
                .cloned()
                .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        };
        let timeout = match m.get_one::<String>("timeout") {
            Some(t) => parse_duration(t).map_err(|e| Failure::new(format!("--timeout: {e}")))?,
            None => Duration::from_secs(5),
        };
        if timeout.is_zero() {
            return Err(Failure::new("--timeout must be greater than zero"));
        }
        Ok(Global {
            server: pick("server", "NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            user: pick("user", "NATS_USER"),
            password: pick("password", "NATS_PASSWORD"),
            token: pick("token", "NATS_TOKEN"),
            timeout,
        })
    }

    /// Options for one connection; `name` is what the server shows in `/connz`.
    pub(crate) fn options(&self, name: &str) -> Outcome<ConnectOptions> {
        let mut o = ConnectOptions::new()
            .name(name)
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout));
        match (&self.user, &self.password, &self.token) {
            (Some(u), p, None) => {
                o = o.user_and_password(u.clone(), p.clone().unwrap_or_default());
            }
            (None, None, Some(t)) => o = o.token(t.clone()),
            (None, None, None) => {}
            (None, Some(_), _) => return Err(Failure::new("--password needs --user")),
            (Some(_), _, Some(_)) => {
                return Err(Failure::new(
                    "use either --user/--password or --token, not both",
                ))
            }
        }
        Ok(o)
    }

    pub(crate) async fn connect(&self, name: &str) -> Outcome<Client> {
        self.connect_with(self.options(name)?).await
    }

    pub(crate) async fn connect_with(&self, options: ConnectOptions) -> Outcome<Client> {
        // The client's own connection timeout covers the TCP connect but not a server that
        // accepts and then never sends INFO, so bound the whole handshake as well.
        let attempt = options.connect(self.server.as_str());
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), attempt).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(Failure::new(format!(
                "cannot connect to {}: {e}",
                self.server
            ))),
            Err(_) => Err(Failure::new(format!(
                "cannot connect to {}: no answer within {}",
                self.server,
                go_duration(self.timeout)
            ))),
        }
    }
}

/// Waits until the server has processed everything this client sent before, by sending a
/// message to a private inbox and waiting for it to come back (a PING is only flushed, not
/// confirmed, by the client library).
pub(crate) async fn round_trip(client: &Client, timeout: Duration) -> Outcome {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    match tokio::time::timeout(timeout, sub.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::new(
            "connection closed while waiting for the server",
        )),
        Err(_) => Err(Failure::new(format!(
            "the server did not answer within {}",
            go_duration(timeout)
        ))),
    }
}

/// Parses `2s`, `500ms`, `1m30s`, `1.5s`, `250us`; a bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(|| format!("invalid duration {s:?}"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        if num_len == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    secs_to_duration(total).ok_or_else(|| format!("invalid duration {s:?}"))
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    (0.0..1e12)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

/// Formats a duration the way Go prints `time.Duration` (`1.5s`, `250ms`, `12.3µs`).
pub(crate) fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    let trim = |v: f64, unit: &str| {
        let mut s = format!("{v:.3}");
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
        format!("{s}{unit}")
    };
    if ns < 1_000_000 {
        return trim(ns as f64 / 1e3, "µs");
    }
    if ns < 1_000_000_000 {
        return trim(ns as f64 / 1e6, "ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        return trim(d.as_secs_f64(), "s");
    }
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = d.as_secs_f64() - (h * 3600 + m * 60) as f64;
    let tail = trim(s, "s");
    if h > 0 {
        format!("{h}h{m}m{tail}")
    } else {
        format!("{m}m{tail}")
    }
}

/// Parses a Go duration string as nats-server prints it in `/connz` (`1h2m3s`, `2.5ms`, `0s`),
/// also accepting a leading day count (`1d2h3m4s`). Unparseable input sorts as zero.
pub(crate) fn go_duration_secs(s: &str) -> f64 {
    let (days, rest) = match s.split_once('d') {
        Some((d, r)) if d.chars().all(|c| c.is_ascii_digit()) && !d.is_empty() => {
            (d.parse::<f64>().unwrap_or(0.0), r)
        }
        _ => (0.0, s),
    };
    let rest_secs = if rest.is_empty() {
        0.0
    } else {
        parse_duration(rest).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    };
    days * 86400.0 + rest_secs
}

/// `HH:MM:SS` of the current time (UTC: the standard library has no time zone database),
/// the prefix the `nats` CLI puts on its log lines.
pub(crate) fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86400;
    format!("{:02}:{:02}:{:02}", day / 3600, (day % 3600) / 60, day % 60)
}

/// Prints a `nats`-style log line: `HH:MM:SS message`.
pub(crate) fn log(message: fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} {}", clock(), message);
}

/// `1234567` -> `1,234,567`, as nats bench prints counts and rates.
pub(crate) fn commas(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes with binary prefixes, two decimals: `150.70 MB`, `512.00 B` (nats bench's units).
pub(crate) fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["KB", "MB", "GB", "TB", "PB", "EB"];
    if !bytes.is_finite() || bytes < 1024.0 {
        return format!("{bytes:.2} B");
    }
    let exp = ((bytes.ln() / 1024f64.ln()) as usize).clamp(1, UNITS.len());
    format!("{:.2} {}", bytes / 1024f64.powi(exp as i32), UNITS[exp - 1])
}

/// Parses `128`, `1K`, `1KB`, `1KiB`, `2MB` (binary multiples, as nats bench).
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let scale: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("invalid size unit in {s:?}")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Expands the templates the CLI supports in bodies and header values: `{{Count}}` (the
/// message number), `{{Unix}}`, `{{UnixNano}}`, `{{Time}}` and, in replies, `{{Request}}`.
pub(crate) fn expand(template: &str, count: u64, request: Option<&str>) -> String {
    if !template.contains("{{") {
        return template.to_string();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = rest[open + 2..open + close].trim();
        match name {
            "Count" => out.push_str(&count.to_string()),
            "Unix" => out.push_str(&now.as_secs().to_string()),
            "UnixNano" => out.push_str(&now.as_nanos().to_string()),
            "Time" => out.push_str(&clock()),
            "Request" if request.is_some() => out.push_str(request.unwrap_or_default()),
            _ => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// Builds a header map from repeated `K:V` flags, expanding templates in the values.
pub(crate) fn headers(specs: &[String], count: u64) -> Outcome<Option<HeaderMap>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    for spec in specs {
        let (k, v) = spec
            .split_once(':')
            .ok_or_else(|| Failure::new(format!("invalid header {spec:?}: use KEY:VALUE")))?;
        let k = k.trim();
        if k.is_empty() || k.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(Failure::new(format!("invalid header name in {spec:?}")));
        }
        map.append(k, expand(v.trim(), count, None).as_str());
    }
    Ok(Some(map))
}

/// Header lines `Key: Value`, sorted by key so output is stable.
pub(crate) fn header_lines(map: &HeaderMap) -> Vec<String> {
    let mut lines: Vec<(String, Vec<String>)> = map
        .iter()
        .map(|(k, vs)| {
            (
                k.to_string(),
                vs.iter().map(|v| v.as_str().to_string()).collect(),
            )
        })
        .collect();
    lines.sort();
    lines
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| format!("{k}: {v}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_micros(250)), "250µs");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration_secs("1h2m3s"), 3723.0);
        assert_eq!(go_duration_secs("2d1s"), 172801.0);
        assert_eq!(go_duration_secs("1.5ms"), 0.0015);
    }

    #[test]
    fn numbers_format_like_nats_bench() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(1234567), "1,234,567");
        assert_eq!(commas(-1234), "-1,234");
        assert_eq!(human_bytes(512.0), "512.00 B");
        assert_eq!(human_bytes(1536.0), "1.50 KB");
        assert_eq!(human_bytes(150.7 * 1024.0 * 1024.0), "150.70 MB");
        assert_eq!(parse_size("1KB").unwrap(), 1024);
        assert_eq!(parse_size("16").unwrap(), 16);
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn templates_expand_known_names_only() {
        assert_eq!(expand("msg {{Count}}", 7, None), "msg 7");
        assert_eq!(expand("{{ Count }}/{{Nope}}", 2, None), "2/{{Nope}}");
        assert_eq!(expand("echo {{Request}}", 1, Some("hi")), "echo hi");
        assert_eq!(expand("open {{Count", 1, None), "open {{Count");
    }
}
