//! Typed helpers over the host's `state` import: windowed counters, windowed distinct sets
//! and a key/value store with expiry, all in event time.
//!
//! State lives in the host, so it outlives a trap, a new instance and a new rule version, and
//! it is shared by every batch the rule sees. Keys are the rule's own (the host scopes them by
//! rule and tenant); a key holds one kind of state. Build keys in a `String` kept in the rule
//! and reused (`key.clear(); write!(key, …)`) to avoid an allocation per event.
//!
//! The functions call the host: inside a component they work, in a native test they panic.

use core::fmt;

use crate::bindings::yagura::detection::state as host;
pub use crate::bindings::yagura::detection::state::StateError;

/// A window of event time. Zero-length windows are rejected by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window(u64);

impl Window {
    /// A window of `ms` milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Window(ms)
    }

    /// A window of `s` seconds.
    pub const fn seconds(s: u64) -> Self {
        Window(s.saturating_mul(1_000))
    }

    /// A window of `m` minutes.
    pub const fn minutes(m: u64) -> Self {
        Window(m.saturating_mul(60_000))
    }

    /// A window of `h` hours.
    pub const fn hours(h: u64) -> Self {
        Window(h.saturating_mul(3_600_000))
    }

    /// A window of `d` days.
    pub const fn days(d: u64) -> Self {
        Window(d.saturating_mul(86_400_000))
    }

    /// The window's length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The end of a window that starts at `at`: `at` plus the window, saturating. Useful as
    /// the `expires_at` of a key/value entry.
    pub const fn end_from(self, at: i64) -> i64 {
        let len = if self.0 > i64::MAX as u64 {
            i64::MAX
        } else {
            self.0 as i64
        };
        at.saturating_add(len)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        const UNITS: [(u64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        match UNITS
            .iter()
            .find(|(unit, _)| ms != 0 && ms.is_multiple_of(*unit))
        {
            Some((unit, suffix)) => write!(f, "{}{suffix}", ms / unit),
            None => write!(f, "{ms}ms"),
        }
    }
}

impl From<StateError> for String {
    fn from(err: StateError) -> String {
        format!("state: {}", err.message())
    }
}

/// Adds `delta` at `at` to counter `key`; returns the sum over `(at - window, at]`.
pub fn counter_add(key: &str, at: i64, window: Window, delta: i64) -> Result<i64, StateError> {
    host::counter_add(key, at, window.as_millis(), delta)
}

/// The sum of counter `key` over `(at - window, at]`.
pub fn counter_sum(key: &str, at: i64, window: Window) -> i64 {
    host::counter_sum(key, at, window.as_millis())
}

/// Records `item` under `key` at `at`; returns how many distinct items `key` saw in
/// `(at - window, at]`.
pub fn distinct_add(key: &str, item: &str, at: i64, window: Window) -> Result<u32, StateError> {
    host::distinct_add(key, item, at, window.as_millis())
}

/// The distinct items of `key` in `(at - window, at]`: their count and up to `limit` of them,
/// most recent first.
pub fn distinct_items(key: &str, at: i64, window: Window, limit: u32) -> (u32, Vec<String>) {
    host::distinct_items(key, at, window.as_millis(), limit)
}

/// The bytes under `key`, unless they expired by event time `at` (pass the time of the event
/// at hand).
pub fn get(key: &str, at: i64) -> Option<Vec<u8>> {
    host::get(key, at)
}

/// Stores `value` under `key` until event time passes `expires_at`.
pub fn set(key: &str, value: &[u8], expires_at: i64) -> Result<(), StateError> {
    host::set(key, value, expires_at)
}

/// Removes `key`, of whatever kind of state.
pub fn remove(key: &str) {
    host::remove(key)
}

/// The u64 under `key` (stored by [`set_u64`]); `None` when absent, expired or not 8 bytes.
pub fn get_u64(key: &str, at: i64) -> Option<u64> {
    get(key, at).and_then(|bytes| decode_u64(&bytes))
}

/// Stores a u64 under `key` (8 bytes, little-endian) until `expires_at`.
pub fn set_u64(key: &str, value: u64, expires_at: i64) -> Result<(), StateError> {
    set(key, &value.to_le_bytes(), expires_at)
}

/// The string under `key`; `None` when absent, expired or not UTF-8.
pub fn get_string(key: &str, at: i64) -> Option<String> {
    get(key, at).and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Stores a string under `key` until `expires_at`.
pub fn set_string(key: &str, value: &str, expires_at: i64) -> Result<(), StateError> {
    set(key, value.as_bytes(), expires_at)
}

/// Sets a marker (one byte) under `key` until `expires_at` unless one is there at event time
/// `at` already. Returns whether it was newly set: `Ok(true)` the first time, `Ok(false)`
/// until it expires. Rules use it to report a thing once per window.
pub fn mark_once(key: &str, at: i64, expires_at: i64) -> Result<bool, StateError> {
    if get(key, at).is_some() {
        return Ok(false);
    }
    set(key, &[1], expires_at)?;
    Ok(true)
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// A windowed counter: [`counter_add`] and [`counter_sum`] with a fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    window: Window,
}

impl Counter {
    /// A counter over `window`.
    pub const fn new(window: Window) -> Self {
        Counter { window }
    }

    /// The counter's window.
    pub const fn window(&self) -> Window {
        self.window
    }

    /// Adds `delta` at `at` under `key`; returns the windowed sum.
    pub fn add(&self, key: &str, at: i64, delta: i64) -> Result<i64, StateError> {
        counter_add(key, at, self.window, delta)
    }

    /// The windowed sum under `key` at `at`.
    pub fn sum(&self, key: &str, at: i64) -> i64 {
        counter_sum(key, at, self.window)
    }
}

/// A windowed distinct set: [`distinct_add`] and [`distinct_items`] with a fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distinct {
    window: Window,
}

impl Distinct {
    /// A distinct set over `window`.
    pub const fn new(window: Window) -> Self {
        Distinct { window }
    }

    /// The set's window.
    pub const fn window(&self) -> Window {
        self.window
    }

    /// Records `item` at `at` under `key`; returns the windowed distinct count.
    pub fn add(&self, key: &str, item: &str, at: i64) -> Result<u32, StateError> {
        distinct_add(key, item, at, self.window)
    }

    /// The windowed distinct count and up to `limit` items, most recent first.
    pub fn items(&self, key: &str, at: i64, limit: u32) -> (u32, Vec<String>) {
        distinct_items(key, at, self.window, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_units() {
        assert_eq!(Window::millis(5).as_millis(), 5);
        assert_eq!(Window::seconds(60), Window::minutes(1));
        assert_eq!(Window::minutes(15).as_millis(), 900_000);
        assert_eq!(Window::hours(1).as_millis(), 3_600_000);
        assert_eq!(Window::days(1).as_millis(), 86_400_000);
        assert_eq!(Window::days(u64::MAX).as_millis(), u64::MAX);
        assert_eq!(Window::seconds(60).to_string(), "1m");
        assert_eq!(Window::millis(1500).to_string(), "1500ms");
        assert_eq!(Window::days(3650).to_string(), "3650d");
        assert_eq!(Window::millis(0).to_string(), "0ms");
        assert_eq!(Window::seconds(90).to_string(), "90s");
    }

    #[test]
    fn window_end_saturates() {
        assert_eq!(Window::seconds(1).end_from(1_000), 2_000);
        assert_eq!(Window::millis(u64::MAX).end_from(0), i64::MAX);
        assert_eq!(Window::seconds(1).end_from(i64::MAX - 1), i64::MAX);
    }

    #[test]
    fn u64_encoding() {
        assert_eq!(decode_u64(&42u64.to_le_bytes()), Some(42));
        assert_eq!(decode_u64(&[1, 2, 3]), None);
    }

    #[test]
    fn handles_keep_their_window() {
        assert_eq!(
            Counter::new(Window::minutes(5)).window(),
            Window::minutes(5)
        );
        assert_eq!(
            Distinct::new(Window::seconds(60)).window(),
            Window::minutes(1)
        );
    }

    #[test]
    fn state_errors_convert_to_messages() {
        let msg = String::from(StateError::QuotaExceeded);
        assert!(msg.starts_with("state: "), "{msg}");
    }
}
