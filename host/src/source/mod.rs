//! Sources: what brings events to the runtime from outside, each handed only its tenant's
//! [`Inlet`](crate::runtime::Inlet) — the peers of `intake`, which turns bytes into events.
//!
//! # Layout
//! - `syslog`: UDP and TCP syslog listeners (RFC 5424 and 3164, RFC 6587 framing), one tenant
//!   each.
//! - `http`: the body of `POST /v1/events` into events (gzip, JSON arrays, any format). The
//!   route itself is `server/ingest.rs`, which feeds the decoded events to the same kind of
//!   inlet.

pub mod http;
pub mod syslog;

pub use syslog::{ListenerState, MissingTime, SyslogListener};
