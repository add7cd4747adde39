//! Which files a path or glob names, and which of them a run loads.
//!
//! Each file gets one small entry in the resource's state: its size, its
//! modification time, a content hash (xxh3-64 of the bytes on disk) and how
//! many data rows of it are committed. A file whose size and mtime match
//! its entry is unchanged; one whose size or mtime differ is hashed, and
//! only a different hash makes it changed (a copy or `touch` does not). A
//! file whose entry is not `done` resumes after its committed rows, unless
//! it changed, in which case it loads again from the start.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::{CoreError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i64,
    /// xxh3-64 of the file's bytes, as hex.
    pub hash: String,
    /// Data rows committed (bad rows included).
    pub rows: u64,
    pub done: bool,
}

/// What the stream commits with each batch.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FileState {
    /// One entry per file the path or glob currently matches, by key.
    #[serde(default)]
    pub files: BTreeMap<String, Entry>,
    /// Committed column types of CSV and Excel tables.
    #[serde(default)]
    pub columns: Vec<(String, String)>,
}

/// A file the path or glob matched.
#[derive(Debug, Clone)]
pub struct Listed {
    pub path: PathBuf,
    /// The path relative to the glob's base directory (with `/`): the name
    /// the file goes by in the state and in `_tf_file`, the same wherever
    /// the folder lives or the pipeline runs from.
    pub key: String,
    pub size: u64,
    pub mtime: i64,
    /// A member of a `.zip` archive at `path` (its key is `archive.zip/member`).
    pub member: Option<String>,
    /// The member's CRC-32, from the archive's directory.
    pub crc32: Option<u32>,
}

impl Listed {
    /// What the readers open.
    pub fn input(&self) -> super::text::Input {
        super::text::Input {
            path: self.path.clone(),
            member: self.member.clone(),
            hash: None,
        }
    }
}

/// Archives replaced by their members, each a file of its own.
fn expand(files: Vec<Listed>) -> Result<Vec<Listed>> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let is_zip = f
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if !is_zip {
            out.push(f);
            continue;
        }
        for m in super::archive::members(&f.path)? {
            out.push(Listed {
                path: f.path.clone(),
                key: format!("{}/{}", f.key, m.name),
                size: m.size,
                mtime: f.mtime,
                member: Some(m.name),
                crc32: Some(m.crc32),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files `pattern` names, sorted by key. A plain path must be a file;
/// a glob's base directory must exist, but the glob may match nothing.
pub fn list(pattern: &str) -> Result<Vec<Listed>> {
    let path = Path::new(pattern);
    if !has_magic(pattern) {
        let meta = std::fs::metadata(path)
            .map_err(|e| CoreError::file(pattern, format!("no such file ({e})")))?;
        if meta.is_dir() {
            return Err(CoreError::file(
                pattern,
                "is a directory; name its files with a glob such as \"exports/*.csv\"",
            ));
        }
        let key = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| pattern.to_string());
        return expand(vec![listed(path.to_path_buf(), key, &meta)]);
    }
    let mut base = PathBuf::new();
    for part in path.components() {
        if has_magic(&part.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(part);
    }
    let shown_base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base.clone()
    };
    if !shown_base.is_dir() {
        return Err(CoreError::file(
            pattern,
            format!("no such directory {}", shown_base.display()),
        ));
    }
    let entries = glob::glob(pattern)
        .map_err(|e| CoreError::config("path", format!("{pattern:?} is not a valid glob: {e}")))?;
    let mut out = Vec::new();
    for entry in entries {
        let p = entry.map_err(|e| {
            CoreError::file(
                e.path().display().to_string(),
                format!("cannot read: {}", e.error()),
            )
        })?;
        let meta = std::fs::metadata(&p)
            .map_err(|e| CoreError::file(p.display().to_string(), format!("cannot read: {e}")))?;
        if !meta.is_file() {
            continue;
        }
        let rel = p.strip_prefix(&base).unwrap_or(&p);
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push(listed(p.clone(), key, &meta));
    }
    expand(out)
}

fn listed(path: PathBuf, key: String, meta: &std::fs::Metadata) -> Listed {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Listed {
        path,
        key,
        size: meta.len(),
        mtime,
        member: None,
        crc32: None,
    }
}

/// What says a file changed: its content hash, or a member's CRC-32 and size
/// (read from the archive's directory, without decompressing it).
fn hash_of(f: &Listed) -> Result<String> {
    match f.crc32 {
        Some(crc) => Ok(format!("crc32:{crc:08x}:{}", f.size)),
        None => content_hash(&f.path),
    }
}

/// The content hash of a file taken while the file is read for its rows,
/// so a first load does not read a large file twice (once to hash it,
/// once to load it) before its first batch.
#[derive(Clone, Default)]
pub struct ReadHash(Arc<Mutex<(Xxh3, u64)>>);

impl ReadHash {
    /// `file`, hashing every byte read through it.
    pub fn reader<R: Read>(&self, file: R) -> Hashing<R> {
        Hashing {
            inner: file,
            hash: self.clone(),
        }
    }

    /// The hash, if exactly `size` bytes (the whole file, as listed) went
    /// through; else the file is hashed again from disk.
    pub fn finish(&self, path: &Path, size: u64) -> Result<String> {
        let (h, read) = &*self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *read == size {
            Ok(format!("{:016x}", h.digest()))
        } else {
            content_hash(path)
        }
    }
}

impl std::fmt::Debug for ReadHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadHash")
    }
}

pub struct Hashing<R> {
    inner: R,
    hash: ReadHash,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.hash.0.lock().unwrap_or_else(|p| p.into_inner());
        state.0.update(&buf[..n]);
        state.1 += n as u64;
        Ok(n)
    }
}

/// xxh3-64 of the file's bytes, read in 1 MiB blocks.
pub fn content_hash(path: &Path) -> Result<String> {
    let shown = || path.display().to_string();
    let mut f =
        File::open(path).map_err(|e| CoreError::file(shown(), format!("cannot read: {e}")))?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| CoreError::file(shown(), format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:016x}", h.digest()))
}

/// A file this run loads, from `entry.rows` on.
#[derive(Debug, Clone)]
pub struct Planned {
    pub listed: Listed,
    pub entry: Entry,
    /// Loading from the start: the file's earlier rows are replaced.
    pub fresh: bool,
}

/// The files to load (in key order) and the state that drops files no
/// longer matched and notes files touched without a change. `changed` says
/// whether that state differs from the stored one.
///
/// A file seen for the first time for which `hash_when_read` holds gets no
/// hash yet: the stream takes it while reading the file (see [`ReadHash`]).
/// A file seen before and changed in size or time is hashed here, since
/// only its hash tells a change from a touch.
pub fn plan(
    files: Vec<Listed>,
    stored: &FileState,
    hash_when_read: impl Fn(&Listed) -> bool,
) -> Result<(Vec<Planned>, FileState, bool)> {
    let mut todo = Vec::new();
    let mut state = FileState {
        files: BTreeMap::new(),
        columns: stored.columns.clone(),
    };
    for f in files {
        let old = stored.files.get(&f.key);
        let same_stat = old.is_some_and(|e| e.size == f.size && e.mtime == f.mtime);
        if let (Some(e), true) = (old, same_stat) {
            if e.done {
                state.files.insert(f.key.clone(), e.clone());
            } else {
                todo.push(Planned {
                    entry: e.clone(),
                    listed: f,
                    fresh: false,
                });
            }
            continue;
        }
        let hash = if old.is_none() && hash_when_read(&f) {
            String::new()
        } else {
            hash_of(&f)?
        };
        match old {
            Some(e) if e.hash == hash => {
                // Touched or copied, not changed: same rows, new stat.
                let entry = Entry {
                    size: f.size,
                    mtime: f.mtime,
                    ..e.clone()
                };
                if entry.done {
                    state.files.insert(f.key.clone(), entry);
                } else {
                    todo.push(Planned {
                        entry,
                        listed: f,
                        fresh: false,
                    });
                }
            }
            _ => {
                let entry = Entry {
                    size: f.size,
                    mtime: f.mtime,
                    hash,
                    rows: 0,
                    done: false,
                };
                todo.push(Planned {
                    entry,
                    listed: f,
                    fresh: true,
                });
            }
        }
    }
    // Entries of files still to load stay as they were until a batch of
    // theirs commits, so a crash before that finds them changed again.
    for p in &todo {
        if let Some(e) = stored.files.get(&p.listed.key) {
            state.files.insert(p.listed.key.clone(), e.clone());
        }
    }
    let changed = state.files != stored.files;
    Ok((todo, state, changed))
}
