//! What each event says about where activity on a host came from: network logons, share
//! accesses, explicit credentials, PsExec clients and inbound admin-port connections, written
//! to the origin store ([`crate::origin`]). A new origin also upgrades the host's pending
//! signals.

use core::net::IpAddr;

use yagura_sdk::Direction;
use yagura_sdk::matchers::eq_ignore_case;
use yagura_sdk::prelude::*;

use crate::Scratch;
use crate::classify::{self, is_local_target, is_remote_ip, short_host};
use crate::origin::{self, Evidence, Kind};
use crate::report::subject_is_machine;
use crate::settings::Settings;

/// Ports of the remote-execution channels: SMB, NetBIOS session, RPC endpoint mapper, WinRM.
const ADMIN_PORTS: &[u16] = &[445, 139, 135, 5985, 5986];

/// Images whose pid is remembered, for sources that name a parent only by pid.
const CHANNEL_IMAGES: &[&str] = &["wmiprvse.exe", "wsmprovhost.exe", "mmc.exe", "services.exe"];

/// Records what the event says about where activity on a host comes from.
pub(super) fn feed(
    s: &Settings,
    sc: &mut Scratch,
    ev: &EventRef<'_>,
    host: &str,
    out: &mut Vec<Finding>,
) {
    let expires = s.exec_window.end_from(ev.time);
    let domain = ev.user_domain().unwrap_or("");
    let account = ev.user_name().unwrap_or("");
    let mut remember = |sc: &mut Scratch, kind, target: &str, evidence: Evidence<'_>| {
        let r = origin::remember(&mut sc.key, &mut sc.value, kind, target, &evidence, expires);
        sc.note(r);
        super::pending::upgrade(s, sc, ev, target, out);
    };
    match ev.class() {
        EventClass::Authentication => {
            let Some(auth) = ev.authentication() else {
                return;
            };
            if ev.outcome == Outcome::Failure || s.account_excluded(account) {
                return;
            }
            if ev.activity == Activity::Logon && matches!(auth.logon_type, 3 | 10) {
                // a logon from the machine itself (::1) is not remote
                if ev.src_ip().is_some_and(|ip| !is_remote_ip(ip)) {
                    return;
                }
                let src_host = ev
                    .src_hostname()
                    .map(short_host)
                    .filter(|h| !is_local_target(h, host))
                    .unwrap_or("");
                let evidence = Evidence {
                    ip: ev.src_ip(),
                    host: src_host,
                    domain,
                    account,
                    via: "network logon",
                    seq: ev.seq,
                };
                remember(sc, Kind::Logon, host, evidence);
            } else if ev.activity == Activity::CredentialValidation {
                // 4648: the source machine names the server it used the credentials for
                let Some(target) = ev.text(auth.service) else {
                    return;
                };
                if is_local_target(target, host) || subject_is_machine(ev) {
                    return;
                }
                let evidence = Evidence {
                    ip: ev.device_ip(),
                    host: short_host(host),
                    domain,
                    account,
                    via: "explicit credentials",
                    seq: ev.seq,
                };
                remember(sc, Kind::Client, short_host(target), evidence);
            }
        }
        EventClass::File => {
            let Some(file) = ev.file() else { return };
            if file.share_name.is_none() || s.account_excluded(account) {
                return;
            }
            let Some(ip) = ev.src_ip().filter(|ip| is_remote_ip(*ip)) else {
                return;
            };
            let evidence = Evidence {
                ip: Some(ip),
                host: "",
                domain,
                account,
                via: "share access",
                seq: ev.seq,
            };
            remember(sc, Kind::Logon, host, evidence);
        }
        EventClass::Network => {
            let Some(net) = ev.network() else { return };
            if net.direction != Direction::Inbound {
                return;
            }
            let Some(peer) = inbound_peer(ev) else { return };
            let evidence = Evidence {
                ip: Some(peer),
                host: "",
                domain: "",
                account: "",
                via: "inbound connection",
                seq: ev.seq,
            };
            remember(sc, Kind::Peer, host, evidence);
        }
        EventClass::Process if ev.activity == Activity::Create => {
            let Some(image) = ev.process_image() else {
                return;
            };
            if let Some(pid) = ev.process_pid()
                && CHANNEL_IMAGES
                    .iter()
                    .any(|c| eq_ignore_case(basename(image), c))
            {
                let r = origin::remember_pid(&mut sc.key, host, pid, image, expires);
                sc.note(r);
            }
            if !classify::is_psexec_client(image, ev.attribute("OriginalFileName"))
                || s.account_excluded(account)
            {
                return;
            }
            let cmd = ev.process_cmd_line().unwrap_or("");
            let mut evidence = Evidence {
                ip: ev.device_ip(),
                host: short_host(host),
                domain,
                account,
                via: "PsExec client",
                seq: ev.seq,
            };
            match classify::psexec_target(cmd) {
                Some(target) if !is_local_target(target, host) => {
                    remember(sc, Kind::Client, short_host(target), evidence);
                }
                _ => {
                    evidence.via = "local PsExec client";
                    remember(sc, Kind::Logon, host, evidence);
                }
            }
        }
        _ => {}
    }
}

/// The remote end of an inbound connection to an admin port, whichever way the source wrote
/// the endpoints (Sysmon writes the initiator as the source, some sources the local end).
fn inbound_peer(ev: &EventRef<'_>) -> Option<IpAddr> {
    let (src, dst) = (ev.src_ip()?, ev.dst_ip()?);
    let admin = |port: Option<u16>| port.is_some_and(|p| ADMIN_PORTS.contains(&p));
    let peer = if admin(ev.dst_port()) {
        src
    } else if admin(ev.src_port()) {
        dst
    } else {
        return None;
    };
    (is_remote_ip(peer) && !(is_remote_ip(src) ^ is_remote_ip(dst))).then_some(peer)
}
