//! `yagura sigma`: Sigma rules (docs/sigma.md).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use yagura_sigma::compile::{Options, Refusal, compile_yaml};

#[derive(Debug, Subcommand)]
pub enum SigmaCommand {
    /// Compile Sigma rules and report what compiles and what is refused, and why.
    ///
    /// Every document of every .yml/.yaml file under the paths (symbolic links to directories
    /// are not followed) is compiled into Yagura's Sigma form: parsed by rsigma-parser, every
    /// modifier applied, the condition resolved, the logsource routed to Windows channels and
    /// event ids. A rule that uses
    /// something Yagura does not run is refused whole, naming the construct; nothing is
    /// dropped in silence. Exit code: 0 every rule compiled, 3 some were refused, 1 nothing
    /// could be read, 2 usage error.
    Check(SigmaCheckArgs),
    /// Compile Sigma rules into the Sigma engine's configuration: a JSON array of compiled
    /// rules, the value of the `sigma` rule's `rules` parameter.
    ///
    /// The rules are compiled as `yagura sigma check` does, which this prints too; refused
    /// rules are left out of the output and listed. Exit code: 0 every rule compiled, 3 some
    /// were refused (the rest are written), 1 nothing could be read or written, 2 usage error.
    Compile(SigmaCompileArgs),
}

#[derive(Debug, Args)]
pub struct SigmaCompileArgs {
    #[command(flatten)]
    pub check: SigmaCheckArgs,
    /// Where to write the compiled rules (JSON).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SigmaCheckArgs {
    /// Sigma rule files, or directories searched for *.yml and *.yaml.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The licence to name on rules that name none (SigmaHQ's rules: DRL-1.1, whose terms
    /// ask that every match shows the rule's author).
    #[arg(long, value_name = "SPDX")]
    pub license: Option<String>,
    /// Print the report as one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Text report: only the counts, not each refused rule.
    #[arg(long, conflicts_with = "json")]
    pub summary: bool,
}

/// What `yagura sigma check` found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub files: usize,
    pub compiled: usize,
    pub refused: Vec<RefusedRule>,
    /// Refusals counted by reason, the reason being the construct without the rule's names.
    pub reasons: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct RefusedRule {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `kind`, `at` (selection and field, empty for the whole rule) and `what`.
    #[serde(flatten)]
    pub refusal: Refusal,
}

impl RefusedRule {
    /// The rule as a line names it: `title (id)`, or what of it is known.
    pub fn name(&self) -> String {
        match (&self.title, &self.id) {
            (Some(title), Some(id)) => format!("{title} ({id})"),
            (Some(title), None) => title.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => "a document".into(),
        }
    }
}

/// Runs `yagura sigma`; returns the exit code.
pub(crate) fn run(command: &SigmaCommand, out: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        SigmaCommand::Check(args) => {
            let report = check(args)?;
            if args.json {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)?;
            } else {
                write_text(&report, args.summary, out)?;
            }
            Ok(exit_code(&report))
        }
        SigmaCommand::Compile(args) => {
            let (report, rules) = compile_paths(&args.check.paths, args.check.license.as_deref())?;
            let json = serde_json::to_vec(&rules)?;
            std::fs::write(&args.out, json)
                .with_context(|| format!("cannot write {}", args.out.display()))?;
            if args.check.json {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)?;
            } else {
                write_text(&report, args.check.summary, out)?;
                writeln!(out, "wrote {} rules to {}", rules.len(), args.out.display())?;
            }
            Ok(exit_code(&report))
        }
    }
}

fn exit_code(report: &CheckReport) -> u8 {
    if report.refused.is_empty() {
        super::exit::OK
    } else {
        super::exit::DEGRADED
    }
}

/// Compiles every Sigma file under `args.paths`.
pub fn check(args: &SigmaCheckArgs) -> anyhow::Result<CheckReport> {
    Ok(compile_paths(&args.paths, args.license.as_deref())?.0)
}

/// Compiles every Sigma file under `paths` (files, or directories searched for .yml and
/// .yaml): the report, and the rules that compiled, in file order. `license` is named on
/// rules that name none.
pub fn compile_paths(
    paths: &[PathBuf],
    license: Option<&str>,
) -> anyhow::Result<(CheckReport, Vec<yagura_sigma::Rule>)> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files)
                .with_context(|| format!("{}: cannot list the directory", path.display()))?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    if files.is_empty() {
        bail!(
            "no .yml or .yaml file under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let options = Options {
        license: license.map(str::to_owned),
    };
    let mut rules = Vec::new();
    let mut report = CheckReport {
        files: files.len(),
        ..CheckReport::default()
    };
    let mut ids: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                let refusal = Refusal::new("file", "the file cannot be read").at(e);
                report.refused.push(RefusedRule {
                    file,
                    title: None,
                    id: None,
                    refusal,
                });
                continue;
            }
        };
        let compiled = compile_yaml(&text, &options);
        for rule in compiled.rules {
            match ids.get(&rule.id) {
                Some(first) => report.refused.push(RefusedRule {
                    file: file.clone(),
                    title: Some(rule.title),
                    id: Some(rule.id),
                    refusal: Refusal::new("metadata", "an id another rule has")
                        .at(format_args!("`id`, first in {}", first.display())),
                }),
                None => {
                    ids.insert(rule.id.clone(), file.clone());
                    report.compiled += 1;
                    rules.push(rule);
                }
            }
        }
        for refused in compiled.refused {
            report.refused.push(RefusedRule {
                file: file.clone(),
                title: refused.title,
                id: refused.id,
                refusal: refused.refusal,
            });
        }
    }
    for refused in &report.refused {
        *report.reasons.entry(refused.refusal.reason()).or_default() += 1;
    }
    Ok((report, rules))
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    for path in entries {
        // not followed: a link to a directory above would never end
        let linked_dir = path.symlink_metadata()?.file_type().is_symlink() && path.is_dir();
        if path.is_dir() && !linked_dir {
            collect(&path, files)?;
        } else if !linked_dir && path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            files.push(path);
        }
    }
    Ok(())
}

/// The text report: each refused rule (unless `summary`), the counts, the reasons.
fn write_text(report: &CheckReport, summary: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if !summary {
        for r in &report.refused {
            // the refusal reads `kind: at: what`
            writeln!(
                out,
                "{}: refused {}: {}",
                r.file.display(),
                r.name(),
                r.refusal
            )?;
        }
    }
    writeln!(
        out,
        "{} compiled, {} refused, from {} file{}",
        report.compiled,
        report.refused.len(),
        report.files,
        if report.files == 1 { "" } else { "s" }
    )?;
    if !report.reasons.is_empty() {
        writeln!(out, "refused, by reason:")?;
        let mut reasons: Vec<_> = report.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, n) in reasons {
            writeln!(out, "{n:>7}  {reason}")?;
        }
    }
    Ok(())
}
