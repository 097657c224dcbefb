//! The checkin service binary: wiring only.

use checkin::Config;
use serving::Command;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Command::from_args().map_err(anyhow::Error::msg)?;
    let config: Config = settings::load(checkin::SERVICE)?;
    let telemetry = telemetry::init(checkin::SERVICE, &config.base.telemetry)?;
    tracing::info!(?config, "configuration loaded");

    let result = match command {
        Command::Migrate => checkin::migrate(&config).await.map_err(anyhow::Error::from),
        Command::Serve => serve(config).await,
    };
    if let Err(error) = &result {
        tracing::error!(error = %error, "checkin stopped on an error");
    }
    telemetry.shutdown();
    result
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let clock = config.base.clock()?;
    let app = checkin::build(config, clock).await?;
    app.run_until_stopped(serving::shutdown_on_signals())
        .await?;
    Ok(())
}
