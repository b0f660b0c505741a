//! Structural schemas for tenant custom resources, with the semantics of
//! kube-apiserver's apiextensions-apiserver (pinned v1.37.2) and kube-openapi.
//!
//! Everything here is pure: `serde_json::Value` in, `Value` / [`FieldError`]s out.
//!
//! - [`check_structural`] — is an `openAPIV3Schema` acceptable in a CRD (structural,
//!   no forbidden keywords, valid patterns, pruned and valid defaults, …)?
//! - [`prune`] — drop fields the schema does not know (decoding), returning the
//!   paths dropped so the caller can warn or refuse (`fieldValidation`).
//! - [`default`] — apply `default`s (the apiserver does this on decode and on read).
//! - [`validate`] — validate a custom resource; field paths and messages as kube.
//! - [`FieldError`] and [`to_status`] — `field.Error` and the 422 `Invalid` Status.
//!
//! The order on a write is the apiserver's: `prune`, `default`, `validate`.
//!
//! Recursion is bounded by [`MAX_DEPTH`] (schema nesting, and data nesting under a
//! schema): beyond it `check_structural`/`validate` report an error and
//! `prune`/`default` stop descending, so hostile input cannot exhaust the stack.
//!
//! Regular expressions (`pattern`) are Go RE2 syntax in kube; they are translated
//! to the `regex` crate (ASCII `\d \w \s \b`, `\Q…\E`, literal `{`, repeat counts
//! ≤ 1000) and compiled once into a bounded cache.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use regex::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};

/// Deepest nesting of schema nodes (and of data under a schema) that is followed.
pub const MAX_DEPTH: usize = 100;
const DEPTH_DETAIL: &str = "must not be nested more than 100 levels deep";

// ---------------------------------------------------------------------------
// field.Error
// ---------------------------------------------------------------------------

/// `field.ErrorType`: what is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    /// The value did not match the schema type (reported as "Invalid value").
    TypeInvalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooShort,
    TooMany,
    TooFew,
    Internal,
}

impl ErrorKind {
    /// The `metav1.CauseType` (`details.causes[].reason`).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "FieldValueNotFound",
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            ErrorKind::NotSupported => "FieldValueNotSupported",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::TooShort => "FieldValueTooShort",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::TooFew => "FieldValueTooFew",
            ErrorKind::Internal => "InternalError",
        }
    }

    /// The human label that starts the message ("Required value", …).
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "Not found",
            ErrorKind::Required => "Required value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::Invalid | ErrorKind::TypeInvalid => "Invalid value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooShort => "Too short",
            ErrorKind::TooMany => "Too many",
            ErrorKind::TooFew => "Too few",
            ErrorKind::Internal => "Internal error",
        }
    }
}

/// One field-level validation error, as kube's `field.Error`.
///
/// `message` is kube's `ErrorBody()` (e.g. `Invalid value: "x": must be …`), so
/// `to_string()` is `<path>: <message>` exactly as kube-apiserver prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl FieldError {
    fn body(path: impl Into<String>, kind: ErrorKind, value: Option<String>, detail: &str) -> Self {
        let mut message = kind.label().to_string();
        if let Some(v) = value {
            message.push_str(": ");
            message.push_str(&v);
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        FieldError { path: path.into(), kind, message }
    }

    pub fn required(path: impl Into<String>, detail: &str) -> Self {
        Self::body(path, ErrorKind::Required, None, detail)
    }
    pub fn forbidden(path: impl Into<String>, detail: &str) -> Self {
        Self::body(path, ErrorKind::Forbidden, None, detail)
    }
    pub fn internal(path: impl Into<String>, detail: &str) -> Self {
        Self::body(path, ErrorKind::Internal, None, detail)
    }
    /// `Invalid value: <value>: <detail>`; the value rendered as kube does.
    pub fn invalid(path: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::body(path, ErrorKind::Invalid, Some(render_value(value)), detail)
    }
    /// [`FieldError::invalid`] for a string value.
    pub fn invalid_str(path: impl Into<String>, value: &str, detail: &str) -> Self {
        Self::body(path, ErrorKind::Invalid, Some(go_quote(value)), detail)
    }
    pub fn type_invalid(path: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::body(path, ErrorKind::TypeInvalid, Some(render_value(value)), detail)
    }
    pub fn duplicate(path: impl Into<String>, value: &Value) -> Self {
        Self::body(path, ErrorKind::Duplicate, Some(render_value(value)), "")
    }
    pub fn not_found(path: impl Into<String>, value: &Value) -> Self {
        Self::body(path, ErrorKind::NotFound, Some(render_value(value)), "")
    }
    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported<S: AsRef<str>>(path: impl Into<String>, value: &Value, supported: &[S]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s.as_ref())).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::body(path, ErrorKind::NotSupported, Some(render_value(value)), &detail)
    }
    /// `Too long: may not be more than <max> bytes` (kube omits the value).
    pub fn too_long(path: impl Into<String>, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "value is too long".to_string(),
            1 => "may not be more than 1 byte".to_string(),
            m => format!("may not be more than {m} bytes"),
        };
        Self::body(path, ErrorKind::TooLong, None, &detail)
    }
    /// `Too many: <actual>: must have at most <max> items`.
    pub fn too_many(path: impl Into<String>, actual: Option<i64>, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "has too many items".to_string(),
            1 => "must have at most 1 item".to_string(),
            m => format!("must have at most {m} items"),
        };
        Self::body(path, ErrorKind::TooMany, actual.filter(|a| *a >= 0).map(|a| a.to_string()), &detail)
    }
}

/// The 422 `Invalid` `metav1.Status` kube-apiserver answers for `errors`
/// (`apierrors.NewInvalid`): message `<Kind>.<group> "<name>" is invalid: [<errors>]`
/// (no brackets for a single error, duplicates dropped) and `details.causes`.
pub fn to_status(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Value {
    let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let mut seen = HashSet::new();
    let mut msgs = Vec::new();
    for e in errors {
        let m = e.to_string();
        if seen.insert(m.clone()) {
            msgs.push(m);
        }
    }
    let message = match msgs.len() {
        0 => format!("{qualified} {} is invalid", go_quote(name)),
        1 => format!("{qualified} {} is invalid: {}", go_quote(name), msgs[0]),
        _ => format!("{qualified} {} is invalid: [{}]", go_quote(name), msgs.join(", ")),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| {
            let mut c = Map::new();
            c.insert("reason".into(), Value::from(e.kind.reason()));
            c.insert("message".into(), Value::from(e.message.clone()));
            if !e.path.is_empty() {
                c.insert("field".into(), Value::from(e.path.clone()));
            }
            Value::Object(c)
        })
        .collect();
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), Value::from(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), Value::from(group));
    }
    details.insert("kind".into(), Value::from(kind));
    details.insert("causes".into(), Value::Array(causes));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": details,
        "code": 422,
    })
}

// ---------------------------------------------------------------------------
// Go formatting, so messages are byte-identical to kube's
// ---------------------------------------------------------------------------

/// Go's `strconv.Quote` (`%q`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space.
fn go_printable(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    static PRINT: OnceLock<Regex> = OnceLock::new();
    let re = PRINT.get_or_init(|| Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").expect("static printable regex"));
    let mut buf = [0u8; 4];
    re.is_match(c.encode_utf8(&mut buf))
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (neg, digits, exp) = float_digits(f);
    // %e when the exponent is < -4 or >= 6 (the precision `%v` uses for the decision).
    if !(-4..6).contains(&exp) {
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.abs()));
        s
    } else {
        format!("{f}")
    }
}

/// Shortest round-trip decimal digits of `f` and its decimal exponent (d.ddd × 10^exp).
fn float_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (f < 0.0, digits, exp.parse().unwrap_or(0))
}

/// Go's `encoding/json` rendering of a float64.
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digits, exp) = float_digits(f);
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        // Go cleans e-07 to e-7 but keeps e+21.
        if exp < 0 {
            s.push_str(&exp.abs().to_string());
        } else {
            s.push_str(&format!("{:02}", exp));
        }
        s
    } else {
        format!("{f}")
    }
}

/// Go's `json.Marshal` of a decoded JSON value: sorted keys, HTML-safe escaping.
pub fn go_json(v: &Value) -> String {
    let mut out = String::new();
    go_json_into(v, &mut out, 0);
    out
}

fn go_json_into(v: &Value, out: &mut String, depth: usize) {
    if depth > 4 * MAX_DEPTH {
        out.push_str("null");
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::I(i) => out.push_str(&i.to_string()),
            Num::F(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_into(e, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json_into(&o[k.as_str()], out, depth + 1);
            }
            out.push('}');
        }
    }
}

fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How kube's `ErrorBody` prints a bad value: `%q` for strings, `%v` for numbers and
/// booleans, JSON for everything else (`null` for nil).
pub fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => match num(n) {
            Num::I(i) => i.to_string(),
            Num::F(f) => go_float(f),
        },
        Value::Bool(b) => b.to_string(),
        _ => go_json(v),
    }
}

#[derive(Clone, Copy, Debug)]
enum Num {
    I(i64),
    F(f64),
}

/// A JSON number as the apiserver's unstructured decoder sees it: int64 when it is
/// an integer that fits, float64 otherwise.
fn num(n: &serde_json::Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::I(i),
        None => Num::F(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// `swag.IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9007199254740992.0; // 1<<53
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let r = f.round();
    if f == r {
        return true;
    }
    if r == 0.0 {
        return false;
    }
    let diff = (f - r).abs();
    diff / f.abs().min(r.abs()) < 1e-9
}

// ---------------------------------------------------------------------------
// field.Path helpers ("" is the nil root path)
// ---------------------------------------------------------------------------

pub(crate) fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

// ---------------------------------------------------------------------------
// DNS names (k8s.io/apimachinery/pkg/util/validation)
// ---------------------------------------------------------------------------

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn label_chars_ok(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let first_ok = if first_alpha { b[0].is_ascii_lowercase() } else { alnum(b[0]) };
    first_ok && alnum(b[b.len() - 1]) && b.iter().all(|c| alnum(*c) || *c == b'-')
}

/// `IsDNS1123Label`.
pub fn dns1123_label_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !label_chars_ok(v, false) {
        if dns1123_subdomain_ok(v) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(DNS1123_LABEL_MSG.to_string());
        }
    }
    errs
}

fn dns1123_subdomain_ok(v: &str) -> bool {
    !v.is_empty() && v.split('.').all(|l| label_chars_ok(l, false))
}

/// `IsDNS1123Subdomain`.
pub fn dns1123_subdomain_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !dns1123_subdomain_ok(v) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// `IsDNS1035Label`.
pub fn dns1035_label_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !label_chars_ok(v, true) {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

// ---------------------------------------------------------------------------
// Go regular expressions
// ---------------------------------------------------------------------------

/// FNV-1a, for the pattern cache (short keys, looked up for every validated string).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Patterns longer than this are compiled on every use instead of being cached.
const CACHED_PATTERN_MAX_LEN: usize = 1024;
/// How many compiled patterns are kept (the cache is emptied when it is full).
const PATTERN_CACHE_ENTRIES: usize = 512;

/// Compile a schema `pattern` (Go RE2 syntax) with Go semantics.
///
/// Compiled programs are capped at 2 MiB (beyond: `expression too large`, as Go
/// refuses very large expressions) and the lazy DFA at 1 MiB per pattern; short
/// patterns are cached (bounded), so memory stays bounded whatever tenants send.
pub fn compile_pattern(pattern: &str) -> Result<Arc<Regex>, String> {
    type Cache = RwLock<HashMap<String, Result<Arc<Regex>, String>, std::hash::BuildHasherDefault<Fnv>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RwLock::new(HashMap::default()));
    let cacheable = pattern.len() <= CACHED_PATTERN_MAX_LEN;
    if cacheable {
        if let Some(r) = cache.read().unwrap_or_else(|e| e.into_inner()).get(pattern) {
            return r.clone();
        }
    }
    let compiled = translate_go_regex(pattern).and_then(|t| {
        RegexBuilder::new(&t).size_limit(2 << 20).dfa_size_limit(1 << 20).build().map(Arc::new).map_err(|e| {
            let detail = match &e {
                regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
                other => {
                    let text = other.to_string();
                    text.lines()
                        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
                        .unwrap_or_else(|| text.lines().last().unwrap_or("").trim().to_string())
                }
            };
            format!("error parsing regexp: {detail}: `{pattern}`")
        })
    });
    if cacheable {
        let mut guard = cache.write().unwrap_or_else(|e| e.into_inner());
        if guard.len() >= PATTERN_CACHE_ENTRIES {
            guard.clear();
        }
        guard.insert(pattern.to_string(), compiled.clone());
    }
    compiled
}

/// Rewrite Go RE2 syntax (`regexp/syntax` with Perl flags) into an equivalent
/// `regex` crate pattern, reporting Go's parse errors: ASCII-only `\d \w \s \b`,
/// `\Q…\E`, octal escapes, POSIX classes, literal `{` when not a repeat, repeat
/// counts ≤ 1000, no stacked repetition, only the `imsU` flags.
fn translate_go_regex(p: &str) -> Result<String, String> {
    let c: Vec<char> = p.chars().collect();
    let n = c.len();
    let err = |code: &str, frag: &str| format!("error parsing regexp: {code}: `{frag}`");
    let text = |a: usize, b: usize| -> String { c[a..b.min(n)].iter().collect() };
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    let mut depth: i64 = 0;
    // Where the previous repetition operator started (Go refuses `a**`, `a{2}{3}`),
    // and whether there is something to repeat.
    let mut last_repeat: Option<usize> = None;
    let mut can_repeat = false;
    while i < n {
        let ch = c[i];
        // Repetition: * + ? and {n}, {n,}, {n,m}.
        let repeat = match ch {
            '*' | '+' | '?' => Some((i + 1, None)),
            '{' => parse_go_repeat(&c, i).map(|(end, lo, hi)| (end, Some((lo, hi)))),
            _ => None,
        };
        if let Some((mut end, counts)) = repeat {
            if let Some((lo, hi)) = counts {
                if !(0..=1000).contains(&lo) || hi > 1000 || (hi >= 0 && lo > hi) {
                    return Err(err("invalid repeat count", &text(i, end)));
                }
            }
            if c.get(end) == Some(&'?') {
                end += 1;
            }
            if let Some(start) = last_repeat {
                return Err(err("invalid nested repetition operator", &text(start, end)));
            }
            if !can_repeat {
                return Err(err("missing argument to repetition operator", &text(i, end)));
            }
            out.push_str(&text(i, end));
            last_repeat = Some(i);
            i = end;
            continue;
        }
        last_repeat = None;
        match ch {
            '\\' => {
                let (rust, next) = go_escape(&c, i, false)?;
                out.push_str(&rust);
                i = next;
                can_repeat = true;
            }
            '[' => {
                let (rust, next) = go_class(&c, i)?;
                out.push_str(&rust);
                i = next;
                can_repeat = true;
            }
            '(' => {
                can_repeat = false;
                if c.get(i + 1) != Some(&'?') {
                    depth += 1;
                    out.push('(');
                    i += 1;
                    continue;
                }
                let rest = text(i, n);
                // Named capture: (?P<name>…) or (?<name>…)
                let named = if rest.starts_with("(?P<") {
                    Some(4)
                } else if rest.starts_with("(?<") {
                    Some(3)
                } else {
                    None
                };
                if let Some(skip) = named {
                    let Some(close) = rest.find('>') else { return Err(err("invalid named capture", &rest)) };
                    let name = &rest[skip..close];
                    if name.is_empty() || !name.chars().all(|x| x.is_ascii_alphanumeric() || x == '_') {
                        return Err(err("invalid named capture", &rest[..close + 1]));
                    }
                    out.push_str(&format!("(?P<{name}>"));
                    i += rest[..close + 1].chars().count();
                    depth += 1;
                    continue;
                }
                // Flags: (?flags) or (?flags:…), flags in imsU with one optional '-'.
                let mut j = i + 2;
                let mut negated = false;
                let mut saw_flag = false;
                loop {
                    let Some(&f) = c.get(j) else { return Err(err("missing closing )", p)) };
                    match f {
                        'i' | 'm' | 's' | 'U' => saw_flag = true,
                        '-' if !negated => {
                            negated = true;
                            saw_flag = false;
                        }
                        ':' | ')' if !negated || saw_flag => break,
                        _ => return Err(err("invalid or unsupported Perl syntax", &text(i, j + 1))),
                    }
                    j += 1;
                }
                out.push_str(&text(i, j + 1));
                if c[j] == ':' {
                    depth += 1;
                }
                i = j + 1;
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(err("unexpected )", p));
                }
                out.push(')');
                i += 1;
                can_repeat = true;
            }
            '|' => {
                out.push('|');
                i += 1;
                can_repeat = false;
            }
            '{' | '}' => {
                out.push('\\');
                out.push(ch);
                i += 1;
                can_repeat = true;
            }
            _ => {
                out.push(ch);
                i += 1;
                can_repeat = true;
            }
        }
    }
    if depth > 0 {
        return Err(err("missing closing )", p));
    }
    Ok(out)
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` at `i` → (end, min, max or -1).
fn parse_go_repeat(c: &[char], i: usize) -> Option<(usize, i64, i64)> {
    let int = |mut j: usize| -> Option<(usize, i64)> {
        let start = j;
        while j < c.len() && c[j].is_ascii_digit() {
            j += 1;
        }
        if j == start || (j - start >= 2 && c[start] == '0') {
            return None;
        }
        let digits: String = c[start..j].iter().collect();
        Some((j, if digits.len() > 8 { -1 } else { digits.parse().unwrap_or(-1) }))
    };
    let (mut j, lo) = int(i + 1)?;
    let mut hi = lo;
    if c.get(j) == Some(&',') {
        j += 1;
        if c.get(j) == Some(&'}') {
            hi = -1;
        } else {
            let (k, h) = int(j)?;
            j = k;
            hi = h;
            if h < 0 {
                return Some((j + 1, lo, 1001));
            }
        }
    }
    (c.get(j) == Some(&'}')).then_some((j + 1, lo, hi))
}

/// A literal character in Rust regex syntax (escaped where Rust would see syntax).
fn rust_literal(ch: char, in_class: bool) -> String {
    let meta = if in_class { "\\[]-^&~" } else { "\\.+*?()|[]{}^$#&-~" };
    if meta.contains(ch) {
        format!("\\{ch}")
    } else if ch.is_control() || (in_class && ch == ' ') {
        format!("\\x{{{:x}}}", ch as u32)
    } else {
        ch.to_string()
    }
}

/// Go's escapes at `c[i] == '\\'`: returns the Rust text and the next index, or
/// Go's error message.
fn go_escape(c: &[char], i: usize, in_class: bool) -> Result<(String, usize), String> {
    let invalid = |end: usize| -> String {
        let frag: String = c[i..end.min(c.len())].iter().collect();
        format!("error parsing regexp: invalid escape sequence: `{frag}`")
    };
    let Some(&d) = c.get(i + 1) else {
        return Err("error parsing regexp: trailing backslash at end of expression: ``".into());
    };
    let class = |set: &str, neg: bool| -> String {
        if in_class && !neg {
            set.to_string()
        } else {
            format!("[{}{set}]", if neg { "^" } else { "" })
        }
    };
    let ok = |s: String, next: usize| Ok((s, next));
    match d {
        'd' => ok(class("0-9", false), i + 2),
        'D' => ok(class("0-9", true), i + 2),
        'w' => ok(class("0-9A-Za-z_", false), i + 2),
        'W' => ok(class("0-9A-Za-z_", true), i + 2),
        's' => ok(class("\\t\\n\\f\\r ", false), i + 2),
        'S' => ok(class("\\t\\n\\f\\r ", true), i + 2),
        'b' | 'B' | 'A' | 'z' if !in_class => ok(
            match d {
                'b' => "(?-u:\\b)".into(),
                'B' => "(?-u:\\B)".into(),
                other => format!("\\{other}"),
            },
            i + 2,
        ),
        'Q' if !in_class => {
            let mut j = i + 2;
            let mut lit = String::new();
            while j < c.len() && !(c[j] == '\\' && c.get(j + 1) == Some(&'E')) {
                lit.push_str(&rust_literal(c[j], false));
                j += 1;
            }
            ok(format!("(?:{lit})"), if j < c.len() { j + 2 } else { j })
        }
        'p' | 'P' => go_unicode_class(c, i),
        '0'..='7' => {
            // \0 and up to two more octal digits; \1-\7 need a second octal digit.
            if d != '0' && !c.get(i + 2).is_some_and(|x| ('0'..='7').contains(x)) {
                return Err(invalid(i + 2));
            }
            let mut j = i + 1;
            let mut val: u32 = 0;
            while j < c.len() && j < i + 4 && ('0'..='7').contains(&c[j]) {
                val = val * 8 + c[j].to_digit(8).unwrap_or(0);
                j += 1;
            }
            ok(format!("\\x{{{val:x}}}"), j)
        }
        'x' => {
            let j = i + 2;
            if j >= c.len() {
                return Err(invalid(j));
            }
            if c[j] == '{' {
                // Go consumes up to and including the first bad character.
                let mut k = j + 1;
                let mut v: u32 = 0;
                let mut nhex = 0;
                loop {
                    let Some(&x) = c.get(k) else { return Err(invalid(k)) };
                    if x == '}' {
                        break;
                    }
                    let Some(h) = x.to_digit(16) else { return Err(invalid(k + 1)) };
                    v = v * 16 + h;
                    if v > 0x10ffff {
                        return Err(invalid(k + 1));
                    }
                    nhex += 1;
                    k += 1;
                }
                if nhex == 0 {
                    return Err(invalid(k + 1));
                }
                ok(format!("\\x{{{v:x}}}"), k + 1)
            } else if c[j].is_ascii_hexdigit() && c.get(j + 1).is_some_and(char::is_ascii_hexdigit) {
                ok(format!("\\x{{{}{}}}", c[j], c[j + 1]), j + 2)
            } else {
                Err(invalid(j + 2))
            }
        }
        'a' => ok("\\x07".into(), i + 2),
        'f' | 'n' | 'r' | 't' | 'v' => ok(format!("\\{d}"), i + 2),
        x if x.is_ascii() && !x.is_ascii_alphanumeric() => ok(rust_literal(x, in_class), i + 2),
        _ => Err(invalid(i + 2)),
    }
}

/// Go 1.26 `regexp/syntax` Unicode class names (canonicalized: first letter upper,
/// rest lower, no `_`/`-`/space) and the name the `regex` crate knows them by.
const GO_UNICODE_CLASSES: &[(&str, &str)] = &[
    ("Adlam", "Adlam"),
    ("Ahom", "Ahom"),
    ("Any", "Any"),
    ("Arabic", "Arabic"),
    ("Armenian", "Armenian"),
    ("Ascii", "ASCII"),
    ("Assigned", "Assigned"),
    ("Avestan", "Avestan"),
    ("Balinese", "Balinese"),
    ("Bamum", "Bamum"),
    ("Batak", "Batak"),
    ("Bengali", "Bengali"),
    ("Bhaiksuki", "Bhaiksuki"),
    ("Bopomofo", "Bopomofo"),
    ("Brahmi", "Brahmi"),
    ("Braille", "Braille"),
    ("Buginese", "Buginese"),
    ("Buhid", "Buhid"),
    ("C", "C"),
    ("Carian", "Carian"),
    ("Casedletter", "LC"),
    ("Cc", "Cc"),
    ("Cf", "Cf"),
    ("Chakma", "Chakma"),
    ("Cham", "Cham"),
    ("Cherokee", "Cherokee"),
    ("Chorasmian", "Chorasmian"),
    ("Closepunctuation", "Pe"),
    ("Cn", "Cn"),
    ("Cntrl", "Cc"),
    ("Co", "Co"),
    ("Combiningmark", "M"),
    ("Common", "Common"),
    ("Connectorpunctuation", "Pc"),
    ("Control", "Cc"),
    ("Coptic", "Coptic"),
    ("Cs", "Cs"),
    ("Cuneiform", "Cuneiform"),
    ("Currencysymbol", "Sc"),
    ("Cypriot", "Cypriot"),
    ("Cyrillic", "Cyrillic"),
    ("Dashpunctuation", "Pd"),
    ("Decimalnumber", "Nd"),
    ("Deseret", "Deseret"),
    ("Devanagari", "Devanagari"),
    ("Digit", "Nd"),
    ("Dogra", "Dogra"),
    ("Duployan", "Duployan"),
    ("Elbasan", "Elbasan"),
    ("Elymaic", "Elymaic"),
    ("Enclosingmark", "Me"),
    ("Ethiopic", "Ethiopic"),
    ("Finalpunctuation", "Pf"),
    ("Format", "Cf"),
    ("Georgian", "Georgian"),
    ("Glagolitic", "Glagolitic"),
    ("Gothic", "Gothic"),
    ("Grantha", "Grantha"),
    ("Greek", "Greek"),
    ("Gujarati", "Gujarati"),
    ("Gurmukhi", "Gurmukhi"),
    ("Han", "Han"),
    ("Hangul", "Hangul"),
    ("Hanunoo", "Hanunoo"),
    ("Hatran", "Hatran"),
    ("Hebrew", "Hebrew"),
    ("Hiragana", "Hiragana"),
    ("Inherited", "Inherited"),
    ("Initialpunctuation", "Pi"),
    ("Javanese", "Javanese"),
    ("Kaithi", "Kaithi"),
    ("Kannada", "Kannada"),
    ("Katakana", "Katakana"),
    ("Kawi", "Kawi"),
    ("Kharoshthi", "Kharoshthi"),
    ("Khmer", "Khmer"),
    ("Khojki", "Khojki"),
    ("Khudawadi", "Khudawadi"),
    ("L", "L"),
    ("Lao", "Lao"),
    ("Latin", "Latin"),
    ("Lc", "LC"),
    ("Lepcha", "Lepcha"),
    ("Letter", "L"),
    ("Letternumber", "Nl"),
    ("Limbu", "Limbu"),
    ("Lineseparator", "Zl"),
    ("Lisu", "Lisu"),
    ("Ll", "Ll"),
    ("Lm", "Lm"),
    ("Lo", "Lo"),
    ("Lowercaseletter", "Ll"),
    ("Lt", "Lt"),
    ("Lu", "Lu"),
    ("Lycian", "Lycian"),
    ("Lydian", "Lydian"),
    ("M", "M"),
    ("Mahajani", "Mahajani"),
    ("Makasar", "Makasar"),
    ("Malayalam", "Malayalam"),
    ("Mandaic", "Mandaic"),
    ("Manichaean", "Manichaean"),
    ("Marchen", "Marchen"),
    ("Mark", "M"),
    ("Mathsymbol", "Sm"),
    ("Mc", "Mc"),
    ("Me", "Me"),
    ("Medefaidrin", "Medefaidrin"),
    ("Miao", "Miao"),
    ("Mn", "Mn"),
    ("Modi", "Modi"),
    ("Modifierletter", "Lm"),
    ("Modifiersymbol", "Sk"),
    ("Mongolian", "Mongolian"),
    ("Mro", "Mro"),
    ("Multani", "Multani"),
    ("Myanmar", "Myanmar"),
    ("N", "N"),
    ("Nabataean", "Nabataean"),
    ("Nandinagari", "Nandinagari"),
    ("Nd", "Nd"),
    ("Newa", "Newa"),
    ("Nko", "Nko"),
    ("Nl", "Nl"),
    ("No", "No"),
    ("Nonspacingmark", "Mn"),
    ("Number", "N"),
    ("Nushu", "Nushu"),
    ("Ogham", "Ogham"),
    ("Openpunctuation", "Ps"),
    ("Oriya", "Oriya"),
    ("Osage", "Osage"),
    ("Osmanya", "Osmanya"),
    ("Other", "C"),
    ("Otherletter", "Lo"),
    ("Othernumber", "No"),
    ("Otherpunctuation", "Po"),
    ("Othersymbol", "So"),
    ("P", "P"),
    ("Palmyrene", "Palmyrene"),
    ("Paragraphseparator", "Zp"),
    ("Pc", "Pc"),
    ("Pd", "Pd"),
    ("Pe", "Pe"),
    ("Pf", "Pf"),
    ("Phoenician", "Phoenician"),
    ("Pi", "Pi"),
    ("Po", "Po"),
    ("Privateuse", "Co"),
    ("Ps", "Ps"),
    ("Punct", "P"),
    ("Punctuation", "P"),
    ("Rejang", "Rejang"),
    ("Runic", "Runic"),
    ("S", "S"),
    ("Samaritan", "Samaritan"),
    ("Saurashtra", "Saurashtra"),
    ("Sc", "Sc"),
    ("Separator", "Z"),
    ("Sharada", "Sharada"),
    ("Shavian", "Shavian"),
    ("Siddham", "Siddham"),
    ("Sinhala", "Sinhala"),
    ("Sk", "Sk"),
    ("Sm", "Sm"),
    ("So", "So"),
    ("Sogdian", "Sogdian"),
    ("Soyombo", "Soyombo"),
    ("Spaceseparator", "Zs"),
    ("Spacingmark", "Mc"),
    ("Sundanese", "Sundanese"),
    ("Surrogate", "Cs"),
    ("Symbol", "S"),
    ("Syriac", "Syriac"),
    ("Tagalog", "Tagalog"),
    ("Tagbanwa", "Tagbanwa"),
    ("Takri", "Takri"),
    ("Tamil", "Tamil"),
    ("Tangsa", "Tangsa"),
    ("Tangut", "Tangut"),
    ("Telugu", "Telugu"),
    ("Thaana", "Thaana"),
    ("Thai", "Thai"),
    ("Tibetan", "Tibetan"),
    ("Tifinagh", "Tifinagh"),
    ("Tirhuta", "Tirhuta"),
    ("Titlecaseletter", "Lt"),
    ("Toto", "Toto"),
    ("Ugaritic", "Ugaritic"),
    ("Unassigned", "Cn"),
    ("Uppercaseletter", "Lu"),
    ("Vai", "Vai"),
    ("Vithkuqi", "Vithkuqi"),
    ("Wancho", "Wancho"),
    ("Yezidi", "Yezidi"),
    ("Yi", "Yi"),
    ("Z", "Z"),
    ("Zl", "Zl"),
    ("Zp", "Zp"),
    ("Zs", "Zs"),
];

/// Go's `canonicalName` for Unicode class lookups.
fn go_canonical_class_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut first = true;
    for ch in name.chars() {
        if matches!(ch, '_' | '-' | ' ') {
            continue;
        }
        if first {
            out.push(ch.to_ascii_uppercase());
            first = false;
        } else {
            out.push(ch.to_ascii_lowercase());
        }
    }
    out
}

/// Go's `parseUnicodeClass` at `c[i..]` = `\p…` / `\P…`.
fn go_unicode_class(c: &[char], i: usize) -> Result<(String, usize), String> {
    let bad = |seq: &str| format!("error parsing regexp: invalid character class range: `{seq}`");
    let mut negated = c[i + 1] == 'P';
    let (seq, name, next): (String, String, usize) = match c.get(i + 2) {
        Some('{') => {
            let Some(end) = (i + 3..c.len()).find(|k| c[*k] == '}') else {
                return Err(bad(&c[i..].iter().collect::<String>()));
            };
            (c[i..=end].iter().collect(), c[i + 3..end].iter().collect(), end + 1)
        }
        Some(&x) => (c[i..i + 3].iter().collect(), x.to_string(), i + 3),
        None => (c[i..].iter().collect(), String::new(), c.len()),
    };
    let name = match name.strip_prefix('^') {
        Some(rest) => {
            negated = !negated;
            rest.to_string()
        }
        None => name,
    };
    let canonical = go_canonical_class_name(&name);
    let Ok(idx) = GO_UNICODE_CLASSES.binary_search_by(|(k, _)| (*k).cmp(canonical.as_str())) else {
        return Err(bad(&seq));
    };
    let mut rust = GO_UNICODE_CLASSES[idx].1;
    if rust == "Assigned" {
        rust = "Cn";
        negated = !negated;
    }
    if rust == "Cs" {
        // Surrogates never occur in a Rust string (nor in valid UTF-8 input).
        let class = if negated { "[\\x{0}-\\x{10FFFF}]" } else { "[^\\x{0}-\\x{10FFFF}]" };
        return Ok((class.to_string(), next));
    }
    Ok((format!("\\{}{{{rust}}}", if negated { 'P' } else { 'p' }), next))
}

const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word",
    "xdigit",
];

/// A single class character (or escape) for a range endpoint: (char, next index).
fn go_class_char(c: &[char], i: usize, whole: &str) -> Result<(char, usize), String> {
    let missing = || format!("error parsing regexp: missing closing ]: `{whole}`");
    let Some(&ch) = c.get(i) else { return Err(missing()) };
    if ch != '\\' {
        return Ok((ch, i + 1));
    }
    let Some(&d) = c.get(i + 1) else {
        return Err("error parsing regexp: trailing backslash at end of expression: ``".into());
    };
    let simple = |x: char| Ok((x, i + 2));
    match d {
        'a' => simple('\u{7}'),
        'f' => simple('\u{c}'),
        'n' => simple('\n'),
        'r' => simple('\r'),
        't' => simple('\t'),
        'v' => simple('\u{b}'),
        x if x.is_ascii() && !x.is_ascii_alphanumeric() => simple(x),
        _ => {
            // octal / hex: reuse the escape parser and decode its \x{…}
            let (rust, next) = go_escape(c, i, true)?;
            let hex = rust.strip_prefix("\\x{").and_then(|h| h.strip_suffix('}'));
            match hex.and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32) {
                Some(x) => Ok((x, next)),
                None => Err(format!("error parsing regexp: invalid escape sequence: `\\{d}`")),
            }
        }
    }
}

/// Go's `parseClass` at `c[i] == '['`: returns the Rust class and the next index.
fn go_class(c: &[char], i: usize) -> Result<(String, usize), String> {
    let whole: String = c[i..].iter().collect();
    let mut out = String::from("[");
    let mut j = i + 1;
    if c.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut first = true;
    loop {
        let Some(&ch) = c.get(j) else {
            return Err(format!("error parsing regexp: missing closing ]: `{whole}`"));
        };
        if ch == ']' && !first {
            out.push(']');
            return Ok((out, j + 1));
        }
        first = false;
        // POSIX [:name:] / [:^name:]
        if ch == '[' && c.get(j + 1) == Some(&':') {
            let rest: String = c[j + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = &rest[..end];
                let bare = name.strip_prefix('^').unwrap_or(name);
                if !POSIX_CLASSES.contains(&bare) {
                    return Err(format!("error parsing regexp: invalid character class range: `[:{name}:]`"));
                }
                out.push_str(&format!("[:{name}:]"));
                j += 2 + rest[..end + 2].chars().count();
                continue;
            }
        }
        // \p{…}, \d and friends
        if ch == '\\' && matches!(c.get(j + 1), Some('p' | 'P' | 'd' | 'D' | 'w' | 'W' | 's' | 'S')) {
            let (rust, next) = go_escape(c, j, true)?;
            out.push_str(&rust);
            j = next;
            continue;
        }
        let start = j;
        let (lo, next) = go_class_char(c, j, &whole)?;
        j = next;
        let mut hi = lo;
        if c.get(j) == Some(&'-') && c.get(j + 1).is_some_and(|x| *x != ']') {
            let (h, next) = go_class_char(c, j + 1, &whole)?;
            hi = h;
            j = next;
            if hi < lo {
                let rng: String = c[start..j].iter().collect();
                return Err(format!("error parsing regexp: invalid character class range: `{rng}`"));
            }
        }
        out.push_str(&rust_literal(lo, true));
        if hi != lo {
            out.push('-');
            out.push_str(&rust_literal(hi, true));
        }
    }
}

// ---------------------------------------------------------------------------
// Schema node accessors (null is treated as absent, as Go's decoder does)
// ---------------------------------------------------------------------------

type Obj = Map<String, Value>;

fn s_str<'a>(s: &'a Obj, k: &str) -> &'a str {
    s.get(k).and_then(Value::as_str).unwrap_or("")
}
fn s_flag(s: &Obj, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool).unwrap_or(false)
}
fn s_has(s: &Obj, k: &str) -> bool {
    s.get(k).is_some_and(|v| !v.is_null())
}
fn s_arr<'a>(s: &'a Obj, k: &str) -> &'a [Value] {
    s.get(k).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}
fn s_props(s: &Obj) -> Option<&Obj> {
    s.get("properties").and_then(Value::as_object)
}
fn s_prop<'a>(s: &'a Obj, k: &str) -> Option<&'a Value> {
    s_props(s).and_then(|p| p.get(k)).filter(|v| v.is_object())
}
/// `items` when it is a single schema.
fn s_items(s: &Obj) -> Option<&Value> {
    s.get("items").filter(|v| v.is_object())
}
fn s_default(s: &Obj) -> Option<&Value> {
    s.get("default").filter(|v| !v.is_null())
}
fn nullable(s: &Obj) -> bool {
    s_flag(s, "nullable")
}
fn preserve(s: &Obj) -> bool {
    s_flag(s, "x-kubernetes-preserve-unknown-fields")
}
fn embedded(s: &Obj) -> bool {
    s_flag(s, "x-kubernetes-embedded-resource")
}
fn int_or_string(s: &Obj) -> bool {
    s_flag(s, "x-kubernetes-int-or-string")
}

#[derive(Clone, Copy, Default)]
enum Ap<'a> {
    #[default]
    None,
    Bool(bool),
    Schema(&'a Value),
}

/// The keywords of one schema node the validator reads, gathered in one pass over
/// its (few) keys instead of a hashed lookup per keyword.
#[derive(Default)]
struct Kw<'a> {
    ty: &'a str,
    format: &'a str,
    ios: bool,
    nullable: bool,
    items: Option<&'a Value>,
    props: Option<&'a Obj>,
    ap: Ap<'a>,
    enum_: &'a [Value],
    required: &'a [Value],
    pattern: &'a str,
    max_len: Option<i64>,
    min_len: Option<i64>,
    max_items: Option<i64>,
    min_items: Option<i64>,
    max_props: Option<i64>,
    min_props: Option<i64>,
    unique: bool,
    minimum: Option<f64>,
    maximum: Option<f64>,
    multiple_of: Option<f64>,
    excl_min: bool,
    excl_max: bool,
    all_of: &'a [Value],
    any_of: &'a [Value],
    one_of: &'a [Value],
    not: Option<&'a Value>,
}

impl<'a> Kw<'a> {
    fn of(s: &'a Obj) -> Self {
        let arr = |v: &'a Value| v.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let mut k = Kw::default();
        for (key, v) in s {
            match key.as_str() {
                "type" => k.ty = v.as_str().unwrap_or(""),
                "format" => k.format = v.as_str().unwrap_or(""),
                "x-kubernetes-int-or-string" => k.ios = v.as_bool().unwrap_or(false),
                "nullable" => k.nullable = v.as_bool().unwrap_or(false),
                "items" => k.items = v.is_object().then_some(v),
                "properties" => k.props = v.as_object(),
                "additionalProperties" => {
                    k.ap = match v {
                        Value::Bool(b) => Ap::Bool(*b),
                        Value::Object(_) => Ap::Schema(v),
                        _ => Ap::None,
                    }
                }
                "enum" => k.enum_ = arr(v),
                "required" => k.required = arr(v),
                "pattern" => k.pattern = v.as_str().unwrap_or(""),
                "maxLength" => k.max_len = v.as_i64(),
                "minLength" => k.min_len = v.as_i64(),
                "maxItems" => k.max_items = v.as_i64(),
                "minItems" => k.min_items = v.as_i64(),
                "maxProperties" => k.max_props = v.as_i64(),
                "minProperties" => k.min_props = v.as_i64(),
                "uniqueItems" => k.unique = v.as_bool().unwrap_or(false),
                "minimum" => k.minimum = v.as_f64(),
                "maximum" => k.maximum = v.as_f64(),
                "multipleOf" => k.multiple_of = v.as_f64(),
                "exclusiveMinimum" => k.excl_min = v.as_bool().unwrap_or(false),
                "exclusiveMaximum" => k.excl_max = v.as_bool().unwrap_or(false),
                "allOf" => k.all_of = arr(v),
                "anyOf" => k.any_of = arr(v),
                "oneOf" => k.one_of = arr(v),
                "not" => k.not = v.is_object().then_some(v),
                _ => {}
            }
        }
        k
    }
}

fn s_ap(s: &Obj) -> Ap<'_> {
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => Ap::Bool(*b),
        Some(v @ Value::Object(_)) => Ap::Schema(v),
        _ => Ap::None,
    }
}

/// The schema that applies to field `k` of an object (a property or additionalProperties).
fn field_schema<'a>(s: Option<&'a Obj>, k: &str) -> Option<&'a Obj> {
    let s = s?;
    if let Some(p) = s_prop(s, k) {
        return p.as_object();
    }
    match s_ap(s) {
        Ap::Schema(a) => a.as_object(),
        _ => None,
    }
}

/// The schema's types (at most two), without allocating.
type Types<'a> = ([&'a str; 2], usize);

fn types_of<'a>(k: &Kw<'a>) -> Types<'a> {
    if k.ios {
        return (["integer", "string"], 2);
    }
    types_of_plain(k.ty)
}

fn types_of_plain(ty: &str) -> Types<'_> {
    match ty {
        "" => (["", ""], 0),
        t => ([t, ""], 1),
    }
}

const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    // since 1.34
    "k8sshortname",
    "k8slongname",
];

/// The `format` left after the apiserver strips unsupported ones
/// (`StripUnsupportedFormatsPostProcessorForVersion`): string formats for
/// untyped/string schemas (int-or-string counts as untyped), `int32`/`int64` for
/// integers, `float`/`double` for numbers. Returns the format and its normalized
/// registry name.
fn effective_format<'a>(k: &Kw<'a>) -> Option<(&'a str, &'static str)> {
    let f = k.format;
    if f.is_empty() {
        return None;
    }
    let schema_type = if k.ios { "" } else { k.ty };
    match schema_type {
        "" | "string" => normalized_format(f).map(|n| (f, n)),
        "integer" if f == "int32" || f == "int64" => Some((f, "")),
        "number" if f == "float" || f == "double" => Some((f, "")),
        _ => None,
    }
}

/// The registry name of a string format (dashes removed), if kube-openapi knows it.
fn normalized_format(f: &str) -> Option<&'static str> {
    SUPPORTED_FORMATS.iter().copied().find(|known| f.chars().filter(|c| *c != '-').eq(known.chars()))
}

/// The string formats the kube-openapi registry validates.
fn is_string_format(normalized: &str) -> bool {
    !normalized.is_empty() && SUPPORTED_FORMATS.contains(&normalized)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) => match num(n) {
            Num::I(_) => "integer",
            Num::F(_) => "number",
        },
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const META_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

// ---------------------------------------------------------------------------
// Formats (kube-openapi strfmt)
// ---------------------------------------------------------------------------

fn format_valid(normalized: &str, s: &str) -> bool {
    match normalized {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => parse_ip_sloppy(s) && s.contains('.'),
        "ipv6" => s.parse::<std::net::IpAddr>().is_ok() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => is_uuid(s, None),
        "uuid3" => is_uuid(s, Some('3')),
        "uuid4" => is_uuid(s, Some('4')),
        "uuid5" => is_uuid(s, Some('5')),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => is_ssn(s),
        "hexcolor" => {
            let h = s.strip_prefix('#').unwrap_or(s);
            (h.len() == 3 || h.len() == 6) && h.bytes().all(|b| b.is_ascii_hexdigit())
        }
        "rgbcolor" => is_rgb(s),
        "byte" => is_base64(s),
        "password" => true,
        "date" => parse_date(s).is_some(),
        "duration" => is_duration(s),
        "datetime" => is_date_time(s),
        "k8sshortname" => s.len() <= 63 && label_chars_ok(s, false),
        "k8slongname" => s.len() <= 253 && dns1123_subdomain_ok(s),
        _ => true,
    }
}

fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if s == "*" {
        return true;
    }
    // scheme
    let mut rest = s;
    let mut has_scheme = false;
    for (i, ch) in s.char_indices() {
        match ch {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i > 0 => {
                has_scheme = true;
                rest = &s[i + 1..];
                break;
            }
            ':' => return false,
            _ => break,
        }
    }
    if !has_scheme && !rest.starts_with('/') {
        return false;
    }
    if has_scheme && !rest.starts_with('/') {
        return true; // opaque
    }
    let mut path = rest;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
        if let Some(h) = host.strip_prefix('[') {
            let Some(close) = h.find(']') else { return false };
            let port = &h[close + 1..];
            if !(port.is_empty() || port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit())) {
                return false;
            }
        } else if let Some((_, port)) = host.rsplit_once(':') {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
        }
    }
    let path = path.split('?').next().unwrap_or("");
    valid_percent_escapes(path)
}

fn valid_percent_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn is_email(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        (None, false) => s,
        _ => return false,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else { return false };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_atom = |x: &str| !x.is_empty() && x.split('.').all(|p| !p.is_empty() && p.chars().all(atext));
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        !local[1..local.len() - 1].contains('"') || local[1..local.len() - 1].contains("\\\"")
    } else {
        dot_atom(local)
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') { domain.len() > 2 } else { dot_atom(domain) };
    local_ok && domain_ok
}

fn is_hostname(s: &str) -> bool {
    static RX: OnceLock<Regex> = OnceLock::new();
    let rx = RX.get_or_init(|| {
        Regex::new(r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$")
            .expect("static hostname regex")
    });
    rx.is_match(s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
}

/// `netutils.ParseIPSloppy`: IPv4 tolerating leading zeros, or IPv6.
fn parse_ip_sloppy(s: &str) -> bool {
    parse_ipv4_sloppy(s) || s.parse::<std::net::Ipv6Addr>().is_ok()
}

fn parse_ipv4_sloppy(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.trim_start_matches('0').len() <= 3 && {
                let t = p.trim_start_matches('0');
                t.is_empty() || t.parse::<u32>().is_ok_and(|n| n <= 255)
            }
        })
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else { return false };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 4 {
        return false;
    }
    let bits: u32 = bits.parse().unwrap_or(u32::MAX);
    if parse_ipv4_sloppy(ip) {
        bits <= 32
    } else if ip.parse::<std::net::Ipv6Addr>().is_ok() {
        bits <= 128
    } else {
        false
    }
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `aa:bb:…`, `aa-bb-…` or `aabb.ccdd.…`.
fn is_mac(s: &str) -> bool {
    let hex2 = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let ok_len = |octets: usize| matches!(octets, 6 | 8 | 20);
    if s.len() < 14 {
        return false;
    }
    let b = s.as_bytes();
    if b[2] == b':' || b[2] == b'-' {
        let sep = b[2] as char;
        let parts: Vec<&str> = s.split(sep).collect();
        ok_len(parts.len()) && parts.iter().all(|p| hex2(p, 2))
    } else if b[4] == b'.' {
        let parts: Vec<&str> = s.split('.').collect();
        ok_len(parts.len() * 2) && parts.iter().all(|p| hex2(p, 4))
    } else {
        false
    }
}

fn is_uuid(s: &str, version: Option<char>) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    // Hyphens are optional but only at the canonical positions.
    let b = s.as_bytes();
    let mut pos = 0;
    for (group, len) in [8usize, 4, 4, 4, 12].iter().enumerate() {
        if group > 0 && b.get(pos) == Some(&b'-') {
            pos += 1;
        }
        let Some(chunk) = s.get(pos..pos + len) else { return false };
        if !chunk.bytes().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
        pos += len;
    }
    if pos != s.len() || hex.len() != 32 {
        return false;
    }
    let h = hex.to_ascii_lowercase();
    match version {
        None => true,
        Some('3') => &h[12..13] == "3",
        Some(v) => h[12..13].starts_with(v) && matches!(&h[16..17], "8" | "9" | "a" | "b"),
    }
}

fn is_isbn10(s: &str) -> bool {
    let t: Vec<u8> = s.bytes().filter(|b| *b != b' ' && *b != b'-').collect();
    if t.len() != 10 || !t[..9].iter().all(u8::is_ascii_digit) || !(t[9].is_ascii_digit() || t[9] == b'X') {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in t[..9].iter().enumerate() {
        sum += (i as u32 + 1) * u32::from(d - b'0');
    }
    sum += 10 * if t[9] == b'X' { 10 } else { u32::from(t[9] - b'0') };
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let t: Vec<u8> = s.bytes().filter(|b| *b != b' ' && *b != b'-').collect();
    if t.len() != 13 || !t.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in t[..12].iter().enumerate() {
        sum += u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 3 };
    }
    (10 - sum % 10) % 10 == u32::from(t[12] - b'0')
}

fn is_credit_card(s: &str) -> bool {
    static RX: OnceLock<Regex> = OnceLock::new();
    let rx = RX.get_or_init(|| {
        Regex::new(r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$")
            .expect("static credit card regex")
    });
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !rx.is_match(&digits) {
        return false;
    }
    let mut sum = 0u32;
    let mut double = false;
    for d in digits.bytes().rev() {
        let mut v = u32::from(d - b'0');
        if double {
            v *= 2;
            if v >= 10 {
                v = v % 10 + 1;
            }
        }
        sum += v;
        double = !double;
    }
    sum.is_multiple_of(10)
}

fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 11 {
        return false;
    }
    let d = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    d(0..3) && (b[3] == b'-' || b[3] == b' ') && d(4..6) && (b[6] == b'-' || b[6] == b' ') && d(7..11)
}

fn is_rgb(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else { return false };
    let parts: Vec<&str> = inner.split(',').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            let t = p.trim();
            !t.is_empty()
                && t.len() <= 3
                && t.bytes().all(|b| b.is_ascii_digit())
                && !(t.len() > 1 && t.starts_with('0'))
                && t.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2 && b[..b.len() - pad].iter().all(|c| ok(*c))
}

/// `time.Parse("2006-01-02", s)`: days since the Unix epoch.
fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok()).flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// strfmt `IsDateTime`.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || parse_date(parts[0]).is_none() {
        return false;
    }
    let t = parts[1].as_bytes();
    // ^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$
    let dd = |i: usize| t.get(i).is_some_and(u8::is_ascii_digit) && t.get(i + 1).is_some_and(u8::is_ascii_digit);
    if !(dd(0) && t.get(2) == Some(&b':') && dd(3) && t.get(5) == Some(&b':') && dd(6)) {
        return false;
    }
    let mut i = 8;
    if i < t.len() && t[i] != b'z' && t[i] != b'+' && t[i] != b'-' {
        // `.` matches any character in the Go regexp, followed by digits
        let start = i + 1;
        let mut j = start;
        while j < t.len() && t[j].is_ascii_digit() {
            j += 1;
        }
        if j == start {
            return false;
        }
        i = j;
    }
    let zone_ok = match t.get(i) {
        Some(b'z') => i + 1 == t.len(),
        Some(b'+') | Some(b'-') => t.len() == i + 6 && dd(i + 1) && t[i + 3] == b':' && dd(i + 4),
        _ => false,
    };
    zone_ok && &parts[1][0..2] <= "23" && &parts[1][3..5] <= "59" && &parts[1][6..8] <= "59"
}

/// strfmt `ParseDuration`: Go `time.ParseDuration`, or the lenient `<n> <unit>` form.
fn is_duration(s: &str) -> bool {
    go_parse_duration(s) || lenient_duration(s)
}

fn go_parse_duration(s: &str) -> bool {
    let mut t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if t == "0" {
        return true;
    }
    if t.is_empty() {
        return false;
    }
    while !t.is_empty() {
        let int_len = t.bytes().take_while(u8::is_ascii_digit).count();
        let mut rest = &t[int_len..];
        let mut frac_len = 0;
        if let Some(r) = rest.strip_prefix('.') {
            frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            rest = &r[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if !matches!(unit, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
        t = &rest[unit_len..];
    }
    true
}

fn lenient_duration(s: &str) -> bool {
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_alphabetic() || chars[j] == 'µ') {
            j += 1;
        }
        if j > start {
            let unit: String = chars[start..j].iter().collect::<String>().to_lowercase();
            for variants in UNITS {
                let last = variants.len() - 1;
                for (k, v) in variants.iter().enumerate() {
                    if (k == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                        return true;
                    }
                }
            }
        }
        i = j.max(i + 1);
    }
    false
}

// ---------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    TooShort,
    Pattern,
    Enum,
    MultipleOf,
    Max,
    Min,
    Unique,
    MaxItems,
    MinItems,
    TooFewProperties,
    TooManyProperties,
    Unallowed,
    MultipleOfPositive,
    Depth,
    /// anyOf/oneOf/allOf/not and numeric range errors: plain errors without a field.
    Composite,
}

/// A kube-openapi error before it becomes a `field.Error`.
#[derive(Debug)]
struct Raw {
    /// `None` for the composite (anyOf/oneOf/allOf/not) errors, which have no field.
    name: Option<String>,
    code: Code,
    value: Option<Value>,
    valid: Option<i64>,
    values: Vec<Value>,
    msg: String,
}

impl Raw {
    fn new(name: &str, code: Code, value: Option<Value>, msg: String) -> Self {
        Raw { name: Some(name.to_string()), code, value, valid: None, values: Vec::new(), msg }
    }
    fn composite(msg: String) -> Self {
        Raw { name: None, code: Code::Composite, value: None, valid: None, values: Vec::new(), msg }
    }
    fn invalid_type(path: &str, ty: &str, value: &str) -> Self {
        let msg = format!("{path} in body must be of type {ty}: {}", go_quote(value));
        Raw::new(path, Code::InvalidType, Some(Value::from(value)), msg)
    }
}

/// Validate a custom resource against its version's `openAPIV3Schema`.
///
/// Errors carry kube's field paths and messages, e.g.
/// `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
/// Besides the schema, `x-kubernetes-embedded-resource` objects must have
/// `apiVersion`, `kind` and sane `metadata` (as kube's `objectmeta.Validate`).
pub fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    let mut raws = Vec::new();
    let _ = v_node(obj, schema, &mut String::new(), 0, &mut raws);
    let mut errs = raws_to_errors(raws, None);
    embedded_validate(obj, schema.as_object(), "", 0, &mut errs);
    dedup(errs)
}

fn dedup(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = HashSet::new();
    errs.into_iter().filter(|e| seen.insert(e.to_string())).collect()
}

/// kube's `kubeOpenAPIResultToFieldErrors`; `base` is the field path prefix (nil for
/// custom resources, `…default` when validating a schema default).
fn raws_to_errors(raws: Vec<Raw>, base: Option<&str>) -> Vec<FieldError> {
    let mut seen = HashSet::new();
    let nil = || base.map(str::to_string).unwrap_or_else(|| "<nil>".to_string());
    let mut out = Vec::new();
    for r in raws {
        if !seen.insert(r.msg.clone()) {
            continue;
        }
        let Some(name) = &r.name else {
            out.push(FieldError::invalid_str(nil(), "", &r.msg));
            continue;
        };
        let path = if !name.is_empty() && name != "." {
            child(base.unwrap_or(""), name.strip_prefix('.').unwrap_or(name))
        } else {
            nil()
        };
        let value = r.value.clone().unwrap_or_else(|| Value::from(""));
        out.push(match r.code {
            Code::Required => FieldError::required(path, ""),
            Code::Enum => {
                let values: Vec<String> =
                    r.values.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| go_json(v))).collect();
                FieldError::not_supported(path, r.value.as_ref().unwrap_or(&Value::Null), &values)
            }
            Code::TooLong => FieldError::too_long(path, r.valid.unwrap_or(-1)),
            Code::MaxItems | Code::TooManyProperties => {
                FieldError::too_many(path, r.value.as_ref().and_then(Value::as_i64), r.valid.unwrap_or(-1))
            }
            Code::InvalidType => FieldError::type_invalid(path, &value, &r.msg),
            Code::Depth => FieldError::forbidden(path, DEPTH_DETAIL),
            _ => FieldError::invalid(path, &value, &r.msg),
        });
    }
    out
}

/// Append `.k` (or `k` at the root) to a path buffer.
fn push_key(path: &mut String, k: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(k);
}

/// Append `[i]` to a path buffer.
fn push_index(path: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(path, "[{i}]");
}

/// kube-openapi `SchemaValidator.Validate`, node by node, in its validator order:
/// type, allOf/anyOf/oneOf/not, string, format, number, array, enum, object.
/// Returns kube-openapi's `MatchCount` (how many validators ran), which decides
/// whose errors an `anyOf`/`oneOf` failure reports.
fn v_node(d: &Value, s: &Value, path: &mut String, depth: usize, out: &mut Vec<Raw>) -> usize {
    v_node_mode(d, s, path, depth, Mode::CustomResource, out)
}

/// How the apiserver turned the CRD schema into a kube-openapi schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `ConvertJSONSchemaPropsWithPostProcess`: int-or-string becomes
    /// `type: [integer, string]`, unsupported formats are stripped.
    CustomResource,
    /// `Structural.ToKubeOpenAPI` (used for schema defaults): no implicit type for
    /// int-or-string, formats kept as written.
    Defaults,
}

/// `path` is kube-openapi's path of `d` (a buffer extended and truncated while descending).
fn v_node_mode(d: &Value, s: &Value, path: &mut String, depth: usize, mode: Mode, out: &mut Vec<Raw>) -> usize {
    if depth > MAX_DEPTH {
        out.push(Raw::new(path, Code::Depth, None, format!("{path}: {DEPTH_DETAIL}")));
        return 0;
    }
    let Some(s) = s.as_object() else { return 0 };
    let k = Kw::of(s);
    let (type_list, format) = match mode {
        Mode::CustomResource => (types_of(&k), effective_format(&k)),
        Mode::Defaults => {
            let f = k.format;
            (types_of_plain(k.ty), (!f.is_empty()).then(|| (f, normalized_format(f).unwrap_or(""))))
        }
    };
    let types = &type_list.0[..type_list.1];
    if d.is_null() {
        let mut mc = 1;
        if !types.is_empty() && !types.contains(&"null") && !k.nullable {
            out.push(Raw::invalid_type(path, &types.join(","), "null"));
            mc = 0;
        }
        enum_check(d, &k, path, out);
        return mc;
    }
    let mut mc = 1;

    // type
    if !types.is_empty() || format.is_some() {
        let before = out.len();
        type_check(d, types, format.as_ref().map(|f| f.0), path, out);
        mc += if out.len() == before { 2 } else { 1 };
    }

    // allOf / anyOf / oneOf / not
    mc += 1 + composites(d, &k, path, depth, mode, out);

    match d {
        Value::String(st) => {
            string_checks(st, &k, path, out);
            mc += 1;
            if let Some((f, normalized)) = format.as_ref().filter(|f| is_string_format(f.1)) {
                mc += 1;
                if !format_valid(normalized, st) {
                    let msg = format!("{path} in body must be of type {f}: {}", go_quote(st));
                    out.push(Raw::new(path, Code::InvalidType, Some(d.clone()), msg));
                }
            }
        }
        Value::Number(n) => {
            number_checks(d, num(n), &k, path, out);
            mc += 2;
        }
        Value::Array(a) => {
            mc += 2;
            if let Some(items) = k.items {
                for (i, e) in a.iter().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    mc += v_node_mode(e, items, path, depth + 1, mode, out);
                    path.truncate(len);
                }
            }
            let size = a.len() as i64;
            if let Some(min) = k.min_items {
                if size < min {
                    let msg = format!("{path} in body should have at least {min} items");
                    let mut r = Raw::new(path, Code::MinItems, Some(Value::from(size)), msg);
                    r.valid = Some(min);
                    out.push(r);
                }
            }
            if let Some(max) = k.max_items {
                if size > max {
                    let msg = format!("{path} in body should have at most {max} items");
                    let mut r = Raw::new(path, Code::MaxItems, Some(Value::from(size)), msg);
                    r.valid = Some(max);
                    out.push(r);
                }
            }
            if k.unique && has_duplicates(a) {
                out.push(Raw::new(path, Code::Unique, None, format!("{path} in body shouldn't contain duplicates")));
            }
        }
        _ => {}
    }

    enum_check(d, &k, path, out);
    mc += 1;

    if let Value::Object(o) = d {
        mc += 1 + object_checks(o, &k, path, depth, mode, out);
    }
    mc
}

fn type_check(d: &Value, types: &[&str], format: Option<&str>, path: &str, out: &mut Vec<Raw>) {
    let sch_type = json_type(d);
    let data_format = match d {
        Value::Number(n) => match num(n) {
            Num::I(_) => "int64",
            Num::F(_) => "float64",
        },
        _ => "",
    };
    let is_float_int = match d {
        Value::Number(n) => matches!(num(n), Num::F(f) if is_json_integer(f)) && types.contains(&"integer"),
        _ => false,
    };
    let is_int_float = sch_type == "integer" && types.contains(&"number");
    let str_or_slice = d.is_string() || d.is_array();
    if let Some(f) = format {
        if !(str_or_slice || types.contains(&sch_type) || data_format == f || is_float_int || is_int_float) {
            out.push(Raw::invalid_type(path, f, data_format));
            return;
        }
        if !(types.contains(&"number") || types.contains(&"integer")) && str_or_slice {
            return;
        }
    }
    if !(types.contains(&sch_type) || is_float_int || is_int_float) {
        out.push(Raw::invalid_type(path, &types.join(","), sch_type));
    }
}

/// `schemaPropsValidator`; returns the MatchCount of the sub-results it keeps.
fn composites(d: &Value, k: &Kw, path: &mut String, depth: usize, mode: Mode, out: &mut Vec<Raw>) -> usize {
    let mut mc = 0;
    let any_of = k.any_of;
    if !any_of.is_empty() {
        let mut best: Option<(usize, Vec<Raw>)> = None;
        let mut success: Option<usize> = None;
        for sub in any_of {
            let mut r = Vec::new();
            let m = v_node_mode(d, sub, path, depth + 1, mode, &mut r);
            if r.is_empty() {
                success = Some(m);
                best = None;
                break;
            }
            if best.as_ref().is_none_or(|(bm, _)| m > *bm) {
                best = Some((m, r));
            }
        }
        if success.is_none() {
            out.push(Raw::composite(format!("{} must validate at least one schema (anyOf)", go_quote(path))));
        }
        if let Some((m, b)) = best {
            mc += m;
            out.extend(b);
        } else if let Some(m) = success {
            mc += m;
        }
    }

    let one_of = k.one_of;
    if !one_of.is_empty() {
        let mut best: Option<(usize, Vec<Raw>)> = None;
        let mut first_success: Option<usize> = None;
        let mut validated = 0;
        for sub in one_of {
            let mut r = Vec::new();
            let m = v_node_mode(d, sub, path, depth + 1, mode, &mut r);
            if r.is_empty() {
                validated += 1;
                best = None;
                first_success.get_or_insert(m);
                continue;
            }
            if validated == 0 && best.as_ref().is_none_or(|(bm, _)| m > *bm) {
                best = Some((m, r));
            }
        }
        if validated != 1 {
            let more = if validated == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {validated} valid alternatives")
            };
            out.push(Raw::composite(format!(
                "{} must validate one and only one schema (oneOf). {more}",
                go_quote(path)
            )));
            if let Some((m, b)) = best {
                mc += m;
                out.extend(b);
            }
        } else if let Some(m) = first_success {
            mc += m;
        }
    }

    let all_of = k.all_of;
    if !all_of.is_empty() {
        let mut validated = 0;
        for sub in all_of {
            let mut r = Vec::new();
            mc += v_node_mode(d, sub, path, depth + 1, mode, &mut r);
            if r.is_empty() {
                validated += 1;
            }
            out.extend(r);
        }
        if validated != all_of.len() {
            let more = if validated == 0 { ". None validated" } else { "" };
            out.push(Raw::composite(format!("{} must validate all the schemas (allOf){more}", go_quote(path))));
        }
    }

    if let Some(not) = k.not {
        let mut r = Vec::new();
        v_node_mode(d, not, path, depth + 1, mode, &mut r);
        if r.is_empty() {
            out.push(Raw::composite(format!("{} must not validate the schema (not)", go_quote(path))));
        }
    }
    mc + 1
}

fn string_checks(st: &str, k: &Kw, path: &str, out: &mut Vec<Raw>) {
    let len = st.chars().count() as i64;
    if let Some(max) = k.max_len {
        if len > max {
            let msg = format!("{path} in body should be at most {max} chars long");
            let mut r = Raw::new(path, Code::TooLong, Some(Value::from(st)), msg);
            r.valid = Some(max);
            out.push(r);
            return;
        }
    }
    if let Some(min) = k.min_len {
        if len < min {
            let msg = format!("{path} in body should be at least {min} chars long");
            out.push(Raw::new(path, Code::TooShort, Some(Value::from(st)), msg));
            return;
        }
    }
    let pattern = k.pattern;
    if !pattern.is_empty() {
        match compile_pattern(pattern) {
            Err(e) => {
                let msg = format!("{path} in body should match '{pattern}, but pattern is invalid: {e}'");
                out.push(Raw::new(path, Code::Pattern, Some(Value::from(st)), msg));
            }
            Ok(re) if !re.is_match(st) => {
                let msg = format!("{path} in body should match '{pattern}'");
                out.push(Raw::new(path, Code::Pattern, Some(Value::from(st)), msg));
            }
            Ok(_) => {}
        }
    }
}

/// Go's float64 → int64 conversion on amd64 (out of range gives the minimum).
fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// `IsValueValidAgainstRange`: can `value` be represented in the schema's numeric
/// type and format?
fn range_error(value: Num, type_name: &str, format: &str, prefix: &str, path: &str) -> Option<String> {
    let rep = match value {
        Num::I(i) => i.to_string(),
        Num::F(f) => format!("{f}"),
    };
    let bad = match (type_name, format) {
        ("integer", "int32") => rep.parse::<i32>().is_err(),
        ("integer", _) => rep.parse::<i64>().is_err(),
        (_, "float") => rep.parse::<f64>().map(|f| (f as f32).is_infinite()).unwrap_or(true),
        _ => false,
    };
    bad.then(|| {
        if format.is_empty() {
            format!("{prefix} value must be of type {type_name} (default format) in {path}")
        } else {
            format!("{prefix} value must be of type {type_name} with format {format} in {path}")
        }
    })
}

fn number_checks(d: &Value, n: Num, k: &Kw, path: &str, out: &mut Vec<Raw>) {
    // (int-or-string has an ambiguous or no type in both modes: no range checks)
    let data = match n {
        Num::I(i) => i as f64,
        Num::F(f) => f,
    };
    // The numeric type and format are only used for an unambiguous single type.
    let (type_name, format) = if k.ios {
        ("", "")
    } else {
        match (k.ty, k.format) {
            ("integer", f @ ("int32" | "int64")) => ("integer", f),
            ("integer", _) => ("integer", ""),
            ("number", f @ ("float" | "double")) => ("number", f),
            ("number", _) => ("number", ""),
            _ => ("", ""),
        }
    };
    if let Some(e) = range_error(n, type_name, format, "Checked", path) {
        out.push(Raw::composite(e));
    }
    if let Some(factor) = k.multiple_of {
        let range = range_error(Num::F(factor), type_name, format, "MultipleOf", path);
        let native_int = range.is_none() && matches!(n, Num::I(_));
        if let Some(e) = range {
            out.push(Raw::composite(e));
        }
        if native_int {
            let i = match n {
                Num::I(i) => i,
                Num::F(_) => 0,
            };
            let f = go_f64_to_i64(factor);
            if f <= 0 {
                let msg = format!("factor MultipleOf declared for {path} must be positive: {f}");
                out.push(Raw::new(path, Code::MultipleOfPositive, Some(Value::from(f)), msg));
            } else if i.wrapping_div(f).wrapping_mul(f) != i {
                let msg = format!("{path} in body should be a multiple of {f}");
                out.push(Raw::new(path, Code::MultipleOf, Some(d.clone()), msg));
            }
        } else if factor <= 0.0 {
            let msg = format!("factor MultipleOf declared for {path} must be positive: {}", go_float(factor));
            out.push(Raw::new(path, Code::MultipleOfPositive, Some(json!(factor)), msg));
        } else {
            let mult = if factor < 1.0 { 1.0 / factor * data } else { data / factor };
            if !is_json_integer(mult) {
                let msg = format!("{path} in body should be a multiple of {}", go_float(factor));
                out.push(Raw::new(path, Code::MultipleOf, Some(json!(data)), msg));
            }
        }
    }
    for (limit, excl, is_min) in [(k.minimum, k.excl_min, true), (k.maximum, k.excl_max, false)] {
        let Some(limit) = limit else { continue };
        let prefix = if is_min { "Minimum boundary" } else { "Maximum boundary" };
        let range = range_error(Num::F(limit), type_name, format, prefix, path);
        let native_int = range.is_none() && matches!(n, Num::I(_));
        if let Some(e) = range {
            out.push(Raw::composite(e));
        }
        let (fail, shown, value) = match n {
            Num::I(i) if native_int => {
                let m = go_f64_to_i64(limit);
                let fail =
                    if is_min { (!excl && i < m) || (excl && i <= m) } else { (!excl && i > m) || (excl && i >= m) };
                (fail, m.to_string(), d.clone())
            }
            _ => {
                let fail = if is_min {
                    (!excl && data < limit) || (excl && data <= limit)
                } else {
                    (!excl && data > limit) || (excl && data >= limit)
                };
                (fail, go_float(limit), json!(data))
            }
        };
        if fail {
            let op = match (is_min, excl) {
                (true, true) => "greater than",
                (true, false) => "greater than or equal to",
                (false, true) => "less than",
                (false, false) => "less than or equal to",
            };
            let code = if is_min { Code::Min } else { Code::Max };
            out.push(Raw::new(path, code, Some(value), format!("{path} in body should be {op} {shown}")));
        }
    }
}

fn has_duplicates(a: &[Value]) -> bool {
    // Bounded quadratic check (arrays are bounded by the request size anyway);
    // hash the canonical JSON first to keep the common case linear.
    let mut seen = HashSet::new();
    a.iter().any(|v| !seen.insert(go_json(v)))
}

/// kube-openapi's enum match: convert the value to the enum member's Go type
/// (int64 ↔ float64 truncating, int64 → string as a rune) and compare deeply.
fn enum_eq(d: &Value, e: &Value) -> bool {
    match (d, e) {
        (Value::Number(a), Value::Number(b)) => match (num(a), num(b)) {
            (Num::I(i), Num::F(f)) => (i as f64) == f,
            (Num::F(f), Num::I(i)) => go_f64_to_i64(f) == i,
            (Num::I(x), Num::I(y)) => x == y,
            (Num::F(x), Num::F(y)) => x == y,
        },
        (Value::Number(a), Value::String(s)) => match num(a) {
            Num::I(i) => {
                let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{fffd}');
                s.chars().eq(std::iter::once(c))
            }
            Num::F(_) => false,
        },
        _ => d == e,
    }
}

fn enum_check(d: &Value, k: &Kw, path: &str, out: &mut Vec<Raw>) {
    let values = k.enum_;
    if values.is_empty() || (!d.is_null() && values.iter().any(|e| enum_eq(d, e))) {
        return;
    }
    let listed: Vec<String> = values.iter().map(render_enum_member).collect();
    let msg = format!("{path} in body should be one of [{}]", listed.join(" "));
    let mut r = Raw::new(path, Code::Enum, (!d.is_null()).then(|| clone_bounded(d, 0)), msg);
    r.values = values.to_vec();
    out.push(r);
}

/// A copy of a bad value for an error message, cut off (as `null`) where
/// [`go_json`] stops rendering, so hostile nesting cannot recurse unboundedly.
fn clone_bounded(v: &Value, depth: usize) -> Value {
    if depth > 4 * MAX_DEPTH {
        return Value::Null;
    }
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|e| clone_bounded(e, depth + 1)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, e)| (k.clone(), clone_bounded(e, depth + 1))).collect()),
        other => other.clone(),
    }
}

fn render_enum_member(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => render_value(other),
    }
}

fn object_checks(o: &Obj, k: &Kw, path: &mut String, depth: usize, mode: Mode, out: &mut Vec<Raw>) -> usize {
    let mut mc = 0;
    let n = o.len() as i64;
    if let Some(min) = k.min_props {
        if n < min {
            let msg = format!("{path} in body should have at least {min} properties");
            let mut r = Raw::new(path, Code::TooFewProperties, Some(Value::from(n)), msg);
            r.valid = Some(min);
            out.push(r);
        }
    }
    if let Some(max) = k.max_props {
        if n > max {
            let msg = format!("{path} in body should have at most {max} properties");
            let mut r = Raw::new(path, Code::TooManyProperties, Some(Value::from(n)), msg);
            r.valid = Some(max);
            out.push(r);
        }
    }
    let props = k.props;
    let is_prop = |key: &str| props.is_some_and(|p| p.contains_key(key));
    match k.ap {
        Ap::Bool(false) => {
            for k in o.keys() {
                if !is_prop(k) {
                    let msg = format!("{path}.{k} in body is a forbidden property");
                    out.push(Raw::new(path, Code::Unallowed, Some(Value::from(k.as_str())), msg));
                }
            }
        }
        Ap::Schema(ap) => {
            for (k, v) in o {
                if !is_prop(k) {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    mc += v_node_mode(v, ap, path, depth + 1, mode, out);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
    if let Some(props) = props {
        for (k, ps) in props {
            if let Some(v) = o.get(k) {
                let len = path.len();
                push_key(path, k);
                mc += v_node_mode(v, ps, path, depth + 1, mode, out);
                path.truncate(len);
            }
        }
    }
    for r in k.required {
        if let Some(key) = r.as_str() {
            if !o.contains_key(key) {
                let name = format!("{path}.{key}");
                let msg = format!("{name} in body is required");
                out.push(Raw::new(&name, Code::Required, None, msg));
            }
        }
    }
    mc
}

/// kube's `objectmeta.Validate` (not at the resource root): every object marked
/// `x-kubernetes-embedded-resource` needs `apiVersion`, `kind` and valid `metadata`.
fn embedded_validate(d: &Value, s: Option<&Obj>, path: &str, depth: usize, out: &mut Vec<FieldError>) {
    let Some(s) = s else { return };
    if depth > MAX_DEPTH {
        return;
    }
    match d {
        Value::Object(o) => {
            if embedded(s) {
                validate_embedded_resource(o, path, out);
            }
            for (k, v) in o {
                if let Some(p) = s_prop(s, k) {
                    embedded_validate(v, p.as_object(), &child(path, k), depth + 1, out);
                } else if let Ap::Schema(ap) = s_ap(s) {
                    embedded_validate(v, ap.as_object(), &key(path, k), depth + 1, out);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s_items(s) {
                for (i, e) in a.iter().enumerate() {
                    embedded_validate(e, items.as_object(), &index(path, i), depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

fn validate_embedded_resource(o: &Obj, pth: &str, out: &mut Vec<FieldError>) {
    if !o.contains_key("apiVersion") {
        out.push(FieldError::required(child(pth, "apiVersion"), ""));
    }
    if !o.contains_key("kind") {
        out.push(FieldError::required(child(pth, "kind"), ""));
    }
    for (k, v) in o {
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => out.push(FieldError::invalid(child(pth, "apiVersion"), v, "must be a string")),
                Some("") => out.push(FieldError::invalid_str(child(pth, "apiVersion"), "", "must not be empty")),
                Some(av) if av != "/" && av.matches('/').count() > 1 => out.push(FieldError::invalid_str(
                    child(pth, "apiVersion"),
                    av,
                    &format!("unexpected GroupVersion string: {av}"),
                )),
                Some(_) => {}
            },
            "kind" => match v.as_str() {
                None => out.push(FieldError::invalid(child(pth, "kind"), v, "must be a string")),
                Some("") => out.push(FieldError::invalid_str(child(pth, "kind"), "", "must not be empty")),
                Some(kind) => {
                    let errs = dns1035_label_errors(&kind.to_lowercase());
                    if !errs.is_empty() {
                        out.push(FieldError::invalid_str(
                            child(pth, "kind"),
                            kind,
                            &format!("may have mixed case, but should otherwise match: {}", errs.join(",")),
                        ));
                    }
                }
            },
            "metadata" => validate_embedded_meta(v, &child(pth, "metadata"), out),
            _ => {}
        }
    }
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_embedded_meta(v: &Value, mpath: &str, out: &mut Vec<FieldError>) {
    let m = match v {
        Value::Null => return,
        Value::Object(m) => m,
        other => {
            let msg = format!("json: cannot unmarshal {} into Go value of type v1.ObjectMeta", go_json_kind(other));
            out.push(FieldError::invalid(mpath, v, &msg));
            return;
        }
    };
    for f in ["name", "generateName", "namespace"] {
        if let Some(x) = m.get(f).filter(|x| !x.is_null() && !x.is_string()) {
            let msg = format!(
                "json: cannot unmarshal {} into Go struct field ObjectMeta.{f} of type string",
                go_json_kind(x)
            );
            out.push(FieldError::invalid(mpath, v, &msg));
            return;
        }
    }
    let name = m.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("fakename");
    let gen = m.get("generateName").and_then(Value::as_str).unwrap_or("");
    let ns = m.get("namespace").and_then(Value::as_str).unwrap_or("");
    if !gen.is_empty() {
        for msg in path_segment_errors(gen, true) {
            out.push(FieldError::invalid_str(child(mpath, "generateName"), gen, &msg));
        }
    }
    for msg in path_segment_errors(name, false) {
        out.push(FieldError::invalid_str(child(mpath, "name"), name, &msg));
    }
    if !ns.is_empty() {
        for msg in dns1123_label_errors(ns) {
            out.push(FieldError::invalid_str(child(mpath, "namespace"), ns, &msg));
        }
    }
}

/// `content.IsPathSegmentName` / `IsPathSegmentPrefix`.
pub fn path_segment_errors(name: &str, prefix: bool) -> Vec<String> {
    if !prefix && (name == "." || name == "..") {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"].iter().filter(|c| name.contains(**c)).map(|c| format!("may not contain '{c}'")).collect()
}

// ---------------------------------------------------------------------------
// default
// ---------------------------------------------------------------------------

/// Apply schema `default`s to missing fields (and to `null`s of non-nullable
/// fields), recursively through properties, `additionalProperties` and `items`,
/// as the apiserver does on decode and when reading from storage.
pub fn default(obj: &mut Value, schema: &Value) {
    default_node(obj, schema.as_object(), 0);
}

fn default_node(x: &mut Value, s: Option<&Obj>, depth: usize) {
    let Some(s) = s else { return };
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(o) => {
            if let Some(props) = s_props(s) {
                for (k, ps) in props {
                    let Some(ps) = ps.as_object() else { continue };
                    let Some(def) = s_default(ps) else { continue };
                    let missing = match o.get(k) {
                        None => true,
                        Some(Value::Null) => !nullable(ps),
                        Some(_) => false,
                    };
                    if missing {
                        o.insert(k.clone(), def.clone());
                    }
                }
            }
            let ap = match s_ap(s) {
                Ap::Schema(a) => a.as_object(),
                _ => None,
            };
            for (k, v) in o.iter_mut() {
                if let Some(ps) = s_prop(s, k) {
                    default_node(v, ps.as_object(), depth + 1);
                } else if let Some(ap) = ap {
                    if v.is_null() && !nullable(ap) {
                        *v = s_default(ap).cloned().unwrap_or(Value::Null);
                    }
                    default_node(v, Some(ap), depth + 1);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = s_items(s).and_then(Value::as_object) else { return };
            for e in a.iter_mut() {
                if e.is_null() && !nullable(items) {
                    *e = s_default(items).cloned().unwrap_or(Value::Null);
                }
                default_node(e, Some(items), depth + 1);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// prune
// ---------------------------------------------------------------------------

const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Drop every field the schema does not specify, unless under
/// `x-kubernetes-preserve-unknown-fields: true`, as the apiserver's decoder does.
///
/// `apiVersion`, `kind` and `metadata` are kept at the root and in embedded
/// resources (whose unknown `metadata` fields are dropped, as ObjectMeta decoding
/// does); `null`s of non-nullable fields without a default are removed.
/// Returns the dropped paths, sorted (`spec.foo`, `spec.items[0].bar`,
/// `metadata.foo`), for `fieldValidation=Warn|Strict`.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    normalize_numbers(obj, 0);
    prune_node(obj, schema.as_object(), true, &mut String::new(), 0, &mut unknown);
    prune_nulls(obj, schema.as_object(), 0);
    coerce_meta(obj, schema.as_object(), true, &mut String::new(), 0, &mut unknown);
    unknown.sort();
    unknown
}

/// Drop a removed value without recursion: serde_json drops recursively, and a
/// pruned subtree can be arbitrarily deep.
fn drop_value(v: Value) {
    let mut stack = vec![v];
    while let Some(mut v) = stack.pop() {
        match &mut v {
            Value::Array(a) => stack.append(a),
            Value::Object(o) => stack.extend(std::mem::take(o).into_iter().map(|(_, x)| x)),
            _ => {}
        }
    }
}

/// Remove `keys` from `o`, dropping their values without recursion.
fn remove_keys(o: &mut Obj, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    for k in &keys {
        if let Some(v) = o.get_mut(k) {
            drop_value(std::mem::take(v));
        }
    }
    let keys: HashSet<String> = keys.into_iter().collect();
    o.retain(|k, _| !keys.contains(k));
}

/// The apiserver decodes integers beyond int64 as float64.
fn normalize_numbers(v: &mut Value, depth: usize) {
    if depth > 4 * MAX_DEPTH {
        return;
    }
    match v {
        Value::Number(n) if n.as_i64().is_none() && n.is_u64() => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|e| normalize_numbers(e, depth + 1)),
        Value::Object(o) => o.values_mut().for_each(|e| normalize_numbers(e, depth + 1)),
        _ => {}
    }
}

/// kube's `pruning.prune`; `root_embedded` treats `s` as an embedded resource (the
/// resource root is one). `path` is the buffer of the current path (kube's
/// unknown-field path format).
fn prune_node(
    x: &mut Value,
    s: Option<&Obj>,
    root_embedded: bool,
    path: &mut String,
    depth: usize,
    unknown: &mut Vec<String>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(s) = s {
        if preserve(s) {
            skip_prune(x, s, root_embedded, path, depth, unknown);
            return;
        }
    }
    match x {
        Value::Object(o) => {
            let Some(s) = s else {
                for (k, v) in std::mem::take(o) {
                    let len = path.len();
                    push_key(path, &k);
                    unknown.push(path.clone());
                    path.truncate(len);
                    drop_value(v);
                }
                return;
            };
            let is_embedded = root_embedded || embedded(s);
            let mut remove = Vec::new();
            for (k, v) in o.iter_mut() {
                if is_embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let len = path.len();
                push_key(path, k);
                if let Some(ps) = s_prop(s, k) {
                    prune_node(v, ps.as_object(), false, path, depth + 1, unknown);
                } else {
                    match s_ap(s) {
                        Ap::Schema(ap) => prune_node(v, ap.as_object(), false, path, depth + 1, unknown),
                        Ap::Bool(_) => prune_node(v, None, false, path, depth + 1, unknown),
                        Ap::None => {
                            if !META_FIELDS.contains(&k.as_str()) || len > 0 {
                                unknown.push(path.clone());
                            }
                            remove.push(k.clone());
                        }
                    }
                }
                path.truncate(len);
            }
            remove_keys(o, remove);
        }
        Value::Array(a) => {
            let items = s.and_then(s_items).and_then(Value::as_object);
            for (i, e) in a.iter_mut().enumerate() {
                let len = path.len();
                push_index(path, i);
                prune_node(e, items, false, path, depth + 1, unknown);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn skip_prune(x: &mut Value, s: &Obj, root_embedded: bool, path: &mut String, depth: usize, unknown: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(o) => {
            let is_embedded = root_embedded || embedded(s);
            for (k, v) in o.iter_mut() {
                if is_embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let len = path.len();
                push_key(path, k);
                if let Some(ps) = s_prop(s, k) {
                    prune_node(v, ps.as_object(), false, path, depth + 1, unknown);
                } else {
                    match s_ap(s) {
                        Ap::Schema(ap) => prune_node(v, ap.as_object(), false, path, depth + 1, unknown),
                        Ap::Bool(_) => prune_node(v, None, false, path, depth + 1, unknown),
                        Ap::None => {}
                    }
                }
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            if let Some(items) = s_items(s).and_then(Value::as_object) {
                for (i, e) in a.iter_mut().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    skip_prune(e, items, false, path, depth + 1, unknown);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// `PruneNonNullableNullsWithoutDefaults`.
fn prune_nulls(x: &mut Value, s: Option<&Obj>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(o) => {
            let mut remove = Vec::new();
            for (k, v) in o.iter_mut() {
                let fs = field_schema(s, k);
                if v.is_null() && fs.is_some_and(|fs| !nullable(fs) && s_default(fs).is_none()) {
                    remove.push(k.clone());
                } else {
                    prune_nulls(v, fs, depth + 1);
                }
            }
            remove_keys(o, remove);
        }
        Value::Array(a) => {
            let items = s.and_then(s_items).and_then(Value::as_object);
            for e in a.iter_mut() {
                prune_nulls(e, items, depth + 1);
            }
        }
        _ => {}
    }
}

/// The part of kube's `objectmeta.Coerce` that decoding into ObjectMeta implies:
/// unknown metadata fields are dropped (and reported), a null creationTimestamp removed.
fn coerce_meta(
    x: &mut Value,
    s: Option<&Obj>,
    root_embedded: bool,
    path: &mut String,
    depth: usize,
    unknown: &mut Vec<String>,
) {
    let Some(s) = s else { return };
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(o) => {
            if root_embedded || embedded(s) {
                if let Some(Value::Object(meta)) = o.get_mut("metadata") {
                    let mut remove: Vec<String> =
                        meta.keys().filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str())).cloned().collect();
                    for k in &remove {
                        let len = path.len();
                        push_key(path, "metadata");
                        push_key(path, k);
                        unknown.push(path.clone());
                        path.truncate(len);
                    }
                    if meta.get("creationTimestamp").is_some_and(Value::is_null) {
                        remove.push("creationTimestamp".into());
                    }
                    remove_keys(meta, remove);
                }
            }
            for (k, v) in o.iter_mut() {
                let child_schema = match s_prop(s, k) {
                    Some(ps) => ps.as_object(),
                    None => match s_ap(s) {
                        Ap::Schema(ap) => ap.as_object(),
                        _ => continue,
                    },
                };
                let len = path.len();
                push_key(path, k);
                coerce_meta(v, child_schema, false, path, depth + 1, unknown);
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            if let Some(items) = s_items(s).and_then(Value::as_object) {
                for (i, e) in a.iter_mut().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    coerce_meta(e, Some(items), false, path, depth + 1, unknown);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Go rendering of internal apiextensions types (kube prints some bad values so)
// ---------------------------------------------------------------------------

fn go_struct(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn go_opt(v: Option<&Value>, f: impl Fn(&Value) -> String) -> String {
    match v {
        None | Some(Value::Null) => "null".into(),
        Some(x) => f(x),
    }
}

fn go_str_field(v: &Value, k: &str) -> String {
    go_json(&Value::from(v.get(k).and_then(Value::as_str).unwrap_or("")))
}

/// `json.Marshal` of the internal `apiextensions.JSONSchemaProps` converted from a
/// v1 schema (Go field names and order).
pub(crate) fn go_internal_schema(v: Option<&Value>) -> String {
    go_internal_schema_depth(v, 0)
}

fn go_internal_schema_depth(v: Option<&Value>, depth: usize) -> String {
    let Some(s) = v.filter(|x| x.is_object()) else { return "null".into() };
    if depth > MAX_DEPTH {
        return "null".into();
    }
    let sub = |x: &Value| go_internal_schema_depth(Some(x), depth + 1);
    let get = |k: &str| s.get(k);
    let json_or_null = |k: &str| go_opt(get(k), go_json);
    let bool_of = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false).to_string();
    let list = |k: &str| {
        go_opt(get(k), |x| match x.as_array() {
            Some(a) => format!("[{}]", a.iter().map(sub).collect::<Vec<_>>().join(",")),
            None => "null".into(),
        })
    };
    let map = |k: &str| {
        go_opt(get(k), |x| match x.as_object() {
            Some(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                let body: Vec<String> = keys
                    .iter()
                    .map(|pk| format!("{}:{}", go_json(&Value::from(pk.as_str())), sub(&o[pk.as_str()])))
                    .collect();
                format!("{{{}}}", body.join(","))
            }
            None => "null".into(),
        })
    };
    let or_bool = |k: &str| {
        go_opt(get(k), |x| match x {
            Value::Bool(b) => go_struct(&[("Allows", b.to_string()), ("Schema", "null".into())]),
            other => go_struct(&[("Allows", "true".into()), ("Schema", sub(other))]),
        })
    };
    let items = go_opt(get("items"), |x| match x {
        Value::Array(a) => go_struct(&[
            ("Schema", "null".into()),
            ("JSONSchemas", format!("[{}]", a.iter().map(sub).collect::<Vec<_>>().join(","))),
        ]),
        other => go_struct(&[("Schema", sub(other)), ("JSONSchemas", "null".into())]),
    });
    let deps = go_opt(get("dependencies"), |x| match x.as_object() {
        Some(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .iter()
                .map(|dk| {
                    let d = &o[dk.as_str()];
                    let inner = match d {
                        Value::Array(_) => go_struct(&[("Schema", "null".into()), ("Property", go_json(d))]),
                        other => go_struct(&[("Schema", sub(other)), ("Property", "null".into())]),
                    };
                    format!("{}:{inner}", go_json(&Value::from(dk.as_str())))
                })
                .collect();
            format!("{{{}}}", body.join(","))
        }
        None => "null".into(),
    });
    let docs = go_opt(get("externalDocs"), |x| {
        go_struct(&[("Description", go_str_field(x, "description")), ("URL", go_str_field(x, "url"))])
    });
    let rules = go_opt(get("x-kubernetes-validations"), |x| match x.as_array() {
        Some(a) => {
            let body: Vec<String> = a
                .iter()
                .map(|r| {
                    go_struct(&[
                        ("Rule", go_str_field(r, "rule")),
                        ("Message", go_str_field(r, "message")),
                        ("MessageExpression", go_str_field(r, "messageExpression")),
                        ("Reason", go_opt(r.get("reason"), go_json)),
                        ("FieldPath", go_str_field(r, "fieldPath")),
                        ("OptionalOldSelf", go_opt(r.get("optionalOldSelf"), go_json)),
                    ])
                })
                .collect();
            format!("[{}]", body.join(","))
        }
        None => "null".into(),
    });
    go_struct(&[
        ("ID", go_str_field(s, "id")),
        ("Schema", go_str_field(s, "$schema")),
        ("Ref", json_or_null("$ref")),
        ("Description", go_str_field(s, "description")),
        ("Type", go_str_field(s, "type")),
        ("Nullable", bool_of("nullable")),
        ("Format", go_str_field(s, "format")),
        ("Title", go_str_field(s, "title")),
        ("Default", json_or_null("default")),
        ("Maximum", json_or_null("maximum")),
        ("ExclusiveMaximum", bool_of("exclusiveMaximum")),
        ("Minimum", json_or_null("minimum")),
        ("ExclusiveMinimum", bool_of("exclusiveMinimum")),
        ("MaxLength", json_or_null("maxLength")),
        ("MinLength", json_or_null("minLength")),
        ("Pattern", go_str_field(s, "pattern")),
        ("MaxItems", json_or_null("maxItems")),
        ("MinItems", json_or_null("minItems")),
        ("UniqueItems", bool_of("uniqueItems")),
        ("MultipleOf", json_or_null("multipleOf")),
        ("Enum", json_or_null("enum")),
        ("MaxProperties", json_or_null("maxProperties")),
        ("MinProperties", json_or_null("minProperties")),
        ("Required", json_or_null("required")),
        ("Items", items),
        ("AllOf", list("allOf")),
        ("OneOf", list("oneOf")),
        ("AnyOf", list("anyOf")),
        ("Not", go_opt(get("not"), sub)),
        ("Properties", map("properties")),
        ("AdditionalProperties", or_bool("additionalProperties")),
        ("PatternProperties", map("patternProperties")),
        ("Dependencies", deps),
        ("AdditionalItems", or_bool("additionalItems")),
        ("Definitions", map("definitions")),
        ("ExternalDocs", docs),
        ("Example", json_or_null("example")),
        ("XPreserveUnknownFields", json_or_null("x-kubernetes-preserve-unknown-fields")),
        ("XEmbeddedResource", bool_of("x-kubernetes-embedded-resource")),
        ("XIntOrString", bool_of("x-kubernetes-int-or-string")),
        ("XListMapKeys", json_or_null("x-kubernetes-list-map-keys")),
        ("XListType", json_or_null("x-kubernetes-list-type")),
        ("XMapType", json_or_null("x-kubernetes-map-type")),
        ("XValidations", rules),
    ])
}

/// A bad value kube renders from a Go struct: [`FieldError::invalid`] with the
/// already rendered JSON.
pub(crate) fn invalid_rendered(path: impl Into<String>, rendered: String, detail: &str) -> FieldError {
    FieldError::body(path, ErrorKind::Invalid, Some(rendered), detail)
}

// ---------------------------------------------------------------------------
// cel.ValidFieldPath
// ---------------------------------------------------------------------------

/// kube's `cel.ValidFieldPath`: resolve `.a.b['c']` against a structural schema,
/// returning the field path (kube format) and the schema it points to.
pub fn valid_field_path<'a>(
    json_path: &str,
    schema: &'a Value,
    allow_array_notation: bool,
) -> Result<(String, &'a Value), String> {
    // Tokens: '.', '[', ']' alone; '…' quoted strings; anything else up to a delimiter.
    let b: Vec<char> = json_path.chars().collect();
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\'' {
            let mut j = i + 1;
            while j < b.len() && !(b[j] == '\'' && b[j - 1] != '\\') {
                j += 1;
            }
            let end = (j + 1).min(b.len());
            tokens.push(b[i..end].iter().collect());
            i = end;
            continue;
        }
        if matches!(b[i], '.' | '[' | ']') {
            tokens.push(b[i].to_string());
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !matches!(b[i], '.' | '[' | ']') {
            i += 1;
        }
        tokens.push(b[start..i].iter().collect());
    }
    let mut path = String::new();
    let mut cur = schema;
    let mut t = tokens.into_iter();
    let step = |cur: &'a Value, path: &mut String, name: &str| -> Result<&'a Value, String> {
        let m = cur.as_object().ok_or("does not refer to a valid field")?;
        if m.get("properties").is_some_and(|p| !p.is_null()) {
            *path = child(path, name);
            s_prop(m, name).ok_or_else(|| "does not refer to a valid field".to_string())
        } else if let Ap::Schema(ap) = s_ap(m) {
            *path = key(path, name);
            Ok(ap)
        } else {
            Err("does not refer to a valid field".into())
        }
    };
    while let Some(tok) = t.next() {
        match tok.as_str() {
            "[" => {
                if !allow_array_notation {
                    return Err("array notation is not allowed".into());
                }
                let q = t.next().ok_or("unexpected end of JSON path")?;
                if q.len() < 2 || !q.starts_with('\'') || !q.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {q}"));
                }
                let name = q[1..q.len() - 1].replace("\\'", "'").replace("\\\\", "\\");
                cur = step(cur, &mut path, &name)?;
                let close = t.next().ok_or("unexpected end of JSON path")?;
                if close != "]" {
                    return Err(format!("expected ] but got {close}"));
                }
            }
            "." => {
                let name = t.next().ok_or("unexpected end of JSON path")?;
                cur = step(cur, &mut path, &name)?;
            }
            other => return Err(format!("expected [ or . but got: {other}")),
        }
    }
    Ok((path, cur))
}

// ---------------------------------------------------------------------------
// check_structural: is a CRD schema acceptable?
// ---------------------------------------------------------------------------

/// Check an `openAPIV3Schema` as kube-apiserver does when a CRD is written:
/// structural (every specified node has a type unless int-or-string or
/// preserve-unknown-fields, value validations only restrict structurally specified
/// fields, root metadata restricts only name/generateName, …), no unsupported
/// keywords (`$ref`, `additionalItems`, `patternProperties`, `definitions`,
/// `dependencies`, `id`, `uniqueItems`), valid `pattern`s, list/map-type
/// extensions, and defaults that are pruned and validate. Paths start at
/// `openAPIV3Schema`; see [`check_structural_at`].
pub fn check_structural(schema: &Value) -> Vec<FieldError> {
    check_structural_at(schema, "openAPIV3Schema")
}

/// [`check_structural`] with errors rooted at `path` (e.g.
/// `spec.versions[0].schema.openAPIV3Schema`).
pub fn check_structural_at(schema: &Value, path: &str) -> Vec<FieldError> {
    // What kube's typed decoding would refuse (400) comes first, and alone.
    let mut type_errs = Vec::new();
    keyword_types(schema, path, 0, &mut type_errs);
    if !type_errs.is_empty() {
        return type_errs;
    }

    let mut all = Vec::new();
    let unsupported = unsupported_for_structural(schema, 0);
    if unsupported.is_none() {
        let mut structural = Vec::new();
        invariants(schema, Level::Root, path, 0, &mut structural);
        if let Some(m) = schema.as_object() {
            vv_completeness(m, Some(m), path, path, 0, &mut structural);
        }
        structural.sort_by_key(|e| e.to_string());
        if structural.is_empty() {
            defaults_validate(schema, schema, true, path, false, 0, &mut all);
        } else {
            all.extend(structural);
        }
    }
    let ssv = Ssv { allow_defaults: true, reason: String::new(), inside_meta: false };
    openapi_checks(schema, path, &ssv, true, 0, &mut all);
    if all.is_empty() {
        if let Some(msg) = unsupported {
            all.push(FieldError::invalid_str(path, "", &msg));
        }
    }
    all
}

#[derive(Clone, Copy)]
enum Expect {
    Str,
    Num,
    Int,
    Bool,
    StrArray,
    Array,
    SchemaArray,
    Schema,
    SchemaMap,
    SchemaOrArray,
    SchemaOrBool,
    Deps,
    Object,
    ObjArray,
}

fn keyword_types(s: &Value, path: &str, depth: usize, out: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH {
        out.push(FieldError::forbidden(path, DEPTH_DETAIL));
        return;
    }
    let Some(m) = s.as_object() else {
        out.push(FieldError::invalid(path, s, "must be an object"));
        return;
    };
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        let expect = match k.as_str() {
            "id"
            | "$schema"
            | "$ref"
            | "description"
            | "type"
            | "format"
            | "title"
            | "pattern"
            | "x-kubernetes-list-type"
            | "x-kubernetes-map-type" => Expect::Str,
            "maximum" | "minimum" | "multipleOf" => Expect::Num,
            "maxLength" | "minLength" | "maxItems" | "minItems" | "maxProperties" | "minProperties" => Expect::Int,
            "exclusiveMaximum"
            | "exclusiveMinimum"
            | "uniqueItems"
            | "nullable"
            | "x-kubernetes-preserve-unknown-fields"
            | "x-kubernetes-embedded-resource"
            | "x-kubernetes-int-or-string" => Expect::Bool,
            "required" | "x-kubernetes-list-map-keys" => Expect::StrArray,
            "enum" => Expect::Array,
            "allOf" | "oneOf" | "anyOf" => Expect::SchemaArray,
            "not" => Expect::Schema,
            "properties" | "patternProperties" | "definitions" => Expect::SchemaMap,
            "items" => Expect::SchemaOrArray,
            "additionalProperties" | "additionalItems" => Expect::SchemaOrBool,
            "dependencies" => Expect::Deps,
            "externalDocs" => Expect::Object,
            "x-kubernetes-validations" => Expect::ObjArray,
            _ => continue,
        };
        let p = child(path, k);
        let bad =
            |what: &str, out: &mut Vec<FieldError>| out.push(FieldError::invalid(&p, v, &format!("must be {what}")));
        match expect {
            Expect::Str if !v.is_string() => bad("a string", out),
            Expect::Num if !v.is_number() => bad("a number", out),
            Expect::Int if !(v.is_i64() || v.is_u64()) => bad("an integer", out),
            Expect::Bool if !v.is_boolean() => bad("a boolean", out),
            Expect::StrArray if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                bad("an array of strings", out)
            }
            Expect::Array if !v.is_array() => bad("an array", out),
            Expect::Object if !v.is_object() => bad("an object", out),
            Expect::ObjArray if !v.as_array().is_some_and(|a| a.iter().all(Value::is_object)) => {
                bad("an array of objects", out)
            }
            Expect::SchemaArray => match v.as_array() {
                None => bad("an array of schemas", out),
                Some(a) => {
                    for (i, e) in a.iter().enumerate() {
                        keyword_types(e, &index(&p, i), depth + 1, out);
                    }
                }
            },
            Expect::Schema => keyword_types(v, &p, depth + 1, out),
            Expect::SchemaMap => match v.as_object() {
                None => bad("an object", out),
                Some(o) => {
                    for (pk, pv) in o {
                        keyword_types(pv, &key(&p, pk), depth + 1, out);
                    }
                }
            },
            Expect::SchemaOrArray => match v {
                Value::Array(a) => {
                    for (i, e) in a.iter().enumerate() {
                        keyword_types(e, &index(&p, i), depth + 1, out);
                    }
                }
                _ => keyword_types(v, &p, depth + 1, out),
            },
            Expect::SchemaOrBool if !v.is_boolean() => keyword_types(v, &p, depth + 1, out),
            Expect::Deps => match v.as_object() {
                None => bad("an object", out),
                Some(o) => {
                    for (dk, dv) in o {
                        if !dv.is_array() {
                            keyword_types(dv, &key(&p, dk), depth + 1, out);
                        }
                    }
                }
            },
            _ => {}
        }
    }
}

/// What makes kube's `NewStructural` fail (shown only when nothing else is wrong).
fn unsupported_for_structural(s: &Value, depth: usize) -> Option<String> {
    let m = s.as_object()?;
    if depth > MAX_DEPTH {
        return None;
    }
    let nonempty = |k: &str| match m.get(k) {
        Some(Value::String(x)) => !x.is_empty(),
        Some(Value::Object(x)) => !x.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    for (k, name) in [
        ("id", "id"),
        ("$schema", "schema"),
        ("$ref", "$ref"),
        ("patternProperties", "patternProperties"),
        ("dependencies", "dependencies"),
    ] {
        if nonempty(k) {
            return Some(format!("OpenAPIV3Schema '{name}' is not supported"));
        }
    }
    if s_has(m, "additionalItems") {
        return Some("OpenAPIV3Schema 'additionalItems' is not supported".into());
    }
    if nonempty("definitions") {
        return Some("OpenAPIV3Schema 'definitions' is not supported".into());
    }
    if let Some(n) = m.get("not").filter(|v| v.is_object()) {
        if let Some(e) = unsupported_for_structural(n, depth + 1) {
            return Some(e);
        }
    }
    for k in ["allOf", "anyOf", "oneOf"] {
        for sub in s_arr(m, k) {
            if let Some(e) = unsupported_for_structural(sub, depth + 1) {
                return Some(e);
            }
        }
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        return Some("internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined".into());
    }
    match m.get("items") {
        Some(Value::Array(a)) if !a.is_empty() => {
            return Some("OpenAPIV3Schema 'items' must be a schema, but is an array".into())
        }
        Some(i @ Value::Object(_)) => {
            if let Some(e) = unsupported_for_structural(i, depth + 1) {
                return Some(e);
            }
        }
        _ => {}
    }
    if let Some(p) = s_props(m) {
        for v in p.values() {
            if let Some(e) = unsupported_for_structural(v, depth + 1) {
                return Some(e);
            }
        }
    }
    if let Ap::Schema(ap) = s_ap(m) {
        return unsupported_for_structural(ap, depth + 1);
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

/// An `anyOf` exactly `[{type: integer}, {type: string}]` (the int-or-string exception).
fn is_int_or_string_any_of(any_of: &[Value]) -> bool {
    let only_type = |v: &Value, t: &str| {
        v.as_object().is_some_and(|m| s_str(m, "type") == t && m.iter().all(|(k, x)| k == "type" || is_zero(x)))
    };
    any_of.len() == 2 && only_type(&any_of[0], "integer") && only_type(&any_of[1], "string")
}

/// `validateStructuralInvariants`.
fn invariants(s: &Value, lvl: Level, path: &str, depth: usize, out: &mut Vec<FieldError>) {
    let Some(m) = s.as_object() else { return };
    if depth > MAX_DEPTH {
        out.push(FieldError::forbidden(path, DEPTH_DETAIL));
        return;
    }
    let ty = s_str(m, "type");
    if ty == "array" && s_items(m).is_none() {
        out.push(FieldError::required(child(path, "items"), "must be specified"));
    }
    if let Some(items) = s_items(m) {
        invariants(items, Level::Item, &child(path, "items"), depth + 1, out);
    }
    if let Some(props) = s_props(m) {
        for (k, v) in props {
            invariants(v, Level::Field, &key(&child(path, "properties"), k), depth + 1, out);
        }
    }
    let ap = s_ap(m);
    if !matches!(ap, Ap::None) {
        if lvl == Level::Root {
            out.push(FieldError::forbidden(child(path, "additionalProperties"), "must not be used at the root"));
        }
        if let Ap::Schema(aps) = ap {
            invariants(aps, Level::Field, &child(path, "additionalProperties"), depth + 1, out);
        }
    }

    let ios = int_or_string(m);
    let pres = preserve(m);
    let emb = embedded(m);
    if ios && pres {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if ios && emb {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-embedded-resource"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    let skip_any_of = is_int_or_string_any_of(s_arr(m, "anyOf"));
    let skip_first_all_of_any_of = s_arr(m, "allOf")
        .first()
        .and_then(Value::as_object)
        .is_some_and(|a| is_int_or_string_any_of(s_arr(a, "anyOf")));
    value_validation(m, skip_any_of, skip_first_all_of_any_of, lvl, path, depth, out);

    let check_metadata = lvl == Level::Root || emb;
    if emb && ty != "object" {
        if ty.is_empty() {
            out.push(FieldError::required(
                child(path, "type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            out.push(FieldError::invalid_str(
                child(path, "type"),
                ty,
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if ty.is_empty() && !ios && !pres {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(FieldError::required(child(path, "type"), detail));
    }
    if emb && !matches!(ap, Ap::None) {
        out.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        out.push(FieldError::invalid_str(child(path, "type"), ty, "must be object at the root"));
    }
    let props_path = child(path, "properties");
    for f in ["kind", "apiVersion"] {
        if let Some(p) = s_prop(m, f).and_then(Value::as_object) {
            if check_metadata && s_str(p, "type") != "string" {
                out.push(FieldError::invalid_str(
                    child(&key(&props_path, f), "type"),
                    s_str(p, "type"),
                    "must be string",
                ));
            }
        }
    }
    if let Some(meta) = s_prop(m, "metadata").and_then(Value::as_object) {
        let mpath = key(&props_path, "metadata");
        if check_metadata && s_str(meta, "type") != "object" {
            out.push(FieldError::invalid_str(child(&mpath, "type"), s_str(meta, "type"), "must be object"));
        }
        if lvl == Level::Root && !root_metadata_ok(meta) {
            out.push(FieldError::forbidden(
                mpath,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if emb && !pres && s_props(m).is_none_or(Map::is_empty) {
        out.push(FieldError::required(
            child(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Root `metadata` may only be `type: object` with properties `name`/`generateName`.
fn root_metadata_ok(meta: &Obj) -> bool {
    let props = s_props(meta);
    let only_names =
        props.is_none_or(|p| p.is_empty() || (p.len() <= 2 && p.keys().all(|k| k == "name" || k == "generateName")));
    meta.iter().all(|(k, v)| match k.as_str() {
        "type" | "default" => true,
        "properties" => only_names,
        _ => is_zero(v),
    })
}

fn value_validation(
    m: &Obj,
    skip_any_of: bool,
    skip_first: bool,
    lvl: Level,
    path: &str,
    depth: usize,
    out: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, sub) in s_arr(m, "anyOf").iter().enumerate() {
            nested(sub, false, lvl, &index(&child(path, "anyOf"), i), depth + 1, out);
        }
    }
    for (i, sub) in s_arr(m, "allOf").iter().enumerate() {
        nested(sub, skip_first && i == 0, lvl, &index(&child(path, "allOf"), i), depth + 1, out);
    }
    for (i, sub) in s_arr(m, "oneOf").iter().enumerate() {
        nested(sub, false, lvl, &index(&child(path, "oneOf"), i), depth + 1, out);
    }
    if let Some(not) = m.get("not").filter(|v| v.is_object()) {
        nested(not, false, lvl, &child(path, "not"), depth + 1, out);
    }
    let pattern = s_str(m, "pattern");
    if !pattern.is_empty() {
        if let Err(e) = compile_pattern(pattern) {
            out.push(FieldError::invalid_str(
                child(path, "pattern"),
                pattern,
                &format!("must be a valid regular expression, but isn't: {e}"),
            ));
        }
    }
}

/// `validateNestedValueValidation`: inside allOf/anyOf/oneOf/not only value
/// validations are allowed.
fn nested(v: &Value, skip_any_of: bool, lvl: Level, path: &str, depth: usize, out: &mut Vec<FieldError>) {
    let Some(m) = v.as_object() else { return };
    if depth > MAX_DEPTH {
        out.push(FieldError::forbidden(path, DEPTH_DETAIL));
        return;
    }
    value_validation(m, skip_any_of, false, lvl, path, depth, out);
    if let Some(items) = s_items(m) {
        nested(items, false, lvl, &child(path, "items"), depth + 1, out);
    }
    if let Some(props) = s_props(m) {
        for (k, pv) in props {
            nested(pv, false, Level::Field, &key(&child(path, "properties"), k), depth + 1, out);
        }
    }
    if !s_str(m, "type").is_empty() {
        out.push(FieldError::forbidden(child(path, "type"), "must be empty to be structural"));
    }
    if matches!(s_ap(m), Ap::Schema(_) | Ap::Bool(true)) {
        out.push(FieldError::forbidden(child(path, "additionalProperties"), "must be undefined to be structural"));
    }
    if s_default(m).is_some() {
        out.push(FieldError::forbidden(child(path, "default"), "must be undefined to be structural"));
    }
    if !s_str(m, "title").is_empty() {
        out.push(FieldError::forbidden(child(path, "title"), "must be empty to be structural"));
    }
    if !s_str(m, "description").is_empty() {
        out.push(FieldError::forbidden(child(path, "description"), "must be empty to be structural"));
    }
    if nullable(m) {
        out.push(FieldError::forbidden(child(path, "nullable"), "must be false to be structural"));
    }
    for f in ["x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string"] {
        if s_flag(m, f) {
            out.push(FieldError::forbidden(child(path, f), "must be false to be structural"));
        }
    }
    if !s_arr(m, "x-kubernetes-list-map-keys").is_empty() {
        out.push(FieldError::forbidden(child(path, "x-kubernetes-list-map-keys"), "must be empty to be structural"));
    }
    for f in ["x-kubernetes-list-type", "x-kubernetes-map-type"] {
        if s_has(m, f) {
            out.push(FieldError::forbidden(child(path, f), "must be undefined to be structural"));
        }
    }
    if !s_arr(m, "x-kubernetes-validations").is_empty() {
        out.push(FieldError::forbidden(child(path, "x-kubernetes-validations"), "must be empty to be structural"));
    }
    if s_props(m).is_some_and(|p| p.contains_key("metadata")) {
        out.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// `validateStructuralCompleteness` (kube checks the root's value validations only).
fn vv_completeness(v: &Obj, s: Option<&Obj>, spath: &str, vpath: &str, depth: usize, out: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(s) = s else {
        out.push(FieldError::required(spath, &format!("because it is defined in {vpath}")));
        return;
    };
    if let Some(not) = v.get("not").and_then(Value::as_object) {
        nested_completeness(not, Some(s), spath, &child(vpath, "not"), depth + 1, out);
    }
    for k in ["allOf", "anyOf", "oneOf"] {
        for (i, sub) in s_arr(v, k).iter().enumerate() {
            if let Some(sub) = sub.as_object() {
                nested_completeness(sub, Some(s), spath, &index(&child(vpath, k), i), depth + 1, out);
            }
        }
    }
}

fn nested_completeness(v: &Obj, s: Option<&Obj>, spath: &str, vpath: &str, depth: usize, out: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(s) = s else {
        out.push(FieldError::required(spath, &format!("because it is defined in {vpath}")));
        return;
    };
    vv_completeness(v, Some(s), spath, vpath, depth + 1, out);
    if let Some(items) = s_items(v).and_then(Value::as_object) {
        nested_completeness(
            items,
            s_items(s).and_then(Value::as_object),
            &child(spath, "items"),
            &child(vpath, "items"),
            depth + 1,
            out,
        );
    }
    if let Some(props) = s_props(v) {
        for (k, pv) in props {
            let Some(pv) = pv.as_object() else { continue };
            let sp = key(&child(spath, "properties"), k);
            let vp = key(&child(vpath, "properties"), k);
            match s_prop(s, k).and_then(Value::as_object) {
                Some(sf) => nested_completeness(pv, Some(sf), &sp, &vp, depth + 1, out),
                None => out.push(FieldError::required(sp, &format!("because it is defined in {vp}"))),
            }
        }
    }
}

/// `structuraldefaulting.ValidateDefaults`: defaults must be pruned and valid.
fn defaults_validate(
    s: &Value,
    root: &Value,
    force_embedded: bool,
    path: &str,
    inside_meta: bool,
    depth: usize,
    out: &mut Vec<FieldError>,
) {
    let Some(m) = s.as_object() else { return };
    if depth > MAX_DEPTH {
        return;
    }
    let emb = force_embedded || embedded(m);
    let (root, inside_meta) = if emb { (s, false) } else { (root, inside_meta) };
    let _ = root;
    if let Some(def) = s_default(m) {
        let dpath = child(path, "default");
        if !inside_meta {
            let mut pruned = def.clone();
            let mut ignored = Vec::new();
            prune_node(&mut pruned, Some(m), emb, &mut String::new(), 0, &mut ignored);
            if &pruned != def {
                out.push(FieldError::invalid(&dpath, def, "must not have unknown fields"));
            }
        }
        let mut meta_errs = Vec::new();
        if !inside_meta {
            if let Value::Object(o) = def {
                if emb {
                    validate_embedded_resource(o, &dpath, &mut meta_errs);
                }
            }
            embedded_validate_children(def, m, &dpath, &mut meta_errs);
        }
        if !meta_errs.is_empty() {
            out.extend(meta_errs);
        } else {
            let mut raws = Vec::new();
            let _ = v_node_mode(def, s, &mut String::new(), depth, Mode::Defaults, &mut raws);
            out.extend(raws_to_errors(raws, Some(&dpath)));
        }
    }
    if let Some(items) = s_items(m) {
        defaults_validate(items, root, false, &child(path, "items"), inside_meta, depth + 1, out);
    }
    if let Some(props) = s_props(m) {
        for (k, ps) in props {
            let sub_inside = inside_meta || (emb && META_FIELDS.contains(&k.as_str()));
            defaults_validate(ps, root, false, &key(&child(path, "properties"), k), sub_inside, depth + 1, out);
        }
    }
}

fn embedded_validate_children(d: &Value, s: &Obj, path: &str, out: &mut Vec<FieldError>) {
    match d {
        Value::Object(o) => {
            for (k, v) in o {
                if let Some(p) = s_prop(s, k) {
                    embedded_validate(v, p.as_object(), &child(path, k), 1, out);
                } else if let Ap::Schema(ap) = s_ap(s) {
                    embedded_validate(v, ap.as_object(), &key(path, k), 1, out);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s_items(s) {
                for (i, e) in a.iter().enumerate() {
                    embedded_validate(e, items.as_object(), &index(path, i), 1, out);
                }
            }
        }
        _ => {}
    }
}

/// Options threaded through `ValidateCustomResourceDefinitionOpenAPISchema`.
#[derive(Clone)]
struct Ssv {
    allow_defaults: bool,
    reason: String,
    inside_meta: bool,
}

impl Ssv {
    fn forbid_defaults(&self, reason: String) -> Ssv {
        Ssv { allow_defaults: false, reason, inside_meta: self.inside_meta }
    }
}

const OPENAPI_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

fn has_newlines(s: &str) -> bool {
    s.contains(['\n', '\r'])
}

/// `ValidateCustomResourceDefinitionOpenAPISchema` (without CEL compilation).
fn openapi_checks(s: &Value, path: &str, ssv: &Ssv, is_root: bool, depth: usize, out: &mut Vec<FieldError>) {
    let Some(m) = s.as_object() else { return };
    if depth > MAX_DEPTH {
        return;
    }
    let ty = s_str(m, "type");
    // specStandardValidatorV3.validate
    if !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        out.push(FieldError::not_supported(child(path, "type"), &Value::from(ty), OPENAPI_TYPES));
    }
    if s_default(m).is_some() && !ssv.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ssv.reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ssv.reason);
        }
        out.push(FieldError::forbidden(child(path, "default"), &detail));
    }
    if !s_str(m, "id").is_empty() {
        out.push(FieldError::forbidden(child(path, "id"), "id is not supported"));
    }
    if s_has(m, "additionalItems") {
        out.push(FieldError::forbidden(child(path, "additionalItems"), "additionalItems is not supported"));
    }
    if m.get("patternProperties").and_then(Value::as_object).is_some_and(|p| !p.is_empty()) {
        out.push(FieldError::forbidden(child(path, "patternProperties"), "patternProperties is not supported"));
    }
    if m.get("definitions").and_then(Value::as_object).is_some_and(|p| !p.is_empty()) {
        out.push(FieldError::forbidden(child(path, "definitions"), "definitions is not supported"));
    }
    if s_has(m, "dependencies") {
        out.push(FieldError::forbidden(child(path, "dependencies"), "dependencies is not supported"));
    }
    if s_has(m, "$ref") {
        out.push(FieldError::forbidden(child(path, "$ref"), "$ref is not supported"));
    }
    if ty == "null" {
        out.push(FieldError::forbidden(
            child(path, "type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if m.get("items").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        out.push(FieldError::forbidden(child(path, "items"), "items must be a schema object and not an array"));
    }
    if ssv.inside_meta && embedded(m) {
        out.push(FieldError::forbidden(
            child(path, "x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }

    if s_flag(m, "uniqueItems") {
        out.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let props = s_props(m);
    let ap = s_ap(m);
    if !matches!(ap, Ap::None) {
        if props.is_some_and(|p| !p.is_empty()) && matches!(ap, Ap::Bool(false) | Ap::Schema(_)) {
            out.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        let sub = if ssv.inside_meta {
            ssv.forbid_defaults("inside additionalProperties applying to object metadata".into())
        } else {
            ssv.clone()
        };
        if let Ap::Schema(aps) = ap {
            openapi_checks(aps, &child(path, "additionalProperties"), &sub, false, depth + 1, out);
        }
    }
    if let Some(props) = props {
        for (k, ps) in props {
            let mut sub = ssv.clone();
            if (is_root || embedded(m)) && META_FIELDS.contains(&k.as_str()) {
                sub.inside_meta = true;
                if is_root {
                    sub = sub.forbid_defaults(format!("in top-level {k}"));
                }
            }
            openapi_checks(ps, &key(&child(path, "properties"), k), &sub, false, depth + 1, out);
        }
    }
    if let Some(not) = m.get("not") {
        openapi_checks(not, &child(path, "not"), ssv, false, depth + 1, out);
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        for (i, sub) in s_arr(m, k).iter().enumerate() {
            openapi_checks(sub, &index(&child(path, k), i), ssv, false, depth + 1, out);
        }
    }
    if let Some(defs) = m.get("definitions").and_then(Value::as_object) {
        for (k, d) in defs {
            openapi_checks(d, &key(&child(path, "definitions"), k), ssv, false, depth + 1, out);
        }
    }
    match m.get("items") {
        Some(i @ Value::Object(_)) => openapi_checks(i, &child(path, "items"), ssv, false, depth + 1, out),
        Some(Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                openapi_checks(e, &index(&child(path, "items"), i), ssv, false, depth + 1, out);
            }
        }
        _ => {}
    }
    if let Some(deps) = m.get("dependencies").and_then(Value::as_object) {
        for (k, d) in deps {
            if d.is_object() {
                openapi_checks(d, &key(&child(path, "dependencies"), k), ssv, false, depth + 1, out);
            }
        }
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(false),
            "must be true or undefined",
        ));
    }
    list_map_extensions(m, ty, path, out);
    validation_rules(s, m, path, out);
}

fn list_map_extensions(m: &Obj, ty: &str, path: &str, out: &mut Vec<FieldError>) {
    let map_type = m.get("x-kubernetes-map-type").and_then(Value::as_str);
    let list_type = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys: Vec<&str> = s_arr(m, "x-kubernetes-list-map-keys").iter().filter_map(Value::as_str).collect();
    let items = s_items(m).and_then(Value::as_object);
    let type_err = |what: &str, out: &mut Vec<FieldError>| {
        let detail = format!("must be {what}");
        if ty.is_empty() {
            out.push(FieldError::required(child(path, "type"), &detail));
        } else {
            out.push(FieldError::invalid_str(child(path, "type"), ty, &detail));
        }
    };
    if let Some(mt) = map_type {
        if ty != "object" {
            type_err("object if x-kubernetes-map-type is specified", out);
        }
        if mt != "atomic" && mt != "granular" {
            out.push(FieldError::not_supported(
                child(path, "x-kubernetes-map-type"),
                &Value::from(mt),
                &["atomic", "granular"],
            ));
        }
    }
    if let Some(lt) = list_type {
        if ty != "array" {
            type_err("array if x-kubernetes-list-type is specified", out);
        } else if lt == "set" {
            if let Some(is) = items {
                match s_str(is, "type") {
                    "array" => {
                        if let Some(ilt) = is.get("x-kubernetes-list-type").and_then(Value::as_str) {
                            if ilt != "atomic" {
                                out.push(FieldError::invalid_str(
                                    child(&child(path, "items"), "x-kubernetes-list-type"),
                                    ilt,
                                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                                ));
                            }
                        }
                    }
                    "object" if is.get("x-kubernetes-map-type").and_then(Value::as_str) != Some("atomic") => {
                        // kube reports the items' list-type here (usually null).
                        let shown = is.get("x-kubernetes-list-type").cloned().unwrap_or(Value::Null);
                        out.push(FieldError::invalid(
                            child(&child(path, "items"), "x-kubernetes-map-type"),
                            &shown,
                            "must be atomic as item of a list with x-kubernetes-list-type=set",
                        ));
                    }
                    _ => {}
                }
            }
        }
        if lt != "atomic" && lt != "set" && lt != "map" {
            out.push(FieldError::not_supported(
                child(path, "x-kubernetes-list-type"),
                &Value::from(lt),
                &["atomic", "set", "map"],
            ));
        }
    }
    if !keys.is_empty() {
        match list_type {
            None => out.push(FieldError::required(
                child(path, "x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(lt) if lt != "map" => out.push(FieldError::invalid_str(
                child(path, "x-kubernetes-list-type"),
                lt,
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            _ => {}
        }
    }
    let keys_value = || Value::from(keys.iter().map(|k| Value::from(*k)).collect::<Vec<_>>());
    if list_type == Some("map") {
        if keys.is_empty() {
            out.push(FieldError::required(
                child(path, "x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match m.get("items") {
            None | Some(Value::Null) => out.push(FieldError::required(
                child(path, "items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(a @ Value::Array(_)) => {
                let rendered = go_struct(&[
                    ("Schema", "null".into()),
                    (
                        "JSONSchemas",
                        format!(
                            "[{}]",
                            a.as_array()
                                .map(|x| x.iter().map(|e| go_internal_schema(Some(e))).collect::<Vec<_>>().join(","))
                                .unwrap_or_default()
                        ),
                    ),
                ]);
                out.push(invalid_rendered(
                    child(path, "items"),
                    rendered,
                    "must only have a single schema if x-kubernetes-list-type is map",
                ))
            }
            _ => {}
        }
        if let Some(is) = items {
            let ity = s_str(is, "type");
            if ity != "object" {
                out.push(FieldError::invalid_str(
                    child(&child(path, "items"), "type"),
                    ity,
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
            } else {
                let mut seen = HashSet::new();
                for k in &keys {
                    match s_prop(is, k).and_then(Value::as_object) {
                        Some(p) => {
                            let pt = s_str(p, "type");
                            if pt == "array" || pt == "object" {
                                out.push(FieldError::invalid_str(
                                    child(&key(&child(&child(path, "items"), "properties"), k), "type"),
                                    ity,
                                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                ));
                            }
                        }
                        None => out.push(FieldError::invalid(
                            child(path, "x-kubernetes-list-map-keys"),
                            &keys_value(),
                            "entries must all be names of item properties",
                        )),
                    }
                    if !seen.insert(*k) {
                        out.push(FieldError::invalid(
                            child(path, "x-kubernetes-list-map-keys"),
                            &keys_value(),
                            "must not contain duplicate entries",
                        ));
                    }
                }
            }
        }
    }
    // validateMapListKeysMapSet
    if let (Some(is), Some(lt @ ("set" | "map"))) = (items, list_type) {
        if nullable(is) {
            out.push(FieldError::forbidden(
                child(&child(path, "items"), "nullable"),
                &format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
            ));
        }
        if lt == "map" {
            let required: HashSet<&str> = s_arr(is, "required").iter().filter_map(Value::as_str).collect();
            for k in &keys {
                let Some(p) = s_prop(is, k).and_then(Value::as_object) else { continue };
                let ppath = key(&child(&child(path, "items"), "properties"), k);
                if !required.contains(k) && !s_has(p, "default") {
                    out.push(FieldError::required(
                        child(&ppath, "default"),
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                    ));
                }
                if nullable(p) {
                    out.push(FieldError::forbidden(
                        child(&ppath, "nullable"),
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    ));
                }
            }
        }
    }
}

/// The static checks of `x-kubernetes-validations` (CEL itself is not compiled).
fn validation_rules(node: &Value, m: &Obj, path: &str, out: &mut Vec<FieldError>) {
    let structural_ok = unsupported_for_structural(node, 0).is_none();
    const REASONS: &[&str] = &["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"];
    for (i, rule) in s_arr(m, "x-kubernetes-validations").iter().enumerate() {
        let Some(r) = rule.as_object() else { continue };
        let rp = index(&child(path, "x-kubernetes-validations"), i);
        let text = s_str(r, "rule");
        let message = s_str(r, "message");
        let (tr, tm) = (text.trim(), message.trim());
        if tr.is_empty() {
            out.push(FieldError::required(child(&rp, "rule"), "rule is not specified"));
        } else if !message.is_empty() && tm.is_empty() {
            out.push(FieldError::invalid_str(child(&rp, "message"), message, "must be non-empty if specified"));
        } else if has_newlines(tm) {
            out.push(FieldError::invalid_str(child(&rp, "message"), message, "must not contain line breaks"));
        } else if has_newlines(tr) && tm.is_empty() {
            out.push(FieldError::required(
                child(&rp, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        let mexpr = s_str(r, "messageExpression");
        if !mexpr.is_empty() && mexpr.trim().is_empty() {
            out.push(FieldError::required(
                child(&rp, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = r.get("reason").and_then(Value::as_str) {
            if !REASONS.contains(&reason) {
                out.push(FieldError::not_supported(child(&rp, "reason"), &Value::from(reason), REASONS));
            }
        }
        let fp = s_str(r, "fieldPath");
        if !fp.is_empty() && fp.trim().is_empty() {
            out.push(FieldError::invalid_str(child(&rp, "fieldPath"), fp, "must be non-empty if specified"));
        }
        if has_newlines(fp) {
            out.push(FieldError::invalid_str(child(&rp, "fieldPath"), fp, "must not contain line breaks"));
        }
        if !fp.is_empty() && structural_ok && valid_field_path(fp, node, true).is_err() {
            out.push(FieldError::invalid_str(child(&rp, "fieldPath"), fp, "must be a valid path"));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Expected errors and objects were produced by kube-apiserver v1.37.2's own
    //! code (apiextensions-apiserver, kube-openapi) on the same inputs.

    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("test JSON parses")
    }

    fn texts(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    /// Drop a deeply nested value on a big stack (serde_json drops recursively).
    fn drop_deep(v: Value) {
        std::thread::Builder::new().stack_size(256 << 20).spawn(move || drop(v)).unwrap().join().unwrap();
    }

    /// `(name, schema, object, errors)`: the errors kube-apiserver v1.37.2 reports for the
    /// object after decoding (prune, default), in vcproxy's order.
    const VALIDATE_CASES: &[(&str, &str, &str, &[&str])] = &[
        (
            "integer_given_string",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"replicas": "string"}}"##,
            &[r##"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""##],
        ),
        (
            "string_given_integer",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"name": {"type": "string"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"name": 5}}"##,
            &[r##"spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer""##],
        ),
        (
            "string_given_boolean",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"name": {"type": "string"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"name": true}}"##,
            &[r##"spec.name: Invalid value: "boolean": spec.name in body must be of type string: "boolean""##],
        ),
        (
            "boolean_given_string",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"on": {"type": "boolean"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"on": "yes"}}"##,
            &[r##"spec.on: Invalid value: "string": spec.on in body must be of type boolean: "string""##],
        ),
        (
            "number_given_object",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"ratio": {"type": "number"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"ratio": {"a": 1}}}"##,
            &[r##"spec.ratio: Invalid value: "object": spec.ratio in body must be of type number: "object""##],
        ),
        (
            "object_given_array",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"m": {"type": "object"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": [1]}}"##,
            &[r##"spec.m: Invalid value: "array": spec.m in body must be of type object: "array""##],
        ),
        (
            "array_given_string",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"l": "x"}}"##,
            &[r##"spec.l: Invalid value: "string": spec.l in body must be of type array: "string""##],
        ),
        (
            "integer_accepts_integral_float",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 2.0}}"##,
            &[],
        ),
        (
            "integer_given_fraction",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 1.5}}"##,
            &[
                r##"spec.n: Invalid value: "number": spec.n in body must be of type integer: "number""##,
                r##"<nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.n"##,
            ],
        ),
        (
            "number_accepts_integer",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "number"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 3}}"##,
            &[],
        ),
        (
            "null_for_non_nullable_with_enum",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "enum": ["a"], "nullable": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": null}}"##,
            &[r##"spec.s: Unsupported value: null: supported values: "a""##],
        ),
        (
            "required_missing",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}, "required": ["name", "size"]}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"size": 1}}"##,
            &[r##"spec.name: Required value"##],
        ),
        (
            "required_at_root",
            r##"{"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}}"##,
            &[r##"spec: Required value"##],
        ),
        (
            "enum_string",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"color": {"type": "string", "enum": ["red", "blue"]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"color": "pink"}}"##,
            &[r##"spec.color: Unsupported value: "pink": supported values: "red", "blue""##],
        ),
        (
            "enum_numbers_quoted",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 3}}"##,
            &[r##"spec.n: Unsupported value: 3: supported values: "1", "2""##],
        ),
        (
            "enum_int_matches_float_member",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "number", "enum": [2.0]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 2}}"##,
            &[],
        ),
        (
            "pattern",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"name": "AB"}}"##,
            &[r##"spec.name: Invalid value: "AB": spec.name in body should match '^[a-z]+$'"##],
        ),
        (
            "pattern_digit_is_ascii",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "string", "pattern": "^\\d+$"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": "\u0661\u0662\u0663"}}"##,
            &[r##"spec.n: Invalid value: "١٢٣": spec.n in body should match '^\d+$'"##],
        ),
        (
            "max_length_counts_runes",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "maxLength": 3}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "h\u00e9\u00e9!"}}"##,
            &[r##"spec.s: Too long: may not be more than 3 bytes"##],
        ),
        (
            "max_length_one_byte",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "maxLength": 1}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "ab"}}"##,
            &[r##"spec.s: Too long: may not be more than 1 byte"##],
        ),
        (
            "min_length",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "minLength": 3}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "ab"}}"##,
            &[r##"spec.s: Invalid value: "ab": spec.s in body should be at least 3 chars long"##],
        ),
        (
            "maximum_int",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer", "maximum": 10}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"replicas": 11}}"##,
            &[r##"spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"##],
        ),
        (
            "minimum_exclusive_int",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1, "exclusiveMinimum": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"replicas": 1}}"##,
            &[r##"spec.replicas: Invalid value: 1: spec.replicas in body should be greater than 1"##],
        ),
        (
            "maximum_float",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"ratio": {"type": "number", "maximum": 2.5}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"ratio": 3.75}}"##,
            &[r##"spec.ratio: Invalid value: 3.75: spec.ratio in body should be less than or equal to 2.5"##],
        ),
        (
            "maximum_exclusive_large",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "number", "maximum": 1000000.0, "exclusiveMaximum": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 1000000.0}}"##,
            &[r##"spec.n: Invalid value: 1e+06: spec.n in body should be less than 1e+06"##],
        ),
        (
            "minimum_fraction_on_integer",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1.5}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 1}}"##,
            &[
                r##"<nil>: Invalid value: "": Minimum boundary value must be of type integer (default format) in spec.n"##,
                r##"spec.n: Invalid value: 1: spec.n in body should be greater than or equal to 1.5"##,
            ],
        ),
        (
            "multiple_of_int",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 10}}"##,
            &[r##"spec.n: Invalid value: 10: spec.n in body should be a multiple of 3"##],
        ),
        (
            "multiple_of_float",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "number", "multipleOf": 0.5}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 0.3}}"##,
            &[r##"spec.n: Invalid value: 0.3: spec.n in body should be a multiple of 0.5"##],
        ),
        (
            "int32_range",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"port": {"type": "integer", "format": "int32"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"port": 3000000000}}"##,
            &[r##"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.port"##],
        ),
        (
            "float_range",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"f": {"type": "number", "format": "float"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"f": 1e+40}}"##,
            &[r##"<nil>: Invalid value: "": Checked value must be of type number with format float in spec.f"##],
        ),
        (
            "min_max_items",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}, "minItems": 2}, "b": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": [1], "b": [1, 2, 3]}}"##,
            &[
                r##"spec.a: Invalid value: 1: spec.a in body should have at least 2 items"##,
                r##"spec.b: Too many: 3: must have at most 2 items"##,
            ],
        ),
        (
            "unique_items",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}, "uniqueItems": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": [1, 2, 1]}}"##,
            &[r##"spec.a: Invalid value: "": spec.a in body shouldn't contain duplicates"##],
        ),
        (
            "min_max_properties",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"m": {"type": "object", "minProperties": 2, "additionalProperties": {"type": "string"}}, "n": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": {"a": "x"}, "n": {"a": "x", "b": "y"}}}"##,
            &[
                r##"spec.m: Invalid value: 1: spec.m in body should have at least 2 properties"##,
                r##"spec.n: Too many: 2: must have at most 1 item"##,
            ],
        ),
        (
            "items_paths",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 3}}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"items": [{"name": "ok"}, {}, {"name": "toolong"}]}}"##,
            &[
                r##"spec.items[1].name: Required value"##,
                r##"spec.items[2].name: Too long: may not be more than 3 bytes"##,
            ],
        ),
        (
            "additional_properties_schema",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"labels": {"a": "x", "b": 2}}}"##,
            &[r##"spec.labels.b: Invalid value: "integer": spec.labels.b in body must be of type string: "integer""##],
        ),
        (
            "additional_properties_false",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"m": {"type": "object", "additionalProperties": false}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": {"a": "x"}}}"##,
            &[r##"spec.m: Invalid value: "a": spec.m.a in body is a forbidden property"##],
        ),
        (
            "all_of",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "allOf": [{"minLength": 5}, {"pattern": "^z"}]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "abc"}}"##,
            &[
                r##"spec.s: Invalid value: "abc": spec.s in body should be at least 5 chars long"##,
                r##"spec.s: Invalid value: "abc": spec.s in body should match '^z'"##,
                r##"<nil>: Invalid value: "": "spec.s" must validate all the schemas (allOf). None validated"##,
            ],
        ),
        (
            "any_of",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "c"}}"##,
            &[
                r##"<nil>: Invalid value: "": "spec.s" must validate at least one schema (anyOf)"##,
                r##"spec.s: Invalid value: "c": spec.s in body should match '^a'"##,
            ],
        ),
        (
            "one_of_two_valid",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "b$"}]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "ab"}}"##,
            &[
                r##"<nil>: Invalid value: "": "spec.s" must validate one and only one schema (oneOf). Found 2 valid alternatives"##,
            ],
        ),
        (
            "not",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "not": {"pattern": "^a"}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"s": "abc"}}"##,
            &[r##"<nil>: Invalid value: "": "spec.s" must not validate the schema (not)"##],
        ),
        (
            "int_or_string_rejects_float",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"port": 1.5}}"##,
            &[
                r##"spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number""##,
                r##"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"##,
                r##"spec.port: Invalid value: "number": spec.port in body must be of type integer: "number""##,
                r##"<nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.port"##,
            ],
        ),
        (
            "int_or_string_accepts_both",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"x-kubernetes-int-or-string": true}, "b": {"x-kubernetes-int-or-string": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": 1, "b": "10%"}}"##,
            &[],
        ),
        (
            "format_date_time",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"t": {"type": "string", "format": "date-time"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"t": "yesterday"}}"##,
            &[r##"spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday""##],
        ),
        (
            "format_date",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"d": "2023-02-29"}}"##,
            &[r##"spec.d: Invalid value: "2023-02-29": spec.d in body must be of type date: "2023-02-29""##],
        ),
        (
            "format_uuid",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"u": {"type": "string", "format": "uuid"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"u": "not-a-uuid"}}"##,
            &[r##"spec.u: Invalid value: "not-a-uuid": spec.u in body must be of type uuid: "not-a-uuid""##],
        ),
        (
            "format_byte",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"b": {"type": "string", "format": "byte"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"b": "aGVsbG8"}}"##,
            &[r##"spec.b: Invalid value: "aGVsbG8": spec.b in body must be of type byte: "aGVsbG8""##],
        ),
        (
            "format_ipv4_ipv6_cidr",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string", "format": "ipv4"}, "b": {"type": "string", "format": "ipv6"}, "c": {"type": "string", "format": "cidr"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": "256.1.1.1", "b": "1.2.3.4", "c": "10.0.0.0/33"}}"##,
            &[
                r##"spec.a: Invalid value: "256.1.1.1": spec.a in body must be of type ipv4: "256.1.1.1""##,
                r##"spec.b: Invalid value: "1.2.3.4": spec.b in body must be of type ipv6: "1.2.3.4""##,
                r##"spec.c: Invalid value: "10.0.0.0/33": spec.c in body must be of type cidr: "10.0.0.0/33""##,
            ],
        ),
        (
            "format_hostname_email",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"h": {"type": "string", "format": "hostname"}, "e": {"type": "string", "format": "email"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"h": "-bad.example.com", "e": "nobody"}}"##,
            &[
                r##"spec.h: Invalid value: "-bad.example.com": spec.h in body must be of type hostname: "-bad.example.com""##,
                r##"spec.e: Invalid value: "nobody": spec.e in body must be of type email: "nobody""##,
            ],
        ),
        (
            "format_duration_k8s_name",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"d": {"type": "string", "format": "duration"}, "n": {"type": "string", "format": "k8s-short-name"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"d": "forever", "n": "Not_A_Name"}}"##,
            &[
                r##"spec.d: Invalid value: "forever": spec.d in body must be of type duration: "forever""##,
                r##"spec.n: Invalid value: "Not_A_Name": spec.n in body must be of type k8s-short-name: "Not_A_Name""##,
            ],
        ),
        (
            "format_valid_values",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"t": {"type": "string", "format": "date-time"}, "d": {"type": "string", "format": "duration"}, "i": {"type": "string", "format": "ipv4"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"t": "2024-01-02T03:04:05Z", "d": "5 days", "i": "010.0.0.1"}}"##,
            &[],
        ),
        (
            "unknown_format_ignored",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string", "format": "int32"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"x": "abc"}}"##,
            &[],
        ),
        (
            "embedded_resource_needs_type_meta",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}}"##,
            &[r##"spec.template.apiVersion: Required value"##, r##"spec.template.kind: Required value"##],
        ),
        (
            "embedded_resource_bad_values",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"template": {"apiVersion": "a/b/c", "kind": "Bad_Kind", "metadata": {"name": "a/b", "namespace": "Bad"}}}}"##,
            &[
                r##"spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"##,
                r##"spec.template.kind: Invalid value: "Bad_Kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.template.metadata.name: Invalid value: "a/b": may not contain '/'"##,
                r##"spec.template.metadata.namespace: Invalid value: "Bad": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"##,
            ],
        ),
        (
            "root_metadata_name_rules",
            r##"{"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5, "pattern": "^a"}}}}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "bcdefgh"}}"##,
            &[r##"metadata.name: Too long: may not be more than 5 bytes"##],
        ),
        (
            "root_meta_fields_not_validated",
            r##"{"type": "object", "properties": {"spec": {"type": "object"}}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {}}"##,
            &[],
        ),
        (
            "valid_object",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}, "image": {"type": "string"}}, "required": ["image"]}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"replicas": 2, "image": "nginx"}}"##,
            &[],
        ),
    ];

    /// `(name, schema, object, decoded object, dropped paths)`: pruning then defaulting,
    /// as kube-apiserver v1.37.2 decodes a custom resource.
    const DECODE_CASES: &[(&str, &str, &str, &str, &[&str])] = &[
        (
            "nested_unknown_fields",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": {"b": "x", "c": 1}, "d": 2}, "status": {"x": 1}, "extra": true}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": {"b": "x"}}}"##,
            &[r##"extra"##, r##"spec.a.c"##, r##"spec.d"##, r##"status"##],
        ),
        (
            "arrays_of_objects",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"l": [{"n": "a", "x": 1}, {"y": {"z": 1}}]}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"l": [{"n": "a"}, {}]}}"##,
            &[r##"spec.l[0].x"##, r##"spec.l[1].y"##],
        ),
        (
            "preserve_unknown_fields",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"typed": {"type": "object", "properties": {"k": {"type": "string"}}}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"free": {"anything": {"deep": [1, 2]}, "typed": {"k": "v", "drop": 1}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"free": {"anything": {"deep": [1, 2]}, "typed": {"k": "v"}}}}"##,
            &[r##"spec.free.typed.drop"##],
        ),
        (
            "preserve_at_root",
            r##"{"type": "object", "x-kubernetes-preserve-unknown-fields": true}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"x": 1}, "other": {"y": null}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"x": 1}, "other": {"y": null}}"##,
            &[],
        ),
        (
            "embedded_resource_keeps_type_meta",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {"replicas": 1, "extra": 2}, "status": {}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"replicas": 1}}}}"##,
            &[r##"spec.template.metadata.junk"##, r##"spec.template.spec.extra"##, r##"spec.template.status"##],
        ),
        (
            "root_metadata_unknown_fields",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {}}}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x", "bogus": 1, "creationTimestamp": null}, "spec": {}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {}}"##,
            &[r##"metadata.bogus"##],
        ),
        (
            "additional_properties_true_empties_objects",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"m": {"type": "object", "additionalProperties": true}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": {"a": 1, "b": {"c": 2}, "d": [{"e": 1}]}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": {"a": 1, "b": {}, "d": [{}]}}}"##,
            &[r##"spec.m.b.c"##, r##"spec.m.d[0].e"##],
        ),
        (
            "nulls_without_default_are_dropped",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string", "nullable": true}, "c": {"type": "string", "default": "x"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": null, "b": null, "c": null}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"b": null, "c": "x"}}"##,
            &[],
        ),
        (
            "defaults_nested",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string", "default": "x"}, "b": {"type": "object", "default": {}, "properties": {"c": {"type": "integer", "default": 3}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"a": "x", "b": {"c": 3}}}"##,
            &[],
        ),
        (
            "defaults_in_arrays",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer", "default": 80}, "name": {"type": "string"}}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"ports": [{}, {"port": 443}, {"name": "dns"}]}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}, {"port": 443}, {"name": "dns", "port": 80}]}}"##,
            &[],
        ),
        (
            "defaults_in_additional_properties",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"r": {"type": "integer", "default": 1}}}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": {"a": {}, "b": {"r": 5}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"m": {"a": {"r": 1}, "b": {"r": 5}}}}"##,
            &[],
        ),
        (
            "default_replaces_null_items",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string", "default": "d"}}, "m": {"type": "object", "additionalProperties": {"type": "string", "default": "e"}}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"l": ["a", null], "m": {"k": null}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"l": ["a", "d"], "m": {"k": "e"}}}"##,
            &[],
        ),
        (
            "default_for_missing_spec",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "default": {"a": 1}, "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 2}}}}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}}"##,
            r##"{"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"a": 1, "b": 2}}"##,
            &[],
        ),
        (
            "big_integers_become_floats",
            r##"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "number"}}}}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 18446744073709551615}}"##,
            r##"{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {"n": 1.8446744073709552e+19}}"##,
            &[],
        ),
    ];

    #[test]
    fn validate_matches_kube_apiserver() {
        for (name, schema, obj, want) in VALIDATE_CASES {
            let schema = parse(schema);
            let mut obj = parse(obj);
            prune(&mut obj, &schema);
            default(&mut obj, &schema);
            assert_eq!(texts(&validate(&obj, &schema)), *want, "case {name}");
        }
    }

    #[test]
    fn decode_matches_kube_apiserver() {
        for (name, schema, obj, want, dropped) in DECODE_CASES {
            let schema = parse(schema);
            let mut obj = parse(obj);
            assert_eq!(prune(&mut obj, &schema), *dropped, "dropped paths, case {name}");
            default(&mut obj, &schema);
            assert_eq!(obj, parse(want), "case {name}");
        }
    }

    #[test]
    fn default_leaves_present_values_and_nullable_nulls() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string", "nullable": true, "default": "x"},
            "c": {"type": "string", "default": "x"},
        }});
        let mut obj = json!({"a": "set", "b": null, "c": null});
        default(&mut obj, &schema);
        assert_eq!(obj, json!({"a": "set", "b": null, "c": "x"}));
    }

    #[test]
    fn check_structural_paths_start_at_open_api_v3_schema() {
        let schema = json!({"type": "object", "properties": {"spec": {"properties": {"x": {"type": "string", "pattern": "(["}}}}});
        assert_eq!(
            texts(&check_structural(&schema)),
            [
                r#"openAPIV3Schema.properties[spec].properties[x].pattern: Invalid value: "([": must be a valid regular expression, but isn't: error parsing regexp: missing closing ]: `[`"#,
                "openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
            ]
        );
        let ok = json!({"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}});
        assert_eq!(check_structural(&ok), []);
        assert_eq!(
            texts(&check_structural_at(
                &json!({"type": "object", "additionalProperties": {"type": "string"}}),
                "spec.x"
            )),
            ["spec.x.additionalProperties: Forbidden: must not be used at the root"]
        );
    }

    #[test]
    fn check_structural_refuses_wrongly_typed_keywords() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": "5", "required": "x"}}, "maxLength": 1.5});
        assert_eq!(
            texts(&check_structural(&schema)),
            [
                r#"openAPIV3Schema.properties[a].minimum: Invalid value: "5": must be a number"#,
                r#"openAPIV3Schema.properties[a].required: Invalid value: "x": must be an array of strings"#,
                "openAPIV3Schema.maxLength: Invalid value: 1.5: must be an integer",
            ]
        );
        assert_eq!(
            texts(&check_structural(&json!("object"))),
            [r#"openAPIV3Schema: Invalid value: "object": must be an object"#]
        );
    }

    #[test]
    fn field_errors_render_values_like_go() {
        let cases: Vec<(FieldError, &str)> = vec![
            (FieldError::required("spec.name", ""), "spec.name: Required value"),
            (
                FieldError::required("metadata.name", "name or generateName is required"),
                "metadata.name: Required value: name or generateName is required",
            ),
            (FieldError::forbidden("spec.x", "not allowed"), "spec.x: Forbidden: not allowed"),
            (
                FieldError::invalid_str("a", "say \"hi\"\n\tü\u{7f}\u{200b}", "d"),
                r#"a: Invalid value: "say \"hi\"\n\tü\x7f\u200b": d"#,
            ),
            (FieldError::invalid("a", &json!(1_000_000.0), "d"), "a: Invalid value: 1e+06: d"),
            (FieldError::invalid("a", &json!(123456.0), "d"), "a: Invalid value: 123456: d"),
            (FieldError::invalid("a", &json!(-0.00001), "d"), "a: Invalid value: -1e-05: d"),
            (FieldError::invalid("a", &json!(7), "d"), "a: Invalid value: 7: d"),
            (FieldError::invalid("a", &json!(true), "d"), "a: Invalid value: true: d"),
            (FieldError::invalid("a", &Value::Null, "d"), "a: Invalid value: null: d"),
            (
                FieldError::invalid("a", &json!({"z": [1, 2.5], "a": "<&>"}), "d"),
                r#"a: Invalid value: {"a":"\u003c\u0026\u003e","z":[1,2.5]}: d"#,
            ),
            (
                FieldError::not_supported("spec.scope", &json!("Global"), &["Cluster", "Namespaced"]),
                r#"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""#,
            ),
            (FieldError::too_long("s", 1), "s: Too long: may not be more than 1 byte"),
            (FieldError::too_long("s", 5), "s: Too long: may not be more than 5 bytes"),
            (FieldError::too_many("l", Some(4), 3), "l: Too many: 4: must have at most 3 items"),
            (FieldError::duplicate("l[1]", &json!("x")), r#"l[1]: Duplicate value: "x""#),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
        assert_eq!(FieldError::too_many("l", Some(4), 3).kind.reason(), "FieldValueTooMany");
    }

    #[test]
    fn go_number_formatting() {
        for (f, v, j) in [
            (0.0, "0", "0"),
            (1.5, "1.5", "1.5"),
            (100000.0, "100000", "100000"),
            (1e6, "1e+06", "1000000"),
            (1234567.0, "1.234567e+06", "1234567"),
            (0.0001, "0.0001", "0.0001"),
            (0.00001, "1e-05", "0.00001"),
            (1e-7, "1e-07", "1e-7"),
            (1e21, "1e+21", "1e+21"),
            (-2.5, "-2.5", "-2.5"),
        ] {
            assert_eq!(go_float(f), v, "%v of {f}");
            assert_eq!(go_json(&json!(f)), j, "json of {f}");
        }
    }

    #[test]
    fn to_status_is_kubes_invalid_status() {
        let one = to_status("stable.example.com", "CronTab", "x", &[FieldError::required("spec.name", "")]);
        assert_eq!(one["message"], r#"CronTab.stable.example.com "x" is invalid: spec.name: Required value"#);
        let errs = [
            FieldError::required("spec.name", ""),
            FieldError::invalid_str("spec.color", "pink", "nope"),
            FieldError::required("spec.name", ""),
        ];
        let st = to_status("stable.example.com", "CronTab", "x", &errs);
        assert_eq!(
            st,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": r#"CronTab.stable.example.com "x" is invalid: [spec.name: Required value, spec.color: Invalid value: "pink": nope]"#,
                "reason": "Invalid",
                "details": {"name": "x", "group": "stable.example.com", "kind": "CronTab", "causes": [
                    {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.name"},
                    {"reason": "FieldValueInvalid", "message": r#"Invalid value: "pink": nope"#, "field": "spec.color"},
                    {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.name"},
                ]},
                "code": 422,
            })
        );
        let core = to_status("", "Pod", "", &[]);
        assert_eq!(core["message"], r#"Pod "" is invalid"#);
        assert_eq!(core["details"], json!({"kind": "Pod", "causes": []}));
    }

    #[test]
    fn patterns_have_go_semantics() {
        let matches: &[(&str, &[(&str, bool)])] = &[
            (r"^\d+$", &[("123", true), ("١٢٣", false)]),
            (r"^\w+$", &[("hello_1", true), ("héllo", false)]),
            (r"^\s$", &[(" ", true), ("\u{a0}", false), ("\u{b}", false)]),
            (r"\bb", &[("a b", true), ("éb", true)]),
            ("a{2}", &[("aa", true), ("a{2}", false)]),
            ("x{", &[("x{", true)]),
            ("{x}", &[("{x}", true)]),
            (r"\Qa.b\E", &[("a.b", true), ("axb", false)]),
            ("[a&&b]", &[("&", true), ("b", true)]),
            ("[[a]", &[("[", true), ("]", false)]),
            ("[+--]", &[(",", true)]),
            (r"^[[:alpha:]]+$", &[("abc", true), ("ab1", false)]),
            (r"^\p{Greek}+$", &[("Ωμέγα", true), ("abc", false)]),
            (r"^\pL$", &[("é", true), ("1", false)]),
            (r"^\p{letter}$", &[("é", true)]),
            (r"^\p{Cs}$", &[("a", false)]),
            (r"^\101$", &[("A", true)]),
            (r"^\x41\x{42}$", &[("AB", true)]),
            ("(?i)abc", &[("ABC", true)]),
            ("^(?P<name>a)(?<other>b)$", &[("ab", true)]),
            (r"^(a+)+$", &[(&"a".repeat(5000), true)]),
        ];
        for (p, cases) in matches {
            let re = compile_pattern(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            for (s, want) in *cases {
                assert_eq!(re.is_match(s), *want, "{p} on {s:?}");
            }
        }
        for (p, want) in [
            ("([", "error parsing regexp: missing closing ]: `[`"),
            ("a)", "error parsing regexp: unexpected ): `a)`"),
            ("(a", "error parsing regexp: missing closing ): `(a`"),
            ("a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
            ("a{2,1}", "error parsing regexp: invalid repeat count: `{2,1}`"),
            ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
            ("x{2}{3}", "error parsing regexp: invalid nested repetition operator: `{2}{3}`"),
            ("(*)", "error parsing regexp: missing argument to repetition operator: `*`"),
            (r"\y", r"error parsing regexp: invalid escape sequence: `\y`"),
            (r"\8", r"error parsing regexp: invalid escape sequence: `\8`"),
            (r"\x{110000}", r"error parsing regexp: invalid escape sequence: `\x{110000`"),
            ("(?=x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
            ("(?x)a", "error parsing regexp: invalid or unsupported Perl syntax: `(?x`"),
            ("(?<n", "error parsing regexp: invalid named capture: `(?<n`"),
            ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
            ("[[:foo:]]", "error parsing regexp: invalid character class range: `[:foo:]`"),
            (r"\p{Foo}", r"error parsing regexp: invalid character class range: `\p{Foo}`"),
            ("\\", "error parsing regexp: trailing backslash at end of expression: ``"),
        ] {
            assert_eq!(compile_pattern(p).err().as_deref(), Some(want), "{p}");
        }
    }

    #[test]
    fn formats_match_kube_openapi() {
        for (format, value, ok) in [
            ("datetime", "2024-01-02T03:04:05Z", true),
            ("datetime", "2024-01-02T03:04:05.123+01:00", true),
            ("datetime", "2024-01-02t03:04:05z", true),
            ("datetime", "2024-01-02 03:04:05Z", false),
            ("datetime", "2024-02-30T00:00:00Z", false),
            ("date", "2024-02-29", true),
            ("date", "2023-02-29", false),
            ("uuid", "123E4567E89B12D3A456426614174000", true),
            ("uuid4", "123e4567-e89b-12d3-a456-426614174000", false),
            ("byte", "aGVsbG8=", true),
            ("byte", "aGVsbG8", false),
            ("ipv4", "01.2.3.4", true),
            ("ipv4", "::ffff:1.2.3.4", true),
            ("ipv6", "1.2.3.4", false),
            ("cidr", "010.0.0.0/8", true),
            ("cidr", "10.0.0.0/33", false),
            ("hostname", "xn--bcher-kva.example", true),
            ("hostname", "-a.com", false),
            ("email", "A <a@b.com>", true),
            ("email", "a@", false),
            ("uri", "/relative", true),
            ("uri", "relative", false),
            ("uri", "http://a:xx/", false),
            ("mac", "0123.4567.89ab", true),
            ("mac", "01:23:45:67:89", false),
            ("duration", "1h2m", true),
            ("duration", "5 days", true),
            ("duration", "abc", false),
            ("isbn", "978-0321751041", true),
            ("creditcard", "4111-1111-1111-1111", true),
            ("creditcard", "4111111111111112", false),
            ("ssn", "123-45-6789", true),
            ("hexcolor", "#ffff", false),
            ("rgbcolor", "rgb( 1 , 2 , 3 )", true),
            ("bsonobjectid", "507f1f77bcf86cd799439011", true),
            ("k8sshortname", "my-name", true),
            ("k8sshortname", "My-Name", false),
            ("k8slongname", "a.b-c.d", true),
        ] {
            assert_eq!(format_valid(format, value), ok, "{format} {value:?}");
        }
    }

    #[test]
    fn valid_field_path_resolves_like_kube() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a.b": {"type": "string"}, "m": {"type": "object", "additionalProperties": {"type": "integer"}}}}}});
        assert_eq!(valid_field_path(".spec['a.b']", &schema, true).map(|(p, _)| p), Ok("spec.a.b".to_string()));
        assert_eq!(
            valid_field_path(".spec.m.k", &schema, true).map(|(p, s)| (p, s["type"].clone())),
            Ok(("spec.m[k]".into(), json!("integer")))
        );
        assert_eq!(
            valid_field_path(".spec.x", &schema, true).err().as_deref(),
            Some("does not refer to a valid field")
        );
        assert_eq!(valid_field_path("spec", &schema, true).err().as_deref(), Some("expected [ or . but got: spec"));
        assert_eq!(
            valid_field_path(".spec['a.b']", &schema, false).err().as_deref(),
            Some("array notation is not allowed")
        );
    }

    #[test]
    fn hostile_deep_schema_is_an_error_not_a_stack_overflow() {
        let mut schema = json!({"type": "string"});
        let mut obj = json!("leaf");
        for _ in 0..150 {
            schema = json!({"type": "object", "properties": {"a": schema}});
            obj = json!({"a": obj});
        }
        let errs = check_structural(&schema);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].path.starts_with("openAPIV3Schema.properties[a].properties[a]"));
        assert!(
            errs[0].to_string().ends_with("Forbidden: must not be nested more than 100 levels deep"),
            "{}",
            errs[0]
        );
        let errs = validate(&obj, &schema);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().ends_with("Forbidden: must not be nested more than 100 levels deep"),
            "{}",
            errs[0]
        );
        let mut pruned = obj.clone();
        prune(&mut pruned, &schema);
        default(&mut pruned, &schema);
        drop_deep(pruned);
        drop_deep(obj);
        drop_deep(schema);
    }

    #[test]
    fn hostile_deep_data_is_bounded() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "additionalProperties": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "e": {"x-kubernetes-preserve-unknown-fields": true, "enum": ["a"]},
        }});
        // serde_json clones, serializes (json!) and drops recursively: build by hand.
        let deep = || {
            let mut v = Value::Null;
            for i in 0..20_000 {
                v = if i % 2 == 1 {
                    Value::Array(vec![v])
                } else {
                    let mut m = Map::new();
                    m.insert("k".into(), v);
                    m.insert("u".into(), Value::from(u64::MAX));
                    Value::Object(m)
                };
            }
            v
        };
        let mut obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {}, "status": {}});
        obj["spec"]["d"] = deep();
        obj["status"]["d"] = deep();
        obj["e"] = deep();
        let dropped = prune(&mut obj, &schema);
        default(&mut obj, &schema);
        let errs = texts(&validate(&obj, &schema));
        drop_deep(obj); // before asserting: unwinding would drop it on this stack
        assert_eq!(dropped, ["spec.d[0].k", "spec.d[0].u"]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        // The bad value is rendered, cut off (as null) 400 levels down.
        assert!(errs[0].starts_with(r#"e: Unsupported value: [{"k":[{"k":"#), "{}", errs[0]);
        assert!(errs[0].contains(r#"{"k":[null],"u":18446744073709552000}"#), "{}", errs[0]);
        assert!(errs[0].ends_with(r#"}]: supported values: "a""#), "{}", errs[0]);
        assert!(errs[0].len() < 20_000);
    }

    #[test]
    fn hostile_huge_patterns_compile_or_fail_cleanly() {
        let alternatives: Vec<String> = (0..20_000).map(|i| format!("value{i}")).collect();
        let big = format!("^({})$", alternatives.join("|"));
        match compile_pattern(&big) {
            Ok(re) => assert!(re.is_match("value19999")),
            Err(e) => assert!(e.starts_with("error parsing regexp: expression too large"), "{e}"),
        }
        let blowup = "(((a{100}){100}){100}){100}";
        let err = compile_pattern(blowup).unwrap_err();
        assert!(err.starts_with("error parsing regexp:"), "{err}");
        let schema = json!({"type": "object", "properties": {"s": {"type": "string", "pattern": blowup}}});
        let errs = check_structural(&schema);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().starts_with("openAPIV3Schema.properties[s].pattern: Invalid value:"),
            "{}",
            errs[0]
        );
        // A schema with a bad pattern never reaches validate through a CRD, but if it
        // does, the value is reported invalid, as kube-openapi does.
        let errs = validate(&json!({"s": "x"}), &schema);
        assert!(errs[0].to_string().contains(", but pattern is invalid: error parsing regexp:"), "{}", errs[0]);
    }
}
