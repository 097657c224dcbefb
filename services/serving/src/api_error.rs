//! The one mapping from a service's errors to gRPC statuses. Each service turns its own
//! error enum into an [`ApiError`] by what the caller should do; internal causes are logged
//! here and never sent.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// An error as the caller of an RPC should see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is wrong; fixing the named field would make it right.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The request field, e.g. `claim.termination_date`.
        field: String,
        /// What is wrong with it, in words an officer understands.
        reason: String,
    },
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (already done, not allowed now).
    #[error("{0}")]
    Conflict(String),
    /// The caller could not be identified.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A dependency is down; the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; the cause is logged, the caller gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An invalid field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // A connection the server ended, or a lock or statement timeout, is worth another
        // try; the caller is told so instead of being shown an internal error.
        if database::is_transient(&error) {
            Self::Unavailable(format!("database unavailable: {error}"))
        } else {
            Self::Internal(error.to_string())
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidInput { field, reason } => {
                let message = format!("{field}: {reason}");
                let details = ErrorDetails::with_bad_request_violation(field, reason);
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ApiError::NotFound(what) => Status::not_found(format!("{what} not found")),
            ApiError::Conflict(reason) => Status::failed_precondition(reason),
            ApiError::Unauthenticated(reason) => Status::unauthenticated(reason),
            ApiError::PermissionDenied(reason) => Status::permission_denied(reason),
            ApiError::Unavailable(reason) => {
                tracing::warn!(%reason, "request failed on an unavailable dependency");
                Status::unavailable("temporarily unavailable, try again")
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_field_becomes_invalid_argument_with_the_field_named() {
        let status = Status::from(ApiError::invalid("claim.citizen_id", "must have 12 digits"));

        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violation = &details.bad_request().unwrap().field_violations[0];
        assert_eq!(violation.field, "claim.citizen_id");
        assert_eq!(violation.description, "must have 12 digits");
    }

    #[test]
    fn an_internal_cause_is_not_sent_to_the_caller() {
        let status = Status::from(ApiError::Internal("password authentication failed".into()));

        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("password"));
    }
}
