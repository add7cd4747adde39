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
use super::{column, in_threads, threads};
use crate::error::Result;

pub(super) type FastMap<K, V> = HashMap<K, V, FixedState>;
pub(super) type FastSet<K> = std::collections::HashSet<K, FixedState>;

/// No order: the item's parent is not in the batch (or is null).
const NONE: u32 = u32::MAX;

/// Line items per thread below which a batch is summed on one thread (item
/// sums are cheap to merge, so streamed batches of a few 100k rows still split).
const ITEM_SLICE_ROWS: usize = 32_768;

/// Sums of one (shop day, title) cell.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cell {
    /// Line items summed into the cell (0: the title had no item that day).
    pub items: u64,
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
        self.items += o.items;
        self.units = money::add(self.units, o.units);
        self.revenue = money::add(self.revenue, o.revenue);
        self.orders += o.orders;
        self.price_micros += o.price_micros;
        self.priced += o.priced;
    }
}

/// Line items summed per (shop day number, title); titles are held once.
/// Each day holds a dense row of cells indexed by title id: a shop sells
/// from a catalogue, and the rows grow without rehashing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemSums {
    titles: Vec<Box<str>>,
    title_ids: FastMap<Box<str>, u32>,
    days: FastMap<i32, Vec<Cell>>,
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
        let width = self.titles.len();
        for (day, cells) in other.days {
            let row = self.days.entry(day).or_default();
            row.resize(width, Cell::default());
            for (t, cell) in cells.iter().enumerate() {
                if cell.items > 0 {
                    row[map[t] as usize].absorb(cell);
                }
            }
        }
    }

    /// Every cell with items, as `(day, title, sums)`.
    pub fn cells(&self) -> impl Iterator<Item = (i32, &str, &Cell)> {
        self.days.iter().flat_map(move |(day, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, c)| c.items > 0)
                .map(move |(t, c)| (*day, &*self.titles[t], c))
        })
    }

    /// Per title, the cells of the days `first..=last` summed.
    pub fn per_title(&self, first: Option<i32>, last: i32) -> Vec<(&str, Cell)> {
        let mut totals: Vec<Cell> = vec![Cell::default(); self.titles.len()];
        for (day, row) in &self.days {
            if *day <= last && first.is_none_or(|f| *day >= f) {
                for (t, c) in row.iter().enumerate() {
                    totals[t].absorb(c);
                }
            }
        }
        totals
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.items > 0)
            .map(|(t, c)| (&*self.titles[t], c))
            .collect()
    }
}

/// The line items of `items` whose order is in `orders` (with a shop day),
/// summed per (day, title); items without a title are left out. With
/// `count_orders`, each cell also counts the orders holding its title.
pub(super) fn sum_items(
    orders: &OrderIndex,
    items: &DataFrame,
    c: &DailyColumns,
    count_orders: bool,
) -> Result<ItemSums> {
    let order_of = orders.join(items, c)?;
    sum_joined(orders, &order_of, items, c, count_orders)
}

/// [`sum_items`] with the join done.
fn sum_joined(
    orders: &OrderIndex,
    order_of: &OrderOfItems,
    items: &DataFrame,
    c: &DailyColumns,
    count_orders: bool,
) -> Result<ItemSums> {
    let days = &orders.days[..];
    let titles = column(items, "line_items", &c.title)?.cast(&DataType::String)?;
    let qty = column(items, "line_items", &c.quantity)?.cast(&DataType::Int64)?;
    let prices = column(items, "line_items", &c.price)?;
    let index = &order_of.index;
    let m = index.len();
    // Slices run on their own threads when each order's items are contiguous
    // (a slice then cuts between orders, so no order is counted twice).
    let t = if order_of.grouped {
        threads().min(m / ITEM_SLICE_ROWS).max(1)
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
    in_threads(
        t,
        |i| sum(cuts[i], cuts[i + 1]),
        |mut a, b| {
            a.merge(b);
            a
        },
    )
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
    // The row of the current day (items mostly come in time order).
    let mut day_rows: FastMap<i32, Vec<Cell>> = FastMap::default();
    let mut row_day = i32::MIN;
    let mut row: Vec<Cell> = Vec::new();
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
        } as usize;
        if day != row_day {
            if row_day != i32::MIN {
                day_rows.insert(row_day, std::mem::take(&mut row));
            }
            row = day_rows.remove(&day).unwrap_or_default();
            row_day = day;
        }
        if t >= row.len() {
            row.resize(sums.titles.len().max(t + 1), Cell::default());
        }
        let cell = &mut row[t];
        cell.items += 1;
        cell.units = money::add(cell.units, q.map(i128::from));
        cell.revenue = money::add(cell.revenue, q.zip(p).map(|(q, p)| q as i128 * p));
        if let Some(p) = p {
            cell.price_micros += p;
            cell.priced += 1;
        }
        if count_orders {
            let t = t as u32;
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
    if row_day != i32::MIN {
        day_rows.insert(row_day, row);
    }
    sums.days = day_rows;
    Ok(sums)
}

/// For each line item, the row of its order (or [`NONE`]).
pub(super) struct OrderOfItems {
    index: Vec<u32>,
    /// Whether the rows never decrease (so every order's items are contiguous).
    grouped: bool,
}

/// Order ids as a join compares them: integers as integers, anything else as text.
enum Ids {
    Int(Vec<Option<u64>>),
    Text(Vec<Option<Box<str>>>),
}

enum IdMap {
    Int(FastMap<u64, u32>),
    Text(FastMap<Box<str>, u32>),
}

/// A batch's orders made ready for their line items to join: the ids and the
/// shop day of every order. An index serves any number of line-item batches.
pub struct OrderIndex {
    ids: Ids,
    pub(super) days: Vec<Option<i32>>,
    /// Built on the first item the cursor does not find.
    by_id: std::sync::OnceLock<IdMap>,
}

fn as_u64(s: &Series) -> Result<Vec<Option<u64>>> {
    Ok(if s.dtype() == &DataType::UInt64 {
        s.u64()?.iter().collect()
    } else {
        // Signed ids keep their bits: equal values stay equal.
        let s = s.cast(&DataType::Int64)?;
        s.i64()?.iter().map(|v| v.map(|v| v as u64)).collect()
    })
}

impl OrderIndex {
    /// The index of `orders` (their `order_id` column), with their shop days.
    pub(super) fn new(
        orders: &DataFrame,
        c: &DailyColumns,
        days: Vec<Option<i32>>,
    ) -> Result<Self> {
        let ids = column(orders, "orders", &c.order_id)?;
        let ids = if ids.dtype().is_integer() {
            Ids::Int(as_u64(ids)?)
        } else {
            let text = ids.cast(&DataType::String)?;
            Ids::Text(text.str()?.iter().map(|v| v.map(Box::from)).collect())
        };
        Ok(OrderIndex {
            ids,
            days,
            by_id: std::sync::OnceLock::new(),
        })
    }

    /// Joins items on `parent_id = order_id`; when an order id repeats, its
    /// first row is used.
    pub(super) fn join(&self, items: &DataFrame, c: &DailyColumns) -> Result<OrderOfItems> {
        let parents = column(items, "line_items", &c.parent_id)?;
        Ok(match &self.ids {
            Ids::Int(ids) => {
                // Text parents that spell an integer match it; others match nothing.
                let parents = if parents.dtype().is_integer() {
                    as_u64(parents)?
                } else {
                    as_u64(&parents.cast(&DataType::Int64)?)?
                };
                let map = || match self
                    .by_id
                    .get_or_init(|| IdMap::Int(first_rows(ids.iter().copied())))
                {
                    IdMap::Int(m) => m,
                    IdMap::Text(_) => unreachable!("integer ids build an integer map"),
                };
                align(
                    ids.len(),
                    |i, p| ids[i] == Some(*p),
                    |p| map().get(p).copied(),
                    parents.into_iter(),
                )
            }
            Ids::Text(ids) => {
                let parents = parents.cast(&DataType::String)?;
                let map = || match self
                    .by_id
                    .get_or_init(|| IdMap::Text(first_rows(ids.iter().cloned())))
                {
                    IdMap::Text(m) => m,
                    IdMap::Int(_) => unreachable!("text ids build a text map"),
                };
                align(
                    ids.len(),
                    |i, p: &&str| ids[i].as_deref() == Some(*p),
                    |p| map().get(*p).copied(),
                    parents.str()?.iter(),
                )
            }
        })
    }
}

/// The first row of each id.
fn first_rows<K: Eq + Hash>(ids: impl ExactSizeIterator<Item = Option<K>>) -> FastMap<K, u32> {
    let mut m = FastMap::with_capacity_and_hasher(ids.len(), FixedState::default());
    for (i, id) in ids.enumerate() {
        if let Some(id) = id {
            m.entry(id).or_insert(i as u32);
        }
    }
    m
}

/// The row of each parent: at the cursor or just past it when items follow
/// their orders, else through `lookup`.
fn align<P>(
    n: usize,
    at: impl Fn(usize, &P) -> bool,
    lookup: impl Fn(&P) -> Option<u32>,
    parents: impl Iterator<Item = Option<P>>,
) -> OrderOfItems {
    let mut index = Vec::with_capacity(parents.size_hint().0);
    let mut cursor = 0usize;
    let mut grouped = true;
    let mut last = NONE;
    for p in parents {
        let Some(p) = p else {
            index.push(NONE);
            continue;
        };
        let found = if cursor < n && at(cursor, &p) {
            cursor as u32
        } else if cursor + 1 < n && at(cursor + 1, &p) {
            cursor as u32 + 1
        } else {
            lookup(&p).unwrap_or(NONE)
        };
        if found != NONE {
            cursor = found as usize;
            if last != NONE && found < last {
                grouped = false;
            }
            last = found;
        }
        index.push(found);
    }
    OrderOfItems { index, grouped }
}

/// Line items arriving in batches (as a warehouse hands them out) against
/// one [`OrderIndex`]. Orders may straddle batches: the items of the last
/// order of a batch wait for the next one, so each order is counted once.
/// The items must follow their orders' order (as loads leave them); when
/// they do not, [`ItemStream::finish`] says so and the caller sums all the
/// items at once instead.
pub struct ItemStream {
    index: OrderIndex,
    cols: DailyColumns,
    count_orders: bool,
    sums: ItemSums,
    carry: Option<DataFrame>,
    /// The highest order row summed so far.
    last: Option<u32>,
    in_order: bool,
}

impl ItemStream {
    pub(super) fn new(index: OrderIndex, cols: DailyColumns, count_orders: bool) -> Self {
        ItemStream {
            index,
            cols,
            count_orders,
            sums: ItemSums::default(),
            carry: None,
            last: None,
            in_order: true,
        }
    }

    pub fn push(&mut self, items: &DataFrame) -> Result<()> {
        if !self.in_order {
            return Ok(());
        }
        let frame = match self.carry.take() {
            Some(mut carry) => {
                carry.vstack_mut(items)?;
                carry
            }
            None => items.clone(),
        };
        let order_of = self.index.join(&frame, &self.cols)?;
        // The items of the batch's last order may continue in the next batch
        // (items of no known order are skipped, so they need not wait).
        let rows = &order_of.index;
        let mut cut = rows.len();
        if rows.last().is_some_and(|r| *r != NONE) {
            while cut > 0 && rows[cut - 1] == rows[rows.len() - 1] {
                cut -= 1;
            }
        }
        let head = OrderOfItems {
            index: rows[..cut].to_vec(),
            grouped: order_of.grouped,
        };
        self.sum(&head, &frame.slice(0, cut))?;
        self.carry = Some(frame.slice(cut as i64, rows.len() - cut));
        Ok(())
    }

    fn sum(&mut self, order_of: &OrderOfItems, items: &DataFrame) -> Result<()> {
        let mut known = order_of.index.iter().copied().filter(|r| *r != NONE);
        let (first, last) = (known.clone().next(), known.next_back());
        if !order_of.grouped || first.zip(self.last).is_some_and(|(f, l)| f <= l) {
            self.in_order = false;
            return Ok(());
        }
        if items.height() > 0 {
            let sums = sum_joined(&self.index, order_of, items, &self.cols, self.count_orders)?;
            self.sums.merge(sums);
        }
        self.last = last.or(self.last);
        Ok(())
    }

    /// The sums of every item pushed, or `None` when the items did not
    /// follow their orders' order.
    pub fn finish(mut self) -> Result<Option<ItemSums>> {
        if let Some(carry) = self.carry.take() {
            if self.in_order {
                let order_of = self.index.join(&carry, &self.cols)?;
                self.sum(&order_of, &carry)?;
            }
        }
        Ok(self.in_order.then_some(self.sums))
    }
}
