//! HTTP/2 connections to the super apiserver for long-running streams, opened as streams fill them.
//!
//! A watch holds one HTTP/2 stream for as long as it is open. One connection carries at most
//! the server's `SETTINGS_MAX_CONCURRENT_STREAMS` (kube-apiserver: 100 by default here); past
//! that, a client library queues the next request until a stream frees up, and a tenant's
//! idle watches become a wall in front of every other tenant's. This pool counts the streams
//! it has open on each connection and dials another connection *before* a request would
//! queue, so a watch never waits for a stream (and never holds a fair-queue seat doing so).
//! A stream is counted from the request until its response body is dropped.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::ServiceExt;

use crate::body::ProxyBody;

/// One upstream connection and the streams vcproxy has open on it.
struct Conn {
    sender: SendRequest<ProxyBody>,
    open: Arc<AtomicUsize>,
}

/// Long-running streams, sharded over as many HTTP/2 connections as they need.
pub struct StreamPool {
    connector: HttpsConnector<HttpConnector>,
    base: Uri,
    /// Streams per connection; at most the server's limit, so nothing queues inside h2.
    max_streams: usize,
    /// Held while choosing or dialing, so a burst of watches fills one new connection
    /// instead of dialing one each.
    conns: tokio::sync::Mutex<Vec<Conn>>,
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The cause stays attached, so the Status can tell "down" from "not TLS" (`upstream::transport_error`).
    #[error("connecting to the super apiserver: {0}")]
    Connect(#[source] crate::body::BoxError),
    #[error("the super apiserver did not answer: {0}")]
    Request(#[from] hyper::Error),
}

impl StreamPool {
    pub fn new(connector: HttpsConnector<HttpConnector>, base: Uri, max_streams: usize) -> StreamPool {
        StreamPool { connector, base, max_streams: max_streams.max(1), conns: tokio::sync::Mutex::new(Vec::new()) }
    }

    /// Sends `req` on a connection with a free stream, dialing one if none has.
    pub async fn send(&self, req: Request<ProxyBody>) -> Result<Response<CountedBody>, PoolError> {
        let (mut sender, open) = self.reserve().await?;
        let guard = StreamGuard(open);
        // A connection may close between choosing it and sending (GOAWAY): the error says so.
        let resp = sender.send_request(req).await?;
        Ok(resp.map(|body| CountedBody { inner: body, _guard: guard }))
    }

    /// How many connections are open and how many streams each carries (for metrics and tests).
    pub async fn shape(&self) -> Vec<usize> {
        self.conns.lock().await.iter().filter(|c| !c.sender.is_closed()).map(|c| c.open.load(Ordering::Relaxed)).collect()
    }

    async fn reserve(&self) -> Result<(SendRequest<ProxyBody>, Arc<AtomicUsize>), PoolError> {
        let mut conns = self.conns.lock().await;
        conns.retain(|c| !c.sender.is_closed());
        // Idle spare connections are let go; one stays for the next watch.
        let mut spare = false;
        conns.retain(|c| {
            let idle = c.open.load(Ordering::Acquire) == 0;
            let keep = !idle || !spare;
            spare |= idle;
            keep
        });
        for c in conns.iter() {
            // Only this function increments, under the lock, so the check cannot race past the cap.
            if c.open.load(Ordering::Acquire) < self.max_streams && c.sender.is_ready() {
                c.open.fetch_add(1, Ordering::AcqRel);
                return Ok((c.sender.clone(), c.open.clone()));
            }
        }
        let sender = self.dial().await?;
        let open = Arc::new(AtomicUsize::new(1));
        conns.push(Conn { sender: sender.clone(), open: open.clone() });
        Ok((sender, open))
    }

    async fn dial(&self) -> Result<SendRequest<ProxyBody>, PoolError> {
        let io = self.connector.clone().oneshot(self.base.clone()).await.map_err(PoolError::Connect)?;
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .adaptive_window(true)
            .handshake(io)
            .await
            .map_err(|e| PoolError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream long-running connection ended");
            }
        });
        Ok(sender)
    }
}

/// Gives a stream back to its connection's count when dropped.
struct StreamGuard(Arc<AtomicUsize>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its stream's place in the pool until it is dropped.
pub struct CountedBody {
    inner: Incoming,
    _guard: StreamGuard,
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
