//! Prometheus metrics, served as text on the admin listener's `/metrics`.
//!
//! Labels are bounded: tenants are few and validated names, verbs come from
//! request info, codes are HTTP status codes. Unauthenticated requests are
//! counted under tenant `-` so a caller cannot mint label values.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Requests answered, by tenant, verb and HTTP code.
    pub requests: IntCounterVec,
    /// Time to response headers, by tenant and verb.
    pub request_duration: HistogramVec,
    /// Responses received from the super apiserver, by HTTP version ("HTTP/2.0").
    pub upstream_responses: IntCounterVec,
    pub tenants: IntGauge,
    pub flow: FlowMetrics,
    /// 1 while the policy file in force is the one on disk, 0 after a refused reload.
    pub policy_valid: IntGauge,
    /// Live replicas of this replica's fleet, and its rank among them (see `fleet`).
    pub fleet_replicas: IntGauge,
    pub fleet_rank: IntGauge,
    pub policy_reloads: IntCounterVec,
    /// Tenant connections closed on arrival by `limits.max_connections[_per_ip]`.
    pub connections_refused: prometheus::IntCounter,
}

/// Flow-control metrics, named and labelled like API Priority and Fairness'.
pub struct FlowMetrics {
    pub dispatched: IntCounterVec,
    pub rejected: IntCounterVec,
    pub inqueue_requests: prometheus::IntGaugeVec,
    pub executing_requests: prometheus::IntGaugeVec,
    pub executing_seats: prometheus::IntGaugeVec,
    pub wait_duration: HistogramVec,
    pub execution_duration: HistogramVec,
    pub seat_limit: prometheus::IntGaugeVec,
    pub level_inqueue: prometheus::IntGaugeVec,
    pub level_seats_in_use: prometheus::IntGaugeVec,
}

const PL_TENANT: &[&str] = &["priority_level", "tenant"];
const DURATION_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl FlowMetrics {
    fn new(registry: &Registry) -> FlowMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(format!("vcproxy_flowcontrol_{name}"), help), labels).unwrap();
            registry.register(Box::new(c.clone())).unwrap();
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g =
                prometheus::IntGaugeVec::new(Opts::new(format!("vcproxy_flowcontrol_{name}"), help), labels).unwrap();
            registry.register(Box::new(g.clone())).unwrap();
            g
        };
        let histogram = |name: &str, help: &str| {
            let h = HistogramVec::new(
                HistogramOpts::new(format!("vcproxy_flowcontrol_{name}"), help).buckets(DURATION_BUCKETS.to_vec()),
                PL_TENANT,
            )
            .unwrap();
            registry.register(Box::new(h.clone())).unwrap();
            h
        };
        FlowMetrics {
            dispatched: counter("dispatched_requests_total", "Requests given upstream seats.", PL_TENANT),
            rejected: counter(
                "rejected_requests_total",
                "Requests refused, by reason (queue-full, time-out, cancelled, rate-limited, concurrency-limit).",
                &["priority_level", "tenant", "reason"],
            ),
            inqueue_requests: gauge("current_inqueue_requests", "Requests waiting in queues.", PL_TENANT),
            executing_requests: gauge("current_executing_requests", "Requests holding seats.", PL_TENANT),
            executing_seats: gauge("current_executing_seats", "Seats in use.", PL_TENANT),
            wait_duration: histogram("request_wait_duration_seconds", "Time spent queued before dispatch."),
            execution_duration: histogram("request_execution_seconds", "Time from dispatch to seats released."),
            seat_limit: gauge("nominal_limit_seats", "Seats of each priority level.", &["priority_level"]),
            level_inqueue: gauge(
                "level_inqueue_requests",
                "Requests queued in each priority level.",
                &["priority_level"],
            ),
            level_seats_in_use: gauge(
                "level_executing_seats",
                "Seats in use in each priority level.",
                &["priority_level"],
            ),
        }
    }
}

impl crate::flowcontrol::FlowObserver for Metrics {
    fn dispatched(&self, level: &str, tenant: &str, _seats: u32, wait: std::time::Duration) {
        self.flow.dispatched.with_label_values(&[level, tenant]).inc();
        self.flow.wait_duration.with_label_values(&[level, tenant]).observe(wait.as_secs_f64());
    }
    fn rejected(
        &self,
        level: &str,
        tenant: &str,
        reason: crate::flowcontrol::RejectReason,
        waited: std::time::Duration,
    ) {
        self.flow.rejected.with_label_values(&[level, tenant, reason.as_str()]).inc();
        if !waited.is_zero() {
            self.flow.wait_duration.with_label_values(&[level, tenant]).observe(waited.as_secs_f64());
        }
    }
    fn finished(&self, level: &str, tenant: &str, _seats: u32, execution: std::time::Duration) {
        self.flow.execution_duration.with_label_values(&[level, tenant]).observe(execution.as_secs_f64());
    }
    fn flow_gauges(&self, level: &str, tenant: &str, g: crate::flowcontrol::FlowGauges) {
        self.flow.inqueue_requests.with_label_values(&[level, tenant]).set(g.queued_requests as i64);
        self.flow.executing_requests.with_label_values(&[level, tenant]).set(g.executing_requests as i64);
        self.flow.executing_seats.with_label_values(&[level, tenant]).set(g.executing_seats as i64);
    }
    fn level_gauges(&self, level: &str, g: crate::flowcontrol::LevelGauges) {
        self.flow.seat_limit.with_label_values(&[level]).set(g.seats_limit as i64);
        self.flow.level_inqueue.with_label_values(&[level]).set(g.queued_requests as i64);
        self.flow.level_seats_in_use.with_label_values(&[level]).set(g.seats_in_use as i64);
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("vcproxy_requests_total", "Requests answered, by tenant, verb and code."),
            &["tenant", "verb", "code"],
        )
        .unwrap();
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "vcproxy_request_duration_seconds",
                "Time from request to response headers, by tenant and verb.",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            &["tenant", "verb"],
        )
        .unwrap();
        let upstream_responses = IntCounterVec::new(
            Opts::new("vcproxy_upstream_responses_total", "Responses from the super apiserver, by HTTP version."),
            &["version"],
        )
        .unwrap();
        let tenants = IntGauge::new("vcproxy_tenants", "Tenants in the registry.").unwrap();
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(upstream_responses.clone()),
            Box::new(tenants.clone()),
        ] {
            registry.register(c).unwrap();
        }
        let flow = FlowMetrics::new(&registry);
        let policy_valid =
            IntGauge::new("vcproxy_policy_valid", "1 if the policy file on disk is the one in force.").unwrap();
        policy_valid.set(1);
        let policy_reloads = IntCounterVec::new(
            Opts::new("vcproxy_policy_reloads_total", "Policy reloads, by result (applied, refused)."),
            &["result"],
        )
        .unwrap();
        registry.register(Box::new(policy_valid.clone())).unwrap();
        registry.register(Box::new(policy_reloads.clone())).unwrap();
        let connections_refused = prometheus::IntCounter::new(
            "vcproxy_connections_refused_total",
            "Tenant connections closed on arrival because a connection limit was reached.",
        )
        .unwrap();
        registry.register(Box::new(connections_refused.clone())).unwrap();
        let fleet_replicas = IntGauge::new(
            "vcproxy_fleet_replicas",
            "Live replicas of this fleet; each applies 1/N of the policy's seats and rate caps.",
        )
        .unwrap();
        fleet_replicas.set(1);
        let fleet_rank = IntGauge::new("vcproxy_fleet_rank", "This replica's rank in its fleet (0-based).").unwrap();
        registry.register(Box::new(fleet_replicas.clone())).unwrap();
        registry.register(Box::new(fleet_rank.clone())).unwrap();
        Metrics {
            registry,
            requests,
            request_duration,
            upstream_responses,
            tenants,
            flow,
            policy_valid,
            policy_reloads,
            connections_refused,
            fleet_replicas,
            fleet_rank,
        }
    }

    /// Removes every series labelled with a tenant `keep` refuses (deleted tenants), so
    /// tenant churn does not grow the registry; returns how many were removed.
    pub fn forget_tenants(&self, keep: &dyn Fn(&str) -> bool) -> usize {
        let f = &self.flow;
        forget_series(&self.requests, keep)
            + forget_series(&self.request_duration, keep)
            + forget_series(&f.dispatched, keep)
            + forget_series(&f.rejected, keep)
            + forget_series(&f.inqueue_requests, keep)
            + forget_series(&f.executing_requests, keep)
            + forget_series(&f.executing_seats, keep)
            + forget_series(&f.wait_duration, keep)
            + forget_series(&f.execution_duration, keep)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("encoding to a Vec cannot fail");
        out
    }
}

/// Removes the series of `vec` whose `tenant` label `keep` refuses.
fn forget_series<T: prometheus::core::MetricVecBuilder>(
    vec: &prometheus::core::MetricVec<T>,
    keep: &dyn Fn(&str) -> bool,
) -> usize {
    use prometheus::core::Collector;
    let mut removed = 0;
    for family in vec.collect() {
        for series in family.get_metric() {
            let labels: std::collections::HashMap<&str, &str> =
                series.get_label().iter().map(|l| (l.name(), l.value())).collect();
            if labels.get("tenant").is_some_and(|t| !keep(t)) && vec.remove(&labels).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowcontrol::FlowObserver;

    #[test]
    fn forgetting_tenants_removes_only_their_series() {
        let m = Metrics::new();
        for t in ["gone", "kept", "-"] {
            m.requests.with_label_values(&[t, "get", "200"]).inc();
            m.request_duration.with_label_values(&[t, "list"]).observe(0.01);
            m.dispatched("bench", t, 1, std::time::Duration::ZERO);
            m.flow.rejected.with_label_values(&["bench", t, "queue-full"]).inc();
            m.flow_gauges("bench", t, crate::flowcontrol::FlowGauges::default());
        }
        m.requests.with_label_values(&["gone", "list", "429"]).inc();
        let removed = m.forget_tenants(&|t| t != "gone");
        assert_eq!(removed, 9, "two request series, one duration, dispatched, wait duration, rejected, 3 gauges");
        let text = String::from_utf8(m.render()).unwrap();
        assert!(!text.contains("tenant=\"gone\""), "{text}");
        assert!(text.contains("tenant=\"kept\""));
        assert!(text.contains("tenant=\"-\""));
        assert_eq!(m.forget_tenants(&|t| t != "gone"), 0);
    }
}
