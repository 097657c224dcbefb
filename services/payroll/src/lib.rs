//! Payroll: entitlements, payment lists, anomaly holds and signatures.

mod config;
pub mod domain;
mod events;
mod grpc;
pub mod lists;
mod store;
pub mod wire;

use std::sync::Arc;

use clock::SharedClock;
use contracts::payroll::v1::payroll_service_server::PayrollServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use sqlx::migrate::Migrator;
use tonic::{server::NamedService, service::Routes};

pub use config::{Config, ListSettings};

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
    if config.lists.policy_key_seed.expose()
        == config::ListSettings::default().policy_key_seed.expose()
    {
        tracing::warn!(
            "payment lists are signed with the published development key; set \
             PAYROLL__LISTS__POLICY_KEY_SEED outside local development"
        );
    }
    let publisher = lists::Publisher {
        key: Arc::new(config.lists.policy_key()?),
        max_chunk_bytes: config.lists.max_chunk_bytes,
    };
    let infrastructure = Infrastructure::connect(&config.base, Some(&MIGRATOR)).await?;
    let api = grpc::Api::new(
        infrastructure.pool.clone(),
        clock.clone(),
        publisher.clone(),
    );
    let consumer = infrastructure.consumer(
        &config.base.kafka,
        &events::TOPICS,
        events::Events::new(clock.clone(), config.calendar()),
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

/// Applies the migrations and returns, for the `migrate` command.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let pool = database::connect(&config.base.database).await?;
    serving::migrate(&pool, Some(&MIGRATOR)).await
}
