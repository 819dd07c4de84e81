//! What each event contributes to a chain: launches root chains and extend trees, and each
//! class adds its stage when its process is a tree member (or names a file a tree wrote).
//!
//! Every handler starts with allocation-free name and path tests; only an event that passes
//! them, on a host in the hot set (or rooting a chain), touches state.

use yagura_sdk::matchers::starts_with_ignore_case;
use yagura_sdk::prelude::*;
use yagura_sdk::{Direction, FileActivity, Process, RegistryActivity};

use crate::EmotetMacroChain;
use crate::chain::{Chain, Link, Stage, cut, sample};
use crate::cmdline::{file_names, indicator};
use crate::lists::{
    is_automation, is_executable, is_opened_document, is_run_key, is_user_writable,
    references_user_writable,
};
use crate::track::{FileRecord, Proc};

/// File names read from one command line or Run-key value.
const NAMES_PER_LINE: usize = 6;

/// How a chain is rooted: which Office process, how the shell is linked to it.
struct Root<'a> {
    id: String,
    link: Link,
    office: Proc,
    office_image: &'a str,
    office_label: String,
}

impl EmotetMacroChain {
    /// Follows one event.
    pub(crate) fn follow(&mut self, ev: &EventRef<'_>) {
        match &ev.body {
            Body::Process(p) => match ev.activity {
                Activity::Create | Activity::Unknown => self.on_launch(ev, &p.process),
                Activity::Delete => self.on_exit(ev, &p.process),
                Activity::Open => self.on_load(ev),
                _ => {}
            },
            Body::Network(n) if n.direction != Direction::Inbound => self.on_traffic(ev),
            Body::Dns(_) => self.on_traffic(ev),
            Body::File(f) => self.on_file(ev, f),
            Body::Registry(r) => self.on_registry(ev, r),
            _ => {}
        }
    }

    fn is_allowed(&self, cmd: &str) -> bool {
        contains_any_ignore_case(cmd, &self.allowed)
    }

    /// A process launch: a chain root (Office, or WMI/COM after Office), an Office launch to
    /// remember, or a child of a tree member.
    fn on_launch(&mut self, ev: &EventRef<'_>, p: &Process) {
        let child = ev.text(p.image).unwrap_or("");
        let parent = ev.text(p.parent_image).unwrap_or("");
        let cmd = ev.text(p.cmd_line).unwrap_or("");
        let child_proc = proc_of(p.guid, p.pid);
        let parent_proc = proc_of(p.parent_guid, p.parent_pid);

        if self.office.contains_path(parent) && !self.is_allowed(cmd) {
            let shell = self.shells.contains_path(child);
            if shell || is_user_writable(child, &self.writable) {
                self.track.set_host(ev.hostname());
                let id = self.office_root(parent_proc, parent, ev.time);
                // Office running a program from a user folder roots a chain only when it
                // wrote that program itself (Excel 4.0 macros: download, then EXEC).
                let mut own_drop = || {
                    self.track
                        .file(basename(child), ev.time)
                        .is_some_and(|r| r.root == id)
                };
                if shell || own_drop() {
                    let root = Root {
                        id,
                        link: Link::Direct,
                        office: parent_proc,
                        office_image: parent,
                        office_label: ev.parent_label().unwrap_or_default(),
                    };
                    return self.root(ev, root, child, cmd, child_proc);
                }
            }
        }
        // An Office launch for a user (not a COM automation server) opens a document — except
        // Outlook's, which starts at logon and opens mail; its attachments show up as
        // documents in the Internet cache (`on_file`).
        if self.link_ms > 0
            && self.office.contains_path(child)
            && !is_automation(cmd)
            && !eq_ignore_case(basename(child), "outlook.exe")
        {
            self.track.set_host(ev.hostname());
            let label = ev.process_label().unwrap_or_default();
            self.track.mark_office(ev.time, child_proc, child, &label);
        }
        if self.link_ms > 0
            && self.indirect.contains_path(parent)
            && self.shells.contains_path(child)
            && !self.is_allowed(cmd)
        {
            // explorer.exe starts shells for users all day: only a stage-2 command line
            // makes its child a COM-launched payload.
            let com = !eq_ignore_case(basename(parent), "wmiprvse.exe");
            if !com || indicator(cmd).is_some() {
                self.track.set_host(ev.hostname());
                if let Some(mark) = self.track.office_mark(ev.time) {
                    let root = Root {
                        id: mark.office.root_id(basename(&mark.image)),
                        link: if com { Link::Com } else { Link::Wmi },
                        office: mark.office,
                        office_image: &mark.image,
                        office_label: mark.label.clone(),
                    };
                    return self.root(ev, root, child, cmd, child_proc);
                }
            }
        }
        self.track.set_host(ev.hostname());
        if self.track.is_hot(ev.time) {
            self.descendant(ev, child, cmd, child_proc, parent_proc);
        }
    }

    /// The root id of an Office process: its GUID, else `pid:N` — unless a source with GUIDs
    /// (Sysmon) already rooted a chain at this Office process, whose root a pid-only
    /// duplicate of the same launch (Security 4688) must join rather than start a second
    /// alert.
    fn office_root(&mut self, office: Proc, image: &str, at: i64) -> String {
        if office.guid.is_none()
            && office.pid.is_some()
            && let Some(member) = self.track.member(office, at).filter(|m| m.office)
        {
            return member.root;
        }
        office.root_id(basename(image))
    }

    /// Roots (or extends) the chain of an Office process with the shell it started.
    fn root(&mut self, ev: &EventRef<'_>, root: Root<'_>, child: &str, cmd: &str, proc: Proc) {
        let at = ev.time;
        let mut chain = self.track.chain(&root.id, at).unwrap_or_else(|| Chain {
            first: at,
            last: at,
            link: Some(root.link),
            host: cut(ev.hostname().unwrap_or("")).to_owned(),
            office: cut(root.office_image).to_owned(),
            office_label: root.office_label.clone(),
            ..Chain::default()
        });
        if chain.child.is_empty() {
            chain.child = ev.process_label().unwrap_or_default();
            chain.child_cmd = cut(cmd).to_owned();
            chain.user = ev.qualified_user().unwrap_or_default();
        }
        chain.add(Stage::Launch, at, ev.seq);
        self.command_stages(&mut chain, ev, child, cmd, &root.id);
        if root.office.is_known() {
            self.track.tag(root.office, &root.id, true, at, at);
        }
        self.track.tag(proc, &root.id, false, at, at);
        self.track.save(&root.id, &mut chain);
    }

    /// A launch on a hot host: the child of a member joins its tree; a file a tree wrote,
    /// started by anyone, is stage 5 of that tree's chain.
    fn descendant(&mut self, ev: &EventRef<'_>, child: &str, cmd: &str, proc: Proc, parent: Proc) {
        let at = ev.time;
        if let Some(member) = self.track.member(parent, at) {
            let Some(mut chain) = self.track.chain(&member.root, at) else {
                return;
            };
            self.track.tag(proc, &member.root, false, at, at);
            chain.touch(at);
            self.command_stages(&mut chain, ev, child, cmd, &member.root);
            return self.track.save(&member.root, &mut chain);
        }
        // A new process outside every tree: whatever had its pid before is gone.
        if let Some(pid) = proc.pid {
            self.track.forget_pid(pid);
        }
        let record = if is_user_writable(child, &self.writable) {
            self.track.file(basename(child), at)
        } else if self.loaders.contains_path(child) {
            self.named_file(child, cmd, None, at)
        } else {
            None
        };
        let Some(record) = record else {
            return;
        };
        let Some(mut chain) = self.track.chain(&record.root, at) else {
            return;
        };
        let root = record.root.clone();
        let what = if self.loaders.contains_path(child) {
            cmd
        } else {
            child
        };
        executed(&mut chain, ev, what, Some(record));
        self.track.tag(proc, &root, false, at, at);
        self.track.save(&root, &mut chain);
    }

    /// Stages 2 and 5 a tree member's command line shows: an indicator; a program run from a
    /// user-writable folder; rundll32/regsvr32 loading a file from one, or a file the tree
    /// wrote.
    fn command_stages(
        &mut self,
        chain: &mut Chain,
        ev: &EventRef<'_>,
        child: &str,
        cmd: &str,
        root: &str,
    ) {
        if let Some(found) = indicator(cmd)
            && (chain.add(Stage::Cradle, ev.time, ev.seq) || chain.indicator.is_empty())
        {
            chain.indicator = found.to_owned();
            chain.indicator_cmd = cut(cmd).to_owned();
        }
        if is_user_writable(child, &self.writable) {
            let record = self
                .track
                .file(basename(child), ev.time)
                .filter(|r| r.root == root);
            executed(chain, ev, child, record);
        } else if self.loaders.contains_path(child) {
            let record = self.named_file(child, cmd, Some(root), ev.time);
            if record.is_some() || references_user_writable(cmd, &self.writable) {
                executed(chain, ev, cmd, record);
            }
        }
    }

    /// The first file named in `cmd` (other than the program itself) that a tree wrote —
    /// `root`'s tree when given.
    fn named_file(
        &mut self,
        program: &str,
        cmd: &str,
        root: Option<&str>,
        at: i64,
    ) -> Option<FileRecord> {
        let program = basename(program);
        file_names(cmd, NAMES_PER_LINE)
            .filter(|name| !eq_ignore_case(name, program))
            .find_map(|name| {
                self.track
                    .file(name, at)
                    .filter(|r| root.is_none_or(|root| r.root == root))
            })
    }

    /// A process exit: its pid may be reused from now on.
    fn on_exit(&mut self, ev: &EventRef<'_>, p: &Process) {
        if p.pid == 0 {
            return;
        }
        self.track.set_host(ev.hostname());
        if self.track.is_hot(ev.time) {
            self.track.forget_pid(p.pid);
        }
    }

    /// An image load (Sysmon 7): a DLL a tree wrote, loaded by any process, is stage 5.
    fn on_load(&mut self, ev: &EventRef<'_>) {
        if ev.code().is_some_and(|code| code != 7) {
            return;
        }
        let Some(module) = ev.process_target() else {
            return;
        };
        self.track.set_host(ev.hostname());
        if !self.track.is_hot(ev.time) || !is_user_writable(module, &self.writable) {
            return;
        }
        let Some(record) = self.track.file(basename(module), ev.time) else {
            return;
        };
        let Some(mut chain) = self.track.chain(&record.root, ev.time) else {
            return;
        };
        let root = record.root.clone();
        executed(&mut chain, ev, module, Some(record));
        let proc = ev
            .process()
            .map(|p| proc_of(p.guid, p.pid))
            .unwrap_or_default();
        self.track.tag(proc, &root, false, ev.time, ev.time);
        self.track.save(&root, &mut chain);
    }

    /// An outbound connection or a DNS query by a tree member (not Office itself, which talks
    /// to its cloud all day): stage 3.
    fn on_traffic(&mut self, ev: &EventRef<'_>) {
        let Some(actor) = ev.actor_process() else {
            return;
        };
        let proc = proc_of(actor.guid, actor.pid);
        if !proc.is_known() {
            return;
        }
        self.track.set_host(ev.hostname());
        if !self.track.is_hot(ev.time) {
            return;
        }
        let Some(member) = self.track.member(proc, ev.time) else {
            return;
        };
        if member.office {
            return;
        }
        let destination = match (ev.class(), ev.dst_ip()) {
            (EventClass::Dns, _) => ev.query().and_then(|q| ev.text(q.name)).map(str::to_owned),
            (_, Some(ip)) if ip.is_loopback() || ip.is_unspecified() => return,
            (_, Some(ip)) => Some(match ev.dst_port() {
                Some(port) if ip.is_ipv6() => format!("[{ip}]:{port}"),
                Some(port) => format!("{ip}:{port}"),
                None => ip.to_string(),
            }),
            (_, None) => ev.dst_hostname().map(str::to_owned),
        };
        let Some(mut chain) = self.track.chain(&member.root, ev.time) else {
            return;
        };
        chain.add(Stage::Network, ev.time, ev.seq);
        if ev.class() != EventClass::Dns {
            chain.connections = chain.connections.saturating_add(1);
        }
        if let Some(destination) = destination {
            sample(&mut chain.destinations, &destination);
        }
        self.track
            .tag(proc, &member.root, false, member.start, ev.time);
        self.track.save(&member.root, &mut chain);
    }

    /// A file written: Office opening a document (for indirect links) or writing a program
    /// into a user folder; a tree member writing a program or DLL there (stage 4), or a
    /// downloader writing anything there (remembered in case it is run).
    fn on_file(&mut self, ev: &EventRef<'_>, f: &FileActivity) {
        let Some(path) = ev.text(f.path) else {
            return;
        };
        let actor = ev.process_image().unwrap_or("");
        let proc = f
            .process
            .as_ref()
            .map(|a| proc_of(a.guid, a.pid))
            .unwrap_or_default();
        let writes = matches!(
            ev.activity,
            Activity::Create | Activity::Modify | Activity::Rename | Activity::Unknown
        );
        if self.office.contains_path(actor) {
            if self.link_ms > 0 && ev.activity != Activity::Delete && is_opened_document(path) {
                self.track.set_host(ev.hostname());
                let label = ev.process_label().unwrap_or_default();
                self.track.mark_office(ev.time, proc, actor, &label);
            }
            if writes && is_executable(path) && is_user_writable(path, &self.writable) {
                self.track.set_host(ev.hostname());
                self.office_drop(ev, path, proc, actor);
            }
            return;
        }
        if !writes {
            return;
        }
        // The hot-set lookup is cheaper than the folder test: it goes first.
        self.track.set_host(ev.hostname());
        if !self.track.is_hot(ev.time) || !is_user_writable(path, &self.writable) {
            return;
        }
        let Some(member) = self.track.member(proc, ev.time) else {
            return;
        };
        let counted = is_executable(path);
        if !counted
            && (!self.shells.contains_path(actor)
                || starts_with_ignore_case(basename(path), "__PSScriptPolicyTest"))
        {
            return;
        }
        let record = FileRecord {
            root: member.root.clone(),
            seq: ev.seq,
            counted,
            path: path.to_owned(),
        };
        self.track.record_file(&record, ev.time);
        if counted {
            let Some(mut chain) = self.track.chain(&member.root, ev.time) else {
                return;
            };
            chain.add(Stage::Drop, ev.time, ev.seq);
            sample(&mut chain.dropped, path);
            self.track
                .tag(proc, &member.root, false, member.start, ev.time);
            self.track.save(&member.root, &mut chain);
        }
    }

    /// Office itself wrote a program into a user folder: stage 4 of its chain, or, before any
    /// chain, a file to remember in case Office starts a shell that runs it.
    fn office_drop(&mut self, ev: &EventRef<'_>, path: &str, proc: Proc, actor: &str) {
        let member = self.track.member(proc, ev.time);
        let root = match &member {
            Some(m) => m.root.clone(),
            None => proc.root_id(basename(actor)),
        };
        let record = FileRecord {
            root: root.clone(),
            seq: ev.seq,
            counted: true,
            path: path.to_owned(),
        };
        self.track.record_file(&record, ev.time);
        match self.track.chain(&root, ev.time) {
            Some(mut chain) if member.is_some() => {
                chain.add(Stage::Drop, ev.time, ev.seq);
                sample(&mut chain.dropped, path);
                self.track.save(&root, &mut chain);
            }
            _ => self.track.mark_hot(ev.time),
        }
    }

    /// A Run-key value set by a tree member, or naming a file a tree wrote: stage 6.
    fn on_registry(&mut self, ev: &EventRef<'_>, r: &RegistryActivity) {
        if ev.activity == Activity::Delete {
            return;
        }
        let Some(key) = ev.text(r.key) else {
            return;
        };
        if !is_run_key(key) {
            return;
        }
        self.track.set_host(ev.hostname());
        if !self.track.is_hot(ev.time) {
            return;
        }
        let data = ev.text(r.value_data).unwrap_or("");
        let proc = r
            .process
            .as_ref()
            .map(|a| proc_of(a.guid, a.pid))
            .unwrap_or_default();
        let member = self.track.member(proc, ev.time);
        let record = self.named_file("", data, member.as_ref().map(|m| m.root.as_str()), ev.time);
        let Some(root) = member
            .as_ref()
            .map(|m| m.root.clone())
            .or_else(|| record.as_ref().map(|r| r.root.clone()))
        else {
            return;
        };
        let Some(mut chain) = self.track.chain(&root, ev.time) else {
            return;
        };
        chain.add(Stage::Persist, ev.time, ev.seq);
        sample(&mut chain.persistence, &format!("{key} = {data}"));
        if let Some(record) = record {
            count_drop(&mut chain, record);
        }
        self.track.save(&root, &mut chain);
    }
}

/// Stage 5: `what` (a program, or a loader's command line) ran; the file record, when there
/// is one, also proves stage 4.
fn executed(chain: &mut Chain, ev: &EventRef<'_>, what: &str, record: Option<FileRecord>) {
    chain.add(Stage::Execute, ev.time, ev.seq);
    sample(&mut chain.executed, what);
    if let Some(record) = record {
        count_drop(chain, record);
    }
}

/// Stage 4 from a file record: the tree wrote the file that ran or that a Run key names.
fn count_drop(chain: &mut Chain, record: FileRecord) {
    let time = chain.last;
    chain.add(Stage::Drop, time, record.seq);
    sample(&mut chain.dropped, &record.path);
}

fn proc_of(guid: Option<yagura_sdk::Guid>, pid: u32) -> Proc {
    Proc {
        guid,
        pid: (pid != 0).then_some(pid),
    }
}
