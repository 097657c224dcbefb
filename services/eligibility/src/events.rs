//! What eligibility consumes: contribution records (a new job ends a benefit) and check-in
//! outcomes (a missed month suspends, a later check-in resumes, three misses terminate).
//! Each handler writes through the consumer loop's transaction, and every effect is guarded
//! by a natural key or a state check, so a record delivered twice has the effect of once.

use clock::SharedClock;
use contracts::topics;
use contracts::{
    checkin::v1::{CheckinEvent, checkin_event::Kind},
    common::v1 as common,
    contributions::v1::ContributionRecord,
    transfer::v1::TransferOutcome,
};
use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::ids::SocialInsuranceNumber;
use crate::lifecycle::{self, LifecycleError};
use crate::store::contributions::{self as contribution_store, ContributionRow};
use crate::store::rates::CurrentRates;
use crate::wire;

/// The topics eligibility consumes, as one consumer group.
pub const TOPICS: [&str; 3] = [
    topics::CONTRIBUTIONS,
    topics::CHECKIN_SCANS,
    topics::TRANSFER_OUTCOMES,
];

/// ISO 20022 reason code of a bank's answer that the beneficiary has died.
const DECEASED: &str = "MD07";

/// The handler of every topic eligibility consumes.
pub struct Events {
    rates: CurrentRates,
    clock: SharedClock,
}

impl Events {
    /// Handlers judging by the rates in force, reading time from `clock`.
    pub fn new(rates: CurrentRates, clock: SharedClock) -> Self {
        Self { rates, clock }
    }
}

impl From<LifecycleError> for HandlerError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::Store(error) => error.into(),
            other => HandlerError::Permanent(other.to_string()),
        }
    }
}

fn permanent(reason: impl Into<String>) -> HandlerError {
    HandlerError::Permanent(reason.into())
}

/// A contribution record checked at the edge; a malformed one is dead-lettered.
fn parse_record(record: &ContributionRecord) -> Result<ContributionRow, HandlerError> {
    let number = SocialInsuranceNumber::parse(&record.social_insurance_number)
        .map_err(|error| permanent(format!("social_insurance_number: {error}")))?;
    let month = record
        .month
        .as_ref()
        .and_then(|month| {
            let month_number = u32::try_from(month.month).ok()?;
            crate::domain::month::YearMonth::new(month.year, month_number).ok()
        })
        .ok_or_else(|| permanent("month: is not a calendar month"))?;
    if record.employer_id.trim().is_empty() {
        return Err(permanent("employer_id: is required"));
    }
    if record.contribution_salary_dong < 0 {
        return Err(permanent("contribution_salary_dong: is negative"));
    }
    let contract = common::ContractType::try_from(record.contract_type)
        .ok()
        .and_then(wire::contract_name)
        .ok_or_else(|| permanent("contract_type: is not set"))?;
    let region = wire::region(record.employer_region)
        .ok_or_else(|| permanent("employer_region: is not set"))?;
    Ok(ContributionRow {
        social_insurance_number: number.as_string(),
        month: month.first_day(),
        employer_id: record.employer_id.trim().to_owned(),
        salary_dong: record.contribution_salary_dong,
        contract_type: contract.to_owned(),
        region: i16::from(region.number()),
        state_salary_scale: record.state_salary_scale,
        citizen_id: record.citizen_id.clone(),
    })
}

impl Handler for Events {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        let now = self.clock.now();
        let book = self.rates.get();
        match message.topic {
            topics::CONTRIBUTIONS => {
                let event: ContributionRecord = decode(message)?;
                let record = parse_record(&event)?;
                // The natural key (person, month, employer) absorbs a record sent twice under
                // two event ids. The record may already be known from a bulk import and still
                // show a new job, so the check runs either way: it only ends a live decision,
                // which makes a second run change nothing.
                contribution_store::insert(tx, &record, "topic", now).await?;
                lifecycle::contribution_recorded(tx, &book, now, &record).await?;
            }
            topics::CHECKIN_SCANS => {
                let event: CheckinEvent = decode(message)?;
                let decision_id = Uuid::parse_str(&event.decision_id)
                    .map_err(|_| permanent("decision_id: is not a valid id"))?;
                match event.kind {
                    Some(Kind::Missed(_)) => {
                        lifecycle::check_in_missed(
                            tx,
                            &book,
                            now,
                            decision_id,
                            event.benefit_month,
                        )
                        .await?;
                    }
                    Some(Kind::Recorded(_)) => {
                        lifecycle::check_in_recorded(tx, now, decision_id, event.benefit_month)
                            .await?;
                    }
                    None => return Err(permanent("check-in event has no kind")),
                }
            }
            topics::TRANSFER_OUTCOMES => {
                let outcome: TransferOutcome = decode(message)?;
                // Standards ("Banks"): MD07, beneficiary deceased, also ends the benefit. Other
                // outcomes feed statistics and notices, which live elsewhere.
                if outcome.reason_code == DECEASED {
                    let decision_id = Uuid::parse_str(&outcome.decision_id)
                        .map_err(|_| permanent("decision_id: is not a valid id"))?;
                    lifecycle::beneficiary_deceased(
                        tx,
                        &book,
                        now,
                        self.clock.today(),
                        decision_id,
                    )
                    .await?;
                }
            }
            other => {
                return Err(permanent(format!("eligibility does not consume {other}")));
            }
        }
        Ok(())
    }
}
