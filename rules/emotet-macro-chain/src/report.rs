//! The finding of a chain. The tracker queues a chain when an event brings it to
//! `min_stages` stages or adds a stage after that; the dedup key is the host and the Office
//! process, so every report of a chain updates one alert.

use core::fmt::Write;
use core::net::IpAddr;

use yagura_sdk::prelude::*;

use crate::EmotetMacroChain;
use crate::chain::{Chain, Link, Stage};

impl EmotetMacroChain {
    /// Reports the chains queued by this batch's events, in event order.
    pub(crate) fn report(&mut self, out: &mut Vec<Finding>) {
        for (dedup, chain) in self.track.take_ready() {
            out.push(finding(&chain, &dedup, self.window));
        }
    }
}

/// The finding for a chain.
pub fn finding(chain: &Chain, dedup: &str, window: Window) -> Finding {
    let host = if chain.host.is_empty() {
        "an unnamed host"
    } else {
        &chain.host
    };
    let office = name_of(&chain.office_label, &chain.office);
    let child = name_of(&chain.child, "");
    let stages: Vec<Stage> = Stage::ALL.into_iter().filter(|s| chain.has(*s)).collect();
    let numbers = stages
        .iter()
        .map(|s| s.number().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut f = Finding::new(format!(
        "Emotet-style macro chain on {host}: {office} → {child}, {} of 6 stages",
        stages.len()
    ))
    .description(describe(chain, host, &stages))
    .severity(chain.severity())
    .confidence(u8::try_from(40 + 9 * chain.count()).unwrap_or(95).min(95))
    .techniques(techniques(chain))
    .evidence_all(chain.evidence.iter().copied())
    .time(chain.last)
    .dedup_key(dedup);
    if !chain.host.is_empty() {
        f = f.host(&chain.host).role("target");
    }
    if !chain.user.is_empty() {
        f = f.user(&chain.user).role("account");
    }
    if !chain.office_label.is_empty() {
        f = f.process(&chain.office_label).role("parent");
    }
    if !chain.child.is_empty() {
        f = f.process(&chain.child).role("child");
    }
    for path in &chain.dropped {
        f = f.file(path).role("dropped");
    }
    for destination in &chain.destinations {
        if let Some(ip) = ip_of(destination) {
            f = f.ip(ip).role("destination");
        }
    }
    f.context("stages", &numbers)
        .context("stage_count", stages.len())
        .context(
            "stage_names",
            stages
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join("; "),
        )
        .context("link", chain.link.map_or("direct", Link::as_str))
        .context("office_image", &chain.office)
        .context("child_cmd_line", &chain.child_cmd)
        .context_opt("indicator", non_empty(&chain.indicator))
        .context_opt("indicator_cmd_line", non_empty(&chain.indicator_cmd))
        .context("connections", chain.connections)
        .context_opt("destinations", list(&chain.destinations, ", "))
        .context_opt("dropped_files", list(&chain.dropped, " | "))
        .context_opt("executed", list(&chain.executed, " | "))
        .context_opt("persistence", list(&chain.persistence, " | "))
        .context("first_seen_ms", chain.first)
        .context(
            "duration_seconds",
            chain.last.saturating_sub(chain.first).max(0) / 1_000,
        )
        .context("window", window)
        .build()
}

/// A sentence per stage, for the analyst.
fn describe(chain: &Chain, host: &str, stages: &[Stage]) -> String {
    let office = if chain.office_label.is_empty() {
        "An Office application"
    } else {
        &chain.office_label
    };
    let child = if chain.child.is_empty() {
        "a shell"
    } else {
        &chain.child
    };
    let mut d = String::with_capacity(512);
    let _ = match chain.link {
        Some(Link::Wmi) => write!(
            d,
            "{office} opened a document on {host}, and shortly after WmiPrvSE.exe (WMI \
             Win32_Process.Create, which breaks the parent-child link) started {child}"
        ),
        Some(Link::Com) => write!(
            d,
            "{office} opened a document on {host}, and shortly after explorer.exe (COM \
             ShellBrowserWindow/ShellWindows) started {child}"
        ),
        _ => write!(d, "{office} started {child} on {host}"),
    };
    if !chain.user.is_empty() {
        let _ = write!(d, " as {}", chain.user);
    }
    d.push('.');
    if chain.has(Stage::Cradle) {
        let _ = write!(
            d,
            " The process tree ran an obfuscated command or download cradle ({}).",
            chain.indicator
        );
    }
    if chain.has(Stage::Network) {
        let _ = write!(d, " It connected out ({}).", chain.destinations.join(", "));
    }
    if chain.has(Stage::Drop) {
        let _ = write!(
            d,
            " It wrote {} into a user-writable folder.",
            chain.dropped.join(", ")
        );
    }
    if chain.has(Stage::Execute) {
        let _ = write!(d, " It ran {}.", chain.executed.join("; "));
    }
    if chain.has(Stage::Persist) {
        let _ = write!(
            d,
            " It added Run-key persistence ({}).",
            chain.persistence.join("; ")
        );
    }
    let _ = write!(
        d,
        " {} of the 6 stages of a macro-borne loader (Emotet, Qakbot, IcedID) within {} s: \
         isolate the host, find the document and its sender, and block the destinations.",
        stages.len(),
        chain.last.saturating_sub(chain.first).max(0) / 1_000
    );
    d
}

/// The ATT&CK techniques the stages seen show.
fn techniques(chain: &Chain) -> Vec<&'static str> {
    let mut t = vec!["T1566.001", "T1204.002"];
    let child = name_of(&chain.child, "").to_ascii_lowercase();
    match child.as_str() {
        "cmd.exe" => t.push("T1059.003"),
        "wscript.exe" | "cscript.exe" => t.push("T1059.005"),
        "mshta.exe" => t.push("T1218.005"),
        _ => {}
    }
    let script = format!("{} {}", chain.child_cmd, chain.indicator_cmd).to_ascii_lowercase();
    if script.contains("powershell") || script.contains("pwsh") {
        t.push("T1059.001");
    }
    match chain.link {
        Some(Link::Wmi) => t.push("T1047"),
        Some(Link::Com) => t.push("T1559.001"),
        _ => {}
    }
    if chain.has(Stage::Cradle) {
        t.push("T1027");
    }
    if chain.has(Stage::Network) || chain.has(Stage::Drop) {
        t.push("T1105");
    }
    if chain.has(Stage::Execute) {
        let ran = chain.executed.join(" ").to_ascii_lowercase();
        if ran.contains("rundll32") {
            t.push("T1218.011");
        }
        if ran.contains("regsvr32") {
            t.push("T1218.010");
        }
    }
    if chain.has(Stage::Persist) {
        t.push("T1547.001");
    }
    t
}

/// The image name of a label (`WINWORD.EXE (pid 100)` → `WINWORD.EXE`), else of `path`.
fn name_of<'a>(label: &'a str, path: &'a str) -> &'a str {
    let name = label.split(" (").next().unwrap_or("");
    if !name.is_empty() {
        return name;
    }
    match basename(path) {
        "" => "?",
        name => name,
    }
}

/// The address of a destination written as `ip`, `ip:port` or `[ip6]:port`.
fn ip_of(destination: &str) -> Option<IpAddr> {
    if let Ok(ip) = destination.parse() {
        return Some(ip);
    }
    let host = destination.rsplit_once(':')?.0;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// A list for the context: addresses and names joined with `, `; paths, command lines and
/// registry values, which may hold commas, with ` | `.
fn list(items: &[String], separator: &str) -> Option<String> {
    (!items.is_empty()).then(|| items.join(separator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yagura_sdk::EntityKind;

    fn chain() -> Chain {
        let mut c = Chain {
            host: "WS01".into(),
            first: 1_000,
            link: Some(Link::Direct),
            office: r"C:\Office\WINWORD.EXE".into(),
            office_label: "WINWORD.EXE (pid 100)".into(),
            user: r"CORP\alice".into(),
            child: "cmd.exe (pid 200)".into(),
            child_cmd: "cmd /c powershell -enc AAAA".into(),
            indicator: "encoded command".into(),
            ..Chain::default()
        };
        c.add(Stage::Launch, 1_000, 1);
        c.add(Stage::Cradle, 1_000, 1);
        c.add(Stage::Network, 5_000, 3);
        c.destinations.push("203.0.113.9:80".into());
        c.destinations.push("[2001:db8::1]:443".into());
        c.destinations.push("evil.example".into());
        c
    }

    #[test]
    fn finding_names_the_chain() {
        let f = finding(&chain(), "ws01|{X}", Window::minutes(10));
        assert_eq!(
            f.title,
            "Emotet-style macro chain on WS01: WINWORD.EXE → cmd.exe, 3 of 6 stages"
        );
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.dedup_key, "ws01|{X}");
        assert_eq!(f.evidence, [1, 3]);
        assert_eq!(f.time, 5_000);
        assert!(f.techniques.iter().any(|t| t == "T1059.003"));
        assert!(f.techniques.iter().any(|t| t == "T1105"));
        let ips: Vec<_> = f
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::Ip)
            .map(|e| e.value.as_str())
            .collect();
        assert_eq!(ips, ["203.0.113.9", "2001:db8::1"]);
        let ctx = |k: &str| {
            f.context
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(ctx("stages"), Some("1,2,3"));
        assert_eq!(
            ctx("destinations"),
            Some("203.0.113.9:80, [2001:db8::1]:443, evil.example")
        );
        assert_eq!(ctx("window"), Some("10m"));
        assert_eq!(ctx("duration_seconds"), Some("4"));
        assert!(
            f.description
                .contains("WINWORD.EXE (pid 100) started cmd.exe (pid 200) on WS01")
        );
    }

    #[test]
    fn names_and_addresses() {
        assert_eq!(name_of("WINWORD.EXE (pid 1)", ""), "WINWORD.EXE");
        assert_eq!(name_of("", r"C:\x\EXCEL.EXE"), "EXCEL.EXE");
        assert_eq!(name_of("", ""), "?");
        assert_eq!(ip_of("10.0.0.1"), "10.0.0.1".parse().ok());
        assert_eq!(ip_of("evil.example:80"), None);
    }

    #[test]
    fn empty_chain_does_not_panic() {
        let f = finding(&Chain::default(), "k", Window::minutes(1));
        assert!(f.title.contains("an unnamed host"));
    }

    #[test]
    fn extreme_event_times_do_not_overflow() {
        let c = Chain {
            first: i64::MIN,
            last: i64::MAX,
            ..chain()
        };
        let f = finding(&c, "k", Window::minutes(1));
        let duration = f.context.iter().find(|(k, _)| k == "duration_seconds");
        assert_eq!(duration.map(|(_, v)| v.as_str()), Some("9223372036854775"));
    }
}
