//! The token file that keeps a rotated refresh token (the parent module's
//! doc says why a file): where it lives, a lock so runs take turns, and a
//! write that leaves the old or the new token whenever the process dies.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CoreError, Result};

/// The token file.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct Stored {
    pub(super) version: u32,
    pub(super) token_url: String,
    pub(super) client_id: String,
    /// Hash of the refresh token the spec was configured with.
    pub(super) configured: String,
    pub(super) refresh_token: String,
    pub(super) access_token: Option<String>,
    /// Unix seconds.
    pub(super) expires_at: Option<u64>,
    pub(super) updated_at: String,
}

/// `$TILLFLOW_STATE_DIR`, else `$XDG_STATE_HOME/tillflow`, else
/// `~/.local/state/tillflow`; the token file is `tokens/<hash>.json` in it.
pub fn default_store(token_url: &str, client_id: &str) -> Result<PathBuf> {
    let dir = if let Some(d) = std::env::var_os("TILLFLOW_STATE_DIR") {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        PathBuf::from(d).join("tillflow")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".local/state/tillflow")
    } else {
        return Err(CoreError::config(
            "auth.token_store",
            "no home directory to keep the rotated refresh token in; set token_store",
        ));
    };
    Ok(dir.join("tokens").join(format!(
        "{:016x}.json",
        xxh3_64(format!("{token_url}|{client_id}").as_bytes())
    )))
}

fn store_error(path: &Path, what: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::config(
        "auth.token_store",
        format!("{what} {}: {e}", path.display()),
    )
}

pub(super) fn lock_store(path: &Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| store_error(dir, "cannot create", e))?;
    }
    let lock_path = path.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| store_error(&lock_path, "cannot open", e))?;
    file.lock()
        .map_err(|e| store_error(&lock_path, "cannot lock", e))?;
    Ok(file)
}

pub(super) fn read_store(path: &Path) -> Result<Option<Stored>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| store_error(path, "cannot read the token file", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(store_error(path, "cannot read", e)),
    }
}

/// Writes the token file so that it holds either the old or the new
/// token, whenever the process dies: a new file beside it, synced, renamed
/// over it, and the folder synced. Readable by its owner only.
pub(super) fn write_store(path: &Path, stored: &Stored) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let text = serde_json::to_vec_pretty(stored).expect("plain data");
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| store_error(&tmp, "cannot write", e))?;
    f.write_all(&text)
        .and_then(|_| f.sync_all())
        .map_err(|e| store_error(&tmp, "cannot write", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| store_error(path, "cannot replace", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!("tf-auth-{}", std::process::id()));
        let path = dir.join("t.json");
        let stored = Stored {
            version: 1,
            token_url: "https://x/token".into(),
            client_id: "c".into(),
            configured: "00".into(),
            refresh_token: "r2".into(),
            access_token: Some("a".into()),
            expires_at: Some(5),
            updated_at: "2024-01-01T00:00:00Z".into(),
        };
        let lock = lock_store(&path).unwrap();
        assert_eq!(read_store(&path).unwrap(), None);
        write_store(&path, &stored).unwrap();
        drop(lock);
        assert_eq!(read_store(&path).unwrap(), Some(stored));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not json").unwrap();
        let e = read_store(&path).unwrap_err().to_string();
        assert!(
            e.contains("auth.token_store") && e.contains("t.json"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
