//! Small statistics helpers: percentiles of latencies, best/median of repeated runs.

use std::time::Duration;

use serde::Serialize;

/// Nearest-rank percentile (`q` in 0..=1) of an ascending slice; 0 for an empty one.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median (mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn max(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::NAN, f64::max)
}

/// Latency distribution of one measured case, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: usize,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let mean = if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 };
        Latency {
            count: ms.len(),
            mean_ms: mean,
            min_ms: ms.first().copied().unwrap_or(0.0),
            p50_ms: percentile_sorted(&ms, 0.50),
            p90_ms: percentile_sorted(&ms, 0.90),
            p99_ms: percentile_sorted(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Throughput of repeated runs over the same input: best and median.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub runs: usize,
    /// MB/s (10^6 bytes per second) of input consumed.
    pub best_mb_s: f64,
    pub median_mb_s: f64,
    pub per_run_mb_s: Vec<f64>,
}

impl Throughput {
    pub fn of(input_bytes: usize, times: &[Duration]) -> Throughput {
        let per_run: Vec<f64> = times.iter().map(|t| mb_per_s(input_bytes as u64, *t)).collect();
        Throughput {
            runs: per_run.len(),
            best_mb_s: max(&per_run),
            median_mb_s: median(&per_run),
            per_run_mb_s: per_run,
        }
    }
}

pub fn mb_per_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64().max(1e-9)
}

/// `12.3 MB` (decimal megabytes) for reports.
pub fn fmt_mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile_sorted(&v, 0.5), 50.0);
        assert_eq!(percentile_sorted(&v, 0.99), 99.0);
        assert_eq!(percentile_sorted(&v, 1.0), 100.0);
        assert_eq!(percentile_sorted(&v, 0.0), 1.0);
        assert_eq!(percentile_sorted(&[], 0.5), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn latency_summary() {
        let s: Vec<Duration> = (1..=10).map(|i| Duration::from_millis(i)).collect();
        let l = Latency::of(&s);
        assert_eq!(l.count, 10);
        assert_eq!(l.p50_ms, 5.0);
        assert_eq!(l.max_ms, 10.0);
        assert!((l.mean_ms - 5.5).abs() < 1e-9);
    }
}
