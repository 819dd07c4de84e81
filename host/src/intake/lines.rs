//! The line reader every text format shares: line numbers, a cap on line length, UTF-8, and
//! an adapter that turns a line into an event.

use std::io::{self, BufRead};

use super::{IntakeError, LineAdapter, Record};

/// The longest line accepted; longer lines are rejected (and skipped) without being buffered.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// Bytes of an offending line kept for the dead-letter file.
const RAW_KEPT: usize = 4096;

/// Reads lines and hands each non-blank one to an adapter.
pub struct LineReader<R, A> {
    reader: R,
    name: String,
    adapter: A,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead, A: LineAdapter> LineReader<R, A> {
    pub fn new(reader: R, name: impl Into<String>, adapter: A) -> Self {
        LineReader {
            reader,
            name: name.into(),
            adapter,
            line: 0,
            buf: Vec::with_capacity(4096),
            done: false,
        }
    }

    fn error(&self, message: impl Into<String>, raw: Option<&[u8]>) -> IntakeError {
        IntakeError {
            source_name: self.name.clone(),
            line: self.line,
            message: message.into(),
            raw: raw.map(|r| String::from_utf8_lossy(&r[..r.len().min(RAW_KEPT)]).into_owned()),
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

impl<R: BufRead, A: LineAdapter> Iterator for LineReader<R, A> {
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
                    return Some(Err(self.error(format!("read error: {e}"), None)));
                }
            };
            self.line += 1;
            if too_long {
                return Some(Err(self.error(
                    format!("line longer than {MAX_LINE_BYTES} bytes, skipped"),
                    None,
                )));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(text) => text.trim(),
                Err(e) => {
                    return Some(Err(self.error(format!("not UTF-8: {e}"), Some(&self.buf))));
                }
            };
            if text.is_empty() {
                continue;
            }
            match self.adapter.parse(text) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => continue,
                Err(message) => {
                    let raw = self.buf.clone();
                    return Some(Err(self.error(message, Some(raw.trim_ascii()))));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::normalized::Normalized;

    fn read(text: &str) -> Vec<Record> {
        LineReader::new(text.as_bytes(), "t.ndjson", Normalized).collect()
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
        assert!(e.to_string().starts_with("t.ndjson:3: "), "{e}");
        assert_eq!(e.raw.as_deref(), Some("not json"));
        let e = records[2].as_ref().expect_err("line 4");
        assert_eq!(e.line, 4);
        assert!(e.message.starts_with("field `process.pid`:"), "{e}");
        let last = records[3].as_ref().expect("line 5 without newline");
        assert_eq!(last.source.format, "ndjson");
    }

    #[test]
    fn overlong_and_non_utf8_lines_do_not_stop_reading() {
        let mut text = "x".repeat(MAX_LINE_BYTES + 10).into_bytes();
        text.push(b'\n');
        text.extend_from_slice(b"\xff\xfe\n{\"time\":1,\"class\":\"dns\"}\n");
        let records: Vec<Record> = LineReader::new(&text[..], "big", Normalized).collect();
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
