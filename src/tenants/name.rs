//! Which tenant and user names are allowed.
//!
//! A tenant name becomes part of URLs, etcd keys, impersonated identities and
//! super-master namespace names, so it is a short DNS-1123 label with no `--`
//! (the namespace mapping's separator) and none of the names the super master
//! or vcproxy reserve.

/// Longest tenant name: short enough that `<tenant>` plus a virtual namespace
/// still fits a 63-character super namespace.
pub const MAX_TENANT_NAME: usize = 20;
pub const MAX_USER_NAME: usize = 63;

const RESERVED: &[&str] = &["kube", "system", "vcproxy", "default", "openshift", "clusters"];
const RESERVED_PREFIXES: &[&str] = &["kube-", "system-", "vcproxy-"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name {0:?} is longer than {1} characters")]
    TooLong(String, usize),
    #[error("name {0:?} must consist of lower case letters, digits and '-', and start and end with a letter or digit")]
    NotDns1123Label(String),
    #[error("name {0:?} must not contain '--' (reserved as the namespace mapping's separator)")]
    DoubleDash(String),
    #[error("name {0:?} must be printable ASCII without spaces or ','")]
    NotPrintable(String),
    #[error("name {0:?} is reserved; pick another")]
    Reserved(String),
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn validate_tenant_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_TENANT_NAME {
        return Err(NameError::TooLong(name.into(), MAX_TENANT_NAME));
    }
    if !is_dns1123_label(name) {
        return Err(NameError::NotDns1123Label(name.into()));
    }
    if name.contains("--") {
        return Err(NameError::DoubleDash(name.into()));
    }
    if RESERVED.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(NameError::Reserved(name.into()));
    }
    Ok(())
}

/// User names appear in `vcproxy:<tenant>:<user>` identities and etcd keys.
pub fn validate_user_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_USER_NAME {
        return Err(NameError::TooLong(name.into(), MAX_USER_NAME));
    }
    if !is_dns1123_label(name) {
        return Err(NameError::NotDns1123Label(name.into()));
    }
    Ok(())
}

/// Longest group name (a Kubernetes subject name has no limit; this keeps
/// `vcproxy:group:<tenant>:<group>` a sane header value).
pub const MAX_GROUP_NAME: usize = 200;

/// Group names are the tenant's own: any printable text except the `system:`
/// names, which belong to the shared cluster.
pub fn validate_group_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_GROUP_NAME {
        return Err(NameError::TooLong(name.into(), MAX_GROUP_NAME));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) || name.contains(',') {
        return Err(NameError::NotPrintable(name.into()));
    }
    if name.to_ascii_lowercase().starts_with("system:") {
        return Err(NameError::Reserved(name.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_labels() {
        for ok in ["acme", "globex", "a", "team-1", "x2", "a-b-c"] {
            assert_eq!(validate_tenant_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_hostile_and_reserved_names() {
        let bad = [
            "",
            "Acme",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "a/b",
            "..",
            "a b",
            "kube",
            "kube-system",
            "system",
            "vcproxy",
            "default",
            "ünïcode",
            "a\0",
            "averyveryverylongtenantname",
        ];
        for name in bad {
            assert!(validate_tenant_name(name).is_err(), "{name:?} must be refused");
        }
    }

    #[test]
    fn user_names() {
        assert!(validate_user_name("admin").is_ok());
        assert!(validate_user_name("a:b").is_err());
        assert!(validate_user_name("../x").is_err());
    }

    #[test]
    fn group_names() {
        for ok in ["dev", "cluster-admins", "team:web", "ops@example.com"] {
            assert!(validate_group_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "system:masters", "SYSTEM:authenticated", "a b", "a,b", "a\nb", &"g".repeat(201)] {
            assert!(validate_group_name(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
