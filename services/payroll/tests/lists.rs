//! Pending entitlements are cut into signed lists with control totals, published once in
//! chunks; anomalies are held for an officer, who releases or cancels them.

mod support;

use std::time::Duration;

use contracts::{
    common::v1::YearMonth,
    payroll::v1::{
        ApprovalAction, CancelHeldLineRequest, DebtState, GetMonthlyStatisticsRequest,
        GetPaymentListRequest, HoldReason, ListDebtsRequest, ListHeldLinesRequest,
        ReleaseHeldLineRequest,
    },
    topics,
    transfer::v1::{TransferOutcome, TransferStatus},
};
use support::{
    account, activated, by_list, checked_in, destination_changed, officer, record, start,
    start_with, verify_list,
};

#[tokio::test]
async fn a_cut_list_adds_up_verifies_and_fails_verification_when_tampered() -> anyhow::Result<()> {
    // A small chunk limit, so twelve lines travel in several chunks.
    let payroll = start_with(|config| config.lists.max_chunk_bytes = 5_000).await?;
    for n in 0..12 {
        let decision = format!("d-{n}");
        payroll
            .decide(&activated(
                &decision,
                &format!("p-{n}"),
                account(&format!("00110020000{n:02}")),
            ))
            .await?;
        payroll.check_in(&checked_in(&decision, 1)).await?;
    }
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 12)
        .await?;

    payroll.pass_cut_interval();
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'listed'",
            12,
        )
        .await?;
    let chunk_count: i32 = {
        let mut db = payroll.db().await?;
        sqlx::query_scalar("SELECT chunk_count FROM payroll.payment_lists")
            .fetch_one(&mut db)
            .await?
    };
    let chunks = payroll
        .published_chunks(chunk_count as usize + 1, Duration::from_secs(5))
        .await?;

    assert!(chunk_count > 1, "twelve lines need several 5 KB chunks");
    let lists = by_list(chunks.clone());
    assert_eq!(lists.len(), 1, "one list for one province");
    assert!(chunks.iter().all(|(key, chunk)| *key == chunk.list_id));
    let list = lists.values().next().unwrap();
    assert_eq!(
        list.len(),
        chunk_count as usize,
        "each chunk published exactly once"
    );
    let totals = list[0].totals.unwrap();
    assert_eq!(totals.line_count, 12);
    assert_eq!(totals.sum_dong, 12 * 6_000_000);
    verify_list(list, &payroll.trusted_keys())?;

    let mut tampered = list.clone();
    tampered[1].lines[0]
        .bank_destination
        .as_mut()
        .unwrap()
        .number = "0099999999999".into();
    assert!(verify_list(&tampered, &payroll.trusted_keys()).is_err());
    let mut missing = list.clone();
    missing.pop();
    assert!(verify_list(&missing, &payroll.trusted_keys()).is_err());
    payroll.stop().await
}

#[tokio::test]
async fn an_account_shared_by_two_people_is_held_and_released_by_an_officer() -> anyhow::Result<()>
{
    let payroll = start().await?;
    let shared = account("0011003000001");
    payroll
        .decide(&activated("d-a", "p-a", account("0011003000099")))
        .await?;
    // A's account is switched to the shared one by officer "maker".
    payroll
        .decide(&destination_changed(
            "d-a",
            2,
            shared.clone(),
            "maker",
            "checker",
        ))
        .await?;
    payroll
        .decide(&activated("d-b", "p-b", shared.clone()))
        .await?;
    payroll.check_in(&checked_in("d-a", 1)).await?;
    payroll.check_in(&checked_in("d-b", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 2)
        .await?;

    payroll.pass_cut_interval();
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'held'",
            2,
        )
        .await?;

    let mut client = payroll.client().await?;
    let held = client
        .list_held_lines(ListHeldLinesRequest {
            reason: HoldReason::SharedDestination as i32,
            ..Default::default()
        })
        .await?
        .into_inner()
        .lines;
    assert_eq!(held.len(), 2);
    assert!(
        held.iter()
            .all(|line| line.explanation.contains("2 people"))
    );
    assert_eq!(
        held[0].bank_destination.as_ref().unwrap().number,
        "*********0001",
        "officers see only the last 4 digits"
    );
    let line_of = |decision: &str| {
        held.iter()
            .find(|line| line.decision_id == decision)
            .unwrap()
            .entitlement_id
            .clone()
    };

    // Maker-checker: the officer who changed A's account cannot release its payment.
    let refused = client
        .release_held_line(ReleaseHeldLineRequest {
            entitlement_id: line_of("d-a"),
            reason: "checked with the bank".into(),
            officer: Some(officer("maker")),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    // The list the reviewer approves is signed with the reviewer's own key.
    let reviewer_key = payroll.register_officer_key("reviewer").await?;
    let released = client
        .release_held_line(ReleaseHeldLineRequest {
            entitlement_id: line_of("d-a"),
            reason: "spouses sharing one account, verified".into(),
            officer: Some(officer("reviewer")),
        })
        .await?
        .into_inner();
    client
        .cancel_held_line(CancelHeldLineRequest {
            entitlement_id: line_of("d-b"),
            reason: "account does not belong to the beneficiary".into(),
            officer: Some(officer("reviewer")),
        })
        .await?;

    let list = client
        .get_payment_list(GetPaymentListRequest {
            list_id: released.list_id.clone(),
            page_size: 10,
            page_token: String::new(),
            officer: Some(officer("auditor")),
        })
        .await?
        .into_inner();
    assert_eq!(list.lines.len(), 1);
    assert_eq!(list.lines[0].decision_id, "d-a");
    assert_eq!(list.totals.unwrap().sum_dong, 6_000_000);
    let officer_step = list
        .approval_trail
        .iter()
        .find(|step| step.action == ApprovalAction::ApprovedByOfficer as i32)
        .unwrap();
    assert_eq!(
        officer_step.officer.as_ref().unwrap().officer_id,
        "reviewer"
    );

    let signature = list.signature.unwrap();
    assert_eq!(signature.key_id, reviewer_key.key_id);
    assert!(signature.key_id.starts_with("officer-reviewer-"));
    assert_eq!(signature.signed_by.unwrap().officer_id, "reviewer");

    let chunks = payroll.published_chunks(2, Duration::from_secs(5)).await?;
    let lists = by_list(chunks);
    assert_eq!(lists.len(), 1);
    let published = &lists[&released.list_id];
    let carried = published[0].signature.clone().unwrap();
    assert_eq!(carried.key_id, reviewer_key.key_id);
    assert_eq!(carried.signed_by.unwrap().officer_id, "reviewer");
    verify_list(published, &payroll.listed_keys().await?)?;
    assert!(
        verify_list(published, &payroll.trusted_keys()).is_err(),
        "the policy key did not sign an officer's approval"
    );
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.entitlements WHERE state = 'cancelled' AND decided_by = 'reviewer'")
            .await?,
        1
    );
    payroll.stop().await
}

#[tokio::test]
async fn transfer_outcomes_mark_entitlements_paid_or_parked() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-p", "p-p", account("0011004000001")))
        .await?;
    payroll
        .decide(&activated("d-q", "p-q", account("0011004000002")))
        .await?;
    payroll.check_in(&checked_in("d-p", 1)).await?;
    payroll.check_in(&checked_in("d-q", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 2)
        .await?;
    payroll.pass_cut_interval();
    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let lines: Vec<_> = chunks
        .iter()
        .flat_map(|(_, chunk)| chunk.lines.clone())
        .collect();
    assert_eq!(lines.len(), 2);

    for (line, status) in lines
        .iter()
        .zip([TransferStatus::Paid, TransferStatus::Parked])
    {
        let outcome = TransferOutcome {
            entitlement_id: line.entitlement_id.clone(),
            status: status as i32,
            decision_id: line.decision_id.clone(),
            benefit_month: 1,
            amount_dong: line.amount_dong,
            attempt: 1,
            ..Default::default()
        };
        payroll
            .send(topics::TRANSFER_OUTCOMES, &line.entitlement_id, &outcome)
            .await?;
    }

    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'paid'",
            1,
        )
        .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'parked'",
            1,
        )
        .await?;

    let march = YearMonth {
        year: 2026,
        month: 3,
    };
    let rows = payroll
        .client()
        .await?
        .get_monthly_statistics(GetMonthlyStatisticsRequest {
            province: String::new(),
            from_month: Some(march),
            to_month: Some(march),
        })
        .await?
        .into_inner()
        .rows;
    assert_eq!(rows.len(), 1);
    let march = &rows[0];
    assert_eq!(march.province, support::PROVINCE);
    assert_eq!(march.beneficiaries_checked_in, 2);
    assert_eq!(march.entitlements, 2);
    assert_eq!(march.lists, 1);
    assert_eq!(march.approved_dong, 12_000_000);
    assert_eq!(march.paid_dong, 6_000_000);
    assert_eq!(march.paid_to_accounts, 1);
    assert_eq!(march.paid_to_cards, 0);
    assert_eq!(march.failed_transfers, 1);
    assert_eq!(march.median_scan_to_instruction.unwrap().seconds, 2);

    let mut export = payroll
        .client()
        .await?
        .export_monthly_statistics(GetMonthlyStatisticsRequest {
            province: support::PROVINCE.into(),
            from_month: Some(YearMonth {
                year: 2026,
                month: 3,
            }),
            to_month: Some(YearMonth {
                year: 2026,
                month: 3,
            }),
        })
        .await?
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = export.message().await? {
        csv.extend(chunk.data);
    }
    let csv = String::from_utf8(csv)?;
    assert_eq!(
        csv.lines().nth(1),
        Some("91,2026-03,2,2,1,12000000,6000000,0,0,1,6000000,0,0,1,0,2.000,0.0")
    );
    payroll.stop().await
}

#[tokio::test]
async fn a_paid_month_cancelled_by_a_later_termination_becomes_a_debt() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-debt", "p-debt", account("0011005000001")))
        .await?;
    payroll.check_in(&checked_in("d-debt", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 1)
        .await?;
    payroll.pass_cut_interval();
    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let line = chunks[0].1.lines[0].clone();
    let paid = TransferOutcome {
        entitlement_id: line.entitlement_id.clone(),
        status: TransferStatus::Paid as i32,
        ..Default::default()
    };
    payroll
        .send(topics::TRANSFER_OUTCOMES, &line.entitlement_id, &paid)
        .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'paid'",
            1,
        )
        .await?;

    // The job started before the first benefit month: that month should never have been paid.
    payroll
        .decide(&support::terminated("d-debt", 2, (2026, 3, 10)))
        .await?;

    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.debts WHERE decision_id = 'd-debt' \
             AND benefit_month = 1 AND amount_dong = 6000000 AND state = 'open'",
            1,
        )
        .await?;
    let debts = payroll
        .client()
        .await?
        .list_debts(ListDebtsRequest {
            decision_id: "d-debt".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .debts;
    assert_eq!(debts.len(), 1);
    assert_eq!(debts[0].entitlement_id, line.entitlement_id);
    assert_eq!(debts[0].state, DebtState::Open as i32);
    payroll.stop().await
}

#[tokio::test]
async fn a_termination_between_checkin_and_cut_holds_the_line() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-late", "p-late", account("0011006000001")))
        .await?;
    payroll.check_in(&checked_in("d-late", 2)).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'pending'",
            1,
        )
        .await?;
    // Month 2 starts on 16 April; ending on 20 April still pays it, but an officer looks first.
    payroll
        .decide(&support::terminated("d-late", 2, (2026, 4, 20)))
        .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.decisions WHERE termination_effective IS NOT NULL",
            1,
        )
        .await?;

    payroll.pass_cut_interval();

    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'held' AND hold_reasons = '{4}'",
            1,
        )
        .await?;
    assert!(
        payroll
            .published_chunks(1, Duration::from_secs(2))
            .await?
            .is_empty()
    );
    payroll.stop().await
}

#[tokio::test]
async fn a_daily_schedule_cuts_only_at_its_hour() -> anyhow::Result<()> {
    let payroll = start_with(|config| config.lists.daily_cut_at = "16:00".into()).await?;
    payroll
        .decide(&activated("d-day", "p-day", account("0011007000001")))
        .await?;
    payroll.check_in(&checked_in("d-day", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 1)
        .await?;

    // 09:00 in Hà Nội: the interval would have cut by now, the daily schedule waits.
    payroll.pass_cut_interval();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.payment_lists")
            .await?,
        0
    );

    // 16:00 in Hà Nội.
    payroll.clock.advance(chrono::Duration::hours(7));
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'listed'",
            1,
        )
        .await?;
    payroll.stop().await
}

#[tokio::test]
async fn a_payment_list_read_over_grpc_shows_only_the_last_four_digits_of_each_number()
-> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-m", "p-m", account("0011005004321")))
        .await?;
    payroll.check_in(&checked_in("d-m", 1)).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-m'",
            1,
        )
        .await?;
    payroll.pass_cut_interval();
    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let list_id = chunks[0].1.list_id.clone();
    // The published list itself carries the full number: the bank needs it.
    assert_eq!(
        chunks[0].1.lines[0]
            .bank_destination
            .as_ref()
            .unwrap()
            .number,
        "0011005004321"
    );

    let list = payroll
        .client()
        .await?
        .get_payment_list(GetPaymentListRequest {
            list_id,
            page_size: 10,
            page_token: String::new(),
            officer: Some(officer("auditor")),
        })
        .await?
        .into_inner();

    let destination = list.lines[0].bank_destination.as_ref().unwrap();
    assert_eq!(destination.number, "*********4321");
    payroll.stop().await
}

#[tokio::test]
async fn a_batch_of_outcomes_applies_each_in_order_and_never_undoes_a_credit() -> anyhow::Result<()>
{
    // Arrange: three entitlements listed.
    let payroll = start().await?;
    for n in 1..=3 {
        let decision = format!("d-o{n}");
        payroll
            .decide(&activated(
                &decision,
                &format!("p-o{n}"),
                account(&format!("001100600000{n}")),
            ))
            .await?;
        payroll.check_in(&checked_in(&decision, 1)).await?;
    }
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 3)
        .await?;
    payroll.pass_cut_interval();
    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let mut lines: Vec<_> = chunks
        .iter()
        .flat_map(|(_, chunk)| chunk.lines.clone())
        .collect();
    lines.sort_by(|a, b| a.decision_id.cmp(&b.decision_id));
    assert_eq!(lines.len(), 3);
    let outcome = |index: usize, status: TransferStatus| {
        let line = &lines[index];
        let outcome = TransferOutcome {
            entitlement_id: line.entitlement_id.clone(),
            status: status as i32,
            decision_id: line.decision_id.clone(),
            benefit_month: 1,
            amount_dong: line.amount_dong,
            attempt: 1,
            ..Default::default()
        };
        record(topics::TRANSFER_OUTCOMES, &line.entitlement_id, &outcome)
    };

    // Act: parked then paid; paid then a late failure (and the credit redelivered); in flight
    // then failed.
    let credit = outcome(1, TransferStatus::Paid);
    let backlog = [
        outcome(0, TransferStatus::Parked),
        credit.clone(),
        outcome(0, TransferStatus::Paid),
        outcome(2, TransferStatus::InFlight),
        outcome(1, TransferStatus::Failed),
        credit,
        outcome(2, TransferStatus::Failed),
    ];
    let payroll = payroll.restart_after(&backlog).await?;
    payroll
        .wait_for_count(
            &format!(
                "SELECT count(*) FROM payroll.inbox WHERE topic = '{}'",
                topics::TRANSFER_OUTCOMES
            ),
            6,
        )
        .await?;

    // Assert
    assert_eq!(
        payroll.transactions_for(topics::TRANSFER_OUTCOMES).await?,
        1
    );
    let state = |decision: &str, state: &str, failed: i32| {
        format!(
            "SELECT count(*) FROM payroll.entitlements WHERE decision_id = '{decision}' \
             AND state = '{state}' AND failed_attempts = {failed}"
        )
    };
    assert_eq!(payroll.count(&state("d-o1", "paid", 1)).await?, 1);
    assert_eq!(
        payroll.count(&state("d-o2", "paid", 0)).await?,
        1,
        "a late failure does not undo a credit"
    );
    assert_eq!(payroll.count(&state("d-o3", "failed", 1)).await?, 1);
    payroll.stop().await
}
