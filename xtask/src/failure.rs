//! The one error type of xtask: which step failed and what the user can do about it.

use std::fmt;

/// A step that did not pass, or a command line xtask could not understand.
#[derive(Debug)]
pub struct Failure {
    step: String,
    detail: String,
    usage: bool,
}

impl Failure {
    /// `step` names what was being done (shown first, so a CI log reads it at a glance).
    pub fn new(step: impl Into<String>, detail: impl Into<String>) -> Self {
        Failure {
            step: step.into(),
            detail: detail.into(),
            usage: false,
        }
    }

    /// The command line itself was wrong; the help text is printed after it.
    pub fn usage(detail: impl Into<String>) -> Self {
        Failure {
            step: "usage".into(),
            detail: detail.into(),
            usage: true,
        }
    }

    pub fn is_usage(&self) -> bool {
        self.usage
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.usage {
            write!(f, "{}", self.detail)
        } else {
            write!(f, "FAILED at step `{}`: {}", self.step, self.detail)
        }
    }
}
