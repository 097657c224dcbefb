//! The simulator's configuration: defaults < `BANK_SIMULATOR_CONFIG` file <
//! `BANK_SIMULATOR__SECTION__KEY` environment variables.

use messaging::KafkaSettings;
use serde::{Deserialize, Serialize};
use serving::ServerSettings;
use settings::{SettingsError, Validate};
use telemetry::TelemetrySettings;

/// Everything the simulator reads at start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Ports of `/health` and `/metrics` (HTTP) and of gRPC health and reflection.
    pub server: ServerSettings,
    /// Brokers, consumer group and topic prefix.
    pub kafka: KafkaSettings,
    /// Log format and filter.
    pub telemetry: TelemetrySettings,
    /// Which banks it plays and how they answer.
    pub simulator: SimulatorSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerSettings::local(50059, 9109),
            kafka: KafkaSettings::local("bank-simulator"),
            telemetry: TelemetrySettings::default(),
            simulator: SimulatorSettings::default(),
        }
    }
}

/// Shares of each refusal, in thousandths of the instructions; the rest is credited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Shares {
    /// AC01, account number invalid.
    pub ac01_per_mille: u32,
    /// AC04, account closed.
    pub ac04_per_mille: u32,
    /// MD07, beneficiary deceased.
    pub md07_per_mille: u32,
    /// AB05, timeout.
    pub timeout_per_mille: u32,
}

/// The `[simulator]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SimulatorSettings {
    /// 6-digit NAPAS ids of the banks played; each reads its own topic.
    pub bank_ids: Vec<String>,
    /// Seed of the outcome draw.
    pub seed: u64,
    /// Wait before each answer, in milliseconds.
    pub delay_ms: u64,
    /// Shares of refusals.
    #[serde(flatten)]
    pub shares: Shares,
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            bank_ids: vec![
                "970436".into(),
                "970415".into(),
                "970418".into(),
                "970405".into(),
            ],
            seed: 2026,
            delay_ms: 200,
            shares: Shares {
                ac01_per_mille: 20,
                ac04_per_mille: 5,
                md07_per_mille: 1,
                timeout_per_mille: 10,
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.server.validate()?;
        self.kafka.validate()?;
        let settings = &self.simulator;
        if settings.bank_ids.is_empty() {
            return Err(SettingsError::invalid(
                "simulator.bank_ids",
                "must name a bank",
            ));
        }
        if let Some(bad) = settings
            .bank_ids
            .iter()
            .find(|id| id.len() != 6 || !id.bytes().all(|byte| byte.is_ascii_digit()))
        {
            return Err(SettingsError::invalid(
                "simulator.bank_ids",
                format!("{bad} is not a 6-digit NAPAS id"),
            ));
        }
        let shares = &settings.shares;
        let total = shares.ac01_per_mille
            + shares.ac04_per_mille
            + shares.md07_per_mille
            + shares.timeout_per_mille;
        if total > 1000 {
            return Err(SettingsError::invalid(
                "simulator",
                "refusal shares add up to more than 1000 per mille",
            ));
        }
        Ok(())
    }
}
