//! Real logs in: every sample file of `../shared/data` (when present) and of `tests/data`
//! reads with format detection, gzip undone, and not one rejected record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yagura::intake::{self, Format};
use yagura_tests::root;

/// Reads a file with `--format auto`, failing on any rejected record: (detected format,
/// events per class).
fn read_clean(path: &Path) -> (Format, BTreeMap<String, u64>) {
    let (format, classes, rejected) = read(path);
    assert!(
        rejected.is_empty(),
        "{}: {} rejected, first: {}",
        path.display(),
        rejected.len(),
        rejected[0]
    );
    assert!(!classes.is_empty(), "{} gave no events", path.display());
    (format, classes)
}

/// Reads a file with `--format auto`: (detected format, events per class, rejected).
fn read(path: &Path) -> (Format, BTreeMap<String, u64>, Vec<String>) {
    let (format, records) =
        intake::open(path, Format::Auto).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut classes = BTreeMap::new();
    let mut rejected = Vec::new();
    for record in records {
        match record {
            Ok(event) => *classes.entry(event.class.to_string()).or_insert(0) += 1,
            Err(e) => rejected.push(e.to_string()),
        }
    }
    (format, classes, rejected)
}

fn files(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| {
        let name = p.to_string_lossy();
        suffixes.iter().any(|s| name.ends_with(s))
    });
    found.sort();
    found
}

/// Each shared sample folder, the files in it, and the format they must be detected as.
const SHARED: [(&str, &[&str], Format); 5] = [
    ("otrf", &[".json.gz"], Format::WineventJson),
    ("evtx", &[".evtx"], Format::Evtx),
    ("evtx-cc0", &[".evtx"], Format::Evtx),
    ("zeek", &[".conn.log"], Format::ZeekConn),
    ("flows", &[".jsonl"], Format::ZeekConn),
];

#[test]
fn every_shared_sample_reads_without_a_dead_letter() {
    let shared = root().join("../shared/data");
    if !shared.exists() {
        eprintln!(
            "skipped: {} is absent (it is beside the checkout in CI)",
            shared.display()
        );
        return;
    }
    let mut total = 0;
    for (dir, suffixes, expected) in SHARED {
        let found = files(&shared.join(dir), suffixes);
        assert!(!found.is_empty(), "no samples in {dir}");
        for path in found {
            let (format, classes) = read_clean(&path);
            assert_eq!(
                format,
                expected,
                "{} detected as {format:?}",
                path.display()
            );
            let events: u64 = classes.values().sum();
            eprintln!("{}: {events} events {classes:?}", path.display());
            total += events;
        }
    }
    assert!(
        total > 15_000,
        "the OTRF captures alone hold 15,521 events: read {total}"
    );
}

#[test]
fn committed_samples_read_without_a_dead_letter() {
    let data = root().join("tests/data");
    let mut read_any = false;
    for dir in ["windows", "evtx", "ocsf", "network", "ecs"] {
        let samples = files(
            &data.join(dir),
            &[".json.gz", ".jsonl", ".ndjson", ".evtx", ".log", ".json"],
        );
        // `bad.*` files hold deliberately broken records for the adapters' own tests
        for path in samples.into_iter().filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("bad"))
        }) {
            read_clean(&path);
            read_any = true;
        }
    }
    assert!(read_any, "tests/data holds samples");
}
