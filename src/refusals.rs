//! Refused requests, summarised: one log line per tenant per interval, not one per refusal.
//!
//! A flooding tenant can be refused tens of thousands of times a second; a log line (or any
//! other work) per refusal would make the flood cost everyone. Refusals are counted here, in
//! a lock-free map, and in the flow-control metrics; a background task logs who was refused
//! how often.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

/// Refusals per tenant since the last summary.
#[derive(Default)]
pub struct Refusals {
    counts: DashMap<String, AtomicU64>,
}

impl Refusals {
    /// Counts one refusal of `tenant` (429s: rate caps, full queues, time-outs, stream caps).
    pub fn record(&self, tenant: &str) {
        if let Some(n) = self.counts.get(tenant) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counts.entry(tenant.to_string()).or_default().fetch_add(1, Ordering::Relaxed);
    }

    /// The counts since the last call, largest first; tenants with none are forgotten.
    pub fn take(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> =
            self.counts.iter().map(|e| (e.key().clone(), e.value().swap(0, Ordering::Relaxed))).filter(|(_, n)| *n > 0).collect();
        self.counts.retain(|_, n| n.load(Ordering::Relaxed) > 0);
        out.sort_by(|a, b| b.1.cmp(&a.1));
        out
    }

    /// Logs the summary every `every`.
    pub async fn log_every(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            for (tenant, refused) in self.take() {
                tracing::info!(tenant, refused, seconds = every.as_secs(), "requests refused with 429 (flow control)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_tenant_and_resets() {
        let r = Refusals::default();
        for _ in 0..3 {
            r.record("noisy");
        }
        r.record("quiet");
        assert_eq!(r.take(), vec![("noisy".to_string(), 3), ("quiet".to_string(), 1)]);
        assert!(r.take().is_empty(), "a summary covers each refusal once");
        r.record("quiet");
        assert_eq!(r.take(), vec![("quiet".to_string(), 1)]);
    }
}
