//! Claims and duplicate holds.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;

/// A claim as stored, with the evaluation shown when it was registered.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimRow {
    /// Claim id.
    pub claim_id: Uuid,
    /// Claimant.
    pub person_id: Uuid,
    /// `awaiting_approval`, `not_eligible`, `held_duplicate`, `approved` or `rejected`.
    pub status: String,
    /// Last day of employment.
    pub termination_date: NaiveDate,
    /// `EmploymentEndReason` as its number.
    pub end_reason: i32,
    /// Contract type of the last contract.
    pub last_contract_type: String,
    /// Day the complete claim was filed.
    pub filing_date: NaiveDate,
    /// Qualifies for a monthly pension.
    pub qualifies_for_pension: bool,
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
    /// Province of the job centre.
    pub province: String,
    /// Job centre.
    pub centre_id: String,
    /// Registering officer.
    pub registered_by: String,
    /// When registered.
    pub registered_at: DateTime<Utc>,
    /// Every condition met.
    pub eligible: bool,
    /// Monthly amount.
    pub monthly_amount_dong: i64,
    /// Benefit months.
    pub benefit_months: i32,
    /// Contribution months reserved above those converted.
    pub reserved_months: i32,
    /// First day of benefit.
    pub start_date: NaiveDate,
    /// The encoded `Assessment`.
    pub assessment: Vec<u8>,
    /// Officer who approved or rejected.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
}

/// Inserts a new claim.
pub async fn insert(conn: &mut PgConnection, claim: &ClaimRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO claims (claim_id, person_id, status, termination_date, end_reason, \
         last_contract_type, filing_date, qualifies_for_pension, bank_id, destination_kind, \
         destination_sealed, destination_last4, holder_name, province, centre_id, registered_by, \
         registered_at, eligible, monthly_amount_dong, benefit_months, reserved_months, \
         start_date, assessment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, $21, $22, $23)",
    )
    .bind(claim.claim_id)
    .bind(claim.person_id)
    .bind(&claim.status)
    .bind(claim.termination_date)
    .bind(claim.end_reason)
    .bind(&claim.last_contract_type)
    .bind(claim.filing_date)
    .bind(claim.qualifies_for_pension)
    .bind(&claim.bank_id)
    .bind(claim.destination_kind)
    .bind(&claim.destination_sealed)
    .bind(&claim.destination_last4)
    .bind(&claim.holder_name)
    .bind(&claim.province)
    .bind(&claim.centre_id)
    .bind(&claim.registered_by)
    .bind(claim.registered_at)
    .bind(claim.eligible)
    .bind(claim.monthly_amount_dong)
    .bind(claim.benefit_months)
    .bind(claim.reserved_months)
    .bind(claim.start_date)
    .bind(&claim.assessment)
    .execute(conn)
    .await?;
    Ok(())
}

/// The claim with this id; `lock` holds it until the transaction ends.
pub async fn find(
    conn: &mut PgConnection,
    claim_id: Uuid,
    lock: bool,
) -> Result<Option<ClaimRow>, StoreError> {
    let sql = if lock {
        "SELECT * FROM claims WHERE claim_id = $1 FOR UPDATE"
    } else {
        "SELECT * FROM claims WHERE claim_id = $1"
    };
    Ok(sqlx::query_as(sql)
        .bind(claim_id)
        .fetch_optional(conn)
        .await?)
}

/// True when the person has a claim awaiting approval or held.
pub async fn has_open_claim(conn: &mut PgConnection, person_id: Uuid) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM claims WHERE person_id = $1 \
         AND status IN ('awaiting_approval', 'held_duplicate'))",
    )
    .bind(person_id)
    .fetch_one(conn)
    .await?)
}

/// Records an officer's decision on a claim.
pub async fn decide(
    conn: &mut PgConnection,
    claim_id: Uuid,
    status: &str,
    officer_id: &str,
    at: DateTime<Utc>,
    rejection_reason: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE claims SET status = $2, decided_by = $3, decided_at = $4, rejection_reason = $5 \
         WHERE claim_id = $1",
    )
    .bind(claim_id)
    .bind(status)
    .bind(officer_id)
    .bind(at)
    .bind(rejection_reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// A duplicate hold as stored.
#[derive(Debug, Clone, FromRow)]
pub struct HoldRow {
    /// Hold id.
    pub hold_id: Uuid,
    /// Held claim.
    pub claim_id: Uuid,
    /// The other record matched.
    pub matched_person_id: Uuid,
    /// Its live decision, if any.
    pub matched_decision_id: Option<Uuid>,
    /// `exact_id`, `linked_legacy_id`, `same_social_insurance_number` or `near_id`.
    pub match_kind: String,
    /// When held.
    pub held_at: DateTime<Utc>,
}

/// Records a hold.
pub async fn insert_hold(conn: &mut PgConnection, hold: &HoldRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO duplicate_holds (hold_id, claim_id, matched_person_id, matched_decision_id, \
         match_kind, held_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hold.hold_id)
    .bind(hold.claim_id)
    .bind(hold.matched_person_id)
    .bind(hold.matched_decision_id)
    .bind(&hold.match_kind)
    .bind(hold.held_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The hold on a claim, if any.
pub async fn hold_of(
    conn: &mut PgConnection,
    claim_id: Uuid,
) -> Result<Option<HoldRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT hold_id, claim_id, matched_person_id, matched_decision_id, match_kind, held_at \
         FROM duplicate_holds WHERE claim_id = $1",
    )
    .bind(claim_id)
    .fetch_optional(conn)
    .await?)
}

/// The hold with this id, locked, if it is still open.
pub async fn open_hold(
    conn: &mut PgConnection,
    hold_id: Uuid,
) -> Result<Option<HoldRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT hold_id, claim_id, matched_person_id, matched_decision_id, match_kind, held_at \
         FROM duplicate_holds WHERE hold_id = $1 AND resolution IS NULL FOR UPDATE",
    )
    .bind(hold_id)
    .fetch_optional(conn)
    .await?)
}

/// Records an officer's finding on a hold.
pub async fn resolve_hold(
    conn: &mut PgConnection,
    hold_id: Uuid,
    resolution: &str,
    officer_id: &str,
    at: DateTime<Utc>,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE duplicate_holds SET resolution = $2, resolved_by = $3, resolved_at = $4, \
         note = $5 WHERE hold_id = $1",
    )
    .bind(hold_id)
    .bind(resolution)
    .bind(officer_id)
    .bind(at)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a claim's status.
pub async fn set_status(
    conn: &mut PgConnection,
    claim_id: Uuid,
    status: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE claims SET status = $2 WHERE claim_id = $1")
        .bind(claim_id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}

/// Open holds, oldest first, optionally of claims filed in one province; `after` skips that
/// many.
pub async fn open_holds(
    conn: &mut PgConnection,
    province: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<HoldRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT h.hold_id, h.claim_id, h.matched_person_id, h.matched_decision_id, h.match_kind, \
         h.held_at FROM duplicate_holds h JOIN claims c ON c.claim_id = h.claim_id \
         WHERE h.resolution IS NULL AND ($1::text IS NULL OR c.province = $1) \
         ORDER BY h.held_at, h.hold_id OFFSET $2 LIMIT $3",
    )
    .bind(province)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
