//! Syslog listeners (UDP and TCP, RFC 5424 and 3164), each feeding one tenant's engine
//! through the syslog adapter (`intake`, `Format::Syslog`). The config names any number of
//! them ([`SyslogListener`]): a tenant's events come only from its own listeners' sockets.
//!
//! UDP: every datagram is one or more lines; the datagrams waiting in the socket are read
//! together as one batch. When the tenant's queue is full the batch is dropped and counted
//! (`yagura_events_throttled_total{source="syslog-udp"}`): UDP has no way to slow a sender.
//! Datagrams the kernel dropped before the listener read them (its receive buffer was full)
//! are the socket's own counter, read at each scrape ([`UdpWatch`],
//! `yagura_syslog_udp_dropped_total`).
//! TCP: octet-counted (RFC 6587 §3.4.1) or newline-delimited frames, told apart frame by frame
//! (`framing`); a frame over 1 MiB, or one that cannot be read, is counted as rejected and
//! skipped, and the connection goes on. A connection's messages go in batches of up to 1,024
//! messages or 4 MiB, or whatever arrived within 100 ms of the batch's first message. When
//! the queue is full the connection waits and retries, which slows the sender through TCP's
//! own flow control.
//!
//! There is no authentication on these sockets: whoever reaches them writes into the tenant.
//! They are off unless the config names an address (`--syslog-udp` / `--syslog-tcp`,
//! `[[syslog]]` tables). Each listener's tasks hold only their tenant's [`Inlet`] and the
//! shutdown watch; every task ends at shutdown.

mod framing;

use std::io::{BufRead, Cursor};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

use tokio::sync::watch;

use crate::event::Event;
use crate::intake::{self, Format, MAX_LINE_BYTES};
use crate::runtime::{Inlet, QueueError, Runtime};

use framing::{Frame, Framer};

/// Messages per batch from one TCP connection.
const TCP_BATCH_MESSAGES: usize = 1024;
/// Bytes of messages per batch from one TCP connection (then it goes, whatever its count).
const TCP_BATCH_BYTES: usize = 4 << 20;
/// How long a TCP connection's batch waits for more messages after its first.
const TCP_BATCH_WAIT: Duration = Duration::from_millis(100);
/// The largest message over TCP (a frame's length, or a line without its end).
const MAX_TCP_MESSAGE: usize = MAX_LINE_BYTES;

/// One syslog listener: the tenant it feeds and where it listens (UDP, TCP or both; port 0
/// takes any free port). [`start`] answers with the addresses bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogListener {
    pub tenant: String,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
}
/// A UDP listener's socket, for its kernel drop counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UdpWatch {
    pub tenant: String,
    /// the socket's inode, which names it in `/proc/net/udp`
    inode: u64,
}

impl UdpWatch {
    /// Datagrams the kernel dropped on this socket so far (`None` where the system does not
    /// say: not Linux, or the socket is gone).
    pub(crate) fn dropped(&self) -> Option<u64> {
        kernel_drops(self.inode)
    }
}

/// The inode of a socket (Linux names sockets by it in `/proc/net/*`).
fn socket_inode(socket: &impl std::os::fd::AsRawFd) -> Option<u64> {
    // SAFETY: fstat writes into the zeroed struct it is given, for a descriptor we own
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::fstat(socket.as_raw_fd(), &mut stat) } == 0;
    ok.then_some(stat.st_ino)
}

/// The `drops` column of the socket with `inode` in `/proc/net/udp` or `/proc/net/udp6`.
fn kernel_drops(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|table| drops_in(&table, inode))
}

/// `drops` of the row of `inode` in a `/proc/net/udp` table (its header names the columns).
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    // "tm->when" is one header word but two columns ("00:00000000" is one): find by name
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (inode_at, drops_at) = (column("inode")?, column("drops")?);
    // the header's `tx_queue rx_queue` is one column in the rows (`00000000:00000000`), and
    // `tr tm->when` is one (`00:00000000`): each row has two fields fewer than the header
    lines.find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let at = |i: usize| fields.get(i.checked_sub(2)?).copied();
        (at(inode_at)?.parse::<u64>().ok()? == inode).then(|| at(drops_at)?.parse().ok())?
    })
}

/// Datagrams read into one UDP batch at most.
const UDP_BATCH_DATAGRAMS: usize = 1024;

/// Parses syslog text into events, counting what was rejected.
fn parse(inlet: &Inlet, source: &'static str, text: Vec<u8>) -> Vec<Event> {
    let tenant = inlet.tenant();
    let reader: Box<dyn BufRead + Send> = Box::new(Cursor::new(text));
    let records = match intake::from_reader(reader, source.to_owned(), Format::Syslog) {
        Ok((_, records)) => records,
        Err(e) => {
            tracing::debug!(tenant, source, error = %e, "syslog input unreadable");
            inlet.rejected(1);
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
        inlet.rejected(rejected);
    }
    events
}

/// Binds every listener of `listeners` and starts its tasks; returns them with the addresses
/// bound, in the same order. Nothing is started unless every tenant exists and every socket
/// could be bound. The tasks end when `shutdown` turns true.
pub async fn start(
    runtime: &Runtime,
    listeners: &[SyslogListener],
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Vec<SyslogListener>, Vec<UdpWatch>)> {
    let mut sockets = Vec::new();
    for (i, listener) in listeners.iter().enumerate() {
        let at = format!("syslog listener #{} (tenant `{}`)", i + 1, listener.tenant);
        if listener.udp.is_none() && listener.tcp.is_none() {
            bail!("{at}: names neither a udp nor a tcp address");
        }
        if !runtime.store().tenant_exists(&listener.tenant)? {
            bail!("{at}: the tenant does not exist (create it first: POST /v1/tenants)");
        }
        let udp = match listener.udp {
            Some(addr) => Some(UdpSocket::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("{at}: cannot listen for syslog on udp {addr}: {e}")
            })?),
            None => None,
        };
        let tcp = match listener.tcp {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("{at}: cannot listen for syslog on tcp {addr}: {e}")
            })?),
            None => None,
        };
        sockets.push((listener.tenant.clone(), udp, tcp));
    }
    let mut bound = Vec::new();
    let mut watches = Vec::new();
    for (tenant, udp, tcp) in sockets {
        let mut listener = SyslogListener {
            tenant: tenant.clone(),
            udp: None,
            tcp: None,
        };
        if let Some(socket) = udp {
            listener.udp = Some(socket.local_addr()?);
            if let Some(inode) = socket_inode(&socket) {
                watches.push(UdpWatch {
                    tenant: tenant.clone(),
                    inode,
                });
            }
            let inlet = runtime.inlet(&tenant, "syslog-udp")?;
            tokio::spawn(run_udp(inlet, socket, shutdown.clone()));
        }
        if let Some(socket) = tcp {
            listener.tcp = Some(socket.local_addr()?);
            let inlet = runtime.inlet(&tenant, "syslog-tcp")?;
            tokio::spawn(run_tcp(inlet, socket, shutdown.clone()));
        }
        bound.push(listener);
    }
    Ok((bound, watches))
}

async fn run_udp(inlet: Inlet, socket: UdpSocket, mut shutdown: watch::Receiver<bool>) {
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
        let events = parse(&inlet, "syslog-udp", text);
        match inlet.push(events) {
            Ok(()) => {}
            // UDP cannot slow its sender: the batch is dropped, and counted
            Err((QueueError::Full, events)) => inlet.throttled(events.len() as u64),
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

async fn run_tcp(inlet: Inlet, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(run_connection(
                    inlet.clone(),
                    stream,
                    peer,
                    shutdown.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "syslog tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn run_connection(
    inlet: Inlet,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let tenant = inlet.tenant().to_owned();
    let mut reader = BufReader::new(stream);
    // keeps a frame cut by a batch deadline or a short read: no byte is lost between reads
    let mut framer = Framer::new(MAX_TCP_MESSAGE);
    let mut frames = Vec::new();
    let mut batch: Vec<u8> = Vec::new();
    let mut messages = 0usize;
    // when the batch's first message arrived
    let mut since: Option<Instant> = None;
    loop {
        let deadline = since.map(|t| t + TCP_BATCH_WAIT);
        let read = async {
            match deadline {
                Some(at) => {
                    tokio::time::timeout_at(at, read_frames(&mut reader, &mut framer, &mut frames))
                        .await
                }
                None => Ok(read_frames(&mut reader, &mut framer, &mut frames).await),
            }
        };
        let read = tokio::select! {
            r = read => r,
            // as if the peer had closed: what is complete goes
            _ = shutdown.changed() => Ok(Ok(true)),
        };
        let (ended, waited) = match read {
            Err(_) => (false, true),
            Ok(Ok(ended)) => (ended, false),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "syslog tcp read failed");
                (true, false)
            }
        };
        if ended {
            frames.extend(framer.finish());
        }
        let mut rejected = 0u64;
        for frame in frames.drain(..) {
            match frame {
                Frame::Message(message) => {
                    batch.extend_from_slice(&message);
                    batch.push(b'\n');
                    messages += 1;
                    since.get_or_insert_with(Instant::now);
                }
                Frame::Rejected(why) => {
                    tracing::debug!(%tenant, %peer, reason = %why, "syslog tcp frame rejected");
                    rejected += 1;
                }
            }
        }
        if rejected > 0 {
            inlet.rejected(rejected);
        }
        let full = messages >= TCP_BATCH_MESSAGES || batch.len() >= TCP_BATCH_BYTES;
        if (ended || waited || full) && !batch.is_empty() {
            if !deliver(&inlet, std::mem::take(&mut batch), &shutdown).await {
                return;
            }
            messages = 0;
            since = None;
        }
        if ended {
            return;
        }
    }
}

/// Reads what the connection has (waiting for some) into `framer`, the frames it completes
/// into `frames`; whether the stream ended. Cancel-safe: it waits only in `fill_buf`, which
/// keeps what it read, and takes bytes from the reader only once the framer has them.
async fn read_frames(
    reader: &mut BufReader<TcpStream>,
    framer: &mut Framer,
    frames: &mut Vec<Frame>,
) -> std::io::Result<bool> {
    let input = reader.fill_buf().await?;
    if input.is_empty() {
        return Ok(true);
    }
    let mut used = 0;
    while used < input.len() {
        // `step` takes at least one byte of a non-empty input
        let (n, frame) = framer.step(&input[used..]);
        used += n.max(1);
        frames.extend(frame);
    }
    let used = used.min(input.len());
    reader.consume(used);
    Ok(false)
}

/// Parses and queues one TCP batch, waiting while the queue is full; false at shutdown.
async fn deliver(inlet: &Inlet, text: Vec<u8>, shutdown: &watch::Receiver<bool>) -> bool {
    let mut events = parse(inlet, "syslog-tcp", text);
    loop {
        match inlet.push(events) {
            Ok(()) => return true,
            Err((QueueError::Full, back)) => {
                if *shutdown.borrow() {
                    return false;
                }
                events = back;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err((QueueError::Closed, _)) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drops_column_is_read_from_the_row_of_the_inode() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
             \x20 76: 0100007F:14BA 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 5551 2 0000000000000000 6161\n\
             \x20 77: 0100007F:14BB 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5552 2 0000000000000000 0\n";
        assert_eq!(drops_in(table, 5551), Some(6161));
        assert_eq!(drops_in(table, 5552), Some(0));
        assert_eq!(drops_in(table, 9999), None);
        assert_eq!(drops_in("", 5551), None);
    }

    /// A socket nobody reads, sent far more than its receive buffer holds: the kernel drops
    /// the rest, and the watch reads how many.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_drops_of_a_real_socket_are_read() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let watch = UdpWatch {
            tenant: "t".into(),
            inode: socket_inode(&socket).expect("an inode"),
        };
        assert_eq!(watch.dropped(), Some(0));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let datagram = [b'x'; 1024];
        // 64 MiB: more than any receive buffer (net.core.rmem_max is a few MiB at most)
        for _ in 0..65_536 {
            let _ = sender.send_to(&datagram, socket.local_addr().expect("addr"));
        }
        assert!(
            watch.dropped().is_some_and(|n| n > 0),
            "{:?}",
            watch.dropped()
        );
    }
}
