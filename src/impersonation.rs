//! `kubectl --as=bob --as-group=dev` inside a tenant.
//!
//! A tenant user whom the tenant's RBAC lets `impersonate` users (and groups)
//! acts as the tenant's `bob` in group `dev`: the request goes on with that
//! identity, which the super apiserver sees as `vcproxy:<t>:bob` in
//! `vcproxy:group:<t>:dev`. The names are the tenant's own, so nobody outside
//! the tenant can be reached: `system:` and `vcproxy:` names (the shared
//! cluster's) are refused, and another tenant's users cannot be named at all
//! (every name is prefixed with this tenant's). The tenant's own service
//! accounts (`--as=system:serviceaccount:<ns>:<sa>`) are the one `system:` form
//! allowed: they become that service account in the tenant's super namespace,
//! with its groups. The inbound headers never reach the super
//! apiserver (`upstream.rs` strips them).

use http::HeaderMap;

use crate::authn::Identity;
use crate::authz::Attributes;
use crate::error::ApiError;
use crate::stack::Proxy;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";
/// Implied for every user; asking for it changes nothing.
const ALL_USERS: &str = "system:authenticated";
const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// What the request asks to impersonate, if anything.
#[derive(Debug, PartialEq, Eq)]
pub struct Requested {
    pub user: String,
    pub groups: Vec<String>,
}

/// Reads and checks the impersonation headers (without asking RBAC yet).
pub fn requested(headers: &HeaderMap) -> Result<Option<Requested>, ApiError> {
    let text = |v: &http::HeaderValue| {
        v.to_str().map(str::to_string).map_err(|_| ApiError::bad_request("impersonation headers must be ASCII"))
    };
    // Headers the Connection header names are hop-by-hop: never acted on.
    let hop_by_hop: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let end_to_end = |name: &str| !hop_by_hop.iter().any(|h| h == name);
    let values = |name: &str| -> Result<Vec<String>, ApiError> {
        if !end_to_end(name) {
            return Ok(Vec::new());
        }
        headers.get_all(name).iter().map(text).collect()
    };
    let users = values(USER)?;
    let groups = values(GROUP)?;
    let other = (headers.contains_key(UID) && end_to_end(UID))
        || headers.keys().any(|k| k.as_str().starts_with(EXTRA_PREFIX) && end_to_end(k.as_str()));
    if users.is_empty() {
        if !groups.is_empty() || other {
            return Err(ApiError::bad_request("impersonating groups, a uid or extra fields requires Impersonate-User"));
        }
        return Ok(None);
    }
    if users.len() > 1 {
        return Err(ApiError::bad_request("only one Impersonate-User header is allowed"));
    }
    if other {
        return Err(ApiError::forbidden(
            "vcproxy does not support impersonating a uid or extra fields; send only --as and --as-group",
        ));
    }
    let user = users.into_iter().next().unwrap_or_default();
    let service_account = crate::subjects::service_account_user(&user).map(|(ns, _)| ns.to_string());
    if service_account.is_none() {
        check_name("user", &user)?;
    }
    let mut wanted = Vec::new();
    for group in groups {
        // Implied for every user, and for a service account its own groups.
        let implied = group == ALL_USERS
            || service_account.as_ref().is_some_and(|ns| {
                group == SERVICE_ACCOUNTS || group.strip_prefix(SERVICE_ACCOUNTS).and_then(|g| g.strip_prefix(':')) == Some(ns)
            });
        if implied {
            continue;
        }
        check_name("group", &group)?;
        if !wanted.contains(&group) {
            wanted.push(group);
        }
    }
    Ok(Some(Requested { user, groups: wanted }))
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 253 || !name.bytes().all(|b| b.is_ascii_graphic()) || name.contains(',') {
        return Err(ApiError::bad_request(format!("cannot impersonate {what} {name:?}: not a valid name")));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("system:") || lower.starts_with("vcproxy:") {
        return Err(ApiError::forbidden(format!(
            "cannot impersonate {what} {name:?}: system: and vcproxy: identities belong to the shared cluster, \
             not to this virtual cluster; impersonate one of the tenant's own users or groups"
        )));
    }
    Ok(())
}

/// The identity the request acts as: `id` itself, or whom it impersonates (as read by
/// [`requested`]) if
/// the tenant's RBAC allows `id` to (verb `impersonate` on `users`/`groups`,
/// as kube-apiserver checks it).
pub async fn apply(p: &Proxy, id: Identity, wanted: Option<Requested>) -> Result<Identity, ApiError> {
    let Some(wanted) = wanted else { return Ok(id) };
    let ask = |resource: &str, name: &str| Attributes {
        verb: "impersonate".into(),
        group: String::new(),
        resource: resource.into(),
        subresource: String::new(),
        name: name.into(),
        namespace: None,
        path: String::new(),
    };
    let mut groups = Vec::new();
    match crate::subjects::service_account_user(&wanted.user) {
        // As kube-apiserver: impersonating a service account is `impersonate` on
        // `serviceaccounts/<name>` in its namespace, and it has its groups.
        Some((ns, sa)) => {
            let attrs = Attributes { namespace: Some(ns.to_string()), ..ask("serviceaccounts", sa) };
            p.authorizer.authorize(&p.upstream, &p.metrics, &id, &attrs).await?;
            groups.extend([SERVICE_ACCOUNTS.to_string(), format!("{SERVICE_ACCOUNTS}:{ns}")]);
        }
        None => p.authorizer.authorize(&p.upstream, &p.metrics, &id, &ask("users", &wanted.user)).await?,
    }
    for group in &wanted.groups {
        p.authorizer.authorize(&p.upstream, &p.metrics, &id, &ask("groups", group)).await?;
    }
    groups.extend(wanted.groups);
    Ok(Identity { user: wanted.user, groups, ..id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_users_and_groups() {
        assert_eq!(requested(&headers(&[])).unwrap(), None);
        let r = requested(&headers(&[(USER, "bob"), (GROUP, "dev"), (GROUP, "system:authenticated"), (GROUP, "dev")]))
            .unwrap()
            .unwrap();
        assert_eq!(r, Requested { user: "bob".into(), groups: vec!["dev".into()] });
    }

    #[test]
    fn the_tenants_service_accounts_may_be_impersonated_with_their_own_groups() {
        let sa = "system:serviceaccount:ci:builder";
        let h = headers(&[(USER, sa), (GROUP, "system:serviceaccounts"), (GROUP, "system:serviceaccounts:ci"), (GROUP, "dev")]);
        assert_eq!(requested(&h).unwrap().unwrap(), Requested { user: sa.into(), groups: vec!["dev".into()] });
    }

    #[test]
    fn refuses_identities_outside_the_tenant_and_odd_requests() {
        for (h, code) in [
            (headers(&[(USER, "system:admin")]), 403),
            (headers(&[(USER, "SYSTEM:kube-scheduler")]), 403),
            (headers(&[(USER, "system:serviceaccount:kube-system")]), 403),
            (headers(&[(USER, "system:serviceaccount:Not_A_Namespace:x")]), 403),
            (headers(&[(USER, "system:serviceaccount:ci:x"), (GROUP, "system:serviceaccounts:other")]), 403),
            (headers(&[(USER, "bob"), (GROUP, "system:masters")]), 403),
            (headers(&[(USER, "vcproxy:other:admin")]), 403),
            (headers(&[(USER, "bob"), (GROUP, "vcproxy:tenant:other")]), 403),
            (headers(&[(USER, "bob"), (UID, "1")]), 403),
            (headers(&[(USER, "bob"), ("impersonate-extra-scopes", "x")]), 403),
            (headers(&[(GROUP, "dev")]), 400),
            (headers(&[(USER, "a"), (USER, "b")]), 400),
            (headers(&[(USER, "")]), 400),
            (headers(&[(USER, "a b")]), 400),
        ] {
            assert_eq!(requested(&h).unwrap_err().code, code, "{h:?}");
        }
    }

    #[test]
    fn headers_named_by_connection_are_not_acted_on() {
        let hidden = headers(&[("connection", "keep-alive, Impersonate-User"), (USER, "system:admin")]);
        assert_eq!(requested(&hidden).unwrap(), None);
        let group_hidden = headers(&[("connection", "impersonate-group"), (USER, "bob"), (GROUP, "system:masters")]);
        assert_eq!(requested(&group_hidden).unwrap(), Some(Requested { user: "bob".into(), groups: vec![] }));
    }
}
