//! File readers, through the same entry a file resource uses
//! (`FileStream`): the input is written to a scratch file and read to its
//! end with options picked from the input's digest, so a saved input
//! replays exactly.

use std::io::Write;

use fastrand::Rng;
use tillflow_core::files::text::{
    encoding_for_label, excel_sep_line, open_text, sniff_delimiter, Input,
};
use tillflow_core::files::{FileOptions, FileStream};

use super::{choose, scratch, split_parts};
use crate::engine::Target;
use crate::gen;

/// Batches read per input at most (a 2-row batch size makes many).
const MAX_BATCHES: usize = 10_000;

fn gzip(data: &[u8], cut: bool) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(data);
    let mut out = enc.finish().unwrap_or_default();
    if cut && out.len() > 12 {
        out.truncate(out.len() / 2 + 5);
    }
    out
}

/// Reads every batch of `path` as a file resource described by `opts`.
fn read_all(opts: serde_json::Value) {
    let Ok(opts) = FileOptions::from_json(&opts.to_string()) else {
        return;
    };
    let Ok(mut stream) = FileStream::open(opts, None) else {
        return;
    };
    for _ in 0..MAX_BATCHES {
        match stream.next_batch() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

// ---------------------------------------------------------------- CSV

fn csv_run(data: &[u8]) {
    let mut c = choose(data);
    let ext = c.of(&[".csv", ".csv", ".tsv", ".txt", ".csv.gz"]);
    let body = if ext.ends_with(".gz") && !data.starts_with(&[0x1f, 0x8b]) {
        gzip(data, c.one_in(4))
    } else {
        data.to_vec()
    };
    let path = scratch("csv", ext);
    if std::fs::write(&path, &body).is_err() {
        return;
    }
    let mut opts = serde_json::json!({
        "name": c.of(&["orders", "a__b", "Orders 2024"]),
        "path": path.display().to_string(),
        "batch_size": c.of(&[2, 7, 50_000]),
        "header": !c.one_in(5),
        "skip_rows": c.of(&[0, 0, 0, 1, 3]),
        "on_bad_row": c.of(&["error", "quarantine"]),
    });
    if c.one_in(3) {
        opts["delimiter"] = c.of(&[",", ";", "\\t", "|", " ", "x"]).into();
    }
    if c.one_in(4) {
        opts["encoding"] = c
            .of(&[
                "utf-8",
                "windows-1252",
                "utf-16le",
                "utf-16be",
                "shift_jis",
                "latin-1",
            ])
            .into();
    }
    if c.one_in(4) {
        opts["decimal"] = ",".into();
    }
    if c.one_in(4) {
        opts["null_values"] = serde_json::json!(["NA", "-", "null"]);
    }
    if c.one_in(3) {
        opts["columns"] = serde_json::json!({
            c.of(&["id", "amount", "a"]): c.of(&["int", "decimal(18,2)", "decimal(38,38)", "date", "timestamp", "bool", "double", "text"]),
            c.of(&["created_at", "b", "name"]): c.of(&["timestamp", "date", "decimal(5,0)"]),
        });
    }
    if c.one_in(3) {
        opts["primary_key"] = serde_json::json!(["id"]);
    }
    if c.one_in(4) {
        opts["normalize"] = serde_json::json!({
            "numeric_strings": c.of(&["decimal", "float", "string"]),
            "parse_timestamps": c.one_in(2),
        });
    }
    read_all(opts);
}

fn csv_generate(rng: &mut Rng) -> Vec<u8> {
    let delim = gen::pick(rng, &[",", ";", "\t", "|"]);
    let eol = gen::pick(rng, &["\n", "\r\n", "\r"]);
    let cols = 1 + rng.usize(..6);
    let mut out = String::new();
    match rng.u8(..8) {
        0 => out.push('\u{feff}'),
        1 => out.push_str(&format!("sep={delim}{eol}")),
        _ => {}
    }
    let quote = |rng: &mut Rng, s: String| -> String {
        if rng.u8(..4) == 0 || s.contains(delim) || s.contains('"') || s.contains('\n') {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let header: Vec<String> = (0..cols)
        .map(|_| {
            let k = gen::key(rng);
            quote(rng, k)
        })
        .collect();
    out.push_str(&header.join(delim));
    out.push_str(eol);
    for _ in 0..rng.usize(..8) {
        // Rows a cell short or long sometimes, as hand-edited exports are.
        let width = match rng.u8(..8) {
            0 => cols.saturating_sub(1),
            1 => cols + 1,
            _ => cols,
        };
        let row: Vec<String> = (0..width)
            .map(|_| {
                let v = gen::cell(rng);
                quote(rng, v)
            })
            .collect();
        out.push_str(&row.join(delim));
        out.push_str(eol);
    }
    if rng.u8(..6) == 0 {
        out.push_str("\"unterminated");
    }
    encode(rng, &out)
}

/// Text in the encodings exports come in.
fn encode(rng: &mut Rng, text: &str) -> Vec<u8> {
    match rng.u8(..10) {
        0 => encoding_rs::WINDOWS_1252.encode(text).0.into_owned(),
        1 => {
            let mut v = vec![0xFF, 0xFE];
            v.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
            v
        }
        2 => {
            let mut v = vec![0xFE, 0xFF];
            v.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
            v
        }
        3 => text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        4 => encoding_rs::SHIFT_JIS.encode(text).0.into_owned(),
        5 => gzip(text.as_bytes(), rng.u8(..3) == 0),
        _ => text.as_bytes().to_vec(),
    }
}

pub static CSV: Target = Target {
    name: "csv",
    about: "CSV files: encodings, delimiters, quotes, headers, pinned types, gzip",
    run: csv_run,
    generate: csv_generate,
    dict: &[
        b",",
        b";",
        b"\t",
        b"|",
        b"\"",
        b"\"\"",
        b"sep=;",
        b"\r\n",
        b"\n\n",
        b"a,b,c\n",
        b"1,2,3\n",
        b"\"a\nb\"",
    ],
    max_len: 64 * 1024,
};

// ---------------------------------------------------------------- text

fn text_run(data: &[u8]) {
    let mut c = choose(data);
    let path = scratch("text", ".txt");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let label = c.of(&[
        "",
        "",
        "utf-8",
        "utf8",
        "utf-16",
        "utf-16be",
        "windows-1252",
        "latin1",
        "gb18030",
        "iso-2022-jp",
        "x-user-defined",
        "bogus",
    ]);
    let encoding = if label.is_empty() {
        None
    } else {
        encoding_for_label(label).ok()
    };
    // The label itself is outside input too (a user's option).
    let _ = encoding_for_label(&String::from_utf8_lossy(&data[..data.len().min(24)]));
    let Ok(mut text) = open_text(&Input::file(&path), encoding) else {
        return;
    };
    let _ = sniff_delimiter(&text.sample);
    let _ = excel_sep_line(&text.sample);
    // Read as the CSV and JSON readers read: through the 256 KiB buffer.
    // (encoding_rs_io drops a final replacement character when a caller
    // reads with fewer than four bytes of room at the end; the readers
    // never do.)
    let mut rest = Vec::new();
    while let Ok(buf) = text.reader.fill_buf() {
        if buf.is_empty() {
            break;
        }
        rest.extend_from_slice(buf);
        let n = buf.len();
        text.reader.consume(n);
    }
    if text.raw_utf8 {
        // A UTF-8 file's sample is its start, decoded lossily.
        let _ = String::from_utf8_lossy(&rest);
    } else if !rest.is_empty() {
        assert!(
            std::str::from_utf8(&rest).is_ok(),
            "a decoded {} file gave bytes that are not UTF-8: {rest:?}",
            text.encoding
        );
    }
}

fn text_generate(rng: &mut Rng) -> Vec<u8> {
    let mut s = String::new();
    for _ in 0..rng.usize(..6) {
        s.push_str(&gen::cell(rng));
        s.push_str(gen::pick(rng, &[",", ";", "\t", "\n", "\r\n", "|"]));
    }
    if rng.u8(..8) == 0 {
        // Past the 64 KiB sample, where a multi-byte character may be cut.
        let filler = "é,".repeat(33_000);
        s.insert_str(0, &filler);
    }
    encode(rng, &s)
}

pub static TEXT: Target = Target {
    name: "text",
    about: "text decoding: gzip magic, BOMs, UTF-8 checks, code-page guessing, delimiter sniffing",
    run: text_run,
    generate: text_generate,
    dict: &[
        b"\x1f\x8b",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
        b"sep=,",
        b"\xe9",
        b"\x80",
        b"\x81\x40",
    ],
    max_len: 160 * 1024,
};

// ---------------------------------------------------------------- records

fn records_run(data: &[u8]) {
    let mut c = choose(data);
    let ext = c.of(&[
        ".ndjson",
        ".jsonl",
        ".json",
        ".json",
        ".ndjson.gz",
        ".json.gz",
    ]);
    let body = if ext.ends_with(".gz") && !data.starts_with(&[0x1f, 0x8b]) {
        gzip(data, c.one_in(4))
    } else {
        data.to_vec()
    };
    let path = scratch("records", ext);
    if std::fs::write(&path, &body).is_err() {
        return;
    }
    let mut opts = serde_json::json!({
        "name": c.of(&["events", "a__b"]),
        "path": path.display().to_string(),
        "batch_size": c.of(&[1, 3, 50_000]),
        "on_bad_row": c.of(&["error", "quarantine", "quarantine"]),
        "normalize": {
            "max_depth": c.of(&[1, 2, 10, 200]),
            "numeric_strings": c.of(&["decimal", "float", "string"]),
            "parse_timestamps": c.one_in(2),
        },
    });
    if c.one_in(3) {
        opts["primary_key"] = serde_json::json!(c.of(&[&["id"][..], &["id", "customer.id"]]));
    }
    if c.one_in(6) {
        opts["encoding"] = c.of(&["utf-16le", "windows-1252"]).into();
    }
    read_all(opts);
}

fn records_generate(rng: &mut Rng) -> Vec<u8> {
    let n = rng.usize(..6);
    let mut out = String::new();
    match rng.u8(..3) {
        0 => {
            for _ in 0..n {
                gen::record(rng, &mut out);
                out.push_str(gen::pick(rng, &["\n", "\r\n", "\n\n"]));
            }
        }
        1 => {
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push_str(",\n  ");
                }
                gen::record(rng, &mut out);
            }
            out.push(']');
        }
        _ => {
            for _ in 0..n {
                gen::record(rng, &mut out);
                out.push_str(gen::pick(rng, &["", " ", "\n"]));
            }
        }
    }
    if rng.u8(..6) == 0 {
        // Cut short, as a file still being written is.
        let cut = rng.usize(..=out.len());
        if out.is_char_boundary(cut) {
            out.truncate(cut);
        }
    }
    encode(rng, &out)
}

pub static RECORDS: Target = Target {
    name: "records",
    about: "NDJSON / JSON record files (plain and gzip) through the normalizer",
    run: records_run,
    generate: records_generate,
    dict: &[
        b"[",
        b"]",
        b"{",
        b"}",
        b",",
        b"\n",
        b"{\"id\":1}",
        b"[{\"id\":1},{\"id\":2}]",
        b"\"\\\"",
        b"null",
    ],
    max_len: 64 * 1024,
};

// ---------------------------------------------------------------- xlsx

const NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

fn content_types() -> String {
    let ct = "application/vnd.openxmlformats-officedocument.spreadsheetml";
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/><Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/></Types>"#
    )
}

fn default_workbook() -> String {
    format!(
        r#"<workbook xmlns="{NS}" xmlns:r="{REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#
    )
}

/// An .xlsx container around the parts an input holds (sheet, shared
/// strings, styles, workbook; separated by 0x1E). An input that is already
/// a zip file is written as it is.
pub fn workbook(data: &[u8]) -> Vec<u8> {
    if data.starts_with(b"PK") {
        return data.to_vec();
    }
    let parts = split_parts(data, 4);
    let part = |i: usize| parts.get(i).copied().unwrap_or(&[]);
    let workbook = if part(3).is_empty() {
        default_workbook().into_bytes()
    } else {
        part(3).to_vec()
    };
    let rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="{REL}/styles" Target="styles.xml"/></Relationships>"#
    );
    let root = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    );
    let types = content_types();
    let files: [(&str, &[u8]); 7] = [
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", root.as_bytes()),
        ("xl/workbook.xml", &workbook),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", part(0)),
        ("xl/sharedStrings.xml", part(1)),
        ("xl/styles.xml", part(2)),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        let optional = name.ends_with("sharedStrings.xml") || name.ends_with("styles.xml");
        if optional && bytes.is_empty() {
            continue;
        }
        if zip.start_file(name, stored).is_err() || zip.write_all(bytes).is_err() {
            return Vec::new();
        }
    }
    zip.finish().map(|c| c.into_inner()).unwrap_or_default()
}

fn xlsx_run(data: &[u8]) {
    let mut c = choose(data);
    let book = workbook(data);
    let path = scratch("xlsx", ".xlsx");
    if std::fs::write(&path, &book).is_err() {
        return;
    }
    let mut opts = serde_json::json!({
        "name": "sheet",
        "path": path.display().to_string(),
        "batch_size": c.of(&[2, 50_000]),
        "header": !c.one_in(5),
        "skip_rows": c.of(&[0, 0, 1, 2]),
        "on_bad_row": c.of(&["error", "quarantine"]),
    });
    if c.one_in(4) {
        opts["sheet"] = c.of(&[
            serde_json::json!(0),
            serde_json::json!(1),
            serde_json::json!("Sheet1"),
            serde_json::json!("x"),
        ]);
    }
    if c.one_in(3) {
        opts["columns"] = serde_json::json!({c.of(&["id", "amount", "when"]): c.of(&["int", "decimal(18,2)", "date", "timestamp", "bool"])});
    }
    if c.one_in(4) {
        opts["decimal"] = ",".into();
    }
    read_all(opts);
}

fn cell_ref(rng: &mut Rng, row: usize, col: usize) -> String {
    let letters = |mut c: usize| {
        let mut s = Vec::new();
        loop {
            s.push(b'A' + (c % 26) as u8);
            if c < 26 {
                break;
            }
            c = c / 26 - 1;
        }
        s.reverse();
        String::from_utf8(s).unwrap_or_default()
    };
    match rng.u8(..24) {
        0 => String::new(),
        1 => gen::pick(
            rng,
            &[
                "XFD1048576",
                "ZZZZZZ1",
                "A0",
                "A99999999999",
                "a1",
                "1A",
                "AAAAAAAAAAAAAAAA9",
                "$A$1",
            ],
        )
        .to_string(),
        _ => format!("{}{}", letters(col), row),
    }
}

fn xlsx_generate(rng: &mut Rng) -> Vec<u8> {
    let strings: Vec<String> = (0..rng.usize(..5))
        .map(|_| gen::cell(rng).replace('&', "&amp;").replace('<', "&lt;"))
        .collect();
    let mut sheet = format!(r#"<worksheet xmlns="{NS}"><sheetData>"#);
    let rows = rng.usize(..7);
    let cols = 1 + rng.usize(..5);
    for r in 1..=rows {
        let rn = if rng.u8(..16) == 0 {
            rng.usize(..2000)
        } else {
            r
        };
        sheet.push_str(&format!(r#"<row r="{rn}">"#));
        for col in 0..cols {
            if rng.u8(..6) == 0 {
                continue; // a gap: an empty cell
            }
            let at = cell_ref(rng, rn, col);
            let style = if rng.bool() {
                format!(r#" s="{}""#, rng.usize(..4))
            } else {
                String::new()
            };
            let cell = match rng.u8(..8) {
                0 => format!(
                    r#"<c r="{at}"{style} t="s"><v>{}</v></c>"#,
                    rng.i32(-1..(strings.len() as i32 + 2))
                ),
                1 => format!(r#"<c r="{at}" t="b"><v>{}</v></c>"#, rng.u8(..3)),
                2 => format!(r#"<c r="{at}" t="e"><v>#N/A</v></c>"#),
                3 => format!(
                    r#"<c r="{at}" t="inlineStr"><is><t>{}</t></is></c>"#,
                    gen::cell(rng).replace('&', "&amp;").replace('<', "&lt;")
                ),
                4 => format!(
                    r#"<c r="{at}" t="d"><v>{}</v></c>"#,
                    gen::pick(
                        rng,
                        &["2024-01-31T10:00:00", "2024-01-31", "x", "99999-01-01"]
                    )
                ),
                5 => format!(
                    r#"<c r="{at}" t="str"><f>A1</f><v>{}</v></c>"#,
                    gen::cell(rng).replace('&', "&amp;").replace('<', "&lt;")
                ),
                _ => format!(
                    r#"<c r="{at}"{style}><v>{}</v></c>"#,
                    gen::pick(
                        rng,
                        &[
                            "0",
                            "-1",
                            "1.5",
                            "45000.25",
                            "2958466",
                            "-700000",
                            "1e308",
                            "1e-300",
                            "NaN",
                            "12345678901234567890",
                            "61",
                            "60"
                        ]
                    )
                ),
            };
            sheet.push_str(&cell);
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let mut sst = format!(
        r#"<sst xmlns="{NS}" count="{0}" uniqueCount="{0}">"#,
        strings.len()
    );
    for s in &strings {
        if rng.u8(..4) == 0 {
            sst.push_str(&format!("<si><r><t>{s}</t></r><r><t>!</t></r></si>"));
        } else {
            sst.push_str(&format!("<si><t>{s}</t></si>"));
        }
    }
    sst.push_str("</sst>");
    let fmt = gen::pick(
        rng,
        &[
            "yyyy-mm-dd hh:mm",
            "d/m/yy",
            "[h]:mm:ss",
            "0.00",
            "General",
            "mm:ss.0",
            "\"yy\"",
        ],
    );
    let styles = format!(
        r#"<styleSheet xmlns="{NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="{fmt}"/></numFmts><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="{}"/></cellXfs></styleSheet>"#,
        gen::pick(rng, &["14", "22", "46", "47", "999"])
    );
    let mut out = sheet.into_bytes();
    out.push(0x1E);
    out.extend_from_slice(sst.as_bytes());
    out.push(0x1E);
    out.extend_from_slice(styles.as_bytes());
    if rng.u8(..5) == 0 {
        out.push(0x1E);
        let name = gen::pick(rng, &["Sheet1", "", "&lt;x&gt;", "名前", "a'b"]);
        out.extend_from_slice(
            format!(r#"<workbook xmlns="{NS}" xmlns:r="{REL}"><sheets><sheet name="{name}" sheetId="1" r:id="rId1"/><sheet name="Two" sheetId="2" r:id="rId9"/></sheets></workbook>"#)
                .as_bytes(),
        );
    }
    out
}

pub static XLSX: Target = Target {
    name: "xlsx",
    about:
        "Excel workbooks: sheet XML, shared strings, styles and dates inside a real .xlsx container",
    run: xlsx_run,
    generate: xlsx_generate,
    dict: &[
        b"<row r=\"1\">",
        b"</row>",
        b"<c r=\"A1\" t=\"s\"><v>0</v></c>",
        b"<c r=\"B2\"><v>1</v></c>",
        b" t=\"s\"",
        b" t=\"inlineStr\"",
        b" s=\"1\"",
        b"<v>",
        b"</v>",
        b"&amp;",
        b"&#0;",
        b"&#xD800;",
        b"<![CDATA[x]]>",
        b"\x1E",
    ],
    max_len: 64 * 1024,
};
