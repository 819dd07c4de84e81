//! Syslog listeners (UDP and TCP, RFC 5424 and 3164) feeding one tenant's engine through the
//! syslog adapter (`intake`, `Format::Syslog`).
//!
//! UDP: every datagram is one or more lines; the datagrams waiting in the socket are read
//! together as one batch. When the tenant's queue is full the batch is dropped and counted
//! (`yagura_events_throttled_total{source="syslog-udp"}`): UDP has no way to slow a sender.
//! TCP: newline-delimited lines (octet counting, RFC 6587 §3.4.1, is not read); a connection's
//! lines go in batches of up to 1,024, or whatever arrived within 100 ms. When the queue is full
//! the connection waits and retries, which slows the sender through TCP's own flow control.
//! A line longer than 1 MiB closes its connection.
//!
//! There is no authentication on these sockets: whoever reaches them writes into the tenant.
//! They are off unless `--syslog-udp` / `--syslog-tcp` name an address.
//! Every task ends at shutdown (the state's `shutdown` watch).

use std::io::{BufRead, Cursor};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::AppState;
use super::metrics;
use super::worker::QueueError;
use crate::event::Event;
use crate::intake::{self, Format, MAX_LINE_BYTES};

/// Lines per batch from one TCP connection.
const TCP_BATCH_LINES: usize = 1024;
/// How long a TCP connection's partial batch waits for more lines.
const TCP_BATCH_WAIT: Duration = Duration::from_millis(100);
/// Datagrams read into one UDP batch at most.
const UDP_BATCH_DATAGRAMS: usize = 1024;

/// Parses syslog text into events, counting what was rejected.
fn parse(state: &AppState, tenant: &str, source: &'static str, text: Vec<u8>) -> Vec<Event> {
    let reader: Box<dyn BufRead + Send> = Box::new(Cursor::new(text));
    let labels = || vec![("tenant", tenant.to_owned()), ("source", source.to_owned())];
    let records = match intake::from_reader(reader, source.to_owned(), Format::Syslog) {
        Ok((_, records)) => records,
        Err(e) => {
            tracing::debug!(tenant, source, error = %e, "syslog input unreadable");
            state.metrics.add(metrics::EVENTS_REJECTED, labels(), 1.0);
            return Vec::new();
        }
    };
    let mut events = Vec::new();
    let mut rejected = 0u64;
    for record in records {
        match record {
            Ok(event) => events.push(event),
            Err(e) => {
                rejected += 1;
                tracing::debug!(tenant, source, error = %e, "syslog line rejected");
            }
        }
    }
    if rejected > 0 {
        state
            .metrics
            .add(metrics::EVENTS_REJECTED, labels(), rejected as f64);
    }
    events
}

/// Starts the listeners that `udp` and `tcp` name, for `tenant`; returns the bound addresses.
pub async fn start(
    state: Arc<AppState>,
    tenant: String,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
) -> anyhow::Result<(Option<SocketAddr>, Option<SocketAddr>)> {
    if !state.store.tenant_exists(&tenant)? {
        anyhow::bail!("--syslog-tenant `{tenant}` does not exist");
    }
    let mut bound = (None, None);
    if let Some(addr) = udp {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for syslog on udp {addr}: {e}"))?;
        bound.0 = Some(socket.local_addr()?);
        tokio::spawn(run_udp(state.clone(), tenant.clone(), socket));
    }
    if let Some(addr) = tcp {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for syslog on tcp {addr}: {e}"))?;
        bound.1 = Some(listener.local_addr()?);
        tokio::spawn(run_tcp(state, tenant, listener));
    }
    Ok(bound)
}

async fn run_udp(state: Arc<AppState>, tenant: String, socket: UdpSocket) {
    let mut shutdown = state.shutdown.subscribe();
    let mut buf = vec![0u8; 65_536];
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        let mut text = Vec::new();
        match first {
            Ok((n, _)) => push_datagram(&mut text, &buf[..n]),
            Err(e) => {
                tracing::warn!(error = %e, "syslog udp receive failed");
                continue;
            }
        }
        // whatever else is already waiting joins this batch
        for _ in 1..UDP_BATCH_DATAGRAMS {
            match socket.try_recv_from(&mut buf) {
                Ok((n, _)) => push_datagram(&mut text, &buf[..n]),
                Err(_) => break,
            }
        }
        let events = parse(&state, &tenant, "syslog-udp", text);
        let n = events.len();
        let labels = || vec![("tenant", tenant.clone()), ("source", "syslog-udp".into())];
        let Ok(engine) = state.engine(&tenant) else {
            return;
        };
        match engine.push(events) {
            Ok(()) => state
                .metrics
                .add(metrics::EVENTS_ACCEPTED, labels(), n as f64),
            Err((QueueError::Full, _)) => {
                state
                    .metrics
                    .add(metrics::EVENTS_THROTTLED, labels(), n as f64)
            }
            Err((QueueError::Closed, _)) => return,
        }
    }
}

fn push_datagram(text: &mut Vec<u8>, datagram: &[u8]) {
    text.extend_from_slice(datagram);
    if !datagram.ends_with(b"\n") {
        text.push(b'\n');
    }
}

async fn run_tcp(state: Arc<AppState>, tenant: String, listener: TcpListener) {
    let mut shutdown = state.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(run_connection(state.clone(), tenant.clone(), stream, peer));
            }
            Err(e) => {
                tracing::warn!(error = %e, "syslog tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn run_connection(state: Arc<AppState>, tenant: String, stream: TcpStream, peer: SocketAddr) {
    let mut shutdown = state.shutdown.subscribe();
    let mut reader = BufReader::new(stream);
    let mut batch: Vec<u8> = Vec::new();
    let mut lines = 0usize;
    // a line being read; a read cut short by the batch timer leaves its bytes here
    let mut line = Vec::new();
    loop {
        let room = (MAX_LINE_BYTES + 1).saturating_sub(line.len()) as u64;
        let mut limited = (&mut reader).take(room);
        let read = tokio::select! {
            r = tokio::time::timeout(TCP_BATCH_WAIT, limited.read_until(b'\n', &mut line)) => r,
            _ = shutdown.changed() => Ok(Ok(0)),
        };
        let done = match read {
            Err(_) => false, // no full line within the wait: send what we have
            Ok(Ok(_)) if line.len() > MAX_LINE_BYTES => {
                tracing::warn!(%peer, "syslog tcp line longer than 1 MiB; closing the connection");
                true
            }
            Ok(Ok(0)) => {
                // the end: a last line without its newline still counts
                if !line.is_empty() {
                    batch.extend_from_slice(&line);
                    batch.push(b'\n');
                }
                true
            }
            Ok(Ok(_)) => {
                batch.extend_from_slice(&line);
                if !line.ends_with(b"\n") {
                    batch.push(b'\n');
                }
                line.clear();
                lines += 1;
                if lines < TCP_BATCH_LINES {
                    continue;
                }
                false
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "syslog tcp read failed");
                true
            }
        };
        if !batch.is_empty() && !deliver(&state, &tenant, std::mem::take(&mut batch)).await {
            return;
        }
        lines = 0;
        if done {
            return;
        }
    }
}

/// Parses and queues one TCP batch, waiting while the queue is full; false at shutdown.
async fn deliver(state: &AppState, tenant: &str, text: Vec<u8>) -> bool {
    let events = parse(state, tenant, "syslog-tcp", text);
    let n = events.len();
    let Ok(engine) = state.engine(tenant) else {
        return false;
    };
    let mut events = events;
    loop {
        match engine.push(events) {
            Ok(()) => {
                state.metrics.add(
                    metrics::EVENTS_ACCEPTED,
                    vec![
                        ("tenant", tenant.to_owned()),
                        ("source", "syslog-tcp".into()),
                    ],
                    n as f64,
                );
                return true;
            }
            Err((QueueError::Full, back)) => {
                if state.shutting_down() {
                    return false;
                }
                events = back;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err((QueueError::Closed, _)) => return false,
        }
    }
}
