//! Refused requests, summarised and paced.
//!
//! A flooding tenant can be refused tens of thousands of times a second; a log line (or any
//! other work) per refusal would make the flood cost everyone. Refusals are counted here, in
//! a lock-free map, and in the flow-control metrics; a background task logs who was refused
//! how often.
//!
//! Even a cheap 429 costs TLS, HTTP/2 and a Status body, and on a small machine a client
//! that resends the moment it is refused turns that into most of the proxy's CPU, taken from
//! the quiet tenants. So refusals are paced: each tenant gets [`IMMEDIATE_PER_SECOND`] 429s
//! answered at once (a burst of as many); past that, a 429 is held up to [`HOLD`] before it
//! is sent. A client that honours Retry-After (at least 1 s) never notices; a flood is slowed
//! to one request per open stream every 0.5–1 s. At most [`MAX_HELD`] are held at a time, so
//! holding can never become the cost.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// 429s per second (and burst) a tenant gets at once before they are held.
pub const IMMEDIATE_PER_SECOND: f64 = 50.0;
/// How long a paced 429 is held at most: no longer than the smallest Retry-After (1 s).
pub const HOLD: Duration = Duration::from_secs(1);
/// Each hold is drawn from [HOLD − HOLD_JITTER, HOLD], so that a burst refused together is
/// not answered together: in step, the flood's resends would arrive as one wave a second,
/// and each wave would delay the quiet tenants' requests queued behind it on the same cores.
pub const HOLD_JITTER: Duration = Duration::from_millis(500);
/// Held refusals across all tenants; beyond this they are answered at once.
pub const MAX_HELD: usize = 20_000;

/// Refusals per tenant since the last summary, and each tenant's budget of immediate ones.
#[derive(Default)]
pub struct Refusals {
    counts: DashMap<String, AtomicU64>,
    budgets: DashMap<String, Mutex<Budget>>,
    held: Arc<AtomicUsize>,
}

/// A token bucket of immediate refusals.
struct Budget {
    tokens: f64,
    at: Instant,
}

/// A refusal being held; dropping it (sent, or the client went away) frees its place.
pub struct Held {
    count: Arc<AtomicUsize>,
    /// How long to hold this one.
    pub duration: Duration,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
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

    /// Counts a refusal of `tenant` and says whether to hold it: `Some` when the tenant has
    /// used its immediate refusals and there is room to hold one more. Sleep its `duration`
    /// (at most [`HOLD`]) while keeping the returned guard, then answer.
    pub fn record_and_pace(&self, tenant: &str, now: Instant) -> Option<Held> {
        self.record(tenant);
        if self.take_immediate(tenant, now) {
            return None;
        }
        if self.held.fetch_add(1, Ordering::Relaxed) >= MAX_HELD {
            self.held.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let jitter = HOLD_JITTER.mul_f64(rand::random::<f64>());
        Some(Held { count: self.held.clone(), duration: HOLD - jitter })
    }

    /// Refusals being held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn take_immediate(&self, tenant: &str, now: Instant) -> bool {
        let take = |b: &Mutex<Budget>| {
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            let refill = now.saturating_duration_since(b.at).as_secs_f64() * IMMEDIATE_PER_SECOND;
            b.tokens = (b.tokens + refill).min(IMMEDIATE_PER_SECOND);
            b.at = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                true
            } else {
                false
            }
        };
        if let Some(b) = self.budgets.get(tenant) {
            return take(&b);
        }
        let entry = self.budgets.entry(tenant.to_string()).or_insert_with(|| Mutex::new(Budget { tokens: IMMEDIATE_PER_SECOND, at: now }));
        take(&entry)
    }

    /// The counts since the last call, largest first; tenants with none are forgotten.
    pub fn take(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> =
            self.counts.iter().map(|e| (e.key().clone(), e.value().swap(0, Ordering::Relaxed))).filter(|(_, n)| *n > 0).collect();
        self.counts.retain(|_, n| n.load(Ordering::Relaxed) > 0);
        // A budget that has refilled is the same as none.
        let now = Instant::now();
        let full = Duration::from_secs_f64(1.0);
        self.budgets.retain(|_, b| now.saturating_duration_since(b.lock().unwrap_or_else(|e| e.into_inner()).at) < full);
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

    #[test]
    fn a_burst_is_answered_at_once_then_refusals_are_held_per_tenant() {
        let r = Refusals::default();
        let t0 = Instant::now();
        let burst = IMMEDIATE_PER_SECOND as usize;
        for i in 0..burst {
            assert!(r.record_and_pace("noisy", t0).is_none(), "refusal {i} of the burst was held");
        }
        let held: Vec<Held> = (0..5).map(|_| r.record_and_pace("noisy", t0).expect("past the burst: held")).collect();
        assert_eq!(r.held(), 5);
        for h in &held {
            assert!(h.duration <= HOLD && h.duration >= HOLD - HOLD_JITTER, "{:?}", h.duration);
        }
        // Another tenant's budget is its own.
        assert!(r.record_and_pace("quiet", t0).is_none());
        drop(held);
        assert_eq!(r.held(), 0, "a sent or abandoned refusal frees its place");
        // The budget refills with time: 0.1 s later, five more at once.
        let later = t0 + Duration::from_millis(100);
        for _ in 0..5 {
            assert!(r.record_and_pace("noisy", later).is_none());
        }
        assert!(r.record_and_pace("noisy", later).is_some());
        assert_eq!(r.take()[0], ("noisy".to_string(), (burst + 5 + 6) as u64));
    }

    #[test]
    fn holding_is_bounded() {
        let r = Refusals::default();
        let t0 = Instant::now();
        for _ in 0..IMMEDIATE_PER_SECOND as usize {
            r.record_and_pace("noisy", t0);
        }
        let held: Vec<Held> = (0..MAX_HELD).filter_map(|_| r.record_and_pace("noisy", t0)).collect();
        assert_eq!(held.len(), MAX_HELD);
        assert!(r.record_and_pace("noisy", t0).is_none(), "beyond MAX_HELD a refusal is answered at once");
        assert_eq!(r.held(), MAX_HELD);
    }
}
