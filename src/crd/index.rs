//! Every tenant's CRDs, in memory, kept current by an etcd watch.
//!
//! Routing asks it whether `(tenant, group, resource)` is a tenant custom
//! resource, and discovery lists a tenant's groups from it. Any replica sees a
//! CRD created or deleted through another within the watch latency.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use etcd_client::{EventType, GetOptions, WatchOptions};
use serde_json::Value;

/// One served version of a tenant CRD.
#[derive(Debug, Clone)]
pub struct Version {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub schema: Value,
    pub status_subresource: bool,
    /// `subresources.scale`, if declared.
    pub scale: Option<Value>,
    pub columns: Vec<Value>,
}

/// A tenant CRD as routing, discovery and the object handler need it.
#[derive(Debug, Clone)]
pub struct Crd {
    pub name: String,
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub versions: Vec<Version>,
    /// The stored CRD object.
    pub object: Value,
}

impl Crd {
    /// A kind vcproxy stores and serves itself as if it were a CRD (CRDs
    /// themselves, the tenant's ClusterRoles and ClusterRoleBindings): cluster-scoped,
    /// `v1` only, no schema; plural `<singular>s`.
    pub fn built_in(group: &str, singular: &str, kind: &str, status_subresource: bool, columns: Vec<Value>) -> Crd {
        let plural = format!("{singular}s");
        Crd {
            name: format!("{plural}.{group}"),
            group: group.into(),
            plural,
            singular: singular.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            short_names: vec![],
            categories: vec![],
            namespaced: false,
            versions: vec![Version {
                name: "v1".into(),
                served: true,
                storage: true,
                schema: Value::Null,
                status_subresource,
                scale: None,
                columns,
            }],
            object: Value::Null,
        }
    }

    pub fn from_object(obj: &Value) -> Option<Crd> {
        let spec = &obj["spec"];
        let names = &spec["names"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
        };
        let versions = spec["versions"]
            .as_array()?
            .iter()
            .map(|v| Version {
                name: v["name"].as_str().unwrap_or_default().to_string(),
                served: v["served"].as_bool().unwrap_or(false),
                storage: v["storage"].as_bool().unwrap_or(false),
                schema: v["schema"]["openAPIV3Schema"].clone(),
                status_subresource: v["subresources"]["status"].is_object(),
                scale: v["subresources"]["scale"].as_object().map(|m| Value::Object(m.clone())),
                columns: v["additionalPrinterColumns"].as_array().cloned().unwrap_or_default(),
            })
            .collect();
        let kind = names["kind"].as_str()?.to_string();
        Some(Crd {
            name: obj["metadata"]["name"].as_str()?.to_string(),
            group: spec["group"].as_str()?.to_string(),
            plural: names["plural"].as_str()?.to_string(),
            singular: names["singular"].as_str().map(str::to_string).unwrap_or_else(|| kind.to_lowercase()),
            list_kind: names["listKind"].as_str().map(str::to_string).unwrap_or_else(|| format!("{kind}List")),
            kind,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            versions,
            object: obj.clone(),
        })
    }

    pub fn served_version(&self, version: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.served && v.name == version)
    }

    /// The storage version, else the first served one.
    pub fn preferred_version(&self) -> Option<&Version> {
        self.versions.iter().find(|v| v.storage && v.served).or_else(|| self.versions.iter().find(|v| v.served))
    }

    /// Being deleted: no new objects, and it will disappear shortly.
    pub fn is_terminating(&self) -> bool {
        self.object["metadata"]["deletionTimestamp"].is_string()
    }
}

/// One tenant's CRDs.
#[derive(Debug, Default, Clone)]
pub struct TenantCrds {
    pub by_name: BTreeMap<String, Arc<Crd>>,
}

impl TenantCrds {
    pub fn find(&self, group: &str, resource: &str) -> Option<Arc<Crd>> {
        self.by_name.get(&format!("{resource}.{group}")).cloned()
    }

    pub fn groups(&self) -> BTreeSet<String> {
        self.by_name.values().map(|c| c.group.clone()).collect()
    }

    pub fn in_group(&self, group: &str) -> Vec<Arc<Crd>> {
        self.by_name.values().filter(|c| c.group == group).cloned().collect()
    }
}

pub struct CrdIndex {
    client: etcd_client::Client,
    /// `<prefix>/tenants/`
    tenants_prefix: String,
    tenants: RwLock<BTreeMap<String, Arc<TenantCrds>>>,
    ready: AtomicBool,
}

impl CrdIndex {
    pub fn new(client: etcd_client::Client, etcd_prefix: &str) -> Arc<CrdIndex> {
        Arc::new(CrdIndex {
            client,
            tenants_prefix: format!("{etcd_prefix}/tenants/"),
            tenants: RwLock::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
        })
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn tenant(&self, tenant: &str) -> Arc<TenantCrds> {
        self.tenants.read().unwrap().get(tenant).cloned().unwrap_or_default()
    }

    /// Each tenant with CRDs, and the API groups they define.
    pub fn groups_by_tenant(&self) -> BTreeMap<String, BTreeSet<String>> {
        let tenants = self.tenants.read().unwrap();
        tenants.iter().map(|(t, crds)| (t.clone(), crds.groups())).filter(|(_, g)| !g.is_empty()).collect()
    }

    /// Records a CRD object seen in etcd (or its deletion), then makes the
    /// change visible at once to the replica that wrote it.
    pub fn observe(&self, tenant: &str, name: &str, object: Option<&Value>) {
        let mut tenants = self.tenants.write().unwrap();
        let mut crds = tenants.get(tenant).map(|t| (**t).clone()).unwrap_or_default();
        match object.and_then(Crd::from_object) {
            Some(crd) => {
                crds.by_name.insert(name.to_string(), Arc::new(crd));
            }
            None => {
                crds.by_name.remove(name);
            }
        }
        tenants.insert(tenant.to_string(), Arc::new(crds));
    }

    /// `(tenant, crd name)` of a CRD's key: tenant CRDs are stored as
    /// cluster-scoped `apiextensions.k8s.io/customresourcedefinitions` objects,
    /// `<prefix>/tenants/<t>/objects/apiextensions.k8s.io/customresourcedefinitions/_/<name>`.
    fn parse_key<'a>(&self, key: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = key.strip_prefix(self.tenants_prefix.as_str())?;
        let (tenant, rest) = rest.split_once('/')?;
        let name = rest.strip_prefix("objects/apiextensions.k8s.io/customresourcedefinitions/_/")?;
        (!name.contains('/')).then_some((tenant, name))
    }

    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.list_and_watch().await {
                tracing::warn!(error = %e, "CRD watch failed; re-listing");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn list_and_watch(&self) -> anyhow::Result<()> {
        let mut client = self.client.clone();
        let resp = client.get(self.tenants_prefix.clone(), Some(GetOptions::new().with_prefix())).await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        let mut fresh: BTreeMap<String, TenantCrds> = BTreeMap::new();
        for kv in resp.kvs() {
            let key = kv.key_str()?;
            let Some((tenant, name)) = self.parse_key(key) else { continue };
            if let Some(crd) = serde_json::from_slice::<Value>(kv.value()).ok().as_ref().and_then(Crd::from_object) {
                fresh.entry(tenant.to_string()).or_default().by_name.insert(name.to_string(), Arc::new(crd));
            }
        }
        *self.tenants.write().unwrap() = fresh.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        self.ready.store(true, Ordering::Release);

        let opts = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
        let mut stream = client.watch(self.tenants_prefix.clone(), Some(opts)).await?;
        while let Some(resp) = stream.message().await? {
            if resp.canceled() {
                anyhow::bail!("watch canceled: {}", resp.cancel_reason());
            }
            for event in resp.events() {
                let Some(kv) = event.kv() else { continue };
                let key = kv.key_str()?;
                let Some((tenant, name)) = self.parse_key(key) else { continue };
                match event.event_type() {
                    EventType::Put => {
                        let obj = serde_json::from_slice::<Value>(kv.value()).ok();
                        self.observe(tenant, name, obj.as_ref());
                    }
                    EventType::Delete => self.observe(tenant, name, None),
                }
            }
        }
        Ok(())
    }
}
