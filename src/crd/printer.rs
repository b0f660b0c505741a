//! `kubectl get` Tables for tenant custom resources, from a CRD version's
//! `additionalPrinterColumns`, as kube-apiserver's CRD table convertor builds them
//! (pinned v1.37.2).
//!
//! - Columns: `Name` first, then each printer column; a CRD without columns gets
//!   kube's default `Age` column (`.metadata.creationTimestamp`, type `date`).
//! - Cells are found with client-go's JSONPath (`{<jsonPath>}`, missing keys
//!   allowed; the subset CRDs use: fields, `['key']`, `[i]`, `[a:b]`, `[*]`, `..`,
//!   unions and `[?(@.a=="x")]` filters) and typed as kube does: `integer`
//!   truncates numbers, `number` widens integers, `string` prints any value (JSON
//!   for objects and arrays), `date` becomes the human age kube prints (`5m10s`,
//!   `<unknown>`, `<invalid>`); a missing value is `null`.
//! - `IncludeObject`: `Metadata` (kube's default) embeds a `PartialObjectMetadata`,
//!   `Object` the object, `None` nothing.
//!
//! The caller sets `metadata.resourceVersion` / `continue` of the returned Table.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::schema::{days_from_civil, go_float, go_json};

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// What each row's `object` carries (`?includeObject=` of `application/json;as=Table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parse the `includeObject` query parameter (empty means `Metadata`).
    pub fn from_query(v: Option<&str>) -> Result<Self, String> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!("unknown includeObject query parameter {other:?}")),
        }
    }
}

/// kube's default columns for a CRD version without `additionalPrinterColumns`.
pub fn default_columns() -> Vec<Value> {
    vec![json!({
        "name": "Age",
        "type": "date",
        "description": CREATION_TIMESTAMP_DESCRIPTION,
        "jsonPath": ".metadata.creationTimestamp",
    })]
}

struct Column {
    definition: Value,
    ty: String,
    path: JsonPath,
}

/// Columns in table order. Like kube, a column whose JSONPath does not parse ends
/// the list (it and the columns after it are dropped).
fn columns(cols: &[Value]) -> Vec<Column> {
    let defaults;
    let cols = if cols.is_empty() {
        defaults = default_columns();
        &defaults[..]
    } else {
        cols
    };
    let mut out = Vec::new();
    for c in cols {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let jp = s("jsonPath");
        let Ok(path) = JsonPath::parse(&jp) else { break };
        let description = match s("description") {
            d if d.is_empty() => format!("Custom resource definition column (in JSONPath format): {jp}"),
            d => d,
        };
        let priority = c.get("priority").and_then(Value::as_i64).unwrap_or(0);
        out.push(Column {
            definition: json!({
                "name": s("name"),
                "type": s("type"),
                "format": s("format"),
                "description": description,
                "priority": priority,
            }),
            ty: s("type"),
            path,
        });
    }
    out
}

/// The `meta.k8s.io/v1` `Table` for `objects` (the items of a list, or one object).
/// `now_rfc3339` is the server time `date` columns are aged against.
pub fn table(columns_def: &[Value], objects: &[Value], include_object: IncludeObject, now_rfc3339: &str) -> Value {
    let cols = columns(columns_def);
    let mut definitions = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": NAME_DESCRIPTION,
        "priority": 0,
    })];
    definitions.extend(cols.iter().map(|c| c.definition.clone()));
    let now = parse_rfc3339(now_rfc3339);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let mut cells = vec![Value::from(name)];
            for c in &cols {
                cells.push(cell(c, obj, now));
            }
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Object => obj.clone(),
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn cell(c: &Column, obj: &Value, now: Option<i128>) -> Value {
    let Ok(results) = c.path.find(obj) else { return Value::Null };
    let Some(v) = results.first() else { return Value::Null };
    let v: &Value = v;
    if c.ty == "string" {
        return Value::from(print_text(v));
    }
    match (c.ty.as_str(), v) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().map(|f| f as i64).unwrap_or(0)),
        },
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => Value::from(human_age(s, now)),
        _ => Value::Null,
    }
}

/// client-go `PrintResults` of one value: JSON for objects/arrays, `fmt.Fprint`
/// otherwise, `<no value>` for null.
fn print_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Array(_) | Value::Object(_) => go_json(v),
    }
}

/// Nanoseconds since the Unix epoch of an RFC 3339 time (`time.RFC3339`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok()).flatten()
    };
    let (y, mo, d, h, mi, se) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    let dim = match mo {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if d < 1 || d > dim || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == start {
            return None;
        }
        let frac = &s[start..j.min(start + 9)];
        nanos = frac.parse::<i128>().ok()? * 10i128.pow(9 - frac.len() as u32);
        i = j;
    }
    let offset: i64 = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (n(i + 1..i + 3)?, n(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// `metatable.ConvertToHumanReadableDateType` of a `date` cell.
fn human_age(s: &str, now: Option<i128>) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".into();
    }
    let Some(t) = parse_rfc3339(s) else { return "<invalid>".into() };
    let Some(now) = now else { return "<unknown>".into() };
    human_duration(now - t)
}

/// apimachinery `duration.HumanDuration`.
pub fn human_duration(nanos: i128) -> String {
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / 60_000_000_000;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / 3_600_000_000_000;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

// ---------------------------------------------------------------------------
// JSONPath (client-go util/jsonpath semantics, with allowMissingKeys)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Field(String),
    Wildcard,
    /// `[start:end:step]`, each `(value, known)`; `end_derived` for `[n]`.
    Array {
        start: (i64, bool),
        end: (i64, bool),
        step: (i64, bool),
        end_derived: bool,
    },
    Filter {
        left: Vec<Node>,
        op: String,
        right: Vec<Node>,
    },
    Recursive,
    Union(Vec<Vec<Node>>),
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Identifier(String),
}

/// A parsed client-go JSONPath expression (the part inside `{…}`).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

const MAX_NODES: usize = 1000;

impl JsonPath {
    /// Parse a printer column's `jsonPath` (as kube wraps it: `{<jsonPath>}`).
    pub fn parse(expr: &str) -> Result<JsonPath, String> {
        let mut p = Parser { c: expr.chars().collect(), pos: 0, budget: MAX_NODES };
        let nodes = p.action(0)?;
        Ok(JsonPath { nodes })
    }

    /// All values the path selects in `data` (missing keys select nothing).
    pub fn find<'a>(&self, data: &'a Value) -> Result<Vec<Cow<'a, Value>>, String> {
        eval_list(vec![Cow::Borrowed(data)], &self.nodes, 0)
    }
}

struct Parser {
    c: Vec<char>,
    pos: usize,
    budget: usize,
}

fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'),
    }
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.c.get(self.pos).copied()
    }
    fn rest_starts(&self, s: &str) -> bool {
        let n = s.chars().count();
        self.c.len() >= self.pos + n && self.c[self.pos..self.pos + n].iter().copied().eq(s.chars())
    }
    fn push(&mut self, nodes: &mut Vec<Node>, n: Node) -> Result<(), String> {
        if self.budget == 0 {
            return Err("jsonpath expression too large".into());
        }
        self.budget -= 1;
        nodes.push(n);
        Ok(())
    }

    fn action(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        if depth > 20 {
            return Err("jsonpath expression nests too deeply".into());
        }
        let mut nodes = Vec::new();
        loop {
            if self.rest_starts("[?(") {
                let f = self.filter(depth)?;
                self.push(&mut nodes, f)?;
                continue;
            }
            if self.rest_starts("..") {
                if nodes.last() == Some(&Node::Recursive) {
                    return Err("invalid multiple recursive descent".into());
                }
                self.pos += 2;
                self.push(&mut nodes, Node::Recursive)?;
                if self.peek().is_some_and(|c| c == '_' || c.is_alphanumeric()) {
                    let f = self.field();
                    self.push(&mut nodes, f)?;
                }
                continue;
            }
            let Some(r) = self.peek() else { return Ok(nodes) };
            self.pos += 1;
            match r {
                ' ' | '@' | '$' => {}
                '[' => {
                    for a in self.array(depth)? {
                        self.push(&mut nodes, a)?;
                    }
                }
                '"' | '\'' => {
                    let t = self.quote(r)?;
                    self.push(&mut nodes, t)?;
                }
                '.' => {
                    let f = self.field();
                    self.push(&mut nodes, f)?;
                }
                '+' | '-' | '0'..='9' => {
                    self.pos -= 1;
                    let n = self.number()?;
                    self.push(&mut nodes, n)?;
                }
                c if c == '_' || c.is_alphanumeric() => {
                    self.pos -= 1;
                    let start = self.pos;
                    while !is_terminator(self.peek()) {
                        self.pos += 1;
                    }
                    let word: String = self.c[start..self.pos].iter().collect();
                    let node = match word.as_str() {
                        "true" => Node::Bool(true),
                        "false" => Node::Bool(false),
                        _ => Node::Identifier(word),
                    };
                    self.push(&mut nodes, node)?;
                }
                c => return Err(format!("unrecognized character in action: {c:?}")),
            }
        }
    }

    fn field(&mut self) -> Node {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.pos += 1;
                if let Some(n) = self.peek() {
                    name.push(n);
                    self.pos += 1;
                }
                continue;
            }
            if is_terminator(Some(c)) {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        if name == "*" {
            Node::Wildcard
        } else {
            Node::Field(name)
        }
    }

    fn number(&mut self) -> Result<Node, String> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c == '.' || c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.c[start..self.pos].iter().collect();
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        text.parse::<f64>().map(Node::Float).map_err(|_| format!("cannot parse number {text}"))
    }

    fn quote(&mut self, end: char) -> Result<Node, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else { return Err("unterminated quoted string".into()) };
            self.pos += 1;
            match c {
                '\n' => return Err("unterminated quoted string".into()),
                '\\' => {
                    let Some(e) = self.peek() else { return Err("unterminated quoted string".into()) };
                    self.pos += 1;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                }
                c if c == end => return Ok(Node::Text(out)),
                c => out.push(c),
            }
        }
    }

    /// `[…]`: a union, a `'dict key'` (parsed as `.key`, so dots split it, as
    /// client-go does) or an index/slice.
    fn array(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some('\n') => return Err("unterminated array".into()),
                Some(']') => break,
                _ => self.pos += 1,
            }
        }
        let mut text: String = self.c[start..self.pos].iter().collect();
        self.pos += 1;
        if text == "*" {
            text = ":".into();
        }
        if text.contains(',') {
            let mut union = Vec::new();
            for part in text.split(',') {
                let mut sub = Parser { c: format!("[{}]", part.trim()).chars().collect(), pos: 0, budget: self.budget };
                union.push(sub.action(depth + 1)?);
                self.budget = sub.budget;
            }
            return Ok(vec![Node::Union(union)]);
        }
        if text.len() >= 2 && text.starts_with('\'') && text.ends_with('\'') && !text[1..text.len() - 1].contains('\'')
        {
            let mut sub =
                Parser { c: format!(".{}", &text[1..text.len() - 1]).chars().collect(), pos: 0, budget: self.budget };
            let nodes = sub.action(depth + 1)?;
            self.budget = sub.budget;
            return Ok(nodes);
        }
        // ^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > 3 {
            return Err(format!("invalid array index {text}"));
        }
        let num_ok = |p: &str| p.strip_prefix('-').unwrap_or(p).bytes().all(|b| b.is_ascii_digit());
        if !parts.iter().all(|p| num_ok(p)) {
            return Err(format!("invalid array index {text}"));
        }
        let parse = |p: &str| -> Result<(i64, bool), String> {
            if p.is_empty() {
                Ok((0, false))
            } else {
                p.parse::<i64>().map(|v| (v, true)).map_err(|_| format!("array index {p} is not a number"))
            }
        };
        let start_p = parse(parts[0])?;
        let (end, end_derived) = if parts.len() >= 2 {
            (parse(parts[1])?, false)
        } else if start_p.1 {
            ((start_p.0 + 1, true), true)
        } else {
            ((0, false), false)
        };
        let step = if parts.len() == 3 { parse(parts[2])? } else { (0, false) };
        Ok(vec![Node::Array { start: start_p, end, step, end_derived }])
    }

    fn filter(&mut self, depth: usize) -> Result<Node, String> {
        self.pos += 3;
        let start = self.pos;
        let mut begin = false;
        let mut end = false;
        let mut pair = '"';
        loop {
            let Some(r) = self.peek() else { return Err("unterminated filter".into()) };
            self.pos += 1;
            match r {
                '\n' => return Err("unterminated filter".into()),
                '"' | '\'' => {
                    if !begin {
                        begin = true;
                        pair = r;
                        continue;
                    }
                    if self.c.get(self.pos.wrapping_sub(2)) != Some(&'\\') && r == pair {
                        end = true;
                    }
                }
                ')' if begin == end => break,
                _ => {}
            }
        }
        if self.peek() != Some(']') {
            return Err("unclosed array expect ]".into());
        }
        self.pos += 1;
        let text: String = self.c[start..self.pos - 2].iter().collect();
        // ^([^!<>=]+)([!<>=]+)(.+?)$
        let op_start = text.find(['!', '<', '>', '=']);
        let parsed = op_start.and_then(|i| {
            let op_len = text[i..].find(|c: char| !"!<>=".contains(c)).unwrap_or(text.len() - i);
            let (left, op, right) = (&text[..i], &text[i..i + op_len], &text[i + op_len..]);
            (!left.is_empty() && !right.is_empty()).then(|| (left.to_string(), op.to_string(), right.to_string()))
        });
        let sub = |p: &mut Parser, s: &str| -> Result<Vec<Node>, String> {
            let mut q = Parser { c: s.chars().collect(), pos: 0, budget: p.budget };
            let r = q.action(depth + 1);
            p.budget = q.budget;
            r
        };
        match parsed {
            Some((l, op, r)) => {
                let left = sub(self, &l)?;
                let right = sub(self, &r)?;
                Ok(Node::Filter { left, op, right })
            }
            None => {
                let left = sub(self, &text)?;
                Ok(Node::Filter { left, op: "exists".into(), right: Vec::new() })
            }
        }
    }
}

type Vals<'a> = Vec<Cow<'a, Value>>;

fn sub_value<'a>(v: &Cow<'a, Value>, f: impl Fn(&Value) -> Option<&Value>) -> Option<Cow<'a, Value>> {
    match v {
        Cow::Borrowed(b) => f(b).map(Cow::Borrowed),
        Cow::Owned(o) => f(o).cloned().map(Cow::Owned),
    }
}

fn children<'a>(v: &Cow<'a, Value>) -> Vals<'a> {
    let n = match v.as_ref() {
        Value::Object(o) => o.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    match v.as_ref() {
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            keys.iter().filter_map(|k| sub_value(v, |x| x.get(k))).collect()
        }
        Value::Array(_) => (0..n).filter_map(|i| sub_value(v, |x| x.get(i))).collect(),
        _ => Vec::new(),
    }
}

fn eval_list<'a>(mut cur: Vals<'a>, nodes: &[Node], depth: usize) -> Result<Vals<'a>, String> {
    if depth > 20 {
        return Err("jsonpath evaluation nests too deeply".into());
    }
    for n in nodes {
        cur = walk(cur, n, depth)?;
        if cur.len() > 100_000 {
            return Err("jsonpath selects too many values".into());
        }
    }
    Ok(cur)
}

fn walk<'a>(input: Vals<'a>, node: &Node, depth: usize) -> Result<Vals<'a>, String> {
    match node {
        Node::Text(t) => Ok(vec![Cow::Owned(Value::from(t.as_str()))]),
        Node::Int(i) => Ok(input.iter().map(|_| Cow::Owned(Value::from(*i))).collect()),
        Node::Float(f) => Ok(input.iter().map(|_| Cow::Owned(json!(f))).collect()),
        Node::Bool(b) => Ok(input.iter().map(|_| Cow::Owned(Value::Bool(*b))).collect()),
        Node::Identifier(n) => Err(format!("unrecognized identifier {n}")),
        Node::Field(name) => Ok(input
            .iter()
            .filter(|v| !v.is_null())
            .filter_map(|v| sub_value(v, |x| x.as_object()?.get(name)))
            .collect()),
        Node::Wildcard => Ok(input.iter().filter(|v| !v.is_null()).flat_map(children).collect()),
        Node::Recursive => {
            let mut out = Vec::new();
            recursive(&input, &mut out, 0);
            Ok(out)
        }
        Node::Union(lists) => {
            let mut out = Vec::new();
            for l in lists {
                out.extend(eval_list(input.clone(), l, depth + 1)?);
            }
            Ok(out)
        }
        Node::Array { start, end, step, end_derived } => {
            let mut out = Vec::new();
            for v in &input {
                if v.is_null() {
                    continue;
                }
                let Some(len) = v.as_array().map(|a| a.len() as i64) else {
                    return Err(format!("{} is not array or slice", go_json(v)));
                };
                let mut s = if start.1 { start.0 } else { 0 };
                if s < 0 {
                    s += len;
                }
                let mut e = if end.1 { end.0 } else { len };
                if e < 0 || (e == 0 && *end_derived) {
                    e += len;
                }
                if e == s {
                    return Ok(out);
                }
                if s >= len || s < 0 {
                    return Err(format!("array index out of bounds: index {s}, length {len}"));
                }
                if e > len || e < 0 {
                    return Err(format!("array index out of bounds: index {}, length {len}", e - 1));
                }
                if s > e {
                    return Err(format!("starting index {s} is greater than ending index {e}"));
                }
                let st = if step.1 {
                    if step.0 <= 0 {
                        return Err("step must be > 0".into());
                    }
                    step.0
                } else {
                    1
                };
                let mut i = s;
                while i < e {
                    if let Some(x) = sub_value(v, |a| a.get(i as usize)) {
                        out.push(x);
                    }
                    i += st;
                }
            }
            Ok(out)
        }
        Node::Filter { left, op, right } => {
            let mut out = Vec::new();
            for v in &input {
                if !v.is_array() {
                    return Err(format!("{} is not array or slice and cannot be filtered", go_json(v)));
                }
                for elem in children(v) {
                    let lefts = eval_list(vec![elem.clone()], left, depth + 1);
                    if op == "exists" {
                        if lefts.is_ok_and(|l| !l.is_empty()) {
                            out.push(elem);
                        }
                        continue;
                    }
                    let lefts = lefts?;
                    if lefts.is_empty() {
                        continue;
                    }
                    if lefts.len() > 1 {
                        return Err("can only compare one element at a time".into());
                    }
                    let rights = eval_list(vec![elem.clone()], right, depth + 1)?;
                    if rights.is_empty() {
                        continue;
                    }
                    if rights.len() > 1 {
                        return Err("can only compare one element at a time".into());
                    }
                    if compare(&lefts[0], op, &rights[0])? {
                        out.push(elem);
                    }
                }
            }
            Ok(out)
        }
    }
}

fn recursive<'a>(input: &[Cow<'a, Value>], out: &mut Vals<'a>, depth: usize) {
    if depth > 200 {
        return;
    }
    for v in input {
        if v.is_null() {
            continue;
        }
        let kids = children(v);
        if !kids.is_empty() {
            out.push(v.clone());
            recursive(&kids, out, depth + 1);
        }
    }
}

#[derive(PartialEq, PartialOrd)]
enum Basic<'v> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'v str),
}

fn basic(v: &Value) -> Result<Basic<'_>, String> {
    match v {
        Value::Bool(b) => Ok(Basic::Bool(*b)),
        Value::String(s) => Ok(Basic::Str(s)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Basic::Int(i)),
            None => Ok(Basic::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        _ => Err("invalid type for comparison".into()),
    }
}

/// text/template's comparison functions, as client-go's JSONPath filters use them.
fn compare(l: &Value, op: &str, r: &Value) -> Result<bool, String> {
    let (a, b) = (basic(l)?, basic(r)?);
    let same_kind = std::mem::discriminant(&a) == std::mem::discriminant(&b);
    if !same_kind {
        return Err("incompatible types for comparison".into());
    }
    let eq = a == b;
    let less = || -> Result<bool, String> {
        match (&a, &b) {
            (Basic::Bool(_), _) => Err("invalid type for comparison".into()),
            _ => Ok(a < b),
        }
    };
    match op {
        "==" => Ok(eq),
        "!=" => Ok(!eq),
        "<" => less(),
        "<=" => Ok(less()? || eq),
        ">" => Ok(!(less()? || eq)),
        ">=" => Ok(!less()?),
        other => Err(format!("unrecognized filter operator {other}")),
    }
}

#[cfg(test)]
mod tests {
    //! Expected cells and durations were produced by kube-apiserver v1.37.2's table
    //! convertor and apimachinery's `HumanDuration` on the same inputs.

    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("test JSON parses")
    }

    const NOW: &str = "2026-11-25T22:15:54Z";
    const COLUMNS: &str = r##"[{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec", "description": "the schedule"}, {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}, {"name": "Ratio", "type": "integer", "jsonPath": ".spec.ratio", "format": "int32"}, {"name": "Ratio2", "type": "number", "jsonPath": ".spec.ratio"}, {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"}, {"name": "ReplicasText", "type": "string", "jsonPath": ".spec.replicas"}, {"name": "Big", "type": "string", "jsonPath": ".spec.big"}, {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"}, {"name": "Selector", "type": "string", "jsonPath": ".spec.selector"}, {"name": "Image", "type": "string", "jsonPath": ".spec.image"}, {"name": "Missing", "type": "string", "jsonPath": ".spec.missing"}, {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}, {"name": "Synced", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Synced')].status"}, {"name": "Later", "type": "string", "jsonPath": ".status.conditions[?(@.order>1)].type"}, {"name": "First", "type": "string", "jsonPath": ".status.conditions[0].type"}, {"name": "Last", "type": "string", "jsonPath": ".status.conditions[-1].type"}, {"name": "All", "type": "string", "jsonPath": ".status.conditions[*].type"}, {"name": "App", "type": "string", "jsonPath": ".metadata.labels.app\\.kubernetes\\.io/name"}, {"name": "Tier", "type": "string", "jsonPath": ".metadata.labels['tier']"}, {"name": "Slice", "type": "string", "jsonPath": ".spec.tags[1:2]"}, {"name": "OutOfRange", "type": "string", "jsonPath": ".spec.tags[5]"}, {"name": "LastRun", "type": "date", "jsonPath": ".status.lastRun"}, {"name": "NextRun", "type": "date", "jsonPath": ".status.nextRun"}, {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}, {"name": "Recursive", "type": "string", "jsonPath": "..type"}, {"name": "HasStatus", "type": "string", "jsonPath": ".status.conditions[?(@.status)].type"}, {"name": "Union", "type": "string", "jsonPath": ".spec.tags[0,1]"}]"##;
    const OBJECTS: &str = r##"[{"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a", "namespace": "ns", "creationTimestamp": "2026-11-25T19:15:54Z", "labels": {"app.kubernetes.io/name": "web", "tier": "front"}}, "spec": {"cronSpec": "* * * * */5", "replicas": 3, "ratio": 1.5, "big": 1e+21, "paused": true, "tags": ["x", "y"], "selector": {"b": 1, "a": "<&>"}, "image": null}, "status": {"conditions": [{"type": "Ready", "status": "True", "order": 1}, {"type": "Synced", "status": "False", "order": 2}], "lastRun": "2026-11-15T22:15:54Z", "nextRun": "soon"}}, {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "b", "creationTimestamp": "2025-10-21T22:15:54Z"}, "spec": {"replicas": "three"}, "status": {"conditions": [{"type": 5}]}}, {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c"}}]"##;
    /// The cells kube-apiserver v1.37.2's table convertor produces for OBJECTS.
    const CELLS: &[&str] = &[
        r##"["a", "* * * * */5", 3, 1, 1.5, true, "3", "1e+21", "[\"x\",\"y\"]", "{\"a\":\"\\u003c\\u0026\\u003e\",\"b\":1}", "<no value>", null, "True", "False", "Synced", "Ready", "Synced", "Ready", "web", "front", "y", null, "10d", "<invalid>", "3h", "Ready", "Ready", "x"]"##,
        r##"["b", null, null, null, null, null, "three", null, null, null, null, null, null, null, null, "5", "5", "5", null, null, null, null, null, null, "400d", "5", null, null]"##,
        r##"["c", null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null]"##,
    ];
    const DEFAULT_CELLS: &[&str] = &[r##"["a", "3h"]"##, r##"["b", "400d"]"##, r##"["c", null]"##];
    /// apimachinery `duration.HumanDuration` (nanoseconds → text).
    const HUMAN_DURATIONS: &[(i128, &str)] = &[
        (-5000000000, "<invalid>"),
        (-1500000000, "0s"),
        (0, "0s"),
        (59000000000, "59s"),
        (119000000000, "119s"),
        (120000000000, "2m"),
        (599000000000, "9m59s"),
        (600000000000, "10m"),
        (10740000000000, "179m"),
        (10800000000000, "3h"),
        (28740000000000, "7h59m"),
        (28800000000000, "8h"),
        (169200000000000, "47h"),
        (172800000000000, "2d"),
        (687600000000000, "7d23h"),
        (691200000000000, "8d"),
        (62985600000000000, "729d"),
        (63072000000000000, "2y"),
        (63158400000000000, "2y1d"),
        (252288000000000000, "8y"),
        (630720000000000000, "20y"),
    ];

    #[test]
    fn cells_match_kube_apiserver() {
        let (columns, objects) = (parse(COLUMNS), parse(OBJECTS));
        let columns = columns.as_array().expect("array");
        let objects = objects.as_array().expect("array");
        let t = table(columns, objects, IncludeObject::None, NOW);
        let rows = t["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), CELLS.len());
        for (row, want) in rows.iter().zip(CELLS) {
            assert_eq!(row["cells"], parse(want));
            assert_eq!(row["object"], Value::Null);
        }
        let defs = t["columnDefinitions"].as_array().expect("definitions");
        assert_eq!(defs.len(), columns.len() + 1);
        assert_eq!(
            defs[0],
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0})
        );
        assert_eq!(
            defs[1],
            json!({"name": "Spec", "type": "string", "format": "", "description": "the schedule", "priority": 0})
        );
        assert_eq!(
            defs[2],
            json!({"name": "Replicas", "type": "integer", "format": "",
                   "description": "Custom resource definition column (in JSONPath format): .spec.replicas", "priority": 1})
        );
        assert_eq!(defs[3]["format"], "int32");
        assert_eq!((t["kind"].as_str(), t["apiVersion"].as_str()), (Some("Table"), Some("meta.k8s.io/v1")));
    }

    #[test]
    fn default_age_column_when_the_crd_has_none() {
        let objects = parse(OBJECTS);
        let t = table(&[], objects.as_array().expect("array"), IncludeObject::Metadata, NOW);
        assert_eq!(
            t["columnDefinitions"][1],
            json!({"name": "Age", "type": "date", "format": "", "description": CREATION_TIMESTAMP_DESCRIPTION, "priority": 0})
        );
        for (row, want) in t["rows"].as_array().expect("rows").iter().zip(DEFAULT_CELLS) {
            assert_eq!(row["cells"], parse(want));
        }
    }

    #[test]
    fn row_objects_follow_include_object() {
        let obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x", "uid": "u"}, "spec": {"a": 1}});
        let objects = [obj.clone()];
        let row = |inc| table(&[], &objects, inc, NOW)["rows"][0]["object"].clone();
        assert_eq!(
            row(IncludeObject::Metadata),
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "x", "uid": "u"}})
        );
        assert_eq!(row(IncludeObject::Object), obj);
        assert_eq!(row(IncludeObject::None), Value::Null);
        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(IncludeObject::from_query(Some("")), Ok(IncludeObject::Metadata));
        assert_eq!(IncludeObject::from_query(Some("Object")), Ok(IncludeObject::Object));
        assert_eq!(IncludeObject::from_query(Some("None")), Ok(IncludeObject::None));
        assert!(IncludeObject::from_query(Some("All")).is_err());
    }

    #[test]
    fn an_unparsable_column_ends_the_columns_like_kube() {
        let columns = [
            json!({"name": "A", "type": "string", "jsonPath": ".spec.a"}),
            json!({"name": "Bad", "type": "string", "jsonPath": ".spec[?(@.x"}),
            json!({"name": "After", "type": "string", "jsonPath": ".spec.a"}),
        ];
        let t = table(&columns, &[json!({"metadata": {"name": "x"}, "spec": {"a": "v"}})], IncludeObject::None, NOW);
        assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(2));
        assert_eq!(t["rows"][0]["cells"], json!(["x", "v"]));
    }

    #[test]
    fn human_durations_match_apimachinery() {
        for (nanos, want) in HUMAN_DURATIONS {
            assert_eq!(human_duration(*nanos), *want, "{nanos}ns");
        }
    }

    #[test]
    fn rfc3339_parsing() {
        let z = parse_rfc3339("2024-01-02T03:04:05Z").expect("valid");
        assert_eq!(parse_rfc3339("2024-01-02T04:04:05+01:00"), Some(z));
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05.5Z"), Some(z + 500_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in ["2024-01-02 03:04:05Z", "2024-02-30T00:00:00Z", "2024-01-02T03:04:05", "yesterday", ""] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(human_age("", Some(z)), "<unknown>");
        assert_eq!(human_age("soon", Some(z)), "<invalid>");
        assert_eq!(human_age("2024-01-02T03:04:05Z", Some(z + 90 * 1_000_000_000)), "90s");
    }

    #[test]
    fn json_path_subset() {
        let data = json!({"spec": {"a.b": 1, "list": [10, 20, 30], "m": {"x": {"y": "deep"}}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}});
        let find = |p: &str| -> Vec<Value> {
            JsonPath::parse(p).expect(p).find(&data).expect(p).into_iter().map(|v| v.into_owned()).collect()
        };
        assert_eq!(find(".spec.a\\.b"), [json!(1)]);
        assert_eq!(find(".spec['a.b']"), Vec::<Value>::new()); // client-go splits the key at dots
        assert_eq!(find(".spec.m['x'].y"), [json!("deep")]);
        assert_eq!(find(".spec.list[1]"), [json!(20)]);
        assert_eq!(find(".spec.list[-1]"), [json!(30)]);
        assert_eq!(find(".spec.list[0:2]"), [json!(10), json!(20)]);
        assert_eq!(find(".spec.list[::2]"), [json!(10), json!(30)]);
        assert_eq!(find(".spec.list[*]"), [json!(10), json!(20), json!(30)]);
        assert_eq!(find(".status.conditions[?(@.type==\"Ready\")].status"), [json!("True")]);
        assert_eq!(find(".status.conditions[?(@.status!='True')].type"), [json!("Synced")]);
        assert_eq!(find("..y"), [json!("deep")]);
        assert_eq!(find(".missing.field"), Vec::<Value>::new());
        assert!(JsonPath::parse(".spec.list[9]").expect("parses").find(&data).is_err());
        for bad in [".spec[", ".spec[?(@.a", ".spec[x]", "{.spec}", ".a....b"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_json_paths_and_data_are_bounded() {
        // A long path parses (node budget) or is refused, never recursing without bound.
        let long = ".a".repeat(5000);
        assert!(JsonPath::parse(&long).is_err());
        let nested = format!("{}x{}", "[?(@".repeat(50), ")]".repeat(50));
        assert!(JsonPath::parse(&nested).is_err());
        // Recursive descent over deep data stops; build and drop it without recursion.
        let mut v = json!("leaf");
        for _ in 0..20_000 {
            let mut m = serde_json::Map::new();
            m.insert("k".into(), v);
            v = Value::Object(m);
        }
        let obj = json!({"metadata": {"name": "x"}});
        let mut obj = obj;
        obj["spec"] = v;
        let columns = [
            json!({"name": "K", "type": "string", "jsonPath": "..k"}),
            json!({"name": "S", "type": "string", "jsonPath": ".spec"}),
        ];
        let cells = table(&columns, std::slice::from_ref(&obj), IncludeObject::None, NOW)["rows"][0]["cells"].clone();
        std::thread::Builder::new().stack_size(256 << 20).spawn(move || drop(obj)).unwrap().join().unwrap();
        let s = cells[2].as_str().unwrap_or_default().to_string();
        assert!(s.starts_with(r#"{"k":{"k":"#) && s.len() < 10_000, "{s}");
    }
}
