//! Check-in: signed notices, kiosk scans and the kiosk page.

mod announce;
mod config;
mod convert;
pub mod domain;
mod events;
mod grpc;
mod kiosk;
mod missed;
mod notice;
mod scan;
mod store;

use std::sync::Arc;

use clock::SharedClock;
use contracts::checkin::v1::checkin_service_server::CheckinServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use settings::SettingsError;
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

pub use config::{AcceptedKey, Config, MissedSettings, NoticeSettings};
pub use grpc::KIOSK_CREDENTIAL_HEADER;
pub use kiosk::KioskPageSettings;

use crate::notice::keys::KeyError;

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "checkin";

/// The service's own tables.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The checkin service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    let (signer, ring) = config.notices.keys()?;
    config.base.refuse_development_secret(
        config.notices.signs_with_development_key(),
        "CHECKIN__NOTICES__SIGNING_KEY_SEED",
    )?;
    if config.kiosk_page.enabled {
        config.base.refuse_development_secret(
            config.kiosk_page.has_development_credential(),
            "CHECKIN__KIOSK_PAGE__CREDENTIAL",
        )?;
    }
    let (signer, ring) = (Arc::new(signer), Arc::new(ring));
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    let api = Arc::new(grpc::Api::new(
        infrastructure.pool.clone(),
        clock.clone(),
        signer.clone(),
        ring,
    ));
    api.load_keys().await.map_err(|error| match error {
        KeyError::Database(error) => StartupError::Database(error),
        other => StartupError::Config(SettingsError::invalid("notices", other.to_string())),
    })?;
    let events = events::Events::new(
        signer,
        clock.clone(),
        config.notices.valid_days_after_last_window,
    );
    let consumer = infrastructure.consumer(&config.base.kafka, &events::TOPICS, events)?;
    let pool = infrastructure.pool.clone();
    let settings = config.missed.clone();
    let missed = serving::worker(move |stop| missed::run(pool, clock, settings, stop));
    let mut workers = vec![consumer, missed];
    if let Some(listener) = kiosk::bind(&config.kiosk_page).await? {
        workers.push(kiosk::worker(listener, api.clone(), &config.kiosk_page));
    }
    let workload = Workload {
        routes: Routes::new(CheckinServiceServer::from_arc(api)),
        service_names: vec![<CheckinServiceServer<grpc::Api> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: workers,
        relay: Some(infrastructure.relay(&config.base.relay)),
    };
    Ok(App::bind(&config.base.server, workload).await?)
}

/// Applies the migrations and returns, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await
}
