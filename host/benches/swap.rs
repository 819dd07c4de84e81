//! Hot-swap benchmark: the engine in steady state against the same engine while its rule set
//! is swapped every N batches, in one run.
//!
//! The rule set is the core pack's rules that read process and network events
//! (`office-spawns-shell`, `vertical-port-scan`, `scan-detection`, `lateral-movement`) plus
//! the `counter` fixture, over a mix of process launches and network flows (1 ms apart, so
//! about 5,000 events wait in the reorder buffer). A swap hands the engine a whole new set,
//! as the server does on any change, with every rule's state carried over. Modes: steady (no
//! swap); one rule's config changed every 10 batches (the other rules keep their running
//! instances); every rule changed every 10 batches, and every batch (all instances fresh, as
//! on a new pack version).
//!
//! What is timed: feeding one batch of events (`batch_size`, 256) into the engine — the
//! dispatch it triggers, and, when one is due before it, the swap (`Engine::swap_rules`) and
//! the first calls into the fresh instances. Building the next set (instantiate + `init`) is
//! not timed: the server does it on another thread before it asks the engine to swap; its
//! cost is reported on its own. Modes run interleaved, several rounds; each figure is the
//! median over rounds.
//!
//! Run: `cargo xtask bench --bench swap` (builds the rules first), or after
//! `cargo xtask build-rules`: `cargo bench -p yagura --bench swap`.
//! `YAGURA_BENCH_QUICK=1` runs fewer events (for CI smoke runs).

mod mix;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use yagura::engine::{Engine, EngineOptions};
use yagura::event::{Event, parse_event};
use yagura::finding::Finding;
use yagura::rule::{RuleInfo, Value};
use yagura::sandbox::{Limits, RuleComponent, RuleInstance, Sandbox};

const RULES: [&str; 5] = [
    "office-spawns-shell",
    "vertical-port-scan",
    "scan-detection",
    "lateral-movement",
    "counter",
];
const BATCH: usize = 256;

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/rules")
}

fn load(sandbox: &Sandbox, name: &str) -> RuleComponent {
    let fixture = rules_dir().join("fixtures").join(format!("{name}.wasm"));
    let path = if fixture.exists() {
        fixture
    } else {
        rules_dir().join(format!("{name}.wasm"))
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

/// What changes at each swap.
#[derive(Clone, Copy)]
enum Change {
    /// `counter`'s config: the other rules keep their running instances
    OneConfig,
    /// every rule (as on a new pack version): all instances are fresh
    Everything,
}

/// Rule set number `k`: `counter` labelled by k's parity; with [`Change::Everything`], every
/// rule's limits differ by k's parity too (a call deadline of 100 or 101 ms), which makes
/// each instance a changed rule for the engine, as a new component would.
fn build_set(components: &[RuleComponent], k: usize, change: Change) -> Vec<RuleInstance> {
    let label = if k.is_multiple_of(2) { "a" } else { "b" };
    components
        .iter()
        .map(|c| {
            let config = if c.info().id == "counter" {
                vec![("label".to_owned(), Value::Text(label.to_owned()))]
            } else {
                Vec::new()
            };
            let mut limits = Limits::default();
            if matches!(change, Change::Everything) && k % 2 == 1 {
                limits.call_deadline += Duration::from_millis(1);
            }
            c.instantiate_with(&config, limits)
                .unwrap_or_else(|e| panic!("{}: {e}", c.info().id))
        })
        .collect()
}

/// The first `n` events of the mix (`mix::line`).
fn events(n: usize) -> Vec<Event> {
    let t0 = 1_714_557_600_000i64;
    (0..n)
        .map(|i| {
            let text = mix::line(i, t0);
            parse_event(&text).unwrap_or_else(|e| panic!("bench event {i}: {e}\n{text}"))
        })
        .collect()
}

struct Figures {
    events_per_s: f64,
    p50: Duration,
    p99: Duration,
    swaps: usize,
    build: Duration,
}

/// Feeds `events` batch by batch; with `every`, swaps the set before every `every`-th batch.
fn run(components: &[RuleComponent], events: &[Event], every: Option<(usize, Change)>) -> Figures {
    let mut engine = Engine::new(EngineOptions {
        batch_size: BATCH,
        ..EngineOptions::default()
    });
    for rule in build_set(components, 0, Change::OneConfig) {
        engine.add_rule(rule);
    }
    let mut findings = 0u64;
    let mut sink = |_: &RuleInfo, _: Finding| findings += 1;
    let mut latencies = Vec::with_capacity(events.len() / BATCH + 1);
    let mut busy = Duration::ZERO;
    let mut swaps = 0;
    let mut build = Duration::ZERO;
    for (n, chunk) in events.chunks(BATCH).enumerate() {
        let next = match every {
            Some((every, change)) if n > 0 && n.is_multiple_of(every) => {
                // built "on another thread": not part of the engine's time
                let started = Instant::now();
                let set = build_set(components, swaps + 1, change);
                build += started.elapsed();
                Some(set)
            }
            _ => None,
        };
        let started = Instant::now();
        if let Some(set) = next {
            engine.swap_rules(set);
            swaps += 1;
        }
        for event in chunk {
            engine.push(event.clone(), &mut sink);
        }
        let took = started.elapsed();
        busy += took;
        latencies.push(took);
    }
    let started = Instant::now();
    engine.flush(&mut sink);
    busy += started.elapsed();
    assert!(findings > 0, "the rules found something");
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Figures {
        events_per_s: events.len() as f64 / busy.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        swaps,
        build: if swaps > 0 {
            build / swaps as u32
        } else {
            Duration::ZERO
        },
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("YAGURA_BENCH_QUICK").is_some();
    let (n, rounds) = if quick { (20_000, 1) } else { (200_000, 5) };
    let sandbox = Sandbox::builder()
        .cache_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/yagura-bench-cache"))
        .build()
        .expect("the sandbox starts");
    let components: Vec<RuleComponent> = RULES.iter().map(|r| load(&sandbox, r)).collect();
    let events = events(n);
    let modes: [(&str, Option<(usize, Change)>); 4] = [
        ("steady", None),
        ("1 config / 10 batches", Some((10, Change::OneConfig))),
        ("all new / 10 batches", Some((10, Change::Everything))),
        ("all new / every batch", Some((1, Change::Everything))),
    ];
    // warm up: caches, the pooling allocator's slots
    run(
        &components,
        &events[..n.min(20_000)],
        Some((10, Change::Everything)),
    );
    let mut results: Vec<Vec<Figures>> = modes.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (_, every)) in modes.iter().enumerate() {
            results[i].push(run(&components, &events, *every));
        }
    }
    println!(
        "hot swap: {} rules, {n} events, batches of {BATCH}, {rounds} round(s), medians",
        RULES.len()
    );
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>7} {:>8} {:>8} {:>12}",
        "mode", "events/s", "p50 ms", "p99 ms", "swaps", "tput ×", "p99 ×", "build/set ms"
    );
    let summary: Vec<(f64, f64, f64, usize, f64)> = results
        .iter()
        .map(|r| {
            (
                median(r.iter().map(|f| f.events_per_s).collect()),
                median(r.iter().map(|f| f.p50.as_secs_f64() * 1e3).collect()),
                median(r.iter().map(|f| f.p99.as_secs_f64() * 1e3).collect()),
                r[0].swaps,
                median(r.iter().map(|f| f.build.as_secs_f64() * 1e3).collect()),
            )
        })
        .collect();
    let (steady_tput, _, steady_p99, _, _) = summary[0];
    for ((name, _), (tput, p50, p99, swaps, build)) in modes.iter().zip(&summary) {
        println!(
            "{name:<24} {tput:>10.0} {p50:>10.3} {p99:>10.3} {swaps:>7} {:>8.2} {:>8.2} {build:>12.3}",
            tput / steady_tput,
            p99 / steady_p99,
        );
    }
}
