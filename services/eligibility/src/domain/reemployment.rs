//! Re-employment seen in contribution records: a new job ends a running benefit.

use chrono::NaiveDate;

use super::month::YearMonth;

/// True when a contribution record shows a new job after the employment the benefit is for.
///
/// Domain rules ("Termination"): finding a job with compulsory social insurance ends the
/// benefit. A record for a month after the month employment ended, from an employer other than
/// the one(s) that paid for the last month worked, is such a job; a late record from the old
/// employer (arrears for the last month) is not.
pub fn shows_new_job(
    record_month: YearMonth,
    employer_id: &str,
    employment_ended_on: NaiveDate,
    last_employers: &[String],
) -> bool {
    record_month > YearMonth::of(employment_ended_on)
        && !last_employers.iter().any(|former| former == employer_id)
}

/// The day a termination for a job found in `record_month` takes effect: the month's first day.
///
/// The collection system reports whole months, so the first day of the first month with a
/// new employer is the earliest day the job is known to have run.
pub fn new_job_effective_on(record_month: YearMonth) -> NaiveDate {
    record_month.first_day()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn ym(y: i32, m: u32) -> YearMonth {
        YearMonth::new(y, m).unwrap()
    }

    fn former() -> Vec<String> {
        vec!["EMP-OLD".to_owned()]
    }

    #[test]
    fn a_new_employer_after_the_termination_month_is_a_new_job() {
        assert!(shows_new_job(
            ym(2026, 5),
            "EMP-NEW",
            date(2026, 3, 10),
            &former()
        ));
    }

    #[test]
    fn the_old_employer_paying_late_is_not_a_new_job() {
        assert!(!shows_new_job(
            ym(2026, 5),
            "EMP-OLD",
            date(2026, 3, 10),
            &former()
        ));
    }

    #[test]
    fn a_new_employer_in_the_termination_month_is_not_a_new_job() {
        assert!(!shows_new_job(
            ym(2026, 3),
            "EMP-NEW",
            date(2026, 3, 10),
            &former()
        ));
    }

    #[test]
    fn a_new_job_takes_effect_on_the_first_day_of_its_month() {
        assert_eq!(new_job_effective_on(ym(2026, 5)), date(2026, 5, 1));
    }
}
