//! API errors: every handler returns [`ApiError`], turned into an HTTP status and Docker's
//! `{"message": "..."}` body in one place ([`ApiError::into_response`]).

use crate::http::{json_response, Resp};
use hyper::StatusCode;

/// An error as the Engine API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 401: a registry refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: forbidden by the object's nature (a predefined network, an overlapping pool).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such object (the message names it, as Docker's do).
    #[error("{0}")]
    NotFound(String),
    /// 409: the object is in a state that forbids the request.
    #[error("{0}")]
    Conflict(String),
    /// 304: nothing to do (container already started or stopped).
    #[error("not modified")]
    NotModified,
    /// 413: a request body larger than its endpoint takes.
    #[error("{0}")]
    TooLarge(String),
    /// 501: the feature is absent (e.g. reading logs of a driver that keeps none).
    #[error("{0}")]
    NotImplemented(String),
    /// 503: the feature needs a mode the daemon is not in (swarm).
    #[error("{0}")]
    Unavailable(String),
    /// 500: anything else.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for a 500 from any displayable error (the whole chain, once).
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }

    /// The same error with `context` before its message (dockerd's `errors.Wrap`: the status
    /// stays that of the cause).
    pub fn context(self, context: &str) -> ApiError {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            ApiError::BadRequest(m) => ApiError::BadRequest(wrap(m)),
            ApiError::Unauthorized(m) => ApiError::Unauthorized(wrap(m)),
            ApiError::Forbidden(m) => ApiError::Forbidden(wrap(m)),
            ApiError::NotFound(m) => ApiError::NotFound(wrap(m)),
            ApiError::Conflict(m) => ApiError::Conflict(wrap(m)),
            ApiError::NotModified => ApiError::NotModified,
            ApiError::TooLarge(m) => ApiError::TooLarge(wrap(m)),
            ApiError::NotImplemented(m) => ApiError::NotImplemented(wrap(m)),
            ApiError::Unavailable(m) => ApiError::Unavailable(wrap(m)),
            ApiError::Internal(m) => ApiError::Internal(wrap(m)),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotModified => StatusCode::NOT_MODIFIED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: status plus `{"message": ...}` (no body for 304).
    pub fn into_response(self) -> Resp {
        let status = self.status();
        if status == StatusCode::NOT_MODIFIED {
            let mut r = crate::http::empty(status);
            *r.status_mut() = status;
            return r;
        }
        json_response(status, &serde_json::json!({ "message": self.to_string() }))
    }
}

impl ApiError {
    /// A plugin's error, after what berthd was doing (`context`, may be empty): an unknown plugin is
    /// 404 (dockerd's "plugin \"x\" not found"), a plugin lacking the interface 400, and a plugin
    /// that is down, answers with an error or with garbage 500, its message kept whole.
    pub fn plugin(context: &str, e: berth_plugin::PluginError) -> ApiError {
        use berth_plugin::PluginError as E;
        let msg = if context.is_empty() {
            e.to_string()
        } else {
            format!("{context}: {e}")
        };
        match e {
            E::NotFound(_) => ApiError::NotFound(msg),
            E::NotImplemented { .. } | E::Disabled(_) => ApiError::BadRequest(msg),
            E::Unavailable { .. } | E::Remote { .. } | E::Protocol { .. } | E::BadSpec { .. } => {
                ApiError::Internal(msg)
            }
        }
    }
}

impl From<berth_plugin::authz::AuthzError> for ApiError {
    /// A denial is 403 with dockerd's "authorization denied by plugin NAME: MSG"; a plugin that
    /// cannot be asked fails the request closed, as dockerd does (500, "plugin NAME failed ...").
    fn from(e: berth_plugin::authz::AuthzError) -> Self {
        use berth_plugin::authz::AuthzError as E;
        match e {
            e @ E::Denied { .. } => ApiError::Forbidden(e.to_string()),
            e @ E::Failed { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<berth_image::image::ImageError> for ApiError {
    fn from(e: berth_image::image::ImageError) -> Self {
        use berth_image::image::ImageError as E;
        match e {
            E::NotFound(n) => crate::images::not_found(&n),
            E::Reference(r) => ApiError::BadRequest(r.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<berth_net::networks::NetError> for ApiError {
    fn from(e: berth_net::networks::NetError) -> Self {
        use berth_net::model::ModelError as M;
        use berth_net::networks::NetError as E;
        match e {
            E::Model(M::NotFound(n)) => ApiError::NotFound(format!("network {n} not found")),
            E::Model(e @ M::NameTaken(_)) => ApiError::Conflict(e.to_string()),
            E::Model(e @ (M::Predefined(_) | M::Overlap)) => ApiError::Forbidden(e.to_string()),
            E::Model(e @ (M::Invalid(_) | M::Unsupported(_) | M::NoPool)) => {
                ApiError::BadRequest(e.to_string())
            }
            E::Net(
                e @ (berth_net::Error::InUse(_)
                | berth_net::Error::NotInSubnet { .. }
                | berth_net::Error::Exhausted { .. }
                | berth_net::Error::BadMac(_)
                | berth_net::Error::BadAddress(_)
                | berth_net::Error::Unsupported(_)),
            ) => ApiError::BadRequest(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::volumes::local::LocalError> for ApiError {
    fn from(e: crate::volumes::local::LocalError) -> Self {
        use crate::volumes::local::LocalError as E;
        match e {
            E::InvalidKey(_) | E::Missing(_) | E::NoQuota | E::Invalid(_) => {
                ApiError::BadRequest(e.to_string())
            }
            E::Active => ApiError::Conflict(e.to_string()),
            E::Mount { .. } | E::Unmount { .. } => ApiError::internal(e),
        }
    }
}

/// Result of a handler.
impl From<berth_plugin::managed::ManagedError> for ApiError {
    fn from(e: berth_plugin::managed::ManagedError) -> Self {
        use berth_plugin::managed::ManagedError as E;
        match e {
            E::NotFound(_) => ApiError::NotFound(e.to_string()),
            E::AlreadyExists(_)
            | E::Enabled(_)
            | E::AlreadyEnabled(_)
            | E::AlreadyDisabled(_)
            | E::InUse { .. }
            | E::SetWhileEnabled => ApiError::Conflict(e.to_string()),
            E::BadName(_) | E::Config(_) => ApiError::BadRequest(e.to_string()),
            E::Start { .. } | E::Io { .. } => ApiError::internal(e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ApiError::NotFound("x".into()).status(), 404);
        assert_eq!(ApiError::Conflict("x".into()).status(), 409);
        assert_eq!(ApiError::BadRequest("x".into()).status(), 400);
    }

    #[test]
    fn managed_plugin_errors() {
        use berth_plugin::managed::ManagedError as E;
        assert_eq!(ApiError::from(E::NotFound("vp".into())).status(), 404);
        assert_eq!(ApiError::from(E::Enabled("vp:latest".into())).status(), 409);
        assert_eq!(ApiError::from(E::SetWhileEnabled).status(), 409);
        assert_eq!(ApiError::from(E::BadName("A B".into())).status(), 400);
        let e = ApiError::from(E::Enabled("vp:latest".into()));
        assert_eq!(e.to_string(), "plugin vp:latest is enabled");
    }

    #[test]
    fn plugin_errors_map_to_dockers_statuses() {
        use berth_plugin::authz::AuthzError;
        use berth_plugin::PluginError as P;
        let e = ApiError::plugin("error looking up volume plugin x", P::NotFound("x".into()));
        assert_eq!(e.status(), 404);
        assert_eq!(
            e.to_string(),
            "error looking up volume plugin x: plugin \"x\" not found"
        );
        let down = || P::Unavailable {
            name: "x".into(),
            method: "VolumeDriver.Get".into(),
            msg: "connection refused".into(),
        };
        assert_eq!(ApiError::plugin("get v", down()).status(), 500);
        let denied = ApiError::from(AuthzError::Denied {
            plugin: "az".into(),
            msg: "no".into(),
        });
        assert_eq!(denied.status(), 403);
        assert_eq!(denied.to_string(), "authorization denied by plugin az: no");
        let failed = ApiError::from(AuthzError::Failed {
            plugin: "az".into(),
            method: "AuthZPlugin.AuthZReq",
            source: down(),
        });
        assert_eq!(failed.status(), 500, "fails closed");
    }
}
