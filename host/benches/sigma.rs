//! Sigma benchmark: SigmaHQ's Windows rules over the shared Windows logs, Yagura against the
//! reference engine (rsigma-eval 0.23, the evaluator of the parser Yagura compiles with), on
//! the same events in one run.
//!
//! - `yagura`: what `yagura replay --sigma` does per event: the EVTX file read by the intake
//!   (parsing and normalizing), the engine's ordering and batching, the batch lowered into the
//!   sandbox, and the Sigma engine component (every compiled rule) evaluating it.
//! - `reference`: the same files read with the `evtx` crate, each record made the flat object
//!   of Sigma field names rsigma-eval reads, and evaluated by rsigma-eval with every rule it
//!   loads (its own index). rsigma-eval does not route by `logsource`, so it may name more
//!   rules per event; the work it does is what is timed.
//!
//! Rules: `../shared/sigma/rules/windows` (2,407 files; Yagura refuses 8, rsigma-eval loads
//! them all), else the 123 committed in `sigma/tests/data/sigmahq`. Events: every `.evtx` of
//! `../shared/data` and `../shared/sigma/regression` (without `../shared` the benchmark says so
//! and stops: the committed data is JSON, not EVTX). The files are read into memory first and
//! each pass goes through all of them; the median of the passes is reported.
//!
//! Run: `cargo xtask bench --bench sigma` (builds the Sigma engine first), or after
//! `cargo xtask build-rules`: `cargo bench -p yagura --bench sigma`.
//! `YAGURA_BENCH_QUICK=1` runs one pass of each.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use yagura::engine::{Engine, EngineOptions};
use yagura::intake::{self, Format};
use yagura::rule::Value as ConfigValue;
use yagura::sandbox::{Limits, Sandbox};
use yagura_sigma::windows::EvtxJson;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shared() -> PathBuf {
    std::env::var_os("YAGURA_SHARED").map_or_else(|| root().join("../shared"), PathBuf::from)
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// An EVTX file's records through Yagura's intake.
fn intake_records(input: &[u8]) -> intake::Records {
    let reader = Box::new(Cursor::new(input.to_vec()));
    intake::from_reader(reader, "bench".into(), Format::Evtx)
        .expect("an EVTX file")
        .1
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let shared = shared();
    let mut evtx = Vec::new();
    files(&shared.join("data"), "evtx", &mut evtx);
    files(&shared.join("sigma/regression"), "evtx", &mut evtx);
    if evtx.is_empty() {
        println!(
            "sigma: no .evtx under {}: nothing to measure",
            shared.display()
        );
        return;
    }
    let rules_dir = if shared.join("sigma/rules/windows").is_dir() {
        shared.join("sigma/rules/windows")
    } else {
        root().join("sigma/tests/data/sigmahq/rules")
    };
    let engine_path = root().join("target/rules/engines/sigma.wasm");
    let engine_bytes = std::fs::read(&engine_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `cargo xtask build-rules` first",
            engine_path.display()
        )
    });
    let passes = if std::env::var_os("YAGURA_BENCH_QUICK").is_some() {
        1
    } else {
        5
    };

    // the rules, for both engines
    let (report, compiled) =
        yagura::cli::sigma_compile_paths(std::slice::from_ref(&rules_dir), None)
            .expect("the rules compile");
    let json = serde_json::to_string(&compiled).expect("JSON");
    let mut rule_files = Vec::new();
    files(&rules_dir, "yml", &mut rule_files);
    let mut reference_rules = Vec::new();
    for path in &rule_files {
        let text = std::fs::read_to_string(path).expect("readable rule");
        if let Ok(collection) = rsigma_parser::parse_sigma_yaml(&text) {
            reference_rules.extend(collection.rules);
        }
    }
    let mut reference = rsigma_eval::Engine::new();
    let _ = reference.add_rules(&reference_rules);

    let inputs: Vec<Vec<u8>> = evtx
        .iter()
        .map(|p| std::fs::read(p).expect("readable EVTX"))
        .collect();
    let bytes: usize = inputs.iter().map(Vec::len).sum();

    let sandbox = Sandbox::builder()
        .limits(Limits {
            // a benchmark, not a guard: no batch of the whole rule set may time out
            call_deadline: Duration::from_secs(60),
            ..Limits::default()
        })
        .build()
        .expect("sandbox");
    let component = sandbox
        .load(&engine_bytes, "sigma.wasm")
        .expect("the Sigma engine loads");

    println!(
        "sigma: {} rules ({} refused) from {}; {} EVTX files, {:.1} MiB; median of {passes}",
        compiled.len(),
        report.refused.len(),
        rules_dir.display(),
        inputs.len(),
        bytes as f64 / (1 << 20) as f64
    );

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let (mut events, mut our_findings, mut their_matches) = (0u64, 0u64, 0u64);
    let mut load = Duration::ZERO;
    // time inside the Sigma engine's calls (lowering the batch included)
    let mut busy = Vec::new();
    for _ in 0..passes {
        // Yagura: intake, engine, sandbox, the Sigma engine component
        // loading the rules is not timed, for either engine
        let loading = Instant::now();
        let instance = component
            .instantiate(&[("rules".to_owned(), ConfigValue::Text(json.clone()))])
            .expect("the Sigma engine starts");
        load = loading.elapsed();
        let started = Instant::now();
        let mut engine = Engine::new(EngineOptions::default());
        engine.add_rule(instance);
        let mut findings = 0u64;
        let mut sink = |_: &yagura::rule::RuleInfo, _: yagura::finding::Finding| findings += 1;
        let mut n = 0u64;
        for input in &inputs {
            for record in intake_records(input) {
                engine.push(record.expect("an event"), &mut sink);
                n += 1;
            }
        }
        engine.flush(&mut sink);
        ours.push(started.elapsed());
        busy.push(engine.rule_stats().map(|(_, s)| s.busy).sum::<Duration>());
        (events, our_findings) = (n, findings);

        // the reference: evtx crate, flat object, rsigma-eval
        let started = Instant::now();
        let mut matches = 0u64;
        for input in &inputs {
            let mut parser = evtx::EvtxParser::from_buffer(input.clone()).expect("an EVTX file");
            for record in parser.records_json_value() {
                let record = record.expect("a record");
                let flat = EvtxJson::new(&record.data).flat();
                matches += reference
                    .evaluate(&rsigma_eval::event::JsonEvent::borrow(&flat))
                    .len() as u64;
            }
        }
        theirs.push(started.elapsed());
        their_matches = matches;
    }
    // the parts: Yagura's intake alone, and rsigma-eval alone on objects made beforehand
    let mut intake_only = Vec::new();
    let mut eval_only = Vec::new();
    let mut flats = Vec::new();
    for input in &inputs {
        let mut parser = evtx::EvtxParser::from_buffer(input.clone()).expect("an EVTX file");
        for record in parser.records_json_value() {
            flats.push(EvtxJson::new(&record.expect("a record").data).flat());
        }
    }
    for _ in 0..passes {
        let started = Instant::now();
        for input in &inputs {
            for record in intake_records(input) {
                std::hint::black_box(record.expect("an event"));
            }
        }
        intake_only.push(started.elapsed());
        let started = Instant::now();
        for flat in &flats {
            std::hint::black_box(reference.evaluate(&rsigma_eval::event::JsonEvent::borrow(flat)));
        }
        eval_only.push(started.elapsed());
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let (intake_only, eval_only) = (median(intake_only), median(eval_only));
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "{:<10} {:>8} {:>10} {:>12} {:>9}",
        "engine", "events", "ms", "events/s", "matches"
    );
    println!(
        "{:<10} {:>8} {:>10.1} {:>12.0} {:>9}",
        "yagura",
        events,
        ours.as_secs_f64() * 1e3,
        rate(ours),
        our_findings
    );
    println!(
        "{:<10} {:>8} {:>10.1} {:>12.0} {:>9}",
        "reference",
        events,
        theirs.as_secs_f64() * 1e3,
        rate(theirs),
        their_matches
    );
    let busy = median(busy);
    for (name, d) in [
        ("  calls", busy),
        ("  intake", intake_only),
        ("  eval", eval_only),
    ] {
        println!(
            "{:<10} {:>8} {:>10.1} {:>12.0}",
            name,
            events,
            d.as_secs_f64() * 1e3,
            rate(d)
        );
    }
    println!(
        "loading the rules: Yagura's Sigma engine {:.0} ms (instantiation and `init`)",
        load.as_secs_f64() * 1e3
    );
    println!(
        "yagura/reference: {:.2}x the reference's events/s",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
}
