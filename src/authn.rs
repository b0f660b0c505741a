//! Authentication: which tenant a request addresses, and which of its users sent it.
//!
//! Tenants are addressed by path, `/clusters/<tenant>/…`, and users by bearer
//! token. An unknown tenant, a missing token and a wrong token all produce the
//! same 401, so the proxy never reveals which tenants exist. A tenant with an OIDC
//! issuer also accepts that issuer's ID tokens (`crate::oidc`); an invalid one is the
//! same 401 again.

use std::sync::Arc;

use http::{header, HeaderMap};

use crate::error::ApiError;
use crate::subjects;
use crate::tenants::{Registry, Tenant};

pub const CLUSTERS_PREFIX: &str = "/clusters/";

/// Who is calling: the authenticated tenant and user. Travels as a request extension.
#[derive(Debug, Clone)]
pub struct Identity {
    pub tenant: Arc<Tenant>,
    pub user: String,
    /// The user's groups in the tenant's view (`cluster-admins`, `dev`): from the user's
    /// record, or from the OIDC groups claim.
    pub groups: Vec<String>,
    /// Levers the tenant's policy opens (set by the pipeline from the policy in force).
    pub allowed: Vec<crate::guardrails::Lever>,
}

impl Identity {
    pub fn tenant_name(&self) -> &str {
        &self.tenant.meta.name
    }

    /// The user the super apiserver sees: `vcproxy:<tenant>:<user>`, or for one of
    /// the tenant's service accounts (only ever reached by `--as`) its super name.
    pub fn impersonated_user(&self) -> String {
        let mapper = crate::namespaces::TenantMapper(self.tenant_name());
        subjects::to_super("User", &self.user, &mapper)
            .unwrap_or_else(|_| subjects::user_to_super(self.tenant_name(), &self.user))
    }

    /// The groups the super apiserver sees: the tenant's all-users group
    /// `vcproxy:tenant:<tenant>`, then each of the user's groups as
    /// `vcproxy:group:<tenant>:<group>` (a service account's
    /// `system:serviceaccounts:<ns>` by its super namespace; the cluster-wide
    /// `system:serviceaccounts` never), then the policy's levers.
    pub fn impersonated_groups(&self) -> Vec<String> {
        let tenant = self.tenant_name();
        let mapper = crate::namespaces::TenantMapper(tenant);
        std::iter::once(subjects::all_users_group(tenant))
            .chain(self.groups.iter().filter_map(|g| subjects::to_super("Group", g, &mapper).ok()))
            .chain(self.allowed.iter().map(|lever| lever.group().to_string()))
            .collect()
    }
}

/// Splits `/clusters/<tenant>/rest` into (`tenant`, `/rest`). `/clusters/<tenant>`
/// alone yields `/`. Returns None for paths outside `/clusters/`.
pub fn split_tenant_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(CLUSTERS_PREFIX)?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

/// The bearer token, if the request carries exactly one well-formed one.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None; // two Authorization headers: ambiguous, refuse
    }
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Authenticates a request for `tenant`. Every failure is the same 401.
pub fn authenticate(registry: &Registry, tenant: &str, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
    if let Some((tenant, user)) = registry.authenticate(tenant, token) {
        return Ok(Identity { tenant, user: user.name.clone(), groups: user.groups.clone(), allowed: Vec::new() });
    }
    let (tenant, oidc) = registry.authenticate_oidc(tenant, token).ok_or_else(ApiError::unauthorized)?;
    Ok(Identity { tenant, user: oidc.name, groups: oidc.groups, allowed: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn splits_tenant_paths() {
        assert_eq!(split_tenant_path("/clusters/acme/api/v1"), Some(("acme", "/api/v1")));
        assert_eq!(split_tenant_path("/clusters/acme"), Some(("acme", "/")));
        assert_eq!(split_tenant_path("/clusters//api"), Some(("", "/api")));
        assert_eq!(split_tenant_path("/api/v1"), None);
        assert_eq!(split_tenant_path("/clustersacme/api"), None);
    }

    #[test]
    fn bearer_token_parsing_is_strict() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YTpi"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(bearer_token(&h), None);
    }
}
