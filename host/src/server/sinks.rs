//! Alert sinks: every new or updated alert, once stored, goes out as one JSON object (the
//! alert's fields, its latest finding as an OCSF Detection Finding under `finding`, and
//! `change`: `new` or `updated`) to each configured sink: stdout (JSON lines), a size-rotated
//! file, or a webhook (HTTP POST, retried with capped exponential backoff).
//!
//! Sinks never slow ingest down. They take alerts from the live-alert broadcast that the
//! engines send to after [`crate::store::Store::record_finding`] returned (so an alert is in
//! sled before any sink sees it). One dispatcher thread turns each notice into its JSON line
//! once and offers it to every sink's bounded queue with `try_send`: a full queue drops the
//! alert for that sink and counts it (`yagura_sink_dropped_total{sink}`), it never waits. A
//! dispatcher that falls more than the broadcast's capacity behind counts the skipped alerts
//! as dropped by every sink. Each sink drains its queue on its own thread.
//!
//! Lifecycle: [`Sinks::start`] starts the threads; [`Sinks::close`], called after the engines
//! have stored their last alerts, stops the dispatcher once it has taken everything sent,
//! lets each sink write what it holds (a webhook stops retrying and tries each held alert
//! once), and waits for them at most [`CLOSE_WAIT`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};

use super::metrics::{self, Metrics};
use super::worker::AlertNotice;

/// How long [`Sinks::close`] waits for the sinks to write what they hold.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Alerts a sink's queue holds by default before it drops new ones.
pub const DEFAULT_QUEUE: usize = 10_000;

/// One sink of the server's config.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// the `sink` label of its metrics and logs (default: its kind, numbered if repeated)
    pub name: String,
    /// alerts its queue holds; past that, new alerts are dropped for it and counted
    pub queue: usize,
    pub kind: SinkKind,
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    /// one JSON object per line on stdout
    Stdout,
    /// JSON lines appended to `path`; past `max_bytes` it becomes `path.1` (`path.1` becomes
    /// `path.2`, …) and only `keep` rotated files stay
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
    /// `POST url` with the JSON object as body; an answer other than 2xx or no answer within
    /// `timeout` is retried after `backoff`, doubled each time up to `max_backoff`, `tries`
    /// times in all; then the alert is given up and counted as failed
    Webhook {
        url: String,
        tries: u32,
        backoff: Duration,
        max_backoff: Duration,
        timeout: Duration,
    },
}

impl SinkKind {
    pub fn label(&self) -> &'static str {
        match self {
            SinkKind::Stdout => "stdout",
            SinkKind::File { .. } => "file",
            SinkKind::Webhook { .. } => "webhook",
        }
    }
}

/// The running sinks.
pub struct Sinks {
    /// tells the dispatcher to take what is left in the broadcast and stop
    stop: watch::Sender<bool>,
    /// set at close: webhooks stop retrying
    closing: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

/// One alert as the sinks send it, serialized once for all of them.
type Line = Arc<str>;

impl Sinks {
    /// Starts one thread per sink and the dispatcher reading `alerts`; nothing if `configs`
    /// is empty.
    pub fn start(
        configs: &[SinkConfig],
        alerts: broadcast::Receiver<AlertNotice>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Sinks> {
        let (stop, stopped) = watch::channel(false);
        let closing = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        if configs.is_empty() {
            return Ok(Sinks {
                stop,
                closing,
                threads,
            });
        }
        let mut queues = Vec::new();
        for config in configs {
            // bounded: a sink that cannot keep up loses alerts (counted), ingest never waits
            let (sender, receiver) = mpsc::channel::<Line>(config.queue.max(1));
            let sink = SinkThread {
                name: config.name.clone(),
                metrics: metrics.clone(),
                closing: closing.clone(),
            };
            let kind = config.kind.clone();
            let thread = std::thread::Builder::new()
                .name(format!("yagura-sink-{}", config.name))
                .spawn(move || sink.run(kind, receiver))
                .map_err(|e| anyhow::anyhow!("cannot start sink `{}`: {e}", config.name))?;
            threads.push(thread);
            queues.push((config.name.clone(), sender));
        }
        let dispatcher = std::thread::Builder::new()
            .name("yagura-sinks".into())
            .spawn(move || dispatch(alerts, stopped, queues, metrics))
            .map_err(|e| anyhow::anyhow!("cannot start the sink dispatcher: {e}"))?;
        threads.push(dispatcher);
        Ok(Sinks {
            stop,
            closing,
            threads,
        })
    }

    /// Delivers what was sent before this call and stops the sinks, waiting at most
    /// [`CLOSE_WAIT`] for them. Blocking.
    pub fn close(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        self.stop.send_replace(true);
        let deadline = Instant::now() + CLOSE_WAIT;
        for thread in self.threads.drain(..) {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                if thread.join().is_err() {
                    tracing::error!("a sink thread panicked");
                }
            } else {
                tracing::warn!("a sink did not finish in time; its held alerts are not sent");
            }
        }
    }
}

/// The JSON object a sink sends for a notice.
fn line(notice: &AlertNotice) -> Option<Line> {
    let mut value = serde_json::to_value(&notice.alert).ok()?;
    let change = serde_json::to_value(notice.change).ok()?;
    value.as_object_mut()?.insert("change".into(), change);
    Some(Arc::from(value.to_string()))
}

fn labels(sink: &str) -> metrics::Labels {
    vec![("sink", sink.to_owned())]
}

/// The dispatcher: broadcast → every sink's queue, never waiting on a sink.
fn dispatch(
    mut alerts: broadcast::Receiver<AlertNotice>,
    mut stopped: watch::Receiver<bool>,
    queues: Vec<(String, mpsc::Sender<Line>)>,
    metrics: Arc<Metrics>,
) {
    let offer = |notice: AlertNotice| {
        let Some(line) = line(&notice) else {
            return;
        };
        for (name, queue) in &queues {
            if queue.try_send(line.clone()).is_err() {
                metrics.add(metrics::SINK_DROPPED, labels(name), 1.0);
            }
        }
    };
    let lagged = |n: u64| {
        tracing::warn!(
            skipped = n,
            "the sink dispatcher fell behind; alerts dropped"
        );
        for (name, _) in &queues {
            metrics.add(metrics::SINK_DROPPED, labels(name), n as f64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the sink dispatcher; no alert goes to sinks");
            return;
        }
    };
    runtime.block_on(async {
        loop {
            tokio::select! {
                received = alerts.recv() => match received {
                    Ok(notice) => offer(notice),
                    Err(broadcast::error::RecvError::Lagged(n)) => lagged(n),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                changed = stopped.changed() => {
                    if changed.is_err() || *stopped.borrow() {
                        break;
                    }
                }
            }
        }
        // what was sent before close
        loop {
            match alerts.try_recv() {
                Ok(notice) => offer(notice),
                Err(broadcast::error::TryRecvError::Lagged(n)) => lagged(n),
                Err(_) => return,
            }
        }
    });
    // dropping `queues` ends each sink once it has written what it holds
}

struct SinkThread {
    name: String,
    metrics: Arc<Metrics>,
    closing: Arc<AtomicBool>,
}

impl SinkThread {
    fn run(self, kind: SinkKind, receiver: mpsc::Receiver<Line>) {
        match kind {
            SinkKind::Stdout => self.write_lines(receiver, std::io::stdout()),
            SinkKind::File {
                path,
                max_bytes,
                keep,
            } => match RotatingFile::open(path.clone(), max_bytes, keep) {
                Ok(file) => self.write_lines(receiver, file),
                Err(e) => {
                    tracing::error!(sink = %self.name, path = %path.display(), error = %e, "cannot open the sink's file; its alerts are dropped");
                    self.fail_all(receiver);
                }
            },
            SinkKind::Webhook {
                url,
                tries,
                backoff,
                max_backoff,
                timeout,
            } => {
                let webhook = Webhook {
                    url,
                    tries: tries.max(1),
                    backoff,
                    max_backoff,
                    timeout,
                };
                self.post_all(receiver, &webhook);
            }
        }
    }

    fn count(&self, metric: &'static str) {
        self.metrics.add(metric, labels(&self.name), 1.0);
    }

    /// Writes each line; flushes whenever the queue is empty.
    fn write_lines(&self, mut receiver: mpsc::Receiver<Line>, mut out: impl Write) {
        while let Some(line) = receiver.blocking_recv() {
            let mut batch = vec![line];
            while let Ok(more) = receiver.try_recv() {
                batch.push(more);
            }
            let mut written = 0;
            let mut failed = 0;
            for line in &batch {
                // one write per line: the rotating file never splits a line from its newline
                match out.write_all(format!("{line}\n").as_bytes()) {
                    Ok(()) => written += 1,
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(sink = %self.name, error = %e, "an alert could not be written");
                    }
                }
            }
            if let Err(e) = out.flush() {
                tracing::warn!(sink = %self.name, error = %e, "the sink could not flush");
                failed += written;
                written = 0;
            }
            let l = labels(&self.name);
            self.metrics
                .add(metrics::SINK_DELIVERED, l.clone(), f64::from(written));
            self.metrics.add(metrics::SINK_FAILED, l, f64::from(failed));
        }
    }

    fn fail_all(&self, mut receiver: mpsc::Receiver<Line>) {
        while receiver.blocking_recv().is_some() {
            self.count(metrics::SINK_FAILED);
        }
    }

    fn post_all(&self, mut receiver: mpsc::Receiver<Line>, webhook: &Webhook) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let client = reqwest::Client::builder().timeout(webhook.timeout).build();
        let (runtime, client) = match (runtime, client) {
            (Ok(r), Ok(c)) => (r, c),
            (Err(e), _) => {
                tracing::error!(sink = %self.name, error = %e, "cannot start the webhook's runtime; its alerts are dropped");
                return self.fail_all(receiver);
            }
            (_, Err(e)) => {
                tracing::error!(sink = %self.name, error = %e, "cannot build the webhook's client; its alerts are dropped");
                return self.fail_all(receiver);
            }
        };
        runtime.block_on(async {
            while let Some(line) = receiver.recv().await {
                if self.post(&client, webhook, &line).await {
                    self.count(metrics::SINK_DELIVERED);
                } else {
                    self.count(metrics::SINK_FAILED);
                }
            }
        });
    }

    /// Posts one alert with retries; whether it was taken.
    async fn post(&self, client: &reqwest::Client, webhook: &Webhook, line: &str) -> bool {
        let mut wait = webhook.backoff;
        for attempt in 1..=webhook.tries {
            let answer = client
                .post(&webhook.url)
                .header("content-type", "application/json")
                .body(line.to_owned())
                .send()
                .await;
            let problem = match answer {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => e.to_string(),
            };
            if attempt == webhook.tries || self.closing.load(Ordering::SeqCst) {
                tracing::warn!(sink = %self.name, url = %webhook.url, attempts = attempt, problem = %problem, "webhook gave up on an alert");
                return false;
            }
            tracing::debug!(sink = %self.name, attempt, problem = %problem, "webhook will retry");
            self.count(metrics::SINK_RETRIES);
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(webhook.max_backoff);
        }
        false
    }
}

struct Webhook {
    url: String,
    tries: u32,
    backoff: Duration,
    max_backoff: Duration,
    timeout: Duration,
}

/// JSON lines appended to a file that rotates by size: `path` → `path.1` → … → `path.keep`.
struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: BufWriter<File>,
    size: u64,
}

impl RotatingFile {
    fn open(path: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1),
            keep,
            file: BufWriter::new(file),
            size,
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let numbered = |i: usize| rotated(&self.path, i);
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            // the oldest falls off; each other moves up one
            let _ = std::fs::remove_file(numbered(self.keep));
            for i in (1..self.keep).rev() {
                let from = numbered(i);
                if from.exists() {
                    std::fs::rename(&from, numbered(i + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = BufWriter::new(append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `path.i`.
fn rotated(path: &Path, i: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

impl Write for RotatingFile {
    /// Whole lines only (the sink writes one line per call and flush): a line never spans
    /// two files.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len() as u64;
        if self.size > 0 && self.size + n > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("alerts.jsonl");
        let mut file = RotatingFile::open(path.clone(), 100, 2).expect("opens");
        for i in 0..10 {
            // 50 bytes with its newline: two per file
            file.write_all(format!("{i:049}\n").as_bytes())
                .expect("writes");
        }
        file.flush().expect("flushes");
        let read = |p: &Path| std::fs::read_to_string(p).expect("reads");
        assert_eq!(read(&path), format!("{:049}\n{:049}\n", 8, 9));
        assert_eq!(read(&rotated(&path, 1)), format!("{:049}\n{:049}\n", 6, 7));
        assert_eq!(read(&rotated(&path, 2)), format!("{:049}\n{:049}\n", 4, 5));
        assert!(
            !rotated(&path, 3).exists(),
            "only `keep` rotated files stay"
        );
    }
}
