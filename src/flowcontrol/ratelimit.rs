//! Request-rate caps per tenant and global (GCRA, via `governor`), checked before a request is queued.
//! Queues bound concurrency, these bound arrival rate: a flooding tenant gets a fast 429 instead of filling its queue.
//!
//! The check order (the tenant's cap first, then the optional global cap) means a
//! tenant's rejected requests never use up anyone else's quota.
//!
//! Tenants that share a quota share one keyed limiter (one GCRA cell per tenant);
//! a per-tenant override gets the limiter for its own quota. Keyed state for
//! tenants that have been quiet long enough to be indistinguishable from fresh is
//! dropped by [`RateLimits::retain_recent`], which the owner calls periodically.
//! Live reconfiguration keeps the GCRA state of every quota that did not change.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::clock::{Clock, GovernorClock};

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateQuota {
    /// Sustained requests per second (> 0).
    pub per_second: f64,
    /// Requests that may arrive at once after a quiet period (≥ 1).
    pub burst: u32,
}

impl RateQuota {
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateQuota { per_second, burst }
    }

    /// Checks the numbers; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(format!("rate must be a positive number of requests per second, got {}", self.per_second));
        }
        if self.per_second > 1e9 {
            return Err(format!("rate {} per second is too large", self.per_second));
        }
        if self.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        // The limiter holds one request's period and the burst's in u64 nanoseconds (and
        // `Duration` the period): a rate so slow that the burst takes over 10^9 s to refill
        // would overflow them, and means nothing anyway.
        if f64::from(self.burst) / self.per_second > 1e9 {
            return Err(format!(
                "rate {} per second with burst {} takes more than 10^9 seconds to refill; raise the rate or lower the burst",
                self.per_second, self.burst
            ));
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second).max(Duration::from_nanos(1));
        Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(self.burst.max(1)).expect("burst >= 1"))
    }

    fn key(&self) -> (u64, u32) {
        (self.per_second.to_bits(), self.burst)
    }
}

/// Which caps apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitConfig {
    /// The cap for every tenant without an override (`None`: no per-tenant cap).
    pub per_tenant: Option<RateQuota>,
    /// Per-tenant overrides; `Some(None)` exempts that tenant from the per-tenant cap.
    pub overrides: HashMap<String, Option<RateQuota>>,
    /// A cap on all tenants together, checked after the tenant's own.
    pub global: Option<RateQuota>,
}

impl RateLimitConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(q) = &self.per_tenant {
            q.validate().map_err(|e| format!("per-tenant rate limit: {e}"))?;
        }
        if let Some(q) = &self.global {
            q.validate().map_err(|e| format!("global rate limit: {e}"))?;
        }
        let mut names: Vec<_> = self.overrides.keys().collect();
        names.sort();
        for t in names {
            if let Some(q) = &self.overrides[t] {
                q.validate().map_err(|e| format!("rate limit for tenant {t:?}: {e}"))?;
            }
        }
        Ok(())
    }

    fn quota_for(&self, tenant: &str) -> Option<RateQuota> {
        match self.overrides.get(tenant) {
            Some(q) => *q,
            None => self.per_tenant,
        }
    }
}

/// Why a request was refused by a rate cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    Tenant,
    Global,
}

/// A refusal: which cap, and how long until one more request would conform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub scope: RateLimitScope,
    pub retry_in: Duration,
}

type KeyedLimiter = RateLimiter<String, DashMapStateStore<String>, GovernorClock, NoOpMiddleware<Duration>>;
type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, GovernorClock, NoOpMiddleware<Duration>>;

struct State {
    cfg: RateLimitConfig,
    keyed: HashMap<(u64, u32), Arc<KeyedLimiter>>,
    global: Option<(RateQuota, Arc<DirectLimiter>)>,
}

/// The per-tenant and global caps. Thread-safe; checks take a read lock only.
pub struct RateLimits {
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
}

impl RateLimits {
    /// Builds the limiters; an invalid config is refused with the reason.
    pub fn new(cfg: RateLimitConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        cfg.validate()?;
        let rl = RateLimits {
            clock,
            state: RwLock::new(State { cfg: RateLimitConfig::default(), keyed: HashMap::new(), global: None }),
        };
        rl.configure(cfg)?;
        Ok(rl)
    }

    /// No caps at all.
    pub fn unlimited(clock: Arc<dyn Clock>) -> Self {
        Self::new(RateLimitConfig::default(), clock).expect("empty config is valid")
    }

    /// Replaces the config. Limiters whose quota is unchanged keep their state, so
    /// a reload does not hand every tenant a fresh burst.
    pub fn configure(&self, cfg: RateLimitConfig) -> Result<(), String> {
        cfg.validate()?;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut wanted: Vec<RateQuota> = cfg.per_tenant.into_iter().collect();
        wanted.extend(cfg.overrides.values().flatten().copied());
        let mut keyed = HashMap::new();
        for q in wanted {
            let k = q.key();
            if keyed.contains_key(&k) {
                continue;
            }
            let lim = match st.keyed.get(&k) {
                Some(l) => l.clone(),
                None => Arc::new(KeyedLimiter::dashmap_with_clock(q.quota(), GovernorClock(self.clock.clone()))),
            };
            keyed.insert(k, lim);
        }
        let global = match (cfg.global, st.global.take()) {
            (Some(q), Some((old, lim))) if old == q => Some((q, lim)),
            (Some(q), _) => {
                Some((q, Arc::new(DirectLimiter::direct_with_clock(q.quota(), GovernorClock(self.clock.clone())))))
            }
            (None, _) => None,
        };
        *st = State { cfg, keyed, global };
        Ok(())
    }

    /// The config in force.
    pub fn config(&self) -> RateLimitConfig {
        self.state.read().unwrap_or_else(|e| e.into_inner()).cfg.clone()
    }

    /// Counts one request of `tenant`: its own cap first; only if that admits it,
    /// the global cap. A refusal by the tenant cap does not touch the global cap.
    pub fn check(&self, tenant: &str) -> Result<(), RateLimited> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        if let Some(q) = st.cfg.quota_for(tenant) {
            if let Some(lim) = st.keyed.get(&q.key()) {
                if let Err(nu) = lim.check_key(&tenant.to_string()) {
                    return Err(RateLimited { scope: RateLimitScope::Tenant, retry_in: nu.wait_time_from(now) });
                }
            }
        }
        if let Some((_, lim)) = &st.global {
            if let Err(nu) = lim.check() {
                return Err(RateLimited { scope: RateLimitScope::Global, retry_in: nu.wait_time_from(now) });
            }
        }
        Ok(())
    }

    /// Drops per-tenant state that is indistinguishable from fresh. Call periodically.
    pub fn retain_recent(&self) {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        for lim in st.keyed.values() {
            lim.retain_recent();
            lim.shrink_to_fit();
        }
    }

    /// Number of tenants with live GCRA state (for tests and debugging).
    pub fn tracked_tenants(&self) -> usize {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.keyed.values().map(|l| l.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowcontrol::clock::FakeClock;

    fn limits(cfg: RateLimitConfig) -> (FakeClock, RateLimits) {
        let clock = FakeClock::new();
        let rl = RateLimits::new(cfg, Arc::new(clock.clone())).unwrap();
        (clock, rl)
    }

    #[test]
    fn per_tenant_cap_with_burst_and_refill() {
        let (clock, rl) = limits(RateLimitConfig { per_tenant: Some(RateQuota::new(2.0, 3)), ..Default::default() });
        for _ in 0..3 {
            rl.check("a").unwrap();
        }
        let e = rl.check("a").unwrap_err();
        assert_eq!(e.scope, RateLimitScope::Tenant);
        assert_eq!(e.retry_in, Duration::from_millis(500));
        // another tenant has its own cell
        rl.check("b").unwrap();
        clock.advance(Duration::from_millis(500));
        rl.check("a").unwrap();
        assert!(rl.check("a").is_err());
    }

    #[test]
    fn tenant_rejections_do_not_consume_global_quota() {
        let (_clock, rl) = limits(RateLimitConfig {
            per_tenant: Some(RateQuota::new(1.0, 1)),
            global: Some(RateQuota::new(1.0, 3)),
            ..Default::default()
        });
        rl.check("flood").unwrap(); // global: 1 of 3 used
        for _ in 0..100 {
            assert_eq!(rl.check("flood").unwrap_err().scope, RateLimitScope::Tenant);
        }
        // the flood's refusals used none of the global burst: two others still pass
        rl.check("quiet1").unwrap();
        rl.check("quiet2").unwrap();
        assert_eq!(rl.check("quiet3").unwrap_err().scope, RateLimitScope::Global);
    }

    #[test]
    fn overrides_and_exemptions() {
        let mut overrides = HashMap::new();
        overrides.insert("gold".to_string(), Some(RateQuota::new(100.0, 10)));
        overrides.insert("ops".to_string(), None);
        let (_clock, rl) =
            limits(RateLimitConfig { per_tenant: Some(RateQuota::new(1.0, 1)), overrides, global: None });
        rl.check("bronze").unwrap();
        assert!(rl.check("bronze").is_err());
        for _ in 0..10 {
            rl.check("gold").unwrap();
        }
        assert!(rl.check("gold").is_err());
        for _ in 0..1000 {
            rl.check("ops").unwrap();
        }
    }

    #[test]
    fn retain_recent_forgets_quiet_tenants_and_reload_keeps_state() {
        let (clock, rl) = limits(RateLimitConfig { per_tenant: Some(RateQuota::new(1.0, 2)), ..Default::default() });
        rl.check("a").unwrap();
        rl.check("a").unwrap();
        rl.check("b").unwrap();
        assert_eq!(rl.tracked_tenants(), 2);
        // reload with the same quota plus a global cap: "a" is still exhausted
        rl.configure(RateLimitConfig {
            per_tenant: Some(RateQuota::new(1.0, 2)),
            global: Some(RateQuota::new(1000.0, 1000)),
            ..Default::default()
        })
        .unwrap();
        assert!(rl.check("a").is_err());
        clock.advance(Duration::from_secs(10));
        rl.retain_recent();
        assert_eq!(rl.tracked_tenants(), 0);
    }

    #[test]
    fn invalid_config_is_refused() {
        let clock: Arc<dyn Clock> = Arc::new(FakeClock::new());
        assert!(RateLimits::new(
            RateLimitConfig { per_tenant: Some(RateQuota::new(0.0, 1)), ..Default::default() },
            clock.clone()
        )
        .is_err());
        let rl = RateLimits::unlimited(clock);
        assert!(rl.configure(RateLimitConfig { global: Some(RateQuota::new(1.0, 0)), ..Default::default() }).is_err());
        rl.check("x").unwrap();
    }
}
