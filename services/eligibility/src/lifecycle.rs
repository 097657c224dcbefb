//! A decision's life after approval: missed check-ins suspend months, a later check-in resumes,
//! the third consecutive miss or a new job terminates, and the passing of its last benefit
//! month completes it. Each change is stored with its history row and its event in the
//! caller's transaction, and applied at most once.

use chrono::{DateTime, NaiveDate, Utc};
use contracts::eligibility::v1 as pb;
use pb::decision_event::Change;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::bookkeeping::{BenefitEndReason, CheckInOutcome, end_early, settle_check_ins};
use crate::domain::month::YearMonth;
use crate::domain::period::BenefitSchedule;
use crate::domain::rates::RateBook;
use crate::domain::reemployment::{new_job_effective_on, shows_new_job};
use crate::events_out;
use crate::store::StoreError;
use crate::store::contributions::{self as contribution_store, ContributionRow};
use crate::store::decisions::{self as decision_store, DecisionRow, HistoryRow};
use crate::store::persons;
use crate::wire;

/// Why a change to a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The decision does not exist.
    #[error("decision not found")]
    UnknownDecision,
    /// The event names a benefit month the decision does not have.
    #[error("decision has no benefit month {0}")]
    UnknownMonth(u32),
    /// The decision already ended.
    #[error("decision is {0}")]
    NotLive(String),
    /// The rate book cannot lay out the decision's period.
    #[error("{0}")]
    Rules(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LifecycleError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

fn is_live(decision: &DecisionRow) -> bool {
    matches!(decision.state.as_str(), "active" | "suspended")
}

fn history(kind: &str, version: i64, at: DateTime<Utc>) -> HistoryRow {
    HistoryRow {
        version,
        kind: kind.to_owned(),
        at,
        benefit_month: None,
        termination_reason: None,
        effective_date: None,
        officer_id: None,
        note: String::new(),
    }
}

fn schedule_of(decision: &DecisionRow, book: &RateBook) -> Result<BenefitSchedule, LifecycleError> {
    let rules = book
        .rules_for_termination(decision.employment_ended_on)
        .map_err(|error| LifecycleError::Rules(error.to_string()))?;
    let months = u32::try_from(decision.months).unwrap_or_default();
    BenefitSchedule::plan(decision.start_date, months, rules, book.calendar())
        .map_err(|error| LifecycleError::Rules(error.to_string()))
}

/// Ends a live decision early from `effective_on`, reserving unused months when the reason
/// allows it, and enqueues `Terminated`.
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one fact of the termination"
)]
pub async fn terminate(
    conn: &mut PgConnection,
    book: &RateBook,
    now: DateTime<Utc>,
    decision: &mut DecisionRow,
    reason: BenefitEndReason,
    effective_on: NaiveDate,
    note: &str,
    officer_id: Option<&str>,
) -> Result<(), LifecycleError> {
    if !is_live(decision) {
        return Err(LifecycleError::NotLive(decision.state.clone()));
    }
    let rules = book
        .rules_for_termination(decision.employment_ended_on)
        .map_err(|error| LifecycleError::Rules(error.to_string()))?;
    let early = end_early(&schedule_of(decision, book)?, reason, effective_on, rules);
    let reason_code = wire::pb_end_reason(reason) as i32;
    decision.version += 1;
    decision.state = "terminated".to_owned();
    decision.termination_reason = Some(reason_code);
    decision.terminated_effective = Some(effective_on);
    decision_store::set_state(
        conn,
        decision.decision_id,
        "terminated",
        decision.version,
        Some((reason_code, effective_on)),
    )
    .await?;
    let cancelled: Vec<i32> = early
        .cancelled_months
        .iter()
        .map(|month| i32::try_from(*month).unwrap_or_default())
        .collect();
    decision_store::cancel_months(conn, decision.decision_id, &cancelled).await?;
    let reserved = i32::try_from(early.reserved_contribution_months).unwrap_or_default();
    if reserved > 0 {
        decision_store::reserve(
            conn,
            decision.person_id,
            decision.decision_id,
            "unused_benefit_months",
            reserved,
            effective_on,
        )
        .await?;
    }
    decision_store::append_history(
        conn,
        decision.decision_id,
        &HistoryRow {
            termination_reason: Some(reason_code),
            effective_date: Some(effective_on),
            officer_id: officer_id.map(str::to_owned),
            note: note.to_owned(),
            ..history("terminated", decision.version, now)
        },
    )
    .await?;
    events_out::publish(
        conn,
        decision.decision_id,
        decision.version,
        Change::Terminated(pb::DecisionTerminated {
            reason: reason_code,
            effective_date: Some(wire::pb_date(effective_on)),
            reserved_months: early.reserved_contribution_months,
            note: note.to_owned(),
        }),
        now,
    )
    .await?;
    tracing::info!(
        decision_id = %decision.decision_id,
        %reason,
        %effective_on,
        cancelled_months = cancelled.len(),
        reserved_months = reserved,
        "decision terminated"
    );
    Ok(())
}

/// Ends a live decision whose last benefit month has passed: every month was paid, suspended
/// or cancelled, and nothing more follows. Returns false when the decision had already ended.
pub async fn complete(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    decision: &mut DecisionRow,
) -> Result<bool, LifecycleError> {
    if !is_live(decision) {
        return Ok(false);
    }
    decision.version += 1;
    decision.state = "completed".to_owned();
    decision_store::set_state(
        conn,
        decision.decision_id,
        "completed",
        decision.version,
        None,
    )
    .await?;
    decision_store::append_history(
        conn,
        decision.decision_id,
        &HistoryRow {
            effective_date: Some(decision.end_date),
            ..history("completed", decision.version, now)
        },
    )
    .await?;
    events_out::publish(
        conn,
        decision.decision_id,
        decision.version,
        Change::Completed(pb::DecisionCompleted {
            end_date: Some(wire::pb_date(decision.end_date)),
        }),
        now,
    )
    .await?;
    tracing::info!(
        decision_id = %decision.decision_id,
        end_date = %decision.end_date,
        "decision completed"
    );
    Ok(true)
}

/// Completes, in one transaction, up to `limit` live decisions whose period ended before
/// `today`; returns how many.
pub async fn complete_ended(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    today: NaiveDate,
    limit: i64,
) -> Result<usize, LifecycleError> {
    let mut completed = 0;
    for mut decision in decision_store::past_their_end(conn, today, limit).await? {
        if complete(conn, now, &mut decision).await? {
            completed += 1;
        }
    }
    Ok(completed)
}

/// Applies a new contribution record: a new job terminates the live decision of its holder.
pub async fn contribution_recorded(
    conn: &mut PgConnection,
    book: &RateBook,
    now: DateTime<Utc>,
    record: &ContributionRow,
) -> Result<(), LifecycleError> {
    let live =
        decision_store::live_by_social_insurance_number(conn, &record.social_insurance_number)
            .await?;
    let record_month = YearMonth::of(record.month);
    for mut decision in live {
        let numbers = persons::find(conn, decision.person_id, false)
            .await?
            .map(|person| person.social_insurance_numbers)
            .unwrap_or_default();
        let ended_month = YearMonth::of(decision.employment_ended_on).first_day();
        let former = contribution_store::last_employers(conn, &numbers, ended_month).await?;
        if !shows_new_job(
            record_month,
            &record.employer_id,
            decision.employment_ended_on,
            &former,
        ) {
            continue;
        }
        terminate(
            conn,
            book,
            now,
            &mut decision,
            BenefitEndReason::FoundJob,
            new_job_effective_on(record_month),
            &format!("contributions from a new employer for {record_month}"),
            None,
        )
        .await?;
    }
    Ok(())
}

/// A check-in window closed without a check-in: the month is suspended, and the third
/// consecutive miss terminates the decision.
pub async fn check_in_missed(
    conn: &mut PgConnection,
    book: &RateBook,
    now: DateTime<Utc>,
    decision_id: Uuid,
    benefit_month: u32,
) -> Result<(), LifecycleError> {
    let mut decision = decision_store::find(conn, decision_id, true)
        .await?
        .ok_or(LifecycleError::UnknownDecision)?;
    if !is_live(&decision) {
        // A miss after the end changes nothing: there is nothing left to suspend.
        return Ok(());
    }
    let month =
        i32::try_from(benefit_month).map_err(|_| LifecycleError::UnknownMonth(benefit_month))?;
    let months = decision_store::months(conn, decision_id).await?;
    let Some(first_day) = months
        .iter()
        .find(|row| row.benefit_month == month)
        .map(|row| row.first_day)
    else {
        return Err(LifecycleError::UnknownMonth(benefit_month));
    };
    if !decision_store::set_month_status(conn, decision_id, month, "pending", "suspended").await? {
        // Already settled: this miss was applied before, or a check-in came first.
        return Ok(());
    }
    // Months whose window has not been reported missed count as attended here: only reported
    // misses can make a run of consecutive misses.
    let outcomes: Vec<CheckInOutcome> = months
        .iter()
        .filter(|row| row.benefit_month <= month)
        .map(|row| {
            if row.benefit_month == month || row.status == "suspended" {
                CheckInOutcome::Missed
            } else {
                CheckInOutcome::CheckedIn
            }
        })
        .collect();
    let rules = book
        .rules_for_termination(decision.employment_ended_on)
        .map_err(|error| LifecycleError::Rules(error.to_string()))?;
    let ledger = settle_check_ins(benefit_month, &outcomes, rules);
    let consecutive_missed = u32::try_from(
        outcomes
            .iter()
            .rev()
            .take_while(|outcome| **outcome == CheckInOutcome::Missed)
            .count(),
    )
    .unwrap_or(u32::MAX);

    decision.version += 1;
    decision.state = "suspended".to_owned();
    decision_store::set_state(conn, decision_id, "suspended", decision.version, None).await?;
    decision_store::append_history(
        conn,
        decision_id,
        &HistoryRow {
            benefit_month: Some(month),
            ..history("month_suspended", decision.version, now)
        },
    )
    .await?;
    events_out::publish(
        conn,
        decision_id,
        decision.version,
        Change::MonthSuspended(pb::MonthSuspended {
            benefit_month,
            consecutive_missed,
        }),
        now,
    )
    .await?;
    tracing::info!(%decision_id, benefit_month, consecutive_missed, "benefit month suspended");

    if ledger.terminated_at_month == Some(benefit_month) {
        terminate(
            conn,
            book,
            now,
            &mut decision,
            BenefitEndReason::ThreeConsecutiveMissedCheckIns,
            first_day,
            &format!("{consecutive_missed} consecutive months without check-in"),
            None,
        )
        .await?;
    }
    Ok(())
}

/// A check-in counted: the month is payable, and a suspended decision resumes.
pub async fn check_in_recorded(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    decision_id: Uuid,
    benefit_month: u32,
) -> Result<(), LifecycleError> {
    let mut decision = decision_store::find(conn, decision_id, true)
        .await?
        .ok_or(LifecycleError::UnknownDecision)?;
    if !is_live(&decision) {
        return Ok(());
    }
    let month =
        i32::try_from(benefit_month).map_err(|_| LifecycleError::UnknownMonth(benefit_month))?;
    if !decision_store::set_month_status(conn, decision_id, month, "pending", "checked_in").await? {
        return Ok(());
    }
    if decision.state != "suspended" {
        return Ok(());
    }
    decision.version += 1;
    decision.state = "active".to_owned();
    decision_store::set_state(conn, decision_id, "active", decision.version, None).await?;
    decision_store::append_history(
        conn,
        decision_id,
        &HistoryRow {
            benefit_month: Some(month),
            ..history("resumed", decision.version, now)
        },
    )
    .await?;
    events_out::publish(
        conn,
        decision_id,
        decision.version,
        Change::Resumed(pb::DecisionResumed { benefit_month }),
        now,
    )
    .await?;
    tracing::info!(%decision_id, benefit_month, "decision resumed");
    Ok(())
}

/// A bank answered that the beneficiary has died: the decision ends from the day the answer
/// arrived (the date of death is not in the answer; an officer may correct it).
pub async fn beneficiary_deceased(
    conn: &mut PgConnection,
    book: &RateBook,
    now: DateTime<Utc>,
    today: NaiveDate,
    decision_id: Uuid,
) -> Result<(), LifecycleError> {
    let mut decision = decision_store::find(conn, decision_id, true)
        .await?
        .ok_or(LifecycleError::UnknownDecision)?;
    if !is_live(&decision) {
        return Ok(());
    }
    terminate(
        conn,
        book,
        now,
        &mut decision,
        BenefitEndReason::Death,
        today,
        "bank reported the beneficiary deceased (MD07)",
        None,
    )
    .await
}
