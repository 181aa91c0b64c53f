//! The command line: nats-server's flags where Natter has the feature, in Go's flag syntax.
//!
//! Go's `flag` package treats `-name` and `--name` alike, takes a value as `-name value` or
//! `-name=value` (a boolean only as `-name` or `-name=false`), and stops at the first
//! argument that is not a flag. Scripts and charts written for nats-server rely on all of it
//! (`-port 4222`, `-js`, `-sd=DIR`, `-DV`), so argv is first rewritten into one canonical
//! form, `--long=value`, which clap then parses and type-checks.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::error::ConfigError;

/// Whether a flag takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Bool,
    Value,
}

/// What Natter does with a nats-server flag.
#[derive(Clone, Copy)]
enum Fate {
    /// Parsed by clap under this id.
    Arg(&'static str),
    /// `-VV`, `-DV`, `-DVV`: several boolean flags at once.
    Bundle(&'static [&'static str]),
    /// Accepted and ignored with this notice.
    Notice(&'static str),
    /// Refused with this reason.
    Refuse(&'static str),
}

struct Flag {
    names: &'static [&'static str],
    takes: Takes,
    fate: Fate,
}

const CLUSTER: &str = "clustering is not implemented yet; the flag is ignored";
const JETSTREAM: &str = "JetStream (persistence) is not implemented yet; the flag is ignored";
const TLS: &str = "TLS is not supported by Natter yet";

/// Every flag nats-server v2.9.10 defines (`nats-server -h` and its flag set).
const FLAGS: &[Flag] = &[
    Flag { names: &["h", "help"], takes: Takes::Bool, fate: Fate::Arg("help") },
    Flag { names: &["v", "version"], takes: Takes::Bool, fate: Fate::Arg("version") },
    Flag { names: &["a", "addr", "net"], takes: Takes::Value, fate: Fate::Arg("addr") },
    Flag { names: &["p", "port"], takes: Takes::Value, fate: Fate::Arg("port") },
    Flag { names: &["n", "name", "server_name"], takes: Takes::Value, fate: Fate::Arg("name") },
    Flag { names: &["client_advertise"], takes: Takes::Value, fate: Fate::Arg("client_advertise") },
    Flag { names: &["D", "debug"], takes: Takes::Bool, fate: Fate::Arg("debug") },
    Flag { names: &["V", "trace"], takes: Takes::Bool, fate: Fate::Arg("trace") },
    Flag { names: &["VV"], takes: Takes::Bool, fate: Fate::Bundle(&["trace", "trace_verbose"]) },
    Flag { names: &["DV"], takes: Takes::Bool, fate: Fate::Bundle(&["debug", "trace"]) },
    Flag {
        names: &["DVV"],
        takes: Takes::Bool,
        fate: Fate::Bundle(&["debug", "trace", "trace_verbose"]),
    },
    Flag { names: &["T", "logtime"], takes: Takes::Bool, fate: Fate::Arg("logtime") },
    Flag { names: &["user"], takes: Takes::Value, fate: Fate::Arg("user") },
    Flag { names: &["pass"], takes: Takes::Value, fate: Fate::Arg("pass") },
    Flag { names: &["auth"], takes: Takes::Value, fate: Fate::Arg("auth") },
    Flag { names: &["m", "http_port"], takes: Takes::Value, fate: Fate::Arg("http_port") },
    Flag {
        names: &["ms", "https_port"],
        takes: Takes::Value,
        fate: Fate::Refuse("HTTPS monitoring is not supported by Natter yet (TLS is not implemented); use -m/--http_port"),
    },
    Flag { names: &["c", "config"], takes: Takes::Value, fate: Fate::Arg("config") },
    Flag { names: &["t"], takes: Takes::Bool, fate: Fate::Arg("test") },
    Flag { names: &["sl", "signal"], takes: Takes::Value, fate: Fate::Arg("signal") },
    Flag { names: &["P", "pid"], takes: Takes::Value, fate: Fate::Arg("pid") },
    Flag { names: &["ports_file_dir"], takes: Takes::Value, fate: Fate::Arg("ports_file_dir") },
    Flag { names: &["l", "log"], takes: Takes::Value, fate: Fate::Arg("log") },
    Flag {
        names: &["max_traced_msg_len"],
        takes: Takes::Value,
        fate: Fate::Arg("max_traced_msg_len"),
    },
    Flag {
        names: &["s", "syslog"],
        takes: Takes::Bool,
        fate: Fate::Refuse("syslog output is not supported by Natter yet; use -l/--log"),
    },
    Flag {
        names: &["r", "remote_syslog"],
        takes: Takes::Value,
        fate: Fate::Refuse("remote syslog is not supported by Natter yet; use -l/--log"),
    },
    Flag {
        names: &["log_size_limit"],
        takes: Takes::Value,
        fate: Fate::Refuse("log file rotation is not supported by Natter yet"),
    },
    Flag {
        names: &["profile"],
        takes: Takes::Value,
        fate: Fate::Refuse("the profiling endpoint is not supported by Natter"),
    },
    Flag { names: &["routes"], takes: Takes::Value, fate: Fate::Notice(CLUSTER) },
    Flag { names: &["cluster", "cluster_listen"], takes: Takes::Value, fate: Fate::Notice(CLUSTER) },
    Flag { names: &["cluster_advertise"], takes: Takes::Value, fate: Fate::Notice(CLUSTER) },
    Flag { names: &["cluster_name"], takes: Takes::Value, fate: Fate::Notice(CLUSTER) },
    Flag { names: &["no_advertise"], takes: Takes::Bool, fate: Fate::Notice(CLUSTER) },
    Flag { names: &["connect_retries"], takes: Takes::Value, fate: Fate::Notice(CLUSTER) },
    Flag { names: &["js", "jetstream"], takes: Takes::Bool, fate: Fate::Notice(JETSTREAM) },
    Flag { names: &["sd", "store_dir"], takes: Takes::Value, fate: Fate::Notice(JETSTREAM) },
    Flag { names: &["tls"], takes: Takes::Bool, fate: Fate::Refuse(TLS) },
    Flag { names: &["tlsverify"], takes: Takes::Bool, fate: Fate::Refuse(TLS) },
    Flag { names: &["tlscert"], takes: Takes::Value, fate: Fate::Refuse(TLS) },
    Flag { names: &["tlskey"], takes: Takes::Value, fate: Fate::Refuse(TLS) },
    Flag { names: &["tlscacert"], takes: Takes::Value, fate: Fate::Refuse(TLS) },
    Flag { names: &["help_tls"], takes: Takes::Bool, fate: Fate::Refuse(TLS) },
];

fn find_flag(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.names.contains(&name))
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// argv rewritten for clap, plus what the rewriting itself found.
pub(crate) struct Normalized {
    pub(crate) args: Vec<String>,
    /// Flags nats-server has and Natter ignores.
    pub(crate) notices: Vec<String>,
    /// Arguments after the flags (Go stops parsing flags at the first non-flag).
    pub(crate) positional: Vec<String>,
}

/// Rewrites Go-style arguments (without the program name) into `--canonical=value`.
pub(crate) fn normalize(args: &[String]) -> Result<Normalized, ConfigError> {
    let mut out = Normalized {
        args: Vec::new(),
        notices: Vec::new(),
        positional: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        let body = match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            Some(b) if !b.is_empty() && !b.starts_with('-') && !b.starts_with('=') => b,
            _ => {
                out.positional.extend(args[i - 1..].iter().cloned());
                break;
            }
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(flag) = find_flag(name) else {
            // Unknown to nats-server too: let clap report it (with its suggestions).
            out.args.push(format!("--{body}"));
            continue;
        };
        let shown = format!("-{name}");
        let value = match flag.takes {
            Takes::Bool => {
                let raw = inline.unwrap_or_else(|| "true".to_string());
                let b = go_bool(&raw).ok_or_else(|| {
                    ConfigError::flag(format!(
                        "invalid boolean value \"{raw}\" for flag {shown} (a boolean flag takes \
                         {shown} or {shown}=false, not a separate value)"
                    ))
                })?;
                b.to_string()
            }
            Takes::Value => match inline {
                Some(v) => v,
                None => {
                    let Some(v) = args.get(i) else {
                        return Err(ConfigError::flag(format!(
                            "flag needs an argument: {shown}"
                        )));
                    };
                    i += 1;
                    v.clone()
                }
            },
        };
        match flag.fate {
            Fate::Arg(id) => out.args.push(format!("--{id}={value}")),
            Fate::Bundle(ids) => {
                // As nats-server: `-DV=false` does not turn anything off.
                if value == "true" {
                    out.args.extend(ids.iter().map(|id| format!("--{id}=true")));
                }
            }
            Fate::Notice(why) => out.notices.push(format!("flag {shown}: {why}")),
            Fate::Refuse(why) => {
                return Err(ConfigError::flag(format!(
                    "flag {shown} is not supported: {why}"
                )))
            }
        }
    }
    Ok(out)
}

fn bool_arg(id: &'static str, short: Option<char>, help: &'static str) -> Arg {
    let arg = Arg::new(id)
        .long(id)
        .help(help)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_name("bool")
        .value_parser(clap::builder::BoolishValueParser::new())
        .hide_possible_values(true)
        .action(ArgAction::Set);
    match short {
        Some(c) => arg.short(c),
        None => arg,
    }
}

fn value_arg(
    id: &'static str,
    short: Option<char>,
    value_name: &'static str,
    help: &'static str,
) -> Arg {
    let arg = Arg::new(id)
        .long(id)
        .help(help)
        .num_args(1)
        .value_name(value_name)
        .allow_hyphen_values(true)
        .action(ArgAction::Set);
    match short {
        Some(c) => arg.short(c),
        None => arg,
    }
}

/// The clap description of the canonical command line (also renders `--help`).
pub(crate) fn command() -> Command {
    Command::new("natter-server")
        .about("Natter: a NATS-compatible message broker")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .override_usage("natter-server [options]")
        .after_help(
            "Flags may be written as nats-server takes them: -port 4222, -port=4222, \
             --port=4222, -p 4222.\nAlso accepted: -VV (verbose trace), -DV, -DVV, -ms/-sl \
             (for --https_port/--signal), and, with a notice that they are ignored, -js/--jetstream, \
             -sd/--store_dir, --routes, --cluster, --cluster_name.",
        )
        .arg(value_arg("addr", Some('a'), "host", "Bind to host address (default: 0.0.0.0); also --net"))
        .arg(value_arg("port", Some('p'), "port", "Use port for clients (default: 4222, -1: a free port)")
            .value_parser(clap::value_parser!(i32)))
        .arg(value_arg("name", Some('n'), "server_name", "Server name (default: the server id); also --server_name"))
        .arg(value_arg("pid", Some('P'), "file", "File to store the PID"))
        .arg(value_arg("http_port", Some('m'), "port", "Use port for http monitoring (-1: a free port)")
            .value_parser(clap::value_parser!(i32)))
        .arg(value_arg("config", Some('c'), "file", "Configuration file"))
        .arg(bool_arg("test", Some('t'), "Test configuration and exit"))
        .arg(value_arg("signal", None, "signal[=pid]", "Send signal to a natter-server process (ldm, stop, quit, term, reopen, reload); pid is a PID or a PID file; also -sl"))
        .arg(value_arg("client_advertise", None, "string", "Client URL to advertise to other servers"))
        .arg(value_arg("ports_file_dir", None, "dir", "Write a ports file in this directory (<executable_name>_<pid>.ports)"))
        .arg(value_arg("log", Some('l'), "file", "File to redirect log output"))
        .arg(bool_arg("logtime", Some('T'), "Timestamp log entries (default: true)"))
        .arg(bool_arg("debug", Some('D'), "Enable debugging output"))
        .arg(bool_arg("trace", Some('V'), "Trace the raw protocol"))
        .arg(bool_arg("trace_verbose", None, "Verbose trace (as -VV)").hide(true))
        .arg(value_arg("max_traced_msg_len", None, "len", "Maximum printable length for traced messages (default: unlimited)")
            .value_parser(clap::value_parser!(u64)))
        .arg(value_arg("user", None, "user", "User required for connections"))
        .arg(value_arg("pass", None, "password", "Password required for connections"))
        .arg(value_arg("auth", None, "token", "Authorization token required for connections"))
        .arg(bool_arg("help", Some('h'), "Show this message"))
        .arg(bool_arg("version", Some('v'), "Show version"))
}

/// The flags' settings, applied over the file's (flags win, as in nats-server).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct FlagValues {
    pub(crate) help: bool,
    pub(crate) version: bool,
    pub(crate) test: bool,
    pub(crate) config: Option<PathBuf>,
    pub(crate) signal: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<i32>,
    pub(crate) server_name: Option<String>,
    pub(crate) client_advertise: Option<String>,
    pub(crate) http_port: Option<i32>,
    pub(crate) pid_file: Option<PathBuf>,
    pub(crate) ports_file_dir: Option<PathBuf>,
    pub(crate) log_file: Option<PathBuf>,
    pub(crate) logtime: Option<bool>,
    pub(crate) debug: Option<bool>,
    pub(crate) trace: Option<bool>,
    pub(crate) trace_verbose: Option<bool>,
    pub(crate) max_traced_msg_len: Option<u64>,
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    pub(crate) auth: Option<String>,
}

fn last<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Option<T> {
    m.get_one::<T>(id).cloned()
}

/// Parses canonical arguments with clap.
pub(crate) fn parse(canonical: &[String]) -> Result<FlagValues, ConfigError> {
    let cmd = command().args_override_self(true);
    let m = cmd
        .try_get_matches_from(
            std::iter::once("natter-server".to_string()).chain(canonical.iter().cloned()),
        )
        .map_err(|e| ConfigError::flag(e.render().to_string().trim_end().to_string()))?;
    let s = |id: &str| last::<String>(&m, id);
    let b = |id: &str| last::<bool>(&m, id);
    Ok(FlagValues {
        help: b("help").unwrap_or(false),
        version: b("version").unwrap_or(false),
        test: b("test").unwrap_or(false),
        config: s("config").filter(|c| !c.is_empty()).map(PathBuf::from),
        signal: s("signal").filter(|c| !c.is_empty()),
        host: s("addr").filter(|c| !c.is_empty()),
        port: last::<i32>(&m, "port"),
        server_name: s("name").filter(|c| !c.is_empty()),
        client_advertise: s("client_advertise").filter(|c| !c.is_empty()),
        http_port: last::<i32>(&m, "http_port"),
        pid_file: s("pid").filter(|c| !c.is_empty()).map(PathBuf::from),
        ports_file_dir: s("ports_file_dir")
            .filter(|c| !c.is_empty())
            .map(PathBuf::from),
        log_file: s("log").filter(|c| !c.is_empty()).map(PathBuf::from),
        logtime: b("logtime"),
        debug: b("debug"),
        trace: b("trace"),
        trace_verbose: b("trace_verbose"),
        max_traced_msg_len: last::<u64>(&m, "max_traced_msg_len"),
        user: s("user").filter(|c| !c.is_empty()),
        pass: s("pass").filter(|c| !c.is_empty()),
        auth: s("auth").filter(|c| !c.is_empty()),
    })
}

/// Converts process arguments (program name excluded) to strings.
pub(crate) fn to_strings(
    args: impl IntoIterator<Item = OsString>,
) -> Result<Vec<String>, ConfigError> {
    args.into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| ConfigError::flag(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        normalize(&args).unwrap().args
    }

    #[test]
    fn go_forms_become_canonical() {
        assert_eq!(norm(&["-port", "4222"]), ["--port=4222"]);
        assert_eq!(norm(&["-port=4222"]), ["--port=4222"]);
        assert_eq!(norm(&["--port=4222"]), ["--port=4222"]);
        assert_eq!(norm(&["--port", "4222"]), ["--port=4222"]);
        assert_eq!(norm(&["-p", "-1"]), ["--port=-1"]);
        assert_eq!(norm(&["-p=4222"]), ["--port=4222"]);
        assert_eq!(norm(&["-DV"]), ["--debug=true", "--trace=true"]);
        assert_eq!(
            norm(&["-DVV"]),
            ["--debug=true", "--trace=true", "--trace_verbose=true"]
        );
        assert_eq!(norm(&["-T=false"]), ["--logtime=false"]);
        assert_eq!(norm(&["-sl", "ldm=12"]), ["--signal=ldm=12"]);
        assert_eq!(norm(&["-net", "::1"]), ["--addr=::1"]);
        assert_eq!(norm(&["-bogus"]), ["--bogus"]);
    }

    #[test]
    fn go_stops_at_the_first_non_flag() {
        let args: Vec<String> = ["-D", "version", "-p", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let n = normalize(&args).unwrap();
        assert_eq!(n.args, ["--debug=true"]);
        assert_eq!(n.positional, ["version", "-p", "1"]);
    }

    #[test]
    fn clap_rejects_bad_values() {
        assert!(parse(&["--port=abc".to_string()]).is_err());
        assert!(parse(&["--bogus".to_string()]).is_err());
        let v = parse(&["--port=-1".to_string(), "--logtime=false".to_string()]).unwrap();
        assert_eq!(v.port, Some(-1));
        assert_eq!(v.logtime, Some(false));
    }

    #[test]
    fn help_renders() {
        let help = command().render_help().to_string();
        assert!(help.contains("--port"), "{help}");
        assert!(help.contains("-p"), "{help}");
    }
}
