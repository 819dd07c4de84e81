//! Building batches in native unit tests of rules: [`BatchBuilder`] lays out the text blob and
//! spans the way the host does, [`EventBuilder`] fills the fields rules read most.
//!
//! ```
//! use yagura_sdk::testing::BatchBuilder;
//! use yagura_sdk::{Activity, EventClass};
//!
//! let mut b = BatchBuilder::new();
//! b.event(EventClass::Process, 1, 1_000)
//!     .activity(Activity::Create)
//!     .hostname("WS01")
//!     .process_image(r"C:\Windows\System32\cmd.exe")
//!     .parent_image(r"C:\Program Files\Microsoft Office\WINWORD.EXE")
//!     .push();
//! let batch = b.build();
//! let ev = batch.get(0).unwrap();
//! assert_eq!(ev.hostname(), Some("WS01"));
//! ```
//!
//! Only rules whose `on_events` stays off the host imports (`state`, `log`) can run natively.

use core::net::IpAddr;

use crate::{
    Activity, Actor, Attribute, Batch, Device, Endpoint, Event, EventClass, Guid, Integrity,
    Outcome, Process, Source, Text, User, types,
};

/// Builds a [`Batch`]: a text blob and events with spans into it.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    strings: Vec<u8>,
    events: Vec<Event>,
}

impl BatchBuilder {
    /// An empty batch.
    pub fn new() -> Self {
        BatchBuilder::default()
    }

    /// Appends `s` to the blob and returns its span.
    pub fn text(&mut self, s: &str) -> Text {
        let start = u32::try_from(self.strings.len()).expect("a test batch's blob fits in u32");
        self.strings.extend_from_slice(s.as_bytes());
        Text {
            start,
            len: u32::try_from(s.len()).expect("a test string fits in u32"),
        }
    }

    /// Starts an event; [`EventBuilder::push`] adds it.
    pub fn event(&mut self, class: EventClass, seq: u64, time: i64) -> EventBuilder<'_> {
        let event = blank_event(class, seq, time);
        EventBuilder { batch: self, event }
    }

    /// Adds an event built by hand (its spans must point into this builder's blob).
    pub fn push(&mut self, event: Event) -> &mut Self {
        self.events.push(event);
        self
    }

    /// The batch.
    pub fn build(self) -> Batch {
        Batch::new(types::Batch {
            strings: self.strings,
            events: self.events,
        })
    }
}

/// Fills one event of a [`BatchBuilder`]. "The process" is the target `process`; the parent
/// setters fill its `parent-*` fields.
#[derive(Debug)]
pub struct EventBuilder<'a> {
    batch: &'a mut BatchBuilder,
    event: Event,
}

impl EventBuilder<'_> {
    /// Sets the activity.
    pub fn activity(mut self, activity: Activity) -> Self {
        self.event.activity = activity;
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.event.outcome = outcome;
        self
    }

    /// Sets the device hostname.
    pub fn hostname(mut self, name: &str) -> Self {
        self.event.device.hostname = Some(self.batch.text(name));
        self
    }

    fn process_mut(&mut self) -> &mut Process {
        self.event.process.get_or_insert_with(blank_process)
    }

    /// Sets the target process's image path.
    pub fn process_image(mut self, image: &str) -> Self {
        let t = self.batch.text(image);
        self.process_mut().image = Some(t);
        self
    }

    /// Sets the target process's command line.
    pub fn process_cmd_line(mut self, cmd_line: &str) -> Self {
        let t = self.batch.text(cmd_line);
        self.process_mut().cmd_line = Some(t);
        self
    }

    /// Sets the target process's pid.
    pub fn process_pid(mut self, pid: u32) -> Self {
        self.process_mut().pid = Some(pid);
        self
    }

    /// Sets the target process's parent image path.
    pub fn parent_image(mut self, image: &str) -> Self {
        let t = self.batch.text(image);
        self.process_mut().parent_image = Some(t);
        self
    }

    /// Sets the target process's parent pid.
    pub fn parent_pid(mut self, pid: u32) -> Self {
        self.process_mut().parent_pid = Some(pid);
        self
    }

    /// Sets the target process's parent GUID.
    pub fn parent_guid(mut self, guid: Guid) -> Self {
        self.process_mut().parent_guid = Some(guid);
        self
    }

    /// Sets the actor's process image path.
    pub fn actor_image(mut self, image: &str) -> Self {
        let t = self.batch.text(image);
        self.event
            .actor
            .process
            .get_or_insert_with(blank_process)
            .image = Some(t);
        self
    }

    /// Sets the actor's user (`domain` may be empty).
    pub fn actor_user(mut self, domain: &str, name: &str) -> Self {
        self.event.actor.user = Some(self.user(domain, name));
        self
    }

    /// Sets the target user (`domain` may be empty).
    pub fn target_user(mut self, domain: &str, name: &str) -> Self {
        self.event.user = Some(self.user(domain, name));
        self
    }

    fn user(&mut self, domain: &str, name: &str) -> User {
        User {
            name: Some(self.batch.text(name)),
            domain: (!domain.is_empty()).then(|| self.batch.text(domain)),
            uid: None,
            logon_id: None,
        }
    }

    /// Sets the source endpoint.
    pub fn src(mut self, ip: IpAddr, port: Option<u16>) -> Self {
        self.event.src = Some(endpoint(ip, port));
        self
    }

    /// Sets the destination endpoint.
    pub fn dst(mut self, ip: IpAddr, port: Option<u16>) -> Self {
        self.event.dst = Some(endpoint(ip, port));
        self
    }

    /// Adds a raw attribute.
    pub fn attribute(mut self, key: &str, value: &str) -> Self {
        let attribute = Attribute {
            key: self.batch.text(key),
            value: self.batch.text(value),
        };
        self.event.attributes.push(attribute);
        self
    }

    /// Edits the raw event; `text` appends a string to the blob and returns its span.
    pub fn with(mut self, edit: impl FnOnce(&mut Event, &mut dyn FnMut(&str) -> Text)) -> Self {
        let batch = &mut *self.batch;
        edit(&mut self.event, &mut |s| batch.text(s));
        self
    }

    /// Adds the event to the batch.
    pub fn push(self) {
        self.batch.events.push(self.event);
    }
}

fn endpoint(ip: IpAddr, port: Option<u16>) -> Endpoint {
    Endpoint {
        ip: Some(ip.into()),
        port,
        hostname: None,
    }
}

/// An event with only its class, seq and time set: everything optional absent, enums unknown,
/// the source format an empty span.
pub fn blank_event(class: EventClass, seq: u64, time: i64) -> Event {
    Event {
        seq,
        time,
        class,
        activity: Activity::Unknown,
        outcome: Outcome::Unknown,
        source: Source {
            format: Text { start: 0, len: 0 },
            code: None,
            channel: None,
            provider: None,
            record_id: None,
        },
        device: Device {
            hostname: None,
            domain: None,
            ip: None,
        },
        actor: Actor {
            user: None,
            process: None,
        },
        user: None,
        process: None,
        src: None,
        dst: None,
        auth: None,
        network: None,
        file: None,
        registry: None,
        job: None,
        script: None,
        query: None,
        attributes: Vec::new(),
    }
}

/// A process with every field absent and integrity unknown.
pub fn blank_process() -> Process {
    Process {
        pid: None,
        guid: None,
        image: None,
        cmd_line: None,
        cwd: None,
        integrity: Integrity::Unknown,
        hashes: None,
        start_time: None,
        parent_pid: None,
        parent_guid: None,
        parent_image: None,
        parent_cmd_line: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_what_the_accessors_read() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Network, 9, 5)
            .activity(Activity::Traffic)
            .outcome(Outcome::Success)
            .hostname("fw01")
            .actor_image("/usr/bin/curl")
            .actor_user("", "root")
            .target_user("CORP", "bob")
            .src("10.0.0.1".parse().expect("ip"), Some(5555))
            .dst("10.0.0.2".parse().expect("ip"), None)
            .attribute("zeek_uid", "C1")
            .with(|ev, text| {
                ev.device.domain = Some(text("corp.example"));
            })
            .push();
        b.event(EventClass::Process, 10, 6)
            .process_image("cmd.exe")
            .process_cmd_line("cmd /c")
            .process_pid(4)
            .parent_image("winword.exe")
            .parent_pid(3)
            .parent_guid(Guid { hi: 0, lo: 1 })
            .push();
        let batch = b.build();
        let net = batch.get(0).expect("two events");
        assert_eq!((net.seq, net.time, net.class), (9, 5, EventClass::Network));
        assert_eq!(net.hostname(), Some("fw01"));
        assert_eq!(net.device_domain(), Some("corp.example"));
        assert_eq!(net.process_image(), Some("/usr/bin/curl"));
        assert_eq!(net.qualified_user().as_deref(), Some(r"CORP\bob"));
        assert_eq!(net.src_port(), Some(5555));
        assert_eq!(net.dst_port(), None);
        assert_eq!(net.attribute("ZEEK_UID"), Some("C1"));
        let proc = batch.get(1).expect("two events");
        assert_eq!(proc.parent_label().as_deref(), Some("winword.exe (pid 3)"));
        assert_eq!(proc.process_cmd_line(), Some("cmd /c"));
        assert_eq!(proc.parent_guid(), Some(Guid { hi: 0, lo: 1 }));
    }
}
