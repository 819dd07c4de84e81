//! Placeholder: binary EVTX, being written.

use std::io::{self, BufRead};

use super::Records;

pub fn records(_reader: Box<dyn BufRead + Send>, name: String) -> io::Result<Records> {
    Err(io::Error::other(format!("{name}: EVTX is not implemented yet")))
}
