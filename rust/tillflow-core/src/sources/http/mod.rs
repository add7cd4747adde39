//! The HTTP source engine: one declarative spec, any paginator, auth kind
//! and retry policy, several page chains in flight where the paging allows.

pub mod auth;
pub mod client;
pub mod limits;
pub mod paging;
pub mod parents;
pub mod request;
pub mod windows;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{CoreError, Result};
use crate::sources::checkpoint::{partition_key, CursorEdge, Trail};
use crate::sources::spec::{param_text, ResourceSpec};
use client::HttpClient;
use paging::{walk, Chain, ChainCtx, PageSender};
use request::{render, render_value, with_param, Req, Vars};

/// The first request of a chain, from the spec's templates and `vars`.
pub fn first_request(spec: &ResourceSpec, vars: &Vars) -> Result<Req> {
    let mut req = Req::get(spec.url(vars)?);
    for (k, v) in &spec.params {
        if let Some(v) = render_value(v, vars)? {
            req.url = with_param(&req.url, k, &param_text(&v));
        }
    }
    for (k, v) in &spec.headers {
        // Templated headers travel with the request; fixed ones are the client's.
        if v.contains("{{") {
            if let Some(v) = render(v, vars)? {
                req.headers.insert(k.clone(), param_text(&v));
            }
        }
    }
    if let Some(body) = &spec.body {
        req.body = render_value(body, vars)?;
    }
    Ok(req)
}

/// The first request of every page chain: one per window, or just one.
pub fn chain_starts(spec: &ResourceSpec) -> Result<Vec<Req>> {
    let start = match &spec.incremental {
        Some(inc) => inc.start_value()?,
        None => None,
    };
    chain_starts_with(spec, &Vars::new(), start)
}

/// [`chain_starts`] for a chain family whose templates also see `vars`
/// (a parent record's fields) and whose incremental filter starts at
/// `start` (its parent's own cursor).
pub fn chain_starts_with(
    spec: &ResourceSpec,
    vars: &Vars,
    start: Option<Value>,
) -> Result<Vec<Req>> {
    let mut vars = vars.clone();
    let mut incremental = None;
    if let (Some(inc), Some(start)) = (&spec.incremental, start) {
        vars.insert("incremental.start".into(), start.clone());
        incremental = inc.param.as_ref().map(|p| (inc.location, p.clone(), start));
    }
    let windows = match &spec.windows {
        None => vec![None],
        Some(w) => {
            // Windows over the cursor's own field cover what is new: from
            // the incremental start, when it is later than the windows' own.
            let mut w = w.clone();
            let later = vars
                .get("incremental.start")
                .filter(|_| w.from_cursor)
                .and_then(|v| request::instant(&param_text(v)))
                .filter(|t| request::instant(&w.start).is_some_and(|s| *t > s));
            if let Some(t) = later {
                let end = w.end.as_deref().and_then(request::instant);
                if end.is_some_and(|e| t > e) {
                    return Ok(Vec::new());
                }
                w.start = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            }
            windows::split(&w)?.into_iter().map(Some).collect()
        }
    };
    let mut out = Vec::with_capacity(windows.len());
    for window in windows {
        let mut vars = vars.clone();
        if let Some((lo, hi)) = &window {
            vars.insert("window.start".into(), Value::String(lo.clone()));
            vars.insert("window.end".into(), Value::String(hi.clone()));
        }
        let mut req = first_request(spec, &vars)?;
        if let Some((location, param, start)) = &incremental {
            req = req.with(*location, param, start)?;
        }
        if let (Some(w), Some((lo, hi))) = (&spec.windows, &window) {
            if let Some(p) = &w.min_param {
                req = req.with(w.location, p, &Value::String(lo.clone()))?;
            }
            if let Some(p) = &w.max_param {
                req = req.with(w.location, p, &Value::String(hi.clone()))?;
            }
        }
        out.push(req);
    }
    Ok(out)
}

/// What a run fetches: its page chains and, for a child that follows only
/// changed parents, the parents' cursor edge this run reached.
pub struct Plan {
    pub chains: Vec<Chain>,
    pub parents: Option<CursorEdge>,
}

/// The page chains of a run: fresh ones, or where an interrupted run's
/// state says (finished chains left out).
pub fn chains(spec: &ResourceSpec) -> Result<Plan> {
    let Some(resume) = &spec.resume else {
        let (starts, parents) = match &spec.parent {
            None => (chain_starts(spec)?, None),
            Some(parent) => {
                let found = parents::collect(parent)?;
                let mut all = Vec::new();
                for p in found.records {
                    let start = match &spec.incremental {
                        Some(inc) => inc.partition_start(&partition_key(&p.carry))?,
                        None => None,
                    };
                    for mut req in chain_starts_with(spec, &p.vars, start)? {
                        req.carry = p.carry.clone();
                        all.push(req);
                    }
                }
                (all, found.edge)
            }
        };
        let chains = starts
            .into_iter()
            .enumerate()
            .map(|(i, req)| Chain::new(i, req))
            .collect();
        return Ok(Plan { chains, parents });
    };
    let mut out = Vec::new();
    for (index, pos) in resume.chains.iter().enumerate() {
        let Some(text) = &pos.url else { continue };
        let req = Req::from_pointer(text).map_err(|e| {
            CoreError::config("resume", format!("bad stored request {text:?}: {e}"))
        })?;
        out.push(Chain {
            index,
            req,
            seq: pos.seq,
            skip: pos.ahead.iter().map(|(k, _)| *k).collect(),
            trail: Trail::restored(&pos.trail),
        });
    }
    Ok(Plan {
        chains: out,
        parents: resume.parent.as_ref().map(|p| p.edge()),
    })
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
