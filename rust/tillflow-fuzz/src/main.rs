//! `tillflow-fuzz <target|all> [--iterations N] [--seconds S] [--seed N] [--timeout-ms N]`
//! runs targets (each for N inputs and/or S seconds); `list` names them;
//! `replay <target> <file>...` runs saved inputs; `minimize <target> <file>`
//! shrinks a crashing input; `seed <target> <count>` writes generated
//! inputs to the corpus.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tillflow_fuzz::engine::{self, Kind, Settings, Target};
use tillflow_fuzz::targets::{self, ALL};

fn usage() -> ExitCode {
    eprintln!(
        "usage: tillflow-fuzz <target|all> [--iterations N] [--seconds S] [--seed N] [--timeout-ms N]\n\
         \x20      tillflow-fuzz list | replay <target> <file>... | minimize <target> <file> | seed <target> <count>"
    );
    ExitCode::from(2)
}

fn target(name: &str) -> Option<&'static Target> {
    let t = targets::by_name(name);
    if t.is_none() {
        eprintln!("no target {name:?}; `tillflow-fuzz list` names them");
    }
    t
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(first) = args.first() else {
        return usage();
    };
    let dir = tillflow_fuzz::crate_dir();
    let timeout = flag(&args, "--timeout-ms")
        .map(|ms| Duration::from_millis(ms as u64))
        .unwrap_or(Duration::from_secs(10));
    match first.as_str() {
        "list" => {
            for t in ALL {
                println!("{:<16} {}", t.name, t.about);
            }
            ExitCode::SUCCESS
        }
        "replay" => {
            let Some(t) = args.get(1).and_then(|n| target(n)) else {
                return usage();
            };
            let mut bad = 0;
            for file in &args[2..] {
                let input = std::fs::read(file).unwrap_or_default();
                match engine::check(t, &input, timeout) {
                    Some(f) => {
                        bad += 1;
                        println!("{file}: {:?}: {}", f.kind, f.message);
                    }
                    None => println!("{file}: ok"),
                }
            }
            targets::clean_scratch();
            if bad > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        "minimize" => {
            let (Some(t), Some(file)) = (args.get(1).and_then(|n| target(n)), args.get(2)) else {
                return usage();
            };
            let input = std::fs::read(file).unwrap_or_default();
            let small = engine::minimize(t, &input, timeout);
            let out = PathBuf::from(format!("{file}.min"));
            let _ = std::fs::write(&out, &small);
            targets::clean_scratch();
            println!(
                "{} -> {} bytes: {}",
                input.len(),
                small.len(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        "seed" => {
            let (Some(t), Some(count)) = (
                args.get(1).and_then(|n| target(n)),
                args.get(2).and_then(|c| c.parse::<usize>().ok()),
            ) else {
                return usage();
            };
            let mut rng = fastrand::Rng::with_seed(flag(&args, "--seed").unwrap_or(1.0) as u64);
            let out = dir.join("corpus").join(t.name);
            let _ = std::fs::create_dir_all(&out);
            for _ in 0..count {
                let mut input = (t.generate)(&mut rng);
                input.truncate(t.max_len);
                let _ = std::fs::write(out.join(engine::digest(&input)), &input);
            }
            ExitCode::SUCCESS
        }
        name => {
            let chosen: Vec<&'static Target> = if name == "all" {
                ALL.to_vec()
            } else {
                match target(name) {
                    Some(t) => vec![t],
                    None => return usage(),
                }
            };
            let iterations = flag(&args, "--iterations").map(|n| n as u64);
            let seconds = flag(&args, "--seconds");
            if iterations.is_none() && seconds.is_none() {
                return usage();
            }
            let settings = Settings {
                seed: flag(&args, "--seed").unwrap_or(1.0) as u64,
                iterations,
                seconds,
                timeout,
                corpus: dir.join("corpus"),
                crashes: Some(dir.join("crashes")),
                exit_on_hang: true,
            };
            run(&chosen, &settings)
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<f64> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn run(chosen: &[&'static Target], settings: &Settings) -> ExitCode {
    println!(
        "{:<16} {:>10} {:>9} {:>9} {:>7} {:>6}",
        "target", "inputs", "seconds", "inputs/s", "panics", "hangs"
    );
    let (mut inputs, mut seconds, mut findings) = (0u64, 0f64, 0usize);
    for t in chosen {
        let o = engine::fuzz(t, settings);
        let secs = o.elapsed.as_secs_f64();
        let hangs = o.findings.iter().filter(|f| f.kind == Kind::Hang).count();
        println!(
            "{:<16} {:>10} {:>9.1} {:>9.0} {:>7} {:>6}",
            o.target,
            o.inputs,
            secs,
            o.inputs as f64 / secs.max(1e-9),
            o.panicked,
            hangs
        );
        for f in &o.findings {
            println!(
                "  {:?}: {}\n    input: {}",
                f.kind,
                f.message,
                f.saved
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| format!("{:?}", String::from_utf8_lossy(&f.input)))
            );
        }
        inputs += o.inputs;
        seconds += secs;
        findings += o.findings.len();
    }
    println!("{:<16} {:>10} {:>9.1}", "total", inputs, seconds);
    targets::clean_scratch();
    if findings > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
