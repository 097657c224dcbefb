//! A decision's life driven by Kafka: re-employment seen in contributions terminates it once,
//! missed check-ins suspend months, a later check-in resumes, three misses terminate.

mod support;

use std::time::Duration;

use contracts::checkin::v1::{CheckinEvent, CheckinMissed, CheckinRecorded, checkin_event::Kind};
use contracts::common::v1::{ContractType, DecisionState, Region, TerminationReason, YearMonth};
use contracts::contributions::v1::ContributionRecord;
use contracts::eligibility::v1::{
    ApproveClaimRequest, DecisionChangeKind, GetDecisionRequest, GetReservedMonthsRequest,
    ListPersonDecisionsRequest, MonthStatus, TerminateDecisionRequest, decision_event::Change,
};
use contracts::topics;
use contracts::transfer::v1::TransferOutcome;
use support::{Harness, WAIT, date, morning_of};
use testkit::eventually;

/// Starts the service, registers worked example 1 and approves it; returns the decision id.
async fn approved_decision() -> anyhow::Result<(Harness, String)> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let claim = harness.example_1_claim().await?;
    harness.clock.set(morning_of(2026, 3, 27));
    let decision_id = harness.approve(&claim.claim_id).await?;
    Ok((harness, decision_id))
}

async fn state_becomes(
    harness: &Harness,
    decision_id: &str,
    state: DecisionState,
) -> anyhow::Result<bool> {
    eventually(WAIT, || {
        let mut client = harness.client.clone();
        let request = GetDecisionRequest {
            decision_id: decision_id.to_owned(),
        };
        async move {
            let decision = client.get_decision(request).await?.into_inner().decision;
            Ok(decision.is_some_and(|decision| decision.state() == state))
        }
    })
    .await
}

fn new_job_record() -> ContributionRecord {
    ContributionRecord {
        meta: None,
        citizen_id: "001085012345".into(),
        social_insurance_number: "0101234567".into(),
        employer_id: "EMP-NEW".into(),
        month: Some(YearMonth {
            year: 2026,
            month: 5,
        }),
        contribution_salary_dong: 12_000_000,
        contract_type: ContractType::Indefinite as i32,
        employer_region: Region::I as i32,
        state_salary_scale: false,
    }
}

fn missed(decision_id: &str, month: u32) -> CheckinEvent {
    CheckinEvent {
        meta: None,
        decision_id: decision_id.into(),
        benefit_month: month,
        kind: Some(Kind::Missed(CheckinMissed { window: None })),
    }
}

fn recorded(decision_id: &str, month: u32) -> CheckinEvent {
    CheckinEvent {
        meta: None,
        decision_id: decision_id.into(),
        benefit_month: month,
        kind: Some(Kind::Recorded(CheckinRecorded::default())),
    }
}

#[tokio::test]
async fn re_employment_delivered_twice_terminates_once_and_reserves_the_unused_month()
-> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;

    // The collection system sends the same record twice, under two event ids.
    harness
        .publish(topics::CONTRIBUTIONS, "0101234567", &new_job_record())
        .await?;
    harness
        .publish(topics::CONTRIBUTIONS, "0101234567", &new_job_record())
        .await?;

    assert!(state_becomes(&harness, &decision_id, DecisionState::Terminated).await?);
    let events = harness.decision_events(2).await?;
    assert_eq!(events.len(), 2, "activated and terminated, nothing more");
    let terminations: Vec<_> = events
        .iter()
        .filter_map(|(key, event)| match &event.change {
            Some(Change::Terminated(terminated)) => Some((key.clone(), terminated.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(terminations.len(), 1);
    let (key, terminated) = &terminations[0];
    assert_eq!(key, &decision_id);
    assert_eq!(terminated.reason(), TerminationReason::FoundJob);
    assert_eq!(terminated.effective_date, date(2026, 5, 1));
    // Month 1 runs 31 March to 30 April, so month 2 starts on 1 May, the day the new job takes
    // effect: months 2 and 3 are not paid and come back as 24 contribution months.
    assert_eq!(terminated.reserved_months, 24);
    assert_eq!(harness.count("contributions").await?, 41);

    let decision = harness
        .client
        .clone()
        .get_decision(GetDecisionRequest {
            decision_id: decision_id.clone(),
        })
        .await?
        .into_inner()
        .decision
        .expect("a decision");
    let kinds: Vec<_> = decision
        .history
        .iter()
        .map(|change| change.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            DecisionChangeKind::Activated,
            DecisionChangeKind::Terminated
        ]
    );
    let statuses: Vec<_> = decision
        .months_status
        .iter()
        .map(|month| month.status())
        .collect();
    assert_eq!(
        statuses,
        [
            MonthStatus::Pending,
            MonthStatus::Cancelled,
            MonthStatus::Cancelled
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_late_record_from_the_old_employer_does_not_terminate() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;

    harness
        .publish(
            topics::CONTRIBUTIONS,
            "0101234567",
            &ContributionRecord {
                employer_id: "EMP-OLD".into(),
                ..new_job_record()
            },
        )
        .await?;

    let stored = eventually(WAIT, || async {
        Ok(harness.count("contributions").await? == 41)
    })
    .await?;
    assert!(stored);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = harness.decision_events(1).await?;
    assert_eq!(events.len(), 1, "only the activation");
    assert!(state_becomes(&harness, &decision_id, DecisionState::Active).await?);
    Ok(())
}

#[tokio::test]
async fn three_consecutive_missed_months_terminate_the_decision() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;

    for month in 1..=3 {
        harness
            .publish(
                topics::CHECKIN_SCANS,
                &decision_id,
                &missed(&decision_id, month),
            )
            .await?;
    }

    assert!(state_becomes(&harness, &decision_id, DecisionState::Terminated).await?);
    let events = harness.decision_events(5).await?;
    let changes: Vec<_> = events
        .iter()
        .map(|(_, event)| match &event.change {
            Some(Change::Activated(_)) => "activated".to_owned(),
            Some(Change::MonthSuspended(suspended)) => format!(
                "suspended {} ({} in a row)",
                suspended.benefit_month, suspended.consecutive_missed
            ),
            Some(Change::Terminated(terminated)) => {
                format!("terminated {:?}", terminated.reason())
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        changes,
        [
            "activated",
            "suspended 1 (1 in a row)",
            "suspended 2 (2 in a row)",
            "suspended 3 (3 in a row)",
            "terminated MissedCheckins",
        ]
    );
    let versions: Vec<u64> = events
        .iter()
        .map(|(_, event)| event.decision_version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    Ok(())
}

#[tokio::test]
async fn a_check_in_after_a_missed_month_resumes_the_decision() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;

    harness
        .publish(
            topics::CHECKIN_SCANS,
            &decision_id,
            &missed(&decision_id, 1),
        )
        .await?;
    assert!(state_becomes(&harness, &decision_id, DecisionState::Suspended).await?);
    harness
        .publish(
            topics::CHECKIN_SCANS,
            &decision_id,
            &recorded(&decision_id, 2),
        )
        .await?;
    // The same check-in delivered again changes nothing.
    harness
        .publish(
            topics::CHECKIN_SCANS,
            &decision_id,
            &recorded(&decision_id, 2),
        )
        .await?;

    assert!(state_becomes(&harness, &decision_id, DecisionState::Active).await?);
    let events = harness.decision_events(3).await?;
    assert_eq!(events.len(), 3);
    assert!(matches!(
        &events[2].1.change,
        Some(Change::Resumed(resumed)) if resumed.benefit_month == 2
    ));
    Ok(())
}

#[tokio::test]
async fn an_officer_terminating_on_request_reserves_the_unused_months() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;
    let mut client = harness.client.clone();

    let decision = client
        .terminate_decision(TerminateDecisionRequest {
            decision_id: decision_id.clone(),
            reason: TerminationReason::OwnRequest as i32,
            effective_date: date(2026, 4, 15),
            note: "written request of 14 April".into(),
            officer: support::registrar(),
        })
        .await?
        .into_inner()
        .decision
        .expect("a decision");

    assert_eq!(decision.state(), DecisionState::Terminated);
    let person_id = decision.person_id.clone();
    // Months 2 and 3 start after 15 April: 2 × 12 contribution months back, on top of the 4
    // months above those converted at approval.
    let reserve = client
        .get_reserved_months(GetReservedMonthsRequest {
            person_id: person_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(reserve.total_months, 28);
    assert_eq!(reserve.entries.len(), 2);
    let decisions = client
        .list_person_decisions(ListPersonDecisionsRequest { person_id })
        .await?
        .into_inner()
        .decisions;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].history.len(), 2);

    let again = client
        .terminate_decision(TerminateDecisionRequest {
            decision_id,
            reason: TerminationReason::OwnRequest as i32,
            effective_date: date(2026, 4, 15),
            note: String::new(),
            officer: support::registrar(),
        })
        .await
        .expect_err("a decision ends once");
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    Ok(())
}

#[tokio::test]
async fn a_bank_reporting_the_beneficiary_deceased_ends_the_benefit_once() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;
    let outcome = TransferOutcome {
        decision_id: decision_id.clone(),
        entitlement_id: "entitlement-1".into(),
        reason_code: "MD07".into(),
        benefit_month: 1,
        ..TransferOutcome::default()
    };

    harness
        .publish(topics::TRANSFER_OUTCOMES, "entitlement-1", &outcome)
        .await?;
    harness
        .publish(topics::TRANSFER_OUTCOMES, "entitlement-1", &outcome)
        .await?;

    assert!(state_becomes(&harness, &decision_id, DecisionState::Terminated).await?);
    let events = harness.decision_events(2).await?;
    assert_eq!(events.len(), 2);
    let Some(Change::Terminated(terminated)) = &events[1].1.change else {
        anyhow::bail!("expected a termination");
    };
    assert_eq!(terminated.reason(), TerminationReason::Death);
    assert_eq!(terminated.reserved_months, 0);
    assert_eq!(terminated.effective_date, date(2026, 3, 27));
    Ok(())
}

fn terminations(events: &[(String, contracts::eligibility::v1::DecisionEvent)]) -> usize {
    events
        .iter()
        .filter(|(_, event)| matches!(event.change, Some(Change::Terminated(_))))
        .count()
}

#[tokio::test]
async fn an_imported_record_from_a_new_employer_terminates_the_decision_once() -> anyhow::Result<()>
{
    let (mut harness, decision_id) = approved_decision().await?;
    let record = "0101234567,,EMP-NEW,2026-05,12000000,indefinite,1\n";

    let report = harness.import(record, 4096).await?;

    assert_eq!(report.rows_loaded, 1);
    let decision = harness
        .client
        .clone()
        .get_decision(GetDecisionRequest {
            decision_id: decision_id.clone(),
        })
        .await?
        .into_inner()
        .decision
        .expect("a decision");
    assert_eq!(
        decision.state(),
        DecisionState::Terminated,
        "the import itself ends the benefit"
    );
    // The same file imported again and the same record on the topic change nothing more.
    harness.import(record, 4096).await?;
    harness
        .publish(topics::CONTRIBUTIONS, "0101234567", &new_job_record())
        .await?;
    let events = harness.decision_events(2).await?;
    assert_eq!(events.len(), 2, "activated and terminated, nothing more");
    assert_eq!(terminations(&events), 1);
    let Some(Change::Terminated(terminated)) = &events[1].1.change else {
        anyhow::bail!("expected a termination");
    };
    assert_eq!(terminated.reason(), TerminationReason::FoundJob);
    assert_eq!(terminated.effective_date, date(2026, 5, 1));
    Ok(())
}

#[tokio::test]
async fn a_new_job_stored_before_approval_terminates_the_decision_at_approval() -> anyhow::Result<()>
{
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let claim = harness.example_1_claim().await?;
    // May is after the claim's ten working days: the job does not bar the claim, it ends the
    // benefit. The record arrives while the claim awaits approval, when no decision is live.
    harness
        .publish(topics::CONTRIBUTIONS, "0101234567", &new_job_record())
        .await?;
    let stored = eventually(WAIT, || async {
        Ok(harness.count("contributions").await? == 41)
    })
    .await?;
    assert!(stored);
    harness.clock.set(morning_of(2026, 3, 27));

    let decision = harness
        .client
        .clone()
        .approve_claim(ApproveClaimRequest {
            claim_id: claim.claim_id.clone(),
            decision_number: String::new(),
            handover_date: None,
            officer: support::approver(),
        })
        .await?
        .into_inner()
        .decision
        .expect("a decision");

    assert_eq!(
        decision.state(),
        DecisionState::Terminated,
        "the approval itself applies the job already known"
    );
    let statuses: Vec<_> = decision
        .months_status
        .iter()
        .map(|month| month.status())
        .collect();
    assert_eq!(
        statuses,
        [
            MonthStatus::Pending,
            MonthStatus::Cancelled,
            MonthStatus::Cancelled
        ]
    );
    // The same record delivered again and imported again changes nothing more.
    harness
        .publish(topics::CONTRIBUTIONS, "0101234567", &new_job_record())
        .await?;
    harness
        .import("0101234567,,EMP-NEW,2026-05,12000000,indefinite,1\n", 4096)
        .await?;
    let events = harness.decision_events(2).await?;
    assert_eq!(events.len(), 2, "activated and terminated, nothing more");
    assert_eq!(terminations(&events), 1);
    let Some(Change::Terminated(terminated)) = &events[1].1.change else {
        anyhow::bail!("expected a termination");
    };
    assert_eq!(terminated.reason(), TerminationReason::FoundJob);
    assert_eq!(terminated.effective_date, date(2026, 5, 1));
    assert_eq!(terminated.reserved_months, 24);
    assert_eq!(events[1].1.decision_version, 2);
    Ok(())
}

#[tokio::test]
async fn a_decision_whose_last_month_has_passed_is_completed_once() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;
    let end = harness
        .client
        .clone()
        .get_decision(GetDecisionRequest {
            decision_id: decision_id.clone(),
        })
        .await?
        .into_inner()
        .decision
        .and_then(|decision| decision.end_date)
        .expect("an end date");
    let end_day = chrono::NaiveDate::from_ymd_opt(end.year, end.month as u32, end.day as u32)
        .expect("a real day");
    let (day_after, _) = end_day.succ_opt().map(|day| (day, ())).expect("a next day");
    // On the last day of the last month the benefit is still running.
    harness
        .clock
        .set(morning_of(end.year, end.month as u32, end.day as u32));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still_running = harness
        .client
        .clone()
        .get_decision(GetDecisionRequest {
            decision_id: decision_id.clone(),
        })
        .await?
        .into_inner()
        .decision
        .expect("a decision");
    assert_eq!(still_running.state(), DecisionState::Active);

    harness.clock.set(morning_of(
        chrono::Datelike::year(&day_after),
        chrono::Datelike::month(&day_after),
        chrono::Datelike::day(&day_after),
    ));

    assert!(state_becomes(&harness, &decision_id, DecisionState::Completed).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let decision = harness
        .client
        .clone()
        .get_decision(GetDecisionRequest {
            decision_id: decision_id.clone(),
        })
        .await?
        .into_inner()
        .decision
        .expect("a decision");
    assert_eq!(decision.end_date, Some(end));
    let kinds: Vec<_> = decision
        .history
        .iter()
        .map(|change| change.kind())
        .collect();
    assert_eq!(
        kinds,
        [DecisionChangeKind::Activated, DecisionChangeKind::Completed],
        "completed once, however many passes ran"
    );
    assert_eq!(decision.history[1].effective_date, Some(end));
    let events = harness.decision_events(2).await?;
    assert_eq!(events.len(), 2, "activated, then completed once");
    assert_eq!(events[1].1.decision_version, 2);
    assert!(
        matches!(&events[1].1.change, Some(Change::Completed(completed)) if completed.end_date == Some(end)),
        "{:?}",
        events[1].1.change
    );
    let metrics = testkit::scrape_metrics(harness.http).await?;
    assert!(
        metrics.contains("eligibility_decisions{state=\"completed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("eligibility_decisions{state=\"active\"} 0"),
        "{metrics}"
    );
    // A completed decision is not live: a late miss changes nothing.
    harness
        .publish(
            topics::CHECKIN_SCANS,
            &decision_id,
            &missed(&decision_id, 3),
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(state_becomes(&harness, &decision_id, DecisionState::Completed).await?);
    Ok(())
}

#[tokio::test]
async fn a_terminated_decision_is_not_completed_when_its_period_passes() -> anyhow::Result<()> {
    let (harness, decision_id) = approved_decision().await?;
    harness
        .client
        .clone()
        .terminate_decision(TerminateDecisionRequest {
            decision_id: decision_id.clone(),
            reason: TerminationReason::Death as i32,
            effective_date: date(2026, 4, 15),
            note: String::new(),
            officer: support::registrar(),
        })
        .await?;

    harness.clock.set(morning_of(2026, 7, 15));
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    assert!(state_becomes(&harness, &decision_id, DecisionState::Terminated).await?);
    let mut conn = harness.database.admin_connection().await?;
    let completions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM eligibility.decision_history WHERE kind = 'completed'",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(completions, 0);
    Ok(())
}
