//! The one error type of this crate.

use std::fmt;

/// Why a subscription was refused by [`Sublist::insert`](crate::Sublist::insert) or
/// [`Sublist::remove`](crate::Sublist::remove).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SublistError {
    /// The subject is not a valid subscription subject: it is empty, has an empty token or
    /// whitespace, or has a `>` that is not the last token. nats-server answers this with
    /// `-ERR 'Invalid Subject'`.
    InvalidSubject,
    /// The queue group name is empty or contains whitespace.
    InvalidQueue,
}

impl fmt::Display for SublistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SublistError::InvalidSubject => "invalid subject",
            SublistError::InvalidQueue => "invalid queue group name",
        })
    }
}

impl std::error::Error for SublistError {}
