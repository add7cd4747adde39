//! Reading a file stream one batch ahead on a thread of its own, so that
//! parsing the next batch overlaps loading the last one (a loader that
//! spends its time in the warehouse, not in this stream).
//!
//! What is read ahead is only read: each batch carries the state it
//! commits, so a run stopped between batches resumes where the last loaded
//! batch left off, exactly as without read-ahead. Errors arrive in order,
//! after the batches read before them; a panic while reading is an error,
//! never a silent end.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread;

use super::{FileBatch, FileStream};
use crate::error::{CoreError, Result};

/// One batch (or the end, or an error) and the stream's warnings as of it.
type Item = (Result<Option<FileBatch>>, Vec<String>);

/// A [`FileStream`] read on its own thread, `depth` batches ahead.
pub struct ReadAhead {
    rx: Receiver<Item>,
    warnings: Vec<String>,
    finished: bool,
}

impl ReadAhead {
    pub fn start(mut stream: FileStream, depth: usize) -> Result<ReadAhead> {
        let (tx, rx) = sync_channel::<Item>(depth);
        thread::Builder::new()
            .name("tillflow-files".into())
            .spawn(move || loop {
                let next =
                    catch_unwind(AssertUnwindSafe(|| stream.next_batch())).unwrap_or_else(|p| {
                        let what = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(CoreError::Internal(format!(
                            "reading files panicked: {what}"
                        )))
                    });
                let end = !matches!(next, Ok(Some(_)));
                let warnings = stream.warnings();
                // The reader went away (the run stopped): stop reading.
                if tx.send((next, warnings)).is_err() || end {
                    break;
                }
            })
            .map_err(|e| CoreError::Internal(format!("cannot start a file reader thread: {e}")))?;
        Ok(ReadAhead {
            rx,
            warnings: Vec::new(),
            finished: false,
        })
    }

    /// The next batch, in the stream's order; `None` once every file is read.
    pub fn next_batch(&mut self) -> Result<Option<FileBatch>> {
        if self.finished {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok((next, warnings)) => {
                self.warnings = warnings;
                if !matches!(next, Ok(Some(_))) {
                    self.finished = true;
                }
                next
            }
            Err(_) => {
                self.finished = true;
                Err(CoreError::Internal(
                    "the file reader thread stopped without an end".into(),
                ))
            }
        }
    }

    /// The stream's warnings as of the last batch handed out.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
