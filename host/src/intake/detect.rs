//! Telling formats apart: gzip by its magic bytes; the rest from the first bytes and the
//! first non-blank line.

use std::io::BufRead;

use super::Format;

/// Whether the bytes start like a gzip stream.
pub(crate) fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// The EVTX file header magic.
const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// Detects the format of `reader` without consuming it (only what `fill_buf` shows: the
/// first 64 KiB at most).
pub(crate) fn detect(reader: &mut dyn BufRead) -> Result<Format, String> {
    let head = reader.fill_buf().map_err(|e| e.to_string())?;
    if head.is_empty() {
        // nothing to read: any line format reads nothing
        return Ok(Format::Ndjson);
    }
    if head.starts_with(EVTX_MAGIC) {
        return Ok(Format::Evtx);
    }
    let text = String::from_utf8_lossy(head);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    detect_line(first)
}

/// The format of a text source from its first non-blank line.
pub(crate) fn detect_line(first: &str) -> Result<Format, String> {
    if first.starts_with("#separator") || first.starts_with("#fields") {
        return Ok(Format::ZeekConn);
    }
    if first.starts_with('<') && first[1..].chars().take_while(char::is_ascii_digit).count() > 0 {
        return Ok(Format::Syslog);
    }
    if is_bsd_syslog_time(first) || is_rfc3339_syslog(first) {
        return Ok(Format::Syslog);
    }
    if !first.starts_with('{') {
        return Err("the first line is neither JSON, a Zeek header nor syslog".to_owned());
    }
    // A long first line may be cut at the 64 KiB the detector sees: look at keys only.
    let has = |key: &str| first.contains(&format!("\"{key}\""));
    let evtx_dump = has("Event") && has("System");
    let nxlog_flat = has("EventID") && (has("Channel") || has("Hostname") || has("SourceName"));
    Ok(if evtx_dump || nxlog_flat {
        Format::WineventJson
    } else if has("winlog") || has("ecs") || has("agent") && has("@timestamp") {
        Format::Ecs
    } else if has("id.orig_h") || has("id_orig_h") || has("orig_h") && has("resp_h") {
        Format::ZeekConn
    } else if has("type_uid") || has("category_uid") || has("metadata") {
        Format::Ocsf
    } else if has("class") || has("class_uid") {
        Format::Ndjson
    } else {
        return Err("a JSON line of no known shape".to_owned());
    })
}

/// `2024-05-01T10:00:00Z host tag: …`: rsyslog's format, an RFC 3339 time in place of the
/// RFC 3164 one, without a PRI part.
fn is_rfc3339_syslog(line: &str) -> bool {
    let bytes = line.as_bytes();
    line.len() > 20
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && line.split_whitespace().nth(2).is_some()
}

/// `Jan  5 10:00:00 …`: an RFC 3164 line without a PRI part.
fn is_bsd_syslog_time(line: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bytes = line.as_bytes();
    line.len() > 15
        && MONTHS.iter().any(|m| line.starts_with(m))
        && bytes[3] == b' '
        && bytes[9] == b':'
        && bytes[12] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format_from_its_first_line() {
        let cases = [
            ("#separator \\x09", Format::ZeekConn),
            (
                "<134>1 2024-05-01T10:00:00Z fw kernel - - - IN=eth0",
                Format::Syslog,
            ),
            ("Jan  5 10:00:00 fw kernel: DROP IN=eth0", Format::Syslog),
            (
                "2024-05-01T10:00:00.123Z fw kernel: DROP IN=eth0",
                Format::Syslog,
            ),
            (
                r#"{"ts":1.0,"id":{"orig_h":"10.0.0.1","resp_h":"10.0.0.2"}}"#,
                Format::ZeekConn,
            ),
            (
                r#"{"Event":{"System":{"EventID":4624}}}"#,
                Format::WineventJson,
            ),
            (
                r#"{"EventID":4624,"Channel":"Security","Hostname":"DC"}"#,
                Format::WineventJson,
            ),
            (
                r#"{"@timestamp":"x","winlog":{"event_id":4624}}"#,
                Format::Ecs,
            ),
            (r#"{"ts":1.0,"id.orig_h":"10.0.0.1"}"#, Format::ZeekConn),
            (
                r#"{"class_uid":3002,"metadata":{"version":"1.3.0"}}"#,
                Format::Ocsf,
            ),
            (r#"{"time":1,"class":"process"}"#, Format::Ndjson),
        ];
        for (line, format) in cases {
            assert_eq!(detect_line(line), Ok(format), "{line}");
        }
        assert!(detect_line("hello").is_err());
        assert!(detect_line(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn gzip_and_evtx_by_magic() {
        assert!(is_gzip(&[0x1f, 0x8b, 8]));
        let mut evtx: &[u8] = b"ElfFile\0rest";
        assert_eq!(detect(&mut evtx), Ok(Format::Evtx));
    }
}
