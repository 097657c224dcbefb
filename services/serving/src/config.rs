//! The configuration sections every service shares.

use std::path::PathBuf;
use std::sync::Arc;

use clock::{OffsetFileClock, SharedClock};
use database::DatabaseSettings;
use messaging::{KafkaSettings, RelaySettings};
use serde::{Deserialize, Serialize};
use settings::SettingsError;
use telemetry::TelemetrySettings;

use crate::ServerSettings;

/// Sections common to all services; a service adds its own beside them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BaseConfig {
    /// Whether this is a development machine or a real deployment.
    pub deployment: Deployment,
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
    /// Where the service's time comes from.
    pub clock: ClockSettings,
}

/// Where "now" comes from: the wall clock, unless development moves it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ClockSettings {
    /// A file holding milliseconds to add to the wall clock (`clock::OffsetFileClock`), so the
    /// system tests and the benchmark can move the time of services running as processes.
    /// Development only: a production service refuses to start with it.
    pub offset_file: Option<PathBuf>,
}

impl BaseConfig {
    /// The local stack's configuration of `service` on the given ports.
    pub fn local(service: &str, grpc_port: u16, http_port: u16) -> Self {
        Self {
            deployment: Deployment::Development,
            server: ServerSettings::local(grpc_port, http_port),
            database: DatabaseSettings::local(service),
            kafka: KafkaSettings::local(service),
            relay: RelaySettings::default(),
            telemetry: TelemetrySettings::default(),
            clock: ClockSettings::default(),
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
        if self.clock.offset_file.is_some() && self.deployment == Deployment::Production {
            return Err(SettingsError::invalid(
                "clock.offset_file",
                "moves the time of the service; it is for development and tests only",
            ));
        }
        Ok(())
    }

    /// The service's clock: the wall clock, or the wall clock moved by `clock.offset_file`.
    pub fn clock(&self) -> Result<SharedClock, SettingsError> {
        match &self.clock.offset_file {
            None => Ok(clock::system()),
            Some(path) => {
                let clock = OffsetFileClock::open(path).map_err(|error| {
                    SettingsError::invalid("clock.offset_file", error.to_string())
                })?;
                tracing::warn!(path = %path.display(), "the clock follows an offset file");
                Ok(Arc::new(clock))
            }
        }
    }
}

/// Where a service runs. The defaults of every key and secret are for development, published
/// in this repository; a production deployment must replace each one, and a service told it
/// runs in production refuses to start on any it was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    /// A developer's machine, the local stack, the tests.
    Development,
    /// Real money and real people.
    Production,
}

impl BaseConfig {
    /// Checks one secret against its published development value: in development that is
    /// only worth a warning; in production the service must not start on it. `key` is how an
    /// operator sets it, e.g. `TRANSFER__VAULT__KEY`.
    pub fn refuse_development_secret(
        &self,
        is_development_value: bool,
        key: &str,
    ) -> Result<(), SettingsError> {
        if !is_development_value {
            return Ok(());
        }
        match self.deployment {
            Deployment::Development => {
                tracing::warn!(
                    key,
                    "running on the published development value of a secret"
                );
                Ok(())
            }
            Deployment::Production => Err(SettingsError::invalid(
                key,
                "is still the published development value; production needs its own",
            )),
        }
    }
}

impl Default for BaseConfig {
    fn default() -> Self {
        Self::local("benefit", 0, 0)
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use settings::Validate;

    /// Shaped like every service's `Config`.
    #[derive(Debug, Deserialize, Serialize)]
    struct ServiceConfig {
        #[serde(flatten)]
        base: BaseConfig,
    }

    impl Default for ServiceConfig {
        fn default() -> Self {
            Self {
                base: BaseConfig::local("payroll", 50053, 9103),
            }
        }
    }

    impl Validate for ServiceConfig {
        fn validate(&self) -> Result<(), SettingsError> {
            self.base.validate()
        }
    }

    #[test]
    fn one_key_from_the_environment_keeps_the_service_s_own_role_schema_and_ports() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAYROLL__DATABASE__HOST", "db.internal");
            jail.set_env("PAYROLL__KAFKA__PROPERTIES__SECURITY_PROTOCOL", "ssl");

            let config: ServiceConfig = settings::load("payroll").map_err(|e| e.to_string())?;

            assert_eq!(config.base.database.host, "db.internal");
            assert_eq!(config.base.database.user, "payroll");
            assert_eq!(config.base.database.schema, "payroll");
            assert_eq!(config.base.server.grpc_port, 50053);
            assert_eq!(config.base.kafka.group_id, "payroll");
            let client = config.base.kafka.client_config();
            assert_eq!(client.get("security.protocol"), Some("ssl"));
            Ok(())
        });
    }

    #[test]
    fn a_port_clash_is_refused_at_start() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAYROLL__SERVER__HTTP_PORT", "50053");

            let error = settings::load::<ServiceConfig>("payroll")
                .err()
                .map(|e| e.to_string());

            assert_eq!(
                error.as_deref(),
                Some("invalid configuration: server.http_port: must differ from server.grpc_port")
            );
            Ok(())
        });
    }

    #[test]
    fn in_production_a_development_secret_stops_the_start_and_in_development_it_does_not() {
        figment::Jail::expect_with(|jail| {
            let config: ServiceConfig = settings::load("payroll").map_err(|e| e.to_string())?;
            assert_eq!(config.base.deployment, Deployment::Development);
            assert!(
                config
                    .base
                    .refuse_development_secret(true, "PAYROLL__SIGNING__KEY")
                    .is_ok()
            );

            jail.set_env("PAYROLL__DEPLOYMENT", "production");
            let config: ServiceConfig = settings::load("payroll").map_err(|e| e.to_string())?;
            assert_eq!(config.base.deployment, Deployment::Production);
            let refused = config
                .base
                .refuse_development_secret(true, "PAYROLL__SIGNING__KEY")
                .map_err(|e| e.to_string());
            assert_eq!(
                refused,
                Err(
                    "invalid configuration: PAYROLL__SIGNING__KEY: is still the published \
                     development value; production needs its own"
                        .to_owned()
                )
            );
            assert!(
                config
                    .base
                    .refuse_development_secret(false, "PAYROLL__SIGNING__KEY")
                    .is_ok()
            );
            Ok(())
        });
    }

    #[test]
    fn an_unknown_deployment_is_refused_at_start() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAYROLL__DEPLOYMENT", "prod");
            assert!(settings::load::<ServiceConfig>("payroll").is_err());
            Ok(())
        });
    }

    #[test]
    fn an_offset_clock_moves_time_in_development_and_stops_a_production_start() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("clock-offset", "86400000")?;
            jail.set_env("PAYROLL__CLOCK__OFFSET_FILE", "clock-offset");
            let config: ServiceConfig = settings::load("payroll").map_err(|e| e.to_string())?;
            let clock = config.base.clock().map_err(|e| e.to_string())?;
            let ahead = clock.now() - chrono::Utc::now();
            assert!(ahead > chrono::Duration::hours(23), "{ahead}");

            jail.set_env("PAYROLL__DEPLOYMENT", "production");
            let refused = settings::load::<ServiceConfig>("payroll").map_err(|e| e.to_string());
            assert_eq!(
                refused.err().as_deref(),
                Some(
                    "invalid configuration: clock.offset_file: moves the time of the service; \
                     it is for development and tests only"
                )
            );
            Ok(())
        });
    }

    #[test]
    fn without_an_offset_file_the_clock_is_the_wall_clock() {
        let clock = BaseConfig::default().clock().unwrap();
        let gap = (clock.now() - chrono::Utc::now()).num_seconds().abs();
        assert!(gap < 5, "{gap}");
    }
}
