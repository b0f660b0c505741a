//! The tenant front door: kubectl works, HTTP/2 end to end, identical 401s,
//! forged identity headers ignored, deny by default.

use http::{Method, Request};

use crate::client::{body_bytes, connect, full};
use crate::{ok, proxy, tenant_on, token_of};

#[test]
fn kubectl_version_api_resources_and_whoami_as_the_tenant_user() {
    let p = proxy();
    let (_tenant, kc) = tenant_on(p, "kc");

    let version = ok(p.kubectl(&kc, &["version", "-o", "json"]), "kubectl version");
    let v: serde_json::Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], vcproxy_testenv::KUBERNETES_VERSION, "{version}");

    let resources = ok(p.kubectl(&kc, &["api-resources", "--no-headers"]), "kubectl api-resources");
    assert!(resources.lines().any(|l| l.starts_with("pods ")), "pods missing from:\n{resources}");
    assert!(resources.lines().any(|l| l.starts_with("deployments ")), "deployments missing from:\n{resources}");

    let whoami = ok(p.kubectl(&kc, &["auth", "whoami", "-o", "json"]), "kubectl auth whoami");
    let w: serde_json::Value = serde_json::from_str(&whoami).unwrap();
    // The tenant's names, as a cluster of its own would show them.
    assert_eq!(w["status"]["userInfo"]["username"], "admin", "{whoami}");
    let groups = w["status"]["userInfo"]["groups"].as_array().unwrap();
    assert_eq!(
        groups,
        &vec![serde_json::json!("cluster-admins"), serde_json::json!("system:authenticated")],
        "{whoami}"
    );
    assert!(!whoami.contains("vcproxy:"), "super-master names leaked: {whoami}");
    assert!(!groups.iter().any(|g| g == "system:masters"), "the proxy's own identity leaked: {whoami}");
}

#[tokio::test]
async fn http2_from_client_to_apiserver() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "h2");
    let token = token_of(&kc);
    let before = upstream_h2_responses(p);

    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2", b"http/1.1"]).await;
    assert_eq!(conn.negotiated.as_deref(), Some(&b"h2"[..]), "ALPN must pick h2");
    let req = Request::get(format!("{}/clusters/{tenant}/version", p.url()))
        .header("authorization", format!("Bearer {token}"))
        .body(full(""))
        .unwrap();
    let resp = conn.send(req).await;
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let (status, _, body) = body_bytes(resp).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let after = upstream_h2_responses(p);
    assert!(after > before, "no HTTP/2 upstream response counted ({before} -> {after})");
}

/// `vcproxy_upstream_responses_total{version="HTTP/2.0"}` from the admin listener.
fn upstream_h2_responses(p: &vcproxy_testenv::Vcproxy) -> f64 {
    let metrics = p.metrics().unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with("vcproxy_upstream_responses_total{version=\"HTTP/2.0\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn bad_token_no_token_and_unknown_tenant_get_identical_401s() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "au");
    let good = token_of(&kc);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let cases = [
        (format!("/clusters/{tenant}/version"), Some("Bearer vcp_wrong".to_string())),
        (format!("/clusters/{tenant}/version"), None),
        (format!("/clusters/{tenant}/version"), Some(format!("Basic {good}"))),
        ("/clusters/no-such-tenant/version".to_string(), Some(format!("Bearer {good}"))),
        ("/clusters/NOT..VALID/api".to_string(), Some(format!("Bearer {good}"))),
        (format!("/clusters/{tenant}x/version"), Some(format!("Bearer {good}"))),
    ];
    let mut bodies = Vec::new();
    for (path, auth) in cases {
        let mut req = Request::get(format!("{}{path}", p.url()));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (status, headers, body) = body_bytes(conn.send(req.body(full("")).unwrap()).await).await;
        assert_eq!(status, 401, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(headers["content-type"], "application/json");
        bodies.push(body);
    }
    let status: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Unauthorized");
    assert!(bodies.iter().all(|b| b == &bodies[0]), "401 bodies differ: {bodies:?}");
}

/// POSTs a SelfSubjectReview with extra headers; returns the status and the
/// username vcproxy answered with (empty if refused).
async fn whoami_with_headers(alpn: &[&[u8]], headers: &[(&str, &str)]) -> (u16, String) {
    let p = proxy();
    let (_, kc) = tenant_on(p, "im");
    let token = token_of(&kc);
    let tenant = std::fs::read_to_string(&kc).unwrap();
    let tenant = tenant.split("/clusters/").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let mut conn = connect(p.url(), &p.ca_file(), alpn).await;
    let mut req =
        Request::post(format!("{}/clusters/{tenant}/apis/authentication.k8s.io/v1/selfsubjectreviews", p.url()))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    let (status, _, body) = body_bytes(conn.send(req.body(full(body)).unwrap()).await).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    if status != 201 {
        assert_eq!(v["kind"], "Status", "{v}");
        return (status.as_u16(), String::new());
    }
    let groups = v["status"]["userInfo"]["groups"].to_string();
    assert!(!groups.contains("system:masters"), "forged group accepted: {groups}");
    (status.as_u16(), v["status"]["userInfo"]["username"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn forged_impersonation_headers_are_refused_or_ignored() {
    // Impersonating the shared cluster's identities is refused with a Status.
    let forged = [
        ("impersonate-user", "system:admin"),
        ("impersonate-group", "system:masters"),
        ("impersonate-uid", "1234"),
        ("impersonate-extra-scopes", "all"),
    ];
    for alpn in [b"h2".as_slice(), b"http/1.1".as_slice()] {
        assert_eq!(whoami_with_headers(&[alpn], &forged).await, (403, String::new()));
        assert_eq!(whoami_with_headers(&[alpn], &forged[..2]).await, (403, String::new()));
        // Front-proxy headers mean nothing to vcproxy.
        let remote = [("x-remote-user", "system:admin"), ("x-remote-group", "system:masters")];
        assert_eq!(whoami_with_headers(&[alpn], &remote).await, (201, "admin".to_string()));
    }
}

#[tokio::test]
async fn impersonation_hidden_behind_connection_is_ignored() {
    // HTTP/1.1 only: HTTP/2 forbids the Connection header. Headers Connection
    // names are hop-by-hop: dropped, never acted on.
    let headers = [
        ("connection", "keep-alive, Impersonate-User, X-Remote-Group"),
        ("impersonate-user", "system:admin"),
        ("x-remote-group", "system:masters"),
    ];
    assert_eq!(whoami_with_headers(&[b"http/1.1"], &headers).await, (201, "admin".to_string()));
}

#[tokio::test]
async fn paths_outside_the_tenant_view_get_status_errors() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "dn");
    let token = token_of(&kc);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    for (method, path) in [
        (Method::GET, "/api/v1/namespaces/kube-system/secrets"),
        (Method::GET, "/api/v1/persistentvolumes"),
        (Method::DELETE, "/api/v1/nodes/some-node"),
        (Method::POST, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
        // The super master's own roles are not the tenant's (its cluster RBAC is its own).
        (Method::GET, "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node"),
        (Method::GET, "/logs/"),
        (Method::GET, "/metrics"),
    ] {
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("{}/clusters/{tenant}{path}", p.url()))
            .header("authorization", format!("Bearer {token}"))
            .body(full(""))
            .unwrap();
        let (status, _, body) = body_bytes(conn.send(req).await).await;
        let text = String::from_utf8_lossy(&body);
        assert!(matches!(status.as_u16(), 400 | 403 | 404), "{method} {path}: {status} {text}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert_eq!(v["kind"], "Status", "{text}");
        assert_eq!(v["code"], status.as_u16(), "{text}");
    }
    // The super master still has its secrets: nothing was passed through.
    let out = p.kubectl(&kc, &["get", "secrets", "-n", "kube-system"]);
    assert!(!out.status.success());
}

#[test]
fn health_endpoints_need_no_credentials() {
    let p = proxy();
    for path in ["/healthz", "/livez", "/readyz"] {
        let r = vcproxy_testenv::http::https_get(
            &format!("{}{path}", p.url()),
            vcproxy_testenv::http::Trust::CaFile(&p.ca_file()),
            None,
        )
        .unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{path}");
    }
    let metrics = p.metrics().unwrap();
    assert!(metrics.contains("vcproxy_requests_total"), "{metrics}");
}
