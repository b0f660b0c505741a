//! Translating protobuf request bodies (what kubectl's typed commands send).
//!
//! `kubectl create configmap|secret|deployment|rolebinding`, `kubectl run` and
//! `kubectl auth can-i` encode their bodies as Kubernetes protobuf. vcproxy has
//! no schemas for protobuf, so it translates only what it can locate by field
//! number — `metadata.namespace`, RoleBinding subjects, access-review
//! namespaces — and refuses (415, "send JSON") bodies that carry other
//! namespace-bearing fields, such as pod affinity, rather than pass them raw.

use crate::error::ApiError;
use crate::mapping::RESERVED_PREFIX;
use crate::protobuf;
use crate::rewrite::NamespaceMapper;

/// Where a resource's pod spec `affinity` lives, by protobuf field numbers.
fn affinity_path(group: &str, resource: &str) -> Option<&'static [u32]> {
    Some(match (group, resource) {
        ("", "pods") => &[2, 18],
        ("", "podtemplates") => &[2, 2, 18],
        ("", "replicationcontrollers") | ("apps", "deployments" | "replicasets" | "statefulsets") => &[2, 3, 2, 18],
        ("apps", "daemonsets") => &[2, 2, 2, 18],
        ("batch", "jobs") => &[2, 6, 2, 18],
        ("batch", "cronjobs") => &[2, 5, 2, 6, 2, 18],
        _ => return None,
    })
}

/// Resources whose namespace-bearing fields vcproxy cannot find in protobuf.
fn needs_json(group: &str, resource: &str) -> bool {
    matches!((group, resource), ("", "events") | ("events.k8s.io", "events") | ("networking.k8s.io", "networkpolicies"))
}

fn proto_error(e: protobuf::ProtoError) -> ApiError {
    match e {
        // A value vcproxy refuses (a subject outside the tenant), not a malformed body.
        protobuf::ProtoError::Rejected(why) => ApiError::invalid(why),
        e => ApiError::bad_request(format!("invalid protobuf body: {e}")),
    }
}

fn send_json(what: &str) -> ApiError {
    ApiError::new_unsupported(format!(
        "vcproxy cannot translate {what} in a protobuf body; send it as JSON (e.g. `kubectl create -f`/`kubectl apply -f`)"
    ))
}

/// RoleBinding field 2 is `subjects`; a Subject is kind 1, apiGroup 2, name 3, namespace 4.
const SUBJECTS: u32 = 2;
const SUBJECT_KIND: u32 = 1;
const SUBJECT_NAME: u32 = 3;

/// One RBAC subject with its name in the super master's identity space (`subjects.rs`).
fn subject_to_super(subject: &[u8], mapper: &dyn NamespaceMapper) -> Result<Option<Vec<u8>>, protobuf::ProtoError> {
    let kind = protobuf::string_field(subject, SUBJECT_KIND)?.unwrap_or("");
    let Some(name) = protobuf::string_field(subject, SUBJECT_NAME)? else { return Ok(None) };
    let name = crate::subjects::to_super(kind, name, mapper).map_err(protobuf::ProtoError::Rejected)?;
    protobuf::replace_string_field(subject, SUBJECT_NAME, &name)
}

/// RoleBinding field 3 is `roleRef`: apiGroup 1, kind 2, name 3.
const ROLE_REF: u32 = 3;
const ROLE_REF_KIND: u32 = 2;
const ROLE_REF_NAME: u32 = 3;

/// A RoleBinding's ClusterRole in the super master's names (`cluster_rbac`).
fn role_ref_to_super(role_ref: &[u8], tenant: &str) -> Result<Option<Vec<u8>>, protobuf::ProtoError> {
    if protobuf::string_field(role_ref, ROLE_REF_KIND)? != Some("ClusterRole") {
        return Ok(None);
    }
    let Some(name) = protobuf::string_field(role_ref, ROLE_REF_NAME)? else { return Ok(None) };
    protobuf::replace_string_field(role_ref, ROLE_REF_NAME, &crate::cluster_rbac::role_ref_to_super(tenant, name))
}

/// A create/update body in the super view. `super_ns` is the namespace of the
/// request (None for cluster-scoped requests such as access reviews).
pub fn to_super(
    body: &[u8],
    group: &str,
    resource: &str,
    subresource: Option<&str>,
    mapper: &dyn NamespaceMapper,
    super_ns: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let meta = protobuf::read_meta(body).map_err(proto_error)?;
    if meta.labels.iter().chain(meta.annotations.iter()).any(|(k, _)| k.starts_with(RESERVED_PREFIX)) {
        return Err(ApiError::forbidden("vcproxy.io/ labels and annotations are reserved for vcproxy"));
    }
    let (group, resource) = match subresource {
        None | Some("status") => (group, resource),
        Some(_) => ("", ""), // eviction, token, scale: only metadata
    };
    if needs_json(group, resource) {
        return Err(send_json(resource));
    }
    if let Some(path) = affinity_path(group, resource) {
        if protobuf::has_field(body, path).map_err(proto_error)? {
            return Err(send_json("pod affinity"));
        }
    }
    let mut out = body.to_vec();
    let mut map = |ns: &str| -> Result<Option<String>, protobuf::ProtoError> {
        Ok((!ns.is_empty()).then(|| mapper.to_super(ns)))
    };
    match (group, resource) {
        ("rbac.authorization.k8s.io", "rolebindings") => {
            out = protobuf::rewrite_strings(&out, &[2, 4], &mut map).map_err(proto_error)?;
            out = protobuf::rewrite_messages(&out, &[SUBJECTS], &mut |subject| subject_to_super(subject, mapper)).map_err(proto_error)?;
            out = protobuf::rewrite_messages(&out, &[ROLE_REF], &mut |r| role_ref_to_super(r, mapper.tenant())).map_err(proto_error)?;
        }
        ("authorization.k8s.io", "selfsubjectaccessreviews") => {
            out = protobuf::rewrite_strings(&out, &[2, 1, 1], &mut map).map_err(proto_error)?;
        }
        ("authorization.k8s.io", "selfsubjectrulesreviews") => {
            out = protobuf::rewrite_strings(&out, &[2, 1], &mut map).map_err(proto_error)?;
        }
        _ => {}
    }
    if let Some(super_ns) = super_ns {
        let virtual_ns = mapper.to_virtual(super_ns);
        if let Some(ns) = meta.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            if Some(ns) != virtual_ns.as_deref() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        out = protobuf::set_namespace(&out, super_ns).map_err(proto_error)?;
    }
    Ok(out)
}
