//! Tenant and user records in etcd: the writes the CLI makes, the reads the
//! registry starts from.
//!
//! Every multi-key change is one etcd transaction guarded by a compare, so two
//! operators (or replicas) racing cannot lose a token or resurrect a tenant.

use anyhow::{anyhow, bail, Context};
use etcd_client::{Client, Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};

use super::{hash_token, new_token, validate_group_name, validate_tenant_name, validate_user_name, TokenHash};
use crate::config::EtcdConfig;
use crate::oidc::OidcIssuer;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantMeta {
    pub name: String,
    pub uid: String,
    pub created_at: String,
    /// The tenant's OIDC issuer, if its users may sign in with ID tokens (`crate::oidc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcIssuer>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub name: String,
    /// SHA-256 hashes of this user's tokens; the tokens themselves are never stored.
    pub token_hashes: Vec<TokenHash>,
    /// The user's groups in the tenant's view. Absent only in records written
    /// before users had groups: every user then was the tenant's admin, and
    /// keeps that (see [`UserRecord::groups`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl UserRecord {
    /// The groups the user is in; a legacy record (no `groups`) means [`ADMINS_GROUP`].
    pub fn groups(&self) -> Vec<String> {
        match &self.groups {
            Some(groups) => groups.clone(),
            None => vec![ADMINS_GROUP.to_string()],
        }
    }
}

/// etcd access for the registry. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    client: Client,
    prefix: String,
}

/// The user every new tenant gets.
pub const ADMIN_USER: &str = "admin";
/// The tenant's group of cluster administrators (tenant view). Its members have
/// `admin` in every tenant namespace and every cluster-level right vcproxy
/// serves; everyone else has only what the tenant's own RBAC grants.
pub const ADMINS_GROUP: &str = "cluster-admins";

impl Store {
    pub async fn connect(config: &EtcdConfig) -> anyhow::Result<Store> {
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(10));
        let client = Client::connect(&config.endpoints, Some(opts))
            .await
            .with_context(|| format!("connecting to etcd at {:?}", config.endpoints))?;
        Ok(Store { client, prefix: config.prefix.clone() })
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// `<prefix>/tenants/` — every registry key starts with this.
    pub fn tenants_prefix(&self) -> String {
        format!("{}/tenants/", self.prefix)
    }

    /// `<prefix>/tenants/<t>/` — with the trailing slash, so a prefix range over it
    /// never reaches a neighbour such as `<t>2`.
    pub fn tenant_prefix(&self, tenant: &str) -> String {
        format!("{}{tenant}/", self.tenants_prefix())
    }

    fn meta_key(&self, tenant: &str) -> String {
        format!("{}meta", self.tenant_prefix(tenant))
    }

    fn user_key(&self, tenant: &str, user: &str) -> String {
        format!("{}users/{user}", self.tenant_prefix(tenant))
    }

    /// Creates a tenant and its `admin` user; returns the admin's first token.
    pub async fn create_tenant(&self, name: &str) -> anyhow::Result<(TenantMeta, String)> {
        validate_tenant_name(name).map_err(|e| anyhow!("invalid tenant name: {e}"))?;
        let meta = TenantMeta {
            name: name.to_string(),
            uid: uuid::Uuid::new_v4().to_string(),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            oidc: None,
        };
        let token = new_token();
        let admin = UserRecord {
            name: ADMIN_USER.into(),
            token_hashes: vec![hash_token(&token)],
            groups: Some(vec![ADMINS_GROUP.into()]),
        };
        let meta_key = self.meta_key(name);
        let txn = Txn::new().when([Compare::create_revision(meta_key.clone(), CompareOp::Equal, 0)]).and_then([
            TxnOp::put(meta_key, serde_json::to_vec(&meta)?, None),
            TxnOp::put(self.user_key(name, ADMIN_USER), serde_json::to_vec(&admin)?, None),
        ]);
        let resp = self.client.clone().txn(txn).await.context("creating tenant in etcd")?;
        if !resp.succeeded() {
            bail!("tenant {name:?} already exists");
        }
        Ok((meta, token))
    }

    pub async fn get_tenant(&self, name: &str) -> anyhow::Result<Option<TenantMeta>> {
        let resp = self.client.clone().get(self.meta_key(name), None).await?;
        match resp.kvs().first() {
            Some(kv) => Ok(Some(serde_json::from_slice(kv.value())?)),
            None => Ok(None),
        }
    }

    pub async fn list_tenants(&self) -> anyhow::Result<Vec<TenantMeta>> {
        let resp = self.client.clone().get(self.tenants_prefix(), Some(GetOptions::new().with_prefix())).await?;
        let mut tenants = Vec::new();
        let prefix = self.tenants_prefix();
        for kv in resp.kvs() {
            // Exactly `<prefix>/tenants/<t>/meta`; CRDs and objects live deeper.
            let rest = kv.key_str()?.strip_prefix(prefix.as_str()).unwrap_or_default();
            if rest.split('/').count() == 2 && rest.ends_with("/meta") {
                tenants.push(serde_json::from_slice::<TenantMeta>(kv.value())?);
            }
        }
        tenants.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tenants)
    }

    /// Deletes every key of the tenant (exact prefix range); false if it did not exist.
    pub async fn delete_tenant(&self, name: &str) -> anyhow::Result<bool> {
        validate_tenant_name(name).map_err(|e| anyhow!("invalid tenant name: {e}"))?;
        let resp =
            self.client.clone().delete(self.tenant_prefix(name), Some(DeleteOptions::new().with_prefix())).await?;
        Ok(resp.deleted() > 0)
    }

    /// Adds a new token for `user` (creating the user if needed) and returns it.
    /// `groups` replaces the user's groups; None keeps them (a new user then has
    /// none). The tenant must exist; retried on concurrent updates of the same user.
    pub async fn issue_token(&self, tenant: &str, user: &str, groups: Option<Vec<String>>) -> anyhow::Result<String> {
        validate_tenant_name(tenant).map_err(|e| anyhow!("invalid tenant name: {e}"))?;
        validate_user_name(user).map_err(|e| anyhow!("invalid user name: {e}"))?;
        for group in groups.iter().flatten() {
            validate_group_name(group).map_err(|e| anyhow!("invalid group name: {e}"))?;
        }
        let token = new_token();
        let key = self.user_key(tenant, user);
        for _ in 0..10 {
            let resp = self.client.clone().get(key.clone(), None).await?;
            let (mut record, mod_rev) = match resp.kvs().first() {
                Some(kv) => (serde_json::from_slice::<UserRecord>(kv.value())?, kv.mod_revision()),
                None => (UserRecord { name: user.into(), token_hashes: vec![], groups: Some(vec![]) }, 0),
            };
            record.token_hashes.push(hash_token(&token));
            if let Some(groups) = &groups {
                record.groups = Some(groups.clone());
            }
            let txn = Txn::new()
                .when([
                    Compare::create_revision(self.meta_key(tenant), CompareOp::Greater, 0),
                    Compare::mod_revision(key.clone(), CompareOp::Equal, mod_rev),
                ])
                .and_then([TxnOp::put(key.clone(), serde_json::to_vec(&record)?, None)]);
            if self.client.clone().txn(txn).await?.succeeded() {
                return Ok(token);
            }
            if self.get_tenant(tenant).await?.is_none() {
                bail!("tenant {tenant:?} does not exist");
            }
        }
        bail!("could not issue a token for {tenant}/{user}: too many concurrent updates")
    }

    /// Sets (or, with None, removes) the tenant's OIDC issuer. Guarded by the meta
    /// record's mod revision and retried, so a concurrent change is never lost.
    pub async fn set_oidc(&self, tenant: &str, oidc: Option<OidcIssuer>) -> anyhow::Result<()> {
        validate_tenant_name(tenant).map_err(|e| anyhow!("invalid tenant name: {e}"))?;
        if let Some(issuer) = &oidc {
            issuer.validate().context("invalid OIDC issuer")?;
        }
        let key = self.meta_key(tenant);
        for _ in 0..10 {
            let resp = self.client.clone().get(key.clone(), None).await?;
            let Some(kv) = resp.kvs().first() else { bail!("tenant {tenant:?} does not exist") };
            let mut meta = serde_json::from_slice::<TenantMeta>(kv.value())?;
            meta.oidc = oidc.clone();
            let txn = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, kv.mod_revision())])
                .and_then([TxnOp::put(key.clone(), serde_json::to_vec(&meta)?, None)]);
            if self.client.clone().txn(txn).await?.succeeded() {
                return Ok(());
            }
        }
        bail!("could not update tenant {tenant:?}: too many concurrent updates")
    }

    /// Every registry key and value, and the revision they were read at.
    pub async fn snapshot(&self) -> anyhow::Result<(Vec<(String, Vec<u8>)>, i64)> {
        let resp = self.client.clone().get(self.tenants_prefix(), Some(GetOptions::new().with_prefix())).await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        let kvs = resp
            .kvs()
            .iter()
            .map(|kv| Ok((kv.key_str()?.to_string(), kv.value().to_vec())))
            .collect::<Result<Vec<_>, etcd_client::Error>>()?;
        Ok((kvs, revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_oidc_still_parse_and_stay_unchanged() {
        let old = br#"{"name":"acme","uid":"u","createdAt":"t"}"#;
        let meta: TenantMeta = serde_json::from_slice(old).unwrap();
        assert_eq!(meta.oidc, None);
        assert_eq!(serde_json::to_vec(&meta).unwrap(), old.to_vec());
    }
}
