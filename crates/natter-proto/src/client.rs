//! Client operations (client -> server) and the parser a server runs on client connections.

use bytes::{Buf, Bytes, BytesMut};

use crate::encode::put_json;
use crate::scan::{
    check_payload, parse_size, put_decimal, LineScanner, PayloadCheck, Shape, Tokens, VerbSpec,
    BLANKS, BLANKS_AND_EOL,
};
use crate::{Connect, Info, Limits, ProtoError};

/// An operation a client sends to a server.
///
/// Subjects, replies, queues and sids are raw bytes sliced from the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT {json}`: the client's options.
    Connect(Box<Connect>),
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub {
        /// Subject published to (not validated by the parser).
        subject: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// Message body.
        payload: Bytes,
    },
    /// `HPUB <subject> [reply] <hdr_size> <total_size>`: a message with headers.
    HPub {
        /// Subject published to (not validated by the parser).
        subject: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// The raw header block: exactly the first `hdr_size` bytes (`NATS/1.0...\r\n\r\n`),
        /// passed through unchecked as nats-server does; see [`crate::HeaderMap::parse`].
        headers: Bytes,
        /// The body: the remaining `total_size - hdr_size` bytes.
        payload: Bytes,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject or wildcard pattern (not validated by the parser).
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
        /// The client's subscription id.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// The client's subscription id.
        sid: Bytes,
        /// Unsubscribe after this many more messages. As in nats-server, a max that is not
        /// 1-9 digits reads as `None` (unsubscribe now), and `Some(0)` also means now.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

impl ClientOp {
    /// A `PUB` or `HPUB` as the borrowed view [`ClientParser::decode_with`] gives.
    pub fn as_pub(&self) -> Option<PubRef<'_>> {
        match self {
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => Some(PubRef {
                subject,
                reply: reply.as_deref(),
                headers: None,
                payload,
            }),
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => Some(PubRef {
                subject,
                reply: reply.as_deref(),
                headers: Some(headers),
                payload,
            }),
            _ => None,
        }
    }

    /// Appends the operation in wire form (as a client library writes it).
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            ClientOp::Connect(c) => {
                buf.extend_from_slice(b"CONNECT ");
                put_json(buf, c.as_ref());
                buf.extend_from_slice(b"\r\n");
            }
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => {
                buf.reserve(
                    subject.len() + reply.as_ref().map_or(0, Bytes::len) + payload.len() + 20,
                );
                buf.extend_from_slice(b"PUB ");
                buf.extend_from_slice(subject);
                buf.extend_from_slice(b" ");
                if let Some(r) = reply {
                    buf.extend_from_slice(r);
                    buf.extend_from_slice(b" ");
                }
                put_decimal(buf, payload.len() as u64);
                buf.extend_from_slice(b"\r\n");
                buf.extend_from_slice(payload);
                buf.extend_from_slice(b"\r\n");
            }
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => {
                buf.reserve(
                    subject.len()
                        + reply.as_ref().map_or(0, Bytes::len)
                        + headers.len()
                        + payload.len()
                        + 32,
                );
                buf.extend_from_slice(b"HPUB ");
                buf.extend_from_slice(subject);
                buf.extend_from_slice(b" ");
                if let Some(r) = reply {
                    buf.extend_from_slice(r);
                    buf.extend_from_slice(b" ");
                }
                put_decimal(buf, headers.len() as u64);
                buf.extend_from_slice(b" ");
                put_decimal(buf, (headers.len() + payload.len()) as u64);
                buf.extend_from_slice(b"\r\n");
                buf.extend_from_slice(headers);
                buf.extend_from_slice(payload);
                buf.extend_from_slice(b"\r\n");
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                buf.extend_from_slice(b"SUB ");
                buf.extend_from_slice(subject);
                buf.extend_from_slice(b" ");
                if let Some(q) = queue {
                    buf.extend_from_slice(q);
                    buf.extend_from_slice(b" ");
                }
                buf.extend_from_slice(sid);
                buf.extend_from_slice(b"\r\n");
            }
            ClientOp::Unsub { sid, max } => {
                buf.extend_from_slice(b"UNSUB ");
                buf.extend_from_slice(sid);
                if let Some(m) = max {
                    buf.extend_from_slice(b" ");
                    put_decimal(buf, *m);
                }
                buf.extend_from_slice(b"\r\n");
            }
            ClientOp::Ping => buf.extend_from_slice(b"PING\r\n"),
            ClientOp::Pong => buf.extend_from_slice(b"PONG\r\n"),
        }
    }
}

/// A `PUB` or `HPUB` seen in place, its parts borrowed from the read buffer: what
/// [`ClientParser::decode_with`] hands its callback, with no reference counting and no copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubRef<'a> {
    /// Subject published to (not validated by the parser).
    pub subject: &'a [u8],
    /// Reply subject, if any.
    pub reply: Option<&'a [u8]>,
    /// The raw header block of an `HPUB` (`None` for `PUB`).
    pub headers: Option<&'a [u8]>,
    /// Message body.
    pub payload: &'a [u8],
}

/// An operation as [`ClientParser::decode_with`] presents it: publishes borrowed in place,
/// everything else (rare on a busy connection) as an owned [`ClientOp`].
#[derive(Debug, PartialEq, Eq)]
pub enum ClientOpRef<'a> {
    /// `PUB` or `HPUB`.
    Pub(PubRef<'a>),
    /// Any other operation.
    Other(ClientOp),
}

/// The arguments of a `PUB`/`HPUB` control line, as ranges into the line.
#[derive(Debug, Clone, Copy)]
struct PubHead {
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    /// `Some(hdr_size)` for `HPUB`.
    hdr: Option<usize>,
    size: usize,
}

/// What one step of the parser found.
enum Step {
    /// A whole `PUB`/`HPUB` frame is at the buffer front, nothing consumed yet: a control
    /// line of `line_len` bytes, the payload, and its `\r\n`.
    Frame { head: PubHead, line_len: usize },
    /// The payload of the pending publish is at the buffer front, with its `\r\n`.
    PendingDone(PendingPub),
    /// Any other operation, already consumed.
    Op(ClientOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Pub,
    HPub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Connect,
    Info,
    Ok,
    Err,
}

// Hot verbs first: the verb match tries them in order.
const VERBS: &[VerbSpec<Verb>] = &[
    VerbSpec {
        name: b"PUB",
        verb: Verb::Pub,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"HPUB",
        verb: Verb::HPub,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"SUB",
        verb: Verb::Sub,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"UNSUB",
        verb: Verb::Unsub,
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
        name: b"CONNECT",
        verb: Verb::Connect,
        shape: Shape::OptionalBlank,
    },
    VerbSpec {
        name: b"INFO",
        verb: Verb::Info,
        shape: Shape::OptionalBlank,
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
];

/// A publish whose control line was read but whose payload has not fully arrived.
#[derive(Debug)]
struct PendingPub {
    subject: Bytes,
    reply: Option<Bytes>,
    /// `Some(hdr_size)` for `HPUB`.
    hdr: Option<usize>,
    size: usize,
}

impl PendingPub {
    /// The publish, its payload being `body` (headers included for `HPUB`).
    fn view<'a>(&'a self, body: &'a [u8]) -> PubRef<'a> {
        let (headers, payload) = split_body(self.hdr, body);
        PubRef {
            subject: &self.subject,
            reply: self.reply.as_deref(),
            headers,
            payload,
        }
    }

    fn finish(self, mut payload: Bytes) -> ClientOp {
        match self.hdr {
            None => ClientOp::Pub {
                subject: self.subject,
                reply: self.reply,
                payload,
            },
            Some(h) => ClientOp::HPub {
                subject: self.subject,
                reply: self.reply,
                headers: payload.split_to(h),
                payload,
            },
        }
    }
}

/// Incremental parser of the client protocol, as nats-server reads a client connection.
///
/// Feed it the connection's read buffer; it consumes complete operations from the front and
/// leaves partial ones in place (or in its own small state), so a stream cut anywhere
/// decodes to the same operations. Payloads are `split_to(..).freeze()` slices of the
/// buffer, never copies.
///
/// What it accepts and rejects matches nats-server 2.9/2.10 (see [`ProtoError`]): verbs in
/// any case, blanks and tabs between arguments, `\r` optional before the control line's
/// `\n`, the payload followed by exactly `\r\n`. `INFO` and `+OK` from a client are read
/// and ignored, as nats-server does. After an error the connection must be closed; the
/// parser itself is reset and could read a fresh stream.
#[derive(Debug)]
pub struct ClientParser {
    limits: Limits,
    scanner: LineScanner<Verb>,
    pending: Option<PendingPub>,
    /// The scanner consumed the start of a control line it has not finished.
    mid_line: bool,
}

impl Default for ClientParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl ClientParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ClientParser {
            limits,
            scanner: LineScanner::new(),
            pending: None,
            mid_line: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Changes the limits (config reload); they apply from the next control line.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Whether the next byte in the buffer starts a new operation: no control line or
    /// payload is partly read. A server that must see CONNECT first (authentication) rules
    /// on that byte, as nats-server does.
    pub fn at_op_start(&self) -> bool {
        self.pending.is_none() && !self.mid_line
    }

    fn fail<T>(&mut self, e: ProtoError) -> Result<T, ProtoError> {
        self.scanner.reset();
        self.pending = None;
        self.mid_line = false;
        Err(e)
    }

    /// Next complete operation; consumes its bytes from `buf`. `Ok(None)`: more bytes are
    /// needed (the partial frame stays in `buf` or in the parser).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ProtoError> {
        Ok(match self.step(buf)? {
            None => None,
            Some(Step::Op(op)) => Some(op),
            Some(Step::Frame { head, line_len }) => {
                let mut frame = buf.split_to(line_len + head.size).freeze();
                buf.advance(2);
                let p = PendingPub {
                    subject: frame.slice(head.subject.0..head.subject.1),
                    reply: head.reply.map(|r| frame.slice(r.0..r.1)),
                    hdr: head.hdr,
                    size: head.size,
                };
                frame.advance(line_len);
                Some(p.finish(frame))
            }
            Some(Step::PendingDone(p)) => {
                let payload = buf.split_to(p.size).freeze();
                buf.advance(2);
                Some(p.finish(payload))
            }
        })
    }

    /// Like [`decode`](Self::decode), but a publish is handed to `f` in place, borrowed
    /// from `buf` (or from the parser, for a control line that arrived before its payload),
    /// and consumed after `f` returns. The server's read loop uses this: no reference
    /// counting or copying per message. `Ok(None)`: more bytes are needed and `f` was not
    /// called.
    pub fn decode_with<R>(
        &mut self,
        buf: &mut BytesMut,
        f: impl FnOnce(ClientOpRef<'_>) -> R,
    ) -> Result<Option<R>, ProtoError> {
        Ok(match self.step(buf)? {
            None => None,
            Some(Step::Op(op)) => Some(f(ClientOpRef::Other(op))),
            Some(Step::Frame { head, line_len }) => {
                let (line, rest) = buf.split_at(line_len);
                let (headers, payload) = split_body(head.hdr, &rest[..head.size]);
                let r = f(ClientOpRef::Pub(PubRef {
                    subject: &line[head.subject.0..head.subject.1],
                    reply: head.reply.map(|r| &line[r.0..r.1]),
                    headers,
                    payload,
                }));
                buf.advance(line_len + head.size + 2);
                Some(r)
            }
            Some(Step::PendingDone(p)) => {
                let r = f(ClientOpRef::Pub(p.view(&buf[..p.size])));
                buf.advance(p.size + 2);
                Some(r)
            }
        })
    }

    /// Finds the next operation. A publish whose payload is complete is left in `buf`
    /// for the caller to take; everything else is consumed here.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Step>, ProtoError> {
        if let Some(p) = self.pending.take() {
            return match check_payload(buf, 0, p.size) {
                Ok(PayloadCheck::Ready) => Ok(Some(Step::PendingDone(p))),
                Ok(PayloadCheck::NeedMore) => {
                    self.pending = Some(p);
                    Ok(None)
                }
                Err(e) => self.fail(e),
            };
        }
        loop {
            let before = buf.len();
            let line = match self
                .scanner
                .next_line(buf, VERBS, self.limits.max_control_line)
            {
                Ok(Some(line)) => {
                    self.mid_line = false;
                    line
                }
                Ok(None) => {
                    // The scanner only consumes bytes once it has settled on a verb, and
                    // keeps that verb in its state until the line ends.
                    self.mid_line |= buf.len() < before;
                    return Ok(None);
                }
                Err(e) => return self.fail(e),
            };
            let (a, b) = line.args;
            return match line.verb {
                Verb::Pub | Verb::HPub => match self.publish(buf, line.verb, line.len, a, b) {
                    Ok(op) => Ok(op),
                    Err(e) => self.fail(e),
                },
                Verb::Sub => {
                    let t = Tokens::<3>::split(buf, a, b, BLANKS_AND_EOL);
                    let (s, q, id) = match t.count {
                        2 => (t.ranges[0], None, t.ranges[1]),
                        3 => (t.ranges[0], Some(t.ranges[1]), t.ranges[2]),
                        _ => return self.fail(bad_args("SUB", "wrong number of arguments")),
                    };
                    let frame = buf.split_to(line.len).freeze();
                    Ok(Some(Step::Op(ClientOp::Sub {
                        subject: frame.slice(s.0..s.1),
                        queue: q.map(|q| frame.slice(q.0..q.1)),
                        sid: frame.slice(id.0..id.1),
                    })))
                }
                Verb::Unsub => {
                    let t = Tokens::<2>::split(buf, a, b, BLANKS_AND_EOL);
                    let max = match t.count {
                        1 => None,
                        2 => parse_size(&buf[t.ranges[1].0..t.ranges[1].1]).map(|m| m as u64),
                        _ => return self.fail(bad_args("UNSUB", "wrong number of arguments")),
                    };
                    let id = t.ranges[0];
                    let frame = buf.split_to(line.len).freeze();
                    Ok(Some(Step::Op(ClientOp::Unsub {
                        sid: frame.slice(id.0..id.1),
                        max,
                    })))
                }
                Verb::Ping => {
                    buf.advance(line.len);
                    Ok(Some(Step::Op(ClientOp::Ping)))
                }
                Verb::Pong => {
                    buf.advance(line.len);
                    Ok(Some(Step::Op(ClientOp::Pong)))
                }
                Verb::Connect => {
                    let parsed = serde_json::from_slice::<Connect>(&buf[a..b]);
                    buf.advance(line.len);
                    match parsed {
                        Ok(c) => Ok(Some(Step::Op(ClientOp::Connect(Box::new(c))))),
                        Err(e) => self.fail(ProtoError::InvalidJson {
                            op: "CONNECT",
                            message: e.to_string(),
                        }),
                    }
                }
                Verb::Info => {
                    // nats-server decodes a client's INFO, closes on bad JSON, else ignores it.
                    let parsed = serde_json::from_slice::<Info>(&buf[a..b]);
                    buf.advance(line.len);
                    if let Err(e) = parsed {
                        return self.fail(ProtoError::InvalidJson {
                            op: "INFO",
                            message: e.to_string(),
                        });
                    }
                    continue;
                }
                Verb::Ok => {
                    buf.advance(line.len);
                    continue;
                }
                Verb::Err => {
                    let text = String::from_utf8_lossy(&buf[a..b]).into_owned();
                    buf.advance(line.len);
                    self.fail(ProtoError::ErrReceived(text))
                }
            };
        }
    }

    fn publish(
        &mut self,
        buf: &mut BytesMut,
        verb: Verb,
        line_len: usize,
        a: usize,
        b: usize,
    ) -> Result<Option<Step>, ProtoError> {
        let t = Tokens::<4>::split(buf, a, b, BLANKS);
        let arg = |i: usize| &buf[t.ranges[i].0..t.ranges[i].1];
        let head = if verb == Verb::Pub {
            let (reply, size) = match t.count {
                2 => (None, arg(1)),
                3 => (Some(t.ranges[1]), arg(2)),
                _ => return Err(bad_args("PUB", "wrong number of arguments")),
            };
            let size = parse_size(size).ok_or(bad_args("PUB", "bad or missing size"))?;
            PubHead {
                subject: t.ranges[0],
                reply,
                hdr: None,
                size,
            }
        } else {
            let (reply, hdr, size) = match t.count {
                3 => (None, arg(1), arg(2)),
                4 => (Some(t.ranges[1]), arg(2), arg(3)),
                _ => return Err(bad_args("HPUB", "wrong number of arguments")),
            };
            let hdr = parse_size(hdr).ok_or(bad_args("HPUB", "bad or missing header size"))?;
            let size = parse_size(size).ok_or(bad_args("HPUB", "bad or missing total size"))?;
            if hdr > size {
                return Err(bad_args("HPUB", "header size larger than total size"));
            }
            PubHead {
                subject: t.ranges[0],
                reply,
                hdr: Some(hdr),
                size,
            }
        };
        if head.size > self.limits.max_payload {
            return Err(ProtoError::MaxPayload);
        }
        match check_payload(buf, line_len, head.size)? {
            PayloadCheck::Ready => Ok(Some(Step::Frame { head, line_len })),
            PayloadCheck::NeedMore => {
                let line = buf.split_to(line_len).freeze();
                self.pending = Some(PendingPub {
                    subject: line.slice(head.subject.0..head.subject.1),
                    reply: head.reply.map(|r| line.slice(r.0..r.1)),
                    hdr: head.hdr,
                    size: head.size,
                });
                Ok(None)
            }
        }
    }
}

/// A publish body split into its header block (`HPUB`, `hdr` bytes) and payload.
fn split_body(hdr: Option<usize>, body: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match hdr {
        None => (None, body),
        Some(h) => (Some(&body[..h]), &body[h..]),
    }
}

fn bad_args(op: &'static str, reason: &'static str) -> ProtoError {
    ProtoError::InvalidArguments { op, reason }
}
