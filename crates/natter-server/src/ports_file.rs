//! The ports file test harnesses read to learn the ports a server picked (`-1` / 0).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// File name stem harnesses look for: `<binary>_<pid>.ports`.
const BINARY: &str = "natter-server";

/// Writes `<dir>/natter-server_<pid>.ports` and returns its path.
pub(crate) fn write(dir: &Path, host: &str, addr: SocketAddr) -> io::Result<PathBuf> {
    let path = dir.join(format!("{BINARY}_{}.ports", std::process::id()));
    std::fs::write(&path, contents(host, addr))?;
    Ok(path)
}

/// `{"nats":["nats://HOST:PORT"]}` with the field names nats-server uses.
fn contents(host: &str, addr: SocketAddr) -> String {
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Ok(ip) => ip,
        Err(_) => addr.ip(),
    };
    let url = format!("nats://{}", SocketAddr::new(ip, addr.port()));
    serde_json::json!({ "nats": [url] }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_host_is_reported_as_loopback() {
        let addr: SocketAddr = "0.0.0.0:4567".parse().unwrap();
        assert_eq!(
            contents("0.0.0.0", addr),
            r#"{"nats":["nats://127.0.0.1:4567"]}"#
        );
        let addr: SocketAddr = "[::1]:4567".parse().unwrap();
        assert_eq!(contents("::1", addr), r#"{"nats":["nats://[::1]:4567"]}"#);
    }
}
