//! The host's integration tests, in one binary (as wasmtime's `tests/all`): one link instead
//! of one per file, and the shared helpers compiled once.
//!
//! - `store`: the pack store through the CLI, and its consistency when killed at any moment.
//! - `server`: `yagura serve`'s API in process and on loopback (`server/` for sinks, syslog,
//!   tenant keys, rule switches, latency and limits).
//! - `swap`: hot swap under load: no event lost or seen twice, state carried over.
//! - `durability`: the write-ahead log, checkpoints and kill -9.
//! - `oci`: packs pushed to and pulled from a real registry (Debian's `docker-registry`).
//! - `follow`: a server following a registry's repository: new versions, refusals, the
//!   registry down, the health gate.
//! - `support`: what they share.
//!
//! Run one group with `cargo test -p yagura --test all -- store::`.

mod durability;
mod follow;
mod oci;
mod server;
mod shadow;
mod sigma;
mod store;
mod support;
mod swap;
