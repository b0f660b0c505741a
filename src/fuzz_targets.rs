//! Fuzz targets: one function per target, each asserting the properties its module promises.
//!
//! cargo-fuzz (`fuzz/fuzz_targets/<target>.rs`, run by `make fuzz`) and the stable test
//! `tests/fuzz_corpus.rs` (every seed in `fuzz/corpus/<target>/` and every crash found so far in
//! `fuzz/regressions/<target>/`) call these same functions, so an input means the same thing in both.
//!
//! Inputs are bytes. Where a target needs context besides the payload (a resource, a method, a
//! patch type), the *first line* carries it and the rest is the payload, so seeds stay readable:
//! `deployments.apps` + newline + `{"kind":"DeploymentList",…}`. A context the target does not
//! understand falls back to a default rather than wasting the input.
//!
//! A broken property panics with what differed: that is what libFuzzer and the test both catch.
//! The tenant is always `acme`; it owns the virtual namespaces in [`OWNED`].

use http::Method;
use serde_json::{json, Value};

use crate::crd::schema;
use crate::mapping::{self, Parsed};
use crate::protobuf;
use crate::request_info::{self, RequestInfo};
use crate::rewrite::fields::{self, FieldKind, KindFields, Seg};
use crate::rewrite::object::{tenant_expression, walk};
use crate::rewrite::selectors::LabelSelector;
use crate::rewrite::{
    self, is_dns1123_label, is_reserved_key, parse_json, Direction, Disposition, FixedMapper, ListRewriter,
    NamespaceMapper, RewriteError, WatchRewriter,
};

const TENANT: &str = "acme";
/// The virtual namespaces the tenant owns: short and long (hashed) super forms.
const OWNED: &[&str] = &[
    "default",
    "prod",
    "dev",
    "kube-system",
    "a--b",
    "x1",
    "long-namespace-name-that-maps-to-the-hashed-super-form-xxxxxx",
];

fn tenant_mapper() -> FixedMapper {
    FixedMapper::new(TENANT).with(OWNED.iter().copied())
}

/// True if `super_ns` is a super namespace of [`TENANT`] (short form exactly as mapped, or long form).
fn owned_by_tenant(super_ns: &str) -> bool {
    match mapping::parse_super(super_ns) {
        Some(Parsed::Short { tenant, virtual_ns }) => {
            tenant == TENANT && is_dns1123_label(virtual_ns) && mapping::to_super(TENANT, virtual_ns) == super_ns
        }
        Some(Parsed::Long { tenant }) => tenant == TENANT && is_dns1123_label(super_ns),
        None => false,
    }
}

/// The first line (context) and the rest (payload). No newline: no context.
fn context_and_body(data: &[u8]) -> (&str, &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).unwrap_or(""), &data[i + 1..]),
        None => ("", data),
    }
}

/// `resource` or `resource.group` (as kubectl spells it); the default is core `pods`.
fn resource_of(context: &str) -> (String, String) {
    let context = context.trim();
    if context.is_empty() {
        return (String::new(), "pods".into());
    }
    match context.split_once('.') {
        Some((resource, group)) => (group.to_string(), resource.to_string()),
        None => (String::new(), context.to_string()),
    }
}

/// FNV-1a: a cheap, deterministic seed for the chunkings, so a crash reproduces from its bytes alone.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Ways to cut `body` into chunks (ascending offsets): whole, a byte at a time, and a few
/// pseudo-random cuts derived from the bytes.
fn chunkings(body: &[u8]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(), (1..body.len()).collect()];
    let mut state = hash(body);
    for _ in 0..3 {
        let mut cuts: Vec<usize> =
            (0..1 + next(&mut state) % 8).map(|_| (next(&mut state) as usize) % (body.len() + 1)).collect();
        cuts.sort_unstable();
        out.push(cuts);
    }
    out
}

/// The two streaming rewriters, fed the same way.
trait Streaming {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RewriteError>;
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RewriteError>;
}

impl<M: NamespaceMapper> Streaming for ListRewriter<M> {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RewriteError> {
        ListRewriter::push(self, chunk, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        ListRewriter::finish(self, out)
    }
}

impl<M: NamespaceMapper> Streaming for WatchRewriter<M> {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RewriteError> {
        WatchRewriter::push(self, chunk, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        WatchRewriter::finish(self, out)
    }
}

/// Feeds `body` cut at `cuts` (ascending offsets) through `r`, then finishes.
fn feed(mut r: impl Streaming, body: &[u8], cuts: &[usize]) -> Result<Vec<u8>, RewriteError> {
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        r.push(&body[at..cut], &mut out)?;
        at = cut;
    }
    r.finish(&mut out)?;
    Ok(out)
}

/// JSON equality that keeps key order but not number spelling: the splice path keeps a number as
/// it came, the Value path re-serialises it, and serde_json's float parser may land an ULP apart.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// True when `body` is exactly what serde_json writes for its value (compact, canonical escapes and
/// numbers): then both rewriters must give the very same bytes, not just the same value.
fn is_canonical(body: &[u8], value: &Value) -> bool {
    serde_json::to_vec(value).is_ok_and(|v| v == body)
}

// ------------------------------------------------------------------------------------ request_path

/// **Path parser.** Input: one request line, `METHOD /clusters/<tenant>/path?query` (the
/// `/clusters/<tenant>` prefix is optional). Asserts:
/// - the tenant split gives back the path exactly, with a tenant name free of `/`;
/// - [`request_info::parse`] never panics, and what it accepts keeps its documented invariants:
///   decoded segments non-empty, not `.`/`..`, without `/`, `\` or control characters; namespace a
///   DNS-1123 label; names without `/`, `%`, control characters; the normalised path has no `//`,
///   no dot segment, no encoded slash, and parses again to the same [`RequestInfo`];
/// - the request never escapes the tenant: wherever the route sends it upstream inside a namespace,
///   the upstream path parses back to that tenant's super namespace and to the same resource, name
///   and subresource; across namespaces or cluster-scoped, to no namespace at all.
pub fn request_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let line = text.lines().next().unwrap_or("");
    let (method, target) = line.split_once(' ').unwrap_or(("GET", line));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let rest = match crate::authn::split_tenant_path(path) {
        Some((tenant, rest)) => {
            assert!(!tenant.contains('/'), "{path:?}: tenant {tenant:?} contains '/'");
            assert!(rest.starts_with('/'), "{path:?}: rest {rest:?}");
            let rebuilt = format!("{}{tenant}{rest}", crate::authn::CLUSTERS_PREFIX);
            // `/clusters/<tenant>` alone is the root of the tenant.
            let exact = rebuilt == path || (rest == "/" && rebuilt == format!("{path}/"));
            assert!(exact, "{path:?} split into {tenant:?} + {rest:?}");
            rest
        }
        None => path,
    };
    let Ok(info) = request_info::parse(&method, rest, query) else { return };
    check_request_info(&method, rest, query, &info);
    check_confined(&method, &info);
}

fn check_request_info(method: &Method, path: &str, query: Option<&str>, info: &RequestInfo) {
    let ctx = || format!("{method} {path:?} {query:?}");
    for seg in &info.segments {
        assert!(!seg.is_empty() && seg != "." && seg != "..", "{}: segment {seg:?}", ctx());
        assert!(!seg.contains(['/', '\\']) && !seg.chars().any(char::is_control), "{}: segment {seg:?}", ctx());
    }
    if let Some(ns) = &info.namespace {
        assert!(is_dns1123_label(ns), "{}: namespace {ns:?}", ctx());
    }
    if let Some(name) = &info.name {
        assert!(!name.is_empty() && name != "." && name != "..", "{}: name {name:?}", ctx());
        assert!(!name.contains(['/', '%']) && !name.chars().any(char::is_control), "{}: name {name:?}", ctx());
    }
    let lower = info.path.to_ascii_lowercase();
    assert!(info.path.starts_with('/') && !info.path.contains("//"), "{}: path {:?}", ctx(), info.path);
    assert!(
        !lower.contains("%2f") && !lower.contains("%5c") && !lower.contains('\\'),
        "{}: path {:?}",
        ctx(),
        info.path
    );
    assert!(info.path.split('/').all(|s| s != "." && s != ".."), "{}: path {:?}", ctx(), info.path);
    assert_eq!(info.is_resource_request, !info.resource.is_empty(), "{}", ctx());
    if info.path.len() <= request_info::MAX_PATH_LEN {
        let again = request_info::parse(method, &info.path, query);
        assert_eq!(again.as_ref(), Ok(info), "{}: the normalised path {:?} parses differently", ctx(), info.path);
    }
}

/// Wherever the route sends the request upstream, the path names the tenant's super namespace or none.
fn check_confined(method: &Method, info: &RequestInfo) {
    use crate::discovery::Scope;
    use crate::route::Route;
    let readonly = crate::config::TenancyConfig::default().cluster_scoped_readonly;
    for scope in [Scope::Namespaced, Scope::Cluster] {
        let super_ns = match crate::route::route(info, Some(scope), &readonly) {
            Ok(Route::InNamespace) => {
                let ns = info.namespace.as_deref().expect("routed into a namespace");
                let super_ns = mapping::to_super(TENANT, ns);
                assert!(owned_by_tenant(&super_ns), "{ns:?} maps to {super_ns:?}, not the tenant's");
                Some(super_ns)
            }
            Ok(Route::AcrossNamespaces | Route::ClusterRead) => None,
            _ => continue,
        };
        let upstream = crate::forward::upstream_path(info, super_ns.as_deref());
        if upstream.len() > request_info::MAX_PATH_LEN {
            continue;
        }
        let again = request_info::parse(method, &upstream, None)
            .unwrap_or_else(|e| panic!("{:?} → upstream {upstream:?} does not parse: {e}", info.path));
        assert_eq!(again.namespace, super_ns, "{:?} → upstream {upstream:?}", info.path);
        assert_eq!(
            (&again.api_group, &again.api_version, &again.resource, &again.subresource, &again.parts),
            (&info.api_group, &info.api_version, &info.resource, &info.subresource, &info.parts),
            "{:?} → upstream {upstream:?} names something else",
            info.path
        );
    }
}

// ------------------------------------------------------------------------------------ list_stream

/// **LIST and Table stream rewriter ≡ one-object rewriter.** Input: `resource[.group]` line, then
/// an upstream response body. For any body that parses as JSON, [`ListRewriter`] (with and without
/// the byte-splice path, whole, a byte at a time and in random chunks) gives the same answer as
/// [`rewrite::rewrite_object`] on the whole parsed body, ToVirtual:
/// - kept: the same JSON value (key order included), and for canonical compact input the same bytes;
///   with the splice path, the same bytes whatever the chunking;
/// - dropped (a single object outside the tenant): the stream refuses it (error), never leaks it;
/// - refused: the stream refuses too.
///
/// Invalid JSON is refused by the stream too. [`rewrite::rewrite_single_body`] (the splice path for
/// one object) agrees with the one-object rewriter the same way. Bodies nested deeper than
/// serde_json parses whole are out of scope (the stream parses one element at a time).
pub fn list_stream(data: &[u8]) {
    let (context, body) = context_and_body(data);
    let (group, resource) = resource_of(context);
    let mapper = tenant_mapper();
    let expected = match parse_json(body) {
        Err(RewriteError::TooDeep { .. }) => return,
        Err(_) => None,
        Ok(mut v) => {
            Some(rewrite::rewrite_object(&mut v, &group, &resource, Direction::ToVirtual, &mapper).map(|d| (d, v)))
        }
    };
    let canonical = parse_json(body).is_ok_and(|v| is_canonical(body, &v));
    let ctx = || format!("{resource}.{group} body {:?}", shown(body));

    // The one-object splice path.
    let single = rewrite::rewrite_single_body(body, &group, &resource, &mapper);
    match (&expected, &single) {
        (Some(Ok((Disposition::Keep, want))), Ok(Some(out))) => {
            let got = parse_json(out)
                .unwrap_or_else(|e| panic!("{}: single-object output is not JSON ({e}): {}", ctx(), shown(out)));
            assert!(
                same_json(&got, want),
                "{}: single-object splice gave {}, the Value path {want}",
                ctx(),
                shown(out)
            );
        }
        (Some(Ok((Disposition::Drop, _))), Ok(None)) | (Some(Err(_)) | None, Err(_)) => {}
        (want, got) => panic!("{}: single-object splice gave {got:?}, the Value path {want:?}", ctx()),
    }

    let mut spliced_bytes: Option<Vec<u8>> = None;
    for splice in [true, false] {
        for cuts in chunkings(body) {
            let r = ListRewriter::new(&group, &resource, Direction::ToVirtual, &mapper).splice(splice);
            let got = feed(r, body, &cuts);
            let how = || format!("{} (splice {splice}, cuts {cuts:?})", ctx());
            match (&expected, &got) {
                (Some(Ok((Disposition::Keep, want))), Ok(out)) => {
                    let v = parse_json(out)
                        .unwrap_or_else(|e| panic!("{}: stream output is not JSON ({e}): {}", how(), shown(out)));
                    assert!(
                        same_json(&v, want),
                        "{}: stream gave {}, the one-object rewriter {want}",
                        how(),
                        shown(out)
                    );
                    if canonical {
                        let want = serde_json::to_vec(want).expect("a Value serialises");
                        assert_eq!(shown(out), shown(&want), "{}: canonical input, different bytes", how());
                    }
                    if splice {
                        match &spliced_bytes {
                            None => spliced_bytes = Some(out.clone()),
                            Some(first) => {
                                assert_eq!(shown(out), shown(first), "{}: bytes depend on the chunking", how())
                            }
                        }
                    }
                }
                // A single foreign object: the stream refuses it rather than leak it.
                (Some(Ok((Disposition::Drop, _))), Err(_)) | (Some(Err(_)) | None, Err(_)) => {}
                (want, got) => panic!(
                    "{}: stream gave {:?}, the one-object rewriter {want:?}",
                    how(),
                    got.as_ref().map(|o| shown(o))
                ),
            }
        }
    }
}

// ------------------------------------------------------------------------------------ watch_stream

/// **Watch stream rewriter ≡ one-object rewriter, event by event.** Input: `resource[.group]` line,
/// then a watch stream (JSON events, any whitespace between them). For any stream whose events all
/// parse as JSON, [`WatchRewriter`] (splice on and off, any chunking) writes exactly the events the
/// one-object rewriter keeps, one per line, each with its `object` rewritten by
/// [`rewrite::rewrite_object`] (a `BOOKMARK` as it came; an event whose object is dropped, or a
/// Table event whose rows were all dropped, left out); same value always, same bytes for canonical
/// events and across chunkings with the splice path. A stream with any invalid or non-object event,
/// or an event the one-object rewriter refuses, is refused.
pub fn watch_stream(data: &[u8]) {
    let (context, body) = context_and_body(data);
    let (group, resource) = resource_of(context);
    let mapper = tenant_mapper();
    let Some(expected) = expected_events(body, &group, &resource, &mapper) else { return };
    let ctx = || format!("{resource}.{group} stream {:?}", shown(body));
    let mut spliced_bytes: Option<Vec<u8>> = None;
    for splice in [true, false] {
        for cuts in chunkings(body) {
            let r = WatchRewriter::new(&group, &resource, Direction::ToVirtual, &mapper).splice(splice);
            let got = feed(r, body, &cuts);
            let how = || format!("{} (splice {splice}, cuts {cuts:?})", ctx());
            match (&expected, &got) {
                (Ok(want), Ok(out)) => {
                    assert!(out.is_empty() || out.ends_with(b"\n"), "{}: output does not end with a newline", how());
                    let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
                    assert_eq!(
                        lines.len(),
                        want.len(),
                        "{}: {} events out, expected {}: {}",
                        how(),
                        lines.len(),
                        want.len(),
                        shown(out)
                    );
                    for (line, (want, canonical)) in lines.iter().zip(want) {
                        let v = parse_json(line)
                            .unwrap_or_else(|e| panic!("{}: event is not JSON ({e}): {}", how(), shown(line)));
                        assert!(same_json(&v, want), "{}: event {} , expected {want}", how(), shown(line));
                        if *canonical {
                            assert_eq!(shown(line), want.to_string(), "{}: canonical event, different bytes", how());
                        }
                    }
                    if splice {
                        match &spliced_bytes {
                            None => spliced_bytes = Some(out.clone()),
                            Some(first) => {
                                assert_eq!(shown(out), shown(first), "{}: bytes depend on the chunking", how())
                            }
                        }
                    }
                }
                (Err(()), Err(_)) => {}
                (want, got) => panic!("{}: stream gave {:?}, expected {want:?}", how(), got.as_ref().map(|o| shown(o))),
            }
        }
    }
}

/// The events the one-object rewriter keeps, each with whether its input was canonical;
/// `Err` if the stream must be refused; `None` if an event is too deep to compare.
#[allow(clippy::type_complexity)]
fn expected_events(
    body: &[u8],
    group: &str,
    resource: &str,
    m: &FixedMapper,
) -> Option<Result<Vec<(Value, bool)>, ()>> {
    let mut events = serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        match events.next() {
            None => return Some(Ok(out)),
            Some(Err(e)) if e.to_string().starts_with("recursion limit exceeded") => return None,
            Some(Err(_)) => return Some(Err(())),
            Some(Ok(_)) => {}
        }
        let end = events.byte_offset();
        let slice = body[start..end].trim_ascii_start();
        start = end;
        if !slice.starts_with(b"{") {
            return Some(Err(()));
        }
        let mut ev = match parse_json(slice) {
            Ok(v) => v,
            Err(RewriteError::TooDeep { .. }) => return None,
            Err(_) => return Some(Err(())),
        };
        let canonical = is_canonical(slice, &ev);
        let map = ev.as_object_mut().expect("starts with {");
        let typ = map.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        if typ != "BOOKMARK" {
            if let Some(obj) = map.get_mut("object") {
                let rows = |o: &Value| {
                    (o.get("kind").and_then(Value::as_str) == Some("Table"))
                        .then(|| o.get("rows").and_then(Value::as_array).map(Vec::len))
                        .flatten()
                };
                let before = rows(obj);
                let Ok(d) = rewrite::rewrite_object(obj, group, resource, Direction::ToVirtual, m) else {
                    return Some(Err(()));
                };
                let emptied = matches!((before, rows(obj)), (Some(b), Some(0)) if b > 0);
                if d == Disposition::Drop || emptied {
                    continue;
                }
            }
        }
        out.push((ev, canonical));
    }
}

// ------------------------------------------------------------------------------------ selectors

/// A mapper that maps nothing, to check that a translated field selector is a fixed point.
struct IdentityMapper;
impl NamespaceMapper for IdentityMapper {
    fn tenant(&self) -> &str {
        TENANT
    }
    fn to_super(&self, v: &str) -> String {
        v.to_string()
    }
    fn to_virtual(&self, s: &str) -> Option<String> {
        Some(s.to_string())
    }
}

/// **Label and field selectors.** Input: `resource[.group]` line, then the selector (as decoded
/// from the query string). Asserts:
/// - label selectors: [`rewrite::translate_label_selector`] and [`LabelSelector::parse`] accept
///   the same selectors; the translation is canonical (translating it again changes nothing) and
///   means the same thing: it matches exactly the label sets the original matches (for
///   `namespaces`, with `kubernetes.io/metadata.name` read as `vcproxy.io/virtual-name`);
/// - field selectors: every value of a namespace field in the translation is empty or one of the
///   tenant's super namespaces (the selector never reaches out of the tenant), and the
///   translation's terms are a fixed point of translating with no mapping.
pub fn selectors(data: &[u8]) {
    let (context, body) = context_and_body(data);
    let (group, resource) = resource_of(context);
    let Ok(sel) = std::str::from_utf8(body) else { return };
    let mapper = tenant_mapper();

    let translated = rewrite::translate_label_selector(sel, &resource, &mapper);
    let parsed = LabelSelector::parse(sel);
    assert_eq!(
        translated.is_ok(),
        parsed.is_ok(),
        "label selector {sel:?}: translate {translated:?}, parse {:?}",
        parsed.as_ref().err()
    );
    if let (Ok(out), Ok(original)) = (&translated, &parsed) {
        let namespaces = resource == "namespaces" && group.is_empty();
        // Upstream, a namespace's virtual name is the `vcproxy.io/virtual-name` label; read it back
        // as `kubernetes.io/metadata.name` to evaluate against the tenant's labels.
        let upstream_meaning = if namespaces {
            out.replace(mapping::VIRTUAL_NAME_LABEL, crate::rewrite::object::METADATA_NAME_LABEL)
        } else {
            out.clone()
        };
        let again = LabelSelector::parse(&upstream_meaning)
            .unwrap_or_else(|e| panic!("label selector {sel:?} → {out:?} does not parse: {e}"));
        if !namespaces {
            let twice = rewrite::translate_label_selector(out, &resource, &mapper);
            assert_eq!(twice.as_ref(), Ok(out), "label selector {sel:?} → {out:?} is not canonical");
        }
        for labels in label_sets(sel) {
            assert_eq!(
                original.matches(&labels),
                again.matches(&labels),
                "label selector {sel:?} → {out:?} disagree on {labels}"
            );
        }
    }

    if let Ok(out) = rewrite::translate_field_selector(sel, &group, &resource, &mapper) {
        let namespace_keys: Vec<String> = fields::fields_for(&group, &resource)
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Namespace && !f.segs.contains(&Seg::Each))
            .map(|f| f.path.clone())
            .collect();
        for (field, _op, value) in field_terms(&out) {
            if namespace_keys.contains(&field) {
                assert!(
                    value.is_empty() || owned_by_tenant(&value),
                    "field selector {sel:?} → {out:?}: {field}={value:?} escapes the tenant"
                );
            }
        }
        // Terms are sorted by how they were spelt (as apimachinery does), so `a==x` and `a=x`
        // may sort apart: the translation is a fixed point as a set of terms, not as a string.
        let fixed = rewrite::translate_field_selector(&out, &group, &resource, &IdentityMapper)
            .unwrap_or_else(|e| panic!("field selector {sel:?} → {out:?} is refused when sent again: {e}"));
        let mut want = field_terms(&out);
        let mut got = field_terms(&fixed);
        want.sort();
        got.sort();
        assert_eq!(got, want, "field selector {sel:?} → {out:?} → {fixed:?} is not canonical");
    }
}

/// Terms of a canonical field selector: `(field, op, unescaped value)`.
fn field_terms(sel: &str) -> Vec<(String, &'static str, String)> {
    let mut terms = Vec::new();
    let (mut start, mut escaped) = (0, false);
    let mut raw = Vec::new();
    for (i, c) in sel.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            raw.push(&sel[start..i]);
            start = i + 1;
        }
    }
    if !sel.is_empty() {
        raw.push(&sel[start..]);
    }
    for term in raw {
        let Some((i, op)) = term
            .char_indices()
            .find_map(|(i, _)| ["!=", "="].into_iter().find(|op| term[i..].starts_with(op)).map(|op| (i, op)))
        else {
            panic!("canonical field selector {sel:?} has a term without an operator: {term:?}");
        };
        let mut value = String::new();
        let mut escaped = false;
        for c in term[i + op.len()..].chars() {
            if escaped || c != '\\' {
                value.push(c);
                escaped = false;
            } else {
                escaped = true;
            }
        }
        terms.push((term[..i].to_string(), op, value));
    }
    terms
}

/// Label sets built from the selector's own words, so requirements both hold and fail.
fn label_sets(sel: &str) -> Vec<Value> {
    let words: Vec<&str> = sel
        .split(|c: char| !(c.is_ascii_alphanumeric() || "._/-".contains(c)))
        .filter(|w| !w.is_empty())
        .take(8)
        .collect();
    let mut sets = vec![json!({}), Value::Null];
    let mut state = hash(sel.as_bytes());
    for _ in 0..12 {
        let mut labels = serde_json::Map::new();
        for &key in &words {
            let pick = next(&mut state) as usize;
            match pick % 4 {
                0 => {}
                1 => {
                    labels.insert(key.to_string(), json!(""));
                }
                _ => {
                    labels.insert(key.to_string(), json!(words[pick / 4 % words.len()]));
                }
            }
        }
        sets.push(Value::Object(labels));
    }
    sets
}

// ------------------------------------------------------------------------------------ patches

/// **Every patch type.** Input: first line `<type> [resource[.group]]`, type one of `merge`,
/// `strategic`, `apply`, `json` (anything else picks one by the line's length); then the patch.
/// Asserts, for [`rewrite::rewrite_patch`] (the proxy translating a tenant's patch):
/// - what it accepts comes out as JSON of the right shape (an object; an array of operations);
/// - the translated patch, applied to one of the tenant's own objects in the super view (merge
///   semantics for merge, strategic and apply patches; RFC 6902 for JSON patches), never takes it
///   out of the tenant: every namespace field and namespace list names one of the tenant's super
///   namespaces (or nothing), every namespace selector carries the tenant's confining expression,
///   RBAC subjects and ClusterRole references stay the tenant's, no `vcproxy.io/` label or
///   annotation appears, and a Namespace keeps its ownership labels.
///
/// And for the CRD store's `apply_patch` (vcproxy applying a patch to a tenant custom resource):
/// merge, apply and strategic patches are idempotent, and strategic directives (`$…` keys)
/// never land in the stored object.
pub fn patches(data: &[u8]) {
    let (context, body) = context_and_body(data);
    let mut words = context.split_whitespace();
    let kind = words.next().unwrap_or("");
    let content_type = match kind {
        "merge" => "application/merge-patch+json",
        "strategic" => "application/strategic-merge-patch+json",
        "apply" => "application/apply-patch+yaml",
        "json" => "application/json-patch+json",
        _ => [
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
            "application/json-patch+json",
        ][context.len() % 4],
    };
    let (group, resource) = resource_of(words.next().unwrap_or(""));
    let mapper = tenant_mapper();
    let table = fields::fields_for(&group, &resource);
    let ctx = || format!("{content_type} {resource}.{group} {:?}", shown(body));

    if let Ok(out) = rewrite::rewrite_patch(body, content_type, &group, &resource, &mapper) {
        let patch = parse_json(&out)
            .unwrap_or_else(|e| panic!("{}: translated patch is not JSON ({e}): {}", ctx(), shown(&out)));
        let mut target = own_super_object(table, &mapper);
        if content_type == "application/json-patch+json" {
            assert!(patch.is_array(), "{}: translated JSON patch is not an array", ctx());
            let Ok(ops) = serde_json::from_value::<json_patch::Patch>(patch) else { return };
            if json_patch::patch(&mut target, &ops.0).is_err() {
                return; // the apiserver would refuse it too
            }
        } else {
            assert!(patch.is_object(), "{}: translated patch is not an object", ctx());
            json_patch::merge(&mut target, &patch);
        }
        check_confined_object(&target, table, &mapper, &|| format!("{}: patched into {target}", ctx()));
    }

    // The CRD store applies patches to the tenant's own (virtual) objects.
    let current = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "prod", "labels": {"app": "web"}}, "spec": {"size": 3, "tags": ["a"]}});
    let strategic_ok = content_type.starts_with("application/strategic");
    if let Ok(once) = crate::crd::objects::apply_patch(&current, content_type, body, strategic_ok) {
        if content_type != "application/json-patch+json" {
            let twice = crate::crd::objects::apply_patch(&once, content_type, body, strategic_ok)
                .unwrap_or_else(|e| panic!("{}: applies once, not twice: {e:?}", ctx()));
            assert_eq!(twice, once, "{}: applying the patch again changed the object", ctx());
        }
        if strategic_ok {
            assert!(!has_directive(&once), "{}: a strategic directive was stored: {once}", ctx());
        }
    }
}

fn has_directive(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k.starts_with('$') || has_directive(v)),
        Value::Array(a) => a.iter().any(has_directive),
        _ => false,
    }
}

/// One of the tenant's objects of `table`'s kind in the super view, with a value at every field
/// of the table (so a patch has something to change).
fn own_super_object(table: &KindFields, m: &dyn NamespaceMapper) -> Value {
    let mut obj = if table.is_namespaces() {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"app": "web"}}})
    } else {
        json!({"apiVersion": "v1", "kind": table.kind, "metadata": {"name": "x", "namespace": "prod", "labels": {"app": "web"}}})
    };
    for f in &table.fields {
        let leaf = match f.kind {
            FieldKind::Namespace => json!("prod"),
            FieldKind::NamespaceList => json!(["prod", "dev"]),
            FieldKind::NamespaceSelector => json!({"matchLabels": {"team": "a"}}),
            FieldKind::Subject => json!({"kind": "ServiceAccount", "name": "sa", "namespace": "dev"}),
            FieldKind::RoleRef => {
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
            }
        };
        plant(&mut obj, &f.segs, leaf);
    }
    for meta in &table.nested_meta {
        plant(&mut obj, &meta.segs, json!({"labels": {"app": "web"}}));
    }
    rewrite::rewrite_object(&mut obj, table.group, table.resource, Direction::ToSuper, m)
        .expect("a sample object translates");
    obj
}

/// Puts `leaf` at `segs` (one element for `[]`), merging into objects already there.
fn plant(v: &mut Value, segs: &[Seg], leaf: Value) {
    match segs.split_first() {
        None => match (v, leaf) {
            (Value::Object(have), Value::Object(add)) => {
                for (k, x) in add {
                    have.entry(k).or_insert(x);
                }
            }
            (v @ Value::Null, leaf) => *v = leaf,
            _ => {}
        },
        Some((Seg::Key(k), rest)) => {
            if !v.is_object() {
                *v = json!({});
            }
            plant(v.as_object_mut().expect("made an object").entry(k.clone()).or_insert(Value::Null), rest, leaf);
        }
        Some((Seg::Each, rest)) => {
            if !v.is_array() {
                *v = json!([]);
            }
            let a = v.as_array_mut().expect("made an array");
            if a.is_empty() {
                a.push(Value::Null);
            }
            plant(&mut a[0], rest, leaf);
        }
    }
}

/// Panics unless `obj` (super view) still belongs to the tenant (see [`patches`]).
fn check_confined_object(obj: &Value, table: &KindFields, m: &FixedMapper, ctx: &dyn Fn() -> String) {
    let mut obj = obj.clone();
    let owned = |v: &Value| match v {
        Value::String(s) => s.is_empty() || owned_by_tenant(s),
        _ => true, // not a name: the apiserver refuses the type
    };
    for f in &table.fields {
        let mut bad: Option<String> = None;
        let _ = walk(&mut obj, &f.segs, &mut Vec::new(), &mut |v, _| {
            let ok = match f.kind {
                FieldKind::Namespace => owned(v),
                FieldKind::NamespaceList => v.as_array().is_none_or(|xs| xs.iter().all(owned)),
                FieldKind::NamespaceSelector => match v {
                    Value::Object(sel) => sel
                        .get("matchExpressions")
                        .and_then(Value::as_array)
                        .is_some_and(|xs| xs.contains(&tenant_expression(TENANT))),
                    _ => true,
                },
                FieldKind::Subject => {
                    match (v.get("kind").and_then(Value::as_str), v.get("name").and_then(Value::as_str)) {
                        (Some(kind), Some(name)) => crate::subjects::to_virtual(kind, name, &OwnAll).is_some(),
                        _ => true,
                    }
                }
                FieldKind::RoleRef => {
                    match (v.get("kind").and_then(Value::as_str), v.get("name").and_then(Value::as_str)) {
                        (Some("ClusterRole"), Some(name)) => {
                            let virtual_name = crate::cluster_rbac::role_ref_to_virtual(TENANT, name);
                            crate::cluster_rbac::role_ref_to_super(TENANT, &virtual_name) == name
                        }
                        _ => true,
                    }
                }
            };
            if !ok {
                bad = Some(v.to_string());
            }
            Ok(())
        });
        if let Some(v) = bad {
            panic!("{}: {} = {v} is not the tenant's", ctx(), f.path);
        }
    }
    let _ = m;
    // Reserved labels and annotations: none but a Namespace's ownership labels.
    let mut metas: Vec<Value> = obj.get("metadata").cloned().into_iter().collect();
    for meta in &table.nested_meta {
        let _ = walk(&mut obj, &meta.segs, &mut Vec::new(), &mut |v, _| {
            metas.push(v.clone());
            Ok(())
        });
    }
    for (i, meta) in metas.iter().enumerate() {
        for field in ["labels", "annotations"] {
            let Some(Value::Object(map)) = meta.get(field) else { continue };
            for (k, v) in map {
                if !is_reserved_key(k) {
                    continue;
                }
                let ownership = i == 0
                    && table.is_namespaces()
                    && field == "labels"
                    && ((k == mapping::TENANT_LABEL && v == TENANT) || k == mapping::VIRTUAL_NAME_LABEL);
                assert!(ownership, "{}: reserved {field} {k:?}={v}", ctx());
            }
        }
    }
    if table.is_namespaces() && obj["metadata"]["name"] == json!(mapping::to_super(TENANT, "prod")) {
        let labels = &obj["metadata"]["labels"];
        assert_eq!(labels[mapping::TENANT_LABEL], json!(TENANT), "{}: ownership label lost", ctx());
        assert_eq!(labels[mapping::VIRTUAL_NAME_LABEL], json!("prod"), "{}: virtual-name label changed", ctx());
    }
}

/// A mapper for which every super namespace of the tenant is its own (for checking, not translating).
struct OwnAll;
impl NamespaceMapper for OwnAll {
    fn tenant(&self) -> &str {
        TENANT
    }
    fn to_super(&self, v: &str) -> String {
        mapping::to_super(TENANT, v)
    }
    fn to_virtual(&self, s: &str) -> Option<String> {
        owned_by_tenant(s).then(|| s.to_string())
    }
}

// ------------------------------------------------------------------------------------ protobuf

/// **Protobuf reader and editor.** Input: a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`).
/// Asserts, for any body [`protobuf::read_meta`] reads:
/// - an edit that changes nothing returns the body byte for byte;
/// - rewriting `metadata.namespace` and [`protobuf::set_namespace`] change exactly that: the body
///   still reads, with the new namespace and the same name, generateName, labels, annotations and
///   type;
/// - [`crate::proto_rewrite::to_super`] (a create in the tenant's namespace `prod`, for the kind the
///   body says it is) leaves the object in `acme--prod`, without `vcproxy.io/` labels or
///   annotations, and every RoleBinding subject namespace and access-review namespace it carries
///   is the tenant's.
pub fn protobuf(data: &[u8]) {
    let Ok(meta) = protobuf::read_meta(data) else { return };
    let same_except_namespace = |out: &[u8], ns: Option<String>, what: &str| {
        let got = protobuf::read_meta(out).unwrap_or_else(|e| panic!("{what}: the edited body no longer reads: {e}"));
        let want = protobuf::ObjectMetaView { namespace: ns, ..meta.clone() };
        assert_eq!(got, want, "{what}: more changed than the namespace");
    };

    if let Ok(out) = protobuf::rewrite_strings(data, protobuf::paths::METADATA_NAMESPACE, &mut |_| Ok(None)) {
        assert!(out == data, "a no-op rewrite changed the body");
    }
    if let Ok(out) =
        protobuf::rewrite_strings(data, protobuf::paths::METADATA_NAMESPACE, &mut |ns| Ok(Some(format!("acme--{ns}"))))
    {
        same_except_namespace(&out, meta.namespace.as_ref().map(|ns| format!("acme--{ns}")), "rewrite_strings");
    }
    if let Ok(out) = protobuf::set_namespace(data, "acme--prod") {
        same_except_namespace(&out, Some("acme--prod".into()), "set_namespace");
    }

    let api_version = meta.api_version.as_deref().unwrap_or("");
    let table = fields::fields_for_kind(fields::group_of(api_version), meta.kind.as_deref().unwrap_or(""));
    let (group, resource) = (table.group, table.resource);
    let mapper = tenant_mapper();
    let super_ns = mapping::to_super(TENANT, "prod");
    let Ok(out) = crate::proto_rewrite::to_super(data, group, resource, None, &mapper, Some(&super_ns)) else { return };
    let got = protobuf::read_meta(&out).unwrap_or_else(|e| panic!("to_super output no longer reads: {e}"));
    assert_eq!(got.namespace.as_deref(), Some(super_ns.as_str()), "to_super left the object outside {super_ns}");
    assert!(
        !got.labels.iter().chain(&got.annotations).any(|(k, _)| is_reserved_key(k)),
        "to_super let a reserved label or annotation through"
    );
    let paths: &[&[u32]] = match (group, resource) {
        ("rbac.authorization.k8s.io", "rolebindings") => &[&[2, 4]],
        ("authorization.k8s.io", "selfsubjectaccessreviews") => &[&[2, 1, 1]],
        ("authorization.k8s.io", "selfsubjectrulesreviews") => &[&[2, 1]],
        _ => &[],
    };
    let object = protobuf::object(&out).expect("the output reads");
    for path in paths {
        for ns in strings_at(object, path) {
            assert!(ns.is_empty() || owned_by_tenant(&ns), "to_super left namespace {ns:?} at {path:?}");
        }
    }
}

/// Every occurrence of the string at `path` inside `msg` (all repeats at every level).
fn strings_at(msg: &[u8], path: &[u32]) -> Vec<String> {
    let Some((&field, rest)) = path.split_first() else { return Vec::new() };
    let Ok(found) = protobuf::repeated(msg, field) else { return Vec::new() };
    if rest.is_empty() {
        return found.into_iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    }
    found.into_iter().flat_map(|m| strings_at(m, rest)).collect()
}

// ------------------------------------------------------------------------------------ policy_toml

/// **Policy TOML.** Input: a policy file. Asserts that [`crate::policy::parse`] never panics; that
/// an error's line number is inside the file; and that a policy it accepts can be put in force:
/// flow control builds from it (the same call the server makes), every tenant's level exists,
/// and every limit is in range.
pub fn policy_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let tenancy = crate::config::TenancyConfig::default();
    match crate::policy::parse(text, &tenancy) {
        Err(e) => {
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= text.lines().count() + 1, "error line {line} outside the file: {e}");
            }
        }
        Ok(policy) => {
            let clock = std::sync::Arc::new(crate::flowcontrol::clock::FakeClock::new());
            let observer = std::sync::Arc::new(crate::flowcontrol::NoopObserver);
            if let Err(e) = crate::flowcontrol::FlowControl::new(policy.flow.clone(), clock, observer) {
                panic!("an accepted policy does not build flow control: {e}");
            }
            for (tenant, a) in &policy.flow.tenants {
                if let Some(level) = &a.level {
                    assert!(policy.flow.levels.contains_key(level), "tenant {tenant:?}: level {level:?} missing");
                }
                assert!(a.weight.is_finite() && a.weight > 0.0, "tenant {tenant:?}: weight {}", a.weight);
            }
            for limits in policy.tenants.values().chain([&policy.defaults]) {
                assert!(limits.list_width_cap >= 1);
                assert!(["privileged", "baseline", "restricted"].contains(&limits.pod_security.as_str()));
            }
        }
    }
}

// ------------------------------------------------------------------------------------ crd_schema

/// **CRD schema validator.** Input: two JSON documents, an `openAPIV3Schema` then an object
/// (`{}` if absent). Asserts that [`schema::check_structural`] never panics and renders its errors;
/// and, for a schema it accepts, the apiserver's write order (`prune`, `default`, `validate`) never
/// panics, is settled after one round (pruning again drops nothing and defaulting again adds
/// nothing, since accepted defaults are pruned already), and validation is deterministic and the
/// same for the object after a JSON round trip.
pub fn crd_schema(data: &[u8]) {
    let mut docs = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let Some(Ok(schema_doc)) = docs.next() else { return };
    let mut obj = match docs.next() {
        None => json!({}),
        Some(Ok(v)) => v,
        Some(Err(_)) => return,
    };
    let errors = schema::check_structural(&schema_doc);
    for e in &errors {
        let _ = e.to_string();
    }
    let _ = schema::to_status("example.com", "Widget", "w", &errors);
    if !errors.is_empty() {
        return;
    }
    let _ = schema::prune(&mut obj, &schema_doc);
    schema::default(&mut obj, &schema_doc);
    let settled = obj.clone();
    let dropped = schema::prune(&mut obj, &schema_doc);
    assert!(dropped.is_empty() && obj == settled, "prune after prune+default dropped {dropped:?}: {settled} → {obj}");
    schema::default(&mut obj, &schema_doc);
    assert_eq!(obj, settled, "defaulting twice differs");
    let errs: Vec<String> = schema::validate(&obj, &schema_doc).iter().map(|e| e.to_string()).collect();
    let again: Vec<String> = schema::validate(&obj, &schema_doc).iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, again, "validation is not deterministic");
    if let Ok(round_trip) = serde_json::from_str::<Value>(&obj.to_string()) {
        let after: Vec<String> = schema::validate(&round_trip, &schema_doc).iter().map(|e| e.to_string()).collect();
        assert_eq!(errs, after, "validation differs after a JSON round trip of {obj}");
    }
}
