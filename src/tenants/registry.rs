//! The in-memory view of all tenants that authentication reads.
//!
//! Loaded from etcd at start and kept current by a watch, so a tenant created
//! or deleted through any replica's CLI is seen within the watch latency (well
//! under a second) without a restart. If etcd goes away the last view stays in
//! force; the loop re-lists and re-watches when it comes back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use etcd_client::{EventType, WatchOptions};

use super::{hash_token, Store, TenantMeta, TokenHash, UserRecord};
use crate::oidc::{OidcUser, OidcVerifier};

/// One tenant as authentication sees it.
#[derive(Debug)]
pub struct Tenant {
    pub meta: TenantMeta,
    /// token hash → the user it belongs to
    tokens: HashMap<TokenHash, Arc<User>>,
    /// The tenant's OIDC issuer's verifier, if it has one (rebuilt only when the
    /// issuer's configuration changes, so fetched keys survive user changes).
    pub oidc: Option<Arc<OidcVerifier>>,
}

/// A tenant user as authentication sees it: its name and groups (tenant view).
#[derive(Debug, PartialEq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

pub struct Registry {
    store: Store,
    tenants: DashMap<String, Arc<Tenant>>,
    /// Every registry key as last seen, so a tenant can be rebuilt from its keys.
    raw: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Set once the first full list has been loaded (drives `/readyz`).
    ready: AtomicBool,
}

impl Registry {
    pub fn new(store: Store) -> Arc<Registry> {
        Arc::new(Registry {
            store,
            tenants: DashMap::new(),
            raw: Mutex::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Every tenant's name, sorted.
    pub fn tenant_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tenants.iter().map(|t| t.key().clone()).collect();
        names.sort();
        names
    }

    pub fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        self.tenants.get(name).map(|t| t.clone())
    }

    /// The user a bearer token belongs to in `tenant`, or None. An unknown tenant
    /// and a wrong token are the same None, and both hash the token first.
    pub fn authenticate(&self, tenant: &str, token: &str) -> Option<(Arc<Tenant>, Arc<User>)> {
        let hash = hash_token(token);
        let t = self.tenant(tenant)?;
        let user = t.tokens.get(&hash)?.clone();
        Some((t, user))
    }

    /// The user and groups an ID token from `tenant`'s OIDC issuer names, or None
    /// (unknown tenant, no issuer, or any invalid token alike).
    pub fn authenticate_oidc(&self, tenant: &str, token: &str) -> Option<(Arc<Tenant>, OidcUser)> {
        if !OidcVerifier::looks_like_jwt(token) {
            return None;
        }
        let t = self.tenant(tenant)?;
        let user = t.oidc.as_ref()?.verify(token)?;
        Some((t, user))
    }

    /// Lists, then watches, forever; on any error waits and starts over.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.list_and_watch().await {
                Ok(()) => tracing::warn!("tenant registry watch ended; re-listing"),
                Err(e) => tracing::warn!(error = %e, "tenant registry watch failed; re-listing"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn list_and_watch(&self) -> anyhow::Result<()> {
        let (kvs, revision) = self.store.snapshot().await?;
        {
            let mut raw = self.raw.lock().unwrap();
            *raw = kvs.into_iter().filter(|(k, _)| self.is_registry_key(k)).collect();
        }
        self.rebuild_all();
        self.ready.store(true, Ordering::Release);
        tracing::info!(tenants = self.tenants.len(), revision, "tenant registry loaded");

        let opts = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
        let mut stream = self.store.client().watch(self.store.tenants_prefix(), Some(opts)).await?;
        while let Some(resp) = stream.message().await? {
            if resp.canceled() {
                anyhow::bail!("watch canceled: {}", resp.cancel_reason());
            }
            let mut touched = Vec::new();
            {
                let mut raw = self.raw.lock().unwrap();
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let key = kv.key_str()?.to_string();
                    if !self.is_registry_key(&key) {
                        continue; // a tenant's CRDs and objects live here too
                    }
                    match event.event_type() {
                        EventType::Put => raw.insert(key.clone(), kv.value().to_vec()),
                        EventType::Delete => raw.remove(&key),
                    };
                    touched.push(key);
                }
            }
            for key in touched {
                if let Some(tenant) = self.tenant_of_key(&key) {
                    self.rebuild(&tenant);
                }
            }
        }
        Ok(())
    }

    /// Only `meta` and `users/…` keys matter here; the tenant's prefix also holds
    /// its CRDs and custom objects, which this view must not hold in memory.
    fn is_registry_key(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix(&self.store.tenants_prefix()) else { return false };
        let mut parts = rest.splitn(2, '/');
        let _tenant = parts.next();
        matches!(parts.next(), Some(r) if r == "meta" || r.starts_with("users/"))
    }

    fn tenant_of_key(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(&self.store.tenants_prefix())?;
        Some(rest.split('/').next()?.to_string())
    }

    fn rebuild_all(&self) {
        let names: std::collections::BTreeSet<String> = {
            let raw = self.raw.lock().unwrap();
            raw.keys().filter_map(|k| self.tenant_of_key(k)).collect()
        };
        self.tenants.retain(|name, _| names.contains(name));
        for name in names {
            self.rebuild(&name);
        }
    }

    /// Recomputes one tenant from its raw keys; a tenant without `meta` is gone.
    fn rebuild(&self, name: &str) {
        let prefix = self.store.tenant_prefix(name);
        let previous = self.tenant(name);
        let built = {
            let raw = self.raw.lock().unwrap();
            build_tenant(
                &prefix,
                raw.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)),
                previous.as_deref(),
            )
        };
        match built {
            Some(t) => {
                self.tenants.insert(name.to_string(), Arc::new(t));
            }
            None => {
                self.tenants.remove(name);
            }
        }
    }
}

fn build_tenant<'a>(
    prefix: &str,
    kvs: impl Iterator<Item = (&'a String, &'a Vec<u8>)>,
    previous: Option<&Tenant>,
) -> Option<Tenant> {
    let mut meta = None;
    let mut tokens = HashMap::new();
    for (key, value) in kvs {
        let rest = &key[prefix.len()..];
        if rest == "meta" {
            meta = serde_json::from_slice::<TenantMeta>(value)
                .map_err(|e| tracing::error!(key, error = %e, "unreadable tenant record"))
                .ok();
        } else if rest.starts_with("users/") {
            match serde_json::from_slice::<UserRecord>(value) {
                Ok(record) => {
                    let user = Arc::new(User { name: record.name.clone(), groups: record.groups() });
                    for h in record.token_hashes {
                        tokens.insert(h, user.clone());
                    }
                }
                Err(e) => tracing::error!(key, error = %e, "unreadable user record"),
            }
        }
    }
    let meta = meta?;
    let oidc = match (&meta.oidc, previous) {
        (None, _) => None,
        (Some(issuer), Some(prev)) if prev.meta.oidc.as_ref() == Some(issuer) => prev.oidc.clone(),
        (Some(issuer), _) => match OidcVerifier::new(issuer.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                let error = format!("{e:#}");
                tracing::error!(tenant = %meta.name, error, "unusable OIDC issuer; only static tokens work");
                None
            }
        },
    };
    Some(Tenant { meta, tokens, oidc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_needs_its_meta_record() {
        let prefix = "/v/tenants/acme/".to_string();
        let user = serde_json::to_vec(&UserRecord {
            name: "admin".into(),
            token_hashes: vec!["h1".into()],
            groups: Some(vec!["dev".into()]),
        })
        .unwrap();
        let user_key = format!("{prefix}users/admin");
        assert!(build_tenant(&prefix, [(&user_key, &user)].into_iter(), None).is_none());

        let meta = serde_json::to_vec(&TenantMeta {
            name: "acme".into(),
            uid: "u".into(),
            created_at: "t".into(),
            oidc: None,
        })
        .unwrap();
        let meta_key = format!("{prefix}meta");
        let t = build_tenant(&prefix, [(&meta_key, &meta), (&user_key, &user)].into_iter(), None).unwrap();
        assert!(t.oidc.is_none());
        let user = t.tokens.get("h1").unwrap();
        assert_eq!((user.name.as_str(), user.groups.clone()), ("admin", vec!["dev".to_string()]));
    }

    /// Records from before users had groups: every user was the tenant's admin
    /// then, and stays one; a record with an empty list is in no group.
    #[test]
    fn legacy_user_records_keep_admin_rights() {
        let prefix = "/v/tenants/acme/".to_string();
        let meta_key = format!("{prefix}meta");
        let meta = br#"{"name":"acme","uid":"u","createdAt":"t"}"#.to_vec();
        let (legacy_key, legacy) = (format!("{prefix}users/old"), br#"{"name":"old","tokenHashes":["h1"]}"#.to_vec());
        let (new_key, new) =
            (format!("{prefix}users/new"), br#"{"name":"new","tokenHashes":["h2"],"groups":[]}"#.to_vec());
        let t = build_tenant(&prefix, [(&meta_key, &meta), (&legacy_key, &legacy), (&new_key, &new)].into_iter(), None)
            .unwrap();
        assert_eq!(t.tokens["h1"].groups, vec![crate::tenants::ADMINS_GROUP.to_string()]);
        assert!(t.tokens["h2"].groups.is_empty());
    }

    #[test]
    fn the_oidc_verifier_is_kept_while_its_issuer_is_unchanged() {
        let prefix = "/v/tenants/acme/".to_string();
        let issuer: crate::oidc::OidcIssuer = serde_json::from_value(serde_json::json!({
            "issuerUrl": "https://idp.test", "clientId": "c",
            "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
        }))
        .unwrap();
        let meta_key = format!("{prefix}meta");
        let mut meta = TenantMeta { name: "acme".into(), uid: "u".into(), created_at: "t".into(), oidc: Some(issuer) };
        let raw = serde_json::to_vec(&meta).unwrap();
        let first = build_tenant(&prefix, [(&meta_key, &raw)].into_iter(), None).unwrap();
        let v1 = first.oidc.clone().expect("a verifier");
        let second = build_tenant(&prefix, [(&meta_key, &raw)].into_iter(), Some(&first)).unwrap();
        assert!(Arc::ptr_eq(&v1, second.oidc.as_ref().unwrap()), "rebuilt although unchanged");
        meta.oidc.as_mut().unwrap().client_id = "other".into();
        let raw = serde_json::to_vec(&meta).unwrap();
        let third = build_tenant(&prefix, [(&meta_key, &raw)].into_iter(), Some(&second)).unwrap();
        assert_eq!(third.oidc.as_ref().unwrap().config().client_id, "other");
        meta.oidc = None;
        let raw = serde_json::to_vec(&meta).unwrap();
        assert!(build_tenant(&prefix, [(&meta_key, &raw)].into_iter(), Some(&third)).unwrap().oidc.is_none());
    }
}
