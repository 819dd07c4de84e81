//! Messages to the operator's log, through the host's `log` import (the host tags them with
//! the rule id). Log sparingly: nothing per event above `debug`.
//!
//! Inside a component the functions call the host; in a native test they panic.

use crate::bindings::yagura::detection::log as host;
pub use crate::bindings::yagura::detection::log::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Logs at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
