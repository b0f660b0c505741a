//! A raw HTTP client for tests that need to see the protocol: ALPN choice, exact
//! headers (including ones kubectl never sends), and streamed request bodies.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;

pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// A connection to vcproxy over TLS that trusts `ca_file` and offers only `alpn`.
pub struct Conn {
    pub negotiated: Option<Vec<u8>>,
    send: Sender,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Body>),
    H2(hyper::client::conn::http2::SendRequest<Body>),
}

pub async fn connect(url: &str, ca_file: &Path, alpn: &[&[u8]]) -> Conn {
    let tls = tls(url, ca_file, alpn).await.expect("TLS handshake with vcproxy");
    let negotiated = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
    let io = TokioIo::new(tls);
    let send = if negotiated.as_deref() == Some(b"h2") {
        let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        Sender::H2(send)
    } else {
        let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        Sender::H1(send)
    };
    Conn { negotiated, send }
}

/// A TLS connection to vcproxy trusting `ca_file` and offering `alpn`, for tests that speak
/// the protocol by hand; Err if the handshake fails.
pub async fn tls(
    url: &str,
    ca_file: &Path,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.host().unwrap().to_string();
    let port = uri.port_u16().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca_file).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(ServerName::try_from(host.clone()).unwrap(), tcp).await
}

impl Conn {
    /// Sends `req`; its URI must be the absolute URL (for h2) — the path is used for h1.
    pub async fn send(&mut self, mut req: Request<Body>) -> Response<Incoming> {
        match &mut self.send {
            Sender::H2(s) => {
                *req.version_mut() = Version::HTTP_2;
                s.send_request(req).await.expect("h2 request")
            }
            Sender::H1(s) => {
                let authority = req.uri().authority().unwrap().to_string();
                let path = req.uri().path_and_query().unwrap().to_string();
                *req.uri_mut() = path.parse().unwrap();
                req.headers_mut().insert(http::header::HOST, authority.parse().unwrap());
                s.send_request(req).await.expect("http/1.1 request")
            }
        }
    }
}

impl Conn {
    /// Starts a request on an HTTP/2 connection without waiting for it, so many
    /// can be in flight at once.
    pub fn send_concurrent(&mut self, mut req: Request<Body>) -> impl std::future::Future<Output = Response<Incoming>> {
        let Sender::H2(s) = &mut self.send else { panic!("send_concurrent needs HTTP/2") };
        *req.version_mut() = Version::HTTP_2;
        let fut = s.send_request(req);
        async move { fut.await.expect("h2 request") }
    }
}

/// The whole body of a response, as bytes.
pub async fn body_bytes(resp: Response<Incoming>) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}
