//! What transfer consumes: approved lists (verified, then paid line by line), the banks'
//! results (applied once) and the decisions' activations and terminations (kept so that no
//! retry or resend pays a cancelled month).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{Datelike, NaiveDate};

use contracts::bank::v1::{BankResult, TransactionStatus};
use contracts::common::v1::Date;
use contracts::eligibility::v1::decision_event::Change;
use contracts::topics;
use contracts::{eligibility::v1::DecisionEvent, payroll::v1::PaymentListChunk};
use messaging::{Handler, HandlerError, Inbound, Tally, decode};
use sqlx::PgConnection;
use tracing::Instrument;

use crate::domain::end_to_end::EndToEndId;
use crate::domain::list::{self, Refusal, RefusalReason};
use crate::domain::result::BankStatus;
use crate::policy::Policy;
use crate::results::{self, ResultError};
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
    counted: CountedLists,
}

impl Events {
    /// A handler applying `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        Self {
            policy,
            counted: CountedLists::default(),
        }
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

    /// Applies the bank results between two other messages together, through
    /// [`results::apply_all`], so that the common case settles a run at a time in two
    /// statements per run; every other message takes `handle`'s path, in its place.
    async fn handle_batch(
        &self,
        tx: &mut PgConnection,
        messages: &[&Inbound<'_>],
    ) -> Result<(), HandlerError> {
        // Counted only once the whole batch went through: a batch that fails is applied again
        // message by message.
        let mut tally = Tally::default();
        let mut results: Vec<(BankResult, &Inbound<'_>)> = Vec::new();
        for message in messages {
            if message.topic == topics::BANK_RESULTS {
                results.push((decode(message)?, message));
                continue;
            }
            self.apply_results(tx, &mut tally, &std::mem::take(&mut results))
                .await?;
            self.apply(&mut *tx, &mut tally, message)
                .instrument(message.span.clone())
                .await?;
        }
        self.apply_results(tx, &mut tally, &results).await?;
        tally.settle();
        Ok(())
    }
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

/// Logs a refused list: the alert an operator acts on.
pub(crate) fn alert_refused(list_id: &str, refusal: &Refusal) {
    tracing::warn!(
        list_id,
        reason = refusal.reason.as_str(),
        detail = %refusal.detail,
        "payment list refused; nothing in it is paid"
    );
}

/// Counts a refused list, once it is known to stand.
pub(crate) fn count_refused(reason: RefusalReason) {
    metrics::counter!("transfer_refused_lists_total", "reason" => reason.as_str()).increment(1);
}

/// The lists whose decision this process has counted.
///
/// The consumer commits a message's transaction after the handler returns, so a commit that
/// fails for a passing reason runs the handler again, and the list is decided a second time
/// from the same rolled-back state; counting each list's decision once keeps the counters
/// exact whatever the retries.
#[derive(Clone, Default)]
struct CountedLists(Arc<Mutex<HashSet<String>>>);

impl CountedLists {
    /// Whether `list_id` is counted now for the first time; it is counted from then on.
    fn first_time(&self, list_id: &str) -> bool {
        // A panic elsewhere while holding the lock leaves the set itself intact.
        let mut counted = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counted.insert(list_id.to_owned())
    }
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
        let chunk_index = chunk.chunk_index;
        let refusal = match store::record_chunk(tx, chunk, now).await? {
            ChunkProgress::AlreadyDecided => {
                tracing::info!(
                    list_id,
                    chunk = chunk_index,
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
                        let already_paid = u64::try_from(accepted.already_paid).unwrap_or(0);
                        let counted = self.counted.clone();
                        let counted_list = list_id.clone();
                        tally.owe(move || {
                            if !counted.first_time(&counted_list) {
                                return;
                            }
                            for (bank, sent) in sent_by_bank {
                                metrics::counter!(
                                    "transfer_instructions_sent_total",
                                    "bank" => bank,
                                )
                                .increment(sent);
                            }
                            if already_paid > 0 {
                                metrics::counter!("transfer_lines_already_paid_total")
                                    .increment(already_paid);
                            }
                        });
                        if accepted.already_paid > 0 {
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
        let counted = self.counted.clone();
        let reason = refusal.reason;
        tally.owe(move || {
            if counted.first_time(&list_id) {
                count_refused(reason);
            }
        });
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

    /// Applies consecutive bank `results` together, each in its own trace; one that cannot
    /// be applied fails the batch, which is then applied message by message.
    async fn apply_results(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        results: &[(BankResult, &Inbound<'_>)],
    ) -> Result<(), HandlerError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut statuses = Vec::with_capacity(results.len());
        for (result, message) in results {
            let (end_to_end_id, status) = bank_status(result)?;
            statuses.push(results::Status {
                end_to_end_id,
                bank_id: &result.bank_id,
                status,
                reason_code: &result.reason_code,
                span: Some(&message.span),
            });
        }
        for applied in results::apply_all(tx, tally, &self.policy, &statuses).await? {
            if let Err(error) = applied {
                return Err(HandlerError::Permanent(error.to_string()));
            }
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
