//! The virtual cluster view with the real kubectl: namespaces of its own,
//! objects of every kind, lists across namespaces, watches — and nothing of
//! anyone else.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vcproxy_testenv::{kubectl_path, shared};

use crate::{ok, proxy, tenant_on};

fn kubectl(kc: &Path, args: &[&str]) -> String {
    ok(proxy().kubectl(kc, args), &format!("kubectl {}", args.join(" ")))
}

fn kubectl_stdin(kc: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut cmd = Command::new(kubectl_path().unwrap());
    cmd.arg("--kubeconfig").arg(kc).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = vcproxy_testenv::process::spawn(cmd).unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    ok(child.wait_with_output().unwrap(), &format!("kubectl {}", args.join(" ")))
}

const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {color: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.k8s.io/pause:3.10}]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 1
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app: web}}
              namespaceSelector: {}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: robot-reads, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: robot, namespace: shop}]
"#;

#[test]
fn a_kubectl_session_sees_a_cluster_of_its_own() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "ks");
    let super_admin = shared().admin_kubeconfig();

    // New tenants start with `default`.
    let names = kubectl(&kc, &["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(names, "default");

    kubectl(&kc, &["create", "ns", "shop"]);
    let applied = kubectl_stdin(&kc, &["apply", "-f", "-"], APP);
    assert!(applied.contains("deployment.apps/web created"), "{applied}");

    // Output shows virtual namespaces only.
    let yaml = kubectl(&kc, &["get", "deploy", "web", "-n", "shop", "-o", "yaml"]);
    assert!(yaml.contains("namespace: shop"), "{yaml}");
    assert!(!yaml.contains(&format!("{tenant}--")), "super namespace leaked:\n{yaml}");
    assert!(!yaml.contains("vcproxy.io"), "vcproxy.io leaked:\n{yaml}");
    let rb =
        kubectl(&kc, &["get", "rolebinding", "robot-reads", "-n", "shop", "-o", "jsonpath={.subjects[0].namespace}"]);
    assert_eq!(rb, "shop");
    let described = kubectl(&kc, &["describe", "deployment", "web", "-n", "shop"]);
    assert!(described.contains("Namespace:") && described.contains("shop"), "{described}");

    // Upstream, the same objects live in the tenant's super namespace.
    let super_ns = format!("{tenant}--shop");
    let upstream_rb = ok(
        shared().kubectl(
            super_admin,
            &["get", "rolebinding", "robot-reads", "-n", &super_ns, "-o", "jsonpath={.subjects[0].namespace}"],
        ),
        "super get rolebinding",
    );
    assert_eq!(upstream_rb, super_ns);
    let labels = ok(shared().kubectl(super_admin, &["get", "ns", &super_ns, "-o", "json"]), "super get ns");
    let ns: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(ns["metadata"]["labels"]["vcproxy.io/tenant"], tenant.as_str());
    assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "baseline");
    // The affinity's empty namespaceSelector was confined to the tenant upstream.
    let sel = ok(
        shared().kubectl(super_admin, &["get", "deploy", "web", "-n", &super_ns, "-o", "jsonpath={.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaceSelector}"]),
        "super get deploy",
    );
    assert!(sel.contains("vcproxy.io/tenant") && sel.contains(&tenant), "{sel}");
    let tenant_sel = kubectl(&kc, &["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaceSelector}"]);
    assert_eq!(tenant_sel, "{}");

    // label, annotate, the three patch types, server-side apply.
    kubectl(&kc, &["label", "cm", "settings", "-n", "shop", "tier=gold"]);
    kubectl(&kc, &["annotate", "cm", "settings", "-n", "shop", "note=hi"]);
    kubectl(&kc, &["patch", "cm", "settings", "-n", "shop", "--type=merge", "-p", r#"{"data":{"size":"L"}}"#]);
    kubectl(
        &kc,
        &[
            "patch",
            "cm",
            "settings",
            "-n",
            "shop",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/shape","value":"round"}]"#,
        ],
    );
    kubectl(&kc, &["patch", "deploy", "web", "-n", "shop", "--type=strategic", "-p", r#"{"spec":{"replicas":2}}"#]);
    kubectl_stdin(
        &kc,
        &["apply", "--server-side", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: shop}\ndata: {a: b}\n",
    );
    let cm = kubectl(&kc, &["get", "cm", "settings", "-n", "shop", "-o", "json"]);
    let cm: serde_json::Value = serde_json::from_str(&cm).unwrap();
    assert_eq!(cm["metadata"]["labels"]["tier"], "gold");
    assert_eq!(cm["metadata"]["annotations"]["note"], "hi");
    assert_eq!(cm["data"]["size"], "L");
    assert_eq!(cm["data"]["shape"], "round");
    assert_eq!(kubectl(&kc, &["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"]), "2");
    assert_eq!(kubectl(&kc, &["get", "cm", "ssa", "-n", "shop", "-o", "jsonpath={.data.a}"]), "b");

    // Typed kubectl commands send protobuf bodies.
    kubectl(&kc, &["create", "configmap", "typed", "-n", "shop", "--from-literal=k=v"]);
    kubectl(&kc, &["create", "rolebinding", "typed-rb", "-n", "shop", "--role=reader", "--serviceaccount=shop:robot"]);
    assert_eq!(
        kubectl(&kc, &["get", "rolebinding", "typed-rb", "-n", "shop", "-o", "jsonpath={.subjects[0].namespace}"]),
        "shop"
    );
    let can = kubectl(&kc, &["auth", "can-i", "list", "configmaps", "-n", "shop"]);
    assert_eq!(can.trim(), "yes");

    // -A covers exactly the tenant's namespaces.
    let all = kubectl(
        &kc,
        &["get", "cm", "-A", "--no-headers", "-o", "custom-columns=NS:.metadata.namespace,N:.metadata.name"],
    );
    let mut seen: Vec<&str> = all.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["default", "shop"], "{all}");
    let table = kubectl(&kc, &["get", "cm", "-A"]);
    assert!(
        table.contains("shop") && !table.contains("kube-system") && !table.contains(&format!("{tenant}--")),
        "{table}"
    );

    // delete and wait --for=delete, for an object and a namespace.
    kubectl(&kc, &["delete", "cm", "typed", "-n", "shop", "--wait=false"]);
    kubectl(&kc, &["wait", "--for=delete", "cm/typed", "-n", "shop", "--timeout=30s"]);
    kubectl(&kc, &["delete", "ns", "shop", "--wait=false"]);
    kubectl(&kc, &["wait", "--for=delete", "ns/shop", "--timeout=60s"]);
    let names = kubectl(&kc, &["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(names, "default");
}

#[test]
fn two_tenants_with_the_same_names_do_not_meet() {
    let p = proxy();
    let (a, kca) = tenant_on(p, "ta");
    let (b, kcb) = tenant_on(p, "tb");
    for (kc, color) in [(&kca, "red"), (&kcb, "green")] {
        kubectl(kc, &["create", "ns", "prod"]);
        kubectl(kc, &["create", "cm", "same", "-n", "prod", &format!("--from-literal=color={color}")]);
    }
    assert_eq!(kubectl(&kca, &["get", "cm", "same", "-n", "prod", "-o", "jsonpath={.data.color}"]), "red");
    assert_eq!(kubectl(&kcb, &["get", "cm", "same", "-n", "prod", "-o", "jsonpath={.data.color}"]), "green");
    kubectl(&kca, &["delete", "cm", "same", "-n", "prod"]);
    assert_eq!(kubectl(&kcb, &["get", "cm", "same", "-n", "prod", "-o", "jsonpath={.data.color}"]), "green");
    let a_all = kubectl(&kca, &["get", "cm", "-A", "-o", "jsonpath={.items[*].data.color}"]);
    assert!(!a_all.contains("green"), "{a} sees {b}'s data: {a_all}");
    let b_ns = kubectl(&kcb, &["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(b_ns, "default prod");
}

#[test]
fn list_across_namespaces_paginates_consistently() {
    let p = proxy();
    let (_, kc) = tenant_on(p, "pg");
    for ns in ["n1", "n2"] {
        kubectl(&kc, &["create", "ns", ns]);
        for i in 0..3 {
            kubectl(&kc, &["create", "cm", &format!("c{i}"), "-n", ns]);
        }
    }
    let out = kubectl(
        &kc,
        &[
            "get",
            "cm",
            "-A",
            "--chunk-size=2",
            "--no-headers",
            "-o",
            "custom-columns=NS:.metadata.namespace,N:.metadata.name",
        ],
    );
    let mut rows: Vec<String> = out
        .lines()
        .filter(|l| !l.contains("kube-root-ca"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join("/"))
        .collect();
    rows.sort();
    assert_eq!(rows, ["n1/c0", "n1/c1", "n1/c2", "n2/c0", "n2/c1", "n2/c2"], "{out}");
}

/// Runs `kubectl get … -w` in the background and returns what it printed once
/// `done` says so (or after `within`).
pub(crate) fn watch_until(
    kc: &Path,
    args: &[&str],
    within: Duration,
    mut trigger: impl FnMut(),
    done: impl Fn(&str) -> bool,
) -> String {
    let mut cmd = Command::new(kubectl_path().unwrap());
    cmd.arg("--kubeconfig").arg(kc).args(args).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = vcproxy_testenv::process::spawn(cmd).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    trigger();
    let start = Instant::now();
    let mut seen = String::new();
    while start.elapsed() < within && !done(&seen) {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn watches_deliver_events_in_one_namespace_and_across_namespaces() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "wa");
    kubectl(&kc, &["create", "ns", "w1"]);
    let seen = watch_until(
        &kc,
        &[
            "get",
            "cm",
            "-n",
            "w1",
            "-w",
            "--no-headers",
            "-o",
            "custom-columns=N:.metadata.name,NS:.metadata.namespace",
        ],
        Duration::from_secs(20),
        || {
            kubectl(&kc, &["create", "cm", "watched", "-n", "w1"]);
        },
        |s| s.contains("watched"),
    );
    assert!(seen.contains("watched") && seen.contains("w1"), "{seen}");

    // -A -w follows namespaces created after the watch started, and nothing else.
    let (_, other) = tenant_on(p, "wb");
    let seen = watch_until(
        &kc,
        &["get", "cm", "-A", "-w", "--no-headers", "-o", "custom-columns=N:.metadata.name,NS:.metadata.namespace"],
        Duration::from_secs(20),
        || {
            kubectl(&other, &["create", "cm", "intruder", "-n", "default"]);
            kubectl(&kc, &["create", "ns", "later"]);
            kubectl(&kc, &["create", "cm", "late", "-n", "later"]);
        },
        |s| s.contains("late "),
    );
    assert!(seen.contains("late") && seen.contains("later"), "{seen}");
    assert!(!seen.contains("intruder"), "another tenant's object reached the watch: {seen}");
    assert!(!seen.contains(&format!("{tenant}--")), "{seen}");
}
