//! Emails, URLs, JSON texts and JSON Schema.

use serde_json::json;

use super::*;

#[test]
fn email() {
    let long_local = "a".repeat(64);
    let label = "b".repeat(63);
    // 64 + 1 + 63 + 1 + 63 + 1 + 57 + 4 = 254 octets.
    let longest = format!("{long_local}@{label}.{label}.{}.com", "c".repeat(57));
    assert_eq!(longest.len(), 254);
    accepts(
        Format::Email,
        &[
            "simple@example.com",
            "very.common@example.com",
            "x@example.com",
            "long.email-address-with-hyphens@and.hyphens.in.the.domain.example.com",
            "user.name+tag+sorting@example.com",
            "name/surname@example.com",
            "mailhost!username@example.org",
            "user%example.com@example.org",
            "user-@example.org",
            "#!$%&'*+-/=?^_`{}|~@example.org",
            "UPPER@EXAMPLE.COM",
            "a@b-c.d-e.fg",
            "a@ab--cd.example",
            "me@mail.example.co.uk",
            "me@123.example",
            "me@example.x1",
            &longest,
            // RFC 6531 internationalized addresses.
            "zoë@example.com",
            "Pelé@example.com",
            "用户@例子.广告",
            "квіточка@пошта.укр",
            "θσερ@εχαμπλε.ψομ",
            "अजय@डाटा.भारत",
            "me@bücher.example",
            "me@xn--bcher-kva.example",
            "me@XN--BCHER-KVA.example",
        ],
    );
    refuses(
        Format::Email,
        &[
            "",
            "@",
            "Abc.example.com",
            "A@b@c@example.com",
            "a\"b(c)d,e:f;g<h>i[j\\k]l@example.com",
            "just\"not\"right@example.com",
            "this is\"not\\allowed@example.com",
            "\"john doe\"@example.com",
            "\"john\"@example.com",
            ".john@example.com",
            "john.@example.com",
            "john..doe@example.com",
            "john doe@example.com",
            "@example.com",
            "john@",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "user@localhost",
            "user@example.123",
            "user@192.0.2.1",
            "user@-example.com",
            "user@example-.com",
            "user@exa_mple.com",
            "user@example..com",
            "user@.example.com",
            "user@example.com.",
            "user@exa mple.com",
            &format!("{long_local}a@example.com"),
            &format!("user@{label}b.com"),
            &format!("{long_local}@{label}.{label}.{}.com", "c".repeat(58)),
            // Emoji are neither letters, marks nor digits.
            "😀@example.com",
            // A domain's U-labels in their mapped (lowercase) form only.
            "ZOË@BÜCHER.EXAMPLE",
            "me@Bücher.example",
            "me@ｅｘａｍｐｌｅ.com",
            "me@bücher。example",
            "me@xn--bcher-kva-.example",
            // Not Punycode of a permitted label.
            "me@xn--a.example",
            "me@bü_cher.example",
            &format!("me@{}ü.example", "b".repeat(60)),
        ],
    );
}

#[test]
fn url() {
    accepts(
        Format::Url { schemes: None },
        &[
            "https://example.com",
            "http://example.com/path/to?q=1&r=a%20b#frag",
            "HTTPS://EXAMPLE.COM/",
            "https://user:pw@example.com/",
            "http://192.0.2.1:8080/",
            "http://[2001:db8::1]/",
            "https://bücher.example/",
            "https://example.com/ümlaut",
        ],
    );
    refuses(
        Format::Url { schemes: None },
        &[
            "",
            "example.com",
            "/relative/path",
            "//example.com/",
            "ftp://example.com/",
            "http:example.com",
            "http:/example.com",
            "http://",
            "http://exa mple.com/",
            "http://example.com/a b",
            "http://example.com/a\tb",
            "http:\\\\example.com\\",
            "https://example.com/%zz",
            "javascript:alert(1)",
            "mailto:me@example.com",
            "http://example.com:99999/",
        ],
    );
    let schemes = |s: &[&str]| Format::Url {
        schemes: Some(s.iter().map(|s| s.to_string()).collect()),
    };
    accepts(
        schemes(&["ftp", "S3"]),
        &[
            "ftp://files.example.com/a.csv",
            "s3://bucket/key.parquet",
            "S3://bucket/",
        ],
    );
    refuses(
        schemes(&["ftp", "S3"]),
        &["https://example.com/", "s3:key", "s3:///key"],
    );
    refuses(
        schemes(&["mailto", "file"]),
        &["mailto:me@example.com", "file:///tmp/x"],
    );
}

#[test]
fn json() {
    let deep = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
    accepts(
        Format::Json,
        &[
            "{\"a\": 1}",
            "[1, 2.5e3, -0.1]",
            "\"x\"",
            "3",
            "null",
            "true",
            "{}",
            "\"\\u00e9\\n\"",
            "{\"a\": {\"b\": [null]}}",
            // The grammar allows any \u escape and any depth.
            "\"\\ud800\"",
            &deep(1000),
        ],
    );
    refuses(
        Format::Json,
        &[
            "",
            "{a: 1}",
            "[1,]",
            "{",
            "1 2",
            "NaN",
            "'x'",
            "{\"a\":1}x",
            "01",
            "\"\\x\"",
            "\"tab\there\"",
            "[[]",
        ],
    );
}

#[test]
fn json_schema() {
    let person = || Format::JsonSchema {
        schema: json!({
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "email": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "additionalProperties": false
        }),
    };
    accepts(
        person(),
        &[
            "{\"id\": 1}",
            "{\"id\": 7, \"email\": \"a@b.c\", \"tags\": [\"x\"]}",
        ],
    );
    refuses(
        person(),
        &[
            "{\"email\": \"a@b.c\"}",
            "{\"id\": \"1\"}",
            "{\"id\": 0}",
            "{\"id\": 1, \"tags\": [1]}",
            "{\"id\": 1, \"extra\": true}",
            "[]",
            "{id: 1}",
            "",
        ],
    );
    // `format` is an annotation in draft 2020-12, an assertion in draft 7.
    accepts(
        Format::JsonSchema {
            schema: json!({"format": "email"}),
        },
        &["\"nope\""],
    );
    let draft7 = json!({"$schema": "http://json-schema.org/draft-07/schema#", "format": "email"});
    refuses(
        Format::JsonSchema {
            schema: draft7.clone(),
        },
        &["\"nope\""],
    );
    accepts(
        Format::JsonSchema { schema: draft7 },
        &["\"me@example.com\""],
    );
    // Local references resolve.
    let local = json!({
        "$defs": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "type": "array",
        "items": {"$ref": "#/$defs/code"}
    });
    accepts(
        Format::JsonSchema {
            schema: local.clone(),
        },
        &["[\"EUR\", \"USD\"]"],
    );
    refuses(Format::JsonSchema { schema: local }, &["[\"eur\"]"]);
    // Past serde_json's nesting limit the value cannot be checked.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    refuses(
        Format::JsonSchema { schema: json!({}) },
        &[&deep, "\"\\ud800\""],
    );
    accepts(
        Format::JsonSchema {
            schema: json!(true),
        },
        &["[[[]]]"],
    );
}
