//! One decoder for JSON and JSON-B (jsonbcd-21 §3–4). JSON-B is a superset of JSON, so the JSON
//! reader is this decoder with the binary productions switched off.
//!
//! The JSON reader is lenient in the one way the published data needs: raw control characters
//! (the seeds wrap base64url with newlines) are accepted inside strings. Everything else follows
//! the JSON grammar. Lengths are checked against the input before anything is allocated, and
//! nesting is bounded, so hostile input gives an error, never a panic or a huge allocation.
//!
//! The draft's bignum example writes the tag `A5`; its table gives `A7` (positive) and `AF`
//! (negative), which are what is read and written here.

use crate::{EncodingError, Value};

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 128;

pub(crate) struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    binary: bool,
    depth: usize,
}

type Result<T> = std::result::Result<T, EncodingError>;

impl<'a> Decoder<'a> {
    pub(crate) fn new(data: &'a [u8], binary: bool) -> Self {
        Decoder {
            data,
            pos: 0,
            binary,
            depth: 0,
        }
    }

    /// Decode one complete document: a single value and nothing after it but white space.
    pub(crate) fn document(mut self) -> Result<Value> {
        let v = self.value()?;
        self.skip_ws();
        if self.pos != self.data.len() {
            return Err(EncodingError::Trailing(self.pos));
        }
        Ok(v)
    }

    fn peek(&self) -> Result<u8> {
        self.data
            .get(self.pos)
            .copied()
            .ok_or(EncodingError::Truncated(self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(EncodingError::Truncated(self.data.len()));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.data.get(self.pos) {
            self.pos += 1;
        }
    }

    fn unexpected(&self, byte: u8, expected: &'static str) -> EncodingError {
        EncodingError::Unexpected {
            byte,
            offset: self.pos,
            expected,
        }
    }

    fn value(&mut self) -> Result<Value> {
        self.skip_ws();
        let b = self.peek()?;
        match b {
            b'{' => self.nested(|d| d.object()),
            b'[' => self.nested(|d| d.array()),
            b'"' => Ok(Value::String(self.json_string()?)),
            b'-' | b'0'..=b'9' => self.json_number(),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            0x80..=0x87 if self.binary => Ok(Value::String(self.binary_string()?)),
            0x88..=0x8f if self.binary => Ok(Value::Binary(self.binary_data()?)),
            0x92 if self.binary => {
                self.pos += 1;
                let raw: [u8; 8] = self.take(8)?.try_into().expect("8 octets");
                Ok(Value::Float(f64::from_be_bytes(raw)))
            }
            0xa0..=0xa3 | 0xa8..=0xab if self.binary => {
                self.pos += 1;
                let width = 1usize << (b & 0x03);
                let magnitude = self.take(width)?;
                Ok(Value::from_magnitude(b >= 0xa8, magnitude))
            }
            0xa7 | 0xaf if self.binary => {
                self.pos += 1;
                let len = self.length(2)?;
                let magnitude = self.take(len)?;
                Ok(Value::from_magnitude(b == 0xaf, magnitude))
            }
            0xb0 if self.binary => self.single(Value::Bool(true)),
            0xb1 if self.binary => self.single(Value::Bool(false)),
            0xb2 if self.binary => self.single(Value::Null),
            0xc0..=0xd0 if self.binary => Err(EncodingError::Compressed(b)),
            _ => Err(self.unexpected(b, "a value")),
        }
    }

    fn single(&mut self, v: Value) -> Result<Value> {
        self.pos += 1;
        Ok(v)
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Value>) -> Result<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(EncodingError::TooDeep(MAX_DEPTH));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &'static [u8], v: Value) -> Result<Value> {
        if self.data[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(EncodingError::Invalid {
                what: "literal",
                offset: self.pos,
            })
        }
    }

    /// After a member or item: a comma or the closing bracket. The grammar lets a binary value
    /// (an x-value) go without the comma; a missing comma before a binary tag is also taken, as
    /// a writer that leaves out every separator produces that.
    fn separator(&mut self, close: u8, after_binary: bool) -> Result<bool> {
        self.skip_ws();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Ok(false)
            }
            c if c == close => {
                self.pos += 1;
                Ok(true)
            }
            _ if after_binary || self.is_binary_start() => Ok(false),
            c => Err(self.unexpected(c, "',' or a closing bracket")),
        }
    }

    fn is_binary_start(&self) -> bool {
        self.binary && self.data.get(self.pos).is_some_and(|b| *b >= 0x80)
    }

    fn array(&mut self) -> Result<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            let binary = self.is_binary_start();
            items.push(self.value()?);
            if self.separator(b']', binary)? {
                return Ok(Value::Array(items));
            }
        }
    }

    fn object(&mut self) -> Result<Value> {
        self.pos += 1;
        let mut members = Vec::new();
        let mut seen: Option<std::collections::HashSet<String>> = None;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            let key = match self.peek()? {
                b'"' => {
                    let k = self.json_string()?;
                    self.skip_ws();
                    match self.peek()? {
                        b':' => self.pos += 1,
                        c => return Err(self.unexpected(c, "':' after a member name")),
                    }
                    k
                }
                0x80..=0x87 if self.binary => self.binary_string()?,
                0xb4..=0xb7 if self.binary => self.tag_name()?,
                c => return Err(self.unexpected(c, "a member name")),
            };
            self.skip_ws();
            let at = self.pos;
            let binary = self.is_binary_start();
            let value = self.value()?;
            // A member named twice is refused: which of the two a reader takes would decide
            // what it acts on, and two readers might take different ones.
            let repeated = if members.len() < 16 {
                members.iter().any(|(k, _): &(String, Value)| *k == key)
            } else {
                seen.get_or_insert_with(|| {
                    members
                        .iter()
                        .map(|(k, _): &(String, Value)| k.clone())
                        .collect::<std::collections::HashSet<String>>()
                })
                .contains(&key)
            };
            if repeated {
                return Err(EncodingError::DuplicateMember {
                    name: key,
                    offset: at,
                });
            }
            if let Some(seen) = seen.as_mut() {
                seen.insert(key.clone());
            }
            members.push((key, value));
            if self.separator(b'}', binary)? {
                return Ok(Value::Object(members));
            }
        }
    }

    /// Read an n-octet big-endian length and check the input holds that much.
    fn length(&mut self, n: usize) -> Result<usize> {
        let raw = self.take(n)?;
        let len = raw.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
        if len > (self.data.len() - self.pos) as u64 {
            return Err(EncodingError::Truncated(self.data.len()));
        }
        Ok(len as usize)
    }

    /// A sequence of chunks (tags `chunk..chunk+3`) ending in a terminal (`term..term+3`).
    fn chunks(&mut self, term: u8, chunk: u8) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let tag = self.peek()?;
            let is_term = (term..term + 4).contains(&tag);
            if !is_term && !(chunk..chunk + 4).contains(&tag) {
                return Err(self.unexpected(tag, "a string or data chunk"));
            }
            self.pos += 1;
            let len = self.length(1usize << (tag & 0x03))?;
            out.extend_from_slice(self.take(len)?);
            if is_term {
                return Ok(out);
            }
        }
    }

    fn binary_string(&mut self) -> Result<String> {
        let start = self.pos;
        String::from_utf8(self.chunks(0x80, 0x84)?).map_err(|_| EncodingError::Invalid {
            what: "UTF-8 in string",
            offset: start,
        })
    }

    /// A member name as the reference's JSON-B writer codes it: tag 0xB4–0xB7, a 1-, 2-, 4- or
    /// 8-octet length, then the name in UTF-8 (reference README fact 3; jsonbcd-21 does not
    /// list the tag).
    fn tag_name(&mut self) -> Result<String> {
        let tag = self.peek()?;
        self.pos += 1;
        let start = self.pos;
        let len = self.length(1usize << (tag & 0x03))?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| EncodingError::Invalid {
            what: "UTF-8 in member name",
            offset: start,
        })
    }

    fn binary_data(&mut self) -> Result<Vec<u8>> {
        self.chunks(0x88, 0x8c)
    }

    fn hex4(&mut self) -> Result<u32> {
        let offset = self.pos;
        let digits = self.take(4)?;
        let text = std::str::from_utf8(digits).map_err(|_| EncodingError::Invalid {
            what: "\\u escape",
            offset,
        })?;
        u32::from_str_radix(text, 16).map_err(|_| EncodingError::Invalid {
            what: "\\u escape",
            offset,
        })
    }

    fn json_string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let offset = self.pos;
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if self.take(2)? != b"\\u" {
                                    return Err(EncodingError::Invalid {
                                        what: "surrogate pair",
                                        offset,
                                    });
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(EncodingError::Invalid {
                                        what: "surrogate pair",
                                        offset,
                                    });
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or(EncodingError::Invalid {
                                what: "\\u escape",
                                offset,
                            })?
                        }
                        other => return Err(self.unexpected(other, "an escape character")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|_| EncodingError::Invalid {
            what: "UTF-8 in string",
            offset: start,
        })
    }

    fn json_number(&mut self) -> Result<Value> {
        let start = self.pos;
        let invalid = EncodingError::Invalid {
            what: "number",
            offset: start,
        };
        let digits = |d: &mut Self| {
            let s = d.pos;
            while d.data.get(d.pos).is_some_and(u8::is_ascii_digit) {
                d.pos += 1;
            }
            d.pos - s
        };
        let negative = self.data[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.data[int_start] == b'0') {
            return Err(invalid);
        }
        let mut is_float = false;
        if self.data.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(invalid);
            }
            is_float = true;
        }
        if matches!(self.data.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.data.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(invalid);
            }
            is_float = true;
        }
        let text = std::str::from_utf8(&self.data[start..self.pos]).map_err(|_| invalid.clone())?;
        if is_float {
            let f: f64 = text.parse().map_err(|_| invalid.clone())?;
            return if f.is_finite() {
                Ok(Value::Float(f))
            } else {
                Err(invalid)
            };
        }
        let magnitude =
            num_bigint::BigUint::parse_bytes(&self.data[int_start..self.pos], 10).ok_or(invalid)?;
        Ok(Value::from_magnitude(negative, &magnitude.to_bytes_be()))
    }
}
