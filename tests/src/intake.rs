//! A generated person as the job centre registers them: the person, their claim and the bank
//! destination it names. Shared by the month, the fault suite and the benchmark, so the three
//! file claims the same way.

use chrono::{Datelike as _, NaiveDate};
use contracts::common::v1::{BankDestination, Date, DestinationKind, Officer};
use contracts::eligibility::v1::eligibility_service_client::EligibilityServiceClient;
use contracts::eligibility::v1::{
    Claim, EmploymentEndReason, RegisterClaimRequest, RegisterPersonRequest, Sex,
};
use population::Person;
use tonic::transport::Channel;

use crate::law::contract_type;

/// `day` as the contracts carry it.
pub fn date_of(day: NaiveDate) -> Option<Date> {
    Some(Date {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap_or_default(),
        day: i32::try_from(day.day()).unwrap_or_default(),
    })
}

/// The card or account `bank` names, held by `holder`.
pub fn destination(bank: &population::BankDestination, holder: &str) -> BankDestination {
    BankDestination {
        bank_id: bank.bank_id.into(),
        kind: if bank.is_card {
            DestinationKind::Card
        } else {
            DestinationKind::Account
        } as i32,
        number: bank.number.clone(),
        holder_name: holder.into(),
    }
}

/// Registers `person` in `province` (its administrative code).
pub fn person_request(
    person: &Person,
    province: &str,
    officer: Option<Officer>,
) -> RegisterPersonRequest {
    RegisterPersonRequest {
        full_name: person.full_name.clone(),
        birth_date: date_of(person.birth_date),
        sex: match person.sex {
            population::Sex::Male => Sex::Male,
            population::Sex::Female => Sex::Female,
        } as i32,
        citizen_id: person.citizen_id.clone(),
        legacy_id: person.legacy_id.clone().unwrap_or_default(),
        social_insurance_number: person.social_insurance_number.clone(),
        province: province.into(),
        officer,
    }
}

/// Where a claim is filed: the day, the province (administrative code) and the job centre.
pub struct Filing<'a> {
    /// The intake day.
    pub on: NaiveDate,
    /// The province's administrative code.
    pub province: &'a str,
    /// The job centre.
    pub centre_id: &'a str,
    /// The registering officer.
    pub officer: Option<Officer>,
}

/// The claim of `person`, registered as `person_id`, their contract having expired.
pub fn claim_request(
    person: &Person,
    person_id: String,
    filing: Filing<'_>,
) -> RegisterClaimRequest {
    RegisterClaimRequest {
        person_id,
        termination_date: date_of(person.terminated_on),
        end_reason: EmploymentEndReason::ContractExpired as i32,
        last_contract_type: contract_type(person) as i32,
        filing_date: date_of(filing.on),
        bank_destination: Some(destination(&person.bank, &person.full_name)),
        qualifies_for_pension: false,
        province: filing.province.into(),
        centre_id: filing.centre_id.into(),
        officer: filing.officer,
    }
}

/// Registers `person` at the job centre of `filing` and files their claim there; returns the
/// claim as eligibility assessed it.
pub async fn register(
    eligibility: &mut EligibilityServiceClient<Channel>,
    person: &Person,
    filing: Filing<'_>,
) -> anyhow::Result<Claim> {
    let officer = filing.officer.clone();
    let registered = eligibility
        .register_person(person_request(person, filing.province, officer))
        .await?
        .into_inner()
        .person
        .ok_or_else(|| anyhow::anyhow!("no person in the registration's reply"))?;
    eligibility
        .register_claim(claim_request(person, registered.person_id, filing))
        .await?
        .into_inner()
        .claim
        .ok_or_else(|| anyhow::anyhow!("no claim in the registration's reply"))
}
