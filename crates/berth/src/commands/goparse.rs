//! Go's own value syntax, as the docker CLI reads flag values with it: `strconv`'s integers,
//! floats and booleans, `time.ParseDuration`, and go-units' `RAMInBytes` sizes. Each returns the
//! value or Go's (docker's) message.

use super::optparse::Parsed;

/// A size as docker's `RAMInBytes` reads it: a number, then an optional `b`, or `k`, `m`, `g`,
/// `t`, `p` with an optional `b` or `ib`, in binary units (`1k` = 1024, `1.5g`), case-insensitive.
pub fn ram_in_bytes(s: &str) -> Parsed<i64> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size = go_float(num)?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if suffix.is_empty() {
        return Ok(size as i64);
    }
    let bad = || Err(format!("invalid suffix: '{suffix}'"));
    if suffix.len() > 3 {
        return bad();
    }
    let lower = suffix.to_ascii_lowercase();
    let bad = || Err(format!("invalid suffix: '{lower}'"));
    let mut chars = lower.chars();
    let unit = match chars.next() {
        Some('b') if lower.len() == 1 => return Ok(size as i64),
        Some('k') => 1u64 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        _ => return bad(),
    };
    match chars.as_str() {
        "" | "b" | "ib" => Ok((size * unit as f64) as i64),
        _ => bad(),
    }
}

/// Go's `strconv.ParseFloat` for the plain decimal forms, with its error text.
fn go_float(s: &str) -> Parsed<f64> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    match s.parse::<f64>() {
        Ok(v) if ok => Ok(v),
        _ => Err(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, what docker's integer flags use (`0x`, `0o`, `0b`, a
/// leading `0` for octal).
pub fn go_int(s: &str) -> Parsed<i64> {
    let syntax = || format!("strconv.ParseInt: parsing {s:?}: invalid syntax");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let magnitude = u128::from_str_radix(body, radix).map_err(|_| syntax())?;
    let v = if neg {
        -(magnitude as i128)
    } else {
        magnitude as i128
    };
    i64::try_from(v).map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Go's `strconv.ParseUint(s, 10, bits)`.
pub fn go_uint(s: &str, bits: u32) -> Parsed<u64> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    match s.parse::<u64>() {
        Ok(v) if bits >= 64 || v < (1u64 << bits) => Ok(v),
        _ => Err(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        )),
    }
}

/// Go's `strconv.ParseBool`.
pub fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A Go duration (`1m30s`, `500ms`, `1.5h`, `-2s`, `0`) in nanoseconds.
pub fn go_duration(orig: &str) -> Parsed<i64> {
    berth_time::parse_go_duration(orig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_like_docker_ram_in_bytes() {
        for (s, n) in [
            ("100", 100),
            ("1.5", 1),
            ("10b", 10),
            ("0.5k", 512),
            ("10kb", 10240),
            ("1KiB", 1024),
            ("512m", 512 << 20),
            ("1MB", 1 << 20),
            ("1.5g", 1536 << 20),
            ("1G", 1 << 30),
            ("1gib", 1 << 30),
            ("1t", 1 << 40),
            ("1 g", 1 << 30),
        ] {
            assert_eq!(ram_in_bytes(s), Ok(n), "{s}");
        }
        assert_eq!(ram_in_bytes("10x"), Err("invalid suffix: 'x'".into()));
        assert_eq!(ram_in_bytes("10kbx"), Err("invalid suffix: 'kbx'".into()));
        assert_eq!(ram_in_bytes("1kk"), Err("invalid suffix: 'kk'".into()));
        assert_eq!(ram_in_bytes("-1"), Err("invalid size: '-1'".into()));
        assert_eq!(ram_in_bytes("x"), Err("invalid size: 'x'".into()));
        assert_eq!(
            ram_in_bytes(" 1g"),
            Err("strconv.ParseFloat: parsing \" 1\": invalid syntax".into())
        );
    }

    #[test]
    fn durations_are_go_durations() {
        for (s, n) in [
            ("0", 0),
            ("1ns", 1),
            ("100us", 100_000),
            ("500ms", 500_000_000),
            ("2s", 2_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("-1s", -1_000_000_000),
            (".5s", 500_000_000),
            ("1h2m3s4ms", 3_723_004_000_000),
        ] {
            assert_eq!(go_duration(s), Ok(n), "{s}");
        }
        assert_eq!(
            go_duration("10"),
            Err("time: missing unit in duration \"10\"".into())
        );
        assert_eq!(
            go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert_eq!(go_duration(""), Err("time: invalid duration \"\"".into()));
        assert_eq!(go_duration("s"), Err("time: invalid duration \"s\"".into()));
        assert!(go_duration("9999999999h").is_err());
    }
}
