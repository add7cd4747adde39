//! Columns as the checks see them: one physical representation per kind of
//! value, and rule parameters (bounds, accepted values) converted into it
//! once, so the row loops compare plain integers, floats or strings.

use polars::prelude::*;
use polars_arrow::array::{Array, BooleanArray, PrimitiveArray, Utf8ViewArray};

use crate::error::{CoreError, Result};

/// What a column's values mean, which fixes how parameters convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Signed integers (and unsigned up to 32 bits), as i64.
    Int,
    UInt,
    /// Scaled i128 with this many fractional digits.
    Decimal(u32),
    Float,
    /// Days since the epoch, as i64.
    Date,
    /// Ticks of the unit since the epoch, as i64.
    Datetime(TimeUnit),
    Str,
    Bool,
    /// No values at all (a column of nulls).
    Null,
}

impl Domain {
    pub fn describe(self) -> String {
        match self {
            Domain::Int => "an integer column".into(),
            Domain::UInt => "an unsigned integer column".into(),
            Domain::Decimal(s) => format!("a decimal column (scale {s})"),
            Domain::Float => "a float column".into(),
            Domain::Date => "a date column".into(),
            Domain::Datetime(_) => "a datetime column".into(),
            Domain::Str => "a string column".into(),
            Domain::Bool => "a boolean column".into(),
            Domain::Null => "a column of nulls".into(),
        }
    }

    /// Whether values live on the exact integer line (compared as i128).
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            Domain::Int | Domain::UInt | Domain::Decimal(_) | Domain::Date | Domain::Datetime(_)
        )
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Domain::Int | Domain::UInt | Domain::Decimal(_) | Domain::Float
        )
    }
}

/// A column in its physical form: Int64, UInt64, Int128, Float64, String,
/// Boolean or Null.
#[derive(Clone)]
pub struct Col {
    pub name: String,
    pub domain: Domain,
    pub series: Series,
    /// The column's own type (a date, not its days), for showing values.
    pub dtype: DataType,
}

impl Col {
    pub fn bind(rule: &str, field: &str, series: &Series) -> Result<Col> {
        let name = series.name().to_string();
        let dtype = series.dtype().clone();
        let cast = |dt: &DataType| {
            series
                .cast(dt)
                .map_err(|e| CoreError::rule(rule, field, format!("column {name:?}: {e}")))
        };
        let (domain, series) = match series.dtype() {
            DataType::Int64 => (Domain::Int, series.clone()),
            DataType::Int32 | DataType::UInt32 => (Domain::Int, cast(&DataType::Int64)?),
            DataType::UInt64 => (Domain::UInt, series.clone()),
            DataType::Float64 => (Domain::Float, series.clone()),
            DataType::Float32 => (Domain::Float, cast(&DataType::Float64)?),
            DataType::Decimal(_, s) => (
                Domain::Decimal(*s as u32),
                series.to_physical_repr().into_owned(),
            ),
            DataType::Date => (
                Domain::Date,
                series.to_physical_repr().cast(&DataType::Int64)?,
            ),
            DataType::Datetime(tu, _) => (
                Domain::Datetime(*tu),
                series.to_physical_repr().into_owned(),
            ),
            DataType::String => (Domain::Str, series.clone()),
            DataType::Boolean => (Domain::Bool, series.clone()),
            DataType::Null => (Domain::Null, series.clone()),
            other => {
                return Err(CoreError::rule(
                    rule,
                    field,
                    format!("column {name:?} has type {other}, which rules cannot check"),
                ))
            }
        };
        Ok(Col {
            name,
            domain,
            series,
            dtype,
        })
    }

    /// A column of `len` nulls standing in for one a batch left out.
    pub fn nulls(name: &str, len: usize) -> Col {
        Col {
            name: name.to_string(),
            domain: Domain::Null,
            series: Series::full_null(name.into(), len, &DataType::Null),
            dtype: DataType::Null,
        }
    }
}

/// Rows `[start, start + len)` of a physical column as one Arrow array.
#[derive(Clone)]
pub enum Slice {
    I64(PrimitiveArray<i64>),
    U64(PrimitiveArray<u64>),
    I128(PrimitiveArray<i128>),
    F64(PrimitiveArray<f64>),
    Str(Utf8ViewArray),
    Bool(BooleanArray),
    Null,
}

impl Slice {
    pub fn of(col: &Col, start: usize, len: usize) -> Slice {
        let s = col.series.slice(start as i64, len).rechunk();
        fn one<T: PolarsDataType>(ca: &ChunkedArray<T>) -> T::Array
        where
            T::Array: Clone,
        {
            ca.downcast_iter().next().expect("rechunked").clone()
        }
        match col.series.dtype() {
            DataType::Int64 => Slice::I64(one(s.i64().expect("Int64"))),
            DataType::UInt64 => Slice::U64(one(s.u64().expect("UInt64"))),
            DataType::Int128 => Slice::I128(one(s.i128().expect("Int128"))),
            DataType::Float64 => Slice::F64(one(s.f64().expect("Float64"))),
            DataType::String => Slice::Str(one(s.str().expect("String"))),
            DataType::Boolean => Slice::Bool(one(s.bool().expect("Boolean"))),
            _ => Slice::Null,
        }
    }

    /// Whether the value at `i` is null (NaN is not).
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Slice::I64(a) => a.is_null(i),
            Slice::U64(a) => a.is_null(i),
            Slice::I128(a) => a.is_null(i),
            Slice::F64(a) => a.is_null(i),
            Slice::Str(a) => a.is_null(i),
            Slice::Bool(a) => a.is_null(i),
            Slice::Null => true,
        }
    }

    /// The value at `i` on the exact integer line, or `None` for null.
    #[inline]
    pub fn exact(&self, i: usize) -> Option<i128> {
        match self {
            Slice::I64(a) => a.get(i).map(i128::from),
            Slice::U64(a) => a.get(i).map(i128::from),
            Slice::I128(a) => a.get(i),
            _ => None,
        }
    }

    #[inline]
    pub fn float(&self, i: usize, domain: Domain) -> Option<f64> {
        match self {
            Slice::F64(a) => a.get(i),
            Slice::I128(a) => a.get(i).map(|v| {
                let Domain::Decimal(s) = domain else {
                    return v as f64;
                };
                v as f64 / 10f64.powi(s as i32)
            }),
            other => other.exact(i).map(|v| v as f64),
        }
    }
}

/// A number written as text, split into a scaled integer: `floor(x · 10^scale)`
/// and whether that is exact. Saturates far outside i128.
pub fn scaled_floor(text: &str, scale: u32) -> Option<(i128, bool)> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // digits · 10^(shift) where shift = exp + scale - len(frac)
    let digits: String = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let shift = exp as i64 + scale as i64 - frac.len() as i64;
    let (kept, dropped) = if shift >= 0 {
        (
            format!("{digits}{}", "0".repeat(shift.min(60) as usize)),
            "",
        )
    } else {
        let cut = digits.len().saturating_sub((-shift) as usize);
        (digits[..cut].to_string(), &digits[cut..])
    };
    let exact = dropped.bytes().all(|b| b == b'0');
    let mag: i128 = if kept.is_empty() {
        0
    } else if kept.len() > 38 {
        i128::MAX / 2
    } else {
        kept.parse().ok()?
    };
    Some(if neg {
        (if exact { -mag } else { -mag - 1 }, exact)
    } else {
        (mag, exact)
    })
}

/// The ticks a date or timestamp bound stands for in a temporal domain.
pub(super) fn temporal_ticks(text: &str, domain: Domain) -> Option<i128> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let t = text.trim();
    let micros = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if domain == Domain::Date {
            return Some(i128::from(
                (d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days(),
            ));
        }
        d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros()
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.timestamp_micros()
    } else {
        let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()?;
        naive.and_utc().timestamp_micros()
    };
    Some(match domain {
        Domain::Date => i128::from(micros.div_euclid(86_400_000_000)),
        Domain::Datetime(TimeUnit::Milliseconds) => i128::from(micros.div_euclid(1000)),
        Domain::Datetime(TimeUnit::Microseconds) => i128::from(micros),
        Domain::Datetime(TimeUnit::Nanoseconds) => i128::from(micros) * 1000,
        _ => return None,
    })
}

/// Inclusive integer bounds `[lo, hi]` for exact domains; open sides are
/// `i128::MIN`/`MAX`.
#[derive(Debug, Clone, Copy)]
pub struct ExactRange {
    pub lo: i128,
    pub hi: i128,
}

/// `[lo, hi]` bounds for floats with their inclusive flags.
#[derive(Debug, Clone, Copy)]
pub struct FloatRange {
    pub lo: f64,
    pub hi: f64,
    pub lo_inc: bool,
    pub hi_inc: bool,
}

pub enum Range {
    Exact(ExactRange),
    Float(FloatRange),
}

/// Converts `min`/`max` text into a range over `domain`, naming `rule` and the
/// field in any error.
pub fn range(
    rule: &str,
    domain: Domain,
    min: Option<&str>,
    max: Option<&str>,
    min_inc: bool,
    max_inc: bool,
) -> Result<Range> {
    let point = |field: &str, text: &str| -> Result<(i128, bool)> {
        let parsed = match domain {
            Domain::Int | Domain::UInt => scaled_floor(text, 0),
            Domain::Decimal(s) => scaled_floor(text, s),
            Domain::Date | Domain::Datetime(_) => temporal_ticks(text, domain).map(|v| (v, true)),
            _ => None,
        };
        parsed.ok_or_else(|| {
            let want = if matches!(domain, Domain::Date | Domain::Datetime(_)) {
                "an ISO date or timestamp"
            } else {
                "a number"
            };
            CoreError::rule(
                rule,
                field,
                format!("{text:?} is not {want}, as {} needs", domain.describe()),
            )
        })
    };
    match domain {
        Domain::Float => {
            let num = |field: &str, text: &str| -> Result<f64> {
                text.trim()
                    .parse::<f64>()
                    .map_err(|_| CoreError::rule(rule, field, format!("{text:?} is not a number")))
            };
            Ok(Range::Float(FloatRange {
                lo: min
                    .map(|t| num("min", t))
                    .transpose()?
                    .unwrap_or(f64::NEG_INFINITY),
                hi: max
                    .map(|t| num("max", t))
                    .transpose()?
                    .unwrap_or(f64::INFINITY),
                lo_inc: min.is_none() || min_inc,
                hi_inc: max.is_none() || max_inc,
            }))
        }
        d if d.is_exact() => {
            let lo = match min {
                None => i128::MIN,
                Some(t) => {
                    let (f, exact) = point("min", t)?;
                    if exact && min_inc {
                        f
                    } else {
                        f.saturating_add(1)
                    }
                }
            };
            let hi = match max {
                None => i128::MAX,
                Some(t) => {
                    let (f, exact) = point("max", t)?;
                    if exact && !max_inc {
                        f.saturating_sub(1)
                    } else {
                        f
                    }
                }
            };
            Ok(Range::Exact(ExactRange { lo, hi }))
        }
        Domain::Null => Ok(Range::Exact(ExactRange {
            lo: i128::MIN,
            hi: i128::MAX,
        })),
        other => Err(CoreError::rule(
            rule,
            "column",
            format!(
                "between needs a numeric, date or datetime column; this is {}",
                other.describe()
            ),
        )),
    }
}

/// Names the column in a rule error about its values.
pub fn on_column(e: CoreError, column: &str) -> CoreError {
    match e {
        CoreError::Rule {
            rule,
            field,
            message,
        } => CoreError::Rule {
            rule,
            field,
            message: format!("column {column:?}: {message}"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_floor_is_exact() {
        assert_eq!(scaled_floor("0.1", 2), Some((10, true)));
        assert_eq!(scaled_floor("0.125", 2), Some((12, false)));
        assert_eq!(scaled_floor("-0.125", 2), Some((-13, false)));
        assert_eq!(scaled_floor("-3", 0), Some((-3, true)));
        assert_eq!(scaled_floor("1e3", 0), Some((1000, true)));
        assert_eq!(scaled_floor("1.5e-1", 1), Some((1, false)));
        assert_eq!(scaled_floor("10000.0", 0), Some((10000, true)));
        assert_eq!(scaled_floor("abc", 0), None);
        assert_eq!(
            scaled_floor("9223372036854775807", 0),
            Some((i64::MAX as i128, true))
        );
    }

    #[test]
    fn integer_ranges_round_inwards() {
        let Range::Exact(r) =
            range("r", Domain::Int, Some("0.5"), Some("9.5"), true, true).unwrap()
        else {
            panic!()
        };
        assert_eq!((r.lo, r.hi), (1, 9));
        let Range::Exact(r) = range("r", Domain::Int, Some("1"), Some("9"), false, false).unwrap()
        else {
            panic!()
        };
        assert_eq!((r.lo, r.hi), (2, 8));
        let Range::Exact(r) =
            range("r", Domain::Decimal(2), Some("-0.005"), None, true, true).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.lo, 0);
    }

    #[test]
    fn temporal_bounds() {
        assert_eq!(temporal_ticks("1970-01-02", Domain::Date), Some(1));
        assert_eq!(
            temporal_ticks(
                "1970-01-01T00:00:01Z",
                Domain::Datetime(TimeUnit::Milliseconds)
            ),
            Some(1000)
        );
        assert!(range("r", Domain::Str, Some("a"), None, true, true).is_err());
    }
}
