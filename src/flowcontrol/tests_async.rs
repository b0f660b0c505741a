//! Tests of the async front ([`FlowControl`], [`Permit`]) with real tokio tasks and a fake scheduler clock.
//! They pin down what the proxy relies on: cancellation, release, time-outs, Retry-After, rate caps, reload, metrics hooks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn one_level(seats: u32, queue_length_limit: usize) -> FlowControlConfig {
    let mut cfg = FlowControlConfig::default();
    cfg.levels.insert(
        "default".into(),
        LevelConfig { seats, queue_length_limit, queued_work_limit: 1000, ..LevelConfig::default() },
    );
    cfg
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    gauges: Mutex<BTreeMap<(String, String), FlowGauges>>,
    level: Mutex<BTreeMap<String, LevelGauges>>,
}

impl Recorder {
    fn count(&self, prefix: &str) -> usize {
        self.events.lock().unwrap().iter().filter(|e| e.starts_with(prefix)).count()
    }
}

impl FlowObserver for Recorder {
    fn dispatched(&self, level: &str, tenant: &str, seats: u32, _wait: Duration) {
        self.events.lock().unwrap().push(format!("dispatched {level} {tenant} {seats}"));
    }
    fn rejected(&self, level: &str, tenant: &str, reason: RejectReason, _waited: Duration) {
        self.events.lock().unwrap().push(format!("rejected {reason} {level} {tenant}"));
    }
    fn finished(&self, level: &str, tenant: &str, seats: u32, _execution: Duration) {
        self.events.lock().unwrap().push(format!("finished {level} {tenant} {seats}"));
    }
    fn flow_gauges(&self, level: &str, tenant: &str, g: FlowGauges) {
        self.gauges.lock().unwrap().insert((level.into(), tenant.into()), g);
    }
    fn level_gauges(&self, level: &str, g: LevelGauges) {
        self.level.lock().unwrap().insert(level.into(), g);
    }
}

fn build(cfg: FlowControlConfig) -> (Arc<FlowControl>, FakeClock, Arc<Recorder>) {
    let clock = FakeClock::new();
    let rec = Arc::new(Recorder::default());
    let fc = FlowControl::new(cfg, Arc::new(clock.clone()), rec.clone()).unwrap();
    (fc, clock, rec)
}

fn level_snap(fc: &FlowControl, name: &str) -> LevelSnapshot {
    fc.snapshot().into_iter().find(|(n, _)| n == name).unwrap().1
}

async fn wait_until_queued(fc: &FlowControl, n: usize) {
    for _ in 0..1000 {
        if level_snap(fc, "default").queued_requests == n {
            return;
        }
        tokio::time::sleep(ms(1)).await;
    }
    panic!("never reached {n} queued: {}", fc.dump_queues());
}

#[tokio::test]
async fn dropped_acquire_future_leaves_no_ghost() {
    let (fc, _clock, rec) = build(one_level(1, 10));
    let p1 = fc.acquire("default", "a", 1, ms(100), ms(10_000)).await.unwrap();
    // the client goes away while queued: the future is dropped after 20 ms
    let r = tokio::time::timeout(ms(20), fc.acquire("default", "b", 1, ms(100), ms(10_000))).await;
    assert!(r.is_err(), "should still have been waiting");
    let s = level_snap(&fc, "default");
    assert_eq!(s.queued_requests, 0, "ghost left in queue:\n{}", fc.dump_queues());
    assert_eq!(s.seats_in_use, 1);
    assert_eq!(rec.count("rejected cancelled default b"), 1);
    drop(p1);
    let s = level_snap(&fc, "default");
    assert_eq!((s.seats_in_use, s.executing_requests, s.queued_requests), (0, 0, 0));
    assert_eq!(rec.count("dispatched default b"), 0, "the cancelled request never ran");
    assert_eq!(rec.gauges.lock().unwrap()[&("default".into(), "b".into())], FlowGauges::default());
}

#[tokio::test]
async fn dropped_permit_releases_seats_and_dispatches_next_waiter() {
    let (fc, _clock, rec) = build(one_level(2, 10));
    let p1 = fc.acquire("default", "a", 2, ms(100), ms(10_000)).await.unwrap();
    assert_eq!(p1.seats(), 2);
    let fc2 = fc.clone();
    let waiter = tokio::spawn(async move { fc2.acquire("default", "b", 1, ms(100), ms(10_000)).await });
    wait_until_queued(&fc, 1).await;
    drop(p1);
    let p2 = tokio::time::timeout(ms(1000), waiter).await.unwrap().unwrap().unwrap();
    assert_eq!((p2.tenant(), p2.level(), p2.seats()), ("b", "default", 1));
    assert_eq!(level_snap(&fc, "default").seats_in_use, 1);
    drop(p2);
    assert_eq!(level_snap(&fc, "default").seats_in_use, 0);
    assert_eq!(rec.count("finished default"), 2);
    let lg = rec.level.lock().unwrap()["default"];
    assert_eq!(lg, LevelGauges { seats_limit: 2, seats_in_use: 0, executing_requests: 0, queued_requests: 0 });
}

#[tokio::test]
async fn release_early_frees_the_seat_while_the_permit_lives() {
    let (fc, clock, rec) = build(one_level(1, 10));
    let mut watch = fc.acquire("default", "a", 1, ms(100), ms(10_000)).await.unwrap();
    let fc2 = fc.clone();
    let waiter = tokio::spawn(async move { fc2.acquire("default", "b", 1, ms(100), ms(10_000)).await });
    wait_until_queued(&fc, 1).await;
    clock.advance(ms(250));
    assert_eq!(watch.release_early(), ms(250), "service time is dispatch → release");
    assert!(watch.is_released());
    let p2 = tokio::time::timeout(ms(1000), waiter).await.unwrap().unwrap().unwrap();
    assert_eq!(watch.release_early(), ms(250), "second release is a no-op");
    drop(watch);
    assert_eq!(level_snap(&fc, "default").seats_in_use, 1, "dropping a released permit frees nothing more");
    drop(p2);
    assert_eq!(rec.count("finished default a"), 1);
}

#[tokio::test]
async fn wait_limit_times_out_on_the_waiters_own_timer() {
    let (fc, _clock, rec) = build(one_level(1, 10));
    let _p1 = fc.acquire("default", "a", 1, ms(100), ms(10_000)).await.unwrap();
    let r = fc.acquire("default", "b", 1, ms(100), ms(30)).await.unwrap_err();
    assert_eq!(r.reason, RejectReason::TimedOut);
    assert!(r.retry_after_secs() >= 1);
    assert_eq!(level_snap(&fc, "default").queued_requests, 0);
    assert_eq!(rec.count("rejected time-out default b"), 1);
}

#[tokio::test]
async fn maintenance_times_out_waiters_without_other_traffic() {
    let (fc, clock, rec) = build(one_level(1, 10));
    let _p1 = fc.acquire("default", "a", 1, ms(100), ms(60_000)).await.unwrap();
    let fc2 = fc.clone();
    let waiter = tokio::spawn(async move { fc2.acquire("default", "b", 1, ms(100), Duration::from_secs(5)).await });
    wait_until_queued(&fc, 1).await;
    clock.advance(Duration::from_secs(6));
    fc.maintain();
    let r = tokio::time::timeout(ms(1000), waiter).await.unwrap().unwrap().unwrap_err();
    assert_eq!(r.reason, RejectReason::TimedOut);
    assert_eq!(r.waited, Duration::from_secs(6));
    assert_eq!(rec.count("rejected time-out"), 1);
    assert_eq!(level_snap(&fc, "default").queued_requests, 0);
}

#[tokio::test]
async fn spawned_maintenance_runs_and_stops_with_the_flow_control() {
    let clock = FakeClock::new();
    let fc = FlowControl::new(one_level(1, 10), Arc::new(clock.clone()), Arc::new(NoopObserver)).unwrap();
    let task = fc.spawn_maintenance(ms(5));
    let _p1 = fc.acquire("default", "a", 1, ms(100), ms(60_000)).await.unwrap();
    let fc2 = fc.clone();
    let waiter = tokio::spawn(async move { fc2.acquire("default", "b", 1, ms(100), Duration::from_secs(5)).await });
    wait_until_queued(&fc, 1).await;
    clock.advance(Duration::from_secs(6));
    let r = tokio::time::timeout(ms(2000), waiter).await.unwrap().unwrap().unwrap_err();
    assert_eq!(r.reason, RejectReason::TimedOut);
    drop(_p1);
    drop(fc);
    tokio::time::timeout(ms(2000), task).await.expect("maintenance task ends").unwrap();
}

#[tokio::test]
async fn retry_after_grows_under_overflow_and_shrinks_after() {
    let (fc, clock, rec) = build(one_level(1, 0));
    let _p = fc.acquire("default", "hog", 1, ms(100), ms(1000)).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..40 {
        let r = fc.acquire("default", "hog", 1, ms(100), ms(1000)).await.unwrap_err();
        assert_eq!(r.reason, RejectReason::QueueFull);
        seen.push(r.retry_after_secs());
        clock.advance(ms(100));
    }
    eprintln!("Retry-After while overflowing (one rejection per 100 ms): {seen:?}");
    assert_eq!(seen[0], 1);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "non-decreasing while overflowing: {seen:?}");
    assert!(*seen.last().unwrap() >= 16, "{seen:?}");
    assert!(*seen.last().unwrap() <= 32);
    // a quiet neighbour is not affected
    assert_eq!(fc.retry_after_hint("quiet"), Duration::from_secs(1));
    // it stops overflowing: the advice halves every half-life (10 s)
    let mut shrinking = Vec::new();
    for _ in 0..6 {
        clock.advance(Duration::from_secs(10));
        shrinking.push(fc.retry_after_hint("hog").as_secs());
    }
    eprintln!("Retry-After hint every 10 s after the overflow stopped: {shrinking:?}");
    assert!(shrinking.windows(2).all(|w| w[0] >= w[1]), "{shrinking:?}");
    assert_eq!(*shrinking.last().unwrap(), 1);
    let r = fc.acquire("default", "hog", 1, ms(100), ms(1000)).await.unwrap_err();
    assert!(r.retry_after_secs() <= 2, "after a quiet minute: {}", r.retry_after_secs());
    assert_eq!(rec.count("rejected queue-full default hog"), 41);
    // maintenance forgets decayed back-off state
    clock.advance(Duration::from_secs(600));
    fc.maintain();
    assert!(fc.backoff.lock().unwrap().is_empty());
}

#[tokio::test]
async fn rate_limits_are_checked_before_queueing_tenant_first() {
    let mut cfg = one_level(8, 10);
    cfg.rate_limits = RateLimitConfig {
        per_tenant: Some(RateQuota::new(1.0, 2)),
        global: Some(RateQuota::new(1.0, 4)),
        ..Default::default()
    };
    let (fc, clock, rec) = build(cfg);
    let _a1 = fc.acquire("default", "a", 1, ms(100), ms(100)).await.unwrap();
    let _a2 = fc.acquire("default", "a", 1, ms(100), ms(100)).await.unwrap();
    for _ in 0..50 {
        let r = fc.acquire("default", "a", 1, ms(100), ms(100)).await.unwrap_err();
        assert_eq!(r.reason, RejectReason::RateLimited);
        assert!(r.retry_after_secs() >= 1);
    }
    // a's 50 refusals did not eat the global burst: b gets the remaining two
    let _b1 = fc.acquire("default", "b", 1, ms(100), ms(100)).await.unwrap();
    let _b2 = fc.acquire("default", "b", 1, ms(100), ms(100)).await.unwrap();
    let r = fc.acquire("default", "c", 1, ms(100), ms(100)).await.unwrap_err();
    assert_eq!(r.reason, RejectReason::RateLimited);
    assert_eq!(rec.count("rejected rate-limited default a"), 50);
    assert_eq!(level_snap(&fc, "default").queued_requests, 0, "rate-limited requests never queue");
    clock.advance(Duration::from_secs(1));
    let _c = fc.acquire("default", "c", 1, ms(100), ms(100)).await.unwrap();
}

#[tokio::test]
async fn levels_assignments_exempt_and_fallback() {
    let mut cfg = FlowControlConfig::default();
    cfg.levels.insert("workload".into(), LevelConfig { seats: 1, queue_length_limit: 0, ..LevelConfig::default() });
    cfg.tenants.insert("gold".into(), TenantAssignment { level: Some("workload".into()), weight: 4.0 });
    cfg.tenants.insert("plain".into(), TenantAssignment { level: None, weight: 2.0 });
    let (fc, _clock, _rec) = build(cfg);
    assert_eq!(fc.level_for("gold"), "workload");
    assert_eq!(fc.level_for("plain"), "default");
    assert_eq!(fc.level_for("unknown"), "default");
    assert_eq!(fc.level_names(), vec!["default", "exempt", "workload"]);
    let _g = fc.acquire("workload", "gold", 1, ms(100), ms(100)).await.unwrap();
    assert_eq!(fc.acquire("workload", "gold", 1, ms(100), ms(100)).await.unwrap_err().reason, RejectReason::QueueFull);
    // exempt never waits, whatever the load
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(fc.acquire("exempt", "ops", 1, ms(100), ms(0)).await.unwrap());
    }
    // unknown level name: the default level
    let p = fc.acquire("no-such-level", "x", 1, ms(100), ms(100)).await.unwrap();
    assert_eq!(p.level(), "default");
    let snap = level_snap(&fc, "workload");
    assert_eq!(snap.flows.iter().find(|f| f.tenant == "gold").unwrap().weight, 4.0);
    let dump = fc.dump_queues();
    assert!(dump.contains("priority level exempt") && dump.contains("priority level workload"), "{dump}");
}

#[tokio::test]
async fn live_apply_keeps_waiters_and_refuses_invalid_config() {
    let (fc, _clock, _rec) = build(one_level(1, 10));
    let _p = fc.acquire("default", "a", 1, ms(100), ms(10_000)).await.unwrap();
    let mut waiters = Vec::new();
    for t in ["b", "c", "d"] {
        let fc2 = fc.clone();
        waiters.push(tokio::spawn(async move { fc2.acquire("default", t, 1, ms(100), ms(10_000)).await }));
        wait_until_queued(&fc, waiters.len()).await;
    }
    // invalid: the old config stays, queued requests too
    let mut bad = one_level(0, 10);
    bad.tenants.insert("b".into(), TenantAssignment { level: None, weight: 2.0 });
    let err = fc.apply(bad).unwrap_err();
    assert!(err.contains("seats"), "{err}");
    let mut bad2 = one_level(3, 10);
    bad2.tenants.insert("b".into(), TenantAssignment { level: Some("nope".into()), weight: 1.0 });
    assert!(fc.apply(bad2).unwrap_err().contains("nope"));
    assert_eq!(fc.config(), one_level(1, 10));
    assert_eq!(level_snap(&fc, "default").queued_requests, 3);
    // valid: more seats and a new weight, applied to the queued requests
    let mut good = one_level(3, 10);
    good.tenants.insert("b".into(), TenantAssignment { level: None, weight: 5.0 });
    fc.apply(good).unwrap();
    let mut permits = Vec::new();
    for w in waiters.drain(..2) {
        permits.push(tokio::time::timeout(ms(1000), w).await.unwrap().unwrap().unwrap());
    }
    let s = level_snap(&fc, "default");
    assert_eq!((s.seats_in_use, s.queued_requests, s.config.seats), (3, 1, 3));
    assert_eq!(s.flows.iter().find(|f| f.tenant == "b").map(|f| f.weight), Some(5.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acquire_release_leaves_consistent_state() {
    let fc = FlowControl::new(one_level(3, 1000), Arc::new(MonotonicClock::new()), Arc::new(NoopObserver)).unwrap();
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let fc = fc.clone();
        tasks.push(tokio::spawn(async move {
            let tenant = format!("t{}", i % 4);
            let mut ok = 0;
            for j in 0..25u32 {
                let fut = fc.acquire("default", &tenant, 1 + (j % 2), ms(1), ms(2000));
                if j % 7 == 3 {
                    // some clients give up early
                    let _ = tokio::time::timeout(Duration::from_micros(200), fut).await;
                    continue;
                }
                if let Ok(p) = fut.await {
                    ok += 1;
                    tokio::task::yield_now().await;
                    drop(p);
                }
            }
            ok
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let s = level_snap(&fc, "default");
    assert_eq!((s.seats_in_use, s.executing_requests, s.queued_requests), (0, 0, 0), "{}", fc.dump_queues());
    assert!(total > 0);
}

#[test]
fn wait_limit_rule() {
    assert_eq!(wait_limit_for(None), Duration::from_secs(15));
    assert_eq!(wait_limit_for(Some(Duration::from_secs(60))), Duration::from_secs(15));
    assert_eq!(wait_limit_for(Some(Duration::from_secs(8))), Duration::from_secs(2));
    assert_eq!(wait_limit_for(Some(Duration::from_secs(3600))), Duration::from_secs(60));
}

#[test]
fn rejection_message() {
    let r = Rejection {
        reason: RejectReason::QueueFull,
        level: "default".into(),
        tenant: "t".into(),
        retry_after: Duration::from_secs(4),
        waited: Duration::ZERO,
    };
    assert_eq!(r.retry_after_secs(), 4);
    assert!(r.to_string().contains("queue is full"));
}
