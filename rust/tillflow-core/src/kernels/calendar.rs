//! Shop days: the calendar day an instant belongs to for a shop, in its IANA
//! time zone, with a day that may begin after midnight (a bar closing its
//! day at 04:00), and days as plain numbers for the kernels' tables.

use chrono::{DateTime, Duration, NaiveDate};
use chrono_tz::Tz;
use polars::prelude::*;

use crate::error::{CoreError, Result};

/// Which calendar day an instant belongs to for the shop: a day in its
/// IANA time zone, beginning `day_start` past midnight.
#[derive(Debug, Clone, Copy)]
pub struct ShopCalendar {
    tz: Tz,
    day_start: Duration,
}

impl ShopCalendar {
    pub fn new(tz: &str, day_start: Duration) -> Result<Self> {
        let tz: Tz = tz
            .parse()
            .map_err(|_| CoreError::config("tz", format!("{tz:?} is not an IANA time zone")))?;
        if day_start < Duration::zero() || day_start >= Duration::days(1) {
            return Err(CoreError::config(
                "day_start",
                "must be within the first 24 hours",
            ));
        }
        Ok(ShopCalendar { tz, day_start })
    }

    /// The shop day of each value of a datetime or date column (`None` for null).
    pub fn days(&self, s: &Series) -> Result<Vec<Option<NaiveDate>>> {
        Ok(self
            .day_numbers(s)?
            .into_iter()
            .map(|d| d.map(from_day_number))
            .collect())
    }

    /// [`ShopCalendar::days`] as days since 1970-01-01.
    pub fn day_numbers(&self, s: &Series) -> Result<Vec<Option<i32>>> {
        shop_days(s, &self.tz, self.day_start.num_seconds())
    }
}

const EPOCH_CE_DAYS: i32 = 719_163; // days from 0001-01-01 to 1970-01-01

pub(super) fn day_number(d: NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - EPOCH_CE_DAYS
}

pub(super) fn from_day_number(n: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(n + EPOCH_CE_DAYS).expect("a day within chrono's range")
}

/// The shop day (days since 1970-01-01) of each timestamp in `tz`, days
/// beginning `day_start` seconds past midnight (`None` for null).
///
/// A zone's UTC offset is looked up once per quarter hour of UTC time and
/// kept in a small cache; a quarter hour in which the offset changes (a
/// transition) is looked up per value.
fn shop_days(s: &Series, tz: &Tz, day_start: i64) -> Result<Vec<Option<i32>>> {
    use chrono::Offset;
    const SLOT: i64 = 900;
    const WAYS: usize = 256;
    let offset = |secs: i64| -> Option<i64> {
        let utc = DateTime::from_timestamp(secs, 0)?;
        Some(utc.with_timezone(tz).offset().fix().local_minus_utc() as i64)
    };
    match s.dtype() {
        DataType::Datetime(unit, _) => {
            let per_sec: i64 = match unit {
                TimeUnit::Milliseconds => 1_000,
                TimeUnit::Microseconds => 1_000_000,
                TimeUnit::Nanoseconds => 1_000_000_000,
            };
            let mut cache = [(i64::MIN, 0i64); WAYS];
            let phys = s.to_physical_repr();
            Ok(phys
                .i64()?
                .iter()
                .map(|v| {
                    let secs = v?.div_euclid(per_sec);
                    let slot = secs.div_euclid(SLOT);
                    let way = &mut cache[slot.rem_euclid(WAYS as i64) as usize];
                    let off = if way.0 == slot {
                        way.1
                    } else {
                        let (a, b) = (offset(slot * SLOT)?, offset(slot * SLOT + SLOT - 1)?);
                        if a == b {
                            *way = (slot, a);
                            a
                        } else {
                            offset(secs)?
                        }
                    };
                    Some((secs + off - day_start).div_euclid(86_400) as i32)
                })
                .collect())
        }
        DataType::Date => Ok(s.to_physical_repr().i32()?.iter().collect()),
        other => Err(CoreError::Schema {
            table: "orders".into(),
            message: format!(
                "column {:?} has type {other}; daily metrics need a datetime or date",
                s.name()
            ),
        }),
    }
}
