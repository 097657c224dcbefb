//! Check-ins become entitlements: once per decision and benefit month, after the decision
//! arrives, and never for a month after a termination.

mod support;

use chrono::{TimeZone, Utc};
use contracts::checkin::v1::checkin_event;
use support::{account, activated, checked_in, start, terminated};

#[tokio::test]
async fn a_checkin_delivered_twice_creates_one_entitlement() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-1", "p-1", account("0011001000001")))
        .await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.decisions", 1)
        .await?;

    // The same check-in published twice, as a retrying producer would, under two event ids.
    payroll.check_in(&checked_in("d-1", 1)).await?;
    payroll.check_in(&checked_in("d-1", 1)).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.inbox WHERE topic LIKE '%checkin.scans.v1'",
            2,
        )
        .await?;

    let entitlements = payroll
        .count("SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-1'")
        .await?;
    assert_eq!(entitlements, 1);
    payroll.stop().await
}

#[tokio::test]
async fn a_checkin_before_its_decision_is_paid_once_the_decision_arrives() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll.check_in(&checked_in("d-early", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.waiting_checkins", 1)
        .await?;
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.entitlements")
            .await?,
        0
    );

    payroll
        .decide(&activated("d-early", "p-early", account("0011001000002")))
        .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-early' \
             AND benefit_month = 1 AND amount_dong = 6000000",
            1,
        )
        .await?;
    payroll.pass_cut_interval();

    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let lines: Vec<_> = chunks
        .iter()
        .flat_map(|(_, chunk)| chunk.lines.clone())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].decision_id, "d-early");
    assert_eq!(lines[0].amount_dong, 6_000_000);
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.waiting_checkins")
            .await?,
        0
    );
    payroll.stop().await
}

#[tokio::test]
async fn no_entitlement_is_created_for_a_month_after_the_termination() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-t", "p-t", account("0011001000003")))
        .await?;
    // Month 2 starts on 16 April, month 3 on 16 May: ending on 20 April keeps month 2 only.
    payroll.decide(&terminated("d-t", 2, (2026, 4, 20))).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.decisions WHERE termination_effective = '2026-04-20'",
            1,
        )
        .await?;

    payroll.check_in(&checked_in("d-t", 3)).await?;
    payroll.check_in(&checked_in("d-t", 2)).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-t' AND benefit_month = 2",
            1,
        )
        .await?;

    // Both check-ins share a partition, so month 3 was handled before month 2.
    let month_three = payroll
        .count("SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-t' AND benefit_month = 3")
        .await?;
    assert_eq!(month_three, 0);
    payroll.stop().await
}

#[tokio::test]
async fn a_termination_cancels_an_unpaid_later_month_with_its_reason() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-c", "p-c", account("0011001000004")))
        .await?;
    payroll.check_in(&checked_in("d-c", 2)).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'pending'",
            1,
        )
        .await?;

    payroll.decide(&terminated("d-c", 2, (2026, 4, 1))).await?;

    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'cancelled' \
             AND termination_reason = 1 AND decision_note LIKE 'terminated from 2026-04-01%'",
            1,
        )
        .await?;
    payroll.pass_cut_interval();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        payroll
            .published_chunks(1, std::time::Duration::from_secs(2))
            .await?
            .is_empty()
    );
    payroll.stop().await
}

#[tokio::test]
async fn a_checkin_handled_after_the_month_end_is_filed_under_the_month_it_was_scanned()
-> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-lag", "p-lag", account("0011001000005")))
        .await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.decisions", 1)
        .await?;
    // Scanned at 22:30 on 30 April in Hà Nội; the consumer only gets to it at 08:00 on 1 May.
    let scanned = Utc.with_ymd_and_hms(2026, 4, 30, 15, 30, 0).unwrap();
    payroll
        .clock
        .set(Utc.with_ymd_and_hms(2026, 5, 1, 1, 0, 0).unwrap());
    let mut checkin = checked_in("d-lag", 2);
    if let Some(checkin_event::Kind::Recorded(recorded)) = checkin.kind.as_mut() {
        recorded.scanned_at = Some(prost_types::Timestamp {
            seconds: scanned.timestamp(),
            nanos: 0,
        });
    }

    payroll.check_in(&checkin).await?;

    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-lag' \
             AND benefit_month = 2",
            1,
        )
        .await?;
    assert_eq!(
        payroll
            .count(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-lag' \
                 AND earned_month = '2026-04-01'"
            )
            .await?,
        1
    );
    payroll.stop().await
}
