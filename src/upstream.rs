//! The super apiserver client: pooled HTTP/2 over mTLS, with identity headers stamped here.
//!
//! The apiserver trusts `Impersonate-*` headers from vcproxy's certificate, so
//! every client-supplied identity header is deleted first and then vcproxy's own
//! are set — never appended. Hop-by-hop headers, and any header named in
//! `Connection`, never cross the proxy.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::authn::Identity;
use crate::body::ProxyBody;
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::stream_pool::{PoolError, StreamPool};

/// Headers that describe one hop, not the request; never forwarded either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
];

/// Header name prefixes the apiserver treats as identity.
const IDENTITY_PREFIXES: &[&str] = &["impersonate-", "x-remote-"];

/// The Status for a request that never got an HTTP answer from the super apiserver. Down
/// (refused, reset, timed out while connecting) is a 503 to retry; an answer that is not TLS
/// or HTTP/2 (a broken load balancer, a wrong port) is a 502. Either way the message names
/// the super apiserver and the transport's reason, which holds no tenant data.
pub fn transport_error(e: &(dyn std::error::Error + 'static), connecting: bool) -> ApiError {
    let mut reason = e.to_string();
    let mut garbled = false;
    let mut source = e.source();
    while let Some(cause) = source {
        reason = cause.to_string();
        garbled |= cause.downcast_ref::<rustls::Error>().is_some();
        // `io::Error::source` skips the error it wraps (hyper-rustls wraps rustls' io error in
        // another), so wrapped io errors are opened by hand.
        source = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => {
                garbled |= io.kind() == std::io::ErrorKind::InvalidData;
                io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => cause.source(),
        };
    }
    if garbled {
        ApiError::bad_gateway(format!(
            "the super apiserver's answer was not valid TLS or HTTP/2 ({reason}); the fault is upstream of vcproxy, retry shortly"
        ))
    } else if connecting {
        ApiError::service_unavailable(format!("the super apiserver is unreachable ({reason}); retry shortly"))
    } else {
        ApiError::bad_gateway(format!("the super apiserver did not answer the request ({reason}); retry shortly"))
    }
}

/// Removes everything a client may not send upstream: hop-by-hop headers, those
/// named in `Connection`, credentials, identity headers, and `Accept-Encoding`
/// (upstream bodies must stay uncompressed so they can be rewritten).
pub fn strip_inbound_headers(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::ACCEPT_ENCODING);
    headers.remove(header::COOKIE);
    let identity: Vec<HeaderName> =
        headers.keys().filter(|name| IDENTITY_PREFIXES.iter().any(|p| name.as_str().starts_with(p))).cloned().collect();
    for name in identity {
        headers.remove(name);
    }
}

/// Removes hop-by-hop headers and every header the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Sets the impersonation headers for a tenant request (after stripping).
pub fn stamp_identity(headers: &mut HeaderMap, identity: &Identity) -> Result<(), ApiError> {
    let invalid = |_| ApiError::internal("tenant identity is not a valid header value");
    let user = HeaderValue::from_str(&identity.impersonated_user()).map_err(invalid)?;
    headers.insert(HeaderName::from_static("impersonate-user"), user);
    // The all-users group, the user's groups, and what the tenant's policy
    // allows (for the guardrail admission policies to see).
    for group in identity.impersonated_groups() {
        headers.append(HeaderName::from_static("impersonate-group"), HeaderValue::from_str(&group).map_err(invalid)?);
    }
    Ok(())
}

/// The pooled HTTP/2 clients for the super apiserver.
pub struct Upstream {
    /// Short requests (GET, LIST, writes).
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    /// Watches and other long-running streams, on HTTP/2 connections of their
    /// own (open watches on the connection short requests use would eat its
    /// stream limit and stall requests that hold fair-queue seats), as many as
    /// their streams need: see `stream_pool`.
    long_running: StreamPool,
    base: Uri,
}

impl Upstream {
    pub fn new(config: &Config) -> anyhow::Result<Upstream> {
        let connector = |tls: rustls::ClientConfig| {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_connect_timeout(Some(Duration::from_secs(5)));
            http.set_nodelay(true);
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http2().wrap_connector(http)
        };
        let client = |tls: rustls::ClientConfig| {
            Client::builder(TokioExecutor::new())
                .http2_only(true)
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .http2_keep_alive_interval(Duration::from_secs(30))
                .http2_keep_alive_timeout(Duration::from_secs(10))
                .http2_adaptive_window(true)
                .build(connector(tls))
        };
        let tls = crate::tls::upstream_client_config(config)?;
        let base = config.upstream.url.clone();
        let long_running = StreamPool::new(connector(tls.clone()), base.clone(), config.upstream.max_streams_per_connection);
        Ok(Upstream { client: client(tls), long_running, base })
    }

    /// The absolute upstream URI for a tenant-relative path and query.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, ApiError> {
        let mut parts = self.base.clone().into_parts();
        parts.path_and_query =
            Some(path_and_query.parse().map_err(|_| ApiError::bad_request("request path is not a valid URI"))?);
        Uri::from_parts(parts).map_err(|_| ApiError::bad_request("request path is not a valid URI"))
    }

    /// Sends a request (URI and headers already final) and returns the response head
    /// with its streaming body.
    pub async fn send(&self, req: Request<ProxyBody>, metrics: &Metrics) -> Result<Response<Incoming>, ApiError> {
        self.send_on(&self.client, req, metrics).await
    }

    /// Like [`send`](Self::send), for watches and other long-running streams: never queued
    /// behind another stream (a connection is added when the open ones are full).
    pub async fn send_long_running(
        &self,
        mut req: Request<ProxyBody>,
        metrics: &Metrics,
    ) -> Result<Response<UpstreamBody>, ApiError> {
        *req.version_mut() = Version::HTTP_2;
        let mut resp = self.long_running.send(req).await.map_err(|e| {
            tracing::warn!(error = %e, "upstream long-running request failed");
            let connecting = matches!(e, PoolError::Connect(_));
            transport_error(&e, connecting)
        })?;
        metrics.upstream_responses.with_label_values(&[&format!("{:?}", resp.version())]).inc();
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp.map(UpstreamBody::Long))
    }

    /// Streams open on each long-running connection.
    pub async fn long_running_shape(&self) -> Vec<usize> {
        self.long_running.shape().await
    }

    async fn send_on(
        &self,
        client: &Client<HttpsConnector<HttpConnector>, ProxyBody>,
        mut req: Request<ProxyBody>,
        metrics: &Metrics,
    ) -> Result<Response<Incoming>, ApiError> {
        *req.version_mut() = Version::HTTP_2;
        let mut resp = client.request(req).await.map_err(|e| {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "upstream request failed");
            transport_error(&e, e.is_connect())
        })?;
        metrics.upstream_responses.with_label_values(&[&format!("{:?}", resp.version())]).inc();
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp)
    }
}

/// A response body from either client. (A concrete type rather than `ProxyBody`: boxing
/// a boxed body inside the service future trips the compiler's `Send` inference.)
pub enum UpstreamBody {
    Short(Incoming),
    Long(crate::stream_pool::CountedBody),
}

impl http_body::Body for UpstreamBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, hyper::Error>>> {
        match self.get_mut() {
            UpstreamBody::Short(b) => std::pin::Pin::new(b).poll_frame(cx),
            UpstreamBody::Long(b) => std::pin::Pin::new(b).poll_frame(cx),
        }
    }
    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Short(b) => b.is_end_stream(),
            UpstreamBody::Long(b) => b.is_end_stream(),
        }
    }
}

/// A JSON request vcproxy makes as itself (no impersonation): namespace
/// management, ownership checks, discovery. Returns status and whole body.
pub async fn proxy_json(
    upstream: &Upstream,
    metrics: &Metrics,
    method: http::Method,
    path_and_query: &str,
    body: Option<&serde_json::Value>,
) -> Result<(http::StatusCode, bytes::Bytes), ApiError> {
    proxy_json_as(upstream, metrics, method, path_and_query, body, None).await
}

/// [`proxy_json`] impersonating `(user, groups)` when given: for the writes whose
/// upstream escalation check must judge someone other than vcproxy.
pub async fn proxy_json_as(
    upstream: &Upstream,
    metrics: &Metrics,
    method: http::Method,
    path_and_query: &str,
    body: Option<&serde_json::Value>,
    as_: Option<(&str, &[String])>,
) -> Result<(http::StatusCode, bytes::Bytes), ApiError> {
    use http_body_util::BodyExt;
    let mut req =
        Request::builder().method(method).uri(upstream.uri(path_and_query)?).header(header::ACCEPT, "application/json");
    if let Some((user, groups)) = as_ {
        let value = |s: &str| HeaderValue::from_str(s).map_err(|_| ApiError::internal(format!("bad identity {s:?}")));
        req = req.header("Impersonate-User", value(user)?);
        for g in groups {
            req = req.header("Impersonate-Group", value(g)?);
        }
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            crate::body::full(serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?)
        }
        None => crate::body::empty(),
    };
    let req = req.body(body).map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = upstream.send(req, metrics).await?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::bad_gateway(format!("reading the super apiserver's answer: {e}")))?
        .to_bytes();
    Ok((status, bytes))
}

/// Server-side applies `objects` (path, object) as vcproxy, retrying with back-off until the
/// super apiserver has taken all of them: what vcproxy needs upstream before it is whole
/// (RBAC of its own identities, admission policies). Apply is idempotent, so every replica
/// runs it at every start.
pub async fn keep_applying(what: &str, upstream: &Upstream, metrics: &Metrics, objects: Vec<(String, serde_json::Value)>) {
    let mut delay = std::time::Duration::from_millis(200);
    for (path, object) in &objects {
        loop {
            match apply(upstream, metrics, path, object).await {
                Ok(()) => break,
                Err(e) => tracing::warn!(error = %e.message, "setting up {what}; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(10));
        }
    }
    tracing::debug!("{what} in place");
}

/// One server-side apply of `object` at `path`, as vcproxy.
pub async fn apply(upstream: &Upstream, metrics: &Metrics, path: &str, object: &serde_json::Value) -> Result<(), ApiError> {
    use http_body_util::BodyExt;
    let req = Request::patch(upstream.uri(&format!("{path}?fieldManager=vcproxy&force=true"))?)
        .header(header::CONTENT_TYPE, "application/apply-patch+yaml")
        .header(header::ACCEPT, "application/json")
        .body(crate::body::full(serde_json::to_vec(object).map_err(|e| ApiError::internal(e.to_string()))?))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = upstream.send(req, metrics).await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let answer = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Err(ApiError::bad_gateway(format!("applying {path} failed ({status}): {}", String::from_utf8_lossy(&answer))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_identity_credentials_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert("impersonate-user", HeaderValue::from_static("system:admin"));
        h.append("Impersonate-Group", HeaderValue::from_static("system:masters"));
        h.insert("impersonate-extra-scopes", HeaderValue::from_static("x"));
        h.insert("impersonate-uid", HeaderValue::from_static("x"));
        h.insert("x-remote-user", HeaderValue::from_static("system:admin"));
        h.insert("x-remote-group", HeaderValue::from_static("system:masters"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        h.insert(header::CONNECTION, HeaderValue::from_static("close, X-Sneaky , keep-alive"));
        h.insert("x-sneaky", HeaderValue::from_static("1"));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        strip_inbound_headers(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, vec!["accept"], "only accept survives, got {left:?}");
    }
}
