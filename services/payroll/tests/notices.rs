//! Transfer's notices on `transfer.outcomes.v1`: a destination two officers corrected is paid
//! from then on, and a list refused whole is cut and signed again, each applied once.

mod support;

use std::time::Duration;

use contracts::{
    payroll::v1::{
        GetPaymentListRequest, HoldReason, ListHeldLinesRequest, ListState, PaymentLine,
        ReleaseHeldLineRequest,
    },
    topics,
    transfer::v1::{
        BankDestinationCorrected, PaymentListRefused, TransferOutcome, TransferStatus,
        transfer_outcome,
    },
};
use support::{Payroll, account, activated, by_list, checked_in, officer, start, verify_list};

/// The lines published so far, waiting up to `within` for `chunks` chunks.
async fn published_lines(
    payroll: &Payroll,
    chunks: usize,
    within: Duration,
) -> anyhow::Result<Vec<(String, PaymentLine)>> {
    Ok(payroll
        .published_chunks(chunks, within)
        .await?
        .into_iter()
        .flat_map(|(list_id, chunk)| {
            chunk
                .lines
                .into_iter()
                .map(move |line| (list_id.clone(), line))
        })
        .collect())
}

async fn send_outcome(
    payroll: &Payroll,
    key: &str,
    outcome: &TransferOutcome,
) -> anyhow::Result<()> {
    payroll.send(topics::TRANSFER_OUTCOMES, key, outcome).await
}

fn outcome_of(line: &PaymentLine, status: TransferStatus) -> TransferOutcome {
    TransferOutcome {
        entitlement_id: line.entitlement_id.clone(),
        decision_id: line.decision_id.clone(),
        benefit_month: line.benefit_month,
        amount_dong: line.amount_dong,
        attempt: 1,
        status: status as i32,
        ..Default::default()
    }
}

fn correction(decision_id: &str, number: &str) -> TransferOutcome {
    TransferOutcome {
        notice: Some(transfer_outcome::Notice::DestinationCorrected(
            BankDestinationCorrected {
                correction_id: format!("correction-{decision_id}"),
                decision_id: decision_id.into(),
                bank_destination: Some(account(number)),
                proposed_by: Some(officer("ss-maker")),
                confirmed_by: Some(officer("ss-checker")),
                resent_end_to_end_ids: vec!["E2E-RESENT-1".into()],
            },
        )),
        ..Default::default()
    }
}

fn refusal(list_id: &str, reason: &str) -> TransferOutcome {
    TransferOutcome {
        notice: Some(transfer_outcome::Notice::ListRefused(PaymentListRefused {
            list_id: list_id.into(),
            province: support::PROVINCE.into(),
            reason: reason.into(),
            detail: "signature does not verify".into(),
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_corrected_destination_pays_later_months_once_a_third_officer_releases_the_first()
-> anyhow::Result<()> {
    // Arrange: month 1 listed to the first account, which the bank refused (parked).
    let payroll = start().await?;
    let first = "0011005000001";
    let corrected = "0011005000077";
    payroll
        .decide(&activated("d-fix", "p-fix", account(first)))
        .await?;
    payroll.check_in(&checked_in("d-fix", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 1)
        .await?;
    payroll.pass_cut_interval();
    let month_one = published_lines(&payroll, 1, support::WAIT).await?;
    assert_eq!(month_one.len(), 1);
    let (_, month_one) = &month_one[0];
    send_outcome(
        &payroll,
        &month_one.entitlement_id,
        &outcome_of(month_one, TransferStatus::Parked),
    )
    .await?;

    // Act: transfer announces the correction, and the notice is published a second time;
    // then transfer's resent attempt is credited (same partition, so both notices are
    // handled before it).
    send_outcome(&payroll, "d-fix", &correction("d-fix", corrected)).await?;
    send_outcome(&payroll, "d-fix", &correction("d-fix", corrected)).await?;
    send_outcome(
        &payroll,
        &month_one.entitlement_id,
        &outcome_of(month_one, TransferStatus::Paid),
    )
    .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'paid'",
            1,
        )
        .await?;

    // Assert: recorded once, sealed, and in force with both officers as its makers.
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.destination_corrections")
            .await?,
        1
    );
    let mut db = payroll.db().await?;
    let (sealed, changed_by): (Vec<u8>, Vec<String>) = sqlx::query_as(
        "SELECT destination_sealed, destination_changed_by FROM payroll.decisions \
         WHERE decision_id = 'd-fix'",
    )
    .fetch_one(&mut db)
    .await?;
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT destination_sealed FROM payroll.destination_corrections")
            .fetch_one(&mut db)
            .await?;
    for bytes in [&sealed, &stored] {
        assert!(
            !bytes
                .windows(corrected.len())
                .any(|window| window == corrected.as_bytes()),
            "the corrected number is stored sealed, never in clear"
        );
    }
    assert_eq!(changed_by, ["ss-maker", "ss-checker"]);

    // Month 2 goes to the corrected account, held first as a changed account.
    payroll.check_in(&checked_in("d-fix", 2)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 2)
        .await?;
    payroll.pass_cut_interval();
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'held'",
            1,
        )
        .await?;
    let mut client = payroll.client().await?;
    let held = client
        .list_held_lines(ListHeldLinesRequest::default())
        .await?
        .into_inner()
        .lines;
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0].reasons().collect::<Vec<_>>(),
        [HoldReason::DestinationChanged]
    );
    assert_eq!(
        held[0].bank_destination.as_ref().unwrap().number,
        "*********0077"
    );
    for changer in ["ss-maker", "ss-checker"] {
        let refused = client
            .release_held_line(ReleaseHeldLineRequest {
                entitlement_id: held[0].entitlement_id.clone(),
                reason: "account corrected after the bank's refusal".into(),
                officer: Some(officer(changer)),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{changer}");
    }
    payroll.register_officer_key("ss-third").await?;
    client
        .release_held_line(ReleaseHeldLineRequest {
            entitlement_id: held[0].entitlement_id.clone(),
            reason: "account corrected after the bank's refusal".into(),
            officer: Some(officer("ss-third")),
        })
        .await?;
    let lines = published_lines(&payroll, 2, support::WAIT).await?;
    let month_two: Vec<&PaymentLine> = lines
        .iter()
        .map(|(_, line)| line)
        .filter(|line| line.benefit_month == 2)
        .collect();
    assert_eq!(month_two.len(), 1);
    assert_eq!(
        month_two[0].bank_destination.as_ref().unwrap().number,
        corrected
    );
    payroll.stop().await
}

#[tokio::test]
async fn a_refused_list_is_cut_into_one_new_signed_list_however_often_the_refusal_arrives()
-> anyhow::Result<()> {
    // Arrange: two entitlements in one published list.
    let payroll = start().await?;
    for n in 0..2 {
        let decision = format!("d-r{n}");
        payroll
            .decide(&activated(
                &decision,
                &format!("p-r{n}"),
                account(&format!("001100600000{n}")),
            ))
            .await?;
        payroll.check_in(&checked_in(&decision, 1)).await?;
    }
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 2)
        .await?;
    payroll.pass_cut_interval();
    let first = published_lines(&payroll, 1, support::WAIT).await?;
    assert_eq!(first.len(), 2);
    let refused_id = first[0].0.clone();
    let mut entitlements: Vec<String> = first
        .iter()
        .map(|(_, line)| line.entitlement_id.clone())
        .collect();
    entitlements.sort();

    // Act: transfer refuses it; the notice arrives twice, the second after the new cut.
    send_outcome(
        &payroll,
        &refused_id,
        &refusal(&refused_id, "REFUSAL_REASON_BAD_SIGNATURE"),
    )
    .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.payment_lists WHERE refused_at IS NOT NULL",
            1,
        )
        .await?;
    payroll.pass_cut_interval();
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.payment_lists", 2)
        .await?;
    send_outcome(
        &payroll,
        &refused_id,
        &refusal(&refused_id, "REFUSAL_REASON_BAD_SIGNATURE"),
    )
    .await?;
    // A credit after the second notice on the same partition: both notices were handled.
    let lists = by_list(payroll.published_chunks(2, support::WAIT).await?);
    assert_eq!(lists.len(), 2);
    let (new_id, new_chunks) = lists
        .iter()
        .find(|(list_id, _)| **list_id != refused_id)
        .unwrap();
    let line = new_chunks[0].lines[0].clone();
    send_outcome(
        &payroll,
        &line.entitlement_id,
        &outcome_of(&line, TransferStatus::Paid),
    )
    .await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'paid'",
            1,
        )
        .await?;
    payroll.pass_cut_interval();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Assert: one new list, signed and complete, with the same entitlements; the refused
    // list keeps its record and reads as refused; each line was taken back once.
    verify_list(new_chunks, &payroll.trusted_keys())?;
    let mut recut: Vec<String> = new_chunks
        .iter()
        .flat_map(|chunk| chunk.lines.iter().map(|line| line.entitlement_id.clone()))
        .collect();
    recut.sort();
    assert_eq!(recut, entitlements);
    // Each line still tells when its check-in was scanned (the scan carried no time, so the
    // time payroll received it: 19 March 2026, 02:00 UTC).
    for chunk in new_chunks {
        for line in &chunk.lines {
            assert_eq!(
                line.checked_in_at.as_ref().map(|at| at.seconds),
                Some(1_773_885_600),
                "{line:?}"
            );
        }
    }
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.payment_lists")
            .await?,
        2,
        "the second notice cut no third list"
    );
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.entitlements WHERE list_refusals = 1")
            .await?,
        2
    );
    let mut db = payroll.db().await?;
    let (reason, kept): (String, Vec<uuid::Uuid>) = sqlx::query_as(
        "SELECT refusal_reason, refused_entitlements FROM payroll.payment_lists \
         WHERE refused_at IS NOT NULL",
    )
    .fetch_one(&mut db)
    .await?;
    assert_eq!(reason, "REFUSAL_REASON_BAD_SIGNATURE");
    let mut kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
    kept.sort();
    assert_eq!(kept, entitlements);
    let read = payroll
        .client()
        .await?
        .get_payment_list(GetPaymentListRequest {
            list_id: refused_id.clone(),
            page_size: 10,
            page_token: String::new(),
            officer: Some(officer("ss-auditor")),
        })
        .await?
        .into_inner();
    assert_eq!(read.state(), ListState::Refused);
    assert_ne!(new_id, &refused_id);
    payroll.stop().await
}

#[tokio::test]
async fn a_line_in_lists_refused_three_times_waits_for_an_officer() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-rr", "p-rr", account("0011007000001")))
        .await?;
    payroll.check_in(&checked_in("d-rr", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 1)
        .await?;

    for round in 1..=3 {
        payroll.pass_cut_interval();
        payroll
            .wait_for_count("SELECT count(*) FROM payroll.payment_lists", round)
            .await?;
        let mut db = payroll.db().await?;
        let list_id: uuid::Uuid = sqlx::query_scalar(
            "SELECT list_id FROM payroll.payment_lists WHERE refused_at IS NULL",
        )
        .fetch_one(&mut db)
        .await?;
        let list_id = list_id.to_string();
        send_outcome(
            &payroll,
            &list_id,
            &refusal(&list_id, "REFUSAL_REASON_INCOMPLETE"),
        )
        .await?;
        payroll
            .wait_for_count(
                "SELECT count(*) FROM payroll.payment_lists WHERE refused_at IS NOT NULL",
                round,
            )
            .await?;
    }
    payroll.pass_cut_interval();
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.payment_lists")
            .await?,
        3,
        "no fourth list"
    );
    let held = payroll
        .client()
        .await?
        .list_held_lines(ListHeldLinesRequest::default())
        .await?
        .into_inner()
        .lines;
    assert_eq!(held.len(), 1);
    assert!(
        held[0].explanation.contains("3 payment lists"),
        "{}",
        held[0].explanation
    );
    payroll.stop().await
}
