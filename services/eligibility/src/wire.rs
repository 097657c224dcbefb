//! The edge: protobuf values parsed into domain types (a bad field names itself), and domain
//! values turned back into protobuf.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use contracts::common::v1 as common;
use contracts::eligibility::v1 as pb;
use serving::ApiError;
use uuid::Uuid;

use crate::domain::amount::CapBasis;
use crate::domain::bookkeeping::BenefitEndReason;
use crate::domain::claim::{Condition, Evaluation};
use crate::domain::contributions::{ContractTerm, ContributionHistory};
use crate::domain::period::BenefitSchedule;
use crate::domain::rates::{Regime, Region};

/// A protobuf date as a calendar date.
pub fn date(field: &str, value: Option<&common::Date>) -> Result<NaiveDate, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(field, "is required"))?;
    let (Ok(month), Ok(day)) = (u32::try_from(value.month), u32::try_from(value.day)) else {
        return Err(ApiError::invalid(field, "is not a calendar date"));
    };
    NaiveDate::from_ymd_opt(value.year, month, day)
        .ok_or_else(|| ApiError::invalid(field, "is not a calendar date"))
}

/// A calendar date as protobuf.
pub fn pb_date(day: NaiveDate) -> common::Date {
    common::Date {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap_or_default(),
        day: i32::try_from(day.day()).unwrap_or_default(),
    }
}

/// An instant as a protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or_default(),
    }
}

/// A required id in its text form.
pub fn id(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::invalid(field, "is not a valid id"))
}

/// Required text, trimmed.
pub fn text(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    Ok(value.to_owned())
}

/// The officer performing an action.
#[derive(Debug, Clone)]
pub struct Officer {
    /// Directory id.
    pub id: String,
    /// Agency acted for.
    pub agency: common::Agency,
}

/// Parses the officer of a request; the id is required.
pub fn officer(field: &str, value: Option<&common::Officer>) -> Result<Officer, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(field, "is required"))?;
    Ok(Officer {
        id: text(&format!("{field}.officer_id"), &value.officer_id)?,
        agency: common::Agency::try_from(value.agency).unwrap_or(common::Agency::Unspecified),
    })
}

/// An officer id as protobuf.
pub fn pb_officer(officer_id: &str) -> common::Officer {
    common::Officer {
        officer_id: officer_id.to_owned(),
        agency: common::Agency::Unspecified as i32,
    }
}

/// A contract type as stored.
pub fn contract_name(contract: common::ContractType) -> Option<&'static str> {
    match contract {
        common::ContractType::Indefinite => Some("indefinite"),
        common::ContractType::FixedTerm => Some("fixed_term"),
        common::ContractType::ShortTerm => Some("short_term"),
        common::ContractType::Seasonal => Some("seasonal"),
        common::ContractType::Unspecified => None,
    }
}

/// A contract type as the term the law's windows are chosen by.
///
/// The types name ranges, not lengths, so each is read as the shortest length it covers:
/// fixed-term (12 to 36 months) as 12, short-term (1 to under 12) as 1 — the longer window
/// under the 2025 regime only — and seasonal (3 to under 12) as 3, the longer window under
/// both regimes, as the contract types are documented.
pub fn contract_term(stored: &str) -> Option<ContractTerm> {
    match stored {
        "indefinite" => Some(ContractTerm::Indefinite),
        "fixed_term" => Some(ContractTerm::FixedTerm { months: 12 }),
        "short_term" => Some(ContractTerm::FixedTerm { months: 1 }),
        "seasonal" => Some(ContractTerm::FixedTerm { months: 3 }),
        _ => None,
    }
}

/// A protobuf region as the domain's.
pub fn region(value: i32) -> Option<Region> {
    u8::try_from(value).ok().and_then(Region::from_number)
}

/// A region as protobuf.
pub fn pb_region(region: Region) -> common::Region {
    match region {
        Region::I => common::Region::I,
        Region::II => common::Region::Ii,
        Region::III => common::Region::Iii,
        Region::IV => common::Region::Iv,
    }
}

/// A legal end reason as protobuf.
pub fn pb_end_reason(reason: BenefitEndReason) -> common::TerminationReason {
    use common::TerminationReason as Pb;
    match reason {
        BenefitEndReason::FoundJob => Pb::FoundJob,
        BenefitEndReason::MilitaryPoliceOrMilitiaService => Pb::Service,
        BenefitEndReason::MonthlyPension => Pb::Pension,
        BenefitEndReason::RefusedTwoJobReferrals => Pb::RefusedJobOffers,
        BenefitEndReason::ThreeConsecutiveMissedCheckIns => Pb::MissedCheckins,
        BenefitEndReason::SettledAbroad => Pb::SettledAbroad,
        BenefitEndReason::StudyOverTwelveMonths => Pb::Study,
        BenefitEndReason::AdministrativeFine => Pb::Fine,
        BenefitEndReason::Death => Pb::Death,
        BenefitEndReason::CompulsoryEducationOrRehabilitation => Pb::CompulsoryEducation,
        BenefitEndReason::DeclaredMissing => Pb::MissingPerson,
        BenefitEndReason::DetainedOrImprisoned => Pb::Detention,
        BenefitEndReason::OwnRequest => Pb::OwnRequest,
    }
}

/// A protobuf end reason as the domain's; unset is none.
pub fn end_reason(reason: common::TerminationReason) -> Option<BenefitEndReason> {
    use common::TerminationReason as Pb;
    Some(match reason {
        Pb::Unspecified => return None,
        Pb::FoundJob => BenefitEndReason::FoundJob,
        Pb::Service => BenefitEndReason::MilitaryPoliceOrMilitiaService,
        Pb::Pension => BenefitEndReason::MonthlyPension,
        Pb::RefusedJobOffers => BenefitEndReason::RefusedTwoJobReferrals,
        Pb::MissedCheckins => BenefitEndReason::ThreeConsecutiveMissedCheckIns,
        Pb::SettledAbroad => BenefitEndReason::SettledAbroad,
        Pb::Study => BenefitEndReason::StudyOverTwelveMonths,
        Pb::Fine => BenefitEndReason::AdministrativeFine,
        Pb::Death => BenefitEndReason::Death,
        Pb::CompulsoryEducation => BenefitEndReason::CompulsoryEducationOrRehabilitation,
        Pb::MissingPerson => BenefitEndReason::DeclaredMissing,
        Pb::Detention => BenefitEndReason::DetainedOrImprisoned,
        Pb::OwnRequest => BenefitEndReason::OwnRequest,
    })
}

/// The check-in windows of a schedule; month 1's window is left unset until hand-over.
pub fn checkin_windows(schedule: &BenefitSchedule) -> Vec<common::CheckinWindow> {
    schedule
        .months()
        .iter()
        .map(|month| common::CheckinWindow {
            benefit_month: month.number,
            month_start: Some(pb_date(month.first_day)),
            month_end: Some(pb_date(month.last_day)),
            opens_on: month.check_in.map(|window| pb_date(window.opens())),
            closes_on: month.check_in.map(|window| pb_date(window.closes())),
        })
        .collect()
}

/// The full reasoning of an evaluation, as shown to the officer and stored with the claim.
pub fn assessment(evaluation: &Evaluation, history: &ContributionHistory) -> pb::Assessment {
    let conditions = evaluation
        .conditions
        .iter()
        .map(|outcome| pb::ConditionResult {
            condition: match outcome.condition {
                Condition::LawfulTermination => pb::Condition::LawfulEnd,
                Condition::NoPension => pb::Condition::NoPension,
                Condition::ContributionMonths => pb::Condition::ContributionMonths,
                Condition::FiledInTime => pb::Condition::FiledInTime,
                Condition::NoDisqualifyingEvent => pb::Condition::NoDisqualifyingEvent,
            } as i32,
            outcome: if outcome.met {
                pb::ConditionOutcome::Met
            } else {
                pb::ConditionOutcome::NotMet
            } as i32,
            explanation: format!("{} ({})", outcome.reason, outcome.article),
        })
        .collect();
    let mut assessment = pb::Assessment {
        regime: match evaluation.regime {
            Regime::Law2013 => pb::Regime::Regime2013,
            Regime::Law2025 => pb::Regime::Regime2025,
        } as i32,
        eligible: evaluation.is_eligible(),
        conditions,
        months_in_window: evaluation.window.months_counted,
        window_months: evaluation.window.window_months,
        contribution_months_counted: evaluation.contributions.total(),
        benefit_months: evaluation.duration.benefit_months,
        reserved_months: evaluation.duration.reserved_months,
        lost_months: evaluation.duration.lost_months,
        start_date: Some(pb_date(evaluation.start_date)),
        ..pb::Assessment::default()
    };
    if let Ok(amount) = &evaluation.amount {
        assessment.averaged_salaries = amount
            .salary_months
            .iter()
            .map(|month| pb::MonthlySalary {
                month: Some(common::YearMonth {
                    year: month.year(),
                    month: i32::try_from(month.month()).unwrap_or_default(),
                }),
                salary_dong: history
                    .month(*month)
                    .map_or(0, |record| record.salary.as_i64()),
            })
            .collect();
        assessment.average_salary_dong = amount.average_salary.as_i64();
        assessment.uncapped_amount_dong = amount.uncapped.as_i64();
        assessment.cap_dong = amount.cap.amount.as_i64();
        let (basis, region) = match amount.cap.basis {
            CapBasis::RegionalMinimumWage(region) => {
                (pb::CapBasis::RegionalMinimumWage, pb_region(region))
            }
            CapBasis::BaseSalary => (pb::CapBasis::BaseSalary, common::Region::Unspecified),
        };
        assessment.cap_basis = basis as i32;
        assessment.cap_region = region as i32;
        assessment.cap_as_of = Some(pb_date(amount.cap.as_of));
        assessment.cap_applied = amount.cap_applied;
        if evaluation.is_eligible() {
            assessment.monthly_amount_dong = amount.monthly.as_i64();
        }
    }
    if let Some(schedule) = &evaluation.schedule {
        assessment.end_date = schedule
            .months()
            .last()
            .map(|month| pb_date(month.last_day));
        assessment.checkin_windows = checkin_windows(schedule);
    }
    if !evaluation.is_eligible() {
        assessment.benefit_months = 0;
    }
    assessment
}

/// A stored person as protobuf.
pub fn pb_person(person: &crate::store::persons::StoredPerson) -> pb::Person {
    let mut identifiers = vec![pb::Identifier {
        kind: pb::IdentifierKind::CitizenId as i32,
        value: person.citizen_id.clone(),
    }];
    identifiers.extend(person.legacy_ids.iter().map(|value| pb::Identifier {
        kind: pb::IdentifierKind::LegacyId as i32,
        value: value.clone(),
    }));
    identifiers.extend(
        person
            .social_insurance_numbers
            .iter()
            .map(|value| pb::Identifier {
                kind: pb::IdentifierKind::SocialInsuranceNumber as i32,
                value: value.clone(),
            }),
    );
    pb::Person {
        person_id: person.person_id.to_string(),
        full_name: person.full_name.clone(),
        birth_date: Some(pb_date(person.birth_date)),
        sex: if person.sex == "female" {
            pb::Sex::Female
        } else {
            pb::Sex::Male
        } as i32,
        identifiers,
        province: person.province.clone(),
    }
}

fn claim_status(stored: &str) -> pb::ClaimStatus {
    match stored {
        "awaiting_approval" => pb::ClaimStatus::AwaitingApproval,
        "not_eligible" => pb::ClaimStatus::NotEligible,
        "held_duplicate" => pb::ClaimStatus::HeldDuplicate,
        "approved" => pb::ClaimStatus::Approved,
        "rejected" => pb::ClaimStatus::Rejected,
        _ => pb::ClaimStatus::Unspecified,
    }
}

fn match_kind(stored: &str) -> pb::MatchKind {
    match stored {
        "exact_id" => pb::MatchKind::ExactId,
        "linked_legacy_id" => pb::MatchKind::LinkedLegacyId,
        "same_social_insurance_number" => pb::MatchKind::SameSocialInsuranceNumber,
        "near_id" => pb::MatchKind::NearId,
        _ => pb::MatchKind::Unspecified,
    }
}

/// A stored assessment; an unreadable one is left out rather than failing the read.
pub fn stored_assessment(bytes: &[u8]) -> Option<pb::Assessment> {
    <pb::Assessment as prost::Message>::decode(bytes).ok()
}

/// A claim as protobuf; a held claim's assessment is withheld until the hold is resolved.
pub fn pb_claim(view: &crate::claims::ClaimView) -> pb::Claim {
    let claim = &view.claim;
    let held = claim.status == "held_duplicate";
    pb::Claim {
        claim_id: claim.claim_id.to_string(),
        person_id: claim.person_id.to_string(),
        status: claim_status(&claim.status) as i32,
        assessment: if held {
            None
        } else {
            stored_assessment(&claim.assessment)
        },
        registered_by: Some(pb_officer(&claim.registered_by)),
        registered_at: Some(timestamp(claim.registered_at)),
        decision_id: view
            .decision_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        rejection_reason: claim.rejection_reason.clone().unwrap_or_default(),
        hold: view.hold.as_ref().filter(|_| held).map(pb_hold),
    }
}

/// A duplicate hold as protobuf.
pub fn pb_hold(hold: &crate::store::claims::HoldRow) -> pb::DuplicateHold {
    pb::DuplicateHold {
        hold_id: hold.hold_id.to_string(),
        claim_id: hold.claim_id.to_string(),
        matched_person_id: hold.matched_person_id.to_string(),
        matched_decision_id: hold
            .matched_decision_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        match_kind: match_kind(&hold.match_kind) as i32,
        held_at: Some(timestamp(hold.held_at)),
    }
}

fn decision_state(stored: &str) -> common::DecisionState {
    match stored {
        "active" => common::DecisionState::Active,
        "suspended" => common::DecisionState::Suspended,
        "terminated" => common::DecisionState::Terminated,
        "completed" => common::DecisionState::Completed,
        _ => common::DecisionState::Unspecified,
    }
}

fn month_status(stored: &str) -> pb::MonthStatus {
    match stored {
        "pending" => pb::MonthStatus::Pending,
        "checked_in" => pb::MonthStatus::CheckedIn,
        "suspended" => pb::MonthStatus::Suspended,
        "cancelled" => pb::MonthStatus::Cancelled,
        _ => pb::MonthStatus::Unspecified,
    }
}

fn change_kind(stored: &str) -> pb::DecisionChangeKind {
    match stored {
        "activated" => pb::DecisionChangeKind::Activated,
        "month_suspended" => pb::DecisionChangeKind::MonthSuspended,
        "resumed" => pb::DecisionChangeKind::Resumed,
        "terminated" => pb::DecisionChangeKind::Terminated,
        "bank_destination_changed" => pb::DecisionChangeKind::BankDestinationChanged,
        "completed" => pb::DecisionChangeKind::Completed,
        _ => pb::DecisionChangeKind::Unspecified,
    }
}

/// A decision with its months, history and the reasoning behind it, as protobuf; `number` is
/// its card or account number, opened from the vault.
pub fn pb_decision(
    decision: &crate::store::decisions::DecisionRow,
    number: String,
    months: &[crate::store::decisions::MonthRow],
    history: &[crate::store::decisions::HistoryRow],
    assessment: Option<pb::Assessment>,
) -> pb::Decision {
    pb::Decision {
        decision_id: decision.decision_id.to_string(),
        decision_number: decision.decision_number.clone(),
        claim_id: decision.claim_id.to_string(),
        person_id: decision.person_id.to_string(),
        state: decision_state(&decision.state) as i32,
        monthly_amount_dong: decision.monthly_amount_dong,
        months: u32::try_from(decision.months).unwrap_or_default(),
        start_date: Some(pb_date(decision.start_date)),
        end_date: Some(pb_date(decision.end_date)),
        bank_destination: Some(common::BankDestination {
            bank_id: decision.bank_id.clone(),
            kind: decision.destination_kind,
            number,
            holder_name: decision.holder_name.clone(),
        }),
        province: decision.province.clone(),
        centre_id: decision.centre_id.clone(),
        months_status: months
            .iter()
            .map(|month| pb::DecisionMonth {
                window: Some(common::CheckinWindow {
                    benefit_month: u32::try_from(month.benefit_month).unwrap_or_default(),
                    month_start: Some(pb_date(month.first_day)),
                    month_end: Some(pb_date(month.last_day)),
                    opens_on: Some(pb_date(month.opens_on)),
                    closes_on: Some(pb_date(month.closes_on)),
                }),
                status: month_status(&month.status) as i32,
            })
            .collect(),
        assessment,
        approved_by: Some(pb_officer(&decision.approved_by)),
        approved_at: Some(timestamp(decision.approved_at)),
        history: history
            .iter()
            .map(|change| pb::DecisionChange {
                kind: change_kind(&change.kind) as i32,
                at: Some(timestamp(change.at)),
                benefit_month: change
                    .benefit_month
                    .and_then(|month| u32::try_from(month).ok())
                    .unwrap_or_default(),
                termination_reason: change.termination_reason.unwrap_or_default(),
                effective_date: change.effective_date.map(pb_date),
                officer: change.officer_id.as_deref().map(pb_officer),
                note: change.note.clone(),
            })
            .collect(),
    }
}
