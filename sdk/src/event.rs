//! [`EventRef`]: one event of a [`Batch`], with accessors that read its header, its class's
//! body and its attributes and resolve their text spans.
//!
//! An event is a small header (`seq`, `time`, `activity`, `outcome`, `code`, `hostname`), a
//! [`Body`] whose case is the event's class, and attributes. The accessors present the same
//! facts whatever the class: "the process" is the process body's process, else the
//! actor process of a network, file, registry, DNS, HTTP or script body; "the user" is the
//! body's user; `src` and `dst` are the body's endpoints. Numbers the WIT sends as 0 for
//! "unknown" (pids, ports, the event code) read as `None`. Every accessor borrows; only the
//! labels and [`EventRef::qualified_user`] allocate.
//!
//! Facts of one class only are read from its body, through a typed getter or by matching:
//!
//! ```
//! use yagura_sdk::testing::BatchBuilder;
//! use yagura_sdk::{Body, EventClass, Outcome};
//!
//! let mut b = BatchBuilder::new();
//! b.event(EventClass::Authentication, 1, 1_000)
//!     .outcome(Outcome::Failure)
//!     .code(4625)
//!     .user("CORP", "alice")
//!     .src("10.0.0.5".parse().unwrap(), None)
//!     .with(|ev, _| {
//!         if let Body::Authentication(auth) = &mut ev.body {
//!             auth.logon_type = 3;
//!         }
//!     })
//!     .push();
//! let batch = b.build();
//!
//! for ev in &batch {
//!     let Some(auth) = ev.authentication() else { continue };
//!     assert_eq!((ev.code(), auth.logon_type), (Some(4625), 3));
//!     assert_eq!(ev.qualified_user().as_deref(), Some(r"CORP\alice"));
//!     assert_eq!(ev.src_ip(), Some("10.0.0.5".parse().unwrap()));
//!     assert_eq!(ev.src_port(), None, "port 0 is unknown");
//! }
//! ```

use core::net::IpAddr;
use core::ops::Deref;

use crate::matchers::{basename, eq_ignore_case};
use crate::{
    ActorProcess, Authentication, Batch, Body, Endpoint, Event, EventClass, FileActivity, Guid,
    JobActivity, NetworkActivity, Process, ProcessActivity, QueryActivity, RegistryActivity,
    ScriptActivity, Text, User,
};

/// Attribute keys of the facts the host moves out of the event's hot path.
pub mod attribute_keys {
    /// The adapter: `ocsf`, `evtx`, `winevent-json`, `ecs`, `zeek-conn`, `syslog`…
    pub const SOURCE_FORMAT: &str = "source.format";
    /// The Windows channel (`Security`, `Microsoft-Windows-Sysmon/Operational`) or log name.
    pub const SOURCE_CHANNEL: &str = "source.channel";
    /// The provider or product.
    pub const SOURCE_PROVIDER: &str = "source.provider";
    /// The source's record number.
    pub const SOURCE_RECORD_ID: &str = "source.record_id";
    /// The domain of the host the event was recorded on.
    pub const DEVICE_DOMAIN: &str = "device.domain";
    /// The address of the host the event was recorded on.
    pub const DEVICE_IP: &str = "device.ip";
    /// The process's working directory.
    pub const PROCESS_CWD: &str = "process.cwd";
    /// The process's start time.
    pub const PROCESS_START_TIME: &str = "process.start_time";
    /// Authentication only: the image of the process that asked (4624 ProcessName).
    pub const ACTOR_PROCESS_IMAGE: &str = "actor.process.image";
    /// Process only: the hashes of the module loaded (Sysmon 7 `Hashes`), whose path is the
    /// body's `target`.
    pub const FILE_HASHES: &str = "file.hashes";
}

impl Body {
    /// The event class this body is the case of.
    pub const fn class(&self) -> EventClass {
        match self {
            Body::Authentication(_) => EventClass::Authentication,
            Body::Process(_) => EventClass::Process,
            Body::Network(_) => EventClass::Network,
            Body::File(_) => EventClass::File,
            Body::Registry(_) => EventClass::Registry,
            Body::Dns(_) => EventClass::Dns,
            Body::Http(_) => EventClass::Http,
            Body::Job(_) => EventClass::Job,
            Body::Script(_) => EventClass::Script,
            Body::Other => EventClass::Other,
        }
    }
}

impl Endpoint {
    /// Whether the endpoint says nothing: no address, port 0 and no hostname.
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.port == 0 && self.hostname.is_none()
    }
}

/// One event of a batch: the generated [`Event`] record (through `Deref`: `ev.seq`, `ev.time`,
/// `ev.activity`, `ev.outcome`, `ev.body`…) plus accessors that read it across classes and
/// resolve its text spans (see the module docs for what "the process" and "the user" are).
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    batch: &'a Batch,
    event: &'a Event,
    /// the event's index in the batch (its attributes are found by it)
    index: usize,
}

impl Deref for EventRef<'_> {
    type Target = Event;

    fn deref(&self) -> &Event {
        self.event
    }
}

impl<'a> EventRef<'a> {
    pub(crate) fn new(batch: &'a Batch, event: &'a Event, index: usize) -> Self {
        EventRef {
            batch,
            event,
            index,
        }
    }

    /// The event's position in its batch.
    pub fn index(&self) -> usize {
        self.index
    }

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

    // --- header ---

    /// The event class: the case of the body.
    pub fn class(&self) -> EventClass {
        self.event.body.class()
    }

    /// The hostname of the device the event was recorded on.
    pub fn hostname(&self) -> Option<&'a str> {
        self.text(self.event.hostname)
    }

    /// The source's event code (Windows EventID 4624, Sysmon id 1…); `None` when the header
    /// says 0.
    pub fn code(&self) -> Option<u32> {
        nonzero(self.event.code)
    }

    /// The adapter that read the event (attribute `source.format`): `evtx`, `zeek-conn`…
    pub fn source_format(&self) -> Option<&'a str> {
        self.attribute(attribute_keys::SOURCE_FORMAT)
    }

    /// The Windows channel or log name (attribute `source.channel`).
    pub fn channel(&self) -> Option<&'a str> {
        self.attribute(attribute_keys::SOURCE_CHANNEL)
    }

    /// The device's domain (attribute `device.domain`).
    pub fn device_domain(&self) -> Option<&'a str> {
        self.attribute(attribute_keys::DEVICE_DOMAIN)
    }

    /// The device's IP address (attribute `device.ip`, parsed).
    pub fn device_ip(&self) -> Option<IpAddr> {
        self.attribute(attribute_keys::DEVICE_IP)?.parse().ok()
    }

    // --- bodies ---

    /// The authentication body.
    pub fn authentication(&self) -> Option<&'a Authentication> {
        match &self.event.body {
            Body::Authentication(a) => Some(a),
            _ => None,
        }
    }

    /// The process body (the process, its user and the module loaded or process accessed).
    pub fn process_activity(&self) -> Option<&'a ProcessActivity> {
        match &self.event.body {
            Body::Process(p) => Some(p),
            _ => None,
        }
    }

    /// The network body.
    pub fn network(&self) -> Option<&'a NetworkActivity> {
        match &self.event.body {
            Body::Network(n) => Some(n),
            _ => None,
        }
    }

    /// The file body.
    pub fn file(&self) -> Option<&'a FileActivity> {
        match &self.event.body {
            Body::File(f) => Some(f),
            _ => None,
        }
    }

    /// The registry body.
    pub fn registry(&self) -> Option<&'a RegistryActivity> {
        match &self.event.body {
            Body::Registry(r) => Some(r),
            _ => None,
        }
    }

    /// The DNS or HTTP body (tell them apart with [`EventRef::class`]).
    pub fn query(&self) -> Option<&'a QueryActivity> {
        match &self.event.body {
            Body::Dns(q) | Body::Http(q) => Some(q),
            _ => None,
        }
    }

    /// The job (service or scheduled task) body.
    pub fn job(&self) -> Option<&'a JobActivity> {
        match &self.event.body {
            Body::Job(j) => Some(j),
            _ => None,
        }
    }

    /// The script body.
    pub fn script(&self) -> Option<&'a ScriptActivity> {
        match &self.event.body {
            Body::Script(s) => Some(s),
            _ => None,
        }
    }

    // --- the process and its parent ---

    /// The process of a process event: the one launched, terminated, that accessed another or
    /// loaded a module.
    pub fn process(&self) -> Option<&'a Process> {
        Some(&self.process_activity()?.process)
    }

    /// The process behind a network, file, registry, DNS, HTTP or script event.
    pub fn actor_process(&self) -> Option<&'a ActorProcess> {
        match &self.event.body {
            Body::Network(n) => n.process.as_ref(),
            Body::File(f) => f.process.as_ref(),
            Body::Registry(r) => r.process.as_ref(),
            Body::Dns(q) | Body::Http(q) => q.process.as_ref(),
            Body::Script(s) => s.process.as_ref(),
            Body::Authentication(_) | Body::Process(_) | Body::Job(_) | Body::Other => None,
        }
    }

    /// The process's image path: the process body's, else the actor process's.
    pub fn process_image(&self) -> Option<&'a str> {
        let image = match self.process() {
            Some(p) => p.image,
            None => self.actor_process()?.image,
        };
        self.text(image)
    }

    /// The process's command line (process events only).
    pub fn process_cmd_line(&self) -> Option<&'a str> {
        self.text(self.process()?.cmd_line)
    }

    /// The process's pid, found like [`EventRef::process_image`]; `None` when 0.
    pub fn process_pid(&self) -> Option<u32> {
        nonzero(match self.process() {
            Some(p) => p.pid,
            None => self.actor_process()?.pid,
        })
    }

    /// The process's GUID, found like [`EventRef::process_image`].
    pub fn process_guid(&self) -> Option<Guid> {
        match self.process() {
            Some(p) => p.guid,
            None => self.actor_process()?.guid,
        }
    }

    /// What a process event acted on: the module loaded (Sysmon 7) or the process accessed
    /// (Sysmon 10).
    pub fn process_target(&self) -> Option<&'a str> {
        self.text(self.process_activity()?.target)
    }

    /// The parent's image path (process events only).
    pub fn parent_image(&self) -> Option<&'a str> {
        self.text(self.process()?.parent_image)
    }

    /// The parent's command line (process events only).
    pub fn parent_cmd_line(&self) -> Option<&'a str> {
        self.text(self.process()?.parent_cmd_line)
    }

    /// The parent's pid (process events only); `None` when 0.
    pub fn parent_pid(&self) -> Option<u32> {
        nonzero(self.process()?.parent_pid)
    }

    /// The parent's GUID (process events only).
    pub fn parent_guid(&self) -> Option<Guid> {
        self.process()?.parent_guid
    }

    /// A label for the process: its image's basename and pid, e.g. `cmd.exe (pid 42)`.
    pub fn process_label(&self) -> Option<String> {
        label(self.process_image(), self.process_pid())
    }

    /// A label for the parent, like [`EventRef::process_label`].
    pub fn parent_label(&self) -> Option<String> {
        label(self.parent_image(), self.parent_pid())
    }

    // --- the user ---

    /// The body's user: the account a process runs as, the account logged on (authentication),
    /// the account that opened a file or share, set a registry value, installed a job or ran
    /// a script, the account of the process behind a connection, query or request.
    pub fn user(&self) -> Option<&'a User> {
        match &self.event.body {
            Body::Authentication(a) => Some(&a.user),
            Body::Process(p) => p.user.as_ref(),
            Body::File(f) => f.user.as_ref(),
            Body::Registry(r) => r.user.as_ref(),
            Body::Job(j) => j.user.as_ref(),
            Body::Script(s) => s.user.as_ref(),
            Body::Network(n) => n.user.as_ref(),
            Body::Dns(q) | Body::Http(q) => q.user.as_ref(),
            Body::Other => None,
        }
    }

    /// The user's account name.
    pub fn user_name(&self) -> Option<&'a str> {
        self.text(self.user()?.name)
    }

    /// The user's domain.
    pub fn user_domain(&self) -> Option<&'a str> {
        self.text(self.user()?.domain)
    }

    /// The user's SID or other unique id.
    pub fn user_sid(&self) -> Option<&'a str> {
        self.text(self.user()?.sid)
    }

    /// The user as `DOMAIN\name`, or `name` without a domain.
    pub fn qualified_user(&self) -> Option<String> {
        let name = self.user_name().filter(|n| !n.is_empty())?;
        Some(match self.user_domain().filter(|d| !d.is_empty()) {
            Some(domain) => format!("{domain}\\{name}"),
            None => name.to_owned(),
        })
    }

    // --- endpoints ---

    /// The source endpoint of an authentication, network, file, DNS or HTTP event; `None`
    /// when the body has none or it is empty.
    pub fn src(&self) -> Option<&'a Endpoint> {
        let src = match &self.event.body {
            Body::Authentication(a) => &a.src,
            Body::Network(n) => &n.src,
            Body::File(f) => &f.src,
            Body::Dns(q) | Body::Http(q) => &q.src,
            _ => return None,
        };
        (!src.is_empty()).then_some(src)
    }

    /// The destination endpoint of a network, DNS or HTTP event; `None` when the body has
    /// none or it is empty.
    pub fn dst(&self) -> Option<&'a Endpoint> {
        let dst = match &self.event.body {
            Body::Network(n) => &n.dst,
            Body::Dns(q) | Body::Http(q) => &q.dst,
            _ => return None,
        };
        (!dst.is_empty()).then_some(dst)
    }

    /// The source IP address.
    pub fn src_ip(&self) -> Option<IpAddr> {
        self.src()?.ip.map(IpAddr::from)
    }

    /// The source port; `None` when 0.
    pub fn src_port(&self) -> Option<u16> {
        nonzero(self.src()?.port)
    }

    /// The source hostname or workstation name.
    pub fn src_hostname(&self) -> Option<&'a str> {
        self.text(self.src()?.hostname)
    }

    /// The destination IP address.
    pub fn dst_ip(&self) -> Option<IpAddr> {
        self.dst()?.ip.map(IpAddr::from)
    }

    /// The destination port; `None` when 0.
    pub fn dst_port(&self) -> Option<u16> {
        nonzero(self.dst()?.port)
    }

    /// The destination hostname.
    pub fn dst_hostname(&self) -> Option<&'a str> {
        self.text(self.dst()?.hostname)
    }

    // --- attributes ---

    /// The value of the first attribute whose key equals `key`, ignoring ASCII case: a fact
    /// the host moved out of the hot path (see [`attribute_keys`]) or a source field with no
    /// typed home.
    pub fn attribute(&self, key: &str) -> Option<&'a str> {
        self.batch
            .attributes_of(self.index)
            .iter()
            .find(|a| self.text(a.key).is_some_and(|k| eq_ignore_case(k, key)))
            .and_then(|a| self.text(a.value))
    }

    /// The attributes as resolved `(key, value)` pairs; invalid spans are skipped.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let batch = self.batch;
        batch
            .attributes_of(self.index)
            .iter()
            .filter_map(move |a| Some((batch.text(a.key)?, batch.text(a.value)?)))
    }
}

/// `None` for the 0 the WIT sends for "unknown".
fn nonzero<T: Default + PartialEq>(n: T) -> Option<T> {
    (n != T::default()).then_some(n)
}

fn label(image: Option<&str>, pid: Option<u32>) -> Option<String> {
    match (image.map(basename).filter(|n| !n.is_empty()), pid) {
        (Some(name), Some(pid)) => Some(format!("{name} (pid {pid})")),
        (Some(name), None) => Some(name.to_owned()),
        (None, Some(pid)) => Some(format!("pid {pid}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::BatchBuilder;
    use crate::{Activity, AuthProtocol, Outcome, Text};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("a valid address")
    }

    fn launch_batch() -> Batch {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 7, 1_000)
            .activity(Activity::Create)
            .code(1)
            .hostname("WS01")
            .user("CORP", "alice")
            .process_image(r"C:\Windows\System32\cmd.exe")
            .process_cmd_line("cmd.exe /c whoami")
            .process_pid(4242)
            .process_guid(Guid { hi: 3, lo: 4 })
            .parent_image(r"C:\Program Files\Microsoft Office\WINWORD.EXE")
            .parent_cmd_line("WINWORD.EXE /n")
            .parent_pid(100)
            .parent_guid(Guid { hi: 1, lo: 2 })
            .attribute("source.format", "evtx")
            .attribute("source.channel", "Microsoft-Windows-Sysmon/Operational")
            .attribute("device.domain", "corp.example")
            .attribute("device.ip", "10.0.0.9")
            .attribute("LogonGuid", "{abc}")
            .push();
        b.build()
    }

    #[test]
    fn process_launch_accessors() {
        let batch = launch_batch();
        let ev = batch.get(0).expect("one event");
        assert_eq!(
            (ev.seq, ev.time, ev.class()),
            (7, 1_000, EventClass::Process)
        );
        assert_eq!(ev.code(), Some(1));
        assert_eq!(ev.hostname(), Some("WS01"));
        assert_eq!(ev.process_image(), Some(r"C:\Windows\System32\cmd.exe"));
        assert_eq!(ev.process_cmd_line(), Some("cmd.exe /c whoami"));
        assert_eq!(ev.process_pid(), Some(4242));
        assert_eq!(ev.process_guid(), Some(Guid { hi: 3, lo: 4 }));
        assert_eq!(
            ev.parent_image(),
            Some(r"C:\Program Files\Microsoft Office\WINWORD.EXE")
        );
        assert_eq!(ev.parent_cmd_line(), Some("WINWORD.EXE /n"));
        assert_eq!(ev.parent_pid(), Some(100));
        assert_eq!(ev.parent_guid(), Some(Guid { hi: 1, lo: 2 }));
        assert_eq!(ev.user_name(), Some("alice"));
        assert_eq!(ev.qualified_user().as_deref(), Some(r"CORP\alice"));
        assert_eq!(ev.process_label().as_deref(), Some("cmd.exe (pid 4242)"));
        assert_eq!(ev.parent_label().as_deref(), Some("WINWORD.EXE (pid 100)"));
        assert!(ev.process_activity().is_some() && ev.actor_process().is_none());
        assert_eq!((ev.src(), ev.dst(), ev.src_ip()), (None, None, None));
    }

    #[test]
    fn header_facts_moved_to_attributes() {
        let batch = launch_batch();
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.source_format(), Some("evtx"));
        assert_eq!(ev.channel(), Some("Microsoft-Windows-Sysmon/Operational"));
        assert_eq!(ev.device_domain(), Some("corp.example"));
        assert_eq!(ev.device_ip(), Some(ip("10.0.0.9")));
        assert_eq!(ev.attribute("logonguid"), Some("{abc}"));
        assert_eq!(ev.attributes().count(), 5);
        assert_eq!(ev.attributes().last(), Some(("LogonGuid", "{abc}")));
    }

    #[test]
    fn zero_numbers_read_as_none() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 1, 0)
            .process_image("cmd.exe")
            .push();
        b.event(EventClass::Network, 2, 0)
            .src(ip("10.0.0.1"), None)
            .dst(ip("10.0.0.2"), Some(0))
            .push();
        let batch = b.build();
        let proc = batch.get(0).expect("two events");
        assert_eq!(proc.code(), None);
        assert_eq!((proc.process_pid(), proc.parent_pid()), (None, None));
        assert_eq!(proc.process_label().as_deref(), Some("cmd.exe"));
        assert_eq!(proc.parent_label(), None);
        let net = batch.get(1).expect("two events");
        assert_eq!((net.src_port(), net.dst_port()), (None, None));
        assert_eq!(net.dst_ip(), Some(ip("10.0.0.2")));
    }

    #[test]
    fn network_reads_the_actor_process_and_endpoints() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Network, 1, 0)
            .activity(Activity::Traffic)
            .process_image("/usr/bin/curl")
            .process_pid(77)
            .src(ip("10.0.0.5"), Some(49152))
            .dst(ip("2001:db8::1"), Some(445))
            .dst_hostname("fs01")
            .push();
        let batch = b.build();
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.class(), EventClass::Network);
        assert_eq!(ev.process_image(), Some("/usr/bin/curl"));
        assert_eq!(ev.process_label().as_deref(), Some("curl (pid 77)"));
        assert_eq!(ev.process_cmd_line(), None);
        assert_eq!(ev.parent_image(), None);
        assert_eq!(ev.user(), None);
        assert_eq!(ev.src_ip(), Some(ip("10.0.0.5")));
        assert_eq!(ev.src_port(), Some(49152));
        assert_eq!(ev.dst_ip(), Some(ip("2001:db8::1")));
        assert_eq!(ev.dst_port(), Some(445));
        assert_eq!(ev.dst_hostname(), Some("fs01"));
        assert!(ev.network().is_some() && ev.authentication().is_none());
    }

    #[test]
    fn authentication_reads_target_user_and_source() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Authentication, 1, 0)
            .activity(Activity::Logon)
            .outcome(Outcome::Failure)
            .code(4625)
            .user("CORP", "bob")
            .subject("CORP", "WS01$")
            .src_hostname("KALI")
            .with(|ev, _| {
                if let Body::Authentication(a) = &mut ev.body {
                    a.logon_type = 3;
                    a.protocol = AuthProtocol::Ntlm;
                    a.status_code = 0xC000_006A;
                }
            })
            .push();
        let batch = b.build();
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.qualified_user().as_deref(), Some(r"CORP\bob"));
        let auth = ev.authentication().expect("an authentication body");
        assert_eq!(ev.text(auth.subject.and_then(|s| s.name)), Some("WS01$"));
        assert_eq!((auth.logon_type, auth.status_code), (3, 0xC000_006A));
        assert_eq!(ev.src_hostname(), Some("KALI"));
        assert_eq!((ev.src_ip(), ev.src_port()), (None, None));
        assert_eq!(ev.dst(), None, "authentication has no destination");
        assert_eq!(ev.process_image(), None);
    }

    #[test]
    fn each_body_knows_its_class_and_getter() {
        let mut b = BatchBuilder::new();
        for (seq, class) in EventClass::ALL.into_iter().enumerate() {
            b.event(class, seq as u64, 0).push();
        }
        let batch = b.build();
        for (ev, class) in batch.events().zip(EventClass::ALL) {
            assert_eq!(ev.class(), class);
            let getters = [
                ev.authentication().is_some(),
                ev.process_activity().is_some(),
                ev.network().is_some(),
                ev.file().is_some(),
                ev.registry().is_some(),
                ev.query().is_some(),
                ev.job().is_some(),
                ev.script().is_some(),
            ];
            let expected = match class {
                EventClass::Other => 0,
                _ => 1,
            };
            assert_eq!(getters.iter().filter(|g| **g).count(), expected, "{class}");
            assert_eq!(ev.src(), None, "{class}: an empty endpoint reads as none");
        }
    }

    #[test]
    fn invalid_spans_read_as_none() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 1, 0)
            .with(|ev, _| {
                ev.hostname = Some(Text {
                    start: 1_000,
                    len: 4,
                })
            })
            .push();
        let batch = b.build();
        let ev = batch.get(0).expect("one event");
        assert_eq!(ev.hostname(), None);
        assert_eq!(ev.text(None), None);
    }
}
