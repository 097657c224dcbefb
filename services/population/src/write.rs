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
    // The eligibility service's import format (`eligibility import FILE --header`).
    contributions_csv.write_record([
        "social_insurance_number",
        "citizen_id",
        "employer_id",
        "month",
        "salary_dong",
        "contract_type",
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
        write_contributions(&mut contributions_csv, &person)?;
        count += 1;
    }
    people_csv.flush()?;
    contributions_csv.flush()?;
    Ok(count)
}

/// The contribution rows of `people` in the import format, without a header line, for
/// eligibility's import stream.
pub fn contributions_csv<'a>(
    people: impl IntoIterator<Item = &'a Person>,
) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for person in people {
        write_contributions(&mut writer, person)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

fn write_contributions<W: std::io::Write>(
    writer: &mut csv::Writer<W>,
    person: &Person,
) -> anyhow::Result<()> {
    // A duplicate is a second registration, not a second working life.
    if person.duplicate_of.is_some() {
        return Ok(());
    }
    for contribution in &person.contributions {
        writer.write_record([
            person.social_insurance_number.as_str(),
            person.citizen_id.as_str(),
            contribution.employer_id.as_str(),
            &contribution.month.format("%Y-%m").to_string(),
            &contribution.salary_dong.to_string(),
            contract_type(contribution.contract),
            &contribution.region.to_string(),
        ])?;
    }
    Ok(())
}

/// The import's contract types: fixed terms under 12 months are the law's short contracts.
fn contract_type(contract: Contract) -> &'static str {
    match contract {
        Contract::Indefinite => "indefinite",
        Contract::FixedTerm(months) if months < 12 => "short_term",
        Contract::FixedTerm(_) => "fixed_term",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Spec, generate};

    #[test]
    fn every_contribution_row_is_accepted_by_the_eligibility_import() {
        let directory = std::env::temp_dir().join(format!("population-{}", std::process::id()));
        let spec = Spec::new(
            300,
            7,
            chrono::NaiveDate::from_ymd_opt(2026, 3, 15).unwrap(),
        );
        write_csv(generate(&spec), &directory).unwrap();

        let mut reader = csv::Reader::from_path(directory.join("contributions.csv")).unwrap();
        let mut rows = 0;
        for (index, record) in reader.records().enumerate() {
            let record = record.unwrap();
            let line = index as u64 + 2;
            if let Err(bad) = eligibility::import::parse_row(line, &record) {
                panic!("line {line} refused: {bad:?}");
            }
            rows += 1;
        }
        std::fs::remove_dir_all(&directory).unwrap();
        assert!(rows > 300, "every person has contribution months");
    }

    #[test]
    fn the_in_memory_rows_are_the_file_s_rows_without_its_header() {
        let directory =
            std::env::temp_dir().join(format!("population-rows-{}", std::process::id()));
        let spec = Spec::new(50, 9, chrono::NaiveDate::from_ymd_opt(2026, 3, 15).unwrap());
        write_csv(generate(&spec), &directory).unwrap();
        let file = std::fs::read_to_string(directory.join("contributions.csv")).unwrap();
        std::fs::remove_dir_all(&directory).unwrap();
        let people: Vec<_> = generate(&spec).collect();
        let rows = contributions_csv(&people).unwrap();
        assert_eq!(file.split_once('\n').unwrap().1, rows);
    }
}
