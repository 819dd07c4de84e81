//! Yagura's own normalized-event JSON (docs/events.md), one object per line.

use super::LineAdapter;
use crate::event::{Event, parse_event};

/// The normalized form: the line is the event.
#[derive(Debug, Default)]
pub struct Normalized;

impl LineAdapter for Normalized {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String> {
        let mut event = parse_event(line).map_err(|e| e.to_string())?;
        if event.source.format.is_empty() {
            event.source.format = "ndjson".to_owned();
        }
        Ok(Some(event))
    }
}
