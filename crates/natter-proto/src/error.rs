//! The one error type of the codec, and its mapping to what nats-server sends.
//!
//! Every condition for which nats-server 2.9/2.10 answers `-ERR` (or silently closes the
//! connection) has a variant here. [`ProtoError::err_text`] gives the exact text inside
//! `-ERR ...\r\n` and [`ProtoError::closes_connection`] says whether nats-server drops the
//! connection afterwards. Both were checked against a running nats-server 2.9.10.

use std::fmt;

/// A protocol error: raised by the parsers, or by the server/router for conditions that
/// nats-server reports on the wire.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// The peer sent bytes that do not form a known operation: an unknown or misspelt verb,
    /// a verb without its required blank (`PUB\r\n`), an empty line, an operation the peer
    /// may not send (a client sending `MSG` or `RS+`), or a payload not followed by `\r\n`.
    /// nats-server sends `'Unknown Protocol Operation'` and closes.
    UnknownOp,
    /// A control line's arguments are longer than `max_control_line`; raised as soon as the
    /// buffered part of a line is longer, without waiting for its end.
    /// nats-server 2.9/2.10 sends `'maximum control line exceeded'` (lower case) and closes.
    MaxControlLine,
    /// A `PUB`/`HPUB` (or `MSG`/`HMSG`/`RMSG`) announces more bytes than `max_payload`.
    /// nats-server sends `'Maximum Payload Violation'` and closes.
    MaxPayload,
    /// The arguments of an operation are malformed: wrong number of arguments, a size that
    /// is not 1-9 decimal digits, a header size larger than the total size, a bad
    /// `RMSG` queue marker. nats-server logs it and closes the connection without `-ERR`.
    InvalidArguments {
        /// The operation, e.g. `"PUB"`.
        op: &'static str,
        /// What was wrong, e.g. `"bad or missing size"`.
        reason: &'static str,
    },
    /// The JSON of a `CONNECT` or `INFO` could not be decoded (nats-server also closes on a
    /// bad `INFO` sent by a client). nats-server closes the connection without `-ERR`.
    InvalidJson {
        /// `"CONNECT"` or `"INFO"`.
        op: &'static str,
        /// The decoder's message, for logs.
        message: String,
    },
    /// A client sent `-ERR`; nats-server logs the text and closes the connection without
    /// answering. (Route and server parsers return `-ERR` as an operation instead.)
    ErrReceived(String),
    /// A client sent `HPUB` without having announced `"headers": true` in `CONNECT`.
    /// Raised by the server, not the parser; nats-server closes without `-ERR`.
    HeadersNotSupported,
    /// A header block (see [`crate::HeaderMap`]) or a header name/value is malformed. Not a
    /// wire condition: nats-server forwards header blocks unchecked.
    InvalidHeader(&'static str),
    /// `SUB` to a subject that is not a valid subscription subject.
    /// nats-server sends `'Invalid Subject'` and keeps the connection.
    InvalidSubject,
    /// `PUB` to a subject that is not a valid literal subject, from a `pedantic` client.
    /// nats-server sends `'Invalid Publish Subject'`, keeps the connection, and still
    /// delivers the message.
    InvalidPublishSubject,
    /// Wrong or missing credentials in `CONNECT`, or any operation other than `CONNECT`
    /// first when auth is required. nats-server sends `'Authorization Violation'` and closes.
    AuthorizationViolation,
    /// No `CONNECT` arrived within the auth timeout while auth is required.
    /// nats-server sends `'Authentication Timeout'` and closes.
    AuthenticationTimeout,
    /// The user's credentials expired while connected.
    /// nats-server sends `'User Authentication Expired'` and closes.
    AuthenticationExpired,
    /// The peer did not answer `ping_max` consecutive server PINGs.
    /// nats-server sends `'Stale Connection'` and closes.
    StaleConnection,
    /// The connection's pending outbound bytes passed `max_pending` (or a write missed the
    /// write deadline). nats-server closes the connection without `-ERR`.
    SlowConsumer,
    /// The server is at `max_connections` when a client connects (after sending INFO).
    /// nats-server 2.9/2.10 sends `'maximum connections exceeded'` and closes.
    MaxConnectionsExceeded,
    /// A `SUB` would take the connection past `max_subscriptions`. nats-server 2.9/2.10
    /// sends `'maximum subscriptions exceeded'`, ignores that `SUB` and keeps the connection.
    MaxSubscriptionsExceeded,
    /// `CONNECT` asked for a `protocol` other than 0 or 1.
    /// nats-server sends `'invalid client protocol'` and closes.
    InvalidClientProtocol,
    /// `CONNECT` set `no_responders` without `headers`.
    /// nats-server sends `'no responders requires headers support'` and closes.
    NoRespondersRequiresHeaders,
    /// A plain-text client reached a server that requires TLS.
    /// nats-server sends `'Secure Connection - TLS Required'` and closes.
    SecureConnectionRequired,
}

impl ProtoError {
    /// The exact text nats-server puts after `-ERR ` for this condition, quotes included
    /// (e.g. `'Unknown Protocol Operation'`), or `""` for the conditions on which
    /// nats-server sends no `-ERR` at all (see [`ProtoError::sends_err`]).
    pub fn err_text(&self) -> &'static str {
        match self {
            ProtoError::UnknownOp => "'Unknown Protocol Operation'",
            ProtoError::MaxControlLine => "'maximum control line exceeded'",
            ProtoError::MaxPayload => "'Maximum Payload Violation'",
            ProtoError::InvalidSubject => "'Invalid Subject'",
            ProtoError::InvalidPublishSubject => "'Invalid Publish Subject'",
            ProtoError::AuthorizationViolation => "'Authorization Violation'",
            ProtoError::AuthenticationTimeout => "'Authentication Timeout'",
            ProtoError::AuthenticationExpired => "'User Authentication Expired'",
            ProtoError::StaleConnection => "'Stale Connection'",
            ProtoError::MaxConnectionsExceeded => "'maximum connections exceeded'",
            ProtoError::MaxSubscriptionsExceeded => "'maximum subscriptions exceeded'",
            ProtoError::InvalidClientProtocol => "'invalid client protocol'",
            ProtoError::NoRespondersRequiresHeaders => "'no responders requires headers support'",
            ProtoError::SecureConnectionRequired => "'Secure Connection - TLS Required'",
            ProtoError::InvalidArguments { .. }
            | ProtoError::InvalidJson { .. }
            | ProtoError::ErrReceived(_)
            | ProtoError::HeadersNotSupported
            | ProtoError::InvalidHeader(_)
            | ProtoError::SlowConsumer => "",
        }
    }

    /// Whether nats-server writes `-ERR <err_text>` to the peer for this condition.
    pub fn sends_err(&self) -> bool {
        !self.err_text().is_empty()
    }

    /// Whether nats-server closes the connection after this condition.
    pub fn closes_connection(&self) -> bool {
        !matches!(
            self,
            ProtoError::InvalidSubject
                | ProtoError::InvalidPublishSubject
                | ProtoError::MaxSubscriptionsExceeded
                | ProtoError::InvalidHeader(_)
        )
    }

    /// The `-ERR` text for a publish the account's permissions deny, quotes included:
    /// `'Permissions Violation for Publish to "subject"'`. The connection stays open.
    pub fn publish_violation_text(subject: &[u8]) -> String {
        let mut s = String::from("'Permissions Violation for Publish to ");
        go_quote(&mut s, subject);
        s.push('\'');
        s
    }

    /// The `-ERR` text for a publish whose reply subject the permissions deny:
    /// `'Permissions Violation for Publish with Reply of "reply"'`. The connection stays open.
    pub fn publish_reply_violation_text(reply: &[u8]) -> String {
        let mut s = String::from("'Permissions Violation for Publish with Reply of ");
        go_quote(&mut s, reply);
        s.push('\'');
        s
    }

    /// The `-ERR` text for a denied subscription, quotes included:
    /// `'Permissions Violation for Subscription to "subject"'`, with
    /// ` using queue "queue"` appended for a queue subscription. The connection stays open.
    pub fn subscription_violation_text(subject: &[u8], queue: Option<&[u8]>) -> String {
        let mut s = String::from("'Permissions Violation for Subscription to ");
        go_quote(&mut s, subject);
        if let Some(q) = queue {
            s.push_str(" using queue ");
            go_quote(&mut s, q);
        }
        s.push('\'');
        s
    }
}

/// Quotes like Go's `%q`, which nats-server uses in permission errors, so odd subjects
/// read the same on both servers.
fn go_quote(out: &mut String, raw: &[u8]) {
    use std::fmt::Write;
    out.push('"');
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::InvalidArguments { op, reason } => write!(f, "{op}: {reason}"),
            ProtoError::InvalidJson { op, message } => write!(f, "{op}: invalid JSON: {message}"),
            ProtoError::ErrReceived(text) => write!(f, "peer sent -ERR {text}"),
            ProtoError::HeadersNotSupported => f.write_str("message headers not supported"),
            ProtoError::InvalidHeader(why) => write!(f, "invalid header: {why}"),
            ProtoError::SlowConsumer => f.write_str("slow consumer"),
            other => f.write_str(other.err_text().trim_matches('\'')),
        }
    }
}

impl std::error::Error for ProtoError {}
