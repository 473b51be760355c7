//! The pipeline's errors: why a pipeline could not be built, and why a
//! batch could not be made durable. The edge maps them to its protocol.

use crate::budget::BudgetError;
use crate::quota::QuotaError;

/// Why the pipeline could not be built (config is valid, but a side effect failed).
#[derive(Debug, thiserror::Error)]
#[error("{at}: {message}")]
pub struct BuildError {
    /// Config path, e.g. `routes[1].plugin`.
    pub at: String,
    /// What went wrong.
    pub message: String,
}

impl BuildError {
    /// An error at config path `at`.
    pub fn at(at: impl Into<String>, message: impl std::fmt::Display) -> BuildError {
        BuildError {
            at: at.into(),
            message: message.to_string(),
        }
    }
}

/// Why a batch was not delivered. Nothing was acknowledged: the sender
/// must retry the same batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Over a tenant quota or a route's cool-down (retry later).
    #[error("{0}")]
    OverQuota(String),
    /// The host is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// A sink (or the backup) could not make the batch durable.
    #[error("{0}")]
    NotDurable(String),
    /// The batch's buffers do not fit the memory budget (retry later).
    #[error(transparent)]
    MemoryBudget(#[from] BudgetError),
}

impl From<QuotaError> for DeliveryError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::OverQuota(m) => DeliveryError::OverQuota(m),
            QuotaError::ShuttingDown => DeliveryError::ShuttingDown,
        }
    }
}
