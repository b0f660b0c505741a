//! Kubernetes-level levers closed in tenant objects: a tenant may not pin pods to nodes, claim
//! the system's critical priorities, or make a Service capture traffic for external IPs
//! (CVE-2020-8554), unless its policy allows that lever (`allow = ["node-name"]`).
//!
//! The check runs in the super apiserver, as ValidatingAdmissionPolicies vcproxy applies at
//! start, so it sees the object each write really produces (create, update, JSON/merge/
//! strategic patch, server-side apply) and the pod templates of every workload kind, with no
//! body parsing in vcproxy. It covers the namespaces vcproxy made for tenants (those with
//! `vcproxy.io/tenant`) and the requests of tenant users and of service accounts outside
//! kube-system; the controllers that create pods from an already checked template are not
//! checked again. A tenant's allowances reach the policy as impersonated groups
//! (`vcproxy:allow:<lever>`), which only vcproxy can set: inbound impersonation headers are
//! stripped. An update that keeps a value the object already had (a pod the scheduler bound,
//! a Service created while the lever was allowed) is not refused.

use serde_json::{json, Value};

use crate::mapping::TENANT_LABEL;

/// A lever a tenant's policy may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lever {
    /// `spec.nodeName` of pods and pod templates, and the `pods/binding` subresource.
    NodeName,
    /// `priorityClassName` `system-node-critical` or `system-cluster-critical`.
    CriticalPriority,
    /// Service `spec.externalIPs`.
    ExternalIps,
}

impl Lever {
    pub const ALL: [Lever; 3] = [Lever::NodeName, Lever::CriticalPriority, Lever::ExternalIps];

    /// The name in policy files.
    pub fn name(self) -> &'static str {
        match self {
            Lever::NodeName => "node-name",
            Lever::CriticalPriority => "critical-priority",
            Lever::ExternalIps => "external-ips",
        }
    }

    pub fn parse(name: &str) -> Option<Lever> {
        Lever::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The group vcproxy impersonates for a tenant whose policy allows this lever.
    pub fn group(self) -> &'static str {
        match self {
            Lever::NodeName => "vcproxy:allow:node-name",
            Lever::CriticalPriority => "vcproxy:allow:critical-priority",
            Lever::ExternalIps => "vcproxy:allow:external-ips",
        }
    }
}

/// Whose writes are checked: tenant users (through vcproxy) and service accounts in tenant
/// namespaces. Controllers (kube-system service accounts, `system:kube-controller-manager`)
/// and vcproxy itself are not.
const FROM_A_TENANT: &str = "request.userInfo.groups.exists(g, g.startsWith('vcproxy:tenant:')) || \
     (request.userInfo.username.startsWith('system:serviceaccount:') && \
     !request.userInfo.username.startsWith('system:serviceaccount:kube-system:'))";

/// Where the pod spec sits in each family of kinds, as a CEL path below `object`.
const POD_SPEC_HOMES: [(&str, &str, &[(&str, &str)]); 4] = [
    ("pods", "spec", &[("", "pods")]),
    ("pod-templates", "template.spec", &[("", "podtemplates")]),
    (
        "workloads",
        "spec.template.spec",
        &[
            ("", "replicationcontrollers"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
        ],
    ),
    ("cronjobs", "spec.jobTemplate.spec.template.spec", &[("batch", "cronjobs")]),
];

fn allowed(lever: Lever) -> String {
    format!("'{}' in request.userInfo.groups", lever.group())
}

fn refusal(what: &str, lever: Lever) -> String {
    format!(
        "{what} is not allowed in a virtual cluster. An operator can allow it for this tenant with \
         allow = [\"{}\"] in its fairness policy entry",
        lever.name()
    )
}

/// `field` of `root.<path>` as a CEL expression, or `default` where any step is missing.
fn field_or(root: &str, path: &str, field: &str, default: &str) -> String {
    let mut guards = Vec::new();
    let mut at = root.to_string();
    for step in path.split('.').chain([field]) {
        guards.push(format!("has({at}.{step})"));
        at = format!("{at}.{step}");
    }
    let present = guards.join(" && ");
    if root == "oldObject" {
        format!("oldObject != null && {present} ? {at} : {default}")
    } else {
        format!("{present} ? {at} : {default}")
    }
}

/// One policy and its binding: the writes of tenants to `resources` in tenant namespaces.
fn policy(name: &str, resources: &[(&str, &str)], variables: Vec<Value>, validations: Vec<Value>) -> [(String, Value); 2] {
    let admission = "/apis/admissionregistration.k8s.io/v1";
    let name = format!("vcproxy-guardrails-{name}");
    let mut by_group: Vec<(&str, Vec<&str>)> = Vec::new();
    for (group, resource) in resources {
        match by_group.iter_mut().find(|(g, _)| g == group) {
            Some((_, rs)) => rs.push(resource),
            None => by_group.push((group, vec![resource])),
        }
    }
    let rules: Vec<Value> = by_group
        .into_iter()
        .map(|(group, resources)| {
            json!({"apiGroups": [group], "apiVersions": ["*"], "resources": resources, "operations": ["CREATE", "UPDATE"]})
        })
        .collect();
    let labels = json!({"app.kubernetes.io/managed-by": "vcproxy"});
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": rules,
                "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]},
            },
            "matchConditions": [{"name": "from-a-tenant", "expression": FROM_A_TENANT}],
            "variables": variables,
            "validations": validations,
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    });
    [
        (format!("{admission}/validatingadmissionpolicies/{name}"), policy),
        (format!("{admission}/validatingadmissionpolicybindings/{name}"), binding),
    ]
}

fn variable(name: &str, expression: String) -> Value {
    json!({"name": name, "expression": expression})
}

fn validation(expression: String, message: String) -> Value {
    json!({"expression": expression, "message": message, "reason": "Forbidden"})
}

/// Every policy and binding, as (path, object) to server-side apply.
pub fn objects() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, home, resources) in POD_SPEC_HOMES {
        let spec = if home == "spec" { "spec".to_string() } else { format!("{home} (the pod template)") };
        let variables = vec![
            variable("node", field_or("object", home, "nodeName", "''")),
            variable("oldNode", field_or("oldObject", home, "nodeName", "''")),
            variable("priority", field_or("object", home, "priorityClassName", "''")),
            variable("oldPriority", field_or("oldObject", home, "priorityClassName", "''")),
        ];
        let validations = vec![
            validation(
                format!("variables.node == '' || variables.node == variables.oldNode || {}", allowed(Lever::NodeName)),
                refusal(&format!("{spec}.nodeName (placing pods on a node of your choice)"), Lever::NodeName),
            ),
            validation(
                format!(
                    "!(variables.priority in ['system-node-critical', 'system-cluster-critical']) || \
                     variables.priority == variables.oldPriority || {}",
                    allowed(Lever::CriticalPriority)
                ),
                refusal(
                    &format!("{spec}.priorityClassName system-node-critical or system-cluster-critical"),
                    Lever::CriticalPriority,
                ),
            ),
        ];
        out.extend(policy(name, resources, variables, validations));
    }
    // Binding a pod to a node is what the scheduler does; for a tenant it is nodeName by
    // another door.
    out.extend(policy(
        "pod-bindings",
        &[("", "pods/binding")],
        vec![],
        vec![validation(allowed(Lever::NodeName), refusal("binding a pod to a node (pods/binding)", Lever::NodeName))],
    ));
    out.extend(policy(
        "services",
        &[("", "services")],
        vec![
            variable("ips", field_or("object", "spec", "externalIPs", "[]")),
            variable("oldIps", field_or("oldObject", "spec", "externalIPs", "[]")),
        ],
        vec![validation(
            format!("variables.ips.all(ip, ip in variables.oldIps) || {}", allowed(Lever::ExternalIps)),
            refusal("Service spec.externalIPs (capturing traffic for addresses you do not own)", Lever::ExternalIps),
        )],
    ));
    out
}

/// Applies the policies at start, retried until the super apiserver takes them.
pub async fn keep_ensuring(upstream: std::sync::Arc<crate::upstream::Upstream>, metrics: std::sync::Arc<crate::metrics::Metrics>) {
    crate::upstream::keep_applying("the tenant guardrail policies", &upstream, &metrics, objects()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lever_names_round_trip() {
        for lever in Lever::ALL {
            assert_eq!(Lever::parse(lever.name()), Some(lever));
            assert_eq!(lever.group(), format!("vcproxy:allow:{}", lever.name()));
        }
        assert_eq!(Lever::parse("nodeName"), None);
    }

    #[test]
    fn missing_steps_are_guarded() {
        assert_eq!(
            field_or("oldObject", "spec.template.spec", "nodeName", "''"),
            "oldObject != null && has(oldObject.spec) && has(oldObject.spec.template) && has(oldObject.spec.template.spec) \
             && has(oldObject.spec.template.spec.nodeName) ? oldObject.spec.template.spec.nodeName : ''"
        );
    }

    #[test]
    fn every_policy_has_a_binding_and_covers_only_tenant_namespaces() {
        let objects = objects();
        let policies: Vec<&Value> = objects.iter().map(|(_, o)| o).filter(|o| o["kind"] == "ValidatingAdmissionPolicy").collect();
        assert_eq!(policies.len(), 6);
        for p in policies {
            let name = p["metadata"]["name"].as_str().unwrap();
            assert!(
                objects.iter().any(|(_, o)| o["kind"] == "ValidatingAdmissionPolicyBinding" && o["spec"]["policyName"] == name),
                "{name} has no binding"
            );
            assert_eq!(p["spec"]["matchConstraints"]["namespaceSelector"]["matchExpressions"][0]["key"], TENANT_LABEL);
        }
    }
}
