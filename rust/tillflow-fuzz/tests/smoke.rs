//! The fuzz smoke CI runs: every target for a short, seeded budget, then
//! every corpus input and every regression input (minimized crashers, kept
//! for good) replayed. `TILLFLOW_FUZZ_SECONDS` sets the budget per target.

use std::path::Path;
use std::time::Duration;

use tillflow_fuzz::crate_dir;
use tillflow_fuzz::engine::{self, read_dir_files, Settings, Target};
use tillflow_fuzz::targets::{self, ALL};

fn seconds() -> f64 {
    std::env::var("TILLFLOW_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

fn smoke(name: &str) {
    let target = targets::by_name(name).expect("a target");
    let settings = Settings {
        seed: 13,
        iterations: Some(200_000),
        seconds: Some(seconds()),
        timeout: Duration::from_secs(20),
        corpus: crate_dir().join("corpus"),
        crashes: None,
        exit_on_hang: true,
    };
    let outcome = engine::fuzz(target, &settings);
    let report: Vec<String> = outcome
        .findings
        .iter()
        .map(|f| {
            format!(
                "{:?}: {}\n  input ({} bytes): {:?}",
                f.kind,
                f.message,
                f.input.len(),
                String::from_utf8_lossy(&f.input[..f.input.len().min(2000)])
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "{name}: {} of {} inputs failed:\n{}",
        outcome.panicked,
        outcome.inputs,
        report.join("\n")
    );
    assert!(outcome.inputs > 0, "{name} ran no input");
}

/// Every file under `dir/<target>/` runs clean.
fn replay_dir(dir: &Path, t: &Target) -> Vec<String> {
    read_dir_files(&dir.join(t.name))
        .into_iter()
        .filter_map(|(path, input)| {
            engine::check(t, &input, Duration::from_secs(20))
                .map(|f| format!("{}: {:?}: {}", path.display(), f.kind, f.message))
        })
        .collect()
}

macro_rules! smoke_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                smoke($name);
            }
        )*

        #[test]
        fn every_target_has_a_smoke_test() {
            let tested = [$($name),*];
            for t in ALL {
                assert!(tested.contains(&t.name), "no smoke test for {}", t.name);
            }
        }
    };
}

smoke_tests! {
    smoke_json_parse => "json_parse",
    smoke_json_roundtrip => "json_roundtrip",
    smoke_json_normalize => "json_normalize",
    smoke_csv => "csv",
    smoke_xlsx => "xlsx",
    smoke_records => "records",
    smoke_text => "text",
    smoke_rest_spec => "rest_spec",
    smoke_file_options => "file_options",
    smoke_rules => "rules",
    smoke_link_header => "link_header",
    smoke_retry_after => "retry_after",
}

#[test]
fn corpus_replays_clean() {
    let failed: Vec<String> = ALL
        .iter()
        .flat_map(|t| replay_dir(&crate_dir().join("corpus"), t))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn regressions_replay_clean() {
    let failed: Vec<String> = ALL
        .iter()
        .flat_map(|t| replay_dir(&crate_dir().join("regressions"), t))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_corpus_folder_names_a_target() {
    for dir in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(crate_dir().join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                assert!(
                    targets::by_name(&name).is_some(),
                    "{dir}/{name} names no target"
                );
            }
        }
    }
}
