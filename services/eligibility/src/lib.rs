//! Eligibility: contribution history, the law, benefit decisions and their life.

mod config;
pub mod domain;
mod events;
mod grpc;

use clock::SharedClock;
use contracts::eligibility::v1::eligibility_service_server::EligibilityServiceServer;
use serving::{Infrastructure, StartupError, Workload};
use tonic::{server::NamedService, service::Routes};

pub use config::Config;

/// The service's name: its database role and schema, consumer group and config prefix.
pub const SERVICE: &str = "eligibility";

/// The eligibility service, built and bound, ready to run.
pub type App = serving::App;

/// Connects, migrates, binds the ports and assembles the workers.
pub async fn build(config: Config, clock: SharedClock) -> Result<App, StartupError> {
    let infrastructure = Infrastructure::connect(&config.base, None).await?;
    let api = grpc::Api::new(infrastructure.pool.clone(), clock);
    let consumer = infrastructure.consumer(&config.base.kafka, &events::TOPICS, events::Events)?;
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
    serving::migrate(&pool, None).await
}
