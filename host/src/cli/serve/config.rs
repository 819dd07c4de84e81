//! `yagura serve`'s settings, each declared once ([`ServeArgs`]: its doc is its `--help`, its
//! type checks its range) and read from three places: flags, `YAGURA_*` environment variables
//! and a TOML file (`--config FILE` or `YAGURA_CONFIG`). Each setting is taken from the first
//! place that names it: flag, then environment, then file, then the default
//! ([`ServerConfig::default`]). An empty variable counts as unset there and stops the lookup:
//! the default applies.
//!
//! Every key of the file is a flag's name with `_` for `-` (`max_events_mib = 32`); an
//! unknown key is an error naming the key, the file and its line. The file also holds the
//! alert sinks (`[[sink]]`, [`SinkTable`]) and syslog listeners, one per tenant
//! (`[[syslog]]`), which have no flag; the `syslog_*` flags and keys name one more listener
//! (the shorthand for a single one).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::engine::EngineOptions;
use crate::sandbox::Limits;
use crate::server::{
    ConnectionLimits, IngestLimits, MissingTime, ServerConfig, SinkConfig, SinkTable,
    SyslogListener,
};
use crate::store::DEFAULT_TENANT;

/// A whole number in `MIN..=MAX`, checked wherever it comes from (flag, variable, file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounded<const MIN: u32, const MAX: u32>(u32);

impl<const MIN: u32, const MAX: u32> Bounded<MIN, MAX> {
    fn new(n: u32) -> Result<Self, String> {
        if (MIN..=MAX).contains(&n) {
            Ok(Bounded(n))
        } else {
            Err(format!("{n} is not in {MIN}..={MAX}"))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl<const MIN: u32, const MAX: u32> FromStr for Bounded<MIN, MAX> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let n: u32 = s
            .parse()
            .map_err(|_| format!("`{s}` is not a whole number in {MIN}..={MAX}"))?;
        Bounded::new(n)
    }
}

impl<'de, const MIN: u32, const MAX: u32> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bounded::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Declares [`ServeArgs`] from the list of settings — each one a flag (clap), a key of the
/// file (serde) and a `YAGURA_*` variable — and [`ServeArgs::over`], which layers them.
macro_rules! settings {
    ($( $(#[$attr:meta])* $name:ident : $ty:ty, )*) => {
        /// Arguments of `yagura serve`; also the keys of its config file.
        #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
        #[command(after_help = super::AFTER_HELP)]
        #[serde(deny_unknown_fields)]
        pub struct ServeArgs {
            $( $(#[$attr])* pub(crate) $name: Option<$ty>, )*

            /// A TOML file with any of these settings (keys: the flags' names with `_`, e.g.
            /// `max_events_mib = 32`), the alert sinks (`[[sink]]`) and the syslog listeners of
            /// several tenants (`[[syslog]]`; docs/operations.md). Precedence: flags, then
            /// `YAGURA_*` variables (`YAGURA_MAX_EVENTS_MIB`), then the file, then the defaults.
            #[arg(long, value_name = "FILE")]
            #[serde(skip)]
            pub(crate) config: Option<PathBuf>,

            /// the file's alert sinks
            #[arg(skip)]
            #[serde(default)]
            pub(crate) sink: Vec<SinkTable>,

            /// the file's syslog listeners, one tenant each
            #[arg(skip)]
            #[serde(default)]
            pub(crate) syslog: Vec<SyslogTable>,
        }

        impl ServeArgs {
            /// Each setting from `self` (the flags), else its `YAGURA_*` variable, else
            /// `file`; the file's tables as they are.
            fn over(
                &self,
                env: &dyn Fn(&str) -> Option<String>,
                file: ServeArgs,
            ) -> anyhow::Result<ServeArgs> {
                Ok(ServeArgs {
                    $( $name: pick(stringify!($name), &self.$name, env, file.$name)?, )*
                    config: None,
                    sink: file.sink,
                    syslog: file.syslog,
                })
            }
        }
    };
}

settings! {
    /// Address and port to listen on [default: 127.0.0.1:8080]. Loopback by default: name
    /// another address to be reachable from other machines.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// The store folder (sled database in DIR/db, compiled rules in DIR/cache) [default:
    /// .yagura].
    #[arg(long, value_name = "DIR")]
    store: PathBuf,

    /// Memory the store (sled) may use to cache its pages, MiB [default: 256]. More makes
    /// alert queries over a large store faster; RSS grows to about this much plus the
    /// engines' own.
    #[arg(long, value_name = "N")]
    store_cache_mib: Bounded<8, 1_048_576>,

    /// Largest body of POST /v1/events, MiB (also after gzip is undone) [default: 32].
    #[arg(long, value_name = "N")]
    max_events_mib: Bounded<1, 1024>,

    /// Largest pack bundle of POST /v1/packs, MiB [default: 64].
    #[arg(long, value_name = "N")]
    max_bundle_mib: Bounded<1, 256>,

    /// Events a tenant's engine queue holds; past it, ingest answers 429 with Retry-After
    /// [default: 100000].
    #[arg(long, value_name = "N")]
    queue_events: Bounded<1, { u32::MAX }>,

    /// A quiet engine evaluates the events it buffers after this many ms without new ones
    /// [default: 1000].
    #[arg(long, value_name = "N")]
    flush_ms: Bounded<10, 600_000>,

    /// Accept unsigned packs (development only).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    allow_unsigned: bool,

    /// A finding updates the alert of its rule and dedup key if that alert was last seen at
    /// most this many seconds (event time) before it; later, it opens a new alert [default:
    /// 3600].
    #[arg(long, value_name = "N")]
    dedup_window_s: Bounded<1, { u32::MAX }>,

    /// Listen for syslog (RFC 5424 / 3164, one message per datagram or line) on this UDP
    /// address. Unauthenticated: everything received goes to --syslog-tenant. More
    /// listeners, one per tenant: `[[syslog]]` tables in the config file.
    #[arg(long, value_name = "ADDR:PORT")]
    syslog_udp: SocketAddr,

    /// Listen for syslog on this TCP address, octet-counted (RFC 6587) or newline-delimited
    /// (unauthenticated).
    #[arg(long, value_name = "ADDR:PORT")]
    syslog_tcp: SocketAddr,

    /// The tenant whose engine --syslog-udp and --syslog-tcp feed [default: default].
    #[arg(long, value_name = "TENANT")]
    syslog_tenant: String,

    /// What --syslog-udp and --syslog-tcp do with a message without a time (RFC 5424's `-`):
    /// `receipt` gives it the time it was received (marked `syslog.time = received`),
    /// `reject` rejects it [default: receipt]. `[[syslog]]` tables: `missing_time`.
    #[arg(long, value_name = "receipt|reject")]
    syslog_missing_time: MissingTime,

    /// Linear memory each rule instance may use, MiB; past it the call traps and counts as a
    /// fault [default: 64]. JavaScript rules under sustained load want 128
    /// (docs/writing-rules-js.md).
    #[arg(long, value_name = "N")]
    memory_mib: Bounded<1, 4096>,

    /// Budget of one call into a rule, in ms of the CPU time of the thread that runs it (time
    /// spent waiting for a core does not count); a call past it is interrupted and counts as
    /// a fault [default: 100].
    #[arg(long, value_name = "N")]
    deadline_ms: Bounded<1, 60_000>,

    /// Quarantine a rule whose calls faulted N times within its last --quarantine-calls calls:
    /// it is not called again until re-enabled (POST /v1/rules/{id}/enable); 0 turns
    /// quarantine off [default: 5].
    #[arg(long, value_name = "N")]
    quarantine_faults: Bounded<0, 10_000>,

    /// The window of a rule's most recent calls over which its faults are counted [default:
    /// 20].
    #[arg(long, value_name = "N")]
    quarantine_calls: Bounded<1, 10_000>,

    /// Save each tenant's rule state and engine position every N seconds of wall time, and
    /// at shutdown; 0: only at shutdown (a crash then replays the whole WAL) [default: 10].
    #[arg(long, value_name = "N")]
    checkpoint_s: Bounded<0, 86_400>,

    /// A request's headers must arrive within N seconds, and so must the next request's on a
    /// kept-alive connection; else the connection is closed [default: 10].
    #[arg(long, value_name = "N")]
    header_timeout_s: Bounded<1, 3_600>,

    /// A request's whole body must arrive within N seconds; else it is answered 408
    /// [default: 60].
    #[arg(long, value_name = "N")]
    body_timeout_s: Bounded<1, 3_600>,

    /// Open connections to the API at most; one more is closed at once (counted in
    /// yagura_http_connections_refused_total). Lowered to fit the open-file limit
    /// [default: 1024].
    #[arg(long, value_name = "N")]
    max_connections: Bounded<1, 1_000_000>,

    /// POST /v1/events requests of one tenant in flight at most; one more is answered 429
    /// before its body is read [default: 8].
    #[arg(long, value_name = "N")]
    ingest_in_flight: Bounded<1, 10_000>,

    /// Request bodies of POST /v1/events decoded (gunzip, parse) at once over all tenants;
    /// the others wait their turn holding only their raw body [default: the number of
    /// cores].
    #[arg(long, value_name = "N")]
    ingest_decoders: Bounded<1, 1_024>,

    /// The OCI registries follows may use (POST /v1/follows), comma-separated HOST[:PORT]
    /// as in oci://HOST[:PORT]/REPO [default: none, so no follow can be created]. The
    /// follows connect only to these, whatever a tenant asks for; every tenant's follows read
    /// them with the server's credentials (docs/distribution.md). In the file, a string or an
    /// array.
    #[arg(long, value_name = "HOST[:PORT],…")]
    follow_registries: Hosts,

    /// CA certificates (PEM) the follows trust for their registries, besides the public
    /// roots: a registry with a certificate of a private CA.
    #[arg(long, value_name = "PEM")]
    registry_ca: PathBuf,
}

/// Registry hosts (`HOST[:PORT]`), from a comma-separated list or a TOML array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hosts(Vec<String>);

impl FromStr for Hosts {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for host in s.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            // the host part of a reference: the grammar oci:// references are checked with
            crate::pack::oci::PackRef::parse(&format!("oci://{host}/r"))
                .ok()
                .filter(|r| r.registry == host)
                .ok_or_else(|| {
                    format!("`{host}` is not a registry HOST[:PORT] (as in oci://HOST[:PORT]/REPO)")
                })?;
            out.push(host.to_owned());
        }
        Ok(Hosts(out))
    }
}

impl<'de> Deserialize<'de> for Hosts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            List(Vec<String>),
        }
        let text = match Form::deserialize(d)? {
            Form::Text(s) => s,
            Form::List(l) => l.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One `[[syslog]]` table: a listener feeding `tenant`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyslogTable {
    tenant: String,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    /// `receipt` (the default) or `reject`
    #[serde(default)]
    missing_time: MissingTime,
}

/// The flag's value, else `YAGURA_<KEY>` parsed (empty: unset, and the file is not asked),
/// else the file's.
fn pick<T: FromStr + Clone>(
    key: &str,
    flag: &Option<T>,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<T>,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    if flag.is_some() {
        return Ok(flag.clone());
    }
    let var = format!("YAGURA_{}", key.to_uppercase());
    match env(&var) {
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => text
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{var}={text:?}: {e}")),
        None => Ok(file),
    }
}

impl ServeArgs {
    /// The server's config from these flags, the process's `YAGURA_*` variables and the
    /// config file (`--config`, else `YAGURA_CONFIG`), in that precedence.
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        self.config_with_env(&|name| std::env::var(name).ok())
    }

    /// [`ServeArgs::config`] with `env` for the environment.
    pub(crate) fn config_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ServerConfig> {
        let path = self
            .config
            .clone()
            .or_else(|| env("YAGURA_CONFIG").map(PathBuf::from));
        let (file, file_name) = match &path {
            Some(p) => (read(p)?, p.display().to_string()),
            None => (ServeArgs::default(), "no config file".to_owned()),
        };
        self.over(env, file)?.resolve(&file_name)
    }

    /// The server's config of these (layered) settings: the defaults where none is given.
    fn resolve(&self, file_name: &str) -> anyhow::Result<ServerConfig> {
        let d = ServerConfig::default();
        let mib = |n: u32| (n as usize) << 20;
        let ms = |n: u32| Duration::from_millis(n.into());
        Ok(ServerConfig {
            listen: self.listen.unwrap_or(d.listen),
            store: self.store.clone().unwrap_or(d.store),
            store_cache_bytes: self
                .store_cache_mib
                .map_or(d.store_cache_bytes, |n| u64::from(n.get()) << 20),
            max_events_bytes: self
                .max_events_mib
                .map_or(d.max_events_bytes, |n| mib(n.get())),
            max_bundle_bytes: self
                .max_bundle_mib
                .map_or(d.max_bundle_bytes, |n| mib(n.get())),
            queue_events: self
                .queue_events
                .map_or(d.queue_events, |n| n.get() as usize),
            flush_after: self.flush_ms.map_or(d.flush_after, |n| ms(n.get())),
            allow_unsigned: self.allow_unsigned.unwrap_or(d.allow_unsigned),
            dedup_window: self
                .dedup_window_s
                .map_or(d.dedup_window, |n| Duration::from_secs(n.get().into())),
            limits: Limits {
                memory_bytes: self
                    .memory_mib
                    .map_or(d.limits.memory_bytes, |n| mib(n.get())),
                call_deadline: self
                    .deadline_ms
                    .map_or(d.limits.call_deadline, |n| ms(n.get())),
                ..d.limits
            },
            engine: EngineOptions {
                quarantine_faults: self
                    .quarantine_faults
                    .map_or(d.engine.quarantine_faults, Bounded::get),
                quarantine_calls: self
                    .quarantine_calls
                    .map_or(d.engine.quarantine_calls, Bounded::get),
                ..d.engine
            },
            checkpoint_every: match self.checkpoint_s {
                Some(s) => (s.get() > 0).then(|| Duration::from_secs(s.get().into())),
                None => d.checkpoint_every,
            },
            connections: ConnectionLimits {
                header_timeout: self
                    .header_timeout_s
                    .map_or(d.connections.header_timeout, |n| {
                        Duration::from_secs(n.get().into())
                    }),
                body_timeout: self.body_timeout_s.map_or(d.connections.body_timeout, |n| {
                    Duration::from_secs(n.get().into())
                }),
                max_connections: self
                    .max_connections
                    .map_or(d.connections.max_connections, |n| n.get() as usize),
            },
            ingest: IngestLimits {
                per_tenant: self
                    .ingest_in_flight
                    .map_or(d.ingest.per_tenant, |n| n.get() as usize),
                decoders: self
                    .ingest_decoders
                    .map_or(d.ingest.decoders, |n| n.get() as usize),
            },
            syslog: self.syslog_listeners(file_name)?,
            sinks: self.sinks(file_name)?,
            follow_registries: self
                .follow_registries
                .clone()
                .map_or(d.follow_registries, |h| h.0),
            registry_ca: self.registry_ca.clone().or(d.registry_ca),
            ..d
        })
    }

    /// The listener of the `syslog_*` settings (if `udp` or `tcp` is named), then one per
    /// `[[syslog]]` table.
    fn syslog_listeners(&self, file_name: &str) -> anyhow::Result<Vec<SyslogListener>> {
        let mut listeners = Vec::new();
        if self.syslog_udp.is_some() || self.syslog_tcp.is_some() {
            listeners.push(SyslogListener {
                tenant: self
                    .syslog_tenant
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TENANT.to_owned()),
                udp: self.syslog_udp,
                tcp: self.syslog_tcp,
                missing_time: self.syslog_missing_time.unwrap_or_default(),
            });
        }
        for (i, l) in self.syslog.iter().enumerate() {
            if l.udp.is_none() && l.tcp.is_none() {
                bail!(
                    "{file_name}: [[syslog]] #{} (tenant = {:?}): name `udp`, `tcp` or both",
                    i + 1,
                    l.tenant
                );
            }
            listeners.push(SyslogListener {
                tenant: l.tenant.clone(),
                udp: l.udp,
                tcp: l.tcp,
                missing_time: l.missing_time,
            });
        }
        Ok(listeners)
    }

    fn sinks(&self, file_name: &str) -> anyhow::Result<Vec<SinkConfig>> {
        let mut sinks: Vec<SinkConfig> = Vec::new();
        for (i, table) in self.sink.iter().enumerate() {
            let at = format!("{file_name}: [[sink]] #{}", i + 1);
            let sink = table.resolve(&at, i, &sinks)?;
            sinks.push(sink);
        }
        Ok(sinks)
    }
}

/// Reads and checks the config file at `path`.
fn read(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    // toml's message names the key and its line and column
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;
    use crate::server::SinkKind;

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
                    udp = \"127.0.0.1:7514\"\ntcp = \"127.0.0.1:7514\"\n\
                    missing_time = \"reject\"\n";
        let at = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
        let listener = |tenant: &str, udp, tcp| SyslogListener {
            tenant: tenant.to_owned(),
            udp,
            tcp,
            missing_time: MissingTime::Receipt,
        };
        let rejecting = |l: SyslogListener| SyslogListener {
            missing_time: MissingTime::Reject,
            ..l
        };
        let c = resolve(&["--syslog-tenant", "ops"], &[], file).expect("resolves");
        assert_eq!(
            c.syslog,
            vec![
                listener("ops", at("127.0.0.1:5514"), None),
                listener("acme", None, at("127.0.0.1:6514")),
                rejecting(listener(
                    "globex",
                    at("127.0.0.1:7514"),
                    at("127.0.0.1:7514")
                )),
            ]
        );
        let c = resolve(&["--syslog-missing-time", "reject"], &[], file).expect("resolves");
        assert_eq!(c.syslog[0].missing_time, MissingTime::Reject);
        assert_eq!(c.syslog[1].missing_time, MissingTime::Receipt);
        let e = resolve(&[], &[("YAGURA_SYSLOG_MISSING_TIME", "never")], "").expect_err("bad");
        assert!(
            format!("{e:#}").contains("use `receipt` or `reject`"),
            "{e:#}"
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
            text.contains("yagura.toml") && text.contains("line 1") && text.contains("`url`"),
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
        assert!(
            format!("{e:#}").contains("unknown field `ca_file`"),
            "{e:#}"
        );

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
        let text = format!("{e:#}");
        assert!(
            text.contains("line 2") && text.contains("unknown variant `kafka`"),
            "{text}"
        );

        let e = resolve(&[], &[("YAGURA_FLUSH_MS", "5")], "").expect_err("range");
        assert!(
            format!("{e:#}").contains("YAGURA_FLUSH_MS=\"5\": 5 is not in 10..=600000"),
            "{e:#}"
        );

        let e = resolve(&[], &[("YAGURA_QUEUE_EVENTS", "many")], "").expect_err("number");
        assert!(
            format!("{e:#}").contains("YAGURA_QUEUE_EVENTS=\"many\""),
            "{e:#}"
        );

        let e = resolve(&[], &[], "max_events_mib = 4096\n").expect_err("range in the file");
        let text = format!("{e:#}");
        assert!(
            text.contains("line 1") && text.contains("max_events_mib = 4096"),
            "{text}"
        );
        assert!(text.contains("4096 is not in 1..=1024"), "{text}");

        // a flag's range is checked by clap, with the same words
        let mut argv = vec!["yagura", "--flush-ms", "5"];
        let e = Cli::try_parse_from(argv.drain(..))
            .err()
            .expect("out of range");
        assert!(e.to_string().contains("5 is not in 10..=600000"), "{e}");
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
        let text = format!("{e:#}");
        assert!(
            text.contains("deadline_ms = 0") && text.contains("0 is not in 1..=60000"),
            "{text}"
        );
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
        let text = format!("{e:#}");
        assert!(
            text.contains("quarantine_calls = 0") && text.contains("0 is not in 1..=10000"),
            "{text}"
        );
    }

    #[test]
    fn follow_registries_are_hosts_from_a_list_or_an_array_and_none_by_default() {
        assert!(
            resolve(&[], &[], "")
                .expect("resolves")
                .follow_registries
                .is_empty()
        );
        let c = resolve(&["--follow-registries", "ghcr.io, localhost:5000"], &[], "")
            .expect("resolves");
        assert_eq!(c.follow_registries, ["ghcr.io", "localhost:5000"]);
        let c = resolve(
            &[],
            &[],
            "follow_registries = [\"registry.example.com:443\"]\n",
        )
        .expect("resolves");
        assert_eq!(c.follow_registries, ["registry.example.com:443"]);
        let e = resolve(&[], &[("YAGURA_FOLLOW_REGISTRIES", "https://ghcr.io")], "")
            .expect_err("a URL is no host")
            .to_string();
        assert!(
            e.contains("https://ghcr.io") && e.contains("HOST[:PORT]"),
            "{e}"
        );
    }

    #[test]
    fn allow_unsigned_is_a_switch_and_an_empty_variable_means_unset() {
        let c = resolve(&["--allow-unsigned"], &[], "").expect("resolves");
        assert!(c.allow_unsigned, "the flag takes no value");
        let c = resolve(&[], &[("YAGURA_ALLOW_UNSIGNED", "true")], "").expect("resolves");
        assert!(c.allow_unsigned, "the variable");
        let c = resolve(&[], &[], "allow_unsigned = true\n").expect("resolves");
        assert!(c.allow_unsigned, "the file");
        assert!(!resolve(&[], &[], "").expect("resolves").allow_unsigned);
        // an empty variable stops the lookup: the file's value is not used, the default is
        let c = resolve(&[], &[("YAGURA_FLUSH_MS", " ")], "flush_ms = 50\n").expect("resolves");
        assert_eq!(c.flush_after, ServerConfig::default().flush_after);
        let c = resolve(
            &[],
            &[("YAGURA_SYSLOG_UDP", "")],
            "syslog_udp = \"127.0.0.1:5514\"\n",
        )
        .expect("resolves");
        assert_eq!(c.syslog, Vec::new());
        // the checkpoint interval, like every setting: 0 is only at shutdown
        let c =
            resolve(&[], &[("YAGURA_CHECKPOINT_S", "0")], "checkpoint_s = 5\n").expect("resolves");
        assert_eq!(c.checkpoint_every, None);
        let c = resolve(
            &["--checkpoint-s", "7"],
            &[("YAGURA_CHECKPOINT_S", "0")],
            "",
        )
        .expect("resolves");
        assert_eq!(c.checkpoint_every, Some(Duration::from_secs(7)));
    }
}
