//! Which resources the super apiserver serves, and whether each is namespaced.
//!
//! Routing needs to know, for a path without a namespace, whether the resource
//! is cluster-scoped (refused or read-only) or namespaced (a cross-namespace
//! list that must be confined to the tenant). Learned from aggregated discovery
//! as vcproxy itself, refreshed periodically and on a miss.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::upstream::Upstream;

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// Misses (unknown resources) refresh at most this often.
const MISS_REFRESH: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

#[derive(Default)]
pub struct Scopes {
    /// (group, resource) → scope; subresources are not listed.
    map: RwLock<HashMap<(String, String), Scope>>,
    refreshed: RwLock<Option<Instant>>,
}

impl Scopes {
    pub fn new() -> Arc<Scopes> {
        Arc::new(Scopes::default())
    }

    /// True if the super apiserver serves any resource in `group` (a tenant
    /// CRD may not claim it). The core group counts as served.
    pub fn serves_group(&self, group: &str) -> bool {
        group.is_empty() || self.map.read().unwrap().keys().any(|(g, _)| g == group)
    }

    pub fn get(&self, group: &str, resource: &str) -> Option<Scope> {
        self.map.read().unwrap().get(&(group.to_string(), resource.to_string())).copied()
    }

    /// The scope of a resource, refreshing discovery once if it is not known yet
    /// (an operator may just have installed a CRD).
    pub async fn lookup(&self, upstream: &Upstream, metrics: &Metrics, group: &str, resource: &str) -> Option<Scope> {
        if let Some(scope) = self.get(group, resource) {
            return Some(scope);
        }
        let stale = self.refreshed.read().unwrap().is_none_or(|at| at.elapsed() > MISS_REFRESH);
        if stale {
            if let Err(e) = self.refresh(upstream, metrics).await {
                tracing::warn!(error = %e, "refreshing discovery failed");
            }
        }
        self.get(group, resource)
    }

    pub async fn refresh(&self, upstream: &Upstream, metrics: &Metrics) -> Result<(), ApiError> {
        let mut map = HashMap::new();
        for path in ["/api", "/apis"] {
            let doc = fetch(upstream, metrics, path).await?;
            parse_aggregated(&doc, &mut map);
        }
        *self.map.write().unwrap() = map;
        *self.refreshed.write().unwrap() = Some(Instant::now());
        Ok(())
    }

    /// Refreshes every `every` forever.
    pub async fn run(self: Arc<Self>, upstream: Arc<Upstream>, metrics: Arc<Metrics>, every: Duration) {
        loop {
            if let Err(e) = self.refresh(&upstream, &metrics).await {
                tracing::warn!(error = %e, "refreshing discovery failed");
            }
            tokio::time::sleep(every).await;
        }
    }
}

async fn fetch(upstream: &Upstream, metrics: &Metrics, path: &str) -> Result<serde_json::Value, ApiError> {
    use http_body_util::BodyExt;
    let req = http::Request::get(upstream.uri(path)?)
        .header(http::header::ACCEPT, AGGREGATED)
        .body(crate::body::empty())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = upstream.send(req, metrics).await?;
    if !resp.status().is_success() {
        return Err(ApiError::bad_gateway(format!("discovery {path} answered {}", resp.status())));
    }
    let bytes = resp.into_body().collect().await.map_err(|e| ApiError::bad_gateway(e.to_string()))?.to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_gateway(format!("discovery {path}: {e}")))
}

/// Reads an `APIGroupDiscoveryList` into (group, resource) → scope.
fn parse_aggregated(doc: &serde_json::Value, map: &mut HashMap<(String, String), Scope>) {
    for group in doc["items"].as_array().into_iter().flatten() {
        let name = group["metadata"]["name"].as_str().unwrap_or_default();
        for version in group["versions"].as_array().into_iter().flatten() {
            for res in version["resources"].as_array().into_iter().flatten() {
                let (Some(resource), Some(scope)) = (res["resource"].as_str(), res["scope"].as_str()) else {
                    continue;
                };
                let scope = if scope == "Namespaced" { Scope::Namespaced } else { Scope::Cluster };
                map.insert((name.to_string(), resource.to_string()), scope);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aggregated_discovery() {
        let doc = serde_json::json!({"items": [
            {"metadata": {"name": ""}, "versions": [{"version": "v1", "resources": [
                {"resource": "pods", "scope": "Namespaced"}, {"resource": "nodes", "scope": "Cluster"}]}]},
            {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
                {"resource": "deployments", "scope": "Namespaced"}]}]}
        ]});
        let mut map = HashMap::new();
        parse_aggregated(&doc, &mut map);
        assert_eq!(map[&("".into(), "pods".into())], Scope::Namespaced);
        assert_eq!(map[&("".into(), "nodes".into())], Scope::Cluster);
        assert_eq!(map[&("apps".into(), "deployments".into())], Scope::Namespaced);
    }
}
