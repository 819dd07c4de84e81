//! `yagura serve`: the HTTP management API on a tokio runtime, until SIGINT or SIGTERM.
//! Its settings come from flags, `YAGURA_*` variables and a TOML file (`config`).

mod config;

use anyhow::Context;

pub use config::ServeArgs;

use crate::server::App;

const AFTER_HELP: &str = "\
The first start on a store creates the tenant `default` and an admin token, printed once on
stdout; only its sha256 is stored. Keep it: it creates the other tenants and tokens
(docs/api.md). SIGINT or SIGTERM stops taking requests, evaluates the events already
accepted, stores their alerts and flushes the store (docs/operations.md).

Examples:
  yagura serve
  yagura serve --listen 0.0.0.0:8080 --store /var/lib/yagura";

/// Runs the server until SIGINT or SIGTERM; the first start's admin token goes to `out`.
pub(crate) fn run_serve(args: &ServeArgs) -> anyhow::Result<()> {
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
