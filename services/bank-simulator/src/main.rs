//! The bank simulator binary: wiring only.
//!
//! No argument: answer the configured banks' Kafka topics until stopped.
//! `answer-file <pain.001 file> <pain.002 file>`: answer one payment file and exit.

use anyhow::Context;
use bank_simulator::{Config, files};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = settings::load(bank_simulator::SERVICE)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, input, output] = args.as_slice()
        && command == "answer-file"
    {
        return answer_file(&config, input, output);
    }
    anyhow::ensure!(
        args.is_empty(),
        "usage: bank-simulator [answer-file <pain.001 file> <pain.002 file>]"
    );
    let telemetry = telemetry::init(bank_simulator::SERVICE, &config.telemetry)?;
    tracing::info!(?config, "configuration loaded");
    let result = serve(&config).await;
    if let Err(error) = &result {
        tracing::error!(%error, "bank simulator stopped on an error");
    }
    telemetry.shutdown();
    result
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let app = bank_simulator::build(config).await?;
    app.run_until_stopped(serving::shutdown_on_signals())
        .await?;
    Ok(())
}

fn answer_file(config: &Config, input: &str, output: &str) -> anyhow::Result<()> {
    let xml = std::fs::read_to_string(input).with_context(|| format!("reading {input}"))?;
    // The bank is outside the system, so its report carries the wall-clock time.
    let now = chrono::Utc::now();
    let report_id = format!("SIM{}", now.format("%Y%m%d%H%M%S%f"));
    let created_at = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let report = files::answer_pain_001(
        &xml,
        config.simulator.seed,
        &config.simulator.shares,
        &report_id,
        &created_at,
    )?;
    std::fs::write(output, report).with_context(|| format!("writing {output}"))?;
    Ok(())
}
