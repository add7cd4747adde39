//! `order_value_buckets`: orders and revenue per order-value bucket.
//!
//! Bucket `i` holds totals in `(edges[i], edges[i+1]]` and the last bucket
//! everything above the last edge, like `pandas.cut` with right-closed bins;
//! a total equal to the first edge goes to the first bucket. Null totals and
//! totals below the first edge are left out, of the counts and of the share.

use polars::prelude::*;

use super::money::{self, MoneyType};
use super::{column, Batch, Kernel};
use crate::error::{CoreError, Result};

pub struct OrderValueBuckets {
    /// Lower edges in millionths, strictly increasing.
    edges: Vec<i128>,
    labels: Vec<String>,
    column: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BucketState {
    orders: Vec<u64>,
    micros: Vec<i128>,
    money: MoneyType,
}

impl OrderValueBuckets {
    /// `edges` as text (exact: `"99.95"`), one lower edge per label.
    pub fn new(edges: &[String], labels: &[String], column: &str) -> Result<Self> {
        if edges.len() != labels.len() || labels.is_empty() {
            return Err(CoreError::config(
                "edges",
                "edges and labels need the same, non-zero length (one lower edge per label)",
            ));
        }
        let parsed = edges
            .iter()
            .map(|e| {
                money::parse(e).ok_or_else(|| {
                    CoreError::config(
                        "edges",
                        format!("{e:?} is not an amount (up to 6 decimals)"),
                    )
                })
            })
            .collect::<Result<Vec<i128>>>()?;
        if parsed.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CoreError::config(
                "edges",
                format!("must increase strictly, got {edges:?}"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if !labels.iter().all(|l| seen.insert(l)) {
            return Err(CoreError::config(
                "labels",
                format!("must be unique, got {labels:?}"),
            ));
        }
        Ok(OrderValueBuckets {
            edges: parsed,
            labels: labels.to_vec(),
            column: column.to_string(),
        })
    }

    /// The label of each amount of `s` (null below the first edge, or for null).
    pub fn labels_of(&self, s: &Series) -> Result<Series> {
        let (amounts, _) = money::amounts(s)?;
        let labels: Vec<Option<&str>> = amounts
            .iter()
            .map(|v| {
                v.and_then(|v| self.bucket(v))
                    .map(|b| self.labels[b].as_str())
            })
            .collect();
        Ok(Series::new(s.name().clone(), labels))
    }

    /// The bucket of an amount, or `None` below the first edge.
    fn bucket(&self, v: i128) -> Option<usize> {
        if v < self.edges[0] {
            return None;
        }
        // The first edge whose value is >= v closes the bucket before it.
        let at = self.edges[1..].partition_point(|e| *e < v);
        Some(at)
    }
}

impl Kernel for OrderValueBuckets {
    type Partial = BucketState;

    fn empty(&self) -> BucketState {
        BucketState {
            orders: vec![0; self.labels.len()],
            micros: vec![0; self.labels.len()],
            money: MoneyType::default(),
        }
    }

    fn partial(&self, batch: Batch<'_>) -> Result<BucketState> {
        let (values, money) = money::micros(column(batch.orders, "orders", &self.column)?)?;
        let mut st = self.empty();
        st.money = money;
        for v in values.into_iter().flatten() {
            if let Some(b) = self.bucket(v) {
                st.orders[b] += 1;
                st.micros[b] += v;
            }
        }
        Ok(st)
    }

    fn merge(&self, mut a: BucketState, b: BucketState) -> BucketState {
        for i in 0..a.orders.len() {
            a.orders[i] += b.orders[i];
            a.micros[i] += b.micros[i];
        }
        a.money = a.money.merge(b.money);
        a
    }

    fn finalize(&self, st: &BucketState) -> Result<DataFrame> {
        let total: u64 = st.orders.iter().sum();
        let share: Vec<Option<f64>> = st
            .orders
            .iter()
            .map(|n| (total > 0).then(|| *n as f64 / total as f64))
            .collect();
        let money = st.money.settled();
        Ok(DataFrame::new_infer_height(vec![
            Series::new("bucket".into(), self.labels.clone()).into(),
            Series::new(
                "orders".into(),
                st.orders.iter().map(|n| *n as i64).collect::<Vec<i64>>(),
            )
            .into(),
            money.series("revenue", &st.micros)?.into(),
            Series::new("share_of_orders".into(), share).into(),
        ])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> OrderValueBuckets {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        OrderValueBuckets::new(
            &s(&["0", "50", "100", "200"]),
            &s(&["Low", "Medium", "High", "Premium"]),
            "total_price",
        )
        .unwrap()
    }

    fn frame(cents: &[Option<i128>]) -> DataFrame {
        let s = Series::new("total_price".into(), cents.to_vec())
            .into_decimal(38, 2)
            .unwrap();
        DataFrame::new_infer_height(vec![s.into()]).unwrap()
    }

    #[test]
    fn right_closed_buckets_with_the_first_edge_in_the_first() {
        let k = kernel();
        let df = frame(&[
            Some(0),
            Some(5000),
            Some(5001),
            Some(10000),
            Some(20000),
            Some(20001),
            Some(-1),
            None,
        ]);
        let out = k.run([Batch::orders(&df)]).unwrap();
        let orders: Vec<i64> = out
            .column("orders")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(orders, vec![2, 2, 1, 1]);
        let revenue = out
            .column("revenue")
            .unwrap()
            .as_materialized_series()
            .clone();
        assert_eq!(revenue.dtype(), &DataType::Decimal(38, 2));
        let cents: Vec<i128> = revenue
            .decimal()
            .unwrap()
            .physical()
            .into_no_null_iter()
            .collect();
        assert_eq!(cents, vec![5000, 15001, 20000, 20001]);
        let share = out.column("share_of_orders").unwrap().f64().unwrap().get(0);
        assert_eq!(share, Some(2.0 / 6.0));
    }

    #[test]
    fn any_split_gives_the_same_result() {
        let k = kernel();
        let values: Vec<Option<i128>> = (0..500)
            .map(|i| {
                if i % 37 == 0 {
                    None
                } else {
                    Some((i * 7919) % 30_000 - 100)
                }
            })
            .collect();
        let whole = k.run([Batch::orders(&frame(&values))]).unwrap();
        for size in [1, 3, 64, 499] {
            let parts: Vec<DataFrame> = values.chunks(size).map(frame).collect();
            // merged in a different grouping: right to left
            let states: Vec<BucketState> = parts
                .iter()
                .map(|p| k.partial(Batch::orders(p)).unwrap())
                .collect();
            let merged = states
                .into_iter()
                .rev()
                .fold(k.empty(), |acc, s| k.merge(s, acc));
            assert_eq!(k.finalize(&merged).unwrap(), whole, "batch size {size}");
        }
    }

    #[test]
    fn empty_input_keeps_every_label() {
        let k = kernel();
        let out = k.run([Batch::orders(&frame(&[]))]).unwrap();
        assert_eq!(out.height(), 4);
        assert_eq!(out.column("share_of_orders").unwrap().null_count(), 4);
        assert!(
            OrderValueBuckets::new(&["1".into(), "1".into()], &["a".into(), "b".into()], "t")
                .is_err()
        );
    }
}
