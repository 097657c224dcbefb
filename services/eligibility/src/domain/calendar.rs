//! Working days: the unit in which the law counts claim, check-in and payment deadlines.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};
use thiserror::Error;

/// Why a working-day computation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// Counting ran past the last date the calendar can represent.
    #[error("working days counted from {0} run past the last representable date")]
    OutOfRange(NaiveDate),
}

/// Which days are working days: Monday to Friday, minus public holidays, plus make-up days.
///
/// The holiday list is data (seeded, then kept by operators), because the Government fixes the
/// Tết and swap days each year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    holidays: BTreeSet<NaiveDate>,
    make_up_working_days: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    /// A calendar where the given dates are public holidays (days off, even on a weekday).
    pub fn with_holidays(holidays: impl IntoIterator<Item = NaiveDate>) -> WorkingCalendar {
        WorkingCalendar {
            holidays: holidays.into_iter().collect(),
            make_up_working_days: BTreeSet::new(),
        }
    }

    /// Adds weekend days that the Government declared working days to make up a bridge holiday.
    pub fn and_make_up_working_days(
        mut self,
        days: impl IntoIterator<Item = NaiveDate>,
    ) -> WorkingCalendar {
        self.make_up_working_days.extend(days);
        self
    }

    /// The listed public holidays, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    /// True when offices work on this day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.make_up_working_days.contains(&day) {
            return true;
        }
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        !weekend && !self.holidays.contains(&day)
    }

    /// The `n`-th working day strictly after `day`; `n = 0` gives `day` itself.
    ///
    /// This is the reading of "the n-th working day after" an event: the event's own day is
    /// not counted (Civil Code 2015 art. 147).
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

    /// Moves `n` working days forward from `day`; the same count as [`Self::nth_working_day_after`].
    pub fn add_working_days(&self, day: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.nth_working_day_after(day, n)
    }

    /// The `n`-th working day counting `day` itself when it is one (`n` ≥ 1).
    ///
    /// This is the reading of "within n working days from" a day: the period starts on that day,
    /// or on the next working day when it is not one.
    pub fn nth_working_day_from(&self, day: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let first = self.first_working_day_on_or_after(day)?;
        self.nth_working_day_after(first, n.saturating_sub(1))
    }

    /// `day` if it is a working day, otherwise the next working day.
    pub fn first_working_day_on_or_after(
        &self,
        day: NaiveDate,
    ) -> Result<NaiveDate, CalendarError> {
        let mut current = day;
        while !self.is_working_day(current) {
            current = current.succ_opt().ok_or(CalendarError::OutOfRange(day))?;
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn saturdays_and_sundays_are_not_working_days() {
        let calendar = WorkingCalendar::default();
        assert!(calendar.is_working_day(date(2026, 3, 13))); // Friday
        assert!(!calendar.is_working_day(date(2026, 3, 14))); // Saturday
        assert!(!calendar.is_working_day(date(2026, 3, 15))); // Sunday
    }

    #[test]
    fn counting_across_a_weekend_skips_it() {
        let calendar = WorkingCalendar::default();
        // Friday 2026-03-13 + 1 working day is Monday 2026-03-16.
        assert_eq!(
            calendar
                .nth_working_day_after(date(2026, 3, 13), 1)
                .unwrap(),
            date(2026, 3, 16)
        );
    }

    #[test]
    fn counting_across_a_public_holiday_skips_it() {
        let calendar = WorkingCalendar::with_holidays([date(2026, 4, 30), date(2026, 5, 1)]);
        // Wednesday 2026-04-29: Thu 30 and Fri 1 are holidays, Sat/Sun off, so Monday 4 May.
        assert_eq!(
            calendar
                .nth_working_day_after(date(2026, 4, 29), 1)
                .unwrap(),
            date(2026, 5, 4)
        );
        let without_holidays = WorkingCalendar::default();
        assert_eq!(
            without_holidays
                .nth_working_day_after(date(2026, 4, 29), 1)
                .unwrap(),
            date(2026, 4, 30)
        );
    }

    #[test]
    fn the_eleventh_working_day_after_a_monday_is_two_weeks_and_a_day_later() {
        let calendar = WorkingCalendar::default();
        // Monday 2026-03-02: working days 3,4,5,6,9,10,11,12,13,16,17 → the 11th is Tue 17.
        assert_eq!(
            calendar
                .nth_working_day_after(date(2026, 3, 2), 11)
                .unwrap(),
            date(2026, 3, 17)
        );
    }

    #[test]
    fn zero_working_days_after_a_day_is_that_day() {
        let calendar = WorkingCalendar::default();
        assert_eq!(
            calendar.add_working_days(date(2026, 3, 14), 0).unwrap(),
            date(2026, 3, 14)
        );
    }

    #[test]
    fn counting_from_a_working_day_counts_that_day() {
        let calendar = WorkingCalendar::default();
        // Monday 2026-03-02 is day 1, so day 3 is Wednesday.
        assert_eq!(
            calendar.nth_working_day_from(date(2026, 3, 2), 3).unwrap(),
            date(2026, 3, 4)
        );
    }

    #[test]
    fn counting_from_a_sunday_starts_on_monday() {
        let calendar = WorkingCalendar::default();
        assert_eq!(
            calendar.nth_working_day_from(date(2026, 3, 1), 1).unwrap(),
            date(2026, 3, 2)
        );
    }

    #[test]
    fn a_make_up_saturday_is_a_working_day() {
        let calendar = WorkingCalendar::default().and_make_up_working_days([date(2026, 3, 14)]);
        assert!(calendar.is_working_day(date(2026, 3, 14)));
        assert_eq!(
            calendar
                .nth_working_day_after(date(2026, 3, 13), 1)
                .unwrap(),
            date(2026, 3, 14)
        );
    }

    #[test]
    fn counting_past_the_last_representable_date_is_an_error() {
        let calendar = WorkingCalendar::default();
        assert_eq!(
            calendar.nth_working_day_after(NaiveDate::MAX, 1),
            Err(CalendarError::OutOfRange(NaiveDate::MAX))
        );
    }
}
