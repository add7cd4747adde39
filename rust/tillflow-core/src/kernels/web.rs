//! `web_traffic`: a shop's own web analytics from its access logs, per shop
//! day, in the shop's time zone.
//!
//! - **requests**: every logged request; **bot_requests**: those whose user
//!   agent names a crawler or a script ([`is_bot`]);
//! - **page_views**: requests by people (not bots) for a page: `GET`, answered
//!   2xx or 304, whose path (less its query) is not a static asset ([`is_asset`]);
//! - **unique_visitors**: distinct (address, user agent) pairs among people's
//!   requests, estimated with HyperLogLog++ (mergeable across batches; exact
//!   at small counts, about 0.8 % error at scale);
//! - **bytes**, and requests by status class (2xx to 5xx);
//! - top pages (page views by path, query dropped) and top referrers (page
//!   views by `Referer`), over the whole state.
//!
//! Batches are rows of a table loaded by `tl.sources.logs` (Combined format):
//! `time`, `method`, `path`, `status`, `bytes`, `remote_addr`, `user_agent`,
//! and `referer` when present.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use polars::prelude::*;
use xxhash_rust::xxh3::{xxh3_128, Xxh3Builder};

use super::calendar::ShopCalendar;
use super::items::FastMap;
use super::{column, dates_column, values_column, Batch, Kernel};
use crate::error::{CoreError, Result};

const TABLE: &str = "access";
const PRECISION: u8 = 14;

/// User-agent words of crawlers, monitors and scripts (matched case-insensitively).
const BOT_WORDS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "httpclient",
    "go-http-client",
    "headless",
    "lighthouse",
    "facebookexternalhit",
    "preview",
    "monitor",
    "uptime",
];

/// Static files, which are not page views.
const ASSETS: &[&str] = &[
    "css",
    "js",
    "mjs",
    "map",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "svg",
    "ico",
    "webp",
    "avif",
    "woff",
    "woff2",
    "ttf",
    "eot",
    "txt",
    "xml",
    "json",
    "webmanifest",
    "mp4",
    "pdf",
];

/// Whether a user agent is a bot's (a missing one is).
pub fn is_bot(agent: Option<&str>) -> bool {
    match agent {
        None => true,
        Some(a) => {
            let lower = a.to_ascii_lowercase();
            BOT_WORDS.iter().any(|w| lower.contains(w))
        }
    }
}

/// Whether a path (its query dropped) names a static file.
pub fn is_asset(path: &str) -> bool {
    let path = page(path);
    let last = path.rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        Some((_, ext)) => ASSETS.contains(&ext.to_ascii_lowercase().as_str()),
        None => false,
    }
}

/// A path without its query string or fragment.
pub fn page(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

pub struct WebTraffic {
    cal: ShopCalendar,
}

impl WebTraffic {
    pub fn new(tz: &str, day_start: Duration) -> Result<Self> {
        Ok(WebTraffic {
            cal: ShopCalendar::new(tz, day_start)?,
        })
    }
}

#[derive(Clone)]
struct Day {
    requests: u64,
    page_views: u64,
    bots: u64,
    bytes: i64,
    status: [u64; 4],
    visitors: HyperLogLogPlus<u128, Xxh3Builder>,
}

impl Day {
    fn new() -> Day {
        Day {
            requests: 0,
            page_views: 0,
            bots: 0,
            bytes: 0,
            status: [0; 4],
            visitors: HyperLogLogPlus::new(PRECISION, Xxh3Builder::new())
                .expect("precision 14 is valid"),
        }
    }

    fn merge(&mut self, other: &Day) {
        self.requests += other.requests;
        self.page_views += other.page_views;
        self.bots += other.bots;
        self.bytes += other.bytes;
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        self.visitors
            .merge(&other.visitors)
            .expect("sketches of one precision merge");
    }
}

/// Per-day counts and sketches, and page views by page and by referrer.
#[derive(Clone, Default)]
pub struct WebState {
    days: BTreeMap<NaiveDate, Day>,
    pages: FastMap<String, u64>,
    referrers: FastMap<String, u64>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebState({} days, {} pages)",
            self.days.len(),
            self.pages.len()
        )
    }
}

fn strings<'a>(s: &'a Series, name: &str) -> Result<&'a StringChunked> {
    s.str().map_err(|_| CoreError::Schema {
        table: TABLE.into(),
        message: format!("column {name:?} is {}, not text", s.dtype()),
    })
}

impl Kernel for WebTraffic {
    type Partial = WebState;

    fn empty(&self) -> WebState {
        WebState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<WebState> {
        let df = batch.orders;
        let days = self.cal.days(column(df, TABLE, "time")?)?;
        let method = strings(column(df, TABLE, "method")?, "method")?;
        let path = strings(column(df, TABLE, "path")?, "path")?;
        let addr = strings(column(df, TABLE, "remote_addr")?, "remote_addr")?;
        let agent = strings(column(df, TABLE, "user_agent")?, "user_agent")?;
        let referer = match df.column("referer") {
            Ok(c) => Some(strings(c.as_materialized_series(), "referer")?.clone()),
            Err(_) => None,
        };
        let status = column(df, TABLE, "status")?.cast(&DataType::Int64)?;
        let status = status.i64()?;
        let bytes = column(df, TABLE, "bytes")?.cast(&DataType::Int64)?;
        let bytes = bytes.i64()?;
        let mut out = WebState::default();
        for (i, day) in days.into_iter().enumerate() {
            let Some(day) = day else { continue };
            let d = out.days.entry(day).or_insert_with(Day::new);
            d.requests += 1;
            d.bytes += bytes.get(i).unwrap_or(0);
            let code = status.get(i).unwrap_or(0);
            if (200..600).contains(&code) {
                d.status[(code / 100 - 2) as usize] += 1;
            }
            let ua = agent.get(i);
            if is_bot(ua) {
                d.bots += 1;
                continue;
            }
            let who = format!("{}\u{1f}{}", addr.get(i).unwrap_or(""), ua.unwrap_or(""));
            d.visitors.insert(&xxh3_128(who.as_bytes()));
            let p = path.get(i);
            let viewed = method.get(i) == Some("GET")
                && ((200..300).contains(&code) || code == 304)
                && p.is_some_and(|p| !is_asset(p));
            if viewed {
                d.page_views += 1;
                *out.pages
                    .entry(page(p.unwrap_or("")).to_owned())
                    .or_default() += 1;
                if let Some(r) = referer.as_ref().and_then(|r| r.get(i)) {
                    *out.referrers.entry(r.to_owned()).or_default() += 1;
                }
            }
        }
        Ok(out)
    }

    fn merge(&self, mut a: WebState, b: WebState) -> WebState {
        for (day, stats) in b.days {
            match a.days.get_mut(&day) {
                Some(d) => d.merge(&stats),
                None => {
                    a.days.insert(day, stats);
                }
            }
        }
        for (k, v) in b.pages {
            *a.pages.entry(k).or_default() += v;
        }
        for (k, v) in b.referrers {
            *a.referrers.entry(k).or_default() += v;
        }
        a
    }

    /// One row per shop day.
    fn finalize(&self, state: &WebState) -> Result<DataFrame> {
        let days = &state.days;
        let count = |f: fn(&Day) -> u64| values_column_u(days.values().map(f));
        let mut visitors = Vec::with_capacity(days.len());
        for d in days.values() {
            visitors.push(d.visitors.clone().count().round() as i64);
        }
        Ok(DataFrame::new_infer_height(vec![
            dates_column("day", days.keys().copied()),
            count(|d| d.requests).with_name("requests".into()),
            count(|d| d.page_views).with_name("page_views".into()),
            values_column("unique_visitors", visitors),
            count(|d| d.bots).with_name("bot_requests".into()),
            values_column("bytes", days.values().map(|d| d.bytes)),
            count(|d| d.status[0]).with_name("status_2xx".into()),
            count(|d| d.status[1]).with_name("status_3xx".into()),
            count(|d| d.status[2]).with_name("status_4xx".into()),
            count(|d| d.status[3]).with_name("status_5xx".into()),
        ])?)
    }
}

fn values_column_u(values: impl Iterator<Item = u64>) -> Column {
    values_column("n", values.map(|v| v as i64))
}

impl WebTraffic {
    /// The `top` pages (`by = "pages"`) or referrers (`"referrers"`) by page
    /// views, most first (ties by name).
    pub fn top(&self, state: &WebState, by: &str, top: usize) -> Result<DataFrame> {
        let (map, name) = match by {
            "pages" => (&state.pages, "path"),
            "referrers" => (&state.referrers, "referer"),
            other => {
                return Err(CoreError::config(
                    "by",
                    format!("must be \"pages\" or \"referrers\", got {other:?}"),
                ))
            }
        };
        let mut rows: Vec<(&String, &u64)> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        rows.truncate(top);
        Ok(DataFrame::new_infer_height(vec![
            Series::new(
                name.into(),
                rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            )
            .into(),
            values_column("page_views", rows.iter().map(|r| *r.1 as i64)),
        ])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_assets_and_pages() {
        assert!(is_bot(Some(
            "Googlebot/2.1 (+http://www.google.com/bot.html)"
        )));
        assert!(is_bot(Some("curl/8.4.0")) && is_bot(None));
        assert!(!is_bot(Some(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)"
        )));
        assert!(is_asset("/static/app.JS?v=3") && is_asset("/favicon.ico"));
        assert!(!is_asset("/products/mug") && !is_asset("/v1.2/page"));
        assert_eq!(page("/a?b=c#d"), "/a");
    }
}
