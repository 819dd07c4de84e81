//! Binary EVTX through `yagura::intake::from_reader` on arbitrary bytes. Every record is
//! drained; errors are fine, panics are not (panics of the `evtx` crate that the adapter
//! catches and reports as errors are allowed: see `common::tolerate_caught_evtx_panics`).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use yagura::intake::Format;

fuzz_target!(init: common::tolerate_caught_evtx_panics(), |data: &[u8]| {
    common::drain(Format::Evtx, data);
});
