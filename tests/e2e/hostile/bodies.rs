//! Subresources of other namespaces, oversized and malformed bodies.

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::labels::ownership_intact;

// ------------------------------------------------------------------ 11. subresources elsewhere

/// exec, attach, log, portforward, proxy, token, eviction, status, binding —
/// on the victim's and the super master's objects: 403/404, no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subresources_of_other_namespaces_are_refused() {
    let mut s = Scene::new("hb");
    must(
        kubectl_stdin(
            &s.vkc,
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Pod\nmetadata: {name: vpod, namespace: prod}\nspec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: vsvc, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: vsa, namespace: prod}\n",
        ),
        "victim apply pod/svc/sa",
    );
    let token_req = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["https://kubernetes.default.svc"],"expirationSeconds":600}}"#;
    let eviction = |ns: &str| {
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "vpod", "namespace": ns}})
            .to_string()
    };
    for ns in [s.vns("prod"), "kube-system".to_string(), s.vns("default")] {
        let base = format!("/api/v1/namespaces/{ns}");
        let cases: Vec<(Method, String, Option<&str>, String)> = vec![
            (Method::GET, format!("{base}/pods/vpod/log"), None, String::new()),
            (Method::GET, format!("{base}/pods/vpod/log?container=c&follow=true"), None, String::new()),
            (Method::POST, format!("{base}/pods/vpod/exec?command=id&stdout=true&stderr=true"), None, String::new()),
            (Method::GET, format!("{base}/pods/vpod/exec?command=id&stdout=true"), None, String::new()),
            (Method::POST, format!("{base}/pods/vpod/attach?stdout=true"), None, String::new()),
            (Method::POST, format!("{base}/pods/vpod/portforward?ports=80"), None, String::new()),
            (Method::GET, format!("{base}/pods/vpod/proxy/"), None, String::new()),
            (Method::GET, format!("{base}/pods/vpod:80/proxy/metrics"), None, String::new()),
            (Method::GET, format!("{base}/services/vsvc/proxy/"), None, String::new()),
            (Method::GET, format!("{base}/services/vsvc/proxy"), None, String::new()),
            (Method::GET, format!("{base}/services/vsvc/proxy/api/v1/namespaces/kube-system/secrets"), None, String::new()),
            (Method::GET, format!("{base}/pods/vpod/proxy"), None, String::new()),
            (Method::GET, format!("{base}/services/vsvc:80/proxy/x"), None, String::new()),
            (Method::GET, format!("{base}/services/http:vsvc:80/proxy/x"), None, String::new()),
            (Method::GET, format!("{base}/services/kube-dns:dns-tcp/proxy/"), None, String::new()),
            (Method::POST, format!("{base}/serviceaccounts/vsa/token"), Some(JSON), token_req.to_string()),
            (Method::POST, format!("{base}/serviceaccounts/default/token"), Some(JSON), token_req.to_string()),
            (Method::POST, format!("{base}/serviceaccounts/namespace-controller/token"), Some(JSON), token_req.to_string()),
            (Method::POST, format!("{base}/pods/vpod/eviction"), Some(JSON), eviction(&ns)),
            (Method::GET, format!("{base}/pods/vpod/status"), None, String::new()),
            (Method::PATCH, format!("{base}/pods/vpod/status"), Some(MERGE), r#"{"status":{"phase":"Failed"}}"#.to_string()),
            (Method::PATCH, format!("{base}/pods/vpod/ephemeralcontainers"), Some(STRATEGIC), r#"{"spec":{"ephemeralContainers":[{"name":"e","image":"busybox"}]}}"#.to_string()),
            (Method::POST, format!("{base}/pods/vpod/binding"), Some(JSON), r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"vpod"},"target":{"kind":"Node","name":"n"}}"#.to_string()),
            (Method::PUT, format!("{base}/services/vsvc/status"), Some(JSON), r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"vsvc"}}"#.to_string()),
            (Method::GET, format!("{base}/pods/vpod/resize"), None, String::new()),
        ];
        for (m, path, ct, body) in cases {
            let r = s.call(m.clone(), &path, ct, body).await;
            // vcproxy refuses any path ending in '/' (e.g. `services/x/proxy/`) as
            // malformed before looking at it: a 400 that leaks nothing.
            let codes: &[u16] = if path.ends_with('/') { &[400, 403, 404] } else { &[403, 404] };
            s.refused(&format!("{m} {path}"), &r, codes);
            s.check(!r.text().contains("eyJ"), || format!("ESCAPE: {m} {path} returned a token: {}", r.excerpt()));
        }
        // Upgrades (WebSocket and SPDY) over HTTP/1.1 must not be switched.
        for (upgrade, proto) in [("websocket", "v5.channel.k8s.io"), ("SPDY/3.1", "v4.channel.k8s.io")] {
            let headers = [
                ("connection", "Upgrade"),
                ("upgrade", upgrade),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("sec-websocket-protocol", proto),
                ("x-stream-protocol-version", proto),
            ];
            for sub in ["exec?command=id&stdout=true", "attach?stdout=true", "portforward?ports=80"] {
                let path = format!("{base}/pods/vpod/{sub}");
                let r = s.call_with(H1, Method::GET, &path, None, &headers, Bytes::new()).await;
                s.refused(&format!("{upgrade} upgrade GET {path}"), &r, &[403, 404]);
            }
        }
    }
    // Own namespace, foreign target in the body.
    let r =
        s.call(Method::POST, "/api/v1/namespaces/prod/pods/vpod/eviction", Some(JSON), eviction(&s.vns("prod"))).await;
    s.refused("eviction in prod naming the victim's namespace in the body", &r, &[400, 403, 404]);
    let r = s.call(Method::POST, "/api/v1/namespaces/prod/serviceaccounts/default/token", Some(JSON), format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{{"namespace":"{}"}},"spec":{{"audiences":["x"]}}}}"#, s.vns("prod"))).await;
    s.refused("token request in prod naming the victim's namespace in the body", &r, &[400, 403, 404]);
    s.check(!r.text().contains("eyJ"), || format!("ESCAPE: a token was issued: {}", r.excerpt()));
    let r = s.call(Method::POST, "/api/v1/namespaces/prod/serviceaccounts/default/token", Some(JSON), r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["x"],"boundObjectRef":{"apiVersion":"v1","kind":"Pod","name":"vpod"}}}"#).await;
    s.check(
        r.status != 201
            || !r.text().contains("vpod")
            || r.json().is_some_and(|v| v["spec"]["boundObjectRef"]["uid"].is_string()),
        || format!("token bound to a pod named like the victim's: {}", r.excerpt()),
    );
    let vuid = admin_get("pod", Some(&s.vns("prod")), "vpod").map(|p| p["metadata"]["uid"].clone()).unwrap_or_default();
    s.check(!r.text().contains(vuid.as_str().unwrap_or("-")), || {
        format!("ESCAPE: a token was bound to the victim's pod: {}", r.excerpt())
    });

    let vp = s.vns("prod");
    for args in [
        vec!["logs", "vpod", "-n", vp.as_str()],
        vec!["exec", "vpod", "-n", vp.as_str(), "--", "id"],
        vec!["attach", "vpod", "-n", vp.as_str()],
        vec!["create", "token", "vsa", "-n", vp.as_str()],
        vec!["create", "token", "default", "-n", "kube-system"],
        vec!["create", "token", "namespace-controller", "-n", "kube-system"],
        vec!["get", "--raw", &format!("/api/v1/namespaces/{vp}/services/vsvc/proxy/")],
        vec!["get", "--raw", "/api/v1/namespaces/kube-system/secrets"],
    ] {
        let out = s.kubectl(&args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        s.check(!out.status.success() && !stdout.contains("eyJ"), || {
            format!("ESCAPE?: kubectl {} succeeded: {stdout}", args.join(" "))
        });
        s.no_leak(&format!("kubectl {}", args.join(" ")), &stdout);
    }
    let pod = admin_get("pod", Some(&vp), "vpod");
    s.check(
        pod.as_ref().is_some_and(|p| {
            p["metadata"]["deletionTimestamp"].is_null()
                && p["spec"]["ephemeralContainers"].is_null()
                && p["spec"]["nodeName"].is_null()
        }),
        || format!("the victim's pod was changed: {pod:?}"),
    );
    s.finish();
}

// ------------------------------------------------------------------ 12. oversized and malformed bodies

/// Oversized, malformed, duplicate-key, deeply nested and protobuf-garbage
/// bodies: 400/413/415 as a Status, quickly; the proxy stays ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_bodies_are_refused() {
    let mut s = Scene::new("hc");
    let a = s.a.clone();
    let probe = format!("probe-{a}");
    let cms = "/api/v1/namespaces/prod/configmaps";
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-big"}},"data":{{"k":"{}"}}}}"#,
        "a".repeat(4 << 20)
    );
    for (m, path) in [
        (Method::POST, cms.to_string()),
        (Method::PUT, format!("{cms}/{probe}-big")),
        (Method::POST, "/api/v1/namespaces".to_string()),
    ] {
        let r = s.call(m.clone(), &path, Some(JSON), big.clone()).await;
        s.refused(&format!("4 MiB body {m} {path}"), &r, &[413]);
    }
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    let big_patch = format!(r#"{{"data":{{"k":"{}"}}}}"#, "a".repeat(4 << 20));
    for path in [format!("{cms}/mine"), "/api/v1/namespaces/prod".to_string()] {
        let r = s.call(Method::PATCH, &path, Some(MERGE), big_patch.clone()).await;
        s.refused(&format!("4 MiB merge patch on {path}"), &r, &[413]);
    }

    let deep = |n: usize| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-deep"}},"x":{}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let lcg = |n: usize, seed: u64| {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 33) as u8
            })
            .collect::<Vec<u8>>()
    };
    let mut magic_garbage = b"k8s\x00".to_vec();
    magic_garbage.extend(lcg(4096, 7));
    let mut magic_huge_len = b"k8s\x00\x0a\xff\xff\xff\xff\x0f".to_vec();
    magic_huge_len.extend(b"\x12\x03abc");
    let mut magic_nested = b"k8s\x00".to_vec();
    for _ in 0..5000 {
        magic_nested.extend(b"\x0a\xff\x7f");
    }
    let yaml_bomb = {
        let mut y = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            y.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        y.push_str(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {probe}-bomb}}\n"));
        y
    };
    let bodies: Vec<(&str, &str, Vec<u8>, &[u16])> = vec![
        ("invalid JSON", JSON, br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"#.to_vec(), &[400]),
        ("trailing garbage", JSON, format!("{}}}garbage", cm_body(&format!("{probe}-tg"), None)).into_bytes(), &[400]),
        ("two documents", JSON, format!("{} {}", cm_body(&format!("{probe}-2a"), None), cm_body(&format!("{probe}-2b"), Some("kube-system"))).into_bytes(), &[400]),
        ("a JSON array", JSON, b"[1,2,3]".to_vec(), &[400, 422]),
        ("a JSON string", JSON, br#""configmap""#.to_vec(), &[400, 422]),
        ("an empty body", JSON, Vec::new(), &[400, 422]),
        ("invalid UTF-8", JSON, b"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"\xff\xfe\"}}".to_vec(), &[400, 422]),
        ("a UTF-16 body", JSON, b"\xff\xfe{\x00}\x00".to_vec(), &[400]),
        ("1000-deep nesting", JSON, deep(1000).into_bytes(), &[400, 422]),
        ("100000-deep nesting", JSON, deep(100_000).into_bytes(), &[400, 413, 422]),
        ("duplicate namespace keys, foreign last", JSON, format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-dup1","namespace":"prod","namespace":"kube-system"}}}}"#).into_bytes(), &[400, 403, 404, 422]),
        ("duplicate namespace keys, foreign first", JSON, format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-dup2","namespace":"kube-system","namespace":"prod"}}}}"#).into_bytes(), &[400, 403, 404, 422]),
        ("duplicate metadata", JSON, format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-dup3"}},"metadata":{{"name":"{probe}-dup3","namespace":"kube-system"}}}}"#).into_bytes(), &[400, 403, 404, 422]),
        ("duplicate labels with a reserved key", JSON, format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-dup4","labels":{{"vcproxy.io/tenant":"x"}},"labels":{{}}}}}}"#).into_bytes(), &[400, 403, 422]),
        ("a namespace that is a number", JSON, format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{probe}-num","namespace":7}}}}"#).into_bytes(), &[400, 422]),
        ("protobuf garbage", PROTOBUF, lcg(4096, 1), &[400, 415]),
        ("protobuf magic + garbage", PROTOBUF, magic_garbage.clone(), &[400, 415]),
        ("protobuf magic + huge length", PROTOBUF, magic_huge_len.clone(), &[400, 415]),
        ("protobuf magic + deep nesting", PROTOBUF, magic_nested.clone(), &[400, 415]),
        ("protobuf with a JSON body", PROTOBUF, cm_body(&format!("{probe}-pbjson"), Some("kube-system")).into_bytes(), &[400, 415]),
        ("YAML billion laughs", "application/yaml", yaml_bomb.clone().into_bytes(), &[400, 413, 415, 422]),
        ("text/plain", "text/plain", cm_body(&format!("{probe}-txt"), None).into_bytes(), &[400, 415]),
        ("CBOR", "application/cbor", lcg(64, 3), &[400, 415]),
    ];
    for (what, ct, body, codes) in &bodies {
        let start = std::time::Instant::now();
        let r = s.call(Method::POST, cms, Some(*ct), body.clone()).await;
        s.refused(&format!("create configmap with {what}"), &r, codes);
        s.check(start.elapsed() < Duration::from_secs(10), || format!("{what} took {:?}", start.elapsed()));
    }
    // The same junk on namespaces and patches.
    for (what, ct, body) in [
        ("protobuf garbage namespace", PROTOBUF, lcg(4096, 2)),
        ("protobuf magic + garbage namespace", PROTOBUF, magic_garbage.clone()),
        ("protobuf magic + huge length namespace", PROTOBUF, magic_huge_len.clone()),
        ("invalid JSON namespace", JSON, b"{\"metadata\":".to_vec()),
        (
            "1000-deep namespace",
            JSON,
            format!(
                r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{probe}-deep"}},"x":{}{}}}"#,
                "[".repeat(1000),
                "]".repeat(1000)
            )
            .into_bytes(),
        ),
        ("YAML bomb namespace", "application/yaml", yaml_bomb.clone().into_bytes()),
    ] {
        let r = s.call(Method::POST, "/api/v1/namespaces", Some(ct), body).await;
        // A 1000-deep unknown field is something the apiserver would itself refuse (422) or strip; either way no namespace named after it may appear outside the attacker's space.
        s.refused(&format!("create namespace with {what}"), &r, &[400, 403, 413, 415, 422]);
    }
    for (what, ct, body) in [
        ("invalid JSON merge patch", MERGE, b"{".to_vec()),
        ("JSON patch that is an object", JSON_PATCH, b"{}".to_vec()),
        ("JSON patch with an unknown op", JSON_PATCH, br#"[{"op":"hack","path":"/data"}]"#.to_vec()),
        ("1000-deep merge patch", MERGE, format!(r#"{{"x":{}{}}}"#, "[".repeat(1000), "]".repeat(1000)).into_bytes()),
        ("protobuf patch", PROTOBUF, magic_garbage.clone()),
        ("unknown patch type", "application/x-hack", b"{}".to_vec()),
        ("YAML bomb apply", APPLY, yaml_bomb.clone().into_bytes()),
    ] {
        for path in [format!("{cms}/mine"), "/api/v1/namespaces/prod".to_string()] {
            let path = if ct == APPLY { format!("{path}?fieldManager=hostile") } else { path };
            let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
            s.refused(&format!("{what} on {path}"), &r, &[400, 413, 415, 422]);
        }
    }
    let res = ownership_intact(&a, "prod");
    s.check(res.is_ok(), || format!("after the malformed patches: {res:?}"));
    for alpn in [H2, H1] {
        let r = s.call_with(alpn, Method::POST, cms, Some(JSON), &[], b"{\"apiVersion\":".to_vec()).await;
        s.refused("invalid JSON over the other protocol", &r, &[400]);
    }

    // Still healthy.
    let ready = vcproxy_testenv::http::https_get(
        &format!("{}/readyz", proxy().url()),
        vcproxy_testenv::http::Trust::CaFile(&proxy().ca_file()),
        None,
    );
    s.check(ready.as_ref().is_ok_and(|r| r.status == 200), || {
        format!("/readyz after the malformed bodies: {:?}", ready.as_ref().map(|r| (r.status, r.text())))
    });
    let out = s.kubectl(&["get", "cm", "mine", "-n", "prod", "-o", "name"]);
    s.check(out.status.success(), || {
        format!("the attacker's own requests still work: {}", String::from_utf8_lossy(&out.stderr))
    });
    s.finish();
}
