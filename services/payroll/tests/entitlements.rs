//! Check-ins become entitlements: once per decision and benefit month, after the decision
//! arrives, and never for a month after a termination; the same whether the consumer takes
//! them one by one or many in one transaction.

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use contracts::{checkin::v1::checkin_event, topics};
use rdkafka::Message as _;
use support::{Record, account, activated, checked_in, checkin_record, start, terminated};

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

#[tokio::test]
async fn a_batch_holding_one_scan_several_times_and_redelivered_creates_one_entitlement()
-> anyhow::Result<()> {
    // Arrange: the decision is known and one check-in for month 1 already applied.
    let payroll = start().await?;
    payroll
        .decide(&activated("d-dup", "p-dup", account("0011001000011")))
        .await?;
    let first = checkin_record(&checked_in("d-dup", 1));
    payroll.publish(&first).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 1)
        .await?;

    // Act: a backlog holding that check-in redelivered (same event id), the same scan
    // published again under new event ids, one of them twice, and month 2 twice.
    let again = checkin_record(&checked_in("d-dup", 1));
    let month_two = checkin_record(&checked_in("d-dup", 2));
    let backlog = [
        first.clone(),
        again.clone(),
        checkin_record(&checked_in("d-dup", 1)),
        again,
        month_two.clone(),
        checkin_record(&checked_in("d-dup", 2)),
        month_two,
    ];
    let payroll = payroll.restart_after(&backlog).await?;
    payroll
        .wait_for_count(
            &format!(
                "SELECT count(*) FROM payroll.inbox WHERE topic = '{}'",
                topics::CHECKIN_SCANS
            ),
            5,
        )
        .await?;

    // Assert: one entitlement per month, and the backlog went through in one transaction.
    assert_eq!(
        payroll
            .count(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-dup' \
                 AND benefit_month = 1"
            )
            .await?,
        1
    );
    assert_eq!(
        payroll
            .count(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-dup' \
                 AND benefit_month = 2 AND state = 'pending' AND amount_dong = 6000000"
            )
            .await?,
        1
    );
    assert_eq!(payroll.transactions_for(topics::CHECKIN_SCANS).await?, 2);
    payroll.stop().await
}

#[tokio::test]
async fn a_batch_mixing_known_unknown_and_terminated_decisions_applies_each_rule()
-> anyhow::Result<()> {
    // Arrange: one decision known, one ended on 20 April (month 3 starts 16 May).
    let payroll = start().await?;
    payroll
        .decide(&activated("d-known", "p-known", account("0011001000012")))
        .await?;
    payroll
        .decide(&activated("d-ended", "p-ended", account("0011001000013")))
        .await?;
    payroll
        .decide(&terminated("d-ended", 2, (2026, 4, 20)))
        .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.decisions WHERE termination_effective IS NOT NULL",
            1,
        )
        .await?;

    // Act: check-ins for the known decision, one not yet known, and the ended one.
    let backlog: Vec<Record> = [
        checked_in("d-known", 1),
        checked_in("d-later", 1),
        checked_in("d-ended", 3),
        checked_in("d-known", 2),
        checked_in("d-later", 2),
        checked_in("d-ended", 2),
    ]
    .iter()
    .map(checkin_record)
    .collect();
    let payroll = payroll.restart_after(&backlog).await?;
    payroll
        .wait_for_count(
            &format!(
                "SELECT count(*) FROM payroll.inbox WHERE topic = '{}'",
                topics::CHECKIN_SCANS
            ),
            6,
        )
        .await?;

    // Assert: the known months earn, the unknown decision's months wait, the month after
    // the termination earns nothing; all in one transaction.
    assert_eq!(payroll.transactions_for(topics::CHECKIN_SCANS).await?, 1);
    let earned = |decision: &str| {
        format!("SELECT count(*) FROM payroll.entitlements WHERE decision_id = '{decision}'")
    };
    assert_eq!(payroll.count(&earned("d-known")).await?, 2);
    assert_eq!(payroll.count(&earned("d-later")).await?, 0);
    assert_eq!(
        payroll
            .count(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-ended' \
                 AND benefit_month = 2"
            )
            .await?,
        1,
        "the month before the termination is paid, the month after it is not"
    );
    assert_eq!(payroll.count(&earned("d-ended")).await?, 1);
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.waiting_checkins WHERE decision_id = 'd-later'")
            .await?,
        2
    );

    // The waiting check-ins earn once their decision arrives.
    payroll
        .decide(&activated("d-later", "p-later", account("0011001000014")))
        .await?;
    payroll.wait_for_count(&earned("d-later"), 2).await?;
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.waiting_checkins")
            .await?,
        0
    );
    payroll.stop().await
}

#[tokio::test]
async fn a_malformed_checkin_in_a_batch_is_dead_lettered_and_the_others_are_applied()
-> anyhow::Result<()> {
    // Arrange
    let payroll = start().await?;
    for n in 1..=3 {
        payroll
            .decide(&activated(
                &format!("d-m{n}"),
                &format!("p-m{n}"),
                account(&format!("00110010000{}", 20 + n)),
            ))
            .await?;
    }
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.decisions", 3)
        .await?;

    // Act: a backlog with a record that is not a check-in event in its middle.
    let malformed = Record {
        topic: topics::CHECKIN_SCANS,
        key: "d-m2".into(),
        payload: b"\xff\xff\xff not a check-in".to_vec(),
        event_id: uuid::Uuid::new_v4().to_string(),
    };
    let backlog = [
        checkin_record(&checked_in("d-m1", 1)),
        checkin_record(&checked_in("d-m2", 1)),
        malformed.clone(),
        checkin_record(&checked_in("d-m3", 1)),
    ];
    let payroll = payroll.restart_after(&backlog).await?;

    // Assert: every well-formed check-in earns; the malformed one is in the dead-letter topic,
    // with its payload, and recorded as dead-lettered.
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 3)
        .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.inbox WHERE outcome = 'dead_lettered'",
            1,
        )
        .await?;
    let dead = testkit::read_topic(
        &messaging::dead_letter_topic(&payroll.topics.name(topics::CHECKIN_SCANS)),
        2,
        Duration::from_secs(3),
    )
    .await?;
    assert_eq!(dead.len(), 1, "only the malformed record is dead-lettered");
    assert_eq!(dead[0].payload(), Some(malformed.payload.as_slice()));
    payroll.stop().await
}
