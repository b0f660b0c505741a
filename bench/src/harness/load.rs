//! The load driver: runs a phase (a set of simulated tenants, each on its own HTTP/2
//! connections) for a fixed duration and records every request.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::json;

use super::h2::H2;
use super::scenario::{Arrival, Op, Rng, TenantLoad};
use super::targets::Endpoint;

/// One finished request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub tenant: usize,
    pub op: Op,
    /// Seconds since the phase started, when it was sent and when it ended.
    pub start_s: f64,
    pub end_s: f64,
    pub latency_ms: f64,
    /// HTTP status; 0 for a transport error.
    pub status: u16,
}

/// Per-tenant counters kept outside the samples.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests the load model asked for (open loop: arrivals; closed loop: attempts).
    pub offered: AtomicU64,
    /// Open-loop arrivals dropped because `max_inflight` were outstanding.
    pub client_dropped: AtomicU64,
    pub inflight: AtomicUsize,
}

pub struct PhaseResult {
    pub duration: Duration,
    pub samples: Vec<Sample>,
    /// Offered requests per tenant (by index into the phase's tenants), counted after warm-up.
    pub offered_after_warmup: Vec<u64>,
    #[allow(dead_code)]
    pub offered: Vec<u64>,
    pub client_dropped: Vec<u64>,
}

struct Shared {
    samples: Mutex<Vec<Sample>>,
    counters: Vec<Counters>,
    offered_at_warmup: Vec<AtomicU64>,
    t0: Instant,
    end: Instant,
    seq: AtomicU64,
    done: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    /// Open-loop requests, aborted when the phase ends.
    open_handles: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// A tenant ready to load: its endpoint, connections and load model.
pub struct Loader {
    pub load: TenantLoad,
    pub endpoint: Endpoint,
    pub conns: Vec<H2>,
}

impl Loader {
    pub async fn connect(load: TenantLoad, endpoint: Endpoint) -> anyhow::Result<Loader> {
        let mut conns = Vec::new();
        for _ in 0..load.connections.max(1) {
            let window = load.window_bytes;
            conns.push(H2::connect(&endpoint.base_url, &endpoint.ca_file, &endpoint.auth, window).await?);
        }
        Ok(Loader { load, endpoint, conns })
    }
}

fn path_for(ep: &Endpoint, load: &TenantLoad, op: Op, n: u64) -> (Method, String, Option<(Bytes, &'static str)>) {
    let base = format!("{}/api/v1/namespaces/{}/configmaps", ep.prefix, ep.namespace);
    let objects = load.objects.max(1) as u64;
    match op {
        Op::Get => (Method::GET, format!("{base}/cm-{:04}", n % objects), None),
        Op::List | Op::SlowList => (Method::GET, format!("{base}?limit=500"), None),
        Op::Create => {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("w-{n}")}, "data": {"v": n.to_string()}});
            (Method::POST, base, Some((Bytes::from(body.to_string()), "application/json")))
        }
        Op::Update => {
            let body = json!({"data": {"bench-seq": n.to_string()}});
            (
                Method::PATCH,
                format!("{base}/cm-{:04}", n % objects),
                Some((Bytes::from(body.to_string()), "application/merge-patch+json")),
            )
        }
        Op::Watch => (
            Method::GET,
            format!("{base}?watch=1&allowWatchBookmarks=true&timeoutSeconds={}", load.watch_seconds),
            None,
        ),
    }
}

async fn one(shared: &Shared, idx: usize, loader: &Loader, conn: &H2, op: Op) -> u16 {
    let n = shared.seq.fetch_add(1, Ordering::Relaxed);
    let (method, path, body) = path_for(&loader.endpoint, &loader.load, op, n);
    let delay =
        (op == Op::SlowList && loader.load.read_kib_per_s > 0).then(|| loader.load.read_kib_per_s as f64 * 1024.0);
    let start = Instant::now();
    let limit = Duration::from_secs(if op == Op::Watch { loader.load.watch_seconds + 30 } else { 60 });
    let res = match tokio::time::timeout(limit, conn.request(method, &path, body, delay)).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("timed out")),
    };
    let end = Instant::now();
    let status = match &res {
        Ok(o) => o.status.as_u16(),
        Err(_) => 0,
    };
    shared.done.fetch_add(1, Ordering::Relaxed);
    if status == 429 {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
    } else if !(200..300).contains(&status) {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    let s = Sample {
        tenant: idx,
        op,
        start_s: (start - shared.t0).as_secs_f64(),
        end_s: (end - shared.t0).as_secs_f64(),
        latency_ms: (end - start).as_secs_f64() * 1e3,
        status,
    };
    shared.samples.lock().unwrap().push(s);
    status
}

/// Runs `loaders` for `duration` (requests still in flight `grace` after the end are abandoned);
/// prints a progress line on stderr every second, prefixed by `label`.
pub async fn run_phase(loaders: Arc<Vec<Loader>>, duration: Duration, warmup: Duration, label: &str) -> PhaseResult {
    let t0 = Instant::now();
    let shared = Arc::new(Shared {
        samples: Mutex::new(Vec::with_capacity(100_000)),
        counters: loaders.iter().map(|_| Counters::default()).collect(),
        offered_at_warmup: loaders.iter().map(|_| AtomicU64::new(0)).collect(),
        t0,
        end: t0 + duration,
        seq: AtomicU64::new(1),
        done: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        open_handles: Mutex::new(Vec::new()),
    });
    let mut tasks = Vec::new();
    for (idx, l) in loaders.iter().enumerate() {
        match l.load.arrival {
            Arrival::Closed { workers } => {
                for w in 0..workers {
                    let (shared, loaders) = (shared.clone(), loaders.clone());
                    tasks.push(tokio::spawn(async move {
                        let l = &loaders[idx];
                        let conn = &l.conns[w % l.conns.len()];
                        let mut rng = Rng::new((idx as u64) << 32 | w as u64);
                        while Instant::now() < shared.end {
                            shared.counters[idx].offered.fetch_add(1, Ordering::Relaxed);
                            let op = rng.pick(&l.load.mix);
                            let status = one(&shared, idx, l, conn, op).await;
                            if status == 429 || status == 0 {
                                // A real client backs off; keep it short so the tenant stays backlogged.
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }));
                }
            }
            Arrival::Open { rps, max_inflight } => {
                let (shared, loaders) = (shared.clone(), loaders.clone());
                tasks.push(tokio::spawn(async move {
                    let mut rng = Rng::new(0xABCD ^ idx as u64);
                    let mut next = shared.t0;
                    let mut k = 0usize;
                    loop {
                        next += rng.exp_gap(rps);
                        if next >= shared.end {
                            break;
                        }
                        tokio::time::sleep_until(next.into()).await;
                        let c = &shared.counters[idx];
                        c.offered.fetch_add(1, Ordering::Relaxed);
                        if c.inflight.load(Ordering::Relaxed) >= max_inflight {
                            c.client_dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        c.inflight.fetch_add(1, Ordering::Relaxed);
                        let op = rng.pick(&loaders[idx].load.mix);
                        k += 1;
                        let (shared2, loaders) = (shared.clone(), loaders.clone());
                        let h = tokio::spawn(async move {
                            let l = &loaders[idx];
                            let conn = &l.conns[k % l.conns.len()];
                            one(&shared2, idx, l, conn, op).await;
                            shared2.counters[idx].inflight.fetch_sub(1, Ordering::Relaxed);
                        });
                        shared.open_handles.lock().unwrap().push(h.abort_handle());
                    }
                }));
            }
        }
    }
    // Progress, and the offered count at the end of warm-up.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut warm_taken = warmup.is_zero();
    if warm_taken {
        for c in &shared.offered_at_warmup {
            c.store(0, Ordering::Relaxed);
        }
    }
    loop {
        let now = Instant::now();
        if !warm_taken && now >= t0 + warmup {
            for (i, c) in shared.counters.iter().enumerate() {
                shared.offered_at_warmup[i].store(c.offered.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            warm_taken = true;
        }
        if now >= shared.end {
            break;
        }
        tick.tick().await;
        eprintln!(
            "bench run [{label}] {:>5.1}s/{:.0}s  done {:>7}  429s {:>6}  other errors {:>5}  in flight (open loop) {:>4}",
            t0.elapsed().as_secs_f64(),
            duration.as_secs_f64(),
            shared.done.load(Ordering::Relaxed),
            shared.rejected.load(Ordering::Relaxed),
            shared.errors.load(Ordering::Relaxed),
            shared.counters.iter().map(|c| c.inflight.load(Ordering::Relaxed)).sum::<usize>()
        );
    }
    // Let in-flight requests finish for a moment, then abandon them.
    let grace = Instant::now() + Duration::from_secs(3);
    for t in &mut tasks {
        let left = grace.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, &mut *t).await.is_err() {
            t.abort();
        }
    }
    for t in &tasks {
        t.abort();
    }
    while Instant::now() < grace && shared.counters.iter().any(|c| c.inflight.load(Ordering::Relaxed) > 0) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for h in shared.open_handles.lock().unwrap().drain(..) {
        h.abort();
    }
    let offered: Vec<u64> = shared.counters.iter().map(|c| c.offered.load(Ordering::Relaxed)).collect();
    let samples = std::mem::take(&mut *shared.samples.lock().unwrap());
    PhaseResult {
        duration,
        samples,
        offered_after_warmup: offered
            .iter()
            .zip(&shared.offered_at_warmup)
            .map(|(o, w)| o - w.load(Ordering::Relaxed).min(*o))
            .collect(),
        offered,
        client_dropped: shared.counters.iter().map(|c| c.client_dropped.load(Ordering::Relaxed)).collect(),
    }
}
