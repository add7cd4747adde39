//! Page chains: each paginator turns one starting URL into a sequence of
//! pages sent down a channel. Link and cursor chains are sequential (the next
//! request needs this response) but the body is parsed downstream, so
//! fetching and parsing overlap; numbered pages run several at once.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use url::Url;

use super::client::{HttpClient, Response};
use crate::error::{CoreError, Result};
use crate::sources::checkpoint::PageTag;
use crate::sources::records::{count_records, lookup};
use crate::sources::spec::{param_text, PaginatorSpec, ResourceSpec};

/// A page on its way to the normalizer.
#[derive(Debug)]
pub struct Page {
    /// Redacted URL, for error messages.
    pub url: String,
    pub body: PageBody,
    /// Its place in the chain, for checkpoints.
    pub tag: PageTag,
}

#[derive(Debug)]
pub enum PageBody {
    Raw(Bytes),
    /// Already parsed because the paginator had to look inside.
    Parsed(Value),
}

pub type PageSender = mpsc::Sender<Result<Page>>;

/// What every chain of one resource shares.
pub struct ChainCtx {
    pub spec: Arc<ResourceSpec>,
    pub client: HttpClient,
    pub tx: PageSender,
}

impl ChainCtx {
    fn page_url(&self, url: &Url) -> String {
        self.client.redactor().url(url)
    }

    fn parse(&self, resp: &Response) -> Result<Value> {
        serde_json::from_slice(&resp.body).map_err(|e| CoreError::Source {
            url: self.page_url(&resp.url),
            message: format!("not valid JSON ({e})"),
        })
    }

    /// Returns false when the receiver is gone (the run was stopped).
    /// A page an interrupted run already committed is walked past, not sent.
    async fn send(&self, chain: &Chain, url: &Url, body: PageBody, next: Option<&Url>) -> bool {
        if chain.skip.contains(&chain.seq) {
            return true;
        }
        let page = Page {
            url: self.page_url(url),
            body,
            tag: PageTag {
                chain: chain.index,
                seq: chain.seq,
                next: next.map(|u| u.to_string()),
            },
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
    /// The first URL to fetch (for numbered pages: the chain's first URL,
    /// from which page `seq` is made).
    pub url: Url,
    /// Number of the page `url` leads to.
    pub seq: u64,
    /// Pages already committed by an interrupted run: fetched, not sent.
    pub skip: std::collections::HashSet<u64>,
}

impl Chain {
    pub fn new(index: usize, url: Url) -> Chain {
        Chain {
            index,
            url,
            seq: 0,
            skip: Default::default(),
        }
    }
}

/// Runs one chain from its first page to its last.
pub async fn walk(ctx: Arc<ChainCtx>, mut chain: Chain) -> Result<()> {
    let first = chain.url.clone();
    match ctx.spec.paginator.clone() {
        PaginatorSpec::SinglePage => {
            let resp = ctx.client.get(&first).await?;
            ctx.send(&chain, &resp.url, PageBody::Raw(resp.body), None)
                .await;
            Ok(())
        }
        PaginatorSpec::LinkHeader { rel } => walk_link(&ctx, chain, &rel).await,
        PaginatorSpec::Cursor {
            param,
            cursor_path,
            cursor_from_last_record,
            has_more_path,
        } => {
            let mut url = first.clone();
            let mut last_cursor: Option<String> = None;
            loop {
                let resp = ctx.client.get(&url).await?;
                let page = ctx.parse(&resp)?;
                let n = count_records(&page, ctx.spec.records.as_deref())
                    .map_err(|m| ctx.malformed(&resp.url, m))?;
                let cursor = match (&cursor_path, &cursor_from_last_record) {
                    (Some(path), _) => lookup(&page, path).cloned(),
                    (None, Some(field)) => {
                        last_record_field(&page, ctx.spec.records.as_deref(), field)
                    }
                    (None, None) => None,
                };
                let more = match &has_more_path {
                    Some(p) => match lookup(&page, p) {
                        Some(Value::Bool(b)) => *b,
                        Some(Value::Null) | None => false,
                        Some(other) => {
                            return Err(ctx.malformed(
                                &resp.url,
                                format!("{p:?} should be true or false, got {other}"),
                            ))
                        }
                    },
                    None => true,
                };
                let cursor = cursor
                    .filter(|c| !c.is_null())
                    .map(|c| param_text(&c))
                    .filter(|c| !c.is_empty())
                    .filter(|_| more && n > 0);
                if let Some(c) = &cursor {
                    if last_cursor.as_deref() == Some(c.as_str()) {
                        return Err(ctx.malformed(
                            &resp.url,
                            format!("the cursor did not advance (still {c:?})"),
                        ));
                    }
                }
                let next = cursor.as_ref().map(|c| with_param(&first, &param, c));
                if !ctx
                    .send(&chain, &resp.url, PageBody::Parsed(page), next.as_ref())
                    .await
                {
                    return Ok(());
                }
                let Some(next) = next else {
                    return Ok(());
                };
                chain.seq += 1;
                url = next;
                last_cursor = cursor;
            }
        }
        PaginatorSpec::NextUrl { path } => {
            let mut url = first;
            loop {
                let resp = ctx.client.get(&url).await?;
                let page = ctx.parse(&resp)?;
                let next = match lookup(&page, &path) {
                    Some(Value::String(s)) if !s.is_empty() => {
                        Some(resp.url.join(s).map_err(|e| {
                            ctx.malformed(&resp.url, format!("next URL {s:?}: {e}"))
                        })?)
                    }
                    Some(Value::Null) | None => None,
                    Some(Value::String(_)) => None,
                    Some(other) => {
                        return Err(ctx.malformed(
                            &resp.url,
                            format!("{path:?} should be a URL, got {other}"),
                        ))
                    }
                };
                if next.as_ref() == Some(&resp.url) {
                    return Err(ctx.malformed(&resp.url, "the next URL is the page itself".into()));
                }
                if !ctx
                    .send(&chain, &resp.url, PageBody::Parsed(page), next.as_ref())
                    .await
                {
                    return Ok(());
                }
                match next {
                    Some(n) => {
                        chain.seq += 1;
                        url = n;
                    }
                    None => return Ok(()),
                }
            }
        }
        PaginatorSpec::Offset {
            limit,
            offset_param,
            limit_param,
            start,
            total_path,
        } => {
            let base = with_param(&first, &limit_param, &limit.to_string());
            let make =
                move |k: u64| with_param(&base, &offset_param, &(start + k * limit).to_string());
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
            start,
            page_size,
            page_size_param,
            total_pages_path,
        } => {
            let base = match (&page_size_param, page_size) {
                (Some(p), Some(n)) => with_param(&first, p, &n.to_string()),
                _ => first,
            };
            let make = move |k: u64| with_param(&base, &param, &(start + k).to_string());
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

async fn walk_link(ctx: &ChainCtx, mut chain: Chain, rel: &str) -> Result<()> {
    let mut url = chain.url.clone();
    loop {
        let resp = ctx.client.get(&url).await?;
        let next = next_link(&resp, rel).map_err(|m| ctx.malformed(&resp.url, m))?;
        if next.as_ref() == Some(&resp.url) {
            return Err(ctx.malformed(
                &resp.url,
                "the Link header points back at the same page".into(),
            ));
        }
        if !ctx
            .send(&chain, &resp.url, PageBody::Raw(resp.body), next.as_ref())
            .await
        {
            return Ok(());
        }
        match next {
            Some(n) => {
                chain.seq += 1;
                url = n;
            }
            None => return Ok(()),
        }
    }
}

/// The `rel` target of a response's Link header, resolved against its URL.
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
    make_url: impl Fn(u64) -> Url,
    page_size: Option<u64>,
    total: Option<(String, PagesFromTotal)>,
) -> Result<()> {
    let mut in_flight = FuturesOrdered::new();
    let first_k = chain.seq;
    let mut next_k = first_k;
    let mut end: Option<u64> = None;
    loop {
        while in_flight.len() < ctx.spec.concurrency && end.is_none_or(|e| next_k < e) {
            let url = make_url(next_k);
            let client = ctx.client.clone();
            let k = next_k;
            in_flight.push_back(async move { (k, client.get(&url).await) });
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
        let page = ctx.parse(&resp)?;
        let n = count_records(&page, ctx.spec.records.as_deref())
            .map_err(|m| ctx.malformed(&resp.url, m))? as u64;
        if k == first_k {
            if let Some((path, to_pages)) = &total {
                let t = lookup(&page, path)
                    .and_then(|v| {
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })
                    .ok_or_else(|| {
                        ctx.malformed(&resp.url, format!("no whole number at {path:?}"))
                    })?;
                end = Some(to_pages(t).max(1));
            }
        }
        let last = n == 0 || page_size.is_some_and(|s| n < s);
        if last {
            end = Some(end.map_or(k + 1, |e| e.min(k + 1)));
        }
        chain.seq = k;
        let next = (!last).then_some(&chain.url);
        let next = next.cloned();
        if n > 0
            && !ctx
                .send(&chain, &resp.url, PageBody::Parsed(page), next.as_ref())
                .await
        {
            return Ok(());
        }
    }
}

fn last_record_field(page: &Value, selector: Option<&str>, field: &str) -> Option<Value> {
    let records = match selector {
        Some(p) => lookup(page, p)?,
        None => page,
    };
    let last = match records {
        Value::Array(a) => a.last()?,
        Value::Object(m) => m
            .values()
            .find_map(|v| v.as_array())
            .and_then(|a| a.last())?,
        _ => return None,
    };
    lookup(last, field).cloned()
}

/// `url` with `name` set to `value`, replacing any earlier value.
pub fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        q.extend_pairs(kept);
        q.append_pair(name, value);
    }
    out
}
