//! Report-once-per-window helpers over host state, and small finding helpers shared by the
//! detections.

use yagura_sdk::prelude::*;

/// Whether `level` is higher than the level last reported under `key`; if so, records it
/// until `expires_at`. A finding is re-reported under the same dedup key only when it says
/// more than the last one.
pub(crate) fn raise_level(
    key: &str,
    level: u64,
    at: i64,
    expires_at: i64,
) -> Result<bool, state::StateError> {
    if state::get_u64(key, at).is_some_and(|last| last >= level) {
        return Ok(false);
    }
    state::set_u64(key, level, expires_at)?;
    Ok(true)
}

/// Whether `count` is at least twice the count last reported under `key` (or nothing was
/// reported yet); if so, records it until `expires_at`. Growing alerts are re-reported at
/// 3, 6, 12… targets: a handful of updates, never one per event.
pub(crate) fn doubled(
    key: &str,
    count: u64,
    at: i64,
    expires_at: i64,
) -> Result<bool, state::StateError> {
    if state::get_u64(key, at).is_some_and(|last| count < last.saturating_mul(2)) {
        return Ok(false);
    }
    state::set_u64(key, count, expires_at)?;
    Ok(true)
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
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("aé", 2), "a");
    }
}
