//! Starting and stopping the two servers on loopback ports, and reading what the table says
//! about them and the machine (RSS, versions, CPU).

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Which broker a measurement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Natter,
    Nats,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Natter => "natter-server",
            Kind::Nats => "nats-server",
        }
    }
}

/// A server binary to start.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub binary: PathBuf,
}

/// One running server process, stopped (SIGKILL, then reaped) when dropped.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    /// The INFO line the server greeted the readiness probe with.
    pub info: String,
}

impl Running {
    /// Starts `target` on a free loopback port with default settings and waits (up to 10 s)
    /// until it greets a client with INFO. Its output goes to `log_dir/<name>.log`.
    pub fn start(target: &Target, log_dir: &Path) -> Result<Running, String> {
        let port = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
        fs::create_dir_all(log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
        let log_path = log_dir.join(format!("{}.log", target.kind.name()));
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&target.binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", target.binary.display()))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut running = Running {
            child,
            addr,
            info: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!(
                    "{} exited at start ({status}); see {}",
                    target.kind.name(),
                    log_path.display()
                ));
            }
            if let Some(info) = greeting(addr) {
                running.info = info;
                return Ok(running);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not greet a client on {addr} within 10 s; see {}",
                    target.kind.name(),
                    log_path.display()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        vm_rss_kib(&status)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line a server sends, if it is INFO.
fn greeting(addr: SocketAddr) -> Option<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.starts_with("INFO ")
        .then(|| line.trim_end().to_string())
}

/// A port the kernel just gave out and took back. Another process could take it before the
/// server binds it; on a loopback-only benchmark machine that race has not been seen.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// `VmRSS:   12345 kB` from the text of /proc/PID/status.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// "AMD EPYC, 2 cores, 24 GiB, Linux 6.1.0" from lscpu, /proc/meminfo and uname.
pub fn machine() -> String {
    let model = crate::command::output(Command::new("lscpu").env("LC_ALL", "C"))
        .and_then(|text| lscpu_model(&text))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total_gib(&m))
        .map_or_else(|| "unknown memory".into(), |g| format!("{g:.0} GiB"));
    let kernel = crate::command::output(Command::new("uname").arg("-r"))
        .map(|k| format!(", Linux {}", k.trim()))
        .unwrap_or_default();
    format!("{model}, {cores} cores, {memory}{kernel}")
}

fn lscpu_model(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
}

fn mem_total_gib(meminfo: &str) -> Option<f64> {
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tnats-server\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t8\n";
        assert_eq!(vm_rss_kib(status), Some(12345));
        assert_eq!(vm_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn reads_machine_facts() {
        let lscpu = "Architecture: x86_64\nModel name:                              AMD EPYC\n";
        assert_eq!(lscpu_model(lscpu).as_deref(), Some("AMD EPYC"));
        let gib = mem_total_gib("MemTotal:       25165824 kB\nMemFree: 1 kB\n").unwrap();
        assert!((gib - 24.0).abs() < 1e-9);
    }
}
