//! MessagePack, as much of it as the Fluentd Forward protocol needs: an encoder for the types an
//! event is made of (nil, booleans, integers, strings, binary, arrays, maps, extension types) and
//! a decoder for the answers a server sends (`{"ack": ...}`).

/// Appends MessagePack values to a buffer; a map or an array is its header followed by its
/// entries.
#[derive(Debug, Default)]
pub struct Encoder(pub Vec<u8>);

impl Encoder {
    pub fn nil(&mut self) -> &mut Self {
        self.0.push(0xc0);
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.0.push(if v { 0xc3 } else { 0xc2 });
        self
    }

    /// The shortest form that holds `v`.
    pub fn int(&mut self, v: i64) -> &mut Self {
        if v >= 0 {
            return self.uint(v.unsigned_abs());
        }
        let b = &mut self.0;
        if v >= -32 {
            b.push(v as u8);
        } else if v >= i64::from(i8::MIN) {
            b.push(0xd0);
            b.push(v as i8 as u8);
        } else if v >= i64::from(i16::MIN) {
            b.push(0xd1);
            b.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= i64::from(i32::MIN) {
            b.push(0xd2);
            b.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            b.push(0xd3);
            b.extend_from_slice(&v.to_be_bytes());
        }
        self
    }

    pub fn uint(&mut self, v: u64) -> &mut Self {
        let b = &mut self.0;
        if v < 0x80 {
            b.push(v as u8);
        } else if let Ok(v) = u8::try_from(v) {
            b.extend_from_slice(&[0xcc, v]);
        } else if let Ok(v) = u16::try_from(v) {
            b.push(0xcd);
            b.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = u32::try_from(v) {
            b.push(0xce);
            b.extend_from_slice(&v.to_be_bytes());
        } else {
            b.push(0xcf);
            b.extend_from_slice(&v.to_be_bytes());
        }
        self
    }

    /// A string (its bytes as they are: Go's strings need not be UTF-8 either).
    pub fn str(&mut self, s: impl AsRef<[u8]>) -> &mut Self {
        let s = s.as_ref();
        self.head(s.len(), 0xa0, 32, [0xd9, 0xda, 0xdb]);
        self.0.extend_from_slice(s);
        self
    }

    pub fn bin(&mut self, s: &[u8]) -> &mut Self {
        self.head(s.len(), 0, 0, [0xc4, 0xc5, 0xc6]);
        self.0.extend_from_slice(s);
        self
    }

    /// The header of an array of `n` values.
    pub fn array(&mut self, n: usize) -> &mut Self {
        self.head(n, 0x90, 16, [0, 0xdc, 0xdd]);
        self
    }

    /// The header of a map of `n` key-value pairs.
    pub fn map(&mut self, n: usize) -> &mut Self {
        self.head(n, 0x80, 16, [0, 0xde, 0xdf]);
        self
    }

    /// An extension value of type `kind`.
    pub fn ext(&mut self, kind: i8, data: &[u8]) -> &mut Self {
        let fixed = match data.len() {
            1 => Some(0xd4),
            2 => Some(0xd5),
            4 => Some(0xd6),
            8 => Some(0xd7),
            16 => Some(0xd8),
            _ => None,
        };
        match fixed {
            Some(f) => self.0.push(f),
            None => self.head(data.len(), 0, 0, [0xc7, 0xc8, 0xc9]),
        }
        self.0.push(kind as u8);
        self.0.extend_from_slice(data);
        self
    }

    /// A length: in the type byte (`fix | n`) below `fix_max`, else after a marker of 1, 2 or 4
    /// bytes (a marker of 0: that size does not exist for the type). Longer is cut to 4 bytes'
    /// worth, which no event comes near.
    fn head(&mut self, n: usize, fix: u8, fix_max: usize, markers: [u8; 3]) {
        let b = &mut self.0;
        if n < fix_max {
            b.push(fix | n as u8);
        } else if let (Ok(n), true) = (u8::try_from(n), markers[0] != 0) {
            b.extend_from_slice(&[markers[0], n]);
        } else if let Ok(n) = u16::try_from(n) {
            b.push(markers[1]);
            b.extend_from_slice(&n.to_be_bytes());
        } else {
            b.push(markers[2]);
            b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Vec<u8>),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Ext(i8, Vec<u8>),
}

impl Value {
    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(kv) => kv
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key.as_bytes()))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed.
    Short,
    /// A type byte MessagePack does not define (0xc1).
    Invalid(u8),
    /// Nested deeper than a reply ever is.
    TooDeep,
}

/// The first value in `b`, and how many bytes it took.
pub fn decode(b: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut r = Reader { b, at: 0 };
    let v = r.value(0)?;
    Ok((v, r.at))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Short)?;
        let s = self.b.get(self.at..end).ok_or(DecodeError::Short)?;
        self.at = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
    }

    fn signed(&mut self, n: usize) -> Result<i128, DecodeError> {
        let v = self.be(n)?;
        let shift = 64 - 8 * n as u32;
        Ok(i128::from(((v << shift) as i64) >> shift))
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, DecodeError> {
        Ok(self.take(n)?.to_vec())
    }

    fn items(&mut self, n: usize, depth: u32) -> Result<Vec<Value>, DecodeError> {
        // Each item is at least a byte: a count past the end is short, not an allocation.
        if n > self.b.len() - self.at {
            return Err(DecodeError::Short);
        }
        (0..n).map(|_| self.value(depth + 1)).collect()
    }

    fn pairs(&mut self, n: usize, depth: u32) -> Result<Value, DecodeError> {
        let kv = self.items(n.saturating_mul(2), depth)?;
        let mut it = kv.into_iter();
        let mut out = Vec::with_capacity(n);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }

    fn ext(&mut self, n: usize) -> Result<Value, DecodeError> {
        let kind = self.take(1)?[0] as i8;
        Ok(Value::Ext(kind, self.bytes(n)?))
    }

    fn value(&mut self, depth: u32) -> Result<Value, DecodeError> {
        if depth > 32 {
            return Err(DecodeError::TooDeep);
        }
        let t = self.take(1)?[0];
        let len = |r: &mut Self, n| r.be(n).map(|v| v as usize);
        Ok(match t {
            0x00..=0x7f => Value::Int(i128::from(t)),
            0x80..=0x8f => self.pairs(usize::from(t & 0x0f), depth)?,
            0x90..=0x9f => Value::Array(self.items(usize::from(t & 0x0f), depth)?),
            0xa0..=0xbf => Value::Str(self.bytes(usize::from(t & 0x1f))?),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = len(self, 1 << (t - 0xc4))?;
                Value::Bin(self.bytes(n)?)
            }
            0xc7..=0xc9 => {
                let n = len(self, 1 << (t - 0xc7))?;
                self.ext(n)?
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Value::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Value::Int(i128::from(self.be(1 << (t - 0xcc))?)),
            0xd0..=0xd3 => Value::Int(self.signed(1 << (t - 0xd0))?),
            0xd4..=0xd8 => self.ext(1 << (t - 0xd4))?,
            0xd9..=0xdb => {
                let n = len(self, 1 << (t - 0xd9))?;
                Value::Str(self.bytes(n)?)
            }
            0xdc | 0xdd => {
                let n = len(self, 2 << (t - 0xdc))?;
                Value::Array(self.items(n, depth)?)
            }
            0xde | 0xdf => {
                let n = len(self, 2 << (t - 0xde))?;
                self.pairs(n, depth)?
            }
            0xe0..=0xff => Value::Int(i128::from(t as i8)),
            0xc1 => return Err(DecodeError::Invalid(t)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(e: &Encoder) -> Value {
        let (v, n) = decode(&e.0).unwrap();
        assert_eq!(n, e.0.len());
        v
    }

    #[test]
    fn every_form_has_its_spec_bytes_and_decodes_back() {
        let mut e = Encoder::default();
        e.int(5)
            .int(-3)
            .int(200)
            .int(-200)
            .int(70_000)
            .int(1 << 40)
            .int(-(1 << 40));
        assert_eq!(
            e.0,
            [
                &[0x05, 0xfd, 0xcc, 200, 0xd1, 0xff, 0x38][..],
                &[0xce, 0x00, 0x01, 0x11, 0x70],
                &[0xcf, 0, 0, 0x01, 0, 0, 0, 0, 0],
                &[0xd3, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0],
            ]
            .concat()
        );
        let mut d = &e.0[..];
        for want in [5, -3, 200, -200, 70_000, 1 << 40, -(1 << 40)] {
            let (v, n) = decode(d).unwrap();
            assert_eq!(v, Value::Int(want));
            d = &d[n..];
        }

        let mut e = Encoder::default();
        e.str("ab");
        assert_eq!(e.0, [0xa2, b'a', b'b']);
        let long = "x".repeat(40);
        let mut e = Encoder::default();
        e.str(&long);
        assert_eq!(e.0[..2], [0xd9, 40]);
        let huge = vec![b'y'; 70_000];
        let mut e = Encoder::default();
        e.str(&huge).bin(b"\x00\x01");
        assert_eq!(e.0[..5], [0xdb, 0, 1, 0x11, 0x70]);
        assert_eq!(e.0[5 + 70_000..], [0xc4, 2, 0, 1]);

        let mut e = Encoder::default();
        e.array(3)
            .nil()
            .bool(true)
            .map(1)
            .str("k")
            .ext(0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(e.0[..3], [0x93, 0xc0, 0xc3]);
        assert_eq!(e.0[6..8], [0xd7, 0x00]);
        assert_eq!(
            round(&e),
            Value::Array(vec![
                Value::Nil,
                Value::Bool(true),
                Value::Map(vec![(
                    Value::Str(b"k".to_vec()),
                    Value::Ext(0, vec![1, 2, 3, 4, 5, 6, 7, 8])
                )]),
            ])
        );
        let mut e = Encoder::default();
        e.array(20);
        assert_eq!(e.0, [0xdc, 0, 20]);
    }

    #[test]
    fn short_and_bad_input_is_an_error_not_a_panic() {
        let mut e = Encoder::default();
        e.map(1).str("ack").str("abc");
        for n in 0..e.0.len() {
            assert_eq!(decode(&e.0[..n]), Err(DecodeError::Short), "{n}");
        }
        assert_eq!(round(&e).get("ack").and_then(Value::as_str), Some("abc"));
        assert_eq!(decode(&[0xc1]), Err(DecodeError::Invalid(0xc1)));
        assert_eq!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Short)
        );
        assert_eq!(decode(&[0x91; 100]), Err(DecodeError::TooDeep));
    }
}
