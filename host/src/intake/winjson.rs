//! Placeholder: being written.

use super::LineAdapter;
use crate::event::Event;

#[derive(Debug, Default)]
pub struct WinJson;

impl LineAdapter for WinJson {
    fn parse(&mut self, _line: &str) -> Result<Option<Event>, String> {
        Err("this format is not implemented yet".to_owned())
    }
}

/// One record in the `evtx_dump` JSON shape (`{"Event":{"System":{…},"EventData":{…}}}`),
/// as the `evtx` crate also produces it, into an event. Used by the EVTX reader.
pub(crate) fn event_from_dump(_value: &serde_json::Value) -> Result<Option<Event>, String> {
    Err("Windows event JSON is not implemented yet".to_owned())
}
