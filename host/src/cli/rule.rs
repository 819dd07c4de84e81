//! `yagura rule …`: working on single rules. `rule new` scaffolds a rule project from the
//! templates under `host/templates/<lang>/` ([`new`]), `rule build` turns a project into a
//! component ([`build`]), `rule test` runs declarative cases (`docs/rule-cases.md`) through the
//! real host.

mod build;
mod c_toolchain;
mod new;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::cases::CaseFile;
use crate::sandbox::{RuleComponent, Sandbox};

pub use build::RuleBuildArgs;
pub use new::RuleNewArgs;

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Create a rule project: one example detection and its cases, ready to build and test.
    ///
    /// `yagura rule new --lang python my-rule` writes my-rule/ with app.py, cases.toml and
    /// pyproject.toml; `--lang js` app.js, cases.toml and package.json; `--lang c` rule.c and
    /// cases.toml; `--lang rust` a crate depending on the Yagura Rust SDK.
    New(RuleNewArgs),
    /// Build a rule project into a component: DIR/target/<name>.wasm.
    ///
    /// Rust projects (Cargo.toml) build with cargo for wasm32-unknown-unknown and are wrapped
    /// into a component; Python projects (app.py) build with componentize-py --stub-wasi and
    /// the Python kit; JavaScript projects (app.js) with componentize-js and the JavaScript kit
    /// (sdk/js/build.mjs, which `npm ci` sets up on first use); C projects (rule.c) with clang
    /// for wasm32-wasi and the C kit: a wasi-sdk in $WASI_SDK_PATH, zig in $YAGURA_ZIG,
    /// Debian's clang with lld, wasi-libc and libclang-rt-14-dev-wasm32, or zig on PATH, in
    /// that order ($YAGURA_C_TOOLCHAIN=wasi-sdk|zig|clang picks one). Components that import
    /// WASI are refused with the fix.
    Build(RuleBuildArgs),
    /// Run a rule's declarative cases (cases.toml) through the real host and report each one.
    ///
    /// Each case runs on a fresh instance of the rule its file names, found among the
    /// components given with --rules. A failing case prints what it expected and every finding
    /// the rule reported. Exit code: 0 every case passed, 1 a case failed or a file could not
    /// be used, 2 usage error.
    Test(RuleTestArgs),
}

#[derive(Debug, Args)]
pub struct RuleTestArgs {
    /// Rule components: a directory (every *.wasm in it) or a .wasm file. Repeatable.
    /// Default: `target`, where `yagura rule build` puts a project's component
    #[arg(long, value_name = "DIR|FILE")]
    pub rules: Vec<PathBuf>,

    /// Keep compiled components in DIR, so that the next run loads them without compiling
    /// (Python and JavaScript components take seconds to compile). Default with no --rules:
    /// `target/yagura-cache`
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,

    /// Run only the cases whose name contains this text
    #[arg(long, value_name = "TEXT")]
    pub case: Option<String>,

    /// Print every case's findings, not only a failing case's
    #[arg(long)]
    pub verbose: bool,

    /// Cases files (`rules/<id>/cases.toml`). Default: `cases.toml`
    #[arg(value_name = "CASES")]
    pub files: Vec<PathBuf>,
}

/// Totals of a `rule test` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
}

/// Runs `rule test`, writing the report to `out`.
///
/// Without `--rules` and cases files it runs a rule project's own: `cases.toml` against the
/// components in `target/`, as `yagura rule new` lays them out.
pub fn run_rule_test(args: &RuleTestArgs, out: &mut dyn Write) -> anyhow::Result<TestReport> {
    let project = Path::new(".");
    let rules = if args.rules.is_empty() {
        project_components(project)?
    } else {
        args.rules.clone()
    };
    let files = if args.files.is_empty() {
        let cases = project.join("cases.toml");
        if !cases.is_file() {
            bail!(
                "no cases.toml here: give the cases files to run (and --rules), or run this in \
                 a rule project made by `yagura rule new`"
            );
        }
        vec![PathBuf::from("cases.toml")]
    } else {
        args.files.clone()
    };
    let cache = match (&args.cache, args.rules.is_empty()) {
        (Some(dir), _) => Some(dir.clone()),
        (None, true) => Some(project.join("target").join("yagura-cache")),
        (None, false) => None,
    };
    let mut builder = Sandbox::builder();
    if let Some(dir) = cache {
        builder = builder.cache_dir(dir);
    }
    let sandbox = builder.build()?;
    let components = super::replay::load_rules(&sandbox, &rules)?;
    let mut report = TestReport::default();
    for path in &files {
        let file = CaseFile::load(path)?;
        let component = find(&components, &file)?;
        writeln!(out, "{}  {}", file.rule, path.display())?;
        let mut selected = file.clone();
        if let Some(filter) = &args.case {
            selected.cases.retain(|c| c.name.contains(filter.as_str()));
        }
        for result in selected.run(component)? {
            let n = result.findings.len();
            let count = if n == 1 {
                "1 finding".to_owned()
            } else {
                format!("{n} findings")
            };
            if result.passed() {
                report.passed += 1;
                writeln!(out, "  ok    {} ({count})", result.name)?;
                if args.verbose {
                    for f in &result.findings {
                        writeln!(out, "        - {}", crate::cases::describe(f))?;
                    }
                }
            } else {
                report.failed += 1;
                writeln!(out, "  FAIL  {}", result.name)?;
                for line in result.explain().lines() {
                    writeln!(out, "        {line}")?;
                }
            }
        }
    }
    writeln!(
        out,
        "cases: {} passed, {} failed",
        report.passed, report.failed
    )?;
    Ok(report)
}

/// `DIR/target`, when it holds a component; otherwise an error saying to build first.
fn project_components(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let target = dir.join("target");
    let has_component = std::fs::read_dir(&target)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .unwrap_or(false);
    if !has_component {
        bail!(
            "no rule component in {}: build the rule first with `yagura rule build`, or name \
             the components with --rules",
            target.display()
        );
    }
    Ok(vec![target])
}

fn find<'a>(components: &'a [RuleComponent], file: &CaseFile) -> anyhow::Result<&'a RuleComponent> {
    if let Some(c) = components.iter().find(|c| c.info().id == file.rule) {
        return Ok(c);
    }
    let ids: Vec<&str> = components.iter().map(|c| c.info().id.as_str()).collect();
    bail!(
        "{} is for rule `{}`, which is not among the loaded rules ({}); build it with \
         `cargo xtask build-rules` or point --rules at its component",
        file.path.display(),
        file.rule,
        ids.join(", ")
    )
}

/// Runs a `rule` subcommand; returns the exit code.
pub fn run(command: &RuleCommand) -> u8 {
    match command {
        RuleCommand::New(args) => report("yagura rule new", args.run(&mut std::io::stdout())),
        RuleCommand::Build(args) => report("yagura rule build", args.run(&mut std::io::stdout())),
        RuleCommand::Test(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match run_rule_test(args, &mut out).context("yagura rule test") {
                Ok(r) if r.failed == 0 => super::exit::OK,
                Ok(_) => super::exit::FAILED,
                Err(e) => {
                    let _ = out.flush();
                    eprintln!("yagura rule test: error: {e:#}");
                    super::exit::FAILED
                }
            }
        }
    }
}

/// The exit code of a command that either worked or failed with an error.
fn report<T>(command: &str, result: anyhow::Result<T>) -> u8 {
    match result {
        Ok(_) => super::exit::OK,
        Err(e) => {
            eprintln!("{command}: error: {e:#}");
            super::exit::FAILED
        }
    }
}
