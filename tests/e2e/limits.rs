//! The front door's limits (issue 11, point 5), each against a vcproxy started
//! with small `[limits]`: connections per client address, slowloris handshakes
//! and headers, header size, declared bodies, and request deadlines.

use std::time::{Duration, Instant};

use http::{Method, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vcproxy_testenv::{shared, Vcproxy, VcproxyOptions};

use crate::client::{body_bytes, connect, full, tls};
use crate::{token_of, vcproxy_bin};

const LIMITS: &str =
    "[limits]\ntls_handshake_seconds = 1\nheader_read_seconds = 1\nmax_body_bytes = 100000\nmax_header_bytes = 16384\n";

fn start(limits: &str) -> Vcproxy {
    let opts = VcproxyOptions { extra_toml: limits.to_string(), ..Default::default() };
    Vcproxy::start_with(vcproxy_bin(), shared(), opts).expect("starting vcproxy with limits")
}

/// One vcproxy with small limits for the tests that do not count connections.
fn limited() -> &'static Vcproxy {
    static P: std::sync::OnceLock<Vcproxy> = std::sync::OnceLock::new();
    P.get_or_init(|| start(LIMITS))
}

/// Reads until the peer closes (Ok(bytes)) or `within` passes (Err).
async fn closed_within<S: AsyncReadExt + Unpin>(s: &mut S, within: Duration) -> Result<Vec<u8>, ()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return Err(()),
        }
    }
}

#[tokio::test]
async fn connections_past_the_per_address_limit_are_closed_and_places_come_back() {
    let p = &start("[limits]\nmax_connections_per_ip = 4\n");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tls(p.url(), &p.ca_file(), &[b"h2"]).await.expect("within the limit"));
    }
    assert!(tls(p.url(), &p.ca_file(), &[b"h2"]).await.is_err(), "a fifth connection from 127.0.0.1 must be closed");
    held.pop();
    // The place comes back once the server has seen the close.
    let start = Instant::now();
    while tls(p.url(), &p.ca_file(), &[b"h2"]).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(5), "the closed connection's place never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = vcproxy_testenv::http::http_get(&format!("{}/metrics", p.admin_url())).unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    let refused = text.lines().find(|l| l.starts_with("vcproxy_connections_refused_total")).unwrap_or_default();
    assert!(refused.split_whitespace().nth(1).is_some_and(|n| n != "0"), "{refused}");
}

#[tokio::test]
async fn slow_handshakes_and_slow_headers_are_cut_off() {
    let p = limited();
    let addr = p.url().trim_start_matches("https://").to_string();
    // A socket that never starts TLS.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(4))
        .await
        .expect("a silent socket must be closed after tls_handshake_seconds");
    // Headers that never end (slowloris), over HTTP/1.1.
    let mut slow = tls(p.url(), &p.ca_file(), &[b"http/1.1"]).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n").await.unwrap();
    closed_within(&mut slow, Duration::from_secs(4))
        .await
        .expect("unfinished headers must be cut off after header_read_seconds");
}

#[tokio::test]
async fn oversized_headers_and_declared_bodies_are_refused() {
    let p = limited();
    let (tenant, kc) = crate::tenant_on(p, "lim");
    let token = token_of(&kc);
    // HTTP/1.1: 431 for a header block past max_header_bytes.
    let mut h1 = tls(p.url(), &p.ca_file(), &[b"http/1.1"]).await.unwrap();
    let big = "a".repeat(32 * 1024);
    h1.write_all(format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes()).await.unwrap();
    let answer = closed_within(&mut h1, Duration::from_secs(5)).await.expect("answered and closed");
    let head = String::from_utf8_lossy(&answer);
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    // HTTP/2: the same header block never reaches a handler.
    let mut h2 = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let req = Request::get(format!("{}/healthz", p.url())).header("x-big", big.as_str()).body(full("")).unwrap();
    let sent = tokio::time::timeout(Duration::from_secs(5), async {
        let fut = h2.send_concurrent(req);
        tokio::spawn(fut).await
    })
    .await
    .expect("no hang");
    assert!(
        sent.is_err() || sent.as_ref().is_ok_and(|r| r.status() == 431),
        "h2 header block past the limit was served"
    );
    // A declared body past max_body_bytes: a 413 Status, costing no seat.
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
        "x".repeat(200_000)
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps", p.url()))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("content-length", body.len().to_string())
        .body(full(body))
        .unwrap();
    let (status, _, bytes) = body_bytes(conn.send(req).await).await;
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (status.as_u16(), v["kind"].as_str(), v["reason"].as_str()),
        (413, Some("Status"), Some("RequestEntityTooLarge")),
        "{v}"
    );
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_504_status() {
    let p = limited();
    let (tenant, kc) = crate::tenant_on(p, "dl");
    let token = token_of(&kc);
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let get = |q: &str| {
        Request::get(format!("{}/clusters/{tenant}/api/v1/namespaces/default/configmaps{q}", p.url()))
            .header("authorization", format!("Bearer {token}"))
            .body(full(""))
            .unwrap()
    };
    // No upstream answers within a nanosecond.
    let (status, _, bytes) = body_bytes(conn.send(get("?timeout=1ns")).await).await;
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status.as_u16(), v["reason"].as_str()), (504, Some("Timeout")), "{v}");
    let (status, _, bytes) = body_bytes(conn.send(get("?timeout=soon")).await).await;
    assert_eq!(status.as_u16(), 400, "{}", String::from_utf8_lossy(&bytes));
    let (status, _, _) = body_bytes(conn.send(get("?timeout=30s")).await).await;
    assert_eq!(status.as_u16(), 200);
}
