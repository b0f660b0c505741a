//! A tenant's own ClusterRoles and ClusterRoleBindings (issue 10, point 3), with
//! the real kubectl: they work as on a real cluster, in every namespace of the
//! tenant (including ones made later), escalation is refused as kube-apiserver
//! refuses it, and nothing of them reaches beyond the tenant.

use std::time::{Duration, Instant};

use serde_json::Value;
use vcproxy_testenv::shared;

use crate::tenant_users::{can_i, eventually, forbidden, kubectl, user_kubeconfig};
use crate::{kubectl_with_stdin, ok, proxy, tenant_on};

/// The super master's object, or None when it does not exist.
fn upstream(kind: &str, ns: Option<&str>, name: &str) -> Option<Value> {
    let mut args = vec!["get", kind, name, "-o", "json"];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    let out = shared().admin_kubectl(&args);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("NotFound"), "super admin get {kind} {name}: {err}");
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(30), "still not so after 30 s: {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

const MONITORING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-monitoring: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: service-reader
  labels: {example.com/aggregate-to-monitoring: "true", rbac.authorization.k8s.io/aggregate-to-admin: "true"}
rules:
- {apiGroups: [""], resources: [services, endpoints], verbs: [get, list, watch]}
"#;

#[test]
fn cluster_roles_and_bindings_work_in_every_namespace_of_the_tenant() {
    let p = proxy();
    let (t, admin) = tenant_on(p, "crb");
    kubectl(&admin, &["create", "namespace", "apps"]);
    let alice = user_kubeconfig(p, &t, "alice", &[]);
    forbidden(&alice, &["get", "pods", "-n", "apps"]);
    forbidden(&alice, &["get", "clusterroles"]);

    // kubectl's typed commands (protobuf bodies).
    kubectl(&admin, &["create", "clusterrole", "pod-reader", "--verb=get,list,watch", "--resource=pods"]);
    kubectl(&admin, &["create", "clusterrolebinding", "alice-reads", "--clusterrole=pod-reader", "--user=alice"]);
    let role: Value =
        serde_json::from_str(&kubectl(&admin, &["get", "clusterrole", "pod-reader", "-o", "json"])).unwrap();
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]), "{role}");
    let binding: Value =
        serde_json::from_str(&kubectl(&admin, &["get", "clusterrolebinding", "alice-reads", "-o", "json"])).unwrap();
    assert_eq!(binding["subjects"][0]["name"], "alice", "the tenant's names: {binding}");
    assert_eq!(binding["roleRef"]["name"], "pod-reader");
    // The list is the tenant's own, and the built-ins are readable by name.
    let names = kubectl(&admin, &["get", "clusterroles", "-o", "name"]);
    assert_eq!(names.trim(), "clusterrole.rbac.authorization.k8s.io/pod-reader", "{names}");
    assert!(kubectl(&admin, &["get", "clusterrole", "view", "-o", "json"]).contains("\"name\": \"view\""));
    forbidden(&admin, &["delete", "clusterrole", "view"]);

    // Upstream: the two halves of the role, a RoleBinding per place, nothing cluster-wide.
    assert!(upstream("clusterrole", None, "pod-reader").is_none());
    assert!(upstream("clusterrolebinding", None, "alice-reads").is_none());
    assert!(upstream("clusterrole", None, &format!("vcproxy-cluster:{t}:pod-reader")).is_some());
    let rb = upstream("rolebinding", Some(&format!("{t}--apps")), "vcproxy-crb:alice-reads").expect("binding in apps");
    assert_eq!(rb["roleRef"]["name"], format!("vcproxy:{t}:pod-reader"));
    assert_eq!(rb["subjects"][0]["name"], format!("vcproxy:{t}:alice"));

    // alice reads pods everywhere, in namespaces made later too, and nothing else.
    eventually(&alice, &["get", "pods", "-n", "apps"]);
    eventually(&alice, &["get", "pods", "-A"]);
    assert_eq!(can_i(&alice, &["list", "pods", "--all-namespaces"]), "yes");
    // `can-i --list` shows the cluster-wide grant in a namespace, as on a real cluster.
    let rules = can_i(&alice, &["--list", "-n", "apps"]);
    assert!(rules.lines().any(|l| l.starts_with("pods ") && l.contains("[get list watch]")), "{rules}");
    assert!(!rules.contains("secrets"), "{rules}");
    forbidden(&alice, &["get", "secrets", "-n", "apps"]);
    kubectl(&admin, &["create", "namespace", "later"]);
    eventually(&alice, &["get", "pods", "-n", "later"]);

    // A RoleBinding may name the tenant's ClusterRole (kubectl sends protobuf; read back in its names).
    kubectl(&admin, &["create", "rolebinding", "bob-reads", "--clusterrole=pod-reader", "--user=bob", "-n", "apps"]);
    let bob = user_kubeconfig(p, &t, "bob", &[]);
    eventually(&bob, &["get", "pods", "-n", "apps"]);
    forbidden(&bob, &["get", "pods", "-n", "later"]);
    let role_ref =
        kubectl(&admin, &["get", "rolebinding", "bob-reads", "-n", "apps", "-o", "jsonpath={.roleRef.name}"]);
    assert_eq!(role_ref, "pod-reader");

    // A service account of the tenant, bound cluster-wide, reached with --as as on a real cluster.
    kubectl(&admin, &["create", "serviceaccount", "ci", "-n", "apps"]);
    kubectl(
        &admin,
        &["create", "clusterrolebinding", "ci-pods", "--clusterrole=pod-reader", "--serviceaccount=apps:ci"],
    );
    let as_ci = "--as=system:serviceaccount:apps:ci";
    eventually(&admin, &[as_ci, "get", "pods", "-n", "later"]);
    forbidden(&admin, &[as_ci, "get", "secrets", "-n", "apps"]);
    assert_eq!(can_i(&admin, &[as_ci, "list", "pods", "-n", "later"]), "yes");
    let whoami = kubectl(&admin, &[as_ci, "auth", "whoami", "-o", "json"]);
    assert!(
        whoami.contains("\"system:serviceaccount:apps:ci\"") && whoami.contains("\"system:serviceaccounts:apps\""),
        "{whoami}"
    );
    assert!(!whoami.contains(&format!("{t}--")), "super names in whoami: {whoami}");
    forbidden(&alice, &[as_ci, "get", "pods", "-n", "apps"]);

    // Deleting the binding takes the rights away in every namespace.
    kubectl(&admin, &["delete", "clusterrolebinding", "alice-reads"]);
    until("alice lost pods", || !proxy().kubectl(&alice, &["get", "pods", "-n", "later"]).status.success());
    assert!(upstream("rolebinding", Some(&format!("{t}--apps")), "vcproxy-crb:alice-reads").is_none());
    kubectl(&admin, &["delete", "clusterrole", "pod-reader"]);
    assert!(upstream("clusterrole", None, &format!("vcproxy:{t}:pod-reader")).is_none());
}

#[test]
fn escalation_is_refused_and_grants_stay_inside_the_tenant() {
    let p = proxy();
    let (t, admin) = tenant_on(p, "cre");
    kubectl(&admin, &["create", "namespace", "apps"]);
    let carol = user_kubeconfig(p, &t, "carol", &[]);

    // carol may manage cluster RBAC (but not escalate or bind: `*` would include them) and read pods.
    kubectl(
        &admin,
        &[
            "create",
            "clusterrole",
            "rbac-manager",
            "--verb=get,list,watch,create,update,patch,delete",
            "--resource=clusterroles,clusterrolebindings",
        ],
    );
    kubectl(&admin, &["create", "clusterrole", "pod-reader", "--verb=get,list", "--resource=pods"]);
    kubectl(&admin, &["create", "clusterrolebinding", "carol-rbac", "--clusterrole=rbac-manager", "--user=carol"]);
    kubectl(&admin, &["create", "clusterrolebinding", "carol-pods", "--clusterrole=pod-reader", "--user=carol"]);
    eventually(&carol, &["get", "clusterroles"]);
    // A role with rules she holds: yes. One with rules she does not: no, as kube-apiserver says it.
    kubectl(&carol, &["create", "clusterrole", "pods-too", "--verb=get", "--resource=pods"]);
    let err = forbidden(&carol, &["create", "clusterrole", "secret-reader", "--verb=get", "--resource=secrets"]);
    assert!(err.contains("not currently held") && err.contains("secrets"), "{err}");
    // Binding a role she does not hold (or may bind): no. One she holds: yes.
    let err = forbidden(&carol, &["create", "clusterrolebinding", "carol-edit", "--clusterrole=edit", "--user=carol"]);
    assert!(err.contains("not currently held"), "{err}");
    kubectl(&carol, &["create", "clusterrolebinding", "dave-pods", "--clusterrole=pods-too", "--user=dave"]);
    forbidden(&carol, &["create", "clusterrole", "agg", "--aggregation-rule=x=y"]);
    // Editing a role she can write to rules she does not hold is an escalation too.
    let err = forbidden(
        &carol,
        &[
            "patch",
            "clusterrole",
            "pods-too",
            "--type=merge",
            "-p",
            r#"{"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]}"#,
        ],
    );
    assert!(err.contains("not currently held"), "{err}");

    // The tenant's admins hold everything at the tenant's cluster scope, but a
    // grant never reaches further inside a namespace than they hold there: the
    // ResourceQuotas vcproxy sets stay vcproxy's.
    let everything = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: everything}\n\
                      rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n";
    ok(kubectl_with_stdin(&admin, &["apply", "-f", "-"], everything), "apply everything");
    kubectl(&admin, &["create", "clusterrolebinding", "carol-everything", "--clusterrole=everything", "--user=carol"]);
    eventually(&carol, &["create", "namespace", "carols"]);
    eventually(&carol, &["get", "secrets", "-n", "apps"]);
    forbidden(&carol, &["create", "quota", "more", "--hard=pods=100000", "-n", "apps"]);
    forbidden(&admin, &["create", "quota", "more", "--hard=pods=100000", "-n", "apps"]);
    let ns_part = upstream("clusterrole", None, &format!("vcproxy:{t}:everything")).unwrap();
    assert!(!ns_part["rules"].to_string().contains("\"*\""), "wildcards beyond the tenant's admins: {ns_part}");
    assert!(ns_part["rules"].as_array().is_some_and(|r| r.len() > 5), "inside namespaces it means admin: {ns_part}");

    // Aggregation is the tenant's own: labels do not reach the super master's roles.
    ok(kubectl_with_stdin(&admin, &["apply", "-f", "-"], MONITORING), "apply monitoring");
    ok(kubectl_with_stdin(&admin, &["apply", "-f", "-"], MONITORING), "apply again (a patch)");
    until("monitoring aggregates service-reader", || {
        kubectl(&admin, &["get", "clusterrole", "monitoring", "-o", "json"]).contains("endpoints")
    });
    let cluster_part = upstream("clusterrole", None, &format!("vcproxy-cluster:{t}:service-reader")).unwrap();
    assert!(!cluster_part["metadata"]["labels"].to_string().contains("aggregate-to"), "{cluster_part}");
    let super_admin = upstream("clusterrole", None, "admin").unwrap();
    assert!(!super_admin.to_string().contains(&t), "the super master's admin role names the tenant: {super_admin}");

    // Another tenant sees none of it, and cannot bind it.
    let (o, other) = tenant_on(p, "creo");
    assert_eq!(kubectl(&other, &["get", "clusterroles", "-o", "name"]).trim(), "");
    kubectl(&other, &["create", "clusterrolebinding", "steal", "--clusterrole=everything", "--user=carol"]);
    let role_ref = kubectl(&other, &["get", "clusterrolebinding", "steal", "-o", "jsonpath={.roleRef.name}"]);
    assert_eq!(role_ref, "everything", "its own name, which is nothing of tenant {t}'s");
    let their_carol = user_kubeconfig(p, &o, "carol", &[]);
    forbidden(&their_carol, &["get", "secrets", "-n", "default"]);
    assert_eq!(can_i(&their_carol, &["create", "namespaces"]), "no");
}

/// Hostile bodies and names on the new paths: each a `metav1.Status` with the right code,
/// and nothing stored.
#[tokio::test]
async fn malformed_cluster_rbac_is_refused_with_a_status() {
    use crate::client::{body_bytes, connect, full};
    use http::{Method, Request};
    let p = proxy();
    let (t, admin) = tenant_on(p, "crh");
    let token = crate::token_of(&admin);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let role = |name: &str| {
        format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{{"name":"{name}"}},"rules":[]}}"#
        )
    };
    let binding = |subject: &str| {
        format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{{"name":"b"}},"roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"}},"subjects":[{subject}]}}"#
        )
    };
    let huge = format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{{"name":"big","annotations":{{"x":"{}"}}}}}}"#,
        "x".repeat(2 << 20)
    );
    let cases: Vec<(Method, String, &str, String, u16)> = vec![
        (Method::POST, format!("{rbac}/clusterroles"), "application/json", "{not json".into(), 400),
        (Method::POST, format!("{rbac}/clusterroles"), "application/vnd.kubernetes.protobuf", "k8s\0\x0a\x7f".into(), 400),
        (Method::POST, format!("{rbac}/clusterroles"), "application/json", huge, 413),
        (Method::POST, format!("{rbac}/clusterroles"), "application/json", role(".."), 422),
        (Method::POST, format!("{rbac}/clusterroles"), "application/json", role("admin"), 403),
        (Method::POST, format!("{rbac}/clusterroles"), "application/json", role("a").replace("\"rules\":[]", "\"rules\":[{\"verbs\":[]}]"), 422),
        (Method::POST, format!("{rbac}/clusterrolebindings"), "application/json", binding(r#"{"kind":"User","name":"system:kube-scheduler"}"#), 422),
        (Method::POST, format!("{rbac}/clusterrolebindings"), "application/json", binding(r#"{"kind":"ServiceAccount","name":"x","namespace":"../kube-system"}"#), 422),
        (Method::POST, format!("{rbac}/clusterrolebindings"), "application/json", binding(r#"{"kind":"Group","name":"system:nodes"}"#), 422),
        (Method::GET, format!("{rbac}/clusterroles/..%2Fclusterrolebindings"), "application/json", String::new(), 400),
        (Method::GET, format!("{rbac}/namespaces/default/clusterroles"), "application/json", String::new(), 404),
        (Method::GET, format!("{rbac}/clusterroles/system:node"), "application/json", String::new(), 404),
        // Rules reviews name only the tenant's namespaces.
        (Method::POST, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews".into(), "application/json",
            r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"kube-system"}}"#.into(), 404),
        (Method::POST, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews".into(), "application/json",
            format!(r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{{"namespace":"vcproxy-cluster-{t}"}}}}"#), 404),
        (Method::POST, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews".into(), "application/json",
            r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{}}"#.into(), 400),
    ];
    for (method, path, ct, body, want) in cases {
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("{}/clusters/{t}{path}", p.url()))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", ct)
            .body(full(body))
            .unwrap();
        let (status, _, bytes) = body_bytes(conn.send(req).await).await;
        let text = String::from_utf8_lossy(&bytes);
        let what = format!("{method} {path} ({ct})");
        assert_eq!(status.as_u16(), want, "{what}: {text}");
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert_eq!((v["kind"].as_str(), v["code"].as_u64()), (Some("Status"), Some(want as u64)), "{what}: {text}");
    }
    // Nothing was stored, and nothing reached the super master.
    assert_eq!(kubectl(&admin, &["get", "clusterroles,clusterrolebindings", "-o", "name"]).trim(), "");
    assert!(upstream("clusterrole", None, &format!("vcproxy-cluster:{t}:a")).is_none());
}
