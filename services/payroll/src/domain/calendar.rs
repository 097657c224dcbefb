//! Working days and the law's payment deadlines.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use thiserror::Error;

use super::entitlement::BenefitMonth;

/// Why a deadline could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// Counting ran past the last date the calendar can represent.
    #[error("working days counted from {0} run past the last representable date")]
    OutOfRange(NaiveDate),
}

/// Working days the law allows to send the money (Decree 374; domain rules "Payment").
pub const PAYMENT_WORKING_DAYS: u32 = 5;

/// Day of the benefit month from which later months' payment is counted.
pub const LATER_MONTHS_COUNT_FROM_DAY: u64 = 7;

/// Public holidays of 2026 that fall on working days, the seed of the configurable list.
///
/// The Government fixes Tết and bridge days every year, so operators keep this list as data.
pub const HOLIDAYS_2026: [(i32, u32, u32); 11] = [
    (2026, 1, 1),
    (2026, 2, 16),
    (2026, 2, 17),
    (2026, 2, 18),
    (2026, 2, 19),
    (2026, 2, 20),
    (2026, 4, 27),
    (2026, 4, 30),
    (2026, 5, 1),
    (2026, 9, 1),
    (2026, 9, 2),
];

/// Monday to Friday minus the listed public holidays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    holidays: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    /// A calendar where the given dates are days off.
    pub fn with_holidays(holidays: impl IntoIterator<Item = NaiveDate>) -> WorkingCalendar {
        WorkingCalendar {
            holidays: holidays.into_iter().collect(),
        }
    }

    /// The seeded 2026 holidays.
    pub fn seeded_holidays() -> Vec<NaiveDate> {
        HOLIDAYS_2026
            .iter()
            .filter_map(|(y, m, d)| NaiveDate::from_ymd_opt(*y, *m, *d))
            .collect()
    }

    /// True when offices work on this day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        !weekend && !self.holidays.contains(&day)
    }

    /// The `n`-th working day strictly after `day` (the event's own day is not counted).
    pub fn nth_working_day_after(
        &self,
        day: NaiveDate,
        n: u32,
    ) -> Result<NaiveDate, CalendarError> {
        let mut current = day;
        let mut remaining = n;
        while remaining > 0 {
            current = current.succ_opt().ok_or(CalendarError::OutOfRange(day))?;
            if self.is_working_day(current) {
                remaining -= 1;
            }
        }
        Ok(current)
    }

    /// The `n`-th working day counting `day` itself when it is one ("within n working days
    /// from"): the period starts on that day, or on the next working day.
    pub fn nth_working_day_from(&self, day: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut first = day;
        while !self.is_working_day(first) {
            first = first.succ_opt().ok_or(CalendarError::OutOfRange(day))?;
        }
        self.nth_working_day_after(first, n.saturating_sub(1))
    }
}

/// The last day by which the law requires a month's money to be sent.
///
/// First month: within 5 working days after social security receives the decision. Later
/// months: within 5 working days counted from the 7th day of the benefit month (from the next
/// working day when the 7th is not one).
pub fn payment_deadline(
    month: BenefitMonth,
    month_start: NaiveDate,
    decision_received: NaiveDate,
    calendar: &WorkingCalendar,
) -> Result<NaiveDate, CalendarError> {
    if month.is_first() {
        return calendar.nth_working_day_after(decision_received, PAYMENT_WORKING_DAYS);
    }
    let seventh = month_start
        .checked_add_days(Days::new(LATER_MONTHS_COUNT_FROM_DAY - 1))
        .ok_or(CalendarError::OutOfRange(month_start))?;
    calendar.nth_working_day_from(seventh, PAYMENT_WORKING_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_first_month_is_due_five_working_days_after_the_decision_arrives() {
        let calendar = WorkingCalendar::default();
        // Thursday 2026-03-19: Fri 20, Mon 23, Tue 24, Wed 25, Thu 26.
        let due = payment_deadline(
            BenefitMonth::new(1).unwrap(),
            date(2026, 3, 16),
            date(2026, 3, 19),
            &calendar,
        )
        .unwrap();
        assert_eq!(due, date(2026, 3, 26));
    }

    #[test]
    fn a_later_month_is_due_five_working_days_from_its_seventh_day() {
        let calendar = WorkingCalendar::default();
        // Month starting Monday 2026-04-13: the 7th day is Sunday 19, counted from Monday 20.
        let due = payment_deadline(
            BenefitMonth::new(2).unwrap(),
            date(2026, 4, 13),
            date(2026, 3, 1),
            &calendar,
        )
        .unwrap();
        assert_eq!(due, date(2026, 4, 24));
    }

    #[test]
    fn public_holidays_push_the_deadline_back() {
        let calendar = WorkingCalendar::with_holidays(WorkingCalendar::seeded_holidays());
        // Month starting 2026-04-24: the 7th day is Thursday 30 April, a holiday like 1 May;
        // counting starts Monday 4 May: 4, 5, 6, 7, 8.
        let due = payment_deadline(
            BenefitMonth::new(3).unwrap(),
            date(2026, 4, 24),
            date(2026, 1, 1),
            &calendar,
        )
        .unwrap();
        assert_eq!(due, date(2026, 5, 8));
    }

    #[test]
    fn the_seeded_holidays_are_all_valid_dates() {
        assert_eq!(
            WorkingCalendar::seeded_holidays().len(),
            HOLIDAYS_2026.len()
        );
    }
}
