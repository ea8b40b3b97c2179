//! Authorization plugins (`--authorization-plugin NAME`, repeatable): every API request is put to
//! the chain (`AuthZReq`) before it is routed, and its response (`AuthZRes`) before it is sent, as
//! dockerd does. Request bodies up to 1 MiB are read (also chunked ones, whose length is not
//! declared) and replayed to the handler; the JSON ones (by content type, or because they parse as
//! JSON whatever the type says) are sent base64-encoded. Larger bodies (archives, images) go unread
//! and unsent, as do the credentials of `/auth`.
//! Whole JSON responses up to 1 MiB are sent with `AuthZRes`; streamed and hijacked ones (logs
//! follow, events, attach, exec start) are authorized on their status and headers before the first
//! byte goes out. A plugin that says no gives 403 "authorization denied by plugin NAME: MSG"; one
//! that cannot be asked fails the request (closed).

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{ReqBody, Resp};
use berth_plugin::authz::{self, Request as AuthzRequest, MAX_BODY};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::HeaderMap;
use hyper::Request;
use std::collections::BTreeMap;

/// Go's canonical header spelling (`content-type` -> `Content-Type`), as dockerd's plugins see it.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn flat(h: &HeaderMap) -> BTreeMap<String, String> {
    h.iter()
        .map(|(k, v)| {
            (
                canonical(k.as_str()),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn content_type(h: &HeaderMap) -> Option<&str> {
    h.get("content-type").and_then(|v| v.to_str().ok())
}

fn replay(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// Read up to `limit` bytes of `body`: the bytes and, if the body is longer, the rest unread.
async fn read_prefix(mut body: ReqBody, limit: usize) -> ApiResult<(Bytes, Option<ReqBody>)> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        if let Ok(d) = frame.into_data() {
            out.extend_from_slice(&d);
            if out.len() > limit {
                return Ok((out.freeze(), Some(body)));
            }
        }
    }
    Ok((out.freeze(), None))
}

/// The bytes already read, then the rest of the body as it comes.
fn chain(prefix: Bytes, rest: ReqBody) -> ReqBody {
    use tokio_stream::StreamExt;
    let head = tokio_stream::once(Ok::<_, hyper::Error>(hyper::body::Frame::data(prefix)));
    let tail = http_body_util::BodyStream::new(rest);
    http_body_util::StreamBody::new(head.chain(tail)).boxed()
}

/// `AuthZReq` for `req`: on allow, the request to route (its body replayed if it was read) and what
/// `AuthZRes` will carry of it.
pub async fn check_request(
    d: &Daemon,
    req: Request<ReqBody>,
) -> ApiResult<(Request<ReqBody>, AuthzRequest)> {
    let (parts, body) = req.into_parts();
    let mut a = AuthzRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: flat(&parts.headers),
        ..Default::default()
    };
    // Read whatever fits the limit, whatever the declared length or type says (a chunked body, or
    // JSON sent under another content type, must not slip past the plugins unread); forward it if it
    // is JSON. A larger body goes unread and unsent, as with dockerd.
    let declared = body.size_hint().exact();
    let body =
        if parts.uri.path().ends_with("/auth") || declared.is_some_and(|n| n > MAX_BODY as u64) {
            body
        } else {
            let (prefix, rest) = read_prefix(body, MAX_BODY).await?;
            let json = authz::is_json(content_type(&parts.headers))
                || serde_json::from_slice::<serde::de::IgnoredAny>(&prefix).is_ok();
            if rest.is_none() && json && !prefix.is_empty() {
                a.body = Some(prefix.to_vec());
            }
            match rest {
                None => replay(prefix),
                Some(rest) => chain(prefix, rest),
            }
        };
    authz::authorize_request(&d.plugins, &d.cfg.authz, &a).await?;
    Ok((Request::from_parts(parts, body), a))
}

/// `AuthZRes` for the response `resp` to the request `a` describes; on deny, the error to send instead.
pub async fn check_response(d: &Daemon, mut a: AuthzRequest, resp: Resp) -> ApiResult<Resp> {
    a.response_status = resp.status().as_u16();
    a.response_headers = flat(resp.headers());
    let whole = resp
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_BODY as u64);
    let resp = if whole && authz::is_json(content_type(resp.headers())) {
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map_err(ApiError::internal)?.to_bytes();
        a.response_body = Some(bytes.to_vec());
        Resp::from_parts(
            parts,
            Full::new(bytes).map_err(|never| match never {}).boxed(),
        )
    } else {
        resp
    };
    authz::authorize_response(&d.plugins, &d.cfg.authz, &a).await?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_are_gos() {
        assert_eq!(super::canonical("content-type"), "Content-Type");
        assert_eq!(super::canonical("x-registry-auth"), "X-Registry-Auth");
        assert_eq!(super::canonical("host"), "Host");
    }
}
