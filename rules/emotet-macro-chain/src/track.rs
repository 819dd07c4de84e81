//! Everything the rule keeps in host state, behind one type, [`Tracker`]:
//!
//! | key | value | expires |
//! | --- | --- | --- |
//! | `t\|host\|{GUID}`, `t\|host\|pid:N` | a tree member: `root ⇥ start ⇥ o/t ⇥ guid` | window after the member last acted |
//! | `o\|host` | the latest Office launch or document opened: `time ⇥ guid ⇥ pid ⇥ image ⇥ label` | `indirect_link_seconds` after it |
//! | `f\|host\|name` | a file the tree wrote, by lowercase basename: `root ⇥ seq ⇥ counted ⇥ path` | window after the write |
//! | `c\|host\|root` | the [`Chain`] of one Office process (`root` is its GUID, else `pid:N`) | window after its latest stage |
//! | `hot` | the hosts with a chain or an Office drop in progress, with their expiry | the latest of those |
//!
//! `host` is the event's hostname in lowercase, without its DNS domain. The hot set is also
//! kept in guest memory: an event on a host that is not in it needs no state at all, which
//! is what keeps the per-event cost of the rule low. A fresh instance reads it back from state
//! before its first event, so a fault loses nothing.
//!
//! A process is known by its GUID when the source has one (Sysmon), else by its pid; a pid
//! entry remembers the start time and the GUID of the process it was written for, and is
//! removed when an untagged process reuses the pid or the process exits, so pid reuse never
//! joins an unrelated process to a tree.

use core::fmt::Write;
use std::collections::BTreeMap;

use yagura_sdk::prelude::*;
use yagura_sdk::{Guid, log};

use crate::chain::{Chain, cut, cut_to};

/// The longest hostname used in keys, in bytes; longer ones are cut.
const HOST_MAX: usize = 200;
/// Hosts the hot set holds before it gives up and treats every host as hot.
const HOT_MAX: usize = 1_000;
/// The key of the hot set.
const HOT_KEY: &str = "hot";
/// The most bytes the stored hot set may take: below the host's 64 KiB value limit.
const HOT_TEXT_MAX: usize = 60 << 10;

/// A process as events name it: GUID and/or pid.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Proc {
    pub guid: Option<Guid>,
    pub pid: Option<u32>,
}

impl Proc {
    /// Whether the process can be named at all.
    pub fn is_known(&self) -> bool {
        self.guid.is_some() || self.pid.is_some()
    }

    /// The id a chain is rooted at: the GUID, else `pid:N`, else `office:` and `name`.
    pub fn root_id(&self, name: &str) -> String {
        match (self.guid, self.pid) {
            (Some(guid), _) => guid.to_string(),
            (None, Some(pid)) => format!("pid:{pid}"),
            (None, None) => format!("office:{}", name.to_ascii_lowercase()),
        }
    }
}

/// A member of a chain's process tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// the chain's root id
    pub root: String,
    /// whether the member is the Office process itself (its network traffic is not a stage)
    pub office: bool,
    /// when it joined the tree
    pub start: i64,
}

/// A file a tree wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub root: String,
    /// the event that wrote it
    pub seq: u64,
    /// whether the write counted as stage 4 already (an executable extension)
    pub counted: bool,
    pub path: String,
}

/// The latest Office launch or document opened on a host.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficeMark {
    pub time: i64,
    pub office: Proc,
    pub image: String,
    pub label: String,
}

/// The hosts with something in progress, mirrored in guest memory.
#[derive(Debug, Default)]
struct Hot {
    loaded: bool,
    hosts: BTreeMap<String, i64>,
    /// every host counts as hot until then (the set overflowed)
    overflow_until: i64,
}

/// The rule's host state; see the module docs for its keys.
#[derive(Debug)]
pub struct Tracker {
    window_ms: i64,
    link_ms: i64,
    /// the lowercase hostname of the event at hand
    host: String,
    /// a key buffer, reused
    key: String,
    hot: Hot,
    /// stages a chain needs before it is reported
    min_stages: u32,
    /// chains to report, with their dedup keys
    ready: Vec<(String, Chain)>,
    /// state calls refused in this batch
    pub state_errors: u32,
}

impl Tracker {
    pub fn new(window: Window, link_ms: i64, min_stages: u32) -> Self {
        Tracker {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            link_ms,
            host: String::with_capacity(64),
            key: String::with_capacity(160),
            hot: Hot {
                overflow_until: i64::MIN,
                ..Hot::default()
            },
            min_stages,
            ready: Vec::new(),
            state_errors: 0,
        }
    }

    /// Makes `hostname` the host of the calls that follow: lowercase, and without its DNS
    /// domain (`WS01.corp.example` is `ws01`), because one host's sources do not agree on the
    /// form (Sysmon through one collector writes the FQDN, Security through another the short
    /// name). An IP address is kept whole.
    pub fn set_host(&mut self, hostname: Option<&str>) {
        self.host.clear();
        let name = hostname.unwrap_or("");
        let name = match name.split_once('.') {
            Some((short, _)) if name.parse::<core::net::IpAddr>().is_err() && !short.is_empty() => {
                short
            }
            _ => name,
        };
        for c in cut_to(name, HOST_MAX).chars() {
            self.host.push(c.to_ascii_lowercase());
        }
    }

    /// The lowercase host.
    #[cfg(test)]
    pub fn host(&self) -> &str {
        &self.host
    }

    fn expiry(&self, at: i64) -> i64 {
        at.saturating_add(self.window_ms)
    }

    fn count<T>(&mut self, result: Result<T, state::StateError>) {
        if result.is_err() {
            self.state_errors += 1;
        }
    }

    // --- the hot set ---

    /// Whether the host has a chain (or an Office drop) in progress at `at`.
    pub fn is_hot(&mut self, at: i64) -> bool {
        self.load_hot(at);
        self.hot.overflow_until >= at || self.hot.hosts.get(&self.host).is_some_and(|&e| e >= at)
    }

    fn load_hot(&mut self, at: i64) {
        if self.hot.loaded {
            return;
        }
        self.hot.loaded = true;
        let Some(text) = state::get_string(HOT_KEY, at) else {
            return;
        };
        for line in text.lines() {
            let Some((host, expiry)) = line.split_once('\t') else {
                continue;
            };
            let Ok(expiry) = expiry.parse::<i64>() else {
                continue;
            };
            if host == "*" {
                self.hot.overflow_until = expiry;
            } else if self.hot.hosts.len() < HOT_MAX {
                self.hot.hosts.insert(host.to_owned(), expiry);
            }
        }
    }

    /// Keeps the host hot until at least a window after `at`. Extends by two windows at a
    /// time, so the set is written to state about once per window per host.
    pub fn mark_hot(&mut self, at: i64) {
        self.load_hot(at);
        let wanted = self.expiry(at);
        if self.hot.hosts.get(&self.host).is_some_and(|&e| e >= wanted) {
            return;
        }
        let until = wanted.saturating_add(self.window_ms);
        if !self.hot.hosts.contains_key(&self.host) && self.hot.hosts.len() >= HOT_MAX {
            if self.hot.overflow_until >= wanted {
                return; // every host is followed already
            }
            self.hot.hosts.retain(|_, e| *e >= at);
            if self.hot.hosts.len() >= HOT_MAX {
                self.hot.overflow_until = self.hot.overflow_until.max(until);
                log::warn(&format!(
                    "more than {HOT_MAX} hosts with a chain in progress: every host's events \
                     are followed until the set shrinks"
                ));
                return self.save_hot(at);
            }
        }
        self.hot.hosts.insert(self.host.clone(), until);
        self.save_hot(at);
    }

    fn save_hot(&mut self, at: i64) {
        self.hot.hosts.retain(|_, e| *e >= at);
        let (text, latest) = hot_text(&self.hot, at);
        let result = state::set_string(HOT_KEY, &text, latest.max(at));
        self.count(result);
    }

    // --- the process tree ---

    fn member_key(&mut self, id: impl core::fmt::Display) {
        self.key.clear();
        let _ = write!(self.key, "t|{}|{id}", self.host);
    }

    fn pid_key(&mut self, pid: u32) {
        self.key.clear();
        let _ = write!(self.key, "t|{}|pid:{pid}", self.host);
    }

    /// The tree member `proc` is, at `at`: by GUID, else by pid when the pid entry was written
    /// for this process (same GUID, or none known) and the process had started by `at`.
    pub fn member(&mut self, proc: Proc, at: i64) -> Option<Member> {
        if let Some(guid) = proc.guid {
            self.member_key(guid);
            if let Some(value) = state::get_string(&self.key, at) {
                return parse_member(&value).map(|(m, _)| m);
            }
        }
        let pid = proc.pid?;
        self.pid_key(pid);
        let value = state::get_string(&self.key, at)?;
        let (member, guid) = parse_member(&value)?;
        let same = match (guid, proc.guid) {
            (Some(stored), Some(guid)) => stored == guid.to_string(),
            _ => true,
        };
        (same && member.start <= at).then_some(member)
    }

    /// Makes `proc` a member of `root`'s tree until a window after `at`.
    pub fn tag(&mut self, proc: Proc, root: &str, office: bool, start: i64, at: i64) {
        let guid = proc.guid.map(|g| g.to_string());
        let value = format!(
            "{root}\t{start}\t{}\t{}",
            if office { 'o' } else { 't' },
            guid.as_deref().unwrap_or("-")
        );
        let expiry = self.expiry(at);
        if let Some(guid) = &guid {
            self.member_key(guid);
            let result = state::set_string(&self.key, &value, expiry);
            self.count(result);
        }
        if let Some(pid) = proc.pid {
            self.pid_key(pid);
            let result = state::set_string(&self.key, &value, expiry);
            self.count(result);
        }
    }

    /// Forgets whatever process used `pid` before: it exited, or a new process has it now.
    pub fn forget_pid(&mut self, pid: u32) {
        self.pid_key(pid);
        state::remove(&self.key);
    }

    // --- Office launches ---

    /// Records that Office (`office`, `image`) started or opened a document at `at`.
    /// A pid-only duplicate (Security 4688) of a launch a source with GUIDs recorded
    /// already leaves that record alone, so both sources root one chain.
    pub fn mark_office(&mut self, at: i64, office: Proc, image: &str, label: &str) {
        if self.link_ms <= 0 {
            return;
        }
        if office.guid.is_none()
            && self
                .office_mark(at)
                .is_some_and(|m| m.office.guid.is_some() && m.office.pid == office.pid)
        {
            return;
        }
        self.key.clear();
        let _ = write!(self.key, "o|{}", self.host);
        let guid = office.guid.map_or(0, |g| g.as_u128());
        let value = format!(
            "{at}\t{guid:x}\t{}\t{}\t{}",
            office.pid.unwrap_or(0),
            cut(image),
            cut(label)
        );
        let result = state::set_string(&self.key, &value, at.saturating_add(self.link_ms));
        self.count(result);
    }

    /// The latest Office launch on the host, if it was at most `indirect_link_seconds`
    /// before `at`.
    pub fn office_mark(&mut self, at: i64) -> Option<OfficeMark> {
        self.key.clear();
        let _ = write!(self.key, "o|{}", self.host);
        let value = state::get_string(&self.key, at)?;
        let mut parts = value.splitn(5, '\t');
        let time: i64 = parts.next()?.parse().ok()?;
        let guid = u128::from_str_radix(parts.next()?, 16).ok()?;
        let pid: u32 = parts.next()?.parse().ok()?;
        let image = parts.next()?.to_owned();
        let label = parts.next().unwrap_or("").to_owned();
        if time > at || at.saturating_sub(time) > self.link_ms {
            return None;
        }
        let office = Proc {
            guid: (guid != 0).then_some(Guid {
                hi: (guid >> 64) as u64,
                lo: guid as u64,
            }),
            pid: (pid != 0).then_some(pid),
        };
        Some(OfficeMark {
            time,
            office,
            image,
            label,
        })
    }

    // --- files ---

    fn file_key(&mut self, name: &str) {
        self.key.clear();
        let _ = write!(self.key, "f|{}|", self.host);
        for c in cut_to(name, 255).chars() {
            self.key.push(c.to_ascii_lowercase());
        }
    }

    /// The file a tree wrote under this basename, if any.
    pub fn file(&mut self, name: &str, at: i64) -> Option<FileRecord> {
        if name.is_empty() {
            return None;
        }
        self.file_key(name);
        let value = state::get_string(&self.key, at)?;
        let mut parts = value.splitn(4, '\t');
        Some(FileRecord {
            root: parts.next()?.to_owned(),
            seq: parts.next()?.parse().ok()?,
            counted: parts.next()? == "1",
            path: parts.next()?.to_owned(),
        })
    }

    /// Remembers a file a tree wrote, by its basename, for a window after `at`.
    pub fn record_file(&mut self, record: &FileRecord, at: i64) {
        let name = yagura_sdk::matchers::basename(&record.path);
        if name.is_empty() {
            return;
        }
        self.file_key(name);
        let value = format!(
            "{}\t{}\t{}\t{}",
            record.root,
            record.seq,
            if record.counted { '1' } else { '0' },
            cut(&record.path)
        );
        let expiry = self.expiry(at);
        let result = state::set_string(&self.key, &value, expiry);
        self.count(result);
    }

    // --- chains ---

    fn chain_key(&mut self, root: &str) {
        self.key.clear();
        let _ = write!(self.key, "c|{}|{root}", self.host);
    }

    /// The chain rooted at `root` on the host, unless it expired by `at`.
    pub fn chain(&mut self, root: &str, at: i64) -> Option<Chain> {
        self.chain_key(root);
        Chain::decode(&state::get(&self.key, at)?)
    }

    /// Stores a chain until a window after its latest stage and keeps its host hot. A chain
    /// that gained a stage since its last report, and has `min_stages`, is queued for a report
    /// (and stored as reported): every event that adds a stage reports it, whatever the
    /// batching, so a replay gives the same findings with any batch size.
    pub fn save(&mut self, root: &str, chain: &mut Chain) {
        let report = chain.stages & !chain.reported != 0 && chain.count() >= self.min_stages;
        if report {
            chain.reported = chain.stages;
        }
        self.chain_key(root);
        let result = state::set(&self.key, &chain.encode(), self.expiry(chain.last));
        self.count(result);
        if report {
            self.ready
                .push((format!("{}|{root}", self.host), chain.clone()));
        }
        self.mark_hot(chain.last);
    }

    /// The chains to report, with their dedup keys, emptied.
    pub fn take_ready(&mut self) -> Vec<(String, Chain)> {
        core::mem::take(&mut self.ready)
    }
}

/// The hot set as stored: a `host ⇥ expiry` line per host (a `*` line while every host counts
/// as hot), and the latest expiry. A set too large for one state value (1,000 hosts of long
/// names pass the host's 64 KiB) is stored as a `*` line until its latest expiry instead: a
/// fresh instance then follows every host for that long, which is slower but misses nothing,
/// rather than losing the set to a refused write.
fn hot_text(hot: &Hot, at: i64) -> (String, i64) {
    let mut text = String::with_capacity(32 * (hot.hosts.len() + 1));
    let mut latest = hot.overflow_until;
    if hot.overflow_until >= at {
        let _ = writeln!(text, "*\t{}", hot.overflow_until);
    }
    for (host, expiry) in &hot.hosts {
        let _ = writeln!(text, "{host}\t{expiry}");
        latest = latest.max(*expiry);
    }
    if text.len() > HOT_TEXT_MAX {
        text.clear();
        let _ = writeln!(text, "*\t{latest}");
    }
    (text, latest)
}

/// A member value: `root ⇥ start ⇥ o/t ⇥ guid-or-dash`, and the GUID it was written for.
fn parse_member(value: &str) -> Option<(Member, Option<&str>)> {
    let mut parts = value.split('\t');
    let root = parts.next()?.to_owned();
    let start = parts.next()?.parse().ok()?;
    let office = parts.next()? == "o";
    let guid = parts.next().filter(|g| *g != "-");
    Some((
        Member {
            root,
            office,
            start,
        },
        guid,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_values_parse() {
        let (m, guid) = parse_member("{A}\t5\to\t{B}").expect("parses");
        assert_eq!(
            m,
            Member {
                root: "{A}".into(),
                office: true,
                start: 5
            }
        );
        assert_eq!(guid, Some("{B}"));
        let (m, guid) = parse_member("pid:7\t-3\tt\t-").expect("parses");
        assert!(!m.office && m.start == -3 && guid.is_none());
        assert_eq!(parse_member("x"), None);
        assert_eq!(parse_member("x\tnot-a-number\tt\t-"), None);
    }

    #[test]
    fn root_ids() {
        let guid = Guid { hi: 1, lo: 2 };
        let both = Proc {
            guid: Some(guid),
            pid: Some(7),
        };
        assert_eq!(both.root_id("x"), "{00000000-0000-0001-0000-000000000002}");
        let pid = Proc {
            guid: None,
            pid: Some(7),
        };
        assert_eq!(pid.root_id("x"), "pid:7");
        assert_eq!(Proc::default().root_id("WINWORD.EXE"), "office:winword.exe");
        assert!(!Proc::default().is_known());
    }

    #[test]
    fn a_hot_set_too_large_for_one_value_is_stored_as_every_host() {
        let mut hot = Hot {
            overflow_until: i64::MIN,
            ..Hot::default()
        };
        hot.hosts.insert("ws01".into(), 5_000);
        let (text, latest) = hot_text(&hot, 1_000);
        assert_eq!((text.as_str(), latest), ("ws01\t5000\n", 5_000));
        // 1,000 hosts of 200-byte names: about 210 KB as lines
        for i in 0..HOT_MAX {
            hot.hosts.insert(format!("{i:0>200}"), 7_000 + i as i64);
        }
        let (text, latest) = hot_text(&hot, 1_000);
        assert_eq!(latest, 7_000 + HOT_MAX as i64 - 1);
        assert_eq!(text, format!("*\t{latest}\n"));
        assert!(text.len() <= HOT_TEXT_MAX);
    }

    #[test]
    fn hosts_are_lowercased_and_cut() {
        let mut t = Tracker::new(Window::minutes(10), 60_000, 2);
        t.set_host(Some("WS01.Corp.example"));
        assert_eq!(t.host(), "ws01");
        t.set_host(Some("10.0.0.5"));
        assert_eq!(t.host(), "10.0.0.5");
        t.set_host(Some(".odd"));
        assert_eq!(t.host(), ".odd");
        t.set_host(Some(&"é".repeat(300)));
        assert!(t.host().len() <= HOST_MAX);
        t.set_host(None);
        assert_eq!(t.host(), "");
    }
}
