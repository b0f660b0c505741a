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

use crate::admission::Admission;
use crate::body::{self, ProxyBody};
use crate::config::Config;
use crate::discovery::Scopes;
use crate::fleet::FleetView;
use crate::flowcontrol::{FlowControl, MonotonicClock};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::namespaces::cache::NamespaceCache;
use crate::policy::PolicyHandle;
use crate::stack::Proxy;
use crate::tenants::{Registry, Store};
use crate::upstream::Upstream;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let pki = crate::tls::ensure_serving_pki(&config)?;
    let acceptor = TlsAcceptor::from(Arc::new(crate::tls::server_config(&pki)?));

    let store = Store::connect(&config.etcd).await?;
    let etcd = store.client();
    let registry = Registry::new(store);
    let crds = crate::crd::index::CrdIndex::new(etcd.clone(), &config.etcd.prefix);
    tokio::spawn(crds.clone().run());
    tokio::spawn(registry.clone().run());

    let metrics = Arc::new(Metrics::new());
    let upstream = Arc::new(Upstream::new(&config)?);
    let namespaces = NamespaceCache::new();
    tokio::spawn(namespaces.clone().run(upstream.clone(), metrics.clone()));
    let scopes = Scopes::new();
    tokio::spawn(scopes.clone().run(upstream.clone(), metrics.clone(), Duration::from_secs(30)));
    // Fairness policy and flow control; the policy file is watched for changes. The policy is
    // for the whole fleet of replicas: this one applies its share of it.
    let (stop_tx, stop_rx) = watch::channel(false);
    let about = format!("{} {}", config.server.listen, config.server.public_url);
    let (membership, fleet) = crate::fleet::Membership::join(etcd.clone(), &config.etcd.prefix, &config.fleet, &about)
        .await
        .context("registering this replica in etcd")?;
    let membership_task = tokio::spawn(membership.run(about, stop_rx.clone()));
    let policy = PolicyHandle::load(config.policy_file.as_deref(), &config.tenancy)?;
    let flow = FlowControl::new(
        crate::fleet::share(&policy.get().flow, *fleet.borrow()),
        Arc::new(MonotonicClock::new()),
        metrics.clone(),
    )
    .map_err(|e| anyhow::anyhow!("flow control: {e}"))?;
    flow.spawn_maintenance(Duration::from_secs(1));
    tokio::spawn(watch_policy(policy.clone(), fleet, flow.clone(), metrics.clone()));
    let admission = Arc::new(Admission::new(flow.clone(), metrics.clone()));
    // What vcproxy needs upstream before it may serve tenants: its reader's RBAC, the
    // guardrail admission policies and each tenant's RBAC. /readyz waits for them.
    let upstream_objects_ready = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let (upstream, metrics, ready) = (upstream.clone(), metrics.clone(), upstream_objects_ready.clone());
        let registry = registry.clone();
        async move {
            crate::filtered_reader::keep_ensuring(upstream.clone(), metrics.clone()).await;
            crate::guardrails::keep_ensuring(upstream.clone(), metrics.clone()).await;
            crate::upstream::keep_applying("escalation checks", &upstream, &metrics, crate::cluster_rbac::escalation::upstream_objects()).await;
            crate::tenant_rbac::keep_upgrading(upstream, metrics, registry).await;
            ready.store(true, std::sync::atomic::Ordering::Release);
        }
    });
    tokio::spawn(crate::tenant_rbac::keep_crd_roles(upstream.clone(), metrics.clone(), crds.clone()));
    let refusals = Arc::new(crate::refusals::Refusals::default());
    tokio::spawn(refusals.clone().log_every(Duration::from_secs(10)));
    let continue_tokens =
        Arc::new(crate::continue_token::ContinueTokens::load_or_create(&mut etcd.clone(), &config.etcd.prefix).await?);

    let proxy = Arc::new(Proxy {
        registry: registry.clone(),
        upstream,
        metrics: metrics.clone(),
        namespaces,
        scopes,
        tenancy: config.tenancy.clone(),
        policy,
        admission,
        upgrades: crate::upgrade::UpgradeDialer::new(&config)?,
        crds,
        etcd,
        etcd_prefix: config.etcd.prefix.clone(),
        crd_bytes: Default::default(),
        continue_tokens,
        refusals: refusals.clone(),
        authorizer: Default::default(),
        limits: config.limits.clone(),
        cluster_rbac: Default::default(),
        upstream_objects_ready,
        draining: AtomicBool::new(false),
    });
    tokio::spawn(crate::tenant_sweep::run(proxy.clone(), crate::tenant_sweep::EVERY));

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

    // `stop` flips once; both accept loops and the fleet membership watch it.
    let admin_task = tokio::spawn(serve_admin(admin, metrics.clone(), registry.clone(), flow, stop_rx.clone()));
    tokio::spawn(crate::cluster_rbac::materialize::keep_reconciling(proxy.clone()));
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
    // Give this replica's share back to the others (the lease is revoked) before exiting.
    let _ = tokio::time::timeout(Duration::from_secs(3), membership_task).await;
    Ok(())
}

/// Applies this replica's share of the policy: again when the policy file changes (or on
/// SIGHUP), and when replicas come or go. A refused file keeps the policy in force; the reason
/// is logged and `vcproxy_policy_valid` is 0.
async fn watch_policy(
    policy: Arc<PolicyHandle>,
    mut fleet: watch::Receiver<FleetView>,
    flow: Arc<FlowControl>,
    metrics: Arc<Metrics>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let file = policy.file().map(|f| f.to_path_buf());
    let mut hup = signal(SignalKind::hangup()).expect("installing SIGHUP handler");
    let mut last = policy.modified();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut fleet_open = true;
    let show_fleet = |view: FleetView| {
        metrics.fleet_replicas.set(view.replicas as i64);
        metrics.fleet_rank.set(view.rank as i64);
    };
    show_fleet(*fleet.borrow());
    loop {
        let forced = tokio::select! {
            _ = hup.recv() => true,
            _ = tick.tick() => false,
            changed = fleet.changed(), if fleet_open => {
                fleet_open = changed.is_ok();
                let view = *fleet.borrow_and_update();
                show_fleet(view);
                if let Err(e) = flow.apply(crate::fleet::share(&policy.get().flow, view)) {
                    tracing::error!(error = %e, "fleet share of the policy refused");
                }
                continue;
            }
        };
        let Some(file) = &file else { continue };
        let now = policy.modified();
        if !forced && now == last {
            continue;
        }
        last = now;
        let view = *fleet.borrow();
        match policy
            .reload()
            .map_err(|e| e.to_string())
            .and_then(|p| flow.apply(crate::fleet::share(&p.flow, view)))
        {
            Ok(()) => {
                metrics.policy_valid.set(1);
                metrics.policy_reloads.with_label_values(&["applied"]).inc();
                tracing::info!(file = %file.display(), "policy reloaded");
            }
            Err(e) => {
                metrics.policy_valid.set(0);
                metrics.policy_reloads.with_label_values(&["refused"]).inc();
                tracing::error!(file = %file.display(), error = %e, "policy refused; the previous policy stays in force");
            }
        }
    }
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

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(limits.max_pending_reset_streams)
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
    let builder = Arc::new(connection_builder(&proxy.limits));
    let connections = crate::limits::Connections::new(&proxy.limits);
    let handshake_timeout = proxy.limits.tls_handshake;
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
        // Past the connection limits a socket is closed at once, before it costs a handshake.
        let Some(slot) = connections.admit(peer.ip()) else {
            tracing::debug!(%peer, open = connections.open(), "connection refused: limits.max_connections[_per_ip]");
            proxy.metrics.connections_refused.inc();
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
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
    flow: Arc<FlowControl>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(c) => c, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let metrics = metrics.clone();
        let registry = registry.clone();
        let flow = flow.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                let registry = registry.clone();
                let flow = flow.clone();
                async move { Ok::<_, std::convert::Infallible>(admin_response(&req, &metrics, &registry, &flow)) }
            });
            let _ = connection_builder(&Limits::default()).serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

fn admin_response(
    req: &Request<Incoming>,
    metrics: &Metrics,
    registry: &Registry,
    flow: &FlowControl,
) -> Response<ProxyBody> {
    let (status, content_type, body) = match req.uri().path() {
        // Like kube-apiserver's APF debug endpoint: levels and per-tenant queues as text.
        "/debug/api_priority_and_fairness/dump_queues" => {
            (StatusCode::OK, "text/plain", flow.dump_queues().into_bytes())
        }
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
