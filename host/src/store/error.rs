//! [`StoreError`]: what a store operation answers besides success, one kind per way a caller
//! must tell it apart. Reads and writes that can only fail inside (sled, a damaged record)
//! are [`StoreError::Storage`] and [`StoreError::Other`].

/// Why the store refused or failed an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A name the store does not take (a tenant name, a token without scopes).
    #[error("{0}")]
    Invalid(String),
    /// No such tenant, pack version or active pack.
    #[error("{0}")]
    NotFound(String),
    /// The store's state forbids it: the name is taken, the version is stored with other
    /// content or active, there is nothing to roll back to, another change came first.
    #[error("{0}")]
    Conflict(String),
    /// sled failed.
    #[error("the store: {0}")]
    Storage(#[from] sled::Error),
    /// Anything else of ours: a record that does not read back, no randomness.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError::Other(anyhow::Error::new(e).context("a stored record"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
