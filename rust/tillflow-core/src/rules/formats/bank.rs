//! IBANs (ISO 13616) and payment card numbers (ISO/IEC 7812).

/// IBAN lengths by country, from the SWIFT IBAN registry: its 89 IBAN prefix
/// country codes as of Release 101 (December 2025), checked entry by entry,
/// both ways, against that release and the registry data of the schwifty
/// 2026.10.1 package for Python. Territories that use another country's
/// IBANs (Åland: FI; Jersey: GB; the French overseas departments: FR) are
/// not listed apart, as the registry does not give them their own prefix.
#[rustfmt::skip]
static IBAN_LENGTHS: &[([u8; 2], u8)] = &[
    (*b"AD", 24), (*b"AE", 23), (*b"AL", 28), (*b"AT", 20), (*b"AZ", 28),
    (*b"BA", 20), (*b"BE", 16), (*b"BG", 22), (*b"BH", 22), (*b"BI", 27),
    (*b"BR", 29), (*b"BY", 28), (*b"CH", 21), (*b"CR", 22), (*b"CY", 28),
    (*b"CZ", 24), (*b"DE", 22), (*b"DJ", 27), (*b"DK", 18), (*b"DO", 28),
    (*b"EE", 20), (*b"EG", 29), (*b"ES", 24), (*b"FI", 18), (*b"FK", 18),
    (*b"FO", 18), (*b"FR", 27), (*b"GB", 22), (*b"GE", 22), (*b"GI", 23),
    (*b"GL", 18), (*b"GR", 27), (*b"GT", 28), (*b"HN", 28), (*b"HR", 21),
    (*b"HU", 28), (*b"IE", 22), (*b"IL", 23), (*b"IQ", 23), (*b"IS", 26),
    (*b"IT", 27), (*b"JO", 30), (*b"KW", 30), (*b"KZ", 20), (*b"LB", 28),
    (*b"LC", 32), (*b"LI", 21), (*b"LT", 20), (*b"LU", 20), (*b"LV", 21),
    (*b"LY", 25), (*b"MC", 27), (*b"MD", 24), (*b"ME", 22), (*b"MK", 19),
    (*b"MN", 20), (*b"MR", 27), (*b"MT", 31), (*b"MU", 30), (*b"NI", 28),
    (*b"NL", 18), (*b"NO", 15), (*b"OM", 23), (*b"PK", 24), (*b"PL", 28),
    (*b"PS", 29), (*b"PT", 25), (*b"QA", 29), (*b"RO", 24), (*b"RS", 22),
    (*b"RU", 33), (*b"SA", 24), (*b"SC", 31), (*b"SD", 18), (*b"SE", 24),
    (*b"SI", 19), (*b"SK", 24), (*b"SM", 27), (*b"SO", 23), (*b"ST", 25),
    (*b"SV", 28), (*b"TL", 23), (*b"TN", 24), (*b"TR", 26), (*b"UA", 29),
    (*b"VA", 22), (*b"VG", 24), (*b"XK", 20), (*b"YE", 30),
];

/// The longest IBAN that ISO 13616 allows; the registry's longest, Russia's,
/// has 33 characters.
const IBAN_MAX: usize = 34;

pub(super) fn is_iban(value: &str) -> bool {
    let Some(iban) = compact_iban(value) else {
        return false;
    };
    let iban = &iban.0[..iban.1];
    let Some(country) = iban.first_chunk::<2>() else {
        return false;
    };
    let registered = IBAN_LENGTHS
        .binary_search_by_key(country, |(c, _)| *c)
        .is_ok_and(|i| usize::from(IBAN_LENGTHS[i].1) == iban.len());
    registered
        && iban[2..4].iter().all(u8::is_ascii_digit)
        && iban
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && mod97(iban) == 1
}

/// The IBAN without the single spaces of its print form (groups of four,
/// the last one 1 to 4 long), or `None` when it is neither form or too long.
fn compact_iban(value: &str) -> Option<([u8; IBAN_MAX], usize)> {
    let mut out = [0u8; IBAN_MAX];
    let mut len = 0;
    let spaced = value.contains(' ');
    for (i, b) in value.bytes().enumerate() {
        // In the print form every fifth character is the space.
        if spaced && i % 5 == 4 {
            if b != b' ' {
                return None;
            }
            continue;
        }
        if b == b' ' || len == IBAN_MAX {
            return None;
        }
        out[len] = b;
        len += 1;
    }
    let trailing_space = spaced && value.len().is_multiple_of(5);
    (!trailing_space).then_some((out, len))
}

/// ISO 7064 MOD 97-10 over the IBAN with its first four characters moved to
/// the end and each letter read as two digits (A = 10 ... Z = 35).
fn mod97(iban: &[u8]) -> u32 {
    let (head, tail) = iban.split_at(4);
    tail.iter().chain(head).fold(0u32, |rest, &b| match b {
        b'0'..=b'9' => (rest * 10 + u32::from(b - b'0')) % 97,
        _ => (rest * 100 + u32::from(b - b'A') + 10) % 97,
    })
}

pub(super) fn is_card_number(value: &str) -> bool {
    let bytes = value.as_bytes();
    let separator = bytes.iter().copied().find(|b| matches!(b, b' ' | b'-'));
    let mut digits = 0;
    let mut sum = 0u32;
    let mut previous_separator = true;
    // Luhn from the right: every second digit doubled, 10 to 18 folded.
    for &b in bytes.iter().rev() {
        if b.is_ascii_digit() {
            let d = u32::from(b - b'0');
            sum += if digits % 2 == 1 {
                if d > 4 {
                    2 * d - 9
                } else {
                    2 * d
                }
            } else {
                d
            };
            digits += 1;
            previous_separator = false;
        } else if Some(b) == separator && !previous_separator {
            previous_separator = true;
        } else {
            return false;
        }
    }
    !previous_separator && (12..=19).contains(&digits) && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_lengths_are_sorted_and_fit() {
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(IBAN_LENGTHS
            .iter()
            .all(|(_, n)| usize::from(*n) <= IBAN_MAX));
    }

    #[test]
    fn recent_registry_entries() {
        // The registry's examples for its newest entries, by effective date:
        // Honduras (October 2024), Yemen (July 2024), Oman (March 2024), the
        // Falkland Islands (July 2023) and Russia (April 2023).
        for iban in [
            "HN88CABF00000000000250005469",
            "HN88 CABF 0000 0000 0002 5000 5469",
            "YE15CBYE0001018861234567891234",
            "YE15 CBYE 0001 0188 6123 4567 8912 34",
            "OM810180000001299123456",
            "FK88SC123456789012",
            "RU0304452522540817810538091310419",
        ] {
            assert!(is_iban(iban), "{iban} should pass");
        }
        // Check digits that pass, but one character short of or past the
        // country's length.
        for iban in [
            "HN67CABF0000000000025000546",
            "HN56CABF000000000002500054690",
            "YE88CBYE000101886123456789123",
            "OM43018000000129912345",
        ] {
            assert!(!is_iban(iban), "{iban} should fail");
        }
    }
}
