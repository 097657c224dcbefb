//! The law's rates and thresholds as effective-dated data, never as constants in the rules.
//!
//! Operators change these values (a migration seeds the same ones as
//! [`RateBook::vietnam_defaults`]); the rules only ever read them through a date.

use std::fmt;
use std::ops::Range;

use chrono::NaiveDate;
use thiserror::Error;

use super::calendar::WorkingCalendar;
use super::money::{Dong, Percent};

/// Why a rate book was refused or could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RateError {
    /// A dated series has no entries.
    #[error("{0} has no entries")]
    Empty(&'static str),
    /// Two entries of a dated series start on the same day.
    #[error("{what} has two entries starting {date}")]
    DuplicateDate {
        /// Which series.
        what: &'static str,
        /// The repeated start date.
        date: NaiveDate,
    },
    /// No entry of a series is in force on the date asked about.
    #[error("no {what} in force on {date}")]
    NotInForce {
        /// Which series.
        what: &'static str,
        /// The date asked about.
        date: NaiveDate,
    },
    /// A regime's rules are inconsistent (a zero divisor, a window shorter than its minimum…).
    #[error("{regime} rules are invalid: {reason}")]
    InvalidRule {
        /// Which regime.
        regime: Regime,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A series of values, each in force from its date until the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dated<T> {
    what: &'static str,
    entries: Vec<(NaiveDate, T)>,
}

impl<T> Dated<T> {
    /// Builds a series from `(effective from, value)` pairs in any order; `what` names it in errors.
    pub fn new(
        what: &'static str,
        mut entries: Vec<(NaiveDate, T)>,
    ) -> Result<Dated<T>, RateError> {
        if entries.is_empty() {
            return Err(RateError::Empty(what));
        }
        entries.sort_by_key(|(from, _)| *from);
        for pair in entries.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(RateError::DuplicateDate {
                    what,
                    date: pair[0].0,
                });
            }
        }
        Ok(Dated { what, entries })
    }

    /// The value in force on `date`, with the date it took effect.
    pub fn in_force_on(&self, date: NaiveDate) -> Result<(NaiveDate, &T), RateError> {
        self.entries
            .iter()
            .rev()
            .find(|(from, _)| *from <= date)
            .map(|(from, value)| (*from, value))
            .ok_or(RateError::NotInForce {
                what: self.what,
                date,
            })
    }

    /// All entries in date order.
    pub fn entries(&self) -> impl Iterator<Item = (NaiveDate, &T)> {
        self.entries.iter().map(|(from, value)| (*from, value))
    }
}

/// The body of law a claim is judged under, chosen by the termination date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regime {
    /// Employment Law 38/2013/QH13 with Decree 28/2015 as amended by Decree 61/2020.
    Law2013,
    /// Employment Law 74/2025/QH15 with Decree 374/2025, in force from 2026-01-01.
    Law2025,
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Regime::Law2013 => "2013 regime",
            Regime::Law2025 => "2025 regime",
        })
    }
}

/// The minimum-wage region of an employer's location (Decree 74/2024, Decree 293/2025 annexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// Region I.
    I,
    /// Region II.
    II,
    /// Region III.
    III,
    /// Region IV.
    IV,
}

impl Region {
    /// The region numbered 1 to 4, as stored.
    pub fn from_number(number: u8) -> Option<Region> {
        match number {
            1 => Some(Region::I),
            2 => Some(Region::II),
            3 => Some(Region::III),
            4 => Some(Region::IV),
            _ => None,
        }
    }

    /// The region's number 1 to 4, as stored.
    pub fn number(self) -> u8 {
        match self {
            Region::I => 1,
            Region::II => 2,
            Region::III => 3,
            Region::IV => 4,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Region::I => "region I",
            Region::II => "region II",
            Region::III => "region III",
            Region::IV => "region IV",
        })
    }
}

/// Monthly regional minimum wages for one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionalMinimumWages {
    /// Region I.
    pub region_i: Dong,
    /// Region II.
    pub region_ii: Dong,
    /// Region III.
    pub region_iii: Dong,
    /// Region IV.
    pub region_iv: Dong,
}

impl RegionalMinimumWages {
    /// The wage for one region.
    pub fn for_region(&self, region: Region) -> Dong {
        match region {
            Region::I => self.region_i,
            Region::II => self.region_ii,
            Region::III => self.region_iii,
            Region::IV => self.region_iv,
        }
    }
}

/// Which months' salaries the benefit averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AveragingBasis {
    /// The last months that had contributions, gaps allowed (Law 74/2025 art. 39).
    LastMonthsWithContributions,
    /// The consecutive calendar months ending with the last contribution month, no gap allowed
    /// (Law 38/2013 art. 50(1): "06 tháng liền kề").
    ConsecutiveMonthsBeforeTermination,
}

/// Which day the regional minimum wage for the cap is read at (unconfirmed in law; stored with
/// each decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapDate {
    /// The first day of the last month with contributions.
    LastContributionMonth,
    /// The day employment ended.
    TerminationDate,
}

/// Which pension situation bars the benefit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PensionBar {
    /// Qualifying for a monthly pension bars it, drawn or not (Law 74/2025 art. 38).
    WhenEntitledToPension,
    /// Only receiving a monthly pension or incapacity allowance bars it (Law 38/2013 art. 49(1)).
    WhenReceivingPensionOrIncapacityAllowance,
}

/// Every threshold of one regime; all are data so operators can correct them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegimeRules {
    /// Which regime these rules are.
    pub regime: Regime,
    /// Share of the average salary paid each month (60%).
    pub benefit_percent: Percent,
    /// How many months' salaries are averaged (6).
    pub salary_months_averaged: u32,
    /// Which months those are.
    pub averaging: AveragingBasis,
    /// Cap as a multiple of the regional minimum wage (5).
    pub regional_cap_multiplier: u32,
    /// Cap as a multiple of the base salary for state-scale workers, when the regime has one.
    pub state_scale_cap_multiplier: Option<u32>,
    /// Which day the cap's wage is read at.
    pub cap_read_at: CapDate,
    /// Contribution months needed inside the window (12).
    pub minimum_contribution_months: u32,
    /// Window before termination for most contracts, in months (24).
    pub standard_window_months: u32,
    /// Window for short fixed-term contracts, in months (36).
    pub short_contract_window_months: u32,
    /// Contract lengths in months that use the longer window.
    pub short_contract_months: Range<u32>,
    /// Months after termination within which the complete claim must be filed (3).
    pub filing_limit_months: u32,
    /// The benefit starts on this working day after the complete claim (11; 2013: 16).
    pub start_working_day: u32,
    /// Working days after the claim in which a new job, service etc. disqualifies (10; 2013: 15).
    pub disqualifying_window_working_days: u32,
    /// Which pension situation bars the benefit.
    pub pension_bar: PensionBar,
    /// Benefit months for the first block of contributions (3).
    pub base_benefit_months: u32,
    /// Contribution months that block covers (36).
    pub base_contribution_months: u32,
    /// Further contribution months that add one benefit month (12).
    pub contribution_months_per_extra_benefit_month: u32,
    /// Most benefit months one claim can give (12).
    pub max_benefit_months: u32,
    /// Contribution months reserved back per unused benefit month when a benefit ends early
    /// (12; unconfirmed).
    pub contribution_months_per_unused_benefit_month: u32,
    /// Working days to check in, after hand-over (month 1) or from the month's first day (3).
    pub check_in_working_days: u32,
    /// Working days to pay month 1 after social security receives the decision (5).
    pub first_payment_working_days: u32,
    /// Working days to pay later months, counted from a given day of the benefit month (5).
    pub later_payment_working_days: u32,
    /// The day of the benefit month that later payments are counted from (7).
    pub later_payment_from_day_of_benefit_month: u32,
    /// Consecutive months without check-in that terminate the benefit (3).
    pub consecutive_missed_months_to_terminate: u32,
}

impl RegimeRules {
    /// Contribution months above which further months are lost rather than reserved (144).
    pub fn conversion_ceiling_months(&self) -> u32 {
        let extra_months = self
            .max_benefit_months
            .saturating_sub(self.base_benefit_months);
        self.base_contribution_months.saturating_add(
            extra_months.saturating_mul(self.contribution_months_per_extra_benefit_month),
        )
    }

    fn validate(&self) -> Result<(), RateError> {
        let invalid = |reason| {
            Err(RateError::InvalidRule {
                regime: self.regime,
                reason,
            })
        };
        if self.contribution_months_per_extra_benefit_month == 0 {
            return invalid("contribution months per extra benefit month is zero");
        }
        if !self.benefit_percent.is_at_most_whole() {
            return invalid("benefit percentage is above 100%");
        }
        if self.salary_months_averaged == 0 {
            return invalid("no salary months are averaged");
        }
        if self.minimum_contribution_months == 0 {
            return invalid("minimum contribution months is zero");
        }
        if self.standard_window_months < self.minimum_contribution_months
            || self.short_contract_window_months < self.minimum_contribution_months
        {
            return invalid("a contribution window is shorter than the minimum it must contain");
        }
        if self.base_benefit_months > self.max_benefit_months {
            return invalid("base benefit months exceed the maximum");
        }
        if self.later_payment_from_day_of_benefit_month == 0 {
            return invalid("later payments are counted from day zero");
        }
        if self.consecutive_missed_months_to_terminate == 0 {
            return invalid("zero missed months would terminate every benefit");
        }
        Ok(())
    }
}

/// Every dated rate and threshold the rules read, plus the working-day calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateBook {
    regimes: Dated<RegimeRules>,
    regional_minimum_wages: Dated<RegionalMinimumWages>,
    base_salary: Dated<Dong>,
    calendar: WorkingCalendar,
}

impl RateBook {
    /// Builds a rate book, checking each regime's rules for consistency.
    pub fn new(
        regimes: Dated<RegimeRules>,
        regional_minimum_wages: Dated<RegionalMinimumWages>,
        base_salary: Dated<Dong>,
        calendar: WorkingCalendar,
    ) -> Result<RateBook, RateError> {
        for (_, rules) in regimes.entries() {
            rules.validate()?;
        }
        Ok(RateBook {
            regimes,
            regional_minimum_wages,
            base_salary,
            calendar,
        })
    }

    /// The regime rules in force on the day employment ended: claims are judged under them.
    pub fn rules_for_termination(&self, termination: NaiveDate) -> Result<&RegimeRules, RateError> {
        self.regimes
            .in_force_on(termination)
            .map(|(_, rules)| rules)
    }

    /// The regional minimum wage for `region` in force on `date`, with its effective date.
    pub fn regional_minimum_wage(
        &self,
        region: Region,
        date: NaiveDate,
    ) -> Result<(NaiveDate, Dong), RateError> {
        self.regional_minimum_wages
            .in_force_on(date)
            .map(|(from, wages)| (from, wages.for_region(region)))
    }

    /// The base salary (mức lương cơ sở) in force on `date`, with its effective date.
    pub fn base_salary(&self, date: NaiveDate) -> Result<(NaiveDate, Dong), RateError> {
        self.base_salary
            .in_force_on(date)
            .map(|(from, salary)| (from, *salary))
    }

    /// The working-day calendar (weekends, public holidays, make-up days).
    pub fn calendar(&self) -> &WorkingCalendar {
        &self.calendar
    }

    /// The same rates with another calendar.
    pub fn with_calendar(mut self, calendar: WorkingCalendar) -> RateBook {
        self.calendar = calendar;
        self
    }

    /// The values in force in Vietnam as published, to seed a new installation.
    pub fn vietnam_defaults() -> RateBook {
        seed::rate_book()
    }
}

/// The published values; kept apart so the seeding migration can be checked against them.
mod seed {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        // Every literal below is a real calendar date; MIN is never reached.
        NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
    }

    fn dong(amount: u32) -> Dong {
        Dong::from_u32(amount)
    }

    fn rules_2013() -> RegimeRules {
        RegimeRules {
            regime: Regime::Law2013,
            benefit_percent: Percent::whole(60),
            salary_months_averaged: 6,
            averaging: AveragingBasis::ConsecutiveMonthsBeforeTermination,
            regional_cap_multiplier: 5,
            // Law 38/2013 art. 50(1): 5 × base salary for workers on the state salary scale.
            state_scale_cap_multiplier: Some(5),
            cap_read_at: CapDate::LastContributionMonth,
            minimum_contribution_months: 12,
            standard_window_months: 24,
            short_contract_window_months: 36,
            // Law 38/2013 art. 49(2) with art. 43(1)(c): seasonal or task contracts of 3 to
            // under 12 months.
            short_contract_months: 3..12,
            filing_limit_months: 3,
            start_working_day: 16,
            disqualifying_window_working_days: 15,
            pension_bar: PensionBar::WhenReceivingPensionOrIncapacityAllowance,
            base_benefit_months: 3,
            base_contribution_months: 36,
            contribution_months_per_extra_benefit_month: 12,
            max_benefit_months: 12,
            contribution_months_per_unused_benefit_month: 12,
            check_in_working_days: 3,
            first_payment_working_days: 5,
            later_payment_working_days: 5,
            later_payment_from_day_of_benefit_month: 7,
            consecutive_missed_months_to_terminate: 3,
        }
    }

    fn rules_2025() -> RegimeRules {
        RegimeRules {
            regime: Regime::Law2025,
            averaging: AveragingBasis::LastMonthsWithContributions,
            // Law 74/2025 art. 39: one cap, the regional minimum wage, for everybody.
            state_scale_cap_multiplier: None,
            // Law 74/2025 art. 38: contracts of 1 to under 12 months.
            short_contract_months: 1..12,
            start_working_day: 11,
            disqualifying_window_working_days: 10,
            pension_bar: PensionBar::WhenEntitledToPension,
            ..rules_2013()
        }
    }

    fn holidays() -> WorkingCalendar {
        let holidays = [
            // 2024: New Year; Tết; Hùng Kings; bridge, Reunification, Labour; National Day.
            date(2024, 1, 1),
            date(2024, 2, 8),
            date(2024, 2, 9),
            date(2024, 2, 12),
            date(2024, 2, 13),
            date(2024, 2, 14),
            date(2024, 4, 18),
            date(2024, 4, 29),
            date(2024, 4, 30),
            date(2024, 5, 1),
            date(2024, 9, 2),
            date(2024, 9, 3),
            // 2025.
            date(2025, 1, 1),
            date(2025, 1, 27),
            date(2025, 1, 28),
            date(2025, 1, 29),
            date(2025, 1, 30),
            date(2025, 1, 31),
            date(2025, 4, 7),
            date(2025, 4, 30),
            date(2025, 5, 1),
            date(2025, 5, 2),
            date(2025, 9, 1),
            date(2025, 9, 2),
            // 2026: Tết weekdays 16–20 Feb; Hùng Kings falls on Sunday 26 Apr, taken Monday 27.
            date(2026, 1, 1),
            date(2026, 2, 16),
            date(2026, 2, 17),
            date(2026, 2, 18),
            date(2026, 2, 19),
            date(2026, 2, 20),
            date(2026, 4, 27),
            date(2026, 4, 30),
            date(2026, 5, 1),
            date(2026, 9, 1),
            date(2026, 9, 2),
        ];
        // Saturdays worked to make up the 2024 and 2025 bridge days.
        let make_up = [date(2024, 5, 4), date(2025, 4, 26)];
        WorkingCalendar::with_holidays(holidays).and_make_up_working_days(make_up)
    }

    pub(super) fn rate_book() -> RateBook {
        let regimes = vec![
            // Law 38/2013's unemployment-insurance chapter took effect on 2015-01-01.
            (date(2015, 1, 1), rules_2013()),
            (date(2026, 1, 1), rules_2025()),
        ];
        let wages = vec![
            (
                // Decree 74/2024/NĐ-CP.
                date(2024, 7, 1),
                RegionalMinimumWages {
                    region_i: dong(4_960_000),
                    region_ii: dong(4_410_000),
                    region_iii: dong(3_860_000),
                    region_iv: dong(3_450_000),
                },
            ),
            (
                // Decree 293/2025/NĐ-CP.
                date(2026, 1, 1),
                RegionalMinimumWages {
                    region_i: dong(5_310_000),
                    region_ii: dong(4_730_000),
                    region_iii: dong(4_140_000),
                    region_iv: dong(3_700_000),
                },
            ),
        ];
        let base_salary = vec![
            (date(2024, 7, 1), dong(2_340_000)),
            (date(2026, 7, 1), dong(2_530_000)),
        ];
        // Literal, already in date order and free of duplicates: a test checks that
        // `Dated::new` accepts the same entries.
        let regimes = Dated {
            what: "regime rules",
            entries: regimes,
        };
        let wages = Dated {
            what: "regional minimum wage",
            entries: wages,
        };
        let base_salary = Dated {
            what: "base salary",
            entries: base_salary,
        };
        RateBook {
            regimes,
            regional_minimum_wages: wages,
            base_salary,
            calendar: holidays(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dong(amount: i64) -> Dong {
        Dong::new(amount).unwrap()
    }

    #[test]
    fn a_job_ending_on_2025_12_31_is_judged_under_the_2013_regime() {
        let book = RateBook::vietnam_defaults();
        let rules = book.rules_for_termination(date(2025, 12, 31)).unwrap();
        assert_eq!(rules.regime, Regime::Law2013);
        assert_eq!(rules.start_working_day, 16);
    }

    #[test]
    fn a_job_ending_on_2026_01_01_is_judged_under_the_2025_regime() {
        let book = RateBook::vietnam_defaults();
        let rules = book.rules_for_termination(date(2026, 1, 1)).unwrap();
        assert_eq!(rules.regime, Regime::Law2025);
        assert_eq!(rules.start_working_day, 11);
    }

    #[test]
    fn a_termination_before_any_regime_is_not_judged() {
        let book = RateBook::vietnam_defaults();
        assert_eq!(
            book.rules_for_termination(date(2014, 12, 31)),
            Err(RateError::NotInForce {
                what: "regime rules",
                date: date(2014, 12, 31)
            })
        );
    }

    #[test]
    fn the_minimum_wage_changes_on_2026_01_01() {
        let book = RateBook::vietnam_defaults();
        assert_eq!(
            book.regional_minimum_wage(Region::I, date(2025, 12, 31))
                .unwrap(),
            (date(2024, 7, 1), dong(4_960_000))
        );
        assert_eq!(
            book.regional_minimum_wage(Region::IV, date(2026, 1, 1))
                .unwrap(),
            (date(2026, 1, 1), dong(3_700_000))
        );
    }

    #[test]
    fn every_region_has_its_own_wage() {
        let book = RateBook::vietnam_defaults();
        let on = date(2026, 3, 1);
        let wages: Vec<_> = [Region::I, Region::II, Region::III, Region::IV]
            .into_iter()
            .map(|region| book.regional_minimum_wage(region, on).unwrap().1)
            .collect();
        assert_eq!(
            wages,
            [
                dong(5_310_000),
                dong(4_730_000),
                dong(4_140_000),
                dong(3_700_000)
            ]
        );
    }

    #[test]
    fn the_base_salary_rises_on_2026_07_01() {
        let book = RateBook::vietnam_defaults();
        assert_eq!(
            book.base_salary(date(2026, 6, 30)).unwrap().1,
            dong(2_340_000)
        );
        assert_eq!(
            book.base_salary(date(2026, 7, 1)).unwrap().1,
            dong(2_530_000)
        );
    }

    #[test]
    fn the_default_regimes_convert_at_most_144_contribution_months() {
        let book = RateBook::vietnam_defaults();
        for termination in [date(2025, 6, 1), date(2026, 6, 1)] {
            let rules = book.rules_for_termination(termination).unwrap();
            assert_eq!(rules.conversion_ceiling_months(), 144);
        }
    }

    #[test]
    fn the_default_calendar_knows_tet_2026() {
        let book = RateBook::vietnam_defaults();
        assert!(!book.calendar().is_working_day(date(2026, 2, 17)));
        assert!(book.calendar().is_working_day(date(2026, 2, 23)));
    }

    #[test]
    fn the_seeded_series_pass_the_same_checks_as_operator_data() {
        let book = RateBook::vietnam_defaults();
        let rebuilt = RateBook::new(
            Dated::new("regime rules", book.regimes.entries.clone()).unwrap(),
            Dated::new(
                "regional minimum wage",
                book.regional_minimum_wages.entries.clone(),
            )
            .unwrap(),
            Dated::new("base salary", book.base_salary.entries.clone()).unwrap(),
            book.calendar.clone(),
        )
        .unwrap();
        assert_eq!(rebuilt, book);
    }

    #[test]
    fn a_series_with_two_entries_on_one_day_is_refused() {
        let result = Dated::new(
            "base salary",
            vec![(date(2024, 7, 1), 1), (date(2024, 7, 1), 2)],
        );
        assert_eq!(
            result,
            Err(RateError::DuplicateDate {
                what: "base salary",
                date: date(2024, 7, 1)
            })
        );
    }

    #[test]
    fn an_empty_series_is_refused() {
        assert_eq!(
            Dated::<Dong>::new("base salary", vec![]),
            Err(RateError::Empty("base salary"))
        );
    }

    #[test]
    fn rules_with_a_zero_divisor_are_refused() {
        let book = RateBook::vietnam_defaults();
        let mut rules = book
            .rules_for_termination(date(2026, 1, 1))
            .unwrap()
            .clone();
        rules.contribution_months_per_extra_benefit_month = 0;
        let regimes = Dated::new("regime rules", vec![(date(2026, 1, 1), rules)]).unwrap();
        let wages = Dated::new(
            "regional minimum wage",
            vec![(
                date(2026, 1, 1),
                RegionalMinimumWages {
                    region_i: dong(1),
                    region_ii: dong(1),
                    region_iii: dong(1),
                    region_iv: dong(1),
                },
            )],
        )
        .unwrap();
        let base = Dated::new("base salary", vec![(date(2026, 1, 1), dong(1))]).unwrap();
        assert!(matches!(
            RateBook::new(regimes, wages, base, WorkingCalendar::default()),
            Err(RateError::InvalidRule {
                regime: Regime::Law2025,
                ..
            })
        ));
    }
}
