//! Compiled components on disk.
//!
//! Compiling a component is slow (seconds for Python guests); loading a precompiled artifact
//! is ~200× faster. Artifacts are keyed by the component's sha256 *and* the engine's
//! compatibility fingerprint, so a host upgrade or a config change never loads a stale one.
//! Loading an artifact runs native code, so the cache directory is the host's own: created
//! private (0700 on Unix), written only by `store` with artifacts this host's engine produced
//! from components the sandbox accepted, never filled from a pack or the network. Anyone who
//! can write to it can run code as the host, like anyone who can replace the host binary.
//! It is rebuildable: deleting it costs a compile.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::SandboxError;

pub(super) struct ArtifactCache {
    dir: PathBuf,
    /// the engine fingerprint, part of every key
    engine_hash: u64,
}

impl ArtifactCache {
    pub fn open(dir: PathBuf, engine: &Engine) -> Result<ArtifactCache, SandboxError> {
        std::fs::create_dir_all(&dir).map_err(|e| SandboxError::Cache {
            path: dir.clone(),
            reason: format!("cannot create the directory: {e}"),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(&dir, private).map_err(|e| SandboxError::Cache {
                path: dir.clone(),
                reason: format!("cannot make the directory private: {e}"),
            })?;
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir,
            engine_hash: hasher.finish(),
        })
    }

    fn path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(digest),
            self.engine_hash
        ))
    }

    /// The cached component, if there is a usable one. A corrupt or incompatible artifact is
    /// removed and reported as a miss.
    pub fn load(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is in our cache directory under a name that only `store` writes,
        // from `Engine::precompile_component` output of an engine with this fingerprint.
        // wasmtime still checks the header and the engine compatibility on load.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "dropping an unusable cached artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes an artifact atomically (temporary file, then rename). Threads and processes
    /// storing the same artifact at once each write their own temporary file.
    pub fn store(&self, digest: &[u8; 32], artifact: &[u8]) -> Result<(), SandboxError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = self.path(digest);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{unique}", std::process::id()));
        let result = std::fs::write(&tmp, artifact).and_then(|()| std::fs::rename(&tmp, &path));
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            SandboxError::Cache {
                path,
                reason: format!("cannot write: {e}"),
            }
        })
    }
}
