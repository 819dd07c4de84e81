//! Alert sinks: every new or updated alert, once stored, goes out as one JSON object (the
//! alert's fields, its latest finding as an OCSF Detection Finding under `finding`, and
//! `change`: `new` or `updated`) to each configured sink: stdout (JSON lines), a size-rotated
//! file, or a webhook (HTTP POST over http or https, retried with capped exponential backoff).
//! A sink may take only some tenants' alerts (`tenants`); by default it takes every tenant's.
//!
//! Sinks never slow ingest down. They take alerts from the live-alert broadcast that the
//! engines send to after [`crate::store::Store::record_finding`] returned (so an alert is in
//! sled before any sink sees it). One dispatcher thread turns each notice into its JSON line
//! once and offers it to the bounded queue of every sink that takes the alert's tenant, with
//! `try_send`: a full queue drops the alert for that sink and counts it
//! (`yagura_sink_dropped_total{sink}`), it never waits. A dispatcher that falls more than the
//! broadcast's capacity behind counts the skipped alerts as dropped by every sink (their
//! tenants are unknown). Each sink drains its queue on its own thread.
//!
//! Webhooks speak TLS through reqwest's rustls (ring, with the bundled Mozilla roots), plus the
//! certificates of the sink's `ca_file`: [`Sinks::start`] reads that file and builds each
//! webhook's client before any thread starts, so a missing or bad file stops the server's
//! start with an error naming the sink and the file.
//!
//! Lifecycle: [`Sinks::start`] starts the threads; [`Sinks::close`], called after the engines
//! have stored their last alerts, stops the dispatcher once it has taken everything sent,
//! lets each sink write what it holds (a webhook stops retrying and tries each held alert
//! once), and waits for them at most [`CLOSE_WAIT`].

mod file;
mod webhook;

pub(crate) use webhook::client as http_client;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::metrics::{self, Metrics};
use crate::runtime::worker::AlertNotice;

/// How long [`Sinks::close`] waits for the sinks to write what they hold.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Alerts a sink's queue holds by default before it drops new ones.
pub(crate) const DEFAULT_QUEUE: usize = 10_000;

/// One sink of the server's config.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// the `sink` label of its metrics and logs (default: its kind, numbered if repeated)
    pub name: String,
    /// alerts its queue holds; past that, new alerts are dropped for it and counted
    pub queue: usize,
    /// the tenants whose alerts it takes; `None`: every tenant's
    pub tenants: Option<Vec<String>>,
    pub kind: SinkKind,
}

impl SinkConfig {
    /// Whether this sink takes the alerts of `tenant`.
    pub(crate) fn takes(&self, tenant: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == tenant))
    }
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
    /// `POST url` (http:// or https://) with the JSON object as body; an answer other than
    /// 2xx, a failed TLS handshake or no answer within `timeout` is retried after `backoff`,
    /// doubled each time up to `max_backoff`, `tries` times in all; then the alert is given
    /// up and counted as failed. An https server's certificate must chain to a bundled
    /// Mozilla root or to a certificate of `ca_file` (PEM).
    Webhook {
        url: String,
        tries: u32,
        backoff: Duration,
        max_backoff: Duration,
        timeout: Duration,
        ca_file: Option<PathBuf>,
    },
}

/// One `[[sink]]` table of the config file, as written: its `kind` picks the variant, and a
/// key of another kind is an error naming the table's line (serde and toml do both).
/// [`SinkTable::resolve`] checks the values and gives the [`SinkConfig`].
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkTable {
    Stdout {
        #[serde(flatten)]
        common: SinkCommon,
    },
    File {
        #[serde(flatten)]
        common: SinkCommon,
        path: PathBuf,
        /// MiB before rotation (default 100)
        max_mib: Option<u64>,
        /// rotated files kept (default 5)
        keep: Option<usize>,
    },
    Webhook {
        #[serde(flatten)]
        common: SinkCommon,
        url: String,
        /// tries in all (default 5)
        tries: Option<u32>,
        backoff_ms: Option<u64>,
        max_backoff_ms: Option<u64>,
        timeout_ms: Option<u64>,
        /// PEM certificates trusted besides the bundled roots, for an https `url`
        ca_file: Option<PathBuf>,
    },
}

/// The keys every kind of sink takes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SinkCommon {
    /// the `sink` label (default: the kind, numbered if repeated)
    name: Option<String>,
    queue: Option<usize>,
    /// only these tenants' alerts; absent: every tenant's
    tenants: Option<Vec<String>>,
}

impl SinkTable {
    /// The sink this table describes, checked; `at` names the table for errors, `taken`
    /// are the sinks before it (names must differ).
    pub fn resolve(
        &self,
        at: &str,
        index: usize,
        taken: &[SinkConfig],
    ) -> anyhow::Result<SinkConfig> {
        let (common, kind) = match self {
            SinkTable::Stdout { common } => (common, SinkKind::Stdout),
            SinkTable::File {
                common,
                path,
                max_mib,
                keep,
            } => {
                let max_mib = max_mib.unwrap_or(100);
                if !(1..=1 << 20).contains(&max_mib) {
                    bail!("{at}: `max_mib` = {max_mib} is not in 1..=1048576");
                }
                let kind = SinkKind::File {
                    path: path.clone(),
                    max_bytes: max_mib << 20,
                    keep: keep.unwrap_or(5),
                };
                (common, kind)
            }
            SinkTable::Webhook {
                common,
                url,
                tries,
                backoff_ms,
                max_backoff_ms,
                timeout_ms,
                ca_file,
            } => {
                let https = url.starts_with("https://");
                if !https && !url.starts_with("http://") {
                    bail!("{at}: `url` {url:?} is not an http:// or https:// URL");
                }
                if let Some(ca) = ca_file.as_ref().filter(|_| !https) {
                    bail!(
                        "{at}: `ca_file` {} is for an https:// `url`, and {url:?} is not one",
                        ca.display()
                    );
                }
                let tries = tries.unwrap_or(5);
                if !(1..=100).contains(&tries) {
                    bail!("{at}: `tries` = {tries} is not in 1..=100");
                }
                let kind = SinkKind::Webhook {
                    url: url.clone(),
                    tries,
                    backoff: Duration::from_millis(backoff_ms.unwrap_or(500)),
                    max_backoff: Duration::from_millis(max_backoff_ms.unwrap_or(30_000)),
                    timeout: Duration::from_millis(timeout_ms.unwrap_or(10_000)),
                    ca_file: ca_file.clone(),
                };
                (common, kind)
            }
        };
        let name = match &common.name {
            Some(n) => n.clone(),
            None if taken.iter().any(|o| o.name == kind.label()) => {
                format!("{}-{}", kind.label(), index + 1)
            }
            None => kind.label().to_owned(),
        };
        if taken.iter().any(|o| o.name == name) {
            bail!("{at}: another sink is already named {name:?}; give it a `name`");
        }
        // names only: a tenant may be created after the start, through the API
        if let Some(tenants) = &common.tenants {
            if tenants.is_empty() {
                bail!("{at}: sink {name:?}: `tenants` is empty; leave it out for every tenant");
            }
            for tenant in tenants {
                crate::store::check_tenant_name(tenant)
                    .with_context(|| format!("{at}: sink {name:?}: `tenants`"))?;
            }
        }
        Ok(SinkConfig {
            name,
            queue: common.queue.unwrap_or(DEFAULT_QUEUE).max(1),
            tenants: common.tenants.clone(),
            kind,
        })
    }
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
    /// is empty. Fails, before starting anything, if a webhook's client cannot be built (its
    /// `ca_file` is missing or holds no valid certificate).
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
        let targets = configs
            .iter()
            .map(Target::new)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut queues = Vec::new();
        for (config, target) in configs.iter().zip(targets) {
            // bounded: a sink that cannot keep up loses alerts (counted), ingest never waits
            let (sender, receiver) = mpsc::channel::<Line>(config.queue.max(1));
            let sink = SinkThread {
                name: config.name.clone(),
                metrics: metrics.clone(),
                closing: closing.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("yagura-sink-{}", config.name))
                .spawn(move || sink.run(target, receiver))
                .map_err(|e| anyhow::anyhow!("cannot start sink `{}`: {e}", config.name))?;
            threads.push(thread);
            queues.push(Queue {
                config: config.clone(),
                sender,
            });
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

/// A sink's queue as the dispatcher sees it.
struct Queue {
    /// its name and tenant filter
    config: SinkConfig,
    sender: mpsc::Sender<Line>,
}

/// The dispatcher: broadcast → the queue of every sink that takes the alert's tenant, never
/// waiting on a sink.
fn dispatch(
    mut alerts: broadcast::Receiver<AlertNotice>,
    mut stopped: watch::Receiver<bool>,
    queues: Vec<Queue>,
    metrics: Arc<Metrics>,
) {
    let offer = |notice: AlertNotice| {
        let mut takers = queues
            .iter()
            .filter(|q| q.config.takes(&notice.alert.tenant))
            .peekable();
        if takers.peek().is_none() {
            return;
        }
        let Some(line) = line(&notice) else {
            return;
        };
        for queue in takers {
            if queue.sender.try_send(line.clone()).is_err() {
                metrics.add(metrics::SINK_DROPPED, labels(&queue.config.name), 1.0);
            }
        }
    };
    // skipped alerts are gone before their tenant is known: every sink counts them
    let lagged = |n: u64| {
        tracing::warn!(
            skipped = n,
            "the sink dispatcher fell behind; alerts dropped"
        );
        for queue in &queues {
            metrics.add(metrics::SINK_DROPPED, labels(&queue.config.name), n as f64);
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

/// What a sink thread writes to, made ready by [`Sinks::start`].
enum Target {
    Stdout,
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
    Webhook(webhook::Webhook),
}

impl Target {
    fn new(config: &SinkConfig) -> anyhow::Result<Target> {
        Ok(match &config.kind {
            SinkKind::Stdout => Target::Stdout,
            SinkKind::File {
                path,
                max_bytes,
                keep,
            } => Target::File {
                path: path.clone(),
                max_bytes: *max_bytes,
                keep: *keep,
            },
            SinkKind::Webhook {
                url,
                tries,
                backoff,
                max_backoff,
                timeout,
                ca_file,
            } => Target::Webhook(webhook::Webhook {
                url: url.clone(),
                tries: (*tries).max(1),
                backoff: *backoff,
                max_backoff: *max_backoff,
                client: webhook::client(
                    &format!("sink `{}`", config.name),
                    *timeout,
                    ca_file.as_deref(),
                )?,
            }),
        })
    }
}

impl SinkThread {
    fn run(self, target: Target, receiver: mpsc::Receiver<Line>) {
        match target {
            Target::Stdout => self.write_lines(receiver, std::io::stdout()),
            Target::File {
                path,
                max_bytes,
                keep,
            } => match file::RotatingFile::open(path.clone(), max_bytes, keep) {
                Ok(file) => self.write_lines(receiver, file),
                Err(e) => {
                    tracing::error!(sink = %self.name, path = %path.display(), error = %e, "cannot open the sink's file; its alerts are dropped");
                    self.fail_all(receiver);
                }
            },
            Target::Webhook(webhook) => self.post_all(receiver, &webhook),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_takes_the_tenants_it_names_or_all() {
        let sink = |tenants: Option<&[&str]>| SinkConfig {
            name: "s".into(),
            queue: 1,
            tenants: tenants.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            kind: SinkKind::Stdout,
        };
        assert!(sink(None).takes("acme"));
        assert!(sink(Some(&["acme", "globex"])).takes("globex"));
        assert!(!sink(Some(&["acme"])).takes("globex"));
    }
}
