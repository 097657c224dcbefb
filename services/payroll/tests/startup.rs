//! A production deployment never runs on a secret published in this repository.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use clock::ManualClock;
use serving::Deployment;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_at(
        Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap(),
    ))
}

async fn refusal(config: payroll::Config) -> Option<String> {
    payroll::build(config, clock())
        .await
        .err()
        .map(|error| error.to_string())
}

#[tokio::test]
async fn in_production_the_published_development_policy_key_stops_the_start() {
    let mut config = payroll::Config::default();
    config.base.deployment = Deployment::Production;

    assert_eq!(
        refusal(config).await.as_deref(),
        Some(
            "invalid configuration: PAYROLL__LISTS__POLICY_KEY_SEED: is still the published \
             development value; production needs its own"
        )
    );
}

#[tokio::test]
async fn in_production_the_published_development_vault_key_stops_the_start() {
    let mut config = payroll::Config::default();
    config.base.deployment = Deployment::Production;
    config.lists.policy_key_seed = settings::Secret::new("5a".repeat(32));

    assert_eq!(
        refusal(config).await.as_deref(),
        Some(
            "invalid configuration: PAYROLL__VAULT__KEY: is still the published development \
             value; production needs its own"
        )
    );
}
