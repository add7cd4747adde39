//! Null markers a CSV or Excel export may hold as text: the defaults of
//! [`DEFAULT_NULL_VALUES`](super::DEFAULT_NULL_VALUES), and the spellings
//! pandas, R, spreadsheets and other tools write for a missing value that
//! are left out of the defaults (they are words or values as often as they
//! are markers). A column read as text that is mostly one of them most
//! likely lost its nulls: the load summary says so.
//!
//! Counting costs a length check per value, and a lookup in a short list
//! for the short ones: one counter per marker and column, no histogram.

/// The texts a column is warned about when it is mostly one of them.
pub const KNOWN_NULL_MARKERS: &[&str] = &[
    // The defaults, still text with `null_values=[]` or a list of one's own.
    "NA", "N/A", "n/a", "#N/A", "NULL", "null",
    // pandas: str() of None, NaN, pd.NA and NaT, and its read_csv markers.
    "None", "none", "NONE", "nan", "NaN", "NAN", "-nan", "-NaN", "<NA>", "NaT", "#NA", "#N/A N/A",
    // Spreadsheets, SPSS and SAS.
    "#NULL!", "-", "--", "?", ".", "N.A.", "n.a.", "na", "Null",
    // Other tools and languages.
    "nil", "NIL", "(null)", "<null>", "missing", "MISSING",
];

/// A column warns when one marker is more than half of its values (nulls
/// aside) and at least this many of them: a file of a few rows, where a
/// glance at the table shows as much, stays quiet.
pub const MIN_MARKER_VALUES: u64 = 20;

const MARKERS: usize = KNOWN_NULL_MARKERS.len();

/// The longest marker, in bytes: longer values are no marker.
const LONGEST: usize = {
    let mut i = 0;
    let mut longest = 0;
    while i < MARKERS {
        if KNOWN_NULL_MARKERS[i].len() > longest {
            longest = KNOWN_NULL_MARKERS[i].len();
        }
        i += 1;
    }
    longest
};

/// The bytes a marker starts with: most values (numbers, dates, words)
/// are told apart by their first byte alone.
const FIRST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < MARKERS {
        table[KNOWN_NULL_MARKERS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    table
};

fn marker_index(value: &str) -> Option<usize> {
    let first = *value.as_bytes().first()?;
    if value.len() > LONGEST || !FIRST_BYTES[first as usize] {
        return None;
    }
    KNOWN_NULL_MARKERS.iter().position(|m| *m == value)
}

/// How many values one column held, and how many of them were each marker.
#[derive(Debug, Clone)]
pub struct MarkerTally {
    values: u64,
    hits: [u64; MARKERS],
}

impl Default for MarkerTally {
    fn default() -> Self {
        MarkerTally {
            values: 0,
            hits: [0; MARKERS],
        }
    }
}

impl MarkerTally {
    /// Counts one value (trimmed, and not read as null).
    pub fn add(&mut self, value: &str) {
        self.values += 1;
        if let Some(i) = marker_index(value) {
            self.hits[i] += 1;
        }
    }

    pub fn merge(&mut self, other: &MarkerTally) {
        self.values += other.values;
        for (a, b) in self.hits.iter_mut().zip(other.hits.iter()) {
            *a += b;
        }
    }

    /// The marker most of the values are, with its count, when it passes the
    /// threshold (more than half, and at least [`MIN_MARKER_VALUES`]).
    pub fn dominant(&self) -> Option<(&'static str, u64)> {
        let (i, &hits) = self
            .hits
            .iter()
            .enumerate()
            .max_by_key(|&(i, n)| (*n, std::cmp::Reverse(i)))?;
        (hits >= MIN_MARKER_VALUES && hits * 2 > self.values)
            .then_some((KNOWN_NULL_MARKERS[i], hits))
    }

    /// The load summary's warning for `table.column`, read with
    /// `null_values`, when one marker is most of its values.
    pub fn warning(&self, table: &str, column: &str, null_values: &[String]) -> Option<String> {
        let (marker, hits) = self.dominant()?;
        let share = hits * 100 / self.values;
        let wanted: Vec<String> = null_values
            .iter()
            .map(String::as_str)
            .chain([marker])
            .map(quoted)
            .collect();
        Some(format!(
            "{table}.{column}: {} of {} values ({share}%) are {}, a common null marker; \
             pass null_values=[{}] to read them as null",
            thousands(hits),
            thousands(self.values),
            quoted(marker),
            wanted.join(", "),
        ))
    }
}

/// A text in single quotes, as Python and TOML both read it back.
fn quoted(text: &str) -> String {
    if text.contains('\'') && !text.contains(['"', '\\']) {
        return format!("\"{text}\"");
    }
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `7412` as `7,412`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(values: &[(&str, u64)]) -> MarkerTally {
        let mut t = MarkerTally::default();
        for (v, n) in values {
            for _ in 0..*n {
                t.add(v);
            }
        }
        t
    }

    fn defaults() -> Vec<String> {
        super::super::DEFAULT_NULL_VALUES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn a_column_mostly_one_marker_warns_with_its_counts() {
        let t = tally(&[("None", 7412), ("SPRING10", 2000), ("WINTER", 568)]);
        assert_eq!(
            t.warning("orders", "discount_code", &defaults()).unwrap(),
            "orders.discount_code: 7,412 of 9,980 values (74%) are 'None', a common null marker; \
             pass null_values=['NA', 'N/A', 'n/a', '#N/A', 'NULL', 'null', 'None'] to read them as null"
        );
    }

    #[test]
    fn the_threshold_is_more_than_half_and_a_minimum_count() {
        assert!(tally(&[("None", 20), ("x", 19)]).dominant().is_some());
        assert!(tally(&[("None", 20), ("x", 20)]).dominant().is_none());
        assert!(tally(&[("None", 19)]).dominant().is_none());
        assert_eq!(tally(&[("-", 21)]).dominant(), Some(("-", 21)));
    }

    #[test]
    fn markers_are_counted_one_spelling_at_a_time() {
        // 40% None and 40% nan: no one value is most of the column.
        let mixed = tally(&[("None", 40), ("nan", 40), ("x", 20)]);
        assert!(mixed.dominant().is_none());
        let one = tally(&[("None", 60), ("nan", 30), ("x", 10)]);
        assert_eq!(one.dominant(), Some(("None", 60)));
        assert!(tally(&[("none", 30), ("NONE", 30), ("x", 1)])
            .dominant()
            .is_none());
        assert!(tally(&[("Nothing", 50)]).dominant().is_none());
    }

    #[test]
    fn tallies_merge_across_batches() {
        let mut a = tally(&[("NA", 15), ("x", 5)]);
        a.merge(&tally(&[("NA", 15), ("y", 10)]));
        assert_eq!(a.dominant(), Some(("NA", 30)));
        assert_eq!(
            a.warning("t", "c", &[]).unwrap(),
            "t.c: 30 of 45 values (66%) are 'NA', a common null marker; \
             pass null_values=['NA'] to read them as null"
        );
    }

    #[test]
    fn numbers_and_quotes_are_written_to_be_read_back() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(quoted("it's"), "\"it's\"");
        assert_eq!(quoted(r"a\b"), r"'a\\b'");
        assert_eq!(quoted(r#"it's "x""#), r#"'it\'s "x"'"#);
        assert!(KNOWN_NULL_MARKERS
            .iter()
            .all(|m| marker_index(m).is_some_and(|i| KNOWN_NULL_MARKERS[i] == *m)));
        assert_eq!(marker_index(""), None);
        assert_eq!(marker_index("12"), None);
        assert_eq!(marker_index("Nonesuch"), None);
    }
}
