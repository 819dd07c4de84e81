//! Pure classifiers: what a service, a share access, a pipe or a process launch says about
//! remote execution, and the small text helpers the detections share. Nothing here touches
//! host state, so all of it is unit-tested natively.

use core::fmt::Write;
use core::net::IpAddr;

use yagura_sdk::matchers::{
    basename, contains_any_ignore_case, contains_ignore_case, ends_with_ignore_case,
    eq_ignore_case, starts_with_ignore_case,
};

use crate::report::clip;

/// ATT&CK ids the remote-execution detection reports.
pub(crate) mod technique {
    pub(crate) const SERVICE: &str = "T1569.002";
    pub(crate) const ADMIN_SHARES: &str = "T1021.002";
    pub(crate) const TOOL_TRANSFER: &str = "T1570";
    pub(crate) const SCHEDULED_TASK: &str = "T1053.005";
    pub(crate) const WMI: &str = "T1047";
    pub(crate) const WINRM: &str = "T1021.006";
    pub(crate) const DCOM: &str = "T1021.003";
}

/// Shells and script hosts an attacker runs through a remote-execution channel.
pub(crate) const SHELLS: &[&str] = &[
    "cmd.exe",
    "powershell.exe",
    "pwsh.exe",
    "wscript.exe",
    "cscript.exe",
    "mshta.exe",
    "rundll32.exe",
    "regsvr32.exe",
];

/// Children of WmiPrvSE.exe that WMI starts on its own (error reporting, providers).
const WMI_OWN_CHILDREN: &[&str] = &[
    "werfault.exe",
    "wmiadap.exe",
    "wmiprvse.exe",
    "conhost.exe",
    "mofcomp.exe",
];

/// Service names of PsExec and its clones (Sysinternals PsExec, PAExec, RemCom, CSExec).
const PSEXEC_SERVICES: &[&str] = &["psexesvc", "paexec", "remcomsvc", "csexecsvc"];

/// Pipe names (without the leading `\`) of PsExec and its clones.
const PSEXEC_PIPES: &[&str] = &["psexesvc", "paexec", "remcom_", "csexecsvc"];

/// File extensions that make a file copied to an admin share a tool to run.
const EXECUTABLE_EXTENSIONS: &[&str] = &[
    ".exe", ".dll", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".hta", ".scr", ".sys", ".msi",
];

/// What a remote-execution signal is: its technique, a short name of the method and whether
/// it is strong enough to report without a logon that ties it to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Method {
    pub(crate) technique: &'static str,
    /// `service install`, `PsExec named pipe`… (appears in the title)
    pub(crate) name: &'static str,
    /// reported on its own, at lower confidence, when no logon correlates it
    pub(crate) standalone: bool,
}

const fn method(technique: &'static str, name: &'static str, standalone: bool) -> Method {
    Method {
        technique,
        name,
        standalone,
    }
}

/// A service install (7045, 4697, or the `ImagePath` of a new service key): PsExec-family
/// names, a shell or script host as the image, an image on an admin share or in the Windows
/// directory's root (where ADMIN$ copies land) are strong; a random-looking name is weak.
/// `None`: an ordinary service, remote only if a logon says so — and then not reported either.
pub(crate) fn service(name: &str, command: &str) -> Option<Method> {
    let strong = is_psexec_service(name)
        || runs_shell(command)
        || on_admin_share(command)
        || in_windows_root(command);
    if strong {
        return Some(method(technique::SERVICE, "service install", true));
    }
    random_like(name).then_some(method(technique::SERVICE, "service install", false))
}

/// Whether the service name is PsExec's or a clone's (`PSEXESVC`, `PAExec-…`).
pub(crate) fn is_psexec_service(name: &str) -> bool {
    PSEXEC_SERVICES
        .iter()
        .any(|p| starts_with_ignore_case(name, p))
}

/// Whether a service command runs a shell or script host (`%COMSPEC% /c …`, `cmd.exe /c`,
/// `powershell -enc …`).
pub(crate) fn runs_shell(command: &str) -> bool {
    let first = first_token(command);
    if contains_ignore_case(first, "%comspec%") {
        return true;
    }
    let program = basename(first);
    SHELLS
        .iter()
        .any(|s| eq_ignore_case(program, s) || eq_ignore_case(program, s.trim_end_matches(".exe")))
}

/// Whether a command points at an admin share (`\\host\ADMIN$\x.exe`, `\\10.0.0.5\C$\…`).
pub(crate) fn on_admin_share(command: &str) -> bool {
    contains_ignore_case(command, "\\\\") && admin_share_in(command)
}

fn admin_share_in(text: &str) -> bool {
    if contains_ignore_case(text, "\\admin$") {
        return true;
    }
    // `\C$`, `\D$`…: a backslash, one drive letter, a dollar sign
    let bytes = text.as_bytes();
    bytes
        .windows(3)
        .any(|w| w[0] == b'\\' && w[1].is_ascii_alphabetic() && w[2] == b'$')
}

/// Whether the image lies directly in the Windows directory (`C:\Windows\x.exe`,
/// `%SystemRoot%\x.exe`), where tools that copy over ADMIN$ put their service binary.
pub(crate) fn in_windows_root(command: &str) -> bool {
    let image = first_token(command);
    let dir = match image.rfind(['\\', '/']) {
        Some(i) => &image[..i],
        None => return false,
    };
    // Sysmon writes a literal `%` doubled: `%%SystemRoot%%\PSEXESVC.exe`
    let dir = dir.trim_matches('%');
    ["systemroot", "windir", "c:\\windows", "\\systemroot"]
        .iter()
        .any(|root| eq_ignore_case(dir, root))
}

/// The first token of a command line: the quoted part, or up to the first space.
pub(crate) fn first_token(command: &str) -> &str {
    let command = command.trim_start();
    if let Some(rest) = command.strip_prefix('"') {
        return rest.split('"').next().unwrap_or(rest);
    }
    command.split(' ').next().unwrap_or(command)
}

/// A name that looks generated (`xUBqGyYW`, `aBcDeFgH12`): 8–32 letters and digits with at
/// least three lower-to-upper switches, which CamelCase names of real services do not have.
pub(crate) fn random_like(name: &str) -> bool {
    if !(8..=32).contains(&name.len()) || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let switches = name
        .as_bytes()
        .windows(2)
        .filter(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
        .count();
    switches >= 3
}

/// A share access (5140, 5145) from a remote address: a service-control, task-scheduler or
/// PsExec pipe on IPC$, or an executable written to an admin share. Read-only access and other
/// pipes say nothing alone (but still tie the source to the host).
pub(crate) fn share_access(share: &str, target: &str, access_mask: u32) -> Option<Method> {
    let share = basename(share);
    if eq_ignore_case(share, "IPC$") {
        let pipe = target.trim_start_matches('\\');
        return pipe_method(pipe).or_else(|| {
            if eq_ignore_case(pipe, "svcctl") {
                Some(method(technique::SERVICE, "service control pipe", true))
            } else if eq_ignore_case(pipe, "atsvc") {
                Some(method(
                    technique::SCHEDULED_TASK,
                    "task scheduler pipe",
                    true,
                ))
            } else {
                None
            }
        });
    }
    let admin = eq_ignore_case(share, "ADMIN$")
        || (share.len() == 2 && share.as_bytes()[0].is_ascii_alphabetic() && share.ends_with('$'));
    // WriteData / AddFile (0x2) or AppendData (0x4)
    let writes = access_mask & 0x6 != 0;
    let executable = EXECUTABLE_EXTENSIONS
        .iter()
        .any(|ext| ends_with_ignore_case(target, ext));
    (admin && writes && executable).then_some(method(
        technique::TOOL_TRANSFER,
        "executable copied to an admin share",
        true,
    ))
}

/// A named pipe of PsExec or a clone (`PSEXESVC`, `PSEXESVC-HOST-1234-stdin`, `RemCom_…`),
/// or a pipe in PsExec's `<name>-<client>-<pid>-stdin` shape that renamed copies keep.
pub(crate) fn pipe_method(pipe: &str) -> Option<Method> {
    let pipe = pipe.trim_start_matches('\\');
    let psexec = PSEXEC_PIPES
        .iter()
        .any(|p| starts_with_ignore_case(pipe, p))
        || psexec_pipe_client(pipe).is_some();
    psexec.then_some(method(technique::SERVICE, "PsExec named pipe", true))
}

/// The client host named by a PsExec-shaped pipe: `PSEXESVC-HOST-1234-stdin` → `HOST`.
pub(crate) fn psexec_pipe_client(pipe: &str) -> Option<&str> {
    let pipe = pipe.trim_start_matches('\\');
    let rest = ["-stdin", "-stdout", "-stderr"]
        .iter()
        .find_map(|s| strip_suffix_ignore_case(pipe, s))?;
    let (rest, pid) = rest.rsplit_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (_, client) = rest.split_once('-')?;
    (!client.is_empty()).then_some(client)
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    ends_with_ignore_case(text, suffix).then(|| &text[..text.len() - suffix.len()])
}

/// What a process launch says: the parent is the remote-execution channel (WmiPrvSE.exe for
/// WMI, wsmprovhost.exe for WinRM, services.exe running a shell, mmc.exe under DCOM) or the
/// process is PsExec's service. `parent` is the parent's image (resolved from its pid when
/// the source lacks it), `parent_cmd` its command line.
pub(crate) fn process_launch(
    image: &str,
    cmd: &str,
    parent: &str,
    parent_cmd: &str,
) -> Option<Method> {
    let child = basename(image);
    let parent = basename(parent);
    let shell = SHELLS.iter().any(|s| eq_ignore_case(child, s));
    if is_psexec_service(child.trim_end_matches(".exe")) {
        return Some(method(technique::SERVICE, "PsExec service", true));
    }
    if eq_ignore_case(parent, "wmiprvse.exe") {
        if WMI_OWN_CHILDREN.iter().any(|c| eq_ignore_case(child, c)) {
            return None;
        }
        // impacket wmiexec: `cmd.exe /Q /c … 1> \\127.0.0.1\ADMIN$\__123 2>&1`
        let strong = shell && on_admin_share(cmd);
        return Some(method(technique::WMI, "WMI process launch", strong));
    }
    if eq_ignore_case(parent, "wsmprovhost.exe") {
        let own = eq_ignore_case(child, "conhost.exe");
        return (!own).then_some(method(technique::WINRM, "WinRM process launch", true));
    }
    if eq_ignore_case(parent, "services.exe") && shell {
        return Some(method(technique::SERVICE, "service ran a shell", true));
    }
    if eq_ignore_case(parent, "mmc.exe") && shell {
        let embedded = contains_ignore_case(parent_cmd, "-embedding");
        return Some(method(
            technique::DCOM,
            "DCOM (MMC20) process launch",
            embedded,
        ));
    }
    if eq_ignore_case(child, "wsmprovhost.exe") {
        // the WinRM plug-in host starts for each remote PowerShell session
        return Some(method(
            technique::WINRM,
            "WinRM session host started",
            false,
        ));
    }
    let dcom_host = ["mmc.exe", "excel.exe"]
        .iter()
        .any(|h| eq_ignore_case(child, h));
    if dcom_host
        && eq_ignore_case(parent, "svchost.exe")
        && contains_any_ignore_case(cmd, &["-embedding", "/automation"])
    {
        return Some(method(technique::DCOM, "DCOM server started", false));
    }
    None
}

/// Whether a process launch is a PsExec-family client (the source side).
pub(crate) fn is_psexec_client(image: &str, original_name: Option<&str>) -> bool {
    let name = basename(image);
    ["psexec.exe", "psexec64.exe", "paexec.exe"]
        .iter()
        .any(|n| eq_ignore_case(name, n))
        || original_name.is_some_and(|o| eq_ignore_case(o, "psexec.c"))
}

/// The remote host a PsExec command line names (`psexec \\fs01 -s cmd` → `fs01`), if any.
pub(crate) fn psexec_target(cmd: &str) -> Option<&str> {
    cmd.split_whitespace().find_map(|t| {
        let t = t.trim_matches('"').strip_prefix("\\\\")?;
        let host = t.split(['\\', ' ']).next().unwrap_or(t);
        (!host.is_empty() && host != "*" && !host.contains(',')).then_some(host)
    })
}

/// A registry write that sets a service's image: value `ImagePath` of `…\Services\<name>`
/// (Sysmon 13 splits the value name off the key; other sources keep it in the key). Returns
/// the service name.
pub(crate) fn service_image_key<'a>(key: &'a str, value_name: &str) -> Option<&'a str> {
    let key = key.trim_end_matches('\\');
    let service_key = if eq_ignore_case(value_name, "ImagePath") {
        key
    } else {
        strip_suffix_ignore_case(key, "\\imagepath")?
    };
    let (services, name) = service_key.rsplit_once('\\')?;
    ends_with_ignore_case(services, "\\services").then_some(name)
}

/// The host part of a name: `WORKSTATION6.theshire.local` → `WORKSTATION6`, `\\fs01` →
/// `fs01`, `cifs/fs01.corp` → `fs01`, `WS01$` → `WS01`. Addresses stay whole.
pub(crate) fn short_host(name: &str) -> &str {
    let name = name.trim().trim_start_matches('\\');
    let name = match name.split_once('/') {
        Some((_, host)) => host.split([':', '/']).next().unwrap_or(host),
        None => name,
    };
    if name.parse::<IpAddr>().is_ok() {
        return name;
    }
    let name = name.split('.').next().unwrap_or(name);
    name.strip_suffix('$').unwrap_or(name)
}

/// Whether a target server name is this machine (or says nothing): empty, `-`,
/// `localhost`, a loopback address or the device's own name.
pub(crate) fn is_local_target(target: &str, device: &str) -> bool {
    let host = short_host(target);
    host.is_empty()
        || host == "-"
        || eq_ignore_case(host, "localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        || eq_ignore_case(host, short_host(device))
}

/// Whether an address is a usable remote source: not loopback or unspecified.
pub(crate) fn is_remote_ip(ip: IpAddr) -> bool {
    !ip.is_loopback() && !ip.is_unspecified()
}

/// The most bytes of one name (host, account, source) a state key or distinct item holds.
/// DNS names stop at 253 bytes and Windows account names well before; a longer name from odd
/// input is cut, so that a key never passes the host's 1,024-byte limit. Past that limit every
/// state call on the key is refused, and the report-once markers, which report rather than
/// miss, would report every event.
pub(crate) const KEY_NAME_MAX: usize = 255;

/// Appends `text`, cut to [`KEY_NAME_MAX`] bytes, to `key` in ASCII upper case, without
/// allocating.
pub(crate) fn push_upper(key: &mut String, text: &str) {
    for c in clip(text, KEY_NAME_MAX).chars() {
        key.push(c.to_ascii_uppercase());
    }
}

/// Appends `text`, cut to [`KEY_NAME_MAX`] bytes, to `key` in ASCII lower case, without
/// allocating.
pub(crate) fn push_lower(key: &mut String, text: &str) {
    for c in clip(text, KEY_NAME_MAX).chars() {
        key.push(c.to_ascii_lowercase());
    }
}

/// Appends an address to `key`.
pub(crate) fn push_ip(key: &mut String, ip: IpAddr) {
    // Writing to a String cannot fail.
    let _ = write!(key, "{ip}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_that_run_shells_or_sit_on_shares_are_strong() {
        let strong = |name, cmd| service(name, cmd).is_some_and(|m| m.standalone);
        assert!(strong(
            "Updater",
            r"%COMSPEC% /C start /b C:\Windows\System32\WindowsPowershell\v1.0\powershell -noP -enc AAAA"
        ));
        assert!(strong("spoolfool", "cmd.exe"));
        assert!(strong("x", r#""C:\Windows\System32\cmd.exe" /c whoami"#));
        assert!(strong("PSEXESVC", r"%SystemRoot%\PSEXESVC.exe"));
        assert!(strong("hello", r"\\10.0.0.5\ADMIN$\payload.exe"));
        assert!(strong("svc", r"C:\Windows\xUBqGyYW.exe"));
        assert!(strong(
            "BTOBTO",
            r"%COMSPEC% /Q /c echo cd ^> \\127.0.0.1\C$\__output"
        ));
    }

    #[test]
    fn ordinary_services_are_not_signals() {
        assert_eq!(service("remotesvc", "calc.exe"), None);
        assert_eq!(
            service(
                "Sense",
                r#""C:\Program Files\Windows Defender Advanced Threat Protection\MsSense.exe""#
            ),
            None
        );
        assert_eq!(
            service("WinDefend", r"C:\Windows\System32\svchost.exe -k netsvcs"),
            None
        );
        assert_eq!(
            service("MpKslDrv", r"\??\C:\ProgramData\Microsoft\x.sys"),
            None
        );
        let weak = service("xUBqGyYWkd", r"C:\Program Files\x\y.exe").expect("random name");
        assert!(!weak.standalone);
    }

    #[test]
    fn random_names() {
        assert!(random_like("xUBqGyYW"));
        assert!(!random_like("WinDefend"));
        assert!(!random_like("spoolfool"));
        assert!(!random_like("short"));
        assert!(!random_like("with space in it"));
    }

    #[test]
    fn share_accesses() {
        let svcctl = share_access(r"\\*\IPC$", "svcctl", 0x12019f).expect("svcctl");
        assert_eq!(svcctl.technique, technique::SERVICE);
        assert!(share_access(r"\\*\IPC$", "atsvc", 0x12019f).is_some());
        assert!(share_access(r"\\*\IPC$", "PSEXESVC-WS01-4242-stdin", 0x12019f).is_some());
        assert!(share_access(r"\\*\IPC$", "blabla-NLLT108334-37048-stdin", 0x120196).is_some());
        assert_eq!(share_access(r"\\*\IPC$", "srvsvc", 0x12019f), None);
        assert_eq!(share_access(r"\\*\IPC$", "winreg", 0x12019f), None);
        let copy = share_access(r"\\*\C$", r"ProgramData\GruntHTTP.exe", 0x0017019f);
        assert_eq!(copy.map(|m| m.technique), Some(technique::TOOL_TRANSFER));
        assert!(share_access(r"\\*\ADMIN$", "blabla.exe", 0x00120196).is_some());
        assert_eq!(
            share_access(r"\\*\C$", "malwr.exe", 0x00120089),
            None,
            "read only"
        );
        assert_eq!(share_access(r"\\*\C$", "notes.txt", 0x0017019f), None);
        assert_eq!(share_access(r"\\*\SYSVOL", "x.exe", 0x0017019f), None);
    }

    #[test]
    fn psexec_pipes_name_their_client() {
        assert_eq!(
            psexec_pipe_client(r"\PSEXESVC-FS03VULN-2124-stdin"),
            Some("FS03VULN")
        );
        assert_eq!(
            psexec_pipe_client("blabla-NLLT108334-37048-stderr"),
            Some("NLLT108334")
        );
        assert_eq!(psexec_pipe_client("PSEXESVC"), None);
        assert_eq!(
            psexec_pipe_client("a-b-c-stdin"),
            None,
            "pid must be digits"
        );
        assert!(pipe_method(r"\PSEXESVC").is_some());
        assert!(pipe_method(r"\RemCom_communicaton").is_some());
        assert_eq!(pipe_method(r"\lsass"), None);
        assert_eq!(
            pipe_method(r"\PSHost.1324.1280.DefaultAppDomain.wsmprovhost"),
            None
        );
    }

    #[test]
    fn process_launches() {
        let wmi =
            |image, cmd| process_launch(image, cmd, r"C:\Windows\System32\wbem\WmiPrvSE.exe", "");
        let impacket = wmi(
            r"C:\Windows\System32\cmd.exe",
            r"cmd.exe /Q /c whoami /all 1> \\127.0.0.1\ADMIN$\__1556656369.7 2>&1",
        )
        .expect("wmiexec");
        assert!(impacket.standalone);
        assert_eq!(impacket.technique, technique::WMI);
        let stager = wmi(
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "powershell -noP -enc AA",
        )
        .expect("a WMI shell");
        assert!(!stager.standalone, "needs a logon to be reported");
        assert!(wmi(r"C:\Windows\System32\calc.exe", "calc").is_some());
        assert_eq!(
            wmi(r"C:\Windows\System32\WerFault.exe", "WerFault -u"),
            None
        );

        let winrm = process_launch(
            r"C:\Windows\System32\HOSTNAME.EXE",
            "hostname",
            r"C:\Windows\System32\wsmprovhost.exe",
            "",
        );
        assert!(winrm.is_some_and(|m| m.standalone && m.technique == technique::WINRM));
        let svc = process_launch(
            r"C:\Windows\System32\cmd.exe",
            "cmd /c start powershell",
            r"C:\Windows\System32\services.exe",
            "",
        );
        assert!(svc.is_some_and(|m| m.standalone));
        assert!(
            process_launch(
                r"C:\Windows\PSEXESVC.exe",
                "",
                r"C:\Windows\System32\services.exe",
                ""
            )
            .is_some()
        );
        let mmc = process_launch(
            r"C:\Windows\System32\cmd.exe",
            "cmd /c x",
            r"C:\Windows\System32\mmc.exe",
            "mmc.exe -Embedding",
        );
        assert!(mmc.is_some_and(|m| m.standalone && m.technique == technique::DCOM));
        let excel = process_launch(
            r"C:\Program Files\Microsoft Office\EXCEL.EXE",
            "EXCEL.EXE /automation -Embedding",
            r"C:\Windows\System32\svchost.exe",
            "",
        );
        assert!(excel.is_some_and(|m| !m.standalone));
        assert_eq!(
            process_launch(
                r"C:\Windows\System32\cmd.exe",
                "cmd",
                r"C:\Windows\explorer.exe",
                ""
            ),
            None
        );
        assert_eq!(
            process_launch(
                r"C:\Windows\System32\TrustedInstaller.exe",
                "",
                r"C:\Windows\System32\services.exe",
                ""
            ),
            None
        );
    }

    #[test]
    fn a_winrm_session_host_is_weak() {
        let session = process_launch(
            r"C:\Windows\System32\wsmprovhost.exe",
            "wsmprovhost.exe -Embedding",
            r"C:\Windows\System32\svchost.exe",
            "",
        );
        assert!(session.is_some_and(|m| !m.standalone && m.technique == technique::WINRM));
    }

    #[test]
    fn psexec_clients() {
        assert!(is_psexec_client(r"C:\TOOLS\PsExec64.exe", None));
        assert!(is_psexec_client(r"C:\x\renamed.exe", Some("psexec.c")));
        assert!(!is_psexec_client(r"C:\x\cmd.exe", None));
        assert_eq!(psexec_target(r"psexec.exe \\fs01 -s cmd"), Some("fs01"));
        assert_eq!(psexec_target(r"PsExec64.exe  -i -s cmd"), None);
    }

    #[test]
    fn service_keys() {
        assert_eq!(
            service_image_key(
                r"HKLM\System\CurrentControlSet\Services\PSEXESVC\ImagePath",
                ""
            ),
            Some("PSEXESVC")
        );
        assert_eq!(
            service_image_key(r"HKLM\System\CurrentControlSet\services\hello", "ImagePath"),
            Some("hello")
        );
        assert_eq!(
            service_image_key(r"HKLM\System\CurrentControlSet\services\hello\Start", ""),
            None
        );
        assert_eq!(
            service_image_key(r"HKLM\System\CurrentControlSet\services\hello", "Start"),
            None
        );
        assert_eq!(service_image_key(r"HKLM\Software\x\ImagePath", ""), None);
    }

    #[test]
    fn key_names_are_cut_on_a_char_boundary() {
        let mut key = String::from("rx|");
        push_upper(&mut key, &"é".repeat(1_000));
        assert!(key.len() <= 3 + KEY_NAME_MAX, "{}", key.len());
        assert!(key.ends_with('é'));
        key.clear();
        push_lower(&mut key, &"A".repeat(2_000));
        assert_eq!(key, "a".repeat(KEY_NAME_MAX));
        key.clear();
        push_upper(&mut key, "ws01");
        assert_eq!(key, "WS01");
    }

    #[test]
    fn hosts() {
        assert_eq!(short_host("WORKSTATION6.theshire.local"), "WORKSTATION6");
        assert_eq!(short_host(r"\\fs01"), "fs01");
        assert_eq!(short_host("WS01$"), "WS01");
        assert_eq!(short_host("cifs/fs01.corp.example"), "fs01");
        assert_eq!(short_host("10.0.0.5"), "10.0.0.5");
        assert!(is_local_target("localhost", "PC01"));
        assert!(is_local_target("PC01.example.corp", "PC01"));
        assert!(is_local_target("127.0.0.1", "PC01"));
        assert!(!is_local_target("WIN-77LTAPHIQ1R.example.corp", "PC01"));
        assert_eq!(first_token(r#""C:\a b\c.exe" -x"#), r"C:\a b\c.exe");
        assert!(in_windows_root(r"%SystemRoot%\PSEXESVC.exe"));
        assert!(in_windows_root(r"%%SystemRoot%%\PSEXESVC.exe"));
        assert!(in_windows_root(r"\SystemRoot\x.exe"));
        assert!(!in_windows_root(r"C:\Windows\System32\svchost.exe -k x"));
    }
}
