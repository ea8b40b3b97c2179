//! HTTP plumbing shared by the handlers: body types, JSON responses, query strings, request bodies.

use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Request body: what the connection delivers, or (after an authorization plugin read it) the
/// bytes it read, replayed.
pub type ReqBody = BoxBody<Bytes, hyper::Error>;
/// Response body: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;
/// A response.
pub type Resp = Response<Body>;

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

/// A response with a whole body.
pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Content-Type", content_type.parse().expect("content type"));
    r
}

/// A JSON response.
pub fn json_response(status: StatusCode, v: &impl serde::Serialize) -> Resp {
    let mut body = match serde_json::to_value(v) {
        Ok(mut value) => {
            go_order(&mut value, None);
            serde_json::to_vec(&value).unwrap_or_else(|_| b"null".to_vec())
        }
        Err(_) => b"null".to_vec(),
    };
    body.push(b'\n');
    full(status, "application/json", body)
}

/// The fields of the Engine API that are Go maps (dockerd's encoding sorts their keys); the
/// other objects are Go structs, whose fields keep the order the handlers write them in (dockerd's
/// declaration order).
const GO_MAPS: &[&str] = &[
    "Labels",
    "Options",
    "DriverOpts",
    "Ports",
    "Networks",
    "ExposedPorts",
    "Volumes",
    "Sysctls",
    "StorageOpt",
    "Tmpfs",
    "Data",
    "Containers",
    "Status",
    "Attributes",
    "Runtimes",
    "IndexConfigs",
    "Annotations",
    "networks",
];

/// Give `v` dockerd's key order: the objects under a Go map's field (and `LogConfig.Config`)
/// sorted, as Go's JSON encoder writes maps; struct-like objects left in their order.
pub fn go_order(v: &mut serde_json::Value, parent: Option<&str>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if let serde_json::Value::Object(m) = child {
                    if GO_MAPS.contains(&k.as_str())
                        || (k == "Config" && parent == Some("LogConfig"))
                    {
                        m.sort_keys();
                    }
                }
                go_order(child, Some(k));
            }
        }
        serde_json::Value::Array(a) => {
            for child in a {
                go_order(child, parent);
            }
        }
        _ => {}
    }
}

/// 200 with JSON.
pub fn ok_json(v: &impl serde::Serialize) -> ApiResult<Resp> {
    Ok(json_response(StatusCode::OK, v))
}

/// A streamed response: the sender's chunks are written as they come (headers go out at once).
pub fn streamed(status: StatusCode, content_type: &str) -> (mpsc::Sender<Bytes>, Resp) {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    (tx, streamed_from(status, content_type, Vec::new(), rx))
}

/// A streamed response whose body is `first` (taken from `rx` already), then the rest of `rx`:
/// pieces at hand when the response is returned go out in the same write as the head (and the
/// body's end too when `rx` is closed already).
pub fn streamed_from(
    status: StatusCode,
    content_type: &str,
    first: Vec<Bytes>,
    rx: mpsc::Receiver<Bytes>,
) -> Resp {
    let rest = tokio_stream::wrappers::ReceiverStream::new(rx);
    let stream = tokio_stream::StreamExt::map(
        tokio_stream::StreamExt::chain(tokio_stream::iter(first), rest),
        |b| Ok::<_, std::io::Error>(Frame::data(b)),
    );
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Content-Type", content_type.parse().expect("content type"));
    r
}

/// A `Write` that feeds a streamed response from a blocking thread.
pub struct ChannelWriter(pub mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Query parameters; repeated keys keep every value.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    /// Parse a raw query string.
    pub fn parse(q: Option<&str>) -> Query {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            m.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(m)
    }

    /// First value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.first()).map(String::as_str)
    }

    /// All values.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0.get(k).cloned().unwrap_or_default()
    }

    /// A boolean as Docker reads them: `1`, `true`, `True` (and absent/empty/`0`/`false` = false).
    pub fn bool(&self, k: &str) -> bool {
        matches!(self.get(k), Some(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    /// An integer, 400 if it does not parse.
    pub fn int(&self, k: &str) -> ApiResult<Option<i64>> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("invalid value for {k}: {v:?}"))),
        }
    }

    /// The `filters` parameter: `{"name": {"value": true}}` (or the old `{"name": ["value"]}`).
    pub fn filters(&self) -> ApiResult<Filters> {
        let raw = match self.get("filters") {
            None | Some("") => return Ok(Filters::default()),
            Some(r) => r,
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::BadRequest(format!("invalid filter: {e}")))?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::BadRequest("invalid filter: not an object".into()))?;
        for (k, vals) in obj {
            let list = out.entry(k.clone()).or_default();
            match vals {
                serde_json::Value::Object(m) => list.extend(m.keys().cloned()),
                serde_json::Value::Array(a) => {
                    list.extend(a.iter().filter_map(|x| x.as_str().map(String::from)))
                }
                _ => return Err(ApiError::BadRequest(format!("invalid filter {k:?}"))),
            }
        }
        Ok(Filters(out))
    }
}

/// Parsed `filters`.
#[derive(Debug, Default)]
pub struct Filters(pub HashMap<String, Vec<String>>);

impl Filters {
    /// Values of one filter (empty if absent).
    pub fn get(&self, k: &str) -> &[String] {
        self.0.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Reject filters not in `known` (Docker answers 400 "invalid filter 'x'").
    pub fn only(&self, known: &[&str]) -> ApiResult<()> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::BadRequest(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }
}

/// The most a JSON body may hold: a container's configuration (`/containers/create`, `/commit`).
/// dockerd sets no limit; what a container can use is far smaller (its environment and command go
/// through `execve`, at most a few MiB), so anything bigger is refused before it is read.
pub const CONFIG_BODY_LIMIT: usize = 8 << 20;
/// The most the other JSON bodies may hold (exec, update, volumes, auth): 1 MiB.
pub const SMALL_BODY_LIMIT: usize = 1 << 20;

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "request body is too large: this endpoint takes at most {limit} bytes"
    ))
}

/// Read a whole request body of at most `limit` bytes: a larger declared length is refused before
/// reading any of it, a longer (chunked) stream as soon as it passes the limit; the rest is never read.
pub async fn body_bytes(mut body: ReqBody, limit: usize) -> ApiResult<Bytes> {
    use hyper::body::Body;
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large(limit));
    }
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        if let Some(d) = frame.data_ref() {
            if out.len() + d.len() > limit {
                return Err(too_large(limit));
            }
            out.extend_from_slice(d);
        }
    }
    Ok(out.freeze())
}

/// Parse a JSON request body of at most `limit` bytes (empty = `null` -> default of T when T allows).
pub async fn body_json<T: serde::de::DeserializeOwned>(
    body: ReqBody,
    limit: usize,
) -> ApiResult<T> {
    let b = body_bytes(body, limit).await?;
    let b: &[u8] = if b.iter().all(|c| c.is_ascii_whitespace()) {
        b"{}"
    } else {
        &b
    };
    serde_json::from_slice(b).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

/// Stream a request body into a file (image archives, rootfs tarballs).
pub async fn body_to_file(mut body: ReqBody, path: &std::path::Path) -> ApiResult<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        if let Some(d) = frame.data_ref() {
            f.write_all(d).await.map_err(ApiError::internal)?;
        }
    }
    f.flush().await.map_err(ApiError::internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The piece taken before the response was made comes first, then the rest in order.
    #[tokio::test]
    async fn a_streamed_body_starts_with_the_piece_at_hand() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        tx.send(Bytes::from_static(b"c")).await.unwrap();
        drop(tx);
        let r = streamed_from(
            StatusCode::OK,
            "text/plain",
            vec![Bytes::from_static(b"a")],
            rx,
        );
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"abc");
        let (_tx, rx) = mpsc::channel::<Bytes>(1);
        drop(_tx);
        let r = streamed_from(StatusCode::OK, "text/plain", Vec::new(), rx);
        assert!(r.into_body().collect().await.unwrap().to_bytes().is_empty());
    }

    #[test]
    fn query_and_filters() {
        let q = Query::parse(Some(
            "all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D&names=a&names=b",
        ));
        assert!(q.bool("all"));
        assert!(!q.bool("force"));
        assert_eq!(q.all("names"), vec!["a", "b"]);
        let f = q.filters().unwrap();
        assert_eq!(f.get("status"), ["exited".to_string()]);
        assert!(f.only(&["status"]).is_ok());
        assert!(f.only(&["label"]).is_err());
        let old = Query::parse(Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"));
        assert_eq!(old.filters().unwrap().get("label"), ["a=b".to_string()]);
    }
}
