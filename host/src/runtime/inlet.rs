//! [`Inlet`]: what a source is handed to feed one tenant — its engine's queue and the event
//! counters under the source's label — and nothing else of the runtime.

use std::sync::Arc;

use super::Runtime;
use super::worker::{QueueError, TenantEngine};
use crate::event::Event;
use crate::metrics::{self, Metrics};

/// One source's way into one tenant's engine. Cheap to clone.
#[derive(Clone)]
pub struct Inlet {
    tenant: String,
    source: &'static str,
    engine: Arc<TenantEngine>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Inlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inlet")
            .field("tenant", &self.tenant)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// `source`'s inlet into `tenant`'s engine (started without rules if it has none yet).
    pub(crate) fn inlet(&self, tenant: &str, source: &'static str) -> anyhow::Result<Inlet> {
        Ok(Inlet {
            tenant: tenant.to_owned(),
            source,
            engine: self.engine(tenant)?,
            metrics: self.metrics.clone(),
        })
    }
}

impl Inlet {
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Writes `events` to the tenant's write-ahead log and queues them, counting them as
    /// accepted; when the queue is full or the engine stopped, hands them back with why (not
    /// counted: [`Inlet::throttled`] if they are dropped). Not yet durable:
    /// [`Inlet::sync`] before acknowledging them to a sender.
    pub fn push(&self, events: Vec<Event>) -> Result<(), (QueueError, Vec<Event>)> {
        let n = events.len();
        self.engine.push(events)?;
        self.count(metrics::EVENTS_ACCEPTED, n as u64);
        Ok(())
    }

    /// Makes every event pushed so far durable (flushes the store). Blocking.
    pub fn sync(&self) -> anyhow::Result<()> {
        self.engine.sync()
    }

    /// Whether the tenant's queue is full: what a source checks before it reads and parses
    /// anything for it.
    pub fn is_full(&self) -> bool {
        self.engine.is_full()
    }

    /// Whether `n` more events would be taken now: the budget a source parses a batch under,
    /// so that it stops reading one the queue could not take.
    pub fn fits(&self, n: usize) -> bool {
        self.engine.fits(n)
    }

    /// Events waiting in the tenant's queue.
    pub fn queued(&self) -> usize {
        self.engine.queued()
    }

    /// Counts `n` events dropped because the queue was full.
    pub fn throttled(&self, n: u64) {
        self.count(metrics::EVENTS_THROTTLED, n);
    }

    /// Counts `n` records that did not parse.
    pub fn rejected(&self, n: u64) {
        self.count(metrics::EVENTS_REJECTED, n);
    }

    fn count(&self, name: &'static str, n: u64) {
        self.metrics.add(
            name,
            vec![
                ("tenant", self.tenant.clone()),
                ("source", self.source.to_owned()),
            ],
            n as f64,
        );
    }
}
