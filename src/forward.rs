//! Forwarding namespaced requests: translate, send as the tenant, translate back.
//!
//! ```text
//! resolve namespace ─▶ path ─▶ query selectors ─▶ headers ─▶ body ─▶ upstream ─▶ response body
//!  (cache / 404)       super     translated/400    JSON only   ToSuper   as tenant   ToVirtual, streamed
//! ```
//! Requests inside one namespace go upstream as the tenant (impersonated), so
//! the super apiserver's RBAC confines them too. Lists and watches across all
//! namespaces (`kubectl get -A`) go upstream as vcproxy — the tenant has no
//! cluster-wide rights — and every item or event outside the tenant's
//! namespaces is dropped before it leaves the proxy: one upstream list gives a
//! consistent resourceVersion, native pagination, and a watch that follows
//! namespaces created later.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use hyper::body::Incoming;
use serde_json::Value;

use crate::authn::Identity;
use crate::body::{self, BoxError, ChunkRewriter, ProxyBody};
use crate::continue_token::{ContinueTokens, TokenScope};
use crate::error::ApiError;
use crate::mapping;
use crate::media::{self, Vetted};
use crate::namespaces::cache::NamespaceCache;
use crate::namespaces::MAX_BODY;
use crate::request_info::{RequestInfo, Verb};
use crate::rewrite::{self, Direction, Disposition, NamespaceMapper, RewriteError};
use crate::stack::Proxy;
use crate::upstream;

/// Largest non-streamed response vcproxy rewrites in memory (a single object,
/// or a Status); lists and watches stream.
const MAX_RESPONSE: usize = 64 << 20;

/// The namespace translation for one tenant, backed by the ownership cache.
#[derive(Clone)]
pub struct CacheMapper {
    pub tenant: String,
    pub cache: Arc<NamespaceCache>,
}

impl NamespaceMapper for CacheMapper {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn to_super(&self, virtual_ns: &str) -> String {
        mapping::to_super(&self.tenant, virtual_ns)
    }
    fn to_virtual(&self, super_ns: &str) -> Option<String> {
        let owner = self.cache.owner(super_ns)?;
        (owner.tenant == self.tenant).then_some(owner.virtual_ns)
    }
}

/// Who the upstream request is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Tenant,
    /// vcproxy, as its read-only `filtered_reader` identity; only for reads whose results
    /// are filtered.
    Proxy,
}

/// A request the route decided to forward, with what is needed to translate it.
pub struct Plan<'a> {
    pub info: &'a RequestInfo,
    pub identity: &'a Identity,
    /// The super namespace, for requests inside one namespace.
    pub super_ns: Option<String>,
    pub as_: As,
}

pub async fn forward(p: &Proxy, req: Request<Incoming>, plan: Plan<'_>) -> Result<Response<ProxyBody>, ApiError> {
    let info = plan.info;
    let mapper = CacheMapper { tenant: plan.identity.tenant_name().to_string(), cache: p.namespaces.clone() };
    let (group, resource) = (info.api_group.as_str(), info.resource.as_str());

    let path = upstream_path(info, plan.super_ns.as_deref());
    let scope = token_scope(info, &mapper.tenant, plan.super_ns.as_deref());
    let query = translate_query(info, &mapper, &p.continue_tokens, &scope)?;
    let path_and_query = if query.is_empty() { path } else { format!("{path}?{query}") };

    if crate::upgrade::is_upgrade(req.headers()) {
        let streaming = matches!(info.subresource.as_deref(), Some("exec" | "attach" | "portforward" | "proxy"));
        if !(streaming && plan.super_ns.is_some() && plan.as_ == As::Tenant) {
            return Err(ApiError::bad_request(
                "protocol upgrades are only supported for exec, attach, portforward and proxy",
            ));
        }
        let resp = p.upgrades.forward(req, &path_and_query, plan.identity).await?;
        return Ok(media::vetted(resp, Vetted::Opaque));
    }

    let (mut parts, incoming) = req.into_parts();
    parts.uri = p.upstream.uri(&path_and_query)?;
    upstream::strip_inbound_headers(&mut parts.headers);
    let subresource = info.subresource.as_deref();
    if subresource == Some("log") {
        // Logs are text; an error about them is a Status, which must be JSON to be translated.
        parts.headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    match plan.as_ {
        As::Tenant => upstream::stamp_identity(&mut parts.headers, plan.identity)?,
        As::Proxy => crate::filtered_reader::stamp(&mut parts.headers),
    }

    let body = match info.verb {
        Verb::Create | Verb::Update => {
            let content_type = content_type(&parts.headers);
            let bytes = body::collect_limited(incoming, MAX_BODY).await?;
            let (bytes, content_type) =
                rewrite_request_object(&bytes, &content_type, info, &mapper, plan.super_ns.as_deref())?;
            parts.headers.insert(header::CONTENT_TYPE, content_type);
            parts.headers.remove(header::CONTENT_LENGTH);
            body::full(bytes)
        }
        Verb::Patch => {
            let content_type = content_type(&parts.headers);
            let bytes = body::collect_limited(incoming, MAX_BODY).await?;
            let patched =
                rewrite::rewrite_patch(&bytes, &content_type, group, resource, &mapper).map_err(tenant_error)?;
            if content_type.starts_with("application/apply-patch") {
                // The rewritten apply patch is JSON, which is valid YAML.
                parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/apply-patch+yaml"));
            }
            parts.headers.remove(header::CONTENT_LENGTH);
            body::full(patched)
        }
        // DeleteOptions carry no namespaces; anything else has no body.
        _ => body::boxed(incoming),
    };

    let upstream_req = Request::from_parts(parts, body);
    let resp = if info.long_running {
        p.upstream.send_long_running(upstream_req, &p.metrics).await?
    } else {
        p.upstream.send(upstream_req, &p.metrics).await?.map(upstream::UpstreamBody::Short)
    };
    let (mut parts, upstream_body) = resp.into_parts();
    let in_own_namespace = plan.super_ns.is_some() && plan.as_ == As::Tenant;
    match (subresource, media_type(&parts.headers).as_str()) {
        // The tenant's own pod or service answers: its bytes, under the tenant's identity.
        (Some("proxy"), _) if in_own_namespace => {
            return Ok(media::vetted(Response::from_parts(parts, body::boxed(upstream_body)), Vetted::Opaque));
        }
        (Some("log"), "text/plain") if in_own_namespace => {
            return Ok(media::vetted(Response::from_parts(parts, body::boxed(upstream_body)), Vetted::Opaque));
        }
        (_, "application/json") => {}
        // kube-apiserver's own deadline (`?timeout=`, `--request-timeout`) answers in plain text.
        (_, _) if parts.status == http::StatusCode::GATEWAY_TIMEOUT => {
            return Err(ApiError::timeout(
                "the super apiserver did not complete the request within its timeout; retry, or ask for less (?limit=)",
            ));
        }
        (_, other) => {
            tracing::error!(
                content_type = other,
                resource,
                "the super apiserver answered in a media type vcproxy cannot rewrite"
            );
            return Err(ApiError::internal(
                "the super apiserver answered in a media type vcproxy cannot translate, so it was not sent; retry with Accept: application/json",
            ));
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let dir = Direction::ToVirtual;
    let streaming = matches!(info.verb, Verb::Watch) && parts.status.is_success();
    if streaming {
        let watch = rewrite::WatchRewriter::new(group, resource, dir, mapper)
            .allow_rows_without_object(plan.super_ns.is_some());
        let rewriter = StreamAdapter::Watch(Some(watch));
        let resp = Response::from_parts(parts, body::boxed(body::Rewritten::new(upstream_body, rewriter)));
        return Ok(media::vetted(resp, Vetted::Json));
    }
    if matches!(info.verb, Verb::List | Verb::DeleteCollection) && parts.status.is_success() {
        // Inside one namespace, a Table row without its object is still the tenant's.
        let in_one_namespace = plan.super_ns.is_some();
        let tokens = p.continue_tokens.clone();
        let scope = token_scope(info, &mapper.tenant, plan.super_ns.as_deref());
        let list = rewrite::ListRewriter::new(group, resource, dir, mapper)
            .allow_rows_without_object(in_one_namespace)
            .seal_continue(Box::new(move |token| tokens.seal(&scope, token)));
        let rewriter = StreamAdapter::List(Some(list));
        let resp = Response::from_parts(parts, body::boxed(body::Rewritten::new(upstream_body, rewriter)));
        return Ok(media::vetted(resp, Vetted::Json));
    }
    let bytes = body::collect_limited(upstream_body, MAX_RESPONSE).await?;
    if parts.status.is_success() {
        // One object: byte-spliced, no Value built (a Status or Table falls back inside).
        let not_found = || ApiError::not_found(format!("{resource} {:?} not found", info.name.clone().unwrap_or_default()));
        let out = rewrite::rewrite_single_body(&bytes, group, resource, &mapper)
            .map_err(|e| ApiError::bad_gateway(format!("translating the super apiserver's answer: {e}")))?
            .ok_or_else(not_found)?;
        parts.extensions.insert(body::InMemory);
        return Ok(media::vetted(Response::from_parts(parts, body::full(out)), Vetted::Json));
    }
    let mut doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_gateway(format!("the super apiserver sent invalid JSON: {e}")))?;
    match rewrite::rewrite_object(&mut doc, group, resource, dir, &mapper) {
        Ok(Disposition::Keep) => {}
        Ok(Disposition::Drop) => {
            return Err(ApiError::not_found(format!(
                "{resource} {:?} not found",
                info.name.clone().unwrap_or_default()
            )))
        }
        Err(e) => return Err(ApiError::bad_gateway(format!("translating the super apiserver's answer: {e}"))),
    }
    // A 410 for an expired continue token carries a fresh one in its Status.
    p.continue_tokens.seal_in_metadata(&mut doc, &token_scope(info, &mapper.tenant, plan.super_ns.as_deref()));
    let out = serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    parts.extensions.insert(body::InMemory);
    Ok(media::vetted(Response::from_parts(parts, body::full(out)), Vetted::Json))
}

/// Adapts the rewrite module's streaming rewriters to a streamed body.
enum StreamAdapter {
    List(Option<rewrite::ListRewriter<CacheMapper>>),
    Watch(Option<rewrite::WatchRewriter<CacheMapper>>),
}

impl ChunkRewriter for StreamAdapter {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), BoxError> {
        match self {
            StreamAdapter::List(Some(r)) => r.push(chunk, out).map_err(Into::into),
            StreamAdapter::Watch(Some(r)) => r.push(chunk, out).map_err(Into::into),
            _ => Ok(()),
        }
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BoxError> {
        match self {
            StreamAdapter::List(r) => r.take().map_or(Ok(()), |mut r| r.finish(out).map_err(Into::into)),
            StreamAdapter::Watch(r) => r.take().map_or(Ok(()), |mut r| r.finish(out).map_err(Into::into)),
        }
    }
}

/// The upstream path: the tenant's path with its namespace replaced, rebuilt
/// from the parsed parts (`[resource, name, subresource, proxy path…]`), each
/// segment re-encoded.
pub(crate) fn upstream_path(info: &RequestInfo, super_ns: Option<&str>) -> String {
    let mut path = format!("/{}", info.api_prefix);
    if !info.api_group.is_empty() {
        path.push('/');
        path.push_str(&info.api_group);
    }
    path.push('/');
    path.push_str(&info.api_version);
    if let Some(ns) = super_ns {
        path.push_str("/namespaces/");
        path.push_str(ns);
    }
    for part in &info.parts {
        path.push('/');
        path.push_str(&encode_segment(part));
    }
    path
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The tenant's query with selectors translated; `watch=true` for legacy
/// `/watch/` paths.
/// Continue tokens are bound to the tenant and to the list they page through.
fn token_scope(info: &RequestInfo, tenant: &str, super_ns: Option<&str>) -> TokenScope {
    TokenScope::new(tenant, &info.api_group, &info.resource, super_ns.unwrap_or(""))
}

fn translate_query(
    info: &RequestInfo,
    mapper: &CacheMapper,
    tokens: &ContinueTokens,
    scope: &TokenScope,
) -> Result<String, ApiError> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let (group, resource) = (info.api_group.as_str(), info.resource.as_str());
    for (k, v) in info.query.pairs() {
        match k.as_str() {
            "labelSelector" => {
                let t = rewrite::translate_label_selector(v, resource, mapper).map_err(tenant_error)?;
                out.append_pair(k, &t);
            }
            "fieldSelector" => {
                let t = rewrite::translate_field_selector(v, group, resource, mapper).map_err(tenant_error)?;
                out.append_pair(k, &t);
            }
            "continue" if !v.is_empty() => {
                out.append_pair(k, &tokens.open(scope, v)?);
            }
            _ => {
                out.append_pair(k, v);
            }
        }
    }
    if info.verb_via_path_prefix && info.verb == Verb::Watch {
        out.append_pair("watch", "true");
    }
    Ok(out.finish())
}

/// A create or update body in the super view. JSON is rewritten through the
/// field table; protobuf only where the namespace is the sole field to change.
fn rewrite_request_object(
    bytes: &[u8],
    content_type: &str,
    info: &RequestInfo,
    mapper: &CacheMapper,
    super_ns: Option<&str>,
) -> Result<(Bytes, HeaderValue), ApiError> {
    let (group, resource) = (info.api_group.as_str(), info.resource.as_str());
    if content_type.contains("protobuf") {
        let out =
            crate::proto_rewrite::to_super(bytes, group, resource, info.subresource.as_deref(), mapper, super_ns)?;
        return Ok((Bytes::from(out), HeaderValue::from_static("application/vnd.kubernetes.protobuf")));
    }
    let mut obj: Value = if content_type.contains("yaml") {
        serde_yaml::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))?
    } else if content_type.contains("json") || content_type.is_empty() {
        rewrite::parse_json(bytes).map_err(tenant_error)?
    } else {
        return Err(ApiError::unsupported_media_type());
    };
    if let (Some(ns), Some(expected)) = (obj["metadata"]["namespace"].as_str(), info.namespace.as_deref()) {
        if !ns.is_empty() && ns != expected {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let sub_resource_kind = info.subresource.is_some();
    let (g, r) = if sub_resource_kind { ("", "") } else { (group, resource) };
    rewrite::rewrite_object(&mut obj, g, r, Direction::ToSuper, mapper).map_err(tenant_error)?;
    Ok((
        Bytes::from(serde_json::to_vec(&obj).map_err(|e| ApiError::internal(e.to_string()))?),
        HeaderValue::from_static("application/json"),
    ))
}

/// A rewrite error caused by what the tenant sent.
pub fn tenant_error(e: RewriteError) -> ApiError {
    let code = e.status_code();
    let message = e.to_string();
    match code {
        403 => ApiError::forbidden(message),
        415 => ApiError::unsupported_media_type(),
        422 => ApiError::invalid(message),
        413 => ApiError::payload_too_large(message),
        _ => ApiError::bad_request(message),
    }
}

fn content_type(headers: &http::HeaderMap) -> String {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_ascii_lowercase()
}

/// The response's media type without parameters, lower-case (`""` when absent).
fn media_type(headers: &http::HeaderMap) -> String {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}
