//! Money summed exactly: every amount becomes an integer count of
//! millionths, so sums do not depend on how rows were split into batches
//! (float addition would).

use polars::prelude::*;

use crate::error::{CoreError, Result};

/// Fractional digits every amount is held at.
pub const SCALE: u32 = 6;
const UNIT: i128 = 1_000_000;

/// What the amounts summed so far were, which decides the output type:
/// decimals keep the widest scale seen (capped at [`SCALE`]); any float
/// makes the result a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyType {
    pub float: bool,
    pub scale: u32,
    /// Whether any amount was seen (an empty input has no type yet).
    pub seen: bool,
}

impl MoneyType {
    pub fn merge(self, other: MoneyType) -> MoneyType {
        MoneyType {
            float: self.float || other.float,
            scale: self.scale.max(other.scale),
            seen: self.seen || other.seen,
        }
    }

    /// The type a metric's money columns take: these amounts', or the
    /// default (decimal, scale 0) when none was seen.
    pub fn settled(self) -> MoneyType {
        if self.seen {
            self
        } else {
            MoneyType::default()
        }
    }

    /// The polars type a sum of these amounts is given in.
    pub fn dtype(self) -> DataType {
        if self.float {
            DataType::Float64
        } else {
            DataType::Decimal(38, self.scale as usize)
        }
    }

    /// Sums in millionths as a column of [`MoneyType::dtype`].
    pub fn series(self, name: &str, micros: &[i128]) -> Result<Series> {
        let v: Vec<Option<i128>> = micros.iter().map(|m| Some(*m)).collect();
        self.series_opt(name, &v)
    }

    /// [`MoneyType::series`] with nulls.
    pub fn series_opt(self, name: &str, micros: &[Option<i128>]) -> Result<Series> {
        let name = PlSmallStr::from(name);
        if self.float {
            let v: Vec<Option<f64>> = micros
                .iter()
                .map(|m| m.map(|m| m as f64 / UNIT as f64))
                .collect();
            return Ok(Series::new(name, v));
        }
        // Every amount of this type is a whole number of 10^-scale units.
        let div = 10i128.pow(SCALE - self.scale);
        let v: Vec<Option<i128>> = micros.iter().map(|m| m.map(|m| m / div)).collect();
        Ok(Series::new(name, v).into_decimal(38, self.scale as usize)?)
    }
}

/// The amounts of a money column in millionths (`None` for null), and their
/// type. Decimals beyond six places round half to even; floats round to the
/// nearest millionth; NaN and infinities are an error naming the column.
pub fn micros(s: &Series) -> Result<(Vec<Option<i128>>, MoneyType)> {
    let (amounts, money) = amounts(s)?;
    Ok((amounts.iter().collect(), money))
}

/// A money column read lazily: [`Amounts::iter`] yields each value in
/// millionths without materializing the column (line items run to tens of
/// millions of rows).
pub struct Amounts {
    kind: AmountKind,
}

enum AmountKind {
    Decimal(Int128Chunked, u32),
    Float(Float64Chunked),
    Int(Int64Chunked),
    Null(usize),
}

impl Amounts {
    pub fn iter(&self) -> Box<dyn Iterator<Item = Option<i128>> + '_> {
        match &self.kind {
            AmountKind::Decimal(ca, scale) => {
                let scale = *scale;
                Box::new(ca.iter().map(move |v| v.map(|v| rescale(v, scale))))
            }
            AmountKind::Float(ca) => Box::new(
                ca.iter()
                    .map(|v| v.map(|x| (x * UNIT as f64).round() as i128)),
            ),
            AmountKind::Int(ca) => Box::new(ca.iter().map(|v| v.map(|v| v as i128 * UNIT))),
            AmountKind::Null(n) => Box::new(std::iter::repeat_n(None, *n)),
        }
    }
}

/// [`micros`] as a lazy reader; the same types, errors and rounding.
pub fn amounts(s: &Series) -> Result<(Amounts, MoneyType)> {
    let name = s.name().to_string();
    let (kind, money) = match s.dtype() {
        DataType::Decimal(_, scale) => {
            let scale = *scale as u32;
            let money = MoneyType {
                float: false,
                scale: scale.min(SCALE),
                seen: true,
            };
            (
                AmountKind::Decimal(s.decimal()?.physical().clone(), scale),
                money,
            )
        }
        DataType::Float64 | DataType::Float32 => {
            let f = s.cast(&DataType::Float64)?.f64()?.clone();
            if let Some(x) = f.iter().flatten().find(|x| !x.is_finite()) {
                return Err(CoreError::Schema {
                    table: name,
                    message: format!("money column holds {x}, which cannot be summed"),
                });
            }
            (
                AmountKind::Float(f),
                MoneyType {
                    float: true,
                    scale: SCALE,
                    seen: true,
                },
            )
        }
        d if d.is_integer() => {
            let i = s.cast(&DataType::Int64)?.i64()?.clone();
            (
                AmountKind::Int(i),
                MoneyType {
                    float: false,
                    scale: 0,
                    seen: true,
                },
            )
        }
        DataType::Null => (AmountKind::Null(s.len()), MoneyType::default()),
        other => {
            return Err(CoreError::Schema {
                table: name,
                message: format!(
                    "money column has type {other}; expected a decimal, float or integer"
                ),
            })
        }
    };
    Ok((Amounts { kind }, money))
}

/// Two sums where `None` means "no value yet" (SQL's `sum` of only nulls).
pub fn add(a: Option<i128>, b: Option<i128>) -> Option<i128> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A decimal at `scale` in millionths, rounding half to even past six places.
fn rescale(v: i128, scale: u32) -> i128 {
    if scale <= SCALE {
        return v * 10i128.pow(SCALE - scale);
    }
    let div = 10i128.pow(scale - SCALE);
    let (q, r) = (v.div_euclid(div), v.rem_euclid(div));
    let twice = 2 * r;
    if twice > div || (twice == div && q % 2 != 0) {
        q + 1
    } else {
        q
    }
}

/// A bound written as text (`"50"`, `"99.95"`) in millionths, exactly.
pub fn parse(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || frac.len() > SCALE as usize
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || int.len() > 24
    {
        return None;
    }
    let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_val: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().ok()? * 10i128.pow(SCALE - frac.len() as u32)
    };
    let v = whole * UNIT + frac_val;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_become_exact_millionths() {
        let d = Series::new("p".into(), [Some(1995i128), None, Some(-5)])
            .into_decimal(38, 2)
            .unwrap();
        let (v, t) = micros(&d).unwrap();
        assert_eq!(v, vec![Some(19_950_000), None, Some(-50_000)]);
        assert_eq!(
            t,
            MoneyType {
                float: false,
                scale: 2,
                seen: true
            }
        );
        let f = Series::new("p".into(), [0.1f64, 0.2, 19.95]);
        let (v, t) = micros(&f).unwrap();
        // 0.1 + 0.2 is exactly 0.3 here, whatever the order.
        assert_eq!(v[0].unwrap() + v[1].unwrap(), 300_000);
        assert!(t.float);
        assert!(micros(&Series::new("p".into(), [f64::NAN])).is_err());
        assert_eq!(rescale(12_345_675, 7), 1_234_568); // half to even, up
        assert_eq!(rescale(12_345_665, 7), 1_234_566); // half to even, down
        assert_eq!(rescale(-15, 7), -2);
    }

    #[test]
    fn bounds_parse_exactly() {
        assert_eq!(parse("50"), Some(50_000_000));
        assert_eq!(parse("99.95"), Some(99_950_000));
        assert_eq!(parse("-0.5"), Some(-500_000));
        assert_eq!(parse("0.0000001"), None);
        assert_eq!(parse("abc"), None);
    }

    #[test]
    fn sums_come_back_in_the_input_type() {
        let t = MoneyType {
            float: false,
            scale: 2,
            seen: true,
        };
        let s = t.series("revenue", &[19_950_000, 0]).unwrap();
        assert_eq!(s.dtype(), &DataType::Decimal(38, 2));
        let f = MoneyType {
            float: true,
            scale: 6,
            seen: true,
        };
        let s = f.series("revenue", &[300_000]).unwrap();
        assert_eq!(s.f64().unwrap().get(0), Some(0.3));
    }
}
