//! `natter top`: a nats-top-like view of a server, built from its `/varz` and `/connz`
//! monitoring endpoints (nats-server's field names, so it works against either server).
//!
//! At a terminal it takes single-key commands as nats-top does (`o` sort, `n` limit,
//! `s` subscriptions, `d` host names, `b` plain byte figures, `?`/`h` help, `q` quit). [`Controls`] is the
//! key handling as a plain state machine; [`run`] only feeds it bytes, polls, and draws
//! what it says. When stdout is not a terminal, each poll is printed as plain text (no
//! escape codes, a blank line between frames) until the reader goes away.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::ArgMatches;
use serde_json::Value;

use crate::common::{go_duration_secs, parse_duration, Failure, Global, Outcome};
use crate::http::{self, BaseUrl};
use crate::term::{self, Screen, Size};

/// Columns `--sort` accepts: the `/connz?sort=` names nats-top uses.
pub(crate) const SORT_KEYS: [&str; 10] = [
    "cid",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "idle",
    "last",
    "uptime",
];

#[derive(Clone)]
struct Poll {
    at: Instant,
    varz: Value,
    connz: Value,
}

fn int(v: &Value, key: &str) -> i64 {
    match &v[key] {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// nats-top's compact units: `512`, `1.2K`, `3.4M`, `5.6G`.
fn short(n: f64) -> String {
    const STEPS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")];
    for (scale, unit) in STEPS {
        if n >= scale {
            return format!("{:.1}{unit}", n / scale);
        }
    }
    format!("{n:.0}")
}

fn short_bytes(n: f64) -> String {
    const STEPS: [(f64, &str); 4] = [
        (1024f64 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024f64 * 1024.0 * 1024.0, "G"),
        (1024f64 * 1024.0, "M"),
        (1024.0, "K"),
    ];
    for (scale, unit) in STEPS {
        if n >= scale {
            return format!("{:.1}{unit}", n / scale);
        }
    }
    format!("{n:.0}")
}

/// Longest text a prompt takes; more typing is ignored.
const PROMPT_MAX: usize = 64;

/// How long an error from a prompt stays on the bottom line (unless a key clears it).
/// A failed poll is not such a message: it stays for as long as polls fail.
const NOTICE_FOR: Duration = Duration::from_secs(3);

/// Which value a prompt on the bottom line is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Sort,
    Limit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// The live view.
    Top,
    /// The key list; any key goes back.
    Help,
    /// Reading a value on the bottom line; the text typed so far.
    Prompt(Ask, String),
}

const ESC: u8 = 0x1b;

/// What the caller must do after a key; when several keys arrive at once, the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    /// Nothing changed.
    Ignore,
    /// Only the screen changed (a prompt, the help, a message): draw it again.
    Redraw,
    /// What is polled changed (sort, limit, subscriptions): poll now and draw.
    Repoll,
    /// Leave.
    Quit,
}

/// The settings the keys change and the key handling itself: bytes in, state and the
/// text of the bottom line out. No I/O, so every key sequence can be tested directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Controls {
    sort: String,
    limit: usize,
    subs: bool,
    /// Byte figures in plain bytes instead of K/M/G.
    raw_bytes: bool,
    /// Hosts shown by name (reverse DNS) instead of address.
    dns: bool,
    /// Names found so far, by address text as `/connz` gives it.
    names: std::collections::HashMap<String, String>,
    mode: Mode,
    notice: Option<String>,
    /// Why the last poll failed; `None` once one succeeds.
    poll_error: Option<String>,
}

impl Controls {
    pub(crate) fn new(sort: &str, limit: usize) -> Controls {
        Controls {
            sort: sort.to_string(),
            limit: limit.max(1),
            subs: false,
            raw_bytes: false,
            dns: false,
            names: std::collections::HashMap::new(),
            mode: Mode::Top,
            notice: None,
            poll_error: None,
        }
    }

    /// The `/connz` sort option in force.
    pub(crate) fn sort(&self) -> &str {
        &self.sort
    }

    /// How many connections are polled and shown.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Whether each connection's subscriptions are polled and shown.
    pub(crate) fn subs(&self) -> bool {
        self.subs
    }

    /// Whether hosts are shown by name.
    pub(crate) fn dns(&self) -> bool {
        self.dns
    }

    /// Records the name a reverse lookup found for `ip`.
    pub(crate) fn add_name(&mut self, ip: String, name: String) {
        self.names.insert(ip, name);
    }

    /// How a connection's address shows in the HOST column: its name when names are on and
    /// one was found, else the address.
    fn host<'a>(&'a self, ip: &'a str) -> &'a str {
        match self.names.get(ip) {
            Some(name) if self.dns => name,
            _ => ip,
        }
    }

    fn showing_help(&self) -> bool {
        self.mode == Mode::Help
    }

    fn prompting(&self) -> bool {
        matches!(self.mode, Mode::Prompt(..))
    }

    /// Whether an error message is on the bottom line.
    pub(crate) fn has_notice(&self) -> bool {
        self.notice.is_some()
    }

    /// Removes the error message from the bottom line (its time is up).
    pub(crate) fn clear_notice(&mut self) {
        self.notice = None;
    }

    /// Records how the last poll went: `Err` with why it failed, `Ok` once one succeeds.
    /// A failure shows on the bottom line (when no prompt or message has it) until then;
    /// keys do not clear it.
    pub(crate) fn poll_result(&mut self, result: Result<(), String>) {
        self.poll_error = result.err().map(|e| format!("poll failed: {e}"));
    }

    /// The bottom line: the open prompt with what has been typed, an error message from a
    /// prompt, or why the last poll failed.
    pub(crate) fn status_line(&self) -> Option<String> {
        match &self.mode {
            Mode::Prompt(Ask::Sort, typed) => Some(format!("sort by [{}]: {typed}", self.sort)),
            Mode::Prompt(Ask::Limit, typed) => Some(format!("limit   [{}]: {typed}", self.limit)),
            _ => self.notice.clone().or_else(|| self.poll_error.clone()),
        }
    }

    /// Handles what one read from the terminal (in raw mode) returned: usually one key.
    /// Keys that send an escape sequence (arrows, function keys: `ESC [ ... final` or
    /// `ESC O x`, all in one read) are skipped whole; a lone `ESC` is the Esc key.
    pub(crate) fn input(&mut self, bytes: &[u8]) -> Action {
        let mut action = Action::Ignore;
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            if b == ESC && matches!(rest.first(), Some(b'[' | b'O')) {
                let end = rest[1..]
                    .iter()
                    .position(|f| (0x40..=0x7e).contains(f))
                    .map_or(rest.len(), |p| p + 2);
                rest = &rest[end..];
                continue;
            }
            action = action.max(self.key(b));
            if action == Action::Quit {
                break;
            }
        }
        action
    }

    /// Handles one key byte.
    pub(crate) fn key(&mut self, b: u8) -> Action {
        // Ctrl-C and Ctrl-D (raw mode delivers them as bytes) quit from anywhere.
        if b == 3 || b == 4 {
            return Action::Quit;
        }
        // Any key dismisses a message.
        let had_notice = self.notice.take().is_some();
        let unchanged = if had_notice {
            Action::Redraw
        } else {
            Action::Ignore
        };
        match std::mem::replace(&mut self.mode, Mode::Top) {
            Mode::Help => {
                if b == b'q' {
                    Action::Quit
                } else {
                    Action::Redraw
                }
            }
            Mode::Prompt(ask, mut typed) => match b {
                b'\r' | b'\n' => self.submit(ask, typed.trim()),
                ESC => Action::Redraw,
                // Backspace (DEL or ^H) and ^U, as in a shell.
                0x7f | 0x08 => {
                    typed.pop();
                    self.mode = Mode::Prompt(ask, typed);
                    Action::Redraw
                }
                0x15 => {
                    self.mode = Mode::Prompt(ask, String::new());
                    Action::Redraw
                }
                0x20..=0x7e if typed.len() < PROMPT_MAX => {
                    typed.push(char::from(b));
                    self.mode = Mode::Prompt(ask, typed);
                    Action::Redraw
                }
                _ => {
                    self.mode = Mode::Prompt(ask, typed);
                    unchanged
                }
            },
            Mode::Top => match b {
                b'q' => Action::Quit,
                b'o' => {
                    self.mode = Mode::Prompt(Ask::Sort, String::new());
                    Action::Redraw
                }
                b'n' => {
                    self.mode = Mode::Prompt(Ask::Limit, String::new());
                    Action::Redraw
                }
                b's' => {
                    self.subs = !self.subs;
                    Action::Repoll
                }
                b'b' => {
                    self.raw_bytes = !self.raw_bytes;
                    Action::Redraw
                }
                b'd' => {
                    self.dns = !self.dns;
                    Action::Redraw
                }
                b'?' | b'h' => {
                    self.mode = Mode::Help;
                    Action::Redraw
                }
                _ => unchanged,
            },
        }
    }

    /// Enter on a prompt: apply a valid value, show an error for an invalid one; an empty
    /// line changes nothing.
    fn submit(&mut self, ask: Ask, typed: &str) -> Action {
        if typed.is_empty() {
            return Action::Redraw;
        }
        match ask {
            Ask::Sort => {
                let name = typed.to_ascii_lowercase();
                if SORT_KEYS.contains(&name.as_str()) {
                    self.sort = name;
                    Action::Repoll
                } else {
                    self.notice = Some(format!(
                        "invalid order: {typed} (one of {})",
                        SORT_KEYS.join(", ")
                    ));
                    Action::Redraw
                }
            }
            Ask::Limit => match typed.parse::<u32>() {
                Ok(n) if n > 0 => {
                    self.limit = n as usize;
                    Action::Repoll
                }
                _ => {
                    self.notice = Some(format!(
                        "invalid limit: {typed} (a number of connections, 1 or more)"
                    ));
                    Action::Redraw
                }
            },
        }
    }
}

/// The help screen: the keys, the sort options and the current settings.
fn help_lines(c: &Controls) -> Vec<String> {
    let text = format!(
        "natter top: keys

  o<column>  Sort the connections by <column>: type its name, then Enter
             (Esc or an empty line cancels). Columns:
             {}
             --sort sets the first one.

  n<number>  How many connections to poll and show (--conns sets the first).
             The server sorts before it limits, so n 1 with o msgs_to
             shows the connection that received the most messages.

  s          Show or hide each connection's subscriptions.

  d          Hosts by name (reverse DNS lookups, made once per address in the
             background), or back to addresses.

  b          Byte figures in plain bytes, or back to K/M/G.

  ? or h     This help.

  q          Quit (Ctrl-C and Ctrl-D too).

Now: sorted by {}, up to {} connections, subscriptions {}, hosts by {}.

{HELP_BACK}.",
        SORT_KEYS.join(" "),
        c.sort,
        c.limit,
        if c.subs { "shown" } else { "hidden" },
        if c.dns { "name" } else { "address" }
    );
    text.lines().map(str::to_string).collect()
}

/// The last line of the help: kept in view when the window is too small for all of it.
const HELP_BACK: &str = "Press any key to go back";

/// The `/connz` request for the current settings (the sort name is always one of
/// [`SORT_KEYS`], so it needs no escaping).
fn connz_path(c: &Controls) -> String {
    let subs = if c.subs() { "&subs=1" } else { "" };
    format!("/connz?sort={}&limit={}{subs}", c.sort(), c.limit())
}

/// What a poll asks for, owned, so a poll can run while the keys change the settings.
#[derive(Clone)]
struct Request {
    base: BaseUrl,
    connz: String,
    subs: bool,
    timeout: Duration,
}

impl Request {
    fn new(base: &BaseUrl, c: &Controls, timeout: Duration) -> Request {
        Request {
            base: base.clone(),
            connz: connz_path(c),
            subs: c.subs(),
            timeout,
        }
    }
}

async fn poll(r: Request) -> Outcome<Poll> {
    let (base, timeout) = (&r.base, r.timeout);
    let (status, body) = http::get(base, "/varz", timeout).await?;
    if status != 200 {
        return Err(Failure::new(format!("GET /varz answered HTTP {status}")));
    }
    let varz: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(format!("/varz is not JSON: {e}")))?;
    // The server sorts and limits so the busiest connections are the ones returned; if it
    // refuses the parameters, take everything and sort here.
    let (mut status, mut body) = http::get(base, &r.connz, timeout).await?;
    if status != 200 {
        let plain = if r.subs { "/connz?subs=1" } else { "/connz" };
        (status, body) = http::get(base, plain, timeout).await?;
    }
    if status != 200 {
        return Err(Failure::new(format!("GET /connz answered HTTP {status}")));
    }
    let connz: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(format!("/connz is not JSON: {e}")))?;
    Ok(Poll {
        at: Instant::now(),
        varz,
        connz,
    })
}

fn sort_connections(conns: &mut [Value], key: &str) {
    let num = |c: &Value| -> f64 {
        match key {
            "cid" => -(int(c, "cid") as f64),
            "subs" => int(c, "subscriptions") as f64,
            "pending" => int(c, "pending_bytes") as f64,
            "msgs_to" => int(c, "out_msgs") as f64,
            "msgs_from" => int(c, "in_msgs") as f64,
            "bytes_to" => int(c, "out_bytes") as f64,
            "bytes_from" => int(c, "in_bytes") as f64,
            "idle" => go_duration_secs(text(c, "idle")),
            "uptime" => go_duration_secs(text(c, "uptime")),
            _ => 0.0,
        }
    };
    if key == "last" {
        // RFC 3339 times from one server share a format, so text order is time order.
        conns.sort_by(|a, b| text(b, "last_activity").cmp(text(a, "last_activity")));
    } else {
        conns.sort_by(|a, b| num(b).total_cmp(&num(a)));
    }
}

/// One screen's content before it is fitted to a window: the server summary and the
/// column titles, then one line per connection.
struct Frame {
    head: Vec<String>,
    rows: Vec<String>,
}

impl Frame {
    /// The whole frame as plain text (`--once`, or output that is not a terminal).
    fn text(&self) -> String {
        let mut out = String::new();
        for line in self.head.iter().chain(&self.rows) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Builds one screen from the latest poll and the one before it (for the rates).
fn frame(prev: &Poll, cur: &Poll, c: &Controls) -> Frame {
    let short_bytes = |n: f64| {
        if c.raw_bytes {
            format!("{n:.0}")
        } else {
            short_bytes(n)
        }
    };
    let v = &cur.varz;
    let secs = cur.at.duration_since(prev.at).as_secs_f64().max(1e-3);
    let rate = |key: &str| ((int(v, key) - int(&prev.varz, key)).max(0) as f64) / secs;
    let mut head = vec![
        format!(
            "NATS server version {} (uptime: {}) {}",
            text(v, "version"),
            text(v, "uptime"),
            text(v, "server_name")
        ),
        "Server:".to_string(),
        format!("  ID:   {}", text(v, "server_id")),
        format!(
            "  Load: CPU: {:>5.1}%  Memory: {}  Slow Consumers: {}",
            v["cpu"].as_f64().unwrap_or(0.0),
            short_bytes(int(v, "mem") as f64),
            int(v, "slow_consumers")
        ),
        format!(
            "  Conns: {}  Total: {}  Subscriptions: {}",
            int(v, "connections"),
            int(v, "total_connections"),
            int(v, "subscriptions")
        ),
    ];
    for (label, dir) in [("In: ", "in"), ("Out:", "out")] {
        let (m, b) = (format!("{dir}_msgs"), format!("{dir}_bytes"));
        head.push(format!(
            "  {label}  Msgs: {}  Bytes: {}  Msgs/Sec: {:.1}  Bytes/Sec: {}",
            short(int(v, &m) as f64),
            short_bytes(int(v, &b) as f64),
            rate(&m),
            short_bytes(rate(&b))
        ));
    }
    let mut conns: Vec<Value> = cur.connz["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    sort_connections(&mut conns, c.sort());
    conns.truncate(c.limit());
    head.push(String::new());
    head.push(format!(
        "Connections Polled: {} (sorted by {})",
        conns.len(),
        c.sort()
    ));
    // With subscriptions, they follow the last activity, an RFC 3339 time with nanoseconds
    // (up to 30 characters).
    let last_w = if c.subs() { 30 } else { 0 };
    let mut titles = format!(
        "  {:<21} {:<6} {:<24} {:<6} {:<9} {:<9} {:<9} {:<9} {:<10} {:<8} {:<9} {:<9} {:<last_w$}",
        "HOST",
        "CID",
        "NAME",
        "SUBS",
        "PENDING",
        "MSGS_TO",
        "MSGS_FROM",
        "BYTES_TO",
        "BYTES_FROM",
        "LANG",
        "VERSION",
        "UPTIME",
        "LAST_ACTIVITY"
    );
    if c.subs() {
        titles.push_str(" SUBSCRIPTIONS");
    }
    head.push(titles);
    let rows = conns
        .iter()
        .map(|conn| {
            // A long host name is cut, so the columns after it stay in line.
            let host = term::cell(
                &format!("{}:{}", c.host(text(conn, "ip")), int(conn, "port")),
                21,
            );
            // Text the clients chose is cut and padded by display width, so a wide
            // character does not push the columns after it.
            let mut row = format!(
                "  {} {:<6} {} {:<6} {:<9} {:<9} {:<9} {:<9} {:<10} {} {} {:<9} {:<last_w$}",
                host,
                int(conn, "cid"),
                term::cell(text(conn, "name"), 24),
                int(conn, "subscriptions"),
                short_bytes(int(conn, "pending_bytes") as f64),
                short(int(conn, "out_msgs") as f64),
                short(int(conn, "in_msgs") as f64),
                short_bytes(int(conn, "out_bytes") as f64),
                short_bytes(int(conn, "in_bytes") as f64),
                term::cell(text(conn, "lang"), 8),
                term::cell(text(conn, "version"), 9),
                text(conn, "uptime"),
                text(conn, "last_activity")
            );
            if c.subs() {
                let subs: Vec<&str> = conn["subscriptions_list"]
                    .as_array()
                    .map(|l| l.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                row.push(' ');
                row.push_str(&subs.join(", "));
            }
            row
        })
        .collect();
    Frame { head, rows }
}

/// The lines to draw for the current state, fitted to `size`, and where the cursor goes
/// (the end of an open prompt).
fn screen_lines(
    c: &Controls,
    prev: &Poll,
    cur: &Poll,
    size: Option<Size>,
) -> (Vec<String>, Option<(usize, usize)>) {
    let (head, rows) = if c.showing_help() {
        let mut help = help_lines(c);
        // Too small for all of it: say how to leave on the last line that shows.
        let body = size.map_or(usize::MAX, |s| s.rows.saturating_sub(1));
        if help.len() > body && body > 0 {
            help.truncate(body);
            help[body - 1] = format!("{HELP_BACK} (window too small for all the help)");
        }
        (help, Vec::new())
    } else {
        let f = frame(prev, cur, c);
        (f.head, f.rows)
    };
    let status = c.status_line();
    let lines = term::fit(&head, &rows, status.as_deref(), size);
    let cursor = match (size, lines.last()) {
        (Some(size), Some(last)) if c.prompting() && size.cols > 0 => {
            Some((size.rows - 1, term::width(last).min(size.cols - 1)))
        }
        _ => None,
    };
    (lines, cursor)
}

/// Reverse DNS lookups for the `d` key, made one at a time on a thread of their own (a
/// lookup blocks, for seconds when a name server does not answer), each address once.
/// Names arrive on `found`; an address without a name sends nothing and stays shown as
/// it is.
struct Resolver {
    /// Addresses to look up, to the thread; started with the first one.
    ask: Option<std::sync::mpsc::Sender<String>>,
    found_tx: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    found: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    asked: std::collections::HashSet<String>,
}

impl Default for Resolver {
    fn default() -> Self {
        let (found_tx, found) = tokio::sync::mpsc::unbounded_channel();
        Resolver {
            ask: None,
            found_tx,
            found,
            asked: std::collections::HashSet::new(),
        }
    }
}

impl Resolver {
    /// With names on, asks for the addresses in `poll` not asked for before.
    fn ask(&mut self, c: &Controls, poll: &Poll) {
        if !c.dns() {
            return;
        }
        let Some(conns) = poll.connz["connections"].as_array() else {
            return;
        };
        for conn in conns {
            let ip = text(conn, "ip");
            if ip.is_empty() || !self.asked.insert(ip.to_string()) {
                continue;
            }
            let found = self.found_tx.clone();
            let ask = self.ask.get_or_insert_with(|| {
                let (tx, rx) = std::sync::mpsc::channel::<String>();
                let _ = std::thread::Builder::new()
                    .name("top-dns".into())
                    .spawn(move || {
                        for ip in rx {
                            if let Some(name) = reverse_lookup(&ip) {
                                if found.send((ip, name)).is_err() {
                                    return;
                                }
                            }
                        }
                    });
                tx
            });
            let _ = ask.send(ip.to_string());
        }
    }
}

/// The name for an address, by the system's resolver (hosts file, DNS); `None` when it has
/// none (or `ip` is not an address).
fn reverse_lookup(ip: &str) -> Option<String> {
    let addr: std::net::IpAddr = ip.parse().ok()?;
    dns_lookup::lookup_addr(&addr)
        .ok()
        .filter(|name| !name.is_empty() && name != ip)
}

/// A poll under way: a separate branch of the main loop, so keys and signals are served
/// while it waits for the server.
type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome<Poll>>>>;

pub(crate) async fn run(g: &Global, m: &ArgMatches) -> Outcome {
    use std::io::Write;

    let base = BaseUrl::parse(
        m.get_one::<String>("monitor")
            .map_or("http://127.0.0.1:8222", |s| s.as_str()),
    )?;
    let delay = parse_duration(m.get_one::<String>("delay").map_or("1s", |s| s.as_str()))
        .map_err(|e| Failure::new(format!("--delay: {e}")))?;
    let delay = delay.max(Duration::from_millis(10));
    let sort = m.get_one::<String>("sort").map_or("cid", |s| s.as_str());
    let conns = m.get_one::<u64>("conns").map_or(1024, |n| *n);
    let mut controls = Controls::new(sort, usize::try_from(conns).unwrap_or(usize::MAX));
    let timeout = g.timeout;

    let first = poll(Request::new(&base, &controls, timeout)).await?;
    if m.get_flag("once") {
        // Rates need two polls.
        tokio::time::sleep(delay).await;
        let cur = poll(Request::new(&base, &controls, timeout)).await?;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(frame(&first, &cur, &controls).text().as_bytes());
        let _ = out.flush();
        return Ok(());
    }

    let interactive = std::io::stdin().is_terminal();
    // Output to a pipe or a file gets plain text, one frame per poll, and no escape codes.
    let to_terminal = std::io::stdout().is_terminal();
    let (keys_tx, mut keys) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    if interactive {
        // A plain thread: blocking stdin reads must not occupy a runtime worker. Each read
        // is sent whole, so an escape sequence stays together.
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = stdin.read(&mut buf) {
                if keys_tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    use tokio::signal::unix::{signal, SignalKind};
    // Made once, before the loop, so a signal between two turns of it is not lost. Each
    // of them gives the terminal back and exits with status 0.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut winch = signal(SignalKind::window_change())?;
    let screen = Screen::enter(interactive, to_terminal);
    let (mut prev, mut cur) = (first.clone(), first);
    let draw = |c: &Controls, prev: &Poll, cur: &Poll| {
        // The size is read on every draw, so a resize shows on the next frame even if its
        // signal was missed.
        let size = term::size();
        let (lines, cursor) = screen_lines(c, prev, cur, size);
        screen.draw(&lines, size, cursor);
    };
    // Not a terminal: each poll's frame once; a failed write (the reader is gone, as
    // with `natter top | head -1`) ends the program.
    let mut printed = 0u64;
    let mut print = |c: &Controls, prev: &Poll, cur: &Poll| -> bool {
        let sep = if printed == 0 { "" } else { "\n" };
        printed += 1;
        let text = format!("{sep}{}", frame(prev, cur, c).text());
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    };
    if to_terminal {
        draw(&controls, &prev, &cur);
    } else if !print(&controls, &prev, &cur) {
        return Ok(());
    }
    let mut names = Resolver::default();
    let mut next_poll = tokio::time::Instant::now() + delay;
    let mut pending: Option<Pending> = None;
    let mut notice_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_poll), if pending.is_none() => {
                pending = Some(Box::pin(poll(Request::new(&base, &controls, timeout))));
            }
            Some(result) = futures::future::OptionFuture::from(pending.as_mut()), if pending.is_some() => {
                pending = None;
                match result {
                    Ok(new) => {
                        prev = std::mem::replace(&mut cur, new);
                        controls.poll_result(Ok(()));
                        names.ask(&controls, &cur);
                        if !to_terminal && !print(&controls, &prev, &cur) {
                            return Ok(());
                        }
                    }
                    // The server may be restarting: the last frame stays, the bottom line
                    // says why it is not fresh until a poll succeeds, and the next tick
                    // tries again.
                    Err(e) => {
                        if !to_terminal {
                            eprintln!("natter top: poll failed: {}", e.message);
                        }
                        controls.poll_result(Err(e.message));
                    }
                }
                if to_terminal {
                    draw(&controls, &prev, &cur);
                }
                next_poll = tokio::time::Instant::now() + delay;
            }
            key = keys.recv(), if interactive => {
                let Some(key) = key else {
                    // stdin closed: nobody can press q any more.
                    return Ok(());
                };
                let action = controls.input(&key);
                names.ask(&controls, &cur);
                match action {
                    Action::Quit => return Ok(()),
                    Action::Repoll => {
                        // A poll under way asked with the old settings: start again.
                        pending = Some(Box::pin(poll(Request::new(&base, &controls, timeout))));
                        if to_terminal {
                            draw(&controls, &prev, &cur);
                        }
                    }
                    Action::Redraw if to_terminal => draw(&controls, &prev, &cur),
                    Action::Redraw | Action::Ignore => {}
                }
                // Every key clears a message and only Enter on a prompt sets one, so a
                // message here is new.
                notice_until = controls
                    .has_notice()
                    .then(|| tokio::time::Instant::now() + NOTICE_FOR);
            }
            _ = tokio::time::sleep_until(notice_until.unwrap_or(next_poll)), if notice_until.is_some() => {
                controls.clear_notice();
                notice_until = None;
                if to_terminal {
                    draw(&controls, &prev, &cur);
                }
            }
            Some((ip, name)) = names.found.recv() => {
                controls.add_name(ip, name);
                if to_terminal && controls.dns() {
                    draw(&controls, &prev, &cur);
                }
            }
            _ = winch.recv() => {
                if to_terminal {
                    draw(&controls, &prev, &cur);
                }
            }
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
            _ = quit.recv() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connections_sort_by_the_chosen_column() {
        let mut c = vec![
            json!({"cid": 1, "out_msgs": 5, "idle": "2s", "last_activity": "2026-01-01T00:00:01Z"}),
            json!({"cid": 2, "out_msgs": 50, "idle": "1m", "last_activity": "2026-01-01T00:00:03Z"}),
            json!({"cid": 3, "out_msgs": 7, "idle": "1ms", "last_activity": "2026-01-01T00:00:02Z"}),
        ];
        let cids = |c: &[Value]| c.iter().map(|v| int(v, "cid")).collect::<Vec<_>>();
        sort_connections(&mut c, "msgs_to");
        assert_eq!(cids(&c), vec![2, 3, 1]);
        sort_connections(&mut c, "cid");
        assert_eq!(cids(&c), vec![1, 2, 3]);
        sort_connections(&mut c, "idle");
        assert_eq!(cids(&c), vec![2, 1, 3]);
        sort_connections(&mut c, "last");
        assert_eq!(cids(&c), vec![2, 3, 1]);
    }

    #[test]
    fn b_switches_byte_figures_between_units_and_plain_bytes() {
        let t = Instant::now();
        let poll = |at, bytes: i64| Poll {
            at,
            varz: json!({"in_bytes": bytes, "mem": 3_145_728}),
            connz: json!({"connections": [{"cid": 1, "out_bytes": 5000}]}),
        };
        let (a, b) = (poll(t, 0), poll(t + Duration::from_secs(1), 2048));
        let mut c = Controls::new("cid", 10);
        let text = |c: &Controls| frame(&a, &b, c).text();
        let units = text(&c);
        assert!(units.contains("Memory: 3.0M"), "{units}");
        assert!(
            units.contains("Bytes: 2.0K  Msgs/Sec: 0.0  Bytes/Sec: 2.0K"),
            "{units}"
        );
        assert!(units.contains("4.9K"), "{units}");
        assert_eq!(c.key(b'b'), Action::Redraw);
        let raw = text(&c);
        assert!(raw.contains("Memory: 3145728"), "{raw}");
        assert!(
            raw.contains("Bytes: 2048  Msgs/Sec: 0.0  Bytes/Sec: 2048"),
            "{raw}"
        );
        assert!(raw.contains("5000"), "{raw}");
        assert_eq!(c.key(b'b'), Action::Redraw);
        assert_eq!(text(&c), units);
    }

    #[test]
    fn d_shows_hosts_by_the_names_found_and_back_by_address() {
        let t = Instant::now();
        let poll = |at| Poll {
            at,
            varz: json!({}),
            connz: json!({"connections": [
                {"cid": 1, "ip": "10.0.0.7", "port": 4100},
                {"cid": 2, "ip": "10.0.0.8", "port": 4101},
            ]}),
        };
        let (a, b) = (poll(t), poll(t + Duration::from_secs(1)));
        let mut c = Controls::new("cid", 10);
        let text = |c: &Controls| frame(&a, &b, c).text();
        c.add_name("10.0.0.7".into(), "web-1.example".into());
        // A name found while names are off is kept but not shown.
        assert!(text(&c).contains("  10.0.0.7:4100 "), "{}", text(&c));
        assert_eq!(c.key(b'd'), Action::Redraw);
        assert!(c.dns());
        let named = text(&c);
        assert!(named.contains("  web-1.example:4100 "), "{named}");
        // No name (yet) for the other: its address stays.
        assert!(named.contains("  10.0.0.8:4101 "), "{named}");
        assert!(help_lines(&c).join("\n").contains("hosts by name."));
        // A long name is cut to the column, so the CID after it stays in place.
        c.add_name(
            "10.0.0.8".into(),
            "a-very-long-host-name.example.com".into(),
        );
        let long = text(&c);
        let row = long.lines().find(|l| l.contains("a-very-long")).unwrap();
        assert_eq!(&row[..25], "  a-very-long-host-name 2", "{long}");
        assert_eq!(c.key(b'd'), Action::Redraw);
        assert!(text(&c).contains("  10.0.0.7:4100 "));
    }

    #[test]
    fn a_failed_poll_stays_on_the_bottom_line_until_a_poll_succeeds() {
        let mut c = Controls::new("cid", 10);
        c.poll_result(Err("connection refused".into()));
        let failed = Some("poll failed: connection refused");
        assert_eq!(c.status_line().as_deref(), failed);
        // Keys do not clear it.
        assert_eq!(c.key(b'x'), Action::Ignore);
        assert_eq!(c.status_line().as_deref(), failed);
        // A prompt takes the bottom line while it is open, then the failure is back.
        assert_eq!(c.key(b'o'), Action::Redraw);
        assert_eq!(c.status_line().as_deref(), Some("sort by [cid]: "));
        c.poll_result(Err("timed out".into()));
        assert_eq!(c.status_line().as_deref(), Some("sort by [cid]: "));
        assert_eq!(c.key(ESC), Action::Redraw);
        assert_eq!(c.status_line().as_deref(), Some("poll failed: timed out"));
        // A message from a prompt goes over it, and when it goes the failure shows again.
        typed(&mut c, "obogus\r");
        assert!(c.status_line().unwrap().starts_with("invalid order"));
        c.clear_notice();
        assert_eq!(c.status_line().as_deref(), Some("poll failed: timed out"));
        // The next good poll clears it, whatever the keys did.
        c.poll_result(Ok(()));
        assert_eq!(c.status_line(), None);
        c.poll_result(Err("refused".into()));
        typed(&mut c, "obogus\r");
        c.poll_result(Ok(()));
        assert!(c.status_line().unwrap().starts_with("invalid order"));
        c.key(b'x');
        assert_eq!(c.status_line(), None);
    }

    #[test]
    fn wide_names_are_cut_and_padded_by_display_width() {
        let p = poll_with(vec![
            json!({"cid": 1, "ip": "127.0.0.1", "port": 9, "subscriptions": 7,
                   "name": "日本語の長い名前です日本語の長い名前です", "lang": "言語言語言語",
                   "version": "1.0"}),
            json!({"cid": 2, "ip": "127.0.0.1", "port": 10, "subscriptions": 8,
                   "name": "e\u{301}\u{1b}[2J😀", "lang": "rust"}),
            json!({"cid": 3, "ip": "127.0.0.1", "port": 11, "subscriptions": 9,
                   "name": "plain"}),
        ]);
        let f = frame(&p, &p, &Controls::new("cid", 10));
        let titles = f.head.last().unwrap();
        // Where a column starts on the screen: the display width of what comes before.
        let at = |line: &str, what: &str| term::width(&line[..line.find(what).unwrap()]);
        let subs = at(titles, "SUBS");
        let version = at(titles, "VERSION");
        for (row, n) in f.rows.iter().zip(["7", "8", "9"]) {
            assert_eq!(at(row, &format!(" {n} ")) + 1, subs, "{row}");
            assert_eq!(at(row, " 0 ") + 1, at(titles, "PENDING"), "{row}");
            assert!(!row.contains('\u{1b}'), "{row:?}");
        }
        assert_eq!(at(&f.rows[0], "1.0"), version, "{}", f.rows[0]);
    }

    #[test]
    fn rates_come_from_two_polls() {
        let t = Instant::now();
        let a = Poll {
            at: t,
            varz: json!({"in_msgs": 100, "out_msgs": 0, "in_bytes": 0, "out_bytes": 0}),
            connz: json!({"connections": []}),
        };
        let b = Poll {
            at: t + Duration::from_secs(2),
            varz: json!({"in_msgs": 300, "out_msgs": 0, "in_bytes": 2048, "out_bytes": 0, "version": "9.9"}),
            connz: json!({"connections": [{"cid": 4, "ip": "127.0.0.1", "port": 5, "name": "x"}]}),
        };
        let f = frame(&a, &b, &Controls::new("cid", 10)).text();
        assert!(f.contains("NATS server version 9.9"), "{f}");
        assert!(f.contains("Msgs/Sec: 100.0  Bytes/Sec: 1.0K"), "{f}");
        assert!(f.contains("127.0.0.1:5"), "{f}");
        assert!(f.contains("Connections Polled: 1"), "{f}");
    }

    fn typed(c: &mut Controls, keys: &str) -> Action {
        c.input(keys.as_bytes())
    }

    #[test]
    fn o_prompts_for_a_sort_column_and_enter_applies_it() {
        let mut c = Controls::new("cid", 1024);
        assert_eq!(c.status_line(), None);
        assert_eq!(c.key(b'o'), Action::Redraw);
        assert_eq!(c.status_line().as_deref(), Some("sort by [cid]: "));
        for b in b"msgs_t" {
            assert_eq!(c.key(*b), Action::Redraw);
        }
        assert_eq!(c.status_line().as_deref(), Some("sort by [cid]: msgs_t"));
        assert_eq!(c.sort(), "cid", "nothing applies before Enter");
        c.key(b'o');
        assert_eq!(c.key(b'\r'), Action::Repoll);
        assert_eq!(c.sort(), "msgs_to");
        assert_eq!(c.status_line(), None, "the prompt closes");
        assert_eq!(connz_path(&c), "/connz?sort=msgs_to&limit=1024");
        // Letters that are commands elsewhere are text in a prompt; backspace edits.
        assert_eq!(
            typed(&mut c, "oqs?hx\x7f\x7f\x7f\x7fbytes_from"),
            Action::Redraw
        );
        assert_eq!(
            c.status_line().as_deref(),
            Some("sort by [msgs_to]: qbytes_from")
        );
        assert_eq!(c.key(0x08), Action::Redraw);
        c.key(0x15);
        assert_eq!(c.status_line().as_deref(), Some("sort by [msgs_to]: "));
        assert_eq!(typed(&mut c, "Bytes_From\n"), Action::Repoll);
        assert_eq!(c.sort(), "bytes_from");
        assert!(!c.subs());
    }

    #[test]
    fn an_invalid_sort_name_is_an_error_message_and_changes_nothing() {
        let mut c = Controls::new("subs", 10);
        assert_eq!(typed(&mut c, "obogus\r"), Action::Redraw);
        assert_eq!(c.sort(), "subs");
        let status = c.status_line().unwrap();
        assert!(
            status.starts_with("invalid order: bogus (one of cid, subs,"),
            "{status}"
        );
        assert!(c.has_notice());
        // The next key clears the message and still does its job.
        assert_eq!(c.key(b'o'), Action::Redraw);
        assert_eq!(c.status_line().as_deref(), Some("sort by [subs]: "));
        assert!(!c.has_notice());
        // An ignored key that clears a message still needs a redraw.
        typed(&mut c, "x\r");
        assert!(c.has_notice());
        assert_eq!(c.key(b'z'), Action::Redraw);
        assert_eq!(c.key(b'z'), Action::Ignore);
        // The timer clears it too.
        typed(&mut c, "ox\r");
        c.clear_notice();
        assert_eq!(c.status_line(), None);
    }

    #[test]
    fn esc_or_an_empty_line_cancels_a_prompt() {
        let mut c = Controls::new("cid", 10);
        assert_eq!(typed(&mut c, "omsgs_to\x1b"), Action::Redraw);
        assert_eq!((c.sort(), c.status_line()), ("cid", None));
        assert_eq!(typed(&mut c, "o   \r"), Action::Redraw);
        assert_eq!((c.sort(), c.status_line()), ("cid", None));
        assert_eq!(typed(&mut c, "n\r"), Action::Redraw);
        assert_eq!((c.limit(), c.status_line()), (10, None));
        // Arrow and function keys are skipped whole, not typed or cancelling.
        assert_eq!(typed(&mut c, "oid\x1b[D\x1b[1;5C\x1bOPle"), Action::Redraw);
        assert_eq!(c.status_line().as_deref(), Some("sort by [cid]: idle"));
        assert_eq!(typed(&mut c, "\r"), Action::Repoll);
        assert_eq!(c.sort(), "idle");
    }

    #[test]
    fn n_prompts_for_a_positive_connection_limit() {
        let mut c = Controls::new("cid", 1024);
        assert_eq!(c.key(b'n'), Action::Redraw);
        assert_eq!(c.status_line().as_deref(), Some("limit   [1024]: "));
        assert_eq!(typed(&mut c, "25\r"), Action::Repoll);
        assert_eq!(c.limit(), 25);
        assert_eq!(connz_path(&c), "/connz?sort=cid&limit=25");
        for bad in ["0", "-3", "ten", "99999999999999999999", "1.5"] {
            assert_eq!(typed(&mut c, &format!("n{bad}\r")), Action::Redraw, "{bad}");
            assert_eq!(c.limit(), 25, "{bad}");
            let status = c.status_line().unwrap();
            assert!(
                status.starts_with(&format!("invalid limit: {bad}")),
                "{status}"
            );
        }
        // Typing stops at the prompt's length limit.
        typed(&mut c, "n");
        typed(&mut c, &"9".repeat(500));
        assert_eq!(
            c.status_line().unwrap().len(),
            "limit   [25]: ".len() + PROMPT_MAX
        );
    }

    #[test]
    fn s_toggles_subscriptions_and_the_help_screen_returns_on_any_key() {
        let mut c = Controls::new("cid", 5);
        assert_eq!(c.key(b's'), Action::Repoll);
        assert!(c.subs());
        assert_eq!(connz_path(&c), "/connz?sort=cid&limit=5&subs=1");
        assert_eq!(c.key(b's'), Action::Repoll);
        assert!(!c.subs());

        for help in [b'?', b'h'] {
            assert_eq!(c.key(help), Action::Redraw);
            assert!(c.showing_help());
            let text = help_lines(&c).join("\n");
            for key in [
                "o<column>",
                "n<number>",
                "  s  ",
                "  b  ",
                "? or h",
                "  q  ",
            ] {
                assert!(text.contains(key), "{key} missing from {text}");
            }
            for name in SORT_KEYS {
                assert!(text.contains(name), "{name} missing from {text}");
            }
            assert!(
                text.contains("sorted by cid, up to 5 connections"),
                "{text}"
            );
            // Any key goes back and does nothing else (s does not toggle here).
            assert_eq!(c.key(b's'), Action::Redraw);
            assert!(!c.showing_help());
            assert!(!c.subs());
        }
        typed(&mut c, "?");
        assert_eq!(c.key(b'q'), Action::Quit, "q quits from the help too");
    }

    #[test]
    fn q_ctrl_c_and_ctrl_d_quit_and_unknown_keys_are_ignored() {
        let mut c = Controls::new("cid", 5);
        for b in [b'x', b'Q', b' ', b'\r', 0x7f, 0x1b, 0x80, 0xff] {
            assert_eq!(c.key(b), Action::Ignore, "{b:#x}");
        }
        assert_eq!(typed(&mut c, "\x1b[A\x1b[5~"), Action::Ignore);
        assert_eq!(c, Controls::new("cid", 5), "ignored keys change nothing");
        assert_eq!(c.key(b'q'), Action::Quit);
        for quit in [3u8, 4] {
            let mut c = Controls::new("cid", 5);
            assert_eq!(c.key(quit), Action::Quit);
            c.key(b'o');
            assert_eq!(c.key(quit), Action::Quit, "from a prompt too");
        }
        // Keys after q in the same read are not looked at.
        let mut c = Controls::new("cid", 5);
        assert_eq!(typed(&mut c, "qs"), Action::Quit);
        assert!(!c.subs());
    }

    fn poll_with(conns: Vec<Value>) -> Poll {
        Poll {
            at: Instant::now(),
            varz: json!({"version": "2.10.0", "server_id": "NABC"}),
            connz: json!({ "connections": conns }),
        }
    }

    #[test]
    fn subscriptions_show_in_their_own_column() {
        let p = poll_with(vec![
            json!({"cid": 1, "ip": "127.0.0.1", "port": 9, "subscriptions": 2,
                   "last_activity": "2026-01-01T00:00:01.123456789Z",
                   "subscriptions_list": ["orders.>", "time.now"]}),
            json!({"cid": 2, "ip": "127.0.0.1", "port": 10, "subscriptions": 0,
                   "last_activity": "2026-01-01T00:00:02Z"}),
        ]);
        let mut c = Controls::new("cid", 10);
        let plain = frame(&p, &p, &c).text();
        assert!(!plain.contains("SUBSCRIPTIONS"), "{plain}");
        assert!(!plain.contains("orders.>"), "{plain}");
        c.key(b's');
        let f = frame(&p, &p, &c);
        let titles = f.head.last().unwrap();
        let col = titles.find("SUBSCRIPTIONS").expect(titles);
        assert!(titles.find("LAST_ACTIVITY").unwrap() < col);
        assert_eq!(&f.rows[0][col..], "orders.>, time.now", "{:?}", f.rows);
        assert!(f.rows[1].trim_end().ends_with("00:00:02Z"), "{:?}", f.rows);
    }

    #[test]
    fn the_screen_fits_the_window_and_says_what_is_hidden() {
        let conns = (1..=20)
            .map(|i| json!({"cid": i, "ip": "10.0.0.1", "port": 4000 + i, "name": "client"}))
            .collect();
        let p = poll_with(conns);
        let mut c = Controls::new("cid", 100);
        let size = Size { rows: 15, cols: 40 };
        let (lines, cursor) = screen_lines(&c, &p, &p, Some(size));
        assert_eq!(lines.len(), 15, "{lines:#?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:#?}");
        assert!(lines[0].starts_with("NATS server version 2.10.0"));
        assert_eq!(lines[8], "Connections Polled: 20 (sorted by cid)");
        // 10 header lines, 3 rows, the note, the status line.
        assert!(lines[10].starts_with("  10.0.0.1:4001 "), "{lines:#?}");
        assert!(lines[12].starts_with("  10.0.0.1:4003 "), "{lines:#?}");
        assert!(
            lines[13].starts_with("  ... 17 more connections"),
            "{lines:#?}"
        );
        assert_eq!(lines[14], "");
        assert_eq!(cursor, None);

        // A prompt sits on the bottom row with the cursor after what was typed.
        typed(&mut c, "omsgs");
        let (lines, cursor) = screen_lines(&c, &p, &p, Some(size));
        assert_eq!(lines[14], "sort by [cid]: msgs");
        assert_eq!(cursor, Some((14, 19)));

        // The help is cut the same way.
        typed(&mut c, "\x1b?");
        let small = Size { rows: 6, cols: 12 };
        let (lines, _) = screen_lines(&c, &p, &p, Some(small));
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "natter top: ");
        assert!(lines.iter().all(|l| l.chars().count() <= 12), "{lines:#?}");
        // Too small for all of it: the last line that shows says how to go back.
        assert_eq!(lines[4], "Press any ke");
        let (lines, _) = screen_lines(&c, &p, &p, Some(Size { rows: 6, cols: 80 }));
        assert_eq!(
            lines[4],
            "Press any key to go back (window too small for all the help)"
        );
        let (lines, _) = screen_lines(&c, &p, &p, Some(Size { rows: 60, cols: 80 }));
        assert!(lines.contains(&"Press any key to go back.".to_string()));
        assert!(!lines.iter().any(|l| l.contains("too small")));

        // Not a terminal: every row, uncut.
        typed(&mut c, "x");
        let (lines, cursor) = screen_lines(&c, &p, &p, None);
        assert_eq!(lines.len(), 10 + 20);
        assert!(lines[10].len() > 100);
        assert!(lines[29].starts_with("  10.0.0.1:4020 "), "{lines:#?}");
        assert_eq!(cursor, None);
    }
}
