//! Banks' answers on the real broker and PostgreSQL: applied once, announced once, parked
//! payments paid again after a confirmed correction, timeouts retried.

mod support;

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use contracts::bank::v1::TransactionStatus;
use contracts::common::v1::{
    Agency, BankDestination, CheckinWindow, Date, DestinationKind, Officer, TerminationReason,
};
use contracts::eligibility::v1::{
    DecisionActivated, DecisionEvent, DecisionTerminated, decision_event::Change,
};
use contracts::topics;
use contracts::transfer::v1::transfer_outcome::Notice;
use contracts::transfer::v1::{
    ConfirmAccountCorrectionRequest, GetReconciliationRequest, ProposeAccountCorrectionRequest,
    TransferOutcome, TransferStatus,
};
use prost::Message as _;
use rdkafka::Message as _;
use support::{BANK_A, BANK_B, QUIET, Rig, WAIT, line, start, unique};

/// Outcomes published so far, reading for at most `within` until `count` arrived.
async fn outcomes(
    rig: &Rig,
    count: usize,
    within: Duration,
) -> anyhow::Result<Vec<(String, TransferOutcome)>> {
    let messages =
        testkit::read_topic(&rig.topics.name(topics::TRANSFER_OUTCOMES), count, within).await?;
    let mut decoded = Vec::new();
    for message in messages {
        decoded.push((
            testkit::key_of(&message).unwrap_or_default(),
            TransferOutcome::decode(message.payload().unwrap_or_default())?,
        ));
    }
    Ok(decoded)
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// Publishes a change of `decision_id`, as eligibility would.
async fn publish_decision(rig: &Rig, decision_id: &str, change: Change) -> anyhow::Result<()> {
    let event = DecisionEvent {
        meta: None,
        decision_id: decision_id.into(),
        decision_version: 1,
        change: Some(change),
    };
    rig.publish(topics::DECISIONS, decision_id, &event.encode_to_vec())
        .await
}

/// An activation whose benefit month 2 (the month the test lines pay) starts on
/// `month_2_start`.
fn activated(month_2_start: Option<Date>) -> Change {
    Change::Activated(DecisionActivated {
        checkin_windows: vec![CheckinWindow {
            benefit_month: 2,
            month_start: month_2_start,
            ..CheckinWindow::default()
        }],
        ..DecisionActivated::default()
    })
}

/// A termination effective on `effective_date`.
fn terminated(effective_date: Option<Date>) -> Change {
    Change::Terminated(DecisionTerminated {
        reason: TerminationReason::FoundJob as i32,
        effective_date,
        reserved_months: 1,
        note: String::new(),
    })
}

async fn propose_and_confirm(rig: &Rig, decision_id: &str) -> anyhow::Result<Vec<String>> {
    let mut client = rig.client().await?;
    let proposal = client
        .propose_account_correction(ProposeAccountCorrectionRequest {
            decision_id: decision_id.into(),
            bank_destination: Some(BankDestination {
                bank_id: BANK_B.into(),
                kind: DestinationKind::Account as i32,
                number: "1234567890".into(),
                holder_name: "Nguyễn Thị Đào".into(),
            }),
            reason: "AC01 from the bank".into(),
            officer: officer("maker"),
        })
        .await?
        .into_inner();
    Ok(client
        .confirm_account_correction(ConfirmAccountCorrectionRequest {
            correction_id: proposal.correction_id,
            officer: officer("checker"),
        })
        .await?
        .into_inner()
        .resent_end_to_end_ids)
}

fn officer(id: &str) -> Option<Officer> {
    Some(Officer {
        officer_id: id.into(),
        agency: Agency::SocialSecurity as i32,
    })
}

#[tokio::test]
async fn a_credit_delivered_twice_marks_paid_and_publishes_one_outcome() -> anyhow::Result<()> {
    let rig = start().await?;
    let entitlement = unique("e");
    let list_id = unique("list");
    rig.publish_list(&rig.signed_list(&list_id, vec![line(&entitlement, BANK_A, 6_000_000)], 1))
        .await?;
    let sent = rig.instructions(BANK_A, 1, WAIT).await?;
    let end_to_end_id = sent[0].1.end_to_end_id.clone();

    rig.publish_result(&end_to_end_id, BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.publish_result(&end_to_end_id, BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.wait_processed(topics::BANK_RESULTS, 2).await?;

    assert_eq!(
        rig.payment_state(&entitlement).await?.as_deref(),
        Some("paid")
    );
    let published = outcomes(&rig, 2, QUIET).await?;
    assert_eq!(published.len(), 1, "one state change, one outcome");
    let (key, outcome) = &published[0];
    assert_eq!(key, &entitlement);
    assert_eq!(outcome.status, TransferStatus::Paid as i32);
    assert_eq!(outcome.end_to_end_id, end_to_end_id);
    assert_eq!(outcome.amount_dong, 6_000_000);
    assert_eq!(outcome.list_id, list_id);
    Ok(())
}

#[tokio::test]
async fn a_wrong_account_corrected_by_a_second_officer_is_credited_once_and_reconciles()
-> anyhow::Result<()> {
    let rig = start().await?;
    let (good, wrong) = (unique("e"), unique("e"));
    let list_id = unique("list");
    rig.publish_list(&rig.signed_list(
        &list_id,
        vec![
            line(&good, BANK_A, 6_000_000),
            line(&wrong, BANK_A, 4_500_000),
        ],
        2,
    ))
    .await?;
    let sent = rig.instructions(BANK_A, 2, WAIT).await?;
    let id_of = |amount: i64| {
        sent.iter()
            .find(|(_, instruction)| instruction.amount_dong == amount)
            .map(|(_, instruction)| instruction.end_to_end_id.clone())
            .unwrap()
    };
    rig.publish_result(&id_of(6_000_000), BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.publish_result(&id_of(4_500_000), BANK_A, TransactionStatus::Rjct, "AC01")
        .await?;
    rig.wait_payment_state(&wrong, "parked").await?;

    let mut client = rig.client().await?;
    let proposal = client
        .propose_account_correction(ProposeAccountCorrectionRequest {
            decision_id: format!("decision-{wrong}"),
            bank_destination: Some(BankDestination {
                bank_id: BANK_B.into(),
                kind: DestinationKind::Account as i32,
                number: "1234567890".into(),
                holder_name: "Nguyễn Thị Đào".into(),
            }),
            reason: "AC01 from the bank; new account seen on the passbook".into(),
            officer: officer("maker"),
        })
        .await?
        .into_inner();
    let same_officer = client
        .confirm_account_correction(ConfirmAccountCorrectionRequest {
            correction_id: proposal.correction_id.clone(),
            officer: officer("maker"),
        })
        .await;
    assert_eq!(
        same_officer.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    let confirmed = client
        .confirm_account_correction(ConfirmAccountCorrectionRequest {
            correction_id: proposal.correction_id,
            officer: officer("checker"),
        })
        .await?
        .into_inner();

    assert_eq!(confirmed.resent_end_to_end_ids.len(), 1);
    let resent = &confirmed.resent_end_to_end_ids[0];
    assert_ne!(resent, &id_of(4_500_000));
    // Payroll learns the new destination, to pay later months there.
    let decision_id = format!("decision-{wrong}");
    let published = outcomes(&rig, 3, WAIT).await?;
    let corrected: Vec<_> = published
        .iter()
        .filter_map(|(key, event)| match &event.notice {
            Some(Notice::DestinationCorrected(notice)) => Some((key, event, notice)),
            _ => None,
        })
        .collect();
    assert_eq!(corrected.len(), 1, "{published:?}");
    let (key, event, notice) = corrected[0];
    assert_eq!(key, &decision_id);
    assert_eq!(event.status, TransferStatus::Unspecified as i32);
    assert_eq!(notice.decision_id, decision_id);
    assert_eq!(notice.resent_end_to_end_ids, vec![resent.clone()]);
    let destination = notice
        .bank_destination
        .as_ref()
        .expect("the new destination");
    assert_eq!(destination.bank_id, BANK_B);
    assert_eq!(destination.number, "1234567890");
    assert_eq!(destination.kind, DestinationKind::Account as i32);
    assert_eq!(notice.proposed_by, officer("maker"));
    assert_eq!(notice.confirmed_by, officer("checker"));
    let to_b = rig.instructions(BANK_B, 1, WAIT).await?;
    assert_eq!(&to_b[0].1.end_to_end_id, resent);
    assert_eq!(to_b[0].1.creditor_account, "1234567890");

    rig.publish_result(resent, BANK_B, TransactionStatus::Accc, "")
        .await?;
    rig.publish_result(resent, BANK_B, TransactionStatus::Accc, "")
        .await?;
    rig.wait_processed(topics::BANK_RESULTS, 4).await?;

    assert_eq!(rig.payment_state(&wrong).await?.as_deref(), Some("paid"));
    let credited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transfers WHERE entitlement_id = $1 AND state = 'paid'",
    )
    .bind(&wrong)
    .fetch_one(&rig.pool)
    .await?;
    assert_eq!(credited, 1);
    let rows = client
        .get_reconciliation(GetReconciliationRequest {
            list_id: list_id.clone(),
            ..GetReconciliationRequest::default()
        })
        .await?
        .into_inner()
        .rows;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.approved_dong, 10_500_000);
    assert_eq!(row.credited_dong, 10_500_000);
    assert_eq!(row.credited_count, 2);
    assert_eq!(row.parked_dong + row.in_flight_dong + row.failed_dong, 0);
    assert_eq!(row.difference_dong, 0);
    Ok(())
}

#[tokio::test]
async fn a_deceased_beneficiary_is_parked_announced_and_never_resent() -> anyhow::Result<()> {
    let rig = start().await?;
    let entitlement = unique("e");
    rig.publish_list(&rig.signed_list(
        &unique("list"),
        vec![line(&entitlement, BANK_A, 6_000_000)],
        1,
    ))
    .await?;
    let sent = rig.instructions(BANK_A, 1, WAIT).await?;

    rig.publish_result(
        &sent[0].1.end_to_end_id,
        BANK_A,
        TransactionStatus::Rjct,
        "MD07",
    )
    .await?;
    rig.wait_payment_state(&entitlement, "parked").await?;

    let published = outcomes(&rig, 1, WAIT).await?;
    assert_eq!(published[0].1.status, TransferStatus::Parked as i32);
    assert_eq!(published[0].1.reason_code, "MD07");
    assert_eq!(
        published[0].1.decision_id,
        format!("decision-{entitlement}")
    );

    let mut client = rig.client().await?;
    let proposal = client
        .propose_account_correction(ProposeAccountCorrectionRequest {
            decision_id: format!("decision-{entitlement}"),
            bank_destination: Some(BankDestination {
                bank_id: BANK_A.into(),
                kind: DestinationKind::Account as i32,
                number: "1234567890".into(),
                holder_name: "Nguyễn Thị Đào".into(),
            }),
            reason: "family asks".into(),
            officer: officer("maker"),
        })
        .await?
        .into_inner();
    let confirmed = client
        .confirm_account_correction(ConfirmAccountCorrectionRequest {
            correction_id: proposal.correction_id,
            officer: officer("checker"),
        })
        .await?
        .into_inner();
    assert!(confirmed.resent_end_to_end_ids.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_timeout_is_retried_under_a_new_attempt_after_the_backoff() -> anyhow::Result<()> {
    let rig = start().await?;
    let entitlement = unique("e");
    rig.publish_list(&rig.signed_list(
        &unique("list"),
        vec![line(&entitlement, BANK_A, 6_000_000)],
        1,
    ))
    .await?;
    let first = rig.instructions(BANK_A, 1, WAIT).await?[0]
        .1
        .end_to_end_id
        .clone();

    rig.publish_result(&first, BANK_A, TransactionStatus::Rjct, "AB05")
        .await?;
    rig.wait_payment_state(&entitlement, "retrying").await?;
    assert!(
        rig.instructions(BANK_A, 2, QUIET).await?.len() == 1,
        "no retry before the backoff"
    );
    rig.clock.advance(ChronoDuration::seconds(61));

    let sent = rig.instructions(BANK_A, 2, WAIT).await?;
    assert_eq!(sent.len(), 2);
    let second = sent[1].1.end_to_end_id.clone();
    assert_ne!(second, first);
    assert!(second.ends_with("-002"));
    // A credit for the attempt the bank itself rejected is not applied (it raises the
    // unexpected-credit alert); the new attempt pays.
    rig.publish_result(&first, BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.publish_result(&second, BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.wait_payment_state(&entitlement, "paid").await?;
    let paid: Vec<String> = sqlx::query_scalar(
        "SELECT end_to_end_id FROM transfers WHERE entitlement_id = $1 AND state = 'paid'",
    )
    .bind(&entitlement)
    .fetch_all(&rig.pool)
    .await?;
    assert_eq!(paid, vec![second]);
    Ok(())
}

#[tokio::test]
async fn a_correction_to_an_unknown_bank_is_refused_and_a_luhn_failure_only_warns()
-> anyhow::Result<()> {
    let rig = start().await?;
    let mut client = rig.client().await?;
    let propose =
        |bank: &str, kind: DestinationKind, number: &str| ProposeAccountCorrectionRequest {
            decision_id: "decision-1".into(),
            bank_destination: Some(BankDestination {
                bank_id: bank.into(),
                kind: kind as i32,
                number: number.into(),
                holder_name: "Trần Văn Bình".into(),
            }),
            reason: "bank reported AC01".into(),
            officer: officer("maker"),
        };

    let unknown = client
        .propose_account_correction(propose("970499", DestinationKind::Card, support::CARD))
        .await
        .unwrap_err();
    let short = client
        .propose_account_correction(propose(BANK_A, DestinationKind::Account, "12345"))
        .await
        .unwrap_err();
    let luhn = client
        .propose_account_correction(propose(
            BANK_A,
            DestinationKind::Card,
            "9704360000000000003",
        ))
        .await?
        .into_inner();

    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(unknown.message().starts_with("bank_destination.bank_id"));
    assert_eq!(short.code(), tonic::Code::InvalidArgument);
    assert!(short.message().starts_with("bank_destination.number"));
    assert_eq!(
        luhn.warnings,
        vec!["card number fails the Luhn check".to_owned()]
    );
    let proposed: i64 = sqlx::query_scalar("SELECT count(*) FROM account_corrections")
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!(proposed, 1, "refused proposals change nothing");
    Ok(())
}

#[tokio::test]
async fn a_parked_payment_of_a_month_cancelled_by_a_termination_is_failed_not_resent()
-> anyhow::Result<()> {
    let rig = start().await?;
    let entitlement = unique("e");
    let decision_id = format!("decision-{entitlement}");
    rig.publish_list(&rig.signed_list(
        &unique("list"),
        vec![line(&entitlement, BANK_A, 6_000_000)],
        1,
    ))
    .await?;
    let sent = rig.instructions(BANK_A, 1, WAIT).await?;
    rig.publish_result(
        &sent[0].1.end_to_end_id,
        BANK_A,
        TransactionStatus::Rjct,
        "AC01",
    )
    .await?;
    rig.wait_payment_state(&entitlement, "parked").await?;

    // Month 2 starts on 2026-03-05; the beneficiary found a job from 2026-03-01. A second,
    // later-dated termination does not move the effective date.
    publish_decision(&rig, &decision_id, activated(date(2026, 3, 5))).await?;
    publish_decision(&rig, &decision_id, terminated(date(2026, 3, 1))).await?;
    publish_decision(&rig, &decision_id, terminated(date(2026, 3, 20))).await?;
    rig.wait_processed(topics::DECISIONS, 3).await?;
    let resent = propose_and_confirm(&rig, &decision_id).await?;

    assert!(resent.is_empty(), "nothing is resent for a cancelled month");
    assert!(rig.instructions(BANK_B, 1, QUIET).await?.is_empty());
    assert_eq!(
        rig.payment_state(&entitlement).await?.as_deref(),
        Some("failed")
    );
    let published = outcomes(&rig, 2, WAIT).await?;
    assert_eq!(published.len(), 2);
    let (key, failed) = &published[1];
    assert_eq!(key, &entitlement);
    assert_eq!(failed.status, TransferStatus::Failed as i32);
    assert_eq!(failed.reason_code, "DECISION_TERMINATED");
    assert_eq!(failed.end_to_end_id, sent[0].1.end_to_end_id);
    Ok(())
}

#[tokio::test]
async fn a_timeout_is_not_retried_once_a_termination_cancelled_its_month() -> anyhow::Result<()> {
    let rig = start().await?;
    let entitlement = unique("e");
    let decision_id = format!("decision-{entitlement}");
    rig.publish_list(&rig.signed_list(
        &unique("list"),
        vec![line(&entitlement, BANK_A, 6_000_000)],
        1,
    ))
    .await?;
    let first = rig.instructions(BANK_A, 1, WAIT).await?[0]
        .1
        .end_to_end_id
        .clone();
    rig.publish_result(&first, BANK_A, TransactionStatus::Rjct, "AB05")
        .await?;
    rig.wait_payment_state(&entitlement, "retrying").await?;

    // No activation reached transfer: nothing shows the month began before the termination.
    publish_decision(&rig, &decision_id, terminated(date(2026, 3, 1))).await?;
    rig.wait_processed(topics::DECISIONS, 1).await?;
    rig.clock.advance(ChronoDuration::seconds(61));

    rig.wait_payment_state(&entitlement, "failed").await?;
    assert_eq!(
        rig.instructions(BANK_A, 2, QUIET).await?.len(),
        1,
        "no second attempt"
    );
    let published = outcomes(&rig, 2, WAIT).await?;
    assert_eq!(published.len(), 2);
    assert_eq!(published[1].1.status, TransferStatus::Failed as i32);
    assert_eq!(published[1].1.reason_code, "DECISION_TERMINATED");
    Ok(())
}

#[tokio::test]
async fn a_timeout_of_a_month_begun_before_the_termination_is_still_retried() -> anyhow::Result<()>
{
    let rig = start().await?;
    let entitlement = unique("e");
    let decision_id = format!("decision-{entitlement}");
    publish_decision(&rig, &decision_id, activated(date(2026, 2, 20))).await?;
    rig.publish_list(&rig.signed_list(
        &unique("list"),
        vec![line(&entitlement, BANK_A, 6_000_000)],
        1,
    ))
    .await?;
    let first = rig.instructions(BANK_A, 1, WAIT).await?[0]
        .1
        .end_to_end_id
        .clone();
    rig.publish_result(&first, BANK_A, TransactionStatus::Rjct, "AB05")
        .await?;
    rig.wait_payment_state(&entitlement, "retrying").await?;

    publish_decision(&rig, &decision_id, terminated(date(2026, 3, 1))).await?;
    rig.wait_processed(topics::DECISIONS, 2).await?;
    rig.clock.advance(ChronoDuration::seconds(61));

    let sent = rig.instructions(BANK_A, 2, WAIT).await?;
    assert_eq!(
        sent.len(),
        2,
        "month 2 began on 2026-02-20 and is still owed"
    );
    assert!(sent[1].1.end_to_end_id.ends_with("-002"));
    Ok(())
}

#[tokio::test]
async fn a_list_repeating_a_paid_entitlement_reconciles_with_no_difference() -> anyhow::Result<()> {
    let rig = start().await?;
    let (paid, new) = (unique("e"), unique("e"));
    rig.publish_list(&rig.signed_list(&unique("list"), vec![line(&paid, BANK_A, 6_000_000)], 1))
        .await?;
    let first = rig.instructions(BANK_A, 1, WAIT).await?[0]
        .1
        .end_to_end_id
        .clone();
    rig.publish_result(&first, BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.wait_payment_state(&paid, "paid").await?;

    let second_list = unique("list");
    rig.publish_list(&rig.signed_list(
        &second_list,
        vec![
            line(&paid, BANK_A, 6_000_000),
            line(&new, BANK_A, 4_500_000),
        ],
        2,
    ))
    .await?;
    let sent = rig.instructions(BANK_A, 2, WAIT).await?;
    assert_eq!(sent.len(), 2, "only the new entitlement is sent");
    rig.publish_result(
        &sent[1].1.end_to_end_id,
        BANK_A,
        TransactionStatus::Accc,
        "",
    )
    .await?;
    rig.wait_payment_state(&new, "paid").await?;

    let rows = rig
        .client()
        .await?
        .get_reconciliation(GetReconciliationRequest {
            list_id: second_list,
            ..GetReconciliationRequest::default()
        })
        .await?
        .into_inner()
        .rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].approved_count, 1);
    assert_eq!(rows[0].approved_dong, 4_500_000);
    assert_eq!(rows[0].credited_dong, 4_500_000);
    assert_eq!(rows[0].difference_dong, 0);
    let metrics = rig.metrics().await?;
    assert!(
        metrics.contains("transfer_lines_already_paid_total 1"),
        "the skipped line is counted, not silent"
    );
    Ok(())
}

#[tokio::test]
async fn an_attempt_the_bank_never_answers_is_flagged_overdue_once_and_cleared_by_its_answer()
-> anyhow::Result<()> {
    let rig = start().await?;
    let (silent, answered) = (unique("e"), unique("e"));
    rig.publish_list(&rig.signed_list(
        &unique("list"),
        vec![
            line(&silent, BANK_A, 6_000_000),
            line(&answered, BANK_A, 4_000_000),
        ],
        2,
    ))
    .await?;
    let sent = rig.instructions(BANK_A, 2, WAIT).await?;
    let id_of = |amount: i64| {
        sent.iter()
            .find(|(_, instruction)| instruction.amount_dong == amount)
            .map(|(_, instruction)| instruction.end_to_end_id.clone())
            .unwrap()
    };
    rig.publish_result(&id_of(4_000_000), BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.wait_payment_state(&answered, "paid").await?;
    let overdue = |end_to_end_id: String| {
        let pool = rig.pool.clone();
        async move {
            let at: Option<chrono::DateTime<chrono::Utc>> =
                sqlx::query_scalar("SELECT overdue_at FROM transfers WHERE end_to_end_id = $1")
                    .bind(end_to_end_id)
                    .fetch_one(&pool)
                    .await?;
            anyhow::Ok(at)
        }
    };

    // Just inside the default deadline of a day: nothing is flagged.
    rig.clock.advance(ChronoDuration::seconds(86_399));
    tokio::time::sleep(QUIET).await;
    assert_eq!(overdue(id_of(6_000_000)).await?, None);

    rig.clock.advance(ChronoDuration::seconds(2));
    let flagged = testkit::eventually(WAIT, || async {
        Ok(overdue(id_of(6_000_000)).await?.is_some())
    })
    .await?;
    assert!(flagged, "the unanswered attempt is flagged");
    let first_flag = overdue(id_of(6_000_000)).await?;
    assert_eq!(
        overdue(id_of(4_000_000)).await?,
        None,
        "an answered one is not"
    );
    // The gauge is set after the flags are committed, by a second query of the same pass.
    let gauged = format!(r#"transfer_attempts_overdue{{bank="{BANK_A}"}} 1"#);
    testkit::eventually(WAIT, || async {
        Ok(rig.metrics().await?.contains(&gauged))
    })
    .await?;
    let metrics = rig.metrics().await?;
    assert!(
        metrics.contains(&format!(
            r#"transfer_attempts_overdue_total{{bank="{BANK_A}"}} 1"#
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        r#"transfer_attempts_overdue{{bank="{BANK_A}"}} 1"#
    )));

    rig.clock.advance(ChronoDuration::seconds(3_600));
    tokio::time::sleep(QUIET).await;
    assert_eq!(overdue(id_of(6_000_000)).await?, first_flag, "flagged once");
    assert!(rig.metrics().await?.contains(&format!(
        r#"transfer_attempts_overdue_total{{bank="{BANK_A}"}} 1"#
    )));

    rig.publish_result(&id_of(6_000_000), BANK_A, TransactionStatus::Accc, "")
        .await?;
    rig.wait_payment_state(&silent, "paid").await?;
    let cleared = testkit::eventually(WAIT, || async {
        Ok(rig.metrics().await?.contains(&format!(
            r#"transfer_attempts_overdue{{bank="{BANK_A}"}} 0"#
        )))
    })
    .await?;
    assert!(
        cleared,
        "a late answer still pays, and the gauge falls back"
    );
    Ok(())
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn a_burst_of_mixed_results_settles_each_payment_once_and_counts_the_money_per_bank()
-> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    let entitlements: Vec<String> = (0..6).map(|_| unique("e")).collect();
    let other_bank = unique("e");
    let mut lines: Vec<_> = entitlements
        .iter()
        .enumerate()
        .map(|(index, entitlement)| line(entitlement, BANK_A, 1_000_000 * (index as i64 + 1)))
        .collect();
    lines.push(line(&other_bank, BANK_B, 7_000_000));
    rig.publish_list(&rig.signed_list(&list_id, lines, 1))
        .await?;
    let sent_a = rig.instructions(BANK_A, 6, WAIT).await?;
    let sent_b = rig.instructions(BANK_B, 1, WAIT).await?;
    let id_of = |amount: i64| {
        sent_a
            .iter()
            .chain(sent_b.iter())
            .find(|(_, instruction)| instruction.amount_dong == amount)
            .map(|(_, instruction)| instruction.end_to_end_id.clone())
            .unwrap()
    };

    // Sent at once, so the consumer takes them in batches of whatever size arrives.
    let burst = [
        (id_of(1_000_000), BANK_A, TransactionStatus::Accc, ""),
        (id_of(1_000_000), BANK_A, TransactionStatus::Accc, ""),
        (id_of(2_000_000), BANK_A, TransactionStatus::Rjct, "AC01"),
        (id_of(2_000_000), BANK_A, TransactionStatus::Accc, ""),
        (id_of(3_000_000), BANK_A, TransactionStatus::Rjct, "MD07"),
        (id_of(4_000_000), BANK_A, TransactionStatus::Pdng, ""),
        (id_of(5_000_000), BANK_B, TransactionStatus::Accc, ""),
        (id_of(6_000_000), BANK_A, TransactionStatus::Rjct, "AB05"),
        (id_of(7_000_000), BANK_B, TransactionStatus::Accc, ""),
    ];
    let publishes = burst
        .iter()
        .map(|(id, bank, status, reason)| rig.publish_result(id, bank, *status, reason));
    for published in futures::future::join_all(publishes).await {
        published?;
    }
    rig.wait_processed(topics::BANK_RESULTS, burst.len() as i64)
        .await?;

    let states = [
        (&entitlements[0], "paid"),
        (&entitlements[1], "parked"),
        (&entitlements[2], "parked"),
        (&entitlements[3], "in_flight"),
        (&entitlements[4], "in_flight"),
        (&entitlements[5], "retrying"),
        (&other_bank, "paid"),
    ];
    for (entitlement, state) in states {
        assert_eq!(
            rig.payment_state(entitlement).await?.as_deref(),
            Some(state),
            "{entitlement}"
        );
    }
    let published = outcomes(&rig, 6, QUIET).await?;
    let mut keys: Vec<&str> = published.iter().map(|(key, _)| key.as_str()).collect();
    keys.sort_unstable();
    let mut changed = vec![
        entitlements[0].as_str(),
        entitlements[1].as_str(),
        entitlements[2].as_str(),
        entitlements[5].as_str(),
        other_bank.as_str(),
    ];
    changed.sort_unstable();
    assert_eq!(keys, changed, "one outcome per payment that changed");
    let history: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transfer_history h JOIN transfers t USING (end_to_end_id) \
         JOIN payments p USING (entitlement_id) WHERE p.list_id = $1 AND h.state <> 'in_flight'",
    )
    .bind(&list_id)
    .fetch_one(&rig.pool)
    .await?;
    assert_eq!(history, 5, "one history row per change");
    let dead = testkit::read_topic(
        &messaging::dead_letter_topic(&rig.topics.name(topics::BANK_RESULTS)),
        2,
        QUIET,
    )
    .await?;
    assert_eq!(dead.len(), 1, "only the other bank's answer is refused");

    let metrics = rig.metrics().await?;
    let bank_a = format!("bank=\"{BANK_A}\"");
    let bank_b = format!("bank=\"{BANK_B}\"");
    assert_eq!(
        sample(&metrics, "transfer_paid_dong_total", &[&bank_a]),
        Some(1_000_000.0)
    );
    assert_eq!(
        sample(&metrics, "transfer_paid_dong_total", &[&bank_b]),
        Some(7_000_000.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "transfer_parked_dong_total",
            &[&bank_a, "reason=\"AC01\""]
        ),
        Some(2_000_000.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "transfer_parked_dong_total",
            &[&bank_a, "reason=\"MD07\""]
        ),
        Some(3_000_000.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "transfer_results_applied_total",
            &[&bank_a, "state=\"paid\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "transfer_results_applied_total",
            &[&bank_a, "state=\"parked\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, "transfer_instructions_sent_total", &[&bank_a]),
        Some(6.0)
    );
    assert_eq!(
        sample(&metrics, "transfer_instructions_sent_total", &[&bank_b]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "transfer_unexpected_credits_total", &[&bank_a]),
        Some(1.0),
        "the credit after the rejection is flagged"
    );
    Ok(())
}
