//! A NATS subject matcher: subscriptions with `*` and `>` wildcards and queue groups,
//! indexed in a trie and answered through a bounded, exactly invalidated result cache.
//!
//! ```
//! use natter_sublist::Sublist;
//! let subs = Sublist::new();
//! subs.insert(b"orders.*.created", None, "audit")?;
//! subs.insert(b"orders.>", Some(b"workers".as_slice()), "worker-1")?;
//! assert_eq!(subs.matches(b"orders.eu.created").len(), 2);
//! # Ok::<(), natter_sublist::SublistError>(())
//! ```
//!
//! Subjects are bytes: tokens separated by `.`, where a subscription may use `*` for
//! exactly one token and a final `>` for one or more tokens (see [`subject`] for the
//! rules, which are nats-server's). [`Sublist::matches`] returns every matching plain
//! subscription and, per queue group, the matching members; the caller delivers to all
//! plain ones and to one member of each group.
//!
//! Wildcard subscriptions live in a trie after nats-server's `sublist.go`: a level per
//! token position with separate `*` and `>` children. Subscriptions without wildcards live
//! in a table keyed by the whole subject, since only an identical subject matches them. A
//! cache from literal subject to result is updated by every insert or remove for exactly
//! the cached subjects its pattern matches, and a [generation](Sublist::generation)
//! counter serves callers with caches of their own.
//!
//! The crate has no async runtime; its dependencies are `parking_lot` and `hashbrown`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod hash;
mod key;
mod result;
pub mod subject;
mod sublist;
mod trie;

pub use error::SublistError;
pub use result::{Matches, QueueMatch};
pub use sublist::{Sublist, SublistStats, DEFAULT_CACHE_CAPACITY};

/// Compiles and runs the README's example as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
