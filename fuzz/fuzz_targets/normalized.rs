//! `yagura::event::parse_event` on arbitrary UTF-8: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match yagura::event::parse_event(text) {
        // an accepted event must serialize back
        Ok(event) => drop(serde_json::to_string(&event)),
        Err(err) => drop(err.to_string()),
    }
});
