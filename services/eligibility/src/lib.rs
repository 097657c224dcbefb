//! Eligibility: contribution history, the law, benefit decisions and their life.

mod claims;
pub mod cli;
mod config;
pub mod domain;
mod events;
mod events_out;
mod grpc;
pub mod import;
mod lifecycle;
pub mod store;
mod wire;

use clock::SharedClock;
use contracts::eligibility::v1::eligibility_service_server::EligibilityServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

pub use config::Config;

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "eligibility";

/// Eligibility's own migrations: people, contributions, claims, decisions and the rate data.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The eligibility service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, reads the rate book, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    // Read once at start; an operator's change through the API replaces it in this instance,
    // other instances read it on their next start.
    let book = store::rates::load_rate_book(&infrastructure.pool)
        .await
        .map_err(|error| match error {
            store::StoreError::Database(error) => error,
            corrupt => sqlx::Error::Decode(Box::new(corrupt)),
        })?;
    let rates = store::rates::CurrentRates::new(book);
    let api = grpc::Api::new(infrastructure.pool.clone(), clock.clone(), rates.clone());
    let consumer = infrastructure.consumer(
        &config.base.kafka,
        &events::TOPICS,
        events::Events::new(rates, clock),
    )?;
    let workload = Workload {
        routes: Routes::new(EligibilityServiceServer::new(api)),
        service_names: vec![<EligibilityServiceServer<grpc::Api> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![consumer],
        relay: Some(infrastructure.relay(&config.base.relay)),
    };
    Ok(App::bind(&config.base.server, workload).await?)
}

/// Applies the migrations and returns, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await
}
