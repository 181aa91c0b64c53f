//! Shared harness for the real-client interop suites.
//!
//! By default every test server is an embedded Natter (`natter_server::Server::builder()`).
//! Setting `NATTER_INTEROP_REFERENCE_BIN` to a nats-server binary runs the very same tests
//! against that process instead, which is how the expectations are checked against the
//! reference implementation (the flags and config keys used here are nats-server's own).

#![allow(dead_code)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Env var naming an external nats-server binary to run the suite against.
pub const REFERENCE_BIN_ENV: &str = "NATTER_INTEROP_REFERENCE_BIN";

/// Limits a test wants its server started with; `None` keeps the server default.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// `max_payload` in bytes.
    pub max_payload: Option<usize>,
    /// `max_pending` in bytes (slow-consumer threshold).
    pub max_pending: Option<usize>,
}

// One value per test server: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Embedded(natter_server::ServerHandle),
    Process { child: Child, _dir: ScratchDir },
}

/// One running server, on a loopback port that stays the same across `restart`.
pub struct TestServer {
    backend: Option<Backend>,
    port: u16,
    limits: Limits,
}

impl TestServer {
    /// Starts a server with default limits on a free port.
    pub async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    /// Starts a server with the given limits on a free port.
    pub async fn start_with(limits: Limits) -> Self {
        let mut server = TestServer {
            backend: None,
            port: 0,
            limits,
        };
        server.launch().await;
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The socket address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops the server; the port is free afterwards.
    pub async fn stop(&mut self) {
        match self.backend.take() {
            Some(Backend::Embedded(handle)) => handle.shutdown().await,
            Some(Backend::Process { mut child, _dir }) => {
                let _ = child.kill().await;
                let _ = child.wait().await;
            }
            None => {}
        }
    }

    /// Starts the server again on the port it had before.
    pub async fn restart(&mut self) {
        assert!(self.backend.is_none(), "restart() needs a stopped server");
        self.launch().await;
    }

    async fn launch(&mut self) {
        match std::env::var_os(REFERENCE_BIN_ENV) {
            Some(bin) => self.launch_process(PathBuf::from(bin)).await,
            None => self.launch_embedded().await,
        }
    }

    async fn launch_embedded(&mut self) {
        // A restart may race the kernel releasing the old listener; retry briefly.
        let mut attempt = 0;
        let handle = loop {
            let mut builder = natter_server::Server::builder()
                .host("127.0.0.1")
                .port(self.port);
            if let Some(n) = self.limits.max_payload {
                builder = builder.max_payload(n);
            }
            if let Some(n) = self.limits.max_pending {
                builder = builder.max_pending(n);
            }
            match builder.start().await {
                Ok(handle) => break handle,
                Err(_) if attempt < 50 && self.port != 0 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("natter server did not start: {e:?}"),
            }
        };
        self.port = handle.addr().port();
        assert_eq!(handle.client_url(), self.url());
        self.backend = Some(Backend::Embedded(handle));
    }

    async fn launch_process(&mut self, bin: PathBuf) {
        if self.port == 0 {
            self.port = free_port();
        }
        let dir = ScratchDir::new();
        let conf = dir.0.join("server.conf");
        let mut text = format!("listen: \"127.0.0.1:{}\"\n", self.port);
        if let Some(n) = self.limits.max_payload {
            text.push_str(&format!("max_payload: {n}\n"));
        }
        if let Some(n) = self.limits.max_pending {
            text.push_str(&format!("max_pending: {n}\n"));
        }
        std::fs::write(&conf, text).expect("write server config");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        wait_for_port(self.addr()).await;
        self.backend = Some(Backend::Process { child, _dir: dir });
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

async fn wait_for_port(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not accept connections on {addr} within 5 s");
}

struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "natter-interop-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create scratch dir");
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a test body with an overall deadline so a broken server fails the test instead of
/// hanging the run.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s: {what}"),
    }
}

/// A raw protocol connection, for what no well-behaved client library will send.
pub struct RawConn {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects and reads the server's INFO line; returns it without the CRLF.
    pub async fn connect(addr: SocketAddr) -> (RawConn, String) {
        let stream = TcpStream::connect(addr).await.expect("raw connect");
        let mut conn = RawConn {
            stream,
            buf: Vec::new(),
        };
        let info = conn.read_line().await.expect("INFO line");
        assert!(info.starts_with("INFO {"), "first line was {info:?}");
        (conn, info)
    }

    /// Writes bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("raw write");
    }

    /// Reads one CRLF-terminated line (without CRLF); `None` at EOF.
    pub async fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).take(pos).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Reads exactly `n` bytes (payloads).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await > 0, "EOF inside a payload");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads until EOF or a reset, returning everything that arrived.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await > 0 {}
        std::mem::take(&mut self.buf)
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(_) => 0,
        }
    }
}
