//! Boundary benchmark: what it costs to run a rule in the sandbox rather than natively.
//!
//! For a process-event rule (`office-spawns-shell`) and a network-flow rule
//! (`vertical-port-scan`), at batch sizes 1, 256 and 1,024, side by side in one run:
//! - `noop`: a WASM rule that only reads each event's time: lowering + call + empty result,
//!   i.e. the per-event boundary cost;
//! - `wasm`: the real rule component, lowering included;
//! - `native`: the same rule logic compiled into this binary, over the host's own events,
//!   using the same matcher code (the SDK's `NameSet`) and the same host state store.
//!
//! Each figure is the median of several passes over the same events, in ns per event.
//! Needs the components: `cargo xtask bench` builds them and runs this.
//! `YAGURA_BENCH_QUICK=1` runs fewer events (for CI smoke runs).

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use rule_office_spawns_shell::{OFFICE, SHELLS};
use yagura::event::{
    Activity, Actor, Device, Disposition, Endpoint, Event, EventClass, Network, Process, Source,
    Transport, User,
};
use yagura::finding::{Finding, Severity};
use yagura::sandbox::{BatchBuilder, RuleInstance, Sandbox};
use yagura::state::{RuleState, StateLimits};
use yagura_sdk::matchers::{NameSet, basename};

const BATCH_SIZES: [usize; 3] = [1, 256, 1024];

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/rules")
}

fn instance(sandbox: &Sandbox, name: &str) -> RuleInstance {
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
        .and_then(|c| c.instantiate(&[]))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Realistic Sysmon-like launches: 40 hosts, 30 users, ordinary images and command lines;
/// one launch in 500 is an Office application starting PowerShell.
fn process_events(n: usize) -> Vec<Event> {
    const IMAGES: [&str; 8] = [
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\System32\conhost.exe",
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        r"C:\Windows\System32\RuntimeBroker.exe",
        r"C:\Windows\System32\backgroundTaskHost.exe",
        r"C:\Program Files\Microsoft VS Code\Code.exe",
        r"C:\Windows\System32\SearchProtocolHost.exe",
    ];
    (0..n)
        .map(|i| {
            let attack = i % 500 == 499;
            let (image, parent) = if attack {
                (
                    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                    r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
                )
            } else {
                (IMAGES[i % IMAGES.len()], r"C:\Windows\explorer.exe")
            };
            Event {
                seq: i as u64 + 1,
                time: 1_700_000_000_000 + i as i64 * 10,
                class: EventClass::Process,
                activity: Activity::Create,
                source: Source {
                    format: "evtx".into(),
                    code: Some(1),
                    channel: Some("Microsoft-Windows-Sysmon/Operational".into()),
                    ..Source::default()
                },
                device: Device {
                    hostname: Some(format!("WS{:03}.corp.example.com", i % 40)),
                    ..Device::default()
                },
                actor: Actor {
                    user: Some(User {
                        name: Some(format!("user{:02}", i % 30)),
                        domain: Some("CORP".into()),
                        ..User::default()
                    }),
                    process: None,
                },
                process: Some(Process {
                    pid: Some(1000 + (i % 30000) as u32),
                    guid: Some(0x5770385f_c22a_43e0_bf4c_000000000000 + i as u128),
                    image: Some(image.into()),
                    cmd_line: Some(format!(
                        "\"{image}\" --type=renderer --field-trial-handle={i} /prefetch:1"
                    )),
                    parent_pid: Some(900),
                    parent_guid: Some(0x5770385f_c22a_43e0_bf4c_100000000000),
                    parent_image: Some(parent.into()),
                    parent_cmd_line: Some(format!("\"{parent}\"")),
                    ..Process::default()
                }),
                ..Event::default()
            }
        })
        .collect()
}

/// Firewall flows: 200 sources to 50 destinations on common ports, plus one scanner
/// sweeping ports of one host (one flow in 100).
fn network_events(n: usize) -> Vec<Event> {
    const PORTS: [u16; 6] = [443, 80, 53, 445, 3389, 22];
    (0..n)
        .map(|i| {
            let scan = i % 100 == 0;
            let (src, dst, port): (IpAddr, IpAddr, u16) = if scan {
                (
                    "10.0.0.66".parse().expect("ip"),
                    "10.0.0.10".parse().expect("ip"),
                    (i / 100 % 1000) as u16 + 1,
                )
            } else {
                (
                    format!("10.1.{}.{}", i % 200 / 250, i % 200 + 1)
                        .parse()
                        .expect("ip"),
                    format!("10.2.0.{}", i % 50 + 1).parse().expect("ip"),
                    PORTS[i % PORTS.len()],
                )
            };
            Event {
                seq: i as u64 + 1,
                time: 1_700_000_000_000 + i as i64,
                class: EventClass::Network,
                activity: Activity::Traffic,
                source: Source {
                    format: "zeek-conn".into(),
                    ..Source::default()
                },
                src: Some(Endpoint {
                    ip: Some(src),
                    port: Some(40_000 + (i % 20_000) as u16),
                    hostname: None,
                }),
                dst: Some(Endpoint {
                    ip: Some(dst),
                    port: Some(port),
                    hostname: None,
                }),
                network: Some(Network {
                    transport: Transport::Tcp,
                    protocol_num: Some(6),
                    disposition: if scan {
                        Disposition::Rejected
                    } else {
                        Disposition::Established
                    },
                    bytes_out: Some(1200),
                    bytes_in: Some(5400),
                    duration_ms: Some(120),
                    ..Network::default()
                }),
                ..Event::default()
            }
        })
        .collect()
}

/// Runs `pass` `reps` times and returns the median ns per event.
fn median_ns(events: usize, reps: usize, mut pass: impl FnMut()) -> f64 {
    pass(); // warm up: caches, allocations
    let mut samples: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            pass();
            t.elapsed().as_nanos() as f64 / events as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn wasm_pass(
    instance: &mut RuleInstance,
    builder: &mut BatchBuilder,
    events: &[Event],
    batch: usize,
) -> usize {
    let mut findings = 0;
    for chunk in events.chunks(batch) {
        builder.clear();
        for e in chunk {
            builder.push(e);
        }
        let now = chunk.last().map_or(0, |e| e.time);
        let outcome = instance.on_events(builder, now);
        assert!(outcome.fault.is_none(), "{:?}", outcome.fault);
        findings += outcome.findings.len();
    }
    findings
}

fn lower_pass(builder: &mut BatchBuilder, events: &[Event], batch: usize) {
    for chunk in events.chunks(batch) {
        builder.clear();
        for e in chunk {
            builder.push(e);
        }
        black_box(builder.len());
    }
}

/// `office-spawns-shell`, natively: the rule crate's own name lists and matcher, over the
/// host's events.
struct NativeOffice {
    parents: NameSet,
    children: NameSet,
}

impl NativeOffice {
    fn new() -> Self {
        NativeOffice {
            parents: NameSet::new(OFFICE),
            children: NameSet::new(SHELLS),
        }
    }

    fn on_events(&mut self, events: &[Event], out: &mut Vec<Finding>) {
        for ev in events {
            if !matches!(ev.activity, Activity::Create | Activity::Unknown) {
                continue;
            }
            let Some(p) = &ev.process else { continue };
            let parent = p
                .parent_image
                .as_deref()
                .or_else(|| ev.actor.process.as_ref().and_then(|a| a.image.as_deref()));
            let (Some(child), Some(parent)) = (p.image.as_deref(), parent) else {
                continue;
            };
            if self.children.contains_path(child) && self.parents.contains_path(parent) {
                let host = ev.device.hostname.as_deref().unwrap_or("");
                out.push(native_finding(
                    format!("{} started {}", basename(parent), basename(child)),
                    format!("{host}|{}", p.parent_guid.unwrap_or_default()),
                    ev,
                ));
            }
        }
    }
}

/// `vertical-port-scan`, natively: the same keys and items in the same host state store.
struct NativeScan {
    state: RuleState,
    key: String,
    port: String,
}

impl NativeScan {
    const WINDOW: u64 = 60_000;

    fn new() -> Self {
        NativeScan {
            state: RuleState::new(StateLimits::default()),
            key: String::new(),
            port: String::new(),
        }
    }

    fn on_events(&mut self, events: &[Event], out: &mut Vec<Finding>) {
        for ev in events {
            let (Some(src), Some(dst)) = (ev.src.as_ref(), ev.dst.as_ref()) else {
                continue;
            };
            let (Some(s), Some(d), Some(port)) = (src.ip, dst.ip, dst.port) else {
                continue;
            };
            self.state.advance(ev.time);
            self.key.clear();
            self.port.clear();
            let _ = write!(self.key, "{s}>{d}");
            let _ = write!(self.port, "{port}");
            let Ok(n) = self
                .state
                .distinct_add(&self.key, &self.port, ev.time, Self::WINDOW)
            else {
                continue;
            };
            if n < 20 {
                continue;
            }
            let marker = format!("reported:{}", self.key);
            if self.state.get(&marker, ev.time).is_none()
                && self
                    .state
                    .set(&marker, &[], ev.time + Self::WINDOW as i64)
                    .is_ok()
            {
                let (_, ports) = self
                    .state
                    .distinct_items(&self.key, ev.time, Self::WINDOW, 64);
                out.push(native_finding(
                    format!("Vertical port scan {} ports", ports.len()),
                    self.key.clone(),
                    ev,
                ));
            }
        }
    }
}

fn native_finding(title: String, dedup_key: String, ev: &Event) -> Finding {
    Finding {
        rule_id: "native".into(),
        rule_version: "0.0.0".into(),
        rule_author: None,
        matched: None,
        description: title.clone(),
        title,
        severity: Severity::High,
        confidence: 80,
        techniques: vec!["T1059".into()],
        entities: Vec::new(),
        evidence: vec![ev.seq],
        dedup_key,
        time: ev.time,
        context: Vec::new(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let quick = std::env::var_os("YAGURA_BENCH_QUICK").is_some();
    let (n, reps) = if quick { (2_048, 3) } else { (32_768, 9) };
    let sandbox = Sandbox::builder().build().expect("sandbox");
    let process = process_events(n);
    let network = network_events(n);

    println!(
        "Yagura boundary benchmark: {n} events per pass, median of {reps} passes, ns per event"
    );
    println!(
        "{:<10} {:>6} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "rule", "batch", "lower", "noop", "wasm", "native", "wasm/native"
    );
    for (label, events, rule) in [
        ("process", &process, "office-spawns-shell"),
        ("network", &network, "vertical-port-scan"),
    ] {
        for batch in BATCH_SIZES {
            let mut builder = BatchBuilder::default();
            let lower = median_ns(n, reps, || lower_pass(&mut builder, events, batch));
            let mut noop = instance(&sandbox, "noop");
            let noop_ns = median_ns(n, reps, || {
                black_box(wasm_pass(&mut noop, &mut builder, events, batch));
            });
            let mut wasm = instance(&sandbox, rule);
            let mut wasm_findings = 0;
            let wasm_ns = median_ns(n, reps, || {
                wasm_findings = wasm_pass(&mut wasm, &mut builder, events, batch);
            });
            let mut out = Vec::new();
            let native_ns = if label == "process" {
                let mut native = NativeOffice::new();
                median_ns(n, reps, || {
                    out.clear();
                    for chunk in events.chunks(batch) {
                        native.on_events(chunk, &mut out);
                    }
                })
            } else {
                let mut native = NativeScan::new();
                median_ns(n, reps, || {
                    out.clear();
                    for chunk in events.chunks(batch) {
                        native.on_events(chunk, &mut out);
                    }
                })
            };
            black_box(&out);
            println!(
                "{:<10} {:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>11.2}x",
                label,
                batch,
                lower,
                noop_ns,
                wasm_ns,
                native_ns,
                wasm_ns / native_ns
            );
            if label == "process" {
                assert_eq!(
                    wasm_findings,
                    n / 500,
                    "wasm and native agree on the process rule"
                );
                assert_eq!(out.len(), n / 500, "native process findings");
            }
        }
    }
    println!("lower: host-side conversion into the WIT batch form only; noop: lower + call into a");
    println!("rule that reads each event's time (the boundary cost); wasm: the real rule; native:");
    println!("the same logic compiled into the host.");
}
