//! Authorization of the requests vcproxy answers itself.
//!
//! Requests forwarded as the tenant user are authorized by the super apiserver
//! (they are impersonated). Namespaces, tenant CRDs and custom resources, reads
//! across namespaces and cluster reads are answered by vcproxy, as its own
//! identity or from etcd, so without this stage every user of a tenant could do
//! them. Here vcproxy asks the super apiserver's RBAC the question
//! kube-apiserver would ask, with a SubjectAccessReview for the user's
//! impersonated identity:
//! 1. for a namespaced request, in that namespace's super namespace (the
//!    tenant's RoleBindings there);
//! 2. then in the tenant's cluster-scope namespace (its cluster-wide grants,
//!    see `tenant_rbac.rs`).
//!
//! Rules are the tenant's own, so resource names in them are the tenant's view.
//! Grants are cached for [`TTL`]: a revocation takes that long to be seen, as
//! with kube-apiserver's webhook authorizer cache; denials are never cached.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::authn::Identity;
use crate::error::ApiError;
use crate::mapping;
use crate::metrics::Metrics;
use crate::request_info::{RequestInfo, Verb};
use crate::tenant_rbac::cluster_scope_namespace;
use crate::upstream::{proxy_json, Upstream};

/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(5);
/// Past this many cached answers the cache starts over (bounds memory under
/// hostile variety of names).
const MAX_CACHED: usize = 50_000;

/// What a request asks to do, in the tenant's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The virtual namespace, or None for a cluster-level request.
    pub namespace: Option<String>,
    /// For a non-resource request (`/healthz`, `/version`): its path; empty otherwise.
    pub path: String,
}

impl Attributes {
    /// The attributes kube-apiserver derives from a request. As there, a request
    /// for one namespace object (`namespaces/<n>`) is inside namespace `<n>`.
    pub fn of(info: &RequestInfo) -> Attributes {
        let mut namespace = info.namespace.clone();
        if info.api_group.is_empty() && info.resource == "namespaces" && info.name.is_some() {
            namespace = info.name.clone();
        }
        let verb = match info.verb {
            Verb::Head => "get",
            v => v.as_str(),
        };
        Attributes {
            verb: verb.to_string(),
            group: info.api_group.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone().unwrap_or_default(),
            name: info.name.clone().unwrap_or_default(),
            namespace,
            path: String::new(),
        }
    }

    /// A non-resource request (`/healthz`) by `verb`.
    pub fn non_resource(path: String, verb: String) -> Attributes {
        Attributes {
            verb,
            group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
            namespace: None,
            path,
        }
    }

    /// An access review's `spec` for these attributes, in `namespace`.
    pub fn to_spec(&self, namespace: &str) -> Value {
        if self.path.is_empty() {
            json!({"resourceAttributes": {
                "namespace": namespace,
                "verb": self.verb,
                "group": self.group,
                "resource": self.resource,
                "subresource": self.subresource,
                "name": self.name,
            }})
        } else {
            json!({"nonResourceAttributes": {"path": self.path, "verb": self.verb}})
        }
    }

    /// kube-apiserver's wording of a refusal, with the tenant's names.
    fn refusal(&self, user: &str) -> String {
        let qualified =
            if self.group.is_empty() { self.resource.clone() } else { format!("{}.{}", self.resource, self.group) };
        let what = if self.name.is_empty() { qualified } else { format!("{qualified} {:?}", self.name) };
        let resource = if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        };
        let scope = match &self.namespace {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_string(),
        };
        format!(
            "{what} is forbidden: User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}; \
             a tenant admin can grant it with a Role and RoleBinding (or a ClusterRole and ClusterRoleBinding)",
            self.verb, self.group
        )
    }
}

/// The cached access reviews.
#[derive(Default)]
pub struct Authorizer {
    answers: DashMap<String, (bool, Instant)>,
}

impl Authorizer {
    /// Ok if the tenant's RBAC allows `attrs` for `id`; otherwise the 403 kube-apiserver would give.
    /// For what vcproxy serves itself: the object's namespace, then the tenant's cluster-wide grants.
    pub async fn authorize(
        &self,
        upstream: &Upstream,
        metrics: &Metrics,
        id: &Identity,
        attrs: &Attributes,
    ) -> Result<(), ApiError> {
        let places = places(id.tenant_name(), attrs, true);
        if self.allowed_in_any(upstream, metrics, &reviewed(id), attrs, &places).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden(attrs.refusal(&id.user)))
        }
    }

    /// Whether `subject` (super view) may do `attrs` in any of `places` (super
    /// namespaces; None is the super master's cluster scope).
    pub async fn allowed_in_any(
        &self,
        upstream: &Upstream,
        metrics: &Metrics,
        subject: &Subject,
        attrs: &Attributes,
        places: &[Option<String>],
    ) -> Result<bool, ApiError> {
        for place in places {
            if self.allowed(upstream, metrics, subject, attrs, place.as_deref()).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn allowed(
        &self,
        upstream: &Upstream,
        metrics: &Metrics,
        subject: &Subject,
        attrs: &Attributes,
        super_ns: Option<&str>,
    ) -> Result<bool, ApiError> {
        let key = [
            subject.user.as_str(),
            &subject.groups.join(","),
            &attrs.verb,
            &attrs.group,
            &attrs.resource,
            &attrs.subresource,
            &attrs.name,
            &attrs.path,
            super_ns.unwrap_or("\u{1}"),
        ]
        .join("\0");
        if let Some(hit) = self.answers.get(&key) {
            if hit.1.elapsed() < TTL {
                return Ok(hit.0);
            }
        }
        let review = review(subject, attrs, super_ns);
        let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
        let (status, body) = proxy_json(upstream, metrics, Method::POST, path, Some(&review)).await?;
        if status != StatusCode::CREATED && status != StatusCode::OK {
            return Err(ApiError::bad_gateway(format!(
                "the super apiserver did not answer an access review ({status}): {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
        let allowed = answer["status"]["allowed"].as_bool().unwrap_or(false);
        // Only grants are reused: a right just granted is seen at once, one just
        // revoked within TTL. Denials cost one review each, inside the tenant's seats.
        if allowed {
            if self.answers.len() >= MAX_CACHED {
                self.answers.clear();
            }
            self.answers.insert(key, (allowed, Instant::now()));
        }
        Ok(allowed)
    }
}

/// Who a review is about, in the super master's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: String,
    pub groups: Vec<String>,
}

/// A tenant user as the super apiserver sees it when impersonated.
pub fn reviewed(id: &Identity) -> Subject {
    let mut groups = id.impersonated_groups();
    // Impersonation adds this to every impersonated user; the review must see it too.
    groups.push("system:authenticated".to_string());
    Subject { user: id.impersonated_user(), groups }
}

/// Where the super apiserver's RBAC is asked about `attrs` for `tenant`: the
/// object's super namespace; then, for what vcproxy serves itself, the tenant's
/// cluster-wide grants. A forwarded request is decided by its super namespace
/// alone, and a non-resource request by the super master's cluster scope.
pub fn places(tenant: &str, attrs: &Attributes, served_by_vcproxy: bool) -> Vec<Option<String>> {
    if !attrs.path.is_empty() {
        return vec![None];
    }
    let mut places = Vec::with_capacity(2);
    if let Some(ns) = &attrs.namespace {
        places.push(Some(mapping::to_super(tenant, ns)));
    }
    if served_by_vcproxy || attrs.namespace.is_none() {
        places.push(Some(cluster_scope_namespace(tenant)));
    }
    places
}

fn review(subject: &Subject, attrs: &Attributes, super_ns: Option<&str>) -> Value {
    let mut spec = attrs.to_spec(super_ns.unwrap_or_default());
    spec["user"] = json!(subject.user);
    spec["groups"] = json!(subject.groups);
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_info::parse;

    fn attrs(method: Method, path: &str) -> Attributes {
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        Attributes::of(&parse(&method, path, query).unwrap())
    }

    #[test]
    fn attributes_as_kube_apiserver_derives_them() {
        let a = attrs(Method::GET, "/api/v1/namespaces");
        assert_eq!((a.verb.as_str(), a.namespace.as_deref()), ("list", None));
        let a = attrs(Method::DELETE, "/api/v1/namespaces/dev");
        assert_eq!((a.verb.as_str(), a.name.as_str(), a.namespace.as_deref()), ("delete", "dev", Some("dev")));
        let a = attrs(Method::POST, "/api/v1/namespaces");
        assert_eq!((a.verb.as_str(), a.namespace.as_deref()), ("create", None));
        let a = attrs(Method::GET, "/apis/example.com/v1/namespaces/dev/widgets?watch=true");
        assert_eq!(
            (a.verb.as_str(), a.group.as_str(), a.resource.as_str(), a.namespace.as_deref()),
            ("watch", "example.com", "widgets", Some("dev"))
        );
        let a = attrs(Method::PUT, "/apis/example.com/v1/namespaces/dev/widgets/w1/status");
        assert_eq!((a.verb.as_str(), a.subresource.as_str(), a.name.as_str()), ("update", "status", "w1"));
        let a = attrs(Method::GET, "/api/v1/secrets");
        assert_eq!((a.verb.as_str(), a.namespace), ("list", None));
    }

    #[test]
    fn refusals_read_like_kube_apiserver() {
        let a = attrs(Method::POST, "/api/v1/namespaces");
        let m = a.refusal("alice");
        assert!(m.starts_with(
            r#"namespaces is forbidden: User "alice" cannot create resource "namespaces" in API group "" at the cluster scope"#
        ), "{m}");
        let a = attrs(Method::GET, "/apis/example.com/v1/namespaces/dev/widgets/w1");
        assert!(a.refusal("bob").starts_with(
            r#"widgets.example.com "w1" is forbidden: User "bob" cannot get resource "widgets" in API group "example.com" in the namespace "dev""#
        ));
    }

    #[test]
    fn the_review_names_the_super_namespace_and_the_tenant_view_name() {
        let a = attrs(Method::GET, "/apis/example.com/v1/namespaces/dev/widgets/w1");
        let subject = Subject { user: "vcproxy:acme:bob".into(), groups: vec!["vcproxy:tenant:acme".into()] };
        let r = review(&subject, &a, Some("acme--dev"));
        assert_eq!(r["spec"]["resourceAttributes"]["namespace"], "acme--dev");
        assert_eq!(r["spec"]["resourceAttributes"]["name"], "w1");
        assert_eq!(r["spec"]["user"], "vcproxy:acme:bob");
        let places = places("acme", &a, false);
        assert_eq!(places, vec![Some("acme--dev".to_string())], "forwarded kinds: the namespace alone");
        assert_eq!(super::places("acme", &a, true).len(), 2);
        let cluster = attrs(Method::GET, "/api/v1/nodes");
        assert_eq!(super::places("acme", &cluster, false), vec![Some("vcproxy-cluster-acme".to_string())]);
    }
}
