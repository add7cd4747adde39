//! A column that grows row by row and widens its type when a value needs it:
//! widen, never drop. Null < Bool | Int < Decimal < Float, Date < Timestamp,
//! and anything mixed with something it cannot hold becomes text.

use polars::prelude::*;

use super::infer::{parse_date, parse_decimal, parse_timestamp, MAX_DECIMAL};
use super::json::Json;
use super::NumericStrings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Null,
    Bool,
    Int,
    Float,
    /// 38 digits, this many after the point.
    Decimal(u8),
    Date,
    Timestamp,
    Str,
}

impl ColType {
    pub fn widen(self, other: ColType) -> ColType {
        use ColType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, x) | (x, Null) => x,
            (Decimal(a), Decimal(b)) => Decimal(a.max(b)),
            (Int, Float) | (Float, Int) => Float,
            (Int, Decimal(s)) | (Decimal(s), Int) => Decimal(s),
            (Decimal(_), Float) | (Float, Decimal(_)) => Float,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => Str,
        }
    }
}

/// One value, classified.
#[derive(Debug, Clone)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(i128, u8),
    Date(i32),
    Timestamp(i64),
    Str(std::borrow::Cow<'a, str>),
}

impl Cell<'_> {
    fn ty(&self) -> ColType {
        match self {
            Cell::Null => ColType::Null,
            Cell::Bool(_) => ColType::Bool,
            Cell::Int(_) => ColType::Int,
            Cell::Float(_) => ColType::Float,
            Cell::Decimal(_, s) => ColType::Decimal(*s),
            Cell::Date(_) => ColType::Date,
            Cell::Timestamp(_) => ColType::Timestamp,
            Cell::Str(_) => ColType::Str,
        }
    }
}

/// How strings are read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub timestamps: bool,
    pub numeric: NumericStrings,
}

/// Classifies a scalar JSON value for a column currently of type `current`.
pub fn classify<'a>(v: &'a Json<'_>, current: ColType, how: Reading) -> Cell<'a> {
    match v {
        Json::Null => Cell::Null,
        Json::Bool(b) => Cell::Bool(*b),
        Json::Int(i) => Cell::Int(*i),
        // Beyond i64: exact as a 38-digit decimal, and as text past 38 digits.
        Json::UInt(u) => Cell::Decimal(*u as i128, 0),
        Json::BigInt(digits) => match big_int(digits) {
            Some(v) => Cell::Decimal(v, 0),
            None => Cell::Str(std::borrow::Cow::Borrowed(digits)),
        },
        Json::Float(f) => Cell::Float(*f),
        Json::Str(s) => classify_str(s, current, how),
        // Nesting past the limit is kept whole, as JSON text.
        other => Cell::Str(std::borrow::Cow::Owned(other.to_string())),
    }
}

/// Classifies a value for `col`: as [`classify`] does, and a column a
/// schema declared an exact decimal keeps a JSON number exact (its
/// shortest form) rather than widening to a double.
pub fn classify_for<'a>(v: &'a Json<'_>, col: &Column, how: Reading) -> Cell<'a> {
    match (v, col.ty) {
        (Json::Float(f), ColType::Decimal(_)) if col.exact => float_as_decimal(*f),
        _ => classify(v, col.ty, how),
    }
}

/// A double as the decimal its shortest round-trip form spells, or the
/// double itself when that form does not fit 38 digits.
fn float_as_decimal<'a>(f: f64) -> Cell<'a> {
    if f.is_finite() {
        if let Some((v, scale)) = parse_decimal(&f.to_string(), false) {
            return Cell::Decimal(v, scale);
        }
    }
    Cell::Float(f)
}

/// An integer's digits as a value of at most 38 digits.
fn big_int(digits: &str) -> Option<i128> {
    let v: i128 = digits.parse().ok()?;
    (v.unsigned_abs() <= MAX_DECIMAL as u128).then_some(v)
}

fn classify_str<'a>(s: &'a str, current: ColType, how: Reading) -> Cell<'a> {
    use std::borrow::Cow::Borrowed;
    // Once a column is text there is nothing left to infer: the fast path.
    if current == ColType::Str {
        return Cell::Str(Borrowed(s));
    }
    if how.timestamps && matches!(current, ColType::Null | ColType::Date | ColType::Timestamp) {
        if let Some(t) = parse_timestamp(s) {
            return Cell::Timestamp(t);
        }
        if let Some(d) = parse_date(s) {
            return Cell::Date(d);
        }
    }
    if matches!(
        current,
        ColType::Null | ColType::Decimal(_) | ColType::Float
    ) {
        // A column already holding amounts also takes "7" as an amount.
        let need_point = current == ColType::Null;
        match how.numeric {
            NumericStrings::Decimal => {
                if let Some((v, scale)) = parse_decimal(s, need_point) {
                    return Cell::Decimal(v, scale);
                }
            }
            NumericStrings::Float => {
                if parse_decimal(s, need_point).is_some() {
                    if let Ok(f) = s.parse::<f64>() {
                        return Cell::Float(f);
                    }
                }
            }
            NumericStrings::String => {}
        }
    }
    Cell::Str(Borrowed(s))
}

/// Growing storage for one column, in its current type.
#[derive(Debug)]
enum Data {
    Null,
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Decimal(Vec<Option<i128>>),
    Date(Vec<Option<i32>>),
    Timestamp(Vec<Option<i64>>),
    Str(StrData),
}

/// Strings packed in one buffer: one allocation per column, not per value.
#[derive(Debug, Default)]
struct StrData {
    buf: String,
    ends: Vec<usize>,
    valid: Vec<bool>,
}

impl StrData {
    fn push(&mut self, s: Option<&str>) {
        if let Some(s) = s {
            self.buf.push_str(s);
        }
        self.ends.push(self.buf.len());
        self.valid.push(s.is_some());
    }

    fn truncate(&mut self, len: usize) {
        self.ends.truncate(len);
        self.valid.truncate(len);
        self.buf.truncate(self.ends.last().copied().unwrap_or(0));
    }

    fn iter(&self) -> impl Iterator<Item = Option<&str>> {
        let mut start = 0;
        self.ends.iter().zip(&self.valid).map(move |(&end, &ok)| {
            let s = &self.buf[start..end];
            start = end;
            ok.then_some(s)
        })
    }
}

#[derive(Debug)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    /// Declared an exact decimal by a schema (see `pins`).
    pub exact: bool,
    len: usize,
    data: Data,
}

impl Column {
    /// A column that starts as `ty` (its type from earlier batches).
    pub fn new(name: String, ty: ColType) -> Self {
        let mut c = Column {
            name,
            ty: ColType::Null,
            exact: false,
            len: 0,
            data: Data::Null,
        };
        c.convert_to(ty);
        c
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Drops rows from `len` on (undoing a record that failed half-way).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        match &mut self.data {
            Data::Null => {}
            Data::Bool(v) => v.truncate(len),
            Data::Int(v) => v.truncate(len),
            Data::Float(v) => v.truncate(len),
            Data::Decimal(v) => v.truncate(len),
            Data::Date(v) => v.truncate(len),
            Data::Timestamp(v) => v.truncate(len),
            Data::Str(v) => v.truncate(len),
        }
    }

    /// Widens to at least `ty` (the type other batches already have).
    pub fn widen_to(&mut self, ty: ColType) {
        let want = self.ty.widen(ty);
        if want != self.ty {
            self.convert_to(want);
        }
    }

    /// Fills with nulls up to `rows`.
    pub fn pad(&mut self, rows: usize) {
        while self.len < rows {
            self.push_cell(Cell::Null);
        }
    }

    pub fn push_cell(&mut self, cell: Cell<'_>) {
        let want = self.ty.widen(cell.ty());
        if want != self.ty {
            self.convert_to(want);
        }
        // A decimal that no longer fits at the column's scale forces text.
        if let (ColType::Decimal(s), Cell::Decimal(v, vs)) = (self.ty, &cell) {
            if rescale(*v, *vs, s).is_none() {
                self.convert_to(ColType::Str);
            }
        }
        self.len += 1;
        match &mut self.data {
            Data::Null => {}
            Data::Bool(v) => v.push(match cell {
                Cell::Bool(b) => Some(b),
                _ => None,
            }),
            Data::Int(v) => v.push(match cell {
                Cell::Int(i) => Some(i),
                _ => None,
            }),
            Data::Float(v) => v.push(cell_as_f64(&cell)),
            Data::Decimal(v) => {
                let ColType::Decimal(scale) = self.ty else {
                    unreachable!()
                };
                v.push(match cell {
                    Cell::Int(i) => rescale(i as i128, 0, scale),
                    Cell::Decimal(d, s) => rescale(d, s, scale),
                    _ => None,
                })
            }
            Data::Date(v) => v.push(match cell {
                Cell::Date(d) => Some(d),
                _ => None,
            }),
            Data::Timestamp(v) => v.push(match cell {
                Cell::Timestamp(t) => Some(t),
                Cell::Date(d) => Some(d as i64 * 86_400_000_000),
                _ => None,
            }),
            Data::Str(v) => match cell {
                Cell::Null => v.push(None),
                Cell::Str(s) => v.push(Some(&s)),
                other => v.push(Some(&cell_text(&other))),
            },
        }
    }

    /// Rewrites the values held so far in a wider type.
    fn convert_to(&mut self, to: ColType) {
        let n = self.len;
        let old = std::mem::replace(&mut self.data, Data::Null);
        let from = self.ty;
        let cells: Vec<Option<Cell<'static>>> = match old {
            Data::Null => vec![None; n],
            Data::Bool(v) => v.into_iter().map(|x| x.map(Cell::Bool)).collect(),
            Data::Int(v) => v.into_iter().map(|x| x.map(Cell::Int)).collect(),
            Data::Float(v) => v.into_iter().map(|x| x.map(Cell::Float)).collect(),
            Data::Decimal(v) => {
                let ColType::Decimal(s) = from else {
                    unreachable!()
                };
                v.into_iter()
                    .map(|x| x.map(|d| Cell::Decimal(d, s)))
                    .collect()
            }
            Data::Date(v) => v.into_iter().map(|x| x.map(Cell::Date)).collect(),
            Data::Timestamp(v) => v.into_iter().map(|x| x.map(Cell::Timestamp)).collect(),
            Data::Str(v) => v
                .iter()
                .map(|x| x.map(|s| Cell::Str(std::borrow::Cow::Owned(s.to_string()))))
                .collect(),
        };
        self.ty = to;
        self.len = 0;
        self.data = match to {
            ColType::Null => Data::Null,
            ColType::Bool => Data::Bool(Vec::with_capacity(n)),
            ColType::Int => Data::Int(Vec::with_capacity(n)),
            ColType::Float => Data::Float(Vec::with_capacity(n)),
            ColType::Decimal(_) => Data::Decimal(Vec::with_capacity(n)),
            ColType::Date => Data::Date(Vec::with_capacity(n)),
            ColType::Timestamp => Data::Timestamp(Vec::with_capacity(n)),
            ColType::Str => Data::Str(StrData::default()),
        };
        for c in cells {
            self.push_cell(c.unwrap_or(Cell::Null));
        }
    }

    /// Hands over the values as a Series and starts an empty batch in the
    /// same type.
    pub fn take_series(&mut self) -> PolarsResult<Series> {
        let name = PlSmallStr::from(self.name.as_str());
        let data = std::mem::replace(&mut self.data, Data::Null);
        let n = self.len;
        let ty = self.ty;
        self.ty = ColType::Null;
        self.len = 0;
        self.convert_to(ty);
        Ok(match data {
            Data::Null => Series::full_null(name, n, &DataType::Null),
            Data::Bool(v) => Series::new(name, v),
            Data::Int(v) => Series::new(name, v),
            Data::Float(v) => Series::new(name, v),
            Data::Decimal(v) => {
                let ColType::Decimal(scale) = ty else {
                    unreachable!()
                };
                Series::new(name, v).into_decimal(38, scale as usize)?
            }
            Data::Date(v) => Series::new(name, v).into_date(),
            Data::Timestamp(v) => {
                Series::new(name, v).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            }
            Data::Str(v) => StringChunked::from_iter_options(name, v.iter()).into_series(),
        })
    }
}

fn rescale(v: i128, from: u8, to: u8) -> Option<i128> {
    if to < from {
        return None;
    }
    let out = v.checked_mul(10i128.checked_pow((to - from) as u32)?)?;
    (out.abs() <= MAX_DECIMAL).then_some(out)
}

fn cell_as_f64(c: &Cell<'_>) -> Option<f64> {
    match c {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) => Some(*f),
        Cell::Decimal(v, s) => Some(*v as f64 / 10f64.powi(*s as i32)),
        _ => None,
    }
}

/// The text a value takes when its column widens to text.
fn cell_text(c: &Cell<'_>) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Decimal(v, s) => decimal_text(*v, *s),
        Cell::Date(d) => chrono::DateTime::from_timestamp(*d as i64 * 86_400, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        Cell::Timestamp(t) => chrono::DateTime::from_timestamp_micros(*t)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default(),
        Cell::Str(s) => s.to_string(),
    }
}

fn decimal_text(v: i128, scale: u8) -> String {
    if scale == 0 {
        return v.to_string();
    }
    let sign = if v < 0 { "-" } else { "" };
    let digits = format!("{:0>width$}", v.unsigned_abs(), width = scale as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - scale as usize);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOW: Reading = Reading {
        timestamps: true,
        numeric: NumericStrings::Decimal,
    };

    fn push(c: &mut Column, v: serde_json::Value) {
        let v = Json::from_value(&v);
        let cell = classify(&v, c.ty, HOW);
        c.push_cell(cell.clone());
    }

    #[test]
    fn lattice() {
        use ColType::*;
        assert_eq!(Int.widen(Float), Float);
        assert_eq!(Decimal(2).widen(Decimal(3)), Decimal(3));
        assert_eq!(Int.widen(Decimal(2)), Decimal(2));
        assert_eq!(Bool.widen(Int), Str);
        assert_eq!(Date.widen(Timestamp), Timestamp);
        assert_eq!(Null.widen(Date), Date);
        assert_eq!(Timestamp.widen(Int), Str);
    }

    #[test]
    fn widens_int_to_float_to_text_keeping_values() {
        let mut c = Column::new("x".into(), ColType::Null);
        push(&mut c, json!(null));
        push(&mut c, json!(1));
        push(&mut c, json!(2.5));
        assert_eq!(c.ty, ColType::Float);
        push(&mut c, json!("abc"));
        assert_eq!(c.ty, ColType::Str);
        let s = c.take_series().unwrap();
        let v: Vec<Option<&str>> = s.str().unwrap().iter().collect();
        assert_eq!(v, vec![None, Some("1"), Some("2.5"), Some("abc")]);
        // The column keeps its type for the next batch.
        assert_eq!(c.ty, ColType::Str);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn money_strings_become_decimals_and_rescale() {
        let mut c = Column::new("price".into(), ColType::Null);
        push(&mut c, json!("12.34"));
        push(&mut c, json!("7"));
        push(&mut c, json!("0.125"));
        assert_eq!(c.ty, ColType::Decimal(3));
        let s = c.take_series().unwrap();
        assert_eq!(s.dtype(), &DataType::Decimal(38, 3));
        let text: Vec<String> = (0..3).map(|i| s.get(i).unwrap().to_string()).collect();
        assert_eq!(text, vec!["12.340", "7.000", "0.125"]);
    }

    #[test]
    fn huge_integers_stay_exact() {
        let mut c = Column::new("n".into(), ColType::Null);
        push(&mut c, json!(1));
        push(&mut c, json!(u64::MAX));
        assert_eq!(c.ty, ColType::Decimal(0));
        let s = c.take_series().unwrap();
        assert_eq!(s.get(1).unwrap().to_string(), "18446744073709551615");
    }

    #[test]
    fn timestamps_and_dates() {
        let mut c = Column::new("t".into(), ColType::Null);
        push(&mut c, json!("1970-01-02"));
        assert_eq!(c.ty, ColType::Date);
        push(&mut c, json!("1970-01-01T00:00:01Z"));
        assert_eq!(c.ty, ColType::Timestamp);
        let s = c.take_series().unwrap();
        let v: Vec<Option<i64>> = s.to_physical_repr().i64().unwrap().iter().collect();
        assert_eq!(v, vec![Some(86_400_000_000), Some(1_000_000)]);
    }

    #[test]
    fn zip_codes_stay_text() {
        let mut c = Column::new("zip".into(), ColType::Null);
        push(&mut c, json!("01234"));
        push(&mut c, json!("98765"));
        assert_eq!(c.ty, ColType::Str);
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(1234, 2), "12.34");
    }
}
