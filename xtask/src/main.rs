//! `cargo xtask`: the build driver for what plain `cargo` cannot do in one step — building
//! the rule crates for `wasm32-unknown-unknown` and wrapping them into components, then
//! running the tests, the demo or the benchmarks on them.
//!
//! ```text
//! cargo xtask build-rules [--out DIR] [--only ID]…
//!                                       rule components into DIR (default target/rules)
//! cargo xtask test [ARGS…]              build-rules, then `cargo test ARGS…` (default members;
//!                                       without ARGS also the rule crates' unit tests)
//! cargo xtask demo                      build-rules, then build, sign, import and activate the
//!                                       core pack in target/demo/store and replay
//!                                       examples/events/core.ndjson and a real
//!                                       OTRF capture through it
//! cargo xtask bench [ARGS…]             build-rules, then `cargo bench -p yagura ARGS…`
//! cargo xtask clippy-rules              clippy on the rule crates for wasm32 (CI)
//! ```
//!
//! # Layout
//! - `main`: argument parsing and the commands.
//! - `rules`: Rust rule crates → core modules → components.
//! - `python`: Python example rules → components (componentize-py).
//! - `js`: JavaScript example rules → components (componentize-js, via sdk/js/build.mjs).
//! - `apps`: what the Python and JavaScript builders share (finding `app.*`, freshness).

mod apps;
mod js;
mod python;
mod rules;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build-rules [--out DIR] [--only ID]...
                           build every rule under rules/, tests/rules/, examples/python/ and
                           examples/js/ into components in DIR (default: target/rules); with
                           --only, just the Rust rules with these ids (crate `rule-ID`)
  test [ARGS...]           build-rules, then `cargo test ARGS...`; without ARGS, also
                           the rule crates' native unit tests
  demo                     build-rules, then build, sign, import and activate the core pack
                           (rules/pack.toml) in a fresh store target/demo/store, and replay
                           examples/events/core.ndjson and a real OTRF capture through it
  bench [ARGS...]          build-rules, then `cargo bench -p yagura ARGS...`
  clippy-rules             clippy on the rule crates for wasm32, warnings as errors

Components of rules/ and examples/{python,js}/ go to DIR; test fixtures (tests/rules/) go to
DIR/fixtures, so that `yagura replay --rules DIR` runs only real rules.
";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[OsString]) -> Result<()> {
    let root = workspace_root();
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(());
    };
    match command.to_str() {
        Some("build-rules") => {
            let args = parse_build_args(rest)?;
            let out = args.out.unwrap_or_else(|| default_out(&root));
            if args.only.is_empty() {
                build_rules(&root, &out).map(drop)
            } else {
                rules::build_rust_rules_only(&root, &out, &args.only).map(drop)
            }
        }
        Some("test") => {
            build_rules(&root, &default_out(&root))?;
            let args = ["test".into()].into_iter().chain(rest.iter().cloned());
            cargo(&root, args)?;
            // Rule crates are not default members; their native unit tests run here too,
            // unless the caller picked tests of their own.
            if rest.is_empty() {
                let mut args = vec![OsString::from("test")];
                for name in rules::rule_crate_names(&root)? {
                    args.push("-p".into());
                    args.push(name.into());
                }
                cargo(&root, args)?;
            }
            Ok(())
        }
        Some("demo") => demo(&root),
        Some("bench") => {
            build_rules(&root, &default_out(&root))?;
            let args = ["bench", "-p", "yagura"].map(OsString::from);
            cargo(&root, args.into_iter().chain(rest.iter().cloned()))
        }
        Some("clippy-rules") => {
            let mut args: Vec<OsString> = ["clippy", "--target", "wasm32-unknown-unknown"]
                .map(OsString::from)
                .into();
            for name in rules::rule_crate_names(&root)? {
                args.push("-p".into());
                args.push(name.into());
            }
            args.extend(["--", "-D", "warnings"].map(OsString::from));
            cargo(&root, args)
        }
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command {command:?}\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask/ lives inside the workspace root")
        .to_path_buf()
}

/// `target/rules` of the workspace, where the host and the tests look for components.
fn default_out(root: &Path) -> PathBuf {
    root.join("target").join("rules")
}

/// The options of `build-rules`.
#[derive(Default)]
struct BuildArgs {
    out: Option<PathBuf>,
    only: Vec<String>,
}

fn parse_build_args(args: &[OsString]) -> Result<BuildArgs> {
    let mut parsed = BuildArgs::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("build-rules: {flag:?} needs a value\n\n{USAGE}"))
        };
        match flag.to_str() {
            Some("--out") => parsed.out = Some(PathBuf::from(value()?)),
            Some("--only") => parsed.only.push(value()?.to_string_lossy().into_owned()),
            _ => bail!("build-rules: unknown argument {flag:?}\n\n{USAGE}"),
        }
    }
    Ok(parsed)
}

/// Builds every rule component into `out`; prints what it built and returns the paths.
fn build_rules(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let mut built = rules::build_rust_rules(root, out)?;
    let python = python::build_python_rules(root, out).context("building the Python rules")?;
    for path in &python {
        let size = fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        println!(
            "  {:<28} {:>10}  (python)",
            file_stem(path),
            rules::human(size)
        );
    }
    built.extend(python);
    let js = js::build_js_rules(root, out).context("building the JavaScript rules")?;
    for path in &js {
        let size = fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        println!("  {:<28} {:>10}  (js)", file_stem(path), rules::human(size));
    }
    built.extend(js);
    println!("{} rule components in {}", built.len(), out.display());
    Ok(built)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `demo`: the publisher's and the customer's workflow on the core pack, in a fresh store
/// under `target/demo/`, then a replay of the bundled sample logs through the active pack.
fn demo(root: &Path) -> Result<()> {
    let rules = default_out(root);
    build_rules(root, &rules)?;
    let demo = root.join("target").join("demo");
    let store = demo.join("store");
    if store.exists() {
        fs::remove_dir_all(&store).with_context(|| format!("removing {}", store.display()))?;
    }
    fs::create_dir_all(&demo).with_context(|| format!("creating {}", demo.display()))?;
    let key = demo.join("publisher");
    let bundle = demo.join("yagura-core-0.1.0.ypack");
    let path = |p: &Path| OsString::from(p);
    let store_args = || [OsString::from("--store"), path(&store)];
    // The dev profile: its dependencies are optimised (root Cargo.toml), and it is the build
    // `cargo xtask test` makes too, so the two README commands build once.
    let yagura = |args: Vec<OsString>| {
        let mut all: Vec<OsString> = ["run", "-q", "-p", "yagura", "--"]
            .map(OsString::from)
            .into();
        println!(
            "\n$ yagura {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        all.extend(args);
        cargo(root, all)
    };
    if !key.with_extension("key").exists() {
        yagura(vec!["key".into(), "generate".into(), path(&key)])?;
    }
    yagura(vec![
        "pack".into(),
        "build".into(),
        path(&root.join("rules").join("pack.toml")),
        "--key".into(),
        path(&key.with_extension("key")),
        "--out".into(),
        path(&bundle),
    ])?;
    let mut trust = vec![
        "key".into(),
        "trust".into(),
        path(&key.with_extension("pub")),
    ];
    trust.extend(store_args());
    yagura(trust)?;
    let mut import = vec!["pack".into(), "import".into(), path(&bundle)];
    import.extend(store_args());
    yagura(import)?;
    let mut activate: Vec<OsString> = [
        "pack",
        "activate",
        "yagura-core",
        "^0.1",
        "--reason",
        "cargo xtask demo",
    ]
    .map(OsString::from)
    .into();
    activate.extend(store_args());
    yagura(activate)?;
    // Two streams: the synthetic morning of examples/events/core.ndjson, and 300 real lines of
    // the OTRF Empire PsExec capture (2020; one replay is one event-time stream).
    for (name, log) in [
        (
            "core",
            root.join("examples").join("events").join("core.ndjson"),
        ),
        (
            "otrf",
            root.join("tests/data/windows/otrf_empire_psexec_lines_1150-1449.json.gz"),
        ),
    ] {
        let findings = demo.join(format!("findings-{name}.jsonl"));
        let mut replay: Vec<OsString> = ["replay", "--pack", "yagura-core"]
            .map(OsString::from)
            .into();
        replay.extend(store_args());
        replay.extend(["--cache".into(), path(&store.join("cache"))]);
        replay.extend(["--output".into(), path(&findings), path(&log)]);
        yagura(replay)?;
        print_findings(&findings)?;
    }
    Ok(())
}

/// One line per finding of an OCSF findings file: severity, rule, title.
fn print_findings(path: &Path) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    println!("findings (full OCSF JSON in {}):", path.display());
    for line in text.lines() {
        let f: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("a line of {}", path.display()))?;
        println!(
            "  {:<9} {:<20} {}",
            f["severity"].as_str().unwrap_or("?"),
            f["finding_info"]["analytic"]["uid"].as_str().unwrap_or("?"),
            f["finding_info"]["title"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// Runs `cargo ARGS` in the workspace root and fails if it fails.
fn cargo(root: &Path, args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let args: Vec<OsString> = args.into_iter().collect();
    let status = Command::new(cargo_bin())
        .args(&args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo {args:?}"))?;
    if !status.success() {
        bail!("cargo {args:?} failed ({status})");
    }
    Ok(())
}

/// The cargo that runs us (`$CARGO`), so the toolchain stays the same.
fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
