//! Namespace objects in both views: the super namespace vcproxy creates for a
//! tenant, and the virtual namespace the tenant sees.
//!
//! The tenant sees its own name, its own labels and annotations, and the Pod
//! Security labels its policy imposes; never the `vcproxy.io/*` keys.

use serde_json::{Map, Value};

use crate::mapping::{self, RESERVED_PREFIX, TENANT_LABEL, VIRTUAL_NAME_LABEL};

/// The label kube-apiserver sets to a namespace's own name.
pub const METADATA_NAME_LABEL: &str = "kubernetes.io/metadata.name";
pub const POD_SECURITY_PREFIX: &str = "pod-security.kubernetes.io/";

/// Rewrites any namespace-shaped document (Namespace, NamespaceList, Table,
/// PartialObjectMetadata[List], Status) from the super view to `tenant`'s view.
/// Returns false if it is a single namespace that is not the tenant's.
pub fn to_virtual(doc: &mut Value, tenant: &str) -> bool {
    match doc["kind"].as_str().unwrap_or_default() {
        "NamespaceList" | "PartialObjectMetadataList" => {
            if let Some(items) = doc["items"].as_array_mut() {
                items.retain_mut(|item| namespace_to_virtual(item, tenant));
            }
            if let Some(meta) = doc["metadata"].as_object_mut() {
                meta.remove("remainingItemCount");
            }
            true
        }
        "Table" => {
            if let Some(rows) = doc["rows"].as_array_mut() {
                rows.retain_mut(|row| {
                    let super_name = row["object"]["metadata"]["name"].as_str().map(str::to_string);
                    if !namespace_to_virtual(&mut row["object"], tenant) {
                        return false;
                    }
                    let virtual_name = row["object"]["metadata"]["name"].clone();
                    for cell in row["cells"].as_array_mut().into_iter().flatten() {
                        if cell.as_str().is_some() && cell.as_str() == super_name.as_deref() {
                            *cell = virtual_name.clone();
                        }
                    }
                    true
                });
            }
            if let Some(meta) = doc["metadata"].as_object_mut() {
                meta.remove("remainingItemCount");
            }
            true
        }
        "Status" => true,
        _ => namespace_to_virtual(doc, tenant),
    }
}

/// One namespace (or its metadata-only form) to the tenant's view.
fn namespace_to_virtual(ns: &mut Value, tenant: &str) -> bool {
    let Some(owner) = super::cache::owner_of(ns) else { return false };
    if owner.tenant != tenant {
        return false;
    }
    let meta = &mut ns["metadata"];
    meta["name"] = Value::String(owner.virtual_ns.clone());
    strip_reserved(meta);
    if let Some(labels) = meta["labels"].as_object_mut() {
        if labels.contains_key(METADATA_NAME_LABEL) {
            labels.insert(METADATA_NAME_LABEL.into(), Value::String(owner.virtual_ns.clone()));
        }
    }
    true
}

/// Removes every `vcproxy.io/*` label and annotation, and their traces in
/// `managedFields`, so tenants never see them.
pub fn strip_reserved(meta: &mut Value) {
    for key in ["labels", "annotations"] {
        if let Some(map) = meta[key].as_object_mut() {
            map.retain(|k, _| !k.starts_with(RESERVED_PREFIX));
            if map.is_empty() {
                meta.as_object_mut().map(|m| m.remove(key));
            }
        }
    }
    for entry in meta["managedFields"].as_array_mut().into_iter().flatten() {
        strip_managed(&mut entry["fieldsV1"]);
    }
}

fn strip_managed(fields: &mut Value) {
    if let Some(map) = fields.as_object_mut() {
        map.retain(|k, _| !k.starts_with(&format!("f:{RESERVED_PREFIX}")));
        for v in map.values_mut() {
            strip_managed(v);
        }
    }
}

/// What a tenant asked for when creating (or replacing) a namespace.
#[derive(Debug, Default)]
pub struct Requested {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
}

/// Refuses labels and annotations a tenant may not set.
pub fn check_tenant_metadata(req: &Requested, pod_security: &str) -> Result<(), String> {
    for (key, value) in &req.labels {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(format!("label {key:?} is reserved: vcproxy.io/ labels are managed by vcproxy"));
        }
        if key.starts_with(POD_SECURITY_PREFIX) && !(key.ends_with("/enforce") && value == pod_security) {
            return Err(format!(
                "label {key:?} is managed by vcproxy: this tenant's namespaces enforce Pod Security level {pod_security:?}"
            ));
        }
    }
    for key in req.annotations.keys() {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(format!("annotation {key:?} is reserved: vcproxy.io/ annotations are managed by vcproxy"));
        }
    }
    Ok(())
}

/// The labels vcproxy sets on a tenant's super namespace, overriding the tenant's.
pub fn managed_labels(tenant: &str, virtual_ns: &str, pod_security: &str) -> Vec<(String, String)> {
    vec![
        (TENANT_LABEL.into(), tenant.into()),
        (VIRTUAL_NAME_LABEL.into(), virtual_ns.into()),
        (format!("{POD_SECURITY_PREFIX}enforce"), pod_security.into()),
        (format!("{POD_SECURITY_PREFIX}enforce-version"), "latest".into()),
    ]
}

/// The super namespace object for a tenant's request.
pub fn super_namespace(tenant: &str, virtual_ns: &str, req: &Requested, pod_security: &str) -> Value {
    let mut labels = req.labels.clone();
    labels.remove(METADATA_NAME_LABEL);
    for (k, v) in managed_labels(tenant, virtual_ns, pod_security) {
        labels.insert(k, Value::String(v));
    }
    let mut annotations = req.annotations.clone();
    annotations.insert(TENANT_LABEL.into(), Value::String(tenant.into()));
    annotations.insert(VIRTUAL_NAME_LABEL.into(), Value::String(virtual_ns.into()));
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": mapping::to_super(tenant, virtual_ns),
            "labels": labels,
            "annotations": annotations,
        }
    })
}

/// True if `ns` carries exactly the labels and annotations vcproxy manages:
/// every `vcproxy.io/*` and Pod Security key is vcproxy's, with vcproxy's
/// value, and none is missing or extra.
pub fn managed_labels_intact(ns: &Value, tenant: &str, virtual_ns: &str, pod_security: &str) -> bool {
    let reserved = |map: &Value, prefixes: &[&str]| -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = map
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        keys.sort();
        keys
    };
    let mut want_labels = managed_labels(tenant, virtual_ns, pod_security);
    want_labels.sort();
    let mut want_annotations =
        vec![(TENANT_LABEL.to_string(), tenant.to_string()), (VIRTUAL_NAME_LABEL.to_string(), virtual_ns.to_string())];
    want_annotations.sort();
    reserved(&ns["metadata"]["labels"], &[RESERVED_PREFIX, POD_SECURITY_PREFIX]) == want_labels
        && reserved(&ns["metadata"]["annotations"], &[RESERVED_PREFIX]) == want_annotations
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn super_ns(tenant: &str, v: &str) -> Value {
        let req = Requested { labels: json!({"team": "a"}).as_object().unwrap().clone(), ..Default::default() };
        let mut ns = super_namespace(tenant, v, &req, "baseline");
        ns["metadata"]["labels"][METADATA_NAME_LABEL] = json!(mapping::to_super(tenant, v));
        ns
    }

    #[test]
    fn tenant_sees_its_names_and_no_vcproxy_keys() {
        let mut ns = super_ns("acme", "prod");
        assert!(to_virtual(&mut ns, "acme"));
        assert_eq!(ns["metadata"]["name"], "prod");
        assert_eq!(ns["metadata"]["labels"][METADATA_NAME_LABEL], "prod");
        assert_eq!(ns["metadata"]["labels"]["team"], "a");
        assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "baseline");
        assert!(!ns.to_string().contains("vcproxy.io"), "{ns}");
    }

    #[test]
    fn other_tenants_namespaces_are_dropped_from_lists_and_tables() {
        let mut list = json!({"kind": "NamespaceList", "items": [super_ns("acme", "a"), super_ns("globex", "b")]});
        to_virtual(&mut list, "acme");
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let mut table = json!({"kind": "Table", "rows": [
            {"cells": ["acme--a", "Active"], "object": super_ns("acme", "a")},
            {"cells": ["globex--b", "Active"], "object": super_ns("globex", "b")},
            {"cells": ["kube-system", "Active"], "object": {"metadata": {"name": "kube-system"}}},
        ]});
        to_virtual(&mut table, "acme");
        assert_eq!(table["rows"].as_array().unwrap().len(), 1);
        assert_eq!(table["rows"][0]["cells"][0], "a");
        assert!(!super::to_virtual(&mut super_ns("globex", "b"), "acme"));
    }

    #[test]
    fn reserved_and_pod_security_labels_are_refused() {
        let mut req = Requested::default();
        req.labels.insert("vcproxy.io/tenant".into(), json!("globex"));
        assert!(check_tenant_metadata(&req, "baseline").is_err());
        let mut req = Requested::default();
        req.labels.insert("pod-security.kubernetes.io/enforce".into(), json!("privileged"));
        assert!(check_tenant_metadata(&req, "baseline").is_err());
        let mut req = Requested::default();
        req.annotations.insert("vcproxy.io/virtual-name".into(), json!("x"));
        assert!(check_tenant_metadata(&req, "baseline").is_err());
        let mut req = Requested::default();
        req.labels.insert("pod-security.kubernetes.io/enforce".into(), json!("baseline"));
        assert!(check_tenant_metadata(&req, "baseline").is_ok());
    }

    #[test]
    fn managed_labels_check() {
        let ns = super_ns("acme", "p");
        assert!(managed_labels_intact(&ns, "acme", "p", "baseline"));
        let mut tampered = ns.clone();
        tampered["metadata"]["labels"].as_object_mut().unwrap().remove("vcproxy.io/tenant");
        assert!(!managed_labels_intact(&tampered, "acme", "p", "baseline"));
        let mut tampered = ns.clone();
        tampered["metadata"]["labels"]["pod-security.kubernetes.io/warn"] = json!("privileged");
        assert!(!managed_labels_intact(&tampered, "acme", "p", "baseline"));
        let mut tampered = ns.clone();
        tampered["metadata"]["annotations"]["vcproxy.io/tenant"] = json!("globex");
        assert!(!managed_labels_intact(&tampered, "acme", "p", "baseline"));
        let mut tampered = ns.clone();
        tampered["metadata"].as_object_mut().unwrap().remove("annotations");
        assert!(!managed_labels_intact(&tampered, "acme", "p", "baseline"));
        let mut tampered = ns.clone();
        tampered["metadata"]["labels"]["vcproxy.io/extra"] = json!("x");
        assert!(!managed_labels_intact(&tampered, "acme", "p", "baseline"));
    }
}
