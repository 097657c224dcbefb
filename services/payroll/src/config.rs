//! The payroll service's configuration.

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use serde::{Deserialize, Serialize};
use serving::BaseConfig;
use settings::{Secret, SettingsError, Validate};

use crate::{
    domain::{CutSchedule, ListKey, WorkingCalendar},
    sealing::Sealer,
};

/// Everything payroll reads at start; see the README for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Ports, database, Kafka, relay and telemetry sections.
    #[serde(flatten)]
    pub base: BaseConfig,
    /// How payment lists are cut, signed and published.
    pub lists: ListSettings,
    /// Public holidays on which offices do not work; payment deadlines skip them.
    pub holidays: Vec<NaiveDate>,
    /// How card and account numbers and signing keys are sealed at rest.
    pub vault: VaultSettings,
}

/// The `[vault]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct VaultSettings {
    /// AES-256 key sealing card and account numbers and signing key seeds, 64 hex digits; the
    /// keyed digest of numbers is derived from it. The default is for the local stack only:
    /// set a real secret in production, and never change it without resealing.
    pub key: Secret,
}

/// A fixed vault key for the local stack only; every real deployment sets its own.
const LOCAL_VAULT_KEY: &str = "6c6f63616c2d706179726f6c6c2d6f6e6c792d6e6f742d612d7265616c2d6b21";

impl Default for VaultSettings {
    fn default() -> Self {
        Self {
            key: Secret::new(LOCAL_VAULT_KEY),
        }
    }
}

impl VaultSettings {
    /// The sealer the key names.
    pub fn sealer(&self) -> Result<Sealer, SettingsError> {
        Sealer::from_hex(self.key.expose())
            .map_err(|error| SettingsError::invalid("vault.key", error.to_string()))
    }
}

/// The `[lists]` section: cutting, signing and publishing payment lists.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ListSettings {
    /// Cut pending entitlements at least this often, in milliseconds of the service's clock.
    pub cut_interval_ms: u64,
    /// When set (Vietnam time, `HH:MM`), cut once a day at that time instead of on the
    /// interval, as in today's practice; empty for the interval.
    pub daily_cut_at: String,
    /// Cut at once when this many entitlements wait; also the most lines one cut takes.
    pub max_lines: i64,
    /// How often the cutter looks at the clock and the queue, in real milliseconds.
    pub poll_interval_ms: u64,
    /// Largest encoded size of one published chunk; stays under the broker's record limit.
    pub max_chunk_bytes: usize,
    /// Key id of the first policy key, which signs lists approved by policy until an operator
    /// rotates it (`RotateSigningKey`); registered, sealed, at the first start.
    pub policy_key_id: String,
    /// The first policy key's 32-byte Ed25519 seed, as 64 hex digits.
    pub policy_key_seed: Secret,
}

/// A fixed seed for the local stack only; every real deployment sets its own.
const LOCAL_POLICY_KEY_SEED: &str =
    "9a1f4c2e7b3d5a6c8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f";

impl Default for ListSettings {
    fn default() -> Self {
        Self {
            cut_interval_ms: 1_000,
            daily_cut_at: String::new(),
            max_lines: 10_000,
            poll_interval_ms: 50,
            max_chunk_bytes: 900_000,
            policy_key_id: "payroll-local-1".into(),
            policy_key_seed: Secret::new(LOCAL_POLICY_KEY_SEED),
        }
    }
}

impl ListSettings {
    /// When the cutter cuts.
    pub fn schedule(&self) -> Result<CutSchedule, SettingsError> {
        let daily = self.daily_cut_at.trim();
        if !daily.is_empty() {
            let time = NaiveTime::parse_from_str(daily, "%H:%M")
                .map_err(|_| SettingsError::invalid("lists.daily_cut_at", "must be HH:MM"))?;
            return Ok(CutSchedule::DailyAt(time));
        }
        i64::try_from(self.cut_interval_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .and_then(TimeDelta::try_milliseconds)
            .map(CutSchedule::Every)
            .ok_or_else(|| SettingsError::invalid("lists.cut_interval_ms", "must be at least 1"))
    }

    /// The policy key the settings name.
    pub fn policy_key(&self) -> Result<ListKey, SettingsError> {
        ListKey::from_seed_hex(&self.policy_key_id, self.policy_key_seed.expose())
            .map_err(|error| SettingsError::invalid("lists.policy_key_seed", error.to_string()))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base: BaseConfig::local(crate::SERVICE, 50053, 9103),
            lists: ListSettings::default(),
            holidays: WorkingCalendar::seeded_holidays(),
            vault: VaultSettings::default(),
        }
    }
}

impl Config {
    /// The working-day calendar the holidays describe.
    pub fn calendar(&self) -> WorkingCalendar {
        WorkingCalendar::with_holidays(self.holidays.iter().copied())
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.base.validate()?;
        self.lists.schedule()?;
        if self.lists.max_lines < 1 {
            return Err(SettingsError::invalid(
                "lists.max_lines",
                "must be at least 1",
            ));
        }
        if self.lists.poll_interval_ms == 0 {
            return Err(SettingsError::invalid(
                "lists.poll_interval_ms",
                "must be at least 1",
            ));
        }
        if self.lists.max_chunk_bytes < 5_000 {
            return Err(SettingsError::invalid(
                "lists.max_chunk_bytes",
                "must be at least 5000",
            ));
        }
        self.lists.policy_key()?;
        self.vault.sealer()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn a_daily_cut_time_replaces_the_interval() {
        let mut config = Config::default();
        config.lists.daily_cut_at = "16:00".into();
        assert_eq!(
            config.lists.schedule().unwrap(),
            CutSchedule::DailyAt(NaiveTime::from_hms_opt(16, 0, 0).unwrap())
        );
        config.lists.daily_cut_at = "4pm".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("lists.daily_cut_at"), "{error}");
    }

    #[test]
    fn the_local_policy_key_has_the_public_key_the_local_transfer_trusts() {
        let key = ListSettings::default().policy_key().unwrap();
        assert_eq!(key.key_id(), "payroll-local-1");
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            "cb3da9e93ddf4e8e4ce31342239492352d32525d2fdc4bcbbb333f3f0861cf96"
        );
    }

    #[test]
    fn a_short_vault_key_is_refused_naming_the_field_not_the_key() {
        let mut config = Config::default();
        config.vault.key = Secret::new("abcd");
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("vault.key") && !error.contains("abcd"),
            "{error}"
        );
    }

    #[test]
    fn a_short_key_seed_is_refused_naming_the_field() {
        let mut config = Config::default();
        config.lists.policy_key_seed = Secret::new("abcd");
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("lists.policy_key_seed"), "{error}");
    }
}
