//! Natter server: a NATS-compatible message broker you can run as the `natter-server`
//! binary or embed in a Rust program.
//!
//! Any NATS client connects to it unchanged. Port 0 picks a free port, so tests can run
//! several servers in one process:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//!
//! let server = natter_server::Server::builder().port(0).start().await?;
//! let client = async_nats::connect(server.client_url()).await?;
//! let mut sub = client.subscribe("greet.*").await?;
//! client.publish("greet.joe", "hello".into()).await?;
//! assert_eq!(sub.next().await.unwrap().payload, "hello");
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The pieces: [`config`] turns flags and a nats-server style config file into [`Options`];
//! [`Server::builder`] binds the listener and returns a [`ServerHandle`]; every connection
//! gets a reader task that parses and routes inline through [`natter_router`] and a writer
//! task that flushes the outbound buffer.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
mod connection;
mod error;
mod info;
mod lame_duck;
pub mod logging;
mod monitor;
mod ports_file;
mod server;
pub mod signals;

pub use config::Options;
pub use error::Error;
pub use server::{Server, ServerBuilder, ServerHandle};
