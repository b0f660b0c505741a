//! `bench crd`: custom resources of a tenant CRD served by vcproxy (stored in etcd under the
//! tenant's prefix) next to the same CRD installed directly in kube-apiserver, in one run.
//!
//! 1. Starts a real etcd + kube-apiserver + kube-controller-manager and `vcproxy serve`
//!    (`vcproxy-testenv`), creates tenant `bench` and its namespace `crb` (through vcproxy).
//! 2. Installs CRD `widgets.bench.example.com` through vcproxy as the tenant, and the same CRD
//!    (same names, schema, default and status subresource) directly in the super apiserver as
//!    its admin under group `direct.bench.example.com` — vcproxy refuses a tenant CRD whose group
//!    the super apiserver serves, so the two groups must differ. The direct CRs live in the
//!    tenant's super namespace (`bench--crb`), the vcproxy CRs in the virtual namespace `crb`.
//! 3. For both targets, with the same client code and `--concurrency` requests in flight on one
//!    HTTP/2 connection per target: CREATE `--objects` Widgets, GET `--gets` of them (cycling),
//!    LIST the namespace `--lists` times. Each case is split into `--rounds` rounds alternating
//!    direct and vcproxy, so background load falls on both alike.
//! 4. Watch: `--watchers` watches of the namespace's Widgets (one more HTTP/2 connection per
//!    target, all watchers multiplexed on it, as informers in one process would be) from the
//!    current resourceVersion, then `--updates` merge PATCHes of `spec.note` (cycling through the
//!    objects, `--concurrency` in flight). Reported: PATCH req/s and latency, events delivered
//!    (expected `watchers × updates`), events/s (all watchers together, first PATCH sent → last
//!    event received), and event latency = PATCH response received → that (name,
//!    resourceVersion) MODIFIED event received by a watcher (0 when the event beat the response).
//!
//! The load client runs on a single-threaded tokio runtime, as in `latency`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use bytes::{Bytes, BytesMut};
use clap::Args;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use serde_json::{json, Value};
use vcproxy_testenv::{ControlPlane, Vcproxy};

use crate::client::{Auth, Client};
use crate::measure::{token_of, vcproxy_bin, CaseResult, Target};
use crate::report::{Report, Table};
use crate::stats::Latency;

const TENANT: &str = "bench";
const NS: &str = "crb";
const VC_GROUP: &str = "bench.example.com";
const DIRECT_GROUP: &str = "direct.bench.example.com";

#[derive(Debug, Clone, Args)]
pub struct CrdArgs {
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// Widgets created per target (recorded CREATEs).
    #[arg(long, default_value_t = 1000)]
    pub objects: usize,
    /// Recorded GETs per target.
    #[arg(long, default_value_t = 2000)]
    pub gets: usize,
    /// Recorded LISTs of the namespace per target.
    #[arg(long, default_value_t = 200)]
    pub lists: usize,
    /// `limit` on each LIST (0: none, the whole namespace in one response).
    #[arg(long, default_value_t = 0)]
    pub list_limit: usize,
    /// Requests in flight (one HTTP/2 connection per target).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Concurrent watches per target during the watch case.
    #[arg(long, default_value_t = 10)]
    pub watchers: usize,
    /// PATCHes applied while the watchers watch (per target).
    #[arg(long, default_value_t = 500)]
    pub updates: usize,
    /// Unrecorded requests before each case (CREATE: extra `warm-NNNN` objects).
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Each CREATE/GET/LIST case is split into this many rounds, alternating direct and vcproxy.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Upper bound on one case's recorded requests per target, all rounds together (e.g. 20s).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub max_duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum Op {
    Create,
    Get,
    List,
    Patch,
}

#[derive(Debug, Serialize)]
struct WatchResult {
    target: Target,
    path: String,
    watchers: usize,
    updates_ok: usize,
    update_errors: usize,
    events_expected: usize,
    events_received: usize,
    /// Events whose (name, resourceVersion) matched no acknowledged PATCH.
    events_unmatched: usize,
    /// Events received before their PATCH's response (counted as 0 ms).
    events_before_ack: usize,
    /// First PATCH sent → last event received.
    elapsed_s: f64,
    events_per_s: f64,
    event_latency: Latency,
    watcher_errors: Vec<String>,
}

/// One request to send: method, path, body and content type.
type Req = (Method, String, Option<(Bytes, &'static str)>);

struct Tgt<'a> {
    target: Target,
    client: &'a Client,
    /// Base URL, CA and credentials, for the extra watch connection.
    url: String,
    ca: PathBuf,
    auth: Auth,
    group: &'static str,
    /// Collection path of the Widgets in the measured namespace.
    coll: String,
}

impl Tgt<'_> {
    fn widget(&self, name: &str, i: usize) -> Bytes {
        let body = json!({
            "apiVersion": format!("{}/v1", self.group),
            "kind": "Widget",
            "metadata": { "name": name, "labels": { "app": "bench", "shard": format!("s{}", i % 4) } },
            "spec": {
                "name": format!("widget number {i}"),
                "color": if i % 2 == 0 { "red" } else { "blue" },
                "note": "created by bench crd",
            },
        });
        Bytes::from(serde_json::to_vec(&body).expect("serialisable"))
    }
}

fn via(path: &str) -> String {
    format!("/clusters/{TENANT}{path}")
}

pub fn run(args: &CrdArgs) -> anyhow::Result<Report> {
    ensure!(args.concurrency >= 1 && args.objects >= 1, "--concurrency and --objects must be at least 1");
    ensure!(args.gets >= 1 && args.lists >= 1, "--gets and --lists must be at least 1");
    let bin = vcproxy_bin(args.vcproxy.as_deref())?;
    eprintln!("bench crd: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    eprintln!("bench crd: control plane ready in {:.1} s; starting {}", cp.startup_time().as_secs_f64(), bin.display());
    let proxy = Vcproxy::start(&bin, &cp).context("starting vcproxy")?;
    let kubeconfig = proxy.create_tenant(TENANT)?;
    let token = token_of(&kubeconfig)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut report = rt.block_on(measure(args, &cp, &proxy, token))?;
    report.json.insert("vcproxy_bin".into(), json!(bin.display().to_string()));
    Ok(report)
}

fn widget_crd(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("widgets.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": { "type": "string" },
                                "size": { "type": "integer", "minimum": 1, "maximum": 10, "default": 3 },
                                "color": { "type": "string", "enum": ["red", "blue"] },
                                "note": { "type": "string" },
                            },
                        },
                        "status": {
                            "type": "object",
                            "properties": { "size": { "type": "integer" }, "phase": { "type": "string" } },
                        },
                    },
                }},
            }],
        },
    })
}

/// POSTs the CRD and waits until it is Established and its collection answers 200.
async fn install_crd(client: &Client, crds_path: &str, group: &str, coll: &str) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let r = client.post_json(crds_path, serde_json::to_vec(&widget_crd(group))?).await?;
    ensure!(r.status == StatusCode::CREATED, "POST {crds_path} (widgets.{group}): {} {}", r.status, r.text());
    let one = format!("{crds_path}/widgets.{group}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client.get_body(&one).await?;
        let established = r.status == StatusCode::OK
            && serde_json::from_slice::<Value>(r.body.as_deref().unwrap_or_default()).ok().is_some_and(|v| {
                v["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
            });
        if established && client.get(coll).await?.status == StatusCode::OK {
            return Ok(t0.elapsed());
        }
        ensure!(Instant::now() < deadline, "widgets.{group} not Established and served within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn measure(args: &CrdArgs, cp: &ControlPlane, proxy: &Vcproxy, token: String) -> anyhow::Result<Report> {
    let bearer = Auth::Bearer(token);
    let vc = Client::connect(proxy.url(), &proxy.ca_file(), &bearer).await?;
    let admin =
        Auth::ClientCert { cert: cp.admin_client_cert().to_path_buf(), key: cp.admin_client_key().to_path_buf() };
    let direct = Client::connect(cp.apiserver_url(), cp.ca_file(), &admin).await?;

    // The tenant's namespace (vcproxy also creates its super namespace, which the direct CRs use).
    let body = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NS } });
    let r = vc.post_json(&via("/api/v1/namespaces"), serde_json::to_vec(&body)?).await?;
    ensure!(r.status == StatusCode::CREATED, "creating namespace {NS}: {} {}", r.status, r.text());
    let super_ns = vcproxy::mapping::to_super(TENANT, NS);

    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let targets = [
        Tgt {
            target: Target::Direct,
            client: &direct,
            url: cp.apiserver_url().to_string(),
            ca: cp.ca_file().to_path_buf(),
            auth: admin.clone(),
            group: DIRECT_GROUP,
            coll: format!("/apis/{DIRECT_GROUP}/v1/namespaces/{super_ns}/widgets"),
        },
        Tgt {
            target: Target::Vcproxy,
            client: &vc,
            url: proxy.url().to_string(),
            ca: proxy.ca_file(),
            auth: bearer.clone(),
            group: VC_GROUP,
            coll: via(&format!("/apis/{VC_GROUP}/v1/namespaces/{NS}/widgets")),
        },
    ];
    let mut crd_ready = Vec::new();
    for t in &targets {
        let crds_path = if t.target == Target::Direct { crds.to_string() } else { via(crds) };
        let took = install_crd(t.client, &crds_path, t.group, &t.coll).await?;
        eprintln!(
            "bench crd: widgets.{} established and served via {:?} in {:.2} s",
            t.group,
            t.target,
            took.as_secs_f64()
        );
        crd_ready
            .push(json!({ "target": t.target, "crd": format!("widgets.{}", t.group), "ready_s": took.as_secs_f64() }));
    }

    let mut cases = Vec::new();
    let limit = args.max_duration;

    // CREATE: warm-up objects (unrecorded), then the recorded ones in alternating rounds.
    let create = |t: &Tgt, i: usize, warm: bool| -> Req {
        let name = if warm { format!("warm-{i:04}") } else { format!("w-{i:05}") };
        (Method::POST, t.coll.clone(), Some((t.widget(&name, i), "application/json")))
    };
    for t in &targets {
        let _ =
            phase(t.client, args.warmup, args.concurrency, limit, StatusCode::CREATED, |i| create(t, i, true)).await;
    }
    cases.extend(
        rounds(&targets, Op::Create, args.objects, args, StatusCode::CREATED, |t, i| create(t, i, false)).await,
    );
    let created: HashMap<Target, usize> = cases.iter().map(|c| (c.target, c.requests)).collect();

    // Both namespaces must list the same number of objects before GET/LIST are timed.
    let mut listed = Vec::new();
    for t in &targets {
        let r = t.client.get_body(&t.coll).await?;
        ensure!(r.status == StatusCode::OK, "GET {}: {} {}", t.coll, r.status, r.text());
        let v: Value = serde_json::from_slice(r.body.as_deref().unwrap_or_default())?;
        listed.push(v["items"].as_array().map_or(0, Vec::len));
    }
    eprintln!("bench crd: listed {listed:?} widgets (direct, vcproxy)");

    // GET, cycling through the objects created by both (the smaller count).
    let n_get = created.values().copied().min().unwrap_or(0).max(1);
    let get = |t: &Tgt, i: usize| -> Req { (Method::GET, format!("{}/w-{:05}", t.coll, i % n_get), None) };
    for t in &targets {
        let _ = phase(t.client, args.warmup, args.concurrency, limit, StatusCode::OK, |i| get(t, i)).await;
    }
    cases.extend(rounds(&targets, Op::Get, args.gets, args, StatusCode::OK, get).await);

    // LIST the namespace.
    let list_path = |t: &Tgt| {
        if args.list_limit > 0 {
            format!("{}?limit={}", t.coll, args.list_limit)
        } else {
            t.coll.clone()
        }
    };
    let list = |t: &Tgt, _i: usize| -> Req { (Method::GET, list_path(t), None) };
    for t in &targets {
        let _ =
            phase(t.client, (args.warmup / 5).max(1), args.concurrency, limit, StatusCode::OK, |i| list(t, i)).await;
    }
    cases.extend(rounds(&targets, Op::List, args.lists, args, StatusCode::OK, list).await);

    // WATCH while PATCHing.
    let mut watches = Vec::new();
    for t in &targets {
        let (patch_case, w) = watch_case(t, args, n_get).await?;
        eprintln!(
            "bench crd: WATCH {:?}: {} watchers, {}/{} events in {:.2} s = {:.0} events/s, latency p50 {:.2} ms p99 {:.2} ms",
            t.target, w.watchers, w.events_received, w.events_expected, w.elapsed_s, w.events_per_s,
            w.event_latency.p50_ms, w.event_latency.p99_ms
        );
        print_case(&patch_case);
        cases.push(patch_case);
        watches.push(w);
    }
    Ok(report(args, cases, watches, listed, crd_ready, cp.startup_time()))
}

fn print_case(r: &CaseResult<Op>) {
    eprintln!(
        "bench crd: {:?} {:?}: {} requests, {} errors, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        r.op, r.target, r.requests, r.errors, r.req_per_s, r.latency.p50_ms, r.latency.p99_ms
    );
}

#[derive(Default)]
struct Tally {
    samples: Vec<Duration>,
    errors: usize,
    bytes: u64,
    elapsed: Duration,
    first_error: Option<String>,
    /// PATCH only: (name, resourceVersion, response received).
    acks: Vec<(String, String, Instant)>,
}

impl Tally {
    fn merge(&mut self, t: Tally) {
        self.samples.extend(t.samples);
        self.errors += t.errors;
        self.bytes += t.bytes;
        self.elapsed += t.elapsed;
        self.acks.extend(t.acks);
        if self.first_error.is_none() {
            self.first_error = t.first_error;
        }
    }
}

/// `total` requests made by `make(i)` with `concurrency` in flight, stopping early at `limit`.
/// A request succeeds when its status is `ok`. For PATCH, the responses' names and
/// resourceVersions are kept (`Tally::acks`).
async fn phase<F>(client: &Client, total: usize, concurrency: usize, limit: Duration, ok: StatusCode, make: F) -> Tally
where
    F: Fn(usize) -> Req,
{
    let next = AtomicUsize::new(0);
    let t0 = Instant::now();
    let deadline = t0 + limit;
    // Run the workers as futures on this task (no 'static needed; the runtime is single-threaded).
    let (next, make) = (&next, &make);
    let worker = move || async move {
        let mut t = Tally::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= total || Instant::now() >= deadline {
                return t;
            }
            let (method, path, body) = make(i);
            let is_patch = method == Method::PATCH;
            let m = method.to_string();
            match client.send(method, &path, body, is_patch).await {
                Ok(r) if r.status == ok => {
                    let done = Instant::now();
                    t.samples.push(r.total);
                    t.bytes += r.bytes;
                    if is_patch {
                        if let Ok(v) = serde_json::from_slice::<Value>(r.body.as_deref().unwrap_or_default()) {
                            let md = &v["metadata"];
                            if let (Some(n), Some(rv)) = (md["name"].as_str(), md["resourceVersion"].as_str()) {
                                t.acks.push((n.to_string(), rv.to_string(), done));
                            }
                        }
                    }
                }
                Ok(r) => {
                    t.errors += 1;
                    let text = if r.body.is_some() { r.text() } else { String::new() };
                    t.first_error.get_or_insert_with(|| format!("{m} {path}: {} {}", r.status, truncate(&text)));
                }
                Err(e) => {
                    t.errors += 1;
                    t.first_error.get_or_insert_with(|| format!("{m} {path}: {e:#}"));
                }
            }
        }
    };
    let workers: Vec<_> = (0..concurrency).map(|_| worker()).collect();
    let mut all = Tally::default();
    for t in join_all(workers).await {
        all.merge(t);
    }
    all.elapsed = t0.elapsed();
    all
}

/// Polls all futures to completion on the current task.
async fn join_all<T, Fut: std::future::Future<Output = T>>(futs: Vec<Fut>) -> Vec<T> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("completed")).collect()
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

/// One request type against both targets, `--rounds` rounds alternating direct and vcproxy
/// (direct first in even rounds). `make(t, i)` makes request `i` (0..total) for target `t`.
async fn rounds<F>(
    targets: &[Tgt<'_>; 2],
    op: Op,
    total: usize,
    args: &CrdArgs,
    ok: StatusCode,
    make: F,
) -> Vec<CaseResult<Op>>
where
    F: Fn(&Tgt, usize) -> Req,
{
    let rounds = args.rounds.clamp(1, total);
    let per_round = total.div_ceil(rounds);
    let per_round_limit = args.max_duration / rounds as u32;
    let mut tallies = [Tally::default(), Tally::default()];
    for round in 0..rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let t = &targets[k];
            let start = per_round * round;
            let n = per_round.min(total.saturating_sub(start));
            let tally = phase(t.client, n, args.concurrency, per_round_limit, ok, |i| make(t, start + i)).await;
            tallies[k].merge(tally);
        }
    }
    targets
        .iter()
        .zip(tallies)
        .map(|(t, tally)| {
            if let Some(e) = &tally.first_error {
                eprintln!("bench crd: {op:?} {:?}: {} errors, the first: {e}", t.target, tally.errors);
            }
            let r = case(op, t, make(t, 0).1, tally);
            print_case(&r);
            r
        })
        .collect()
}

fn case(op: Op, t: &Tgt, path: String, tally: Tally) -> CaseResult<Op> {
    let done = tally.samples.len();
    CaseResult {
        op,
        target: t.target,
        path,
        requests: done,
        errors: tally.errors,
        elapsed_s: tally.elapsed.as_secs_f64(),
        req_per_s: done as f64 / tally.elapsed.as_secs_f64().max(1e-9),
        latency: Latency::of(&tally.samples),
        mean_response_bytes: if done == 0 { 0.0 } else { tally.bytes as f64 / done as f64 },
    }
}

// ---- watch ---------------------------------------------------------------------------

/// An HTTP/2 connection whose response bodies are read as they stream (the shared [`Client`]
/// reads every body to its end), over the same TLS setup as `client.rs`.
async fn h2_connect(
    base_url: &str,
    ca_file: &Path,
    auth: &Auth,
) -> anyhow::Result<(http2::SendRequest<Full<Bytes>>, Option<HeaderValue>)> {
    let (tls, bearer) = crate::client::connect_tls(base_url, ca_file, auth).await?;
    let (send, conn) = http2::Builder::new(TokioExecutor::new()).handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((send, bearer))
}

/// What one watcher saw: MODIFIED events as (name, resourceVersion, received).
struct Seen {
    events: Vec<(String, String, Instant)>,
    error: Option<String>,
}

/// Watches `url` until `expect` MODIFIED events arrived or `deadline`. `opened` is signalled
/// once the response headers (200) arrived.
async fn watcher(
    send: http2::SendRequest<Full<Bytes>>,
    url: String,
    bearer: Option<HeaderValue>,
    expect: usize,
    deadline: tokio::sync::watch::Receiver<Option<Instant>>,
    opened: tokio::sync::mpsc::Sender<anyhow::Result<()>>,
) -> Seen {
    let mut seen = Seen { events: Vec::new(), error: None };
    let mut req = Request::builder().method(Method::GET).uri(&url).header(ACCEPT, "application/json");
    if let Some(b) = bearer {
        req = req.header(AUTHORIZATION, b);
    }
    let req = req.body(Full::new(Bytes::new())).expect("request");
    let mut send = send;
    let resp = match async {
        send.ready().await?;
        send.send_request(req).await
    }
    .await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = opened.send(Err(anyhow!("watch {url}: {e}"))).await;
            seen.error = Some(e.to_string());
            return seen;
        }
    };
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let e = format!("watch {url}: {status} {}", truncate(&String::from_utf8_lossy(&body)));
        let _ = opened.send(Err(anyhow!(e.clone()))).await;
        seen.error = Some(e);
        return seen;
    }
    let _ = opened.send(Ok(())).await;
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    let mut deadline = deadline;
    loop {
        if seen.events.len() >= expect {
            return seen;
        }
        let limit = *deadline.borrow();
        let frame = match limit {
            Some(at) => match tokio::time::timeout_at(at.into(), body.frame()).await {
                Ok(f) => f,
                Err(_) => return seen,
            },
            None => tokio::select! {
                f = body.frame() => f,
                _ = deadline.changed() => continue,
            },
        };
        let now = Instant::now();
        let Some(frame) = frame else {
            seen.error = Some("watch ended early".into());
            return seen;
        };
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                seen.error = Some(format!("reading watch: {e}"));
                return seen;
            }
        };
        let Some(data) = frame.data_ref() else { continue };
        buf.extend_from_slice(data);
        let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(ev)) = it.next() {
            consumed = it.byte_offset();
            if ev["type"] == "MODIFIED" {
                let md = &ev["object"]["metadata"];
                if let (Some(n), Some(rv)) = (md["name"].as_str(), md["resourceVersion"].as_str()) {
                    seen.events.push((n.to_string(), rv.to_string(), now));
                }
            } else if ev["type"] == "ERROR" {
                seen.error = Some(format!("ERROR event: {}", truncate(&ev.to_string())));
            }
        }
        let _ = buf.split_to(consumed);
    }
}

async fn watch_case(t: &Tgt<'_>, args: &CrdArgs, n_objects: usize) -> anyhow::Result<(CaseResult<Op>, WatchResult)> {
    // The current resourceVersion, to watch from.
    let r = t.client.get_body(&format!("{}?limit=1", t.coll)).await?;
    ensure!(r.status == StatusCode::OK, "GET {}?limit=1: {}", t.coll, r.status);
    let v: Value = serde_json::from_slice(r.body.as_deref().unwrap_or_default())?;
    let rv = v["metadata"]["resourceVersion"].as_str().context("list has no resourceVersion")?.to_string();
    let path = format!("{}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}", t.coll);

    let (send, bearer) = h2_connect(&t.url, &t.ca, &t.auth).await?;
    let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(None);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(args.watchers.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.watchers {
        tasks.spawn(watcher(
            send.clone(),
            format!("{}{path}", t.url.trim_end_matches('/')),
            bearer.clone(),
            args.updates,
            deadline_rx.clone(),
            opened_tx.clone(),
        ));
    }
    drop(opened_tx);
    for _ in 0..args.watchers {
        match tokio::time::timeout(Duration::from_secs(10), opened_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) | Err(_) => bail!("{:?}: watchers did not open within 10 s", t.target),
        }
    }
    // Let the servers register the watches before the first update.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t0 = Instant::now();
    let patch = |i: usize| -> Req {
        let body = json!({ "spec": { "note": format!("update {i}") } });
        (
            Method::PATCH,
            format!("{}/w-{:05}", t.coll, i % n_objects),
            Some((Bytes::from(serde_json::to_vec(&body).expect("json")), "application/merge-patch+json")),
        )
    };
    let tally = phase(t.client, args.updates, args.concurrency, args.max_duration, StatusCode::OK, patch).await;
    // Give the watchers up to 10 s after the last update.
    let _ = deadline_tx.send(Some(Instant::now() + Duration::from_secs(10)));
    let mut seens = Vec::new();
    while let Some(s) = tasks.join_next().await {
        seens.push(s.context("watcher task")?);
    }

    let acks: HashMap<(&str, &str), Instant> =
        tally.acks.iter().map(|(n, rv, at)| ((n.as_str(), rv.as_str()), *at)).collect();
    let mut lat = Vec::new();
    let (mut unmatched, mut before, mut last) = (0, 0, t0);
    for s in &seens {
        for (n, rv, at) in &s.events {
            last = last.max(*at);
            match acks.get(&(n.as_str(), rv.as_str())) {
                Some(ack) => {
                    if at < ack {
                        before += 1;
                    }
                    lat.push(at.saturating_duration_since(*ack));
                }
                None => unmatched += 1,
            }
        }
    }
    let received: usize = seens.iter().map(|s| s.events.len()).sum();
    let elapsed = last.duration_since(t0);
    if let Some(e) = &tally.first_error {
        eprintln!("bench crd: PATCH {:?}: {} errors, the first: {e}", t.target, tally.errors);
    }
    let updates_ok = tally.samples.len();
    let update_errors = tally.errors;
    let patch_case = case(Op::Patch, t, patch(0).1, tally);
    let w = WatchResult {
        target: t.target,
        path,
        watchers: args.watchers,
        updates_ok,
        update_errors,
        events_expected: args.watchers * updates_ok,
        events_received: received,
        events_unmatched: unmatched,
        events_before_ack: before,
        elapsed_s: elapsed.as_secs_f64(),
        events_per_s: received as f64 / elapsed.as_secs_f64().max(1e-9),
        event_latency: Latency::of(&lat),
        watcher_errors: seens.iter().filter_map(|s| s.error.clone()).take(3).collect(),
    };
    Ok((patch_case, w))
}

// ---- report --------------------------------------------------------------------------

fn report(
    args: &CrdArgs,
    cases: Vec<CaseResult<Op>>,
    watches: Vec<WatchResult>,
    listed: Vec<usize>,
    crd_ready: Vec<Value>,
    cp_startup: Duration,
) -> Report {
    let mut t = Table::new(
        format!(
            "Widget custom resources: CREATE {}, GET {}, LIST {} (namespace of {} objects, limit {}), PATCH {} (during the watch); \
             {} in flight on one HTTP/2 connection per target",
            args.objects,
            args.gets,
            args.lists,
            listed.first().copied().unwrap_or(0),
            if args.list_limit == 0 { "none".to_string() } else { args.list_limit.to_string() },
            args.updates,
            args.concurrency
        ),
        &["request", "target", "ok", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "bytes/resp"],
    );
    for c in &cases {
        t.row(vec![
            format!("{:?}", c.op).to_uppercase(),
            format!("{:?}", c.target).to_lowercase(),
            c.requests.to_string(),
            c.errors.to_string(),
            format!("{:.0}", c.req_per_s),
            format!("{:.2}", c.latency.p50_ms),
            format!("{:.2}", c.latency.p90_ms),
            format!("{:.2}", c.latency.p99_ms),
            format!("{:.2}", c.latency.max_ms),
            format!("{:.0}", c.mean_response_bytes),
        ]);
    }
    let mut w = Table::new(
        format!(
            "WATCH: {} watchers per target while {} PATCHes are applied; event latency = PATCH response → event received",
            args.watchers, args.updates
        ),
        &["target", "events", "expected", "events/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "before ack"],
    );
    for x in &watches {
        w.row(vec![
            format!("{:?}", x.target).to_lowercase(),
            x.events_received.to_string(),
            x.events_expected.to_string(),
            format!("{:.0}", x.events_per_s),
            format!("{:.2}", x.event_latency.p50_ms),
            format!("{:.2}", x.event_latency.p90_ms),
            format!("{:.2}", x.event_latency.p99_ms),
            format!("{:.2}", x.event_latency.max_ms),
            x.events_before_ack.to_string(),
        ]);
    }
    let ratio = |a: f64, b: f64| a / b.max(1e-9);
    let mut cmp = Table::new(
        "vcproxy / direct (throughput ≥ 1 and latency ≤ 1 mean vcproxy is at least as good)",
        &["case", "req/s or events/s ×", "p50 ×", "p99 ×"],
    );
    let mut cmp_json = Vec::new();
    for op in [Op::Create, Op::Get, Op::List, Op::Patch] {
        let find = |target| cases.iter().find(|c| c.op == op && c.target == target);
        if let (Some(d), Some(v)) = (find(Target::Direct), find(Target::Vcproxy)) {
            let (tp, p50, p99) = (
                ratio(v.req_per_s, d.req_per_s),
                ratio(v.latency.p50_ms, d.latency.p50_ms),
                ratio(v.latency.p99_ms, d.latency.p99_ms),
            );
            cmp.row(vec![
                format!("{op:?}").to_uppercase(),
                format!("{tp:.2}"),
                format!("{p50:.2}"),
                format!("{p99:.2}"),
            ]);
            cmp_json.push(json!({ "case": op, "throughput_ratio": tp, "p50_ratio": p50, "p99_ratio": p99 }));
        }
    }
    let find = |target| watches.iter().find(|x| x.target == target);
    if let (Some(d), Some(v)) = (find(Target::Direct), find(Target::Vcproxy)) {
        let (tp, p50, p99) = (
            ratio(v.events_per_s, d.events_per_s),
            ratio(v.event_latency.p50_ms, d.event_latency.p50_ms),
            ratio(v.event_latency.p99_ms, d.event_latency.p99_ms),
        );
        cmp.row(vec!["WATCH events".into(), format!("{tp:.2}"), format!("{p50:.2}"), format!("{p99:.2}")]);
        cmp_json.push(json!({ "case": "WATCH", "throughput_ratio": tp, "p50_ratio": p50, "p99_ratio": p99 }));
    }

    let mut rep = Report::default();
    rep.json.insert(
        "parameters".into(),
        json!({
            "objects": args.objects, "gets": args.gets, "lists": args.lists, "list_limit": args.list_limit,
            "concurrency": args.concurrency, "watchers": args.watchers, "updates": args.updates,
            "warmup": args.warmup, "rounds": args.rounds, "max_duration_s": args.max_duration.as_secs_f64(),
        }),
    );
    rep.json.insert("control_plane_startup_s".into(), json!(cp_startup.as_secs_f64()));
    rep.json
        .insert("crds".into(), json!({ "vcproxy_group": VC_GROUP, "direct_group": DIRECT_GROUP, "ready": crd_ready }));
    rep.json.insert("listed_items".into(), json!({ "direct": listed.first(), "vcproxy": listed.get(1) }));
    rep.json.insert("cases".into(), serde_json::to_value(&cases).expect("serialisable"));
    rep.json.insert("watch".into(), serde_json::to_value(&watches).expect("serialisable"));
    rep.json.insert("vcproxy_vs_direct".into(), json!(cmp_json));
    rep.tables.push(t);
    rep.tables.push(w);
    rep.tables.push(cmp);
    rep.notes.push(format!(
        "Same CRD (Widget: spec.name required, spec.size integer 1..10 default 3, spec.color enum, spec.note; status \
         subresource) in two places: through vcproxy as tenant `{TENANT}` in group `{VC_GROUP}` (stored by vcproxy in \
         etcd under the tenant's prefix), and directly in kube-apiserver as its admin in group `{DIRECT_GROUP}` — the \
         groups differ because vcproxy refuses a tenant CRD whose group the super apiserver serves. Direct CRs live in \
         the tenant's super namespace, vcproxy CRs in its virtual namespace `{NS}`."
    ));
    rep.notes.push(
        "Latency = request sent to last body byte read, on the client. CREATE/GET/LIST ran in rounds alternating direct \
         and vcproxy; the watch cases ran one target after the other (direct first). Direct = the apiserver's admin by \
         client certificate; vcproxy = the tenant by bearer token."
            .into(),
    );
    rep.notes.push(
        "WATCH: all watchers of a target share one HTTP/2 connection and watch the namespace's Widgets from the \
         resourceVersion of a LIST taken just before; events/s counts MODIFIED events received by all watchers from the \
         first PATCH sent to the last event received, so it is bounded by the PATCH rate × watchers."
            .into(),
    );
    for x in &watches {
        if !x.watcher_errors.is_empty() || x.events_unmatched > 0 {
            rep.notes.push(format!(
                "WATCH {:?}: {} events matched no acknowledged PATCH; watcher errors: {:?}",
                x.target, x.events_unmatched, x.watcher_errors
            ));
        }
    }
    rep.notes.push(
        "Everything (etcd, kube-apiserver, kube-controller-manager, vcproxy and this client) shares the same CPUs, so \
         throughput is CPU-bound and the vcproxy/direct ratio within one run is the figure to read."
            .into(),
    );
    rep
}
