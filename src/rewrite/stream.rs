//! Streaming rewriters for LIST responses and watch streams, fed one chunk at a time.
//! Lists reach tens of megabytes and watches never end, so memory is bounded by one element, not the body.
//!
//! Each element (list item, Table row, watch event) is rewritten one of two ways, with the
//! same result:
//! - **splice** (ToVirtual, typed lists, Tables and watches; see `rewrite/splice/`): one pass
//!   over the element's bytes validates it and finds the few byte ranges the field table names;
//!   the element is copied with those replaced or removed (or dropped). An element wholly
//!   inside the chunk is spliced right there; one cut by the chunk's end is kept as it is and
//!   spliced joined with the next chunk (once: cut again, it takes the other way).
//! - **Value** (everything else, and whatever the splice path is unsure of): a byte-level
//!   scanner (depth, strings, escapes) finds the element's end wherever the chunks split, the
//!   element is buffered, parsed as a `Value`, rewritten with [`super::object`] and serialised
//!   again (or dropped). Errors come from here, so they are the same either way.
//!
//! - [`ListRewriter`]: the top-level object's fields are copied as they are (each is validated;
//!   `metadata` is re-serialised without `remainingItemCount` on the way to the tenant), except
//!   the elements of the top-level `items` array (lists) or `rows` array (Tables), which are
//!   rewritten one by one and dropped (commas fixed) when foreign. Until `items`/`rows` starts,
//!   output is held back (it is small); a body that turns out to have neither (a `Status`, a
//!   single object) is then rewritten whole with [`super::rewrite_object`]. Whitespace between
//!   array elements is not kept; inside a spliced element it is.
//! - [`WatchRewriter`]: a sequence of `{"type":…,"object":…}` events (newlines not required);
//!   each is rewritten (an `ERROR` object is a Status) or dropped and written out followed by
//!   `\n` as soon as it is complete. `BOOKMARK`s pass through.
//!
//! Errors are final: after one, every call fails. `finish` fails on a truncated body.

use serde_json::Value;

use super::fields::{self, KindFields};
use super::object::{name_column, rewrite_list_item, rewrite_row, rewrite_table, rewrite_with, Disposition};
use super::splice::{self, Outcome, Plan, Splicer};
use super::{parse_json, Direction, Limits, NamespaceMapper, RewriteError};

type Result<T> = std::result::Result<T, RewriteError>;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn unexpected(b: u8, context: &str) -> RewriteError {
    let shown = if b.is_ascii_graphic() { format!("{:?}", b as char) } else { format!("byte 0x{b:02x}") };
    RewriteError::InvalidJson(format!("unexpected {shown} {context}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    #[default]
    Idle,
    Container,
    Str,
    Scalar,
}

/// Finds where one JSON value ends, across chunk boundaries. It checks nesting depth and
/// string/escape structure only; the bytes are validated when parsed.
#[derive(Debug, Default)]
struct Scan {
    mode: Mode,
    depth: usize,
    in_str: bool,
    esc: bool,
}

impl Scan {
    fn begin(&mut self) {
        *self = Scan::default();
    }

    /// Consumes bytes of the current value. `Some(n)`: the value ended after `input[..n]`
    /// (`n` may be 0: a number ends at the delimiter, which is not part of it). `None`: all
    /// of `input` belongs to the value. `base` is the depth the value sits at.
    fn feed(&mut self, input: &[u8], base: usize, max_depth: usize) -> Result<Option<usize>> {
        let mut i = 0;
        while i < input.len() {
            if self.in_str {
                if self.esc {
                    self.esc = false;
                    i += 1;
                    continue;
                }
                match find(&input[i..], in_string) {
                    None => return Ok(None),
                    Some(p) => {
                        i += p;
                        if input[i] == b'\\' {
                            self.esc = true;
                        } else {
                            self.in_str = false;
                            if self.mode == Mode::Str {
                                return Ok(Some(i + 1));
                            }
                        }
                        i += 1;
                        continue;
                    }
                }
            }
            if self.mode == Mode::Container {
                // Only quotes and brackets matter here: jump to the next one.
                match find(&input[i..], structural) {
                    None => return Ok(None),
                    Some(p) => i += p,
                }
            }
            let b = input[i];
            match self.mode {
                Mode::Idle => match b {
                    b'{' | b'[' => {
                        self.mode = Mode::Container;
                        self.depth = 1;
                        if base + 1 > max_depth {
                            return Err(RewriteError::TooDeep { limit: max_depth });
                        }
                    }
                    b'"' => {
                        self.mode = Mode::Str;
                        self.in_str = true;
                    }
                    b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.mode = Mode::Scalar,
                    _ => return Err(unexpected(b, "where a JSON value should start")),
                },
                Mode::Container => match b {
                    b'"' => self.in_str = true,
                    b'{' | b'[' => {
                        self.depth += 1;
                        if base + self.depth > max_depth {
                            return Err(RewriteError::TooDeep { limit: max_depth });
                        }
                    }
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Ok(Some(i + 1));
                        }
                    }
                    _ => {}
                },
                Mode::Scalar => {
                    if matches!(b, b',' | b'}' | b']') || is_ws(b) {
                        return Ok(Some(i));
                    }
                    if !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+')) {
                        return Err(unexpected(b, "in a JSON literal"));
                    }
                }
                Mode::Str => unreachable!("strings are consumed above"),
            }
            i += 1;
        }
        Ok(None)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit) the zero bytes of `v`; the lowest mark is exact (see "Bit Twiddling Hacks").
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGH
}

/// Bytes that end a run of string bytes: `"` and `\`.
#[inline(always)]
fn in_string(x: u64) -> u64 {
    zero_bytes(x ^ (ONES * b'"' as u64)) | zero_bytes(x ^ (ONES * b'\\' as u64))
}

/// Bytes the scanner acts on inside a container: `"`, `{`, `}`, `[`, `]` (`|0x20` folds the
/// square brackets onto the curly ones; nothing else folds onto them).
#[inline(always)]
fn structural(x: u64) -> u64 {
    let y = x | (ONES * 0x20);
    zero_bytes(x ^ (ONES * b'"' as u64)) | zero_bytes(y ^ (ONES * b'{' as u64)) | zero_bytes(y ^ (ONES * b'}' as u64))
}

/// The index of the first byte `marks` flags, eight bytes at a time (a byte at a time for the
/// tail, through the same test).
#[inline(always)]
fn find(input: &[u8], marks: fn(u64) -> u64) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = input.get(i..i + 8) {
        let m = marks(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    input[i..].iter().position(|&c| marks(c as u64) & 0x80 != 0).map(|p| i + p)
}

/// Appends `input[..n]` (or all of it) to `buf`, minding the element limit.
fn capture(buf: &mut Vec<u8>, bytes: &[u8], limit: usize) -> Result<()> {
    if buf.len() + bytes.len() > limit {
        return Err(RewriteError::TooLarge { limit });
    }
    buf.extend_from_slice(bytes);
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L {
    Start,
    KeyOrEnd { first: bool },
    Key,
    Colon,
    ValueStart,
    Value,
    AfterValue,
    ElemOrEnd { first: bool },
    Elem,
    /// An element (`{…`) cut by the chunk's end is in `buf`, not yet scanned: the next chunk
    /// is joined to it and spliced (see [`ListRewriter::feed`]).
    Straddle,
    AfterElem,
    End,
    Failed,
}

/// What the splice path did with the element at the start of the input.
enum Direct {
    /// Written or dropped; it was this long.
    Done(usize),
    /// Cut short by the end of the input (or probably so).
    Cut,
    /// Not for the splice path: scan and buffer it.
    No,
}

/// Rewrites a LIST (or Table) response body as it streams. See the module docs.
pub struct ListRewriter<M> {
    table: &'static KindFields,
    dir: Direction,
    mapper: M,
    limits: Limits,
    st: L,
    scan: Scan,
    /// The key, top-level value or element being captured.
    buf: Vec<u8>,
    /// Top-level output held back until `items`/`rows` starts.
    pending: Vec<u8>,
    holding: bool,
    /// ToVirtual: the `metadata` in `pending` (its byte range) and what it becomes once the body
    /// turns out to be a list (no `remainingItemCount`, sealed `continue`); a body that is not a
    /// list keeps it as it came, as the one-object rewriter does.
    held_metadata: Option<(std::ops::Range<usize>, Vec<u8>)>,
    /// Which element arrays have started (`kind` and `columnDefinitions` must come before them).
    items_started: bool,
    rows_started: bool,
    key: String,
    seen_keys: std::collections::HashSet<String>,
    /// `kind: List`: items carry their own kinds.
    generic: bool,
    rows: bool,
    name_col: Option<usize>,
    kept: usize,
    dropped: usize,
    rows_without_object: bool,
    /// Turns an upstream `metadata.continue` into the token the tenant sees (sealed: see
    /// `crate::continue_token`). `None` keeps tokens as they are.
    continue_sealer: Option<ContinueSealer>,
    /// ToVirtual: the byte-splice path for items and rows (`None`: always the Value path).
    splice: Option<(&'static Plan, Splicer)>,
    /// Length of the last element, to guess whether the next one is all in the chunk.
    last_len: usize,
    /// The element at the start of the input was cut before: no second time (it goes to the
    /// scanner), so no element is spliced over and over as chunks trickle in.
    cut_once: bool,
    /// The joined buffer of [`ListRewriter::feed`], kept for its allocation.
    spare: Vec<u8>,
}

/// Maps an upstream continue token to the one the tenant receives.
pub type ContinueSealer = Box<dyn Fn(&str) -> String + Send + Sync>;

impl<M: NamespaceMapper> ListRewriter<M> {
    pub fn new(group: &str, resource: &str, dir: Direction, mapper: M) -> Self {
        Self::with_limits(group, resource, dir, mapper, Limits::default())
    }

    pub fn with_limits(group: &str, resource: &str, dir: Direction, mapper: M, limits: Limits) -> Self {
        ListRewriter {
            table: fields::fields_for(group, resource),
            dir,
            mapper,
            limits,
            st: L::Start,
            scan: Scan::default(),
            buf: Vec::new(),
            pending: Vec::new(),
            holding: true,
            held_metadata: None,
            items_started: false,
            rows_started: false,
            key: String::new(),
            seen_keys: std::collections::HashSet::new(),
            generic: false,
            rows: false,
            name_col: None,
            kept: 0,
            dropped: 0,
            rows_without_object: false,
            continue_sealer: None,
            splice: splice_for(dir, fields::fields_for(group, resource)),
            last_len: 0,
            cut_once: false,
            spare: Vec::new(),
        }
    }

    /// Turns the byte-splice fast path off (`false`) or on: every element then goes through the
    /// `serde_json::Value` path. For benchmarks and tests; the output is the same either way.
    #[doc(hidden)]
    pub fn splice(mut self, on: bool) -> Self {
        self.splice = if on { splice_for(self.dir, self.table) } else { None };
        self
    }

    /// Seals `metadata.continue` on the way to the tenant with `seal`.
    pub fn seal_continue(mut self, seal: ContinueSealer) -> Self {
        self.continue_sealer = Some(seal);
        self
    }

    /// Keep Table rows that carry no `object` (`includeObject=None`). By default they are
    /// dropped, because nothing in a bare row says which namespace it is from; allow them only
    /// when the request itself was confined to one of the tenant's namespaces (or the resource
    /// is cluster-scoped). `namespaces` rows are always judged by their Name cell.
    pub fn allow_rows_without_object(mut self, allow: bool) -> Self {
        self.rows_without_object = allow;
        self
    }

    /// How many elements were dropped so far (foreign objects filtered out).
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Feeds the next chunk; appends whatever output is ready to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.st == L::Failed {
            return Err(RewriteError::InvalidJson("the body already failed to rewrite".into()));
        }
        let r = self.feed(chunk, out);
        if r.is_err() {
            self.st = L::Failed;
        }
        r
    }

    /// Ends the body: errors if it was truncated.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        // What was kept for the next chunk goes through on its own (the first element of it
        // to the scanner, for the error it would have given; each round takes one at least).
        while self.st == L::Straddle {
            if let Err(e) = self.feed(&[], out) {
                self.st = L::Failed;
                return Err(e);
            }
        }
        match self.st {
            L::End => Ok(()),
            L::Failed => Err(RewriteError::InvalidJson("the body already failed to rewrite".into())),
            _ => {
                self.st = L::Failed;
                Err(RewriteError::InvalidJson("the body ended in the middle of the JSON".into()))
            }
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
        if self.holding {
            capture(&mut self.pending, bytes, self.limits.max_element)
        } else {
            out.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// [`ListRewriter::run`], but an element cut by the last chunk's end is first joined with
    /// this chunk (one copy), so it too is spliced rather than scanned and buffered.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.st != L::Straddle {
            return self.run(chunk, out);
        }
        let mut joined = std::mem::take(&mut self.spare);
        joined.clear();
        joined.append(&mut self.buf);
        self.st = L::ElemOrEnd { first: false };
        self.cut_once = true;
        let r = if joined.len() + chunk.len() <= self.limits.max_element {
            joined.extend_from_slice(chunk);
            self.run(&joined, out)
        } else {
            // Too much to join: the cut part goes to the scanner (see `cut_once`), then the chunk.
            self.run(&joined, out).and_then(|_| self.run(chunk, out))
        };
        self.spare = joined;
        r
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let max_depth = self.limits.max_depth;
        let limit = self.limits.max_element;
        while let Some(&b) = input.first() {
            match self.st {
                L::Start | L::KeyOrEnd { .. } | L::Colon | L::AfterValue if is_ws(b) => {
                    self.emit(out, &input[..1])?;
                    input = &input[1..];
                }
                L::ElemOrEnd { .. } | L::AfterElem | L::ValueStart | L::End if is_ws(b) => input = &input[1..],
                L::Start => {
                    if b != b'{' {
                        return Err(RewriteError::InvalidJson("a list response must be a JSON object".into()));
                    }
                    self.emit(out, b"{")?;
                    self.st = L::KeyOrEnd { first: true };
                    input = &input[1..];
                }
                L::KeyOrEnd { first } => match b {
                    b'}' if first => {
                        input = &input[1..];
                        self.end_object(out)?;
                    }
                    b'"' => {
                        self.scan.begin();
                        self.st = L::Key;
                    }
                    _ => return Err(unexpected(b, "where an object key should be")),
                },
                L::Key | L::Value | L::Elem => {
                    let base = if self.st == L::Elem { 2 } else { 1 };
                    match self.scan.feed(input, base, max_depth)? {
                        None => {
                            capture(&mut self.buf, input, limit)?;
                            input = &[];
                        }
                        Some(n) => {
                            capture(&mut self.buf, &input[..n], limit)?;
                            input = &input[n..];
                            match self.st {
                                L::Key => self.end_key(out)?,
                                L::Value => self.end_value(out)?,
                                _ => self.end_element(out)?,
                            }
                        }
                    }
                }
                L::Colon => {
                    if b != b':' {
                        return Err(unexpected(b, "after an object key"));
                    }
                    self.emit(out, b":")?;
                    self.st = L::ValueStart;
                    input = &input[1..];
                }
                L::ValueStart => {
                    if b == b'[' && (self.key == "items" || self.key == "rows") {
                        self.rows = self.key == "rows";
                        self.items_started |= !self.rows;
                        self.rows_started |= self.rows;
                        self.holding = false;
                        // A list after all: its metadata as the tenant must see it.
                        if let Some((range, metadata)) = self.held_metadata.take() {
                            self.pending.splice(range, metadata);
                        }
                        out.append(&mut self.pending);
                        out.push(b'[');
                        self.kept = 0;
                        self.st = L::ElemOrEnd { first: true };
                        input = &input[1..];
                    } else {
                        self.scan.begin();
                        self.st = L::Value;
                    }
                }
                L::AfterValue => match b {
                    b',' => {
                        self.emit(out, b",")?;
                        self.st = L::KeyOrEnd { first: false };
                        input = &input[1..];
                    }
                    b'}' => {
                        input = &input[1..];
                        self.end_object(out)?;
                    }
                    _ => return Err(unexpected(b, "after a value in the list object")),
                },
                L::ElemOrEnd { first } => {
                    if b == b']' && first {
                        out.push(b']');
                        self.st = L::AfterValue;
                        input = &input[1..];
                    } else {
                        match self.direct_element(input, out) {
                            Direct::Done(n) => {
                                input = &input[n..];
                                self.st = L::AfterElem;
                                self.cut_once = false;
                            }
                            Direct::Cut if !self.cut_once => {
                                // Kept as it is for the next chunk (a valid start, or a guess).
                                capture(&mut self.buf, input, limit)?;
                                input = &[];
                                self.st = L::Straddle;
                            }
                            _ => {
                                self.cut_once = false;
                                self.scan.begin();
                                self.st = L::Elem;
                            }
                        }
                    }
                }
                L::AfterElem => match b {
                    b',' => {
                        self.st = L::ElemOrEnd { first: false };
                        input = &input[1..];
                    }
                    b']' => {
                        out.push(b']');
                        self.st = L::AfterValue;
                        input = &input[1..];
                    }
                    _ => return Err(unexpected(b, "after an array element")),
                },
                L::End => return Err(unexpected(b, "after the end of the body")),
                L::Straddle => unreachable!("joined in feed"),
                L::Failed => unreachable!("checked in push"),
            }
        }
        Ok(())
    }

    fn end_key(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let key: String = serde_json::from_slice(&self.buf).map_err(|e| RewriteError::InvalidJson(e.to_string()))?;
        if !self.seen_keys.insert(key.clone()) {
            return Err(RewriteError::InvalidJson(format!("duplicate key {key:?}")));
        }
        self.key = key;
        let buf = std::mem::take(&mut self.buf);
        self.emit(out, &buf)?;
        self.buf = buf;
        self.buf.clear();
        self.st = L::Colon;
        Ok(())
    }

    fn end_value(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let mut v = parse_json(&self.buf)?;
        let buf = std::mem::take(&mut self.buf);
        match self.key.as_str() {
            "kind" => {
                self.generic = v.as_str() == Some("List");
                if self.generic && self.items_started && self.dir == Direction::ToVirtual {
                    return Err(RewriteError::InvalidJson("a kind: List body must give its kind before its items".into()));
                }
                self.emit(out, &buf)?;
            }
            "metadata" if self.dir == Direction::ToVirtual => {
                // remainingItemCount counts objects the tenant may not see; continue names them.
                let mut changed = false;
                if let Value::Object(meta) = &mut v {
                    changed |= meta.shift_remove("remainingItemCount").is_some();
                    if let (Some(seal), Some(Value::String(token))) = (&self.continue_sealer, meta.get_mut("continue")) {
                        if !token.is_empty() {
                            *token = seal(token);
                            changed = true;
                        }
                    }
                }
                if changed && self.holding {
                    let meta = serde_json::to_vec(&v).expect("a Value always serialises");
                    let start = self.pending.len();
                    self.emit(out, &buf)?;
                    self.held_metadata = Some((start..self.pending.len(), meta));
                } else if changed {
                    let meta = serde_json::to_vec(&v).expect("a Value always serialises");
                    self.emit(out, &meta)?;
                } else {
                    self.emit(out, &buf)?;
                }
            }
            "columnDefinitions" => {
                if self.rows_started && self.dir == Direction::ToVirtual {
                    return Err(RewriteError::InvalidJson("a Table must give its columnDefinitions before its rows".into()));
                }
                self.name_col = name_column(&v);
                self.emit(out, &buf)?;
            }
            _ => self.emit(out, &buf)?,
        }
        self.buf = buf;
        self.buf.clear();
        self.st = L::AfterValue;
        Ok(())
    }

    fn end_element(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.st = L::AfterElem;
        if self.rows && self.dir == Direction::ToSuper {
            parse_json(&self.buf)?;
            self.write_kept(out, None)?;
            return Ok(());
        }
        // The splice path first (see `super::splice`), now that the element is whole.
        let buf = std::mem::take(&mut self.buf);
        let spliced = matches!(self.splice_element(&buf, true, out), Direct::Done(_));
        self.buf = buf;
        if spliced {
            self.buf.clear();
            return Ok(());
        }
        let mut v = parse_json(&self.buf)?;
        self.buf.clear();
        let d = if self.rows {
            rewrite_row(&mut v, self.table, &self.mapper, self.name_col, self.rows_without_object)?
        } else {
            rewrite_list_item(&mut v, self.table, self.generic, self.dir, &self.mapper)?
        };
        match d {
            Disposition::Keep => self.write_kept(out, Some(&v)),
            Disposition::Drop => {
                self.dropped += 1;
                Ok(())
            }
        }
    }

    /// An element that starts at `input[0]`, straight from the chunk if it is all there and the
    /// splice path takes it: no boundary scan, no copy into `buf`. `None`: scan and buffer it.
    fn direct_element(&mut self, input: &[u8], out: &mut Vec<u8>) -> Direct {
        // The splice path nests less deeply than the scanner allows, or the scanner's TooDeep
        // would be skipped.
        if self.splice.is_none() || (self.generic && !self.rows) || !self.buf.is_empty() || self.limits.max_depth < 2 + splice::MAX_DEPTH {
            return Direct::No;
        }
        // Much shorter than the last one: probably cut by the chunk's end, so an attempt now
        // would be wasted (a wrong guess only costs time).
        if input.len() < self.last_len - self.last_len / 8 {
            return if input[0] == b'{' { Direct::Cut } else { Direct::No };
        }
        self.splice_element(input, false, out)
    }

    /// Typed list items and Table rows, ToVirtual: the splice path on the element at the start
    /// of `b` (all of it if `whole`).
    fn splice_element(&mut self, b: &[u8], whole: bool, out: &mut Vec<u8>) -> Direct {
        if self.generic && !self.rows {
            return Direct::No;
        }
        let Some((plan, splicer)) = self.splice.as_mut() else { return Direct::No };
        let (outcome, n) = if self.rows {
            splicer.row_at(plan, b, &self.mapper, self.name_col, self.rows_without_object, whole)
        } else {
            splicer.item_at(plan, b, &self.mapper, whole)
        };
        // Over the limit: the scanner reports it.
        if n > self.limits.max_element {
            return Direct::No;
        }
        match outcome {
            Outcome::Keep => {
                if self.kept > 0 {
                    out.push(b',');
                }
                self.kept += 1;
                splicer.write(&b[..n], out);
            }
            Outcome::Drop => self.dropped += 1,
            Outcome::Cut => return Direct::Cut,
            Outcome::Fallback => return Direct::No,
        }
        self.last_len = n;
        Direct::Done(n)
    }

    /// Writes one kept element (`None`: the raw bytes in `buf`), with a comma when needed.
    fn write_kept(&mut self, out: &mut Vec<u8>, v: Option<&Value>) -> Result<()> {
        if self.kept > 0 {
            out.push(b',');
        }
        self.kept += 1;
        match v {
            Some(v) => serde_json::to_writer(&mut *out, v).expect("a Value always serialises"),
            None => {
                out.extend_from_slice(&self.buf);
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// The top-level object closed. If output was still held (no `items`/`rows` array), the
    /// whole body is small and is rewritten as one value.
    fn end_object(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.st = L::End;
        if !self.holding {
            out.push(b'}');
            return Ok(());
        }
        self.emit(out, b"}")?;
        self.holding = false;
        let mut v = parse_json(&self.pending)?;
        self.pending = Vec::new();
        match rewrite_with(&mut v, self.table, self.dir, &self.mapper)? {
            Disposition::Keep => {
                serde_json::to_writer(&mut *out, &v).expect("a Value always serialises");
                Ok(())
            }
            Disposition::Drop => Err(RewriteError::InvalidJson("the response is an object outside the tenant's namespaces".into())),
        }
    }
}

/// The splice path's plan for a resource, ToVirtual only.
fn splice_for(dir: Direction, table: &'static KindFields) -> Option<(&'static Plan, Splicer)> {
    (dir == Direction::ToVirtual).then(|| (Plan::of(table), Splicer::default()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum W {
    Between,
    Event,
    /// As [`L::Straddle`].
    Straddle,
    Failed,
}

/// Rewrites a watch stream as it flows. See the module docs.
pub struct WatchRewriter<M> {
    table: &'static KindFields,
    dir: Direction,
    mapper: M,
    limits: Limits,
    st: W,
    scan: Scan,
    buf: Vec<u8>,
    dropped: usize,
    rows_without_object: bool,
    /// As in [`ListRewriter`], for events.
    splice: Option<(&'static Plan, Splicer)>,
    cut_once: bool,
    spare: Vec<u8>,
}

impl<M: NamespaceMapper> WatchRewriter<M> {
    pub fn new(group: &str, resource: &str, dir: Direction, mapper: M) -> Self {
        Self::with_limits(group, resource, dir, mapper, Limits::default())
    }

    pub fn with_limits(group: &str, resource: &str, dir: Direction, mapper: M, limits: Limits) -> Self {
        WatchRewriter {
            table: fields::fields_for(group, resource),
            dir,
            mapper,
            limits,
            st: W::Between,
            scan: Scan::default(),
            buf: Vec::new(),
            dropped: 0,
            rows_without_object: false,
            splice: splice_for(dir, fields::fields_for(group, resource)),
            cut_once: false,
            spare: Vec::new(),
        }
    }

    /// As [`ListRewriter::splice`].
    #[doc(hidden)]
    pub fn splice(mut self, on: bool) -> Self {
        self.splice = if on { splice_for(self.dir, self.table) } else { None };
        self
    }

    /// As [`ListRewriter::allow_rows_without_object`], for watches with `as=Table`.
    pub fn allow_rows_without_object(mut self, allow: bool) -> Self {
        self.rows_without_object = allow;
        self
    }

    /// How many events were dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.st == W::Failed {
            return Err(RewriteError::InvalidJson("the watch stream already failed to rewrite".into()));
        }
        let r = self.feed(chunk, out);
        if r.is_err() {
            self.st = W::Failed;
        }
        r
    }

    /// Ends the stream: errors if it stopped in the middle of an event.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        while self.st == W::Straddle {
            if let Err(e) = self.feed(&[], out) {
                self.st = W::Failed;
                return Err(e);
            }
        }
        match self.st {
            W::Between => Ok(()),
            _ => {
                self.st = W::Failed;
                Err(RewriteError::InvalidJson("the watch stream ended in the middle of an event".into()))
            }
        }
    }

    /// As [`ListRewriter::feed`].
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.st != W::Straddle {
            return self.run(chunk, out);
        }
        let mut joined = std::mem::take(&mut self.spare);
        joined.clear();
        joined.append(&mut self.buf);
        self.st = W::Between;
        self.cut_once = true;
        let r = if joined.len() + chunk.len() <= self.limits.max_element {
            joined.extend_from_slice(chunk);
            self.run(&joined, out)
        } else {
            self.run(&joined, out).and_then(|_| self.run(chunk, out))
        };
        self.spare = joined;
        r
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        while let Some(&b) = input.first() {
            match self.st {
                W::Between => {
                    if is_ws(b) {
                        input = &input[1..];
                    } else if b == b'{' {
                        match self.direct_event(input, out) {
                            Direct::Done(n) => {
                                input = &input[n..];
                                self.cut_once = false;
                            }
                            Direct::Cut if !self.cut_once => {
                                capture(&mut self.buf, input, self.limits.max_element)?;
                                input = &[];
                                self.st = W::Straddle;
                            }
                            _ => {
                                self.cut_once = false;
                                self.scan.begin();
                                self.st = W::Event;
                            }
                        }
                    } else {
                        return Err(unexpected(b, "where a watch event should start"));
                    }
                }
                W::Event => match self.scan.feed(input, 0, self.limits.max_depth)? {
                    None => {
                        capture(&mut self.buf, input, self.limits.max_element)?;
                        input = &[];
                    }
                    Some(n) => {
                        capture(&mut self.buf, &input[..n], self.limits.max_element)?;
                        input = &input[n..];
                        self.st = W::Between;
                        self.event(out)?;
                    }
                },
                W::Straddle => unreachable!("joined in feed"),
                W::Failed => unreachable!("checked in push"),
            }
        }
        Ok(())
    }

    /// As [`ListRewriter`]'s `direct_element`, for an event starting at `input[0]` (a `{`).
    fn direct_event(&mut self, input: &[u8], out: &mut Vec<u8>) -> Direct {
        // No guessing from the last event's length here, unlike lists: a short event that is
        // complete must go out now, not when the next chunk comes (which may be a minute).
        if self.splice.is_none() || !self.buf.is_empty() || self.limits.max_depth < splice::MAX_DEPTH {
            return Direct::No;
        }
        self.splice_event(input, false, out)
    }

    /// The splice path on the event at the start of `b` (all of it if `whole`).
    fn splice_event(&mut self, b: &[u8], whole: bool, out: &mut Vec<u8>) -> Direct {
        let Some((plan, splicer)) = self.splice.as_mut() else { return Direct::No };
        let (outcome, n) = splicer.event_at(plan, b, &self.mapper, whole);
        if n > self.limits.max_element {
            return Direct::No;
        }
        match outcome {
            Outcome::Keep => {
                splicer.write(&b[..n], out);
                out.push(b'\n');
            }
            Outcome::Drop => self.dropped += 1,
            Outcome::Cut => return Direct::Cut,
            Outcome::Fallback => return Direct::No,
        }
        Direct::Done(n)
    }

    fn event(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let spliced = matches!(self.splice_event(&buf, true, out), Direct::Done(_));
        self.buf = buf;
        if spliced {
            self.buf.clear();
            return Ok(());
        }
        let mut ev = parse_json(&self.buf)?;
        self.buf.clear();
        let Value::Object(map) = &mut ev else { unreachable!("starts with {{") };
        let typ = map.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        if typ != "BOOKMARK" {
            if let Some(obj) = map.get_mut("object") {
                let rows = |o: &Value| if o.get("kind").and_then(Value::as_str) == Some("Table") { o.get("rows").and_then(Value::as_array).map(Vec::len) } else { None };
                let before = rows(obj);
                let d = if before.is_some() && self.dir == Direction::ToVirtual {
                    rewrite_table(obj, self.table, &self.mapper, self.rows_without_object)?;
                    Disposition::Keep
                } else {
                    rewrite_with(obj, self.table, self.dir, &self.mapper)?
                };
                // A Table event whose only rows were foreign says nothing to this tenant.
                let emptied = matches!((before, rows(obj)), (Some(b), Some(0)) if b > 0);
                if d == Disposition::Drop || emptied {
                    self.dropped += 1;
                    return Ok(());
                }
            }
        }
        serde_json::to_writer(&mut *out, &ev).expect("a Value always serialises");
        out.push(b'\n');
        Ok(())
    }
}

impl<M: NamespaceMapper + Send + 'static> crate::body::ChunkRewriter for ListRewriter<M> {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), crate::body::BoxError> {
        ListRewriter::push(self, chunk, out).map_err(Into::into)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> std::result::Result<(), crate::body::BoxError> {
        ListRewriter::finish(self, out).map_err(Into::into)
    }
}

impl<M: NamespaceMapper + Send + 'static> crate::body::ChunkRewriter for WatchRewriter<M> {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), crate::body::BoxError> {
        WatchRewriter::push(self, chunk, out).map_err(Into::into)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> std::result::Result<(), crate::body::BoxError> {
        WatchRewriter::finish(self, out).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::object::rewrite_object;
    use crate::rewrite::testutil::{acme, push_in_chunks, Rng};
    use crate::rewrite::FixedMapper;
    use serde_json::json;
    use Direction::{ToSuper, ToVirtual};

    fn feed_list(body: &[u8], splits: &[usize], group: &str, resource: &str, dir: Direction, m: &FixedMapper, limits: Limits) -> Result<Vec<u8>> {
        let mut r = ListRewriter::with_limits(group, resource, dir, m, limits);
        let mut out = push_in_chunks(body, splits, |c, o| r.push(c, o))?;
        r.finish(&mut out)?;
        Ok(out)
    }

    fn random_splits(rng: &mut Rng, len: usize) -> Vec<usize> {
        let mut s: Vec<usize> = (0..rng.below(20)).map(|_| rng.below(len + 1)).collect();
        s.sort();
        s
    }

    /// Runs a body whole, byte by byte and in random pieces; all must agree.
    fn all_ways(body: &[u8], group: &str, resource: &str, dir: Direction) -> Vec<u8> {
        let m = acme();
        let whole = feed_list(body, &[], group, resource, dir, &m, Limits::default()).unwrap();
        let bytes: Vec<usize> = (1..body.len()).collect();
        assert_eq!(feed_list(body, &bytes, group, resource, dir, &m, Limits::default()).unwrap(), whole, "1-byte chunks");
        let mut rng = Rng(body.len() as u64);
        for _ in 0..30 {
            let s = random_splits(&mut rng, body.len());
            assert_eq!(feed_list(body, &s, group, resource, dir, &m, Limits::default()).unwrap(), whole, "splits {s:?}");
        }
        whole
    }

    fn pod(name: &str, ns: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": "x", "vcproxy.io/t": "acme"}},
               "spec": {"containers": [{"name": "c", "image": "i", "args": ["}", "]", "\"\\", ",{["]}],
                        "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"namespaces": [ns], "topologyKey": "z"}]}}}})
    }

    fn pod_list(nss: &[&str]) -> Value {
        let items: Vec<Value> = nss.iter().enumerate().map(|(i, ns)| pod(&format!("p{i}"), ns)).collect();
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "42", "remainingItemCount": 7, "continue": "x"}, "items": items})
    }

    #[test]
    fn list_matches_whole_value_rewrite_for_any_chunking() {
        let cases: &[&[&str]] = &[
            &[],
            &["acme--prod"],
            &["globex--prod"],
            &["globex--a", "acme--prod", "kube-system"],
            &["acme--prod", "globex--a", "acme--dev"],
            &["acme--prod", "acme--dev", "default"],
            &["kube-system", "default", "globex--x"],
        ];
        for nss in cases {
            let list = pod_list(nss);
            let mut expected = list.clone();
            rewrite_object(&mut expected, "", "pods", ToVirtual, &acme()).unwrap();
            let expected = serde_json::to_vec(&expected).unwrap();
            let compact = serde_json::to_vec(&list).unwrap();
            let got = all_ways(&compact, "", "pods", ToVirtual);
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected), "{nss:?}");
            // Pretty-printed input: same Value out, still valid JSON.
            let pretty = serde_json::to_vec_pretty(&list).unwrap();
            let got = all_ways(&pretty, "", "pods", ToVirtual);
            assert_eq!(serde_json::from_slice::<Value>(&got).unwrap(), serde_json::from_slice::<Value>(&expected).unwrap());
        }
    }

    #[test]
    fn random_lists_stream_like_whole_values() {
        use crate::rewrite::object::tests::random_object;
        let m = acme();
        let mut rng = Rng(0xabcdef);
        for case in 0..300 {
            let kinds = fields::all_kinds();
            let table = &kinds[rng.below(kinds.len())];
            // Super-view items (translated up), some of them foreign.
            let items: Vec<Value> = (0..rng.below(6))
                .map(|_| {
                    let mut v = random_object(&mut rng, table);
                    crate::rewrite::object::rewrite_with(&mut v, table, ToSuper, &m).unwrap();
                    if rng.chance(30) {
                        let foreign = if table.is_namespaces() { ("name", "globex--x") } else { ("namespace", "kube-system") };
                        v.as_object_mut().unwrap().entry("metadata").or_insert(json!({}))[foreign.0] = json!(foreign.1);
                    }
                    v
                })
                .collect();
            let list = json!({"kind": "SomeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1", "remainingItemCount": 2}, "items": items});
            let mut expected = list.clone();
            rewrite_with(&mut expected, table, ToVirtual, &m).unwrap();
            let body = serde_json::to_vec(&list).unwrap();
            let s = random_splits(&mut rng, body.len());
            let got = feed_list(&body, &s, table.group, table.resource, ToVirtual, &m, Limits::default()).unwrap();
            assert_eq!(got, serde_json::to_vec(&expected).unwrap(), "case {case}");
        }
    }

    #[test]
    fn list_to_super_and_items_in_any_position() {
        // Keys in unusual order, items not last, metadata after items.
        let body = br#" {"items" : [ {"metadata":{"namespace":"prod"}} , {"metadata":{"namespace":"dev"}} ] , "kind":"PodList", "metadata":{"remainingItemCount":1}} "#;
        let got = all_ways(body, "", "pods", ToSuper);
        let v: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(v["items"][1]["metadata"]["namespace"], "acme--dev");
        assert_eq!(v["metadata"]["remainingItemCount"], 1, "kept on the way up");
        let got = all_ways(br#"{"items":[{"metadata":{"namespace":"acme--prod"}}],"metadata":{"remainingItemCount":1}}"#, "", "pods", ToVirtual);
        assert_eq!(got, br#"{"items":[{"metadata":{"namespace":"prod"}}],"metadata":{}}"#);
    }

    #[test]
    fn tables_stream() {
        let table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "9"},
            "columnDefinitions": [{"name": "Name", "type": "string"}, {"name": "Namespaces", "type": "string"}],
            "rows": [
                {"cells": ["acme--a", "acme--prod,globex--x"], "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "acme--a", "namespace": "acme--prod"}}},
                {"cells": ["b", ""], "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "b", "namespace": "globex--prod"}}},
                {"cells": ["c", "x"], "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "c", "namespace": "acme--dev"}}}]});
        let mut expected = table.clone();
        rewrite_object(&mut expected, "apps", "deployments", ToVirtual, &acme()).unwrap();
        let got = all_ways(&serde_json::to_vec(&table).unwrap(), "apps", "deployments", ToVirtual);
        assert_eq!(got, serde_json::to_vec(&expected).unwrap());
        let v: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(v["rows"].as_array().unwrap().len(), 2);
        assert_eq!(v["rows"][0]["cells"], json!(["acme--a", "prod,globex--x"]));
        assert_eq!(v["rows"][1]["object"]["metadata"]["namespace"], "dev");
    }

    #[test]
    fn non_list_bodies_are_rewritten_whole() {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "namespaces \"acme--nope\" not found", "reason": "NotFound", "details": {"name": "acme--nope", "kind": "namespaces"}, "code": 404});
        let got = all_ways(&serde_json::to_vec(&status).unwrap(), "", "pods", ToVirtual);
        let v: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(v["message"], "namespaces \"nope\" not found");
        let got = all_ways(br#"{"kind":"PodList","items":null}"#, "", "pods", ToVirtual);
        assert_eq!(got, br#"{"kind":"PodList","items":null}"#);
        let got = all_ways(br#"{}"#, "", "pods", ToVirtual);
        assert_eq!(got, b"{}");
        // A single foreign object is refused, not leaked.
        let m = acme();
        assert!(feed_list(br#"{"metadata":{"namespace":"globex--a"}}"#, &[], "", "pods", ToVirtual, &m, Limits::default()).is_err());
    }

    #[test]
    fn hostile_list_input_errors_without_panicking() {
        let m = acme();
        let lim = Limits { max_element: 1024, max_depth: 1000 };
        let deep = format!("{{\"items\":[{}{}]}}", "[".repeat(5000), "]".repeat(5000));
        let deep_obj = format!("{{\"items\":[{}]}}", "{\"a\":".repeat(3000) + "1" + &"}".repeat(3000));
        let mid = format!("{{\"items\":[{}1{}]}}", "[".repeat(300), "]".repeat(300));
        let huge = format!("{{\"items\":[{{\"metadata\":{{\"name\":\"{}\"}}}}]}}", "x".repeat(2000));
        let huge_top = format!("{{\"kind\":\"{}\",\"items\":[]}}", "x".repeat(2000));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("1000-deep nesting", deep.into_bytes()),
            ("deep objects", deep_obj.into_bytes()),
            ("deeper than serde allows", mid.into_bytes()),
            ("huge element", huge.into_bytes()),
            ("huge top-level field", huge_top.into_bytes()),
            ("unterminated string", br#"{"items":[{"metadata":{"name":"abc}]}"#.to_vec()),
            ("unterminated top-level string", br#"{"kind":"PodL"#.to_vec()),
            ("duplicate keys in an element", br#"{"items":[{"metadata":{"namespace":"acme--prod","namespace":"kube-system"}}]}"#.to_vec()),
            ("duplicate top-level keys", br#"{"items":[],"items":[]}"#.to_vec()),
            ("trailing comma in items", br#"{"items":[{},]}"#.to_vec()),
            ("leading comma in items", br#"{"items":[,{}]}"#.to_vec()),
            ("trailing comma in object", br#"{"kind":"x",}"#.to_vec()),
            ("garbage after the end", br#"{"items":[]} x"#.to_vec()),
            ("not an object", br#"[{"metadata":{}}]"#.to_vec()),
            ("bad literal", br#"{"items":[truex]}"#.to_vec()),
            ("bad element JSON", br#"{"items":[{"a" 1}]}"#.to_vec()),
            ("mismatched brackets", br#"{"items":[{"a":[1}]]}"#.to_vec()),
            ("truncated", br#"{"items":[{"metadata":{}}"#.to_vec()),
            ("empty body", Vec::new()),
            ("invalid UTF-8", b"{\"items\":[{\"a\":\"\xff\"}]}".to_vec()),
        ];
        for (what, body) in cases {
            let one_by_one: Vec<usize> = (1..body.len()).collect();
            for splits in [vec![], one_by_one] {
                let r = feed_list(&body, &splits, "", "pods", ToVirtual, &m, lim);
                assert!(r.is_err(), "{what}: accepted {:?}", r.map(|o| String::from_utf8_lossy(&o).into_owned()));
            }
        }
        let e = feed_list(format!("{{\"items\":[{}]}}", "[".repeat(2000)).as_bytes(), &[], "", "pods", ToVirtual, &m, lim).unwrap_err();
        assert_eq!(e, RewriteError::TooDeep { limit: 1000 });
        // After an error every call fails.
        let mut r = ListRewriter::new("", "pods", ToVirtual, &m);
        let mut out = Vec::new();
        assert!(r.push(b"[", &mut out).is_err());
        assert!(r.push(b"{}", &mut out).is_err());
        assert!(r.finish(&mut out).is_err());
    }

    #[test]
    fn memory_is_bounded_by_the_element() {
        // 2000 elements of ~300 bytes with a 1 KiB limit: fine, because only one is buffered.
        let list = pod_list(&vec!["acme--prod"; 2000]);
        let body = serde_json::to_vec(&list).unwrap();
        assert!(body.len() > 500_000);
        let m = acme();
        let out = feed_list(&body, &[], "", "pods", ToVirtual, &m, Limits { max_element: 1024, max_depth: 1000 }).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 2000);
    }

    fn feed_watch(body: &[u8], splits: &[usize], m: &FixedMapper) -> Result<Vec<u8>> {
        let mut r = WatchRewriter::new("", "pods", ToVirtual, m);
        let mut out = push_in_chunks(body, splits, |c, o| r.push(c, o))?;
        r.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn watch_events_any_chunking() {
        let m = acme();
        let events = [
            json!({"type": "ADDED", "object": pod("a", "acme--prod")}),
            json!({"type": "ADDED", "object": pod("b", "globex--prod")}),
            json!({"type": "MODIFIED", "object": pod("c", "acme--dev")}),
            json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "12", "annotations": {"k8s.io/initial-events-end": "true"}}}}),
            json!({"type": "DELETED", "object": pod("d", "kube-system")}),
            json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "too old resource version in acme--prod", "reason": "Expired", "code": 410}}),
            json!({"type": "ADDED", "object": {"kind": "Table", "columnDefinitions": [], "rows": [{"cells": ["x"], "object": {"metadata": {"name": "x", "namespace": "globex--prod"}}}]}}),
            json!({"type": "ADDED", "object": {"kind": "Table", "rows": [{"cells": ["y"], "object": {"metadata": {"name": "y", "namespace": "acme--prod"}}}]}}),
        ];
        // Newline-delimited, and also jammed together / spaced out: boundaries come from the scanner.
        let mut nd = Vec::new();
        let mut jammed = Vec::new();
        for e in &events {
            nd.extend(serde_json::to_vec(e).unwrap());
            nd.push(b'\n');
            jammed.extend(serde_json::to_vec_pretty(e).unwrap());
            jammed.extend(b" \r\n\t");
        }
        let whole = feed_watch(&nd, &[], &m).unwrap();
        let lines: Vec<Value> = whole.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        assert!(whole.ends_with(b"\n"));
        assert_eq!(lines.len(), 5, "{}", String::from_utf8_lossy(&whole));
        assert_eq!(lines[0]["object"]["metadata"]["namespace"], "prod");
        assert!(lines[0]["object"]["metadata"]["labels"].get("vcproxy.io/t").is_none());
        assert_eq!(lines[1]["object"]["metadata"]["namespace"], "dev");
        assert_eq!(lines[2], events[3], "bookmarks pass through");
        assert_eq!(lines[3]["object"]["message"], "too old resource version in prod");
        assert_eq!(lines[4]["object"]["rows"][0]["object"]["metadata"]["namespace"], "prod");
        assert_eq!(feed_watch(&jammed, &[], &m).unwrap(), whole);
        let bytes: Vec<usize> = (1..nd.len()).collect();
        assert_eq!(feed_watch(&nd, &bytes, &m).unwrap(), whole);
        let mut rng = Rng(7);
        for _ in 0..50 {
            let s = random_splits(&mut rng, jammed.len());
            assert_eq!(feed_watch(&jammed, &s, &m).unwrap(), whole);
        }
        // A complete event goes out at once, even one much shorter than the one before it.
        let mut r = WatchRewriter::new("", "pods", ToVirtual, &m);
        let mut out = Vec::new();
        let small = br#"{"type":"DELETED","object":{"metadata":{"namespace":"acme--dev"}}}"#;
        let mut two = serde_json::to_vec(&events[0]).unwrap();
        two.extend_from_slice(small);
        r.push(&two, &mut out).unwrap();
        assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 2, "{}", String::from_utf8_lossy(&out));
        // Each event is emitted as soon as it is complete.
        let mut r = WatchRewriter::new("", "pods", ToVirtual, &m);
        let mut out = Vec::new();
        let first = serde_json::to_vec(&events[0]).unwrap();
        r.push(&first[..first.len() - 1], &mut out).unwrap();
        assert!(out.is_empty());
        r.push(&first[first.len() - 1..], &mut out).unwrap();
        assert!(out.ends_with(b"\n") && !out.is_empty());
        assert_eq!(r.dropped(), 0);
    }

    #[test]
    fn hostile_watch_input() {
        let m = acme();
        for (what, body) in [
            ("deep", format!("{{\"type\":\"ADDED\",\"object\":{}}}", "[".repeat(3000)).into_bytes()),
            ("unterminated", br#"{"type":"ADDED","object":{"metadata":{"name":"x}}}"#.to_vec()),
            ("duplicate object", br#"{"type":"ADDED","object":{"metadata":{"namespace":"acme--prod"}},"object":{"metadata":{"namespace":"kube-system"}}}"#.to_vec()),
            ("not an object", b"[1]\n".to_vec()),
            ("garbage between", b"{\"type\":\"BOOKMARK\"} x {}".to_vec()),
            ("truncated", b"{\"type\":\"ADDED\"".to_vec()),
        ] {
            assert!(feed_watch(&body, &[], &m).is_err(), "{what}");
        }
        let mut r = WatchRewriter::with_limits("", "pods", ToVirtual, &m, Limits { max_element: 100, max_depth: 1000 });
        let mut out = Vec::new();
        let big = format!("{{\"type\":\"ADDED\",\"object\":{{\"metadata\":{{\"name\":\"{}\"}}}}}}", "x".repeat(200));
        assert_eq!(r.push(big.as_bytes(), &mut out).unwrap_err(), RewriteError::TooLarge { limit: 100 });
    }

    #[test]
    #[ignore = "throughput check; run with --ignored --nocapture"]
    fn throughput() {
        let nss: Vec<&str> = (0..20_000).map(|i| if i % 4 == 0 { "globex--prod" } else { "acme--prod" }).collect();
        let body = serde_json::to_vec(&pod_list(&nss)).unwrap();
        let m = acme();
        let t = std::time::Instant::now();
        let rounds = 5;
        let mut n = 0;
        for _ in 0..rounds {
            let mut r = ListRewriter::new("", "pods", ToVirtual, &m);
            let mut out = Vec::with_capacity(body.len());
            for c in body.chunks(16 * 1024) {
                r.push(c, &mut out).unwrap();
            }
            r.finish(&mut out).unwrap();
            n += out.len();
        }
        let secs = t.elapsed().as_secs_f64();
        let t2 = std::time::Instant::now();
        let mut copy = 0;
        for _ in 0..rounds {
            let mut out = Vec::with_capacity(body.len());
            for c in body.chunks(16 * 1024) {
                out.extend_from_slice(c);
            }
            copy += out.len();
        }
        let copy_secs = t2.elapsed().as_secs_f64();
        println!(
            "list rewrite: {:.1} MB/s over {} MB ({} bytes out); plain copy: {:.1} MB/s ({copy})",
            (body.len() * rounds) as f64 / secs / 1e6,
            body.len() / 1_000_000,
            n,
            (body.len() * rounds) as f64 / copy_secs / 1e6
        );
    }
}
