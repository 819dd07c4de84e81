//! Where activity on a host came from: the source address or host, the account and the event
//! that said so, kept in host state per target host for the correlation window.
//!
//! Four kinds of evidence feed it, each under its own key so a weaker one never overwrites a
//! stronger one:
//! - `ctx|HOST`: a network logon (4624 type 3/10) or a share access (5140/5145) on the host,
//!   with its source and account; a PsExec client run on the host itself (local PsExec);
//! - `cli|HOST`: the other end saw it — explicit credentials (4648) or a PsExec client
//!   (`psexec \\HOST`) on a source machine naming this host;
//! - `peer|HOST`: an inbound connection to an admin port (SMB 445/139, RPC 135, WinRM
//!   5985/5986) — the address only.
//!
//! [`recall`] merges them for a target: the logon first, the others filling what it lacks.

use core::net::IpAddr;

use yagura_sdk::prelude::*;

use crate::classify::push_upper;

/// Field separator of the stored value (a control character no name contains).
const SEP: char = '\u{1f}';

/// What is known about where activity on a host came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) ip: Option<IpAddr>,
    /// source host name, when known (`WORKSTATION5`)
    pub(crate) host: String,
    /// `DOMAIN\name` or `name`
    pub(crate) account: String,
    /// the evidence: `network logon`, `share access`, `explicit credentials`…
    pub(crate) via: String,
    /// the `seq` of that evidence
    pub(crate) seq: u64,
}

impl Origin {
    /// Whether a source (address or host) is known.
    pub(crate) fn has_source(&self) -> bool {
        self.ip.is_some() || !self.host.is_empty()
    }

    /// How much is known: 0 nothing, 1 a source or an account, 2 both.
    pub(crate) fn level(&self) -> u64 {
        u64::from(self.has_source()) + u64::from(!self.account.is_empty())
    }

    /// The source as text: the address, else the host name.
    pub(crate) fn source(&self) -> Option<String> {
        match self.ip {
            Some(ip) => Some(ip.to_string()),
            None => (!self.host.is_empty()).then(|| self.host.clone()),
        }
    }

    fn fill_from(&mut self, other: Origin) {
        if self.ip.is_none() {
            self.ip = other.ip;
        }
        if self.host.is_empty() {
            self.host = other.host;
        }
        if self.account.is_empty() {
            self.account = other.account;
        }
        if self.via.is_empty() {
            self.via = other.via;
            self.seq = other.seq;
        } else if !other.via.is_empty() && !self.via.contains(other.via.as_str()) {
            self.via.push_str(", ");
            self.via.push_str(&other.via);
        }
    }

    fn decode(text: &str) -> Option<Origin> {
        let mut parts = text.split(SEP);
        let ip = parts.next()?;
        let host = parts.next()?;
        let account = parts.next()?;
        let via = parts.next()?;
        let seq = parts.next()?.parse().ok()?;
        Some(Origin {
            ip: ip.parse().ok(),
            host: host.to_owned(),
            account: account.to_owned(),
            via: via.to_owned(),
            seq,
        })
    }
}

/// The kinds of evidence, each its own key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// a logon, share access or local PsExec on the target
    Logon,
    /// the source machine named the target
    Client,
    /// an inbound connection to an admin port
    Peer,
}

impl Kind {
    const fn prefix(self) -> &'static str {
        match self {
            Kind::Logon => "ctx|",
            Kind::Client => "cli|",
            Kind::Peer => "peer|",
        }
    }
}

/// The evidence to remember, borrowed from the event at hand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evidence<'a> {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) host: &'a str,
    pub(crate) domain: &'a str,
    pub(crate) account: &'a str,
    pub(crate) via: &'a str,
    pub(crate) seq: u64,
}

/// Remembers `evidence` about `target` until `expires_at`. `key` and `value` are the rule's
/// reused buffers.
pub(crate) fn remember(
    key: &mut String,
    value: &mut String,
    kind: Kind,
    target: &str,
    evidence: &Evidence<'_>,
    expires_at: i64,
) -> Result<(), state::StateError> {
    use core::fmt::Write;
    key.clear();
    key.push_str(kind.prefix());
    push_upper(key, target);
    value.clear();
    // Writing to a String cannot fail.
    if let Some(ip) = evidence.ip {
        let _ = write!(value, "{ip}");
    }
    value.push(SEP);
    value.push_str(evidence.host);
    value.push(SEP);
    if !evidence.account.is_empty() {
        if !evidence.domain.is_empty() && evidence.domain != "-" {
            value.push_str(evidence.domain);
            value.push('\\');
        }
        value.push_str(evidence.account);
    }
    value.push(SEP);
    value.push_str(evidence.via);
    value.push(SEP);
    let _ = write!(value, "{}", evidence.seq);
    state::set_string(key, value, expires_at)
}

/// Everything known about where activity on `target` came from at `at`.
pub(crate) fn recall(key: &mut String, target: &str, at: i64) -> Option<Origin> {
    let mut found: Option<Origin> = None;
    for kind in [Kind::Logon, Kind::Client, Kind::Peer] {
        key.clear();
        key.push_str(kind.prefix());
        push_upper(key, target);
        let Some(origin) = state::get_string(key, at).and_then(|t| Origin::decode(&t)) else {
            continue;
        };
        match found.as_mut() {
            Some(f) => f.fill_from(origin),
            None => found = Some(origin),
        }
    }
    found
}

/// The process-id map for sources that name a parent only by pid (4688 before Windows 10):
/// `pid|HOST|PID` → the image's basename, for the channels that matter.
pub(crate) fn remember_pid(
    key: &mut String,
    host: &str,
    pid: u32,
    image: &str,
    expires_at: i64,
) -> Result<(), state::StateError> {
    pid_key(key, host, pid);
    state::set_string(key, basename(image), expires_at)
}

/// The image remembered for `pid` on `host`.
pub(crate) fn recall_pid(key: &mut String, host: &str, pid: u32, at: i64) -> Option<String> {
    pid_key(key, host, pid);
    state::get_string(key, at)
}

fn pid_key(key: &mut String, host: &str, pid: u32) {
    use core::fmt::Write;
    key.clear();
    key.push_str("pid|");
    push_upper(key, host);
    let _ = write!(key, "|{pid}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_remember_writes() {
        let text = format!("172.18.39.5{SEP}{SEP}THESHIRE\\pgustavo{SEP}network logon{SEP}42");
        let o = Origin::decode(&text).expect("well formed");
        assert_eq!(o.ip, Some("172.18.39.5".parse().expect("ip")));
        assert_eq!(
            (o.host.as_str(), o.account.as_str(), o.seq),
            ("", "THESHIRE\\pgustavo", 42)
        );
        assert_eq!(o.level(), 2);
        assert_eq!(Origin::decode("garbage"), None);
    }

    #[test]
    fn filling_keeps_the_first_and_adds_the_missing() {
        let mut a = Origin {
            account: "pgustavo".into(),
            via: "network logon".into(),
            seq: 1,
            ..Origin::default()
        };
        a.fill_from(Origin {
            host: "WORKSTATION5".into(),
            account: "other".into(),
            via: "explicit credentials".into(),
            seq: 2,
            ..Origin::default()
        });
        assert_eq!(a.host, "WORKSTATION5");
        assert_eq!(a.account, "pgustavo");
        assert_eq!(a.via, "network logon, explicit credentials");
        assert_eq!(a.seq, 1);
        assert_eq!(a.source().as_deref(), Some("WORKSTATION5"));
    }
}
