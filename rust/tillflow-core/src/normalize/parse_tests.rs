use super::*;

fn p(text: &str) -> Result<Json<'_>, ParseError> {
    parse(text.as_bytes())
}

fn ok(text: &str) -> Json<'_> {
    p(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn rejected(text: &str) -> String {
    let e = p(text).expect_err(text).to_string();
    // The validator agrees with the parser.
    assert_eq!(validate(text.as_bytes()), Err(e.clone()), "{text:?}");
    e
}

#[test]
fn escapes_and_surrogates() {
    assert_eq!(
        ok(r#""a\"b\\c\/d\b\f\n\r\t""#),
        Json::Str("a\"b\\c/d\u{8}\u{c}\n\r\t".into())
    );
    assert_eq!(ok(r#""\u00e9\u4E2D""#), Json::Str("é中".into()));
    // A surrogate pair is one character.
    assert_eq!(ok(r#""\ud83d\ude00""#), Json::Str("😀".into()));
    // Lone surrogates become U+FFFD; what follows them is kept.
    assert_eq!(ok(r#""\ud83dx""#), Json::Str("\u{FFFD}x".into()));
    assert_eq!(ok(r#""\ude00""#), Json::Str("\u{FFFD}".into()));
    assert_eq!(ok(r#""\ud83d\u0041""#), Json::Str("\u{FFFD}A".into()));
    assert_eq!(ok(r#""\ud83d""#), Json::Str("\u{FFFD}".into()));
    // Raw UTF-8 passes through, borrowed.
    assert!(matches!(
        ok("\"ünïcødé ✓\""),
        Json::Str(Cow::Borrowed("ünïcødé ✓"))
    ));
    assert!(rejected(r#""\x""#).contains("invalid escape"));
    assert!(rejected(r#""\u12zz""#).contains("invalid \\u escape"));
    assert!(rejected(r#""\u12"#).contains("EOF"));
    assert!(rejected("\"tab\there\"").contains("control character"));
    assert!(rejected("\"a").contains("EOF"));
    assert!(rejected(&format!("\"{}", "long ".repeat(40))).contains("EOF"));
    assert!(p("\"\u{0}\"").is_err());
    // A NUL written as an escape is a character like any other.
    assert_eq!(ok(r#"{"a\u0000b": 1}"#).get("a\0b"), Some(&Json::Int(1)));
}

#[test]
fn bom_whitespace_and_trailing_garbage() {
    assert_eq!(ok("\u{feff}[1]"), Json::Arr(vec![Json::Int(1)]));
    assert_eq!(
        ok(" \t\r\n[ 1 , 2 ]\n "),
        Json::Arr(vec![Json::Int(1), Json::Int(2)])
    );
    assert!(rejected("[1] x").contains("trailing characters at line 1 column 5"));
    assert!(rejected("[1]\n]").contains("trailing characters at line 2 column 1"));
    assert!(rejected("").contains("EOF"));
    assert!(rejected("   ").contains("EOF"));
    assert!(rejected("\u{feff}").contains("EOF"));
    assert!(rejected("[1,]").contains("expected value"));
    assert!(rejected("[1 2]").contains("expected `,` or `]`"));
    assert!(rejected("{\"a\" 1}").contains("expected `:`"));
    assert!(rejected("{\"a\":1,}").contains("key must be a string"));
    assert!(rejected("{1:2}").contains("key must be a string"));
    assert!(rejected("[1").contains("EOF"));
    assert!(rejected("{\"a\":1").contains("EOF"));
    assert!(rejected("tru").contains("expected value"));
    assert!(rejected("nul").contains("expected value"));
    assert!(rejected("\u{a0}1").contains("expected value"));
    // Whitespace other than RFC 8259's four is not whitespace.
    assert!(rejected("[1,\u{b}2]").contains("expected value"));
    let bad_utf8 = parse(b"[\"\xff\"]").unwrap_err();
    assert_eq!(bad_utf8.to_string(), "invalid UTF-8 at line 1 column 3");
    assert!(validate(b"[\"\xc3\"]").is_err());
}

#[test]
fn numbers() {
    assert_eq!(ok("0"), Json::Int(0));
    assert_eq!(ok("-0"), Json::Int(0));
    assert_eq!(ok("-0.0"), Json::Float(-0.0));
    assert!(matches!(ok("-0.0"), Json::Float(f) if f.is_sign_negative()));
    assert_eq!(ok("1E+2"), Json::Float(100.0));
    assert_eq!(ok("1e-2"), Json::Float(0.01));
    assert_eq!(ok("2.5E3"), Json::Float(2500.0));
    assert_eq!(ok("9223372036854775807"), Json::Int(i64::MAX));
    assert_eq!(ok("-9223372036854775808"), Json::Int(i64::MIN));
    assert_eq!(ok("9223372036854775808"), Json::UInt(1 << 63));
    assert_eq!(ok("18446744073709551615"), Json::UInt(u64::MAX));
    assert_eq!(
        ok("18446744073709551616"),
        Json::BigInt("18446744073709551616")
    );
    assert_eq!(
        ok("-9223372036854775809"),
        Json::BigInt("-9223372036854775809")
    );
    assert_eq!(
        ok("-123456789012345678901234567890"),
        Json::BigInt("-123456789012345678901234567890")
    );
    // Huge exponents: past a double's range a value of its own, below it zero.
    assert_eq!(ok("1e400"), Json::OutOfRange("1e400"));
    assert_eq!(ok("-1E+400"), Json::OutOfRange("-1E+400"));
    assert_eq!(ok("1e-400"), Json::Float(0.0));
    assert_eq!(
        ok("1e99999999999999999999"),
        Json::OutOfRange("1e99999999999999999999")
    );
    assert_eq!(ok("1.7976931348623157e308"), Json::Float(f64::MAX));
    assert!(rejected("01").contains("leading zero"));
    assert!(rejected("-01").contains("leading zero"));
    assert!(rejected("00").contains("leading zero"));
    assert!(rejected("1.").contains("EOF"));
    assert!(rejected("1.e5").contains("no digit after the point"));
    assert!(rejected("1e").contains("EOF"));
    assert!(rejected("1e+").contains("EOF"));
    assert!(rejected("[1ex]").contains("no digit in the exponent"));
    assert!(rejected("-").contains("EOF"));
    assert!(rejected("-a").contains("invalid number"));
    assert!(rejected("+1").contains("expected value"));
    assert!(rejected(".5").contains("expected value"));
    assert!(rejected("NaN").contains("expected value"));
    assert!(rejected("Infinity").contains("expected value"));
    assert!(rejected("0x10").contains("trailing characters"));
}

#[test]
fn any_depth_parses_and_deep_subtrees_stay_text() {
    for depth in [
        1,
        MAX_TREE_DEPTH - 1,
        MAX_TREE_DEPTH,
        MAX_TREE_DEPTH + 1,
        200,
        100_000,
    ] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let v = ok(&text);
        assert_eq!(v.to_string(), text, "depth {depth}");
        assert_eq!(validate(text.as_bytes()), Ok(()));
        let obj = format!("{}1{}", "{\"a\": ".repeat(depth), "}".repeat(depth));
        let v = ok(&obj);
        assert_eq!(v.to_string(), obj.replace(' ', ""), "depth {depth}");
    }
    // Past the limit, a subtree is its text, written compactly and canonically.
    let deep = format!(
        "{}{{\"s\" : \"\\u00e9\\/\\n\", \"n\": [1E+2, -0, 18446744073709551617, 1e400, true, null]}}{}",
        "[".repeat(MAX_TREE_DEPTH),
        "]".repeat(MAX_TREE_DEPTH)
    );
    let v = ok(&deep);
    let mut inner = &v;
    for _ in 0..MAX_TREE_DEPTH {
        let Json::Arr(items) = inner else { panic!() };
        inner = &items[0];
    }
    assert!(matches!(inner, Json::Raw(r) if r.starts_with("{\"s\" : ")));
    assert_eq!(inner.kind(), "an object");
    assert_eq!(
        inner.to_string(),
        r#"{"s":"é/\n","n":[100.0,0,18446744073709551617,1e400,true,null]}"#
    );
    // Deep but broken is still an error, wherever the break is.
    let broken = format!("{}1,]{}", "[".repeat(1000), "]".repeat(999));
    assert!(rejected(&broken).contains("expected value"));
    let unclosed = "[".repeat(100_000);
    assert!(rejected(&unclosed).contains("EOF"));
}

#[test]
fn strings_are_written_as_serde_json_writes_them() {
    let mut all = String::new();
    for c in (0u32..0x80).chain([0xe9, 0x2028, 0xfeff, 0x1F600]) {
        all.push(char::from_u32(c).unwrap());
    }
    let mut out = String::new();
    write_str(&all, &mut out);
    assert_eq!(out, serde_json::to_string(&all).unwrap());
}

/// Random documents, written by serde_json with random whitespace: both
/// parsers agree on every one.
#[test]
fn agrees_with_serde_json_on_random_documents() {
    let mut rng = fastrand::Rng::with_seed(20240613);
    for _ in 0..3000 {
        let value = random_value(&mut rng, 0);
        let compact = value.to_string();
        let text = if rng.bool() {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            compact.clone()
        };
        let ours = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_same(&ours, &theirs, &text);
        assert_eq!(ours.to_string(), compact);
        assert_eq!(validate(text.as_bytes()), Ok(()));
        // Cut short anywhere, both reject it.
        let cut = rng.usize(0..text.len());
        let short = &text.as_bytes()[..cut];
        if serde_json::from_slice::<serde_json::Value>(short).is_err() {
            assert!(
                parse(short).is_err(),
                "{:?}",
                String::from_utf8_lossy(short)
            );
            assert!(validate(short).is_err());
        }
    }
}

fn assert_same(ours: &Json<'_>, theirs: &serde_json::Value, text: &str) {
    use serde_json::Value as V;
    match (ours, theirs) {
        (Json::Float(a), V::Number(n)) => {
            let b = n.as_f64().unwrap();
            // serde_json without float_roundtrip may be one unit off.
            assert!(
                (a - b).abs() <= b.abs() * 4.0 * f64::EPSILON,
                "{a} {b} in {text}"
            );
        }
        (Json::Arr(a), V::Array(b)) => {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert_same(x, y, text);
            }
        }
        (Json::Obj(a), V::Object(b)) => {
            assert_eq!(a.len(), b.len());
            for ((k, x), (l, y)) in a.iter().zip(b) {
                assert_eq!(k, l);
                assert_same(x, y, text);
            }
        }
        _ => assert_eq!(&ours.to_value(), theirs, "{text}"),
    }
}

fn random_value(rng: &mut fastrand::Rng, depth: usize) -> serde_json::Value {
    use serde_json::Value as V;
    let leaf = depth > 5 || rng.u8(0..10) < 4;
    if leaf {
        return match rng.u8(0..8) {
            0 => V::Null,
            1 => V::Bool(rng.bool()),
            2 => V::from(rng.i64(..)),
            3 => V::from(rng.u64(..)),
            4 => V::from(rng.i64(-1000..1000)),
            5 => {
                let f = f64::from_bits(rng.u64(..));
                serde_json::Number::from_f64(f).map_or(V::Null, V::Number)
            }
            6 => V::from(rng.f64() * 10f64.powi(rng.i32(-30..30))),
            _ => V::String(random_string(rng)),
        };
    }
    let n = rng.usize(0..6);
    if rng.bool() {
        V::Array((0..n).map(|_| random_value(rng, depth + 1)).collect())
    } else {
        V::Object(
            (0..n)
                .map(|_| (random_string(rng), random_value(rng, depth + 1)))
                .collect(),
        )
    }
}

fn random_string(rng: &mut fastrand::Rng) -> String {
    const PICKS: &[char] = &[
        'a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', '\u{1f}', 'é', '中', '😀', '\u{7f}',
        '\0',
    ];
    let n = rng.usize(0..20);
    (0..n)
        .map(|_| {
            if rng.bool() {
                char::from(rng.u8(0x20..0x7f))
            } else {
                PICKS[rng.usize(..PICKS.len())]
            }
        })
        .collect()
}
