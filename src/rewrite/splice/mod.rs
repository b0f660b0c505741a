//! The byte-splice rewriter: list items, Table rows and watch events rewritten to the tenant's
//! view without building a `serde_json::Value`.
//!
//! The Value path (parse, [`super::object`], serialise) costs an allocation per string, map and
//! array and a hash per key; almost all of an element is left as it is. Here one pass over the
//! element's bytes both validates it (see [`scan`]) and, guided by a [`Plan`] compiled from the
//! field table, records *edits*: replace these bytes with that. The element is then copied with
//! the edits applied. The edits are the exact effects of [`super::object::rewrite_single`]
//! (and [`super::object::rewrite_row`]) `ToVirtual`:
//! - namespace fields of the table mapped by `to_virtual`; a foreign one drops the element where
//!   it places the object (`metadata.namespace`, a Namespace's `metadata.name`) and is blanked
//!   to `""` elsewhere; namespace lists likewise;
//! - `vcproxy.io/` labels and annotations removed from `metadata` and the nested template
//!   metadata (the map itself when emptied), and a Namespace's `kubernetes.io/metadata.name`
//!   label mapped;
//! - namespace selectors unconfined: the tenant expression removed (`matchExpressions` too when
//!   emptied), `vcproxy.io/virtual-name` keys renamed back;
//! - Table rows: the row's object as above, string cells' tenant namespace tokens, the Name
//!   cell of Namespaces, and the row-without-object rule.
//!
//! **Fallback.** Whenever this path is not sure it would produce exactly what the Value path
//! produces, it answers [`Outcome::Fallback`] and the caller runs the Value path on the same
//! bytes, which then also produces the exact error for a bad element. It falls back on: any
//! JSON the scanner does not validate itself (see [`scan`]: invalid JSON, exponents, surrogate
//! escapes, numbers with an exponent or over 300 characters, nesting over 100, duplicate keys), an escaped key or string where the key or value
//! matters (table paths, labels, selectors, namespace values, event `type`/object `kind`), a
//! table field of the wrong type (the Value path errors, or drops first), a `managedFields`
//! entry for a reserved key, a selector `matchLabels` with both the virtual-name and the
//! metadata-name key, a non-object element or row, and for watch events: an object of kind
//! `Status`, `Table` or `…List`, and whitespace between tokens (events must come out on one
//! line). Generic `kind: List` items and the ToSuper direction never come here.
//!
//! **Cut elements.** The rewriters hand over an element straight from the chunk when they can,
//! not knowing where it ends; the walk finds the end. If the bytes run out first and everything
//! so far is a valid start, the answer is [`Outcome::Cut`], and the rewriter retries once with
//! the next chunk joined on (see `stream.rs`).
//!
//! Output may differ from the Value path's in bytes but never in value: whitespace inside a list
//! item and the spelling of escapes and numbers are kept as they came (for compact, canonical
//! input, which is what the apiserver sends, the bytes are the same too).

mod scan;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::OnceLock;

use super::fields::{FieldKind, KindFields, Placement, Seg};
use super::object::{rewrite_tokens, METADATA_NAME_LABEL};
use super::NamespaceMapper;
use crate::mapping::{TENANT_LABEL, VIRTUAL_NAME_LABEL};
pub(crate) use scan::MAX_DEPTH;
use scan::{apply, reserved, unescape, Cx, Item, Scratch, Str, R};

/// The splice path gives up on this element; the Value path takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// What became of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Rewritten: [`Splicer::write`] writes it.
    Keep,
    /// Not the tenant's: leave it out.
    Drop,
    /// Not handled here: run the Value path.
    Fallback,
    /// The element is cut short by the end of the bytes given (not `whole` only): try again
    /// with more.
    Cut,
}

/// Where the table's fields are, as a tree of keys.
#[derive(Debug, Default)]
struct Node {
    keys: Vec<(String, Node)>,
    /// For every element of an array here.
    each: Option<Box<Node>>,
    /// A table field ends here.
    leaf: Option<(FieldKind, Placement)>,
    /// An ObjectMeta: `labels`/`annotations`/`managedFields` lose reserved keys.
    meta: bool,
}

impl Node {
    fn child(&self, key: &[u8]) -> Option<&Node> {
        self.keys.iter().find(|(k, _)| k.as_bytes() == key).map(|(_, n)| n)
    }

    fn at(&mut self, segs: &[Seg]) -> &mut Node {
        match segs.split_first() {
            None => self,
            Some((Seg::Each, rest)) => self.each.get_or_insert_with(Default::default).at(rest),
            Some((Seg::Key(k), rest)) => {
                let i = match self.keys.iter().position(|(x, _)| x == k) {
                    Some(i) => i,
                    None => {
                        self.keys.push((k.clone(), Node::default()));
                        self.keys.len() - 1
                    }
                };
                self.keys[i].1.at(rest)
            }
        }
    }

    /// A leaf has nothing below it, and a meta node no table path into its label maps: the
    /// walk below assumes both.
    fn consistent(&self) -> bool {
        let below = !self.keys.is_empty() || self.each.is_some() || self.meta;
        if self.leaf.is_some() && below {
            return false;
        }
        if self.meta && self.keys.iter().any(|(k, _)| matches!(k.as_str(), "labels" | "annotations" | "managedFields"))
        {
            return false;
        }
        self.keys.iter().all(|(_, n)| n.consistent()) && self.each.as_ref().is_none_or(|n| n.consistent())
    }
}

/// One kind's field table compiled for the splice path.
#[derive(Debug)]
pub(crate) struct Plan {
    root: Node,
    namespaces: bool,
    usable: bool,
}

impl Plan {
    pub fn new(table: &KindFields) -> Plan {
        let mut root = Node::default();
        // `metadata` is always stripped of reserved keys, whatever the kind.
        root.at(&[Seg::Key("metadata".into())]).meta = true;
        let mut usable = true;
        for f in &table.fields {
            let n = root.at(&f.segs);
            usable &= n.leaf.is_none();
            n.leaf = Some((f.kind, f.placement));
        }
        for f in &table.nested_meta {
            root.at(&f.segs).meta = true;
        }
        usable &= root.consistent();
        Plan { root, namespaces: table.is_namespaces(), usable }
    }

    /// The plan of one of the field table's kinds, compiled once: every GET and every list
    /// response needs one, and building the key tree allocates.
    pub fn of(table: &'static KindFields) -> &'static Plan {
        static PLANS: OnceLock<HashMap<usize, Plan>> = OnceLock::new();
        let plans = PLANS.get_or_init(|| {
            let fallback = super::fields::fields_for("", "");
            super::fields::all_kinds().iter().chain([fallback]).map(|t| (t as *const KindFields as usize, Plan::new(t))).collect()
        });
        plans.get(&(table as *const KindFields as usize)).expect("every table the field table hands out has a plan")
    }
}

/// Rewrites elements by splicing; holds buffers reused between elements.
#[derive(Debug, Default)]
pub(crate) struct Splicer {
    s: Scratch,
}

impl Splicer {
    /// A list item (of a typed list) that is all of `b`; see [`super::object::rewrite_single`].
    #[cfg(test)]
    pub fn item(&mut self, plan: &Plan, b: &[u8], m: &dyn NamespaceMapper) -> Outcome {
        self.item_at(plan, b, m, true).0
    }

    /// A list item at the start of `b` (all of `b` if `whole`), and its length.
    pub fn item_at(&mut self, plan: &Plan, b: &[u8], m: &dyn NamespaceMapper, whole: bool) -> (Outcome, usize) {
        self.run(plan, b, m, whole, |cx| {
            if cx.peek()? != b'{' {
                return Err(Bail);
            }
            cx.walk(&plan.root, true)?;
            Ok(if cx.drop { Outcome::Drop } else { Outcome::Keep })
        })
    }

    /// A single object (a GET, create, update or patch answer) that is all of `b`, as
    /// [`super::object::rewrite_single`] would rewrite it. Anything that is not one object of
    /// the kind (a Status, a Table, a list, PartialObjectMetadata, anything with a top-level `items`
    /// or `rows`) is the Value path's.
    pub fn object(&mut self, plan: &Plan, b: &[u8], m: &dyn NamespaceMapper) -> Outcome {
        self.run(plan, b, m, true, |cx| {
            if cx.peek()? != b'{' {
                return Err(Bail);
            }
            cx.walk(&plan.root, true)?;
            let kind = match cx.kind {
                Some(k) if !k.escaped => k.raw(cx.b),
                _ => return Err(Bail),
            };
            let not_one_object = kind == b"Status" || kind == b"Table" || kind.ends_with(b"List");
            if not_one_object || kind.starts_with(b"PartialObjectMetadata") || cx.list_keys {
                return Err(Bail);
            }
            Ok(if cx.drop { Outcome::Drop } else { Outcome::Keep })
        })
        .0
    }

    /// A Table row that is all of `b`; see [`super::object::rewrite_row`].
    #[cfg(test)]
    pub fn row(
        &mut self,
        plan: &Plan,
        b: &[u8],
        m: &dyn NamespaceMapper,
        name_col: Option<usize>,
        rows_without_object: bool,
    ) -> Outcome {
        self.row_at(plan, b, m, name_col, rows_without_object, true).0
    }

    /// A Table row at the start of `b` (all of `b` if `whole`), and its length.
    pub fn row_at(
        &mut self,
        plan: &Plan,
        b: &[u8],
        m: &dyn NamespaceMapper,
        name_col: Option<usize>,
        rows_without_object: bool,
        whole: bool,
    ) -> (Outcome, usize) {
        self.run(plan, b, m, whole, |cx| {
            if cx.peek()? != b'{' {
                return Err(Bail);
            }
            let (mut has_object, mut name_owned, mut name_foreign) = (false, false, false);
            cx.object(|cx, k| {
                match cx.plain_key(k)? {
                    b"object" if cx.peek()? == b'{' => {
                        has_object = true;
                        cx.walk(&plan.root, true)?;
                    }
                    b"cells" if cx.peek()? == b'[' => cx.array(|cx, i| {
                        if cx.peek()? != b'"' {
                            return cx.skip_value(false);
                        }
                        let s = cx.string()?;
                        let text = cx.text(s)?;
                        if Some(i) == name_col {
                            // The Name column is the object's own name, except for Namespaces.
                            if cx.namespaces {
                                match cx.m.to_virtual(&text) {
                                    Some(v) => {
                                        cx.replace_str(s.start, s.end, &v);
                                        name_owned = true;
                                    }
                                    None => name_foreign = true,
                                }
                            }
                        } else if let Some(n) = rewrite_tokens(&text, cx.m, false) {
                            cx.replace_str(s.start, s.end, &n);
                        }
                        Ok(())
                    })?,
                    _ => cx.skip_value(false)?,
                }
                Ok(())
            })?;
            let placed = has_object || rows_without_object;
            Ok(if cx.drop || name_foreign || !(placed || name_owned) { Outcome::Drop } else { Outcome::Keep })
        })
    }

    /// A watch event `{"type":…,"object":…}` that is all of `b`; see `WatchRewriter`.
    #[cfg(test)]
    pub fn event(&mut self, plan: &Plan, b: &[u8], m: &dyn NamespaceMapper) -> Outcome {
        self.event_at(plan, b, m, true).0
    }

    /// A watch event at the start of `b` (all of `b` if `whole`), and its length.
    pub fn event_at(&mut self, plan: &Plan, b: &[u8], m: &dyn NamespaceMapper, whole: bool) -> (Outcome, usize) {
        self.run(plan, b, m, whole, |cx| {
            if cx.peek()? != b'{' {
                return Err(Bail);
            }
            let (mut typ, mut has_object) = (None, false);
            cx.object(|cx, k| {
                match cx.plain_key(k)? {
                    b"type" if cx.peek()? == b'"' => typ = Some(cx.plain_string()?),
                    b"object" if cx.peek()? == b'{' => {
                        has_object = true;
                        cx.walk(&plan.root, true)?;
                    }
                    _ => cx.skip_value(false)?,
                }
                Ok(())
            })?;
            // Events go out one per line: a pretty-printed one is left to the Value path.
            if cx.ws {
                return Err(Bail);
            }
            if typ.is_some_and(|t| t.raw(cx.b) == b"BOOKMARK") {
                // Bookmarks pass through untouched.
                cx.s.edits.clear();
                return Ok(Outcome::Keep);
            }
            if has_object {
                let kind = match cx.kind {
                    Some(k) if k.escaped => return Err(Bail),
                    Some(k) => k.raw(cx.b),
                    None => b"",
                };
                // Status messages, Tables and lists (by kind, or by `items`/`rows`) inside events
                // are the Value path's.
                if kind == b"Status" || kind == b"Table" || kind.ends_with(b"List") || cx.list_keys {
                    return Err(Bail);
                }
            }
            Ok(if cx.drop { Outcome::Drop } else { Outcome::Keep })
        })
    }

    /// Runs `f` over the element at the start of `b`. Not `whole`: the element may be followed
    /// by anything, or be cut short (then it is a [`Outcome::Fallback`], like invalid JSON).
    fn run(
        &mut self,
        plan: &Plan,
        b: &[u8],
        m: &dyn NamespaceMapper,
        whole: bool,
        f: impl FnOnce(&mut Cx) -> R<Outcome>,
    ) -> (Outcome, usize) {
        if !plan.usable {
            return (Outcome::Fallback, 0);
        }
        let mut cx = Cx::new(b, &mut self.s, m, plan.namespaces);
        let r = cx.next().and_then(|_| f(&mut cx)).and_then(|o| if whole { cx.end().map(|_| o) } else { Ok(o) });
        match r {
            Ok(o) => (o, cx.i),
            Err(Bail) if cx.eof.get() && !whole => (Outcome::Cut, 0),
            Err(Bail) => (Outcome::Fallback, 0),
        }
    }

    /// Writes the element last answered [`Outcome::Keep`] for (`b` is exactly that element),
    /// with its edits.
    pub fn write(&mut self, b: &[u8], out: &mut Vec<u8>) {
        apply(b, &mut self.s, out);
    }
}

/// The walk over an element, guided by the plan.
impl<'a> Cx<'a> {
    /// A key that matters: its raw bytes, or give up if it is escaped.
    fn plain_key(&self, k: Str) -> R<&'a [u8]> {
        if k.escaped {
            return Err(Bail);
        }
        Ok(k.raw(self.b))
    }

    /// A string value that matters (at `self.i`): unescaped, or give up.
    fn plain_string(&mut self) -> R<Str> {
        let s = self.string()?;
        if s.escaped {
            return Err(Bail);
        }
        Ok(s)
    }

    /// A string's value as text (escapes decoded; borrowed when there are none).
    fn text(&self, s: Str) -> R<std::borrow::Cow<'a, str>> {
        if s.escaped {
            String::from_utf8(unescape(s.raw(self.b))).map(Into::into).map_err(|_| Bail)
        } else {
            utf8(s.raw(self.b)).map(Into::into)
        }
    }

    /// The value at `self.i`, at `node` of the plan. `root`: the object whose `kind` counts.
    fn walk(&mut self, node: &Node, root: bool) -> R<()> {
        if let Some((kind, placement)) = node.leaf {
            return self.leaf(kind, placement);
        }
        match self.peek()? {
            b'{' => self.object(|cx, k| {
                if root && !k.escaped && k.raw(cx.b) == b"kind" {
                    if cx.peek()? == b'"' {
                        cx.kind = Some(cx.string()?);
                        return Ok(());
                    }
                    return cx.skip_value(false);
                }
                if root && !k.escaped && matches!(k.raw(cx.b), b"items" | b"rows") {
                    cx.list_keys = true;
                }
                match node.child(cx.plain_key(k)?) {
                    Some(child) if child.meta => cx.meta(child, root),
                    Some(child) => cx.walk(child, false),
                    None => cx.skip_value(false),
                }
            }),
            b'[' if node.each.is_some() => self.array(|cx, _| cx.walk(node.each.as_deref().expect("checked"), false)),
            _ => self.skip_value(false),
        }
    }

    /// An ObjectMeta (`own`: the object's own `metadata`): reserved labels and annotations go,
    /// and a map emptied that way goes too.
    fn meta(&mut self, node: &Node, own: bool) -> R<()> {
        if self.peek()? != b'{' {
            return self.skip_value(false);
        }
        let base = self.s.items.len();
        let mut any = false;
        self.object(|cx, k| {
            let start = k.start;
            let key = cx.plain_key(k)?;
            let mut removed = false;
            match key {
                b"labels" => removed = cx.label_map(own && cx.namespaces)?,
                b"annotations" => removed = cx.label_map(false)?,
                b"managedFields" => cx.skip_value(true)?,
                _ => match node.child(key) {
                    Some(child) => cx.walk(child, false)?,
                    None => cx.skip_value(false)?,
                },
            }
            cx.s.items.push(Item { start, end: cx.i, removed });
            any |= removed;
            Ok(())
        })?;
        if any {
            self.remove_items(base);
        }
        self.s.items.truncate(base);
        Ok(())
    }

    /// `labels` or `annotations`: reserved keys removed; true when all of (at least one) went.
    /// `ns_label`: a Namespace's labels, whose `kubernetes.io/metadata.name` is mapped.
    fn label_map(&mut self, ns_label: bool) -> R<bool> {
        if self.peek()? != b'{' {
            self.skip_value(false)?;
            return Ok(false);
        }
        let (base, edits) = (self.s.items.len(), self.s.edits.len());
        let (mut n, mut gone) = (0, 0);
        self.object(|cx, k| {
            let key = cx.plain_key(k)?;
            let removed = reserved(key);
            if ns_label && key == METADATA_NAME_LABEL.as_bytes() && cx.peek()? == b'"' {
                let s = cx.plain_string()?;
                if let Some(v) = cx.m.to_virtual(utf8(s.raw(cx.b))?) {
                    cx.replace_str(s.start, s.end, &v);
                }
            } else {
                cx.skip_value(false)?;
            }
            cx.s.items.push(Item { start: k.start, end: cx.i, removed });
            n += 1;
            gone += removed as usize;
            Ok(())
        })?;
        Ok(self.settle_removals(base, edits, n, gone))
    }

    /// After scanning `n` members (recorded in `items` from `base`), `gone` of them marked for
    /// removal: when all went, their edits are dropped and true is returned (the caller removes
    /// the whole field, as the Value path does); otherwise the marked ones are cut out.
    fn settle_removals(&mut self, base: usize, edits: usize, n: usize, gone: usize) -> bool {
        let all_gone = gone > 0 && gone == n;
        if all_gone {
            self.s.edits.truncate(edits);
        } else if gone > 0 {
            self.remove_items(base);
        }
        self.s.items.truncate(base);
        all_gone
    }

    /// A table field's value.
    fn leaf(&mut self, kind: FieldKind, placement: Placement) -> R<()> {
        // Once the element is dropped, references no longer matter (the Value path stops at
        // the placement check), but a placement field of the wrong type still must error.
        if self.drop && placement == Placement::Reference {
            return self.skip_value(false);
        }
        match (kind, self.peek()?) {
            (_, b'n') => self.null(),
            (FieldKind::Namespace, b'"') => self.namespace(placement),
            (FieldKind::NamespaceList, b'[') => self.array(|cx, _| match cx.peek()? {
                b'n' => cx.null(),
                b'"' => cx.namespace(Placement::Reference),
                _ => Err(Bail),
            }),
            (FieldKind::NamespaceSelector, b'{') => self.selector(),
            // The wrong type: the Value path errors (or drops first).
            _ => Err(Bail),
        }
    }

    /// A namespace name (at its string).
    fn namespace(&mut self, placement: Placement) -> R<()> {
        let s = self.plain_string()?;
        let raw = s.raw(self.b);
        if raw.is_empty() {
            return Ok(());
        }
        match self.m.to_virtual(utf8(raw)?) {
            Some(v) => self.replace_str(s.start, s.end, &v),
            None if placement == Placement::Object => self.drop = true,
            None => self.replace(s.start, s.end, b"\"\""),
        }
        Ok(())
    }

    /// A namespace selector (an object): see `selector_to_virtual` in `object.rs`.
    fn selector(&mut self) -> R<()> {
        let base = self.s.items.len();
        let mut any = false;
        self.object(|cx, k| {
            let mut removed = false;
            match cx.plain_key(k)? {
                b"matchLabels" => cx.match_labels()?,
                b"matchExpressions" => removed = cx.match_expressions()?,
                _ => cx.skip_value(false)?,
            }
            cx.s.items.push(Item { start: k.start, end: cx.i, removed });
            any |= removed;
            Ok(())
        })?;
        if any {
            self.remove_items(base);
        }
        self.s.items.truncate(base);
        Ok(())
    }

    /// `matchLabels`: the `vcproxy.io/virtual-name` key back to `kubernetes.io/metadata.name`.
    fn match_labels(&mut self) -> R<()> {
        if self.peek()? != b'{' {
            return self.skip_value(false);
        }
        let (mut virt, mut meta_name) = (None, false);
        self.object(|cx, k| {
            let key = cx.plain_key(k)?;
            if key == VIRTUAL_NAME_LABEL.as_bytes() {
                virt = Some(k);
            }
            meta_name |= key == METADATA_NAME_LABEL.as_bytes();
            cx.skip_value(false)
        })?;
        match virt {
            // Both keys: the Value path's rename collapses them; leave that to it.
            Some(_) if meta_name => return Err(Bail),
            Some(k) => self.replace_str(k.start, k.end, METADATA_NAME_LABEL),
            None => {}
        }
        Ok(())
    }

    /// `matchExpressions`: the tenant expression removed, virtual-name keys renamed. True when
    /// every expression went (the Value path then removes `matchExpressions`).
    fn match_expressions(&mut self) -> R<bool> {
        if self.peek()? != b'[' {
            self.skip_value(false)?;
            return Ok(false);
        }
        let (base, edits) = (self.s.items.len(), self.s.edits.len());
        let (mut n, mut gone) = (0, 0);
        self.array(|cx, _| {
            let start = cx.i;
            let ours = cx.expression()?;
            cx.s.items.push(Item { start, end: cx.i, removed: ours });
            n += 1;
            gone += ours as usize;
            Ok(())
        })?;
        Ok(self.settle_removals(base, edits, n, gone))
    }

    /// One expression; true if it equals `tenant_expression(tenant)` exactly.
    fn expression(&mut self) -> R<bool> {
        if self.peek()? != b'{' {
            self.skip_value(false)?;
            return Ok(false);
        }
        let tenant = self.m.tenant().as_bytes();
        let (mut members, mut key_ok, mut op_ok, mut values_ok) = (0, false, false, false);
        self.object(|cx, k| {
            members += 1;
            match cx.plain_key(k)? {
                b"key" if cx.peek()? == b'"' => {
                    let s = cx.plain_string()?;
                    let v = s.raw(cx.b);
                    key_ok = v == TENANT_LABEL.as_bytes();
                    if v == VIRTUAL_NAME_LABEL.as_bytes() {
                        cx.replace_str(s.start, s.end, METADATA_NAME_LABEL);
                    }
                }
                b"operator" if cx.peek()? == b'"' => op_ok = cx.plain_string()?.raw(cx.b) == b"In",
                b"values" if cx.peek()? == b'[' => {
                    let (mut count, mut first) = (0, false);
                    cx.array(|cx, i| {
                        count += 1;
                        if cx.peek()? == b'"' {
                            let s = cx.plain_string()?;
                            first |= i == 0 && s.raw(cx.b) == tenant;
                            Ok(())
                        } else {
                            cx.skip_value(false)
                        }
                    })?;
                    values_ok = count == 1 && first;
                }
                _ => cx.skip_value(false)?,
            }
            Ok(())
        })?;
        Ok(members == 3 && key_ok && op_ok && values_ok)
    }
}

fn utf8(b: &[u8]) -> R<&str> {
    std::str::from_utf8(b).map_err(|_| Bail)
}
