//! The RBAC vcproxy keeps upstream for each tenant, so that a tenant's users
//! start with nothing and its admins have a cluster.
//!
//! - In every tenant namespace, RoleBinding `vcproxy-tenant-admin` gives the
//!   tenant's `cluster-admins` group the ClusterRole `admin` there.
//! - Each tenant has one **cluster-scope namespace**, `vcproxy-cluster-<tenant>`.
//!   No tenant request ever addresses it (`mapping` never yields a name of that
//!   form, and it has no tenant label, so it is not one of the tenant's
//!   namespaces). It holds the tenant's cluster-wide grants: vcproxy asks the
//!   super apiserver's RBAC there about the cluster-level things it serves
//!   itself (`authz.rs`). Its RoleBinding gives `cluster-admins` the ClusterRole
//!   `cluster-admin`, which means "every cluster-level right vcproxy serves"
//!   because only access reviews are ever evaluated in it.
//!
//! - The tenant's CRDs are served by vcproxy, but the super apiserver's RBAC
//!   still decides about them (access reviews), and it lets nobody create a
//!   Role granting rights they do not hold. So the ClusterRole
//!   `vcproxy:tenant-crds:<tenant>` grants everything on the tenant's CRD
//!   groups, and RoleBinding `vcproxy-tenant-crds` gives it to `cluster-admins`
//!   in every tenant namespace; [`keep_crd_roles`] follows the tenant's CRDs.
//!   Requests in those groups never reach the super apiserver (the route
//!   sends them to vcproxy's CRD store, or 404), so the grant reaches nothing
//!   there even if a group of the same name appears upstream.
//!
//! Upgrade: namespaces made before users had groups bind the tenant's
//! all-users group; [`upgrade_admin_bindings`] rebinds them to `cluster-admins`
//! once at start (users from then, whose records had no groups, are in
//! `cluster-admins`, so nobody loses a right).

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::mapping;
use crate::metrics::Metrics;
use crate::subjects;
use crate::tenants::ADMINS_GROUP;
use crate::upstream::{self, proxy_json, Upstream};

/// Name of the RoleBinding that makes the tenant's admins admin of a namespace.
pub const ADMIN_BINDING: &str = "vcproxy-tenant-admin";
/// Name of the RoleBinding that gives the tenant's admins its CRD groups in a namespace.
pub const CRD_BINDING: &str = "vcproxy-tenant-crds";
/// Label on the cluster-scope namespace: which tenant's it is.
pub const CLUSTER_SCOPE_LABEL: &str = "vcproxy.io/cluster-scope-of";
const CLUSTER_SCOPE_PREFIX: &str = "vcproxy-cluster-";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// The tenant's cluster-scope namespace. Tenant names never start with
/// `vcproxy-` and virtual namespaces map to `<tenant>--…` or `<tenant>-h-…`,
/// so this name is nobody's namespace but this tenant's grants.
pub fn cluster_scope_namespace(tenant: &str) -> String {
    format!("{CLUSTER_SCOPE_PREFIX}{tenant}")
}

fn admins_subjects(tenant: &str) -> Value {
    json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": subjects::group_to_super(tenant, ADMINS_GROUP)}])
}

/// The ClusterRole that grants everything on the tenant's CRD groups.
pub fn crd_role(tenant: &str) -> String {
    format!("vcproxy:tenant-crds:{tenant}")
}

fn binding(tenant: &str, super_ns: &str, cluster_role: &str) -> Value {
    let name = if cluster_role == crd_role(tenant) { CRD_BINDING } else { ADMIN_BINDING };
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": super_ns, "labels": {mapping::TENANT_LABEL: tenant}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": admins_subjects(tenant),
    })
}

/// Creates (or confirms) the RoleBindings that make the tenant's admins admin of `super_ns`
/// and of the tenant's CRDs there. An existing binding is left as the tenant has it.
pub async fn ensure_admin_binding(
    upstream: &Upstream,
    metrics: &Metrics,
    tenant: &str,
    super_ns: &str,
) -> Result<(), ApiError> {
    let path = format!("{RBAC}/namespaces/{super_ns}/rolebindings");
    for role in ["admin".to_string(), crd_role(tenant)] {
        let (status, body) =
            proxy_json(upstream, metrics, Method::POST, &path, Some(&binding(tenant, super_ns, &role))).await?;
        if !(status.is_success() || status == StatusCode::CONFLICT) {
            return Err(ApiError::bad_gateway(format!(
                "creating the tenant's RoleBinding in {super_ns} failed ({status}): {}",
                String::from_utf8_lossy(&body)
            )));
        }
    }
    Ok(())
}

/// Applies the tenant's CRD ClusterRole for `groups`.
pub async fn apply_crd_role(
    upstream: &Upstream,
    metrics: &Metrics,
    tenant: &str,
    groups: &std::collections::BTreeSet<String>,
) -> Result<(), ApiError> {
    let rules =
        if groups.is_empty() { json!([]) } else { json!([{"apiGroups": groups, "resources": ["*"], "verbs": ["*"]}]) };
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": crd_role(tenant), "labels": {mapping::TENANT_LABEL: tenant}},
        "rules": rules,
    });
    upstream::apply(upstream, metrics, &format!("{RBAC}/clusterroles/{}", crd_role(tenant)), &role).await
}

/// Keeps every tenant's CRD ClusterRole equal to its CRD groups, checking twice a second.
pub async fn keep_crd_roles(
    upstream: std::sync::Arc<Upstream>,
    metrics: std::sync::Arc<Metrics>,
    crds: std::sync::Arc<crate::crd::index::CrdIndex>,
) {
    let mut applied: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if !crds.is_ready() {
            continue;
        }
        let now = crds.groups_by_tenant();
        let gone: Vec<String> = applied.keys().filter(|t| !now.contains_key(*t)).cloned().collect();
        let changes = now
            .iter()
            .filter(|(t, g)| applied.get(*t) != Some(g))
            .map(|(t, g)| (t.clone(), g.clone()))
            .chain(gone.into_iter().map(|t| (t, Default::default())));
        for (tenant, groups) in changes.collect::<Vec<_>>() {
            match apply_crd_role(&upstream, &metrics, &tenant, &groups).await {
                Ok(()) if groups.is_empty() => {
                    applied.remove(&tenant);
                }
                Ok(()) => {
                    applied.insert(tenant, groups);
                }
                Err(e) => tracing::warn!(tenant, error = %e.message, "updating the tenant's CRD role; retrying"),
            }
        }
    }
}

/// Creates (or repairs) the tenant's cluster-scope namespace and its admins binding.
pub async fn ensure_cluster_scope(upstream: &Upstream, metrics: &Metrics, tenant: &str) -> Result<(), ApiError> {
    let ns = cluster_scope_namespace(tenant);
    let namespace = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": {CLUSTER_SCOPE_LABEL: tenant, "app.kubernetes.io/managed-by": "vcproxy"}},
    });
    upstream::apply(upstream, metrics, &format!("/api/v1/namespaces/{ns}"), &namespace).await?;
    let path = format!("{RBAC}/namespaces/{ns}/rolebindings/{ADMIN_BINDING}");
    upstream::apply(upstream, metrics, &path, &binding(tenant, &ns, "cluster-admin")).await?;
    // What the escalation checks of tenant ClusterRoles and bindings ask as (`cluster_rbac::escalation`).
    for (name, role, group) in crate::cluster_rbac::escalation::scope_bindings() {
        let helper = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns, "labels": {mapping::TENANT_LABEL: tenant}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        });
        upstream::apply(upstream, metrics, &format!("{RBAC}/namespaces/{ns}/rolebindings/{name}"), &helper).await?;
    }
    Ok(())
}

/// Deletes the tenant's cluster-scope namespace, CRD ClusterRole and the ClusterRoles made
/// from its own (tenant deletion).
pub async fn delete_cluster_scope(upstream: &Upstream, metrics: &Metrics, tenant: &str) -> Result<(), ApiError> {
    crate::cluster_rbac::materialize::delete_all(upstream, metrics, tenant).await?;
    let paths = [
        format!("/api/v1/namespaces/{}", cluster_scope_namespace(tenant)),
        format!("{RBAC}/clusterroles/{}", crd_role(tenant)),
    ];
    for path in paths {
        let (status, body) = proxy_json(upstream, metrics, Method::DELETE, &path, None).await?;
        if !(status.is_success() || status == StatusCode::NOT_FOUND) {
            return Err(ApiError::bad_gateway(format!(
                "deleting {path} failed ({status}): {}",
                String::from_utf8_lossy(&body)
            )));
        }
    }
    Ok(())
}

/// True if `subjects` is exactly the binding of a namespace made before users
/// had groups: the tenant's all-users group.
fn is_legacy_admin_binding(tenant: &str, binding: &Value) -> bool {
    let all_users = subjects::all_users_group(tenant);
    binding["roleRef"]["name"] == "admin"
        && binding["subjects"].as_array().is_some_and(|s| {
            s.len() == 1 && s[0]["kind"] == "Group" && s[0]["name"].as_str() == Some(all_users.as_str())
        })
}

/// Rebinds every legacy `vcproxy-tenant-admin` binding to the tenant's admins,
/// and makes sure every tenant in `tenants` has its cluster-scope namespace.
/// Idempotent; every replica runs it at start.
pub async fn upgrade(upstream: &Upstream, metrics: &Metrics, tenants: &[String]) -> Result<usize, ApiError> {
    for tenant in tenants {
        ensure_cluster_scope(upstream, metrics, tenant).await?;
    }
    let path = format!("{RBAC}/rolebindings?fieldSelector=metadata.name%3D{ADMIN_BINDING}");
    let (status, body) = proxy_json(upstream, metrics, Method::GET, &path, None).await?;
    if status != StatusCode::OK {
        return Err(ApiError::bad_gateway(format!("listing tenant admin bindings: {status}")));
    }
    let list: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
    let mut rebound = 0;
    for item in list["items"].as_array().into_iter().flatten() {
        let super_ns = item["metadata"]["namespace"].as_str().unwrap_or_default();
        let Some(tenant) = item["metadata"]["labels"][mapping::TENANT_LABEL].as_str() else { continue };
        // The label alone proves nothing; the namespace's name must be the tenant's too.
        let named_for_tenant = match mapping::parse_super(super_ns) {
            Some(mapping::Parsed::Short { tenant: t, .. } | mapping::Parsed::Long { tenant: t }) => t == tenant,
            None => false,
        };
        if !named_for_tenant {
            continue;
        }
        // Namespaces made before the CRD binding existed get it (409 if they have it).
        let create = format!("{RBAC}/namespaces/{super_ns}/rolebindings");
        let crd_binding = binding(tenant, super_ns, &crd_role(tenant));
        let (status, _) = proxy_json(upstream, metrics, Method::POST, &create, Some(&crd_binding)).await?;
        if !(status.is_success() || status == StatusCode::CONFLICT) {
            return Err(ApiError::bad_gateway(format!("creating {CRD_BINDING} in {super_ns}: {status}")));
        }
        if !is_legacy_admin_binding(tenant, item) {
            continue;
        }
        let path = format!("{RBAC}/namespaces/{super_ns}/rolebindings/{ADMIN_BINDING}");
        upstream::apply(upstream, metrics, &path, &binding(tenant, super_ns, "admin")).await?;
        rebound += 1;
    }
    Ok(rebound)
}

/// Runs [`upgrade`] for the registry's tenants once it has loaded, retrying
/// with back-off until it succeeds.
pub async fn keep_upgrading(
    upstream: std::sync::Arc<Upstream>,
    metrics: std::sync::Arc<Metrics>,
    registry: std::sync::Arc<crate::tenants::Registry>,
) {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        if registry.is_ready() {
            match upgrade(&upstream, &metrics, &registry.tenant_names()).await {
                Ok(rebound) => {
                    tracing::info!(rebound, "tenant RBAC in place");
                    return;
                }
                Err(e) => tracing::warn!(error = %e.message, "setting up tenant RBAC; retrying"),
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_scope_namespace_is_no_tenant_namespace() {
        let ns = cluster_scope_namespace("acme");
        assert_eq!(ns, "vcproxy-cluster-acme");
        assert_eq!(mapping::parse_super(&ns), None);
        assert!(crate::tenants::validate_tenant_name("vcproxy-cluster").is_err());
        let longest = cluster_scope_namespace(&"a".repeat(crate::tenants::MAX_TENANT_NAME));
        assert!(longest.len() <= mapping::MAX_NAMESPACE_LEN);
    }

    #[test]
    fn only_the_all_users_binding_is_legacy() {
        let legacy = binding("acme", "acme--default", "admin");
        assert!(!is_legacy_admin_binding("acme", &legacy));
        let mut old = legacy.clone();
        old["subjects"] = json!([{"kind": "Group", "name": "vcproxy:tenant:acme"}]);
        assert!(is_legacy_admin_binding("acme", &old));
        assert!(!is_legacy_admin_binding("globex", &old));
        old["subjects"] = json!([{"kind": "Group", "name": "vcproxy:tenant:acme"}, {"kind": "User", "name": "x"}]);
        assert!(!is_legacy_admin_binding("acme", &old), "a binding the tenant changed is left alone");
    }
}
