//! The transfer service's configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serving::BaseConfig;
use settings::{Secret, SettingsError, Validate};

use crate::domain::bank::BankId;
use crate::domain::list::TrustedKeys;
use vault::Vault;

/// Everything transfer reads at start; see the README for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Ports, database, Kafka, relay and telemetry sections.
    #[serde(flatten)]
    pub base: BaseConfig,
    /// How approved lists are checked before anything is paid.
    pub lists: ListSettings,
    /// The paying side of every instruction.
    pub debtor: DebtorSettings,
    /// Retries after a bank timeout.
    pub retry: RetrySettings,
    /// How card and account numbers are sealed at rest.
    pub vault: VaultSettings,
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
            key: Secret::new("6c6f63616c2d737461636b2d6f6e6c792d6e6f742d612d7265616c2d6b657921"),
        }
    }
}

/// The `[lists]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ListSettings {
    /// Public keys trusted to sign lists: key id → 64 hex digits of an Ed25519 public key.
    pub trusted_keys: BTreeMap<String, String>,
    /// Seconds after its first chunk by which a list must be complete, or it is refused.
    pub completion_timeout_secs: u64,
}

impl Default for ListSettings {
    fn default() -> Self {
        Self {
            trusted_keys: BTreeMap::new(),
            completion_timeout_secs: 600,
        }
    }
}

/// The `[debtor]` section: the benefit fund's account that pays.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DebtorSettings {
    /// Dbtr Nm, sent ASCII-folded.
    pub name: String,
    /// DbtrAcct.
    pub account: String,
    /// DbtrAgt: the paying bank's 6-digit NAPAS id.
    pub bank_id: String,
}

impl Default for DebtorSettings {
    fn default() -> Self {
        Self {
            name: "Bảo hiểm xã hội Việt Nam".into(),
            account: "1000000000001".into(),
            bank_id: "970418".into(),
        }
    }
}

/// The `[retry]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RetrySettings {
    /// Wait after the first timeout, in seconds; doubled for each further one.
    pub base_delay_secs: u64,
    /// Longest wait between attempts, in seconds.
    pub max_delay_secs: u64,
    /// Attempts after which a payment that keeps timing out fails for good.
    pub max_attempts: u16,
    /// How often due retries and overdue lists are looked for, in milliseconds.
    pub poll_interval_ms: u64,
    /// Seconds an attempt may wait for its bank's final status (ACCC or RJCT) before it is
    /// flagged overdue and alerted on.
    pub answer_deadline_secs: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            base_delay_secs: 60,
            max_delay_secs: 3_600,
            max_attempts: 5,
            poll_interval_ms: 1_000,
            answer_deadline_secs: 86_400,
        }
    }
}

/// Outbox rows the relay publishes per batch. An accepted list commits its instructions
/// all at once, thousands at a time; fewer, larger batches publish them with fewer reads and
/// marks of the outbox (20,000 instructions: about 0.3 s sooner on the local stack than in
/// batches of 1,000).
const RELAY_BATCH_SIZE: i64 = 4_000;

impl Default for Config {
    fn default() -> Self {
        let mut base = BaseConfig::local(crate::SERVICE, 50054, 9104);
        base.relay.batch_size = RELAY_BATCH_SIZE;
        Self {
            base,
            lists: ListSettings::default(),
            debtor: DebtorSettings::default(),
            retry: RetrySettings::default(),
            vault: VaultSettings::default(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.base.validate()?;
        TrustedKeys::from_hex(&self.lists.trusted_keys)
            .map_err(|error| SettingsError::invalid("lists.trusted_keys", error.to_string()))?;
        Vault::from_hex(self.vault.key.expose(), crate::VAULT_PURPOSE)
            .map_err(|error| SettingsError::invalid("vault.key", error.to_string()))?;
        BankId::parse(&self.debtor.bank_id)
            .map_err(|error| SettingsError::invalid("debtor.bank_id", error.to_string()))?;
        if self.debtor.account.is_empty() {
            return Err(SettingsError::invalid(
                "debtor.account",
                "must not be empty",
            ));
        }
        if !(1..=999).contains(&self.retry.max_attempts) {
            return Err(SettingsError::invalid(
                "retry.max_attempts",
                "must be between 1 and 999",
            ));
        }
        if self.retry.answer_deadline_secs == 0 {
            return Err(SettingsError::invalid(
                "retry.answer_deadline_secs",
                "must be at least 1",
            ));
        }
        if self.retry.poll_interval_ms == 0 {
            return Err(SettingsError::invalid(
                "retry.poll_interval_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
