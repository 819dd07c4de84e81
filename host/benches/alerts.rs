//! Alert-query benchmark: `Store::alerts` (the secondary indexes) next to
//! `Store::alerts_by_scan` (every alert of the tenant, newest first, filtered one by one: the
//! query before the indexes), on the same store, in one run.
//!
//! The store holds 200,000 findings of one tenant (plus 20,000 of another) from 20 rules, 500
//! hosts and 200 users, their event times spread over 30 days in creation order; one in 10
//! updates a recent alert (its `last_seen` moves), so the tenant has about 180,000 alerts.
//! Each query asks for the first page (100 alerts): by rule, by host, each with and without a
//! one-day time range in the middle of the 30 days, both together, and the time range alone. Both answers are checked equal; each figure is the
//! median of several passes.
//!
//! Run: `cargo bench -p yagura --bench alerts` (or `cargo xtask bench --bench alerts`).
//! `YAGURA_BENCH_QUICK=1` stores 20,000 findings instead (for CI smoke runs).

use std::hint::black_box;
use std::time::Instant;

use yagura::finding::{Entity, EntityKind, Finding, Severity};
use yagura::store::{AlertFilter, Store};

const DAY_MS: i64 = 86_400_000;
const DAYS: i64 = 30;

/// xorshift64: deterministic input without a `rand` dependency.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn finding(g: &mut Gen, i: u64, n: u64, key: String) -> Finding {
    let mut entities = Vec::new();
    for _ in 0..1 + g.below(2) {
        entities.push(Entity {
            kind: EntityKind::Host,
            value: format!("host-{}", g.below(500)),
            role: Some("target".into()),
        });
    }
    entities.push(Entity {
        kind: EntityKind::User,
        value: format!("user-{}", g.below(200)),
        role: None,
    });
    use Severity::*;
    // event time rises with creation, with up to an hour of jitter
    let time = (i as i64) * (DAYS * DAY_MS / n as i64) + g.below(3_600_000) as i64;
    Finding {
        rule_id: format!("rule-{}", g.below(20)),
        rule_version: "1.0.0".into(),
        rule_author: None,
        matched: None,
        title: format!("suspicious activity {}", g.below(1000)),
        description: "benchmark finding".into(),
        severity: [Informational, Low, Medium, High, Critical][g.below(5) as usize],
        confidence: 70,
        techniques: vec!["T1021".into()],
        entities,
        evidence: vec![i],
        dedup_key: key,
        time,
        context: vec![],
    }
}

fn fill(store: &Store, tenant: &str, n: u64, g: &mut Gen) {
    let mut chunk = Vec::with_capacity(1_000);
    for i in 0..n {
        // one finding in 10 repeats a recent key: an update that moves `last_seen`
        let key = if i > 100 && g.below(10) == 0 {
            format!("k{}", i - 1 - g.below(100))
        } else {
            format!("k{i}")
        };
        chunk.push(finding(g, i, n, key));
        if chunk.len() == 1_000 || i + 1 == n {
            store
                .record_findings(tenant, "Bench rule", &chunk, 3_600_000)
                .expect("stored");
            chunk.clear();
        }
    }
}

/// Median µs of `reps` runs of `query` (after one warm-up run).
fn median_us(reps: usize, mut query: impl FnMut()) -> f64 {
    query();
    let mut samples: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            query();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let quick = std::env::var_os("YAGURA_BENCH_QUICK").is_some();
    let n: u64 = if quick { 20_000 } else { 200_000 };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::open(dir.path()).expect("a store");
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let t = Instant::now();
    fill(&store, "acme", n, &mut g);
    fill(&store, "other", n / 10, &mut g);
    eprintln!(
        "stored {} + {} findings in {:.1} s",
        n,
        n / 10,
        t.elapsed().as_secs_f64()
    );

    let day = Some(DAYS / 2 * DAY_MS);
    let until = day.map(|d| d + DAY_MS);
    let base = AlertFilter {
        limit: 100,
        ..AlertFilter::default()
    };
    let rule = || Some("rule-7".to_owned());
    let host = || Some("host-123".to_owned());
    let queries: Vec<(&str, AlertFilter)> = vec![
        (
            "rule",
            AlertFilter {
                rule: rule(),
                ..base.clone()
            },
        ),
        (
            "host",
            AlertFilter {
                host: host(),
                ..base.clone()
            },
        ),
        (
            "rule + 1 day",
            AlertFilter {
                rule: rule(),
                since: day,
                until,
                ..base.clone()
            },
        ),
        (
            "host + 1 day",
            AlertFilter {
                host: host(),
                since: day,
                until,
                ..base.clone()
            },
        ),
        (
            "rule + host",
            AlertFilter {
                rule: rule(),
                host: host(),
                ..base.clone()
            },
        ),
        (
            "1 day",
            AlertFilter {
                since: day,
                until,
                ..base.clone()
            },
        ),
    ];
    let reps = if quick { 3 } else { 7 };
    println!(
        "{:<14} {:>8} {:>14} {:>14} {:>9}",
        "query", "alerts", "scan µs", "indexed µs", "ratio"
    );
    for (name, filter) in &queries {
        let indexed = store.alerts("acme", filter).expect("query");
        let scanned = store.alerts_by_scan("acme", filter).expect("scan");
        assert_eq!(indexed, scanned, "{name}: the same page either way");
        let scan = median_us(reps, || {
            black_box(store.alerts_by_scan("acme", filter).expect("scan"));
        });
        let fast = median_us(reps, || {
            black_box(store.alerts("acme", filter).expect("query"));
        });
        println!(
            "{:<14} {:>8} {:>14.0} {:>14.0} {:>8.0}x",
            name,
            indexed.0.len(),
            scan,
            fast,
            scan / fast
        );
    }
}
