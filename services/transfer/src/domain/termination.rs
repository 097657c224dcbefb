//! Which benefit months a termination cancels (Law 74 art. 41(4)): every month that starts on
//! or after its effective date.

use chrono::NaiveDate;

/// Whether a payment for a benefit month starting on `month_start` must not be sent after a
/// termination effective on `effective_date`.
///
/// When the month's first day is unknown (the decision's activation never reached transfer),
/// nothing proves the month began before the termination, so it is treated as cancelled:
/// an unpaid month can be paid by an officer later, money paid for a cancelled month is a
/// debt to recover from the beneficiary.
pub fn cancels(month_start: Option<NaiveDate>, effective_date: NaiveDate) -> bool {
    match month_start {
        Some(start) => start >= effective_date,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn a_month_starting_on_the_effective_date_is_cancelled() {
        assert!(cancels(Some(date(2026, 4, 20)), date(2026, 4, 20)));
        assert!(cancels(Some(date(2026, 5, 20)), date(2026, 4, 20)));
    }

    #[test]
    fn a_month_that_began_before_the_effective_date_is_still_paid() {
        assert!(!cancels(Some(date(2026, 3, 20)), date(2026, 4, 20)));
    }

    #[test]
    fn a_month_whose_start_is_unknown_is_not_paid() {
        assert!(cancels(None, date(2026, 4, 20)));
    }
}
