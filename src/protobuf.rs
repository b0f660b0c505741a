//! Schema-less reading and editing of Kubernetes protobuf bodies (`k8s\0` + `runtime.Unknown`).
//! kubectl sends typed create/update bodies as protobuf, so the proxy must translate namespaces in them without a schema.
//!
//! A body is the magic [`MAGIC`] followed by a `runtime.Unknown` message: `typeMeta` (1: TypeMeta with
//! `apiVersion` = 1, `kind` = 2), `raw` (2: the object message), `contentEncoding` (3), `contentType` (4).
//! Every top-level object message carries `metadata` (ObjectMeta) as field 1; ObjectMeta has `name` = 1,
//! `generateName` = 2, `namespace` = 3, `labels` = 11 and `annotations` = 12 (maps: repeated entries with
//! `key` = 1, `value` = 2). Paths given to [`rewrite_strings`] and [`has_field`] are field numbers starting
//! inside `raw`, so `&[1, 3]` is `metadata.namespace` whatever the kind.
//!
//! Edits are surgical: every byte outside the rewritten values is kept as it was (unknown fields, field
//! order, non-minimal tags), and only the length prefixes of the messages enclosing a change are
//! re-encoded. Nothing here allocates in proportion to an attacker-chosen length, recurses deeper than the
//! path, or panics on hostile input.
//!
//! The parser is deliberately stricter than the apiserver's (gogo-protobuf generated) decoder, so that
//! no body reads one way here and another way there:
//! - field numbers above 2^29-1 are refused (Go truncates the tag to `int32`, so `(2^32 + 3) << 3 | 2`
//!   would be `namespace` to the apiserver);
//! - a field named by a path, or read by [`read_meta`], must be length-delimited (Go's map-entry decoder
//!   ignores wire types and would read a varint-tagged key as a string);
//! - groups (wire types 3 and 4) are refused instead of skipped;
//! - every length must fit inside its enclosing message (Go bounds map-entry strings by the whole message).
//!
//! Repeated occurrences follow protobuf merge semantics as the apiserver applies them: `raw` (bytes) is
//! last-wins, embedded messages merge, strings are last-wins, maps keep the last value per key. Edits
//! therefore visit *every* occurrence, so no duplicate can smuggle an untranslated value past the proxy.
//! Limitation: for a path that ends inside a map entry, siblings of the path's field are not
//! wire-type-checked (there is no schema saying the message is a map entry); [`read_meta`] does check
//! `labels` and `annotations` fully.

use std::collections::HashMap;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Deepest message nesting ever visited, counting the `runtime.Unknown` envelope: a path may hold at most
/// `MAX_DEPTH - 1` field numbers. Only messages on the path are parsed, so hostile nesting elsewhere costs
/// nothing.
pub const MAX_DEPTH: usize = 64;

/// Largest field number protobuf allows.
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// `runtime.Unknown` fields.
const UNKNOWN_TYPE_META: u32 = 1;
const UNKNOWN_RAW: u32 = 2;
/// `runtime.TypeMeta` fields.
const TYPE_META_API_VERSION: u32 = 1;
const TYPE_META_KIND: u32 = 2;
/// ObjectMeta as field 1 of every top-level object, and its fields.
const OBJECT_METADATA: u32 = 1;
const META_NAME: u32 = 1;
const META_GENERATE_NAME: u32 = 2;
const META_NAMESPACE: u32 = 3;
const META_LABELS: u32 = 11;
const META_ANNOTATIONS: u32 = 12;
/// Map entry fields.
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;

/// Field paths (inside `raw`) that callers commonly need.
pub mod paths {
    /// `metadata.name` of any object.
    pub const METADATA_NAME: &[u32] = &[1, 1];
    /// `metadata.generateName` of any object.
    pub const METADATA_GENERATE_NAME: &[u32] = &[1, 2];
    /// `metadata.namespace` of any object.
    pub const METADATA_NAMESPACE: &[u32] = &[1, 3];
    /// `subjects[*].namespace` of an rbac/v1 RoleBinding or ClusterRoleBinding.
    pub const BINDING_SUBJECTS_NAMESPACE: &[u32] = &[2, 4];
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ProtoError {
    #[error("body is not Kubernetes protobuf (no k8s\\0 prefix)")]
    NotKubernetesProtobuf,
    #[error("protobuf message is truncated")]
    Truncated,
    #[error("malformed protobuf varint")]
    BadVarint,
    #[error("unsupported protobuf wire type {0}")]
    BadWireType(u8),
    #[error("protobuf nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("invalid protobuf field number {0}")]
    BadFieldNumber(u64),
    #[error("protobuf field {field} has wire type {wire_type}, expected length-delimited")]
    UnexpectedWireType { field: u32, wire_type: u8 },
    #[error("protobuf string field {0} is not valid UTF-8")]
    InvalidUtf8(u32),
    #[error("empty protobuf field path")]
    EmptyPath,
    /// Returned by a [`rewrite_strings`] callback to refuse a value; passed through unchanged.
    #[error("{0}")]
    Rejected(String),
}

/// Minimal view of the object's metadata.
///
/// Strings are `None` when absent and `Some("")` when present and empty (gogo-protobuf emits every
/// ObjectMeta string, so kubectl's bodies have `Some("")` for unset ones). `labels` and `annotations`
/// are in wire order of first appearance, one pair per key, holding the last value sent for it (what
/// the apiserver's map ends up with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMetaView {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub kind: Option<String>,
    pub api_version: Option<String>,
}

/// Reads `typeMeta` and `metadata` of a protobuf body.
///
/// A body without `raw` (or without `metadata`) yields empty metadata. Errors if any message read on
/// the way (Unknown, TypeMeta, the object, ObjectMeta, label/annotation entries) is malformed.
pub fn read_meta(body: &[u8]) -> Result<ObjectMetaView, ProtoError> {
    let unknown = envelope(body)?;
    let mut view = ObjectMetaView::default();
    let mut raw = None;
    for field in Fields::new(unknown) {
        let field = field?;
        match field.number {
            UNKNOWN_TYPE_META => {
                let type_meta = field.message(unknown)?;
                for inner in Fields::new(type_meta) {
                    let inner = inner?;
                    match inner.number {
                        TYPE_META_API_VERSION => view.api_version = Some(inner.string(type_meta)?.to_owned()),
                        TYPE_META_KIND => view.kind = Some(inner.string(type_meta)?.to_owned()),
                        _ => {}
                    }
                }
            }
            UNKNOWN_RAW => raw = Some(field.message(unknown)?),
            _ => {}
        }
    }
    let Some(raw) = raw else { return Ok(view) };
    let mut labels = Map::default();
    let mut annotations = Map::default();
    for field in Fields::new(raw) {
        let field = field?;
        if field.number != OBJECT_METADATA {
            continue;
        }
        let meta = field.message(raw)?;
        for inner in Fields::new(meta) {
            let inner = inner?;
            match inner.number {
                META_NAME => view.name = Some(inner.string(meta)?.to_owned()),
                META_GENERATE_NAME => view.generate_name = Some(inner.string(meta)?.to_owned()),
                META_NAMESPACE => view.namespace = Some(inner.string(meta)?.to_owned()),
                META_LABELS => labels.insert_entry(inner.message(meta)?)?,
                META_ANNOTATIONS => annotations.insert_entry(inner.message(meta)?)?,
                _ => {}
            }
        }
    }
    view.labels = labels.pairs;
    view.annotations = annotations.pairs;
    Ok(view)
}

/// Rewrites every string at `path` (field numbers inside `raw`; repeated fields and duplicates are all
/// visited). `f` returns `Some(new)` to replace a value, `None` to keep it; its error aborts the rewrite.
///
/// A present-but-empty string is passed to `f` as `""`; an absent one is not visited, and nothing is
/// ever added (see [`set_namespace`] for that). A body the path does not reach comes back unchanged.
pub fn rewrite_strings(
    body: &[u8],
    path: &[u32],
    f: &mut dyn FnMut(&str) -> Result<Option<String>, ProtoError>,
) -> Result<Vec<u8>, ProtoError> {
    let unknown = envelope(body)?;
    let full = full_path(path)?;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(MAGIC);
    match rewrite_message(unknown, &full, f)? {
        Some(new) => out.extend_from_slice(&new),
        None => out.extend_from_slice(unknown),
    }
    Ok(out)
}

/// Whether any occurrence of the field at `path` (inside `raw`) is present, with any wire type at the
/// last step. For refusing bodies that carry fields the proxy cannot translate.
pub fn has_field(body: &[u8], path: &[u32]) -> Result<bool, ProtoError> {
    let unknown = envelope(body)?;
    let full = full_path(path)?;
    message_has(unknown, &full)
}

/// Sets `metadata.namespace` to `ns`: replaces every occurrence, or adds the field (in field-number order
/// inside ObjectMeta) when there is none, adding `metadata` and `raw` too if they are absent.
pub fn set_namespace(body: &[u8], ns: &str) -> Result<Vec<u8>, ProtoError> {
    let unknown = envelope(body)?;
    let new = upsert(unknown, &[UNKNOWN_RAW, OBJECT_METADATA, META_NAMESPACE], ns.as_bytes())?;
    let mut out = Vec::with_capacity(MAGIC.len() + new.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&new);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------------

/// The `runtime.Unknown` message after the magic.
fn envelope(body: &[u8]) -> Result<&[u8], ProtoError> {
    body.strip_prefix(MAGIC.as_slice()).ok_or(ProtoError::NotKubernetesProtobuf)
}

/// `[raw] ++ path`, validated.
fn full_path(path: &[u32]) -> Result<Vec<u32>, ProtoError> {
    if path.is_empty() {
        return Err(ProtoError::EmptyPath);
    }
    if path.len() + 1 > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    if let Some(&bad) = path.iter().find(|&&n| n == 0 || u64::from(n) > MAX_FIELD_NUMBER) {
        return Err(ProtoError::BadFieldNumber(bad.into()));
    }
    let mut full = Vec::with_capacity(path.len() + 1);
    full.push(UNKNOWN_RAW);
    full.extend_from_slice(path);
    Ok(full)
}

/// One field of a message, as offsets into that message.
#[derive(Debug, Clone, Copy)]
struct Field {
    number: u32,
    wire: u8,
    /// First byte of the tag.
    start: usize,
    /// One past the tag (for length-delimited fields, the length prefix starts here).
    tag_end: usize,
    /// First byte of the value (after the length prefix for length-delimited fields).
    data: usize,
    /// One past the value.
    end: usize,
}

impl Field {
    fn expect_len(&self) -> Result<(), ProtoError> {
        if self.wire == WIRE_LEN {
            Ok(())
        } else {
            Err(ProtoError::UnexpectedWireType { field: self.number, wire_type: self.wire })
        }
    }

    /// The payload of a length-delimited field.
    fn message<'a>(&self, msg: &'a [u8]) -> Result<&'a [u8], ProtoError> {
        self.expect_len()?;
        Ok(&msg[self.data..self.end])
    }

    fn string<'a>(&self, msg: &'a [u8]) -> Result<&'a str, ProtoError> {
        std::str::from_utf8(self.message(msg)?).map_err(|_| ProtoError::InvalidUtf8(self.number))
    }
}

/// Iterates the top-level fields of a message; stops after the first error.
struct Fields<'a> {
    msg: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(msg: &'a [u8]) -> Self {
        Fields { msg, pos: 0, failed: false }
    }
}

impl Iterator for Fields<'_> {
    type Item = Result<Field, ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.msg.len() {
            return None;
        }
        match parse_field(self.msg, self.pos) {
            Ok(field) => {
                self.pos = field.end;
                Some(Ok(field))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn parse_field(msg: &[u8], start: usize) -> Result<Field, ProtoError> {
    let mut pos = start;
    let tag = read_varint(msg, &mut pos)?;
    let number = tag >> 3;
    if number == 0 || number > MAX_FIELD_NUMBER {
        return Err(ProtoError::BadFieldNumber(number));
    }
    let wire = (tag & 7) as u8;
    let tag_end = pos;
    let (data, end) = match wire {
        WIRE_VARINT => {
            read_varint(msg, &mut pos)?;
            (tag_end, pos)
        }
        WIRE_I64 => (tag_end, skip(msg, pos, 8)?),
        WIRE_LEN => {
            let len = read_varint(msg, &mut pos)?;
            (pos, skip(msg, pos, len)?)
        }
        WIRE_I32 => (tag_end, skip(msg, pos, 4)?),
        other => return Err(ProtoError::BadWireType(other)),
    };
    Ok(Field { number: number as u32, wire, start, tag_end, data, end })
}

/// `pos + len`, if that stays inside `msg`.
fn skip(msg: &[u8], pos: usize, len: u64) -> Result<usize, ProtoError> {
    let remaining = msg.len().saturating_sub(pos) as u64;
    if len > remaining {
        return Err(ProtoError::Truncated);
    }
    Ok(pos + len as usize)
}

/// Reads a varint of at most 10 bytes whose value fits in 64 bits.
fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *buf.get(*pos).ok_or(ProtoError::Truncated)?;
        *pos += 1;
        if i == 9 && byte > 1 {
            return Err(ProtoError::BadVarint);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(ProtoError::BadVarint)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field.
fn write_len_field(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    write_varint(out, (u64::from(number) << 3) | u64::from(WIRE_LEN));
    write_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Rewrites the strings at `path` inside `msg`; `None` when nothing changed.
fn rewrite_message(
    msg: &[u8],
    path: &[u32],
    f: &mut dyn FnMut(&str) -> Result<Option<String>, ProtoError>,
) -> Result<Option<Vec<u8>>, ProtoError> {
    rewrite_payloads(msg, path, &mut |field, payload| {
        let old = std::str::from_utf8(payload).map_err(|_| ProtoError::InvalidUtf8(field))?;
        Ok(match f(old)? {
            Some(new) if new != old => Some(new.into_bytes()),
            _ => None,
        })
    })
}

/// Rewrites the length-delimited payloads at `path` inside `msg` (`f` gets the field number
/// and the payload); `None` when nothing changed.
fn rewrite_payloads(
    msg: &[u8],
    path: &[u32],
    f: &mut dyn FnMut(u32, &[u8]) -> Result<Option<Vec<u8>>, ProtoError>,
) -> Result<Option<Vec<u8>>, ProtoError> {
    let Some((&want, rest)) = path.split_first() else { return Ok(None) };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for field in Fields::new(msg) {
        let field = field?;
        if field.number != want {
            continue;
        }
        let replacement =
            if rest.is_empty() { f(field.number, field.message(msg)?)? } else { rewrite_payloads(field.message(msg)?, rest, f)? };
        if let Some(new) = replacement {
            let o = out.get_or_insert_with(|| Vec::with_capacity(msg.len() + new.len() + 16));
            o.extend_from_slice(&msg[copied..field.tag_end]);
            write_varint(o, new.len() as u64);
            o.extend_from_slice(&new);
            copied = field.end;
        }
    }
    Ok(out.map(|mut o| {
        o.extend_from_slice(&msg[copied..]);
        o
    }))
}

/// Rewrites every embedded message at `path` (inside `raw`) whole: `f` gets each one's bytes and
/// returns `Some(new)` to replace it. For fields that must be translated together (an RBAC
/// subject's `name` depends on its `kind`).
pub fn rewrite_messages(
    body: &[u8],
    path: &[u32],
    f: &mut dyn FnMut(&[u8]) -> Result<Option<Vec<u8>>, ProtoError>,
) -> Result<Vec<u8>, ProtoError> {
    let unknown = envelope(body)?;
    let full = full_path(path)?;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(MAGIC);
    match rewrite_payloads(unknown, &full, &mut |_, payload| f(payload))? {
        Some(new) => out.extend_from_slice(&new),
        None => out.extend_from_slice(unknown),
    }
    Ok(out)
}

/// The object inside a protobuf body (the envelope's `raw`); empty if it has none.
pub fn object(body: &[u8]) -> Result<&[u8], ProtoError> {
    let unknown = envelope(body)?;
    Ok(repeated(unknown, UNKNOWN_RAW)?.pop().unwrap_or_default())
}

/// Every occurrence of length-delimited field `number` of one message, in wire order
/// (a repeated string or message).
pub fn repeated(msg: &[u8], number: u32) -> Result<Vec<&[u8]>, ProtoError> {
    let mut out = Vec::new();
    for field in Fields::new(msg) {
        let field = field?;
        if field.number == number {
            out.push(field.message(msg)?);
        }
    }
    Ok(out)
}

/// String field `number` of one message, as the decoder sees it (the last occurrence wins).
pub fn string_field(msg: &[u8], number: u32) -> Result<Option<&str>, ProtoError> {
    let mut last = None;
    for field in Fields::new(msg) {
        let field = field?;
        if field.number == number {
            last = Some(field.string(msg)?);
        }
    }
    Ok(last)
}

/// One message with every occurrence of string field `number` set to `value`; `None` when none
/// is present or all already hold it.
pub fn replace_string_field(msg: &[u8], number: u32, value: &str) -> Result<Option<Vec<u8>>, ProtoError> {
    rewrite_message(msg, &[number], &mut |_| Ok(Some(value.to_string())))
}

fn message_has(msg: &[u8], path: &[u32]) -> Result<bool, ProtoError> {
    let Some((&want, rest)) = path.split_first() else { return Ok(true) };
    let mut found = false;
    for field in Fields::new(msg) {
        let field = field?;
        if field.number != want {
            continue;
        }
        if rest.is_empty() || message_has(field.message(msg)?, rest)? {
            found = true;
        }
    }
    Ok(found)
}

/// Sets the string at `path` in every occurrence, creating the missing fields (each inserted before the
/// first field with a higher number, i.e. where gogo-protobuf would have put it).
fn upsert(msg: &[u8], path: &[u32], value: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let Some((&want, rest)) = path.split_first() else { return Ok(value.to_vec()) };
    let mut out = Vec::with_capacity(msg.len() + value.len() + 16);
    let mut copied = 0;
    let mut found = false;
    let mut insert_at = None;
    for field in Fields::new(msg) {
        let field = field?;
        if field.number > want && insert_at.is_none() {
            insert_at = Some(field.start);
        }
        if field.number != want {
            continue;
        }
        found = true;
        let payload = field.message(msg)?;
        let new = if rest.is_empty() { value.to_vec() } else { upsert(payload, rest, value)? };
        out.extend_from_slice(&msg[copied..field.tag_end]);
        write_varint(&mut out, new.len() as u64);
        out.extend_from_slice(&new);
        copied = field.end;
    }
    out.extend_from_slice(&msg[copied..]);
    if !found {
        // Nothing was rewritten, so `out` is `msg`.
        let mut added = Vec::new();
        write_len_field(&mut added, want, &nested(rest, value));
        let at = insert_at.unwrap_or(msg.len());
        out.splice(at..at, added);
    }
    Ok(out)
}

/// A message holding `value` at `path` and nothing else.
fn nested(path: &[u32], value: &[u8]) -> Vec<u8> {
    let Some((&first, rest)) = path.split_first() else { return value.to_vec() };
    let mut out = Vec::new();
    write_len_field(&mut out, first, &nested(rest, value));
    out
}

/// A `map<string, string>` being decoded with last-wins per key, in order of first appearance.
#[derive(Default)]
struct Map {
    pairs: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Map {
    fn insert_entry(&mut self, entry: &[u8]) -> Result<(), ProtoError> {
        let (mut key, mut value) = ("", "");
        for field in Fields::new(entry) {
            let field = field?;
            match field.number {
                ENTRY_KEY => key = field.string(entry)?,
                ENTRY_VALUE => value = field.string(entry)?,
                _ => {}
            }
        }
        match self.index.get(key) {
            Some(&i) => self.pairs[i].1 = value.to_owned(),
            None => {
                self.index.insert(key.to_owned(), self.pairs.len());
                self.pairs.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // -----------------------------------------------------------------------------------------------
    // Vectors encoded by the real thing: `runtime.Encode(scheme.Codecs.EncoderForVersion(<protobuf
    // serializer>, gv), obj)` with k8s.io/client-go, k8s.io/api and k8s.io/apimachinery v0.37.2 — the
    // path kubectl 1.37 takes for a protobuf request body.
    // -----------------------------------------------------------------------------------------------

    /// `kubectl create namespace x`: Namespace{metadata{name: x}}.
    const GO_NS_X: &str = "\
        6b3873000a0f0a02763112094e616d65737061636512190a110a017812001a0022002a0032003800420012001a020a00\
        1a002200";
    /// Namespace{metadata{name: acme--x}}.
    const GO_NS_X_ACME: &str = "\
        6b3873000a0f0a02763112094e616d657370616365121f0a170a0761636d652d2d7812001a0022002a00320038004200\
        12001a020a001a002200";
    /// Namespace team-a, labels {team: a, env: prod}, annotations {owner: alice@example.com}.
    const GO_NS_LABELS: &str = "\
        6b3873000a0f0a02763112094e616d65737061636512520a4a0a067465616d2d6112001a0022002a003200380042005a\
        0b0a03656e76120470726f645a090a047465616d120161621a0a056f776e65721211616c696365406578616d706c652e\
        636f6d12001a020a001a002200";
    /// ConfigMap default/cm, data {a: b, c: d}.
    const GO_CONFIGMAP: &str = "\
        6b3873000a0f0a0276311209436f6e6669674d6170122b0a190a02636d12001a0764656661756c7422002a0032003800\
        420012060a016112016212060a01631201641a002200";
    /// The same ConfigMap in namespace acme--default.
    const GO_CONFIGMAP_ACME: &str = "\
        6b3873000a0f0a0276311209436f6e6669674d617012310a1f0a02636d12001a0d61636d652d2d64656661756c742200\
        2a0032003800420012060a016112016212060a01631201641a002200";
    /// The same ConfigMap without a namespace (gogo still emits an empty `namespace`).
    const GO_CONFIGMAP_NONS: &str = "\
        6b3873000a0f0a0276311209436f6e6669674d617012240a120a02636d12001a0022002a0032003800420012060a0161\
        12016212060a01631201641a002200";
    /// The same ConfigMap in a namespace of 150 `n`s: `raw` and `metadata` need two-byte lengths.
    const GO_CONFIGMAP_LONG_HEAD: &str = "6b3873000a0f0a0276311209436f6e6669674d617012bc010aa9010a02636d12001a9601";
    const GO_CONFIGMAP_LONG_TAIL: &str = "22002a0032003800420012060a016112016212060a01631201641a002200";
    /// RoleBinding dev/rb, subjects [ServiceAccount dev/builder, User alice (namespace "")], roleRef Role edit.
    const GO_ROLEBINDING: &str = "\
        6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542696e64696e\
        67128e010a150a02726212001a0364657622002a0032003800420012200a0e536572766963654163636f756e7412001a\
        076275696c6465722203646576122a0a04557365721219726261632e617574686f72697a6174696f6e2e6b38732e696f\
        1a05616c69636522001a270a19726261632e617574686f72697a6174696f6e2e6b38732e696f1204526f6c651a046564\
        69741a002200";
    /// The same RoleBinding with the ServiceAccount subject in namespace acme--dev.
    const GO_ROLEBINDING_ACME: &str = "\
        6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542696e64696e\
        671294010a150a02726212001a0364657622002a0032003800420012260a0e536572766963654163636f756e7412001a\
        076275696c646572220961636d652d2d646576122a0a04557365721219726261632e617574686f72697a6174696f6e2e\
        6b38732e696f1a05616c69636522001a270a19726261632e617574686f72697a6174696f6e2e6b38732e696f1204526f\
        6c651a04656469741a002200";
    /// `kubectl run web --image=nginx`: Pod web, labels {run: web}, one container (tags up to field 40).
    const GO_POD: &str = "\
        6b3873000a090a0276311203506f6412760a1f0a0377656212001a0022002a003200380042005a0a0a0372756e120377\
        6562123e12200a0377656212056e67696e782a0042006a007200800100880100900100a201001a00320042004a005200\
        5800600068008201008a01009a0100c201001a130a001a0022002a0032004a005a0072008801001a002200";
    /// `kubectl auth whoami`: an empty authentication.k8s.io/v1 SelfSubjectReview.
    const GO_WHOAMI: &str = "\
        6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a656374526576\
        696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200";

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len().is_multiple_of(2), "odd hex");
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    fn go_configmap_long() -> Vec<u8> {
        hex(&format!("{GO_CONFIGMAP_LONG_HEAD}{}{GO_CONFIGMAP_LONG_TAIL}", "6e".repeat(150)))
    }

    fn corpus() -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = [
            GO_NS_X,
            GO_NS_X_ACME,
            GO_NS_LABELS,
            GO_CONFIGMAP,
            GO_CONFIGMAP_ACME,
            GO_CONFIGMAP_NONS,
            GO_ROLEBINDING,
            GO_ROLEBINDING_ACME,
            GO_POD,
            GO_WHOAMI,
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        all.push(go_configmap_long());
        all.push(with_unknown_fields("default"));
        all.push(proto3_rolebinding());
        all
    }

    // -----------------------------------------------------------------------------------------------
    // A tiny encoder for hand-built messages.
    // -----------------------------------------------------------------------------------------------

    #[derive(Clone, Default)]
    struct M(Vec<u8>);

    impl M {
        fn new() -> Self {
            M(Vec::new())
        }
        fn tag(mut self, n: u32, wire: u8) -> Self {
            write_varint(&mut self.0, (u64::from(n) << 3) | u64::from(wire));
            self
        }
        fn b(self, n: u32, payload: &[u8]) -> Self {
            let mut s = self.tag(n, WIRE_LEN);
            write_varint(&mut s.0, payload.len() as u64);
            s.0.extend_from_slice(payload);
            s
        }
        fn s(self, n: u32, v: &str) -> Self {
            self.b(n, v.as_bytes())
        }
        fn m(self, n: u32, m: M) -> Self {
            self.b(n, &m.0)
        }
        fn v(self, n: u32, v: u64) -> Self {
            let mut s = self.tag(n, WIRE_VARINT);
            write_varint(&mut s.0, v);
            s
        }
        fn f64(self, n: u32, v: u64) -> Self {
            let mut s = self.tag(n, WIRE_I64);
            s.0.extend_from_slice(&v.to_le_bytes());
            s
        }
        fn f32(self, n: u32, v: u32) -> Self {
            let mut s = self.tag(n, WIRE_I32);
            s.0.extend_from_slice(&v.to_le_bytes());
            s
        }
        fn raw(mut self, bytes: &[u8]) -> Self {
            self.0.extend_from_slice(bytes);
            self
        }
    }

    /// A body exactly as `protobuf.Serializer` frames it: typeMeta, raw, and empty contentEncoding and
    /// contentType (always emitted).
    fn envelope_of(api_version: &str, kind: &str, raw: M) -> Vec<u8> {
        let unknown = M::new().m(1, M::new().s(1, api_version).s(2, kind)).m(2, raw).s(3, "").s(4, "");
        [MAGIC.as_slice(), &unknown.0].concat()
    }

    /// ObjectMeta as gogo-protobuf emits it: every string, generation, empty creationTimestamp, sorted maps.
    fn gogo_meta(name: &str, ns: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> M {
        let mut m = M::new().s(1, name).s(2, "").s(3, ns).s(4, "").s(5, "").s(6, "").v(7, 0).m(8, M::new());
        let mut labels = labels.to_vec();
        labels.sort();
        for (k, v) in labels {
            m = m.m(11, M::new().s(1, k).s(2, v));
        }
        let mut annotations = annotations.to_vec();
        annotations.sort();
        for (k, v) in annotations {
            m = m.m(12, M::new().s(1, k).s(2, v));
        }
        m
    }

    fn subject(kind: &str, api_group: &str, name: &str, ns: &str) -> M {
        M::new().s(1, kind).s(2, api_group).s(3, name).s(4, ns)
    }

    /// A RoleBinding as a proto3 encoder would write it: the User subject has no namespace at all.
    fn proto3_rolebinding() -> Vec<u8> {
        let raw = M::new()
            .m(1, M::new().s(1, "rb").s(3, "dev"))
            .m(2, M::new().s(1, "ServiceAccount").s(3, "builder").s(4, "dev"))
            .m(2, M::new().s(1, "User").s(2, "rbac.authorization.k8s.io").s(3, "alice"))
            .m(3, M::new().s(1, "rbac.authorization.k8s.io").s(2, "Role").s(3, "edit"));
        envelope_of("rbac.authorization.k8s.io/v1", "RoleBinding", raw)
    }

    /// A ConfigMap in namespace `ns` with unknown fields of every wire type before, between and after the
    /// known ones, at every level on the path.
    fn with_unknown_fields(ns: &str) -> Vec<u8> {
        let meta = M::new()
            .v(100, 7)
            .s(1, "cm")
            .f64(99, 0x0102_0304_0506_0708)
            .s(3, ns)
            .m(200, M::new().s(3, "not-a-namespace").v(1, 1))
            .f32(4000, 0xdead_beef)
            .m(11, M::new().s(1, "k").s(2, "v"));
        let raw = M::new()
            .m(1000, M::new().m(1, M::new().s(3, "deep-unknown")))
            .m(1, meta)
            .m(2, M::new().s(1, "a").s(2, "b"))
            .v(536_870_911, u64::MAX);
        let unknown =
            M::new().v(9, 1).m(1, M::new().s(1, "v1").s(2, "ConfigMap").v(3, 5)).m(2, raw).s(3, "").s(4, "").f32(77, 1);
        [MAGIC.as_slice(), &unknown.0].concat()
    }

    fn prefix(s: &str) -> Result<Option<String>, ProtoError> {
        Ok(Some(format!("acme--{s}")))
    }

    fn keep(_: &str) -> Result<Option<String>, ProtoError> {
        Ok(None)
    }

    // -----------------------------------------------------------------------------------------------
    // The hand encoder reproduces Go's bytes, so hand-built vectors are gogo-faithful too.
    // -----------------------------------------------------------------------------------------------

    #[test]
    fn hand_encoder_matches_go() {
        let ns_spec_status = |meta: M| M::new().m(1, meta).m(2, M::new()).m(3, M::new().s(1, ""));
        assert_eq!(envelope_of("v1", "Namespace", ns_spec_status(gogo_meta("x", "", &[], &[]))), hex(GO_NS_X));
        assert_eq!(
            envelope_of(
                "v1",
                "Namespace",
                ns_spec_status(gogo_meta(
                    "team-a",
                    "",
                    &[("team", "a"), ("env", "prod")],
                    &[("owner", "alice@example.com")]
                ))
            ),
            hex(GO_NS_LABELS)
        );
        let configmap = |ns: &str| {
            let data = |k: &str, v: &str| M::new().s(1, k).s(2, v);
            envelope_of(
                "v1",
                "ConfigMap",
                M::new().m(1, gogo_meta("cm", ns, &[], &[])).m(2, data("a", "b")).m(2, data("c", "d")),
            )
        };
        assert_eq!(configmap("default"), hex(GO_CONFIGMAP));
        assert_eq!(configmap(""), hex(GO_CONFIGMAP_NONS));
        assert_eq!(configmap(&"n".repeat(150)), go_configmap_long());
        let rolebinding = |sa_ns: &str| {
            let raw = M::new()
                .m(1, gogo_meta("rb", "dev", &[], &[]))
                .m(2, subject("ServiceAccount", "", "builder", sa_ns))
                .m(2, subject("User", "rbac.authorization.k8s.io", "alice", ""))
                .m(3, M::new().s(1, "rbac.authorization.k8s.io").s(2, "Role").s(3, "edit"));
            envelope_of("rbac.authorization.k8s.io/v1", "RoleBinding", raw)
        };
        assert_eq!(rolebinding("dev"), hex(GO_ROLEBINDING));
        assert_eq!(rolebinding("acme--dev"), hex(GO_ROLEBINDING_ACME));
    }

    // -----------------------------------------------------------------------------------------------
    // read_meta
    // -----------------------------------------------------------------------------------------------

    #[test]
    fn read_meta_of_kubectl_create_namespace() {
        let view = read_meta(&hex(GO_NS_X)).unwrap();
        assert_eq!(
            view,
            ObjectMetaView {
                name: Some("x".into()),
                generate_name: Some(String::new()),
                namespace: Some(String::new()),
                labels: vec![],
                annotations: vec![],
                kind: Some("Namespace".into()),
                api_version: Some("v1".into()),
            }
        );
    }

    #[test]
    fn read_meta_labels_and_annotations() {
        let view = read_meta(&hex(GO_NS_LABELS)).unwrap();
        assert_eq!(view.name.as_deref(), Some("team-a"));
        assert_eq!(view.labels, vec![("env".into(), "prod".into()), ("team".into(), "a".into())]);
        assert_eq!(view.annotations, vec![("owner".into(), "alice@example.com".into())]);
    }

    #[test]
    fn read_meta_of_other_kinds() {
        let cm = read_meta(&hex(GO_CONFIGMAP)).unwrap();
        assert_eq!((cm.kind.as_deref(), cm.namespace.as_deref()), (Some("ConfigMap"), Some("default")));
        let rb = read_meta(&hex(GO_ROLEBINDING)).unwrap();
        assert_eq!(rb.api_version.as_deref(), Some("rbac.authorization.k8s.io/v1"));
        assert_eq!(rb.namespace.as_deref(), Some("dev"));
        let pod = read_meta(&hex(GO_POD)).unwrap();
        assert_eq!(pod.labels, vec![("run".into(), "web".into())]);
        let whoami = read_meta(&hex(GO_WHOAMI)).unwrap();
        assert_eq!(whoami.kind.as_deref(), Some("SelfSubjectReview"));
        assert_eq!(whoami.name.as_deref(), Some(""));
        let unknowns = with_unknown_fields("default");
        let view = read_meta(&unknowns).unwrap();
        assert_eq!((view.name.as_deref(), view.namespace.as_deref()), (Some("cm"), Some("default")));
        assert_eq!(view.labels, vec![("k".into(), "v".into())]);
    }

    #[test]
    fn read_meta_absent_fields() {
        // proto3 style: nothing emitted but the name.
        let body = envelope_of("v1", "Namespace", M::new().m(1, M::new().s(1, "x")));
        let view = read_meta(&body).unwrap();
        assert_eq!(view.name.as_deref(), Some("x"));
        assert_eq!((view.namespace, view.generate_name), (None, None));
        // No metadata, no raw, no typeMeta, nothing at all.
        assert_eq!(read_meta(&envelope_of("v1", "Namespace", M::new().m(2, M::new()))).unwrap().name, None);
        let no_raw = [MAGIC.as_slice(), &M::new().m(1, M::new().s(2, "Namespace")).0].concat();
        assert_eq!(read_meta(&no_raw).unwrap().kind.as_deref(), Some("Namespace"));
        assert_eq!(read_meta(MAGIC).unwrap(), ObjectMetaView::default());
    }

    #[test]
    fn read_meta_follows_merge_semantics() {
        // Two metadata messages merge; strings are last-wins; map keys are last-wins.
        let raw = M::new()
            .m(1, M::new().s(1, "first").s(3, "ns1").m(11, M::new().s(1, "a").s(2, "1")))
            .m(1, M::new().s(1, "second").m(11, M::new().s(1, "b").s(2, "2")).m(11, M::new().s(1, "a").s(2, "3")))
            .m(1, M::new().m(11, M::new().s(2, "no-key")).m(12, M::new().s(1, "only-key")));
        let view = read_meta(&envelope_of("v1", "Namespace", raw)).unwrap();
        assert_eq!(view.name.as_deref(), Some("second"));
        assert_eq!(view.namespace.as_deref(), Some("ns1"));
        assert_eq!(
            view.labels,
            vec![("a".into(), "3".into()), ("b".into(), "2".into()), (String::new(), "no-key".into())]
        );
        assert_eq!(view.annotations, vec![("only-key".into(), String::new())]);
        // `raw` is bytes: the apiserver keeps the last one.
        let unknown = M::new().m(2, M::new().m(1, M::new().s(1, "old"))).m(2, M::new().m(1, M::new().s(1, "new")));
        let view = read_meta(&[MAGIC.as_slice(), &unknown.0].concat()).unwrap();
        assert_eq!(view.name.as_deref(), Some("new"));
    }

    #[test]
    fn read_meta_refuses_what_the_apiserver_would_read_differently() {
        // A label key sent as a varint: gogo's map decoder would read the varint as a string length.
        let entry = M::new().v(1, 3).s(2, "abc");
        let body = envelope_of("v1", "Namespace", M::new().m(1, M::new().m(11, entry)));
        assert_eq!(read_meta(&body), Err(ProtoError::UnexpectedWireType { field: 1, wire_type: 0 }));
        // A namespace sent as a fixed32.
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().f32(3, 1)));
        assert_eq!(read_meta(&body), Err(ProtoError::UnexpectedWireType { field: 3, wire_type: 5 }));
        // A label key running past its entry into the next field.
        let meta = M::new().raw(&[0x5a, 0x02, 0x0a, 0x05]).s(1, "x");
        assert_eq!(read_meta(&envelope_of("v1", "Namespace", M::new().m(1, meta))), Err(ProtoError::Truncated));
        // Not UTF-8.
        let body = envelope_of("v1", "Namespace", M::new().m(1, M::new().b(1, &[0xff, 0xfe])));
        assert_eq!(read_meta(&body), Err(ProtoError::InvalidUtf8(1)));
    }

    // -----------------------------------------------------------------------------------------------
    // rewrite_strings
    // -----------------------------------------------------------------------------------------------

    #[test]
    fn rewrite_configmap_namespace_matches_go() {
        let out = rewrite_strings(&hex(GO_CONFIGMAP), paths::METADATA_NAMESPACE, &mut prefix).unwrap();
        assert_eq!(out, hex(GO_CONFIGMAP_ACME));
        // And back, exercising shrinking.
        let back = rewrite_strings(&out, &[1, 3], &mut |s| Ok(s.strip_prefix("acme--").map(str::to_owned))).unwrap();
        assert_eq!(back, hex(GO_CONFIGMAP));
    }

    #[test]
    fn rewrite_crosses_varint_length_boundaries() {
        let long = "n".repeat(150);
        let out = rewrite_strings(&hex(GO_CONFIGMAP), &[1, 3], &mut |_| Ok(Some(long.clone()))).unwrap();
        assert_eq!(out, go_configmap_long());
        let back = rewrite_strings(&out, &[1, 3], &mut |_| Ok(Some("default".into()))).unwrap();
        assert_eq!(back, hex(GO_CONFIGMAP));
    }

    #[test]
    fn rewrite_namespace_name_matches_go() {
        let out = rewrite_strings(&hex(GO_NS_X), paths::METADATA_NAME, &mut prefix).unwrap();
        assert_eq!(out, hex(GO_NS_X_ACME));
    }

    #[test]
    fn rewrite_rolebinding_subjects_matches_go() {
        let mut seen = Vec::new();
        let out = rewrite_strings(&hex(GO_ROLEBINDING), paths::BINDING_SUBJECTS_NAMESPACE, &mut |s| {
            seen.push(s.to_owned());
            // gogo emits "" for a User subject's namespace: it must stay empty.
            Ok((!s.is_empty()).then(|| format!("acme--{s}")))
        })
        .unwrap();
        assert_eq!(seen, ["dev", ""]);
        assert_eq!(out, hex(GO_ROLEBINDING_ACME));
    }

    #[test]
    fn rewrite_rolebinding_proto3_subject_without_namespace() {
        let body = proto3_rolebinding();
        let mut seen = Vec::new();
        let out = rewrite_strings(&body, &[2, 4], &mut |s| {
            seen.push(s.to_owned());
            prefix(s)
        })
        .unwrap();
        assert_eq!(seen, ["dev"]);
        let expected = envelope_of(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            M::new()
                .m(1, M::new().s(1, "rb").s(3, "dev"))
                .m(2, M::new().s(1, "ServiceAccount").s(3, "builder").s(4, "acme--dev"))
                .m(2, M::new().s(1, "User").s(2, "rbac.authorization.k8s.io").s(3, "alice"))
                .m(3, M::new().s(1, "rbac.authorization.k8s.io").s(2, "Role").s(3, "edit")),
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn subjects_are_rewritten_whole_by_kind() {
        let users = |body: &[u8]| {
            rewrite_messages(body, &[2], &mut |subject| match string_field(subject, 1)? {
                Some("User") => {
                    let name = string_field(subject, 3)?.unwrap_or("");
                    replace_string_field(subject, 3, &format!("vcproxy:acme:{name}"))
                }
                _ => Ok(None),
            })
        };
        let expected = envelope_of(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            M::new()
                .m(1, M::new().s(1, "rb").s(3, "dev"))
                .m(2, M::new().s(1, "ServiceAccount").s(3, "builder").s(4, "dev"))
                .m(2, M::new().s(1, "User").s(2, "rbac.authorization.k8s.io").s(3, "vcproxy:acme:alice"))
                .m(3, M::new().s(1, "rbac.authorization.k8s.io").s(2, "Role").s(3, "edit")),
        );
        assert_eq!(users(&proto3_rolebinding()).unwrap(), expected);
        // The real body kubectl sends: its User subject is renamed, nothing else moves.
        let go = hex(GO_ROLEBINDING);
        let out = users(&go).unwrap();
        assert_ne!(out, go);
        assert_eq!(rewrite_messages(&out, &[2], &mut |_| Ok(None)).unwrap(), out);
        // The last duplicate of a field is what the decoder keeps, and every duplicate is replaced.
        let twice = M::new().s(1, "User").s(3, "a").s(3, "b");
        let msg = twice.0;
        assert_eq!(string_field(&msg, 3).unwrap(), Some("b"));
        let replaced = replace_string_field(&msg, 3, "c").unwrap().unwrap();
        assert_eq!(replaced, M::new().s(1, "User").s(3, "c").s(3, "c").0);
        assert_eq!(string_field(&msg, 4).unwrap(), None);
    }

    #[test]
    fn rewrite_preserves_unknown_fields_at_every_level() {
        let body = with_unknown_fields("default");
        let out = rewrite_strings(&body, &[1, 3], &mut prefix).unwrap();
        assert_eq!(out, with_unknown_fields("acme--default"));
        // Only the one string changed: decoding agrees.
        assert_eq!(read_meta(&out).unwrap().namespace.as_deref(), Some("acme--default"));
        let mut before = read_meta(&body).unwrap();
        before.namespace = Some("acme--default".into());
        assert_eq!(read_meta(&out).unwrap(), before);
    }

    #[test]
    fn rewrite_keeps_non_minimal_encodings_outside_the_change() {
        // Tag of metadata written in two bytes (0x8a 0x00 = field 1, wire 2), name's length in two bytes.
        let meta = M::new().raw(&[0x0a, 0x81, 0x00, b'x']).s(3, "ns");
        let raw = M::new().raw(&[0x8a, 0x00]).raw(&{
            let mut l = Vec::new();
            write_varint(&mut l, meta.0.len() as u64);
            l
        });
        let raw = raw.raw(&meta.0);
        let body = envelope_of("v1", "ConfigMap", raw);
        let out = rewrite_strings(&body, &[1, 3], &mut |_| Ok(Some("zz".into()))).unwrap();
        let meta2 = M::new().raw(&[0x0a, 0x81, 0x00, b'x']).s(3, "zz");
        let expected = envelope_of("v1", "ConfigMap", M::new().raw(&[0x8a, 0x00, meta2.0.len() as u8]).raw(&meta2.0));
        assert_eq!(out, expected);
        assert_eq!(read_meta(&out).unwrap().name.as_deref(), Some("x"));
        // Handing back the same value keeps its non-minimal length prefix too.
        assert_eq!(rewrite_strings(&body, &[1, 1], &mut |s| Ok(Some(s.to_owned()))).unwrap(), body);
    }

    #[test]
    fn rewrite_absent_path_is_identity_and_never_calls_f() {
        let mut called = false;
        let mut f = |_: &str| -> Result<Option<String>, ProtoError> {
            called = true;
            Ok(Some("x".into()))
        };
        for body in [
            envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(1, "cm"))),
            envelope_of("v1", "ConfigMap", M::new().m(2, M::new().s(1, "a"))),
            [MAGIC.as_slice(), &M::new().m(1, M::new().s(1, "v1")).0].concat(),
            MAGIC.to_vec(),
        ] {
            assert_eq!(rewrite_strings(&body, &[1, 3], &mut f).unwrap(), body);
            assert_eq!(rewrite_strings(&body, &[2, 4], &mut f).unwrap(), body);
        }
        assert!(!called);
    }

    #[test]
    fn rewrite_present_empty_is_visited() {
        let mut seen = Vec::new();
        let out = rewrite_strings(&hex(GO_CONFIGMAP_NONS), &[1, 3], &mut |s| {
            seen.push(s.to_owned());
            Ok(Some("acme--default".into()))
        })
        .unwrap();
        assert_eq!(seen, [""]);
        assert_eq!(out, hex(GO_CONFIGMAP_ACME));
    }

    #[test]
    fn rewrite_keep_and_same_value_are_byte_identical() {
        for body in corpus() {
            for path in [&[1u32, 3][..], &[1, 1], &[2, 4], &[1, 11, 1], &[1, 12, 2]] {
                assert_eq!(rewrite_strings(&body, path, &mut keep).unwrap(), body);
                assert_eq!(rewrite_strings(&body, path, &mut |s| Ok(Some(s.to_owned()))).unwrap(), body);
            }
        }
    }

    #[test]
    fn rewrite_error_from_f_propagates() {
        let err = rewrite_strings(&hex(GO_CONFIGMAP), &[1, 3], &mut |s| Err(ProtoError::Rejected(format!("no {s}"))));
        assert_eq!(err, Err(ProtoError::Rejected("no default".into())));
    }

    #[test]
    fn rewrite_visits_every_duplicate() {
        // Duplicate raw, duplicate metadata, duplicate namespace: the apiserver merges or keeps the last,
        // so all must be translated.
        let meta = |ns: &str| M::new().s(3, ns).s(3, ns);
        let unknown = |ns: &str| {
            let raw = M::new().m(1, meta(ns)).m(1, meta(ns));
            M::new().m(2, raw.clone()).m(2, raw)
        };
        let body = [MAGIC.as_slice(), &unknown("a").0].concat();
        let mut count = 0;
        let out = rewrite_strings(&body, &[1, 3], &mut |s| {
            count += 1;
            prefix(s)
        })
        .unwrap();
        assert_eq!(count, 8);
        assert_eq!(out, [MAGIC.as_slice(), &unknown("acme--a").0].concat());
    }

    #[test]
    fn rewrite_label_values_through_map_entries() {
        let out = rewrite_strings(&hex(GO_NS_LABELS), &[1, 11, 2], &mut |s| Ok(Some(s.to_uppercase()))).unwrap();
        let view = read_meta(&out).unwrap();
        assert_eq!(view.labels, vec![("env".into(), "PROD".into()), ("team".into(), "A".into())]);
        assert_eq!(view.annotations, read_meta(&hex(GO_NS_LABELS)).unwrap().annotations);
    }

    #[test]
    fn rewrite_refuses_wrong_wire_types_on_the_path() {
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().v(3, 5)));
        assert_eq!(
            rewrite_strings(&body, &[1, 3], &mut keep),
            Err(ProtoError::UnexpectedWireType { field: 3, wire_type: 0 })
        );
        let body = envelope_of("v1", "ConfigMap", M::new().f64(1, 5));
        assert_eq!(
            rewrite_strings(&body, &[1, 3], &mut keep),
            Err(ProtoError::UnexpectedWireType { field: 1, wire_type: 1 })
        );
        let unknown = M::new().v(2, 1);
        assert_eq!(
            rewrite_strings(&[MAGIC.as_slice(), &unknown.0].concat(), &[1, 3], &mut keep),
            Err(ProtoError::UnexpectedWireType { field: 2, wire_type: 0 })
        );
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().b(3, b"\xc0\x80")));
        assert_eq!(rewrite_strings(&body, &[1, 3], &mut keep), Err(ProtoError::InvalidUtf8(3)));
    }

    // -----------------------------------------------------------------------------------------------
    // set_namespace
    // -----------------------------------------------------------------------------------------------

    #[test]
    fn set_namespace_replaces_matches_go() {
        assert_eq!(set_namespace(&hex(GO_CONFIGMAP), "acme--default").unwrap(), hex(GO_CONFIGMAP_ACME));
        assert_eq!(set_namespace(&hex(GO_CONFIGMAP_NONS), "acme--default").unwrap(), hex(GO_CONFIGMAP_ACME));
        assert_eq!(set_namespace(&hex(GO_CONFIGMAP), &"n".repeat(150)).unwrap(), go_configmap_long());
    }

    #[test]
    fn set_namespace_adds_in_field_order() {
        // proto3-style ObjectMeta: name, uid, labels; namespace goes between name and uid.
        let meta = |ns: Option<&str>| {
            let m = M::new().s(1, "cm").s(2, "gen-");
            let m = match ns {
                Some(ns) => m.s(3, ns),
                None => m,
            };
            m.s(5, "uid").m(11, M::new().s(1, "k").s(2, "v"))
        };
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, meta(None)).m(2, M::new()));
        let expected = envelope_of("v1", "ConfigMap", M::new().m(1, meta(Some("acme--x"))).m(2, M::new()));
        assert_eq!(set_namespace(&body, "acme--x").unwrap(), expected);
        // Only a name: appended at the end.
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(1, "cm")));
        let expected = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(1, "cm").s(3, "n")));
        assert_eq!(set_namespace(&body, "n").unwrap(), expected);
        // Empty metadata.
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, M::new()).m(2, M::new()));
        let expected = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(3, "n")).m(2, M::new()));
        assert_eq!(set_namespace(&body, "n").unwrap(), expected);
    }

    #[test]
    fn set_namespace_adds_missing_metadata_and_raw() {
        // No metadata: inserted first, before `data`.
        let body = envelope_of("v1", "ConfigMap", M::new().m(2, M::new().s(1, "a").s(2, "b")));
        let expected =
            envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(3, "n")).m(2, M::new().s(1, "a").s(2, "b")));
        assert_eq!(set_namespace(&body, "n").unwrap(), expected);
        // Empty raw.
        let body = envelope_of("v1", "ConfigMap", M::new());
        let expected = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(3, "n")));
        assert_eq!(set_namespace(&body, "n").unwrap(), expected);
        // No raw at all: inserted between typeMeta and contentEncoding.
        let type_meta = M::new().s(1, "v1").s(2, "ConfigMap");
        let body = [MAGIC.as_slice(), &M::new().m(1, type_meta.clone()).s(3, "").s(4, "").0].concat();
        assert_eq!(
            set_namespace(&body, "n").unwrap(),
            envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(3, "n")))
        );
        // Nothing but the magic.
        let expected = [MAGIC.as_slice(), &M::new().m(2, M::new().m(1, M::new().s(3, "n"))).0].concat();
        assert_eq!(set_namespace(MAGIC, "n").unwrap(), expected);
    }

    #[test]
    fn set_namespace_preserves_unknown_fields() {
        let body = with_unknown_fields("default");
        assert_eq!(set_namespace(&body, "acme--default").unwrap(), with_unknown_fields("acme--default"));
        assert_eq!(set_namespace(&body, "").unwrap(), with_unknown_fields(""));
    }

    #[test]
    fn set_namespace_replaces_every_duplicate() {
        let unknown =
            |ns: &str| M::new().m(2, M::new().m(1, M::new().s(3, ns).s(1, "x").s(3, ns)).m(1, M::new().s(3, ns)));
        let body = [MAGIC.as_slice(), &unknown("a").0].concat();
        assert_eq!(set_namespace(&body, "bb").unwrap(), [MAGIC.as_slice(), &unknown("bb").0].concat());
    }

    #[test]
    fn set_namespace_on_real_bodies() {
        for body in corpus() {
            let out = set_namespace(&body, "acme--zz").unwrap();
            let (before, after) = (read_meta(&body).unwrap(), read_meta(&out).unwrap());
            assert_eq!(after, ObjectMetaView { namespace: Some("acme--zz".into()), ..before });
            assert!(has_field(&out, &[1, 3]).unwrap());
        }
    }

    #[test]
    fn set_namespace_refuses_wrong_wire_types() {
        let body = envelope_of("v1", "ConfigMap", M::new().m(1, M::new().v(3, 5)));
        assert_eq!(set_namespace(&body, "n"), Err(ProtoError::UnexpectedWireType { field: 3, wire_type: 0 }));
        let body = envelope_of("v1", "ConfigMap", M::new().v(1, 5));
        assert_eq!(set_namespace(&body, "n"), Err(ProtoError::UnexpectedWireType { field: 1, wire_type: 0 }));
    }

    // -----------------------------------------------------------------------------------------------
    // has_field
    // -----------------------------------------------------------------------------------------------

    #[test]
    fn has_field_cases() {
        let rb = hex(GO_ROLEBINDING);
        assert!(has_field(&rb, &[1, 3]).unwrap());
        assert!(has_field(&rb, &[2, 4]).unwrap());
        assert!(has_field(&rb, &[3, 3]).unwrap());
        assert!(!has_field(&rb, &[1, 13]).unwrap());
        assert!(!has_field(&rb, &[4]).unwrap());
        // Any wire type at the leaf counts: generation is a varint.
        assert!(has_field(&rb, &[1, 7]).unwrap());
        // Only the second subject carries the field.
        assert!(has_field(&proto3_rolebinding(), &[2, 2]).unwrap());
        assert!(!has_field(&proto3_rolebinding(), &[2, 5]).unwrap());
        // Present but empty is present.
        assert!(has_field(&hex(GO_CONFIGMAP_NONS), &[1, 3]).unwrap());
        assert!(!has_field(&envelope_of("v1", "ConfigMap", M::new().m(1, M::new().s(1, "a"))), &[1, 3]).unwrap());
        assert!(!has_field(MAGIC, &[1]).unwrap());
        // A varint where a message is needed on the way.
        assert_eq!(
            has_field(&envelope_of("v1", "X", M::new().v(1, 1)), &[1, 3]),
            Err(ProtoError::UnexpectedWireType { field: 1, wire_type: 0 })
        );
        // Pod: spec.containers[*].name, reached through the multi-byte tags.
        assert!(has_field(&hex(GO_POD), &[2, 2, 1]).unwrap());
    }

    // -----------------------------------------------------------------------------------------------
    // Hostile input
    // -----------------------------------------------------------------------------------------------

    #[test]
    fn not_kubernetes_protobuf() {
        for body in [&b""[..], b"k8s", b"{\"kind\":\"Namespace\"}", b"k8s\x01\x0a\x00", b"K8S\0"] {
            assert_eq!(read_meta(body), Err(ProtoError::NotKubernetesProtobuf));
            assert_eq!(rewrite_strings(body, &[1, 3], &mut keep), Err(ProtoError::NotKubernetesProtobuf));
            assert_eq!(has_field(body, &[1, 3]), Err(ProtoError::NotKubernetesProtobuf));
            assert_eq!(set_namespace(body, "n"), Err(ProtoError::NotKubernetesProtobuf));
        }
    }

    #[test]
    fn bad_paths() {
        let body = hex(GO_CONFIGMAP);
        assert_eq!(rewrite_strings(&body, &[], &mut keep), Err(ProtoError::EmptyPath));
        assert_eq!(has_field(&body, &[]), Err(ProtoError::EmptyPath));
        assert_eq!(has_field(&body, &[1, 0]), Err(ProtoError::BadFieldNumber(0)));
        assert_eq!(has_field(&body, &[1 << 29]), Err(ProtoError::BadFieldNumber(1 << 29)));
        assert_eq!(has_field(&body, &[1; MAX_DEPTH]), Err(ProtoError::TooDeep));
        assert_ne!(has_field(&body, &[1; MAX_DEPTH - 1]), Err(ProtoError::TooDeep));
    }

    fn with_meta_bytes(meta: &[u8]) -> Vec<u8> {
        envelope_of("v1", "ConfigMap", M::new().b(1, meta))
    }

    fn all_fail_with(body: &[u8], expected: ProtoError) {
        assert_eq!(read_meta(body), Err(expected.clone()), "read_meta");
        assert_eq!(rewrite_strings(body, &[1, 3], &mut keep), Err(expected.clone()), "rewrite_strings");
        assert_eq!(has_field(body, &[1, 3]), Err(expected.clone()), "has_field");
        assert_eq!(set_namespace(body, "n"), Err(expected), "set_namespace");
    }

    #[test]
    fn malformed_wire_data() {
        // Groups and unknown wire types.
        all_fail_with(&with_meta_bytes(&[0x0b, 0x0c]), ProtoError::BadWireType(3));
        all_fail_with(&with_meta_bytes(&[0x0c]), ProtoError::BadWireType(4));
        all_fail_with(&with_meta_bytes(&[0x0e]), ProtoError::BadWireType(6));
        all_fail_with(&with_meta_bytes(&[0x0f]), ProtoError::BadWireType(7));
        // Varints: 11 bytes, 10th byte overflowing, ending mid-way.
        let mut long = vec![0x38];
        long.extend([0x80; 10]);
        long.push(0x00);
        all_fail_with(&with_meta_bytes(&long), ProtoError::BadVarint);
        let mut overflow = vec![0x38];
        overflow.extend([0xff; 9]);
        overflow.push(0x02);
        all_fail_with(&with_meta_bytes(&overflow), ProtoError::BadVarint);
        let mut max = vec![0x38];
        max.extend([0xff; 9]);
        max.push(0x01);
        assert!(read_meta(&with_meta_bytes(&max)).is_ok());
        all_fail_with(&with_meta_bytes(&[0x38, 0x80]), ProtoError::Truncated);
        // Lengths past the end, including ones that overflow usize arithmetic.
        all_fail_with(&with_meta_bytes(&[0x1a, 0x05, b'a']), ProtoError::Truncated);
        let mut huge = vec![0x1a];
        huge.extend([0xff; 9]);
        huge.push(0x01);
        all_fail_with(&with_meta_bytes(&huge), ProtoError::Truncated);
        all_fail_with(&with_meta_bytes(&[0x09, 1, 2, 3]), ProtoError::Truncated);
        all_fail_with(&with_meta_bytes(&[0x0d, 1, 2]), ProtoError::Truncated);
        // Field number 0.
        all_fail_with(&with_meta_bytes(&[0x02, 0x00]), ProtoError::BadFieldNumber(0));
    }

    #[test]
    fn field_numbers_go_would_truncate_are_refused() {
        // Go computes int32(tag >> 3): field (2^32 + 3) would be `namespace` to the apiserver.
        let sneaky = (1u64 << 32) + 3;
        let mut meta = Vec::new();
        write_varint(&mut meta, (sneaky << 3) | 2);
        meta.extend([1, b'x']);
        all_fail_with(&with_meta_bytes(&meta), ProtoError::BadFieldNumber(sneaky));
        let mut meta = Vec::new();
        write_varint(&mut meta, (MAX_FIELD_NUMBER + 1) << 3);
        meta.push(0);
        all_fail_with(&with_meta_bytes(&meta), ProtoError::BadFieldNumber(MAX_FIELD_NUMBER + 1));
    }

    #[test]
    fn deep_nesting_is_never_followed_beyond_the_path() {
        // 100 000 nested `field 1` messages, built outside-in without quadratic copying.
        const LEVELS: usize = 100_000;
        let mut lens = vec![0u64; LEVELS + 1];
        for i in 1..=LEVELS {
            let inner = lens[i - 1];
            let mut v = Vec::new();
            write_varint(&mut v, inner);
            lens[i] = inner + 1 + v.len() as u64;
        }
        let mut raw = Vec::with_capacity(lens[LEVELS] as usize);
        for i in (0..LEVELS).rev() {
            raw.push(0x0a);
            write_varint(&mut raw, lens[i]);
        }
        let body = envelope_of("v1", "X", M::new().raw(&raw));
        // metadata.name is the nested bytes, whose length prefixes are not UTF-8.
        assert_eq!(read_meta(&body), Err(ProtoError::InvalidUtf8(1)));
        assert!(has_field(&body, &[1; MAX_DEPTH - 1]).unwrap());
        // 63 levels down the leaf is still nested bytes: reached, and refused as a string.
        assert_eq!(rewrite_strings(&body, &[1; MAX_DEPTH - 1], &mut keep), Err(ProtoError::InvalidUtf8(1)));
        assert_eq!(rewrite_strings(&body, &[1; MAX_DEPTH], &mut keep), Err(ProtoError::TooDeep));
        assert!(set_namespace(&body, "n").is_ok());
    }

    /// Calls everything on `body` and checks the invariants that must hold whenever calls succeed.
    fn exercise(body: &[u8]) {
        let meta = read_meta(body);
        for path in [&[1u32, 3][..], &[2, 4], &[1, 11, 2], &[1]] {
            if let Ok(out) = rewrite_strings(body, path, &mut keep) {
                assert_eq!(out, body);
            }
            let _ = has_field(body, path);
        }
        if let Ok(out) = rewrite_strings(body, &[1, 3], &mut prefix) {
            assert_eq!(rewrite_strings(&out, &[1, 3], &mut keep).as_ref(), Ok(&out));
            if let Ok(before) = &meta {
                let after = read_meta(&out).expect("rewriting a readable body keeps it readable");
                let namespace = before.namespace.as_ref().map(|ns| format!("acme--{ns}"));
                assert_eq!(after, ObjectMetaView { namespace, ..before.clone() });
            }
        }
        if let Ok(out) = set_namespace(body, "zz") {
            assert_eq!(has_field(&out, &[1, 3]), Ok(true));
            if let Ok(before) = &meta {
                let after = read_meta(&out).expect("setting the namespace keeps a readable body readable");
                assert_eq!(after, ObjectMetaView { namespace: Some("zz".into()), ..before.clone() });
            }
        }
    }

    #[test]
    fn truncation_at_every_offset_never_panics() {
        for body in corpus() {
            for cut in 0..body.len() {
                exercise(&body[..cut]);
            }
            exercise(&body);
        }
        // Cutting inside `raw` is always an error.
        let body = hex(GO_ROLEBINDING);
        let raw_end = body.len() - 4;
        for cut in 4 + 2 + 0x2b + 3..raw_end {
            assert_eq!(read_meta(&body[..cut]), Err(ProtoError::Truncated), "cut at {cut}");
        }
    }

    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn fuzz_random_and_mutated_bodies() {
        let corpus = corpus();
        let mut rng = SplitMix64(0x5eed_cafe_f00d_d00d);
        let mut readable = 0;
        for _ in 0..100_000 {
            let body = match rng.below(3) {
                // Random bytes behind the magic.
                0 => {
                    let mut b = MAGIC.to_vec();
                    b.extend((0..rng.below(48)).map(|_| rng.next() as u8));
                    b
                }
                // Random bytes behind a valid envelope start (typeMeta, then raw of random content).
                1 => {
                    let inner: Vec<u8> = (0..rng.below(48)).map(|_| rng.next() as u8).collect();
                    envelope_of("v1", "ConfigMap", M::new().b(1, &inner))
                }
                // Mutations of real bodies.
                _ => {
                    let mut b = corpus[rng.below(corpus.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(b.len());
                        match rng.below(4) {
                            0 => b[at] = rng.next() as u8,
                            1 => b[at] ^= 1 << rng.below(8),
                            2 => b.insert(at, rng.next() as u8),
                            _ => {
                                b.remove(at);
                                if b.is_empty() {
                                    break;
                                }
                            }
                        }
                    }
                    b
                }
            };
            if read_meta(&body).is_ok() {
                readable += 1;
            }
            exercise(&body);
        }
        // The fuzz reaches past the parser's first checks.
        assert!(readable > 1_000, "only {readable} readable bodies");
    }
}
