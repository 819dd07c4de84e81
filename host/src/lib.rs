//! Yagura's host runtime: normalized security events in, sandboxed WebAssembly detection rules
//! over them, OCSF Detection Findings out.
//!
//! A rule is a WebAssembly component written against the WIT package `yagura:detection`
//! (`wit/`). The host compiles it (caching the result), refuses it if it imports anything but
//! the WIT's `log` and `state`, and runs it under memory, time and output limits. Events reach
//! a rule in batches, in event-time order, and only of the classes it subscribed to. Rule state
//! (windowed counters, distinct sets, expiring values) is kept by the host in event time.
//!
//! # Layout
//! - [`event`]: the normalized event and its JSON form.
//! - [`intake`]: reading events from files and streams, with per-line errors.
//! - [`sandbox`]: wasmtime: loading, checking and running rule components under limits.
//! - [`state`]: the host-kept rule state behind the WIT `state` interface.
//! - [`engine`]: ordering, batching, routing by subscription, watermarks and ticks.
//! - [`rule`]: rule metadata and typed configuration.
//! - [`finding`]: findings and their OCSF Detection Finding form.
//! - [`cases`]: declarative rule cases (`cases.toml`): events in, the findings expected out.
//! - [`pack`]: rule packs: manifest, deterministic bundles, signatures, requirements, version
//!   resolution, the pack's cases.
//! - [`store`]: the sled store: packs, activations and their history, tenants, tokens, keys,
//!   alerts, write-ahead logs and checkpoints; [`store::StoreError`].
//! - [`runtime`]: the tenant runtime: one engine per tenant on its own thread, the rule sets
//!   assembled from active packs, activation, write-ahead log and checkpoints.
//! - [`alert`]: alerts on their way out: the sinks (stdout, rotating file, webhook).
//! - `source`: what brings events in from outside (syslog listeners, the HTTP body
//!   decoding), each handed only its tenant's inlet into the runtime.
//! - `metrics`: metric names and the Prometheus text format.
//! - [`server`]: `yagura serve`, the HTTP front door of the runtime (axum): tenants, tokens,
//!   packs, ingest, alerts, metrics.
//! - [`cli`]: the `yagura` command line.
//!
//! What other crates use is `pub`: the types re-exported below, and each module's documented
//! API (the benchmarks, the end-to-end tests and the fuzz targets are such crates). Helpers
//! that only this crate calls are `pub(crate)`; `metrics` and `source` are this crate's
//! alone (their public types are re-exported where the API needs them, as
//! [`server::SyslogListener`]). The crash hook of the store's tests exists only with the
//! `crash-points` feature.

pub mod alert;
pub mod cases;
pub mod cli;
pub mod engine;
pub mod event;
pub mod finding;
pub mod intake;
pub(crate) mod metrics;
pub mod pack;
pub mod rule;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub(crate) mod source;
pub mod state;
pub mod store;

pub use engine::{Engine, EngineOptions, RuleStats};
pub use event::{Event, EventClass};
pub use finding::{Finding, Severity};
pub use rule::{RuleInfo, Value};
pub use sandbox::{Limits, RuleComponent, RuleInstance, Sandbox, SandboxError};
