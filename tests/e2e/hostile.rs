//! A hostile tenant tries to escape its virtual cluster.
//!
//! Every scene has two tenants on the shared vcproxy — an attacker and a victim —
//! with identically named namespaces (`default`, `prod`), victim objects carrying a
//! marker string, and marker objects the super admin put into the super master's
//! own `kube-system` and `default`. The attacker then tries, one attempt at a
//! time, to read, write or reference anything outside its own namespaces. Each
//! attempt must be refused with a `metav1.Status` body (403 or 404, 400 for
//! malformed input; other codes are accepted only where the real apiserver
//! legitimately answers so and nothing leaks — each such case says why), and
//! the super admin then checks that nothing outside the attacker's own super
//! namespaces was created, changed or deleted.
//!
//! Attempts are soft-asserted: a scene records every failed check with a clear
//! message and fails once at the end, so one escape does not hide the others.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use vcproxy_testenv::{kubectl_path, shared};

use crate::client::{body_bytes, connect, full};
use crate::{proxy, tenant_on, token_of};

/// Longest a single refused request may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

const H2: &[&[u8]] = &[b"h2"];
const H1: &[&[u8]] = &[b"http/1.1"];

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const APPLY: &str = "application/apply-patch+yaml";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

// ------------------------------------------------------------------ plumbing

/// One answer from vcproxy; status 0 means there was none (connection error or timeout).
struct Resp {
    status: u16,
    #[allow(dead_code)]
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn failed(why: String) -> Resp {
        Resp { status: 0, headers: HeaderMap::new(), body: Bytes::from(why) }
    }
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn excerpt(&self) -> String {
        let t = self.text();
        if t.len() > 700 {
            let mut cut = 700;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}… ({} bytes)", &t[..cut], t.len())
        } else {
            t
        }
    }
}

/// Sends `req` on a fresh connection offering `alpn`. A fresh connection per
/// request keeps one hostile request that breaks its connection from failing
/// the next; a panic in the client becomes a failed `Resp`.
async fn send(alpn: &'static [&'static [u8]], req: Request<crate::client::Body>) -> Resp {
    let p = proxy();
    let (url, ca) = (p.url().to_string(), p.ca_file());
    let task = tokio::spawn(async move {
        let mut conn = connect(&url, &ca, alpn).await;
        let resp = conn.send(req).await;
        let (status, headers, body) = body_bytes(resp).await;
        Resp { status: status.as_u16(), headers, body }
    });
    match tokio::time::timeout(ANSWER_WITHIN, task).await {
        Err(_) => Resp::failed(format!("no answer within {ANSWER_WITHIN:?}")),
        Ok(Err(e)) => Resp::failed(format!("the connection failed: {e}")),
        Ok(Ok(r)) => r,
    }
}

/// Reads a streamed answer (a watch) for at most `window`.
async fn send_stream(req: Request<crate::client::Body>, window: Duration) -> Resp {
    let p = proxy();
    let (url, ca) = (p.url().to_string(), p.ca_file());
    let task = tokio::spawn(async move {
        let mut conn = connect(&url, &ca, H2).await;
        let resp = conn.send(req).await;
        let (parts, mut body) = resp.into_parts();
        let deadline = tokio::time::Instant::now() + window;
        let mut buf = Vec::new();
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
            if let Some(d) = frame.data_ref() {
                buf.extend_from_slice(d);
            }
        }
        Resp { status: parts.status.as_u16(), headers: parts.headers, body: buf.into() }
    });
    match tokio::time::timeout(window + ANSWER_WITHIN, task).await {
        Err(_) => Resp::failed("the watch did not end".into()),
        Ok(Err(e)) => Resp::failed(format!("the watch connection failed: {e}")),
        Ok(Ok(r)) => r,
    }
}

/// kubectl with `stdin`.
fn kubectl_stdin(kubeconfig: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(kubectl_path().unwrap());
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = vcproxy_testenv::process::spawn(cmd).unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn must(out: Output, what: &str) -> String {
    crate::ok(out, what)
}

fn admin(args: &[&str]) -> Output {
    shared().admin_kubectl(args)
}

fn admin_ok(args: &[&str]) -> String {
    must(admin(args), &format!("super admin: kubectl {}", args.join(" ")))
}

fn admin_apply(yaml: &str) {
    must(kubectl_stdin(shared().admin_kubeconfig(), &["apply", "-f", "-"], yaml), "super admin apply");
}

/// The object as the super admin sees it, or None if it does not exist.
fn admin_get(resource: &str, ns: Option<&str>, name: &str) -> Option<Value> {
    let mut args = vec!["get", resource, name, "-o", "json"];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    let out = admin(&args);
    if out.status.success() {
        return Some(serde_json::from_slice(&out.stdout).expect("kubectl -o json"));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NotFound") || err.contains("not found"), "super admin get {resource} {name}: {err}");
    None
}

fn lbl(v: &Value, key: &str) -> Option<String> {
    v["metadata"]["labels"][key].as_str().map(str::to_string)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ------------------------------------------------------------------ the scene

struct Scene {
    a: String,
    akc: PathBuf,
    atoken: String,
    v: String,
    vkc: PathBuf,
    /// Strings that must never reach the attacker.
    markers: Vec<String>,
    failures: Vec<String>,
    checks: usize,
    /// The super admin's view of what must not change, taken at setup.
    before: Vec<(String, String)>,
}

impl Scene {
    /// Two fresh tenants; both have `default` and `prod`; the victim's `prod` holds
    /// configmap `x` and secret `vsec-<victim>`; the super master's `kube-system`
    /// and `default` hold `marker-<attacker>` objects.
    fn new(prefix: &str) -> Scene {
        let p = proxy();
        let (a, akc) = tenant_on(p, &format!("{prefix}a"));
        let (v, vkc) = tenant_on(p, &format!("{prefix}v"));
        Scene::with(a, akc, v, vkc)
    }

    fn with(a: String, akc: PathBuf, v: String, vkc: PathBuf) -> Scene {
        let p = proxy();
        let vdata = format!("victim-data-{v}");
        let sdata = format!("super-data-{a}");
        must(p.kubectl(&vkc, &["create", "ns", "prod"]), "victim create ns prod");
        must(
            kubectl_stdin(
                &vkc,
                &["apply", "-f", "-"],
                &format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: prod, labels: {{owner: {vdata}}}}}\ndata: {{owner: {vdata}}}\n---\n\
                     apiVersion: v1\nkind: Secret\nmetadata: {{name: vsec-{v}, namespace: prod, labels: {{owner: {vdata}}}}}\nstringData: {{password: {vdata}}}\n---\n\
                     apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: default, labels: {{owner: {vdata}}}}}\ndata: {{owner: {vdata}}}\n"
                ),
            ),
            "victim apply",
        );
        must(p.kubectl(&akc, &["create", "ns", "prod"]), "attacker create ns prod");
        admin_apply(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: marker-{a}, namespace: kube-system, labels: {{owner: {sdata}}}}}\ndata: {{owner: {sdata}}}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {{name: marker-{a}, namespace: kube-system, labels: {{owner: {sdata}}}}}\nstringData: {{password: {sdata}}}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: marker-{a}, namespace: default, labels: {{owner: {sdata}}}}}\ndata: {{owner: {sdata}}}\n"
        ));
        let atoken = token_of(&akc);
        let markers = vec![vdata, sdata, format!("vsec-{v}"), format!("marker-{a}"), b64(&format!("victim-data-{v}"))];
        let mut scene = Scene { a, akc, atoken, v, vkc, markers, failures: Vec::new(), checks: 0, before: Vec::new() };
        scene.before = scene.fingerprint();
        scene
    }

    fn vns(&self, ns: &str) -> String {
        format!("{}--{ns}", self.v)
    }

    // -------------------------------------------------------------- requests

    fn url(&self, path: &str) -> String {
        format!("{}/clusters/{}{path}", proxy().url(), self.a)
    }

    fn build(
        &self,
        method: &Method,
        url: &str,
        ct: Option<&str>,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Request<crate::client::Body> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url)
            .header("authorization", format!("Bearer {}", self.atoken))
            .header("accept", JSON);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(full(body)).expect("a request the http crate accepts")
    }

    /// `method` on `/clusters/<attacker><path>` over HTTP/2.
    async fn call(&self, method: Method, path: &str, ct: Option<&str>, body: impl Into<Bytes>) -> Resp {
        send(H2, self.build(&method, &self.url(path), ct, &[], body.into())).await
    }

    async fn call_with(
        &self,
        alpn: &'static [&'static [u8]],
        method: Method,
        path: &str,
        ct: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        send(alpn, self.build(&method, &self.url(path), ct, headers, body.into())).await
    }

    /// `method` on an absolute path (not under the attacker's `/clusters/<t>`).
    async fn call_abs(&self, alpn: &'static [&'static [u8]], method: Method, abs_path: &str) -> Resp {
        let url = format!("{}{abs_path}", proxy().url());
        send(alpn, self.build(&method, &url, None, &[], Bytes::new())).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None, Bytes::new()).await
    }

    async fn get_accept(&self, path: &str, accept: &str) -> Resp {
        let mut req = self.build(&Method::GET, &self.url(path), None, &[], Bytes::new());
        req.headers_mut().insert("accept", accept.parse().unwrap());
        send(H2, req).await
    }

    async fn watch(&self, path: &str, accept: &str, window: Duration) -> Resp {
        let mut req = self.build(&Method::GET, &self.url(path), None, &[], Bytes::new());
        req.headers_mut().insert("accept", accept.parse().unwrap());
        send_stream(req, window).await
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        proxy().kubectl(&self.akc, args)
    }

    // -------------------------------------------------------------- checks

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.failures.push(what());
        }
    }

    /// A marker in `text`, other than one the attempt itself names (a 404 for
    /// `configmaps/marker-x` legitimately echoes `marker-x`).
    fn leaked_marker(&self, what: &str, text: &str) -> Option<String> {
        self.markers.iter().filter(|m| !what.contains(m.as_str())).find(|m| text.contains(m.as_str())).cloned()
    }

    fn no_leak(&mut self, what: &str, text: &str) {
        let leaked = self.leaked_marker(what, text);
        self.check(leaked.is_none(), || {
            format!(
                "LEAK: {what}: the answer contains {:?} (an object outside the attacker's namespaces):\n{}",
                leaked.unwrap(),
                excerpt(text)
            )
        });
    }

    /// The attempt was refused with one of `codes`, as a `metav1.Status` naming
    /// that code, and the answer leaks nothing.
    fn refused(&mut self, what: &str, r: &Resp, codes: &[u16]) {
        let v = r.json();
        let is_status = v.as_ref().is_some_and(|v| v["kind"] == "Status" && v["code"] == r.status);
        self.check(codes.contains(&r.status) && is_status, || {
            format!("{what}: expected a Status with code in {codes:?}, got {}: {}", r.status, r.excerpt())
        });
        self.no_leak(what, &r.text());
    }

    /// kubectl as the attacker failed and printed nothing of anyone else.
    fn kubectl_refused(&mut self, args: &[&str]) {
        let out = self.kubectl(args);
        let what = format!("kubectl {}", args.join(" "));
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        self.check(!out.status.success(), || format!("{what}: expected to fail, but it succeeded:\n{stdout}{stderr}"));
        self.no_leak(&what, &format!("{stdout}{stderr}"));
    }

    /// The attacker's super namespaces and their virtual names, by ownership labels.
    fn own(&self) -> Vec<(String, String)> {
        let out = admin_ok(&["get", "ns", "-l", &format!("vcproxy.io/tenant={}", self.a), "-o", "json"]);
        let list: Value = serde_json::from_str(&out).unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ns| {
                (
                    ns["metadata"]["name"].as_str().unwrap().to_string(),
                    lbl(ns, "vcproxy.io/virtual-name").unwrap_or_default(),
                )
            })
            .collect()
    }

    fn own_virtual(&self) -> BTreeSet<String> {
        self.own().into_iter().map(|(_, v)| v).collect()
    }

    fn own_super(&self) -> BTreeSet<String> {
        self.own().into_iter().map(|(s, _)| s).collect()
    }

    /// Every object in `list` (a List, Table or PartialObjectMetadataList) is in
    /// one of the attacker's namespaces, and nothing leaks.
    fn confined_list(&mut self, what: &str, r: &Resp, allow_400: bool) {
        if allow_400 && r.status == 400 {
            return self.refused(what, r, &[400]);
        }
        self.no_leak(what, &r.text());
        let Some(v) = r.json() else {
            return self.check(false, || format!("{what}: expected a list, got {}: {}", r.status, r.excerpt()));
        };
        self.check(r.status == 200, || {
            format!("{what}: expected 200 (or a 400 Status), got {}: {}", r.status, r.excerpt())
        });
        let own = self.own_virtual();
        let mut items: Vec<&Value> = v["items"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
        items.extend(v["rows"].as_array().into_iter().flatten().map(|row| &row["object"]));
        for item in items {
            let meta = &item["metadata"];
            let ns = if v["kind"] == "NamespaceList" || item["kind"] == "Namespace" {
                meta["name"].as_str()
            } else {
                meta["namespace"].as_str()
            };
            if let Some(ns) = ns {
                let ok = own.contains(ns);
                self.check(ok, || {
                    format!(
                        "LEAK: {what}: item {:?} in namespace {ns:?}, not one of the attacker's {own:?}",
                        meta["name"]
                    )
                });
            }
        }
    }

    /// Every event of a watch stream is about the attacker's namespaces.
    fn confined_stream(&mut self, what: &str, r: &Resp) {
        self.check(r.status == 200, || format!("{what}: expected 200, got {}: {}", r.status, r.excerpt()));
        self.no_leak(what, &r.text());
        self.check(!r.text().contains("kube-system"), || {
            format!("LEAK: {what}: kube-system appears in the stream: {}", r.excerpt())
        });
        let own = self.own_virtual();
        for line in r.text().lines().filter(|l| !l.trim().is_empty()) {
            let Ok(ev) = serde_json::from_str::<Value>(line) else {
                // The stream may be cut mid-event by our read window.
                continue;
            };
            let obj = &ev["object"];
            if ev["type"] == "ERROR" || ev["type"] == "BOOKMARK" {
                continue;
            }
            let ns = if obj["kind"] == "Namespace" {
                obj["metadata"]["name"].as_str()
            } else {
                obj["metadata"]["namespace"].as_str()
            };
            if let Some(ns) = ns {
                let ok = own.contains(ns);
                self.check(ok, || format!("LEAK: {what}: event for {:?} in namespace {ns:?}", obj["metadata"]["name"]));
            }
            for row in obj["rows"].as_array().into_iter().flatten() {
                if let Some(ns) = row["object"]["metadata"]["namespace"].as_str() {
                    let ok = own.contains(ns);
                    self.check(ok, || format!("LEAK: {what}: table row in namespace {ns:?}"));
                }
            }
        }
    }

    /// What must not change: the super master's and the victim's namespaces and
    /// the marked objects in them.
    fn fingerprint(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let things: Vec<(&str, Option<String>, String)> = vec![
            ("namespace", None, "kube-system".into()),
            ("namespace", None, "default".into()),
            ("namespace", None, "kube-public".into()),
            ("namespace", None, self.vns("prod")),
            ("namespace", None, self.vns("default")),
            ("configmap", Some(self.vns("prod")), "x".into()),
            ("configmap", Some(self.vns("default")), "x".into()),
            ("secret", Some(self.vns("prod")), format!("vsec-{}", self.v)),
            ("rolebinding", Some(self.vns("prod")), "vcproxy-tenant-admin".into()),
            ("configmap", Some("kube-system".into()), format!("marker-{}", self.a)),
            ("secret", Some("kube-system".into()), format!("marker-{}", self.a)),
            ("configmap", Some("default".into()), format!("marker-{}", self.a)),
            ("clusterrole", None, "cluster-admin".into()),
            ("clusterrolebinding", None, "cluster-admin".into()),
        ];
        for (kind, ns, name) in things {
            let state = match admin_get(kind, ns.as_deref(), &name) {
                None => "absent".to_string(),
                Some(v) => format!(
                    "rv={} phase={} deleting={} labels={}",
                    v["metadata"]["resourceVersion"],
                    v["status"]["phase"],
                    v["metadata"]["deletionTimestamp"],
                    v["metadata"]["labels"]
                ),
            };
            out.push((format!("{kind} {}/{name}", ns.unwrap_or_default()), state));
        }
        out
    }

    /// Objects named like this attacker's probes (`probe-<attacker>…`) that exist
    /// outside the attacker's own super namespaces.
    fn foreign_probes(&self) -> Vec<String> {
        let own = self.own_super();
        let needle = format!("probe-{}", self.a);
        let out = admin_ok(&[
            "get",
            "configmaps,secrets,rolebindings,roles,deployments,pods,services,serviceaccounts",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.kind}/{.metadata.name}{\"\\n\"}{end}",
        ]);
        out.lines()
            .filter(|l| l.contains(&needle))
            .filter(|l| !own.contains(l.split('/').next().unwrap_or_default()))
            .map(str::to_string)
            .collect()
    }

    /// Nothing outside the attacker's namespaces changed; then fails with every
    /// failed check.
    fn finish(mut self) {
        let after = self.fingerprint();
        for ((what, before), (_, now)) in self.before.clone().iter().zip(after.iter()) {
            self.check(before == now, || format!("SIDE EFFECT: {what} changed:\n  before: {before}\n  after:  {now}"));
        }
        let probes = self.foreign_probes();
        self.check(probes.is_empty(), || {
            format!("SIDE EFFECT: the attacker's probes exist outside its namespaces: {probes:?}")
        });
        // Best-effort cleanup of the super master's markers.
        let marker = format!("marker-{}", self.a);
        let _ = admin(&["delete", "configmap,secret", &marker, "-n", "kube-system", "--ignore-not-found"]);
        let _ = admin(&["delete", "configmap", &marker, "-n", "default", "--ignore-not-found"]);
        assert!(
            self.failures.is_empty(),
            "{} of {} checks failed (attacker {}, victim {}):\n\n{}",
            self.failures.len(),
            self.checks,
            self.a,
            self.v,
            self.failures.join("\n\n")
        );
        eprintln!("hostile scene {} vs {}: all {} checks passed", self.a, self.v, self.checks);
    }
}

fn excerpt(t: &str) -> String {
    if t.len() > 700 {
        let mut cut = 700;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… ({} bytes)", &t[..cut], t.len())
    } else {
        t.to_string()
    }
}

fn cm_body(name: &str, ns: Option<&str>) -> String {
    let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
    if let Some(ns) = ns {
        v["metadata"]["namespace"] = json!(ns);
    }
    v.to_string()
}

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

// ------------------------------------------------------------------ 4 + 5. selectors, -A list and watch

/// Field and label selectors naming other namespaces, `-A` lists (JSON, Table,
/// metadata-only, paginated, forged continue), and `-A` watches: only the
/// attacker's objects come back, or a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_all_namespace_reads_see_only_the_attacker() {
    let mut s = Scene::new("h4");
    let (a, v) = (s.a.clone(), s.v.clone());
    let vp = s.vns("prod");
    // Events about the victim's and the super master's objects.
    admin_apply(&format!(
        "apiVersion: v1\nkind: Event\nmetadata: {{name: vevent-{v}, namespace: {vp}, labels: {{owner: victim-data-{v}}}}}\n\
         involvedObject: {{kind: ConfigMap, name: x, namespace: {vp}}}\nreason: Victim\nmessage: victim-data-{v}\ntype: Normal\n---\n\
         apiVersion: v1\nkind: Event\nmetadata: {{name: marker-{a}, namespace: kube-system, labels: {{owner: super-data-{a}}}}}\n\
         involvedObject: {{kind: ConfigMap, name: marker-{a}, namespace: kube-system}}\nreason: Super\nmessage: super-data-{a}\ntype: Normal\n"
    ));
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    must(s.kubectl(&["create", "secret", "generic", "mine", "-n", "prod", "--from-literal=k=v"]), "attacker secret");

    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let field = |resource: &str, sel: &str| format!("{resource}?fieldSelector={}", enc(sel));
    let label = |resource: &str, sel: &str| format!("{resource}?labelSelector={}", enc(sel));
    let lists = [
        field("/api/v1/configmaps", &format!("metadata.namespace={vp}")),
        field("/api/v1/configmaps", "metadata.namespace=kube-system"),
        field("/api/v1/secrets", "metadata.namespace=kube-system"),
        field("/api/v1/secrets", &format!("metadata.namespace=={vp}")),
        field("/api/v1/secrets", "metadata.namespace!=prod"),
        field("/api/v1/secrets", "metadata.namespace="),
        field("/api/v1/secrets", "metadata.namespace=kube-system,metadata.namespace=prod"),
        field("/api/v1/secrets", "metadata.namespace=kube-system\\,x"),
        field("/api/v1/secrets", " metadata.namespace=kube-system"),
        field("/api/v1/secrets", "metadata.namespace =kube-system"),
        field("/api/v1/secrets", &format!("metadata.name=marker-{a}")),
        format!(
            "/api/v1/secrets?fieldSelector={}&fieldSelector={}",
            enc("metadata.namespace=prod"),
            enc("metadata.namespace=kube-system")
        ),
        format!("/api/v1/secrets?fieldselector={}", enc("metadata.namespace=kube-system")),
        field("/api/v1/events", &format!("involvedObject.namespace={vp}")),
        field("/api/v1/events", "involvedObject.namespace=kube-system"),
        field("/api/v1/events", "involvedObject.namespace!=prod"),
        field("/api/v1/namespaces/prod/events", "involvedObject.namespace=kube-system"),
        field("/api/v1/namespaces/prod/configmaps", &format!("metadata.namespace={vp}")),
        field("/apis/events.k8s.io/v1/events", "regarding.namespace=kube-system"),
        field("/apis/events.k8s.io/v1/events", "metadata.namespace=kube-system"),
        label("/api/v1/configmaps", &format!("vcproxy.io/tenant={v}")),
        label("/api/v1/configmaps", &format!("owner=victim-data-{v}")),
        label("/api/v1/secrets", &format!("owner=super-data-{a}")),
        label("/api/v1/namespaces", &format!("vcproxy.io/tenant={v}")),
        label("/api/v1/namespaces", &format!("vcproxy.io/tenant={a}")),
        label("/api/v1/namespaces", "vcproxy.io/tenant"),
        label("/api/v1/namespaces", "!vcproxy.io/tenant"),
        label("/api/v1/namespaces", "vcproxy.io/virtual-name=prod"),
        label("/api/v1/namespaces", &format!("VCPROXY.IO/tenant={v}")),
        label("/api/v1/namespaces", "kubernetes.io/metadata.name=kube-system"),
        label("/api/v1/namespaces", &format!("kubernetes.io/metadata.name={vp}")),
        label("/api/v1/namespaces", &format!("kubernetes.io/metadata.name in (kube-system,default,{vp})")),
        label("/api/v1/namespaces", "kubernetes.io/metadata.name!=prod"),
        label("/api/v1/namespaces", "kubernetes.io/metadata.name notin (prod)"),
        label("/api/v1/namespaces", "!kubernetes.io/metadata.name"),
        field("/api/v1/namespaces", "metadata.name=kube-system"),
        field("/api/v1/namespaces", &format!("metadata.name={vp}")),
        field("/api/v1/namespaces", "metadata.name!=prod"),
        field("/api/v1/namespaces", "status.phase=Active"),
    ];
    for path in &lists {
        let r = s.get(path).await;
        s.confined_list(&format!("GET {path}"), &r, true);
    }
    // A label selector naming kube-system on namespaces finds nothing at all.
    let r = s.get(&label("/api/v1/namespaces", "kubernetes.io/metadata.name=kube-system")).await;
    let n = r.json().map(|v| v["items"].as_array().map_or(0, Vec::len));
    s.check(r.status == 400 || n == Some(0), || {
        format!("kubernetes.io/metadata.name=kube-system must select nothing: {}", r.excerpt())
    });
    let r = s
        .get(&label("/api/v1/namespaces", &format!("kubernetes.io/metadata.name in (kube-system,default,{vp})")))
        .await;
    let names: Vec<String> = r
        .json()
        .map(|v| {
            v["items"]
                .as_array()
                .unwrap_or(&vec![])
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    s.check(r.status == 400 || names == ["default"], || {
        format!(
            "metadata.name in (kube-system,default,<victim>--prod) must select only the attacker's default: {names:?}"
        )
    });

    for args in [
        vec!["get", "ns", "-l", "kubernetes.io/metadata.name=kube-system", "-o", "name"],
        vec!["get", "secrets", "-A", "--field-selector", "metadata.namespace=kube-system", "-o", "name"],
        vec!["get", "cm", "-A", "--field-selector", &format!("metadata.namespace={vp}"), "-o", "name"],
        vec!["get", "events", "-A", "--field-selector", "involvedObject.namespace=kube-system", "-o", "name"],
    ] {
        let out = s.kubectl(&args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        s.no_leak(&format!("kubectl {}", args.join(" ")), &text);
        s.check(String::from_utf8_lossy(&out.stdout).trim().is_empty(), || {
            format!("kubectl {} must print nothing: {text}", args.join(" "))
        });
    }

    // -A lists with kubectl.
    for kind in ["secrets", "configmaps", "events", "serviceaccounts", "rolebindings", "pods", "services"] {
        let out = s.kubectl(&["get", kind, "-A", "-o", "json"]);
        let r = Resp {
            status: if out.status.success() { 200 } else { 0 },
            headers: HeaderMap::new(),
            body: out.stdout.clone().into(),
        };
        s.confined_list(&format!("kubectl get {kind} -A -o json"), &r, false);
        let table = String::from_utf8_lossy(&s.kubectl(&["get", kind, "-A"]).stdout).into_owned();
        s.no_leak(&format!("kubectl get {kind} -A"), &table);
        s.check(
            !table.contains("kube-system") && !table.contains(&format!("{v}--")) && !table.contains(&format!("{a}--")),
            || format!("kubectl get {kind} -A shows a super namespace:\n{table}"),
        );
    }

    // Raw -A lists in every representation.
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
    const PARTIAL: &str = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";
    for (path, accept) in [
        ("/api/v1/secrets", JSON),
        ("/api/v1/secrets?resourceVersion=0", JSON),
        ("/api/v1/secrets", TABLE),
        ("/api/v1/secrets?includeObject=Object", TABLE),
        ("/api/v1/secrets?includeObject=None", TABLE),
        ("/api/v1/configmaps?includeObject=None", TABLE),
        ("/api/v1/secrets", PARTIAL),
        ("/api/v1/events?includeObject=None", TABLE),
    ] {
        let r = s.get_accept(path, accept).await;
        let what = format!("GET {path} as {accept}");
        s.confined_list(&what, &r, true);
        s.check(!r.text().contains("kube-system") && !r.text().contains(&format!("{v}--")), || {
            format!("LEAK: {what} names a foreign namespace: {}", r.excerpt())
        });
    }

    // Pagination, then a forged continue token pointing into kube-system.
    let mut next = String::new();
    let mut rv = String::new();
    for page in 0..20 {
        let path = if next.is_empty() {
            "/api/v1/secrets?limit=1".to_string()
        } else {
            format!("/api/v1/secrets?limit=1&continue={}", enc(&next))
        };
        let r = s.get(&path).await;
        s.confined_list(&format!("GET {path} (page {page})"), &r, false);
        let v = r.json().unwrap_or_default();
        rv = v["metadata"]["resourceVersion"].as_str().unwrap_or(&rv).to_string();
        next = v["metadata"]["continue"].as_str().unwrap_or_default().to_string();
        if next.is_empty() {
            break;
        }
    }
    for start in ["kube-system/", &format!("{vp}/"), "kube-system/\u{0}", "/"] {
        let token =
            b64(&json!({"v": "meta.k8s.io/v1", "rv": rv.parse::<i64>().unwrap_or(1), "start": start}).to_string());
        let path = format!("/api/v1/secrets?limit=500&continue={}", enc(&token));
        let r = s.get(&path).await;
        // A forged token is either refused by the apiserver (400/410) or answered with the attacker's own objects.
        if matches!(r.status, 400 | 410) {
            s.refused(&format!("forged continue {start:?}"), &r, &[400, 410]);
        } else {
            s.confined_list(&format!("forged continue {start:?}"), &r, false);
        }
    }

    // -A watches, while the victim and the super admin create objects.
    let (vkc, vname, aname) = (s.vkc.clone(), v.clone(), a.clone());
    let during = move || {
        let _ = proxy().kubectl(
            &vkc,
            &[
                "create",
                "secret",
                "generic",
                &format!("vsec-{vname}-late"),
                "-n",
                "prod",
                &format!("--from-literal=k=victim-data-{vname}"),
            ],
        );
        let _ = proxy().kubectl(&vkc, &["label", "cm", "x", "-n", "prod", &format!("late=victim-data-{vname}")]);
        let _ = admin(&[
            "create",
            "secret",
            "generic",
            &format!("marker-{aname}-late"),
            "-n",
            "kube-system",
            "--from-literal=k=v",
        ]);
    };
    let watch = {
        let req = s.build(&Method::GET, &s.url("/api/v1/secrets?watch=1&timeoutSeconds=8"), None, &[], Bytes::new());
        let stream = tokio::spawn(send_stream(req, Duration::from_secs(6)));
        tokio::time::sleep(Duration::from_millis(800)).await;
        tokio::task::spawn_blocking(during).await.unwrap();
        stream.await.unwrap()
    };
    s.confined_stream("GET /api/v1/secrets?watch=1 while others write", &watch);
    for path in [
        "/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/secrets?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/watch/secrets?timeoutSeconds=3",
        "/api/v1/events?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/secrets?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=3",
        "/api/v1/namespaces?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=3&fieldSelector=metadata.namespace%3Dkube-system",
    ] {
        let r = s.watch(path, JSON, Duration::from_secs(4)).await;
        s.confined_stream(&format!("GET {path}"), &r);
    }
    for path in [
        "/api/v1/secrets?watch=1&resourceVersion=0&timeoutSeconds=3&includeObject=None",
        "/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=3",
    ] {
        let r = s.watch(path, TABLE, Duration::from_secs(4)).await;
        let what = format!("GET {path} as Table");
        if r.status == 400 {
            s.refused(&what, &r, &[400]);
        } else {
            s.confined_stream(&what, &r);
            s.check(!r.text().contains(&format!("{v}--")), || format!("LEAK: {what}: {}", r.excerpt()));
        }
    }
    let _ = admin(&["delete", "secret", &format!("marker-{a}-late"), "-n", "kube-system", "--ignore-not-found"]);
    let _ = admin(&["delete", "event", &format!("marker-{a}"), "-n", "kube-system", "--ignore-not-found"]);
    // The victim's late writes are the victim's own; re-take the fingerprint of what the attacker must not change.
    s.before = s.fingerprint();
    s.finish();
}

// ------------------------------------------------------------------ 6 + 7. references to other namespaces

/// A super namespace is the attacker's.
fn is_attackers(own: &BTreeSet<String>, a: &str, ns: &str) -> bool {
    own.contains(ns) || ns.starts_with(&format!("{a}--")) || ns.starts_with(&format!("{a}-h-"))
}

/// RoleBinding subjects and pod (anti-)affinity naming other namespaces are
/// translated into the attacker's space (or refused); namespace selectors are
/// confined to the attacker, through create, update and every patch type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_to_other_namespaces_are_confined() {
    let mut s = Scene::new("h6");
    let (a, v) = (s.a.clone(), s.v.clone());
    let vp = s.vns("prod");
    let aprod = format!("{a}--prod");
    const RB: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings";

    // --- RoleBinding subjects
    let subject = |ns: &str| json!({"kind": "ServiceAccount", "name": "default", "namespace": ns});
    let foreign = [vp.clone(), "kube-system".to_string(), s.vns("default"), "default".to_string(), aprod.clone()];
    let rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb-subjects"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": foreign.iter().map(|n| subject(n)).chain([json!({"kind": "ServiceAccount", "name": "namespace-controller", "namespace": "kube-system"})]).collect::<Vec<_>>(),
    });
    let r = s.call(Method::POST, RB, Some(JSON), rb.to_string()).await;
    s.check(r.status == 201 || (400..500).contains(&r.status), || {
        format!("create rb-subjects: {} {}", r.status, r.excerpt())
    });
    let r = s
        .call(Method::PUT, &format!("{RB}/rb-subjects"), Some(JSON), {
            let mut rb = rb.clone();
            rb["subjects"] = json!([subject("kube-system"), subject(&vp)]);
            rb.to_string()
        })
        .await;
    s.check(r.status == 200 || (400..500).contains(&r.status), || {
        format!("update rb-subjects: {} {}", r.status, r.excerpt())
    });
    let clean_rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb-patched"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [subject("prod"), subject("default")],
    })
    .to_string();
    for (ct, body) in [
        (MERGE, json!({"subjects": [subject("kube-system"), subject(&vp)]}).to_string()),
        (STRATEGIC, json!({"subjects": [subject("kube-system")]}).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/subjects/-", "value": subject("kube-system")}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/subjects/0", "value": subject(&vp)}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects", "value": [subject("kube-system")]}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/0/namespace", "value": "kube-system"}]).to_string()),
        // Array indexes Go's strconv.Atoi accepts but a digits-only check does not.
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/+0/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/-0/namespace", "value": "kube-system"}]).to_string()),
        // json-patch (evanphx, v4) also takes negative indexes from the end.
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/-1/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/-2", "value": subject("kube-system")}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/00/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/subjects/+0", "value": subject("kube-system")}]).to_string()),
        (JSON_PATCH, json!([{"op": "copy", "from": "/metadata/name", "path": "/subjects/0/namespace"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/metadata/labels", "value": {"kube-system": "x"}}, {"op": "move", "from": "/metadata/labels", "path": "/subjects/0"}]).to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/subjects/0/name\u0073pace","value":"kube-system"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/subjects/0/namespace","path":"/subjects/0/name","value":"kube-system"}]"#.to_string()),
        (APPLY, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb-patched"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}, "subjects": [subject(&vp)]}).to_string()),
    ] {
        // Each attempt starts from a clean, confined RoleBinding.
        let _ = s.call(Method::DELETE, &format!("{RB}/rb-patched"), None, Bytes::new()).await;
        let r = s.call(Method::POST, RB, Some(JSON), clean_rb.clone()).await;
        assert_eq!(r.status, 201, "resetting rb-patched: {}", r.excerpt());
        let path = if ct == APPLY { format!("{RB}/rb-patched?fieldManager=hostile&force=true") } else { format!("{RB}/rb-patched") };
        let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
        s.no_leak(&format!("PATCH ({ct}) {body}"), &r.text());
        s.check(r.status == 200 || (400..500).contains(&r.status), || format!("PATCH ({ct}) {body}: {} {}", r.status, r.excerpt()));
        let up = admin_get("rolebinding", Some(&aprod), "rb-patched");
        let own = s.own_super();
        let bad: Vec<String> = up.iter().flat_map(|rb| rb["subjects"].as_array().cloned().unwrap_or_default()).filter_map(|sub| sub["namespace"].as_str().map(str::to_string)).filter(|ns| !is_attackers(&own, &a, ns)).collect();
        s.check(bad.is_empty(), || format!("ESCAPE: after PATCH ({ct}) {body} (answer {}), the upstream RoleBinding {aprod}/rb-patched references foreign namespaces {bad:?}", r.status));
    }
    // Body namespace that disagrees with the URL.
    let mut wrong = rb.clone();
    wrong["metadata"] = json!({"name": "rb-wrong-ns", "namespace": "kube-system"});
    let r = s.call(Method::POST, RB, Some(JSON), wrong.to_string()).await;
    s.refused("RoleBinding whose metadata.namespace is kube-system, posted to prod", &r, &[400, 403, 404]);
    // Typed kubectl (protobuf body).
    for (name, sa) in [("rb-typed-ks", "kube-system:default".to_string()), ("rb-typed-v", format!("{vp}:default"))] {
        let out = s.kubectl(&[
            "create",
            "rolebinding",
            name,
            "-n",
            "prod",
            "--clusterrole=view",
            &format!("--serviceaccount={sa}"),
        ]);
        s.check(out.status.success() || !String::from_utf8_lossy(&out.stderr).is_empty(), || {
            format!("kubectl create rolebinding {name}")
        });
    }
    let own = s.own_super();
    let rbs = admin_ok(&["get", "rolebindings", "-n", &aprod, "-o", "json"]);
    let rbs: Value = serde_json::from_str(&rbs).unwrap();
    for rb in rbs["items"].as_array().unwrap() {
        for sub in rb["subjects"].as_array().into_iter().flatten() {
            if let Some(ns) = sub["namespace"].as_str() {
                s.check(is_attackers(&own, &a, ns), || {
                    format!("ESCAPE: upstream RoleBinding {aprod}/{} has a subject in {ns:?}", rb["metadata"]["name"])
                });
            }
        }
    }
    // The tenant still sees its virtual names.
    // The attacker has no `kube-system` of its own, so the reference is blanked in its view.
    let seen = must(
        s.kubectl(&["get", "rolebinding", "rb-typed-ks", "-n", "prod", "-o", "jsonpath={.subjects[0].namespace}"]),
        "attacker get rb",
    );
    s.check(seen == "kube-system" || seen.is_empty(), || {
        format!("the attacker's view of rb-typed-ks must say kube-system or nothing, got {seen:?}")
    });

    // --- Events naming other namespaces' objects
    let ev = json!({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev-ref"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": vp},
        "related": {"kind": "Secret", "name": format!("marker-{a}"), "namespace": "kube-system"},
        "reason": "Hostile", "message": "m", "type": "Normal",
    });
    let r = s.call(Method::POST, "/api/v1/namespaces/prod/events", Some(JSON), ev.to_string()).await;
    s.check(r.status == 201 || (400..500).contains(&r.status), || {
        format!("create event ev-ref: {} {}", r.status, r.excerpt())
    });
    let evk = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "evk-ref"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x.io/x", "reportingInstance": "x", "action": "A", "reason": "R", "type": "Normal",
        "regarding": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"},
    });
    let r = s.call(Method::POST, "/apis/events.k8s.io/v1/namespaces/prod/events", Some(JSON), evk.to_string()).await;
    s.check(r.status == 201 || (400..500).contains(&r.status), || {
        format!("create events.k8s.io event evk-ref: {} {}", r.status, r.excerpt())
    });
    for (ct, body) in [
        (MERGE, json!({"involvedObject": {"namespace": "kube-system"}}).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/involvedObject/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/involvedObject", "value": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"}}]).to_string()),
    ] {
        let r = s.call(Method::PATCH, "/api/v1/namespaces/prod/events/ev-ref", Some(ct), body.clone()).await;
        s.check(r.status == 200 || (400..500).contains(&r.status), || format!("PATCH event ({ct}) {body}: {} {}", r.status, r.excerpt()));
        if let Some(e) = admin_get("event", Some(&aprod), "ev-ref") {
            for field in ["involvedObject", "related"] {
                if let Some(ns) = e[field]["namespace"].as_str() {
                    s.check(ns.is_empty() || is_attackers(&own, &a, ns), || format!("ESCAPE: after PATCH ({ct}) {body}, upstream event {aprod}/ev-ref has {field}.namespace {ns:?}"));
                }
            }
        }
    }
    if let Some(e) = admin_get("event.events.k8s.io", Some(&aprod), "evk-ref") {
        let ns = e["regarding"]["namespace"].as_str().unwrap_or_default().to_string();
        s.check(ns.is_empty() || is_attackers(&own, &a, &ns), || {
            format!("ESCAPE: upstream events.k8s.io event {aprod}/evk-ref regards namespace {ns:?}")
        });
    }

    // --- pod (anti-)affinity
    let term = |ns: Value, sel: Value| {
        let mut t = json!({"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"});
        if !ns.is_null() {
            t["namespaces"] = ns;
        }
        if !sel.is_null() {
            t["namespaceSelector"] = sel;
        }
        t
    };
    let affinity = json!({
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(json!(["kube-system", vp]), json!({}))],
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term(Value::Null, json!({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}))}],
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system", vp]}]}))],
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term(json!(["default"]), Value::Null)}],
        },
    });
    let pod_spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], "affinity": affinity});
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "aff"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "aff"}}, "template": {"metadata": {"labels": {"app": "aff"}}, "spec": pod_spec}},
    });
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), deploy.to_string()).await;
    s.check(r.status == 201, || format!("create deployment aff: {} {}", r.status, r.excerpt()));
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "aff-pod"}, "spec": pod_spec});
    let r = s.call(Method::POST, "/api/v1/namespaces/prod/pods", Some(JSON), pod.to_string()).await;
    s.check(r.status == 201, || format!("create pod aff-pod: {} {}", r.status, r.excerpt()));

    /// Every affinity term under `spec` is confined: namespaces mapped into the
    /// attacker's space, selectors carrying `vcproxy.io/tenant In (<a>)`.
    fn affinity_problems(spec: &Value, a: &str, own: &BTreeSet<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let aff = &spec["affinity"];
        for kind in ["podAffinity", "podAntiAffinity"] {
            let req =
                aff[kind]["requiredDuringSchedulingIgnoredDuringExecution"].as_array().cloned().unwrap_or_default();
            let pref =
                aff[kind]["preferredDuringSchedulingIgnoredDuringExecution"].as_array().cloned().unwrap_or_default();
            let terms = req.into_iter().chain(pref.into_iter().map(|p| p["podAffinityTerm"].clone()));
            for (i, t) in terms.enumerate() {
                for ns in t["namespaces"].as_array().into_iter().flatten() {
                    let ns = ns.as_str().unwrap_or_default();
                    if !is_attackers(own, a, ns) {
                        problems.push(format!("{kind} term {i}: namespaces contains {ns:?}"));
                    }
                }
                let sel = &t["namespaceSelector"];
                if !sel.is_null() {
                    let confined =
                        sel["matchExpressions"].as_array().into_iter().flatten().any(|e| {
                            e["key"] == "vcproxy.io/tenant" && e["operator"] == "In" && e["values"] == json!([a])
                        });
                    if !confined {
                        problems.push(format!("{kind} term {i}: namespaceSelector {sel} is not confined to {a}"));
                    }
                }
            }
        }
        problems
    }
    let own = s.own_super();
    let check_deploy = |s: &mut Scene, after: &str| {
        let Some(d) = admin_get("deployment", Some(&aprod), "aff") else {
            return s.check(false, || format!("{after}: the upstream deployment is gone"));
        };
        let problems = affinity_problems(&d["spec"]["template"]["spec"], &a, &own);
        s.check(problems.is_empty(), || {
            format!("ESCAPE: after {after}, the upstream deployment {aprod}/aff reaches out: {problems:?}")
        });
    };
    check_deploy(&mut s, "create");
    // ReplicaSets the controller makes from the template are confined too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = admin_ok(&["get", "replicasets", "-n", &aprod, "-o", "json"]);
    let rss: Value = serde_json::from_str(&rss).unwrap();
    s.check(!rss["items"].as_array().unwrap().is_empty(), || "no ReplicaSet for deployment aff".into());
    for rs in rss["items"].as_array().unwrap() {
        let problems = affinity_problems(&rs["spec"]["template"]["spec"], &a, &own);
        s.check(problems.is_empty(), || {
            format!("ESCAPE: upstream ReplicaSet {aprod}/{} reaches out: {problems:?}", rs["metadata"]["name"])
        });
    }
    if let Some(p) = admin_get("pod", Some(&aprod), "aff-pod") {
        let problems = affinity_problems(&p["spec"], &a, &own);
        s.check(problems.is_empty(), || format!("ESCAPE: the upstream pod {aprod}/aff-pod reaches out: {problems:?}"));
    }
    // The tenant sees its own words back.
    let seen = must(s.kubectl(&["get", "deploy", "aff", "-n", "prod", "-o", "json"]), "attacker get deploy");
    let seen: Value = serde_json::from_str(&seen).unwrap();
    let t0 = &seen["spec"]["template"]["spec"]["affinity"]["podAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"][0];
    // References to namespaces the attacker does not own come back blank.
    let names_ok = t0["namespaces"] == json!(["kube-system", vp]) || t0["namespaces"] == json!(["", ""]);
    s.check(names_ok && t0["namespaceSelector"] == json!({}), || {
        format!("the attacker's view of its affinity term changed: {t0}")
    });
    s.no_leak("attacker's view of deployment aff", &seen.to_string());

    let dpath = "/apis/apps/v1/namespaces/prod/deployments/aff";
    let base = "/spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution";
    let tpl = |aff: Value| json!({"spec": {"template": {"spec": {"affinity": aff}}}});
    let open_term = term(Value::Null, json!({}));
    for (ct, body) in [
        (MERGE, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}})).to_string()),
        (MERGE, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": null}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"$patch": "replace"}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"$retainKeys": ["matchLabels"], "matchLabels": {}}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": [{"$patch": "replace"}]}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"$patch": "replace", "requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}})).to_string()),
        (APPLY, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "aff"}, "spec": {"selector": {"matchLabels": {"app": "aff"}}, "template": {"metadata": {"labels": {"app": "aff"}}, "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}}}}}}).to_string()),
        (JSON_PATCH, json!([{"op": "remove", "path": format!("{base}/0/namespaceSelector/matchExpressions")}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/0/namespaceSelector/matchExpressions"), "value": []}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/0/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/+0/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "remove", "path": format!("{base}/+0/namespaceSelector/matchExpressions")}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/-0/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/-1/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/-1"), "value": term(json!(["kube-system"]), json!({}))}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/+0/namespaces"), "value": ["kube-system"]}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/+0/namespaces/-"), "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/0/namespaces/-"), "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/-"), "value": open_term.clone()}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/spec/template/spec/affinity", "value": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/spec", "value": deploy["spec"].clone()}]).to_string()),
        (JSON_PATCH, json!([{"op": "copy", "from": format!("{base}/0/labelSelector"), "path": format!("{base}/0/namespaceSelector")}]).to_string()),
        (JSON_PATCH, json!([{"op": "move", "from": format!("{base}/0/labelSelector"), "path": format!("{base}/0/namespaceSelector")}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/spec/template/metadata/annotations", "value": {"x": "y"}}, {"op": "copy", "from": "/spec/template/metadata/annotations", "path": format!("{base}/0/namespaceSelector/matchLabels")}, {"op": "remove", "path": format!("{base}/0/namespaceSelector/matchExpressions")}]).to_string()),
    ] {
        // Each attempt starts from the clean, confined deployment.
        let _ = s.call(Method::DELETE, dpath, None, Bytes::new()).await;
        let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), deploy.to_string()).await;
        assert_eq!(r.status, 201, "resetting deployment aff: {}", r.excerpt());
        let r = s.call(Method::PATCH, &if ct == APPLY { format!("{dpath}?fieldManager=hostile&force=true") } else { dpath.to_string() }, Some(ct), body.clone()).await;
        s.check(r.status == 200 || (400..500).contains(&r.status), || format!("PATCH ({ct}) {body}: {} {}", r.status, r.excerpt()));
        check_deploy(&mut s, &format!("PATCH ({ct}) {body} (answered {})", r.status));
    }
    // A full update with an open selector.
    if let Some(cur) = s.get(dpath).await.json() {
        let mut upd = cur.clone();
        upd["spec"]["template"]["spec"]["affinity"] = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!(["kube-system"]), json!({}))]}});
        let r = s.call(Method::PUT, dpath, Some(JSON), upd.to_string()).await;
        s.check(r.status == 200 || (400..500).contains(&r.status), || {
            format!("PUT deployment with open affinity: {} {}", r.status, r.excerpt())
        });
        check_deploy(&mut s, "PUT with namespaces [kube-system] and namespaceSelector {}");
    }
    // Reserved keys inside a namespace selector are refused.
    let mut forged = deploy.clone();
    forged["metadata"]["name"] = json!(format!("probe-{a}-aff"));
    forged["spec"]["template"]["spec"]["affinity"] = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": [{"key": "vcproxy.io/tenant", "operator": "In", "values": [v]}]}))]}});
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), forged.to_string()).await;
    s.refused("namespaceSelector on vcproxy.io/tenant In (<victim>)", &r, &[400, 403, 422]);
    s.finish();
}

// ------------------------------------------------------------------ 8. forged vcproxy.io/* and Pod Security labels

/// The attacker's super namespace keeps exactly vcproxy's labels and annotations.
fn ownership_intact(a: &str, virtual_ns: &str) -> Result<(), String> {
    let ns = admin_get("namespace", None, &format!("{a}--{virtual_ns}")).ok_or("the super namespace is gone")?;
    let labels = ns["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    let annotations = ns["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    let want = [
        ("vcproxy.io/tenant", a),
        ("vcproxy.io/virtual-name", virtual_ns),
        ("pod-security.kubernetes.io/enforce", "baseline"),
    ];
    for (k, v) in want {
        if labels.get(k).and_then(Value::as_str) != Some(v) {
            return Err(format!("label {k} is {:?}, want {v:?}; labels {labels:?}", labels.get(k)));
        }
    }
    for (k, v) in [("vcproxy.io/tenant", a), ("vcproxy.io/virtual-name", virtual_ns)] {
        if annotations.get(k).and_then(Value::as_str) != Some(v) {
            return Err(format!("annotation {k} is {:?}, want {v:?}; annotations {annotations:?}", annotations.get(k)));
        }
    }
    let extra: Vec<&String> = labels
        .keys()
        .chain(annotations.keys())
        .filter(|k| k.starts_with("vcproxy.io/"))
        .filter(|k| !matches!(k.as_str(), "vcproxy.io/tenant" | "vcproxy.io/virtual-name"))
        .collect();
    let ps: Vec<&String> = labels.keys().filter(|k| k.starts_with("pod-security.kubernetes.io/")).collect();
    if !extra.is_empty() || ps.len() != 2 {
        return Err(format!("unexpected reserved keys: vcproxy.io {extra:?}, pod-security {ps:?}"));
    }
    Ok(())
}

/// Puts vcproxy's labels and annotations back on the attacker's super namespace
/// (as the super admin), so each attempt starts from a clean namespace.
fn restore_ownership(a: &str, virtual_ns: &str) {
    let name = format!("{a}--{virtual_ns}");
    let Some(ns) = admin_get("namespace", None, &name) else { return };
    let mut labels = serde_json::Map::new();
    let mut annotations = serde_json::Map::new();
    for (field, out) in [("labels", &mut labels), ("annotations", &mut annotations)] {
        for k in ns["metadata"][field].as_object().cloned().unwrap_or_default().keys() {
            if k.starts_with("vcproxy.io/") || (field == "labels" && k.starts_with("pod-security.kubernetes.io/")) {
                out.insert(k.clone(), Value::Null);
            }
        }
        out.insert("vcproxy.io/tenant".into(), json!(a));
        out.insert("vcproxy.io/virtual-name".into(), json!(virtual_ns));
    }
    labels.insert("pod-security.kubernetes.io/enforce".into(), json!("baseline"));
    labels.insert("pod-security.kubernetes.io/enforce-version".into(), json!("latest"));
    let patch = json!({"metadata": {"labels": labels, "annotations": annotations}}).to_string();
    admin_ok(&["patch", "ns", &name, "--type=merge", "-p", &patch]);
}

/// Forged `vcproxy.io/*` labels and annotations, and Pod Security overrides, on
/// namespaces and on objects, through every way of writing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_reserved_labels_are_refused() {
    let mut s = Scene::new("h8");
    let (a, v) = (s.a.clone(), s.v.clone());
    let probe = format!("probe-{a}");

    // --- namespace create
    let ns_with = |name: &str, labels: Value, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels, "annotations": annotations}}).to_string()
    };
    for (i, body) in [
        ns_with("forged", json!({"vcproxy.io/tenant": v}), json!({})),
        ns_with("forged", json!({"vcproxy.io/virtual-name": "prod"}), json!({})),
        ns_with("forged", json!({}), json!({"vcproxy.io/tenant": v})),
        ns_with("forged", json!({}), json!({"vcproxy.io/anything": "x"})),
        ns_with("forged", json!({"pod-security.kubernetes.io/enforce": "privileged"}), json!({})),
        ns_with("forged", json!({"pod-security.kubernetes.io/warn": "privileged"}), json!({})),
        ns_with("forged", json!({"pod-security.kubernetes.io/enforce-version": "v1.0"}), json!({})),
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"forged","labels":{"vcproxy\u002eio/tenant":"VICTIM"}}}"#.replace("VICTIM", &v),
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"forged","labels":{"pod-security\u002ekubernetes.io/enforce":"privileged"}}}"#.to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        let r = s.call(Method::POST, "/api/v1/namespaces", Some(JSON), body.clone()).await;
        s.refused(&format!("create namespace #{i} {body}"), &r, &[403]);
    }
    // Upper case is not a valid label prefix for the apiserver (422) — but it must not pass as someone's.
    let r = s
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some(JSON),
            ns_with("forged-uc", json!({"VCPROXY.IO/tenant": v}), json!({})),
        )
        .await;
    s.refused("create namespace with VCPROXY.IO/tenant", &r, &[400, 403, 422]);
    let gone = admin_get("namespace", None, &format!("{a}--forged")).is_none()
        && admin_get("namespace", None, &format!("{v}--forged")).is_none();
    s.check(gone, || "a refused namespace create left a super namespace behind".into());
    // Duplicate keys: whichever one a parser takes, the result must be vcproxy's labels.
    let r = s.call(Method::POST, "/api/v1/namespaces", Some(JSON), format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"dupkeys","labels":{{"vcproxy.io/tenant":"{v}"}},"labels":{{"team":"a"}}}}}}"#)).await;
    if r.status == 201 {
        let res = ownership_intact(&a, "dupkeys");
        s.check(res.is_ok(), || {
            format!("ESCAPE: duplicate-keys namespace create was accepted with forged ownership: {res:?}")
        });
    } else {
        s.refused("namespace create with duplicate labels keys", &r, &[400, 403, 422]);
    }

    // --- namespace label / annotate / patch / update
    for args in [
        vec!["label", "ns", "prod", &format!("vcproxy.io/tenant={v}"), "--overwrite"],
        vec!["label", "ns", "prod", "vcproxy.io/extra=x"],
        vec!["label", "ns", "prod", "vcproxy.io/virtual-name=default", "--overwrite"],
        vec!["annotate", "ns", "prod", "vcproxy.io/virtual-name=x", "--overwrite"],
        vec!["annotate", "ns", "prod", "vcproxy.io/extra=x"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/enforce=privileged", "--overwrite"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/warn=privileged"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/enforce-"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/enforce-version=v1.0", "--overwrite"],
    ] {
        s.kubectl_refused(&args);
        let res = ownership_intact(&a, "prod");
        s.check(res.is_ok(), || {
            format!(
                "after kubectl {}, the attacker's super namespace is not as vcproxy made it: {res:?}",
                args.join(" ")
            )
        });
        restore_ownership(&a, "prod");
    }
    // Removing a key the tenant cannot see is a no-op for kubectl (it may print
    // "not found" or "annotated" and exit 0); what counts is that nothing changed.
    for args in [
        vec!["label", "ns", "prod", "vcproxy.io/tenant-"],
        vec!["annotate", "ns", "prod", "vcproxy.io/tenant-"],
        vec!["annotate", "ns", "prod", "vcproxy.io/virtual-name-"],
    ] {
        let _ = s.kubectl(&args);
        let res = ownership_intact(&a, "prod");
        s.check(res.is_ok(), || {
            format!(
                "after kubectl {}, the attacker's super namespace is not as vcproxy made it: {res:?}",
                args.join(" ")
            )
        });
        restore_ownership(&a, "prod");
    }
    let nsp = "/api/v1/namespaces/prod";
    for (ct, body) in [
        (MERGE, r#"{"metadata":{"labels":null}}"#.to_string()),
        (MERGE, r#"{"metadata":{"annotations":null}}"#.to_string()),
        (MERGE, format!(r#"{{"metadata":{{"labels":{{"vcproxy.io/tenant":"{v}"}}}}}}"#)),
        (MERGE, format!(r#"{{"metadata":{{"labels":{{"vcproxy\u002eio/tenant":"{v}"}}}}}}"#)),
        (MERGE, r#"{"metadata":{"labels":{"vcproxy\u002eio/extra":"x"}}}"#.to_string()),
        (MERGE, format!(r#"{{"metadata":{{"annotations":{{"vcproxy\u002eio/tenant":"{v}"}}}}}}"#)),
        (MERGE, r#"{"metadata":{"annotations":{"vcproxy\u002eio/tenant":null}}}"#.to_string()),
        (MERGE, r#"{"metadata":{"labels":{"pod-security\u002ekubernetes.io/enforce":"privileged"}}}"#.to_string()),
        (MERGE, r#"{"metadata":{"labels":{"pod-security\u002ekubernetes.io/warn":"privileged"}}}"#.to_string()),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/labels"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/annotations"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata/labels","value":{"team":"a"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata","value":{"name":"PROD"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata/name","value":"kube-system"}]"#.to_string()),
        (JSON_PATCH, format!(r#"[{{"op":"add","path":"/metadata/labels/vcproxy.io~1tenant","value":"{v}"}}]"#)),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/vcproxy.io~1extra","value":"x"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/labels/vcproxy.io~1tenant"}]"#.to_string()),
        (JSON_PATCH, format!(r#"[{{"op":"add","path":"/metadata/annotations/vcproxy.io~1tenant","value":"{v}"}}]"#)),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/annotations/vcproxy.io~1virtual-name"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/annotations/vcproxy.io~1extra","value":"x"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/pod-security.kubernetes.io~1enforce","value":"privileged"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/pod-security.kubernetes.io~1warn","value":"privileged"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"move","from":"/metadata/labels/vcproxy.io~1tenant","path":"/metadata/labels/x"}]"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"labels":{"$patch":"replace","team":"a"}}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"$patch":"replace","name":"prod"}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"annotations":{"$patch":"replace","team":"a"}}}"#.to_string()),
        (STRATEGIC, r#"{"$patch":"replace","metadata":{"name":"prod"}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"$retainKeys":["name"]}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"\u0024patch":"replace","name":"prod"}}"#.to_string()),
        (APPLY, format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"prod","labels":{{"vcproxy.io/tenant":"{v}"}}}}}}"#)),
        (APPLY, r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod","labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}"#.to_string()),
        (APPLY, format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  annotations:\n    \"vcproxy\\x2Eio/tenant\": {v}\n")),
    ] {
        let path = if ct == APPLY { format!("{nsp}?fieldManager=hostile&force=true") } else { nsp.to_string() };
        let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
        s.refused(&format!("PATCH namespace prod ({ct}) {body}"), &r, &[400, 403, 422]);
        let res = ownership_intact(&a, "prod");
        s.check(res.is_ok(), || format!("after PATCH namespace prod ({ct}) {body} (answered {}), the super namespace is not as vcproxy made it: {res:?}", r.status));
        restore_ownership(&a, "prod");
    }
    for (labels, annotations) in [
        (json!({"vcproxy.io/tenant": v}), json!({})),
        (json!({"pod-security.kubernetes.io/enforce": "privileged"}), json!({})),
        (json!({}), json!({"vcproxy.io/tenant": v})),
    ] {
        let body = ns_with("prod", labels, annotations);
        let r = s.call(Method::PUT, nsp, Some(JSON), body.clone()).await;
        s.refused(&format!("PUT namespace prod {body}"), &r, &[403]);
        restore_ownership(&a, "prod");
    }
    // A plain update without any labels keeps vcproxy's.
    let r = s.call(Method::PUT, nsp, Some(JSON), ns_with("prod", json!({"team": "a"}), json!({}))).await;
    s.check(r.status == 200 || r.status == 409, || {
        format!("PUT namespace prod with only its own label: {} {}", r.status, r.excerpt())
    });
    let res = ownership_intact(&a, "prod");
    s.check(res.is_ok(), || format!("after a plain PUT of namespace prod: {res:?}"));
    for sub in ["status", "finalize"] {
        let r = s.call(Method::PUT, &format!("{nsp}/{sub}"), Some(JSON), ns_with("prod", json!({}), json!({}))).await;
        s.refused(&format!("PUT namespaces/prod/{sub}"), &r, &[403, 404, 405]);
    }
    // Nothing vcproxy manages is shown to the tenant.
    let seen = must(s.kubectl(&["get", "ns", "prod", "-o", "json"]), "attacker get ns prod");
    s.check(!seen.contains("vcproxy.io"), || format!("the attacker sees vcproxy.io keys: {seen}"));

    // --- objects
    let cm_with = |name: &str, labels: Value, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels, "annotations": annotations}}).to_string()
    };
    let cms = "/api/v1/namespaces/prod/configmaps";
    for body in [
        cm_with(&probe, json!({"vcproxy.io/tenant": v}), json!({})),
        cm_with(&probe, json!({}), json!({"vcproxy.io/virtual-name": "x"})),
        cm_with(&probe, json!({"VCPROXY.IO/tenant": v}), json!({})),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"PROBE","labels":{"vcproxy\u002eio/tenant":"x"}}}"#
            .replace("PROBE", &probe),
    ] {
        let r = s.call(Method::POST, cms, Some(JSON), body.clone()).await;
        s.refused(&format!("create configmap {body}"), &r, &[400, 403, 422]);
    }
    let mut dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": probe}, "spec": {"selector": {"matchLabels": {"app": "p"}}, "template": {"metadata": {"labels": {"app": "p", "vcproxy.io/tenant": v}}, "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}});
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), dep.to_string()).await;
    s.refused("deployment whose pod template has vcproxy.io/tenant", &r, &[400, 403, 422]);
    dep["spec"]["template"]["metadata"]["labels"] = json!({"app": "p"});
    dep["spec"]["template"]["metadata"]["annotations"] = json!({"vcproxy.io/tenant": v});
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), dep.to_string()).await;
    s.refused("deployment whose pod template has annotation vcproxy.io/tenant", &r, &[400, 403, 422]);
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    for args in [
        vec!["label", "cm", "mine", "-n", "prod", &format!("vcproxy.io/tenant={v}")],
        vec!["annotate", "cm", "mine", "-n", "prod", "vcproxy.io/virtual-name=x"],
    ] {
        s.kubectl_refused(&args);
    }
    let cmp = "/api/v1/namespaces/prod/configmaps/mine";
    for (ct, body) in [
        (MERGE, format!(r#"{{"metadata":{{"labels":{{"vcproxy.io/tenant":"{v}"}}}}}}"#)),
        (MERGE, r#"{"metadata":{"annotations":{"vcproxy\u002eio/x":"y"}}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"labels":{"$patch":"replace","vcproxy.io/tenant":"x"}}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"labels":{"vcproxy\u002eio/tenant":"x"}}}"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels","value":{"vcproxy.io/tenant":"x"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/vcproxy.io~1tenant","value":"x"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/annotations","value":{"vcproxy.io/x":"y"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata","value":{"name":"mine","labels":{"vcproxy.io/tenant":"x"}}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}},{"op":"move","from":"/metadata/labels/a","path":"/metadata/labels/vcproxy.io~1tenant"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}},{"op":"copy","from":"/metadata/labels/a","path":"/metadata/labels/vcproxy.io~1tenant"}]"#.to_string()),
        (APPLY, r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"mine","labels":{"vcproxy.io/tenant":"x"}}}"#.to_string()),
        (APPLY, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\n  labels:\n    \"vcproxy\\x2Eio/tenant\": x\n".to_string()),
    ] {
        let path = if ct == APPLY { format!("{cmp}?fieldManager=hostile&force=true") } else { cmp.to_string() };
        let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
        s.refused(&format!("PATCH configmap ({ct}) {body}"), &r, &[400, 403, 422]);
    }
    let r = s.call(Method::PUT, cmp, Some(JSON), cm_with("mine", json!({"vcproxy.io/tenant": v}), json!({}))).await;
    s.refused("PUT configmap with vcproxy.io/tenant", &r, &[400, 403, 422]);
    let up = admin_ok(&["get", "cm,deployments", "-n", &format!("{a}--prod"), "-o", "json"]);
    let upv: Value = serde_json::from_str(&up).unwrap();
    for item in upv["items"].as_array().unwrap() {
        let meta = &item["metadata"];
        let keys: Vec<String> = ["labels", "annotations"]
            .iter()
            .flat_map(|k| meta[*k].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default())
            .filter(|k| k.to_ascii_lowercase().starts_with("vcproxy.io/"))
            .collect();
        s.check(keys.is_empty(), || {
            format!("the attacker's upstream {}/{} carries reserved keys {keys:?}", item["kind"], meta["name"])
        });
    }
    let res = ownership_intact(&a, "prod");
    s.check(res.is_ok(), || format!("at the end: {res:?}"));
    s.finish();
}

// ------------------------------------------------------------------ 9 + 10. impersonation, cluster scope

/// Forged impersonation headers on namespaced requests, and writes to
/// cluster-scoped resources: 403; reads of the read-only kinds work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_and_cluster_scoped_writes_are_refused() {
    let mut s = Scene::new("h9");
    let (a, v) = (s.a.clone(), s.v.clone());
    let vp = s.vns("prod");
    let probe = format!("probe-{a}");
    // A node and a storage class for the read-only kinds.
    admin_apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {probe}-node, labels: {{owner: test}}}}\n---\n\
         apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: {probe}-sc}}\nprovisioner: example.com/none\n"
    ));
    let node_before = admin_get("node", None, &format!("{probe}-node")).map(|n| n["metadata"]["labels"].clone());
    let sc_before =
        admin_get("storageclass", None, &format!("{probe}-sc")).map(|n| n["metadata"]["resourceVersion"].clone());

    // --- 9. impersonation
    let victim_user = format!("vcproxy:{v}:admin");
    let victim_group = format!("vcproxy:tenant:{v}");
    let forged: Vec<Vec<(&str, &str)>> = vec![
        vec![("impersonate-user", "system:admin"), ("impersonate-group", "system:masters")],
        vec![("impersonate-user", "system:serviceaccount:kube-system:namespace-controller")],
        vec![("impersonate-user", victim_user.as_str()), ("impersonate-group", victim_group.as_str())],
        vec![("x-remote-user", "system:admin"), ("x-remote-group", "system:masters")],
        vec![
            ("impersonate-user", "system:admin"),
            ("impersonate-group", "system:masters"),
            ("impersonate-uid", "0"),
            ("impersonate-extra-scopes", "all"),
        ],
    ];
    for headers in &forged {
        for alpn in [H2, H1] {
            let proto = if alpn == H2 { "h2" } else { "http/1.1" };
            for path in [
                "/api/v1/namespaces/kube-system/secrets".to_string(),
                format!("/api/v1/namespaces/kube-system/secrets/marker-{a}"),
                format!("/api/v1/namespaces/{vp}/configmaps/x"),
            ] {
                let r = s.call_with(alpn, Method::GET, &path, None, &headers, Bytes::new()).await;
                s.refused(&format!("{proto} GET {path} with {headers:?}"), &r, &[403, 404]);
            }
            let r = s.call_with(alpn, Method::GET, "/api/v1/secrets", None, &headers, Bytes::new()).await;
            s.confined_list(&format!("{proto} GET /api/v1/secrets with {headers:?}"), &r, false);
            let r =
                s.call_with(alpn, Method::GET, "/api/v1/namespaces/prod/secrets", None, &headers, Bytes::new()).await;
            s.confined_list(&format!("{proto} GET prod/secrets with {headers:?}"), &r, false);
            // Binding cluster-admin needs rights the tenant does not have; only a
            // forged identity could do it.
            let rb = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": format!("{probe}-escalate")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("vcproxy:tenant:{a}")}],
            });
            let r = s
                .call_with(
                    alpn,
                    Method::POST,
                    "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings",
                    Some(JSON),
                    &headers,
                    rb.to_string(),
                )
                .await;
            s.refused(&format!("{proto} bind cluster-admin in prod with {headers:?}"), &r, &[403]);
            let made = admin_get("rolebinding", Some(&format!("{a}--prod")), &format!("{probe}-escalate"));
            s.check(made.is_none(), || {
                format!("ESCAPE: forged headers {headers:?} let the tenant bind cluster-admin: {made:?}")
            });
            // Who does the apiserver think we are?
            let r = s
                .call_with(
                    alpn,
                    Method::POST,
                    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    Some(JSON),
                    &headers,
                    r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
                )
                .await;
            let user = r.json().map(|v| v["status"]["userInfo"].clone()).unwrap_or_default();
            s.check(
                user["username"] == format!("vcproxy:{a}:admin")
                    && !user["groups"].to_string().contains("system:masters"),
                || format!("{proto} whoami with {headers:?}: {user}"),
            );
        }
    }
    for args in [
        vec!["--as=system:admin", "--as-group=system:masters", "get", "secrets", "-n", "kube-system"],
        vec!["--as=system:admin", "--as-group=system:masters", "get", "cm", "x", "-n", vp.as_str()],
        vec![
            "--as=system:admin",
            "--as-group=system:masters",
            "create",
            "clusterrolebinding",
            probe.as_str(),
            "--clusterrole=cluster-admin",
            &format!("--group=vcproxy:tenant:{a}"),
        ],
        vec!["--as=system:admin", "--as-group=system:masters", "delete", "ns", "kube-system", "--wait=false"],
    ] {
        s.kubectl_refused(&args);
    }

    // --- 10. cluster-scoped writes
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": probe}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("vcproxy:tenant:{a}")}]}).to_string();
    let cr = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": probe, "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}).to_string();
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": probe}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/"}, "claimRef": {"namespace": "prod", "name": "steal"}}}).to_string();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("{probe}-node2")}}).to_string();
    let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": format!("{probe}-sc2")}, "provisioner": "example.com/none"}).to_string();
    let pc = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": probe}, "value": 1000000000}).to_string();
    let webhook = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": {"name": probe}, "webhooks": []}).to_string();
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": probe}, "spec": {"request": "", "signerName": "kubernetes.io/kube-apiserver-client"}}).to_string();
    let node_name = format!("{probe}-node");
    let sc_name = format!("{probe}-sc");
    let writes: Vec<(Method, String, Option<&str>, String)> = vec![
        (Method::POST, format!("{rbac}/clusterroles"), Some(JSON), cr.clone()),
        (Method::PUT, format!("{rbac}/clusterroles/admin"), Some(JSON), cr.replace(&probe, "admin")),
        (Method::PATCH, format!("{rbac}/clusterroles/view"), Some(MERGE), r#"{"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}"#.into()),
        (Method::DELETE, format!("{rbac}/clusterroles/view"), None, String::new()),
        (Method::DELETE, format!("{rbac}/clusterroles"), None, String::new()),
        (Method::POST, format!("{rbac}/clusterrolebindings"), Some(JSON), crb.clone()),
        (Method::DELETE, format!("{rbac}/clusterrolebindings/cluster-admin"), None, String::new()),
        (Method::PATCH, format!("{rbac}/clusterrolebindings/cluster-admin"), Some(MERGE), format!(r#"{{"subjects":[{{"kind":"Group","name":"vcproxy:tenant:{a}"}}]}}"#)),
        (Method::POST, "/api/v1/persistentvolumes".into(), Some(JSON), pv.clone()),
        (Method::DELETE, format!("/api/v1/persistentvolumes/{probe}"), None, String::new()),
        (Method::POST, "/api/v1/nodes".into(), Some(JSON), node.clone()),
        (Method::DELETE, format!("/api/v1/nodes/{node_name}"), None, String::new()),
        (Method::DELETE, "/api/v1/nodes".into(), None, String::new()),
        (Method::PATCH, format!("/api/v1/nodes/{node_name}"), Some(MERGE), r#"{"metadata":{"labels":{"owned":"yes"}},"spec":{"unschedulable":true}}"#.into()),
        (Method::PUT, format!("/api/v1/nodes/{node_name}"), Some(JSON), json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "labels": {"owned": "yes"}}}).to_string()),
        (Method::PATCH, format!("/api/v1/nodes/{node_name}/status"), Some(MERGE), r#"{"status":{"capacity":{"pods":"0"}}}"#.into()),
        (Method::GET, format!("/api/v1/nodes/{node_name}/proxy/configz"), None, String::new()),
        (Method::GET, format!("/api/v1/nodes/{node_name}:10250/proxy/pods"), None, String::new()),
        (Method::POST, "/apis/storage.k8s.io/v1/storageclasses".into(), Some(JSON), sc.clone()),
        (Method::DELETE, format!("/apis/storage.k8s.io/v1/storageclasses/{sc_name}"), None, String::new()),
        (Method::PATCH, format!("/apis/storage.k8s.io/v1/storageclasses/{sc_name}"), Some(MERGE), r#"{"metadata":{"labels":{"owned":"yes"}}}"#.into()),
        (Method::POST, "/apis/scheduling.k8s.io/v1/priorityclasses".into(), Some(JSON), pc.clone()),
        (Method::DELETE, "/apis/scheduling.k8s.io/v1/priorityclasses/system-cluster-critical".into(), None, String::new()),
        (Method::POST, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations".into(), Some(JSON), webhook.clone()),
        (Method::POST, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations".into(), Some(JSON), webhook.replace("Mutating", "Validating")),
        // CRDs are tenant-owned (served by vcproxy from the tenant's etcd prefix,
        // never reaching the super apiserver); see crds.rs.
        (Method::POST, "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(), Some(JSON), csr.clone()),
        (Method::POST, "/apis/authentication.k8s.io/v1/tokenreviews".into(), Some(JSON), r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"x"}}"#.into()),
        (Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews".into(), Some(JSON), r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"system:admin","resourceAttributes":{"namespace":"kube-system","verb":"get","resource":"secrets"}}}"#.into()),
        (Method::POST, "/api/v1/configmaps".into(), Some(JSON), cm_body(&probe, Some("kube-system"))),
        (Method::DELETE, "/api/v1/configmaps".into(), None, String::new()),
        (Method::DELETE, "/api/v1/secrets".into(), None, String::new()),
        (Method::DELETE, "/apis/apps/v1/deployments".into(), None, String::new()),
        (Method::PATCH, "/api/v1/configmaps".into(), Some(MERGE), "{}".into()),
        (Method::GET, format!("{rbac}/clusterroles"), None, String::new()),
        (Method::GET, format!("{rbac}/clusterrolebindings"), None, String::new()),
        (Method::GET, "/api/v1/persistentvolumes".into(), None, String::new()),
        (Method::GET, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations".into(), None, String::new()),
        (Method::GET, "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(), None, String::new()),
    ];
    for (m, path, ct, body) in writes {
        let r = s.call(m.clone(), &path, ct, body).await;
        s.refused(&format!("{m} {path}"), &r, &[403]);
    }
    // deletecollection of namespaces: the namespaces handler answers 405 MethodNotAllowed, a refusal as good as 403.
    let r = s.call(Method::DELETE, "/api/v1/namespaces", None, Bytes::new()).await;
    s.refused("DELETE /api/v1/namespaces (deletecollection)", &r, &[403, 405]);

    for args in [
        vec![
            "create",
            "clusterrolebinding",
            probe.as_str(),
            "--clusterrole=cluster-admin",
            &format!("--group=vcproxy:tenant:{a}"),
        ],
        vec![
            "create",
            "clusterrolebinding",
            probe.as_str(),
            "--clusterrole=cluster-admin",
            "--group=system:authenticated",
        ],
        vec!["create", "clusterrole", probe.as_str(), "--verb=*", "--resource=*"],
        vec!["delete", "clusterrole", "view"],
        vec!["label", "node", node_name.as_str(), "owned=yes"],
        vec!["cordon", node_name.as_str()],
        vec!["delete", "node", node_name.as_str()],
        vec!["delete", "storageclass", sc_name.as_str()],
        vec!["create", "priorityclass", probe.as_str(), "--value=1000"],
    ] {
        // -v=6 logs each response's status: the refusal must be a 403.
        let mut verbose = vec!["-v=6"];
        verbose.extend(args.iter().copied());
        let out = s.kubectl(&verbose);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // (Discovery and the GET before a patch may succeed; no write may.)
        let wrote = err.lines().any(|l| !l.contains("verb=\"GET\"") && l.contains("status=\"2"));
        let forbidden = err.contains("403 Forbidden") && !wrote;
        let relevant: Vec<&str> =
            err.lines().filter(|l| l.contains("Response") || l.contains("status=") || l.starts_with("error")).collect();
        // (`kubectl cordon` prints the 403 but exits 0, so the logged status decides.)
        s.check(forbidden, || {
            format!("kubectl {} must be answered 403 Forbidden:\n{}", args.join(" "), relevant.join("\n"))
        });
    }
    // Reads of the read-only kinds work.
    for path in [
        "/api/v1/nodes".to_string(),
        format!("/api/v1/nodes/{node_name}"),
        "/apis/storage.k8s.io/v1/storageclasses".to_string(),
        format!("/apis/storage.k8s.io/v1/storageclasses/{sc_name}"),
        "/apis/scheduling.k8s.io/v1/priorityclasses".to_string(),
    ] {
        let r = s.get(&path).await;
        s.check(r.status == 200, || format!("GET {path} (read-only kind) must work: {} {}", r.status, r.excerpt()));
    }
    for args in [vec!["get", "nodes"], vec!["get", "storageclasses"]] {
        let out = s.kubectl(&args);
        s.check(out.status.success(), || {
            format!("kubectl {} must work: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))
        });
    }
    // kubectl delete --all -A deletes the attacker's objects only.
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    let out = s.kubectl(&["delete", "cm", "--all", "-A", "--wait=false"]);
    s.no_leak("kubectl delete cm --all -A", &String::from_utf8_lossy(&out.stdout));

    // Nothing cluster-scoped was created or changed.
    for (kind, name) in [
        ("clusterrolebinding", probe.clone()),
        ("clusterrole", probe.clone()),
        ("persistentvolume", probe.clone()),
        ("node", format!("{probe}-node2")),
        ("storageclass", format!("{probe}-sc2")),
        ("priorityclass", probe.clone()),
        ("mutatingwebhookconfiguration", probe.clone()),
        ("validatingwebhookconfiguration", probe.clone()),
        ("certificatesigningrequest", probe.clone()),
    ] {
        let got = admin_get(kind, None, &name);
        s.check(got.is_none(), || format!("ESCAPE: the attacker created {kind} {name}: {got:?}"));
    }
    for (kind, name) in
        [("clusterrole", "view"), ("clusterrole", "admin"), ("priorityclass", "system-cluster-critical")]
    {
        let got = admin_get(kind, None, name);
        s.check(got.as_ref().is_some_and(|g| g["metadata"]["deletionTimestamp"].is_null()), || {
            format!("{kind} {name} was deleted")
        });
    }
    let view_rules = admin_get("clusterrole", None, "view").map(|r| r["rules"].to_string()).unwrap_or_default();
    s.check(!view_rules.contains(r#""resources":["*"]"#), || {
        format!("ESCAPE: clusterrole view was widened: {view_rules}")
    });
    let node_after = admin_get("node", None, &format!("{probe}-node"));
    s.check(
        node_after.as_ref().map(|n| n["metadata"]["labels"].clone()) == node_before
            && node_after.as_ref().is_some_and(|n| n["spec"]["unschedulable"].is_null()),
        || format!("the node was changed: {node_after:?}"),
    );
    let sc_after =
        admin_get("storageclass", None, &format!("{probe}-sc")).map(|n| n["metadata"]["resourceVersion"].clone());
    s.check(sc_after == sc_before, || format!("the storage class was changed: {sc_before:?} -> {sc_after:?}"));
    let _ = admin(&["delete", "node", &format!("{probe}-node"), "--ignore-not-found"]);
    let _ = admin(&["delete", "storageclass", &format!("{probe}-sc"), "--ignore-not-found"]);
    s.finish();
}

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
