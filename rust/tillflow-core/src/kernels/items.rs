//! The line-item side of the daily and product kernels: each titled item of
//! a batch joined to its order's shop day and summed per (day, title).
//!
//! The join follows the layout a load leaves behind: line items sit in the
//! order of their orders, so a cursor over the orders finds almost every
//! parent at the cursor or just past it, and a hash index is built only when
//! it does not. Titles are interned to small integers once per batch, so the
//! per-item work is integer hashing into a table whose hot part (the titles
//! of the current days) stays in cache.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;
use polars::prelude::*;

use super::daily::DailyColumns;
use super::money::{self, MoneyType};
use super::{column, threads, PARALLEL_ROWS};
use crate::error::Result;

pub(super) type FastMap<K, V> = HashMap<K, V, FixedState>;
pub(super) type FastSet<K> = std::collections::HashSet<K, FixedState>;

/// No order: the item's parent is not in the batch (or is null).
const NONE: u32 = u32::MAX;

/// Sums of one (shop day, title) cell.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cell {
    /// Sum of quantity; `None` while every quantity was null.
    pub units: Option<i128>,
    /// Sum of `quantity * price` in millionths; `None` while every product was null.
    pub revenue: Option<i128>,
    /// Orders holding the title (each order counted once per title).
    pub orders: u64,
    /// Sum and count of the non-null prices (for the average).
    pub price_micros: i128,
    pub priced: u64,
}

impl Cell {
    fn absorb(&mut self, o: &Cell) {
        self.units = money::add(self.units, o.units);
        self.revenue = money::add(self.revenue, o.revenue);
        self.orders += o.orders;
        self.price_micros += o.price_micros;
        self.priced += o.priced;
    }
}

/// Line items summed per (shop day number, title); titles are held once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemSums {
    titles: Vec<Box<str>>,
    title_ids: FastMap<Box<str>, u32>,
    cells: FastMap<(i32, u32), Cell>,
    /// The type of the prices summed.
    pub money: MoneyType,
}

impl ItemSums {
    fn title_id(&mut self, title: &str) -> u32 {
        if let Some(id) = self.title_ids.get(title) {
            return *id;
        }
        let id = self.titles.len() as u32;
        self.titles.push(title.into());
        self.title_ids.insert(title.into(), id);
        id
    }

    pub fn merge(&mut self, other: ItemSums) {
        self.money = self.money.merge(other.money);
        let map: Vec<u32> = other.titles.iter().map(|t| self.title_id(t)).collect();
        for ((day, t), cell) in other.cells {
            self.cells
                .entry((day, map[t as usize]))
                .or_default()
                .absorb(&cell);
        }
    }

    /// Every cell as `(day, title, sums)`.
    pub fn cells(&self) -> impl Iterator<Item = (i32, &str, &Cell)> {
        self.cells
            .iter()
            .map(|((day, t), c)| (*day, &*self.titles[*t as usize], c))
    }

    /// Per title, the cells of the days `first..=last` summed.
    pub fn per_title(&self, first: Option<i32>, last: i32) -> Vec<(&str, Cell)> {
        let mut totals: Vec<Option<Cell>> = vec![None; self.titles.len()];
        for ((day, t), c) in &self.cells {
            if *day <= last && first.is_none_or(|f| *day >= f) {
                totals[*t as usize]
                    .get_or_insert_with(Cell::default)
                    .absorb(c);
            }
        }
        totals
            .into_iter()
            .enumerate()
            .filter_map(|(t, c)| Some((&*self.titles[t], c?)))
            .collect()
    }
}

/// The line items of `items` whose order is in `orders` with a shop day
/// (`days`, one per order), summed per (day, title); items without a title
/// are left out. With `count_orders`, each cell also counts the orders
/// holding its title.
pub(super) fn sum_items(
    orders: &DataFrame,
    items: &DataFrame,
    c: &DailyColumns,
    days: &[Option<i32>],
    count_orders: bool,
) -> Result<ItemSums> {
    let order_of = order_of_items(orders, items, c)?;
    let titles = column(items, "line_items", &c.title)?.cast(&DataType::String)?;
    let qty = column(items, "line_items", &c.quantity)?.cast(&DataType::Int64)?;
    let prices = column(items, "line_items", &c.price)?;
    let index = &order_of.index;
    let m = index.len();
    // Slices run on their own threads when each order's items are contiguous
    // (a slice then cuts between orders, so no order is counted twice).
    let t = if order_of.grouped {
        threads().min(m / PARALLEL_ROWS).max(1)
    } else {
        1
    };
    let mut cuts = vec![0usize];
    for i in 1..t {
        let mut at = (i * m / t).max(*cuts.last().expect("a first cut"));
        while at > 0 && at < m && index[at] == index[at - 1] {
            at += 1;
        }
        cuts.push(at);
    }
    cuts.push(m);
    let sum = |lo: usize, hi: usize| {
        let len = hi - lo;
        sum_slice(
            &index[lo..hi],
            &titles.slice(lo as i64, len),
            &qty.slice(lo as i64, len),
            &prices.slice(lo as i64, len),
            days,
            order_of.grouped,
            count_orders,
        )
    };
    if t == 1 {
        return sum(0, m);
    }
    let parts: Vec<Result<ItemSums>> = std::thread::scope(|s| {
        let sum = &sum;
        let handles: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let (lo, hi) = (w[0], w[1]);
                s.spawn(move || sum(lo, hi))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a kernel thread panicked"))
            .collect()
    });
    let mut parts = parts.into_iter();
    let mut acc = parts.next().expect("at least one slice")?;
    for part in parts {
        acc.merge(part?);
    }
    Ok(acc)
}

/// [`sum_items`] over one slice of the items (`index` holds their orders).
fn sum_slice(
    index: &[u32],
    titles: &Series,
    qty: &Series,
    prices: &Series,
    days: &[Option<i32>],
    grouped: bool,
    count_orders: bool,
) -> Result<ItemSums> {
    let (prices, money) = money::amounts(prices)?;
    let mut sums = ItemSums {
        money,
        ..Default::default()
    };
    // Titles by their text in this batch's column, to ids of `sums`.
    let mut local: FastMap<&str, u32> = FastMap::default();
    // Orders counted per title: while items come grouped by order (the
    // usual case) the titles of the current order suffice.
    let mut current = NONE;
    let mut in_current: Vec<u32> = Vec::new();
    let mut counted: FastSet<(u32, u32)> = FastSet::default();
    let rows = index
        .iter()
        .zip(titles.str()?.iter())
        .zip(qty.i64()?.iter())
        .zip(prices.iter());
    for (((&order, title), q), p) in rows {
        let (Some(title), true) = (title, order != NONE) else {
            continue;
        };
        let Some(day) = days[order as usize] else {
            continue;
        };
        let t = match local.get(title) {
            Some(t) => *t,
            None => {
                let t = sums.title_id(title);
                local.insert(title, t);
                t
            }
        };
        let cell = sums.cells.entry((day, t)).or_default();
        cell.units = money::add(cell.units, q.map(i128::from));
        cell.revenue = money::add(cell.revenue, q.zip(p).map(|(q, p)| q as i128 * p));
        if let Some(p) = p {
            cell.price_micros += p;
            cell.priced += 1;
        }
        if count_orders {
            let first = if grouped {
                if order != current {
                    current = order;
                    in_current.clear();
                }
                !in_current.contains(&t) && {
                    in_current.push(t);
                    true
                }
            } else {
                counted.insert((order, t))
            };
            if first {
                cell.orders += 1;
            }
        }
    }
    Ok(sums)
}

/// For each line item, the row of its order in `orders` (or [`NONE`]).
struct OrderOfItems {
    index: Vec<u32>,
    /// Whether every order's items are contiguous (orders never revisited).
    grouped: bool,
}

/// Joins items to orders on `parent_id = order_id`. Integer ids compare as
/// integers, anything else as text; when an order id repeats, its first
/// row is used.
fn order_of_items(orders: &DataFrame, items: &DataFrame, c: &DailyColumns) -> Result<OrderOfItems> {
    let ids = column(orders, "orders", &c.order_id)?;
    let parents = column(items, "line_items", &c.parent_id)?;
    if ids.dtype().is_integer() && parents.dtype().is_integer() {
        let as_u64 = |s: &Series| -> Result<Vec<Option<u64>>> {
            Ok(if s.dtype() == &DataType::UInt64 {
                s.u64()?.iter().collect()
            } else {
                // Signed ids keep their bits: equal values stay equal.
                let s = s.cast(&DataType::Int64)?;
                s.i64()?.iter().map(|v| v.map(|v| v as u64)).collect()
            })
        };
        Ok(align(&as_u64(ids)?, &as_u64(parents)?))
    } else {
        let ids = ids.cast(&DataType::String)?;
        let parents = parents.cast(&DataType::String)?;
        let ids: Vec<Option<&str>> = ids.str()?.iter().collect();
        let parents: Vec<Option<&str>> = parents.str()?.iter().collect();
        Ok(align(&ids, &parents))
    }
}

fn align<K: Copy + Eq + Hash>(ids: &[Option<K>], parents: &[Option<K>]) -> OrderOfItems {
    let mut index = Vec::with_capacity(parents.len());
    let mut by_id: Option<FastMap<K, u32>> = None;
    let mut cursor = 0usize;
    let mut grouped = true;
    let mut last = NONE;
    for p in parents {
        let Some(p) = *p else {
            index.push(NONE);
            continue;
        };
        let at = |i: usize| ids.get(i).is_some_and(|id| *id == Some(p));
        let found = if at(cursor) {
            cursor as u32
        } else if at(cursor + 1) {
            cursor as u32 + 1
        } else {
            let map = by_id.get_or_insert_with(|| {
                let mut m = FastMap::with_capacity_and_hasher(ids.len(), FixedState::default());
                for (i, id) in ids.iter().enumerate() {
                    if let Some(id) = id {
                        m.entry(*id).or_insert(i as u32);
                    }
                }
                m
            });
            map.get(&p).copied().unwrap_or(NONE)
        };
        if found != NONE {
            cursor = found as usize;
            if found != last && last != NONE && found < last {
                grouped = false;
            }
            last = found;
        }
        index.push(found);
    }
    OrderOfItems { index, grouped }
}
