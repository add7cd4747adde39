//! Text cells of CSV and Excel files: what type a value has, whether it
//! fits a column's type, and its value once the column's type is settled.
//!
//! Inference mirrors the normalizer's lattice ([`ColType::widen`]): ints
//! widen to decimals and floats, dates to timestamps, and anything mixed
//! with what it cannot hold becomes text. Beyond i64 an integer is an exact
//! 38-digit decimal, beyond that a float.

use polars::prelude::*;

use crate::error::{CoreError, Result};
use crate::normalize::infer::{parse_date, parse_decimal, parse_timestamp, MAX_DECIMAL};
use crate::normalize::{ColType, NumericStrings};

/// How text is read.
#[derive(Debug, Clone, Copy)]
pub struct TextReading {
    pub timestamps: bool,
    pub numeric: NumericStrings,
    /// Numbers are written `1.234,56` (a decimal comma, dots between thousands).
    pub decimal_comma: bool,
}

/// `"1.234,56"` → `"1234.56"` and `"-0,5"` → `"-0.5"`; None when `s` is not
/// a number written with a decimal comma (or has nothing to change).
pub fn comma_number(s: &str) -> Option<String> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match digits.split_once(',') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let groups: Vec<&str> = int.split('.').collect();
    let grouped = groups.len() > 1;
    let ok = !groups[0].is_empty()
        && groups[0].len() <= if grouped { 3 } else { usize::MAX }
        && groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3);
    if !ok || (!grouped && frac.is_none()) {
        return None;
    }
    let sign = &s[..s.len() - digits.len()];
    let whole: String = groups.concat();
    Some(match frac {
        Some(f) => format!("{sign}{whole}.{f}"),
        None => format!("{sign}{whole}"),
    })
}

/// A column type the user declared; values that do not fit it are bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Bool,
    Int,
    Float,
    Decimal { precision: u8, scale: u8 },
    Date,
    Timestamp,
    Text,
}

impl Pin {
    /// `"decimal(18,2)"`, `"int"`, `"text"`, ... (case-insensitive).
    pub fn parse(column: &str, text: &str) -> Result<Pin> {
        let t = text.trim().to_ascii_lowercase();
        let bad = || {
            CoreError::config(
                format!("columns.{column}"),
                format!(
                    "unknown type {text:?}; use int, double, decimal(p,s), text, bool, date or timestamp"
                ),
            )
        };
        Ok(match t.as_str() {
            "int" | "integer" | "bigint" | "int64" | "long" => Pin::Int,
            "double" | "float" | "float64" | "real" => Pin::Float,
            "text" | "string" | "str" | "varchar" => Pin::Text,
            "bool" | "boolean" => Pin::Bool,
            "date" => Pin::Date,
            "timestamp" | "datetime" | "timestamptz" => Pin::Timestamp,
            _ => {
                let args = t
                    .strip_prefix("decimal")
                    .or_else(|| t.strip_prefix("numeric"))
                    .and_then(|r| r.trim().strip_prefix('('))
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(bad)?;
                let (p, s) = args.split_once(',').ok_or_else(bad)?;
                let precision: u8 = p.trim().parse().map_err(|_| bad())?;
                let scale: u8 = s.trim().parse().map_err(|_| bad())?;
                if precision == 0 || precision > 38 || scale > precision {
                    return Err(CoreError::config(
                        format!("columns.{column}"),
                        format!(
                            "{text:?}: precision must be 1 to 38 and scale at most the precision"
                        ),
                    ));
                }
                Pin::Decimal { precision, scale }
            }
        })
    }

    /// The inference type the pinned column holds.
    pub fn col_type(self) -> ColType {
        match self {
            Pin::Bool => ColType::Bool,
            Pin::Int => ColType::Int,
            Pin::Float => ColType::Float,
            Pin::Decimal { scale, .. } => ColType::Decimal(scale),
            Pin::Date => ColType::Date,
            Pin::Timestamp => ColType::Timestamp,
            Pin::Text => ColType::Str,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Pin::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            other => type_name(other.col_type()),
        }
    }

    /// Whether `s` (trimmed, not null) is a value of this type.
    pub fn accepts(self, s: &str) -> bool {
        match self {
            Pin::Text => true,
            Pin::Bool => parse_bool_loose(s).is_some(),
            Pin::Int => s.parse::<i64>().is_ok(),
            Pin::Float => s.parse::<f64>().is_ok(),
            Pin::Decimal { precision, scale } => match plain_decimal(s) {
                Some((_, int_digits, frac_digits)) => {
                    frac_digits <= scale as usize && int_digits <= (precision - scale) as usize
                }
                None => false,
            },
            Pin::Date => parse_date(s).is_some(),
            Pin::Timestamp => parse_timestamp(s).is_some() || parse_date(s).is_some(),
        }
    }
}

/// The name a column type goes by in messages and in the stored state.
pub fn type_name(t: ColType) -> String {
    match t {
        ColType::Null => "null".into(),
        ColType::Bool => "boolean".into(),
        ColType::Int => "bigint".into(),
        ColType::Float => "double".into(),
        ColType::Decimal(s) => format!("decimal(38,{s})"),
        ColType::Date => "date".into(),
        ColType::Timestamp => "timestamp".into(),
        ColType::Str => "text".into(),
    }
}

/// The inverse of [`type_name`], for types read back from the state.
pub fn parse_type_name(s: &str) -> Option<ColType> {
    Some(match s {
        "null" => ColType::Null,
        "boolean" => ColType::Bool,
        "bigint" => ColType::Int,
        "double" => ColType::Float,
        "date" => ColType::Date,
        "timestamp" => ColType::Timestamp,
        "text" => ColType::Str,
        _ => {
            let scale = s.strip_prefix("decimal(38,")?.strip_suffix(')')?;
            ColType::Decimal(scale.parse().ok()?)
        }
    })
}

fn parse_bool_strict(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_bool_loose(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// `-12.340` → `(-12340, 2, 3)`: digits as an integer, the count of
/// integer digits (leading zeros aside) and of fraction digits.
fn plain_decimal(s: &str) -> Option<(i128, usize, usize)> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(p) => (&digits[..p], &digits[p + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((c - b'0') as i128)?;
    }
    let int_digits = int.iter().skip_while(|&&c| c == b'0').count();
    Some((if neg { -value } else { value }, int_digits, frac.len()))
}

fn is_special_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    t.eq_ignore_ascii_case("nan")
        || t.eq_ignore_ascii_case("inf")
        || t.eq_ignore_ascii_case("infinity")
}

/// Whether `s` is a number in scientific notation (`1.5e-3`).
fn is_exponent_float(s: &str) -> bool {
    let Some(p) = s.find(['e', 'E']) else {
        return false;
    };
    let (mantissa, exp) = (&s[..p], &s[p + 1..]);
    let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
    let m = mantissa.strip_prefix(['-', '+']).unwrap_or(mantissa);
    !exp.is_empty()
        && exp.bytes().all(|c| c.is_ascii_digit())
        && m.bytes().any(|c| c.is_ascii_digit())
        && m.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && m.bytes().filter(|&c| c == b'.').count() <= 1
}

/// Whether `s` is an integer without a leading zero (`007` is a code).
fn integer_digits(s: &str) -> Option<&str> {
    let d = s.strip_prefix(['-', '+']).unwrap_or(s);
    let ok =
        !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()) && (d == "0" || !d.starts_with('0'));
    ok.then_some(d)
}

/// The type a (trimmed, non-null) text value has on its own.
pub fn classify(s: &str, how: TextReading) -> ColType {
    if parse_bool_strict(s).is_some() {
        return ColType::Bool;
    }
    if let Some(digits) = integer_digits(s) {
        if s.parse::<i64>().is_ok() {
            return ColType::Int;
        }
        return if digits.len() <= 38 {
            ColType::Decimal(0)
        } else {
            ColType::Float
        };
    }
    if let Some((_, scale)) = parse_decimal(s, true) {
        return match how.numeric {
            NumericStrings::Decimal => ColType::Decimal(scale),
            NumericStrings::Float => ColType::Float,
            NumericStrings::String => ColType::Str,
        };
    }
    if is_special_float(s) || is_exponent_float(s) {
        return ColType::Float;
    }
    // A plain decimal parse_decimal refused for its size (not for a leading zero).
    if let Some((_, int_digits, frac)) = plain_decimal(s) {
        let d = s.strip_prefix(['-', '+']).unwrap_or(s);
        let code = d.len() > 1 && d.starts_with('0') && !d.starts_with("0.");
        if !code && frac > 0 && int_digits + frac > 0 && how.numeric != NumericStrings::String {
            return ColType::Float;
        }
    }
    if how.timestamps {
        if parse_timestamp(s).is_some() {
            return ColType::Timestamp;
        }
        if parse_date(s).is_some() {
            return ColType::Date;
        }
    }
    ColType::Str
}

/// Whether a value of type `value` fits a column that already holds
/// `column` without turning it into text (numbers widen among themselves,
/// dates into timestamps).
pub fn fits(column: ColType, value: ColType) -> bool {
    matches!(column, ColType::Null | ColType::Str) || column.widen(value) != ColType::Str
}

/// A column's values, parsed in its settled type. `raw` values are the
/// trimmed text (None for null); a value that does not parse is null.
pub fn build_series<'a>(
    name: &str,
    ty: ColType,
    pin: Option<Pin>,
    raw: impl Iterator<Item = Option<&'a str>>,
    untrimmed: impl Iterator<Item = Option<&'a str>>,
    rows: usize,
) -> Result<Series> {
    let name = PlSmallStr::from(name);
    Ok(match ty {
        ColType::Null => Series::full_null(name, rows, &DataType::Null),
        ColType::Bool => {
            let loose = pin.is_some();
            let v: Vec<Option<bool>> = raw
                .map(|s| {
                    s.and_then(|s| {
                        if loose {
                            parse_bool_loose(s)
                        } else {
                            parse_bool_strict(s)
                        }
                    })
                })
                .collect();
            Series::new(name, v)
        }
        ColType::Int => {
            let v: Vec<Option<i64>> = raw.map(|s| s.and_then(|s| s.parse().ok())).collect();
            Series::new(name, v)
        }
        ColType::Float => {
            let v: Vec<Option<f64>> = raw.map(|s| s.and_then(|s| s.parse().ok())).collect();
            Series::new(name, v)
        }
        ColType::Decimal(scale) => {
            let precision = match pin {
                Some(Pin::Decimal { precision, .. }) => precision,
                _ => 38,
            };
            let v: Vec<Option<i128>> = raw
                .map(|s| {
                    let (v, _, frac) = plain_decimal(s?)?;
                    let up = (scale as usize).checked_sub(frac)?;
                    let out = v.checked_mul(10i128.checked_pow(up as u32)?)?;
                    (out.abs() <= MAX_DECIMAL).then_some(out)
                })
                .collect();
            Series::new(name, v).into_decimal(precision as usize, scale as usize)?
        }
        ColType::Date => {
            let v: Vec<Option<i32>> = raw.map(|s| s.and_then(parse_date)).collect();
            Series::new(name, v).into_date()
        }
        ColType::Timestamp => {
            let v: Vec<Option<i64>> = raw
                .map(|s| {
                    let s = s?;
                    parse_timestamp(s).or_else(|| parse_date(s).map(|d| d as i64 * 86_400_000_000))
                })
                .collect();
            Series::new(name, v).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        }
        ColType::Str => StringChunked::from_iter_options(name, untrimmed).into_series(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOW: TextReading = TextReading {
        timestamps: true,
        numeric: NumericStrings::Decimal,
        decimal_comma: false,
    };

    #[test]
    fn decimal_commas() {
        assert_eq!(comma_number("12,50").as_deref(), Some("12.50"));
        assert_eq!(comma_number("-1.234,5").as_deref(), Some("-1234.5"));
        assert_eq!(comma_number("1.234.567").as_deref(), Some("1234567"));
        assert_eq!(comma_number("42"), None);
        assert_eq!(comma_number("1.5"), None);
        assert_eq!(comma_number("12.34,5"), None);
        assert_eq!(comma_number("1,2,3"), None);
        assert_eq!(comma_number("abc,5"), None);
        assert_eq!(comma_number(",5"), None);
        assert_eq!(comma_number("5,"), None);
    }

    #[test]
    fn classifies_text_values() {
        use ColType::*;
        let cases = [
            ("42", Int),
            ("-7", Int),
            ("0", Int),
            ("007", Str),
            ("01234", Str),
            ("12.50", Decimal(2)),
            ("-0.5", Decimal(1)),
            ("9223372036854775808", Decimal(0)),
            ("123456789012345678901234567890123456789012", Float),
            ("1e5", Float),
            ("1.5E-3", Float),
            ("NaN", Float),
            ("-inf", Float),
            ("Infinity", Float),
            ("0.1234567890123456789", Float),
            ("true", Bool),
            ("FALSE", Bool),
            ("2024-03-05", Date),
            ("2024-03-05T10:20:30Z", Timestamp),
            ("2024-03-05 10:20:30", Timestamp),
            ("hello", Str),
            ("12,50", Str),
            ("e5", Str),
            ("1.2.3", Str),
        ];
        for (text, want) in cases {
            assert_eq!(classify(text, HOW), want, "{text}");
        }
    }

    #[test]
    fn committed_types_accept_only_what_they_hold() {
        use ColType::*;
        assert!(fits(Int, Decimal(2)));
        assert!(fits(Int, Float));
        assert!(fits(Date, Timestamp));
        assert!(fits(Str, Int));
        assert!(fits(Null, Str));
        assert!(!fits(Int, Str));
        assert!(!fits(Decimal(2), Date));
        assert!(!fits(Bool, Int));
    }

    #[test]
    fn pins() {
        let p = Pin::parse("amount", "Decimal(18, 2)").unwrap();
        assert_eq!(
            p,
            Pin::Decimal {
                precision: 18,
                scale: 2
            }
        );
        assert!(p.accepts("12.5"));
        assert!(p.accepts("-0012.50"));
        assert!(!p.accepts("12.505"));
        assert!(p.accepts("1234567890123456.00"));
        assert!(!p.accepts("12345678901234567"));
        assert!(!p.accepts("abc"));
        assert!(Pin::parse("x", "int").unwrap().accepts("007"));
        assert!(!Pin::parse("x", "int").unwrap().accepts("1.5"));
        assert!(Pin::parse("x", "bool").unwrap().accepts("yes"));
        assert!(Pin::parse("x", "decimal(40,2)").is_err());
        let e = Pin::parse("x", "money").unwrap_err().to_string();
        assert!(e.contains("columns.x") && e.contains("money"), "{e}");
        for t in [
            ColType::Int,
            ColType::Decimal(3),
            ColType::Str,
            ColType::Timestamp,
        ] {
            assert_eq!(parse_type_name(&type_name(t)), Some(t));
        }
    }

    #[test]
    fn builds_series_in_the_settled_type() {
        let vals = [Some("1"), None, Some("2.25")];
        let s = build_series(
            "a",
            ColType::Decimal(2),
            None,
            vals.iter().copied(),
            vals.iter().copied(),
            3,
        )
        .unwrap();
        assert_eq!(s.dtype(), &DataType::Decimal(38, 2));
        assert_eq!(s.get(0).unwrap().to_string(), "1.00");
        assert_eq!(s.get(2).unwrap().to_string(), "2.25");
        let s = build_series(
            "f",
            ColType::Float,
            None,
            [Some("NaN"), Some("1e3")].into_iter(),
            [Some("NaN"), Some("1e3")].into_iter(),
            2,
        )
        .unwrap();
        let v: Vec<f64> = s.f64().unwrap().into_no_null_iter().collect();
        assert!(v[0].is_nan() && v[1] == 1000.0);
    }
}
