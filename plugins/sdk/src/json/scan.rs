//! [`scan`]: a strict single-pass JSON scanner, for plugins that rewrite a field or
//! two of a record and keep every other byte as it came.
//!
//! [`scan`] checks that a record is valid JSON (one value, or several
//! separated by whitespace) and finds one top-level member of each object,
//! without building anything. String contents, most of a log's bytes, are
//! skipped eight bytes at a time. It is stricter than `serde_json` where it
//! matters (lone surrogate escapes are refused) and leaves the rare cases to
//! a full parse (`None`): nesting deeper than 128, numbers beyond what an
//! `f64` holds, values not separated by whitespace. A caller falls back to
//! `serde_json` on `None`, which also words the error.

use std::ops::Range;

pub use super::visit_at::VisitAt;

/// Nesting deeper than this is left to a full parse (`serde_json`'s limit).
const MAX_DEPTH: usize = 128;

/// The longest path [`scan_visit`] follows (keys, not counting arrays):
/// the `into` paths are a few keys long, and a fixed array keeps the
/// scan from allocating.
pub const MAX_VISIT_DEPTH: usize = 8;

/// Where the member that [`scan`] looked for is in one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// The value is not an object, or has no such member.
    Absent,
    /// The member's value, as a byte range of the value's text.
    At(Range<usize>),
    /// The scanner cannot tell: the key appears twice, or some top-level
    /// key is written with escapes (it could spell the key).
    Unclear,
}

/// One JSON value of a record, as [`scan`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned<'a> {
    /// The value's text, without surrounding whitespace.
    pub text: &'a str,
    /// Where the top-level member [`scan`] was asked for is.
    pub member: Member,
    /// The [ECS roots](crate::ecs::ROOTS) among its top-level keys
    /// ([`Roots::ALL`](crate::ecs::Roots::ALL) when a key is written with
    /// escapes), for [`Ecs::append_to`](crate::ecs::Ecs::append_to).
    pub roots: crate::ecs::Roots,
}

/// Check `record` is valid JSON (one value, or several separated by
/// whitespace, as NDJSON) and find the top-level member `key` of each value
/// that is an object. `None`: the record is not valid JSON, is empty, or
/// holds something left to a full parse (see the module docs).
pub fn scan<'a>(record: &'a [u8], key: &str) -> Option<Vec<Scanned<'a>>> {
    scan_inner::<fn(&Visit<'_, 'a>), false>(record, key, &[], None)
}

/// One member of an object, as [`scan_visit`] reports it.
#[derive(Debug)]
pub struct Visit<'v, 'a> {
    /// Which value of the record the member is in (0 for the first).
    pub value: usize,
    /// The keys leading to the object holding the member, outermost first
    /// (arrays on the way are not named): `[]` for a top-level member,
    /// `[b"httpRequest", b"headers"]` for a member of an object in the array
    /// `httpRequest.headers`. Keys as written (escapes not decoded).
    pub path: &'v [&'a [u8]],
    /// The member's key as written (escapes not decoded).
    pub key: &'a [u8],
    /// Whether some key on the way, or this one, is written with escapes
    /// (it may spell another name).
    pub escaped: bool,
    /// The index in `into` of the [`VisitAt`] of the member's object.
    pub at: usize,
    /// The index of the member's key in that [`VisitAt::names`] (`None`
    /// when it names none: all members are visited).
    pub named: Option<usize>,
    /// The offset in the record of the `{` of the object holding the
    /// member: members with the same `object` are of the same object.
    pub object: usize,
    /// The member's value, as a byte range of the record.
    pub range: Range<usize>,
    /// The member's value, as text.
    pub raw: &'a str,
    /// The value's string when it is a string without escapes (`None` for
    /// one with escapes, decoded by [`json_str`](super::json_str) from
    /// `raw`, or for any other value).
    pub plain: Option<&'a str>,
}

/// The objects whose members [`scan_visit`] reports ([`VisitAt`]).
pub type Paths<'p> = &'p [VisitAt<'p>];

/// [`scan`], also calling `visit` with the chosen members of the objects at
/// the paths `into` ([`VisitAt`]; objects anywhere else are only checked; a
/// path is shorter than [`MAX_VISIT_DEPTH`] keys), in the order the
/// members end. For plugins that read a few fields of a record in the same
/// single pass; a member seen by `visit` may still belong to a record that
/// turns out invalid (then `None`).
pub fn scan_visit<'a, F: FnMut(&Visit<'_, 'a>)>(
    record: &'a [u8],
    key: &str,
    into: Paths<'_>,
    visit: F,
) -> Option<Vec<Scanned<'a>>> {
    scan_inner::<F, true>(record, key, into, Some(visit))
}

fn scan_inner<'a, F: FnMut(&Visit<'_, 'a>), const VISIT: bool>(
    record: &'a [u8],
    key: &str,
    into: Paths<'_>,
    visit: Option<F>,
) -> Option<Vec<Scanned<'a>>> {
    let text = std::str::from_utf8(record).ok()?;
    let mut s = Scanner::<'a, '_, F, VISIT>::new(record, text, 0, visit, into);
    let mut out = Vec::new();
    loop {
        s.ws();
        if s.i == record.len() {
            break;
        }
        if !out.is_empty() && !matches!(record[s.i - 1], b' ' | b'\t' | b'\n' | b'\r') {
            return None;
        }
        let start = s.i;
        s.roots = crate::ecs::Roots::NONE;
        let mut member = Member::Absent;
        s.want = s.want_here();
        s.value(0, Some(key.as_bytes()), &mut member)?;
        s.want = None;
        let member = match member {
            Member::At(r) => Member::At(r.start - start..r.end - start),
            other => other,
        };
        out.push(Scanned {
            // Values start and end at ASCII bytes, so these are char boundaries.
            text: text.get(start..s.i)?,
            member,
            roots: s.roots,
        });
        s.value_index += 1;
    }
    (!out.is_empty()).then_some(out)
}

/// `VISIT`: whether `visit` is set (known when compiling: a plain scan
/// does not look for objects to visit).
struct Scanner<'a, 'p, F, const VISIT: bool> {
    b: &'a [u8],
    /// `b`, checked UTF-8.
    text: &'a str,
    i: usize,
    /// The ECS roots among the current value's top-level keys.
    roots: crate::ecs::Roots,
    /// Called with every member of the objects at the paths `into`.
    visit: Option<F>,
    into: Paths<'p>,
    /// The keys leading to the current object (while visiting).
    path: [&'a [u8]; MAX_VISIT_DEPTH],
    /// How many keys of `path` are in use.
    path_len: usize,
    /// How many keys of `path` are escaped.
    escaped_path: usize,
    /// The index of the current value of the record.
    value_index: usize,
    /// The index in `into` of the objects met next (directly or in
    /// arrays): `None` when they are not visited.
    want: Option<usize>,
}

impl<'a, 'p, F: FnMut(&Visit<'_, 'a>), const VISIT: bool> Scanner<'a, 'p, F, VISIT> {
    /// A scanner at byte `i` of `b` (`text`: `b`, checked UTF-8), at the
    /// top level (no path, no value counted yet).
    fn new(b: &'a [u8], text: &'a str, i: usize, visit: Option<F>, into: Paths<'p>) -> Self {
        Scanner {
            b,
            text,
            i,
            roots: crate::ecs::Roots::NONE,
            visit,
            into,
            path: [&[]; MAX_VISIT_DEPTH],
            path_len: 0,
            escaped_path: 0,
            value_index: 0,
            want: None,
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// One value at `self.i`. `key`: find that member if the value is an
    /// object (top level only).
    fn value(&mut self, depth: usize, key: Option<&[u8]>, member: &mut Member) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(depth + 1, key, member),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// The index in `into` of the current path (`None`: not visited).
    fn want_here(&self) -> Option<usize> {
        self.visit.as_ref()?;
        let path = self.path.get(..self.path_len).unwrap_or_default();
        // compared inline (`==` on slices calls `memcmp`, slow in WebAssembly)
        self.into.iter().position(|at| {
            at.path.len() == path.len() && at.path.iter().zip(path).all(|(a, b)| super::same(a, b))
        })
    }

    /// An object; its members are visited as `into[self.want]` says.
    fn object(&mut self, depth: usize, key: Option<&[u8]>, member: &mut Member) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let object = self.i;
        let into = self.into;
        let want = match VISIT {
            true => self.want.take().and_then(|w| Some((w, into.get(w)?))),
            false => None,
        };
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let name_start = self.i + 1;
            let escaped = self.string()?;
            let b: &'a [u8] = self.b;
            let name = &b[name_start..self.i - 1];
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let value_start = self.i;
            if let Some((at, named)) = want.and_then(|(at, w)| Some((at, w.wants(name)?))) {
                self.visited_value(depth, name, escaped, object, (at, named))?;
            } else if VISIT {
                self.unvisited(depth)?;
            } else {
                self.value(depth, None, &mut Member::Absent)?;
            }
            if let Some(key) = key {
                if escaped {
                    *member = Member::Unclear;
                    self.roots = crate::ecs::Roots::ALL;
                } else {
                    self.roots.mark_bytes(name);
                    if name == key {
                        *member = match member {
                            Member::Absent => Member::At(value_start..self.i),
                            _ => Member::Unclear,
                        };
                    }
                }
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The value of member `name` of the object at `object`, with its
    /// descendants visited, then the member itself.
    fn visited_value(
        &mut self,
        depth: usize,
        name: &'a [u8],
        escaped: bool,
        object: usize,
        (at, named): (usize, Option<usize>),
    ) -> Option<()> {
        let value_start = self.i;
        // past MAX_VISIT_DEPTH keys, nothing below is visited (the path
        // stops growing, so it matches none of `into`'s shorter ones)
        let pushed = match self.path.get_mut(self.path_len) {
            Some(slot) => {
                *slot = name;
                self.path_len += 1;
                true
            }
            None => false,
        };
        self.escaped_path += usize::from(escaped);
        // a string's escapes are known from scanning it
        let plain_string = match self.peek()? {
            b'"' => !self.string()?,
            b'{' | b'[' => {
                match self.want_here() {
                    Some(want) => {
                        self.want = Some(want);
                        self.value(depth, None, &mut Member::Absent)?;
                        self.want = None;
                    }
                    None => self.unvisited(depth)?,
                }
                false
            }
            _ => {
                self.value(depth, None, &mut Member::Absent)?;
                false
            }
        };
        self.path_len -= usize::from(pushed);
        self.escaped_path -= usize::from(escaped);
        // values start and end at ASCII bytes: char boundaries
        let raw = self.text.get(value_start..self.i)?;
        let plain = match plain_string {
            true => raw.get(1..raw.len() - 1),
            false => None,
        };
        if let Some(visit) = self.visit.as_mut() {
            visit(&Visit {
                value: self.value_index,
                path: self.path.get(..self.path_len).unwrap_or_default(),
                key: name,
                escaped: escaped || self.escaped_path > 0,
                at,
                named,
                object,
                range: value_start..self.i,
                raw,
                plain,
            });
        }
        Some(())
    }

    /// A value nothing in is visited (while visiting): an object or array
    /// is checked by [`scan`]'s scanner, whose code is leaner (no path, no
    /// visits to look for), and most of a record's bytes are in such values.
    fn unvisited(&mut self, depth: usize) -> Option<()> {
        if !matches!(self.peek()?, b'{' | b'[') {
            return self.value(depth, None, &mut Member::Absent);
        }
        let mut plain = Scanner::<'a, '_, F, false>::new(self.b, self.text, self.i, None, &[]);
        plain.value(depth, None, &mut Member::Absent)?;
        self.i = plain.i;
        Some(())
    }

    /// An array; the members of its objects are visited as
    /// `into[self.want]` says.
    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        let want = self.want;
        loop {
            if VISIT {
                self.want = want;
            }
            self.value(depth, None, &mut Member::Absent)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, with at most
    /// 200 integer digits and a two-digit exponent, so that it fits an
    /// `f64` (a larger one is left to the full parse, which refuses it).
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.i - int_start > 200 {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let start = self.i;
            self.digits();
            if self.i == start {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            let start = self.i;
            self.digits();
            if self.i == start || self.i - start > 2 {
                return None;
            }
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// The string whose opening quote is at `self.i`; moves past its closing
    /// quote. `Some(true)`: it holds an escape.
    fn string(&mut self) -> Option<bool> {
        let b = self.b;
        let mut i = self.i + 1;
        let mut escaped = false;
        loop {
            i = skip_plain(b, i);
            match *b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let unit = hex4(b, i + 2)?;
                            i += 6;
                            if (0xDC00..0xE000).contains(&unit) {
                                return None;
                            }
                            if (0xD800..0xDC00).contains(&unit) {
                                // A high surrogate must be followed by a low one.
                                if b.get(i..i + 2)? != b"\\u" {
                                    return None;
                                }
                                if !(0xDC00..0xE000).contains(&hex4(b, i + 2)?) {
                                    return None;
                                }
                                i += 6;
                            }
                        }
                        _ => return None,
                    }
                }
                // A control character must be escaped.
                _ => return None,
            }
        }
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let mut unit = 0;
    for &c in b.get(at..at + 4)? {
        unit = unit * 16 + (c as char).to_digit(16)?;
    }
    Some(unit)
}

/// The index of the first byte at or after `i` that is a quote, a backslash
/// or a control character (`b.len()` if none), eight bytes at a time.
///
/// For each test the lowest flagged byte of `(x - 0x01…) & !x & 0x80…` is the
/// lowest zero byte of `x` (a borrow only flags bytes above a true one), so
/// the lowest set bit of the three tests together is the first match.
#[inline]
pub(crate) fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(bytes);
        let quote = w ^ (LO * b'"' as u64);
        let backslash = w ^ (LO * b'\\' as u64);
        let flagged = ((quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if flagged != 0 {
            return i + (flagged.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests;
