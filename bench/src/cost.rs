//! `bench cost`: what a request costs through vcproxy next to the same request sent straight to
//! kube-apiserver, measured by an independent load tool (h2load) in one run.
//!
//! 1. Starts a real etcd + kube-apiserver + kube-controller-manager and `vcproxy serve` with a
//!    policy without rate caps (so the figures measure the data path, not the policy), creates
//!    tenant `cost` with `--objects` ConfigMaps in its `default` namespace, and a ServiceAccount
//!    token with `view` on the super namespace for the direct side (as a client of the
//!    apiserver would authenticate).
//! 2. Four cases: GET one ConfigMap and LIST the namespace, each at low load (one connection,
//!    one stream, `--low-requests` requests) and at saturation (`--connections` ×
//!    `--streams`, for `--duration`). Each case runs `--rounds` times, alternating direct and
//!    vcproxy, with h2load (`nghttp2-client`) as the client; per-request durations come from
//!    h2load's `--log-file`, CPU time of vcproxy, kube-apiserver and etcd from
//!    `/proc/<pid>/stat` before and after each run.
//! 3. Prints, per case: req/s, p50/p99, CPU-seconds per 1,000 requests of each process, and the
//!    ratios the data-path goals are stated in (throughput via vcproxy ÷ direct, added p50,
//!    vcproxy CPU ÷ the apiserver's CPU per request).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use clap::Args;
use serde::Serialize;
use serde_json::json;
use vcproxy_testenv::{ControlPlane, Vcproxy, VcproxyOptions};

use crate::measure::{cpu_ticks, ticks_per_second, token_of, vcproxy_bin, Target};
use crate::report::{Report, Table};
use crate::stats::percentile_sorted;

const TENANT: &str = "cost";

#[derive(Debug, Clone, Args)]
pub struct CostArgs {
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// ConfigMaps in the listed namespace.
    #[arg(long, default_value_t = 20)]
    pub objects: usize,
    /// Requests per low-load run (one connection, one stream).
    #[arg(long, default_value_t = 1000)]
    pub low_requests: usize,
    /// Connections at saturation.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Concurrent streams per connection at saturation.
    #[arg(long, default_value_t = 16)]
    pub streams: usize,
    /// Length of one saturation run.
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Upstream seats of vcproxy's priority level (the default policy's 16).
    #[arg(long, default_value_t = 16)]
    pub seats: usize,
    /// Runs per case and target, alternating direct and vcproxy.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Load {
    Low,
    Saturation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum Op {
    Get,
    List,
}

/// CPU clock ticks of the processes under test.
#[derive(Debug, Clone, Copy, Default)]
struct Ticks {
    vcproxy: u64,
    apiserver: u64,
    etcd: u64,
}

#[derive(Debug, Default, Serialize)]
struct CaseResult {
    op: Option<Op>,
    load: Option<Load>,
    target: Option<Target>,
    ok: usize,
    failed: usize,
    seconds: f64,
    req_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU-seconds per 1,000 successful requests.
    vcproxy_cpu_s_per_1000: f64,
    apiserver_cpu_s_per_1000: f64,
    etcd_cpu_s_per_1000: f64,
}

struct Pids {
    vcproxy: u32,
    apiserver: u32,
    etcd: u32,
}

pub fn run(args: &CostArgs) -> anyhow::Result<Report> {
    ensure!(args.rounds >= 1 && args.low_requests >= 1 && args.objects >= 1, "counts must be at least 1");
    let h2load = which("h2load").context("h2load not found: install Debian's nghttp2-client (make bench does)")?;
    let bin = vcproxy_bin(args.vcproxy.as_deref())?;
    eprintln!("bench cost: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    let dir = tempfile_dir()?;
    let policy = dir.join("no-caps.toml");
    std::fs::write(&policy, NO_CAPS_POLICY.replace("SEATS", &args.seats.to_string()))?;
    let opts = VcproxyOptions { extra_toml: format!("[policy]\nfile = {:?}\n", policy.display().to_string()), ..Default::default() };
    let proxy = Vcproxy::start_with(&bin, &cp, opts).context("starting vcproxy")?;
    let kubeconfig = proxy.create_tenant(TENANT)?;
    let tenant_token = token_of(&kubeconfig)?;
    let super_ns = format!("{TENANT}--default");
    let direct_token = setup_objects(&cp, &super_ns, args.objects, &dir)?;
    let pids = Pids { vcproxy: proxy.pid(), apiserver: cp.apiserver_pid(), etcd: cp.etcd_pid() };

    let mut results: Vec<CaseResult> = Vec::new();
    for op in [Op::Get, Op::List] {
        let (direct_path, vc_path) = match op {
            Op::Get => (format!("/api/v1/namespaces/{super_ns}/configmaps/cm-0"), "/api/v1/namespaces/default/configmaps/cm-0".to_string()),
            Op::List => (format!("/api/v1/namespaces/{super_ns}/configmaps?limit=500"), "/api/v1/namespaces/default/configmaps?limit=500".to_string()),
        };
        let direct_url = format!("{}{direct_path}", cp.apiserver_url());
        let vc_url = format!("{}/clusters/{TENANT}{vc_path}", proxy.url());
        for load in [Load::Low, Load::Saturation] {
            // Unrecorded warm-up on both sides (connections, caches, learned LIST widths).
            for (url, token) in [(&direct_url, &direct_token), (&vc_url, &tenant_token)] {
                h2load_run(&h2load, url, token, Load::Low, 200, args, &dir, &pids)?;
            }
            let mut direct = Vec::new();
            let mut via = Vec::new();
            for round in 0..args.rounds {
                // Alternate which side goes first, so drift (other load, caches) hits both alike.
                let order = if round % 2 == 0 { [Target::Direct, Target::Vcproxy] } else { [Target::Vcproxy, Target::Direct] };
                for target in order {
                    let (url, token, acc) = match target {
                        Target::Direct => (&direct_url, &direct_token, &mut direct),
                        Target::Vcproxy => (&vc_url, &tenant_token, &mut via),
                    };
                    acc.push(h2load_run(&h2load, url, token, load, args.low_requests, args, &dir, &pids)?);
                }
            }
            for (target, runs) in [(Target::Direct, direct), (Target::Vcproxy, via)] {
                let r = combine(op, load, target, runs);
                eprintln!(
                    "bench cost: {op:?} {load:?} {target:?}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, cpu-s/1000: vcproxy {:.3} apiserver {:.3} etcd {:.3}",
                    r.req_per_s, r.p50_ms, r.p99_ms, r.vcproxy_cpu_s_per_1000, r.apiserver_cpu_s_per_1000, r.etcd_cpu_s_per_1000
                );
                results.push(r);
            }
        }
    }
    drop(proxy);
    cp.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report(args, &results))
}

/// One h2load run; returns per-request durations (seconds) of the 2xx answers and the CPU used.
struct Run {
    durations: Vec<f64>,
    ok: usize,
    failed: usize,
    seconds: f64,
    cpu: Ticks,
}

#[allow(clippy::too_many_arguments)]
fn h2load_run(h2load: &Path, url: &str, token: &str, load: Load, requests: usize, args: &CostArgs, dir: &Path, pids: &Pids) -> anyhow::Result<Run> {
    let log = dir.join("h2load.log");
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(h2load);
    cmd.arg("--log-file").arg(&log).arg("-H").arg(format!("Authorization: Bearer {token}")).arg("-H").arg("Accept: application/json");
    match load {
        Load::Low => cmd.args(["-c", "1", "-m", "1", "-n", &requests.to_string()]),
        Load::Saturation => cmd.args([
            "-c",
            &args.connections.to_string(),
            "-m",
            &args.streams.to_string(),
            "-D",
            &args.duration.as_secs().max(1).to_string(),
        ]),
    };
    cmd.arg(url);
    let before = ticks(pids)?;
    let started = std::time::Instant::now();
    let out = vcproxy_testenv::process::output(cmd).context("running h2load")?;
    let seconds = started.elapsed().as_secs_f64();
    let after = ticks(pids)?;
    if !out.status.success() {
        bail!("h2load failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    let text = std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let (mut ok, mut failed, mut durations) = (0, 0, Vec::new());
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(status), Some(us)) = (cols.get(1).and_then(|s| s.parse::<u16>().ok()), cols.get(2).and_then(|s| s.parse::<f64>().ok())) else { continue };
        if (200..300).contains(&status) {
            ok += 1;
            durations.push(us / 1e6);
        } else {
            failed += 1;
        }
    }
    let cpu = Ticks { vcproxy: after.vcproxy - before.vcproxy, apiserver: after.apiserver - before.apiserver, etcd: after.etcd - before.etcd };
    Ok(Run { durations, ok, failed, seconds, cpu })
}

fn combine(op: Op, load: Load, target: Target, runs: Vec<Run>) -> CaseResult {
    let hz = ticks_per_second();
    let mut all: Vec<f64> = runs.iter().flat_map(|r| r.durations.iter().copied()).collect();
    all.sort_by(f64::total_cmp);
    let ok: usize = runs.iter().map(|r| r.ok).sum();
    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    let per_1000 = |ticks: u64| if ok == 0 { 0.0 } else { ticks as f64 / hz / ok as f64 * 1000.0 };
    let sum = |f: fn(&Ticks) -> u64| runs.iter().map(|r| f(&r.cpu)).sum::<u64>();
    CaseResult {
        op: Some(op),
        load: Some(load),
        target: Some(target),
        ok,
        failed: runs.iter().map(|r| r.failed).sum(),
        seconds,
        req_per_s: ok as f64 / seconds.max(1e-9),
        p50_ms: percentile_sorted(&all, 0.50) * 1000.0,
        p99_ms: percentile_sorted(&all, 0.99) * 1000.0,
        vcproxy_cpu_s_per_1000: per_1000(sum(|t| t.vcproxy)),
        apiserver_cpu_s_per_1000: per_1000(sum(|t| t.apiserver)),
        etcd_cpu_s_per_1000: per_1000(sum(|t| t.etcd)),
    }
}

fn report(args: &CostArgs, results: &[CaseResult]) -> Report {
    let mut t = Table::new(
        format!("GET one ConfigMap and LIST {} (h2load; low = 1 connection × 1 stream, saturation = {} × {})", args.objects, args.connections, args.streams),
        &["request", "load", "target", "ok", "failed", "req/s", "p50 ms", "p99 ms", "cpu-s/1000 vcproxy", "apiserver", "etcd"],
    );
    for r in results {
        t.row(vec![
            format!("{:?}", r.op.unwrap()).to_uppercase(),
            format!("{:?}", r.load.unwrap()).to_lowercase(),
            format!("{:?}", r.target.unwrap()).to_lowercase(),
            r.ok.to_string(),
            r.failed.to_string(),
            format!("{:.0}", r.req_per_s),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p99_ms),
            format!("{:.3}", r.vcproxy_cpu_s_per_1000),
            format!("{:.3}", r.apiserver_cpu_s_per_1000),
            format!("{:.3}", r.etcd_cpu_s_per_1000),
        ]);
    }
    let mut goals = Table::new(
        "vcproxy vs direct (goals: req/s × ≥ 0.9; p50 added ≤ 10% at low load; vcproxy CPU ≤ 0.15 × apiserver CPU per request)",
        &["request", "load", "req/s ×", "p50 added", "p99 ×", "vcproxy cpu ÷ apiserver cpu", "apiserver cpu via ÷ direct"],
    );
    let mut ratios = Vec::new();
    for op in [Op::Get, Op::List] {
        for load in [Load::Low, Load::Saturation] {
            let find = |target| results.iter().find(|r| r.op == Some(op) && r.load == Some(load) && r.target == Some(target));
            let (Some(d), Some(v)) = (find(Target::Direct), find(Target::Vcproxy)) else { continue };
            let div = |a: f64, b: f64| a / b.max(1e-9);
            let row = json!({
                "op": op, "load": load,
                "throughput_ratio": div(v.req_per_s, d.req_per_s),
                "p50_added_fraction": div(v.p50_ms - d.p50_ms, d.p50_ms),
                "p99_ratio": div(v.p99_ms, d.p99_ms),
                "vcproxy_cpu_per_apiserver_cpu": div(v.vcproxy_cpu_s_per_1000, v.apiserver_cpu_s_per_1000),
                "apiserver_cpu_via_per_direct": div(v.apiserver_cpu_s_per_1000, d.apiserver_cpu_s_per_1000),
            });
            goals.row(vec![
                format!("{op:?}").to_uppercase(),
                format!("{load:?}").to_lowercase(),
                format!("{:.2}", row["throughput_ratio"].as_f64().unwrap()),
                format!("{:+.0}%", row["p50_added_fraction"].as_f64().unwrap() * 100.0),
                format!("{:.2}", row["p99_ratio"].as_f64().unwrap()),
                format!("{:.2}", row["vcproxy_cpu_per_apiserver_cpu"].as_f64().unwrap()),
                format!("{:.2}", row["apiserver_cpu_via_per_direct"].as_f64().unwrap()),
            ]);
            ratios.push(row);
        }
    }
    let mut json = serde_json::Map::new();
    json.insert("cases".into(), serde_json::to_value(results).unwrap_or_default());
    json.insert("ratios".into(), json!(ratios));
    Report {
        json,
        tables: vec![t, goals],
        notes: vec![
            "Everything shares the machine's cores: h2load, vcproxy, kube-apiserver, etcd and kube-controller-manager.".into(),
            "Direct requests authenticate with a ServiceAccount token; through vcproxy the tenant's bearer token, and vcproxy reaches the apiserver with its client certificate plus impersonation headers (the apiserver's extra work for those shows in 'apiserver cpu via ÷ direct').".into(),
        ],
    }
}

/// Creates the measured ConfigMaps in the super namespace and returns a token that may read them.
fn setup_objects(cp: &ControlPlane, super_ns: &str, objects: usize, dir: &Path) -> anyhow::Result<String> {
    let items: Vec<_> = (0..objects)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": super_ns}, "data": {"key": format!("value-{i}"), "more": "x".repeat(200)}}))
        .collect();
    let file = dir.join("configmaps.json");
    std::fs::write(&file, serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": items}))?)?;
    let admin = |args: &[&str]| -> anyhow::Result<String> {
        let out = cp.admin_kubectl(args);
        if !out.status.success() {
            bail!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    admin(&["apply", "-f", &file.display().to_string()])?;
    admin(&["-n", super_ns, "create", "serviceaccount", "bench-direct"])?;
    admin(&["-n", super_ns, "create", "rolebinding", "bench-direct", "--clusterrole=view", &format!("--serviceaccount={super_ns}:bench-direct")])?;
    admin(&["-n", super_ns, "create", "token", "bench-direct", "--duration=2h"])
}

fn ticks(p: &Pids) -> anyhow::Result<Ticks> {
    Ok(Ticks { vcproxy: cpu_ticks(p.vcproxy)?, apiserver: cpu_ticks(p.apiserver)?, etcd: cpu_ticks(p.etcd)? })
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("vcproxy-bench-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The default policy (`--seats` seats) without rate caps or tight queues: the bench measures
/// the data path, not the policy.
pub(crate) const NO_CAPS_POLICY: &str = r#"
[defaults]
level = "workload"
weight = 1.0
requests_per_second = 1000000
burst = 1000000

[levels.workload]
seats = SEATS
queue_length = 10000
queued_work = 100000
default_service_seconds = 0.05

[rate_limits]
global_requests_per_second = 10000000
global_burst = 10000000
"#;
