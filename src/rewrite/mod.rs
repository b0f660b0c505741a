//! Rewriting Kubernetes JSON between a tenant's virtual view and the super master's view, both ways.
//! Bodies, selectors, patches, list and watch streams all name namespaces; one declarative table
//! ([`fields`]) and the one mapping ([`crate::mapping`]) drive every translation, so no path disagrees.
//!
//! Pure code: no I/O, no async. The caller feeds bytes and gets bytes back.
//!
//! - [`fields`]    — which JSON paths carry a namespace, per (API group, resource).
//! - [`object`]    — [`rewrite_object`] on a parsed `serde_json::Value` (objects, lists, Tables, Status).
//! - [`stream`]    — [`ListRewriter`] and [`WatchRewriter`]: chunk-fed, memory bounded by one element.
//! - `splice`      — their fast path to the tenant: elements rewritten as bytes, no `Value` (same result).
//! - [`selectors`] — field and label selectors in query strings.
//! - [`patch`]     — PATCH request bodies (merge, strategic merge, apply, JSON patch).
//!
//! Error codes: [`RewriteError::status_code`] is the answer for a *tenant's* request (its body,
//! selector or patch). An error while rewriting an *upstream response* is the upstream's fault:
//! answer 502 whatever `status_code` says (a watch simply ends).

pub mod fields;
pub mod object;
pub mod patch;
pub mod selectors;
pub(crate) mod splice;
pub mod stream;

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

pub use fields::{fields_for, fields_for_kind, FieldKind, FieldSpec, KindFields, Placement};
pub use object::{rewrite_body, rewrite_object, rewrite_single_body, Disposition};
pub use patch::rewrite_patch;
pub use selectors::{translate_field_selector, translate_label_selector};
pub use stream::{ContinueSealer, ListRewriter, WatchRewriter};

use crate::mapping::RESERVED_PREFIX;

/// Which way a body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Tenant → super master (request bodies, selectors, patches).
    ToSuper,
    /// Super master → tenant (response bodies, watch events).
    ToVirtual,
}

/// The per-request namespace translation for one tenant (implemented by the caller with
/// [`crate::mapping::to_super`] and a namespace-ownership cache).
pub trait NamespaceMapper {
    fn tenant(&self) -> &str;
    /// virtual → super (always possible: `mapping::to_super(tenant, v)`).
    fn to_super(&self, virtual_ns: &str) -> String;
    /// super → virtual, only if that super namespace belongs to this tenant.
    fn to_virtual(&self, super_ns: &str) -> Option<String>;
}

impl<T: NamespaceMapper + ?Sized> NamespaceMapper for &T {
    fn tenant(&self) -> &str {
        (**self).tenant()
    }
    fn to_super(&self, v: &str) -> String {
        (**self).to_super(v)
    }
    fn to_virtual(&self, s: &str) -> Option<String> {
        (**self).to_virtual(s)
    }
}

impl<T: NamespaceMapper + ?Sized> NamespaceMapper for Box<T> {
    fn tenant(&self) -> &str {
        (**self).tenant()
    }
    fn to_super(&self, v: &str) -> String {
        (**self).to_super(v)
    }
    fn to_virtual(&self, s: &str) -> Option<String> {
        (**self).to_virtual(s)
    }
}

impl<T: NamespaceMapper + ?Sized> NamespaceMapper for std::sync::Arc<T> {
    fn tenant(&self) -> &str {
        (**self).tenant()
    }
    fn to_super(&self, v: &str) -> String {
        (**self).to_super(v)
    }
    fn to_virtual(&self, s: &str) -> Option<String> {
        (**self).to_virtual(s)
    }
}

/// A [`NamespaceMapper`] over a fixed set of virtual namespaces the tenant is known to own
/// (a snapshot of the caller's ownership cache; also handy in tests and benches).
#[derive(Debug, Clone)]
pub struct FixedMapper {
    tenant: String,
    /// super name → virtual name
    owned: HashMap<String, String>,
}

impl FixedMapper {
    pub fn new(tenant: impl Into<String>) -> Self {
        FixedMapper { tenant: tenant.into(), owned: HashMap::new() }
    }
    /// Records that the tenant owns virtual namespace `virtual_ns`.
    pub fn own(&mut self, virtual_ns: &str) -> &mut Self {
        self.owned.insert(crate::mapping::to_super(&self.tenant, virtual_ns), virtual_ns.to_string());
        self
    }
    pub fn with<'a>(mut self, virtual_names: impl IntoIterator<Item = &'a str>) -> Self {
        for v in virtual_names {
            self.own(v);
        }
        self
    }
}

impl NamespaceMapper for FixedMapper {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn to_super(&self, virtual_ns: &str) -> String {
        crate::mapping::to_super(&self.tenant, virtual_ns)
    }
    fn to_virtual(&self, super_ns: &str) -> Option<String> {
        self.owned.get(super_ns).cloned()
    }
}

/// Size and nesting limits for anything the rewriter buffers or parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single buffered unit: one list element, one Table row, one watch event, or the
    /// top-level fields of a list outside its `items`/`rows`.
    pub max_element: usize,
    /// Deepest JSON nesting accepted by the byte scanner. Elements are additionally parsed
    /// with serde_json, which refuses nesting deeper than [`MAX_PARSE_DEPTH`].
    pub max_depth: usize,
}

/// serde_json's own recursion limit: the deepest structure any parsed element may have.
pub const MAX_PARSE_DEPTH: usize = 128;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_element: 16 << 20, max_depth: 1000 }
    }
}

/// Why a body, selector or patch could not be rewritten. Every message says what was wrong
/// and, where the tenant can do something about it, what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// Not JSON (or not the JSON shape expected, e.g. a list that is not an object).
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// An apply patch that is neither JSON nor YAML.
    #[error("the apply patch is neither valid JSON nor valid YAML: {0}")]
    InvalidYaml(String),
    /// One element (list item, Table row, watch event, or a request body) is over the limit.
    #[error("a single JSON element is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// Nested deeper than allowed.
    #[error("the JSON is nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// A `vcproxy.io/` key where a tenant may not put one.
    #[error("{place} key {key:?} is reserved: keys under \"vcproxy.io/\" belong to vcproxy; remove it")]
    Reserved { place: String, key: String },
    /// A value in a namespace field that is not a namespace name.
    #[error("{path}: {value:?} is not a valid namespace name (a lowercase RFC 1123 label of at most 63 characters)")]
    InvalidNamespace { path: String, value: String },
    /// An RBAC subject naming an identity outside the tenant.
    #[error("{path}: {reason}")]
    InvalidSubject { path: String, reason: String },
    /// A field from the table holding the wrong JSON type.
    #[error("{path}: expected {expected}")]
    WrongType { path: String, expected: &'static str },
    /// An unparsable or unsupported field selector.
    #[error("invalid field selector: {0}")]
    FieldSelector(String),
    /// An unparsable or refused label selector.
    #[error("invalid label selector: {0}")]
    LabelSelector(String),
    /// A malformed PATCH body (not the shape its content type requires).
    #[error("invalid patch: {0}")]
    InvalidPatch(String),
    /// A JSON patch operation vcproxy cannot translate safely.
    #[error("JSON patch operation {index} ({op} {path:?}) is not allowed: {reason}")]
    PatchOpRefused { index: usize, op: String, path: String, reason: String },
    /// A PATCH content type vcproxy does not know.
    #[error("unsupported patch content type {0:?}: use application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml or application/json-patch+json")]
    UnsupportedPatchType(String),
    /// `push` after `finish`, or `finish` twice.
    #[error("the rewriter was already finished")]
    Finished,
}

impl RewriteError {
    /// The HTTP status for a tenant request that failed this way (for an upstream response
    /// that failed to rewrite, answer 502 instead).
    pub fn status_code(&self) -> u16 {
        match self {
            RewriteError::InvalidJson(_)
            | RewriteError::InvalidYaml(_)
            | RewriteError::TooDeep { .. }
            | RewriteError::FieldSelector(_)
            | RewriteError::LabelSelector(_)
            | RewriteError::InvalidPatch(_) => 400,
            RewriteError::Reserved { .. } => 403,
            RewriteError::TooLarge { .. } => 413,
            RewriteError::UnsupportedPatchType(_) => 415,
            RewriteError::InvalidNamespace { .. }
            | RewriteError::InvalidSubject { .. }
            | RewriteError::WrongType { .. }
            | RewriteError::PatchOpRefused { .. } => 422,
            RewriteError::Finished => 500,
        }
    }

    /// The matching `metav1.StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self.status_code() {
            400 => "BadRequest",
            403 => "Forbidden",
            413 => "RequestEntityTooLarge",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            _ => "InternalError",
        }
    }
}

/// True for keys tenants may neither set nor see (`vcproxy.io/…`, compared ASCII-case-insensitively
/// so no spelling slips past; the apiserver would refuse upper case anyway).
pub fn is_reserved_key(key: &str) -> bool {
    key.len() >= RESERVED_PREFIX.len()
        && key.as_bytes()[..RESERVED_PREFIX.len()].eq_ignore_ascii_case(RESERVED_PREFIX.as_bytes())
}

/// A DNS-1123 label: what a namespace name must be.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= crate::mapping::MAX_NAMESPACE_LEN
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Parses one JSON document into a `Value`, refusing duplicate object keys (which the apiserver
/// would resolve silently and a scanner might resolve differently) and nesting deeper than
/// [`MAX_PARSE_DEPTH`]. Keys keep their order (serde_json `preserve_order`).
pub fn parse_json(bytes: &[u8]) -> Result<Value, RewriteError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = ValueSeed.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(v)
}

fn json_error(e: serde_json::Error) -> RewriteError {
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        RewriteError::TooDeep { limit: MAX_PARSE_DEPTH }
    } else {
        RewriteError::InvalidJson(msg)
    }
}

/// Builds a `Value` like serde_json does, but errors on a duplicate key.
pub(crate) struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(x) = seq.next_element_seed(ValueSeed)? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            match m.entry(k) {
                serde_json::map::Entry::Occupied(e) => {
                    return Err(de::Error::custom(format!("duplicate key {:?}", e.key())));
                }
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(map.next_value_seed(ValueSeed)?);
                }
            }
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared test helpers: a deterministic PRNG, a mapper with a fixed tenant, and chunked
    //! feeding of the streaming rewriters.
    use super::*;

    /// Pushes `body` cut at `splits` (ascending offsets) through `push`; the caller finishes.
    pub fn push_in_chunks(
        body: &[u8],
        splits: &[usize],
        mut push: impl FnMut(&[u8], &mut Vec<u8>) -> Result<(), RewriteError>,
    ) -> Result<Vec<u8>, RewriteError> {
        let mut out = Vec::new();
        let mut at = 0;
        for &s in splits.iter().chain(std::iter::once(&body.len())) {
            push(&body[at..s], &mut out)?;
            at = s;
        }
        Ok(out)
    }

    /// splitmix64: tiny and deterministic, so failures reproduce.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        pub fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
        pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
    }

    /// Virtual namespaces tenant `acme` owns in tests: short and long (hashed) forms.
    pub fn owned_virtuals() -> Vec<String> {
        let mut v: Vec<String> = ["default", "prod", "dev", "kube-system", "a--b", "x1"].iter().map(|s| s.to_string()).collect();
        v.push("l".repeat(63));
        v.push(format!("long-{}", "n".repeat(55)));
        v
    }

    pub fn acme() -> FixedMapper {
        let mut m = FixedMapper::new("acme");
        for v in owned_virtuals() {
            m.own(&v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_json_refuses_duplicates_and_depth() {
        assert!(parse_json(br#"{"a":1,"b":{"c":2}}"#).is_ok());
        let e = parse_json(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(matches!(e, RewriteError::InvalidJson(ref m) if m.contains("duplicate key")), "{e}");
        let e = parse_json(br#"{"a":{"x":1,"x":1}}"#).unwrap_err();
        assert_eq!(e.status_code(), 400);
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse_json(deep.as_bytes()).unwrap_err(), RewriteError::TooDeep { limit: MAX_PARSE_DEPTH });
        assert!(parse_json(b"{} x").is_err());
        assert!(parse_json(b"\"unterminated").is_err());
        // Keys keep their order through a round trip.
        let v = parse_json(br#"{"z":1,"a":2,"m":[1.5,-3,true,null,"s"]}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"z":1,"a":2,"m":[1.5,-3,true,null,"s"]}"#);
    }

    #[test]
    fn reserved_keys_any_case() {
        assert!(is_reserved_key("vcproxy.io/tenant"));
        assert!(is_reserved_key("VCProxy.IO/x"));
        assert!(!is_reserved_key("vcproxy.io"));
        assert!(!is_reserved_key("x.vcproxy.io/y"));
    }

    #[test]
    fn status_codes_and_reasons() {
        let e = RewriteError::Reserved { place: "label".into(), key: "vcproxy.io/x".into() };
        assert_eq!((e.status_code(), e.reason()), (403, "Forbidden"));
        assert!(e.to_string().contains("remove it"));
        assert_eq!(RewriteError::TooLarge { limit: 1 }.status_code(), 413);
        assert_eq!(RewriteError::InvalidNamespace { path: "x".into(), value: "Y".into() }.reason(), "Invalid");
    }
}
