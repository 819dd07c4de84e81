//! The finding a remote-execution signal becomes: title, severity and confidence by what is
//! known, entities with roles, context for the analyst.

use yagura_sdk::prelude::*;

use crate::classify;
use crate::origin::Origin;
use crate::report::clip;

/// A signal's facts, borrowed from its event or from the pending store.
pub(super) struct View<'a> {
    pub(super) technique: &'a str,
    pub(super) method: &'a str,
    pub(super) name: &'a str,
    pub(super) detail: &'a str,
    pub(super) seq: u64,
}

/// The event a finding is reported at.
pub(super) struct Reported {
    pub(super) time: i64,
    pub(super) seq: u64,
    pub(super) process: Option<String>,
}

pub(super) fn finding(
    host: &str,
    signal: &View<'_>,
    origin: &Origin,
    correlated: bool,
    signals: Option<i64>,
    at: Reported,
) -> Finding {
    let source = origin.source();
    let mut title = format!("Remote execution on {host}: {}", signal.method);
    if let Some(src) = &source {
        title.push_str(&format!(" from {src}"));
    }
    if !origin.account.is_empty() {
        title.push_str(&format!(" as {}", origin.account));
    }
    let (severity, confidence) = match (correlated, origin.level()) {
        (true, 2) => (Severity::High, 85),
        (true, _) => (Severity::High, 70),
        (false, _) => (Severity::Medium, 55),
    };
    let description = format!(
        "{} on {host} ({}). {} Lateral movement runs code on a target through a remote \
         channel — the service manager, admin shares, the task scheduler, WMI, WinRM or DCOM — \
         after authenticating over the network; check whether the source and account are \
         expected to administer this host.",
        signal.method,
        signal.technique,
        match (&source, correlated) {
            (Some(src), true) => format!("It is tied to {src} by: {}.", origin.via),
            (Some(src), false) => format!("The event itself names {src} as the source."),
            (None, _) => "No network logon on this host ties it to a source yet.".to_owned(),
        }
    );
    let mut b = Finding::new(title)
        .description(description)
        .severity(severity)
        .confidence(confidence)
        .technique(signal.technique)
        .time(at.time)
        .evidence(signal.seq)
        .dedup_key(format!(
            "exec|{}|{}",
            host.to_ascii_uppercase(),
            signal.technique
        ))
        .host(host)
        .role("target");
    if at.seq != signal.seq {
        b = b.evidence(at.seq);
    }
    if correlated && origin.seq != 0 && origin.seq != signal.seq && origin.seq != at.seq {
        b = b.evidence(origin.seq);
    }
    if signal.technique == classify::technique::SERVICE
        || signal.technique == classify::technique::TOOL_TRANSFER
    {
        b = b.technique(classify::technique::ADMIN_SHARES);
    }
    if let Some(ip) = origin.ip {
        b = b.ip(ip).role("source");
    }
    if !origin.host.is_empty() {
        b = b.host(&origin.host).role("source");
    }
    if !origin.account.is_empty() {
        b = b.user(&origin.account).role("account");
    }
    if let Some(label) = at.process {
        b = b.process(label);
    }
    b.context("method", signal.method)
        .context("technique", signal.technique)
        .context("name", clip(signal.name, 256))
        .context_opt(
            "detail",
            (!signal.detail.is_empty()).then(|| clip(signal.detail, 512)),
        )
        .context_opt("source", source)
        .context_opt(
            "source_host",
            (!origin.host.is_empty()).then_some(&origin.host),
        )
        .context_opt(
            "account",
            (!origin.account.is_empty()).then_some(&origin.account),
        )
        .context(
            "correlated_by",
            if correlated {
                origin.via.as_str()
            } else {
                "none"
            },
        )
        .context_opt("signals_in_window", signals)
        .build()
}
