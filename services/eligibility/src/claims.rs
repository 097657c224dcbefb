//! A claim's way from registration to a decision: the stored history judged by the law,
//! duplicates held for an officer, approval creating and publishing the decision.

use chrono::{DateTime, NaiveDate, Utc};
use contracts::common::v1 as common;
use contracts::eligibility::v1 as pb;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;
use vault::Vault;

use crate::domain::bookkeeping::BenefitEndReason;
use crate::domain::claim::{
    ClaimFacts, DisqualifyingEvent, EvaluationError, PensionStatus, TerminationReason, evaluate,
    first_disqualifying_event, first_job_during_benefit,
};
use crate::domain::contributions::{ContributionHistory, ContributionMonth, EarlierBenefit};
use crate::domain::duplicates::{MatchKind, PersonRecord, find_duplicate};
use crate::domain::ids::{CitizenId, LegacyId, SocialInsuranceNumber};
use crate::domain::money::Dong;
use crate::domain::month::YearMonth;
use crate::domain::period::BenefitSchedule;
use crate::domain::rates::RateBook;
use crate::domain::reemployment::{new_job_effective_on, shows_new_job};
use crate::events_out;
use crate::lifecycle::{self, LifecycleError};
use crate::store::StoreError;
use crate::store::claims::{self as claim_store, ClaimRow, HoldRow};
use crate::store::contributions::{self as contribution_store, ContributionRow};
use crate::store::decisions::{self as decision_store, DecisionRow, HistoryRow, MonthRow};
use crate::store::destinations;
use crate::store::persons::{self, StoredPerson};
use crate::wire;

/// Why a claim action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A request field is wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The claim or person does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The claim is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// This officer may not do this.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// Stored data or rates broke an invariant.
    #[error("{0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClaimError> for serving::ApiError {
    fn from(error: ClaimError) -> Self {
        use serving::ApiError;
        match error {
            ClaimError::Invalid { field, reason } => ApiError::invalid(field, reason),
            ClaimError::NotFound(what) => ApiError::NotFound(what.to_owned()),
            ClaimError::Conflict(reason) => ApiError::Conflict(reason),
            ClaimError::NotAllowed(reason) => ApiError::PermissionDenied(reason.to_owned()),
            ClaimError::Internal(cause) => ApiError::Internal(cause),
            ClaimError::Store(error) => error.into(),
        }
    }
}

/// A claim as the officer filed it, already parsed.
#[derive(Debug)]
pub struct NewClaim {
    /// Claimant.
    pub person_id: Uuid,
    /// Last day of employment.
    pub termination_date: NaiveDate,
    /// How the employment ended.
    pub end_reason: pb::EmploymentEndReason,
    /// Last contract type, as stored.
    pub last_contract_type: &'static str,
    /// Day the complete claim was filed.
    pub filing_date: NaiveDate,
    /// Where to pay.
    pub bank: crate::domain::bank::BankDestination,
    /// Qualifies for a monthly pension.
    pub qualifies_for_pension: bool,
    /// Province of the job centre.
    pub province: String,
    /// Job centre.
    pub centre_id: String,
    /// Registering officer.
    pub officer: wire::Officer,
}

/// A claim with what the officer sees of it.
#[derive(Debug)]
pub struct ClaimView {
    /// The stored claim.
    pub claim: ClaimRow,
    /// Its hold, if held.
    pub hold: Option<HoldRow>,
    /// The decision approval created, if approved.
    pub decision_id: Option<Uuid>,
}

/// The contribution history of a person as the law counts it.
///
/// The collection system can report two employers for one month; the law counts the month
/// once, so the record with the highest salary stands for it (rows come highest first).
fn history_of(
    rows: &[ContributionRow],
    earlier: Option<(NaiveDate, i64)>,
) -> Result<(ContributionHistory, bool), ClaimError> {
    let mut months: Vec<ContributionMonth> = Vec::new();
    let mut state_scale = false;
    for row in rows {
        let month = YearMonth::of(row.month);
        if months.last().is_some_and(|last| last.month == month) {
            continue;
        }
        let corrupt = |what: &str| ClaimError::Internal(format!("stored contribution {what}"));
        months.push(ContributionMonth {
            month,
            salary: Dong::new(row.salary_dong).map_err(|_| corrupt("salary is negative"))?,
            contract: wire::contract_term(&row.contract_type)
                .ok_or_else(|| corrupt("contract type is unknown"))?,
            region: wire::region(i32::from(row.region))
                .ok_or_else(|| corrupt("region is unknown"))?,
        });
        state_scale = row.state_salary_scale;
    }
    let history = ContributionHistory::new(months)
        .map_err(|error| ClaimError::Internal(error.to_string()))?;
    let history = match earlier {
        Some((ended_on, reserved)) => history.after_earlier_benefit(EarlierBenefit {
            settled_through: YearMonth::of(ended_on),
            reserved_months: u32::try_from(reserved).unwrap_or_default(),
        }),
        None => history,
    };
    Ok((history, state_scale))
}

/// New jobs seen in the stored contributions after the job ended.
///
/// Contributions from a new employer after the job ended are a new job with compulsory social
/// insurance: condition 4 judges whether it began within the days after the claim.
async fn new_jobs(
    conn: &mut PgConnection,
    numbers: &[String],
    terminated_on: NaiveDate,
) -> Result<Vec<DisqualifyingEvent>, ClaimError> {
    let termination_month = YearMonth::of(terminated_on).first_day();
    let former = contribution_store::last_employers(conn, numbers, termination_month).await?;
    let events = contribution_store::after(conn, numbers, termination_month)
        .await?
        .iter()
        .map(|row| (YearMonth::of(row.month), row.employer_id.as_str()))
        .filter(|(month, employer)| shows_new_job(*month, employer, terminated_on, &former))
        .map(|(month, _)| DisqualifyingEvent::new_job_in(month))
        .collect();
    Ok(events)
}

fn record(person: &StoredPerson) -> Option<PersonRecord<Uuid>> {
    Some(PersonRecord {
        person_id: person.person_id,
        full_name: person.full_name.clone(),
        birth_date: person.birth_date,
        citizen_id: CitizenId::parse(&person.citizen_id).ok()?,
        legacy_ids: person
            .legacy_ids
            .iter()
            .filter_map(|id| LegacyId::parse(id).ok())
            .collect(),
        social_insurance_numbers: person
            .social_insurance_numbers
            .iter()
            .filter_map(|number| SocialInsuranceNumber::parse(number).ok())
            .collect(),
    })
}

fn match_name(kind: MatchKind) -> &'static str {
    match kind {
        MatchKind::ExactId => "exact_id",
        MatchKind::LinkedLegacyId => "linked_legacy_id",
        MatchKind::SameSocialInsuranceNumber => "same_social_insurance_number",
        MatchKind::NearId => "near_id",
    }
}

/// Judges a claim against the stored history and stores it with its reasoning, or holds it.
pub async fn register(
    conn: &mut PgConnection,
    book: &RateBook,
    vault: &Vault,
    now: DateTime<Utc>,
    claim: NewClaim,
) -> Result<ClaimView, ClaimError> {
    // The person's row lock serializes claims of one person, so two registrations at once
    // cannot both miss each other.
    let person = persons::find(conn, claim.person_id, true)
        .await?
        .ok_or(ClaimError::NotFound("person"))?;

    let termination_month = YearMonth::of(claim.termination_date).first_day();
    let rows =
        contribution_store::history(conn, &person.social_insurance_numbers, termination_month)
            .await?;
    let earlier = decision_store::earlier_benefit(conn, person.person_id).await?;
    let (history, state_scale) = history_of(&rows, earlier)?;
    let events = new_jobs(
        conn,
        &person.social_insurance_numbers,
        claim.termination_date,
    )
    .await?;
    let facts = ClaimFacts {
        terminated_on: claim.termination_date,
        reason: if claim.end_reason == pb::EmploymentEndReason::WorkerUnlawfulTermination {
            TerminationReason::UnlawfulUnilateralByWorker
        } else {
            TerminationReason::Lawful
        },
        pension: if claim.qualifies_for_pension {
            PensionStatus::EntitledNotDrawing
        } else {
            PensionStatus::NotEntitled
        },
        filed_on: claim.filing_date,
        last_contract: wire::contract_term(claim.last_contract_type)
            .ok_or(ClaimError::Internal("unknown contract type".into()))?,
        state_scale,
        events,
    };
    let evaluation = evaluate(&facts, &history, book).map_err(|error| match error {
        EvaluationError::FiledBeforeTermination { .. } => ClaimError::Invalid {
            field: "filing_date",
            reason: error.to_string(),
        },
        other => ClaimError::Invalid {
            field: "termination_date",
            reason: other.to_string(),
        },
    })?;
    let assessment = wire::assessment(&evaluation, &history);

    let open_case = claim_store::has_open_claim(conn, person.person_id).await?
        || decision_store::live_of_person(conn, person.person_id)
            .await?
            .is_some();
    let others: Vec<PersonRecord<Uuid>> = persons::possible_duplicates(conn, &person)
        .await?
        .iter()
        .filter_map(record)
        .collect();
    let claimant = record(&person)
        .ok_or_else(|| ClaimError::Internal("stored citizen id is invalid".into()))?;
    let duplicate = find_duplicate(&claimant, open_case, &others);

    let status = if duplicate.is_some() {
        "held_duplicate"
    } else if evaluation.can_be_decided() {
        "awaiting_approval"
    } else {
        "not_eligible"
    };
    let eligible = evaluation.is_eligible();
    let row = ClaimRow {
        claim_id: Uuid::now_v7(),
        person_id: person.person_id,
        status: status.to_owned(),
        termination_date: claim.termination_date,
        end_reason: claim.end_reason as i32,
        last_contract_type: claim.last_contract_type.to_owned(),
        filing_date: claim.filing_date,
        qualifies_for_pension: claim.qualifies_for_pension,
        bank_id: claim.bank.bank_id().to_owned(),
        destination_kind: match claim.bank.kind() {
            crate::domain::bank::DestinationKind::Card => common::DestinationKind::Card,
            crate::domain::bank::DestinationKind::Account => common::DestinationKind::Account,
        } as i32,
        destination_sealed: Some(vault.seal(claim.bank.number()).map_err(StoreError::from)?),
        destination_last4: destinations::last4(claim.bank.number()),
        holder_name: claim.bank.holder_name().to_owned(),
        province: claim.province,
        centre_id: claim.centre_id,
        registered_by: claim.officer.id,
        registered_at: now,
        eligible,
        monthly_amount_dong: assessment.monthly_amount_dong,
        benefit_months: i32::try_from(assessment.benefit_months).unwrap_or_default(),
        reserved_months: i32::try_from(assessment.reserved_months).unwrap_or_default(),
        start_date: evaluation.start_date,
        assessment: assessment.encode_to_vec(),
        decided_by: None,
        decided_at: None,
        rejection_reason: None,
    };
    claim_store::insert(conn, &row).await?;
    let hold = match duplicate {
        Some(found) => {
            let hold = HoldRow {
                hold_id: Uuid::now_v7(),
                claim_id: row.claim_id,
                matched_person_id: found.person_id,
                matched_decision_id: decision_store::live_of_person(conn, found.person_id).await?,
                match_kind: match_name(found.kind).to_owned(),
                held_at: now,
            };
            claim_store::insert_hold(conn, &hold).await?;
            tracing::info!(claim_id = %row.claim_id, match_kind = %hold.match_kind, "claim held as a possible duplicate");
            Some(hold)
        }
        None => None,
    };
    tracing::info!(claim_id = %row.claim_id, status, "claim registered");
    Ok(ClaimView {
        claim: row,
        hold,
        decision_id: None,
    })
}

/// A stored claim with its hold and decision.
pub async fn view(conn: &mut PgConnection, claim_id: Uuid) -> Result<ClaimView, ClaimError> {
    let claim = claim_store::find(conn, claim_id, false)
        .await?
        .ok_or(ClaimError::NotFound("claim"))?;
    let hold = claim_store::hold_of(conn, claim_id).await?;
    let decision_id: Option<Uuid> =
        sqlx::query_scalar("SELECT decision_id FROM decisions WHERE claim_id = $1")
            .bind(claim_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from)?;
    Ok(ClaimView {
        claim,
        hold,
        decision_id,
    })
}

/// An approval as the labour-department officer gave it.
#[derive(Debug)]
pub struct Approval {
    /// Claim approved.
    pub claim_id: Uuid,
    /// Legal decision number; generated when not given.
    pub decision_number: Option<String>,
    /// Day the decision is handed over; the approval day when not given.
    pub handover_date: Option<NaiveDate>,
    /// Approving officer.
    pub officer: wire::Officer,
}

/// Approves a claim: creates the decision and enqueues its activation in the same transaction.
pub async fn approve(
    conn: &mut PgConnection,
    book: &RateBook,
    vault: &Vault,
    now: DateTime<Utc>,
    today: NaiveDate,
    approval: Approval,
) -> Result<Uuid, ClaimError> {
    let claim = claim_store::find(conn, approval.claim_id, true)
        .await?
        .ok_or(ClaimError::NotFound("claim"))?;
    // Maker-checker: the officer who registered the claim cannot also approve it.
    if approval.officer.id == claim.registered_by {
        return Err(ClaimError::NotAllowed(
            "the officer who registered a claim may not approve it",
        ));
    }
    if approval.officer.agency != common::Agency::LabourDepartment {
        return Err(ClaimError::NotAllowed(
            "only a labour-department officer may approve a claim",
        ));
    }
    if claim.status != "awaiting_approval" {
        return Err(ClaimError::Conflict(format!(
            "claim is {}, not awaiting approval",
            claim.status.replace('_', " ")
        )));
    }
    let person = persons::find(conn, claim.person_id, false)
        .await?
        .ok_or(ClaimError::NotFound("person"))?;
    let rules = book
        .rules_for_termination(claim.termination_date)
        .map_err(|error| ClaimError::Internal(error.to_string()))?;
    // Contributions keep arriving after registration: a new job that began within the days
    // after the claim (condition 4) and was reported since makes the evaluation stale.
    let window_ends = book
        .calendar()
        .nth_working_day_after(claim.filing_date, rules.disqualifying_window_working_days)
        .map_err(|error| ClaimError::Internal(error.to_string()))?;
    let jobs = new_jobs(
        conn,
        &person.social_insurance_numbers,
        claim.termination_date,
    )
    .await?;
    if let Some(job) = first_disqualifying_event(&jobs, claim.filing_date, window_ends) {
        return Err(ClaimError::Conflict(format!(
            "contributions from a new employer for {} arrived after registration: a job \
             with social insurance within {} working days after the claim makes the claimant \
             not eligible, reject the claim",
            YearMonth::of(job.date),
            rules.disqualifying_window_working_days
        )));
    }
    let months = u32::try_from(claim.benefit_months).unwrap_or_default();
    let handover = approval.handover_date.unwrap_or(today);
    let schedule = BenefitSchedule::plan(claim.start_date, months, rules, book.calendar())
        .and_then(|schedule| schedule.with_hand_over(handover, rules, book.calendar()))
        .map_err(|error| ClaimError::Invalid {
            field: "handover_date",
            reason: error.to_string(),
        })?;
    let mut month_rows = Vec::new();
    for month in schedule.months() {
        let window = month
            .check_in
            .ok_or_else(|| ClaimError::Internal("a benefit month has no window".into()))?;
        month_rows.push(MonthRow {
            benefit_month: i32::try_from(month.number).unwrap_or_default(),
            first_day: month.first_day,
            last_day: month.last_day,
            opens_on: window.opens(),
            closes_on: window.closes(),
            status: "pending".to_owned(),
        });
    }
    let end_date = schedule
        .months()
        .last()
        .map(|month| month.last_day)
        .ok_or_else(|| ClaimError::Internal("an approved claim has no benefit month".into()))?;
    let decision_id = Uuid::now_v7();
    let mut decision = DecisionRow {
        decision_id,
        decision_number: approval
            .decision_number
            .unwrap_or_else(|| format!("QD-{}", decision_id.simple())),
        claim_id: claim.claim_id,
        person_id: claim.person_id,
        state: "active".to_owned(),
        version: 1,
        monthly_amount_dong: claim.monthly_amount_dong,
        months: claim.benefit_months,
        start_date: claim.start_date,
        end_date,
        employment_ended_on: claim.termination_date,
        handover_date: handover,
        bank_id: claim.bank_id.clone(),
        destination_kind: claim.destination_kind,
        destination_sealed: claim.destination_sealed.clone(),
        destination_last4: claim.destination_last4.clone(),
        holder_name: claim.holder_name.clone(),
        province: claim.province.clone(),
        centre_id: claim.centre_id.clone(),
        approved_by: approval.officer.id.clone(),
        approved_at: now,
        termination_reason: None,
        terminated_effective: None,
    };
    match decision_store::insert(conn, &decision, &month_rows).await {
        Err(error) if error.violates(decision_store::ONE_LIVE_DECISION_PER_PERSON) => {
            return Err(ClaimError::Conflict(
                "the person already holds a live decision".into(),
            ));
        }
        Err(error) if error.violates("decisions_decision_number_key") => {
            return Err(ClaimError::Invalid {
                field: "decision_number",
                reason: "is already used by another decision".into(),
            });
        }
        other => other?,
    }
    claim_store::decide(
        conn,
        claim.claim_id,
        "approved",
        &approval.officer.id,
        now,
        None,
    )
    .await?;
    decision_store::append_history(
        conn,
        decision_id,
        &HistoryRow {
            version: 1,
            kind: "activated".to_owned(),
            at: now,
            benefit_month: None,
            termination_reason: None,
            effective_date: None,
            officer_id: Some(approval.officer.id.clone()),
            note: String::new(),
        },
    )
    .await?;
    if claim.reserved_months > 0 {
        decision_store::reserve(
            conn,
            claim.person_id,
            decision_id,
            "above_converted",
            claim.reserved_months,
            today,
        )
        .await?;
    }
    let activated = pb::DecisionActivated {
        decision_number: decision.decision_number.clone(),
        person_id: person.person_id.to_string(),
        beneficiary_name: person.full_name.clone(),
        amount_dong: decision.monthly_amount_dong,
        months,
        start_date: Some(wire::pb_date(decision.start_date)),
        end_date: Some(wire::pb_date(end_date)),
        checkin_windows: wire::checkin_windows(&schedule),
        bank_destination: Some(common::BankDestination {
            bank_id: decision.bank_id.clone(),
            kind: decision.destination_kind,
            number: destinations::open(vault, decision.destination_sealed.as_deref())?,
            holder_name: decision.holder_name.clone(),
        }),
        province: decision.province.clone(),
        centre_id: decision.centre_id.clone(),
        handover_date: Some(wire::pb_date(handover)),
    };
    events_out::publish(
        conn,
        decision_id,
        1,
        pb::decision_event::Change::Activated(activated),
        now,
    )
    .await
    .map_err(StoreError::from)?;
    tracing::info!(%decision_id, claim_id = %claim.claim_id, "claim approved, decision active");
    // A new job reported before approval, for a month after the claim's days, found no live
    // decision to end when it was stored: it ends this one from its first day.
    if let Some(job) = first_job_during_benefit(&jobs, claim.filing_date, window_ends) {
        lifecycle::terminate(
            conn,
            book,
            now,
            &mut decision,
            BenefitEndReason::FoundJob,
            new_job_effective_on(YearMonth::of(job.date)),
            &format!(
                "contributions from a new employer for {}",
                YearMonth::of(job.date)
            ),
            None,
        )
        .await
        .map_err(|error| match error {
            LifecycleError::Store(error) => ClaimError::Store(error),
            other => ClaimError::Internal(other.to_string()),
        })?;
    }
    Ok(decision_id)
}

/// Rejects a claim that has no decision, with the officer's reason.
pub async fn reject(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    claim_id: Uuid,
    reason: &str,
    officer: &wire::Officer,
) -> Result<(), ClaimError> {
    let claim = claim_store::find(conn, claim_id, true)
        .await?
        .ok_or(ClaimError::NotFound("claim"))?;
    if matches!(claim.status.as_str(), "approved" | "rejected") {
        return Err(ClaimError::Conflict(format!(
            "claim is already {}",
            claim.status
        )));
    }
    claim_store::decide(conn, claim_id, "rejected", &officer.id, now, Some(reason)).await?;
    tracing::info!(%claim_id, "claim rejected");
    Ok(())
}

/// An officer's finding on a duplicate hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The same person: the claim is refused and the claimant's identifiers join the match.
    SamePerson,
    /// Different people: the claim goes on with the evaluation made at registration.
    DifferentPerson,
}

/// Resolves an open hold; returns the claim it held.
pub async fn resolve_hold(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    hold_id: Uuid,
    finding: Finding,
    note: &str,
    officer: &wire::Officer,
) -> Result<Uuid, ClaimError> {
    let hold = claim_store::open_hold(conn, hold_id)
        .await?
        .ok_or(ClaimError::NotFound("open hold"))?;
    let claim = claim_store::find(conn, hold.claim_id, true)
        .await?
        .ok_or(ClaimError::NotFound("claim"))?;
    match finding {
        Finding::SamePerson => {
            if hold.matched_person_id != claim.person_id {
                // Linked identifiers make the next claim under either record an exact match.
                let claimant = persons::find(conn, claim.person_id, false)
                    .await?
                    .ok_or(ClaimError::NotFound("person"))?;
                for legacy_id in &claimant.legacy_ids {
                    persons::link(
                        conn,
                        hold.matched_person_id,
                        "legacy_id",
                        legacy_id,
                        &officer.id,
                        now,
                    )
                    .await?;
                }
                for number in &claimant.social_insurance_numbers {
                    persons::link(
                        conn,
                        hold.matched_person_id,
                        "social_insurance_number",
                        number,
                        &officer.id,
                        now,
                    )
                    .await?;
                }
            }
            claim_store::decide(
                conn,
                claim.claim_id,
                "rejected",
                &officer.id,
                now,
                Some("duplicate of another claim or decision of the same person"),
            )
            .await?;
        }
        Finding::DifferentPerson => {
            let decidable = claim.eligible && claim.benefit_months > 0;
            let status = if decidable {
                "awaiting_approval"
            } else {
                "not_eligible"
            };
            claim_store::set_status(conn, claim.claim_id, status).await?;
        }
    }
    let resolution = match finding {
        Finding::SamePerson => "same_person",
        Finding::DifferentPerson => "different_person",
    };
    claim_store::resolve_hold(conn, hold_id, resolution, &officer.id, now, note).await?;
    tracing::info!(%hold_id, claim_id = %claim.claim_id, resolution, "duplicate hold resolved");
    Ok(claim.claim_id)
}
