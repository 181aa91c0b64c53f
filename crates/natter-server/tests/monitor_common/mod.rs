//! Helpers for the monitoring tests: a raw HTTP/1.1 GET over a TcpStream (no HTTP client
//! dependency) and a raw NATS client that is named, subscribes and publishes.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use natter_server::{Server, ServerHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

pub const WAIT: Duration = Duration::from_secs(5);

/// A server on loopback with monitoring on a free port.
pub async fn start() -> ServerHandle {
    Server::builder()
        .host("127.0.0.1")
        .port(0)
        .http_port(0)
        .start()
        .await
        .expect("server starts")
}

pub fn monitor(server: &ServerHandle) -> SocketAddr {
    server.monitor_addr().expect("monitoring is on")
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `request` as is and reads until the server closes.
pub async fn raw_http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect to monitor");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("monitor answers and closes")
        .unwrap();
    String::from_utf8(out).expect("utf-8 answer")
}

/// Parses an answer to a GET (whose body must match Content-Length).
pub fn parse_answer(text: &str) -> Answer {
    let answer = parse_head_answer(text);
    if let Some(len) = answer.header("Content-Length") {
        assert_eq!(
            len.parse::<usize>().unwrap(),
            answer.body.len(),
            "Content-Length"
        );
    }
    answer
}

/// Parses an answer without checking the body length (HEAD answers announce a length
/// but carry no body).
pub fn parse_head_answer(text: &str) -> Answer {
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.trim().to_string())
        })
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    parse_answer(&raw_http(addr, &req).await)
}

/// GET that must answer 200 with JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let a = get(addr, path).await;
    assert_eq!(a.status, 200, "GET {path}: {}", a.body);
    assert_eq!(a.header("Content-Type"), Some("application/json"), "{path}");
    a.json()
}

/// Polls `f` until it returns `Some`, for figures that settle shortly after traffic.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

/// A raw protocol client.
pub struct Nats {
    pub stream: TcpStream,
}

impl Nats {
    /// Connects, sends CONNECT with `name`, `lang` and `version`, and waits for the PONG
    /// that proves the server processed it.
    pub async fn connect(addr: SocketAddr, name: &str) -> Nats {
        Nats::connect_with(addr, name, "").await
    }

    /// As [`Nats::connect`], with more CONNECT fields (`extra` starts with a comma).
    pub async fn connect_with(addr: SocketAddr, name: &str, extra: &str) -> Nats {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"{name}\",\"lang\":\"rawtest\",\"version\":\"0.1\",\"protocol\":1,\"headers\":true{extra}}}\r\n"
        );
        stream.write_all(connect.as_bytes()).await.unwrap();
        let mut n = Nats { stream };
        n.sync().await;
        n
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// PING and read until PONG: everything sent before is processed.
    pub async fn sync(&mut self) {
        self.send(b"PING\r\n").await;
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        timeout(WAIT, async {
            while !seen.windows(6).any(|w| w == b"PONG\r\n") {
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("PONG");
    }

    pub async fn sub(&mut self, subject: &str, queue: Option<&str>, sid: u32) {
        let line = match queue {
            Some(q) => format!("SUB {subject} {q} {sid}\r\n"),
            None => format!("SUB {subject} {sid}\r\n"),
        };
        self.send(line.as_bytes()).await;
    }

    pub async fn publish(&mut self, subject: &str, payload: &str) {
        let line = format!("PUB {subject} {}\r\n{payload}\r\n", payload.len());
        self.send(line.as_bytes()).await;
    }
}
