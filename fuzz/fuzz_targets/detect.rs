//! Format detection (`Format::Auto`) through `yagura::intake::from_reader`, then every record
//! of the detected format, EVTX included. Errors are fine, panics are not.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use yagura::intake::Format;

fuzz_target!(init: common::tolerate_caught_evtx_panics(), |data: &[u8]| {
    if let Some(format) = common::drain(Format::Auto, data) {
        assert_ne!(format, Format::Auto, "detection names a format");
    }
});
