//! Loads a service's typed configuration from, in rising precedence: the type's defaults,
//! an optional TOML file named by `<SERVICE>_CONFIG`, and `<SERVICE>__SECTION__KEY`
//! environment variables; then validates it before anything starts.

use std::path::PathBuf;

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::de::DeserializeOwned;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value could not be read or has the wrong type.
    #[error("configuration could not be read: {0}")]
    Unreadable(#[from] Box<figment::Error>),
    /// The file named by `<SERVICE>_CONFIG` does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value was read but makes no sense.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid {
        /// The dotted path of the offending key, e.g. `grpc.port`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SettingsError {
    /// An invalid value at `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that hold across fields, run once at start so a bad value fails fast and clearly.
pub trait Validate {
    /// Returns the first invalid value found.
    fn validate(&self) -> Result<(), SettingsError>;
}

/// Loads and validates the configuration of `service` (lowercase, e.g. `eligibility`).
///
/// The type's `#[serde(default)]` values fill whatever the file and environment leave out.
pub fn load<T>(service: &str) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Validate,
{
    let upper = service.to_ascii_uppercase();
    let mut figment = Figment::new();
    if let Ok(path) = std::env::var(format!("{upper}_CONFIG")) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(SettingsError::MissingFile(path));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(Env::prefixed(&format!("{upper}__")).split("__"));
    let settings: T = figment.extract().map_err(Box::new)?;
    settings.validate()?;
    Ok(settings)
}

/// Checks that a host to listen on or connect to is given.
pub fn validate_host(field: &str, host: &str) -> Result<(), SettingsError> {
    if host.trim().is_empty() {
        return Err(SettingsError::invalid(field, "must not be empty"));
    }
    Ok(())
}

#[cfg(test)]
// figment's `Jail` closures must return its large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Sample {
        grpc: Grpc,
        password: SecretString,
    }

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Grpc {
        host: String,
        port: u16,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                grpc: Grpc::default(),
                password: SecretString::from("default-secret"),
            }
        }
    }

    impl Default for Grpc {
        fn default() -> Self {
            Self {
                host: "127.0.0.1".into(),
                port: 50051,
            }
        }
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), SettingsError> {
            validate_host("grpc.host", &self.grpc.host)
        }
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sample.toml", "[grpc]\nhost = \"0.0.0.0\"\nport = 6000\n")?;
            jail.set_env("SAMPLE_CONFIG", "sample.toml");
            jail.set_env("SAMPLE__GRPC__PORT", "7000");

            let sample: Sample = load("sample").map_err(|e| e.to_string())?;

            assert_eq!(sample.grpc.host, "0.0.0.0");
            assert_eq!(sample.grpc.port, 7000);
            assert_eq!(sample.password.expose_secret(), "default-secret");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_when_the_configuration_is_logged() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE__PASSWORD", "hunter2");

            let sample: Sample = load("sample").map_err(|e| e.to_string())?;

            assert_eq!(sample.password.expose_secret(), "hunter2");
            assert!(!format!("{sample:?}").contains("hunter2"));
            Ok(())
        });
    }

    #[test]
    fn an_invalid_value_is_refused_with_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE__GRPC__HOST", " ");

            let error = load::<Sample>("sample").err().map(|e| e.to_string());

            assert_eq!(
                error.as_deref(),
                Some("invalid configuration: grpc.host: must not be empty")
            );
            Ok(())
        });
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE_CONFIG", "missing.toml");
            assert!(matches!(
                load::<Sample>("sample"),
                Err(SettingsError::MissingFile(_))
            ));
            Ok(())
        });
    }
}
