//! Log output in nats-server's line shape: `[pid] 2026/11/24 21:40:44.123456 [INF] message`.
//!
//! Harnesses grep these lines (`Listening for client connections on ...`), so the shape is
//! part of the compatibility surface. Timestamps are UTC: the process has no time zone
//! database and nats-server in containers logs UTC as well.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{reload, Registry};

/// What the logger was configured with; also what SIGHUP may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// `-D`: debug lines.
    pub debug: bool,
    /// `-V`: protocol trace lines.
    pub trace: bool,
    /// `-T`: timestamps (nats-server's default is on).
    pub logtime: bool,
    /// `-l FILE`: write to this file instead of stderr.
    pub file: Option<PathBuf>,
    /// Log nothing at all.
    pub no_log: bool,
}

impl LogSettings {
    fn level(&self) -> LevelFilter {
        if self.no_log {
            LevelFilter::OFF
        } else if self.trace {
            LevelFilter::TRACE
        } else if self.debug {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        }
    }
}

/// Handle on the installed logger: reopen the file (SIGUSR1), change the level (SIGHUP).
#[derive(Clone)]
pub struct LogHandle {
    sink: LogSink,
    level: reload::Handle<LevelFilter, Registry>,
}

impl fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}

impl LogHandle {
    /// Reopens the log file, so log rotation can move the old one away first.
    pub fn reopen(&self) -> io::Result<()> {
        self.sink.reopen()
    }

    /// Applies new debug/trace settings.
    pub fn set_level(&self, settings: &LogSettings) {
        let _ = self.level.modify(|l| *l = settings.level());
    }
}

/// Installs the process-wide logger. Call once, from the binary; an embedding application
/// keeps its own subscriber.
pub fn init(settings: &LogSettings) -> io::Result<LogHandle> {
    let sink = LogSink::open(settings.file.as_deref())?;
    let (filter, level) = reload::Layer::new(settings.level());
    let format = NatsLine {
        pid: std::process::id(),
        logtime: settings.logtime,
    };
    let layer = tracing_subscriber::fmt::layer()
        .event_format(format)
        .with_writer(sink.clone());
    let subscriber = Registry::default().with(filter).with(layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(LogHandle { sink, level })
}

/// The event formatter: pid, optional timestamp, three-letter level, message.
struct NatsLine {
    pid: u32,
    logtime: bool,
}

impl<S, N> FormatEvent<S, N> for NatsLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "[{}] ", self.pid)?;
        if self.logtime {
            write_timestamp(&mut writer, SystemTime::now())?;
            writer.write_char(' ')?;
        }
        let level = match *event.metadata().level() {
            Level::ERROR => "[ERR] ",
            Level::WARN => "[WRN] ",
            Level::INFO => "[INF] ",
            Level::DEBUG => "[DBG] ",
            Level::TRACE => "[TRC] ",
        };
        writer.write_str(level)?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// `2026/11/24 21:40:44.123456` in UTC.
fn write_timestamp(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::monitor::clock::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    write!(
        w,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        y,
        m,
        day,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Where log lines go: stderr, or a file that SIGUSR1 reopens.
#[derive(Clone)]
struct LogSink {
    file: Option<(PathBuf, Arc<Mutex<File>>)>,
}

impl LogSink {
    fn open(path: Option<&Path>) -> io::Result<Self> {
        let file = match path {
            Some(p) => Some((p.to_path_buf(), Arc::new(Mutex::new(open_append(p)?)))),
            None => None,
        };
        Ok(LogSink { file })
    }

    fn reopen(&self) -> io::Result<()> {
        if let Some((path, file)) = &self.file {
            let fresh = open_append(path)?;
            *file.lock() = fresh;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One log line's writer; a line is written with one `write` call so lines never interleave.
enum SinkWriter {
    Stderr(io::Stderr),
    File(Arc<Mutex<File>>),
}

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SinkWriter::Stderr(s) => s.write(buf),
            SinkWriter::File(f) => f.lock().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            SinkWriter::Stderr(s) => s.write_all(buf),
            SinkWriter::File(f) => f.lock().write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SinkWriter::Stderr(s) => s.flush(),
            SinkWriter::File(f) => f.lock().flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> Self::Writer {
        match &self.file {
            Some((_, f)) => SinkWriter::File(f.clone()),
            None => SinkWriter::Stderr(io::stderr()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamp_matches_nats_shape() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_902_044_123_456);
        let mut s = String::new();
        write_timestamp(&mut s, t).unwrap();
        assert_eq!(s, "2026/11/28 21:40:44.123456");
    }

    #[test]
    fn civil_dates_across_leap_years() {
        use crate::monitor::clock::civil_from_days;
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
