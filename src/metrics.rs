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
        Metrics { registry, requests, request_duration, upstream_responses, tenants }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("encoding to a Vec cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
