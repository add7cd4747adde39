//! Checkpoints: what a committed batch says about where a stream stands, so
//! a run that dies between two batches resumes right after the last one
//! committed, without refetching into duplicates or skipping a page.
//!
//! Every page chain (one per time window, or the only one) walks its pages in
//! a fixed order and numbers them. A batch carries the numbers of the pages it
//! holds; pages of one chain reach the warehouse out of order (several
//! workers normalize at once), so a chain's position is the first page not yet
//! committed plus the few later pages already committed ("ahead"). The state
//! stays small: at most the pages in flight.
//!
//! The incremental cursor follows the same rule. The largest cursor value of
//! the committed records, and the keys of the records holding exactly that
//! value (the edge), are stored; the next run starts at that value (filters
//! are inclusive) and drops the edge records it already has, so append loads
//! get no duplicate at the boundary and the dedup state holds only the edge.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xxhash_rust::xxh3::xxh3_64;

use crate::normalize::infer::parse_timestamp;
use crate::normalize::json::Json;

/// Where one page sits in its chain, and the URL that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageTag {
    pub chain: usize,
    pub seq: u64,
    /// What resumes the chain after this page: the next page's URL for
    /// chains that follow links or cursors, the chain's first URL for
    /// numbered pages (the number says which page); `None` after the last page.
    pub next: Option<String>,
    /// Keys of the last pages this chain read, up to and including this one
    /// (see [`Trail`]).
    pub trail: Vec<u64>,
}

/// How many of a chain's latest page keys a checkpoint keeps, so that a
/// resumed chain still refuses a cursor or link back to a page it read
/// before the interruption.
pub const TRAIL_LEN: usize = 64;

/// The keys (hashes of the cursor or URL that reached them) of the pages a
/// chain has read: all of them in this run, for loop detection, and the last
/// [`TRAIL_LEN`] for the checkpoint.
#[derive(Debug, Default, Clone)]
pub struct Trail {
    seen: HashSet<u64>,
    recent: std::collections::VecDeque<u64>,
}

impl Trail {
    /// A chain's trail as a checkpoint stored it.
    pub fn restored(keys: &[u64]) -> Self {
        let mut t = Trail::default();
        for k in keys {
            t.push(*k);
        }
        t
    }

    pub fn key(pointer: &str) -> u64 {
        xxh3_64(pointer.as_bytes())
    }

    pub fn contains(&self, pointer: &str) -> bool {
        self.seen.contains(&Self::key(pointer))
    }

    pub fn insert(&mut self, pointer: &str) {
        self.push(Self::key(pointer));
    }

    fn push(&mut self, key: u64) {
        if self.seen.insert(key) {
            if self.recent.len() == TRAIL_LEN {
                self.recent.pop_front();
            }
            self.recent.push_back(key);
        }
    }

    pub fn recent(&self) -> Vec<u64> {
        self.recent.iter().copied().collect()
    }
}

/// A chain's position as stored: resume at page `seq`, reached through `url`
/// (`None`: the chain is finished).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainPosition {
    pub url: Option<String>,
    pub seq: u64,
    /// Later pages already committed, each with the URL after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ahead: Vec<(u64, Option<String>)>,
    /// Keys of the last pages read before `seq` (hex), for loop detection.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "hex_keys")]
    pub trail: Vec<u64>,
}

/// Page keys as 16-digit hex strings: JSON numbers past 2^53 do not survive
/// every reader.
mod hex_keys {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(keys: &[u64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(keys.iter().map(|k| format!("{k:016x}")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| u64::from_str_radix(h, 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// A run in progress, as committed with each batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Resume {
    pub chains: Vec<ChainPosition>,
    /// The committed edge of this run so far.
    pub cursor: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundary: Vec<String>,
    /// A child resource's committed edges of this run so far, per parent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partitions: BTreeMap<String, StoredEdge>,
    /// The parents' edge this run reached, for a child that follows only
    /// changed parents: stored once the run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<StoredEdge>,
}

/// A cursor edge as state stores it: the value and the keys of the records
/// holding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredEdge {
    pub cursor: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundary: Vec<String>,
}

impl StoredEdge {
    pub fn edge(&self) -> CursorEdge {
        CursorEdge::stored(Some(&self.cursor), &self.boundary)
    }

    fn of(edge: &CursorEdge) -> Option<StoredEdge> {
        edge.value.as_ref().map(|v| StoredEdge {
            cursor: v.clone(),
            boundary: edge.keys.clone(),
        })
    }
}

/// The key of a child's partition: the columns it carries from its parent,
/// as JSON text (`{"list_id":"b1c2"}`).
pub fn partition_key<'a>(carry: impl IntoIterator<Item = (&'a String, &'a Value)>) -> String {
    let map: serde_json::Map<String, Value> = carry
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(map).to_string()
}

/// Edges per partition, restored from state.
pub fn stored_parts(parts: &BTreeMap<String, StoredEdge>) -> BTreeMap<String, CursorEdge> {
    parts.iter().map(|(k, e)| (k.clone(), e.edge())).collect()
}

fn parts_value(parts: &BTreeMap<String, CursorEdge>) -> Value {
    let stored: BTreeMap<&String, StoredEdge> = parts
        .iter()
        .filter_map(|(k, e)| StoredEdge::of(e).map(|s| (k, s)))
        .collect();
    serde_json::to_value(stored).expect("plain data")
}

/// What a batch moved: the resource's edge and, for a child resource with
/// a cursor of its own, each parent's edge.
#[derive(Debug, Default)]
pub struct Edges {
    pub whole: CursorEdge,
    pub parts: BTreeMap<String, CursorEdge>,
}

fn merge_parts(into: &mut BTreeMap<String, CursorEdge>, from: BTreeMap<String, CursorEdge>) {
    for (k, e) in from {
        into.entry(k).or_default().merge(e);
    }
}

/// Ordering key of a cursor value: timestamps compare as instants, numbers
/// as numbers, anything else as text.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum CursorKey {
    Number(f64),
    Instant(i64),
    Text(String),
}

impl CursorKey {
    pub fn of_json(v: &Json<'_>) -> Option<CursorKey> {
        Some(match v {
            Json::Int(i) => CursorKey::Number(*i as f64),
            Json::UInt(u) => CursorKey::Number(*u as f64),
            Json::Float(f) => CursorKey::Number(*f),
            Json::Str(s) => Self::of_text(s),
            _ => return None,
        })
    }

    pub fn of_value(v: &Value) -> Option<CursorKey> {
        Some(match v {
            Value::Number(n) => CursorKey::Number(n.as_f64()?),
            Value::String(s) => Self::of_text(s),
            _ => return None,
        })
    }

    fn of_text(s: &str) -> CursorKey {
        match parse_timestamp(s) {
            Some(t) => CursorKey::Instant(t),
            None => CursorKey::Text(s.to_string()),
        }
    }

    /// `Some(ordering)` when both are of one kind.
    fn cmp_same(&self, other: &CursorKey) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (CursorKey::Number(a), CursorKey::Number(b)) => a.partial_cmp(b),
            (CursorKey::Instant(a), CursorKey::Instant(b)) => Some(a.cmp(b)),
            (CursorKey::Text(a), CursorKey::Text(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// The largest cursor value seen and the keys of the records that hold it.
#[derive(Debug, Default, Clone)]
pub struct CursorEdge {
    pub value: Option<Value>,
    key: Option<CursorKey>,
    pub keys: Vec<String>,
}

impl CursorEdge {
    /// An edge restored from a stored cursor and its keys.
    pub fn stored(value: Option<&Value>, keys: &[String]) -> CursorEdge {
        let value = value.filter(|v| !v.is_null());
        let key = value.and_then(CursorKey::of_value);
        CursorEdge {
            value: key.as_ref().and(value.cloned()),
            keys: if key.is_some() {
                keys.to_vec()
            } else {
                Vec::new()
            },
            key,
        }
    }

    /// Offers a record's cursor value; `record_key` is called only when the
    /// record lands on the edge.
    pub fn offer(&mut self, v: &Json<'_>, record_key: impl FnOnce() -> String) {
        let Some(key) = CursorKey::of_json(v) else {
            return;
        };
        self.take(key, || v.to_value(), || vec![record_key()]);
    }

    /// Folds another edge (a later batch's) into this one.
    pub fn merge(&mut self, other: CursorEdge) {
        if let (Some(key), Some(value)) = (other.key, other.value) {
            let keys = other.keys;
            self.take(key, move || value, move || keys);
        }
    }

    fn take(
        &mut self,
        key: CursorKey,
        value: impl FnOnce() -> Value,
        keys: impl FnOnce() -> Vec<String>,
    ) {
        use std::cmp::Ordering::*;
        let order = match &self.key {
            None => Some(Greater),
            Some(cur) => key.cmp_same(cur),
        };
        match order {
            Some(Greater) => {
                self.key = Some(key);
                self.value = Some(value());
                self.keys = keys();
            }
            Some(Equal) => {
                let mut more = keys();
                self.keys.append(&mut more);
                self.keys.sort_unstable();
                self.keys.dedup();
            }
            _ => {}
        }
    }

    pub fn is_at(&self, v: &Json<'_>) -> bool {
        match (&self.key, CursorKey::of_json(v)) {
            (Some(a), Some(b)) => a.cmp_same(&b) == Some(std::cmp::Ordering::Equal),
            _ => false,
        }
    }
}

/// A record's identity for edge dedup: its primary key, else a hash of the
/// whole record.
pub fn record_key(record: &Json<'_>, primary_key: &[String]) -> String {
    if !primary_key.is_empty() {
        let parts: Vec<Value> = primary_key
            .iter()
            .map(|k| {
                record
                    .lookup(k)
                    .map(|v| v.to_value())
                    .unwrap_or(Value::Null)
            })
            .collect();
        return if parts.len() == 1 {
            parts[0].to_string()
        } else {
            Value::Array(parts).to_string()
        };
    }
    let mut text = String::new();
    record.write(&mut text);
    format!("#{:016x}", xxh3_64(text.as_bytes()))
}

/// The records a run must not load again: those at the stored edge.
pub struct EdgeFilter {
    edge: CursorEdge,
    keys: HashSet<String>,
}

impl EdgeFilter {
    pub fn new(edge: CursorEdge) -> Option<EdgeFilter> {
        if edge.value.is_none() || edge.keys.is_empty() {
            return None;
        }
        let keys = edge.keys.iter().cloned().collect();
        Some(EdgeFilter { edge, keys })
    }

    /// True when the record was loaded by an earlier run.
    pub fn seen(&self, cursor: &Json<'_>, key: impl FnOnce() -> String) -> bool {
        self.edge.is_at(cursor) && self.keys.contains(&key())
    }
}

/// What the stream knows of committed pages and records, turned into the
/// state each batch commits.
pub struct Progress {
    chains: Vec<ChainProgress>,
    /// The edge the run started from (the last complete run's).
    start: CursorEdge,
    /// The committed edge: the start folded with every committed batch's.
    edge: CursorEdge,
    /// A child's per-parent edges: as the last complete run left them, and
    /// as this run committed them (stored only once the run completes).
    parts_start: BTreeMap<String, CursorEdge>,
    parts: BTreeMap<String, CursorEdge>,
    /// The parents' edge, for a child that follows only changed parents:
    /// as stored, and as this run found it.
    parent_start: Option<CursorEdge>,
    parent: Option<CursorEdge>,
}

struct ChainProgress {
    url: Option<String>,
    seq: u64,
    ahead: BTreeMap<u64, (Option<String>, Vec<u64>)>,
    trail: Vec<u64>,
}

impl Progress {
    /// Progress of a run whose chains start where `chains` say, from the
    /// stored edge `start` (and, when resumed, the run's own edge so far).
    pub fn new(chains: &[ChainPosition], start: CursorEdge, resumed: Option<CursorEdge>) -> Self {
        let mut edge = start.clone();
        if let Some(r) = resumed {
            edge.merge(r);
        }
        Progress {
            chains: chains
                .iter()
                .map(|c| ChainProgress {
                    url: c.url.clone(),
                    seq: c.seq,
                    ahead: c
                        .ahead
                        .iter()
                        .map(|(k, next)| (*k, (next.clone(), c.trail.clone())))
                        .collect(),
                    trail: c.trail.clone(),
                })
                .collect(),
            start,
            edge,
            parts_start: BTreeMap::new(),
            parts: BTreeMap::new(),
            parent_start: None,
            parent: None,
        }
    }

    /// Per-parent edges: the stored ones, and (resumed) this run's so far.
    pub fn with_parts(
        mut self,
        stored: BTreeMap<String, CursorEdge>,
        resumed: BTreeMap<String, CursorEdge>,
    ) -> Self {
        self.parts_start = stored;
        self.parts = resumed;
        self
    }

    /// The parents' edge as stored and as this run found it.
    pub fn with_parent(mut self, stored: CursorEdge, found: CursorEdge) -> Self {
        self.parent_start = Some(stored);
        self.parent = Some(found);
        self
    }

    /// Counts a delivered batch's pages and edges as committed.
    pub fn commit(&mut self, pages: &[PageTag], edges: Edges) {
        for tag in pages {
            let Some(chain) = self.chains.get_mut(tag.chain) else {
                continue;
            };
            if tag.seq >= chain.seq {
                chain
                    .ahead
                    .insert(tag.seq, (tag.next.clone(), tag.trail.clone()));
            }
            while let Some((next, trail)) = chain.ahead.remove(&chain.seq) {
                chain.url = next;
                chain.seq += 1;
                if !trail.is_empty() {
                    chain.trail = trail;
                }
            }
        }
        self.edge.merge(edges.whole);
        merge_parts(&mut self.parts, edges.parts);
    }

    /// The state to commit: the final cursors after the last batch, the
    /// resume point before it.
    pub fn state(&self, last: bool) -> Value {
        let mut out = serde_json::Map::new();
        let (edge, resume) = if last {
            (&self.edge, None)
        } else {
            (&self.start, Some(self.resume()))
        };
        if let Some(v) = &edge.value {
            out.insert("cursor".into(), v.clone());
            if !edge.keys.is_empty() {
                out.insert("boundary".into(), json!(edge.keys));
            }
        }
        let parts = if last {
            let mut all = self.parts_start.clone();
            merge_parts(&mut all, self.parts.clone());
            all
        } else {
            self.parts_start.clone()
        };
        if !parts.is_empty() {
            out.insert("partitions".into(), parts_value(&parts));
        }
        let parent = match (&self.parent_start, &self.parent) {
            (Some(stored), Some(found)) if last => {
                let mut e = stored.clone();
                e.merge(found.clone());
                Some(e)
            }
            (stored, _) => stored.clone(),
        };
        if let Some(p) = parent.as_ref().and_then(StoredEdge::of) {
            out.insert(
                "parent".into(),
                serde_json::to_value(p).expect("plain data"),
            );
        }
        if let Some(r) = resume {
            out.insert(
                "resume".into(),
                serde_json::to_value(r).expect("plain data"),
            );
        }
        Value::Object(out)
    }

    fn resume(&self) -> Resume {
        Resume {
            chains: self
                .chains
                .iter()
                .map(|c| ChainPosition {
                    url: c.url.clone(),
                    seq: c.seq,
                    ahead: c.ahead.iter().map(|(k, (v, _))| (*k, v.clone())).collect(),
                    // A finished chain reads nothing more.
                    trail: if c.url.is_some() {
                        c.trail.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
            cursor: self.edge.value.clone(),
            boundary: self.edge.keys.clone(),
            partitions: self
                .parts
                .iter()
                .filter_map(|(k, e)| StoredEdge::of(e).map(|s| (k.clone(), s)))
                .collect(),
            parent: self.parent.as_ref().and_then(StoredEdge::of),
        }
    }
}

mod state;
#[cfg(test)]
mod tests;

pub use state::apply_state;
