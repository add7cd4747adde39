//! Where each log file was read to, and how a rerun finds it again after
//! rotation.
//!
//! A file is known by its content, not its name: the hash of its first
//! bytes (up to [`FINGERPRINT_BYTES`]; fewer while the file is shorter),
//! with its device and inode as a tie-breaker. So the file a run read as
//! `access.log` is found again as `access.log.1` after a rename, as the copy
//! `access.log.1` after copytruncate (the truncated `access.log` no longer
//! starts with the same bytes, so it is read from its start), and as
//! `access.log.2.gz` once compressed (the hash is of the uncompressed bytes).
//! A run reads only whole lines: a last line without its newline waits for
//! the next run, except in a compressed file, which is complete.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// How many leading bytes identify a file.
pub const FINGERPRINT_BYTES: usize = 1024;

/// What a run knows of one file: where it was read to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The file's name when it was last read (for people; matching uses the rest).
    pub path: String,
    /// Hex XXH3-128 of the first `fingerprint_len` bytes.
    pub fingerprint: String,
    pub fingerprint_len: usize,
    pub device: u64,
    pub inode: u64,
    /// Bytes read (of the uncompressed content), always at a line's end.
    pub offset: u64,
}

/// The resource's state: one position per file read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailState {
    pub files: Vec<Position>,
}

/// A file found by the glob.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub compressed: bool,
    pub device: u64,
    pub inode: u64,
    /// The first bytes of its (uncompressed) content.
    pub head: Vec<u8>,
}

impl Found {
    fn fingerprint(&self, len: usize) -> Option<String> {
        (self.head.len() >= len).then(|| hex(&self.head[..len]))
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// A file to read this run, and from where.
#[derive(Debug, Clone)]
pub struct Planned {
    pub found: Found,
    pub offset: u64,
}

/// Files matching `pattern`, each with its identity and first bytes.
pub fn find(pattern: &str) -> Result<Vec<Found>> {
    let paths = glob::glob(pattern)
        .map_err(|e| CoreError::config("path", format!("{pattern:?} is not a valid glob: {e}")))?;
    let mut out = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| CoreError::file(pattern, e.to_string()))?;
        if !path.is_file() {
            continue;
        }
        let shown = path.display().to_string();
        let meta = std::fs::metadata(&path).map_err(|e| CoreError::file(&shown, e.to_string()))?;
        let (device, inode) = identity(&meta);
        let compressed = shown.to_ascii_lowercase().ends_with(".gz");
        let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
        open(&path, compressed, 0)?
            .take(FINGERPRINT_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| CoreError::file(&shown, e.to_string()))?;
        out.push(Found {
            path,
            compressed,
            device,
            inode,
            head,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// A reader of the file's (uncompressed) content from `offset` on.
pub fn open(path: &Path, compressed: bool, offset: u64) -> Result<Box<dyn Read + Send>> {
    let shown = path.display().to_string();
    let fail = |e: std::io::Error| CoreError::file(&shown, e.to_string());
    let mut file = File::open(path).map_err(fail)?;
    if compressed {
        let mut reader = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        std::io::copy(&mut (&mut reader).take(offset), &mut std::io::sink()).map_err(fail)?;
        Ok(Box::new(reader))
    } else {
        file.seek(SeekFrom::Start(offset)).map_err(fail)?;
        Ok(Box::new(file))
    }
}

/// Matches the stored positions to the files found: which to read, from
/// where. Files found with no position (new, or truncated and rewritten)
/// start at 0; positions whose file is gone are dropped.
pub fn plan(found: Vec<Found>, stored: &TailState) -> Vec<Planned> {
    let mut taken = vec![false; found.len()];
    let mut planned: Vec<Option<Planned>> = vec![None; found.len()];
    for pos in &stored.files {
        // Content first; among files with the same first bytes, the same inode, else the first.
        let candidates: Vec<usize> = (0..found.len())
            .filter(|&i| !taken[i])
            .filter(|&i| {
                found[i].fingerprint(pos.fingerprint_len).as_deref() == Some(&pos.fingerprint)
            })
            .collect();
        let pick = candidates
            .iter()
            .copied()
            .find(|&i| found[i].device == pos.device && found[i].inode == pos.inode)
            .or_else(|| candidates.first().copied());
        if let Some(i) = pick {
            taken[i] = true;
            planned[i] = Some(Planned {
                found: found[i].clone(),
                offset: pos.offset,
            });
        }
    }
    found
        .into_iter()
        .zip(planned)
        .map(|(f, p)| {
            p.unwrap_or(Planned {
                found: f,
                offset: 0,
            })
        })
        .filter(|p| !p.found.head.is_empty())
        .collect()
}

/// The position of `found` read to `offset`.
pub fn position(found: &Found, offset: u64) -> Position {
    let len = found.head.len().min(FINGERPRINT_BYTES);
    Position {
        path: found.path.display().to_string(),
        fingerprint: hex(&found.head[..len]),
        fingerprint_len: len,
        device: found.device,
        inode: found.inode,
        offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, head: &[u8], inode: u64) -> Found {
        Found {
            path: PathBuf::from(name),
            compressed: name.ends_with(".gz"),
            device: 1,
            inode,
            head: head.to_vec(),
        }
    }

    #[test]
    fn rotated_files_are_found_by_content() {
        let old = found("access.log", b"line one\nline two\n", 7);
        let stored = TailState {
            files: vec![position(&old, 18)],
        };
        // Renamed (same inode) beside a new file; and a compressed copy of an older one.
        let now = vec![
            found("access.log", b"fresh\n", 8),
            found("access.log.1", b"line one\nline two\nline three\n", 7),
            found("access.log.2.gz", b"ancient\n", 3),
        ];
        let plan = plan(now, &stored);
        let offsets: Vec<_> = plan
            .iter()
            .map(|p| (p.found.path.display().to_string(), p.offset))
            .collect();
        assert_eq!(
            offsets,
            [
                ("access.log".to_string(), 0),
                ("access.log.1".to_string(), 18),
                ("access.log.2.gz".to_string(), 0)
            ]
        );
    }

    #[test]
    fn a_short_file_that_grew_is_the_same_file_and_an_empty_one_waits() {
        let small = found("a.log", b"x\n", 1);
        let stored = TailState {
            files: vec![position(&small, 2)],
        };
        let plan = plan(
            vec![found("a.log", b"x\ny\n", 1), found("b.log", b"", 2)],
            &stored,
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].offset, 2);
    }
}
