//! One priority level's scheduler: weighted start-time fair queuing of per-tenant FIFO queues over a fixed number of upstream seats.
//! So that under saturation each backlogged tenant gets upstream seat-seconds in proportion to its weight and none can starve another.
//!
//! It is pure and deterministic (time only via [`Clock`], no I/O, no locks), so it
//! is tested with a fake clock; [`super::FlowControl`] wraps it for async use.
//!
//! # Model
//! - The level has `seats` (C). A request asks for `width` seats (≥ 1) for an
//!   estimated service time; it holds `min(width, C)` seats while executing.
//! - Each flow has a weight `w` and a **start tag** `S` in virtual seconds
//!   (seat-seconds ÷ weight). Dispatching a request of `s` seats and estimate `E`
//!   from the flow advances `S += s·E / w`. When it finishes after actual service
//!   time `A` (measured on the clock from dispatch to [`QueueSet::finish`]),
//!   `S += s·(A − E) / w` with the weight it was dispatched with, so after
//!   completion a flow's tag has advanced by exactly the seat-seconds it used ÷ its
//!   weight. A request still running past its estimate is charged for the overrun
//!   as it goes (whenever a dispatch decision is made), so an underestimated
//!   tenant stops being preferred while its long requests still hold seats instead
//!   of grabbing seats until the first of them ends. Wrong estimates therefore
//!   cannot wind up: the error is repaid (or refunded) by the time the request ends.
//! - **Dispatch rule**: while there are backlogged flows, take the one with the
//!   smallest `S` (ties: the flow that was dispatched least recently, then the
//!   tenant name); if its oldest request's seats fit in the free seats, dispatch it
//!   and repeat; otherwise **stop** and let seats drain until it fits (as APF does).
//!   Nothing overtakes the head of the smallest-tag flow, so wide requests are never
//!   starved; the price is a few idle seats while they drain. A request wider than
//!   C is clamped to C (it runs alone). Dispatch is otherwise work-conserving: a
//!   seat is left free only when no request is queued or when it is reserved for
//!   the head of the line.
//! - **System virtual time** `V` is the largest start tag dispatched so far (it
//!   only grows). A flow whose queue was empty re-enters with
//!   `S = max(S, V − max_idle_credit)`: idle time earns at most `max_idle_credit`
//!   virtual seconds (that is `max_idle_credit × weight` seat-seconds served ahead
//!   of the others), and debt (a tag ahead of `V`) is kept.
//! - **Queue limits** per flow: at most `queue_length_limit` queued requests and
//!   `queued_work_limit` queued seats (sum of widths; one request may always queue
//!   into an empty queue even if it alone exceeds the work limit). A request that
//!   cannot be dispatched at once and would exceed a limit is rejected, i.e. the
//!   **newest** arrival is the one refused; queued requests are never evicted.
//! - **Wait limit**: each queued request has a deadline on the clock;
//!   [`QueueSet::expire`] removes those past it (reason time-out). A request whose
//!   deadline has already passed on arrival and cannot run at once is rejected.
//! - **Cancellation**: [`QueueSet::cancel`] removes a queued request (the client
//!   went away); it held no seats so it frees none, but removing a blocking head
//!   may let others dispatch, which `cancel` returns.
//! - **Exempt** levels dispatch every request at once; seats are counted for
//!   metrics but not limited and tags are not kept.
//! - Flow state that has become indistinguishable from a fresh flow (nothing
//!   queued or executing and `S ≤ V − max_idle_credit`) is dropped, so state is
//!   bounded by the tenants that are active or in debt. Configured weights are kept
//!   separately and survive that.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;

/// Identifies a request from arrival until it finishes or is removed.
pub type RequestId = u64;

/// One priority level's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelConfig {
    /// Upstream seats C (concurrency limit, in seat units). At least 1.
    pub seats: u32,
    /// Max queued requests per tenant; 0 = no queuing (dispatch at once or reject).
    pub queue_length_limit: usize,
    /// Max queued seats (sum of widths) per tenant.
    pub queued_work_limit: u64,
    /// Estimate used when a request arrives with a zero estimate.
    pub default_service_time: Duration,
    /// Cap on the credit an idle tenant keeps, in virtual seconds (seat-seconds per
    /// unit of weight).
    pub max_idle_credit: Duration,
    /// No queuing, no seat limit (health checks, the operator's own traffic).
    pub exempt: bool,
}

impl Default for LevelConfig {
    fn default() -> Self {
        LevelConfig {
            seats: 10,
            queue_length_limit: 50,
            queued_work_limit: 200,
            default_service_time: Duration::from_millis(100),
            max_idle_credit: Duration::from_millis(500),
            exempt: false,
        }
    }
}

impl LevelConfig {
    /// Checks the numbers; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !self.exempt && self.seats == 0 {
            return Err("seats must be at least 1".into());
        }
        if self.default_service_time.is_zero() {
            return Err("default service time must be positive".into());
        }
        Ok(())
    }
}

/// A tenant's share of a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowConfig {
    /// Relative share (> 0). Values outside `[MIN_WEIGHT, MAX_WEIGHT]` (or not
    /// finite) are clamped into it.
    pub weight: f64,
}

pub const MIN_WEIGHT: f64 = 1e-3;
pub const MAX_WEIGHT: f64 = 1e6;

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig { weight: 1.0 }
    }
}

impl FlowConfig {
    fn sanitized(self) -> Self {
        let w = if self.weight.is_finite() { self.weight.clamp(MIN_WEIGHT, MAX_WEIGHT) } else { 1.0 };
        FlowConfig { weight: w }
    }
}

/// Why a request was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The tenant's queue (count or work) was full when it arrived.
    QueueFull,
    /// It waited longer than its wait limit.
    TimedOut,
    /// The client went away while it was queued.
    Cancelled,
    /// A rate cap refused it before it was queued.
    RateLimited,
}

impl RejectReason {
    /// The `reason` label value, as APF spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::QueueFull => "queue-full",
            RejectReason::TimedOut => "time-out",
            RejectReason::Cancelled => "cancelled",
            RejectReason::RateLimited => "rate-limited",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dispatched request: proof that it holds seats. Give it back with
/// [`QueueSet::finish`]. Not `Clone`, so it can be finished only once.
#[derive(Debug, PartialEq, Eq)]
pub struct Ticket {
    id: RequestId,
    tenant: Arc<str>,
    seats: u32,
    estimate: Duration,
    arrived_at: Duration,
    dispatched_at: Duration,
}

impl Ticket {
    pub fn id(&self) -> RequestId {
        self.id
    }
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
    /// Seats held (the requested width, clamped to the level's seats).
    pub fn seats(&self) -> u32 {
        self.seats
    }
    pub fn estimate(&self) -> Duration {
        self.estimate
    }
    pub fn arrived_at(&self) -> Duration {
        self.arrived_at
    }
    pub fn dispatched_at(&self) -> Duration {
        self.dispatched_at
    }
    /// Time spent queued.
    pub fn wait(&self) -> Duration {
        self.dispatched_at.saturating_sub(self.arrived_at)
    }
}

/// Outcome of [`QueueSet::arrive`].
#[derive(Debug, PartialEq)]
pub enum Enqueue {
    /// Seats were free and it was its turn: it runs now.
    Dispatched(Ticket),
    /// It waits; a later `finish`/`expire`/`cancel`/`set_config` returns its ticket.
    Queued(RequestId),
    /// Refused (queue-full, or time-out if its deadline had already passed).
    Rejected(RejectReason),
}

/// A queued request that was removed without running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub id: RequestId,
    pub tenant: Arc<str>,
    pub width: u32,
    /// How long it had waited.
    pub waited: Duration,
}

/// Outcome of [`QueueSet::finish`].
#[derive(Debug)]
pub struct Finished {
    pub tenant: Arc<str>,
    pub seats: u32,
    /// Actual service time: clock time from dispatch to finish.
    pub execution: Duration,
    /// Requests dispatched into the freed seats.
    pub dispatched: Vec<Ticket>,
}

/// Outcome of [`QueueSet::expire`].
#[derive(Debug, Default)]
pub struct Expired {
    pub timed_out: Vec<Removed>,
    pub dispatched: Vec<Ticket>,
}

/// Outcome of a successful [`QueueSet::cancel`].
#[derive(Debug)]
pub struct Cancelled {
    pub removed: Removed,
    pub dispatched: Vec<Ticket>,
}

/// Current numbers of one flow, for gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowGauges {
    pub queued_requests: usize,
    pub queued_seats: u64,
    pub executing_requests: u32,
    pub executing_seats: u32,
}

/// One flow in a [`LevelSnapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSnapshot {
    pub tenant: String,
    pub weight: f64,
    pub queued_requests: usize,
    pub queued_seats: u64,
    pub executing_requests: u32,
    pub executing_seats: u32,
    /// Start tag minus the level's virtual time, in virtual seconds: negative =
    /// credit (it goes first), positive = debt.
    pub start_tag_lag: f64,
    /// How long its oldest queued request has waited.
    pub oldest_wait: Duration,
}

/// The state of one level, for metrics and the `dump_queues`-style text
/// ([`fmt::Display`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LevelSnapshot {
    pub config: LevelConfig,
    pub seats_in_use: u32,
    pub executing_requests: usize,
    pub queued_requests: usize,
    pub queued_seats: u64,
    /// System virtual time V in virtual seconds.
    pub virtual_time: f64,
    /// Flows with state, sorted by tenant.
    pub flows: Vec<FlowSnapshot>,
}

impl fmt::Display for LevelSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "seats={} inUse={} executing={} queued={} queuedSeats={} exempt={} queueLengthLimit={} queuedWorkLimit={} virtualTime={:.6}",
            c.seats,
            self.seats_in_use,
            self.executing_requests,
            self.queued_requests,
            self.queued_seats,
            c.exempt,
            c.queue_length_limit,
            c.queued_work_limit,
            self.virtual_time
        )?;
        writeln!(
            f,
            "{:<32} {:>8} {:>8} {:>8} {:>9} {:>10} {:>12} {:>12}",
            "tenant", "weight", "queued", "qSeats", "executing", "execSeats", "startTagLag", "oldestWait"
        )?;
        for fl in &self.flows {
            writeln!(
                f,
                "{:<32} {:>8.3} {:>8} {:>8} {:>9} {:>10} {:>12.6} {:>11.3}s",
                fl.tenant,
                fl.weight,
                fl.queued_requests,
                fl.queued_seats,
                fl.executing_requests,
                fl.executing_seats,
                fl.start_tag_lag,
                fl.oldest_wait.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

/// f64 with a total order (tags are always finite once a flow is ready).
#[derive(Debug, Clone, Copy)]
struct Tag(f64);
impl PartialEq for Tag {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for Tag {}
impl PartialOrd for Tag {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Tag {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// Order of backlogged flows: smallest tag, then least recently dispatched, then name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ReadyKey {
    tag: Tag,
    last_dispatch: u64,
    name: Arc<str>,
}

#[derive(Debug)]
struct Queued {
    id: RequestId,
    width: u32,
    estimate: Duration,
    arrived: Duration,
    deadline: Duration,
}

#[derive(Debug)]
struct Flow {
    name: Arc<str>,
    tag: f64,
    queue: VecDeque<Queued>,
    queued_seats: u64,
    executing: u32,
    executing_seats: u32,
    last_dispatch: u64,
    ready: Option<ReadyKey>,
}

impl Flow {
    fn key(&self) -> ReadyKey {
        ReadyKey { tag: Tag(self.tag), last_dispatch: self.last_dispatch, name: self.name.clone() }
    }
    fn gauges(&self) -> FlowGauges {
        FlowGauges {
            queued_requests: self.queue.len(),
            queued_seats: self.queued_seats,
            executing_requests: self.executing,
            executing_seats: self.executing_seats,
        }
    }
}

#[derive(Debug)]
struct Exec {
    tenant: Arc<str>,
    seats: u32,
    weight: f64,
    dispatched: Duration,
    charged: bool,
    /// Clock time up to which this request's service has been charged to its flow's
    /// tag (dispatch + estimate at first; moves on while it overruns the estimate).
    charged_until: Duration,
}

/// One priority level. See the module docs for the rules.
pub struct QueueSet {
    cfg: LevelConfig,
    clock: Arc<dyn Clock>,
    default_flow: FlowConfig,
    weights: HashMap<Arc<str>, FlowConfig>,
    flows: HashMap<Arc<str>, Flow>,
    ready: BTreeSet<ReadyKey>,
    deadlines: BTreeSet<(Duration, RequestId)>,
    queued_in: HashMap<RequestId, Arc<str>>,
    executing: HashMap<RequestId, Exec>,
    seats_in_use: u32,
    queued_total: usize,
    queued_seats_total: u64,
    vtime: f64,
    next_id: RequestId,
    dispatch_seq: u64,
    /// Tickets dispatched by an operation that could not return them (defensive;
    /// by construction `arrive` dispatches nothing but its own request). Handed out
    /// by the next operation that returns tickets.
    stray: Vec<Ticket>,
}

impl fmt::Debug for QueueSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueSet {{ {} }}", self.snapshot())
    }
}

impl QueueSet {
    /// A level with no flows. An invalid config is sanitized (seats ≥ 1).
    pub fn new(cfg: LevelConfig, clock: Arc<dyn Clock>) -> Self {
        QueueSet {
            cfg: sanitize(cfg),
            clock,
            default_flow: FlowConfig::default(),
            weights: HashMap::new(),
            flows: HashMap::new(),
            ready: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            queued_in: HashMap::new(),
            executing: HashMap::new(),
            seats_in_use: 0,
            queued_total: 0,
            queued_seats_total: 0,
            vtime: 0.0,
            next_id: 1,
            dispatch_seq: 0,
            stray: Vec::new(),
        }
    }

    pub fn config(&self) -> &LevelConfig {
        &self.cfg
    }

    /// Live reconfiguration. Queued and executing requests stay; new limits apply to
    /// later arrivals (queues already over a lowered limit are not trimmed). More
    /// seats (or becoming exempt) may dispatch queued requests, which are returned.
    pub fn set_config(&mut self, cfg: LevelConfig) -> Vec<Ticket> {
        self.cfg = sanitize(cfg);
        let mut out = std::mem::take(&mut self.stray);
        self.dispatch(&mut out);
        out
    }

    /// Sets a tenant's weight. Its tag is kept; later charges use the new weight.
    pub fn set_flow(&mut self, tenant: &str, cfg: FlowConfig) {
        self.weights.insert(Arc::from(tenant), cfg.sanitized());
    }

    /// Forgets a tenant's weight (it falls back to the default flow config).
    pub fn remove_flow(&mut self, tenant: &str) {
        self.weights.remove(tenant);
    }

    /// The weight for tenants without their own (initially 1).
    pub fn set_default_flow(&mut self, cfg: FlowConfig) {
        self.default_flow = cfg.sanitized();
    }

    /// Tenants with an explicit weight.
    pub fn configured_flows(&self) -> Vec<String> {
        let mut v: Vec<String> = self.weights.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    pub fn weight(&self, tenant: &str) -> f64 {
        self.weights.get(tenant).unwrap_or(&self.default_flow).weight
    }

    /// A request arrives for `tenant`, asking for `width` seats (0 is taken as 1)
    /// for about `estimate` (zero: the level's default service time); it may wait
    /// until `deadline` (clock time).
    pub fn arrive(&mut self, tenant: &str, width: u32, estimate: Duration, deadline: Duration) -> Enqueue {
        let width = width.max(1);
        let estimate = if estimate.is_zero() { self.cfg.default_service_time } else { estimate };
        let now = self.clock.now();
        let id = self.next_id;
        self.next_id += 1;
        let name = self.intern(tenant);

        if self.cfg.exempt {
            let seats = width;
            let flow = self.flows.get_mut(&name).expect("interned");
            flow.executing += 1;
            flow.executing_seats += seats;
            self.seats_in_use += seats;
            self.executing.insert(
                id,
                Exec { tenant: name.clone(), seats, weight: 1.0, dispatched: now, charged: false, charged_until: now },
            );
            return Enqueue::Dispatched(Ticket {
                id,
                tenant: name,
                seats,
                estimate,
                arrived_at: now,
                dispatched_at: now,
            });
        }

        // Join the flow's queue (re-entering at no more than the credit cap).
        let floor = self.vtime - self.cfg.max_idle_credit.as_secs_f64();
        {
            let flow = self.flows.get_mut(&name).expect("interned");
            if flow.queue.is_empty() {
                flow.tag = flow.tag.max(floor);
            }
            flow.queue.push_back(Queued { id, width, estimate, arrived: now, deadline });
            flow.queued_seats += width as u64;
        }
        self.queued_total += 1;
        self.queued_seats_total += width as u64;
        self.queued_in.insert(id, name.clone());
        self.deadlines.insert((deadline, id));
        self.make_ready(&name);

        let mut out = Vec::new();
        self.dispatch(&mut out);
        let mut mine = None;
        for t in out {
            if t.id == id {
                mine = Some(t);
            } else {
                debug_assert!(false, "arrive dispatched a request other than its own");
                self.stray.push(t);
            }
        }
        if let Some(t) = mine {
            return Enqueue::Dispatched(t);
        }

        // It has to wait: check the limits, counting what was queued before it.
        let (len_before, seats_before) = {
            let flow = &self.flows[&name];
            (flow.queue.len() - 1, flow.queued_seats - width as u64)
        };
        let over_len = len_before >= self.cfg.queue_length_limit;
        let over_work = len_before > 0 && seats_before + width as u64 > self.cfg.queued_work_limit;
        let reason = if over_len || over_work {
            Some(RejectReason::QueueFull)
        } else if deadline <= now {
            Some(RejectReason::TimedOut)
        } else {
            None
        };
        match reason {
            Some(r) => {
                // Removing the newest request at the back changes nothing else.
                self.remove_queued(id);
                Enqueue::Rejected(r)
            }
            None => Enqueue::Queued(id),
        }
    }

    /// The request behind `ticket` has finished (or given its seats back early).
    /// Corrects its tenant's tag by the actual service time and dispatches into the
    /// freed seats.
    pub fn finish(&mut self, ticket: Ticket) -> Finished {
        let now = self.clock.now();
        let mut out = std::mem::take(&mut self.stray);
        let Some(ex) = self.executing.remove(&ticket.id) else {
            debug_assert!(false, "finish of an unknown ticket {}", ticket.id);
            return Finished { tenant: ticket.tenant, seats: 0, execution: Duration::ZERO, dispatched: out };
        };
        let execution = now.saturating_sub(ex.dispatched);
        self.seats_in_use -= ex.seats;
        if let Some(flow) = self.flows.get_mut(&ex.tenant) {
            flow.executing -= 1;
            flow.executing_seats -= ex.seats;
        }
        if ex.charged {
            // charged so far: the estimate plus any overrun already charged
            let charged = ex.charged_until.saturating_sub(ex.dispatched);
            let delta = ex.seats as f64 * (execution.as_secs_f64() - charged.as_secs_f64()) / ex.weight;
            self.adjust_tag(&ex.tenant, delta);
        }
        self.maybe_forget(&ex.tenant);
        self.dispatch(&mut out);
        Finished { tenant: ex.tenant, seats: ex.seats, execution, dispatched: out }
    }

    /// Removes a queued request (its client went away). `None` if it is not queued
    /// (already dispatched, removed, or unknown). It held no seats; removing it may
    /// unblock others, whose tickets are returned.
    pub fn cancel(&mut self, id: RequestId) -> Option<Cancelled> {
        let removed = self.remove_queued(id)?;
        let mut out = std::mem::take(&mut self.stray);
        self.dispatch(&mut out);
        Some(Cancelled { removed, dispatched: out })
    }

    /// Removes every queued request whose deadline has passed (reason time-out) and
    /// dispatches whatever that unblocked. Also drops idle flow state. Call it
    /// periodically and whenever convenient; it is cheap when nothing expired.
    pub fn expire(&mut self) -> Expired {
        let now = self.clock.now();
        let mut timed_out = Vec::new();
        while let Some(&(dl, id)) = self.deadlines.first() {
            if dl > now {
                break;
            }
            match self.remove_queued(id) {
                Some(r) => timed_out.push(r),
                None => {
                    self.deadlines.remove(&(dl, id));
                }
            }
        }
        let names: Vec<Arc<str>> = self.flows.keys().cloned().collect();
        for n in names {
            self.maybe_forget(&n);
        }
        let mut dispatched = std::mem::take(&mut self.stray);
        self.dispatch(&mut dispatched);
        Expired { timed_out, dispatched }
    }

    /// The earliest deadline of a queued request, if any (to sleep until).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Whether `id` is still queued.
    pub fn is_queued(&self, id: RequestId) -> bool {
        self.queued_in.contains_key(&id)
    }

    /// Gauges of one tenant (zeros if it has no state).
    pub fn flow_gauges(&self, tenant: &str) -> FlowGauges {
        self.flows.get(tenant).map(|f| f.gauges()).unwrap_or_default()
    }

    pub fn seats_in_use(&self) -> u32 {
        self.seats_in_use
    }

    pub fn queued_requests(&self) -> usize {
        self.queued_total
    }

    pub fn executing_requests(&self) -> usize {
        self.executing.len()
    }

    /// Number of flows with state (active, in debt or holding credit).
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    pub fn snapshot(&self) -> LevelSnapshot {
        let now = self.clock.now();
        let mut flows: Vec<FlowSnapshot> = self
            .flows
            .values()
            .map(|f| FlowSnapshot {
                tenant: f.name.to_string(),
                weight: self.weight(&f.name),
                queued_requests: f.queue.len(),
                queued_seats: f.queued_seats,
                executing_requests: f.executing,
                executing_seats: f.executing_seats,
                start_tag_lag: if f.tag.is_finite() { f.tag - self.vtime } else { 0.0 },
                oldest_wait: f.queue.front().map(|q| now.saturating_sub(q.arrived)).unwrap_or_default(),
            })
            .collect();
        flows.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        LevelSnapshot {
            config: self.cfg.clone(),
            seats_in_use: self.seats_in_use,
            executing_requests: self.executing.len(),
            queued_requests: self.queued_total,
            queued_seats: self.queued_seats_total,
            virtual_time: self.vtime,
            flows,
        }
    }

    // ---- internals ----

    fn intern(&mut self, tenant: &str) -> Arc<str> {
        if let Some((k, _)) = self.flows.get_key_value(tenant) {
            return k.clone();
        }
        let name: Arc<str> = match self.weights.get_key_value(tenant) {
            Some((k, _)) => k.clone(),
            None => Arc::from(tenant),
        };
        self.flows.insert(
            name.clone(),
            Flow {
                name: name.clone(),
                tag: f64::NEG_INFINITY,
                queue: VecDeque::new(),
                queued_seats: 0,
                executing: 0,
                executing_seats: 0,
                last_dispatch: 0,
                ready: None,
            },
        );
        name
    }

    /// Puts the flow in the ready set if it has queued requests (keyed by its tag).
    fn make_ready(&mut self, name: &str) {
        let Some(flow) = self.flows.get_mut(name) else { return };
        if let Some(k) = flow.ready.take() {
            self.ready.remove(&k);
        }
        if !flow.queue.is_empty() {
            let k = flow.key();
            self.ready.insert(k.clone());
            flow.ready = Some(k);
        }
    }

    fn adjust_tag(&mut self, name: &str, delta: f64) {
        let Some(flow) = self.flows.get_mut(name) else { return };
        if flow.tag.is_finite() {
            flow.tag += delta;
        }
        if flow.ready.is_some() {
            self.make_ready(name);
        }
    }

    /// Drops flow state equivalent to a fresh flow.
    fn maybe_forget(&mut self, name: &str) {
        let floor = self.vtime - self.cfg.max_idle_credit.as_secs_f64();
        if let Some(flow) = self.flows.get(name) {
            if flow.queue.is_empty() && flow.executing == 0 && (flow.tag <= floor || self.cfg.exempt) {
                self.flows.remove(name);
            }
        }
    }

    fn remove_queued(&mut self, id: RequestId) -> Option<Removed> {
        let name = self.queued_in.remove(&id)?;
        let now = self.clock.now();
        let flow = self.flows.get_mut(&name).expect("queued request has a flow");
        let pos = flow.queue.iter().position(|q| q.id == id).expect("queued request is in its flow's queue");
        let q = flow.queue.remove(pos).expect("position is valid");
        flow.queued_seats -= q.width as u64;
        self.queued_total -= 1;
        self.queued_seats_total -= q.width as u64;
        self.deadlines.remove(&(q.deadline, id));
        if flow.queue.is_empty() {
            self.make_ready(&name);
            self.maybe_forget(&name);
        }
        Some(Removed { id, tenant: name, width: q.width, waited: now.saturating_sub(q.arrived) })
    }

    /// Charges requests running past their estimate for the overrun so far, so a
    /// tenant whose requests take longer than estimated stops being preferred while
    /// they still run, not only once they end (this is what keeps wrong estimates
    /// from winding up over short time scales). O(executing requests).
    fn charge_overruns(&mut self, now: Duration) {
        let mut touched: Vec<Arc<str>> = Vec::new();
        for ex in self.executing.values_mut() {
            if !ex.charged || now <= ex.charged_until {
                continue;
            }
            let delta = ex.seats as f64 * (now - ex.charged_until).as_secs_f64() / ex.weight;
            ex.charged_until = now;
            if let Some(flow) = self.flows.get_mut(&ex.tenant) {
                if flow.tag.is_finite() {
                    flow.tag += delta;
                }
                if flow.ready.is_some() {
                    touched.push(ex.tenant.clone());
                }
            }
        }
        touched.sort();
        touched.dedup();
        for name in touched {
            self.make_ready(&name);
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Ticket>) {
        let now = self.clock.now();
        if !self.cfg.exempt && !self.ready.is_empty() && self.seats_in_use < self.cfg.seats {
            self.charge_overruns(now);
        }
        while let Some(key) = self.ready.first().cloned() {
            let weight = self.weight(&key.name);
            let flow = self.flows.get_mut(&key.name).expect("ready flow exists");
            let head = flow.queue.front().expect("ready flow has a queued request");
            let seats = if self.cfg.exempt { head.width } else { head.width.min(self.cfg.seats.max(1)) };
            if !self.cfg.exempt {
                let free = self.cfg.seats.saturating_sub(self.seats_in_use);
                if seats > free {
                    break; // head of line waits for seats to drain; nothing overtakes it
                }
            }
            let q = flow.queue.pop_front().expect("head exists");
            flow.queued_seats -= q.width as u64;
            let charged = !self.cfg.exempt;
            if charged {
                self.vtime = self.vtime.max(flow.tag);
                flow.tag += seats as f64 * q.estimate.as_secs_f64() / weight;
            }
            self.dispatch_seq += 1;
            flow.last_dispatch = self.dispatch_seq;
            flow.executing += 1;
            flow.executing_seats += seats;
            self.seats_in_use += seats;
            self.queued_total -= 1;
            self.queued_seats_total -= q.width as u64;
            self.queued_in.remove(&q.id);
            self.deadlines.remove(&(q.deadline, q.id));
            self.executing.insert(
                q.id,
                Exec {
                    tenant: key.name.clone(),
                    seats,
                    weight,
                    dispatched: now,
                    charged,
                    charged_until: now + q.estimate,
                },
            );
            self.make_ready(&key.name);
            out.push(Ticket {
                id: q.id,
                tenant: key.name.clone(),
                seats,
                estimate: q.estimate,
                arrived_at: q.arrived,
                dispatched_at: now,
            });
        }
    }
}

fn sanitize(mut cfg: LevelConfig) -> LevelConfig {
    if cfg.seats == 0 {
        cfg.seats = 1;
    }
    if cfg.default_service_time.is_zero() {
        cfg.default_service_time = Duration::from_millis(100);
    }
    cfg
}
