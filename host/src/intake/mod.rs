//! Intake: reading real log formats into normalized [`Event`]s.
//!
//! [`open`] reads a file (or standard input), undoes gzip, picks the format (given, or
//! detected from the content) and returns an iterator of [`Record`]s: an event, or an
//! [`IntakeError`] naming the source, the line or record, and what is wrong. Bad input is
//! normal input: an error never stops the stream.
//!
//! # Layout
//! - `common`: small helpers the adapters share (error-message pieces, DNS type names).
//! - `lines`: the line reader shared by every text format (line numbers, a length cap, UTF-8).
//! - `normalized`: Yagura's own JSON form (docs/events.md).
//! - `windows`: the Windows event model (System fields + EventData) and its mapping to events,
//!   shared by the EVTX, Windows-JSON and ECS adapters.
//! - `winjson`: Windows events as JSON: `evtx_dump` (`{"Event":{"System":…}}`) and the flat
//!   NXLog shape (`EventID`, `Channel`, `Hostname`… at top level).
//! - `ecs`: Elastic Common Schema documents (Winlogbeat, Elastic Agent).
//! - `evtx`: binary Windows EVTX files.
//! - `ocsf`: OCSF JSON events.
//! - `zeek`: Zeek `conn.log`, TSV with its header or JSON.
//! - `syslog`: firewall syslog (RFC 5424 and 3164) with netfilter key=value or CEF payloads.
//! - `detect`: telling the formats apart from the first bytes and the first record.

mod common;
mod detect;
mod ecs;
mod evtx;
mod lines;
mod normalized;
mod ocsf;
mod syslog;
mod windows;
mod winjson;
mod zeek;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::event::Event;

pub use lines::LineReader;
pub(crate) use lines::MAX_LINE_BYTES;

/// Input formats: `--format`, `?format=` of `POST /v1/events` and `format` in cases files
/// take their [`Format::name`]s (any case), and `ndjson` also as `normalized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Detect the format from the content (the default).
    Auto,
    /// Yagura's normalized events, one JSON object per line (docs/events.md).
    Ndjson,
    /// OCSF events, one JSON object per line.
    Ocsf,
    /// Binary Windows event logs (.evtx).
    Evtx,
    /// Windows events as JSON lines: `evtx_dump -o jsonl`, or the flat NXLog shape.
    WineventJson,
    /// Elastic Common Schema JSON lines (Winlogbeat, Elastic Agent).
    Ecs,
    /// Zeek conn.log, TSV with its `#fields` header or JSON lines.
    ZeekConn,
    /// Firewall syslog lines (RFC 5424 / 3164; netfilter key=value or CEF).
    Syslog,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 8] = [
        Format::Auto,
        Format::Ndjson,
        Format::Ocsf,
        Format::Evtx,
        Format::WineventJson,
        Format::Ecs,
        Format::ZeekConn,
        Format::Syslog,
    ];

    /// The name a user gives: `--format`, `?format=`, a cases file's `format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Ndjson => "ndjson",
            Format::Ocsf => "ocsf",
            Format::Evtx => "evtx",
            Format::WineventJson => "winevent-json",
            Format::Ecs => "ecs",
            Format::ZeekConn => "zeek-conn",
            Format::Syslog => "syslog",
        }
    }

    /// Other names it is taken by.
    pub(crate) fn aliases(self) -> &'static [&'static str] {
        match self {
            Format::Ndjson => &["normalized", "json"],
            _ => &[],
        }
    }

    /// One line on it, for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Format::Auto => "Detect the format from the content (the default)",
            Format::Ndjson => {
                "Yagura's normalized events, one JSON object per line (docs/events.md)"
            }
            Format::Ocsf => "OCSF events, one JSON object per line",
            Format::Evtx => "Binary Windows event logs (.evtx)",
            Format::WineventJson => {
                "Windows events as JSON lines: `evtx_dump -o jsonl`, or the flat NXLog shape"
            }
            Format::Ecs => "Elastic Common Schema JSON lines (Winlogbeat, Elastic Agent)",
            Format::ZeekConn => "Zeek conn.log, TSV with its `#fields` header or JSON lines",
            Format::Syslog => "Firewall syslog lines (RFC 5424 / 3164; netfilter key=value or CEF)",
        }
    }

    /// The label of `source.format` and of summaries and answers: the name, one name
    /// everywhere (Yagura's own events were once labelled `json`, still taken as an alias).
    pub fn as_str(self) -> &'static str {
        self.name()
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`Format::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}` (formats: {names})", names = Format::ALL.map(Format::name).join(", "))]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    /// A name or an alias, in any case.
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| {
                f.name().eq_ignore_ascii_case(s)
                    || f.aliases().iter().any(|a| a.eq_ignore_ascii_case(s))
            })
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A record that could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct IntakeError {
    /// file name, or `-` for standard input
    pub source_name: String,
    /// 1-based line number (for EVTX: the record number)
    pub line: u64,
    /// what is wrong, naming the field
    pub message: String,
    /// the offending input, cut to a few KiB, for the dead-letter file
    pub raw: Option<String>,
}

/// What one record of input turned into.
pub type Record = Result<Event, IntakeError>;

/// One line of a text format into zero or one event. `Ok(None)` is a line that carries no
/// event (a header, a comment, an event type the adapter does not map) and is not an error.
pub trait LineAdapter: Send {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String>;
}

/// An iterator of records from one source.
pub type Records = Box<dyn Iterator<Item = Record> + Send>;

/// Syslog messages a listener received at `received` (ms since the epoch): a message without
/// a time of its own gets it, or is refused when `received` is None.
pub(crate) fn syslog_records<R: BufRead>(
    reader: R,
    name: &str,
    received: Option<i64>,
) -> impl Iterator<Item = Record> {
    LineReader::new(
        reader,
        name,
        syslog::Syslog::default().received_at(received),
    )
}

/// Opens `path` (`-`: standard input) as `format`, undoing gzip, and returns its records.
/// With [`Format::Auto`] the format is detected from the content; an undetectable source is
/// an error naming the file.
pub fn open(path: &Path, format: Format) -> io::Result<(Format, Records)> {
    let name = path.display().to_string();
    let raw: Box<dyn Read + Send> = if name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut reader = BufReader::with_capacity(1 << 16, raw);
    let reader: Box<dyn BufRead + Send> = if detect::is_gzip(reader.fill_buf()?) {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    from_reader(reader, name, format)
}

/// As [`open`], for any reader (already decompressed).
pub fn from_reader(
    mut reader: Box<dyn BufRead + Send>,
    name: String,
    format: Format,
) -> io::Result<(Format, Records)> {
    let format = match format {
        Format::Auto => detect::detect(&mut reader).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "cannot tell the format ({why}); name it (`?format=` over the API, \
                     `--format` on the command line)"
                ),
            )
        })?,
        given => given,
    };
    let records: Records = match format {
        Format::Evtx => evtx::records(reader, name)?,
        Format::Auto | Format::Ndjson => {
            Box::new(LineReader::new(reader, name, normalized::Normalized))
        }
        Format::Ocsf => Box::new(LineReader::new(reader, name, ocsf::Ocsf)),
        Format::WineventJson => Box::new(LineReader::new(reader, name, winjson::WinJson)),
        Format::Ecs => Box::new(LineReader::new(reader, name, ecs::Ecs)),
        Format::ZeekConn => Box::new(LineReader::new(reader, name, zeek::ZeekConn::default())),
        Format::Syslog => Box::new(LineReader::new(reader, name, syslog::Syslog::default())),
    };
    Ok((format, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_read_back_in_any_case_and_by_alias() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
            assert_eq!(
                format.to_string().to_uppercase().parse::<Format>(),
                Ok(format)
            );
        }
        assert_eq!("normalized".parse::<Format>(), Ok(Format::Ndjson));
        let unknown = "csv".parse::<Format>().expect_err("not a format");
        assert_eq!(
            unknown.to_string(),
            "unknown format `csv` (formats: auto, ndjson, ocsf, evtx, winevent-json, ecs, \
             zeek-conn, syslog)"
        );
    }
}
