//! The configuration sections every service shares.

use database::DatabaseSettings;
use messaging::{KafkaSettings, RelaySettings};
use serde::Deserialize;
use settings::SettingsError;
use telemetry::TelemetrySettings;

use crate::ServerSettings;

/// Sections common to all services; a service adds its own beside them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BaseConfig {
    /// Listening ports.
    pub server: ServerSettings,
    /// The service's database role and schema.
    pub database: DatabaseSettings,
    /// Brokers and consumer group.
    pub kafka: KafkaSettings,
    /// Outbox relay batching.
    pub relay: RelaySettings,
    /// Log format and filter.
    pub telemetry: TelemetrySettings,
}

impl BaseConfig {
    /// The local stack's configuration of `service` on the given ports.
    pub fn local(service: &str, grpc_port: u16, http_port: u16) -> Self {
        Self {
            server: ServerSettings::local(grpc_port, http_port),
            database: DatabaseSettings::local(service),
            kafka: KafkaSettings::local(service),
            relay: RelaySettings::default(),
            telemetry: TelemetrySettings::default(),
        }
    }

    /// Validates every shared section.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.server.validate()?;
        self.database.validate()?;
        self.kafka.validate()?;
        if self.relay.batch_size < 1 {
            return Err(SettingsError::invalid(
                "relay.batch_size",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl Default for BaseConfig {
    fn default() -> Self {
        Self::local("benefit", 0, 0)
    }
}
