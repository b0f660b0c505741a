//! Tenant CRDs and custom resources, served by vcproxy from etcd: kubectl
//! sessions, Kubernetes semantics, isolation, and tenant deletion.

use std::path::Path;
use std::time::{Duration, Instant};

use http::{Method, Request};
use serde_json::{json, Value};

use crate::client::{body_bytes, connect, full, Conn};
use crate::{kubectl_with_stdin, ok, proxy, tenant_on, token_of, vcproxy_bin};
use vcproxy_testenv::{shared, ControlPlane, Vcproxy};

fn kubectl(p: &Vcproxy, kc: &Path, args: &[&str]) -> String {
    ok(p.kubectl(kc, args), &format!("kubectl {}", args.join(" ")))
}

fn kubectl_stdin(kc: &Path, args: &[&str], stdin: &str) -> String {
    ok(kubectl_with_stdin(kc, args, stdin), &format!("kubectl {}", args.join(" ")))
}

/// A CRD `widgets.<group>` whose spec has `size` (integer, 1..10, default 3),
/// `color` (enum) and required `name`.
fn widget_crd(group: &str, extra_property: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {{}}
      scale: {{specReplicasPath: .spec.size, statusReplicasPath: .status.size}}
    additionalPrinterColumns:
    - {{name: Size, type: integer, jsonPath: .spec.size}}
    - {{name: Color, type: string, jsonPath: .spec.color}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [name]
            properties:
              name: {{type: string}}
              size: {{type: integer, minimum: 1, maximum: 10, default: 3}}
              color: {{type: string, enum: [red, blue]}}
              {extra_property}: {{type: string}}
          status:
            type: object
            properties:
              size: {{type: integer}}
              phase: {{type: string}}
"#
    )
}

#[test]
fn a_kubectl_session_with_a_tenant_crd() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "cr");
    let group = "shop.example.com";
    kubectl_stdin(&kc, &["apply", "-f", "-"], &widget_crd(group, "note"));
    kubectl(p, &kc, &["wait", "--for=condition=Established", &format!("crd/widgets.{group}"), "--timeout=30s"]);
    let resources = kubectl(p, &kc, &["api-resources", "--api-group", group, "--no-headers"]);
    assert!(resources.contains("widgets") && resources.contains("wd") && resources.contains("Widget"), "{resources}");
    // Updating the CRD (a schema change) goes through kube's update validation.
    let updated = kubectl_stdin(&kc, &["apply", "-f", "-"], &widget_crd(group, "remark"));
    assert!(updated.contains("configured"), "{updated}");
    let explained = kubectl(p, &kc, &["explain", "widgets.spec"]);
    assert!(explained.contains("remark"), "{explained}");
    assert!(explained.contains("size") && explained.contains("color"), "{explained}");

    kubectl(p, &kc, &["create", "ns", "shop"]);
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        &format!("apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1, namespace: shop}}\nspec: {{name: first, color: red}}\n"),
    );
    let yaml = kubectl(p, &kc, &["get", "widget", "w1", "-n", "shop", "-o", "yaml"]);
    assert!(yaml.contains("size: 3"), "default not applied:\n{yaml}");
    assert!(yaml.contains("namespace: shop") && yaml.contains("generation: 1"), "{yaml}");
    let table = kubectl(p, &kc, &["get", "widgets", "-n", "shop"]);
    assert!(table.contains("SIZE") && table.contains("COLOR") && table.contains("red"), "{table}");
    let described = kubectl(p, &kc, &["describe", "widget", "w1", "-n", "shop"]);
    assert!(described.contains("first"), "{described}");
    kubectl(p, &kc, &["label", "widget", "w1", "-n", "shop", "tier=gold"]);
    kubectl(p, &kc, &["patch", "widget", "w1", "-n", "shop", "--type=merge", "-p", r#"{"spec":{"size":5}}"#]);
    assert_eq!(
        kubectl(
            p,
            &kc,
            &[
                "get",
                "wd",
                "w1",
                "-n",
                "shop",
                "-o",
                "jsonpath={.spec.size} {.metadata.generation} {.metadata.labels.tier}"
            ]
        ),
        "5 2 gold"
    );
    kubectl(p, &kc, &["scale", "widget", "w1", "-n", "shop", "--replicas=7"]);
    assert_eq!(kubectl(p, &kc, &["get", "wd", "w1", "-n", "shop", "-o", "jsonpath={.spec.size}"]), "7");
    // get -w: a change arrives as it happens.
    let seen = crate::virtual_view::watch_until(
        &kc,
        &["get", "widgets", "-n", "shop", "-w", "--no-headers"],
        Duration::from_secs(20),
        || {
            kubectl_stdin(
                &kc,
                &["apply", "-f", "-"],
                &format!("apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w2, namespace: shop}}\nspec: {{name: second, color: blue}}\n"),
            );
        },
        // The whole row: kubectl may write it in more than one piece.
        |s| s.contains("w2") && s.contains("blue"),
    );
    assert!(seen.contains("w2") && seen.contains("blue"), "{seen}");
    let all = kubectl(p, &kc, &["get", "widgets", "-A", "--no-headers"]);
    assert!(all.contains("shop") && all.contains("w1"), "{all}");

    // Invalid objects are refused with field paths.
    let bad = kubectl_fail_stdin(&kc, &format!("apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: bad, namespace: shop}}\nspec: {{color: pink, size: 99}}\n"));
    assert!(bad.contains("spec.color") && bad.contains("spec.size") && bad.contains("spec.name"), "{bad}");

    // The super apiserver never sees the CRD.
    let upstream = String::from_utf8_lossy(&shared().admin_kubectl(&["get", "crd", "-o", "name"]).stdout).to_string();
    assert!(!upstream.contains(group), "{upstream}");
    let _ = tenant;

    kubectl(p, &kc, &["delete", "widget", "w1", "-n", "shop"]);
    kubectl(p, &kc, &["delete", "crd", &format!("widgets.{group}")]);
    let after = p.kubectl(&kc, &["get", "widgets", "-n", "shop"]);
    assert!(!after.status.success(), "widgets still served after the CRD was deleted");
}

fn kubectl_fail_stdin(kc: &Path, stdin: &str) -> String {
    let out = kubectl_with_stdin(kc, &["apply", "-f", "-"], stdin);
    assert!(!out.status.success(), "an invalid object was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn two_tenants_same_crd_name_different_schemas() {
    let p = proxy();
    let (_, a) = tenant_on(p, "sa");
    let (_, b) = tenant_on(p, "sb");
    let group = "same.example.com";
    kubectl_stdin(&a, &["apply", "-f", "-"], &widget_crd(group, "onlya"));
    kubectl_stdin(&b, &["apply", "-f", "-"], &widget_crd(group, "onlyb"));
    for kc in [&a, &b] {
        kubectl(p, kc, &["wait", "--for=condition=Established", &format!("crd/widgets.{group}"), "--timeout=30s"]);
    }
    let doc = |field: &str| {
        format!("apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w, namespace: default}}\nspec: {{name: nn, {field}: x}}\n")
    };
    kubectl_stdin(&a, &["apply", "-f", "-"], &doc("onlya"));
    kubectl_stdin(&b, &["apply", "-f", "-"], &doc("onlyb"));
    // Each tenant's schema pruned the other's field.
    assert_eq!(kubectl(p, &a, &["get", "widget", "w", "-o", "jsonpath={.spec.onlya}"]), "x");
    assert_eq!(kubectl(p, &b, &["get", "widget", "w", "-o", "jsonpath={.spec.onlyb}"]), "x");
    let crds_a = kubectl(p, &a, &["get", "crd", "-o", "name"]);
    assert_eq!(crds_a.trim(), format!("customresourcedefinition.apiextensions.k8s.io/widgets.{group}"));
    kubectl(p, &a, &["delete", "widget", "w"]);
    assert!(kubectl(p, &b, &["get", "widget", "w", "-o", "name"]).contains("w"));
}

// ---- semantics through the raw API ----------------------------------------------

struct Api {
    conn: Conn,
    base: String,
    token: String,
}

impl Api {
    async fn new(p: &Vcproxy, tenant: &str, token: String) -> Api {
        Api {
            conn: connect(p.url(), &p.ca_file(), &[b"h2"]).await,
            base: format!("{}/clusters/{tenant}", p.url()),
            token,
        }
    }
    async fn call(&mut self, method: Method, path: &str, content_type: &str, body: Option<Value>) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(full(body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default()))
            .unwrap();
        let (status, _, bytes) = body_bytes(self.conn.send(req).await).await;
        (status.as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
    async fn json(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, "application/json", body).await
    }
}

fn crd_json(group: &str) -> Value {
    serde_yaml::from_str(&widget_crd(group, "note")).unwrap()
}

async fn establish(api: &mut Api, group: &str) {
    let (s, v) =
        api.json(Method::POST, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", Some(crd_json(group))).await;
    assert_eq!(s, 201, "{v}");
    let conditions = v["status"]["conditions"].to_string();
    assert!(conditions.contains("Established") && conditions.contains("NamesAccepted"), "{v}");
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sem.example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_semantics() {
    let p = proxy();
    let (tenant, kc) = tenant_on(p, "se");
    let mut api = Api::new(p, &tenant, token_of(&kc)).await;
    establish(&mut api, "sem.example.com").await;
    let coll = "/apis/sem.example.com/v1/namespaces/default/widgets";

    // Defaulting and pruning on create; generation 1.
    let (s, w) = api.json(Method::POST, coll, Some(widget("a", json!({"name": "n", "unknown": 1})))).await;
    assert_eq!(s, 201, "{w}");
    assert_eq!(w["spec"]["size"], 3);
    assert!(w["spec"].get("unknown").is_none(), "not pruned: {w}");
    assert_eq!(w["metadata"]["generation"], 1);
    let rv1 = w["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    // Validation errors carry field paths.
    let (s, e) = api.json(Method::POST, coll, Some(widget("bad", json!({"size": 0, "color": "pink"})))).await;
    assert_eq!(s, 422, "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("spec.size") && msg.contains("spec.color") && msg.contains("spec.name"), "{msg}");
    assert_eq!(e["reason"], "Invalid");

    // Update with the current resourceVersion works and bumps generation on spec changes.
    let mut next = w.clone();
    next["spec"]["size"] = json!(4);
    let (s, w2) = api.json(Method::PUT, &format!("{coll}/a"), Some(next.clone())).await;
    assert_eq!(s, 200, "{w2}");
    assert_eq!(w2["metadata"]["generation"], 2);
    // A stale resourceVersion conflicts.
    next["spec"]["size"] = json!(5);
    next["metadata"]["resourceVersion"] = json!(rv1);
    let (s, c) = api.json(Method::PUT, &format!("{coll}/a"), Some(next)).await;
    assert_eq!(s, 409, "{c}");
    // Metadata-only changes keep generation.
    let (s, w3) = api
        .call(
            Method::PATCH,
            &format!("{coll}/a"),
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await;
    assert_eq!(s, 200, "{w3}");
    assert_eq!(w3["metadata"]["generation"], 2);

    // Status subresource: the main resource ignores status, /status ignores spec.
    let (_, w4) = api
        .call(
            Method::PATCH,
            &format!("{coll}/a"),
            "application/merge-patch+json",
            Some(json!({"status": {"phase": "Ready"}})),
        )
        .await;
    assert!(w4["status"].get("phase").is_none(), "{w4}");
    let (s, w5) = api
        .call(
            Method::PATCH,
            &format!("{coll}/a/status"),
            "application/merge-patch+json",
            Some(json!({"status": {"phase": "Ready"}, "spec": {"size": 9}})),
        )
        .await;
    assert_eq!(s, 200, "{w5}");
    assert_eq!(w5["status"]["phase"], "Ready");
    assert_eq!(w5["spec"]["size"], 4);
    assert_eq!(w5["metadata"]["generation"], 2);

    // Finalizers: delete marks, removing the last finalizer deletes.
    let (_, _) = api
        .call(
            Method::PATCH,
            &format!("{coll}/a"),
            "application/merge-patch+json",
            Some(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await;
    let (s, d) = api.json(Method::DELETE, &format!("{coll}/a"), None).await;
    assert_eq!(s, 200, "{d}");
    assert!(d["metadata"]["deletionTimestamp"].is_string(), "{d}");
    let (s, _) = api.json(Method::GET, &format!("{coll}/a"), None).await;
    assert_eq!(s, 200, "a finalized object stays until its finalizers are gone");
    let (s, _) = api
        .call(
            Method::PATCH,
            &format!("{coll}/a"),
            "application/merge-patch+json",
            Some(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.json(Method::GET, &format!("{coll}/a"), None).await;
    assert_eq!(s, 404);

    // Pagination: 5 objects, limit 2.
    for i in 0..5 {
        let (s, _) = api.json(Method::POST, coll, Some(widget(&format!("p{i}"), json!({"name": "n"})))).await;
        assert_eq!(s, 201);
    }
    let mut names = Vec::new();
    let mut cont = String::new();
    let mut pages = 0;
    loop {
        let path = if cont.is_empty() { format!("{coll}?limit=2") } else { format!("{coll}?limit=2&continue={cont}") };
        let (s, page) = api.json(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        names.extend(
            page["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => cont = c.to_string(),
            _ => break,
        }
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
    assert_eq!(pages, 3);

    // Label selectors and field selectors.
    let (_, _) = api
        .call(
            Method::PATCH,
            &format!("{coll}/p1"),
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"pick": "me"}}})),
        )
        .await;
    let (_, sel) = api.json(Method::GET, &format!("{coll}?labelSelector=pick%3Dme"), None).await;
    assert_eq!(sel["items"].as_array().unwrap().len(), 1);
    let (_, sel) = api.json(Method::GET, &format!("{coll}?fieldSelector=metadata.name%3Dp3"), None).await;
    assert_eq!(sel["items"][0]["metadata"]["name"], "p3");

    // Strategic merge patch is refused for custom resources, as in Kubernetes.
    let (s, _) = api
        .call(
            Method::PATCH,
            &format!("{coll}/p0"),
            "application/strategic-merge-patch+json",
            Some(json!({"spec": {"size": 2}})),
        )
        .await;
    assert_eq!(s, 415);
    // JSON patch works.
    let (s, j) = api
        .call(
            Method::PATCH,
            &format!("{coll}/p0"),
            "application/json-patch+json",
            Some(json!([{"op": "replace", "path": "/spec/size", "value": 6}])),
        )
        .await;
    assert_eq!((s, j["spec"]["size"].as_i64()), (200, Some(6)), "{j}");
    // A CRD may not claim a group the super apiserver serves.
    let mut stolen = crd_json("rbac.authorization.k8s.io");
    stolen["metadata"]["name"] = json!("widgets.rbac.authorization.k8s.io");
    let (s, e) = api.json(Method::POST, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", Some(stolen)).await;
    assert_eq!(s, 403, "{e}");
    assert!(e["message"].as_str().unwrap().contains("served by the shared cluster"), "{e}");
    // Conversion webhooks are refused with a message saying so.
    let mut hook = crd_json("hook.example.com");
    hook["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {"url": "https://example.com"}}});
    let (s, e) = api.json(Method::POST, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", Some(hook)).await;
    assert!(s == 422 || s == 400, "{s} {e}");
    assert!(e["message"].as_str().unwrap().to_lowercase().contains("webhook"), "{e}");

    // A missing namespace is a 404, not a silent create.
    let (s, _) = api
        .json(Method::POST, "/apis/sem.example.com/v1/namespaces/nope/widgets", Some(widget("x", json!({"name": "n"}))))
        .await;
    assert_eq!(s, 404);
}

/// A client-go style reflector: list, then watch from the list's
/// resourceVersion, resuming after disconnects; keeps name → size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_cache_stays_accurate_through_changes_and_a_proxy_restart() {
    use http_body_util::BodyExt;
    let cp = shared();
    let dir = std::env::temp_dir().join(format!("vcproxy-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", vcproxy_testenv::free_port().unwrap()).parse().unwrap();
    let opts =
        || vcproxy_testenv::VcproxyOptions { dir: Some(dir.clone()), listen: Some(listen), ..Default::default() };
    let p = Vcproxy::start_with(vcproxy_bin(), cp, opts()).unwrap();
    let (tenant, kc) = tenant_on(&p, "wt");
    let token = token_of(&kc);
    let mut api = Api::new(&p, &tenant, token.clone()).await;
    establish(&mut api, "sem.example.com").await;
    let coll = "/apis/sem.example.com/v1/namespaces/default/widgets";
    for i in 0..3 {
        api.json(Method::POST, coll, Some(widget(&format!("w{i}"), json!({"name": "n", "size": i + 1})))).await;
    }

    let (_, list) = api.json(Method::GET, coll, None).await;
    let mut cache: std::collections::BTreeMap<String, i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["metadata"]["name"].as_str().unwrap().to_string(), i["spec"]["size"].as_i64().unwrap()))
        .collect();
    let mut rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    // Watch, apply changes, consume events until the cache matches.
    async fn follow(
        p: &Vcproxy,
        tenant: &str,
        token: &str,
        rv: &mut String,
        cache: &mut std::collections::BTreeMap<String, i64>,
        want: &std::collections::BTreeMap<String, i64>,
    ) {
        let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
        let req = Request::get(format!(
            "{}/clusters/{tenant}/apis/sem.example.com/v1/namespaces/default/widgets?watch=1&allowWatchBookmarks=true&resourceVersion={rv}",
            p.url()
        ))
        .header("authorization", format!("Bearer {token}"))
        .body(full(""))
        .unwrap();
        let resp = conn.send(req).await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while cache != want {
            assert!(Instant::now() < deadline, "cache {cache:?} never reached {want:?}");
            let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
                .await
                .expect("watch stalled")
                .unwrap()
                .unwrap();
            let Some(data) = frame.data_ref() else { continue };
            buf.extend_from_slice(data);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let ev: Value = serde_json::from_slice(&line).unwrap();
                let obj = &ev["object"];
                *rv = obj["metadata"]["resourceVersion"].as_str().unwrap().to_string();
                let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
                match ev["type"].as_str().unwrap() {
                    "ADDED" | "MODIFIED" => {
                        cache.insert(name, obj["spec"]["size"].as_i64().unwrap());
                    }
                    "DELETED" => {
                        cache.remove(&name);
                    }
                    "BOOKMARK" => {}
                    other => panic!("unexpected event {other}: {ev}"),
                }
            }
        }
    }

    api.json(Method::POST, coll, Some(widget("w3", json!({"name": "n", "size": 9})))).await;
    api.call(Method::PATCH, &format!("{coll}/w0"), "application/merge-patch+json", Some(json!({"spec": {"size": 7}})))
        .await;
    api.json(Method::DELETE, &format!("{coll}/w1"), None).await;
    let want: std::collections::BTreeMap<String, i64> =
        [("w0", 7), ("w2", 3), ("w3", 9)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    follow(&p, &tenant, &token, &mut rv, &mut cache, &want).await;

    // Restart the proxy; changes made meanwhile (through another proxy) are
    // replayed from the last resourceVersion the watcher saw.
    drop(api);
    p.signal(libc::SIGTERM).unwrap();
    assert!(p.wait_timeout(Duration::from_secs(15)).is_some());
    drop(p);
    let other = Vcproxy::start(vcproxy_bin(), cp).unwrap();
    let other_kc = other.dir().join("other.kubeconfig");
    std::fs::write(&other_kc, ok(other.tenant(&["kubeconfig", &tenant]), "kubeconfig")).unwrap();
    let mut api2 = Api::new(&other, &tenant, token_of(&other_kc)).await;
    api2.json(Method::DELETE, &format!("{coll}/w2"), None).await;
    api2.call(Method::PATCH, &format!("{coll}/w3"), "application/merge-patch+json", Some(json!({"spec": {"size": 1}})))
        .await;
    let p = Vcproxy::start_with(vcproxy_bin(), cp, opts()).unwrap();
    let want: std::collections::BTreeMap<String, i64> =
        [("w0", 7), ("w3", 1)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    follow(&p, &tenant, &token, &mut rv, &mut cache, &want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_revision_is_410_gone() {
    // A private control plane: compacting the shared etcd would disturb other tests.
    let cp = tokio::task::spawn_blocking(ControlPlane::start).await.unwrap().unwrap();
    let p = Vcproxy::start(vcproxy_bin(), &cp).unwrap();
    let (tenant, kc) = tenant_on(&p, "gn");
    let mut api = Api::new(&p, &tenant, token_of(&kc)).await;
    establish(&mut api, "sem.example.com").await;
    let coll = "/apis/sem.example.com/v1/namespaces/default/widgets";
    let (_, w) = api.json(Method::POST, coll, Some(widget("a", json!({"name": "n"})))).await;
    let old = w["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap();
    for i in 0..3 {
        api.call(
            Method::PATCH,
            &format!("{coll}/a"),
            "application/merge-patch+json",
            Some(json!({"spec": {"size": i + 2}})),
        )
        .await;
    }
    let mut etcd = etcd_client::Client::connect([cp.etcd_url()], None).await.unwrap();
    let now = etcd.get("/", None).await.unwrap().header().unwrap().revision();
    etcd.compact(now, None).await.unwrap();
    let (s, st) = api.json(Method::GET, &format!("{coll}?watch=1&resourceVersion={old}"), None).await;
    assert_eq!(s, 410, "{st}");
    assert_eq!(st["reason"], "Expired");
    let (s, _) = api.json(Method::GET, &format!("{coll}?watch=1&resourceVersion={now}&timeoutSeconds=1"), None).await;
    assert_eq!(s, 200);
}

#[test]
fn deleting_a_tenant_removes_exactly_its_keys() {
    let p = proxy();
    let name = crate::unique_tenant("nb");
    let neighbour = format!("{name}0"); // sorts right after it
    let kc = p.create_tenant_kubeconfig(&name).unwrap();
    let kc2 = p.create_tenant_kubeconfig(&neighbour).unwrap();
    for kc in [&kc, &kc2] {
        kubectl_stdin(kc, &["apply", "-f", "-"], &widget_crd("keys.example.com", "note"));
        kubectl(p, kc, &["wait", "--for=condition=Established", "crd/widgets.keys.example.com", "--timeout=30s"]);
        kubectl_stdin(kc, &["apply", "-f", "-"], "apiVersion: keys.example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {name: nn}\n");
    }
    let keys = |t: &str| -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut etcd = etcd_client::Client::connect([shared().etcd_url()], None).await.unwrap();
            let opts = etcd_client::GetOptions::new().with_prefix().with_count_only();
            etcd.get(format!("/vcproxy/tenants/{t}/"), Some(opts)).await.unwrap().count()
        })
    };
    let before = keys(&neighbour);
    assert!(keys(&name) >= 4 && before >= 4);
    ok(p.tenant(&["delete", &name]), "tenant delete");
    assert_eq!(keys(&name), 0);
    assert_eq!(keys(&neighbour), before);
    assert_eq!(kubectl(p, &kc2, &["get", "widget", "w", "-o", "jsonpath={.spec.name}"]), "nn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_and_crd_quotas_give_a_clear_403() {
    let dir = std::env::temp_dir().join(format!("vcproxy-quota-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[defaults]\nmax_objects = 3\nmax_crds = 1\n").unwrap();
    let opts = vcproxy_testenv::VcproxyOptions {
        extra_toml: format!("[policy]\nfile = {:?}\n", policy.display().to_string()),
        ..Default::default()
    };
    let p = Vcproxy::start_with(vcproxy_bin(), shared(), opts).unwrap();
    let (tenant, kc) = tenant_on(&p, "qo");
    let mut api = Api::new(&p, &tenant, token_of(&kc)).await;
    establish(&mut api, "sem.example.com").await;
    let (s, e) = api
        .json(
            Method::POST,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(crd_json("two.example.com")),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    assert!(e["message"].as_str().unwrap().contains("CRD quota"), "{e}");
    let coll = "/apis/sem.example.com/v1/namespaces/default/widgets";
    // The CRD itself is one stored object; two widgets fill the quota of 3.
    for i in 0..2 {
        let (s, e) = api.json(Method::POST, coll, Some(widget(&format!("q{i}"), json!({"name": "n"})))).await;
        assert_eq!(s, 201, "{e}");
    }
    let (s, e) = api.json(Method::POST, coll, Some(widget("q9", json!({"name": "n"})))).await;
    assert_eq!(s, 403, "{e}");
    assert!(e["message"].as_str().unwrap().contains("quota"), "{e}");
}
