//! The HTTP source engine: one declarative spec, any paginator, auth kind
//! and retry policy, several page chains in flight where the paging allows.

pub mod client;
pub mod paging;
pub mod windows;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

use crate::error::{CoreError, Result};
use crate::sources::checkpoint::Trail;
use crate::sources::spec::{param_text, ResourceSpec};
use client::HttpClient;
use paging::{walk, with_param, Chain, ChainCtx, PageSender};

/// The first URL of every page chain: one per window, or just one.
pub fn chain_starts(spec: &ResourceSpec) -> Result<Vec<Url>> {
    let mut first = spec.url()?;
    for (k, v) in &spec.params {
        first = with_param(&first, k, &param_text(v));
    }
    if let Some(inc) = &spec.incremental {
        if let Some(start) = inc.start_value()? {
            first = with_param(&first, &inc.param, &param_text(&start));
        }
    }
    Ok(match &spec.windows {
        None => vec![first],
        Some(w) => windows::split(w)?
            .into_iter()
            .map(|(lo, hi)| with_param(&with_param(&first, &w.min_param, &lo), &w.max_param, &hi))
            .collect(),
    })
}

/// The page chains of a run: fresh ones, or where an interrupted run's
/// state says (finished chains left out).
pub fn chains(spec: &ResourceSpec) -> Result<Vec<Chain>> {
    let Some(resume) = &spec.resume else {
        return Ok(chain_starts(spec)?
            .into_iter()
            .enumerate()
            .map(|(i, url)| Chain::new(i, url))
            .collect());
    };
    let mut out = Vec::new();
    for (index, pos) in resume.chains.iter().enumerate() {
        let Some(text) = &pos.url else { continue };
        let url = Url::parse(text)
            .map_err(|e| CoreError::config("resume", format!("bad stored URL {text:?}: {e}")))?;
        out.push(Chain {
            index,
            url,
            seq: pos.seq,
            skip: pos.ahead.iter().map(|(k, _)| *k).collect(),
            trail: Trail::restored(&pos.trail),
        });
    }
    Ok(out)
}

/// Starts fetching `chains` on the shared runtime. Pages (or the first
/// error) arrive on `tx`; the channel closes when every chain is done.
/// Every retried request adds one to `retries`.
pub fn start(
    spec: Arc<ResourceSpec>,
    chains: Vec<Chain>,
    tx: PageSender,
    retries: Arc<AtomicU64>,
) -> Result<JoinHandle<()>> {
    let client = HttpClient::new(&spec)?.with_retry_counter(retries);
    let starts = chains;
    let ctx = Arc::new(ChainCtx { spec, client, tx });
    Ok(crate::runtime::handle().spawn(async move {
        let permits = Arc::new(Semaphore::new(ctx.spec.concurrency));
        let mut chains = JoinSet::new();
        for chain in starts {
            let ctx = ctx.clone();
            let permits = permits.clone();
            chains.spawn(async move {
                let _permit = permits.acquire_owned().await;
                walk(ctx, chain).await
            });
        }
        while let Some(done) = chains.join_next().await {
            let err = match done {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(j) if j.is_cancelled() => continue,
                Err(j) => CoreError::Internal(format!("a page chain panicked: {j}")),
            };
            chains.abort_all();
            let _ = ctx.tx.send(Err(err)).await;
            break;
        }
    }))
}
