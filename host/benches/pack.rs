//! Core-pack benchmark: the three core rules (`lateral-movement`, `emotet-macro-chain`,
//! `scan-detection`) over the combined sample data, next to the same engine with a no-op rule
//! subscribed to every class, in one run.
//!
//! - `intake`: reading and normalizing every file (`intake::open`), no rules;
//! - `engine + noop`: the events (already in memory) through the engine with the `noop` fixture
//!   — reorder buffer, batching, lowering, one call per batch; the floor any rule pays;
//! - `engine + core pack`: the same events through the three core rules;
//! - `replay end to end`: files → intake → engine → core pack → findings, as `yagura replay`
//!   runs it, without the output writing.
//!
//! Inputs: every file of `../shared/data` when it exists, else the committed `tests/data`.
//! Each figure is the median of several passes, in events per second.
//! Run: `cargo xtask bench --bench pack` (builds the components first).
//! `YAGURA_BENCH_QUICK=1` runs one pass.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use yagura::engine::{Engine, EngineOptions};
use yagura::event::Event;
use yagura::finding::Finding;
use yagura::intake::{self, Format};
use yagura::rule::RuleInfo;
use yagura::sandbox::{RuleComponent, Sandbox};

const CORE_PACK: [&str; 3] = ["lateral-movement", "emotet-macro-chain", "scan-detection"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn component(sandbox: &Sandbox, name: &str) -> RuleComponent {
    let dir = root().join("target/rules");
    let fixture = dir.join("fixtures").join(format!("{name}.wasm"));
    let path = if fixture.exists() {
        fixture
    } else {
        dir.join(format!("{name}.wasm"))
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo xtask build-rules` first",
            path.display()
        )
    });
    sandbox
        .load(&bytes, name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every regular file under `dir`, sorted; licence and readme files skipped.
fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // hidden entries (a stray `.yagura` cache) are not data
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            let skip = name.starts_with("license")
                || name.starts_with("readme")
                || name.starts_with("notice")
                || [".md", ".yaml", ".py"].iter().any(|x| name.ends_with(x))
                || name.starts_with("bad.");
            if !skip {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Reads every file; rejected records are skipped (and counted).
fn read_all(files: &[PathBuf]) -> (Vec<Event>, u64) {
    let mut events = Vec::new();
    let mut rejected = 0;
    for file in files {
        let Ok((_, records)) = intake::open(file, Format::Auto) else {
            continue;
        };
        for record in records {
            match record {
                Ok(e) => events.push(e),
                Err(_) => rejected += 1,
            }
        }
    }
    (events, rejected)
}

fn engine(components: &[RuleComponent]) -> Engine {
    let mut engine = Engine::new(EngineOptions::default());
    for c in components {
        engine.add_rule(c.instantiate(&[]).expect("the rule starts"));
    }
    engine
}

/// Events through a fresh engine; returns the findings count.
fn run(components: &[RuleComponent], events: &[Event]) -> usize {
    let mut engine = engine(components);
    let mut findings = 0usize;
    let mut sink = |_: &RuleInfo, f: Finding| {
        black_box(&f);
        findings += 1;
    };
    for e in events {
        engine.push(e.clone(), &mut sink);
    }
    engine.flush(&mut sink);
    findings
}

fn run_files(components: &[RuleComponent], files: &[PathBuf]) -> (u64, usize) {
    let mut engine = engine(components);
    let mut findings = 0usize;
    let mut sink = |_: &RuleInfo, f: Finding| {
        black_box(&f);
        findings += 1;
    };
    let mut n = 0;
    for file in files {
        let Ok((_, records)) = intake::open(file, Format::Auto) else {
            continue;
        };
        for event in records.flatten() {
            n += 1;
            engine.push(event, &mut sink);
        }
    }
    engine.flush(&mut sink);
    (n, findings)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn per_second(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let quick = std::env::var_os("YAGURA_BENCH_QUICK").is_some();
    let passes = if quick { 1 } else { 7 };
    let shared = root().join("../shared/data");
    let (label, dir) = if shared.is_dir() {
        ("../shared/data", shared)
    } else {
        ("tests/data", root().join("tests/data"))
    };
    let files = data_files(&dir);
    let (events, rejected) = read_all(&files);
    let n = events.len() as u64;
    println!(
        "core pack over {label}: {} files, {n} events ({rejected} rejected), {passes} passes, median\n",
        files.len()
    );

    let sandbox = Sandbox::builder().build().expect("the sandbox starts");
    let noop = vec![component(&sandbox, "noop")];
    let core: Vec<RuleComponent> = CORE_PACK
        .iter()
        .map(|name| component(&sandbox, name))
        .collect();

    let mut intake_t = Vec::new();
    let mut noop_t = Vec::new();
    let mut core_t = Vec::new();
    let mut e2e_t = Vec::new();
    let mut findings = 0;
    for _ in 0..passes {
        let t = Instant::now();
        black_box(read_all(&files));
        intake_t.push(t.elapsed());

        let t = Instant::now();
        black_box(run(&noop, &events));
        noop_t.push(t.elapsed());

        let t = Instant::now();
        findings = run(&core, &events);
        core_t.push(t.elapsed());

        let t = Instant::now();
        black_box(run_files(&core, &files));
        e2e_t.push(t.elapsed());
    }
    let rows = [
        ("intake (read + normalize)", median(intake_t)),
        ("engine + noop rule", median(noop_t)),
        ("engine + core pack", median(core_t)),
        ("replay end to end", median(e2e_t)),
    ];
    println!("| stage | events/s | µs/event |");
    println!("|---|---:|---:|");
    for (name, d) in &rows {
        println!(
            "| {name} | {:.0} | {:.2} |",
            per_second(n, *d),
            d.as_secs_f64() * 1e6 / n as f64
        );
    }
    let ratio = rows[2].1.as_secs_f64() / rows[1].1.as_secs_f64();
    println!("\ncore pack / noop: {ratio:.2}x; findings per pass: {findings}");
}
