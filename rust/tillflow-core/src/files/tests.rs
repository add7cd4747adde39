use std::path::PathBuf;

use polars::prelude::*;
use serde_json::json;

use super::*;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("tf-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn glob(&self, pattern: &str) -> String {
        self.0.join(pattern).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(extra: serde_json::Value) -> FileOptions {
    FileOptions::from_json(&extra.to_string()).unwrap()
}

fn all(opts: FileOptions, state: Option<&str>) -> Result<Vec<FileBatch>> {
    let mut s = FileStream::open(opts, state)?;
    let mut out = Vec::new();
    while let Some(b) = s.next_batch()? {
        out.push(b);
    }
    Ok(out)
}

fn rows(batches: &[FileBatch], table: &str) -> usize {
    batches
        .iter()
        .flat_map(|b| b.tables.iter().chain(&b.quarantine))
        .filter(|(n, _)| n == table)
        .map(|(_, df)| df.height())
        .sum()
}

#[test]
fn csv_types_batches_and_resume() {
    let d = Dir::new("resume");
    let path = d.write(
        "orders.csv",
        "id,amount,day,note\n1,12.50,2024-01-02,\"two\nlines\"\n2,3,2024-01-03,x\n3,4.125,2024-01-04,y\n4,,2024-01-05,z\n5,1,2024-01-06,w\n",
    );
    let opts = options(json!({"name": "orders", "path": path, "batch_size": 2}));
    let batches = all(opts.clone(), None).unwrap();
    assert_eq!(batches.len(), 3);
    assert_eq!(rows(&batches, "orders"), 5);
    assert_eq!(batches[0].replaces, vec!["orders.csv"]);
    assert!(batches[1].replaces.is_empty());
    let first = &batches[0].tables[0].1;
    assert_eq!(first.column("id").unwrap().dtype(), &DataType::Int64);
    assert_eq!(
        first.column("amount").unwrap().dtype(),
        &DataType::Decimal(38, 2)
    );
    assert_eq!(first.column("day").unwrap().dtype(), &DataType::Date);
    assert_eq!(
        first.column("note").unwrap().str().unwrap().get(0),
        Some("two\nlines")
    );
    assert_eq!(
        first.column(FILE_COLUMN).unwrap().str().unwrap().get(0),
        Some("orders.csv")
    );
    // The committed decimal widens its scale for 4.125.
    let second = &batches[1].tables[0].1;
    assert_eq!(
        second.column("amount").unwrap().dtype(),
        &DataType::Decimal(38, 3)
    );
    // A crash after the first batch: the rerun resumes at row 3.
    let resumed = all(opts.clone(), Some(&batches[0].state)).unwrap();
    assert_eq!(rows(&resumed, "orders"), 3);
    assert!(resumed.iter().all(|b| b.replaces.is_empty()));
    let ids: Vec<i64> = resumed
        .iter()
        .flat_map(|b| {
            b.tables[0]
                .1
                .column("id")
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, vec![3, 4, 5]);
    // Nothing new after the last batch.
    let last = &batches[2].state;
    assert!(all(opts.clone(), Some(last)).unwrap().is_empty());
    // Touched, same bytes: a state-only batch, no rows.
    let again = std::fs::read(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, again).unwrap();
    let touched = all(opts.clone(), Some(last)).unwrap();
    assert_eq!(touched.len(), 1);
    assert_eq!(rows(&touched, "orders"), 0);
    // Changed: loads again from the start, replacing its earlier rows.
    d.write("orders.csv", "id,amount,day,note\n9,1.00,2024-02-01,new\n");
    let changed = all(opts, Some(&touched[0].state)).unwrap();
    assert_eq!(rows(&changed, "orders"), 1);
    assert_eq!(changed[0].replaces, vec!["orders.csv"]);
}

#[test]
fn bad_rows_error_or_quarantine() {
    let d = Dir::new("bad");
    let path = d.write("pay.csv", "id;amount\n1;10.00\n2;abc\n3;4;extra\n4;5.5\n");
    let e = all(
        options(json!({"name": "pay", "path": path, "columns": {"amount": "decimal(18,2)"}})),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("pay.csv")
            && e.contains("line 3")
            && e.contains("\"amount\"")
            && e.contains("\"abc\"")
            && e.contains("decimal(18,2)"),
        "{e}"
    );
    let batches = all(
        options(json!({"name": "pay", "path": path, "columns": {"amount": "decimal(18,2)"}, "on_bad_row": "quarantine"})),
        None,
    )
    .unwrap();
    assert_eq!(rows(&batches, "pay"), 2);
    assert_eq!(rows(&batches, "pay__quarantine"), 2);
    let q = &batches[0].quarantine[0].1;
    let lines: Vec<i64> = q
        .column("_tf_line")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(lines, vec![3, 4]);
    assert_eq!(
        q.column("_tf_extra").unwrap().str().unwrap().get(1),
        Some("extra")
    );
    let t = &batches[0].tables[0].1;
    assert_eq!(
        t.column("amount").unwrap().dtype(),
        &DataType::Decimal(18, 2)
    );
}

#[test]
fn committed_types_make_later_text_a_bad_row() {
    let d = Dir::new("committed");
    let path = d.write("n.csv", "n\n1\n2\n2.5\nabc\n");
    let e = all(
        options(json!({"name": "n", "path": path, "batch_size": 2})),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 5") && e.contains("\"abc\"") && e.contains("is not a"),
        "{e}"
    );
    // In one batch, the same values make a text column.
    let b = all(options(json!({"name": "n", "path": path})), None).unwrap();
    assert_eq!(
        b[0].tables[0].1.column("n").unwrap().dtype(),
        &DataType::String
    );
}

#[test]
fn ndjson_nested_records_become_child_tables() {
    let d = Dir::new("ndjson");
    let path = d.write(
        "o.ndjson",
        "{\"id\": 1, \"items\": [{\"sku\": \"a\"}, {\"sku\": \"b\"}]}\n\n{\"id\": 2, \"items\": []}\n",
    );
    let b = all(
        options(json!({"name": "o", "path": path, "primary_key": ["id"]})),
        None,
    )
    .unwrap();
    assert_eq!(rows(&b, "o"), 2);
    assert_eq!(rows(&b, "o__items"), 2);
    let items = &b[0].tables[1].1;
    assert_eq!(
        items.column(FILE_COLUMN).unwrap().str().unwrap().get(0),
        Some("o.ndjson")
    );
    let bad = d.write("bad.ndjson", "{\"id\": 1}\n{\"id\": \n[1]\n");
    let e = all(options(json!({"name": "o", "path": bad})), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.ndjson") && e.contains("line 2"), "{e}");
    let q = all(
        options(json!({"name": "o", "path": bad, "on_bad_row": "quarantine"})),
        None,
    )
    .unwrap();
    assert_eq!((rows(&q, "o"), rows(&q, "o__quarantine")), (1, 2));
}

#[test]
fn globs_key_files_by_their_place_under_the_base() {
    let d = Dir::new("glob");
    std::fs::create_dir_all(d.0.join("sub")).unwrap();
    d.write("orders-1.csv", "a\n1\n");
    d.write("sub/orders-2.csv", "a\n2\n");
    d.write("other.csv", "a\n3\n");
    let found = listing::list(&d.glob("**/orders-*.csv")).unwrap();
    let keys: Vec<&str> = found.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, vec!["orders-1.csv", "sub/orders-2.csv"]);
    assert!(listing::list(&d.glob("none-*.csv")).unwrap().is_empty());
    let e = listing::list(&d.glob("missing/*.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such directory"), "{e}");
    let e = listing::list(&d.glob("nope.csv")).unwrap_err().to_string();
    assert!(e.contains("nope.csv") && e.contains("no such file"), "{e}");
    let e = FileStream::open(
        options(json!({"name": "x", "path": d.write("x.dat", "")})),
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("x.dat") && e.contains("format"), "{e}");
}

#[test]
fn empty_and_header_only_files_load_nothing() {
    let d = Dir::new("empty");
    let empty = d.write("e.csv", "");
    let b = all(options(json!({"name": "e", "path": empty})), None).unwrap();
    assert_eq!(rows(&b, "e"), 0);
    assert_eq!(b.len(), 1, "one batch commits the file as done");
    let header = d.write("h.csv", "a,b\n");
    let b = all(options(json!({"name": "h", "path": header})), None).unwrap();
    assert_eq!(rows(&b, "h"), 0);
    assert!(b[0].state.contains("\"done\":true"));
}

#[test]
fn a_header_repeating_one_name_is_named_in_linear_time() {
    // 20,000 columns named `a` took minutes when every repeat tried
    // `a_2`, `a_3`, ... from the start.
    let d = Dir::new("repeats");
    let header = vec!["a"; 20_000].join(",");
    let row = vec!["1"; 20_000].join(",");
    let path = d.write("wide.csv", &format!("{header},A_2,a_3\n{row},1,1\n"));
    let started = std::time::Instant::now();
    let batches = all(options(json!({"name": "wide", "path": path})), None).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let df = &batches[0].tables[0].1;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(&names[..3], ["a", "a_2", "a_3"]);
    assert!(names.contains(&"a_20000".to_string()));
    // Written names keep theirs suffixed past the ones already taken.
    assert!(names.contains(&"A_2_2".to_string()) && names.contains(&"a_3_2".to_string()));
}

/// The file stream's warnings once every batch is read.
fn warnings_of(opts: FileOptions) -> Vec<String> {
    let mut s = FileStream::open(opts, None).unwrap();
    while s.next_batch().unwrap().is_some() {}
    s.warnings()
}

#[test]
fn a_text_column_mostly_one_null_marker_warns_over_every_batch_and_file() {
    let d = Dir::new("markers");
    let mut text = String::from("id,code,region,amount\n");
    for i in 0..30 {
        let code = if i < 20 { "None" } else { "SPRING" };
        let region = if i % 3 == 0 { "north" } else { "NA" };
        text.push_str(&format!("{i},{code},{region},\n"));
    }
    d.write("a.csv", &text);
    d.write("b.csv", "id,code,region,amount\n30,None,NA,1.5\n31,x,NA,\n");
    let glob = d.glob("*.csv");
    // Batches of 7 rows over two files: 21 of 32 codes are None.
    let opts = options(json!({"name": "orders", "path": glob, "batch_size": 7}));
    assert_eq!(
        warnings_of(opts),
        vec!["orders.code: 21 of 32 values (65%) are 'None', a common null marker; \
              pass null_values=['NA', 'N/A', 'n/a', '#N/A', 'NULL', 'null', 'None'] to read them as null"]
    );
    // With NA kept as text, the region column warns too; a marker read as null never does.
    let kept = options(json!({"name": "orders", "path": glob, "null_values": []}));
    let w = warnings_of(kept);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[1].starts_with("orders.region: 22 of 32 values (68%) are 'NA'"),
        "{w:?}"
    );
    assert!(
        w[1].ends_with("pass null_values=['NA'] to read them as null"),
        "{w:?}"
    );
    let read = options(json!({"name": "orders", "path": glob, "null_values": ["NA", "None"]}));
    assert!(warnings_of(read).is_empty());
    // A column pinned as text is the user's choice.
    let pinned = options(json!({"name": "orders", "path": glob, "columns": {"code": "text"}}));
    assert!(warnings_of(pinned).is_empty());
}

#[test]
fn a_few_rows_of_markers_do_not_warn() {
    let d = Dir::new("few-markers");
    let path = d.write("s.csv", "id,note\n1,None\n2,None\n3,ok\n");
    assert!(warnings_of(options(json!({"name": "s", "path": path}))).is_empty());
}

/// Every batch of a stream read ahead, with the error that ended it, if any.
fn read_ahead(opts: FileOptions) -> (Vec<FileBatch>, Option<String>) {
    let mut s = read_ahead::ReadAhead::start(FileStream::open(opts, None).unwrap(), 1).unwrap();
    let mut out = Vec::new();
    loop {
        match s.next_batch() {
            Ok(Some(b)) => out.push(b),
            Ok(None) => return (out, None),
            Err(e) => {
                // After its end, a read-ahead stream stays ended.
                assert!(matches!(s.next_batch(), Ok(None)));
                return (out, Some(e.to_string()));
            }
        }
    }
}

#[test]
fn read_ahead_hands_out_the_same_batches_and_states_in_order() {
    let d = Dir::new("ahead");
    for f in 0..4 {
        let lines: String = (0..25)
            .map(|i| format!("{{\"id\": {}, \"items\": [{{\"n\": {i}}}]}}\n", f * 100 + i))
            .collect();
        d.write(&format!("part{f}.ndjson"), &lines);
    }
    let opts = || {
        options(
            json!({"name": "o", "path": d.glob("*.ndjson"), "primary_key": ["id"], "batch_size": 10}),
        )
    };
    let direct = all(opts(), None).unwrap();
    let (ahead, error) = read_ahead(opts());
    assert_eq!(error, None);
    let shape = |bs: &[FileBatch]| -> Vec<(usize, String, Option<String>)> {
        bs.iter()
            .map(|b| (b.records, b.state.clone(), b.file.clone()))
            .collect()
    };
    assert_eq!(shape(&ahead), shape(&direct));
    assert_eq!((rows(&ahead, "o"), rows(&ahead, "o__items")), (100, 100));
}

#[test]
fn read_ahead_reports_an_error_after_the_batches_before_it() {
    let d = Dir::new("ahead-bad");
    d.write("a.csv", "id;amount\n1;10.00\n2;3.50\n");
    d.write("b.csv", "id;amount\n3;abc\n");
    let opts = options(
        json!({"name": "pay", "path": d.glob("*.csv"), "columns": {"amount": "decimal(18,2)"}}),
    );
    let (batches, error) = read_ahead(opts);
    assert_eq!(rows(&batches, "pay"), 2);
    let e = error.expect("b.csv's bad row");
    assert!(e.contains("b.csv") && e.contains("\"abc\""), "{e}");
}

#[test]
fn a_record_file_normalized_on_several_workers_keeps_its_order_and_states() {
    let d = Dir::new("workers");
    // Records of uneven size so workers finish out of turn; a field that
    // first appears late, and a type that widens, in a later batch.
    let mut text = String::new();
    for i in 0..1000 {
        let items: Vec<String> = (0..(i % 9)).map(|n| format!("{{\"n\": {n}}}")).collect();
        let extra = if i == 777 { ", \"late\": \"x\"" } else { "" };
        let amount = if i == 901 {
            "\"12.5\"".to_string()
        } else {
            i.to_string()
        };
        text.push_str(&format!(
            "{{\"id\": {i}, \"amount\": {amount}, \"items\": [{}]{extra}}}\n",
            items.join(", ")
        ));
    }
    d.write("big.ndjson", &text);
    let opts = options(
        json!({"name": "o", "path": d.glob("*.ndjson"), "primary_key": ["id"], "batch_size": 37}),
    );
    let batches = all(opts, None).unwrap();
    assert_eq!(batches.len(), 1000usize.div_ceil(37));
    let items: usize = (0..1000).map(|i| i % 9).sum();
    assert_eq!(
        (rows(&batches, "o"), rows(&batches, "o__items")),
        (1000, items)
    );
    // Ids in file order, batch after batch; each state counts the rows so far.
    let mut ids = Vec::new();
    let mut so_far = 0;
    for (i, b) in batches.iter().enumerate() {
        let root = &b.tables[0];
        assert_eq!(root.0, "o");
        ids.extend(
            root.1
                .column("id")
                .unwrap()
                .cast(&DataType::Int64)
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter(),
        );
        so_far += b.records;
        let state: serde_json::Value = serde_json::from_str(&b.state).unwrap();
        let entry = state["files"].as_object().unwrap().values().next().unwrap();
        assert_eq!(entry["rows"], json!(so_far), "batch {i}");
        assert_eq!(entry["done"], json!(i == batches.len() - 1), "batch {i}");
    }
    assert_eq!(ids, (0..1000).collect::<Vec<i64>>());
    // The first batch's columns come in the file's order.
    let first: Vec<&str> = batches[0].tables[0]
        .1
        .get_column_names()
        .into_iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(&first[..2], ["id", "amount"]);
    let last = &batches.last().unwrap().tables[0].1;
    assert!(last.column("late").is_ok());
}

#[test]
fn a_record_file_failing_part_way_hands_out_the_batches_before_the_failure() {
    use std::io::Write;

    let d = Dir::new("workers-cut");
    // Big enough that the cut is met long after the first batches are read.
    let text: String = (0..200_000)
        .map(|i| format!("{{\"id\": {i}, \"note\": \"{}\"}}\n", i * 7919))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    // The trailer cut off: the stream reads every record, then fails.
    std::fs::write(d.0.join("cut.ndjson.gz"), &gz[..gz.len() - 8]).unwrap();
    let opts = options(
        json!({"name": "o", "path": d.glob("*.gz"), "primary_key": ["id"], "batch_size": 5000}),
    );
    let mut s = FileStream::open(opts, None).unwrap();
    let mut loaded = 0;
    let error = loop {
        match s.next_batch() {
            Ok(Some(b)) => loaded += b.records,
            Ok(None) => panic!("the cut file ended cleanly"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(error.contains("cut.ndjson.gz"), "{error}");
    // Whole batches before the failure were handed out; none after it.
    assert_eq!(loaded % 5000, 0);
    assert!(loaded >= 150_000, "{loaded}");
}

#[test]
fn a_first_load_takes_the_content_hash_while_reading() {
    let d = Dir::new("hash-read");
    let text: String = (0..500).map(|i| format!("{{\"id\": {i}}}\n")).collect();
    let path = d.write("a.ndjson", &text);
    let opts = || {
        options(
            json!({"name": "o", "path": d.glob("*.ndjson"), "primary_key": ["id"], "batch_size": 100}),
        )
    };
    let entry = |state: &str| {
        serde_json::from_str::<serde_json::Value>(state).unwrap()["files"]["a.ndjson"].clone()
    };
    let hash = json!(listing::content_hash(std::path::Path::new(&path)).unwrap());
    let batches = all(opts(), None).unwrap();
    // Until the file is read to its end its hash is unknown; then it is the
    // hash of the bytes on disk.
    assert_eq!(entry(&batches[0].state)["hash"], json!(""));
    let last = batches.last().unwrap();
    assert_eq!(entry(&last.state)["hash"], hash);
    // An interrupted first load resumes after its rows (the stat is the
    // same), and still ends with the whole file's hash.
    let resumed = all(opts(), Some(&batches[1].state)).unwrap();
    assert_eq!(resumed.iter().map(|b| b.records).sum::<usize>(), 300);
    assert_eq!(entry(&resumed.last().unwrap().state)["hash"], hash);
    // Touched, not changed: a loaded file has nothing to load...
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let again = all(opts(), Some(&last.state)).unwrap();
    assert_eq!(again.iter().map(|b| b.records).sum::<usize>(), 0);
    // ...while an interrupted first load, whose hash was never taken, loads
    // again from the start and replaces what it had loaded.
    let fresh = all(opts(), Some(&batches[1].state)).unwrap();
    assert_eq!(fresh.iter().map(|b| b.records).sum::<usize>(), 500);
    assert_eq!(fresh[0].replaces, vec!["a.ndjson".to_string()]);
}
