//! A decision's month-by-month check-in windows, and where a scan on a given day falls.
//!
//! The windows come with the decision (Decree 374 art. 21: month 1 within 3 working days of
//! the hand-over, later months within 3 working days of the month's first day; the authority
//! may move them), so they are data here, never recomputed.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc, Weekday};
use thiserror::Error;

/// Why a schedule of windows was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    /// Benefit month 0 does not exist.
    #[error("benefit month must be at least 1")]
    MonthZero,
    /// A window closes before it opens, or a month ends before it starts.
    #[error("benefit month {0} ends before it starts or its window closes before it opens")]
    Backwards(u32),
    /// No windows at all.
    #[error("a decision needs at least one check-in window")]
    Empty,
    /// The months are not 1, 2, 3, ... in order.
    #[error("benefit months must run 1, 2, 3, ... in order; found {found} at position {position}")]
    OutOfOrder {
        /// Position in the list, from 1.
        position: usize,
        /// Month number found there.
        found: u32,
    },
}

/// A benefit month number, 1 for the decision's first month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BenefitMonth(u32);

impl BenefitMonth {
    /// A month number; 0 is refused.
    pub fn new(number: u32) -> Result<Self, WindowError> {
        if number == 0 {
            return Err(WindowError::MonthZero);
        }
        Ok(Self(number))
    }

    /// The number.
    pub fn number(self) -> u32 {
        self.0
    }
}

/// One benefit month and the days on which its check-in counts, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckinWindow {
    month: BenefitMonth,
    month_start: NaiveDate,
    month_end: NaiveDate,
    opens_on: NaiveDate,
    closes_on: NaiveDate,
}

impl CheckinWindow {
    /// A window; refused when the month or the window runs backwards.
    pub fn new(
        month: BenefitMonth,
        month_start: NaiveDate,
        month_end: NaiveDate,
        opens_on: NaiveDate,
        closes_on: NaiveDate,
    ) -> Result<Self, WindowError> {
        if month_end < month_start || closes_on < opens_on {
            return Err(WindowError::Backwards(month.number()));
        }
        Ok(Self {
            month,
            month_start,
            month_end,
            opens_on,
            closes_on,
        })
    }

    /// The benefit month.
    pub fn month(&self) -> BenefitMonth {
        self.month
    }

    /// First day of the benefit month.
    pub fn month_start(&self) -> NaiveDate {
        self.month_start
    }

    /// Last day of the benefit month.
    pub fn month_end(&self) -> NaiveDate {
        self.month_end
    }

    /// First day a check-in counts.
    pub fn opens_on(&self) -> NaiveDate {
        self.opens_on
    }

    /// Last day a check-in counts.
    pub fn closes_on(&self) -> NaiveDate {
        self.closes_on
    }

    /// True when a check-in on `day` is on time.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.opens_on <= day && day <= self.closes_on
    }

    /// True once the last day of the window has passed.
    pub fn closed_by(&self, today: NaiveDate) -> bool {
        today > self.closes_on
    }
}

/// All windows of one decision, months 1, 2, 3, ... in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    windows: Vec<CheckinWindow>,
}

impl Schedule {
    /// A schedule; the months must run 1, 2, 3, ... with none missing.
    pub fn new(windows: Vec<CheckinWindow>) -> Result<Self, WindowError> {
        if windows.is_empty() {
            return Err(WindowError::Empty);
        }
        for (index, window) in windows.iter().enumerate() {
            if window.month.number() as usize != index + 1 {
                return Err(WindowError::OutOfOrder {
                    position: index + 1,
                    found: window.month.number(),
                });
            }
        }
        Ok(Self { windows })
    }

    /// The windows in month order.
    pub fn windows(&self) -> &[CheckinWindow] {
        &self.windows
    }

    /// The window of `month`, when the decision has that month.
    pub fn window(&self, month: BenefitMonth) -> Option<&CheckinWindow> {
        self.windows.get(month.number() as usize - 1)
    }

    /// The last window; a schedule always has one.
    fn last(&self) -> &CheckinWindow {
        // `new` refuses an empty list, so the first window stands in only for the impossible.
        self.windows.last().unwrap_or(&self.windows[0])
    }

    /// Where a check-in on `day` falls.
    ///
    /// Inside a window it counts for that window's month. Otherwise the answer names the window
    /// the person is most likely trying to reach: the one of the benefit month running that
    /// day; outside every month, the last window already closed, or else the first one.
    pub fn locate(&self, day: NaiveDate) -> Placement {
        if let Some(window) = self.windows.iter().find(|window| window.contains(day)) {
            return Placement::Inside(*window);
        }
        let running = self
            .windows
            .iter()
            .find(|window| window.month_start <= day && day <= window.month_end);
        if let Some(window) = running {
            return if day < window.opens_on {
                Placement::TooEarly(*window)
            } else {
                Placement::TooLate(*window)
            };
        }
        match self
            .windows
            .iter()
            .rev()
            .find(|window| window.closed_by(day))
        {
            Some(window) => Placement::TooLate(*window),
            None => Placement::TooEarly(self.windows[0]),
        }
    }

    /// True when every window has closed by `today`.
    pub fn finished_by(&self, today: NaiveDate) -> bool {
        self.last().closed_by(today)
    }
}

/// Where a check-in day falls against a decision's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Inside this window: the check-in counts for its month.
    Inside(CheckinWindow),
    /// Before this window opens.
    TooEarly(CheckinWindow),
    /// After this window closed.
    TooLate(CheckinWindow),
}

/// The calendar day in Vietnam (UTC+7) of an instant; check-in windows are counted in it.
pub fn vietnam_date(instant: DateTime<Utc>) -> NaiveDate {
    (instant + Duration::hours(7)).date_naive()
}

/// Working days allowed for the payment after its counting day (Decree 374: 5 working days
/// from the 7th day of the benefit month).
const PAYMENT_WORKING_DAYS: u32 = 5;

/// The date by which a checked-in month's money is sent, as promised on the kiosk screen.
///
/// The law counts 5 working days from the benefit month's 7th day, or from the next working
/// day when the 7th is not one. Only weekends are skipped here: the public-holiday calendar is
/// eligibility's data, and a holiday can only make the real deadline later, so the promise
/// errs towards the earlier date the system aims far inside of anyway.
pub fn payment_by(window: &CheckinWindow) -> NaiveDate {
    let seventh = window
        .month_start
        .checked_add_days(Days::new(6))
        .unwrap_or(window.month_start);
    let mut day = first_working_day_on_or_after(seventh);
    let mut counted = 1;
    while counted < PAYMENT_WORKING_DAYS {
        day = first_working_day_on_or_after(day.succ_opt().unwrap_or(day));
        counted += 1;
    }
    day
}

fn first_working_day_on_or_after(mut day: NaiveDate) -> NaiveDate {
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn window(
        month: u32,
        start: NaiveDate,
        end: NaiveDate,
        opens: NaiveDate,
        closes: NaiveDate,
    ) -> CheckinWindow {
        CheckinWindow::new(BenefitMonth::new(month).unwrap(), start, end, opens, closes).unwrap()
    }

    /// Benefit from 2026-03-16: month 1 handed over 2026-03-13 (window 13–18 Mar),
    /// month 2 from 16 Apr (window 16–20 Apr), month 3 from 16 May (window 18–20 May).
    fn schedule() -> Schedule {
        Schedule::new(vec![
            window(
                1,
                date(2026, 3, 16),
                date(2026, 4, 15),
                date(2026, 3, 13),
                date(2026, 3, 18),
            ),
            window(
                2,
                date(2026, 4, 16),
                date(2026, 5, 15),
                date(2026, 4, 16),
                date(2026, 4, 20),
            ),
            window(
                3,
                date(2026, 5, 16),
                date(2026, 6, 15),
                date(2026, 5, 18),
                date(2026, 5, 20),
            ),
        ])
        .unwrap()
    }

    fn month_of(placement: Placement) -> (&'static str, u32) {
        match placement {
            Placement::Inside(w) => ("inside", w.month().number()),
            Placement::TooEarly(w) => ("early", w.month().number()),
            Placement::TooLate(w) => ("late", w.month().number()),
        }
    }

    #[test]
    fn a_scan_inside_a_window_counts_for_its_month_on_both_end_days() {
        let schedule = schedule();
        assert_eq!(month_of(schedule.locate(date(2026, 3, 13))), ("inside", 1));
        assert_eq!(month_of(schedule.locate(date(2026, 4, 20))), ("inside", 2));
        assert_eq!(month_of(schedule.locate(date(2026, 5, 18))), ("inside", 3));
    }

    #[test]
    fn a_scan_before_the_first_window_is_too_early_for_month_one() {
        assert_eq!(month_of(schedule().locate(date(2026, 3, 1))), ("early", 1));
    }

    #[test]
    fn a_scan_after_the_window_in_a_running_month_is_too_late_for_that_month() {
        assert_eq!(month_of(schedule().locate(date(2026, 4, 21))), ("late", 2));
    }

    #[test]
    fn a_scan_in_a_month_before_its_moved_window_opens_is_too_early() {
        assert_eq!(month_of(schedule().locate(date(2026, 5, 16))), ("early", 3));
    }

    #[test]
    fn a_scan_after_the_benefit_ended_is_too_late_for_the_last_month() {
        assert_eq!(month_of(schedule().locate(date(2026, 9, 1))), ("late", 3));
    }

    #[test]
    fn months_must_run_in_order_and_windows_forwards() {
        let w1 = window(
            1,
            date(2026, 3, 16),
            date(2026, 4, 15),
            date(2026, 3, 13),
            date(2026, 3, 18),
        );
        let w3 = window(
            3,
            date(2026, 5, 16),
            date(2026, 6, 15),
            date(2026, 5, 18),
            date(2026, 5, 20),
        );
        assert_eq!(
            Schedule::new(vec![w1, w3]),
            Err(WindowError::OutOfOrder {
                position: 2,
                found: 3
            })
        );
        assert_eq!(Schedule::new(vec![]), Err(WindowError::Empty));
        assert_eq!(
            CheckinWindow::new(
                BenefitMonth::new(1).unwrap(),
                date(2026, 3, 16),
                date(2026, 4, 15),
                date(2026, 3, 18),
                date(2026, 3, 13)
            ),
            Err(WindowError::Backwards(1))
        );
        assert_eq!(BenefitMonth::new(0), Err(WindowError::MonthZero));
    }

    #[test]
    fn the_vietnamese_day_starts_at_17_utc() {
        assert_eq!(
            vietnam_date(Utc.with_ymd_and_hms(2026, 4, 20, 16, 59, 59).unwrap()),
            date(2026, 4, 20)
        );
        assert_eq!(
            vietnam_date(Utc.with_ymd_and_hms(2026, 4, 20, 17, 0, 0).unwrap()),
            date(2026, 4, 21)
        );
    }

    #[test]
    fn money_is_sent_within_five_working_days_from_the_seventh_of_the_benefit_month() {
        let schedule = schedule();
        // Month 2 starts Thu 16 Apr; the 7th day is Wed 22 Apr; 5 working days: 22, 23, 24, 27, 28.
        assert_eq!(payment_by(&schedule.windows()[1]), date(2026, 4, 28));
        // Month 3 starts Sat 16 May; the 7th day is Fri 22 May; 22, 25, 26, 27, 28.
        assert_eq!(payment_by(&schedule.windows()[2]), date(2026, 5, 28));
    }

    #[test]
    fn when_the_seventh_is_a_weekend_counting_starts_on_monday() {
        // Starts Sun 1 Mar 2026; the 7th day is Sat 7 Mar; count from Mon 9: 9..13.
        let w = window(
            1,
            date(2026, 3, 1),
            date(2026, 3, 31),
            date(2026, 3, 2),
            date(2026, 3, 4),
        );
        assert_eq!(payment_by(&w), date(2026, 3, 13));
    }

    #[test]
    fn a_schedule_is_finished_once_its_last_window_closed() {
        assert!(!schedule().finished_by(date(2026, 5, 20)));
        assert!(schedule().finished_by(date(2026, 5, 21)));
    }
}
