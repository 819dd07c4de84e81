//! The rule's parameters: their declarations for `info` and their parsed, validated form.

use yagura_sdk::prelude::*;

/// Accounts that authenticate to many hosts as a matter of course.
const DEFAULT_EXCLUDED_ACCOUNTS: &[&str] = &[
    "ANONYMOUS LOGON",
    "SYSTEM",
    "LOCAL SERVICE",
    "NETWORK SERVICE",
    "DWM-*",
    "UMFD-*",
];

/// The declared parameters, in `info` order.
pub(crate) fn params() -> Vec<Param> {
    vec![
        Param::integer(
            "fanout_min_hosts",
            "fan-out: distinct destination hosts one account or one source must reach",
            3,
        ),
        Param::integer(
            "fanout_window_minutes",
            "fan-out: the window the destinations are counted in",
            15,
        ),
        Param::integer(
            "exec_window_minutes",
            "remote execution: how long a network logon on a host ties later execution there \
             to its source and account; also the quiet period of remote-execution and \
             credential-misuse alerts",
            15,
        ),
        Param::integer(
            "spray_min_failures",
            "password spray: failed logons from one source within the window",
            10,
        ),
        Param::integer(
            "spray_min_accounts",
            "password spray: distinct accounts those failures must span",
            5,
        ),
        Param::integer(
            "spray_window_minutes",
            "password spray: the window failures and accounts are counted in",
            30,
        ),
        Param::boolean(
            "exclude_machine_accounts",
            "ignore accounts whose name ends in `$` (computer accounts) everywhere",
            true,
        ),
        Param::text_list(
            "excluded_accounts",
            "accounts never counted or reported (service and scanner accounts); a trailing `*` \
             matches a prefix; compared without the domain, ignoring case",
            DEFAULT_EXCLUDED_ACCOUNTS,
        ),
        Param::text_list(
            "excluded_sources",
            "source addresses or host names never reported for fan-out, spray or NTLM logons \
             (jump hosts, vulnerability scanners, NAT gateways)",
            &[],
        ),
        Param::text_list(
            "excluded_destinations",
            "hosts not counted as fan-out destinations (domain controllers, file servers)",
            &[],
        ),
        Param::boolean(
            "fanout_count_domain_controllers",
            "count domain controllers (hosts that log Kerberos ticket events, 4768/4769/4771) \
             as fan-out destinations; off by default, since every user logs on to them",
            false,
        ),
        Param::boolean("detect_fanout", "report fan-out", true),
        Param::boolean(
            "detect_remote_exec",
            "report remote execution on a target",
            true,
        ),
        Param::boolean(
            "detect_credential_misuse",
            "report pass-the-hash signals and explicit credentials used toward remote hosts",
            true,
        ),
        Param::boolean("detect_spray", "report password spray", true),
    ]
}

/// An account pattern: a lowercase name, or a prefix when it ended in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AccountPattern {
    text: String,
    prefix: bool,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) fanout_min_hosts: u32,
    pub(crate) fanout_window: Window,
    pub(crate) exec_window: Window,
    pub(crate) spray_min_failures: i64,
    pub(crate) spray_min_accounts: u32,
    pub(crate) spray_window: Window,
    exclude_machine_accounts: bool,
    excluded_accounts: Vec<AccountPattern>,
    excluded_sources: Vec<String>,
    excluded_destinations: Vec<String>,
    pub(crate) fanout_count_dcs: bool,
    pub(crate) fanout: bool,
    pub(crate) remote_exec: bool,
    pub(crate) credential_misuse: bool,
    pub(crate) spray: bool,
}

impl Settings {
    /// Reads and checks every parameter; errors name the parameter.
    pub(crate) fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        let minutes = |name: &str| -> Result<Window, ConfigError> {
            Ok(Window::minutes(
                config.integer_in(name, 1..=7 * 24 * 60)?.unsigned_abs(),
            ))
        };
        let count = |name: &str, min: i64| -> Result<u32, ConfigError> {
            let n = config.integer_in(name, min..=10_000)?;
            u32::try_from(n).map_err(|e| ConfigError::invalid(name, e.to_string()))
        };
        Ok(Settings {
            fanout_min_hosts: count("fanout_min_hosts", 2)?,
            fanout_window: minutes("fanout_window_minutes")?,
            exec_window: minutes("exec_window_minutes")?,
            spray_min_failures: i64::from(count("spray_min_failures", 2)?),
            spray_min_accounts: count("spray_min_accounts", 2)?,
            spray_window: minutes("spray_window_minutes")?,
            exclude_machine_accounts: config.boolean("exclude_machine_accounts")?,
            excluded_accounts: account_patterns(config)?,
            excluded_sources: names(config, "excluded_sources")?,
            excluded_destinations: names(config, "excluded_destinations")?,
            fanout_count_dcs: config.boolean("fanout_count_domain_controllers")?,
            fanout: config.boolean("detect_fanout")?,
            remote_exec: config.boolean("detect_remote_exec")?,
            credential_misuse: config.boolean("detect_credential_misuse")?,
            spray: config.boolean("detect_spray")?,
        })
    }

    /// Whether an account is left out: empty, a computer account (when so configured) or
    /// in `excluded_accounts`. `name` is the bare account name, without the domain.
    pub(crate) fn account_excluded(&self, name: &str) -> bool {
        let name = name.trim();
        if name.is_empty() || name == "-" {
            return true;
        }
        if self.exclude_machine_accounts && name.ends_with('$') {
            return true;
        }
        self.excluded_accounts.iter().any(|p| {
            if p.prefix {
                yagura_sdk::matchers::starts_with_ignore_case(name, &p.text)
            } else {
                name.eq_ignore_ascii_case(&p.text)
            }
        })
    }

    /// Whether a source (address or host name, as text) is in `excluded_sources`.
    pub(crate) fn source_excluded(&self, source: &str) -> bool {
        self.excluded_sources
            .iter()
            .any(|s| s.eq_ignore_ascii_case(source))
    }

    /// Whether a destination host is in `excluded_destinations`.
    pub(crate) fn destination_excluded(&self, host: &str) -> bool {
        self.excluded_destinations
            .iter()
            .any(|s| s.eq_ignore_ascii_case(host))
    }
}

fn account_patterns(config: &Config) -> Result<Vec<AccountPattern>, ConfigError> {
    let mut patterns = Vec::new();
    for entry in config.text_list("excluded_accounts")? {
        let entry = entry.trim();
        // `CORP\svc_scan` and `svc_scan` mean the same account here.
        let bare = entry.rsplit('\\').next().unwrap_or(entry);
        let (text, prefix) = match bare.strip_suffix('*') {
            Some(p) => (p, true),
            None => (bare, false),
        };
        if text.is_empty() || text.contains('*') {
            return Err(ConfigError::invalid(
                "excluded_accounts",
                format!("`{entry}` is not an account name or a prefix ending in `*`"),
            ));
        }
        patterns.push(AccountPattern {
            text: text.to_ascii_lowercase(),
            prefix,
        });
    }
    Ok(patterns)
}

fn names(config: &Config, name: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for entry in config.text_list(name)? {
        let entry = entry.trim();
        if entry.is_empty() || entry.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                name,
                format!("`{entry}` is not an address or a host name"),
            ));
        }
        out.push(crate::classify::short_host(entry).to_owned());
    }
    Ok(out)
}
