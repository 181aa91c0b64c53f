//! The command line: nats-server's flags in Go's syntax, and their precedence over the file.
//!
//! Flag names, aliases and Go's parsing rules were checked against nats-server v2.9.10
//! (`nats-server -h`, and e.g. `nats-server --max_payload=1` -> "flag provided but not
//! defined").

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use natter_server::config::{self, Action, ErrorKind, Loaded, SignalCommand, SignalTarget};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/config/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn load(args: &[&str]) -> Loaded {
    config::load(args.iter().map(OsString::from)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn load_err(args: &[&str]) -> config::ConfigError {
    match config::load(args.iter().map(OsString::from)) {
        Ok(l) => panic!("{args:?} was accepted: {l:?}"),
        Err(e) => e,
    }
}

#[test]
fn no_arguments_runs_with_defaults() {
    let l = load(&[]);
    assert_eq!(l.action, Action::Run);
    assert_eq!(l.options, config::Options::default());
    assert!(l.warnings.is_empty());
}

#[test]
fn port_in_every_go_form() {
    for args in [
        &["-port", "4333"][..],
        &["-port=4333"],
        &["--port=4333"],
        &["--port", "4333"],
        &["-p", "4333"],
        &["-p=4333"],
        &["--p=4333"],
    ] {
        assert_eq!(load(args).options.port, 4333, "{args:?}");
    }
    assert_eq!(load(&["-p", "-1"]).options.port, -1);
    assert_eq!(load(&["--port=-1"]).options.port, -1);
}

#[test]
fn value_flags_and_aliases() {
    let l = load(&[
        "-a",
        "127.0.0.1",
        "-n",
        "srv1",
        "-m",
        "8222",
        "-l",
        "/tmp/n.log",
        "-P",
        "/tmp/n.pid",
        "--ports_file_dir",
        "/tmp",
        "--client_advertise=ex.com:4222",
        "--max_traced_msg_len=64",
    ]);
    let o = &l.options;
    assert_eq!(o.host, "127.0.0.1");
    assert_eq!(o.http_host, "127.0.0.1");
    assert_eq!(o.server_name.as_deref(), Some("srv1"));
    assert_eq!(o.http_port, Some(8222));
    assert_eq!(o.log_file.as_deref(), Some(Path::new("/tmp/n.log")));
    assert_eq!(o.pid_file.as_deref(), Some(Path::new("/tmp/n.pid")));
    assert_eq!(o.ports_file_dir.as_deref(), Some(Path::new("/tmp")));
    assert_eq!(o.client_advertise.as_deref(), Some("ex.com:4222"));
    assert_eq!(o.max_traced_msg_len, 64);
    for args in [
        &["--addr=::1"][..],
        &["-net", "::1"],
        &["--net", "::1"],
        &["-a=::1"],
    ] {
        assert_eq!(load(args).options.host, "::1", "{args:?}");
    }
    for args in [
        &["--name=x"][..],
        &["-server_name", "x"],
        &["--server_name=x"],
        &["-n", "x"],
    ] {
        assert_eq!(
            load(args).options.server_name.as_deref(),
            Some("x"),
            "{args:?}"
        );
    }
    assert_eq!(load(&["-http_port", "-1"]).options.http_port, Some(-1));
}

#[test]
fn logging_bundles() {
    let o = load(&["-D"]).options;
    assert!(o.debug && !o.trace);
    let o = load(&["-V"]).options;
    assert!(o.trace && !o.debug);
    let o = load(&["-DV"]).options;
    assert!(o.debug && o.trace && !o.trace_verbose);
    let o = load(&["-VV"]).options;
    assert!(o.trace && o.trace_verbose && !o.debug);
    let o = load(&["-DVV"]).options;
    assert!(o.debug && o.trace && o.trace_verbose);
    let o = load(&["--debug", "--trace"]).options;
    assert!(o.debug && o.trace);
    assert!(!load(&["-T=false"]).options.logtime);
    assert!(!load(&["--logtime=false"]).options.logtime);
    assert!(load(&["-T"]).options.logtime);
}

#[test]
fn auth_flags() {
    let a = load(&["--user", "u", "--pass", "p"])
        .options
        .authorization
        .unwrap();
    assert_eq!(
        (a.user.as_deref(), a.password.as_deref()),
        (Some("u"), Some("p"))
    );
    let a = load(&["-auth", "tok"]).options.authorization.unwrap();
    assert_eq!(a.token.as_deref(), Some("tok"));
    let e = load_err(&["--user", "u", "--auth", "tok"]);
    assert!(e.to_string().contains("token"), "{e}");
}

#[test]
fn flags_override_the_file() {
    let dir = std::env::temp_dir().join(format!("natter-config-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("n.conf");
    std::fs::write(
        &conf,
        "port: 4333\ndebug: true\nlogtime: true\nserver_name: from_file\nmax_payload: 2MB\n\
         authorization { user: fileuser, password: filepw }\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();

    let l = load(&["-c", c]);
    assert_eq!(l.options.port, 4333);
    assert_eq!(l.options.config_file.as_deref(), Some(conf.as_path()));

    let l = load(&[
        "-c",
        c,
        "-p",
        "5555",
        "-n",
        "from_flag",
        "-D=false",
        "-T=false",
        "--pass=flagpw",
    ]);
    let o = &l.options;
    assert_eq!(o.port, 5555);
    assert_eq!(o.server_name.as_deref(), Some("from_flag"));
    assert!(
        !o.debug,
        "an explicit -D=false beats the file's debug: true"
    );
    assert!(!o.logtime);
    assert_eq!(
        o.max_payload,
        2 << 20,
        "the file's value stays where no flag is given"
    );
    let a = o.authorization.as_ref().unwrap();
    assert_eq!(
        (a.user.as_deref(), a.password.as_deref()),
        (Some("fileuser"), Some("flagpw"))
    );

    // Order does not matter: the file is read, then every flag applied.
    assert_eq!(load(&["-p", "5555", "--config", c]).options.port, 5555);
    // A zero port flag is "not given", as nats-server's flag merge treats it.
    assert_eq!(load(&["-c", c, "-p", "0"]).options.port, 4333);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unimplemented_features_are_noticed() {
    let l = load(&[
        "-js",
        "-sd=/tmp/js",
        "--cluster",
        "nats://127.0.0.1:6222",
        "--routes=nats://a:1",
        "--cluster_name",
        "c",
    ]);
    assert_eq!(l.action, Action::Run);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.notices.len(), 5, "{:?}", l.notices);
    assert!(l.notices[0].contains("-js") && l.notices[0].contains("JetStream"));
    assert!(l.notices[1].contains("-sd"));
    assert!(l.notices[2].contains("-cluster") && l.notices[2].contains("clustering"));
    // The value of a warned flag is consumed, not taken for a command.
    let l = load(&["--store_dir", "/tmp/js", "-p", "4333"]);
    assert_eq!(l.options.port, 4333);
}

#[test]
fn nats_flags_natter_lacks_are_named() {
    for (args, name) in [
        (&["-ms", "8443"][..], "-ms"),
        (&["--https_port=8443"], "-https_port"),
        (&["--tls"], "-tls"),
        (&["--tlscert", "c.pem"], "-tlscert"),
        (&["-s"], "-s"),
        (&["-r", "udp://localhost:514"], "-r"),
        (&["--profile=6060"], "-profile"),
        (&["--log_size_limit=1000"], "-log_size_limit"),
    ] {
        let e = load_err(args);
        assert_eq!(e.kind(), ErrorKind::Flag);
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("flag {name} is not supported")),
            "{args:?}: {msg}"
        );
    }
}

#[test]
fn unknown_and_malformed_flags() {
    // Unknown to nats-server as well: clap's error.
    let e = load_err(&["--max_payload=1"]);
    assert_eq!(e.kind(), ErrorKind::Flag);
    assert!(e.to_string().contains("--max_payload"), "{e}");
    let e = load_err(&["-bogus"]);
    assert!(e.to_string().contains("--bogus"), "{e}");
    let e = load_err(&["-p", "abc"]);
    assert!(e.to_string().contains("abc"), "{e}");
    let e = load_err(&["-p"]);
    assert!(e.to_string().contains("flag needs an argument: -p"), "{e}");
    let e = load_err(&["-T=maybe"]);
    assert!(e.to_string().contains("invalid boolean value"), "{e}");
    // A boolean flag takes no separate value: Go then stops at "false" as a command.
    let e = load_err(&["-D", "false"]);
    assert!(
        e.to_string().contains("unrecognized command: \"false\""),
        "{e}"
    );
}

#[test]
fn actions() {
    assert_eq!(load(&["-v"]).action, Action::Version);
    assert_eq!(load(&["--version"]).action, Action::Version);
    assert_eq!(load(&["version"]).action, Action::Version);
    for args in [&["-h"][..], &["--help"], &["help"]] {
        let Action::Help(text) = load(args).action else {
            panic!("{args:?}")
        };
        assert!(
            text.contains("--port") && text.contains("--config"),
            "{text}"
        );
    }
    assert_eq!(
        load(&["--signal", "ldm=1234"]).action,
        Action::Signal {
            command: SignalCommand::LameDuck,
            pid: Some(SignalTarget::Pid(1234))
        }
    );
    assert_eq!(
        load(&["-sl", "reload=/run/natter.pid"]).action,
        Action::Signal {
            command: SignalCommand::Reload,
            pid: Some(SignalTarget::PidFile("/run/natter.pid".into()))
        }
    );
    assert_eq!(
        load(&["-sl=quit"]).action,
        Action::Signal {
            command: SignalCommand::Quit,
            pid: None
        }
    );
    assert!(load_err(&["--signal", "explode"])
        .to_string()
        .contains("unknown signal"));
}

#[test]
fn test_config_flag() {
    let l = load(&["-c", &fixture("main.conf"), "-t"]);
    assert_eq!(l.action, Action::TestConfig);
    assert_eq!(l.options.ping_interval, Duration::from_secs(30));
    // nats-server's message when -t has no file.
    let e = load_err(&["-t"]);
    assert!(e.to_string().contains("must specify [-c, --config]"), "{e}");
    // -t reports file errors like a normal start.
    let e = load_err(&["-t", "-c", &fixture("broken.conf")]);
    assert!(e.to_string().contains("broken.conf:2:15"), "{e}");
    let e = load_err(&["-c", &fixture("tls.conf"), "-t"]);
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = load_err(&["-c", "/nonexistent/natter.conf"]);
    assert_eq!(e.kind(), ErrorKind::Io);
}
