//! Log lines into columns: the Common and Combined Log Formats of Apache and
//! nginx, parsed by hand over bytes (no allocation per field), and any other
//! format as a regex with named groups.
//!
//! Common: `host ident user [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326`;
//! Combined adds `"referer" "user agent"`. A `-` is null. Times become UTC
//! timestamps; a request that is not `METHOD PATH PROTOCOL` keeps its text
//! in `request` with the three parts null.

use polars::prelude::*;

use crate::error::{CoreError, Result};

/// How each line is read.
#[derive(Debug, Clone)]
pub enum LineFormat {
    Common,
    Combined,
    Regex(regex::Regex),
}

impl LineFormat {
    /// `"combined"`, `"common"`, or `"regex"` with its `pattern`.
    pub fn parse(name: &str, pattern: Option<&str>) -> Result<LineFormat> {
        match (name, pattern) {
            ("combined", None) => Ok(LineFormat::Combined),
            ("common", None) => Ok(LineFormat::Common),
            ("regex", Some(p)) => {
                let re = regex::Regex::new(p)
                    .map_err(|e| CoreError::config("pattern", format!("invalid regex: {e}")))?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(CoreError::config(
                        "pattern",
                        "name the fields with groups such as (?P<status>\\d+)",
                    ));
                }
                Ok(LineFormat::Regex(re))
            }
            ("regex", None) => Err(CoreError::config("pattern", "format regex needs a pattern")),
            (_, Some(_)) => Err(CoreError::config(
                "pattern",
                "a pattern goes with format=\"regex\"",
            )),
            (other, None) => Err(CoreError::config(
                "format",
                format!("must be combined, common, json or regex, got {other:?}"),
            )),
        }
    }
}

/// Columns being filled, line by line.
pub enum Columns {
    Access(Box<AccessColumns>),
    Regex {
        re: regex::Regex,
        cols: Vec<StringChunkedBuilder>,
    },
}

pub struct AccessColumns {
    combined: bool,
    host: StringChunkedBuilder,
    ident: StringChunkedBuilder,
    user: StringChunkedBuilder,
    time: PrimitiveChunkedBuilder<Int64Type>,
    method: StringChunkedBuilder,
    path: StringChunkedBuilder,
    protocol: StringChunkedBuilder,
    request: StringChunkedBuilder,
    status: PrimitiveChunkedBuilder<Int32Type>,
    bytes: PrimitiveChunkedBuilder<Int64Type>,
    referer: StringChunkedBuilder,
    agent: StringChunkedBuilder,
    rows: usize,
}

fn text(name: &str, cap: usize) -> StringChunkedBuilder {
    StringChunkedBuilder::new(name.into(), cap)
}

impl Columns {
    pub fn new(format: &LineFormat, cap: usize) -> Columns {
        match format {
            LineFormat::Common | LineFormat::Combined => Columns::Access(Box::new(AccessColumns {
                combined: matches!(format, LineFormat::Combined),
                host: text("remote_addr", cap),
                ident: text("ident", cap),
                user: text("remote_user", cap),
                time: PrimitiveChunkedBuilder::new("time".into(), cap),
                method: text("method", cap),
                path: text("path", cap),
                protocol: text("protocol", cap),
                request: text("request", cap),
                status: PrimitiveChunkedBuilder::new("status".into(), cap),
                bytes: PrimitiveChunkedBuilder::new("bytes".into(), cap),
                referer: text("referer", cap),
                agent: text("user_agent", cap),
                rows: 0,
            })),
            LineFormat::Regex(re) => {
                let cols = re.capture_names().flatten().map(|n| text(n, cap)).collect();
                Columns::Regex {
                    re: re.clone(),
                    cols,
                }
            }
        }
    }

    /// Adds one line (without its newline); false when it does not parse,
    /// and nothing was added.
    pub fn push(&mut self, line: &[u8]) -> bool {
        match self {
            Columns::Access(c) => c.push(line),
            Columns::Regex { re, cols } => {
                let Ok(line) = std::str::from_utf8(line) else {
                    return false;
                };
                let Some(caps) = re.captures(line) else {
                    return false;
                };
                for (col, name) in cols.iter_mut().zip(re.capture_names().flatten()) {
                    match caps.name(name) {
                        Some(m) => col.append_value(m.as_str()),
                        None => col.append_null(),
                    }
                }
                true
            }
        }
    }

    /// The rows so far as a frame; the builders start again empty.
    pub fn finish(&mut self, format: &LineFormat, cap: usize) -> Result<DataFrame> {
        let done = std::mem::replace(self, Columns::new(format, cap));
        let columns: Vec<Column> = match done {
            Columns::Access(c) => c.finish()?,
            Columns::Regex { cols, .. } => cols
                .into_iter()
                .map(|b| b.finish().into_series().into())
                .collect(),
        };
        Ok(DataFrame::new_infer_height(columns)?)
    }
}

impl AccessColumns {
    fn push(&mut self, line: &[u8]) -> bool {
        let Some(f) = access_fields(line, self.combined) else {
            return false;
        };
        let Some(time) = clf_time(f.time) else {
            return false;
        };
        optional(&mut self.host, f.host);
        optional(&mut self.ident, f.ident);
        optional(&mut self.user, f.user);
        self.time.append_value(time);
        let request = unescape(f.request);
        let parts: Vec<&str> = request.split(' ').collect();
        if parts.len() == 3 && !parts[0].is_empty() && parts[1].starts_with(['/', '*', 'h']) {
            self.method.append_value(parts[0]);
            self.path.append_value(parts[1]);
            self.protocol.append_value(parts[2]);
        } else {
            self.method.append_null();
            self.path.append_null();
            self.protocol.append_null();
        }
        optional(&mut self.request, request.as_bytes());
        self.status.append_value(f.status);
        match f.bytes {
            Some(n) => self.bytes.append_value(n),
            None => self.bytes.append_null(),
        }
        if self.combined {
            optional(&mut self.referer, unescape(f.referer).as_bytes());
            optional(&mut self.agent, unescape(f.agent).as_bytes());
        }
        self.rows += 1;
        true
    }

    fn finish(self) -> Result<Vec<Column>> {
        let time = self
            .time
            .finish()
            .into_series()
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let mut out: Vec<Column> = vec![
            self.host.finish().into_series().into(),
            self.ident.finish().into_series().into(),
            self.user.finish().into_series().into(),
            time.into(),
            self.method.finish().into_series().into(),
            self.path.finish().into_series().into(),
            self.protocol.finish().into_series().into(),
            self.request.finish().into_series().into(),
            self.status.finish().into_series().into(),
            self.bytes.finish().into_series().into(),
        ];
        if self.combined {
            out.push(self.referer.finish().into_series().into());
            out.push(self.agent.finish().into_series().into());
        }
        Ok(out)
    }
}

/// A field, or null when it is `-` or empty; invalid UTF-8 is replaced.
fn optional(b: &mut StringChunkedBuilder, v: &[u8]) {
    if v.is_empty() || v == b"-" {
        b.append_null();
    } else {
        match std::str::from_utf8(v) {
            Ok(s) => b.append_value(s),
            Err(_) => b.append_value(String::from_utf8_lossy(v).as_ref()),
        }
    }
}

struct Fields<'a> {
    host: &'a [u8],
    ident: &'a [u8],
    user: &'a [u8],
    time: &'a [u8],
    request: &'a [u8],
    status: i32,
    bytes: Option<i64>,
    referer: &'a [u8],
    agent: &'a [u8],
}

/// The fields of a Common (or Combined) Log Format line.
fn access_fields(line: &[u8], combined: bool) -> Option<Fields<'_>> {
    let mut rest = line;
    let host = word(&mut rest)?;
    let ident = word(&mut rest)?;
    let user = word(&mut rest)?;
    let time = bracketed(&mut rest)?;
    let request = quoted(&mut rest)?;
    let status = number(word(&mut rest)?)?;
    let bytes_field = word_or_end(&mut rest)?;
    let bytes = if bytes_field == b"-" {
        None
    } else {
        Some(number(bytes_field)?)
    };
    let (referer, agent) = if combined {
        (quoted(&mut rest)?, quoted(&mut rest)?)
    } else {
        (&b""[..], &b""[..])
    };
    if !(100..=999).contains(&status) {
        return None;
    }
    Some(Fields {
        host,
        ident,
        user,
        time,
        request,
        status: status as i32,
        bytes,
        referer,
        agent,
    })
}

fn skip_spaces(rest: &mut &[u8]) {
    while let [b' ', tail @ ..] = *rest {
        *rest = tail;
    }
}

fn word<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    let end = rest.iter().position(|&c| c == b' ')?;
    let (w, tail) = rest.split_at(end);
    *rest = tail;
    (!w.is_empty()).then_some(w)
}

fn word_or_end<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    let end = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    let (w, tail) = rest.split_at(end);
    *rest = tail;
    (!w.is_empty()).then_some(w)
}

fn bracketed<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    let inner = rest.strip_prefix(b"[")?;
    let end = inner.iter().position(|&c| c == b']')?;
    *rest = &inner[end + 1..];
    Some(&inner[..end])
}

/// A double-quoted field; `\"` and `\\` inside it do not end it.
fn quoted<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    let inner = rest.strip_prefix(b"\"")?;
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            b'\\' => i += 2,
            b'"' => {
                *rest = &inner[i + 1..];
                return Some(&inner[..i]);
            }
            _ => i += 1,
        }
    }
    None
}

/// nginx and Apache escape `"` and `\` (and bytes as `\xHH`) inside quoted fields.
fn unescape(v: &[u8]) -> std::borrow::Cow<'_, str> {
    if !v.contains(&b'\\') {
        return String::from_utf8_lossy(v);
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            match v[i + 1] {
                b'x' if i + 3 < v.len() => {
                    let hex = std::str::from_utf8(&v[i + 2..i + 4]).ok();
                    if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        out.push(b);
                        i += 4;
                        continue;
                    }
                    out.push(b'\\');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 2;
                }
            }
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn number(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `10/Oct/2000:13:55:36 -0700` as microseconds since the epoch, UTC.
pub fn clf_time(t: &[u8]) -> Option<i64> {
    if t.len() != 26 || t[2] != b'/' || t[6] != b'/' || t[11] != b':' || t[20] != b' ' {
        return None;
    }
    let two = |i: usize| number(&t[i..i + 2]);
    let day = two(0)?;
    let month = MONTHS.iter().position(|m| &t[3..6] == *m)? as u32 + 1;
    let year = number(&t[7..11])?;
    let (hour, minute, second) = (two(12)?, two(15)?, two(18)?);
    let sign = match t[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset = sign * (two(22)? * 3600 + two(24)? * 60);
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day as u32)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = i64::from(date.num_days_from_ce() - 719_163);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds * 1_000_000)
}

use chrono::Datelike;

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = br#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;

    fn frame(format: LineFormat, lines: &[&[u8]]) -> (DataFrame, usize) {
        let mut cols = Columns::new(&format, 4);
        let bad = lines.iter().filter(|l| !cols.push(l)).count();
        (cols.finish(&format, 4).unwrap(), bad)
    }

    #[test]
    fn apaches_own_example_line() {
        let (df, bad) = frame(LineFormat::Combined, &[LINE]);
        assert_eq!(bad, 0);
        let get = |c: &str| df.column(c).unwrap().get(0).unwrap().to_string();
        assert_eq!(get("remote_addr"), "\"127.0.0.1\"");
        assert_eq!(get("ident"), "null");
        assert_eq!(get("remote_user"), "\"frank\"");
        assert_eq!(get("method"), "\"GET\"");
        assert_eq!(get("path"), "\"/apache_pb.gif\"");
        assert_eq!(get("status"), "200");
        assert_eq!(get("bytes"), "2326");
        assert_eq!(get("referer"), "\"http://www.example.com/start.html\"");
        assert_eq!(get("user_agent"), "\"Mozilla/4.08 [en] (Win98; I ;Nav)\"");
        // 13:55:36 at -07:00 is 20:55:36 UTC.
        assert_eq!(
            clf_time(b"10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336_000_000)
        );
    }

    #[test]
    fn dashes_escapes_odd_requests_and_bad_lines() {
        let lines: [&[u8]; 6] = [
            br#"::1 - - [01/Jan/2024:00:00:00 +0000] "-" 400 - "-" "-""#,
            br#"10.0.0.1 - - [29/Feb/2024:23:59:59 +0100] "GET /q?\"x\" HTTP/1.1" 304 0 "-" "a \"b\" \x41""#,
            br#"10.0.0.1 - - [31/Feb/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
            b"not a log line",
            br#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "-""#,
            br#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
        ];
        let (df, bad) = frame(LineFormat::Combined, &lines);
        assert_eq!((df.height(), bad), (2, 4));
        assert_eq!(df.column("request").unwrap().null_count(), 1);
        assert_eq!(df.column("method").unwrap().null_count(), 1);
        assert_eq!(df.column("bytes").unwrap().null_count(), 1);
        let agent = df.column("user_agent").unwrap().str().unwrap().get(1);
        assert_eq!(agent, Some("a \"b\" A"));
        let (common, bad) = frame(LineFormat::Common, &[lines[5]]);
        assert_eq!((common.height(), bad, common.width()), (1, 0, 10));
    }

    #[test]
    fn regex_groups_are_columns() {
        let re = LineFormat::parse("regex", Some(r"^(?P<level>\w+) (?P<message>.*)$")).unwrap();
        let (df, bad) = frame(re, &[b"INFO started", b"", b"WARN disk 91%"]);
        assert_eq!((df.height(), bad), (2, 1));
        assert_eq!(df.get_column_names(), ["level", "message"]);
        assert!(LineFormat::parse("regex", Some("(")).is_err());
        assert!(LineFormat::parse("regex", Some(r"\d+")).is_err());
        assert!(LineFormat::parse("w3c", None).is_err());
    }
}
