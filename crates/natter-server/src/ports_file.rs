//! The ports file test harnesses read to learn the ports a server picked (`-1` / 0).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The name stem when the program name is unknown.
const BINARY: &str = "natter-server";

/// The base name of the program as it was invoked, as nats-server names its ports file:
/// harnesses that install or symlink the binary as `nats-server` look for
/// `nats-server_<pid>.ports`.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| BINARY.to_string())
}

/// Writes `<dir>/<program>_<pid>.ports` and returns its path. `monitoring` is the
/// monitoring listener's configured host and bound address, when monitoring is on.
pub(crate) fn write(
    dir: &Path,
    host: &str,
    addr: SocketAddr,
    monitoring: Option<(&str, SocketAddr)>,
) -> io::Result<PathBuf> {
    let path = dir.join(format!("{}_{}.ports", program_name(), std::process::id()));
    std::fs::write(&path, contents(host, addr, monitoring))?;
    Ok(path)
}

/// `{"nats":["nats://HOST:PORT"],"monitoring":["http://HOST:PORT"]}` with the field names
/// nats-server uses.
fn contents(host: &str, addr: SocketAddr, monitoring: Option<(&str, SocketAddr)>) -> String {
    let url = |scheme: &str, host: &str, addr: SocketAddr| {
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Ok(ip) => ip,
            Err(_) => addr.ip(),
        };
        format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
    };
    let mut doc = serde_json::json!({ "nats": [url("nats", host, addr)] });
    if let Some((h, a)) = monitoring {
        doc["monitoring"] = serde_json::json!([url("http", h, a)]);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_host_is_reported_as_loopback() {
        let addr: SocketAddr = "0.0.0.0:4567".parse().unwrap();
        assert_eq!(
            contents("0.0.0.0", addr, None),
            r#"{"nats":["nats://127.0.0.1:4567"]}"#
        );
        let addr: SocketAddr = "[::1]:4567".parse().unwrap();
        assert_eq!(
            contents("::1", addr, None),
            r#"{"nats":["nats://[::1]:4567"]}"#
        );
    }

    #[test]
    fn monitoring_url_is_listed_as_nats_server_does() {
        let addr: SocketAddr = "127.0.0.1:4567".parse().unwrap();
        let mon: SocketAddr = "0.0.0.0:8222".parse().unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&contents("127.0.0.1", addr, Some(("0.0.0.0", mon)))).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "nats": ["nats://127.0.0.1:4567"],
                "monitoring": ["http://127.0.0.1:8222"],
            })
        );
    }
}
