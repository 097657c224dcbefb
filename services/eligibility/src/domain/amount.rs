//! The monthly benefit amount: 60% of the average contribution salary, capped.

use chrono::NaiveDate;
use thiserror::Error;

use super::contributions::ContributionHistory;
use super::money::{Dong, Percent};
use super::month::YearMonth;
use super::rates::{AveragingBasis, CapDate, RateBook, RateError, RegimeRules, Region};

/// Why the amount could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    /// No month with contributions before termination.
    #[error("no contributions up to the termination month")]
    NoContributions,
    /// Fewer salary months than the average needs.
    #[error("the average needs {needed} months with contributions, found {found}")]
    NotEnoughMonths {
        /// Months the rules average.
        needed: u32,
        /// Months available.
        found: u32,
    },
    /// The 2013 regime averages consecutive months and one of them has no contribution.
    #[error("the consecutive months averaged have no contribution for {0}")]
    GapInConsecutiveMonths(YearMonth),
    /// The arithmetic left the range of money amounts.
    #[error("benefit arithmetic overflowed")]
    Overflow,
    /// A rate needed for the cap is missing from the rate book.
    #[error(transparent)]
    Rate(#[from] RateError),
}

/// What the cap is a multiple of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapBasis {
    /// The regional minimum wage of the last employer's region.
    RegionalMinimumWage(Region),
    /// The base salary, for state-scale workers under the 2013 regime.
    BaseSalary,
}

/// The ceiling on the monthly amount, with where its figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// What the cap multiplies.
    pub basis: CapBasis,
    /// The multiplier (5).
    pub multiplier: u32,
    /// The wage or salary multiplied.
    pub reference: Dong,
    /// When that wage or salary took effect.
    pub reference_effective_from: NaiveDate,
    /// The day the wage or salary was read at; stored with the decision.
    pub as_of: NaiveDate,
    /// `multiplier × reference`.
    pub amount: Dong,
}

/// The computed monthly amount with every step of the reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenefitAmount {
    /// The months whose salaries were averaged, newest first.
    pub salary_months: Vec<YearMonth>,
    /// Their average, rounded down to the đồng.
    pub average_salary: Dong,
    /// The share paid (60%).
    pub percent: Percent,
    /// `percent` of the average, rounded down to the đồng.
    pub uncapped: Dong,
    /// The ceiling.
    pub cap: Cap,
    /// True when the cap lowered the amount.
    pub cap_applied: bool,
    /// The amount paid each benefit month.
    pub monthly: Dong,
}

/// Computes the monthly amount for a claim whose job ended on `termination`.
///
/// Law 74/2025 art. 39: 60% of the average over the last 6 months with contributions,
/// at most 5 × the regional minimum wage. Law 38/2013 art. 50(1): the 6 consecutive months
/// before, and 5 × base salary instead for workers on the state salary scale.
pub fn benefit_amount(
    history: &ContributionHistory,
    termination: NaiveDate,
    state_scale: bool,
    rules: &RegimeRules,
    book: &RateBook,
) -> Result<BenefitAmount, AmountError> {
    let termination_month = YearMonth::of(termination);
    let last = history
        .last_contribution_up_to(termination_month)
        .ok_or(AmountError::NoContributions)?;
    let salaries = salaries_averaged(history, last.month, rules)?;
    let salary_months = salaries.iter().map(|(month, _)| *month).collect();
    let amounts: Vec<Dong> = salaries.iter().map(|(_, salary)| *salary).collect();
    let average_salary = Dong::average_floor(&amounts).ok_or(AmountError::NoContributions)?;
    let uncapped = average_salary.percent_floor(rules.benefit_percent);

    let as_of = match rules.cap_read_at {
        CapDate::LastContributionMonth => last.month.first_day(),
        CapDate::TerminationDate => termination,
    };
    let cap = match rules.state_scale_cap_multiplier {
        Some(multiplier) if state_scale => {
            let (effective_from, salary) = book.base_salary(as_of)?;
            cap(
                CapBasis::BaseSalary,
                multiplier,
                salary,
                effective_from,
                as_of,
            )?
        }
        _ => {
            let region = last.region;
            let (effective_from, wage) = book.regional_minimum_wage(region, as_of)?;
            let basis = CapBasis::RegionalMinimumWage(region);
            cap(
                basis,
                rules.regional_cap_multiplier,
                wage,
                effective_from,
                as_of,
            )?
        }
    };
    let cap_applied = uncapped > cap.amount;
    Ok(BenefitAmount {
        salary_months,
        average_salary,
        percent: rules.benefit_percent,
        uncapped,
        cap,
        cap_applied,
        monthly: uncapped.min(cap.amount),
    })
}

fn cap(
    basis: CapBasis,
    multiplier: u32,
    reference: Dong,
    reference_effective_from: NaiveDate,
    as_of: NaiveDate,
) -> Result<Cap, AmountError> {
    let amount = reference
        .checked_mul(multiplier)
        .ok_or(AmountError::Overflow)?;
    Ok(Cap {
        basis,
        multiplier,
        reference,
        reference_effective_from,
        as_of,
        amount,
    })
}

/// The (month, salary) pairs averaged, newest first.
fn salaries_averaged(
    history: &ContributionHistory,
    last_month: YearMonth,
    rules: &RegimeRules,
) -> Result<Vec<(YearMonth, Dong)>, AmountError> {
    let needed = rules.salary_months_averaged;
    match rules.averaging {
        AveragingBasis::LastMonthsWithContributions => {
            let salaries: Vec<_> = history
                .newest_first_up_to(last_month)
                .take(usize::try_from(needed).unwrap_or(usize::MAX))
                .map(|record| (record.month, record.salary))
                .collect();
            let found = u32::try_from(salaries.len()).unwrap_or(u32::MAX);
            if found < needed {
                return Err(AmountError::NotEnoughMonths { needed, found });
            }
            Ok(salaries)
        }
        AveragingBasis::ConsecutiveMonthsBeforeTermination => {
            let mut salaries = Vec::new();
            for back in 0..needed {
                let month = last_month.months_before(back);
                let record = history
                    .month(month)
                    .ok_or(AmountError::GapInConsecutiveMonths(month))?;
                salaries.push((month, record.salary));
            }
            Ok(salaries)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contributions::tests::{months_ending, ym};
    use crate::domain::contributions::{ContractTerm, ContributionMonth};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dong(amount: i64) -> Dong {
        Dong::new(amount).unwrap()
    }

    fn amount_for(
        records: Vec<ContributionMonth>,
        termination: NaiveDate,
        state_scale: bool,
    ) -> Result<BenefitAmount, AmountError> {
        let book = RateBook::vietnam_defaults();
        let rules = book.rules_for_termination(termination).unwrap().clone();
        let history = ContributionHistory::new(records).unwrap();
        benefit_amount(&history, termination, state_scale, &rules, &book)
    }

    #[test]
    fn worked_example_1_pays_sixty_percent_under_the_region_i_cap() {
        let records = months_ending(ym(2026, 3), 40, 10_000_000, Region::I);
        let amount = amount_for(records, date(2026, 3, 10), false).unwrap();
        assert_eq!(amount.average_salary, dong(10_000_000));
        assert_eq!(amount.monthly, dong(6_000_000));
        assert_eq!(amount.cap.amount, dong(26_550_000));
        assert!(!amount.cap_applied);
    }

    #[test]
    fn worked_example_2_caps_a_region_iv_salary_at_five_minimum_wages() {
        let records = months_ending(ym(2026, 1), 24, 40_000_000, Region::IV);
        let amount = amount_for(records, date(2026, 2, 1), false).unwrap();
        assert_eq!(amount.uncapped, dong(24_000_000));
        assert_eq!(amount.cap.amount, dong(18_500_000));
        assert_eq!(amount.cap.basis, CapBasis::RegionalMinimumWage(Region::IV));
        assert!(amount.cap_applied);
        assert_eq!(amount.monthly, dong(18_500_000));
    }

    #[test]
    fn worked_example_6_caps_a_state_scale_worker_at_five_base_salaries() {
        let records = months_ending(ym(2025, 12), 24, 20_000_000, Region::I);
        let amount = amount_for(records, date(2025, 12, 20), true).unwrap();
        assert_eq!(amount.uncapped, dong(12_000_000));
        assert_eq!(amount.cap.basis, CapBasis::BaseSalary);
        assert_eq!(amount.cap.amount, dong(11_700_000));
        assert_eq!(amount.monthly, dong(11_700_000));
    }

    #[test]
    fn a_state_scale_worker_under_the_2025_regime_gets_the_regional_cap() {
        let records = months_ending(ym(2026, 3), 24, 20_000_000, Region::I);
        let amount = amount_for(records, date(2026, 3, 20), true).unwrap();
        assert_eq!(amount.cap.basis, CapBasis::RegionalMinimumWage(Region::I));
        assert_eq!(amount.monthly, dong(12_000_000));
    }

    #[test]
    fn a_private_sector_worker_under_the_2013_regime_gets_the_regional_cap() {
        let records = months_ending(ym(2025, 12), 24, 20_000_000, Region::I);
        let amount = amount_for(records, date(2025, 12, 20), false).unwrap();
        assert_eq!(amount.cap.amount, dong(24_800_000));
        assert_eq!(amount.monthly, dong(12_000_000));
    }

    #[test]
    fn the_cap_is_read_at_the_last_contribution_month_not_at_termination() {
        // Last contribution in 2025-12 (Decree 74/2024 wages), job ended in 2026.
        let records = months_ending(ym(2025, 12), 24, 40_000_000, Region::I);
        let amount = amount_for(records, date(2026, 1, 2), false).unwrap();
        assert_eq!(amount.cap.as_of, date(2025, 12, 1));
        assert_eq!(amount.cap.reference, dong(4_960_000));
        assert_eq!(amount.cap.reference_effective_from, date(2024, 7, 1));
        assert_eq!(amount.monthly, dong(24_000_000));
    }

    #[test]
    fn the_cap_uses_the_new_wages_once_the_last_contribution_month_is_in_2026() {
        let records = months_ending(ym(2026, 1), 24, 40_000_000, Region::I);
        let amount = amount_for(records, date(2026, 1, 31), false).unwrap();
        assert_eq!(amount.cap.reference, dong(5_310_000));
        assert_eq!(amount.monthly, dong(24_000_000));
    }

    #[test]
    fn the_cap_follows_the_region_of_the_last_employer() {
        let mut records = months_ending(ym(2026, 2), 24, 40_000_000, Region::I);
        records[0].region = Region::III;
        let amount = amount_for(records, date(2026, 2, 28), false).unwrap();
        assert_eq!(amount.cap.basis, CapBasis::RegionalMinimumWage(Region::III));
        assert_eq!(amount.monthly, dong(20_700_000));
    }

    #[test]
    fn the_2025_regime_averages_the_last_six_months_with_contributions_across_a_gap() {
        // 2026-01..03 at 9M, a gap in 2025-12, 2025-09..11 at 3M, older months at 1M.
        let mut records = months_ending(ym(2025, 11), 20, 1_000_000, Region::I);
        for record in records.iter_mut().take(3) {
            record.salary = dong(3_000_000);
        }
        records.extend(months_ending(ym(2026, 3), 3, 9_000_000, Region::I));
        let amount = amount_for(records, date(2026, 3, 31), false).unwrap();
        assert_eq!(amount.average_salary, dong(6_000_000));
        assert_eq!(amount.salary_months.last(), Some(&ym(2025, 9)));
    }

    #[test]
    fn the_2013_regime_refuses_a_gap_in_the_six_consecutive_months() {
        let mut records = months_ending(ym(2025, 11), 20, 1_000_000, Region::I);
        records.retain(|record| record.month != ym(2025, 8));
        let result = amount_for(records, date(2025, 11, 30), false);
        assert_eq!(
            result,
            Err(AmountError::GapInConsecutiveMonths(ym(2025, 8)))
        );
    }

    #[test]
    fn an_average_with_a_remainder_is_rounded_down_before_the_sixty_percent() {
        let mut records = months_ending(ym(2026, 3), 12, 10_000_000, Region::I);
        records[0].salary = dong(10_000_005);
        let amount = amount_for(records, date(2026, 3, 31), false).unwrap();
        // 60,000,005 / 6 = 10,000,000.83 → 10,000,000 → 6,000,000.
        assert_eq!(amount.average_salary, dong(10_000_000));
        assert_eq!(amount.monthly, dong(6_000_000));
    }

    #[test]
    fn contributions_after_termination_are_not_averaged() {
        let mut records = months_ending(ym(2026, 3), 12, 10_000_000, Region::I);
        records.push(ContributionMonth {
            month: ym(2026, 4),
            salary: dong(90_000_000),
            contract: ContractTerm::Indefinite,
            region: Region::I,
        });
        let amount = amount_for(records, date(2026, 3, 31), false).unwrap();
        assert_eq!(amount.monthly, dong(6_000_000));
    }

    #[test]
    fn fewer_than_six_months_cannot_be_averaged() {
        let records = months_ending(ym(2026, 3), 5, 10_000_000, Region::I);
        let result = amount_for(records, date(2026, 3, 31), false);
        assert_eq!(
            result,
            Err(AmountError::NotEnoughMonths {
                needed: 6,
                found: 5
            })
        );
    }

    #[test]
    fn no_contributions_cannot_be_averaged() {
        assert_eq!(
            amount_for(vec![], date(2026, 3, 31), false),
            Err(AmountError::NoContributions)
        );
    }
}
