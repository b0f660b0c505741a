//! Errors that reach a client, as Kubernetes `metav1.Status` objects.
//!
//! Every rejection vcproxy makes itself is one of these, so kubectl and client
//! libraries print a useful message instead of choking on plain text. `Fault`
//! records who is to blame (as pingora does): the client (4xx), the upstream
//! apiserver or etcd (502/503/504), or vcproxy itself (500).

use bytes::Bytes;
use http::{header, Response, StatusCode};
use serde_json::json;

use crate::body::{full, ProxyBody};

/// Who caused an error; decides the status family and the log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Downstream,
    Upstream,
    Internal,
}

/// An error that is answered with a `metav1.Status`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: StatusCode,
    /// `metav1.StatusReason`, e.g. `Forbidden`, `NotFound`, `BadRequest`.
    pub reason: &'static str,
    pub message: String,
    pub fault: Fault,
    /// `details.name` and `details.kind` (the resource), as kube-apiserver sets them.
    pub details: Option<(String, String)>,
    /// Seconds for `Retry-After` and `details.retryAfterSeconds` (429s).
    pub retry_after: Option<u64>,
    /// A complete Status body to send instead of the generated one.
    pub body: Option<serde_json::Value>,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>, fault: Fault) -> Self {
        ApiError { code, reason, message: message.into(), fault, details: None, retry_after: None, body: None }
    }

    pub fn with_details(mut self, name: &str, kind: &str) -> Self {
        self.details = Some((name.to_string(), kind.to_string()));
        self
    }

    /// The one 401 every authentication failure gets (unknown tenant, missing or
    /// wrong token): identical bytes, so callers cannot tell which it was.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized", Fault::Downstream)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message, Fault::Downstream)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message, Fault::Downstream)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message, Fault::Downstream)
    }
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message, Fault::Downstream)
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "vcproxy accepts JSON request bodies only; send Content-Type: application/json",
            Fault::Downstream,
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", message, Fault::Downstream)
    }
    pub fn conflict_exists(message: impl Into<String>, name: &str, kind: &str) -> Self {
        Self::new(StatusCode::CONFLICT, "AlreadyExists", message, Fault::Downstream).with_details(name, kind)
    }
    /// 410 for a watch or list from a compacted resourceVersion.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message, Fault::Downstream)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "Timeout", message, Fault::Upstream)
    }
    /// An error whose whole `metav1.Status` body is already built (e.g. 422
    /// Invalid with `details.causes`).
    pub fn from_status(status: serde_json::Value) -> Self {
        let code = status["code"]
            .as_u64()
            .and_then(|c| StatusCode::from_u16(c as u16).ok())
            .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let mut e =
            Self::new(code, "Invalid", status["message"].as_str().unwrap_or("invalid").to_string(), Fault::Downstream);
        e.body = Some(status);
        e
    }

    /// 429 with `Retry-After`; client-go backs off and retries on these.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message, Fault::Downstream);
        e.retry_after = Some(retry_after_secs);
        e
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message, Fault::Downstream)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message, Fault::Downstream)
    }
    pub fn new_unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", message, Fault::Downstream)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", message, Fault::Downstream)
    }
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "InternalError", message, Fault::Upstream)
    }
    /// 503 with `Retry-After: 1`: a part behind vcproxy is down for now, and client-go retries
    /// a 503 that says when.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message, Fault::Upstream);
        e.retry_after = Some(1);
        e
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message, Fault::Internal)
    }

    /// The `metav1.Status` JSON body.
    pub fn status_json(&self) -> Bytes {
        if let Some(body) = &self.body {
            return Bytes::from(serde_json::to_vec(body).expect("a Status always serialises"));
        }
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some((name, kind)) = &self.details {
            body["details"] = json!({ "name": name, "kind": kind });
        }
        if let Some(secs) = self.retry_after {
            body["details"]["retryAfterSeconds"] = json!(secs);
        }
        Bytes::from(serde_json::to_vec(&body).expect("a Status always serialises"))
    }

    /// The Status response; vcproxy wrote it, so it is vetted for the tenant.
    pub fn into_response(self) -> Response<ProxyBody> {
        let body = self.status_json();
        let mut builder = Response::builder().extension(crate::media::Vetted::Json).extension(crate::body::InMemory);
        if let Some(secs) = self.retry_after {
            builder = builder.header(header::RETRY_AFTER, secs);
        }
        builder
            .status(self.code)
            .header(header::CONTENT_TYPE, "application/json")
            .header("cache-control", "no-cache, private")
            .body(full(body))
            .expect("static headers are valid")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code.as_u16(), self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_is_a_status_object() {
        let v: serde_json::Value = serde_json::from_slice(&ApiError::unauthorized().status_json()).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["code"], 401);
        assert_eq!(v["reason"], "Unauthorized");
        assert_eq!(v["status"], "Failure");
    }

    #[test]
    fn message_is_escaped_json() {
        let e = ApiError::forbidden("quote \" and newline \n");
        let v: serde_json::Value = serde_json::from_slice(&e.status_json()).unwrap();
        assert_eq!(v["message"], "quote \" and newline \n");
    }
}
