use std::io::Write;
use std::path::PathBuf;

use polars::prelude::*;

use super::*;

fn temp_file(name: &str, text: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tf-singer-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text)
        .unwrap();
    path
}

fn from_output(text: &str, batch_size: usize) -> SingerStream {
    let path = temp_file("out.jsonl", text.as_bytes());
    let opts = SingerOptions::from_json(&format!(
        r#"{{"name": "tap-test", "input": {:?}, "batch_size": {batch_size}}}"#,
        path.display().to_string()
    ))
    .unwrap();
    SingerStream::open(opts).unwrap()
}

fn from_script(script: &str) -> SingerStream {
    let opts = SingerOptions {
        name: "tap-test".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        input: None,
        cwd: None,
        streams: None,
        table_prefix: String::new(),
        batch_size: 100_000,
        max_pending: 1_000_000,
        on_bad_line: OnBadLine::Error,
        stderr_lines: 3,
        normalize: NormalizeOptions::default(),
    };
    SingerStream::open(opts).unwrap()
}

fn drain(s: &mut SingerStream) -> (Vec<SingerBatch>, Option<CoreError>) {
    let mut out = Vec::new();
    loop {
        match s.next_batch() {
            Ok(Some(b)) => out.push(b),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

const SCHEMA: &str = r#"{"type": "SCHEMA", "stream": "orders", "key_properties": ["id"], "schema": {"type": "object", "properties": {"id": {"type": "integer"}, "zip": {"type": ["null", "string"]}, "total": {"type": "number", "multipleOf": 0.01}, "at": {"type": "string", "format": "date-time"}, "note": {"type": ["null", "string"]}, "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}}}}}"#;

fn record(id: i64) -> String {
    format!(
        r#"{{"type": "RECORD", "stream": "orders", "record": {{"id": {id}, "zip": "0213{id}", "total": 12.5, "at": "2024-01-0{}T10:00:00Z", "lines": [{{"sku": "A"}}]}}}}"#,
        id % 9 + 1
    )
}

#[test]
fn columns_take_the_schema_types_and_the_state_comes_with_its_rows() {
    let text = [
        SCHEMA.to_string(),
        record(1),
        record(2),
        r#"{"type": "STATE", "value": {"bookmarks": {"orders": {"id": 2}}}}"#.into(),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let (batches, err) = drain(&mut s);
    assert!(err.is_none());
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(
        b.state.as_deref(),
        Some(r#"{"bookmarks":{"orders":{"id":2}}}"#)
    );
    assert_eq!(b.parts.len(), 1);
    let part = &b.parts[0];
    assert_eq!(part.key_properties, vec!["id".to_string()]);
    assert_eq!(part.records, 2);
    let (name, orders) = &part.tables[0];
    assert_eq!(name, "orders");
    assert_eq!(orders.column("id").unwrap().dtype(), &DataType::Int64);
    // Declared a string: a zip code stays text, never an amount.
    assert_eq!(orders.column("zip").unwrap().dtype(), &DataType::String);
    assert_eq!(
        orders.column("total").unwrap().dtype(),
        &DataType::Decimal(38, 2)
    );
    assert!(matches!(
        orders.column("at").unwrap().dtype(),
        DataType::Datetime(_, _)
    ));
    // Declared, never sent: the column is there, all null.
    assert_eq!(orders.column("note").unwrap().null_count(), 2);
    assert_eq!(part.tables[1].0, "orders__lines");
    assert_eq!(part.tables[1].1.height(), 2);
}

#[test]
fn a_batch_ends_at_the_first_state_after_batch_size() {
    let mut lines = vec![SCHEMA.to_string()];
    for i in 1..=5 {
        lines.push(record(i));
        lines.push(format!(r#"{{"type": "STATE", "value": {{"n": {i}}}}}"#));
    }
    let mut s = from_output(&lines.join("\n"), 2);
    let (batches, err) = drain(&mut s);
    assert!(err.is_none());
    let shape: Vec<(usize, Option<String>)> = batches
        .iter()
        .map(|b| (b.parts.iter().map(|p| p.records).sum(), b.state.clone()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (2, Some(r#"{"n":2}"#.into())),
            (2, Some(r#"{"n":4}"#.into())),
            (1, Some(r#"{"n":5}"#.into())),
        ]
    );
}

#[test]
fn a_record_before_its_schema_stops_after_the_rows_of_the_last_state() {
    let text = [
        SCHEMA.to_string(),
        record(1),
        r#"{"type": "STATE", "value": {"n": 1}}"#.into(),
        record(2),
        r#"{"type": "RECORD", "stream": "refunds", "record": {"id": 1}}"#.into(),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let (batches, err) = drain(&mut s);
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0].parts[0].records, 1,
        "record 2 came after the last STATE"
    );
    assert_eq!(batches[0].state.as_deref(), Some(r#"{"n":1}"#));
    let msg = err.unwrap().to_string();
    assert!(msg.contains("tap-test") && msg.contains("line 5"), "{msg}");
    assert!(msg.contains("\"refunds\" came before its SCHEMA"), "{msg}");
}

#[test]
fn malformed_lines_are_named_or_skipped() {
    let text = [SCHEMA.to_string(), "INFO starting".into(), record(1)].join("\n");
    let mut s = from_output(&text, 100);
    let msg = drain(&mut s).1.unwrap().to_string();
    assert!(
        msg.contains("line 2") && msg.contains("INFO starting"),
        "{msg}"
    );

    let path = temp_file("out.jsonl", text.as_bytes());
    let opts = SingerOptions::from_json(&format!(
        r#"{{"name": "t", "input": {:?}, "on_bad_line": "skip"}}"#,
        path.display().to_string()
    ))
    .unwrap();
    let mut s = SingerStream::open(opts).unwrap();
    let (batches, err) = drain(&mut s);
    assert!(err.is_none());
    assert_eq!(batches[0].parts[0].records, 1);
    assert_eq!(s.skipped_lines, 1);
}

#[test]
fn a_state_that_is_not_json_is_refused_by_line() {
    let text = [
        SCHEMA.to_string(),
        record(1),
        r#"{"type": "STATE", "value": {"n": "#.into(),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let (batches, err) = drain(&mut s);
    assert!(batches.is_empty(), "no STATE came: nothing is vouched for");
    let msg = err.unwrap().to_string();
    assert!(msg.contains("line 3") && msg.contains("not JSON"), "{msg}");
}

#[test]
fn a_ten_megabyte_line_loads() {
    let big = "x".repeat(10 << 20);
    let text = [
        SCHEMA.to_string(),
        format!(
            r#"{{"type": "RECORD", "stream": "orders", "record": {{"id": 1, "note": "{big}"}}}}"#
        ),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let (batches, err) = drain(&mut s);
    assert!(err.is_none());
    let orders = &batches[0].parts[0].tables[0].1;
    assert_eq!(
        orders
            .column("note")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .len(),
        10 << 20
    );
}

#[test]
fn a_failing_tap_keeps_what_its_last_state_covers_and_says_what_it_wrote() {
    let script = format!(
        "echo '{SCHEMA}'; echo '{}'; echo '{{\"type\": \"STATE\", \"value\": {{\"n\": 1}}}}'; echo '{}'; \
         echo 'connecting' >&2; echo 'boom: password authentication failed' >&2; exit 3",
        record(1),
        record(2)
    );
    let mut s = from_script(&script);
    let (batches, err) = drain(&mut s);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].parts[0].records, 1);
    let msg = err.unwrap().to_string();
    assert!(msg.contains("exited with status 3"), "{msg}");
    assert!(
        msg.contains("boom: password authentication failed"),
        "{msg}"
    );
}

#[test]
fn a_tap_that_cannot_start_is_named() {
    let opts = SingerOptions {
        name: "tap-missing".into(),
        command: vec!["/nonexistent/tap-missing".into()],
        ..from_script("true").opts.clone()
    };
    let msg = SingerStream::open(opts).err().unwrap().to_string();
    assert!(msg.starts_with("tap-missing: cannot start"), "{msg}");
}

#[test]
fn batch_messages_read_their_jsonl_files() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"id\": 7, \"zip\": \"00501\"}\n{\"id\": 8}\n")
        .unwrap();
    let file = temp_file("orders-0001.json.gz", &gz.finish().unwrap());
    let url = url::Url::from_file_path(&file).unwrap();
    let text = [
        SCHEMA.to_string(),
        format!(r#"{{"type": "BATCH", "stream": "orders", "encoding": {{"format": "jsonl", "compression": "gzip"}}, "manifest": ["{url}"]}}"#),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let (batches, err) = drain(&mut s);
    assert!(err.is_none(), "{err:?}");
    let orders = &batches[0].parts[0].tables[0].1;
    assert_eq!(orders.height(), 2);
    assert_eq!(
        orders.column("zip").unwrap().str().unwrap().get(0),
        Some("00501")
    );
}

#[test]
fn streams_not_asked_for_are_left_out() {
    let text = [
        SCHEMA.to_string(),
        r#"{"type": "SCHEMA", "stream": "refunds", "key_properties": [], "schema": {"type": "object", "properties": {}}}"#.into(),
        r#"{"type": "RECORD", "stream": "refunds", "record": {"id": 1}}"#.into(),
        record(1),
    ]
    .join("\n");
    let path = temp_file("out.jsonl", text.as_bytes());
    let opts = SingerOptions::from_json(&format!(
        r#"{{"name": "t", "input": {:?}, "streams": ["orders"]}}"#,
        path.display().to_string()
    ))
    .unwrap();
    let mut s = SingerStream::open(opts).unwrap();
    let (batches, err) = drain(&mut s);
    assert!(err.is_none());
    let names: Vec<&str> = batches[0].parts.iter().map(|p| p.stream.as_str()).collect();
    assert_eq!(names, vec!["orders"]);
}

#[test]
fn batch_messages_read_their_parquet_files() {
    let mut df = df!("id" => [21i64, 22], "zip" => ["00501", "02134"]).unwrap();
    let file = temp_file("orders-0002.parquet", b"");
    ParquetWriter::new(std::fs::File::create(&file).unwrap())
        .finish(&mut df)
        .unwrap();
    let text = [
        SCHEMA.to_string(),
        format!(
            r#"{{"type": "BATCH", "stream": "orders", "encoding": {{"format": "parquet"}}, "manifest": [{:?}]}}"#,
            file.display().to_string()
        ),
        r#"{"type": "STATE", "value": {"n": 22}}"#.into(),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let (batches, err) = drain(&mut s);
    assert!(err.is_none(), "{err:?}");
    let orders = &batches[0].parts[0].tables[0].1;
    assert_eq!(orders.height(), 2);
    assert_eq!(
        orders.column("zip").unwrap().str().unwrap().get(1),
        Some("02134")
    );
    assert_eq!(batches[0].state.as_deref(), Some(r#"{"n":22}"#));
}

#[test]
fn a_batch_file_elsewhere_than_local_disk_is_refused() {
    let text = [
        SCHEMA.to_string(),
        r#"{"type": "BATCH", "stream": "orders", "encoding": {"format": "jsonl"}, "manifest": ["s3://bucket/x.json.gz"]}"#.into(),
    ]
    .join("\n");
    let mut s = from_output(&text, 100);
    let msg = drain(&mut s).1.unwrap().to_string();
    assert!(msg.contains("only local files"), "{msg}");
}
