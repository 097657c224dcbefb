//! Transfer: bank instructions, bank results, account correction and reconciliation.

mod config;
pub mod domain;
mod events;
mod grpc;
mod housekeeping;
pub mod iso20022;
mod policy;
mod results;
mod store;

use std::sync::Arc;

use clock::SharedClock;
use contracts::transfer::v1::transfer_service_server::TransferServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use settings::SettingsError;
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

/// What transfer seals card and account numbers for; a value sealed by another service does
/// not open here.
pub const VAULT_PURPOSE: &[u8] = b"benefit.transfer.destination-number.v1";

pub use config::{Config, DebtorSettings, ListSettings, RetrySettings, VaultSettings};

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "transfer";

/// Transfer's own migrations (the shared outbox and inbox come from `messaging`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The transfer service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    config.base.refuse_development_secret(
        config.vault.key.expose() == config::VaultSettings::default().key.expose(),
        "TRANSFER__VAULT__KEY",
    )?;
    // `Config::validate` refuses a bad vault key at load; this catches a config built in code.
    let policy = policy::Policy::from_config(&config, clock)
        .map_err(|error| SettingsError::invalid("vault.key", error.to_string()))?;
    let policy = Arc::new(policy);
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    let api = grpc::Api::new(infrastructure.pool.clone(), policy.clone());
    let consumer = infrastructure.consumer(
        &config.base.kafka,
        &events::TOPICS,
        events::Events::new(policy.clone()),
    )?;
    let pool = infrastructure.pool.clone();
    let worker_policy = policy.clone();
    let housekeeping = serving::worker(move |stop| housekeeping::run(pool, worker_policy, stop));
    let workload = Workload {
        routes: Routes::new(TransferServiceServer::new(api)),
        service_names: vec![<TransferServiceServer<grpc::Api> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![consumer, housekeeping],
        relay: Some(infrastructure.relay(&config.base.relay)),
    };
    Ok(App::bind(&config.base.server, workload).await?)
}

/// Applies the migrations and returns, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await
}
