//! Alerts on their way out of the host. An alert is made and stored by the tenant's engine
//! (`runtime::worker`, `store::alerts`, deduplicated by rule and key within the dedup window);
//! from there each one goes to the live streams (`server/alerts.rs`) and to the sinks here.
//!
//! # Layout
//! - `sink`: stdout, a size-rotated file (`sink/file.rs`) and webhooks (`sink/webhook.rs`),
//!   each configured by one `[[sink]]` table ([`sink::SinkTable`], deserialized by its
//!   `kind`), each fed from the alerts broadcast without ever slowing ingest.

pub mod sink;
