//! Placeholder: being written.

use super::LineAdapter;
use crate::event::Event;

#[derive(Debug, Default)]
pub struct Ocsf;

impl LineAdapter for Ocsf {
    fn parse(&mut self, _line: &str) -> Result<Option<Event>, String> {
        Err("this format is not implemented yet".to_owned())
    }
}
