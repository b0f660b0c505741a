//! A tenant's own ClusterRoles and ClusterRoleBindings.
//!
//! ```text
//! kubectl create clusterrole/clusterrolebinding ─▶ authz (cluster scope) ─▶ validate ─▶ escalation check ─▶ tenant's etcd prefix
//!                                                                                                             │ reconcile
//!      super apiserver ◀── ClusterRoles vcproxy-cluster:<t>:<name>, vcproxy:<t>:<name> ◀─────────────────────┤
//!                      ◀── RoleBindings vcproxy-crb:<name> in every tenant namespace and the cluster-scope namespace
//! ```
//! - The objects the tenant sees are stored, in its names, in its etcd prefix and
//!   served by the same object machinery as tenant CRDs (get, list, watch,
//!   create, update, patch, delete, resourceVersions). Nothing the tenant writes
//!   reaches the super apiserver as written.
//! - What makes them effective lives upstream (`materialize.rs`): each ClusterRole
//!   twice, as `vcproxy-cluster:<t>:<name>` (every rule; bound only in the
//!   tenant's cluster-scope namespace, where vcproxy asks about what it serves
//!   itself) and as `vcproxy:<t>:<name>` (only the rules the tenant's admins hold
//!   in a namespace; what namespace bindings refer to). Each ClusterRoleBinding
//!   becomes a RoleBinding in every tenant namespace, including ones created
//!   later, and in the cluster-scope namespace. So the super apiserver's RBAC
//!   still confines every request, and no tenant grant reaches beyond its
//!   namespaces.
//! - Writes are checked as kube-apiserver checks them (`escalation.rs`): a role
//!   only by someone who holds its rules (or may `escalate`), a binding only by
//!   someone who holds the role (or may `bind` it).
//! - Aggregation is done by vcproxy over the tenant's own roles only.
//! - The built-in `cluster-admin`, `admin`, `edit` and `view` are usable by name
//!   and readable; they cannot be changed.

pub mod ceiling;
pub mod escalation;
pub mod materialize;
pub mod proto;

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};

use crate::authn::Identity;
use crate::crd::index::Crd;
use crate::error::ApiError;
use crate::subjects;

pub const GROUP: &str = "rbac.authorization.k8s.io";
pub const ROLES: &str = "clusterroles";
pub const BINDINGS: &str = "clusterrolebindings";
/// ClusterRoles of the super master every tenant may bind and read by name.
pub const BUILTIN: [&str; 4] = ["cluster-admin", "admin", "edit", "view"];
/// Longest tenant ClusterRole or ClusterRoleBinding name (its upstream names add a prefix).
const MAX_NAME: usize = 200;

/// The pseudo-CRD vcproxy serves `(group, resource)` with, when it is a tenant RBAC kind.
pub fn served(group: &str, resource: &str) -> Option<Arc<Crd>> {
    static ROLE: OnceLock<Arc<Crd>> = OnceLock::new();
    static BINDING: OnceLock<Arc<Crd>> = OnceLock::new();
    if group != GROUP {
        return None;
    }
    match resource {
        ROLES => Some(
            ROLE.get_or_init(|| kind("clusterrole", "ClusterRole", "Created At", ".metadata.creationTimestamp"))
                .clone(),
        ),
        BINDINGS => Some(
            BINDING.get_or_init(|| kind("clusterrolebinding", "ClusterRoleBinding", "Role", ".roleRef.name")).clone(),
        ),
        _ => None,
    }
}

fn kind(singular: &str, kind: &str, column: &str, json_path: &str) -> Arc<Crd> {
    let column_type = if column == "Role" { "string" } else { "date" };
    let columns = vec![json!({"name": column, "type": column_type, "jsonPath": json_path})];
    Arc::new(Crd::built_in(GROUP, singular, kind, false, columns))
}

pub fn is_served(crd: &Crd) -> bool {
    served(&crd.group, &crd.plural).is_some()
}

fn is_binding(crd: &Crd) -> bool {
    crd.plural == BINDINGS
}

pub fn is_builtin(name: &str) -> bool {
    BUILTIN.contains(&name)
}

/// The ClusterRole a tenant's RoleBinding or namespace binding refers to upstream:
/// built-ins by their name, the tenant's own by its namespace part.
pub fn role_ref_to_super(tenant: &str, name: &str) -> String {
    if is_builtin(name) {
        name.to_string()
    } else {
        namespace_role(tenant, name)
    }
}

/// The tenant's name for a ClusterRole a RoleBinding refers to upstream.
pub fn role_ref_to_virtual(tenant: &str, name: &str) -> String {
    name.strip_prefix(&namespace_role(tenant, "")).filter(|n| !n.is_empty()).unwrap_or(name).to_string()
}

/// Upstream ClusterRole holding the rules of tenant role `name` that apply inside namespaces.
pub fn namespace_role(tenant: &str, name: &str) -> String {
    format!("vcproxy:{tenant}:{name}")
}

/// Upstream ClusterRole holding every rule of tenant role `name` (bound at the tenant's cluster scope).
pub fn cluster_role(tenant: &str, name: &str) -> String {
    format!("vcproxy-cluster:{tenant}:{name}")
}

/// RBAC object names are path segments (kube-apiserver's `ValidateRBACName`).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("may not be empty, '.' or '..'".into());
    }
    if name.contains('/') || name.contains('%') {
        return Err("may not contain '/' or '%'".into());
    }
    if name.len() > MAX_NAME || name.chars().any(|c| c.is_control()) {
        return Err(format!("must be at most {MAX_NAME} printable characters"));
    }
    Ok(())
}

/// Checks (and normalises) a ClusterRole or ClusterRoleBinding `id` wants to
/// store; `existing` is the stored object for updates.
pub async fn admit(
    p: &crate::stack::Proxy,
    id: &Identity,
    crd: &Crd,
    obj: &mut Value,
    existing: Option<&Value>,
) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if is_builtin(&name) && !is_binding(crd) {
        return Err(ApiError::forbidden(format!(
            "clusterroles.{GROUP} {name:?} is forbidden: {name} is a built-in ClusterRole of every virtual cluster and cannot be changed; create a ClusterRole of your own and aggregate or bind it"
        )));
    }
    if is_binding(crd) {
        validate_binding(id.tenant_name(), &name, obj, existing)?;
        if existing.is_none_or(|old| old["subjects"] != obj["subjects"]) {
            let role = obj["roleRef"]["name"].as_str().unwrap_or_default().to_string();
            escalation::check_binding(p, id, &name, &role).await?;
        }
    } else {
        validate_role(&name, obj)?;
        let changed =
            existing.is_none_or(|old| old["rules"] != obj["rules"] || old["aggregationRule"] != obj["aggregationRule"]);
        if changed {
            let rules = obj["rules"].as_array().cloned().unwrap_or_default();
            escalation::check_role(p, id, &name, &rules, obj.get("aggregationRule").is_some_and(|a| !a.is_null()))
                .await?;
        }
    }
    Ok(())
}

fn invalid(kind: &str, name: &str, field: &str, what: String) -> ApiError {
    ApiError::invalid(format!("{kind}.{GROUP} {name:?} is invalid: {field}: {what}"))
}

fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::Null => Some(vec![]),
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// A ClusterRole's rules and aggregation rule, as kube-apiserver's `ValidateClusterRole` has them.
fn validate_role(name: &str, obj: &mut Value) -> Result<(), ApiError> {
    let bad = |field: String, what: String| invalid("ClusterRole", name, &field, what);
    keep_only(obj, &["apiVersion", "kind", "metadata", "rules", "aggregationRule"]);
    let rules = match &obj["rules"] {
        Value::Null => vec![],
        Value::Array(r) => r.clone(),
        _ => return Err(bad("rules".into(), "Invalid value: must be a list of rules".into())),
    };
    for (i, rule) in rules.iter().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        if !rule.is_object() {
            return Err(bad(format!("rules[{i}]"), "Invalid value: must be an object".into()));
        }
        let mut lists = Vec::new();
        for f in ["verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"] {
            let values =
                strings(&rule[f]).ok_or_else(|| bad(at(f), "Invalid value: must be a list of strings".into()))?;
            lists.push(values.len());
        }
        let [verbs, groups, resources, _, urls] = lists[..] else { unreachable!() };
        if verbs == 0 {
            return Err(bad(at("verbs"), "Required value: verbs must contain at least one value".into()));
        }
        if urls > 0 {
            if groups > 0 || resources > 0 {
                return Err(bad(
                    at("nonResourceURLs"),
                    "Invalid value: rules cannot apply to both regular resources and non-resource URLs".into(),
                ));
            }
            continue;
        }
        if groups == 0 {
            return Err(bad(
                at("apiGroups"),
                "Required value: resource rules must supply at least one api group".into(),
            ));
        }
        if resources == 0 {
            return Err(bad(
                at("resources"),
                "Required value: resource rules must supply at least one resource".into(),
            ));
        }
    }
    match &obj["aggregationRule"] {
        Value::Null => {}
        Value::Object(a) => {
            let selectors = a.get("clusterRoleSelectors").and_then(Value::as_array);
            if selectors.is_none_or(|s| {
                s.is_empty() || s.iter().any(|s| crate::cluster_rbac::materialize::selector(s).is_none())
            }) {
                return Err(bad(
                    "aggregationRule.clusterRoleSelectors".into(),
                    "Invalid value: must be a non-empty list of valid label selectors".into(),
                ));
            }
        }
        _ => return Err(bad("aggregationRule".into(), "Invalid value: must be an object".into())),
    }
    Ok(())
}

/// A ClusterRoleBinding's roleRef and subjects; subjects must be nameable in the tenant's identity space.
fn validate_binding(tenant: &str, name: &str, obj: &mut Value, existing: Option<&Value>) -> Result<(), ApiError> {
    let bad = |field: String, what: String| invalid("ClusterRoleBinding", name, &field, what);
    keep_only(obj, &["apiVersion", "kind", "metadata", "subjects", "roleRef"]);
    let role_ref = &obj["roleRef"];
    if role_ref["apiGroup"] != GROUP {
        return Err(bad(
            "roleRef.apiGroup".into(),
            format!("Unsupported value: {}: supported values: {GROUP:?}", role_ref["apiGroup"]),
        ));
    }
    if role_ref["kind"] != "ClusterRole" {
        return Err(bad(
            "roleRef.kind".into(),
            format!("Unsupported value: {}: supported values: \"ClusterRole\"", role_ref["kind"]),
        ));
    }
    let role = role_ref["name"].as_str().unwrap_or_default();
    if let Err(e) = validate_name(role) {
        return Err(bad("roleRef.name".into(), format!("Invalid value: {role:?}: {e}")));
    }
    if let Some(old) = existing {
        if old["roleRef"] != obj["roleRef"] {
            return Err(bad("roleRef".into(), format!("Invalid value: {}: cannot change roleRef", obj["roleRef"])));
        }
    }
    let mapper = crate::namespaces::TenantMapper(tenant);
    let subjects = match &mut obj["subjects"] {
        Value::Null => return Ok(()),
        Value::Array(s) => s,
        _ => return Err(bad("subjects".into(), "Invalid value: must be a list of subjects".into())),
    };
    for (i, s) in subjects.iter_mut().enumerate() {
        let at = |f: &str| format!("subjects[{i}].{f}");
        let kind = s["kind"].as_str().unwrap_or_default().to_string();
        let subject_name = s["name"].as_str().unwrap_or_default().to_string();
        if subject_name.is_empty() {
            return Err(bad(at("name"), "Required value".into()));
        }
        match kind.as_str() {
            "User" | "Group" => {
                if s["apiGroup"].is_null() || s["apiGroup"] == "" {
                    s["apiGroup"] = json!(GROUP);
                }
                if s["apiGroup"] != GROUP {
                    return Err(bad(
                        at("apiGroup"),
                        format!("Unsupported value: {}: supported values: {GROUP:?}", s["apiGroup"]),
                    ));
                }
                subjects::to_super(&kind, &subject_name, &mapper)
                    .map_err(|e| bad(at("name"), format!("Invalid value: {e}")))?;
            }
            "ServiceAccount" => {
                let ns = s["namespace"].as_str().unwrap_or_default();
                if !crate::rewrite::is_dns1123_label(ns) {
                    return Err(bad(
                        at("namespace"),
                        format!("Invalid value: {ns:?}: a service account subject needs the namespace it is in"),
                    ));
                }
                if !s["apiGroup"].as_str().unwrap_or_default().is_empty() {
                    return Err(bad(at("apiGroup"), "Unsupported value: supported values: \"\"".into()));
                }
            }
            other => {
                return Err(bad(
                    at("kind"),
                    format!("Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""),
                ))
            }
        }
    }
    Ok(())
}

/// Drops top-level fields a kind does not have (kube-apiserver prunes them too).
fn keep_only(obj: &mut Value, fields: &[&str]) {
    if let Some(m) = obj.as_object_mut() {
        m.retain(|k, _| fields.contains(&k.as_str()));
    }
}

/// `GET clusterroles/<built-in>`: the super master's role, read as vcproxy
/// (its rules are the same for every tenant); updates, patches and deletes of it are 403.
pub async fn builtin_role(
    p: &crate::stack::Proxy,
    info: &crate::request_info::RequestInfo,
) -> Result<Option<http::Response<crate::body::ProxyBody>>, ApiError> {
    let Some(name) = info.name.as_deref().filter(|n| is_builtin(n)) else { return Ok(None) };
    if info.resource != ROLES || info.subresource.is_some() {
        return Ok(None);
    }
    match info.verb {
        crate::request_info::Verb::Get | crate::request_info::Verb::Head => {}
        crate::request_info::Verb::Delete | crate::request_info::Verb::Update | crate::request_info::Verb::Patch => {
            return Err(ApiError::forbidden(format!(
                "clusterroles.{GROUP} {name:?} is forbidden: {name} is a built-in ClusterRole of every virtual cluster and cannot be changed or deleted"
            )))
        }
        _ => return Ok(None),
    }
    let path = format!("/apis/{GROUP}/v1/clusterroles/{name}");
    let (status, body) = crate::upstream::proxy_json(&p.upstream, &p.metrics, http::Method::GET, &path, None).await?;
    if status != http::StatusCode::OK {
        return Err(ApiError::bad_gateway(format!("reading the built-in ClusterRole {name}: {status}")));
    }
    let upstream: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
    let m = &upstream["metadata"];
    let role = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "ClusterRole",
        "metadata": {"name": name, "uid": m["uid"], "creationTimestamp": m["creationTimestamp"],
                     "resourceVersion": "1", "labels": m["labels"], "annotations": m["annotations"]},
        "rules": upstream["rules"],
    });
    let resp = crate::crd::objects::json_response(http::StatusCode::OK, &role)?;
    Ok(Some(crate::media::vetted(resp, crate::media::Vetted::Json)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_refs_stay_in_the_tenant() {
        assert_eq!(role_ref_to_super("acme", "admin"), "admin");
        assert_eq!(role_ref_to_super("acme", "pod-reader"), "vcproxy:acme:pod-reader");
        assert_eq!(role_ref_to_super("acme", "system:node"), "vcproxy:acme:system:node");
        assert_eq!(role_ref_to_super("acme", "vcproxy:globex:x"), "vcproxy:acme:vcproxy:globex:x");
        assert_eq!(role_ref_to_virtual("acme", "vcproxy:acme:pod-reader"), "pod-reader");
        assert_eq!(role_ref_to_virtual("acme", "vcproxy:globex:pod-reader"), "vcproxy:globex:pod-reader");
        assert_eq!(role_ref_to_virtual("acme", "edit"), "edit");
        // The namespace part and the cluster part never share a name, whatever the tenant is called.
        assert_ne!(namespace_role("cluster", "acme:x"), cluster_role("acme", "x"));
    }

    #[test]
    fn names_are_path_segments() {
        assert!(validate_name("system:controller:foo").is_ok());
        for bad in ["", ".", "..", "a/b", "a%2Fb", &"x".repeat(201), "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_rules_are_validated() {
        let mut ok = json!({"kind": "ClusterRole", "metadata": {"name": "r"}, "extra": 1,
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
        validate_role("r", &mut ok).unwrap();
        assert!(ok.get("extra").is_none(), "unknown fields are pruned");
        for (rules, field) in [
            (json!([{"apiGroups": [""], "resources": ["pods"]}]), "rules[0].verbs"),
            (json!([{"apiGroups": [""], "resources": ["pods"], "verbs": "get"}]), "rules[0].verbs"),
            (json!([{"resources": ["pods"], "verbs": ["get"]}]), "rules[0].apiGroups"),
            (json!([{"apiGroups": [""], "verbs": ["get"]}]), "rules[0].resources"),
            (
                json!([{"apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/x"], "verbs": ["get"]}]),
                "rules[0].nonResourceURLs",
            ),
        ] {
            let mut r = json!({"metadata": {"name": "r"}, "rules": rules});
            let e = validate_role("r", &mut r).unwrap_err();
            assert_eq!(e.code, 422);
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
        let mut agg = json!({"metadata": {"name": "r"}, "aggregationRule": {"clusterRoleSelectors": []}});
        assert_eq!(validate_role("r", &mut agg).unwrap_err().code, 422);
    }

    #[test]
    fn bindings_name_only_the_tenants_identities() {
        let binding = |subjects: Value| json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}, "subjects": subjects});
        let mut ok =
            binding(json!([{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "system:authenticated"},
            {"kind": "ServiceAccount", "name": "default", "namespace": "default"}]));
        validate_binding("acme", "b", &mut ok, None).unwrap();
        assert_eq!(ok["subjects"][0]["apiGroup"], GROUP, "defaulted as kube-apiserver does");
        for subjects in [
            json!([{"kind": "User", "name": "system:admin"}]),
            json!([{"kind": "Group", "name": "system:masters"}]),
            json!([{"kind": "Group", "name": "system:serviceaccounts"}]),
            json!([{"kind": "ServiceAccount", "name": "x"}]),
            json!([{"kind": "Robot", "name": "x"}]),
            json!([{"kind": "User", "name": ""}]),
        ] {
            let mut b = binding(subjects.clone());
            assert_eq!(validate_binding("acme", "b", &mut b, None).unwrap_err().code, 422, "{subjects}");
        }
        let mut role_kind = binding(json!([]));
        role_kind["roleRef"]["kind"] = json!("Role");
        assert_eq!(validate_binding("acme", "b", &mut role_kind, None).unwrap_err().code, 422);
        let mut changed = binding(json!([]));
        changed["roleRef"]["name"] = json!("edit");
        let e = validate_binding("acme", "b", &mut changed, Some(&binding(json!([])))).unwrap_err();
        assert!(e.message.contains("cannot change roleRef"), "{}", e.message);
    }
}
