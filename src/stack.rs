//! The request pipeline, assembled in one place, outermost stage first.
//!
//! ```text
//! request ─▶ health? ─▶ /clusters/<t> ─▶ authn ─▶ request_info ─▶ route ─┬─ discovery ──────────▶ upstream (as tenant)
//!             │ 200        │ 404           │ 401     │ 400          │403 ├─ namespaces ─────────▶ namespaces:: (as vcproxy, checked)
//!                                                                       ├─ in one namespace ───▶ forward:: (as tenant, rewritten)
//!                                                                       ├─ across namespaces ──▶ forward:: (as vcproxy, filtered)
//!                                                                       └─ cluster read / self review ▶ forward::
//! ```
//! Each stage returns `Result<_, ApiError>`; the first error becomes the
//! response, a `metav1.Status`. Every response, error or not, leaves through
//! [`media::egress`]: only bodies a stage vetted reach the tenant. One log line
//! and one metrics sample per request.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::authn::{self, Identity};
use crate::body::{self, ProxyBody};
use crate::config::TenancyConfig;
use crate::discovery::Scopes;
use crate::error::ApiError;
use crate::forward::{self, As, Plan};
use crate::media::{self, Encoding, Vetted};
use crate::metrics::Metrics;
use crate::namespaces::{self, cache::NamespaceCache};
use crate::request_info::{self, RequestInfo};
use crate::route::{self, Route};
use crate::tenants::Registry;
use crate::upstream::{self, Upstream};

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    pub registry: Arc<Registry>,
    pub upstream: Arc<Upstream>,
    pub metrics: Arc<Metrics>,
    /// Which super namespaces belong to which tenant.
    pub namespaces: Arc<NamespaceCache>,
    /// Which resources are namespaced.
    pub scopes: Arc<Scopes>,
    pub tenancy: TenancyConfig,
    /// The fairness policy in force (hot-reloaded).
    pub policy: Arc<crate::policy::PolicyHandle>,
    /// Fair queuing and caps in front of the upstream.
    pub admission: Arc<crate::admission::Admission>,
    /// Every tenant's CRDs (routing and discovery).
    pub crds: Arc<crate::crd::index::CrdIndex>,
    /// etcd, for the objects vcproxy stores itself (tenant CRDs and custom resources).
    pub etcd: etcd_client::Client,
    pub etcd_prefix: String,
    /// Bytes of each tenant's stored objects, for the byte quota.
    pub crd_bytes: crate::crd::objects::ByteUsage,
    /// HTTP/1.1 connections for exec/attach/portforward/proxy upgrades.
    pub upgrades: crate::upgrade::UpgradeDialer,
    /// Seals the continue tokens of upstream lists (bound to tenant and list).
    pub continue_tokens: Arc<crate::continue_token::ContinueTokens>,
    /// 429s per tenant, logged as a periodic summary.
    pub refusals: Arc<crate::refusals::Refusals>,
    /// Access reviews for what vcproxy serves itself.
    pub authorizer: crate::authz::Authorizer,
    /// The front door's limits (connections are counted in `server.rs`).
    pub limits: crate::limits::Limits,
    /// Serialises the upstream reconciles of each tenant's ClusterRoles and bindings.
    pub cluster_rbac: crate::cluster_rbac::materialize::Reconciler,
    /// Set once the RBAC and admission policies vcproxy applies upstream are in place.
    pub upstream_objects_ready: Arc<AtomicBool>,
    /// Set when shutdown starts, so `/readyz` tells load balancers to go elsewhere.
    pub draining: AtomicBool,
}

/// What the request log line says about a request.
#[derive(Default)]
struct LogFields {
    tenant: String,
    user: String,
    verb: String,
    resource: String,
    /// How the response is encoded for the tenant (decided by [`media::negotiate`]).
    encoding: Encoding,
}

impl Proxy {
    /// The object store under `tenant`'s prefix.
    pub fn crd_store(&self, tenant: &str) -> Result<crate::crd::store::ObjectStore, ApiError> {
        crate::crd::store::ObjectStore::new(self.etcd.clone(), format!("{}/tenants/{tenant}/", self.etcd_prefix))
            .map_err(|e| ApiError::internal(format!("object store: {e:?}")))
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
        let start = Instant::now();
        let method = req.method().clone();
        // Only copied when the access log is on.
        let path = tracing::enabled!(tracing::Level::DEBUG).then(|| req.uri().path().to_string()).unwrap_or_default();
        let mut fields = LogFields::default();
        // Boxed: the connection task that drives this future lives as long as the response
        // body (hours for a watch); boxed, the pipeline's state is freed once the response is
        // made instead of staying in every open watch's task.
        let response = match Box::pin(self.pipeline(req, &mut fields)).await {
            Ok(resp) => resp,
            Err(err) => {
                if err.fault != crate::error::Fault::Downstream {
                    tracing::warn!(error = %err, "request failed");
                }
                err.into_response()
            }
        };
        // The last stage, on every path: nothing unvetted leaves (see media.rs).
        let response = media::egress(response, fields.encoding).await;
        let elapsed = start.elapsed();
        let tenant = if fields.tenant.is_empty() { "-" } else { fields.tenant.as_str() };
        let status = response.status().as_u16();
        let verb = if fields.verb.is_empty() { method.as_str().to_ascii_lowercase() } else { fields.verb.clone() };
        self.metrics.requests.with_label_values(&[tenant, &verb, response.status().as_str()]).inc();
        self.metrics.request_duration.with_label_values(&[tenant, &verb]).observe(elapsed.as_secs_f64());
        if status == 429 {
            // A flood is summarised per tenant and paced (refusals.rs): past a burst, a 429 is
            // held a moment, so a client that resends at once cannot spend the proxy's CPU.
            if let Some(held) = self.refusals.record_and_pace(tenant, Instant::now()) {
                tokio::time::sleep(held.duration).await;
                drop(held);
            }
        } else {
            // The access log is debug level (VCPROXY_LOG=debug): at info it was ~6% of the
            // proxy's CPU per request. Failures vcproxy or upstream caused are logged above.
            tracing::debug!(
                tenant,
                user = %fields.user,
                verb = %verb,
                resource = %fields.resource,
                method = %method,
                path = %path,
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        }
        Ok(response)
    }

    async fn pipeline(&self, mut req: Request<Incoming>, log: &mut LogFields) -> Result<Response<ProxyBody>, ApiError> {
        // Health endpoints sit outside /clusters and need no credentials.
        if let Some(resp) = self.health(req.method(), req.uri().path()) {
            return Ok(resp);
        }
        let path = req.uri().path().to_string();
        let (tenant, rest) = authn::split_tenant_path(&path)
            .ok_or_else(|| ApiError::not_found("not found; tenant APIs are served under /clusters/<tenant>/"))?;

        // Authentication comes before parsing, so unauthenticated callers learn
        // nothing about which paths would be accepted.
        let mut identity = authn::authenticate(&self.registry, tenant, req.headers())?;
        let policy = self.policy.get();
        identity.allowed = policy.limits(identity.tenant_name()).allow.clone();
        log.tenant = identity.tenant_name().to_string();
        log.user = identity.user.clone();

        let info = request_info::parse(req.method(), rest, req.uri().query())
            .map_err(|e| match e.status_code() {
                StatusCode::NOT_FOUND => ApiError::not_found(e.to_string()),
                _ => ApiError::bad_request(format!("invalid request path: {e}")),
            })?;
        crate::limits::check_declared_body(req.headers(), self.limits.max_body_bytes)?;
        let deadline = crate::limits::request_deadline(&info, self.limits.max_request)?;
        // `kubectl --as`: malformed or out-of-tenant impersonation is refused here; whether
        // the tenant's RBAC allows it is asked once the request holds its seats.
        let impersonate = crate::impersonation::requested(req.headers())?;
        log.verb = info.verb.as_str().to_string();
        log.resource = info.resource.clone();

        // Decided before queuing, so a request vcproxy cannot answer costs no seat; from
        // here on every stage sees only the JSON `Accept` that goes upstream.
        if let Some(format) = negotiate_format(&req, &info)? {
            log.encoding = format.encoding;
            req.headers_mut().insert(header::ACCEPT, format.upstream_accept);
        }

        // Flow control: wait for this tenant's fair share of upstream seats (or
        // get a 429). The ticket rides in the response body and is released
        // when the body ends or the client goes away.
        let seated = AtomicBool::new(false);
        let admitted = async {
            let ticket = self.admission.admit(identity.tenant_name(), &info, policy.limits(identity.tenant_name())).await?;
            seated.store(true, Ordering::Relaxed);
            // Boxed so a request waiting in the fair queue holds only the state above (~1 KB, was
            // ~20 KB with the route inline): 20,000 queued watches are 20 MB, not 400 MB. The
            // route's state (~8 KB; the CRD store and namespace branches are boxed apart) is
            // allocated once the request is admitted.
            let response = Box::pin(async {
                let identity = crate::impersonation::apply(self, identity, impersonate).await?;
                if identity.user != log.user {
                    log.user = format!("{} (as {})", log.user, identity.user);
                }
                self.route(req, &info, &identity).await
            })
            .await?;
            Ok::<_, ApiError>((ticket, response))
        };
        // A request that is not long-running ends by its deadline (waiting in the queue and
        // the response body included).
        let started = tokio::time::Instant::now();
        let (ticket, response) = match deadline {
            Some(d) => tokio::time::timeout(d, admitted)
                .await
                .map_err(|_| crate::limits::deadline_passed(d, seated.load(Ordering::Relaxed)))??,
            None => admitted.await?,
        };
        let in_memory = response.extensions().get::<body::InMemory>().is_some();
        let response = match deadline {
            Some(d) if !in_memory => response.map(|b| body::boxed(body::Deadline::new(b, started + d, d))),
            _ => response,
        };
        Ok(response.map(|body| self.admission.attach(ticket, body, in_memory)))
    }

    /// Routes an admitted request.
    async fn route(
        &self,
        req: Request<Incoming>,
        info: &RequestInfo,
        identity: &Identity,
    ) -> Result<Response<ProxyBody>, ApiError> {
        // Tenant CRDs and their objects are vcproxy's own: they never reach the
        // super apiserver.
        if info.is_resource_request {
            if info.api_group == crate::crd::definitions::GROUP && info.resource == crate::crd::definitions::RESOURCE {
                self.authorize(identity, info).await?;
                let crd = crate::crd::definitions::crd_of_crds();
                return Box::pin(crate::crd::objects::handle(self, req, info, identity, crd)).await;
            }
            // The tenant's ClusterRoles and ClusterRoleBindings are vcproxy's too (`cluster_rbac`).
            if let Some(kind) = crate::cluster_rbac::served(&info.api_group, &info.resource) {
                self.authorize(identity, info).await?;
                if let Some(builtin) = crate::cluster_rbac::builtin_role(self, info).await? {
                    return Ok(builtin);
                }
                return Box::pin(crate::crd::objects::handle(self, req, info, identity, kind)).await;
            }
            let tenant_crds = self.crds.tenant(identity.tenant_name());
            if let Some(crd) = tenant_crds.find(&info.api_group, &info.resource) {
                self.authorize(identity, info).await?;
                return Box::pin(crate::crd::objects::handle(self, req, info, identity, crd)).await;
            }
            if tenant_crds.groups().contains(&info.api_group) {
                return Err(ApiError::not_found("the server could not find the requested resource"));
            }
        } else if let Some(resp) = Box::pin(crate::crd::discovery::serve(self, &req, info, identity)).await? {
            return Ok(resp);
        }

        // Discovery decides, for requests naming no namespace, whether the
        // resource is namespaced (a cross-namespace read) or cluster-scoped.
        let scope = if info.is_resource_request && info.namespace.is_none() {
            self.scopes.lookup(&self.upstream, &self.metrics, &info.api_group, &info.resource).await
        } else {
            None
        };
        let plan = |super_ns, as_| Plan { info, identity, super_ns, as_ };
        match route::route(info, scope, &self.tenancy.cluster_scoped_readonly)? {
            Route::Discovery => self.forward_unchanged(req, info, identity).await,
            Route::Namespaces => {
                self.authorize(identity, info).await?;
                Box::pin(namespaces::handle(self, req, info, identity)).await
            }
            Route::InNamespace => {
                let virtual_ns = info.namespace.as_deref().expect("routed with a namespace");
                let super_ns =
                    self.namespaces.resolve(&self.upstream, &self.metrics, identity.tenant_name(), virtual_ns).await?;
                forward::forward(self, req, plan(Some(super_ns), As::Tenant)).await
            }
            Route::AcrossNamespaces | Route::ClusterRead => {
                self.authorize(identity, info).await?;
                forward::forward(self, req, plan(None, As::Proxy)).await
            }
            Route::SelfReview => match info.resource.as_str() {
                "selfsubjectreviews" => crate::reviews::self_subject_review(req, info, identity).await,
                "selfsubjectaccessreviews" => crate::reviews::self_access_review(self, req, info, identity).await,
                _ => crate::reviews::self_rules_review(self, req, info, identity).await,
            },
            Route::AccessReview => {
                self.authorize(identity, info).await?;
                crate::reviews::access_review(self, req, info, identity).await
            }
        }
    }

    /// For what vcproxy answers itself (or reads as its own identity): the
    /// tenant's RBAC decides, as the super apiserver does for forwarded requests.
    async fn authorize(&self, identity: &Identity, info: &RequestInfo) -> Result<(), ApiError> {
        let attrs = crate::authz::Attributes::of(info);
        self.authorizer.authorize(&self.upstream, &self.metrics, identity, &attrs).await
    }

    /// Forwards a non-resource request (discovery) as the tenant, unchanged both ways.
    async fn forward_unchanged(
        &self,
        req: Request<Incoming>,
        info: &RequestInfo,
        identity: &Identity,
    ) -> Result<Response<ProxyBody>, ApiError> {
        let (mut parts, body) = req.into_parts();
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{}?{q}", info.path),
            None => info.path.clone(),
        };
        parts.uri = self.upstream.uri(&path_and_query)?;
        upstream::strip_inbound_headers(&mut parts.headers);
        // Responses pass through untouched here, so protobuf may flow both ways;
        // routes that rewrite bodies negotiate JSON first.
        upstream::stamp_identity(&mut parts.headers, identity)?;
        let resp = self.upstream.send(Request::from_parts(parts, body::boxed(body)), &self.metrics).await?;
        Ok(media::vetted(resp.map(body::boxed), Vetted::Opaque))
    }

    fn health(&self, method: &Method, path: &str) -> Option<Response<ProxyBody>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let ok = match path {
            "/healthz" | "/livez" => true,
            "/readyz" => {
                self.registry.is_ready()
                    && self.namespaces.is_ready()
                    && self.crds.is_ready()
                    && self.upstream_objects_ready.load(Ordering::Acquire)
                    && !self.draining.load(Ordering::Acquire)
            }
            _ => return None,
        };
        let (status, text) = if ok { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") };
        Some(
            Response::builder()
                .extension(Vetted::Opaque)
                .status(status)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body::full(text))
                .expect("static response"),
        )
    }
}

/// The response format of a resource request. Discovery documents carry no objects and
/// pass through as they are; streams that are not API objects (logs, `proxy`, exec,
/// attach, port-forward) keep their own `Accept`, and their responses are checked in
/// `forward`.
fn negotiate_format(req: &Request<Incoming>, info: &RequestInfo) -> Result<Option<media::ResponseFormat>, ApiError> {
    let streams = matches!(info.subresource.as_deref(), Some("log" | "proxy" | "exec" | "attach" | "portforward"));
    if !info.is_resource_request || streams {
        return Ok(None);
    }
    media::negotiate(req.headers(), info.verb == request_info::Verb::Watch).map(Some)
}
