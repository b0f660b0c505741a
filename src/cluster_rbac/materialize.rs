//! Makes a tenant's stored ClusterRoles and ClusterRoleBindings effective in the
//! super apiserver, and keeps them so.
//!
//! For tenant `t`, role `R` and binding `B` (roleRef `R`):
//!
//! | upstream object                                   | holds                                                        |
//! |---------------------------------------------------|--------------------------------------------------------------|
//! | ClusterRole `vcproxy-cluster:t:R`                 | every resource rule of `R` (aggregated ones included)        |
//! | ClusterRole `vcproxy:t:R`                         | the rules of `R` the tenant's admins hold in a namespace (`ceiling.rs`) |
//! | RoleBinding `vcproxy-crb:B` in the cluster-scope namespace | `vcproxy-cluster:t:R` (or the built-in `R`)          |
//! | RoleBinding `vcproxy-crb:B` in each tenant namespace | `vcproxy:t:R` (built-ins by name; `cluster-admin` as `admin`) |
//!
//! [`reconcile`] computes all of it from the tenant's store, applies what differs
//! (a hash of the source in an annotation says what is current) and deletes
//! what no longer has a source. It runs after every write, after a namespace is
//! created, and every [`EVERY`] for every tenant (other replicas' writes, lost
//! updates, aggregation).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{ceiling, cluster_role, escalation, is_builtin, namespace_role, BINDINGS, GROUP, ROLES};
use crate::crd::store::{ListOptions, ObjectStore};
use crate::error::ApiError;
use crate::mapping;
use crate::rewrite::selectors::LabelSelector;
use crate::stack::Proxy;
use crate::subjects;
use crate::tenant_rbac::cluster_scope_namespace;
use crate::upstream::{self, proxy_json};

/// Label on upstream ClusterRoles made from a tenant's roles: whose they are.
pub const ROLE_OF: &str = "vcproxy.io/cluster-role-of";
/// Label on upstream RoleBindings made from a tenant's cluster bindings: whose they are.
pub const BINDING_OF: &str = "vcproxy.io/cluster-binding-of";
const SOURCE_HASH: &str = "vcproxy.io/source-hash";
const BINDING_PREFIX: &str = "vcproxy-crb:";
/// How often every tenant is reconciled.
pub const EVERY: Duration = Duration::from_secs(10);
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// One reconcile at a time per tenant (writes and the periodic pass).
#[derive(Default)]
pub struct Reconciler {
    locks: dashmap::DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

impl Reconciler {
    /// Drops the unheld locks of tenants `keep` refuses (deleted tenants).
    pub fn forget_tenants(&self, keep: &dyn Fn(&str) -> bool) {
        self.locks.retain(|tenant, lock| keep(tenant) || Arc::strong_count(lock) > 1);
    }
}

/// A `metav1.LabelSelector` object as a selector; None if it is malformed.
pub fn selector(sel: &Value) -> Option<LabelSelector> {
    let mut terms = Vec::new();
    for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
        terms.push(format!("{k}={}", v.as_str()?));
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str()?;
        let values: Option<Vec<&str>> = e["values"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect());
        terms.push(match (e["operator"].as_str()?, values) {
            ("In", Some(v)) if !v.is_empty() => format!("{key} in ({})", v.join(",")),
            ("NotIn", Some(v)) if !v.is_empty() => format!("{key} notin ({})", v.join(",")),
            ("Exists", _) => key.to_string(),
            ("DoesNotExist", _) => format!("!{key}"),
            _ => return None,
        });
    }
    if !sel.is_object() || terms.is_empty() {
        return None; // an empty selector would aggregate every role
    }
    LabelSelector::parse(&terms.join(",")).ok()
}

/// The rules of an aggregating role: the rules of every other role any selector matches, without repeats.
pub fn aggregated_rules(role: &Value, roles: &[Value]) -> Option<Vec<Value>> {
    let selectors: Vec<LabelSelector> =
        role["aggregationRule"]["clusterRoleSelectors"].as_array()?.iter().filter_map(selector).collect();
    let name = &role["metadata"]["name"];
    let mut rules: Vec<Value> = Vec::new();
    for other in roles.iter().filter(|o| &o["metadata"]["name"] != name) {
        if selectors.iter().any(|s| s.matches(&other["metadata"]["labels"])) {
            for r in other["rules"].as_array().into_iter().flatten() {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
    }
    Some(rules)
}

fn hash(v: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(v).unwrap_or_default());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The RoleBinding of tenant binding `binding` in `super_ns` (`scope`: the cluster-scope namespace).
pub fn role_binding(tenant: &str, binding: &Value, super_ns: &str, scope: bool) -> Value {
    let role = binding["roleRef"]["name"].as_str().unwrap_or_default();
    let role_ref = match (is_builtin(role), scope) {
        (true, true) => role.to_string(),
        // In a namespace, the tenant's admins are `admin`; that is all the tenant has there.
        (true, false) if role == "cluster-admin" => "admin".to_string(),
        (true, false) => role.to_string(),
        (false, true) => cluster_role(tenant, role),
        (false, false) => namespace_role(tenant, role),
    };
    let mapper = crate::namespaces::TenantMapper(tenant);
    let subjects: Vec<Value> = binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let kind = s["kind"].as_str()?;
            let name = s["name"].as_str()?;
            Some(match kind {
                "ServiceAccount" => json!({"kind": kind, "name": name,
                    "namespace": mapping::to_super(tenant, s["namespace"].as_str()?)}),
                _ => json!({"kind": kind, "apiGroup": GROUP, "name": subjects::to_super(kind, name, &mapper).ok()?}),
            })
        })
        .collect();
    let name = format!("{BINDING_PREFIX}{}", binding["metadata"]["name"].as_str().unwrap_or_default());
    let mut rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": super_ns, "labels": {BINDING_OF: tenant}},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role_ref},
        "subjects": subjects,
    });
    rb["metadata"]["annotations"] = json!({SOURCE_HASH: hash(&rb)});
    rb
}

async fn stored(store: &ObjectStore, resource: &str) -> Result<Vec<Value>, ApiError> {
    let prefix = store.collection_prefix(GROUP, resource, None).map_err(|e| ApiError::internal(format!("{e:?}")))?;
    let list = store
        .list(&prefix, ListOptions::default())
        .await
        .map_err(|e| ApiError::service_unavailable(format!("etcd: {e:?}")))?;
    Ok(list.items)
}

/// Upstream objects of kind `path` (a collection) labelled `label=tenant`, by (namespace, name).
async fn upstream_of(
    p: &Proxy,
    path: &str,
    label: &str,
    tenant: &str,
) -> Result<BTreeMap<(String, String), Value>, ApiError> {
    let (status, body) =
        proxy_json(&p.upstream, &p.metrics, Method::GET, &format!("{path}?labelSelector={label}%3D{tenant}"), None)
            .await?;
    if status != StatusCode::OK {
        return Err(ApiError::bad_gateway(format!("listing {path}: {status}")));
    }
    let list: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let m = &o["metadata"];
            let key = (
                m["namespace"].as_str().unwrap_or_default().to_string(),
                m["name"].as_str().unwrap_or_default().to_string(),
            );
            (key, o.clone())
        })
        .collect())
}

/// Brings the tenant's upstream RBAC in line with its stored ClusterRoles and ClusterRoleBindings.
pub async fn reconcile(p: &Proxy, tenant: &str) -> Result<(), ApiError> {
    let lock = p.cluster_rbac.locks.entry(tenant.to_string()).or_default().clone();
    let _one_at_a_time = lock.lock().await;
    let store = p.crd_store(tenant)?;
    let mut roles = stored(&store, ROLES).await?;
    aggregate(&store, &mut roles).await;

    // Roles first, so bindings never refer to a role that is not there yet.
    let mut actual = upstream_of(p, &format!("{RBAC}/clusterroles"), ROLE_OF, tenant).await?;
    let ceiling = if roles.is_empty() { vec![] } else { ceiling_rules(p).await? };
    for role in &roles {
        let name = role["metadata"]["name"].as_str().unwrap_or_default();
        let rules = escalation::resource_rules(role["rules"].as_array().map(Vec::as_slice).unwrap_or_default());
        let parts = [
            (cluster_role(tenant, name), rules.clone(), hash(&json!(rules))),
            (
                namespace_role(tenant, name),
                ceiling::namespace_part(&rules, &ceiling, |g| p.scopes.serves_group(g)),
                hash(&json!([rules, ceiling])),
            ),
        ];
        for (upstream_name, rules, source) in parts {
            let current = actual.remove(&(String::new(), upstream_name.clone()));
            if current.is_some_and(|c| c["metadata"]["annotations"][SOURCE_HASH] == source.as_str()) {
                continue;
            }
            let object = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": upstream_name, "labels": {ROLE_OF: tenant}, "annotations": {SOURCE_HASH: source}},
                "rules": rules,
            });
            upstream::apply(&p.upstream, &p.metrics, &format!("{RBAC}/clusterroles/{upstream_name}"), &object).await?;
        }
    }
    for (_, name) in actual.into_keys() {
        delete(p, &format!("{RBAC}/clusterroles/{name}")).await?;
    }

    let bindings = stored(&store, BINDINGS).await?;
    if !p.namespaces.is_ready() {
        // Until every namespace is known, bindings in unknown ones would look orphaned.
        return Err(ApiError::service_unavailable("the namespace cache is still loading"));
    }
    let scope = cluster_scope_namespace(tenant);
    let namespaces: Vec<String> =
        p.namespaces.of_tenant(tenant).iter().map(|ns| mapping::to_super(tenant, ns)).collect();
    let mut actual = upstream_of(p, &format!("{RBAC}/rolebindings"), BINDING_OF, tenant).await?;
    for binding in &bindings {
        let places = std::iter::once((scope.as_str(), true)).chain(namespaces.iter().map(|ns| (ns.as_str(), false)));
        for (super_ns, is_scope) in places {
            let desired = role_binding(tenant, binding, super_ns, is_scope);
            let name = desired["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let current = actual.remove(&(super_ns.to_string(), name.clone()));
            let want_hash = &desired["metadata"]["annotations"][SOURCE_HASH];
            if current.as_ref().is_some_and(|c| &c["metadata"]["annotations"][SOURCE_HASH] == want_hash) {
                continue;
            }
            let path = format!("{RBAC}/namespaces/{super_ns}/rolebindings/{name}");
            if current.is_some_and(|c| c["roleRef"] != desired["roleRef"]) {
                delete(p, &path).await?; // roleRef is immutable upstream
            }
            upstream::apply(&p.upstream, &p.metrics, &path, &desired).await?;
        }
    }
    for (ns, name) in actual.into_keys() {
        // Only ever in this tenant's namespaces (the label is vcproxy's alone, but be sure).
        let owned = ns == scope
            || matches!(mapping::parse_super(&ns), Some(mapping::Parsed::Short { tenant: t, .. } | mapping::Parsed::Long { tenant: t }) if t == tenant);
        if owned && name.starts_with(BINDING_PREFIX) {
            delete(p, &format!("{RBAC}/namespaces/{ns}/rolebindings/{name}")).await?;
        }
    }
    Ok(())
}

/// Fills in the rules of the tenant's aggregating roles from its other roles, as
/// kube-controller-manager's aggregation controller does for the super master's.
async fn aggregate(store: &ObjectStore, roles: &mut [Value]) {
    let snapshot = roles.to_vec();
    for role in roles.iter_mut() {
        let Some(rules) = aggregated_rules(role, &snapshot) else { continue };
        if role["rules"].as_array().is_some_and(|r| *r == rules) {
            continue;
        }
        let name = role["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let Ok(key) = store.object_key(GROUP, ROLES, None, &name) else { continue };
        let rv = crate::crd::store::resource_version_of(role);
        let mut next = role.clone();
        next["rules"] = json!(rules);
        next["metadata"].as_object_mut().map(|m| m.remove("resourceVersion"));
        match store.update(&key, next, rv).await {
            Ok(updated) => *role = updated,
            // Someone wrote it meanwhile; the next pass aggregates again.
            Err(e) => tracing::debug!(role = name, error = ?e, "aggregating a tenant ClusterRole"),
        }
    }
}

/// What the tenant's admins hold in each of its namespaces: the super master's `admin`.
async fn ceiling_rules(p: &Proxy) -> Result<Vec<Value>, ApiError> {
    let (status, body) =
        proxy_json(&p.upstream, &p.metrics, Method::GET, &format!("{RBAC}/clusterroles/admin"), None).await?;
    if status != StatusCode::OK {
        return Err(ApiError::bad_gateway(format!("reading ClusterRole admin: {status}")));
    }
    let admin: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
    Ok(escalation::resource_rules(admin["rules"].as_array().map(Vec::as_slice).unwrap_or_default()))
}

async fn delete(p: &Proxy, path: &str) -> Result<(), ApiError> {
    let (status, body) = proxy_json(&p.upstream, &p.metrics, Method::DELETE, path, None).await?;
    if status.is_success() || status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(ApiError::bad_gateway(format!("deleting {path} ({status}): {}", String::from_utf8_lossy(&body))))
    }
}

/// After a write: reconcile now, so the grant works when kubectl returns. A
/// failure is logged; the periodic pass retries.
pub async fn changed(p: &Proxy, tenant: &str) {
    if let Err(e) = reconcile(p, tenant).await {
        tracing::warn!(tenant, error = %e.message, "applying the tenant's cluster RBAC; retrying in the background");
    }
}

/// Reconciles every tenant with cluster RBAC objects, forever.
pub async fn keep_reconciling(p: Arc<Proxy>) {
    loop {
        tokio::time::sleep(EVERY).await;
        if !p.registry.is_ready() || !p.namespaces.is_ready() {
            continue;
        }
        for tenant in p.registry.tenant_names() {
            let has_any = match p.crd_store(&tenant) {
                Ok(store) => {
                    let mut any = false;
                    for resource in [ROLES, BINDINGS] {
                        if let Ok(prefix) = store.collection_prefix(GROUP, resource, None) {
                            any |= store.count_keys(&prefix).await.map(|n| n > 0).unwrap_or(true);
                        }
                    }
                    any
                }
                Err(_) => false,
            };
            if has_any {
                changed(&p, &tenant).await;
            }
        }
    }
}

/// The tenant is going: its upstream ClusterRoles (its RoleBindings go with its namespaces).
pub async fn delete_all(
    upstream: &upstream::Upstream,
    metrics: &crate::metrics::Metrics,
    tenant: &str,
) -> Result<(), ApiError> {
    let path = format!("{RBAC}/clusterroles?labelSelector={ROLE_OF}%3D{tenant}");
    let (status, body) = proxy_json(upstream, metrics, Method::DELETE, &path, None).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(ApiError::bad_gateway(format!(
            "deleting the tenant's ClusterRoles ({status}): {}",
            String::from_utf8_lossy(&body)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_need_terms_and_match_labels() {
        let s = selector(&json!({"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}})).unwrap();
        assert!(s.matches(&json!({"rbac.example.com/aggregate-to-monitoring": "true"})));
        assert!(!s.matches(&json!({"other": "true"})));
        assert!(selector(&json!({})).is_none(), "an empty selector would select every role");
        assert!(selector(&json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]})).is_none());
        let e =
            selector(&json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]})).unwrap();
        assert!(e.matches(&json!({"tier": "b"})) && !e.matches(&json!({"tier": "c"})));
    }

    #[test]
    fn aggregation_takes_only_matching_roles_once() {
        let rule = |r: &str| json!({"apiGroups": [""], "resources": [r], "verbs": ["get"]});
        let agg = json!({"metadata": {"name": "monitoring"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "true"}}]}, "rules": []});
        let roles = vec![
            agg.clone(),
            json!({"metadata": {"name": "a", "labels": {"agg": "true"}}, "rules": [rule("pods"), rule("services")]}),
            json!({"metadata": {"name": "b", "labels": {"agg": "true"}}, "rules": [rule("pods")]}),
            json!({"metadata": {"name": "c"}, "rules": [rule("secrets")]}),
        ];
        assert_eq!(aggregated_rules(&agg, &roles).unwrap(), vec![rule("pods"), rule("services")]);
        assert!(aggregated_rules(&roles[1], &roles).is_none(), "not an aggregating role");
    }

    #[test]
    fn bindings_expand_in_the_tenants_names() {
        let binding = json!({"metadata": {"name": "ops"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "bob"}, {"kind": "Group", "name": "system:masters"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]});
        let scope = role_binding("acme", &binding, "vcproxy-cluster-acme", true);
        assert_eq!(scope["roleRef"]["name"], "cluster-admin");
        let in_ns = role_binding("acme", &binding, "acme--default", false);
        assert_eq!(in_ns["roleRef"]["name"], "admin", "namespaces never get more than the tenant's admins have");
        assert_eq!(in_ns["metadata"]["name"], "vcproxy-crb:ops");
        let subjects = in_ns["subjects"].as_array().unwrap();
        assert_eq!(subjects.len(), 2, "a super-master identity is never bound: {subjects:?}");
        assert_eq!(subjects[0]["name"], "vcproxy:acme:bob");
        assert_eq!(subjects[1]["namespace"], "acme--tools");
        let mut own = binding.clone();
        own["roleRef"]["name"] = json!("pod-reader");
        assert_eq!(role_binding("acme", &own, "x", true)["roleRef"]["name"], "vcproxy-cluster:acme:pod-reader");
        assert_eq!(role_binding("acme", &own, "x", false)["roleRef"]["name"], "vcproxy:acme:pod-reader");
        assert_ne!(
            role_binding("acme", &binding, "x", false)["metadata"]["annotations"],
            role_binding("acme", &own, "x", false)["metadata"]["annotations"]
        );
    }
}
