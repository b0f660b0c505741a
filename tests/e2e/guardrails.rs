//! Kubernetes-level levers closed in tenant objects (issue 14): pinning pods to nodes,
//! claiming the system's critical priorities and Service externalIPs are refused with a 403
//! Status that says how an operator allows them, by every write path (create, patch,
//! server-side apply) and in every workload kind's pod template; a policy allowance opens one
//! lever for one tenant, and taking it back never breaks updates of what already exists.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{kubectl_with_stdin, ok, proxy, proxy_with_policy, tenant_on, unique_tenant};

fn pod(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  {spec_extra}\n  containers: [{{name: c, image: registry.k8s.io/pause:3.10}}]\n"
    )
}

fn deployment(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n\
         \x20   spec:\n      {spec_extra}\n      containers: [{{name: c, image: registry.k8s.io/pause:3.10}}]\n"
    )
}

fn statefulset(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  serviceName: {name}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n\
         \x20   spec:\n      {spec_extra}\n      containers: [{{name: c, image: registry.k8s.io/pause:3.10}}]\n"
    )
}

fn cronjob(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n\
         \x20         restartPolicy: Never\n          {spec_extra}\n          containers: [{{name: c, image: registry.k8s.io/pause:3.10}}]\n"
    )
}

fn service(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  {spec_extra}\n  ports: [{{port: 80}}]\n"
    )
}

/// Asserts `kubectl apply` of `doc` is refused as Forbidden, naming the lever to allow.
fn refused(kc: &Path, args: &[&str], doc: &str, lever: &str) {
    let out = kubectl_with_stdin(kc, args, doc);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted, should be refused for {lever}:\n{doc}");
    assert!(stderr.contains("Forbidden"), "not a 403 Forbidden Status: {stderr}");
    assert!(stderr.contains(&format!("allow = [\"{lever}\"]")), "the refusal does not say what to allow: {stderr}");
    assert!(!stderr.contains("--default"), "the refusal shows a super-master name: {stderr}");
}

fn accepted(kc: &Path, args: &[&str], doc: &str) {
    ok(kubectl_with_stdin(kc, args, doc), &format!("kubectl {} of\n{doc}", args.join(" ")));
}

const APPLY: &[&str] = &["apply", "-f", "-"];

/// vcproxy applies the admission policies at start and the apiserver takes a moment to load
/// them; every check waits for the first refusal, once.
fn wait_until_guarded(kc: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = kubectl_with_stdin(kc, &["create", "--dry-run=server", "-f", "-"], &pod("probe", "nodeName: node-1"));
        if !out.status.success() {
            return;
        }
        assert!(Instant::now() < deadline, "a pinned pod is still accepted 30 s after vcproxy was ready");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn tenant_objects_cannot_pin_nodes_claim_critical_priority_or_take_external_ips() {
    let p = proxy();
    let (_, kc) = tenant_on(p, "guard");
    wait_until_guarded(&kc);

    // Every kind that carries a pod spec, by create and by server-side apply.
    let pinned = "nodeName: node-1";
    refused(&kc, APPLY, &pod("pinned", pinned), "node-name");
    refused(&kc, &["apply", "--server-side", "-f", "-"], &pod("pinned", pinned), "node-name");
    refused(&kc, &["create", "-f", "-"], &deployment("pinned", pinned), "node-name");
    refused(&kc, APPLY, &cronjob("pinned", pinned), "node-name");
    for critical in ["system-node-critical", "system-cluster-critical"] {
        refused(&kc, APPLY, &pod("critical", &format!("priorityClassName: {critical}")), "critical-priority");
        refused(&kc, APPLY, &statefulset("critical", &format!("priorityClassName: {critical}")), "critical-priority");
    }
    refused(&kc, APPLY, &service("captures", "externalIPs: [203.0.113.7]"), "external-ips");

    // What a tenant ordinarily writes is untouched, and a later patch cannot sneak a lever in.
    accepted(&kc, APPLY, &pod("plain", "restartPolicy: Always"));
    accepted(&kc, APPLY, &deployment("plain", "restartPolicy: Always"));
    accepted(&kc, APPLY, &service("plain", "type: ClusterIP"));
    let patch = |args: &[&str]| kubectl_with_stdin(&kc, args, "");
    for (args, lever) in [
        (vec!["patch", "service", "plain", "-n", "default", "--type=merge", "-p", r#"{"spec":{"externalIPs":["203.0.113.7"]}}"#], "external-ips"),
        (
            vec!["patch", "deployment", "plain", "-n", "default", "--type=json", "-p", r#"[{"op":"add","path":"/spec/template/spec/nodeName","value":"node-1"}]"#],
            "node-name",
        ),
        (
            vec!["patch", "deployment", "plain", "-n", "default", "-p", r#"{"spec":{"template":{"spec":{"priorityClassName":"system-node-critical"}}}}"#],
            "critical-priority",
        ),
    ] {
        let out = patch(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains("Forbidden") && stderr.contains(lever), "{args:?}: {stderr}");
    }

    // Binding a pod to a node is the scheduler's door to the same place.
    let bind = kubectl_with_stdin(
        &kc,
        &["create", "--raw", "/api/v1/namespaces/default/pods/plain/binding", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"plain"},"target":{"apiVersion":"v1","kind":"Node","name":"node-1"}}"#,
    );
    assert!(!bind.status.success(), "a tenant bound its pod to a node: {}", String::from_utf8_lossy(&bind.stdout));
}

#[test]
fn an_allowance_opens_one_lever_for_one_tenant_and_revoking_it_keeps_updates_working() {
    let name = unique_tenant("allow");
    let policy = |allow: &str| {
        format!(
            "[defaults]\nlevel = \"workload\"\n[levels.workload]\nseats = 8\n[tenants.{name}]\nallow = [{allow}]\n"
        )
    };
    let (p, file) = proxy_with_policy(&policy("\"node-name\""));
    let kc = p.create_tenant_kubeconfig(&name).expect("creating tenant");
    let (_, other) = tenant_on(&p, "notallowed");
    wait_until_guarded(&other);

    accepted(&kc, APPLY, &pod("pinned", "nodeName: node-1"));
    accepted(&kc, APPLY, &deployment("pinned", "nodeName: node-1"));
    // Only that lever, and only for that tenant.
    refused(&kc, APPLY, &service("captures", "externalIPs: [203.0.113.7]"), "external-ips");
    refused(&other, APPLY, &pod("pinned", "nodeName: node-1"), "node-name");

    // Revoked: new pins are refused, but the pinned pod can still be labelled (its nodeName is
    // unchanged), which is what every controller and `kubectl label` do to existing objects.
    std::fs::write(&file, policy("")).unwrap();
    wait_for_reload(&kc);
    ok(p.kubectl(&kc, &["label", "pod", "pinned", "-n", "default", "revoked=yes"]), "label a pod pinned while allowed");
    ok(p.kubectl(&kc, &["scale", "deployment", "pinned", "-n", "default", "--replicas=2"]), "scale a pinned deployment");
}

/// Waits until the edited policy is in force: the tenant's pins are refused again.
fn wait_for_reload(kc: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while kubectl_with_stdin(kc, &["create", "--dry-run=server", "-f", "-"], &pod("probe", "nodeName: node-1")).status.success() {
        assert!(Instant::now() < deadline, "the revoked allowance still works 20 s after the policy file changed");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A tenant that forges the allowance group (or any identity) in its own headers gains
/// nothing: vcproxy strips inbound impersonation headers and stamps its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_allowance_headers_open_no_lever() {
    use crate::client::{body_bytes, connect, full};
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "forge");
    tokio::task::block_in_place(|| wait_until_guarded(&kc));
    let token = crate::token_of(&kc);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let pinned = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "forged"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    });
    // Each forged header is refused: by the guardrail (the lever stays shut), or, for
    // impersonation, before the request goes anywhere.
    for (name, value, want_status, want_text) in [
        ("impersonate-group", "vcproxy:allow:node-name", 400, "requires Impersonate-User"),
        // The tenant's own service account of that name (its kube-system), which holds nothing.
        ("impersonate-user", "system:serviceaccount:kube-system:replicaset-controller", 403, "cannot create resource"),
        ("impersonate-group", "system:masters", 400, "requires Impersonate-User"),
        ("x-remote-group", "vcproxy:allow:node-name", 403, "node-name"),
    ] {
        let req = http::Request::post(format!("{}/clusters/{tenant}/api/v1/namespaces/default/pods", p.url()))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header(name, value)
            .body(full(pinned.to_string()))
            .unwrap();
        let (status, _, body) = body_bytes(conn.send(req).await).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, want_status, "{name}: {value} opened the lever: {text}");
        assert!(text.contains(want_text) && text.contains("\"kind\":\"Status\""), "{name}: {text}");
    }
}
