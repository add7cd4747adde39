//! The loop that feeds a target: inputs generated or mutated from the
//! corpus, panics caught per input, a watchdog for inputs that never end,
//! and every finding written to `crashes/<target>/`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use fastrand::Rng;

use crate::mutate;

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    /// Must return (any `Err` is fine) for every input, never panic or hang.
    pub run: fn(&[u8]),
    /// A structure-aware input: near-valid documents of the target's kind.
    pub generate: fn(&mut Rng) -> Vec<u8>,
    /// Tokens of the format, spliced in by the mutator.
    pub dict: &'static [&'static [u8]],
    /// Inputs are cut to this many bytes.
    pub max_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Panic,
    Hang,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: Kind,
    /// The panic message with its location, or how long the input ran.
    pub message: String,
    pub input: Vec<u8>,
    pub saved: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Outcome {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
    /// The first input of each distinct panic location, and hangs.
    pub findings: Vec<Finding>,
    /// Inputs that panicked, all locations together.
    pub panicked: u64,
}

pub struct Settings {
    pub seed: u64,
    pub iterations: Option<u64>,
    pub seconds: Option<f64>,
    /// An input running longer than this is a hang.
    pub timeout: Duration,
    /// Seeds: `<corpus>/<target>/*`.
    pub corpus: PathBuf,
    /// Findings go to `<crashes>/<target>/`; None keeps them in memory only.
    pub crashes: Option<PathBuf>,
    /// Exit the process on a hang (the stuck thread cannot be stopped).
    pub exit_on_hang: bool,
}

thread_local! {
    static FUZZING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Fuzz loops running now, in any thread.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Panics on threads a target started (a reader thread), while fuzzing.
static STRAY: AtomicU64 = AtomicU64::new(0);
static STRAY_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "unknown location".into());
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let mut message = format!("{location}: {payload}");
            if std::env::var_os("TILLFLOW_FUZZ_BACKTRACE").is_some() {
                message.push_str(&format!("\n{}", std::backtrace::Backtrace::force_capture()));
            }
            if FUZZING.with(Cell::get) {
                CAUGHT.with(|c| *c.borrow_mut() = Some(message));
            } else if ACTIVE.load(Ordering::SeqCst) > 0 {
                // A thread the target started (a reader thread): the input
                // in flight made it panic.
                STRAY.fetch_add(1, Ordering::SeqCst);
                *STRAY_MESSAGE.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
                    "on thread {:?}: {message}",
                    std::thread::current().name()
                ));
                default(info);
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `target` on one input: the panic message if it panicked (on its
/// own thread or on one it started).
pub fn run_one(target: &Target, input: &[u8]) -> Option<String> {
    install_hook();
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    let stray_before = STRAY.load(Ordering::SeqCst);
    FUZZING.with(|f| f.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    FUZZING.with(|f| f.set(false));
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    let caught = CAUGHT.with(|c| c.borrow_mut().take());
    if result.is_err() {
        return Some(caught.unwrap_or_else(|| "panicked".into()));
    }
    if STRAY.load(Ordering::SeqCst) != stray_before {
        let m = STRAY_MESSAGE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        return Some(m.unwrap_or_else(|| "a helper thread panicked".into()));
    }
    None
}

/// A stable name for an input's file.
pub fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Every file directly under `dir`, sorted by name.
pub fn read_dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') || n.ends_with(".md"))
        })
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    out.sort();
    out
}

fn save(dir: &Option<PathBuf>, target: &str, kind: Kind, input: &[u8]) -> Option<PathBuf> {
    let dir = dir.as_ref()?.join(target);
    std::fs::create_dir_all(&dir).ok()?;
    let prefix = match kind {
        Kind::Panic => "panic",
        Kind::Hang => "hang",
    };
    let path = dir.join(format!("{prefix}-{}", digest(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// Watches the input in flight; one per fuzz loop.
struct Watchdog {
    /// Nanoseconds since `base` when the current input started; 0 between inputs.
    started: AtomicU64,
    input: Mutex<Vec<u8>>,
    stop: AtomicBool,
    base: Instant,
}

fn start_watchdog(
    target: &'static str,
    timeout: Duration,
    crashes: Option<PathBuf>,
    exit_on_hang: bool,
) -> Arc<Watchdog> {
    let w = Arc::new(Watchdog {
        started: AtomicU64::new(0),
        input: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        base: Instant::now(),
    });
    let watch = Arc::clone(&w);
    std::thread::Builder::new()
        .name(format!("fuzz-watchdog-{target}"))
        .spawn(move || {
            let tick = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
            while !watch.stop.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                let started = watch.started.load(Ordering::SeqCst);
                if started == 0 {
                    continue;
                }
                let now = watch.base.elapsed().as_nanos() as u64;
                if now.saturating_sub(started) > timeout.as_nanos() as u64 {
                    let input = watch
                        .input
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    let saved = save(&crashes, target, Kind::Hang, &input);
                    eprintln!(
                        "HANG in {target}: an input ran longer than {timeout:?} ({} bytes{})",
                        input.len(),
                        saved
                            .map(|p| format!(", saved to {}", p.display()))
                            .unwrap_or_default()
                    );
                    eprintln!("input: {:?}", String::from_utf8_lossy(&input));
                    if exit_on_hang {
                        std::process::exit(3);
                    }
                    // Report it once; the loop goes on when the input ends.
                    watch.started.store(0, Ordering::SeqCst);
                }
            }
        })
        .expect("starting the watchdog");
    w
}

/// Runs one input under the watchdog; Some if it panicked or overran.
pub fn check(target: &Target, input: &[u8], timeout: Duration) -> Option<Finding> {
    let t0 = Instant::now();
    let panicked = run_one(target, input);
    let took = t0.elapsed();
    if let Some(message) = panicked {
        return Some(Finding {
            kind: Kind::Panic,
            message,
            input: input.to_vec(),
            saved: None,
        });
    }
    (took > timeout).then(|| Finding {
        kind: Kind::Hang,
        message: format!("ran {took:?}, over the {timeout:?} limit"),
        input: input.to_vec(),
        saved: None,
    })
}

/// Generated and mutated inputs until the budget is spent.
pub fn fuzz(target: &'static Target, s: &Settings) -> Outcome {
    install_hook();
    let mut rng = Rng::with_seed(
        s.seed ^ u64::from_str_radix(&digest(target.name.as_bytes()), 16).unwrap_or(0),
    );
    let seeds: Vec<Vec<u8>> = read_dir_files(&s.corpus.join(target.name))
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let fixed = pool.len();
    let watch = start_watchdog(target.name, s.timeout, s.crashes.clone(), s.exit_on_hang);
    let t0 = Instant::now();
    let deadline = s.seconds.map(|x| t0 + Duration::from_secs_f64(x));
    let mut inputs = 0u64;
    let mut panicked = 0u64;
    let mut by_location: BTreeMap<String, Finding> = BTreeMap::new();
    let mut hangs = Vec::new();
    let mut next_slot = 0usize;
    loop {
        if s.iterations.is_some_and(|n| inputs >= n) {
            break;
        }
        if inputs.is_multiple_of(16) && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        // Seeds as they are first, then a mix of fresh documents and mutants.
        let input = if (inputs as usize) < fixed {
            pool[inputs as usize].clone()
        } else if pool.is_empty() || rng.f32() < 0.35 {
            let mut fresh = (target.generate)(&mut rng);
            fresh.truncate(target.max_len);
            // Keep some fresh documents as material for later mutants.
            if pool.len() < fixed + 256 {
                pool.push(fresh.clone());
            } else {
                pool[fixed + next_slot] = fresh.clone();
                next_slot = (next_slot + 1) % 256;
            }
            fresh
        } else {
            let base = &pool[rng.usize(..pool.len())];
            let other = &pool[rng.usize(..pool.len())];
            mutate::mutate(&mut rng, base, other, target.dict, target.max_len)
        };
        {
            let mut slot = watch.input.lock().unwrap_or_else(|p| p.into_inner());
            slot.clear();
            slot.extend_from_slice(&input);
        }
        let begun = watch.base.elapsed();
        watch
            .started
            .store(begun.as_nanos().max(1) as u64, Ordering::SeqCst);
        let result = run_one(target, &input);
        watch.started.store(0, Ordering::SeqCst);
        let took = watch.base.elapsed() - begun;
        inputs += 1;
        if let Some(message) = result {
            panicked += 1;
            let location = message.split(": ").next().unwrap_or("").to_string();
            if let std::collections::btree_map::Entry::Vacant(slot) = by_location.entry(location) {
                let saved = save(&s.crashes, target.name, Kind::Panic, &input);
                slot.insert(Finding {
                    kind: Kind::Panic,
                    message,
                    input,
                    saved,
                });
            }
        } else if took > s.timeout {
            let saved = save(&s.crashes, target.name, Kind::Hang, &input);
            hangs.push(Finding {
                kind: Kind::Hang,
                message: format!("ran {took:?}, over the {:?} limit", s.timeout),
                input,
                saved,
            });
        }
    }
    watch.stop.store(true, Ordering::SeqCst);
    let mut findings: Vec<Finding> = by_location.into_values().collect();
    findings.extend(hangs);
    Outcome {
        target: target.name,
        inputs,
        elapsed: t0.elapsed(),
        findings,
        panicked,
    }
}

/// The smallest input found (by removing chunks, then bytes) that still
/// panics at the same place as `input`.
pub fn minimize(target: &Target, input: &[u8], timeout: Duration) -> Vec<u8> {
    let Some(first) = check(target, input, timeout) else {
        return input.to_vec();
    };
    let location = |f: &Finding| f.message.split(": ").next().unwrap_or("").to_string();
    let want = (first.kind, location(&first));
    let still = |candidate: &[u8]| {
        check(target, candidate, timeout).is_some_and(|f| (f.kind, location(&f)) == want)
    };
    let mut best = input.to_vec();
    let mut chunk = best.len().max(1) / 2;
    while chunk >= 1 {
        let mut i = 0;
        let mut shrunk = false;
        while i < best.len() {
            let end = (i + chunk).min(best.len());
            let mut candidate = best[..i].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if still(&candidate) {
                best = candidate;
                shrunk = true;
            } else {
                i += chunk;
            }
        }
        if !shrunk {
            chunk /= 2;
        }
    }
    best
}
