//! The checkin service's configuration.

use serde::{Deserialize, Serialize};
use serving::BaseConfig;
use settings::{Secret, SettingsError, Validate};

use crate::domain::ids::KeyId;
use crate::domain::token::{KeyRing, NoticeSigner};
use crate::kiosk::KioskPageSettings;

/// Everything checkin reads at start; see the README for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Ports, database, Kafka, relay and telemetry sections.
    #[serde(flatten)]
    pub base: BaseConfig,
    /// The keys notices are signed and verified with.
    pub notices: NoticeSettings,
    /// The worker that publishes missed check-ins.
    pub missed: MissedSettings,
    /// The kiosk page, off unless enabled.
    pub kiosk_page: KioskPageSettings,
}

/// Notice signing: the current key and every other public key still recognised.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NoticeSettings {
    /// Id of the key that signs new notices.
    pub signing_key_id: String,
    /// The signing key's 32-byte Ed25519 seed, as 64 hex digits. Read from configuration so the
    /// same key signs after every restart and on every instance.
    pub signing_key_seed: Secret,
    /// Earlier keys, still known so their notices verify or, once retired, are refused by name.
    pub accepted_keys: Vec<AcceptedKey>,
    /// Days a notice stays valid after its decision's last check-in window closes.
    pub valid_days_after_last_window: u32,
}

/// A public key notices may carry besides the signing key's.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AcceptedKey {
    /// The key id written in tokens.
    pub key_id: String,
    /// Raw 32-byte Ed25519 public key, as 64 hex digits.
    pub public_key: String,
    /// True once the key is retired: tokens it signed are refused.
    #[serde(default)]
    pub retired: bool,
}

/// How often the missed check-in worker looks for closed windows.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MissedSettings {
    /// Pause between passes, in milliseconds.
    pub poll_interval_ms: u64,
    /// Windows settled per transaction.
    pub batch_size: i64,
}

impl Default for MissedSettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1_000,
            batch_size: 500,
        }
    }
}

/// The local stack's signing seed; a deployment sets its own secret.
const LOCAL_SIGNING_SEED: &str = "6c6f63616c2d737461636b2d6f6e6c792d6e6f746963652d7369676e696e6721";

impl Default for NoticeSettings {
    fn default() -> Self {
        Self {
            signing_key_id: "local-1".into(),
            signing_key_seed: Secret::new(LOCAL_SIGNING_SEED),
            accepted_keys: Vec::new(),
            valid_days_after_last_window: 90,
        }
    }
}

impl NoticeSettings {
    /// True when notices would be signed with the published development seed.
    pub fn signs_with_development_key(&self) -> bool {
        self.signing_key_seed.expose().trim() == LOCAL_SIGNING_SEED
    }

    /// The signer of new notices and the ring every scan is verified against; the signer's own
    /// key is always in the ring, as active.
    pub fn keys(&self) -> Result<(NoticeSigner, KeyRing), SettingsError> {
        let key_id = KeyId::parse(&self.signing_key_id)
            .map_err(|error| SettingsError::invalid("notices.signing_key_id", error.to_string()))?;
        let seed: [u8; 32] = hex::decode(self.signing_key_seed.expose().trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                SettingsError::invalid("notices.signing_key_seed", "must be 64 hex digits")
            })?;
        let signer = NoticeSigner::from_seed(key_id.clone(), &seed);
        let mut ring = KeyRing::new();
        ring.insert(key_id, &signer.public_key().to_bytes(), false)
            .map_err(|error| SettingsError::invalid("notices.signing_key_id", error.to_string()))?;
        for (index, accepted) in self.accepted_keys.iter().enumerate() {
            let field = format!("notices.accepted_keys[{index}]");
            let key_id = KeyId::parse(&accepted.key_id)
                .map_err(|error| SettingsError::invalid(&field, error.to_string()))?;
            let public_key: [u8; 32] = hex::decode(accepted.public_key.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| {
                    SettingsError::invalid(&field, "public_key must be 64 hex digits")
                })?;
            ring.insert(key_id, &public_key, accepted.retired)
                .map_err(|error| SettingsError::invalid(&field, error.to_string()))?;
        }
        Ok((signer, ring))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base: BaseConfig::local(crate::SERVICE, 50052, 9102),
            notices: NoticeSettings::default(),
            missed: MissedSettings::default(),
            kiosk_page: KioskPageSettings::default(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.base.validate()?;
        self.notices.keys()?;
        self.kiosk_page.validate()?;
        if self.missed.batch_size < 1 {
            return Err(SettingsError::invalid(
                "missed.batch_size",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_keys_load_and_the_signing_key_is_accepted() {
        let (signer, ring) = NoticeSettings::default().keys().unwrap();
        assert!(ring.accepts(signer.key_id()));
    }

    #[test]
    fn a_signing_key_id_listed_again_among_accepted_keys_is_refused() {
        let settings = NoticeSettings {
            accepted_keys: vec![AcceptedKey {
                key_id: "local-1".into(),
                public_key: "00".repeat(32),
                retired: true,
            }],
            ..NoticeSettings::default()
        };
        let error = settings.keys().err().map(|error| error.to_string());
        assert!(error.is_some_and(|text| text.contains("notices.accepted_keys[0]")));
    }

    #[test]
    fn a_short_seed_is_refused_without_showing_it() {
        let settings = NoticeSettings {
            signing_key_seed: Secret::new("abcd"),
            ..NoticeSettings::default()
        };
        let error = settings
            .keys()
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("notices.signing_key_seed") && !error.contains("abcd"));
    }
}
