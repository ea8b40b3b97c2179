//! Go's value syntax and wording, where dockerd's messages show it: `strconv`'s booleans and
//! integers, `time`'s durations, and an `io::Error` printed as Go prints a system error. The
//! drivers' options are read with these so that a bad value fails with dockerd's words.

use std::io;

/// Go's `strconv.ParseBool`, with its error.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    crate::parse_bool(v).ok_or_else(|| format!("strconv.ParseBool: parsing {v:?}: invalid syntax"))
}

/// Go's `strconv.ParseInt(v, 10, 32)`, with its errors.
pub fn parse_int32(v: &str) -> Result<i32, String> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"));
    }
    v.parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: value out of range"))
}

/// An `io::Error` as Go words it (no `(os error N)`, lower case).
pub fn io_error(e: &io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_lowercase()
}

/// Go's `time.ParseDuration`, in nanoseconds ([`berth_time::parse_go_duration`]).
pub fn parse_duration(orig: &str) -> Result<i128, String> {
    berth_time::parse_go_duration(orig).map(i128::from)
}

/// Go's `Duration.String` (`99ms`, `1.5s`, `1m0s`; [`berth_time::go_duration_string`]).
pub fn duration_string(d: i128) -> String {
    berth_time::go_duration_string(d)
}

/// A JSON value as Go's encoder writes it: serde_json's text, with `<`, `>`, `&`, U+2028 and
/// U+2029 as `\u` escapes (they only occur inside strings, so this is safe on a whole document).
pub fn json(v: &impl serde::Serialize) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        push_json_char(&mut out, c);
    }
    out
}

/// One character of JSON text as Go's encoder writes it (the five it escapes beyond JSON's).
pub fn push_json_char(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("\\u003c"),
        '>' => out.push_str("\\u003e"),
        '&' => out.push_str("\\u0026"),
        '\u{2028}' => out.push_str("\\u2028"),
        '\u{2029}' => out.push_str("\\u2029"),
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_as_go_does() {
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("-1.5ms"), Ok(-1_500_000));
        assert_eq!(parse_duration(".5us"), Ok(500));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(
            parse_duration("3d"),
            Err("time: unknown unit \"d\" in duration \"3d\"".into())
        );
        assert_eq!(
            parse_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert_eq!(
            parse_duration("."),
            Err("time: invalid duration \".\"".into())
        );
        for (d, s) in [
            (0, "0s"),
            (99_000_000, "99ms"),
            (1_500, "1.5µs"),
            (11_000_000_000, "11s"),
            (-1_000_000_000, "-1s"),
            (60_000_000_000, "1m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
        ] {
            assert_eq!(duration_string(d), s);
        }
    }

    #[test]
    fn integers_and_errors_read_as_go_words_them() {
        assert_eq!(parse_int32("-12"), Ok(-12));
        assert_eq!(
            parse_int32("1x"),
            Err("strconv.ParseInt: parsing \"1x\": invalid syntax".into())
        );
        assert_eq!(
            parse_int32("99999999999"),
            Err("strconv.ParseInt: parsing \"99999999999\": value out of range".into())
        );
        let e = io::Error::from_raw_os_error(111);
        assert_eq!(io_error(&e), "connection refused");
    }
}
