//! What a change to a tenant's rule set can answer besides success: [`RuntimeError`], one kind
//! per way a front door must tell it apart (the API maps each to a status, the CLI prints it).

use crate::pack::{RuleCases, VersionError};
use crate::store::StoreError;

/// Why the runtime refused or failed a change; nothing changed unless the message says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No such pack, version or rule for the tenant.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The content is refused: the bundle's digests or signature, its requirements, a rule
    /// set that does not load with it, or a version that is neither a version nor a
    /// requirement.
    #[error("{0}")]
    Refused(String),
    /// The pack's own cases failed; `results` has every rule's, passed and failed.
    #[error("{label}: the pack's cases failed: {}", failures(.results))]
    CasesFailed {
        /// `NAME@VERSION` or where the bundle came from
        label: String,
        results: Vec<RuleCases>,
    },
    /// The store's state forbids it: the same version stored with other content, nothing to
    /// roll back to, the version is active.
    #[error("{0}")]
    Conflict(String),
    /// A failure of ours (storage, an engine that stopped): not the caller's to fix.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;

impl RuntimeError {
    /// The same error with `context` appended to what it tells the caller (an internal
    /// error keeps its own).
    pub(crate) fn then(self, context: &str) -> RuntimeError {
        match self {
            RuntimeError::NotFound(m) => RuntimeError::NotFound(format!("{m}; {context}")),
            RuntimeError::Invalid(m) => RuntimeError::Invalid(format!("{m}; {context}")),
            RuntimeError::Refused(m) => RuntimeError::Refused(format!("{m}; {context}")),
            RuntimeError::Conflict(m) => RuntimeError::Conflict(format!("{m}; {context}")),
            other => other,
        }
    }

    /// `e`, a refusal of the content (its whole chain is the caller's to read).
    pub(crate) fn refused(e: &anyhow::Error) -> RuntimeError {
        RuntimeError::Refused(format!("{e:#}"))
    }
}

impl From<StoreError> for RuntimeError {
    fn from(e: StoreError) -> RuntimeError {
        match e {
            StoreError::Invalid(m) => RuntimeError::Invalid(m),
            StoreError::NotFound(m) => RuntimeError::NotFound(m),
            StoreError::Conflict(m) => RuntimeError::Conflict(m),
            other => RuntimeError::Internal(other.into()),
        }
    }
}

impl From<VersionError> for RuntimeError {
    fn from(e: VersionError) -> RuntimeError {
        match e {
            // well formed JSON, but no version nor requirement: unprocessable (422)
            VersionError::Invalid { .. } => RuntimeError::Refused(e.to_string()),
            _ => RuntimeError::NotFound(e.to_string()),
        }
    }
}

/// `rule / case: why` of every failed case, `; `-separated.
fn failures(results: &[RuleCases]) -> String {
    let failed: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.failed()
                .map(move |c| format!("{} / {}: {}", r.rule, c.name, c.explain()))
        })
        .collect();
    failed.join("; ")
}
