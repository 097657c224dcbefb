//! Kiosk scans against the running service: a notice issued from a decision event is scanned,
//! recorded once and published once; every bad scan is refused with its own reason.

mod support;

use chrono::Duration as Days;
use contracts::checkin::v1::{
    InvalidReason, RegisterKioskRequest, RevokeKioskRequest, ScanOutcome, WindowPosition,
    checkin_event,
};
use contracts::common::v1::{Date, TerminationReason};
use contracts::eligibility::v1::{
    DecisionEvent, DecisionTerminated, MonthSuspended, decision_event,
};
use support::{
    Harness, RETIRED_KEY_ID, RETIRED_SEED, SIGNING_KEY_ID, SIGNING_SEED, morning_of, officer,
    scan_with, signer, token,
};
use tonic::Code;
use uuid::Uuid;

#[tokio::test]
async fn a_valid_scan_is_recorded_once_and_published_once() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (kiosk_id, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;

    let answer = harness.scan(&credential, &token).await?;

    assert_eq!(answer.outcome(), ScanOutcome::Accepted);
    assert_eq!(answer.benefit_month, 1);
    // Month 1 starts Mon 16 Mar; 5 working days from Sun 22 Mar count from Mon 23: 23..27.
    assert_eq!(
        answer.payment_by,
        Some(Date {
            year: 2026,
            month: 3,
            day: 27
        })
    );
    assert!(
        answer.message_vi.contains("tháng thứ 1"),
        "{}",
        answer.message_vi
    );
    assert!(
        answer.message_en.contains("month 1"),
        "{}",
        answer.message_en
    );
    assert_eq!(harness.checkin_count().await?, 1);
    let events = harness.checkin_events(2).await?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].decision_id, "decision-1");
    assert_eq!(events[0].benefit_month, 1);
    let Some(checkin_event::Kind::Recorded(recorded)) = &events[0].kind else {
        anyhow::bail!("expected a recorded check-in: {:?}", events[0]);
    };
    assert_eq!(recorded.kiosk_id, kiosk_id);
    assert_eq!(recorded.centre_id, "centre-kg");
    assert_eq!(recorded.province, "91");
    assert!(!recorded.excused);
    harness.stop().await
}

#[tokio::test]
async fn a_repeat_scan_of_the_same_month_answers_already_recorded_and_publishes_nothing()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    let first = harness.scan(&credential, &token).await?;
    harness.clock.advance(Days::hours(2));

    let repeat = harness.scan(&credential, &token).await?;

    assert_eq!(repeat.outcome(), ScanOutcome::AlreadyRecorded);
    assert_eq!(repeat.benefit_month, 1);
    assert_eq!(repeat.payment_by, first.payment_by);
    assert_eq!(repeat.recorded_at, first.recorded_at);
    assert_eq!(harness.checkin_count().await?, 1);
    assert_eq!(harness.outbox_count().await?, 1);
    assert_eq!(harness.checkin_events(2).await?.len(), 1);
    harness.stop().await
}

#[tokio::test]
async fn concurrent_duplicate_scans_record_one_check_in_and_publish_one_event() -> anyhow::Result<()>
{
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;

    let scans = (0..8).map(|_| scan_with(harness.client.clone(), &credential, &token));
    let answers = futures::future::join_all(scans).await;

    let mut accepted = 0;
    for answer in answers {
        match answer?.outcome() {
            ScanOutcome::Accepted => accepted += 1,
            ScanOutcome::AlreadyRecorded => {}
            other => anyhow::bail!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(harness.checkin_count().await?, 1);
    assert_eq!(harness.checkin_events(2).await?.len(), 1);
    harness.stop().await
}

/// Signatures the service has verified, from its `/metrics`.
async fn signatures_verified(harness: &Harness) -> anyhow::Result<u64> {
    let metrics = testkit::scrape_metrics(harness.http).await?;
    let verified = testkit::metric_value(&metrics, "checkin_signatures_verified_total");
    // Counted in whole signatures; absent until the first one.
    Ok(verified.unwrap_or(0.0) as u64)
}

#[tokio::test]
async fn a_notice_scanned_as_issued_is_vouched_for_and_any_other_token_has_its_signature_verified()
-> anyhow::Result<()> {
    let now = morning_of(2026, 3, 16);
    let harness = Harness::start(now).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let issued = harness.activate("decision-1").await?;
    harness.activate("decision-2").await?;
    harness.activate("decision-3").await?;
    // decision-2's notice signed again with another expiry: genuine, but not the stored token.
    let current = signer(SIGNING_KEY_ID, &SIGNING_SEED)?;
    let notice_2 = harness.notice_id("decision-2").await?;
    let resigned = token(&current, notice_2, "decision-2", now + Days::days(300))?;
    // decision-3's stored token with its payload swapped for the re-signed one: the notice
    // id it names exists, its text is not the stored one, and its signature is not for it.
    let stored_3 = harness
        .notice_token("decision-3")
        .await?
        .unwrap_or_default();
    let mut tampered: Vec<&str> = stored_3.split('.').collect();
    tampered[1] = resigned.split('.').nth(1).unwrap_or_default();
    let tampered = tampered.join(".");
    assert_eq!(signatures_verified(&harness).await?, 0);

    // As a scanner may type it: in lower case, with spaces around.
    let as_issued = harness
        .scan(&credential, &format!("  {}\n", issued.to_lowercase()))
        .await?;
    assert_eq!(as_issued.outcome(), ScanOutcome::Accepted);
    assert_eq!(signatures_verified(&harness).await?, 0);

    let resigned = harness.scan(&credential, &resigned).await?;
    assert_eq!(resigned.outcome(), ScanOutcome::Accepted);
    assert_eq!(signatures_verified(&harness).await?, 1);

    let tampered = harness.scan(&credential, &tampered).await?;
    assert_eq!(tampered.outcome(), ScanOutcome::Invalid);
    assert_eq!(tampered.invalid_reason(), InvalidReason::BadSignature);
    assert_eq!(signatures_verified(&harness).await?, 2);
    assert_eq!(harness.checkin_count().await?, 2);
    harness.stop().await
}

#[tokio::test]
async fn each_kind_of_bad_code_is_refused_with_its_own_reason_and_nothing_is_recorded()
-> anyhow::Result<()> {
    let now = morning_of(2026, 3, 16);
    let harness = Harness::start(now).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let valid = harness.activate("decision-1").await?;
    harness.activate("decision-2").await?;
    let notice_1 = harness.notice_id("decision-1").await?;
    let current = signer(SIGNING_KEY_ID, &SIGNING_SEED)?;
    let later = now + Days::days(365);

    let mut forged_signature = valid.clone();
    let signature_start = forged_signature.rfind('.').unwrap() + 1;
    let first = &forged_signature[signature_start..signature_start + 1];
    let swapped = if first == "A" { "B" } else { "A" };
    forged_signature.replace_range(signature_start..signature_start + 1, swapped);
    let mut tampered_parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let other = token(&current, notice_1, "decision-9", later)?;
    tampered_parts[1] = other.split('.').nth(1).unwrap().to_owned();
    let tampered_payload = tampered_parts.join(".");

    let cases = [
        (
            "bad format",
            "not a notice".to_owned(),
            InvalidReason::BadFormat,
        ),
        (
            "forged signature",
            forged_signature,
            InvalidReason::BadSignature,
        ),
        (
            "tampered payload",
            tampered_payload,
            InvalidReason::BadSignature,
        ),
        (
            "unknown key",
            token(
                &signer("stranger", &[9; 32])?,
                notice_1,
                "decision-1",
                later,
            )?,
            InvalidReason::UnknownKey,
        ),
        (
            "retired key",
            token(
                &signer(RETIRED_KEY_ID, &RETIRED_SEED)?,
                notice_1,
                "decision-1",
                later,
            )?,
            InvalidReason::RetiredKey,
        ),
        (
            "expired",
            token(&current, notice_1, "decision-1", now - Days::seconds(1))?,
            InvalidReason::Expired,
        ),
        (
            "notice of another decision",
            token(&current, notice_1, "decision-2", later)?,
            InvalidReason::OtherDecision,
        ),
        (
            "notice never issued",
            token(&current, Uuid::new_v4(), "decision-1", later)?,
            InvalidReason::UnknownNotice,
        ),
    ];

    for (case, text, reason) in cases {
        let answer = harness.scan(&credential, &text).await?;
        assert_eq!(answer.outcome(), ScanOutcome::Invalid, "{case}");
        assert_eq!(answer.invalid_reason(), reason, "{case}");
        assert!(
            !answer.message_vi.is_empty() && !answer.message_en.is_empty(),
            "{case}"
        );
    }
    assert_eq!(harness.checkin_count().await?, 0);
    assert_eq!(harness.outbox_count().await?, 0);
    harness.stop().await
}

#[tokio::test]
async fn an_unknown_missing_or_revoked_kiosk_is_unauthenticated() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (kiosk_id, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;

    let unknown = harness.scan("NOT-A-KIOSK-CREDENTIAL", &token).await;
    let mut missing_request = tonic::Request::new(contracts::checkin::v1::ScanRequest {
        scanned_text: token.clone(),
        kiosk_id: String::new(),
    });
    missing_request
        .metadata_mut()
        .remove(checkin::KIOSK_CREDENTIAL_HEADER);
    let missing = harness.client.clone().scan(missing_request).await;
    harness
        .client
        .clone()
        .revoke_kiosk(RevokeKioskRequest {
            kiosk_id,
            reason: "stolen".into(),
            officer: Some(officer()),
        })
        .await?;
    let revoked = harness.scan(&credential, &token).await;

    assert_eq!(
        unknown.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        missing.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        revoked.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );
    assert_eq!(harness.checkin_count().await?, 0);
    harness.stop().await
}

#[tokio::test]
async fn a_scan_outside_the_window_is_refused_with_the_window_dates() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 10)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;

    let early = harness.scan(&credential, &token).await?;
    harness.clock.set(morning_of(2026, 4, 22));
    let late = harness.scan(&credential, &token).await?;

    assert_eq!(early.outcome(), ScanOutcome::OutsideWindow);
    assert_eq!(early.window_position(), WindowPosition::TooEarly);
    assert_eq!(early.benefit_month, 1);
    let window = early.window.unwrap();
    assert_eq!(
        window.opens_on,
        Some(Date {
            year: 2026,
            month: 3,
            day: 13
        })
    );
    assert_eq!(
        window.closes_on,
        Some(Date {
            year: 2026,
            month: 3,
            day: 18
        })
    );
    assert!(early.message_vi.contains("13/03/2026") && early.message_vi.contains("18/03/2026"));
    assert_eq!(late.outcome(), ScanOutcome::OutsideWindow);
    assert_eq!(late.window_position(), WindowPosition::TooLate);
    assert_eq!(late.benefit_month, 2);
    assert_eq!(
        late.window.unwrap().closes_on,
        Some(Date {
            year: 2026,
            month: 4,
            day: 20
        })
    );
    assert_eq!(harness.checkin_count().await?, 0);
    harness.stop().await
}

#[tokio::test]
async fn a_scan_of_a_suspended_month_or_a_terminated_decision_is_refused_with_the_reason()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    harness
        .publish_decision(&DecisionEvent {
            decision_id: "decision-1".into(),
            decision_version: 2,
            change: Some(decision_event::Change::MonthSuspended(MonthSuspended {
                benefit_month: 1,
                consecutive_missed: 1,
            })),
            ..DecisionEvent::default()
        })
        .await?;
    harness.wait_for_state("decision-1", "suspended").await?;

    let suspended = harness.scan(&credential, &token).await?;

    harness
        .publish_decision(&DecisionEvent {
            decision_id: "decision-1".into(),
            decision_version: 3,
            change: Some(decision_event::Change::Terminated(DecisionTerminated {
                reason: TerminationReason::FoundJob as i32,
                // Effective on the day month 1 starts, so month 1 is not paid either.
                effective_date: Some(Date {
                    year: 2026,
                    month: 3,
                    day: 16,
                }),
                ..DecisionTerminated::default()
            })),
            ..DecisionEvent::default()
        })
        .await?;
    harness.wait_for_state("decision-1", "terminated").await?;
    let terminated = harness.scan(&credential, &token).await?;

    assert_eq!(suspended.outcome(), ScanOutcome::DecisionSuspended);
    assert_eq!(suspended.benefit_month, 1);
    assert_eq!(terminated.outcome(), ScanOutcome::DecisionTerminated);
    assert_eq!(terminated.termination_reason(), TerminationReason::FoundJob);
    assert_eq!(harness.checkin_count().await?, 0);
    assert!(harness.checkin_events(1).await?.is_empty());
    harness.stop().await
}

#[tokio::test]
async fn a_termination_effective_next_month_still_counts_this_month_and_refuses_the_next()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    // The beneficiary asks to stop from 16 April: month 2 and later are not paid, month 1 is.
    harness
        .publish_decision(&DecisionEvent {
            decision_id: "decision-1".into(),
            decision_version: 2,
            change: Some(decision_event::Change::Terminated(DecisionTerminated {
                reason: TerminationReason::OwnRequest as i32,
                effective_date: Some(Date {
                    year: 2026,
                    month: 4,
                    day: 16,
                }),
                ..DecisionTerminated::default()
            })),
            ..DecisionEvent::default()
        })
        .await?;
    harness.wait_for_state("decision-1", "terminated").await?;

    let this_month = harness.scan(&credential, &token).await?;
    harness.clock.set(morning_of(2026, 4, 17));
    let next_month = harness.scan(&credential, &token).await?;

    assert_eq!(this_month.outcome(), ScanOutcome::Accepted);
    assert_eq!(this_month.benefit_month, 1);
    assert_eq!(next_month.outcome(), ScanOutcome::DecisionTerminated);
    assert_eq!(
        next_month.termination_reason(),
        TerminationReason::OwnRequest
    );
    assert_eq!(harness.checkin_count().await?, 1);
    let mut conn = harness.admin().await?;
    let outcomes: Vec<(i32, Option<String>)> = sqlx::query_as(
        "SELECT benefit_month, outcome FROM checkin.windows \
         WHERE decision_id = 'decision-1' ORDER BY benefit_month",
    )
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(
        outcomes,
        vec![
            (1, Some("checked_in".to_owned())),
            (2, Some("cancelled".to_owned())),
            (3, Some("cancelled".to_owned())),
        ]
    );
    harness.stop().await
}

/// The value of the `checkin_scans_total` series whose labels include every one of `labels`.
fn scans_counted(metrics: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("checkin_scans_total{"))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn each_scan_is_counted_by_result_centre_and_province_and_timed() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    // A centre of its own, so scans of tests sharing the process's recorder are not counted.
    let credential = harness
        .client
        .clone()
        .register_kiosk(RegisterKioskRequest {
            centre_id: "centre-metrics".into(),
            province: "01".into(),
            label: "Quầy 1".into(),
            officer: Some(officer()),
        })
        .await?
        .into_inner()
        .credential;
    let token = harness.activate("decision-1").await?;
    // The first request to /metrics installs the recorder; scans before it would go uncounted.
    testkit::scrape_metrics(harness.http).await?;

    harness.scan(&credential, &token).await?;
    harness.scan(&credential, &token).await?;
    harness.scan(&credential, "not a notice").await?;
    assert!(harness.scan("wrong-credential", &token).await.is_err());

    let metrics = testkit::scrape_metrics(harness.http).await?;
    let site = ["centre=\"centre-metrics\"", "province=\"01\""];
    assert_eq!(
        scans_counted(&metrics, &[&["result=\"accepted\""], &site[..]].concat()),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        scans_counted(
            &metrics,
            &[&["result=\"already_recorded\""], &site[..]].concat()
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        scans_counted(
            &metrics,
            &[&["result=\"invalid_bad_format\""], &site[..]].concat()
        ),
        1.0,
        "{metrics}"
    );
    assert!(
        scans_counted(
            &metrics,
            &["result=\"unauthenticated\"", "centre=\"unknown\""]
        ) >= 1.0,
        "{metrics}"
    );
    let timed = metrics
        .lines()
        .find_map(|line| line.strip_prefix("checkin_scan_seconds_count "))
        .and_then(|count| count.parse::<f64>().ok());
    assert!(timed.is_some_and(|count| count >= 4.0), "{metrics}");
    assert!(
        metrics.contains("checkin_scan_seconds_bucket{le=\"0.025\"}"),
        "{metrics}"
    );
    harness.stop().await
}
