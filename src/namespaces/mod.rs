//! The tenant's namespaces: created, listed, watched, changed and deleted in
//! the virtual view, kept as labelled super namespaces upstream.
//!
//! Namespaces are cluster-scoped, so the tenant's impersonated identity has no
//! rights on them: vcproxy validates each request itself and then acts as its
//! own identity, always naming the super namespace through `mapping` and
//! checking ownership through `cache`. Every super namespace gets a RoleBinding
//! that makes the tenant's `cluster-admins` group `admin` inside it — and
//! nowhere else (`tenant_rbac.rs`). Who may do what to namespaces is decided
//! before this handler runs (`authz.rs`).

pub mod cache;
pub mod object;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use crate::authn::Identity;
use crate::body::{self, ProxyBody};
use crate::continue_token::{ContinueTokens, TokenScope};
use crate::error::ApiError;
use crate::mapping;
use crate::media::{self, Vetted};
use crate::metrics::Metrics;
use crate::request_info::{RequestInfo, Verb};
use crate::stack::Proxy;
use crate::tenant_rbac;
use crate::upstream::{self, proxy_json, Upstream};
use object::Requested;

/// kube-apiserver's own limit on request bodies.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub async fn handle(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Response<ProxyBody>, ApiError> {
    if let Some(sub) = &info.subresource {
        return Err(ApiError::forbidden(format!(
            "namespaces/{sub} is managed by vcproxy; tenants may not change it directly"
        )));
    }
    let tenant = id.tenant_name();
    match (info.verb, info.name.as_deref()) {
        (Verb::List | Verb::Watch, _) => list_or_watch(p, req.headers(), info, tenant).await,
        (Verb::Get, Some(name)) => get(p, tenant, name).await,
        (Verb::Create, _) => create(p, req, info, tenant).await,
        (Verb::Update, Some(name)) => update(p, req, info, tenant, name).await,
        (Verb::Patch, Some(name)) => patch(p, req, info, tenant, name).await,
        (Verb::Delete, Some(name)) => delete(p, req, info, tenant, name).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on namespaces through vcproxy",
            info.verb.as_str()
        ))),
    }
}

/// Query string for upstream: the tenant's parameters with selectors translated,
/// plus `extra` pairs.
fn upstream_query(
    info: &RequestInfo,
    tenant: &str,
    extra: &[(&str, &str)],
    tokens: &ContinueTokens,
    scope: &TokenScope,
) -> Result<String, ApiError> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut label_selector = format!("{}={tenant}", mapping::TENANT_LABEL);
    for (k, v) in info.query.pairs() {
        match k.as_str() {
            "labelSelector" => {
                let translated =
                    crate::rewrite::selectors::translate_label_selector(v, "namespaces", &TenantMapper(tenant))
                        .map_err(|e| ApiError::bad_request(e.to_string()))?;
                if !translated.is_empty() {
                    label_selector = format!("{translated},{label_selector}");
                }
            }
            "fieldSelector" => {
                let translated =
                    crate::rewrite::selectors::translate_field_selector(v, "", "namespaces", &TenantMapper(tenant))
                        .map_err(|e| ApiError::bad_request(e.to_string()))?;
                out.append_pair(k, &translated);
            }
            "watch" if info.verb == Verb::Watch => {}
            "continue" if !v.is_empty() => {
                out.append_pair(k, &tokens.open(scope, v)?);
            }
            _ => {
                out.append_pair(k, v);
            }
        }
    }
    if info.verb == Verb::List || info.verb == Verb::Watch {
        out.append_pair("labelSelector", &label_selector);
    }
    if info.verb == Verb::Watch {
        out.append_pair("watch", "true");
    }
    for (k, v) in extra {
        out.append_pair(k, v);
    }
    Ok(out.finish())
}

/// The mapper the rewrite module uses for this tenant.
pub struct TenantMapper<'a>(pub &'a str);

impl crate::rewrite::NamespaceMapper for TenantMapper<'_> {
    fn tenant(&self) -> &str {
        self.0
    }
    fn to_super(&self, virtual_ns: &str) -> String {
        mapping::to_super(self.0, virtual_ns)
    }
    fn to_virtual(&self, super_ns: &str) -> Option<String> {
        match mapping::parse_super(super_ns)? {
            mapping::Parsed::Short { tenant, virtual_ns } if tenant == self.0 => Some(virtual_ns.to_string()),
            _ => None,
        }
    }
}

async fn list_or_watch(
    p: &Proxy,
    headers: &http::HeaderMap,
    info: &RequestInfo,
    tenant: &str,
) -> Result<Response<ProxyBody>, ApiError> {
    let mut info = info.clone();
    if let Some(name) = info.name.clone() {
        // `/watch/namespaces/<name>` and `fieldSelector=metadata.name=<name>` both
        // arrive as a name: select the super namespace by its name.
        if !info.query.get("fieldSelector").is_some_and(|s| s.contains("metadata.name")) {
            info.query = crate::request_info::Query::parse(&format!("fieldSelector=metadata.name%3D{name}"))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
    }
    let scope = TokenScope::new(tenant, "", "namespaces", "");
    let query = upstream_query(&info, tenant, &[], &p.continue_tokens, &scope)?;
    let path = format!("/api/v1/namespaces?{query}");
    // The pipeline already negotiated: this Accept is JSON only.
    let accept = headers.get(header::ACCEPT).cloned().unwrap_or(http::HeaderValue::from_static("application/json"));
    let mut req = Request::get(p.upstream.uri(&path)?).header(header::ACCEPT, accept).body(body::empty()).map_err(internal)?;
    // Every tenant's namespaces are read here; the filter keeps this tenant's.
    crate::filtered_reader::stamp(req.headers_mut());
    let resp = if info.verb == Verb::Watch {
        p.upstream.send_long_running(req, &p.metrics).await?
    } else {
        p.upstream.send(req, &p.metrics).await?.map(upstream::UpstreamBody::Short)
    };
    let (parts, upstream_body) = resp.into_parts();
    let tenant = tenant.to_string();
    if info.verb == Verb::Watch && parts.status == StatusCode::OK {
        let rewriter = body::JsonLines::new(16 << 20, move |line, out| {
            let mut event: Value = serde_json::from_slice(line)?;
            // Bookmarks (including the end of initial events) carry only a
            // resourceVersion and annotations; errors are Status objects.
            let passes = matches!(event["type"].as_str(), Some("BOOKMARK") | Some("ERROR"));
            if !passes && !object::to_virtual(&mut event["object"], &tenant) {
                return Ok(());
            }
            serde_json::to_writer(&mut *out, &event)?;
            out.push(b'\n');
            Ok(())
        });
        let resp = Response::from_parts(parts, body::boxed(body::Rewritten::new(upstream_body, rewriter)));
        return Ok(media::vetted(resp, Vetted::Json));
    }
    let bytes = body::collect_limited(upstream_body, 64 << 20).await?;
    respond_list(parts.status, &bytes, &tenant, &p.continue_tokens, &scope)
}

async fn get(p: &Proxy, tenant: &str, name: &str) -> Result<Response<ProxyBody>, ApiError> {
    let super_ns = p.namespaces.resolve(&p.upstream, &p.metrics, tenant, name).await?;
    let (status, bytes) = proxy_json(&p.upstream, &p.metrics, Method::GET, &ns_path(&super_ns, ""), None).await?;
    respond_rewritten(status, &bytes, tenant, Some((&super_ns, name)))
}

fn ns_path(super_ns: &str, query: &str) -> String {
    if query.is_empty() {
        format!("/api/v1/namespaces/{super_ns}")
    } else {
        format!("/api/v1/namespaces/{super_ns}?{query}")
    }
}

async fn create(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    tenant: &str,
) -> Result<Response<ProxyBody>, ApiError> {
    let content_type = content_type(req.headers());
    let bytes = body::collect_limited(req.into_body(), MAX_BODY).await?;
    let mut requested = read_requested(&content_type, &bytes)?;
    let name = match (requested.name.take().filter(|n| !n.is_empty()), requested.generate_name.as_deref()) {
        (Some(name), _) => name,
        (None, Some(prefix)) if !prefix.is_empty() => crate::names::generate_name(prefix, 63),
        _ => return Err(ApiError::invalid("metadata.name: Required value: name or generateName is required")),
    };
    validate_namespace_name(&name)?;
    let limits = p.policy.get().limits(tenant).clone();
    let pod_security = limits.pod_security.clone();
    object::check_tenant_metadata(&requested, &pod_security).map_err(ApiError::forbidden)?;

    let existing = p.namespaces.of_tenant(tenant);
    if existing.len() >= limits.max_namespaces && !existing.contains(&name) {
        return Err(ApiError::forbidden(format!(
            "namespace quota exceeded: tenant {tenant} may have at most {} namespaces; delete one first",
            limits.max_namespaces
        )));
    }

    let dry_run = info.query.get("dryRun").is_some();
    let ns = object::super_namespace(tenant, &name, &requested, &pod_security);
    let query = passthrough_query(info, &["dryRun", "fieldManager", "fieldValidation", "pretty"]);
    let path = if query.is_empty() { "/api/v1/namespaces".to_string() } else { format!("/api/v1/namespaces?{query}") };
    let (status, created) = proxy_json(&p.upstream, &p.metrics, Method::POST, &path, Some(&ns)).await?;
    let super_ns = mapping::to_super(tenant, &name);
    if status == StatusCode::CREATED && !dry_run {
        if let Ok(v) = serde_json::from_slice::<Value>(&created) {
            p.namespaces.observe(&v, false);
        }
        if let Err(e) = tenant_rbac::ensure_admin_binding(&p.upstream, &p.metrics, tenant, &super_ns).await {
            // Without its RoleBinding the namespace is useless to the tenant: undo.
            let _ = proxy_json(&p.upstream, &p.metrics, Method::DELETE, &ns_path(&super_ns, ""), None).await;
            return Err(e);
        }
        // The tenant's ClusterRoleBindings reach the new namespace before kubectl returns.
        crate::cluster_rbac::materialize::changed(p, tenant).await;
    }
    respond_rewritten(status, &created, tenant, Some((&super_ns, &name)))
}

/// Creates the tenant's namespace `virtual_ns` if it does not exist (used for
/// `default` when a tenant is created).
pub async fn ensure_namespace(
    upstream: &Upstream,
    metrics: &Metrics,
    tenant: &str,
    virtual_ns: &str,
    pod_security: &str,
) -> Result<(), ApiError> {
    let ns = object::super_namespace(tenant, virtual_ns, &Requested::default(), pod_security);
    let (status, body) = proxy_json(upstream, metrics, Method::POST, "/api/v1/namespaces", Some(&ns)).await?;
    if !(status.is_success() || status == StatusCode::CONFLICT) {
        return Err(ApiError::bad_gateway(format!(
            "creating namespace {virtual_ns} failed ({status}): {}",
            String::from_utf8_lossy(&body)
        )));
    }
    tenant_rbac::ensure_admin_binding(upstream, metrics, tenant, &mapping::to_super(tenant, virtual_ns)).await
}

/// Deletes every super namespace of `tenant` (tenant deletion).
pub async fn delete_all(upstream: &Upstream, metrics: &Metrics, tenant: &str) -> Result<usize, ApiError> {
    let path = format!("/api/v1/namespaces?labelSelector={}%3D{tenant}", mapping::TENANT_LABEL.replace('/', "%2F"));
    let (status, body) = proxy_json(upstream, metrics, Method::GET, &path, None).await?;
    if status != StatusCode::OK {
        return Err(ApiError::bad_gateway(format!("listing the tenant's namespaces: {status}")));
    }
    let list: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
    let mut deleted = 0;
    for ns in list["items"].as_array().into_iter().flatten() {
        // Only namespaces whose name and labels agree are the tenant's.
        let Some(owner) = cache::owner_of(ns) else { continue };
        if owner.tenant != tenant {
            continue;
        }
        let name = ns["metadata"]["name"].as_str().unwrap_or_default();
        let (status, _) = proxy_json(upstream, metrics, Method::DELETE, &ns_path(name, ""), None).await?;
        if status.is_success() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

async fn update(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    tenant: &str,
    name: &str,
) -> Result<Response<ProxyBody>, ApiError> {
    let super_ns = p.namespaces.resolve(&p.upstream, &p.metrics, tenant, name).await?;
    let content_type = content_type(req.headers());
    let bytes = body::collect_limited(req.into_body(), MAX_BODY).await?;
    if !content_type.contains("json") {
        return Err(ApiError::unsupported_media_type());
    }
    let mut obj: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let requested = requested_from_json(&obj);
    if requested.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request("the name of the object does not match the name in the URL"));
    }
    let pod_security = p.policy.get().limits(tenant).pod_security.clone();
    object::check_tenant_metadata(&requested, &pod_security).map_err(ApiError::forbidden)?;
    let wanted = object::super_namespace(tenant, name, &requested, &pod_security);
    obj["metadata"]["name"] = wanted["metadata"]["name"].clone();
    obj["metadata"]["labels"] = wanted["metadata"]["labels"].clone();
    obj["metadata"]["annotations"] = wanted["metadata"]["annotations"].clone();
    let query = passthrough_query(info, &["dryRun", "fieldManager", "fieldValidation", "pretty"]);
    let (status, body) =
        proxy_json(&p.upstream, &p.metrics, Method::PUT, &ns_path(&super_ns, &query), Some(&obj)).await?;
    respond_rewritten(status, &body, tenant, Some((&super_ns, name)))
}

async fn patch(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    tenant: &str,
    name: &str,
) -> Result<Response<ProxyBody>, ApiError> {
    let super_ns = p.namespaces.resolve(&p.upstream, &p.metrics, tenant, name).await?;
    let content_type = content_type(req.headers());
    let bytes = body::collect_limited(req.into_body(), MAX_BODY).await?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains(mapping::RESERVED_PREFIX) || text.contains(object::POD_SECURITY_PREFIX) {
        return Err(ApiError::forbidden(format!(
            "vcproxy.io/ and pod-security.kubernetes.io/ labels of namespaces are managed by vcproxy (Pod Security level {:?})",
            p.policy.get().limits(tenant).pod_security
        )));
    }
    let patch_body = rename_in_patch(&content_type, &bytes, name, &super_ns)?;
    let pod_security = p.policy.get().limits(tenant).pod_security.clone();
    let query = passthrough_query(info, &["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]);

    // Try it first: a patch may replace whole label maps, which would drop the
    // labels that prove ownership; only an outcome that keeps them is applied.
    let dry_query = if query.is_empty() { "dryRun=All".to_string() } else { format!("{query}&dryRun=All") };
    let (status, dry) = send_patch(p, &super_ns, &dry_query, &content_type, patch_body.clone()).await?;
    if status.is_success() {
        let result: Value = serde_json::from_slice(&dry).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
        if !object::managed_labels_intact(&result, tenant, name, &pod_security) {
            return Err(ApiError::forbidden(
                "this patch would change labels or annotations vcproxy manages on the namespace (vcproxy.io/*, pod-security.kubernetes.io/*); patch other keys individually",
            ));
        }
        if info.query.get("dryRun").is_none() {
            let (status, body) = send_patch(p, &super_ns, &query, &content_type, patch_body).await?;
            return respond_rewritten(status, &body, tenant, Some((&super_ns, name)));
        }
    }
    respond_rewritten(status, &dry, tenant, Some((&super_ns, name)))
}

async fn send_patch(
    p: &Proxy,
    super_ns: &str,
    query: &str,
    content_type: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), ApiError> {
    use http_body_util::BodyExt;
    let req = Request::patch(p.upstream.uri(&ns_path(super_ns, query))?)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT, "application/json")
        .body(body::full(body))
        .map_err(internal)?;
    let resp = p.upstream.send(req, &p.metrics).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await.map_err(|e| ApiError::bad_gateway(e.to_string()))?.to_bytes();
    Ok((status, bytes))
}

/// A merge, strategic or apply patch may name the namespace; it must be the
/// one in the URL, and goes upstream as the super name.
fn rename_in_patch(content_type: &str, bytes: &[u8], name: &str, super_ns: &str) -> Result<Bytes, ApiError> {
    if content_type.starts_with("application/json-patch+json") {
        return Ok(Bytes::copy_from_slice(bytes));
    }
    let mut doc: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) if content_type.starts_with("application/apply-patch") => {
            serde_yaml::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid apply patch: {e}")))?
        }
        Err(e) => return Err(ApiError::bad_request(format!("invalid patch: {e}"))),
    };
    if let Some(n) = doc["metadata"]["name"].as_str() {
        if n != name {
            return Err(ApiError::bad_request("the name of the object does not match the name in the URL"));
        }
        doc["metadata"]["name"] = Value::String(super_ns.to_string());
    }
    Ok(Bytes::from(serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?))
}

async fn delete(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    tenant: &str,
    name: &str,
) -> Result<Response<ProxyBody>, ApiError> {
    use http_body_util::BodyExt;
    let super_ns = p.namespaces.resolve(&p.upstream, &p.metrics, tenant, name).await?;
    let content_type = content_type(req.headers());
    let bytes = body::collect_limited(req.into_body(), MAX_BODY).await?;
    let query =
        passthrough_query(info, &["dryRun", "gracePeriodSeconds", "propagationPolicy", "orphanDependents", "pretty"]);
    let mut upstream_req =
        Request::delete(p.upstream.uri(&ns_path(&super_ns, &query))?).header(header::ACCEPT, "application/json");
    if !bytes.is_empty() {
        if !content_type.contains("json") {
            return Err(ApiError::unsupported_media_type());
        }
        upstream_req = upstream_req.header(header::CONTENT_TYPE, content_type);
    }
    let resp = p.upstream.send(upstream_req.body(body::full(bytes)).map_err(internal)?, &p.metrics).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| ApiError::bad_gateway(e.to_string()))?.to_bytes();
    respond_rewritten(status, &body, tenant, Some((&super_ns, name)))
}

/// Answers with an upstream namespace document in the tenant's view.
/// A namespace list (or its error) read as vcproxy: its continue token names other tenants'
/// namespaces, so it is sealed.
fn respond_list(
    status: StatusCode,
    bytes: &[u8],
    tenant: &str,
    tokens: &ContinueTokens,
    scope: &TokenScope,
) -> Result<Response<ProxyBody>, ApiError> {
    let mut doc = parse_upstream(bytes)?;
    tokens.seal_in_metadata(&mut doc, scope);
    respond_doc(status, doc, tenant, None)
}

fn parse_upstream(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_gateway(format!("the super apiserver sent invalid JSON: {e}")))
}

fn respond_rewritten(
    status: StatusCode,
    bytes: &[u8],
    tenant: &str,
    names: Option<(&str, &str)>,
) -> Result<Response<ProxyBody>, ApiError> {
    respond_doc(status, parse_upstream(bytes)?, tenant, names)
}

fn respond_doc(
    status: StatusCode,
    mut doc: Value,
    tenant: &str,
    names: Option<(&str, &str)>,
) -> Result<Response<ProxyBody>, ApiError> {
    if doc["kind"] == "Status" {
        if let Some((super_ns, virtual_ns)) = names {
            for field in ["message"] {
                if let Some(m) = doc[field].as_str() {
                    doc[field] = Value::String(m.replace(super_ns, virtual_ns));
                }
            }
            if doc["details"]["name"].as_str() == Some(super_ns) {
                doc["details"]["name"] = Value::String(virtual_ns.to_string());
            }
        }
    } else if !object::to_virtual(&mut doc, tenant) {
        return Err(cache::namespace_not_found(names.map(|n| n.1).unwrap_or_default()));
    }
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .extension(Vetted::Json)
        .extension(body::InMemory)
        .body(body::full(serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?))
        .map_err(internal)?)
}

fn content_type(headers: &http::HeaderMap) -> String {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_ascii_lowercase()
}

/// The parameters of the tenant's query that upstream may see unchanged.
fn passthrough_query(info: &RequestInfo, allowed: &[&str]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in info.query.pairs() {
        if allowed.contains(&k.as_str()) {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// Name, labels and annotations from a create body, JSON or protobuf.
fn read_requested(content_type: &str, bytes: &[u8]) -> Result<Requested, ApiError> {
    if content_type.contains("protobuf") {
        let meta = crate::protobuf::read_meta(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid protobuf body: {e}")))?;
        let to_map = |pairs: Vec<(String, String)>| pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        return Ok(Requested {
            name: meta.name,
            generate_name: meta.generate_name,
            labels: to_map(meta.labels),
            annotations: to_map(meta.annotations),
        });
    }
    if !content_type.contains("json") && !content_type.contains("yaml") {
        return Err(ApiError::unsupported_media_type());
    }
    let obj: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if obj["kind"].as_str().is_some_and(|k| k != "Namespace") {
        return Err(ApiError::bad_request(format!("expected a Namespace, got {}", obj["kind"])));
    }
    Ok(requested_from_json(&obj))
}

fn requested_from_json(obj: &Value) -> Requested {
    let meta = &obj["metadata"];
    Requested {
        name: meta["name"].as_str().map(str::to_string),
        generate_name: meta["generateName"].as_str().map(str::to_string),
        labels: meta["labels"].as_object().cloned().unwrap_or_default(),
        annotations: meta["annotations"].as_object().cloned().unwrap_or_default(),
    }
}

/// A virtual namespace name is a DNS-1123 label, as on a real cluster.
fn validate_namespace_name(name: &str) -> Result<(), ApiError> {
    if crate::names::is_dns1123_label(name) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "Namespace {name:?} is invalid: metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    )))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}
