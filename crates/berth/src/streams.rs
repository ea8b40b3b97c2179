//! Stream handling: Docker's multiplexed frames (8-byte header, then the
//! payload for stdout or stderr), JSON progress streams with progress bars,
//! and relaying a hijacked connection to the terminal.

use std::io::{self, Read, Write};

use anyhow::{anyhow, Result};
use serde_json::Value;

/// Copy a multiplexed stream to stdout and stderr until it ends.
pub fn demux(mut r: impl Read) -> io::Result<()> {
    let mut head = [0u8; 8];
    let mut out = io::stdout();
    let mut err = io::stderr();
    loop {
        match r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)?;
        if head[0] == 2 {
            err.write_all(&payload)?;
            err.flush()?;
        } else {
            out.write_all(&payload)?;
            out.flush()?;
        }
    }
}

/// Copy a raw (TTY) stream to stdout until it ends.
pub fn raw(mut r: impl Read) -> io::Result<()> {
    let mut out = io::stdout();
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// Show a JSON progress stream (pull, push, load, import) on stdout, as
/// docker does: on a terminal one line per layer with a progress bar, redrawn
/// in place; otherwise plain status lines without bars. An error object ends
/// it with an error.
pub fn progress(r: impl Read, quiet: bool) -> Result<Vec<Value>> {
    let tty = nix::unistd::isatty(1).unwrap_or(false);
    progress_to(r, quiet, &mut io::stdout().lock(), tty)
}

/// [`progress`] onto `out` (bars and redraws when `tty`).
pub fn progress_to(
    r: impl Read,
    quiet: bool,
    out: &mut dyn Write,
    tty: bool,
) -> Result<Vec<Value>> {
    use std::io::BufRead;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut all = Vec::new();
    let mut drawn = 0usize;
    for line in io::BufReader::new(r).lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(anyhow!("{e}"));
        }
        all.push(v.clone());
        if quiet {
            continue;
        }
        let id = v["id"].as_str().unwrap_or("").to_string();
        let status = v["status"]
            .as_str()
            .or_else(|| v["stream"].as_str())
            .unwrap_or("")
            .trim_end()
            .to_string();
        let bar = if tty {
            bar(&v["progressDetail"])
        } else {
            String::new()
        };
        let text = if id.is_empty() {
            if status.is_empty() {
                continue; // an `aux` message or an empty line
            }
            status
        } else {
            format!("{id}: {status} {bar}").trim_end().to_string()
        };
        if id.is_empty() || !tty {
            if tty && drawn > 0 {
                drawn = 0;
                lines.clear();
            }
            writeln!(out, "{text}")?;
            continue;
        }
        match lines.iter_mut().find(|(i, _)| *i == id) {
            Some(l) => l.1 = text,
            None => lines.push((id, text)),
        }
        if drawn > 0 {
            write!(out, "\x1b[{drawn}A")?;
        }
        for (_, t) in &lines {
            writeln!(out, "\x1b[2K{t}")?;
        }
        drawn = lines.len();
    }
    Ok(all)
}

fn bar(detail: &Value) -> String {
    let (Some(cur), Some(total)) = (detail["current"].as_u64(), detail["total"].as_u64()) else {
        return String::new();
    };
    if total == 0 {
        return String::new();
    }
    let width = 30u64;
    let filled = (cur.min(total) * width / total) as usize;
    format!(
        "[{}>{}] {}/{}",
        "=".repeat(filled.saturating_sub(1)),
        " ".repeat(width as usize - filled.max(1)),
        human(cur),
        human(total)
    )
}

/// Sizes as docker prints them: 1000-based, three significant digits.
pub fn human(n: u64) -> String {
    human_digits(n, 3)
}

/// go-units' `HumanSizeWithPrecision`: 1000-based, `digits` significant digits.
pub fn human_digits(n: u64, digits: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as usize) + 1
    };
    let decimals = digits.saturating_sub(int_digits);
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[u])
}

/// Sizes in binary units as docker's `stats` prints them (`%.4g`): `1.5MiB`, `7.681GiB`.
pub fn binary(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    // Four significant digits, trailing zeros dropped.
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as usize) + 1
    };
    let decimals = 4usize.saturating_sub(int_digits);
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[u])
}

/// "5 minutes ago" from a unix time, in go-units' HumanDuration words as docker prints them.
pub fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format!("{} ago", human_duration((now - unix).max(0)))
}

/// go-units' `HumanDuration` of a number of seconds (berth-time's).
pub fn human_duration(s: i64) -> String {
    berth_time::human_duration(std::time::Duration::from_secs(s.max(0) as u64))
}

/// Print rows as a table as docker's tab writer does: each column as wide as its widest cell
/// plus three spaces, and at least ten.
pub fn table(head: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    for x in &mut w {
        *x = (*x + 3).max(10) - 3;
    }
    let mut out = io::stdout().lock();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("   ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(
        out,
        "{}",
        line(head.iter().map(|s| s.to_string()).collect())
    );
    for r in rows {
        let _ = writeln!(out, "{}", line(r.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1_980_000), "1.98MB");
        assert_eq!(human(4_000_000), "4MB");
        assert_eq!(human(123_456), "123kB");
        assert_eq!(human_digits(1_982_321, 4), "1.982MB");
        assert_eq!(binary(1023), "1023B");
        assert_eq!(binary(1536 * 1024), "1.5MiB");
        assert_eq!(binary(12_345_678), "11.77MiB");
    }

    #[test]
    fn durations_read_like_go_units() {
        for (s, want) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (3599, "59 minutes"),
            (5399, "About an hour"),
            (5400, "2 hours"),
            (47 * 3600, "47 hours"),
            (48 * 3600, "2 days"),
            (14 * 86_400, "2 weeks"),
            (60 * 86_400, "2 months"),
            (2 * 365 * 86_400, "2 years"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn progress_errors_surface() {
        let stream = b"{\"status\":\"Pulling\"}\r\n{\"errorDetail\":{\"message\":\"not found\"},\"error\":\"not found\"}\r\n";
        let err = progress(&stream[..], true).unwrap_err();
        assert_eq!(err.to_string(), "not found");
    }
}
