//! `bench watches`: many idle watches on one vcproxy replica, as client-go opens them, and what
//! they cost everyone else (issue 9, "no watch wall").
//!
//! 1. Starts a real control plane and `vcproxy serve` (a policy without rate caps, and an open
//!    watch cap above `--watches-per-tenant`), and creates `--tenants` tenants.
//! 2. A quiet tenant's GET latency alone (`--gets` sequential GETs of one ConfigMap).
//! 3. Every tenant opens one HTTP/2 connection and `--watches-per-tenant` idle watches on it
//!    (ConfigMaps, each with its own label selector so none are alike), all tenants at once.
//!    Reports how many were accepted (200 headers) within `--accept-within`, and how long the
//!    last one took.
//! 4. vcproxy's RSS growth per open watch (VmRSS from /proc before and after, settled).
//! 5. With the watches open: the quiet tenant's GET latency again, and event delivery: one
//!    watch through vcproxy and one straight to kube-apiserver on the same (super) namespace
//!    see the same `--events` ConfigMap creations; the added delivery latency is the
//!    vcproxy-side arrival minus the direct arrival of each event.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use http_body_util::BodyExt;
use serde_json::json;
use vcproxy_testenv::{ControlPlane, Vcproxy, VcproxyOptions};

use crate::client::{Auth, Client};
use crate::cost::NO_CAPS_POLICY;
use crate::measure::{token_of, vcproxy_bin};
use crate::report::{Report, Table};
use crate::stats::Latency;

#[derive(Debug, Clone, Args)]
pub struct WatchesArgs {
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// Tenants, each with one HTTP/2 connection (the goal: 2,000).
    #[arg(long, default_value_t = 200)]
    pub tenants: usize,
    /// Idle watches per tenant connection (client-go: about 10).
    #[arg(long, default_value_t = 10)]
    pub watches_per_tenant: usize,
    /// How long all watches together may take to be accepted.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub accept_within: Duration,
    /// Sequential GETs of the quiet tenant, before and with the watches open.
    #[arg(long, default_value_t = 300)]
    pub gets: usize,
    /// Events whose delivery is timed (via vcproxy vs direct).
    #[arg(long, default_value_t = 100)]
    pub events: usize,
}

pub fn run(args: &WatchesArgs) -> anyhow::Result<Report> {
    ensure!(args.tenants >= 1 && args.watches_per_tenant >= 1 && args.events >= 1 && args.gets >= 1, "counts must be at least 1");
    let bin = vcproxy_bin(args.vcproxy.as_deref())?;
    eprintln!("bench watches: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    let dir = std::env::temp_dir().join(format!("vcproxy-bench-watches-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let policy = dir.join("watches.toml");
    let caps = format!("max_open_watches = {}\n\n[levels.workload]", args.watches_per_tenant + 10);
    std::fs::write(&policy, NO_CAPS_POLICY.replace("SEATS", "16").replacen("\n[levels.workload]", &format!("\n{caps}"), 1))?;
    let opts = VcproxyOptions { extra_toml: format!("[policy]\nfile = {:?}\n", policy.display().to_string()), ..Default::default() };
    let proxy = Vcproxy::start_with(&bin, &cp, opts).context("starting vcproxy")?;

    eprintln!("bench watches: creating {} tenants", args.tenants + 1);
    let quiet_token = token_of(&proxy.create_tenant("quiet")?)?;
    let tokens = create_tenants(&proxy, args.tenants)?;
    let admin = Auth::ClientCert { cert: cp.admin_client_cert().to_path_buf(), key: cp.admin_client_key().to_path_buf() };
    let out = cp.admin_kubectl(&["-n", "quiet--default", "create", "configmap", "probe", "--from-literal=k=v"]);
    ensure!(out.status.success(), "creating the probed ConfigMap: {}", String::from_utf8_lossy(&out.stderr));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let quiet = Client::connect(proxy.url(), &proxy.ca_file(), &Auth::Bearer(quiet_token.clone())).await?;
        let probe = "/clusters/quiet/api/v1/namespaces/default/configmaps/probe";
        let solo = gets(&quiet, probe, args.gets).await?;
        let rss_before = rss_kib(proxy.pid())?;

        eprintln!("bench watches: opening {} watches", args.tenants * args.watches_per_tenant);
        let opened = open_all(&proxy, &tokens, args).await?;
        tokio::time::sleep(Duration::from_secs(3)).await; // let allocations settle
        let rss_after = rss_kib(proxy.pid())?;

        let loaded = gets(&quiet, probe, args.gets).await?;
        let delivery = deliveries(&proxy, &cp, &admin, &quiet_token, args.events).await?;
        let kib_per_watch = (rss_after as f64 - rss_before as f64) / opened.accepted.max(1) as f64;
        drop(opened.streams);
        anyhow::Ok(report(args, &opened.stats, rss_before, rss_after, kib_per_watch, &solo, &loaded, &delivery))
    });
    drop(proxy);
    cp.stop();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn create_tenants(proxy: &Vcproxy, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    // A few at a time: each is a `vcproxy tenant create` process.
    let names: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    let mut out = Vec::with_capacity(n);
    for chunk in names.chunks(4) {
        let made: Vec<anyhow::Result<(String, String)>> = std::thread::scope(|s| {
            let handles: Vec<_> =
                chunk.iter().map(|name| s.spawn(move || Ok((name.clone(), token_of(&proxy.create_tenant(name)?)?)))).collect();
            handles.into_iter().map(|h| h.join().expect("tenant thread")).collect()
        });
        for m in made {
            out.push(m?);
        }
    }
    Ok(out)
}

async fn gets(client: &Client, path: &str, n: usize) -> anyhow::Result<Latency> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let r = client.get(path).await?;
        ensure!(r.status.is_success(), "GET {path}: {}", r.status);
        samples.push(r.total);
    }
    Ok(Latency::of(&samples))
}

struct OpenStats {
    requested: usize,
    accepted: usize,
    refused: HashMap<u16, usize>,
    errors: usize,
    last_accepted_s: f64,
}

struct Opened {
    stats: OpenStats,
    accepted: usize,
    /// The open watches and their connections (dropping them closes them).
    streams: Vec<hyper::body::Incoming>,
    _clients: Vec<Client>,
}

async fn open_all(proxy: &Vcproxy, tokens: &[(String, String)], args: &WatchesArgs) -> anyhow::Result<Opened> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (tenant, token) in tokens.iter().cloned() {
        let (url, ca) = (proxy.url().to_string(), proxy.ca_file());
        let per = args.watches_per_tenant;
        let within = args.accept_within;
        tasks.spawn(async move {
            let client = Client::connect(&url, &ca, &Auth::Bearer(token)).await?;
            let opens = (0..per).map(|i| {
                let client = client.clone();
                let path = format!("/clusters/{tenant}/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&labelSelector=w%3D{i}");
                async move { tokio::time::timeout(within, client.open(&path)).await }
            });
            let results = futures_util::future::join_all(opens).await;
            anyhow::Ok((client, results, started.elapsed()))
        });
    }
    let mut stats = OpenStats { requested: tokens.len() * args.watches_per_tenant, accepted: 0, refused: HashMap::new(), errors: 0, last_accepted_s: 0.0 };
    let mut streams = Vec::new();
    let mut clients = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (client, results, at) = match joined? {
            Ok(x) => x,
            Err(e) => {
                eprintln!("bench watches: a tenant could not connect: {e:#}");
                stats.errors += args.watches_per_tenant;
                continue;
            }
        };
        for r in results {
            match r {
                Ok(Ok(resp)) if resp.status() == 200 => {
                    stats.accepted += 1;
                    stats.last_accepted_s = stats.last_accepted_s.max(at.as_secs_f64());
                    streams.push(resp.into_body());
                }
                Ok(Ok(resp)) => *stats.refused.entry(resp.status().as_u16()).or_default() += 1,
                _ => stats.errors += 1,
            }
        }
        clients.push(client);
    }
    let accepted = stats.accepted;
    Ok(Opened { stats, accepted, streams, _clients: clients })
}

/// Per event: (arrival via vcproxy − arrival direct), in ms.
async fn deliveries(proxy: &Vcproxy, cp: &ControlPlane, admin: &Auth, token: &str, events: usize) -> anyhow::Result<Vec<f64>> {
    let vc = Client::connect(proxy.url(), &proxy.ca_file(), &Auth::Bearer(token.to_string())).await?;
    let direct = Client::connect(cp.apiserver_url(), cp.ca_file(), admin).await?;
    let via = vc.open("/clusters/quiet/api/v1/namespaces/default/configmaps?watch=1&labelSelector=ev%3D1").await?;
    let straight = direct.open("/api/v1/namespaces/quiet--default/configmaps?watch=1&labelSelector=ev%3D1").await?;
    ensure!(via.status() == 200 && straight.status() == 200, "event watches: {} / {}", via.status(), straight.status());
    let arrivals_via = tokio::spawn(arrivals(via.into_body(), events));
    let arrivals_direct = tokio::spawn(arrivals(straight.into_body(), events));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..events {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("ev-{i}"), "labels": {"ev": "1"}}, "data": {"i": i.to_string()}});
        let r = direct.post_json("/api/v1/namespaces/quiet--default/configmaps", cm.to_string()).await?;
        ensure!(r.status.is_success(), "creating ev-{i}: {} {}", r.status, r.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let via = tokio::time::timeout(Duration::from_secs(30), arrivals_via).await.context("events via vcproxy")??;
    let straight = tokio::time::timeout(Duration::from_secs(30), arrivals_direct).await.context("events direct")??;
    Ok((0..events)
        .filter_map(|i| {
            let name = format!("ev-{i}");
            Some((via.get(&name)?.duration_since(*straight.get(&name)?)).as_secs_f64() * 1000.0)
        })
        .collect())
}

/// When each ADDED object's name arrived on a watch stream, until `events` were seen.
async fn arrivals(mut body: hyper::body::Incoming, events: usize) -> HashMap<String, Instant> {
    let mut seen = HashMap::new();
    let mut buf: Vec<u8> = Vec::new();
    while seen.len() < events {
        let Some(Ok(frame)) = body.frame().await else { break };
        let now = Instant::now();
        let Some(data) = frame.data_ref() else { continue };
        buf.extend_from_slice(data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&line) {
                if ev["type"] == "ADDED" {
                    if let Some(name) = ev["object"]["metadata"]["name"].as_str() {
                        seen.entry(name.to_string()).or_insert(now);
                    }
                }
            }
        }
    }
    seen
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &WatchesArgs,
    open: &OpenStats,
    rss_before: u64,
    rss_after: u64,
    kib_per_watch: f64,
    solo: &Latency,
    loaded: &Latency,
    delivery: &[f64],
) -> Report {
    let mut sorted = delivery.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |q| if sorted.is_empty() { f64::NAN } else { crate::stats::percentile_sorted(&sorted, q) };
    let refused: Vec<String> = open.refused.iter().map(|(c, n)| format!("{n}×{c}")).collect();
    let mut t = Table::new(
        format!(
            "{} tenants × {} idle watches (HTTP/2, one connection per tenant) on one vcproxy (goals: 20,000 accepted within 60 s; ≤ 16 KiB RSS per watch; delivery p99 added ≤ 5 ms; quiet GET p99 unchanged)",
            args.tenants, args.watches_per_tenant
        ),
        &["measure", "value"],
    );
    t.row(vec!["watches requested".into(), open.requested.to_string()]);
    t.row(vec![format!("accepted within {:?}", args.accept_within), open.accepted.to_string()]);
    t.row(vec!["refused (count×status) / failed".into(), format!("{} / {}", if refused.is_empty() { "none".into() } else { refused.join(" ") }, open.errors)]);
    t.row(vec!["last accepted after".into(), format!("{:.1} s", open.last_accepted_s)]);
    t.row(vec!["vcproxy RSS before → after".into(), format!("{} → {} MiB", rss_before / 1024, rss_after / 1024)]);
    t.row(vec!["vcproxy RSS per open watch".into(), format!("{kib_per_watch:.1} KiB")]);
    t.row(vec!["quiet GET p50 / p99, alone".into(), format!("{:.2} / {:.2} ms", solo.p50_ms, solo.p99_ms)]);
    t.row(vec!["quiet GET p50 / p99, watches open".into(), format!("{:.2} / {:.2} ms", loaded.p50_ms, loaded.p99_ms)]);
    t.row(vec![
        format!("event delivery added, p50 / p99 ({} events)", sorted.len()),
        format!("{:.2} / {:.2} ms", pct(0.5), pct(0.99)),
    ]);
    let mut json = serde_json::Map::new();
    json.insert(
        "watches".into(),
        json!({
            "tenants": args.tenants, "per_tenant": args.watches_per_tenant,
            "requested": open.requested, "accepted": open.accepted, "errors": open.errors,
            "refused": open.refused.iter().map(|(c, n)| (c.to_string(), *n)).collect::<HashMap<_, _>>(),
            "last_accepted_s": open.last_accepted_s,
            "rss_before_kib": rss_before, "rss_after_kib": rss_after, "rss_kib_per_watch": kib_per_watch,
            "quiet_get_solo": solo, "quiet_get_loaded": loaded,
            "delivery_added_ms": {"count": sorted.len(), "p50": pct(0.5), "p99": pct(0.99)},
        }),
    );
    Report {
        json,
        tables: vec![t],
        notes: vec![
            "Everything shares the machine's cores: the bench client, vcproxy, kube-apiserver, etcd and kube-controller-manager.".into(),
            "Delivery is compared per event against a watch straight to kube-apiserver on the same namespace, so the apiserver's own latency cancels out.".into(),
        ],
    }
}
