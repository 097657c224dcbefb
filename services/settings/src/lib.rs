//! Loads a service's typed configuration from, in rising precedence: the type's defaults,
//! an optional TOML file named by `<SERVICE>_CONFIG`, and `<SERVICE>__SECTION__KEY`
//! environment variables; then validates it before anything starts.

use std::path::PathBuf;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

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
/// `T::default()` is the bottom layer, merged key by key, so setting one key of a section
/// keeps the service's own defaults for the others.
pub fn load<T>(service: &str) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Serialize + Default + Validate,
{
    let upper = service.to_ascii_uppercase();
    let mut figment = Figment::from(Serialized::defaults(T::default()));
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

/// A configuration value that must never be logged, such as a password: its `Debug` output
/// is `[REDACTED]`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value, for the one place that needs it (a connection).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Serialized only so that a service's defaults can be layered under the file and the
/// environment; configuration is logged through `Debug`, which redacts.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
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

    #[derive(Debug, Deserialize, Serialize)]
    struct Sample {
        grpc: Grpc,
        password: Secret,
    }

    #[derive(Debug, Deserialize, Serialize)]
    struct Grpc {
        host: String,
        port: u16,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                grpc: Grpc::default(),
                password: Secret::new("default-secret"),
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
            assert_eq!(sample.password.expose(), "default-secret");
            Ok(())
        });
    }

    #[test]
    fn one_key_set_in_the_environment_keeps_the_defaults_of_its_section() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE__GRPC__PORT", "7000");

            let sample: Sample = load("sample").map_err(|e| e.to_string())?;

            assert_eq!(sample.grpc.port, 7000);
            assert_eq!(sample.grpc.host, "127.0.0.1");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_when_the_configuration_is_logged() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE__PASSWORD", "hunter2");

            let sample: Sample = load("sample").map_err(|e| e.to_string())?;

            assert_eq!(sample.password.expose(), "hunter2");
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
