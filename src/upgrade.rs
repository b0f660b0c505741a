//! Streaming subresources that switch protocols: `exec`, `attach`,
//! `portforward` and `proxy` over SPDY or WebSocket (HTTP/1.1 Upgrade).
//!
//! The pooled upstream client speaks HTTP/2, which cannot carry an HTTP/1.1
//! Upgrade, so each upgraded request gets its own HTTP/1.1 connection to the
//! apiserver with the proxy's client certificate. Ownership of the namespace
//! has already been checked by the route; the request goes up impersonating the
//! tenant, and after `101 Switching Protocols` bytes are copied both ways until
//! either side closes.

use std::sync::Arc;

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::authn::Identity;
use crate::body::{self, ProxyBody};
use crate::config::UpstreamConfig;
use crate::error::ApiError;
use crate::upstream;

/// True if the client asks to switch protocols.
pub fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

/// Dials the apiserver over HTTP/1.1 with the proxy's identity.
pub struct UpgradeDialer {
    tls: Arc<rustls::ClientConfig>,
    host: String,
    port: u16,
}

impl UpgradeDialer {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<UpgradeDialer> {
        let mut tls = crate::tls::upstream_client_config(config)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let UpstreamConfig { url, .. } = &config.upstream;
        let host = url.host().unwrap_or("127.0.0.1").trim_matches(|c| c == '[' || c == ']').to_string();
        let port = url.port_u16().unwrap_or(443);
        Ok(UpgradeDialer { tls: Arc::new(tls), host, port })
    }

    /// Forwards an upgrade request for `path_and_query` as the tenant and, on
    /// 101, splices the two connections together.
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
        path_and_query: &str,
        identity: &Identity,
    ) -> Result<Response<ProxyBody>, ApiError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, "upgrade connection to the super apiserver failed");
            ApiError::service_unavailable("the super apiserver is unreachable; retry shortly")
        };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| unreachable(&e))?;
        let server_name = ServerName::try_from(self.host.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|e| unreachable(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| unreachable(&e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream upgrade connection ended");
            }
        });

        // The client's own upgrade completes once we answer 101.
        let client_upgrade = hyper::upgrade::on(&mut req);
        let (parts, _) = req.into_parts();
        let mut headers = parts.headers;
        let upgrade = headers.get(header::UPGRADE).cloned();
        upstream::strip_inbound_headers(&mut headers);
        upstream::stamp_identity(&mut headers, identity)?;
        if let Some(u) = upgrade {
            headers.insert(header::UPGRADE, u);
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        }
        let authority = format!("{}:{}", self.host, self.port);
        headers.insert(header::HOST, HeaderValue::from_str(&authority).map_err(|e| ApiError::internal(e.to_string()))?);
        let mut upstream_req = Request::builder()
            .method(parts.method)
            .uri(path_and_query)
            .body(body::empty())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        *upstream_req.headers_mut() = headers;

        let mut resp = sender.send_request(upstream_req).await.map_err(|e| unreachable(&e))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // Not upgraded (e.g. the pod has no node yet): pass the answer on.
            return Ok(resp.map(body::boxed));
        }
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                        tracing::debug!(error = %e, "upgraded stream ended");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "protocol upgrade failed"),
            }
        });
        let (parts, _) = resp.into_parts();
        Ok(Response::from_parts(parts, body::empty()))
    }
}
