//! Payroll's SQL: decisions, waiting check-ins, entitlements, payment lists and debts. Every
//! function runs on the caller's connection, so a handler's or a request's changes and the
//! events announcing them commit together.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::sealing::SealedNumber;

/// A decision as payroll stores it.
#[derive(Debug, Clone, FromRow)]
pub struct DecisionRow {
    /// Decision id.
    pub decision_id: String,
    /// Highest decision version applied.
    pub version: i64,
    /// Beneficiary's opaque person id.
    pub person_id: String,
    /// Monthly amount in đồng.
    pub amount_dong: i64,
    /// Number of benefit months.
    pub months: i32,
    /// First day of the benefit.
    pub start_date: NaiveDate,
    /// Paying province.
    pub province: String,
    /// Bank id of the destination in force.
    pub bank_id: String,
    /// Destination kind code.
    pub destination_kind: i16,
    /// Card or account number, sealed.
    pub destination_sealed: Vec<u8>,
    /// Keyed digest of the number.
    pub destination_digest: Vec<u8>,
    /// Holder's name.
    pub holder_name: String,
    /// Day social security received the decision.
    pub received_on: NaiveDate,
    /// Termination effective date, once terminated.
    pub termination_effective: Option<NaiveDate>,
}

/// Inserts a new decision; false when it was already stored.
pub async fn insert_decision(conn: &mut PgConnection, d: &DecisionRow) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO decisions (decision_id, version, person_id, amount_dong, months, start_date, \
         province, bank_id, destination_kind, destination_sealed, destination_digest, \
         holder_name, received_on) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (decision_id) DO NOTHING",
    )
    .bind(&d.decision_id)
    .bind(d.version)
    .bind(&d.person_id)
    .bind(d.amount_dong)
    .bind(d.months)
    .bind(d.start_date)
    .bind(&d.province)
    .bind(&d.bank_id)
    .bind(d.destination_kind)
    .bind(&d.destination_sealed)
    .bind(&d.destination_digest)
    .bind(&d.holder_name)
    .bind(d.received_on)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the first day of each benefit month.
pub async fn insert_decision_months(
    conn: &mut PgConnection,
    decision_id: &str,
    months: &[(i32, NaiveDate)],
) -> sqlx::Result<()> {
    let numbers: Vec<i32> = months.iter().map(|(n, _)| *n).collect();
    let starts: Vec<NaiveDate> = months.iter().map(|(_, start)| *start).collect();
    sqlx::query(
        "INSERT INTO decision_months (decision_id, benefit_month, month_start) \
         SELECT $1, n, s FROM UNNEST($2::int[], $3::date[]) AS u(n, s) \
         ON CONFLICT DO NOTHING",
    )
    .bind(decision_id)
    .bind(&numbers)
    .bind(&starts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Serializes everything about one decision id until the transaction ends, even before the
/// decision row exists: a check-in and its decision handled at once by two instances would
/// otherwise each miss the other and leave the check-in waiting forever. Decision events take
/// it before the row lock; a check-in takes it only when the row is not there yet.
pub async fn lock_decision_id(conn: &mut PgConnection, decision_id: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('payroll.decision:' || $1, 0))")
        .bind(decision_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The decision, locked for the rest of the transaction; `None` when unknown.
pub async fn lock_decision(
    conn: &mut PgConnection,
    decision_id: &str,
) -> sqlx::Result<Option<DecisionRow>> {
    sqlx::query_as(
        "SELECT decision_id, version, person_id, amount_dong, months, start_date, province, \
         bank_id, destination_kind, destination_sealed, destination_digest, holder_name, \
         received_on, termination_effective \
         FROM decisions WHERE decision_id = $1 FOR UPDATE",
    )
    .bind(decision_id)
    .fetch_optional(conn)
    .await
}

/// A decision with what a check-in for one of its months needs.
#[derive(Debug, Clone, FromRow)]
pub struct DecisionMonth {
    /// The decision.
    #[sqlx(flatten)]
    pub decision: DecisionRow,
    /// First day of the month, if the decision listed it.
    pub month_start: Option<NaiveDate>,
    /// The decision's suspended months.
    pub suspended: Vec<i32>,
}

/// The decision, locked for the rest of the transaction, with the first day of `month` and
/// the suspended months, in one round trip: the check-in path runs once per beneficiary and
/// month. `None` when the decision is unknown.
pub async fn lock_decision_month(
    conn: &mut PgConnection,
    decision_id: &str,
    month: i32,
) -> sqlx::Result<Option<DecisionMonth>> {
    sqlx::query_as(
        "SELECT d.decision_id, d.version, d.person_id, d.amount_dong, d.months, d.start_date, \
         d.province, d.bank_id, d.destination_kind, d.destination_sealed, d.destination_digest, \
         d.holder_name, d.received_on, d.termination_effective, \
         (SELECT m.month_start FROM decision_months m \
           WHERE m.decision_id = d.decision_id AND m.benefit_month = $2) AS month_start, \
         ARRAY(SELECT s.benefit_month FROM suspended_months s \
           WHERE s.decision_id = d.decision_id) AS suspended \
         FROM decisions d WHERE d.decision_id = $1 FOR UPDATE OF d",
    )
    .bind(decision_id)
    .bind(month)
    .fetch_optional(conn)
    .await
}

/// A decision with its suspended months, as a batch of check-ins reads it.
#[derive(Debug, Clone, FromRow)]
pub struct LockedDecision {
    /// The decision.
    #[sqlx(flatten)]
    pub decision: DecisionRow,
    /// The decision's suspended months.
    pub suspended: Vec<i32>,
}

/// The stored decisions among `decision_ids`, each with its suspended months, locked in id
/// order for the rest of the transaction; an unknown id has no row.
pub async fn lock_decisions(
    conn: &mut PgConnection,
    decision_ids: &[&str],
) -> sqlx::Result<Vec<LockedDecision>> {
    // Locking in id order keeps two batches sharing decisions from deadlocking each other.
    sqlx::query_as(
        "SELECT d.decision_id, d.version, d.person_id, d.amount_dong, d.months, d.start_date, \
         d.province, d.bank_id, d.destination_kind, d.destination_sealed, d.destination_digest, \
         d.holder_name, d.received_on, d.termination_effective, \
         ARRAY(SELECT s.benefit_month FROM suspended_months s \
           WHERE s.decision_id = d.decision_id) AS suspended \
         FROM decisions d WHERE d.decision_id = ANY($1) \
         ORDER BY d.decision_id FOR UPDATE OF d",
    )
    .bind(decision_ids)
    .fetch_all(conn)
    .await
}

/// Takes the decision-id lock of every id in `decision_ids`, in the order given (sorted by
/// the caller): the batch form of [`lock_decision_id`].
pub async fn lock_decision_ids(conn: &mut PgConnection, decision_ids: &[&str]) -> sqlx::Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('payroll.decision:' || id, 0)) \
         FROM UNNEST($1::text[]) WITH ORDINALITY AS u(id, position) ORDER BY position",
    )
    .bind(decision_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored first days of the (decision, benefit month) pairs, for those the decision
/// listed: decision id, benefit month, first day.
pub async fn month_starts(
    conn: &mut PgConnection,
    decision_ids: &[&str],
    months: &[i32],
) -> sqlx::Result<Vec<(String, i32, NaiveDate)>> {
    sqlx::query_as(
        "SELECT m.decision_id, m.benefit_month, m.month_start \
         FROM decision_months m \
         JOIN UNNEST($1::text[], $2::int[]) AS u(decision_id, benefit_month) \
           ON m.decision_id = u.decision_id AND m.benefit_month = u.benefit_month",
    )
    .bind(decision_ids)
    .bind(months)
    .fetch_all(conn)
    .await
}

/// Records that `version` of the decision has been applied.
pub async fn set_version(
    conn: &mut PgConnection,
    decision_id: &str,
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE decisions SET version = $2 WHERE decision_id = $1")
        .bind(decision_id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a benefit month suspended.
pub async fn suspend_month(
    conn: &mut PgConnection,
    decision_id: &str,
    month: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO suspended_months (decision_id, benefit_month) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(decision_id)
    .bind(month)
    .execute(conn)
    .await?;
    Ok(())
}

/// The suspended months of a decision.
pub async fn suspended_months(
    conn: &mut PgConnection,
    decision_id: &str,
) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar("SELECT benefit_month FROM suspended_months WHERE decision_id = $1")
        .bind(decision_id)
        .fetch_all(conn)
        .await
}

/// The stored first day of a benefit month, if the decision listed it.
pub async fn month_start(
    conn: &mut PgConnection,
    decision_id: &str,
    month: i32,
) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar(
        "SELECT month_start FROM decision_months WHERE decision_id = $1 AND benefit_month = $2",
    )
    .bind(decision_id)
    .bind(month)
    .fetch_optional(conn)
    .await
}

/// Records a termination.
pub async fn terminate(
    conn: &mut PgConnection,
    decision_id: &str,
    reason: i32,
    effective: NaiveDate,
    received_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE decisions SET termination_reason = $2, termination_effective = $3, \
         termination_received_at = $4 WHERE decision_id = $1",
    )
    .bind(decision_id)
    .bind(reason)
    .bind(effective)
    .bind(received_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A destination as stored: bank id, kind code, number, holder.
#[derive(Debug, Clone)]
pub struct StoredDestination {
    /// Bank id.
    pub bank_id: String,
    /// Kind code.
    pub kind: i16,
    /// Number, sealed, with its digest.
    pub number: SealedNumber,
    /// Holder's name.
    pub holder_name: String,
}

/// Points the decision, and its entitlements not yet listed, at a new destination.
pub async fn change_destination(
    conn: &mut PgConnection,
    decision_id: &str,
    destination: &StoredDestination,
    changed_by: &[String],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE decisions SET bank_id = $2, destination_kind = $3, destination_sealed = $4, \
         destination_digest = $5, holder_name = $6, destination_changed_by = $7 \
         WHERE decision_id = $1",
    )
    .bind(decision_id)
    .bind(&destination.bank_id)
    .bind(destination.kind)
    .bind(&destination.number.sealed)
    .bind(&destination.number.digest)
    .bind(&destination.holder_name)
    .bind(changed_by)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE entitlements SET bank_id = $2, destination_kind = $3, destination_sealed = $4, \
         destination_digest = $5, holder_name = $6 \
         WHERE decision_id = $1 AND state IN ('pending', 'held')",
    )
    .bind(decision_id)
    .bind(&destination.bank_id)
    .bind(destination.kind)
    .bind(&destination.number.sealed)
    .bind(&destination.number.digest)
    .bind(&destination.holder_name)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a check-in whose decision has not arrived yet.
pub async fn wait_checkin(
    conn: &mut PgConnection,
    decision_id: &str,
    month: i32,
    scanned_at: DateTime<Utc>,
    traceparent: &str,
    received_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO waiting_checkins (decision_id, benefit_month, scanned_at, received_at, \
         traceparent) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(decision_id)
    .bind(month)
    .bind(scanned_at)
    .bind(received_at)
    .bind(traceparent)
    .execute(conn)
    .await?;
    Ok(())
}

/// A check-in stored to wait for its decision.
#[derive(Debug, Clone)]
pub struct WaitingCheckin {
    /// Decision it names.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// When it was scanned.
    pub scanned_at: DateTime<Utc>,
    /// Its W3C traceparent, empty when it carried none.
    pub traceparent: String,
}

/// Stores check-ins whose decision has not arrived yet, in one statement: the batch form of
/// [`wait_checkin`]. A month already waiting keeps the check-in stored first.
pub async fn wait_checkins(
    conn: &mut PgConnection,
    checkins: &[WaitingCheckin],
    received_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    if checkins.is_empty() {
        return Ok(());
    }
    let decision_ids: Vec<&str> = checkins.iter().map(|c| c.decision_id.as_str()).collect();
    let months: Vec<i32> = checkins.iter().map(|c| c.benefit_month).collect();
    let scanned: Vec<DateTime<Utc>> = checkins.iter().map(|c| c.scanned_at).collect();
    let traceparents: Vec<&str> = checkins.iter().map(|c| c.traceparent.as_str()).collect();
    sqlx::query(
        "INSERT INTO waiting_checkins (decision_id, benefit_month, scanned_at, received_at, \
         traceparent) \
         SELECT d, m, s, $5, t FROM UNNEST($1::text[], $2::int[], $3::timestamptz[], $4::text[]) \
           AS u(d, m, s, t) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&decision_ids)
    .bind(&months)
    .bind(&scanned)
    .bind(&traceparents)
    .bind(received_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes and returns the check-ins that waited for the decision: benefit month, scan time
/// and the check-in's traceparent.
pub async fn take_waiting_checkins(
    conn: &mut PgConnection,
    decision_id: &str,
) -> sqlx::Result<Vec<(i32, DateTime<Utc>, String)>> {
    sqlx::query_as(
        "DELETE FROM waiting_checkins WHERE decision_id = $1 \
         RETURNING benefit_month, scanned_at, traceparent",
    )
    .bind(decision_id)
    .fetch_all(conn)
    .await
}

/// A new entitlement.
#[derive(Debug, Clone)]
pub struct NewEntitlement {
    /// Its id.
    pub entitlement_id: Uuid,
    /// Decision.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// Amount in đồng.
    pub amount_dong: i64,
    /// Province.
    pub province: String,
    /// Destination in force.
    pub destination: StoredDestination,
    /// Legal payment deadline.
    pub payment_by: NaiveDate,
    /// First day of the calendar month it was earned in.
    pub earned_month: NaiveDate,
    /// When the check-in was recorded.
    pub scanned_at: DateTime<Utc>,
    /// The check-in's W3C traceparent, empty when it carried none.
    pub traceparent: String,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// Inserts an entitlement; false when the month already has one.
pub async fn insert_entitlement(conn: &mut PgConnection, e: &NewEntitlement) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO entitlements (entitlement_id, decision_id, benefit_month, amount_dong, \
         province, bank_id, destination_kind, destination_sealed, destination_digest, \
         holder_name, payment_by, earned_month, scanned_at, created_at, traceparent, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'pending') \
         ON CONFLICT (decision_id, benefit_month) DO NOTHING",
    )
    .bind(e.entitlement_id)
    .bind(&e.decision_id)
    .bind(e.benefit_month)
    .bind(e.amount_dong)
    .bind(&e.province)
    .bind(&e.destination.bank_id)
    .bind(e.destination.kind)
    .bind(&e.destination.number.sealed)
    .bind(&e.destination.number.digest)
    .bind(&e.destination.holder_name)
    .bind(e.payment_by)
    .bind(e.earned_month)
    .bind(e.scanned_at)
    .bind(e.created_at)
    .bind(&e.traceparent)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts entitlements in one statement, the batch form of [`insert_entitlement`]; returns
/// the (decision, benefit month) of those created, the others' months having one already.
pub async fn insert_entitlements(
    conn: &mut PgConnection,
    entitlements: &[NewEntitlement],
) -> sqlx::Result<Vec<(String, i32)>> {
    if entitlements.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = entitlements.iter().map(|e| e.entitlement_id).collect();
    let decision_ids: Vec<&str> = entitlements
        .iter()
        .map(|e| e.decision_id.as_str())
        .collect();
    let months: Vec<i32> = entitlements.iter().map(|e| e.benefit_month).collect();
    let amounts: Vec<i64> = entitlements.iter().map(|e| e.amount_dong).collect();
    let provinces: Vec<&str> = entitlements.iter().map(|e| e.province.as_str()).collect();
    let banks: Vec<&str> = entitlements
        .iter()
        .map(|e| e.destination.bank_id.as_str())
        .collect();
    let kinds: Vec<i16> = entitlements.iter().map(|e| e.destination.kind).collect();
    let sealed: Vec<&[u8]> = entitlements
        .iter()
        .map(|e| e.destination.number.sealed.as_slice())
        .collect();
    let digests: Vec<&[u8]> = entitlements
        .iter()
        .map(|e| e.destination.number.digest.as_slice())
        .collect();
    let holders: Vec<&str> = entitlements
        .iter()
        .map(|e| e.destination.holder_name.as_str())
        .collect();
    let payment_by: Vec<NaiveDate> = entitlements.iter().map(|e| e.payment_by).collect();
    let earned: Vec<NaiveDate> = entitlements.iter().map(|e| e.earned_month).collect();
    let scanned: Vec<DateTime<Utc>> = entitlements.iter().map(|e| e.scanned_at).collect();
    let created: Vec<DateTime<Utc>> = entitlements.iter().map(|e| e.created_at).collect();
    let traceparents: Vec<&str> = entitlements
        .iter()
        .map(|e| e.traceparent.as_str())
        .collect();
    sqlx::query_as(
        "INSERT INTO entitlements (entitlement_id, decision_id, benefit_month, amount_dong, \
         province, bank_id, destination_kind, destination_sealed, destination_digest, \
         holder_name, payment_by, earned_month, scanned_at, created_at, traceparent, state) \
         SELECT *, 'pending' FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::bigint[], \
           $5::text[], $6::text[], $7::smallint[], $8::bytea[], $9::bytea[], $10::text[], \
           $11::date[], $12::date[], $13::timestamptz[], $14::timestamptz[], $15::text[]) \
         ON CONFLICT (decision_id, benefit_month) DO NOTHING \
         RETURNING decision_id, benefit_month",
    )
    .bind(&ids)
    .bind(&decision_ids)
    .bind(&months)
    .bind(&amounts)
    .bind(&provinces)
    .bind(&banks)
    .bind(&kinds)
    .bind(&sealed)
    .bind(&digests)
    .bind(&holders)
    .bind(&payment_by)
    .bind(&earned)
    .bind(&scanned)
    .bind(&created)
    .bind(&traceparents)
    .fetch_all(conn)
    .await
}

/// An entitlement's month and state, for the termination's effects.
#[derive(Debug, Clone, FromRow)]
pub struct MonthState {
    /// Entitlement id.
    pub entitlement_id: Uuid,
    /// Benefit month.
    pub benefit_month: i32,
    /// State.
    pub state: String,
}

/// Every entitlement of a decision, locked.
pub async fn lock_entitlements_of(
    conn: &mut PgConnection,
    decision_id: &str,
) -> sqlx::Result<Vec<MonthState>> {
    sqlx::query_as(
        "SELECT entitlement_id, benefit_month, state FROM entitlements \
         WHERE decision_id = $1 ORDER BY benefit_month FOR UPDATE",
    )
    .bind(decision_id)
    .fetch_all(conn)
    .await
}

/// Cancels an unpaid entitlement because of a termination.
pub async fn cancel_for_termination(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
    reason: i32,
    note: &str,
    cancel: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entitlements SET termination_reason = $2, decision_note = $3, \
         state = CASE WHEN $4 THEN 'cancelled' ELSE state END WHERE entitlement_id = $1",
    )
    .bind(entitlement_id)
    .bind(reason)
    .bind(note)
    .bind(cancel)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks an entitlement whose month the termination still pays, so the cut holds it.
pub async fn flag_terminated_after_checkin(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entitlements SET terminated_after_checkin = true WHERE entitlement_id = $1",
    )
    .bind(entitlement_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records money paid for a cancelled month as a debt; nothing when it is already recorded.
pub async fn record_debt(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO debts (debt_id, entitlement_id, decision_id, benefit_month, amount_dong, \
         termination_reason, effective_date, created_at) \
         SELECT $2, e.entitlement_id, e.decision_id, e.benefit_month, e.amount_dong, \
                d.termination_reason, d.termination_effective, $3 \
         FROM entitlements e JOIN decisions d ON d.decision_id = e.decision_id \
         WHERE e.entitlement_id = $1 AND d.termination_reason IS NOT NULL \
           AND d.termination_effective IS NOT NULL \
         ON CONFLICT (entitlement_id) DO NOTHING",
    )
    .bind(entitlement_id)
    .bind(Uuid::new_v4())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A pending entitlement with what the cut needs to judge it.
#[derive(Debug, Clone, FromRow)]
pub struct CandidateRow {
    /// Entitlement id.
    pub entitlement_id: Uuid,
    /// Decision.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// Amount on the entitlement.
    pub amount_dong: i64,
    /// Province.
    pub province: String,
    /// Bank id.
    pub bank_id: String,
    /// Kind code.
    pub destination_kind: i16,
    /// Number, sealed.
    pub destination_sealed: Vec<u8>,
    /// Keyed digest of the number.
    pub destination_digest: Vec<u8>,
    /// Holder.
    pub holder_name: String,
    /// Deadline.
    pub payment_by: NaiveDate,
    /// Calendar month earned in.
    pub earned_month: NaiveDate,
    /// When the check-in that earned it was scanned.
    pub scanned_at: DateTime<Utc>,
    /// The check-in's W3C traceparent.
    pub traceparent: String,
    /// The decision's current amount.
    pub decision_amount: i64,
    /// True when a termination arrived after the check-in that earned it.
    pub terminated_after_checkin: bool,
    /// Bank id of the decision's previous listed or paid month.
    pub previous_bank_id: Option<String>,
    /// Digest of the number of the decision's previous listed or paid month.
    pub previous_digest: Option<Vec<u8>>,
}

const CANDIDATE_COLUMNS: &str = "e.entitlement_id, e.decision_id, e.benefit_month, \
    e.amount_dong, e.province, e.bank_id, e.destination_kind, e.destination_sealed, \
    e.destination_digest, e.holder_name, e.payment_by, e.earned_month, e.scanned_at, \
    e.traceparent, d.amount_dong AS decision_amount, e.terminated_after_checkin, \
    prev.bank_id AS previous_bank_id, prev.destination_digest AS previous_digest \
    FROM entitlements e \
    JOIN decisions d ON d.decision_id = e.decision_id \
    LEFT JOIN LATERAL ( \
        SELECT p.bank_id, p.destination_digest FROM entitlements p \
        WHERE p.decision_id = e.decision_id AND p.benefit_month < e.benefit_month \
          AND p.state IN ('listed', 'paid', 'parked') \
        ORDER BY p.benefit_month DESC LIMIT 1) prev ON true";

/// The oldest pending entitlements, locked; other instances skip them.
pub async fn lock_pending(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<CandidateRow>> {
    sqlx::query_as(&format!(
        "SELECT {CANDIDATE_COLUMNS} WHERE e.state = 'pending' \
         ORDER BY e.created_at, e.entitlement_id LIMIT $1 FOR UPDATE OF e SKIP LOCKED"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// How many entitlements wait to be cut, counting at most `limit`.
pub async fn pending_count(conn: &mut PgConnection, limit: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM entitlements WHERE state = 'pending' LIMIT $1) p",
    )
    .bind(limit)
    .fetch_one(conn)
    .await
}

/// Who is paid on each of the numbers with `digests` in the given calendar months: (bank id,
/// number digest, person, earned month) of every live entitlement.
pub async fn month_payees(
    conn: &mut PgConnection,
    digests: &[Vec<u8>],
    months: &[NaiveDate],
) -> sqlx::Result<Vec<(String, Vec<u8>, String, NaiveDate)>> {
    // Joined from the distinct digests rather than filtered by `= ANY($1)`: with thousands of
    // digests the planner scans every entitlement for the filter, a cost that grows with the
    // month; the join probes the digest index once per digest.
    sqlx::query_as(
        "SELECT e.bank_id, e.destination_digest, d.person_id, e.earned_month \
         FROM (SELECT DISTINCT digest FROM UNNEST($1::bytea[]) AS q(digest)) q \
         JOIN entitlements e ON e.destination_digest = q.digest \
         JOIN decisions d ON d.decision_id = e.decision_id \
         WHERE e.earned_month = ANY($2) AND e.state <> 'cancelled'",
    )
    .bind(digests)
    .bind(months)
    .fetch_all(conn)
    .await
}

/// Holds a line for an officer.
pub async fn hold(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
    reasons: &[i16],
    explanation: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entitlements SET state = 'held', hold_reasons = $2, hold_explanation = $3, \
         held_at = $4 WHERE entitlement_id = $1",
    )
    .bind(entitlement_id)
    .bind(reasons)
    .bind(explanation)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A list's header as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ListRow {
    /// List id.
    pub list_id: Uuid,
    /// Province.
    pub province: String,
    /// Number of lines.
    pub line_count: i64,
    /// Sum in đồng.
    pub sum_dong: i64,
    /// SHA-256 of the content.
    pub content_hash: Vec<u8>,
    /// Signing key id.
    pub key_id: String,
    /// Signature.
    pub signature: Vec<u8>,
    /// Chunks published.
    pub chunk_count: i32,
    /// When it was cut.
    pub created_at: DateTime<Utc>,
    /// Officer whose key signed it; unset when the policy key did.
    pub signed_by_officer_id: Option<String>,
    /// That officer's agency code.
    pub signed_by_agency: Option<i16>,
    /// When transfer refused it, if it did.
    pub refused_at: Option<DateTime<Utc>>,
}

/// One step of a list's trail as stored.
#[derive(Debug, Clone, FromRow)]
pub struct StepRow {
    /// Action code.
    pub action: i16,
    /// When.
    pub at: DateTime<Utc>,
    /// Officer, unset for automatic steps.
    pub officer_id: Option<String>,
    /// Officer's agency code.
    pub officer_agency: Option<i16>,
    /// Note.
    pub note: String,
}

/// A list to write: its header, its trail in order and its entitlements in list order.
#[derive(Debug, Clone)]
pub struct NewList {
    /// The header.
    pub row: ListRow,
    /// The trail, in order.
    pub trail: Vec<StepRow>,
    /// The entitlements it pays, in list order.
    pub entitlement_ids: Vec<Uuid>,
}

/// Writes lists, their trails, and marks their entitlements listed in order: three statements
/// whatever the number of lists, as one cut writes one list per province.
pub async fn insert_lists(conn: &mut PgConnection, lists: &[NewList]) -> sqlx::Result<()> {
    let rows: Vec<&ListRow> = lists.iter().map(|list| &list.row).collect();
    sqlx::query(
        "INSERT INTO payment_lists (list_id, province, line_count, sum_dong, content_hash, \
         key_id, signature, chunk_count, created_at, signed_by_officer_id, signed_by_agency) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[], \
         $6::text[], $7::bytea[], $8::int[], $9::timestamptz[], $10::text[], $11::smallint[])",
    )
    .bind(rows.iter().map(|r| r.list_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.province.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.line_count).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sum_dong).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.content_hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.key_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.signature.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.chunk_count).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.signed_by_officer_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.signed_by_agency).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;

    let mut step_lists = Vec::new();
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    let mut ats = Vec::new();
    let mut officers = Vec::new();
    let mut agencies = Vec::new();
    let mut notes = Vec::new();
    for list in lists {
        for (step, row) in list.trail.iter().enumerate() {
            step_lists.push(list.row.list_id);
            steps.push(i32::try_from(step).unwrap_or(i32::MAX));
            actions.push(row.action);
            ats.push(row.at);
            officers.push(row.officer_id.clone());
            agencies.push(row.officer_agency);
            notes.push(row.note.clone());
        }
    }
    sqlx::query(
        "INSERT INTO list_approvals (list_id, step, action, at, officer_id, officer_agency, \
         note) SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::smallint[], \
         $4::timestamptz[], $5::text[], $6::smallint[], $7::text[])",
    )
    .bind(&step_lists)
    .bind(&steps)
    .bind(&actions)
    .bind(&ats)
    .bind(&officers)
    .bind(&agencies)
    .bind(&notes)
    .execute(&mut *conn)
    .await?;

    let mut ids = Vec::new();
    let mut line_lists = Vec::new();
    let mut positions = Vec::new();
    for list in lists {
        for (position, id) in list.entitlement_ids.iter().enumerate() {
            ids.push(*id);
            line_lists.push(list.row.list_id);
            positions.push(i32::try_from(position).unwrap_or(i32::MAX));
        }
    }
    sqlx::query(
        "UPDATE entitlements e SET state = 'listed', list_id = u.list_id, \
         list_position = u.position \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::int[]) AS u(id, list_id, position) \
         WHERE e.entitlement_id = u.id",
    )
    .bind(&ids)
    .bind(&line_lists)
    .bind(&positions)
    .execute(conn)
    .await?;
    Ok(())
}

/// A list's header, if it exists.
pub async fn list(conn: &mut PgConnection, list_id: Uuid) -> sqlx::Result<Option<ListRow>> {
    sqlx::query_as(
        "SELECT list_id, province, line_count, sum_dong, content_hash, key_id, signature, \
         chunk_count, created_at, signed_by_officer_id, signed_by_agency, refused_at \
         FROM payment_lists WHERE list_id = $1",
    )
    .bind(list_id)
    .fetch_optional(conn)
    .await
}

/// A list's trail in order.
pub async fn trail(conn: &mut PgConnection, list_id: Uuid) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as(
        "SELECT action, at, officer_id, officer_agency, note FROM list_approvals \
         WHERE list_id = $1 ORDER BY step",
    )
    .bind(list_id)
    .fetch_all(conn)
    .await
}

/// A listed entitlement as a line.
#[derive(Debug, Clone, FromRow)]
pub struct LineRow {
    /// Entitlement id.
    pub entitlement_id: Uuid,
    /// Decision.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// Amount.
    pub amount_dong: i64,
    /// Deadline.
    pub payment_by: NaiveDate,
    /// Bank id.
    pub bank_id: String,
    /// Kind code.
    pub destination_kind: i16,
    /// Number, sealed.
    pub destination_sealed: Vec<u8>,
    /// Holder.
    pub holder_name: String,
}

/// A page of a list's lines in list order.
pub async fn list_lines(
    conn: &mut PgConnection,
    list_id: Uuid,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<LineRow>> {
    sqlx::query_as(
        "SELECT entitlement_id, decision_id, benefit_month, amount_dong, payment_by, bank_id, \
         destination_kind, destination_sealed, holder_name FROM entitlements \
         WHERE list_id = $1 ORDER BY list_position OFFSET $2 LIMIT $3",
    )
    .bind(list_id)
    .bind(offset)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A held line as officers see it.
#[derive(Debug, Clone, FromRow)]
pub struct HeldRow {
    /// Entitlement id.
    pub entitlement_id: Uuid,
    /// Decision.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// Amount.
    pub amount_dong: i64,
    /// Province.
    pub province: String,
    /// Deadline.
    pub payment_by: NaiveDate,
    /// Bank id.
    pub bank_id: String,
    /// Kind code.
    pub destination_kind: i16,
    /// Number, sealed.
    pub destination_sealed: Vec<u8>,
    /// Holder.
    pub holder_name: String,
    /// Reason codes.
    pub hold_reasons: Vec<i16>,
    /// Facts behind them.
    pub hold_explanation: String,
    /// When held.
    pub held_at: Option<DateTime<Utc>>,
    /// Officers who last changed the decision's destination.
    pub destination_changed_by: Vec<String>,
    /// When the check-in that earned it was scanned.
    pub scanned_at: DateTime<Utc>,
    /// The check-in's W3C traceparent.
    pub traceparent: String,
}

const HELD_COLUMNS: &str = "e.entitlement_id, e.decision_id, e.benefit_month, e.amount_dong, \
    e.province, e.payment_by, e.bank_id, e.destination_kind, e.destination_sealed, \
    e.holder_name, e.hold_reasons, e.hold_explanation, e.held_at, d.destination_changed_by, \
    e.scanned_at, e.traceparent FROM entitlements e JOIN decisions d ON d.decision_id = e.decision_id";

/// A page of held lines, oldest first.
pub async fn held_lines(
    conn: &mut PgConnection,
    province: Option<&str>,
    reason: Option<i16>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<HeldRow>> {
    sqlx::query_as(&format!(
        "SELECT {HELD_COLUMNS} WHERE e.state = 'held' \
         AND ($1::text IS NULL OR e.province = $1) \
         AND ($2::smallint IS NULL OR $2 = ANY(e.hold_reasons)) \
         ORDER BY e.held_at, e.entitlement_id OFFSET $3 LIMIT $4"
    ))
    .bind(province)
    .bind(reason)
    .bind(offset)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// An entitlement with its state, locked, for an officer's decision on it.
pub async fn lock_entitlement(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
) -> sqlx::Result<Option<(HeldRow, String)>> {
    #[derive(FromRow)]
    struct Locked {
        #[sqlx(flatten)]
        row: HeldRow,
        state: String,
    }
    let locked: Option<Locked> = sqlx::query_as(
        "SELECT e.entitlement_id, e.decision_id, e.benefit_month, e.amount_dong, e.province, \
         e.payment_by, e.bank_id, e.destination_kind, e.destination_sealed, e.holder_name, \
         e.hold_reasons, e.hold_explanation, e.held_at, d.destination_changed_by, \
         e.scanned_at, e.traceparent, e.state \
         FROM entitlements e JOIN decisions d ON d.decision_id = e.decision_id \
         WHERE e.entitlement_id = $1 FOR UPDATE OF e",
    )
    .bind(entitlement_id)
    .fetch_optional(conn)
    .await?;
    Ok(locked.map(|locked| (locked.row, locked.state)))
}

/// Records an officer's release or cancellation of a held line.
pub async fn decide_held(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
    state: &str,
    officer_id: &str,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entitlements SET state = $2, decided_by = $3, decision_note = $4 \
         WHERE entitlement_id = $1",
    )
    .bind(entitlement_id)
    .bind(state)
    .bind(officer_id)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// What applying a transfer outcome needs of its entitlement.
#[derive(Debug, Clone, FromRow)]
pub struct OutcomeTarget {
    /// State.
    pub state: String,
    /// Set when a termination cancelled its month.
    pub termination_reason: Option<i32>,
    /// When the check-in that earned it was scanned.
    pub scanned_at: DateTime<Utc>,
    /// Bank id of its destination.
    pub bank_id: String,
}

/// An entitlement's state and whether a termination cancelled its month, locked.
pub async fn lock_outcome_target(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
) -> sqlx::Result<Option<OutcomeTarget>> {
    sqlx::query_as(
        "SELECT state, termination_reason, scanned_at, bank_id FROM entitlements \
         WHERE entitlement_id = $1 FOR UPDATE",
    )
    .bind(entitlement_id)
    .fetch_optional(conn)
    .await
}

/// The entitlements among `entitlement_ids` with what applying an outcome needs, locked in
/// id order: the batch form of [`lock_outcome_target`]. An unknown id has no row.
pub async fn lock_outcome_targets(
    conn: &mut PgConnection,
    entitlement_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, OutcomeTarget)>> {
    let rows: Vec<IdentifiedTarget> = sqlx::query_as(
        "SELECT entitlement_id, state, termination_reason, scanned_at, bank_id \
         FROM entitlements WHERE entitlement_id = ANY($1) \
         ORDER BY entitlement_id FOR UPDATE",
    )
    .bind(entitlement_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.entitlement_id, row.target))
        .collect())
}

#[derive(FromRow)]
struct IdentifiedTarget {
    entitlement_id: Uuid,
    #[sqlx(flatten)]
    target: OutcomeTarget,
}

/// Sets the states of entitlements after their transfer outcomes, in one statement: the batch
/// form of [`set_outcome_state`]. Each id appears once.
pub async fn set_outcome_states(
    conn: &mut PgConnection,
    changes: &[(Uuid, &str)],
) -> sqlx::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = changes.iter().map(|(id, _)| *id).collect();
    let states: Vec<&str> = changes.iter().map(|(_, state)| *state).collect();
    sqlx::query(
        "UPDATE entitlements e SET state = u.state, \
         failed_attempts = e.failed_attempts \
           + CASE WHEN u.state IN ('parked', 'failed') THEN 1 ELSE 0 END \
         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, state) \
         WHERE e.entitlement_id = u.id",
    )
    .bind(&ids)
    .bind(&states)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets an entitlement's state after a transfer outcome; a parked or failed one counts as a
/// failed attempt.
pub async fn set_outcome_state(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
    state: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entitlements SET state = $2, \
         failed_attempts = failed_attempts + CASE WHEN $2 IN ('parked', 'failed') THEN 1 ELSE 0 END \
         WHERE entitlement_id = $1",
    )
    .bind(entitlement_id)
    .bind(state)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a check-in window that closed without a check-in.
pub async fn record_missed_checkin(
    conn: &mut PgConnection,
    decision_id: &str,
    month: i32,
    missed_month: NaiveDate,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO missed_checkins (decision_id, benefit_month, missed_month) \
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(decision_id)
    .bind(month)
    .bind(missed_month)
    .execute(conn)
    .await?;
    Ok(())
}

/// One province's figures for one calendar month, from the entitlements earned in it.
#[derive(Debug, Clone, Default, FromRow)]
pub struct EntitlementStats {
    /// First day of the month.
    pub month: NaiveDate,
    /// Province.
    pub province: String,
    /// Beneficiaries whose check-in earned an entitlement.
    pub checked_in: i64,
    /// Entitlements created.
    pub entitlements: i64,
    /// Amount put on approved lists.
    pub approved_dong: i64,
    /// Amount credited.
    pub paid_dong: i64,
    /// Credits to cards.
    pub paid_to_cards: i64,
    /// Amount credited to cards.
    pub paid_to_cards_dong: i64,
    /// Credits to accounts.
    pub paid_to_accounts: i64,
    /// Amount credited to accounts.
    pub paid_to_accounts_dong: i64,
    /// Lines held for an officer.
    pub held_lines: i64,
    /// Entitlements with a parked or failed transfer.
    pub failed_transfers: i64,
    /// Entitlements credited after a failed attempt.
    pub repaid_transfers: i64,
    /// Median seconds from the scan to the list carrying the payment.
    pub median_seconds: Option<f64>,
}

/// Figures per month and province from entitlements earned between `from` and `to`.
pub async fn entitlement_stats(
    conn: &mut PgConnection,
    province: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<EntitlementStats>> {
    sqlx::query_as(
        "SELECT e.earned_month AS month, e.province, \
           count(DISTINCT e.decision_id) AS checked_in, \
           count(*) AS entitlements, \
           coalesce(sum(e.amount_dong) FILTER (WHERE e.list_id IS NOT NULL), 0)::bigint AS approved_dong, \
           coalesce(sum(e.amount_dong) FILTER (WHERE e.state = 'paid'), 0)::bigint AS paid_dong, \
           count(*) FILTER (WHERE e.state = 'paid' AND e.destination_kind = 1) AS paid_to_cards, \
           coalesce(sum(e.amount_dong) FILTER (WHERE e.state = 'paid' AND e.destination_kind = 1), 0)::bigint \
             AS paid_to_cards_dong, \
           count(*) FILTER (WHERE e.state = 'paid' AND e.destination_kind = 2) AS paid_to_accounts, \
           coalesce(sum(e.amount_dong) FILTER (WHERE e.state = 'paid' AND e.destination_kind = 2), 0)::bigint \
             AS paid_to_accounts_dong, \
           count(*) FILTER (WHERE e.held_at IS NOT NULL) AS held_lines, \
           count(*) FILTER (WHERE e.failed_attempts > 0) AS failed_transfers, \
           count(*) FILTER (WHERE e.state = 'paid' AND e.failed_attempts > 0) AS repaid_transfers, \
           percentile_cont(0.5) WITHIN GROUP \
             (ORDER BY extract(epoch FROM l.created_at - e.scanned_at)::double precision) \
             FILTER (WHERE l.list_id IS NOT NULL) AS median_seconds \
         FROM entitlements e LEFT JOIN payment_lists l ON l.list_id = e.list_id \
         WHERE e.earned_month BETWEEN $1 AND $2 AND ($3::text IS NULL OR e.province = $3) \
         GROUP BY e.earned_month, e.province",
    )
    .bind(from)
    .bind(to)
    .bind(province)
    .fetch_all(conn)
    .await
}

/// Lists cut per month (Vietnam time) and province.
pub async fn list_counts(
    conn: &mut PgConnection,
    province: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<(NaiveDate, String, i64)>> {
    sqlx::query_as(
        "SELECT month, province, count(*) FROM ( \
           SELECT date_trunc('month', (created_at AT TIME ZONE 'UTC') + interval '7 hours')::date \
             AS month, province FROM payment_lists) l \
         WHERE month BETWEEN $1 AND $2 AND ($3::text IS NULL OR province = $3) \
         GROUP BY month, province",
    )
    .bind(from)
    .bind(to)
    .bind(province)
    .fetch_all(conn)
    .await
}

/// Missed check-ins per month and province (of decisions payroll knows).
pub async fn missed_counts(
    conn: &mut PgConnection,
    province: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<(NaiveDate, String, i64)>> {
    sqlx::query_as(
        "SELECT m.missed_month, d.province, count(*) FROM missed_checkins m \
         JOIN decisions d ON d.decision_id = m.decision_id \
         WHERE m.missed_month BETWEEN $1 AND $2 AND ($3::text IS NULL OR d.province = $3) \
         GROUP BY m.missed_month, d.province",
    )
    .bind(from)
    .bind(to)
    .bind(province)
    .fetch_all(conn)
    .await
}

/// A debt as officers see it.
#[derive(Debug, Clone, FromRow)]
pub struct DebtRow {
    /// Debt id.
    pub debt_id: Uuid,
    /// Entitlement paid by mistake.
    pub entitlement_id: Uuid,
    /// Decision.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// Amount to recover.
    pub amount_dong: i64,
    /// Termination reason code.
    pub termination_reason: i32,
    /// Termination effective date.
    pub effective_date: NaiveDate,
    /// open, recovered or waived.
    pub state: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A page of debts, newest first.
pub async fn debts(
    conn: &mut PgConnection,
    province: Option<&str>,
    decision_id: Option<&str>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<DebtRow>> {
    sqlx::query_as(
        "SELECT b.debt_id, b.entitlement_id, b.decision_id, b.benefit_month, b.amount_dong, \
         b.termination_reason, b.effective_date, b.state, b.created_at \
         FROM debts b JOIN decisions d ON d.decision_id = b.decision_id \
         WHERE ($1::text IS NULL OR d.province = $1) AND ($2::text IS NULL OR b.decision_id = $2) \
         ORDER BY b.created_at DESC, b.debt_id OFFSET $3 LIMIT $4",
    )
    .bind(province)
    .bind(decision_id)
    .bind(offset)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Rows of `table` (decisions or entitlements) whose number is still stored in clear: key and
/// number, at most `limit`.
pub async fn clear_numbers(
    conn: &mut PgConnection,
    table: ClearTable,
    limit: i64,
) -> sqlx::Result<Vec<(String, String)>> {
    let sql = match table {
        ClearTable::Decisions => {
            "SELECT decision_id, destination_number FROM decisions \
             WHERE destination_number IS NOT NULL LIMIT $1"
        }
        ClearTable::Entitlements => {
            "SELECT entitlement_id::text, destination_number FROM entitlements \
             WHERE destination_number IS NOT NULL LIMIT $1"
        }
    };
    sqlx::query_as(sql).bind(limit).fetch_all(conn).await
}

/// A table that stored numbers in clear before they were sealed.
#[derive(Debug, Clone, Copy)]
pub enum ClearTable {
    /// `decisions`.
    Decisions,
    /// `entitlements`.
    Entitlements,
}

/// Replaces clear numbers by their sealed form and digest, by row key.
pub async fn seal_numbers(
    conn: &mut PgConnection,
    table: ClearTable,
    keys: &[String],
    sealed: &[Vec<u8>],
    digests: &[Vec<u8>],
) -> sqlx::Result<()> {
    let sql = match table {
        ClearTable::Decisions => {
            "UPDATE decisions t SET destination_sealed = u.sealed, destination_digest = u.digest, \
             destination_number = NULL \
             FROM UNNEST($1::text[], $2::bytea[], $3::bytea[]) AS u(key, sealed, digest) \
             WHERE t.decision_id = u.key"
        }
        ClearTable::Entitlements => {
            "UPDATE entitlements t SET destination_sealed = u.sealed, \
             destination_digest = u.digest, destination_number = NULL \
             FROM UNNEST($1::text[], $2::bytea[], $3::bytea[]) AS u(key, sealed, digest) \
             WHERE t.entitlement_id = u.key::uuid"
        }
    };
    sqlx::query(sql)
        .bind(keys)
        .bind(sealed)
        .bind(digests)
        .execute(conn)
        .await?;
    Ok(())
}

/// A list signing key as stored, without its sealed seed.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    /// Key id.
    pub key_id: String,
    /// Officer whose approvals it signs; unset for policy keys.
    pub officer_id: Option<String>,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// active, verify_only or retired.
    pub state: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When retired.
    pub retired_at: Option<DateTime<Utc>>,
}

const KEY_COLUMNS: &str = "key_id, officer_id, public_key, state, created_at, retired_at";

/// A new list signing key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Key id.
    pub key_id: String,
    /// Officer whose approvals it signs; unset for policy keys.
    pub officer_id: Option<String>,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// The seed, sealed.
    pub seed_sealed: Vec<u8>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Operator who created it; unset for the configured first policy key.
    pub created_by: Option<String>,
}

/// Serializes rotations and retirements until the transaction ends.
pub async fn lock_keys(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('payroll.signing_keys', 0))")
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores the configured first policy key unless a policy key is already known; false when
/// one was.
pub async fn insert_first_policy_key(conn: &mut PgConnection, key: &NewKey) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO signing_keys (key_id, officer_id, public_key, seed_sealed, state, created_at) \
         SELECT $1, NULL, $2, $3, 'active', $4 \
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE officer_id IS NULL) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&key.key_id)
    .bind(&key.public_key)
    .bind(&key.seed_sealed)
    .bind(key.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The signer's active key id and sealed seed, locked against rotation and retirement until
/// the transaction ends; `officer_id` unset for the policy key.
pub async fn active_key(
    conn: &mut PgConnection,
    officer_id: Option<&str>,
) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT key_id, seed_sealed FROM signing_keys \
         WHERE state = 'active' AND officer_id IS NOT DISTINCT FROM $1 FOR SHARE",
    )
    .bind(officer_id)
    .fetch_optional(conn)
    .await
}

/// Demotes the signer's active key to verify-only and stores `key` as its active key.
pub async fn rotate_key(conn: &mut PgConnection, key: &NewKey) -> sqlx::Result<KeyRow> {
    sqlx::query(
        "UPDATE signing_keys SET state = 'verify_only' \
         WHERE state = 'active' AND officer_id IS NOT DISTINCT FROM $1",
    )
    .bind(&key.officer_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(&format!(
        "INSERT INTO signing_keys (key_id, officer_id, public_key, seed_sealed, state, \
         created_at, created_by) VALUES ($1, $2, $3, $4, 'active', $5, $6) \
         RETURNING {KEY_COLUMNS}"
    ))
    .bind(&key.key_id)
    .bind(&key.officer_id)
    .bind(&key.public_key)
    .bind(&key.seed_sealed)
    .bind(key.created_at)
    .bind(&key.created_by)
    .fetch_one(conn)
    .await
}

/// A key, locked.
pub async fn lock_key(conn: &mut PgConnection, key_id: &str) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys WHERE key_id = $1 FOR UPDATE"
    ))
    .bind(key_id)
    .fetch_optional(conn)
    .await
}

/// Retires a key for good.
pub async fn retire_key(
    conn: &mut PgConnection,
    key_id: &str,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<KeyRow> {
    sqlx::query_as(&format!(
        "UPDATE signing_keys SET state = 'retired', retired_at = $2, retired_by = $3, \
         retired_reason = $4 WHERE key_id = $1 RETURNING {KEY_COLUMNS}"
    ))
    .bind(key_id)
    .bind(now)
    .bind(by)
    .bind(reason)
    .fetch_one(conn)
    .await
}

/// Every key, oldest first.
pub async fn keys(conn: &mut PgConnection) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, key_id"
    ))
    .fetch_all(conn)
    .await
}

/// A correction of a decision's destination, as transfer announced it.
#[derive(Debug, Clone)]
pub struct Correction {
    /// The correction's id, unique per correction.
    pub correction_id: String,
    /// Decision corrected.
    pub decision_id: String,
    /// The corrected destination.
    pub destination: StoredDestination,
    /// Officer who proposed it.
    pub proposed_by: Option<String>,
    /// Officer who confirmed it.
    pub confirmed_by: Option<String>,
    /// Now.
    pub applied_at: DateTime<Utc>,
}

/// Records a correction; false when it was already recorded, so a redelivered notice
/// changes nothing.
pub async fn insert_correction(conn: &mut PgConnection, c: &Correction) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO destination_corrections (correction_id, decision_id, bank_id, \
         destination_kind, destination_sealed, destination_digest, proposed_by, confirmed_by, \
         applied_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (correction_id) DO NOTHING",
    )
    .bind(&c.correction_id)
    .bind(&c.decision_id)
    .bind(&c.destination.bank_id)
    .bind(c.destination.kind)
    .bind(&c.destination.number.sealed)
    .bind(&c.destination.number.digest)
    .bind(&c.proposed_by)
    .bind(&c.confirmed_by)
    .bind(c.applied_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a list exists and was already refused, locked; `None` when unknown.
pub async fn lock_list_refusal(
    conn: &mut PgConnection,
    list_id: Uuid,
) -> sqlx::Result<Option<Option<DateTime<Utc>>>> {
    sqlx::query_scalar("SELECT refused_at FROM payment_lists WHERE list_id = $1 FOR UPDATE")
        .bind(list_id)
        .fetch_optional(conn)
        .await
}

/// What refusing a list did to its lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Returned {
    /// Lines put back to be cut into a new list.
    pub pending: u64,
    /// Lines held for an officer, refused too many times.
    pub held: u64,
    /// Lines a termination had cancelled while listed: with the list refused they will not
    /// be paid, so they are cancelled for good.
    pub cancelled: u64,
}

/// Marks the list refused and takes its lines out of it: each goes back to be cut again, or
/// is held for an officer once lists carrying it were refused `max_refusals` times, or is
/// cancelled when a termination cancelled its month meanwhile.
pub async fn refuse_list(
    conn: &mut PgConnection,
    list_id: Uuid,
    reason: &str,
    detail: &str,
    max_refusals: i32,
    now: DateTime<Utc>,
) -> sqlx::Result<Returned> {
    sqlx::query(
        "UPDATE payment_lists SET refused_at = $2, refusal_reason = $3, refusal_detail = $4, \
         refused_entitlements = (SELECT coalesce(array_agg(entitlement_id ORDER BY list_position), \
                                        '{}') FROM entitlements WHERE list_id = $1) \
         WHERE list_id = $1",
    )
    .bind(list_id)
    .bind(now)
    .bind(reason)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    let states: Vec<String> = sqlx::query_scalar(
        "UPDATE entitlements SET list_refusals = list_refusals + 1, list_id = NULL, \
         list_position = NULL, \
         state = CASE WHEN termination_reason IS NOT NULL THEN 'cancelled' \
                      WHEN list_refusals + 1 >= $2 THEN 'held' ELSE 'pending' END, \
         hold_reasons = CASE WHEN termination_reason IS NULL AND list_refusals + 1 >= $2 \
                             THEN '{}'::smallint[] ELSE hold_reasons END, \
         hold_explanation = CASE WHEN termination_reason IS NULL AND list_refusals + 1 >= $2 \
                                 THEN $3 ELSE hold_explanation END, \
         held_at = CASE WHEN termination_reason IS NULL AND list_refusals + 1 >= $2 \
                        THEN $4 ELSE held_at END \
         WHERE list_id = $1 AND state = 'listed' RETURNING state",
    )
    .bind(list_id)
    .bind(max_refusals)
    .bind(format!(
        "{max_refusals} payment lists carrying this line were refused by transfer, the last \
         for {reason}"
    ))
    .bind(now)
    .fetch_all(conn)
    .await?;
    let mut returned = Returned::default();
    for state in states {
        match state.as_str() {
            "pending" => returned.pending += 1,
            "held" => returned.held += 1,
            _ => returned.cancelled += 1,
        }
    }
    Ok(returned)
}
