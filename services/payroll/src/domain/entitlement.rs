//! Which benefit month a decision pays: the entitlement rules.

use std::collections::BTreeSet;

use chrono::{Months, NaiveDate};
use thiserror::Error;

/// Why a benefit month number was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MonthError {
    /// Benefit months are numbered from 1.
    #[error("benefit month must be at least 1")]
    Zero,
}

/// A benefit month number, 1 for the first month of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BenefitMonth(u32);

impl BenefitMonth {
    /// Parses a month number, refusing 0.
    pub fn new(number: u32) -> Result<BenefitMonth, MonthError> {
        if number == 0 {
            return Err(MonthError::Zero);
        }
        Ok(BenefitMonth(number))
    }

    /// The number, for storage and wire formats.
    pub fn get(self) -> u32 {
        self.0
    }

    /// True for the decision's first month, whose deadline counts from the decision.
    pub fn is_first(self) -> bool {
        self.0 == 1
    }

    /// First day of this month of a benefit starting on `start`: the same date `n - 1`
    /// months later, or that month's last day when the date does not exist.
    pub fn start_from(self, start: NaiveDate) -> Option<NaiveDate> {
        start.checked_add_months(Months::new(self.0 - 1))
    }
}

/// A termination: nothing is paid for a month starting on or after its effective date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    /// Day from which nothing more is paid.
    pub effective_date: NaiveDate,
}

impl Termination {
    /// True when the month starting on `month_start` falls after the termination.
    pub fn cancels(&self, month_start: NaiveDate) -> bool {
        month_start >= self.effective_date
    }
}

/// What payroll knows of a decision to decide whether a month is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionTerms {
    /// Number of benefit months.
    pub months: u32,
    /// Months suspended for a missed check-in: never paid.
    pub suspended: BTreeSet<u32>,
    /// The termination, when the decision ended early.
    pub termination: Option<Termination>,
}

/// Whether a checked-in month is paid, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthVerdict {
    /// Create the month's entitlement.
    Payable,
    /// The month was suspended for a missed check-in.
    Suspended,
    /// The month starts on or after the termination's effective date.
    AfterTermination,
    /// The decision has no such month.
    OutsidePeriod,
}

/// Decides whether a check-in for `month` (starting on `month_start`) earns an entitlement.
pub fn verdict(terms: &DecisionTerms, month: BenefitMonth, month_start: NaiveDate) -> MonthVerdict {
    if month.get() > terms.months {
        return MonthVerdict::OutsidePeriod;
    }
    if terms
        .termination
        .is_some_and(|termination| termination.cancels(month_start))
    {
        return MonthVerdict::AfterTermination;
    }
    if terms.suspended.contains(&month.get()) {
        return MonthVerdict::Suspended;
    }
    MonthVerdict::Payable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn month(n: u32) -> BenefitMonth {
        BenefitMonth::new(n).unwrap()
    }

    fn active(months: u32) -> DecisionTerms {
        DecisionTerms {
            months,
            suspended: BTreeSet::new(),
            termination: None,
        }
    }

    #[test]
    fn a_month_of_an_active_decision_is_payable() {
        assert_eq!(
            verdict(&active(3), month(2), date(2026, 4, 16)),
            MonthVerdict::Payable
        );
    }

    #[test]
    fn a_suspended_month_is_not_paid() {
        let mut terms = active(3);
        terms.suspended.insert(2);
        assert_eq!(
            verdict(&terms, month(2), date(2026, 4, 16)),
            MonthVerdict::Suspended
        );
        assert_eq!(
            verdict(&terms, month(3), date(2026, 5, 16)),
            MonthVerdict::Payable
        );
    }

    #[test]
    fn no_month_starting_on_or_after_the_termination_is_paid() {
        let mut terms = active(3);
        terms.termination = Some(Termination {
            effective_date: date(2026, 4, 20),
        });
        assert_eq!(
            verdict(&terms, month(2), date(2026, 4, 16)),
            MonthVerdict::Payable
        );
        assert_eq!(
            verdict(&terms, month(3), date(2026, 5, 16)),
            MonthVerdict::AfterTermination
        );
        assert_eq!(
            verdict(&terms, month(3), date(2026, 4, 20)),
            MonthVerdict::AfterTermination
        );
    }

    #[test]
    fn a_month_beyond_the_decision_is_outside_its_period() {
        assert_eq!(
            verdict(&active(3), month(4), date(2026, 6, 16)),
            MonthVerdict::OutsidePeriod
        );
    }

    #[test]
    fn month_zero_does_not_exist() {
        assert_eq!(BenefitMonth::new(0), Err(MonthError::Zero));
    }

    #[test]
    fn a_benefit_month_starts_on_the_same_date_or_the_month_end() {
        assert_eq!(
            month(2).start_from(date(2026, 3, 16)),
            Some(date(2026, 4, 16))
        );
        assert_eq!(
            month(2).start_from(date(2026, 1, 31)),
            Some(date(2026, 2, 28))
        );
        assert_eq!(
            month(1).start_from(date(2026, 1, 31)),
            Some(date(2026, 1, 31))
        );
    }
}
