//! Every SQL statement of eligibility. State changes and the events announcing them are written
//! through one connection, the caller's transaction.

pub mod claims;
pub mod contributions;
pub mod decisions;
pub mod destinations;
pub mod persons;
pub mod rates;

use messaging::HandlerError;
use serving::ApiError;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused the statement.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored value breaks an invariant the schema cannot express.
    #[error("stored {what} is invalid: {reason}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A card or account number could not be sealed or opened under the vault key.
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
}

impl StoreError {
    /// A stored value that cannot be read back into the domain.
    pub fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            what,
            reason: reason.into(),
        }
    }

    /// True when the statement broke a unique constraint or index named `constraint`.
    pub fn violates(&self, constraint: &str) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(error)) => {
                error.is_unique_violation() && error.constraint() == Some(constraint)
            }
            _ => false,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => ApiError::from(error),
            corrupt @ StoreError::Corrupt { .. } => ApiError::Internal(corrupt.to_string()),
            vault @ StoreError::Vault(_) => ApiError::Internal(vault.to_string()),
        }
    }
}

impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => HandlerError::from(error),
            corrupt @ StoreError::Corrupt { .. } => HandlerError::Permanent(corrupt.to_string()),
            // A key that cannot seal or open now will not later either: an operator acts.
            vault @ StoreError::Vault(_) => HandlerError::Permanent(vault.to_string()),
        }
    }
}
