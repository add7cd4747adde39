//! Byte-level mutations: flips, inserts, deletes, repeats, splices and the
//! format's own tokens, plus the bytes parsers most often get wrong.

use fastrand::Rng;

/// Bytes and sequences that break parsers: NUL, BOMs, line ends, quotes,
/// escapes, broken and unusual UTF-8, numbers at and past every limit.
pub const SPECIAL: &[&[u8]] = &[
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xFE\xFF",
    b"\r\n",
    b"\r",
    b"\n",
    b"\"",
    b"\"\"",
    b"'",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\ude00",
    b"\\uFFFF",
    b"\xC3",
    b"\xC0\x80",
    b"\xED\xA0\x80",
    b"\xF4\x90\x80\x80",
    b"\xF0\x9F\x98\x80",
    "\u{202E}".as_bytes(),
    "\u{0301}".as_bytes(),
    "\u{FEFF}".as_bytes(),
    "\u{2028}".as_bytes(),
    "ß".as_bytes(),
    "İ".as_bytes(),
    b"\t",
    b"\x1b",
    b"\x7f",
];

/// Numbers at and past every limit, and texts that look like numbers or times.
pub const NUMBERS: &[&[u8]] = &[
    b"0",
    b"-0",
    b"-1",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"123456789012345678901234567890",
    b"99999999999999999999999999999999999999999",
    b"0.1",
    b"1.7976931348623157e308",
    b"4.9e-324",
    b"NaN",
    b"Infinity",
    b"-inf",
    b"1e18446744073709551616",
    b"1,234.56",
    b"1.234,56",
    b"2024-02-29T23:59:60Z",
    b"2024-01-01",
    b"9999-12-31T23:59:59.999999999+14:00",
    b"-262144-01-01T00:00:00Z",
    b"0000-00-00",
];
fn cut(rng: &mut Rng, len: usize) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let a = rng.usize(..len);
    let span = 1 + rng.usize(..(len - a).min(64));
    (a, a + span)
}

fn token<'a>(rng: &mut Rng, dict: &[&'a [u8]]) -> &'a [u8]
where
    'static: 'a,
{
    match rng.u8(..4) {
        0 | 1 if !dict.is_empty() => dict[rng.usize(..dict.len())],
        2 => NUMBERS[rng.usize(..NUMBERS.len())],
        _ => SPECIAL[rng.usize(..SPECIAL.len())],
    }
}

/// A mutant of `base`: one to a few edits, `other` spliced in sometimes.
pub fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], dict: &[&[u8]], max_len: usize) -> Vec<u8> {
    let mut d = base.to_vec();
    // Mostly one or two edits, now and then up to eight.
    let edits = match rng.u8(..8) {
        0..=3 => 1,
        4..=5 => 2,
        6 => 3 + rng.usize(..3),
        _ => 6 + rng.usize(..3),
    };
    for _ in 0..edits {
        let len = d.len();
        let at = rng.usize(..=len);
        match rng.u8(..13) {
            0 if len > 0 => {
                let i = rng.usize(..len);
                d[i] ^= 1 << rng.u8(..8);
            }
            1 if len > 0 => {
                let i = rng.usize(..len);
                d[i] = rng.u8(..);
            }
            2 => {
                let n = 1 + rng.usize(..8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
                d.splice(at..at, bytes);
            }
            3 | 4 if len > 0 => {
                let (a, b) = cut(rng, len);
                d.drain(a..b);
            }
            5 if len > 0 => {
                // A piece repeated: long runs, deep nesting, many columns.
                let (a, b) = cut(rng, len);
                let piece = d[a..b].to_vec();
                let times = [2, 3, 10, 100, 1000][rng.usize(..5)];
                let at = rng.usize(..=d.len());
                d.splice(at..at, piece.repeat(times));
            }
            6 | 7 => {
                let t = token(rng, dict).to_vec();
                d.splice(at..at, t);
            }
            8 if len > 0 => {
                let t = token(rng, dict).to_vec();
                let (a, b) = cut(rng, len);
                d.splice(a..b, t);
            }
            9 if !other.is_empty() => {
                // Splice: our head, the other input's tail.
                let from = rng.usize(..other.len());
                d.truncate(at);
                d.extend_from_slice(&other[from..]);
            }
            10 if len > 0 => {
                // A run of digits replaced by a number at some limit.
                let i = rng.usize(..len);
                if let Some(start) = (i..len).find(|&j| d[j].is_ascii_digit()) {
                    let end = (start..len)
                        .find(|&j| !d[j].is_ascii_digit())
                        .unwrap_or(len);
                    let n = NUMBERS[rng.usize(..NUMBERS.len())].to_vec();
                    d.splice(start..end, n);
                }
            }
            11 => {
                let open: &[u8] = [&b"["[..], b"{\"a\":", b"[{\"x\":"][rng.usize(..3)];
                let times = [10, 127, 128, 129, 300, 5000][rng.usize(..6)];
                d.splice(at..at, open.repeat(times));
            }
            12 if len > 1 => {
                // A piece moved elsewhere.
                let (a, b) = cut(rng, len);
                let piece: Vec<u8> = d.drain(a..b).collect();
                let at = rng.usize(..=d.len());
                d.splice(at..at, piece);
            }
            _ => {
                let t = token(rng, dict).to_vec();
                d.splice(at..at, t);
            }
        }
    }
    d.truncate(max_len);
    d
}
