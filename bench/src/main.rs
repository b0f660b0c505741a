//! `bench`: benchmarks for vcproxy. One subcommand per benchmark, each in its own module; every
//! run prints a table and writes `DIR/report.json` + `DIR/report.md` (see [`report`]).
//!
//! - `rewrite` ([`rewrite`]) — the streaming rewriter's MB/s on large LIST, Table and watch
//!   bodies next to a plain byte copy (in memory, no servers).
//! - `latency` ([`latency`]) — GET/LIST p50/p99 and req/s through vcproxy vs directly against a
//!   real kube-apiserver, and vcproxy's RSS while serving a ~50 MB LIST.
//! - `cost` ([`cost`]) — what a GET and a LIST cost through vcproxy vs directly, with h2load as
//!   the load tool: req/s, p50/p99, CPU-seconds per 1,000 requests of vcproxy, kube-apiserver
//!   and etcd, at low load and at saturation.
//! - `watches` ([`watches`]) — many idle watches on one vcproxy: accepted within a deadline, RSS
//!   per watch, event delivery added vs a direct watch, quiet tenants' GET latency.
//! - `crd` ([`crdbench`]) — custom resources of a tenant CRD through vcproxy vs the same CRD in
//!   kube-apiserver: create/get/list throughput and latency, watch event latency.
//! - `soak` ([`soak`]) — tenant churn, watch churn and a noisy neighbour together for a long
//!   time (default 30 min, not in CI): vcproxy's RSS and open fds over time, flat after warm-up?
//! - `run SCENARIO` ([`harness`]) — the multi-tenant load-test harness: vcproxy's fair queuing
//!   vs kube-apiserver's API Priority and Fairness on the same load.
//!
//! Run from the workspace root: `cargo run -p bench --release -- <subcommand> [options]`.

mod client;
mod cost;
mod crdbench;
mod fixtures;
mod flood;
mod harness;
mod latency;
mod measure;
mod report;
mod rewrite;
mod soak;
mod stats;
mod watches;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Benchmarks for vcproxy", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// Directory for report.json and report.md [default: bench/reports/<subcommand>-<UTC time>].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Streaming rewriter throughput (MB/s) on large LIST/Table/watch bodies vs a plain byte copy.
    Rewrite {
        #[command(flatten)]
        args: rewrite::RewriteArgs,
        #[command(flatten)]
        common: Common,
    },
    /// GET/LIST latency and throughput through vcproxy vs directly, and vcproxy's RSS on a large
    /// LIST (starts a real control plane and vcproxy).
    Latency {
        #[command(flatten)]
        args: latency::LatencyArgs,
        #[command(flatten)]
        common: Common,
    },
    /// What a request costs through vcproxy vs directly, measured with h2load: throughput,
    /// p50/p99 and CPU-seconds per 1,000 requests (starts a real control plane and vcproxy).
    Cost {
        #[command(flatten)]
        args: cost::CostArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Many idle watches (tenants × watches per HTTP/2 connection) on one vcproxy: how many are
    /// accepted and how fast, RSS per watch, event delivery added, quiet GET latency.
    Watches {
        #[command(flatten)]
        args: watches::WatchesArgs,
        #[command(flatten)]
        common: Common,
    },
    /// An h2load flood against one tenant (shipped policy, rate caps on) beside quiet tenants:
    /// their p99 alone and during the flood, their 429s, what the flood got, CPU per phase.
    Flood {
        #[command(flatten)]
        args: flood::FloodArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Custom resources of a tenant CRD through vcproxy vs the same CRD directly in kube-apiserver
    /// (create/get/list/watch; starts a real control plane and vcproxy).
    Crd {
        #[command(flatten)]
        args: crdbench::CrdArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Tenant churn, watch churn and a noisy neighbour together for --duration (30m): vcproxy's
    /// RSS and open fds over time with an SVG plot, and whether they stay flat after warm-up.
    Soak {
        #[command(flatten)]
        args: soak::SoakArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Load-test harness: run a multi-tenant scenario (noisy-neighbour, weighted-shares,
    /// list-storm, slow-readers, watch-storm) against vcproxy and/or the apiserver with APF, and
    /// report fairness, per-tenant latency and 429s with SVG plots.
    Run {
        #[command(flatten)]
        args: harness::RunArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Run { args } = &cli.command {
        return harness::run(args);
    }
    let started = Instant::now();
    let (info, common, report) = match &cli.command {
        Command::Rewrite { args, common } => {
            let info = report::RunInfo::new("rewrite");
            (info, common, rewrite::run(args)?)
        }
        Command::Latency { args, common } => {
            let info = report::RunInfo::new("latency");
            (info, common, latency::run(args)?)
        }
        Command::Cost { args, common } => {
            let info = report::RunInfo::new("cost");
            (info, common, cost::run(args)?)
        }
        Command::Watches { args, common } => {
            let info = report::RunInfo::new("watches");
            (info, common, watches::run(args)?)
        }
        Command::Flood { args, common } => {
            let info = report::RunInfo::new("flood");
            (info, common, flood::run(args)?)
        }
        Command::Crd { args, common } => {
            let info = report::RunInfo::new("crd");
            (info, common, crdbench::run(args)?)
        }
        Command::Soak { args, common } => {
            let info = report::RunInfo::new("soak");
            // The plots go next to report.json, so soak needs the directory up front.
            let out = common.out.clone().unwrap_or_else(|| info.default_out_dir());
            let report = soak::run(args, &out)?;
            (info, common, report)
        }
        Command::Run { .. } => unreachable!("handled above"),
    };
    let out = common.out.clone().unwrap_or_else(|| info.default_out_dir());
    report::emit(&info, report, started.elapsed(), &out)
}
