//! `GET /events?since=&until=&filters=`: past events (from the kept ones) then live ones, one JSON
//! object per line, until `until` passes or the client goes.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::http::{self, Filters, Query, Resp};
use bytes::Bytes;
use hyper::StatusCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn nanos(q: &Query, k: &str) -> ApiResult<Option<u128>> {
    match q.get(k) {
        None | Some("") => Ok(None),
        Some(v) => {
            let (s, f) = v.split_once('.').unwrap_or((v, "0"));
            let bad = || ApiError::BadRequest(format!("invalid value for {k}: {v:?}"));
            let secs: u128 = s.parse().map_err(|_| bad())?;
            let frac: u128 = format!("{f:0<9}")[..9].parse().map_err(|_| bad())?;
            Ok(Some(secs * 1_000_000_000 + frac))
        }
    }
}

fn matches(e: &Event, f: &Filters) -> bool {
    let j = &e.json;
    let attr = |k: &str| {
        j["Actor"]["Attributes"][k]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let id = j["Actor"]["ID"].as_str().unwrap_or("");
    let kind = j["Type"].as_str().unwrap_or("");
    let any =
        |k: &str, ok: &dyn Fn(&str) -> bool| f.get(k).is_empty() || f.get(k).iter().any(|v| ok(v));
    any("type", &|v| v == kind)
        && any("event", &|v| {
            // `exec_start: sh -c ...` and `health_status: healthy` match `exec_start`, `health_status`.
            let action = j["Action"].as_str().unwrap_or("");
            v == action || action.split_once(": ").is_some_and(|(a, _)| a == v)
        })
        && any("scope", &|v| j["scope"].as_str().unwrap_or("local") == v)
        // An object of that kind whose ID or name is the value or starts with it (dockerd's fuzzy
        // match); swarm's kinds never occur outside a swarm.
        && ["container", "volume", "network", "daemon", "plugin", "node", "service", "secret", "config"]
            .iter()
            .all(|&k| {
                any(k, &|v| {
                    kind == k && (id.starts_with(v) || attr("name").starts_with(v))
                })
            })
        && any("image", &|v| {
            attr("image") == v || (kind == "image" && (id == v || attr("name") == v))
        })
        && any("label", &|v| match v.split_once('=') {
            Some((k, val)) => attr(k) == val,
            None => !attr(v).is_empty(),
        })
}

/// The handler.
pub async fn events(d: &Arc<Daemon>, q: &Query) -> ApiResult<Resp> {
    let since = nanos(q, "since")?;
    let until = nanos(q, "until")?;
    let f = q.filters()?;
    f.only(&[
        "type",
        "event",
        "container",
        "image",
        "volume",
        "label",
        "network",
        "daemon",
        "plugin",
        "scope",
        "node",
        "service",
        "secret",
        "config",
    ])?;
    let (past, mut rx) = d.events.subscribe(since);
    let (tx, resp) = http::streamed(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let line = |e: &Event| Bytes::from(format!("{}\n", e.json));
        for e in past
            .iter()
            .filter(|e| until.is_none_or(|u| e.time_nano <= u))
        {
            if matches(e, &f) && tx.send(line(e)).await.is_err() {
                return;
            }
        }
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let left = match until {
                Some(u) if u <= now => return,
                Some(u) => Duration::from_nanos((u - now).min(u64::MAX as u128) as u64),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(e) => {
                        if matches(&e, &f) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = tokio::time::sleep(left) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}
