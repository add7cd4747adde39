//! Identifiers, addresses, numbers and codes.

use super::*;

#[test]
fn uuid() {
    // Examples of RFC 9562's appendix A, versions 1 and 3 to 8.
    let examples = [
        (1, "C232AB00-9414-11EC-B3C8-9F6BDECED846"),
        (3, "5df41881-3aed-3515-88a7-2f4a814cf09e"),
        (4, "919108f7-52d1-4320-9bac-f847db4148a8"),
        (5, "2ed6657d-e927-568b-95e1-2665a8aea6a2"),
        (6, "1EC9414C-232A-6B00-B3C8-9F6BDECED846"),
        (7, "017F22E2-79B0-7CC3-98C4-DC0C0C07398F"),
        (8, "2489e9ad-2ee2-8e00-8ec9-32d5f69181c0"),
    ];
    let all: Vec<&str> = examples.iter().map(|(_, u)| *u).collect();
    let any = || Format::Uuid { version: None };
    accepts(any(), &all);
    accepts(
        any(),
        &[
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "919108F7-52d1-4320-9BAC-f847db4148a8",
        ],
    );
    refuses(
        any(),
        &[
            "{919108f7-52d1-4320-9bac-f847db4148a8}",
            "urn:uuid:919108f7-52d1-4320-9bac-f847db4148a8",
            "919108f752d143209bacf847db4148a8",
            "919108f7-52d1-4320-9bac-f847db4148a",
            "919108f7-52d1-4320-9bac-f847db4148a80",
            "919108f7-52d14320-9bac-f847db4148a8-",
            "919108g7-52d1-4320-9bac-f847db4148a8",
            "919108f7_52d1_4320_9bac_f847db4148a8",
        ],
    );
    for (version, uuid) in examples {
        accepts(
            Format::Uuid {
                version: Some(version),
            },
            &[uuid],
        );
        for other in examples.iter().filter(|(v, _)| *v != version) {
            refuses(
                Format::Uuid {
                    version: Some(version),
                },
                &[other.1],
            );
        }
    }
    // Version 4 digit but the Microsoft (110x) or NCS (0xxx) variant.
    refuses(
        Format::Uuid { version: Some(4) },
        &[
            "919108f7-52d1-4320-cbac-f847db4148a8",
            "919108f7-52d1-4320-7bac-f847db4148a8",
            "00000000-0000-0000-0000-000000000000",
        ],
    );
}

#[test]
fn ip_addresses() {
    let v4_ok = ["192.0.2.1", "0.0.0.0", "255.255.255.255", "10.0.0.1"];
    let v6_ok = [
        "::",
        "::1",
        "::ffff:192.0.2.1",
        "2001:db8::8a2e:370:7334",
        "2001:DB8:0:0:8:800:200C:417A",
        "fe80::1",
        "1:2:3:4:5:6:7:8",
    ];
    let v4_bad = [
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.4/24",
        "1.2.3.-4",
        "0x7f.0.0.1",
    ];
    let v6_bad = [
        "fe80::1%eth0",
        "[::1]",
        "2001:db8::/32",
        "1:2:3:4:5:6:7:8:9",
        ":::1",
        "2001:db8:::1",
        "12345::1",
        "::g",
    ];
    accepts(Format::Ipv4, &v4_ok);
    refuses(Format::Ipv4, &v4_bad);
    refuses(Format::Ipv4, &v6_ok);
    accepts(Format::Ipv6, &v6_ok);
    refuses(Format::Ipv6, &v6_bad);
    refuses(Format::Ipv6, &v4_ok);
    accepts(Format::Ip, &v4_ok);
    accepts(Format::Ip, &v6_ok);
    refuses(Format::Ip, &v4_bad);
    refuses(Format::Ip, &v6_bad);
    refuses(Format::Ip, &["", "localhost"]);
}

#[test]
fn ip_networks() {
    let networks = |n: &[&str]| Format::IpNetwork {
        networks: n.iter().map(|s| s.to_string()).collect(),
    };
    let private = || {
        networks(&[
            "10.0.0.0/8",
            "192.168.1.0/24",
            "2001:db8::/32",
            "192.0.2.7/32",
        ])
    };
    accepts(
        private(),
        &[
            "10.0.0.0",
            "10.1.2.3",
            "10.255.255.255",
            "192.168.1.0",
            "192.168.1.255",
            "192.0.2.7",
            "2001:db8::1",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
    );
    refuses(
        private(),
        &[
            "11.0.0.1",
            "9.255.255.255",
            "192.168.2.1",
            "192.0.2.8",
            "2001:db9::1",
            "::ffff:10.0.0.1",
            "10.0.0.1/32",
            "not an address",
        ],
    );
    accepts(networks(&["0.0.0.0/0"]), &["1.2.3.4", "255.255.255.255"]);
    refuses(networks(&["0.0.0.0/0"]), &["::1"]);
    accepts(networks(&["::/0"]), &["::1", "::ffff:1.2.3.4"]);
    refuses(networks(&["::/0"]), &["1.2.3.4"]);
    accepts(networks(&["::1/128"]), &["::1", "0:0:0:0:0:0:0:1"]);
}

#[test]
fn e164() {
    accepts(
        Format::E164,
        &[
            "+14155552671",
            "+442071838750",
            "+4915123456789",
            "+61291234567",
            "+5511987654321",
            "+919876543210",
            "+2348012345678",
            "+35312345678",
            "+79161234567",
            "+97312345678",
            "+88213",
            "+80012345678",
            "+12",
            "+123456789012345",
        ],
    );
    refuses(
        Format::E164,
        &[
            "",
            "+",
            "+1",
            "+44",
            "+353",
            "+0123",
            "+1234567890123456",
            "14155552671",
            "+1 415 555 2671",
            "+1-415-555-2671",
            "+1(415)5552671",
            "++14155552671",
            "+99912345678",
            "+2101234567",
            "+3841234567",
            "+8761234567",
            "+6711234567",
            "+٤١٥٥٥٥٢٦٧١",
        ],
    );
}

#[test]
fn iso_codes() {
    accepts(
        Format::Currency,
        &["USD", "EUR", "JPY", "CHF", "XAU", "XDR", "XXX"],
    );
    refuses(
        Format::Currency,
        &["usd", "Usd", "US", "USDD", "ABC", "DEM", "", "€"],
    );
    let country = |alpha| Format::Country { alpha };
    accepts(country(2), &["US", "DE", "GB", "AQ", "CW", "SS"]);
    refuses(country(2), &["us", "USA", "UK", "EU", "XK", "ZZ", "U", ""]);
    accepts(country(3), &["USA", "DEU", "GBR", "CUW"]);
    refuses(country(3), &["usa", "US", "UKK", "XKX", "ABC"]);
    let language = |part| Format::Language { part };
    accepts(language(1), &["en", "de", "zh", "fr", "yi"]);
    refuses(language(1), &["EN", "En", "eng", "xx", "e", ""]);
    accepts(
        language(2),
        &[
            "eng", "deu", "ger", "fre", "fra", "zho", "chi", "mul", "und",
        ],
    );
    refuses(language(2), &["en", "ENG", "qaa", "qtz", "yue", "xxx"]);
    accepts(language(3), &["eng", "deu", "yue", "cmn", "aaa", "zxx"]);
    refuses(language(3), &["en", "ENG", "ger", "xyz1", "qqq"]);
}

#[test]
fn iso_codes_follow_the_current_lists() {
    // ISO 4217 List One of 2026-01-01: new codes and their predecessors,
    // which are on List Three now.
    accepts(
        Format::Currency,
        &[
            "EUR", "SLE", "ZWG", "XCG", "XAD", "VES", "VED", "CUP", "BYN", "MRU", "STN",
        ],
    );
    refuses(
        Format::Currency,
        &[
            "HRK", "SLL", "ZWL", "ANG", "CUC", "BGN", "VEF", "MRO", "STD", "BYR",
        ],
    );
    // ISO 639-1 deprecated bh (Bihari); ISO 639-2 keeps bih.
    refuses(Format::Language { part: 1 }, &["bh"]);
    accepts(Format::Language { part: 2 }, &["bih"]);
    // ISO 639-3: codes added since 2023 pass, retired ones fail.
    accepts(Format::Language { part: 3 }, &["isv", "cls", "vsn", "apc"]);
    refuses(Format::Language { part: 3 }, &["ajp", "prp", "tmk"]);
}

#[test]
fn iso_tables_are_sorted_without_duplicates() {
    use super::super::iso_tables::*;
    assert!(CURRENCY.windows(2).all(|w| w[0] < w[1]));
    assert!(COUNTRY_ALPHA2.windows(2).all(|w| w[0] < w[1]));
    assert!(COUNTRY_ALPHA3.windows(2).all(|w| w[0] < w[1]));
    assert!(LANGUAGE_PART1.windows(2).all(|w| w[0] < w[1]));
    assert!(LANGUAGE_PART2.windows(2).all(|w| w[0] < w[1]));
    assert!(LANGUAGE_PART3.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn iban() {
    accepts(
        Format::Iban,
        &[
            "GB82 WEST 1234 5698 7654 32",
            "GB82WEST12345698765432",
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91 ABNA 0417 1643 00",
            "BE68 5390 0754 7034",
            "CH93 0076 2011 6238 5295 7",
            "NO93 8601 1117 947",
            "AT61 1904 3002 3457 3201",
            "ES91 2100 0418 4502 0005 1332",
            "IT60 X054 2811 1010 0000 0123 456",
            "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
            "SA03 8000 0000 6080 1016 7519",
            "PL61 1090 1014 0000 0712 1981 2874",
            "SE45 5000 0000 0583 9825 7466",
            "LC55 HEMM 0001 0001 0012 0012 0002 3015",
            "RU0204452560040702810412345678901",
        ],
    );
    refuses(
        Format::Iban,
        &[
            "",
            "GB",
            // Wrong check digits, or a changed digit under correct ones.
            "GB83 WEST 1234 5698 7654 32",
            "DE88 3704 0044 0532 0130 00",
            "DE89 3704 0044 0532 0130 01",
            "NL91 ABNA 0417 1643 01",
            // Lowercase, other separators, other groupings.
            "gb82 west 1234 5698 7654 32",
            "GB82west12345698765432",
            "GB82-WEST-1234-5698-7654-32",
            "GB82  WEST 1234 5698 7654 32",
            "GB82 WEST 1234 5698 7654 32 ",
            "GB82 WEST12 3456 9876 5432",
            "GB 82 WEST 1234 5698 7654 32",
            // Check digits right, but the length is not the registry's, or
            // the country is not in the registry.
            "GB49WEST123456987654321",
            "XX57WEST12345698765432",
            "AA681234567890123456",
            "GB82WEST12345698765432GB82WEST12345698765432",
        ],
    );
}

#[test]
fn card_number() {
    accepts(
        Format::CardNumber,
        &[
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "5555 5555 5555 4444",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "4012888888881881",
            "3530111333300000",
            "30569309025904",
            "4222222222222",
            "6759649826438453",
        ],
    );
    refuses(
        Format::CardNumber,
        &[
            "",
            "4111111111111112",
            "5555555555554440",
            "378282246310006",
            "4111 1111-1111 1111",
            "4111  1111 1111 1111",
            "4111--1111-1111-1111",
            "-4111111111111111",
            "4111111111111111-",
            "4111.1111.1111.1111",
            "41111111111111111111",
            "00000000000",
            "0000000000000000000000",
            "411111111111111a",
            "٤١١١١١١١١١١١١١١١",
        ],
    );
    // 12 and 19 digits are the bounds.
    accepts(Format::CardNumber, &["000000000000", "0000000000000000000"]);
}
