//! Binary Windows event logs (.evtx), read with the `evtx` crate.
//!
//! The input is a stream (a file, standard input, a gunzipped file), and EVTX needs seeking,
//! so the whole log is read into memory first, up to [`MAX_EVTX_BYTES`]. Chunks are then
//! parsed one at a time, in record order, each record rendered to the `evtx_dump` JSON shape
//! and mapped by [`super::winjson::event_from_dump`]. A chunk or record the parser cannot read
//! is an [`IntakeError`] naming the record (or the chunk) and reading goes on. A panic inside
//! the parser on hostile input is caught and reported the same way: the rest of that chunk is
//! skipped, the next chunk is read.

use std::any::Any;
use std::collections::VecDeque;
use std::io::{self, BufRead, Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};

use super::{IntakeError, Record, Records};
use crate::event::Event;

/// The largest EVTX input read (1 GiB). Windows logs default to 20 MiB and rarely exceed a few
/// hundred; a larger input is refused rather than held in memory.
pub(crate) const MAX_EVTX_BYTES: u64 = 1 << 30;

/// Bytes of a record's JSON kept for the dead-letter file.
const RAW_KEPT: usize = 4096;

/// The EVTX layout: a file header block, then chunks of a fixed size.
const FILE_HEADER_BYTES: usize = 4096;
const CHUNK_BYTES: usize = 65536;

/// Reads `reader` to its end as one EVTX log and returns its records.
pub fn records(reader: Box<dyn BufRead + Send>, name: String) -> io::Result<Records> {
    let buffer = read_capped(reader, MAX_EVTX_BYTES, &name)?;
    Ok(Box::new(EvtxRecords::new(
        buffer,
        name,
        super::winjson::event_from_dump,
    )?))
}

/// Reads `reader` to its end, refusing more than `cap` bytes.
fn read_capped(reader: impl Read, cap: u64, name: &str) -> io::Result<Vec<u8>> {
    let mut buffer = Vec::new();
    reader.take(cap + 1).read_to_end(&mut buffer)?;
    if buffer.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{name}: EVTX input larger than the {cap}-byte limit; split the log (wevtutil \
                 epl with a query) or export it as JSON lines"
            ),
        ));
    }
    Ok(buffer)
}

/// Maps one record, in the `evtx_dump` JSON shape, to an event (`None`: not one we map).
type ToEvent = fn(&serde_json::Value) -> Result<Option<Event>, String>;

/// The records of one EVTX log, one chunk at a time.
struct EvtxRecords {
    /// `None` once the chunks are exhausted or the chunk walk itself failed.
    chunks: Option<IntoIterChunks<Cursor<Vec<u8>>>>,
    settings: Arc<ParserSettings>,
    name: String,
    /// Records of the current chunk not yet handed out.
    pending: VecDeque<Record>,
    /// The last record id read, to place errors that carry none.
    last_id: u64,
    to_event: ToEvent,
    /// Damage found in the file's layout, reported after its records.
    damage: Vec<String>,
}

impl EvtxRecords {
    fn new(mut buffer: Vec<u8>, name: String, to_event: ToEvent) -> io::Result<Self> {
        let invalid = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name}: not a readable EVTX file: {why}"),
            )
        };
        // The parser ignores a partial last chunk. Padded with zeros, its records before the
        // cut are read, and the cut is reported.
        let tail = buffer.len().saturating_sub(FILE_HEADER_BYTES) % CHUNK_BYTES;
        let whole_chunks = buffer.len().saturating_sub(FILE_HEADER_BYTES) / CHUNK_BYTES;
        if buffer.len() > FILE_HEADER_BYTES && tail != 0 {
            buffer.resize(buffer.len() + CHUNK_BYTES - tail, 0);
        }
        let parser = catch_unwind(move || EvtxParser::from_buffer(buffer))
            .map_err(|panic| invalid(format!("the parser panicked: {}", panic_text(&panic))))?
            .map_err(|e| invalid(error_chain(&e)))?;
        // evtx_dump's defaults (checksums not enforced, attributes under `#attributes`), so
        // the JSON matches what `evtx_dump -o jsonl` writes; no indenting, nobody reads it.
        let settings = Arc::new(ParserSettings::new().indent(false));
        // The header's count lags behind in a log copied while open, so only more chunks than
        // the file holds is damage.
        let chunks_named = usize::from(parser.header().chunk_count);
        let mut damage = Vec::new();
        if tail != 0 {
            damage.push(format!(
                "the file ends {tail} bytes into chunk {whole_chunks} (of {CHUNK_BYTES}; the \
                 header names {chunks_named} chunks): truncated, records past the cut are lost"
            ));
        } else if chunks_named > whole_chunks {
            damage.push(format!(
                "the file header names {chunks_named} chunks, the file holds {whole_chunks}: \
                 truncated, the missing chunks' records are lost"
            ));
        }
        let parser = parser.with_configuration((*settings).clone());
        Ok(EvtxRecords {
            chunks: Some(parser.into_chunks()),
            settings,
            name,
            pending: VecDeque::new(),
            last_id: 0,
            to_event,
            damage,
        })
    }

    /// Where an error without a record id goes: after the last record read. Record ids come
    /// from the file, so the last one may be `u64::MAX`.
    fn next_line(&self) -> u64 {
        self.last_id.saturating_add(1)
    }

    fn error(&self, line: u64, message: String, raw: Option<String>) -> IntakeError {
        IntakeError {
            source_name: self.name.clone(),
            line,
            message,
            raw,
        }
    }

    /// Reads the next chunk into `pending`; false when there is none left.
    fn fill(&mut self) -> bool {
        let Some(chunks) = self.chunks.as_mut() else {
            return false;
        };
        let next = match catch_unwind(AssertUnwindSafe(|| chunks.next())) {
            Ok(next) => next,
            Err(panic) => {
                // The walk's own state is suspect after a panic: stop this file.
                self.chunks = None;
                let message = format!(
                    "the EVTX parser panicked finding the next chunk ({}); the rest of the file \
                     is skipped",
                    panic_text(&panic)
                );
                let error = self.error(self.next_line(), message, None);
                self.pending.push_back(Err(error));
                self.report_damage();
                return true;
            }
        };
        match next {
            None => {
                self.chunks = None;
                self.report_damage();
                !self.pending.is_empty()
            }
            Some(Err(e)) => {
                let message = format!("{}; its records are skipped", error_chain(&e));
                let error = self.error(self.next_line(), message, None);
                self.pending.push_back(Err(error));
                true
            }
            Some(Ok(mut chunk)) => {
                self.read_chunk(&mut chunk);
                true
            }
        }
    }

    /// Queues the layout damage found when opening, once the chunks are done.
    fn report_damage(&mut self) {
        let line = self.next_line();
        for message in std::mem::take(&mut self.damage) {
            let error = self.error(line, message, None);
            self.pending.push_back(Err(error));
        }
    }

    /// Renders every record of `chunk` into `pending`.
    fn read_chunk(&mut self, chunk_data: &mut EvtxChunkData) {
        let number = chunk_data.number.unwrap_or_default();
        let settings = Arc::clone(&self.settings);
        let parsed = catch_unwind(AssertUnwindSafe(|| chunk_data.parse(settings)));
        let mut chunk = match parsed {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                let message = format!(
                    "chunk {number}: {}; its records are skipped",
                    error_chain(&e)
                );
                let error = self.error(self.next_line(), message, None);
                self.pending.push_back(Err(error));
                return;
            }
            Err(panic) => {
                let message = format!(
                    "chunk {number}: the EVTX parser panicked ({}); its records are skipped",
                    panic_text(&panic)
                );
                let error = self.error(self.next_line(), message, None);
                self.pending.push_back(Err(error));
                return;
            }
        };
        let mut iter = chunk.iter();
        loop {
            let next = catch_unwind(AssertUnwindSafe(|| {
                iter.next()
                    .map(|record| record.and_then(|record| record.into_json_value()))
            }));
            let record = match next {
                Ok(None) => break,
                Ok(Some(record)) => record,
                Err(panic) => {
                    // The iterator may be half-way through a record: leave the chunk.
                    let message = format!(
                        "chunk {number}: the EVTX parser panicked after record {} ({}); the rest \
                         of the chunk is skipped",
                        self.last_id,
                        panic_text(&panic)
                    );
                    let error = self.error(self.next_line(), message, None);
                    self.pending.push_back(Err(error));
                    break;
                }
            };
            let out = match record {
                Ok(record) => {
                    self.last_id = record.event_record_id;
                    self.to_record(record.event_record_id, &record.data)
                }
                Err(e) => {
                    let line = match &e {
                        evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => *record_id,
                        _ => self.next_line(),
                    };
                    self.last_id = line;
                    let message = format!("chunk {number}: {}", error_chain(&e));
                    Some(Err(self.error(line, message, None)))
                }
            };
            self.pending.extend(out);
        }
    }

    /// One rendered record into an event (none for a record the mapping leaves out).
    fn to_record(&self, record_id: u64, value: &serde_json::Value) -> Option<Record> {
        match (self.to_event)(value) {
            Ok(Some(mut event)) => {
                event.source.format = "evtx".to_owned();
                event.source.record_id.get_or_insert(record_id);
                Some(Ok(event))
            }
            Ok(None) => None,
            Err(message) => {
                let mut raw = value.to_string();
                if raw.len() > RAW_KEPT {
                    let mut cut = RAW_KEPT;
                    while !raw.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    raw.truncate(cut);
                }
                Some(Err(self.error(record_id, message, Some(raw))))
            }
        }
    }
}

impl Iterator for EvtxRecords {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                return Some(record);
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

/// An error and its causes, `: `-separated (the crate's top-level messages are vague).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    let parts: Vec<&str> = parts.iter().map(|p| p.trim_end_matches('.')).collect();
    parts.join(": ")
}

/// The message of a caught panic.
fn panic_text(panic: &Box<dyn Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "no message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Committed CC0 samples (tests/data/evtx/README.md) and their record counts.
    const CC0: &[(&str, usize)] = &[
        ("powershell_payload_download_no_office.evtx", 3),
        ("sysmon_psexec_as_system.evtx", 15),
        ("system_7045_mass_service_install_tchopper.evtx", 733),
    ];
    const CC0_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/evtx");

    /// GPL samples, read from ../shared only (never copied), and their record counts.
    const GPL: &[(&str, usize)] = &[
        ("LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx", 6),
        ("LM_5145_Remote_FileCopy.evtx", 869),
        ("LM_PowershellRemoting_sysmon_1_wsmprovhost.evtx", 1),
        ("LM_Remote_Service02_7045.evtx", 3),
        ("LM_WMIC_4648_rpcss.evtx", 5),
        ("LM_WMI_4624_4688_TargetHost.evtx", 8),
        ("LM_renamed_psexecsvc_5145.evtx", 22),
        ("LM_sysmon_psexec_smb_meterpreter.evtx", 10),
        ("LM_wmiexec_impacket_sysmon_whoami.evtx", 7),
    ];
    const GPL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/evtx");

    /// A mapping that keeps every record and checks only its shape, so the reader is tested
    /// on its own.
    fn every_record(value: &serde_json::Value) -> Result<Option<Event>, String> {
        if value.pointer("/Event/System").is_none() {
            return Err(format!("no Event.System in {value}"));
        }
        Ok(Some(Event::default()))
    }

    fn read_bytes(bytes: Vec<u8>, name: &str, to_event: ToEvent) -> io::Result<Vec<Record>> {
        Ok(EvtxRecords::new(bytes, name.to_owned(), to_event)?.collect())
    }

    fn read_file(dir: &str, file: &str, to_event: ToEvent) -> Vec<Record> {
        let path = format!("{dir}/{file}");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        read_bytes(bytes, file, to_event).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn assert_reads_cleanly(dir: &str, files: &[(&str, usize)]) {
        for (file, count) in files {
            let records = read_file(dir, file, every_record);
            let errors: Vec<String> = records
                .iter()
                .filter_map(|r| r.as_ref().err().map(ToString::to_string))
                .collect();
            assert!(errors.is_empty(), "{file}: {errors:?}");
            assert_eq!(records.len(), *count, "{file}: record count");
            for record in records.iter().flatten() {
                assert_eq!(record.source.format, "evtx");
                assert!(record.source.record_id.is_some(), "{file}: record id");
            }
        }
    }

    #[test]
    fn cc0_samples_read_every_record() {
        assert_reads_cleanly(CC0_DIR, CC0);
    }

    #[test]
    fn gpl_samples_from_shared_read_every_record() {
        if !std::path::Path::new(GPL_DIR).is_dir() {
            println!("skipped: {GPL_DIR} is absent (GPL samples are not in the repository)");
            return;
        }
        assert_reads_cleanly(GPL_DIR, GPL);
    }

    /// With the real Windows mapping, every record of a sample is an event.
    fn assert_maps_every_record(dir: &str, files: &[(&str, usize)]) {
        for (file, count) in files {
            let records = read_file(dir, file, super::super::winjson::event_from_dump);
            let errors: Vec<String> = records
                .iter()
                .filter_map(|r| r.as_ref().err().map(ToString::to_string))
                .collect();
            assert!(errors.is_empty(), "{file}: {errors:?}");
            assert_eq!(records.len(), *count, "{file}: event count");
            for event in records.iter().flatten() {
                assert_eq!(event.source.format, "evtx", "{file}");
                assert!(event.source.record_id.is_some(), "{file}: record id");
                assert!(
                    event.time > 1_400_000_000_000,
                    "{file}: time {}",
                    event.time
                );
            }
        }
    }

    #[test]
    fn cc0_samples_map_every_record_to_an_event() {
        assert_maps_every_record(CC0_DIR, CC0);
        // the dataset's own label: 244 remote service installs
        let (file, _) = CC0[2];
        let installs = read_file(CC0_DIR, file, super::super::winjson::event_from_dump)
            .into_iter()
            .flatten()
            .filter(|e| e.class == crate::event::EventClass::Job && e.source.code == Some(7045))
            .count();
        assert_eq!(installs, 244);
    }

    #[test]
    fn gpl_samples_from_shared_map_every_record_to_an_event() {
        if !std::path::Path::new(GPL_DIR).is_dir() {
            println!("skipped: {GPL_DIR} is absent (GPL samples are not in the repository)");
            return;
        }
        assert_maps_every_record(GPL_DIR, GPL);
    }

    #[test]
    fn mapping_errors_name_the_record_and_keep_its_json() {
        fn refuse(_: &serde_json::Value) -> Result<Option<Event>, String> {
            Err("field `Event.System.EventID`: refused".to_owned())
        }
        let (file, count) = CC0[1];
        let records = read_file(CC0_DIR, file, refuse);
        assert_eq!(records.len(), count);
        for (i, record) in records.iter().enumerate() {
            let e = record.as_ref().expect_err("refused");
            assert_eq!(e.line, i as u64 + 1, "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("{file}:{}: field", i + 1)),
                "{e}"
            );
            let raw = e.raw.as_deref().unwrap_or_default();
            assert!(raw.starts_with("{\"Event\""), "{raw}");
            assert!(raw.len() <= RAW_KEPT);
        }
    }

    #[test]
    fn through_open_with_the_format_detected() {
        let path = std::path::PathBuf::from(CC0_DIR).join(CC0[0].0);
        let (format, records) =
            super::super::open(&path, super::super::Format::Auto).expect("an EVTX sample opens");
        assert_eq!(format, super::super::Format::Evtx);
        assert_eq!(records.filter(Result::is_ok).count(), CC0[0].1);
    }

    #[test]
    fn not_evtx_is_an_error_naming_the_source() {
        let e =
            read_bytes(b"{\"time\":1}\n".to_vec(), "x.json", every_record).expect_err("not EVTX");
        assert!(
            e.to_string()
                .starts_with("x.json: not a readable EVTX file"),
            "{e}"
        );
        let e = read_bytes(Vec::new(), "empty.evtx", every_record).expect_err("empty");
        assert!(e.to_string().starts_with("empty.evtx: "), "{e}");
    }

    #[test]
    fn input_over_the_cap_is_refused() {
        let e = read_capped(&[0u8; 100][..], 99, "big.evtx").expect_err("over the cap");
        assert!(
            e.to_string().contains("larger than the 99-byte limit"),
            "{e}"
        );
        assert_eq!(
            read_capped(&[0u8; 99][..], 99, "ok").map(|b| b.len()).ok(),
            Some(99)
        );
    }

    /// Reads a damaged log and checks that every error names the file and a record.
    fn read_damaged(bytes: Vec<u8>, what: &str) -> (usize, usize) {
        match read_bytes(bytes, "bad.evtx", every_record) {
            Err(e) => {
                assert!(e.to_string().starts_with("bad.evtx: "), "{what}: {e}");
                (0, 0)
            }
            Ok(records) => {
                let mut errors = 0;
                for record in &records {
                    if let Err(e) = record {
                        assert_eq!(e.source_name, "bad.evtx", "{what}");
                        assert!(!e.message.is_empty(), "{what}");
                        errors += 1;
                    }
                }
                (records.len() - errors, errors)
            }
        }
    }

    #[test]
    fn truncated_logs_give_errors_not_panics() {
        for (file, count) in CC0 {
            let bytes = std::fs::read(format!("{CC0_DIR}/{file}")).expect("CC0 sample");
            let chunk = 4096 + 65536;
            for cut in [
                0,
                100,
                4095,
                4096,
                4096 + 600,
                chunk / 2,
                chunk - 1,
                chunk + 1000,
            ] {
                let cut = cut.min(bytes.len());
                let (ok, errors) =
                    read_damaged(bytes[..cut].to_vec(), &format!("{file} cut at {cut}"));
                assert!(ok <= *count, "{file} cut at {cut}");
                if cut > 4096 && cut < bytes.len() {
                    assert!(errors > 0, "{file} cut at {cut}: the cut is reported");
                }
            }
        }
    }

    #[test]
    fn a_cut_inside_a_chunk_keeps_the_records_before_it() {
        let (file, _) = CC0[2];
        let bytes = std::fs::read(format!("{CC0_DIR}/{file}")).expect("CC0 sample");
        let records = read_bytes(bytes[..100_000].to_vec(), "cut.evtx", every_record)
            .expect("a cut log opens");
        let (events, errors): (Vec<_>, Vec<_>) = records.into_iter().partition(Result::is_ok);
        // chunk 0 whole, chunk 1 up to its 30,368th byte
        assert_eq!(events.len(), 140);
        let messages: Vec<String> = errors
            .iter()
            .filter_map(|e| e.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            messages,
            [
                "cut.evtx:141: the file ends 30368 bytes into chunk 1 (of 65536; the header names 8 \
              chunks): truncated, records past the cut are lost"
            ]
        );
    }

    #[test]
    fn bit_flipped_logs_give_errors_not_panics() {
        // xorshift: the same damage on every run
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (file, _) in CC0 {
            let clean = std::fs::read(format!("{CC0_DIR}/{file}")).expect("CC0 sample");
            for round in 0..60 {
                let mut bytes = clean.clone();
                let flips = 1 + next() % 64;
                for _ in 0..flips {
                    // mostly in the first chunk, where the records and templates are
                    let span = if round % 3 == 0 {
                        bytes.len()
                    } else {
                        4096 + 65536
                    };
                    let at = (next() % span as u64) as usize;
                    bytes[at] ^= 1 << (next() % 8);
                }
                read_damaged(bytes, &format!("{file} round {round}"));
            }
        }
    }

    #[test]
    fn a_record_id_of_u64_max_does_not_overflow_the_next_line() {
        // Found by fuzzing (fuzz/, target `evtx`): errors with no record id of their own go
        // to the line after the last record's id, which comes from the file.
        let (file, _) = CC0[1];
        let mut bytes = std::fs::read(format!("{CC0_DIR}/{file}")).expect("CC0 sample");
        // the last record of the one chunk gets id u64::MAX (record: `**\0\0`, size, id)
        let chunk = 4096;
        let mut at = chunk + 512;
        let mut last = at;
        while bytes[at..at + 4] == *b"**\0\0" {
            last = at;
            let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
            at += size as usize;
        }
        bytes[last + 8..last + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        bytes[chunk + 16..chunk + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        bytes[chunk + 32..chunk + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        // and the file header names a second chunk the file does not hold: damage, reported
        // after the last record
        bytes[42..44].copy_from_slice(&2u16.to_le_bytes());
        let records = read_bytes(bytes, "max.evtx", every_record).expect("the log opens");
        let ids: Vec<u64> = records
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter_map(|e| e.source.record_id)
            .collect();
        assert_eq!(ids.last(), Some(&u64::MAX), "{ids:?}");
        let lines: Vec<u64> = records
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.line)
            .collect();
        assert_eq!(
            lines,
            [u64::MAX],
            "the damage goes after the last record, saturated"
        );
    }
}
