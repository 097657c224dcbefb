//! Check-in: signed notices, kiosk scans and the kiosk page.

mod announce;
mod config;
mod convert;
pub mod domain;
mod events;
mod grpc;
mod missed;
mod notice;
mod store;

use std::sync::Arc;

use clock::SharedClock;
use contracts::checkin::v1::checkin_service_server::CheckinServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

pub use config::{AcceptedKey, Config, MissedSettings, NoticeSettings};
pub use grpc::KIOSK_CREDENTIAL_HEADER;

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "checkin";

/// The service's own tables.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The checkin service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    let (signer, ring) = config.notices.keys()?;
    if config.notices.signing_key_seed.expose()
        == config::NoticeSettings::default().signing_key_seed.expose()
    {
        tracing::warn!(
            "notices are signed with the published development key; set \
             CHECKIN__NOTICES__SIGNING_KEY_SEED outside local development"
        );
    }
    let (signer, ring) = (Arc::new(signer), Arc::new(ring));
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    let api = grpc::Api::new(
        infrastructure.pool.clone(),
        clock.clone(),
        signer.clone(),
        ring,
    );
    let events = events::Events::new(
        signer,
        clock.clone(),
        config.notices.valid_days_after_last_window,
    );
    let consumer = infrastructure.consumer(&config.base.kafka, &events::TOPICS, events)?;
    let pool = infrastructure.pool.clone();
    let settings = config.missed.clone();
    let missed = serving::worker(move |stop| missed::run(pool, clock, settings, stop));
    let workload = Workload {
        routes: Routes::new(CheckinServiceServer::new(api)),
        service_names: vec![<CheckinServiceServer<grpc::Api> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![consumer, missed],
        relay: Some(infrastructure.relay(&config.base.relay)),
    };
    Ok(App::bind(&config.base.server, workload).await?)
}

/// Applies the migrations and returns, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await
}
