//! NDJSON and JSON files as records for the normalizer: nested objects and
//! arrays become parent and child tables exactly as API records do.
//!
//! A `.ndjson`/`.jsonl` file holds one record per line. A `.json` file holds
//! an array of records, streamed element by element, or records one after
//! another (pretty-printed or not); a file holding one object is one
//! record. Only one record's bytes are held at a time.

use std::io::BufRead;
use std::sync::Arc;

use polars::prelude::*;

use super::tabular::{OnBadRow, FILE_COLUMN};
use super::text::open_text;
use crate::error::{CoreError, Result};
use crate::normalize::{Json, Normalizer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Lines,
    /// Inside a top-level array.
    Array,
    /// Values one after another.
    Values,
}

/// Where records come from: a JSON file, or rows of a nested Parquet file.
pub trait RecordSource: Send {
    /// The next record's text (or an already built record) and its line.
    fn next_record(&mut self) -> Result<Option<(u64, Record)>>;
}

pub enum Record {
    Text(Vec<u8>),
    Built(Json<'static>),
}

pub struct JsonRecords {
    reader: Box<dyn BufRead + Send>,
    layout: Layout,
    line: u64,
    path: String,
    done: bool,
}

pub fn open_json(
    path: &super::text::Input,
    lines: bool,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> Result<(JsonRecords, &'static str)> {
    let text = open_text(path, encoding)?;
    let first = text.sample.trim_start().as_bytes().first().copied();
    let layout = match (lines, first) {
        (true, _) => Layout::Lines,
        (false, Some(b'[')) => Layout::Array,
        _ => Layout::Values,
    };
    let mut records = JsonRecords {
        reader: text.reader,
        layout,
        line: 1,
        path: path.shown(),
        done: false,
    };
    if layout == Layout::Array {
        records.skip_ws()?;
        records.reader.consume(1); // the '['
    }
    Ok((records, text.encoding))
}

fn io_err(path: &str, e: std::io::Error) -> CoreError {
    CoreError::file(path, format!("cannot read: {e}"))
}

impl JsonRecords {
    /// Skips whitespace; the next byte, if any, is left unread.
    fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            let buf = self.reader.fill_buf().map_err(|e| io_err(&self.path, e))?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut i = 0;
            while i < buf.len() {
                match buf[i] {
                    b'\n' => self.line += 1,
                    b' ' | b'\t' | b'\r' => {}
                    b => {
                        self.reader.consume(i);
                        return Ok(Some(b));
                    }
                }
                i += 1;
            }
            let n = buf.len();
            self.reader.consume(n);
        }
    }

    /// The bytes of one JSON value, from its first byte to its end; stops
    /// after an unbalanced closing bracket, a comma or whitespace at depth 0.
    fn scan_value(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        loop {
            let buf = self.reader.fill_buf().map_err(|e| io_err(&self.path, e))?;
            if buf.is_empty() {
                return Ok(out);
            }
            let mut end = None;
            let mut lines = 0;
            for (i, &b) in buf.iter().enumerate() {
                if in_str {
                    if esc {
                        esc = false;
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth == 0 => {
                            end = Some(i);
                            break;
                        }
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        b',' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                if b == b'\n' {
                    lines += 1;
                }
            }
            self.line += lines;
            // A value cannot start with a closing bracket or a comma: that
            // byte is a (bad) record of its own, so reading moves on.
            if end == Some(0) && out.is_empty() {
                end = Some(1);
            }
            match end {
                Some(e) => {
                    out.extend_from_slice(&buf[..e]);
                    self.reader.consume(e);
                    return Ok(out);
                }
                None => {
                    out.extend_from_slice(buf);
                    let n = buf.len();
                    self.reader.consume(n);
                }
            }
        }
    }

    /// After the array's closing bracket only whitespace may follow: a
    /// second array or anything else would be records left unread. Reading
    /// to the end also makes a gzip stream check its CRC and length.
    fn expect_end(&mut self) -> Result<()> {
        match self.skip_ws()? {
            None => Ok(()),
            Some(_) => Err(CoreError::file(
                &self.path,
                format!(
                    "line {}: more data after the JSON array; a .json file holds one array, \
                     or records one after another",
                    self.line
                ),
            )),
        }
    }

    fn next_line(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| io_err(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            let line = self.line;
            self.line += 1;
            if buf.iter().any(|b| !b.is_ascii_whitespace()) {
                return Ok(Some((line, buf)));
            }
        }
    }
}

impl RecordSource for JsonRecords {
    fn next_record(&mut self) -> Result<Option<(u64, Record)>> {
        if self.done {
            return Ok(None);
        }
        let found = match self.layout {
            Layout::Lines => self.next_line()?,
            Layout::Values => match self.skip_ws()? {
                None => None,
                Some(_) => {
                    let line = self.line;
                    Some((line, self.scan_value()?))
                }
            },
            Layout::Array => {
                // Between elements: whitespace and one comma.
                let mut next = self.skip_ws()?;
                if next == Some(b',') {
                    self.reader.consume(1);
                    next = self.skip_ws()?;
                }
                match next {
                    None => {
                        return Err(CoreError::file(
                            &self.path,
                            format!("line {}: the JSON array is not closed", self.line),
                        ))
                    }
                    Some(b']') => {
                        self.reader.consume(1);
                        self.expect_end()?;
                        None
                    }
                    Some(_) => {
                        let line = self.line;
                        Some((line, self.scan_value()?))
                    }
                }
            }
        };
        if found.is_none() {
            self.done = true;
        }
        Ok(found.map(|(l, b)| (l, Record::Text(b))))
    }
}

/// What the records of a chunk belong to: the file, for errors and for the
/// `_tf_file` column, and what a bad record does.
pub struct ChunkOf {
    path: String,
    key: String,
    on_bad_row: OnBadRow,
}

#[cfg(test)]
impl ChunkOf {
    pub fn for_tests(path: &str) -> ChunkOf {
        ChunkOf {
            path: path.to_string(),
            key: path.to_string(),
            on_bad_row: OnBadRow::Error,
        }
    }
}

/// Up to a batch of a file's records, read but not parsed: what a
/// normalizer worker turns into a [`RecordBatch`].
pub struct Chunk {
    records: Vec<(u64, Record)>,
    done: bool,
    of: Arc<ChunkOf>,
}

impl Chunk {
    pub fn new(records: Vec<(u64, Record)>, done: bool, of: Arc<ChunkOf>) -> Chunk {
        Chunk { records, done, of }
    }

    /// The file was read to its end with this chunk.
    pub fn done(&self) -> bool {
        self.done
    }
}

/// One record file, read a chunk at a time.
pub struct RecordFile {
    source: Box<dyn RecordSource>,
    of: Arc<ChunkOf>,
    pending: Option<(u64, Record)>,
    done: bool,
    pub encoding: &'static str,
}

#[derive(Debug)]
pub struct RecordBatch {
    pub tables: Vec<(String, DataFrame)>,
    pub quarantine: Option<DataFrame>,
    pub consumed: u64,
    pub done: bool,
}

struct Bad {
    line: u64,
    raw: String,
    reason: String,
}

impl RecordFile {
    pub fn new(
        source: Box<dyn RecordSource>,
        path: String,
        key: String,
        on_bad_row: OnBadRow,
        encoding: &'static str,
    ) -> Self {
        RecordFile {
            source,
            of: Arc::new(ChunkOf {
                path,
                key,
                on_bad_row,
            }),
            pending: None,
            done: false,
            encoding,
        }
    }

    fn next(&mut self) -> Result<Option<(u64, Record)>> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        if self.done {
            return Ok(None);
        }
        let r = self.source.next_record()?;
        self.done = r.is_none();
        Ok(r)
    }

    /// Passes over `n` records already committed by an earlier run.
    pub fn skip(&mut self, n: u64) -> Result<u64> {
        let mut skipped = 0;
        while skipped < n && self.next()?.is_some() {
            skipped += 1;
        }
        Ok(skipped)
    }

    /// The next `max` records (fewer at the end), not yet parsed. The
    /// chunk knows whether it ends the file: one record is read ahead.
    pub fn read_chunk(&mut self, max: usize) -> Result<Chunk> {
        let mut records = Vec::with_capacity(max.min(1 << 16));
        while records.len() < max {
            match self.next()? {
                Some(r) => records.push(r),
                None => break,
            }
        }
        if !self.done && self.pending.is_none() {
            match self.source.next_record()? {
                Some(r) => self.pending = Some(r),
                None => self.done = true,
            }
        }
        Ok(Chunk {
            records,
            done: self.done && self.pending.is_none(),
            of: self.of.clone(),
        })
    }
}

/// Parses and normalizes a chunk's records into one batch of tables: a bad
/// record fails the chunk, naming its line, or is held back as the file's
/// `on_bad_row` says.
pub fn normalize_chunk(chunk: Chunk, norm: &mut Normalizer) -> Result<RecordBatch> {
    let of = &chunk.of;
    let consumed = chunk.records.len() as u64;
    let mut bad: Vec<Bad> = Vec::new();
    for (line, record) in chunk.records {
        let outcome = match &record {
            Record::Text(bytes) => match Json::parse(bytes) {
                Ok(json) => norm.push_json(&json).map_err(|e| reason(&e)),
                Err(e) => Err(format!("not valid JSON ({e})")),
            },
            Record::Built(json) => norm.push_json(json).map_err(|e| reason(&e)),
        };
        if let Err(why) = outcome {
            if of.on_bad_row == OnBadRow::Error {
                return Err(CoreError::file(
                    &of.path,
                    format!("bad record at line {line}: {why} (on_bad_row=\"quarantine\" keeps such records aside)"),
                ));
            }
            let raw = match &record {
                Record::Text(b) => String::from_utf8_lossy(b).trim_end().to_string(),
                Record::Built(j) => j.to_string(),
            };
            bad.push(Bad {
                line,
                raw,
                reason: why,
            });
        }
    }
    let mut tables = if norm.pending() > 0 {
        norm.flush()?
    } else {
        Vec::new()
    };
    for (_, df) in &mut tables {
        let n = df.height();
        df.with_column(Series::new(FILE_COLUMN.into(), vec![of.key.as_str(); n]).into_column())?;
    }
    let quarantine = (!bad.is_empty())
        .then(|| quarantine_frame(&of.key, &bad))
        .transpose()?;
    Ok(RecordBatch {
        tables,
        quarantine,
        consumed,
        done: chunk.done,
    })
}

/// A normalizer error as a bad record's reason (without the table prefix).
fn reason(e: &CoreError) -> String {
    match e {
        CoreError::Schema { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn quarantine_frame(key: &str, bad: &[Bad]) -> Result<DataFrame> {
    let n = bad.len();
    let raw: Vec<&str> = bad.iter().map(|b| b.raw.as_str()).collect();
    let lines: Vec<i64> = bad.iter().map(|b| b.line as i64).collect();
    let reasons: Vec<&str> = bad.iter().map(|b| b.reason.as_str()).collect();
    let cols: Vec<Column> = vec![
        Series::new("_tf_raw".into(), raw).into(),
        Series::new(FILE_COLUMN.into(), vec![key; n]).into(),
        Series::new("_tf_line".into(), lines).into(),
        Series::new("_tf_reason".into(), reasons).into(),
    ];
    Ok(DataFrame::new(n, cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::text::Input;
    use std::path::Path;

    fn records(name: &str, text: &str, lines: bool) -> Vec<(u64, String)> {
        let dir = std::env::temp_dir().join(format!("tf-json-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let (mut r, _) = open_json(&Input::file(&p), lines, None).unwrap();
        let mut out = Vec::new();
        while let Some((line, Record::Text(b))) = r.next_record().unwrap() {
            out.push((line, String::from_utf8(b).unwrap().trim().to_string()));
        }
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn splits_arrays_lines_and_values() {
        let arr = records(
            "a.json",
            "[\n  {\"a\": \"x,]}\\\"\"},\n  {\"b\": [1, {\"c\": 2}]}\n, 3]",
            false,
        );
        assert_eq!(
            arr,
            vec![
                (2, r#"{"a": "x,]}\""}"#.to_string()),
                (3, r#"{"b": [1, {"c": 2}]}"#.to_string()),
                (4, "3".to_string())
            ]
        );
        let vals = records("v.json", "{\"a\": 1}\n\n{\n \"b\": 2\n}\n", false);
        assert_eq!(vals.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 3]);
        let lines = records("l.ndjson", "{\"a\": 1}\n\n{\"b\": \n", true);
        assert_eq!(
            lines,
            vec![(1, "{\"a\": 1}".to_string()), (3, "{\"b\":".to_string())]
        );
        assert!(records("e.json", "[]", false).is_empty());
        assert!(records("e2.json", "  ", false).is_empty());
    }

    #[test]
    fn a_stray_closing_bracket_or_comma_is_one_bad_record() {
        // Each used to be an empty record read again and again, forever.
        let vals = records("stray.json", "{\"a\": 1} } , {\"b\": 2}]", false);
        assert_eq!(
            vals.iter().map(|v| v.1.as_str()).collect::<Vec<_>>(),
            vec![r#"{"a": 1}"#, "}", ",", r#"{"b": 2}"#, "]"]
        );
        let arr = records("stray-arr.json", "[{\"a\": 1}, } ]", false);
        assert_eq!(
            arr.iter().map(|v| v.1.as_str()).collect::<Vec<_>>(),
            vec![r#"{"a": 1}"#, "}"]
        );
    }

    /// Every record of `path`, or the first error.
    fn read_all(path: &Path) -> Result<usize> {
        let (mut r, _) = open_json(&Input::file(path), false, None)?;
        let mut n = 0;
        while r.next_record()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn an_array_is_read_to_the_end_of_the_file() {
        use std::io::Write;

        let dir = std::env::temp_dir().join(format!("tf-json-end-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(read_all(&write("ws.json", b"[1, 2]\n \n")).unwrap(), 2);
        // A second array, or anything, after the first: records would be lost.
        for (name, text) in [("two.json", "[1, 2][3]"), ("junk.json", "[1, 2]\n  x")] {
            let e = read_all(&write(name, text.as_bytes()))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(name) && e.contains("after the JSON array"),
                "{e}"
            );
        }
        // A gzip stream's trailer (CRC and length) is checked, which it is
        // only once the stream is read to its end.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"[{\"id\": 1}, {\"id\": 2}]").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(read_all(&write("ok.json.gz", &gz)).unwrap(), 2);
        let cut = write("cut.json.gz", &gz[..gz.len() - 8]);
        let e = read_all(&cut).unwrap_err().to_string();
        assert!(e.contains("cut.json.gz"), "{e}");
        let mut bad_crc = gz.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 0xff;
        let e = read_all(&write("crc.json.gz", &bad_crc))
            .unwrap_err()
            .to_string();
        assert!(e.contains("crc.json.gz") && e.contains("checksum"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
