//! The line formats through `yagura::intake::from_reader`: the first byte picks the format,
//! the rest is the input. Every record is drained; errors are fine, panics are not.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use yagura::intake::Format;

/// Indexed by the first byte, modulo the length (fuzz/seed-corpus.sh uses these indexes).
const FORMATS: [Format; 6] = [
    Format::Ndjson,
    Format::Ocsf,
    Format::WineventJson,
    Format::Ecs,
    Format::ZeekConn,
    Format::Syslog,
];

fuzz_target!(|data: &[u8]| {
    if let Some((&pick, input)) = data.split_first() {
        common::drain(FORMATS[usize::from(pick) % FORMATS.len()], input);
    }
});
