//! Replicas behind HAProxy on the shared etcd: one URL, the policy's seats and rate caps for the
//! whole fleet, a re-split within seconds when a replica comes or goes, and no acknowledged
//! write lost when one is SIGKILLed mid-load.

use std::time::{Duration, Instant};

use vcproxy_testenv::{shared, Fleet, FleetOptions};

use crate::writer::{writing_tenant, Target, Writer};
use crate::{ok, unique_tenant, vcproxy_bin};

/// The value of `metric` (with exactly these labels, or none) in a Prometheus text page.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `(replicas seen, workload seats, per-tenant rate)` of each running replica.
fn shares(fleet: &Fleet, running: &[usize]) -> Vec<(f64, f64)> {
    running
        .iter()
        .map(|&i| {
            let m = fleet.replica(i).metrics().expect("replica metrics");
            let seen = metric(&m, "vcproxy_fleet_replicas").expect("vcproxy_fleet_replicas");
            let seats = metric(&m, "vcproxy_flowcontrol_nominal_limit_seats{priority_level=\"workload\"}")
                .expect("workload seats gauge");
            (seen, seats)
        })
        .collect()
}

/// Waits until every replica in `running` sees `n` replicas and their seats add up to `total`.
fn wait_for_split(fleet: &Fleet, running: &[usize], n: usize, total: f64, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let s = shares(fleet, running);
        if s.iter().all(|(seen, _)| *seen == n as f64) && s.iter().map(|(_, seats)| seats).sum::<f64>() == total {
            let seats: Vec<f64> = s.iter().map(|(_, seats)| *seats).collect();
            let (lo, hi) = seats.iter().fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!(hi - lo <= 1.0, "seats split evenly: {seats:?}");
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "no re-split to {n} replicas / {total} seats within {within:?}: {s:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fleet_of(n: usize) -> Fleet {
    let policy = std::fs::canonicalize("policies/default.toml").unwrap();
    let opts = FleetOptions {
        replicas: n,
        fleet: unique_tenant("fleet"),
        extra_toml: format!("[policy]\nfile = {:?}\n", policy.display().to_string()),
        ..Default::default()
    };
    Fleet::start(vcproxy_bin(), shared(), opts).expect("starting 3 replicas behind HAProxy")
}

#[test]
fn replicas_split_the_fleet_seats_and_resplit_when_one_comes_or_goes() {
    let mut fleet = fleet_of(3);
    // policies/default.toml: 16 workload seats for the fleet.
    wait_for_split(&fleet, &[0, 1, 2], 3, 16.0, Duration::from_secs(5));

    // A SIGKILLed replica revokes nothing; its lease runs out and the others take its seats.
    fleet.kill(1);
    let took = wait_for_split(&fleet, &[0, 2], 2, 16.0, Duration::from_secs(10));
    eprintln!("re-split after SIGKILL in {took:?}");
    fleet.wait_up(2, Duration::from_secs(5)).expect("HAProxy marks the dead replica down");

    fleet.restart(shared(), 1).unwrap();
    wait_for_split(&fleet, &[0, 1, 2], 3, 16.0, Duration::from_secs(5));
    fleet.wait_up(3, Duration::from_secs(10)).unwrap();

    // A replica that stops cleanly gives its share back at once (its lease is revoked).
    fleet.replica(2).stop();
    let took = wait_for_split(&fleet, &[0, 1], 2, 16.0, Duration::from_secs(4));
    eprintln!("re-split after SIGTERM in {took:?}");

    // kubectl through the load balancer: one URL, every replica presents the same certificate.
    let r0 = fleet.replica(0);
    let name = unique_tenant("fl");
    let kubeconfig = r0.create_tenant_kubeconfig(&name).unwrap();
    assert!(std::fs::read_to_string(&kubeconfig).unwrap().contains(fleet.url()), "kubeconfig names the LB");
    for _ in 0..4 {
        ok(r0.kubectl(&kubeconfig, &["get", "ns", "default"]), "kubectl through HAProxy");
    }
}

#[test]
fn a_replica_killed_mid_load_loses_no_acknowledged_write_and_ends_its_watches() {
    let mut fleet = fleet_of(3);
    let tenant = unique_tenant("fk");
    let target = writing_tenant(&fleet, &tenant, "fleet.example.com", "widgets", "Widget");
    let collections = vec![
        ("/api/v1/namespaces/work/configmaps".to_string(), "ConfigMap", "v1"),
        ("/apis/fleet.example.com/v1/namespaces/work/widgets".to_string(), "Widget", "fleet.example.com/v1"),
    ];

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let direct = |i: usize| Target { url: fleet.replica(i).url().to_string(), ..target.clone() };
    let (on_killed, on_live) = (direct(0), direct(1));
    let (watch_on_killed, watch_on_live, outcomes) = rt.block_on(async {
        // One watch on the replica that will die, one on a replica that lives.
        let watch_on_killed = tokio::spawn(watch_until_it_ends(on_killed, "work"));
        let watch_on_live = tokio::spawn(watch_until_it_ends(on_live, "work"));
        let until = Instant::now() + Duration::from_secs(12);
        let writers: Vec<_> = (0..2)
            .map(|w| tokio::spawn(Writer::new(target.clone()).run(collections.clone(), format!("w{w}"), until)))
            .collect();
        tokio::time::sleep(Duration::from_secs(4)).await;
        fleet.kill(0);
        let killed_at = Instant::now();
        let ended = tokio::time::timeout(Duration::from_secs(5), watch_on_killed).await;
        let watch_on_killed = ended.ok().and_then(|r| r.ok()).map(|opened| (opened, killed_at.elapsed()));
        let mut outcomes = Vec::new();
        for w in writers {
            outcomes.push(w.await.unwrap());
        }
        let live_still_open = !watch_on_live.is_finished();
        watch_on_live.abort();
        (watch_on_killed, live_still_open, outcomes)
    });
    let (opened, ended_after) = watch_on_killed.expect("the watch on the killed replica ends within 5 s");
    assert!(opened, "the watch on the killed replica had started streaming");
    eprintln!("watch on the killed replica ended {ended_after:?} after the SIGKILL");
    assert!(watch_on_live, "a watch on a live replica is not disturbed");

    let mut check = Writer::new(target.clone());
    for (w, o) in outcomes.iter().enumerate() {
        eprintln!(
            "writer {w}: {} acknowledged writes, errors {:?}, {} transport errors, slowest {:?}",
            o.writes_acked, o.errors, o.transport_errors, o.slowest
        );
        assert!(o.bad_errors.is_empty(), "writer {w}: {:?}", o.bad_errors);
        assert!(o.writes_acked >= 20, "writer {w} kept writing through the fault: {}", o.writes_acked);
        let lost = rt.block_on(check.lost(&o.acked));
        assert!(lost.is_empty(), "writer {w}: acknowledged writes lost: {lost:?}");
    }
}

/// Opens a watch on configmaps in `namespace` and returns when the stream ends: true if it had
/// opened (200).
pub(crate) async fn watch_until_it_ends(t: Target, namespace: &str) -> bool {
    use http_body_util::BodyExt;
    let Ok(io) = crate::client::tls(&t.url, &t.ca, &[b"h2"]).await else { return false };
    let Ok((mut send, conn)) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(io))
            .await
    else {
        return false;
    };
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("{}/clusters/{}/api/v1/namespaces/{namespace}/configmaps?watch=true", t.url, t.tenant))
        .version(http::Version::HTTP_2)
        .header("authorization", format!("Bearer {}", t.token))
        .body(crate::client::full(""))
        .unwrap();
    let Ok(resp) = send.send_request(req).await else { return false };
    if resp.status() != http::StatusCode::OK {
        return false;
    }
    let mut body = resp.into_body();
    while let Some(Ok(_)) = body.frame().await {}
    true
}
