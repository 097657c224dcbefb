//! Decision events as checkin consumes them: each effect happens once however often an event
//! arrives, and an older version never undoes a newer one.

mod support;

use contracts::checkin::v1::ScanOutcome;
use contracts::eligibility::v1::{DecisionEvent, DecisionResumed, MonthSuspended, decision_event};
use support::{Harness, activation, morning_of};

#[tokio::test]
async fn a_redelivered_activation_keeps_the_first_notice() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let first = harness.activate("decision-1").await?;
    let notice_id = harness.notice_id("decision-1").await?;

    // The same activation again, under a new event id, as a re-publishing producer would send.
    harness.publish_decision(&activation("decision-1")).await?;
    harness.activate("decision-2").await?;

    assert_eq!(harness.notice_token("decision-1").await?, Some(first));
    assert_eq!(harness.notice_id("decision-1").await?, notice_id);
    let mut conn = harness.admin().await?;
    let windows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM checkin.windows WHERE decision_id = 'decision-1'")
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(windows, 3);
    harness.stop().await
}

#[tokio::test]
async fn an_older_version_arriving_late_changes_nothing() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    let change = |version, change| DecisionEvent {
        decision_id: "decision-1".into(),
        decision_version: version,
        change: Some(change),
        ..DecisionEvent::default()
    };
    harness
        .publish_decision(&change(
            3,
            decision_event::Change::Resumed(DecisionResumed { benefit_month: 1 }),
        ))
        .await?;

    harness
        .publish_decision(&change(
            2,
            decision_event::Change::MonthSuspended(MonthSuspended {
                benefit_month: 1,
                consecutive_missed: 1,
            }),
        ))
        .await?;
    // One partition: once decision-2 is in, both changes before it were handled.
    harness.activate("decision-2").await?;

    let answer = harness.scan(&credential, &token).await?;
    assert_eq!(answer.outcome(), ScanOutcome::Accepted);
    harness.stop().await
}

#[tokio::test]
async fn an_activation_with_windows_out_of_order_is_dead_lettered_and_issues_no_notice()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let mut broken = activation("decision-1");
    if let Some(decision_event::Change::Activated(activated)) = &mut broken.change {
        activated.checkin_windows.swap(0, 1);
    }

    harness.publish_decision(&broken).await?;
    harness.activate("decision-2").await?;

    let dead = testkit::read_topic(
        &harness
            .topics
            .name(&messaging::dead_letter_topic(contracts::topics::DECISIONS)),
        1,
        std::time::Duration::from_secs(10),
    )
    .await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(testkit::key_of(&dead[0]).as_deref(), Some("decision-1"));
    assert_eq!(harness.notice_token("decision-1").await?, None);
    harness.stop().await
}
