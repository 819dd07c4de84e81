//! The HTTP source's body decoding (`POST /v1/events`, whose route is `server/ingest.rs`):
//! gzip, JSON arrays, any format `intake` reads, with the line and reason of each rejected
//! record.

use std::io::{BufRead, Cursor, Read};

use serde::Serialize;

use crate::event::Event;
use crate::intake::{self, Format};

/// Rejected records reported in the answer; past this, only counted.
const MAX_REPORTED_ERRORS: usize = 100;

/// A record that did not parse.
#[derive(Debug, Serialize)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

/// A decoded body.
#[derive(Debug)]
pub struct Decoded {
    /// the format read (detected, if `auto` was asked)
    pub format: Format,
    pub events: Vec<Event>,
    pub rejected: u64,
    /// the first rejected records
    pub errors: Vec<LineError>,
}

/// Why a body could not be decoded at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// over the limit once gzip is undone
    #[error("the body is larger than the limit once gzip is undone")]
    TooLarge,
    /// not gzip, not a JSON array, or no format reads it
    #[error("{0}")]
    Unreadable(String),
}

/// Decodes a request body: gzip undone (by its magic bytes; at most `limit` bytes once
/// undone), a JSON array read as one record per element, then parsed as `format` (or the
/// format detected). Records that do not parse are counted, the first 100 with their line.
pub fn decode(bytes: Vec<u8>, format: Format, limit: usize) -> Result<Decoded, BodyError> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(Cursor::new(bytes))
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| BodyError::Unreadable(format!("the body is not valid gzip: {e}")))?;
        if out.len() > limit {
            return Err(BodyError::TooLarge);
        }
        out
    } else {
        bytes
    };
    let bytes = json_array_to_lines(bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Decoded {
            format,
            events: Vec::new(),
            rejected: 0,
            errors: Vec::new(),
        });
    }
    let reader: Box<dyn BufRead + Send> = Box::new(Cursor::new(bytes));
    let (format, records) = intake::from_reader(reader, "request".into(), format)
        .map_err(|e| BodyError::Unreadable(format!("the body cannot be read as events: {e}")))?;
    let mut parsed = Decoded {
        format,
        events: Vec::new(),
        rejected: 0,
        errors: Vec::new(),
    };
    for record in records {
        match record {
            Ok(event) => parsed.events.push(event),
            Err(e) => {
                parsed.rejected += 1;
                if parsed.errors.len() < MAX_REPORTED_ERRORS {
                    parsed.errors.push(LineError {
                        line: e.line,
                        message: e.message,
                    });
                }
            }
        }
    }
    Ok(parsed)
}

/// A body that is one JSON array becomes one line per element, so that line numbers are the
/// elements' positions (1-based).
fn json_array_to_lines(bytes: Vec<u8>) -> Result<Vec<u8>, BodyError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return Ok(bytes);
    }
    let items: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| BodyError::Unreadable(format!("the body is not a valid JSON array: {e}")))?;
    let mut out = Vec::with_capacity(bytes.len());
    for item in items {
        serde_json::to_writer(&mut out, &item)
            .map_err(|e| BodyError::Unreadable(format!("a JSON array element: {e}")))?;
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).expect("gzip");
        enc.finish().expect("gzip")
    }

    #[test]
    fn a_json_array_is_one_record_per_element_numbered_by_position() {
        let body = br#"[{"class":"nonsense"}, "not an object", {"class":"nonsense"}]"#;
        let decoded = decode(body.to_vec(), Format::Ndjson, 1 << 20).expect("decodes");
        assert_eq!(decoded.rejected, 3);
        let lines: Vec<u64> = decoded.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 3]);
    }

    #[test]
    fn gzip_is_undone_and_its_output_counts_against_the_limit() {
        let text = b"{\"class\":\"nonsense\"}\n".repeat(100);
        let decoded = decode(gzip(&text), Format::Ndjson, text.len()).expect("within the limit");
        assert_eq!(decoded.rejected, 100);
        let e = decode(gzip(&text), Format::Ndjson, text.len() - 1).expect_err("over the limit");
        assert!(matches!(e, BodyError::TooLarge), "{e}");
        let e = decode(vec![0x1f, 0x8b, 0, 1, 2], Format::Ndjson, 1 << 20).expect_err("bad gzip");
        assert!(e.to_string().contains("not valid gzip"), "{e}");
    }

    #[test]
    fn whitespace_is_no_events_and_no_error() {
        let decoded = decode(b" \n\n ".to_vec(), Format::Auto, 1 << 20).expect("decodes");
        assert!(decoded.events.is_empty() && decoded.rejected == 0);
    }
}
