//! Approved lists on the real broker and PostgreSQL: verified whole, paid once, each bank
//! sent only its own payments.

mod support;

use chrono::Duration as ChronoDuration;
use contracts::topics;
use contracts::transfer::v1::transfer_outcome::Notice;
use contracts::transfer::v1::{RefusalReason, TransferStatus};
use support::{BANK_A, BANK_B, QUIET, WAIT, line, start, unique};

#[tokio::test]
async fn a_list_delivered_twice_creates_no_second_transfer() -> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    let chunks = rig.signed_list(
        &list_id,
        vec![
            line(&unique("e"), BANK_A, 6_000_000),
            line(&unique("e"), BANK_A, 18_500_000),
            line(&unique("e"), BANK_A, 3_700_000),
        ],
        2,
    );

    rig.publish_list(&chunks).await?;
    rig.publish_list(&chunks).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 4).await?;

    assert_eq!(rig.transfers_of_list(&list_id).await?, 3);
    let sent = rig.instructions(BANK_A, 4, QUIET).await?;
    assert_eq!(sent.len(), 3, "one instruction per line, not per delivery");
    Ok(())
}

#[tokio::test]
async fn a_list_in_one_chunk_delivered_twice_is_paid_once_without_keeping_its_chunk()
-> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    let chunks = rig.signed_list(
        &list_id,
        vec![
            line(&unique("e"), BANK_A, 6_000_000),
            line(&unique("e"), BANK_B, 18_500_000),
            line(&unique("e"), BANK_A, 3_700_000),
        ],
        3,
    );
    assert_eq!(chunks.len(), 1);

    rig.publish_list(&chunks).await?;
    rig.publish_list(&chunks).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 2).await?;

    assert_eq!(rig.transfers_of_list(&list_id).await?, 3);
    assert_eq!(rig.instructions(BANK_A, 3, QUIET).await?.len(), 2);
    assert_eq!(rig.instructions(BANK_B, 2, QUIET).await?.len(), 1);
    let approvals: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT bank_id, approved_count, approved_dong FROM list_approvals \
         WHERE list_id = $1 ORDER BY bank_id",
    )
    .bind(&list_id)
    .fetch_all(&rig.pool)
    .await?;
    assert_eq!(
        approvals,
        vec![
            (BANK_B.to_owned(), 1, 18_500_000),
            (BANK_A.to_owned(), 2, 9_700_000)
        ],
        "each bank's approved lines, counted once"
    );
    let (state, stored_chunks): (String, i64) = sqlx::query_as(
        "SELECT state, (SELECT count(*) FROM list_chunks WHERE list_id = $1) \
         FROM payment_lists WHERE list_id = $1",
    )
    .bind(&list_id)
    .fetch_one(&rig.pool)
    .await?;
    assert_eq!(state, "accepted");
    assert_eq!(
        stored_chunks, 0,
        "a list decided as it arrives keeps no chunk"
    );
    Ok(())
}

#[tokio::test]
async fn a_tampered_list_pays_nothing_and_is_recorded_as_refused() -> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    let mut chunks = rig.signed_list(
        &list_id,
        vec![
            line(&unique("e"), BANK_A, 6_000_000),
            line(&unique("e"), BANK_A, 6_000_000),
        ],
        2,
    );
    // Money moved from one line to another after signing: the totals still match.
    chunks[0].lines[0].amount_dong -= 1_000_000;
    chunks[0].lines[1].amount_dong += 1_000_000;

    rig.publish_list(&chunks).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 1).await?;

    assert_eq!(rig.transfers_of_list(&list_id).await?, 0);
    assert!(rig.instructions(BANK_A, 1, QUIET).await?.is_empty());
    let refused = rig.refused_lists().await?;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].list_id, list_id);
    assert_eq!(refused[0].reason, RefusalReason::HashMismatch as i32);
    let published = rig.outcomes(2, QUIET).await?;
    assert_eq!(published.len(), 1, "payroll is told once");
    let (key, event) = &published[0];
    assert_eq!(key, &list_id);
    assert_eq!(event.status, TransferStatus::Unspecified as i32);
    let Some(Notice::ListRefused(notice)) = &event.notice else {
        panic!("a list-refused notice, not {event:?}");
    };
    assert_eq!(notice.list_id, list_id);
    assert_eq!(notice.province, "91");
    assert_eq!(notice.reason, "REFUSAL_REASON_HASH_MISMATCH");
    assert_eq!(
        RefusalReason::from_str_name(&notice.reason),
        Some(RefusalReason::HashMismatch)
    );
    assert_eq!(
        event.meta.as_ref().map(|meta| meta.subject_id.as_str()),
        Some(list_id.as_str())
    );
    let metrics = rig.metrics().await?;
    assert!(
        metrics.contains(r#"transfer_refused_lists_total{reason="hash_mismatch"}"#),
        "the refusal is counted for alerting"
    );
    Ok(())
}

#[tokio::test]
async fn a_list_with_a_forged_signature_pays_nothing() -> anyhow::Result<()> {
    let mut rig = start().await?;
    let list_id = unique("list");
    let trusted = rig.key.clone();
    // The forger signs a list of its own making with a key transfer does not trust.
    rig.key = ed25519_dalek::SigningKey::from_bytes(&[13u8; 32]);
    let chunks = rig.signed_list(&list_id, vec![line(&unique("e"), BANK_A, 60_000_000)], 1);
    rig.key = trusted;

    rig.publish_list(&chunks).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 1).await?;

    assert_eq!(rig.transfers_of_list(&list_id).await?, 0);
    let refused = rig.refused_lists().await?;
    assert_eq!(refused[0].list_id, list_id);
    assert_eq!(refused[0].reason, RefusalReason::BadSignature as i32);
    Ok(())
}

#[tokio::test]
async fn a_list_missing_a_chunk_is_refused_once_its_time_is_up() -> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    let chunks = rig.signed_list(
        &list_id,
        vec![
            line(&unique("e"), BANK_A, 6_000_000),
            line(&unique("e"), BANK_A, 6_000_000),
        ],
        1,
    );

    rig.publish_list(&chunks[..1]).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 1).await?;
    rig.clock.advance(ChronoDuration::seconds(601));

    let found = testkit::eventually(WAIT, || async {
        Ok(!rig.refused_lists().await?.is_empty())
    })
    .await?;
    assert!(found, "the incomplete list was not refused");
    let refused = rig.refused_lists().await?;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].reason, RefusalReason::Incomplete as i32);
    assert_eq!(refused[0].detail, "1 of 2 chunks");

    // The late chunk changes nothing: the list stays refused and pays nothing.
    rig.publish_list(&chunks[1..]).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 2).await?;
    assert_eq!(rig.transfers_of_list(&list_id).await?, 0);
    let published = rig.outcomes(2, QUIET).await?;
    assert_eq!(published.len(), 1, "refused once, announced once");
    let Some(Notice::ListRefused(notice)) = &published[0].1.notice else {
        panic!("a list-refused notice, not {:?}", published[0].1);
    };
    assert_eq!(published[0].0, list_id);
    assert_eq!(notice.reason, "REFUSAL_REASON_INCOMPLETE");
    assert_eq!(notice.detail, "1 of 2 chunks");
    Ok(())
}

#[tokio::test]
async fn each_bank_s_topic_carries_only_its_own_payments() -> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    let chunks = rig.signed_list(
        &list_id,
        vec![
            line(&unique("e"), BANK_A, 6_000_000),
            line(&unique("e"), BANK_B, 5_000_000),
            line(&unique("e"), BANK_A, 4_000_000),
        ],
        3,
    );

    rig.publish_list(&chunks).await?;

    assert_eq!(rig.instructions(BANK_A, 2, WAIT).await?.len(), 2);
    assert_eq!(rig.instructions(BANK_B, 1, WAIT).await?.len(), 1);
    // Read again, asking for one more than expected: nothing else arrives on either topic.
    let to_a = rig.instructions(BANK_A, 3, QUIET).await?;
    let to_b = rig.instructions(BANK_B, 2, QUIET).await?;
    assert_eq!(to_a.len(), 2);
    assert_eq!(to_b.len(), 1);
    for (bank, sent) in [(BANK_A, &to_a), (BANK_B, &to_b)] {
        for (key, instruction) in sent {
            assert_eq!(instruction.creditor_agent_bank_id, bank);
            assert_eq!(key, &instruction.end_to_end_id);
            assert!(instruction.end_to_end_id.len() <= 35);
            assert_eq!(instruction.creditor_name, "NGUYEN THI DAO");
        }
    }
    assert_eq!(to_b[0].1.amount_dong, 5_000_000);
    Ok(())
}

#[tokio::test]
async fn lists_whose_commit_fails_once_are_counted_once_when_applied_again() -> anyhow::Result<()> {
    let rig = start().await?;
    // Every list's first commit fails as a serialization conflict would, after the handler
    // ran: the consumer applies the message again, and the counts must not follow twice.
    // The sequence is not rolled back with the failed transaction, so the retry passes.
    for statement in [
        "CREATE SEQUENCE list_commits",
        "CREATE FUNCTION fail_first_list_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
             IF nextval('list_commits') % 2 = 1 THEN \
                 RAISE EXCEPTION 'list commit refused once' USING ERRCODE = '40001'; \
             END IF; \
             RETURN NULL; \
         END $$",
        "CREATE CONSTRAINT TRIGGER fail_first_list_commit AFTER UPDATE ON payment_lists \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_first_list_commit()",
    ] {
        sqlx::query(statement).execute(&rig.pool).await?;
    }
    let (paid, new) = (unique("e"), unique("e"));
    let first_list = unique("list");
    rig.publish_list(&rig.signed_list(&first_list, vec![line(&paid, BANK_A, 6_000_000)], 1))
        .await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 1).await?;
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
    rig.wait_processed(topics::PAYMENT_LISTS, 2).await?;
    let mut tampered = rig.signed_list(&unique("list"), vec![line(&unique("e"), BANK_B, 1_000)], 1);
    tampered[0].lines[0].amount_dong += 1;
    rig.publish_list(&tampered).await?;
    rig.wait_processed(topics::PAYMENT_LISTS, 3).await?;

    let commits: i64 = sqlx::query_scalar("SELECT last_value FROM list_commits")
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!(
        commits, 6,
        "each of the 3 lists failed its first commit once"
    );
    assert_eq!(rig.transfers_of_list(&first_list).await?, 1);
    assert_eq!(rig.transfers_of_list(&second_list).await?, 1);
    let metrics = rig.metrics().await?;
    let lines: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("transfer_"))
        .collect();
    for expected in [
        "transfer_lines_already_paid_total 1".to_owned(),
        r#"transfer_refused_lists_total{reason="totals_mismatch"} 1"#.to_owned(),
        format!(r#"transfer_instructions_sent_total{{bank="{BANK_A}"}} 2"#),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected} in {lines:#?}"
        );
    }
    Ok(())
}
