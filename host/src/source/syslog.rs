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
//! A message without a time of its own (RFC 5424's `-`) gets the time the listener received
//! it, marked `syslog.time = received`, unless the listener's `missing_time` is `reject`
//! ([`MissingTime`]). Every message a listener rejects is counted
//! (`yagura_events_rejected_total`); the first of every 10 s is logged at warn with the count
//! since the last, and the last [`SAMPLES`] are kept with the sender, the error and the message
//! for `GET /v1/syslog` ([`Rejections`]).
//!
//! There is no authentication on these sockets: whoever reaches them writes into the tenant.
//! They are off unless the config names an address (`--syslog-udp` / `--syslog-tcp`,
//! `[[syslog]]` tables). Each listener's tasks hold only their tenant's [`Inlet`] and the
//! shutdown watch; every task ends at shutdown.

mod framing;

use std::collections::VecDeque;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

use tokio::sync::watch;

use crate::event::{Event, format_rfc3339_ms};
use crate::intake::{self, MAX_LINE_BYTES};
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
    pub missing_time: MissingTime,
}

/// What a listener does with a message that carries no time (RFC 5424 TIMESTAMP `-`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingTime {
    /// give it the time the listener received it (RFC 5424 §6.2.3.1 lets a receiver do so)
    #[default]
    Receipt,
    /// reject it, counted and sampled as any bad message
    Reject,
}

impl MissingTime {
    pub fn as_str(self) -> &'static str {
        match self {
            MissingTime::Receipt => "receipt",
            MissingTime::Reject => "reject",
        }
    }
}

impl std::str::FromStr for MissingTime {
    type Err = String;
    fn from_str(s: &str) -> Result<MissingTime, String> {
        match s {
            "receipt" => Ok(MissingTime::Receipt),
            "reject" => Ok(MissingTime::Reject),
            other => Err(format!("`{other}`: use `receipt` or `reject`")),
        }
    }
}

/// How many rejected messages a listener keeps for the API.
pub const SAMPLES: usize = 16;
/// The least time between two warn lines of one listener about rejected messages.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// The bytes of a rejected message a sample keeps.
const SAMPLE_BYTES: usize = 512;

/// A rejected message, as `GET /v1/syslog` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectSample {
    /// when it was rejected, RFC 3339
    pub time: String,
    /// `udp` or `tcp`
    pub transport: &'static str,
    /// the sender's address
    pub peer: String,
    /// why, naming the part of the message
    pub error: String,
    /// the message, cut to 512 bytes
    pub message: String,
}

/// What one listener rejected (module docs): a count, a rate-limited warn line, the last few.
#[derive(Debug, Default)]
pub struct Rejections {
    state: Mutex<RejectState>,
}

#[derive(Debug, Default)]
struct RejectState {
    total: u64,
    /// rejected since the last warn line
    unlogged: u64,
    logged_at: Option<std::time::Instant>,
    samples: VecDeque<RejectSample>,
}

impl Rejections {
    fn record(
        &self,
        tenant: &str,
        transport: &'static str,
        peer: &str,
        error: &str,
        message: &str,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.total += 1;
        state.unlogged += 1;
        let message = &message[..message.floor_char_boundary(SAMPLE_BYTES)];
        let due = state.logged_at.is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            tracing::warn!(
                tenant,
                transport,
                peer,
                error,
                message,
                rejected = state.unlogged,
                "syslog message rejected (rejected: how many since the last such line; the last {SAMPLES}: GET /v1/syslog)"
            );
            state.unlogged = 0;
            state.logged_at = Some(std::time::Instant::now());
        } else {
            tracing::debug!(tenant, transport, peer, error, "syslog message rejected");
        }
        if state.samples.len() == SAMPLES {
            state.samples.pop_front();
        }
        state.samples.push_back(RejectSample {
            time: format_rfc3339_ms(jiff::Timestamp::now().as_millisecond()),
            transport,
            peer: peer.to_owned(),
            error: error.to_owned(),
            message: message.to_owned(),
        });
    }

    /// How many messages the listener rejected since it started, and the last ones, oldest
    /// first.
    pub fn snapshot(&self) -> (u64, Vec<RejectSample>) {
        match self.state.lock() {
            Ok(state) => (state.total, state.samples.iter().cloned().collect()),
            Err(_) => (0, Vec::new()),
        }
    }
}

/// A listener as it runs: its addresses bound, and what it rejected.
#[derive(Debug, Clone)]
pub struct ListenerState {
    pub listener: SyslogListener,
    pub rejections: Arc<Rejections>,
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

/// What the tasks of one listener share.
#[derive(Clone)]
struct Intake {
    inlet: Inlet,
    missing_time: MissingTime,
    rejections: Arc<Rejections>,
}

impl Intake {
    /// Parses syslog text (messages, one per line) received now into events, counting and
    /// sampling what was rejected; `peer_of` names the sender of a line (1-based).
    fn parse(
        &self,
        transport: &'static str,
        text: &[u8],
        peer_of: impl Fn(u64) -> String,
    ) -> Vec<Event> {
        let received = match self.missing_time {
            MissingTime::Receipt => Some(jiff::Timestamp::now().as_millisecond()),
            MissingTime::Reject => None,
        };
        let source = match transport {
            "udp" => "syslog-udp",
            _ => "syslog-tcp",
        };
        let mut events = Vec::new();
        let mut rejected = 0u64;
        for record in intake::syslog_records(Cursor::new(text), source, received) {
            match record {
                Ok(event) => events.push(event),
                Err(e) => {
                    rejected += 1;
                    self.rejections.record(
                        self.inlet.tenant(),
                        transport,
                        &peer_of(e.line),
                        &e.message,
                        e.raw.as_deref().unwrap_or(""),
                    );
                }
            }
        }
        if rejected > 0 {
            self.inlet.rejected(rejected);
        }
        events
    }

    /// A message refused before it could be parsed (a TCP frame too long or unreadable).
    fn refuse(&self, transport: &'static str, peer: &str, error: &str) {
        self.rejections
            .record(self.inlet.tenant(), transport, peer, error, "");
        self.inlet.rejected(1);
    }
}

/// Binds every listener of `listeners` and starts its tasks; returns them with the addresses
/// bound, in the same order. Nothing is started unless every tenant exists and every socket
/// could be bound. The tasks end when `shutdown` turns true.
pub async fn start(
    runtime: &Runtime,
    listeners: &[SyslogListener],
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Vec<ListenerState>, Vec<UdpWatch>)> {
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
        sockets.push((listener.tenant.clone(), listener.missing_time, udp, tcp));
    }
    let mut bound = Vec::new();
    let mut watches = Vec::new();
    for (tenant, missing_time, udp, tcp) in sockets {
        let mut listener = SyslogListener {
            tenant: tenant.clone(),
            udp: None,
            tcp: None,
            missing_time,
        };
        let rejections = Arc::new(Rejections::default());
        let intake = |inlet| Intake {
            inlet,
            missing_time,
            rejections: rejections.clone(),
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
            tokio::spawn(run_udp(intake(inlet), socket, shutdown.clone()));
        }
        if let Some(socket) = tcp {
            listener.tcp = Some(socket.local_addr()?);
            let inlet = runtime.inlet(&tenant, "syslog-tcp")?;
            tokio::spawn(run_tcp(intake(inlet), socket, shutdown.clone()));
        }
        bound.push(ListenerState {
            listener,
            rejections,
        });
    }
    Ok((bound, watches))
}

async fn run_udp(intake: Intake, socket: UdpSocket, mut shutdown: watch::Receiver<bool>) {
    let inlet = &intake.inlet;
    let mut buf = vec![0u8; 65_536];
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        let mut batch = Datagrams::default();
        match first {
            Ok((n, peer)) => batch.push(&buf[..n], peer),
            Err(e) => {
                tracing::warn!(error = %e, "syslog udp receive failed");
                continue;
            }
        }
        // whatever else is already waiting joins this batch
        for _ in 1..UDP_BATCH_DATAGRAMS {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => batch.push(&buf[..n], peer),
                Err(_) => break,
            }
        }
        let events = intake.parse("udp", &batch.text, |line| batch.peer_of(line));
        match inlet.push(events) {
            Ok(()) => {}
            // UDP cannot slow its sender: the batch is dropped, and counted
            Err((QueueError::Full, events)) => inlet.throttled(events.len() as u64),
            Err((QueueError::Closed, _)) => return,
        }
    }
}

/// One UDP batch: the datagrams' lines, and who sent which.
#[derive(Default)]
struct Datagrams {
    text: Vec<u8>,
    /// the first line (1-based) of each datagram in `text`, and its sender
    senders: Vec<(u64, SocketAddr)>,
    lines: u64,
}

impl Datagrams {
    fn push(&mut self, datagram: &[u8], peer: SocketAddr) {
        self.senders.push((self.lines + 1, peer));
        self.text.extend_from_slice(datagram);
        if !datagram.ends_with(b"\n") {
            self.text.push(b'\n');
        }
        self.lines += datagram.iter().filter(|b| **b == b'\n').count() as u64
            + u64::from(!datagram.ends_with(b"\n"));
    }

    /// The sender of line `line` (1-based).
    fn peer_of(&self, line: u64) -> String {
        let at = self.senders.partition_point(|(first, _)| *first <= line);
        at.checked_sub(1)
            .and_then(|i| self.senders.get(i))
            .map_or_else(String::new, |(_, peer)| peer.to_string())
    }
}

async fn run_tcp(intake: Intake, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(run_connection(
                    intake.clone(),
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
    intake: Intake,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer_name = peer.to_string();
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
        for frame in frames.drain(..) {
            match frame {
                Frame::Message(message) => {
                    batch.extend_from_slice(&message);
                    batch.push(b'\n');
                    messages += 1;
                    since.get_or_insert_with(Instant::now);
                }
                Frame::Rejected(why) => intake.refuse("tcp", &peer_name, &why.to_string()),
            }
        }
        let full = messages >= TCP_BATCH_MESSAGES || batch.len() >= TCP_BATCH_BYTES;
        if (ended || waited || full) && !batch.is_empty() {
            if !deliver(&intake, &peer_name, std::mem::take(&mut batch), &shutdown).await {
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
async fn deliver(
    intake: &Intake,
    peer: &str,
    text: Vec<u8>,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    let mut events = intake.parse("tcp", &text, |_| peer.to_owned());
    drop(text);
    loop {
        match intake.inlet.push(events) {
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
