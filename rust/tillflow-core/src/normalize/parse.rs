//! The page parser: JSON text (RFC 8259) to a [`Json`] tree.
//!
//! Written for what a loader needs rather than taken from serde_json:
//! - integers beyond 64 bits keep their digits ([`Json::BigInt`]) and a
//!   number beyond the range of a double is a value of its own
//!   ([`Json::OutOfRange`]), so one odd value never fails a page;
//! - it never recurses: nesting of any depth parses, and containers deeper
//!   than [`MAX_TREE_DEPTH`] are kept whole as their text ([`Json::Raw`]),
//!   so every walk over the tree (writing it, the normalizer, dropping it)
//!   stays bounded whatever a server sends;
//! - strings without escapes borrow from the page.
//!
//! A leading byte-order mark is ignored (RFC 8259 §8.1 allows it). A lone
//! UTF-16 surrogate in a `\u` escape becomes U+FFFD.

use std::borrow::Cow;
use std::fmt;

use super::json::Json;

/// Containers nested deeper than this are kept whole as their JSON text.
pub const MAX_TREE_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for ParseError {}

type PResult<T> = Result<T, ParseError>;

/// Parses one JSON document.
pub fn parse(bytes: &[u8]) -> PResult<Json<'_>> {
    let mut p = Parser::new(bytes)?;
    let v = p.document()?;
    p.end()?;
    Ok(v)
}

/// Checks that `bytes` hold exactly one valid JSON document (what
/// [`parse`] accepts), without building it and without recursion.
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    let check = || {
        let mut p = Parser::new(bytes)?;
        p.skip_value()?;
        p.end()
    };
    check().map_err(|e| e.to_string())
}

/// Writes validated JSON text compactly, as [`Json::write`] writes the
/// tree it parses to (for subtrees kept as text).
pub(super) fn write_compact(raw: &str, out: &mut String) {
    let mut p = Parser {
        text: raw,
        b: raw.as_bytes(),
        pos: 0,
    };
    loop {
        p.ws();
        let Some(c) = p.peek() else { return };
        match c {
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                out.push(c as char);
                p.pos += 1;
            }
            b'"' => match p.string() {
                Ok(s) => write_str(&s, out),
                Err(_) => return,
            },
            _ => match p.scalar() {
                Ok(v) => v.write(out),
                Err(_) => return,
            },
        }
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
pub(super) fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &str = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 0xf) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

enum Frame<'a> {
    Arr(Vec<Json<'a>>),
    /// Fields so far and the key whose value is being parsed.
    Obj(Vec<(Cow<'a, str>, Json<'a>)>, Cow<'a, str>),
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `x` is below `n` (n <= 128), SWAR.
#[inline]
fn has_less(x: u64, n: u8) -> bool {
    (x.wrapping_sub(ONES * n as u64) & !x & HIGHS) != 0
}

#[inline]
fn has_byte(x: u64, c: u8) -> bool {
    has_less(x ^ (ONES * c as u64), 1)
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> PResult<Self> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let p = Parser {
                text: "",
                b: bytes,
                pos: e.valid_up_to(),
            };
            p.err("invalid UTF-8")
        })?;
        Ok(Parser {
            text,
            b: bytes,
            pos: 0,
        })
    }

    fn err(&self, message: &str) -> ParseError {
        let upto = &self.b[..self.pos.min(self.b.len())];
        let line = upto.iter().filter(|&&c| c == b'\n').count() + 1;
        let line_start = upto.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        ParseError {
            message: message.to_string(),
            line,
            column: self.pos - line_start + 1,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn end(&mut self) -> PResult<()> {
        self.ws();
        if self.pos < self.b.len() {
            return Err(self.err("trailing characters"));
        }
        Ok(())
    }

    fn eof_or(&self, what: &str) -> ParseError {
        if self.pos >= self.b.len() {
            self.err("EOF while parsing")
        } else {
            self.err(what)
        }
    }

    /// The document's value; a tree down to [`MAX_TREE_DEPTH`].
    fn document(&mut self) -> PResult<Json<'a>> {
        let mut stack: Vec<Frame<'a>> = Vec::new();
        'value: loop {
            self.ws();
            let mut v = match self.peek() {
                Some(b'{' | b'[') if stack.len() >= MAX_TREE_DEPTH => {
                    let start = self.pos;
                    self.skip_value()?;
                    Json::Raw(&self.text[start..self.pos])
                }
                Some(b'{') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Json::Obj(Vec::new())
                    } else {
                        let key = self.key()?;
                        stack.push(Frame::Obj(Vec::with_capacity(8), key));
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Json::Arr(Vec::new())
                    } else {
                        stack.push(Frame::Arr(Vec::new()));
                        continue 'value;
                    }
                }
                Some(b'"') => Json::Str(self.string()?),
                _ => self.scalar()?,
            };
            // Hand the value to its container, closing every container it ends.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(v);
                };
                self.ws();
                match top {
                    Frame::Arr(items) => {
                        items.push(v);
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                continue 'value;
                            }
                            Some(b']') => self.pos += 1,
                            _ => return Err(self.eof_or("expected `,` or `]`")),
                        }
                    }
                    Frame::Obj(fields, key) => {
                        fields.push((std::mem::take(key), v));
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.ws();
                                *key = self.key()?;
                                continue 'value;
                            }
                            Some(b'}') => self.pos += 1,
                            _ => return Err(self.eof_or("expected `,` or `}`")),
                        }
                    }
                }
                v = match stack.pop() {
                    Some(Frame::Arr(items)) => Json::Arr(items),
                    Some(Frame::Obj(fields, _)) => Json::Obj(fields),
                    None => unreachable!("the loop checked the stack"),
                };
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> PResult<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return Err(self.eof_or("key must be a string"));
        }
        let k = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.eof_or("expected `:`"));
        }
        self.pos += 1;
        Ok(k)
    }

    /// Checks one value of any depth and moves past it, building nothing.
    fn skip_value(&mut self) -> PResult<()> {
        // One entry per open container: true for an object.
        let mut stack: Vec<bool> = Vec::new();
        'value: loop {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        self.skip_key()?;
                        stack.push(true);
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        stack.push(false);
                        continue 'value;
                    }
                }
                Some(b'"') => self.skip_string()?,
                _ => {
                    self.scalar()?;
                }
            }
            loop {
                let Some(&is_obj) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_obj {
                            self.ws();
                            self.skip_key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if is_obj => self.pos += 1,
                    Some(b']') if !is_obj => self.pos += 1,
                    _ if is_obj => return Err(self.eof_or("expected `,` or `}`")),
                    _ => return Err(self.eof_or("expected `,` or `]`")),
                }
                stack.pop();
            }
        }
    }

    fn skip_key(&mut self) -> PResult<()> {
        if self.peek() != Some(b'"') {
            return Err(self.eof_or("key must be a string"));
        }
        self.skip_string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.eof_or("expected `:`"));
        }
        self.pos += 1;
        Ok(())
    }

    /// Moves to the next `"`, `\` or control character inside a string.
    #[inline]
    fn scan_plain(&mut self) {
        let b = self.b;
        while self.pos + 8 <= b.len() {
            let chunk: [u8; 8] = b[self.pos..self.pos + 8].try_into().unwrap_or([0; 8]);
            let x = u64::from_le_bytes(chunk);
            if has_byte(x, b'"') || has_byte(x, b'\\') || has_less(x, 0x20) {
                break;
            }
            self.pos += 8;
        }
        while let Some(&c) = b.get(self.pos) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return;
            }
            self.pos += 1;
        }
    }

    /// A string literal at `"`, unescaped; borrowed when it has no escapes.
    fn string(&mut self) -> PResult<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        self.scan_plain();
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.err("control character in string")),
            None => return Err(self.err("EOF while parsing a string")),
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            // At a backslash.
            self.escape(&mut out)?;
            let run = self.pos;
            self.scan_plain();
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {}
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("EOF while parsing a string")),
            }
        }
    }

    fn skip_string(&mut self) -> PResult<()> {
        self.pos += 1;
        loop {
            self.scan_plain();
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.escape_len()?,
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("EOF while parsing a string")),
            }
        }
    }

    /// Checks the escape at a backslash and moves past it.
    fn escape_len(&mut self) -> PResult<()> {
        match self.b.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 2;
                self.hex4().map(|_| ())
            }
            Some(_) => {
                self.pos += 1;
                Err(self.err("invalid escape"))
            }
            None => Err(self.err("EOF while parsing a string")),
        }
    }

    fn hex4(&mut self) -> PResult<u16> {
        let Some(digits) = self.b.get(self.pos..self.pos + 4) else {
            self.pos = self.b.len();
            return Err(self.err("EOF while parsing a string"));
        };
        let mut v: u16 = 0;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            v = v << 4 | n as u16;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Decodes the escape at a backslash into `out`.
    fn escape(&mut self, out: &mut String) -> PResult<()> {
        let c = match self.b.get(self.pos + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 2;
                let first = self.hex4()?;
                let c = match first {
                    0xD800..=0xDBFF => {
                        // A high surrogate pairs with a following low one.
                        let pair = self.b.get(self.pos..self.pos + 2) == Some(b"\\u");
                        let save = self.pos;
                        let low = if pair {
                            self.pos += 2;
                            self.hex4()?
                        } else {
                            0
                        };
                        if (0xDC00..=0xDFFF).contains(&low) {
                            let cp = 0x10000
                                + (((first as u32) - 0xD800) << 10)
                                + ((low as u32) - 0xDC00);
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        } else {
                            self.pos = save;
                            '\u{FFFD}'
                        }
                    }
                    0xDC00..=0xDFFF => '\u{FFFD}',
                    cp => char::from_u32(cp as u32).unwrap_or('\u{FFFD}'),
                };
                out.push(c);
                return Ok(());
            }
            Some(_) => {
                self.pos += 1;
                return Err(self.err("invalid escape"));
            }
            None => return Err(self.err("EOF while parsing a string")),
        };
        out.push(c);
        self.pos += 2;
        Ok(())
    }

    /// A number, `true`, `false` or `null`.
    fn scalar(&mut self) -> PResult<Json<'a>> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            None => Err(self.err("EOF while parsing a value")),
            Some(_) => Err(self.err("expected value")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json<'a>) -> PResult<Json<'a>> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("expected value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> PResult<Json<'a>> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err("invalid number (leading zero)"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(self.err("EOF while parsing a number")),
            Some(_) => return Err(self.err("invalid number")),
        }
        let int_end = self.pos;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.eof_or("invalid number (no digit after the point)"));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.eof_or("invalid number (no digit in the exponent)"));
            }
            float = true;
        }
        let lexeme = &self.text[start..self.pos];
        if float {
            let f: f64 = lexeme.parse().map_err(|_| self.err("invalid number"))?;
            return Ok(if f.is_finite() {
                Json::Float(f)
            } else {
                Json::OutOfRange(lexeme)
            });
        }
        let digits = &self.b[int_start..int_end];
        if digits.len() > 20 {
            return Ok(Json::BigInt(lexeme));
        }
        let mag: Option<u64> = if digits.len() < 20 {
            Some(
                digits
                    .iter()
                    .fold(0u64, |acc, d| acc * 10 + (d - b'0') as u64),
            )
        } else {
            self.text[int_start..int_end].parse().ok()
        };
        Ok(match (mag, neg) {
            (None, _) => Json::BigInt(lexeme),
            (Some(m), false) => i64::try_from(m).map_or(Json::UInt(m), Json::Int),
            (Some(m), true) if m <= 1 << 63 => Json::Int((m as i64).wrapping_neg()),
            (Some(_), true) => Json::BigInt(lexeme),
        })
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
