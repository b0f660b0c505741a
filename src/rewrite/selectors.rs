//! Field and label selectors from a tenant's query string, translated to the super view.
//! A raw selector naming a virtual namespace would silently match nothing, or another tenant's namespace.
//!
//! Both parsers follow k8s.io/apimachinery (`pkg/fields/selector.go`, `pkg/labels/selector.go`)
//! so vcproxy and the apiserver read a selector the same way, and both re-serialise
//! canonically the way `Selector.String()` does (field terms in sorted order as `k=v`/`k!=v`
//! with `\` escapes; label requirements sorted by key, `in`/`notin` value sets sorted).
//!
//! Field selectors: values of `metadata.namespace`, of the kind's plain namespace fields in the
//! table (core Events' `involvedObject.namespace`, …) and, for `namespaces`, of `metadata.name`
//! are mapped to super names (`""` stays `""`); other terms pass through.
//! Label selectors: keys under `vcproxy.io/` are refused; for `namespaces`,
//! `kubernetes.io/metadata.name` becomes `vcproxy.io/virtual-name` (confining a namespace list
//! with `vcproxy.io/tenant=<tenant>` is the caller's job; it may append it to the result).

use super::fields::{self, FieldKind, Seg};
use super::object::METADATA_NAME_LABEL;
use super::{is_dns1123_label, is_reserved_key, NamespaceMapper, RewriteError};
use crate::mapping::VIRTUAL_NAME_LABEL;

type Result<T> = std::result::Result<T, RewriteError>;

// ---------------------------------------------------------------- field selectors

fn field_err(msg: impl Into<String>) -> RewriteError {
    RewriteError::FieldSelector(msg.into())
}

/// Splits on commas not preceded by a backslash escape (`splitTerms`).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first operator in the term, trying `!=`, `==`, `=` at each position (`splitTerm`).
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if rest.starts_with(op) {
                return Some((&term[..i], op, &term[i + op.len()..]));
            }
        }
    }
    None
}

fn unescape_value(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(field_err(format!(
                        "invalid escape sequence \"\\{c}\" in value {s:?}; only \\\\, \\, and \\= are allowed"
                    )))
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(field_err(format!("unescaped {c:?} in value {s:?}; escape it with a backslash"))),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(field_err(format!("value {s:?} ends with a lone backslash")));
    }
    Ok(out)
}

fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The field-selector keys whose values are namespace names for this resource.
fn namespace_field_keys(group: &str, resource: &str) -> Vec<String> {
    let table = fields::fields_for(group, resource);
    table
        .fields
        .iter()
        .filter(|f| f.kind == FieldKind::Namespace && !f.segs.contains(&Seg::Each))
        .map(|f| f.path.clone())
        .collect()
}

/// Translates a `fieldSelector` for a request on `resource` in `group`.
pub fn translate_field_selector(sel: &str, group: &str, resource: &str, m: &dyn NamespaceMapper) -> Result<String> {
    let keys = namespace_field_keys(group, resource);
    let mut parts = split_terms(sel);
    parts.sort_unstable();
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((field, op, rhs)) = split_term(part) else {
            return Err(field_err(format!("{sel:?}: cannot understand {part:?}; use field=value, field==value or field!=value, separated by commas")));
        };
        let mut value = unescape_value(rhs)?;
        if keys.iter().any(|k| k == field) {
            if !value.is_empty() {
                if !is_dns1123_label(&value) {
                    return Err(field_err(format!("{field}: {value:?} is not a valid namespace name")));
                }
                value = m.to_super(&value);
            }
        } else if keys.iter().any(|k| k == field.trim()) {
            return Err(field_err(format!("{part:?}: remove the spaces around {:?}", field.trim())));
        }
        let op = if op == "!=" { "!=" } else { "=" };
        out.push(format!("{field}{op}{}", escape_value(&value)));
    }
    Ok(out.join(","))
}

// ---------------------------------------------------------------- label selectors

fn label_err(msg: impl Into<String>) -> RewriteError {
    RewriteError::LabelSelector(msg.into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    End,
}

impl Tok {
    fn shown(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Bang => "!".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::End => "end of string".into(),
        }
    }
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_label_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn special_token(s: &[u8]) -> Option<Tok> {
    Some(match s {
        b"!" => Tok::Bang,
        b"=" => Tok::Eq,
        b"==" => Tok::DoubleEq,
        b"!=" => Tok::NotEq,
        b">" => Tok::Gt,
        b"<" => Tok::Lt,
        b"(" => Tok::Open,
        b")" => Tok::Close,
        b"," => Tok::Comma,
        _ => return None,
    })
}

/// The lexer of `labels.Lexer`: identifiers run until whitespace or a special symbol; special
/// symbols take the longest match.
fn lex(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut toks = Vec::new();
    loop {
        while i < b.len() && is_label_ws(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            toks.push(Tok::End);
            return toks;
        }
        if is_special(b[i]) {
            let mut j = i + 1;
            let mut best = (special_token(&b[i..j]).expect("every single special symbol is a token"), j);
            while j < b.len() && is_special(b[j]) {
                j += 1;
                match special_token(&b[i..j]) {
                    Some(t) => best = (t, j),
                    None => break,
                }
            }
            toks.push(best.0);
            i = best.1;
        } else {
            let start = i;
            while i < b.len() && !is_label_ws(b[i]) && !is_special(b[i]) {
                i += 1;
            }
            toks.push(match &s[start..i] {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                w => Tok::Ident(w.to_string()),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Exists,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Requirement {
    /// `Requirement.String()`.
    fn render(&self) -> String {
        let mut s = String::new();
        if self.op == Op::DoesNotExist {
            s.push('!');
        }
        s.push_str(&self.key);
        let op = match self.op {
            Op::Exists | Op::DoesNotExist => return s,
            Op::Equals => "=",
            Op::DoubleEquals => "==",
            Op::NotEquals => "!=",
            Op::In => " in ",
            Op::NotIn => " notin ",
            Op::Gt => ">",
            Op::Lt => "<",
        };
        s.push_str(op);
        let set = matches!(self.op, Op::In | Op::NotIn);
        if set {
            s.push('(');
        }
        s.push_str(&self.values.join(","));
        if set {
            s.push(')');
        }
        s
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    /// In a value position, `in` and `notin` are plain identifiers (`lookahead(Values)`).
    fn peek(&self, values: bool) -> Tok {
        match &self.toks[self.pos] {
            Tok::In if values => Tok::Ident("in".into()),
            Tok::NotIn if values => Tok::Ident("notin".into()),
            t => t.clone(),
        }
    }
    fn next(&mut self, values: bool) -> Tok {
        let t = self.peek(values);
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>> {
        let mut reqs = Vec::new();
        loop {
            match self.peek(true) {
                Tok::Ident(_) | Tok::Bang => {
                    reqs.push(self.requirement()?);
                    match self.next(true) {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let t = self.peek(true);
                            if !matches!(t, Tok::Ident(_) | Tok::Bang) {
                                return Err(label_err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.shown()
                                )));
                            }
                        }
                        t => return Err(label_err(format!("found '{}', expected: ',' or 'end of string'", t.shown()))),
                    }
                }
                Tok::End => return Ok(reqs),
                t => {
                    return Err(label_err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.shown()
                    )))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement> {
        let mut op = None;
        let mut t = self.next(true);
        if t == Tok::Bang {
            op = Some(Op::DoesNotExist);
            t = self.next(true);
        }
        let Tok::Ident(key) = t else {
            return Err(label_err(format!("found '{}', expected: identifier", t.shown())));
        };
        validate_key(&key)?;
        if matches!(self.peek(true), Tok::End | Tok::Comma) && op.is_none() {
            op = Some(Op::Exists);
        }
        if let Some(op) = op {
            return Ok(Requirement { key, op, values: Vec::new() });
        }
        let op = match self.next(false) {
            Tok::In => Op::In,
            Tok::NotIn => Op::NotIn,
            Tok::Eq => Op::Equals,
            Tok::DoubleEq => Op::DoubleEquals,
            Tok::NotEq => Op::NotEquals,
            Tok::Gt => Op::Gt,
            Tok::Lt => Op::Lt,
            t => return Err(label_err(format!("found '{}', expected: in, notin, =, ==, !=, gt, lt", t.shown()))),
        };
        let values = match op {
            Op::In | Op::NotIn => self.set()?,
            _ => vec![self.exact()?],
        };
        match op {
            Op::In | Op::NotIn if values.is_empty() => {
                return Err(label_err(format!("{key}: for 'in', 'notin' operators, values set can't be empty")))
            }
            Op::Gt | Op::Lt if values[0].parse::<i64>().is_err() => {
                return Err(label_err(format!("{key}: for 'gt', 'lt' operators, the value must be an integer")))
            }
            _ => {}
        }
        for v in &values {
            validate_value(&key, v)?;
        }
        Ok(Requirement { key, op, values })
    }

    /// `( v1, v2, … )`: a sorted set; empty members are `""` as in `parseIdentifiersList`.
    fn set(&mut self) -> Result<Vec<String>> {
        let t = self.next(true);
        if t != Tok::Open {
            return Err(label_err(format!("found '{}', expected: '('", t.shown())));
        }
        let mut set = std::collections::BTreeSet::new();
        match self.peek(true) {
            Tok::Close => {
                self.next(true);
                set.insert(String::new());
                return Ok(set.into_iter().collect());
            }
            Tok::Ident(_) | Tok::Comma => {}
            t => return Err(label_err(format!("found '{}', expected: ',', ')' or identifier", t.shown()))),
        }
        loop {
            match self.next(true) {
                Tok::Ident(v) => {
                    set.insert(v);
                    match self.peek(true) {
                        Tok::Comma => continue,
                        Tok::Close => {
                            self.next(true);
                            return Ok(set.into_iter().collect());
                        }
                        t => return Err(label_err(format!("found '{}', expected: ',' or ')'", t.shown()))),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.peek(true) {
                        Tok::Close => {
                            self.next(true);
                            set.insert(String::new());
                            return Ok(set.into_iter().collect());
                        }
                        Tok::Comma => {
                            self.next(true);
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                t => return Err(label_err(format!("found '{}', expected: ',' or identifier", t.shown()))),
            }
        }
    }

    fn exact(&mut self) -> Result<String> {
        match self.peek(true) {
            Tok::End | Tok::Comma => Ok(String::new()),
            _ => match self.next(true) {
                Tok::Ident(v) => Ok(v),
                t => Err(label_err(format!("found '{}', expected: identifier", t.shown()))),
            },
        }
    }
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && !s.is_empty()
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

fn validate_key(key: &str) -> Result<()> {
    if is_reserved_key(key) {
        return Err(label_err(format!("key {key:?} is reserved: labels under \"vcproxy.io/\" belong to vcproxy and cannot be selected on; remove it")));
    }
    let ok = match key.split_once('/') {
        None => is_qualified_name_part(key),
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name_part(name),
    };
    if !ok {
        return Err(label_err(format!(
            "key {key:?} is not a valid label key (an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.')"
        )));
    }
    Ok(())
}

fn validate_value(key: &str, v: &str) -> Result<()> {
    if v.is_empty() || is_qualified_name_part(v) {
        return Ok(());
    }
    Err(label_err(format!("{key}: value {v:?} is not a valid label value (at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric)")))
}

/// Translates a `labelSelector` for a request on `resource`.
/// `m` is unused today (label values are never namespace names) but keeps the signature uniform.
pub fn translate_label_selector(sel: &str, resource: &str, m: &dyn NamespaceMapper) -> Result<String> {
    let _ = m;
    let mut p = Parser { toks: lex(sel), pos: 0 };
    let mut reqs = p.parse()?;
    if resource == "namespaces" {
        for r in &mut reqs {
            if r.key == METADATA_NAME_LABEL {
                r.key = VIRTUAL_NAME_LABEL.to_string();
            }
        }
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(reqs.iter().map(Requirement::render).collect::<Vec<_>>().join(","))
}

/// A parsed label selector that can be evaluated against an object's labels
/// (used where vcproxy serves objects itself: tenant custom resources).
#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses a selector with the same grammar (and the same refusals) as
    /// [`translate_label_selector`]; empty selects everything.
    pub fn parse(sel: &str) -> Result<LabelSelector> {
        // Blank by the lexer's own whitespace (not Unicode's: `\u{b}` is a bad key there), so
        // both parsers accept and refuse the same selectors.
        if sel.bytes().all(is_label_ws) {
            return Ok(LabelSelector::default());
        }
        Ok(LabelSelector(Parser { toks: lex(sel), pos: 0 }.parse()?))
    }

    /// True if `labels` (a JSON object of strings, or null) satisfies every requirement.
    pub fn matches(&self, labels: &serde_json::Value) -> bool {
        self.0.iter().all(|r| {
            let value = labels.get(&r.key).and_then(|v| v.as_str());
            match r.op {
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Equals | Op::DoubleEquals | Op::In => value.is_some_and(|v| r.values.iter().any(|w| w == v)),
                Op::NotEquals | Op::NotIn => value.is_none_or(|v| !r.values.iter().any(|w| w == v)),
                Op::Gt | Op::Lt => {
                    let (Some(v), Some(w)) = (
                        value.and_then(|v| v.parse::<i64>().ok()),
                        r.values.first().and_then(|w| w.parse::<i64>().ok()),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt {
                        v > w
                    } else {
                        v < w
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod label_selector_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_like_kubernetes() {
        let labels = json!({"app": "web", "tier": "gold", "n": "5"});
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=gold", true),
            ("app!=web", false),
            ("app in (db,web)", true),
            ("app notin (web)", false),
            ("missing", false),
            ("!missing", true),
            ("missing!=x", true),
            ("n>4", true),
            ("n<5", false),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&labels), want, "{sel}");
        }
        assert!(LabelSelector::parse("a in (").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testutil::acme;

    #[test]
    fn field_selectors() {
        let m = acme();
        let ok = [
            ("", "", "pods", ""),
            ("metadata.namespace=prod", "", "pods", "metadata.namespace=acme--prod"),
            ("metadata.namespace==prod", "", "pods", "metadata.namespace=acme--prod"),
            (
                "metadata.namespace!=prod,status.phase=Running",
                "",
                "pods",
                "metadata.namespace!=acme--prod,status.phase=Running",
            ),
            // Sorted like Go, escapes kept.
            ("spec.nodeName=a\\,b,metadata.name=x\\=y", "", "pods", "metadata.name=x\\=y,spec.nodeName=a\\,b"),
            ("metadata.namespace=", "", "pods", "metadata.namespace="),
            ("metadata.name=prod", "", "pods", "metadata.name=prod"),
            ("metadata.name=prod", "", "namespaces", "metadata.name=acme--prod"),
            (
                "involvedObject.namespace=dev,involvedObject.kind=Pod",
                "",
                "events",
                "involvedObject.kind=Pod,involvedObject.namespace=acme--dev",
            ),
            ("involvedObject.namespace=dev", "events.k8s.io", "events", "involvedObject.namespace=dev"),
            ("regarding.namespace=dev", "events.k8s.io", "events", "regarding.namespace=acme--dev"),
            (",metadata.namespace=prod,", "", "pods", "metadata.namespace=acme--prod"),
        ];
        for (sel, g, r, want) in ok {
            assert_eq!(translate_field_selector(sel, g, r, &m).unwrap(), want, "{sel}");
        }
        for bad in [
            "metadata.namespace",
            "a=b=c",
            "x=a\\b",
            "x=a\\",
            "metadata.namespace=Prod",
            "metadata.namespace =prod",
            "metadata.namespace=../x",
        ] {
            let e = translate_field_selector(bad, "", "pods", &m).unwrap_err();
            assert_eq!(e.status_code(), 400, "{bad}: {e}");
        }
    }

    #[test]
    fn label_selectors_parse_like_apimachinery() {
        let m = acme();
        let ok = [
            ("", ""),
            ("  ", ""),
            ("a=b", "a=b"),
            ("a==b", "a==b"),
            ("a!=b", "a!=b"),
            ("x in (b,a,b), a", "a,x in (a,b)"),
            ("a notin (x)", "a notin (x)"),
            ("!a", "!a"),
            ("a", "a"),
            ("a in ()", "a in ()"),
            ("a in (,x)", "a in (,x)"),
            ("a in (x,)", "a in (,x)"),
            ("a=", "a="),
            ("a=,b", "a=,b"),
            ("a>5,b<1", "a>5,b<1"),
            ("example.com/app=web ,  tier in ( fe , be )", "example.com/app=web,tier in (be,fe)"),
            ("in=notin", "in=notin"),
            ("a in (in,notin)", "a in (in,notin)"),
            ("kubernetes.io/metadata.name=prod", "kubernetes.io/metadata.name=prod"),
        ];
        for (sel, want) in ok {
            assert_eq!(translate_label_selector(sel, "pods", &m).unwrap(), want, "{sel:?}");
        }
        let bad = [
            "a=b=c",
            "!a=b",
            "a in",
            "a in (x",
            "a in x",
            "a b",
            ",a",
            "a,",
            "a,,b",
            "a=(b)",
            "(a)",
            "a>x",
            "a in (x) b",
            "-a=b",
            "a=-b",
            "a/b/c=d",
            "A.com/x=y",
            "vcproxy.io/tenant=acme",
            "VCProxy.io/tenant",
            "!vcproxy.io/x",
            "a notin (x,vcproxy.io/y)",
            "b<-1",
        ];
        for sel in bad {
            let e = translate_label_selector(sel, "pods", &m);
            assert!(e.is_err(), "{sel:?} accepted as {e:?}");
            assert_eq!(e.unwrap_err().status_code(), 400);
        }
        let e = translate_label_selector("vcproxy.io/tenant in (globex)", "pods", &m).unwrap_err();
        assert!(e.to_string().contains("reserved") && e.to_string().contains("remove it"), "{e}");
    }

    #[test]
    fn namespace_label_selectors_are_translated() {
        let m = acme();
        assert_eq!(translate_label_selector("", "namespaces", &m).unwrap(), "");
        assert_eq!(
            translate_label_selector("kubernetes.io/metadata.name in (prod,dev),team=a", "namespaces", &m).unwrap(),
            "team=a,vcproxy.io/virtual-name in (dev,prod)"
        );
        assert_eq!(
            translate_label_selector("!kubernetes.io/metadata.name", "namespaces", &m).unwrap(),
            "!vcproxy.io/virtual-name"
        );
        assert!(translate_label_selector("vcproxy.io/virtual-name=x", "namespaces", &m).is_err());
    }
}
