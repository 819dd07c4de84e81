//! Report-once-per-window markers over host state (with a bounded guest-side copy for the
//! markers host state refuses), and small finding helpers shared by the detections.

use std::collections::HashMap;

use yagura_sdk::prelude::*;

use crate::Scratch;

/// How many report markers the guest keeps when host state refuses them.
const FALLBACK_MARKERS: usize = 1_024;

/// Report markers host state refused to keep (its quota is full), kept in guest memory so
/// that a refusal does not turn into a report per event. Bounded: emptied when full, lost
/// with the instance; host state answers again as soon as it has room.
#[derive(Debug, Default)]
pub(crate) struct Fallback {
    markers: HashMap<String, (u64, i64)>,
}

impl Fallback {
    /// Whether `value` is news after what was kept under `key` (nothing kept, expired at
    /// `at`, or `news(last, value)`); if so keeps `value` until `expires_at`.
    pub(crate) fn news(
        &mut self,
        key: &str,
        value: u64,
        at: i64,
        expires_at: i64,
        news: fn(u64, u64) -> bool,
    ) -> bool {
        if let Some(&(last, expires)) = self.markers.get(key)
            && expires >= at
            && !news(last, value)
        {
            return false;
        }
        if self.markers.len() >= FALLBACK_MARKERS && !self.markers.contains_key(key) {
            self.markers.clear();
        }
        self.markers.insert(key.to_owned(), (value, expires_at));
        true
    }
}

fn higher(last: u64, level: u64) -> bool {
    level > last
}

fn twice(last: u64, count: u64) -> bool {
    count >= last.saturating_mul(2)
}

impl Scratch {
    /// Whether `level` is higher than the level last reported under the key in `self.key`;
    /// if so, records it until `expires_at`. A finding is re-reported under the same dedup
    /// key only when it says more than the last one. Level 1 reports once per window.
    pub(crate) fn raise_level(&mut self, level: u64, at: i64, expires_at: i64) -> bool {
        self.report_if(level, at, expires_at, higher)
    }

    /// Whether `count` is at least twice the count last reported under the key in
    /// `self.key` (or nothing was reported yet); if so, records it until `expires_at`.
    /// Growing alerts are re-reported at 3, 6, 12… targets: a handful of updates, never one
    /// per event.
    pub(crate) fn doubled(&mut self, count: u64, at: i64, expires_at: i64) -> bool {
        self.report_if(count, at, expires_at, twice)
    }

    fn report_if(
        &mut self,
        value: u64,
        at: i64,
        expires_at: i64,
        news: fn(u64, u64) -> bool,
    ) -> bool {
        if state::get_u64(&self.key, at).is_some_and(|last| !news(last, value)) {
            return false;
        }
        match state::set_u64(&self.key, value, expires_at) {
            Ok(()) => true,
            Err(_) => {
                self.errors += 1;
                self.fallback.news(&self.key, value, at, expires_at, news)
            }
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(crate) fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The event's account as `DOMAIN\name`, unless the settings exclude it.
pub(crate) fn account_of(
    settings: &crate::settings::Settings,
    ev: &EventRef<'_>,
) -> Option<String> {
    let name = ev.user_name()?;
    if settings.account_excluded(name) {
        return None;
    }
    ev.qualified_user()
}

/// Whether the subject (who asked) of an authentication is a computer account.
pub(crate) fn subject_is_machine(ev: &EventRef<'_>) -> bool {
    ev.authentication()
        .and_then(|a| a.subject)
        .and_then(|s| ev.text(s.name))
        .is_some_and(|n| n.ends_with('$'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_markers_are_kept_in_the_guest() {
        let mut f = Fallback::default();
        // report once per window
        assert!(f.news("!cm|pth|PC01|bob", 1, 0, 100, higher));
        assert!(!f.news("!cm|pth|PC01|bob", 1, 50, 150, higher));
        assert!(f.news("!cm|pth|PC01|bob", 1, 101, 200, higher), "expired");
        // levels and doublings
        assert!(f.news("!rx|WS06|T1047", 2, 0, 100, higher));
        assert!(!f.news("!rx|WS06|T1047", 2, 1, 100, higher));
        assert!(f.news("!rx|WS06|T1047", 3, 2, 100, higher));
        assert!(f.news("!fo|a|bob", 3, 0, 100, twice));
        assert!(!f.news("!fo|a|bob", 5, 1, 100, twice));
        assert!(f.news("!fo|a|bob", 6, 2, 100, twice));
        // bounded
        for i in 0..3 * FALLBACK_MARKERS {
            f.news(&format!("k{i}"), 1, 0, 100, higher);
        }
        assert!(f.markers.len() <= FALLBACK_MARKERS);
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("aé", 2), "a");
    }
}
