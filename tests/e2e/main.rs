//! End-to-end tests: real rule components (Rust and Python) through the real host.
//! One test binary, one module per area, so `cargo test` links once.

mod cases;
mod certutil;
mod dispatch;
mod evaluation;
mod intake;
mod kits;
mod kits_c;
mod packs;
mod python;
mod replay;
mod sandbox;
