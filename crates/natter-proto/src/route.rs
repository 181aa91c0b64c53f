//! The route protocol (server <-> server in a cluster), as nats-server 2.9/2.10 speaks it.
//!
//! Covered: `INFO`/`CONNECT` with JSON, `RS+ <account> <subject>[ <queue> <weight>]`,
//! `RS- <account> <subject>[ <queue>]`, `RMSG` and the route form of `HMSG` with the
//! account, optional reply and queue list (`+ <reply> <queue>...` / `| <queue>...`),
//! `PING`, `PONG`, `-ERR`; a stray `+OK` is skipped. Not covered: the leaf-origin forms
//! (`LS+`/`LS-`/`LMSG`, only sent to peers that set `lnoc` in CONNECT) and 2.10's
//! per-account pinned routes, whose protocols omit the account (only used when both
//! sides configure `accounts` pinning and announce pooling in INFO).

use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::encode::{self, put_json};
use crate::scan::{
    parse_size, split_all, take_frame, LineScanner, Shape, Tokens, VerbSpec, BLANKS_AND_EOL,
};
use crate::{Info, Limits, ProtoError};

fn is_false(b: &bool) -> bool {
    !*b
}

/// The JSON object a server sends with `CONNECT` on a route it opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConnect {
    /// Echo own messages (nats-server sends `true`).
    #[serde(default)]
    pub echo: bool,
    /// Verbose mode (nats-server sends `false`).
    #[serde(default)]
    pub verbose: bool,
    /// Pedantic mode (nats-server sends `false`).
    #[serde(default)]
    pub pedantic: bool,
    /// Route user, from the route URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Route password, from the route URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// The connection uses TLS.
    #[serde(default)]
    pub tls_required: bool,
    /// The sender supports headers.
    #[serde(default)]
    pub headers: bool,
    /// The sender's server id.
    #[serde(default)]
    pub name: String,
    /// The sender's cluster name.
    #[serde(default)]
    pub cluster: String,
    /// The sender's cluster name was generated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// The sender understands leaf-origin protocols (`LS+`/`LMSG`). Natter leaves it off,
    /// so nats-server peers never send those.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// The sender understands `LS-` with origin.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lnocu: bool,
    /// Gateway name (gateway connections only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// An operation on a route connection (both directions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// `INFO {json}`: the peer's server info (first one, and gossip updates).
    Info(Box<Info>),
    /// `CONNECT {json}`: sent by the side that opened the route.
    Connect(Box<RouteConnect>),
    /// `RS+`: the peer has interest in `subject` in `account`.
    RsPlus {
        /// Account name.
        account: Bytes,
        /// Subject or pattern.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
        /// Queue weight (members on the peer). Always `Some` when `queue` is, `None`
        /// otherwise. A weight that is not 1-9 digits reads as 1, the weight nats-server
        /// then applies; encoding a queue without weight writes 1.
        weight: Option<u32>,
    },
    /// `RS-`: the peer lost that interest.
    RsMinus {
        /// Account name.
        account: Bytes,
        /// Subject or pattern.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
    },
    /// `RMSG`, or the route `HMSG` when `headers` is set: a message to deliver locally.
    RMsg {
        /// Account name.
        account: Bytes,
        /// Subject.
        subject: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// Queue groups of the receiver the sender picked this message for (deliver to
        /// one member of each); empty for plain interest only.
        queues: Vec<Bytes>,
        /// Raw header block, for the `HMSG` form.
        headers: Option<Bytes>,
        /// Body.
        payload: Bytes,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `-ERR <text>`: the text after `-ERR `.
    Err(String),
}

impl RouteOp {
    /// Appends the operation in wire form, as nats-server writes it on routes.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            // nats-server writes route INFO exactly like client INFO, trailing blank included.
            RouteOp::Info(info) => encode::info(buf, info),
            RouteOp::Connect(c) => {
                buf.extend_from_slice(b"CONNECT ");
                put_json(buf, c.as_ref());
                buf.extend_from_slice(b"\r\n");
            }
            RouteOp::RsPlus {
                account,
                subject,
                queue,
                weight,
            } => encode::rs_plus(buf, account, subject, queue.as_deref(), *weight),
            RouteOp::RsMinus {
                account,
                subject,
                queue,
            } => encode::rs_minus(buf, account, subject, queue.as_deref()),
            RouteOp::RMsg {
                account,
                subject,
                reply,
                queues,
                headers,
                payload,
            } => {
                // A small fixed array covers the usual case without allocating.
                let mut inline: [&[u8]; 8] = [&[]; 8];
                if queues.len() <= inline.len() {
                    for (slot, q) in inline.iter_mut().zip(queues) {
                        *slot = q;
                    }
                    encode::rmsg(
                        buf,
                        account,
                        subject,
                        reply.as_deref(),
                        &inline[..queues.len()],
                        headers.as_deref(),
                        payload,
                    );
                } else {
                    let qs: Vec<&[u8]> = queues.iter().map(|q| &q[..]).collect();
                    encode::rmsg(
                        buf,
                        account,
                        subject,
                        reply.as_deref(),
                        &qs,
                        headers.as_deref(),
                        payload,
                    );
                }
            }
            RouteOp::Ping => encode::ping(buf),
            RouteOp::Pong => encode::pong(buf),
            RouteOp::Err(text) => encode::err(buf, text),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    RMsg,
    HMsg,
    RsPlus,
    RsMinus,
    Ping,
    Pong,
    Info,
    Connect,
    Err,
    Ok,
}

const VERBS: &[VerbSpec<Verb>] = &[
    VerbSpec {
        name: b"RMSG",
        verb: Verb::RMsg,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"HMSG",
        verb: Verb::HMsg,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"RS+",
        verb: Verb::RsPlus,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"RS-",
        verb: Verb::RsMinus,
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
        name: b"INFO",
        verb: Verb::Info,
        shape: Shape::OptionalBlank,
    },
    VerbSpec {
        name: b"CONNECT",
        verb: Verb::Connect,
        shape: Shape::OptionalBlank,
    },
    VerbSpec {
        name: b"-ERR",
        verb: Verb::Err,
        shape: Shape::Args,
    },
    VerbSpec {
        name: b"+OK",
        verb: Verb::Ok,
        shape: Shape::NoArgs,
    },
];

type Range = (usize, usize);

/// The parsed control line of an `RMSG`/`HMSG`, as ranges into the buffer.
#[derive(Debug)]
struct MsgArgs {
    account: Range,
    subject: Range,
    reply: Option<Range>,
    queues: Vec<Range>,
    hdr: Option<usize>,
    size: usize,
}

impl MsgArgs {
    fn slice_from(&self, src: &Bytes) -> PendingRMsg {
        let s = |r: Range| src.slice(r.0..r.1);
        PendingRMsg {
            account: s(self.account),
            subject: s(self.subject),
            reply: self.reply.map(s),
            queues: self.queues.iter().map(|&r| s(r)).collect(),
            hdr: self.hdr,
            size: self.size,
        }
    }
}

#[derive(Debug)]
struct PendingRMsg {
    account: Bytes,
    subject: Bytes,
    reply: Option<Bytes>,
    queues: Vec<Bytes>,
    hdr: Option<usize>,
    size: usize,
}

impl PendingRMsg {
    fn finish(self, mut payload: Bytes) -> RouteOp {
        let headers = self.hdr.map(|h| payload.split_to(h));
        RouteOp::RMsg {
            account: self.account,
            subject: self.subject,
            reply: self.reply,
            queues: self.queues,
            headers,
            payload,
        }
    }
}

/// Incremental parser of the route protocol; same contract as [`crate::ClientParser`].
///
/// `max_payload` bounds routed messages too (nats-server does not check it on routes, so
/// give routes a limit at least as large as any peer's).
#[derive(Debug)]
pub struct RouteParser {
    limits: Limits,
    scanner: LineScanner<Verb>,
    pending: Option<PendingRMsg>,
}

impl Default for RouteParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl RouteParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RouteParser {
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
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RouteOp>, ProtoError> {
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
        loop {
            let line = match self
                .scanner
                .next_line(buf, VERBS, self.limits.max_control_line)
            {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(None),
                Err(e) => return self.fail(e),
            };
            let (a, b) = line.args;
            let result = match line.verb {
                Verb::RMsg | Verb::HMsg => {
                    self.message(buf, line.verb == Verb::HMsg, line.len, a, b)
                }
                Verb::RsPlus => {
                    let t = Tokens::<4>::split(buf, a, b, BLANKS_AND_EOL);
                    let (queue, weight) = match t.count {
                        2 => (None, None),
                        4 => {
                            let w = &buf[t.ranges[3].0..t.ranges[3].1];
                            let w = parse_size(w).map_or(1, |w| w as u32);
                            (Some(t.ranges[2]), Some(w))
                        }
                        _ => return self.fail(bad_args("RS+", "wrong number of arguments")),
                    };
                    let frame = buf.split_to(line.len).freeze();
                    Ok(Some(RouteOp::RsPlus {
                        account: frame.slice(t.ranges[0].0..t.ranges[0].1),
                        subject: frame.slice(t.ranges[1].0..t.ranges[1].1),
                        queue: queue.map(|q| frame.slice(q.0..q.1)),
                        weight,
                    }))
                }
                Verb::RsMinus => {
                    let t = Tokens::<3>::split(buf, a, b, BLANKS_AND_EOL);
                    if !(2..=3).contains(&t.count) {
                        return self.fail(bad_args("RS-", "wrong number of arguments"));
                    }
                    let frame = buf.split_to(line.len).freeze();
                    Ok(Some(RouteOp::RsMinus {
                        account: frame.slice(t.ranges[0].0..t.ranges[0].1),
                        subject: frame.slice(t.ranges[1].0..t.ranges[1].1),
                        queue: (t.count == 3).then(|| frame.slice(t.ranges[2].0..t.ranges[2].1)),
                    }))
                }
                Verb::Ping => {
                    buf.advance(line.len);
                    Ok(Some(RouteOp::Ping))
                }
                Verb::Pong => {
                    buf.advance(line.len);
                    Ok(Some(RouteOp::Pong))
                }
                Verb::Info => {
                    let parsed = serde_json::from_slice::<Info>(&buf[a..b]);
                    buf.advance(line.len);
                    parsed
                        .map(|i| Some(RouteOp::Info(Box::new(i))))
                        .map_err(|e| ProtoError::InvalidJson {
                            op: "INFO",
                            message: e.to_string(),
                        })
                }
                Verb::Connect => {
                    let parsed = serde_json::from_slice::<RouteConnect>(&buf[a..b]);
                    buf.advance(line.len);
                    parsed
                        .map(|c| Some(RouteOp::Connect(Box::new(c))))
                        .map_err(|e| ProtoError::InvalidJson {
                            op: "CONNECT",
                            message: e.to_string(),
                        })
                }
                Verb::Err => {
                    let text = String::from_utf8_lossy(&buf[a..b]).into_owned();
                    buf.advance(line.len);
                    Ok(Some(RouteOp::Err(text)))
                }
                Verb::Ok => {
                    buf.advance(line.len);
                    continue;
                }
            };
            return match result {
                Ok(op) => Ok(op),
                Err(e) => self.fail(e),
            };
        }
    }

    fn message(
        &mut self,
        buf: &mut BytesMut,
        with_headers: bool,
        line_len: usize,
        a: usize,
        b: usize,
    ) -> Result<Option<RouteOp>, ProtoError> {
        let args = parse_msg_args(buf, with_headers, a, b)?;
        if args.size > self.limits.max_payload {
            return Err(ProtoError::MaxPayload);
        }
        match take_frame(buf, line_len, args.size)? {
            Some(mut frame) => {
                let p = args.slice_from(&frame);
                frame.advance(line_len);
                Ok(Some(p.finish(frame)))
            }
            None => {
                let line = buf.split_to(line_len).freeze();
                self.pending = Some(args.slice_from(&line));
                Ok(None)
            }
        }
    }
}

/// nats-server's `processRoutedMsgArgs` / `processRoutedHeaderMsgArgs` grammar:
/// `acc subj [reply] [hdr] size`, or with queues
/// `acc subj + reply q... [hdr] size` / `acc subj | q... [hdr] size`.
fn parse_msg_args(
    buf: &[u8],
    with_headers: bool,
    a: usize,
    b: usize,
) -> Result<MsgArgs, ProtoError> {
    let op = if with_headers { "HMSG" } else { "RMSG" };
    let sizes = if with_headers { 2 } else { 1 };
    let t = Tokens::<6>::split(buf, a, b, BLANKS_AND_EOL);
    let all;
    let r: &[Range] = if t.count <= t.ranges.len() {
        &t.ranges[..t.count]
    } else {
        all = split_all(buf, a, b, BLANKS_AND_EOL);
        &all
    };
    let n = r.len();
    if n < 2 + sizes {
        return Err(bad_args(op, "wrong number of arguments"));
    }
    let tok = |i: usize| &buf[r[i].0..r[i].1];
    let (reply, queues) = if n == 2 + sizes {
        (None, Vec::new())
    } else if n == 3 + sizes {
        (Some(r[2]), Vec::new())
    } else {
        match tok(2) {
            b"+" => (Some(r[3]), r[4..n - sizes].to_vec()),
            b"|" => (None, r[3..n - sizes].to_vec()),
            _ => return Err(bad_args(op, "bad or missing reply indicator")),
        }
    };
    let size = parse_size(tok(n - 1)).ok_or(bad_args(op, "bad or missing size"))?;
    let hdr = if with_headers {
        let hdr = parse_size(tok(n - 2)).ok_or(bad_args(op, "bad or missing header size"))?;
        if hdr > size {
            return Err(bad_args(op, "header size larger than total size"));
        }
        Some(hdr)
    } else {
        None
    };
    Ok(MsgArgs {
        account: r[0],
        subject: r[1],
        reply,
        queues,
        hdr,
        size,
    })
}

fn bad_args(op: &'static str, reason: &'static str) -> ProtoError {
    ProtoError::InvalidArguments { op, reason }
}
