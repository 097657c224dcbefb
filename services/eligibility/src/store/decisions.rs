//! Benefit decisions, their months, their history and the months they reserve.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;

/// The partial unique index that keeps one live decision per person.
pub const ONE_LIVE_DECISION_PER_PERSON: &str = "decisions_one_live_per_person";

/// A decision as stored.
#[derive(Debug, Clone, FromRow)]
pub struct DecisionRow {
    /// Decision id.
    pub decision_id: Uuid,
    /// Legal decision number.
    pub decision_number: String,
    /// Claim it came from.
    pub claim_id: Uuid,
    /// Beneficiary.
    pub person_id: Uuid,
    /// `active`, `suspended`, `terminated` or `completed`.
    pub state: String,
    /// Rises by one with every change.
    pub version: i64,
    /// Monthly amount.
    pub monthly_amount_dong: i64,
    /// Benefit months.
    pub months: i32,
    /// First day of benefit.
    pub start_date: NaiveDate,
    /// Last day of benefit.
    pub end_date: NaiveDate,
    /// The day employment ended; selects the regime.
    pub employment_ended_on: NaiveDate,
    /// Day the decision was handed over.
    pub handover_date: NaiveDate,
    /// Bank's NAPAS id.
    pub bank_id: String,
    /// `DestinationKind` as its number.
    pub destination_kind: i32,
    /// Card or account number sealed with the vault; unset only until the service has sealed
    /// a number stored before numbers were sealed.
    pub destination_sealed: Option<Vec<u8>>,
    /// Last four digits of the number, in clear for officers.
    pub destination_last4: String,
    /// Holder's name.
    pub holder_name: String,
    /// Paying province.
    pub province: String,
    /// Job centre.
    pub centre_id: String,
    /// Approving officer.
    pub approved_by: String,
    /// When approved.
    pub approved_at: DateTime<Utc>,
    /// `TerminationReason` as its number, once terminated.
    pub termination_reason: Option<i32>,
    /// Effective date of the termination.
    pub terminated_effective: Option<NaiveDate>,
}

/// One benefit month as stored.
#[derive(Debug, Clone, FromRow)]
pub struct MonthRow {
    /// 1 for the first month.
    pub benefit_month: i32,
    /// First day.
    pub first_day: NaiveDate,
    /// Last day.
    pub last_day: NaiveDate,
    /// First day a check-in counts.
    pub opens_on: NaiveDate,
    /// Last day a check-in counts.
    pub closes_on: NaiveDate,
    /// `pending`, `checked_in`, `suspended` or `cancelled`.
    pub status: String,
}

/// One change in a decision's history.
#[derive(Debug, Clone, FromRow)]
pub struct HistoryRow {
    /// The version the change produced.
    pub version: i64,
    /// What changed.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Benefit month concerned.
    pub benefit_month: Option<i32>,
    /// Termination reason as its number.
    pub termination_reason: Option<i32>,
    /// Termination effective date.
    pub effective_date: Option<NaiveDate>,
    /// Officer who caused it.
    pub officer_id: Option<String>,
    /// Free-text note.
    pub note: String,
}

/// Inserts a new decision with its months.
pub async fn insert(
    conn: &mut PgConnection,
    decision: &DecisionRow,
    months: &[MonthRow],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO decisions (decision_id, decision_number, claim_id, person_id, state, version, \
         monthly_amount_dong, months, start_date, end_date, employment_ended_on, handover_date, \
         bank_id, destination_kind, destination_sealed, destination_last4, holder_name, province, \
         centre_id, approved_by, approved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, $21)",
    )
    .bind(decision.decision_id)
    .bind(&decision.decision_number)
    .bind(decision.claim_id)
    .bind(decision.person_id)
    .bind(&decision.state)
    .bind(decision.version)
    .bind(decision.monthly_amount_dong)
    .bind(decision.months)
    .bind(decision.start_date)
    .bind(decision.end_date)
    .bind(decision.employment_ended_on)
    .bind(decision.handover_date)
    .bind(&decision.bank_id)
    .bind(decision.destination_kind)
    .bind(&decision.destination_sealed)
    .bind(&decision.destination_last4)
    .bind(&decision.holder_name)
    .bind(&decision.province)
    .bind(&decision.centre_id)
    .bind(&decision.approved_by)
    .bind(decision.approved_at)
    .execute(&mut *conn)
    .await?;
    for month in months {
        sqlx::query(
            "INSERT INTO decision_months (decision_id, benefit_month, first_day, last_day, \
             opens_on, closes_on, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(decision.decision_id)
        .bind(month.benefit_month)
        .bind(month.first_day)
        .bind(month.last_day)
        .bind(month.opens_on)
        .bind(month.closes_on)
        .bind(&month.status)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The decision with this id; `lock` holds it until the transaction ends, so changes to one
/// decision happen one at a time.
pub async fn find(
    conn: &mut PgConnection,
    decision_id: Uuid,
    lock: bool,
) -> Result<Option<DecisionRow>, StoreError> {
    let sql = if lock {
        "SELECT * FROM decisions WHERE decision_id = $1 FOR UPDATE"
    } else {
        "SELECT * FROM decisions WHERE decision_id = $1"
    };
    Ok(sqlx::query_as(sql)
        .bind(decision_id)
        .fetch_optional(conn)
        .await?)
}

/// The live (active or suspended) decision of a person, if any.
pub async fn live_of_person(
    conn: &mut PgConnection,
    person_id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT decision_id FROM decisions WHERE person_id = $1 \
         AND state IN ('active', 'suspended')",
    )
    .bind(person_id)
    .fetch_optional(conn)
    .await?)
}

/// The live decisions of whoever holds this social insurance number, locked.
pub async fn live_by_social_insurance_number(
    conn: &mut PgConnection,
    number: &str,
) -> Result<Vec<DecisionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d.* FROM decisions d \
         JOIN person_identifiers i ON i.person_id = d.person_id \
         WHERE i.kind = 'social_insurance_number' AND i.value = $1 \
           AND d.state IN ('active', 'suspended') \
         ORDER BY d.decision_id FOR UPDATE OF d",
    )
    .bind(number)
    .fetch_all(conn)
    .await?)
}

/// Those of `numbers` whose holder has a live decision.
pub async fn numbers_with_live_decisions(
    conn: &mut PgConnection,
    numbers: &[String],
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT i.value FROM person_identifiers i \
         JOIN decisions d ON d.person_id = i.person_id \
         WHERE i.kind = 'social_insurance_number' AND i.value = ANY($1) \
           AND d.state IN ('active', 'suspended')",
    )
    .bind(numbers)
    .fetch_all(conn)
    .await?)
}

/// The day employment ended for a person's newest decision, and the contribution months that
/// decision left in reserve: a new claim counts only months after that day, plus the reserve.
pub async fn earlier_benefit(
    conn: &mut PgConnection,
    person_id: Uuid,
) -> Result<Option<(NaiveDate, i64)>, StoreError> {
    let newest: Option<(Uuid, NaiveDate)> = sqlx::query_as(
        "SELECT decision_id, employment_ended_on FROM decisions WHERE person_id = $1 \
         ORDER BY approved_at DESC LIMIT 1",
    )
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((decision_id, ended_on)) = newest else {
        return Ok(None);
    };
    let reserved: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(months), 0)::bigint FROM reserved_months WHERE decision_id = $1",
    )
    .bind(decision_id)
    .fetch_one(conn)
    .await?;
    Ok(Some((ended_on, reserved)))
}

/// The reserve entries of a person, newest first.
pub async fn reserved_of_person(
    conn: &mut PgConnection,
    person_id: Uuid,
) -> Result<Vec<(Uuid, i32, NaiveDate, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT decision_id, months, reserved_on, reason FROM reserved_months \
         WHERE person_id = $1 ORDER BY reserved_on DESC, reason",
    )
    .bind(person_id)
    .fetch_all(conn)
    .await?)
}

/// The months of a decision in order.
pub async fn months(
    conn: &mut PgConnection,
    decision_id: Uuid,
) -> Result<Vec<MonthRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT benefit_month, first_day, last_day, opens_on, closes_on, status \
         FROM decision_months WHERE decision_id = $1 ORDER BY benefit_month",
    )
    .bind(decision_id)
    .fetch_all(conn)
    .await?)
}

/// The history of a decision, oldest first.
pub async fn history(
    conn: &mut PgConnection,
    decision_id: Uuid,
) -> Result<Vec<HistoryRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT version, kind, at, benefit_month, termination_reason, effective_date, officer_id, \
         note FROM decision_history WHERE decision_id = $1 ORDER BY version",
    )
    .bind(decision_id)
    .fetch_all(conn)
    .await?)
}

/// Appends a change to the history.
pub async fn append_history(
    conn: &mut PgConnection,
    decision_id: Uuid,
    change: &HistoryRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO decision_history (decision_id, version, kind, at, benefit_month, \
         termination_reason, effective_date, officer_id, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(decision_id)
    .bind(change.version)
    .bind(&change.kind)
    .bind(change.at)
    .bind(change.benefit_month)
    .bind(change.termination_reason)
    .bind(change.effective_date)
    .bind(&change.officer_id)
    .bind(&change.note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a decision's state and version, and its termination when it ends.
pub async fn set_state(
    conn: &mut PgConnection,
    decision_id: Uuid,
    state: &str,
    version: i64,
    termination: Option<(i32, NaiveDate)>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE decisions SET state = $2, version = $3, \
         termination_reason = coalesce($4, termination_reason), \
         terminated_effective = coalesce($5, terminated_effective) \
         WHERE decision_id = $1",
    )
    .bind(decision_id)
    .bind(state)
    .bind(version)
    .bind(termination.map(|(reason, _)| reason))
    .bind(termination.map(|(_, effective)| effective))
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a month from `from` to `to`; false when it was not in `from` (already settled).
pub async fn set_month_status(
    conn: &mut PgConnection,
    decision_id: Uuid,
    benefit_month: i32,
    from: &str,
    to: &str,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "UPDATE decision_months SET status = $4 \
         WHERE decision_id = $1 AND benefit_month = $2 AND status = $3",
    )
    .bind(decision_id)
    .bind(benefit_month)
    .bind(from)
    .bind(to)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Cancels the listed months, whatever their status: they are not paid, and money already paid
/// for them becomes a debt.
pub async fn cancel_months(
    conn: &mut PgConnection,
    decision_id: Uuid,
    months: &[i32],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE decision_months SET status = 'cancelled' \
         WHERE decision_id = $1 AND benefit_month = ANY($2)",
    )
    .bind(decision_id)
    .bind(months)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records contribution months reserved by a decision; once per decision and reason.
pub async fn reserve(
    conn: &mut PgConnection,
    person_id: Uuid,
    decision_id: Uuid,
    reason: &str,
    months: i32,
    on: NaiveDate,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reserved_months (person_id, decision_id, reason, months, reserved_on) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(person_id)
    .bind(decision_id)
    .bind(reason)
    .bind(months)
    .bind(on)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every decision of a person, newest first.
pub async fn of_person(conn: &mut PgConnection, person_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT decision_id FROM decisions WHERE person_id = $1 ORDER BY approved_at DESC",
    )
    .bind(person_id)
    .fetch_all(conn)
    .await?)
}

/// Live decisions whose last benefit month ended before `today`, locked, oldest end first;
/// rows another transaction holds are left for the next pass.
pub async fn past_their_end(
    conn: &mut PgConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<DecisionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT * FROM decisions WHERE state IN ('active', 'suspended') AND end_date < $1 \
         ORDER BY end_date, decision_id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(today)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
