//! Sources: where records come from. Each yields Arrow batches per resource
//! in bounded memory, with its cursor state.

pub mod checkpoint;
pub mod http;
pub mod records;
pub mod spec;
pub mod stream;
