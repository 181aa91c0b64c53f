//! The connection `natter bench` uses by default (`--client wire`) for publishers,
//! subscribers, requesters and repliers: the NATS client protocol spoken directly over TCP,
//! with nothing in between.
//!
//! A benchmark must measure the server, not the client library. async-nats queues every
//! publish as a command for its connection task and formats each `PUB` line anew, about
//! 160 ns per message on the development machine, which on small messages is slower than
//! either server. Here a publisher writes a batch of ready-made `PUB` frames per system call,
//! a subscriber counts `MSG` frames straight out of its read buffer, and requests and
//! replies are ready-made frames too. The server does all
//! of its usual work for every message; only the client's share shrinks.
//!
//! Only what a benchmark needs is spoken: plain TCP (a server that requires TLS, or a URL
//! this module does not take, makes the bench use async-nats instead), user/password or token
//! login, `SUB`, `PUB`, and answering the server's `PING`s.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::common::{go_duration, Failure, Global, Outcome};

/// The longest protocol line accepted from the server (`INFO` can carry many cluster URLs).
const MAX_LINE: usize = 1 << 20;

/// The largest message accepted from the server: twice nats-server's highest `max_payload`
/// (64 MiB), leaving room for headers.
const MAX_MESSAGE: usize = 128 << 20;

/// How much a publisher writes per system call, at most: ready-made frames filling 64 KiB.
const BATCH: usize = 64 << 10;

/// How much a reader asks the socket for at once.
const READ_CHUNK: usize = 256 << 10;

/// Where a wire connection goes and how it logs in, from the global flags.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// The URL as the user gave it, for messages.
    url: String,
    /// `host:port` to connect to.
    addr: String,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    timeout: Duration,
}

impl Endpoint {
    /// The endpoint for the global flags, or why this module cannot serve them (then the
    /// bench uses async-nats, which can).
    pub(crate) fn of(g: &Global) -> Result<Endpoint, String> {
        let url = g.server.trim();
        if url.contains(',') {
            return Err("several server URLs".into());
        }
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("nats") => rest,
            Some((scheme, _)) => return Err(format!("a {scheme}:// URL")),
            None => url,
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err("credentials in the URL".into());
        }
        let addr = host_port(authority).ok_or_else(|| format!("the URL {url:?}"))?;
        Ok(Endpoint {
            url: url.to_string(),
            addr,
            user: g.user.clone(),
            password: g.password.clone(),
            token: g.token.clone(),
            timeout: g.timeout,
        })
    }
}

/// `host:port` from a URL's authority, with NATS's default port 4222 when none is given.
fn host_port(authority: &str) -> Option<String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{host}]"), port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    let port: u16 = match port {
        Some(p) => p.parse().ok()?,
        None => 4222,
    };
    Some(format!("{host}:{port}"))
}

/// What the server sent, as far as a benchmark client cares.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// A whole `MSG` or `HMSG`, payload included; `line` is the length of its first line
    /// (with its `\r\n`), where the payload (or for `HMSG` the header block) starts.
    Msg {
        line: usize,
    },
    Ping,
    Pong,
    Ok,
    /// `INFO` and its JSON.
    Info(Vec<u8>),
    /// `-ERR` and the server's text, quotes included (`'Authorization Violation'`).
    Err(String),
}

/// The first whole frame in `buf` and its length in bytes; `None` when more bytes are needed.
fn parse(buf: &[u8]) -> Outcome<Option<(Frame, usize)>> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err(Failure::new(format!(
                "the server sent a line longer than {MAX_LINE} bytes"
            )));
        }
        return Ok(None);
    };
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let (verb, rest) = match line.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[][..]),
    };
    let frame = match verb {
        b"MSG" | b"HMSG" => {
            // The last field is the payload's size (headers included for HMSG).
            let size = rest
                .rsplit(|&b| b == b' ' || b == b'\t')
                .next()
                .and_then(digits)
                .ok_or_else(|| malformed(line))?;
            let end = nl + 1 + size;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(malformed(line));
            }
            return Ok(Some((Frame::Msg { line: nl + 1 }, end + 2)));
        }
        b"PING" => Frame::Ping,
        b"PONG" => Frame::Pong,
        b"+OK" => Frame::Ok,
        b"INFO" => Frame::Info(rest.to_vec()),
        b"-ERR" => Frame::Err(String::from_utf8_lossy(rest).trim().to_string()),
        _ => return Err(malformed(line)),
    };
    Ok(Some((frame, nl + 1)))
}

/// A payload size: decimal, at most [`MAX_MESSAGE`] (no server sends more; a larger
/// figure is a broken stream, which must not make the buffer grow without end).
fn digits(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    usize::try_from(n).ok().filter(|&n| n <= MAX_MESSAGE)
}

fn malformed(line: &[u8]) -> Failure {
    let shown: String = String::from_utf8_lossy(line).chars().take(80).collect();
    Failure::new(format!(
        "the server sent a line this client cannot read: {shown:?}"
    ))
}

/// Reads from `sock` into `buf` until it holds at least one more whole frame; `what` names
/// the connection in the error for a closed socket.
async fn read_frame<R: AsyncReadExt + Unpin>(
    sock: &mut R,
    buf: &mut BytesMut,
    what: &str,
) -> Outcome<Frame> {
    loop {
        if let Some((frame, len)) = parse(buf)? {
            buf.advance(len);
            return Ok(frame);
        }
        read_some(sock, buf, what).await?;
    }
}

/// One read of up to [`READ_CHUNK`] bytes; a closed connection is an error naming `what`.
async fn read_some<R: AsyncReadExt + Unpin>(
    sock: &mut R,
    buf: &mut BytesMut,
    what: &str,
) -> Outcome<usize> {
    buf.reserve(READ_CHUNK);
    match sock.read_buf(buf).await {
        Ok(0) => Err(Failure::new(format!(
            "{what}: the server closed the connection"
        ))),
        Ok(n) => Ok(n),
        Err(e) => Err(Failure::new(format!("{what}: {e}"))),
    }
}

/// A logged-in connection: the server's `PONG` to the handshake's `PING` has arrived.
pub(crate) struct Wire {
    sock: TcpStream,
    /// Bytes read and not yet parsed.
    buf: BytesMut,
    /// The server's `max_payload`, when its `INFO` gave one.
    max_payload: Option<u64>,
    /// Names this connection in errors ("publisher 1").
    what: String,
    /// How long the server may take to confirm a subscription.
    timeout: Duration,
    /// The server closed the connection (rather than failing it with `-ERR`).
    closed: bool,
}

/// What a connection attempt found.
pub(crate) enum Connect {
    Ready(Wire),
    /// The server requires TLS, which only async-nats speaks here.
    NeedsTls,
}

/// Connects and logs in; `name` is what the server shows in `/connz`.
pub(crate) async fn connect(ep: &Endpoint, name: &str, what: &str) -> Outcome<Connect> {
    let attempt = handshake(ep, name, what);
    match tokio::time::timeout(ep.timeout + Duration::from_millis(500), attempt).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(Failure::new(format!(
            "cannot connect to {}: {}",
            ep.url, e.message
        ))),
        Err(_) => Err(Failure::new(format!(
            "cannot connect to {}: no answer within {}",
            ep.url,
            go_duration(ep.timeout)
        ))),
    }
}

async fn handshake(ep: &Endpoint, name: &str, what: &str) -> Outcome<Connect> {
    let mut sock = TcpStream::connect(&ep.addr).await?;
    sock.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let info = match read_frame(&mut sock, &mut buf, what).await? {
        Frame::Info(json) => json,
        Frame::Err(e) => return Err(Failure::new(format!("-ERR {e}"))),
        other => {
            return Err(Failure::new(format!(
                "expected INFO from the server, got {other:?}"
            )))
        }
    };
    let info: serde_json::Value = serde_json::from_slice(&info)
        .map_err(|e| Failure::new(format!("the server's INFO is not JSON: {e}")))?;
    if info["tls_required"].as_bool() == Some(true) {
        return Ok(Connect::NeedsTls);
    }
    let mut connect = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": false,
        "name": name,
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "echo": true,
        "headers": true,
        "no_responders": true,
    });
    if let Some(user) = &ep.user {
        connect["user"] = user.as_str().into();
        connect["pass"] = ep.password.as_deref().unwrap_or_default().into();
    }
    if let Some(token) = &ep.token {
        connect["auth_token"] = token.as_str().into();
    }
    sock.write_all(format!("CONNECT {connect}\r\nPING\r\n").as_bytes())
        .await?;
    let mut wire = Wire {
        sock,
        buf,
        max_payload: info["max_payload"].as_u64(),
        what: what.to_string(),
        timeout: ep.timeout,
        closed: false,
    };
    wire.await_pong().await?;
    Ok(Connect::Ready(wire))
}

impl Wire {
    /// Reads until the server's `PONG`, answering its `PING`s; a `-ERR` on the way fails.
    async fn await_pong(&mut self) -> Outcome {
        loop {
            match read_frame(&mut self.sock, &mut self.buf, &self.what).await? {
                Frame::Pong => return Ok(()),
                Frame::Ping => self.write(b"PONG\r\n").await?,
                Frame::Err(e) => return Err(self.server_error(&e)),
                Frame::Msg { .. } | Frame::Ok | Frame::Info(_) => {}
            }
        }
    }

    /// Writes all of `bytes`; a failure names the connection.
    async fn write(&mut self, bytes: &[u8]) -> Outcome {
        let r = self.sock.write_all(bytes).await;
        r.map_err(|e| {
            // Most often the server has closed the connection already.
            self.closed = true;
            Failure::new(format!("{}: {e}", self.what))
        })
    }

    fn server_error(&self, text: &str) -> Failure {
        Failure::new(format!("{}: the server sent -ERR {text}", self.what))
    }

    /// Subscribes to `subject` (in `queue`, if given) and waits until the server confirms it
    /// with the `PONG` that follows.
    pub(crate) async fn subscribe(&mut self, subject: &str, queue: Option<&str>) -> Outcome {
        let sub = match queue {
            Some(q) => format!("SUB {subject} {q} 1\r\nPING\r\n"),
            None => format!("SUB {subject} 1\r\nPING\r\n"),
        };
        self.write(sub.as_bytes()).await?;
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.await_pong()).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(format!(
                "{}: the server did not confirm the subscription within {}",
                self.what,
                go_duration(timeout)
            ))),
        }
    }

    /// Whether the last failure was the server closing the connection (a slow consumer's
    /// end: servers send no `-ERR` for it).
    pub(crate) fn closed_by_server(&self) -> bool {
        self.closed
    }

    /// Reads more from the socket, noting a close by the server.
    async fn fill(&mut self) -> Outcome<usize> {
        let r = read_some(&mut self.sock, &mut self.buf, &self.what).await;
        if r.is_err() {
            self.closed = true;
        }
        r
    }

    /// Fails for a message of `size` bytes that the server's `max_payload` does not allow;
    /// the server would close the connection on the first one.
    pub(crate) fn check_size(&self, size: usize) -> Outcome {
        match self.max_payload {
            Some(max) if size as u64 > max => Err(Failure::new(format!(
                "{}: a {size} B message is larger than the server's max_payload of {max} B",
                self.what
            ))),
            _ => Ok(()),
        }
    }

    /// Reads until at least one message arrives and returns how many whole messages the
    /// buffer then held, answering `PING`s on the way. The count is at most `limit`; further
    /// messages stay buffered for the next call.
    pub(crate) async fn messages(&mut self, limit: u64) -> Outcome<u64> {
        loop {
            let mut got = 0;
            while got < limit {
                let Some((frame, len)) = parse(&self.buf)? else {
                    break;
                };
                self.buf.advance(len);
                match frame {
                    Frame::Msg { .. } => got += 1,
                    Frame::Ping => self.write(b"PONG\r\n").await?,
                    Frame::Err(e) => return Err(self.server_error(&e)),
                    Frame::Pong | Frame::Ok | Frame::Info(_) => {}
                }
            }
            if got > 0 || limit == 0 {
                return Ok(got);
            }
            self.fill().await?;
        }
    }

    /// Makes this connection a publisher of `size` zero bytes to `subject`: the frames are
    /// built here, before anything is timed.
    pub(crate) fn publisher(self, subject: &str, size: usize) -> Outcome<Publisher> {
        self.check_size(size)?;
        let frame = pub_frame(subject, None, size);
        let per_batch = (BATCH / frame.len()).max(1);
        Ok(Publisher {
            wire: self,
            frame_len: frame.len(),
            per_batch: per_batch as u64,
            batch: frame.repeat(per_batch),
        })
    }
}

/// A connection ready to publish one subject's frames (see [`Wire::publisher`]).
pub(crate) struct Publisher {
    wire: Wire,
    frame_len: usize,
    per_batch: u64,
    /// `per_batch` frames back to back.
    batch: Vec<u8>,
}

impl Publisher {
    /// Publishes `count` messages, storing the number sent so far in `sent` after every
    /// batch, then waits (up to `timeout`) for the `PONG` that shows the server has read
    /// them all.
    pub(crate) async fn run(self, count: u64, sent: &AtomicU64, timeout: Duration) -> Outcome {
        let Publisher {
            wire,
            frame_len,
            per_batch,
            batch,
        } = self;
        let Wire {
            sock, buf, what, ..
        } = wire;
        let (read, mut write) = sock.into_split();
        let (events, mut inbox) = mpsc::unbounded_channel();
        // The server may send a PING (or a -ERR) while the publisher writes; a task of its
        // own reads them, and the publisher answers between batches.
        let reader = tokio::spawn(listen(read, buf, what.clone(), events));
        let named = |e: std::io::Error| Failure::new(format!("{what}: {e}"));
        let out = async {
            let mut done = 0u64;
            while done < count {
                answer(&mut inbox, &mut write, &what).await?;
                let n = (count - done).min(per_batch);
                if let Err(e) = write.write_all(&batch[..n as usize * frame_len]).await {
                    return Err(closed(&mut inbox, &what, e).await);
                }
                done += n;
                sent.store(done, Relaxed);
            }
            write.write_all(b"PING\r\n").await.map_err(named)?;
            let wait = async {
                loop {
                    match inbox.recv().await {
                        Some(Event::Pong) => return Ok(()),
                        Some(Event::Ping) => write.write_all(b"PONG\r\n").await.map_err(named)?,
                        Some(Event::Failed(f)) => return Err(f),
                        None => {
                            return Err(Failure::new(format!(
                                "{what}: the server closed the connection"
                            )))
                        }
                    }
                }
            };
            match tokio::time::timeout(timeout, wait).await {
                Ok(r) => r,
                Err(_) => Err(Failure::new(format!(
                    "{what}: the server did not confirm the messages within {}",
                    go_duration(timeout)
                ))),
            }
        }
        .await;
        reader.abort();
        out
    }
}

/// What a message frame says about answering it: its reply subject, and whether it is the
/// server's "no responders" status (an `HMSG` whose headers start `NATS/1.0 503`).
fn delivery(frame: &[u8], line: usize) -> (Option<&[u8]>, bool) {
    let first = frame[..line].trim_ascii_end();
    let fields: Vec<&[u8]> = first
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
        .collect();
    // MSG subject sid [reply] size; HMSG subject sid [reply] header_size total_size
    let headers = fields.first() == Some(&&b"HMSG"[..]);
    let with_reply = if headers { 6 } else { 5 };
    let reply = (fields.len() == with_reply).then(|| fields[3]);
    let no_responders = headers && frame[line..].starts_with(b"NATS/1.0 503");
    (reply, no_responders)
}

/// A `PUB` frame, ready to write: `PUB subject [reply] size`, then `size` zero bytes.
pub(crate) fn pub_frame(subject: &str, reply: Option<&str>, size: usize) -> Vec<u8> {
    let mut frame = match reply {
        Some(reply) => format!("PUB {subject} {reply} {size}\r\n"),
        None => format!("PUB {subject} {size}\r\n"),
    }
    .into_bytes();
    frame.resize(frame.len() + size, 0);
    frame.extend_from_slice(b"\r\n");
    frame
}

impl Wire {
    /// Sends `request` (a [`pub_frame`] whose reply subject this connection subscribes to)
    /// and waits for the one reply, answering `PING`s on the way.
    pub(crate) async fn request(&mut self, request: &[u8], subject: &str) -> Outcome {
        self.write(request).await?;
        loop {
            let Some((frame, len)) = parse(&self.buf)? else {
                self.fill().await?;
                continue;
            };
            let no_responders = match &frame {
                Frame::Msg { line } => delivery(&self.buf[..len], *line).1,
                _ => false,
            };
            self.buf.advance(len);
            match frame {
                Frame::Msg { .. } if no_responders => {
                    return Err(Failure::new(format!("no responders on {subject:?}")))
                }
                Frame::Msg { .. } => return Ok(()),
                Frame::Ping => self.write(b"PONG\r\n").await?,
                Frame::Err(e) => return Err(self.server_error(&e)),
                Frame::Pong | Frame::Ok | Frame::Info(_) => {}
            }
        }
    }

    /// Waits for requests and answers every one the buffer then holds with `size` zero
    /// bytes, in one write; `answering` learns how many just before that write, so a count
    /// it keeps is never behind a reply that has arrived. Messages without a reply subject
    /// are skipped.
    pub(crate) async fn answer_requests(
        &mut self,
        size: usize,
        mut answering: impl FnMut(u64),
    ) -> Outcome {
        let mut out = Vec::new();
        loop {
            let mut answered = 0;
            while let Some((frame, len)) = parse(&self.buf)? {
                match frame {
                    Frame::Msg { line } => {
                        if let (Some(reply), _) = delivery(&self.buf[..len], line) {
                            // The server checked the subject when it took the request.
                            let reply = String::from_utf8_lossy(reply);
                            out.extend_from_slice(&pub_frame(&reply, None, size));
                            answered += 1;
                        }
                    }
                    Frame::Ping => out.extend_from_slice(b"PONG\r\n"),
                    Frame::Err(e) => return Err(self.server_error(&e)),
                    Frame::Pong | Frame::Ok | Frame::Info(_) => {}
                }
                self.buf.advance(len);
            }
            if answered > 0 {
                answering(answered);
            }
            if !out.is_empty() {
                self.write(&out).await?;
                out.clear();
            }
            if answered > 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }
}

/// What a publisher's reader task passes on.
enum Event {
    Ping,
    Pong,
    /// The server sent `-ERR`, closed the connection, or sent something unreadable; the
    /// reader stops after this.
    Failed(Failure),
}

async fn listen(
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    what: String,
    events: mpsc::UnboundedSender<Event>,
) {
    loop {
        let event = match read_frame(&mut read, &mut buf, &what).await {
            Ok(Frame::Ping) => Event::Ping,
            Ok(Frame::Pong) => Event::Pong,
            Ok(Frame::Err(e)) => {
                Event::Failed(Failure::new(format!("{what}: the server sent -ERR {e}")))
            }
            Ok(Frame::Msg { .. } | Frame::Ok | Frame::Info(_)) => continue,
            Err(f) => Event::Failed(f),
        };
        let last = matches!(event, Event::Failed(_));
        if events.send(event).is_err() || last {
            return;
        }
    }
}

/// Answers the `PING`s the reader has passed on so far; fails if it reported a failure.
async fn answer(
    inbox: &mut mpsc::UnboundedReceiver<Event>,
    write: &mut OwnedWriteHalf,
    what: &str,
) -> Outcome {
    loop {
        match inbox.try_recv() {
            Ok(Event::Ping) => write
                .write_all(b"PONG\r\n")
                .await
                .map_err(|e| Failure::new(format!("{what}: {e}")))?,
            Ok(Event::Pong) => {}
            Ok(Event::Failed(f)) => return Err(f),
            Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                return Err(Failure::new(format!(
                    "{what}: the server closed the connection"
                )))
            }
        }
    }
}

/// The failure for a write that failed: the server's own reason when the reader saw one
/// (a `-ERR` usually comes just before the server closes), else the socket's error.
async fn closed(
    inbox: &mut mpsc::UnboundedReceiver<Event>,
    what: &str,
    e: std::io::Error,
) -> Failure {
    let reason = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(event) = inbox.recv().await {
            if let Event::Failed(f) = event {
                return Some(f);
            }
        }
        None
    })
    .await;
    match reason {
        Ok(Some(f)) => f,
        _ => Failure::new(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(server: &str) -> Global {
        Global {
            server: server.into(),
            user: None,
            password: None,
            token: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn urls_map_to_addresses_or_to_a_reason() {
        let addr = |u: &str| Endpoint::of(&global(u)).map(|e| e.addr);
        assert_eq!(addr("nats://127.0.0.1:4333").unwrap(), "127.0.0.1:4333");
        assert_eq!(addr("NATS://localhost").unwrap(), "localhost:4222");
        assert_eq!(addr("127.0.0.1:5000/").unwrap(), "127.0.0.1:5000");
        assert_eq!(addr("nats://[::1]:4000").unwrap(), "[::1]:4000");
        assert_eq!(addr("[::1]").unwrap(), "[::1]:4222");
        assert!(addr("tls://127.0.0.1:4222").unwrap_err().contains("tls://"));
        assert!(addr("nats://a:1,nats://b:2")
            .unwrap_err()
            .contains("several"));
        assert!(addr("nats://u:p@h:1").unwrap_err().contains("credentials"));
        assert!(addr("nats://h:notaport").is_err());
        assert!(addr("nats://:4222").is_err());
    }

    #[test]
    fn frames_parse_whole_or_wait_for_more() {
        let msg = b"MSG foo 1 5\r\nhello\r\nPING\r\n";
        assert_eq!(parse(msg).unwrap(), Some((Frame::Msg { line: 13 }, 20)));
        assert_eq!(parse(&msg[20..]).unwrap(), Some((Frame::Ping, 6)));
        // Every cut short of the whole message asks for more.
        for cut in 0..20 {
            assert_eq!(parse(&msg[..cut]).unwrap(), None, "cut at {cut}");
        }
        let with_reply = b"MSG foo 1 _INBOX.x 2\r\nhi\r\n";
        assert_eq!(
            parse(with_reply).unwrap(),
            Some((Frame::Msg { line: 22 }, with_reply.len()))
        );
        let hmsg = b"HMSG foo 9 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
        assert_eq!(
            parse(hmsg).unwrap(),
            Some((Frame::Msg { line: 18 }, hmsg.len()))
        );
        assert_eq!(
            parse(b"-ERR 'Slow Consumer'\r\n").unwrap(),
            Some((Frame::Err("'Slow Consumer'".into()), 22))
        );
        assert_eq!(
            parse(b"INFO {}\r\n").unwrap(),
            Some((Frame::Info(b"{}".to_vec()), 9))
        );
        assert_eq!(parse(b"PONG\r\n+OK\r\n").unwrap(), Some((Frame::Pong, 6)));
        assert_eq!(parse(b"+OK\r\n").unwrap(), Some((Frame::Ok, 5)));
    }

    #[test]
    fn a_message_gives_its_reply_subject_and_no_responders_status() {
        let look = |f: &[u8]| {
            let Some((Frame::Msg { line }, len)) = parse(f).unwrap() else {
                panic!("not a message")
            };
            assert_eq!(len, f.len());
            let (reply, none) = delivery(f, line);
            (reply.map(|r| String::from_utf8(r.to_vec()).unwrap()), none)
        };
        assert_eq!(look(b"MSG svc 1 5\r\nhello\r\n"), (None, false));
        assert_eq!(
            look(b"MSG svc 1 _INBOX.a 2\r\nhi\r\n"),
            (Some("_INBOX.a".into()), false)
        );
        assert_eq!(
            look(b"HMSG svc 1 _INBOX.b 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
            (Some("_INBOX.b".into()), false)
        );
        assert_eq!(
            look(b"HMSG svc 1 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
            (None, false)
        );
        assert_eq!(
            look(b"HMSG _INBOX.c 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"),
            (None, true)
        );
    }

    #[test]
    fn unreadable_frames_fail_with_the_line() {
        for bad in [
            &b"MSG foo 1 x\r\n"[..],
            b"MSG foo 1 5\r\nhelloXX",
            b"BOGUS\r\n",
            b"MSG foo 1 99999999999999999999\r\n",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.message.contains("cannot read"), "{}", e.message);
        }
        let long = vec![b'x'; MAX_LINE + 1];
        assert!(parse(&long).unwrap_err().message.contains("longer than"));
    }

    /// A one-connection fake server on a loopback port: `script` gets the accepted socket.
    async fn fake<F, Fut, T>(script: F) -> (Endpoint, tokio::task::JoinHandle<T>)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + Send,
        T: Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("nats://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            script(sock).await
        });
        let mut g = global(&url);
        g.user = Some("alice".into());
        g.password = Some("secret".into());
        (Endpoint::of(&g).unwrap(), task)
    }

    /// Reads into `seen` until `until` holds for it.
    async fn read_until(sock: &mut TcpStream, seen: &mut Vec<u8>, until: impl Fn(&[u8]) -> bool) {
        while !until(seen) {
            let mut chunk = [0u8; 65536];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "client closed early; sent {:?}",
                String::from_utf8_lossy(seen)
            );
            seen.extend_from_slice(&chunk[..n]);
        }
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    /// INFO, then the client's CONNECT and PING, answered with `reply`; returns the CONNECT
    /// line.
    async fn greet(sock: &mut TcpStream, info: &str, reply: &str) -> String {
        sock.write_all(format!("INFO {info}\r\n").as_bytes())
            .await
            .unwrap();
        let mut seen = Vec::new();
        read_until(sock, &mut seen, |s| s.ends_with(b"PING\r\n")).await;
        sock.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8(seen)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    }

    fn ready(c: Connect) -> Wire {
        match c {
            Connect::Ready(w) => w,
            Connect::NeedsTls => panic!("expected a plain connection"),
        }
    }

    #[tokio::test]
    async fn a_publisher_logs_in_answers_pings_and_waits_for_the_last_pong() {
        // 300 batches of 15-byte frames: long enough for a PING to arrive mid-way.
        const COUNT: u64 = 300 * 4369;
        const FRAME: &[u8] = b"PUB t 4\r\n\0\0\0\0\r\n";
        const HOLD: Duration = Duration::from_millis(300);
        let (ep, server) = fake(|mut sock| async move {
            let connect = greet(&mut sock, r#"{"max_payload":1048576}"#, "PONG\r\n").await;
            let mut seen = Vec::new();
            read_until(&mut sock, &mut seen, |s| s.len() >= 1 << 20).await;
            sock.write_all(b"PING\r\n").await.unwrap();
            let at_ping = seen.len();
            let pong = |s: &[u8]| s[at_ping..].windows(6).position(|w| w == b"PONG\r\n");
            read_until(&mut sock, &mut seen, |s| pong(s).is_some()).await;
            // How many messages came before the PONG: fewer than all of them, if the PING
            // was answered while messages were still being written.
            let before_pong = count(&seen[..at_ping + pong(&seen).unwrap()], FRAME);
            // The rest: the frames, the PONG and the final PING, nothing else.
            let total = COUNT as usize * FRAME.len() + 12;
            read_until(&mut sock, &mut seen, |s| s.len() >= total).await;
            assert_eq!(count(&seen, FRAME), COUNT as usize);
            assert!(seen.ends_with(b"PING\r\n"));
            // The publisher must wait for this PONG: hold it back.
            tokio::time::sleep(HOLD).await;
            sock.write_all(b"PONG\r\n").await.unwrap();
            let mut rest = Vec::new();
            sock.read_to_end(&mut rest).await.unwrap();
            (connect, before_pong, rest)
        })
        .await;
        let w = ready(
            connect(&ep, "NATTER BENCH PUB 1", "publisher 1")
                .await
                .unwrap(),
        );
        let publisher = w.publisher("t", 4).unwrap();
        let sent = AtomicU64::new(0);
        let started = std::time::Instant::now();
        publisher
            .run(COUNT, &sent, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(started.elapsed() >= HOLD, "returned before the last PONG");
        assert_eq!(sent.load(Relaxed), COUNT);
        let (connect, before_pong, rest) = server.await.unwrap();
        assert!(
            before_pong < COUNT as usize,
            "the PING was answered only after all {before_pong} messages"
        );
        assert!(rest.is_empty(), "sent after the last PONG: {rest:?}");
        let json: serde_json::Value =
            serde_json::from_str(connect.strip_prefix("CONNECT ").unwrap()).unwrap();
        assert_eq!(json["user"], "alice");
        assert_eq!(json["pass"], "secret");
        assert_eq!(json["verbose"], false);
        assert_eq!(json["name"], "NATTER BENCH PUB 1");
    }

    #[tokio::test]
    async fn a_publisher_stops_at_the_servers_error() {
        // A publish permission violation: the server says so and keeps the connection.
        let (ep, server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "PONG\r\n").await;
            let mut seen = Vec::new();
            read_until(&mut sock, &mut seen, |s| s.len() > 100_000).await;
            sock.write_all(b"-ERR 'Permissions Violation for Publish to \"t\"'\r\n")
                .await
                .unwrap();
            let mut sink = Vec::new();
            let _ = sock.read_to_end(&mut sink).await;
        })
        .await;
        let w = ready(connect(&ep, "p", "publisher 1").await.unwrap());
        let sent = AtomicU64::new(0);
        let e = w
            .publisher("t", 16)
            .unwrap()
            .run(u64::MAX, &sent, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            e.message,
            "publisher 1: the server sent -ERR 'Permissions Violation for Publish to \"t\"'"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_payload_over_max_payload_fails_before_publishing() {
        let (ep, server) = fake(|mut sock| async move {
            greet(&mut sock, r#"{"max_payload":1024}"#, "PONG\r\n").await;
            let mut sink = Vec::new();
            let _ = sock.read_to_end(&mut sink).await;
            sink
        })
        .await;
        let w = ready(connect(&ep, "p", "publisher 1").await.unwrap());
        let e = w.publisher("t", 2048).err().unwrap();
        assert!(e.message.contains("max_payload of 1024 B"), "{}", e.message);
        assert_eq!(server.await.unwrap(), b"", "nothing is published");
    }

    #[tokio::test]
    async fn a_requester_gets_its_reply_or_hears_of_no_responders() {
        let (ep, server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "PONG\r\n").await;
            let mut seen = Vec::new();
            read_until(&mut sock, &mut seen, |s| s.ends_with(b"PING\r\n")).await;
            sock.write_all(b"PONG\r\n").await.unwrap();
            // First request: a PING, then the reply.
            read_until(&mut sock, &mut seen, |s| s.ends_with(b"\r\n\0\0\0\r\n")).await;
            sock.write_all(b"PING\r\nMSG _INBOX.r 1 3\r\nabc\r\n")
                .await
                .unwrap();
            // Second: nobody is subscribed to the subject.
            let first = seen.len();
            read_until(&mut sock, &mut seen, |s| {
                s[first..].ends_with(b"\r\n\0\0\0\r\n")
            })
            .await;
            sock.write_all(b"HMSG _INBOX.r 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(seen).unwrap()
        })
        .await;
        let mut w = ready(connect(&ep, "r", "requester 1").await.unwrap());
        w.subscribe("_INBOX.r", None).await.unwrap();
        let request = pub_frame("svc", Some("_INBOX.r"), 3);
        w.request(&request, "svc").await.unwrap();
        let e = w.request(&request, "svc").await.unwrap_err();
        assert_eq!(e.message, "no responders on \"svc\"");
        let sent = server.await.unwrap();
        assert_eq!(
            sent,
            "SUB _INBOX.r 1\r\nPING\r\nPUB svc _INBOX.r 3\r\n\0\0\0\r\nPONG\r\nPUB svc _INBOX.r 3\r\n\0\0\0\r\n"
        );
    }

    #[tokio::test]
    async fn a_replier_answers_the_requests_it_has_read() {
        let (ep, server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "PONG\r\n").await;
            let mut seen = Vec::new();
            read_until(&mut sock, &mut seen, |s| s.ends_with(b"PING\r\n")).await;
            sock.write_all(b"PONG\r\n").await.unwrap();
            let sub = seen.len();
            sock.write_all(
                b"MSG svc 1 _INBOX.a 1\r\nx\r\nMSG svc 1 1\r\ny\r\nPING\r\nMSG svc 1 _INBOX.b 0\r\n\r\n",
            )
            .await
            .unwrap();
            read_until(&mut sock, &mut seen, |s| s[sub..].ends_with(b"PUB _INBOX.b 2\r\n\0\0\r\n"))
                .await;
            String::from_utf8(seen[sub..].to_vec()).unwrap()
        })
        .await;
        let mut w = ready(connect(&ep, "s", "replier 1").await.unwrap());
        w.subscribe("svc", Some("g")).await.unwrap();
        let mut answered = 0;
        while answered < 2 {
            w.answer_requests(2, |k| answered += k).await.unwrap();
        }
        assert_eq!(
            answered, 2,
            "the message without a reply subject is not answered"
        );
        assert_eq!(
            server.await.unwrap(),
            "PUB _INBOX.a 2\r\n\0\0\r\nPONG\r\nPUB _INBOX.b 2\r\n\0\0\r\n"
        );
    }

    #[tokio::test]
    async fn a_subscription_the_server_never_confirms_times_out() {
        let (ep, _server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "PONG\r\n").await;
            // Reads the SUB and its PING, and answers nothing.
            let mut sink = Vec::new();
            let _ = sock.read_to_end(&mut sink).await;
        })
        .await;
        let mut w = ready(connect(&ep, "s", "subscriber 3").await.unwrap());
        let e = tokio::time::timeout(Duration::from_secs(10), w.subscribe("t", None))
            .await
            .expect("the subscription gives up by itself")
            .unwrap_err();
        assert_eq!(
            e.message,
            "subscriber 3: the server did not confirm the subscription within 1s"
        );
    }

    #[tokio::test]
    async fn a_closed_connection_names_the_client() {
        let (ep, _server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "PONG\r\n").await;
            sock.write_all(b"MSG t 1 2\r\nhi\r\n").await.unwrap();
            // A slow consumer's end: no -ERR, the connection just closes.
        })
        .await;
        let mut w = ready(connect(&ep, "s", "subscriber 2").await.unwrap());
        assert_eq!(w.messages(10).await.unwrap(), 1);
        assert!(!w.closed_by_server());
        let e = w.messages(10).await.unwrap_err();
        assert_eq!(e.message, "subscriber 2: the server closed the connection");
        assert!(w.closed_by_server());
    }

    #[tokio::test]
    async fn a_subscriber_counts_messages_in_any_split_and_answers_pings() {
        const COUNT: u64 = 1000;
        let (ep, server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "PONG\r\n").await;
            let mut seen = Vec::new();
            read_until(&mut sock, &mut seen, |s| s.ends_with(b"PING\r\n")).await;
            sock.write_all(b"PONG\r\n").await.unwrap();
            let mut stream = Vec::new();
            for i in 0..COUNT {
                if i == COUNT / 2 {
                    stream.extend_from_slice(b"PING\r\nINFO {}\r\n+OK\r\n");
                }
                if i % 2 == 0 {
                    stream.extend_from_slice(b"MSG t 1 5\r\nhello\r\n");
                } else {
                    stream.extend_from_slice(b"HMSG t 1 _INBOX.r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
                }
            }
            // Seven bytes at a time, so frames arrive cut at every possible place.
            for piece in stream.chunks(7) {
                sock.write_all(piece).await.unwrap();
                sock.flush().await.unwrap();
            }
            read_until(&mut sock, &mut seen, |s| s.ends_with(b"PONG\r\n")).await;
            String::from_utf8(seen).unwrap()
        })
        .await;
        let mut w = ready(connect(&ep, "s", "subscriber 1").await.unwrap());
        w.subscribe("t", Some("q")).await.unwrap();
        let mut got = 0;
        while got < COUNT {
            let n = w.messages(COUNT - got).await.unwrap();
            assert!(n > 0 && got + n <= COUNT, "{got} + {n}");
            got += n;
        }
        // The PING sat among the messages; it is answered while they are counted.
        let sent = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the PING is answered")
            .unwrap();
        assert!(sent.starts_with("SUB t q 1\r\nPING\r\n"), "{sent:?}");
    }

    #[tokio::test]
    async fn a_server_requiring_tls_or_refusing_the_login_is_told_apart() {
        let (ep, _server) = fake(|mut sock| async move {
            sock.write_all(b"INFO {\"tls_required\":true}\r\n")
                .await
                .unwrap();
            let mut sink = Vec::new();
            let _ = sock.read_to_end(&mut sink).await;
        })
        .await;
        assert!(matches!(
            connect(&ep, "p", "publisher 1").await.unwrap(),
            Connect::NeedsTls
        ));

        let (ep, _server) = fake(|mut sock| async move {
            greet(&mut sock, "{}", "-ERR 'Authorization Violation'\r\n").await;
        })
        .await;
        let e = connect(&ep, "p", "publisher 1").await.err().unwrap();
        assert!(
            e.message.starts_with("cannot connect to nats://127.0.0.1:"),
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with("-ERR 'Authorization Violation'"),
            "{}",
            e.message
        );
    }
}
