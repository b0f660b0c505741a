//! `bench run SCENARIO`: the load-test harness. Simulated tenants load vcproxy (weighted fair
//! queuing per tenant) and/or kube-apiserver directly with API Priority and Fairness configured
//! one priority level per tenant, on the same load, and the run reports per-tenant throughput,
//! latency and 429s, Jain's fairness index and the weighted share error, with SVG plots.
//!
//! Layout: [`scenario`] (the tenants and their load), [`targets`] (vcproxy / apf-direct setup),
//! [`load`] (the open/closed-loop driver), [`analysis`] (the numbers), [`svg`] (plots),
//! [`h2`] (the HTTP/2 client).

pub mod analysis;
pub mod h2;
pub mod load;
pub mod scenario;
pub mod svg;
pub mod targets;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Map, Value};
use vcproxy_testenv::ControlPlane;

use crate::report::{self, Report, RunInfo, Table};
use analysis::TenantStats;
use load::{Loader, PhaseResult};
use scenario::{Scenario, TenantLoad};
use targets::TargetKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    Vcproxy,
    ApfDirect,
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// noisy-neighbour | weighted-shares | list-storm | slow-readers | watch-storm
    pub scenario: String,
    /// What to load: vcproxy in front of the apiserver, the apiserver directly with APF one
    /// priority level per tenant, or both back to back on the same load.
    #[arg(long, value_enum, default_value = "vcproxy")]
    pub target: TargetArg,
    /// Length of the measured phase (e.g. 30s).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Length of the baseline phase (quiet tenants alone) where the scenario has one
    /// [default: --duration].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub baseline: Option<Duration>,
    /// The start of each phase left out of the figures (the plots show it).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Output directory [default: bench/reports/run-<scenario>-<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The vcproxy binary [default: $VCPROXY_BIN, else target/release/vcproxy].
    #[arg(long)]
    pub vcproxy: Option<PathBuf>,
    /// vcproxy: upstream seats of the scenario's priority level.
    #[arg(long, default_value_t = 8)]
    pub seats: u32,
    /// vcproxy and APF: queued requests per tenant.
    #[arg(long, default_value_t = 50)]
    pub queue_length: u32,
    /// apf-direct: nominalConcurrencyShares of the lightest tenant (the others by weight).
    #[arg(long, default_value_t = 1)]
    pub apf_min_shares: u32,
    /// vcproxy: replicas behind HAProxy sharing the policy's seats (each tenant opens at least
    /// this many connections, so the balancer spreads every tenant over every replica).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Multiplies every open-loop rate and closed-loop worker count of the scenario.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

/// One target's measured run.
struct TargetRun {
    kind: TargetKind,
    stats: Vec<TenantStats>,
    baseline: Vec<TenantStats>,
    jain: f64,
    share_error: f64,
    backlogged: Vec<String>,
    quiet_p99: f64,
    quiet_baseline_p99: f64,
    quiet_429: u64,
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let sc = scenario::scenario(&args.scenario, args.scale)?;
    anyhow::ensure!(
        args.duration > args.warmup + Duration::from_secs(1),
        "--duration must exceed --warmup by at least 1s"
    );
    anyhow::ensure!(args.duration <= Duration::from_secs(600), "--duration is capped at 10m");
    let info = RunInfo::new("run");
    let out = args.out.clone().unwrap_or_else(|| {
        let d = info.default_out_dir();
        d.with_file_name(format!(
            "run-{}-{}",
            sc.name,
            d.file_name().unwrap().to_string_lossy().trim_start_matches("run-")
        ))
    });
    std::fs::create_dir_all(&out)?;
    let kinds: Vec<TargetKind> = match args.target {
        TargetArg::Vcproxy => vec![TargetKind::Vcproxy],
        TargetArg::ApfDirect => vec![TargetKind::ApfDirect],
        TargetArg::Both => vec![TargetKind::Vcproxy, TargetKind::ApfDirect],
    };
    let bin =
        if kinds.contains(&TargetKind::Vcproxy) { Some(targets::vcproxy_bin(args.vcproxy.as_deref())?) } else { None };
    eprintln!("bench run {}: {}", sc.name, sc.description);
    eprintln!("bench run: starting etcd, kube-apiserver and kube-controller-manager");
    let cp = ControlPlane::start().context("starting the control plane")?;
    eprintln!("bench run: control plane ready in {:.1} s", cp.startup_time().as_secs_f64());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut runs = Vec::new();
    for kind in kinds.iter().copied() {
        let dir = if kinds.len() > 1 { out.join(kind.name()) } else { out.clone() };
        let started = Instant::now();
        let (tr, rep) = run_target(args, &sc, &cp, kind, bin.as_deref(), &dir, &rt)?;
        report::emit(&info, rep, started.elapsed(), &dir)?;
        runs.push(tr);
    }
    if runs.len() > 1 {
        write_summary(&info, args, &sc, &runs, &out)?;
    }
    Ok(())
}

fn run_target(
    args: &RunArgs,
    sc: &Scenario,
    cp: &ControlPlane,
    kind: TargetKind,
    bin: Option<&Path>,
    dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<(TargetRun, Report)> {
    std::fs::create_dir_all(dir)?;
    eprintln!("bench run [{}]: setting up", kind.name());
    let mut proxy = None;
    let endpoints = match kind {
        TargetKind::Vcproxy => {
            let (p, eps) =
                targets::start_vcproxy(
                    bin.expect("vcproxy binary"),
                    cp,
                    sc,
                    args.seats,
                    args.queue_length,
                    args.replicas,
                    dir,
                )?;
            proxy = Some(p);
            eps
        }
        TargetKind::ApfDirect => targets::setup_apf(cp, sc, args.apf_min_shares, args.queue_length, dir)?,
    };
    let apf_limits = if kind == TargetKind::ApfDirect { rt.block_on(targets::apf_seat_limits(cp)) } else { Vec::new() };
    rt.block_on(async {
        for (ep, t) in endpoints.iter().zip(&sc.tenants) {
            targets::populate(kind, ep, t).await.with_context(|| format!("populating tenant {}", t.name))?;
        }
        anyhow::Ok(())
    })?;
    eprintln!("bench run [{}]: {} tenants populated", kind.name(), sc.tenants.len());

    let warm = args.warmup.as_secs_f64();
    let connect = |sel: &dyn Fn(&TenantLoad) -> bool| -> anyhow::Result<(Vec<TenantLoad>, Arc<Vec<Loader>>)> {
        let spread = if kind == TargetKind::Vcproxy { args.replicas.max(1) } else { 1 };
        let chosen: Vec<(TenantLoad, targets::Endpoint)> = sc
            .tenants
            .iter()
            .zip(&endpoints)
            .filter(|(t, _)| sel(t))
            .map(|(t, e)| {
                // Connections in multiples of the replicas: round robin gives each the same share.
                let mut t = t.clone();
                t.connections = t.connections.max(1).div_ceil(spread) * spread;
                (t, e.clone())
            })
            .collect();
        let loads: Vec<TenantLoad> = chosen.iter().map(|c| c.0.clone()).collect();
        let loaders = rt.block_on(async {
            let mut v = Vec::new();
            for (t, e) in chosen {
                v.push(Loader::connect(t, e).await?);
            }
            anyhow::Ok(v)
        })?;
        Ok((loads, Arc::new(loaders)))
    };

    let mut baseline_stats = Vec::new();
    let mut baseline_phase = None;
    if sc.has_baseline {
        let (loads, loaders) = connect(&|t| t.in_baseline)?;
        let d = args.baseline.unwrap_or(args.duration);
        let label = format!("{} baseline", kind.name());
        let phase = rt.block_on(load::run_phase(loaders, d, args.warmup, &label));
        let refs: Vec<&TenantLoad> = loads.iter().collect();
        baseline_stats = analysis::tenant_stats(&refs, &phase, warm);
        baseline_phase = Some((loads, phase));
    }
    let wait_before = proxy.as_ref().and_then(|p| p.metrics().ok()).map(|pages| wait_hist(&pages.join("\n"))).unwrap_or_default();
    let (loads, loaders) = connect(&|_| true)?;
    let label = kind.name().to_string();
    // The upstream concurrency the fleet allowed: seats in use summed over the replicas, sampled.
    let sampling = std::sync::atomic::AtomicBool::new(true);
    let (phase, peak_seats) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0f64;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(Ok(pages)) = proxy.as_ref().map(|p| p.metrics()) {
                    peak = peak.max(targets::bench_seats_in_use(&pages));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        let phase = rt.block_on(load::run_phase(loaders, args.duration, args.warmup, &label));
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        (phase, sampler.join().unwrap_or(0.0))
    });
    let refs: Vec<&TenantLoad> = loads.iter().collect();
    let mut stats = analysis::tenant_stats(&refs, &phase, warm);
    let (jain, share_error, backlogged) = analysis::fairness(&stats);
    // Quiet tenants, pooled: p99 with and without the neighbour.
    let quiet_p99 = pooled_p99(&loads, &phase, warm, |t| t.role == "quiet");
    let quiet_baseline_p99 =
        baseline_phase.as_ref().map(|(l, p)| pooled_p99(l, p, warm, |t| t.role == "quiet")).unwrap_or(0.0);
    let quiet_429: u64 = stats.iter().filter(|s| s.role == "quiet").map(|s| s.rejected_429).sum();

    // Plots.
    let mut plots = Vec::new();
    let mut plot = |name: &str, loads: &[TenantLoad], phase: &PhaseResult, title: &str| -> anyhow::Result<()> {
        let (thr, p99) = analysis::series(loads.len(), phase);
        let names: Vec<String> = loads.iter().map(|l| format!("{} (w {})", l.name, l.weight)).collect();
        let tp: Vec<(String, Vec<f64>)> = names.iter().cloned().zip(thr).collect();
        let lp: Vec<(String, Vec<f64>)> = names.iter().cloned().zip(p99).collect();
        let f1 = format!("{name}throughput.svg");
        let f2 = format!("{name}latency.svg");
        std::fs::write(dir.join(&f1), svg::line_chart(&format!("{title}: completed req/s per tenant"), "req/s", &tp))?;
        std::fs::write(dir.join(&f2), svg::line_chart(&format!("{title}: p99 latency per second"), "ms", &lp))?;
        plots.push(f1);
        plots.push(f2);
        Ok(())
    };
    plot("", &loads, &phase, &format!("{} {}", sc.name, kind.name()))?;
    if let Some((l, p)) = &baseline_phase {
        plot("baseline-", l, p, &format!("{} {} baseline", sc.name, kind.name()))?;
    }
    let _ = &mut stats;

    let mut rep = Report::default();
    let tenants_json: Vec<Value> = stats
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap();
            if let Some(b) = baseline_stats.iter().find(|b| b.tenant == s.tenant) {
                v["baseline_p50_ms"] = json!(b.p50_ms);
                v["baseline_p99_ms"] = json!(b.p99_ms);
                v["baseline_rejected_429"] = json!(b.rejected_429);
            }
            v
        })
        .collect();
    let j = &mut rep.json;
    j.insert("scenario".into(), json!(sc.name));
    j.insert("target".into(), json!(kind.name()));
    j.insert("description".into(), json!(sc.description));
    j.insert("jain_index".into(), json!(jain));
    j.insert("weighted_share_error".into(), json!(share_error));
    j.insert("backlogged_tenants".into(), json!(backlogged));
    j.insert("tenants".into(), Value::Array(tenants_json));
    j.insert("measured_s".into(), json!(args.duration.as_secs_f64()));
    j.insert("warmup_s".into(), json!(warm));
    if sc.has_baseline {
        j.insert("baseline_tenants".into(), serde_json::to_value(&baseline_stats)?);
        j.insert(
            "quiet".into(),
            json!({
                "p99_ms": analysis::round(quiet_p99, 2),
                "baseline_p99_ms": analysis::round(quiet_baseline_p99, 2),
                "p99_ratio": analysis::round(quiet_p99 / quiet_baseline_p99.max(1e-9), 3),
                "rejected_429": quiet_429,
            }),
        );
    }
    j.insert("load".into(), serde_json::to_value(&sc.tenants)?);
    match kind {
        TargetKind::Vcproxy => {
            j.insert(
                "vcproxy".into(),
                json!({"seats": args.seats, "queue_length": args.queue_length, "policy_file": "policy.toml"}),
            );
        }
        TargetKind::ApfDirect => {
            let shares = targets::apf_shares(sc, args.apf_min_shares);
            j.insert(
                "apf".into(),
                json!({
                    "nominal_concurrency_shares": sc.tenants.iter().zip(&shares).map(|(t, s)| (t.name.clone(), json!(s))).collect::<Map<_, _>>(),
                    "nominal_limit_seats": apf_limits.iter().map(|(n, v)| (n.clone(), json!(v))).collect::<Map<_, _>>(),
                    "queue_length_limit": args.queue_length,
                    "manifest": "apf.yaml",
                }),
            );
        }
    }
    j.insert("plots".into(), json!(plots));
    let goals = goals(
        &stats,
        jain,
        share_error,
        &backlogged,
        sc.has_baseline.then_some((quiet_p99, quiet_baseline_p99, quiet_429)),
    );
    j.insert("goals".into(), goals.clone());

    let mut t = Table::new(
        format!("{} on {} ({} s measured after {} s warm-up)", sc.name, kind.name(), args.duration.as_secs(), warm),
        &[
            "tenant",
            "weight",
            "role",
            "offered rps",
            "completed rps",
            "p50 ms",
            "p99 ms",
            "429s",
            "other errors",
            "baseline p99 ms",
        ],
    );
    for s in &stats {
        let b = baseline_stats
            .iter()
            .find(|b| b.tenant == s.tenant)
            .map(|b| format!("{:.1}", b.p99_ms))
            .unwrap_or("-".into());
        t.row(vec![
            s.tenant.clone(),
            format!("{}", s.weight),
            s.role.clone(),
            format!("{:.1}", s.offered_rps),
            format!("{:.1}", s.completed_rps),
            format!("{:.1}", s.p50_ms),
            format!("{:.1}", s.p99_ms),
            s.rejected_429.to_string(),
            s.other_errors.to_string(),
            b,
        ]);
    }
    rep.tables.push(t);
    let mut g = Table::new("Fairness and goals", &["measure", "value", "goal", "met"]);
    for item in goals.as_array().unwrap() {
        g.row(vec![
            item["measure"].as_str().unwrap_or("").into(),
            item["value"].to_string(),
            item["goal"].as_str().unwrap_or("").into(),
            item["met"].to_string(),
        ]);
    }
    rep.tables.push(g);
    rep.notes.push(format!("scenario: {}", sc.description));
    rep.notes.push(format!(
        "Jain's index is over completed req/s ÷ weight and the share error over completed req/s, both among the backlogged tenants ({}); \
         a single backlogged tenant makes both trivial (1 and 0).",
        if backlogged.is_empty() { "none".to_string() } else { backlogged.join(", ") }
    ));
    rep.notes.push(format!("plots: {}", plots.join(", ")));
    if kind == TargetKind::ApfDirect && !apf_limits.is_empty() {
        let l: Vec<String> =
            apf_limits.iter().filter(|(n, _)| n.starts_with("bench-")).map(|(n, v)| format!("{n}={v}")).collect();
        rep.notes.push(format!("APF nominal seat limits of the tenants' priority levels: {}", l.join(", ")));
    }
    if let Some(p) = &proxy {
        rep.notes.push(format!(
            "peak upstream seats in use (sampled every 100 ms, summed over {} replica(s)): {peak_seats} of {} configured",
            args.replicas.max(1),
            args.seats
        ));
        rep.json.insert("replicas".into(), json!(args.replicas.max(1)));
        rep.json.insert("peak_upstream_seats".into(), json!(peak_seats));
        rep.json.insert("peak_upstream_seats_within_policy".into(), json!(peak_seats <= args.seats as f64));
        // vcproxy's own view (flow-control metrics, queues) at the end of the run.
        if let Ok(pages) = p.metrics() {
            let m = pages.join("\n");
            let after = wait_hist(&m);
            let mut waits = Map::new();
            for (t, (sum, count)) in &after {
                let (s0, c0) = wait_before.get(t).copied().unwrap_or((0.0, 0.0));
                if count - c0 > 0.0 {
                    waits.insert(t.clone(), json!(analysis::round((sum - s0) / (count - c0) * 1e3, 2)));
                }
            }
            rep.notes.push(format!(
                "vcproxy mean queue wait per tenant in the measured phase (ms): {}",
                Value::Object(waits.clone())
            ));
            rep.json.insert("vcproxy_mean_queue_wait_ms".into(), Value::Object(waits));
            let keep: String = m.lines().filter(|l| l.contains("flowcontrol")).map(|l| format!("{l}\n")).collect();
            std::fs::write(dir.join("vcproxy-flowcontrol-metrics.txt"), keep)?;
            rep.notes.push("vcproxy's flow-control metrics at the end: vcproxy-flowcontrol-metrics.txt".into());
        }
    }
    drop(proxy);
    Ok((
        TargetRun {
            kind,
            stats,
            baseline: baseline_stats,
            jain,
            share_error,
            backlogged,
            quiet_p99,
            quiet_baseline_p99,
            quiet_429,
        },
        rep,
    ))
}

/// `tenant -> (sum, count)` of vcproxy's queue-wait histogram.
fn wait_hist(metrics: &str) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out = std::collections::BTreeMap::<String, (f64, f64)>::new();
    for line in metrics.lines() {
        let (is_sum, rest) =
            if let Some(r) = line.strip_prefix("vcproxy_flowcontrol_request_wait_duration_seconds_sum{") {
                (true, r)
            } else if let Some(r) = line.strip_prefix("vcproxy_flowcontrol_request_wait_duration_seconds_count{") {
                (false, r)
            } else {
                continue;
            };
        let Some(i) = rest.find("tenant=\"") else { continue };
        let tenant: String = rest[i + 8..].chars().take_while(|c| *c != '"').collect();
        let Some(v) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        let e = out.entry(tenant).or_default();
        if is_sum {
            e.0 += v;
        } else {
            e.1 += v;
        }
    }
    out
}

fn pooled_p99(loads: &[TenantLoad], phase: &PhaseResult, warm: f64, sel: impl Fn(&TenantLoad) -> bool) -> f64 {
    let end = phase.duration.as_secs_f64() + 0.5;
    let mut v: Vec<f64> = phase
        .samples
        .iter()
        .filter(|s| {
            sel(&loads[s.tenant])
                && !s.op.is_long()
                && (200..300).contains(&s.status)
                && s.start_s >= warm
                && s.end_s <= end
        })
        .map(|s| s.latency_ms)
        .collect();
    v.sort_by(f64::total_cmp);
    crate::stats::percentile_sorted(&v, 0.99)
}

fn goals(stats: &[TenantStats], jain: f64, err: f64, backlogged: &[String], quiet: Option<(f64, f64, u64)>) -> Value {
    let mut g = Vec::new();
    if backlogged.len() >= 2 {
        let equal = stats.iter().filter(|s| s.backlogged).map(|s| s.weight).all(|w| (w - stats[0].weight).abs() < 1e-9);
        g.push(json!({"measure": "jain_index", "value": jain, "goal": if equal { ">= 0.99 (equal weights)" } else { ">= 0.99 (normalised by weight)" }, "met": jain >= 0.99}));
        g.push(json!({"measure": "weighted_share_error", "value": err, "goal": "<= 0.05", "met": err <= 0.05}));
    }
    if let Some((p99, base, r429)) = quiet {
        let ratio = p99 / base.max(1e-9);
        g.push(json!({"measure": "quiet p99 / baseline p99", "value": analysis::round(ratio, 3), "goal": "<= 1.5", "met": ratio <= 1.5}));
        g.push(json!({"measure": "quiet tenants' 429s", "value": r429, "goal": "0", "met": r429 == 0}));
    }
    Value::Array(g)
}

fn write_summary(info: &RunInfo, args: &RunArgs, sc: &Scenario, runs: &[TargetRun], out: &Path) -> anyhow::Result<()> {
    let mut md = format!("# bench run {}: vcproxy vs APF-direct, same load\n\n", sc.name);
    let _ = writeln!(md, "Command: `{}`\n\n{}\n", info.command_line(), sc.description);
    let _ = writeln!(
        md,
        "vcproxy: one level of {} seats, queue length {}; APF-direct: one PriorityLevelConfiguration per tenant, \
         nominalConcurrencyShares = weight × {}, one queue of length {}. Machine: {} CPUs, load average {} at the end.\n",
        args.seats,
        args.queue_length,
        args.apf_min_shares,
        args.queue_length,
        report::machine()["cpus"],
        report::machine()["loadavg"].as_str().unwrap_or("?")
    );
    md += "| measure |";
    for r in runs {
        let _ = write!(md, " {} |", r.kind.name());
    }
    md += "\n| --- |";
    for _ in runs {
        md += " ---: |";
    }
    md.push('\n');
    let mut row = |name: &str, f: &dyn Fn(&TargetRun) -> String| {
        let _ = write!(md, "| {name} |");
        for r in runs {
            let _ = write!(md, " {} |", f(r));
        }
        md.push('\n');
    };
    row("Jain's index (backlogged)", &|r| format!("{:.4}", r.jain));
    row("weighted share error", &|r| format!("{:.2}%", r.share_error * 100.0));
    row("backlogged tenants", &|r| r.backlogged.join(", "));
    if sc.has_baseline {
        row("quiet p99 ms, with neighbour", &|r| format!("{:.1}", r.quiet_p99));
        row("quiet p99 ms, baseline (alone)", &|r| format!("{:.1}", r.quiet_baseline_p99));
        row("quiet p99 ratio", &|r| format!("{:.2}", r.quiet_p99 / r.quiet_baseline_p99.max(1e-9)));
        row("quiet tenants' 429s", &|r| r.quiet_429.to_string());
    }
    for (i, t) in sc.tenants.iter().enumerate() {
        row(&format!("{} (w {}) completed rps / p99 ms / 429s", t.name, t.weight), &|r| {
            let s = &r.stats[i];
            format!("{:.1} / {:.1} / {}", s.completed_rps, s.p99_ms, s.rejected_429)
        });
        if let Some(_b) = runs[0].baseline.iter().find(|b| b.tenant == t.name) {
            row(&format!("{} baseline p99 ms", t.name), &|r| {
                r.baseline.iter().find(|b| b.tenant == t.name).map(|b| format!("{:.1}", b.p99_ms)).unwrap_or("-".into())
            });
        }
    }
    if sc.has_baseline && runs.len() == 2 {
        let (v, a) = (&runs[0], &runs[1]);
        let _ = writeln!(
            md,
            "\nvcproxy quiet p99 {:.1} ms vs APF-direct {:.1} ms: vcproxy is {}at least as good.",
            v.quiet_p99,
            a.quiet_p99,
            if v.quiet_p99 <= a.quiet_p99 { "" } else { "NOT " }
        );
    }
    md += "\nPer-target reports and plots: `vcproxy/`, `apf-direct/`.\n";
    std::fs::write(out.join("summary.md"), &md)?;
    let js: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({"target": r.kind.name(), "jain_index": r.jain, "weighted_share_error": r.share_error,
                   "quiet_p99_ms": r.quiet_p99, "quiet_baseline_p99_ms": r.quiet_baseline_p99, "quiet_rejected_429": r.quiet_429,
                   "tenants": r.stats})
        })
        .collect();
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&json!({"scenario": sc.name, "targets": js}))? + "\n",
    )?;
    println!("\n{md}");
    println!("wrote {}", out.join("summary.md").display());
    Ok(())
}
