//! `yagura rule …`: working on single rules. `rule test` runs declarative cases
//! (`docs/rule-cases.md`) through the real host.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::cases::CaseFile;
use crate::sandbox::{RuleComponent, Sandbox};

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
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
    /// Rule components: a directory (every *.wasm in it) or a .wasm file. Repeatable
    #[arg(long, value_name = "DIR|FILE", required = true)]
    pub rules: Vec<PathBuf>,

    /// Run only the cases whose name contains this text
    #[arg(long, value_name = "TEXT")]
    pub case: Option<String>,

    /// Print every case's findings, not only a failing case's
    #[arg(long)]
    pub verbose: bool,

    /// Cases files (`rules/<id>/cases.toml`)
    #[arg(value_name = "CASES", required = true)]
    pub files: Vec<PathBuf>,
}

/// Totals of a `rule test` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
}

/// Runs `rule test`, writing the report to `out`.
pub fn run_rule_test(args: &RuleTestArgs, out: &mut dyn Write) -> anyhow::Result<TestReport> {
    let sandbox = Sandbox::builder().build()?;
    let components = super::replay::load_rules(&sandbox, &args.rules)?;
    let mut report = TestReport::default();
    for path in &args.files {
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
