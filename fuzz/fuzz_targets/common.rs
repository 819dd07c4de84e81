//! Shared by the intake targets.

use std::io::Cursor;

use yagura::intake::{Format, from_reader};

/// Reads `input` as `format` through the public intake API and drains every record,
/// serializing each event and formatting each error. Returns the format read (the detected
/// one for [`Format::Auto`]), or `None` when the source did not open.
pub fn drain(format: Format, input: &[u8]) -> Option<Format> {
    let reader = Box::new(Cursor::new(input.to_vec()));
    let (format, records) = from_reader(reader, "fuzz".to_owned(), format).ok()?;
    for record in records {
        match record {
            Ok(event) => drop(serde_json::to_string(&event)),
            Err(err) => drop(err.to_string()),
        }
    }
    Some(format)
}

/// The EVTX adapter (host/src/intake/evtx.rs) runs the third-party `evtx` parser inside
/// `catch_unwind` and turns its panics into record errors: that is handled input, not a crash.
/// libfuzzer-sys installs a hook that aborts on every panic, before any `catch_unwind` sees
/// it; this replaces it with one that stays silent for panics raised in the `evtx` crate and
/// prints the others. A panic nobody catches still unwinds to libfuzzer-sys's own
/// `catch_unwind` around the target, which aborts: it is still reported as a crash.
#[allow(dead_code, reason = "the line-format targets never reach EVTX")]
pub fn tolerate_caught_evtx_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_evtx_crate = info
            .location()
            .is_some_and(|at| at.file().contains("/evtx-"));
        if !in_evtx_crate {
            default_hook(info);
        }
    }));
}
