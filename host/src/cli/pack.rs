//! `yagura key …` and `yagura pack …`: publisher keys and pack bundles (docs/packs.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::api::{ServerArgs, block_on};
use super::follow::{FollowArgs, FollowsArgs};
use super::shadow::{ShadowCommand, run_shadow};
use crate::pack::oci::{PackRef, RegistryOptions};
use crate::pack::{Bundle, PublicKey, RuleCases, SecretKey, SignatureStatus, Trust, sign};
use crate::runtime::{Runtime, RuntimeError, RuntimeOptions};
use crate::sandbox::Sandbox;
use crate::store::{DEFAULT_TENANT, Imported, PackSource, Store};

/// Where the store is.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store folder (sled database in DIR/db, compiled artifacts in DIR/cache)
    #[arg(long, value_name = "DIR", default_value = ".yagura")]
    pub store: PathBuf,
}

impl StoreArgs {
    pub fn open(&self) -> anyhow::Result<Store> {
        Store::open(&self.store)
    }
}

/// Who did it and why, for the activation history.
#[derive(Debug, Clone, Args)]
pub struct ActorArgs {
    /// Who is acting (default: $USER)
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Why, for the history
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
    /// The tenant whose active version changes
    #[arg(long, value_name = "TENANT", default_value = DEFAULT_TENANT)]
    pub tenant: String,
}

impl ActorArgs {
    fn who(&self) -> String {
        self.by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a publisher key pair: NAME.key (secret, mode 0600) and NAME.pub (give this
    /// one to the hosts that will trust your packs). Refuses to overwrite.
    Generate {
        /// Path and base name of the key files
        #[arg(value_name = "NAME")]
        name: PathBuf,
    },
    /// Trust a publisher key in a store: imports and activations accept packs it signed.
    Trust {
        #[arg(value_name = "PUB")]
        key: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Stop trusting a key (by id, as `key list` shows it).
    Untrust {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the keys a store trusts.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PackCommand {
    /// Build a bundle from a source manifest: the components, the cases and their events,
    /// with every digest in the bundled manifest. Deterministic: the same inputs give the
    /// same bytes. With --key, signed too.
    Build {
        /// The source manifest
        #[arg(value_name = "MANIFEST", default_value = "rules/pack.toml")]
        manifest: PathBuf,
        /// The bundle to write (`NAME-VERSION.ypack` in the current folder by default)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Sign with this secret key
        #[arg(long, value_name = "KEY")]
        key: Option<PathBuf>,
        /// Do not run the pack's cases before writing it
        #[arg(long)]
        no_test: bool,
    },
    /// Sign a bundle (replacing any signature).
    Sign {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// The publisher's secret key
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Where to write the signed bundle (default: in place)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify a bundle: its digests, its signature against the trusted keys and its
    /// requirements against this host. Exit code 0: the pack would be accepted.
    Verify {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Show a bundle's manifest, rules, digests and signer (without trusting it).
    Inspect {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
    },
    /// Run a pack's cases in the sandbox: a bundle, or a source manifest (built in memory).
    Test {
        #[arg(value_name = "BUNDLE|MANIFEST")]
        pack: PathBuf,
    },
    /// Import a bundle into the store: digests, signature (keys trusted by the store or
    /// --trust), requirements and the pack's cases are checked first; a stored version is
    /// immutable.
    Import {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        #[command(flatten)]
        into: ImportArgs,
    },
    /// Push a bundle to an OCI registry (docs/distribution.md). The tag is the pack's version
    /// unless the reference names one; a version tag that holds other content is refused.
    Push {
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// oci://HOST[:PORT]/REPO[:TAG]
        #[arg(value_name = "REFERENCE")]
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Pull a pack from an OCI registry and import it, checked as `pack import` checks a
    /// file; the store keeps the manifest digest it came as. Without a tag or digest: the
    /// highest version tag.
    Pull {
        /// oci://HOST[:PORT]/REPO[:TAG] or oci://HOST[:PORT]/REPO@sha256:DIGEST
        #[arg(value_name = "REFERENCE")]
        reference: String,
        /// Also write the bundle to this file
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        into: ImportArgs,
    },
    /// List the versions an OCI repository holds (its semver tags), lowest first.
    Versions {
        /// oci://HOST[:PORT]/REPO
        #[arg(value_name = "REFERENCE")]
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Have a running server follow an OCI repository: it checks it every interval, pulls the
    /// highest version matching --req and activates it after the checks of an import and an
    /// activation; a refused version is not tried again until its tag changes. Talks to
    /// `yagura serve`'s API (docs/distribution.md).
    Follow(FollowArgs),
    /// List the server's follows for the tenant: last check, activations, refusals, registry
    /// errors, health gate.
    Follows(FollowsArgs),
    /// Stop a follow (what runs stays as it is).
    Unfollow {
        /// The follow's id, as `follows` lists it
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the stored packs, their versions and which tenants run which.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make a stored version active: an exact version (1.2.0) or a requirement (^1.2 → the
    /// highest stored match). The signature (against the keys the store trusts now, and
    /// --trust) and the cases are checked again first.
    Activate {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "VERSION|REQ")]
        version: String,
        #[command(flatten)]
        actor: ActorArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Return to the version that was active before the current one.
    Rollback {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        actor: ActorArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show a pack's activation history for a tenant.
    History {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(long, value_name = "TENANT", default_value = DEFAULT_TENANT)]
        tenant: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Try a version on a running server's live events beside the active one, read the
    /// difference, then promote or discard it (docs/shadow.md). Talks to `yagura serve`'s API.
    #[command(subcommand)]
    Shadow(ShadowCommand),
    /// Remove a stored version (refused while a tenant has it active).
    Remove {
        /// NAME@VERSION
        #[arg(value_name = "NAME@VERSION")]
        pack: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where an import goes, what it trusts, and who does it.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who imports (default: $USER)
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// How to reach an OCI registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Plain HTTP to a registry that is not on this machine (one on loopback is always
    /// reached over plain HTTP)
    #[arg(long)]
    pub insecure: bool,
    /// Trust these CA certificates (PEM) for the registry, besides the public roots
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// The registry user; its password is $YAGURA_REGISTRY_PASSWORD or --password-stdin.
    /// Without it: Docker's config.json (and its credential helpers), else anonymous
    #[arg(long, value_name = "USER", env = "YAGURA_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Read the registry password from standard input (one line)
    #[arg(long)]
    pub password_stdin: bool,
}

impl RegistryArgs {
    pub fn options(&self) -> anyhow::Result<RegistryOptions> {
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the registry password from standard input")?;
            Some(line.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            std::env::var("YAGURA_REGISTRY_PASSWORD").ok()
        };
        Ok(RegistryOptions {
            insecure: self.insecure,
            ca: self.ca.clone(),
            username: self.username.clone(),
            password,
        })
    }
}

/// The keys a command trusts.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// A trusted publisher key (NAME.pub). Repeatable
    #[arg(long, value_name = "PUB")]
    pub trust: Vec<PathBuf>,
    /// Accept unsigned packs (development only)
    #[arg(long)]
    pub allow_unsigned: bool,
}

impl TrustArgs {
    pub fn load(&self) -> anyhow::Result<Trust> {
        Ok(Trust {
            keys: self
                .trust
                .iter()
                .map(|p| PublicKey::load(p))
                .collect::<anyhow::Result<_>>()?,
            allow_unsigned: self.allow_unsigned,
        })
    }
}

pub fn run_key(command: &KeyCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate { name } => {
            let (secret, public, key) = sign::generate_files(name)?;
            writeln!(
                out,
                "key {}: secret {} (keep it private), public {} (give it to the hosts that trust you)",
                key.id(),
                secret.display(),
                public.display()
            )?;
            Ok(())
        }
        KeyCommand::Trust { key, store } => {
            let key = PublicKey::load(key)?;
            store.open()?.trust_key(&key)?;
            writeln!(
                out,
                "the store {} trusts key {}",
                store.store.display(),
                key.id()
            )?;
            Ok(())
        }
        KeyCommand::Untrust { id, store } => {
            if !store.open()?.untrust_key(id)? {
                bail!(
                    "the store {} does not trust a key {id}",
                    store.store.display()
                );
            }
            writeln!(
                out,
                "the store {} no longer trusts key {id}",
                store.store.display()
            )?;
            Ok(())
        }
        KeyCommand::List { store } => {
            for key in store.open()?.trusted_keys()? {
                writeln!(out, "{}  {}", key.id(), key.to_hex())?;
            }
            Ok(())
        }
    }
}

fn read_bundle(path: &Path) -> anyhow::Result<Bundle> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Bundle::from_bytes(&bytes, &path.display().to_string())
}

fn write_bundle(bundle: &Bundle, path: &Path) -> anyhow::Result<()> {
    let bytes = bundle.to_bytes()?;
    // write beside, then rename: a reader never sees half a bundle
    let tmp = path.with_extension("ypack.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs a `pack` subcommand. `Ok(false)`: it ran and the answer is no (failed cases).
pub(crate) fn run_pack(command: &PackCommand, out: &mut dyn Write) -> anyhow::Result<bool> {
    match command {
        PackCommand::Build {
            manifest,
            out: target,
            key,
            no_test,
        } => {
            let mut bundle = Bundle::build(manifest)?;
            let origin = manifest.display().to_string();
            bundle.check_requirements(&origin)?;
            let sandbox = Sandbox::builder().build()?;
            if *no_test {
                crate::pack::load_components(&bundle, &sandbox, &origin)?;
            } else if !report_cases(&bundle, &sandbox, &origin, false, out)? {
                bail!("{origin}: the pack's cases failed; not writing the bundle");
            }
            if let Some(key) = key {
                bundle.sign(&SecretKey::load(key)?);
            }
            let target = target.clone().unwrap_or_else(|| {
                PathBuf::from(format!(
                    "{}-{}.ypack",
                    bundle.manifest.pack.name, bundle.manifest.pack.version
                ))
            });
            write_bundle(&bundle, &target)?;
            writeln!(
                out,
                "built {} → {} ({} rule{}, {})",
                bundle.manifest.label(),
                target.display(),
                bundle.manifest.rules.len(),
                if bundle.manifest.rules.len() == 1 {
                    ""
                } else {
                    "s"
                },
                if bundle.signature.is_some() {
                    "signed"
                } else {
                    "unsigned"
                }
            )?;
            Ok(true)
        }
        PackCommand::Sign {
            bundle: path,
            key,
            out: target,
        } => {
            let mut bundle = read_bundle(path)?;
            let key = SecretKey::load(key)?;
            bundle.sign(&key);
            let target = target.as_deref().unwrap_or(path);
            write_bundle(&bundle, target)?;
            writeln!(
                out,
                "signed {} with key {} → {}",
                bundle.manifest.label(),
                key.public().id(),
                target.display()
            )?;
            Ok(true)
        }
        PackCommand::Verify {
            bundle: path,
            trust,
        } => {
            let origin = path.display().to_string();
            let bundle = read_bundle(path)?;
            let status = bundle.verify(&trust.load()?, &origin)?;
            bundle.check_requirements(&origin)?;
            let how = match status {
                SignatureStatus::Trusted(id) => format!("signed by trusted key {id}"),
                SignatureStatus::UnsignedAllowed => "UNSIGNED (allowed by --allow-unsigned)".into(),
            };
            writeln!(
                out,
                "{origin}: {} verified: digests match, {how}, requirements met",
                bundle.manifest.label()
            )?;
            Ok(true)
        }
        PackCommand::Inspect { bundle: path } => {
            let bundle = read_bundle(path)?;
            let m = &bundle.manifest;
            writeln!(out, "{}", m.label())?;
            writeln!(out, "  publisher    {}", m.pack.publisher)?;
            writeln!(out, "  description  {}", m.pack.description)?;
            writeln!(out, "  license      {}", m.pack.license)?;
            writeln!(
                out,
                "  requires     wit {}, host {}",
                m.requires.wit, m.requires.host
            )?;
            match &bundle.signature {
                Some(s) => {
                    let id = PublicKey::from_hex(&s.key).map_or_else(|_| "?".into(), |k| k.id());
                    writeln!(
                        out,
                        "  signature    key {id} (not checked; `pack verify` checks it)"
                    )?;
                }
                None => writeln!(out, "  signature    none")?,
            }
            writeln!(out, "  rules")?;
            for r in &m.rules {
                writeln!(
                    out,
                    "    {:<22} {}  sha256 {}{}",
                    r.id,
                    if r.enabled { "enabled " } else { "disabled" },
                    r.sha256.as_deref().unwrap_or("?"),
                    r.cases
                        .as_ref()
                        .map(|c| format!("  cases {c}"))
                        .unwrap_or_default()
                )?;
                for (k, v) in &r.config {
                    writeln!(out, "      {k} = {v}")?;
                }
            }
            writeln!(out, "  files")?;
            for f in &m.files {
                writeln!(out, "    {}  sha256 {}", f.path, f.sha256)?;
            }
            Ok(true)
        }
        PackCommand::Import { bundle: path, into } => {
            let origin = path.display().to_string();
            let bundle = read_bundle(path)?;
            import(into, &bundle, &origin, None, out)
        }
        PackCommand::Push {
            bundle: path,
            reference,
            registry,
        } => {
            let target = PackRef::parse(reference)?;
            if target.digest.is_some() {
                bail!(
                    "{target}: a push names a tag, not a digest (the digest comes from the content)"
                );
            }
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let bundle = Bundle::from_bytes(&bytes, &path.display().to_string())?;
            let tag = target
                .tag
                .clone()
                .unwrap_or_else(|| bundle.manifest.pack.version.to_string());
            let client = registry.options()?.connect(&target)?;
            let pushed = block_on(client.push(&bundle, &bytes, &tag))?;
            writeln!(
                out,
                "{} {} → {} ({}, {})",
                if pushed.unchanged {
                    "already there:"
                } else {
                    "pushed"
                },
                bundle.manifest.label(),
                pushed.reference,
                pushed.digest,
                if bundle.signature.is_some() {
                    "signed"
                } else {
                    "UNSIGNED: hosts refuse it unless they allow unsigned packs"
                }
            )?;
            Ok(true)
        }
        PackCommand::Pull {
            reference,
            out: file,
            registry,
            into,
        } => {
            let asked = PackRef::parse(reference)?;
            let client = registry.options()?.connect(&asked)?;
            let pulled = block_on(async {
                let at = if asked.tag.is_some() || asked.digest.is_some() {
                    asked.clone()
                } else {
                    let versions = client.versions().await?;
                    let highest = versions
                        .last()
                        .with_context(|| format!("{asked}: the repository has no version tags"))?;
                    asked.at_tag(&highest.to_string())
                };
                client.pull(&at).await
            })?;
            let origin = pulled.reference.to_string();
            let bundle = Bundle::from_bytes(&pulled.bytes, &origin)?;
            if let Some(file) = file {
                std::fs::write(file, &pulled.bytes)
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
            let source = PackSource {
                repository: asked.repository_url(),
                digest: pulled.digest.clone(),
            };
            writeln!(out, "pulled {origin} ({})", pulled.digest)?;
            import(into, &bundle, &origin, Some(source), out)
        }
        PackCommand::Versions {
            reference,
            registry,
        } => {
            let repo = PackRef::parse(reference)?;
            if repo.tag.is_some() || repo.digest.is_some() {
                bail!("{repo}: name the repository only (oci://HOST/REPO)");
            }
            let client = registry.options()?.connect(&repo)?;
            let versions = block_on(client.versions())?;
            if versions.is_empty() {
                eprintln!("{}: no version tags", repo.repository_url());
            }
            for version in versions {
                writeln!(out, "{version}")?;
            }
            Ok(true)
        }
        PackCommand::List { store } => {
            let store = store.open()?;
            let active = store.all_active()?;
            let records = store.records()?;
            if records.is_empty() {
                writeln!(out, "no packs in {}", store.dir().display())?;
            }
            for r in records {
                let tenants: Vec<&str> = active
                    .iter()
                    .filter(|(_, n, v)| *n == r.name && *v == r.version)
                    .map(|(t, _, _)| t.as_str())
                    .collect();
                writeln!(
                    out,
                    "{}@{}  signer {}  imported by {} at {}{}{}",
                    r.name,
                    r.version,
                    r.signer.as_deref().unwrap_or("none (unsigned)"),
                    r.imported_by,
                    crate::event::format_rfc3339_ms(r.imported_at),
                    r.source
                        .as_ref()
                        .map(|s| format!("  from {}@{}", s.repository, s.digest))
                        .unwrap_or_default(),
                    if tenants.is_empty() {
                        String::new()
                    } else {
                        format!("  ACTIVE for {}", tenants.join(", "))
                    }
                )?;
            }
            Ok(true)
        }
        PackCommand::Activate {
            name,
            version,
            actor,
            store,
            trust,
        } => {
            let runtime = offline(store, trust.load()?)?;
            let version = runtime.store().resolve(name, version)?;
            let origin = format!("{name}@{version}");
            if runtime.store().active(&actor.tenant, name)?.as_deref() == Some(version.as_str()) {
                writeln!(
                    out,
                    "{origin} is already active for tenant `{}`",
                    actor.tenant
                )?;
                return Ok(true);
            }
            let done = match runtime.activate(
                &actor.tenant,
                name,
                &version,
                &actor.who(),
                &actor.reason,
            ) {
                Ok(done) => done,
                Err(RuntimeError::CasesFailed { results, .. }) => {
                    print_cases(&results, &origin, false, out)?;
                    bail!("{origin}: the pack's cases failed; the active version is unchanged");
                }
                Err(e) => return Err(e.into()),
            };
            print_cases(&done.cases, &origin, false, out)?;
            writeln!(
                out,
                "{origin} is active for tenant `{}` (was: {})",
                actor.tenant,
                done.previous.as_deref().unwrap_or("none")
            )?;
            Ok(true)
        }
        PackCommand::Follow(args) => {
            super::follow::follow(args, out)?;
            Ok(true)
        }
        PackCommand::Follows(args) => {
            super::follow::follows(args, out)?;
            Ok(true)
        }
        PackCommand::Unfollow { id, server } => {
            super::follow::unfollow(id, server, out)?;
            Ok(true)
        }
        PackCommand::Shadow(command) => {
            run_shadow(command, out)?;
            Ok(true)
        }
        PackCommand::Rollback { name, actor, store } => {
            let runtime = offline(store, Trust::default())?;
            let done = runtime.rollback(&actor.tenant, name, &actor.who(), &actor.reason)?;
            writeln!(
                out,
                "{name}: rolled back from {} to {} for tenant `{}`",
                done.from, done.to, actor.tenant
            )?;
            Ok(true)
        }
        PackCommand::History {
            name,
            tenant,
            store,
        } => {
            let store = store.open()?;
            for e in store.history(tenant, name)? {
                writeln!(
                    out,
                    "{}  {:<8} {} → {}{}  by {}{}",
                    crate::event::format_rfc3339_ms(e.at),
                    e.action,
                    e.from.as_deref().unwrap_or("none"),
                    e.to,
                    e.digest
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default(),
                    e.who,
                    if e.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", e.reason)
                    }
                )?;
            }
            Ok(true)
        }
        PackCommand::Remove { pack, store } => {
            let (name, version) = pack
                .split_once('@')
                .with_context(|| format!("`{pack}`: expected NAME@VERSION"))?;
            let store = store.open()?;
            store.remove(name, version)?;
            writeln!(
                out,
                "removed {name}@{version} from {}",
                store.dir().display()
            )?;
            Ok(true)
        }
        PackCommand::Test { pack } => {
            let origin = pack.display().to_string();
            let bundle = if pack.extension().is_some_and(|e| e == "toml") {
                Bundle::build(pack)?
            } else {
                read_bundle(pack)?
            };
            let sandbox = Sandbox::builder().build()?;
            report_cases(&bundle, &sandbox, &origin, true, out)
        }
    }
}

/// Imports a bundle through the store's runtime's checks and says what happened.
fn import(
    into: &ImportArgs,
    bundle: &Bundle,
    origin: &str,
    source: Option<PackSource>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let runtime = offline(&into.store, into.trust.load()?)?;
    let label = bundle.manifest.label();
    let who = into
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let import = match runtime.import(bundle, origin, None, &who, source) {
        Ok(import) => import,
        Err(RuntimeError::CasesFailed { results, .. }) => {
            print_cases(&results, &label, false, out)?;
            bail!("{origin}: the pack's cases failed; not importing it");
        }
        Err(e) => return Err(e.into()),
    };
    match import.stored {
        Imported::New => {
            print_cases(&import.cases, &label, false, out)?;
            writeln!(
                out,
                "imported {label} into {}",
                runtime.store().dir().display()
            )?;
        }
        Imported::AlreadyStored => writeln!(
            out,
            "{label} is already in the store, with the same content"
        )?,
    }
    Ok(true)
}

/// The store's runtime, its engines not started: `pack import`, `activate` and `rollback` go through
/// the checks and steps `yagura serve` uses, and take effect when it starts.
fn offline(store: &StoreArgs, trust: Trust) -> anyhow::Result<Runtime> {
    let store = store.open()?;
    let sandbox = Sandbox::builder().cache_dir(store.cache_dir()).build()?;
    Ok(Runtime::open(
        store,
        sandbox,
        RuntimeOptions {
            trust,
            ..RuntimeOptions::default()
        },
    ))
}

/// Runs the pack's cases and prints them: [`print_cases`]; whether all passed.
fn report_cases(
    bundle: &Bundle,
    sandbox: &Sandbox,
    origin: &str,
    each: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let results = crate::pack::run_cases(bundle, sandbox, origin)?;
    print_cases(&results, &bundle.manifest.label(), each, out)
}

/// Prints the failed cases (every case with `each`) and the totals; whether all passed.
fn print_cases(
    results: &[RuleCases],
    label: &str,
    each: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (mut passed, mut failed) = (0, 0);
    for rule in results {
        if each || rule.failed().next().is_some() {
            writeln!(out, "{}  {}", rule.rule, rule.cases.display())?;
        }
        for result in &rule.results {
            if result.passed() {
                passed += 1;
                if each {
                    writeln!(out, "  ok    {}", result.name)?;
                }
            } else {
                failed += 1;
                writeln!(out, "  FAIL  {}", result.name)?;
                for line in result.explain().lines() {
                    writeln!(out, "        {line}")?;
                }
            }
        }
    }
    writeln!(out, "{label}: cases: {passed} passed, {failed} failed")?;
    Ok(failed == 0)
}
