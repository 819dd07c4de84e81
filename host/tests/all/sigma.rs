//! `yagura sigma check` through the binary, as a user types it: what compiles, what is refused
//! and why, the counts by reason, the exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn yagura(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("yagura runs")
}

fn rule(id: &str, title: &str, detection: &str) -> String {
    format!(
        "title: {title}\nid: {id}\nauthor: Test Author\nlevel: high\nlogsource:\n  product: windows\n  category: process_creation\n\
         detection:\n{detection}"
    )
}

const ID_A: &str = "0b1e6a53-0000-4000-8000-00000000000a";
const ID_B: &str = "0b1e6a53-0000-4000-8000-00000000000b";
const ID_C: &str = "0b1e6a53-0000-4000-8000-00000000000c";

#[test]
fn check_reports_each_refusal_and_counts_by_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("sub")).expect("mkdir");
    let good = rule(
        ID_A,
        "Good",
        "  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n",
    );
    std::fs::write(rules.join("good.yml"), &good).expect("write");
    std::fs::write(rules.join("sub/dup.yaml"), &good).expect("write");
    let expand = rule(
        ID_B,
        "Expand",
        "  selection:\n    Image|expand: '%x%'\n  condition: selection\n",
    );
    std::fs::write(rules.join("sub/expand.yml"), expand).expect("write");
    let timeframe = rule(
        ID_C,
        "Old",
        "  selection:\n    Image: x\n  timeframe: 5m\n  condition: selection\n",
    );
    std::fs::write(rules.join("old.yml"), timeframe).expect("write");
    std::fs::write(rules.join("notes.txt"), "not a rule").expect("write");
    // a link back up is not followed (it would never end)
    std::os::unix::fs::symlink(&rules, rules.join("sub/loop")).expect("symlink");

    let out = yagura(&["sigma", "check", "rules"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "some refused: {stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "rules/old.yml: refused Old (0b1e6a53-0000-4000-8000-00000000000c): detection: `timeframe: 5m` (write a correlation rule)",
            "rules/sub/dup.yaml: refused Good (0b1e6a53-0000-4000-8000-00000000000a): metadata: `id`, first in rules/good.yml: an id another rule has",
            "rules/sub/expand.yml: refused Expand (0b1e6a53-0000-4000-8000-00000000000b): modifier: selection `selection`: field `Image`: `expand`",
            "1 compiled, 3 refused, from 4 files",
            "refused, by reason:",
            "      1  detection: `timeframe: 5m` (write a correlation rule)",
            "      1  metadata: an id another rule has",
            "      1  modifier: `expand`",
        ]
    );

    let json = yagura(
        &[
            "sigma",
            "check",
            "--json",
            "rules/good.yml",
            "rules/sub/expand.yml",
        ],
        dir.path(),
    );
    assert_eq!(json.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["files"], 2);
    assert_eq!(report["compiled"], 1);
    assert_eq!(report["refused"][0]["kind"], "modifier");
    assert_eq!(
        report["refused"][0]["at"],
        "selection `selection`: field `Image`"
    );
    assert_eq!(report["refused"][0]["what"], "`expand`");
    assert_eq!(report["reasons"]["modifier: `expand`"], 1);

    let clean = yagura(
        &["sigma", "check", "--summary", "rules/good.yml"],
        dir.path(),
    );
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&clean.stdout),
        "1 compiled, 0 refused, from 1 file\n"
    );
}

#[test]
fn check_says_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = yagura(&["sigma", "check", "nowhere"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "yagura sigma: error: nowhere: no such file or directory\n"
    );
    std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
    let empty = yagura(&["sigma", "check", "empty"], dir.path());
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&empty.stderr),
        "yagura sigma: error: no .yml or .yaml file under empty\n"
    );
    std::fs::write(dir.path().join("broken.yml"), "title: [unclosed\n").expect("write");
    let broken = yagura(&["sigma", "check", "broken.yml"], dir.path());
    assert_eq!(broken.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(
        stdout.starts_with("broken.yml: refused a document: yaml: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n      1  yaml: a document that does not parse\n"),
        "{stdout}"
    );
}
