//! A synthetic province over five benefit months, the whole system running on a clock the test
//! drives: the population's contribution histories go in through eligibility's import stream,
//! every person files a claim at the job centre, the eligible are approved and handed their
//! notices, and month after month they scan them at a kiosk — or do not. The banks refuse a
//! few percent of the instructions as wrong accounts; two social-security officers correct
//! them and a third releases the next month's line to the new account.
//!
//! What each person should receive is worked out here from the scenario and the law alone
//! (who is eligible, at what amount, for how many months, who comes to which check-in, who
//! finds a job), never read back from the services' tables. What they did receive is what the
//! banks credited, read from the bank topics as a bank sees them.
//!
//! The job centre takes every claim on one intake day (each job ended within the two months
//! before it), so the whole province shares one calendar of benefit months; the population
//! is generated without duplicate registrations.
//!
//! `MONTH_PEOPLE` sets the population's size (default 80: about 65 s on an idle two-core
//! machine, of which rendering the notices is the largest share).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the scenario's helpers are test code: a broken fixture stops the test loudly"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeDelta};
use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::checkin::v1::{
    GetNoticeRequest, ListMissedCheckinsRequest, NoticeFormat, RegisterKioskRequest, ScanOutcome,
};
use contracts::common::v1::{
    Agency, ContractType, DecisionState, EventMeta, Officer, Region, YearMonth,
};
use contracts::contributions::v1::ContributionRecord;
use contracts::eligibility::v1::DecisionEvent;
use contracts::eligibility::v1::{
    ApproveClaimRequest, ClaimStatus, GetDecisionRequest, ImportContributionsRequest, ImportHeader,
    MonthStatus, decision_event, import_contributions_request::Part,
};
use contracts::payroll::v1::{HoldReason, ListHeldLinesRequest, ReleaseHeldLineRequest};
use contracts::topics;
use contracts::transfer::v1::{
    ConfirmAccountCorrectionRequest, GetReconciliationRequest, ListRefusedListsRequest,
    ProposeAccountCorrectionRequest, TransferOutcome, TransferStatus,
};
use futures::StreamExt as _;
use population::{Person, Spec};
use prost::Message as _;
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
    message::{Header, Headers as _, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use system_tests::intake;
use system_tests::law::{Benefit, benefit_of};
use system_tests::{
    CUT_INTERVAL, PROVINCE, Setup, System, date, decode_qr, morning_of, officer, registrar,
    statistics,
};
use testkit::{eventually, kafka_settings};
use tokio_util::sync::CancellationToken;

/// Benefit months the test runs through.
const MONTHS: u32 = 5;
/// The population's seed.
const SEED: u64 = 20_260_401;
/// Hà Nội's citizen-id province code (its administrative code is [`PROVINCE`]).
const CITIZEN_PROVINCE: &str = "001";
/// Every claim is filed on the job centre's intake day, Wednesday 1 April 2026.
const INTAKE: (i32, u32, u32) = (2026, 4, 1);
/// The labour department approves on Tuesday 7 April ...
const APPROVAL: (i32, u32, u32) = (2026, 4, 7);
/// ... and the decisions are handed over on Thursday 9 April.
const HANDOVER: (i32, u32, u32) = (2026, 4, 9);
/// How long the system may take to settle after each step.
const SETTLE: Duration = Duration::from_secs(60);
/// The employer of the person who finds a new job.
const NEW_EMPLOYER: &str = "0999999999";

fn people() -> u64 {
    std::env::var("MONTH_PEOPLE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(80)
}

fn day((year, month, day): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

fn nine_am(date: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    morning_of(date.year(), date.month(), date.day())
}

fn naive(date: Option<&contracts::common::v1::Date>) -> NaiveDate {
    let date = date.expect("a date");
    NaiveDate::from_ymd_opt(date.year, date.month as u32, date.day as u32).expect("a valid date")
}

fn social_security(officer_id: &str) -> Option<Officer> {
    officer(officer_id, Agency::SocialSecurity)
}

// ---------------------------------------------------------------------------------------------
// The scenario: who comes to which check-in.
// ---------------------------------------------------------------------------------------------

/// What one eligible person does over the simulated months.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conduct {
    /// Comes to every check-in.
    Faithful,
    /// Misses the check-in of this month only, and comes to the others.
    Misses(u32),
    /// Comes in month 1, misses months 2, 3 and 4 (terminated), tries again in month 5.
    MissesThreeInARow,
    /// Comes in months 1 and 2, then starts a job in the calendar month of benefit month 3
    /// and tries to check in for month 3 all the same.
    FindsAJob,
}

impl Conduct {
    /// True when the person scans in benefit month `month`.
    fn scans_in(&self, month: u32) -> bool {
        match self {
            Conduct::Faithful => true,
            Conduct::Misses(missed) => month != *missed,
            Conduct::MissesThreeInARow => !(2..=4).contains(&month),
            Conduct::FindsAJob => month <= 3,
        }
    }

    /// True when month `month` is cancelled by a termination the scenario causes.
    fn cancelled(&self, month: u32) -> bool {
        match self {
            // The third miss terminates from month 4's first day.
            Conduct::MissesThreeInARow => month >= 4,
            // The new job takes effect on the first day of month 3's calendar month, which is
            // after month 2 began and not after month 3 began.
            Conduct::FindsAJob => month >= 3,
            _ => false,
        }
    }
}

/// One eligible person in the scenario.
struct Beneficiary {
    index: usize,
    benefit: Benefit,
    conduct: Conduct,
    decision_id: String,
    token: String,
    /// Each benefit month's first day, and the first and last day of its check-in window, as
    /// the decision's annex prints them (month 1's window opens on hand-over).
    windows: Vec<(NaiveDate, NaiveDate, NaiveDate)>,
    /// Every card or account number the person has given, the first one first, each with the
    /// benefit month whose payment it was given for: it receives that month's and later ones.
    numbers: Vec<(u32, String)>,
    destination: population::BankDestination,
    corrections: u32,
}

impl Beneficiary {
    /// Months of the simulated period the decision has.
    fn months(&self) -> u32 {
        self.benefit.months.min(MONTHS)
    }

    fn expected_paid(&self, month: u32) -> bool {
        month <= self.months() && self.conduct.scans_in(month) && !self.conduct.cancelled(month)
    }

    fn expected_missed(&self, month: u32) -> bool {
        let missed = month <= self.months() && !self.conduct.scans_in(month);
        // The third miss is reported before the termination it causes cancels its month.
        missed
            && (!self.conduct.cancelled(month)
                || self.conduct == Conduct::MissesThreeInARow && month == 4)
    }

    fn refused_scan(&self, month: u32) -> bool {
        month <= self.months() && self.conduct.scans_in(month) && self.conduct.cancelled(month)
    }
}

/// Roles are handed out in population order: the first eligible person with at least five
/// months misses three in a row, the first other with at least four finds a job, every
/// seventh of the rest misses month 2, every eleventh misses month 1.
fn conducts(benefits: &[(usize, Benefit)]) -> Vec<Conduct> {
    let three = benefits.iter().position(|(_, b)| b.months >= 5);
    let job = benefits
        .iter()
        .enumerate()
        .position(|(at, (_, b))| Some(at) != three && b.months >= 4);
    let mut regular = 0;
    benefits
        .iter()
        .enumerate()
        .map(|(at, _)| {
            if Some(at) == three {
                return Conduct::MissesThreeInARow;
            }
            if Some(at) == job {
                return Conduct::FindsAJob;
            }
            regular += 1;
            if regular % 7 == 3 {
                Conduct::Misses(2)
            } else if regular % 11 == 5 {
                Conduct::Misses(1)
            } else {
                Conduct::Faithful
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the banks see, read from the broker.
// ---------------------------------------------------------------------------------------------

/// Every instruction, bank answer, transfer outcome and decision event seen so far.
#[derive(Default)]
struct Observed {
    instructions: HashMap<String, TransferInstruction>,
    results: HashMap<String, Vec<BankResult>>,
    outcomes: Vec<TransferOutcome>,
    terminated: HashSet<String>,
}

/// One credit, as the bank made it.
#[derive(Debug, Clone)]
struct Credit {
    decision_id: String,
    benefit_month: u32,
    amount: i64,
    account: String,
}

impl Observed {
    /// Every instruction the bank answered ACCC, by the decision and month its remittance
    /// information names.
    fn credits(&self) -> anyhow::Result<Vec<Credit>> {
        let mut credits = Vec::new();
        for (end_to_end_id, results) in &self.results {
            if !results
                .iter()
                .any(|result| result.status() == TransactionStatus::Accc)
            {
                continue;
            }
            let instruction = self
                .instructions
                .get(end_to_end_id)
                .ok_or_else(|| anyhow::anyhow!("credit {end_to_end_id} without an instruction"))?;
            let (benefit_month, decision_id) = remittance(&instruction.remittance_information)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "remittance {:?} names no month and decision",
                        instruction.remittance_information
                    )
                })?;
            credits.push(Credit {
                decision_id,
                benefit_month,
                amount: instruction.amount_dong,
                account: instruction.creditor_account.clone(),
            });
        }
        Ok(credits)
    }

    /// Parked attempts, by decision and month, that no credit has settled since.
    fn parked(&self, credited: &HashSet<(String, u32)>) -> Vec<(String, u32, String)> {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.status() == TransferStatus::Parked)
            .filter(|outcome| {
                !credited.contains(&(outcome.decision_id.clone(), outcome.benefit_month))
            })
            .map(|outcome| {
                (
                    outcome.decision_id.clone(),
                    outcome.benefit_month,
                    outcome.end_to_end_id.clone(),
                )
            })
            .collect()
    }
}

/// "TRO CAP THAT NGHIEP THANG <month> QD <decision id>", as the bank's customer reads it.
fn remittance(text: &str) -> Option<(u32, String)> {
    let after = text.split_once("THANG ")?.1;
    let (month, rest) = after.split_once(' ')?;
    let decision = rest.strip_prefix("QD ")?;
    Some((month.parse().ok()?, decision.trim().to_lowercase()))
}

/// Reads the bank topics, transfer's outcomes and eligibility's decisions into `observed`
/// until `stop`.
fn observe(
    system: &System,
    banks: &[String],
    observed: Arc<Mutex<Observed>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = kafka_settings("month-observer")
        .client_config()
        .set(
            "group.id",
            format!("month-observer-{}", uuid::Uuid::new_v4()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let instructions: Vec<String> = banks
        .iter()
        .map(|bank| system.topic(&topics::bank_transfers(bank)))
        .collect();
    let results = system.topic(topics::BANK_RESULTS);
    let outcomes = system.topic(topics::TRANSFER_OUTCOMES);
    let decisions = system.topic(topics::DECISIONS);
    let mut names: Vec<&str> = instructions.iter().map(String::as_str).collect();
    names.extend([results.as_str(), outcomes.as_str(), decisions.as_str()]);
    consumer.subscribe(&names)?;
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => break,
                message = consumer.recv() => message,
            };
            let Ok(message) = message else { continue };
            let payload = message.payload().unwrap_or_default();
            let mut seen = observed.lock().unwrap();
            let topic = message.topic();
            if topic == results {
                if let Ok(result) = BankResult::decode(payload) {
                    seen.results
                        .entry(result.end_to_end_id.clone())
                        .or_default()
                        .push(result);
                }
            } else if topic == outcomes {
                if let Ok(outcome) = TransferOutcome::decode(payload)
                    && outcome.notice.is_none()
                {
                    seen.outcomes.push(outcome);
                }
            } else if topic == decisions {
                if let Ok(event) = DecisionEvent::decode(payload)
                    && matches!(event.change, Some(decision_event::Change::Terminated(_)))
                {
                    seen.terminated.insert(event.decision_id);
                }
            } else if let Ok(instruction) = TransferInstruction::decode(payload) {
                seen.instructions
                    .insert(instruction.end_to_end_id.clone(), instruction);
            }
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The month.
// ---------------------------------------------------------------------------------------------

struct Province {
    system: System,
    observed: Arc<Mutex<Observed>>,
    people: Vec<Person>,
    beneficiaries: Vec<Beneficiary>,
    kiosk: String,
    /// Decisions whose account two officers corrected.
    corrected: HashSet<String>,
    released: usize,
}

impl Province {
    fn credited(&self) -> anyhow::Result<HashSet<(String, u32)>> {
        Ok(self
            .observed
            .lock()
            .unwrap()
            .credits()?
            .into_iter()
            .map(|credit| (credit.decision_id, credit.benefit_month))
            .collect())
    }

    /// Waits until every payment `month` should bring is credited: parked ones are
    /// corrected by two officers, and lines held because of a corrected account are released
    /// by a third.
    async fn pay_month(&mut self, month: u32) -> anyhow::Result<()> {
        let due: BTreeSet<(String, u32)> = self
            .beneficiaries
            .iter()
            .filter(|beneficiary| beneficiary.expected_paid(month))
            .map(|beneficiary| (beneficiary.decision_id.clone(), month))
            .collect();
        let deadline = tokio::time::Instant::now() + SETTLE;
        let mut handled: HashSet<String> = HashSet::new();
        loop {
            let credited = self.credited()?;
            if due.iter().all(|item| credited.contains(item)) {
                return Ok(());
            }
            let parked: Vec<(String, u32, String)> = self
                .observed
                .lock()
                .unwrap()
                .parked(&credited)
                .into_iter()
                .filter(|(_, _, end_to_end_id)| !handled.contains(end_to_end_id))
                .collect();
            for (decision_id, _, end_to_end_id) in parked {
                handled.insert(end_to_end_id);
                self.correct(&decision_id, month).await?;
            }
            self.release_held().await?;
            // Time passes at the centre: payroll cuts again for released and late lines.
            self.system.clock.advance(CUT_INTERVAL);
            if tokio::time::Instant::now() >= deadline {
                let missing: Vec<(String, u32)> = due
                    .iter()
                    .filter(|item| !credited.contains(*item))
                    .cloned()
                    .collect();
                anyhow::bail!(
                    "month {month}: {} of {} payments not credited within {SETTLE:?}:\n{}",
                    missing.len(),
                    due.len(),
                    self.diagnose(&missing).await?
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What the system shows of payments that did not arrive, for the failure message.
    async fn diagnose(&self, missing: &[(String, u32)]) -> anyhow::Result<String> {
        let refused = self
            .system
            .clients()
            .transfer
            .list_refused_lists(ListRefusedListsRequest {
                page_size: 100,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .lists;
        let statistics = statistics(&mut self.system.clients().payroll).await?;
        let mut dead = Vec::new();
        for topic in [
            topics::DECISIONS,
            topics::CHECKIN_SCANS,
            topics::PAYMENT_LISTS,
            topics::TRANSFER_OUTCOMES,
            topics::BANK_RESULTS,
        ] {
            let name = messaging::dead_letter_topic(&self.system.topic(topic));
            for message in testkit::read_topic(&name, 100, Duration::from_secs(1)).await? {
                let reason = message.headers().and_then(|headers| {
                    headers
                        .iter()
                        .find(|header| header.key == "dlq-reason")
                        .and_then(|header| header.value)
                        .map(|value| String::from_utf8_lossy(value).into_owned())
                });
                dead.push(format!("{topic}: {reason:?}"));
            }
        }
        let seen = self.observed.lock().unwrap();
        let mut facts: Vec<String> = missing
            .iter()
            .map(|(decision_id, month)| {
                let outcomes: Vec<String> = seen
                    .outcomes
                    .iter()
                    .filter(|outcome| {
                        &outcome.decision_id == decision_id && outcome.benefit_month == *month
                    })
                    .map(|outcome| format!("{:?} {}", outcome.status(), outcome.reason_code))
                    .collect();
                format!("decision {decision_id} month {month}: transfer outcomes {outcomes:?}")
            })
            .collect();
        facts.push(format!(
            "corrected {:?}, released {}",
            self.corrected, self.released
        ));
        facts.push(format!("refused lists: {refused:?}"));
        facts.push(format!("dead letters: {dead:?}"));
        facts.push(format!("payroll statistics: {statistics:?}"));
        Ok(facts.join("\n"))
    }

    /// The person gives another account; one officer proposes it, another confirms it.
    async fn correct(&mut self, decision_id: &str, month: u32) -> anyhow::Result<()> {
        let beneficiary = self
            .beneficiaries
            .iter_mut()
            .find(|beneficiary| beneficiary.decision_id == decision_id)
            .ok_or_else(|| {
                anyhow::anyhow!("a parked transfer of unknown decision {decision_id}")
            })?;
        beneficiary.corrections += 1;
        let corrected =
            population::corrected_destination(&beneficiary.destination, beneficiary.corrections);
        let person = &self.people[beneficiary.index];
        let mut transfer = self.system.clients().transfer;
        let proposal = transfer
            .propose_account_correction(ProposeAccountCorrectionRequest {
                decision_id: decision_id.to_owned(),
                bank_destination: Some(intake::destination(&corrected, &person.full_name)),
                reason: "bank answered that the account does not exist; the beneficiary \
                         brought a bank statement"
                    .into(),
                officer: social_security("ss-officer-1"),
            })
            .await?
            .into_inner();
        transfer
            .confirm_account_correction(ConfirmAccountCorrectionRequest {
                correction_id: proposal.correction_id,
                officer: social_security("ss-officer-2"),
            })
            .await?;
        beneficiary.numbers.push((month, corrected.number.clone()));
        beneficiary.destination = corrected;
        self.corrected.insert(decision_id.to_owned());
        Ok(())
    }

    /// Releases lines held because their account was corrected since the last paid month;
    /// any other hold is an error the test reports.
    async fn release_held(&mut self) -> anyhow::Result<()> {
        let mut payroll = self.system.clients().payroll;
        let held = payroll
            .list_held_lines(ListHeldLinesRequest {
                province: PROVINCE.into(),
                reason: HoldReason::Unspecified as i32,
                page_size: 500,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .lines;
        for line in held {
            let reasons: Vec<HoldReason> = line.reasons().collect();
            anyhow::ensure!(
                reasons == [HoldReason::DestinationChanged]
                    && self.corrected.contains(&line.decision_id),
                "a line was held for {reasons:?} ({}), decision {} month {}",
                line.explanation,
                line.decision_id,
                line.benefit_month
            );
            payroll
                .release_held_line(ReleaseHeldLineRequest {
                    entitlement_id: line.entitlement_id,
                    reason: "account corrected by two officers after the bank's refusal".into(),
                    officer: social_security("ss-officer-3"),
                })
                .await?;
            self.released += 1;
        }
        Ok(())
    }

    /// Closes month `month`'s windows and waits until each expected miss is reported by
    /// checkin and has suspended the month at eligibility.
    async fn close_month(&mut self, month: u32) -> anyhow::Result<()> {
        let Some(last_close) = self
            .beneficiaries
            .iter()
            .filter(|beneficiary| month <= beneficiary.months())
            .map(|beneficiary| beneficiary.windows[month as usize - 1].2)
            .max()
        else {
            return Ok(());
        };
        self.system
            .clock
            .set(nine_am(last_close + TimeDelta::days(1)));
        let expected: BTreeSet<String> = self
            .beneficiaries
            .iter()
            .filter(|beneficiary| beneficiary.expected_missed(month))
            .map(|beneficiary| beneficiary.decision_id.clone())
            .collect();
        let checkin = self.system.checkin.clone();
        let reported = eventually(SETTLE, || {
            let mut checkin = checkin.clone();
            let expected = expected.clone();
            async move {
                let missed = checkin
                    .list_missed_checkins(ListMissedCheckinsRequest {
                        province: PROVINCE.into(),
                        page_size: 500,
                        ..ListMissedCheckinsRequest::default()
                    })
                    .await?
                    .into_inner()
                    .missed;
                let listed: BTreeSet<String> = missed
                    .iter()
                    .filter(|entry| {
                        entry.window.as_ref().map(|window| window.benefit_month) == Some(month)
                    })
                    .map(|entry| entry.decision_id.clone())
                    .collect();
                anyhow::ensure!(
                    listed.is_subset(&expected),
                    "month {month}: checkin reports misses nobody made: {:?}",
                    listed.difference(&expected).collect::<Vec<_>>()
                );
                Ok(listed == expected)
            }
        })
        .await?;
        anyhow::ensure!(
            reported,
            "month {month}: the expected missed check-ins were not reported"
        );
        for decision_id in &expected {
            let eligibility = self.system.eligibility.clone();
            let suspended = eventually(SETTLE, || {
                let mut eligibility = eligibility.clone();
                let decision_id = decision_id.clone();
                async move {
                    let decision = eligibility
                        .get_decision(GetDecisionRequest { decision_id })
                        .await?
                        .into_inner()
                        .decision
                        .unwrap_or_default();
                    // The third miss in a row also cancels its own month.
                    Ok(decision
                        .months_status
                        .get(month as usize - 1)
                        .is_some_and(|status| {
                            matches!(
                                status.status(),
                                MonthStatus::Suspended | MonthStatus::Cancelled
                            )
                        }))
                }
            })
            .await?;
            anyhow::ensure!(
                suspended,
                "month {month}: decision {decision_id} missed but was not suspended"
            );
        }
        Ok(())
    }

    /// Waits until the termination of `decision_id` is on the decisions topic and every
    /// service has applied it.
    async fn termination_known(&self, decision_id: &str) -> anyhow::Result<()> {
        let observed = self.observed.clone();
        let seen = eventually(SETTLE, || {
            let seen = observed.lock().unwrap().terminated.contains(decision_id);
            async move { Ok(seen) }
        })
        .await?;
        anyhow::ensure!(seen, "decision {decision_id} was never terminated");
        for service in ["checkin", "payroll", "transfer"] {
            let applied =
                eventually(SETTLE, || self.system.caught_up(service, topics::DECISIONS)).await?;
            anyhow::ensure!(
                applied,
                "{service} did not apply the termination of {decision_id}"
            );
        }
        Ok(())
    }

    /// A contribution for the calendar month of benefit month 3, from a new employer, as the
    /// collection system publishes it.
    async fn new_job(&self, beneficiary: &Beneficiary) -> anyhow::Result<()> {
        let person = &self.people[beneficiary.index];
        let month_start = beneficiary.windows[2].0;
        let record = ContributionRecord {
            meta: Some(EventMeta {
                event_id: uuid::Uuid::new_v4().to_string(),
                occurred_at: None,
                subject_id: person.social_insurance_number.clone(),
                schema_version: 1,
                producer: "collection".into(),
            }),
            citizen_id: person.citizen_id.clone(),
            social_insurance_number: person.social_insurance_number.clone(),
            employer_id: NEW_EMPLOYER.into(),
            month: Some(YearMonth {
                year: month_start.year(),
                month: month_start.month() as i32,
            }),
            contribution_salary_dong: 9_000_000,
            contract_type: ContractType::Indefinite as i32,
            employer_region: Region::I as i32,
            state_salary_scale: false,
        };
        let producer: FutureProducer = kafka_settings("collection").client_config().create()?;
        let event_id = record.meta.as_ref().map(|meta| meta.event_id.clone());
        producer
            .send(
                FutureRecord::to(&self.system.topic(topics::CONTRIBUTIONS))
                    .key(&person.social_insurance_number)
                    .payload(&record.encode_to_vec())
                    .headers(OwnedHeaders::new().insert(Header {
                        key: messaging::headers::EVENT_ID,
                        value: event_id.as_deref(),
                    })),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_is_paid_exactly_what_each_month_s_check_ins_earn() -> anyhow::Result<()> {
    // Arrange: one province's claimants, all in Hà Nội, with no duplicate registrations.
    let spec = Spec {
        duplicate_share: 0.0,
        ..Spec::new(people(), SEED, day(INTAKE))
            .in_province(CITIZEN_PROVINCE)
            .expect("Hà Nội's code")
    };
    let started = std::time::Instant::now();
    let progress = |step: &str| eprintln!("{:>6.1} s  {step}", started.elapsed().as_secs_f64());
    let people: Vec<Person> = population::generate(&spec).collect();
    let banks: BTreeSet<String> = people
        .iter()
        .map(|person| person.bank.bank_id.to_owned())
        .collect();
    let banks: Vec<String> = banks.into_iter().collect();
    let system = System::start_with(
        nine_am(day(INTAKE)),
        Setup {
            banks: banks.clone(),
            // 2% of instructions name an account that does not exist, 0.5% a closed one.
            shares: bank_simulator::Shares {
                ac01_per_mille: 20,
                ac04_per_mille: 5,
                md07_per_mille: 0,
                timeout_per_mille: 0,
            },
            bank_seed: SEED,
            list_approvers: vec!["ss-officer-3".into()],
        },
    )
    .await?;
    let observed = Arc::new(Mutex::new(Observed::default()));
    let stop = CancellationToken::new();
    let _stop_observer = stop.clone().drop_guard();
    observe(&system, &banks, observed.clone(), stop)?;

    // The contribution histories, through the real import path.
    let mut eligibility = system.eligibility.clone();
    let import = eligibility
        .import_contributions(futures::stream::iter(vec![
            ImportContributionsRequest {
                part: Some(Part::Header(ImportHeader {
                    source_name: "province-01.csv".into(),
                    has_header_row: false,
                    officer: registrar(),
                })),
            },
            ImportContributionsRequest {
                part: Some(Part::CsvChunk(
                    population::contributions_csv(&people)?.into_bytes(),
                )),
            },
        ]))
        .await?
        .into_inner();
    assert_eq!(import.rows_rejected, 0, "{:?}", import.bad_rows);

    progress("imported");
    // Intake day: every person and claim registered at the job centre.
    let mut assessed = Vec::new();
    let mut misassessed = Vec::new();
    for (index, person) in people.iter().enumerate() {
        let claim = intake::register(
            &mut eligibility,
            person,
            intake::Filing {
                on: day(INTAKE),
                province: PROVINCE,
                centre_id: "centre-hn-1",
                officer: registrar(),
            },
        )
        .await?;
        let expected = benefit_of(person);
        let assessment = claim.assessment.clone().unwrap_or_default();
        let got = (claim.status() == ClaimStatus::AwaitingApproval).then_some(Benefit {
            monthly_amount: assessment.monthly_amount_dong,
            months: assessment.benefit_months,
        });
        if got != expected {
            misassessed.push(format!(
                "person {index} ({} contribution months, region {}): expected {expected:?}, \
                 assessed {got:?} ({:?})",
                person.contributions.len(),
                person
                    .contributions
                    .last()
                    .map(|month| month.region)
                    .unwrap_or(0),
                claim.status()
            ));
        }
        if let Some(benefit) = expected.filter(|_| got.is_some()) {
            assessed.push((index, benefit, claim.claim_id));
        }
    }
    assert!(
        misassessed.is_empty(),
        "claims assessed otherwise than the law gives:\n{}",
        misassessed.join("\n")
    );

    progress("claims registered");
    // Approved by the labour department, handed over two days later.
    system.clock.set(nine_am(day(APPROVAL)));
    let roles = conducts(
        &assessed
            .iter()
            .map(|(index, benefit, _)| (*index, *benefit))
            .collect::<Vec<_>>(),
    );
    let mut beneficiaries = Vec::new();
    for ((index, benefit, claim_id), conduct) in assessed.into_iter().zip(roles) {
        let decision = eligibility
            .approve_claim(ApproveClaimRequest {
                claim_id,
                decision_number: String::new(),
                handover_date: date(HANDOVER.0, HANDOVER.1 as i32, HANDOVER.2 as i32),
                officer: officer("labour-officer-1", Agency::LabourDepartment),
            })
            .await?
            .into_inner()
            .decision
            .expect("the decision");
        let windows = decision
            .months_status
            .iter()
            .map(|month| {
                let window = month.window.unwrap_or_default();
                (
                    naive(window.month_start.as_ref()),
                    naive(window.opens_on.as_ref()),
                    naive(window.closes_on.as_ref()),
                )
            })
            .collect();
        let person = &people[index];
        beneficiaries.push(Beneficiary {
            index,
            benefit,
            conduct,
            decision_id: decision.decision_id,
            token: String::new(),
            windows,
            numbers: vec![(1, person.bank.number.clone())],
            destination: person.bank.clone(),
            corrections: 0,
        });
    }
    anyhow::ensure!(
        beneficiaries
            .iter()
            .any(|b| b.conduct == Conduct::MissesThreeInARow)
            && beneficiaries
                .iter()
                .any(|b| b.conduct == Conduct::FindsAJob),
        "the population is too small for the scenario's roles"
    );

    progress("claims approved");
    // Each notice printed, its QR code read as the kiosk's camera will read it.
    let mut checkin = system.checkin.clone();
    let printing = beneficiaries.iter().enumerate().map(|(at, beneficiary)| {
        let checkin = checkin.clone();
        let decision_id = beneficiary.decision_id.clone();
        async move {
            // A few notices are read from their QR code as the kiosk's camera reads it; the
            // rest by the short code an officer types, which spares rendering every image.
            let camera = at < 3;
            let request = GetNoticeRequest {
                decision_id: decision_id.clone(),
                format: if camera {
                    NoticeFormat::Png
                } else {
                    NoticeFormat::Pdf
                } as i32,
                officer: registrar(),
            };
            let printed = Arc::new(Mutex::new(None));
            let issued = eventually(SETTLE, || {
                let mut checkin = checkin.clone();
                let request = request.clone();
                let printed = printed.clone();
                async move {
                    let Ok(notice) = checkin.get_notice(request).await else {
                        return Ok(false);
                    };
                    *printed.lock().unwrap() = Some(notice.into_inner());
                    Ok(true)
                }
            })
            .await?;
            anyhow::ensure!(issued, "no notice for {decision_id}");
            let notice = printed.lock().unwrap().take().expect("the notice");
            if camera {
                decode_qr(&notice.content)
            } else {
                Ok(notice.short_code)
            }
        }
    });
    let tokens: Vec<anyhow::Result<String>> =
        futures::stream::iter(printing).buffered(4).collect().await;
    for (beneficiary, token) in beneficiaries.iter_mut().zip(tokens) {
        beneficiary.token = token?;
    }
    let kiosk = checkin
        .register_kiosk(RegisterKioskRequest {
            centre_id: "centre-hn-1".into(),
            province: PROVINCE.into(),
            label: "Quầy 1, tầng 1".into(),
            officer: registrar(),
        })
        .await?
        .into_inner()
        .credential;

    progress("notices read");
    let mut province = Province {
        system,
        observed,
        people,
        beneficiaries,
        kiosk,
        corrected: HashSet::new(),
        released: 0,
    };

    // Act: month after month, the check-ins, the payments, the corrections, the misses.
    let mut scan_months: BTreeMap<(i32, u32), (u64, i64)> = BTreeMap::new();
    let mut refusals = Vec::new();
    for month in 1..=MONTHS {
        if month == 3 {
            let job = province
                .beneficiaries
                .iter()
                .position(|b| b.conduct == Conduct::FindsAJob)
                .expect("someone finds a job");
            let beneficiary = &province.beneficiaries[job];
            province.system.clock.set(nine_am(beneficiary.windows[2].0));
            province.new_job(beneficiary).await?;
            province
                .termination_known(&province.beneficiaries[job].decision_id.clone())
                .await?;
        }
        if month == 5 {
            let three = province
                .beneficiaries
                .iter()
                .find(|b| b.conduct == Conduct::MissesThreeInARow)
                .expect("someone misses three months")
                .decision_id
                .clone();
            province.termination_known(&three).await?;
        }
        let mut by_day: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
        for (at, beneficiary) in province.beneficiaries.iter().enumerate() {
            if month <= beneficiary.months() && beneficiary.conduct.scans_in(month) {
                by_day
                    .entry(beneficiary.windows[month as usize - 1].1)
                    .or_default()
                    .push(at);
            }
        }
        for (scan_day, scanning) in by_day {
            province.system.clock.set(nine_am(scan_day));
            for at in scanning {
                let beneficiary = &province.beneficiaries[at];
                let answer = province
                    .system
                    .scan(&province.kiosk, &beneficiary.token)
                    .await?;
                if beneficiary.refused_scan(month) {
                    refusals.push((beneficiary.decision_id.clone(), month, answer.outcome()));
                    continue;
                }
                anyhow::ensure!(
                    answer.outcome() == ScanOutcome::Accepted && answer.benefit_month == month,
                    "month {month}: the scan of {} was not accepted: {answer:?}",
                    beneficiary.decision_id
                );
                let entry = scan_months
                    .entry((scan_day.year(), scan_day.month()))
                    .or_default();
                entry.0 += 1;
                entry.1 += beneficiary.benefit.monthly_amount;
            }
        }
        // Payroll cuts on its next interval; banks answer; officers correct and release.
        progress(&format!("month {month} scanned"));
        // Every check-in reaches payroll before the clock moves on to its next cut.
        let accepted: u64 = scan_months.values().map(|(count, _)| count).sum();
        let arrived = eventually(SETTLE, || {
            let mut payroll = province.system.clients().payroll;
            async move {
                let rows = statistics(&mut payroll).await?;
                Ok(rows.iter().map(|row| row.entitlements).sum::<u64>() == accepted)
            }
        })
        .await?;
        anyhow::ensure!(arrived, "month {month}: not every check-in reached payroll");
        province.system.clock.advance(CUT_INTERVAL * 2);
        province.pay_month(month).await?;
        progress(&format!("month {month} paid"));
        province.close_month(month).await?;
        progress(&format!("month {month} closed"));
    }
    // A last cut interval, and every consumer caught up, so anything paid twice would show.
    province.system.clock.advance(CUT_INTERVAL * 2);
    for (service, topic) in [
        ("payroll", topics::CHECKIN_SCANS),
        ("payroll", topics::TRANSFER_OUTCOMES),
        ("transfer", topics::PAYMENT_LISTS),
        ("transfer", topics::BANK_RESULTS),
        ("eligibility", topics::TRANSFER_OUTCOMES),
    ] {
        let caught_up = eventually(SETTLE, || province.system.caught_up(service, topic)).await?;
        anyhow::ensure!(caught_up, "{service} did not catch up on {topic}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Assert: each person credited exactly once for each month they checked in, at their
    // amount, to an account they gave; never for a missed or cancelled month.
    let credits = province.observed.lock().unwrap().credits()?;
    let mut paid: BTreeMap<(String, u32), Vec<Credit>> = BTreeMap::new();
    for credit in credits {
        paid.entry((credit.decision_id.clone(), credit.benefit_month))
            .or_default()
            .push(credit);
    }
    let mut wrong = Vec::new();
    let mut misdirected = Vec::new();
    let mut expected_total = 0;
    let mut expected_count = 0;
    let mut cards = (0u64, 0i64);
    let mut accounts = (0u64, 0i64);
    for beneficiary in &province.beneficiaries {
        for month in 1..=MONTHS {
            let key = (beneficiary.decision_id.clone(), month);
            let credits = paid.remove(&key).unwrap_or_default();
            if beneficiary.expected_paid(month) {
                expected_total += beneficiary.benefit.monthly_amount;
                expected_count += 1;
                let kind = if beneficiary.destination.is_card {
                    &mut cards
                } else {
                    &mut accounts
                };
                kind.0 += 1;
                kind.1 += beneficiary.benefit.monthly_amount;
                if credits.len() != 1 {
                    wrong.push(format!(
                        "{:?} month {month}: {} credits, expected 1",
                        beneficiary.conduct,
                        credits.len()
                    ));
                }
                // The number in force for the month: the last one given for it or before.
                let in_force = beneficiary
                    .numbers
                    .iter()
                    .rfind(|(from, _)| *from <= month)
                    .map(|(_, number)| number);
                let corrections = beneficiary.numbers.len() - 1;
                for credit in &credits {
                    if credit.amount != beneficiary.benefit.monthly_amount {
                        wrong.push(format!(
                            "{:?} month {month}: credited {} đồng, expected {}",
                            beneficiary.conduct, credit.amount, beneficiary.benefit.monthly_amount
                        ));
                    }
                    if Some(&credit.account) != in_force {
                        let given = beneficiary
                            .numbers
                            .iter()
                            .position(|(_, number)| *number == credit.account);
                        misdirected.push(format!(
                            "decision {} month {month}: credited to {}, not to the account \
                             in force ({corrections} correction(s) so far)",
                            beneficiary.decision_id,
                            match given {
                                Some(0) => "the first account, which a correction replaced",
                                Some(_) => "an account a later correction replaced",
                                None => "an account the person never gave",
                            }
                        ));
                    }
                }
            } else if !credits.is_empty() {
                wrong.push(format!(
                    "{:?} month {month}: {} credits for a month that earns nothing",
                    beneficiary.conduct,
                    credits.len()
                ));
            }
        }
    }
    for ((decision_id, month), credits) in &paid {
        wrong.push(format!(
            "{} credits to decision {decision_id} month {month}, which is no beneficiary's",
            credits.len()
        ));
    }
    assert!(wrong.is_empty(), "payments:\n{}", wrong.join("\n"));

    // The refused scans: the terminated are told so.
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for (decision_id, month, outcome) in &refusals {
        assert_eq!(
            *outcome,
            ScanOutcome::DecisionTerminated,
            "decision {decision_id} month {month}"
        );
    }
    let mut eligibility = province.system.eligibility.clone();
    for beneficiary in province
        .beneficiaries
        .iter()
        .filter(|b| matches!(b.conduct, Conduct::FindsAJob | Conduct::MissesThreeInARow))
    {
        let decision = eligibility
            .get_decision(GetDecisionRequest {
                decision_id: beneficiary.decision_id.clone(),
            })
            .await?
            .into_inner()
            .decision
            .unwrap_or_default();
        assert_eq!(
            decision.state(),
            DecisionState::Terminated,
            "{:?}",
            beneficiary.conduct
        );
    }

    // The scenario did meet wrong accounts, and every one was corrected and paid.
    let parked = province
        .observed
        .lock()
        .unwrap()
        .parked(&HashSet::new())
        .len();
    assert!(
        parked > 0,
        "no bank refused an account: the corrections went untested"
    );
    assert!(!province.corrected.is_empty());

    // Reconciliation, to the đồng.
    let rows = province
        .system
        .clients()
        .transfer
        .get_reconciliation(GetReconciliationRequest::default())
        .await?
        .into_inner()
        .rows;
    let sum = |figure: fn(&contracts::transfer::v1::ReconciliationRow) -> i64| -> i64 {
        rows.iter().map(figure).sum()
    };
    assert_eq!(sum(|row| row.approved_dong), expected_total, "approved");
    assert_eq!(sum(|row| row.credited_dong), expected_total, "credited");
    assert_eq!(sum(|row| row.in_flight_dong), 0, "in flight");
    assert_eq!(sum(|row| row.parked_dong), 0, "parked");
    assert_eq!(sum(|row| row.failed_dong), 0, "failed");
    assert!(rows.iter().all(|row| row.difference_dong == 0), "{rows:?}");
    assert_eq!(
        rows.iter().map(|row| row.credited_count).sum::<u64>(),
        expected_count,
        "credited count"
    );

    // Payroll's statistics, month by month of the check-ins.
    let statistics = statistics(&mut province.system.clients().payroll).await?;
    let by_month: BTreeMap<(i32, u32), _> = statistics
        .iter()
        .map(|row| {
            let month = row.month.unwrap_or_default();
            ((month.year, month.month as u32), row)
        })
        .collect();
    for (month, (entitlements, paid_dong)) in &scan_months {
        let row = by_month
            .get(month)
            .unwrap_or_else(|| panic!("no statistics for {month:?}: {statistics:?}"));
        assert_eq!(row.entitlements, *entitlements, "entitlements in {month:?}");
        assert_eq!(
            row.beneficiaries_checked_in, *entitlements,
            "checked in, {month:?}"
        );
        assert_eq!(row.paid_dong, *paid_dong, "paid in {month:?}");
        assert_eq!(row.approved_dong, *paid_dong, "approved in {month:?}");
    }
    let total = |figure: fn(&contracts::payroll::v1::ProvinceMonthStatistics) -> i64| -> i64 {
        statistics.iter().map(figure).sum()
    };
    assert_eq!(total(|row| row.paid_dong), expected_total, "paid");
    assert_eq!(
        total(|row| row.paid_to_cards as i64),
        cards.0 as i64,
        "paid to cards"
    );
    assert_eq!(
        total(|row| row.paid_to_cards_dong),
        cards.1,
        "to cards, đồng"
    );
    assert_eq!(
        total(|row| row.paid_to_accounts as i64),
        accounts.0 as i64,
        "paid to accounts"
    );
    assert_eq!(
        total(|row| row.paid_to_accounts_dong),
        accounts.1,
        "to accounts, đồng"
    );
    let expected_missed: i64 = province
        .beneficiaries
        .iter()
        .map(|b| {
            (1..=MONTHS)
                .filter(|month| b.expected_missed(*month))
                .count() as i64
        })
        .sum();
    assert_eq!(
        total(|row| row.missed_checkins as i64),
        expected_missed,
        "missed"
    );
    assert_eq!(
        total(|row| row.repaid_transfers as i64),
        total(|row| row.failed_transfers as i64),
        "every failed transfer was paid again"
    );

    // Last, so that a wrong account does not hide the figures above: after a correction,
    // the money goes to the corrected account.
    assert!(
        misdirected.is_empty(),
        "credits to an account a correction replaced:\n{}",
        misdirected.join("\n")
    );
    Ok(())
}
