//! Rewriting one parsed JSON value (an object, a list, a Table or a Status) between views.
//! The streaming rewriters and the patch rewriter call into here, so every path applies the same rules.
//!
//! Rules (the table is [`super::fields`]):
//! - **Namespace fields.** ToSuper: `mapping::to_super` via the mapper; `""`/`null` stay as they
//!   are; anything that is not a DNS-1123 label is refused (422). ToVirtual: `to_virtual`; a value
//!   the tenant does not own drops the object if the field places it (`metadata.namespace`, a
//!   Namespace's `metadata.name`), and is **blanked to `""`** anywhere else — it leaks nothing, and a
//!   write-back of the blank either means "none" or fails the apiserver's validation loudly, never
//!   silently retargets another namespace.
//! - **Namespace selectors.** ToSuper: keys under `vcproxy.io/` are refused; `kubernetes.io/metadata.name`
//!   becomes `vcproxy.io/virtual-name` (whose value is the virtual name); the expression
//!   `{key: vcproxy.io/tenant, operator: In, values: [tenant]}` is appended, so even `{}` selects only
//!   the tenant's namespaces. A null/absent `matchExpressions` becomes `[that expression]`.
//!   ToVirtual undoes exactly that; a `matchExpressions` left empty is removed (the apiserver omits
//!   empty lists too, so `[]` and `null` come back absent).
//! - **Labels and annotations** of `metadata` and of nested templates: ToSuper, a `vcproxy.io/` key
//!   is refused (403); ToVirtual, they are removed (and so are their `managedFields` entries); a map
//!   emptied that way is removed, as the apiserver would omit it.
//! - **Namespaces** (`namespaces` resource): ToSuper also sets `vcproxy.io/tenant` and
//!   `vcproxy.io/virtual-name` labels (ownership) and maps the `kubernetes.io/metadata.name` label;
//!   `generateName` without `name` is refused (the generated name could not be mapped).
//! - **ToVirtual only**: `kind: Status` (messages), `kind: Table` (rows, cells), `…List` with
//!   `items`. ToSuper always treats the body as one object of the given resource.
//! - Lists and Tables (whole values and streamed) always lose `metadata.remainingItemCount` on the
//!   way to the tenant: it counts super objects, some of which may be filtered out.

use serde_json::{json, Map, Value};

use super::fields::{self, FieldKind, FieldSpec, KindFields, Placement, Seg};
use super::{is_dns1123_label, is_reserved_key, parse_json, Direction, NamespaceMapper, RewriteError};
use crate::mapping::{self, TENANT_LABEL, VIRTUAL_NAME_LABEL};

/// The label every namespace carries with its own name (kube-apiserver sets it).
pub const METADATA_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// What to do with an object after rewriting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Keep,
    /// ToVirtual only: the object lives outside the tenant's namespaces (filter it out of lists
    /// and watches; a single GET should answer 404).
    Drop,
}

type Result<T> = std::result::Result<T, RewriteError>;

/// Rewrites `obj` in place for `resource` in `group`. Tolerates partial objects (patches).
pub fn rewrite_object(obj: &mut Value, group: &str, resource: &str, dir: Direction, m: &dyn NamespaceMapper) -> Result<Disposition> {
    rewrite_with(obj, fields::fields_for(group, resource), dir, m)
}

/// Parses a small body, rewrites it, serialises it; `None` when the object is dropped.
pub fn rewrite_body(body: &[u8], group: &str, resource: &str, dir: Direction, m: &dyn NamespaceMapper) -> Result<Option<Vec<u8>>> {
    let mut v = parse_json(body)?;
    match rewrite_object(&mut v, group, resource, dir, m)? {
        Disposition::Keep => Ok(Some(serde_json::to_vec(&v).expect("a Value always serialises"))),
        Disposition::Drop => Ok(None),
    }
}

/// A single object from upstream, ToVirtual, as serialised bytes: byte-spliced where the
/// splice path takes it (no `Value` built), else parsed, rewritten and serialised.
/// `None` when the object is not the tenant's.
pub fn rewrite_single_body(body: &[u8], group: &str, resource: &str, m: &dyn NamespaceMapper) -> Result<Option<Vec<u8>>> {
    let table = fields::fields_for(group, resource);
    let plan = super::splice::Plan::of(table);
    let mut splicer = super::splice::Splicer::default();
    match splicer.object(plan, body, m) {
        super::splice::Outcome::Keep => {
            let mut out = Vec::with_capacity(body.len() + 64);
            splicer.write(body, &mut out);
            Ok(Some(out))
        }
        super::splice::Outcome::Drop => Ok(None),
        super::splice::Outcome::Fallback | super::splice::Outcome::Cut => {
            rewrite_body(body, group, resource, Direction::ToVirtual, m)
        }
    }
}

/// [`rewrite_object`] with the table already looked up.
pub(crate) fn rewrite_with(obj: &mut Value, table: &KindFields, dir: Direction, m: &dyn NamespaceMapper) -> Result<Disposition> {
    if dir == Direction::ToVirtual {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        // The streaming rewriter cannot wait for `kind` (it may come last), so a top-level `items`
        // array makes a body a list and a top-level `rows` array a Table, whatever the kind says;
        // decide the same way here, so both give one answer for any body.
        let items = obj.get("items").is_some_and(Value::is_array);
        let rows = obj.get("rows").is_some_and(Value::is_array);
        if items || rows {
            check_list_key_order(obj)?;
            let generic = kind == "List";
            if rows {
                rewrite_table(obj, table, m, false)?;
            }
            let map = obj.as_object_mut().expect("has items or rows");
            if let Some(Value::Array(items)) = map.get_mut("items") {
                retain_rewritten(items, |item| rewrite_list_item(item, table, generic, Direction::ToVirtual, m))?;
            }
            strip_remaining_item_count(map);
            return Ok(Disposition::Keep);
        }
        if kind == "Status" {
            rewrite_status(obj, m);
            return Ok(Disposition::Keep);
        }
        if kind == "Table" && obj.get("rows").is_some() {
            rewrite_table(obj, table, m, false)?;
            return Ok(Disposition::Keep);
        }
    }
    rewrite_single(obj, table, dir, m)
}

/// What the streaming rewriter must know before the elements it rewrites, and so refuses after
/// them: `kind: List` (items carry their own kinds) before `items`, `columnDefinitions` (the Name
/// column) before `rows`. The apiserver always writes them first; the one-object rewriter refuses
/// the other order too, so both paths give the same answer.
pub(crate) fn check_list_key_order(obj: &Value) -> Result<()> {
    let Some(map) = obj.as_object() else { return Ok(()) };
    let at = |key: &str| map.keys().position(|k| k == key);
    let array_at = |key: &str| map.get(key).is_some_and(Value::is_array).then(|| at(key)).flatten();
    if let (Some(items), Some(kind)) = (array_at("items"), at("kind")) {
        if kind > items && map["kind"] == "List" {
            return Err(RewriteError::InvalidJson("a kind: List body must give its kind before its items".into()));
        }
    }
    if let (Some(rows), Some(columns)) = (array_at("rows"), at("columnDefinitions")) {
        if columns > rows {
            return Err(RewriteError::InvalidJson("a Table must give its columnDefinitions before its rows".into()));
        }
    }
    Ok(())
}

/// One item of a list: typed lists use the list's table; a generic `kind: List` uses each item's own kind.
pub(crate) fn rewrite_list_item(item: &mut Value, table: &KindFields, generic: bool, dir: Direction, m: &dyn NamespaceMapper) -> Result<Disposition> {
    if generic {
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("");
        let group = fields::group_of(item.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
        if !kind.is_empty() {
            return rewrite_single(item, fields::fields_for_kind(group, kind), dir, m);
        }
    }
    rewrite_single(item, table, dir, m)
}

fn retain_rewritten(items: &mut Vec<Value>, mut f: impl FnMut(&mut Value) -> Result<Disposition>) -> Result<()> {
    let mut err = None;
    items.retain_mut(|it| {
        if err.is_some() {
            return true;
        }
        match f(it) {
            Ok(d) => d == Disposition::Keep,
            Err(e) => {
                err = Some(e);
                true
            }
        }
    });
    err.map_or(Ok(()), Err)
}

pub(crate) fn strip_remaining_item_count(map: &mut Map<String, Value>) {
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.shift_remove("remainingItemCount");
    }
}

/// Rewrites one object (never a list, Table or Status).
pub(crate) fn rewrite_single(obj: &mut Value, table: &KindFields, dir: Direction, m: &dyn NamespaceMapper) -> Result<Disposition> {
    if !obj.is_object() {
        return Ok(Disposition::Keep);
    }
    match dir {
        Direction::ToVirtual => {
            // Placement first: a foreign object is dropped before any other work.
            for f in table.fields.iter().filter(|f| f.placement == Placement::Object) {
                if !apply_field(obj, f, dir, m)? {
                    return Ok(Disposition::Drop);
                }
            }
            let map = obj.as_object_mut().expect("checked");
            if table.is_namespaces() {
                namespace_labels_to_virtual(map, m);
            }
            if let Some(meta) = map.get_mut("metadata") {
                strip_reserved(meta);
            }
            for f in &table.nested_meta {
                walk(obj, &f.segs, &mut Vec::new(), &mut |v, _| {
                    strip_reserved(v);
                    Ok(())
                })?;
            }
        }
        Direction::ToSuper => {
            if let Some(meta) = obj.get("metadata") {
                check_reserved(meta, "metadata")?;
            }
            for f in &table.nested_meta {
                walk(obj, &f.segs, &mut Vec::new(), &mut |v, trail| check_reserved(v, &render(trail)))?;
            }
            if table.is_namespaces() {
                namespace_labels_to_super(obj.as_object_mut().expect("checked"), m)?;
            }
            for f in table.fields.iter().filter(|f| f.placement == Placement::Object) {
                apply_field(obj, f, dir, m)?;
            }
        }
    }
    for f in table.fields.iter().filter(|f| f.placement == Placement::Reference) {
        apply_field(obj, f, dir, m)?;
    }
    Ok(Disposition::Keep)
}

/// Applies one table field wherever its path matches. Returns false when a ToVirtual
/// object-placement value is not the tenant's (drop the object).
fn apply_field(obj: &mut Value, f: &FieldSpec, dir: Direction, m: &dyn NamespaceMapper) -> Result<bool> {
    let mut owned = true;
    walk(obj, &f.segs, &mut Vec::new(), &mut |v, trail| {
        match f.kind {
            FieldKind::Namespace => owned &= map_namespace(v, dir, m, f.placement, trail)?,
            FieldKind::NamespaceList => match v {
                Value::Null => {}
                Value::Array(xs) => {
                    for (i, x) in xs.iter_mut().enumerate() {
                        trail.push(Step::Index(i));
                        map_namespace(x, dir, m, Placement::Reference, trail)?;
                        trail.pop();
                    }
                }
                _ => return Err(RewriteError::WrongType { path: render(trail), expected: "an array of namespace names" }),
            },
            FieldKind::NamespaceSelector => match v {
                Value::Null => {}
                Value::Object(sel) => match dir {
                    Direction::ToSuper => selector_to_super(sel, m.tenant(), trail)?,
                    Direction::ToVirtual => selector_to_virtual(sel, m.tenant()),
                },
                _ => return Err(RewriteError::WrongType { path: render(trail), expected: "a label selector object" }),
            },
            FieldKind::Subject => map_subject(v, dir, m, trail)?,
            FieldKind::RoleRef => map_role_ref(v, dir, m.tenant()),
        }
        Ok(())
    })?;
    Ok(owned)
}

/// A step of the concrete path being visited, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

pub(crate) fn render(trail: &[Step]) -> String {
    let mut s = String::new();
    for st in trail {
        match st {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Calls `f` on every value at `segs` below `v` (skipping what is missing or of another shape).
pub(crate) fn walk<'s>(
    v: &mut Value,
    segs: &'s [Seg],
    trail: &mut Vec<Step<'s>>,
    f: &mut dyn FnMut(&mut Value, &mut Vec<Step<'s>>) -> Result<()>,
) -> Result<()> {
    match segs.split_first() {
        None => f(v, trail),
        Some((Seg::Key(k), rest)) => {
            if let Some(child) = v.as_object_mut().and_then(|o| o.get_mut(k.as_str())) {
                trail.push(Step::Key(k));
                walk(child, rest, trail, f)?;
                trail.pop();
            }
            Ok(())
        }
        Some((Seg::Each, rest)) => {
            if let Some(xs) = v.as_array_mut() {
                for (i, x) in xs.iter_mut().enumerate() {
                    trail.push(Step::Index(i));
                    walk(x, rest, trail, f)?;
                    trail.pop();
                }
            }
            Ok(())
        }
    }
}

/// Maps one namespace value. Returns false for a ToVirtual object placement the tenant does not own.
fn map_namespace(v: &mut Value, dir: Direction, m: &dyn NamespaceMapper, placement: Placement, trail: &[Step]) -> Result<bool> {
    let s = match v {
        Value::Null => return Ok(true),
        Value::String(s) => s,
        _ => return Err(RewriteError::WrongType { path: render(trail), expected: "a namespace name (a string)" }),
    };
    if s.is_empty() {
        return Ok(true);
    }
    match dir {
        Direction::ToSuper => {
            if !is_dns1123_label(s) {
                return Err(RewriteError::InvalidNamespace { path: render(trail), value: s.clone() });
            }
            *s = m.to_super(s);
            Ok(true)
        }
        Direction::ToVirtual => match m.to_virtual(s) {
            Some(x) => {
                *s = x;
                Ok(true)
            }
            None if placement == Placement::Object => Ok(false),
            None => {
                s.clear();
                Ok(true)
            }
        },
    }
}

/// Translates one RBAC subject's name (see `subjects.rs`): refused on the way up when it names
/// an identity outside the tenant, blanked on the way down when it is one.
fn map_subject(v: &mut Value, dir: Direction, m: &dyn NamespaceMapper, trail: &[Step]) -> Result<()> {
    // Anything but `{kind: "...", name: "..."}` is left to the apiserver, which refuses it.
    let Value::Object(subject) = v else { return Ok(()) };
    let Some(kind) = subject.get("kind").and_then(Value::as_str).map(str::to_string) else { return Ok(()) };
    let Some(Value::String(name)) = subject.get_mut("name") else { return Ok(()) };
    match dir {
        Direction::ToSuper => {
            *name = crate::subjects::to_super(&kind, name, m)
                .map_err(|reason| RewriteError::InvalidSubject { path: format!("{}.name", render(trail)), reason })?;
        }
        Direction::ToVirtual => *name = crate::subjects::to_virtual(&kind, name, m).unwrap_or_default(),
    }
    Ok(())
}

/// A RoleBinding's reference to a ClusterRole, between the tenant's names and the super master's.
fn map_role_ref(v: &mut Value, dir: Direction, tenant: &str) {
    let Value::Object(role_ref) = v else { return };
    if role_ref.get("kind").and_then(Value::as_str) != Some("ClusterRole") {
        return;
    }
    let Some(Value::String(name)) = role_ref.get_mut("name") else { return };
    *name = match dir {
        Direction::ToSuper => crate::cluster_rbac::role_ref_to_super(tenant, name),
        Direction::ToVirtual => crate::cluster_rbac::role_ref_to_virtual(tenant, name),
    };
}

/// The expression that confines a namespace selector to one tenant.
pub fn tenant_expression(tenant: &str) -> Value {
    json!({"key": TENANT_LABEL, "operator": "In", "values": [tenant]})
}

fn selector_to_super(sel: &mut Map<String, Value>, tenant: &str, trail: &[Step]) -> Result<()> {
    let at = |what: &str| format!("{}.{what}", render(trail));
    match sel.get_mut("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            if let Some(k) = labels.keys().find(|k| is_reserved_key(k)) {
                return Err(RewriteError::Reserved { place: format!("namespace selector {}", at("matchLabels")), key: k.clone() });
            }
            if labels.contains_key(METADATA_NAME_LABEL) {
                *labels = std::mem::take(labels)
                    .into_iter()
                    .map(|(k, v)| if k == METADATA_NAME_LABEL { (VIRTUAL_NAME_LABEL.to_string(), v) } else { (k, v) })
                    .collect();
            }
        }
        Some(_) => return Err(RewriteError::WrongType { path: at("matchLabels"), expected: "an object" }),
    }
    let exprs = sel.entry("matchExpressions").or_insert(Value::Null);
    if exprs.is_null() {
        *exprs = Value::Array(Vec::new());
    }
    let Value::Array(exprs) = exprs else {
        return Err(RewriteError::WrongType { path: at("matchExpressions"), expected: "an array" });
    };
    for (i, e) in exprs.iter_mut().enumerate() {
        let Some(key) = e.as_object_mut().and_then(|o| o.get_mut("key")) else {
            return Err(RewriteError::WrongType { path: format!("{}[{i}]", at("matchExpressions")), expected: "an object with a key" });
        };
        let Value::String(key) = key else {
            return Err(RewriteError::WrongType { path: format!("{}[{i}].key", at("matchExpressions")), expected: "a string" });
        };
        if is_reserved_key(key) {
            return Err(RewriteError::Reserved { place: format!("namespace selector {}[{i}]", at("matchExpressions")), key: key.clone() });
        }
        if key == METADATA_NAME_LABEL {
            *key = VIRTUAL_NAME_LABEL.to_string();
        }
    }
    exprs.push(tenant_expression(tenant));
    Ok(())
}

fn selector_to_virtual(sel: &mut Map<String, Value>, tenant: &str) {
    if let Some(Value::Object(labels)) = sel.get_mut("matchLabels") {
        if labels.contains_key(VIRTUAL_NAME_LABEL) {
            *labels = std::mem::take(labels)
                .into_iter()
                .map(|(k, v)| if k == VIRTUAL_NAME_LABEL { (METADATA_NAME_LABEL.to_string(), v) } else { (k, v) })
                .collect();
        }
    }
    let mut emptied = false;
    if let Some(Value::Array(exprs)) = sel.get_mut("matchExpressions") {
        let ours = tenant_expression(tenant);
        let before = exprs.len();
        exprs.retain(|e| *e != ours);
        emptied = exprs.is_empty() && before > 0;
        for e in exprs.iter_mut() {
            if let Some(Value::String(k)) = e.as_object_mut().and_then(|o| o.get_mut("key")) {
                if k == VIRTUAL_NAME_LABEL {
                    *k = METADATA_NAME_LABEL.to_string();
                }
            }
        }
    }
    if emptied {
        sel.shift_remove("matchExpressions");
    }
}

/// ToSuper: refuses reserved keys in `meta.labels` / `meta.annotations` (meta is an ObjectMeta).
fn check_reserved(meta: &Value, at: &str) -> Result<()> {
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = meta.get(field) {
            if let Some(k) = map.keys().find(|k| is_reserved_key(k)) {
                return Err(RewriteError::Reserved { place: format!("{at}.{field}"), key: k.clone() });
            }
        }
    }
    Ok(())
}

/// ToVirtual: removes reserved labels and annotations (and their managedFields entries).
fn strip_reserved(meta: &mut Value) {
    let Value::Object(meta) = meta else { return };
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = meta.get_mut(field) {
            let before = map.len();
            map.retain(|k, _| !is_reserved_key(k));
            if map.is_empty() && before > 0 {
                meta.shift_remove(field);
            }
        }
    }
    if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
        entries.retain_mut(|entry| {
            let Some(fields_v1) = entry.get_mut("fieldsV1").and_then(Value::as_object_mut) else { return true };
            let Some(Value::Object(fmeta)) = fields_v1.get_mut("f:metadata") else { return true };
            let mut removed = false;
            for field in ["f:labels", "f:annotations"] {
                if let Some(Value::Object(set)) = fmeta.get_mut(field) {
                    let before = set.len();
                    set.retain(|k, _| !k.strip_prefix("f:").map_or(false, is_reserved_key));
                    if set.len() != before {
                        removed = true;
                        if set.is_empty() {
                            fmeta.shift_remove(field);
                        }
                    }
                }
            }
            if removed && fmeta.is_empty() {
                fields_v1.shift_remove("f:metadata");
            }
            !(removed && fields_v1.is_empty())
        });
    }
}

/// ToSuper for a Namespace: ownership labels, the metadata.name label, no generateName.
fn namespace_labels_to_super(obj: &mut Map<String, Value>, m: &dyn NamespaceMapper) -> Result<()> {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else { return Ok(()) };
    let name = meta.get("name").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    if name.is_none() && meta.get("generateName").and_then(Value::as_str).map_or(false, |g| !g.is_empty()) {
        return Err(RewriteError::InvalidNamespace {
            path: "metadata.generateName".into(),
            value: "generateName is not supported for namespaces in a virtual cluster; set metadata.name".into(),
        });
    }
    if let Some(n) = &name {
        if !is_dns1123_label(n) {
            return Err(RewriteError::InvalidNamespace { path: "metadata.name".into(), value: n.clone() });
        }
    }
    let labels = meta.entry("labels").or_insert(Value::Null);
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let Value::Object(labels) = labels else {
        return Err(RewriteError::WrongType { path: "metadata.labels".into(), expected: "an object" });
    };
    if let Some(v) = labels.get_mut(METADATA_NAME_LABEL) {
        let trail = [Step::Key("metadata"), Step::Key("labels"), Step::Key(METADATA_NAME_LABEL)];
        map_namespace(v, Direction::ToSuper, m, Placement::Reference, &trail)?;
    }
    labels.insert(TENANT_LABEL.to_string(), Value::String(m.tenant().to_string()));
    if let Some(n) = name {
        labels.insert(VIRTUAL_NAME_LABEL.to_string(), Value::String(n));
    }
    Ok(())
}

/// ToVirtual for a Namespace: the `kubernetes.io/metadata.name` label shows the virtual name.
fn namespace_labels_to_virtual(obj: &mut Map<String, Value>, m: &dyn NamespaceMapper) {
    if let Some(Value::String(s)) = obj.get_mut("metadata").and_then(|meta| meta.get_mut("labels")).and_then(|l| l.get_mut(METADATA_NAME_LABEL)) {
        if let Some(v) = m.to_virtual(s) {
            *s = v;
        }
    }
}

/// Replaces super namespace names of this tenant inside free text: tokens `<tenant>--…` and
/// `<tenant>-h-…` bounded by characters that cannot be in a DNS label. Owned ones (per
/// `to_virtual`) are replaced; with `derive`, a short form that is exactly `to_super(tenant, v)`
/// is replaced by `v` even when not (or no longer) owned — "namespaces "acme--dev" not found" is
/// about the tenant's own name, and no other tenant's name can have that shape. Returns None if
/// nothing changed.
pub fn rewrite_tokens(s: &str, m: &dyn NamespaceMapper, derive: bool) -> Option<String> {
    let tenant = m.tenant();
    if tenant.is_empty() || !s.contains(tenant) {
        return None;
    }
    let is_label = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_label(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_label(bytes[i]) {
            i += 1;
        }
        let tok = &s[start..i];
        let Some(rest) = tok.strip_prefix(tenant) else { continue };
        if !(rest.starts_with("--") || rest.starts_with("-h-")) {
            continue;
        }
        let virt = m.to_virtual(tok).or_else(|| {
            if !derive {
                return None;
            }
            match mapping::parse_super(tok)? {
                mapping::Parsed::Short { tenant: t, virtual_ns } if t == tenant && is_dns1123_label(virtual_ns) && mapping::to_super(tenant, virtual_ns) == tok => {
                    Some(virtual_ns.to_string())
                }
                _ => None,
            }
        });
        if let Some(v) = virt {
            out.push_str(&s[copied..start]);
            out.push_str(&v);
            copied = i;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

fn rewrite_string_tokens(v: Option<&mut Value>, m: &dyn NamespaceMapper, derive: bool) {
    if let Some(Value::String(s)) = v {
        if let Some(n) = rewrite_tokens(s, m, derive) {
            *s = n;
        }
    }
}

/// A `metav1.Status`: namespace names in `message`, `details.name` (when the details are about a
/// namespace) and `details.causes[].message`.
fn rewrite_status(obj: &mut Value, m: &dyn NamespaceMapper) {
    rewrite_string_tokens(obj.get_mut("message"), m, true);
    let Some(Value::Object(details)) = obj.get_mut("details") else { return };
    if details.get("kind").and_then(Value::as_str) == Some("namespaces") {
        if let Some(Value::String(name)) = details.get_mut("name") {
            if let Some(v) = rewrite_tokens(name, m, true) {
                *name = v;
            }
        }
    }
    if let Some(Value::Array(causes)) = details.get_mut("causes") {
        for c in causes {
            rewrite_string_tokens(c.get_mut("message"), m, true);
        }
    }
}

/// Index of the Table column named `Name`, if any.
pub(crate) fn name_column(column_definitions: &Value) -> Option<usize> {
    column_definitions.as_array()?.iter().position(|c| c.get("name").and_then(Value::as_str) == Some("Name"))
}

/// A whole Table (ToVirtual); see [`rewrite_row`] for `rows_without_object`.
pub(crate) fn rewrite_table(obj: &mut Value, table: &KindFields, m: &dyn NamespaceMapper, rows_without_object: bool) -> Result<()> {
    let name_col = obj.get("columnDefinitions").and_then(name_column);
    let Some(map) = obj.as_object_mut() else { return Ok(()) };
    if let Some(Value::Array(rows)) = map.get_mut("rows") {
        retain_rewritten(rows, |row| rewrite_row(row, table, m, name_col, rows_without_object))?;
    }
    strip_remaining_item_count(map);
    Ok(())
}

/// One Table row (ToVirtual): its `object` like any object (dropping the row with it); string
/// cells get the Status token treatment (owned names only) except the `Name` column, which is the
/// object's own name — unless the rows are Namespaces, whose name is mapped (and a row whose
/// name the tenant does not own is dropped). A row without an object (`includeObject=None`)
/// cannot be placed, so it is dropped unless `rows_without_object` (the caller knows the
/// request was confined to one of the tenant's namespaces, or the resource is cluster-scoped).
pub(crate) fn rewrite_row(
    row: &mut Value,
    table: &KindFields,
    m: &dyn NamespaceMapper,
    name_col: Option<usize>,
    rows_without_object: bool,
) -> Result<Disposition> {
    let Some(r) = row.as_object_mut() else { return Ok(Disposition::Drop) };
    let placed = match r.get_mut("object") {
        Some(o @ Value::Object(_)) => {
            if rewrite_single(o, table, Direction::ToVirtual, m)? == Disposition::Drop {
                return Ok(Disposition::Drop);
            }
            true
        }
        _ => rows_without_object,
    };
    let mut name_owned = false;
    if let Some(Value::Array(cells)) = r.get_mut("cells") {
        for (i, c) in cells.iter_mut().enumerate() {
            let Value::String(s) = c else { continue };
            if Some(i) == name_col {
                if table.is_namespaces() {
                    match m.to_virtual(s) {
                        Some(v) => {
                            *s = v;
                            name_owned = true;
                        }
                        None => return Ok(Disposition::Drop),
                    }
                }
            } else if let Some(n) = rewrite_tokens(s, m, false) {
                *s = n;
            }
        }
    }
    Ok(if placed || name_owned { Disposition::Keep } else { Disposition::Drop })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rewrite::testutil::{acme, owned_virtuals, Rng};
    use crate::rewrite::FixedMapper;
    use serde_json::json;
    use Direction::{ToSuper, ToVirtual};

    fn up(g: &str, r: &str, mut v: Value) -> Value {
        assert_eq!(rewrite_object(&mut v, g, r, ToSuper, &acme()).unwrap(), Disposition::Keep);
        v
    }
    fn down(g: &str, r: &str, mut v: Value) -> (Disposition, Value) {
        let d = rewrite_object(&mut v, g, r, ToVirtual, &acme()).unwrap();
        (d, v)
    }
    fn confined(v: Value) -> Value {
        let mut v = v;
        let exprs = v.as_object_mut().unwrap().entry("matchExpressions").or_insert(json!([]));
        exprs.as_array_mut().unwrap().push(tenant_expression("acme"));
        v
    }

    /// Table-driven: (group, resource, virtual object, expected super object).
    fn cases() -> Vec<(&'static str, &'static str, Value, Value)> {
        let sel_v = json!({"matchLabels": {"team": "a", "kubernetes.io/metadata.name": "prod"}});
        let sel_s = json!({"matchLabels": {"team": "a", "vcproxy.io/virtual-name": "prod"},
                           "matchExpressions": [{"key": "vcproxy.io/tenant", "operator": "In", "values": ["acme"]}]});
        let term_v = json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone",
                            "namespaces": ["prod", "dev"], "namespaceSelector": {}});
        let term_s = json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone",
                            "namespaces": ["acme--prod", "acme--dev"], "namespaceSelector": confined(json!({}))});
        let affinity = |t: &Value| json!({
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t.clone()]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": t.clone()}]}
        });
        vec![
            (
                "rbac.authorization.k8s.io",
                "rolebindings",
                json!({"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "prod"},
                       "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "dev"},
                                    {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "g", "namespace": ""}],
                       "roleRef": {"kind": "Role", "name": "r"}}),
                json!({"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "acme--prod"},
                       "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "acme--dev"},
                                    {"kind": "User", "name": "vcproxy:acme:bob"}, {"kind": "Group", "name": "vcproxy:group:acme:g", "namespace": ""}],
                       "roleRef": {"kind": "Role", "name": "r"}}),
            ),
            (
                "",
                "events",
                json!({"kind": "Event", "metadata": {"name": "e", "namespace": "prod"},
                       "involvedObject": {"kind": "Pod", "name": "p", "namespace": "prod"},
                       "related": {"kind": "Node", "name": "n"}}),
                json!({"kind": "Event", "metadata": {"name": "e", "namespace": "acme--prod"},
                       "involvedObject": {"kind": "Pod", "name": "p", "namespace": "acme--prod"},
                       "related": {"kind": "Node", "name": "n"}}),
            ),
            (
                "events.k8s.io",
                "events",
                json!({"metadata": {"namespace": "dev"}, "regarding": {"namespace": "dev"}, "related": {"namespace": "prod"}}),
                json!({"metadata": {"namespace": "acme--dev"}, "regarding": {"namespace": "acme--dev"}, "related": {"namespace": "acme--prod"}}),
            ),
            (
                "apps",
                "deployments",
                json!({"metadata": {"namespace": "prod", "labels": {"app": "web"}},
                       "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"affinity": affinity(&term_v)}}}}),
                json!({"metadata": {"namespace": "acme--prod", "labels": {"app": "web"}},
                       "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"affinity": affinity(&term_s)}}}}),
            ),
            (
                "",
                "pods",
                json!({"metadata": {"namespace": "prod"}, "spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"namespaceSelector": sel_v.clone(), "topologyKey": "z"}]}}}}),
                json!({"metadata": {"namespace": "acme--prod"}, "spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"namespaceSelector": sel_s.clone(), "topologyKey": "z"}]}}}}),
            ),
            (
                "networking.k8s.io",
                "networkpolicies",
                json!({"metadata": {"namespace": "prod"}, "spec": {
                    "podSelector": {},
                    "ingress": [{"from": [{"namespaceSelector": {}}, {"podSelector": {"matchLabels": {"a": "b"}}},
                                          {"namespaceSelector": sel_v.clone(), "podSelector": {}}]}],
                    "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["dev"]}]}}]}]}}),
                json!({"metadata": {"namespace": "acme--prod"}, "spec": {
                    "podSelector": {},
                    "ingress": [{"from": [{"namespaceSelector": confined(json!({}))}, {"podSelector": {"matchLabels": {"a": "b"}}},
                                          {"namespaceSelector": sel_s.clone(), "podSelector": {}}]}],
                    "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [
                        {"key": "vcproxy.io/virtual-name", "operator": "NotIn", "values": ["dev"]},
                        {"key": "vcproxy.io/tenant", "operator": "In", "values": ["acme"]}]}}]}]}}),
            ),
            (
                "batch",
                "cronjobs",
                json!({"metadata": {"namespace": "dev"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"metadata": {"labels": {"x": "y"}},
                    "spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"namespaces": ["kube-system"], "topologyKey": "z"}]}}}}}}}}),
                json!({"metadata": {"namespace": "acme--dev"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"metadata": {"labels": {"x": "y"}},
                    "spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"namespaces": ["acme--kube-system"], "topologyKey": "z"}]}}}}}}}}),
            ),
            (
                "",
                "namespaces",
                json!({"kind": "Namespace", "metadata": {"name": "prod", "labels": {"team": "a", "kubernetes.io/metadata.name": "prod"}}}),
                json!({"kind": "Namespace", "metadata": {"name": "acme--prod", "labels": {"team": "a", "kubernetes.io/metadata.name": "acme--prod",
                       "vcproxy.io/tenant": "acme", "vcproxy.io/virtual-name": "prod"}}}),
            ),
            (
                "",
                "namespaces",
                json!({"metadata": {"name": "dev"}}),
                json!({"metadata": {"name": "acme--dev", "labels": {"vcproxy.io/tenant": "acme", "vcproxy.io/virtual-name": "dev"}}}),
            ),
            (
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                json!({"spec": {"resourceAttributes": {"namespace": "prod", "verb": "get", "resource": "pods"}}}),
                json!({"spec": {"resourceAttributes": {"namespace": "acme--prod", "verb": "get", "resource": "pods"}}}),
            ),
            (
                "example.com",
                "widgets",
                json!({"metadata": {"namespace": "x1"}, "spec": {"namespace": "not-in-table"}}),
                json!({"metadata": {"namespace": "acme--x1"}, "spec": {"namespace": "not-in-table"}}),
            ),
        ]
    }

    #[test]
    fn table_driven_both_directions() {
        for (g, r, virt, sup) in cases() {
            let got = up(g, r, virt.clone());
            assert_eq!(got, sup, "{g}/{r} ToSuper");
            let (d, back) = down(g, r, got);
            assert_eq!(d, Disposition::Keep);
            assert_eq!(back, virt, "{g}/{r} ToVirtual");
            // Order of keys survives too.
            assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(&virt).unwrap());
        }
    }

    #[test]
    fn rewrite_body_parses_rewrites_and_drops() {
        let m = acme();
        let out = rewrite_body(br#"{"kind":"ConfigMap","metadata":{"name":"c","namespace":"acme--dev"},"data":{"k":"v"}}"#, "", "configmaps", ToVirtual, &m).unwrap();
        assert_eq!(out.unwrap(), br#"{"kind":"ConfigMap","metadata":{"name":"c","namespace":"dev"},"data":{"k":"v"}}"#);
        assert_eq!(rewrite_body(br#"{"metadata":{"namespace":"globex--dev"}}"#, "", "configmaps", ToVirtual, &m).unwrap(), None);
        assert!(rewrite_body(br#"{"metadata":{"namespace":"dev","namespace":"x"}}"#, "", "configmaps", ToSuper, &m).is_err());
    }

    #[test]
    fn foreign_objects_drop_and_foreign_references_blank() {
        let m = acme();
        for ns in ["kube-system", "globex--prod", "acme--unknown", "default"] {
            let mut v = json!({"metadata": {"name": "p", "namespace": ns}});
            assert_eq!(rewrite_object(&mut v, "", "pods", ToVirtual, &m).unwrap(), Disposition::Drop, "{ns}");
        }
        let mut ns = json!({"metadata": {"name": "globex--prod"}});
        assert_eq!(rewrite_object(&mut ns, "", "namespaces", ToVirtual, &m).unwrap(), Disposition::Drop);
        let mut rb = json!({"metadata": {"namespace": "acme--prod"},
            "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "globex--prod"},
                         {"kind": "ServiceAccount", "name": "y", "namespace": "acme--dev"}]});
        assert_eq!(rewrite_object(&mut rb, "rbac.authorization.k8s.io", "rolebindings", ToVirtual, &m).unwrap(), Disposition::Keep);
        assert_eq!(rb["subjects"][0]["namespace"], "");
        assert_eq!(rb["subjects"][1]["namespace"], "dev");
        let mut pod = json!({"metadata": {"namespace": "acme--prod"}, "spec": {"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"namespaces": ["acme--prod", "kube-system"]}]}}}});
        rewrite_object(&mut pod, "", "pods", ToVirtual, &m).unwrap();
        assert_eq!(pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["namespaces"], json!(["prod", ""]));
        // Cluster-scoped objects (no namespace) are kept.
        let mut node = json!({"metadata": {"name": "n1"}});
        assert_eq!(rewrite_object(&mut node, "", "nodes", ToVirtual, &m).unwrap(), Disposition::Keep);
    }

    #[test]
    fn reserved_keys_refused_everywhere_and_hidden() {
        let m = acme();
        let bad = [
            ("", "configmaps", json!({"metadata": {"labels": {"vcproxy.io/tenant": "globex"}}})),
            ("", "configmaps", json!({"metadata": {"annotations": {"VCPROXY.IO/x": "1"}}})),
            ("", "namespaces", json!({"metadata": {"name": "x", "labels": {"vcproxy.io/virtual-name": "y"}}})),
            ("apps", "deployments", json!({"spec": {"template": {"metadata": {"labels": {"vcproxy.io/t": "x"}}}}})),
            ("batch", "cronjobs", json!({"spec": {"jobTemplate": {"metadata": {"annotations": {"vcproxy.io/t": "x"}}}}})),
            ("networking.k8s.io", "networkpolicies", json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"vcproxy.io/tenant": "globex"}}}]}]}})),
            ("networking.k8s.io", "networkpolicies", json!({"spec": {"egress": [{"to": [{"namespaceSelector": {"matchExpressions": [{"key": "vcproxy.io/tenant", "operator": "Exists"}]}}]}]}})),
        ];
        for (g, r, mut v) in bad {
            let e = rewrite_object(&mut v, g, r, ToSuper, &m).unwrap_err();
            assert!(matches!(e, RewriteError::Reserved { .. }), "{g}/{r}: {e}");
            assert_eq!(e.status_code(), 403);
        }
        let mut v = json!({"metadata": {"namespace": "acme--prod", "labels": {"vcproxy.io/a": "1", "app": "x"},
            "annotations": {"vcproxy.io/b": "2"},
            "managedFields": [
                {"manager": "vcproxy", "fieldsV1": {"f:metadata": {"f:annotations": {"f:vcproxy.io/b": {}}}}},
                {"manager": "kubectl", "fieldsV1": {"f:metadata": {"f:labels": {"f:vcproxy.io/a": {}, "f:app": {}}}, "f:data": {}}}]},
            "spec": {"template": {"metadata": {"labels": {"vcproxy.io/a": "1"}}}}});
        rewrite_object(&mut v, "apps", "deployments", ToVirtual, &m).unwrap();
        assert_eq!(v, json!({"metadata": {"namespace": "prod", "labels": {"app": "x"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:data": {}}}]},
            "spec": {"template": {"metadata": {}}}}));
    }

    #[test]
    fn hostile_selectors_and_values() {
        let m = acme();
        // `{}` selects every namespace of the cluster: it gets confined.
        let mut v = json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {}}]}]}});
        rewrite_object(&mut v, "networking.k8s.io", "networkpolicies", ToSuper, &m).unwrap();
        assert_eq!(v["spec"]["ingress"][0]["from"][0]["namespaceSelector"], confined(json!({})));
        // A null matchExpressions (a merge patch deleting them) cannot remove the confinement.
        let mut v = json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {"matchExpressions": null}}]}]}});
        rewrite_object(&mut v, "networking.k8s.io", "networkpolicies", ToSuper, &m).unwrap();
        assert_eq!(v["spec"]["ingress"][0]["from"][0]["namespaceSelector"], confined(json!({})));
        for (g, r, mut v) in [
            ("", "pods", json!({"metadata": {"namespace": "../x"}})),
            ("", "pods", json!({"metadata": {"namespace": "A"}})),
            ("rbac.authorization.k8s.io", "rolebindings", json!({"subjects": [{"namespace": "x".repeat(64)}]})),
            ("", "namespaces", json!({"metadata": {"generateName": "team-"}})),
        ] {
            let e = rewrite_object(&mut v, g, r, ToSuper, &m).unwrap_err();
            assert!(matches!(e, RewriteError::InvalidNamespace { .. }), "{e}");
            assert_eq!(e.status_code(), 422);
        }
        for (g, r, mut v) in [
            ("", "pods", json!({"metadata": {"namespace": 5}})),
            ("rbac.authorization.k8s.io", "rolebindings", json!({"subjects": [{"namespace": ["x"]}]})),
            ("networking.k8s.io", "networkpolicies", json!({"spec": {"ingress": [{"from": [{"namespaceSelector": "all"}]}]}})),
            ("networking.k8s.io", "networkpolicies", json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {"matchExpressions": {}}}]}]}})),
            ("", "pods", json!({"spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"namespaces": "x"}]}}}})),
        ] {
            let e = rewrite_object(&mut v, g, r, ToSuper, &m).unwrap_err();
            assert!(matches!(e, RewriteError::WrongType { .. }), "{e}");
        }
        // The error names the concrete path.
        let mut v = json!({"subjects": [{"namespace": "ok"}, {"namespace": "Bad"}]});
        let e = rewrite_object(&mut v, "rbac.authorization.k8s.io", "rolebindings", ToSuper, &m).unwrap_err();
        assert!(e.to_string().starts_with("subjects[1].namespace: \"Bad\""), "{e}");
    }

    #[test]
    fn status_messages() {
        let m = acme();
        let long = mapping::to_super("acme", &"l".repeat(63));
        let mut v = json!({"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound",
            "message": format!("namespaces \"acme--gone\" not found; pods is forbidden in the namespace \"acme--prod\" and {long}, not globex--prod or xacme--prod or acme--Q"),
            "details": {"name": "acme--gone", "kind": "namespaces", "causes": [{"message": "in acme--dev/x"}]}});
        assert_eq!(rewrite_object(&mut v, "", "pods", ToVirtual, &m).unwrap(), Disposition::Keep);
        assert_eq!(v["message"], format!("namespaces \"gone\" not found; pods is forbidden in the namespace \"prod\" and {}, not globex--prod or xacme--prod or acme--Q", "l".repeat(63)));
        assert_eq!(v["details"]["name"], "gone");
        assert_eq!(v["details"]["causes"][0]["message"], "in dev/x");
        // details.name of something that is not a namespace is an object name: left alone.
        let mut v = json!({"kind": "Status", "message": "", "details": {"name": "acme--dev", "kind": "pods"}});
        rewrite_object(&mut v, "", "pods", ToVirtual, &m).unwrap();
        assert_eq!(v["details"]["name"], "acme--dev");
        // An unknown long form cannot be derived: left as is.
        let other = mapping::to_super("acme", &"z".repeat(63));
        assert_eq!(rewrite_tokens(&format!("ns {other}"), &m, true), None);
        assert_eq!(rewrite_tokens("acme--gone", &m, false), None);
    }

    #[test]
    fn lists_and_tables_as_values() {
        let m = acme();
        let mut list = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5", "remainingItemCount": 3},
            "items": [{"metadata": {"name": "a", "namespace": "acme--prod", "labels": {"vcproxy.io/x": "1"}}},
                      {"metadata": {"name": "b", "namespace": "globex--prod"}},
                      {"metadata": {"name": "c", "namespace": "acme--dev"}}]});
        rewrite_object(&mut list, "", "pods", ToVirtual, &m).unwrap();
        assert_eq!(list, json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
            "items": [{"metadata": {"name": "a", "namespace": "prod"}}, {"metadata": {"name": "c", "namespace": "dev"}}]}));
        // A generic List uses each item's kind.
        let mut list = json!({"kind": "List", "items": [
            {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"namespace": "acme--prod"}, "subjects": [{"namespace": "acme--dev"}]},
            {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"namespace": "kube-system"}}]});
        rewrite_object(&mut list, "", "", ToVirtual, &m).unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["subjects"][0]["namespace"], "dev");

        let mut table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"remainingItemCount": 1},
            "columnDefinitions": [{"name": "Name"}, {"name": "Role"}, {"name": "ServiceAccounts"}],
            "rows": [{"cells": ["acme--x", "Role/r", "acme--dev/sa, kube-system/sb"], "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "acme--x", "namespace": "acme--prod"}}},
                     {"cells": ["y", "Role/r", ""], "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "y", "namespace": "globex--prod"}}}]});
        rewrite_object(&mut table, "rbac.authorization.k8s.io", "rolebindings", ToVirtual, &m).unwrap();
        assert_eq!(table["rows"].as_array().unwrap().len(), 1);
        assert_eq!(table["rows"][0]["cells"], json!(["acme--x", "Role/r", "dev/sa, kube-system/sb"]));
        assert_eq!(table["rows"][0]["object"]["metadata"]["namespace"], "prod");
        assert!(table["metadata"].get("remainingItemCount").is_none());
        // Namespaces as a Table without objects: the Name cell decides.
        let mut table = json!({"kind": "Table", "columnDefinitions": [{"name": "Name"}, {"name": "Status"}],
            "rows": [{"cells": ["acme--prod", "Active"]}, {"cells": ["kube-system", "Active"]}]});
        rewrite_object(&mut table, "", "namespaces", ToVirtual, &m).unwrap();
        assert_eq!(table["rows"], json!([{"cells": ["prod", "Active"]}]));
        // Any other row without an object cannot be placed: dropped (unless the caller allows it).
        let mut table = json!({"kind": "Table", "columnDefinitions": [{"name": "Name"}], "rows": [{"cells": ["x"]}, {"cells": ["y"], "object": null}, "junk"]});
        rewrite_object(&mut table, "", "pods", ToVirtual, &m).unwrap();
        assert_eq!(table["rows"], json!([]));
        let mut row = json!({"cells": ["x", "acme--prod"]});
        let d = rewrite_row(&mut row, fields::fields_for("", "pods"), &m, Some(0), true).unwrap();
        assert_eq!((d, row), (Disposition::Keep, json!({"cells": ["x", "prod"]})));
    }

    // ---- property test ----

    const NOISE_KEYS: &[&str] = &["a", "b", "zz", "x-y", "k8s", "n", "ns"];

    fn noise(rng: &mut Rng, depth: usize) -> Value {
        match rng.below(if depth == 0 { 4 } else { 7 }) {
            0 => Value::Null,
            1 => json!(rng.below(1000)),
            2 => json!(rng.chance(50)),
            3 => Value::String(rng.pick(&["", "x", "prod", "acme--prod", "kube-system", "ünï"]).to_string()),
            4 | 5 => {
                let mut m = Map::new();
                for _ in 0..rng.below(4) {
                    m.insert(rng.pick(NOISE_KEYS).to_string(), noise(rng, depth - 1));
                }
                Value::Object(m)
            }
            _ => Value::Array((0..rng.below(4)).map(|_| noise(rng, depth - 1)).collect()),
        }
    }

    fn virtual_ns(rng: &mut Rng) -> Value {
        let owned = owned_virtuals();
        if rng.chance(10) {
            json!("")
        } else {
            json!(owned[rng.below(owned.len())])
        }
    }

    fn selector(rng: &mut Rng) -> Value {
        if rng.chance(10) {
            return Value::Null;
        }
        let mut sel = Map::new();
        let keys = ["app", "kubernetes.io/metadata.name", "team", "example.com/x"];
        if rng.chance(60) {
            let mut ml = Map::new();
            for _ in 0..rng.below(3) {
                ml.insert(rng.pick(&keys).to_string(), json!(rng.pick(&["a", "prod", "b"])));
            }
            sel.insert("matchLabels".into(), Value::Object(ml));
        }
        if rng.chance(60) {
            let n = 1 + rng.below(3);
            let exprs: Vec<Value> = (0..n)
                .map(|_| json!({"key": rng.pick(&keys), "operator": rng.pick(&["In", "NotIn", "Exists"]), "values": [rng.pick(&["prod", "dev"])]}))
                .collect();
            sel.insert("matchExpressions".into(), Value::Array(exprs));
        }
        Value::Object(sel)
    }

    /// Puts `leaf` at `segs` in `v`, creating (or overwriting) what is in the way.
    pub(crate) fn plant(rng: &mut Rng, v: &mut Value, segs: &[Seg], leaf: &mut dyn FnMut(&mut Rng) -> Value) {
        match segs.split_first() {
            None => *v = leaf(rng),
            Some((Seg::Key(k), rest)) => {
                if !v.is_object() {
                    *v = Value::Object(Map::new());
                }
                let child = v.as_object_mut().unwrap().entry(k.clone()).or_insert(Value::Null);
                plant(rng, child, rest, leaf);
            }
            Some((Seg::Each, rest)) => {
                if !v.is_array() || v.as_array().unwrap().is_empty() {
                    *v = Value::Array((0..1 + rng.below(3)).map(|_| noise(rng, 2)).collect());
                }
                for x in v.as_array_mut().unwrap() {
                    if rng.chance(70) {
                        plant(rng, x, rest, leaf);
                    }
                }
            }
        }
    }

    /// An RBAC subject in the tenant's identity space.
    fn subject(rng: &mut Rng) -> Value {
        let ns = virtual_ns(rng);
        let ns = ns.as_str().filter(|s| !s.is_empty()).unwrap_or("dev").to_string();
        match rng.below(6) {
            0 => json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": *rng.pick(&["alice", "bob@example.com"])}),
            1 => json!({"kind": "User", "name": format!("system:serviceaccount:{ns}:builder")}),
            2 => json!({"kind": "Group", "name": *rng.pick(&["system:authenticated", "dev", "ops:oncall"])}),
            3 => json!({"kind": "Group", "name": format!("system:serviceaccounts:{ns}")}),
            4 => json!({"kind": "ServiceAccount", "name": "builder", "namespace": ns}),
            _ => json!({"kind": "User"}),
        }
    }

    pub(crate) fn random_object(rng: &mut Rng, table: &KindFields) -> Value {
        let mut v = noise(rng, 3);
        if !v.is_object() {
            v = json!({});
        }
        for f in &table.fields {
            if !rng.chance(60) {
                continue;
            }
            let mut leaf: Box<dyn FnMut(&mut Rng) -> Value> = match f.kind {
                FieldKind::Namespace => Box::new(virtual_ns),
                FieldKind::NamespaceList => Box::new(|r: &mut Rng| Value::Array((0..r.below(4)).map(|_| virtual_ns(r)).collect())),
                FieldKind::NamespaceSelector => Box::new(selector),
                FieldKind::Subject => Box::new(subject),
                FieldKind::RoleRef => Box::new(|r: &mut Rng| json!({"kind": r.pick(&["ClusterRole", "Role"]), "name": r.pick(&["admin", "mine"])})),
            };
            plant(rng, &mut v, &f.segs, &mut *leaf);
        }
        for f in &table.nested_meta {
            if rng.chance(50) {
                plant(rng, &mut v, &f.segs, &mut |r| json!({"labels": {"app": r.pick(&["a", "b"])}}));
            }
        }
        if rng.chance(50) {
            let kv: Value = if table.is_namespaces() {
                json!({"team": "x", "kubernetes.io/metadata.name": virtual_ns(rng)})
            } else {
                json!({"app": "web", "kubernetes.io/metadata.name": "prod"})
            };
            plant(rng, &mut v, &fields::parse_path("metadata.labels").unwrap(), &mut |_| kv.clone());
        }
        v
    }

    /// Every namespace value in a ToSuper result is empty or the tenant's; every selector is confined.
    fn assert_confined(v: &mut Value, table: &KindFields, m: &FixedMapper) {
        for f in &table.fields {
            walk(v, &f.segs, &mut Vec::new(), &mut |x, trail| {
                let at = render(trail);
                match f.kind {
                    FieldKind::Namespace => {
                        let s = x.as_str().unwrap_or("");
                        assert!(s.is_empty() || m.to_virtual(s).is_some(), "{at}: {s:?} is not acme's");
                    }
                    FieldKind::NamespaceList => {
                        for s in x.as_array().into_iter().flatten() {
                            let s = s.as_str().unwrap();
                            assert!(s.is_empty() || m.to_virtual(s).is_some(), "{at}: {s:?} is not acme's");
                        }
                    }
                    FieldKind::RoleRef => {
                        let name = x["name"].as_str().unwrap_or("");
                        if x["kind"] == "ClusterRole" && !crate::cluster_rbac::is_builtin(name) {
                            assert!(name.starts_with("vcproxy:acme:"), "{at}: {name:?} is not acme's");
                        }
                    }
                    FieldKind::Subject => {
                        let (kind, name) = (x["kind"].as_str().unwrap_or(""), x["name"].as_str());
                        if let (true, Some(name)) = (matches!(kind, "User" | "Group"), name) {
                            assert!(crate::subjects::to_virtual(kind, name, m).is_some(), "{at}: {kind} {name:?} is not acme's");
                        }
                    }
                    FieldKind::NamespaceSelector => {
                        if !x.is_null() {
                            let exprs = x["matchExpressions"].as_array().unwrap_or_else(|| panic!("{at}: unconfined {x}"));
                            assert!(exprs.contains(&tenant_expression("acme")), "{at}: unconfined {x}");
                            assert!(!x.to_string().contains(METADATA_NAME_LABEL), "{at}: {x}");
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn property_round_trip_identity_and_confinement() {
        let m = acme();
        let mut rng = Rng(0xfeed_f00d);
        let c = fields::all_kinds();
        for i in 0..20_000 {
            let table = &c[rng.below(c.len())];
            let virt = random_object(&mut rng, table);
            let mut sup = virt.clone();
            let d = rewrite_with(&mut sup, table, ToSuper, &m).unwrap_or_else(|e| panic!("case {i} {}/{}: {e}\n{virt:#}", table.group, table.resource));
            assert_eq!(d, Disposition::Keep);
            assert_confined(&mut sup, table, &m);
            let mut back = sup.clone();
            let d = rewrite_with(&mut back, table, ToVirtual, &m).unwrap();
            assert_eq!(d, Disposition::Keep);
            assert_eq!(back, virt, "case {i} {}/{}\nsuper: {sup:#}", table.group, table.resource);
            // A planted reserved key anywhere in the labels is refused.
            if rng.chance(10) {
                let mut bad = virt.clone();
                plant(&mut rng, &mut bad, &fields::parse_path("metadata.labels").unwrap(), &mut |_| json!({"vcproxy.io/tenant": "globex"}));
                assert!(matches!(rewrite_with(&mut bad, table, ToSuper, &m), Err(RewriteError::Reserved { .. })));
            }
        }
    }
}
