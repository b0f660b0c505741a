//! Who may write a tenant ClusterRole or ClusterRoleBinding. The super
//! apiserver's own escalation check decides, through dry-run writes in the
//! tenant's cluster-scope namespace, so vcproxy never reimplements RBAC's rule
//! coverage for it.
//!
//! - **Role writes** (as kube-apiserver): allowed with `escalate` on the role,
//!   or when the writer holds every rule at the tenant's cluster scope. The
//!   latter is a dry-run `Role` with the same rules, created impersonating the
//!   writer plus the group [`CHECKER_GROUP`], which may create roles and role
//!   bindings there and nothing else. A rule that grants exactly that is asked
//!   about separately, so the helper group lends the writer nothing.
//!   `aggregationRule` needs `escalate`, as in kube-apiserver.
//! - **Binding writes**: allowed with `bind` on the role, or when the writer
//!   holds it at the tenant's cluster scope (a dry-run `RoleBinding` the same way).
//! - What of a role applies inside namespaces is `ceiling.rs`'s.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{cluster_role, is_builtin, GROUP};
use crate::authn::Identity;
use crate::authz::{reviewed, Attributes};
use crate::error::ApiError;
use crate::stack::Proxy;
use crate::tenant_rbac::cluster_scope_namespace;
use crate::upstream::proxy_json_as;

/// The helper group of writer checks; bound only in cluster-scope namespaces.
pub const CHECKER_GROUP: &str = "vcproxy:escalation-check";
/// Its ClusterRole: create roles and role bindings (dry runs only ever use it).
pub const CHECKER_ROLE: &str = "vcproxy:escalation-check";
/// The RoleBinding of [`CHECKER_GROUP`] in each cluster-scope namespace.
pub const CHECKER_BINDING: &str = "vcproxy-escalation-check";
/// Dry-run probes are generated names, so they never meet a real object.
const PROBE_PREFIX: &str = "vcproxy-probe-";

/// The ClusterRole of [`CHECKER_GROUP`], applied at start.
pub fn upstream_objects() -> Vec<(String, Value)> {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CHECKER_ROLE, "labels": {"app.kubernetes.io/managed-by": "vcproxy"}},
        "rules": [{"apiGroups": [GROUP], "resources": ["roles", "rolebindings"], "verbs": ["create"]}],
    });
    vec![(format!("/apis/{GROUP}/v1/clusterroles/{CHECKER_ROLE}"), role)]
}

/// The RoleBindings (name, roleRef, group) the checks need in a cluster-scope namespace.
pub fn scope_bindings() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![(CHECKER_BINDING, CHECKER_ROLE, CHECKER_GROUP)]
}

/// Only rules about resources: non-resource URLs mean nothing through vcproxy and are never bound.
pub fn resource_rules(rules: &[Value]) -> Vec<Value> {
    rules.iter().filter(|r| r["resources"].as_array().is_some_and(|a| !a.is_empty())).cloned().collect()
}

fn has(list: &Value, want: &str) -> bool {
    list.as_array().is_some_and(|a| a.iter().any(|v| v == want || v == "*"))
}

/// Whether `rules` grant `verb` on `resource` in the RBAC group (resource names aside).
fn grants(rules: &[Value], verb: &str, resource: &str) -> bool {
    rules.iter().any(|r| has(&r["verbs"], verb) && has(&r["apiGroups"], GROUP) && has(&r["resources"], resource))
}

async fn may(p: &Proxy, id: &Identity, verb: &str, resource: &str, name: &str) -> Result<bool, ApiError> {
    let attrs = Attributes {
        verb: verb.into(),
        group: GROUP.into(),
        resource: resource.into(),
        subresource: String::new(),
        name: name.into(),
        namespace: None,
        path: String::new(),
    };
    let places = crate::authz::places(id.tenant_name(), &attrs, true);
    p.authorizer.allowed_in_any(&p.upstream, &p.metrics, &reviewed(id), &attrs, &places).await
}

/// A dry-run create in the tenant's cluster-scope namespace as `(user, groups)`:
/// Ok(None) if the super apiserver's escalation check lets it through, Ok(Some(why)) if not.
async fn dry_run(
    p: &Proxy,
    tenant: &str,
    resource: &str,
    mut object: Value,
    user: &str,
    groups: &[String],
) -> Result<Option<String>, ApiError> {
    let ns = cluster_scope_namespace(tenant);
    object["metadata"] = json!({"generateName": PROBE_PREFIX, "namespace": ns});
    let path = format!("/apis/{GROUP}/v1/namespaces/{ns}/{resource}?dryRun=All");
    let (status, body) =
        proxy_json_as(&p.upstream, &p.metrics, Method::POST, &path, Some(&object), Some((user, groups))).await?;
    match status {
        StatusCode::CREATED | StatusCode::OK => Ok(None),
        StatusCode::FORBIDDEN => {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_default();
            Ok(Some(missing_rules(&message)))
        }
        other => Err(ApiError::bad_gateway(format!(
            "the super apiserver did not answer an RBAC escalation check ({other}): {}",
            String::from_utf8_lossy(&body)
        ))),
    }
}

/// The rules an escalation refusal lists (`{APIGroups:[...], Resources:[...], Verbs:[...]}`),
/// without the super master's names of the user and namespace.
fn missing_rules(message: &str) -> String {
    let rules: Vec<&str> = message
        .split(['\n', ';'])
        .flat_map(|part| part.split("} {"))
        .map(str::trim)
        .filter(|s| s.contains("APIGroups:") || s.contains("Resources:"))
        .collect();
    if rules.is_empty() {
        String::new()
    } else {
        format!(": {}", rules.join(" "))
    }
}

fn writer(id: &Identity) -> (String, Vec<String>) {
    let subject = reviewed(id);
    let mut groups = subject.groups;
    groups.push(CHECKER_GROUP.to_string());
    (subject.user, groups)
}

/// May `id` create or update ClusterRole `name` with `rules`?
pub async fn check_role(
    p: &Proxy,
    id: &Identity,
    name: &str,
    rules: &[Value],
    aggregation: bool,
) -> Result<(), ApiError> {
    let refused = |why: String| {
        ApiError::forbidden(format!(
            "clusterroles.{GROUP} {name:?} is forbidden: user {:?} is attempting to grant RBAC permissions not currently held{why}; \
             ask a tenant admin, or for the verb escalate on clusterroles",
            id.user
        ))
    };
    if may(p, id, "escalate", "clusterroles", name).await? {
        return Ok(());
    }
    if aggregation {
        return Err(ApiError::forbidden(format!(
            "clusterroles.{GROUP} {name:?} is forbidden: user {:?} must be allowed to escalate clusterroles to use an aggregationRule",
            id.user
        )));
    }
    let rules = resource_rules(rules);
    if rules.is_empty() {
        return Ok(());
    }
    let (user, groups) = writer(id);
    let role = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Role", "rules": rules});
    if let Some(why) = dry_run(p, id.tenant_name(), "roles", role, &user, &groups).await? {
        return Err(refused(why));
    }
    for lent in ["roles", "rolebindings"] {
        if grants(&rules, "create", lent) && !may(p, id, "create", lent, "").await? {
            return Err(refused(format!(": create {lent}.{GROUP}")));
        }
    }
    Ok(())
}

/// May `id` create or update ClusterRoleBinding `name` to ClusterRole `role`?
pub async fn check_binding(p: &Proxy, id: &Identity, name: &str, role: &str) -> Result<(), ApiError> {
    if may(p, id, "bind", "clusterroles", role).await? {
        return Ok(());
    }
    let tenant = id.tenant_name();
    let upstream_role = if is_builtin(role) { role.to_string() } else { cluster_role(tenant, role) };
    let (user, groups) = writer(id);
    let binding = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "RoleBinding",
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": upstream_role},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": CHECKER_GROUP}],
    });
    let refused = |why: String| {
        ApiError::forbidden(format!(
            "clusterrolebindings.{GROUP} {name:?} is forbidden: user {:?} is attempting to grant RBAC permissions not currently held{why}; \
             it needs the verb bind on clusterroles {role:?}, or every permission of that role",
            id.user
        ))
    };
    if let Some(why) = dry_run(p, tenant, "rolebindings", binding, &user, &groups).await? {
        return Err(refused(why));
    }
    // The helper group lends create on roles and rolebindings; a role granting them must be held for real.
    let role_rules = if is_builtin(role) {
        if matches!(role, "cluster-admin" | "admin") {
            vec![json!({"apiGroups": [GROUP], "resources": ["roles", "rolebindings"], "verbs": ["create"]})]
        } else {
            vec![]
        }
    } else {
        stored_rules(p, tenant, role).await?
    };
    for lent in ["roles", "rolebindings"] {
        if grants(&role_rules, "create", lent) && !may(p, id, "create", lent, "").await? {
            return Err(refused(format!(": create {lent}.{GROUP}")));
        }
    }
    Ok(())
}

async fn stored_rules(p: &Proxy, tenant: &str, role: &str) -> Result<Vec<Value>, ApiError> {
    let store = p.crd_store(tenant)?;
    let key = store.object_key(GROUP, super::ROLES, None, role).map_err(|e| ApiError::bad_request(format!("{e:?}")))?;
    match store.get(&key).await {
        Ok(obj) => Ok(obj["rules"].as_array().cloned().unwrap_or_default()),
        Err(crate::crd::store::StoreError::NotFound) => Ok(vec![]),
        Err(e) => Err(ApiError::service_unavailable(format!("etcd: {e:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_list_rules_without_super_names() {
        let upstream = "roles.rbac.authorization.k8s.io \"vcproxy-escalation-check\" is forbidden: user \"vcproxy:acme:alice\" (groups=[\"vcproxy:tenant:acme\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}\n{APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"*\"]}";
        let why = missing_rules(upstream);
        assert!(why.contains("Resources:[\"secrets\"]") && why.contains("deployments"), "{why}");
        assert!(!why.contains("vcproxy:"), "{why}");
        assert_eq!(missing_rules("something else"), "");
    }

    #[test]
    fn lent_rights_are_recognised() {
        let rules = vec![json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})];
        assert!(grants(&rules, "create", "rolebindings"));
        let rules = vec![json!({"apiGroups": [""], "resources": ["rolebindings"], "verbs": ["create"]})];
        assert!(!grants(&rules, "create", "rolebindings"), "the core group's rolebindings are not RBAC's");
        assert!(resource_rules(&[json!({"nonResourceURLs": ["/x"], "verbs": ["get"]})]).is_empty());
    }
}
