//! The eligibility service's configuration.

use serde::{Deserialize, Serialize};
use serving::BaseConfig;
use settings::{Secret, SettingsError, Validate};
use vault::Vault;

/// Everything eligibility reads at start; see the README for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Ports, database, Kafka, relay and telemetry sections.
    #[serde(flatten)]
    pub base: BaseConfig,
    /// The key sealing card and account numbers at rest.
    pub vault: VaultSettings,
    /// The worker that completes decisions whose last benefit month has passed.
    pub completion: CompletionSettings,
}

/// The `[vault]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct VaultSettings {
    /// AES-256 key sealing card and account numbers, 64 hex digits. The default is for the
    /// local stack only: set a real secret in production.
    pub key: Secret,
}

impl Default for VaultSettings {
    fn default() -> Self {
        Self {
            key: Secret::new("6c6f63616c2d656c69676962696c6974792d6f6e6c792d6e6f742d7265616c21"),
        }
    }
}

/// The `[completion]` section: how often completed benefit periods are looked for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CompletionSettings {
    /// Pause between passes, in milliseconds.
    pub poll_interval_ms: u64,
    /// Decisions completed per transaction.
    pub batch_size: i64,
}

impl Default for CompletionSettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: 60_000,
            batch_size: 200,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base: BaseConfig::local(crate::SERVICE, 50051, 9101),
            vault: VaultSettings::default(),
            completion: CompletionSettings::default(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.base.validate()?;
        Vault::from_hex(self.vault.key.expose(), crate::VAULT_PURPOSE)
            .map_err(|error| SettingsError::invalid("vault.key", error.to_string()))?;
        if self.completion.batch_size < 1 {
            return Err(SettingsError::invalid(
                "completion.batch_size",
                "must be at least 1",
            ));
        }
        if self.completion.poll_interval_ms == 0 {
            return Err(SettingsError::invalid(
                "completion.poll_interval_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
