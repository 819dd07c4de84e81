//! The core pack on real logs: every file of `../shared/data` through `lateral-movement`,
//! `emotet-macro-chain` and `scan-detection`, checked against the ground truth the data's
//! sources document (the OTRF metadata, the EVTX file names, the lab notes).
//!
//! `../shared` is not part of a clone (GPL and unlicensed data may not be copied); without it
//! the test says so and checks the committed copies in `tests/data` only. The table it prints
//! (`cargo xtask test --test e2e evaluation -- --nocapture`) is `docs/rules/evaluation.md`'s.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use yagura::cases::{describe, names_entity};
use yagura::finding::Finding;
use yagura::intake::{self, Format};
use yagura_tests::{instance, root, run};

const LATERAL: &str = "lateral-movement";
const EMOTET: &str = "emotet-macro-chain";
const SCAN: &str = "scan-detection";

/// What must come out of one file.
struct Truth {
    /// relative to the data folder
    file: &'static str,
    /// the rule that must fire, with the entities (alternatives split by `|`) one of its
    /// findings must name — or no rule when the file must stay quiet
    fires: Option<(&'static str, &'static [&'static str])>,
    /// rules that must report nothing on this file
    quiet: &'static [&'static str],
    /// how many alerts (distinct dedup keys) the firing rule may raise at most: one per
    /// attack, updated, not a flood
    alerts: usize,
    /// what the file is, for the table
    what: &'static str,
}

/// The attack in each OTRF capture: WORKSTATION5 (172.18.39.5) as THESHIRE\pgustavo against
/// WORKSTATION6 (the `.yaml` beside each capture).
const OTRF_ATTACK: &[&str] = &[
    "host:WORKSTATION6/target|host:WORKSTATION6.theshire.local/target",
    "ip:172.18.39.5/source|host:WORKSTATION5/source|host:WORKSTATION5.theshire.local/source",
    "user:pgustavo",
];

const TRUTH: &[Truth] = &[
    Truth {
        file: "otrf/empire_psexec_dcerpc_tcp_svcctl_2020-09-20121608.json.gz",
        fires: Some((LATERAL, OTRF_ATTACK)),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "Empire Invoke-PsExec: service created over RPC",
    },
    Truth {
        file: "otrf/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_2020-09-21001437.json.gz",
        fires: Some((LATERAL, OTRF_ATTACK)),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "Empire Invoke-WMI: Win32_Process Create",
    },
    Truth {
        file: "otrf/covenant_psremoting_command_2020-08-06115603.json.gz",
        fires: Some((LATERAL, OTRF_ATTACK)),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "Covenant PowerShell Remoting with explicit credentials",
    },
    Truth {
        file: "otrf/covenant_copy_smb_CreateRequest_2020-09-22145302.json.gz",
        fires: Some((LATERAL, OTRF_ATTACK)),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "Covenant file copy to C$",
    },
    Truth {
        file: "evtx/LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx",
        fires: Some((LATERAL, &["host:PC01/source", "user:user01/account"])),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "mimikatz sekurlsa::pth on the source machine: 4624 type 9, seclogo",
    },
    Truth {
        file: "evtx/LM_5145_Remote_FileCopy.evtx",
        fires: Some((
            LATERAL,
            &[
                "host:PC01/target",
                "ip:10.0.2.15/source",
                "user:Administrator/account",
            ],
        )),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "file copied to an admin share (5145)",
    },
    Truth {
        file: "evtx/LM_PowershellRemoting_sysmon_1_wsmprovhost.evtx",
        fires: Some((LATERAL, &["host:DC1/target", "user:Administrator/account"])),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "PowerShell Remoting: a wsmprovhost child (Sysmon 1)",
    },
    Truth {
        file: "evtx/LM_Remote_Service02_7045.evtx",
        fires: Some((LATERAL, &["host:WIN-77LTAPHIQ1R/target"])),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "remote service install (7045)",
    },
    Truth {
        file: "evtx/LM_WMIC_4648_rpcss.evtx",
        fires: Some((
            LATERAL,
            &[
                "host:PC01/source",
                "host:WIN-77LTAPHIQ1R/target",
                "user:administrator/account",
            ],
        )),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "wmic /node with explicit credentials (4648)",
    },
    Truth {
        file: "evtx/LM_WMI_4624_4688_TargetHost.evtx",
        fires: Some((
            LATERAL,
            &[
                "host:WIN-77LTAPHIQ1R/target",
                "ip:10.0.2.17/source",
                "user:Administrator/account",
            ],
        )),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "WMI on the target host (4624, 4688)",
    },
    Truth {
        file: "evtx/LM_renamed_psexecsvc_5145.evtx",
        fires: Some((
            LATERAL,
            &[
                "host:IEWIN7/target",
                "ip:10.0.2.16/source",
                "user:IEUser/account",
            ],
        )),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "renamed PsExec service: admin share and pipes (5145)",
    },
    Truth {
        file: "evtx/LM_sysmon_psexec_smb_meterpreter.evtx",
        fires: Some((LATERAL, &["host:IEWIN7/target", "ip:10.0.2.19/source"])),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "Metasploit psexec over SMB (Sysmon)",
    },
    Truth {
        file: "evtx/LM_wmiexec_impacket_sysmon_whoami.evtx",
        fires: Some((
            LATERAL,
            &[
                "host:IEWIN7/target",
                "ip:10.0.2.19/source",
                "user:IEUser/account",
            ],
        )),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "impacket wmiexec (Sysmon)",
    },
    Truth {
        file: "evtx-cc0/sysmon_psexec_as_system.evtx",
        fires: Some((LATERAL, &["host:fs03vuln/target", "user:admmig/account"])),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "PsExec running a payload as SYSTEM (Sysmon)",
    },
    Truth {
        file: "evtx-cc0/system_7045_mass_service_install_tchopper.evtx",
        fires: Some((LATERAL, &["host:FS03/target"])),
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "mass remote service deployment: 244 installs (7045)",
    },
    Truth {
        file: "zeek/portscan.conn.log",
        fires: Some((SCAN, &["ip:192.168.64.6/source"])),
        quiet: &[LATERAL, EMOTET],
        alerts: 1,
        what: "nmap -sS of 13 ports",
    },
    Truth {
        file: "flows/masscan_tcp_0_1000.conn.jsonl",
        fires: Some((SCAN, &[])),
        quiet: &[LATERAL, EMOTET],
        alerts: 1,
        what: "masscan of ports 0-1000",
    },
    Truth {
        file: "zeek/ssh-bruteforce.conn.log",
        fires: None,
        quiet: &[LATERAL, EMOTET, SCAN],
        alerts: 0,
        what: "SSH brute force: 61 attempts on one port",
    },
    Truth {
        file: "evtx-cc0/powershell_payload_download_no_office.evtx",
        fires: None,
        quiet: &[EMOTET, SCAN],
        alerts: 2,
        what: "PowerShell payload download, no Office",
    },
];

/// Every finding of a run, by rule.
struct FileResult {
    events: usize,
    rejected: usize,
    findings: Vec<Finding>,
}

fn replay(path: &Path) -> FileResult {
    let (_, records) = intake::open(path, Format::Auto)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut events = Vec::new();
    let mut rejected = 0;
    for record in records {
        match record {
            Ok(e) => events.push(e),
            Err(_) => rejected += 1,
        }
    }
    let n = events.len();
    let rules = [LATERAL, EMOTET, SCAN]
        .iter()
        .map(|r| instance(r, &[]))
        .collect();
    let run = run(rules, events);
    for (rule, stats) in &run.stats {
        assert_eq!(stats.faults, 0, "{rule} faulted on {}", path.display());
    }
    FileResult {
        events: n,
        rejected,
        findings: run.findings,
    }
}

fn data_dir() -> Option<PathBuf> {
    let dir = root().join("../shared/data");
    dir.is_dir().then_some(dir)
}

/// Whether some finding of `rule` names every entity of `wanted` (each an alternative list).
fn names_all(findings: &[&Finding], wanted: &[&str]) -> bool {
    findings.iter().any(|f| {
        wanted.iter().all(|alternatives| {
            alternatives
                .split('|')
                .any(|spec| names_entity(f, spec).expect("a valid entity spec"))
        })
    })
}

/// The committed copies (MIT and CC0) in `tests/data`: checked on every clone.
const COMMITTED: &[Truth] = &[
    Truth {
        file: "windows/otrf_empire_psexec_lines_1150-1449.json.gz",
        fires: Some((LATERAL, OTRF_ATTACK)),
        quiet: &[EMOTET, SCAN],
        alerts: 1,
        what: "300 lines of the OTRF Empire PsExec capture",
    },
    Truth {
        file: "evtx/sysmon_psexec_as_system.evtx",
        fires: Some((LATERAL, &["host:fs03vuln/target", "user:admmig/account"])),
        quiet: &[EMOTET, SCAN],
        alerts: 1,
        what: "PsExec running a payload as SYSTEM (Sysmon)",
    },
    Truth {
        file: "evtx/system_7045_mass_service_install_tchopper.evtx",
        fires: Some((LATERAL, &["host:FS03/target"])),
        quiet: &[EMOTET, SCAN],
        alerts: 1,
        what: "mass remote service deployment: 244 installs (7045)",
    },
    Truth {
        file: "evtx/powershell_payload_download_no_office.evtx",
        fires: None,
        quiet: &[LATERAL, EMOTET, SCAN],
        alerts: 0,
        what: "PowerShell payload download, no Office",
    },
];

/// Replays each file of `truths` under `dir` on its own and checks it; returns the markdown
/// table and the problems found.
fn evaluate(dir: &Path, truths: &[Truth]) -> (String, Vec<String>) {
    let mut table = String::from(
        "| file | what | events | lateral-movement | emotet-macro-chain | scan-detection | verdict |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    let mut failures = Vec::new();
    for truth in truths {
        let path = dir.join(truth.file);
        let result = replay(&path);
        let of = |rule: &str| -> Vec<&Finding> {
            result
                .findings
                .iter()
                .filter(|f| f.rule_id == rule)
                .collect()
        };
        let mut problems = Vec::new();
        if result.rejected > 0 {
            problems.push(format!("{} records rejected", result.rejected));
        }
        if let Some((rule, wanted)) = truth.fires {
            let found = of(rule);
            if found.is_empty() {
                problems.push(format!("no {rule} finding"));
            } else if !names_all(&found, wanted) {
                problems.push(format!("no {rule} finding names all of {wanted:?}"));
            }
            let mut keys: Vec<&str> = found.iter().map(|f| f.dedup_key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            if keys.len() > truth.alerts {
                problems.push(format!(
                    "{} {rule} alerts, at most {} expected: {keys:?}",
                    keys.len(),
                    truth.alerts
                ));
            }
            // In the OTRF captures every finding must be about the attack: the rest of
            // the capture is background.
            if truth.file.starts_with("otrf/") {
                for f in &found {
                    if !names_all(&[f], &[OTRF_ATTACK[0]]) {
                        problems.push(format!("a finding outside the attack: {}", describe(f)));
                    }
                }
            }
        }
        for rule in truth.quiet {
            for f in of(rule) {
                problems.push(format!("unexpected {rule}: {}", describe(f)));
            }
        }
        let verdict = if problems.is_empty() {
            "as documented".to_owned()
        } else {
            format!("**{}**", problems.join("; "))
        };
        let _ = writeln!(
            table,
            "| `{}` | {} | {} | {} | {} | {} | {verdict} |",
            truth.file,
            truth.what,
            result.events,
            of(LATERAL).len(),
            of(EMOTET).len(),
            of(SCAN).len()
        );
        if !problems.is_empty() {
            failures.push(format!("{}: {}", truth.file, problems.join("; ")));
        }
        for f in &result.findings {
            println!("{}: {}", truth.file, describe(f));
        }
    }
    (table, failures)
}

#[test]
fn core_pack_on_real_logs() {
    let Some(dir) = data_dir() else {
        eprintln!("skipped: ../shared/data is absent (the evaluation needs the shared logs)");
        return;
    };
    let (table, failures) = evaluate(&dir, TRUTH);
    println!("\n{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn core_pack_on_committed_logs() {
    let (table, failures) = evaluate(&root().join("tests/data"), COMMITTED);
    println!("\n{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The demo's synthetic morning (`examples/events/core.ndjson`): each of its four attacks is
/// found, named, and nothing else fires.
#[test]
fn core_pack_on_the_sample_morning() {
    let result = replay(&root().join("examples/events/core.ndjson"));
    assert_eq!(result.rejected, 0);
    let alerts = |rule: &str| -> Vec<&Finding> {
        // the latest report of each alert
        let mut latest: Vec<&Finding> = Vec::new();
        for f in result.findings.iter().filter(|f| f.rule_id == rule) {
            latest.retain(|l| l.dedup_key != f.dedup_key);
            latest.push(f);
        }
        latest
    };
    let emotet = alerts(EMOTET);
    assert_eq!(emotet.len(), 1, "one chain");
    assert!(
        names_all(
            &emotet,
            &[
                "host:WS01/target",
                "user:alice/account",
                "file:C:\\Users\\alice\\AppData\\Local\\Temp\\885.dll/dropped"
            ]
        ),
        "{}",
        describe(emotet[0])
    );
    assert_eq!(yagura_tests::context(emotet[0], "stage_count"), Some("6"));
    let lateral = alerts(LATERAL);
    let titles: Vec<&str> = lateral.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(lateral.len(), 4, "{titles:?}");
    assert!(names_all(
        &lateral,
        &[
            "host:SRV01/target",
            "ip:10.0.1.11/source",
            "user:alice/account"
        ]
    ));
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("Password spray from 10.0.0.66")),
        "{titles:?}"
    );
    assert_eq!(
        titles.iter().filter(|t| t.starts_with("Fan-out")).count(),
        2,
        "{titles:?}"
    );
    let scan = alerts(SCAN);
    assert_eq!(scan.len(), 1);
    assert!(names_all(
        &scan,
        &["ip:10.0.0.66/source", "ip:10.0.0.10/target"]
    ));
}
