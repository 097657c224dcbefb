//! Calendar months, the unit of contribution records.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use thiserror::Error;

/// Why a year-month was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MonthError {
    /// The month number is not 1 to 12.
    #[error("month {0} is not between 1 and 12")]
    InvalidMonth(u32),
    /// The year is outside what dates can represent.
    #[error("year {0} is out of range")]
    InvalidYear(i32),
}

/// A calendar month such as 2026-03, ordered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    /// A year-month; the month is 1 to 12.
    pub fn new(year: i32, month: u32) -> Result<YearMonth, MonthError> {
        if !(1..=12).contains(&month) {
            return Err(MonthError::InvalidMonth(month));
        }
        if NaiveDate::from_ymd_opt(year, month, 1).is_none() {
            return Err(MonthError::InvalidYear(year));
        }
        Ok(YearMonth { year, month })
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> YearMonth {
        YearMonth {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month number, 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The first day of the month.
    pub fn first_day(self) -> NaiveDate {
        // `new` and `of` only build months whose first day exists.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The month `count` months earlier (unchanged if that precedes every representable date).
    pub fn months_before(self, count: u32) -> YearMonth {
        let index = self.index() - i64::from(count);
        YearMonth::from_index(index).unwrap_or(self)
    }

    fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.month) - 1
    }

    fn from_index(index: i64) -> Option<YearMonth> {
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = u32::try_from(index.rem_euclid(12) + 1).ok()?;
        YearMonth::new(year, month).ok()
    }

    /// How many months `self` is after `earlier` (negative if before).
    pub fn months_since(self, earlier: YearMonth) -> i64 {
        self.index() - earlier.index()
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_thirteen_is_refused() {
        assert_eq!(YearMonth::new(2026, 13), Err(MonthError::InvalidMonth(13)));
        assert_eq!(YearMonth::new(2026, 0), Err(MonthError::InvalidMonth(0)));
    }

    #[test]
    fn counting_back_crosses_the_year() {
        let june = YearMonth::new(2026, 6).unwrap();
        assert_eq!(june.months_before(35), YearMonth::new(2023, 7).unwrap());
        assert_eq!(june.months_since(YearMonth::new(2023, 7).unwrap()), 35);
    }

    #[test]
    fn months_print_as_year_dash_month() {
        assert_eq!(YearMonth::new(2026, 3).unwrap().to_string(), "2026-03");
    }
}
