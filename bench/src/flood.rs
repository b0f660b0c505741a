//! `bench flood`: what an h2load flood against one tenant costs the others (issue 9, goal 4).
//!
//! 1. Starts a real etcd + kube-apiserver + kube-controller-manager and `vcproxy serve` with
//!    the shipped policy (`policies/default.toml`: rate caps on, as an operator runs it), and
//!    tenants `noisy`, `quiet-a`, `quiet-b`, each with one ConfigMap in `default`.
//! 2. Baseline: the quiet tenants alone, each GETting its ConfigMap `--quiet-rate` times a
//!    second (open loop, its own HTTP/2 connection) for `--duration`.
//! 3. Flood: the same, while h2load (an independent load tool) sends GETs as `noisy` at full
//!    speed over `--connections` × `--streams` for `--duration`.
//! 4. Prints the quiet tenants' p50/p99 in both phases and their ratio, their 429s, what
//!    the flood got (2xx, 429, other), and the CPU-seconds vcproxy and kube-apiserver spent in
//!    each phase (from /proc).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use serde_json::json;
use vcproxy_testenv::{ControlPlane, Vcproxy, VcproxyOptions};

use crate::client::{Auth, Client};
use crate::measure::{cpu_ticks, ticks_per_second, token_of, vcproxy_bin};
use crate::report::{Report, Table};
use crate::stats::Latency;

const QUIET: [&str; 2] = ["quiet-a", "quiet-b"];

#[derive(Debug, Clone, Args)]
pub struct FloodArgs {
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// Length of each phase (baseline, flood).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// GETs per second of each quiet tenant.
    #[arg(long, default_value_t = 5.0)]
    pub quiet_rate: f64,
    /// h2load connections of the flood.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// h2load concurrent streams per connection.
    #[arg(long, default_value_t = 32)]
    pub streams: usize,
    /// The policy vcproxy runs [default: the repository's policies/default.toml].
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

/// One phase's outcome for the quiet tenants and the processes' CPU.
struct Phase {
    quiet: Latency,
    quiet_ok: usize,
    quiet_429: usize,
    quiet_other: usize,
    vcproxy_cpu_s: f64,
    apiserver_cpu_s: f64,
}

pub fn run(args: &FloodArgs) -> anyhow::Result<Report> {
    ensure!(args.quiet_rate > 0.0 && args.connections >= 1 && args.streams >= 1, "rates and counts must be positive");
    let h2load = crate::cost::which("h2load").context("h2load not found: install Debian's nghttp2-client (make bench does)")?;
    let bin = vcproxy_bin(args.vcproxy.as_deref())?;
    let policy = args.policy.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/default.toml"));
    ensure!(policy.is_file(), "no policy at {}", policy.display());
    eprintln!("bench flood: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    let opts = VcproxyOptions { extra_toml: format!("[policy]\nfile = {:?}\n", policy.display().to_string()), ..Default::default() };
    let proxy = Vcproxy::start_with(&bin, &cp, opts).context("starting vcproxy")?;
    let mut tokens = Vec::new();
    for t in ["noisy"].iter().chain(QUIET.iter()) {
        tokens.push(token_of(&proxy.create_tenant(t)?)?);
        let out = cp.admin_kubectl(&["-n", &format!("{t}--default"), "create", "configmap", "probe", "--from-literal=k=v"]);
        ensure!(out.status.success(), "creating {t}'s ConfigMap: {}", String::from_utf8_lossy(&out.stderr));
    }
    let pids = [proxy.pid(), cp.apiserver_pid()];

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let result = rt.block_on(async {
        let mut clients = Vec::new();
        for (t, token) in QUIET.iter().zip(&tokens[1..]) {
            let c = Client::connect(proxy.url(), &proxy.ca_file(), &Auth::Bearer(token.clone())).await?;
            clients.push((format!("/clusters/{t}/api/v1/namespaces/default/configmaps/probe"), c));
        }
        // Warm-up: connections, the ownership cache.
        for (path, c) in &clients {
            for _ in 0..20 {
                c.get(path).await?;
            }
        }
        eprintln!("bench flood: baseline, quiet tenants alone for {:?}", args.duration);
        let baseline = phase(&clients, args, pids).await?;

        eprintln!("bench flood: h2load {}×{} against noisy, quiet tenants as before, for {:?}", args.connections, args.streams, args.duration);
        let log = std::env::temp_dir().join(format!("vcproxy-bench-flood-{}.log", std::process::id()));
        let url = format!("{}/clusters/noisy/api/v1/namespaces/default/configmaps/probe", proxy.url());
        let mut cmd = Command::new(&h2load);
        cmd.arg("--log-file")
            .arg(&log)
            .args(["-H", &format!("Authorization: Bearer {}", tokens[0]), "-H", "Accept: application/json"])
            .args(["-c", &args.connections.to_string(), "-m", &args.streams.to_string()])
            .args(["-D", &args.duration.as_secs().max(1).to_string(), &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Through the test environment's spawner: h2load dies with the bench.
        let mut flood = vcproxy_testenv::process::spawn(cmd).context("starting h2load")?;
        tokio::time::sleep(Duration::from_secs(1)).await; // h2load connects
        let loaded = phase(&clients, args, pids).await?;
        let status = tokio::task::spawn_blocking(move || flood.wait()).await??;
        ensure!(status.success(), "h2load failed: {status}");
        let counts = status_counts(&std::fs::read_to_string(&log).context("reading h2load's log")?);
        let _ = std::fs::remove_file(&log);
        anyhow::Ok(report(args, &baseline, &loaded, counts))
    });
    drop(proxy);
    cp.stop();
    result
}

/// The quiet tenants' open-loop GETs for one phase, with the CPU the processes spent meanwhile.
async fn phase(clients: &[(String, Client)], args: &FloodArgs, pids: [u32; 2]) -> anyhow::Result<Phase> {
    let before = pids.map(cpu_seconds);
    let interval = Duration::from_secs_f64(1.0 / args.quiet_rate);
    let end = Instant::now() + args.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (path, client) in clients {
        let (path, client) = (path.clone(), client.clone());
        tasks.spawn(async move {
            let mut requests = tokio::task::JoinSet::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while Instant::now() < end {
                tick.tick().await;
                let (path, client) = (path.clone(), client.clone());
                // Open loop: each GET on its own task, so a slow answer does not delay the next.
                requests.spawn(async move { client.get(&path).await.map(|r| (r.status.as_u16(), r.total)) });
            }
            let mut out = Vec::new();
            while let Some(r) = requests.join_next().await {
                out.push(r?);
            }
            anyhow::Ok(out)
        });
    }
    let (mut samples, mut ok, mut refused, mut other) = (Vec::new(), 0, 0, 0);
    while let Some(r) = tasks.join_next().await {
        for r in r?? {
            match r {
                Ok((200, t)) => {
                    ok += 1;
                    samples.push(t);
                }
                Ok((429, _)) => refused += 1,
                // Another status, or the request failed (connection error): both count against the goal.
                _ => other += 1,
            }
        }
    }
    let after = pids.map(cpu_seconds);
    Ok(Phase {
        quiet: Latency::of(&samples),
        quiet_ok: ok,
        quiet_429: refused,
        quiet_other: other,
        vcproxy_cpu_s: after[0] - before[0],
        apiserver_cpu_s: after[1] - before[1],
    })
}

/// (2xx, 429, other) among the responses in h2load's `--log-file`.
fn status_counts(log: &str) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for status in log.lines().filter_map(|l| l.split('\t').nth(1)?.parse::<u16>().ok()) {
        match status {
            200..=299 => c.0 += 1,
            429 => c.1 += 1,
            _ => c.2 += 1,
        }
    }
    c
}

fn cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid).unwrap_or(0) as f64 / ticks_per_second()
}

fn report(args: &FloodArgs, baseline: &Phase, loaded: &Phase, (flood_ok, flood_429, flood_other): (usize, usize, usize)) -> Report {
    let ratio = loaded.quiet.p99_ms / baseline.quiet.p99_ms.max(1e-9);
    let secs = args.duration.as_secs_f64();
    let mut t = Table::new(
        format!(
            "quiet tenants ({} × {} GET/s) alone, then beside h2load {}×{} against tenant noisy (goal: quiet p99 ≤ 1.5 × alone, 0 quiet 429s)",
            QUIET.len(),
            args.quiet_rate,
            args.connections,
            args.streams
        ),
        &["phase", "quiet ok", "quiet 429", "quiet other", "quiet p50 ms", "quiet p99 ms", "vcproxy cpu-s", "apiserver cpu-s"],
    );
    for (name, p) in [("alone", baseline), ("flood", loaded)] {
        t.row(vec![
            name.into(),
            p.quiet_ok.to_string(),
            p.quiet_429.to_string(),
            p.quiet_other.to_string(),
            format!("{:.2}", p.quiet.p50_ms),
            format!("{:.2}", p.quiet.p99_ms),
            format!("{:.2}", p.vcproxy_cpu_s),
            format!("{:.2}", p.apiserver_cpu_s),
        ]);
    }
    let mut g = Table::new("the flood and the goal", &["measure", "value"]);
    g.row(vec!["quiet p99 flood ÷ alone [≤ 1.5]".into(), format!("{ratio:.2}")]);
    g.row(vec!["quiet 429s during the flood [0]".into(), loaded.quiet_429.to_string()]);
    g.row(vec!["flood 2xx / 429 / other per second".into(), format!("{:.0} / {:.0} / {:.0}", flood_ok as f64 / secs, flood_429 as f64 / secs, flood_other as f64 / secs)]);
    let mut json = serde_json::Map::new();
    json.insert(
        "phases".into(),
        json!({
            "alone": {"quiet": baseline.quiet, "quiet_429": baseline.quiet_429, "vcproxy_cpu_s": baseline.vcproxy_cpu_s, "apiserver_cpu_s": baseline.apiserver_cpu_s},
            "flood": {"quiet": loaded.quiet, "quiet_429": loaded.quiet_429, "vcproxy_cpu_s": loaded.vcproxy_cpu_s, "apiserver_cpu_s": loaded.apiserver_cpu_s},
        }),
    );
    json.insert("quiet_p99_ratio".into(), json!(ratio));
    json.insert("flood".into(), json!({"ok": flood_ok, "rejected_429": flood_429, "other": flood_other}));
    Report {
        json,
        tables: vec![t, g],
        notes: vec![
            "Everything shares the machine's cores: h2load, the quiet clients, vcproxy, kube-apiserver, etcd and kube-controller-manager.".into(),
            "The policy is the shipped one (per-tenant rate cap 100/s, burst 200): most of the flood is refused, and refusals past 50/s per tenant are held 1 s.".into(),
        ],
    }
}
