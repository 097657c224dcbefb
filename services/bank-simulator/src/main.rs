//! The bank simulator binary: wiring only.

use bank_simulator::{Config, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = settings::load(bank_simulator::SERVICE)?;
    let telemetry = telemetry::init(bank_simulator::SERVICE, &config.telemetry)?;
    tracing::info!(?config, "configuration loaded");
    let simulator = Simulator::connect(&config.kafka, config.simulator.clone())?;
    simulator.run(serving::shutdown_on_signals()).await;
    telemetry.shutdown();
    Ok(())
}
