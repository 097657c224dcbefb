//! A decision's life as pure bookkeeping: suspension by missed check-ins, early termination,
//! and the benefit months that return to the reserve.

use std::fmt;

use chrono::NaiveDate;

use super::period::BenefitSchedule;
use super::rates::RegimeRules;

/// What happened in one benefit month's check-in window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInOutcome {
    /// The beneficiary reported in person or online.
    CheckedIn,
    /// An officer recorded an excuse (illness, maternity, accident with a certificate, force
    /// majeure): it counts as a check-in.
    Excused,
    /// The window closed without a check-in.
    Missed,
}

/// What a benefit month comes to after its check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthStatus {
    /// Checked in: the month is paid.
    Payable,
    /// Missed: not paid and not reserved.
    Suspended,
    /// After a termination: not paid.
    Cancelled,
    /// The window has not closed yet.
    Pending,
}

/// The months of one decision sorted by check-in outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInLedger {
    /// Status of each benefit month, month 1 first.
    pub months: Vec<MonthStatus>,
    /// The benefit month whose missed check-in terminated the benefit, if any.
    pub terminated_at_month: Option<u32>,
}

impl CheckInLedger {
    /// Benefit months paid so far.
    pub fn payable_months(&self) -> u32 {
        self.count(MonthStatus::Payable)
    }

    /// Benefit months suspended (lost, not reserved).
    pub fn suspended_months(&self) -> u32 {
        self.count(MonthStatus::Suspended)
    }

    fn count(&self, status: MonthStatus) -> u32 {
        let count = self.months.iter().filter(|month| **month == status).count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }
}

/// Sorts benefit months by their check-in outcomes, `outcomes[0]` being month 1's.
///
/// Law 74/2025 art. 40–41; Decree 374/2025 art. 21: a month without check-in is suspended,
/// a check-in in a later month resumes the remaining months, and the third consecutive missed
/// month terminates the benefit. Months after that are cancelled.
pub fn settle_check_ins(
    benefit_months: u32,
    outcomes: &[CheckInOutcome],
    rules: &RegimeRules,
) -> CheckInLedger {
    let mut months = Vec::new();
    let mut consecutive_missed = 0;
    let mut terminated_at_month = None;
    for number in 1..=benefit_months {
        if terminated_at_month.is_some() {
            months.push(MonthStatus::Cancelled);
            continue;
        }
        let outcome = usize::try_from(number - 1)
            .ok()
            .and_then(|index| outcomes.get(index));
        let status = match outcome {
            None => MonthStatus::Pending,
            Some(CheckInOutcome::CheckedIn | CheckInOutcome::Excused) => {
                consecutive_missed = 0;
                MonthStatus::Payable
            }
            Some(CheckInOutcome::Missed) => {
                consecutive_missed += 1;
                if consecutive_missed >= rules.consecutive_missed_months_to_terminate {
                    terminated_at_month = Some(number);
                }
                MonthStatus::Suspended
            }
        };
        months.push(status);
    }
    CheckInLedger {
        months,
        terminated_at_month,
    }
}

/// Why a benefit ends before its last month (Law 74/2025 art. 41(4)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenefitEndReason {
    /// Found a job with compulsory social insurance.
    FoundJob,
    /// Entered military, police or militia service.
    MilitaryPoliceOrMilitiaService,
    /// Became entitled to a monthly pension.
    MonthlyPension,
    /// Refused two suitable job referrals without good reason.
    RefusedTwoJobReferrals,
    /// Missed three consecutive check-ins.
    ThreeConsecutiveMissedCheckIns,
    /// Settled abroad.
    SettledAbroad,
    /// Went to study for more than 12 months.
    StudyOverTwelveMonths,
    /// Fined administratively for an unemployment-insurance violation.
    AdministrativeFine,
    /// Died.
    Death,
    /// Entered compulsory education or rehabilitation.
    CompulsoryEducationOrRehabilitation,
    /// Declared missing by a court.
    DeclaredMissing,
    /// Detained or imprisoned.
    DetainedOrImprisoned,
    /// Asked to stop receiving the benefit.
    OwnRequest,
}

impl BenefitEndReason {
    /// True when the unused benefit months return to the reserve.
    ///
    /// Law 74/2025 art. 41(4) and domain rules ("Duration and reserved months"): only a new
    /// job, service, study, detention and the beneficiary's own request reserve them.
    pub fn reserves_unused_months(self) -> bool {
        matches!(
            self,
            BenefitEndReason::FoundJob
                | BenefitEndReason::MilitaryPoliceOrMilitiaService
                | BenefitEndReason::StudyOverTwelveMonths
                | BenefitEndReason::DetainedOrImprisoned
                | BenefitEndReason::OwnRequest
        )
    }
}

impl fmt::Display for BenefitEndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BenefitEndReason::FoundJob => "found a job",
            BenefitEndReason::MilitaryPoliceOrMilitiaService => {
                "military, police or militia service"
            }
            BenefitEndReason::MonthlyPension => "monthly pension",
            BenefitEndReason::RefusedTwoJobReferrals => "refused two job referrals",
            BenefitEndReason::ThreeConsecutiveMissedCheckIns => {
                "three consecutive missed check-ins"
            }
            BenefitEndReason::SettledAbroad => "settled abroad",
            BenefitEndReason::StudyOverTwelveMonths => "study of more than 12 months",
            BenefitEndReason::AdministrativeFine => "administrative fine",
            BenefitEndReason::Death => "death",
            BenefitEndReason::CompulsoryEducationOrRehabilitation => {
                "compulsory education or rehabilitation"
            }
            BenefitEndReason::DeclaredMissing => "declared missing",
            BenefitEndReason::DetainedOrImprisoned => "detention or imprisonment",
            BenefitEndReason::OwnRequest => "own request",
        })
    }
}

/// The effect of ending a benefit early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyEnd {
    /// Why it ended.
    pub reason: BenefitEndReason,
    /// The day the termination takes effect.
    pub effective_on: NaiveDate,
    /// Benefit months that start on or after that day and are no longer paid; money already
    /// paid for them is a debt to recover.
    pub cancelled_months: Vec<u32>,
    /// Contribution months returned to the reserve for those months.
    pub reserved_contribution_months: u32,
}

/// Ends a benefit on `effective_on` and works out what is cancelled and what is reserved.
///
/// Payments for months after the effective date are cancelled (Law 74/2025 art. 41(4)): a
/// benefit month that starts on or after it is not paid, as payroll counts it; a month that
/// started before it is kept. Suspended months before it were already lost and are not
/// reserved; each cancelled month is reserved as 12 contribution months when the reason
/// allows it (the conversion rate is in the rules and unconfirmed).
pub fn end_early(
    schedule: &BenefitSchedule,
    reason: BenefitEndReason,
    effective_on: NaiveDate,
    rules: &RegimeRules,
) -> EarlyEnd {
    let cancelled_months: Vec<u32> = schedule
        .months()
        .iter()
        .filter(|month| month.first_day >= effective_on)
        .map(|month| month.number)
        .collect();
    let unused = u32::try_from(cancelled_months.len()).unwrap_or(u32::MAX);
    let reserved_contribution_months = if reason.reserves_unused_months() {
        unused.saturating_mul(rules.contribution_months_per_unused_benefit_month)
    } else {
        0
    };
    EarlyEnd {
        reason,
        effective_on,
        cancelled_months,
        reserved_contribution_months,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::WorkingCalendar;
    use crate::domain::rates::RateBook;
    use CheckInOutcome::{CheckedIn, Excused, Missed};
    use MonthStatus::{Cancelled, Payable, Pending, Suspended};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn rules() -> RegimeRules {
        RateBook::vietnam_defaults()
            .rules_for_termination(date(2026, 1, 1))
            .unwrap()
            .clone()
    }

    fn schedule(months: u32) -> BenefitSchedule {
        BenefitSchedule::plan(
            date(2026, 3, 17),
            months,
            &rules(),
            &WorkingCalendar::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_missed_month_is_suspended_and_a_later_check_in_resumes() {
        let ledger = settle_check_ins(4, &[CheckedIn, Missed, CheckedIn], &rules());
        assert_eq!(ledger.months, [Payable, Suspended, Payable, Pending]);
        assert_eq!(ledger.terminated_at_month, None);
        assert_eq!((ledger.payable_months(), ledger.suspended_months()), (2, 1));
    }

    #[test]
    fn an_excused_month_is_paid() {
        let ledger = settle_check_ins(2, &[Excused, CheckedIn], &rules());
        assert_eq!(ledger.months, [Payable, Payable]);
    }

    #[test]
    fn three_consecutive_missed_months_terminate_and_cancel_the_rest() {
        let ledger = settle_check_ins(6, &[CheckedIn, Missed, Missed, Missed], &rules());
        assert_eq!(
            ledger.months,
            [
                Payable, Suspended, Suspended, Suspended, Cancelled, Cancelled
            ]
        );
        assert_eq!(ledger.terminated_at_month, Some(4));
    }

    #[test]
    fn two_missed_months_then_a_check_in_do_not_terminate() {
        let outcomes = [Missed, Missed, CheckedIn, Missed, Missed, CheckedIn];
        let ledger = settle_check_ins(6, &outcomes, &rules());
        assert_eq!(ledger.terminated_at_month, None);
        assert_eq!(ledger.suspended_months(), 4);
        assert_eq!(ledger.payable_months(), 2);
    }

    #[test]
    fn outcomes_beyond_the_benefit_period_are_ignored() {
        let ledger = settle_check_ins(1, &[CheckedIn, Missed, Missed, Missed], &rules());
        assert_eq!(ledger.months, [Payable]);
    }

    #[test]
    fn finding_a_job_reserves_the_months_not_yet_started() {
        let schedule = schedule(6);
        // Month 3 runs 2026-05-17 to 2026-06-16; the job starts inside it.
        let end = end_early(
            &schedule,
            BenefitEndReason::FoundJob,
            date(2026, 6, 1),
            &rules(),
        );
        assert_eq!(end.cancelled_months, [4, 5, 6]);
        assert_eq!(end.reserved_contribution_months, 36);
    }

    #[test]
    fn an_end_on_the_day_before_a_month_starts_cancels_that_month() {
        let schedule = schedule(3);
        // Month 2 starts 2026-04-17.
        let end = end_early(
            &schedule,
            BenefitEndReason::OwnRequest,
            date(2026, 4, 16),
            &rules(),
        );
        assert_eq!(end.cancelled_months, [2, 3]);
    }

    #[test]
    fn an_end_on_the_first_day_of_a_month_cancels_and_reserves_that_month() {
        let schedule = schedule(3);
        // Month 2 runs 2026-04-17 to 2026-05-16; month 3 starts 2026-05-17.
        let end = end_early(
            &schedule,
            BenefitEndReason::FoundJob,
            date(2026, 4, 17),
            &rules(),
        );
        assert_eq!(end.cancelled_months, [2, 3]);
        assert_eq!(end.reserved_contribution_months, 24);
        let end = end_early(
            &schedule,
            BenefitEndReason::FoundJob,
            date(2026, 4, 18),
            &rules(),
        );
        assert_eq!(end.cancelled_months, [3]);
        assert_eq!(end.reserved_contribution_months, 12);
    }

    #[test]
    fn death_settling_abroad_and_missed_check_ins_reserve_nothing() {
        let schedule = schedule(6);
        for reason in [
            BenefitEndReason::Death,
            BenefitEndReason::SettledAbroad,
            BenefitEndReason::ThreeConsecutiveMissedCheckIns,
            BenefitEndReason::MonthlyPension,
            BenefitEndReason::RefusedTwoJobReferrals,
        ] {
            let end = end_early(&schedule, reason, date(2026, 6, 1), &rules());
            assert_eq!(end.cancelled_months, [4, 5, 6], "{reason}");
            assert_eq!(end.reserved_contribution_months, 0, "{reason}");
        }
    }

    #[test]
    fn service_study_detention_and_own_request_reserve_the_unused_months() {
        for reason in [
            BenefitEndReason::MilitaryPoliceOrMilitiaService,
            BenefitEndReason::StudyOverTwelveMonths,
            BenefitEndReason::DetainedOrImprisoned,
            BenefitEndReason::OwnRequest,
        ] {
            assert!(reason.reserves_unused_months(), "{reason}");
        }
    }

    #[test]
    fn a_suspended_month_before_the_end_is_not_reserved() {
        let schedule = schedule(4);
        let ledger = settle_check_ins(4, &[CheckedIn, Missed], &rules());
        // Found a job in month 3 (2026-05-17 to 2026-06-16): only month 4 is reserved.
        let end = end_early(
            &schedule,
            BenefitEndReason::FoundJob,
            date(2026, 5, 20),
            &rules(),
        );
        assert_eq!(ledger.months[1], Suspended);
        assert_eq!(end.cancelled_months, [4]);
        assert_eq!(end.reserved_contribution_months, 12);
    }
}
