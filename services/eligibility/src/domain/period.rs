//! The benefit period: start date, benefit months, check-in windows and payment deadlines.

use chrono::{Datelike, Days, Months, NaiveDate};
use thiserror::Error;

use super::calendar::{CalendarError, WorkingCalendar};
use super::rates::RegimeRules;

/// Why a benefit period could not be laid out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeriodError {
    /// Working-day counting failed.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// A date past the last representable one was needed.
    #[error("benefit period starting {0} runs past the last representable date")]
    OutOfRange(NaiveDate),
    /// A check-in window would close before it opens.
    #[error("check-in window closes on {closes}, before it opens on {opens}")]
    WindowClosesBeforeOpening {
        /// Opening day asked for.
        opens: NaiveDate,
        /// Closing day asked for.
        closes: NaiveDate,
    },
    /// The schedule has no benefit month with this number.
    #[error("benefit month {0} is not in the schedule")]
    NoSuchMonth(u32),
}

/// The days on which a beneficiary may report for one benefit month, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInWindow {
    opens: NaiveDate,
    closes: NaiveDate,
}

impl CheckInWindow {
    /// A window; the authority may set any window that does not close before it opens.
    pub fn new(opens: NaiveDate, closes: NaiveDate) -> Result<CheckInWindow, PeriodError> {
        if closes < opens {
            return Err(PeriodError::WindowClosesBeforeOpening { opens, closes });
        }
        Ok(CheckInWindow { opens, closes })
    }

    /// The first day a check-in counts.
    pub fn opens(&self) -> NaiveDate {
        self.opens
    }

    /// The last day a check-in counts.
    pub fn closes(&self) -> NaiveDate {
        self.closes
    }

    /// True when a check-in on `day` is on time.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.opens <= day && day <= self.closes
    }
}

/// One benefit month of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenefitMonth {
    /// 1 for the first benefit month.
    pub number: u32,
    /// First day of the benefit month.
    pub first_day: NaiveDate,
    /// Last day of the benefit month.
    pub last_day: NaiveDate,
    /// When to check in; for month 1 unknown until the decision's hand-over date is set.
    pub check_in: Option<CheckInWindow>,
}

/// The first day of benefit: the 11th working day after the complete claim (2013: 16th).
///
/// Law 74/2025 for the 11th working day; Law 38/2013 art. 50(3) for the 16th. The filing day
/// itself is not counted.
pub fn benefit_start(
    complete_claim_filed: NaiveDate,
    rules: &RegimeRules,
    calendar: &WorkingCalendar,
) -> Result<NaiveDate, PeriodError> {
    Ok(calendar.nth_working_day_after(complete_claim_filed, rules.start_working_day)?)
}

/// The first and last day of each of `count` benefit months starting on `start`.
///
/// A benefit month runs to the day before the same date in the next month; when that date does
/// not exist, to the last day of that next month, and the following benefit month starts on
/// the 1st (the worked example of Decree 61/2020 amending Decree 28/2015: start 30 Jan →
/// month 1 ends 28 Feb, month 2 runs 1–29 Mar, month 3 runs 30 Mar–29 Apr).
pub fn benefit_month_bounds(
    start: NaiveDate,
    count: u32,
) -> Result<Vec<(NaiveDate, NaiveDate)>, PeriodError> {
    let anchor_day = start.day();
    let first_of_start_month = start.with_day(1).ok_or(PeriodError::OutOfRange(start))?;
    let mut bounds = Vec::new();
    let mut first_day = start;
    for number in 1..=count {
        let next_month_first = first_of_start_month
            .checked_add_months(Months::new(number))
            .ok_or(PeriodError::OutOfRange(start))?;
        let last_day = match next_month_first.with_day(anchor_day) {
            Some(same_date) => same_date.pred_opt(),
            None => next_month_first
                .checked_add_months(Months::new(1))
                .and_then(|after| after.pred_opt()),
        }
        .ok_or(PeriodError::OutOfRange(start))?;
        bounds.push((first_day, last_day));
        first_day = last_day.succ_opt().ok_or(PeriodError::OutOfRange(start))?;
    }
    Ok(bounds)
}

/// The check-in window of benefit month 2 onwards: 3 working days from its first day.
///
/// Law 74/2025 art. 40; Decree 374/2025 art. 21. The first day counts when it is a working day.
pub fn later_check_in_window(
    first_day: NaiveDate,
    rules: &RegimeRules,
    calendar: &WorkingCalendar,
) -> Result<CheckInWindow, PeriodError> {
    let closes = calendar.nth_working_day_from(first_day, rules.check_in_working_days)?;
    CheckInWindow::new(first_day, closes)
}

/// The check-in window of benefit month 1: the 3 working days after the decision is handed over.
///
/// Decree 374/2025 art. 21; a check-in on the hand-over day itself is also on time.
pub fn first_check_in_window(
    hand_over: NaiveDate,
    rules: &RegimeRules,
    calendar: &WorkingCalendar,
) -> Result<CheckInWindow, PeriodError> {
    let closes = calendar.nth_working_day_after(hand_over, rules.check_in_working_days)?;
    CheckInWindow::new(hand_over, closes)
}

/// The laid-out benefit period of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenefitSchedule {
    months: Vec<BenefitMonth>,
}

impl BenefitSchedule {
    /// Lays out `count` benefit months from `start` with the check-in windows of months 2 on.
    pub fn plan(
        start: NaiveDate,
        count: u32,
        rules: &RegimeRules,
        calendar: &WorkingCalendar,
    ) -> Result<BenefitSchedule, PeriodError> {
        let mut months = Vec::new();
        for (number, (first_day, last_day)) in (1..).zip(benefit_month_bounds(start, count)?) {
            let check_in = if number == 1 {
                None
            } else {
                Some(later_check_in_window(first_day, rules, calendar)?)
            };
            months.push(BenefitMonth {
                number,
                first_day,
                last_day,
                check_in,
            });
        }
        Ok(BenefitSchedule { months })
    }

    /// Sets month 1's window from the day the decision is handed over to the beneficiary.
    pub fn with_hand_over(
        self,
        hand_over: NaiveDate,
        rules: &RegimeRules,
        calendar: &WorkingCalendar,
    ) -> Result<BenefitSchedule, PeriodError> {
        let window = first_check_in_window(hand_over, rules, calendar)?;
        self.with_window(1, window)
    }

    /// Replaces one month's window, as the authority may for disasters and epidemics.
    pub fn with_window(
        mut self,
        number: u32,
        window: CheckInWindow,
    ) -> Result<BenefitSchedule, PeriodError> {
        let month = self
            .months
            .iter_mut()
            .find(|month| month.number == number)
            .ok_or(PeriodError::NoSuchMonth(number))?;
        month.check_in = Some(window);
        Ok(self)
    }

    /// The benefit months in order.
    pub fn months(&self) -> &[BenefitMonth] {
        &self.months
    }

    /// One benefit month by number.
    pub fn month(&self, number: u32) -> Option<&BenefitMonth> {
        self.months.iter().find(|month| month.number == number)
    }
}

/// Last day to pay month 1: 5 working days after social security receives the decision.
///
/// Decree 374/2025 (2025 regime); Decree 28/2015 as amended by Decree 61/2020 (2013 regime).
pub fn first_payment_deadline(
    decision_received: NaiveDate,
    rules: &RegimeRules,
    calendar: &WorkingCalendar,
) -> Result<NaiveDate, PeriodError> {
    Ok(calendar.nth_working_day_after(decision_received, rules.first_payment_working_days)?)
}

/// Last day to pay a later month: 5 working days counted from the month's 7th day, or from the
/// next working day when the 7th is not one.
pub fn later_payment_deadline(
    month: &BenefitMonth,
    rules: &RegimeRules,
    calendar: &WorkingCalendar,
) -> Result<NaiveDate, PeriodError> {
    let offset = u64::from(
        rules
            .later_payment_from_day_of_benefit_month
            .saturating_sub(1),
    );
    let counted_from = month
        .first_day
        .checked_add_days(Days::new(offset))
        .ok_or(PeriodError::OutOfRange(month.first_day))?;
    Ok(calendar.nth_working_day_from(counted_from, rules.later_payment_working_days)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rates::RateBook;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn rules_2025() -> RegimeRules {
        RateBook::vietnam_defaults()
            .rules_for_termination(date(2026, 1, 1))
            .unwrap()
            .clone()
    }

    fn rules_2013() -> RegimeRules {
        RateBook::vietnam_defaults()
            .rules_for_termination(date(2025, 12, 31))
            .unwrap()
            .clone()
    }

    #[test]
    fn the_2025_benefit_starts_on_the_eleventh_working_day_after_the_claim() {
        let calendar = WorkingCalendar::default();
        // Filed Monday 2026-03-02: the 11th working day after is Tuesday 2026-03-17.
        let start = benefit_start(date(2026, 3, 2), &rules_2025(), &calendar).unwrap();
        assert_eq!(start, date(2026, 3, 17));
    }

    #[test]
    fn the_2013_benefit_starts_on_the_sixteenth_working_day_after_the_claim() {
        let calendar = WorkingCalendar::default();
        // Filed Monday 2026-03-02: 3 weeks plus a day of working days → Tuesday 2026-03-24.
        let start = benefit_start(date(2026, 3, 2), &rules_2013(), &calendar).unwrap();
        assert_eq!(start, date(2026, 3, 24));
    }

    #[test]
    fn a_public_holiday_pushes_the_start_back_a_day() {
        let holiday = WorkingCalendar::with_holidays([date(2026, 3, 10)]);
        let start = benefit_start(date(2026, 3, 2), &rules_2025(), &holiday).unwrap();
        assert_eq!(start, date(2026, 3, 18));
    }

    #[test]
    fn a_benefit_month_runs_to_the_day_before_the_same_date_next_month() {
        let bounds = benefit_month_bounds(date(2026, 3, 17), 2).unwrap();
        assert_eq!(
            bounds,
            [
                (date(2026, 3, 17), date(2026, 4, 16)),
                (date(2026, 4, 17), date(2026, 5, 16))
            ]
        );
    }

    #[test]
    fn a_benefit_starting_on_january_31_keeps_its_anchor_after_february() {
        let bounds = benefit_month_bounds(date(2026, 1, 31), 4).unwrap();
        assert_eq!(
            bounds,
            [
                // Feb 31 does not exist: month 1 runs to Feb's last day.
                (date(2026, 1, 31), date(2026, 2, 28)),
                // The day before Mar 31.
                (date(2026, 3, 1), date(2026, 3, 30)),
                // Apr 31 does not exist: to Apr's last day.
                (date(2026, 3, 31), date(2026, 4, 30)),
                (date(2026, 5, 1), date(2026, 5, 30)),
            ]
        );
    }

    #[test]
    fn the_decree_61_example_starting_january_30_is_reproduced() {
        let bounds = benefit_month_bounds(date(2021, 1, 30), 3).unwrap();
        assert_eq!(
            bounds,
            [
                (date(2021, 1, 30), date(2021, 2, 28)),
                (date(2021, 3, 1), date(2021, 3, 29)),
                (date(2021, 3, 30), date(2021, 4, 29)),
            ]
        );
    }

    #[test]
    fn a_benefit_starting_on_january_31_of_a_leap_year_ends_month_one_on_february_29() {
        let bounds = benefit_month_bounds(date(2028, 1, 31), 1).unwrap();
        assert_eq!(bounds, [(date(2028, 1, 31), date(2028, 2, 29))]);
    }

    #[test]
    fn benefit_months_follow_each_other_without_gaps_across_a_year() {
        let bounds = benefit_month_bounds(date(2026, 8, 31), 12).unwrap();
        for pair in bounds.windows(2) {
            assert_eq!(pair[0].1.succ_opt().unwrap(), pair[1].0);
        }
        assert_eq!(bounds[11].1, date(2027, 8, 30));
    }

    #[test]
    fn later_months_check_in_within_three_working_days_from_their_first_day() {
        let calendar = WorkingCalendar::default();
        // Month starting Friday 2026-04-17: Fri, Mon, Tue → closes Tuesday 2026-04-21.
        let window = later_check_in_window(date(2026, 4, 17), &rules_2025(), &calendar).unwrap();
        assert_eq!(window.opens(), date(2026, 4, 17));
        assert_eq!(window.closes(), date(2026, 4, 21));
        assert!(window.contains(date(2026, 4, 21)));
        assert!(!window.contains(date(2026, 4, 22)));
    }

    #[test]
    fn a_later_month_starting_on_a_weekend_before_a_holiday_gets_its_days_after() {
        let calendar = WorkingCalendar::with_holidays([date(2026, 4, 27)]);
        // Month starts Saturday 2026-04-25; Monday 27 is a holiday → Tue 28, Wed 29, Thu 30.
        let window = later_check_in_window(date(2026, 4, 25), &rules_2025(), &calendar).unwrap();
        assert_eq!(window.closes(), date(2026, 4, 30));
    }

    #[test]
    fn month_one_checks_in_within_three_working_days_after_hand_over() {
        let calendar = WorkingCalendar::default();
        let schedule = BenefitSchedule::plan(date(2026, 3, 17), 3, &rules_2025(), &calendar)
            .unwrap()
            .with_hand_over(date(2026, 3, 13), &rules_2025(), &calendar)
            .unwrap();
        // Handed over Friday 13: Mon 16, Tue 17, Wed 18.
        let window = schedule.month(1).unwrap().check_in.unwrap();
        assert_eq!(
            (window.opens(), window.closes()),
            (date(2026, 3, 13), date(2026, 3, 18))
        );
        let second = schedule.month(2).unwrap();
        assert_eq!(second.first_day, date(2026, 4, 17));
        assert_eq!(second.check_in.unwrap().closes(), date(2026, 4, 21));
    }

    #[test]
    fn month_one_has_no_window_until_the_hand_over_is_known() {
        let calendar = WorkingCalendar::default();
        let schedule =
            BenefitSchedule::plan(date(2026, 3, 17), 3, &rules_2025(), &calendar).unwrap();
        assert_eq!(schedule.month(1).unwrap().check_in, None);
        assert!(
            schedule.months()[1..]
                .iter()
                .all(|month| month.check_in.is_some())
        );
    }

    #[test]
    fn the_authority_can_shift_a_window() {
        let calendar = WorkingCalendar::default();
        let shifted = CheckInWindow::new(date(2026, 4, 17), date(2026, 4, 30)).unwrap();
        let schedule = BenefitSchedule::plan(date(2026, 3, 17), 3, &rules_2025(), &calendar)
            .unwrap()
            .with_window(2, shifted)
            .unwrap();
        assert_eq!(schedule.month(2).unwrap().check_in, Some(shifted));
        let error = BenefitSchedule::plan(date(2026, 3, 17), 3, &rules_2025(), &calendar)
            .unwrap()
            .with_window(4, shifted);
        assert_eq!(error, Err(PeriodError::NoSuchMonth(4)));
    }

    #[test]
    fn a_window_that_closes_before_it_opens_is_refused() {
        assert!(CheckInWindow::new(date(2026, 4, 17), date(2026, 4, 16)).is_err());
    }

    #[test]
    fn month_one_is_paid_within_five_working_days_after_social_security_receives_the_decision() {
        let calendar = WorkingCalendar::default();
        // Received Thursday 2026-03-19: Fri 20, Mon 23 … Thu 26.
        let deadline = first_payment_deadline(date(2026, 3, 19), &rules_2025(), &calendar).unwrap();
        assert_eq!(deadline, date(2026, 3, 26));
    }

    #[test]
    fn a_later_month_is_paid_within_five_working_days_from_its_seventh_day() {
        let calendar = WorkingCalendar::default();
        let month = BenefitMonth {
            number: 2,
            first_day: date(2026, 4, 17),
            last_day: date(2026, 5, 16),
            check_in: None,
        };
        // 7th day is Thursday 2026-04-23: Thu, Fri, Mon, Tue, Wed → 2026-04-29.
        let deadline = later_payment_deadline(&month, &rules_2025(), &calendar).unwrap();
        assert_eq!(deadline, date(2026, 4, 29));
    }

    #[test]
    fn when_the_seventh_day_is_a_saturday_payment_counts_from_monday() {
        let calendar = WorkingCalendar::default();
        let month = BenefitMonth {
            number: 2,
            first_day: date(2026, 4, 19),
            last_day: date(2026, 5, 18),
            check_in: None,
        };
        // 7th day Saturday 2026-04-25 → count from Monday 27: 27, 28, 29, 30, May 1.
        let deadline = later_payment_deadline(&month, &rules_2025(), &calendar).unwrap();
        assert_eq!(deadline, date(2026, 5, 1));
    }
}
