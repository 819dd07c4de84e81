//! [`Batch`]: a borrowed view of a batch of events that resolves their `text` spans into
//! `&str` and hands out [`EventRef`]s, plus the conversions of WIT addresses and GUIDs to Rust
//! types.
//!
//! The host sends every text of a batch as one UTF-8 blob and each text field as a span of it.
//! The blob is checked for UTF-8 once per batch; after that resolving a span is a bounds and
//! char-boundary check. A span that is out of bounds, splits a character or points into
//! invalid bytes reads as `None`, never as a panic.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::EventRef;
use crate::types::Attribute;
use crate::{Event, Guid, IpAddress, Text, types};

/// The text blob of a batch: valid UTF-8 (the normal case) or raw bytes.
#[derive(Debug, Clone)]
enum Strings {
    Utf8(String),
    Bytes(Vec<u8>),
}

/// A batch of events, in event-time order, all of classes the rule subscribed to.
///
/// Iterate it (`for ev in batch` or [`Batch::events`]) to get [`EventRef`]s.
#[derive(Debug, Clone)]
pub struct Batch {
    strings: Strings,
    events: Vec<Event>,
    /// every event's attributes, ordered by event index
    attributes: Vec<Attribute>,
}

impl Batch {
    /// Wraps a batch as the host sent it. Checks the text blob for UTF-8 once, without copying.
    pub fn new(batch: types::Batch) -> Self {
        let strings = match String::from_utf8(batch.strings) {
            Ok(s) => Strings::Utf8(s),
            Err(err) => Strings::Bytes(err.into_bytes()),
        };
        let mut attributes = batch.attributes;
        // The host sends them ordered; lookups rely on it, so make sure (cheap when sorted).
        if !attributes.is_sorted_by_key(|a| a.event) {
            attributes.sort_by_key(|a| a.event);
        }
        Batch {
            strings,
            events: batch.events,
            attributes,
        }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events, in order.
    pub fn events(&self) -> Events<'_> {
        Events {
            batch: self,
            inner: self.events.iter().enumerate(),
        }
    }

    /// The event at `index`.
    pub fn get(&self, index: usize) -> Option<EventRef<'_>> {
        self.events
            .get(index)
            .map(|event| EventRef::new(self, event, index))
    }

    /// The attributes of the event at `index`.
    pub fn attributes_of(&self, index: usize) -> &[Attribute] {
        let Ok(index) = u32::try_from(index) else {
            return &[];
        };
        let start = self.attributes.partition_point(|a| a.event < index);
        let end = self.attributes.partition_point(|a| a.event <= index);
        &self.attributes[start..end]
    }

    /// The events as the host sent them.
    pub fn raw_events(&self) -> &[Event] {
        &self.events
    }

    /// The text blob every span points into.
    pub fn strings(&self) -> &[u8] {
        match &self.strings {
            Strings::Utf8(s) => s.as_bytes(),
            Strings::Bytes(b) => b,
        }
    }

    /// Resolves a text span (or an optional one, as the event's fields are). `None` when the
    /// field is absent or the span is invalid.
    pub fn text(&self, span: impl Into<Option<Text>>) -> Option<&str> {
        let span = span.into()?;
        let start = usize::try_from(span.start).ok()?;
        let end = start.checked_add(usize::try_from(span.len).ok()?)?;
        match &self.strings {
            Strings::Utf8(s) => s.get(start..end),
            Strings::Bytes(b) => core::str::from_utf8(b.get(start..end)?).ok(),
        }
    }

    /// Gives the batch back in the host's form.
    pub fn into_raw(self) -> types::Batch {
        let strings = match self.strings {
            Strings::Utf8(s) => s.into_bytes(),
            Strings::Bytes(b) => b,
        };
        types::Batch {
            strings,
            events: self.events,
            attributes: self.attributes,
        }
    }
}

impl From<types::Batch> for Batch {
    fn from(batch: types::Batch) -> Self {
        Batch::new(batch)
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = EventRef<'a>;
    type IntoIter = Events<'a>;

    fn into_iter(self) -> Events<'a> {
        self.events()
    }
}

/// Iterator over the events of a [`Batch`].
#[derive(Debug, Clone)]
pub struct Events<'a> {
    batch: &'a Batch,
    inner: core::iter::Enumerate<core::slice::Iter<'a, Event>>,
}

impl<'a> Iterator for Events<'a> {
    type Item = EventRef<'a>;

    fn next(&mut self) -> Option<EventRef<'a>> {
        let batch = self.batch;
        self.inner
            .next()
            .map(|(index, event)| EventRef::new(batch, event, index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for Events<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let batch = self.batch;
        self.inner
            .next_back()
            .map(|(index, event)| EventRef::new(batch, event, index))
    }
}

impl ExactSizeIterator for Events<'_> {}

impl From<IpAddress> for IpAddr {
    fn from(ip: IpAddress) -> Self {
        match ip {
            IpAddress::V4(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            IpAddress::V6((hi, lo)) => {
                IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo)))
            }
        }
    }
}

impl From<IpAddr> for IpAddress {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => IpAddress::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                // Truncation is the point: the low and high 64 bits.
                IpAddress::V6(((bits >> 64) as u64, bits as u64))
            }
        }
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        IpAddr::from(*self).fmt(f)
    }
}

impl Guid {
    /// The GUID as one 128-bit number.
    pub fn as_u128(&self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }
}

/// The Windows form, as the host writes GUIDs in events: `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.as_u128();
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventClass;
    use crate::testing::blank_event;

    #[test]
    fn invalid_spans_read_as_none() {
        let batch = Batch::new(types::Batch {
            strings: b"WS01".to_vec(),
            events: vec![],
            attributes: Vec::new(),
        });
        assert_eq!(batch.text(Text { start: 0, len: 4 }), Some("WS01"));
        assert_eq!(batch.text(Text { start: 2, len: 4 }), None, "out of bounds");
        assert_eq!(
            batch.text(Text {
                start: 0,
                len: u32::MAX
            }),
            None,
            "overflow"
        );
        assert_eq!(
            batch.text(Text {
                start: u32::MAX,
                len: u32::MAX
            }),
            None
        );
        assert_eq!(batch.text(None), None);
        assert_eq!(batch.text(Text { start: 0, len: 0 }), Some(""));

        // Splitting a character, in a valid blob and in an invalid one.
        let strings = "é".as_bytes().to_vec();
        let batch = Batch::new(types::Batch {
            strings: strings.clone(),
            events: vec![],
            attributes: Vec::new(),
        });
        assert_eq!(batch.text(Text { start: 0, len: 1 }), None);
        assert_eq!(batch.text(Text { start: 0, len: 2 }), Some("é"));
        let mut bad = strings;
        bad.push(0xff);
        let batch = Batch::new(types::Batch {
            strings: bad,
            events: vec![],
            attributes: Vec::new(),
        });
        assert_eq!(batch.text(Text { start: 0, len: 2 }), Some("é"));
        assert_eq!(batch.text(Text { start: 0, len: 3 }), None);
        assert_eq!(batch.strings().len(), 3);
    }

    #[test]
    fn iteration_is_in_order_and_exact() {
        let events = (0..3)
            .map(|seq| blank_event(EventClass::Process, seq, 0))
            .collect();
        let batch = Batch::new(types::Batch {
            strings: vec![],
            events,
            attributes: Vec::new(),
        });
        let seqs: Vec<u64> = batch.events().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        assert_eq!(batch.events().len(), 3);
        assert_eq!(batch.events().next_back().map(|e| e.seq), Some(2));
        assert_eq!((&batch).into_iter().count(), 3);
        assert_eq!(batch.get(1).map(|e| e.seq), Some(1));
        assert!(batch.get(3).is_none());
        assert_eq!(batch.raw_events().len(), 3);
        assert_eq!(batch.clone().into_raw().events.len(), 3);
    }

    #[test]
    fn addresses_round_trip() {
        for s in ["192.168.1.20", "::1", "fe80::1:2:3:4", "0.0.0.0"] {
            let ip: IpAddr = s.parse().expect("valid");
            let wit = IpAddress::from(ip);
            assert_eq!(IpAddr::from(wit), ip);
            assert_eq!(wit.to_string(), ip.to_string());
        }
        assert_eq!(
            IpAddr::from(IpAddress::V4(0x0102_0304)),
            IpAddr::from([1, 2, 3, 4])
        );
    }

    #[test]
    fn guid_displays_in_the_windows_form() {
        let g = Guid {
            hi: 0x5770_385f_c22a_43e0,
            lo: 0xbf4c_06f5_698f_fbd9,
        };
        assert_eq!(g.to_string(), "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}");
        assert_eq!(
            Guid { hi: 1, lo: 2 }.to_string(),
            "{00000000-0000-0001-0000-000000000002}"
        );
        assert_eq!(g.as_u128(), 0x5770_385f_c22a_43e0_bf4c_06f5_698f_fbd9);
    }
}
