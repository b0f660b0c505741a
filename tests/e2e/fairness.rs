//! Flow control against the real apiserver: 429s for a flooding tenant and
//! none for a quiet one, live policy reloads, and seats returned when a client
//! walks away mid-response.

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;

use crate::client::{body_bytes, connect, full};
use crate::{proxy_with_policy, tenant_on, token_of};
use vcproxy_testenv::Vcproxy;

fn metric(p: &Vcproxy, prefix: &str) -> f64 {
    p.metrics()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn dump(p: &Vcproxy) -> String {
    vcproxy_testenv::http::http_get(&format!("{}/debug/api_priority_and_fairness/dump_queues", p.admin_url()))
        .unwrap()
        .text()
}

const TIGHT: &str = r#"
[defaults]
level = "workload"
[levels.workload]
seats = 2
queue_length = 4
queued_work = 4
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_gets_429s_and_a_quiet_one_does_not() {
    let (p, _) = proxy_with_policy(TIGHT);
    let (noisy, noisy_kc) = tenant_on(&p, "fl");
    let (quiet, quiet_kc) = tenant_on(&p, "qu");
    let (noisy_token, quiet_token) = (token_of(&noisy_kc), token_of(&quiet_kc));

    // The flood: 300 LISTs at once over a few HTTP/2 connections.
    let mut flood = Vec::new();
    for c in 0..4 {
        let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
        let (url, token) =
            (format!("{}/clusters/{noisy}/api/v1/namespaces/default/configmaps", p.url()), noisy_token.clone());
        flood.push(tokio::spawn(async move {
            let mut results = Vec::new();
            let mut inflight = Vec::new();
            for _ in 0..75 {
                let req = Request::get(&url).header("authorization", format!("Bearer {token}")).body(full("")).unwrap();
                inflight.push(conn.send_concurrent(req));
            }
            for f in inflight {
                results.push(body_bytes(f.await).await);
            }
            let _ = c;
            results
        }));
    }
    // Meanwhile the quiet tenant asks one thing at a time.
    let mut quiet_statuses = Vec::new();
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    for _ in 0..20 {
        let req = Request::get(format!("{}/clusters/{quiet}/api/v1/namespaces/default/configmaps", p.url()))
            .header("authorization", format!("Bearer {quiet_token}"))
            .body(full(""))
            .unwrap();
        quiet_statuses.push(body_bytes(conn.send(req).await).await.0);
    }
    let mut rejected = 0;
    let mut ok = 0;
    for task in flood {
        for (status, headers, body) in task.await.unwrap() {
            match status.as_u16() {
                200 => ok += 1,
                429 => {
                    rejected += 1;
                    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                    assert!(retry >= 1);
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(v["kind"], "Status");
                    assert_eq!(v["reason"], "TooManyRequests");
                    assert_eq!(v["code"], 429);
                    assert_eq!(v["details"]["retryAfterSeconds"], retry);
                }
                other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
            }
        }
    }
    eprintln!("flood: {ok} served, {rejected} rejected; quiet: {:?}", quiet_statuses);
    assert!(rejected > 0, "the flood was never rejected");
    assert!(ok > 0, "the flood was starved entirely");
    assert!(quiet_statuses.iter().all(|s| *s == 200), "quiet tenant got {quiet_statuses:?}");
    assert!(metric(&p, &format!("vcproxy_flowcontrol_rejected_requests_total{{priority_level=\"workload\",reason=\"queue-full\",tenant=\"{noisy}\"}}")) > 0.0);
    assert_eq!(metric(&p, &format!("vcproxy_flowcontrol_rejected_requests_total{{priority_level=\"workload\",reason=\"queue-full\",tenant=\"{quiet}\"}}")), 0.0);
}

/// `n` GETs in a row from a fresh client; (status, body) of each.
fn raw_gets(p: &Vcproxy, tenant: &str, token: &str, n: usize) -> Vec<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
        let mut out = Vec::new();
        for _ in 0..n {
            let req = Request::get(format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps", p.url()))
                .header("authorization", format!("Bearer {token}"))
                .body(full(""))
                .unwrap();
            let (status, _, body) = body_bytes(conn.send(req).await).await;
            out.push((status.as_u16(), String::from_utf8_lossy(&body).into_owned()));
        }
        out
    })
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn policy_reloads_live_and_an_invalid_file_keeps_the_old_policy() {
    let (p, file) = proxy_with_policy(TIGHT);
    let (tenant, kc) = tenant_on(&p, "rl");
    assert!(p.kubectl(&kc, &["get", "cm", "-n", "default"]).status.success());

    // Raise the tenant's weight and cap its rate: both take effect without a restart.
    let reloaded = format!("{TIGHT}\n[tenants.{tenant}]\nweight = 3\nrequests_per_second = 0.2\nburst = 1\n");
    std::fs::write(&file, &reloaded).unwrap();
    wait_for("the reload", Duration::from_secs(10), || {
        metric(&p, "vcproxy_policy_reloads_total{result=\"applied\"}") >= 1.0
    });
    let _ = p.kubectl(&kc, &["get", "cm", "-n", "default"]);
    let line = dump(&p).lines().find(|l| l.starts_with(&tenant)).map(str::to_string).unwrap_or_default();
    assert!(line.split_whitespace().nth(1) == Some("3.000"), "weight not applied: {line:?}\n{}", dump(&p));
    let statuses = raw_gets(&p, &tenant, &token_of(&kc), 3);
    assert!(
        statuses.iter().any(|(s, body)| *s == 429 && body.contains("rate limit")),
        "rate limit from the reloaded policy not enforced: {statuses:?}"
    );

    // An invalid file is refused; the policy in force stays.
    std::fs::write(&file, format!("{reloaded}\n[levels.workload]\nseats = 0\n")).unwrap();
    wait_for("the refusal", Duration::from_secs(10), || {
        metric(&p, "vcproxy_policy_reloads_total{result=\"refused\"}") >= 1.0
    });
    assert_eq!(metric(&p, "vcproxy_policy_valid"), 0.0);
    assert!(p.log().contains("policy refused"), "{}", p.log());
    let line = dump(&p).lines().find(|l| l.starts_with(&tenant)).map(str::to_string).unwrap_or_default();
    assert_eq!(line.split_whitespace().nth(1), Some("3.000"), "old policy lost: {line}");
    assert!(dump(&p).contains("seats=2 "), "{}", dump(&p));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_come_back_when_a_client_disconnects_mid_response() {
    let (p, _) = proxy_with_policy(TIGHT);
    let (tenant, kc) = tenant_on(&p, "dc");
    let token = token_of(&kc);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    // ~20 MB of configmaps: more than vcproxy reads ahead of a client (8 MiB)
    // plus what the HTTP/2 windows hold,
    // so the seat stays held while this client does not read.
    let blob = "x".repeat(200 * 1024);
    for i in 0..100 {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("big{i}")}, "data": {"blob": blob}});
        let req = Request::post(format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps", p.url()))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(full(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let (status, _, b) = body_bytes(conn.send(req).await).await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&b));
    }
    let seats =
        format!("vcproxy_flowcontrol_current_executing_seats{{priority_level=\"workload\",tenant=\"{tenant}\"}}");
    let mut slow = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let req = Request::get(format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps", p.url()))
        .header("authorization", format!("Bearer {token}"))
        .body(full(""))
        .unwrap();
    let resp = slow.send(req).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(metric(&p, &seats) >= 1.0, "the reading client should hold a seat:\n{}", dump(&p));

    drop(body);
    drop(slow); // the client goes away mid-response
    let start = Instant::now();
    while metric(&p, &seats) > 0.0 {
        assert!(start.elapsed() < Duration::from_secs(5), "seat not returned:\n{}", dump(&p));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_watches_are_capped_per_tenant_and_the_slot_returns_when_one_closes() {
    let (p, _) =
        proxy_with_policy(&TIGHT.replace("level = \"workload\"", "level = \"workload\"\nmax_open_watches = 1"));
    let (tenant, kc) = tenant_on(&p, "wc");
    let token = token_of(&kc);
    let url = format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps?watch=1", p.url());
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let first =
        conn.send(Request::get(&url).header("authorization", format!("Bearer {token}")).body(full("")).unwrap()).await;
    assert_eq!(first.status(), 200);
    let (status, headers, body) = body_bytes(
        conn.send(Request::get(&url).header("authorization", format!("Bearer {token}")).body(full("")).unwrap()).await,
    )
    .await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("retry-after"));
    assert!(String::from_utf8_lossy(&body).contains("open watches"));
    // Other tenants are unaffected by this tenant's cap.
    let (other, other_kc) = tenant_on(&p, "wd");
    let other_url = format!("{}/clusters/{other}/api/v1/namespaces/default/configmaps?watch=1", p.url());
    let r = conn
        .send(
            Request::get(&other_url)
                .header("authorization", format!("Bearer {}", token_of(&other_kc)))
                .body(full(""))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), 200);
    drop(first);
    drop(r);
    // Closing the first watch gives the slot back.
    let start = Instant::now();
    loop {
        let resp = conn
            .send(Request::get(&url).header("authorization", format!("Bearer {token}")).body(full("")).unwrap())
            .await;
        if resp.status() == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the slot never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
