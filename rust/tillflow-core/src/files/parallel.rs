//! Normalizing a record file on every core.
//!
//! The stream's own thread only cuts the file into chunks of records
//! (finding where each record ends); parsing and normalizing them, the
//! costly part, happens on worker threads, each with a normalizer of its
//! own sharing one schema. Chunk `i` goes to worker `i mod N` and its
//! result is taken back in the same order, so batches leave in the file's
//! order, with the same counts and states as a read on one thread. A
//! worker that panics hands back an error in that chunk's place.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;

use super::records::{normalize_chunk, Chunk, RecordBatch};
use crate::error::{CoreError, Result};
use crate::normalize::{NormalizeOptions, Normalizer, SharedSchema};

struct Lane {
    jobs: SyncSender<Chunk>,
    results: Receiver<Result<RecordBatch>>,
}

/// Worker threads normalizing chunks of one stream, in order.
pub struct Workers {
    lanes: Vec<Lane>,
    sent: usize,
    taken: usize,
}

impl Workers {
    /// `n` workers (at least one) for the stream whose root table is `root`.
    pub fn start(
        root: &str,
        primary_key: &[String],
        opts: &NormalizeOptions,
        n: usize,
    ) -> Result<Workers> {
        let schema = Arc::new(SharedSchema::default());
        let mut lanes = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let (jobs, inbox) = sync_channel::<Chunk>(1);
            let (outbox, results) = sync_channel::<Result<RecordBatch>>(1);
            let mut norm =
                Normalizer::with_schema(root, primary_key.to_vec(), opts, schema.clone());
            thread::Builder::new()
                .name(format!("tillflow-normalize-{i}"))
                .spawn(move || {
                    for chunk in inbox {
                        let done =
                            catch_unwind(AssertUnwindSafe(|| normalize_chunk(chunk, &mut norm)))
                                .unwrap_or_else(|p| {
                                    Err(CoreError::Internal(format!(
                                        "normalizing records panicked: {}",
                                        panic_text(p.as_ref())
                                    )))
                                });
                        // The stream went away (the run stopped): stop.
                        if outbox.send(done).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| {
                    CoreError::Internal(format!("cannot start a normalizer thread: {e}"))
                })?;
            lanes.push(Lane { jobs, results });
        }
        Ok(Workers {
            lanes,
            sent: 0,
            taken: 0,
        })
    }

    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Chunks handed out whose batches were not taken back yet.
    pub fn in_flight(&self) -> usize {
        self.sent - self.taken
    }

    /// Hands a chunk to the next worker; at most [`Self::lanes`] may be in
    /// flight.
    pub fn submit(&mut self, chunk: Chunk) -> Result<()> {
        debug_assert!(self.in_flight() < self.lanes.len());
        let lane = &self.lanes[self.sent % self.lanes.len()];
        lane.jobs.send(chunk).map_err(|_| stopped())?;
        self.sent += 1;
        Ok(())
    }

    /// The oldest chunk's batch, waiting for it if need be.
    pub fn take(&mut self) -> Result<RecordBatch> {
        if self.in_flight() == 0 {
            return Err(CoreError::Internal(
                "no chunk of records is being normalized".into(),
            ));
        }
        let lane = &self.lanes[self.taken % self.lanes.len()];
        let batch = lane.results.recv().map_err(|_| stopped())?;
        self.taken += 1;
        batch
    }
}

fn stopped() -> CoreError {
    CoreError::Internal("a normalizer thread stopped without its batch".into())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::records::{ChunkOf, Record};

    fn chunk(lines: &[&str], first_line: u64, done: bool) -> Chunk {
        let records = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (first_line + i as u64, Record::Text(l.as_bytes().to_vec())))
            .collect();
        Chunk::new(records, done, Arc::new(ChunkOf::for_tests("orders.ndjson")))
    }

    #[test]
    fn batches_come_back_in_the_order_chunks_went_out() {
        let opts = NormalizeOptions::default();
        let mut w = Workers::start("orders", &["id".to_string()], &opts, 3).unwrap();
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for c in 0..20u64 {
            // Chunks of different sizes so workers finish out of order.
            let size = if c % 3 == 0 { 400 } else { 3 };
            let lines: Vec<String> = (0..size)
                .map(|i| format!(r#"{{"id": {}, "items": [{{"n": {i}}}]}}"#, c * 1000 + i))
                .collect();
            let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
            if w.in_flight() == w.lanes() {
                got.push(w.take().unwrap().consumed);
            }
            w.submit(chunk(&refs, c * 1000 + 1, c == 19)).unwrap();
            expected.push(size);
        }
        while w.in_flight() > 0 {
            got.push(w.take().unwrap().consumed);
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn a_bad_record_fails_its_own_chunk_with_its_line() {
        let opts = NormalizeOptions::default();
        let mut w = Workers::start("orders", &["id".to_string()], &opts, 2).unwrap();
        w.submit(chunk(&[r#"{"id": 1}"#], 1, false)).unwrap();
        w.submit(chunk(&[r#"{"id": 2}"#, "{nope"], 2, true))
            .unwrap();
        let first = w.take().unwrap();
        assert_eq!(first.tables[0].1.height(), 1);
        let e = w.take().unwrap_err().to_string();
        assert!(e.contains("orders.ndjson") && e.contains("line 3"), "{e}");
        assert!(w.take().is_err(), "nothing is left in flight");
    }
}
