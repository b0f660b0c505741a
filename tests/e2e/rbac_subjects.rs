//! RoleBinding subjects live in the tenant's identity space (issue 10): with the real kubectl
//! (protobuf bodies) and JSON, a tenant binds its own users, groups and service accounts, and
//! can never name an identity of the shared cluster or of another tenant.

use std::path::Path;

use serde_json::Value;
use vcproxy_testenv::shared;

use crate::{kubectl_with_stdin, ok, proxy, tenant_on};

fn kubectl(kc: &Path, args: &[&str]) -> String {
    ok(proxy().kubectl(kc, args), &format!("kubectl {}", args.join(" ")))
}

/// kubectl must fail; returns its stderr.
fn kubectl_fails(kc: &Path, args: &[&str]) -> String {
    let out = proxy().kubectl(kc, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "kubectl {} succeeded: {}", args.join(" "), String::from_utf8_lossy(&out.stdout));
    stderr
}

fn admin_subjects(super_ns: &str, name: &str) -> Option<Vec<(String, String)>> {
    let out = shared().admin_kubectl(&["get", "rolebinding", name, "-n", super_ns, "-o", "json"]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        v["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["kind"].as_str().unwrap().to_string(), s["name"].as_str().unwrap().to_string()))
            .collect(),
    )
}

fn pairs(xs: &[(&str, &str)]) -> Vec<(String, String)> {
    xs.iter().map(|(k, n)| (k.to_string(), n.to_string())).collect()
}

#[test]
fn rolebinding_subjects_are_the_tenants_own_identities() {
    let (t, kc) = tenant_on(proxy(), "rbs");
    let super_ns = format!("{t}--default");

    // kubectl create rolebinding sends protobuf.
    kubectl(
        &kc,
        &[
            "create", "rolebinding", "team-view", "--clusterrole=view", "--user=alice", "--group=dev",
            "--group=system:authenticated", "--group=system:serviceaccounts:default", "--serviceaccount=default:builder",
            "-n", "default",
        ],
    );
    let stored = admin_subjects(&super_ns, "team-view").expect("the binding is stored upstream");
    let mut want = pairs(&[
        ("User", &format!("vcproxy:{t}:alice")),
        ("Group", &format!("vcproxy:group:{t}:dev")),
        ("Group", &format!("vcproxy:tenant:{t}")),
        ("Group", &format!("system:serviceaccounts:{t}--default")),
        ("ServiceAccount", "builder"),
    ]);
    let mut got = stored.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "what the super master stores");
    // The tenant reads back what it wrote.
    let names = kubectl(&kc, &["get", "rolebinding", "team-view", "-n", "default", "-o", "jsonpath={range .subjects[*]}{.kind}/{.name} {end}"]);
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(
        names,
        ["Group/dev", "Group/system:authenticated", "Group/system:serviceaccounts:default", "ServiceAccount/builder", "User/alice"]
    );
    // The binding binds the identity the proxy sends for alice, and nobody named plain `alice`.
    let can = |user: &str| {
        let out = shared().admin_kubectl(&["auth", "can-i", "list", "configmaps", "-n", &super_ns, "--as", user]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(can(&format!("vcproxy:{t}:alice")), "yes");
    assert_eq!(can("alice"), "no");

    // JSON, as `kubectl apply` sends it: the same translation.
    let json_rb = format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{{"name":"json-view","namespace":"default"}},
            "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"}},
            "subjects":[{{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"bob"}},
                        {{"kind":"User","name":"system:serviceaccount:default:builder"}}]}}"#
    );
    ok(kubectl_with_stdin(&kc, &["apply", "-f", "-"], &json_rb), "kubectl apply json-view");
    assert_eq!(
        admin_subjects(&super_ns, "json-view"),
        Some(pairs(&[("User", &format!("vcproxy:{t}:bob")), ("User", &format!("system:serviceaccount:{t}--default:builder"))]))
    );
}

#[test]
fn hostile_subjects_are_refused() {
    let (t, kc) = tenant_on(proxy(), "rbh");
    let (other, _) = tenant_on(proxy(), "rbo");
    let super_ns = format!("{t}--default");

    // Identities of the shared cluster, by every door: kubectl create (protobuf), apply (JSON).
    for (i, flag) in [
        "--group=system:masters",
        "--group=system:unauthenticated",
        "--group=system:serviceaccounts",
        "--user=system:admin",
        "--user=system:kube-controller-manager",
        "--user=system:anonymous",
        "--group=System:Masters",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("bad-{i}");
        let err = kubectl_fails(&kc, &["create", "rolebinding", &name, "--clusterrole=view", flag, "-n", "default"]);
        assert!(err.contains("virtual cluster"), "{flag}: the refusal says why: {err}");
        assert_eq!(admin_subjects(&super_ns, &name), None, "ESCAPE: {flag} was stored");
    }
    let apply = |name: &str, subject: &str| {
        format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{{"name":"{name}","namespace":"default"}},
                "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"}},"subjects":[{subject}]}}"#
        )
    };
    for (i, subject) in [
        r#"{"kind":"Group","name":"system:masters"}"#,
        r#"{"kind":"User","name":"system:serviceaccount:kube-system"}"#,
        r#"{"kind":"Group","name":"system:serviceaccounts:kube-system:x"}"#,
    ]
    .iter()
    .enumerate()
    {
        let name = format!("bad-json-{i}");
        let out = kubectl_with_stdin(&kc, &["apply", "-f", "-"], &apply(&name, subject));
        assert!(!out.status.success(), "ESCAPE: {subject} applied");
        assert_eq!(admin_subjects(&super_ns, &name), None, "ESCAPE: {subject} was stored");
    }
    // A service account named by namespace is one of the tenant's own namespaces (its virtual
    // kube-system), never the super master's.
    ok(
        kubectl_with_stdin(&kc, &["apply", "-f", "-"], &apply("sa", r#"{"kind":"User","name":"system:serviceaccount:kube-system:default"}"#)),
        "apply sa",
    );
    assert_eq!(admin_subjects(&super_ns, "sa"), Some(pairs(&[("User", &format!("system:serviceaccount:{t}--kube-system:default"))])));
    // Another tenant's identities come out as this tenant's own (prefixed), never as the other's.
    ok(
        kubectl_with_stdin(
            &kc,
            &["apply", "-f", "-"],
            &apply("other", &format!(r#"{{"kind":"User","name":"vcproxy:{other}:admin"}},{{"kind":"Group","name":"vcproxy:tenant:{other}"}}"#)),
        ),
        "apply other",
    );
    for (kind, name) in admin_subjects(&super_ns, "other").unwrap() {
        assert!(
            name.starts_with(&format!("vcproxy:{t}:")) || name.starts_with(&format!("vcproxy:group:{t}:")),
            "ESCAPE: {kind} {name} reaches outside {t}"
        );
    }
    // Changing a subject's name or kind in place by JSON patch is refused; whole subjects are translated.
    kubectl(&kc, &["create", "rolebinding", "patched", "--clusterrole=view", "--user=carol", "-n", "default"]);
    for op in [
        r#"[{"op":"replace","path":"/subjects/0/name","value":"system:authenticated"}]"#,
        r#"[{"op":"replace","path":"/subjects/0/kind","value":"Group"}]"#,
        r#"[{"op":"add","path":"/subjects/-","value":{"kind":"Group","name":"system:masters"}}]"#,
    ] {
        kubectl_fails(&kc, &["patch", "rolebinding", "patched", "-n", "default", "--type=json", "-p", op]);
    }
    kubectl(&kc, &["patch", "rolebinding", "patched", "-n", "default", "--type=merge", "-p", r#"{"subjects":[{"kind":"Group","name":"system:authenticated"}]}"#]);
    assert_eq!(admin_subjects(&super_ns, "patched"), Some(pairs(&[("Group", &format!("vcproxy:tenant:{t}"))])));
    kubectl_fails(&kc, &["patch", "rolebinding", "patched", "-n", "default", "--type=merge", "-p", r#"{"subjects":[{"kind":"Group","name":"system:masters"}]}"#]);
    assert_eq!(admin_subjects(&super_ns, "patched"), Some(pairs(&[("Group", &format!("vcproxy:tenant:{t}"))])), "unchanged");
    // vcproxy's own admin binding reads as what it is: the tenant's cluster-admins group.
    let admin = kubectl(&kc, &["get", "rolebinding", "vcproxy-tenant-admin", "-n", "default", "-o", "jsonpath={.subjects[0].name}"]);
    assert_eq!(admin, "cluster-admins");
}
