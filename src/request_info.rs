//! Request info: a tenant request's Kubernetes API path, method and query, parsed once into a [`RequestInfo`].
//! Later stages (flow control, routing, mapping, rewriting) trust it and never re-read the URL, so hostile
//! paths (`..`, `%2F`, `//`, bad escapes, bad namespaces) are refused here, before any tenant decision.
//!
//! The input is the part of the path *after* `/clusters/<tenant>`, e.g. `/api/v1/namespaces/ns1/pods/p1/log`,
//! plus the HTTP method and the raw query string (without `?`). The module is pure (no I/O, no global
//! state), so tests, fuzzers and benches call [`parse`] directly.
//!
//! # Accepted shapes
//!
//! Resource requests (`is_resource_request == true`); `{prefix}/{version}` is `api/v1` or
//! `apis/{group}/{version}`:
//!
//! ```text
//! /{prefix}/{version}/{resource}                                   list / create / deletecollection
//! /{prefix}/{version}/{resource}/{name}                            get / update / patch / delete
//! /{prefix}/{version}/{resource}/{name}/{subresource}
//! /{prefix}/{version}/namespaces/{namespace}/{resource}[/{name}[/{subresource}]]
//! /{prefix}/{version}/…/{name}/proxy/{any/trailing/path}           only `proxy` takes a trailing path
//! /{prefix}/{version}/namespaces/{namespace}                       resource "namespaces", name = namespace
//! /{prefix}/{version}/namespaces/{namespace}/status|finalize       subresources of that namespace
//! /{prefix}/{version}/watch/…                                      legacy watch prefix (GET/HEAD only)
//! ```
//!
//! Everything else is a non-resource request (`is_resource_request == false`, verb = lowercase method):
//! `/`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`, `/version`, `/openapi/…`,
//! `/healthz`, … For those, [`RequestInfo::segments`] holds the decoded path for routing (e.g. discovery).
//!
//! # Semantics
//!
//! Verb, namespace, resource, subresource, name and parts follow kube-apiserver's
//! `RequestInfoFactory.NewRequestInfo` (`staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`),
//! including its `?watch=` boolean rules and the `fieldSelector=metadata.name=X` name extraction.
//! Where kube is lenient this parser is deliberately stricter, so that no two parsers in the chain
//! (ours, the upstream's, the CRD store's) can disagree about what a request means:
//!
//! * Path hygiene: each segment is percent-decoded exactly once; encoded `/` and any backslash, `.`/`..`
//!   segments (raw or encoded), empty segments, control characters, invalid escapes, invalid UTF-8,
//!   paths over [`MAX_PATH_LEN`] bytes and paths with more than [`MAX_SEGMENTS`] segments are errors.
//!   kube would instead trim or clean such paths. One trailing slash is dropped (`/api/`, `…/pods/`
//!   mean `/api`, `…/pods`, as kube-apiserver serves them), except on a proxy-subresource path
//!   (`…/services/web/proxy/`, refused: its trailing path is the target's) and under `/openapi`
//!   (404, as upstream).
//! * Identifiers: namespaces must be DNS-1123 labels; names must be valid path-segment names (no `%`);
//!   groups must be DNS-1123 subdomains, versions DNS-1035 labels, resources/subresources
//!   `[A-Za-z0-9_.:-]+` (underscores and mixed case appear in custom/external metrics APIs).
//! * The legacy `/proxy/` verb prefix (removed from kube-apiserver long ago; it 404s) is refused.
//!   The legacy `/watch/` prefix is accepted for GET/HEAD only (kube only serves it for GET).
//! * Only GET, HEAD, POST, PUT, PATCH, DELETE (and OPTIONS for non-resource paths) are accepted;
//!   kube would produce an empty verb that authorization then denies.
//! * Segments after a subresource are refused unless the subresource is `proxy`.
//! * `/namespaces/{ns}/namespaces…` (a namespace inside a namespace) is refused.
//! * The query string is parsed strictly (see [`Query`]); `watch`, `fieldSelector` and `follow` must
//!   appear at most once where they are read, and boolean values must be ASCII. kube's Go parser silently
//!   drops malformed pairs and uses the first of duplicate values; we refuse instead of guessing.
//! * `log` is long-running only with `follow` set (kube counts every `log` request as long-running).

use std::fmt;

use http::{Method, StatusCode};

/// Longest accepted tenant-relative path, in bytes (checked before any decoding).
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// Most `/`-separated segments accepted in a path.
pub const MAX_SEGMENTS: usize = 64;
/// Longest accepted namespace (a DNS-1123 label).
pub const MAX_NAMESPACE_LEN: usize = 63;

/// Subresources whose requests stream for as long as the client keeps them open.
const LONG_RUNNING_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward", "proxy"];
/// Subresources of a namespace object (`/api/v1/namespaces/{ns}/{sub}`), as opposed to namespaced resources.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// The Kubernetes verb of a request (what RBAC and flow control reason about), not the HTTP method.
///
/// Resource requests use `Get`…`DeleteCollection`. Non-resource requests use the lowercase HTTP method,
/// which shares `Get`, `Patch` and `Delete` with resource verbs and adds `Head`, `Post`, `Put`, `Options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one named object (resource), or HTTP GET (non-resource).
    Get,
    /// Read a collection.
    List,
    /// Stream changes to a collection or object; always long-running.
    Watch,
    /// POST to a resource (including subresources such as `eviction` or `exec`).
    Create,
    /// PUT to a resource.
    Update,
    /// PATCH to a resource, or HTTP PATCH (non-resource).
    Patch,
    /// DELETE of a named object, or HTTP DELETE (non-resource).
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
    /// HTTP HEAD on a non-resource path (on resources HEAD maps to get/list/watch like GET).
    Head,
    /// HTTP POST on a non-resource path.
    Post,
    /// HTTP PUT on a non-resource path.
    Put,
    /// HTTP OPTIONS on a non-resource path.
    Options,
}

impl Verb {
    /// The verb as kube-apiserver spells it (`"deletecollection"`, `"get"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Head => "head",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Options => "options",
        }
    }

    /// True for verbs that never change state (get, list, watch, head, options).
    pub const fn is_read_only(self) -> bool {
        matches!(
            self,
            Verb::Get | Verb::List | Verb::Watch | Verb::Head | Verb::Options
        )
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request was refused. Every variant is the client's fault; see [`ParseError::status_code`].
/// Display messages are written for the `message` of a `metav1.Status` (reason `BadRequest`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The path does not start with `/`.
    #[error("request path must start with '/'")]
    NotAbsolute,
    /// The raw path is longer than [`MAX_PATH_LEN`].
    #[error("request path is {len} bytes long; at most {MAX_PATH_LEN} bytes are allowed")]
    TooLong { len: usize },
    /// The path has more than [`MAX_SEGMENTS`] segments.
    #[error("request path has {count} segments; at most {MAX_SEGMENTS} are allowed")]
    TooManySegments { count: usize },
    /// `//` somewhere in the path.
    #[error("request path must not contain empty segments ('//')")]
    EmptySegment,
    /// A proxy-subresource path that ends with `/` (its trailing path is the target's own).
    #[error("request path must not end with '/'")]
    TrailingSlash,
    /// A path kube-apiserver serves only without its trailing `/` (`/openapi/v2/`): 404 there too.
    #[error("the server could not find the requested resource (the path ends with '/')")]
    NotFoundWithSlash,
    /// A `.` or `..` segment, raw or percent-encoded (`%2e%2e`).
    #[error("request path must not contain '.' or '..' segments")]
    DotSegment,
    /// `%2F` / `%2f` inside a segment.
    #[error("request path must not contain an encoded slash (%2F)")]
    EncodedSlash,
    /// A backslash, raw or encoded (`%5C`).
    #[error("request path must not contain a backslash ('\\' or %5C)")]
    Backslash,
    /// NUL or another control character, raw or encoded.
    #[error("request path must not contain control characters")]
    ControlCharacter,
    /// `%` not followed by two hex digits.
    #[error("request path contains an invalid percent-encoding")]
    InvalidEscape,
    /// A segment is not UTF-8 once decoded (e.g. `%ff`).
    #[error("request path is not valid UTF-8 after percent-decoding")]
    InvalidUtf8,
    /// The namespace is not a DNS-1123 label.
    #[error("invalid namespace {}: {reason}", shown(.namespace))]
    InvalidNamespace {
        namespace: String,
        reason: &'static str,
    },
    /// The object name is not a valid path segment name.
    #[error("invalid name {}: {reason}", shown(.name))]
    InvalidName { name: String, reason: &'static str },
    /// The API group is not a DNS-1123 subdomain.
    #[error("invalid API group {}: must be a lowercase DNS-1123 subdomain", shown(.group))]
    InvalidGroup { group: String },
    /// The API version is not a DNS-1035 label.
    #[error("invalid API version {}: must be a lowercase DNS-1035 label such as \"v1\"", shown(.version))]
    InvalidVersion { version: String },
    /// The resource contains characters outside `[A-Za-z0-9_.:-]`.
    #[error("invalid resource {}: may only contain letters, digits, '-', '_', '.' and ':'", shown(.resource))]
    InvalidResource { resource: String },
    /// The subresource contains characters outside `[A-Za-z0-9_.:-]`.
    #[error("invalid subresource {}: may only contain letters, digits, '-', '_', '.' and ':'", shown(.subresource))]
    InvalidSubresource { subresource: String },
    /// `/{prefix}/{version}/watch` with nothing after it.
    #[error("unable to determine kind and namespace from the path: /watch must be followed by a resource")]
    IncompleteWatchPath,
    /// The legacy `/watch/` prefix with a method other than GET/HEAD.
    #[error("the legacy /watch/ path prefix only supports GET, not {method}")]
    LegacyWatchMethod { method: Method },
    /// The legacy `/proxy/` verb prefix.
    #[error("the legacy /proxy/ path prefix is not supported; use the proxy subresource (…/{{name}}/proxy/…)")]
    LegacyProxyPrefix,
    /// Segments after a subresource other than `proxy`.
    #[error("unexpected path segments after subresource {}; only the proxy subresource takes a trailing path", shown(.subresource))]
    UnexpectedSegments { subresource: String },
    /// `/namespaces/{ns}/namespaces…`.
    #[error("namespaces are cluster-scoped and cannot be addressed inside namespace {}", shown(.namespace))]
    NamespaceInNamespace { namespace: String },
    /// A method this proxy does not serve (CONNECT, TRACE, extension methods; OPTIONS on resources).
    #[error("method {method} is not supported for this path")]
    UnsupportedMethod { method: Method },
    /// The query string is malformed (bad escape, `;` separator, invalid UTF-8).
    #[error("invalid query string: {reason}")]
    InvalidQuery { reason: &'static str },
    /// A query parameter that decides how the request is classified appears more than once.
    #[error("query parameter {param:?} must not be given more than once")]
    DuplicateQueryParam { param: String },
    /// A boolean query parameter has a non-ASCII value.
    #[error("query parameter {param:?} must be \"true\", \"false\", \"1\" or \"0\"")]
    InvalidQueryValue { param: String },
}

impl ParseError {
    /// The HTTP status to answer with: 405 for method errors, 400 for everything else.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ParseError::UnsupportedMethod { .. } | ParseError::LegacyWatchMethod { .. } => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            ParseError::NotFoundWithSlash => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Quote a client-supplied value for an error message, cut to 64 characters so a hostile 8 KiB
/// name does not become an 8 KiB error body.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
    }
}

/// Everything later stages need to know about a request's target, parsed once.
///
/// Invariants when [`parse`] returns `Ok`: every decoded segment is non-empty, not `.`/`..`, valid UTF-8
/// without `/`, `\` or control characters; `namespace` (if any) is a DNS-1123 label; `name` (if any)
/// is a path-segment name (no `/`, no `%`, not `.`/`..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// True for `/api/v1/…` and `/apis/{group}/{version}/…` requests that name at least a resource.
    pub is_resource_request: bool,
    /// The normalised tenant-relative path: decoded segments re-encoded canonically (so `%6Bube-system`
    /// becomes `kube-system`), legacy `/watch/` prefix kept. Safe to forward upstream after the route
    /// stage has mapped the namespace; never contains `//`, `.`/`..` segments or an encoded slash.
    pub path: String,
    /// Every decoded segment of `path`, in order (`["api", "v1", "namespaces", "a", "pods"]`).
    /// Non-resource routing (discovery, `/version`, `/openapi/…`) reads this.
    pub segments: Vec<String>,
    /// The Kubernetes verb (resource requests) or lowercase HTTP method (non-resource requests).
    pub verb: Verb,
    /// True when the verb came from the legacy `/watch/` path prefix rather than the method and query;
    /// such a watch of a named object (`/watch/…/pods/p1`) watches one object, and the forwarder must keep
    /// the prefix (it is in `path`) rather than rebuild the request from `parts`.
    pub verb_via_path_prefix: bool,
    /// `"api"` or `"apis"`; `""` for non-resource requests.
    pub api_prefix: &'static str,
    /// The API group; `""` for the core group and for non-resource requests.
    pub api_group: String,
    /// The API version (`"v1"`); `""` for non-resource requests.
    pub api_version: String,
    /// The tenant's namespace as written in the path (the route stage maps it to a super namespace).
    /// Set for namespaced requests *and* for the namespace object itself (`/api/v1/namespaces/{ns}`),
    /// like kube. `None` for cluster-scoped and non-resource requests.
    pub namespace: Option<String>,
    /// The resource (`"pods"`); `""` for non-resource requests.
    pub resource: String,
    /// The subresource (`"status"`, `"log"`, `"exec"`, `"proxy"`, …).
    pub subresource: Option<String>,
    /// The object name from the path, or — for list/watch only — from `fieldSelector=metadata.name=X`,
    /// exactly as kube-apiserver does it (so a list with a name is still a list).
    pub name: Option<String>,
    /// Decoded segments from the resource on: `[resource, name, subresource, proxy path…]`; for the
    /// namespace object `["namespaces", ns, (status|finalize)]`. Empty for non-resource requests.
    pub parts: Vec<String>,
    /// True for requests that may stream indefinitely: verb watch; subresources exec, attach, portforward,
    /// proxy; `log` with `follow` set. Flow control gives these no seat but counts them as streams.
    pub long_running: bool,
    /// The strictly parsed query string, for later stages (selectors, resourceVersion, …).
    pub query: Query,
}

impl RequestInfo {
    /// The subresource as `&str`, `""` if none.
    pub fn subresource_str(&self) -> &str {
        self.subresource.as_deref().unwrap_or("")
    }
}

/// A strictly parsed query string: `&`-separated `key=value` pairs, `+` as space, each key and value
/// percent-decoded once, order and duplicates preserved.
///
/// Strictness (compared with Go's `url.ParseQuery`, which kube-apiserver uses and which silently drops
/// malformed pairs): a pair with a bad `%` escape, a `;` (not a separator since Go 1.17), or invalid
/// UTF-8 after decoding makes the whole query invalid. Empty pairs (`a=1&&b=2`) are skipped, as in Go.
/// Duplicates: [`Query::get`] has Go's first-value semantics; [`Query::unique`] and [`Query::flag`]
/// refuse duplicates, and [`parse`] uses those for every parameter that decides classification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse a raw query string (without the leading `?`).
    ///
    /// # Errors
    ///
    /// [`ParseError::InvalidQuery`] for a bad `%` escape, a `;`, or invalid UTF-8 after decoding.
    pub fn parse(raw: &str) -> Result<Query, ParseError> {
        let mut pairs = Vec::new();
        for pair in raw.split('&') {
            if pair.is_empty() {
                continue;
            }
            if pair.contains(';') {
                return Err(ParseError::InvalidQuery {
                    reason: "';' is not a valid separator, use '&'",
                });
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((decode_query_component(key)?, decode_query_component(value)?));
        }
        Ok(Query { pairs })
    }

    /// All pairs, decoded, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// True if the query has no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The first value of `key` (Go's `url.Values.Get`), ignoring later duplicates.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` if it appears at most once; [`ParseError::DuplicateQueryParam`] otherwise.
    pub fn unique(&self, key: &str) -> Result<Option<&str>, ParseError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ParseError::DuplicateQueryParam {
                param: key.to_owned(),
            });
        }
        Ok(first)
    }

    /// A boolean parameter with kube's rules (`Convert_Slice_string_To_bool`): absent, `"0"` or
    /// `"false"` (any case) is false; anything else, including an empty value, is true. Must appear at
    /// most once, and the value must be ASCII (Go's case folding maps `ſ` to `s`; we refuse rather
    /// than emulate it).
    pub fn flag(&self, key: &str) -> Result<bool, ParseError> {
        match self.unique(key)? {
            None => Ok(false),
            Some(v) if !v.is_ascii() => Err(ParseError::InvalidQueryValue {
                param: key.to_owned(),
            }),
            Some(v) => Ok(!(v == "0" || v.eq_ignore_ascii_case("false"))),
        }
    }
}

/// Decode one query key or value: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn decode_query_component(s: &str) -> Result<String, ParseError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let byte = hex_pair(bytes, i + 1).ok_or(ParseError::InvalidQuery {
                    reason: "invalid percent-encoding",
                })?;
                out.push(byte);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ParseError::InvalidQuery {
        reason: "not valid UTF-8 after percent-decoding",
    })
}

/// The byte encoded by the two hex digits at `bytes[at..at + 2]`, if both are present and valid.
fn hex_pair(bytes: &[u8], at: usize) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let hi = digit(*bytes.get(at)?)?;
    let lo = digit(*bytes.get(at + 1)?)?;
    Some(hi << 4 | lo)
}

/// Parse a tenant-relative request once.
///
/// `path` is what follows `/clusters/<tenant>` (an empty string is treated as `/`); `query` is the raw
/// query string without `?`, as [`http::Uri::query`] returns it.
///
/// # Errors
///
/// A [`ParseError`] naming the first problem found: path size and hygiene first (length, segment
/// count, empty/dot segments, escapes, UTF-8, slashes, control characters), then the query string,
/// then the method and the path's identifiers (group, version, namespace, resource, name,
/// subresource), then duplicate or malformed `watch` / `fieldSelector` / `follow` parameters.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<RequestInfo, ParseError> {
    // Length first: nothing below should ever walk a huge path.
    if path.len() > MAX_PATH_LEN {
        return Err(ParseError::TooLong { len: path.len() });
    }
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return Err(ParseError::NotAbsolute);
    }
    let (segments, trailing_slash) = decode_segments(path)?;
    let query = Query::parse(query.unwrap_or(""))?;

    let mut canonical = String::with_capacity(path.len());
    if segments.is_empty() {
        canonical.push('/');
    }
    for segment in &segments {
        canonical.push('/');
        push_encoded(&mut canonical, segment);
    }

    // Start as a non-resource request until proven otherwise (as kube does).
    let mut info = RequestInfo {
        is_resource_request: false,
        path: canonical,
        segments,
        verb: non_resource_verb(method)?,
        verb_via_path_prefix: false,
        api_prefix: "",
        api_group: String::new(),
        api_version: String::new(),
        namespace: None,
        resource: String::new(),
        subresource: None,
        name: None,
        parts: Vec::new(),
        long_running: false,
        query,
    };
    classify_resource(method, &mut info)?;
    if trailing_slash {
        // A proxy subresource's trailing path is the target's own, so its `/` cannot be dropped;
        // OpenAPI documents are 404 with a `/` upstream, and so here.
        if info.subresource.as_deref() == Some("proxy") {
            return Err(ParseError::TrailingSlash);
        }
        if info.segments.first().is_some_and(|s| s == "openapi") {
            return Err(ParseError::NotFoundWithSlash);
        }
    }
    Ok(info)
}

/// Fill in the resource fields if `info.segments` is a resource path; leave `info` untouched otherwise.
fn classify_resource(method: &Method, info: &mut RequestInfo) -> Result<(), ParseError> {
    let segs = &info.segments;
    if segs.len() < 3 {
        return Ok(());
    }
    let api_prefix = match segs[0].as_str() {
        "api" => "api",
        "apis" => "apis",
        _ => return Ok(()),
    };
    let mut rest = &segs[1..];
    let mut api_group = "";
    if api_prefix == "apis" {
        // /apis/{group}/{version} alone is discovery, not a resource.
        if rest.len() < 3 {
            return Ok(());
        }
        api_group = &rest[0];
        if !is_dns1123_subdomain(api_group) {
            return Err(ParseError::InvalidGroup {
                group: api_group.to_owned(),
            });
        }
        rest = &rest[1..];
    }
    let api_version = &rest[0];
    if !is_dns1035_label(api_version) {
        return Err(ParseError::InvalidVersion {
            version: api_version.clone(),
        });
    }
    rest = &rest[1..]; // non-empty: at least one segment follows the version here

    let mut verb_via_path_prefix = false;
    let mut verb = match rest[0].as_str() {
        "watch" => {
            if rest.len() < 2 {
                return Err(ParseError::IncompleteWatchPath);
            }
            if *method != Method::GET && *method != Method::HEAD {
                return Err(ParseError::LegacyWatchMethod {
                    method: method.clone(),
                });
            }
            rest = &rest[1..];
            verb_via_path_prefix = true;
            Verb::Watch
        }
        "proxy" => return Err(ParseError::LegacyProxyPrefix),
        _ => match method.as_str() {
            "GET" | "HEAD" => Verb::Get,
            "POST" => Verb::Create,
            "PUT" => Verb::Update,
            "PATCH" => Verb::Patch,
            "DELETE" => Verb::Delete,
            _ => {
                return Err(ParseError::UnsupportedMethod {
                    method: method.clone(),
                })
            }
        },
    };

    // /namespaces/{ns}/{resource}/…: drop the namespace prefix unless what follows is a subresource of
    // the namespace object itself (then parts stay ["namespaces", ns, sub]).
    let mut namespace = None;
    if rest[0] == "namespaces" && rest.len() > 1 {
        let ns = &rest[1];
        validate_namespace(ns)?;
        namespace = Some(ns.clone());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2].as_str()) {
            rest = &rest[2..];
            if rest[0] == "namespaces" {
                return Err(ParseError::NamespaceInNamespace {
                    namespace: ns.clone(),
                });
            }
        }
    }
    let parts = rest.to_vec();

    let resource = &parts[0];
    if !is_resource_token(resource) {
        return Err(ParseError::InvalidResource {
            resource: resource.clone(),
        });
    }
    let mut name = match parts.get(1) {
        Some(n) => {
            validate_name(n)?;
            Some(n.clone())
        }
        None => None,
    };
    let subresource = match parts.get(2) {
        Some(sub) => {
            if !is_resource_token(sub) {
                return Err(ParseError::InvalidSubresource {
                    subresource: sub.clone(),
                });
            }
            if parts.len() > 3 && sub != "proxy" {
                return Err(ParseError::UnexpectedSegments {
                    subresource: sub.clone(),
                });
            }
            Some(sub.clone())
        }
        None => None,
    };

    // A GET without a name is a list or a watch; kube reads `watch` and `fieldSelector` only here.
    if name.is_none() && verb == Verb::Get {
        verb = if info.query.flag("watch")? {
            Verb::Watch
        } else {
            Verb::List
        };
        if let Some(selector) = info.query.unique("fieldSelector")? {
            name = field_selector_exact_match(selector, "metadata.name")
                .filter(|n| validate_name(n).is_ok());
        }
    }
    // A DELETE without a name deletes the collection (a fieldSelector name does not change that).
    if name.is_none() && verb == Verb::Delete {
        verb = Verb::DeleteCollection;
    }

    let long_running = verb == Verb::Watch
        || match subresource.as_deref() {
            Some("log") => info.query.flag("follow")?,
            Some(sub) => LONG_RUNNING_SUBRESOURCES.contains(&sub),
            None => false,
        };

    info.is_resource_request = true;
    info.verb = verb;
    info.verb_via_path_prefix = verb_via_path_prefix;
    info.api_prefix = api_prefix;
    info.api_group = api_group.to_owned();
    info.api_version = api_version.clone();
    info.namespace = namespace;
    info.resource = resource.clone();
    info.subresource = subresource;
    info.name = name;
    info.parts = parts;
    info.long_running = long_running;
    Ok(())
}

/// The verb of a non-resource request: the lowercase method. Methods that no Kubernetes endpoint
/// serves (CONNECT, TRACE, extension methods) are refused here, for every path.
fn non_resource_verb(method: &Method) -> Result<Verb, ParseError> {
    Ok(match method.as_str() {
        "GET" => Verb::Get,
        "HEAD" => Verb::Head,
        "POST" => Verb::Post,
        "PUT" => Verb::Put,
        "PATCH" => Verb::Patch,
        "DELETE" => Verb::Delete,
        "OPTIONS" => Verb::Options,
        _ => {
            return Err(ParseError::UnsupportedMethod {
                method: method.clone(),
            })
        }
    })
}

/// Split an absolute path into segments, decoding and checking each one, and whether it ended
/// with one `/` (dropped: kube-apiserver serves `/api/`, `/version/`, `…/pods/` as without it).
/// The root `/` has none.
fn decode_segments(path: &str) -> Result<(Vec<String>, bool), ParseError> {
    let trailing = path.len() > 1 && path.ends_with('/');
    let body = if trailing { &path[1..path.len() - 1] } else { &path[1..] };
    if body.is_empty() {
        // `/` alone, or `//` (an empty segment, not a trailing slash)
        return if trailing { Err(ParseError::EmptySegment) } else { Ok((Vec::new(), false)) };
    }
    let count = body.bytes().filter(|&b| b == b'/').count() + 1;
    if count > MAX_SEGMENTS {
        return Err(ParseError::TooManySegments { count });
    }
    let mut segments = Vec::with_capacity(count);
    for raw in body.split('/') {
        if raw.is_empty() {
            return Err(ParseError::EmptySegment);
        }
        segments.push(decode_segment(raw)?);
    }
    Ok((segments, trailing))
}

/// Percent-decode one path segment exactly once (`+` stays `+` in paths) and check the result.
fn decode_segment(raw: &str) -> Result<String, ParseError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let byte = hex_pair(bytes, i + 1).ok_or(ParseError::InvalidEscape)?;
                match byte {
                    b'/' => return Err(ParseError::EncodedSlash),
                    b'\\' => return Err(ParseError::Backslash),
                    _ => out.push(byte),
                }
                i += 3;
            }
            b'\\' => return Err(ParseError::Backslash),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let segment = String::from_utf8(out).map_err(|_| ParseError::InvalidUtf8)?;
    if segment.chars().any(char::is_control) {
        return Err(ParseError::ControlCharacter);
    }
    if segment == "." || segment == ".." {
        return Err(ParseError::DotSegment);
    }
    Ok(segment)
}

/// Append `segment` percent-encoded: RFC 3986 `pchar`s stay literal, everything else (including `%`,
/// space, non-ASCII) becomes `%XX`. Decoding the result once gives back `segment`.
fn push_encoded(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// A namespace must be a DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending alphanumeric.
fn validate_namespace(ns: &str) -> Result<(), ParseError> {
    let reason = if ns.is_empty() {
        "must not be empty"
    } else if ns.len() > MAX_NAMESPACE_LEN {
        "must be no more than 63 characters"
    } else if !ns
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        "must consist of lower case alphanumeric characters or '-'"
    } else if ns.starts_with('-') || ns.ends_with('-') {
        "must start and end with an alphanumeric character"
    } else {
        return Ok(());
    };
    Err(ParseError::InvalidNamespace {
        namespace: ns.to_owned(),
        reason,
    })
}

/// A name must be a valid path segment name (kube's `IsValidPathSegmentName`), non-empty and free of
/// control characters. Segments from the path already satisfy all but the `%` rule; names from a
/// field selector are checked in full.
fn validate_name(name: &str) -> Result<(), ParseError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name == "." || name == ".." {
        "may not be '.' or '..'"
    } else if name.contains('/') {
        "may not contain '/'"
    } else if name.contains('%') {
        "may not contain '%'"
    } else if name.chars().any(char::is_control) {
        "may not contain control characters"
    } else {
        return Ok(());
    };
    Err(ParseError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// `[A-Za-z0-9_.:-]+`: resources and subresources, including custom/external metric names.
fn is_resource_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// DNS-1123 label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends.
fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// DNS-1035 label: a DNS-1123 label that starts with a letter.
fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// The value `field` must equal under field selector `selector`, with apimachinery's
/// `fields.ParseSelector` + `RequiresExactMatch` semantics: terms split on unescaped `,`, sorted,
/// operators `!=`, `==`, `=` tried in that order at each position, values unescaped (`\\`, `\,`, `\=`);
/// the first `=`/`==` term on `field` in sorted order wins. Any malformed term makes the whole
/// selector unusable, and kube then sets no name; so do we (`None`).
fn field_selector_exact_match(selector: &str, field: &str) -> Option<String> {
    let mut terms = split_selector_terms(selector);
    terms.sort_unstable(); // byte-wise, like Go's sort.Strings
    let mut found = None;
    for term in terms {
        if term.is_empty() {
            continue;
        }
        let (lhs, op, rhs) = split_selector_term(term)?;
        let value = unescape_selector_value(rhs)?;
        if op != "!=" && lhs == field && found.is_none() {
            found = Some(value);
        }
    }
    found
}

/// Split on commas not preceded by a backslash escape (escapes are kept in the terms).
fn split_selector_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_escape = false;
    for (i, c) in selector.char_indices() {
        if in_escape {
            in_escape = false;
        } else if c == '\\' {
            in_escape = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// `lhs op rhs` at the first position where an operator starts.
fn split_selector_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        for op in ["!=", "==", "="] {
            if term[i..].starts_with(op) {
                return Some((&term[..i], op, &term[i + op.len()..]));
            }
        }
    }
    None
}

/// Undo `\\`, `\,`, `\=`; any other escape, a dangling `\`, or a bare `,`/`=` is an error.
fn unescape_selector_value(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut in_escape = false;
    for c in value.chars() {
        if in_escape {
            if !matches!(c, '\\' | ',' | '=') {
                return None;
            }
            out.push(c);
            in_escape = false;
        } else if c == '\\' {
            in_escape = true;
        } else if c == ',' || c == '=' {
            return None;
        } else {
            out.push(c);
        }
    }
    (!in_escape).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(m: &str) -> Method {
        Method::from_bytes(m.as_bytes()).unwrap()
    }

    fn ok(m: &str, path: &str, query: Option<&str>) -> RequestInfo {
        parse(&method(m), path, query)
            .unwrap_or_else(|e| panic!("{m} {path} {query:?}: unexpected error {e}"))
    }

    fn err(m: &str, path: &str, query: Option<&str>) -> ParseError {
        match parse(&method(m), path, query) {
            Ok(info) => panic!("{m} {path} {query:?}: expected an error, got {info:?}"),
            Err(e) => e,
        }
    }

    /// One expected resource classification.
    struct Case {
        method: &'static str,
        path: &'static str,
        query: Option<&'static str>,
        verb: &'static str,
        group: &'static str,
        version: &'static str,
        namespace: Option<&'static str>,
        resource: &'static str,
        name: Option<&'static str>,
        subresource: Option<&'static str>,
        long_running: bool,
    }

    #[rustfmt::skip]
    fn resource_cases() -> Vec<Case> {
        let c = |method, path, query, verb, group, version, namespace, resource, name, subresource, long_running| Case {
            method, path, query, verb, group, version, namespace, resource, name, subresource, long_running,
        };
        vec![
            // core, cluster-scoped
            c("GET", "/api/v1/pods", None, "list", "", "v1", None, "pods", None, None, false),
            c("GET", "/api/v1/nodes", None, "list", "", "v1", None, "nodes", None, None, false),
            c("GET", "/api/v1/nodes/n1", None, "get", "", "v1", None, "nodes", Some("n1"), None, false),
            c("PATCH", "/api/v1/nodes/n1/status", None, "patch", "", "v1", None, "nodes", Some("n1"), Some("status"), false),
            c("GET", "/api/v1/nodes/n1/proxy/metrics/cadvisor", None, "get", "", "v1", None, "nodes", Some("n1"), Some("proxy"), true),
            // namespaces themselves
            c("GET", "/api/v1/namespaces", None, "list", "", "v1", None, "namespaces", None, None, false),
            c("POST", "/api/v1/namespaces", None, "create", "", "v1", None, "namespaces", None, None, false),
            c("GET", "/api/v1/namespaces/ns1", None, "get", "", "v1", Some("ns1"), "namespaces", Some("ns1"), None, false),
            c("DELETE", "/api/v1/namespaces/ns1", None, "delete", "", "v1", Some("ns1"), "namespaces", Some("ns1"), None, false),
            c("PUT", "/api/v1/namespaces/ns1/status", None, "update", "", "v1", Some("ns1"), "namespaces", Some("ns1"), Some("status"), false),
            c("PUT", "/api/v1/namespaces/ns1/finalize", None, "update", "", "v1", Some("ns1"), "namespaces", Some("ns1"), Some("finalize"), false),
            // core, namespaced
            c("GET", "/api/v1/namespaces/ns1/pods", None, "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("HEAD", "/api/v1/namespaces/ns1/pods", None, "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("POST", "/api/v1/namespaces/ns1/pods", None, "create", "", "v1", Some("ns1"), "pods", None, None, false),
            c("DELETE", "/api/v1/namespaces/ns1/pods", None, "deletecollection", "", "v1", Some("ns1"), "pods", None, None, false),
            c("PUT", "/api/v1/namespaces/ns1/pods", None, "update", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods/p1", None, "get", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("HEAD", "/api/v1/namespaces/ns1/pods/p1", None, "get", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("PUT", "/api/v1/namespaces/ns1/pods/p1", None, "update", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("PATCH", "/api/v1/namespaces/ns1/pods/p1", None, "patch", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("DELETE", "/api/v1/namespaces/ns1/pods/p1", None, "delete", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("POST", "/api/v1/namespaces/ns1/pods/p1", None, "create", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("PATCH", "/api/v1/namespaces/ns1/pods/p1/status", None, "patch", "", "v1", Some("ns1"), "pods", Some("p1"), Some("status"), false),
            c("POST", "/api/v1/namespaces/ns1/pods/p1/eviction", None, "create", "", "v1", Some("ns1"), "pods", Some("p1"), Some("eviction"), false),
            c("POST", "/api/v1/namespaces/ns1/serviceaccounts/default/token", None, "create", "", "v1", Some("ns1"), "serviceaccounts", Some("default"), Some("token"), false),
            // a namespace called like a namespace subresource is still just a namespace
            c("GET", "/api/v1/namespaces/status/pods", None, "list", "", "v1", Some("status"), "pods", None, None, false),
            // streaming subresources
            c("GET", "/api/v1/namespaces/ns1/pods/p1/log", None, "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("log"), false),
            c("GET", "/api/v1/namespaces/ns1/pods/p1/log", Some("follow=true&container=c"), "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("log"), true),
            c("GET", "/api/v1/namespaces/ns1/pods/p1/log", Some("follow=1"), "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("log"), true),
            c("GET", "/api/v1/namespaces/ns1/pods/p1/log", Some("follow=false"), "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("log"), false),
            c("GET", "/api/v1/namespaces/ns1/pods/p1/log", Some("follow=0"), "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("log"), false),
            c("POST", "/api/v1/namespaces/ns1/pods/p1/exec", Some("command=ls&stdout=true"), "create", "", "v1", Some("ns1"), "pods", Some("p1"), Some("exec"), true),
            c("GET", "/api/v1/namespaces/ns1/pods/p1/exec", Some("command=sh&stdin=1&tty=1"), "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("exec"), true),
            c("POST", "/api/v1/namespaces/ns1/pods/p1/attach", None, "create", "", "v1", Some("ns1"), "pods", Some("p1"), Some("attach"), true),
            c("POST", "/api/v1/namespaces/ns1/pods/p1/portforward", None, "create", "", "v1", Some("ns1"), "pods", Some("p1"), Some("portforward"), true),
            c("GET", "/api/v1/namespaces/ns1/pods/p1/proxy", None, "get", "", "v1", Some("ns1"), "pods", Some("p1"), Some("proxy"), true),
            c("GET", "/api/v1/namespaces/ns1/services/https:web:443/proxy/ui/index.html", Some("a=b"), "get", "", "v1", Some("ns1"), "services", Some("https:web:443"), Some("proxy"), true),
            c("POST", "/api/v1/namespaces/ns1/services/web/proxy/api/submit", None, "create", "", "v1", Some("ns1"), "services", Some("web"), Some("proxy"), true),
            // groups
            c("GET", "/apis/apps/v1/deployments", None, "list", "apps", "v1", None, "deployments", None, None, false),
            c("GET", "/apis/apps/v1/namespaces/ns1/deployments", None, "list", "apps", "v1", Some("ns1"), "deployments", None, None, false),
            c("GET", "/apis/apps/v1/namespaces/ns1/deployments/d1", None, "get", "apps", "v1", Some("ns1"), "deployments", Some("d1"), None, false),
            c("PUT", "/apis/apps/v1/namespaces/ns1/deployments/d1/scale", None, "update", "apps", "v1", Some("ns1"), "deployments", Some("d1"), Some("scale"), false),
            c("DELETE", "/apis/apps/v1/namespaces/ns1/deployments", None, "deletecollection", "apps", "v1", Some("ns1"), "deployments", None, None, false),
            c("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-edit", None, "get", "rbac.authorization.k8s.io", "v1", None, "clusterroles", Some("system:aggregate-to-edit"), None, false),
            c("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", None, "create", "authorization.k8s.io", "v1", None, "selfsubjectaccessreviews", None, None, false),
            c("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/foos.example.com", None, "get", "apiextensions.k8s.io", "v1", None, "customresourcedefinitions", Some("foos.example.com"), None, false),
            c("GET", "/apis/example.com/v1alpha1/namespaces/ns1/foos/f1/status", None, "get", "example.com", "v1alpha1", Some("ns1"), "foos", Some("f1"), Some("status"), false),
            c("GET", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ns1/pods/*/http_requests", Some("labelSelector=app%3Dweb"), "get", "custom.metrics.k8s.io", "v1beta1", Some("ns1"), "pods", Some("*"), Some("http_requests"), false),
            c("GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/queue_messages_ready", None, "list", "external.metrics.k8s.io", "v1beta1", Some("ns1"), "queue_messages_ready", None, None, false),
            // watch via query (kube's bool rules: only absent, "0", "false" are false)
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch=true"), "watch", "", "v1", Some("ns1"), "pods", None, None, true),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch=1&resourceVersion=10"), "watch", "", "v1", Some("ns1"), "pods", None, None, true),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch="), "watch", "", "v1", Some("ns1"), "pods", None, None, true),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch"), "watch", "", "v1", Some("ns1"), "pods", None, None, true),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch=false"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch=FALSE"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("watch=0"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/pods", Some("watch=true&allowWatchBookmarks=true"), "watch", "", "v1", None, "pods", None, None, true),
            c("GET", "/apis/apps/v1/namespaces/ns1/deployments", Some("watch=true"), "watch", "apps", "v1", Some("ns1"), "deployments", None, None, true),
            // watch on a named object is a get, as in kube (and a duplicate there is not read, so not refused)
            c("GET", "/api/v1/namespaces/ns1/pods/p1", Some("watch=true&watch=false"), "get", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            // watch is ignored for non-GET
            c("DELETE", "/api/v1/namespaces/ns1/pods", Some("watch=true"), "deletecollection", "", "v1", Some("ns1"), "pods", None, None, false),
            // legacy /watch/ prefix (stripped from parts, kept in path)
            c("GET", "/api/v1/watch/pods", None, "watch", "", "v1", None, "pods", None, None, true),
            c("GET", "/api/v1/watch/namespaces", None, "watch", "", "v1", None, "namespaces", None, None, true),
            c("GET", "/api/v1/watch/namespaces/ns1", None, "watch", "", "v1", Some("ns1"), "namespaces", Some("ns1"), None, true),
            c("GET", "/api/v1/watch/namespaces/ns1/pods", None, "watch", "", "v1", Some("ns1"), "pods", None, None, true),
            c("GET", "/api/v1/watch/namespaces/ns1/pods/p1", None, "watch", "", "v1", Some("ns1"), "pods", Some("p1"), None, true),
            c("HEAD", "/apis/apps/v1/watch/namespaces/ns1/deployments", None, "watch", "apps", "v1", Some("ns1"), "deployments", None, None, true),
            // fieldSelector=metadata.name on list/watch sets the name (kube's RequiresExactMatch)
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3Dp1"), "list", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name==p1&watch=1"), "watch", "", "v1", Some("ns1"), "pods", Some("p1"), None, true),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=spec.nodeName%3Dn1,metadata.name%3Dp1"), "list", "", "v1", Some("ns1"), "pods", Some("p1"), None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3Db,metadata.name%3Da"), "list", "", "v1", Some("ns1"), "pods", Some("a"), None, false),
            c("GET", "/api/v1/namespaces/ns1/configmaps", Some("fieldSelector=metadata.name%3Da+b"), "list", "", "v1", Some("ns1"), "configmaps", Some("a b"), None, false),
            c("GET", "/api/v1/namespaces/ns1/configmaps", Some("fieldSelector=metadata.name%3Da%5C%2Cb"), "list", "", "v1", Some("ns1"), "configmaps", Some("a,b"), None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name!%3Dp1"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.namespace%3Dns1"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3D"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            // invalid selectors or invalid names: no name, like kube
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3Dp1,garbage"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3D..%2Fkube-system"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3D.."), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3Da%25b"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            c("GET", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3Da%5Cb"), "list", "", "v1", Some("ns1"), "pods", None, None, false),
            // the selector name does not turn deletecollection into delete
            c("DELETE", "/api/v1/namespaces/ns1/pods", Some("fieldSelector=metadata.name%3Dp1"), "deletecollection", "", "v1", Some("ns1"), "pods", None, None, false),
            // percent-encoding is decoded once
            c("GET", "/api/v1/namespaces/%6Bube-system/pods/p%20q", None, "get", "", "v1", Some("kube-system"), "pods", Some("p q"), None, false),
        ]
    }

    #[test]
    fn resource_shapes() {
        for case in resource_cases() {
            let what = format!("{} {} {:?}", case.method, case.path, case.query);
            let info = ok(case.method, case.path, case.query);
            assert!(info.is_resource_request, "{what}");
            assert_eq!(info.verb.as_str(), case.verb, "{what}: verb");
            assert_eq!(
                info.api_prefix,
                if case.group.is_empty() { "api" } else { "apis" },
                "{what}: prefix"
            );
            assert_eq!(info.api_group, case.group, "{what}: group");
            assert_eq!(info.api_version, case.version, "{what}: version");
            assert_eq!(
                info.namespace.as_deref(),
                case.namespace,
                "{what}: namespace"
            );
            assert_eq!(info.resource, case.resource, "{what}: resource");
            assert_eq!(info.name.as_deref(), case.name, "{what}: name");
            assert_eq!(
                info.subresource.as_deref(),
                case.subresource,
                "{what}: subresource"
            );
            assert_eq!(info.long_running, case.long_running, "{what}: long_running");
            assert_eq!(
                info.parts[0], case.resource,
                "{what}: parts start with the resource"
            );
            assert_eq!(
                info.verb_via_path_prefix,
                case.path.contains("/watch/"),
                "{what}: verb_via_path_prefix"
            );
        }
    }

    #[test]
    fn parts_and_paths() {
        let info = ok(
            "GET",
            "/api/v1/namespaces/ns1/services/web:80/proxy/a/b%20c/d",
            Some("x=1"),
        );
        assert_eq!(info.parts, ["services", "web:80", "proxy", "a", "b c", "d"]);
        assert_eq!(
            info.path,
            "/api/v1/namespaces/ns1/services/web:80/proxy/a/b%20c/d"
        );
        assert_eq!(info.segments.len(), 10);
        assert_eq!(info.query.get("x"), Some("1"));

        let info = ok("PUT", "/api/v1/namespaces/ns1/finalize", None);
        assert_eq!(info.parts, ["namespaces", "ns1", "finalize"]);

        let info = ok("GET", "/api/v1/watch/namespaces/ns1/pods", None);
        assert_eq!(info.parts, ["pods"]);
        assert_eq!(info.path, "/api/v1/watch/namespaces/ns1/pods");
        assert!(info.verb_via_path_prefix);

        // normalisation: decoded once, re-encoded canonically
        let info = ok(
            "GET",
            "/api/v1/namespaces/%6b%75be-system/configmaps/a%2bb+c%3A%20d%7e",
            None,
        );
        assert_eq!(info.namespace.as_deref(), Some("kube-system"));
        assert_eq!(info.name.as_deref(), Some("a+b+c: d~"));
        assert_eq!(
            info.path,
            "/api/v1/namespaces/kube-system/configmaps/a+b+c:%20d~"
        );
        // %25 decodes to a literal '%' once; such a name is refused (kube: not a valid path segment name)
        assert!(matches!(
            err("GET", "/api/v1/namespaces/ns1/configmaps/a%25d", None),
            ParseError::InvalidName { .. }
        ));
        // but a '%' may appear in a proxied path, where it round-trips
        let info = ok(
            "GET",
            "/api/v1/namespaces/ns1/services/web/proxy/100%25",
            None,
        );
        assert_eq!(info.parts[3], "100%");
        assert_eq!(
            info.path,
            "/api/v1/namespaces/ns1/services/web/proxy/100%25"
        );
    }

    #[test]
    fn one_trailing_slash_means_the_same_as_none() {
        for path in [
            "/version/",
            "/api/",
            "/apis/",
            "/api/v1/",
            "/apis/apps/v1/",
            "/api/v1/namespaces/",
            "/api/v1/namespaces/ns1/",
            "/api/v1/namespaces/ns1/configmaps/",
            "/api/v1/namespaces/ns1/configmaps/c1/",
            "/api/v1/namespaces/ns1/pods/p1/log/",
        ] {
            let with = ok("GET", path, Some("limit=1"));
            let without = ok("GET", path.trim_end_matches('/'), Some("limit=1"));
            assert_eq!(format!("{with:?}"), format!("{without:?}"), "{path}");
            assert!(!with.path.ends_with('/'), "the path sent on has no trailing slash: {}", with.path);
        }
        assert_eq!(ok("GET", "/", None).path, "/");
        assert_eq!(err("GET", "/openapi/v2/", None).status_code(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn non_resource_shapes() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("GET", "/", "get", &[]),
            ("GET", "", "get", &[]),
            ("GET", "/api", "get", &["api"]),
            ("GET", "/api/v1", "get", &["api", "v1"]),
            ("GET", "/apis", "get", &["apis"]),
            ("GET", "/apis/apps", "get", &["apis", "apps"]),
            ("GET", "/apis/apps/v1", "get", &["apis", "apps", "v1"]),
            ("GET", "/version", "get", &["version"]),
            ("GET", "/healthz", "get", &["healthz"]),
            ("GET", "/readyz/etcd", "get", &["readyz", "etcd"]),
            ("GET", "/openapi/v2", "get", &["openapi", "v2"]),
            (
                "GET",
                "/openapi/v3/apis/apps/v1",
                "get",
                &["openapi", "v3", "apis", "apps", "v1"],
            ),
            ("HEAD", "/version", "head", &["version"]),
            ("POST", "/version", "post", &["version"]),
            ("PUT", "/foo/bar/baz", "put", &["foo", "bar", "baz"]),
            ("PATCH", "/foo", "patch", &["foo"]),
            ("DELETE", "/foo", "delete", &["foo"]),
            ("OPTIONS", "/apis", "options", &["apis"]),
            ("GET", "/metrics", "get", &["metrics"]),
            // a third-party prefix is not an API prefix
            (
                "GET",
                "/apix/apps/v1/deployments",
                "get",
                &["apix", "apps", "v1", "deployments"],
            ),
        ];
        for &(m, path, verb, segments) in cases {
            let info = ok(m, path, Some("watch=true"));
            assert!(!info.is_resource_request, "{m} {path}");
            assert_eq!(info.verb.as_str(), verb, "{m} {path}");
            assert_eq!(info.segments, segments, "{m} {path}");
            assert_eq!(info.api_prefix, "", "{m} {path}");
            assert_eq!(info.api_group, "", "{m} {path}");
            assert_eq!(info.api_version, "", "{m} {path}");
            assert_eq!(info.resource, "", "{m} {path}");
            assert!(
                info.namespace.is_none() && info.name.is_none() && info.subresource.is_none(),
                "{m} {path}"
            );
            assert!(info.parts.is_empty() && !info.long_running, "{m} {path}");
        }
        assert_eq!(ok("GET", "", None).path, "/");
    }

    /// Assert that `path` (GET, no query) is refused with an error matching `pattern`.
    macro_rules! refuses {
        ($path:expr, $pattern:pat $(if $guard:expr)?) => {
            refuses!("GET", $path, None, $pattern $(if $guard)?)
        };
        ($method:expr, $path:expr, $query:expr, $pattern:pat $(if $guard:expr)?) => {{
            let query: Option<&str> = $query;
            let e = err($method, &$path, query);
            assert!(matches!(e, $pattern $(if $guard)?), "{} {:.80} {:?}: wrong error {:?}", $method, $path, query, e);
            assert!(!e.to_string().is_empty());
        }};
    }

    #[test]
    fn hostile_paths() {
        // dot segments, raw and encoded, anywhere
        refuses!(
            "/api/v1/namespaces/../kube-system/pods",
            ParseError::DotSegment
        );
        refuses!("/api/v1/namespaces/ns1/pods/..", ParseError::DotSegment);
        refuses!("/api/v1/namespaces/./pods", ParseError::DotSegment);
        refuses!("/api/v1/namespaces/%2e%2e/pods", ParseError::DotSegment);
        refuses!("/api/v1/namespaces/%2E%2E/pods", ParseError::DotSegment);
        refuses!("/api/v1/namespaces/.%2e/pods", ParseError::DotSegment);
        refuses!("/api/v1/namespaces/%2e/pods", ParseError::DotSegment);
        refuses!("/..", ParseError::DotSegment);
        refuses!(
            "/api/v1/namespaces/ns1/services/web/proxy/../../../kube-system",
            ParseError::DotSegment
        );
        // encoded slash / backslash
        refuses!("/api/v1/namespaces/a%2Fb/pods", ParseError::EncodedSlash);
        refuses!("/api/v1/namespaces/a%2fb/pods", ParseError::EncodedSlash);
        refuses!(
            "/api/v1/namespaces/..%2Fkube-system/pods",
            ParseError::EncodedSlash
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p1%2F..%2F..%2Fsecrets",
            ParseError::EncodedSlash
        );
        refuses!(
            "/api/v1/namespaces/ns1/services/web/proxy/a%2fb",
            ParseError::EncodedSlash
        );
        refuses!("/api/v1/namespaces/a%5Cb/pods", ParseError::Backslash);
        refuses!("/api/v1/namespaces/a%5cb/pods", ParseError::Backslash);
        refuses!("/api/v1/namespaces/a\\b/pods", ParseError::Backslash);
        // empty segments and trailing slashes
        refuses!("//", ParseError::EmptySegment);
        refuses!("//api/v1/pods", ParseError::EmptySegment);
        refuses!("/api/v1//pods", ParseError::EmptySegment);
        refuses!("/api/v1/namespaces//pods", ParseError::EmptySegment);
        refuses!("/api/v1/namespaces/ns1/pods//", ParseError::EmptySegment);
        refuses!("/api/v1/pods//", ParseError::EmptySegment);
        refuses!("/openapi/v2/", ParseError::NotFoundWithSlash);
        refuses!("/openapi/v3/api/v1/", ParseError::NotFoundWithSlash);
        refuses!(
            "/api/v1/namespaces/ns1/services/web/proxy/",
            ParseError::TrailingSlash
        );
        // not absolute
        refuses!("api/v1/pods", ParseError::NotAbsolute);
        refuses!("*", ParseError::NotAbsolute);
        // control characters, raw and encoded
        refuses!(
            "/api/v1/namespaces/ns1/pods/p%00",
            ParseError::ControlCharacter
        );
        refuses!(
            "/api/v1/namespaces/ns%001/pods",
            ParseError::ControlCharacter
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p%0d%0aX-Injected:%201",
            ParseError::ControlCharacter
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p%7F",
            ParseError::ControlCharacter
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p%C2%85",
            ParseError::ControlCharacter
        ); // U+0085, a C1 control
        refuses!(
            "/api/v1/namespaces/ns1/pods/p\u{0}",
            ParseError::ControlCharacter
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p\t",
            ParseError::ControlCharacter
        );
        // bad escapes
        refuses!("/api/v1/namespaces/ns1/pods/%zz", ParseError::InvalidEscape);
        refuses!("/api/v1/namespaces/ns1/pods/%", ParseError::InvalidEscape);
        refuses!("/api/v1/namespaces/ns1/pods/p%4", ParseError::InvalidEscape);
        refuses!(
            "/api/v1/namespaces/ns1/pods/p%g0",
            ParseError::InvalidEscape
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/%%32%66",
            ParseError::InvalidEscape
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p%+1",
            ParseError::InvalidEscape
        );
        // invalid UTF-8
        refuses!("/api/v1/namespaces/ns1/pods/%ff", ParseError::InvalidUtf8);
        refuses!(
            "/api/v1/namespaces/ns1/pods/%c3%28",
            ParseError::InvalidUtf8
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/%c0%af",
            ParseError::InvalidUtf8
        ); // overlong '/'
        refuses!(
            "/api/v1/namespaces/ns1/pods/%ed%a0%80",
            ParseError::InvalidUtf8
        ); // surrogate
    }

    #[test]
    fn size_limits() {
        let prefix = "/api/v1/namespaces/ns1/configmaps/";
        let at_limit = format!("{prefix}{}", "a".repeat(MAX_PATH_LEN - prefix.len()));
        assert_eq!(at_limit.len(), MAX_PATH_LEN);
        assert_eq!(
            ok("GET", &at_limit, None).name.unwrap().len(),
            MAX_PATH_LEN - prefix.len()
        );
        refuses!(format!("{at_limit}a"), ParseError::TooLong { len } if len == MAX_PATH_LEN + 1);
        // 64 KiB, even one full of other problems, is refused for its length before anything else
        refuses!(
            format!("{prefix}{}", "a".repeat(64 * 1024)),
            ParseError::TooLong { .. }
        );
        refuses!(
            format!("{prefix}{}", "%2F..//".repeat(64 * 1024 / 7)),
            ParseError::TooLong { .. }
        );
        refuses!("/".repeat(64 * 1024), ParseError::TooLong { .. });

        let segments = |n: usize| "/a".repeat(n);
        assert_eq!(
            ok("GET", &segments(MAX_SEGMENTS), None).segments.len(),
            MAX_SEGMENTS
        );
        refuses!(segments(MAX_SEGMENTS + 1), ParseError::TooManySegments { count } if count == MAX_SEGMENTS + 1);
        refuses!(
            format!("/api/v1/namespaces/ns1/services/web/proxy{}", segments(60)),
            ParseError::TooManySegments { .. }
        );
        refuses!("/".repeat(100), ParseError::TooManySegments { .. });
    }

    #[test]
    fn hostile_identifiers() {
        // namespace
        refuses!(
            "/api/v1/namespaces/Kube-System/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/KUBE-SYSTEM",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            format!("/api/v1/namespaces/{}/pods", "a".repeat(64)),
            ParseError::InvalidNamespace { .. }
        );
        assert!(ok(
            "GET",
            &format!("/api/v1/namespaces/{}/pods", "a".repeat(63)),
            None
        )
        .namespace
        .is_some());
        refuses!(
            "/api/v1/namespaces/-ns/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns-/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns_1/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns.1/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns%201/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/k%C3%BCbe/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/..kube-system/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/api/v1/watch/namespaces/Bad/pods",
            ParseError::InvalidNamespace { .. }
        );
        refuses!(
            "/apis/apps/v1/namespaces/*/deployments",
            ParseError::InvalidNamespace { .. }
        );
        // names
        refuses!(
            "/api/v1/namespaces/ns1/pods/a%25b",
            ParseError::InvalidName { .. }
        );
        // nested namespaces
        refuses!(
            "/api/v1/namespaces/ns1/namespaces/ns2",
            ParseError::NamespaceInNamespace { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns1/namespaces",
            ParseError::NamespaceInNamespace { .. }
        );
        // group, version, resource, subresource
        refuses!("/apis/Apps/v1/deployments", ParseError::InvalidGroup { .. });
        refuses!(
            "/apis/apps..io/v1/deployments",
            ParseError::InvalidGroup { .. }
        );
        refuses!(
            "/apis/a%20b/v1/deployments",
            ParseError::InvalidGroup { .. }
        );
        refuses!(
            "/apis/apps/V1/deployments",
            ParseError::InvalidVersion { .. }
        );
        refuses!("/api/1/pods", ParseError::InvalidVersion { .. });
        refuses!("/api/v1/po%20ds", ParseError::InvalidResource { .. });
        refuses!(
            "/api/v1/namespaces/ns1/po*ds",
            ParseError::InvalidResource { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p1/st%40tus",
            ParseError::InvalidSubresource { .. }
        );
        // segments after a subresource other than proxy
        refuses!(
            "/api/v1/namespaces/ns1/pods/p1/status/extra",
            ParseError::UnexpectedSegments { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns1/status/extra",
            ParseError::UnexpectedSegments { .. }
        );
        refuses!(
            "/api/v1/namespaces/ns1/pods/p1/exec/ns2",
            ParseError::UnexpectedSegments { .. }
        );
    }

    #[test]
    fn legacy_prefixes_and_methods() {
        refuses!("/api/v1/watch", ParseError::IncompleteWatchPath);
        refuses!("/apis/apps/v1/watch", ParseError::IncompleteWatchPath);
        refuses!(
            "DELETE",
            "/api/v1/watch/namespaces/ns1/pods",
            None,
            ParseError::LegacyWatchMethod { .. }
        );
        refuses!(
            "POST",
            "/api/v1/watch/pods",
            None,
            ParseError::LegacyWatchMethod { .. }
        );
        refuses!(
            "/api/v1/proxy/namespaces/ns1/pods/p1",
            ParseError::LegacyProxyPrefix
        );
        refuses!(
            "/api/v1/proxy/nodes/n1/metrics",
            ParseError::LegacyProxyPrefix
        );
        refuses!("/api/v1/proxy", ParseError::LegacyProxyPrefix);
        refuses!(
            "OPTIONS",
            "/api/v1/pods",
            None,
            ParseError::UnsupportedMethod { .. }
        );
        refuses!(
            "CONNECT",
            "/api/v1/namespaces/ns1/pods/p1/exec",
            None,
            ParseError::UnsupportedMethod { .. }
        );
        refuses!(
            "TRACE",
            "/version",
            None,
            ParseError::UnsupportedMethod { .. }
        );
        refuses!("PROPFIND", "/", None, ParseError::UnsupportedMethod { .. });
        refuses!(
            "get",
            "/api/v1/pods",
            None,
            ParseError::UnsupportedMethod { .. }
        );
        assert_eq!(
            err("TRACE", "/", None).status_code(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            err("GET", "/a//b", None).status_code(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn hostile_queries() {
        let pods = "/api/v1/namespaces/ns1/pods";
        let log = "/api/v1/namespaces/ns1/pods/p1/log";
        // duplicates of parameters that decide classification are refused where they are read
        refuses!("GET", pods, Some("watch=1&watch=0"), ParseError::DuplicateQueryParam { ref param } if param == "watch");
        refuses!(
            "GET",
            pods,
            Some("watch=true&watch=true"),
            ParseError::DuplicateQueryParam { .. }
        );
        refuses!(
            "GET",
            pods,
            Some("fieldSelector=metadata.name%3Da&fieldSelector=metadata.name%3Db"),
            ParseError::DuplicateQueryParam { .. }
        );
        refuses!("GET", log, Some("follow=true&follow=false"), ParseError::DuplicateQueryParam { ref param } if param == "follow");
        // boolean values must be ASCII (Go's EqualFold would read "falſe" as false)
        refuses!(
            "GET",
            pods,
            Some("watch=fal%C5%BFe"),
            ParseError::InvalidQueryValue { .. }
        );
        refuses!(
            "GET",
            log,
            Some("follow=%C3%BF"),
            ParseError::InvalidQueryValue { .. }
        );
        // malformed queries are refused for every request
        refuses!(
            "GET",
            pods,
            Some("watch=%zz"),
            ParseError::InvalidQuery { .. }
        );
        refuses!(
            "GET",
            pods,
            Some("watch=1%"),
            ParseError::InvalidQuery { .. }
        );
        refuses!(
            "GET",
            pods,
            Some("wat%ch=1"),
            ParseError::InvalidQuery { .. }
        );
        refuses!(
            "GET",
            pods,
            Some("watch=%ff"),
            ParseError::InvalidQuery { .. }
        );
        refuses!(
            "GET",
            pods,
            Some("watch=1;watch=0"),
            ParseError::InvalidQuery { .. }
        );
        refuses!(
            "GET",
            "/version",
            Some("a=%"),
            ParseError::InvalidQuery { .. }
        );
    }

    #[test]
    fn query_helper() {
        let q = Query::parse("a=1&b=x+y%2Bz&&a=2&c&d=&e=%3D%26").unwrap();
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(q.get("b"), Some("x y+z"));
        assert_eq!(q.get("c"), Some(""));
        assert_eq!(q.get("d"), Some(""));
        assert_eq!(q.get("e"), Some("=&"));
        assert_eq!(q.get("zz"), None);
        assert_eq!(q.unique("b"), Ok(Some("x y+z")));
        assert_eq!(q.unique("zz"), Ok(None));
        assert!(matches!(
            q.unique("a"),
            Err(ParseError::DuplicateQueryParam { .. })
        ));
        assert_eq!(q.pairs().len(), 6);
        assert!(Query::parse("").unwrap().is_empty());
        assert!(Query::parse("&&").unwrap().is_empty());
        for (value, expected) in [
            ("true", true),
            ("1", true),
            ("", true),
            ("yes", true),
            ("false", false),
            ("False", false),
            ("0", false),
        ] {
            let q = Query::parse(&format!("f={value}")).unwrap();
            assert_eq!(q.flag("f"), Ok(expected), "{value:?}");
        }
        assert_eq!(Query::default().flag("f"), Ok(false));
    }

    #[test]
    fn field_selector_semantics() {
        let m = |s| field_selector_exact_match(s, "metadata.name");
        assert_eq!(m("metadata.name=a"), Some("a".into()));
        assert_eq!(m("metadata.name==a"), Some("a".into()));
        assert_eq!(m("metadata.name!=a"), None);
        assert_eq!(m("metadata.name=b,metadata.name=a"), Some("a".into()));
        assert_eq!(m(",metadata.name=a,"), Some("a".into()));
        assert_eq!(m("metadata.name=a\\,b\\=c\\\\"), Some("a,b=c\\".into()));
        assert_eq!(m("metadata.name=a=b"), None); // bare '=' in a value
        assert_eq!(m("metadata.name=a\\"), None); // dangling escape
        assert_eq!(m("metadata.name=a\\x"), None); // unknown escape
        assert_eq!(m("metadata.name"), None);
        assert_eq!(m("metadata.name =a"), None); // no trimming, as in kube
        assert_eq!(m(""), None);
    }

    #[test]
    fn errors_are_readable_and_bounded() {
        let e = err(
            "GET",
            &format!("/api/v1/namespaces/{}/pods", "A".repeat(1000)),
            None,
        );
        let msg = e.to_string();
        assert!(msg.starts_with("invalid namespace \"AAAA"), "{msg}");
        assert!(msg.len() < 200, "{msg}");
        assert_eq!(
            err("GET", "/a/%2F", None).to_string(),
            "request path must not contain an encoded slash (%2F)"
        );
        assert_eq!(Verb::DeleteCollection.to_string(), "deletecollection");
        assert!(Verb::Watch.is_read_only() && !Verb::Create.is_read_only());
    }

    /// splitmix64: a tiny deterministic PRNG so the randomised test needs no crates.
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
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Check the invariants later stages rely on, and that the normalised path means the same thing.
    fn check_invariants(m: &Method, path: &str, query: Option<&str>) -> bool {
        let Ok(info) = parse(m, path, query) else {
            return false;
        };
        for id in [info.namespace.as_deref(), info.name.as_deref()]
            .into_iter()
            .flatten()
        {
            assert!(
                !id.is_empty() && !id.contains('/') && id != "." && id != "..",
                "{path:?} {query:?}: {id:?}"
            );
            assert!(
                !id.contains('%') && !id.chars().any(char::is_control),
                "{path:?} {query:?}: {id:?}"
            );
        }
        if let Some(ns) = &info.namespace {
            assert!(is_dns1123_label(ns), "{path:?}: {ns:?}");
        }
        for seg in &info.segments {
            assert!(
                !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(['/', '\\']),
                "{path:?}: {seg:?}"
            );
        }
        assert!(
            info.path.starts_with('/') && !info.path.contains("//"),
            "{path:?} -> {:?}",
            info.path
        );
        assert_eq!(
            info.is_resource_request,
            !info.resource.is_empty(),
            "{path:?}"
        );
        if info.path.len() <= MAX_PATH_LEN {
            assert_eq!(
                parse(m, &info.path, query).as_ref(),
                Ok(&info),
                "{path:?} -> {:?} must reparse the same",
                info.path
            );
        }
        true
    }

    #[test]
    fn randomised_inputs_never_panic_and_keep_invariants() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let tokens = [
            "/",
            "/",
            "/",
            "/",
            "api",
            "apis",
            "v1",
            "apps",
            "namespaces",
            "ns1",
            "kube-system",
            "pods",
            "p1",
            "watch",
            "proxy",
            "status",
            "finalize",
            "log",
            "exec",
            ".",
            "..",
            "%",
            "%2e",
            "%2E",
            "%2f",
            "%2F",
            "%5c",
            "%00",
            "%ff",
            "%41",
            "%25",
            "%20",
            "+",
            "a",
            "A",
            "-",
            ":",
            "*",
            "\\",
            "?",
            "#",
            "~",
            "é",
            "%C3%A9",
        ];
        let queries = [
            None,
            Some(""),
            Some("watch=true"),
            Some("watch=0"),
            Some("watch=1&watch=1"),
            Some("follow=true"),
            Some("fieldSelector=metadata.name%3D..%2Fx"),
            Some("fieldSelector=metadata.name%3Dp1"),
            Some("fieldSelector=metadata.name%3D%2e%2e"),
            Some("fieldSelector=metadata.name%3Da%00"),
            Some("%zz"),
        ];
        let methods = [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
        ]
        .map(method);
        let (mut accepted, mut total) = (0, 0);
        for _ in 0..40_000 {
            let mut path = String::new();
            if rng.below(10) != 0 {
                path.push('/');
            }
            if rng.below(2) == 0 {
                // structured: start like a real API path
                path.push_str(rng.pick(&[
                    "api/v1/",
                    "apis/apps/v1/",
                    "api/v1/namespaces/",
                    "apis/g.io/v1/namespaces/",
                    "api/v1/watch/",
                ]));
            }
            for _ in 0..rng.below(16) {
                if rng.below(4) == 0 {
                    // any printable ASCII character
                    path.push((0x20 + rng.below(0x5f) as u8) as char);
                } else {
                    path.push_str(rng.pick(&tokens));
                }
            }
            let query = queries[rng.below(queries.len())];
            let m = &methods[rng.below(methods.len())];
            total += 1;
            accepted += usize::from(check_invariants(m, &path, query));
        }
        // make sure the generator reaches the success paths too, not only errors
        assert!(
            accepted > total / 20,
            "only {accepted} of {total} random paths parsed"
        );

        // pure noise: random bytes of printable ASCII after a '/'
        for _ in 0..20_000 {
            let len = rng.below(40);
            let path: String = std::iter::once('/')
                .chain((0..len).map(|_| (0x20 + rng.below(0x5f) as u8) as char))
                .collect();
            let query: String = (0..rng.below(20))
                .map(|_| (0x20 + rng.below(0x5f) as u8) as char)
                .collect();
            check_invariants(&Method::GET, &path, Some(&query));
        }
    }
}
