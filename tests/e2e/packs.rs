//! Rule packs: a bundle built from a manifest, signed, verified — and every refusal, each
//! with its reason (docs/packs.md).

use std::path::{Path, PathBuf};

use yagura::pack::{Bundle, SecretKey, SignatureStatus, Trust};
use yagura_tests::{keep_ocsf, root, rules_dir, sandbox};

/// A source tree with a one-rule manifest (vertical-port-scan and its cases) in `dir`;
/// returns the manifest path. `edit` changes the manifest text.
fn source_pack(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let rule_dir = dir.join("vertical-port-scan");
    std::fs::create_dir_all(rule_dir.join("cases")).expect("mkdir");
    let src = root().join("rules/vertical-port-scan");
    std::fs::copy(src.join("cases.toml"), rule_dir.join("cases.toml")).expect("copy cases");
    for entry in std::fs::read_dir(src.join("cases")).expect("cases dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            rule_dir.join("cases").join(path.file_name().expect("name")),
        )
        .expect("copy events");
    }
    let manifest = format!(
        r#"[pack]
name = "acme-scans"
version = "1.2.0"
publisher = "ACME Detection"
description = "Scan rules"
license = "Apache-2.0"

[requires]
wit = "^0.1"
host = ">=0.1.0"

[[rule]]
id = "vertical-port-scan"
component = "{}"
cases = "vertical-port-scan/cases.toml"

[rule.config]
threshold = 20
"#,
        rules_dir().join("vertical-port-scan.wasm").display()
    );
    let path = dir.join("pack.toml");
    std::fs::write(&path, edit(manifest)).expect("write manifest");
    path
}

fn trust(key: &SecretKey) -> Trust {
    Trust {
        keys: vec![key.public()],
        allow_unsigned: false,
    }
}

#[test]
fn a_signed_bundle_round_trips_deterministically_and_its_cases_pass() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = source_pack(dir.path(), |m| m);
    let key = SecretKey::generate().expect("key");
    let mut bundle = Bundle::build(&manifest).expect("builds");
    bundle.sign(&key);
    let bytes = bundle.to_bytes().expect("bytes");

    let mut again = Bundle::build(&manifest).expect("builds again");
    again.sign(&key);
    assert_eq!(
        again.to_bytes().expect("bytes"),
        bytes,
        "same inputs, same bytes"
    );

    let read = Bundle::from_bytes(&bytes, "acme.ypack").expect("reads");
    assert_eq!(read.manifest.label(), "acme-scans@1.2.0");
    assert_eq!(
        read.manifest.files.len(),
        4,
        "cases.toml and three events files"
    );
    assert!(matches!(
        read.verify(&trust(&key), "acme.ypack").expect("verifies"),
        SignatureStatus::Trusted(_)
    ));
    read.check_requirements("acme.ypack")
        .expect("this host meets ^0.1");

    let results = yagura::pack::run_cases(&read, sandbox(), "acme.ypack").expect("cases run");
    assert_eq!(results.len(), 1);
    assert!(results[0].results.len() >= 6);
    assert_eq!(results[0].failed().count(), 0);
}

fn refusal(bytes: &[u8], trust: &Trust) -> String {
    let result = Bundle::from_bytes(bytes, "x.ypack").and_then(|b| {
        b.verify(trust, "x.ypack")?;
        b.check_requirements("x.ypack")
    });
    format!("{:#}", result.expect_err("refused"))
}

/// Replaces the first occurrence of `from` in the archive bytes with `to` (same length).
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in bundle");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn every_refusal_says_why() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = source_pack(dir.path(), |m| m);
    let key = SecretKey::generate().expect("key");
    let mut bundle = Bundle::build(&manifest).expect("builds");
    let unsigned = bundle.to_bytes().expect("bytes");
    bundle.sign(&key);
    let signed = bundle.to_bytes().expect("bytes");
    let trusted = trust(&key);

    // unsigned
    let e = refusal(&unsigned, &trusted);
    assert!(
        e.contains("is unsigned") && e.contains("--allow-unsigned"),
        "{e}"
    );
    // ...unless development mode says so
    let dev = Trust {
        keys: vec![],
        allow_unsigned: true,
    };
    let b = Bundle::from_bytes(&unsigned, "x").expect("reads");
    assert_eq!(
        b.verify(&dev, "x").expect("allowed"),
        SignatureStatus::UnsignedAllowed
    );

    // untrusted key
    let stranger = SecretKey::generate().expect("key");
    let e = refusal(&signed, &trust(&stranger));
    assert!(
        e.contains("not trusted here") && e.contains(&key.public().id()),
        "{e}"
    );

    // wrong signature: signed by one key, claiming another
    let mut forged = Bundle::from_bytes(&signed, "x").expect("reads");
    let mut sig = forged.signature.clone().expect("signed");
    sig.key = stranger.public().to_hex();
    forged.signature = Some(sig);
    let e = refusal(&forged.to_bytes().expect("bytes"), &trust(&stranger));
    assert!(e.contains("signature does not match"), "{e}");

    // tampered component: one byte of the wasm changed after building
    let wasm = std::fs::read(rules_dir().join("vertical-port-scan.wasm")).expect("wasm");
    let tail = &wasm[wasm.len() - 16..];
    let mut changed = tail.to_vec();
    changed[0] ^= 0xff;
    let e = refusal(&patch(&signed, tail, &changed), &trusted);
    assert!(
        e.contains("component of rule `vertical-port-scan` does not match its sha256"),
        "{e}"
    );

    // tampered manifest (a digest-consistent edit of the config): the signature breaks
    let e = refusal(
        &patch(&signed, b"threshold = 20", b"threshold = 99"),
        &trusted,
    );
    assert!(e.contains("signature does not match"), "{e}");

    // corrupt bundle
    let e = refusal(&signed[..signed.len() / 3], &trusted);
    assert!(
        e.contains("not a valid pack bundle") || e.contains("missing"),
        "{e}"
    );
    let e = refusal(
        b"hello, I am not a tar file at all, not even close.....",
        &trusted,
    );
    assert!(e.contains("x.ypack"), "{e}");

    // incompatible WIT major
    let dir2 = tempfile::tempdir().expect("tmp");
    let m = source_pack(dir2.path(), |m| {
        m.replace("wit = \"^0.1\"", "wit = \"^1.0\"")
    });
    let mut b = Bundle::build(&m).expect("builds");
    b.sign(&key);
    let e = refusal(&b.to_bytes().expect("bytes"), &trusted);
    assert!(
        e.contains("needs yagura:detection ^1.0") && e.contains("@0.1.0"),
        "{e}"
    );

    // bad version string
    let dir3 = tempfile::tempdir().expect("tmp");
    let m = source_pack(dir3.path(), |m| m.replace("1.2.0", "1.2"));
    let e = format!("{:#}", Bundle::build(&m).expect_err("refused"));
    assert!(e.contains("pack.toml") && e.contains("version"), "{e}");
}

#[test]
fn failing_cases_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = source_pack(dir.path(), |m| m);
    let cases = dir.path().join("vertical-port-scan/cases.toml");
    let text = std::fs::read_to_string(&cases).expect("cases");
    std::fs::write(&cases, text.replacen("findings = 0", "findings = 5", 1)).expect("write");
    let bundle = Bundle::build(&manifest).expect("builds");
    let results = yagura::pack::run_cases(&bundle, sandbox(), "acme").expect("run");
    let failed: Vec<&str> = results[0].failed().map(|r| r.name.as_str()).collect();
    assert_eq!(failed, ["19 ports stay below the threshold"]);
}

/// `yagura replay --pack BUNDLE` runs a signed bundle's rules with the pack's config, and
/// refuses an untrusted or unsigned one unless told otherwise.
#[test]
fn replay_runs_a_bundle_only_when_its_signer_is_trusted() {
    use clap::Parser;
    use yagura::cli::{Cli, Command, run_replay};

    let dir = tempfile::tempdir().expect("tmp");
    // the pack lowers the threshold: 5 ports make a scan; it names the rule's author
    let manifest = source_pack(dir.path(), |m| {
        m.replace("threshold = 20", "threshold = 5").replace(
            "cases = \"vertical-port-scan/cases.toml\"",
            "cases = \"vertical-port-scan/cases.toml\"\nauthor = \"ACME Detection (Jane Roe)\"",
        )
    });
    let key = SecretKey::generate().expect("key");
    let public = dir.path().join("acme.pub");
    std::fs::write(&public, key.public().to_text()).expect("pub");
    let mut bundle = Bundle::build(&manifest).expect("builds");
    let unsigned = dir.path().join("unsigned.ypack");
    std::fs::write(&unsigned, bundle.to_bytes().expect("bytes")).expect("write");
    bundle.sign(&key);
    let signed = dir.path().join("signed.ypack");
    std::fs::write(&signed, bundle.to_bytes().expect("bytes")).expect("write");
    let events = root().join("rules/vertical-port-scan/cases/19-ports.ndjson");
    let store = dir.path().join("no-store");

    let replay = |extra: &[&str]| {
        let mut argv: Vec<String> = [
            "yagura",
            "replay",
            "--quiet",
            "--no-cache",
            "--deadline-ms",
            "60000",
            "--store",
        ]
        .map(str::to_owned)
        .to_vec();
        argv.push(store.display().to_string());
        argv.extend(extra.iter().map(|s| (*s).to_owned()));
        argv.push(events.display().to_string());
        let Command::Replay(args) = Cli::try_parse_from(argv).expect("parses").command else {
            panic!("replay");
        };
        let mut out = Vec::new();
        run_replay(&args, &mut out, &mut Vec::new())
            .map(|_| String::from_utf8_lossy(&out).into_owned())
    };
    let signed_arg = signed.display().to_string();
    let unsigned_arg = unsigned.display().to_string();
    let public_arg = public.display().to_string();

    let out = replay(&["--pack", &signed_arg, "--trust", &public_arg]).expect("runs");
    assert_eq!(
        out.lines().count(),
        1,
        "19 ports are a scan at the pack's threshold of 5: {out}"
    );
    assert!(out.contains("\"distinct_ports\":\"5\""), "{out}");
    // the finding carries the author the pack names, the device and the matched event
    let finding: serde_json::Value = serde_json::from_str(out.trim()).expect("a finding");
    keep_ocsf([finding.clone()]);
    assert_eq!(
        finding["unmapped"]["rule_author"],
        "ACME Detection (Jane Roe)"
    );
    assert_eq!(
        finding["metadata"]["profiles"],
        serde_json::json!(["datetime", "host"])
    );
    assert!(finding["confidence_id"].is_u64(), "{finding}");
    assert!(
        finding["evidences"][0]["dst_endpoint"]["ip"].is_string(),
        "{finding}"
    );

    let e = format!(
        "{:#}",
        replay(&["--pack", &signed_arg]).expect_err("untrusted")
    );
    assert!(e.contains("not trusted here"), "{e}");
    let e = format!(
        "{:#}",
        replay(&["--pack", &unsigned_arg]).expect_err("unsigned")
    );
    assert!(e.contains("is unsigned"), "{e}");
    // an author the manifest cannot carry is refused, naming the rule
    let bad = source_pack(dir.path(), |m| {
        m.replace("[rule.config]", "author = \"   \"\n[rule.config]")
    });
    let e = format!("{:#}", Bundle::build(&bad).expect_err("blank author"));
    assert!(e.contains("rule `vertical-port-scan`: author"), "{e}");
    replay(&["--pack", &unsigned_arg, "--allow-unsigned"]).expect("development mode");
    // `--set` goes on top of the pack's config
    let out = replay(&[
        "--pack",
        &signed_arg,
        "--trust",
        &public_arg,
        "--set",
        "vertical-port-scan.threshold=50",
    ])
    .expect("runs");
    assert_eq!(out, "", "no scan at 50");
}
