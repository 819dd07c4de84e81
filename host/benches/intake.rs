//! Intake benchmark: each adapter's throughput next to a parse-only baseline of the same bytes,
//! in one run.
//!
//! For JSON-lines formats the baseline parses every line into a `serde_json::Value` (what any
//! JSON consumer pays); for the text formats it splits every line into its fields. The adapter
//! column is the whole `intake::from_reader` path: lines, parsing, mapping to events.
//!
//! Inputs are the sample files of `tests/data` and `../shared/data` (when present), repeated
//! in memory to at least 64 MiB... or 200,000 lines, whichever comes first, so the numbers
//! are not start-up noise. Run: `cargo bench -p yagura --bench intake`.

use std::hint::black_box;
use std::io::{BufRead, Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use yagura::intake::{self, Format};

/// Lines of input per measurement (at most).
const LINES: usize = 200_000;
/// Bytes of input per measurement (at most).
const BYTES: usize = 64 << 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The decompressed bytes of a file.
fn load(path: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(path).ok()?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    } else {
        Some(raw)
    }
}

/// Header lines (Zeek `#…`) once, then the data lines repeated up to the size limits.
fn repeated(text: &[u8]) -> Vec<u8> {
    let (headers, data): (Vec<&[u8]>, Vec<&[u8]>) = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .partition(|l| l.starts_with(b"#"));
    let mut out = Vec::new();
    for h in &headers {
        out.extend_from_slice(h);
        out.push(b'\n');
    }
    let mut lines = 0;
    'fill: loop {
        for line in &data {
            if lines >= LINES || out.len() >= BYTES || data.is_empty() {
                break 'fill;
            }
            out.extend_from_slice(line);
            out.push(b'\n');
            lines += 1;
        }
    }
    out
}

fn adapter_pass(format: Format, input: &[u8]) -> (u64, u64) {
    let reader: Box<dyn BufRead + Send> = Box::new(Cursor::new(input.to_vec()));
    let (_, records) = intake::from_reader(reader, "bench".into(), format).expect("readable");
    let (mut events, mut rejected) = (0, 0);
    for record in records {
        match record {
            Ok(event) => {
                black_box(&event);
                events += 1;
            }
            Err(_) => rejected += 1,
        }
    }
    (events, rejected)
}

fn baseline_pass(json: bool, input: &[u8]) -> u64 {
    let mut n = 0;
    for line in input.split(|b| *b == b'\n') {
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        if json {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
                black_box(v);
                n += 1;
            }
        } else if let Ok(text) = std::str::from_utf8(line) {
            n += black_box(text.split(['\t', ' ']).count()) as u64 / 8 + 1;
        }
    }
    n
}

/// Median seconds of `reps` runs of `f`.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let shared = root().join("../shared/data");
    let candidates: Vec<(&str, Format, bool, PathBuf)> = vec![
        (
            "normalized",
            Format::Ndjson,
            true,
            root().join("examples/events/sample.ndjson"),
        ),
        (
            "winevent-json (OTRF)",
            Format::WineventJson,
            true,
            shared.join("otrf/empire_psexec_dcerpc_tcp_svcctl_2020-09-20121608.json.gz"),
        ),
        (
            "winevent-json (committed)",
            Format::WineventJson,
            true,
            first_file(&root().join("tests/data/windows")),
        ),
        (
            "ecs",
            Format::Ecs,
            true,
            first_file(&root().join("tests/data/ecs")),
        ),
        (
            "ocsf",
            Format::Ocsf,
            true,
            first_file(&root().join("tests/data/ocsf")),
        ),
        (
            "zeek-conn json",
            Format::ZeekConn,
            true,
            shared.join("flows/masscan_tcp_0_1000.conn.jsonl"),
        ),
        (
            "zeek-conn tsv",
            Format::ZeekConn,
            false,
            shared.join("zeek/portscan.conn.log"),
        ),
        (
            "syslog",
            Format::Syslog,
            false,
            first_file(&root().join("tests/data/network")),
        ),
    ];
    println!(
        "Yagura intake benchmark: median of 5 passes; adapter vs parse-only baseline of the same bytes"
    );
    println!(
        "{:<26} {:>9} {:>8} {:>12} {:>9} {:>12} {:>9} {:>7}",
        "format", "lines", "MiB", "adapter ev/s", "MB/s", "baseline/s", "MB/s", "ratio"
    );
    for (label, format, json, path) in candidates {
        let Some(bytes) = load(&path) else {
            println!("{label:<26} skipped: {} not found", path.display());
            continue;
        };
        let input = repeated(&bytes);
        let mib = input.len() as f64 / (1 << 20) as f64;
        let (events, rejected) = adapter_pass(format, &input);
        let lines = input
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
            .count();
        let adapter = median_secs(5, || {
            black_box(adapter_pass(format, &input));
        });
        let baseline = median_secs(5, || {
            black_box(baseline_pass(json, &input));
        });
        println!(
            "{label:<26} {lines:>9} {mib:>8.1} {:>12.0} {:>9.1} {:>12.0} {:>9.1} {:>6.0}%{}",
            events as f64 / adapter,
            mib / adapter,
            lines as f64 / baseline,
            mib / baseline,
            100.0 * baseline / adapter,
            if rejected > 0 {
                format!("  ({rejected} rejected)")
            } else {
                String::new()
            }
        );
    }
    // EVTX: binary, no line baseline; report the adapter alone.
    for path in [
        shared.join("evtx-cc0/system_7045_mass_service_install_tchopper.evtx"),
        root().join("tests/data/evtx/system_7045_mass_service_install_tchopper.evtx"),
    ] {
        if let Some(bytes) = load(&path) {
            let mib = bytes.len() as f64 / (1 << 20) as f64;
            let (events, _) = adapter_pass(Format::Evtx, &bytes);
            let secs = median_secs(5, || {
                black_box(adapter_pass(Format::Evtx, &bytes));
            });
            println!(
                "{:<26} {:>9} {mib:>8.1} {:>12.0} {:>9.1}",
                "evtx",
                events,
                events as f64 / secs,
                mib / secs
            );
            break;
        }
    }
    println!(
        "ratio: adapter throughput as a share of the baseline's (bytes per second); target ≥ 50 % for JSON adapters."
    );
}

fn first_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| e.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    // data files only, and not the adapters' deliberately broken fixtures (`bad.*`)
    files.retain(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        [".json.gz", ".jsonl", ".ndjson", ".json", ".log"]
            .iter()
            .any(|x| name.ends_with(x))
            && !name.starts_with("bad")
    });
    files.sort();
    files
        .into_iter()
        .next()
        .unwrap_or_else(|| dir.join("(none)"))
}
