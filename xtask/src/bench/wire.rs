//! A minimal NATS client over a plain `TcpStream`: enough protocol (INFO, CONNECT, SUB, PING,
//! PONG, counting MSG frames) to hold 1,000 idle subscribed connections for the RSS figure and
//! to act as queue-group subscribers when `natter bench` has no `--queue`. Std only, and
//! separate from `natter bench`'s own wire client (crates/natter-cli/src/wire.rs), which is
//! async and also publishes; the two read the same frames and must stay in step.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What a chunk of server bytes held, as far as the benchmark cares.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub msgs: u64,
    pub pings: u64,
    pub pongs: u64,
    pub errs: u64,
}

/// Incremental reader of server frames: control lines are split at `\n`, a `MSG`/`HMSG`
/// payload is skipped by its byte count. Feeding the stream in chunks of any size gives the
/// same counts as feeding it whole.
#[derive(Debug, Default)]
pub struct FrameCounter {
    line: Vec<u8>,
    /// Payload bytes (plus the closing CRLF) still to skip.
    skip: usize,
    /// The text of the last `-ERR`, for the failure message.
    pub last_err: Option<String>,
}

impl FrameCounter {
    pub fn feed(&mut self, mut data: &[u8]) -> Seen {
        let mut seen = Seen::default();
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            match data.iter().position(|&b| b == b'\n') {
                None => {
                    self.line.extend_from_slice(data);
                    return seen;
                }
                Some(nl) => {
                    self.line.extend_from_slice(&data[..nl]);
                    data = &data[nl + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.control(&line, &mut seen);
                }
            }
        }
        seen
    }

    fn control(&mut self, line: &[u8], seen: &mut Seen) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let op_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let op = line[..op_end].to_ascii_uppercase();
        match op.as_slice() {
            b"MSG" | b"HMSG" => {
                // The last token is the payload size (for HMSG: headers plus body).
                let size = line
                    .rsplit(|&b| b == b' ')
                    .next()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<usize>().ok())
                    .unwrap_or(0);
                self.skip = size + 2;
                seen.msgs += 1;
            }
            b"PING" => seen.pings += 1,
            b"PONG" => seen.pongs += 1,
            b"-ERR" => {
                seen.errs += 1;
                self.last_err = Some(String::from_utf8_lossy(line).into_owned());
            }
            _ => {}
        }
    }
}

/// One raw connection.
pub struct RawConn {
    stream: TcpStream,
    counter: FrameCounter,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects, reads INFO, sends a quiet CONNECT (no `+OK` per operation).
    pub fn connect(addr: SocketAddr, name: &str) -> io::Result<RawConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut conn = RawConn {
            stream,
            counter: FrameCounter::default(),
            buf: vec![0; 64 * 1024],
        };
        let info = conn.read_line()?;
        if !info.starts_with("INFO ") {
            return Err(io::Error::other(format!("expected INFO, got `{info}`")));
        }
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"lang\":\"xtask\",\"version\":\"0\",\"name\":\"{name}\",\"protocol\":1}}\r\n"
        );
        conn.stream.write_all(connect.as_bytes())?;
        Ok(conn)
    }

    /// Reads the INFO line byte by byte, so nothing after it is swallowed.
    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 64 * 1024 {
            self.stream.read_exact(&mut byte)?;
            if byte[0] == b'\n' {
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            line.push(byte[0]);
        }
        Err(io::Error::other("no line end in the first 64 KiB"))
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends PING and waits for the PONG: once it comes, everything sent before it was
    /// processed by the server.
    pub fn round_trip(&mut self) -> io::Result<()> {
        self.send(b"PING\r\n")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.read_some()?;
            if seen.pongs > 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("no PONG within 10 s"));
            }
        }
    }

    /// Reads what is there (blocking up to the read timeout), answers server PINGs, and fails
    /// on `-ERR` or end of stream.
    pub fn read_some(&mut self) -> io::Result<Seen> {
        let n = self.stream.read(&mut self.buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let seen = self.counter.feed(&self.buf[..n]);
        for _ in 0..seen.pings {
            self.stream.write_all(b"PONG\r\n")?;
        }
        if seen.errs > 0 {
            let text = self.counter.last_err.clone().unwrap_or_default();
            return Err(io::Error::other(format!("server said {text}")));
        }
        Ok(seen)
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] =
        b"INFO {\"x\":1}\r\nMSG a.b 1 5\r\nhello\r\nPING\r\nMSG a.b 1 r.1 4\r\n\r\n\r\n\r\n\
HMSG a 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n-ERR 'Slow Consumer'\r\nMSG x 1 0\r\n\r\n";

    #[test]
    fn counts_frames_and_skips_payloads_that_look_like_lines() {
        let mut c = FrameCounter::default();
        let seen = c.feed(STREAM);
        // The second MSG's payload is "\r\n\r\n": it must not be read as control lines.
        assert_eq!(
            seen,
            Seen {
                msgs: 4,
                pings: 1,
                pongs: 1,
                errs: 1
            }
        );
        assert_eq!(c.last_err.as_deref(), Some("-ERR 'Slow Consumer'"));
    }

    #[test]
    fn any_chunking_gives_the_same_counts() {
        for chunk in 1..STREAM.len() {
            let mut c = FrameCounter::default();
            let mut total = Seen::default();
            for part in STREAM.chunks(chunk) {
                let s = c.feed(part);
                total.msgs += s.msgs;
                total.pings += s.pings;
                total.pongs += s.pongs;
                total.errs += s.errs;
            }
            assert_eq!(total.msgs, 4, "chunk size {chunk}");
            assert_eq!((total.pings, total.pongs, total.errs), (1, 1, 1));
        }
    }
}
