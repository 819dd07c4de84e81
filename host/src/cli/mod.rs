//! The `yagura` command line: argument parsing (clap) and the commands, as library code so
//! that tests call exactly what the binary runs.

mod replay;
mod rule;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use replay::{ReplayArgs, ReplayReport, SourceReport, run_replay};
pub use rule::{RuleCommand, RuleTestArgs, TestReport, run_rule_test};

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
    /// Work on single rules: run their declarative cases.
    #[command(subcommand)]
    Rule(RuleCommand),
}

/// Exit codes of `yagura`, as documented in `--help`.
pub mod exit {
    /// Completed; every input record was valid and no rule call failed.
    pub const OK: u8 = 0;
    /// Could not run: unreadable input, a rule that fails to load, a bad setting.
    pub const FAILED: u8 = 1;
    /// Usage error (clap).
    pub const USAGE: u8 = 2;
    /// Completed, but some input records were rejected or some rule calls faulted.
    pub const DEGRADED: u8 = 3;
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
    }
}

fn init_tracing(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
