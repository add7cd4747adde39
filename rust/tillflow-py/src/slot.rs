//! `Slot<T>`: a native stream a Python object owns until it is exhausted or
//! closed. The mutex makes the Python class `Sync`, so the object may be
//! freed on any thread (orchestrators keep a failed task's frames and drop
//! them on their own threads); methods that hold `&mut self` reach the
//! stream without locking.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub struct Slot<T>(Mutex<Option<T>>);

impl<T> Slot<T> {
    pub fn new(value: T) -> Self {
        Slot(Mutex::new(Some(value)))
    }

    /// The stream, or `None` once it is closed.
    pub fn get(&mut self) -> &mut Option<T> {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// A shared look, for methods that hold only `&self`.
    pub fn peek(&self) -> MutexGuard<'_, Option<T>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_open(&self) -> bool {
        self.peek().is_some()
    }
}
