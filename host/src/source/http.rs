//! The HTTP source's body decoding (`POST /v1/events`, whose route is `server/ingest.rs`):
//! gzip, JSON arrays, any format `intake` reads, with the line and reason of each rejected
//! record.

use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::{Arc, Mutex};

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
    /// it holds more events than the budget lets it grow to (the room in the tenant's queue);
    /// reading stopped there
    #[error("the body holds at least {0} events, more than there is room for")]
    OverBudget(usize),
}

/// How often (in events) the budget is asked whether the events may grow on.
const BUDGET_STEP: usize = 1024;

/// What the reader of a body met that makes the whole body unreadable, kept aside while the
/// line reader sees only an end of input (it would report a read error as one bad record).
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Option<BodyError>>>);

impl Failure {
    fn set(&self, error: BodyError) -> io::Error {
        let message = error.to_string();
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(error);
        }
        io::Error::other(message)
    }

    fn take(&self) -> Option<BodyError> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// The gzip stream of a body, undone as it is read: at most `limit` bytes come out; past
/// them, or on a broken stream, the read fails and [`Failure`] says why.
struct Gunzip<R> {
    inner: flate2::bufread::MultiGzDecoder<R>,
    left: usize,
    failure: Failure,
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // one byte more than is left: reading it means the limit is passed
        let want = buf.len().min(self.left.saturating_add(1));
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => {
                return Err(self.failure.set(BodyError::Unreadable(format!(
                    "the body is not valid gzip: {e}"
                ))));
            }
        };
        if n > self.left {
            return Err(self.failure.set(BodyError::TooLarge));
        }
        self.left -= n;
        Ok(n)
    }
}

/// Decodes a request body as it reads it: gzip undone on the fly (by its magic bytes; at most
/// `limit` bytes once undone), a JSON array read as one record per element, then parsed as
/// `format` (or the format detected from the first 64 KiB). Records that do not parse are
/// counted, the first 100 with their line. Every 1024 events, `fits(n)` is asked whether the
/// body may hold `n` events; when it answers no, reading stops with
/// [`BodyError::OverBudget`]. Memory: the raw body, the events, one 64 KiB buffer (and, for
/// a JSON array, its elements re-written as lines), never the whole body undone at once.
pub fn decode<B>(
    body: B,
    format: Format,
    limit: usize,
    fits: impl Fn(usize) -> bool,
) -> Result<Decoded, BodyError>
where
    B: AsRef<[u8]> + Send + 'static,
{
    let failure = Failure::default();
    let gzip = body.as_ref().starts_with(&[0x1f, 0x8b]);
    let raw = Cursor::new(body);
    let mut reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            Gunzip {
                inner: flate2::bufread::MultiGzDecoder::new(raw),
                left: limit,
                failure: failure.clone(),
            },
        ))
    } else {
        if raw.get_ref().as_ref().len() > limit {
            return Err(BodyError::TooLarge);
        }
        Box::new(raw)
    };
    let read_error = |e: io::Error| {
        failure
            .take()
            .unwrap_or_else(|| BodyError::Unreadable(format!("the body cannot be read: {e}")))
    };
    let (mut blank_lines, first) = skip_blank(&mut *reader).map_err(read_error)?;
    let empty = Decoded {
        format,
        events: Vec::new(),
        rejected: 0,
        errors: Vec::new(),
    };
    match first {
        None => return Ok(empty),
        Some(b'[') => {
            reader = Box::new(Cursor::new(json_array_to_lines(reader, &failure)?));
            // line numbers are the elements' positions
            blank_lines = 0;
        }
        Some(_) => {}
    }
    let (format, records) = intake::from_reader(reader, "request".into(), format).map_err(|e| {
        failure.take().unwrap_or_else(|| {
            BodyError::Unreadable(format!("the body cannot be read as events: {e}"))
        })
    })?;
    let mut parsed = Decoded { format, ..empty };
    for record in records {
        match record {
            Ok(event) => {
                parsed.events.push(event);
                let n = parsed.events.len();
                if n.is_multiple_of(BUDGET_STEP) && !fits(n) {
                    return Err(BodyError::OverBudget(n));
                }
            }
            Err(e) => {
                parsed.rejected += 1;
                if parsed.errors.len() < MAX_REPORTED_ERRORS {
                    parsed.errors.push(LineError {
                        line: e.line + blank_lines,
                        message: e.message,
                    });
                }
            }
        }
    }
    // a read that failed ended the records early: the body as a whole is refused
    if let Some(error) = failure.take() {
        return Err(error);
    }
    Ok(parsed)
}

/// Skips the blank lines a body starts with (they say nothing of its format); how many there
/// were and the first byte after them, if any.
fn skip_blank(reader: &mut dyn BufRead) -> io::Result<(u64, Option<u8>)> {
    let mut lines = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((lines, None));
        }
        // up to the start of the first line that is not blank
        let (used, first) = match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let line_start = buf[..i]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |n| n + 1);
                (line_start, Some(buf[i]))
            }
            None => (buf.len(), None),
        };
        lines += buf[..used].iter().filter(|b| **b == b'\n').count() as u64;
        reader.consume(used);
        if first.is_some() {
            return Ok((lines, first));
        }
    }
}

/// A body that is one JSON array becomes one line per element, so that line numbers are the
/// elements' positions (1-based). The elements are re-written one by one as they are read.
fn json_array_to_lines(reader: impl Read, failure: &Failure) -> Result<Vec<u8>, BodyError> {
    struct Lines<'a>(&'a mut Vec<u8>);

    impl<'de> serde::de::Visitor<'de> for Lines<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                serde_json::to_writer(&mut *self.0, &item).map_err(serde::de::Error::custom)?;
                self.0.push(b'\n');
            }
            Ok(())
        }
    }

    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_reader(reader);
    serde::Deserializer::deserialize_seq(&mut de, Lines(&mut out))
        .and_then(|()| de.end())
        .map_err(|e| {
            failure.take().unwrap_or_else(|| {
                BodyError::Unreadable(format!("the body is not a valid JSON array: {e}"))
            })
        })?;
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
        let decoded = decode(body.to_vec(), Format::Ndjson, 1 << 20, |_| true).expect("decodes");
        assert_eq!(decoded.rejected, 3);
        let lines: Vec<u64> = decoded.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 3]);
    }

    #[test]
    fn gzip_is_undone_and_its_output_counts_against_the_limit() {
        let text = b"{\"class\":\"nonsense\"}\n".repeat(100);
        let decoded =
            decode(gzip(&text), Format::Ndjson, text.len(), |_| true).expect("within the limit");
        assert_eq!(decoded.rejected, 100);
        let e = decode(gzip(&text), Format::Ndjson, text.len() - 1, |_| true)
            .expect_err("over the limit");
        assert!(matches!(e, BodyError::TooLarge), "{e}");
        let e = decode(vec![0x1f, 0x8b, 0, 1, 2], Format::Ndjson, 1 << 20, |_| true)
            .expect_err("bad gzip");
        assert!(e.to_string().contains("not valid gzip"), "{e}");
    }

    #[test]
    fn whitespace_is_no_events_and_no_error() {
        let decoded = decode(b" \n\n ".to_vec(), Format::Auto, 1 << 20, |_| true).expect("decodes");
        assert!(decoded.events.is_empty() && decoded.rejected == 0);
    }
    const SAMPLE: &str = include_str!("../../../examples/events/sample.ndjson");

    /// `n` events of the sample, one per line.
    fn events(n: usize) -> String {
        SAMPLE
            .lines()
            .cycle()
            .take(n)
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn a_gzip_body_is_undone_as_it_is_read_and_refused_whole_when_broken() {
        let text = events(500);
        let decoded =
            decode(gzip(text.as_bytes()), Format::Auto, text.len(), |_| true).expect("decodes");
        assert_eq!((decoded.events.len(), decoded.rejected), (500, 0));
        // cut short: the events read before the break are not taken, the body is refused
        let mut cut = gzip(text.as_bytes());
        cut.truncate(cut.len() / 2);
        let e = decode(cut, Format::Auto, 1 << 20, |_| true).expect_err("a broken stream");
        assert!(e.to_string().contains("not valid gzip"), "{e}");
        // over the limit half way through: 413, not a bad last line
        let e = decode(gzip(text.as_bytes()), Format::Auto, text.len() / 2, |_| {
            true
        })
        .expect_err("over the limit");
        assert!(matches!(e, BodyError::TooLarge), "{e}");
        // the same for a JSON array
        let array = format!("[{}]", text.trim_end().replace('\n', ","));
        let decoded =
            decode(gzip(array.as_bytes()), Format::Auto, 1 << 20, |_| true).expect("decodes");
        assert_eq!(decoded.events.len(), 500);
        let e = decode(
            gzip(array.as_bytes()),
            Format::Auto,
            array.len() / 2,
            |_| true,
        )
        .expect_err("over the limit");
        assert!(matches!(e, BodyError::TooLarge), "{e}");
    }

    #[test]
    fn reading_stops_once_the_events_outgrow_the_budget() {
        let text = events(5_000);
        let asked = std::sync::Mutex::new(Vec::new());
        let e = decode(text.into_bytes(), Format::Auto, 1 << 30, |n| {
            asked.lock().expect("lock").push(n);
            n <= 2_000
        })
        .expect_err("over the budget");
        assert!(matches!(e, BodyError::OverBudget(2048)), "{e}");
        assert_eq!(*asked.lock().expect("lock"), [1024, 2048], "stopped there");
        let fits = decode(events(2_000).into_bytes(), Format::Auto, 1 << 30, |n| {
            n <= 2_000
        })
        .expect("within the budget");
        assert_eq!(fits.events.len(), 2_000);
    }

    #[test]
    fn blank_lines_before_the_first_record_keep_the_line_numbers() {
        let body = format!("\n  \n\n{}not json\n", events(2));
        let decoded = decode(body.into_bytes(), Format::Auto, 1 << 20, |_| true).expect("decodes");
        assert_eq!(decoded.events.len(), 2);
        let lines: Vec<u64> = decoded.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [6]);
    }
}
