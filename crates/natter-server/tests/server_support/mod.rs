//! Raw-protocol client for the server tests: bytes in, bytes out, no client library in the way.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use natter_server::{Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

pub const WAIT: Duration = Duration::from_secs(3);

pub struct Raw {
    pub stream: TcpStream,
    /// Everything received and not yet consumed by a `read_*` call.
    pub buf: Vec<u8>,
    pub eof: bool,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Raw {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Connects and consumes the INFO line, returning its JSON.
    pub async fn handshake(addr: SocketAddr) -> (Raw, serde_json::Value) {
        let mut raw = Raw::connect(addr).await;
        let line = raw.read_line().await;
        let json = line
            .strip_prefix("INFO ")
            .and_then(|s| s.strip_suffix(" \r\n"))
            .unwrap_or_else(|| panic!("not an INFO line: {line:?}"));
        (raw, serde_json::from_str(json).expect("INFO json"))
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// One line including its CRLF.
    pub async fn read_line(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return String::from_utf8(line).expect("utf8 line");
            }
            if self.eof || Instant::now() >= deadline {
                panic!(
                    "no full line; have {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill(deadline).await;
        }
    }

    /// Reads until `n` bytes are buffered and returns them.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        while self.buf.len() < n {
            if self.eof || Instant::now() >= deadline {
                panic!(
                    "wanted {n} bytes, have {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill(deadline).await;
        }
        self.buf.drain(..n).collect()
    }

    /// Reads until the peer closes (or `WAIT` passes) and returns everything received.
    pub async fn read_to_eof(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        while !self.eof && Instant::now() < deadline {
            self.fill(deadline).await;
        }
        std::mem::take(&mut self.buf)
    }

    /// Everything that arrives within `d`, without requiring a close.
    pub async fn read_for(&mut self, d: Duration) -> Vec<u8> {
        let deadline = Instant::now() + d;
        while !self.eof && Instant::now() < deadline {
            self.fill(deadline).await;
        }
        std::mem::take(&mut self.buf)
    }

    /// Sends PING and reads up to and including the PONG; returns what came before it.
    pub async fn sync(&mut self) -> String {
        self.send(b"PING\r\n").await;
        let mut before = String::new();
        loop {
            let line = self.read_line().await;
            if line == "PONG\r\n" {
                return before;
            }
            before.push_str(&line);
        }
    }
}

pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    timeout(WAIT, f).await.expect("timed out")
}

/// Starts a server on 127.0.0.1 with an ephemeral port and default options.
pub async fn start_local() -> ServerHandle {
    Server::builder()
        .host("127.0.0.1")
        .port(0)
        .start()
        .await
        .unwrap()
}
