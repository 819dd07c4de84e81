//! Small helpers the adapters share: error-message pieces and lookups.

use std::borrow::Cow;

/// `SPT: not a port: "x"`: a field, what it should be, and the value (cut).
pub(crate) fn bad(key: &str, what: &str, value: &str) -> String {
    format!("{key}: {what}: {:?}", cut(value))
}

/// At most 64 characters of a value, for messages.
pub(crate) fn cut(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(64) {
        Some((i, _)) => Cow::Owned(format!("{}…", &value[..i])),
        None => Cow::Borrowed(value),
    }
}

/// DNS query type names to their numbers.
pub(crate) fn dns_type(name: &str) -> Option<u16> {
    Some(match name.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "HTTPS" => 65,
        "ANY" => 255,
        other => return other.parse().ok(),
    })
}
