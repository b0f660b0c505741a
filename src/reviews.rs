//! Identity and access reviews, answered in the tenant's identity space.
//!
//! - `SelfSubjectReview` (`kubectl auth whoami`): vcproxy knows who the caller
//!   is, so it answers itself, with the tenant's names (`alice`, `dev`,
//!   `system:authenticated`), never the super master's `vcproxy:<t>:alice`.
//! - `SelfSubjectAccessReview` (`kubectl auth can-i`), `SubjectAccessReview` and
//!   `LocalSubjectAccessReview`: answered by the same access reviews `authz.rs`
//!   asks for real requests, so `can-i` says what the next request will meet —
//!   for what vcproxy serves itself (namespaces, CRDs, cluster reads) as well as
//!   what it forwards. The user and groups a tenant asks about are its own and
//!   translated (`subjects.rs`); a `system:` identity of the shared cluster or
//!   another tenant's is a 422, as in a RoleBinding.
//!
//! - `SelfSubjectRulesReview` (`kubectl auth can-i --list`): the super
//!   apiserver's rules for the caller in the namespace and at the tenant's
//!   cluster scope, merged, so cluster-wide grants are listed as on a real cluster.

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::authn::Identity;
use crate::authz::{self, Attributes, Subject};
use crate::body::{self, ProxyBody};
use crate::error::ApiError;
use crate::media::{self, Vetted};
use crate::namespaces::TenantMapper;
use crate::protobuf;
use crate::request_info::RequestInfo;
use crate::stack::Proxy;
use crate::subjects;

/// Reviews are small; kube-apiserver's general limit would be 3 MiB.
const MAX_REVIEW: usize = 64 * 1024;
const SUPER_AUTHENTICATED: &str = "system:authenticated";
const EXACTLY_ONE: &str =
    "spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified";

/// `kubectl auth whoami`. The body says nothing vcproxy needs, but it is read
/// (and must be a well-formed request) as kube-apiserver would.
pub async fn self_subject_review(
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Response<ProxyBody>, ApiError> {
    let (content_type, bytes) = read(req).await?;
    if !content_type.contains("protobuf") && !bytes.is_empty() {
        serde_json::from_slice::<Value>(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    }
    let mut groups = id.groups.clone();
    groups.push(SUPER_AUTHENTICATED.to_string());
    let doc = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("authentication.k8s.io/{}", info.api_version),
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": id.user, "groups": groups}},
    });
    Ok(respond(StatusCode::CREATED, &doc))
}

/// `kubectl auth can-i VERB RESOURCE` for the caller.
pub async fn self_access_review(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Response<ProxyBody>, ApiError> {
    let (content_type, bytes) = read(req).await?;
    let (attrs, spec) = if content_type.contains("protobuf") {
        let attrs = attributes_from_protobuf(&bytes)?;
        let spec = attrs.to_spec(attrs.namespace.as_deref().unwrap_or_default());
        (attrs, spec)
    } else {
        let doc = parse_json(&bytes)?;
        (attributes_from_json(&doc["spec"])?, doc["spec"].clone())
    };
    let allowed = decide(p, id.tenant_name(), &authz::reviewed(id), &attrs).await?;
    Ok(respond(StatusCode::CREATED, &answer("SelfSubjectAccessReview", &info.api_version, None, spec, allowed)))
}

/// `kubectl auth can-i --list [-n NS]`: the caller's rules in one of its namespaces,
/// as kube-apiserver lists them — what its RoleBindings there grant and what its
/// cluster-wide grants (the tenant's ClusterRoleBindings) grant. Both halves come
/// from the super apiserver's own rules review, impersonating the caller, in the
/// super namespace and in the tenant's cluster-scope namespace.
pub async fn self_rules_review(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Response<ProxyBody>, ApiError> {
    let (content_type, bytes) = read(req).await?;
    let namespace = if content_type.contains("protobuf") {
        let bad = |e: protobuf::ProtoError| ApiError::bad_request(format!("invalid protobuf body: {e}"));
        let object = protobuf::object(&bytes).map_err(bad)?;
        let spec = protobuf::repeated(object, 2).map_err(bad)?.pop().unwrap_or_default();
        protobuf::string_field(spec, 1).map_err(bad)?.unwrap_or_default().to_string()
    } else {
        parse_json(&bytes)?["spec"]["namespace"].as_str().unwrap_or_default().to_string()
    };
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request: spec.namespace is required"));
    }
    let tenant = id.tenant_name();
    let super_ns = p.namespaces.resolve(&p.upstream, &p.metrics, tenant, &namespace).await?;
    let subject = authz::reviewed(id);
    let mut halves = Vec::with_capacity(2);
    for ns in [super_ns, crate::tenant_rbac::cluster_scope_namespace(tenant)] {
        let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": ns}});
        let path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
        let as_ = Some((subject.user.as_str(), subject.groups.as_slice()));
        let (status, body) =
            crate::upstream::proxy_json_as(&p.upstream, &p.metrics, http::Method::POST, path, Some(&review), as_).await?;
        if !status.is_success() {
            return Err(ApiError::bad_gateway(format!("the super apiserver's rules review failed ({status})")));
        }
        halves.push(serde_json::from_slice::<Value>(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?);
    }
    let status = merge_rules(&halves.iter().map(|h| h["status"].clone()).collect::<Vec<_>>());
    let doc = json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": format!("authorization.k8s.io/{}", info.api_version),
        "metadata": {"creationTimestamp": null},
        "spec": {"namespace": namespace},
        "status": status,
    });
    Ok(respond(StatusCode::CREATED, &doc))
}

/// The union of rules reviews' statuses (each rule once); incomplete if any is.
fn merge_rules(statuses: &[Value]) -> Value {
    let mut merged = json!({"resourceRules": [], "nonResourceRules": [], "incomplete": false});
    let mut errors = Vec::new();
    for s in statuses {
        for field in ["resourceRules", "nonResourceRules"] {
            for rule in s[field].as_array().into_iter().flatten() {
                let list = merged[field].as_array_mut().expect("built above");
                if !list.contains(rule) {
                    list.push(rule.clone());
                }
            }
        }
        if s["incomplete"] == true {
            merged["incomplete"] = json!(true);
        }
        // The super master's wording names its namespaces and identities; say only that it erred.
        if s["evaluationError"].as_str().is_some_and(|e| !e.is_empty()) {
            errors.push("some of the rules could not be evaluated");
        }
    }
    if let Some(e) = errors.first() {
        merged["evaluationError"] = json!(e);
    }
    merged
}

/// `SubjectAccessReview` (cluster) and `LocalSubjectAccessReview` (in `info.namespace`)
/// about a user or group of the tenant. The caller's right to create the review
/// is checked before this runs.
pub async fn access_review(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Response<ProxyBody>, ApiError> {
    let (content_type, bytes) = read(req).await?;
    if content_type.contains("protobuf") {
        return Err(ApiError::new_unsupported(format!("send {} as JSON (application/json)", info.resource)));
    }
    let doc = parse_json(&bytes)?;
    let mut spec = doc["spec"].clone();
    let mut attrs = attributes_from_json(&spec)?;
    let local = info.namespace.as_deref();
    if let Some(ns) = local {
        // As kube-apiserver: a local review's namespace is the URL's.
        match attrs.namespace.as_deref() {
            None | Some("") if attrs.path.is_empty() => {
                attrs.namespace = Some(ns.to_string());
                spec["resourceAttributes"]["namespace"] = json!(ns);
            }
            Some(n) if n == ns => {}
            _ => {
                return Err(ApiError::bad_request(
                    "spec.resourceAttributes.namespace must match the namespace of the LocalSubjectAccessReview",
                ))
            }
        }
    }
    let subject = reviewed_subject(id.tenant_name(), &spec)?;
    let allowed = decide(p, id.tenant_name(), &subject, &attrs).await?;
    let kind = if local.is_some() { "LocalSubjectAccessReview" } else { "SubjectAccessReview" };
    Ok(respond(StatusCode::CREATED, &answer(kind, &info.api_version, local, spec, allowed)))
}

/// The subject of a `SubjectAccessReview`, translated into the super master's names.
fn reviewed_subject(tenant: &str, spec: &Value) -> Result<Subject, ApiError> {
    let mapper = TenantMapper(tenant);
    let user = spec["user"].as_str().unwrap_or_default();
    let groups: Vec<&str> = match &spec["groups"] {
        Value::Null => vec![],
        Value::Array(a) => a
            .iter()
            .map(|g| g.as_str().ok_or_else(|| ApiError::bad_request("spec.groups must be a list of strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::bad_request("spec.groups must be a list of strings")),
    };
    if user.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    let user = if user.is_empty() {
        String::new()
    } else {
        subjects::to_super("User", user, &mapper).map_err(|e| ApiError::invalid(format!("spec.user: {e}")))?
    };
    let groups = groups
        .into_iter()
        .map(|g| subjects::to_super("Group", g, &mapper).map_err(|e| ApiError::invalid(format!("spec.groups: {e}"))))
        .collect::<Result<_, _>>()?;
    Ok(Subject { user, groups })
}

/// Asks the super apiserver's RBAC where `authz` would for a real request.
async fn decide(p: &Proxy, tenant: &str, subject: &Subject, attrs: &Attributes) -> Result<bool, ApiError> {
    let places = authz::places(tenant, attrs, served_by_vcproxy(p, tenant, attrs));
    p.authorizer.allowed_in_any(&p.upstream, &p.metrics, subject, attrs, &places).await
}

/// What vcproxy answers itself rather than forwarding: anything without a
/// namespace, namespaces, CRDs, cluster RBAC and the tenant's custom resources.
fn served_by_vcproxy(p: &Proxy, tenant: &str, attrs: &Attributes) -> bool {
    attrs.namespace.is_none()
        || (attrs.group.is_empty() && attrs.resource == "namespaces")
        || attrs.group == crate::crd::definitions::GROUP
        || crate::cluster_rbac::served(&attrs.group, &attrs.resource).is_some()
        || p.crds.tenant(tenant).groups().contains(&attrs.group)
}

async fn read(req: Request<Incoming>) -> Result<(String, Bytes), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let bytes = body::collect_limited(req.into_body(), MAX_REVIEW).await?;
    Ok((content_type, bytes))
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if !doc["spec"].is_object() {
        return Err(ApiError::invalid("spec: Required value"));
    }
    Ok(doc)
}

fn string(v: &Value, field: &str) -> Result<String, ApiError> {
    match &v[field] {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

fn attributes_from_json(spec: &Value) -> Result<Attributes, ApiError> {
    let (resource, non_resource) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    match (resource.is_object(), non_resource.is_object()) {
        (true, false) => {
            let namespace = string(resource, "namespace")?;
            Ok(Attributes {
                verb: string(resource, "verb")?,
                group: string(resource, "group")?,
                resource: string(resource, "resource")?,
                subresource: string(resource, "subresource")?,
                name: string(resource, "name")?,
                namespace: (!namespace.is_empty()).then_some(namespace),
                path: String::new(),
            })
        }
        (false, true) => {
            let path = string(non_resource, "path")?;
            if path.is_empty() {
                return Err(ApiError::invalid("spec.nonResourceAttributes.path: Required value"));
            }
            Ok(Attributes::non_resource(path, string(non_resource, "verb")?))
        }
        _ => Err(ApiError::invalid(EXACTLY_ONE)),
    }
}

/// kubectl's typed `auth can-i` sends protobuf: `spec` (2) holds `resourceAttributes` (1:
/// namespace 1, verb 2, group 3, resource 5, subresource 6, name 7) or
/// `nonResourceAttributes` (2: path 1, verb 2).
fn attributes_from_protobuf(body: &[u8]) -> Result<Attributes, ApiError> {
    let bad = |e: protobuf::ProtoError| ApiError::bad_request(format!("invalid protobuf body: {e}"));
    let mut resource = None;
    protobuf::rewrite_messages(body, &[2, 1], &mut |msg| {
        let get = |n| protobuf::string_field(msg, n).map(|s| s.unwrap_or_default().to_string());
        let namespace = get(1)?;
        resource = Some(Attributes {
            verb: get(2)?,
            group: get(3)?,
            resource: get(5)?,
            subresource: get(6)?,
            name: get(7)?,
            namespace: (!namespace.is_empty()).then_some(namespace),
            path: String::new(),
        });
        Ok(None)
    })
    .map_err(bad)?;
    let mut non_resource = None;
    protobuf::rewrite_messages(body, &[2, 2], &mut |msg| {
        let get = |n| protobuf::string_field(msg, n).map(|s| s.unwrap_or_default().to_string());
        non_resource = Some((get(1)?, get(2)?));
        Ok(None)
    })
    .map_err(bad)?;
    match (resource, non_resource) {
        (Some(attrs), None) => Ok(attrs),
        (None, Some((path, verb))) if !path.is_empty() => Ok(Attributes::non_resource(path, verb)),
        _ => Err(ApiError::invalid(EXACTLY_ONE)),
    }
}

fn answer(kind: &str, version: &str, namespace: Option<&str>, spec: Value, allowed: bool) -> Value {
    let mut metadata = json!({"creationTimestamp": null});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "kind": kind,
        "apiVersion": format!("authorization.k8s.io/{version}"),
        "metadata": metadata,
        "spec": spec,
        "status": {"allowed": allowed},
    })
}

fn respond(status: StatusCode, doc: &Value) -> Response<ProxyBody> {
    let bytes = serde_json::to_vec(doc).expect("a review answer serialises");
    let resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(bytes))
        .expect("static response");
    media::vetted(resp, Vetted::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_both_places_are_listed_once() {
        let pods = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        let all = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        let discovery = json!({"verbs": ["get"], "nonResourceURLs": ["/api"]});
        let merged = merge_rules(&[
            json!({"resourceRules": [pods], "nonResourceRules": [discovery], "incomplete": false}),
            json!({"resourceRules": [pods, all], "nonResourceRules": [discovery], "incomplete": true,
                   "evaluationError": "in namespace vcproxy-cluster-acme: user vcproxy:acme:bob"}),
        ]);
        assert_eq!(merged["resourceRules"], json!([pods, all]));
        assert_eq!(merged["nonResourceRules"], json!([discovery]));
        assert_eq!(merged["incomplete"], true);
        assert!(!merged["evaluationError"].as_str().unwrap().contains("vcproxy"), "{merged}");
    }

    #[test]
    fn review_subjects_stay_in_the_tenant() {
        let s = reviewed_subject("acme", &json!({"user": "bob", "groups": ["dev", "system:authenticated"]})).unwrap();
        assert_eq!(s.user, "vcproxy:acme:bob");
        assert_eq!(s.groups, vec!["vcproxy:group:acme:dev".to_string(), "vcproxy:tenant:acme".to_string()]);
        let sa = reviewed_subject("acme", &json!({"user": "system:serviceaccount:dev:builder"})).unwrap();
        assert_eq!(sa.user, "system:serviceaccount:acme--dev:builder");
        for hostile in [
            json!({"user": "system:admin"}),
            json!({"user": "bob", "groups": ["system:masters"]}),
            json!({"groups": ["system:serviceaccounts"]}),
            json!({"user": "system:kube-controller-manager"}),
            json!({}),
            json!({"groups": "dev"}),
        ] {
            assert!(reviewed_subject("acme", &hostile).is_err(), "{hostile}");
        }
    }

    #[test]
    fn attributes_need_exactly_one_kind() {
        let a = attributes_from_json(
            &json!({"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "dev"}}),
        )
        .unwrap();
        assert_eq!((a.verb.as_str(), a.namespace.as_deref()), ("get", Some("dev")));
        let n = attributes_from_json(&json!({"nonResourceAttributes": {"verb": "get", "path": "/healthz"}})).unwrap();
        assert_eq!(n.path, "/healthz");
        assert!(attributes_from_json(&json!({})).is_err());
        assert!(
            attributes_from_json(&json!({"resourceAttributes": {}, "nonResourceAttributes": {"path": "/"}})).is_err()
        );
        assert!(attributes_from_json(&json!({"resourceAttributes": {"verb": 1}})).is_err());
    }
}
