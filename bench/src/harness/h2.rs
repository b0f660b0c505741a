//! The harness's HTTP/2 client: like [`crate::client`] (rustls/ring, ALPN `h2`, bearer token or
//! client certificate, one connection multiplexing many streams), plus what load generation
//! needs: a bounded stream window (so a slow reader really stalls the server), reading a body
//! slowly, and per-request status/latency without keeping bodies.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::client::Auth;

/// One HTTP/2 connection; clones share it.
#[derive(Clone)]
pub struct H2 {
    send: http2::SendRequest<Full<Bytes>>,
    base_url: String,
    bearer: Option<HeaderValue>,
}

/// What one request came back with.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // bytes/total: for callers that want them
pub struct Outcome {
    pub status: StatusCode,
    pub bytes: u64,
    pub total: Duration,
}

impl H2 {
    /// Connects to `base_url`, trusting `ca_file`. `window` bounds the HTTP/2 stream and
    /// connection receive windows (bytes), `None` keeps hyper's defaults.
    pub async fn connect(base_url: &str, ca_file: &Path, auth: &Auth, window: Option<u32>) -> anyhow::Result<H2> {
        let (tls, bearer) = crate::client::connect_tls(base_url, ca_file, auth).await?;
        let mut b = http2::Builder::new(TokioExecutor::new());
        if let Some(w) = window {
            b.initial_stream_window_size(w).initial_connection_window_size(w.max(65_535));
        }
        let (send, conn) =
            b.handshake(TokioIo::new(tls)).await.with_context(|| format!("HTTP/2 handshake with {base_url}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(H2 { send, base_url: base_url.trim_end_matches('/').to_string(), bearer })
    }

    /// Sends one request and reads the body to its end; with `read_rate` (bytes/s), sleeps after
    /// every DATA frame as long as reading it at that rate takes (a slow reader). The clock starts
    /// before waiting for a free stream.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
        read_rate: Option<f64>,
    ) -> anyhow::Result<Outcome> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header(ACCEPT, "application/json");
        if let Some(b) = &self.bearer {
            req = req.header(AUTHORIZATION, b.clone());
        }
        let req = match body {
            Some((bytes, ct)) => req.header(CONTENT_TYPE, ct).body(Full::new(bytes))?,
            None => req.body(Full::new(Bytes::new()))?,
        };
        let mut send = self.send.clone();
        let t0 = Instant::now();
        send.ready().await.context("HTTP/2 connection not ready")?;
        let resp = send.send_request(req).await.with_context(|| format!("sending {path}"))?;
        let status = resp.status();
        let mut incoming = resp.into_body();
        let mut bytes = 0u64;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.with_context(|| format!("reading the body of {path}"))?;
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
                if let Some(rate) = read_rate {
                    tokio::time::sleep(Duration::from_secs_f64(data.len() as f64 / rate.max(1.0))).await;
                }
            }
        }
        Ok(Outcome { status, bytes, total: t0.elapsed() })
    }
}
