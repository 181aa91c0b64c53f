use std::fmt;

use natter_proto::ProtoError;

/// Why a router call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouterError {
    /// A subscription subject or queue group is not a valid NATS subject, or a publish
    /// subject is empty.
    InvalidSubject,
    /// The session already holds `max_subscriptions` subscriptions.
    MaxSubscriptions,
    /// Header block plus body is larger than `max_payload`.
    MaxPayload,
    /// The session was closed (by the client, the server, or as a slow consumer).
    Closed,
}

impl RouterError {
    /// The protocol error a socket session answers with, if any.
    ///
    /// `Closed` has none: the connection is going away and nothing more is sent.
    pub fn to_proto(&self) -> Option<ProtoError> {
        match self {
            RouterError::InvalidSubject => Some(ProtoError::InvalidSubject),
            RouterError::MaxSubscriptions => Some(ProtoError::MaxSubscriptionsExceeded),
            RouterError::MaxPayload => Some(ProtoError::MaxPayload),
            RouterError::Closed => None,
        }
    }

    /// The exact text inside `-ERR` for this condition, as nats-server sends it.
    pub fn err_text(&self) -> Option<&'static str> {
        self.to_proto().map(|e| e.err_text())
    }
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouterError::InvalidSubject => "invalid subject",
            RouterError::MaxSubscriptions => "maximum subscriptions exceeded",
            RouterError::MaxPayload => "maximum payload exceeded",
            RouterError::Closed => "session closed",
        })
    }
}

impl std::error::Error for RouterError {}

/// Why a session was closed. The first reason given wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client went away or asked to close.
    ClientClosed,
    /// Pending outbound bytes passed `max_pending`.
    SlowConsumer,
    /// A write did not finish within the write deadline.
    SlowConsumerWriteDeadline,
    /// The client did not answer `ping_max` server PINGs.
    StaleConnection,
    /// The client broke the protocol.
    ProtocolError,
    /// The client did not authenticate in time.
    AuthTimeout,
    /// The client's credentials were refused.
    AuthViolation,
    /// The server is shutting down.
    ServerShutdown,
    /// The server is in lame duck mode and is moving clients away.
    LameDuck,
    /// Writing to the socket failed.
    WriteError,
    /// Reading from the socket failed.
    ReadError,
    /// The server already holds `max_connections` connections.
    MaxConnections,
    /// A message was larger than `max_payload`.
    MaxPayload,
    /// A control line was longer than `max_control_line`.
    MaxControlLine,
}

impl CloseReason {
    /// Whether what is still unsent is dropped instead of flushed, as nats-server does
    /// for these reasons: the peer cannot or will not take it.
    pub fn skips_flush(&self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumer
                | CloseReason::SlowConsumerWriteDeadline
                | CloseReason::WriteError
                | CloseReason::ReadError
        )
    }

    /// The reason as `/connz?state=closed` words it in nats-server.
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::SlowConsumer => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolError => "Protocol Violation",
            CloseReason::AuthTimeout => "Authentication Timeout",
            CloseReason::AuthViolation => "Authentication Failure",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::LameDuck => "Lame Duck Mode",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::MaxConnections => "Maximum Connections Exceeded",
            CloseReason::MaxPayload => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLine => "Maximum Control Line Exceeded",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
