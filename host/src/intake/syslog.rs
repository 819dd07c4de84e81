//! Placeholder: being written.

use super::LineAdapter;
use crate::event::Event;

#[derive(Debug, Default)]
pub struct Syslog;

impl LineAdapter for Syslog {
    fn parse(&mut self, _line: &str) -> Result<Option<Event>, String> {
        Err("this format is not implemented yet".to_owned())
    }
}
