//! Applying one bank status to a payment, whether it came on `bank.results.v1` or in a
//! pain.002 file: only an attempt still in flight changes, so a repeated or late status
//! changes nothing.

use sqlx::PgConnection;

use crate::domain::end_to_end::EndToEndId;
use crate::domain::result::{BankStatus, PaymentState, ResultEffect, classify};
use crate::policy::Policy;
use crate::store::{self, StoreError};

/// Why a status could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// No transfer has this end-to-end id.
    #[error("bank status names unknown end-to-end id {0}")]
    UnknownTransfer(EndToEndId),
    /// The status came from a bank the transfer was not sent to.
    #[error("bank {answered} answered for {end_to_end_id}, which was sent to bank {sent_to}")]
    WrongBank {
        /// The end-to-end id.
        end_to_end_id: EndToEndId,
        /// The bank that answered.
        answered: String,
        /// The bank the transfer went to.
        sent_to: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The payment reached this state.
    Changed(PaymentState),
    /// Not final, repeated or late: nothing changed.
    Unchanged,
}

/// Applies `status` with `reason_code` from `bank_id` to the attempt `end_to_end_id`.
pub async fn apply(
    tx: &mut PgConnection,
    policy: &Policy,
    end_to_end_id: &EndToEndId,
    bank_id: &str,
    status: BankStatus,
    reason_code: &str,
) -> Result<Applied, ResultError> {
    let Some(attempt) = store::lock_attempt(tx, end_to_end_id).await? else {
        return Err(ResultError::UnknownTransfer(end_to_end_id.clone()));
    };
    if attempt.bank_id != bank_id {
        return Err(ResultError::WrongBank {
            end_to_end_id: end_to_end_id.clone(),
            answered: bank_id.to_owned(),
            sent_to: attempt.bank_id,
        });
    }
    let effect = classify(status, reason_code);
    let Some(mut state) = effect.state() else {
        return Ok(Applied::Unchanged);
    };
    if attempt.state != PaymentState::InFlight.as_str() {
        if effect == ResultEffect::Paid && attempt.state != PaymentState::Paid.as_str() {
            // The bank credited an attempt it had answered otherwise: money may have moved
            // twice for this entitlement. Never silent; an officer must look.
            metrics::counter!("transfer_unexpected_credits_total", "bank" => bank_id.to_owned())
                .increment(1);
            tracing::error!(
                end_to_end_id = %end_to_end_id,
                stored = %attempt.state,
                "bank credited an attempt that was no longer in flight"
            );
            return Ok(Applied::Unchanged);
        }
        tracing::info!(
            end_to_end_id = %end_to_end_id,
            stored = %attempt.state,
            reason_code,
            "late or repeated bank status changes nothing"
        );
        return Ok(Applied::Unchanged);
    }
    let now = policy.clock.now();
    let mut retry_at = None;
    if effect == ResultEffect::Retry {
        if attempt.facts.attempt >= policy.max_attempts {
            state = PaymentState::Failed;
        } else {
            retry_at = Some(policy.retry_at(now, attempt.facts.attempt));
        }
    }
    if effect == (ResultEffect::Parked { ends_benefit: true }) {
        tracing::warn!(
            end_to_end_id = %end_to_end_id,
            decision_id = %attempt.facts.decision_id,
            "bank reports the beneficiary deceased"
        );
    }
    store::settle_attempt(tx, &attempt, state, reason_code, retry_at, now).await?;
    metrics::counter!("transfer_results_applied_total", "state" => state.as_str()).increment(1);
    Ok(Applied::Changed(state))
}

/// The bank status an ISO 20022 TxSts code stands for, if it is one.
pub fn status_from_code(code: &str) -> Option<BankStatus> {
    match code {
        "ACCC" => Some(BankStatus::Credited),
        "RJCT" => Some(BankStatus::Rejected),
        "ACCP" | "ACSP" | "ACSC" | "ACTC" | "ACWC" | "PDNG" | "PART" => Some(BankStatus::Pending),
        _ => None,
    }
}
