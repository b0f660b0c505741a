//! `bench soak`: vcproxy under everything at once for a long time, to see whether its memory
//! and open file descriptors stay flat (issue 11, point 6). Not for CI: the default is 30 min.
//!
//! One real control plane and one `vcproxy serve` (the shipped `policies/default.toml`, rate
//! caps on) run for `--duration` with three activities together:
//!
//! - **tenant churn**: `--churn-tenants` workers, each in a loop: `vcproxy tenant create`, a
//!   fresh HTTP/2 connection as that tenant, a namespace and `--churn-configmaps` ConfigMaps,
//!   LIST and GET them, `vcproxy tenant delete`. At most `--churn-tenants` are alive at once.
//! - **watch churn**: `--watches` watches over `--watch-tenants` stable tenants, each closed
//!   and reopened after a random life in `--watch-min-life..--watch-max-life` (some on the
//!   tenant's shared connection, some on a connection of their own, some ended by the server
//!   with `timeoutSeconds`); a writer creates and deletes ConfigMaps in those tenants every
//!   `--write-every`, so the watches see events.
//! - **noisy neighbour**: tenant `noisy` GETs and LISTs as fast as `--noisy-concurrency`
//!   closed-loop workers allow, far past its rate cap: its 429s are expected.
//!
//! Every `--sample-every` it records RSS (`VmRSS`), open fds (`/proc/<pid>/fd`) and threads of
//! vcproxy and kube-apiserver, the number of series on vcproxy's `/metrics`, the namespaces in
//! the apiserver, and the requests and errors of each activity. The report has a sample table,
//! `soak.svg` (vcproxy) and `apiserver.svg` with the warm-up shaded, `samples.csv`, and the
//! verdict: least-squares slope of RSS and fds after `--warmup`, and "flat" when the growth that
//! slope makes over the post-warm-up window is at most 5% of the post-warm-up mean.
//!
//! Loopback only, bounded in count and time; the testenv handles stop every process on drop,
//! and its spawner kills them if this process dies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::json;
use vcproxy_testenv::{ControlPlane, Vcproxy, VcproxyOptions};

use crate::client::{Auth, Client, Reply};
use crate::harness::scenario::Rng;
use crate::harness::svg;
use crate::measure::{token_of, vcproxy_bin};
use crate::report::{Report, Table};

/// Growth after warm-up (least-squares slope × post-warm-up time) allowed for "flat", as a
/// fraction of the post-warm-up mean.
const FLAT_FRACTION: f64 = 0.05;
/// ConfigMaps the noisy neighbour GETs and LISTs.
const NOISY_OBJECTS: usize = 20;
/// ConfigMaps the writer keeps in each watched tenant (older ones are deleted).
const KEEP_PER_TENANT: u64 = 10;
/// How long a step waits out statuses that mean "not propagated yet" (a new tenant's token,
/// a new namespace's RBAC) before it counts as an error.
const SETTLE: Duration = Duration::from_secs(15);
/// Rows of the sample table (the full series is in report.json and samples.csv).
const TABLE_ROWS: usize = 40;

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// How long all activities run together.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Time between samples.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub sample_every: Duration,
    /// Left out of the verdict (caches, pools, allocator arenas fill) [default: 20% of
    /// --duration, at most 2m].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Tenant churn workers, i.e. churned tenants alive at once at most (0: no tenant churn).
    #[arg(long, default_value_t = 2)]
    pub churn_tenants: usize,
    /// ConfigMaps each churned tenant creates.
    #[arg(long, default_value_t = 5)]
    pub churn_configmaps: usize,
    /// Pause of a churn worker between two tenants.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub churn_pause: Duration,
    /// Watches held open (and churned) at any time (0: no watches and no writer).
    #[arg(long, default_value_t = 200)]
    pub watches: usize,
    /// Stable tenants the watches are spread over.
    #[arg(long, default_value_t = 10)]
    pub watch_tenants: usize,
    /// Shortest life of one watch before it is closed and reopened.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub watch_min_life: Duration,
    /// Longest life of one watch.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub watch_max_life: Duration,
    /// Time between two writes (a ConfigMap created, an old one deleted) in the watched tenants.
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    pub write_every: Duration,
    /// Closed-loop workers of the noisy neighbour, its requests in flight (0: no noisy neighbour).
    #[arg(long, default_value_t = 16)]
    pub noisy_concurrency: usize,
    /// The policy vcproxy runs [default: the repository's policies/default.toml].
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Read vcproxy's /metrics only idle (before and after), not at every sample: rendering it
    /// allocates in proportion to its series, so a scraper is part of what RSS shows.
    #[arg(long)]
    pub no_scrape: bool,
}

impl SoakArgs {
    fn warmup(&self) -> Duration {
        self.warmup.unwrap_or_else(|| (self.duration / 5).min(Duration::from_secs(120)))
    }
}

// ---------------------------------------------------------------------------------------------
// Counting what the activities did

/// The activities, in the order of the counters and the report rows.
#[derive(Debug, Clone, Copy)]
enum Act {
    Churn,
    Watch,
    Write,
    Noisy,
}

const ACTS: [Act; 4] = [Act::Churn, Act::Watch, Act::Write, Act::Noisy];

impl Act {
    fn name(self) -> &'static str {
        match self {
            Act::Churn => "tenant churn",
            Act::Watch => "watch churn",
            Act::Write => "watched writes",
            Act::Noisy => "noisy neighbour",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    /// HTTP requests sent, and (churn) `vcproxy tenant` commands run.
    requests: AtomicU64,
    ok: AtomicU64,
    /// 429s: expected for the noisy neighbour only.
    throttled: AtomicU64,
    /// Statuses that mean "not propagated yet", retried within [`SETTLE`].
    retried: AtomicU64,
    /// Any other status: 5xx, an unexpected 4xx, a failed command.
    bad_status: AtomicU64,
    /// The request or the connection failed (no status).
    transport: AtomicU64,
    /// A 2xx whose content was wrong (e.g. a LIST missing objects just created).
    wrong: AtomicU64,
}

/// How a request ended.
enum Outcome<'a> {
    Status(u16),
    Transport(&'a anyhow::Error),
}

/// Shared by every task: the counters, the gauges the sampler reads, the errors seen.
#[derive(Default)]
struct Shared {
    counts: [Counts; 4],
    watches_open: AtomicU64,
    watch_events: AtomicU64,
    /// Watches the server ended before the client closed them, without `timeoutSeconds`.
    watches_ended_early: AtomicU64,
    churn_alive: AtomicU64,
    churn_cycles: AtomicU64,
    /// Unexpected outcomes by "activity: what → status".
    error_kinds: Mutex<BTreeMap<String, u64>>,
    /// The first few unexpected errors in full, for the report.
    first_errors: Mutex<Vec<String>>,
    /// How many messages each kind (the text before its first ':' after the activity) has in
    /// `first_errors`.
    per_kind: Mutex<BTreeMap<String, usize>>,
}

impl Shared {
    fn c(&self, a: Act) -> &Counts {
        &self.counts[a as usize]
    }

    /// Counts one finished request of `a`; `what` names it in the error table. Returns whether it
    /// was a 2xx.
    fn note(&self, a: Act, what: &str, outcome: Outcome) -> bool {
        let c = self.c(a);
        c.requests.fetch_add(1, Ordering::Relaxed);
        let kind = match outcome {
            Outcome::Status(200..=299) => {
                c.ok.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Outcome::Status(429) => {
                c.throttled.fetch_add(1, Ordering::Relaxed);
                if matches!(a, Act::Noisy) {
                    return false;
                }
                "429".to_string()
            }
            Outcome::Status(s) => {
                c.bad_status.fetch_add(1, Ordering::Relaxed);
                s.to_string()
            }
            Outcome::Transport(e) => {
                c.transport.fetch_add(1, Ordering::Relaxed);
                self.first_error(format!("{}: {what}: {e:#}", a.name()));
                "transport error".to_string()
            }
        };
        *self.error_kinds.lock().unwrap().entry(format!("{}: {what} → {kind}", a.name())).or_default() += 1;
        false
    }

    /// Keeps `msg` ("activity: what: details") if its kind has fewer than 3 kept and all kinds
    /// fewer than 30, so that one frequent error does not hide the others.
    fn first_error(&self, msg: String) {
        let kind: String = msg.splitn(3, ':').take(2).collect();
        let mut per_kind = self.per_kind.lock().unwrap();
        let mut v = self.first_errors.lock().unwrap();
        let seen = per_kind.entry(kind).or_default();
        if *seen < 3 && v.len() < 30 {
            *seen += 1;
            eprintln!("bench soak: {msg}");
            v.push(msg);
        }
    }

    fn unexpected(&self) -> u64 {
        ACTS.iter()
            .map(|&a| {
                let c = self.c(a);
                let throttled = if matches!(a, Act::Noisy) { 0 } else { c.throttled.load(Ordering::Relaxed) };
                c.bad_status.load(Ordering::Relaxed)
                    + c.transport.load(Ordering::Relaxed)
                    + c.wrong.load(Ordering::Relaxed)
                    + throttled
            })
            .sum()
    }
}

/// Sends `req` until its status is not one of `transient` or [`SETTLE`] has passed; each
/// transient answer is counted as retried, the last one by [`Shared::note`].
async fn settled<F, Fut>(sh: &Shared, a: Act, what: &str, transient: &[u16], mut req: F) -> Option<Reply>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Reply>>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        match req().await {
            Ok(r) if transient.contains(&r.status.as_u16()) && Instant::now() < deadline => {
                sh.c(a).retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(r) => {
                let ok = sh.note(a, what, Outcome::Status(r.status.as_u16()));
                if !ok {
                    sh.first_error(format!(
                        "{}: {what}: {} {}",
                        a.name(),
                        r.status,
                        r.text().chars().take(300).collect::<String>()
                    ));
                }
                return ok.then_some(r);
            }
            Err(e) => {
                sh.note(a, what, Outcome::Transport(&e));
                return None;
            }
        }
    }
}

/// One tenant's shared HTTP/2 connection, made again after a transport error.
struct Conn {
    url: String,
    ca: PathBuf,
    auth: Auth,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl Conn {
    fn new(proxy: &Vcproxy, token: String) -> Arc<Conn> {
        Arc::new(Conn {
            url: proxy.url().to_string(),
            ca: proxy.ca_file(),
            auth: Auth::Bearer(token),
            client: tokio::sync::Mutex::new(None),
        })
    }

    async fn get(&self) -> anyhow::Result<Client> {
        let mut c = self.client.lock().await;
        if let Some(c) = &*c {
            return Ok(c.clone());
        }
        let new = self.fresh().await?;
        *c = Some(new.clone());
        Ok(new)
    }

    /// A connection of its own (not shared), with the same identity.
    async fn fresh(&self) -> anyhow::Result<Client> {
        Client::connect(&self.url, &self.ca, &self.auth).await
    }

    async fn broken(&self) {
        *self.client.lock().await = None;
    }
}

fn json_body(v: serde_json::Value) -> Option<(Bytes, &'static str)> {
    Some((Bytes::from(v.to_string()), "application/json"))
}

fn configmap(name: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": name}})
}

// ---------------------------------------------------------------------------------------------
// The activities

/// Tenant churn, one worker: create a tenant, use it, delete it, until `end`.
async fn churn_worker(proxy: Arc<Vcproxy>, sh: Arc<Shared>, args: SoakArgs, worker: usize, end: Instant) {
    let mut n = 0usize;
    while Instant::now() < end {
        // Fresh names: a deleted tenant's namespaces are still terminating for a while.
        let name = format!("churn-{worker}-{n}");
        n += 1;
        churn_once(&proxy, &sh, &args, &name).await;
        sh.churn_cycles.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(args.churn_pause).await;
    }
}

async fn churn_once(proxy: &Arc<Vcproxy>, sh: &Arc<Shared>, args: &SoakArgs, name: &str) {
    let Some(yaml) = tenant_cmd(proxy, sh, "create", name).await else {
        // A create that failed half-way may have left the tenant: clean up, uncounted.
        let (p, n) = (proxy.clone(), name.to_string());
        let _ = tokio::task::spawn_blocking(move || p.tenant(&["delete", &n])).await;
        return;
    };
    let token = token_of(&yaml).unwrap_or_default();
    sh.churn_alive.fetch_add(1, Ordering::Relaxed);
    // The tenant's own connection, dropped before the tenant is deleted.
    match Client::connect(proxy.url(), &proxy.ca_file(), &Auth::Bearer(token)).await {
        Ok(client) => use_tenant(sh, args, name, &client).await,
        Err(e) => {
            sh.note(Act::Churn, "connect", Outcome::Transport(&e));
        }
    }
    // Always delete, even after errors, so the count alive stays bounded.
    tenant_cmd(proxy, sh, "delete", name).await;
    sh.churn_alive.fetch_sub(1, Ordering::Relaxed);
}

/// A namespace with ConfigMaps, listed and read back, as the tenant.
async fn use_tenant(sh: &Shared, args: &SoakArgs, name: &str, c: &Client) {
    let base = format!("/clusters/{name}/api/v1");
    // 401 until vcproxy's registry has seen the new tenant (its etcd watch).
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "soak"}});
    let (namespaces, configmaps) = (format!("{base}/namespaces"), format!("{base}/namespaces/soak/configmaps"));
    let created = settled(sh, Act::Churn, "create namespace", &[401], || {
        c.send(Method::POST, &namespaces, json_body(ns.clone()), true)
    })
    .await;
    if created.is_none() {
        return;
    }
    for i in 0..args.churn_configmaps {
        let cm = configmap(&format!("cm-{i}"), json!({"soak": "churn"}));
        // 403/404 until the new namespace's RBAC and ownership have propagated.
        settled(sh, Act::Churn, "create configmap", &[403, 404], || {
            c.send(Method::POST, &configmaps, json_body(cm.clone()), true)
        })
        .await;
    }
    // Only ours: the namespace also has kube-root-ca.crt from the controller-manager.
    let ours = format!("{configmaps}?labelSelector=soak%3Dchurn");
    let list = settled(sh, Act::Churn, "list configmaps", &[], || c.get_body(&ours)).await;
    if let Some(r) = list {
        let items = serde_json::from_slice::<serde_json::Value>(r.body.as_deref().unwrap_or_default())
            .ok()
            .and_then(|v| v["items"].as_array().map(|a| a.len()))
            .unwrap_or(0);
        if items != args.churn_configmaps {
            sh.c(Act::Churn).wrong.fetch_add(1, Ordering::Relaxed);
            sh.first_error(format!(
                "tenant churn: list configmaps: {name} listed {items} of its ConfigMaps, created {}",
                args.churn_configmaps
            ));
            *sh.error_kinds.lock().unwrap().entry("tenant churn: list configmaps → wrong count".into()).or_default() +=
                1;
        }
    }
    settled(sh, Act::Churn, "list namespaces", &[], || c.get(&namespaces)).await;
    let one = format!("{configmaps}/cm-0");
    settled(sh, Act::Churn, "get configmap", &[], || c.get(&one)).await;
}

/// `vcproxy tenant <verb> <name>` (a process, so off the async threads); its stdout on success.
async fn tenant_cmd(proxy: &Arc<Vcproxy>, sh: &Shared, verb: &'static str, name: &str) -> Option<String> {
    let (p, n) = (proxy.clone(), name.to_string());
    let out = tokio::task::spawn_blocking(move || p.tenant(&[verb, &n])).await;
    let what = format!("vcproxy tenant {verb}");
    let c = sh.c(Act::Churn);
    c.requests.fetch_add(1, Ordering::Relaxed);
    match out {
        Ok(o) if o.status.success() => {
            c.ok.fetch_add(1, Ordering::Relaxed);
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        }
        other => {
            c.bad_status.fetch_add(1, Ordering::Relaxed);
            let msg = match other {
                Ok(o) => format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => e.to_string(),
            };
            sh.first_error(format!("tenant churn: {what}: {name}: {msg}"));
            *sh.error_kinds.lock().unwrap().entry(format!("tenant churn: {what} → failed")).or_default() += 1;
            None
        }
    }
}

/// One watch slot: open a watch, read it for a random life, close it, again, until `end`.
async fn watch_slot(
    sh: Arc<Shared>,
    tenants: Arc<Vec<(String, Arc<Conn>)>>,
    args: SoakArgs,
    slot: usize,
    end: Instant,
) {
    let mut rng = Rng::new(1000 + slot as u64);
    // Spread the first opens over a second or two instead of 200 at once.
    tokio::time::sleep(Duration::from_millis(10 * slot as u64)).await;
    let span = args.watch_max_life.saturating_sub(args.watch_min_life).as_secs_f64();
    while Instant::now() < end {
        let (tenant, conn) = &tenants[(rng.next_u64() % tenants.len() as u64) as usize];
        let life = args.watch_min_life + Duration::from_secs_f64(span * rng.unit());
        // Four kinds, so that every way a watch is set up and torn down is exercised.
        let (path, own_conn, server_ends) = match slot % 4 {
            0 => (
                format!("/clusters/{tenant}/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true"),
                false,
                false,
            ),
            1 => {
                let secs = life.as_secs().max(1);
                (format!("/clusters/{tenant}/api/v1/namespaces/default/configmaps?watch=1&labelSelector=w%3D{}&timeoutSeconds={secs}", slot / 4 % 4), false, true)
            }
            2 => (format!("/clusters/{tenant}/api/v1/configmaps?watch=1"), false, false),
            _ => (format!("/clusters/{tenant}/api/v1/namespaces/default/configmaps?watch=1"), true, false),
        };
        let client = if own_conn { conn.fresh().await } else { conn.get().await };
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                sh.note(Act::Watch, "connect", Outcome::Transport(&e));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let opened = tokio::time::timeout(Duration::from_secs(30), client.open(&path)).await;
        let resp = match opened {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                sh.note(Act::Watch, "open", Outcome::Transport(&e));
                if !own_conn {
                    conn.broken().await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => {
                sh.note(Act::Watch, "open", Outcome::Transport(&anyhow::anyhow!("no response headers within 30 s")));
                continue;
            }
        };
        if !sh.note(Act::Watch, "open", Outcome::Status(resp.status().as_u16())) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        sh.watches_open.fetch_add(1, Ordering::Relaxed);
        let mut body = resp.into_body();
        // The server ends `timeoutSeconds` watches itself; allow it some slack.
        let close_at = (Instant::now() + if server_ends { life + Duration::from_secs(10) } else { life }).min(end);
        loop {
            match tokio::time::timeout_at(close_at.into(), body.frame()).await {
                Err(_) => break, // our time to close it: dropping the body resets the stream
                Ok(None) => {
                    if !server_ends && Instant::now() + Duration::from_secs(1) < close_at {
                        sh.watches_ended_early.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                Ok(Some(Ok(frame))) => {
                    if let Some(d) = frame.data_ref() {
                        // One JSON event per line.
                        let events = d.iter().filter(|b| **b == b'\n').count() as u64;
                        sh.watch_events.fetch_add(events, Ordering::Relaxed);
                    }
                }
                Ok(Some(Err(e))) => {
                    sh.note(Act::Watch, "read", Outcome::Transport(&anyhow::Error::new(e)));
                    break;
                }
            }
        }
        drop(body);
        sh.watches_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The writer: ConfigMaps created in the watched tenants, round robin, and old ones deleted.
async fn writer(sh: Arc<Shared>, tenants: Arc<Vec<(String, Arc<Conn>)>>, every: Duration, end: Instant) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let n = tenants.len() as u64;
    let mut seq = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        let (tenant, conn) = &tenants[(seq % n) as usize];
        let base = format!("/clusters/{tenant}/api/v1/namespaces/default/configmaps");
        let Ok(c) = conn.get().await else {
            conn.broken().await;
            continue;
        };
        let cm = configmap(&format!("ev-{seq}"), json!({"w": (seq % 4).to_string()}));
        let r = c.post_json(&base, cm.to_string()).await;
        write_outcome(&sh, conn, "create configmap", r).await;
        // ev-(seq − n·keep) is in the same tenant (same residue mod n).
        if seq >= n * KEEP_PER_TENANT {
            let r = c.send(Method::DELETE, &format!("{base}/ev-{}", seq - n * KEEP_PER_TENANT), None, false).await;
            write_outcome(&sh, conn, "delete configmap", r).await;
        }
        seq += 1;
    }
}

async fn write_outcome(sh: &Shared, conn: &Conn, what: &str, r: anyhow::Result<Reply>) {
    match r {
        Ok(r) => {
            if !sh.note(Act::Write, what, Outcome::Status(r.status.as_u16())) {
                sh.first_error(format!(
                    "watched writes: {what}: {} {}",
                    r.status,
                    r.text().chars().take(300).collect::<String>()
                ));
            }
        }
        Err(e) => {
            sh.note(Act::Write, what, Outcome::Transport(&e));
            conn.broken().await;
        }
    }
}

/// One noisy-neighbour worker: GET or LIST, again at once, until `end`.
async fn noisy_worker(sh: Arc<Shared>, conn: Arc<Conn>, worker: usize, end: Instant) {
    let mut rng = Rng::new(77 + worker as u64);
    while Instant::now() < end {
        let Ok(c) = conn.get().await else {
            conn.broken().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let (what, path) = if rng.next_u64() % 10 < 7 {
            (
                "get",
                format!(
                    "/clusters/noisy/api/v1/namespaces/default/configmaps/cm-{}",
                    rng.next_u64() % NOISY_OBJECTS as u64
                ),
            )
        } else {
            ("list", "/clusters/noisy/api/v1/namespaces/default/configmaps?limit=500".to_string())
        };
        match c.get(&path).await {
            Ok(r) => {
                sh.note(Act::Noisy, what, Outcome::Status(r.status.as_u16()));
            }
            Err(e) => {
                sh.note(Act::Noisy, what, Outcome::Transport(&e));
                conn.broken().await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sampling

#[derive(Debug, Clone, Copy, Default, Serialize)]
struct ProcSample {
    rss_kib: u64,
    fds: u64,
    threads: u64,
}

impl ProcSample {
    fn of(pid: u32) -> anyhow::Result<ProcSample> {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid} is gone"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
        Ok(ProcSample { rss_kib: field("VmRSS:"), fds, threads: field("Threads:") })
    }

    fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

#[derive(Debug, Clone, Serialize)]
struct Sample {
    t_s: f64,
    warmup: bool,
    vcproxy: ProcSample,
    apiserver: ProcSample,
    /// Series on vcproxy's /metrics (lines that are not comments).
    metric_series: Option<u64>,
    /// Namespaces in the apiserver, and how many of them are terminating.
    namespaces: Option<(u64, u64)>,
    /// Cumulative requests per activity (in [`ACTS`] order).
    requests: Vec<u64>,
    /// Cumulative unexpected errors, all activities.
    errors: u64,
    watches_open: u64,
    churn_alive: u64,
    churn_cycles: u64,
}

struct Sampler {
    proxy: Arc<Vcproxy>,
    apiserver_pid: u32,
    admin: Client,
    /// Whether samples during the run read /metrics (idle ones always do).
    scrape: bool,
}

impl Sampler {
    async fn metric_series(&self) -> Option<u64> {
        let p = self.proxy.clone();
        let text = tokio::task::spawn_blocking(move || p.metrics().ok()).await.ok().flatten()?;
        Some(text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count() as u64)
    }

    /// One sample; `idle` ones (before and after the activities) always read /metrics.
    async fn take(&self, sh: &Shared, t_s: f64, warmup: bool, idle: bool) -> anyhow::Result<Sample> {
        if let Some(status) = self.proxy.try_wait() {
            anyhow::bail!("vcproxy exited ({status}) during the soak; its log:\n{}", tail(&self.proxy.log(), 30));
        }
        let vcproxy = ProcSample::of(self.proxy.pid())?;
        let apiserver = ProcSample::of(self.apiserver_pid)?;
        let metric_series = if self.scrape || idle { self.metric_series().await } else { None };
        let namespaces = match self.admin.get_body("/api/v1/namespaces").await {
            Ok(r) if r.status.is_success() => {
                serde_json::from_slice::<serde_json::Value>(r.body.as_deref().unwrap_or_default())
                    .ok()
                    .and_then(|v| v["items"].as_array().cloned())
                    .map(|items| {
                        let terminating = items.iter().filter(|n| n["status"]["phase"] == "Terminating").count();
                        (items.len() as u64, terminating as u64)
                    })
            }
            _ => None,
        };
        Ok(Sample {
            t_s,
            warmup,
            vcproxy,
            apiserver,
            metric_series,
            namespaces,
            requests: ACTS.iter().map(|&a| sh.c(a).requests.load(Ordering::Relaxed)).collect(),
            errors: sh.unexpected(),
            watches_open: sh.watches_open.load(Ordering::Relaxed),
            churn_alive: sh.churn_alive.load(Ordering::Relaxed),
            churn_cycles: sh.churn_cycles.load(Ordering::Relaxed),
        })
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// The run

pub fn run(args: &SoakArgs, out: &Path) -> anyhow::Result<Report> {
    ensure!(args.duration >= Duration::from_secs(30), "--duration must be at least 30s");
    ensure!(args.sample_every >= Duration::from_millis(500), "--sample-every must be at least 500ms");
    ensure!(args.warmup() < args.duration, "--warmup must be shorter than --duration");
    // 0 churn workers, watches or noisy workers switches that activity off (to find which one grows).
    ensure!(args.watch_tenants >= 1, "--watch-tenants must be at least 1");
    ensure!(
        args.watch_min_life <= args.watch_max_life && args.watch_min_life >= Duration::from_secs(1),
        "watch lives: 1s ≤ min ≤ max"
    );
    ensure!(
        args.churn_tenants <= 50 && args.watches <= 5000 && args.noisy_concurrency <= 256,
        "counts are capped (50 churn workers, 5,000 watches, 256 noisy workers)"
    );
    // Per tenant, the watches must stay under the policy's open-watch cap (100 by default).
    ensure!(
        args.watches.div_ceil(args.watch_tenants) <= 90,
        "at most 90 watches per watched tenant: raise --watch-tenants"
    );
    let bin = vcproxy_bin(args.vcproxy.as_deref())?;
    let policy = args
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/default.toml"));
    ensure!(policy.is_file(), "no policy at {}", policy.display());
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    eprintln!("bench soak: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    let opts = VcproxyOptions {
        extra_toml: format!("[policy]\nfile = {:?}\n", policy.display().to_string()),
        ..Default::default()
    };
    let proxy = Arc::new(Vcproxy::start_with(&bin, &cp, opts).context("starting vcproxy")?);

    eprintln!("bench soak: creating {} watched tenants and the noisy neighbour", args.watch_tenants);
    let mut watched = Vec::new();
    for i in 0..args.watch_tenants {
        let name = format!("watched-{i}");
        let token = token_of(&proxy.create_tenant(&name)?)?;
        watched.push((name, Conn::new(&proxy, token)));
    }
    let noisy = Conn::new(&proxy, token_of(&proxy.create_tenant("noisy")?)?);
    for i in 0..NOISY_OBJECTS {
        let out = cp.admin_kubectl(&[
            "-n",
            "noisy--default",
            "create",
            "configmap",
            &format!("cm-{i}"),
            "--from-literal=k=v",
        ]);
        ensure!(out.status.success(), "creating noisy's ConfigMap: {}", String::from_utf8_lossy(&out.stderr));
    }

    let admin =
        Auth::ClientCert { cert: cp.admin_client_cert().to_path_buf(), key: cp.admin_client_key().to_path_buf() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let sampler = Sampler {
            proxy: proxy.clone(),
            apiserver_pid: cp.apiserver_pid(),
            scrape: !args.no_scrape,
            admin: Client::connect(cp.apiserver_url(), cp.ca_file(), &admin).await?,
        };
        soak(args, &proxy, sampler, Arc::new(watched), noisy).await
    });
    // Tasks still running (none should be) are cancelled before the processes stop.
    drop(rt);
    let log = proxy.log();
    drop(proxy);
    cp.stop();
    let run = result?;
    write_files(out, args, &run)?;
    Ok(report(args, &run, &log))
}

/// What the run produced.
struct Run {
    idle_before: Sample,
    samples: Vec<Sample>,
    idle_after: Sample,
    shared: Arc<Shared>,
    elapsed: Duration,
}

async fn soak(
    args: &SoakArgs,
    proxy: &Arc<Vcproxy>,
    sampler: Sampler,
    watched: Arc<Vec<(String, Arc<Conn>)>>,
    noisy: Arc<Conn>,
) -> anyhow::Result<Run> {
    let sh = Arc::new(Shared::default());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_before = sampler.take(&sh, 0.0, true, true).await?;
    let started = Instant::now();
    let end = started + args.duration;
    eprintln!(
        "bench soak: running for {} (warm-up {}), sampling every {}",
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup()),
        humantime::format_duration(args.sample_every)
    );

    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.churn_tenants {
        tasks.spawn(churn_worker(proxy.clone(), sh.clone(), args.clone(), w, end));
    }
    for slot in 0..args.watches {
        tasks.spawn(watch_slot(sh.clone(), watched.clone(), args.clone(), slot, end));
    }
    if args.watches > 0 {
        tasks.spawn(writer(sh.clone(), watched.clone(), args.write_every, end));
    }
    for w in 0..args.noisy_concurrency {
        tasks.spawn(noisy_worker(sh.clone(), noisy.clone(), w, end));
    }

    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(args.sample_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let warmup = args.warmup().as_secs_f64();
    let mut failed = None;
    loop {
        tick.tick().await;
        // A sample at the end would catch the activities closing their connections.
        if Instant::now() + Duration::from_millis(100) >= end {
            break;
        }
        let t = started.elapsed().as_secs_f64();
        match sampler.take(&sh, t, t < warmup, false).await {
            Ok(s) => {
                progress(&s);
                samples.push(s);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        tasks.abort_all();
        return Err(e);
    }

    // Let the activities finish what they are doing (a churn worker deletes its tenant), bounded.
    eprintln!("bench soak: time is up; waiting for the activities to stop");
    let drained =
        tokio::time::timeout(Duration::from_secs(90), async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        sh.first_error("some activities had not stopped 90 s after the end; aborted".into());
        tasks.abort_all();
    }
    let elapsed = started.elapsed();
    // Close every client connection, then look at vcproxy idle again: fds should be back.
    for (_, c) in watched.iter() {
        c.broken().await;
    }
    noisy.broken().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_after = sampler.take(&sh, elapsed.as_secs_f64(), false, true).await?;
    Ok(Run { idle_before, samples, idle_after, shared: sh, elapsed })
}

fn progress(s: &Sample) {
    eprintln!(
        "bench soak: {:>6.0} s{} vcproxy {:.1} MiB {} fds {} thr | apiserver {:.0} MiB {} fds | requests {} errors {} | watches {} | tenants alive {} churned {}",
        s.t_s,
        if s.warmup { " (warm-up)" } else { "" },
        s.vcproxy.rss_mib(),
        s.vcproxy.fds,
        s.vcproxy.threads,
        s.apiserver.rss_mib(),
        s.apiserver.fds,
        s.requests.iter().sum::<u64>(),
        s.errors,
        s.watches_open,
        s.churn_alive,
        s.churn_cycles
    );
}

// ---------------------------------------------------------------------------------------------
// Analysis and the report

/// The after-warm-up behaviour of one measured series.
#[derive(Debug, Clone, Serialize)]
struct Trend {
    what: String,
    unit: &'static str,
    first: f64,
    last: f64,
    min: f64,
    max: f64,
    mean: f64,
    /// Least-squares slope, unit per hour.
    slope_per_h: f64,
    /// slope × the post-warm-up window: how much it grew by the trend.
    growth: f64,
    /// growth allowed: FLAT_FRACTION × mean.
    allowed: f64,
    flat: bool,
}

fn trend(what: &str, unit: &'static str, points: &[(f64, f64)]) -> Option<Trend> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope_per_s = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let window = points.last().unwrap().0 - points[0].0;
    let growth = slope_per_s * window;
    let allowed = FLAT_FRACTION * my;
    Some(Trend {
        what: what.into(),
        unit,
        first: points[0].1,
        last: points.last().unwrap().1,
        min: points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        max: points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        mean: my,
        slope_per_h: slope_per_s * 3600.0,
        growth,
        allowed,
        // Shrinking is flat too; only growth beyond the allowance is not.
        flat: growth <= allowed,
    })
}

fn trends(samples: &[Sample]) -> Vec<Trend> {
    let post: Vec<&Sample> = samples.iter().filter(|s| !s.warmup).collect();
    let series = |f: &dyn Fn(&Sample) -> f64| post.iter().map(|s| (s.t_s, f(s))).collect::<Vec<_>>();
    [
        trend("vcproxy RSS", "MiB", &series(&|s| s.vcproxy.rss_mib())),
        trend("vcproxy open fds", "fds", &series(&|s| s.vcproxy.fds as f64)),
        trend("vcproxy threads", "threads", &series(&|s| s.vcproxy.threads as f64)),
        trend("kube-apiserver RSS", "MiB", &series(&|s| s.apiserver.rss_mib())),
        trend("kube-apiserver open fds", "fds", &series(&|s| s.apiserver.fds as f64)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn mmss(t_s: f64) -> String {
    let t = t_s.round() as u64;
    format!("{}:{:02}", t / 60, t % 60)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn report(args: &SoakArgs, run: &Run, vcproxy_log: &str) -> Report {
    let sh = &run.shared;
    let samples = &run.samples;
    let trends = trends(samples);
    let first_post = samples.iter().position(|s| !s.warmup);

    // Samples: at most TABLE_ROWS evenly spaced, plus the first after warm-up and the last.
    let step = samples.len().div_ceil(TABLE_ROWS).max(1);
    let mut t = Table::new(
        format!(
            "samples every {} (every {}th shown; all in report.json and samples.csv)",
            humantime::format_duration(args.sample_every),
            step
        ),
        &[
            "time",
            "phase",
            "vcproxy MiB",
            "fds",
            "threads",
            "apiserver MiB",
            "fds",
            "metric series",
            "namespaces (terminating)",
            "watches open",
            "tenants churned",
            "requests",
            "errors",
        ],
    );
    let row = |label: &str, phase: &str, s: &Sample| {
        vec![
            label.to_string(),
            phase.to_string(),
            format!("{:.1}", s.vcproxy.rss_mib()),
            s.vcproxy.fds.to_string(),
            s.vcproxy.threads.to_string(),
            format!("{:.0}", s.apiserver.rss_mib()),
            s.apiserver.fds.to_string(),
            opt(s.metric_series),
            s.namespaces.map(|(n, t)| format!("{n} ({t})")).unwrap_or_else(|| "-".into()),
            s.watches_open.to_string(),
            s.churn_cycles.to_string(),
            s.requests.iter().sum::<u64>().to_string(),
            s.errors.to_string(),
        ]
    };
    t.row(row("idle before", "idle", &run.idle_before));
    for (i, s) in samples.iter().enumerate() {
        if i % step == 0 || Some(i) == first_post || i + 1 == samples.len() {
            t.row(row(&mmss(s.t_s), if s.warmup { "warm-up" } else { "soak" }, s));
        }
    }
    t.row(row("idle after", "idle", &run.idle_after));

    let mut v = Table::new(
        format!(
            "after the warm-up ({} of {}): least-squares trend; flat = growth by the trend over the window ≤ {:.0}% of the mean",
            humantime::format_duration(args.warmup()),
            humantime::format_duration(args.duration),
            FLAT_FRACTION * 100.0
        ),
        &["series", "first", "last", "min", "max", "mean", "slope /h", "growth (allowed)", "verdict"],
    );
    for tr in &trends {
        v.row(vec![
            format!("{} ({})", tr.what, tr.unit),
            format!("{:.1}", tr.first),
            format!("{:.1}", tr.last),
            format!("{:.1}", tr.min),
            format!("{:.1}", tr.max),
            format!("{:.1}", tr.mean),
            format!("{:+.1}", tr.slope_per_h),
            format!("{:+.1} ({:.1})", tr.growth, tr.allowed),
            if tr.flat { "flat".into() } else { "GROWING".into() },
        ]);
    }

    let secs = run.elapsed.as_secs_f64().max(1e-9);
    let mut a = Table::new(
        "activities (429s are expected for the noisy neighbour only; retried = waited out propagation)",
        &[
            "activity",
            "requests",
            "req/s",
            "2xx",
            "429",
            "retried",
            "other status",
            "transport errors",
            "wrong answers",
            "what else",
        ],
    );
    for act in ACTS {
        let c = sh.c(act);
        let l = |x: &AtomicU64| x.load(Ordering::Relaxed);
        let extra = match act {
            Act::Churn => format!("{} tenants created and deleted", l(&sh.churn_cycles)),
            Act::Watch => format!(
                "{} events received, {} ended early by the server",
                l(&sh.watch_events),
                l(&sh.watches_ended_early)
            ),
            Act::Write => String::new(),
            Act::Noisy => String::new(),
        };
        a.row(vec![
            act.name().into(),
            l(&c.requests).to_string(),
            format!("{:.1}", l(&c.requests) as f64 / secs),
            l(&c.ok).to_string(),
            l(&c.throttled).to_string(),
            l(&c.retried).to_string(),
            l(&c.bad_status).to_string(),
            l(&c.transport).to_string(),
            l(&c.wrong).to_string(),
            extra,
        ]);
    }

    let kinds = sh.error_kinds.lock().unwrap().clone();
    let mut e = Table::new(
        format!(
            "unexpected outcomes: {} (5xx, transport errors, other statuses, wrong answers, 429s outside the noisy neighbour)",
            sh.unexpected()
        ),
        &["what", "count"],
    );
    for (k, n) in &kinds {
        e.row(vec![k.clone(), n.to_string()]);
    }
    if kinds.is_empty() {
        e.row(vec!["none".into(), "0".into()]);
    }

    let verdict_of = |what: &str| trends.iter().find(|t| t.what == what);
    let (rss, fds) = (verdict_of("vcproxy RSS"), verdict_of("vcproxy open fds"));
    let verdict = match (rss, fds) {
        (Some(r), Some(f)) => format!(
            "vcproxy after warm-up: RSS {:+.1} MiB/h ({:.1}–{:.1} MiB), fds {:+.1}/h ({:.0}–{:.0}): {}; {} unexpected errors",
            r.slope_per_h,
            r.min,
            r.max,
            f.slope_per_h,
            f.min,
            f.max,
            if r.flat && f.flat { "flat" } else { "NOT flat" },
            sh.unexpected()
        ),
        _ => "too few samples after the warm-up for a verdict".into(),
    };
    eprintln!("bench soak: {verdict}");

    let mut notes = vec![
        verdict.clone(),
        format!(
            "Flat means: the least-squares line through the post-warm-up samples rises by at most {:.0}% of their mean over the post-warm-up window. A short run cannot rule out slow growth; a 30-minute run can see a few MiB per hour.",
            FLAT_FRACTION * 100.0
        ),
        "'idle before' is vcproxy after setup with no client connected; 'idle after' is 5 s after every activity stopped and every client connection was closed: fds above 'idle before' then are held by vcproxy itself.".into(),
        "Everything shares the machine's cores: the bench client, vcproxy, kube-apiserver, etcd and kube-controller-manager. The plots are soak.svg (vcproxy) and apiserver.svg, warm-up shaded.".into(),
    ];
    let l = |x: &AtomicU64| x.load(Ordering::Relaxed);
    // Per-tenant metric series that outlive their tenant would show here as growth per tenant churned.
    if let (Some(a), Some(b)) = (run.idle_before.metric_series, run.idle_after.metric_series) {
        let churned = l(&sh.churn_cycles);
        notes.push(format!(
            "vcproxy /metrics series: {a} idle before → {b} idle after{}",
            if churned > 0 {
                format!(
                    " ({:.0} per tenant churned; every churned tenant was deleted)",
                    (b as f64 - a as f64) / churned as f64
                )
            } else {
                String::new()
            }
        ));
    }
    for m in sh.first_errors.lock().unwrap().iter() {
        notes.push(format!("error: {m}"));
    }
    let panics = vcproxy_log.lines().filter(|l| l.contains("panicked")).count();
    if panics > 0 {
        notes.push(format!("vcproxy's log has {panics} lines with 'panicked'"));
    }

    let mut json = serde_json::Map::new();
    json.insert("verdict".into(), json!(verdict));
    json.insert("flat".into(), json!(rss.zip(fds).map(|(r, f)| r.flat && f.flat)));
    json.insert("flat_fraction".into(), json!(FLAT_FRACTION));
    json.insert("trends".into(), json!(trends));
    json.insert(
        "args".into(),
        json!({
            "duration_s": args.duration.as_secs_f64(), "warmup_s": args.warmup().as_secs_f64(), "sample_every_s": args.sample_every.as_secs_f64(),
            "churn_tenants": args.churn_tenants, "churn_configmaps": args.churn_configmaps, "churn_pause_s": args.churn_pause.as_secs_f64(),
            "watches": args.watches, "watch_tenants": args.watch_tenants,
            "watch_life_s": [args.watch_min_life.as_secs_f64(), args.watch_max_life.as_secs_f64()],
            "write_every_s": args.write_every.as_secs_f64(), "noisy_concurrency": args.noisy_concurrency, "scrape_metrics": !args.no_scrape,
        }),
    );
    json.insert(
        "activities".into(),
        json!(ACTS
            .iter()
            .map(|&act| {
                let c = sh.c(act);
                (act.name().to_string(), json!({
                    "requests": l(&c.requests), "ok": l(&c.ok), "rejected_429": l(&c.throttled), "retried": l(&c.retried),
                    "other_status": l(&c.bad_status), "transport_errors": l(&c.transport), "wrong_answers": l(&c.wrong),
                }))
            })
            .collect::<serde_json::Map<_, _>>()),
    );
    json.insert(
        "totals".into(),
        json!({
            "unexpected_errors": sh.unexpected(), "tenants_churned": l(&sh.churn_cycles), "watch_events": l(&sh.watch_events),
            "watches_ended_early": l(&sh.watches_ended_early), "error_kinds": kinds, "vcproxy_log_panics": panics,
        }),
    );
    json.insert("idle_before".into(), json!(run.idle_before));
    json.insert("idle_after".into(), json!(run.idle_after));
    json.insert("samples".into(), json!(samples));
    Report { json, tables: vec![t, v, a, e], notes }
}

/// `soak.svg`, `apiserver.svg` and `samples.csv` in the report directory.
fn write_files(out: &Path, args: &SoakArgs, run: &Run) -> anyhow::Result<()> {
    let s = &run.samples;
    let axis = svg::Axis {
        x_step: args.sample_every.as_secs_f64() / 60.0,
        x_label: "minutes".into(),
        shade_until: s.iter().position(|x| !x.warmup).map(|i| (i, "warm-up".to_string())),
    };
    let col = |f: &dyn Fn(&Sample) -> f64| s.iter().map(f).collect::<Vec<f64>>();
    // Requests per second of each activity between two samples.
    let rates: Vec<(String, Vec<f64>)> = ACTS
        .iter()
        .enumerate()
        .map(|(k, a)| {
            // The first sample is taken as the activities start: no interval to divide by yet.
            let mut v = vec![f64::NAN];
            v.extend(
                s.windows(2).map(|w| (w[1].requests[k] - w[0].requests[k]) as f64 / (w[1].t_s - w[0].t_s).max(1e-3)),
            );
            v.truncate(s.len());
            (a.name().to_string(), v)
        })
        .collect();
    let vc = stack(&[
        svg::line_chart_on("vcproxy RSS", "MiB", &[("VmRSS".into(), col(&|x| x.vcproxy.rss_mib()))], &axis),
        svg::line_chart_on(
            "vcproxy open file descriptors and threads",
            "count",
            &[
                ("open fds".into(), col(&|x| x.vcproxy.fds as f64)),
                ("threads".into(), col(&|x| x.vcproxy.threads as f64)),
            ],
            &axis,
        ),
        svg::line_chart_on("requests per second by activity", "req/s", &rates, &axis),
    ]);
    std::fs::write(out.join("soak.svg"), vc)?;
    let api = stack(&[
        svg::line_chart_on("kube-apiserver RSS", "MiB", &[("VmRSS".into(), col(&|x| x.apiserver.rss_mib()))], &axis),
        svg::line_chart_on(
            "kube-apiserver open file descriptors",
            "count",
            &[("open fds".into(), col(&|x| x.apiserver.fds as f64))],
            &axis,
        ),
    ]);
    std::fs::write(out.join("apiserver.svg"), api)?;

    let mut csv = String::from("t_s,warmup,vcproxy_rss_kib,vcproxy_fds,vcproxy_threads,apiserver_rss_kib,apiserver_fds,metric_series,namespaces,terminating,watches_open,churn_alive,churn_cycles,errors");
    for a in ACTS {
        let _ = write!(csv, ",requests_{}", a.name().replace(' ', "_"));
    }
    csv.push('\n');
    for x in s {
        let (ns, term) = x.namespaces.map(|(n, t)| (n.to_string(), t.to_string())).unwrap_or_default();
        let _ = write!(
            csv,
            "{:.1},{},{},{},{},{},{},{},{ns},{term},{},{},{},{}",
            x.t_s,
            x.warmup,
            x.vcproxy.rss_kib,
            x.vcproxy.fds,
            x.vcproxy.threads,
            x.apiserver.rss_kib,
            x.apiserver.fds,
            opt(x.metric_series),
            x.watches_open,
            x.churn_alive,
            x.churn_cycles,
            x.errors
        );
        for r in &x.requests {
            let _ = write!(csv, ",{r}");
        }
        csv.push('\n');
    }
    std::fs::write(out.join("samples.csv"), csv)?;
    eprintln!("bench soak: wrote soak.svg, apiserver.svg and samples.csv to {}", out.display());
    Ok(())
}

/// Charts from [`svg::line_chart_on`] one above the other in one SVG.
fn stack(charts: &[String]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 360.0; // the height line_chart draws
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" viewBox="0 0 {W} {}">"#,
        H * charts.len() as f64,
        H * charts.len() as f64
    );
    s.push('\n');
    for (i, c) in charts.iter().enumerate() {
        // A nested <svg> is placed by its x/y attributes.
        s += &c.replacen("<svg ", &format!(r#"<svg x="0" y="{}" "#, H * i as f64), 1);
    }
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_of_a_line() {
        // 1 MiB per minute for 10 minutes around 100 MiB: +60/h, growth 10, allowed 5% of ~105.
        let pts: Vec<(f64, f64)> = (0..=10).map(|m| (m as f64 * 60.0, 100.0 + m as f64)).collect();
        let t = trend("x", "MiB", &pts).unwrap();
        assert!((t.slope_per_h - 60.0).abs() < 1e-9);
        assert!((t.growth - 10.0).abs() < 1e-9);
        assert!(!t.flat);
        let flat: Vec<(f64, f64)> = (0..=10).map(|m| (m as f64 * 60.0, 100.0 + (m % 2) as f64)).collect();
        assert!(trend("x", "MiB", &flat).unwrap().flat);
        assert!(trend("x", "MiB", &pts[..2]).is_none());
    }

    #[test]
    fn warmup_default() {
        let mut a = SoakArgs {
            vcproxy: None,
            duration: Duration::from_secs(240),
            sample_every: Duration::from_secs(5),
            warmup: None,
            churn_tenants: 1,
            churn_configmaps: 1,
            churn_pause: Duration::ZERO,
            watches: 1,
            watch_tenants: 1,
            watch_min_life: Duration::from_secs(1),
            watch_max_life: Duration::from_secs(1),
            write_every: Duration::from_secs(1),
            noisy_concurrency: 1,
            policy: None,
            no_scrape: false,
        };
        assert_eq!(a.warmup(), Duration::from_secs(48));
        a.duration = Duration::from_secs(1800);
        assert_eq!(a.warmup(), Duration::from_secs(120));
    }

    #[test]
    fn stacked_svg() {
        let axis = svg::Axis { x_step: 0.5, x_label: "minutes".into(), shade_until: Some((1, "warm-up".into())) };
        let c = svg::line_chart_on("a", "MiB", &[("x".into(), vec![1.0, 2.0, 3.0])], &axis);
        assert!(c.contains("warm-up") && c.contains("minutes"));
        let s = stack(&[c.clone(), c]);
        assert!(s.contains(r#"y="360""#) && s.matches("<svg").count() == 3);
    }
}
