//! Eligibility: contribution history, the law, benefit decisions and their life.

mod claims;
pub mod cli;
mod completion;
mod config;
pub mod domain;
mod events;
mod events_out;
mod grpc;
pub mod import;
mod lifecycle;
pub mod store;
mod wire;

use std::sync::Arc;

use clock::SharedClock;
use contracts::eligibility::v1::eligibility_service_server::EligibilityServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use settings::SettingsError;
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

pub use config::{CompletionSettings, Config, VaultSettings};

/// What eligibility seals card and account numbers for; a value sealed by another service does
/// not open here.
pub const VAULT_PURPOSE: &[u8] = b"benefit.eligibility.destination-number.v1";

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "eligibility";

/// Eligibility's own migrations: people, contributions, claims, decisions and the rate data.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The eligibility service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, reads the rate book, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    config.base.refuse_development_secret(
        config.vault.key.expose() == VaultSettings::default().key.expose(),
        "ELIGIBILITY__VAULT__KEY",
    )?;
    // `Config::validate` refuses a bad vault key at load; this catches a config built in code.
    let vault = vault::Vault::from_hex(config.vault.key.expose(), VAULT_PURPOSE)
        .map_err(|error| SettingsError::invalid("vault.key", error.to_string()))?;
    let vault = Arc::new(vault);
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    // Numbers a migration moved out of clear text are sealed before anything is served.
    let sealed = store::destinations::seal_unsealed(&infrastructure.pool, &vault)
        .await
        .map_err(startup_error)?;
    if sealed > 0 {
        tracing::info!(sealed, "stored card and account numbers sealed");
    }
    // Read once at start; an operator's change through the API replaces it in this instance,
    // other instances read it on their next start.
    let book = store::rates::load_rate_book(&infrastructure.pool)
        .await
        .map_err(startup_error)?;
    let rates = store::rates::CurrentRates::new(book);
    let api = grpc::Api::new(
        infrastructure.pool.clone(),
        clock.clone(),
        rates.clone(),
        vault,
    );
    let consumer = infrastructure.consumer(
        &config.base.kafka,
        &events::TOPICS,
        events::Events::new(rates, clock.clone()),
    )?;
    let pool = infrastructure.pool.clone();
    let settings = config.completion.clone();
    let completion = serving::worker(move |stop| completion::run(pool, clock, settings, stop));
    let workload = Workload {
        routes: Routes::new(EligibilityServiceServer::new(api)),
        service_names: vec![<EligibilityServiceServer<grpc::Api> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![consumer, completion],
        relay: Some(infrastructure.relay(&config.base.relay)),
    };
    Ok(App::bind(&config.base.server, workload).await?)
}

fn startup_error(error: store::StoreError) -> StartupError {
    match error {
        store::StoreError::Database(error) => error.into(),
        other => sqlx::Error::Decode(Box::new(other)).into(),
    }
}

/// Applies the migrations and seals any numbers they moved, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let vault = vault::Vault::from_hex(config.vault.key.expose(), VAULT_PURPOSE)
        .map_err(|error| SettingsError::invalid("vault.key", error.to_string()))?;
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await?;
    // A migration may have moved numbers out of clear text: seal them now rather than at the
    // next start.
    store::destinations::seal_unsealed(&pool, &vault)
        .await
        .map_err(startup_error)?;
    Ok(())
}
