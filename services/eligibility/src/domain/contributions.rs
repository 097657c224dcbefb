//! Contribution history and the counting of contribution months the law asks for.

use std::collections::BTreeMap;

use thiserror::Error;

use super::money::Dong;
use super::month::YearMonth;
use super::rates::{RegimeRules, Region};

/// Why a contribution history was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContributionError {
    /// A fixed-term contract of zero months does not exist.
    #[error("a fixed-term contract must last at least one month")]
    ZeroLengthContract,
    /// The same month appears twice; the importer merges a month's records before this point.
    #[error("contribution month {0} appears twice")]
    DuplicateMonth(YearMonth),
}

/// The term of an employment contract, which selects the contribution window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractTerm {
    /// A contract without a fixed end.
    Indefinite,
    /// A fixed-term, seasonal or task contract of a whole number of months (at least one).
    FixedTerm {
        /// Length of the contract in months.
        months: u32,
    },
}

impl ContractTerm {
    /// A fixed-term contract; zero months is refused.
    pub fn fixed(months: u32) -> Result<ContractTerm, ContributionError> {
        if months == 0 {
            return Err(ContributionError::ZeroLengthContract);
        }
        Ok(ContractTerm::FixedTerm { months })
    }
}

/// One month of unemployment-insurance contributions as recorded by social security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContributionMonth {
    /// The month contributions were paid for.
    pub month: YearMonth,
    /// The monthly salary contributions were paid on.
    pub salary: Dong,
    /// The contract under which they were paid.
    pub contract: ContractTerm,
    /// The minimum-wage region of the employer.
    pub region: Region,
}

/// What an earlier benefit decision already used of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlierBenefit {
    /// Months up to and including this one were settled by that decision and count no more.
    pub settled_through: YearMonth,
    /// Contribution months that decision left reserved, carried into the next claim's total.
    pub reserved_months: u32,
}

/// How many contribution months fall inside the window before termination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// First month of the window.
    pub first_month: YearMonth,
    /// Last month of the window: the month employment ended.
    pub last_month: YearMonth,
    /// Length of the window in months.
    pub window_months: u32,
    /// Months in the window with contributions not already used by an earlier benefit.
    pub months_counted: u32,
}

/// The contribution months a claim's duration is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalCount {
    /// Months up to termination with contributions not settled by an earlier benefit.
    pub new_months: u32,
    /// Months reserved by an earlier benefit.
    pub reserved_months: u32,
}

impl TotalCount {
    /// New plus reserved months.
    pub fn total(&self) -> u32 {
        self.new_months.saturating_add(self.reserved_months)
    }
}

/// A person's contribution months, at most one record per month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContributionHistory {
    months: BTreeMap<YearMonth, ContributionMonth>,
    earlier_benefit: Option<EarlierBenefit>,
}

impl ContributionHistory {
    /// A history from records in any order; a month recorded twice is refused.
    pub fn new(
        records: impl IntoIterator<Item = ContributionMonth>,
    ) -> Result<ContributionHistory, ContributionError> {
        let mut months = BTreeMap::new();
        for record in records {
            if months.insert(record.month, record).is_some() {
                return Err(ContributionError::DuplicateMonth(record.month));
            }
        }
        Ok(ContributionHistory {
            months,
            earlier_benefit: None,
        })
    }

    /// The same history, marked with what an earlier benefit used and reserved.
    pub fn after_earlier_benefit(mut self, earlier: EarlierBenefit) -> ContributionHistory {
        self.earlier_benefit = Some(earlier);
        self
    }

    /// What an earlier benefit used, if any.
    pub fn earlier_benefit(&self) -> Option<EarlierBenefit> {
        self.earlier_benefit
    }

    /// Records up to and including `last_month`, newest first.
    pub fn newest_first_up_to(
        &self,
        last_month: YearMonth,
    ) -> impl Iterator<Item = &ContributionMonth> {
        self.months
            .range(..=last_month)
            .rev()
            .map(|(_, record)| record)
    }

    /// The record for one month, if contributions were paid.
    pub fn month(&self, month: YearMonth) -> Option<&ContributionMonth> {
        self.months.get(&month)
    }

    /// The last month with contributions up to the month employment ended.
    pub fn last_contribution_up_to(
        &self,
        termination_month: YearMonth,
    ) -> Option<&ContributionMonth> {
        self.newest_first_up_to(termination_month).next()
    }

    fn is_unused(&self, month: YearMonth) -> bool {
        // Law 74/2025 art. 38 / Law 38/2013 art. 49(2): months behind an earlier benefit
        // (converted or reserved) are not counted again towards the condition.
        self.earlier_benefit
            .is_none_or(|earlier| month > earlier.settled_through)
    }

    /// Counts unused contribution months in the `window_months` ending with the termination month.
    ///
    /// The window includes the month employment ended: contributions are paid for that month,
    /// and worked example 4 (ended 2026-06-30, 2023-09 counted in "the last 36 months") needs
    /// it. Months need not be consecutive.
    pub fn count_in_window(&self, termination_month: YearMonth, window_months: u32) -> WindowCount {
        let first_month = termination_month.months_before(window_months.saturating_sub(1));
        let counted = self
            .months
            .range(first_month..=termination_month)
            .filter(|(month, _)| self.is_unused(**month))
            .count();
        WindowCount {
            first_month,
            last_month: termination_month,
            window_months,
            months_counted: u32::try_from(counted).unwrap_or(u32::MAX),
        }
    }

    /// Unused months up to termination plus reserved months: the basis of the duration.
    pub fn total_up_to(&self, termination_month: YearMonth) -> TotalCount {
        let new_months = self
            .months
            .range(..=termination_month)
            .filter(|(month, _)| self.is_unused(**month))
            .count();
        TotalCount {
            new_months: u32::try_from(new_months).unwrap_or(u32::MAX),
            reserved_months: self
                .earlier_benefit
                .map_or(0, |earlier| earlier.reserved_months),
        }
    }
}

/// The window length, in months, for the contract that ended.
///
/// Law 74/2025 art. 38: 12 of 24 months, or 12 of 36 for contracts of 1 to under 12
/// months. Law 38/2013 art. 49(2): 12 of 24 for indefinite and fixed-term contracts (art.
/// 43(1)(a)(b)), 12 of 36 for seasonal or task contracts of 3 to under 12 months (art. 43(1)(c)).
/// Which lengths are "short" is in the rules.
pub fn window_months(rules: &RegimeRules, last_contract: ContractTerm) -> u32 {
    match last_contract {
        ContractTerm::FixedTerm { months } if rules.short_contract_months.contains(&months) => {
            rules.short_contract_window_months
        }
        ContractTerm::FixedTerm { .. } | ContractTerm::Indefinite => rules.standard_window_months,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::rates::RateBook;

    pub(crate) fn ym(year: i32, month: u32) -> YearMonth {
        YearMonth::new(year, month).unwrap()
    }

    /// `count` consecutive months ending with `last`, all at `salary` in `region`.
    pub(crate) fn months_ending(
        last: YearMonth,
        count: u32,
        salary: i64,
        region: Region,
    ) -> Vec<ContributionMonth> {
        (0..count)
            .map(|back| ContributionMonth {
                month: last.months_before(back),
                salary: Dong::new(salary).unwrap(),
                contract: ContractTerm::Indefinite,
                region,
            })
            .collect()
    }

    fn rules_on(y: i32, m: u32, d: u32) -> RegimeRules {
        RateBook::vietnam_defaults()
            .rules_for_termination(NaiveDate::from_ymd_opt(y, m, d).unwrap())
            .unwrap()
            .clone()
    }

    #[test]
    fn a_month_recorded_twice_is_refused() {
        let mut records = months_ending(ym(2026, 3), 2, 1, Region::I);
        records.push(records[0]);
        assert_eq!(
            ContributionHistory::new(records),
            Err(ContributionError::DuplicateMonth(ym(2026, 3)))
        );
    }

    #[test]
    fn a_contract_of_zero_months_is_refused() {
        assert_eq!(
            ContractTerm::fixed(0),
            Err(ContributionError::ZeroLengthContract)
        );
    }

    #[test]
    fn the_window_includes_the_termination_month() {
        let history =
            ContributionHistory::new(months_ending(ym(2026, 6), 12, 1, Region::I)).unwrap();
        let count = history.count_in_window(ym(2026, 6), 24);
        assert_eq!(count.first_month, ym(2024, 7));
        assert_eq!(count.months_counted, 12);
    }

    #[test]
    fn months_before_the_window_are_not_counted() {
        // 12 months ending 2024-06 lie just outside the 24 months ending 2026-06.
        let history =
            ContributionHistory::new(months_ending(ym(2024, 6), 12, 1, Region::I)).unwrap();
        assert_eq!(history.count_in_window(ym(2026, 6), 24).months_counted, 0);
        assert_eq!(history.count_in_window(ym(2026, 6), 36).months_counted, 12);
    }

    #[test]
    fn months_after_termination_are_not_counted() {
        let history =
            ContributionHistory::new(months_ending(ym(2026, 8), 12, 1, Region::I)).unwrap();
        assert_eq!(history.count_in_window(ym(2026, 6), 24).months_counted, 10);
        assert_eq!(history.total_up_to(ym(2026, 6)).total(), 10);
    }

    #[test]
    fn months_settled_by_an_earlier_benefit_do_not_count_again() {
        let history = ContributionHistory::new(months_ending(ym(2026, 6), 20, 1, Region::I))
            .unwrap()
            .after_earlier_benefit(EarlierBenefit {
                settled_through: ym(2025, 12),
                reserved_months: 4,
            });
        // 2025-11..2025-12 were settled; 2026-01..2026-06 are new.
        assert_eq!(history.count_in_window(ym(2026, 6), 24).months_counted, 6);
        let total = history.total_up_to(ym(2026, 6));
        assert_eq!(
            (total.new_months, total.reserved_months, total.total()),
            (6, 4, 10)
        );
    }

    #[test]
    fn a_contract_of_one_to_eleven_months_uses_36_months_under_the_2025_regime() {
        let rules = rules_on(2026, 6, 30);
        assert_eq!(window_months(&rules, ContractTerm::fixed(1).unwrap()), 36);
        assert_eq!(window_months(&rules, ContractTerm::fixed(11).unwrap()), 36);
        assert_eq!(window_months(&rules, ContractTerm::fixed(12).unwrap()), 24);
        assert_eq!(window_months(&rules, ContractTerm::Indefinite), 24);
    }

    #[test]
    fn only_contracts_of_three_to_eleven_months_use_36_months_under_the_2013_regime() {
        let rules = rules_on(2025, 6, 30);
        assert_eq!(window_months(&rules, ContractTerm::fixed(2).unwrap()), 24);
        assert_eq!(window_months(&rules, ContractTerm::fixed(3).unwrap()), 36);
        assert_eq!(window_months(&rules, ContractTerm::fixed(11).unwrap()), 36);
        assert_eq!(window_months(&rules, ContractTerm::fixed(12).unwrap()), 24);
        assert_eq!(window_months(&rules, ContractTerm::Indefinite), 24);
    }
}
