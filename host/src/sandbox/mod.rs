//! The sandbox: wasmtime, and everything that touches it.
//!
//! A [`Sandbox`] owns one wasmtime engine (component model, pooling allocator, epoch
//! interruption), a linker that provides *only* the WIT imports (`log`, `state`), the
//! compiled-artifact cache, and the thread that ticks epochs. [`Sandbox::load`] turns component
//! bytes into a checked, compiled [`RuleComponent`]; [`RuleComponent::instantiate`] gives a
//! [`RuleInstance`] that evaluates batches under the [`Limits`].
//!
//! wasmtime types stay in this module: the rest of the host sees events, findings, rule info
//! and [`SandboxError`]s.
//!
//! # Layout
//! - `bindings`: the generated WIT bindings, the host side of the imports, and the conversions
//!   of rule info, config and findings.
//! - `lower`: [`BatchBuilder`], our events in the WIT batch form (header, per-class body,
//!   string blob, attributes).
//! - `cache`: compiled components on disk, keyed by component digest and engine fingerprint.
//! - `deadline`: call deadlines in the calling thread's CPU time, so load cannot fault a rule.
//! - `instance`: one rule instance: calls with deadlines, fault classification, fresh instances.

mod bindings;
mod cache;
mod deadline;
mod instance;
mod lower;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::rule::RuleInfo;
use crate::state::StateLimits;

pub use instance::{CallOutcome, Fault, FaultKind, RuleInstance};
pub use lower::BatchBuilder;

/// The WIT package version this host implements, and the versions of it a rule may import.
pub(crate) const WIT_PACKAGE: &str = "yagura:detection";
pub(crate) const WIT_VERSION: &str = "0.1.0";

/// Per-rule resource limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Linear memory per instance (all its memories together), in bytes.
    pub memory_bytes: usize,
    /// Budget of one call into a rule, in CPU time of the calling thread (wall time where
    /// the platform has no thread clock): time spent waiting for a core does not count.
    pub call_deadline: Duration,
    /// Findings kept from one call; the rest are dropped and counted.
    pub max_findings_per_call: usize,
    /// Bytes of finding text kept from one call.
    pub max_output_bytes_per_call: usize,
    /// Log lines accepted from one call.
    pub max_log_lines_per_call: u32,
    /// State bounds.
    pub state: StateLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            call_deadline: Duration::from_millis(100),
            max_findings_per_call: 1_000,
            max_output_bytes_per_call: 1 << 20,
            max_log_lines_per_call: 100,
            state: StateLimits::default(),
        }
    }
}

/// Everything that can go wrong loading or running a rule component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    #[error("could not set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error("{origin}: not a valid rule component: {reason}")]
    Compile { origin: String, reason: String },
    #[error("{origin}: imports `{import}`, which the Yagura sandbox does not provide: {hint}")]
    ForbiddenImport {
        origin: String,
        import: String,
        hint: String,
    },
    #[error("{origin}: could not be instantiated: {reason}")]
    Instantiate { origin: String, reason: String },
    #[error("{origin}: `info` failed: {reason}")]
    Info { origin: String, reason: String },
    #[error("rule `{rule}`: {reason}")]
    Config { rule: String, reason: String },
    #[error("rule `{rule}`: init refused its configuration: {reason}")]
    Init { rule: String, reason: String },
    #[error("rule `{rule}`: init failed: {reason}")]
    InitFault { rule: String, reason: String },
    #[error("compiled-artifact cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

/// Builds a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    limits: Limits,
    cache_dir: Option<PathBuf>,
    max_instances: u32,
    epoch_tick: Duration,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        SandboxBuilder {
            limits: Limits::default(),
            cache_dir: None,
            max_instances: 128,
            epoch_tick: Duration::from_millis(5),
        }
    }
}

impl SandboxBuilder {
    /// Default limits for rules loaded into this sandbox.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Where compiled components are cached. Without one, every load compiles.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// How many rule instances may be live at once (sizes the pooling allocator).
    pub fn max_instances(mut self, n: u32) -> Self {
        self.max_instances = n.max(1);
        self
    }

    pub fn build(self) -> Result<Sandbox, SandboxError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(OptLevel::Speed);
        config.max_wasm_stack(1 << 20);

        // The pool reserves address space for every slot up front; memory slots are sized
        // for the largest memory a rule may have, and the limiter enforces each rule's own.
        let n = self.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            // Python guests (componentize-py) hold ~40 core instances each
            .total_core_instances(n * 32)
            .max_core_instances_per_component(128)
            .total_memories(n * 4)
            .max_memories_per_component(16)
            .total_tables(n * 8)
            .max_tables_per_component(64)
            .max_memory_size(self.limits.memory_bytes.max(64 << 20) * 4)
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            .table_elements(1 << 16);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| SandboxError::Engine(format!("{e:#}")))?;

        let mut linker: Linker<bindings::RuleCtx> = Linker::new(&engine);
        bindings::DetectionRule::add_to_linker::<_, HasSelf<_>>(&mut linker, |ctx| ctx)
            .map_err(|e| SandboxError::Engine(format!("{e:#}")))?;

        let cache = match self.cache_dir {
            Some(dir) => Some(cache::ArtifactCache::open(dir, &engine)?),
            None => None,
        };
        let epoch = EpochTicker::start(engine.clone(), self.epoch_tick)
            .map_err(|e| SandboxError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Sandbox {
            inner: Arc::new(Inner {
                engine,
                linker,
                limits: self.limits,
                cache,
                epoch_tick: self.epoch_tick,
                _epoch: epoch,
            }),
        })
    }
}

/// The WebAssembly engine, its linker and its cache. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<bindings::RuleCtx>,
    limits: Limits,
    cache: Option<cache::ArtifactCache>,
    epoch_tick: Duration,
    _epoch: EpochTicker,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The sandbox's default limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Compiles (or loads from the cache) a rule component, checks that it imports nothing but
    /// the WIT imports, instantiates it once and reads its `info`. Only components that pass
    /// the import check are cached.
    ///
    /// `origin` names the component in errors and logs (a file name, `pack/rule`).
    pub fn load(&self, bytes: &[u8], origin: &str) -> Result<RuleComponent, SandboxError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let component = self.compile(bytes, &digest, origin)?;
        let pre = self.inner.linker.instantiate_pre(&component).map_err(|e| {
            SandboxError::Instantiate {
                origin: origin.to_owned(),
                reason: format!("{e:#}"),
            }
        })?;
        let pre = bindings::DetectionRulePre::new(pre).map_err(|e| SandboxError::Instantiate {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let info = instance::read_info(self, &pre, origin)?;
        Ok(RuleComponent {
            sandbox: self.clone(),
            pre,
            info: Arc::new(info),
            digest,
            origin: origin.to_owned(),
        })
    }

    fn compile(
        &self,
        bytes: &[u8],
        digest: &[u8; 32],
        origin: &str,
    ) -> Result<Component, SandboxError> {
        let compile_error = |e: wasmtime::Error| SandboxError::Compile {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        };
        let engine = &self.inner.engine;
        let Some(cache) = &self.inner.cache else {
            let component = Component::new(engine, bytes).map_err(compile_error)?;
            check_imports(engine, &component, origin)?;
            return Ok(component);
        };
        if let Some(component) = cache.load(engine, digest) {
            check_imports(engine, &component, origin)?;
            return Ok(component);
        }
        let artifact = engine.precompile_component(bytes).map_err(compile_error)?;
        // SAFETY: `artifact` was produced just now by this engine's `precompile_component`;
        // it never came from outside.
        let component =
            unsafe { Component::deserialize(engine, &artifact) }.map_err(compile_error)?;
        // only components the sandbox accepts reach the cache
        check_imports(engine, &component, origin)?;
        cache.store(digest, &artifact)?;
        Ok(component)
    }
}

/// A compiled, checked rule component, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct RuleComponent {
    sandbox: Sandbox,
    pre: bindings::DetectionRulePre<bindings::RuleCtx>,
    info: Arc<RuleInfo>,
    digest: [u8; 32],
    origin: String,
}

impl std::fmt::Debug for RuleComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleComponent")
            .field("id", &self.info.id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl RuleComponent {
    pub fn info(&self) -> &RuleInfo {
        &self.info
    }

    /// The component with the author its pack names (the WIT `rule-info` has none).
    pub(crate) fn with_author(mut self, author: Option<String>) -> RuleComponent {
        if self.info.author != author {
            let mut info = RuleInfo::clone(&self.info);
            info.author = author;
            self.info = Arc::new(info);
        }
        self
    }

    /// The component's sha256, hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The limits [`RuleComponent::instantiate`] gives an instance: its sandbox's.
    pub(crate) fn default_limits(&self) -> Limits {
        self.sandbox.limits()
    }
}

/// Refuses a component that imports anything but `yagura:detection/{types,log,state}@0.1.x`.
fn check_imports(engine: &Engine, component: &Component, origin: &str) -> Result<(), SandboxError> {
    for (name, _) in component.component_type().imports(engine) {
        if let Some(hint) = import_refusal(name) {
            return Err(SandboxError::ForbiddenImport {
                origin: origin.to_owned(),
                import: name.to_owned(),
                hint,
            });
        }
    }
    Ok(())
}

/// Why an import name is refused, or `None` if the sandbox provides it.
fn import_refusal(name: &str) -> Option<String> {
    const ALLOWED: [&str; 3] = ["types", "log", "state"];
    let allowed = format!("rules may import only {WIT_PACKAGE}/{{log,state,types}}@{WIT_VERSION}");
    let Some((path, version)) = name.split_once('@') else {
        return Some(format!("the import has no version; {allowed}"));
    };
    let Some(interface) = path.strip_prefix(&format!("{WIT_PACKAGE}/")) else {
        let hint = if name.starts_with("wasi:") {
            format!(
                "{allowed}; rules get no filesystem, network, clock or randomness. Build Rust rules for \
                 wasm32-unknown-unknown and wrap them with `wasm-tools component new` (`cargo xtask build-rules` does), \
                 Python rules with `componentize-py … componentize --stub-wasi`, and JavaScript rules with \
                 componentize-js and `disableFeatures: ['stdio','random','clocks','http','fetch-event']` \
                 (`yagura rule build` does both)"
            )
        } else {
            allowed
        };
        return Some(hint);
    };
    if !ALLOWED.contains(&interface) {
        return Some(format!(
            "{WIT_PACKAGE} has no interface `{interface}`; {allowed}"
        ));
    }
    let compatible = match (version.split('.').next(), WIT_VERSION.split('.').next()) {
        // 0.x: the minor version is the breaking one
        (Some("0"), Some("0")) => {
            version.split('.').nth(1) == WIT_VERSION.split('.').nth(1)
                && semver_le(version, WIT_VERSION)
        }
        (Some(major), Some(ours)) => major == ours && semver_le(version, WIT_VERSION),
        _ => false,
    };
    if compatible {
        None
    } else {
        Some(format!(
            "the rule was built against {WIT_PACKAGE}@{version}, this host runs {WIT_PACKAGE}@{WIT_VERSION}; \
             rebuild the rule against the host's WIT or run a host that supports it"
        ))
    }
}

/// `a <= b` for `MAJOR.MINOR.PATCH` strings; false when either does not parse.
fn semver_le(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a <= b)
}

/// Increments the engine's epoch on a fixed tick so that calls can have deadlines.
/// Stopped when the sandbox is dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Without this thread no call would ever time out, so failing to start it is an error.
    fn start(engine: Engine, tick: Duration) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("yagura-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wit_imports_are_allowed() {
        assert_eq!(import_refusal("yagura:detection/state@0.1.0"), None);
        assert_eq!(import_refusal("yagura:detection/log@0.1.0"), None);
        assert_eq!(import_refusal("yagura:detection/types@0.1.0"), None);
        let wasi = import_refusal("wasi:cli/environment@0.2.0").expect("refused");
        assert!(wasi.contains("--stub-wasi"), "{wasi}");
        let other = import_refusal("yagura:detection/net@0.1.0").expect("refused");
        assert!(other.contains("no interface `net`"), "{other}");
        let major = import_refusal("yagura:detection/state@1.0.0").expect("refused");
        assert!(
            major.contains("built against yagura:detection@1.0.0"),
            "{major}"
        );
        assert!(import_refusal("yagura:detection/state@0.2.0").is_some());
        assert!(
            import_refusal("yagura:detection/state@0.1.9").is_some(),
            "newer than the host"
        );
        let unversioned = import_refusal("yagura:detection/state").expect("unversioned");
        assert!(
            unversioned.starts_with("the import has no version"),
            "{unversioned}"
        );
    }
}
