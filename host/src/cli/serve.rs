//! `yagura serve`: the HTTP management API on a tokio runtime, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Address and port to listen on. Loopback by default: name another address to be
    /// reachable from other machines.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The store folder (sled database in DIR/db, compiled rules in DIR/cache).
    #[arg(long, value_name = "DIR", default_value = ".yagura")]
    pub store: PathBuf,

    /// Largest body of POST /v1/events, MiB (also after gzip is undone).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_events_mib: u32,

    /// Largest pack bundle of POST /v1/packs, MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_bundle_mib: u32,

    /// Events a tenant's engine queue holds; past it, ingest answers 429 with Retry-After.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue_events: u32,

    /// A quiet engine evaluates the events it buffers after this many ms without new ones.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(10..=600_000))]
    pub flush_ms: u32,

    /// Accept unsigned packs (development only).
    #[arg(long)]
    pub allow_unsigned: bool,

    /// A finding updates the alert of its rule and dedup key if that alert was last seen at
    /// most this many seconds (event time) before it; later, it opens a new alert.
    #[arg(long, default_value_t = 3_600, value_parser = clap::value_parser!(u32).range(1..))]
    pub dedup_window_s: u32,

    /// Listen for syslog (RFC 5424 / 3164, one message per datagram or line) on this UDP
    /// address. Unauthenticated: everything received goes to --syslog-tenant.
    #[arg(long, value_name = "ADDR:PORT")]
    pub syslog_udp: Option<SocketAddr>,

    /// Listen for newline-delimited syslog on this TCP address (unauthenticated).
    #[arg(long, value_name = "ADDR:PORT")]
    pub syslog_tcp: Option<SocketAddr>,

    /// The tenant whose engine the syslog listeners feed.
    #[arg(long, value_name = "TENANT", default_value = crate::store::DEFAULT_TENANT)]
    pub syslog_tenant: String,
}

impl ServeArgs {
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            store: self.store.clone(),
            max_events_bytes: (self.max_events_mib as usize) << 20,
            max_bundle_bytes: (self.max_bundle_mib as usize) << 20,
            queue_events: self.queue_events as usize,
            flush_after: Duration::from_millis(self.flush_ms.into()),
            allow_unsigned: self.allow_unsigned,
            dedup_window: Duration::from_secs(self.dedup_window_s.into()),
            syslog_udp: self.syslog_udp,
            syslog_tcp: self.syslog_tcp,
            syslog_tenant: self.syslog_tenant.clone(),
            ..ServerConfig::default()
        }
    }
}

/// Runs the server until SIGINT or SIGTERM; the first start's admin token goes to `out`.
pub fn run_serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = args.config();
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
        let (udp, tcp) = app.start_syslog().await?;
        if let Some(token) = token {
            println!("admin token (shown once, only its hash is stored): {token}");
        }
        eprintln!(
            "yagura serve: listening on http://{local}, store {}",
            store.display()
        );
        for (proto, addr) in [("udp", udp), ("tcp", tcp)] {
            if let Some(addr) = addr {
                eprintln!("yagura serve: syslog on {proto} {addr}");
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
