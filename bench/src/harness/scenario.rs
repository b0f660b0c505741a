//! Scenarios: which simulated tenants there are, their weights, and how each one loads the target
//! (open-loop Poisson arrivals or closed-loop workers, and a mix of request kinds).

use std::time::Duration;

use serde::Serialize;

/// One kind of request a simulated tenant sends (all on ConfigMaps in its own namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// GET one ConfigMap.
    Get,
    /// LIST the namespace's ConfigMaps (`?limit=500`).
    List,
    /// POST a new small ConfigMap.
    Create,
    /// PATCH (merge) one existing ConfigMap.
    Update,
    /// A watch on the namespace's ConfigMaps, held `watch_seconds` (server-side timeout).
    Watch,
    /// A LIST whose body is read slowly (at a fixed rate, small HTTP/2 window).
    SlowList,
}

impl Op {
    /// Long-running: excluded from latency and throughput (counted separately).
    pub fn is_long(self) -> bool {
        matches!(self, Op::Watch)
    }
    #[allow(dead_code)]
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::List => "list",
            Op::Create => "create",
            Op::Update => "update",
            Op::Watch => "watch",
            Op::SlowList => "slow-list",
        }
    }
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Arrival {
    /// Poisson arrivals at `rps`, whatever the responses do; at most `max_inflight` outstanding
    /// (arrivals beyond it are counted as offered and as `client_dropped`).
    Open { rps: f64, max_inflight: usize },
    /// `workers` loops, each sending its next request when the previous one ends.
    Closed { workers: usize },
}

/// One simulated tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantLoad {
    pub name: String,
    pub weight: f64,
    /// `quiet` / `noisy` / `backlogged`...: what the scenario means it to be.
    pub role: &'static str,
    pub arrival: Arrival,
    /// Relative frequencies of the request kinds.
    pub mix: Vec<(Op, u32)>,
    /// ConfigMaps created in its namespace before the run, and their payload size.
    pub objects: usize,
    pub object_bytes: usize,
    /// HTTP/2 connections it spreads its requests over.
    pub connections: usize,
    /// Slow readers: the rate each response body is read at (KiB/s), and the HTTP/2 receive window.
    pub read_kib_per_s: u64,
    pub window_bytes: Option<u32>,
    /// Watches: server-side timeout.
    pub watch_seconds: u64,
    /// Also runs in the baseline phase (the quiet tenants alone).
    pub in_baseline: bool,
}

impl TenantLoad {
    fn new(name: &str, weight: f64, role: &'static str, arrival: Arrival, mix: &[(Op, u32)]) -> TenantLoad {
        TenantLoad {
            name: name.into(),
            weight,
            role,
            arrival,
            mix: mix.to_vec(),
            objects: 50,
            object_bytes: 512,
            connections: 1,
            read_kib_per_s: 0,
            window_bytes: None,
            watch_seconds: 10,
            in_baseline: false,
        }
    }
    fn baseline(mut self) -> Self {
        self.in_baseline = true;
        self
    }
    /// Open-loop offered rate, or `None` for closed-loop.
    #[allow(dead_code)]
    pub fn open_rps(&self) -> Option<f64> {
        match self.arrival {
            Arrival::Open { rps, .. } => Some(rps),
            Arrival::Closed { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub tenants: Vec<TenantLoad>,
    /// Run a baseline phase first with only the `in_baseline` tenants.
    pub has_baseline: bool,
}

pub const NAMES: &[&str] =
    &["noisy-neighbour", "weighted-shares", "equal-shares", "list-storm", "slow-readers", "watch-storm"];

/// The built-in scenarios; `scale` multiplies every open-loop rate and closed-loop worker count.
pub fn scenario(name: &str, scale: f64) -> anyhow::Result<Scenario> {
    let s = |x: f64| x * scale;
    let w = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let quiet = |name: &str, rps: f64, mix: &[(Op, u32)]| {
        TenantLoad::new(name, 1.0, "quiet", Arrival::Open { rps, max_inflight: 64 }, mix).baseline()
    };
    let quiet_mix: &[(Op, u32)] = &[(Op::Get, 90), (Op::List, 10)];
    let sc = match name {
        "noisy-neighbour" => {
            let q = s(10.0);
            let mut noisy = TenantLoad::new(
                "noisy",
                1.0,
                "noisy",
                Arrival::Open { rps: s(800.0), max_inflight: 400 },
                &[(Op::Get, 60), (Op::List, 40)],
            );
            noisy.connections = 4;
            Scenario {
                name: name.into(),
                description: format!(
                    "three quiet tenants (open loop, {q:.0} req/s each, 90% GET / 10% LIST) and one noisy tenant \
                     (open loop, {:.0} req/s = {:.0}x the three quiet ones together, 60% GET / 40% LIST); equal weights. \
                     A baseline phase runs the quiet tenants alone first.",
                    s(800.0),
                    800.0 / 30.0
                ),
                tenants: vec![quiet("quiet-a", q, quiet_mix), quiet("quiet-b", q, quiet_mix), quiet("quiet-c", q, quiet_mix), noisy],
                has_baseline: true,
            }
        }
        "weighted-shares" => {
            let t = |n: &str, wt: f64| {
                TenantLoad::new(n, wt, "backlogged", Arrival::Closed { workers: w(24) }, &[(Op::Get, 100)])
            };
            Scenario {
                name: name.into(),
                description: format!(
                    "three backlogged tenants with weights 1:2:4, closed loop ({} workers each), GET only (equal widths)",
                    w(24)
                ),
                tenants: vec![t("w1", 1.0), t("w2", 2.0), t("w4", 4.0)],
                has_baseline: false,
            }
        }
        "equal-shares" => {
            let t =
                |n: &str| TenantLoad::new(n, 1.0, "backlogged", Arrival::Closed { workers: w(24) }, &[(Op::Get, 100)]);
            Scenario {
                name: name.into(),
                description: format!(
                    "three backlogged tenants with equal weights, closed loop ({} workers each), GET only (equal widths)",
                    w(24)
                ),
                tenants: vec![t("e1"), t("e2"), t("e3")],
                has_baseline: false,
            }
        }
        "list-storm" => {
            let mut lister =
                TenantLoad::new("lister", 1.0, "noisy", Arrival::Closed { workers: w(16) }, &[(Op::List, 100)]);
            lister.objects = 300;
            lister.object_bytes = 4096;
            Scenario {
                name: name.into(),
                description: format!(
                    "one tenant LISTing 300 ConfigMaps of 4 KiB (~1.3 MB per LIST, closed loop, {} workers); three quiet \
                     tenants (open loop, {:.0} req/s, GET/LIST); baseline phase with the quiet ones alone",
                    w(16),
                    s(20.0)
                ),
                tenants: vec![
                    quiet("quiet-a", s(20.0), quiet_mix),
                    quiet("quiet-b", s(20.0), quiet_mix),
                    quiet("quiet-c", s(20.0), quiet_mix),
                    lister,
                ],
                has_baseline: true,
            }
        }
        "slow-readers" => {
            let mut slow =
                TenantLoad::new("slow", 1.0, "noisy", Arrival::Closed { workers: w(16) }, &[(Op::SlowList, 100)]);
            slow.objects = 200;
            slow.object_bytes = 4096;
            slow.read_kib_per_s = 256;
            slow.window_bytes = Some(16 * 1024);
            Scenario {
                name: name.into(),
                description: format!(
                    "one tenant LISTing 200 ConfigMaps of 4 KiB and reading each body slowly (16 KiB HTTP/2 window, 256 KiB/s \
                     per response, ~3 s per LIST; closed loop, {} workers); three quiet tenants (open loop, {:.0} req/s); baseline phase",
                    w(16),
                    s(20.0)
                ),
                tenants: vec![
                    quiet("quiet-a", s(20.0), quiet_mix),
                    quiet("quiet-b", s(20.0), quiet_mix),
                    quiet("quiet-c", s(20.0), quiet_mix),
                    slow,
                ],
                has_baseline: true,
            }
        }
        "watch-storm" => {
            let mut watcher =
                TenantLoad::new("watcher", 1.0, "noisy", Arrival::Closed { workers: w(150) }, &[(Op::Watch, 100)]);
            watcher.watch_seconds = 5;
            watcher.connections = 2;
            let mix: &[(Op, u32)] = &[(Op::Get, 70), (Op::Update, 20), (Op::Create, 10)];
            Scenario {
                name: name.into(),
                description: format!(
                    "one tenant keeping {} watches open (re-opened every 5 s); three quiet tenants (open loop, {:.0} req/s, \
                     70% GET / 20% PATCH / 10% POST); baseline phase",
                    w(150),
                    s(20.0)
                ),
                tenants: vec![quiet("quiet-a", s(20.0), mix), quiet("quiet-b", s(20.0), mix), quiet("quiet-c", s(20.0), mix), watcher],
                has_baseline: true,
            }
        }
        other => anyhow::bail!("unknown scenario {other:?}; one of {}", NAMES.join(", ")),
    };
    Ok(sc)
}

/// A small deterministic PRNG (xorshift64*), enough for Poisson gaps and mixes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// Exponential gap for a Poisson process of `rate` per second.
    pub fn exp_gap(&mut self, rate: f64) -> Duration {
        Duration::from_secs_f64(-self.unit().ln() / rate.max(1e-9))
    }
    /// Picks an op by the mix's relative frequencies.
    pub fn pick(&mut self, mix: &[(Op, u32)]) -> Op {
        let total: u32 = mix.iter().map(|m| m.1).sum();
        let mut r = (self.next_u64() % total.max(1) as u64) as u32;
        for &(op, f) in mix {
            if r < f {
                return op;
            }
            r -= f;
        }
        mix[0].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_exist_and_noisy_is_20x() {
        for n in NAMES {
            scenario(n, 1.0).unwrap();
        }
        let s = scenario("noisy-neighbour", 1.0).unwrap();
        let quiet: f64 = s.tenants.iter().filter(|t| t.role == "quiet").filter_map(|t| t.open_rps()).sum();
        let noisy: f64 = s.tenants.iter().filter(|t| t.role == "noisy").filter_map(|t| t.open_rps()).sum();
        assert!(noisy >= 20.0 * quiet, "{noisy} vs {quiet}");
        assert!(scenario("nope", 1.0).is_err());
    }

    #[test]
    fn poisson_mean_and_mix() {
        let mut r = Rng::new(7);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| r.exp_gap(100.0).as_secs_f64()).sum::<f64>() / n as f64;
        assert!((mean - 0.01).abs() < 0.0005, "{mean}");
        let mix = [(Op::Get, 3), (Op::List, 1)];
        let gets = (0..n).filter(|_| r.pick(&mix) == Op::Get).count();
        assert!((gets as f64 / n as f64 - 0.75).abs() < 0.02);
    }
}
