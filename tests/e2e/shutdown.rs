//! Graceful shutdown: SIGTERM lets the in-flight request finish, then exits 0.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::client::{body_bytes, connect, Body};
use crate::{tenant_on, token_of, vcproxy_bin};
use vcproxy_testenv::{shared, Vcproxy};

#[tokio::test]
async fn sigterm_during_a_request_completes_it_and_exits_zero() {
    let p = Vcproxy::start(vcproxy_bin(), shared()).expect("starting vcproxy");
    let (tenant, kc) = tenant_on(&p, "sd");
    let token = token_of(&kc);

    // A request whose body is still being sent when SIGTERM arrives.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>>(1);
    let body: Body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let req = Request::post(format!("{}/clusters/{tenant}/apis/authentication.k8s.io/v1/selfsubjectreviews", p.url()))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let in_flight = tokio::spawn(async move { body_bytes(conn.send(req).await).await });
    tx.send(Ok(Frame::data(Bytes::from_static(br#"{"apiVersion":"authentication.k8s.io/v1","#)))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    p.signal(libc::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(p.try_wait().is_none(), "vcproxy exited with a request in flight");

    tx.send(Ok(Frame::data(Bytes::from_static(br#""kind":"SelfSubjectReview"}"#)))).await.unwrap();
    drop(tx);
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 201, "in-flight request failed: {}", String::from_utf8_lossy(&body));

    let exit = tokio::task::spawn_blocking(move || {
        let status = p.wait_timeout(Duration::from_secs(10));
        (status, p)
    })
    .await
    .unwrap();
    let (status, p) = exit;
    let status = status.unwrap_or_else(|| panic!("vcproxy did not exit after SIGTERM; log:\n{}", p.log()));
    assert!(status.success(), "exit status {status}; log:\n{}", p.log());
}

/// Adapts a channel receiver into a Stream without pulling in tokio-stream.
fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
