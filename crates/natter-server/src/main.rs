//! The `natter-server` binary: flags and config file in, a running server out, until a
//! signal stops it.

use std::ffi::OsString;
use std::process::ExitCode;

use natter_server::config::{self, Action, Options};
use natter_server::logging::{self, LogSettings};
use natter_server::{signals, Server};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let loaded = match config::load(args.iter().skip(1).cloned()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("natter-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match loaded.action {
        Action::Run => {
            let mut remarks = loaded.warnings;
            remarks.extend(loaded.notices);
            run(loaded.options, remarks, args)
        }
        Action::Version => {
            println!("natter-server: v{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Action::Help(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Action::TestConfig => {
            let file = loaded.options.config_file.unwrap_or_default();
            // Settings nats-server accepts but Natter ignores are no reason to fail a
            // configuration nats-server's -t passes: shown, not counted.
            for n in &loaded.notices {
                eprintln!("natter-server: notice: {n}");
            }
            // As with nats-server -t, a warning fails the check.
            if loaded.warnings.is_empty() {
                println!(
                    "natter-server: configuration file {} is valid",
                    file.display()
                );
                ExitCode::SUCCESS
            } else {
                for w in &loaded.warnings {
                    eprintln!("natter-server: {w}");
                }
                ExitCode::FAILURE
            }
        }
        Action::Signal { command, pid } => match signals::send(command, pid.as_ref()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("natter-server: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `remarks`: warnings and notices, logged once the log is set up.
fn run(opts: Options, remarks: Vec<String>, args: Vec<OsString>) -> ExitCode {
    let log = match logging::init(&LogSettings {
        debug: opts.debug,
        trace: opts.trace || opts.trace_verbose,
        logtime: opts.logtime,
        file: opts.log_file.clone(),
        no_log: opts.no_log,
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("natter-server: cannot open the log: {e}");
            return ExitCode::FAILURE;
        }
    };
    for r in &remarks {
        tracing::warn!("{r}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("natter-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let handle = match Server::builder().options(opts).start().await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("natter-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        match signals::run(handle, args, Some(log)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("natter-server: cannot install signal handlers: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
