//! What transfer consumes: approved lists (verified, then paid line by line), the banks'
//! results (applied once) and the decisions' activations and terminations (kept so that no
//! retry or resend pays a cancelled month).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use contracts::bank::v1::{BankResult, TransactionStatus};
use contracts::common::v1::Date;
use contracts::eligibility::v1::decision_event::Change;
use contracts::topics;
use contracts::{eligibility::v1::DecisionEvent, payroll::v1::PaymentListChunk};
use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::PgConnection;
use tracing::Instrument;

use crate::domain::end_to_end::EndToEndId;
use crate::domain::list::{self, Refusal, RefusalReason};
use crate::domain::result::{BankStatus, PaymentState, ResultEffect, classify};
use crate::policy::Policy;
use crate::results::{self, ResultError, Tally};
use crate::store::{self, ChunkProgress, StoreError};

/// The topics transfer consumes, as one consumer group.
pub const TOPICS: [&str; 3] = [
    topics::PAYMENT_LISTS,
    topics::DECISIONS,
    topics::BANK_RESULTS,
];

/// The handler of every topic transfer consumes.
pub struct Events {
    policy: Arc<Policy>,
}

impl Events {
    /// A handler applying `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }
}

impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => HandlerError::from(error),
            StoreError::Corrupt(reason) => HandlerError::Permanent(reason),
            // A vault that cannot seal or open now will not later either: an operator acts.
            StoreError::Vault(error) => HandlerError::Permanent(error.to_string()),
        }
    }
}

impl Handler for Events {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        let mut tally = Tally::default();
        self.apply(tx, &mut tally, message).await?;
        tally.settle();
        Ok(())
    }

    /// Settles the bank results of the common case (a final status, not a retry, for an
    /// attempt in flight at that bank) a run at a time, in two statements per run; every
    /// other message takes `handle`, in its place in the batch.
    async fn handle_batch(
        &self,
        tx: &mut PgConnection,
        messages: &[&Inbound<'_>],
    ) -> Result<(), HandlerError> {
        // Counted only once the whole batch went through: a batch that fails is applied again
        // message by message.
        let mut tally = Tally::default();
        let mut run: Vec<Settle<'_, '_>> = Vec::new();
        let mut in_run: HashSet<String> = HashSet::new();
        for message in messages {
            match common_case(message) {
                Some(settle) => {
                    // A second status for one attempt must see the first one's effect.
                    if !in_run.insert(settle.end_to_end_id.as_str().to_owned()) {
                        self.settle_run(tx, &mut tally, std::mem::take(&mut run))
                            .await?;
                        in_run.clear();
                        in_run.insert(settle.end_to_end_id.as_str().to_owned());
                    }
                    run.push(settle);
                }
                None => {
                    self.settle_run(tx, &mut tally, std::mem::take(&mut run))
                        .await?;
                    in_run.clear();
                    self.apply(&mut *tx, &mut tally, message)
                        .instrument(message.span.clone())
                        .await?;
                }
            }
        }
        self.settle_run(tx, &mut tally, run).await?;
        tally.settle();
        Ok(())
    }
}

/// A bank result of the common case, ready to settle with others.
struct Settle<'b, 'm> {
    message: &'b Inbound<'m>,
    end_to_end_id: EndToEndId,
    bank_id: String,
    effect: ResultEffect,
    state: PaymentState,
    reason_code: String,
}

/// The message as a common-case result, or `None` when it is anything else (another topic,
/// malformed, not final, a retry), which the one-message path handles or refuses.
fn common_case<'b, 'm>(message: &'b Inbound<'m>) -> Option<Settle<'b, 'm>> {
    if message.topic != topics::BANK_RESULTS {
        return None;
    }
    let result: BankResult = decode(message).ok()?;
    let (end_to_end_id, status) = bank_status(&result).ok()?;
    let effect = classify(status, &result.reason_code);
    let state = effect.state()?;
    if effect == ResultEffect::Retry {
        return None;
    }
    Some(Settle {
        message,
        end_to_end_id,
        bank_id: result.bank_id,
        effect,
        state,
        reason_code: result.reason_code,
    })
}

/// The attempt a bank result names and the status it reports.
fn bank_status(result: &BankResult) -> Result<(EndToEndId, BankStatus), HandlerError> {
    let end_to_end_id = EndToEndId::parse(&result.end_to_end_id)
        .map_err(|error| HandlerError::Permanent(format!("bank result: {error}")))?;
    let status = match TransactionStatus::try_from(result.status) {
        Ok(TransactionStatus::Accc) => BankStatus::Credited,
        Ok(TransactionStatus::Rjct) => BankStatus::Rejected,
        Ok(
            TransactionStatus::Accp
            | TransactionStatus::Acsp
            | TransactionStatus::Acsc
            | TransactionStatus::Pdng,
        ) => BankStatus::Pending,
        Ok(TransactionStatus::Unspecified) | Err(_) => {
            return Err(HandlerError::Permanent(format!(
                "bank result for {end_to_end_id} has no status"
            )));
        }
    };
    Ok((end_to_end_id, status))
}

/// The W3C `traceparent` of `span`, empty when it has none.
fn traceparent_of(span: &tracing::Span) -> String {
    telemetry::headers_for_span(span)
        .into_iter()
        .find(|(key, _)| key == "traceparent")
        .map(|(_, value)| value)
        .unwrap_or_default()
}

/// Logs, counts and stores a refused list: the alert an operator acts on.
pub(crate) fn alert_refused(list_id: &str, refusal: &Refusal) {
    metrics::counter!("transfer_refused_lists_total", "reason" => refusal.reason.as_str())
        .increment(1);
    tracing::warn!(
        list_id,
        reason = refusal.reason.as_str(),
        detail = %refusal.detail,
        "payment list refused; nothing in it is paid"
    );
}

impl Events {
    /// Applies one message; the counters it moves are owed in `tally`.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        match message.topic {
            topics::PAYMENT_LISTS => self.on_chunk(tx, tally, decode(message)?).await,
            topics::BANK_RESULTS => self.on_result(tx, tally, decode(message)?).await,
            topics::DECISIONS => self.on_decision(tx, decode(message)?).await,
            other => Err(HandlerError::Permanent(format!(
                "transfer does not consume {other}"
            ))),
        }
    }

    async fn on_chunk(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        chunk: PaymentListChunk,
    ) -> Result<(), HandlerError> {
        if chunk.list_id.is_empty()
            || chunk.chunk_count == 0
            || chunk.chunk_index >= chunk.chunk_count
        {
            return Err(HandlerError::Permanent(format!(
                "payment list chunk {} of {} has no list id or an impossible position",
                chunk.chunk_index, chunk.chunk_count
            )));
        }
        let now = self.policy.clock.now();
        let list_id = chunk.list_id.clone();
        let refusal = match store::record_chunk(tx, &chunk, now).await? {
            ChunkProgress::AlreadyDecided => {
                tracing::info!(
                    list_id,
                    chunk = chunk.chunk_index,
                    "chunk of a decided list ignored"
                );
                return Ok(());
            }
            ChunkProgress::Waiting => return Ok(()),
            ChunkProgress::Contradicts(detail) => Refusal {
                reason: RefusalReason::InconsistentChunks,
                detail,
            },
            ChunkProgress::Complete(chunks) => {
                match list::verify(&chunks, &self.policy.trusted_keys) {
                    Ok(verified) => {
                        let month = self
                            .policy
                            .clock
                            .today()
                            .with_day(1)
                            .unwrap_or(self.policy.clock.today());
                        let accepted =
                            store::accept_list(tx, &self.policy, &verified, now, month).await?;
                        let sent_by_bank = accepted.sent_by_bank.clone();
                        tally.owe(move || {
                            for (bank, sent) in sent_by_bank {
                                metrics::counter!(
                                    "transfer_instructions_sent_total",
                                    "bank" => bank,
                                )
                                .increment(sent);
                            }
                        });
                        if accepted.already_paid > 0 {
                            metrics::counter!("transfer_lines_already_paid_total")
                                .increment(accepted.already_paid as u64);
                            tracing::warn!(
                                list_id,
                                lines = accepted.already_paid,
                                "lines whose entitlement already has a payment were not sent again"
                            );
                        }
                        tracing::info!(list_id, sent = accepted.sent, "payment list accepted");
                        return Ok(());
                    }
                    Err(refusal) => refusal,
                }
            }
        };
        store::refuse_list(tx, &list_id, &refusal, now).await?;
        alert_refused(&list_id, &refusal);
        Ok(())
    }

    async fn on_decision(
        &self,
        tx: &mut PgConnection,
        event: DecisionEvent,
    ) -> Result<(), HandlerError> {
        let decision_id = event.decision_id.as_str();
        match event.change {
            Some(Change::Activated(activated)) => {
                let mut months = Vec::with_capacity(activated.checkin_windows.len());
                for window in &activated.checkin_windows {
                    let start = window.month_start.as_ref().and_then(naive_date);
                    let number = i32::try_from(window.benefit_month).ok().filter(|n| *n > 0);
                    let (Some(number), Some(start)) = (number, start) else {
                        return Err(HandlerError::Permanent(format!(
                            "activation of {decision_id} has a check-in window without a month \
                             or start date"
                        )));
                    };
                    months.push((number, start));
                }
                store::record_decision_months(tx, decision_id, &months).await?;
            }
            Some(Change::Terminated(terminated)) => {
                let Some(effective_date) = terminated.effective_date.as_ref().and_then(naive_date)
                else {
                    return Err(HandlerError::Permanent(format!(
                        "termination of {decision_id} has no valid effective date"
                    )));
                };
                let now = self.policy.clock.now();
                store::record_termination(tx, decision_id, effective_date, now).await?;
                tracing::info!(decision_id, %effective_date, "decision termination recorded");
            }
            // Suspensions reach transfer as missing list lines; destination changes as
            // confirmed corrections.
            Some(
                Change::MonthSuspended(_)
                | Change::Resumed(_)
                | Change::BankDestinationChanged(_)
                | Change::Completed(_),
            )
            | None => {}
        }
        Ok(())
    }

    async fn on_result(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        result: BankResult,
    ) -> Result<(), HandlerError> {
        let (end_to_end_id, status) = bank_status(&result)?;
        match results::apply(
            tx,
            tally,
            &self.policy,
            &end_to_end_id,
            &result.bank_id,
            status,
            &result.reason_code,
        )
        .await
        {
            Ok(_) => {}
            Err(ResultError::Store(error)) => return Err(error.into()),
            Err(error) => return Err(HandlerError::Permanent(error.to_string())),
        }
        Ok(())
    }

    /// Settles `run` in one statement, announces each outcome in its result's trace in
    /// another, then takes the results that found no attempt in flight through `handle`.
    async fn settle_run(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        run: Vec<Settle<'_, '_>>,
    ) -> Result<(), HandlerError> {
        if run.is_empty() {
            return Ok(());
        }
        let now = self.policy.clock.now();
        let statuses: Vec<store::FinalStatus<'_>> = run
            .iter()
            .map(|settle| store::FinalStatus {
                end_to_end_id: &settle.end_to_end_id,
                bank_id: &settle.bank_id,
                state: settle.state,
                reason_code: &settle.reason_code,
            })
            .collect();
        let settled = store::settle_all_in_flight(tx, &statuses, now).await?;
        let mut events = Vec::with_capacity(run.len());
        let mut exceptions = Vec::new();
        for (settle, attempt) in run.iter().zip(settled) {
            let Some(attempt) = attempt else {
                // Unknown, another bank's, repeated or late: rare, and the general path
                // knows what each means.
                exceptions.push(settle.message);
                continue;
            };
            settle.message.span.in_scope(|| {
                results::announce(
                    tally,
                    &attempt,
                    settle.effect,
                    settle.state,
                    &settle.reason_code,
                );
            });
            events.push(
                store::outcome_event(&attempt, settle.state, &settle.reason_code, now)
                    .continuing(&traceparent_of(&settle.message.span)),
            );
        }
        messaging::enqueue_all(tx, &events)
            .await
            .map_err(StoreError::from)?;
        for message in exceptions {
            self.apply(&mut *tx, tally, message)
                .instrument(message.span.clone())
                .await?;
        }
        Ok(())
    }
}

/// A wire date as a calendar date, if it is one.
fn naive_date(date: &Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}
