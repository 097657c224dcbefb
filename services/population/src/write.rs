//! CSV files of a population, for the import paths and for inspection.

use std::{fs::File, io::BufWriter, path::Path};

use crate::{Contract, Person, Sex};

/// Writes `people.csv` and `contributions.csv` into `directory`; returns how many people.
pub fn write_csv(people: impl Iterator<Item = Person>, directory: &Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(directory)?;
    let mut people_csv =
        csv::Writer::from_writer(BufWriter::new(File::create(directory.join("people.csv"))?));
    let mut contributions_csv = csv::Writer::from_writer(BufWriter::new(File::create(
        directory.join("contributions.csv"),
    )?));
    people_csv.write_record([
        "number",
        "citizen_id",
        "legacy_id",
        "social_insurance_number",
        "full_name",
        "sex",
        "birth_date",
        "province_code",
        "terminated_on",
        "claim_filed_on",
        "bank_id",
        "destination",
        "destination_number",
        "wrong_destination",
        "reemployed_from",
        "duplicate_of",
    ])?;
    contributions_csv.write_record([
        "citizen_id",
        "social_insurance_number",
        "employer_id",
        "month",
        "salary_dong",
        "contract",
        "contract_months",
        "region",
    ])?;
    let mut count = 0;
    for person in people {
        people_csv.write_record([
            person.number.to_string(),
            person.citizen_id.clone(),
            person.legacy_id.clone().unwrap_or_default(),
            person.social_insurance_number.clone(),
            person.full_name.clone(),
            match person.sex {
                Sex::Male => "male".into(),
                Sex::Female => "female".into(),
            },
            person.birth_date.to_string(),
            person.province_code.to_owned(),
            person.terminated_on.to_string(),
            person.claim_filed_on.to_string(),
            person.bank.bank_id.to_owned(),
            if person.bank.is_card {
                "card"
            } else {
                "account"
            }
            .to_owned(),
            person.bank.number.clone(),
            person.bank.wrong.to_string(),
            person
                .reemployed_from
                .map(|date| date.to_string())
                .unwrap_or_default(),
            person
                .duplicate_of
                .map(|number| number.to_string())
                .unwrap_or_default(),
        ])?;
        // A duplicate is a second registration, not a second working life.
        if person.duplicate_of.is_none() {
            for contribution in &person.contributions {
                let (contract, months) = match contribution.contract {
                    Contract::Indefinite => ("indefinite", String::new()),
                    Contract::FixedTerm(months) => ("fixed_term", months.to_string()),
                };
                contributions_csv.write_record([
                    person.citizen_id.as_str(),
                    person.social_insurance_number.as_str(),
                    contribution.employer_id.as_str(),
                    &contribution.month.format("%Y-%m").to_string(),
                    &contribution.salary_dong.to_string(),
                    contract,
                    &months,
                    &contribution.region.to_string(),
                ])?;
            }
        }
        count += 1;
    }
    people_csv.flush()?;
    contributions_csv.flush()?;
    Ok(count)
}
