//! Every `Accept` shape on every route that carries objects, and the continue tokens a tenant
//! receives: a body is either translated into the attacker's view or refused with a Status, and
//! no token names anything outside the attacker.

#[allow(unused_imports)]
use super::*;

use base64::Engine as _;

/// The Accept shapes a hostile (or merely odd) client sends.
const SHAPES: &[&str] = &[
    "application/yaml",
    "application/yaml;as=Table;v=v1;g=meta.k8s.io",
    "application/yaml;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "application/yaml;charset=utf-8",
    "*/*",
    "application/*",
    "text/plain",
    "text/html",
    "application/x-unknown",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "application/vnd.kubernetes.protobuf, application/yaml",
    "application/yaml;q=0.9, application/json;q=0.1",
    "application/json;q=0, application/yaml;q=0.5",
    "*/*;q=0.1, text/html",
    "application/json;as=Foo;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v1;g=meta.k8s.io;includeObject=Object",
    "application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
    "application/json;pretty=1",
    "",
];

/// Shapes nothing vcproxy serves can satisfy: the answer is a 406 Status.
fn unservable(accept: &str) -> bool {
    matches!(
        accept,
        "text/plain"
            | "text/html"
            | "application/x-unknown"
            | "application/vnd.kubernetes.protobuf"
            | "application/cbor"
            | "application/json;as=Foo;v=v1;g=meta.k8s.io"
    )
}

/// The body as a JSON value, whether it came as JSON or YAML (by its content type).
fn decoded(r: &Resp) -> Option<Value> {
    let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.starts_with("application/yaml") {
        serde_yaml::from_slice(&r.body).ok()
    } else {
        serde_json::from_slice(&r.body).ok()
    }
}

fn content_type(r: &Resp) -> String {
    r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

impl Scene {
    /// `r` is a 406 Status, or a 2xx/404 in JSON or YAML that stays inside the attacker's view.
    fn rewritten_or_refused(&mut self, what: &str, r: &Resp, accept: &str) {
        let ct = content_type(r);
        self.no_leak(what, &r.text());
        let text = r.text();
        // A 404 may echo the super name the attacker typed; nothing else may name it.
        let victim_super = format!("{}--", self.v);
        let foreign = text.contains("kube-system") || text.contains(&victim_super) && !what.contains(&victim_super);
        self.check(!foreign, || format!("LEAK: {what}: names a foreign namespace: {}", r.excerpt()));
        if unservable(accept) {
            let status = r.json();
            self.check(r.status == 406 && status.is_some_and(|v| v["kind"] == "Status" && v["code"] == 406), || {
                format!("{what}: expected a 406 Status, got {} ({ct}): {}", r.status, r.excerpt())
            });
            return;
        }
        self.check(ct.starts_with("application/json") || ct.starts_with("application/yaml"), || {
            format!("{what}: a body vcproxy did not rewrite went out: {} {ct}: {}", r.status, r.excerpt())
        });
        // Every servable shape above that names YAML prefers it.
        if accept.contains("application/yaml") && r.status != 406 {
            self.check(ct.starts_with("application/yaml"), || format!("{what}: asked for YAML, got {ct}"));
        }
        let Some(v) = decoded(r) else {
            return self.check(false, || format!("{what}: the body does not decode as {ct}: {}", r.excerpt()));
        };
        // Judge the decoded document with the JSON checks the other scenes use.
        let as_json = Resp { status: r.status, headers: HeaderMap::new(), body: serde_json::to_vec(&v).unwrap().into() };
        if v["kind"] == "Status" {
            // 406: kube-apiserver refuses some transforms on some endpoints (a list transform on one object).
            let transform = accept.contains("as=");
            self.check(matches!(r.status, 403 | 404) || transform && r.status == 406, || {
                format!("{what}: unexpected Status {}: {}", r.status, r.excerpt())
            });
        } else if v["items"].is_array() || v["rows"].is_array() || v["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
            self.confined_list(what, &as_json, false);
        } else {
            let ns = v["metadata"]["namespace"].as_str().or(v["metadata"]["name"].as_str()).unwrap_or("");
            self.check(r.status == 200 && !ns.is_empty(), || format!("{what}: expected one object: {}", r.excerpt()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accept_shape_is_rewritten_or_refused() {
    let mut s = Scene::new("h13");
    let vp = s.vns("prod");
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod", "--from-literal=k=v"]), "attacker cm");
    must(s.kubectl(&["create", "secret", "generic", "mine", "-n", "prod", "--from-literal=k=v"]), "attacker secret");
    let routes = [
        // Read as vcproxy and filtered: the routes where a slip would leak most.
        "/api/v1/secrets".to_string(),
        "/api/v1/configmaps".into(),
        "/api/v1/events".into(),
        "/apis/apps/v1/deployments".into(),
        "/api/v1/namespaces".into(),
        "/api/v1/nodes".into(),
        // As the tenant, in its namespaces.
        "/api/v1/namespaces/prod/secrets".into(),
        "/api/v1/namespaces/prod/configmaps/mine".into(),
        "/api/v1/namespaces/prod".into(),
        // Somebody else's, by super name: 404 in any encoding.
        format!("/api/v1/namespaces/{vp}/secrets"),
        format!("/api/v1/namespaces/{vp}/configmaps/x"),
        // vcproxy's own store.
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".into(),
    ];
    for path in &routes {
        for accept in SHAPES {
            let r = s.get_accept(path, accept).await;
            s.rewritten_or_refused(&format!("GET {path} Accept: {accept:?}"), &r, accept);
        }
        // Several Accept header lines at once.
        let mut req = s.build(&Method::GET, &s.url(path), None, &[], Bytes::new());
        req.headers_mut().remove("accept");
        req.headers_mut().append("accept", "application/vnd.kubernetes.protobuf".parse().unwrap());
        req.headers_mut().append("accept", "application/yaml".parse().unwrap());
        let r = send(H2, req).await;
        s.rewritten_or_refused(&format!("GET {path} with two Accept lines"), &r, "application/yaml");
    }

    // YAML says what JSON says.
    let json = s.get_accept("/api/v1/namespaces/prod/configmaps/mine", JSON).await;
    let yaml = s.get_accept("/api/v1/namespaces/prod/configmaps/mine", "application/yaml").await;
    s.check(json.json().is_some() && json.json() == decoded(&yaml), || {
        format!("YAML and JSON differ:\n{}\n---\n{}", json.excerpt(), yaml.excerpt())
    });
    s.check(yaml.text().contains("namespace: prod\n"), || format!("YAML in the virtual view: {}", yaml.excerpt()));

    // Watches: JSON streams are filtered; YAML has no watch encoding (406, as kube-apiserver).
    for path in ["/api/v1/configmaps?watch=1", "/api/v1/secrets?watch=1", "/api/v1/namespaces?watch=1", "/api/v1/namespaces/prod/configmaps?watch=1"] {
        for accept in ["*/*", "application/*", "application/json;stream=watch", "application/yaml, application/json"] {
            let r = s.watch(path, accept, Duration::from_secs(2)).await;
            s.confined_stream(&format!("WATCH {path} Accept: {accept:?}"), &r);
        }
        for accept in ["application/yaml", "text/plain", "application/vnd.kubernetes.protobuf;stream=watch"] {
            let r = s.watch(path, accept, Duration::from_secs(2)).await;
            s.refused(&format!("WATCH {path} Accept: {accept:?}"), &r, &[406]);
        }
    }
    s.finish();
}

/// Every continue token the attacker is given, decoded as far as it decodes.
fn decode_token(token: &str) -> String {
    let engines = [&base64::engine::general_purpose::URL_SAFE_NO_PAD, &base64::engine::general_purpose::STANDARD];
    let raw = engines.iter().find_map(|e| e.decode(token.trim_end_matches('=')).ok()).unwrap_or_default();
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_tokens_name_nothing_outside_the_tenant() {
    let mut s = Scene::new("h14");
    let (a, v) = (s.a.clone(), s.v.clone());
    for i in 0..3 {
        must(s.kubectl(&["create", "cm", &format!("page-{i}"), "-n", "prod"]), "attacker cm");
    }
    must(s.kubectl(&["create", "ns", "third"]), "attacker ns");
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
    let mut tokens: Vec<(String, String)> = Vec::new();
    for (list, accept) in [
        ("/api/v1/configmaps", JSON),
        ("/api/v1/configmaps", "application/yaml"),
        ("/api/v1/configmaps", TABLE),
        ("/api/v1/secrets", JSON),
        ("/api/v1/namespaces", JSON),
        ("/api/v1/namespaces", "application/yaml"),
        ("/api/v1/namespaces/prod/configmaps", JSON),
    ] {
        let mut next = String::new();
        let mut names = BTreeSet::new();
        // Across namespaces, each upstream page of one may hold only foreign objects (dropped),
        // so paging walks every tenant's objects: allow for a busy shared apiserver.
        for page in 0..5000 {
            let sep = if list.contains('?') { '&' } else { '?' };
            let path = if next.is_empty() { format!("{list}{sep}limit=1") } else { format!("{list}{sep}limit=1&continue={}", enc(&next)) };
            let r = s.get_accept(&path, accept).await;
            let what = format!("GET {path} as {accept} (page {page})");
            s.check(r.status == 200, || format!("{what}: {} {}", r.status, r.excerpt()));
            let Some(doc) = decoded(&r) else { break };
            for item in doc["items"].as_array().into_iter().flatten().chain(doc["rows"].as_array().into_iter().flatten().map(|r| &r["object"])) {
                names.insert(item["metadata"]["name"].as_str().unwrap_or("").to_string());
            }
            s.rewritten_or_refused(&what, &r, accept);
            next = doc["metadata"]["continue"].as_str().unwrap_or_default().to_string();
            if next.is_empty() {
                break;
            }
            if page < 20 {
                tokens.push((what, next.clone()));
            }
        }
        // Paging still reaches every one of the attacker's objects.
        if list.ends_with("configmaps") {
            let want = (0..3).all(|i| names.contains(&format!("page-{i}")));
            s.check(want, || format!("paging {list} as {accept} missed objects: {names:?}"));
        }
        if list == "/api/v1/namespaces" {
            let want = ["default", "prod", "third"].iter().all(|n| names.contains(*n));
            s.check(want, || format!("paging namespaces as {accept} missed some: {names:?}"));
        }
    }
    s.check(tokens.len() >= 6, || format!("expected paged lists to hand out tokens, got {}", tokens.len()));
    for (what, token) in &tokens {
        // Sealed tokens decode to random bytes; look for words, not single characters.
        let text = decode_token(token);
        let names_something = ["kube-system", "start", "\"rv\"", "prod", "page-", &v, &a].iter().any(|n| text.contains(n));
        s.check(!names_something && !token.contains(&v), || format!("LEAK: {what}: the continue token decodes to {text:?}"));
    }

    // The victim's token, a token of another list, a tampered one: all 400, nothing read.
    let vtoken = token_of(&s.vkc);
    let url = format!("{}/clusters/{v}/api/v1/configmaps?limit=1", proxy().url());
    let req = Request::get(&url).header("authorization", format!("Bearer {vtoken}")).header("accept", JSON).body(full(Bytes::new())).unwrap();
    let victims = send(H2, req).await.json().unwrap_or_default();
    let victim_token = victims["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    s.check(!victim_token.is_empty(), || format!("the victim's list should page: {victims}"));
    let (what, mine) = tokens.iter().find(|(w, _)| w.contains("/api/v1/configmaps?") && w.contains(JSON)).cloned().unwrap_or_default();
    let mut tampered = mine.clone().into_bytes();
    if let Some(last) = tampered.iter_mut().rev().nth(2) {
        *last = if *last == b'A' { b'B' } else { b'A' };
    }
    let tampered = String::from_utf8(tampered).unwrap();
    for (desc, path) in [
        ("the victim's token", format!("/api/v1/configmaps?limit=1&continue={}", enc(&victim_token))),
        ("a configmaps token on secrets", format!("/api/v1/secrets?limit=1&continue={}", enc(&mine))),
        ("an across-namespaces token in one namespace", format!("/api/v1/namespaces/prod/configmaps?limit=1&continue={}", enc(&mine))),
        ("a tampered token", format!("/api/v1/configmaps?limit=1&continue={}", enc(&tampered))),
        ("a namespaces token made up", format!("/api/v1/namespaces?limit=1&continue={}", enc(&b64("{\"rv\":1,\"start\":\"kube-system\"}")))),
    ] {
        let r = s.get(&path).await;
        s.refused(&format!("{desc} (from {what})"), &r, &[400]);
    }
    s.finish();
}

/// vcproxy's filtered reads run as `vcproxy:filtered-reader`: it may read, and nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_reads_run_as_a_read_only_identity() {
    let p = proxy();
    let (_, kc) = tenant_on(p, "h15");
    // A cross-namespace list makes sure vcproxy is up and has set the identity up.
    must(p.kubectl(&kc, &["get", "secrets", "-A"]), "tenant get secrets -A");
    let can = |args: &[&str]| {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        full.extend(["--as", "vcproxy:filtered-reader"]);
        String::from_utf8_lossy(&admin(&full).stdout).trim().to_string()
    };
    assert_eq!(can(&["list", "secrets", "-A"]), "yes");
    assert_eq!(can(&["watch", "configmaps", "-A"]), "yes");
    for denied in [
        &["create", "configmaps", "-n", "default"][..],
        &["delete", "secrets", "-n", "kube-system"],
        &["create", "pods/exec", "-n", "default"],
        &["impersonate", "users"],
        &["impersonate", "groups"],
        &["create", "clusterrolebindings"],
        &["update", "namespaces"],
    ] {
        assert_eq!(can(denied), "no", "vcproxy:filtered-reader must not {denied:?}");
    }
}
