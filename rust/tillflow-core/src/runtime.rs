//! The process-wide tokio runtime. Created lazily, and created anew in a
//! forked child (a runtime's threads do not survive fork).

use std::sync::{Mutex, Once};

use tokio::runtime::{Handle, Runtime};

static RUNTIME: Mutex<Option<(u32, Runtime)>> = Mutex::new(None);

/// A handle to the shared runtime, valid in this process.
pub fn handle() -> Handle {
    let pid = std::process::id();
    let mut guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((owner, rt)) = guard.as_ref() {
        if *owner == pid {
            return rt.handle().clone();
        }
        // Inherited from the parent across fork: its worker threads are
        // gone, so leak it rather than run its destructor.
        if let Some((_, stale)) = guard.take() {
            std::mem::forget(stale);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 8),
        )
        .thread_name("tillflow-io")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let h = rt.handle().clone();
    *guard = Some((pid, rt));
    h
}

/// rustls needs one crypto provider chosen per process; tillflow uses ring.
pub fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
