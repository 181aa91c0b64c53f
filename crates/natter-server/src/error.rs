//! The embedding API's error type.

use std::fmt;
use std::io;

/// Why a server could not start or run.
///
/// Opaque on purpose: callers ask with the `is_*` predicates, so new kinds can be added
/// without breaking them.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    context: String,
    source: Option<io::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bind,
    Io,
    Config,
}

impl Error {
    pub(crate) fn bind(addr: impl fmt::Display, source: io::Error) -> Self {
        Error {
            kind: Kind::Bind,
            context: format!("error listening on {addr}"),
            source: Some(source),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error {
            kind: Kind::Io,
            context: context.into(),
            source: Some(source),
        }
    }

    pub(crate) fn config(context: impl Into<String>) -> Self {
        Error {
            kind: Kind::Config,
            context: context.into(),
            source: None,
        }
    }

    /// The listener could not be bound (port in use, address not available, no permission).
    pub fn is_bind(&self) -> bool {
        self.kind == Kind::Bind
    }

    /// The options were invalid (for example a host that is not an IP address or name).
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }

    /// An I/O error other than binding (pid file, ports file, log file).
    pub fn is_io(&self) -> bool {
        self.kind == Kind::Io
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{}: {}", self.context, e),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
