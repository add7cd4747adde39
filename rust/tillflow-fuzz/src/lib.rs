//! Fuzzing of tillflow's parsers of outside input on stable Rust: a small
//! mutation engine over a kept corpus, structure-aware generators per
//! format, panics caught per input and a watchdog for inputs that hang.
//!
//! `cargo run -p tillflow-fuzz --release -- all --seconds 60` runs every
//! target; `cargo test -p tillflow-fuzz` is the short smoke CI runs, and
//! replays the corpus and every regression input. See `docs/fuzzing.md`.

pub mod engine;
pub mod gen;
pub mod mutate;
pub mod targets;

use std::path::PathBuf;

/// This crate's folder: `corpus/`, `regressions/` and `crashes/` live here.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
