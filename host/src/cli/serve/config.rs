//! `yagura serve`'s settings from three places: flags, `YAGURA_*` environment variables and a
//! TOML file (`--config FILE` or `YAGURA_CONFIG`). Each setting is taken from the first place
//! that names it: flag, then environment, then file, then the default. The file also holds
//! the alert sinks (`[[sink]]`), which have no flag.
//!
//! Every key of the file is a flag's name with `_` for `-` (`max_events_mib = 32`); an
//! unknown key is an error naming the key, the file and its line. Syslog listeners, one per
//! tenant, are `[[syslog]]` tables; the `syslog_*` flags and keys name one more (the
//! shorthand for a single listener).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::engine::EngineOptions;
use crate::sandbox::Limits;
use crate::server::{ServerConfig, SinkConfig, SinkKind, SyslogListener};
use crate::store::{DEFAULT_TENANT, check_tenant_name};

/// The file's keys; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    listen: Option<SocketAddr>,
    store: Option<PathBuf>,
    max_events_mib: Option<u32>,
    max_bundle_mib: Option<u32>,
    queue_events: Option<u32>,
    flush_ms: Option<u32>,
    allow_unsigned: Option<bool>,
    dedup_window_s: Option<u32>,
    memory_mib: Option<u32>,
    deadline_ms: Option<u32>,
    quarantine_faults: Option<u32>,
    quarantine_calls: Option<u32>,
    syslog_udp: Option<SocketAddr>,
    syslog_tcp: Option<SocketAddr>,
    syslog_tenant: Option<String>,
    /// the flag and `YAGURA_CHECKPOINT_S` are read in `serve.rs`, over this
    checkpoint_s: Option<u32>,
    #[serde(default)]
    sink: Vec<FileSink>,
    #[serde(default)]
    syslog: Vec<FileSyslog>,
}

/// One `[[syslog]]` table: a listener feeding `tenant`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSyslog {
    tenant: String,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
}

/// One `[[sink]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSink {
    kind: String,
    name: Option<String>,
    queue: Option<usize>,
    /// only these tenants' alerts; absent: every tenant's
    tenants: Option<Vec<String>>,
    // file
    path: Option<PathBuf>,
    max_mib: Option<u64>,
    keep: Option<usize>,
    // webhook
    url: Option<String>,
    tries: Option<u32>,
    backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    timeout_ms: Option<u64>,
    /// PEM certificates trusted besides the bundled roots, for an https `url`
    ca_file: Option<PathBuf>,
}

impl FileConfig {
    /// Reads and checks `path`.
    pub(super) fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        FileConfig::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> anyhow::Result<FileConfig> {
        // toml's message names the key and its line and column
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

/// Where a setting came from, for error messages.
fn env_name(key: &str) -> String {
    format!("YAGURA_{}", key.to_uppercase())
}

/// The settings the three places agree on, in precedence order.
pub(super) struct Layers<'a> {
    pub flags: &'a super::ServeArgs,
    /// `YAGURA_*` lookup (the process environment, or a map in tests)
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub file: FileConfig,
    /// the file's path, for error messages
    pub file_name: String,
}

impl Layers<'_> {
    /// The flag, else `YAGURA_KEY`, else the file's key, else `default`; checked against
    /// `check`, which names the allowed values.
    fn pick<T: std::str::FromStr + Clone>(
        &self,
        key: &str,
        flag: Option<&T>,
        file: Option<&T>,
        default: T,
    ) -> anyhow::Result<(T, String)>
    where
        T::Err: std::fmt::Display,
    {
        if let Some(v) = flag {
            return Ok((v.clone(), format!("--{}", key.replace('_', "-"))));
        }
        let var = env_name(key);
        if let Some(text) = (self.env)(&var) {
            let v = text
                .trim()
                .parse::<T>()
                .map_err(|e| anyhow::anyhow!("{var}={text:?}: {e}"))?;
            return Ok((v, var));
        }
        if let Some(v) = file {
            return Ok((v.clone(), format!("`{key}` in {}", self.file_name)));
        }
        Ok((default, "the default".to_owned()))
    }

    fn number(
        &self,
        key: &str,
        flag: Option<u32>,
        file: Option<u32>,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> anyhow::Result<u32> {
        let (v, from) = self.pick(key, flag.as_ref(), file.as_ref(), default)?;
        if !range.contains(&v) {
            bail!("{from}: {v} is not in {}..={}", range.start(), range.end());
        }
        Ok(v)
    }

    /// The server's config.
    pub(super) fn resolve(&self) -> anyhow::Result<ServerConfig> {
        let a = self.flags;
        let f = &self.file;
        let defaults = ServerConfig::default();
        let optional = |key: &str, flag: Option<SocketAddr>, file: Option<SocketAddr>| {
            let flag = flag.map(|a| OptAddr(Some(a)));
            let file = file.map(|a| OptAddr(Some(a)));
            self.pick(key, flag.as_ref(), file.as_ref(), OptAddr(None))
                .map(|(v, _)| v.0)
        };
        let allow_unsigned = if a.allow_unsigned {
            true
        } else {
            self.pick("allow_unsigned", None, f.allow_unsigned.as_ref(), false)?
                .0
        };
        let mib = |n: u32| (n as usize) << 20;
        let checkpoint_every = match f.checkpoint_s {
            Some(s) if s > 86_400 => {
                bail!(
                    "`checkpoint_s` in {}: {s} is not in 0..=86400",
                    self.file_name
                )
            }
            Some(s) => (s > 0).then(|| Duration::from_secs(s.into())),
            None => defaults.checkpoint_every,
        };
        Ok(ServerConfig {
            listen: self
                .pick(
                    "listen",
                    a.listen.as_ref(),
                    f.listen.as_ref(),
                    defaults.listen,
                )?
                .0,
            store: self
                .pick(
                    "store",
                    a.store.as_ref(),
                    f.store.as_ref(),
                    defaults.store.clone(),
                )?
                .0,
            max_events_bytes: mib(self.number(
                "max_events_mib",
                a.max_events_mib,
                f.max_events_mib,
                32,
                1..=1024,
            )?),
            max_bundle_bytes: mib(self.number(
                "max_bundle_mib",
                a.max_bundle_mib,
                f.max_bundle_mib,
                64,
                1..=256,
            )?),
            queue_events: self.number(
                "queue_events",
                a.queue_events,
                f.queue_events,
                100_000,
                1..=u32::MAX,
            )? as usize,
            flush_after: Duration::from_millis(
                self.number("flush_ms", a.flush_ms, f.flush_ms, 1_000, 10..=600_000)?
                    .into(),
            ),
            allow_unsigned,
            dedup_window: Duration::from_secs(
                self.number(
                    "dedup_window_s",
                    a.dedup_window_s,
                    f.dedup_window_s,
                    3_600,
                    1..=u32::MAX,
                )?
                .into(),
            ),
            limits: Limits {
                memory_bytes: mib(self.number(
                    "memory_mib",
                    a.memory_mib,
                    f.memory_mib,
                    64,
                    1..=4096,
                )?),
                call_deadline: Duration::from_millis(
                    self.number("deadline_ms", a.deadline_ms, f.deadline_ms, 100, 1..=60_000)?
                        .into(),
                ),
                ..defaults.limits
            },
            engine: EngineOptions {
                quarantine_faults: self.number(
                    "quarantine_faults",
                    a.quarantine_faults,
                    f.quarantine_faults,
                    defaults.engine.quarantine_faults,
                    0..=10_000,
                )?,
                quarantine_calls: self.number(
                    "quarantine_calls",
                    a.quarantine_calls,
                    f.quarantine_calls,
                    defaults.engine.quarantine_calls,
                    1..=10_000,
                )?,
                ..defaults.engine
            },
            syslog: self.syslog(
                optional("syslog_udp", a.syslog_udp, f.syslog_udp)?,
                optional("syslog_tcp", a.syslog_tcp, f.syslog_tcp)?,
            )?,
            sinks: self.sinks()?,
            checkpoint_every,
            ..defaults
        })
    }

    /// The listener of the `syslog_*` settings (if `udp` or `tcp` is named), then one per
    /// `[[syslog]]` table.
    fn syslog(
        &self,
        udp: Option<SocketAddr>,
        tcp: Option<SocketAddr>,
    ) -> anyhow::Result<Vec<SyslogListener>> {
        let mut listeners = Vec::new();
        if udp.is_some() || tcp.is_some() {
            let (tenant, _) = self.pick(
                "syslog_tenant",
                self.flags.syslog_tenant.as_ref(),
                self.file.syslog_tenant.as_ref(),
                DEFAULT_TENANT.to_owned(),
            )?;
            listeners.push(SyslogListener { tenant, udp, tcp });
        }
        for (i, l) in self.file.syslog.iter().enumerate() {
            if l.udp.is_none() && l.tcp.is_none() {
                bail!(
                    "{}: [[syslog]] #{} (tenant = {:?}): name `udp`, `tcp` or both",
                    self.file_name,
                    i + 1,
                    l.tenant
                );
            }
            listeners.push(SyslogListener {
                tenant: l.tenant.clone(),
                udp: l.udp,
                tcp: l.tcp,
            });
        }
        Ok(listeners)
    }

    fn sinks(&self) -> anyhow::Result<Vec<SinkConfig>> {
        let mut sinks: Vec<SinkConfig> = Vec::new();
        for (i, s) in self.file.sink.iter().enumerate() {
            let at = format!(
                "{}: [[sink]] #{} (kind = {:?})",
                self.file_name,
                i + 1,
                s.kind
            );
            let only = |allowed: &[&str]| -> anyhow::Result<()> {
                let given = [
                    ("path", s.path.is_some()),
                    ("max_mib", s.max_mib.is_some()),
                    ("keep", s.keep.is_some()),
                    ("url", s.url.is_some()),
                    ("tries", s.tries.is_some()),
                    ("backoff_ms", s.backoff_ms.is_some()),
                    ("max_backoff_ms", s.max_backoff_ms.is_some()),
                    ("timeout_ms", s.timeout_ms.is_some()),
                    ("ca_file", s.ca_file.is_some()),
                ];
                for (key, set) in given {
                    if set && !allowed.contains(&key) {
                        bail!("{at}: `{key}` is not a key of this kind of sink");
                    }
                }
                Ok(())
            };
            let kind = match s.kind.as_str() {
                "stdout" => {
                    only(&[])?;
                    SinkKind::Stdout
                }
                "file" => {
                    only(&["path", "max_mib", "keep"])?;
                    let path = s
                        .path
                        .clone()
                        .ok_or_else(|| anyhow::anyhow!("{at}: `path` is missing"))?;
                    let max_mib = s.max_mib.unwrap_or(100);
                    if !(1..=1 << 20).contains(&max_mib) {
                        bail!("{at}: `max_mib` = {max_mib} is not in 1..=1048576");
                    }
                    SinkKind::File {
                        path,
                        max_bytes: max_mib << 20,
                        keep: s.keep.unwrap_or(5),
                    }
                }
                "webhook" => {
                    only(&[
                        "url",
                        "tries",
                        "backoff_ms",
                        "max_backoff_ms",
                        "timeout_ms",
                        "ca_file",
                    ])?;
                    let url = s
                        .url
                        .clone()
                        .ok_or_else(|| anyhow::anyhow!("{at}: `url` is missing"))?;
                    let https = url.starts_with("https://");
                    if !https && !url.starts_with("http://") {
                        bail!("{at}: `url` {url:?} is not an http:// or https:// URL");
                    }
                    if let Some(ca) = s.ca_file.as_ref().filter(|_| !https) {
                        bail!(
                            "{at}: `ca_file` {} is for an https:// `url`, and {url:?} is not one",
                            ca.display()
                        );
                    }
                    let tries = s.tries.unwrap_or(5);
                    if !(1..=100).contains(&tries) {
                        bail!("{at}: `tries` = {tries} is not in 1..=100");
                    }
                    SinkKind::Webhook {
                        url,
                        tries,
                        backoff: Duration::from_millis(s.backoff_ms.unwrap_or(500)),
                        max_backoff: Duration::from_millis(s.max_backoff_ms.unwrap_or(30_000)),
                        timeout: Duration::from_millis(s.timeout_ms.unwrap_or(10_000)),
                        ca_file: s.ca_file.clone(),
                    }
                }
                other => bail!(
                    "{}: [[sink]] #{}: kind {other:?} is not one of \"stdout\", \"file\", \"webhook\"",
                    self.file_name,
                    i + 1
                ),
            };
            let name = match &s.name {
                Some(n) => n.clone(),
                None if sinks.iter().any(|o| o.name == kind.label()) => {
                    format!("{}-{}", kind.label(), i + 1)
                }
                None => kind.label().to_owned(),
            };
            if sinks.iter().any(|o| o.name == name) {
                bail!("{at}: another sink is already named {name:?}; give it a `name`");
            }
            // names only: a tenant may be created after the start, through the API
            if let Some(tenants) = &s.tenants {
                if tenants.is_empty() {
                    bail!("{at}: sink {name:?}: `tenants` is empty; leave it out for every tenant");
                }
                for tenant in tenants {
                    check_tenant_name(tenant)
                        .with_context(|| format!("{at}: sink {name:?}: `tenants`"))?;
                }
            }
            sinks.push(SinkConfig {
                name,
                queue: s.queue.unwrap_or(crate::server::DEFAULT_SINK_QUEUE).max(1),
                tenants: s.tenants.clone(),
                kind,
            });
        }
        Ok(sinks)
    }
}

/// An optional address that parses from the environment, where empty means "none".
#[derive(Clone)]
struct OptAddr(Option<SocketAddr>);

impl std::str::FromStr for OptAddr {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            Ok(OptAddr(None))
        } else {
            s.parse().map(|a| OptAddr(Some(a)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;
    use crate::cli::ServeArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        let mut argv = vec!["yagura"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).expect("flags parse").serve
    }

    /// The config of `flags` with `env` as the environment and `file` as `--config`.
    fn resolve(flags: &[&str], env: &[(&str, &str)], file: &str) -> anyhow::Result<ServerConfig> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("yagura.toml");
        std::fs::write(&path, file).expect("write");
        let path = path.display().to_string();
        let mut argv = flags.to_vec();
        argv.extend(["--config", &path]);
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        args(&argv).config_with_env(&|name| env.get(name).cloned())
    }

    /// examples/deploy/serve.toml, the config the systemd unit of docs/operations.md runs.
    #[test]
    fn the_deployment_example_config_resolves() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/deploy/serve.toml");
        let text = std::fs::read_to_string(&path).expect("examples/deploy/serve.toml");
        let c = resolve(&[], &[], &text).expect("resolves");
        assert_eq!(c.listen, "127.0.0.1:8080".parse().expect("an address"));
        assert_eq!(c.store, PathBuf::from("/var/lib/yagura"));
        assert_eq!(c.limits.call_deadline, Duration::from_millis(100));
        assert_eq!(c.syslog.len(), 1);
        assert_eq!(c.sinks.len(), 1);
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
        let file = "listen = \"127.0.0.1:1001\"\nqueue_events = 11\nflush_ms = 111\n\
                    dedup_window_s = 1111\nallow_unsigned = true\ncheckpoint_s = 0\n";
        let env = [
            ("YAGURA_LISTEN", "127.0.0.1:2002"),
            ("YAGURA_QUEUE_EVENTS", "22"),
        ];
        let c = resolve(&["--listen", "127.0.0.1:3003"], &env, file).expect("resolves");
        assert_eq!(c.listen.port(), 3003, "the flag wins");
        assert_eq!(c.queue_events, 22, "then the environment");
        assert_eq!(c.flush_after, Duration::from_millis(111), "then the file");
        assert_eq!(c.dedup_window, Duration::from_secs(1111));
        assert!(c.allow_unsigned);
        assert_eq!(c.checkpoint_every, None, "checkpoint_s = 0 in the file");
        assert_eq!(c.max_events_bytes, 32 << 20, "then the default");
        assert_eq!(c.store, PathBuf::from(".yagura"));
        assert_eq!(c.syslog, Vec::new());

        // without a file or environment: today's defaults, as before
        let c = args(&[]).config_with_env(&|_| None).expect("resolves");
        let d = ServerConfig::default();
        assert_eq!(
            (c.listen, c.queue_events, c.sinks.len()),
            (d.listen, d.queue_events, 0)
        );
        // the file can come from YAGURA_CONFIG
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("y.toml");
        std::fs::write(&path, "max_bundle_mib = 7\n").expect("write");
        let path = path.display().to_string();
        let c = args(&[])
            .config_with_env(&|n| (n == "YAGURA_CONFIG").then(|| path.clone()))
            .expect("resolves");
        assert_eq!(c.max_bundle_bytes, 7 << 20);
    }

    #[test]
    fn sinks_come_from_the_file() {
        let file = "[[sink]]\nkind = \"stdout\"\n\n[[sink]]\nkind = \"file\"\npath = \"/tmp/a.jsonl\"\n\
                    max_mib = 2\nkeep = 3\n\n[[sink]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\n\
                    tries = 4\n\n[[sink]]\nkind = \"webhook\"\nurl = \"https://soar.example/g\"\n\
                    ca_file = \"/etc/yagura/ca.pem\"\ntenants = [\"acme\", \"globex\"]\n";
        let c = resolve(&[], &[], file).expect("resolves");
        let names: Vec<&str> = c.sinks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["stdout", "file", "webhook", "webhook-4"]);
        assert_eq!(c.sinks[0].tenants, None, "every tenant by default");
        assert_eq!(
            c.sinks[3].tenants,
            Some(vec!["acme".to_owned(), "globex".to_owned()])
        );
        assert!(matches!(
            &c.sinks[3].kind,
            SinkKind::Webhook { url, ca_file: Some(ca), .. }
                if url == "https://soar.example/g" && ca == Path::new("/etc/yagura/ca.pem")
        ));
        assert_eq!(
            c.sinks[1].kind,
            SinkKind::File {
                path: "/tmp/a.jsonl".into(),
                max_bytes: 2 << 20,
                keep: 3
            }
        );
        assert!(matches!(
            c.sinks[2].kind,
            SinkKind::Webhook { tries: 4, .. }
        ));
    }

    #[test]
    fn syslog_listeners_come_from_tables_and_the_single_listener_settings() {
        let file = "syslog_udp = \"127.0.0.1:5514\"\n\n[[syslog]]\ntenant = \"acme\"\n\
                    tcp = \"127.0.0.1:6514\"\n\n[[syslog]]\ntenant = \"globex\"\n\
                    udp = \"127.0.0.1:7514\"\ntcp = \"127.0.0.1:7514\"\n";
        let at = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
        let listener = |tenant: &str, udp, tcp| SyslogListener {
            tenant: tenant.to_owned(),
            udp,
            tcp,
        };
        let c = resolve(&["--syslog-tenant", "ops"], &[], file).expect("resolves");
        assert_eq!(
            c.syslog,
            vec![
                listener("ops", at("127.0.0.1:5514"), None),
                listener("acme", None, at("127.0.0.1:6514")),
                listener("globex", at("127.0.0.1:7514"), at("127.0.0.1:7514")),
            ]
        );
        // the shorthand alone, its tenant by default `default`
        let c = resolve(&["--syslog-tcp", "127.0.0.1:5515"], &[], "").expect("resolves");
        assert_eq!(
            c.syslog,
            vec![listener("default", None, at("127.0.0.1:5515"))]
        );
        // a tenant with no address is not a listener
        let c = resolve(&["--syslog-tenant", "ops"], &[], "").expect("resolves");
        assert_eq!(c.syslog, Vec::new());

        let e = resolve(&[], &[], "[[syslog]]\ntenant = \"acme\"\n").expect_err("no address");
        assert!(
            format!("{e:#}").contains("[[syslog]] #1 (tenant = \"acme\"): name `udp`"),
            "{e:#}"
        );
        let e = resolve(&[], &[], "[[syslog]]\nudp = \"127.0.0.1:1\"\n").expect_err("no tenant");
        assert!(format!("{e:#}").contains("tenant"), "{e:#}");
        let e = resolve(&[], &[], "[[syslog]]\ntenant = \"a\"\nport = 5\n").expect_err("key");
        assert!(format!("{e:#}").contains("port"), "{e:#}");
    }

    #[test]
    fn errors_name_the_key_the_file_and_the_line() {
        let e = resolve(&[], &[], "listen = \"127.0.0.1:1\"\nqueue_event = 5\n")
            .expect_err("unknown key");
        let text = format!("{e:#}");
        assert!(
            text.contains("yagura.toml") && text.contains("line 2"),
            "{text}"
        );
        assert!(text.contains("queue_event"), "{text}");

        let e = resolve(
            &[],
            &[],
            "[[sink]]\nkind = \"file\"\npath = \"x\"\nurl = \"http://h/\"\n",
        )
        .expect_err("a webhook key on a file sink");
        let text = format!("{e:#}");
        assert!(
            text.contains("[[sink]] #1") && text.contains("`url`"),
            "{text}"
        );

        let e = resolve(
            &[],
            &[],
            "[[sink]]\nkind = \"webhook\"\nurl = \"ftp://h/\"\n",
        )
        .expect_err("ftp");
        assert!(
            format!("{e:#}").contains("not an http:// or https:// URL"),
            "{e:#}"
        );

        let e = resolve(
            &[],
            &[],
            "[[sink]]\nkind = \"webhook\"\nurl = \"http://h/\"\nca_file = \"ca.pem\"\n",
        )
        .expect_err("a CA for plain http");
        assert!(
            format!("{e:#}").contains("`ca_file` ca.pem is for an https:// `url`"),
            "{e:#}"
        );

        let e = resolve(
            &[],
            &[],
            "[[sink]]\nkind = \"file\"\npath = \"x\"\nca_file = \"ca.pem\"\n",
        )
        .expect_err("a CA on a file sink");
        assert!(format!("{e:#}").contains("`ca_file` is not a key"), "{e:#}");

        let e = resolve(
            &[],
            &[],
            "[[sink]]\nkind = \"stdout\"\nname = \"siem\"\ntenants = [\"acme\", \"Bad Name\"]\n",
        )
        .expect_err("a bad tenant name");
        let text = format!("{e:#}");
        assert!(
            text.contains("[[sink]] #1") && text.contains("sink \"siem\": `tenants`"),
            "{text}"
        );
        assert!(text.contains("tenant name `Bad Name`"), "{text}");

        let e = resolve(&[], &[], "[[sink]]\nkind = \"stdout\"\ntenants = []\n")
            .expect_err("no tenant");
        assert!(format!("{e:#}").contains("`tenants` is empty"), "{e:#}");

        let e = resolve(&[], &[], "[[sink]]\nkind = \"kafka\"\n").expect_err("kind");
        assert!(format!("{e:#}").contains("\"kafka\""), "{e:#}");

        let e = resolve(&[], &[("YAGURA_FLUSH_MS", "5")], "").expect_err("range");
        assert!(
            format!("{e:#}").contains("YAGURA_FLUSH_MS: 5 is not in 10..=600000"),
            "{e:#}"
        );

        let e = resolve(&[], &[("YAGURA_QUEUE_EVENTS", "many")], "").expect_err("number");
        assert!(
            format!("{e:#}").contains("YAGURA_QUEUE_EVENTS=\"many\""),
            "{e:#}"
        );

        let e = resolve(&[], &[], "max_events_mib = 4096\n").expect_err("range in the file");
        assert!(format!("{e:#}").contains("`max_events_mib` in"), "{e:#}");
    }

    #[test]
    fn rule_limits_come_from_flags_environment_or_file() {
        let d = ServerConfig::default();
        let c = args(&[]).config_with_env(&|_| None).expect("resolves");
        assert_eq!(c.limits.memory_bytes, d.limits.memory_bytes);
        assert_eq!(c.limits.call_deadline, Duration::from_millis(100));
        let c = resolve(
            &["--memory-mib", "128"],
            &[("YAGURA_DEADLINE_MS", "250")],
            "memory_mib = 32\ndeadline_ms = 50\n",
        )
        .expect("resolves");
        assert_eq!(c.limits.memory_bytes, 128 << 20, "the flag");
        assert_eq!(
            c.limits.call_deadline,
            Duration::from_millis(250),
            "the environment"
        );
        assert_eq!(
            c.limits.max_findings_per_call, d.limits.max_findings_per_call,
            "the rest stays"
        );
        let e = resolve(&[], &[], "deadline_ms = 0\n").expect_err("range");
        assert!(format!("{e:#}").contains("`deadline_ms` in"), "{e:#}");
    }

    #[test]
    fn the_quarantine_policy_comes_from_flags_environment_or_file() {
        let d = ServerConfig::default();
        let c = args(&[]).config_with_env(&|_| None).expect("resolves");
        assert_eq!(
            (c.engine.quarantine_faults, c.engine.quarantine_calls),
            (d.engine.quarantine_faults, d.engine.quarantine_calls)
        );
        let c = resolve(
            &["--quarantine-faults", "0"],
            &[("YAGURA_QUARANTINE_CALLS", "50")],
            "quarantine_faults = 3\n",
        )
        .expect("resolves");
        assert_eq!(c.engine.quarantine_faults, 0, "the flag: quarantine off");
        assert_eq!(c.engine.quarantine_calls, 50, "the environment");
        assert_eq!(c.engine.batch_size, d.engine.batch_size, "the rest stays");
        let e = resolve(&[], &[], "quarantine_calls = 0\n").expect_err("range");
        assert!(format!("{e:#}").contains("`quarantine_calls` in"), "{e:#}");
    }
}
