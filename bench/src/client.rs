//! A minimal HTTP/2 client for load: one TLS connection (rustls with the ring provider, ALPN
//! `h2` only) multiplexing every request, authenticated by a bearer token or a client
//! certificate. The same client code talks to vcproxy and to the apiserver, so the two are
//! measured the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Who the client is.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (a vcproxy tenant user).
    Bearer(String),
    /// A TLS client certificate (e.g. the apiserver's admin).
    ClientCert { cert: PathBuf, key: PathBuf },
}

/// One HTTP/2 connection to `base_url`; cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct Client {
    send: http2::SendRequest<Full<Bytes>>,
    base_url: String,
    bearer: Option<HeaderValue>,
}

/// A response, its body counted (and kept only if asked for).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// Body bytes received.
    pub bytes: u64,
    pub body: Option<Bytes>,
    /// From sending the request to its response headers.
    pub headers_after: Duration,
    /// From sending the request to the first body byte (`None`: empty body).
    pub first_byte_after: Option<Duration>,
    /// From sending the request to the end of its body.
    pub total: Duration,
}

impl Reply {
    pub fn text(&self) -> String {
        self.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
    }
}

impl Client {
    /// Connects to `base_url` (`https://host:port`), trusting only `ca_file`.
    pub async fn connect(base_url: &str, ca_file: &Path, auth: &Auth) -> anyhow::Result<Client> {
        let (tls, bearer) = connect_tls(base_url, ca_file, auth).await?;
        let (send, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tls))
            .await
            .with_context(|| format!("HTTP/2 handshake with {base_url}"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("bench: HTTP/2 connection ended: {e}");
            }
        });
        Ok(Client { send, base_url: base_url.trim_end_matches('/').to_string(), bearer })
    }

    /// Sends one request for `path` (starting with `/`). `body` is `(bytes, content type)`.
    /// The response body is always read to the end; it is kept only if `keep_body`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &str)>,
        keep_body: bool,
    ) -> anyhow::Result<Reply> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header(ACCEPT, "application/json");
        if let Some(b) = &self.bearer {
            req = req.header(AUTHORIZATION, b.clone());
        }
        let req = match body {
            Some((bytes, content_type)) => req.header(CONTENT_TYPE, content_type).body(Full::new(bytes))?,
            None => req.body(Full::new(Bytes::new()))?,
        };
        let mut send = self.send.clone();
        let t0 = Instant::now();
        send.ready().await.context("HTTP/2 connection not ready")?;
        let resp = send.send_request(req).await.with_context(|| format!("sending {path}"))?;
        let headers_after = t0.elapsed();
        let status = resp.status();
        let mut incoming = resp.into_body();
        let mut bytes = 0u64;
        let mut kept = keep_body.then(BytesMut::new);
        let mut first_byte_after = None;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.with_context(|| format!("reading the body of {path}"))?;
            if let Some(data) = frame.data_ref() {
                if first_byte_after.is_none() && !data.is_empty() {
                    first_byte_after = Some(t0.elapsed());
                }
                bytes += data.len() as u64;
                if let Some(k) = &mut kept {
                    k.extend_from_slice(data);
                }
            }
        }
        Ok(Reply {
            status,
            bytes,
            body: kept.map(BytesMut::freeze),
            headers_after,
            first_byte_after,
            total: t0.elapsed(),
        })
    }

    /// GET whose body is left to the caller to read as it arrives (watches): returns once
    /// the response headers are in.
    pub async fn open(&self, path: &str) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let mut req = Request::get(format!("{}{path}", self.base_url)).header(ACCEPT, "application/json");
        if let Some(b) = &self.bearer {
            req = req.header(AUTHORIZATION, b.clone());
        }
        let mut send = self.send.clone();
        send.ready().await.context("HTTP/2 connection not ready")?;
        send.send_request(req.body(Full::new(Bytes::new()))?).await.with_context(|| format!("opening {path}"))
    }

    /// GET, body counted and dropped.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, None, false).await
    }

    /// GET, body kept.
    pub async fn get_body(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, None, true).await
    }

    /// POST a JSON body, response kept.
    pub async fn post_json(&self, path: &str, body: impl Into<Bytes>) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, Some((body.into(), "application/json")), true).await
    }
}

/// A TLS connection to `base_url` (`https://host:port`) that negotiated HTTP/2, trusting only
/// `ca_file` and presenting `auth`'s client certificate if it has one; also the bearer header
/// to send when `auth` is a token. Shared by every bench client.
pub async fn connect_tls(
    base_url: &str,
    ca_file: &Path,
    auth: &Auth,
) -> anyhow::Result<(tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Option<HeaderValue>)> {
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
    Ok((tls, bearer))
}
