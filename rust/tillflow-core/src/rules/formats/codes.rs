//! UUIDs and E.164 phone numbers (the ISO code tables are in `iso_tables`).

/// Positions of the hyphens in `xxxxxxxx-xxxx-Vxxx-Nxxx-xxxxxxxxxxxx`.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];
const VERSION_AT: usize = 14;
const VARIANT_AT: usize = 19;

pub(super) fn is_uuid(value: &str, version: Option<u8>) -> bool {
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if HYPHENS.contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    let Some(version) = version else {
        return shaped;
    };
    // The RFC 9562 variant is 0b10xx: the digit 8, 9, a or b.
    let rfc_variant = matches!(
        bytes.get(VARIANT_AT),
        Some(b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
    );
    shaped && rfc_variant && bytes[VERSION_AT] == b'0' + version
}

/// The country calling codes under which numbers are in service: those the
/// ITU-T has assigned to countries and to global services (800 freephone,
/// 808 shared cost, 870 Inmarsat, 878 UPT, 881 GMSS, 882 and 883
/// international networks, 888 disaster relief, 979 premium rate), from the
/// "List of ITU-T Recommendation E.164 assigned country codes" (position on
/// 15 December 2016, annexed to ITU Operational Bulletin No. 1114) with the
/// changes published in later bulletins. Checked entry by entry, both ways,
/// against the country codes of libphonenumber's metadata (as shipped in the
/// phonenumbers 9.0.43 package for Python): the same 215 codes.
///
/// Codes the list gives as spare or reserved (such as 210, 384, 875-877, 879
/// and 999) are absent, and so are four codes with no numbers in service:
/// 379, reserved for Vatican City, whose numbers are Italian (+39 06 698);
/// 997, reserved for Kazakhstan in 2021 but never brought into use, as
/// Kazakhstan kept its numbers under +7; 388, shared by groups of countries,
/// whose one group (the European Telephony Numbering Space, +388 3) was
/// closed and had its numbers withdrawn by 2010; and 991, shared for the
/// trial of a proposed international public correspondence service.
///
/// The codes form a prefix code, so at most one of them starts a number.
#[rustfmt::skip]
static COUNTRY_CODES: &[u16] = &[
    1, 7,
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49,
    51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66,
    81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
    211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229,
    230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244,
    245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255, 256, 257, 258,
    260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298, 299,
    350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
    370, 371, 372, 373, 374, 375, 376, 377, 378, 380, 381, 382, 383,
    385, 386, 387, 389,
    420, 421, 423,
    500, 501, 502, 503, 504, 505, 506, 507, 508, 509,
    590, 591, 592, 593, 594, 595, 596, 597, 598, 599,
    670, 672, 673, 674, 675, 676, 677, 678, 679, 680, 681, 682, 683,
    685, 686, 687, 688, 689, 690, 691, 692,
    800, 808, 850, 852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888,
    960, 961, 962, 963, 964, 965, 966, 967, 968,
    970, 971, 972, 973, 974, 975, 976, 977, 979,
    992, 993, 994, 995, 996, 998,
];

pub(super) fn is_e164(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('+').map(str::as_bytes) else {
        return false;
    };
    let shaped = (2..=15).contains(&digits.len())
        && digits[0] != b'0'
        && digits.iter().all(u8::is_ascii_digit);
    if !shaped {
        return false;
    }
    // A code of 1 to 3 digits, with at least one digit after it.
    let mut code = 0u16;
    for (len, digit) in digits.iter().take(3).enumerate() {
        code = code * 10 + u16::from(digit - b'0');
        if COUNTRY_CODES.binary_search(&code).is_ok() {
            return digits.len() > len + 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_sorted_and_prefix_free() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        let text: Vec<String> = COUNTRY_CODES.iter().map(u16::to_string).collect();
        for a in &text {
            for b in &text {
                assert!(
                    a == b || !b.starts_with(a.as_str()),
                    "{a} is a prefix of {b}"
                );
            }
        }
    }

    #[test]
    fn codes_in_service_pass_and_reserved_ones_fail() {
        let in_service = [
            // NANP: the United States, Canada, Jamaica.
            "+12015550123",
            "+15062345678",
            "+18765230123",
            // Russia and Kazakhstan, both under +7.
            "+73011234567",
            "+77123456789",
            // Vatican City, under Italy's code.
            "+390669812345",
            // Global services.
            "+80012345678",
            "+80812345678",
            "+870301234567",
            "+878101234567890",
            "+881612345678",
            "+8823421234",
            "+883510012345",
            "+88812345678901",
            "+979123456789",
        ];
        for number in in_service {
            assert!(is_e164(number), "{number} should pass");
        }
        for code in [379, 388, 991, 997] {
            assert!(COUNTRY_CODES.binary_search(&code).is_err(), "{code}");
        }
        for number in [
            "+3790669812345",
            "+38831234567",
            "+9910011234",
            "+9971234567890",
        ] {
            assert!(!is_e164(number), "{number} should fail");
        }
    }
}
