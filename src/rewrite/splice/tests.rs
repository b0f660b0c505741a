//! Property tests: the splice path against the Value path, on generated elements of every kind
//! in the field table (own and foreign, reserved keys, selectors, wrong types, escapes, odd
//! whitespace, unicode, duplicate keys, invalid JSON), as items, rows and watch events, both
//! one by one and through the streaming rewriters.

use serde_json::{json, Value};

use super::{Outcome, Plan, Splicer};
use crate::rewrite::fields::{self, parse_path, FieldKind, KindFields};
use crate::rewrite::object::tests::{plant, random_object};
use crate::rewrite::object::{rewrite_list_item, rewrite_row, rewrite_with, Disposition};
use crate::rewrite::stream::{ListRewriter, WatchRewriter};
use crate::rewrite::testutil::{acme, push_in_chunks, Rng};
use crate::rewrite::{parse_json, Direction, FixedMapper, Limits, RewriteError};

const TEXTS: &[&str] = &[
    "",
    "x",
    "ünï",
    "日本語",
    "😀 emoji",
    "a\"q\\b/c\n\t",
    "acme--prod",
    "in acme--dev/x and globex--a",
    "\u{7f}",
    "</script>&",
];
const FOREIGN: &[&str] = &["globex--prod", "kube-system", "acme--unknown", "default"];

/// Writes `v` as JSON with random whitespace, escapes and (rarely) duplicate keys or damage.
struct Writer<'r> {
    rng: &'r mut Rng,
    /// Percent chances.
    ws: usize,
    esc: usize,
    dup: usize,
}

impl Writer<'_> {
    fn space(&mut self, out: &mut String) {
        if self.ws > 0 && self.rng.chance(self.ws) {
            for _ in 0..1 + self.rng.below(3) {
                out.push(*self.rng.pick(&[' ', '\n', '\t', '\r']));
            }
        }
    }

    fn string(&mut self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let escape = self.esc > 0 && self.rng.chance(self.esc);
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                '/' if escape => out.push_str("\\/"),
                c if escape => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{:04X}", u));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn value(&mut self, v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                // Numbers spelled another way sometimes: the paths must still agree.
                match (n.as_u64(), self.rng.below(20)) {
                    (Some(u), 0) => out.push_str(&format!("{u}.0")),
                    (Some(u), 1) => out.push_str(&format!("{u}e0")),
                    _ => out.push_str(&n.to_string()),
                }
            }
            Value::String(s) => self.string(s, out),
            Value::Array(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.space(out);
                    self.value(x, out);
                    self.space(out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                let mut first = true;
                for (k, x) in m {
                    let times = if self.dup > 0 && self.rng.chance(self.dup) { 2 } else { 1 };
                    for _ in 0..times {
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        self.space(out);
                        self.string(k, out);
                        self.space(out);
                        out.push(':');
                        self.space(out);
                        self.value(x, out);
                        self.space(out);
                    }
                }
                out.push('}');
            }
        }
    }
}

fn text(rng: &mut Rng) -> Value {
    json!(rng.pick(TEXTS))
}

/// A super-view object of `table`'s kind, then roughed up.
fn element(rng: &mut Rng, table: &KindFields, m: &FixedMapper) -> Value {
    let mut v = random_object(rng, table);
    rewrite_with(&mut v, table, Direction::ToSuper, m).expect("generated objects rewrite");
    let o = v.as_object_mut().expect("an object");
    let mut meta = o.shift_remove("metadata").filter(Value::is_object).unwrap_or_else(|| json!({}));
    let md = meta.as_object_mut().expect("checked");
    if rng.chance(25) {
        let field = if table.is_namespaces() { "name" } else { "namespace" };
        md.insert(field.into(), json!(rng.pick(FOREIGN)));
    }
    if rng.chance(30) {
        md.insert("name".into(), text(rng));
    }
    for field in ["labels", "annotations"] {
        if rng.chance(40) {
            let mut map = md.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
            for _ in 0..rng.below(4) {
                let k = *rng.pick(&[
                    "vcproxy.io/tenant",
                    "VCProxy.IO/x",
                    "vcproxy.io/virtual-name",
                    "app",
                    "example.com/y",
                    "kubernetes.io/metadata.name",
                    "vcproxy.iox",
                ]);
                map.insert(k.into(), text(rng));
            }
            md.insert(field.into(), Value::Object(map));
        }
    }
    if rng.chance(20) {
        let odd = [json!(null), json!("x"), json!([]), json!({})];
        md.insert(rng.pick(&["labels", "annotations"]).to_string(), rng.pick(&odd).clone());
    }
    if rng.chance(30) {
        let set = |k: &str| json!({format!("f:{k}"): {}, "f:app": {}});
        let which = rng.pick(&["f:labels", "f:annotations"]).to_string();
        let entry = json!({"manager": "m", "fieldsV1": {"f:metadata": {which: set(*rng.pick(&["vcproxy.io/tenant", "app", "k:{\"x\":1}"]))}}});
        md.insert("managedFields".into(), json!([entry]));
    }
    let at = rng.below(o.len() + 1);
    o.shift_insert(at, "metadata".into(), meta);
    // Wrong types, nulls and odd shapes at the table's own paths.
    if rng.chance(15) {
        let f = rng.pick(&table.fields).clone();
        let odd = [
            json!(5),
            json!(true),
            json!({}),
            json!([]),
            json!(null),
            json!(["x", 1]),
            json!(""),
            json!("Not-A-Label"),
            json!({"matchLabels": 3}),
        ];
        plant(rng, &mut v, &f.segs, &mut |r| r.pick(&odd).clone());
    }
    // Selectors in odd forms: extra keys, reordered, duplicated tenant expressions.
    if rng.chance(20) {
        if let Some(f) = table.fields.iter().find(|f| f.kind == FieldKind::NamespaceSelector) {
            let tenant_expr = json!({"key": "vcproxy.io/tenant", "operator": "In", "values": ["acme"]});
            let reordered = json!({"values": ["acme"], "key": "vcproxy.io/tenant", "operator": "In"});
            let near = json!({"key": "vcproxy.io/tenant", "operator": "In", "values": ["acme", "x"]});
            let sel = json!({
                "matchLabels": {"vcproxy.io/virtual-name": "prod", "team": "a"},
                "matchExpressions": [tenant_expr.clone(), reordered, near, {"key": "vcproxy.io/virtual-name", "operator": "NotIn", "values": []}]
            });
            let both = json!({"matchLabels": {"vcproxy.io/virtual-name": "prod", "kubernetes.io/metadata.name": "x"}});
            let only = json!({"matchExpressions": [tenant_expr.clone(), tenant_expr]});
            let choice = [
                sel,
                both,
                only,
                json!({"matchExpressions": []}),
                json!({"matchExpressions": null, "matchLabels": null}),
            ];
            plant(rng, &mut v, &f.segs, &mut |r| r.pick(&choice).clone());
        }
    }
    if rng.chance(20) {
        plant(rng, &mut v, &parse_path("status.message").unwrap(), &mut text);
    }
    v
}

fn write(rng: &mut Rng, v: &Value) -> String {
    let (ws, esc, dup) =
        (if rng.chance(30) { 20 } else { 0 }, if rng.chance(30) { 10 } else { 0 }, if rng.chance(5) { 5 } else { 0 });
    let mut out = String::new();
    Writer { rng, ws, esc, dup }.value(v, &mut out);
    out
}

/// Sometimes breaks the JSON outright.
fn damage(rng: &mut Rng, s: String) -> Vec<u8> {
    let mut b = s.into_bytes();
    if rng.chance(3) && !b.is_empty() {
        let at = rng.below(b.len());
        match rng.below(3) {
            0 => b.truncate(at),
            1 => b.insert(at, *rng.pick(&[b',', b'"', b'\\', b'}', 0x01, 0xff])),
            _ => b[at] = b'x',
        }
    }
    b
}

#[derive(Default, Debug)]
struct Counts {
    keep: usize,
    drop: usize,
    fallback: usize,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Keep => self.keep += 1,
            Outcome::Drop => self.drop += 1,
            Outcome::Fallback => self.fallback += 1,
            Outcome::Cut => unreachable!("only for a part of an element"),
        }
    }
}

/// The splice outcome agrees with the Value path's (which may only be more general).
fn agree(
    what: &str,
    o: Outcome,
    splicer: &mut Splicer,
    bytes: &[u8],
    value_path: Result<(Disposition, Value), RewriteError>,
) {
    let show = || String::from_utf8_lossy(bytes).into_owned();
    match (o, value_path) {
        (Outcome::Fallback, _) => {}
        (Outcome::Keep, Ok((Disposition::Keep, want))) => {
            let mut out = Vec::new();
            splicer.write(bytes, &mut out);
            let got: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
                panic!("{what}: spliced output is not JSON ({e}): {}\nfrom {}", String::from_utf8_lossy(&out), show())
            });
            assert_eq!(got, want, "{what}: {}", show());
        }
        (Outcome::Drop, Ok((Disposition::Drop, _))) => {}
        (o, vp) => panic!("{what}: splice says {o:?}, the Value path {:?}\n{}", vp.map(|(d, _)| d), show()),
    }
}

#[test]
fn items_rows_and_events_agree_with_the_value_path() {
    let m = acme();
    let mut rng = Rng(0x5eed_5011ce);
    let kinds = fields::all_kinds();
    let fallback_table = fields::fields_for("example.com", "widgets");
    let (mut items, mut rows, mut events) = (Counts::default(), Counts::default(), Counts::default());
    let mut splicer = Splicer::default();
    for case in 0..12_000 {
        let table = if rng.chance(5) { fallback_table } else { &kinds[rng.below(kinds.len())] };
        let plan = Plan::new(table);
        // RBAC bindings (subjects are translated as a whole object) always take the Value path.
        let subjects = table.fields.iter().any(|f| f.kind == FieldKind::Subject);
        assert_eq!(plan.usable, !subjects, "{}/{}", table.group, table.resource);
        let obj = element(&mut rng, table, &m);
        let what = format!("case {case} {}/{}", table.group, table.resource);

        // As a list item.
        let json = write(&mut rng, &obj);
        let bytes = damage(&mut rng, json);
        let o = splicer.item(&plan, &bytes, &m);
        items.add(o);
        let vp = parse_json(&bytes)
            .and_then(|mut v| rewrite_list_item(&mut v, table, false, Direction::ToVirtual, &m).map(|d| (d, v)));
        agree(&format!("{what} item"), o, &mut splicer, &bytes, vp);

        // As a Table row (the object is sometimes absent or metadata only).
        let mut row = json!({"cells": [obj["metadata"]["name"].clone(), text(&mut rng), "acme--prod, globex--x", 3]});
        match rng.below(4) {
            0 => {}
            1 => row["object"] = Value::Null,
            2 => row["object"] = json!({"kind": "PartialObjectMetadata", "metadata": obj["metadata"].clone()}),
            _ => row["object"] = obj.clone(),
        }
        let name_col = *rng.pick(&[Some(0), None, Some(1)]);
        let without = rng.chance(50);
        let json = write(&mut rng, &row);
        let bytes = damage(&mut rng, json);
        let o = splicer.row(&plan, &bytes, &m, name_col, without);
        rows.add(o);
        let vp = parse_json(&bytes).and_then(|mut v| rewrite_row(&mut v, table, &m, name_col, without).map(|d| (d, v)));
        agree(&format!("{what} row"), o, &mut splicer, &bytes, vp);

        // As a watch event, through the rewriter with and without splicing.
        let mut ev_obj = obj.clone();
        if rng.chance(10) {
            ev_obj["kind"] = json!(*rng.pick(&["Status", "Table", "PodList", "Pod", "K\\ind"]));
        }
        let ev = json!({"type": *rng.pick(&["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]), "object": ev_obj});
        let json = write(&mut rng, &ev);
        let bytes = damage(&mut rng, json);
        if bytes.first() == Some(&b'{') {
            events.add(splicer.event(&plan, &bytes, &m));
        }
        let run = |splice: bool| {
            let mut w = WatchRewriter::new(table.group, table.resource, Direction::ToVirtual, &m).splice(splice);
            let mut out = Vec::new();
            w.push(&bytes, &mut out).and_then(|_| w.finish(&mut out)).map(|_| (out, w.dropped()))
        };
        match (run(true), run(false)) {
            (Ok((a, da)), Ok((b, db))) => {
                assert_eq!(da, db, "{what} event dropped");
                assert!(
                    a.iter().filter(|&&c| c == b'\n').count() == a.len().min(1) && (a.is_empty() || a.ends_with(b"\n")),
                    "{what}: one line per event"
                );
                let parse = |o: &[u8]| (!o.is_empty()).then(|| serde_json::from_slice::<Value>(o).unwrap());
                assert_eq!(parse(&a), parse(&b), "{what} event: {}", String::from_utf8_lossy(&bytes));
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{what} event error"),
            (a, b) => panic!(
                "{what} event: splice {:?} vs Value path {:?}\n{}",
                a.map(|x| x.1),
                b.map(|x| x.1),
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
    eprintln!("items {items:?}\nrows {rows:?}\nevents {events:?}");
    // The fast path must actually be taken, for keeping and for dropping.
    for (what, c) in [("items", &items), ("rows", &rows), ("events", &events)] {
        assert!(c.keep > 1000 && c.drop > 300, "{what}: {c:?}");
    }
}

#[test]
fn single_objects_agree_with_the_value_path() {
    let m = acme();
    let mut rng = Rng(0x0b1ec7);
    let kinds = fields::all_kinds();
    let (mut spliced, mut dropped, mut others) = (0, 0, 0);
    for case in 0..6_000 {
        let table = &kinds[rng.below(kinds.len())];
        let mut obj = element(&mut rng, table, &m);
        // What a GET, create, update or patch answers: the object with its kind, and sometimes
        // something else that must take the Value path (a Status, a Table, a list).
        obj["kind"] = json!(table.kind);
        if rng.chance(10) {
            obj["kind"] = json!(*rng.pick(&["Status", "Table", "PodList", "PartialObjectMetadata", "K\\ind"]));
        }
        let text = write(&mut rng, &obj);
        let bytes = damage(&mut rng, text);
        let what = format!("case {case} {}/{}", table.group, table.resource);
        let got = crate::rewrite::rewrite_single_body(&bytes, table.group, table.resource, &m);
        let want = crate::rewrite::rewrite_body(&bytes, table.group, table.resource, Direction::ToVirtual, &m);
        match (got, want) {
            (Ok(Some(a)), Ok(Some(b))) => {
                let a: Value = serde_json::from_slice(&a).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
                assert_eq!(a, serde_json::from_slice::<Value>(&b).unwrap(), "{what}: {}", String::from_utf8_lossy(&bytes));
                spliced += 1;
            }
            (Ok(None), Ok(None)) => dropped += 1,
            (Err(_), Err(_)) => others += 1,
            (a, b) => panic!("{what}: splice {a:?} vs Value path {b:?}\n{}", String::from_utf8_lossy(&bytes)),
        }
    }
    eprintln!("single objects: kept {spliced}, dropped {dropped}, errors {others}");
    assert!(spliced > 1000 && dropped > 300, "kept {spliced}, dropped {dropped}");
}

/// The fast path is taken for a plain object, and never for a Status or a Table.
#[test]
fn single_objects_take_the_splice_path_only_when_they_are_the_kind() {
    let m = acme();
    let plan = Plan::new(fields::fields_for("", "configmaps"));
    let cm = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"acme--prod"},"data":{"k":"v"}}"#;
    assert_eq!(Splicer::default().object(&plan, cm, &m), Outcome::Keep);
    let foreign = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"globex--prod"}}"#;
    assert_eq!(Splicer::default().object(&plan, foreign, &m), Outcome::Drop);
    for other in [
        &br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"acme--prod"}"#[..],
        br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":[]}"#,
        br#"{"kind":"ConfigMapList","apiVersion":"v1","items":[]}"#,
        br#"{"apiVersion":"v1","metadata":{"name":"a","namespace":"acme--prod"}}"#,
        br#"{"kind":"ConfigMap","metadata":{"namespace":"acme--prod"}} {}"#,
    ] {
        assert_eq!(Splicer::default().object(&plan, other, &m), Outcome::Fallback, "{}", String::from_utf8_lossy(other));
    }
}

fn feed_list(
    body: &[u8],
    splits: &[usize],
    table: &KindFields,
    splice: bool,
    m: &FixedMapper,
    limits: Limits,
) -> Result<(Vec<u8>, usize), RewriteError> {
    let mut r = ListRewriter::with_limits(table.group, table.resource, Direction::ToVirtual, m, limits).splice(splice);
    let mut out = push_in_chunks(body, splits, |c, o| r.push(c, o))?;
    r.finish(&mut out)?;
    Ok((out, r.dropped()))
}

#[test]
fn lists_and_tables_stream_the_same_with_and_without_splicing() {
    let m = acme();
    let mut rng = Rng(0x11575);
    let kinds = fields::all_kinds();
    for case in 0..1500 {
        let table = &kinds[rng.below(kinds.len())];
        let n = rng.below(6);
        let rows = rng.chance(30);
        let mut elems = Vec::new();
        for _ in 0..n {
            let obj = element(&mut rng, table, &m);
            let e = if rows {
                json!({"cells": [obj["metadata"]["name"].clone(), "acme--dev"], "object": obj})
            } else {
                obj
            };
            elems.push(write(&mut rng, &e));
        }
        let head = if rows {
            r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1"},"columnDefinitions":[{"name":"Name"},{"name":"X"}],"rows":["#
        } else {
            r#"{"kind":"SomeList","apiVersion":"v1","metadata":{"resourceVersion":"1","remainingItemCount":2},"items":["#
        };
        let body = damage(&mut rng, format!("{head}{}]}}", elems.join(" , ")));
        let splits: Vec<usize> = {
            let mut s: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(body.len() + 1)).collect();
            s.sort();
            s
        };
        let limits = if rng.chance(10) { Limits { max_element: 2000, max_depth: 8 } } else { Limits::default() };
        let what = format!("case {case} {}/{}", table.group, table.resource);
        match (feed_list(&body, &splits, table, true, &m, limits), feed_list(&body, &splits, table, false, &m, limits))
        {
            (Ok((a, da)), Ok((b, db))) => {
                assert_eq!(da, db, "{what} dropped");
                let (a, b): (Value, Value) = (serde_json::from_slice(&a).unwrap(), serde_json::from_slice(&b).unwrap());
                assert_eq!(a, b, "{what}: {}", String::from_utf8_lossy(&body));
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{what}"),
            (a, b) => panic!(
                "{what}: splice {:?} vs Value path {:?}\n{}",
                a.map(|x| x.1),
                b.map(|x| x.1),
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

#[test]
fn compact_canonical_input_comes_out_byte_identical() {
    // What the apiserver sends (compact, serde-canonical): the splice output is the Value
    // path's byte for byte, so clients see no difference at all.
    let m = acme();
    let mut rng = Rng(99);
    let kinds = fields::all_kinds();
    let mut splicer = Splicer::default();
    let mut counts = Counts::default();
    for _ in 0..3000 {
        let table = &kinds[rng.below(kinds.len())];
        let plan = Plan::new(table);
        let obj = element(&mut rng, table, &m);
        let bytes = serde_json::to_vec(&obj).unwrap();
        let mut v = obj.clone();
        let d = rewrite_list_item(&mut v, table, false, Direction::ToVirtual, &m);
        let o = splicer.item(&plan, &bytes, &m);
        // RBAC bindings always take the Value path (see above); the ratio is about the rest.
        if plan.usable {
            counts.add(o);
        }
        match (o, d) {
            (Outcome::Keep, Ok(Disposition::Keep)) => {
                let mut out = Vec::new();
                splicer.write(&bytes, &mut out);
                assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&v).unwrap());
            }
            (Outcome::Drop, Ok(Disposition::Drop)) | (Outcome::Fallback, _) => {}
            (o, d) => panic!("{o:?} vs {d:?}"),
        }
    }
    // Only the deliberately odd ones (wrong types, escaped selector strings…) fall back.
    assert!(counts.fallback * 3 < counts.keep + counts.drop, "{counts:?}");
}

#[test]
fn hand_picked_cases() {
    let m = acme();
    let mut splicer = Splicer::default();
    let pods = Plan::new(fields::fields_for("", "pods"));
    let item = |s: &mut Splicer, plan: &Plan, b: &str| {
        let o = s.item(plan, b.as_bytes(), &m);
        let mut out = Vec::new();
        if o == Outcome::Keep {
            s.write(b.as_bytes(), &mut out);
        }
        (o, String::from_utf8(out).unwrap())
    };
    // Mapped, reserved keys removed (and the emptied map), the rest byte for byte.
    assert_eq!(
        item(
            &mut splicer,
            &pods,
            r#"{"metadata":{"labels":{"vcproxy.io/a":"1"},"namespace":"acme--prod","annotations":{"x":"1","VCPROXY.io/b":"2","y":"3"}},"spec":{"x": [1, 2]}}"#
        ),
        (
            Outcome::Keep,
            r#"{"metadata":{"namespace":"prod","annotations":{"x":"1","y":"3"}},"spec":{"x": [1, 2]}}"#.into()
        )
    );
    assert_eq!(item(&mut splicer, &pods, r#"{"metadata":{"namespace":"globex--prod"}}"#).0, Outcome::Drop);
    // Dropped only once known to be valid: a duplicate key goes to the Value path (which errors).
    assert_eq!(
        item(&mut splicer, &pods, r#"{"metadata":{"namespace":"globex--prod"},"a":1,"a":2}"#).0,
        Outcome::Fallback
    );
    assert_eq!(item(&mut splicer, &pods, r#"{"metadata":{"namespace":5}}"#).0, Outcome::Fallback);
    assert_eq!(item(&mut splicer, &pods, r#"{"metadata":{"namespace":"acme--pr\u006fd"}}"#).0, Outcome::Fallback);
    assert_eq!(item(&mut splicer, &pods, r#"{"metadata":{"namespace":"acme--prod","managedFields":[{"fieldsV1":{"f:metadata":{"f:labels":{"f:vcproxy.io/x":{}}}}}]}}"#).0, Outcome::Fallback);
    // A confined selector is unconfined.
    let sel = r#"{"metadata":{"namespace":"acme--dev"},"spec":{"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"namespaceSelector":{"matchLabels":{"vcproxy.io/virtual-name":"prod"},"matchExpressions":[{"key":"vcproxy.io/tenant","operator":"In","values":["acme"]}]},"namespaces":["acme--prod","globex--x",null,""]}]}}}}"#;
    assert_eq!(
        item(&mut splicer, &pods, sel),
        (
            Outcome::Keep,
            r#"{"metadata":{"namespace":"dev"},"spec":{"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"prod"}},"namespaces":["prod","",null,""]}]}}}}"#.into()
        )
    );
    // Namespaces: own name placed, ownership labels removed, the metadata.name label mapped.
    let nss = Plan::new(fields::fields_for("", "namespaces"));
    assert_eq!(
        item(
            &mut splicer,
            &nss,
            r#"{"metadata":{"name":"acme--prod","labels":{"kubernetes.io/metadata.name":"acme--prod","vcproxy.io/tenant":"acme","vcproxy.io/virtual-name":"prod"}}}"#
        ),
        (Outcome::Keep, r#"{"metadata":{"name":"prod","labels":{"kubernetes.io/metadata.name":"prod"}}}"#.into())
    );
    assert_eq!(item(&mut splicer, &nss, r#"{"metadata":{"name":"globex--prod"}}"#).0, Outcome::Drop);
    // Events: bookmarks untouched, Status left to the Value path, pretty ones too.
    let ev = |s: &mut Splicer, b: &str| s.event(&pods, b.as_bytes(), &m);
    assert_eq!(
        ev(&mut splicer, r#"{"type":"BOOKMARK","object":{"metadata":{"namespace":"globex--x"}}}"#),
        Outcome::Keep
    );
    assert_eq!(ev(&mut splicer, r#"{"type":"ADDED","object":{"metadata":{"namespace":"globex--x"}}}"#), Outcome::Drop);
    assert_eq!(
        ev(&mut splicer, r#"{"type":"ERROR","object":{"kind":"Status","message":"acme--x"}}"#),
        Outcome::Fallback
    );
    assert_eq!(ev(&mut splicer, "{\"type\": \"ADDED\",\"object\":{}}"), Outcome::Fallback);
}

#[test]
fn every_cut_of_a_spliced_element_says_cut() {
    // What lets the rewriters keep an element cut by a chunk's end for the next chunk instead
    // of scanning it: a start of an element the splice path takes is always `Cut`.
    let m = acme();
    let mut rng = Rng(0xc07);
    let kinds = fields::all_kinds();
    let mut splicer = Splicer::default();
    let mut checked = 0;
    for _ in 0..600 {
        let table = &kinds[rng.below(kinds.len())];
        let plan = Plan::new(table);
        let obj = element(&mut rng, table, &m);
        let item = write(&mut rng, &obj).into_bytes();
        let event = serde_json::to_vec(&json!({"type": "MODIFIED", "object": obj})).unwrap();
        for (b, is_event) in [(item, false), (event, true)] {
            let full = if is_event { splicer.event(&plan, &b, &m) } else { splicer.item(&plan, &b, &m) };
            if !matches!(full, Outcome::Keep | Outcome::Drop) {
                continue;
            }
            checked += 1;
            for _ in 0..20 {
                let cut = 1 + rng.below(b.len() - 1);
                let (o, _) = if is_event {
                    splicer.event_at(&plan, &b[..cut], &m, false)
                } else {
                    splicer.item_at(&plan, &b[..cut], &m, false)
                };
                assert_eq!(o, Outcome::Cut, "cut at {cut}: {}", String::from_utf8_lossy(&b));
            }
            // And the whole of it, followed by anything, is the element.
            let mut more = b.clone();
            more.extend_from_slice(b",{\"x\"");
            let (o, n) = if is_event {
                splicer.event_at(&plan, &more, &m, false)
            } else {
                splicer.item_at(&plan, &more, &m, false)
            };
            assert_eq!((o, n), (full, b.len()));
        }
    }
    assert!(checked > 500, "{checked}");
}

/// Every table the field table hands out has its compiled plan, the same as a fresh one.
#[test]
fn every_table_has_a_cached_plan() {
    let fallback = fields::fields_for("example.com", "widgets");
    for table in fields::all_kinds().iter().chain([fallback]) {
        let (cached, fresh) = (Plan::of(table), Plan::new(table));
        assert_eq!(cached.usable, fresh.usable, "{}/{}", table.group, table.resource);
        assert_eq!(format!("{:?}", cached.root), format!("{:?}", fresh.root), "{}/{}", table.group, table.resource);
    }
    assert!(std::ptr::eq(Plan::of(fields::fields_for("", "pods")), Plan::of(fields::fields_for("", "pods"))));
}
