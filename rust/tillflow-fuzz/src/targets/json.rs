//! The page parser and the normalizer: what every API page goes through.

use std::borrow::Cow;

use fastrand::Rng;
use tillflow_core::normalize::json::{take_records, validate};
use tillflow_core::normalize::{Json, NormalizeOptions, Normalizer, NumericStrings};

use super::{choose, split_parts};
use crate::engine::Target;
use crate::gen;

const DICT: &[&[u8]] = json_dict![
    b"{}",
    b"[]",
    b"\"a\":",
    b"{\"id\":1}",
    b"\\u",
    b"\\n",
    b"\\\"",
    b"\\/",
    b"e+",
    b"E-",
    b".",
    b"-",
];

fn walk(v: &Json<'_>) {
    let _ = v.kind();
    let _ = v.to_value();
    let _ = v.to_string();
    for path in [
        "a",
        "a.0.b",
        "data.-1",
        "0",
        "",
        ".",
        "..",
        "-0",
        "18446744073709551616",
    ] {
        let _ = v.lookup(path);
    }
}

fn parse_run(data: &[u8]) {
    let parsed = Json::parse(data);
    let checked = validate(data);
    assert_eq!(
        parsed.is_ok(),
        checked.is_ok(),
        "parse and validate disagree: {parsed:?} / {checked:?}"
    );
    if let Ok(v) = parsed {
        walk(&v);
        for selector in [None, Some("data"), Some("data.items"), Some("0"), Some("")] {
            let _ = take_records(v.clone(), selector);
        }
    }
}

fn parse_generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::new();
    match rng.u8(..6) {
        0 => {
            let levels = [1, 100, 127, 128, 129, 1000, 20_000][rng.usize(..7)];
            gen::deep(rng, levels, &mut out)
        }
        1 => out = gen::page(rng),
        _ => {
            let d = rng.usize(..6);
            gen::value(rng, d, &mut out)
        }
    }
    if rng.u8(..10) == 0 {
        out.insert(0, '\u{feff}');
    }
    out.into_bytes()
}

pub static PARSE: Target = Target {
    name: "json_parse",
    about: "the page parser (Json::parse) and its validator agree, never recurse, never panic",
    run: parse_run,
    generate: parse_generate,
    dict: DICT,
    max_len: 256 * 1024,
};

/// Whether the tree holds a value serde_json reads differently by design:
/// beyond 64 bits, beyond a double, kept as text, or a key given twice.
fn differs_by_design(v: &Json<'_>) -> bool {
    match v {
        Json::BigInt(_) | Json::OutOfRange(_) | Json::Raw(_) => true,
        Json::Arr(a) => a.iter().any(differs_by_design),
        Json::Obj(m) => {
            let mut keys: Vec<&Cow<'_, str>> = m.iter().map(|(k, _)| k).collect();
            keys.sort();
            keys.windows(2).any(|w| w[0] == w[1]) || m.iter().any(|(_, v)| differs_by_design(v))
        }
        _ => false,
    }
}

/// The same tree, but for doubles a few units in the last place apart:
/// the parser rounds decimal text correctly (Rust's `str::parse`), and
/// serde_json without `float_roundtrip` is sometimes a unit or two off.
fn same(ours: &Json<'_>, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (ours, theirs) {
        (Json::Float(a), V::Number(n)) => n
            .as_f64()
            .is_some_and(|b| a.to_bits().abs_diff(b.to_bits()) <= 4),
        (Json::Arr(a), V::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Obj(a), V::Object(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((k, x), (l, y))| k == l && same(x, y))
        }
        _ => ours.to_value() == *theirs,
    }
}

/// `-0` is the integer 0 here, and the double -0.0 to serde_json.
fn has_negative_int_zero(text: &[u8]) -> bool {
    text.windows(3)
        .any(|w| w[0] == b'-' && w[1] == b'0' && !matches!(w[2], b'.' | b'e' | b'E'))
        || text.ends_with(b"-0")
}

fn roundtrip_run(data: &[u8]) {
    let Ok(v) = Json::parse(data) else { return };
    let mut once = String::new();
    v.write(&mut once);
    let again = Json::parse(once.as_bytes())
        .unwrap_or_else(|e| panic!("the written text does not parse again ({e}): {once:?}"));
    let mut twice = String::new();
    again.write(&mut twice);
    assert_eq!(once, twice, "writing is not stable");
    // Where serde_json reads the page too, both write the same text.
    let skip_bom = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if differs_by_design(&v) || has_negative_int_zero(skip_bom) {
        return;
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(skip_bom) {
        if once != value.to_string().as_str() || v.to_value() != value {
            assert!(
                same(&v, &value),
                "Json::write differs from serde_json:\n{once}\n{value}"
            );
        }
    }
}

pub static ROUNDTRIP: Target = Target {
    name: "json_roundtrip",
    about: "Json::write then parse is stable, and writes what serde_json writes",
    run: roundtrip_run,
    generate: parse_generate,
    dict: DICT,
    max_len: 64 * 1024,
};

fn normalize_run(data: &[u8]) {
    let mut c = choose(data);
    let opts = NormalizeOptions {
        numeric_strings: c.of(&[
            NumericStrings::Decimal,
            NumericStrings::Float,
            NumericStrings::String,
        ]),
        parse_timestamps: !c.one_in(3),
        max_depth: c.of(&[1, 2, 3, 10, 10, 200]),
    };
    let pk: Vec<String> = c
        .of(&[&[][..], &[][..], &["id"][..], &["id", "customer.id"][..]])
        .iter()
        .map(|s| s.to_string())
        .collect();
    let root = c.of(&["orders", "orders", "a__b", "Orders 2024", "über"]);
    let selector = c.of(&[None, None, Some("data"), Some("orders")]);
    let flush_every = c.of(&[1, 2, 100]);
    let mut norm = Normalizer::new(root, pk, &opts);
    for (i, page) in split_parts(data, 8).into_iter().enumerate() {
        let Ok(json) = Json::parse(page) else {
            continue;
        };
        let Ok(records) = take_records(json, selector) else {
            continue;
        };
        for r in &records {
            let _ = norm.push_or_refuse(r);
        }
        if (i + 1) % flush_every == 0 {
            let _ = norm.flush();
        }
    }
    let _ = norm.flush();
}

fn normalize_generate(rng: &mut Rng) -> Vec<u8> {
    let pages = 1 + rng.usize(..3);
    let mut out = Vec::new();
    for i in 0..pages {
        if i > 0 {
            out.push(0x1E);
        }
        out.extend_from_slice(gen::page(rng).as_bytes());
    }
    out
}

pub static NORMALIZE: Target = Target {
    name: "json_normalize",
    about:
        "pages (split at 0x1E) through take_records and the normalizer, types widening across pages",
    run: normalize_run,
    generate: normalize_generate,
    dict: &[
        b"{\"id\":1,\"a\":{\"b\":[1,2]}}",
        b"\"a__b\":",
        b"\"line_items\":[{\"id\":1}]",
        b"\"customer\":{\"id\":7}",
        b"\"2024-01-31T10:00:00Z\"",
        b"\"12.34\"",
        b"[[[[1]]]]",
        b"\x1E",
        b"null",
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
    ],
    max_len: 64 * 1024,
};
