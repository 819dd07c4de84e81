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

/// Lines for the adapters' no-panic tests: sample lines cut at random places, spliced with
/// random pieces of the format's syntax (a fixed seed, so a failure reproduces).
#[cfg(test)]
pub(crate) fn garbage_lines(samples: &[&str], pieces: &[&str], count: usize) -> Vec<String> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..count)
        .map(|_| {
            let mut line = String::new();
            if next() % 2 == 0 && !samples.is_empty() {
                let sample = samples[(next() % samples.len() as u64) as usize];
                let cut = sample
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth((next() % 300) as usize)
                    .unwrap_or(sample.len());
                line.push_str(&sample[..cut]);
            }
            for _ in 0..next() % 12 {
                line.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            line
        })
        .collect()
}
