//! Routing: what vcproxy does with an authenticated, parsed tenant request.
//!
//! Deny by default. A tenant reaches the super apiserver only through a route
//! listed here; anything else gets a 403 `Status`, never an unfiltered
//! passthrough. Namespaced objects join once the virtual-view rewriting exists.

use crate::error::ApiError;
use crate::request_info::{RequestInfo, Verb};

#[derive(Debug)]
pub enum Route {
    /// Forward to the super apiserver, impersonating the tenant.
    Upstream,
}

pub fn route(info: &RequestInfo) -> Result<Route, ApiError> {
    if !info.is_resource_request {
        return if is_discovery_path(&info.segments) { Ok(Route::Upstream) } else { Err(not_served(info)) };
    }
    match (info.api_group.as_str(), info.resource.as_str(), info.verb) {
        // `kubectl auth whoami`: answered by the apiserver for the impersonated identity.
        ("authentication.k8s.io", "selfsubjectreviews", Verb::Create) if info.subresource.is_none() => {
            Ok(Route::Upstream)
        }
        _ => Err(not_served(info)),
    }
}

/// Version, discovery and OpenAPI documents.
fn is_discovery_path(segments: &[String]) -> bool {
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(
        segments.as_slice(),
        ["version"]
            | ["api"]
            | ["api", "v1"]
            | ["apis"]
            | ["apis", _]
            | ["apis", _, _]
            | ["openapi", "v2"]
            | ["openapi", "v3"]
    ) || (segments.len() > 2 && segments[0] == "openapi" && segments[1] == "v3")
}

fn not_served(info: &RequestInfo) -> ApiError {
    let what = if info.is_resource_request {
        let group = if info.api_group.is_empty() { "core".to_string() } else { info.api_group.clone() };
        format!("{} {} (group {group})", info.verb.as_str(), info.resource)
    } else {
        format!("{} {}", info.verb.as_str(), info.path)
    };
    ApiError::forbidden(format!(
        "vcproxy does not serve {what} to tenants; only version, discovery, OpenAPI and selfsubjectreviews are available"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_info::parse;
    use http::Method;

    fn routed(method: Method, path: &str) -> bool {
        let info = parse(&method, path, None).expect("valid path");
        route(&info).is_ok()
    }

    #[test]
    fn serves_discovery_and_whoami_only() {
        for p in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/openapi/v2",
            "/openapi/v3",
            "/openapi/v3/api/v1",
        ] {
            assert!(routed(Method::GET, p), "{p} should be served");
        }
        assert!(routed(Method::POST, "/apis/authentication.k8s.io/v1/selfsubjectreviews"));
    }

    #[test]
    fn denies_everything_else() {
        for (m, p) in [
            (Method::GET, "/api/v1/namespaces"),
            (Method::GET, "/api/v1/namespaces/kube-system/secrets"),
            (Method::GET, "/api/v1/nodes"),
            (Method::GET, "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
            (Method::POST, "/api/v1/namespaces/default/pods"),
            (Method::GET, "/healthz"),
            (Method::GET, "/metrics"),
            (Method::GET, "/logs"),
            (Method::GET, "/"),
            (Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews"),
        ] {
            assert!(!routed(m.clone(), p), "{m} {p} must be denied");
        }
    }
}
