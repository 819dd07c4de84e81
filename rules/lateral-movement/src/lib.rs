//! Rule `lateral-movement`: an attacker moving from host to host in a Windows network, from
//! the Security, System and Sysmon logs of the hosts and the domain controller.
//!
//! Four detections, each with its own finding title, techniques and dedup key:
//! - **fan-out** — one account or one source authenticating over the network to many hosts
//!   within a window (T1021, T1078);
//! - **remote execution** — a service install, an admin-share or named-pipe access, a
//!   scheduled task, or a process started by WMI, WinRM, DCOM or the service manager on a
//!   target, tied to the network logon before it when there is one (T1569.002, T1021.002,
//!   T1570, T1053.005, T1047, T1021.006, T1021.003);
//! - **credential misuse** — pass-the-hash logon shapes and explicit credentials used toward
//!   another host (T1550.002, T1078);
//! - **password spray** — many failed logons across many accounts from one source (T1110.003).
//!
//! All counting and correlation lives in host state, keyed by host, account or source and
//! expiring with the windows; the rule struct keeps settings, reused key buffers and small
//! bounded caches (domain controllers, hosts that are none, report markers host state
//! refused).
//!
//! # Layout
//! - [`settings`]: parameters and their validation.
//! - [`classify`]: pure classifiers of services, shares, pipes and process launches.
//! - [`origin`]: where activity on a host came from (logons, share accesses, clients).
//! - [`fanout`], [`remote_exec`], [`credentials`], [`spray`]: the four detections.
//! - [`report`]: report-once helpers.

mod classify;
mod credentials;
mod fanout;
mod origin;
mod remote_exec;
mod report;
mod settings;
mod spray;

use std::collections::HashSet;

use yagura_sdk::prelude::*;

use settings::Settings;

/// Buffers reused from event to event, and the count of state calls the host refused.
pub(crate) struct Scratch {
    /// the state key being built
    key: String,
    /// a state value or distinct item being built
    value: String,
    /// a second item (a source address as text)
    item: String,
    /// state calls refused in this batch
    errors: u32,
    /// domain controllers seen, upper case: a cache of the `dc|HOST` state entries
    known_dcs: Vec<String>,
    /// `dc|HOST` keys host state did not hold when looked up: hosts that are no domain
    /// controller, so that a network logon does not cost a state call to learn it again.
    /// Bounded (emptied when full); a host seen issuing tickets is taken out.
    not_dcs: HashSet<String>,
    /// report markers host state refused to keep
    fallback: report::Fallback,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            key: String::with_capacity(128),
            value: String::with_capacity(256),
            item: String::with_capacity(64),
            errors: 0,
            known_dcs: Vec::new(),
            not_dcs: HashSet::new(),
            fallback: report::Fallback::default(),
        }
    }

    /// Counts a refused state call.
    fn note(&mut self, result: Result<(), state::StateError>) {
        if result.is_err() {
            self.errors += 1;
        }
    }

    /// The value of a state call, counting a refusal.
    fn note_value<T>(&mut self, result: Result<T, state::StateError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(_) => {
                self.errors += 1;
                None
            }
        }
    }
}

/// The rule: settings and scratch buffers.
struct LateralMovement {
    settings: Settings,
    scratch: Scratch,
}

impl Rule for LateralMovement {
    fn info() -> RuleInfo {
        let mut info = RuleInfo::new("lateral-movement", "Lateral movement")
            .description(
                "Fan-out of one account or source to many hosts, remote execution on a target \
                 (services, admin shares, named pipes, scheduled tasks, WMI, WinRM, DCOM), \
                 pass-the-hash and explicit-credential use, and password spray.",
            )
            .severity(Severity::High)
            .subscribe(EventClass::Authentication)
            .subscribe(EventClass::Process)
            .subscribe(EventClass::Job)
            .subscribe(EventClass::File)
            .subscribe(EventClass::Registry)
            .subscribe(EventClass::Network);
        for t in [
            "T1021",
            "T1021.002",
            "T1021.003",
            "T1021.006",
            "T1047",
            "T1053.005",
            "T1569.002",
            "T1570",
            "T1078",
            "T1550.002",
            "T1110.003",
        ] {
            info = info.technique(t);
        }
        for p in settings::params() {
            info = info.param(p);
        }
        info.build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        Ok(LateralMovement {
            settings: Settings::from_config(config)?,
            scratch: Scratch::new(),
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        let s = &self.settings;
        let sc = &mut self.scratch;
        sc.errors = 0;
        for ev in batch {
            if ev.class() == EventClass::Authentication {
                if s.fanout {
                    fanout::on_event(s, sc, &ev, out);
                }
                if s.credential_misuse {
                    credentials::on_event(s, sc, &ev, out);
                }
                if s.spray {
                    spray::on_event(s, sc, &ev, out);
                }
            }
            // remote execution also needs the origins the other classes feed
            if s.remote_exec {
                remote_exec::on_event(s, sc, &ev, out);
            }
        }
        if sc.errors > 0 {
            log::warn(&format!(
                "host state refused {} calls in a batch of {}; some correlations were lost",
                sc.errors,
                batch.len()
            ));
        }
        Ok(())
    }
}

export_rule!(LateralMovement);

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(values: Vec<(String, Value)>) -> Result<LateralMovement, String> {
        let config = Config::new(values).with_defaults(LateralMovement::info().params);
        LateralMovement::init(&config)
    }

    #[test]
    fn defaults_are_valid() {
        let r = rule(vec![]).expect("defaults");
        assert_eq!(r.settings.fanout_min_hosts, 3);
        assert!(r.settings.account_excluded("WS01$"));
        assert!(r.settings.account_excluded("ANONYMOUS LOGON"));
        assert!(r.settings.account_excluded("DWM-3"));
        assert!(!r.settings.account_excluded("pgustavo"));
    }

    #[test]
    fn bad_settings_name_the_parameter() {
        let cases = [
            ("fanout_min_hosts", Value::Integer(1)),
            ("fanout_window_minutes", Value::Integer(0)),
            ("spray_min_accounts", Value::Integer(-3)),
            ("exec_window_minutes", Value::Integer(i64::MAX)),
            ("excluded_accounts", Value::TextList(vec!["a*b".into()])),
            (
                "excluded_sources",
                Value::TextList(vec!["two words".into()]),
            ),
        ];
        for (name, value) in cases {
            let err = rule(vec![(name.into(), value)])
                .err()
                .unwrap_or_else(|| panic!("{name} accepted"));
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn exclusions_are_configurable() {
        let r = rule(vec![
            ("exclude_machine_accounts".into(), Value::Boolean(false)),
            (
                "excluded_accounts".into(),
                Value::TextList(vec![r"CORP\svc_scan".into(), "svc_backup*".into()]),
            ),
            (
                "excluded_sources".into(),
                Value::TextList(vec!["jump01.corp".into()]),
            ),
        ])
        .expect("valid");
        assert!(!r.settings.account_excluded("WS01$"));
        assert!(r.settings.account_excluded("SVC_SCAN"));
        assert!(r.settings.account_excluded("svc_backup_02"));
        assert!(r.settings.source_excluded("JUMP01"));
    }
}
