//! kubectl's typed commands (`kubectl create clusterrole`, `create
//! clusterrolebinding`) send protobuf. vcproxy stores these kinds as JSON, so
//! the two messages are decoded here, field by field, from `rbac/v1`'s
//! `generated.proto`; anything else in protobuf is a 415.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::protobuf::{self, ProtoError};

const METADATA: u32 = 1;
const META_NAME: u32 = 1;
const META_GENERATE_NAME: u32 = 2;
const META_RESOURCE_VERSION: u32 = 6;
const META_LABELS: u32 = 11;
const META_ANNOTATIONS: u32 = 12;

fn strings(msg: &[u8], number: u32) -> Result<Vec<Value>, ProtoError> {
    protobuf::repeated(msg, number)?
        .into_iter()
        .map(|b| std::str::from_utf8(b).map(|s| json!(s)).map_err(|_| ProtoError::InvalidUtf8(number)))
        .collect()
}

fn string(msg: &[u8], number: u32) -> Result<Option<String>, ProtoError> {
    Ok(protobuf::string_field(msg, number)?.map(str::to_string))
}

/// A `map<string, string>` field (entries with key 1, value 2; the last value of a key wins).
fn string_map(msg: &[u8], number: u32) -> Result<Map<String, Value>, ProtoError> {
    let mut out = Map::new();
    for entry in protobuf::repeated(msg, number)? {
        let key = string(entry, 1)?.unwrap_or_default();
        out.insert(key, json!(string(entry, 2)?.unwrap_or_default()));
    }
    Ok(out)
}

fn metadata(object: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    if let Some(meta) = protobuf::repeated(object, METADATA)?.pop() {
        for (key, number) in
            [("name", META_NAME), ("generateName", META_GENERATE_NAME), ("resourceVersion", META_RESOURCE_VERSION)]
        {
            if let Some(v) = string(meta, number)?.filter(|v| !v.is_empty()) {
                m.insert(key.into(), json!(v));
            }
        }
        for (key, number) in [("labels", META_LABELS), ("annotations", META_ANNOTATIONS)] {
            let map = string_map(meta, number)?;
            if !map.is_empty() {
                m.insert(key.into(), Value::Object(map));
            }
        }
    }
    Ok(Value::Object(m))
}

fn rule(msg: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Map::new();
    for (key, number) in
        [("verbs", 1), ("apiGroups", 2), ("resources", 3), ("resourceNames", 4), ("nonResourceURLs", 5)]
    {
        let values = strings(msg, number)?;
        if !values.is_empty() || key == "verbs" {
            r.insert(key.into(), Value::Array(values));
        }
    }
    Ok(Value::Object(r))
}

fn label_selector(msg: &[u8]) -> Result<Value, ProtoError> {
    let mut sel = Map::new();
    let labels = string_map(msg, 1)?;
    if !labels.is_empty() {
        sel.insert("matchLabels".into(), Value::Object(labels));
    }
    let expressions = protobuf::repeated(msg, 2)?
        .into_iter()
        .map(|e| Ok(json!({"key": string(e, 1)?, "operator": string(e, 2)?, "values": strings(e, 3)?})))
        .collect::<Result<Vec<_>, ProtoError>>()?;
    if !expressions.is_empty() {
        sel.insert("matchExpressions".into(), Value::Array(expressions));
    }
    Ok(Value::Object(sel))
}

fn cluster_role(object: &[u8]) -> Result<Value, ProtoError> {
    let rules = protobuf::repeated(object, 2)?.into_iter().map(rule).collect::<Result<Vec<_>, _>>()?;
    let mut v = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": metadata(object)?, "rules": rules});
    if let Some(agg) = protobuf::repeated(object, 3)?.pop() {
        let selectors = protobuf::repeated(agg, 1)?.into_iter().map(label_selector).collect::<Result<Vec<_>, _>>()?;
        v["aggregationRule"] = json!({"clusterRoleSelectors": selectors});
    }
    Ok(v)
}

fn cluster_role_binding(object: &[u8]) -> Result<Value, ProtoError> {
    let subjects = protobuf::repeated(object, 2)?
        .into_iter()
        .map(|s| {
            let mut subject =
                json!({"kind": string(s, 1)?, "apiGroup": string(s, 2)?.unwrap_or_default(), "name": string(s, 3)?});
            if let Some(ns) = string(s, 4)?.filter(|ns| !ns.is_empty()) {
                subject["namespace"] = json!(ns);
            }
            Ok(subject)
        })
        .collect::<Result<Vec<_>, ProtoError>>()?;
    let role_ref = match protobuf::repeated(object, 3)?.pop() {
        Some(r) => json!({"apiGroup": string(r, 1)?, "kind": string(r, 2)?, "name": string(r, 3)?}),
        None => Value::Null,
    };
    Ok(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
              "metadata": metadata(object)?, "subjects": subjects, "roleRef": role_ref}))
}

/// A protobuf ClusterRole or ClusterRoleBinding as the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = |e: ProtoError| ApiError::bad_request(format!("invalid protobuf body: {e}"));
    let meta = protobuf::read_meta(body).map_err(bad)?;
    let object = protobuf::object(body).map_err(bad)?;
    match (meta.api_version.as_deref(), meta.kind.as_deref()) {
        (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRole")) => cluster_role(object).map_err(bad),
        (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRoleBinding")) => cluster_role_binding(object).map_err(bad),
        _ => Err(ApiError::new_unsupported("custom resources are JSON (or YAML) only")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    fn envelope(api_version: &str, kind: &str, object: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [b"k8s\0".to_vec(), field(1, &type_meta), field(2, object)].concat()
    }

    #[test]
    fn decodes_what_kubectl_create_clusterrolebinding_sends() {
        let meta = [field(1, b"ops"), field(11, &[field(1, b"team"), field(2, b"a")].concat())].concat();
        let subject = [field(1, b"User"), field(2, b"rbac.authorization.k8s.io"), field(3, b"bob")].concat();
        let role_ref = [field(1, b"rbac.authorization.k8s.io"), field(2, b"ClusterRole"), field(3, b"view")].concat();
        let object = [field(1, &meta), field(2, &subject), field(3, &role_ref)].concat();
        let v = decode(&envelope("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &object)).unwrap();
        assert_eq!(v["metadata"], json!({"name": "ops", "labels": {"team": "a"}}));
        assert_eq!(v["subjects"], json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]));
        assert_eq!(v["roleRef"]["name"], "view");
    }

    #[test]
    fn decodes_rules_and_aggregation() {
        let rule = [field(1, b"get"), field(1, b"list"), field(2, b""), field(3, b"pods")].concat();
        let selector = field(1, &field(1, &[field(1, b"agg"), field(2, b"true")].concat()));
        let object = [field(1, &field(1, b"r")), field(2, &rule), field(3, &selector)].concat();
        let v = decode(&envelope("rbac.authorization.k8s.io/v1", "ClusterRole", &object)).unwrap();
        assert_eq!(v["rules"], json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]));
        assert_eq!(v["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"], json!({"agg": "true"}));
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        assert_eq!(decode(&envelope("v1", "Pod", &[])).unwrap_err().code, 415);
        assert_eq!(decode(b"k8s\0\x0a\xff").unwrap_err().code, 400);
        assert_eq!(decode(b"not protobuf").unwrap_err().code, 400);
    }
}
