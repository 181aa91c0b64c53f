//! Configuration: nats-server's config file syntax and command-line flags, read into
//! [`Options`].
//!
//! ```
//! use natter_server::config;
//!
//! let (options, warnings) = config::parse_str("port: 4333\nmax_payload: 2MB", "inline").unwrap();
//! assert_eq!((options.port, options.max_payload), (4333, 2 * 1024 * 1024));
//! assert!(warnings.is_empty());
//! ```
//!
//! The layers: `lexer` and `parser` turn text into a [`value::Map`] tree that keeps every
//! position; `from_tree` gives the keys their meaning; `flags` reads the command line, whose
//! settings then override the file's, as in nats-server.

mod duration;
mod error;
mod flags;
mod from_tree;
mod lexer;
mod options;
mod parser;
pub mod value;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use duration::{format_go_duration, parse_go_duration};
pub use error::{ConfigError, Diagnostic, ErrorKind, Location};
pub use options::{
    Authorization, Options, ReloadPlan, User, DEFAULT_PORT, DEFAULT_PROTOCOL_VERSION,
};

/// What the command line asks the process to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the server.
    Run,
    /// Print the version and exit (`-v`, `--version`, `version`).
    Version,
    /// Print this help text and exit (`-h`, `--help`, `help`).
    Help(String),
    /// The configuration file was read without error: report it valid and exit (`-t`).
    /// Warnings are in [`Loaded::warnings`]; nats-server counts them as errors under `-t`.
    /// [`Loaded::notices`] (settings Natter ignores) are shown but do not fail the check.
    TestConfig,
    /// Send a signal to a running server and exit (`--signal ldm=PID`).
    Signal {
        /// What to ask for.
        command: SignalCommand,
        /// Which process; `None`: find the running natter-server.
        pid: Option<SignalTarget>,
    },
}

/// The commands `--signal` knows (nats-server's set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalCommand {
    /// Kill the process at once (`stop`): SIGKILL, as nats-server sends, which cannot be
    /// caught, so clients are dropped without a goodbye and no file is cleaned up.
    Stop,
    /// Shut down (`quit`): SIGINT; the server closes its clients and exits.
    Quit,
    /// Shut down (`term`): SIGTERM, handled like SIGINT (what a service manager sends).
    Term,
    /// Reopen the log file (SIGUSR1; `reopen`).
    Reopen,
    /// Reload the configuration (SIGHUP; `reload`).
    Reload,
    /// Enter lame duck mode (SIGUSR2; `ldm`).
    LameDuck,
}

impl SignalCommand {
    /// The word used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalCommand::Stop => "stop",
            SignalCommand::Quit => "quit",
            SignalCommand::Term => "term",
            SignalCommand::Reopen => "reopen",
            SignalCommand::Reload => "reload",
            SignalCommand::LameDuck => "ldm",
        }
    }
}

/// The process a signal goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalTarget {
    /// A process id.
    Pid(u32),
    /// A file holding the process id (as written by `-P`).
    PidFile(PathBuf),
}

/// The result of reading the command line and the configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The settings: defaults, then the file, then the flags.
    pub options: Options,
    /// What nats-server itself warns about, such as old-style values (`write_deadline: 10`),
    /// each naming its file and line. Under `-t`, nats-server fails on these.
    pub warnings: Vec<String>,
    /// Settings and flags nats-server accepts and Natter ignores (not implemented yet:
    /// clustering, JetStream...), each naming its file and line or its flag. Never fatal.
    pub notices: Vec<String>,
    /// What to do.
    pub action: Action,
}

/// Reads the command line (without the program name) and the configuration file it names.
///
/// Help and version requests and `--signal` return without reading the file.
pub fn load(args: impl IntoIterator<Item = OsString>) -> Result<Loaded, ConfigError> {
    let args = flags::to_strings(args)?;
    let normalized = flags::normalize(&args)?;
    let mut warnings = Vec::new();
    let mut notices = normalized.notices;
    let values = flags::parse(&normalized.args)?;

    let mut action = None;
    if values.help {
        action = Some(Action::Help(help_text()));
    } else if values.version {
        action = Some(Action::Version);
    } else if let Some(first) = normalized.positional.first() {
        // nats-server's only commands.
        action = Some(match first.as_str() {
            "version" => Action::Version,
            "help" => Action::Help(help_text()),
            other => {
                return Err(ConfigError::flag(format!(
                    "unrecognized command: \"{other}\""
                )))
            }
        });
    }
    if let Some(action) = action {
        return Ok(Loaded {
            options: Options::default(),
            warnings,
            notices,
            action,
        });
    }

    if let Some(signal) = &values.signal {
        let (command, pid) = parse_signal(signal)?;
        let mut options = Options::default();
        apply_flags(&values, &mut options);
        return Ok(Loaded {
            options,
            warnings,
            notices,
            action: Action::Signal { command, pid },
        });
    }

    if values.test && values.config.is_none() {
        return Err(ConfigError::flag(
            "must specify [-c, --config] option to check configuration file syntax",
        ));
    }

    let mut options = Options::default();
    if let Some(path) = &values.config {
        let tree = parser::parse_path(path, &parser::process_env)?;
        from_tree::apply_tree(&tree, &mut options, &mut warnings, &mut notices)?;
        options.config_file = Some(path.clone());
    }
    apply_flags(&values, &mut options);
    from_tree::validate(&options)?;

    Ok(Loaded {
        options,
        warnings,
        notices,
        action: if values.test {
            Action::TestConfig
        } else {
            Action::Run
        },
    })
}

/// The `--help` text.
pub fn help_text() -> String {
    flags::command().render_help().to_string()
}

/// A configuration read into options, with what was said about it short of an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The settings: defaults, then the file's.
    pub options: Options,
    /// What nats-server itself warns about (see [`Loaded::warnings`]).
    pub warnings: Vec<String>,
    /// Settings nats-server accepts and Natter ignores (see [`Loaded::notices`]).
    pub notices: Vec<String>,
}

/// Reads a configuration file into options (defaults for what it does not set), warnings
/// and notices. `include`s resolve against the file's directory.
pub fn read_file(path: impl AsRef<Path>) -> Result<Parsed, ConfigError> {
    let path = path.as_ref();
    let tree = parse_tree_file(path)?;
    let mut parsed = apply(&tree)?;
    parsed.options.config_file = Some(path.to_path_buf());
    Ok(parsed)
}

/// Reads configuration text; `origin` names it in messages, and `include`s resolve against
/// the current directory.
pub fn read_str(text: &str, origin: &str) -> Result<Parsed, ConfigError> {
    apply(&parse_tree(text, origin)?)
}

/// [`read_file`], keeping the options and the warnings (not the notices).
pub fn parse_file(path: impl AsRef<Path>) -> Result<(Options, Vec<String>), ConfigError> {
    read_file(path).map(|p| (p.options, p.warnings))
}

/// [`read_str`], keeping the options and the warnings (not the notices).
pub fn parse_str(text: &str, origin: &str) -> Result<(Options, Vec<String>), ConfigError> {
    read_str(text, origin).map(|p| (p.options, p.warnings))
}

fn apply(tree: &value::Map) -> Result<Parsed, ConfigError> {
    let mut parsed = Parsed {
        options: Options::default(),
        warnings: Vec::new(),
        notices: Vec::new(),
    };
    from_tree::apply_tree(
        tree,
        &mut parsed.options,
        &mut parsed.warnings,
        &mut parsed.notices,
    )?;
    Ok(parsed)
}

/// Parses configuration text into its value tree only (syntax, includes, variables).
pub fn parse_tree(text: &str, origin: &str) -> Result<value::Map, ConfigError> {
    parser::parse_text(text, origin, Path::new(""), &parser::process_env)
}

/// Parses a configuration file into its value tree only.
pub fn parse_tree_file(path: impl AsRef<Path>) -> Result<value::Map, ConfigError> {
    parser::parse_path(path.as_ref(), &parser::process_env)
}

fn parse_signal(s: &str) -> Result<(SignalCommand, Option<SignalTarget>), ConfigError> {
    let (cmd, pid) = match s.split_once('=') {
        Some((c, p)) => (c, Some(p)),
        None => (s, None),
    };
    let command = match cmd {
        "stop" => SignalCommand::Stop,
        "quit" => SignalCommand::Quit,
        "term" => SignalCommand::Term,
        "reopen" => SignalCommand::Reopen,
        "reload" => SignalCommand::Reload,
        "ldm" => SignalCommand::LameDuck,
        other => {
            return Err(ConfigError::flag(format!(
                "unknown signal \"{other}\" (expected ldm, stop, quit, term, reopen or reload)"
            )))
        }
    };
    let pid = match pid {
        None | Some("") => None,
        Some(p) => Some(match p.parse::<u32>() {
            Ok(n) => SignalTarget::Pid(n),
            Err(_) => SignalTarget::PidFile(PathBuf::from(p)),
        }),
    };
    Ok((command, pid))
}

/// Flags override the file; a flag given as `=false` overrides too. Zero ports and empty
/// strings count as "not given", as nats-server's flag merge does.
fn apply_flags(f: &flags::FlagValues, o: &mut Options) {
    if let Some(h) = &f.host {
        if o.http_host == o.host {
            o.http_host = h.clone();
        }
        o.host = h.clone();
    }
    if let Some(p) = f.port.filter(|p| *p != 0) {
        o.port = p;
    }
    if let Some(n) = &f.server_name {
        o.server_name = Some(n.clone());
    }
    if let Some(a) = &f.client_advertise {
        o.client_advertise = Some(a.clone());
    }
    if let Some(p) = f.http_port.filter(|p| *p != 0) {
        o.http_port = Some(p);
    }
    if let Some(p) = &f.pid_file {
        o.pid_file = Some(p.clone());
    }
    if let Some(d) = &f.ports_file_dir {
        o.ports_file_dir = Some(d.clone());
    }
    if let Some(l) = &f.log_file {
        o.log_file = Some(l.clone());
    }
    if let Some(v) = f.logtime {
        o.logtime = v;
    }
    if let Some(v) = f.debug {
        o.debug = v;
    }
    if let Some(v) = f.trace {
        o.trace = v;
    }
    if let Some(v) = f.trace_verbose {
        o.trace_verbose = v;
        if v {
            o.trace = true;
        }
    }
    if let Some(n) = f.max_traced_msg_len {
        o.max_traced_msg_len = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if f.user.is_some() || f.pass.is_some() || f.auth.is_some() {
        let auth = o.authorization.get_or_insert_with(Authorization::default);
        if let Some(u) = &f.user {
            auth.user = Some(u.clone());
        }
        if let Some(p) = &f.pass {
            auth.password = Some(p.clone());
        }
        if let Some(t) = &f.auth {
            auth.token = Some(t.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        assert_eq!(
            parse_signal("ldm=123").unwrap(),
            (SignalCommand::LameDuck, Some(SignalTarget::Pid(123)))
        );
        assert_eq!(
            parse_signal("reload").unwrap(),
            (SignalCommand::Reload, None)
        );
        assert_eq!(
            parse_signal("stop=/var/run/n.pid").unwrap(),
            (
                SignalCommand::Stop,
                Some(SignalTarget::PidFile("/var/run/n.pid".into()))
            )
        );
        assert!(parse_signal("explode").is_err());
    }
}
