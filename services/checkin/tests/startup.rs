//! What checkin checks before it serves: published development secrets are refused in
//! production, and the configured signing keys are registered before the first request.

mod support;

use checkin::{Config, KioskPageSettings};
use chrono::Utc;
use clock::ManualClock;
use serving::{Deployment, StartupError};
use support::{Harness, RETIRED_KEY_ID, SIGNING_KEY_ID, morning_of};

async fn build_error(config: Config) -> String {
    let clock = std::sync::Arc::new(ManualClock::starting_at(Utc::now()));
    match checkin::build(config, clock).await {
        Ok(_) => "built".to_owned(),
        Err(error @ StartupError::Config(_)) => error.to_string(),
        Err(other) => format!("not a configuration error: {other}"),
    }
}

#[tokio::test]
async fn production_refuses_the_published_development_signing_seed() {
    let mut config = Config::default();
    config.base.deployment = Deployment::Production;

    let error = build_error(config).await;

    assert_eq!(
        error,
        "invalid configuration: CHECKIN__NOTICES__SIGNING_KEY_SEED: is still the published \
         development value; production needs its own"
    );
}

#[tokio::test]
async fn production_refuses_the_published_kiosk_page_credential() {
    let mut config = Config::default();
    config.base.deployment = Deployment::Production;
    config.notices.signing_key_seed = settings::Secret::new("ab".repeat(32));
    config.kiosk_page = KioskPageSettings {
        enabled: true,
        port: 0,
        credential: settings::Secret::new("LOCAL-KIOSK-PAGE-DEVELOPMENT-ONLY"),
        ..KioskPageSettings::default()
    };

    let error = build_error(config).await;

    assert_eq!(
        error,
        "invalid configuration: CHECKIN__KIOSK_PAGE__CREDENTIAL: is still the published \
         development value; production needs its own"
    );
}

#[tokio::test]
async fn production_starts_on_its_own_signing_seed() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    harness.config.base.deployment = Deployment::Production;

    harness.restart().await?;

    let (_, credential) = harness.register_kiosk().await?;
    assert!(!credential.is_empty());
    harness.stop().await
}

#[tokio::test]
async fn the_configured_signing_keys_are_registered_before_the_first_request() -> anyhow::Result<()>
{
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let mut conn = harness.admin().await?;

    let stored: Vec<(String, bool)> = sqlx::query_as(
        "SELECT key_id, retired_at IS NOT NULL FROM checkin.signing_keys ORDER BY position",
    )
    .fetch_all(&mut conn)
    .await?;

    assert_eq!(
        stored,
        vec![
            (RETIRED_KEY_ID.to_owned(), true),
            (SIGNING_KEY_ID.to_owned(), false)
        ]
    );
    harness.stop().await
}
