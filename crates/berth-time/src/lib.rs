//! berth-time: RFC 3339 timestamps with nanoseconds in UTC, as Docker and runc write them
//! (`2026-11-28T08:06:19.519068068Z`), parsing them back, Docker's human durations, and Go's duration
//! syntax (`1m30s`) that docker's flags and dockerd's log options are written in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Format a time.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, da) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Now.
pub fn now_rfc3339_nano() -> String {
    rfc3339_nano(SystemTime::now())
}

/// Format a time as Go's `time.RFC3339Nano` does, how dockerd writes an image config's `created`:
/// the fraction's trailing zeros dropped, no fraction for a whole second
/// (`2026-12-07T14:30:20.06631637Z`, `2026-12-07T14:30:20Z`).
pub fn rfc3339_go(t: SystemTime) -> String {
    let mut s = rfc3339_nano(t);
    s.pop(); // the `Z`
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}Z")
}

/// `t` shifted by `offset` seconds east of UTC: (date, seconds into the day).
fn local_parts(t: SystemTime, offset: i32) -> ((i64, u32, u32), i64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64 + i64::from(offset);
    (
        civil(secs.div_euclid(86_400)),
        secs.rem_euclid(86_400),
        d.subsec_nanos(),
    )
}

/// Go's `time.RFC3339` in a zone `offset` seconds east of UTC (`Z` for UTC, else `+hh:mm`), with
/// `digits` (0, 3, 6 or 9) of the second's fraction, as syslog's RFC 5424 stamps are made
/// (`2026-12-07T14:30:20Z`, `2026-12-07T15:30:20.066316+01:00`).
pub fn rfc3339_offset(t: SystemTime, offset: i32, digits: u32) -> String {
    let ((y, mo, da), rem, nanos) = local_parts(t, offset);
    let mut s = format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if digits > 0 {
        let digits = digits.min(9);
        let frac = nanos / 10u32.pow(9 - digits);
        s.push_str(&format!(".{frac:0w$}", w = digits as usize));
    }
    if offset == 0 {
        s.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let a = offset.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a / 60) % 60));
    }
    s
}

/// Go's `time.Stamp` (`Jan _2 15:04:05`) in a zone `offset` seconds east of UTC: the BSD syslog
/// stamp.
pub fn syslog_stamp(t: SystemTime, offset: i32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((_, mo, da), rem, _) = local_parts(t, offset);
    format!(
        "{} {da:>2} {:02}:{:02}:{:02}",
        MONTHS[(mo as usize).saturating_sub(1) % 12],
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Go's `time.ParseDuration` (`1m30s`, `500ms`, `1.5h`, `-2s`, `0`), in nanoseconds, with its
/// error messages (the docker CLI's flags and dockerd's log options are written in it).
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {orig:?}");
    let (neg, mut s) = match orig.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, orig.strip_prefix('+').unwrap_or(orig)),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_part = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        total = total
            .checked_add(whole.checked_mul(nanos).ok_or_else(invalid)?)
            .ok_or_else(invalid)?;
        // The fraction, truncated to whole nanoseconds as Go does.
        let mut scale: u128 = 1;
        let mut frac: u128 = 0;
        for d in frac_part.bytes().take(30) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total += frac * nanos / scale;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    let total = total as i64;
    Ok(if neg { -total } else { total })
}

/// Go's `Duration.String` (`99ms`, `1.5s`, `1m0s`).
pub fn go_duration_string(d: i128) -> String {
    if d == 0 {
        return "0s".into();
    }
    let sign = if d < 0 { "-" } else { "" };
    let u = d.unsigned_abs();
    // `whole.fraction` of `u` in units of 10^digits, trailing zeros dropped.
    let fixed = |u: u128, digits: u32| {
        let unit = 10u128.pow(digits);
        let frac = format!("{:0width$}", u % unit, width = digits as usize);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{}", u / unit)
        } else {
            format!("{}.{frac}", u / unit)
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", fixed(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", fixed(u, 6));
    }
    let secs = u / 1_000_000_000;
    let s = fixed(u % 60_000_000_000, 9);
    let (m, h) = (secs / 60 % 60, secs / 3600);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::new(1_795_853_179, 519_068_068);
        assert_eq!(rfc3339_nano(t), "2026-11-28T08:06:19.519068068Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = UNIX_EPOCH + Duration::new(951_782_400, 5);
        assert_eq!(rfc3339_nano(leap), "2000-02-29T00:00:00.000000005Z");
    }

    #[test]
    fn local_stamps() {
        let t = UNIX_EPOCH + Duration::new(1_796_653_820, 66_316_370);
        assert_eq!(rfc3339_offset(t, 0, 0), "2026-12-07T14:30:20Z");
        assert_eq!(
            rfc3339_offset(t, 3600, 6),
            "2026-12-07T15:30:20.066316+01:00"
        );
        assert_eq!(
            rfc3339_offset(t, -(5 * 3600 + 1800), 3),
            "2026-12-07T09:00:20.066-05:30"
        );
        assert_eq!(syslog_stamp(t, 0), "Dec  7 14:30:20");
        assert_eq!(syslog_stamp(t, 86_400 * 5), "Dec 12 14:30:20");
    }

    #[test]
    fn formats_like_go() {
        let t = |s, n| UNIX_EPOCH + Duration::new(s, n);
        assert_eq!(
            rfc3339_go(t(1_796_653_820, 66_316_370)),
            "2026-12-07T14:30:20.06631637Z"
        );
        assert_eq!(rfc3339_go(t(1_796_653_820, 0)), "2026-12-07T14:30:20Z");
        assert_eq!(
            rfc3339_go(t(1_796_653_820, 500_000_000)),
            "2026-12-07T14:30:20.5Z"
        );
        assert_eq!(rfc3339_go(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // What it writes, the parser reads back to the nanosecond.
        for n in [0, 1, 66_316_370, 999_999_999] {
            assert_eq!(
                parse_rfc3339(&rfc3339_go(t(1_796_653_820, n))),
                Some(t(1_796_653_820, n))
            );
        }
    }
}

/// Parse our own format back (for durations like "Up 3 seconds"); `None` for the zero time.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || s.starts_with("0001-") {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let nanos = if b.get(19) == Some(&b'.') {
        let frac: String = s[20..].chars().take_while(|c| c.is_ascii_digit()).collect();
        format!("{frac:0<9}")[..9].parse::<u32>().ok()?
    } else {
        0
    };
    // days from civil (inverse of `civil`)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    Some(UNIX_EPOCH + std::time::Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// Docker's zero time.
pub const ZERO: &str = "0001-01-01T00:00:00Z";

/// Docker's human durations (go-units' `HumanDuration`: "Less than a second", "3 seconds", "About
/// a minute", "5 minutes", "About an hour", hours rounded to the nearest, then days, weeks, months
/// of 30 days and years).
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    // Hours rounded to the nearest, as `int(d.Hours() + 0.5)`.
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if s / 60 == 1 {
        "About a minute".into()
    } else if s < 3600 {
        format!("{} minutes", s / 60)
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn human_durations_read_as_dockers() {
        let h = |s: u64| human_duration(std::time::Duration::from_secs(s));
        assert_eq!(h(0), "Less than a second");
        assert_eq!(h(59), "59 seconds");
        assert_eq!(h(119), "About a minute");
        assert_eq!(h(3599), "59 minutes");
        assert_eq!(h(5399), "About an hour");
        assert_eq!(h(5400), "2 hours", "90 minutes round up");
        assert_eq!(h(47 * 3600), "47 hours");
        assert_eq!(h(13 * 86_400), "13 days");
        assert_eq!(h(59 * 86_400), "8 weeks");
        assert_eq!(h(60 * 86_400), "2 months");
        assert_eq!(h(729 * 86_400), "24 months");
        assert_eq!(h(800 * 86_400), "2 years");
    }

    #[test]
    fn round_trip() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_795_853_179, 519_068_068);
        assert_eq!(parse_rfc3339(&rfc3339_nano(t)), Some(t));
        assert_eq!(parse_rfc3339(ZERO), None);
        assert_eq!(
            human_duration(std::time::Duration::from_secs(21)),
            "21 seconds"
        );
    }
}
