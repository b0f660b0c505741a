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

mod bodies;
mod identity;
mod labels;
mod media;
mod names;
mod references;
mod reads;

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
        let mut own = self.own_super();
        // Where vcproxy keeps the attacker's cluster-wide grants (its ClusterRoleBindings) is its own too.
        own.insert(format!("vcproxy-cluster-{}", self.a));
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
