//! Judging a claim: every condition with its reason, then amount, duration and period.

use std::fmt;

use chrono::{Months, NaiveDate};
use thiserror::Error;

use super::amount::{AmountError, BenefitAmount, benefit_amount};
use super::contributions::{
    ContractTerm, ContributionHistory, TotalCount, WindowCount, window_months,
};
use super::duration::{BenefitDuration, benefit_duration};
use super::month::YearMonth;
use super::period::{BenefitSchedule, PeriodError, benefit_start};
use super::rates::{PensionBar, RateBook, RateError, Regime, RegimeRules};

/// Why a claim could not be judged at all (as opposed to being judged ineligible).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvaluationError {
    /// The claim says it was filed before the job ended.
    #[error("claim filed on {filed_on}, before employment ended on {terminated_on}")]
    FiledBeforeTermination {
        /// Filing date given.
        filed_on: NaiveDate,
        /// Termination date given.
        terminated_on: NaiveDate,
    },
    /// The rate book lacks a value the law needs for this claim.
    #[error(transparent)]
    Rate(#[from] RateError),
    /// The benefit period could not be laid out.
    #[error(transparent)]
    Period(#[from] PeriodError),
    /// A date computation left the representable range.
    #[error("date arithmetic from {0} is out of range")]
    DateOutOfRange(NaiveDate),
}

/// How the employment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason {
    /// Any lawful end: contract expiry, dismissal, lawful resignation, mutual agreement…
    Lawful,
    /// The worker ended the contract unilaterally in breach of the Labour Code.
    UnlawfulUnilateralByWorker,
}

/// The claimant's pension situation on the termination date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PensionStatus {
    /// Neither entitled to nor receiving a monthly pension or incapacity allowance.
    NotEntitled,
    /// Qualifies for a monthly pension but does not draw it.
    EntitledNotDrawing,
    /// Draws a monthly pension.
    ReceivingPension,
    /// Draws a monthly incapacity allowance (trợ cấp mất sức lao động).
    ReceivingIncapacityAllowance,
}

/// Something that, soon after the claim, shows the claimant is not unemployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisqualifyingEventKind {
    /// Started a job with compulsory social insurance.
    NewJobWithSocialInsurance,
    /// Entered military, police or standing-militia service.
    MilitaryPoliceOrMilitiaService,
    /// Started studies of more than 12 months.
    StudyOverTwelveMonths,
    /// Entered compulsory education or rehabilitation.
    CompulsoryEducationOrRehabilitation,
    /// Was detained or imprisoned.
    DetainedOrImprisoned,
    /// Settled abroad.
    SettledAbroad,
    /// Died.
    Died,
}

impl fmt::Display for DisqualifyingEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DisqualifyingEventKind::NewJobWithSocialInsurance => "new job with social insurance",
            DisqualifyingEventKind::MilitaryPoliceOrMilitiaService => {
                "military, police or militia service"
            }
            DisqualifyingEventKind::StudyOverTwelveMonths => "study of more than 12 months",
            DisqualifyingEventKind::CompulsoryEducationOrRehabilitation => {
                "compulsory education or rehabilitation"
            }
            DisqualifyingEventKind::DetainedOrImprisoned => "detention or imprisonment",
            DisqualifyingEventKind::SettledAbroad => "settled abroad",
            DisqualifyingEventKind::Died => "death",
        })
    }
}

/// A disqualifying event and the days it may have begun on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisqualifyingEvent {
    /// What happened.
    pub kind: DisqualifyingEventKind,
    /// The earliest day it may have begun.
    pub date: NaiveDate,
    /// The latest day it may have begun: `date` when the day is known, the month's last day
    /// when only the month is.
    pub latest: NaiveDate,
}

impl DisqualifyingEvent {
    /// An event known to the day.
    pub fn on(kind: DisqualifyingEventKind, date: NaiveDate) -> DisqualifyingEvent {
        DisqualifyingEvent {
            kind,
            date,
            latest: date,
        }
    }

    /// A job with compulsory social insurance seen only as a contribution month: the
    /// collection system reports whole months, so the job may have begun on any day of it.
    pub fn new_job_in(month: YearMonth) -> DisqualifyingEvent {
        let first_day = month.first_day();
        let latest = first_day
            .checked_add_months(Months::new(1))
            .and_then(|next| next.pred_opt())
            .unwrap_or(first_day);
        DisqualifyingEvent {
            kind: DisqualifyingEventKind::NewJobWithSocialInsurance,
            date: first_day,
            latest,
        }
    }

    fn is_known_to_the_day(&self) -> bool {
        self.date == self.latest
    }
}

/// The facts of one claim as registered by the job centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFacts {
    /// The day employment ended; it selects the regime.
    pub terminated_on: NaiveDate,
    /// How it ended.
    pub reason: TerminationReason,
    /// Pension situation on that day.
    pub pension: PensionStatus,
    /// The day the complete claim was filed.
    pub filed_on: NaiveDate,
    /// The contract that ended.
    pub last_contract: ContractTerm,
    /// Paid on the state salary scale (matters for the 2013 regime's cap).
    pub state_scale: bool,
    /// Events known so far that could disqualify the claim.
    pub events: Vec<DisqualifyingEvent>,
}

/// The conditions of entitlement, in the order of the law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The employment ended lawfully.
    LawfulTermination,
    /// No pension bars the benefit.
    NoPension,
    /// Enough contribution months in the window.
    ContributionMonths,
    /// The claim was filed in time.
    FiledInTime,
    /// Still unemployed during the working days after the claim.
    NoDisqualifyingEvent,
}

/// One condition judged, with the article it implements and why it is or is not met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionOutcome {
    /// Which condition.
    pub condition: Condition,
    /// Whether it holds.
    pub met: bool,
    /// The provision applied.
    pub article: &'static str,
    /// Why, in words an officer can read out.
    pub reason: String,
}

/// The full reasoning on a claim; ineligible claims carry it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The regime in force on the termination date.
    pub regime: Regime,
    /// Each condition, met or not, with why.
    pub conditions: Vec<ConditionOutcome>,
    /// The contribution window and the months counted in it.
    pub window: WindowCount,
    /// Months the window must contain.
    pub months_required: u32,
    /// Months counted for the duration.
    pub contributions: TotalCount,
    /// Last day the complete claim could be filed.
    pub filing_deadline: NaiveDate,
    /// Last day of the working-day window after the claim in which events disqualify.
    pub disqualifying_window_ends: NaiveDate,
    /// The monthly amount, or why it cannot be computed.
    pub amount: Result<BenefitAmount, AmountError>,
    /// Benefit, reserved and lost months.
    pub duration: BenefitDuration,
    /// First day of benefit.
    pub start_date: NaiveDate,
    /// Benefit months and check-in windows; present when the claim is eligible.
    pub schedule: Option<BenefitSchedule>,
}

impl Evaluation {
    /// True when every condition of entitlement is met.
    pub fn is_eligible(&self) -> bool {
        self.conditions.iter().all(|outcome| outcome.met)
    }

    /// True when a decision can be issued: eligible and the amount is known.
    pub fn can_be_decided(&self) -> bool {
        self.is_eligible() && self.amount.is_ok() && self.schedule.is_some()
    }

    /// The outcome of one condition.
    pub fn condition(&self, condition: Condition) -> Option<&ConditionOutcome> {
        self.conditions
            .iter()
            .find(|outcome| outcome.condition == condition)
    }
}

fn article(regime: Regime, condition: Condition) -> &'static str {
    match (regime, condition) {
        (Regime::Law2025, Condition::LawfulTermination | Condition::NoPension) => {
            "Law 74/2025 art. 38, condition 1"
        }
        (Regime::Law2025, Condition::ContributionMonths) => "Law 74/2025 art. 38, condition 2",
        (Regime::Law2025, Condition::FiledInTime) => "Law 74/2025 art. 38, condition 3",
        (Regime::Law2025, Condition::NoDisqualifyingEvent) => "Law 74/2025 art. 38, condition 4",
        (Regime::Law2013, Condition::LawfulTermination | Condition::NoPension) => {
            "Law 38/2013 art. 49(1)"
        }
        (Regime::Law2013, Condition::ContributionMonths) => "Law 38/2013 art. 49(2)",
        (Regime::Law2013, Condition::FiledInTime) => "Law 38/2013 art. 49(3)",
        (Regime::Law2013, Condition::NoDisqualifyingEvent) => "Law 38/2013 art. 49(4)",
    }
}

/// Judges a claim under the regime in force on its termination date.
pub fn evaluate(
    facts: &ClaimFacts,
    history: &ContributionHistory,
    book: &RateBook,
) -> Result<Evaluation, EvaluationError> {
    if facts.filed_on < facts.terminated_on {
        return Err(EvaluationError::FiledBeforeTermination {
            filed_on: facts.filed_on,
            terminated_on: facts.terminated_on,
        });
    }
    let rules = book.rules_for_termination(facts.terminated_on)?;
    let regime = rules.regime;
    let calendar = book.calendar();
    let outcome = |condition, met, reason: String| ConditionOutcome {
        condition,
        met,
        article: article(regime, condition),
        reason,
    };
    let mut conditions = Vec::new();

    // Condition 1: a worker who broke the contract unlawfully is not unemployed by
    // circumstance.
    let lawful = facts.reason == TerminationReason::Lawful;
    conditions.push(outcome(
        Condition::LawfulTermination,
        lawful,
        if lawful {
            "employment ended lawfully".to_owned()
        } else {
            "the worker ended the contract unilaterally and unlawfully".to_owned()
        },
    ));
    conditions.push(pension_outcome(facts.pension, rules, |met, reason| {
        outcome(Condition::NoPension, met, reason)
    }));

    // Condition 2: months in the window, which is longer for short contracts.
    let termination_month = YearMonth::of(facts.terminated_on);
    let window =
        history.count_in_window(termination_month, window_months(rules, facts.last_contract));
    let months_required = rules.minimum_contribution_months;
    let enough = window.months_counted >= months_required;
    conditions.push(outcome(
        Condition::ContributionMonths,
        enough,
        format!(
            "{} contribution months in the {} months {} to {}, {} {} required",
            window.months_counted,
            window.window_months,
            window.first_month,
            window.last_month,
            if enough { "at least" } else { "fewer than the" },
            months_required
        ),
    ));

    // Condition 3: the limit runs to the same date N months later (month-end clamped) and is
    // not extended when that day is a weekend: worked example 5.
    let filing_deadline = facts
        .terminated_on
        .checked_add_months(Months::new(rules.filing_limit_months))
        .ok_or(EvaluationError::DateOutOfRange(facts.terminated_on))?;
    let in_time = facts.filed_on <= filing_deadline;
    conditions.push(outcome(
        Condition::FiledInTime,
        in_time,
        format!(
            "filed on {}, {} the {}-month limit ending {}",
            facts.filed_on,
            if in_time { "within" } else { "after" },
            rules.filing_limit_months,
            filing_deadline
        ),
    ));

    // Condition 4: the events listed in the law, from the filing day to the last working day
    // of the window after it.
    let disqualifying_window_ends = calendar
        .nth_working_day_after(facts.filed_on, rules.disqualifying_window_working_days)
        .map_err(PeriodError::from)?;
    let disqualifying =
        first_disqualifying_event(&facts.events, facts.filed_on, disqualifying_window_ends);
    conditions.push(outcome(
        Condition::NoDisqualifyingEvent,
        disqualifying.is_none(),
        match disqualifying {
            Some(event) if event.is_known_to_the_day() => format!(
                "{} on {}, within {} working days after the claim",
                event.kind, event.date, rules.disqualifying_window_working_days
            ),
            Some(event) => format!(
                "{} in {}, within {} working days after the claim",
                event.kind,
                YearMonth::of(event.date),
                rules.disqualifying_window_working_days
            ),
            None => format!(
                "no disqualifying event from {} to {}",
                facts.filed_on, disqualifying_window_ends
            ),
        },
    ));

    let amount = match benefit_amount(history, facts.terminated_on, facts.state_scale, rules, book)
    {
        Err(AmountError::Rate(error)) => return Err(error.into()),
        other => other,
    };
    let contributions = history.total_up_to(termination_month);
    let duration = benefit_duration(contributions.total(), rules);
    let start_date = benefit_start(facts.filed_on, rules, calendar)?;
    let eligible = conditions.iter().all(|outcome| outcome.met);
    let schedule = if eligible && duration.benefit_months > 0 {
        Some(BenefitSchedule::plan(
            start_date,
            duration.benefit_months,
            rules,
            calendar,
        )?)
    } else {
        None
    };

    Ok(Evaluation {
        regime,
        conditions,
        window,
        months_required,
        contributions,
        filing_deadline,
        disqualifying_window_ends,
        amount,
        duration,
        start_date,
        schedule,
    })
}

/// The earliest event that may have begun from the filing day to the end of the window after
/// it (condition 4); an event known only by its month counts when the month overlaps them.
pub fn first_disqualifying_event(
    events: &[DisqualifyingEvent],
    filed_on: NaiveDate,
    window_ends: NaiveDate,
) -> Option<&DisqualifyingEvent> {
    events
        .iter()
        .filter(|event| filed_on <= event.latest && event.date <= window_ends)
        .min_by_key(|event| event.date)
}

/// The first new job that began after the days that judge the claim (condition 4): it does
/// not bar the claim but ends the benefit the claim starts (domain rules, "Termination"). A job
/// whose month ended before the claim was filed ends nothing.
pub fn first_job_during_benefit(
    events: &[DisqualifyingEvent],
    filed_on: NaiveDate,
    window_ends: NaiveDate,
) -> Option<&DisqualifyingEvent> {
    events
        .iter()
        .filter(|event| event.kind == DisqualifyingEventKind::NewJobWithSocialInsurance)
        .filter(|event| filed_on <= event.latest && event.date > window_ends)
        .min_by_key(|event| event.date)
}

fn pension_outcome(
    pension: PensionStatus,
    rules: &RegimeRules,
    outcome: impl Fn(bool, String) -> ConditionOutcome,
) -> ConditionOutcome {
    // Law 74/2025 bars anyone who qualifies for a monthly pension; Law 38/2013 only those
    // who draw a pension or an incapacity allowance.
    let barred = match (rules.pension_bar, pension) {
        (_, PensionStatus::NotEntitled) => false,
        (PensionBar::WhenEntitledToPension, PensionStatus::EntitledNotDrawing) => true,
        (PensionBar::WhenEntitledToPension, PensionStatus::ReceivingPension) => true,
        (PensionBar::WhenEntitledToPension, PensionStatus::ReceivingIncapacityAllowance) => false,
        (
            PensionBar::WhenReceivingPensionOrIncapacityAllowance,
            PensionStatus::EntitledNotDrawing,
        ) => false,
        (PensionBar::WhenReceivingPensionOrIncapacityAllowance, _) => true,
    };
    let reason = match pension {
        PensionStatus::NotEntitled => "no pension or incapacity allowance",
        PensionStatus::EntitledNotDrawing if barred => "qualifies for a monthly pension",
        PensionStatus::EntitledNotDrawing => "qualifies for a pension but does not draw it",
        PensionStatus::ReceivingPension => "draws a monthly pension",
        PensionStatus::ReceivingIncapacityAllowance if barred => {
            "draws a monthly incapacity allowance"
        }
        PensionStatus::ReceivingIncapacityAllowance => {
            "draws an incapacity allowance, which does not bar the benefit"
        }
    };
    outcome(!barred, reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::WorkingCalendar;
    use crate::domain::contributions::ContributionMonth;
    use crate::domain::contributions::tests::{months_ending, ym};
    use crate::domain::money::Dong;
    use crate::domain::rates::Region;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dong(amount: i64) -> Dong {
        Dong::new(amount).unwrap()
    }

    fn book() -> RateBook {
        RateBook::vietnam_defaults()
    }

    fn claim(terminated_on: NaiveDate, filed_on: NaiveDate) -> ClaimFacts {
        ClaimFacts {
            terminated_on,
            reason: TerminationReason::Lawful,
            pension: PensionStatus::NotEntitled,
            filed_on,
            last_contract: ContractTerm::Indefinite,
            state_scale: false,
            events: Vec::new(),
        }
    }

    fn history(records: Vec<ContributionMonth>) -> ContributionHistory {
        ContributionHistory::new(records).unwrap()
    }

    fn failed(evaluation: &Evaluation) -> Vec<Condition> {
        evaluation
            .conditions
            .iter()
            .filter(|c| !c.met)
            .map(|c| c.condition)
            .collect()
    }

    #[test]
    fn worked_example_1_is_eligible_for_three_months_of_six_million_with_four_reserved() {
        let facts = claim(date(2026, 3, 10), date(2026, 3, 16));
        let history = history(months_ending(ym(2026, 3), 40, 10_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert!(evaluation.can_be_decided());
        assert_eq!(evaluation.regime, Regime::Law2025);
        let amount = evaluation.amount.as_ref().unwrap();
        assert_eq!(amount.monthly, dong(6_000_000));
        assert_eq!(amount.cap.amount, dong(26_550_000));
        assert_eq!(evaluation.contributions.total(), 40);
        assert_eq!(evaluation.duration.benefit_months, 3);
        assert_eq!(evaluation.duration.reserved_months, 4);
        assert_eq!(evaluation.schedule.as_ref().unwrap().months().len(), 3);
    }

    #[test]
    fn worked_example_2_is_capped_at_eighteen_and_a_half_million() {
        let facts = claim(date(2026, 2, 1), date(2026, 2, 2));
        let history = history(months_ending(ym(2026, 2), 24, 40_000_000, Region::IV));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        let amount = evaluation.amount.as_ref().unwrap();
        assert_eq!(amount.uncapped, dong(24_000_000));
        assert!(amount.cap_applied);
        assert_eq!(amount.monthly, dong(18_500_000));
    }

    #[test]
    fn worked_example_3_gives_twelve_months_and_loses_six() {
        let facts = claim(date(2026, 3, 10), date(2026, 3, 16));
        let history = history(months_ending(ym(2026, 3), 150, 10_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert_eq!(evaluation.duration.benefit_months, 12);
        assert_eq!(evaluation.duration.reserved_months, 0);
        assert_eq!(evaluation.duration.lost_months, 6);
        assert_eq!(evaluation.schedule.as_ref().unwrap().months().len(), 12);
    }

    fn example_4_history() -> ContributionHistory {
        let mut records = months_ending(ym(2024, 2), 6, 8_000_000, Region::II);
        records.extend(months_ending(ym(2026, 6), 6, 8_000_000, Region::II));
        history(records)
    }

    #[test]
    fn worked_example_4_a_six_month_contract_counts_twelve_of_the_last_36_months() {
        let mut facts = claim(date(2026, 6, 30), date(2026, 7, 1));
        facts.last_contract = ContractTerm::fixed(6).unwrap();

        let evaluation = evaluate(&facts, &example_4_history(), &book()).unwrap();

        assert!(evaluation.is_eligible());
        assert_eq!(evaluation.window.window_months, 36);
        assert_eq!(evaluation.window.first_month, ym(2023, 7));
        assert_eq!(evaluation.window.months_counted, 12);
    }

    #[test]
    fn worked_example_4_an_indefinite_contract_counts_only_six_of_the_last_24_months() {
        let facts = claim(date(2026, 6, 30), date(2026, 7, 1));

        let evaluation = evaluate(&facts, &example_4_history(), &book()).unwrap();

        assert!(!evaluation.is_eligible());
        assert_eq!(failed(&evaluation), [Condition::ContributionMonths]);
        assert_eq!(evaluation.window.months_counted, 6);
        let reason = &evaluation
            .condition(Condition::ContributionMonths)
            .unwrap()
            .reason;
        assert_eq!(
            reason,
            "6 contribution months in the 24 months 2024-07 to 2026-06, fewer than the 12 required"
        );
        assert_eq!(evaluation.schedule, None);
    }

    #[test]
    fn worked_example_5_a_claim_filed_more_than_three_months_after_termination_is_refused() {
        let facts = claim(date(2026, 1, 5), date(2026, 4, 6));
        let history = history(months_ending(ym(2026, 1), 24, 10_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert_eq!(failed(&evaluation), [Condition::FiledInTime]);
        assert_eq!(evaluation.filing_deadline, date(2026, 4, 5));
    }

    #[test]
    fn a_claim_filed_on_the_last_day_of_the_three_months_is_in_time() {
        let facts = claim(date(2026, 1, 5), date(2026, 4, 5));
        let history = history(months_ending(ym(2026, 1), 24, 10_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert!(evaluation.is_eligible());
    }

    #[test]
    fn the_filing_limit_after_a_month_end_termination_ends_on_the_shorter_months_last_day() {
        let facts = claim(date(2025, 11, 30), date(2026, 2, 28));
        let history = history(months_ending(ym(2025, 11), 24, 10_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert_eq!(evaluation.filing_deadline, date(2026, 2, 28));
        assert!(evaluation.is_eligible());
    }

    #[test]
    fn worked_example_6_caps_a_state_scale_worker_at_five_base_salaries_under_the_2013_regime() {
        let mut facts = claim(date(2025, 12, 20), date(2025, 12, 22));
        facts.state_scale = true;
        let history = history(months_ending(ym(2025, 12), 24, 20_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert_eq!(evaluation.regime, Regime::Law2013);
        let amount = evaluation.amount.as_ref().unwrap();
        assert_eq!(amount.uncapped, dong(12_000_000));
        assert_eq!(amount.monthly, dong(11_700_000));
    }

    #[test]
    fn eleven_months_in_the_window_are_not_enough_and_twelve_are() {
        let facts = claim(date(2026, 3, 31), date(2026, 4, 1));
        let eleven = history(months_ending(ym(2026, 3), 11, 10_000_000, Region::I));
        let twelve = history(months_ending(ym(2026, 3), 12, 10_000_000, Region::I));

        let with_eleven = evaluate(&facts, &eleven, &book()).unwrap();
        let with_twelve = evaluate(&facts, &twelve, &book()).unwrap();

        assert_eq!(failed(&with_eleven), [Condition::ContributionMonths]);
        assert_eq!(with_eleven.duration.benefit_months, 0);
        assert!(with_twelve.is_eligible());
        assert_eq!(with_twelve.duration.benefit_months, 3);
    }

    #[test]
    fn an_ineligible_claim_still_carries_its_reasoning() {
        let mut facts = claim(date(2026, 3, 31), date(2026, 4, 1));
        facts.reason = TerminationReason::UnlawfulUnilateralByWorker;
        let history = history(months_ending(ym(2026, 3), 40, 10_000_000, Region::I));

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert_eq!(failed(&evaluation), [Condition::LawfulTermination]);
        assert_eq!(evaluation.conditions.len(), 5);
        assert_eq!(evaluation.amount.as_ref().unwrap().monthly, dong(6_000_000));
        assert_eq!(evaluation.window.months_counted, 24);
        assert!(!evaluation.can_be_decided());
    }

    #[test]
    fn a_termination_on_2025_12_31_starts_on_the_sixteenth_working_day() {
        let facts = claim(date(2025, 12, 31), date(2026, 3, 2));
        let history = history(months_ending(ym(2025, 12), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());

        let evaluation = evaluate(&facts, &history, &book).unwrap();

        assert_eq!(evaluation.regime, Regime::Law2013);
        assert_eq!(evaluation.start_date, date(2026, 3, 24));
        assert_eq!(evaluation.disqualifying_window_ends, date(2026, 3, 23));
    }

    #[test]
    fn a_termination_on_2026_01_01_starts_on_the_eleventh_working_day() {
        let facts = claim(date(2026, 1, 1), date(2026, 3, 2));
        let history = history(months_ending(ym(2026, 1), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());

        let evaluation = evaluate(&facts, &history, &book).unwrap();

        assert_eq!(evaluation.regime, Regime::Law2025);
        assert_eq!(evaluation.start_date, date(2026, 3, 17));
        assert_eq!(evaluation.disqualifying_window_ends, date(2026, 3, 16));
    }

    #[test]
    fn a_new_job_on_the_tenth_working_day_after_the_claim_disqualifies() {
        let mut facts = claim(date(2026, 2, 27), date(2026, 3, 2));
        facts.events.push(DisqualifyingEvent::on(
            DisqualifyingEventKind::NewJobWithSocialInsurance,
            date(2026, 3, 16),
        ));
        let history = history(months_ending(ym(2026, 2), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());

        let evaluation = evaluate(&facts, &history, &book).unwrap();

        assert_eq!(failed(&evaluation), [Condition::NoDisqualifyingEvent]);
        let reason = &evaluation
            .condition(Condition::NoDisqualifyingEvent)
            .unwrap()
            .reason;
        assert_eq!(
            reason,
            "new job with social insurance on 2026-03-16, within 10 working days after the claim"
        );
    }

    #[test]
    fn a_new_job_on_the_eleventh_working_day_after_the_claim_does_not_disqualify() {
        let mut facts = claim(date(2026, 2, 27), date(2026, 3, 2));
        facts.events.push(DisqualifyingEvent::on(
            DisqualifyingEventKind::NewJobWithSocialInsurance,
            date(2026, 3, 17),
        ));
        let history = history(months_ending(ym(2026, 2), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());

        let evaluation = evaluate(&facts, &history, &book).unwrap();

        assert!(evaluation.is_eligible());
    }

    fn judged_with_a_new_job_in(filed_on: NaiveDate, job_month: YearMonth) -> Evaluation {
        let mut facts = claim(date(2026, 2, 27), filed_on);
        facts.events.push(DisqualifyingEvent::new_job_in(job_month));
        let history = history(months_ending(ym(2026, 2), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());
        evaluate(&facts, &history, &book).unwrap()
    }

    #[test]
    fn a_new_employer_contributing_for_the_filing_month_disqualifies() {
        let evaluation = judged_with_a_new_job_in(date(2026, 3, 16), ym(2026, 3));

        assert_eq!(failed(&evaluation), [Condition::NoDisqualifyingEvent]);
        assert_eq!(
            evaluation
                .condition(Condition::NoDisqualifyingEvent)
                .unwrap()
                .reason,
            "new job with social insurance in 2026-03, within 10 working days after the claim"
        );
    }

    #[test]
    fn a_new_job_month_ending_on_the_filing_day_disqualifies_and_one_ending_before_does_not() {
        let filed_on_its_last_day = judged_with_a_new_job_in(date(2026, 3, 31), ym(2026, 3));
        let filed_the_day_after = judged_with_a_new_job_in(date(2026, 4, 1), ym(2026, 3));

        assert_eq!(
            failed(&filed_on_its_last_day),
            [Condition::NoDisqualifyingEvent]
        );
        assert!(filed_the_day_after.is_eligible());
    }

    #[test]
    fn a_new_job_month_starting_by_the_end_of_the_window_disqualifies_and_a_later_one_does_not() {
        // Filed Friday 2026-03-20: the tenth working day after it is 2026-04-03.
        let starts_inside = judged_with_a_new_job_in(date(2026, 3, 20), ym(2026, 4));
        // Filed Monday 2026-03-02: the window ends 2026-03-16, before April starts.
        let starts_after = judged_with_a_new_job_in(date(2026, 3, 2), ym(2026, 4));

        assert_eq!(starts_inside.disqualifying_window_ends, date(2026, 4, 3));
        assert_eq!(failed(&starts_inside), [Condition::NoDisqualifyingEvent]);
        assert!(starts_after.is_eligible());
    }

    #[test]
    fn a_job_after_the_window_ends_the_benefit_and_one_ended_before_the_claim_does_not() {
        // Filed Monday 2026-03-16; the tenth working day after it is 2026-03-30.
        let filed = date(2026, 3, 16);
        let window_ends = date(2026, 3, 30);
        let before_the_claim = DisqualifyingEvent::new_job_in(ym(2026, 2));
        let inside_the_window = DisqualifyingEvent::new_job_in(ym(2026, 3));
        let may = DisqualifyingEvent::new_job_in(ym(2026, 5));
        let april = DisqualifyingEvent::new_job_in(ym(2026, 4));

        let found = first_job_during_benefit(&[before_the_claim, may, april], filed, window_ends)
            .map(|job| job.date);
        let barred = first_job_during_benefit(&[inside_the_window], filed, window_ends).copied();

        assert_eq!(found, Some(date(2026, 4, 1)));
        assert_eq!(
            barred, None,
            "a job inside the window bars the claim instead"
        );
        assert_eq!(
            first_job_during_benefit(&[before_the_claim], filed, window_ends),
            None
        );
    }

    #[test]
    fn under_the_2013_regime_an_event_on_the_fifteenth_working_day_disqualifies() {
        let mut facts = claim(date(2025, 12, 31), date(2026, 3, 2));
        facts.events.push(DisqualifyingEvent::on(
            DisqualifyingEventKind::MilitaryPoliceOrMilitiaService,
            date(2026, 3, 23),
        ));
        let history = history(months_ending(ym(2025, 12), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());

        let evaluation = evaluate(&facts, &history, &book).unwrap();

        assert_eq!(failed(&evaluation), [Condition::NoDisqualifyingEvent]);
    }

    #[test]
    fn qualifying_for_a_pension_bars_the_benefit_under_the_2025_regime_only() {
        let history_2026 = history(months_ending(ym(2026, 3), 24, 10_000_000, Region::I));
        let history_2025 = history(months_ending(ym(2025, 12), 24, 10_000_000, Region::I));
        let mut facts_2026 = claim(date(2026, 3, 31), date(2026, 4, 1));
        let mut facts_2025 = claim(date(2025, 12, 31), date(2026, 1, 5));
        facts_2026.pension = PensionStatus::EntitledNotDrawing;
        facts_2025.pension = PensionStatus::EntitledNotDrawing;

        let under_2025 = evaluate(&facts_2026, &history_2026, &book()).unwrap();
        let under_2013 = evaluate(&facts_2025, &history_2025, &book()).unwrap();

        assert_eq!(failed(&under_2025), [Condition::NoPension]);
        assert!(under_2013.is_eligible());
    }

    #[test]
    fn an_incapacity_allowance_bars_the_benefit_under_the_2013_regime_only() {
        let history_2026 = history(months_ending(ym(2026, 3), 24, 10_000_000, Region::I));
        let history_2025 = history(months_ending(ym(2025, 12), 24, 10_000_000, Region::I));
        let mut facts_2026 = claim(date(2026, 3, 31), date(2026, 4, 1));
        let mut facts_2025 = claim(date(2025, 12, 31), date(2026, 1, 5));
        facts_2026.pension = PensionStatus::ReceivingIncapacityAllowance;
        facts_2025.pension = PensionStatus::ReceivingIncapacityAllowance;

        let under_2025 = evaluate(&facts_2026, &history_2026, &book()).unwrap();
        let under_2013 = evaluate(&facts_2025, &history_2025, &book()).unwrap();

        assert!(under_2025.is_eligible());
        assert_eq!(failed(&under_2013), [Condition::NoPension]);
        assert_eq!(
            under_2013.condition(Condition::NoPension).unwrap().article,
            "Law 38/2013 art. 49(1)"
        );
    }

    #[test]
    fn drawing_a_pension_bars_the_benefit_under_both_regimes() {
        for (terminated, last) in [
            (date(2026, 3, 31), ym(2026, 3)),
            (date(2025, 12, 31), ym(2025, 12)),
        ] {
            let mut facts = claim(terminated, date(2026, 1, 5).max(terminated));
            facts.pension = PensionStatus::ReceivingPension;
            let history = history(months_ending(last, 24, 10_000_000, Region::I));
            let evaluation = evaluate(&facts, &history, &book()).unwrap();
            assert_eq!(failed(&evaluation), [Condition::NoPension]);
        }
    }

    #[test]
    fn months_used_by_an_earlier_benefit_do_not_make_a_new_claim_eligible() {
        use crate::domain::contributions::EarlierBenefit;
        let facts = claim(date(2026, 3, 31), date(2026, 4, 1));
        let history = history(months_ending(ym(2026, 3), 24, 10_000_000, Region::I))
            .after_earlier_benefit(EarlierBenefit {
                settled_through: ym(2025, 9),
                reserved_months: 30,
            });

        let evaluation = evaluate(&facts, &history, &book()).unwrap();

        assert_eq!(evaluation.window.months_counted, 6);
        assert_eq!(failed(&evaluation), [Condition::ContributionMonths]);
        // The reserved months still count towards a duration once eligible.
        assert_eq!(evaluation.contributions.total(), 36);
    }

    #[test]
    fn a_claim_filed_before_the_job_ended_cannot_be_judged() {
        let facts = claim(date(2026, 3, 31), date(2026, 3, 30));
        let history = history(months_ending(ym(2026, 3), 24, 10_000_000, Region::I));

        assert!(matches!(
            evaluate(&facts, &history, &book()),
            Err(EvaluationError::FiledBeforeTermination { .. })
        ));
    }

    #[test]
    fn the_schedule_of_an_eligible_claim_has_check_in_windows_from_month_two() {
        let facts = claim(date(2026, 2, 27), date(2026, 3, 2));
        let history = history(months_ending(ym(2026, 2), 24, 10_000_000, Region::I));
        let book = book().with_calendar(WorkingCalendar::default());

        let evaluation = evaluate(&facts, &history, &book).unwrap();

        let schedule = evaluation.schedule.unwrap();
        let first = schedule.month(1).unwrap();
        assert_eq!(
            (first.first_day, first.last_day),
            (date(2026, 3, 17), date(2026, 4, 16))
        );
        let second = schedule.month(2).unwrap().check_in.unwrap();
        assert_eq!(
            (second.opens(), second.closes()),
            (date(2026, 4, 17), date(2026, 4, 21))
        );
    }
}
