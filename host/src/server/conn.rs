//! The API's connections: HTTP/1 served by hyper with a deadline on every request's headers
//! (which also closes a connection idle between requests: hyper reads the next request's
//! headers under the same deadline), a deadline on every body (`request::read_body`), and a
//! cap on open connections. A connection over the cap is closed at once and counted, so the
//! server never waits on descriptors it does not have: slow or idle clients cannot make it
//! unreachable, they only lose their own connections. At shutdown the listener stops, each
//! connection finishes the request it is in and closes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::{self, Metrics};

/// Descriptors kept for the store, the syslog sockets, sink files and the like when the cap
/// is fitted under the process's file limit.
const RESERVED_FDS: u64 = 64;

/// How long shutdown waits for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How the server treats connections; `yagura serve`'s `--header-timeout-s`,
/// `--body-timeout-s` and `--max-connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// a request's headers must arrive within this, and so must the next request's on a
    /// kept-alive connection (else the connection is closed)
    pub header_timeout: Duration,
    /// a request's whole body must arrive within this (else 408)
    pub body_timeout: Duration,
    /// open connections at most; more are closed at once (fitted under the file limit)
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// `wanted`, lowered to fit under the process's open-file limit (half of what is left after
/// [`RESERVED_FDS`]): past that, accepting would fail and nothing could be answered.
fn fitted(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, nothing else
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return wanted;
    }
    let room =
        usize::try_from(limit.rlim_cur.saturating_sub(RESERVED_FDS) / 2).unwrap_or(usize::MAX);
    let fitted = wanted.min(room.max(4));
    if fitted < wanted {
        tracing::warn!(
            wanted,
            fitted,
            open_file_limit = limit.rlim_cur,
            "the connection cap is lowered to fit the open-file limit (raise it with ulimit -n or LimitNOFILE)"
        );
    }
    fitted
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets each connection finish
/// its request (at most [`SHUTDOWN_GRACE`]); `stopping` runs in between (it ends the live
/// streams, so their connections can close).
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
    stopping: impl FnOnce(),
) {
    let cap = fitted(limits.max_connections);
    let permits = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    let labels = || vec![("listener", "http".to_owned())];
    metrics.set(metrics::HTTP_CONNECTIONS, labels(), 0.0);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // out of descriptors, or the peer gave up: wait a moment rather than spin;
                // connections closing (their timeouts) give descriptors back
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.add(metrics::HTTP_REFUSED, labels(), 1.0);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let open = cap - permits.available_permits();
        metrics.set(metrics::HTTP_CONNECTIONS, labels(), open as f64);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(router.clone()),
            );
        let connection = graceful.watch(connection);
        let (metrics, permits) = (metrics.clone(), permits.clone());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
            drop(permit);
            let open = cap - permits.available_permits();
            metrics.set(metrics::HTTP_CONNECTIONS, labels(), open as f64);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests");
    stopping();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after {SHUTDOWN_GRACE:?}; closing them");
    }
}
