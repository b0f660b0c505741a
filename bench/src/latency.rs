//! `bench latency`: GET and LIST through vcproxy next to the same requests sent straight to the
//! apiserver, in one run, plus vcproxy's memory while it serves one large LIST.
//!
//! 1. Starts a real etcd + kube-apiserver + kube-controller-manager and `vcproxy serve`
//!    (`vcproxy-testenv`), creates tenant `bench`, its namespace `lat` and `--objects` small
//!    ConfigMaps in it (through vcproxy, as the tenant).
//! 2. Four cases, each `--warmup` unrecorded requests then `--requests` recorded ones (or until
//!    `--max-duration`), `--concurrency` in flight on one HTTP/2 connection per target, the
//!    recorded requests in `--rounds` rounds that alternate direct and vcproxy:
//!    GET of one ConfigMap (cycling through them) and LIST of the namespace (`?limit=500`, as
//!    kubectl asks), each (a) directly as the apiserver's admin (client certificate, super
//!    namespace name) and (b) through vcproxy as the tenant (bearer token, virtual name).
//! 3. Creates `--big-objects` ConfigMaps of `--big-object-bytes` each in namespace `bulk`, then
//!    LISTs them through vcproxy while sampling vcproxy's RSS (`/proc/<pid>/status`; the peak
//!    counter VmHWM is reset before each run through `/proc/<pid>/clear_refs`), and once
//!    directly for comparison.
//!
//! The load client runs on a single-threaded tokio runtime so that it takes as little CPU as
//! possible from the processes under test (all on the same machine).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};
use vcproxy_testenv::{ControlPlane, Vcproxy};

use crate::client::{Auth, Client};
use crate::fixtures;
use crate::measure::{token_of, vcproxy_bin, CaseResult, Target};
use crate::report::{Report, Table};
use crate::stats::{fmt_mb, mb_per_s, Latency};

const TENANT: &str = "bench";
const SMALL_NS: &str = "lat";
const BIG_NS: &str = "bulk";

#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// Small ConfigMaps in the measured namespace.
    #[arg(long, default_value_t = 200)]
    pub objects: usize,
    /// Recorded requests per case (GET/LIST × direct/vcproxy).
    #[arg(long, default_value_t = 3000)]
    pub requests: usize,
    /// Requests in flight per case (one HTTP/2 connection per target).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Unrecorded requests before each case.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Each case's requests are split into this many rounds, alternating direct and vcproxy.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Upper bound on one case's recorded requests, all rounds together (e.g. 20s).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub max_duration: Duration,
    /// ConfigMaps in the large LIST.
    #[arg(long, default_value_t = 50)]
    pub big_objects: usize,
    /// Payload bytes per ConfigMap in the large LIST (the apiserver allows up to 1 MiB).
    #[arg(long, default_value_t = 1_000_000)]
    pub big_object_bytes: usize,
    /// Large LISTs through vcproxy (each with its own RSS measurement).
    #[arg(long, default_value_t = 3)]
    pub big_list_runs: usize,
    /// Skip the large-LIST memory measurement.
    #[arg(long)]
    pub skip_big: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum Op {
    Get,
    List,
}

#[derive(Debug, Serialize)]
struct BigListRun {
    target: Target,
    body_bytes: u64,
    items: usize,
    seconds: f64,
    headers_after_s: f64,
    first_byte_after_s: Option<f64>,
    mb_per_s: f64,
    /// vcproxy only: VmRSS just before the request.
    rss_before_kib: Option<u64>,
    /// vcproxy only: the highest RSS seen during the request (max of VmHWM after a reset and
    /// of VmRSS sampled every 2 ms).
    rss_peak_kib: Option<u64>,
    rss_growth_kib: Option<u64>,
    hwm_reset: Option<bool>,
}

pub fn run(args: &LatencyArgs) -> anyhow::Result<Report> {
    ensure!(args.concurrency >= 1 && args.requests >= 1, "--concurrency and --requests must be at least 1");
    ensure!(args.objects >= 1, "--objects must be at least 1");
    let bin = vcproxy_bin(args.vcproxy.as_deref())?;
    eprintln!("bench latency: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    eprintln!(
        "bench latency: control plane ready in {:.1} s; starting {}",
        cp.startup_time().as_secs_f64(),
        bin.display()
    );
    let proxy = Vcproxy::start(&bin, &cp).context("starting vcproxy")?;
    let kubeconfig = proxy.create_tenant(TENANT)?;
    let token = token_of(&kubeconfig)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut report = rt.block_on(measure(args, &cp, &proxy, token))?;
    report.json.insert("vcproxy_bin".into(), json!(bin.display().to_string()));
    Ok(report)
}

/// Tenant path prefix on vcproxy.
fn via(path: &str) -> String {
    format!("/clusters/{TENANT}{path}")
}

async fn measure(args: &LatencyArgs, cp: &ControlPlane, proxy: &Vcproxy, token: String) -> anyhow::Result<Report> {
    let vc = Client::connect(proxy.url(), &proxy.ca_file(), &Auth::Bearer(token)).await?;
    let admin =
        Auth::ClientCert { cert: cp.admin_client_cert().to_path_buf(), key: cp.admin_client_key().to_path_buf() };
    let direct = Client::connect(cp.apiserver_url(), cp.ca_file(), &admin).await?;
    let pid = proxy.pid();
    let rss_start = read_status(pid).map(|s| s.rss_kib);

    // Setup, through vcproxy as the tenant.
    let t0 = Instant::now();
    create_namespace(&vc, SMALL_NS).await?;
    let bodies: Vec<Value> =
        (0..args.objects).map(|i| fixtures::configmap(&format!("cm-{i:04}"), 256, i as u64)).collect();
    create_all(&vc, &via(&format!("/api/v1/namespaces/{SMALL_NS}/configmaps")), bodies, args.concurrency).await?;
    eprintln!(
        "bench latency: created namespace {SMALL_NS} and {} configmaps in {:.1} s",
        args.objects,
        t0.elapsed().as_secs_f64()
    );
    let super_small = vcproxy::mapping::to_super(TENANT, SMALL_NS);

    // Both views must list the same objects before we time them: ours, plus the
    // kube-root-ca.crt ConfigMap kube-controller-manager adds to every namespace (waited for,
    // so the LIST does not change size halfway).
    let list_direct = format!("/api/v1/namespaces/{super_small}/configmaps?limit=500");
    let list_via = via(&format!("/api/v1/namespaces/{SMALL_NS}/configmaps?limit=500"));
    let listed = wait_for_items(&direct, &list_direct, args.objects + 1, Duration::from_secs(10)).await?;
    ensure!(listed >= args.objects, "GET {list_direct}: {listed} items, expected {}", args.objects);
    let via_listed = wait_for_items(&vc, &list_via, listed, Duration::from_secs(5)).await?;
    ensure!(via_listed == listed, "GET {list_via}: {via_listed} items, the apiserver lists {listed}");

    let names: Vec<String> = (0..args.objects).map(|i| format!("cm-{i:04}")).collect();
    let get_direct: Vec<String> =
        names.iter().map(|n| format!("/api/v1/namespaces/{super_small}/configmaps/{n}")).collect();
    let get_via: Vec<String> =
        names.iter().map(|n| via(&format!("/api/v1/namespaces/{SMALL_NS}/configmaps/{n}"))).collect();
    let mut cases = Vec::new();
    for (op, d, v) in [
        (Op::Get, (&direct, get_direct), (&vc, get_via)),
        (Op::List, (&direct, vec![list_direct.clone()]), (&vc, vec![list_via.clone()])),
    ] {
        for r in run_op(op, d, v, args).await {
            eprintln!(
                "bench latency: {:?} {:?}: {} requests, {} errors, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                r.op, r.target, r.requests, r.errors, r.req_per_s, r.latency.p50_ms, r.latency.p99_ms
            );
            cases.push(r);
        }
    }
    let rss_after_cases = read_status(pid).map(|s| s.rss_kib);

    let big = if args.skip_big { Vec::new() } else { big_list(args, &vc, &direct, pid).await? };
    Ok(report(args, cases, big, rss_start, rss_after_cases, cp.startup_time()))
}

/// Lists `path` until it has `want` items or `limit` passes; returns the last count.
async fn wait_for_items(client: &Client, path: &str, want: usize, limit: Duration) -> anyhow::Result<usize> {
    let deadline = Instant::now() + limit;
    loop {
        let r = client.get_body(path).await?;
        ensure!(r.status == StatusCode::OK, "GET {path}: {} {}", r.status, r.text());
        let v: Value = serde_json::from_slice(r.body.as_deref().unwrap_or_default())?;
        let n = v["items"].as_array().map_or(0, Vec::len);
        if n >= want || Instant::now() >= deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_namespace(vc: &Client, name: &str) -> anyhow::Result<()> {
    let body = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
    let r = vc.post_json(&via("/api/v1/namespaces"), serde_json::to_vec(&body)?).await?;
    ensure!(r.status == StatusCode::CREATED, "creating namespace {name}: {} {}", r.status, r.text());
    Ok(())
}

/// POSTs every body to `path`, `concurrency` at a time. Retries 403/404 for a few seconds (the
/// tenant's RoleBinding in a new namespace takes a moment to reach the apiserver's authorizer);
/// 409 on a retry means an earlier attempt landed.
async fn create_all(vc: &Client, path: &str, bodies: Vec<Value>, concurrency: usize) -> anyhow::Result<()> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (vc, path, bodies, next) = (vc.clone(), path.to_string(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return anyhow::Ok(()) };
                let bytes = bytes::Bytes::from(serde_json::to_vec(body)?);
                let deadline = Instant::now() + Duration::from_secs(15);
                let mut attempt = 0;
                loop {
                    let r = vc.post_json(&path, bytes.clone()).await?;
                    match r.status {
                        StatusCode::CREATED => break,
                        StatusCode::CONFLICT if attempt > 0 => break,
                        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        s => bail!("POST {path} ({} bytes): {s} {}", bytes.len(), r.text()),
                    }
                    attempt += 1;
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    samples: Vec<Duration>,
    errors: usize,
    bytes: u64,
    elapsed: Duration,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, t: Tally) {
        self.samples.extend(t.samples);
        self.errors += t.errors;
        self.bytes += t.bytes;
        self.elapsed += t.elapsed;
        if self.first_error.is_none() {
            self.first_error = t.first_error;
        }
    }
}

/// `total` GETs of `paths` (cycling) with `concurrency` in flight, stopping early at `limit`.
async fn phase(client: &Client, paths: &Arc<Vec<String>>, total: usize, concurrency: usize, limit: Duration) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let deadline = t0 + limit;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, paths, next) = (client.clone(), paths.clone(), next.clone());
        tasks.spawn(async move {
            let mut t = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline {
                    return t;
                }
                let path = &paths[i % paths.len()];
                match client.get(path).await {
                    Ok(r) if r.status.is_success() => {
                        t.samples.push(r.total);
                        t.bytes += r.bytes;
                    }
                    Ok(r) => {
                        t.errors += 1;
                        t.first_error.get_or_insert_with(|| format!("GET {path}: {}", r.status));
                    }
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert_with(|| format!("GET {path}: {e:#}"));
                    }
                }
            }
        });
    }
    let mut all = Tally::default();
    while let Some(Ok(t)) = tasks.join_next().await {
        all.merge(t);
    }
    all.elapsed = t0.elapsed();
    all
}

/// One request type against both targets: a warm-up of each, then `--rounds` rounds that
/// alternate the targets (direct first in even rounds, vcproxy first in odd ones), so slow drift
/// and background load on the machine fall on both alike.
async fn run_op(
    op: Op,
    direct: (&Client, Vec<String>),
    via: (&Client, Vec<String>),
    args: &LatencyArgs,
) -> Vec<CaseResult<Op>> {
    let targets = [(Target::Direct, direct.0, Arc::new(direct.1)), (Target::Vcproxy, via.0, Arc::new(via.1))];
    for (_, client, paths) in &targets {
        phase(client, paths, args.warmup, args.concurrency, args.max_duration).await;
    }
    let rounds = args.rounds.clamp(1, args.requests);
    let per_round = args.requests.div_ceil(rounds);
    let per_round_limit = args.max_duration / rounds as u32;
    let mut tallies = [Tally::default(), Tally::default()];
    for round in 0..rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (_, client, paths) = &targets[i];
            let n = per_round.min(args.requests.saturating_sub(per_round * round));
            tallies[i].merge(phase(client, paths, n, args.concurrency, per_round_limit).await);
        }
    }
    targets
        .iter()
        .zip(tallies)
        .map(|((target, _, paths), tally)| {
            if let Some(e) = &tally.first_error {
                eprintln!("bench latency: {op:?} {target:?}: {} errors, the first: {e}", tally.errors);
            }
            let done = tally.samples.len();
            CaseResult {
                op,
                target: *target,
                path: paths[0].clone(),
                requests: done,
                errors: tally.errors,
                elapsed_s: tally.elapsed.as_secs_f64(),
                req_per_s: done as f64 / tally.elapsed.as_secs_f64().max(1e-9),
                latency: Latency::of(&tally.samples),
                mean_response_bytes: if done == 0 { 0.0 } else { tally.bytes as f64 / done as f64 },
            }
        })
        .collect()
}

/// Creates the large ConfigMaps, then LISTs them through vcproxy (watching its memory) and directly.
async fn big_list(args: &LatencyArgs, vc: &Client, direct: &Client, pid: u32) -> anyhow::Result<Vec<BigListRun>> {
    let t0 = Instant::now();
    create_namespace(vc, BIG_NS).await?;
    let bodies: Vec<Value> = (0..args.big_objects)
        .map(|i| fixtures::configmap(&format!("big-{i:03}"), args.big_object_bytes, 10_000 + i as u64))
        .collect();
    // Two at a time: these are 1 MB request bodies.
    create_all(vc, &via(&format!("/api/v1/namespaces/{BIG_NS}/configmaps")), bodies, 2).await?;
    eprintln!(
        "bench latency: created {} configmaps of {} in {BIG_NS} in {:.1} s",
        args.big_objects,
        fmt_mb(args.big_object_bytes as u64),
        t0.elapsed().as_secs_f64()
    );
    let path_via = via(&format!("/api/v1/namespaces/{BIG_NS}/configmaps?limit=500"));
    let super_big = vcproxy::mapping::to_super(TENANT, BIG_NS);
    let path_direct = format!("/api/v1/namespaces/{super_big}/configmaps?limit=500");

    // The first run is vcproxy's first large LIST ever: allocator growth included.
    let mut runs = Vec::new();
    for i in 0..args.big_list_runs.max(1) {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let before = read_status(pid).context("reading vcproxy's /proc status")?;
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let sampler = RssSampler::start(pid);
        let r = vc.get(&path_via).await?;
        let sampled = sampler.stop();
        let after = read_status(pid)?;
        ensure!(r.status == StatusCode::OK, "GET {path_via}: {}", r.status);
        let peak = if hwm_reset { sampled.max(after.hwm_kib) } else { sampled };
        let run = BigListRun {
            target: Target::Vcproxy,
            body_bytes: r.bytes,
            items: 0,
            seconds: r.total.as_secs_f64(),
            headers_after_s: r.headers_after.as_secs_f64(),
            first_byte_after_s: r.first_byte_after.map(|d| d.as_secs_f64()),
            mb_per_s: mb_per_s(r.bytes, r.total),
            rss_before_kib: Some(before.rss_kib),
            rss_peak_kib: Some(peak),
            rss_growth_kib: Some(peak.saturating_sub(before.rss_kib)),
            hwm_reset: Some(hwm_reset),
        };
        eprintln!(
            "bench latency: big LIST {} via vcproxy: {} in {:.2} s, RSS {} -> peak {} (growth {})",
            i + 1,
            fmt_mb(r.bytes),
            run.seconds,
            fmt_kib(before.rss_kib),
            fmt_kib(peak),
            fmt_kib(peak.saturating_sub(before.rss_kib))
        );
        runs.push(run);
    }
    let r = direct.get(&path_direct).await?;
    ensure!(r.status == StatusCode::OK, "GET {path_direct}: {}", r.status);
    runs.push(BigListRun {
        target: Target::Direct,
        body_bytes: r.bytes,
        items: 0,
        seconds: r.total.as_secs_f64(),
        headers_after_s: r.headers_after.as_secs_f64(),
        first_byte_after_s: r.first_byte_after.map(|d| d.as_secs_f64()),
        mb_per_s: mb_per_s(r.bytes, r.total),
        rss_before_kib: None,
        rss_peak_kib: None,
        rss_growth_kib: None,
        hwm_reset: None,
    });

    // After the timed runs (these bodies are kept): item counts, which must agree.
    for (target, client, path) in [(Target::Vcproxy, vc, &path_via), (Target::Direct, direct, &path_direct)] {
        let r = client.get_body(path).await?;
        ensure!(r.status == StatusCode::OK, "GET {path}: {}", r.status);
        let v: Value = serde_json::from_slice(r.body.as_deref().unwrap_or_default())?;
        let n = v["items"].as_array().map_or(0, Vec::len);
        ensure!(n >= args.big_objects, "{target:?} listed {n} of {} big items", args.big_objects);
        runs.iter_mut().filter(|run| run.target == target).for_each(|run| run.items = n);
    }
    Ok(runs)
}

#[derive(Debug, Clone, Copy)]
struct ProcStatus {
    rss_kib: u64,
    hwm_kib: u64,
}

fn read_status(pid: u32) -> anyhow::Result<ProcStatus> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line =
            s.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line.split_whitespace().nth(1).context("malformed line")?.parse()?)
    };
    Ok(ProcStatus { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// Samples a process's VmRSS every 2 ms on its own thread, keeping the maximum.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Ok(s) = read_status(pid) {
                    max = max.max(s.rss_kib);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            max
        });
        RssSampler { stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

fn fmt_kib(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn report(
    args: &LatencyArgs,
    cases: Vec<CaseResult<Op>>,
    big: Vec<BigListRun>,
    rss_start: anyhow::Result<u64>,
    rss_after_cases: anyhow::Result<u64>,
    cp_startup: Duration,
) -> Report {
    let mut t = Table::new(
        format!(
            "GET and LIST ({} configmaps in one namespace), {} in flight on one HTTP/2 connection per target",
            args.objects, args.concurrency
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
    let mut overhead =
        Table::new("vcproxy vs direct, same requests", &["request", "p50 +ms", "p99 +ms", "p50 ×", "p99 ×", "req/s ×"]);
    let mut overhead_json = Vec::new();
    for op in [Op::Get, Op::List] {
        let find = |target| cases.iter().find(|c| c.op == op && c.target == target);
        if let (Some(d), Some(v)) = (find(Target::Direct), find(Target::Vcproxy)) {
            let ratio = |a: f64, b: f64| a / b.max(1e-9);
            overhead.row(vec![
                format!("{op:?}").to_uppercase(),
                format!("{:+.2}", v.latency.p50_ms - d.latency.p50_ms),
                format!("{:+.2}", v.latency.p99_ms - d.latency.p99_ms),
                format!("{:.2}", ratio(v.latency.p50_ms, d.latency.p50_ms)),
                format!("{:.2}", ratio(v.latency.p99_ms, d.latency.p99_ms)),
                format!("{:.2}", ratio(v.req_per_s, d.req_per_s)),
            ]);
            overhead_json.push(json!({
                "op": op,
                "p50_added_ms": v.latency.p50_ms - d.latency.p50_ms,
                "p99_added_ms": v.latency.p99_ms - d.latency.p99_ms,
                "p50_ratio": ratio(v.latency.p50_ms, d.latency.p50_ms),
                "p99_ratio": ratio(v.latency.p99_ms, d.latency.p99_ms),
                "throughput_ratio": ratio(v.req_per_s, d.req_per_s),
            }));
        }
    }

    let mut rep = Report::default();
    rep.json.insert(
        "parameters".into(),
        json!({
            "objects": args.objects, "requests": args.requests, "concurrency": args.concurrency,
            "warmup": args.warmup, "rounds": args.rounds, "max_duration_s": args.max_duration.as_secs_f64(),
            "big_objects": args.big_objects, "big_object_bytes": args.big_object_bytes,
            "big_list_runs": args.big_list_runs, "skip_big": args.skip_big,
        }),
    );
    rep.json.insert("control_plane_startup_s".into(), json!(cp_startup.as_secs_f64()));
    rep.json.insert("cases".into(), serde_json::to_value(&cases).expect("serialisable"));
    rep.json.insert("overhead".into(), json!(overhead_json));
    rep.tables.push(t);
    rep.tables.push(overhead);

    let mut mem = Table::new(
        format!("One large LIST ({} configmaps of {} each)", args.big_objects, fmt_mb(args.big_object_bytes as u64)),
        &[
            "target",
            "body",
            "items",
            "first byte s",
            "time s",
            "MB/s",
            "vcproxy RSS before",
            "peak",
            "growth",
            "growth / body",
        ],
    );
    for b in &big {
        let kib = |k: Option<u64>| k.map(fmt_kib).unwrap_or_else(|| "-".into());
        mem.row(vec![
            format!("{:?}", b.target).to_lowercase(),
            fmt_mb(b.body_bytes),
            b.items.to_string(),
            b.first_byte_after_s.map(|s| format!("{s:.3}")).unwrap_or_else(|| "-".into()),
            format!("{:.2}", b.seconds),
            format!("{:.1}", b.mb_per_s),
            kib(b.rss_before_kib),
            kib(b.rss_peak_kib),
            kib(b.rss_growth_kib),
            b.rss_growth_kib
                .map(|g| format!("{:.1}%", 100.0 * g as f64 * 1024.0 / b.body_bytes.max(1) as f64))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let max_growth = big.iter().filter_map(|b| b.rss_growth_kib).max();
    let body = big.iter().find(|b| b.target == Target::Vcproxy).map(|b| b.body_bytes);
    rep.json.insert(
        "big_list".into(),
        json!({
            "runs": serde_json::to_value(&big).expect("serialisable"),
            "body_bytes": body,
            "max_rss_growth_bytes": max_growth.map(|k| k * 1024),
            "max_rss_growth_over_body": match (max_growth, body) { (Some(g), Some(b)) if b > 0 => Some(g as f64 * 1024.0 / b as f64), _ => None },
        }),
    );
    rep.json.insert(
        "vcproxy_rss_kib".into(),
        json!({ "after_start": rss_start.as_ref().ok(), "after_get_list_cases": rss_after_cases.as_ref().ok() }),
    );
    if !big.is_empty() {
        rep.tables.push(mem);
    }
    rep.notes.push(format!(
        "vcproxy RSS: {} after start, {} after the GET/LIST cases.",
        rss_start.map(fmt_kib).unwrap_or_else(|e| e.to_string()),
        rss_after_cases.map(fmt_kib).unwrap_or_else(|e| e.to_string())
    ));
    rep.notes.push(
        "Latency = request sent to last body byte read, on the client; each case's requests ran in rounds alternating \
         direct and vcproxy; direct = the apiserver's admin by client certificate \
         on super namespace names, vcproxy = the tenant by bearer token on virtual names (vcproxy adds TLS termination, \
         authentication, path/body rewriting and impersonation, which the apiserver then authorises)."
            .into(),
    );
    rep.notes.push(
        "Large LIST: RSS growth = peak during the request minus VmRSS just before it (run 1 is vcproxy's first large LIST, \
         so allocator growth is included); a proxy that buffered the body would grow by at least the body size. \
         first byte = time to the first body byte on the client; far below the total time means the body streams."
            .into(),
    );
    rep.notes.push(
        "Everything (etcd, kube-apiserver, kube-controller-manager, vcproxy and this client) shares the same CPUs, so \
         throughput is CPU-bound and the direct/vcproxy ratio is the meaningful figure."
            .into(),
    );
    if big.iter().any(|b| b.hwm_reset == Some(false)) {
        rep.notes
            .push("Could not reset VmHWM (/proc/<pid>/clear_refs); peaks are from 2 ms VmRSS samples only.".into());
    }
    rep
}
