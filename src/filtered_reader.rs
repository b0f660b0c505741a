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

/// Applies the reader's RBAC at start, retried until the super apiserver takes it (filtered
/// reads get its 403 until then).
pub async fn keep_ensuring(upstream: std::sync::Arc<Upstream>, metrics: std::sync::Arc<Metrics>) {
    crate::upstream::keep_applying("the filtered-reader identity", &upstream, &metrics, objects()).await
}

/// The reader's ClusterRole and ClusterRoleBinding, as (path, object) to server-side apply.
fn objects() -> Vec<(String, serde_json::Value)> {
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
    vec![(format!("{rbac}/clusterroles/{ROLE}"), role), (format!("{rbac}/clusterrolebindings/{ROLE}"), binding)]
}
