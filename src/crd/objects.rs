//! Custom resources of tenant CRDs, served by vcproxy from etcd with
//! Kubernetes semantics.
//!
//! ```text
//! request ─▶ version served? ─▶ namespace the tenant's? ─▶ verb ─▶ store (CAS on resourceVersion) ─▶ JSON / Table / watch stream
//! ```
//! - resourceVersion is the etcd mod revision; updates are compare-and-swap
//!   (409 on a stale one); lists are consistent snapshots with `limit`/`continue`.
//! - Writes are pruned, defaulted and validated against the version's
//!   `openAPIV3Schema` (422 with field paths); reads are defaulted.
//! - generation moves on spec changes only; with a status subresource the main
//!   resource ignores status and `/status` ignores everything else.
//! - Delete with finalizers sets deletionTimestamp; removing the last finalizer
//!   of such an object deletes it.
//! - Watches replay from a resourceVersion, send bookmarks when asked, support
//!   `sendInitialEvents`, and answer 410 Expired from a compacted revision.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use super::index::{Crd, Version};
use super::store::{ListOptions, ObjectStore, StoreError, WatchEvent, WatchOpts, MAX_OBJECT_BYTES};
use super::{definitions, printer, schema};
use crate::authn::Identity;
use crate::cluster_rbac;
use crate::body::{self, ProxyBody};
use crate::error::ApiError;
use crate::request_info::{RequestInfo, Verb};
use crate::rewrite::selectors::LabelSelector;
use crate::stack::Proxy;

/// A request for one tenant CRD's objects, resolved.
pub struct Target<'a> {
    pub crd: Arc<Crd>,
    pub version: &'a Version,
    pub info: &'a RequestInfo,
    pub tenant: &'a str,
    /// Who asks (escalation checks of tenant RBAC writes).
    pub identity: &'a Identity,
    pub store: ObjectStore,
}

pub async fn handle(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
    crd: Arc<Crd>,
) -> Result<Response<ProxyBody>, ApiError> {
    // Every body here is written by vcproxy from the tenant's own prefix in etcd.
    let resp = handle_in_store(p, req, info, id, crd).await?;
    Ok(crate::media::vetted(resp, crate::media::Vetted::Json))
}

async fn handle_in_store(
    p: &Proxy,
    req: Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
    crd: Arc<Crd>,
) -> Result<Response<ProxyBody>, ApiError> {
    let tenant = id.tenant_name();
    let version = crd.served_version(&info.api_version).cloned().ok_or_else(|| {
        ApiError::not_found(format!(
            "the server could not find the requested resource ({}/{})",
            crd.group, info.api_version
        ))
    })?;
    if crd.namespaced {
        if let Some(ns) = &info.namespace {
            // The namespace must exist and be the tenant's, as on a real cluster.
            p.namespaces.resolve(&p.upstream, &p.metrics, tenant, ns).await?;
        } else if !matches!(info.verb, Verb::List | Verb::Watch) {
            return Err(ApiError::not_found(
                "the server could not find the requested resource: a namespace is required",
            ));
        }
    } else if info.namespace.is_some() {
        return Err(ApiError::not_found("the server could not find the requested resource (cluster-scoped)"));
    }
    let t = Target { crd: crd.clone(), version: &version, info, tenant, identity: id, store: p.crd_store(tenant)? };
    let table = wants_table(req.headers());
    match (info.verb, info.subresource.as_deref()) {
        (Verb::Get, None) => respond_object(&t, get(&t).await?, table, StatusCode::OK),
        (Verb::Get, Some("status")) if version.status_subresource => {
            respond_object(&t, get(&t).await?, false, StatusCode::OK)
        }
        (Verb::Get, Some("scale")) if version.scale.is_some() => {
            json_response(StatusCode::OK, &to_scale(&t, &get(&t).await?))
        }
        (Verb::List, None) => list(&t, table).await,
        (Verb::Watch, None) => watch(&t, table).await,
        (Verb::Create, None) => {
            if definitions::is_definitions(&crd) {
                definitions::check_quota(p, tenant).await?;
            }
            let obj = read_body(req).await?;
            let created = create(p, &t, obj).await?;
            respond_object(&t, created, false, StatusCode::CREATED)
        }
        (Verb::Update, sub) => {
            let obj = read_body(req).await?;
            let rv =
                obj["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse::<i64>().ok()).filter(|rv| *rv > 0);
            let updated = write(p, &t, sub, rv, |_current| Ok(obj.clone())).await?;
            if sub == Some("scale") {
                return json_response(StatusCode::OK, &to_scale(&t, &updated));
            }
            respond_object(&t, updated, false, StatusCode::OK)
        }
        (Verb::Patch, sub) => {
            let content_type =
                req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let bytes = body::collect_limited(req.into_body(), MAX_OBJECT_BYTES * 2).await?;
            // Neither CRDs nor RBAC kinds have merge-keyed lists: their strategic merge
            // patches are merge patches once directives are dropped.
            let strategic_ok = definitions::is_definitions(&crd) || cluster_rbac::is_served(&crd);
            let updated =
                write(p, &t, sub, None, |current| apply_patch(current, &content_type, &bytes, strategic_ok)).await?;
            if sub == Some("scale") {
                return json_response(StatusCode::OK, &to_scale(&t, &updated));
            }
            respond_object(&t, updated, false, StatusCode::OK)
        }
        (Verb::Delete, None) => {
            let bytes = body::collect_limited(req.into_body(), MAX_OBJECT_BYTES).await?;
            let precondition = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|o| o["preconditions"]["resourceVersion"].as_str().and_then(|s| s.parse::<i64>().ok()));
            let deleted = delete(p, &t, info.name.as_deref().unwrap_or_default(), precondition).await?;
            respond_object(&t, deleted, false, StatusCode::OK)
        }
        (Verb::DeleteCollection, None) => delete_collection(p, &t).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}{}",
            info.verb.as_str(),
            crd.plural,
            info.subresource.as_deref().map(|s| format!("/{s}")).unwrap_or_default()
        ))),
    }
}

fn wants_table(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn store_error(e: StoreError, t: &Target<'_>, name: &str) -> ApiError {
    let resource = format!("{}.{}", t.crd.plural, t.crd.group);
    match e {
        StoreError::NotFound => ApiError::not_found(format!("{resource} \"{name}\" not found")).with_details(name, &t.crd.plural),
        StoreError::AlreadyExists => ApiError::conflict_exists(format!("{resource} \"{name}\" already exists"), name, &t.crd.plural),
        StoreError::Conflict => ApiError::conflict(format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        )),
        StoreError::Gone { compacted } => ApiError::expired(format!("too old resource version (compacted at {compacted})")),
        StoreError::TooLarge => ApiError::payload_too_large("the object is larger than the 1.5 MiB limit"),
        StoreError::InvalidContinue => ApiError::bad_request("invalid continue token; start the list again"),
        StoreError::FutureRevision { requested } => {
            ApiError::timeout(format!("resourceVersion {requested} is newer than the store; retry"))
        }
        StoreError::Invalid(m) => ApiError::bad_request(m),
        StoreError::Etcd(m) => {
            ApiError::service_unavailable(format!("the tenant object store (etcd) is unavailable: {m}; retry shortly"))
        }
    }
}

fn key(t: &Target<'_>, name: &str) -> Result<super::store::Key, ApiError> {
    t.store
        .object_key(&t.crd.group, &t.crd.plural, t.info.namespace.as_deref(), name)
        .map_err(|e| ApiError::bad_request(format!("invalid name {name:?}: {e:?}")))
}

/// The object as the requested version sees it (conversion strategy None: only
/// apiVersion changes), with schema defaults applied.
fn present(t: &Target<'_>, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(format!("{}/{}", t.crd.group, t.version.name));
    if !t.version.schema.is_null() {
        schema::default(&mut obj, &t.version.schema);
    }
    obj
}

async fn get(t: &Target<'_>) -> Result<Value, ApiError> {
    let name = t.info.name.as_deref().unwrap_or_default();
    let obj = t.store.get(&key(t, name)?).await.map_err(|e| store_error(e, t, name))?;
    Ok(present(t, obj))
}

fn respond_object(
    t: &Target<'_>,
    obj: Value,
    table: bool,
    status: StatusCode,
) -> Result<Response<ProxyBody>, ApiError> {
    if table {
        return json_response(
            status,
            &printer::table(&t.version.columns, &[obj], printer::IncludeObject::Metadata, &now()),
        );
    }
    json_response(status, &obj)
}

pub fn json_response(status: StatusCode, v: &Value) -> Result<Response<ProxyBody>, ApiError> {
    let bytes = serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?;
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn read_body(req: Request<Incoming>) -> Result<Value, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = body::collect_limited(req.into_body(), MAX_OBJECT_BYTES * 2).await?;
    if content_type.contains("protobuf") {
        // kubectl's typed commands: only the tenant RBAC kinds are ever sent so.
        return cluster_rbac::proto::decode(&bytes);
    }
    if bytes.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::payload_too_large("the object is larger than the 1.5 MiB limit"));
    }
    let v: Value = if content_type.contains("yaml") {
        serde_yaml::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid YAML: {e}")))?
    } else {
        crate::rewrite::parse_json(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    Ok(v)
}

// ---- selectors ----------------------------------------------------------------

struct Filter {
    labels: LabelSelector,
    fields: Vec<(String, bool, String)>, // (field, equal?, value)
}

impl Filter {
    fn from(info: &RequestInfo) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(info.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut fields = Vec::new();
        for term in info.query.get("fieldSelector").unwrap_or("").split(',').filter(|t| !t.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid field selector term {term:?}")));
            };
            if !matches!(k, "metadata.name" | "metadata.namespace") {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k} (custom resources support metadata.name and metadata.namespace)"
                )));
            }
            fields.push((k.to_string(), eq, v.to_string()));
        }
        Ok(Filter { labels, fields })
    }

    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(&obj["metadata"]["labels"])
            && self.fields.iter().all(|(k, eq, v)| {
                let actual = match k.as_str() {
                    "metadata.name" => obj["metadata"]["name"].as_str().unwrap_or(""),
                    _ => obj["metadata"]["namespace"].as_str().unwrap_or(""),
                };
                (actual == v) == *eq
            })
    }
}

fn collection(t: &Target<'_>) -> Result<super::store::Prefix, ApiError> {
    t.store
        .collection_prefix(&t.crd.group, &t.crd.plural, t.info.namespace.as_deref())
        .map_err(|e| ApiError::bad_request(format!("{e:?}")))
}

async fn list(t: &Target<'_>, table: bool) -> Result<Response<ProxyBody>, ApiError> {
    let filter = Filter::from(t.info)?;
    let q = &t.info.query;
    let limit = q.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0);
    let rv = q.get("resourceVersion").and_then(|s| s.parse::<i64>().ok()).filter(|rv| *rv > 0);
    let exact = q.get("resourceVersionMatch") == Some("Exact");
    let pred = |o: &Value| filter.matches(o);
    let opts = ListOptions {
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).map(str::to_string),
        resource_version: if exact { rv } else { None },
        filter: Some(&pred),
    };
    let result = t.store.list(&collection(t)?, opts).await.map_err(|e| store_error(e, t, ""))?;
    let items: Vec<Value> = result.items.into_iter().map(|o| present(t, o)).collect();
    let mut meta = json!({ "resourceVersion": result.resource_version.to_string() });
    if let Some(c) = &result.continue_token {
        meta["continue"] = json!(c);
        if let Some(r) = result.remaining {
            meta["remainingItemCount"] = json!(r);
        }
    }
    if table {
        let mut tbl = printer::table(&t.version.columns, &items, include_object(q.get("includeObject")), &now());
        tbl["metadata"] = meta;
        return json_response(StatusCode::OK, &tbl);
    }
    json_response(
        StatusCode::OK,
        &json!({
            "apiVersion": format!("{}/{}", t.crd.group, t.version.name),
            "kind": t.crd.list_kind,
            "metadata": meta,
            "items": items,
        }),
    )
}

fn include_object(v: Option<&str>) -> printer::IncludeObject {
    match v {
        Some("None") => printer::IncludeObject::None,
        Some("Object") => printer::IncludeObject::Object,
        _ => printer::IncludeObject::Metadata,
    }
}

/// How often an idle watch gets a bookmark (when bookmarks are allowed).
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

async fn watch(t: &Target<'_>, table: bool) -> Result<Response<ProxyBody>, ApiError> {
    let filter = Filter::from(t.info)?;
    let q = &t.info.query;
    let prefix = collection(t)?;
    let bookmarks = q.flag("allowWatchBookmarks").unwrap_or(false);
    let send_initial = q.flag("sendInitialEvents").unwrap_or(false);
    let rv = q.get("resourceVersion").and_then(|s| s.parse::<i64>().ok()).filter(|rv| *rv > 0);
    let timeout = q.get("timeoutSeconds").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);

    // The state to start from: either replay after `rv` (410 if compacted), or
    // the current objects as ADDED events ("most recent", or sendInitialEvents).
    let mut initial = Vec::new();
    let from = match rv {
        Some(rv) if !send_initial => {
            t.store
                .list(&prefix, ListOptions { limit: Some(1), resource_version: Some(rv), ..Default::default() })
                .await
                .map_err(|e| store_error(e, t, ""))?;
            rv
        }
        _ => {
            let pred = |o: &Value| filter.matches(o);
            let snapshot = t
                .store
                .list(&prefix, ListOptions { filter: Some(&pred), ..Default::default() })
                .await
                .map_err(|e| store_error(e, t, ""))?;
            initial = snapshot.items;
            snapshot.resource_version
        }
    };

    let kind = t.crd.kind.clone();
    let api_version = format!("{}/{}", t.crd.group, t.version.name);
    let columns = t.version.columns.clone();
    let schema_v = t.version.schema.clone();
    let encode = move |kind_of_event: &str, mut obj: Value| -> Bytes {
        if kind_of_event != "BOOKMARK" {
            obj["apiVersion"] = json!(api_version);
            if !schema_v.is_null() {
                schema::default(&mut obj, &schema_v);
            }
            if table {
                obj = printer::table(&columns, &[obj], printer::IncludeObject::Metadata, &now());
            }
        }
        let mut line = serde_json::to_vec(&json!({ "type": kind_of_event, "object": obj })).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    let bookmark = {
        let (kind, api_version) = (kind.clone(), format!("{}/{}", t.crd.group, t.version.name));
        move |rv: i64, initial_end: bool| -> Value {
            let mut meta = json!({ "resourceVersion": rv.to_string() });
            if initial_end {
                meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
            }
            json!({ "kind": kind, "apiVersion": api_version, "metadata": meta })
        }
    };

    let events =
        t.store.watch_with(&prefix, WatchOpts { from_rv: Some(from), progress_interval: Some(BOOKMARK_EVERY) });
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        for obj in initial {
            if tx.send(Ok(encode("ADDED", obj))).await.is_err() {
                return;
            }
        }
        if send_initial && bookmarks {
            if tx.send(Ok(encode("BOOKMARK", bookmark(from, true)))).await.is_err() {
                return;
            }
        }
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        futures_util::pin_mut!(events);
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, events.next()).await {
                    Ok(n) => n,
                    Err(_) => return, // timeoutSeconds: end the watch cleanly
                },
                None => events.next().await,
            };
            let line = match next {
                None => return,
                Some(Ok(WatchEvent::Added(o))) if filter.matches(&o) => encode("ADDED", o),
                Some(Ok(WatchEvent::Modified(o))) if filter.matches(&o) => encode("MODIFIED", o),
                Some(Ok(WatchEvent::Deleted(o))) if filter.matches(&o) => encode("DELETED", o),
                Some(Ok(WatchEvent::Bookmark(rv))) if bookmarks => encode("BOOKMARK", bookmark(rv, false)),
                Some(Ok(_)) => continue,
                Some(Err(StoreError::Gone { .. })) => {
                    let status = ApiError::expired("too old resource version").status_json();
                    let v: Value = serde_json::from_slice(&status).unwrap_or_default();
                    encode("ERROR", v)
                }
                Some(Err(e)) => {
                    tracing::warn!(error = ?e, "custom resource watch ended");
                    return;
                }
            };
            if tx.send(Ok(line)).await.is_err() {
                return; // the client went away
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let body = http_body_util::StreamBody::new(stream.map(|r| r.map(hyper::body::Frame::data)));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::boxed(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

// ---- writes ---------------------------------------------------------------------

/// How long a tenant's byte total may be reused for the byte quota.
const BYTES_FRESH_FOR: Duration = Duration::from_secs(5);

/// Per-tenant bytes of stored objects, cached briefly for the byte quota.
#[derive(Default)]
pub struct ByteUsage(dashmap::DashMap<String, (std::time::Instant, i64)>);

impl ByteUsage {
    /// Drops the cached totals of tenants `keep` refuses (deleted tenants).
    pub fn forget_tenants(&self, keep: &dyn Fn(&str) -> bool) {
        self.0.retain(|tenant, _| keep(tenant));
    }

    pub async fn bytes(&self, tenant: &str, store: &ObjectStore) -> Result<i64, StoreError> {
        if let Some(entry) = self.0.get(tenant) {
            if entry.0.elapsed() < BYTES_FRESH_FOR {
                return Ok(entry.1);
            }
        }
        let (_, bytes) = store.count(&store.objects_prefix()).await?;
        self.0.insert(tenant.to_string(), (std::time::Instant::now(), bytes));
        Ok(bytes)
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Everything but metadata and status: a change here bumps generation.
fn spec_part(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Prune, default and validate an object for writing; 422 on schema errors.
fn admit(t: &Target<'_>, obj: &mut Value) -> Result<(), ApiError> {
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    if kind != t.crd.kind {
        return Err(ApiError::bad_request(format!("expected kind {:?}, got {kind:?}", t.crd.kind)));
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    if api_version != format!("{}/{}", t.crd.group, t.version.name) {
        return Err(ApiError::bad_request(format!(
            "apiVersion {api_version:?} does not match the request's {}/{}",
            t.crd.group, t.version.name
        )));
    }
    if t.version.schema.is_null() {
        return Ok(());
    }
    let pruned = schema::prune(obj, &t.version.schema);
    if !pruned.is_empty() && t.info.query.get("fieldValidation") == Some("Strict") {
        return Err(ApiError::bad_request(format!(
            "strict decoding error: unknown field{} {}",
            if pruned.len() > 1 { "s" } else { "" },
            pruned.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ")
        )));
    }
    schema::default(obj, &t.version.schema);
    let errors = schema::validate(obj, &t.version.schema);
    if !errors.is_empty() {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let status = schema::to_status(&t.crd.group, &t.crd.kind, &name, &errors);
        return Err(ApiError::from_status(status));
    }
    Ok(())
}

async fn create(p: &Proxy, t: &Target<'_>, mut obj: Value) -> Result<Value, ApiError> {
    if t.crd.is_terminating() {
        return Err(ApiError::method_not_allowed(format!(
            "create not allowed while custom resource definition {} is terminating",
            t.crd.name
        )));
    }
    let meta = obj["metadata"].as_object().cloned().unwrap_or_default();
    let mut name = meta.get("name").and_then(|v| v.as_str()).unwrap_or("").to_string();
    if name.is_empty() {
        match meta.get("generateName").and_then(|v| v.as_str()).filter(|g| !g.is_empty()) {
            Some(prefix) => name = crate::names::generate_name(prefix, 253),
            None => {
                return Err(ApiError::invalid(format!(
                    "{}.{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    t.crd.kind, t.crd.group
                )))
            }
        }
    }
    let valid_name = if cluster_rbac::is_served(&t.crd) { cluster_rbac::validate_name(&name) } else { validate_object_name(&name) };
    valid_name.map_err(|m| {
        ApiError::invalid(format!(
            "{}.{} {name:?} is invalid: metadata.name: Invalid value: {name:?}: {m}",
            t.crd.kind, t.crd.group
        ))
    })?;
    if let (Some(ns), Some(want)) = (meta.get("namespace").and_then(|v| v.as_str()), t.info.namespace.as_deref()) {
        if !ns.is_empty() && ns != want {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    // Quotas (from the policy): objects and bytes per tenant.
    let limits = p.policy.get().limits(t.tenant).clone();
    // The object count is exact (one count-only read); the byte total is
    // re-read at most every few seconds, since summing it reads every value.
    let count = t.store.count_keys(&t.store.objects_prefix()).await.map_err(|e| store_error(e, t, &name))?;
    let bytes = p.crd_bytes.bytes(t.tenant, &t.store).await.map_err(|e| store_error(e, t, &name))?;
    if count as usize >= limits.max_objects || bytes as u64 >= limits.max_object_bytes {
        return Err(ApiError::forbidden(format!(
            "custom object quota exceeded for tenant {}: {count} objects, {bytes} bytes (limits {} objects, {} bytes)",
            t.tenant, limits.max_objects, limits.max_object_bytes
        )));
    }

    let m = obj["metadata"].as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut m: Map<String, Value> = m;
    m.insert("name".into(), json!(name));
    if let Some(ns) = &t.info.namespace {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("creationTimestamp".into(), json!(now()));
    m.insert("generation".into(), json!(1));
    for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"] {
        m.remove(k);
    }
    obj["metadata"] = Value::Object(m);
    if t.version.status_subresource {
        obj.as_object_mut().map(|o| o.remove("status"));
    }
    admit(t, &mut obj)?;
    if definitions::is_definitions(&t.crd) {
        definitions::admit(p, t.tenant, &mut obj, None)?;
    }
    if cluster_rbac::is_served(&t.crd) {
        cluster_rbac::admit(p, t.identity, &t.crd, &mut obj, None).await?;
    }
    if t.info.query.get("dryRun").is_some() {
        return Ok(obj);
    }
    let created = t.store.create(&key(t, &name)?, obj).await.map_err(|e| store_error(e, t, &name))?;
    stored(p, t, &name, Some(&created)).await;
    Ok(present(t, created))
}

/// After the store took a write (`Some(object)`) or a delete (`None`): what the
/// kinds vcproxy serves itself need to know (the CRD index; the tenant's RBAC upstream).
async fn stored(p: &Proxy, t: &Target<'_>, name: &str, object: Option<&Value>) {
    if definitions::is_definitions(&t.crd) {
        p.crds.observe(t.tenant, name, object);
    }
    if cluster_rbac::is_served(&t.crd) {
        cluster_rbac::materialize::changed(p, t.tenant).await;
    }
}

/// Update, update of /status, or patch: read, compute, compare-and-swap; retried
/// on conflicts only when the client gave no resourceVersion.
async fn write(
    p: &Proxy,
    t: &Target<'_>,
    subresource: Option<&str>,
    expected_rv: Option<i64>,
    compute: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let name = t.info.name.clone().unwrap_or_default();
    match subresource {
        None => {}
        Some("status") if t.version.status_subresource => {}
        Some("scale") if t.version.scale.is_some() => {}
        Some(s) => return Err(ApiError::not_found(format!("{}/{s} is not served", t.crd.plural))),
    }
    let k = key(t, &name)?;
    for _ in 0..16 {
        let current = t.store.get(&k).await.map_err(|e| store_error(e, t, &name))?;
        let current_rv = super::store::resource_version_of(&current).unwrap_or(0);
        if let Some(rv) = expected_rv {
            if rv != current_rv {
                return Err(store_error(StoreError::Conflict, t, &name));
            }
        }
        let presented = present(t, current.clone());
        let mut next = match subresource {
            Some("scale") => from_scale(t, &presented, &compute(&to_scale(t, &presented))?)?,
            _ => compute(&presented)?,
        };
        if let Some(rv) =
            next["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse::<i64>().ok()).filter(|rv| *rv > 0)
        {
            if rv != current_rv {
                return Err(store_error(StoreError::Conflict, t, &name));
            }
        }
        merge_update(t, subresource, &current, &mut next)?;
        admit(t, &mut next)?;
        if definitions::is_definitions(&t.crd) {
            definitions::admit(p, t.tenant, &mut next, Some(&current))?;
        }
        if cluster_rbac::is_served(&t.crd) {
            cluster_rbac::admit(p, t.identity, &t.crd, &mut next, Some(&current)).await?;
        }
        if t.info.query.get("dryRun").is_some() {
            return Ok(next);
        }
        // The last finalizer of a deleting object is gone: it goes now.
        let deleting = next["metadata"]["deletionTimestamp"].is_string();
        let finalizers_left = next["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left {
            if definitions::is_definitions(&t.crd) {
                definitions::delete_objects(p, t.tenant, &current).await?;
            }
            return match t.store.delete(&k, Some(current_rv)).await {
                Ok(last) => {
                    stored(p, t, &name, None).await;
                    Ok(present(t, last))
                }
                Err(StoreError::Conflict) if expected_rv.is_none() => continue,
                Err(e) => Err(store_error(e, t, &name)),
            };
        }
        match t.store.update(&k, next, Some(current_rv)).await {
            Ok(updated) => {
                stored(p, t, &name, Some(&updated)).await;
                return Ok(present(t, updated));
            }
            Err(StoreError::Conflict) if expected_rv.is_none() => continue,
            Err(e) => return Err(store_error(e, t, &name)),
        }
    }
    Err(store_error(StoreError::Conflict, t, &name))
}

/// Carries over what a write may not change, and bumps generation.
fn merge_update(t: &Target<'_>, subresource: Option<&str>, current: &Value, next: &mut Value) -> Result<(), ApiError> {
    if !next.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let name = current["metadata"]["name"].clone();
    if next["metadata"]["name"].as_str().is_some_and(|n| Some(n) != name.as_str()) {
        return Err(ApiError::bad_request("the name of the object does not match the name in the URL"));
    }
    if t.version.status_subresource {
        match subresource {
            // /status changes status only.
            Some("status") => {
                let status = next.get("status").cloned();
                *next = current.clone();
                match status {
                    Some(s) => next["status"] = s,
                    None => {
                        next.as_object_mut().map(|o| o.remove("status"));
                    }
                }
            }
            // The main resource ignores status.
            _ => match current.get("status") {
                Some(s) => next["status"] = s.clone(),
                None => {
                    next.as_object_mut().map(|o| o.remove("status"));
                }
            },
        }
    }
    let cm = &current["metadata"];
    let meta = next["metadata"].as_object_mut().ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match cm.get(k) {
            Some(v) if !v.is_null() => {
                meta.insert(k.into(), v.clone());
            }
            _ => {
                meta.remove(k);
            }
        }
    }
    meta.remove("resourceVersion");
    meta.remove("managedFields");
    next["apiVersion"] = current["apiVersion"].clone();
    next["kind"] = current["kind"].clone();
    if spec_part(next) != spec_part(current) {
        let generation = cm["generation"].as_i64().unwrap_or(1) + 1;
        next["metadata"]["generation"] = json!(generation);
    }
    Ok(())
}

/// Applies a patch. `strategic_ok`: the CRD type itself, whose strategic merge
/// patches (what `kubectl apply` sends for CRDs) have no merge-keyed lists, so
/// they are merge patches once directives are dropped.
pub(crate) fn apply_patch(current: &Value, content_type: &str, bytes: &[u8], strategic_ok: bool) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    let ct = content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "application/json-patch+json" => {
            let patch: json_patch::Patch =
                serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &patch.0).map_err(|e| ApiError::invalid(format!("the JSON patch could not be applied: {e}")))?;
        }
        "application/merge-patch+json" => {
            let patch: Value =
                serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid merge patch: {e}")))?;
            json_patch::merge(&mut doc, &patch);
        }
        // Server-side apply for the common single-manager case: the applied
        // configuration is merged into the live object.
        "application/apply-patch+yaml" | "application/apply-patch+json" => {
            let patch: Value = serde_yaml::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid apply patch: {e}")))?;
            json_patch::merge(&mut doc, &patch);
        }
        "application/strategic-merge-patch+json" if strategic_ok => {
            let mut patch: Value =
                serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))?;
            drop_directives(&mut patch);
            json_patch::merge(&mut doc, &patch);
        }
        "application/strategic-merge-patch+json" => {
            return Err(ApiError::new_unsupported(
                "strategic merge patch is not supported for custom resources; use a merge patch (--type=merge) or a JSON patch",
            ))
        }
        other => return Err(ApiError::new_unsupported(format!("unsupported patch content type {other:?}"))),
    }
    Ok(doc)
}

/// Removes strategic-merge-patch directives (`$patch`, `$setElementOrder/…`, …).
fn drop_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(drop_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_directives),
        _ => {}
    }
}

async fn delete(p: &Proxy, t: &Target<'_>, name: &str, precondition: Option<i64>) -> Result<Value, ApiError> {
    let k = key(t, name)?;
    loop {
        let current = t.store.get(&k).await.map_err(|e| store_error(e, t, name))?;
        let rv = super::store::resource_version_of(&current).unwrap_or(0);
        if precondition.is_some_and(|p| p != rv) {
            return Err(store_error(StoreError::Conflict, t, name));
        }
        let has_finalizers = current["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
        if t.info.query.get("dryRun").is_some() {
            return Ok(present(t, current));
        }
        if has_finalizers {
            if current["metadata"]["deletionTimestamp"].is_string() {
                return Ok(present(t, current));
            }
            let mut marked = current.clone();
            marked["metadata"]["deletionTimestamp"] = json!(now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            marked["metadata"].as_object_mut().map(|m| m.remove("resourceVersion"));
            match t.store.update(&k, marked, Some(rv)).await {
                Ok(o) => return Ok(present(t, o)),
                Err(StoreError::Conflict) if precondition.is_none() => continue,
                Err(e) => return Err(store_error(e, t, name)),
            }
        }
        if definitions::is_definitions(&t.crd) {
            definitions::delete_objects(p, t.tenant, &current).await?;
        }
        match t.store.delete(&k, Some(rv)).await {
            Ok(last) => {
                stored(p, t, name, None).await;
                return Ok(present(t, last));
            }
            Err(StoreError::Conflict) if precondition.is_none() => continue,
            Err(e) => return Err(store_error(e, t, name)),
        }
    }
}

async fn delete_collection(p: &Proxy, t: &Target<'_>) -> Result<Response<ProxyBody>, ApiError> {
    let filter = Filter::from(t.info)?;
    let pred = |o: &Value| filter.matches(o);
    let all = t
        .store
        .list(&collection(t)?, ListOptions { filter: Some(&pred), ..Default::default() })
        .await
        .map_err(|e| store_error(e, t, ""))?;
    let mut deleted = Vec::new();
    for obj in all.items {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
        let info = RequestInfo { namespace: ns, ..t.info.clone() };
        let target =
            Target { crd: t.crd.clone(), info: &info, store: t.store.clone(), ..*t };
        match delete(p, &target, &name, None).await {
            Ok(o) => deleted.push(o),
            Err(e) if e.code == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    json_response(
        StatusCode::OK,
        &json!({"apiVersion": format!("{}/{}", t.crd.group, t.version.name), "kind": t.crd.list_kind, "metadata": {}, "items": deleted}),
    )
}

// ---- scale ------------------------------------------------------------------------

fn path_get<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    path.trim_start_matches('.').split('.').try_fold(obj, |v, k| v.get(k))
}

fn path_set(obj: &mut Value, path: &str, value: Value) {
    let keys: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for k in &keys[..keys.len() - 1] {
        if !cur[*k].is_object() {
            cur[*k] = json!({});
        }
        cur = &mut cur[*k];
    }
    cur[keys[keys.len() - 1]] = value;
}

fn to_scale(t: &Target<'_>, obj: &Value) -> Value {
    let scale = t.version.scale.clone().unwrap_or_default();
    let spec_path = scale["specReplicasPath"].as_str().unwrap_or(".spec.replicas");
    let status_path = scale["statusReplicasPath"].as_str().unwrap_or(".status.replicas");
    let mut s = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"], "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": { "replicas": path_get(obj, spec_path).cloned().unwrap_or(json!(0)) },
        "status": { "replicas": path_get(obj, status_path).cloned().unwrap_or(json!(0)) },
    });
    if let Some(sel) = scale["labelSelectorPath"].as_str().and_then(|p| path_get(obj, p)) {
        s["status"]["selector"] = sel.clone();
    }
    s
}

fn from_scale(t: &Target<'_>, obj: &Value, scale: &Value) -> Result<Value, ApiError> {
    let spec_path = t.version.scale.as_ref().and_then(|s| s["specReplicasPath"].as_str()).unwrap_or(".spec.replicas");
    let replicas =
        scale["spec"]["replicas"].as_i64().ok_or_else(|| ApiError::invalid("Scale.spec.replicas: Required value"))?;
    if replicas < 0 {
        return Err(ApiError::invalid("Scale.spec.replicas: Invalid value: must be greater than or equal to 0"));
    }
    let mut next = obj.clone();
    path_set(&mut next, spec_path, json!(replicas));
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str().filter(|s| !s.is_empty()) {
        next["metadata"]["resourceVersion"] = json!(rv);
    }
    Ok(next)
}

// ---- names -------------------------------------------------------------------------

/// Custom resource names are DNS-1123 subdomains (as kube-apiserver requires).
fn validate_object_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        });
    if ok {
        Ok(())
    } else {
        Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into())
    }
}
