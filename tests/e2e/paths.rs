//! Paths as kube-apiserver accepts them (issue 13, point 1): every path below, with and
//! without a trailing slash, gets the same kind of answer through vcproxy as from
//! kube-apiserver directly (`kubectl get --raw`, the tenant's namespace on one side and its
//! super namespace on the other).

use vcproxy_testenv::shared;

use crate::{ok, proxy, tenant_on};

/// `{ns}` is the namespace: `work` for the tenant, its super namespace directly.
const PATHS: &[&str] = &[
    "/version",
    "/version/",
    "/api",
    "/api/",
    "/apis",
    "/apis/",
    "/api/v1",
    "/api/v1/",
    "/apis/apps",
    "/apis/apps/",
    "/apis/apps/v1",
    "/apis/apps/v1/",
    "/openapi/v2",
    "/openapi/v2/",
    "/openapi/v3",
    "/openapi/v3/",
    "/openapi/v3/api/v1/",
    "/api/v1/namespaces/{ns}",
    "/api/v1/namespaces/{ns}/",
    "/api/v1/namespaces/{ns}/configmaps",
    "/api/v1/namespaces/{ns}/configmaps/",
    "/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt/",
    "/api/v1/namespaces/{ns}/configmaps/absent/",
    "/apis/apps/v1/namespaces/{ns}/deployments/",
];

/// What kind of answer `kubectl get --raw` got: the object's kind, or the error's reason.
fn answer(out: std::process::Output) -> String {
    if out.status.success() {
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        match body["kind"].as_str() {
            Some(kind) => kind.to_string(),
            // /version and the OpenAPI documents have no kind.
            None if body.is_object() => "a JSON document".into(),
            None => "a non-JSON document".into(),
        }
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        err.split_once("Error from server (")
            .and_then(|(_, r)| r.split_once(')'))
            .map_or_else(|| err.trim().to_string(), |(reason, _)| reason.to_string())
    }
}

#[test]
fn every_path_form_answers_as_kube_apiserver_does() {
    let cp = shared();
    let p = proxy();
    let (tenant, kubeconfig) = tenant_on(p, "paths");
    ok(p.kubectl(&kubeconfig, &["create", "ns", "work"]), "create ns");
    // kube-controller-manager publishes kube-root-ca.crt into the new namespace.
    let root_ca = || p.kubectl(&kubeconfig, &["get", "configmap", "kube-root-ca.crt", "-n", "work"]).status.success();
    let started = std::time::Instant::now();
    while !root_ca() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "kube-root-ca.crt never appeared");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let super_ns = format!("{tenant}--work");
    let mut differ = Vec::new();
    for path in PATHS {
        let through = answer(p.kubectl(&kubeconfig, &["get", "--raw", &path.replace("{ns}", "work")]));
        let direct = answer(cp.kubectl(cp.admin_kubeconfig(), &["get", "--raw", &path.replace("{ns}", &super_ns)]));
        if through != direct {
            differ.push(format!("{path}: vcproxy {through:?}, kube-apiserver {direct:?}"));
        }
    }
    assert!(differ.is_empty(), "paths answered differently:\n{}", differ.join("\n"));
}
