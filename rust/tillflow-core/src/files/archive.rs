//! `.zip` archives of exports: each member a file of its own. A member is
//! read on a thread of its own that owns the archive, its bytes handed over
//! in chunks, so a reader holds no borrow of the archive and a member of
//! any size streams; a read error (a bad checksum, a cut archive) reaches
//! the reader as an error, never as an early end.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use crate::error::{CoreError, Result};

/// A member of an archive, as the listing sees it.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub size: u64,
    pub crc32: u32,
}

fn err(path: &Path, message: String) -> CoreError {
    CoreError::file(path.display().to_string(), message)
}

/// The files an archive holds (directories and macOS resource forks left out), in its order.
pub fn members(path: &Path) -> Result<Vec<Member>> {
    let file = File::open(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| err(path, format!("not a readable zip archive: {e}")))?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let m = zip
            .by_index_raw(i)
            .map_err(|e| err(path, format!("not a readable zip archive: {e}")))?;
        let name = m
            .name()
            .map_err(|e| err(path, format!("a member's name cannot be read: {e}")))?
            .into_owned();
        let base = name.rsplit('/').next().unwrap_or_default();
        if m.is_dir() || name.starts_with("__MACOSX/") || base.starts_with("._") || base.is_empty()
        {
            continue;
        }
        out.push(Member {
            name,
            size: m.size(),
            crc32: m.crc32(),
        });
    }
    Ok(out)
}

/// The bytes of one member, decompressed and checked as they are read.
pub fn open_member(path: &Path, name: &str) -> Result<Box<dyn Read + Send>> {
    let shown = format!("{}:{name}", path.display());
    // Opened here first, so a missing member is an error now, not at the first read.
    {
        let file =
            File::open(path).map_err(|e| CoreError::file(&shown, format!("cannot read: {e}")))?;
        let mut zip = zip::ZipArchive::new(BufReader::new(file))
            .map_err(|e| CoreError::file(&shown, format!("not a readable zip archive: {e}")))?;
        zip.by_name(name)
            .map_err(|e| CoreError::file(&shown, format!("cannot read this member: {e}")))?;
    }
    let (tx, rx) = sync_channel::<std::io::Result<Vec<u8>>>(4);
    let archive: PathBuf = path.to_path_buf();
    let member = name.to_string();
    std::thread::Builder::new()
        .name("tillflow-unzip".into())
        .spawn(move || {
            let run = || -> std::io::Result<()> {
                let file = File::open(&archive)?;
                let mut zip =
                    zip::ZipArchive::new(BufReader::new(file)).map_err(std::io::Error::other)?;
                let mut m = zip.by_name(&member).map_err(std::io::Error::other)?;
                loop {
                    let mut chunk = vec![0u8; 256 * 1024];
                    let n = m.read(&mut chunk)?;
                    chunk.truncate(n);
                    let end = n == 0;
                    if tx.send(Ok(chunk)).is_err() || end {
                        return Ok(());
                    }
                }
            };
            if let Err(e) = run() {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| CoreError::Internal(format!("cannot start a thread: {e}")))?;
    Ok(Box::new(Chunks {
        rx,
        buf: Vec::new(),
        pos: 0,
        done: false,
    }))
}

struct Chunks {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("the archive's reader stopped")),
            }
        }
    }
}
