//! Python's `ast.literal_eval` for what Airbyte's interpolation reads back
//! from a rendered string: numbers (`007` is not one), `True`, `False`,
//! `None`, quoted strings, lists, tuples and dicts. Anything else is not a
//! literal, and the rendered text stays a string.

use serde_json::{Map, Number, Value};

pub fn literal_eval(text: &str) -> Option<Value> {
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > 64 {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'[' => self.seq(b']', depth).map(Value::Array),
            b'(' => self.seq(b')', depth).map(Value::Array),
            b'{' => self.dict(depth),
            b'\'' | b'"' => self.string().map(Value::String),
            b'-' | b'+' | b'0'..=b'9' | b'.' => self.number(),
            _ => self.word(),
        }
    }

    fn seq(&mut self, close: u8, depth: usize) -> Option<Vec<Value>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.value(depth + 1)?);
            if !self.eat(b',') {
                return self.eat(close).then_some(out);
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.i += 1;
        let mut out = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(out));
            }
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                _ => return None,
            };
            if !self.eat(b':') {
                return None;
            }
            let v = self.value(depth + 1)?;
            out.insert(key, v);
            if !self.eat(b',') {
                return self.eat(b'}').then(|| Value::Object(out));
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.s[self.i];
        // Triple quotes ("""…""", as Airbyte's `string` filter writes).
        let triple = self.s[self.i..].starts_with(&[quote; 3]);
        self.i += if triple { 3 } else { 1 };
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            if triple {
                if self.s[self.i..].starts_with(&[quote; 3]) {
                    self.i += 3;
                    break;
                }
            } else if c == quote {
                self.i += 1;
                break;
            }
            if c == b'\\' {
                self.i += 1;
                let e = self.peek()?;
                self.i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'0' => out.push(0),
                    b'\\' | b'\'' | b'"' => out.push(e),
                    b'u' => {
                        let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                        let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        self.i += 4;
                        out.extend_from_slice(ch.to_string().as_bytes());
                    }
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                continue;
            }
            if c == b'\n' && !triple {
                return None;
            }
            out.push(c);
            self.i += 1;
        }
        String::from_utf8(out).ok()
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'0'..=b'9' | b'.' | b'e' | b'E' | b'_' | b'+' | b'-'
            )
        {
            // A sign is part of a number only right after its exponent mark.
            if matches!(self.s[self.i], b'+' | b'-') && !matches!(self.s[self.i - 1], b'e' | b'E') {
                break;
            }
            self.i += 1;
        }
        let raw = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        let text: String = raw.replace('_', "");
        if raw.contains("__") || raw.ends_with('_') || raw.contains("._") || raw.contains("_.") {
            return None;
        }
        let digits = text.trim_start_matches(['-', '+']);
        let is_float = digits.contains(['.', 'e', 'E']);
        if !is_float {
            // Python refuses leading zeros ("007").
            if digits.len() > 1 && digits.starts_with('0') {
                return None;
            }
            return match text.trim_start_matches('+').parse::<i64>() {
                Ok(i) => Some(Value::Number(i.into())),
                Err(_) => text
                    .trim_start_matches('+')
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number),
            };
        }
        let f: f64 = text.parse().ok()?;
        Number::from_f64(f).map(Value::Number)
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        match &self.s[start..self.i] {
            b"True" => Some(Value::Bool(true)),
            b"False" => Some(Value::Bool(false)),
            b"None" => Some(Value::Null),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::literal_eval;
    use serde_json::json;

    #[test]
    fn reads_what_python_reads() {
        assert_eq!(literal_eval("10"), Some(json!(10)));
        assert_eq!(literal_eval(" -2.5 "), Some(json!(-2.5)));
        assert_eq!(literal_eval("1e3"), Some(json!(1000.0)));
        assert_eq!(literal_eval("1_000"), Some(json!(1000)));
        assert_eq!(literal_eval("True"), Some(json!(true)));
        assert_eq!(literal_eval("None"), Some(json!(null)));
        assert_eq!(literal_eval("'a\\'b'"), Some(json!("a'b")));
        assert_eq!(
            literal_eval("['a', 1, (2, 3)]"),
            Some(json!(["a", 1, [2, 3]]))
        );
        assert_eq!(
            literal_eval("{'a': {'b': None}, 1: 'x'}"),
            Some(json!({"a": {"b": null}, "1": "x"}))
        );
        assert_eq!(
            literal_eval("\"\"\"{\"a\": 1}\"\"\""),
            Some(json!("{\"a\": 1}"))
        );
    }

    #[test]
    fn leaves_what_python_leaves() {
        for text in [
            "007",
            "2024-01-01",
            "abc",
            "1 2",
            "[1,",
            "true",
            "",
            "1__0",
            "10_",
            "/orders/7",
            "3-4",
        ] {
            assert_eq!(literal_eval(text), None, "{text}");
        }
    }
}
