//! `yagura replay`: events from files through rules, findings to stdout, a summary to stderr.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::engine::{Engine, EngineOptions};
use crate::event::EventClass;
use crate::intake::{self, Format};

/// `--format`'s values, with their help, from the formats themselves: clap stays in `cli`.
impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(
            clap::builder::PossibleValue::new(self.name())
                .help(self.help())
                .aliases(self.aliases().iter().copied()),
        )
    }
}
use crate::rule::Value;
use crate::sandbox::{Limits, RuleComponent, Sandbox};

const AFTER_HELP: &str = "\
Findings go to stdout (or --output) as JSON lines in OCSF Detection Finding form (class_uid 2004).
Input: Yagura's normalized JSON, OCSF JSON, Windows EVTX, Windows event JSON (evtx_dump or
the flat NXLog shape), ECS (Winlogbeat), Zeek conn.log (TSV or JSON) and firewall syslog
(netfilter or CEF). `--format auto` (the default) tells them apart by content, per file;
gzip is undone first.

A summary goes to stderr: per file its format and events per class; records rejected; per
rule: events in, findings, faults and time spent. Rejected records are reported with file,
line and reason, written to --dead-letter if given, and skipped (--strict stops instead).

Exit codes:
  0  completed; every record was a valid event and no rule call failed
  1  could not run (unreadable input, a rule that does not load, a bad --set)
  2  usage error
  3  completed, but some records were rejected, some rule calls faulted or some --sigma
     rules were refused

Examples:
  cargo xtask build-rules
  yagura replay --rules target/rules examples/events/sample.ndjson
  yagura replay --rules target/rules --set vertical-port-scan.threshold=10 flows.ndjson
  yagura replay --rules target/rules --dead-letter rejected.jsonl Security.evtx conn.log.gz
  yagura replay --sigma my-sigma-rules/ --sigma-license DRL-1.1 Sysmon.evtx";

/// Arguments of `yagura replay`.
#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReplayArgs {
    /// Input files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Rule components: a directory (every *.wasm in it) or a .wasm file. Repeatable.
    #[arg(
        long = "rules",
        value_name = "DIR|FILE",
        required_unless_present_any = ["packs", "sigma"]
    )]
    pub rules: Vec<PathBuf>,

    /// Sigma rules: a .yml/.yaml file or a directory searched for them. Repeatable; combines
    /// with --rules and --pack. They are compiled (as `yagura sigma check` does; each refused
    /// rule is listed on stderr and makes the exit code 3) and run together in the Sigma
    /// engine component, rule `sigma`. Each match is a finding whose analytic is the Sigma
    /// rule (its id and title), with its author, licence and references.
    #[arg(long = "sigma", value_name = "FILE|DIR")]
    pub sigma: Vec<PathBuf>,

    /// The licence to name on Sigma rules that name none (SigmaHQ's: DRL-1.1).
    #[arg(long, value_name = "SPDX", requires = "sigma")]
    pub sigma_license: Option<String>,

    /// The Sigma engine component. Default: target/rules/engines/sigma.wasm (`cargo xtask
    /// build-rules` builds it), else engines/sigma.wasm beside the yagura executable.
    #[arg(long, value_name = "FILE", env = "YAGURA_SIGMA_ENGINE")]
    pub sigma_engine: Option<PathBuf>,

    /// A rule pack: a bundle file (`.ypack`, its signature checked against the store's keys
    /// and --trust), or a stored pack NAME (the version active for the default tenant),
    /// NAME@VERSION or NAME@REQ (`yagura-core@^0.1`). Its enabled rules run with the pack's
    /// config; --set goes on top. Repeatable; combines with --rules.
    #[arg(long = "pack", value_name = "BUNDLE|NAME[@VERSION]")]
    pub packs: Vec<String>,

    /// The store that --pack NAME reads, and whose keys a --pack BUNDLE is checked against.
    #[arg(long, value_name = "DIR", default_value = ".yagura")]
    pub store: PathBuf,

    /// A trusted publisher key (NAME.pub) for --pack BUNDLE. Repeatable.
    #[arg(long, value_name = "PUB")]
    pub trust: Vec<PathBuf>,

    /// Accept an unsigned --pack bundle (development only).
    #[arg(long)]
    pub allow_unsigned: bool,

    /// Input format; `auto` detects it from each file's content (gzip is undone first).
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,

    /// Set a rule parameter: RULE.PARAM=VALUE (VALUE is JSON, or plain text). Repeatable.
    #[arg(long = "set", value_name = "RULE.PARAM=VALUE")]
    pub set: Vec<String>,

    /// Write every rejected record here, one JSON object per line: source, line, error and
    /// the raw input (cut to 4 KiB).
    #[arg(long, value_name = "FILE")]
    pub dead_letter: Option<PathBuf>,

    /// Stop at the first rejected record (exit code 1) instead of skipping it.
    #[arg(long)]
    pub strict: bool,

    /// Write findings here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Directory for compiled rules (reused across runs).
    #[arg(long, value_name = "DIR", default_value = ".yagura/cache")]
    pub cache: PathBuf,

    /// Compile every rule afresh and cache nothing.
    #[arg(long)]
    pub no_cache: bool,

    /// Events per call into a rule.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch_size: u32,

    /// How late (in event time, ms) an event may arrive and still be evaluated in time order.
    #[arg(long, default_value_t = 5_000)]
    pub lateness_ms: u32,

    /// Linear memory limit per rule instance, MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub memory_mib: u32,

    /// Deadline of one call into a rule, in ms of the CPU time of the thread that runs it
    /// (time spent waiting for a core does not count).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=600_000))]
    pub deadline_ms: u32,

    /// Print no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What one input file gave.
#[derive(Debug, Clone)]
pub struct SourceReport {
    pub name: String,
    /// the format read (detected, or as given)
    pub format: Format,
    pub events: u64,
    pub rejected: u64,
    /// events per class, in class order
    pub classes: BTreeMap<EventClass, u64>,
}

/// What a replay did, for the exit code and for tests.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    pub events: u64,
    pub rejected: u64,
    pub sources: Vec<SourceReport>,
    pub findings: u64,
    pub faults: u64,
    /// Sigma rules that --sigma named and that were refused
    pub sigma_refused: u64,
    pub elapsed: Duration,
}

impl ReplayReport {
    /// No rejected records, no faults and no refused Sigma rules.
    pub fn is_clean(&self) -> bool {
        self.rejected == 0 && self.faults == 0 && self.sigma_refused == 0
    }
}

/// Rejected records printed in full; past this, only counted.
const MAX_PRINTED_ERRORS: u64 = 20;

/// Runs a replay: findings to `out` (unless `--output`), diagnostics and summary to `err`.
pub fn run_replay(
    args: &ReplayArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ReplayReport> {
    let started = Instant::now();
    let limits = Limits {
        memory_bytes: (args.memory_mib as usize) << 20,
        call_deadline: Duration::from_millis(args.deadline_ms.into()),
        ..Limits::default()
    };
    let mut builder = Sandbox::builder().limits(limits);
    if !args.no_cache {
        builder = builder.cache_dir(&args.cache);
    }
    let sandbox = builder.build()?;

    let mut components = if args.rules.is_empty() {
        Vec::new()
    } else {
        load_rules(&sandbox, &args.rules)?
    };
    // the packs' own config for their rules, before --set
    let mut pack_config: Vec<(String, (String, Value))> = Vec::new();
    for spec in &args.packs {
        for crate::pack::PackRule { component, config } in load_pack(&sandbox, args, spec)? {
            refuse_duplicate(&components, &component)?;
            let id = component.info().id.clone();
            pack_config.extend(config.into_iter().map(|kv| (id.clone(), kv)));
            components.push(component);
        }
    }
    let mut overrides = pack_config;
    let mut sigma_refused = 0;
    if !args.sigma.is_empty() {
        let (engine, rules, refused) = load_sigma(&sandbox, args, err)?;
        refuse_duplicate(&components, &engine)?;
        sigma_refused = refused;
        overrides.push((
            engine.info().id.clone(),
            ("rules".into(), Value::Text(rules)),
        ));
        components.push(engine);
    }
    overrides.extend(parse_sets(&args.set, &components)?);
    let mut engine = Engine::new(EngineOptions {
        batch_size: args.batch_size as usize,
        lateness_ms: args.lateness_ms.into(),
        ..EngineOptions::default()
    });
    for component in &components {
        let mine: Vec<(String, Value)> = overrides
            .iter()
            .filter(|(rule, _)| rule == &component.info().id)
            .map(|(_, kv)| kv.clone())
            .collect();
        let instance = component
            .instantiate(&mine)
            .with_context(|| format!("loading {}", component.origin()))?;
        engine.add_rule(instance);
    }

    let mut file_out;
    let out: &mut dyn Write = match &args.output {
        Some(path) => {
            file_out = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            );
            &mut file_out
        }
        None => out,
    };

    let mut report = ReplayReport {
        sigma_refused,
        ..ReplayReport::default()
    };
    // The sink runs inside the engine; it records a write error for the loop to act on.
    let findings = Cell::new(0u64);
    let write_error: RefCell<Option<std::io::Error>> = RefCell::new(None);
    let mut sink = |info: &crate::rule::RuleInfo, finding: crate::finding::Finding| {
        if write_error.borrow().is_some() {
            return;
        }
        findings.set(findings.get() + 1);
        let line = finding.to_ocsf(&info.name);
        if let Err(e) = serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
        {
            *write_error.borrow_mut() = Some(e);
        }
    };

    let mut dead_letter = match &args.dead_letter {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| {
                format!("cannot create the dead-letter file {}", path.display())
            })?,
        )),
        None => None,
    };
    let progress = std::io::stderr().is_terminal() && !args.quiet;
    let mut last_progress = Instant::now();
    for path in &args.files {
        let (format, reader) = intake::open(path, args.format)
            .with_context(|| format!("cannot open {}", path.display()))?;
        report.sources.push(SourceReport {
            name: path.display().to_string(),
            format,
            events: 0,
            rejected: 0,
            classes: BTreeMap::new(),
        });
        for record in reader {
            let source = report.sources.last_mut().expect("pushed above");
            match record {
                Ok(event) => {
                    report.events += 1;
                    source.events += 1;
                    *source.classes.entry(event.class).or_default() += 1;
                    engine.push(event, &mut sink);
                }
                Err(e) => {
                    report.rejected += 1;
                    source.rejected += 1;
                    if let Some(dl) = &mut dead_letter {
                        let entry = serde_json::json!({
                            "source": e.source_name,
                            "line": e.line,
                            "error": e.message,
                            "raw": e.raw,
                        });
                        serde_json::to_writer(&mut *dl, &entry)
                            .map_err(std::io::Error::from)
                            .and_then(|()| dl.write_all(b"\n"))
                            .context("cannot write the dead-letter file")?;
                    }
                    if args.strict {
                        bail!("rejected {e} (--strict stops at the first rejected record)");
                    }
                    if report.rejected <= MAX_PRINTED_ERRORS {
                        writeln!(err, "yagura replay: rejected {e}")?;
                    }
                }
            }
            if progress
                && report.events.is_multiple_of(4096)
                && last_progress.elapsed() > Duration::from_millis(500)
            {
                last_progress = Instant::now();
                write!(err, "\r{} events read…", report.events)?;
            }
            if let Some(e) = write_error.borrow_mut().take() {
                bail!("cannot write findings: {e}");
            }
        }
    }
    engine.flush(&mut sink);
    if let Some(e) = write_error.into_inner() {
        bail!("cannot write findings: {e}");
    }
    out.flush().context("cannot write findings")?;
    if let Some(dl) = &mut dead_letter {
        dl.flush().context("cannot write the dead-letter file")?;
    }
    report.findings = findings.get();
    if progress {
        write!(err, "\r\x1b[K")?;
    }
    if report.rejected > MAX_PRINTED_ERRORS {
        writeln!(
            err,
            "yagura replay: … and {} more rejected records",
            report.rejected - MAX_PRINTED_ERRORS
        )?;
    }
    report.faults = engine.rule_stats().map(|(_, s)| s.faults).sum();
    report.elapsed = started.elapsed();
    if !args.quiet {
        write_summary(err, &engine, &report, args.files.len())?;
    }
    Ok(report)
}

/// The enabled rules of a `--pack` and their pack config.
fn load_pack(
    sandbox: &Sandbox,
    args: &ReplayArgs,
    spec: &str,
) -> anyhow::Result<Vec<crate::pack::PackRule>> {
    use crate::pack::{Bundle, PublicKey, Trust};
    let path = Path::new(spec);
    let (bundle, origin) = if path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read pack {spec}"))?;
        let bundle = Bundle::from_bytes(&bytes, spec)?;
        let mut keys = Vec::new();
        if args.store.join("db").exists() {
            keys = crate::store::Store::open(&args.store)?.trusted_keys()?;
        }
        for key in &args.trust {
            keys.push(PublicKey::load(key)?);
        }
        let trust = Trust {
            keys,
            allow_unsigned: args.allow_unsigned,
        };
        bundle.verify(&trust, spec)?;
        (bundle, spec.to_owned())
    } else {
        let store = crate::store::Store::open(&args.store).with_context(|| {
            format!("--pack {spec}: not a file, so a stored pack; opening the store")
        })?;
        let (name, version) = match spec.split_once('@') {
            Some((name, v)) => (name, store.resolve(name, v)?),
            None => (
                spec,
                store
                    .active(crate::store::DEFAULT_TENANT, spec)?
                    .with_context(|| {
                        format!(
                            "--pack {spec}: no version is active in {} (activate one, or name it: {spec}@VERSION)",
                            args.store.display()
                        )
                    })?,
            ),
        };
        (store.bundle(name, &version)?, format!("{name}@{version}"))
    };
    bundle.check_requirements(&origin)?;
    crate::pack::enabled_rules(&bundle, sandbox, &origin)
}

/// Loads every rule named by `--rules`, in a stable order; duplicate ids are an error.
pub(super) fn load_rules(
    sandbox: &Sandbox,
    paths: &[PathBuf],
) -> anyhow::Result<Vec<RuleComponent>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read rule directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            found.sort();
            if found.is_empty() {
                bail!(
                    "no *.wasm rule components in {} (build them with `cargo xtask build-rules`)",
                    path.display()
                );
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut components: Vec<RuleComponent> = Vec::new();
    for file in files {
        let component = load_one(sandbox, &file)?;
        refuse_duplicate(&components, &component)?;
        components.push(component);
    }
    Ok(components)
}

/// Where the Sigma engine is looked for when --sigma-engine is not given, in order.
fn sigma_engine_paths() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("target/rules/engines/sigma.wasm")];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        paths.push(dir.join("engines/sigma.wasm"));
    }
    paths
}

/// Compiles --sigma's rules and loads the Sigma engine: the component, its `rules` value
/// (JSON) and how many rules were refused (each printed to `err`).
fn load_sigma(
    sandbox: &Sandbox,
    args: &ReplayArgs,
    err: &mut dyn Write,
) -> anyhow::Result<(RuleComponent, String, u64)> {
    let (report, rules) = super::sigma::compile_paths(&args.sigma, args.sigma_license.as_deref())?;
    for r in &report.refused {
        writeln!(
            err,
            "yagura replay: {}: refused Sigma rule {}: {}",
            r.file.display(),
            r.name(),
            r.refusal
        )?;
    }
    if rules.is_empty() {
        bail!(
            "no Sigma rule compiled from {} ({} refused)",
            args.sigma
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            report.refused.len()
        );
    }
    let engine = match &args.sigma_engine {
        Some(path) => path.clone(),
        None => sigma_engine_paths()
            .into_iter()
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "the Sigma engine component is not at {}: build it with `cargo xtask \
                     build-rules`, or name it with --sigma-engine",
                    sigma_engine_paths()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            })?,
    };
    let component = load_one(sandbox, &engine)?;
    let json = serde_json::to_string(&rules).context("cannot write the compiled Sigma rules")?;
    Ok((component, json, report.refused.len() as u64))
}

/// Two components of one rule id in a run are an error naming both.
fn refuse_duplicate(loaded: &[RuleComponent], component: &RuleComponent) -> anyhow::Result<()> {
    if let Some(other) = loaded.iter().find(|c| c.info().id == component.info().id) {
        bail!(
            "{} and {} both define rule `{}`",
            other.origin(),
            component.origin(),
            component.info().id
        );
    }
    Ok(())
}

fn load_one(sandbox: &Sandbox, file: &Path) -> anyhow::Result<RuleComponent> {
    let bytes =
        std::fs::read(file).with_context(|| format!("cannot read rule {}", file.display()))?;
    Ok(sandbox.load(&bytes, &file.display().to_string())?)
}

/// Parses `RULE.PARAM=VALUE` settings against the loaded rules' parameters.
fn parse_sets(
    sets: &[String],
    components: &[RuleComponent],
) -> anyhow::Result<Vec<(String, (String, Value))>> {
    sets.iter()
        .map(|set| {
            let (rule, assignment) = set
                .split_once('.')
                .with_context(|| format!("--set `{set}`: expected RULE.PARAM=VALUE"))?;
            let component = components
                .iter()
                .find(|c| c.info().id == rule)
                .with_context(|| {
                    let ids: Vec<&str> = components.iter().map(|c| c.info().id.as_str()).collect();
                    format!(
                        "--set `{set}`: no rule `{rule}` is loaded (rules: {})",
                        ids.join(", ")
                    )
                })?;
            let kv = component
                .info()
                .parse_override(assignment)
                .map_err(|e| anyhow::anyhow!("--set `{set}`: {e}"))?;
            Ok((rule.to_owned(), kv))
        })
        .collect()
}

fn write_summary(
    err: &mut dyn Write,
    engine: &Engine,
    report: &ReplayReport,
    files: usize,
) -> std::io::Result<()> {
    let secs = report.elapsed.as_secs_f64();
    let stats = engine.stats();
    writeln!(
        err,
        "yagura replay: {} events from {} file{} in {:.2} s ({:.0} events/s); {} rejected, {} late; {} finding{}",
        report.events,
        files,
        if files == 1 { "" } else { "s" },
        secs,
        report.events as f64 / secs.max(1e-9),
        report.rejected,
        stats.late_events,
        report.findings,
        if report.findings == 1 { "" } else { "s" },
    )?;
    for source in &report.sources {
        let classes: Vec<String> = source
            .classes
            .iter()
            .map(|(class, n)| format!("{class} {n}"))
            .collect();
        writeln!(
            err,
            "  {} ({}): {} events{}{}",
            source.name,
            source.format.as_str(),
            source.events,
            if classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", classes.join(", "))
            },
            if source.rejected > 0 {
                format!(", {} rejected", source.rejected)
            } else {
                String::new()
            }
        )?;
    }
    writeln!(
        err,
        "{:<28} {:>10} {:>9} {:>7} {:>10}",
        "rule", "events in", "findings", "faults", "time"
    )?;
    for (info, s) in engine.rule_stats() {
        writeln!(
            err,
            "{:<28} {:>10} {:>9} {:>7} {:>8.1}ms",
            info.id,
            s.events_in,
            s.findings,
            s.faults,
            s.busy.as_secs_f64() * 1e3
        )?;
        if let Some(fault) = &s.last_fault {
            writeln!(err, "  last fault: {fault}")?;
        }
        if s.findings_dropped > 0 {
            writeln!(
                err,
                "  {} findings dropped by the per-call cap",
                s.findings_dropped
            )?;
        }
    }
    if report.sigma_refused > 0 {
        writeln!(
            err,
            "{} Sigma rule{} refused (listed above)",
            report.sigma_refused,
            if report.sigma_refused == 1 {
                " was"
            } else {
                "s were"
            }
        )?;
    }
    Ok(())
}
