//! `yagura serve`: the HTTP management API on a tokio runtime, until SIGINT or SIGTERM.
//! Its settings come from flags, `YAGURA_*` variables and a TOML file (`config`).

mod config;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::server::{App, ServerConfig};

const AFTER_HELP: &str = "\
The first start on a store creates the tenant `default` and an admin token, printed once on
stdout; only its sha256 is stored. Keep it: it creates the other tenants and tokens
(docs/api.md). SIGINT or SIGTERM stops taking requests, evaluates the events already
accepted, stores their alerts and flushes the store (docs/operations.md).

Examples:
  yagura serve
  yagura serve --listen 0.0.0.0:8080 --store /var/lib/yagura";

/// Arguments of `yagura serve`.
#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080]. Loopback by default: name
    /// another address to be reachable from other machines.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// The store folder (sled database in DIR/db, compiled rules in DIR/cache) [default:
    /// .yagura].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Largest body of POST /v1/events, MiB (also after gzip is undone) [default: 32].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_events_mib: Option<u32>,

    /// Largest pack bundle of POST /v1/packs, MiB [default: 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_bundle_mib: Option<u32>,

    /// Events a tenant's engine queue holds; past it, ingest answers 429 with Retry-After
    /// [default: 100000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub queue_events: Option<u32>,

    /// A quiet engine evaluates the events it buffers after this many ms without new ones
    /// [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(10..=600_000))]
    pub flush_ms: Option<u32>,

    /// Accept unsigned packs (development only).
    #[arg(long)]
    pub allow_unsigned: bool,

    /// A finding updates the alert of its rule and dedup key if that alert was last seen at
    /// most this many seconds (event time) before it; later, it opens a new alert [default:
    /// 3600].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub dedup_window_s: Option<u32>,

    /// Listen for syslog (RFC 5424 / 3164, one message per datagram or line) on this UDP
    /// address. Unauthenticated: everything received goes to --syslog-tenant. More
    /// listeners, one per tenant: `[[syslog]]` tables in the config file.
    #[arg(long, value_name = "ADDR:PORT")]
    pub syslog_udp: Option<SocketAddr>,

    /// Listen for syslog on this TCP address, octet-counted (RFC 6587) or newline-delimited
    /// (unauthenticated).
    #[arg(long, value_name = "ADDR:PORT")]
    pub syslog_tcp: Option<SocketAddr>,

    /// The tenant whose engine --syslog-udp and --syslog-tcp feed [default: default].
    #[arg(long, value_name = "TENANT")]
    pub syslog_tenant: Option<String>,

    /// Linear memory each rule instance may use, MiB; past it the call traps and counts as a
    /// fault [default: 64]. JavaScript rules under sustained load want 128
    /// (docs/writing-rules-js.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub memory_mib: Option<u32>,

    /// Budget of one call into a rule, in ms of the CPU time of the thread that runs it (time
    /// spent waiting for a core does not count); a call past it is interrupted and counts as
    /// a fault [default: 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub deadline_ms: Option<u32>,

    /// Quarantine a rule whose calls faulted N times within its last --quarantine-calls calls:
    /// it is not called again until re-enabled (POST /v1/rules/{id}/enable); 0 turns
    /// quarantine off [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub quarantine_faults: Option<u32>,

    /// The window of a rule's most recent calls over which its faults are counted [default:
    /// 20].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub quarantine_calls: Option<u32>,

    /// Save each tenant's rule state and engine position every N seconds of wall time, and
    /// at shutdown; 0: only at shutdown (a crash then replays the whole WAL) [default: 10;
    /// also `YAGURA_CHECKPOINT_S`].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub checkpoint_s: Option<u32>,

    /// A TOML file with any of these settings (keys: the flags' names with `_`, e.g.
    /// `max_events_mib = 32`), the alert sinks (`[[sink]]`) and the syslog listeners of
    /// several tenants (`[[syslog]]`; docs/operations.md). Precedence: flags, then
    /// `YAGURA_*` variables (`YAGURA_MAX_EVENTS_MIB`), then the file, then the defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ServeArgs {
    /// The server's config from these flags, the process's `YAGURA_*` variables and the
    /// config file (`--config`, else `YAGURA_CONFIG`), in that precedence.
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        self.config_with_env(&|name| std::env::var(name).ok())
    }

    /// [`ServeArgs::config`] with `env` for the environment.
    pub fn config_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ServerConfig> {
        let path = self
            .config
            .clone()
            .or_else(|| env("YAGURA_CONFIG").map(PathBuf::from));
        let (file, file_name) = match &path {
            Some(p) => (config::FileConfig::read(p)?, p.display().to_string()),
            None => (config::FileConfig::default(), "no config file".to_owned()),
        };
        let mut resolved = config::Layers {
            flags: self,
            env,
            file,
            file_name,
        }
        .resolve()?;
        let checkpoint_s = match (self.checkpoint_s, env("YAGURA_CHECKPOINT_S")) {
            (Some(s), _) => Some(s),
            (None, Some(text)) => Some(
                text.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s <= 86_400)
                    .with_context(|| {
                        format!(
                            "YAGURA_CHECKPOINT_S: `{text}` is not a number of seconds (0-86400)"
                        )
                    })?,
            ),
            (None, None) => None,
        };
        if let Some(s) = checkpoint_s {
            resolved.checkpoint_every = (s > 0).then(|| std::time::Duration::from_secs(s.into()));
        }
        Ok(resolved)
    }
}

/// Runs the server until SIGINT or SIGTERM; the first start's admin token goes to `out`.
pub fn run_serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("yagura-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = config.listen;
        let store = config.store.clone();
        let (app, token) = tokio::task::spawn_blocking(move || App::open(config))
            .await
            .context("opening the store")??;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr().unwrap_or(listen);
        let syslog = app.start_syslog().await?;
        if let Some(token) = token {
            println!("admin token (shown once, only its hash is stored): {token}");
        }
        eprintln!(
            "yagura serve: listening on http://{local}, store {}",
            store.display()
        );
        for listener in &syslog {
            for (proto, addr) in [("udp", listener.udp), ("tcp", listener.tcp)] {
                if let Some(addr) = addr {
                    eprintln!(
                        "yagura serve: syslog on {proto} {addr} for tenant {}",
                        listener.tenant
                    );
                }
            }
        }
        crate::server::serve(app, listener, shutdown_signal()).await
    })
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("yagura serve: shutting down (finishing requests, evaluating queued events)");
}
