//! Conversions between the contracts' dates and instants and chrono's.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use contracts::common::v1::Date;
use prost_types::Timestamp;

/// A contract date, when it names a real day.
pub fn date_from_proto(date: Option<&Date>) -> Option<NaiveDate> {
    let date = date?;
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}

/// A day as a contract date.
pub fn date_to_proto(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// An instant as a protobuf timestamp.
pub fn timestamp(instant: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: instant.timestamp(),
        nanos: instant.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_round_trips_and_an_impossible_one_is_refused() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(date_from_proto(Some(&date_to_proto(day))), Some(day));
        let impossible = Date {
            year: 2026,
            month: 2,
            day: 30,
        };
        assert_eq!(date_from_proto(Some(&impossible)), None);
        assert_eq!(date_from_proto(None), None);
    }
}
