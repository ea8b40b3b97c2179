//! The `authz` interface: `AuthZPlugin.AuthZReq` before the daemon handles a request and
//! `AuthZPlugin.AuthZRes` before it answers, through a chain of plugins that must all allow.
//! Field names are dockerd's (`pkg/authorization/api.go`); bodies travel base64-encoded.

use crate::{PluginError, Plugins, AUTHZ};
use base64::Engine;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// The most of a request or response body sent to the plugins (dockerd: 1 MiB); larger bodies,
/// and bodies that are not JSON, are not sent.
pub const MAX_BODY: usize = 1 << 20;

fn b64<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        None => s.serialize_none(),
    }
}

/// What the plugins are told about a request (and, for `AuthZRes`, its response).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Request {
    /// The authenticated user (TLS client certificate's common name), if any.
    #[serde(rename = "User", skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// How the user was authenticated (`TLS`), if at all.
    #[serde(rename = "UserAuthNMethod", skip_serializing_if = "String::is_empty")]
    pub user_authn_method: String,
    /// HTTP method.
    #[serde(rename = "RequestMethod", skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// The request URI as sent (path with the API version, and the query).
    #[serde(rename = "RequestUri", skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// The body, for JSON bodies up to [`MAX_BODY`].
    #[serde(
        rename = "RequestBody",
        serialize_with = "b64",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<Vec<u8>>,
    /// Request headers, one value each.
    #[serde(rename = "RequestHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The response's status (AuthZRes only).
    #[serde(rename = "ResponseStatusCode", skip_serializing_if = "is_zero")]
    pub response_status: u16,
    /// The response's body, for JSON bodies up to [`MAX_BODY`] (AuthZRes only).
    #[serde(
        rename = "ResponseBody",
        serialize_with = "b64",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_body: Option<Vec<u8>>,
    /// The response's headers (AuthZRes only).
    #[serde(rename = "ResponseHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// A plugin's verdict.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Verdict {
    allow: bool,
    msg: String,
}

/// Why a request was not let through.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// A plugin said no (dockerd's wording; the client sees 403).
    #[error("authorization denied by plugin {plugin}: {msg}")]
    Denied { plugin: String, msg: String },
    /// A plugin could not be asked, or answered with an error: the request is denied too.
    #[error("plugin {plugin} failed with error: {method}: {source}")]
    Failed {
        plugin: String,
        method: &'static str,
        source: PluginError,
    },
}

/// Whether a body with this content type is sent to the plugins (JSON only, as dockerd).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn ask(
    plugins: &Plugins,
    chain: &[String],
    method: &'static str,
    req: &Request,
) -> Result<(), AuthzError> {
    for name in chain {
        let failed = |source| AuthzError::Failed {
            plugin: name.clone(),
            method,
            source,
        };
        let p = plugins.get(name, AUTHZ).await.map_err(failed)?;
        let t = plugins.settings().short_timeout;
        let v: Verdict = p.client.call(method, Some(req), t).await.map_err(failed)?;
        if !v.allow {
            return Err(AuthzError::Denied {
                plugin: name.clone(),
                msg: v.msg,
            });
        }
    }
    Ok(())
}

/// Ask every plugin of `chain` about a request (`AuthZReq`); all must allow.
pub async fn authorize_request(
    plugins: &Plugins,
    chain: &[String],
    req: &Request,
) -> Result<(), AuthzError> {
    ask(plugins, chain, "AuthZPlugin.AuthZReq", req).await
}

/// Ask every plugin of `chain` about the response to a request (`AuthZRes`); all must allow.
pub async fn authorize_response(
    plugins: &Plugins,
    chain: &[String],
    req: &Request,
) -> Result<(), AuthzError> {
    ask(plugins, chain, "AuthZPlugin.AuthZRes", req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::FakeTransport;
    use std::sync::Arc;

    #[test]
    fn request_fields_are_dockerds() {
        let r = Request {
            method: "POST".into(),
            uri: "/v1.47/containers/create?name=x".into(),
            body: Some(b"{\"Image\":\"busybox\"}".to_vec()),
            headers: BTreeMap::from([("Content-Type".into(), "application/json".into())]),
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["RequestMethod"], "POST");
        assert_eq!(v["RequestUri"], "/v1.47/containers/create?name=x");
        assert_eq!(v["RequestBody"], "eyJJbWFnZSI6ImJ1c3lib3gifQ==");
        assert_eq!(v["RequestHeaders"]["Content-Type"], "application/json");
        assert!(v.get("User").is_none() && v.get("ResponseStatusCode").is_none());
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(!is_json(Some("application/x-tar")) && !is_json(None));
    }

    #[tokio::test]
    async fn every_plugin_of_the_chain_must_allow() {
        let t = tempfile::tempdir().unwrap();
        for n in ["a", "b"] {
            std::fs::write(t.path().join(format!("{n}.spec")), "tcp://127.0.0.1:1").unwrap();
        }
        let (fa, fb) = (FakeTransport::default(), FakeTransport::default());
        for f in [&fa, &fb] {
            f.answer("/Plugin.Activate", 200, r#"{"Implements":["authz"]}"#);
        }
        fa.answer("/AuthZPlugin.AuthZReq", 200, r#"{"Allow":true}"#);
        fb.answer(
            "/AuthZPlugin.AuthZReq",
            200,
            r#"{"Allow":false,"Msg":"no exec"}"#,
        )
        .answer("/AuthZPlugin.AuthZRes", 200, r#"{"Err":"broken"}"#);
        let (a2, b2) = (fa.clone(), fb.clone());
        let plugins = Plugins::with_transport(
            vec![t.path().to_path_buf()],
            crate::Settings::default(),
            Box::new(move |addr| {
                let _ = addr;
                // Both specs point at the same address; hand out a and b in turn.
                if a2.paths().is_empty() {
                    Arc::new(a2.clone())
                } else {
                    Arc::new(b2.clone())
                }
            }),
        );
        let chain = vec!["a".to_string(), "b".to_string()];
        let e = authorize_request(&plugins, &chain, &Request::default())
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "authorization denied by plugin b: no exec");
        let e = authorize_response(&plugins, &chain[1..], &Request::default())
            .await
            .unwrap_err();
        assert!(matches!(e, AuthzError::Failed { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "plugin b failed with error: AuthZPlugin.AuthZRes: broken"
        );
    }
}
