//! Other tenants' namespaces by name, traversal and encoded slashes, names containing the separator.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------ 1. other namespaces by name

/// Another tenant's and the super master's namespaces, by virtual, raw super and
/// long-form names: every read, write and delete is a 404 (or 403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_namespaces_by_name_are_not_found() {
    let mut s = Scene::new("h1");
    let p = proxy();
    // The victim's long-form namespace (virtual name too long for `<tenant>--<ns>`).
    let long = format!("long-{}", "q".repeat(50));
    must(p.kubectl(&s.vkc, &["create", "ns", &long]), "victim create long ns");
    must(
        p.kubectl(&s.vkc, &["create", "cm", "x", "-n", &long, &format!("--from-literal=owner=victim-data-{}", s.v)]),
        "victim cm in long ns",
    );
    let victim_long = admin_ok(&[
        "get",
        "ns",
        "-l",
        &format!("vcproxy.io/tenant={},vcproxy.io/virtual-name={long}", s.v),
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert!(victim_long.starts_with(&format!("{}-h-", s.v)), "long form: {victim_long}");

    let probe = format!("probe-{}", s.a);
    let targets = [
        s.vns("prod"),
        s.vns("default"),
        victim_long.clone(),
        "kube-system".to_string(),
        "kube-public".to_string(),
        "kube-node-lease".to_string(),
        // The attacker's own super name is not a name in its view either.
        format!("{}--prod", s.a),
    ];
    for t in &targets {
        let ns = format!("/api/v1/namespaces/{t}");
        let cm = format!("{ns}/configmaps/x");
        for (m, path, ct, body) in [
            (Method::GET, cm.clone(), None, String::new()),
            (Method::GET, format!("{ns}/configmaps"), None, String::new()),
            (Method::GET, format!("{ns}/secrets"), None, String::new()),
            (Method::GET, format!("{ns}/secrets/vsec-{}", s.v), None, String::new()),
            (Method::GET, format!("{ns}/configmaps?watch=1&timeoutSeconds=1"), None, String::new()),
            (Method::GET, format!("/api/v1/watch/namespaces/{t}/configmaps?timeoutSeconds=1"), None, String::new()),
            (Method::GET, format!("/apis/apps/v1/namespaces/{t}/deployments"), None, String::new()),
            (Method::PUT, cm.clone(), Some(JSON), cm_body("x", Some(t))),
            (Method::PATCH, cm.clone(), Some(MERGE), r#"{"data":{"owned":"yes"}}"#.to_string()),
            (
                Method::PATCH,
                cm.clone(),
                Some(JSON_PATCH),
                r#"[{"op":"add","path":"/data/owned","value":"yes"}]"#.to_string(),
            ),
            (
                Method::PATCH,
                format!("{cm}?fieldManager=x&force=true"),
                Some(APPLY),
                format!(
                    r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"x","namespace":"{t}"}},"data":{{"owned":"yes"}}}}"#
                ),
            ),
            (Method::DELETE, cm.clone(), None, String::new()),
            (Method::DELETE, format!("{ns}/configmaps"), None, String::new()),
            (Method::POST, format!("{ns}/configmaps"), Some(JSON), cm_body(&probe, Some(t))),
            (Method::POST, format!("{ns}/configmaps"), Some(JSON), cm_body(&probe, None)),
            (Method::GET, ns.clone(), None, String::new()),
            (
                Method::PUT,
                ns.clone(),
                Some(JSON),
                format!(
                    r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{t}","labels":{{"owned":"yes"}}}}}}"#
                ),
            ),
            (Method::PATCH, ns.clone(), Some(MERGE), r#"{"metadata":{"labels":{"owned":"yes"}}}"#.to_string()),
            (Method::DELETE, ns.clone(), None, String::new()),
        ] {
            let r = s.call(m.clone(), &path, ct, body).await;
            s.refused(&format!("{m} {path}"), &r, &[403, 404]);
        }
    }

    // The attacker's `default` is its own, not the super master's.
    let r = s.get(&format!("/api/v1/namespaces/default/configmaps/marker-{}", s.a)).await;
    s.refused(
        &format!(
            "GET /api/v1/namespaces/default/configmaps/marker-{} (the super master's default, through the attacker's)",
            s.a
        ),
        &r,
        &[404],
    );
    let r = s.get("/api/v1/namespaces/default/services/kubernetes").await;
    s.refused("GET the super master's default/kubernetes service", &r, &[404]);
    let r = s.get("/api/v1/namespaces/default/configmaps").await;
    s.confined_list("GET the attacker's default configmaps", &r, false);
    let r = s
        .call(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            Some(JSON),
            cm_body(&format!("{probe}-own"), Some("default")),
        )
        .await;
    s.check(r.status == 201, || {
        format!("creating a configmap in the attacker's own default: {} {}", r.status, r.excerpt())
    });
    let a = s.a.clone();
    let in_own = admin_get("configmap", Some(&format!("{a}--default")), &format!("{probe}-own")).is_some();
    let in_super = admin_get("configmap", Some("default"), &format!("{probe}-own")).is_some();
    s.check(in_own && !in_super, || format!("the attacker's default/{probe}-own must live in {a}--default (there: {in_own}) and not in the super default (there: {in_super})"));

    // kubectl by name.
    let vprod = s.vns("prod");
    for args in [
        vec!["get", "ns", vprod.as_str()],
        vec!["get", "ns", "kube-system"],
        vec!["get", "ns", victim_long.as_str()],
        vec!["get", "cm", "x", "-n", vprod.as_str()],
        vec!["get", "cm", "x", "-n", victim_long.as_str()],
        vec!["get", "secrets", "-n", "kube-system"],
        vec!["delete", "ns", "kube-system", "--wait=false"],
        vec!["delete", "ns", vprod.as_str(), "--wait=false"],
        vec!["delete", "cm", "x", "-n", vprod.as_str()],
        vec!["label", "ns", "kube-system", "owned=yes"],
        vec!["create", "cm", probe.as_str(), "-n", "kube-system"],
        vec!["create", "cm", probe.as_str(), "-n", vprod.as_str()],
    ] {
        s.kubectl_refused(&args);
    }
    let names = must(s.kubectl(&["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]), "attacker get ns");
    s.check(names == "default prod", || {
        format!("the attacker's namespace list must be exactly `default prod`, got {names:?}")
    });
    s.finish();
}

// ------------------------------------------------------------------ 2. traversal and encoded slashes

/// `..`, `%2F`, `%2f`, `%252F`, `//` in paths and names, and in the tenant
/// segment: 400 (malformed), or 404/401 where the path never names anything of
/// another tenant. Over HTTP/2 and HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_encoded_slashes_are_refused() {
    let mut s = Scene::new("h2");
    let (a, v) = (s.a.clone(), s.v.clone());
    let probe = format!("probe-{a}");
    let vp = s.vns("prod");
    let paths = [
        "/api/v1/namespaces/prod/../../kube-system/secrets".to_string(),
        "/api/v1/namespaces/prod/../kube-system/secrets".to_string(),
        "/api/v1/namespaces/prod/configmaps/../../kube-system/secrets".to_string(),
        format!("/api/v1/namespaces/prod/../../{vp}/configmaps/x"),
        "/api/v1/namespaces/prod%2F..%2Fkube-system/secrets".to_string(),
        "/api/v1/namespaces/prod%2f..%2fkube-system/secrets".to_string(),
        "/api/v1/namespaces/prod%252F..%252Fkube-system/secrets".to_string(),
        "/api/v1/namespaces/%2e%2e/kube-system/secrets".to_string(),
        "/api/v1/namespaces/prod/%2e%2e/%2E%2E/kube-system/secrets".to_string(),
        "/api/v1/namespaces/prod/./configmaps".to_string(),
        format!("/api/v1/namespaces/prod/configmaps/x%2F..%2F..%2F..%2F{vp}%2Fconfigmaps%2Fx"),
        "/api/v1/namespaces/prod/configmaps/..%2F..%2Fkube-system%2Fsecrets".to_string(),
        format!("/api/v1/namespaces/prod/configmaps/x%252F..%252F..%252F{vp}%252Fconfigmaps%252Fx"),
        "/api/v1/namespaces/prod/configmaps/%2e%2e".to_string(),
        "/api/v1/namespaces/prod/configmaps/%2E".to_string(),
        "//api/v1/namespaces/kube-system/secrets".to_string(),
        "/api//v1/namespaces/kube-system/secrets".to_string(),
        "/api/v1/namespaces//secrets".to_string(),
        "/api/v1/namespaces/prod//configmaps".to_string(),
        "/api/v1/namespaces/prod/configmaps//x".to_string(),
        "/api/v1/namespaces/kube-system%00/secrets".to_string(),
        "/api/v1/namespaces/prod%5C..%5Ckube-system/secrets".to_string(),
        "/api/v1/namespaces/prod;/../kube-system/secrets".to_string(),
        "/api/v1/namespaces/kube-system;x=y/secrets".to_string(),
        "/api/v1/namespaces/KUBE-SYSTEM/secrets".to_string(),
        "/api/v1/namespaces/prod/services/web/proxy/../../../kube-system/secrets".to_string(),
        "/api/v1/namespaces/prod/services/web/proxy/..%2F..%2F..%2Fkube-system%2Fsecrets".to_string(),
        "/api/v1/namespaces/prod/pods/p/log/../../../../kube-system/secrets".to_string(),
        format!("/apis/apps/v1/namespaces/prod/../../../../api/v1/namespaces/{vp}/configmaps/x"),
    ];
    for alpn in [H2, H1] {
        let proto = if alpn == H2 { "h2" } else { "http/1.1" };
        for path in &paths {
            for (m, ct, body) in [
                (Method::GET, None, String::new()),
                (Method::POST, Some(JSON), cm_body(&probe, None)),
                (Method::PUT, Some(JSON), cm_body("x", None)),
                (Method::DELETE, None, String::new()),
            ] {
                let r = s.call_with(alpn, m.clone(), path, ct, &[], body).await;
                // 404 only where the parser might legitimately take it as a name in
                // the attacker's own space; never 2xx.
                s.refused(&format!("{proto} {m} {path}"), &r, &[400, 403, 404]);
            }
        }
    }

    // Object names with slashes or dots in the body. The apiserver's own
    // validation answers these with 422 Invalid; accepted, as nothing is created.
    for name in
        ["../../kube-system/secrets/x".to_string(), format!("x%2F..%2F{vp}"), format!("x/../{vp}"), "..".to_string()]
    {
        let r = s.call(Method::POST, "/api/v1/namespaces/prod/configmaps", Some(JSON), cm_body(&name, None)).await;
        s.refused(&format!("POST configmap named {name:?}"), &r, &[400, 422]);
    }

    // The tenant segment. A token for one tenant never authenticates another
    // (that is the documented identical 401), and `..` after it is a 400.
    for path in [
        format!("/clusters/{a}/../{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a}/..%2F{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a}%2F..%2F{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a}%2f..%2f{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{v}/../{a}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters//{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/../clusters/{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/./{a}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a}/clusters/{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a},{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a}/api/v1/namespaces/prod/../../../../clusters/{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/clusters/{a}//clusters/{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/../clusters/{v}/api/v1/namespaces/prod/configmaps/x"),
        format!("/api/v1/namespaces/{vp}/configmaps/x"),
    ] {
        for alpn in [H2, H1] {
            let r = s.call_abs(alpn, Method::GET, &path).await;
            s.refused(&format!("GET {path}"), &r, &[400, 401, 403, 404]);
        }
    }
    s.finish();
}

// ------------------------------------------------------------------ 3. names containing the separator

/// The attacker names namespaces with the mapping's separator, after the victim,
/// after the super master's, and at the long-form boundary: each lands in the
/// attacker's own space, and the victim's objects never appear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separator_names_stay_in_the_attackers_space() {
    let p = proxy();
    // The victim's name extends the attacker's: `<a>-v`, so `<a>-v--prod` is the
    // victim's prod and `<a>--v--prod` would be the attacker's `v--prod`.
    let (a, akc) = tenant_on(p, "h3a");
    let v = format!("{a}-v");
    let vkc = p.create_tenant_kubeconfig(&v).expect("creating the victim tenant");
    let mut s = Scene::with(a.clone(), akc, v.clone(), vkc);
    must(p.kubectl(&s.vkc, &["create", "ns", "x--y"]), "victim create ns x--y");
    must(
        p.kubectl(&s.vkc, &["create", "cm", "x", "-n", "x--y", &format!("--from-literal=owner=victim-data-{v}")]),
        "victim cm in x--y",
    );

    let boundary = 63 - a.len() - 2;
    let names = [
        "x--y".to_string(),
        format!("{v}--prod"),
        format!("{v}--x--y"),
        "v--prod".to_string(),
        v.clone(),
        format!("{v}-h-{}", "0".repeat(20)),
        "kube-system".to_string(),
        "h-0123456789abcdef0123456789abcdef01234567".to_string(),
        "z".repeat(boundary),
        "z".repeat(boundary + 1),
        "w".repeat(63),
    ];
    for name in &names {
        let out = s.kubectl(&["create", "ns", name]);
        let ok = out.status.success();
        s.check(ok, || {
            format!("the attacker may create its own namespace {name:?}: {}", String::from_utf8_lossy(&out.stderr))
        });
        if !ok {
            continue;
        }
        let sup = admin_ok(&[
            "get",
            "ns",
            "-l",
            &format!("vcproxy.io/tenant={a},vcproxy.io/virtual-name={name}"),
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        let ns = admin_get("namespace", None, &sup);
        let owned = sup.starts_with(&format!("{a}--")) || sup.starts_with(&format!("{a}-h-"));
        s.check(
            owned && ns.as_ref().is_some_and(|ns| lbl(ns, "vcproxy.io/tenant").as_deref() == Some(a.as_str())),
            || format!("virtual namespace {name:?} must map to an attacker-owned super namespace, got {sup:?}"),
        );
        s.check(!sup.starts_with(&format!("{v}--")) && sup != "kube-system", || {
            format!("{name:?} mapped onto {sup:?}")
        });
        let r = s.get(&format!("/api/v1/namespaces/{name}/configmaps")).await;
        s.confined_list(&format!("list configmaps in the attacker's {name:?}"), &r, false);
        let r = s.get(&format!("/api/v1/namespaces/{name}/configmaps/x")).await;
        s.refused(&format!("GET configmap x in the attacker's {name:?}"), &r, &[404]);
    }
    // The victim's super namespaces are untouched and still the victim's.
    for vn in ["prod", "x--y"] {
        let ns = admin_get("namespace", None, &format!("{v}--{vn}"));
        let ok = ns.as_ref().is_some_and(|ns| lbl(ns, "vcproxy.io/tenant").as_deref() == Some(v.as_str()));
        s.check(ok, || format!("the victim's {v}--{vn} must still be the victim's: {ns:?}"));
    }
    let vxy =
        must(p.kubectl(&s.vkc, &["get", "cm", "x", "-n", "x--y", "-o", "jsonpath={.data.owner}"]), "victim get cm");
    s.check(vxy == format!("victim-data-{v}"), || format!("the victim's x--y/x changed: {vxy}"));

    // Invalid names are refused, not mapped.
    for bad in ["-v--prod", "V--PROD", "a.b", "kube-system.", "a/b", "z".repeat(64).as_str()] {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": bad}}).to_string();
        let r = s.call(Method::POST, "/api/v1/namespaces", Some(JSON), body).await;
        // An invalid name is what the apiserver calls 422 Invalid.
        s.refused(&format!("create namespace {bad:?}"), &r, &[400, 422]);
    }

    // Ownership is checked, never inferred from the name: a super namespace the
    // operator created with the attacker's prefix but without ownership labels
    // is not the attacker's.
    let ops = format!("{a}--ops");
    admin_apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ops}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: {ops}}}\ndata: {{owner: super-data-{a}}}\n"
    ));
    let ops_rv = admin_get("namespace", None, &ops).unwrap()["metadata"]["resourceVersion"].clone();
    let r = s.get("/api/v1/namespaces/ops/configmaps/x").await;
    s.refused("GET ops/x in an unlabelled <attacker>--ops", &r, &[403, 404]);
    let r = s.get("/api/v1/namespaces/ops").await;
    s.refused("GET namespace ops (unlabelled <attacker>--ops)", &r, &[403, 404]);
    let r = s.call(Method::DELETE, "/api/v1/namespaces/ops", None, Bytes::new()).await;
    s.refused("DELETE namespace ops (unlabelled <attacker>--ops)", &r, &[403, 404]);
    let r = s.call(Method::PATCH, "/api/v1/namespaces/ops", Some(MERGE), r#"{"metadata":{"labels":{"x":"y"}}}"#).await;
    s.refused("PATCH namespace ops (unlabelled <attacker>--ops)", &r, &[403, 404]);
    let r = s
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some(JSON),
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ops"}}"#,
        )
        .await;
    // The super name is taken: AlreadyExists (409) is what the apiserver says; it must not adopt it.
    s.refused("create namespace ops over an unlabelled <attacker>--ops", &r, &[403, 409]);
    let now = admin_get("namespace", None, &ops);
    let unchanged = now
        .as_ref()
        .is_some_and(|n| n["metadata"]["resourceVersion"] == ops_rv && lbl(n, "vcproxy.io/tenant").is_none());
    s.check(unchanged, || format!("{ops} must stay unlabelled and unchanged: {now:?}"));
    let rb = admin_get("rolebinding", Some(&ops), "vcproxy-tenant-admin");
    s.check(rb.is_none(), || format!("the attacker got an admin RoleBinding in {ops}: {rb:?}"));
    let all = must(s.kubectl(&["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]), "attacker get ns");
    s.check(!all.split(' ').any(|n| n == "ops"), || {
        format!("the unlabelled {ops} shows in the attacker's list: {all}")
    });
    let all_cm = s.get("/api/v1/configmaps").await;
    s.confined_list("list configmaps -A after the separator games", &all_cm, false);
    let _ = admin(&["delete", "ns", &ops, "--wait=false"]);
    s.finish();
}
