//! Payroll: entitlements, payment lists, anomaly holds and signatures.

mod config;
pub mod domain;
mod events;
mod grpc;
pub mod lists;
pub mod sealing;
mod secrets;
mod store;
pub mod wire;

use std::sync::Arc;

use clock::SharedClock;
use contracts::payroll::v1::payroll_service_server::PayrollServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use settings::SettingsError;
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

pub use config::{Config, ListSettings, VaultSettings};

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "payroll";

/// Payroll's own tables.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The payroll service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    // A bad schedule or key is refused before anything connects.
    let schedule = config.lists.schedule()?;
    // A secret published in this repository is fine on a laptop, never in production.
    config.base.refuse_development_secret(
        config.lists.policy_key_seed.expose()
            == config::ListSettings::default().policy_key_seed.expose(),
        "PAYROLL__LISTS__POLICY_KEY_SEED",
    )?;
    config.base.refuse_development_secret(
        config.vault.key.expose() == config::VaultSettings::default().key.expose(),
        "PAYROLL__VAULT__KEY",
    )?;
    let first_policy_key = config.lists.policy_key()?;
    let sealer = Arc::new(config.vault.sealer()?);
    let publisher = lists::Publisher {
        sealer: sealer.clone(),
        max_chunk_bytes: config.lists.max_chunk_bytes,
    };
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    let pool = &infrastructure.pool;
    if secrets::register_first_policy_key(pool, &sealer, &first_policy_key, clock.now())
        .await
        .map_err(startup_error)?
    {
        tracing::info!(
            key_id = first_policy_key.key_id(),
            "first policy signing key registered"
        );
    }
    // A vault key other than the one the keys were sealed with is found now, not at the cut.
    let mut conn = pool.acquire().await?;
    secrets::active_key(&mut conn, &sealer, None)
        .await
        .map_err(startup_error)?;
    drop(conn);
    let sealed = secrets::seal_clear_numbers(pool, &sealer)
        .await
        .map_err(startup_error)?;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "card and account numbers stored in clear were sealed"
        );
    }
    let api = grpc::Api::new(pool.clone(), clock.clone(), publisher.clone());
    let consumer = infrastructure.consumer(
        &config.base.kafka,
        &events::TOPICS,
        events::Events::new(clock.clone(), config.calendar(), sealer),
    )?;
    let cutter = lists::cutter(
        infrastructure.pool.clone(),
        clock,
        publisher,
        schedule,
        &config.lists,
    );
    let workload = Workload {
        routes: Routes::new(PayrollServiceServer::new(api)),
        service_names: vec![<PayrollServiceServer<grpc::Api> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![consumer, cutter],
        relay: Some(infrastructure.relay(&config.base.relay)),
    };
    Ok(App::bind(&config.base.server, workload).await?)
}

/// A key or number that cannot be sealed or opened at start means the vault key is not the one
/// they were sealed with.
fn startup_error(error: secrets::KeyError) -> StartupError {
    match error {
        secrets::KeyError::Database(error) => StartupError::Database(error),
        other => StartupError::Config(SettingsError::invalid(
            "vault.key",
            format!("does not open what is stored: {other}"),
        )),
    }
}

/// Applies the migrations and returns, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await
}
