//! A production deployment never runs on a secret published in this repository.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use clock::ManualClock;
use serving::Deployment;

#[tokio::test]
async fn in_production_the_published_development_vault_key_stops_the_start() {
    let mut config = transfer::Config::default();
    config.base.deployment = Deployment::Production;
    let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap());

    let refused = transfer::build(config, Arc::new(clock)).await.err();

    assert_eq!(
        refused.map(|error| error.to_string()).as_deref(),
        Some(
            "invalid configuration: TRANSFER__VAULT__KEY: is still the published development \
             value; production needs its own"
        )
    );
}
