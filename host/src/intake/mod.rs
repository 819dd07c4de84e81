//! Intake: reading events from files and streams into [`Event`]s.
//!
//! Bad input is normal input: a line that is not a valid event becomes an [`IntakeError`]
//! naming the source, the line and the field, and reading goes on with the next line.
//! For now the one format is normalized-event NDJSON (docs/events.md); adapters for real log
//! formats plug in here.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::event::{Event, parse_event};

/// The longest line accepted; longer lines are rejected (and skipped) without being buffered.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Input formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Normalized events, one JSON object per line (docs/events.md).
    Ndjson,
}

/// A record that could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct IntakeError {
    /// file name, or `-` for standard input
    pub source_name: String,
    /// 1-based line number
    pub line: u64,
    /// what is wrong, naming the field
    pub message: String,
}

/// What one record of input turned into.
pub type Record = Result<Event, IntakeError>;

/// Reads NDJSON events from any reader, line by line. Blank lines are skipped; the source
/// format is recorded as `json` where the line did not name one.
pub struct NdjsonReader<R> {
    reader: R,
    name: String,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl NdjsonReader<BufReader<Box<dyn Read + Send>>> {
    /// Opens a file, or standard input for `-`.
    pub fn open(path: &Path) -> io::Result<Self> {
        let name = path.display().to_string();
        let inner: Box<dyn Read + Send> = if name == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path)?)
        };
        Ok(NdjsonReader::new(
            BufReader::with_capacity(1 << 16, inner),
            name,
        ))
    }
}

impl<R: BufRead> NdjsonReader<R> {
    pub fn new(reader: R, name: impl Into<String>) -> Self {
        NdjsonReader {
            reader,
            name: name.into(),
            line: 0,
            buf: Vec::with_capacity(4096),
            done: false,
        }
    }

    fn error(&self, message: impl Into<String>) -> IntakeError {
        IntakeError {
            source_name: self.name.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// Reads one line into `buf`, up to `MAX_LINE_BYTES`; returns whether it was cut.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let mut too_long = false;
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(if self.buf.is_empty() && !too_long {
                    None
                } else {
                    Some(too_long)
                });
            }
            let (chunk, found_newline) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..=i], true),
                None => (available, false),
            };
            let used = chunk.len();
            if !too_long {
                if self.buf.len() + used > MAX_LINE_BYTES {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.reader.consume(used);
            if found_newline {
                return Ok(Some(too_long));
            }
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        while !self.done {
            let too_long = match self.read_line() {
                Ok(Some(too_long)) => too_long,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    self.line += 1;
                    return Some(Err(self.error(format!("read error: {e}"))));
                }
            };
            self.line += 1;
            if too_long {
                return Some(Err(
                    self.error(format!("line longer than {MAX_LINE_BYTES} bytes, skipped"))
                ));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(text) => text.trim(),
                Err(e) => return Some(Err(self.error(format!("not UTF-8: {e}")))),
            };
            if text.is_empty() {
                continue;
            }
            return Some(match parse_event(text) {
                Ok(mut event) => {
                    if event.source.format.is_empty() {
                        event.source.format = "json".to_owned();
                    }
                    Ok(event)
                }
                Err(e) => Err(self.error(e.to_string())),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Record> {
        NdjsonReader::new(text.as_bytes(), "t.ndjson").collect()
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_skipped() {
        let records = read(concat!(
            "{\"time\":1,\"class\":\"process\"}\n",
            "\n",
            "not json\n",
            "{\"time\":2,\"class\":\"process\",\"process\":{\"pid\":-1}}\n",
            "{\"time\":3,\"class\":\"network\"}",
        ));
        assert_eq!(records.len(), 4);
        assert!(records[0].is_ok());
        let e = records[1].as_ref().expect_err("line 3");
        assert_eq!((e.line, e.source_name.as_str()), (3, "t.ndjson"));
        assert!(e.to_string().starts_with("t.ndjson:3: expected "), "{e}");
        let e = records[2].as_ref().expect_err("line 4");
        assert_eq!(e.line, 4);
        assert!(e.message.starts_with("field `process.pid`:"), "{e}");
        let last = records[3].as_ref().expect("line 5 without newline");
        assert_eq!(last.source.format, "json");
    }

    #[test]
    fn overlong_and_non_utf8_lines_do_not_stop_reading() {
        let mut text = "x".repeat(MAX_LINE_BYTES + 10).into_bytes();
        text.push(b'\n');
        text.extend_from_slice(b"\xff\xfe\n{\"time\":1,\"class\":\"dns\"}\n");
        let records: Vec<Record> = NdjsonReader::new(&text[..], "big").collect();
        assert_eq!(records.len(), 3);
        assert!(
            records[0]
                .as_ref()
                .expect_err("too long")
                .message
                .contains("longer than")
        );
        assert!(
            records[1]
                .as_ref()
                .expect_err("utf8")
                .message
                .contains("not UTF-8")
        );
        assert!(records[2].is_ok());
    }
}
