//! The declarative table of JSON fields that carry a namespace, per (API group, resource).
//! One table drives both directions, bodies, patches and field selectors, so adding a kind is one row.
//!
//! Path syntax: keys separated by `.`; a key followed by `[]` means "every element of this
//! array", e.g. `subjects[].namespace` or
//! `spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[].namespaces`.
//! Missing keys, `null`s and arrays that are not arrays are skipped (partial objects, patches).
//!
//! `metadata.namespace` applies to every kind (as does `metadata.name` for `namespaces`): those
//! fields say where the object itself lives ([`Placement::Object`]); a response object whose
//! namespace is not the tenant's is dropped. Every other field refers to some namespace
//! ([`Placement::Reference`]).

use std::collections::HashMap;
use std::sync::OnceLock;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A namespace name (string; `""` means none and is left alone).
    Namespace,
    /// An array of namespace names.
    NamespaceList,
    /// A `metav1.LabelSelector` over namespaces (confined to the tenant on the way up).
    NamespaceSelector,
    /// An RBAC subject (`{kind, name, …}`): User and Group names are translated between the
    /// tenant's identity space and the super master's (`subjects.rs`).
    Subject,
    /// A RoleBinding's `roleRef`: a ClusterRole of the tenant's own is `vcproxy:<t>:<name>`
    /// upstream (`cluster_rbac`); built-ins and Roles keep their names.
    RoleRef,
}

/// Whether a field places the object itself or refers to another namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// The object's own namespace (or a Namespace's own name): not the tenant's → drop the object.
    Object,
    /// A reference to a namespace: not the tenant's → blanked (see `object.rs`).
    Reference,
}

/// One segment of a compiled path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    /// Every element of an array.
    Each,
}

/// One table entry, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// As written in the table, e.g. `subjects[].namespace`.
    pub path: String,
    pub segs: Vec<Seg>,
    pub kind: FieldKind,
    pub placement: Placement,
}

/// All namespace-carrying fields of one kind (including `metadata.namespace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindFields {
    pub group: &'static str,
    /// Plural resource name, e.g. `rolebindings`; empty for the fallback entry.
    pub resource: &'static str,
    /// Kind, e.g. `RoleBinding`; empty for the fallback entry.
    pub kind: &'static str,
    pub fields: Vec<FieldSpec>,
    /// Nested `ObjectMeta` (pod templates, job templates) whose labels and annotations get the
    /// same `vcproxy.io/` rules as the object's own `metadata`.
    pub nested_meta: Vec<FieldSpec>,
}

impl KindFields {
    /// True for the `namespaces` resource, whose `metadata.name` is a namespace.
    pub fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.resource == "namespaces"
    }
}

/// Parses the path syntax into segments.
pub fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        if key.is_empty() || key.contains('[') || key.contains(']') {
            return Err(format!("bad segment {part:?} in path {path:?}"));
        }
        segs.push(Seg::Key(key.to_string()));
        if each {
            segs.push(Seg::Each);
        }
    }
    Ok(segs)
}

use FieldKind::{Namespace as NS, NamespaceList as NSL, NamespaceSelector as SEL, RoleRef as ROLE_REF, Subject as SUBJECT};

/// Fields of a pod spec, relative to wherever the pod spec lives.
const POD_SPEC: &[(&str, FieldKind)] = &[
    ("affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[].namespaces", NSL),
    ("affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[].namespaceSelector", SEL),
    ("affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.namespaces", NSL),
    ("affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.namespaceSelector", SEL),
    ("affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].namespaces", NSL),
    ("affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].namespaceSelector", SEL),
    ("affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.namespaces", NSL),
    ("affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.namespaceSelector", SEL),
];

const ROUTE: &[(&str, FieldKind)] = &[("spec.parentRefs[].namespace", NS), ("spec.rules[].backendRefs[].namespace", NS)];

/// One row of the table: a kind, where its pod specs live (if any), and its other fields.
struct Row {
    group: &'static str,
    resource: &'static str,
    kind: &'static str,
    pod_specs: &'static [&'static str],
    fields: &'static [(&'static str, FieldKind)],
}

const fn row(group: &'static str, resource: &'static str, kind: &'static str, pod_specs: &'static [&'static str], fields: &'static [(&'static str, FieldKind)]) -> Row {
    Row { group, resource, kind, pod_specs, fields }
}

/// The table. `metadata.namespace` is implied for every row (and for kinds not listed).
const TABLE: &[Row] = &[
    // core
    row("", "namespaces", "Namespace", &[], &[]), // + metadata.name, see `compile`
    row("", "pods", "Pod", &["spec"], &[]),
    row("", "podtemplates", "PodTemplate", &["template.spec"], &[]),
    row("", "replicationcontrollers", "ReplicationController", &["spec.template.spec"], &[]),
    row("", "events", "Event", &[], &[("involvedObject.namespace", NS), ("related.namespace", NS)]),
    row("", "serviceaccounts", "ServiceAccount", &[], &[("secrets[].namespace", NS)]),
    row("", "endpoints", "Endpoints", &[], &[("subsets[].addresses[].targetRef.namespace", NS), ("subsets[].notReadyAddresses[].targetRef.namespace", NS)]),
    row("", "persistentvolumes", "PersistentVolume", &[], &[("spec.claimRef.namespace", NS)]),
    // apps, batch
    row("apps", "deployments", "Deployment", &["spec.template.spec"], &[]),
    row("apps", "replicasets", "ReplicaSet", &["spec.template.spec"], &[]),
    row("apps", "statefulsets", "StatefulSet", &["spec.template.spec"], &[]),
    row("apps", "daemonsets", "DaemonSet", &["spec.template.spec"], &[]),
    // A ControllerRevision's data is a patch of its owner's pod template.
    row("apps", "controllerrevisions", "ControllerRevision", &["data.spec.template.spec"], &[]),
    row("batch", "jobs", "Job", &["spec.template.spec"], &[]),
    row("batch", "cronjobs", "CronJob", &["spec.jobTemplate.spec.template.spec"], &[]),
    // events.k8s.io
    row("events.k8s.io", "events", "Event", &[], &[("regarding.namespace", NS), ("related.namespace", NS)]),
    // rbac
    row("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", &[], &[("subjects[].namespace", NS), ("subjects[]", SUBJECT), ("roleRef", ROLE_REF)]),
    row("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", &[], &[("subjects[].namespace", NS), ("subjects[]", SUBJECT)]),
    // authorization (kubectl auth can-i)
    row("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", &[], &[("spec.resourceAttributes.namespace", NS)]),
    row("authorization.k8s.io", "localsubjectaccessreviews", "LocalSubjectAccessReview", &[], &[("spec.resourceAttributes.namespace", NS)]),
    row("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", &[], &[("spec.resourceAttributes.namespace", NS)]),
    row("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview", &[], &[("spec.namespace", NS)]),
    // networking, discovery
    row("networking.k8s.io", "networkpolicies", "NetworkPolicy", &[], &[("spec.ingress[].from[].namespaceSelector", SEL), ("spec.egress[].to[].namespaceSelector", SEL)]),
    row("discovery.k8s.io", "endpointslices", "EndpointSlice", &[], &[("endpoints[].targetRef.namespace", NS)]),
    // Gateway API (when the super master serves it)
    row("gateway.networking.k8s.io", "httproutes", "HTTPRoute", &[], ROUTE),
    row("gateway.networking.k8s.io", "grpcroutes", "GRPCRoute", &[], ROUTE),
    row("gateway.networking.k8s.io", "tcproutes", "TCPRoute", &[], ROUTE),
    row("gateway.networking.k8s.io", "tlsroutes", "TLSRoute", &[], ROUTE),
    row("gateway.networking.k8s.io", "udproutes", "UDPRoute", &[], ROUTE),
    row("gateway.networking.k8s.io", "referencegrants", "ReferenceGrant", &[], &[("spec.from[].namespace", NS)]),
    row("gateway.networking.k8s.io", "gateways", "Gateway", &[], &[("spec.listeners[].allowedRoutes.namespaces.selector", SEL), ("spec.listeners[].tls.certificateRefs[].namespace", NS)]),
];

struct Compiled {
    kinds: Vec<KindFields>,
    fallback: KindFields,
    by_resource: HashMap<&'static str, Vec<usize>>,
    by_kind: HashMap<&'static str, Vec<usize>>,
}

fn spec(path: &str, kind: FieldKind, placement: Placement) -> FieldSpec {
    let segs = parse_path(path).unwrap_or_else(|e| panic!("the rewrite table has a bad path: {e}"));
    FieldSpec { path: path.to_string(), segs, kind, placement }
}

fn compile() -> Compiled {
    let universal = || vec![spec("metadata.namespace", NS, Placement::Object)];
    let mut kinds = Vec::new();
    let mut by_resource: HashMap<&'static str, Vec<usize>> = HashMap::new();
    let mut by_kind: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for r in TABLE {
        let mut fields = universal();
        if r.group.is_empty() && r.resource == "namespaces" {
            fields.push(spec("metadata.name", NS, Placement::Object));
        }
        for prefix in r.pod_specs {
            for (p, k) in POD_SPEC {
                fields.push(spec(&format!("{prefix}.{p}"), *k, Placement::Reference));
            }
        }
        for (p, k) in r.fields {
            fields.push(spec(p, *k, Placement::Reference));
        }
        // Every `…template.spec` / `…jobTemplate.spec` on the way to a pod spec has a
        // `…template.metadata` beside it.
        let mut nested_meta: Vec<FieldSpec> = Vec::new();
        for prefix in r.pod_specs {
            let parts: Vec<&str> = prefix.split('.').collect();
            for i in 0..parts.len().saturating_sub(1) {
                if (parts[i] == "template" || parts[i] == "jobTemplate") && parts[i + 1] == "spec" {
                    let p = format!("{}.metadata", parts[..=i].join("."));
                    if !nested_meta.iter().any(|m| m.path == p) {
                        nested_meta.push(spec(&p, NS, Placement::Reference));
                    }
                }
            }
        }
        by_resource.entry(r.resource).or_default().push(kinds.len());
        by_kind.entry(r.kind).or_default().push(kinds.len());
        kinds.push(KindFields { group: r.group, resource: r.resource, kind: r.kind, fields, nested_meta });
    }
    Compiled { kinds, fallback: KindFields { group: "", resource: "", kind: "", fields: universal(), nested_meta: Vec::new() }, by_resource, by_kind }
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(compile)
}

/// Every kind in the table (for tests and documentation).
pub fn all_kinds() -> &'static [KindFields] {
    &compiled().kinds
}

/// The fields of (API group, plural resource); kinds not in the table get `metadata.namespace` only.
pub fn fields_for(group: &str, resource: &str) -> &'static KindFields {
    let c = compiled();
    c.by_resource
        .get(resource)
        .and_then(|ix| ix.iter().map(|&i| &c.kinds[i]).find(|k| k.group == group))
        .unwrap_or(&c.fallback)
}

/// The fields of (API group, Kind), for items of a generic `kind: List`.
pub fn fields_for_kind(group: &str, kind: &str) -> &'static KindFields {
    let c = compiled();
    c.by_kind
        .get(kind)
        .and_then(|ix| ix.iter().map(|&i| &c.kinds[i]).find(|k| k.group == group))
        .unwrap_or(&c.fallback)
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_syntax() {
        assert_eq!(
            parse_path("subjects[].namespace").unwrap(),
            vec![Seg::Key("subjects".into()), Seg::Each, Seg::Key("namespace".into())]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[0].b").is_err());
        assert!(parse_path("[]").is_err());
    }

    #[test]
    fn table_compiles_and_covers_the_brief() {
        let has = |g: &str, r: &str, p: &str, k: FieldKind| {
            let f = fields_for(g, r);
            assert!(f.fields.iter().any(|s| s.path == p && s.kind == k), "{g}/{r} lacks {p} ({k:?}): {:#?}", f.fields);
        };
        for (g, r) in [("", "configmaps"), ("", "pods"), ("example.com", "widgets")] {
            has(g, r, "metadata.namespace", NS);
        }
        has("", "namespaces", "metadata.name", NS);
        has("rbac.authorization.k8s.io", "rolebindings", "subjects[].namespace", NS);
        has("", "events", "involvedObject.namespace", NS);
        has("", "events", "related.namespace", NS);
        has("events.k8s.io", "events", "regarding.namespace", NS);
        has("events.k8s.io", "events", "related.namespace", NS);
        has("networking.k8s.io", "networkpolicies", "spec.ingress[].from[].namespaceSelector", SEL);
        has("networking.k8s.io", "networkpolicies", "spec.egress[].to[].namespaceSelector", SEL);
        let aff = "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.namespaceSelector";
        for (g, r, prefix) in [
            ("", "pods", "spec"),
            ("", "podtemplates", "template.spec"),
            ("", "replicationcontrollers", "spec.template.spec"),
            ("apps", "deployments", "spec.template.spec"),
            ("apps", "replicasets", "spec.template.spec"),
            ("apps", "statefulsets", "spec.template.spec"),
            ("apps", "daemonsets", "spec.template.spec"),
            ("batch", "jobs", "spec.template.spec"),
            ("batch", "cronjobs", "spec.jobTemplate.spec.template.spec"),
        ] {
            has(g, r, &format!("{prefix}.{aff}"), SEL);
            has(g, r, &format!("{prefix}.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[].namespaces"), NSL);
            assert_eq!(fields_for(g, r).fields.len(), 1 + POD_SPEC.len());
        }
        let metas = |g: &str, r: &str| fields_for(g, r).nested_meta.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        assert_eq!(metas("", "pods"), Vec::<String>::new());
        assert_eq!(metas("", "podtemplates"), vec!["template.metadata"]);
        assert_eq!(metas("apps", "deployments"), vec!["spec.template.metadata"]);
        assert_eq!(metas("batch", "cronjobs"), vec!["spec.jobTemplate.metadata", "spec.jobTemplate.spec.template.metadata"]);
        // The group matters: core events and events.k8s.io events differ.
        assert!(fields_for("", "events").fields.iter().all(|f| f.path != "regarding.namespace"));
        assert_eq!(fields_for_kind("apps", "Deployment").resource, "deployments");
        assert_eq!(fields_for_kind("", "Deployment").resource, "");
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }
}
