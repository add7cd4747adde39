//! One target per parser of outside input.

/// The dictionary of a target whose inputs are JSON text: JSON's own
/// punctuation and literals, then the target's tokens.
macro_rules! json_dict {
    ($($token:expr),* $(,)?) => {
        &[
            b"{", b"}", b"[", b"]", b":", b",", b"\"", b"null", b"true", b"false",
            $($token),*
        ]
    };
}

pub mod files;
pub mod http;
pub mod json;
pub mod specs;

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::engine::{digest, Target};

/// Every target, in the order runs report them.
pub static ALL: [&Target; 12] = [
    &json::PARSE,
    &json::ROUNDTRIP,
    &json::NORMALIZE,
    &files::CSV,
    &files::XLSX,
    &files::RECORDS,
    &files::TEXT,
    &specs::REST_SPEC,
    &specs::FILE_OPTIONS,
    &specs::RULES,
    &http::LINK_HEADER,
    &http::RETRY_AFTER,
];

pub fn by_name(name: &str) -> Option<&'static Target> {
    ALL.iter().copied().find(|t| t.name == name)
}

/// Settings drawn from an input's digest: the same input always gets the
/// same ones, so a saved input replays exactly.
pub struct Choice(fastrand::Rng);

pub fn choose(data: &[u8]) -> Choice {
    Choice(fastrand::Rng::with_seed(
        u64::from_str_radix(&digest(data), 16).unwrap_or(0),
    ))
}

impl Choice {
    pub fn of<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.0.usize(..items.len())].clone()
    }

    pub fn one_in(&mut self, n: u32) -> bool {
        self.0.u32(..n) == 0
    }
}

/// A scratch file for this thread, in a directory of this process.
pub fn scratch(target: &str, ext: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("tillflow-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    });
    let thread: String = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    dir.join(format!("{target}-{thread}{ext}"))
}

/// Removes this process's scratch files.
pub fn clean_scratch() {
    if let Some(dir) = scratch("x", "").parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// An input cut at each 0x1E (record separator) into at most `n` parts.
pub fn split_parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == 0x1E).collect()
}
