//! `vcproxy serve`: listeners, the accept loop, and graceful drain.
//!
//! Drain protocol: on SIGTERM or SIGINT the accept loops stop, `/readyz` turns
//! 503, every open connection is told to finish (HTTP/2 GOAWAY; HTTP/1.1 closes
//! after its current response), and the process waits for in-flight requests
//! up to `server.drain_seconds` before exiting 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::body::{self, ProxyBody};
use crate::config::Config;
use crate::discovery::Scopes;
use crate::metrics::Metrics;
use crate::namespaces::cache::NamespaceCache;
use crate::stack::Proxy;
use crate::tenants::{Registry, Store};
use crate::upstream::Upstream;

/// Upper bound on a client's TLS handshake, so idle sockets cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let pki = crate::tls::ensure_serving_pki(&config)?;
    let acceptor = TlsAcceptor::from(Arc::new(crate::tls::server_config(&pki)?));

    let store = Store::connect(&config.etcd).await?;
    let registry = Registry::new(store);
    tokio::spawn(registry.clone().run());

    let metrics = Arc::new(Metrics::new());
    let upstream = Arc::new(Upstream::new(&config)?);
    let namespaces = NamespaceCache::new();
    tokio::spawn(namespaces.clone().run(upstream.clone(), metrics.clone()));
    let scopes = Scopes::new();
    tokio::spawn(scopes.clone().run(upstream.clone(), metrics.clone(), Duration::from_secs(30)));
    let proxy = Arc::new(Proxy {
        registry: registry.clone(),
        upstream,
        metrics: metrics.clone(),
        namespaces,
        scopes,
        tenancy: config.tenancy.clone(),
        upgrades: crate::upgrade::UpgradeDialer::new(&config)?,
        draining: AtomicBool::new(false),
    });

    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding tenant listener {}", config.server.listen))?;
    let admin = TcpListener::bind(config.server.admin_listen)
        .await
        .with_context(|| format!("binding admin listener {}", config.server.admin_listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        admin = %admin.local_addr()?,
        public_url = %config.server.public_url,
        upstream = %config.upstream.url,
        "vcproxy serving"
    );

    // `stop` flips once; both accept loops watch it.
    let (stop_tx, stop_rx) = watch::channel(false);
    let admin_task = tokio::spawn(serve_admin(admin, metrics.clone(), registry.clone(), stop_rx.clone()));
    let accept_task = tokio::spawn(accept_tenants(listener, acceptor, proxy.clone(), stop_rx));

    shutdown_signal().await;
    tracing::info!(drain_seconds = config.server.drain_seconds, "shutting down: draining in-flight requests");
    proxy.draining.store(true, Ordering::Release);
    let _ = stop_tx.send(true);
    let graceful = accept_task.await.context("tenant accept loop panicked")?;
    match tokio::time::timeout(Duration::from_secs(config.server.drain_seconds), graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections drained"),
        Err(_) => tracing::warn!("drain time is up; closing the remaining connections"),
    }
    admin_task.abort();
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

async fn accept_tenants(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    proxy: Arc<Proxy>,
    mut stop: watch::Receiver<bool>,
) -> GracefulShutdown {
    // Tracks every connection; handed back when accepting stops, to drain them.
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(connection_builder());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return graceful,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let service = service_fn(move |req: Request<Incoming>| proxy.clone().handle(req));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// The admin listener: plain HTTP, `/metrics`, `/healthz`, `/readyz`.
async fn serve_admin(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(c) => c, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let metrics = metrics.clone();
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                let registry = registry.clone();
                async move { Ok::<_, std::convert::Infallible>(admin_response(&req, &metrics, &registry)) }
            });
            let _ = connection_builder().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

fn admin_response(req: &Request<Incoming>, metrics: &Metrics, registry: &Registry) -> Response<ProxyBody> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => {
            metrics.tenants.set(registry.tenant_count() as i64);
            (StatusCode::OK, "text/plain; version=0.0.4", metrics.render())
        }
        "/healthz" | "/livez" => (StatusCode::OK, "text/plain", b"ok".to_vec()),
        "/readyz" if registry.is_ready() => (StatusCode::OK, "text/plain", b"ok".to_vec()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", b"not ready".to_vec()),
        _ => (StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec()),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(body::full(body))
        .expect("static response")
}
