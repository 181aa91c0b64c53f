//! `natter`: a command-line client for Natter and any other NATS server.
//!
//! ```text
//! natter sub 'orders.>'                      # print messages as they arrive
//! natter pub orders.new '{"id":1}'           # publish one message
//! natter reply time.now 'it is {{Time}}'     # answer requests
//! natter req time.now ''                     # ask and print the answer
//! natter bench load --pub 1 --sub 2 --msgs 1000000 --size 128
//! natter top --monitor http://127.0.0.1:8222
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

mod bench;
mod common;
mod http;
mod pubsub;
mod term;
mod top;
mod wire;

use common::{Failure, Global, Outcome};

fn global_args() -> [Arg; 5] {
    [
        Arg::new("server")
            .long("server")
            .short('s')
            .global(true)
            .value_name("URL")
            .help("NATS server URL [env: NATS_URL] [default: nats://127.0.0.1:4222]"),
        Arg::new("user")
            .long("user")
            .global(true)
            .value_name("USER")
            .help("Username [env: NATS_USER]"),
        Arg::new("password")
            .long("password")
            .global(true)
            .value_name("PASSWORD")
            .help("Password [env: NATS_PASSWORD]"),
        Arg::new("token")
            .long("token")
            .global(true)
            .value_name("TOKEN")
            .help("Authentication token [env: NATS_TOKEN]"),
        Arg::new("timeout")
            .long("timeout")
            .global(true)
            .value_name("DURATION")
            .help("Time to wait for connecting, replies and benchmark progress (e.g. 2s, 500ms) [default: 5s]"),
    ]
}

fn headers_arg() -> Arg {
    Arg::new("header")
        .long("header")
        .short('H')
        .value_name("KEY:VALUE")
        .action(ArgAction::Append)
        .help("Add a header (repeatable); values may use {{Count}}")
}

fn command() -> Command {
    let publish = Command::new("pub")
        .visible_alias("publish")
        .about("Publish messages")
        .after_help(
            "Examples:\n  natter pub orders.new '{\"id\":1}'\n  natter pub demo 'message {{Count}} at {{Time}}' --count 10 -H source:cli\n  echo hello | natter pub demo\n\nTemplates in the body and header values: {{Count}}, {{Time}}, {{Unix}}, {{UnixNano}}.",
        )
        .arg(Arg::new("subject").required(true).help("Subject to publish to"))
        .arg(Arg::new("body").help("Message body (read from stdin when omitted)"))
        .arg(
            Arg::new("count")
                .long("count")
                .value_name("N")
                .default_value("1")
                .value_parser(value_parser!(u64).range(1..))
                .help("Number of messages to publish"),
        )
        .arg(headers_arg())
        .arg(
            Arg::new("reply")
                .long("reply")
                .value_name("SUBJECT")
                .help("Reply subject to set on the messages"),
        )
        .arg(
            Arg::new("quiet")
                .long("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .help("Print nothing on success"),
        );
    let subscribe = Command::new("sub")
        .visible_alias("subscribe")
        .about("Subscribe and print messages")
        .after_help(
            "Examples:\n  natter sub 'orders.>'\n  natter sub work --queue workers --count 1 --raw",
        )
        .arg(
            Arg::new("subject")
                .required(true)
                .help("Subject to subscribe to (wildcards allowed)"),
        )
        .arg(
            Arg::new("queue")
                .long("queue")
                .value_name("GROUP")
                .help("Join this queue group"),
        )
        .arg(
            Arg::new("count")
                .long("count")
                .value_name("N")
                .value_parser(value_parser!(u64))
                .help("Exit after receiving N messages"),
        )
        .arg(
            Arg::new("raw")
                .long("raw")
                .short('r')
                .action(ArgAction::SetTrue)
                .help("Print only the message bodies"),
        );
    let request = Command::new("req")
        .visible_alias("request")
        .about("Send a request and print the reply")
        .after_help(
            "Examples:\n  natter req time.now ''\n  natter req orders.get '{\"id\":1}' --timeout 2s -H trace:1\n\nExits with status 1 when nobody answers (no responders) or the reply times out.",
        )
        .arg(Arg::new("subject").required(true).help("Subject to send the request to"))
        .arg(Arg::new("body").help("Request body (empty when omitted)"))
        .arg(headers_arg())
        .arg(
            Arg::new("raw")
                .long("raw")
                .short('r')
                .action(ArgAction::SetTrue)
                .help("Print only the reply body"),
        );
    let reply = Command::new("reply")
        .about("Answer requests")
        .after_help(
            "Examples:\n  natter reply time.now 'it is {{Time}}'\n  natter reply echo            # no body: echo each request back\n  natter reply greet 'hello {{Request}}' --count 1\n\nTemplates in the body: {{Count}}, {{Request}} (the request body), {{Time}}, {{Unix}}.",
        )
        .arg(Arg::new("subject").required(true).help("Subject to answer on"))
        .arg(Arg::new("body").help("Reply body; without it, requests are echoed back"))
        .arg(
            Arg::new("queue")
                .long("queue")
                .value_name("GROUP")
                .default_value("NATS-RPLY-22")
                .help("Queue group to join"),
        )
        .arg(
            Arg::new("count")
                .long("count")
                .value_name("N")
                .value_parser(value_parser!(u64))
                .help("Exit after answering N requests"),
        )
        .arg(headers_arg());
    let bench = Command::new("bench")
        .about("Benchmark publish/subscribe or request/reply throughput")
        .after_help(
            "Examples:\n  natter bench load --pub 1 --sub 1 --msgs 1000000 --size 128\n  natter bench load --pub 4 --msgs 4000000 --size 16 --no-progress --csv pub.csv\n  natter bench work --pub 1 --sub 4 --queue q --msgs 1000000\n  natter bench svc --request --pub 1 --sub 2 --msgs 100000 --size 1KB\n\nEach publisher sends MSGS/PUB messages; each subscriber must receive all MSGS,\nor with --queue the group's members must receive MSGS between them.\nWith --request, publishers send requests one at a time to the --sub repliers\n(a queue group) and latency percentiles are reported.\nThe run fails when nothing progresses for --timeout (default 5s).\n\nWith --client wire, publishers write ready-made PUB frames and subscribers count\nMSG frames in their read buffer; a subscriber's clock starts when the publishers\nstart (with --pub 0, at its first read that held messages), not at its first\nmessage. It falls back to async-nats for TLS, several server URLs, or\ncredentials in the URL.\n\nCSV columns: #RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs\n(+ LatencyMinUs,LatencyAvgUs,LatencyP50Us,LatencyP90Us,LatencyP99Us,LatencyP999Us,LatencyMaxUs with --request).",
        )
        .arg(Arg::new("subject").required(true).help("Subject to use"))
        .arg(
            Arg::new("pub")
                .long("pub")
                .value_name("N")
                .default_value("1")
                .value_parser(value_parser!(usize))
                .help("Number of concurrent publishers (requesters with --request)"),
        )
        .arg(
            Arg::new("sub")
                .long("sub")
                .value_name("N")
                .default_value("0")
                .value_parser(value_parser!(usize))
                .help("Number of concurrent subscribers (repliers with --request)"),
        )
        .arg(
            Arg::new("msgs")
                .long("msgs")
                .value_name("N")
                .default_value("100000")
                .value_parser(value_parser!(u64).range(1..=i64::MAX as u64))
                .help("Number of messages to publish"),
        )
        .arg(
            Arg::new("size")
                .long("size")
                .value_name("BYTES")
                .default_value("128")
                .help("Message size (e.g. 16, 128, 1KB)"),
        )
        .arg(
            Arg::new("queue")
                .long("queue")
                .value_name("NAME")
                .help("Subscribers (repliers with --request) join queue group NAME: each message reaches one of them"),
        )
        .arg(
            Arg::new("client")
                .long("client")
                .value_name("KIND")
                .default_value("wire")
                .value_parser(["wire", "async-nats"])
                .help("Clients built on: wire (speaks the protocol itself, so the server, not the client, sets the rate) or async-nats"),
        )
        .arg(
            Arg::new("request")
                .long("request")
                .action(ArgAction::SetTrue)
                .help("Request/reply mode: measure round trips and latency percentiles"),
        )
        .arg(
            Arg::new("csv")
                .long("csv")
                .value_name("FILE")
                .help("Write one row per client to FILE as CSV"),
        )
        .arg(
            Arg::new("no-progress")
                .long("no-progress")
                .action(ArgAction::SetTrue)
                .help("Do not draw the progress bar (it is drawn only when stderr is a terminal)"),
        );
    let top = Command::new("top")
        .about("Live view of a server's load and connections (like nats-top)")
        .after_help(
            "Examples:\n  natter top\n  natter top --monitor http://10.0.0.5:8222 --sort msgs_to --conns 20\n  natter top --once --delay 500ms      # one plain frame, for scripts\n\nKeys, as in nats-top:\n  o       sort by a column: type its name, Enter (Esc cancels)\n  n       how many connections to poll and show: type a number, Enter\n  s       show or hide each connection's subscriptions\n  d       hosts by name (reverse DNS) or by address\n  b       byte figures in plain bytes, or back to K/M/G\n  ? or h  help: the keys and the sort columns\n  q       quit (Ctrl-C and Ctrl-D too)\n\nThe view fits the window: rows that do not fit are counted, long lines are cut\n(not when the output is not a terminal). If a poll fails after the first, the last\nview stays with the error on the bottom line, and the next poll tries again. The\nserver needs monitoring enabled (nats-server -m 8222).",
        )
        .arg(
            Arg::new("monitor")
                .long("monitor")
                .short('m')
                .value_name("URL")
                .default_value("http://127.0.0.1:8222")
                .help("Monitoring endpoint base URL"),
        )
        .arg(
            Arg::new("delay")
                .long("delay")
                .short('d')
                .value_name("DURATION")
                .default_value("1s")
                .help("Refresh interval"),
        )
        .arg(
            Arg::new("sort")
                .long("sort")
                .value_name("FIELD")
                .default_value("cid")
                .value_parser(top::SORT_KEYS)
                .help("Sort connections by this column (the o key changes it)"),
        )
        .arg(
            Arg::new("conns")
                .long("conns")
                .short('n')
                .value_name("N")
                .default_value("1024")
                .value_parser(value_parser!(u64).range(1..))
                .help("Maximum number of connections to show (the n key changes it)"),
        )
        .arg(
            Arg::new("once")
                .long("once")
                .action(ArgAction::SetTrue)
                .help("Print a single frame without escape codes and exit"),
        );
    Command::new("natter")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Command-line client for Natter and any NATS server")
        .after_help(
            "Examples:\n  natter sub demo &\n  natter pub demo hello\n  natter --server nats://user:pass@host:4222 req svc ping",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .args(global_args())
        .subcommands([publish, subscribe, request, reply, bench, top])
}

async fn run(matches: ArgMatches) -> Outcome {
    let g = Global::from_matches(&matches)?;
    match matches.subcommand() {
        Some(("pub", m)) => pubsub::publish(&g, m).await,
        Some(("sub", m)) => pubsub::subscribe(&g, m).await,
        Some(("req", m)) => pubsub::request(&g, m).await,
        Some(("reply", m)) => pubsub::reply(&g, m).await,
        Some(("bench", m)) => bench::run(&g, m).await,
        Some(("top", m)) => top::run(&g, m).await,
        _ => Err(Failure::new("unknown command")),
    }
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("natter: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(matches));
    // Connection tasks may still be winding down; they must not delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("natter: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_definition_is_consistent() {
        super::command().debug_assert();
    }
}
