//! `no_outliers`, judged once all the data is in: every value is kept for
//! the fences (quartiles, the median and the mean need them all), and beside
//! them the rows with the lowest and the highest values, with the key columns,
//! so the report's sample shows rows as every other check's does.

use polars::prelude::*;

use super::spec::OutlierMethod;
use super::stats::quantile;
use super::whole::Verdict;
use crate::error::Result;

/// A row kept for the sample: its value, its place in the stream, and what
/// the sample shows of it (the key columns, then the checked column).
struct Kept {
    value: f64,
    row: u64,
    shown: Vec<AnyValue<'static>>,
}

/// The values of an outlier check and its candidate sample rows.
pub struct Outliers {
    values: Vec<f64>,
    /// The `cap` rows with the lowest values, and the `cap` with the highest:
    /// the outliers a sample shows are always among them.
    low: Vec<Kept>,
    high: Vec<Kept>,
    cap: usize,
    /// The sample's columns (the key, then the checked column) and their
    /// types, as the last batch that had them.
    names: Vec<String>,
    dtypes: Vec<DataType>,
}

impl Outliers {
    pub fn new(column: &str, key: &[String], cap: usize) -> Outliers {
        let mut names: Vec<String> = key.iter().filter(|k| *k != column).cloned().collect();
        names.push(column.to_owned());
        Outliers {
            values: Vec::new(),
            low: Vec::new(),
            high: Vec::new(),
            cap,
            dtypes: vec![DataType::Null; names.len()],
            names,
        }
    }

    /// Keeps value `v` of row `i` of `batch` (row `row` of the stream).
    pub fn push(&mut self, v: f64, row: u64, batch: &DataFrame, i: usize) {
        self.values.push(v);
        let (to_low, to_high) = (
            enters(&self.low, v, self.cap, false),
            enters(&self.high, v, self.cap, true),
        );
        if !(to_low || to_high) {
            return;
        }
        let mut shown = Vec::with_capacity(self.names.len());
        for (name, dtype) in self.names.iter().zip(self.dtypes.iter_mut()) {
            match batch.column(name) {
                Ok(c) => {
                    if c.dtype() != &DataType::Null {
                        dtype.clone_from(c.dtype());
                    }
                    shown.push(c.get(i).map_or(AnyValue::Null, |v| v.into_static()));
                }
                Err(_) => shown.push(AnyValue::Null),
            }
        }
        let kept = |shown| Kept {
            value: v,
            row,
            shown,
        };
        if to_low && to_high {
            keep(&mut self.low, kept(shown.clone()), self.cap, false);
            keep(&mut self.high, kept(shown), self.cap, true);
        } else if to_low {
            keep(&mut self.low, kept(shown), self.cap, false);
        } else {
            keep(&mut self.high, kept(shown), self.cap, true);
        }
    }

    /// The verdict over every kept value: how many lie outside the fences,
    /// and a sample of the most extreme of them, in stream order.
    pub fn finish(&mut self, method: OutlierMethod, k: f64) -> Result<Verdict> {
        let mut xs = self.values.clone();
        let n = xs.len();
        let (lo, hi, how) = fences(&mut xs, method, k);
        let outside = |x: f64| n >= 2 && (x < lo || x > hi);
        let bad = self.values.iter().filter(|x| outside(**x)).count();
        // How far outside a fence a value lies, to show the most extreme first.
        let beyond = |x: f64| if x < lo { lo - x } else { x - hi };
        let mut shown: Vec<&Kept> = Vec::new();
        for kept in self.low.iter().chain(self.high.iter()) {
            if outside(kept.value) && !shown.iter().any(|s| s.row == kept.row) {
                shown.push(kept);
            }
        }
        shown.sort_by(|a, b| beyond(b.value).total_cmp(&beyond(a.value)));
        shown.truncate(self.cap);
        shown.sort_by_key(|s| s.row);
        let sample = if shown.is_empty() {
            None
        } else {
            let rows: Vec<u64> = shown.iter().map(|s| s.row).collect();
            let mut cols: Vec<Column> = vec![Series::new("_tf_row".into(), rows).into()];
            for (j, (name, dtype)) in self.names.iter().zip(&self.dtypes).enumerate() {
                let values: Vec<AnyValue> = shown.iter().map(|s| s.shown[j].clone()).collect();
                let s = Series::from_any_values_and_dtype(name.into(), &values, dtype, false)
                    .or_else(|_| Series::from_any_values(name.into(), &values, false))?;
                cols.push(s.into());
            }
            Some(DataFrame::new_infer_height(cols)?)
        };
        Ok(Verdict {
            failed: bad > 0,
            observed: format!("{bad} outside [{lo:.6}, {hi:.6}] ({how})"),
            failing: Some(bad as u64),
            sample,
        })
    }
}

/// The fences values must lie within, and what they were computed from.
fn fences(xs: &mut [f64], method: OutlierMethod, k: f64) -> (f64, f64, String) {
    let n = xs.len();
    match method {
        OutlierMethod::Zscore => {
            let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
            let var =
                xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n.max(2) - 1) as f64;
            let sd = var.sqrt();
            (
                mean - k * sd,
                mean + k * sd,
                format!("mean {mean:.6}, stddev {sd:.6}"),
            )
        }
        OutlierMethod::Iqr => {
            let q1 = quantile(xs, 0.25).unwrap_or(0.0);
            let q3 = quantile(xs, 0.75).unwrap_or(0.0);
            let iqr = q3 - q1;
            (q1 - k * iqr, q3 + k * iqr, format!("Q1 {q1}, Q3 {q3}"))
        }
        OutlierMethod::Mad => {
            let med = quantile(xs, 0.5).unwrap_or(0.0);
            let mut dev: Vec<f64> = xs.iter().map(|x| (x - med).abs()).collect();
            let mad = quantile(&mut dev, 0.5).unwrap_or(0.0) * 1.4826;
            (
                med - k * mad,
                med + k * mad,
                format!("median {med}, scaled MAD {mad:.6}"),
            )
        }
    }
}

/// The kept row whose value is the least extreme (the next to leave).
fn least_extreme(kept: &[Kept], high: bool) -> Option<usize> {
    let order = |a: &&Kept, b: &&Kept| a.value.total_cmp(&b.value);
    let found = if high {
        kept.iter().enumerate().min_by(|a, b| order(&a.1, &b.1))
    } else {
        kept.iter().enumerate().max_by(|a, b| order(&a.1, &b.1))
    };
    found.map(|(i, _)| i)
}

/// Whether `v` is among the `cap` lowest (or highest) values kept so far;
/// of equal values, the earlier row stays.
fn enters(kept: &[Kept], v: f64, cap: usize, high: bool) -> bool {
    if cap == 0 {
        return false;
    }
    if kept.len() < cap {
        return true;
    }
    let worst = least_extreme(kept, high).map_or(v, |i| kept[i].value);
    if high {
        v > worst
    } else {
        v < worst
    }
}

fn keep(kept: &mut Vec<Kept>, row: Kept, cap: usize, high: bool) {
    if kept.len() < cap {
        kept.push(row);
    } else if let Some(i) = least_extreme(kept, high) {
        kept[i] = row;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(values: &[f64], cap: usize) -> (u64, Vec<u64>) {
        let frame = df!("id" => (0..values.len() as i64).collect::<Vec<_>>(), "x" => values)
            .expect("frame");
        let mut o = Outliers::new("x", &["id".to_owned()], cap);
        for (i, v) in values.iter().enumerate() {
            o.push(*v, i as u64, &frame, i);
        }
        let v = o.finish(OutlierMethod::Iqr, 1.5).expect("verdict");
        let rows = v.sample.map_or(Vec::new(), |s| {
            s.column("id")
                .expect("key shown")
                .i64()
                .expect("ints")
                .into_no_null_iter()
                .map(|x| x as u64)
                .collect()
        });
        (v.failing.unwrap_or(0), rows)
    }

    #[test]
    fn the_sample_holds_the_most_extreme_outliers_with_their_keys() {
        let mut values = vec![10.0; 20];
        values[3] = 1000.0;
        values[7] = -50.0;
        values[12] = 90.0;
        values[15] = 2000.0;
        // All four are outliers; a sample of two keeps the farthest, in stream order.
        assert_eq!(judged(&values, 2), (4, vec![3, 15]));
        assert_eq!(judged(&values, 10), (4, vec![3, 7, 12, 15]));
        assert_eq!(judged(&values, 0), (4, vec![]));
        assert_eq!(judged(&[5.0], 10), (0, vec![]));
    }
}
