//! From samples to the report's numbers: per-tenant rates, percentiles and 429s, Jain's index
//! and the weighted share error among backlogged tenants, and per-second series for the plots.

use serde::Serialize;

use super::load::{PhaseResult, Sample};
use super::scenario::{Arrival, TenantLoad};
use crate::stats::percentile_sorted;

#[derive(Debug, Clone, Serialize)]
pub struct TenantStats {
    pub tenant: String,
    pub weight: f64,
    pub role: String,
    pub offered_rps: f64,
    pub completed_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rejected_429: u64,
    /// Non-2xx other than 429, and transport errors / time-outs.
    pub other_errors: u64,
    pub completed: u64,
    pub client_dropped: u64,
    /// Watches opened (long-running; not in the rates or latencies above).
    pub watches: u64,
    pub backlogged: bool,
}

/// Jain's fairness index of `xs`: (Σx)² / (n Σx²); 1 for a single value or all equal.
pub fn jain(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let s: f64 = xs.iter().sum();
    let s2: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || s2 == 0.0 {
        return 1.0;
    }
    s * s / (n * s2)
}

/// max |share − ideal| / ideal, shares of `work` against shares of `weights`.
pub fn share_error(work: &[f64], weights: &[f64]) -> f64 {
    let tw: f64 = work.iter().sum();
    let ww: f64 = weights.iter().sum();
    if work.is_empty() || tw == 0.0 || ww == 0.0 {
        return 0.0;
    }
    work.iter().zip(weights).map(|(c, w)| ((c / tw) - (w / ww)).abs() / (w / ww)).fold(0.0, f64::max)
}

/// Stats for each tenant of a phase, over `[warmup, duration]`.
pub fn tenant_stats(loads: &[&TenantLoad], phase: &PhaseResult, warmup: f64) -> Vec<TenantStats> {
    let window = (phase.duration.as_secs_f64() - warmup).max(1e-3);
    let end = phase.duration.as_secs_f64();
    loads
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mine: Vec<&Sample> = phase.samples.iter().filter(|s| s.tenant == i).collect();
            let in_window = |s: &&&Sample| s.start_s >= warmup && s.end_s <= end + 0.5;
            let ok: Vec<&Sample> = mine
                .iter()
                .filter(in_window)
                .filter(|s| !s.op.is_long() && (200..300).contains(&s.status))
                .copied()
                .collect();
            let mut lat: Vec<f64> = ok.iter().map(|s| s.latency_ms).collect();
            lat.sort_by(f64::total_cmp);
            let rejected = mine.iter().filter(|s| s.status == 429).count() as u64;
            let other = mine.iter().filter(|s| s.status != 429 && !(200..300).contains(&s.status)).count() as u64;
            let watches = mine.iter().filter(|s| s.op.is_long() && (200..300).contains(&s.status)).count() as u64;
            let offered_rps = phase.offered_after_warmup[i] as f64 / window;
            let completed_rps = ok.len() as f64 / window;
            let backlogged = match l.arrival {
                Arrival::Closed { .. } => true,
                Arrival::Open { .. } => {
                    rejected > 0 || phase.client_dropped[i] > 0 || completed_rps < 0.9 * offered_rps
                }
            };
            TenantStats {
                tenant: l.name.clone(),
                weight: l.weight,
                role: l.role.to_string(),
                offered_rps: round(offered_rps, 1),
                completed_rps: round(completed_rps, 1),
                p50_ms: round(percentile_sorted(&lat, 0.50), 2),
                p99_ms: round(percentile_sorted(&lat, 0.99), 2),
                rejected_429: rejected,
                other_errors: other,
                completed: ok.len() as u64,
                client_dropped: phase.client_dropped[i],
                watches,
                backlogged: backlogged && !l.mix.iter().all(|m| m.0.is_long()),
            }
        })
        .collect()
}

/// (Jain's index, weighted share error, the tenants counted) among backlogged tenants.
pub fn fairness(stats: &[TenantStats]) -> (f64, f64, Vec<String>) {
    let b: Vec<&TenantStats> = stats.iter().filter(|s| s.backlogged).collect();
    let norm: Vec<f64> = b.iter().map(|s| s.completed_rps / s.weight).collect();
    let work: Vec<f64> = b.iter().map(|s| s.completed_rps).collect();
    let weights: Vec<f64> = b.iter().map(|s| s.weight).collect();
    (round(jain(&norm), 4), round(share_error(&work, &weights), 4), b.iter().map(|s| s.tenant.clone()).collect())
}

/// Per second (by completion time): completed 2xx per tenant, and p99 latency per tenant.
pub fn series(n_tenants: usize, phase: &PhaseResult) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let secs = phase.duration.as_secs_f64().ceil() as usize;
    let mut lat: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); secs]; n_tenants];
    for s in &phase.samples {
        if s.op.is_long() || !(200..300).contains(&s.status) {
            continue;
        }
        let b = s.end_s.floor() as usize;
        if b < secs && s.tenant < n_tenants {
            lat[s.tenant][b].push(s.latency_ms);
        }
    }
    let thr = lat.iter().map(|t| t.iter().map(|v| v.len() as f64).collect()).collect();
    let p99 = lat
        .iter_mut()
        .map(|t| {
            t.iter_mut()
                .map(|v| {
                    v.sort_by(f64::total_cmp);
                    percentile_sorted(v, 0.99)
                })
                .collect()
        })
        .collect();
    (thr, p99)
}

pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_and_share_error() {
        assert!((jain(&[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!((jain(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
        assert_eq!(jain(&[]), 1.0);
        // Perfect 1:2:4.
        assert!(share_error(&[10.0, 20.0, 40.0], &[1.0, 2.0, 4.0]) < 1e-12);
        // w1 gets 2/7 instead of 1/7: error 100%.
        let e = share_error(&[20.0, 20.0, 30.0], &[1.0, 2.0, 4.0]);
        assert!((e - 1.0).abs() < 1e-9, "{e}");
    }
}
