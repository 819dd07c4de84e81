//! [`Batch`] and [`EventRef`]: a borrowed view of a batch of events that resolves their
//! `text` spans into `&str`, plus the conversions of WIT addresses and GUIDs to Rust types.
//!
//! The host sends every text of a batch as one UTF-8 blob and each text field as a span of it.
//! The blob is checked for UTF-8 once per batch; after that resolving a span is a bounds and
//! char-boundary check. A span that is out of bounds, splits a character or points into
//! invalid bytes reads as `None`, never as a panic.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::Deref;

use crate::matchers::{basename, eq_ignore_case};
use crate::{Endpoint, Event, Guid, IpAddress, Process, Text, User, types};

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
}

impl Batch {
    /// Wraps a batch as the host sent it. Checks the text blob for UTF-8 once, without copying.
    pub fn new(batch: types::Batch) -> Self {
        let strings = match String::from_utf8(batch.strings) {
            Ok(s) => Strings::Utf8(s),
            Err(err) => Strings::Bytes(err.into_bytes()),
        };
        Batch {
            strings,
            events: batch.events,
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
            inner: self.events.iter(),
        }
    }

    /// The event at `index`.
    pub fn get(&self, index: usize) -> Option<EventRef<'_>> {
        self.events
            .get(index)
            .map(|event| EventRef { batch: self, event })
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
    inner: core::slice::Iter<'a, Event>,
}

impl<'a> Iterator for Events<'a> {
    type Item = EventRef<'a>;

    fn next(&mut self) -> Option<EventRef<'a>> {
        let batch = self.batch;
        self.inner.next().map(|event| EventRef { batch, event })
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
            .map(|event| EventRef { batch, event })
    }
}

impl ExactSizeIterator for Events<'_> {}

/// One event of a batch: the generated [`Event`] record (through `Deref`) plus accessors that
/// resolve its text spans.
///
/// "The process" of an event is its target `process` (the one launched, terminated,
/// accessed) or, when there is none, the actor's process (the one that connected, wrote the
/// file…). "The parent" is that process's parent. "The user" is the target `user`, else the
/// actor's user.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    batch: &'a Batch,
    event: &'a Event,
}

impl<'a> Deref for EventRef<'a> {
    type Target = Event;

    fn deref(&self) -> &Event {
        self.event
    }
}

impl<'a> EventRef<'a> {
    /// The generated record, with the batch's lifetime.
    pub fn raw(&self) -> &'a Event {
        self.event
    }

    /// The batch the event belongs to.
    pub fn batch(&self) -> &'a Batch {
        self.batch
    }

    /// Resolves a text span of this event's batch; `None` when absent or invalid.
    pub fn text(&self, span: impl Into<Option<Text>>) -> Option<&'a str> {
        self.batch.text(span)
    }

    /// The device hostname.
    pub fn hostname(&self) -> Option<&'a str> {
        self.text(self.event.device.hostname)
    }

    /// The device domain.
    pub fn device_domain(&self) -> Option<&'a str> {
        self.text(self.event.device.domain)
    }

    /// The device IP address.
    pub fn device_ip(&self) -> Option<IpAddr> {
        self.event.device.ip.map(IpAddr::from)
    }

    /// The event's process: the target process, else the actor's.
    pub fn process(&self) -> Option<&'a Process> {
        self.event
            .process
            .as_ref()
            .or(self.event.actor.process.as_ref())
    }

    /// The process's image path.
    pub fn process_image(&self) -> Option<&'a str> {
        self.text(self.process()?.image)
    }

    /// The process's command line.
    pub fn process_cmd_line(&self) -> Option<&'a str> {
        self.text(self.process()?.cmd_line)
    }

    /// The process's pid.
    pub fn process_pid(&self) -> Option<u32> {
        self.process()?.pid
    }

    /// The process's GUID.
    pub fn process_guid(&self) -> Option<Guid> {
        self.process()?.guid
    }

    /// The parent's image path: the process's `parent-image`, else (for a launch) the actor
    /// process's image.
    pub fn parent_image(&self) -> Option<&'a str> {
        self.parent_field(|p| p.parent_image, |a| a.image)
            .and_then(|t| self.text(t))
    }

    /// The parent's command line, found like [`EventRef::parent_image`].
    pub fn parent_cmd_line(&self) -> Option<&'a str> {
        self.parent_field(|p| p.parent_cmd_line, |a| a.cmd_line)
            .and_then(|t| self.text(t))
    }

    /// The parent's pid, found like [`EventRef::parent_image`].
    pub fn parent_pid(&self) -> Option<u32> {
        self.parent_field(|p| p.parent_pid, |a| a.pid)
    }

    /// The parent's GUID, found like [`EventRef::parent_image`].
    pub fn parent_guid(&self) -> Option<Guid> {
        self.parent_field(|p| p.parent_guid, |a| a.guid)
    }

    /// A field of the parent: with a target process, its `parent-*` field or the actor
    /// process's own field; without one, the actor process's `parent-*` field.
    fn parent_field<T>(
        &self,
        parent_of: impl Fn(&Process) -> Option<T>,
        own: impl Fn(&Process) -> Option<T>,
    ) -> Option<T> {
        let actor = self.event.actor.process.as_ref();
        match &self.event.process {
            Some(target) => parent_of(target).or_else(|| actor.and_then(&own)),
            None => actor.and_then(parent_of),
        }
    }

    /// A label for the process: its image's basename and pid, e.g. `cmd.exe (pid 42)`.
    pub fn process_label(&self) -> Option<String> {
        label(self.process_image(), self.process_pid())
    }

    /// A label for the parent, like [`EventRef::process_label`].
    pub fn parent_label(&self) -> Option<String> {
        label(self.parent_image(), self.parent_pid())
    }

    /// The event's user: the target user, else the actor's.
    pub fn user(&self) -> Option<&'a User> {
        self.event.user.as_ref().or(self.event.actor.user.as_ref())
    }

    /// The user's account name.
    pub fn user_name(&self) -> Option<&'a str> {
        self.text(self.user()?.name)
    }

    /// The user's domain.
    pub fn user_domain(&self) -> Option<&'a str> {
        self.text(self.user()?.domain)
    }

    /// The user as `DOMAIN\name`, or `name` without a domain.
    pub fn qualified_user(&self) -> Option<String> {
        let name = self.user_name().filter(|n| !n.is_empty())?;
        Some(match self.user_domain().filter(|d| !d.is_empty()) {
            Some(domain) => format!("{domain}\\{name}"),
            None => name.to_owned(),
        })
    }

    /// The source endpoint.
    pub fn src(&self) -> Option<&'a Endpoint> {
        self.event.src.as_ref()
    }

    /// The destination endpoint.
    pub fn dst(&self) -> Option<&'a Endpoint> {
        self.event.dst.as_ref()
    }

    /// The source IP address.
    pub fn src_ip(&self) -> Option<IpAddr> {
        self.src()?.ip.map(IpAddr::from)
    }

    /// The source port.
    pub fn src_port(&self) -> Option<u16> {
        self.src()?.port
    }

    /// The source hostname or workstation name.
    pub fn src_hostname(&self) -> Option<&'a str> {
        self.text(self.src()?.hostname)
    }

    /// The destination IP address.
    pub fn dst_ip(&self) -> Option<IpAddr> {
        self.dst()?.ip.map(IpAddr::from)
    }

    /// The destination port.
    pub fn dst_port(&self) -> Option<u16> {
        self.dst()?.port
    }

    /// The destination hostname.
    pub fn dst_hostname(&self) -> Option<&'a str> {
        self.text(self.dst()?.hostname)
    }

    /// The value of the first raw attribute whose key equals `key`, ignoring ASCII case.
    pub fn attribute(&self, key: &str) -> Option<&'a str> {
        self.event
            .attributes
            .iter()
            .find(|a| self.text(a.key).is_some_and(|k| eq_ignore_case(k, key)))
            .and_then(|a| self.text(a.value))
    }

    /// The raw attributes as resolved `(key, value)` pairs; invalid spans are skipped.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let batch = self.batch;
        self.event
            .attributes
            .iter()
            .filter_map(move |a| Some((batch.text(a.key)?, batch.text(a.value)?)))
    }
}

fn label(image: Option<&str>, pid: Option<u32>) -> Option<String> {
    match (image.map(basename).filter(|n| !n.is_empty()), pid) {
        (Some(name), Some(pid)) => Some(format!("{name} (pid {pid})")),
        (Some(name), None) => Some(name.to_owned()),
        (None, Some(pid)) => Some(format!("pid {pid}")),
        (None, None) => None,
    }
}

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

/// Lowercase and hyphenated, without braces: `6f1e2d3c-…`.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.as_u128();
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
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
    use crate::testing::blank_process;
    use crate::{EventClass, types::Attribute};

    fn blank_event() -> Event {
        crate::testing::blank_event(EventClass::Process, 0, 0)
    }

    /// Builds a text blob and hands out spans into it.
    #[derive(Default)]
    struct Blob(Vec<u8>);

    impl Blob {
        fn add(&mut self, s: &str) -> Text {
            let start = self.0.len() as u32;
            self.0.extend_from_slice(s.as_bytes());
            Text {
                start,
                len: s.len() as u32,
            }
        }
    }

    fn launch_batch() -> Batch {
        let mut blob = Blob::default();
        let mut ev = blank_event();
        ev.seq = 7;
        ev.device.hostname = Some(blob.add("WS01"));
        ev.user = None;
        ev.actor.user = Some(User {
            name: Some(blob.add("alice")),
            domain: Some(blob.add("CORP")),
            uid: None,
            logon_id: Some(0x3e7),
        });
        let mut child = blank_process();
        child.pid = Some(4242);
        child.image = Some(blob.add(r"C:\Windows\System32\cmd.exe"));
        child.cmd_line = Some(blob.add("cmd.exe /c whoami"));
        child.parent_pid = Some(100);
        let mut parent = blank_process();
        parent.pid = Some(100);
        parent.image = Some(blob.add(r"C:\Program Files\Microsoft Office\WINWORD.EXE"));
        parent.guid = Some(Guid { hi: 1, lo: 2 });
        ev.process = Some(child);
        ev.actor.process = Some(parent);
        ev.src = Some(Endpoint {
            ip: Some(IpAddress::V4(0x0a00_0005)),
            port: Some(49152),
            hostname: None,
        });
        ev.dst = Some(Endpoint {
            ip: Some(IpAddress::V6((0x2001_0db8_0000_0000, 1))),
            port: Some(445),
            hostname: Some(Text {
                start: 1000,
                len: 4,
            }),
        });
        ev.attributes = vec![Attribute {
            key: blob.add("LogonGuid"),
            value: blob.add("{abc}"),
        }];
        Batch::new(types::Batch {
            strings: blob.0,
            events: vec![ev],
        })
    }

    #[test]
    fn accessors_resolve_spans() {
        let batch = launch_batch();
        assert_eq!(batch.len(), 1);
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.seq, 7);
        assert_eq!(ev.hostname(), Some("WS01"));
        assert_eq!(ev.process_image(), Some(r"C:\Windows\System32\cmd.exe"));
        assert_eq!(ev.process_cmd_line(), Some("cmd.exe /c whoami"));
        assert_eq!(
            ev.parent_image(),
            Some(r"C:\Program Files\Microsoft Office\WINWORD.EXE")
        );
        assert_eq!(ev.parent_pid(), Some(100));
        assert_eq!(ev.parent_guid(), Some(Guid { hi: 1, lo: 2 }));
        assert_eq!(ev.user_name(), Some("alice"));
        assert_eq!(ev.qualified_user().as_deref(), Some(r"CORP\alice"));
        assert_eq!(ev.process_label().as_deref(), Some("cmd.exe (pid 4242)"));
        assert_eq!(ev.parent_label().as_deref(), Some("WINWORD.EXE (pid 100)"));
        assert_eq!(ev.src_ip(), Some("10.0.0.5".parse().expect("ip")));
        assert_eq!(ev.src_port(), Some(49152));
        assert_eq!(ev.dst_ip(), Some("2001:db8::1".parse().expect("ip")));
        assert_eq!(ev.dst_port(), Some(445));
        assert_eq!(ev.attribute("logonguid"), Some("{abc}"));
        assert_eq!(ev.attributes().count(), 1);
    }

    #[test]
    fn parent_of_an_event_without_target_process_is_the_actors_parent() {
        let mut blob = Blob::default();
        let mut ev = blank_event();
        let mut actor = blank_process();
        actor.image = Some(blob.add("/usr/bin/curl"));
        actor.parent_image = Some(blob.add("/bin/bash"));
        ev.actor.process = Some(actor);
        let batch = Batch::new(types::Batch {
            strings: blob.0,
            events: vec![ev],
        });
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.process_image(), Some("/usr/bin/curl"));
        assert_eq!(ev.parent_image(), Some("/bin/bash"));
    }

    #[test]
    fn invalid_spans_read_as_none() {
        let batch = launch_batch();
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.dst_hostname(), None, "out of bounds");
        assert_eq!(
            ev.text(Text {
                start: 0,
                len: u32::MAX
            }),
            None,
            "overflow"
        );
        assert_eq!(
            ev.text(Text {
                start: u32::MAX,
                len: u32::MAX
            }),
            None
        );
        assert_eq!(ev.text(None), None);
        assert_eq!(ev.text(Text { start: 0, len: 0 }), Some(""));

        // Splitting a character, in a valid blob and in an invalid one.
        let strings = "é".as_bytes().to_vec();
        let batch = Batch::new(types::Batch {
            strings: strings.clone(),
            events: vec![],
        });
        assert_eq!(batch.text(Text { start: 0, len: 1 }), None);
        assert_eq!(batch.text(Text { start: 0, len: 2 }), Some("é"));
        let mut bad = strings;
        bad.push(0xff);
        let batch = Batch::new(types::Batch {
            strings: bad,
            events: vec![],
        });
        assert_eq!(batch.text(Text { start: 0, len: 2 }), Some("é"));
        assert_eq!(batch.text(Text { start: 0, len: 3 }), None);
        assert_eq!(batch.strings().len(), 3);
    }

    #[test]
    fn iteration_is_in_order_and_exact() {
        let mut events = vec![blank_event(), blank_event(), blank_event()];
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = i as u64;
        }
        let batch = Batch::new(types::Batch {
            strings: vec![],
            events,
        });
        let seqs: Vec<u64> = batch.events().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        assert_eq!(batch.events().len(), 3);
        assert_eq!(batch.events().next_back().map(|e| e.seq), Some(2));
        assert_eq!((&batch).into_iter().count(), 3);
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
    fn guid_displays_as_uuid() {
        let g = Guid {
            hi: 0x6f1e_2d3c_4b5a_6978,
            lo: 0x8796_a5b4_c3d2_e1f0,
        };
        assert_eq!(g.to_string(), "6f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    }
}
