//! The `yagura` command line: argument parsing (clap) and the commands, as library code so
//! that tests call exactly what the binary runs.

mod api;
mod follow;
mod pack;
mod replay;
mod rule;
mod serve;
mod shadow;
mod sigma;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use api::ServerArgs;
pub(crate) use pack::run_pack;
pub use pack::{ActorArgs, KeyCommand, PackCommand, StoreArgs, TrustArgs, run_key};
pub use replay::{ReplayArgs, ReplayReport, SourceReport, run_replay};
pub use rule::{RuleCommand, RuleTestArgs, TestReport, run_rule_test};
pub use serve::ServeArgs;
pub(crate) use serve::run_serve;
pub use shadow::ShadowCommand;
pub use sigma::{
    CheckReport, RefusedRule, SigmaCheckArgs, SigmaCommand, SigmaCompileArgs, check as sigma_check,
    compile_paths as sigma_compile_paths,
};

/// Yagura: detection rules as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "yagura", version, about, long_about = None)]
pub struct Cli {
    /// Log level of Yagura's own diagnostics on stderr (error, warn, info, debug, trace).
    /// RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run rules over log files and write findings as OCSF Detection Finding JSON lines.
    Replay(ReplayArgs),
    /// Work on single rules: scaffold a project (new), build it into a component (build), run
    /// its declarative cases through the real host (test).
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Build, sign, verify, inspect and test rule packs; store and activate them; move them
    /// through OCI registries (docs/packs.md, docs/distribution.md).
    #[command(subcommand)]
    Pack(PackCommand),
    /// Publisher keys for signing packs.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run the HTTP management API: tenants, tokens, packs, event ingest, alerts (docs/api.md).
    Serve(ServeArgs),
    /// Sigma rules: check what compiles into Yagura's Sigma form and what is refused, and why,
    /// and compile them into the Sigma engine's configuration
    /// (docs/sigma.md).
    #[command(subcommand)]
    Sigma(SigmaCommand),
}

/// Exit codes of `yagura`, as documented in `--help`.
pub mod exit {
    /// Completed; every input record was valid and no rule call failed.
    pub const OK: u8 = 0;
    /// Could not run: unreadable input, a rule that fails to load, a bad setting.
    pub(crate) const FAILED: u8 = 1;
    /// Usage error (clap).
    pub const USAGE: u8 = 2;
    /// Completed, but some input records were rejected or some rule calls faulted.
    pub(crate) const DEGRADED: u8 = 3;
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    match cli.command {
        Command::Replay(args) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let mut err = std::io::stderr();
            match run_replay(&args, &mut out, &mut err) {
                Ok(report) if report.is_clean() => ExitCode::from(exit::OK),
                Ok(_) => ExitCode::from(exit::DEGRADED),
                Err(e) => {
                    eprintln!("yagura replay: error: {e:#}");
                    ExitCode::from(exit::FAILED)
                }
            }
        }
        Command::Rule(command) => ExitCode::from(rule::run(&command)),
        Command::Pack(command) => {
            let stdout = std::io::stdout();
            match run_pack(&command, &mut stdout.lock()) {
                Ok(true) => ExitCode::from(exit::OK),
                Ok(false) => ExitCode::from(exit::FAILED),
                Err(e) => {
                    eprintln!("yagura pack: error: {e:#}");
                    ExitCode::from(exit::FAILED)
                }
            }
        }
        Command::Serve(args) => match run_serve(&args) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("yagura serve: error: {e:#}");
                ExitCode::from(exit::FAILED)
            }
        },
        Command::Sigma(command) => match sigma::run(&command, &mut std::io::stdout().lock()) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("yagura sigma: error: {e:#}");
                ExitCode::from(exit::FAILED)
            }
        },
        Command::Key(command) => match run_key(&command, &mut std::io::stdout()) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("yagura key: error: {e:#}");
                ExitCode::from(exit::FAILED)
            }
        },
    }
}

fn init_tracing(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    // colours only for a person at a terminal: a file, a pipe or journald gets plain text
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}
