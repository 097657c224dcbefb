//! The eligibility service's configuration.

use serde::{Deserialize, Serialize};
use serving::BaseConfig;
use settings::{SettingsError, Validate};

/// Everything eligibility reads at start; see the README for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Ports, database, Kafka, relay and telemetry sections.
    #[serde(flatten)]
    pub base: BaseConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base: BaseConfig::local(crate::SERVICE, 50051, 9101),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.base.validate()
    }
}
