//! The NATS wire protocol as Natter speaks it: an incremental, zero-copy parser and an
//! encoder for the client protocol (both directions) and the cluster route protocol.
//! No I/O: bytes in, operations out, and back.
//!
//! Parsers take the connection's read buffer (`BytesMut`), consume complete operations
//! from its front and leave partial ones, so a stream cut anywhere decodes the same.
//! Subjects, sids and payloads come out as `Bytes` sliced from that buffer, never copied.
//! Errors map in one place ([`ProtoError`]) to the exact `-ERR` text nats-server sends.
//!
//! ```
//! use bytes::BytesMut;
//! use natter_proto::{ClientOp, ClientParser, Limits};
//!
//! let mut parser = ClientParser::new(Limits::default());
//! let mut buf = BytesMut::from(&b"PUB greet.joe 5\r\nhello\r\nPING\r\n"[..]);
//! let Some(ClientOp::Pub { subject, payload, .. }) = parser.decode(&mut buf).unwrap() else { panic!() };
//! assert_eq!((&subject[..], &payload[..]), (&b"greet.joe"[..], &b"hello"[..]));
//! assert_eq!(parser.decode(&mut buf).unwrap(), Some(ClientOp::Ping));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod connect;
pub mod encode;
mod error;
mod headers;
mod info;
mod limits;
mod route;
mod scan;
mod server_op;

pub use client::{ClientOp, ClientOpRef, ClientParser, PubRef};
pub use connect::Connect;
pub use error::ProtoError;
pub use headers::{HeaderMap, NO_RESPONDERS_HEADER};
pub use info::Info;
pub use limits::Limits;
pub use route::{RouteConnect, RouteOp, RouteParser};
pub use server_op::{ServerOp, ServerParser};
