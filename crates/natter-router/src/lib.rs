//! The Natter routing engine: accounts, sessions, and publish -> match -> deliver.
//!
//! No sockets here. A [`Router`] holds accounts (each with its own subscription index)
//! and sessions. A socket server [`register`](Router::register)s a [`Client`] per
//! connection, feeds it the parsed operations inline, and drains its [`Outbound`] buffer
//! of encoded `MSG` / `HMSG` frames. Applications and tests use in-process sessions
//! ([`Router::connect`]) that go through the same routing code:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use natter_router::{LocalOptions, Router, RouterOptions};
//!
//! let router = Router::new(RouterOptions::default());
//! let client = router.connect(LocalOptions::default());
//! let mut sub = client.subscribe("greet.*").unwrap();
//! client.publish("greet.joe", "hello").unwrap();
//! assert_eq!(&sub.next().await.unwrap().payload[..], b"hello");
//! # }
//! ```
//!
//! Routing follows nats-server: every plain subscriber gets the message, one member of
//! each queue group gets it (chosen at random), `echo: false` sessions do not get their
//! own messages, `UNSUB sid max` ends a subscription after `max` deliveries, header
//! blocks are stripped for sessions that did not ask for headers, a request that reaches
//! nobody gets a 503 no-responders status, and a session whose unsent bytes pass
//! `max_pending` is closed as a slow consumer. Past half of `max_pending` a session is
//! stalled: the publishers that fed it wait a bounded moment for it to catch up
//! ([`Client::stall_wait`]), as nats-server holds back a fast producer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
mod client;
mod error;
mod interest;
mod local;
mod matchcache;
mod options;
mod outbound;
mod rng;
mod router;
mod stall;
mod stats;
mod sub;

pub use account::{Account, Interest, GLOBAL_ACCOUNT};
pub use client::{Client, ClientInfo, ClientKind, Ingest};
pub use error::{CloseReason, RouterError};
pub use interest::{InterestEvent, InterestKind};
pub use local::{LocalClient, LocalOptions, Message, RequestError, Subscription};
pub use options::RouterOptions;
pub use outbound::Outbound;
pub use router::Router;
pub use stats::{ClientStats, RouterStats, SubscriptionInfo};
