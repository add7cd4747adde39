use serde_json::json;

use super::*;

mod postal;
mod text;
mod values;

fn checker(format: Format) -> Checker {
    format.compile().unwrap()
}

#[track_caller]
fn accepts(format: Format, values: &[&str]) {
    let checker = checker(format);
    for value in values {
        assert!(checker.is_valid(value), "{checker:?} refused {value:?}");
        for padded in [
            format!(" {value}"),
            format!("{value}\n"),
            format!("\t{value}"),
        ] {
            assert!(!checker.is_valid(&padded), "{checker:?} took {padded:?}");
        }
    }
}

#[track_caller]
fn refuses(format: Format, values: &[&str]) {
    let checker = checker(format);
    for value in values {
        assert!(!checker.is_valid(value), "{checker:?} took {value:?}");
    }
}

#[track_caller]
fn compile_error(format: Format) -> (&'static str, String) {
    match format.compile() {
        Ok(checker) => panic!("{checker:?} compiled"),
        Err(e) => e,
    }
}

#[test]
fn checkers_are_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Checker>();
}

#[test]
fn formats_deserialize_from_rule_arguments() {
    let parse = |v: serde_json::Value| serde_json::from_value::<Format>(v);
    assert_eq!(parse(json!({"name": "email"})).unwrap(), Format::Email);
    assert_eq!(
        parse(json!({"name": "url"})).unwrap(),
        Format::Url { schemes: None }
    );
    assert_eq!(
        parse(json!({"name": "country"})).unwrap(),
        Format::Country { alpha: 2 }
    );
    assert_eq!(
        parse(json!({"name": "language"})).unwrap(),
        Format::Language { part: 1 }
    );
    assert_eq!(
        parse(json!({"name": "uuid", "version": 4})).unwrap(),
        Format::Uuid { version: Some(4) }
    );
    assert_eq!(
        parse(json!({"name": "ip_network", "networks": ["10.0.0.0/8"]})).unwrap(),
        Format::IpNetwork {
            networks: vec!["10.0.0.0/8".into()]
        }
    );
    assert_eq!(
        parse(json!({"name": "card_number"})).unwrap(),
        Format::CardNumber
    );
    for name in [
        "email",
        "ipv4",
        "ipv6",
        "ip",
        "e164",
        "currency",
        "iban",
        "card_number",
        "json",
    ] {
        let format = parse(json!({ "name": name })).unwrap();
        assert!(!format.compile().unwrap().is_valid("-"), "{name}");
        // Formats without arguments refuse one too.
        assert!(
            parse(json!({"name": name, "strict": true})).is_err(),
            "{name}"
        );
    }
    assert!(parse(json!({"name": "url", "scheme": ["ftp"]})).is_err());
    assert!(parse(json!({"name": "postal_code"})).is_err());
    assert!(parse(json!({"name": "phone"})).is_err());
    assert!(parse(json!({"format": "email"})).is_err());
}

#[test]
fn every_format_names_its_rule_kind() {
    let kinds = [
        (Format::Email, "is_email"),
        (Format::Url { schemes: None }, "is_url"),
        (Format::Uuid { version: None }, "is_uuid"),
        (Format::Ipv4, "is_ipv4"),
        (Format::Ipv6, "is_ipv6"),
        (Format::Ip, "is_ip"),
        (Format::IpNetwork { networks: vec![] }, "is_ip_in_network"),
        (Format::E164, "is_e164"),
        (Format::Currency, "is_currency_code"),
        (Format::Country { alpha: 2 }, "is_country_code"),
        (Format::Language { part: 1 }, "is_language_code"),
        (Format::Iban, "is_iban"),
        (Format::CardNumber, "is_card_number"),
        (
            Format::PostalCode {
                country: "US".into(),
            },
            "is_postal_code",
        ),
        (Format::Json, "is_json"),
        (
            Format::JsonSchema { schema: json!({}) },
            "matches_json_schema",
        ),
    ];
    for (format, kind) in kinds {
        assert_eq!(format.kind(), kind);
    }
}

#[test]
fn compile_errors_name_the_argument() {
    let (field, why) = compile_error(Format::Uuid { version: Some(0) });
    assert_eq!(
        (field, why.as_str()),
        ("version", "UUID versions are 1 to 8")
    );
    assert_eq!(
        compile_error(Format::Uuid { version: Some(9) }).0,
        "version"
    );
    assert_eq!(
        compile_error(Format::Country { alpha: 1 }),
        ("alpha", "2 or 3".into())
    );
    assert_eq!(
        compile_error(Format::Language { part: 5 }),
        ("part", "1, 2 or 3".into())
    );

    let (field, why) = compile_error(Format::PostalCode {
        country: "XX".into(),
    });
    assert_eq!(field, "country");
    assert!(
        why.starts_with("no postal code format for \"XX\"; known: AR, AT, AU,"),
        "{why}"
    );
    let (_, why) = compile_error(Format::PostalCode {
        country: "HK".into(),
    });
    assert_eq!(why, "\"HK\" has no postal codes");
    assert_eq!(
        compile_error(Format::PostalCode {
            country: "us".into()
        })
        .0,
        "country"
    );

    let network = |n: &str| Format::IpNetwork {
        networks: vec!["192.0.2.0/24".into(), n.into()],
    };
    let (field, why) = compile_error(network("10.0.0.0/33"));
    assert_eq!(field, "networks");
    assert!(
        why.starts_with("\"10.0.0.0/33\" is not a CIDR network: "),
        "{why}"
    );
    let (_, why) = compile_error(network("10.0.0.1/8"));
    assert!(
        why.ends_with("host bits are set (the network is 10.0.0.0/8)"),
        "{why}"
    );
    let (_, why) = compile_error(network("2001:db8::1/32"));
    assert!(why.contains("2001:db8::/32"), "{why}");
    for wrong in [
        "10.0.0.0",
        "10.0.0.0/",
        "10.0.0.0/08",
        "10.0.0.0/+8",
        "ten/8",
        "::/129",
    ] {
        assert_eq!(compile_error(network(wrong)).0, "networks", "{wrong}");
    }
    assert_eq!(
        compile_error(Format::IpNetwork { networks: vec![] }).0,
        "networks"
    );

    for schemes in [
        vec![],
        vec!["".into()],
        vec!["1http".into()],
        vec!["ht tp".into()],
    ] {
        let format = Format::Url {
            schemes: Some(schemes),
        };
        assert_eq!(compile_error(format).0, "schemes");
    }

    for schema in [
        json!({"type": "objekt"}),
        json!({"minimum": "five"}),
        json!({"required": "id"}),
        json!({"$ref": "https://example.com/person.schema.json"}),
    ] {
        let (field, why) = compile_error(Format::JsonSchema { schema });
        assert_eq!(field, "schema");
        assert!(why.starts_with("not a valid JSON Schema: "), "{why}");
    }
}
