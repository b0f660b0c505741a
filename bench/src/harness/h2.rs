//! The harness's HTTP/2 client: like [`crate::client`] (rustls/ring, ALPN `h2`, bearer token or
//! client certificate, one connection multiplexing many streams), plus what load generation
//! needs: a bounded stream window (so a slow reader really stalls the server), reading a body
//! slowly, and per-request status/latency without keeping bodies.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

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
        let uri: http::Uri = base_url.parse().with_context(|| format!("{base_url}: not a URL"))?;
        if uri.scheme_str() != Some("https") {
            bail!("{base_url}: only https URLs are supported");
        }
        let host = uri.host().ok_or_else(|| anyhow!("{base_url}: no host"))?.to_string();
        let port = uri.port_u16().unwrap_or(443);
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file).with_context(|| format!("reading {}", ca_file.display()))? {
            roots.add(cert?)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let (mut config, bearer) = match auth {
            Auth::Bearer(token) => {
                let value = HeaderValue::from_str(&format!("Bearer {token}")).context("token is not a header value")?;
                (builder.with_no_client_auth(), Some(value))
            }
            Auth::ClientCert { cert, key } => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("reading {}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
                (builder.with_client_auth_cert(certs, key)?, None)
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("connecting to {host}:{port}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {base_url}"))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            bail!("{base_url} did not negotiate HTTP/2");
        }
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
