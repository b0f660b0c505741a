//! Which super namespaces belong to which tenant, kept current by a watch.
//!
//! Every namespaced request checks ownership here before anything is forwarded;
//! a miss (a namespace created a moment ago on another replica) falls back to
//! one GET, so the cache speeds things up but is never the only proof.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::error::ApiError;
use crate::mapping::{self, Owner, TENANT_LABEL, VIRTUAL_NAME_LABEL};
use crate::metrics::Metrics;
use crate::upstream::{proxy_json, Upstream};

const SELECTOR: &str = "labelSelector=vcproxy.io%2Ftenant";

#[derive(Default)]
pub struct NamespaceCache {
    /// super namespace name → owner
    owners: DashMap<String, Owner>,
    ready: AtomicBool,
}

/// The owner a namespace object proves, from its name and labels.
pub fn owner_of(ns: &Value) -> Option<Owner> {
    let meta = &ns["metadata"];
    Owner::of(
        meta["name"].as_str()?,
        meta["labels"][TENANT_LABEL].as_str(),
        meta["labels"][VIRTUAL_NAME_LABEL].as_str(),
    )
}

impl NamespaceCache {
    pub fn new() -> Arc<NamespaceCache> {
        Arc::new(NamespaceCache::default())
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn owner(&self, super_ns: &str) -> Option<Owner> {
        self.owners.get(super_ns).map(|o| o.clone())
    }

    /// The tenant's namespaces (virtual names), sorted.
    pub fn of_tenant(&self, tenant: &str) -> Vec<String> {
        let mut names: Vec<String> =
            self.owners.iter().filter(|e| e.value().tenant == tenant).map(|e| e.value().virtual_ns.clone()).collect();
        names.sort();
        names
    }

    /// Records a namespace object seen upstream (or forgets it).
    pub fn observe(&self, ns: &Value, deleted: bool) {
        let Some(name) = ns["metadata"]["name"].as_str() else { return };
        match owner_of(ns) {
            Some(owner) if !deleted => {
                self.owners.insert(name.to_string(), owner);
            }
            _ => {
                self.owners.remove(name);
            }
        }
    }

    /// The super namespace of the tenant's virtual namespace `virtual_ns`, if
    /// it exists and is the tenant's; otherwise the 404 kube-apiserver gives.
    pub async fn resolve(
        &self,
        upstream: &Upstream,
        metrics: &Metrics,
        tenant: &str,
        virtual_ns: &str,
    ) -> Result<String, ApiError> {
        let super_ns = mapping::to_super(tenant, virtual_ns);
        if self.owner(&super_ns).is_some_and(|o| o.tenant == tenant && o.virtual_ns == virtual_ns) {
            return Ok(super_ns);
        }
        let (status, body) =
            proxy_json(upstream, metrics, Method::GET, &format!("/api/v1/namespaces/{super_ns}"), None).await?;
        if status == StatusCode::OK {
            let ns: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
            self.observe(&ns, false);
            if owner_of(&ns).is_some_and(|o| o.tenant == tenant && o.virtual_ns == virtual_ns) {
                return Ok(super_ns);
            }
        }
        Err(namespace_not_found(virtual_ns))
    }

    /// Lists, then watches, forever; re-lists after any error.
    pub async fn run(self: Arc<Self>, upstream: Arc<Upstream>, metrics: Arc<Metrics>) {
        loop {
            if let Err(e) = self.list_and_watch(&upstream, &metrics).await {
                tracing::warn!(error = %e, "namespace watch failed; re-listing");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn list_and_watch(&self, upstream: &Upstream, metrics: &Metrics) -> Result<(), ApiError> {
        let (status, body) =
            proxy_json(upstream, metrics, Method::GET, &format!("/api/v1/namespaces?{SELECTOR}"), None).await?;
        if status != StatusCode::OK {
            return Err(ApiError::bad_gateway(format!("listing namespaces: {status}")));
        }
        let list: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(e.to_string()))?;
        let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
        self.owners.clear();
        for ns in list["items"].as_array().into_iter().flatten() {
            self.observe(ns, false);
        }
        self.ready.store(true, Ordering::Release);

        let path = format!("/api/v1/namespaces?{SELECTOR}&watch=true&allowWatchBookmarks=true&resourceVersion={rv}");
        let req = http::Request::get(upstream.uri(&path)?)
            .header(http::header::ACCEPT, "application/json")
            .body(crate::body::empty())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let resp = upstream.send(req, metrics).await?;
        if resp.status() != StatusCode::OK {
            return Err(ApiError::bad_gateway(format!("watching namespaces: {}", resp.status())));
        }
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::bad_gateway(e.to_string()))?;
            let Some(data) = frame.data_ref() else { continue };
            buf.extend_from_slice(data);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let event: Value = match serde_json::from_slice(&line) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                match event["type"].as_str() {
                    Some("ADDED") | Some("MODIFIED") => self.observe(&event["object"], false),
                    Some("DELETED") => self.observe(&event["object"], true),
                    Some("BOOKMARK") => {}
                    _ => return Err(ApiError::bad_gateway(format!("namespace watch: {}", event["object"]))),
                }
            }
        }
        Ok(())
    }
}

/// kube-apiserver's 404 for a namespace, in the tenant's words.
pub fn namespace_not_found(virtual_ns: &str) -> ApiError {
    not_found("namespaces", virtual_ns)
}

/// A NotFound `Status` with `details` as kube-apiserver sends it.
pub fn not_found(resource: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("{resource} \"{name}\" not found")).with_details(name, resource)
}
