//! A deliberately small HTTP/1.1 server for the monitoring port: GET and HEAD only, no
//! request bodies, keep-alive, pipelining, bounded request heads, a short timeout for
//! connections that send nothing and a longer one for a request head in progress.
//!
//! Monitoring answers a handful of fixed paths to scrapers and scripts; a full HTTP stack
//! would cost more build time and attack surface than the whole feature is worth.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::clock;

/// Bounds every monitoring connection lives within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Longest request line plus headers.
    pub(crate) max_head: usize,
    /// Most header lines in one request.
    pub(crate) max_headers: usize,
    /// How long a connection may sit without sending the first byte of its next request
    /// (a fresh connection, or keep-alive between requests). Short, because such sockets
    /// hold a slot of the monitor's connection cap and give nothing back.
    pub(crate) idle_timeout: Duration,
    /// How long a request head may take to arrive once its first byte has.
    pub(crate) read_timeout: Duration,
    /// How long writing one response may take.
    pub(crate) write_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head: 16 * 1024,
            max_headers: 100,
            idle_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a connection is in its request cycle, reported to the caller of [`serve`] so it
/// can tell which connections are safe to close when it needs room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the first byte of the next request.
    Idle,
    /// Part of a request head has arrived.
    Reading,
    /// A request is being answered.
    Busy,
}

/// Request methods the monitor answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
}

/// One parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// Percent-decoded path, e.g. `/connz`.
    pub(crate) path: String,
    pub(crate) query: Query,
    keep_alive: bool,
}

/// Query parameters in the order given, names and values percent-decoded (`+` is a space).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode_component(k, true), decode_component(v, true))
            })
            .collect();
        Query(pairs)
    }

    /// The first value of `name`, as Go's `url.Values.Get` gives it: absent and empty
    /// look the same to the handlers.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Percent-decoding; malformed escapes stay as they are (Go's server is lenient here too,
/// and a monitoring request should not fail over a stray `%`).
fn decode_component(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// One response; `serve` adds `Date`, `Content-Length` and `Connection`.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Plain text, as Go's `http.Error` sends it.
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        let mut r = Response::new(status, "text/plain; charset=utf-8", body);
        r.headers.push(("X-Content-Type-Options", "nosniff".into()));
        r
    }

    pub(crate) fn not_found() -> Self {
        Response::text(404, "404 page not found")
    }

    fn encode(&self, head_only: bool, close: bool, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let _ = write!(out, "Content-Type: {}\r\n", self.content_type);
        let _ = write!(out, "Date: {}\r\n", clock::http_date(SystemTime::now()));
        for (k, v) in &self.headers {
            let _ = write!(out, "{k}: {v}\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Why a request head was refused: the answer to send, after which the connection closes.
#[derive(Debug)]
struct Refusal(Response);

fn refuse(status: u16, text: &str) -> Refusal {
    Refusal(Response::text(status, text))
}

/// Where the request head ends (index just past the blank line), if it is all there.
///
/// `scanned` is the start of the first line not yet seen complete; it carries over between
/// reads of the same head so a client sending one byte per read costs linear time, not
/// quadratic. Start it at 0 for each new head.
fn head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let mut i = *scanned;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        // A line that is empty or just "\r" ends the head; bare LF is tolerated.
        if matches!(&buf[i..nl], b"" | b"\r") {
            return Some(nl + 1);
        }
        i = nl + 1;
    }
    *scanned = i;
    None
}

fn parse_head(head: &[u8], limits: &HttpLimits) -> Result<Request, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| refuse(400, "malformed request"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(refuse(400, "malformed request line")),
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(refuse(505, "HTTP version not supported")),
        _ => return Err(refuse(400, "malformed request line")),
    };

    let mut keep_alive = http11;
    let mut headers = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        headers += 1;
        if headers > limits.max_headers {
            return Err(refuse(431, "too many header fields"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| refuse(400, "malformed header field"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if value != "0" {
                return Err(refuse(413, "request bodies are not accepted"));
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(refuse(413, "request bodies are not accepted"));
        }
    }

    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        // nats-server answers any method on these paths; every endpoint here is read-only,
        // so other methods are refused rather than treated as a GET.
        _ => {
            let mut r = Response::text(405, "method not allowed");
            r.headers.push(("Allow", "GET, HEAD".into()));
            return Err(Refusal(r));
        }
    };

    // Absolute form (`GET http://host:8222/varz`) is legal in HTTP/1.1.
    let target = match target.find("://") {
        Some(i) => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => target,
    };
    if !target.starts_with('/') {
        return Err(refuse(400, "malformed request target"));
    }
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method,
        path: decode_component(path, false),
        query: Query::parse(query),
        keep_alive,
    })
}

/// Serves requests on one connection until the peer closes, a request asks to close, a
/// limit is hit, or `stop` resolves (checked while waiting for request bytes, never in
/// the middle of writing an answer).
///
/// `phase` hears every change of [`Phase`]; returning false ends the connection there,
/// which lets the caller take back a connection it chose to close while it was idle.
pub(crate) async fn serve<S, F, P>(
    mut stream: S,
    limits: HttpLimits,
    stop: impl Future<Output = ()>,
    mut handler: F,
    mut phase: P,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&Request) -> Response,
    P: FnMut(Phase) -> bool,
{
    tokio::pin!(stop);
    let mut buf = BytesMut::with_capacity(1024);
    let mut out = Vec::with_capacity(4096);
    loop {
        let mut deadline = tokio::time::Instant::now() + limits.idle_timeout;
        let mut reported = None;
        let mut scanned = 0;
        let end = loop {
            // Blank lines before a request are allowed (RFC 9112 2.2). They do not count
            // as the request starting, so they cannot keep an idle connection alive.
            if scanned == 0 {
                while buf.first().is_some_and(|&b| b == b'\r' || b == b'\n') {
                    buf.advance(1);
                }
            }
            let now = if buf.is_empty() {
                Phase::Idle
            } else {
                Phase::Reading
            };
            if reported != Some(now) {
                if now == Phase::Reading {
                    deadline = tokio::time::Instant::now() + limits.read_timeout;
                }
                if !phase(now) {
                    return;
                }
                reported = Some(now);
            }
            let end = head_end(&buf, &mut scanned);
            if let Some(end) = end.filter(|&e| e <= limits.max_head) {
                break end;
            }
            if end.is_some() || buf.len() > limits.max_head {
                let r = refuse(431, "request head too large").0;
                let _ = write_response(&mut stream, &r, false, true, &limits, &mut out).await;
                return;
            }
            tokio::select! {
                _ = &mut stop => return,
                r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => match r {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(_)) => {}
                    Err(_) => {
                        // Only a half-sent request deserves an answer; an idle
                        // keep-alive connection is just closed.
                        if !buf.is_empty() {
                            let r = refuse(408, "request timeout").0;
                            let _ = write_response(&mut stream, &r, false, true, &limits, &mut out).await;
                        }
                        return;
                    }
                },
            }
        };
        if !phase(Phase::Busy) {
            return;
        }
        let head = buf.split_to(end);
        let (response, head_only, close) = match parse_head(&head, &limits) {
            Ok(req) => (handler(&req), req.method == Method::Head, !req.keep_alive),
            Err(Refusal(r)) => (r, false, true),
        };
        if write_response(&mut stream, &response, head_only, close, &limits, &mut out)
            .await
            .is_err()
            || close
        {
            return;
        }
    }
}

async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
    head_only: bool,
    close: bool,
    limits: &HttpLimits,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    out.clear();
    response.encode(head_only, close, out);
    let written = timeout(limits.write_timeout, async {
        stream.write_all(out).await?;
        if close {
            stream.shutdown().await?;
        }
        stream.flush().await
    })
    .await;
    match written {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn echo_path(req: &Request) -> Response {
        let q: Vec<String> = req
            .query
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        Response::new(200, "text/plain", format!("{} {}", req.path, q.join("&")))
    }

    /// A server task on one end of a pipe of `capacity` bytes that has taken `input`; the
    /// other end, to read from.
    async fn start(
        limits: HttpLimits,
        capacity: usize,
        input: &[u8],
    ) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>) {
        let (mut client, server) = duplex(capacity);
        let task = tokio::spawn(serve(
            server,
            limits,
            std::future::pending(),
            echo_path,
            |_| true,
        ));
        client.write_all(input).await.unwrap();
        (client, task)
    }

    async fn exchange(input: &[u8], limits: HttpLimits) -> String {
        let (mut client, task) = start(limits, 64 * 1024, input).await;
        let mut out = Vec::new();
        let _ = timeout(Duration::from_secs(5), client.read_to_end(&mut out)).await;
        task.abort();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `input` and reads until the server closes, which must happen within five
    /// seconds; the server task must then have finished cleanly.
    async fn exchange_to_close(limits: HttpLimits, input: &[u8]) -> Vec<u8> {
        let (mut client, task) = start(limits, 4096, input).await;
        let mut out = Vec::new();
        timeout(Duration::from_secs(5), client.read_to_end(&mut out))
            .await
            .expect("server closed the connection within 5s")
            .unwrap();
        task.await.unwrap();
        out
    }

    fn bodies(resp: &str) -> Vec<&str> {
        resp.split("HTTP/1.1 ")
            .skip(1)
            .map(|r| r.split("\r\n\r\n").nth(1).unwrap())
            .collect()
    }

    #[test]
    fn query_is_percent_decoded() {
        let q = Query::parse("test=foo%2Ebar&x=a+b&sort=&bad=%zz&y=%41");
        assert_eq!(q.get("test"), Some("foo.bar"));
        assert_eq!(q.get("x"), Some("a b"));
        assert_eq!(q.get("sort"), None);
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("y"), Some("A"));
        assert_eq!(q.get("missing"), None);
        assert_eq!(decode_component("%", true), "%");
        assert_eq!(decode_component("a%4", true), "a%4");
    }

    #[tokio::test]
    async fn keep_alive_and_pipelining() {
        let out = exchange(
            b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nConnection: close\r\n\r\n",
            HttpLimits::default(),
        )
        .await;
        assert_eq!(bodies(&out), vec!["/a x=1", "/b ", "/c "]);
        assert_eq!(out.matches("Connection: close").count(), 1, "{out}");
    }

    #[tokio::test]
    async fn http10_closes_after_one_answer() {
        let out = exchange(
            b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
            HttpLimits::default(),
        )
        .await;
        assert_eq!(bodies(&out), vec!["/a "]);
    }

    #[tokio::test]
    async fn head_has_length_but_no_body() {
        let out = exchange(
            b"HEAD /abc HTTP/1.1\r\nConnection: close\r\n\r\n",
            HttpLimits::default(),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Content-Length: 5\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
    }

    #[tokio::test]
    async fn other_methods_get_405() {
        let out = exchange(b"POST /varz HTTP/1.1\r\n\r\n", HttpLimits::default()).await;
        assert!(
            out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{out}"
        );
        assert!(out.contains("Allow: GET, HEAD\r\n"), "{out}");
    }

    #[tokio::test]
    async fn bodies_are_refused() {
        let out = exchange(
            b"GET /varz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            HttpLimits::default(),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    }

    #[tokio::test]
    async fn oversized_heads_and_too_many_headers_get_431() {
        let limits = HttpLimits {
            max_head: 256,
            max_headers: 3,
            ..HttpLimits::default()
        };
        let big = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(300));
        assert!(exchange(big.as_bytes(), limits)
            .await
            .starts_with("HTTP/1.1 431 "));
        let many = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
        assert!(exchange(many, limits).await.starts_with("HTTP/1.1 431 "));
    }

    #[tokio::test]
    async fn malformed_requests_get_400() {
        for req in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            let out = exchange(req, HttpLimits::default()).await;
            assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        }
        let out = exchange(b"GET / HTTP/2.0\r\n\r\n", HttpLimits::default()).await;
        assert!(out.starts_with("HTTP/1.1 505 "), "{out}");
    }

    #[tokio::test]
    async fn absolute_form_and_bare_lf() {
        let out = exchange(
            b"GET http://h:1/x%2Fy?a=%20 HTTP/1.1\nConnection: close\n\n",
            HttpLimits::default(),
        )
        .await;
        assert_eq!(bodies(&out), vec!["/x/y a= "]);
    }

    #[test]
    fn head_end_resumes_where_the_last_read_stopped() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: h\r\n\r\nrest"[..],
            b"GET / HTTP/1.1\nA: b\n\nrest",
            b"GET / HTTP/1.1\r\n\r\n",
        ] {
            let whole = head_end(head, &mut 0).unwrap();
            // Every byte a read of its own, then every split in two reads.
            let mut scanned = 0;
            let trickled = (1..=head.len()).find_map(|n| head_end(&head[..n], &mut scanned));
            assert_eq!(trickled, Some(whole));
            for cut in 0..head.len() {
                let mut scanned = 0;
                let first = head_end(&head[..cut], &mut scanned);
                assert!(scanned <= cut);
                let end = first.or_else(|| head_end(head, &mut scanned));
                assert_eq!(end, Some(whole), "cut at {cut}");
            }
        }
    }

    #[tokio::test]
    async fn silent_connections_get_the_short_idle_timeout() {
        let limits = HttpLimits {
            idle_timeout: Duration::from_millis(50),
            read_timeout: Duration::from_secs(30),
            ..HttpLimits::default()
        };
        // Nothing at all, and blank lines only: closed without an answer.
        for input in [&b""[..], b"\r\n\r\n"] {
            let out = exchange_to_close(limits, input).await;
            assert!(out.is_empty(), "{out:?}");
        }
        // Idle again after a keep-alive answer: the same short timeout applies.
        let out = exchange_to_close(limits, b"GET /a HTTP/1.1\r\n\r\n").await;
        assert_eq!(bodies(&String::from_utf8_lossy(&out)), vec!["/a "]);
    }

    #[tokio::test]
    async fn phases_are_reported_and_a_refusal_ends_the_connection() {
        let (mut client, server) = duplex(4096);
        let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(serve(
            server,
            HttpLimits::default(),
            std::future::pending(),
            echo_path,
            move |p| {
                let mut log = log.lock();
                // Taken back the first time it goes idle after answering.
                let keep = p != Phase::Idle || !log.contains(&Phase::Busy);
                log.push(p);
                keep
            },
        ));
        client.write_all(b"GET /a HTTP/1.1\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client
            .write_all(b"\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        timeout(Duration::from_secs(5), client.read_to_end(&mut out))
            .await
            .expect("closed when refused")
            .unwrap();
        task.await.unwrap();
        use Phase::*;
        // Pipelined `/c` was already there, so after `/b` the connection went straight to
        // Reading and answered it; it stopped when it next went idle.
        assert_eq!(
            *seen.lock(),
            vec![Idle, Reading, Busy, Reading, Busy, Reading, Busy, Idle]
        );
        assert_eq!(
            bodies(&String::from_utf8_lossy(&out)),
            vec!["/a ", "/b ", "/c "]
        );
    }

    #[tokio::test]
    async fn slow_request_times_out_with_408() {
        let limits = HttpLimits {
            read_timeout: Duration::from_millis(100),
            ..HttpLimits::default()
        };
        let out = exchange_to_close(limits, b"GET /a HTTP/1.1\r\n").await;
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408 "));
    }
}
