//! Page chains: each paginator turns one starting URL into a sequence of
//! pages sent down a channel. Link and cursor chains are sequential (the next
//! request needs this response) but records are normalized downstream, so
//! fetching and normalizing overlap; numbered pages run several at once.
//!
//! A paginator that must look inside a page reads it with the normalizer's
//! parser, so a cursor, a next URL or a total is read exactly as the records
//! are (an integer beyond 64 bits keeps its digits). A chain that leads back
//! to a page it already read fails rather than loading that page again.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::mpsc;
use url::Url;

use super::client::{HttpClient, Response};
use super::request::{get_path, Location, Req};
use crate::error::{CoreError, Result};
use crate::normalize::json::Json;
use crate::sources::checkpoint::{PageTag, Trail};
use crate::sources::records::{count_records, last_record_field, query_text};
use crate::sources::spec::{PaginatorSpec, ResourceSpec};

/// A page on its way to the normalizer.
#[derive(Debug)]
pub struct Page {
    /// Redacted URL, for error messages.
    pub url: String,
    /// The body, checked to be one JSON document.
    pub body: Bytes,
    /// Its place in the chain, for checkpoints.
    pub tag: PageTag,
    /// Columns added to each of its records (a substream's parent key).
    pub carry: Vec<(String, serde_json::Value)>,
}

pub type PageSender = mpsc::Sender<Result<Page>>;

/// What every chain of one resource shares.
pub struct ChainCtx {
    pub spec: Arc<ResourceSpec>,
    pub client: HttpClient,
    pub tx: PageSender,
}

impl ChainCtx {
    /// Records in a page (none where an optional records field is absent).
    fn count(&self, page: &Json<'_>, resp: &Response) -> Result<usize> {
        let selector = self.spec.records.as_deref();
        if self.spec.records_optional && selector.is_some_and(|s| page.lookup(s).is_none()) {
            return Ok(0);
        }
        count_records(page, selector).map_err(|m| self.malformed(&resp.url, m))
    }

    /// True when `chain` has read as many pages as the spec allows.
    fn enough(&self, chain: &Chain) -> bool {
        self.spec.max_pages.is_some_and(|m| chain.seq + 1 >= m)
    }

    fn page_url(&self, url: &Url) -> String {
        self.client.redactor().url(url)
    }

    fn parse<'b>(&self, resp: &'b Response) -> Result<Json<'b>> {
        Json::parse(&resp.body)
            .map_err(|e| self.malformed(&resp.url, format!("not valid JSON ({e})")))
    }

    /// Returns false when the receiver is gone (the run was stopped).
    /// A page an interrupted run already committed is walked past, not sent.
    async fn send(&self, chain: &Chain, resp: Response, next: Option<&Req>) -> bool {
        if chain.skip.contains(&chain.seq) {
            return true;
        }
        let page = Page {
            url: self.page_url(&resp.url),
            body: resp.body,
            tag: PageTag {
                chain: chain.index,
                seq: chain.seq,
                next: next.map(Req::pointer),
                trail: chain.trail.recent(),
            },
            carry: chain
                .req
                .carry
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        self.tx.send(Ok(page)).await.is_ok()
    }

    fn malformed(&self, url: &Url, message: String) -> CoreError {
        CoreError::Source {
            url: self.page_url(url),
            message,
        }
    }
}

/// One page chain: where it starts and how far an earlier run got.
#[derive(Debug, Clone)]
pub struct Chain {
    pub index: usize,
    /// The first request to send (for numbered pages: the chain's first
    /// request, from which page `seq` is made).
    pub req: Req,
    /// Number of the page `url` leads to.
    pub seq: u64,
    /// Pages already committed by an interrupted run: fetched, not sent.
    pub skip: HashSet<u64>,
    /// The pages read so far (by the cursor or URL that reached them),
    /// including those an interrupted run read.
    pub trail: Trail,
}

impl Chain {
    pub fn new(index: usize, req: Req) -> Chain {
        Chain {
            index,
            req,
            seq: 0,
            skip: Default::default(),
            trail: Trail::default(),
        }
    }
}

/// Runs one chain from its first page to its last.
pub async fn walk(ctx: Arc<ChainCtx>, chain: Chain) -> Result<()> {
    let first = chain.req.clone();
    match ctx.spec.paginator.clone() {
        PaginatorSpec::SinglePage => {
            let resp = ctx.client.send(&first).await?;
            ctx.send(&chain, resp, None).await;
            Ok(())
        }
        PaginatorSpec::LinkHeader { rel } => {
            let next =
                |resp: &Response| next_link(resp, &rel).map_err(|m| ctx.malformed(&resp.url, m));
            walk_links(&ctx, chain, next, "the Link header").await
        }
        PaginatorSpec::NextUrl { path, stop_path } => {
            let next = |resp: &Response| {
                if let Some(stop) = &stop_path {
                    if flag(&ctx, resp, &ctx.parse(resp)?, stop)? {
                        return Ok(None);
                    }
                }
                next_url_in_body(&ctx, resp, &path)
            };
            walk_links(&ctx, chain, next, "the next URL").await
        }
        PaginatorSpec::Cursor {
            param,
            location,
            cursor_path,
            cursor_from_last_record,
            has_more_path,
            stop_path,
        } => {
            let cursor = CursorRule {
                param,
                location,
                stop_path,
                cursor_path,
                cursor_from_last_record,
                has_more_path,
            };
            walk_cursor(&ctx, chain, &cursor).await
        }
        PaginatorSpec::Offset {
            limit,
            location,
            offset_param,
            limit_param,
            start,
            total_path,
        } => {
            let base = first.with(location, &limit_param, &limit.into())?;
            let make =
                move |k: u64| base.with(location, &offset_param, &(start + k * limit).into());
            let pages_from_total = move |total: u64| total.saturating_sub(start).div_ceil(limit);
            walk_numbered(
                &ctx,
                chain,
                make,
                Some(limit),
                total_path.map(|p| (p, Box::new(pages_from_total) as _)),
            )
            .await
        }
        PaginatorSpec::PageNumber {
            param,
            location,
            start,
            page_size,
            page_size_param,
            total_pages_path,
        } => {
            let base = match (&page_size_param, page_size) {
                (Some(p), Some(n)) => first.with(location, p, &n.into())?,
                _ => first,
            };
            let make = move |k: u64| base.with(location, &param, &(start + k).into());
            walk_numbered(
                &ctx,
                chain,
                make,
                page_size,
                total_pages_path.map(|p| (p, Box::new(|t: u64| t) as _)),
            )
            .await
        }
    }
}

/// Chains where each page names the URL of the next (a Link header, a next
/// URL in the body). `what` names that pointer in errors.
async fn walk_links(
    ctx: &ChainCtx,
    mut chain: Chain,
    next_of: impl Fn(&Response) -> Result<Option<Url>>,
    what: &str,
) -> Result<()> {
    let mut req = chain.req.clone();
    loop {
        let resp = ctx.client.send(&req).await?;
        chain.trail.insert(&req.pointer());
        chain.trail.insert(resp.url.as_str());
        let next = next_of(&resp)?;
        if let Some(n) = &next {
            if chain.trail.contains(n.as_str()) {
                let message = if *n == resp.url {
                    format!("{what} points back at the same page")
                } else {
                    format!(
                        "{what} leads back to {}, a page this chain has already read",
                        ctx.page_url(n)
                    )
                };
                return Err(ctx.malformed(&resp.url, message));
            }
        }
        let next = next.map(|url| Req { url, ..req.clone() });
        if !ctx.send(&chain, resp, next.as_ref()).await || ctx.enough(&chain) {
            return Ok(());
        }
        match next {
            Some(n) => {
                chain.seq += 1;
                req = n;
            }
            None => return Ok(()),
        }
    }
}

/// The next page's URL from a field of the body, resolved against the page.
fn next_url_in_body(ctx: &ChainCtx, resp: &Response, path: &str) -> Result<Option<Url>> {
    let page = ctx.parse(resp)?;
    match page.lookup(path) {
        Some(Json::Str(s)) if !s.is_empty() => resp
            .url
            .join(s)
            .map(Some)
            .map_err(|e| ctx.malformed(&resp.url, format!("next URL {s:?}: {e}"))),
        Some(Json::Null | Json::Str(_)) | None => Ok(None),
        Some(other) => Err(ctx.malformed(
            &resp.url,
            format!("{path:?} should be a URL, got {}", other.kind()),
        )),
    }
}

struct CursorRule {
    param: String,
    location: Location,
    cursor_path: Option<String>,
    cursor_from_last_record: Option<String>,
    has_more_path: Option<String>,
    stop_path: Option<String>,
}

/// A boolean of the page at `path` (absent or null: false).
fn flag(ctx: &ChainCtx, resp: &Response, page: &Json<'_>, path: &str) -> Result<bool> {
    match page.lookup(path) {
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Null) | None => Ok(false),
        Some(other) => Err(ctx.malformed(
            &resp.url,
            format!("{path:?} should be true or false, got {other}"),
        )),
    }
}

impl CursorRule {
    /// The cursor for the page after `resp`, or None at the end.
    fn next_cursor(&self, ctx: &ChainCtx, resp: &Response) -> Result<Option<String>> {
        let page = ctx.parse(resp)?;
        let selector = ctx.spec.records.as_deref();
        let n = ctx.count(&page, resp)?;
        let more = match &self.has_more_path {
            Some(p) => flag(ctx, resp, &page, p)?,
            None => true,
        };
        let stop = match &self.stop_path {
            Some(p) => flag(ctx, resp, &page, p)?,
            None => false,
        };
        if !more || stop || n == 0 {
            return Ok(None);
        }
        let cursor = match (&self.cursor_path, &self.cursor_from_last_record) {
            (Some(path), _) => page.lookup(path),
            (None, Some(field)) => last_record_field(&page, selector, field),
            (None, None) => None,
        };
        Ok(cursor.map(query_text).filter(|c| !c.is_empty()))
    }
}

async fn walk_cursor(ctx: &ChainCtx, mut chain: Chain, rule: &CursorRule) -> Result<()> {
    let first = chain.req.clone();
    let mut req = first.clone();
    // The cursor that reached the first page (none for a fresh chain).
    let mut current = match rule.location {
        Location::Query => first
            .url
            .query_pairs()
            .find(|(k, _)| *k == rule.param)
            .map(|(_, v)| v.into_owned()),
        Location::Body => first
            .body
            .as_ref()
            .and_then(|b| get_path(b, &rule.param))
            .filter(|v| !v.is_null())
            .map(crate::sources::spec::param_text),
        Location::Header => first.headers.get(&rule.param).cloned(),
        Location::Path | Location::Template => None,
    };
    if rule.location == Location::Template && chain.seq == 0 {
        // The first page has no cursor: its template is filled with nothing.
        req = first.with(
            Location::Template,
            &rule.param,
            &serde_json::Value::from(""),
        )?;
    }
    loop {
        let resp = ctx.client.send(&req).await?;
        if let Some(c) = &current {
            chain.trail.insert(c);
        }
        let cursor = rule.next_cursor(ctx, &resp)?;
        if let Some(c) = &cursor {
            if current.as_deref() == Some(c.as_str()) {
                return Err(ctx.malformed(
                    &resp.url,
                    format!("the cursor did not advance (still {c:?})"),
                ));
            }
            if chain.trail.contains(c) {
                return Err(ctx.malformed(
                    &resp.url,
                    format!("the cursor went back to {c:?}, a page this chain has already read"),
                ));
            }
        }
        let next = match &cursor {
            Some(c) => Some(
                first
                    .with(
                        rule.location,
                        &rule.param,
                        &serde_json::Value::String(c.clone()),
                    )
                    .map_err(|e| ctx.malformed(&resp.url, e.to_string()))?,
            ),
            None => None,
        };
        if !ctx.send(&chain, resp, next.as_ref()).await || ctx.enough(&chain) {
            return Ok(());
        }
        let Some(next) = next else {
            return Ok(());
        };
        chain.seq += 1;
        req = next;
        current = cursor;
    }
}

/// The `rel` target of a response's Link header, resolved against its URL.
/// `Err` says what is wrong with the header.
pub fn next_link(resp: &Response, rel: &str) -> std::result::Result<Option<Url>, String> {
    let mut found = None;
    for value in resp.headers.get_all(reqwest::header::LINK) {
        let text = value
            .to_str()
            .map_err(|_| "the Link header is not ASCII".to_string())?;
        let links = parse_link_header::parse_with_rel(text)
            .map_err(|e| format!("bad Link header {text:?}: {e:?}"))?;
        if let Some(link) = links.get(rel) {
            found = Some(
                resp.url
                    .join(&link.raw_uri)
                    .map_err(|e| format!("bad Link target: {e}"))?,
            );
        }
    }
    Ok(found)
}

type PagesFromTotal = Box<dyn Fn(u64) -> u64 + Send>;

/// Numbered pages (offset or page number), `concurrency` in flight, in order.
/// The chain ends at the first empty or short page, or at the reported total.
/// A resumed chain starts at page `chain.seq`.
async fn walk_numbered(
    ctx: &ChainCtx,
    mut chain: Chain,
    make_req: impl Fn(u64) -> Result<Req>,
    page_size: Option<u64>,
    total: Option<(String, PagesFromTotal)>,
) -> Result<()> {
    let mut in_flight = FuturesOrdered::new();
    let first_k = chain.seq;
    let mut next_k = first_k;
    let mut end: Option<u64> = ctx.spec.max_pages.map(|m| first_k + m);
    loop {
        while in_flight.len() < ctx.spec.concurrency && end.is_none_or(|e| next_k < e) {
            let req = make_req(next_k)?;
            let client = ctx.client.clone();
            let k = next_k;
            in_flight.push_back(async move { (k, client.send(&req).await) });
            next_k += 1;
            // Until the first page reports a total, probe one page at a time.
            if k == first_k && total.is_some() {
                break;
            }
        }
        let Some((k, resp)) = in_flight.next().await else {
            return Ok(());
        };
        if end.is_some_and(|e| k >= e) {
            continue;
        }
        let resp = resp?;
        let (n, reported) = {
            let page = ctx.parse(&resp)?;
            let n = ctx.count(&page, &resp)? as u64;
            let reported = match &total {
                Some((path, _)) if k == first_k => {
                    Some(whole_number(page.lookup(path)).ok_or_else(|| {
                        ctx.malformed(&resp.url, format!("no whole number at {path:?}"))
                    })?)
                }
                _ => None,
            };
            (n, reported)
        };
        if let (Some(t), Some((_, to_pages))) = (reported, &total) {
            let pages = to_pages(t).max(1);
            end = Some(end.map_or(pages, |e| e.min(pages)));
        }
        let last = n == 0 || page_size.is_some_and(|s| n < s);
        if last {
            end = Some(end.map_or(k + 1, |e| e.min(k + 1)));
        }
        chain.seq = k;
        let next = (!last).then(|| chain.req.clone());
        if n > 0 && !ctx.send(&chain, resp, next.as_ref()).await {
            return Ok(());
        }
    }
}

/// A count as a page reports it: a non-negative integer, or one in text.
fn whole_number(v: Option<&Json<'_>>) -> Option<u64> {
    match v? {
        Json::Int(i) => u64::try_from(*i).ok(),
        Json::UInt(u) => Some(*u),
        Json::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}
