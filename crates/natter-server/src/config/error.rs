//! Configuration errors: every one names where it happened when there is a place to name.

use std::fmt;
use std::sync::Arc;

/// A place in a configuration file (or in a command line, an environment variable...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file as it was named (by `-c`, by an `include`), or a description such as
    /// `environment variable $AUTH`.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What sort of problem a [`Diagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid configuration syntax.
    Syntax,
    /// A file (the config or an include) could not be read.
    Io,
    /// A key is known but its value has the wrong type or is out of range.
    InvalidValue,
    /// A key nats-server itself does not know (nats-server refuses these too).
    UnknownField,
    /// The configuration asks for something Natter cannot guarantee yet (TLS, permissions,
    /// nkeys/JWT, accounts, bcrypt passwords...), so starting would be unsafe.
    Unsupported,
    /// A command-line problem.
    Flag,
    /// The file goes past a bound that keeps reading it safe: nesting depth, or how much
    /// variable references and includes expand it.
    Limit,
}

/// One problem, with its place when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What sort of problem.
    pub kind: ErrorKind,
    /// Where (absent for command-line problems and unreadable top-level files).
    pub location: Option<Location>,
    /// The message, without the location prefix.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a configuration (file or command line) was refused.
///
/// Holds every problem found, like nats-server, which reports all errors of a file at once.
/// `Display` prints one problem per line as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    pub(crate) fn new(
        kind: ErrorKind,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            diagnostics: vec![Diagnostic {
                kind,
                location,
                message: message.into(),
            }],
        }
    }

    pub(crate) fn at(kind: ErrorKind, location: &Location, message: impl Into<String>) -> Self {
        Self::new(kind, Some(location.clone()), message)
    }

    pub(crate) fn flag(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Flag, None, message)
    }

    pub(crate) fn from_diagnostics(diagnostics: Vec<Diagnostic>) -> Self {
        debug_assert!(!diagnostics.is_empty());
        ConfigError { diagnostics }
    }

    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// Kind of the first problem.
    pub fn kind(&self) -> ErrorKind {
        self.diagnostics[0].kind
    }

    /// Place of the first problem.
    pub fn location(&self) -> Option<&Location> {
        self.diagnostics[0].location.as_ref()
    }

    /// Message of the first problem, without its location.
    pub fn message(&self) -> &str {
        &self.diagnostics[0].message
    }

    /// Every problem found, in file order where there is one.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
