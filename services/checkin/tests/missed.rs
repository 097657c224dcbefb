//! Missed and excused check-ins: a window that closes without a check-in is published as
//! missed exactly once, across restarts; an excused month counts as a check-in.

mod support;

use std::time::Duration;

use contracts::checkin::v1::{
    CheckinEvent, ExcuseReason, ListMissedCheckinsRequest, RecordExcusedCheckinRequest,
    ScanOutcome, checkin_event,
};
use support::{Harness, morning_of, officer};
use tonic::Code;

fn missed_months(events: &[CheckinEvent]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter(|event| matches!(event.kind, Some(checkin_event::Kind::Missed(_))))
        .map(|event| (event.decision_id.clone(), event.benefit_month))
        .collect()
}

#[tokio::test]
async fn a_window_closed_without_a_scan_publishes_one_missed_check_in_also_after_a_restart()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    harness.activate("decision-2").await?;
    // decision-2 checks in for month 1; decision-1 does not.
    let token_2 = harness
        .notice_token("decision-2")
        .await?
        .unwrap_or_default();
    assert_eq!(
        harness.scan(&credential, &token_2).await?.outcome(),
        ScanOutcome::Accepted
    );

    harness.clock.set(morning_of(2026, 3, 19));
    let events = harness.checkin_events(3).await?;

    assert_eq!(missed_months(&events), vec![("decision-1".to_owned(), 1)]);
    let Some(checkin_event::Kind::Missed(missed)) = &events
        .iter()
        .find(|event| matches!(event.kind, Some(checkin_event::Kind::Missed(_))))
        .and_then(|event| event.kind.clone())
    else {
        anyhow::bail!("no missed event");
    };
    assert_eq!(
        missed.window.as_ref().map(|window| window.benefit_month),
        Some(1)
    );
    let late = harness.scan(&credential, &token).await?;
    assert_eq!(late.outcome(), ScanOutcome::OutsideWindow);
    let listed = harness
        .client
        .clone()
        .list_missed_checkins(ListMissedCheckinsRequest {
            province: "91".into(),
            ..ListMissedCheckinsRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(listed.missed.len(), 1);
    assert_eq!(listed.missed[0].decision_id, "decision-1");
    assert_eq!(listed.missed[0].beneficiary_name, "Nguyễn Thị Lan");
    assert_eq!(
        listed.missed[0].window.as_ref().map(|w| w.benefit_month),
        Some(1)
    );
    assert!(listed.next_page_token.is_empty());
    let elsewhere = harness
        .client
        .clone()
        .list_missed_checkins(ListMissedCheckinsRequest {
            centre_id: "centre-elsewhere".into(),
            ..ListMissedCheckinsRequest::default()
        })
        .await?
        .into_inner();
    assert!(elsewhere.missed.is_empty());

    harness.restart().await?;
    harness.clock.set(morning_of(2026, 4, 21));

    let events = harness.checkin_events(5).await?;
    let mut missed = missed_months(&events);
    missed.sort();
    assert_eq!(
        missed,
        vec![
            ("decision-1".to_owned(), 1),
            ("decision-1".to_owned(), 2),
            ("decision-2".to_owned(), 2),
        ]
    );
    harness.stop().await
}

#[tokio::test]
async fn missed_check_ins_are_listed_latest_first_a_page_at_a_time() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    for decision in ["decision-a", "decision-b", "decision-c"] {
        harness.activate(decision).await?;
    }
    harness.clock.set(morning_of(2026, 3, 19));
    let settled = testkit::eventually(Duration::from_secs(10), || async {
        let mut conn = harness.admin().await?;
        let missed: i64 = sqlx::query_scalar("SELECT count(*) FROM checkin.missed_checkins")
            .fetch_one(&mut conn)
            .await?;
        Ok(missed == 3)
    })
    .await?;
    assert!(settled, "three months missed");
    let page = |token: String| ListMissedCheckinsRequest {
        page_size: 2,
        page_token: token,
        ..ListMissedCheckinsRequest::default()
    };

    let first = harness
        .client
        .clone()
        .list_missed_checkins(page(String::new()))
        .await?
        .into_inner();
    let second = harness
        .client
        .clone()
        .list_missed_checkins(page(first.next_page_token.clone()))
        .await?
        .into_inner();

    let ids = |page: &contracts::checkin::v1::ListMissedCheckinsResponse| {
        page.missed
            .iter()
            .map(|missed| missed.decision_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), vec!["decision-c", "decision-b"]);
    assert!(!first.next_page_token.is_empty());
    assert_eq!(ids(&second), vec!["decision-a"]);
    assert!(second.next_page_token.is_empty());
    harness.stop().await
}

#[tokio::test]
async fn an_excused_check_in_counts_and_is_published_marked_excused() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 17)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    let request = RecordExcusedCheckinRequest {
        decision_id: "decision-1".into(),
        benefit_month: 1,
        reason: ExcuseReason::Illness as i32,
        document_reference: "GCN-2026-0042".into(),
        note: "nằm viện".into(),
        officer: Some(officer()),
    };

    let excused = harness
        .client
        .clone()
        .record_excused_checkin(request.clone())
        .await?
        .into_inner();
    let scan = harness.scan(&credential, &token).await?;
    harness.clock.set(morning_of(2026, 3, 20));
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(excused.outcome(), ScanOutcome::Accepted);
    assert_eq!(scan.outcome(), ScanOutcome::AlreadyRecorded);
    let events = harness.checkin_events(2).await?;
    assert_eq!(events.len(), 1, "one recorded, no missed: {events:?}");
    let Some(checkin_event::Kind::Recorded(recorded)) = &events[0].kind else {
        anyhow::bail!("expected a recorded check-in");
    };
    assert!(recorded.excused);
    assert_eq!(recorded.excuse_reason(), ExcuseReason::Illness);
    assert_eq!(recorded.document_reference, "GCN-2026-0042");
    assert_eq!(
        recorded.excused_by.as_ref().map(|o| o.officer_id.as_str()),
        Some("officer-7")
    );
    assert!(recorded.kiosk_id.is_empty());
    harness.stop().await
}

#[tokio::test]
async fn an_excuse_without_a_reason_or_document_is_refused_and_changes_nothing()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 17)).await?;
    harness.activate("decision-1").await?;
    let valid = RecordExcusedCheckinRequest {
        decision_id: "decision-1".into(),
        benefit_month: 1,
        reason: ExcuseReason::Accident as i32,
        document_reference: "GCN-1".into(),
        note: String::new(),
        officer: Some(officer()),
    };

    let no_reason = harness
        .client
        .clone()
        .record_excused_checkin(RecordExcusedCheckinRequest {
            reason: ExcuseReason::Unspecified as i32,
            ..valid.clone()
        })
        .await;
    let no_document = harness
        .client
        .clone()
        .record_excused_checkin(RecordExcusedCheckinRequest {
            document_reference: " ".into(),
            ..valid.clone()
        })
        .await;

    assert_eq!(
        no_reason.err().map(|s| s.code()),
        Some(Code::InvalidArgument)
    );
    assert_eq!(
        no_document.err().map(|s| s.code()),
        Some(Code::InvalidArgument)
    );
    assert_eq!(harness.checkin_count().await?, 0);
    harness.stop().await
}
