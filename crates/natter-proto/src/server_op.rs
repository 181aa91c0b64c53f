//! Server operations (server -> client) and the parser a client runs on them.

use bytes::{Buf, Bytes, BytesMut};

use crate::encode;
use crate::scan::{parse_size, take_frame, LineScanner, Shape, Tokens, VerbSpec, BLANKS};
use crate::{Info, Limits, ProtoError};

/// An operation a server sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {json}`.
    Info(Box<Info>),
    /// `MSG <subject> <sid> [reply] <size>` and its payload.
    Msg {
        /// Subject the message was published to.
        subject: Bytes,
        /// The subscription id it is delivered for.
        sid: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// Message body.
        payload: Bytes,
    },
    /// `HMSG <subject> <sid> [reply] <hdr_size> <total_size>`: a message with headers.
    HMsg {
        /// Subject the message was published to.
        subject: Bytes,
        /// The subscription id it is delivered for.
        sid: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// Raw header block (the first `hdr_size` bytes).
        headers: Bytes,
        /// Body.
        payload: Bytes,
    },
    /// `+OK` (verbose mode acknowledgement).
    Ok,
    /// `-ERR <text>`: the text after `-ERR `, quotes included (e.g. `'Stale Connection'`).
    Err(String),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

impl ServerOp {
    /// Appends the operation in wire form, as nats-server writes it.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            ServerOp::Info(info) => encode::info(buf, info),
            ServerOp::Msg {
                subject,
                sid,
                reply,
                payload,
            } => encode::msg(buf, subject, sid, reply.as_deref(), payload),
            ServerOp::HMsg {
                subject,
                sid,
                reply,
                headers,
                payload,
            } => encode::hmsg(buf, subject, sid, reply.as_deref(), headers, payload),
            ServerOp::Ok => encode::ok(buf),
            ServerOp::Err(text) => encode::err(buf, text),
            ServerOp::Ping => encode::ping(buf),
            ServerOp::Pong => encode::pong(buf),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Msg,
    HMsg,
    Ping,
    Pong,
    Ok,
    Err,
    Info,
}

const VERBS: &[VerbSpec<Verb>] = &[
    VerbSpec {
        name: b"MSG",
        verb: Verb::Msg,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"HMSG",
        verb: Verb::HMsg,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"PING",
        verb: Verb::Ping,
        shape: Shape::NoArgs,
    },
    VerbSpec {
        name: b"PONG",
        verb: Verb::Pong,
        shape: Shape::NoArgs,
    },
    VerbSpec {
        name: b"+OK",
        verb: Verb::Ok,
        shape: Shape::NoArgs,
    },
    VerbSpec {
        name: b"-ERR",
        verb: Verb::Err,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"INFO",
        verb: Verb::Info,
        shape: Shape::OptionalBlank,
    },
];

#[derive(Debug)]
struct PendingMsg {
    subject: Bytes,
    sid: Bytes,
    reply: Option<Bytes>,
    hdr: Option<usize>,
    size: usize,
}

impl PendingMsg {
    fn finish(self, mut payload: Bytes) -> ServerOp {
        match self.hdr {
            None => ServerOp::Msg {
                subject: self.subject,
                sid: self.sid,
                reply: self.reply,
                payload,
            },
            Some(h) => ServerOp::HMsg {
                subject: self.subject,
                sid: self.sid,
                reply: self.reply,
                headers: payload.split_to(h),
                payload,
            },
        }
    }
}

/// Incremental parser of what a server sends to a client (used by tests, the CLI and
/// fuzzing). Same contract as [`crate::ClientParser`]: operations come out whole, however
/// the stream is cut, with payloads sliced from the buffer.
#[derive(Debug)]
pub struct ServerParser {
    limits: Limits,
    scanner: LineScanner<Verb>,
    pending: Option<PendingMsg>,
}

impl Default for ServerParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl ServerParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ServerParser {
            limits,
            scanner: LineScanner::new(),
            pending: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Changes the limits; they apply from the next control line.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    fn fail<T>(&mut self, e: ProtoError) -> Result<T, ProtoError> {
        self.scanner.reset();
        self.pending = None;
        Err(e)
    }

    /// Next complete operation; consumes its bytes from `buf`. `Ok(None)`: more bytes are
    /// needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
        if let Some(p) = self.pending.take() {
            return match take_frame(buf, 0, p.size) {
                Ok(Some(payload)) => Ok(Some(p.finish(payload))),
                Ok(None) => {
                    self.pending = Some(p);
                    Ok(None)
                }
                Err(e) => self.fail(e),
            };
        }
        let line = match self
            .scanner
            .next_line(buf, VERBS, self.limits.max_control_line)
        {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(None),
            Err(e) => return self.fail(e),
        };
        let (a, b) = line.args;
        match line.verb {
            Verb::Msg | Verb::HMsg => match self.message(buf, line.verb, line.len, a, b) {
                Ok(op) => Ok(op),
                Err(e) => self.fail(e),
            },
            Verb::Ping => {
                buf.advance(line.len);
                Ok(Some(ServerOp::Ping))
            }
            Verb::Pong => {
                buf.advance(line.len);
                Ok(Some(ServerOp::Pong))
            }
            Verb::Ok => {
                buf.advance(line.len);
                Ok(Some(ServerOp::Ok))
            }
            Verb::Err => {
                let text = String::from_utf8_lossy(&buf[a..b]).into_owned();
                buf.advance(line.len);
                Ok(Some(ServerOp::Err(text)))
            }
            Verb::Info => {
                let parsed = serde_json::from_slice::<Info>(&buf[a..b]);
                buf.advance(line.len);
                match parsed {
                    Ok(info) => Ok(Some(ServerOp::Info(Box::new(info)))),
                    Err(e) => self.fail(ProtoError::InvalidJson {
                        op: "INFO",
                        message: e.to_string(),
                    }),
                }
            }
        }
    }

    fn message(
        &mut self,
        buf: &mut BytesMut,
        verb: Verb,
        line_len: usize,
        a: usize,
        b: usize,
    ) -> Result<Option<ServerOp>, ProtoError> {
        let t = Tokens::<5>::split(buf, a, b, BLANKS);
        let arg = |i: usize| &buf[t.ranges[i].0..t.ranges[i].1];
        let (reply, hdr, size) = if verb == Verb::Msg {
            let (reply, size) = match t.count {
                3 => (None, arg(2)),
                4 => (Some(t.ranges[2]), arg(3)),
                _ => return Err(bad_args("MSG", "wrong number of arguments")),
            };
            (
                reply,
                None,
                parse_size(size).ok_or(bad_args("MSG", "bad or missing size"))?,
            )
        } else {
            let (reply, hdr, size) = match t.count {
                4 => (None, arg(2), arg(3)),
                5 => (Some(t.ranges[2]), arg(3), arg(4)),
                _ => return Err(bad_args("HMSG", "wrong number of arguments")),
            };
            let hdr = parse_size(hdr).ok_or(bad_args("HMSG", "bad or missing header size"))?;
            let size = parse_size(size).ok_or(bad_args("HMSG", "bad or missing total size"))?;
            if hdr > size {
                return Err(bad_args("HMSG", "header size larger than total size"));
            }
            (reply, Some(hdr), size)
        };
        if size > self.limits.max_payload {
            return Err(ProtoError::MaxPayload);
        }
        let (s, id) = (t.ranges[0], t.ranges[1]);
        match take_frame(buf, line_len, size)? {
            Some(mut frame) => {
                let p = PendingMsg {
                    subject: frame.slice(s.0..s.1),
                    sid: frame.slice(id.0..id.1),
                    reply: reply.map(|r| frame.slice(r.0..r.1)),
                    hdr,
                    size,
                };
                frame.advance(line_len);
                Ok(Some(p.finish(frame)))
            }
            None => {
                let line = buf.split_to(line_len).freeze();
                self.pending = Some(PendingMsg {
                    subject: line.slice(s.0..s.1),
                    sid: line.slice(id.0..id.1),
                    reply: reply.map(|r| line.slice(r.0..r.1)),
                    hdr,
                    size,
                });
                Ok(None)
            }
        }
    }
}

fn bad_args(op: &'static str, reason: &'static str) -> ProtoError {
    ProtoError::InvalidArguments { op, reason }
}
