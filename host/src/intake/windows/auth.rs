//! Authentication: Security 4624, 4625, 4634/4647 (logon, failure, logoff), 4648 (explicit
//! credentials), 4672 (special privileges), 4768/4769/4771 (Kerberos), 4776 (NTLM).

use super::*;

/// The failure status: SubStatus when it says more than Status.
fn status(f: &mut Fields) -> Option<u32> {
    let status = f.u32("Status");
    let sub = f.u32("SubStatus");
    match (status, sub) {
        (_, Some(s)) if s != 0 => Some(s),
        (s, _) => s,
    }
}

pub(super) fn logon(f: &mut Fields, ev: &mut Event, activity: Activity) {
    ev.class = EventClass::Authentication;
    ev.activity = activity;
    ev.outcome = Outcome::Success;
    ev.user = f.user(
        "TargetUserName",
        "TargetDomainName",
        "TargetUserSid",
        "TargetLogonId",
    );
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.actor.process = process_ref(
        f.u32("ProcessId").filter(|p| *p != 0),
        None,
        f.string("ProcessName"),
    );
    ev.src = endpoint(
        f.ip("IpAddress"),
        f.port("IpPort").filter(|p| *p != 0),
        f.string("WorkstationName"),
    );
    let package = f.get("AuthenticationPackageName");
    ev.auth = Some(Auth {
        logon_type: f.number("LogonType").and_then(|n| u8::try_from(n).ok()),
        protocol: package.map_or(AuthProtocol::Unknown, auth_protocol),
        key_length: f.number("KeyLength").and_then(|n| u16::try_from(n).ok()),
        logon_process: f.string("LogonProcessName"),
        status_code: status(f),
        elevated: f.flag("ElevatedToken").unwrap_or(false),
        ..Auth::default()
    });
}

pub(super) fn explicit_credentials(f: &mut Fields, ev: &mut Event) {
    logon(f, ev, Activity::CredentialValidation);
    if let Some(auth) = ev.auth.as_mut() {
        auth.service = f.string("TargetServerName");
    }
}

pub(super) fn special_logon(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Authentication;
    ev.activity = Activity::Logon;
    ev.outcome = Outcome::Success;
    ev.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.auth = Some(Auth {
        elevated: true,
        ..Auth::default()
    });
}

pub(super) fn kerberos(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Authentication;
    ev.activity = if code == 4769 {
        Activity::ServiceTicket
    } else {
        Activity::TicketRequest
    };
    let mut user = f
        .get("TargetUserName")
        .map(split_account)
        .unwrap_or_default();
    if let Some(domain) = f.string("TargetDomainName") {
        user.domain = Some(domain);
    }
    user.uid = f.string("TargetSid");
    ev.user = some_user(user);
    ev.src = endpoint(
        f.ip("IpAddress"),
        f.port("IpPort").filter(|p| *p != 0),
        None,
    );
    let status = f.u32("Status");
    ev.outcome = match (code, status) {
        (4771, _) => Outcome::Failure,
        (_, Some(0)) => Outcome::Success,
        (_, Some(_)) => Outcome::Failure,
        (_, None) => ev.outcome,
    };
    ev.auth = Some(Auth {
        protocol: AuthProtocol::Kerberos,
        status_code: status,
        service: f.string("ServiceName"),
        ticket_options: f.u32("TicketOptions"),
        ticket_encryption: f.u32("TicketEncryptionType"),
        ..Auth::default()
    });
}

pub(super) fn ntlm_validation(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Authentication;
    ev.activity = Activity::CredentialValidation;
    ev.user = f
        .get("TargetUserName")
        .and_then(|t| some_user(split_account(t)));
    ev.src = endpoint(None, None, f.string("Workstation"));
    let status = f.u32("Status");
    ev.outcome = match status {
        Some(0) => Outcome::Success,
        Some(_) => Outcome::Failure,
        None => ev.outcome,
    };
    ev.auth = Some(Auth {
        protocol: f
            .get("PackageName")
            .map_or(AuthProtocol::Ntlm, auth_protocol),
        status_code: status,
        ..Auth::default()
    });
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn security_4624_network_logon() {
        let ev = map(&rec(
            SECURITY,
            4624,
            &[
                ("SubjectUserSid", "S-1-0-0"),
                ("SubjectUserName", "-"),
                ("SubjectDomainName", "-"),
                ("SubjectLogonId", "0x0"),
                ("TargetUserSid", "S-1-5-21-1-2-3-1104"),
                ("TargetUserName", "pgustavo"),
                ("TargetDomainName", "THESHIRE"),
                ("TargetLogonId", "0x2990d17"),
                ("LogonType", "3"),
                ("LogonProcessName", "NtLmSsp "),
                ("AuthenticationPackageName", "NTLM"),
                ("WorkstationName", "WORKSTATION5"),
                ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
                ("TransmittedServices", "-"),
                ("LmPackageName", "NTLM V2"),
                ("KeyLength", "128"),
                ("ProcessId", "0x0"),
                ("ProcessName", "-"),
                ("IpAddress", "::ffff:172.18.39.5"),
                ("IpPort", "56610"),
                ("ImpersonationLevel", "%%1833"),
                ("ElevatedToken", "%%1842"),
            ],
        ));
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::Logon, Outcome::Success)
        );
        let user = ev.user.as_ref().expect("target user");
        assert_eq!(user.name.as_deref(), Some("pgustavo"));
        assert_eq!(user.domain.as_deref(), Some("THESHIRE"));
        assert_eq!(user.uid.as_deref(), Some("S-1-5-21-1-2-3-1104"));
        assert_eq!(user.logon_id, Some(0x2990d17));
        // an all-absent subject is no subject (logon id 0 is a value, though)
        assert_eq!(ev.actor.user.as_ref().and_then(|u| u.name.as_deref()), None);
        let src = ev.src.as_ref().expect("source");
        assert_eq!(src.ip, ip("172.18.39.5"));
        assert_eq!(src.port, Some(56610));
        assert_eq!(src.hostname.as_deref(), Some("WORKSTATION5"));
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(auth.protocol, AuthProtocol::Ntlm);
        assert_eq!(auth.key_length, Some(128));
        assert_eq!(auth.logon_process.as_deref(), Some("NtLmSsp"));
        assert!(auth.elevated);
        assert_eq!(attr(&ev, "LmPackageName"), Some("NTLM V2"));
        assert_eq!(attr(&ev, "ImpersonationLevel"), Some("Impersonation"));
        assert_eq!(attr(&ev, "TransmittedServices"), None);
    }

    #[test]
    fn security_4625_failed_logon_keeps_the_substatus() {
        let ev = map(&rec(
            SECURITY,
            4625,
            &[
                ("TargetUserName", "administrator"),
                ("TargetDomainName", "CORP"),
                ("Status", "0xc000006d"),
                ("FailureReason", "%%2313"),
                ("SubStatus", "0xc000006a"),
                ("LogonType", "3"),
                ("AuthenticationPackageName", "NTLM"),
                ("WorkstationName", "KALI"),
                ("IpAddress", "10.0.0.66"),
                ("IpPort", "50056"),
            ],
        ));
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::Logon, Outcome::Failure)
        );
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.status_code, Some(0xc000006a));
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(ev.src.as_ref().and_then(|s| s.ip), ip("10.0.0.66"));
        assert_eq!(
            attr(&ev, "FailureReason"),
            None,
            "%% placeholders are absent"
        );
    }

    #[test]
    fn security_4634_logoff() {
        let ev = map(&rec(
            SECURITY,
            4634,
            &[
                ("TargetUserSid", "S-1-5-18"),
                ("TargetUserName", "MORDORDC$"),
                ("TargetDomainName", "THESHIRE"),
                ("TargetLogonId", "0x4b0ad12"),
                ("LogonType", "3"),
            ],
        ));
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(ev.activity, Activity::Logoff);
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), Some(0x4b0ad12));
        assert_eq!(ev.auth.as_ref().and_then(|a| a.logon_type), Some(3));
    }

    #[test]
    fn security_4648_explicit_credentials_names_the_target_server() {
        let ev = map(&rec(
            SECURITY,
            4648,
            &[
                ("SubjectUserSid", "S-1-5-21-1-2-3-1104"),
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x2990d17"),
                ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
                ("TargetUserName", "wardog"),
                ("TargetDomainName", "THESHIRE"),
                ("TargetServerName", "WORKSTATION6.theshire.local"),
                ("TargetInfo", "HTTP/WORKSTATION6.theshire.local"),
                ("ProcessId", "0x1a4"),
                (
                    "ProcessName",
                    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                ),
                ("IpAddress", "-"),
                ("IpPort", "-"),
            ],
        ));
        assert_eq!(ev.activity, Activity::CredentialValidation);
        assert_eq!(
            ev.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("wardog")
        );
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("pgustavo")
        );
        assert_eq!(
            ev.auth.as_ref().and_then(|a| a.service.as_deref()),
            Some("WORKSTATION6.theshire.local")
        );
        let p = ev.actor.process.as_ref().expect("acting process");
        assert_eq!(p.pid, Some(0x1a4));
        assert!(ev.src.is_none(), "`-` address and port are absent");
        assert_eq!(
            attr(&ev, "TargetInfo"),
            Some("HTTP/WORKSTATION6.theshire.local")
        );
    }

    #[test]
    fn security_4672_special_privileges_is_elevated() {
        let ev = map(&rec(
            SECURITY,
            4672,
            &[
                ("SubjectUserSid", "S-1-5-21-1-2-3-1104"),
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x2990d17"),
                (
                    "PrivilegeList",
                    "SeSecurityPrivilege\r\n\t\t\tSeDebugPrivilege",
                ),
            ],
        ));
        assert_eq!(ev.class, EventClass::Authentication);
        assert!(ev.auth.as_ref().is_some_and(|a| a.elevated));
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), Some(0x2990d17));
        assert!(attr(&ev, "PrivilegeList").is_some_and(|p| p.contains("SeDebugPrivilege")));
    }

    #[test]
    fn security_4768_4769_4771_kerberos() {
        let ev = map(&rec(
            SECURITY,
            4768,
            &[
                ("TargetUserName", "pgustavo"),
                ("TargetDomainName", "THESHIRE.LOCAL"),
                ("TargetSid", "S-1-5-21-1-2-3-1104"),
                ("ServiceName", "krbtgt"),
                ("TicketOptions", "0x40810010"),
                ("Status", "0x0"),
                ("TicketEncryptionType", "0x12"),
                ("PreAuthType", "2"),
                ("IpAddress", "::ffff:172.18.39.5"),
                ("IpPort", "56606"),
            ],
        ));
        assert_eq!(ev.activity, Activity::TicketRequest);
        assert_eq!(ev.outcome, Outcome::Success);
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.protocol, AuthProtocol::Kerberos);
        assert_eq!(auth.service.as_deref(), Some("krbtgt"));
        assert_eq!(auth.ticket_options, Some(0x40810010));
        assert_eq!(auth.ticket_encryption, Some(0x12));
        assert_eq!(ev.src.as_ref().and_then(|s| s.ip), ip("172.18.39.5"));
        assert_eq!(attr(&ev, "PreAuthType"), Some("2"));

        let ev = map(&rec(
            SECURITY,
            4769,
            &[
                ("TargetUserName", "pgustavo@THESHIRE.LOCAL"),
                ("TargetDomainName", "THESHIRE.LOCAL"),
                ("ServiceName", "WORKSTATION6$"),
                ("ServiceSid", "S-1-5-21-1-2-3-1113"),
                ("TicketOptions", "0x40810000"),
                ("TicketEncryptionType", "0x17"),
                ("IpAddress", "::ffff:172.18.39.5"),
                ("IpPort", "56609"),
                ("Status", "0x0"),
            ],
        ));
        assert_eq!(ev.activity, Activity::ServiceTicket);
        let user = ev.user.as_ref().expect("user");
        assert_eq!(user.name.as_deref(), Some("pgustavo"));
        assert_eq!(user.domain.as_deref(), Some("THESHIRE.LOCAL"));
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.service.as_deref(), Some("WORKSTATION6$"));
        assert_eq!(auth.ticket_encryption, Some(0x17));

        let ev = map(&rec(
            SECURITY,
            4771,
            &[
                ("TargetUserName", "bob"),
                ("TargetSid", "S-1-5-21-1-2-3-1105"),
                ("ServiceName", "krbtgt/THESHIRE.LOCAL"),
                ("TicketOptions", "0x40810010"),
                ("Status", "0x18"),
                ("PreAuthType", "2"),
                ("IpAddress", "::ffff:10.0.0.66"),
                ("IpPort", "49273"),
            ],
        ));
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::TicketRequest, Outcome::Failure)
        );
        assert_eq!(ev.auth.as_ref().and_then(|a| a.status_code), Some(0x18));
        assert_eq!(ev.src.as_ref().and_then(|s| s.port), Some(49273));
    }

    #[test]
    fn security_4776_ntlm_validation() {
        let ev = map(&rec(
            SECURITY,
            4776,
            &[
                ("PackageName", "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0"),
                ("TargetUserName", "administrator"),
                ("Workstation", "KALI"),
                ("Status", "0xc000006a"),
            ],
        ));
        assert_eq!(ev.activity, Activity::CredentialValidation);
        assert_eq!(ev.outcome, Outcome::Failure);
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.protocol, AuthProtocol::Ntlm);
        assert_eq!(auth.status_code, Some(0xc000006a));
        assert_eq!(
            ev.src.as_ref().and_then(|s| s.hostname.as_deref()),
            Some("KALI")
        );
    }
}
