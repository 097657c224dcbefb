//! The dated rate data, read into the rate book the rules use.

use chrono::{DateTime, NaiveDate, Utc};
use std::sync::{Arc, PoisonError, RwLock};

use sqlx::{FromRow, PgConnection, PgPool};

use super::StoreError;
use crate::domain::calendar::WorkingCalendar;
use crate::domain::money::{Dong, Percent};
use crate::domain::rates::{
    AveragingBasis, CapDate, Dated, PensionBar, RateBook, Regime, RegimeRules, Region,
    RegionalMinimumWages,
};

#[derive(FromRow)]
struct RulesRow {
    effective_from: NaiveDate,
    regime: String,
    benefit_basis_points: i32,
    salary_months_averaged: i32,
    averaging: String,
    regional_cap_multiplier: i32,
    state_scale_cap_multiplier: Option<i32>,
    cap_read_at: String,
    minimum_contribution_months: i32,
    standard_window_months: i32,
    short_contract_window_months: i32,
    short_contract_months_from: i32,
    short_contract_months_until: i32,
    filing_limit_months: i32,
    start_working_day: i32,
    disqualifying_window_working_days: i32,
    pension_bar: String,
    base_benefit_months: i32,
    base_contribution_months: i32,
    contribution_months_per_extra_benefit_month: i32,
    max_benefit_months: i32,
    contribution_months_per_unused_benefit_month: i32,
    check_in_working_days: i32,
    first_payment_working_days: i32,
    later_payment_working_days: i32,
    later_payment_from_day_of_benefit_month: i32,
    consecutive_missed_months_to_terminate: i32,
}

fn count(what: &'static str, value: i32) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::corrupt(what, format!("{value} is negative")))
}

fn dong(what: &'static str, value: i64) -> Result<Dong, StoreError> {
    Dong::new(value).map_err(|error| StoreError::corrupt(what, error.to_string()))
}

impl RulesRow {
    fn into_rules(self) -> Result<(NaiveDate, RegimeRules), StoreError> {
        let regime = match self.regime.as_str() {
            "2013" => Regime::Law2013,
            "2025" => Regime::Law2025,
            other => return Err(StoreError::corrupt("regime", other.to_owned())),
        };
        let averaging = match self.averaging.as_str() {
            "last_months_with_contributions" => AveragingBasis::LastMonthsWithContributions,
            "consecutive_months_before_termination" => {
                AveragingBasis::ConsecutiveMonthsBeforeTermination
            }
            other => return Err(StoreError::corrupt("averaging", other.to_owned())),
        };
        let cap_read_at = match self.cap_read_at.as_str() {
            "last_contribution_month" => CapDate::LastContributionMonth,
            "termination_date" => CapDate::TerminationDate,
            other => return Err(StoreError::corrupt("cap_read_at", other.to_owned())),
        };
        let pension_bar = match self.pension_bar.as_str() {
            "when_entitled_to_pension" => PensionBar::WhenEntitledToPension,
            "when_receiving_pension_or_incapacity_allowance" => {
                PensionBar::WhenReceivingPensionOrIncapacityAllowance
            }
            other => return Err(StoreError::corrupt("pension_bar", other.to_owned())),
        };
        let state_scale_cap_multiplier = match self.state_scale_cap_multiplier {
            Some(value) => Some(count("state_scale_cap_multiplier", value)?),
            None => None,
        };
        let rules = RegimeRules {
            regime,
            benefit_percent: Percent::basis_points_of(count(
                "benefit_basis_points",
                self.benefit_basis_points,
            )?),
            salary_months_averaged: count("salary_months_averaged", self.salary_months_averaged)?,
            averaging,
            regional_cap_multiplier: count(
                "regional_cap_multiplier",
                self.regional_cap_multiplier,
            )?,
            state_scale_cap_multiplier,
            cap_read_at,
            minimum_contribution_months: count(
                "minimum_contribution_months",
                self.minimum_contribution_months,
            )?,
            standard_window_months: count("standard_window_months", self.standard_window_months)?,
            short_contract_window_months: count(
                "short_contract_window_months",
                self.short_contract_window_months,
            )?,
            short_contract_months: count(
                "short_contract_months_from",
                self.short_contract_months_from,
            )?
                ..count(
                    "short_contract_months_until",
                    self.short_contract_months_until,
                )?,
            filing_limit_months: count("filing_limit_months", self.filing_limit_months)?,
            start_working_day: count("start_working_day", self.start_working_day)?,
            disqualifying_window_working_days: count(
                "disqualifying_window_working_days",
                self.disqualifying_window_working_days,
            )?,
            pension_bar,
            base_benefit_months: count("base_benefit_months", self.base_benefit_months)?,
            base_contribution_months: count(
                "base_contribution_months",
                self.base_contribution_months,
            )?,
            contribution_months_per_extra_benefit_month: count(
                "contribution_months_per_extra_benefit_month",
                self.contribution_months_per_extra_benefit_month,
            )?,
            max_benefit_months: count("max_benefit_months", self.max_benefit_months)?,
            contribution_months_per_unused_benefit_month: count(
                "contribution_months_per_unused_benefit_month",
                self.contribution_months_per_unused_benefit_month,
            )?,
            check_in_working_days: count("check_in_working_days", self.check_in_working_days)?,
            first_payment_working_days: count(
                "first_payment_working_days",
                self.first_payment_working_days,
            )?,
            later_payment_working_days: count(
                "later_payment_working_days",
                self.later_payment_working_days,
            )?,
            later_payment_from_day_of_benefit_month: count(
                "later_payment_from_day_of_benefit_month",
                self.later_payment_from_day_of_benefit_month,
            )?,
            consecutive_missed_months_to_terminate: count(
                "consecutive_missed_months_to_terminate",
                self.consecutive_missed_months_to_terminate,
            )?,
        };
        Ok((self.effective_from, rules))
    }
}

/// Reads the rate book from the rate tables; a gap (a period without all four regions) is refused.
pub async fn load_rate_book(pool: &PgPool) -> Result<RateBook, StoreError> {
    let mut conn = pool.acquire().await?;
    load(&mut conn).await
}

async fn load(conn: &mut PgConnection) -> Result<RateBook, StoreError> {
    let rows: Vec<RulesRow> = sqlx::query_as("SELECT * FROM regime_rules ORDER BY effective_from")
        .fetch_all(&mut *conn)
        .await?;
    let mut regimes = Vec::new();
    for row in rows {
        regimes.push(row.into_rules()?);
    }

    let wage_rows: Vec<(NaiveDate, i16, i64)> = sqlx::query_as(
        "SELECT effective_from, region, amount_dong FROM regional_minimum_wages \
         ORDER BY effective_from, region",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut wages: Vec<(NaiveDate, [Option<Dong>; 4])> = Vec::new();
    for (from, region, amount) in wage_rows {
        let index = u8::try_from(region)
            .ok()
            .and_then(Region::from_number)
            .map(|region| usize::from(region.number() - 1))
            .ok_or_else(|| StoreError::corrupt("region", region.to_string()))?;
        let amount = dong("regional minimum wage", amount)?;
        match wages.last_mut() {
            Some((last_from, regions)) if *last_from == from => regions[index] = Some(amount),
            _ => {
                let mut regions = [None; 4];
                regions[index] = Some(amount);
                wages.push((from, regions));
            }
        }
    }
    let mut regional = Vec::new();
    for (from, regions) in wages {
        let [
            Some(region_i),
            Some(region_ii),
            Some(region_iii),
            Some(region_iv),
        ] = regions
        else {
            return Err(StoreError::corrupt(
                "regional minimum wage",
                format!("the wages from {from} lack a region"),
            ));
        };
        regional.push((
            from,
            RegionalMinimumWages {
                region_i,
                region_ii,
                region_iii,
                region_iv,
            },
        ));
    }

    let salary_rows: Vec<(NaiveDate, i64)> =
        sqlx::query_as("SELECT effective_from, amount_dong FROM base_salaries")
            .fetch_all(&mut *conn)
            .await?;
    let mut base_salary = Vec::new();
    for (from, amount) in salary_rows {
        base_salary.push((from, dong("base salary", amount)?));
    }

    let holidays: Vec<NaiveDate> = sqlx::query_scalar("SELECT day FROM holidays")
        .fetch_all(&mut *conn)
        .await?;
    let make_up: Vec<NaiveDate> = sqlx::query_scalar("SELECT day FROM make_up_working_days")
        .fetch_all(&mut *conn)
        .await?;
    let calendar = WorkingCalendar::with_holidays(holidays).and_make_up_working_days(make_up);

    let invalid = |error: crate::domain::rates::RateError| {
        StoreError::corrupt("rate data", error.to_string())
    };
    RateBook::new(
        Dated::new("regime rules", regimes).map_err(invalid)?,
        Dated::new("regional minimum wage", regional).map_err(invalid)?,
        Dated::new("base salary", base_salary).map_err(invalid)?,
        calendar,
    )
    .map_err(invalid)
}

/// The rate book in use, replaced whole when an operator changes the rate data.
#[derive(Clone)]
pub struct CurrentRates(Arc<RwLock<Arc<RateBook>>>);

impl CurrentRates {
    /// Rates starting with `book`.
    pub fn new(book: RateBook) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(book))))
    }

    /// The book in force now; a caller keeps the one it got for the whole of its work.
    pub fn get(&self) -> Arc<RateBook> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a newly read book in force.
    pub fn replace(&self, book: RateBook) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(book);
    }
}

/// Reads the rate book through a connection, so a change can be checked before it commits.
pub async fn load_rate_book_in(conn: &mut PgConnection) -> Result<RateBook, StoreError> {
    load(conn).await
}

/// Records a regional minimum wage from a date. A date new to the table gets the other
/// regions' wages in force the day before, so every date keeps all four regions.
pub async fn set_regional_minimum_wage(
    conn: &mut PgConnection,
    effective_from: NaiveDate,
    region: Region,
    amount: Dong,
    source: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO regional_minimum_wages (effective_from, region, amount_dong, source) \
         SELECT $1, w.region, w.amount_dong, w.source FROM regional_minimum_wages w \
         WHERE w.effective_from = (SELECT max(effective_from) FROM regional_minimum_wages \
                                   WHERE effective_from < $1) \
         ON CONFLICT DO NOTHING",
    )
    .bind(effective_from)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO regional_minimum_wages (effective_from, region, amount_dong, source) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (effective_from, region) \
         DO UPDATE SET amount_dong = EXCLUDED.amount_dong, source = EXCLUDED.source",
    )
    .bind(effective_from)
    .bind(i16::from(region.number()))
    .bind(amount.as_i64())
    .bind(source)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the base salary from a date.
pub async fn set_base_salary(
    conn: &mut PgConnection,
    effective_from: NaiveDate,
    amount: Dong,
    source: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO base_salaries (effective_from, amount_dong, source) VALUES ($1, $2, $3) \
         ON CONFLICT (effective_from) \
         DO UPDATE SET amount_dong = EXCLUDED.amount_dong, source = EXCLUDED.source",
    )
    .bind(effective_from)
    .bind(amount.as_i64())
    .bind(source)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a public holiday, or renames it.
pub async fn add_holiday(
    conn: &mut PgConnection,
    day: NaiveDate,
    name: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO holidays (day, name) VALUES ($1, $2) \
         ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name",
    )
    .bind(day)
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a public holiday; false when the day was not one.
pub async fn remove_holiday(conn: &mut PgConnection, day: NaiveDate) -> Result<bool, StoreError> {
    let removed = sqlx::query("DELETE FROM holidays WHERE day = $1")
        .bind(day)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(removed == 1)
}

/// The rates of one set of regime rules, as listed to operators.
#[derive(Debug, FromRow)]
pub struct ListedRules {
    /// First day in force.
    pub effective_from: NaiveDate,
    /// `2013` or `2025`.
    pub regime: String,
    /// Share of the average salary paid, in basis points.
    pub benefit_basis_points: i32,
    /// Cap as a multiple of the regional minimum wage.
    pub regional_cap_multiplier: i32,
    /// Cap as a multiple of the base salary, when the regime has one.
    pub state_scale_cap_multiplier: Option<i32>,
    /// Health-insurance contribution, in basis points of the benefit.
    pub health_insurance_basis_points: i32,
    /// Legal source.
    pub source: String,
}

/// Rate data as listed to operators.
#[derive(Debug, Default)]
pub struct RateListing {
    /// (effective from, region number, amount, source).
    pub wages: Vec<(NaiveDate, i16, i64, String)>,
    /// (effective from, amount, source).
    pub base_salaries: Vec<(NaiveDate, i64, String)>,
    /// The rates of each set of regime rules.
    pub rules: Vec<ListedRules>,
    /// (day, name).
    pub holidays: Vec<(NaiveDate, String)>,
}

/// The rate data, or only what is in force on `as_of` (holidays of that year).
pub async fn listing(
    conn: &mut PgConnection,
    as_of: Option<NaiveDate>,
) -> Result<RateListing, StoreError> {
    let wages = sqlx::query_as(
        "SELECT effective_from, region, amount_dong, source FROM regional_minimum_wages w \
         WHERE $1::date IS NULL OR effective_from = (SELECT max(effective_from) \
               FROM regional_minimum_wages WHERE effective_from <= $1) \
         ORDER BY effective_from, region",
    )
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    let base_salaries = sqlx::query_as(
        "SELECT effective_from, amount_dong, source FROM base_salaries \
         WHERE $1::date IS NULL OR effective_from = (SELECT max(effective_from) \
               FROM base_salaries WHERE effective_from <= $1) \
         ORDER BY effective_from",
    )
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    let rules = sqlx::query_as(
        "SELECT effective_from, regime, benefit_basis_points, regional_cap_multiplier, \
         state_scale_cap_multiplier, health_insurance_basis_points, source FROM regime_rules \
         WHERE $1::date IS NULL OR effective_from = (SELECT max(effective_from) \
               FROM regime_rules WHERE effective_from <= $1) \
         ORDER BY effective_from",
    )
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    let holidays = sqlx::query_as(
        "SELECT day, name FROM holidays \
         WHERE $1::date IS NULL OR date_trunc('year', day) = date_trunc('year', $1::date) \
         ORDER BY day",
    )
    .bind(as_of)
    .fetch_all(conn)
    .await?;
    Ok(RateListing {
        wages,
        base_salaries,
        rules,
        holidays,
    })
}

/// A rate kept in the regime rules, each a column of one set of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateColumn {
    /// Share of the average salary paid, in basis points.
    BenefitShare,
    /// Cap as a multiple of the regional minimum wage.
    RegionalCapMultiple,
    /// Cap as a multiple of the base salary, for state-scale workers.
    StateScaleCapMultiple,
    /// Health-insurance contribution paid from the fund, in basis points of the benefit.
    HealthInsurance,
}

impl RateColumn {
    fn column(self) -> &'static str {
        match self {
            RateColumn::BenefitShare => "benefit_basis_points",
            RateColumn::RegionalCapMultiple => "regional_cap_multiplier",
            RateColumn::StateScaleCapMultiple => "state_scale_cap_multiplier",
            RateColumn::HealthInsurance => "health_insurance_basis_points",
        }
    }
}

/// What became of a rate an operator recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateSet {
    /// Recorded from its date until the next set of rules; the set's sources as now stored.
    Recorded(String),
    /// No regime is in force on the date.
    NoRegimeInForce,
    /// Another regime is in force on the date (its name, `2013` or `2025`).
    OtherRegimeInForce(String),
}

/// Records a rate of `regime` from `effective_from` until the next set of rules.
///
/// The rules are kept as whole sets, each in force from its date: a date new to the table
/// gets a copy of the set in force the day before with this one rate changed, so every other
/// threshold carries on unchanged.
pub async fn set_rate(
    conn: &mut PgConnection,
    effective_from: NaiveDate,
    regime: &str,
    rate: RateColumn,
    value: i32,
    source: &str,
) -> Result<RateSet, StoreError> {
    let in_force: Option<(NaiveDate, String)> = sqlx::query_as(
        "SELECT effective_from, regime FROM regime_rules WHERE effective_from <= $1 \
         ORDER BY effective_from DESC LIMIT 1 FOR UPDATE",
    )
    .bind(effective_from)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((from, in_force_regime)) = in_force else {
        return Ok(RateSet::NoRegimeInForce);
    };
    if in_force_regime != regime {
        return Ok(RateSet::OtherRegimeInForce(in_force_regime));
    }
    if from != effective_from {
        sqlx::query(
            "INSERT INTO regime_rules \
             SELECT (jsonb_populate_record(r, jsonb_build_object('effective_from', $1::date))).* \
             FROM regime_rules r WHERE r.effective_from = $2",
        )
        .bind(effective_from)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    }
    let sources: String = sqlx::query_scalar(&format!(
        "UPDATE regime_rules SET {} = $2, source = source || '; ' || $3 \
         WHERE effective_from = $1 RETURNING source",
        rate.column()
    ))
    .bind(effective_from)
    .bind(value)
    .bind(source)
    .fetch_one(conn)
    .await?;
    Ok(RateSet::Recorded(sources))
}

/// Keeps who changed the rate data, when and what, for audit.
pub async fn record_change(
    conn: &mut PgConnection,
    what: &str,
    effective_from: NaiveDate,
    detail: &str,
    officer_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rate_changes (what, effective_from, detail, officer_id, changed_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(what)
    .bind(effective_from)
    .bind(detail)
    .bind(officer_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
