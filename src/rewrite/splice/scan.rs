//! The validating JSON scanner under the splice rewriter, and the edit list it fills.
//!
//! It accepts exactly what `parse_json` would accept *or gives up* ([`Bail`]): UTF-8 (checked
//! per string: outside strings only ASCII tokens are accepted), string
//! escapes, control characters, number grammar, literals, nesting and duplicate keys (compared
//! after unescaping) are all checked. Where serde_json's own answer is subtle, it gives up
//! rather than guess: surrogate `\u` escapes, numbers with an exponent or over
//! [`MAX_NUMBER`] characters (which may overflow an f64), nesting over [`MAX_DEPTH`].

use super::Bail;
use crate::rewrite::NamespaceMapper;

pub(super) type R<T> = Result<T, Bail>;

/// Deepest nesting taken on here; serde_json refuses beyond 128, so deeper goes to it.
pub(crate) const MAX_DEPTH: usize = 100;
/// Longest number token taken as it is: one this short without an exponent is a finite f64.
const MAX_NUMBER: usize = 300;

/// A string token: `start..end` includes the quotes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Str {
    pub start: usize,
    pub end: usize,
    /// Has a backslash escape: the raw bytes are not the value.
    pub escaped: bool,
    /// Has a `\u` or `\/` escape. Without one, every character has a single spelling, so raw
    /// bytes compare like values (keys) and a prefix of letters reads the same (`f:vcproxy.io/`).
    pub exotic: bool,
}

impl Str {
    /// The bytes between the quotes.
    pub fn raw<'b>(&self, b: &'b [u8]) -> &'b [u8] {
        &b[self.start + 1..self.end - 1]
    }
}

/// Replace `start..end` of the element with `text` (a range of [`Scratch::text`]).
#[derive(Debug, Clone)]
pub(super) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: std::ops::Range<usize>,
}

/// A member of an object (key start to value end) or an element of an array, and whether it goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    pub start: usize,
    pub end: usize,
    pub removed: bool,
}

/// Buffers reused from element to element.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub edits: Vec<Edit>,
    pub text: Vec<u8>,
    /// Keys of the objects being scanned (a stack; each object checks its own for duplicates).
    keys: Vec<Str>,
    /// Members/elements of the containers that may lose some (a stack, like `keys`).
    pub items: Vec<Item>,
}

impl Scratch {
    pub fn clear(&mut self) {
        self.edits.clear();
        self.text.clear();
        self.keys.clear();
        self.items.clear();
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Nonzero if any byte of `x` is `"`, `\` or a control character (exact, no false positives
/// for "any"): the SWAR tests from "Bit Twiddling Hacks".
#[inline(always)]
fn special(x: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(x ^ (ONES * b'"' as u64)) | zero(x ^ (ONES * b'\\' as u64)) | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// The value of an escaped string's raw bytes (already validated by [`Cx::string`]).
pub(super) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = match raw[i + 1] {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let ch = hex4(&raw[i + 2..]).and_then(char::from_u32).expect("validated by the scanner");
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += 6;
                continue;
            }
            other => other, // `"`, `\`, `/`
        };
        out.push(c);
        i += 2;
    }
    out
}

/// `vcproxy.io/…`, any case, on bytes (see [`crate::rewrite::is_reserved_key`]).
pub(super) fn reserved(key: &[u8]) -> bool {
    let p = crate::mapping::RESERVED_PREFIX.as_bytes();
    key.len() >= p.len() && key[..p.len()].eq_ignore_ascii_case(p)
}

/// A cursor over one element, with the state of the element being rewritten (the walk itself
/// is in the parent module).
pub(super) struct Cx<'a> {
    pub b: &'a [u8],
    pub i: usize,
    depth: usize,
    /// Whitespace was seen between tokens (watch events must come out compact).
    pub ws: bool,
    pub s: &'a mut Scratch,
    pub m: &'a dyn NamespaceMapper,
    /// The kind is `namespaces`.
    pub namespaces: bool,
    /// A placement field is foreign: the element goes (once it is known to be valid JSON).
    pub drop: bool,
    /// The `kind` member of the object at the root of the walk.
    pub kind: Option<Str>,
    /// The object at the root of the walk has an `items` or `rows` member: the Value path takes
    /// such a body as a list or Table whatever its kind.
    pub list_keys: bool,
    /// A read went past the end of `b`: the bytes so far are a valid start of an element that
    /// is cut short (a [`Bail`] then means "need more", not "not handled").
    pub eof: std::cell::Cell<bool>,
}

impl<'a> Cx<'a> {
    pub fn new(b: &'a [u8], s: &'a mut Scratch, m: &'a dyn NamespaceMapper, namespaces: bool) -> Self {
        s.clear();
        Cx { b, i: 0, depth: 0, ws: false, s, m, namespaces, drop: false, kind: None, list_keys: false, eof: Default::default() }
    }

    #[inline]
    pub fn peek(&self) -> R<u8> {
        self.at(self.i)
    }

    /// The byte at `i`, noting a read past the end.
    #[inline]
    fn at(&self, i: usize) -> R<u8> {
        match self.b.get(i) {
            Some(&c) => Ok(c),
            None => {
                self.eof.set(true);
                Err(Bail)
            }
        }
    }

    /// Gives up on `lit` not being at `self.i`; if what is left is the start of `lit`, the
    /// element is cut short.
    fn literal(&self, lit: &[u8]) -> R<()> {
        let rest = &self.b[self.i..];
        if rest.len() < lit.len() && lit.starts_with(rest) {
            self.eof.set(true);
        }
        Err(Bail)
    }

    #[inline]
    pub fn skip_ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
            self.ws = true;
        }
    }

    /// Peeks at the next token's first byte, after whitespace.
    #[inline]
    pub fn next(&mut self) -> R<u8> {
        self.skip_ws();
        self.peek()
    }

    /// The element must end here (nothing but whitespace left).
    pub fn end(&mut self) -> R<()> {
        self.skip_ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A string token at `self.i` (which is at its opening quote).
    pub fn string(&mut self) -> R<Str> {
        let b = self.b;
        let start = self.i;
        let mut i = start + 1;
        let (mut escaped, mut exotic, mut high) = (false, false, 0u64);
        loop {
            // Most string bytes are plain: skip them eight at a time, then straight to the first
            // special one (the lowest mark is exact).
            while let Some(w) = b.get(i..i + 8) {
                let x = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                let sp = special(x);
                if sp != 0 {
                    let k = sp.trailing_zeros() / 8;
                    high |= x & ((1u64 << (8 * k)) - 1);
                    i += k as usize;
                    break;
                }
                high |= x;
                i += 8;
            }
            match self.at(i)? {
                b'"' => {
                    // Only strings hold non-ASCII bytes: check those strings' UTF-8.
                    if high & HIGH != 0 && std::str::from_utf8(&b[start + 1..i]).is_err() {
                        return Err(Bail);
                    }
                    self.i = i + 1;
                    return Ok(Str { start, end: i + 1, escaped, exotic });
                }
                b'\\' => {
                    escaped = true;
                    i += match self.at(i + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'/' => {
                            exotic = true;
                            2
                        }
                        // Surrogates (pairs or not) are left to serde_json's rules.
                        b'u' => match hex4(&b[i + 2..]) {
                            Some(c) if !(0xD800..=0xDFFF).contains(&c) => {
                                exotic = true;
                                6
                            }
                            _ => {
                                self.eof.set(self.eof.get() || b.len() < i + 6);
                                return Err(Bail);
                            }
                        },
                        _ => return Err(Bail),
                    };
                }
                0..=0x1f => return Err(Bail),
                c => {
                    high |= c as u64 & 0x80;
                    i += 1;
                }
            }
        }
    }

    /// A string token where one must be (after whitespace).
    pub fn expect_string(&mut self) -> R<Str> {
        if self.next()? != b'"' {
            return Err(Bail);
        }
        self.string()
    }

    /// The literal `null` (anything else starting with a letter is another type or invalid).
    pub fn null(&mut self) -> R<()> {
        if self.b[self.i..].starts_with(b"null") {
            self.i += 4;
            Ok(())
        } else {
            self.literal(b"null")
        }
    }

    fn scalar(&mut self) -> R<()> {
        let b = self.b;
        let rest = &b[self.i..];
        for lit in [&b"true"[..], b"false", b"null"] {
            if rest.starts_with(lit) {
                self.i += lit.len();
                return Ok(());
            }
            if rest.first() == lit.first() {
                return self.literal(lit);
            }
        }
        let start = self.i;
        let mut i = start;
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while digit(i) {
                    i += 1;
                }
            }
            _ => return self.at(i).and(Err(Bail)),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digit(i) {
                return self.at(i).and(Err(Bail));
            }
            while digit(i) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) || i - start > MAX_NUMBER {
            return Err(Bail);
        }
        self.i = i;
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Bail);
        }
        self.i += 1;
        Ok(())
    }

    /// Scans the object at `self.i` (its `{`), calling `member` with each key and `self.i` at the
    /// value, which `member` must consume. Refuses duplicate keys.
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, Str) -> R<()>) -> R<()> {
        self.enter()?;
        let base = self.s.keys.len();
        if self.next()? == b'}' {
            self.i += 1;
        } else {
            loop {
                let k = self.expect_string()?;
                self.s.keys.push(k);
                if self.next()? != b':' {
                    return Err(Bail);
                }
                self.i += 1;
                self.skip_ws();
                member(self, k)?;
                match self.next()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.check_duplicates(base)?;
        self.s.keys.truncate(base);
        self.depth -= 1;
        Ok(())
    }

    /// Scans the array at `self.i` (its `[`), calling `element` with each index and `self.i` at
    /// the element, which `element` must consume.
    pub fn array(&mut self, mut element: impl FnMut(&mut Self, usize) -> R<()>) -> R<()> {
        self.enter()?;
        if self.next()? == b']' {
            self.i += 1;
        } else {
            let mut n = 0;
            loop {
                self.skip_ws();
                element(self, n)?;
                n += 1;
                match self.next()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Validates one value and moves past it. With `fkeys` (inside `managedFields`), gives up on
    /// any key naming a reserved label or annotation (`f:vcproxy.io/…`), which the Value path
    /// would have to remove.
    pub fn skip_value(&mut self, fkeys: bool) -> R<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|cx, k| {
                if fkeys {
                    let hit = |key: &[u8]| key.strip_prefix(b"f:").is_some_and(reserved);
                    if if k.exotic { hit(&unescape(k.raw(cx.b))) } else { hit(k.raw(cx.b)) } {
                        return Err(Bail);
                    }
                }
                cx.skip_value(fkeys)
            }),
            b'[' => self.array(|cx, _| cx.skip_value(fkeys)),
            _ => self.scalar(),
        }
    }

    /// The keys of the object that began at `base` must differ (after unescaping).
    fn check_duplicates(&mut self, base: usize) -> R<()> {
        let b = self.b;
        let keys = &mut self.s.keys[base..];
        let n = keys.len();
        if n < 2 {
            return Ok(());
        }
        if keys.iter().any(|k| k.exotic) {
            let mut decoded: Vec<Vec<u8>> =
                keys.iter().map(|k| if k.escaped { unescape(k.raw(b)) } else { k.raw(b).to_vec() }).collect();
            decoded.sort_unstable();
            if decoded.windows(2).any(|w| w[0] == w[1]) {
                return Err(Bail);
            }
        } else if n <= 16 {
            // Length and first eight bytes first: most pairs differ there, without a memcmp.
            // The key's first eight bytes, zero-padded: one load and a mask where the element
            // goes on for eight bytes (it usually does: `":` and a value follow).
            let fp = |k: &Str| {
                let raw = k.raw(b);
                let len = raw.len();
                let w = match b.get(k.start + 1..k.start + 9) {
                    Some(w) => {
                        u64::from_le_bytes(w.try_into().expect("8 bytes"))
                            & if len >= 8 { !0 } else { (1u64 << (8 * len)) - 1 }
                    }
                    None => {
                        let mut w = [0u8; 8];
                        w[..len.min(8)].copy_from_slice(&raw[..len.min(8)]);
                        u64::from_le_bytes(w)
                    }
                };
                (w, len)
            };
            let mut fps = [(0u64, 0usize); 16];
            for (f, k) in fps.iter_mut().zip(keys.iter()) {
                *f = fp(k);
            }
            for i in 1..n {
                let a = keys[i].raw(b);
                if (0..i).any(|j| fps[j] == fps[i] && keys[j].raw(b) == a) {
                    return Err(Bail);
                }
            }
        } else {
            keys.sort_unstable_by(|x, y| x.raw(b).cmp(y.raw(b)));
            if keys.windows(2).any(|w| w[0].raw(b) == w[1].raw(b)) {
                return Err(Bail);
            }
        }
        Ok(())
    }

    /// Replaces `start..end` with `text`.
    pub fn replace(&mut self, start: usize, end: usize, text: &[u8]) {
        let t = self.s.text.len();
        self.s.text.extend_from_slice(text);
        self.s.edits.push(Edit { start, end, text: t..self.s.text.len() });
    }

    /// Replaces the token `start..end` with the JSON string `value`.
    pub fn replace_str(&mut self, start: usize, end: usize, value: &str) {
        let t = self.s.text.len();
        serde_json::to_writer(&mut self.s.text, value).expect("a string always serialises");
        self.s.edits.push(Edit { start, end, text: t..self.s.text.len() });
    }

    /// Removes the members (elements) marked in `self.s.items[base..]`, fixing commas, and
    /// pops them. If every one goes, the container is left empty (`{}`/`[]`).
    pub fn remove_items(&mut self, base: usize) {
        let n = self.s.items.len() - base;
        let at = |cx: &Self, j: usize| cx.s.items[base + j];
        match (0..n).find(|&j| !at(self, j).removed) {
            None if n > 0 => {
                let (s, e) = (at(self, 0).start, at(self, n - 1).end);
                self.replace(s, e, b"");
            }
            None => {}
            Some(first) => {
                // Before the first kept one: up to its start (takes the commas after them).
                if first > 0 {
                    let (s, e) = (at(self, 0).start, at(self, first).start);
                    self.replace(s, e, b"");
                }
                // After it: from the end of the one before (takes the comma before it).
                for j in first + 1..n {
                    if at(self, j).removed {
                        let (s, e) = (at(self, j - 1).end, at(self, j).end);
                        self.replace(s, e, b"");
                    }
                }
            }
        }
        self.s.items.truncate(base);
    }
}

/// Writes `b` with the edits applied. An edit inside one already applied (a removed member's
/// own edits) is skipped.
pub(super) fn apply(b: &[u8], s: &mut Scratch, out: &mut Vec<u8>) {
    s.edits.sort_unstable_by(|x, y| x.start.cmp(&y.start).then(y.end.cmp(&x.end)));
    let mut pos = 0;
    for e in &s.edits {
        if e.start < pos {
            continue;
        }
        out.extend_from_slice(&b[pos..e.start]);
        out.extend_from_slice(&s.text[e.text.clone()]);
        pos = e.end;
    }
    out.extend_from_slice(&b[pos..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(json: &str) -> bool {
        let mut s = Scratch::default();
        let m = crate::rewrite::testutil::acme();
        let mut cx = Cx::new(json.as_bytes(), &mut s, &m, false);
        cx.skip_ws();
        cx.skip_value(false).and_then(|_| cx.end()).is_ok()
    }

    #[test]
    fn accepts_only_what_serde_accepts() {
        for ok in [
            r#"{"a":[1,-2.5,0,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{}}"#,
            r#"{"abcdefghX":1,"abcdefghY":2,"a\"":3,"a\\":4}"#,
            "[]",
            r#" { "a" : "ü" } "#,
            "0",
            "-0.0",
        ] {
            assert!(valid(ok), "{ok}");
            assert!(crate::rewrite::parse_json(ok.as_bytes()).is_ok(), "{ok}");
        }
        // Invalid for serde, or valid but left to it (exponents, surrogates, depth, duplicates).
        for no in [
            r#"{"a":1,"a":2}"#,
            r#"{"abcdefghij":1,"b":2,"abcdefghij":{}}"#,
            r#"{"a":1,"b":{"c":[{"x":1,"x":1}]}}"#,
            r#"{"a":1,"\u0061":2}"#,
            "01",
            "1.",
            "-",
            "1e5",
            r#""\ud83d\ude00""#,
            r#""\x""#,
            "\"a\u{1}\"",
            "[1,]",
            "{,}",
            r#"{"a" 1}"#,
            "tru",
            "nul",
            &"[".repeat(101),
            r#""abc"#,
        ] {
            assert!(!valid(no), "{no}");
        }
        assert!(valid(&format!("{}{}", "[".repeat(100), "]".repeat(100))));
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(valid(&format!("{{{}}}", many.join(","))));
        assert!(!valid(&format!("{{{},\"k7\":0}}", many.join(","))));
    }

    #[test]
    fn special_bytes_are_found_in_words() {
        for i in 0..8 {
            for c in [b'"', b'\\', 0, 0x1f] {
                let mut w = *b"abcdefgh";
                w[i] = c;
                assert_ne!(special(u64::from_le_bytes(w)), 0);
            }
        }
        assert_eq!(special(u64::from_le_bytes(*b"a \x7f\xff\xc3\xa9~!")), 0);
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(br#"a\"b\\c\/d\n\u00e9\u0041"#), "a\"b\\c/d\né\u{41}".as_bytes());
    }
}
