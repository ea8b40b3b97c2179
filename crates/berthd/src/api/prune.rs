//! The filters the prune endpoints share, as Docker reads them: `until` (a Go duration before now, an
//! RFC 3339 time or date, or unix seconds) and `label` / `label!` (`key` or `key=value`; every
//! `label` must match, no `label!` may).

use crate::error::{ApiError, ApiResult};
use crate::http::Filters;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A Go duration (`90s`, `1h30m`, `1.5h`, `-10m`); `None` if it is not one.
pub fn go_duration(s: &str) -> Option<(bool, Duration)> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some((false, Duration::ZERO));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += num * secs;
    }
    Some((neg, Duration::from_secs_f64(total)))
}

/// A point in time as Docker's `until`/`since` filters take it, relative to `now` for durations.
pub fn timestamp(v: &str, now: SystemTime) -> Option<SystemTime> {
    if let Some((neg, d)) = go_duration(v) {
        return if neg {
            now.checked_add(d)
        } else {
            now.checked_sub(d)
        };
    }
    if let Some(t) = crate::time::parse_rfc3339(v) {
        return Some(t);
    }
    if v.len() == 10 && v.as_bytes()[4] == b'-' {
        return crate::time::parse_rfc3339(&format!("{v}T00:00:00Z"));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let secs: u64 = secs.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// The `until` filter: only things created before it are pruned.
pub fn until(f: &Filters) -> ApiResult<Option<SystemTime>> {
    let now = SystemTime::now();
    let mut out: Option<SystemTime> = None;
    for v in f.get("until") {
        let t = timestamp(v, now).ok_or_else(|| {
            ApiError::BadRequest(format!("invalid filter 'until={v}': not a time"))
        })?;
        out = Some(out.map_or(t, |o| o.min(t)));
    }
    Ok(out)
}

/// Whether `created` (RFC 3339) is before `until`, if there is one.
pub fn created_before(created: Option<&str>, until: Option<SystemTime>) -> bool {
    match until {
        None => true,
        Some(u) => created
            .and_then(crate::time::parse_rfc3339)
            .is_some_and(|c| c < u),
    }
}

fn label_matches(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(want),
    }
}

/// The `label` and `label!` filters.
pub fn labels_match(f: &Filters, labels: &BTreeMap<String, String>) -> bool {
    f.get("label").iter().all(|w| label_matches(labels, w))
        && !f.get("label!").iter().any(|w| label_matches(labels, w))
}

/// Bytes of the files under `dir` (not following symlinks, not crossing into other mounts), a file
/// with several links once, as dockerd sizes layers and volumes.
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                if md.dev() == top.dev() {
                    stack.push(e.path());
                }
            } else if md.nlink() < 2 || seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(go_duration("90s"), Some((false, Duration::from_secs(90))));
        assert_eq!(
            go_duration("1h30m"),
            Some((false, Duration::from_secs(5400)))
        );
        assert_eq!(go_duration("-10m"), Some((true, Duration::from_secs(600))));
        assert_eq!(
            go_duration("1.5h"),
            Some((false, Duration::from_secs(5400)))
        );
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("h"), None);
        assert_eq!(go_duration("2024-01-01"), None);
    }

    #[test]
    fn timestamps() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            timestamp("10s", now),
            Some(UNIX_EPOCH + Duration::from_secs(999_990))
        );
        assert_eq!(
            timestamp("1700000000.5", now),
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(
            timestamp("1970-01-02", now),
            Some(UNIX_EPOCH + Duration::from_secs(86_400))
        );
        assert_eq!(
            timestamp("1970-01-01T00:01:00Z", now),
            Some(UNIX_EPOCH + Duration::from_secs(60))
        );
        assert_eq!(timestamp("yesterday", now), None);
    }

    #[test]
    fn label_filters() {
        let mut f = Filters::default();
        f.0.insert("label".into(), vec!["a".into()]);
        f.0.insert("label!".into(), vec!["b=2".into()]);
        let l = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(labels_match(&f, &l(&[("a", "1")])));
        assert!(labels_match(&f, &l(&[("a", "1"), ("b", "3")])));
        assert!(!labels_match(&f, &l(&[("a", "1"), ("b", "2")])));
        assert!(!labels_match(&f, &l(&[("b", "3")])));
    }
}
