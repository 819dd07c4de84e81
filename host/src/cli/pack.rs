//! `yagura key …` and `yagura pack …`: publisher keys and pack bundles (docs/packs.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::pack::{Bundle, PublicKey, SecretKey, SignatureStatus, Trust, sign};
use crate::sandbox::Sandbox;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a publisher key pair: NAME.key (secret, mode 0600) and NAME.pub (give this
    /// one to the hosts that will trust your packs). Refuses to overwrite.
    Generate {
        /// Path and base name of the key files
        #[arg(value_name = "NAME")]
        name: PathBuf,
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
pub fn run_pack(command: &PackCommand, out: &mut dyn Write) -> anyhow::Result<bool> {
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
            } else if !report_cases(&bundle, &sandbox, &origin, out)? {
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
                if bundle.manifest.rules.len() == 1 { "" } else { "s" },
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
        PackCommand::Test { pack } => {
            let origin = pack.display().to_string();
            let bundle = if pack.extension().is_some_and(|e| e == "toml") {
                Bundle::build(pack)?
            } else {
                read_bundle(pack)?
            };
            let sandbox = Sandbox::builder().build()?;
            report_cases(&bundle, &sandbox, &origin, out)
        }
    }
}

/// Runs and prints the pack's cases; whether all passed.
fn report_cases(
    bundle: &Bundle,
    sandbox: &Sandbox,
    origin: &str,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (mut passed, mut failed) = (0, 0);
    for rule in crate::pack::run_cases(bundle, sandbox, origin)? {
        writeln!(out, "{}  {}", rule.rule, rule.cases.display())?;
        for result in &rule.results {
            if result.passed() {
                passed += 1;
                writeln!(out, "  ok    {}", result.name)?;
            } else {
                failed += 1;
                writeln!(out, "  FAIL  {}", result.name)?;
                for line in result.explain().lines() {
                    writeln!(out, "        {line}")?;
                }
            }
        }
    }
    writeln!(
        out,
        "{}: cases: {passed} passed, {failed} failed",
        bundle.manifest.label()
    )?;
    Ok(failed == 0)
}
