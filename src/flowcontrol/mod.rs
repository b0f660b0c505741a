//! Flow control in front of the shared apiserver: priority levels of upstream seats shared among tenants by weighted fair queuing, per-tenant and global rate caps, and 429 advice.
//! So that no tenant can make the shared apiserver slow or unavailable for the others: a flooding tenant queues (and then gets fast 429s with a growing Retry-After) while quiet tenants keep their latency.
//!
//! # Pieces
//! - [`queueset::QueueSet`]: one level's pure, deterministic scheduler (rules in its docs).
//! - [`ratelimit::RateLimits`]: GCRA caps checked before a request is queued.
//! - [`clock`]: the time source ([`clock::FakeClock`] in tests).
//! - [`FlowControl`]: the thread-safe async front the proxy uses.
//!
//! # Use from the proxy
//! ```ignore
//! let level = fc.level_for(tenant);
//! let wait = flowcontrol::wait_limit_for(request_timeout);   // min(timeout/4, 60 s), default 15 s
//! match fc.acquire(&level, tenant, width, estimate, wait).await {
//!     Ok(permit) => { /* forward; move `permit` into the response body wrapper so it
//!                        drops when the body ends or the client goes away */ }
//!     Err(rej) => { /* 429 + Retry-After: rej.retry_after_secs() (not for Cancelled) */ }
//! }
//! ```
//! Dropping the `acquire` future (the client went away while queued) removes the
//! request from its queue (reason `cancelled`). A [`Permit`] gives its seats back
//! when dropped, or earlier with [`Permit::release_early`] (a WATCH after its initial
//! events); the time from dispatch to release is the actual service time that
//! corrects the tenant's tag.
//!
//! # Retry-After
//! Per tenant, a score decays by half every `half_life` and grows by one per
//! rejection (queue-full, time-out, rate-limited). The advice is
//! `min(max, base × 2^floor(log2(score)))`: 1 s for an isolated rejection, then
//! 2, 4, 8 … s while the tenant keeps overflowing, halving every `half_life` once it
//! stops; never less than the rate limiter's own wait, rounded up to whole
//! seconds. Cancellations do not count.
//!
//! # Locking
//! One `std::sync::Mutex` per level, never held across an await; observer hooks
//! run under it and must be cheap (counter/histogram updates).

pub mod clock;
pub mod queueset;
pub mod ratelimit;

#[cfg(test)]
mod tests_async;
#[cfg(test)]
mod tests_queueset;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

pub use clock::{Clock, FakeClock, MonotonicClock};
pub use queueset::{
    Enqueue, FlowConfig, FlowGauges, FlowSnapshot, LevelConfig, LevelSnapshot, QueueSet, RejectReason, RequestId,
    Ticket,
};
pub use ratelimit::{RateLimitConfig, RateLimits, RateQuota};

/// Longest wait limit, and the one used when the request has no timeout.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(60);
pub const DEFAULT_WAIT_LIMIT: Duration = Duration::from_secs(15);

/// The wait limit for a request with the given timeout (`?timeout=` or the
/// server's request timeout): `min(timeout / 4, 60 s)`; 15 s without one.
pub fn wait_limit_for(request_timeout: Option<Duration>) -> Duration {
    match request_timeout {
        Some(t) => (t / 4).min(MAX_WAIT_LIMIT),
        None => DEFAULT_WAIT_LIMIT,
    }
}

/// Numbers of one level, for gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelGauges {
    pub seats_limit: u32,
    pub seats_in_use: u32,
    pub executing_requests: usize,
    pub queued_requests: usize,
}

/// Metrics hooks (all no-ops by default). Called under the level's lock: keep
/// them cheap. Names mirror APF's metrics: dispatched_requests_total,
/// rejected_requests_total{reason}, request_wait_duration_seconds,
/// request_execution_seconds, current_inqueue_requests, current_executing_{requests,seats}.
pub trait FlowObserver: Send + Sync + 'static {
    /// A request got its seats after waiting `wait` (zero if it ran at once).
    fn dispatched(&self, _level: &str, _tenant: &str, _seats: u32, _wait: Duration) {}
    /// A request was refused; `waited` is its time in the queue (zero for
    /// queue-full and rate-limited).
    fn rejected(&self, _level: &str, _tenant: &str, _reason: RejectReason, _waited: Duration) {}
    /// A dispatched request gave its seats back after `execution`.
    fn finished(&self, _level: &str, _tenant: &str, _seats: u32, _execution: Duration) {}
    /// A tenant's queue/executing numbers changed (zeros when it became idle).
    fn flow_gauges(&self, _level: &str, _tenant: &str, _gauges: FlowGauges) {}
    /// The level's totals changed.
    fn level_gauges(&self, _level: &str, _gauges: LevelGauges) {}
}

/// An observer that records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;
impl FlowObserver for NoopObserver {}

/// How Retry-After grows and shrinks (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryAfterConfig {
    pub base: Duration,
    pub max: Duration,
    pub half_life: Duration,
}

impl Default for RetryAfterConfig {
    fn default() -> Self {
        RetryAfterConfig {
            base: Duration::from_secs(1),
            max: Duration::from_secs(32),
            half_life: Duration::from_secs(10),
        }
    }
}

/// Where a tenant's requests go and with what weight.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantAssignment {
    /// Priority level (`None`: the default level).
    pub level: Option<String>,
    /// Weight within that level (> 0).
    pub weight: f64,
}

/// Everything [`FlowControl`] needs; [`FlowControl::apply`] swaps it live.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowControlConfig {
    pub levels: BTreeMap<String, LevelConfig>,
    /// Level for tenants without an assignment, and for unknown level names.
    pub default_level: String,
    pub tenants: HashMap<String, TenantAssignment>,
    /// Weight of tenants without an assignment.
    pub default_weight: f64,
    pub rate_limits: RateLimitConfig,
    pub retry_after: RetryAfterConfig,
}

impl Default for FlowControlConfig {
    /// Two levels: `default` (10 seats) and `exempt`.
    fn default() -> Self {
        let mut levels = BTreeMap::new();
        levels.insert("default".to_string(), LevelConfig::default());
        levels.insert("exempt".to_string(), LevelConfig { exempt: true, ..LevelConfig::default() });
        FlowControlConfig {
            levels,
            default_level: "default".into(),
            tenants: HashMap::new(),
            default_weight: 1.0,
            rate_limits: RateLimitConfig::default(),
            retry_after: RetryAfterConfig::default(),
        }
    }
}

impl FlowControlConfig {
    /// Checks the config; the error names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !self.levels.contains_key(&self.default_level) {
            return Err(format!("default level {:?} is not defined", self.default_level));
        }
        for (name, l) in &self.levels {
            if name.is_empty() {
                return Err("a priority level has an empty name".into());
            }
            l.validate().map_err(|e| format!("priority level {name:?}: {e}"))?;
        }
        if !(self.default_weight.is_finite() && self.default_weight > 0.0) {
            return Err(format!("default weight must be positive, got {}", self.default_weight));
        }
        let mut names: Vec<_> = self.tenants.keys().collect();
        names.sort();
        for t in names {
            let a = &self.tenants[t];
            if let Some(l) = &a.level {
                if !self.levels.contains_key(l) {
                    return Err(format!("tenant {t:?}: priority level {l:?} is not defined"));
                }
            }
            if !(a.weight.is_finite() && a.weight > 0.0) {
                return Err(format!("tenant {t:?}: weight must be positive, got {}", a.weight));
            }
        }
        self.rate_limits.validate()?;
        let r = &self.retry_after;
        if r.base < Duration::from_secs(1) || r.max < r.base || r.half_life.is_zero() {
            return Err("retry-after: need base >= 1s, max >= base and a positive half-life".into());
        }
        Ok(())
    }
}

/// A refused request: answer 429 with `Retry-After: retry_after_secs()` (a
/// cancelled one has no client left to answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub level: String,
    pub tenant: String,
    /// Suggested client back-off (whole seconds, at least 1).
    pub retry_after: Duration,
    /// Time spent queued before the refusal.
    pub waited: Duration,
}

impl Rejection {
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            RejectReason::QueueFull => "the tenant's queue is full",
            RejectReason::TimedOut => "the request waited too long in the queue",
            RejectReason::Cancelled => "the client went away while queued",
            RejectReason::RateLimited => "the tenant's request rate is over its limit",
        };
        write!(
            f,
            "too many requests: {why} (priority level {:?}, tenant {:?}); retry after {} s",
            self.level,
            self.tenant,
            self.retry_after_secs()
        )
    }
}

impl std::error::Error for Rejection {}

enum Wake {
    Go(Ticket),
    Reject(RejectReason, Duration),
}

struct LevelInner {
    qs: QueueSet,
    waiters: HashMap<RequestId, oneshot::Sender<Wake>>,
}

struct Level {
    name: String,
    observer: Arc<dyn FlowObserver>,
    inner: Mutex<LevelInner>,
}

impl Level {
    fn lock(&self) -> MutexGuard<'_, LevelInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands dispatched tickets to their waiters; a ticket with no live waiter is
    /// finished at once (its seats go to the next).
    fn deliver(&self, inner: &mut LevelInner, tickets: Vec<Ticket>, touched: &mut Vec<String>) {
        let mut work = tickets;
        while let Some(t) = work.pop() {
            self.observer.dispatched(&self.name, t.tenant(), t.seats(), t.wait());
            touched.push(t.tenant().to_string());
            let orphan = match inner.waiters.remove(&t.id()) {
                Some(tx) => match tx.send(Wake::Go(t)) {
                    Ok(()) => None,
                    Err(Wake::Go(t)) => Some(t),
                    Err(Wake::Reject(..)) => None,
                },
                None => Some(t),
            };
            if let Some(t) = orphan {
                let fin = inner.qs.finish(t);
                self.observer.finished(&self.name, &fin.tenant, fin.seats, fin.execution);
                work.extend(fin.dispatched);
            }
        }
    }

    fn report(&self, inner: &LevelInner, touched: &mut Vec<String>) {
        touched.sort();
        touched.dedup();
        for t in touched.iter() {
            self.observer.flow_gauges(&self.name, t, inner.qs.flow_gauges(t));
        }
        self.observer.level_gauges(
            &self.name,
            LevelGauges {
                seats_limit: inner.qs.config().seats,
                seats_in_use: inner.qs.seats_in_use(),
                executing_requests: inner.qs.executing_requests(),
                queued_requests: inner.qs.queued_requests(),
            },
        );
    }

    fn release(&self, ticket: Ticket) -> Duration {
        let mut inner = self.lock();
        let mut touched = vec![ticket.tenant().to_string()];
        let fin = inner.qs.finish(ticket);
        self.observer.finished(&self.name, &fin.tenant, fin.seats, fin.execution);
        self.deliver(&mut inner, fin.dispatched, &mut touched);
        self.report(&inner, &mut touched);
        fin.execution
    }

    fn expire(&self) {
        let mut inner = self.lock();
        let e = inner.qs.expire();
        let mut touched = Vec::new();
        for r in e.timed_out {
            touched.push(r.tenant.to_string());
            if let Some(tx) = inner.waiters.remove(&r.id) {
                let _ = tx.send(Wake::Reject(RejectReason::TimedOut, r.waited));
            }
        }
        self.deliver(&mut inner, e.dispatched, &mut touched);
        if !touched.is_empty() {
            self.report(&inner, &mut touched);
        }
    }
}

/// Seats held by a dispatched request; given back on drop (or earlier with
/// [`Permit::release_early`]). Keep it alive until the response body has ended.
pub struct Permit {
    level: Arc<Level>,
    ticket: Option<Ticket>,
    tenant: String,
    seats: u32,
    wait: Duration,
    execution: Option<Duration>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("level", &self.level.name)
            .field("tenant", &self.tenant)
            .field("seats", &self.seats)
            .field("wait", &self.wait)
            .field("released", &self.ticket.is_none())
            .finish()
    }
}

impl Permit {
    fn new(level: Arc<Level>, ticket: Ticket) -> Self {
        Permit {
            tenant: ticket.tenant().to_string(),
            seats: ticket.seats(),
            wait: ticket.wait(),
            level,
            ticket: Some(ticket),
            execution: None,
        }
    }

    pub fn level(&self) -> &str {
        &self.level.name
    }
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
    /// Seats held (until released).
    pub fn seats(&self) -> u32 {
        self.seats
    }
    /// Time spent queued.
    pub fn wait(&self) -> Duration {
        self.wait
    }
    pub fn is_released(&self) -> bool {
        self.ticket.is_none()
    }
    /// Gives the seats back now (e.g. a WATCH once its initial events are sent),
    /// dispatching the next waiter. Returns the service time (dispatch → now);
    /// later calls and the eventual drop do nothing and return the first value.
    pub fn release_early(&mut self) -> Duration {
        if let Some(t) = self.ticket.take() {
            self.execution = Some(self.level.release(t));
        }
        self.execution.unwrap_or_default()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.level.release(t);
        }
    }
}

/// Removes a queued request if the acquire future is dropped or times out.
struct WaitGuard {
    level: Arc<Level>,
    id: RequestId,
    rx: oneshot::Receiver<Wake>,
    armed: bool,
}

impl WaitGuard {
    /// The wait limit passed: remove it as timed out, unless it was dispatched or
    /// rejected in the meantime.
    fn time_out(&mut self) -> Wake {
        self.armed = false;
        let mut inner = self.level.lock();
        if let Some(c) = inner.qs.cancel(self.id) {
            inner.waiters.remove(&self.id);
            let mut touched = vec![c.removed.tenant.to_string()];
            self.level.deliver(&mut inner, c.dispatched, &mut touched);
            self.level.report(&inner, &mut touched);
            return Wake::Reject(RejectReason::TimedOut, c.removed.waited);
        }
        inner.waiters.remove(&self.id);
        drop(inner);
        self.rx.try_recv().unwrap_or(Wake::Reject(RejectReason::Cancelled, Duration::ZERO))
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut inner = self.level.lock();
        if let Some(c) = inner.qs.cancel(self.id) {
            inner.waiters.remove(&self.id);
            self.level.observer.rejected(
                &self.level.name,
                &c.removed.tenant,
                RejectReason::Cancelled,
                c.removed.waited,
            );
            let mut touched = vec![c.removed.tenant.to_string()];
            self.level.deliver(&mut inner, c.dispatched, &mut touched);
            self.level.report(&inner, &mut touched);
            return;
        }
        inner.waiters.remove(&self.id);
        // Dispatched (or rejected) while nobody was listening: give the seats back.
        if let Ok(Wake::Go(t)) = self.rx.try_recv() {
            let mut touched = vec![t.tenant().to_string()];
            let fin = inner.qs.finish(t);
            self.level.observer.finished(&self.level.name, &fin.tenant, fin.seats, fin.execution);
            self.level.deliver(&mut inner, fin.dispatched, &mut touched);
            self.level.report(&inner, &mut touched);
        }
    }
}

struct Backoff {
    score: f64,
    at: Duration,
}

struct Assignments {
    levels: HashMap<String, Arc<Level>>,
    cfg: FlowControlConfig,
}

/// The proxy's flow control: priority levels, tenant assignments, rate caps.
pub struct FlowControl {
    clock: Arc<dyn Clock>,
    observer: Arc<dyn FlowObserver>,
    state: RwLock<Assignments>,
    rate: RateLimits,
    backoff: Mutex<HashMap<String, Backoff>>,
}

impl fmt::Debug for FlowControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowControl").field("levels", &self.level_names()).finish()
    }
}

impl FlowControl {
    /// Builds flow control from a validated config.
    pub fn new(
        cfg: FlowControlConfig,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn FlowObserver>,
    ) -> Result<Arc<Self>, String> {
        cfg.validate()?;
        let fc = FlowControl {
            rate: RateLimits::new(cfg.rate_limits.clone(), clock.clone())?,
            clock,
            observer,
            state: RwLock::new(Assignments { levels: HashMap::new(), cfg: cfg.clone() }),
            backoff: Mutex::new(HashMap::new()),
        };
        fc.apply(cfg)?;
        Ok(Arc::new(fc))
    }

    /// Live reconfiguration. An invalid config is refused (the old one stays) with
    /// the reason. Queued requests are kept: a level's new seats and limits apply
    /// at once, new weights to later dispatches. A level that disappears stops
    /// taking requests; what it already holds drains normally.
    pub fn apply(&self, cfg: FlowControlConfig) -> Result<(), String> {
        cfg.validate()?;
        self.rate.configure(cfg.rate_limits.clone())?;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut levels = HashMap::new();
        for (name, lc) in &cfg.levels {
            let level = match st.levels.get(name) {
                Some(l) => l.clone(),
                None => Arc::new(Level {
                    name: name.clone(),
                    observer: self.observer.clone(),
                    inner: Mutex::new(LevelInner {
                        qs: QueueSet::new(lc.clone(), self.clock.clone()),
                        waiters: HashMap::new(),
                    }),
                }),
            };
            {
                let mut inner = level.lock();
                inner.qs.set_default_flow(FlowConfig { weight: cfg.default_weight });
                let mine: HashMap<&str, f64> = cfg
                    .tenants
                    .iter()
                    .filter(|(_, a)| a.level.as_deref().unwrap_or(&cfg.default_level) == name)
                    .map(|(t, a)| (t.as_str(), a.weight))
                    .collect();
                for t in inner.qs.configured_flows() {
                    if !mine.contains_key(t.as_str()) {
                        inner.qs.remove_flow(&t);
                    }
                }
                for (t, w) in &mine {
                    inner.qs.set_flow(t, FlowConfig { weight: *w });
                }
                let tickets = inner.qs.set_config(lc.clone());
                let mut touched = Vec::new();
                level.deliver(&mut inner, tickets, &mut touched);
                level.report(&inner, &mut touched);
            }
            levels.insert(name.clone(), level);
        }
        *st = Assignments { levels, cfg };
        Ok(())
    }

    /// The config in force.
    pub fn config(&self) -> FlowControlConfig {
        self.state.read().unwrap_or_else(|e| e.into_inner()).cfg.clone()
    }

    pub fn level_names(&self) -> Vec<String> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = st.levels.keys().cloned().collect();
        v.sort();
        v
    }

    /// The priority level a tenant's requests go to.
    pub fn level_for(&self, tenant: &str) -> String {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.cfg.tenants.get(tenant).and_then(|a| a.level.clone()).unwrap_or_else(|| st.cfg.default_level.clone())
    }

    fn level(&self, name: &str) -> Arc<Level> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.levels
            .get(name)
            .or_else(|| st.levels.get(&st.cfg.default_level))
            .expect("the default level always exists")
            .clone()
    }

    /// Waits for `width` seats of `level` (unknown names: the default level) for a
    /// request of `tenant` expected to take `estimate` (zero: the level's default),
    /// for at most `wait_limit`. Rate caps are checked first. Dropping the future
    /// withdraws the request (reason cancelled).
    pub async fn acquire(
        &self,
        level: &str,
        tenant: &str,
        width: u32,
        estimate: Duration,
        wait_limit: Duration,
    ) -> Result<Permit, Rejection> {
        let lvl = self.level(level);
        if let Err(rl) = self.rate.check(tenant) {
            return Err(self.reject(&lvl.name, tenant, RejectReason::RateLimited, Duration::ZERO, rl.retry_in));
        }
        let deadline = self.clock.now() + wait_limit;
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut inner = lvl.lock();
            let mut touched = vec![tenant.to_string()];
            match inner.qs.arrive(tenant, width, estimate, deadline) {
                Enqueue::Dispatched(t) => {
                    lvl.observer.dispatched(&lvl.name, tenant, t.seats(), Duration::ZERO);
                    lvl.report(&inner, &mut touched);
                    drop(inner);
                    return Ok(Permit::new(lvl, t));
                }
                Enqueue::Rejected(r) => {
                    lvl.report(&inner, &mut touched);
                    drop(inner);
                    return Err(self.reject(&lvl.name, tenant, r, Duration::ZERO, Duration::ZERO));
                }
                Enqueue::Queued(id) => {
                    inner.waiters.insert(id, tx);
                    lvl.report(&inner, &mut touched);
                    id
                }
            }
        };
        let mut guard = WaitGuard { level: lvl.clone(), id, rx, armed: true };
        let wake = match tokio::time::timeout(wait_limit, &mut guard.rx).await {
            Ok(Ok(w)) => {
                guard.armed = false;
                w
            }
            Ok(Err(_)) => {
                guard.armed = false;
                Wake::Reject(RejectReason::Cancelled, Duration::ZERO)
            }
            Err(_) => guard.time_out(),
        };
        drop(guard);
        match wake {
            Wake::Go(t) => Ok(Permit::new(lvl, t)),
            Wake::Reject(r, waited) => Err(self.reject(&lvl.name, tenant, r, waited, Duration::ZERO)),
        }
    }

    fn reject(
        &self,
        level: &str,
        tenant: &str,
        reason: RejectReason,
        waited: Duration,
        at_least: Duration,
    ) -> Rejection {
        self.observer.rejected(level, tenant, reason, waited);
        let retry_after = if reason == RejectReason::Cancelled {
            Duration::from_secs(1)
        } else {
            self.bump_backoff(tenant, at_least)
        };
        Rejection { reason, level: level.to_string(), tenant: tenant.to_string(), retry_after, waited }
    }

    fn retry_cfg(&self) -> RetryAfterConfig {
        self.state.read().unwrap_or_else(|e| e.into_inner()).cfg.retry_after
    }

    fn decayed(score: f64, since: Duration, now: Duration, half_life: Duration) -> f64 {
        let dt = now.saturating_sub(since).as_secs_f64();
        score * 0.5f64.powf(dt / half_life.as_secs_f64())
    }

    fn advice(score: f64, rc: &RetryAfterConfig) -> Duration {
        if score < 1.0 {
            return rc.base;
        }
        let n = score.log2().floor().clamp(0.0, 30.0) as i32;
        let secs = (rc.base.as_secs_f64() * 2f64.powi(n)).min(rc.max.as_secs_f64());
        Duration::from_secs(secs.ceil().max(1.0) as u64)
    }

    fn bump_backoff(&self, tenant: &str, at_least: Duration) -> Duration {
        let rc = self.retry_cfg();
        let now = self.clock.now();
        let mut map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let b = map.entry(tenant.to_string()).or_insert(Backoff { score: 0.0, at: now });
        b.score = Self::decayed(b.score, b.at, now, rc.half_life) + 1.0;
        b.at = now;
        let advice = Self::advice(b.score, &rc);
        let floor = Duration::from_secs(at_least.as_secs_f64().ceil() as u64);
        advice.max(floor)
    }

    /// The Retry-After a rejection of `tenant` would get now, without counting one.
    pub fn retry_after_hint(&self, tenant: &str) -> Duration {
        let rc = self.retry_cfg();
        let now = self.clock.now();
        let map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let score = map.get(tenant).map(|b| Self::decayed(b.score, b.at, now, rc.half_life)).unwrap_or(0.0);
        Self::advice(score + 1.0, &rc)
    }

    /// One maintenance pass: time out expired waiters in every level, drop idle
    /// rate-limiter and back-off state. [`FlowControl::spawn_maintenance`] runs it
    /// periodically; waiters also time out on their own timers.
    pub fn maintain(&self) {
        let levels: Vec<Arc<Level>> = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            st.levels.values().cloned().collect()
        };
        for l in levels {
            l.expire();
        }
        self.rate.retain_recent();
        let rc = self.retry_cfg();
        let now = self.clock.now();
        let mut map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, b| Self::decayed(b.score, b.at, now, rc.half_life) >= 0.25);
    }

    /// Runs [`FlowControl::maintain`] every `period` until this `FlowControl` is dropped.
    pub fn spawn_maintenance(self: &Arc<Self>, period: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(fc) => fc.maintain(),
                    None => break,
                }
            }
        })
    }

    /// Per-level snapshots, sorted by level name.
    pub fn snapshot(&self) -> Vec<(String, LevelSnapshot)> {
        let levels: Vec<Arc<Level>> = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            st.levels.values().cloned().collect()
        };
        let mut v: Vec<(String, LevelSnapshot)> =
            levels.iter().map(|l| (l.name.clone(), l.lock().qs.snapshot())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A text dump of every level and tenant queue (like APF's `dump_queues`).
    pub fn dump_queues(&self) -> String {
        let mut s = String::new();
        for (name, snap) in self.snapshot() {
            s.push_str(&format!("priority level {name}\n{snap}\n"));
        }
        s
    }

    /// The rate caps (e.g. to inspect or check them separately).
    pub fn rate_limits(&self) -> &RateLimits {
        &self.rate
    }
}
