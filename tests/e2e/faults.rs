//! The super master restarting under load, on a control plane of this test's own (the shared one
//! must stay up for the other tests): kube-apiserver stopped and started again, then etcd. Two
//! replicas behind HAProxy take the writes; every write they acknowledged must still be there,
//! every refusal must be a Status (503s with Retry-After), nothing may hang, and tenants must be
//! served again within seconds of the part being back. Then an upstream that hangs or answers
//! garbage, through a relay that misbehaves on demand: the request's deadline holds, and the
//! Status says the super apiserver is at fault.

use std::time::{Duration, Instant};

use vcproxy_testenv::{ControlPlane, FaultyRelay, Fleet, FleetOptions, RelayMode, Vcproxy, VcproxyOptions};

use crate::writer::{writing_tenant, Outcome, Target, Writer};
use crate::{ok, tenant_on, token_of, vcproxy_bin};

fn collections() -> Vec<(String, &'static str, &'static str)> {
    vec![
        ("/api/v1/namespaces/work/configmaps".to_string(), "ConfigMap", "v1"),
        ("/apis/faults.example.com/v1/namespaces/work/gadgets".to_string(), "Gadget", "faults.example.com/v1"),
    ]
}

/// How long after `since` a GET of `path` first answers 200 (polled every 100 ms, up to `limit`).
async fn first_success(t: &Target, path: &str, since: Instant, limit: Duration) -> Option<Duration> {
    let mut probe = Writer::new(t.clone());
    while since.elapsed() < limit {
        if probe.get_status(path).await == Some(200) {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn report(what: &str, o: &Outcome) {
    eprintln!(
        "{what}: {} acknowledged writes, error answers {:?}, {} transport errors, slowest {:?}",
        o.writes_acked, o.errors, o.transport_errors, o.slowest
    );
}

#[test]
fn apiserver_and_etcd_restarts_lose_no_acknowledged_write() {
    let cp = ControlPlane::start().expect("a control plane of this test's own");
    let opts = FleetOptions { replicas: 2, fleet: "faults".into(), ..Default::default() };
    let fleet = Fleet::start(vcproxy_bin(), &cp, opts).expect("two replicas behind HAProxy");
    let target = writing_tenant(&fleet, "faulty", "faults.example.com", "gadgets", "Gadget");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // --- kube-apiserver stopped and started again ---------------------------------------
    let (outcome, recovery, watch_ended) = rt.block_on(async {
        let watch = tokio::spawn(crate::fleet::watch_until_it_ends(target.clone(), "work"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let until = Instant::now() + Duration::from_secs(8);
        let writer = tokio::spawn(Writer::new(target.clone()).run(collections(), "api".into(), until));
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| cp.stop_apiserver());
        // While it is down: a Status 503 with Retry-After, at once.
        let mut probe = Writer::new(target.clone());
        let down = probe.get_answer("/api/v1/namespaces/work/configmaps").await;
        let watch_ended = tokio::time::timeout(Duration::from_secs(10), watch).await.is_ok();
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| cp.start_apiserver()).expect("kube-apiserver restarts");
        let back = Instant::now();
        let recovery =
            first_success(&target, "/api/v1/namespaces/work/configmaps", back, Duration::from_secs(30)).await;
        // A watch can be opened again once it is back (the reflector's relist and re-watch).
        let rewatch =
            tokio::time::timeout(Duration::from_secs(3), crate::fleet::watch_until_it_ends(target.clone(), "work"))
                .await;
        assert!(rewatch.is_err(), "a new watch stays open once kube-apiserver is back");
        (writer.await.unwrap(), (down, recovery), watch_ended)
    });
    report("kube-apiserver restart", &outcome);
    let ((down_status, down_retry_after, down_reason), recovery) =
        (recovery.0.expect("an answer while down"), recovery.1);
    assert_eq!(down_status, 503, "kube-apiserver down: 503 ({down_reason})");
    assert!(down_retry_after.is_some(), "kube-apiserver down: the 503 has Retry-After");
    assert!(watch_ended, "a watch ends when kube-apiserver goes away (clients re-watch)");
    let recovery = recovery.expect("served again after kube-apiserver is back");
    eprintln!("served again {recovery:?} after kube-apiserver was ready");
    assert!(recovery <= Duration::from_secs(5), "recovery within 5 s of kube-apiserver being back: {recovery:?}");
    assert!(outcome.bad_errors.is_empty(), "{:?}", outcome.bad_errors);
    let lost = rt.block_on(Writer::new(target.clone()).lost(&outcome.acked));
    assert!(lost.is_empty(), "acknowledged writes lost across the kube-apiserver restart: {lost:?}");

    // --- etcd stopped and started again ---------------------------------------------------
    let (outcome, during, recovery) = rt.block_on(async {
        let until = Instant::now() + Duration::from_secs(8);
        let writer = tokio::spawn(Writer::new(target.clone()).run(collections(), "etcd".into(), until));
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| cp.stop_etcd());
        let mut probe = Writer::new(target.clone());
        // Tenant CRs live in etcd: 503. The tenant still authenticates (the registry is in
        // memory): its own cluster's discovery, served by vcproxy, still answers.
        let cr = probe.get_answer("/apis/faults.example.com/v1/namespaces/work/gadgets").await;
        let discovery = probe.get_answer("/apis/faults.example.com/v1").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| cp.start_etcd()).expect("etcd restarts");
        let back = Instant::now();
        let recovery = first_success(
            &target,
            "/apis/faults.example.com/v1/namespaces/work/gadgets",
            back,
            Duration::from_secs(30),
        )
        .await;
        (writer.await.unwrap(), (cr, discovery), recovery)
    });
    report("etcd restart", &outcome);
    let (cr_status, cr_retry, cr_reason) = during.0.expect("an answer for CRs while etcd is down");
    assert_eq!(cr_status, 503, "etcd down: tenant CRs answer 503 ({cr_reason})");
    assert!(cr_retry.is_some(), "etcd down: the 503 has Retry-After");
    let (disc_status, _, disc_reason) = during.1.expect("an answer for discovery while etcd is down");
    assert_eq!(disc_status, 200, "etcd down: the tenant still authenticates and is served ({disc_reason})");
    let recovery = recovery.expect("tenant CRs served again after etcd is back");
    eprintln!("tenant CRs served again {recovery:?} after etcd was healthy");
    assert!(outcome.bad_errors.is_empty(), "{:?}", outcome.bad_errors);
    let lost = rt.block_on(Writer::new(target.clone()).lost(&outcome.acked));
    assert!(lost.is_empty(), "acknowledged writes lost across the etcd restart: {lost:?}");
    drop(fleet);
    cp.stop();
}

/// The answer to GET `path` and how long it took.
async fn timed_get(w: &mut Writer, path: &str) -> (Option<(u16, Option<u64>, String)>, Duration) {
    let started = Instant::now();
    let answer = w.get_answer(path).await;
    (answer, started.elapsed())
}

#[test]
fn a_hung_or_garbled_upstream_gets_a_timeout_or_bad_gateway_that_blames_it() {
    let cp = vcproxy_testenv::shared();
    let apiserver = cp.apiserver_url().trim_start_matches("https://").parse().unwrap();
    let relay = FaultyRelay::start(apiserver).expect("a relay to kube-apiserver");
    let opts = VcproxyOptions {
        upstream_url: Some(relay.url()),
        extra_toml: "[limits]\nmax_request_seconds = 3\n".into(),
        ..Default::default()
    };
    let p = Vcproxy::start_with(vcproxy_bin(), cp, opts).expect("vcproxy behind the relay");
    let (tenant, kubeconfig) = tenant_on(&p, "hung");
    ok(p.kubectl(&kubeconfig, &["create", "ns", "work"]), "create ns");
    let target = Target { url: p.url().into(), ca: p.ca_file(), tenant, token: token_of(&kubeconfig) };
    let path = "/api/v1/namespaces/work/configmaps";
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut w = Writer::new(target.clone());
        assert_eq!(w.get_status(path).await, Some(200), "served through the relay");

        // Hung: nothing comes back from kube-apiserver.
        relay.set_mode(RelayMode::Stall);
        let (asked, asked_took) = timed_get(&mut w, &format!("{path}?timeout=1s")).await;
        let (default, default_took) = timed_get(&mut w, path).await;
        relay.set_mode(RelayMode::Pass);
        let back = first_success(&target, path, Instant::now(), Duration::from_secs(20)).await;
        eprintln!("hung upstream: ?timeout=1s answered {asked:?} in {asked_took:?}; default answered {default:?} in {default_took:?}; served again {back:?} after");
        for ((answer, took), limit) in [((asked, asked_took), 1.0), ((default, default_took), 3.0)] {
            let (code, _, message) = answer.expect("an answer, not a hang");
            assert_eq!(code, 504, "a hung upstream is a 504 Timeout Status: {message}");
            assert!(message.contains("super apiserver did not answer"), "the Status blames upstream: {message}");
            assert!(took >= Duration::from_secs_f64(limit), "not before the deadline: {took:?}");
            assert!(took < Duration::from_secs_f64(limit + 2.0), "by the deadline ({limit}s): {took:?}");
        }
        assert!(back.is_some(), "served again once kube-apiserver answers");

        // Garbage: what comes back is not TLS, on the open connection and on new ones.
        relay.set_mode(RelayMode::Garbage);
        let mut garbled = Vec::new();
        for _ in 0..3 {
            garbled.push(timed_get(&mut Writer::new(target.clone()), path).await);
        }
        relay.set_mode(RelayMode::Pass);
        let back = first_success(&target, path, Instant::now(), Duration::from_secs(20)).await;
        eprintln!("garbage from upstream: {garbled:?}; served again {back:?} after");
        for (answer, took) in garbled {
            let (code, _, message) = answer.expect("an answer, not a hang");
            assert_eq!(code, 502, "garbage from upstream is a 502 Status: {message}");
            assert!(message.contains("not valid TLS or HTTP/2"), "the Status blames upstream: {message}");
            assert!(took < Duration::from_secs(3), "at once, not at the deadline: {took:?}");
        }
        assert!(back.is_some(), "served again once kube-apiserver's answers come through");
    });
    drop(p);
    drop(relay);
}

