//! The eligibility service binary: wiring only.

use eligibility::Config;
use serving::Command;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("import") {
        let config: Config = settings::load(eligibility::SERVICE)?;
        eligibility::cli::import(&config, &args[1..]).await?;
        return Ok(());
    }
    let command = Command::from_args().map_err(anyhow::Error::msg)?;
    let config: Config = settings::load(eligibility::SERVICE)?;
    let telemetry = telemetry::init(eligibility::SERVICE, &config.base.telemetry)?;
    tracing::info!(?config, "configuration loaded");

    let result = match command {
        Command::Migrate => eligibility::migrate(&config)
            .await
            .map_err(anyhow::Error::from),
        Command::Serve => serve(config).await,
    };
    if let Err(error) = &result {
        tracing::error!(error = %error, "eligibility stopped on an error");
    }
    telemetry.shutdown();
    result
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let clock = config.base.clock()?;
    let app = eligibility::build(config, clock).await?;
    app.run_until_stopped(serving::shutdown_on_signals())
        .await?;
    Ok(())
}
