//! The identity vcproxy's own filtered reads run as: read-only, nothing else.
//!
//! Lists and watches across namespaces (and reads of the cluster-scoped kinds tenants may
//! see) go upstream as vcproxy, because no tenant has cluster-wide rights, and the rewriter
//! drops whatever is not the tenant's. Those reads impersonate `vcproxy:filtered-reader`,
//! whose only RBAC is get/list/watch, rather than using the proxy's own (cluster-admin)
//! identity: a future slip in the filter could then leak reads, but never write, escalate,
//! exec or impersonate.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::upstream::Upstream;

/// The user the filtered reads impersonate.
pub const USER: &str = "vcproxy:filtered-reader";
/// Name of its ClusterRole and ClusterRoleBinding.
const ROLE: &str = "vcproxy:filtered-reader";

/// Stamps the reader's identity; inbound identity headers must already be stripped.
pub fn stamp(headers: &mut HeaderMap) {
    headers.insert(HeaderName::from_static("impersonate-user"), HeaderValue::from_static(USER));
}

/// [`ensure`] at start, retried until the super apiserver answers (filtered reads get its
/// 403 until then).
pub async fn keep_ensuring(upstream: std::sync::Arc<Upstream>, metrics: std::sync::Arc<Metrics>) {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match ensure(&upstream, &metrics).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "setting up the filtered-reader identity; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

/// Creates or updates the reader's ClusterRole and ClusterRoleBinding (server-side apply, so
/// every replica may run it at every start).
pub async fn ensure(upstream: &Upstream, metrics: &Metrics) -> Result<(), ApiError> {
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": ROLE, "labels": {"app.kubernetes.io/managed-by": "vcproxy"}},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": ROLE, "labels": {"app.kubernetes.io/managed-by": "vcproxy"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    });
    for (path, body) in [(format!("{rbac}/clusterroles/{ROLE}"), role), (format!("{rbac}/clusterrolebindings/{ROLE}"), binding)] {
        let (status, answer) = apply(upstream, metrics, &path, &body).await?;
        if !status.is_success() {
            return Err(ApiError::bad_gateway(format!(
                "creating {path} for vcproxy's filtered reads failed ({status}): {}",
                String::from_utf8_lossy(&answer)
            )));
        }
    }
    Ok(())
}

/// Server-side apply of `body` at `path`, as vcproxy.
async fn apply(
    upstream: &Upstream,
    metrics: &Metrics,
    path: &str,
    body: &serde_json::Value,
) -> Result<(http::StatusCode, bytes::Bytes), ApiError> {
    use http_body_util::BodyExt;
    let req = http::Request::patch(upstream.uri(&format!("{path}?fieldManager=vcproxy&force=true"))?)
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .header(http::header::ACCEPT, "application/json")
        .body(crate::body::full(serde_json::to_vec(body).map_err(|e| ApiError::internal(e.to_string()))?))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = upstream.send(req, metrics).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await.map_err(|e| ApiError::bad_gateway(e.to_string()))?.to_bytes();
    Ok((status, bytes))
}
