//! The one mapping between a tenant's virtual namespaces and super-master namespaces.
//!
//! Every path that names a namespace — URLs, bodies, selectors, watch events,
//! tables, Status messages — goes through [`to_super`] / [`Owner::of`] here, so
//! the proxy cannot disagree with itself about long names (VirtualCluster's
//! syncer and vn-agent did).
//!
//! Scheme (documented in `docs/MAPPING.md`):
//! - short form `<tenant>--<virtual>` when it fits in 63 characters;
//! - long form `<tenant>-h-<40 hex of sha256(tenant "/" virtual)>` otherwise.
//!
//! Injective across all tenants: tenant names are DNS labels without `--` that
//! do not end in `-`, so in a short form the first `--` is exactly where the
//! tenant ends; a long form contains no `--` at all, so the forms never meet;
//! and two long forms of the same length share their tenant, leaving only a
//! 160-bit hash collision. Both forms are valid DNS-1123 labels of at most 63
//! characters and start with the tenant's name, so an operator can tell whose a
//! namespace is without a lookup. Names alone never prove ownership: the
//! proxy also checks the `vcproxy.io/tenant` label (see [`Owner`]).

use sha2::{Digest, Sha256};

/// Label and annotation keys vcproxy owns on super namespaces. Tenants can
/// neither see nor set anything under `vcproxy.io/`.
pub const TENANT_LABEL: &str = "vcproxy.io/tenant";
pub const VIRTUAL_NAME_LABEL: &str = "vcproxy.io/virtual-name";
pub const RESERVED_PREFIX: &str = "vcproxy.io/";

pub const MAX_NAMESPACE_LEN: usize = 63;
const SHORT_SEPARATOR: &str = "--";
const LONG_MARKER: &str = "-h-";
const HASH_HEX_LEN: usize = 40;

/// The super namespace of `(tenant, virtual)`. Both must already be valid
/// (tenant per `tenants::validate_tenant_name`, virtual a DNS-1123 label).
pub fn to_super(tenant: &str, virtual_ns: &str) -> String {
    let short_len = tenant.len() + SHORT_SEPARATOR.len() + virtual_ns.len();
    if short_len <= MAX_NAMESPACE_LEN {
        return format!("{tenant}{SHORT_SEPARATOR}{virtual_ns}");
    }
    let digest = Sha256::digest(format!("{tenant}/{virtual_ns}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{tenant}{LONG_MARKER}{}", &hex[..HASH_HEX_LEN])
}

/// What a super namespace's name alone says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// `<tenant>--<virtual>`: both recovered from the name.
    Short { tenant: &'a str, virtual_ns: &'a str },
    /// `<tenant>-h-<hash>`: the virtual name comes from the namespace's
    /// `vcproxy.io/virtual-name` label, then is verified by re-hashing.
    Long { tenant: &'a str },
}

/// Parses a super namespace name into its tenant (and virtual name, for the
/// short form). None for names that are not of either form.
pub fn parse_super(name: &str) -> Option<Parsed<'_>> {
    if let Some(i) = name.find(SHORT_SEPARATOR) {
        let (tenant, virtual_ns) = (&name[..i], &name[i + SHORT_SEPARATOR.len()..]);
        if tenant.is_empty() || virtual_ns.is_empty() {
            return None;
        }
        return Some(Parsed::Short { tenant, virtual_ns });
    }
    let tail = LONG_MARKER.len() + HASH_HEX_LEN;
    if name.len() > tail {
        let (tenant, rest) = name.split_at(name.len() - tail);
        let hash = rest.strip_prefix(LONG_MARKER)?;
        if hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) && !tenant.is_empty() {
            return Some(Parsed::Long { tenant });
        }
    }
    None
}

/// Who owns a super namespace, established from its name AND its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tenant: String,
    pub virtual_ns: String,
}

impl Owner {
    /// Ownership of super namespace `name` carrying `tenant_label` and
    /// `virtual_label`: all three must agree, and the name must be exactly the
    /// mapping of the pair. Anything else belongs to no tenant.
    pub fn of(name: &str, tenant_label: Option<&str>, virtual_label: Option<&str>) -> Option<Owner> {
        let tenant = tenant_label?;
        let virtual_ns = virtual_label?;
        if to_super(tenant, virtual_ns) != name {
            return None;
        }
        Some(Owner { tenant: tenant.to_string(), virtual_ns: virtual_ns.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn is_dns1123_label(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    }

    /// splitmix64: a tiny deterministic PRNG, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// A DNS label of length 1..=max drawn from a small alphabet with many
        /// dashes, so separators and near-collisions are common.
        fn label(&mut self, max: usize, allow_double_dash: bool) -> String {
            const ALPHABET: &[u8] = b"ab-1-h-";
            loop {
                let len = 1 + self.below(max);
                let s: String = (0..len).map(|_| ALPHABET[self.below(ALPHABET.len())] as char).collect();
                if is_dns1123_label(&s) && (allow_double_dash || !s.contains("--")) {
                    return s;
                }
            }
        }
    }

    #[test]
    fn short_and_long_forms() {
        assert_eq!(to_super("acme", "default"), "acme--default");
        assert_eq!(to_super("a", "b-c"), "a--b-c");
        assert_eq!(to_super("a-b", "c"), "a-b--c");
        let long = to_super("acme", &"x".repeat(63));
        assert!(long.starts_with("acme-h-") && long.len() == 4 + 3 + 40, "{long}");
        assert_eq!(parse_super(&long), Some(Parsed::Long { tenant: "acme" }));
        assert_eq!(parse_super("acme--a--b"), Some(Parsed::Short { tenant: "acme", virtual_ns: "a--b" }));
        assert_eq!(parse_super("kube-system"), None);
        assert_eq!(parse_super("default"), None);
    }

    #[test]
    fn property_injective_valid_and_invertible() {
        let mut rng = Rng(0x5eed);
        let mut seen: HashMap<String, (String, String)> = HashMap::new();
        for _ in 0..200_000 {
            let tenant = rng.label(20, false);
            let virtual_ns = rng.label(63, true);
            let s = to_super(&tenant, &virtual_ns);
            assert!(is_dns1123_label(&s), "{s:?} from ({tenant}, {virtual_ns}) is not a DNS label");
            match parse_super(&s).expect("every mapped name parses") {
                Parsed::Short { tenant: t, virtual_ns: v } => {
                    assert_eq!((t, v), (tenant.as_str(), virtual_ns.as_str()))
                }
                Parsed::Long { tenant: t } => assert_eq!(t, tenant),
            }
            let owner = Owner::of(&s, Some(&tenant), Some(&virtual_ns)).expect("consistent labels own it");
            assert_eq!((owner.tenant.as_str(), owner.virtual_ns.as_str()), (tenant.as_str(), virtual_ns.as_str()));
            if let Some(prev) = seen.insert(s.clone(), (tenant.clone(), virtual_ns.clone())) {
                assert_eq!(prev, (tenant, virtual_ns), "collision on {s}");
            }
        }
    }

    #[test]
    fn forged_labels_do_not_grant_ownership() {
        let s = to_super("acme", "prod");
        assert!(Owner::of(&s, Some("globex"), Some("prod")).is_none());
        assert!(Owner::of(&s, Some("acme"), Some("dev")).is_none());
        assert!(Owner::of(&s, None, Some("prod")).is_none());
        assert!(Owner::of("kube-system", Some("acme"), Some("kube-system")).is_none());
        // A long name with a forged virtual label fails the re-hash.
        let long = to_super("acme", &"y".repeat(62));
        assert!(Owner::of(&long, Some("acme"), Some("z")).is_none());
        assert!(Owner::of(&long, Some("acme"), Some(&"y".repeat(62))).is_some());
    }
}
