//! A tenant's users start with nothing (issue 10): only the tenant's
//! `cluster-admins` are admins, everyone else has what the tenant's own RBAC
//! grants — for what the super apiserver serves (forwarded, impersonated) and
//! for what vcproxy serves itself (namespaces, tenant CRDs and objects, reads
//! across namespaces). Users from before groups existed keep their rights.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use vcproxy_testenv::{shared, Vcproxy};

use crate::{kubectl_with_stdin, ok, proxy, tenant_on, vcproxy_bin};

fn token_of_text(kubeconfig: &str) -> String {
    let v: serde_yaml::Value = serde_yaml::from_str(kubeconfig).unwrap();
    v["users"][0]["user"]["token"].as_str().unwrap().to_string()
}

pub(crate) fn user_kubeconfig(p: &Vcproxy, tenant: &str, user: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["kubeconfig", tenant, "--user", user];
    args.extend_from_slice(extra);
    let text = ok(p.tenant(&args), "tenant kubeconfig");
    let path = p.dir().join(format!("{tenant}-{user}.kubeconfig"));
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn kubectl(kc: &Path, args: &[&str]) -> String {
    ok(proxy().kubectl(kc, args), &format!("kubectl {}", args.join(" ")))
}

/// kubectl must be refused with Forbidden; returns its stderr.
pub(crate) fn forbidden(kc: &Path, args: &[&str]) -> String {
    let out = proxy().kubectl(kc, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "kubectl {} succeeded: {}", args.join(" "), String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("Forbidden") || stderr.contains("forbidden"), "kubectl {}: {stderr}", args.join(" "));
    stderr
}

/// `kubectl auth can-i …` (exit status 1 means "no").
pub(crate) fn can_i(kc: &Path, args: &[&str]) -> String {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&proxy().kubectl(kc, &all).stdout).trim().to_string()
}

/// Retries `args` until it succeeds (RBAC answers are cached a few seconds).
pub(crate) fn eventually(kc: &Path, args: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let out = proxy().kubectl(kc, args);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "kubectl {} still failing: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

const WIDGETS: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{"name":"widgets.users.example.com"},
"spec":{"group":"users.example.com","scope":"Namespaced","names":{"plural":"widgets","singular":"widget","kind":"Widget"},
"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#;

#[test]
fn new_users_have_no_rights_until_the_tenants_rbac_grants_them() {
    let p = proxy();
    let (t, admin) = tenant_on(p, "usr");
    kubectl(&admin, &["create", "namespace", "other"]);
    kubectl_with_stdin(&admin, &["apply", "-f", "-"], WIDGETS);
    let alice = user_kubeconfig(p, &t, "alice", &[]);

    // Who alice is works; nothing else does.
    let whoami: Value = serde_json::from_str(&kubectl(&alice, &["auth", "whoami", "-o", "json"])).unwrap();
    let groups = whoami["status"]["userInfo"]["groups"].to_string();
    assert!(!groups.contains("cluster-admins"), "alice is in no group: {groups}");
    assert_eq!(can_i(&alice, &["create", "secrets", "-n", "default"]), "no");
    forbidden(&alice, &["get", "configmaps", "-n", "default"]);
    forbidden(&alice, &["create", "secret", "generic", "s1", "-n", "default", "--from-literal=a=b"]);
    let msg = forbidden(&alice, &["create", "namespace", "alices"]);
    assert!(msg.contains(r#"User "alice" cannot create resource "namespaces""#), "{msg}");
    forbidden(&alice, &["get", "namespaces"]);
    forbidden(&alice, &["get", "namespace", "default"]);
    forbidden(&alice, &["delete", "namespace", "other"]);
    forbidden(&alice, &["get", "secrets", "-A"]);
    forbidden(&alice, &["get", "crd"]);
    forbidden(&alice, &["get", "widgets", "-n", "default"]);
    forbidden(&alice, &["get", "widgets", "-A"]);

    // The tenant admin grants `edit` in default: alice gets exactly that.
    kubectl(&admin, &["create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice", "-n", "default"]);
    eventually(&alice, &["create", "configmap", "c1", "-n", "default", "--from-literal=a=b"]);
    kubectl(&alice, &["get", "configmap", "c1", "-n", "default"]);
    assert_eq!(can_i(&alice, &["create", "secrets", "-n", "default"]), "yes");
    // `edit` includes reading its namespace, which vcproxy answers itself.
    eventually(&alice, &["get", "namespace", "default"]);
    forbidden(&alice, &["get", "configmaps", "-n", "other"]);
    forbidden(&alice, &["create", "namespace", "alices"]);
    forbidden(&alice, &["delete", "namespace", "default"]);
    forbidden(&alice, &["get", "configmaps", "-A"]);

    // A Role on the tenant's own CRD, in one namespace.
    let role = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"widgets","namespace":"default"},
"rules":[{"apiGroups":["users.example.com"],"resources":["widgets"],"verbs":["get","list","create"]}]}"#;
    // The admin holds the CRD's rights as soon as vcproxy has followed the new CRD (≤ 1 s).
    let start = Instant::now();
    while !kubectl_with_stdin(&admin, &["apply", "-f", "-"], role).status.success() {
        assert!(start.elapsed() < Duration::from_secs(20), "the admin cannot create a Role for the tenant's CRD");
        std::thread::sleep(Duration::from_millis(300));
    }
    kubectl(&admin, &["create", "rolebinding", "alice-widgets", "--role=widgets", "--user=alice", "-n", "default"]);
    let widget =
        r#"{"apiVersion":"users.example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"default"}}"#;
    let start = Instant::now();
    loop {
        let out = kubectl_with_stdin(&alice, &["create", "-f", "-"], widget);
        if out.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(start.elapsed() < Duration::from_secs(20), "alice cannot create her widget: {err}");
        std::thread::sleep(Duration::from_millis(500));
    }
    kubectl(&alice, &["get", "widgets", "-n", "default"]);
    forbidden(&alice, &["delete", "widget", "w1", "-n", "default"]);
    forbidden(&alice, &["get", "widgets", "-n", "other"]);

    // Revoking the binding takes the rights away again.
    kubectl(&admin, &["delete", "rolebinding", "alice-edit", "-n", "default"]);
    let start = Instant::now();
    while p.kubectl(&alice, &["get", "namespace", "default"]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(20), "alice still reads the namespace after revocation");
        std::thread::sleep(Duration::from_millis(500));
    }
    forbidden(&alice, &["get", "configmaps", "-n", "default"]);
}

#[test]
fn members_of_cluster_admins_are_the_tenants_admins() {
    let p = proxy();
    let (t, admin) = tenant_on(p, "adm");
    let whoami = kubectl(&admin, &["auth", "whoami", "-o", "json"]);
    assert!(whoami.contains("cluster-admins"), "the first user is an admin: {whoami}");

    let bob = user_kubeconfig(p, &t, "bob", &["--group", "cluster-admins", "--group", "dev"]);
    kubectl(&bob, &["create", "namespace", "bobs"]);
    kubectl(&bob, &["create", "secret", "generic", "s", "-n", "bobs", "--from-literal=a=b"]);
    kubectl_with_stdin(&bob, &["apply", "-f", "-"], WIDGETS);
    kubectl(&bob, &["get", "secrets", "-A"]);
    kubectl(&bob, &["delete", "namespace", "bobs", "--wait=false"]);

    // Re-issuing without --group keeps the groups; --no-groups removes them.
    let again = user_kubeconfig(p, &t, "bob", &[]);
    kubectl(&again, &["get", "namespaces"]);
    let demoted = user_kubeconfig(p, &t, "bob", &["--no-groups"]);
    let start = Instant::now();
    while p.kubectl(&demoted, &["get", "namespaces"]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(20), "bob is still an admin after --no-groups");
        std::thread::sleep(Duration::from_millis(300));
    }

    // No user can be put in a super-master group by the CLI.
    let out = p.tenant(&["kubeconfig", &t, "--user", "eve", "--group", "system:masters"]);
    assert!(!out.status.success(), "system:masters must be refused");
}

/// Tenants from before users had groups: their bindings named the all-users
/// group and their user records no groups. After an upgrade (a restart), the
/// old users are still admins and new users are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_from_before_groups_keep_their_rights() {
    let cp = shared();
    let p = Vcproxy::start(vcproxy_bin(), cp).unwrap();
    let t = crate::unique_tenant("old");
    p.create_tenant_kubeconfig(&t).unwrap();
    let super_ns = format!("{t}--default");

    // Make the tenant look as an older vcproxy left it.
    let legacy = format!(
        r#"{{"subjects":[{{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"vcproxy:tenant:{t}"}}]}}"#
    );
    ok(
        cp.admin_kubectl(&[
            "patch",
            "rolebinding",
            "vcproxy-tenant-admin",
            "-n",
            &super_ns,
            "--type=merge",
            "-p",
            &legacy,
        ]),
        "make the binding legacy",
    );
    let token = "legacy-token-0123456789abcdef";
    let record = format!(r#"{{"name":"old","tokenHashes":["{}"]}}"#, vcproxy::tenants::hash_token(token));
    let mut etcd = etcd_client::Client::connect([cp.etcd_url()], None).await.unwrap();
    etcd.put(format!("/vcproxy/tenants/{t}/users/old"), record, None).await.unwrap();
    drop(p);
    let p = Vcproxy::start(vcproxy_bin(), cp).unwrap();
    // Kubeconfigs for the new proxy (its own CA and URL): the admin's, and the old user's token.
    let admin_text = ok(p.tenant(&["kubeconfig", &t]), "admin kubeconfig");
    let keep = std::env::temp_dir().join(format!("vcproxy-e2e-{t}"));
    std::fs::create_dir_all(&keep).unwrap();
    let (kc, old_kc) = (keep.join("admin.kubeconfig"), keep.join("old.kubeconfig"));
    std::fs::write(&old_kc, admin_text.replace(&token_of_text(&admin_text), token)).unwrap();
    std::fs::write(&kc, admin_text).unwrap();
    let start = Instant::now();
    loop {
        let out = cp.admin_kubectl(&["get", "rolebinding", "vcproxy-tenant-admin", "-n", &super_ns, "-o", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if v["subjects"][0]["name"] == format!("vcproxy:group:{t}:cluster-admins") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "binding not upgraded: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for user in [&kc, &old_kc] {
        ok(
            p.kubectl(user, &["create", "configmap", "after-upgrade", "-n", "default", "--dry-run=server"]),
            "admin write",
        );
        ok(p.kubectl(user, &["get", "namespaces"]), "admin namespaces");
    }
    let newcomer = user_kubeconfig(&p, &t, "newcomer", &[]);
    let out = p.kubectl(&newcomer, &["get", "configmaps", "-n", "default"]);
    assert!(!out.status.success(), "a new user is no admin after the upgrade");
    let _ = std::fs::remove_dir_all(&keep);
}

fn review(kc: &Path, doc: &str) -> Result<Value, String> {
    let out = kubectl_with_stdin(kc, &["create", "-f", "-", "-o", "json"], doc);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn can_i_whoami_and_impersonation_speak_the_tenants_names() {
    let p = proxy();
    let (t, admin) = tenant_on(p, "rev");
    let alice = user_kubeconfig(p, &t, "alice", &[]);
    kubectl(&admin, &["create", "rolebinding", "dev-view", "--clusterrole=view", "--group=dev", "-n", "default"]);

    // can-i answers what the next request will meet, for what vcproxy serves too.
    assert_eq!(can_i(&admin, &["create", "namespaces"]), "yes");
    assert_eq!(can_i(&admin, &["create", "customresourcedefinitions.apiextensions.k8s.io"]), "yes");
    assert_eq!(can_i(&admin, &["get", "pods", "-n", "default"]), "yes");
    assert_eq!(can_i(&admin, &["update", "resourcequotas", "-n", "default"]), "no", "quotas stay the operator's");
    assert_eq!(can_i(&alice, &["create", "namespaces"]), "no");
    assert_eq!(can_i(&alice, &["list", "pods", "-A"]), "no");

    // --as inside the tenant, for whom the tenant's RBAC allows it.
    let whoami: Value =
        serde_json::from_str(&kubectl(&admin, &["--as=alice", "--as-group=dev", "auth", "whoami", "-o", "json"]))
            .unwrap();
    assert_eq!(whoami["status"]["userInfo"]["username"], "alice");
    assert_eq!(whoami["status"]["userInfo"]["groups"], serde_json::json!(["dev", "system:authenticated"]));
    forbidden(&admin, &["--as=alice", "get", "configmaps", "-n", "default"]);
    kubectl(&admin, &["--as=alice", "--as-group=dev", "get", "configmaps", "-n", "default"]);
    forbidden(&admin, &["--as=alice", "--as-group=dev", "create", "configmap", "c", "-n", "default"]);
    assert_eq!(can_i(&admin, &["--as=alice", "--as-group=dev", "list", "configmaps", "-n", "default"]), "yes");
    assert_eq!(can_i(&admin, &["--as=alice", "--as-group=dev", "delete", "configmaps", "-n", "default"]), "no");
    // alice may not impersonate; nobody may impersonate the shared cluster's identities.
    let msg = forbidden(&alice, &["--as=admin", "get", "configmaps", "-n", "default"]);
    assert!(msg.contains("cannot impersonate resource \"users\""), "{msg}");
    for who in ["--as=system:admin", "--as=vcproxy:other:admin", "--as=system:serviceaccount:kube-system:default"] {
        forbidden(&admin, &[who, "get", "configmaps", "-n", "default"]);
    }
    forbidden(&admin, &["--as=alice", "--as-group=system:masters", "get", "configmaps", "-n", "default"]);

    // SubjectAccessReview and LocalSubjectAccessReview about the tenant's own identities.
    let sar = |user: &str, groups: &str, verb: &str| {
        format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"{user}","groups":{groups},
"resourceAttributes":{{"namespace":"default","verb":"{verb}","resource":"configmaps"}}}}}}"#
        )
    };
    let r = review(&admin, &sar("alice", r#"["dev"]"#, "list")).unwrap();
    assert_eq!(r["status"]["allowed"], true, "{r}");
    assert_eq!(r["spec"]["user"], "alice", "the answer repeats the tenant's names: {r}");
    let r = review(&admin, &sar("alice", "[]", "list")).unwrap();
    assert_eq!(r["status"]["allowed"], false, "{r}");
    let lsar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"LocalSubjectAccessReview","metadata":{"namespace":"default"},
"spec":{"user":"bob","groups":["dev"],"resourceAttributes":{"verb":"get","resource":"configmaps"}}}"#;
    let r = review(&admin, lsar).unwrap();
    assert_eq!(
        (r["status"]["allowed"].clone(), r["spec"]["resourceAttributes"]["namespace"].clone()),
        (true.into(), "default".into()),
        "{r}"
    );
    for hostile in [
        sar("system:admin", "[]", "list"),
        sar("bob", r#"["system:masters"]"#, "list"),
        sar("", r#"["system:serviceaccounts"]"#, "list"),
    ] {
        let err = review(&admin, &hostile).unwrap_err();
        assert!(err.contains("Invalid") || err.contains("invalid"), "{hostile}: {err}");
    }
    // Reviews about others need the right to create them: alice has none.
    let err = review(&alice, &sar("alice", "[]", "list")).unwrap_err();
    assert!(err.contains("Forbidden") || err.contains("forbidden"), "{err}");
}
