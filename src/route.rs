//! Routing: what vcproxy does with an authenticated, parsed tenant request.
//!
//! Deny by default: a request reaches the super apiserver only through one of
//! the routes below; everything else is a 403 (or the 404 kube-apiserver would
//! give) as a `metav1.Status`, never an unfiltered passthrough.

use crate::discovery::Scope;
use crate::error::ApiError;
use crate::request_info::{RequestInfo, Verb};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Version, discovery, OpenAPI: forwarded as the tenant, unchanged.
    Discovery,
    /// The tenant's virtual namespaces (`namespaces` handler).
    Namespaces,
    /// A namespaced resource inside one of the tenant's namespaces: forwarded as
    /// the tenant, translated both ways.
    InNamespace,
    /// List or watch of a namespaced resource across all the tenant's namespaces
    /// (`kubectl get -A`): read as vcproxy, filtered to the tenant.
    AcrossNamespaces,
    /// Read of a cluster-scoped resource the operator lets tenants see.
    ClusterRead,
    /// `selfsubjectreviews`, `selfsubjectaccessreviews`, `selfsubjectrulesreviews`:
    /// about the caller, answered by vcproxy (`reviews.rs`).
    SelfReview,
    /// `subjectaccessreviews` and `localsubjectaccessreviews`: about a user or group of the
    /// tenant, answered by vcproxy (`reviews.rs`).
    AccessReview,
}

/// `scope` is what discovery says about `(api_group, resource)` when the request
/// names no namespace; `readonly` lists cluster-scoped resources (`resource` or
/// `resource.group`) tenants may read.
pub fn route(info: &RequestInfo, scope: Option<Scope>, readonly: &[String]) -> Result<Route, ApiError> {
    if !info.is_resource_request {
        return if is_discovery_path(&info.segments) { Ok(Route::Discovery) } else { Err(not_served(info)) };
    }
    let group = info.api_group.as_str();
    let resource = info.resource.as_str();
    if group.is_empty() && resource == "namespaces" {
        return Ok(Route::Namespaces);
    }
    if group == "authorization.k8s.io"
        && (resource == "localsubjectaccessreviews" && info.namespace.is_some()
            || resource == "subjectaccessreviews" && info.namespace.is_none())
    {
        return if info.verb == Verb::Create && info.subresource.is_none() {
            Ok(Route::AccessReview)
        } else {
            Err(ApiError::method_not_allowed(format!("only create is supported on {resource}")))
        };
    }
    if info.namespace.is_some() {
        return Ok(Route::InNamespace);
    }
    if is_self_review(group, resource) {
        return if info.verb == Verb::Create && info.subresource.is_none() {
            Ok(Route::SelfReview)
        } else {
            Err(ApiError::method_not_allowed(format!("only create is supported on {resource}")))
        };
    }
    match scope {
        Some(Scope::Namespaced) if matches!(info.verb, Verb::List | Verb::Watch) => Ok(Route::AcrossNamespaces),
        Some(Scope::Namespaced) => Err(ApiError::forbidden(format!(
            "{} {resource} across all namespaces is not allowed; name a namespace",
            info.verb.as_str()
        ))),
        Some(Scope::Cluster) if is_readonly(group, resource, readonly) => {
            if matches!(info.verb, Verb::Get | Verb::List | Verb::Watch) && info.subresource.is_none() {
                Ok(Route::ClusterRead)
            } else {
                Err(ApiError::forbidden(format!(
                    "{resource} is read-only for tenants: {} is not allowed on cluster-scoped resources",
                    info.verb.as_str()
                )))
            }
        }
        Some(Scope::Cluster) => Err(ApiError::forbidden(format!(
            "cluster-scoped resource {} is not available to tenants of vcproxy",
            qualified(group, resource)
        ))),
        None => Err(ApiError::not_found("the server could not find the requested resource")),
    }
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn is_readonly(group: &str, resource: &str, readonly: &[String]) -> bool {
    let q = qualified(group, resource);
    readonly.iter().any(|r| *r == q)
}

fn is_self_review(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        ("authentication.k8s.io", "selfsubjectreviews")
            | ("authorization.k8s.io", "selfsubjectaccessreviews")
            | ("authorization.k8s.io", "selfsubjectrulesreviews")
    )
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
    ApiError::forbidden(format!(
        "vcproxy does not serve {} {} to tenants; only the Kubernetes API (/api, /apis), /version and /openapi are available",
        info.verb.as_str(),
        info.path
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenancyConfig;
    use crate::request_info::parse;
    use http::Method;

    fn routed(method: Method, path: &str, scope: Option<Scope>) -> Result<Route, ApiError> {
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let info = parse(&method, path, query).expect("valid path");
        route(&info, scope, &TenancyConfig::default().cluster_scoped_readonly)
    }

    #[test]
    fn discovery_and_reviews() {
        for p in
            ["/version", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/openapi/v2", "/openapi/v3/api/v1"]
        {
            assert_eq!(routed(Method::GET, p, None).unwrap(), Route::Discovery, "{p}");
        }
        assert_eq!(
            routed(Method::POST, "/apis/authentication.k8s.io/v1/selfsubjectreviews", None).unwrap(),
            Route::SelfReview
        );
        assert_eq!(
            routed(Method::POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", None).unwrap(),
            Route::SelfReview
        );
        assert!(routed(Method::GET, "/apis/authentication.k8s.io/v1/selfsubjectreviews", None).is_err());
        assert_eq!(
            routed(Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews", None).unwrap(),
            Route::AccessReview
        );
        assert_eq!(
            routed(Method::POST, "/apis/authorization.k8s.io/v1/namespaces/dev/localsubjectaccessreviews", None)
                .unwrap(),
            Route::AccessReview
        );
        assert!(routed(Method::GET, "/apis/authorization.k8s.io/v1/subjectaccessreviews", None).is_err());
    }

    #[test]
    fn namespaced_and_cluster_scoped() {
        let ns = Some(Scope::Namespaced);
        let cl = Some(Scope::Cluster);
        assert_eq!(routed(Method::GET, "/api/v1/namespaces", None).unwrap(), Route::Namespaces);
        assert_eq!(routed(Method::DELETE, "/api/v1/namespaces/x", None).unwrap(), Route::Namespaces);
        assert_eq!(routed(Method::GET, "/api/v1/namespaces/x/pods", ns).unwrap(), Route::InNamespace);
        assert_eq!(routed(Method::GET, "/api/v1/pods", ns).unwrap(), Route::AcrossNamespaces);
        assert_eq!(routed(Method::GET, "/api/v1/pods?watch=1", ns).unwrap(), Route::AcrossNamespaces);
        assert_eq!(routed(Method::POST, "/api/v1/pods", ns).unwrap_err().code, 403);
        assert_eq!(routed(Method::DELETE, "/api/v1/pods", ns).unwrap_err().code, 403);
        assert_eq!(routed(Method::GET, "/api/v1/nodes", cl).unwrap(), Route::ClusterRead);
        assert_eq!(routed(Method::GET, "/api/v1/nodes/n1", cl).unwrap(), Route::ClusterRead);
        assert_eq!(routed(Method::DELETE, "/api/v1/nodes/n1", cl).unwrap_err().code, 403);
        assert_eq!(routed(Method::PATCH, "/api/v1/nodes/n1/status", cl).unwrap_err().code, 403);
        assert_eq!(routed(Method::GET, "/apis/storage.k8s.io/v1/storageclasses", cl).unwrap(), Route::ClusterRead);
        assert_eq!(
            routed(Method::POST, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", cl).unwrap_err().code,
            403
        );
        assert_eq!(routed(Method::GET, "/apis/rbac.authorization.k8s.io/v1/clusterroles", cl).unwrap_err().code, 403);
        assert_eq!(routed(Method::GET, "/api/v1/persistentvolumes", cl).unwrap_err().code, 403);
        assert_eq!(routed(Method::GET, "/apis/nope.io/v1/things", None).unwrap_err().code, 404);
    }

    #[test]
    fn non_api_paths_are_refused() {
        for p in ["/healthz", "/metrics", "/logs", "/", "/debug/pprof"] {
            assert_eq!(routed(Method::GET, p, None).unwrap_err().code, 403, "{p}");
        }
    }
}
