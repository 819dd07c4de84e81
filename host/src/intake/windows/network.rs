//! Network: Sysmon 3 (connection), Security 5156/5157 (Windows Filtering Platform).

use super::*;

fn transport(text: &str) -> (Transport, Option<u8>) {
    match text.to_ascii_lowercase().as_str() {
        "tcp" | "6" => (Transport::Tcp, Some(6)),
        "udp" | "17" => (Transport::Udp, Some(17)),
        "icmp" | "1" => (Transport::Icmp, Some(1)),
        other => (
            Transport::Other,
            other.parse::<u8>().ok().or(match other {
                "icmpv6" | "58" => Some(58),
                _ => None,
            }),
        ),
    }
}

pub(super) fn sysmon_network(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Network;
    ev.activity = Activity::Traffic;
    ev.actor.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
    ev.actor.user = f.qualified_user("User");
    ev.src = endpoint(
        f.ip("SourceIp"),
        f.port("SourcePort"),
        f.string("SourceHostname"),
    );
    ev.dst = endpoint(
        f.ip("DestinationIp"),
        f.port("DestinationPort"),
        f.string("DestinationHostname"),
    );
    let (transport, protocol_num) = f
        .get("Protocol")
        .map_or((Transport::Unknown, None), transport);
    let direction = match f.flag("Initiated") {
        Some(true) => Direction::Outbound,
        Some(false) => Direction::Inbound,
        None => Direction::Unknown,
    };
    ev.network = Some(Network {
        transport,
        protocol_num,
        direction,
        // Sysmon reports a TCP connection once it is made
        disposition: if transport == Transport::Tcp {
            Disposition::Established
        } else {
            Disposition::Unknown
        },
        ..Network::default()
    });
}

/// Security 5156 (permitted) and 5157 (blocked) Windows Filtering Platform connections.
/// Source is the initiator in both directions.
pub(super) fn wfp_connection(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Network;
    ev.activity = if code == 5157 {
        Activity::Refuse
    } else {
        Activity::Traffic
    };
    ev.actor.process = process_ref(
        f.u32("ProcessID").or(f.u32("ProcessId")),
        None,
        f.string("Application"),
    );
    ev.src = endpoint(f.ip("SourceAddress"), f.port("SourcePort"), None);
    ev.dst = endpoint(f.ip("DestAddress"), f.port("DestPort"), None);
    let (transport, protocol_num) = f
        .get("Protocol")
        .map_or((Transport::Unknown, None), transport);
    let direction = match f.raw("Direction").map(str::trim) {
        Some("%%14592") | Some("Inbound") => Direction::Inbound,
        Some("%%14593") | Some("Outbound") => Direction::Outbound,
        _ => Direction::Unknown,
    };
    ev.network = Some(Network {
        transport,
        protocol_num,
        direction,
        disposition: if code == 5157 {
            Disposition::Blocked
        } else {
            Disposition::Allowed
        },
        ..Network::default()
    });
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn sysmon_3_network_connection() {
        let ev = map(&rec(
            SYSMON,
            3,
            &[
                ("ProcessGuid", "{d273d0f0-e867-5f64-1200-000000000800}"),
                ("ProcessId", "880"),
                ("Image", "C:\\Windows\\System32\\svchost.exe"),
                ("User", "NT AUTHORITY\\NETWORK SERVICE"),
                ("Protocol", "tcp"),
                ("Initiated", "false"),
                ("SourceIsIpv6", "false"),
                ("SourceIp", "172.18.39.5"),
                ("SourceHostname", "-"),
                ("SourcePort", "56607"),
                ("DestinationIp", "172.18.39.6"),
                ("DestinationPort", "135"),
                ("DestinationPortName", "-"),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Network, Activity::Traffic)
        );
        assert_eq!(ev.src.as_ref().and_then(|s| s.ip), ip("172.18.39.5"));
        assert_eq!(ev.dst.as_ref().and_then(|d| d.port), Some(135));
        let n = ev.network.as_ref().expect("network");
        assert_eq!((n.transport, n.protocol_num), (Transport::Tcp, Some(6)));
        assert_eq!(n.direction, Direction::Inbound);
        let p = ev.actor.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(880));
        assert!(p.guid.is_some());
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("NETWORK SERVICE")
        );
    }
}
