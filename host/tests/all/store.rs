//! The pack store through the real `yagura` binary: import, activation by version and by
//! requirement, rollback, history, removal, every refusal — and crash consistency: the binary is
//! killed during import and activation (at fixed points and at random moments) and the store
//! it leaves is reopened and checked.
//!
//! Needs the `vertical-port-scan` component (`cargo xtask build-rules`; `cargo xtask test` runs
//! it first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use yagura::pack::{Bundle, SecretKey};
use yagura::store::Store;

use crate::support::{self, root};

/// A signed bundle of vertical-port-scan (with its cases) at `version`, written into `dir`;
/// `edit` changes the manifest text.
pub(crate) fn bundle(
    dir: &Path,
    key: &SecretKey,
    version: &str,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    let rule_dir = dir.join(format!("src-{version}"));
    support::copy_scan_cases(&rule_dir);
    let component = root().join("target/rules/vertical-port-scan.wasm");
    assert!(
        component.exists(),
        "{} is missing: run `cargo xtask build-rules` first",
        component.display()
    );
    let manifest = format!(
        "[pack]\nname = \"acme\"\nversion = \"{version}\"\npublisher = \"ACME\"\n\
         description = \"scans\"\nlicense = \"Apache-2.0\"\n\
         [requires]\nwit = \"^0.1\"\nhost = \">=0.1.0\"\n\
         [[rule]]\nid = \"vertical-port-scan\"\ncomponent = \"{}\"\ncases = \"cases.toml\"\n\
         [rule.config]\nthreshold = 20\n",
        component.display()
    );
    let manifest_path = rule_dir.join("pack.toml");
    std::fs::write(&manifest_path, edit(manifest)).expect("manifest");
    let mut b = Bundle::build(&manifest_path).expect("builds");
    b.sign(key);
    let out = dir.join(format!("acme-{version}.ypack"));
    std::fs::write(&out, b.to_bytes().expect("bytes")).expect("write bundle");
    out
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    store: PathBuf,
    key: SecretKey,
    public: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().to_path_buf();
    let key = SecretKey::generate().expect("key");
    let public = path.join("acme.pub");
    std::fs::write(&public, key.public().to_text()).expect("pub");
    Fixture {
        store: path.join("store"),
        dir: path,
        _dir: dir,
        key,
        public,
    }
}

fn yagura(args: &[&str], crash_at: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yagura"));
    cmd.args(args).env("USER", "tester");
    match crash_at {
        Some(point) => cmd.env("YAGURA_CRASH_AT", point),
        None => cmd.env_remove("YAGURA_CRASH_AT"),
    };
    cmd.output().expect("yagura runs")
}

fn ok(args: &[&str]) -> String {
    let out = yagura(args, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "yagura {args:?} failed:\n{text}");
    text
}

fn refused(args: &[&str]) -> String {
    let out = yagura(args, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "yagura {args:?} is refused:\n{text}"
    );
    text
}

#[test]
fn import_activate_rollback_remove_through_the_cli() {
    let f = fixture();
    let store = f.store.to_str().expect("utf-8");
    let public = f.public.to_str().expect("utf-8");
    let v1 = bundle(&f.dir, &f.key, "1.0.0", |m| m);
    let v2 = bundle(&f.dir, &f.key, "1.2.0", |m| m);
    let v3 = bundle(&f.dir, &f.key, "2.0.0", |m| m);
    let (v1, v2, v3) = (
        v1.to_str().expect("utf-8 path"),
        v2.to_str().expect("utf-8 path"),
        v3.to_str().expect("utf-8 path"),
    );

    // untrusted until the store trusts the key
    let e = refused(&["pack", "import", v1, "--store", store]);
    assert!(e.contains("not trusted here"), "{e}");
    ok(&["key", "trust", public, "--store", store]);
    let out = ok(&["pack", "import", v1, "--store", store]);
    assert!(
        out.contains("cases: 6 passed, 0 failed") && out.contains("imported acme@1.0.0"),
        "{out}"
    );
    // idempotent for the same content
    assert!(ok(&["pack", "import", v1, "--store", store]).contains("already in the store"));
    ok(&["pack", "import", v2, "--store", store]);
    ok(&["pack", "import", v3, "--store", store]);

    // immutable: 1.0.0 again with other content
    let other = bundle(&f.dir.join("other"), &f.key, "1.0.0", |m| {
        m.replace("threshold = 20", "threshold = 25")
    });
    let e = refused(&[
        "pack",
        "import",
        other.to_str().expect("utf-8 path"),
        "--store",
        store,
    ]);
    assert!(
        e.contains("acme@1.0.0 is already stored with other content"),
        "{e}"
    );

    // activation by requirement picks the highest match
    let out = ok(&[
        "pack",
        "activate",
        "acme",
        "^1",
        "--store",
        store,
        "--reason",
        "first rollout",
    ]);
    assert!(
        out.contains("acme@1.2.0 is active for tenant `default` (was: none)"),
        "{out}"
    );
    ok(&["pack", "activate", "acme", "2.0.0", "--store", store]);
    ok(&[
        "pack",
        "activate",
        "acme",
        "=1.0.0",
        "--store",
        store,
        "--tenant",
        "customer-b",
    ]);
    let e = refused(&["pack", "activate", "acme", "^3", "--store", store]);
    assert!(
        e.contains("no stored version of `acme` matches ^3 (stored: 1.0.0, 1.2.0, 2.0.0)"),
        "{e}"
    );
    let e = refused(&["pack", "activate", "acme", "1.x.y", "--store", store]);
    assert!(e.contains("neither a version nor a requirement"), "{e}");
    // the tenant names the API accepts, no others (a name the API refuses would be stranded)
    let e = refused(&[
        "pack",
        "activate",
        "acme",
        "2.0.0",
        "--store",
        store,
        "--tenant",
        "Customer C",
    ]);
    assert!(e.contains("tenant name `Customer C` must be"), "{e}");

    // removing an active version is refused
    let e = refused(&["pack", "remove", "acme@2.0.0", "--store", store]);
    assert!(e.contains("is active for tenant `default`"), "{e}");
    let e = refused(&["pack", "remove", "acme@1.0.0", "--store", store]);
    assert!(e.contains("is active for tenant `customer-b`"), "{e}");

    // rollback: 2.0.0 → 1.2.0 → (nothing earlier)
    let out = ok(&[
        "pack",
        "rollback",
        "acme",
        "--store",
        store,
        "--reason",
        "false positives",
    ]);
    assert!(out.contains("rolled back from 2.0.0 to 1.2.0"), "{out}");
    let e = refused(&["pack", "rollback", "acme", "--store", store]);
    assert!(e.contains("no earlier version"), "{e}");
    ok(&["pack", "remove", "acme@2.0.0", "--store", store]);

    let history = ok(&["pack", "history", "acme", "--store", store]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[0].contains("activate none → 1.2.0  by tester: first rollout"),
        "{history}"
    );
    assert!(lines[1].contains("activate 1.2.0 → 2.0.0"), "{history}");
    assert!(
        lines[2].contains("rollback 2.0.0 → 1.2.0  by tester: false positives"),
        "{history}"
    );

    let list = ok(&["pack", "list", "--store", store]);
    assert!(
        list.contains("acme@1.2.0") && list.contains("ACTIVE for default"),
        "{list}"
    );
    assert!(
        list.contains("acme@1.0.0") && list.contains("ACTIVE for customer-b"),
        "{list}"
    );
    assert!(!list.contains("acme@2.0.0"), "{list}");

    // replay a stored pack: the active version, with the pack's config
    let events = root().join("rules/vertical-port-scan/cases/30-ports.ndjson");
    let cache = f.store.join("cache");
    let out = yagura(
        &[
            "replay",
            "--quiet",
            "--cache",
            cache.to_str().expect("utf-8 path"),
            "--pack",
            "acme",
            "--store",
            store,
            events.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = String::from_utf8_lossy(&out.stdout);
    assert_eq!(findings.lines().count(), 1, "{findings}");
    assert!(
        findings.contains("Vertical port scan from 10.0.0.5"),
        "{findings}"
    );
}

#[test]
fn a_cli_activation_builds_the_tenants_rule_set_as_the_server_does() {
    // `pack activate` runs the runtime's activation: a pack whose rule another active pack
    // of the tenant already runs is refused before anything is recorded
    let f = fixture();
    let store = f.store.to_str().expect("utf-8");
    let public = f.public.to_str().expect("utf-8");
    let acme = bundle(&f.dir, &f.key, "1.0.0", |m| m);
    let other = bundle(&f.dir.join("other"), &f.key, "1.0.0", |m| {
        m.replace("name = \"acme\"", "name = \"other\"")
    });
    ok(&["key", "trust", public, "--store", store]);
    for b in [&acme, &other] {
        ok(&[
            "pack",
            "import",
            b.to_str().expect("utf-8"),
            "--store",
            store,
        ]);
    }
    ok(&["pack", "activate", "acme", "1.0.0", "--store", store]);
    let e = refused(&["pack", "activate", "other", "1.0.0", "--store", store]);
    assert!(
        e.contains("rule `vertical-port-scan` is also in another active pack of tenant `default`")
            && e.contains("the active version is unchanged"),
        "{e}"
    );
    // another tenant runs no acme: the same activation goes through there
    let out = ok(&[
        "pack",
        "activate",
        "other",
        "1.0.0",
        "--store",
        store,
        "--tenant",
        "customer-b",
    ]);
    assert!(
        out.contains("other@1.0.0 is active for tenant `customer-b` (was: none)"),
        "{out}"
    );
    let s = Store::open(&f.store).expect("store");
    assert_eq!(s.active("default", "other").expect("active"), None);
    assert!(s.history("default", "other").expect("history").is_empty());
    assert_eq!(
        s.active("default", "acme").expect("active").as_deref(),
        Some("1.0.0")
    );
}

#[test]
fn import_refuses_failing_cases_and_incompatible_hosts() {
    let f = fixture();
    let store = f.store.to_str().expect("utf-8");
    let public = f.public.to_str().expect("utf-8");
    // the pack's default config makes a must-not-fire case fire
    let bad = bundle(&f.dir, &f.key, "1.0.0", |m| {
        m.replace("threshold = 20", "threshold = 2")
    });
    let e = refused(&[
        "pack",
        "import",
        bad.to_str().expect("utf-8 path"),
        "--store",
        store,
        "--trust",
        public,
    ]);
    // the cases run with the pack's config: the case that must stay quiet now fires
    assert!(
        e.contains("FAIL  19 ports stay below the threshold")
            && e.contains("the pack's cases failed; not importing it"),
        "{e}"
    );
    let wit = bundle(&f.dir.join("w"), &f.key, "1.0.1", |m| {
        m.replace("wit = \"^0.1\"", "wit = \"^2\"")
    });
    let e = refused(&[
        "pack",
        "import",
        wit.to_str().expect("utf-8 path"),
        "--store",
        store,
        "--trust",
        public,
    ]);
    assert!(e.contains("needs yagura:detection ^2"), "{e}");
    let host = bundle(&f.dir.join("h"), &f.key, "1.0.2", |m| {
        m.replace("host = \">=0.1.0\"", "host = \">=9\"")
    });
    let e = refused(&[
        "pack",
        "import",
        host.to_str().expect("utf-8 path"),
        "--store",
        store,
        "--trust",
        public,
    ]);
    assert!(e.contains("needs Yagura >=9"), "{e}");
}

#[test]
fn a_store_of_another_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    drop(Store::open(dir.path()).expect("a new store"));
    {
        // sled's flusher thread may hold the lock a moment after the store is dropped
        let db = (0..support::POLLS)
            .find_map(|_| {
                sled::open(dir.path().join("db"))
                    .inspect_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
                    .ok()
            })
            .expect("sled opens once the dropped store lets go of it");
        db.open_tree("meta")
            .expect("meta")
            .insert("schema", &99u32.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    let e = Store::open(dir.path()).expect_err("refused");
    assert!(e.to_string().contains("schema version 99"), "{e}");
}

/// What must hold in any store, whenever the process writing it died.
fn check_consistent(store: &Path) -> Store {
    let s = Store::open(store).expect("the store reopens");
    let records = s.records().expect("records");
    for r in &records {
        s.bundle(&r.name, &r.version)
            .unwrap_or_else(|e| panic!("stored {}@{} is incomplete: {e:#}", r.name, r.version));
    }
    for (tenant, name, version) in s.all_active().expect("active") {
        assert!(
            records
                .iter()
                .any(|r| r.name == name && r.version == version),
            "{tenant} runs {name}@{version}, which is not stored"
        );
        let history = s.history(&tenant, &name).expect("history");
        assert_eq!(
            history.last().map(|h| h.to.as_str()),
            Some(version.as_str()),
            "the history ends where the active version is"
        );
    }
    if records.is_empty() {
        assert_eq!(s.blob_count(), 0, "no orphan blobs after reopening");
    }
    s
}

#[test]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs the crash-points feature (cargo xtask test turns it on)"
)]
fn killed_at_each_point_the_store_stays_consistent() {
    let f = fixture();
    let store = f.store.to_str().expect("utf-8");
    let public = f.public.to_str().expect("utf-8");
    let v1 = bundle(&f.dir, &f.key, "1.0.0", |m| m);
    let v2 = bundle(&f.dir, &f.key, "1.1.0", |m| m);
    let import = |b: &Path, crash: Option<&str>| {
        yagura(
            &[
                "pack",
                "import",
                b.to_str().expect("utf-8 path"),
                "--store",
                store,
                "--trust",
                public,
            ],
            crash,
        )
    };

    // killed after the blobs, before the record: nothing imported, blobs cleaned up
    let out = import(&v1, Some("import-blobs"));
    assert!(!out.status.success(), "the crash point fired");
    let s = check_consistent(&f.store);
    assert!(s.records().expect("records").is_empty());
    drop(s);

    // killed after the record, before the flush: either imported whole or not at all
    let out = import(&v1, Some("import-record"));
    assert!(!out.status.success());
    drop(check_consistent(&f.store));
    assert!(import(&v1, None).status.success());
    assert!(import(&v2, None).status.success());
    ok(&["key", "trust", public, "--store", store]);
    ok(&["pack", "activate", "acme", "1.0.0", "--store", store]);

    // killed just before activation's transaction: the old version stays active
    let out = yagura(
        &["pack", "activate", "acme", "1.1.0", "--store", store],
        Some("activate"),
    );
    assert!(!out.status.success());
    let s = check_consistent(&f.store);
    assert_eq!(
        s.active("default", "acme").expect("active").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(s.history("default", "acme").expect("history").len(), 1);
}

#[test]
fn killed_at_random_moments_the_store_stays_consistent() {
    let f = fixture();
    let store = f.store.to_str().expect("utf-8");
    let public = f.public.to_str().expect("utf-8");
    let bundles: Vec<PathBuf> = (0..4)
        .map(|i| bundle(&f.dir, &f.key, &format!("1.{i}.0"), |m| m))
        .collect();
    ok(&["key", "trust", public, "--store", store]);
    // warm the compiled-artifact cache so that runs reach the store quickly
    assert!(
        yagura(
            &[
                "pack",
                "import",
                bundles[0].to_str().expect("utf-8 path"),
                "--store",
                store,
                "--trust",
                public
            ],
            None
        )
        .status
        .success()
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..24u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let b = &bundles[(round % 4) as usize];
        let args: Vec<String> = if round % 2 == 0 {
            [
                "pack",
                "import",
                b.to_str().expect("utf-8 path"),
                "--store",
                store,
                "--trust",
                public,
            ]
            .map(str::to_owned)
            .to_vec()
        } else {
            [
                "pack",
                "activate",
                "acme",
                &format!("1.{}.0", round % 4 / 2),
                "--store",
                store,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_yagura"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(seed % 120));
        let _ = child.kill();
        let _ = child.wait();
        drop(check_consistent(&f.store));
    }
}
