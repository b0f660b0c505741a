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
                    let a = self.array(depth)?;
                    self.push(&mut nodes, a)?;
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

    fn array(&mut self, depth: usize) -> Result<Node, String> {
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
            return Ok(Node::Union(union));
        }
        if text.len() >= 2 && text.starts_with('\'') && text.ends_with('\'') && !text[1..text.len() - 1].contains('\'')
        {
            return Ok(Node::Field(text[1..text.len() - 1].to_string()));
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
        Ok(Node::Array { start: start_p, end, step, end_derived })
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
