//! The payroll service binary: wiring only.

use payroll::Config;
use serving::Command;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Command::from_args().map_err(anyhow::Error::msg)?;
    let config: Config = settings::load(payroll::SERVICE)?;
    let telemetry = telemetry::init(payroll::SERVICE, &config.base.telemetry)?;
    tracing::info!(?config, "configuration loaded");

    let result = match command {
        Command::Migrate => payroll::migrate(&config).await.map_err(anyhow::Error::from),
        Command::Serve => serve(config).await,
    };
    if let Err(error) = &result {
        tracing::error!(error = %error, "payroll stopped on an error");
    }
    telemetry.shutdown();
    result
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let clock = config.base.clock()?;
    let app = payroll::build(config, clock).await?;
    app.run_until_stopped(serving::shutdown_on_signals())
        .await?;
    Ok(())
}
