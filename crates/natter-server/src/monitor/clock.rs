//! Time and duration text in the shapes nats-server's monitoring output uses (Go's
//! formatting), so tools that parse them (nats-top, prometheus-nats-exporter) read ours.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the epoch; times before it clamp to the epoch.
fn unix(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

/// Year, month (1-12), day (1-31) of a day count since 1970-01-01 (proleptic Gregorian);
/// the log line's timestamp uses it too.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// UTC RFC 3339 with nanoseconds, trailing zeros of the fraction dropped (no fraction at
/// all on a whole second): Go's `time.RFC3339Nano`, which is how Go encodes a `time.Time`
/// in JSON.
pub(crate) fn rfc3339_nanos(t: SystemTime) -> String {
    let (secs, nanos) = unix(t);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The HTTP `Date` header value (IMF-fixdate, RFC 9110): `Tue, 24 Nov 2026 22:30:31 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (secs, _) = unix(t);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// nats-server's uptime text: whole seconds, with days and years (365 days) when large:
/// `5s`, `4m5s`, `3h4m5s`, `2d3h4m5s`, `1y2d3h4m5s`.
pub(crate) fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hours % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hours % 24, mins % 60, secs % 60)
    } else if hours > 0 {
        format!("{hours}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.Duration.String()`: `0s`, `850ns`, `748µs`, `7.349752ms`, `2.5s`, `1m2.5s`,
/// `1h0m0s`. nats-server prints connection round-trip times this way.
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let total_secs = nanos / 1_000_000_000;
    let (hours, mins) = (total_secs / 3600, total_secs / 60 % 60);
    let secs = decimal(nanos % 60_000_000_000, 1_000_000_000);
    let mut s = String::new();
    if hours > 0 {
        let _ = write!(s, "{hours}h{mins}m");
    } else if mins > 0 {
        let _ = write!(s, "{mins}m");
    }
    s.push_str(&secs);
    s.push('s');
    s
}

/// `value / unit` as a decimal without trailing zeros (`7349752 / 10^6` -> `7.349752`).
fn decimal(value: u128, unit: u128) -> String {
    let (whole, frac) = (value / unit, value % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let frac = format!("{frac:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn rfc3339_trims_the_fraction_like_go() {
        // 2026-11-24T22:30:31Z
        let t = 1_795_559_431;
        assert_eq!(
            rfc3339_nanos(at(t, 391_162_579)),
            "2026-11-24T22:30:31.391162579Z"
        );
        assert_eq!(
            rfc3339_nanos(at(t, 498_036_190)),
            "2026-11-24T22:30:31.49803619Z"
        );
        assert_eq!(rfc3339_nanos(at(t, 0)), "2026-11-24T22:30:31Z");
        assert_eq!(
            rfc3339_nanos(at(951_782_400, 5)),
            "2000-02-29T00:00:00.000000005Z"
        );
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        assert_eq!(
            http_date(at(1_795_559_431, 7)),
            "Tue, 24 Nov 2026 22:30:31 GMT"
        );
        assert_eq!(http_date(at(0, 0)), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn uptime_matches_nats_server() {
        let s = Duration::from_secs;
        assert_eq!(uptime(Duration::from_millis(999)), "0s");
        assert_eq!(uptime(s(62)), "1m2s");
        assert_eq!(uptime(s(3600)), "1h0m0s");
        assert_eq!(uptime(s(86_400 + 3661)), "1d1h1m1s");
        assert_eq!(uptime(s(366 * 86_400 + 5)), "1y1d0h0m5s");
    }

    #[test]
    fn go_duration_matches_go() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(go_duration(Duration::from_micros(748)), "748µs");
        assert_eq!(go_duration(Duration::from_nanos(7_349_752)), "7.349752ms");
        assert_eq!(go_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(go_duration(Duration::from_millis(62_500)), "1m2.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
