//! Notice signing keys rotate and retire through the API: several keys verify at once, new
//! notices are signed with the newest key, and a retired key's notices are refused at the kiosk
//! with their own reason and nothing recorded.

mod support;

use contracts::checkin::v1::{
    GetNoticeRequest, InvalidReason, ListSigningKeysRequest, NoticeFormat, RetireSigningKeyRequest,
    RotateSigningKeyRequest, ScanOutcome, checkin_service_client,
};
use contracts::common::v1::{Agency, Officer, SigningKey, SigningKeyState};
use support::{Harness, RETIRED_KEY_ID, SIGNING_KEY_ID, SIGNING_SEED, morning_of, officer, signer};
use tonic::Code;
use tonic::transport::Channel;

type Client = checkin_service_client::CheckinServiceClient<Channel>;

fn operator() -> Officer {
    Officer {
        officer_id: "operator-1".into(),
        agency: Agency::Operator as i32,
    }
}

async fn rotate(client: &Client) -> Result<SigningKey, tonic::Status> {
    client
        .clone()
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: Some(operator()),
        })
        .await?
        .into_inner()
        .key
        .ok_or_else(|| tonic::Status::internal("rotation returned no key"))
}

async fn retire(client: &Client, key_id: &str) -> Result<SigningKey, tonic::Status> {
    client
        .clone()
        .retire_signing_key(RetireSigningKeyRequest {
            key_id: key_id.into(),
            reason: "end of life".into(),
            officer: Some(operator()),
        })
        .await?
        .into_inner()
        .key
        .ok_or_else(|| tonic::Status::internal("retirement returned no key"))
}

async fn states(client: &Client) -> anyhow::Result<Vec<(String, SigningKeyState)>> {
    let keys = client
        .clone()
        .list_signing_keys(ListSigningKeysRequest {})
        .await?
        .into_inner()
        .keys;
    Ok(keys
        .into_iter()
        .map(|key| {
            let state = key.state();
            (key.key_id, state)
        })
        .collect())
}

#[tokio::test]
async fn a_rotated_key_signs_new_notices_while_the_old_key_still_verifies_until_it_is_retired()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let old_token_1 = harness.activate("decision-1").await?;
    let old_token_2 = harness.activate("decision-2").await?;

    let rotated = rotate(&harness.client).await?;
    let new_token = harness.activate("decision-3").await?;

    // Both keys verify: the old notice and the new one are accepted.
    assert_eq!(rotated.state(), SigningKeyState::Active);
    assert_eq!(rotated.public_key.len(), 32);
    let mut expected = vec![
        (RETIRED_KEY_ID.to_owned(), SigningKeyState::Retired),
        (SIGNING_KEY_ID.to_owned(), SigningKeyState::VerifyOnly),
        (rotated.key_id.clone(), SigningKeyState::Active),
    ];
    expected.sort();
    let mut listed = states(&harness.client).await?;
    listed.sort();
    assert_eq!(listed, expected);
    let new_notice = harness
        .client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: "decision-3".into(),
            format: NoticeFormat::Png as i32,
            officer: Some(officer()),
        })
        .await?
        .into_inner();
    assert_eq!(new_notice.key_id, rotated.key_id);
    assert_ne!(new_token, old_token_1);
    let old_accepted = harness.scan(&credential, &old_token_1).await?;
    let new_accepted = harness.scan(&credential, &new_token).await?;
    assert_eq!(old_accepted.outcome(), ScanOutcome::Accepted);
    assert_eq!(new_accepted.outcome(), ScanOutcome::Accepted);

    // Retiring the old key refuses what it signed, by name, and records nothing.
    let retired = retire(&harness.client, SIGNING_KEY_ID).await?;
    let checkins = harness.checkin_count().await?;
    let outbox = harness.outbox_count().await?;
    let refused = harness.scan(&credential, &old_token_2).await?;

    assert_eq!(retired.state(), SigningKeyState::Retired);
    assert!(retired.retired_at.is_some());
    assert_eq!(refused.outcome(), ScanOutcome::Invalid);
    assert_eq!(refused.invalid_reason(), InvalidReason::RetiredKey);
    assert_eq!(harness.checkin_count().await?, checkins);
    assert_eq!(harness.outbox_count().await?, outbox);
    assert_eq!(harness.checkin_events(3).await?.len(), 2);
    harness.stop().await
}

#[tokio::test]
async fn printing_a_notice_whose_key_was_retired_signs_it_again_with_the_newest_key()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let old_token = harness.activate("decision-1").await?;
    let rotated = rotate(&harness.client).await?;
    retire(&harness.client, SIGNING_KEY_ID).await?;

    let reprinted = harness
        .client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: "decision-1".into(),
            format: NoticeFormat::Pdf as i32,
            officer: Some(officer()),
        })
        .await?
        .into_inner();
    let new_token = harness
        .notice_token("decision-1")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the notice vanished"))?;

    assert_eq!(reprinted.key_id, rotated.key_id);
    assert_eq!(
        reprinted.notice_id,
        harness.notice_id("decision-1").await?.to_string()
    );
    let old = harness.scan(&credential, &old_token).await?;
    assert_eq!(old.invalid_reason(), InvalidReason::RetiredKey);
    let new = harness.scan(&credential, &new_token).await?;
    assert_eq!(new.outcome(), ScanOutcome::Accepted);
    harness.stop().await
}

#[tokio::test]
async fn the_key_that_signs_new_notices_cannot_be_retired_before_a_rotation() -> anyhow::Result<()>
{
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;

    let refused = retire(&harness.client, SIGNING_KEY_ID).await.err();

    assert_eq!(
        refused.map(|status| status.code()),
        Some(Code::FailedPrecondition)
    );
    assert_eq!(
        harness.scan(&credential, &token).await?.outcome(),
        ScanOutcome::Accepted
    );
    harness.stop().await
}

#[tokio::test]
async fn rotation_and_retirement_refuse_bad_requests_and_change_nothing() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let before = states(&harness.client).await?;

    let by_job_centre = harness
        .client
        .clone()
        .rotate_signing_key(RotateSigningKeyRequest {
            officer: Some(officer()),
        })
        .await
        .err()
        .map(|status| status.code());
    let unknown = retire(&harness.client, "no-such-key")
        .await
        .err()
        .map(|status| status.code());
    let malformed = harness
        .client
        .clone()
        .retire_signing_key(RetireSigningKeyRequest {
            key_id: "not a key id".into(),
            reason: "end of life".into(),
            officer: Some(operator()),
        })
        .await
        .err();
    let without_reason = harness
        .client
        .clone()
        .retire_signing_key(RetireSigningKeyRequest {
            key_id: RETIRED_KEY_ID.into(),
            reason: " ".into(),
            officer: Some(operator()),
        })
        .await
        .err();

    assert_eq!(by_job_centre, Some(Code::PermissionDenied));
    assert_eq!(unknown, Some(Code::NotFound));
    let malformed = malformed.ok_or_else(|| anyhow::anyhow!("a malformed key id was accepted"))?;
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert!(
        malformed.message().contains("key_id"),
        "{}",
        malformed.message()
    );
    let without_reason = without_reason
        .ok_or_else(|| anyhow::anyhow!("a retirement without reason was accepted"))?;
    assert_eq!(without_reason.code(), Code::InvalidArgument);
    assert!(
        without_reason.message().contains("reason"),
        "{}",
        without_reason.message()
    );
    assert_eq!(states(&harness.client).await?, before);
    harness.stop().await
}

#[tokio::test]
async fn a_rotated_key_survives_a_restart_and_still_signs() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let rotated = rotate(&harness.client).await?;

    harness.restart().await?;
    let token = harness.activate("decision-1").await?;

    // The private half is derived again from the configured secret: the same public key.
    let master = signer(SIGNING_KEY_ID, &SIGNING_SEED)?;
    let derived = master.derive(checkin::domain::ids::KeyId::parse(&rotated.key_id)?);
    assert_eq!(derived.public_key().to_bytes().to_vec(), rotated.public_key);
    let listed = states(&harness.client).await?;
    assert!(listed.contains(&(rotated.key_id.clone(), SigningKeyState::Active)));
    assert_eq!(
        harness.scan(&credential, &token).await?.outcome(),
        ScanOutcome::Accepted
    );
    harness.stop().await
}
