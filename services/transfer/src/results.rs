//! Applying one bank status to a payment, whether it came on `bank.results.v1` or in a
//! pain.002 file: only an attempt still in flight changes, so a repeated or late status
//! changes nothing.

use std::collections::HashSet;

use messaging::Tally;
use sqlx::PgConnection;
use tracing::Instrument as _;

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

/// What one status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The payment reached this state.
    Changed(PaymentState),
    /// Not final, repeated or late: nothing changed.
    Unchanged,
}

/// One bank status to apply, as [`apply_all`] takes it.
#[derive(Debug)]
pub struct Status<'a> {
    /// The attempt it names.
    pub end_to_end_id: EndToEndId,
    /// The bank that answered.
    pub bank_id: &'a str,
    /// What the bank reports.
    pub status: BankStatus,
    /// The bank's reason code.
    pub reason_code: &'a str,
    /// The trace the status came in, when it has one of its own: its outcome is announced
    /// there rather than in the current span.
    pub span: Option<&'a tracing::Span>,
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
    let status = Status {
        end_to_end_id: end_to_end_id.clone(),
        bank_id,
        status,
        reason_code,
        span: None,
    };
    let mut applied = apply_all(tx, tally, policy, std::slice::from_ref(&status)).await?;
    applied
        .pop()
        .unwrap_or(Err(ResultError::UnknownTransfer(status.end_to_end_id)))
}

/// Applies `statuses` in order, whether they came on `bank.results.v1` or in a pain.002
/// file; the counters they move are owed in `tally`. Returns what each did, or why it could
/// not be applied; a store failure fails them all.
///
/// Results arrive by the million in a month, so the common case (a final status, not a
/// retry, for an attempt in flight at that bank) settles a run at a time in two statements
/// per run; a retry (which needs the attempt number first), a status that is not final and
/// every exception (unknown, other bank, repeated or late) take the one-status path.
pub async fn apply_all(
    tx: &mut PgConnection,
    tally: &mut Tally,
    policy: &Policy,
    statuses: &[Status<'_>],
) -> Result<Vec<Result<Applied, ResultError>>, StoreError> {
    let mut applied: Vec<Option<Result<Applied, ResultError>>> = std::iter::repeat_with(|| None)
        .take(statuses.len())
        .collect();
    let mut run: Vec<usize> = Vec::new();
    let mut in_run: HashSet<&str> = HashSet::new();
    for (index, status) in statuses.iter().enumerate() {
        let effect = classify(status.status, status.reason_code);
        if effect.state().is_some() && effect != ResultEffect::Retry {
            // A second status for one attempt must see the first one's effect.
            if !in_run.insert(status.end_to_end_id.as_str()) {
                settle_run(tx, tally, policy, statuses, &run, &mut applied).await?;
                run.clear();
                in_run.clear();
                in_run.insert(status.end_to_end_id.as_str());
            }
            run.push(index);
            continue;
        }
        settle_run(tx, tally, policy, statuses, &run, &mut applied).await?;
        run.clear();
        in_run.clear();
        applied[index] = Some(apply_one(tx, tally, policy, status, effect).await);
    }
    settle_run(tx, tally, policy, statuses, &run, &mut applied).await?;
    let mut results = Vec::with_capacity(statuses.len());
    for (status, result) in statuses.iter().zip(applied) {
        match result {
            Some(Err(ResultError::Store(error))) => return Err(error),
            Some(result) => results.push(result),
            // Every status was applied above; this only keeps the types honest.
            None => results.push(Err(ResultError::UnknownTransfer(
                status.end_to_end_id.clone(),
            ))),
        }
    }
    Ok(results)
}

/// Settles the statuses of `run` (final, not retries, distinct attempts) in one statement,
/// announces each outcome, in its status's trace, in another, then applies the ones that
/// found no attempt in flight at their bank one by one; records what each did in `applied`.
async fn settle_run(
    tx: &mut PgConnection,
    tally: &mut Tally,
    policy: &Policy,
    statuses: &[Status<'_>],
    run: &[usize],
    applied: &mut [Option<Result<Applied, ResultError>>],
) -> Result<(), StoreError> {
    if run.is_empty() {
        return Ok(());
    }
    let now = policy.clock.now();
    let mut finals = Vec::with_capacity(run.len());
    for &index in run {
        let status = &statuses[index];
        let effect = classify(status.status, status.reason_code);
        // Only final statuses are put in a run.
        let state = effect.state().unwrap_or(PaymentState::InFlight);
        finals.push((index, effect, state));
    }
    let requests: Vec<store::FinalStatus<'_>> = finals
        .iter()
        .map(|&(index, _, state)| store::FinalStatus {
            end_to_end_id: &statuses[index].end_to_end_id,
            bank_id: statuses[index].bank_id,
            state,
            reason_code: statuses[index].reason_code,
        })
        .collect();
    let settled = store::settle_all_in_flight(tx, &requests, now).await?;
    let mut events = Vec::with_capacity(run.len());
    let mut exceptions = Vec::new();
    for (&(index, effect, state), attempt) in finals.iter().zip(settled) {
        let status = &statuses[index];
        let Some(attempt) = attempt else {
            // Unknown, another bank's, repeated or late: rare, and the one-status path
            // knows what each means.
            exceptions.push((index, effect));
            continue;
        };
        let mut event = store::outcome_event(&attempt, state, status.reason_code, now);
        match status.span {
            Some(span) => {
                span.in_scope(|| announce(tally, &attempt, effect, state, status.reason_code));
                event = event.continuing(&traceparent_of(span));
            }
            None => announce(tally, &attempt, effect, state, status.reason_code),
        }
        events.push(event);
        applied[index] = Some(Ok(Applied::Changed(state)));
    }
    messaging::enqueue_all(tx, &events).await?;
    for (index, effect) in exceptions {
        applied[index] = Some(apply_one(tx, tally, policy, &statuses[index], effect).await);
    }
    Ok(())
}

/// The W3C `traceparent` of `span`, empty when it has none.
fn traceparent_of(span: &tracing::Span) -> String {
    telemetry::headers_for_span(span)
        .into_iter()
        .find(|(key, _)| key == "traceparent")
        .map(|(_, value)| value)
        .unwrap_or_default()
}

/// Applies one status whose effect is `effect` through the general path, in its own trace
/// when it has one.
async fn apply_one(
    tx: &mut PgConnection,
    tally: &mut Tally,
    policy: &Policy,
    status: &Status<'_>,
    effect: ResultEffect,
) -> Result<Applied, ResultError> {
    let applied = apply_general(
        tx,
        tally,
        policy,
        &status.end_to_end_id,
        status.bank_id,
        effect,
        status.reason_code,
    );
    match status.span {
        Some(span) => applied.instrument(span.clone()).await,
        None => applied.await,
    }
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

/// Applies a status the bulk path did not: one that is not final (which only checks that the
/// attempt exists and is this bank's), a retry, or a status for an attempt that is unknown,
/// another bank's, or no longer in flight.
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
