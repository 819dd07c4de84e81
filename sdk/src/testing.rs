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
//!     .code(1)
//!     .hostname("WS01")
//!     .user("CORP", "alice")
//!     .process_image(r"C:\Windows\System32\cmd.exe")
//!     .parent_image(r"C:\Program Files\Microsoft Office\WINWORD.EXE")
//!     .attribute("source.format", "evtx")
//!     .push();
//! let batch = b.build();
//! let ev = batch.get(0).unwrap();
//! assert_eq!(ev.class(), EventClass::Process);
//! assert_eq!(ev.hostname(), Some("WS01"));
//! assert_eq!(ev.parent_image(), Some(r"C:\Program Files\Microsoft Office\WINWORD.EXE"));
//! assert_eq!(ev.source_format(), Some("evtx"));
//! ```
//!
//! The setters write where the host would put the fact for the event's class, and panic when
//! the class has no place for it (a network event has no user, an authentication event no
//! process): such a test is wrong. Facts without a setter (logon type, transport, file
//! path…) are set on the raw event with [`EventBuilder::with`].
//!
//! Only rules whose `on_events` stays off the host imports (`state`, `log`) can run natively.

use core::net::IpAddr;

use crate::{
    Activity, ActorProcess, Attribute, AuthProtocol, Authentication, Batch, Body, Direction,
    Disposition, Endpoint, Event, EventClass, FileActivity, Guid, Integrity, JobActivity, JobKind,
    NetworkActivity, Outcome, Process, ProcessActivity, QueryActivity, RegistryActivity,
    ScriptActivity, Text, Transport, User, types,
};

/// Builds a [`Batch`]: a text blob and events with spans into it.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    strings: Vec<u8>,
    events: Vec<Event>,
    attributes: Vec<Attribute>,
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

    /// Starts an event of `class`, with that class's body empty; [`EventBuilder::push`] adds it.
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
            attributes: self.attributes,
        })
    }
}

/// Fills one event of a [`BatchBuilder`], writing each fact where the host would for the
/// event's class (see the module docs).
#[derive(Debug)]
pub struct EventBuilder<'a> {
    batch: &'a mut BatchBuilder,
    event: Event,
}

/// Where the process setters write: a process body's process or another body's actor process.
enum ProcessSlot<'e> {
    Full(&'e mut Process),
    Actor(&'e mut ActorProcess),
}

impl EventBuilder<'_> {
    fn class(&self) -> EventClass {
        self.event.body.class()
    }

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

    /// Sets the source's event code (EventID).
    pub fn code(mut self, code: u32) -> Self {
        self.event.code = code;
        self
    }

    /// Sets the device hostname.
    pub fn hostname(mut self, name: &str) -> Self {
        self.event.hostname = Some(self.batch.text(name));
        self
    }

    /// The process body's process, or the actor process of a network, file, registry, DNS,
    /// HTTP or script body (created if absent).
    fn process_slot(&mut self, setter: &str) -> ProcessSlot<'_> {
        let class = self.class();
        let actor = match &mut self.event.body {
            Body::Process(p) => return ProcessSlot::Full(&mut p.process),
            Body::Network(n) => &mut n.process,
            Body::File(f) => &mut f.process,
            Body::Registry(r) => &mut r.process,
            Body::Dns(q) | Body::Http(q) => &mut q.process,
            Body::Script(s) => &mut s.process,
            Body::Authentication(_) | Body::Job(_) | Body::Other => {
                panic!("EventBuilder::{setter}: a {class} event has no process")
            }
        };
        ProcessSlot::Actor(actor.get_or_insert_with(blank_actor_process))
    }

    /// The process body's process, for the setters only it has.
    fn full_process(&mut self, setter: &str) -> &mut Process {
        let class = self.class();
        match &mut self.event.body {
            Body::Process(p) => &mut p.process,
            _ => panic!("EventBuilder::{setter}: only a process event has it, not a {class} one"),
        }
    }

    /// Sets the process's image path (the actor process's for non-process classes).
    pub fn process_image(mut self, image: &str) -> Self {
        let t = Some(self.batch.text(image));
        match self.process_slot("process_image") {
            ProcessSlot::Full(p) => p.image = t,
            ProcessSlot::Actor(a) => a.image = t,
        }
        self
    }

    /// Sets the process's pid (the actor process's for non-process classes).
    pub fn process_pid(mut self, pid: u32) -> Self {
        match self.process_slot("process_pid") {
            ProcessSlot::Full(p) => p.pid = pid,
            ProcessSlot::Actor(a) => a.pid = pid,
        }
        self
    }

    /// Sets the process's GUID (the actor process's for non-process classes).
    pub fn process_guid(mut self, guid: Guid) -> Self {
        match self.process_slot("process_guid") {
            ProcessSlot::Full(p) => p.guid = Some(guid),
            ProcessSlot::Actor(a) => a.guid = Some(guid),
        }
        self
    }

    /// Sets the process's command line (process events only).
    pub fn process_cmd_line(mut self, cmd_line: &str) -> Self {
        let t = Some(self.batch.text(cmd_line));
        self.full_process("process_cmd_line").cmd_line = t;
        self
    }

    /// Sets the module loaded or the process accessed (process events only).
    pub fn process_target(mut self, target: &str) -> Self {
        let t = Some(self.batch.text(target));
        match &mut self.event.body {
            Body::Process(p) => p.target = t,
            _ => panic!("EventBuilder::process_target: only a process event has it"),
        }
        self
    }

    /// Sets the parent's image path (process events only).
    pub fn parent_image(mut self, image: &str) -> Self {
        let t = Some(self.batch.text(image));
        self.full_process("parent_image").parent_image = t;
        self
    }

    /// Sets the parent's command line (process events only).
    pub fn parent_cmd_line(mut self, cmd_line: &str) -> Self {
        let t = Some(self.batch.text(cmd_line));
        self.full_process("parent_cmd_line").parent_cmd_line = t;
        self
    }

    /// Sets the parent's pid (process events only).
    pub fn parent_pid(mut self, pid: u32) -> Self {
        self.full_process("parent_pid").parent_pid = pid;
        self
    }

    /// Sets the parent's GUID (process events only).
    pub fn parent_guid(mut self, guid: Guid) -> Self {
        self.full_process("parent_guid").parent_guid = Some(guid);
        self
    }

    /// Sets the body's user (`domain` may be empty): the account a process runs as, the
    /// account logged on, the one that opened a file, set a registry value, installed a job
    /// or ran a script.
    pub fn user(mut self, domain: &str, name: &str) -> Self {
        let user = self.new_user(domain, name);
        let class = self.class();
        let slot = match &mut self.event.body {
            Body::Authentication(a) => {
                a.user = user;
                return self;
            }
            Body::Process(p) => &mut p.user,
            Body::File(f) => &mut f.user,
            Body::Registry(r) => &mut r.user,
            Body::Job(j) => &mut j.user,
            Body::Script(s) => &mut s.user,
            Body::Network(n) => &mut n.user,
            Body::Dns(q) | Body::Http(q) => &mut q.user,
            Body::Other => panic!("EventBuilder::user: a {class} event has no user"),
        };
        *slot = Some(user);
        self
    }

    /// Sets the account that asked for an authentication (authentication events only).
    pub fn subject(mut self, domain: &str, name: &str) -> Self {
        let user = self.new_user(domain, name);
        match &mut self.event.body {
            Body::Authentication(a) => a.subject = Some(user),
            _ => panic!("EventBuilder::subject: only an authentication event has it"),
        }
        self
    }

    fn new_user(&mut self, domain: &str, name: &str) -> User {
        User {
            name: Some(self.batch.text(name)),
            domain: (!domain.is_empty()).then(|| self.batch.text(domain)),
            ..blank_user()
        }
    }

    /// The body's source endpoint.
    fn src_mut(&mut self, setter: &str) -> &mut Endpoint {
        let class = self.class();
        match &mut self.event.body {
            Body::Authentication(a) => &mut a.src,
            Body::Network(n) => &mut n.src,
            Body::File(f) => &mut f.src,
            Body::Dns(q) | Body::Http(q) => &mut q.src,
            _ => panic!("EventBuilder::{setter}: a {class} event has no source endpoint"),
        }
    }

    /// The body's destination endpoint.
    fn dst_mut(&mut self, setter: &str) -> &mut Endpoint {
        let class = self.class();
        match &mut self.event.body {
            Body::Network(n) => &mut n.dst,
            Body::Dns(q) | Body::Http(q) => &mut q.dst,
            _ => panic!("EventBuilder::{setter}: a {class} event has no destination endpoint"),
        }
    }

    /// Sets the source address and port (`None` is sent as 0, unknown).
    pub fn src(mut self, ip: IpAddr, port: Option<u16>) -> Self {
        let src = self.src_mut("src");
        src.ip = Some(ip.into());
        src.port = port.unwrap_or(0);
        self
    }

    /// Sets the destination address and port (`None` is sent as 0, unknown).
    pub fn dst(mut self, ip: IpAddr, port: Option<u16>) -> Self {
        let dst = self.dst_mut("dst");
        dst.ip = Some(ip.into());
        dst.port = port.unwrap_or(0);
        self
    }

    /// Sets the source hostname or workstation name.
    pub fn src_hostname(mut self, name: &str) -> Self {
        let t = Some(self.batch.text(name));
        self.src_mut("src_hostname").hostname = t;
        self
    }

    /// Sets the destination hostname.
    pub fn dst_hostname(mut self, name: &str) -> Self {
        let t = Some(self.batch.text(name));
        self.dst_mut("dst_hostname").hostname = t;
        self
    }

    /// Adds an attribute, e.g. `source.channel` or a source field of its own.
    pub fn attribute(self, key: &str, value: &str) -> Self {
        // the event goes in at the end of the batch when `push` adds it
        let attribute = Attribute {
            event: u32::try_from(self.batch.events.len()).unwrap_or(u32::MAX),
            key: self.batch.text(key),
            value: self.batch.text(value),
        };
        self.batch.attributes.push(attribute);
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

/// An event with only its seq and time set and an empty body of `class`: code 0, no
/// hostname, enums unknown, no attributes.
pub fn blank_event(class: EventClass, seq: u64, time: i64) -> Event {
    Event {
        seq,
        time,
        activity: Activity::Unknown,
        outcome: Outcome::Unknown,
        code: 0,
        hostname: None,
        body: blank_body(class),
    }
}

/// The body of `class` with every field absent, 0 or unknown (a job is a service).
pub fn blank_body(class: EventClass) -> Body {
    match class {
        EventClass::Authentication => Body::Authentication(Authentication {
            user: blank_user(),
            subject: None,
            src: blank_endpoint(),
            logon_type: 0,
            protocol: AuthProtocol::Unknown,
            key_length: None,
            logon_process: None,
            status_code: 0,
            elevated: false,
            service: None,
            ticket_options: 0,
            ticket_encryption: 0,
        }),
        EventClass::Process => Body::Process(ProcessActivity {
            process: blank_process(),
            user: None,
            target: None,
        }),
        EventClass::Network => Body::Network(NetworkActivity {
            src: blank_endpoint(),
            dst: blank_endpoint(),
            transport: Transport::Unknown,
            protocol_num: 0,
            direction: Direction::Unknown,
            disposition: Disposition::Unknown,
            bytes_out: 0,
            bytes_in: 0,
            packets_out: 0,
            packets_in: 0,
            duration_ms: 0,
            state: None,
            process: None,
            user: None,
        }),
        EventClass::File => Body::File(FileActivity {
            path: None,
            hashes: None,
            share_name: None,
            relative_target: None,
            access_mask: 0,
            user: None,
            src: blank_endpoint(),
            process: None,
        }),
        EventClass::Registry => Body::Registry(RegistryActivity {
            key: None,
            value_name: None,
            value_data: None,
            process: None,
            user: None,
        }),
        EventClass::Dns => Body::Dns(blank_query()),
        EventClass::Http => Body::Http(blank_query()),
        EventClass::Job => Body::Job(JobActivity {
            kind: JobKind::Service,
            name: None,
            command: None,
            start_type: None,
            account: None,
            user: None,
        }),
        EventClass::Script => Body::Script(ScriptActivity {
            text: None,
            block_id: None,
            part: 0,
            parts: 0,
            host_application: None,
            user: None,
            process: None,
        }),
        EventClass::Other => Body::Other,
    }
}

fn blank_query() -> QueryActivity {
    QueryActivity {
        name: None,
        code: 0,
        detail: None,
        user_agent: None,
        src: blank_endpoint(),
        dst: blank_endpoint(),
        process: None,
        user: None,
    }
}

/// A process with every field absent or 0 and integrity unknown.
pub fn blank_process() -> Process {
    Process {
        pid: 0,
        guid: None,
        image: None,
        cmd_line: None,
        hashes: None,
        integrity: Integrity::Unknown,
        parent_pid: 0,
        parent_guid: None,
        parent_image: None,
        parent_cmd_line: None,
    }
}

/// An actor process with every field absent or 0.
pub fn blank_actor_process() -> ActorProcess {
    ActorProcess {
        pid: 0,
        guid: None,
        image: None,
    }
}

/// A user with every field absent or 0.
pub fn blank_user() -> User {
    User {
        name: None,
        domain: None,
        sid: None,
        logon_id: 0,
    }
}

/// An endpoint with no address, port 0 and no hostname.
pub fn blank_endpoint() -> Endpoint {
    Endpoint {
        ip: None,
        port: 0,
        hostname: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_what_the_accessors_read() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::File, 9, 5)
            .activity(Activity::Open)
            .outcome(Outcome::Success)
            .code(5145)
            .hostname("fs01")
            .process_image("System")
            .user("CORP", "bob")
            .src("10.0.0.1".parse().expect("ip"), Some(5555))
            .src_hostname("WS01")
            .attribute("ShareLocalPath", r"\??\C:\Windows")
            .with(|ev, text| {
                if let Body::File(f) = &mut ev.body {
                    f.share_name = Some(text(r"\\*\ADMIN$"));
                }
            })
            .push();
        let batch = b.build();
        let ev = batch.get(0).expect("one event");
        assert_eq!((ev.seq, ev.time, ev.class()), (9, 5, EventClass::File));
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::Open, Outcome::Success)
        );
        assert_eq!(ev.code(), Some(5145));
        assert_eq!(ev.hostname(), Some("fs01"));
        assert_eq!(ev.process_image(), Some("System"));
        assert_eq!(ev.qualified_user().as_deref(), Some(r"CORP\bob"));
        assert_eq!(ev.src_port(), Some(5555));
        assert_eq!(ev.src_hostname(), Some("WS01"));
        assert_eq!(ev.attribute("sharelocalpath"), Some(r"\??\C:\Windows"));
        let file = ev.file().expect("a file body");
        assert_eq!(ev.text(file.share_name), Some(r"\\*\ADMIN$"));
    }

    #[test]
    #[should_panic(expected = "a other event has no user")]
    fn a_fact_the_class_cannot_hold_is_a_test_bug() {
        let mut b = BatchBuilder::new();
        let _ = b.event(EventClass::Other, 1, 0).user("", "root");
    }
}
