//! Pieces of near-valid documents: JSON values with hostile keys, numbers
//! at every limit, escapes, deep nesting; cell texts as exports hold them.

use fastrand::Rng;

pub fn pick<'a, T: ?Sized>(rng: &mut Rng, items: &[&'a T]) -> &'a T {
    items[rng.usize(..items.len())]
}

const KEYS: &[&str] = &[
    "id",
    "name",
    "amount",
    "total_price",
    "created_at",
    "updated_at",
    "line_items",
    "customer",
    "address",
    "tags",
    "a__b",
    "a",
    "b",
    "value",
    "_tf_id",
    "_tf_parent_id",
    "_tf_idx",
    "",
    " ",
    "a.b",
    "A",
    "ID",
    "Id",
    "über",
    "名前",
    "emoji😀",
    "x\\u0000y",
    "\\u0000",
    "tab\\there",
    "quote\\\"d",
    "new\\nline",
    "select",
    "__",
    "a__",
    "__a",
    "1",
    "-",
];

const STRINGS: &[&str] = &[
    "",
    "plain",
    "12.34",
    "-0.00",
    "1,234.56",
    "1.234,56",
    "1e400",
    "123456789012345678901234567890",
    "00123",
    "+5",
    "2024-01-31",
    "2024-01-31T10:00:00Z",
    "2024-01-31T10:00:00.123456+05:30",
    "2024-02-30T00:00:00Z",
    "2024-01-31 10:00:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "true",
    "null",
    "NaN",
    "inf",
    "\\u0000",
    "\\ud800",
    "\\udfff\\ud800",
    "\\ud83d\\ude00",
    "tab\\t",
    "\\\"quoted\\\"",
    "back\\\\slash",
    "ünïcödé",
    "\u{202E}rtl",
    "e\u{0301}",
    "\u{FEFF}bom",
    "line\\r\\nbreak",
    "😀",
];

pub fn key(rng: &mut Rng) -> String {
    if rng.u8(..10) == 0 {
        // A long key, or one made of random letters.
        let n = [1, 8, 64, 300][rng.usize(..4)];
        return (0..n).map(|_| rng.alphanumeric()).collect();
    }
    pick(rng, KEYS).to_string()
}

pub fn number(rng: &mut Rng) -> String {
    match rng.u8(..8) {
        0 => rng.i64(..).to_string(),
        1 => rng.u64(..).to_string(),
        2 => format!("{}", rng.f64() * 10f64.powi(rng.i32(-5..30))),
        3 => format!("{}e{}", rng.i32(-99..99), rng.i32(-400..400)),
        4 => {
            let n = 1 + rng.usize(..60);
            let mut s: String = (0..n).map(|_| rng.digit(10)).collect();
            if s.len() > 1 && s.starts_with('0') {
                s.replace_range(..1, "1");
            }
            if rng.bool() {
                s.insert(0, '-');
            }
            s
        }
        5 => rng.i32(-1000..1000).to_string(),
        _ => pick(
            rng,
            &[
                "0",
                "-0",
                "0.0",
                "-0.0",
                "1E+2",
                "1e400",
                "-1e400",
                "1e-400",
                "9223372036854775807",
                "9223372036854775808",
                "-9223372036854775809",
                "18446744073709551616",
                "123456789012345678901234567890",
                "1.7976931348623157e308",
                "4.9e-324",
            ],
        )
        .to_string(),
    }
}

pub fn string(rng: &mut Rng) -> String {
    let mut s = pick(rng, STRINGS).to_string();
    if rng.u8(..8) == 0 {
        let n = [10, 1000, 70_000][rng.usize(..3)];
        s = s.repeat(n / s.len().max(1) + 1);
    }
    format!("\"{s}\"")
}

fn ws(rng: &mut Rng) -> &'static str {
    match rng.u8(..16) {
        0 => " ",
        1 => "\n",
        2 => "\r\n  ",
        3 => "\t",
        _ => "",
    }
}

/// A JSON value; `depth` bounds the nesting (a few runs go very deep).
pub fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    let kind = if depth == 0 { rng.u8(..5) } else { rng.u8(..9) };
    match kind {
        0 => out.push_str(pick(rng, &["null", "true", "false"])),
        1 | 2 => out.push_str(&number(rng)),
        3 | 4 => out.push_str(&string(rng)),
        5..=6 => {
            out.push('{');
            let n = rng.usize(..5);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws(rng));
                out.push('"');
                out.push_str(&key(rng));
                out.push_str("\":");
                out.push_str(ws(rng));
                value(rng, depth - 1, out);
            }
            out.push('}');
        }
        _ => {
            out.push('[');
            let n = rng.usize(..5);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                value(rng, depth - 1, out);
            }
            out.push(']');
        }
    }
}

/// Nesting `levels` deep around a value.
pub fn deep(rng: &mut Rng, levels: usize, out: &mut String) {
    let kinds: Vec<bool> = (0..levels).map(|_| rng.u8(..3) == 0).collect();
    for &obj in &kinds {
        out.push_str(if obj { "{\"k\":" } else { "[" });
    }
    value(rng, 1, out);
    for &obj in kinds.iter().rev() {
        out.push(if obj { '}' } else { ']' });
    }
}

/// A record: an object whose fields keep their types or change them, the
/// way pages of one API do.
pub fn record(rng: &mut Rng, out: &mut String) {
    out.push('{');
    out.push_str(&format!("\"id\":{}", number(rng)));
    let n = rng.usize(..7);
    for _ in 0..n {
        out.push_str(",\"");
        out.push_str(&key(rng));
        out.push_str("\":");
        match rng.u8(..12) {
            0 => {
                let levels = [5, 11, 127, 129, 400][rng.usize(..5)];
                deep(rng, levels, out)
            }
            _ => {
                let d = rng.usize(..5);
                value(rng, d, out)
            }
        }
    }
    out.push('}');
}

/// A page as APIs send them: a list of records, or an object holding one.
pub fn page(rng: &mut Rng) -> String {
    let mut out = String::new();
    let records = rng.usize(..6);
    let wrap = rng.u8(..4);
    match wrap {
        0 => out.push_str("{\"data\":"),
        1 => out.push_str("{\"meta\":{\"next\":null},\"orders\":"),
        _ => {}
    }
    out.push('[');
    for i in 0..records {
        if i > 0 {
            out.push(',');
        }
        if rng.u8(..10) == 0 {
            let d = rng.usize(..3);
            value(rng, d, &mut out);
        } else {
            record(rng, &mut out);
        }
    }
    out.push(']');
    if wrap < 2 {
        out.push('}');
    }
    out
}

/// What a cell of a CSV export or spreadsheet holds.
pub fn cell(rng: &mut Rng) -> String {
    match rng.u8(..10) {
        0..=2 => number(rng),
        3..=5 => {
            let s = pick(rng, STRINGS);
            s.replace("\\\"", "\"").replace("\\\\", "\\")
        }
        6 => String::new(),
        7 => pick(
            rng,
            &["NA", "N/A", "null", "NULL", "-", "#N/A", "TRUE", "false"],
        )
        .to_string(),
        8 => pick(
            rng,
            &[
                "31/01/2024",
                "01/31/2024",
                "2024-01-31 10:00",
                "10:00:00",
                "€1,234.50",
                "$ 12",
                "12%",
                "1 234,56",
                "(12.00)",
            ],
        )
        .to_string(),
        _ => key(rng),
    }
}
