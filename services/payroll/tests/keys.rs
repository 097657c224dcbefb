//! List signing keys: the policy key rotates and retires, officers sign what they approve with
//! their own keys, a retired key never signs, and no private half ever leaves the service.

mod support;

use std::time::Duration;

use contracts::{
    common::v1::SigningKeyState,
    payroll::v1::{
        ListSigningKeysRequest, ReleaseHeldLineRequest, RetireSigningKeyRequest,
        RotateSigningKeyRequest,
    },
};
use support::{Payroll, account, activated, by_list, checked_in, officer, start, verify_list};

/// Activates `decision`, checks its first month in and cuts; returns the published list's
/// signing key id.
async fn cut_one_list(payroll: &Payroll, decision: &str, number: &str) -> anyhow::Result<String> {
    payroll
        .decide(&activated(
            decision,
            &format!("p-{decision}"),
            account(number),
        ))
        .await?;
    payroll.check_in(&checked_in(decision, 1)).await?;
    payroll
        .wait_for_count(
            &format!(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = '{decision}' \
                 AND state = 'pending'"
            ),
            1,
        )
        .await?;
    payroll.pass_cut_interval();
    payroll
        .wait_for_count(
            &format!(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = '{decision}' \
                 AND state = 'listed'"
            ),
            1,
        )
        .await?;
    let mut db = payroll.db().await?;
    let key_id = sqlx::query_scalar(
        "SELECT l.key_id FROM payroll.payment_lists l \
         JOIN payroll.entitlements e ON e.list_id = l.list_id WHERE e.decision_id = $1",
    )
    .bind(decision)
    .fetch_one(&mut db)
    .await?;
    Ok(key_id)
}

#[tokio::test]
async fn a_rotated_policy_key_signs_the_next_list_and_the_old_one_only_verifies()
-> anyhow::Result<()> {
    let payroll = start().await?;
    let first = cut_one_list(&payroll, "d-k1", "0011009000001").await?;
    assert_eq!(first, "payroll-local-1");
    let mut client = payroll.client().await?;

    let rotated = client
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: Some(officer("key-admin")),
            signer_officer_id: String::new(),
        })
        .await?
        .into_inner()
        .key
        .unwrap();
    let second = cut_one_list(&payroll, "d-k2", "0011009000002").await?;

    assert!(rotated.key_id.starts_with("policy-"), "{}", rotated.key_id);
    assert_eq!(rotated.state, SigningKeyState::Active as i32);
    assert_eq!(second, rotated.key_id);
    let keys = client
        .list_signing_keys(ListSigningKeysRequest {})
        .await?
        .into_inner()
        .keys;
    let states: Vec<(String, i32)> = keys.iter().map(|k| (k.key_id.clone(), k.state)).collect();
    assert_eq!(
        states,
        vec![
            (first.clone(), SigningKeyState::VerifyOnly as i32),
            (rotated.key_id.clone(), SigningKeyState::Active as i32),
        ]
    );
    // Both lists verify against the keys an operator copies from the list.
    let chunks = payroll.published_chunks(2, Duration::from_secs(5)).await?;
    let trusted = payroll.listed_keys().await?;
    let lists = by_list(chunks);
    assert_eq!(lists.len(), 2);
    for list in lists.values() {
        verify_list(list, &trusted)?;
    }
    payroll.stop().await
}

#[tokio::test]
async fn the_active_policy_key_cannot_be_retired_and_a_retired_key_is_listed_as_such()
-> anyhow::Result<()> {
    let payroll = start().await?;
    let mut client = payroll.client().await?;
    let retire = |key_id: &str| RetireSigningKeyRequest {
        key_id: key_id.into(),
        reason: "end of life".into(),
        officer: Some(officer("key-admin")),
    };

    let refused = client
        .retire_signing_key(retire("payroll-local-1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    let unknown = client
        .retire_signing_key(retire("no-such-key"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let no_reason = client
        .retire_signing_key(RetireSigningKeyRequest {
            reason: " ".into(),
            ..retire("payroll-local-1")
        })
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), tonic::Code::InvalidArgument);

    client
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: Some(officer("key-admin")),
            signer_officer_id: String::new(),
        })
        .await?;
    let retired = client
        .retire_signing_key(retire("payroll-local-1"))
        .await?
        .into_inner()
        .key
        .unwrap();

    assert_eq!(retired.state, SigningKeyState::Retired as i32);
    assert!(retired.retired_at.is_some());
    let listed = client
        .list_signing_keys(ListSigningKeysRequest {})
        .await?
        .into_inner()
        .keys;
    assert_eq!(listed[0].key_id, "payroll-local-1");
    assert_eq!(listed[0].state, SigningKeyState::Retired as i32);
    assert_eq!(
        listed[0].public_key,
        payroll.key.verifying_key().to_bytes().to_vec(),
        "only the public half is listed"
    );
    // A new list is signed by the key that replaced it.
    let key_id = cut_one_list(&payroll, "d-k3", "0011009000003").await?;
    assert_eq!(key_id, listed[1].key_id);
    payroll.stop().await
}

#[tokio::test]
async fn private_keys_are_stored_sealed_and_never_returned() -> anyhow::Result<()> {
    let payroll = start().await?;
    let officer_key = payroll.register_officer_key("reviewer").await?;
    let seed = payroll.key.seed();

    let mut db = payroll.db().await?;
    let stored: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT key_id, seed_sealed FROM payroll.signing_keys ORDER BY key_id")
            .fetch_all(&mut db)
            .await?;
    assert_eq!(stored.len(), 2);
    let (_, configured) = stored
        .iter()
        .find(|(key_id, _)| key_id == "payroll-local-1")
        .unwrap();
    assert!(!configured.windows(32).any(|window| window == seed));
    assert!(
        !configured
            .windows(64)
            .any(|window| window == hex::encode(seed).as_bytes())
    );
    assert_eq!(officer_key.public_key.len(), 32);
    assert!(officer_key.key_id.starts_with("officer-reviewer-"));
    payroll.stop().await
}

/// A line held because its decision was terminated between the check-in and the cut.
async fn held_line(payroll: &Payroll) -> anyhow::Result<String> {
    payroll
        .decide(&activated("d-held", "p-held", account("0011009000009")))
        .await?;
    payroll.check_in(&checked_in("d-held", 2)).await?;
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'pending'",
            1,
        )
        .await?;
    payroll
        .decide(&support::terminated("d-held", 2, (2026, 4, 20)))
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
            "SELECT count(*) FROM payroll.entitlements WHERE state = 'held'",
            1,
        )
        .await?;
    let mut db = payroll.db().await?;
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT entitlement_id FROM payroll.entitlements WHERE state = 'held'")
            .fetch_one(&mut db)
            .await?;
    Ok(id.to_string())
}

#[tokio::test]
async fn an_officer_without_an_active_key_cannot_release_and_a_retired_key_never_signs()
-> anyhow::Result<()> {
    let payroll = start().await?;
    let entitlement_id = held_line(&payroll).await?;
    let mut client = payroll.client().await?;
    let release = || ReleaseHeldLineRequest {
        entitlement_id: entitlement_id.clone(),
        reason: "termination takes effect after the month started".into(),
        officer: Some(officer("reviewer")),
    };

    let no_key = client.release_held_line(release()).await.unwrap_err();
    assert_eq!(no_key.code(), tonic::Code::FailedPrecondition);
    let retired = payroll.register_officer_key("reviewer").await?;
    client
        .retire_signing_key(RetireSigningKeyRequest {
            key_id: retired.key_id.clone(),
            reason: "officer's card lost".into(),
            officer: Some(officer("key-admin")),
        })
        .await?;
    let retired_key = client.release_held_line(release()).await.unwrap_err();
    assert_eq!(retired_key.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.entitlements WHERE state = 'held'")
            .await?,
        1,
        "a refused release changes nothing"
    );

    let fresh = payroll.register_officer_key("reviewer").await?;
    let released = client.release_held_line(release()).await?.into_inner();

    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let lists = by_list(chunks);
    let list = &lists[&released.list_id];
    let signature = list[0].signature.clone().unwrap();
    assert_eq!(signature.key_id, fresh.key_id);
    assert_ne!(signature.key_id, retired.key_id);
    verify_list(list, &payroll.listed_keys().await?)?;
    payroll.stop().await
}

#[tokio::test]
async fn only_a_social_security_officer_rotates_keys_and_signer_ids_are_checked()
-> anyhow::Result<()> {
    let payroll = start().await?;
    let mut client = payroll.client().await?;

    let anonymous = client
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: None,
            signer_officer_id: String::new(),
        })
        .await
        .unwrap_err();
    let spaced = client
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: Some(officer("key-admin")),
            signer_officer_id: "two words".into(),
        })
        .await
        .unwrap_err();
    let job_centre = client
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: Some(contracts::common::v1::Officer {
                officer_id: "jc-1".into(),
                agency: contracts::common::v1::Agency::JobCentre as i32,
            }),
            signer_officer_id: String::new(),
        })
        .await
        .unwrap_err();

    assert_eq!(anonymous.code(), tonic::Code::InvalidArgument);
    assert_eq!(spaced.code(), tonic::Code::InvalidArgument);
    assert_eq!(job_centre.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.signing_keys")
            .await?,
        1
    );
    payroll.stop().await
}
