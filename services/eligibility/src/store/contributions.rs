//! The contribution history.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};

use super::StoreError;

/// One contribution record as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ContributionRow {
    /// The person's social insurance number.
    pub social_insurance_number: String,
    /// First day of the month contributed for.
    pub month: NaiveDate,
    /// Employer's id in the collection system.
    pub employer_id: String,
    /// Salary contributions were paid on.
    pub salary_dong: i64,
    /// `indefinite`, `fixed_term`, `short_term` or `seasonal`.
    pub contract_type: String,
    /// Minimum-wage region 1 to 4.
    pub region: i16,
    /// Paid on the state salary scale.
    pub state_salary_scale: bool,
    /// Citizen or legacy id as sent, possibly empty.
    pub citizen_id: String,
}

/// Stores one record; false when the same person, month and employer is already recorded.
pub async fn insert(
    conn: &mut PgConnection,
    record: &ContributionRow,
    source: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO contributions (social_insurance_number, month, employer_id, salary_dong, \
         contract_type, region, state_salary_scale, citizen_id, source, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(&record.social_insurance_number)
    .bind(record.month)
    .bind(&record.employer_id)
    .bind(record.salary_dong)
    .bind(&record.contract_type)
    .bind(record.region)
    .bind(record.state_salary_scale)
    .bind(&record.citizen_id)
    .bind(source)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Stores a batch in one statement; returns the rows that were new.
pub async fn insert_batch(
    conn: &mut PgConnection,
    records: &[ContributionRow],
    source: &str,
    at: DateTime<Utc>,
) -> Result<Vec<ContributionRow>, StoreError> {
    let column = |get: fn(&ContributionRow) -> String| records.iter().map(get).collect::<Vec<_>>();
    let months: Vec<NaiveDate> = records.iter().map(|record| record.month).collect();
    let salaries: Vec<i64> = records.iter().map(|record| record.salary_dong).collect();
    let regions: Vec<i16> = records.iter().map(|record| record.region).collect();
    let state_scale: Vec<bool> = records
        .iter()
        .map(|record| record.state_salary_scale)
        .collect();
    let inserted = sqlx::query_as(
        "INSERT INTO contributions (social_insurance_number, month, employer_id, salary_dong, \
         contract_type, region, state_salary_scale, citizen_id, source, recorded_at) \
         SELECT number, month, employer, salary, contract, region, state_scale, citizen, $9, $10 \
         FROM UNNEST($1::text[], $2::date[], $3::text[], $4::bigint[], $5::text[], \
                     $6::smallint[], $7::boolean[], $8::text[]) \
              AS batch(number, month, employer, salary, contract, region, state_scale, citizen) \
         ON CONFLICT DO NOTHING \
         RETURNING social_insurance_number, month, employer_id, salary_dong, contract_type, \
                   region, state_salary_scale, citizen_id",
    )
    .bind(column(|record| record.social_insurance_number.clone()))
    .bind(months)
    .bind(column(|record| record.employer_id.clone()))
    .bind(salaries)
    .bind(column(|record| record.contract_type.clone()))
    .bind(regions)
    .bind(state_scale)
    .bind(column(|record| record.citizen_id.clone()))
    .bind(source)
    .bind(at)
    .fetch_all(conn)
    .await?;
    Ok(inserted)
}

/// Every record of these social insurance numbers for months up to `last_month`, oldest first.
pub async fn history(
    conn: &mut PgConnection,
    numbers: &[String],
    last_month: NaiveDate,
) -> Result<Vec<ContributionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT social_insurance_number, month, employer_id, salary_dong, contract_type, region, \
         state_salary_scale, citizen_id FROM contributions \
         WHERE social_insurance_number = ANY($1) AND month <= $2 \
         ORDER BY month, salary_dong DESC, employer_id",
    )
    .bind(numbers)
    .bind(last_month)
    .fetch_all(conn)
    .await?)
}

/// The employers that paid for the last month with contributions up to `last_month`.
pub async fn last_employers(
    conn: &mut PgConnection,
    numbers: &[String],
    last_month: NaiveDate,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT employer_id FROM contributions \
         WHERE social_insurance_number = ANY($1) AND month = ( \
             SELECT max(month) FROM contributions \
             WHERE social_insurance_number = ANY($1) AND month <= $2)",
    )
    .bind(numbers)
    .bind(last_month)
    .fetch_all(conn)
    .await?)
}

/// Every record of these social insurance numbers for months after `month`, oldest first.
pub async fn after(
    conn: &mut PgConnection,
    numbers: &[String],
    month: NaiveDate,
) -> Result<Vec<ContributionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT social_insurance_number, month, employer_id, salary_dong, contract_type, region, \
         state_salary_scale, citizen_id FROM contributions \
         WHERE social_insurance_number = ANY($1) AND month > $2 ORDER BY month, employer_id",
    )
    .bind(numbers)
    .bind(month)
    .fetch_all(conn)
    .await?)
}
