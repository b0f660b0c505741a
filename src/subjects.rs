//! RBAC subjects between the tenant's identity space and the super master's.
//!
//! A tenant's users reach the super apiserver impersonated as `vcproxy:<tenant>:<user>` in
//! group `vcproxy:tenant:<tenant>` (see `authn.rs`). A RoleBinding a tenant writes must name
//! subjects in that space, or it binds nobody who uses the proxy and, worse, grants the
//! tenant's namespace to whatever super-master identity has the name it wrote
//! (`system:authenticated`, another tenant's users). So, both ways:
//!
//! | the tenant writes (kind, name)                  | the super master stores                      |
//! |-------------------------------------------------|----------------------------------------------|
//! | User `alice`                                    | User `vcproxy:<t>:alice`                     |
//! | User `system:serviceaccount:<ns>:<sa>`          | User `system:serviceaccount:<t>--<ns>:<sa>`  |
//! | Group `system:authenticated`                    | Group `vcproxy:tenant:<t>` (all its users)   |
//! | Group `system:serviceaccounts:<ns>`             | Group `system:serviceaccounts:<t>--<ns>`     |
//! | Group `dev`                                     | Group `vcproxy:group:<t>:dev`                |
//! | ServiceAccount (its `namespace` is a table field) | unchanged name                              |
//!
//! Any other `system:` name is refused: it is an identity of the shared cluster. Tenant names
//! are DNS labels (no `:`), so every prefix above belongs to exactly one tenant; on the way
//! back, a subject outside the tenant's space is shown with an empty name.

use crate::rewrite::NamespaceMapper;

const SERVICE_ACCOUNT_USER: &str = "system:serviceaccount:";
const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
const ALL_USERS: &str = "system:authenticated";

/// The tenant's all-users group upstream (every tenant user is impersonated with it).
pub fn all_users_group(tenant: &str) -> String {
    format!("vcproxy:tenant:{tenant}")
}

/// A tenant user's name upstream.
pub fn user_to_super(tenant: &str, user: &str) -> String {
    format!("vcproxy:{tenant}:{user}")
}

/// A tenant group's name upstream.
pub fn group_to_super(tenant: &str, group: &str) -> String {
    format!("vcproxy:group:{tenant}:{group}")
}

/// The super master's name for the subject `(kind, name)` a tenant wrote, or why it cannot be
/// bound. Kinds other than User and Group keep their name.
pub fn to_super(kind: &str, name: &str, m: &dyn NamespaceMapper) -> Result<String, String> {
    let tenant = m.tenant();
    match kind {
        "User" => {
            if let Some(rest) = name.strip_prefix(SERVICE_ACCOUNT_USER) {
                let (ns, sa) = service_account(rest).ok_or_else(|| {
                    format!("user {name:?} is not of the form system:serviceaccount:<namespace>:<name>")
                })?;
                return Ok(format!("{SERVICE_ACCOUNT_USER}{}:{sa}", m.to_super(ns)));
            }
            refuse_system(kind, name)?;
            Ok(user_to_super(tenant, name))
        }
        "Group" => {
            if name == ALL_USERS {
                return Ok(all_users_group(tenant));
            }
            if name == SERVICE_ACCOUNTS_GROUP {
                return Err(format!(
                    "group {SERVICE_ACCOUNTS_GROUP} (every service account) cannot be bound in a virtual cluster; \
                     bind {SERVICE_ACCOUNTS_GROUP}:<namespace> for each namespace instead"
                ));
            }
            if let Some(ns) = name.strip_prefix(SERVICE_ACCOUNTS_GROUP).and_then(|r| r.strip_prefix(':')) {
                if !crate::rewrite::is_dns1123_label(ns) {
                    return Err(format!("group {name:?}: {ns:?} is not a namespace name"));
                }
                return Ok(format!("{SERVICE_ACCOUNTS_GROUP}:{}", m.to_super(ns)));
            }
            refuse_system(kind, name)?;
            Ok(group_to_super(tenant, name))
        }
        _ => Ok(name.to_string()),
    }
}

/// The tenant's name for a subject the super master holds; `None` when it is not in the
/// tenant's space (another tenant's, or the shared cluster's).
pub fn to_virtual(kind: &str, name: &str, m: &dyn NamespaceMapper) -> Option<String> {
    let tenant = m.tenant();
    match kind {
        "User" => {
            if let Some(rest) = name.strip_prefix(SERVICE_ACCOUNT_USER) {
                let (ns, sa) = service_account(rest)?;
                return Some(format!("{SERVICE_ACCOUNT_USER}{}:{sa}", m.to_virtual(ns)?));
            }
            name.strip_prefix(&user_to_super(tenant, "")).filter(|u| !u.is_empty()).map(str::to_string)
        }
        "Group" => {
            if name == all_users_group(tenant) {
                return Some(ALL_USERS.to_string());
            }
            if let Some(ns) = name.strip_prefix(SERVICE_ACCOUNTS_GROUP).and_then(|r| r.strip_prefix(':')) {
                return Some(format!("{SERVICE_ACCOUNTS_GROUP}:{}", m.to_virtual(ns)?));
            }
            name.strip_prefix(&group_to_super(tenant, "")).filter(|g| !g.is_empty()).map(str::to_string)
        }
        _ => Some(name.to_string()),
    }
}

/// `<namespace>:<name>` of a service-account user name.
/// `(namespace, name)` of a service-account user name `system:serviceaccount:<ns>:<sa>`.
pub fn service_account_user(user: &str) -> Option<(&str, &str)> {
    service_account(user.strip_prefix(SERVICE_ACCOUNT_USER)?)
}

fn service_account(rest: &str) -> Option<(&str, &str)> {
    let (ns, sa) = rest.split_once(':')?;
    (crate::rewrite::is_dns1123_label(ns) && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

fn refuse_system(kind: &str, name: &str) -> Result<(), String> {
    if name.to_ascii_lowercase().starts_with("system:") {
        return Err(format!(
            "{} {name:?} is an identity of the shared cluster and cannot be bound in a virtual cluster; \
             name your own users and groups (system:authenticated and system:serviceaccount[s]:<namespace> work as usual)",
            kind.to_lowercase()
        ));
    }
    if name.is_empty() {
        return Err(format!("a {} subject needs a name", kind.to_lowercase()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::FixedMapper;

    fn acme() -> FixedMapper {
        FixedMapper::new("acme").with(["dev", "prod"])
    }

    #[test]
    fn tenant_subjects_round_trip() {
        let m = acme();
        for (kind, name, up) in [
            ("User", "alice", "vcproxy:acme:alice"),
            ("User", "system:serviceaccount:dev:builder", "system:serviceaccount:acme--dev:builder"),
            ("Group", "system:authenticated", "vcproxy:tenant:acme"),
            ("Group", "system:serviceaccounts:prod", "system:serviceaccounts:acme--prod"),
            ("Group", "dev", "vcproxy:group:acme:dev"),
            ("ServiceAccount", "builder", "builder"),
        ] {
            assert_eq!(to_super(kind, name, &m).as_deref(), Ok(up), "{kind} {name}");
            assert_eq!(to_virtual(kind, up, &m).as_deref(), Some(name), "{kind} {up}");
        }
    }

    #[test]
    fn shared_cluster_identities_are_refused() {
        let m = acme();
        for (kind, name) in [
            ("Group", "system:masters"),
            ("Group", "system:unauthenticated"),
            ("Group", "system:serviceaccounts"),
            ("Group", "System:Masters"),
            ("Group", "system:serviceaccounts:Bad"),
            ("User", "system:admin"),
            ("User", "system:kube-controller-manager"),
            ("User", "system:serviceaccount:kube-system"),
            ("User", "system:serviceaccount:dev:a:b"),
            ("User", ""),
            ("Group", ""),
        ] {
            let e = to_super(kind, name, &m).expect_err(&format!("{kind} {name:?} was accepted"));
            assert!(!e.is_empty());
        }
    }

    #[test]
    fn other_spaces_are_not_shown() {
        let m = acme();
        for (kind, name) in [
            ("User", "vcproxy:globex:alice"),
            ("User", "alice"),
            ("User", "vcproxy:acme:"),
            ("User", "system:serviceaccount:globex--dev:builder"),
            ("User", "system:serviceaccount:kube-system:default"),
            ("Group", "vcproxy:tenant:globex"),
            ("Group", "vcproxy:group:globex:dev"),
            ("Group", "system:authenticated"),
            ("Group", "system:masters"),
            ("Group", "system:serviceaccounts:globex--dev"),
        ] {
            assert_eq!(to_virtual(kind, name, &m), None, "{kind} {name}");
        }
    }

    /// A tenant cannot write a name that comes back as another tenant's identity.
    #[test]
    fn a_tenant_cannot_name_another_tenants_identity() {
        let m = acme();
        for (kind, name) in [("User", "vcproxy:globex:alice"), ("Group", "vcproxy:tenant:globex"), ("Group", "vcproxy:group:globex:dev")] {
            let up = to_super(kind, name, &m).unwrap();
            assert!(up.starts_with("vcproxy:acme:") || up.starts_with("vcproxy:group:acme:"), "{kind} {name} -> {up}");
        }
    }
}
