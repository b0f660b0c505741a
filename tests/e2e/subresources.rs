//! Subresources, dry runs, quotas and content negotiation in the virtual view.

use http::Request;

use crate::client::{body_bytes, connect, full};
use crate::{ok, proxy, tenant_on, token_of, vcproxy_bin};
use vcproxy_testenv::{shared, Vcproxy, VcproxyOptions};

fn kubectl(kc: &std::path::Path, args: &[&str]) -> String {
    ok(proxy().kubectl(kc, args), &format!("kubectl {}", args.join(" ")))
}

#[test]
fn scale_status_token_and_eviction_work_in_the_tenant_view() {
    let p = proxy();
    let (_, kc) = tenant_on(p, "sr");
    kubectl(&kc, &["create", "deployment", "web", "--image=registry.k8s.io/pause:3.10", "-n", "default"]);
    kubectl(&kc, &["scale", "deployment", "web", "--replicas=3", "-n", "default"]);
    assert_eq!(kubectl(&kc, &["get", "deploy", "web", "-n", "default", "-o", "jsonpath={.spec.replicas}"]), "3");
    let scale = kubectl(&kc, &["get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"]);
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["metadata"]["namespace"], "default", "{scale}");

    kubectl(&kc, &["create", "serviceaccount", "robot", "-n", "default"]);
    let token = kubectl(&kc, &["create", "token", "robot", "-n", "default"]);
    assert!(token.trim().split('.').count() == 3, "not a JWT: {token}");

    // A pod (Pending: the test cluster has no nodes) can be evicted.
    kubectl(&kc, &["run", "victim", "--image=registry.k8s.io/pause:3.10", "-n", "default"]);
    let evict = r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"victim","namespace":"default"}}"#;
    let file = p.dir().join(format!("evict-{}.json", std::process::id()));
    std::fs::write(&file, evict).unwrap();
    kubectl(&kc, &["create", "--raw", "/api/v1/namespaces/default/pods/victim/eviction", "-f", file.to_str().unwrap()]);
    kubectl(&kc, &["wait", "--for=delete", "pod/victim", "-n", "default", "--timeout=30s"]);
}

#[test]
fn exec_and_logs_reach_the_tenants_own_pod_only() {
    let p = proxy();
    let (_, kc) = tenant_on(p, "ex");
    let (_, other) = tenant_on(p, "ey");
    kubectl(&kc, &["run", "box", "--image=registry.k8s.io/pause:3.10", "-n", "default"]);
    // No nodes here, so the apiserver itself answers: proof the request reached
    // the right pod upstream through the upgrade path.
    let out = p.kubectl(&kc, &["exec", "box", "-n", "default", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("does not have a host assigned"), "exec: {stderr}");
    let out = p.kubectl(&kc, &["logs", "box", "-n", "default"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A pod that never started has no logs; what matters is that it was allowed.
    assert!(!stderr.contains("Forbidden") && !stderr.contains("NotFound"), "logs: {stderr}");

    // Another tenant names the same pod in its own `default`: not found.
    let out = p.kubectl(&other, &["exec", "box", "-n", "default", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("not found"), "{stderr}");
}

#[test]
fn dry_run_creates_nothing() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "dr");
    kubectl(&kc, &["create", "ns", "ghost", "--dry-run=server"]);
    kubectl(&kc, &["create", "cm", "ghost", "-n", "default", "--dry-run=server"]);
    let names = kubectl(&kc, &["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(names, "default");
    assert!(!p.kubectl(&kc, &["get", "cm", "ghost", "-n", "default"]).status.success());
    let upstream = shared().kubectl(shared().admin_kubeconfig(), &["get", "ns", &format!("{tenant}--ghost")]);
    assert!(!upstream.status.success());
}

#[test]
fn namespace_quota_is_enforced_with_a_clear_403() {
    let opts = VcproxyOptions { extra_toml: "[tenancy]\nmax_namespaces = 2\n".into(), ..Default::default() };
    let p = Vcproxy::start_with(vcproxy_bin(), shared(), opts).unwrap();
    let (_, kc) = tenant_on(&p, "qt");
    ok(p.kubectl(&kc, &["create", "ns", "second"]), "second namespace");
    let out = p.kubectl(&kc, &["create", "ns", "third"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("quota"), "{stderr}");
    assert!(stderr.contains("Forbidden") || stderr.contains("forbidden"), "{stderr}");
}

#[tokio::test]
async fn protobuf_only_clients_get_406_and_json_clients_get_json() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "pb");
    let token = token_of(&kc);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let url = format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps", p.url());
    let req = Request::get(&url)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/vnd.kubernetes.protobuf")
        .body(full(""))
        .unwrap();
    let (status, _, body) = body_bytes(conn.send(req).await).await;
    assert_eq!(status, 406, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["kind"], "Status");

    let req = Request::get(&url)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/vnd.kubernetes.protobuf, application/json")
        .body(full(""))
        .unwrap();
    let (status, headers, body) = body_bytes(conn.send(req).await).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["kind"], "ConfigMapList");
}
