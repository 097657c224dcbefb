//! Applying one bank status to a payment, whether it came on `bank.results.v1` or in a
//! pain.002 file: only an attempt still in flight changes, so a repeated or late status
//! changes nothing.

use sqlx::PgConnection;

use crate::domain::end_to_end::EndToEndId;
use crate::domain::result::{BankStatus, PaymentState, ResultEffect, classify};
use crate::policy::Policy;
use crate::store::{self, LockedAttempt, StoreError};

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

/// Counters owed for changes made in a transaction, incremented once the caller knows the
/// changes stand: a transaction that rolls back, and is retried or applied again message by
/// message, must not count its payments twice.
#[derive(Default)]
pub struct Tally {
    counts: Vec<Box<dyn FnOnce() + Send>>,
}

impl Tally {
    /// Owes `count`, to run on [`Tally::settle`].
    pub fn owe(&mut self, count: impl FnOnce() + Send + 'static) {
        self.counts.push(Box::new(count));
    }

    /// Increments every owed counter.
    pub fn settle(self) {
        for count in self.counts {
            count();
        }
    }
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("owed", &self.counts.len())
            .finish()
    }
}

/// What one status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The payment reached this state.
    Changed(PaymentState),
    /// Not final, repeated or late: nothing changed.
    Unchanged,
}

/// Applies `status` with `reason_code` from `bank_id` to the attempt `end_to_end_id`; the
/// counters it moves are owed in `tally`.
pub async fn apply(
    tx: &mut PgConnection,
    tally: &mut Tally,
    policy: &Policy,
    end_to_end_id: &EndToEndId,
    bank_id: &str,
    status: BankStatus,
    reason_code: &str,
) -> Result<Applied, ResultError> {
    let effect = classify(status, reason_code);
    let Some(state) = effect.state() else {
        // Not final: nothing to change whatever the attempt's state, once it is known to be
        // one of this bank's.
        return check_only(tx, end_to_end_id, bank_id).await;
    };
    // The common case, a final status for an attempt in flight at this bank, settles in one
    // statement; a retry (which needs the attempt number first) and every exception (unknown,
    // other bank, repeated or late) take the general path below.
    if effect != ResultEffect::Retry {
        let now = policy.clock.now();
        if let Some(settled) =
            store::settle_in_flight(tx, end_to_end_id, bank_id, state, reason_code, now).await?
        {
            announce(tally, &settled, effect, state, reason_code);
            store::enqueue_outcome(tx, &settled, state, reason_code, now).await?;
            return Ok(Applied::Changed(state));
        }
    }
    apply_general(
        tx,
        tally,
        policy,
        end_to_end_id,
        bank_id,
        effect,
        reason_code,
    )
    .await
}

/// Logs and counts what a settled status did: the payments and the money per bank, and
/// the money parked per bank and reason.
pub(crate) fn announce(
    tally: &mut Tally,
    attempt: &LockedAttempt,
    effect: ResultEffect,
    state: PaymentState,
    reason_code: &str,
) {
    if effect == (ResultEffect::Parked { ends_benefit: true }) {
        tracing::warn!(
            end_to_end_id = %attempt.facts.end_to_end_id,
            decision_id = %attempt.facts.decision_id,
            "bank reports the beneficiary deceased"
        );
    }
    let bank = attempt.bank_id.clone();
    let amount = u64::try_from(attempt.facts.amount_dong).unwrap_or(0);
    // Parking happens only for the few account reasons, so the label stays small.
    let reason = reason_code.to_owned();
    tally.owe(move || {
        match state {
            PaymentState::Paid => {
                metrics::counter!("transfer_paid_dong_total", "bank" => bank.clone())
                    .increment(amount);
            }
            PaymentState::Parked => {
                metrics::counter!(
                    "transfer_parked_dong_total",
                    "bank" => bank.clone(),
                    "reason" => reason,
                )
                .increment(amount);
            }
            PaymentState::InFlight | PaymentState::Failed | PaymentState::Retrying => {}
        }
        metrics::counter!(
            "transfer_results_applied_total",
            "state" => state.as_str(),
            "bank" => bank,
        )
        .increment(1);
    });
}

/// A non-final status: checks that the attempt exists and is this bank's, changes nothing.
async fn check_only(
    tx: &mut PgConnection,
    end_to_end_id: &EndToEndId,
    bank_id: &str,
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
    Ok(Applied::Unchanged)
}

/// Applies a final status the one-statement path did not: a retry, or a status for an
/// attempt that is unknown, another bank's, or no longer in flight.
async fn apply_general(
    tx: &mut PgConnection,
    tally: &mut Tally,
    policy: &Policy,
    end_to_end_id: &EndToEndId,
    bank_id: &str,
    effect: ResultEffect,
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
    let Some(mut state) = effect.state() else {
        return Ok(Applied::Unchanged);
    };
    if attempt.state != PaymentState::InFlight.as_str() {
        if effect == ResultEffect::Paid && attempt.state != PaymentState::Paid.as_str() {
            // The bank credited an attempt it had answered otherwise: money may have moved
            // twice for this entitlement. Never silent; an officer must look.
            let bank = bank_id.to_owned();
            tally.owe(move || {
                metrics::counter!("transfer_unexpected_credits_total", "bank" => bank).increment(1);
            });
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
    store::settle_attempt(tx, &attempt, state, reason_code, retry_at, now).await?;
    announce(tally, &attempt, effect, state, reason_code);
    Ok(Applied::Changed(state))
}
