//! Many open watches: one tenant's idle watches, within its own quota, never keep another
//! tenant's watch or read waiting (the "watch wall" of issue 9).
//!
//! A hostile tenant opens as many idle watches as its policy allows, over HTTP/2 as client-go
//! does (10 per connection). Every other tenant must still get its watch accepted, and its
//! events delivered, right away.

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;

use crate::client::{connect, full, Conn};
use crate::{ok, proxy, tenant_on, token_of};

/// How long a watch may take to be accepted; an accepted watch answers in milliseconds, one
/// stuck behind a wall waits for the fair queue's 15 s limit or forever.
const ACCEPTED_WITHIN: Duration = Duration::from_secs(5);

fn watch_request(url: &str, token: &str) -> Request<crate::client::Body> {
    Request::get(url).header("authorization", format!("Bearer {token}")).header("accept", "application/json").body(full("")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_watches_of_one_tenant_do_not_wall_off_the_others() {
    let p = proxy();
    let (hog, hog_kc) = tenant_on(p, "wallh");
    let hog_token = token_of(&hog_kc);
    // The default policy lets a tenant hold 100 open watches.
    const WATCHES: usize = 100;
    // Opened a connection (10 watches) at a time, as informers start: all 100 at once would
    // overflow the tenant's own queue (queue_length 50) and earn a fair 429.
    let mut conns: Vec<Conn> = Vec::new();
    let mut hog_watches = Vec::new();
    let started = Instant::now();
    for batch in 0..WATCHES / 10 {
        let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
        let mut open = Vec::new();
        for i in batch * 10..batch * 10 + 10 {
            // Different resources and selectors, so no two watches are the same request.
            let resource = ["configmaps", "secrets", "services", "pods", "serviceaccounts"][i % 5];
            let url = format!("{}/clusters/{hog}/api/v1/namespaces/default/{resource}?watch=1&labelSelector=w%3D{i}", p.url());
            open.push(conn.send_concurrent(watch_request(&url, &hog_token)));
        }
        for fut in open {
            let resp = tokio::time::timeout(Duration::from_secs(60), fut).await.expect("the hog's own watches are accepted");
            assert_eq!(resp.status(), 200, "the hog's watch {} within its quota", hog_watches.len());
            hog_watches.push(resp);
        }
        conns.push(conn);
    }
    eprintln!("{WATCHES} idle watches of {hog} open after {:?}", started.elapsed());

    // Every other tenant: a watch that is accepted at once and delivers its events, and reads.
    for round in 0..3 {
        let (t, kc) = tenant_on(p, "wallq");
        let token = token_of(&kc);
        let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
        let url = format!("{}/clusters/{t}/api/v1/namespaces/default/configmaps?watch=1", p.url());
        let begun = Instant::now();
        let resp = tokio::time::timeout(ACCEPTED_WITHIN, conn.send(watch_request(&url, &token)))
            .await
            .unwrap_or_else(|_| panic!("round {round}: {t}'s watch was not accepted within {ACCEPTED_WITHIN:?} while {hog} holds {WATCHES} idle watches"));
        assert_eq!(resp.status(), 200, "round {round}: {t}'s watch");
        let accepted = begun.elapsed();
        ok(p.kubectl(&kc, &["create", "configmap", &format!("seen-{round}"), "-n", "default"]), "create configmap");
        let mut body = resp.into_body();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + ACCEPTED_WITHIN;
        while !String::from_utf8_lossy(&seen).contains(&format!("seen-{round}")) {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => seen.extend_from_slice(frame.data_ref().map(|d| d.as_ref()).unwrap_or_default()),
                other => panic!("round {round}: {t}'s watch delivered no ADDED event ({:?}): {}", other.map(|o| o.map(|r| r.is_ok())), String::from_utf8_lossy(&seen)),
            }
        }
        let list = format!("{}/clusters/{t}/api/v1/namespaces/default/configmaps", p.url());
        let read = tokio::time::timeout(ACCEPTED_WITHIN, conn.send(watch_request(&list, &token))).await.expect("a read is answered");
        assert_eq!(read.status(), 200);
        eprintln!("round {round}: {t}'s watch accepted in {accepted:?}, event seen");
    }
    drop(hog_watches);
}
