//! Durations written as Go writes them (`time.ParseDuration`): `2m`, `30s`, `1h30m`,
//! `500ms`, `1.5s`, `0`. nats-server configs and flags use this form.

use std::time::Duration;

/// Go's `time.Duration` is an `i64` of nanoseconds: nothing longer can be written.
const MAX_NANOS: u64 = i64::MAX as u64;

/// Parses a Go duration string, as `time.ParseDuration` does: the same units, the same
/// overflow rule (more than `i64::MAX` nanoseconds is an invalid duration), and fraction
/// digits past what a `u64` holds are dropped. Negative durations are refused (no Natter
/// setting takes one); `-0` and the like are zero.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let orig = s;
    let invalid = || {
        format!("invalid duration \"{orig}\" (expected e.g. \"2m\", \"30s\", \"1h30m\", \"500ms\")")
    };
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Up to 1 << 63 while adding up: one past MAX_NANOS, which only a negative may reach.
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole = leading_int(&rest[..int_len]).ok_or_else(invalid)?;
        rest = &rest[int_len..];
        let mut fraction = (0, 1.0);
        let mut frac_len = 0;
        if let Some(r) = rest.strip_prefix('.') {
            frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            fraction = leading_fraction(&r[..frac_len]);
            rest = &r[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "" => return Err(format!("invalid duration \"{orig}\": missing unit")),
            _ => {
                return Err(format!(
                    "invalid duration \"{orig}\": unknown unit \"{unit}\""
                ))
            }
        };
        let limit = MAX_NANOS + 1;
        let mut nanos = whole
            .checked_mul(unit_nanos)
            .filter(|n| *n <= limit)
            .ok_or_else(invalid)?;
        let (digits, scale) = fraction;
        if digits > 0 {
            // As Go: in floating point, which is exact enough even for fractions of hours
            // (the product is below 3.6e12).
            let part = (digits as f64 * (unit_nanos as f64 / scale)) as u64;
            nanos = nanos
                .checked_add(part)
                .filter(|n| *n <= limit)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(nanos)
            .filter(|n| *n <= limit)
            .ok_or_else(invalid)?;
    }
    if negative {
        return if total == 0 {
            Ok(Duration::ZERO)
        } else {
            Err(format!("invalid duration \"{orig}\": must not be negative"))
        };
    }
    if total > MAX_NANOS {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total))
}

/// Go's `leadingInt`: the digits as a number of at most 1 << 63, or `None` past it.
fn leading_int(digits: &str) -> Option<u64> {
    let mut x: u64 = 0;
    for d in digits.bytes() {
        x = x.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        if x > MAX_NANOS + 1 {
            return None;
        }
    }
    Some(x)
}

/// Go's `leadingFraction`: the digits that fit, and 10 to the power of how many did; later
/// digits are dropped, not an error.
fn leading_fraction(digits: &str) -> (u64, f64) {
    let mut x: u64 = 0;
    let mut scale = 1.0;
    for d in digits.bytes() {
        if x > MAX_NANOS / 10 {
            break;
        }
        let y = x * 10 + u64::from(d - b'0');
        if y > MAX_NANOS + 1 {
            break;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale)
}

/// Converts whole seconds, as the old-style bare numbers of nats-server (`ping_interval:
/// 60`), to a duration Go can hold; `None` past `i64::MAX` nanoseconds.
pub(crate) fn go_seconds(secs: u64) -> Option<Duration> {
    secs.checked_mul(1_000_000_000)
        .filter(|n| *n <= MAX_NANOS)
        .map(Duration::from_nanos)
}

/// Whether Go could hold this duration (at most `i64::MAX` nanoseconds).
pub(crate) fn fits_go(d: Duration) -> bool {
    d.as_nanos() <= u128::from(MAX_NANOS)
}

/// Formats a duration the way Go prints one (`2m0s`, `30s`, `500ms`), for messages.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        return if nanos % 1_000_000 == 0 {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            format!("{}µs", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let total_secs = d.as_secs();
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let sub = d.subsec_nanos();
    let secs = if sub == 0 {
        format!("{s}s")
    } else {
        let frac = format!("{sub:09}");
        format!("{s}.{}s", frac.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("10ns"), Duration::from_nanos(10));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+3s"), Duration::from_secs(3));
        assert_eq!(ok("-0s"), Duration::ZERO);
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("1h1.5m"), Duration::from_secs(3690));
        for bad in [
            "", "30", "3x", "s", "-1s", "1.s.", "1d", ".s", "+", "1s2", "s1",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad} should fail");
        }
    }

    /// Values checked against `nats-server -t` (Go's `time.ParseDuration`).
    #[test]
    fn overflow_as_go() {
        let ok = |s: &str| parse_go_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            ok("9223372036854775807ns"),
            Duration::from_nanos(i64::MAX as u64)
        );
        assert_eq!(ok("2562047h"), Duration::from_secs(2_562_047 * 3600));
        // Fraction digits beyond what fits are dropped: 1.999999999999999999h, in floats.
        assert_eq!(
            ok("1.999999999999999999999999999999h"),
            Duration::from_secs(7200)
        );
        assert_eq!(ok("0.000000000000000000000000000001s"), Duration::ZERO);
        assert_eq!(
            ok("1.0000000000000000000000000000009ns"),
            Duration::from_nanos(1)
        );
        for bad in [
            "9223372036854775808ns",
            "2562048h",
            "5124095576030431h",
            "2562047h48m",
            "18446744073709551616ns",
            "99999999999999999999999s",
            "9223372036854775807ns1ns",
            "-9223372036854775809ns",
        ] {
            let e = parse_go_duration(bad).unwrap_err();
            assert!(e.contains("invalid duration"), "{bad}: {e}");
        }
        assert_eq!(
            go_seconds(9_223_372_036),
            Some(Duration::from_secs(9_223_372_036))
        );
        assert_eq!(go_seconds(9_223_372_037), None);
        assert_eq!(go_seconds(u64::MAX), None);
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(format_go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_secs(5400)), "1h30m0s");
    }
}
