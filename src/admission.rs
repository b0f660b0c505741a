//! Admission to the upstream: a request's seats in the fair queue, or its
//! place under the tenant's caps on open watches and long-running streams.
//!
//! Seats are held by a [`Permit`] that travels inside the response body
//! ([`Admitted`]) and is released when the body ends, fails, or is dropped
//! because the client went away (HTTP/2 RST_STREAM or disconnect) — not when
//! the headers are sent. A watch gives its seat back once upstream has answered;
//! exec/attach/port-forward/log-follow take no seat but count against a cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;

use crate::body::{BoxError, ProxyBody};
use crate::error::ApiError;
use crate::flowcontrol::{self, FlowControl, Permit, RejectReason};
use crate::policy::TenantLimits;
use crate::request_info::{RequestInfo, Verb};

/// Longest a request keeps its seats while a slow client reads the response:
/// after this the upstream work is long done and only the client is slow, so
/// its seats go to others (the response keeps streaming).
const MAX_SEAT_HOLD: Duration = Duration::from_secs(5);
/// How much of a response vcproxy reads ahead of a slow client, so the
/// request's seats can be released once upstream has answered.
const READ_AHEAD_BYTES: usize = 8 << 20;

/// Response bytes a LIST seat stands for, when learning LIST widths.
const BYTES_PER_SEAT: u64 = 1 << 20;

/// What kind of work a request is, for flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A request that holds seats until its response ends.
    Seats { width: u32 },
    /// A watch: one seat until upstream answers, then a slot under the tenant's
    /// open-watch cap for as long as it lasts.
    Watch,
    /// exec/attach/port-forward/proxy upgrades and log follow: no seat, a slot
    /// under the tenant's stream cap.
    Stream,
}

/// Classifies a request and estimates its width.
pub fn classify(info: &RequestInfo, learned_list_bytes: Option<u64>, cap: u32) -> Work {
    if matches!(info.subresource.as_deref(), Some("exec" | "attach" | "portforward" | "proxy"))
        || (info.subresource.as_deref() == Some("log") && info.long_running)
    {
        return Work::Stream;
    }
    match info.verb {
        Verb::Watch => Work::Watch,
        Verb::List | Verb::DeleteCollection => {
            let width = learned_list_bytes.map_or(1, |b| 1 + (b / BYTES_PER_SEAT) as u32);
            Work::Seats { width: width.clamp(1, cap.max(1)) }
        }
        _ => Work::Seats { width: 1 },
    }
}

/// Per-tenant counters of open watches and streams.
#[derive(Default)]
pub struct Slots {
    watches: DashMap<String, Arc<AtomicUsize>>,
    streams: DashMap<String, Arc<AtomicUsize>>,
}

/// A held slot; released on drop.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    /// Drops the idle counters of tenants `keep` refuses (deleted tenants); a counter
    /// with slots still held stays, so an open watch keeps counting against the cap.
    fn forget(&self, keep: &dyn Fn(&str) -> bool) {
        for map in [&self.watches, &self.streams] {
            map.retain(|tenant, n| keep(tenant) || n.load(Ordering::Acquire) > 0);
        }
    }

    fn take(map: &DashMap<String, Arc<AtomicUsize>>, tenant: &str, cap: usize) -> Option<Slot> {
        let counter = map.entry(tenant.to_string()).or_default().clone();
        let mut current = counter.load(Ordering::Acquire);
        loop {
            if current >= cap {
                return None;
            }
            match counter.compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(Slot(counter)),
                Err(now) => current = now,
            }
        }
    }
}

/// The shared admission state.
pub struct Admission {
    pub flow: Arc<FlowControl>,
    metrics: Arc<crate::metrics::Metrics>,
    slots: Slots,
    /// Last response size of a LIST, by tenant and collection, to size the next one.
    list_bytes: DashMap<String, u64>,
}

/// What a request holds while it runs; travels into the response body.
#[derive(Default)]
pub struct Ticket {
    permit: Option<Permit>,
    slot: Option<Slot>,
    /// Where to record the response size of a LIST.
    list_key: Option<String>,
    release_seat_on_headers: bool,
}

impl Admission {
    pub fn new(flow: Arc<FlowControl>, metrics: Arc<crate::metrics::Metrics>) -> Admission {
        Admission { flow, metrics, slots: Slots::default(), list_bytes: DashMap::new() }
    }

    /// Forgets what it keeps per tenant for tenants `keep` refuses (see `tenant_sweep`).
    pub fn forget_tenants(&self, keep: &dyn Fn(&str) -> bool) {
        self.slots.forget(keep);
        self.list_bytes.retain(|key, _| keep(key.split('/').next().unwrap_or_default()));
    }

    /// Waits for the request's seats (or slot). A refusal is the 429 to send.
    pub async fn admit(&self, tenant: &str, info: &RequestInfo, limits: &TenantLimits) -> Result<Ticket, ApiError> {
        let list_key = matches!(info.verb, Verb::List).then(|| {
            format!("{tenant}/{}/{}/{}", info.api_group, info.resource, info.namespace.as_deref().unwrap_or(""))
        });
        let learned = list_key.as_ref().and_then(|k| self.list_bytes.get(k).map(|v| *v));
        let level = self.flow.level_for(tenant);
        let timeout = info
            .query
            .get("timeoutSeconds")
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .or_else(|| info.query.get("timeout").and_then(|t| humantime::parse_duration(t).ok()));
        // A watch's timeoutSeconds is how long it streams, not a deadline. A queued watch holds
        // no seat and costs no one else anything, and one refused early is only retried by
        // its informer: watches may wait the longest (a reconnect storm of thousands of
        // watches is served at the rate the upstream seats allow).
        let wait_limit = if info.verb == Verb::Watch {
            flowcontrol::MAX_WAIT_LIMIT
        } else {
            flowcontrol::wait_limit_for(timeout)
        };
        match classify(info, learned, limits.list_width_cap) {
            Work::Stream => {
                let slot = Slots::take(&self.slots.streams, tenant, limits.max_streams)
                    .ok_or_else(|| self.over_cap(&level, tenant, "long-running streams", limits.max_streams))?;
                Ok(Ticket { slot: Some(slot), ..Default::default() })
            }
            Work::Watch => {
                let slot = Slots::take(&self.slots.watches, tenant, limits.max_open_watches)
                    .ok_or_else(|| self.over_cap(&level, tenant, "open watches", limits.max_open_watches))?;
                let permit = self.acquire(&level, tenant, 1, wait_limit).await?;
                Ok(Ticket { permit: Some(permit), slot: Some(slot), release_seat_on_headers: true, list_key: None })
            }
            Work::Seats { width } => {
                let permit = self.acquire(&level, tenant, width, wait_limit).await?;
                Ok(Ticket { permit: Some(permit), list_key, ..Default::default() })
            }
        }
    }

    async fn acquire(&self, level: &str, tenant: &str, width: u32, wait_limit: Duration) -> Result<Permit, ApiError> {
        self.flow.acquire(level, tenant, width, Duration::ZERO, wait_limit).await.map_err(|rej| {
            let why = match rej.reason {
                RejectReason::QueueFull => "its queue is full",
                RejectReason::TimedOut => "it waited too long in the queue",
                RejectReason::RateLimited => "it is over its request rate limit",
                RejectReason::Cancelled => "the request was cancelled",
            };
            too_many(tenant, why, rej.retry_after_secs())
        })
    }

    fn over_cap(&self, level: &str, tenant: &str, what: &str, cap: usize) -> ApiError {
        self.metrics.flow.rejected.with_label_values(&[level, tenant, "concurrency-limit"]).inc();
        too_many(
            tenant,
            &format!("it has {cap} {what} open, its limit"),
            self.flow.retry_after_hint(tenant).as_secs().max(1),
        )
    }

    /// Wraps a response body so the ticket lives exactly as long as the body.
    /// `in_memory`: vcproxy holds the whole body already (see `body::InMemory`).
    pub fn attach(self: &Arc<Self>, mut ticket: Ticket, body: ProxyBody, in_memory: bool) -> ProxyBody {
        if in_memory && ticket.slot.is_none() && ticket.list_key.is_none() {
            // Upstream is done: the seats go back now, with no wrapper or read-ahead task.
            drop(ticket);
            return body;
        }
        if ticket.release_seat_on_headers {
            if let Some(p) = ticket.permit.as_mut() {
                p.release_early();
            }
        }
        let held = Arc::new(Mutex::new(ticket.permit.take()));
        if ticket.list_key.is_some() {
            // A slow reader must not keep seats forever.
            let held = Arc::downgrade(&held);
            tokio::spawn(async move {
                tokio::time::sleep(MAX_SEAT_HOLD).await;
                if let Some(held) = held.upgrade() {
                    held.lock().unwrap().take();
                }
            });
        }
        let holds_seats = held.lock().unwrap().as_ref().is_some_and(|p| !p.is_released());
        let admitted = crate::body::boxed(Admitted {
            inner: body,
            held,
            slot: ticket.slot,
            list_key: ticket.list_key,
            bytes: 0,
            admission: self.clone(),
        });
        if holds_seats {
            // Read the response ahead of the client (up to a budget), so seats
            // go back when upstream is done, not when a slow client is.
            decoupled(admitted, READ_AHEAD_BYTES)
        } else {
            admitted
        }
    }
}

/// A body read by a task of its own into a buffer of at most `budget` bytes;
/// the client reads from the buffer at its own pace. If the client goes away
/// the task stops and drops the inner body (releasing what it holds).
fn decoupled(mut inner: ProxyBody, budget: usize) -> ProxyBody {
    use http_body_util::BodyExt;
    use tokio::sync::Semaphore;
    type Item = Result<http_body::Frame<Bytes>, BoxError>;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Item, u32)>();
    let room = Arc::new(Semaphore::new(budget));
    let producer_room = room.clone();
    tokio::spawn(async move {
        while let Some(frame) = inner.frame().await {
            let n = frame.as_ref().ok().and_then(|f| f.data_ref()).map_or(0, |d| d.len().min(budget)) as u32;
            match producer_room.clone().acquire_many_owned(n).await {
                Ok(permit) => permit.forget(), // given back when the client takes the frame
                Err(_) => return,
            }
            let failed = frame.is_err();
            if tx.send((frame, n)).is_err() || failed {
                return; // the client went away, or upstream failed
            }
        }
    });
    let stream = futures_util::stream::unfold((rx, room), |(mut rx, room)| async move {
        let (item, n) = rx.recv().await?;
        room.add_permits(n as usize);
        Some((item, (rx, room)))
    });
    crate::body::boxed(http_body_util::StreamBody::new(stream))
}

fn too_many(tenant: &str, why: &str, retry_after: u64) -> ApiError {
    ApiError::too_many_requests(
        format!("too many requests from tenant {tenant}: {why}; retry after {retry_after}s"),
        retry_after.max(1),
    )
}

/// A response body that holds the request's seats and slot until it ends.
pub struct Admitted {
    inner: ProxyBody,
    held: Arc<Mutex<Option<Permit>>>,
    slot: Option<Slot>,
    list_key: Option<String>,
    bytes: u64,
    admission: Arc<Admission>,
}

impl Admitted {
    fn done(&mut self) {
        self.held.lock().unwrap().take();
        self.slot.take();
        if let Some(key) = self.list_key.take() {
            self.admission.list_bytes.insert(key, self.bytes);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        // The client went away (or the body ended): give everything back.
        self.held.lock().unwrap().take();
    }
}

impl http_body::Body for Admitted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.done(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_info::parse;
    use http::Method;

    fn work(m: Method, path: &str, query: Option<&str>, learned: Option<u64>) -> Work {
        classify(&parse(&m, path, query).unwrap(), learned, 10)
    }

    #[test]
    fn classifies_requests() {
        assert_eq!(work(Method::GET, "/api/v1/namespaces/a/pods/p", None, None), Work::Seats { width: 1 });
        assert_eq!(work(Method::GET, "/api/v1/namespaces/a/pods", None, None), Work::Seats { width: 1 });
        assert_eq!(work(Method::GET, "/api/v1/namespaces/a/pods", None, Some(5 << 20)), Work::Seats { width: 6 });
        assert_eq!(work(Method::GET, "/api/v1/pods", None, Some(500 << 20)), Work::Seats { width: 10 });
        assert_eq!(work(Method::GET, "/api/v1/namespaces/a/pods", Some("watch=true"), None), Work::Watch);
        assert_eq!(work(Method::POST, "/api/v1/namespaces/a/pods/p/exec", None, None), Work::Stream);
        assert_eq!(work(Method::GET, "/api/v1/namespaces/a/pods/p/log", Some("follow=true"), None), Work::Stream);
        assert_eq!(work(Method::GET, "/api/v1/namespaces/a/pods/p/log", None, None), Work::Seats { width: 1 });
        assert_eq!(work(Method::POST, "/api/v1/namespaces/a/configmaps", None, None), Work::Seats { width: 1 });
    }

    #[test]
    fn slots_are_capped_and_returned() {
        let slots = Slots::default();
        let a = Slots::take(&slots.watches, "t", 2).unwrap();
        let _b = Slots::take(&slots.watches, "t", 2).unwrap();
        assert!(Slots::take(&slots.watches, "t", 2).is_none());
        assert!(Slots::take(&slots.watches, "u", 2).is_some(), "caps are per tenant");
        drop(a);
        assert!(Slots::take(&slots.watches, "t", 2).is_some());
    }

    #[test]
    fn a_deleted_tenants_idle_counters_are_forgotten_but_held_ones_stay() {
        let slots = Slots::default();
        drop(Slots::take(&slots.watches, "gone", 2).unwrap());
        let held = Slots::take(&slots.streams, "gone-busy", 1).unwrap();
        let _live = Slots::take(&slots.watches, "live", 2).unwrap();
        slots.forget(&|t| t == "live");
        assert!(!slots.watches.contains_key("gone"));
        assert!(slots.watches.contains_key("live"));
        assert!(Slots::take(&slots.streams, "gone-busy", 1).is_none(), "a held slot still counts after the sweep");
        drop(held);
        slots.forget(&|t| t == "live");
        assert!(!slots.streams.contains_key("gone-busy"));
    }
}
