//! Postal codes by country, in the form each postal service prints them.
//! The facts (which letters and ranges are in use) follow the postal
//! services' own descriptions as collected by the UPU and Google's
//! libaddressinput; the patterns are written here.

use regex::Regex;

/// Postal code patterns by ISO 3166-1 alpha-2 code, sorted by code. Each is
/// matched against the whole value.
static PATTERNS: &[(&str, &str)] = &[
    // Argentina: the old four digits, or the CPA (province letter, four
    // digits, three letters for the block face).
    ("AR", r"\d{4}|[A-HJ-NP-Z]\d{4}[A-Z]{3}"),
    ("AT", r"[1-9]\d{3}"),
    ("AU", r"\d{4}"),
    ("BE", r"[1-9]\d{3}"),
    ("BG", r"[1-9]\d{3}"),
    ("BR", r"\d{5}-\d{3}"),
    // Canada: A1A 1A1 without D, F, I, O, Q, U anywhere and W, Z first.
    (
        "CA",
        r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d",
    ),
    ("CH", r"[1-9]\d{3}"),
    ("CL", r"\d{7}"),
    ("CN", r"\d{6}"),
    ("CO", r"\d{6}"),
    // Czechia and Slovakia share the 123 45 layout but not the ranges.
    ("CZ", r"[1-7]\d{2} \d{2}"),
    ("DE", r"(?:0[1-9]|[1-9]\d)\d{3}"),
    ("DK", r"\d{4}"),
    ("EE", r"\d{5}"),
    ("EG", r"\d{5}"),
    // Spain: the first two digits are the province, 01 to 52.
    ("ES", r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}"),
    ("FI", r"\d{5}"),
    ("FR", r"(?:0[1-9]|[1-8]\d|9[0-8])\d{3}"),
    // United Kingdom: outward code (A9, A99, AA9, AA99, A9A, AA9A with the
    // letters Royal Mail allows in each position), space, inward code (a
    // digit and two letters without C, I, K, M, O, V); and GIR 0AA.
    (
        "GB",
        r"GIR 0AA|(?:[A-PR-UWYZ](?:\d\d?|[A-HK-Y]\d\d?|\d[A-HJKPSTUW]|[A-HK-Y]\d[ABEHMNPRV-Y])) \d[ABD-HJLNP-UW-Z]{2}",
    ),
    ("GR", r"\d{3} \d{2}"),
    ("HR", r"[1-5]\d{4}"),
    ("HU", r"[1-9]\d{3}"),
    ("ID", r"[1-9]\d{4}"),
    // Ireland's Eircode: routing key (a letter and two digits, or D6W),
    // space, four characters from the Eircode alphabet.
    ("IE", r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W) [0-9AC-FHKNPRTV-Y]{4}"),
    ("IL", r"\d{7}"),
    ("IN", r"[1-9]\d{5}"),
    ("IS", r"\d{3}"),
    ("IT", r"\d{5}"),
    ("JP", r"\d{3}-\d{4}"),
    ("KR", r"\d{5}"),
    ("LI", r"94(?:8[5-9]|9[0-8])"),
    // Lithuania and Latvia print their codes with the country prefix.
    ("LT", r"LT-\d{5}"),
    ("LU", r"\d{4}"),
    ("LV", r"LV-\d{4}"),
    ("MA", r"\d{5}"),
    ("MX", r"\d{5}"),
    ("MY", r"\d{5}"),
    // Netherlands: 1234 AB, where PostNL leaves out SA, SD and SS.
    ("NL", r"[1-9]\d{3} (?:[A-RT-Z][A-Z]|S[BCE-RT-Z])"),
    ("NO", r"\d{4}"),
    ("NZ", r"\d{4}"),
    ("PH", r"\d{4}"),
    ("PK", r"\d{5}"),
    ("PL", r"\d{2}-\d{3}"),
    ("PT", r"[1-9]\d{3}-\d{3}"),
    ("RO", r"\d{6}"),
    ("RS", r"\d{5}"),
    ("RU", r"[1-6]\d{5}"),
    ("SA", r"\d{5}(?:-\d{4})?"),
    ("SE", r"[1-9]\d{2} \d{2}"),
    ("SG", r"\d{6}"),
    ("SI", r"\d{4}"),
    ("SK", r"[089]\d{2} \d{2}"),
    ("TH", r"[1-9]\d{4}"),
    // Turkey: the first two digits are the province, 01 to 81.
    ("TR", r"(?:0[1-9]|[1-7]\d|8[01])\d{3}"),
    ("TW", r"\d{3}(?:\d{2,3})?"),
    ("UA", r"\d{5}"),
    ("US", r"\d{5}(?:-\d{4})?"),
    ("ZA", r"\d{4}"),
];

/// Countries and territories whose postal services use no postal codes.
static WITHOUT_CODES: &[&str] = &[
    "AE", "AG", "AO", "AW", "BS", "BZ", "CW", "FJ", "HK", "KI", "MO", "QA", "SB", "SR", "TV", "UG",
    "VU", "ZW",
];

/// The whole-value pattern for `country`'s postal codes.
pub(super) fn compile(country: &str) -> Result<Regex, (&'static str, String)> {
    let Ok(i) = PATTERNS.binary_search_by_key(&country, |(code, _)| code) else {
        let why = if WITHOUT_CODES.contains(&country) {
            format!("{country:?} has no postal codes")
        } else {
            let known: Vec<&str> = PATTERNS.iter().map(|(code, _)| *code).collect();
            let known = known.join(", ");
            format!("no postal code format for {country:?}; known: {known}")
        };
        return Err(("country", why));
    };
    let pattern = format!(r"\A(?:{})\z", PATTERNS[i].1);
    // The patterns are ASCII: Unicode classes would make \d match other
    // scripts' digits.
    regex::RegexBuilder::new(&pattern)
        .unicode(false)
        .build()
        .map_err(|e| ("country", format!("internal pattern for {country}: {e}")))
}

#[cfg(test)]
pub(super) fn countries() -> impl Iterator<Item = &'static str> {
    PATTERNS.iter().map(|(code, _)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_the_table_is_sorted() {
        assert!(PATTERNS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(WITHOUT_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(PATTERNS.len() >= 40, "{}", PATTERNS.len());
        for (code, _) in PATTERNS {
            assert!(!WITHOUT_CODES.contains(code), "{code}");
            compile(code).unwrap();
        }
    }
}
