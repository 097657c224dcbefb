//! Ed25519 signatures over a list's content hash, with key ids so keys can rotate.

use std::collections::HashMap;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use thiserror::Error;

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SigningError {
    /// The key seed is not 32 bytes of hex.
    #[error("key seed must be 64 hex digits")]
    Seed,
    /// The key id is empty.
    #[error("key id must not be empty")]
    KeyId,
    /// No trusted key has this id.
    #[error("unknown signing key {0}")]
    UnknownKey(String),
    /// The signature is not 64 bytes.
    #[error("signature must be 64 bytes")]
    Malformed,
    /// The signature does not match the hash and key.
    #[error("signature does not verify")]
    Mismatch,
}

/// SHA-256 of a list's canonical content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<ContentHash> {
        <[u8; 32]>::try_from(bytes).ok().map(ContentHash)
    }
}

/// A signature with the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSignature {
    /// Key id, looked up among the receiver's trusted keys.
    pub key_id: String,
    /// Raw 64-byte Ed25519 signature.
    pub bytes: [u8; 64],
}

/// A list signing key: the service's policy key, which signs lists approved by policy, or an
/// officer's approval key, which signs the lists they approve.
pub struct ListKey {
    key_id: String,
    key: SigningKey,
}

impl std::fmt::Debug for ListKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ListKey {
    /// The key whose 32-byte seed is `seed_hex`.
    pub fn from_seed_hex(key_id: &str, seed_hex: &str) -> Result<ListKey, SigningError> {
        if key_id.trim().is_empty() {
            return Err(SigningError::KeyId);
        }
        let seed = hex::decode(seed_hex.trim()).map_err(|_| SigningError::Seed)?;
        let seed = <[u8; 32]>::try_from(seed.as_slice()).map_err(|_| SigningError::Seed)?;
        ListKey::from_seed(key_id, &seed)
    }

    /// The key whose 32-byte seed is `seed`.
    pub fn from_seed(key_id: &str, seed: &[u8; 32]) -> Result<ListKey, SigningError> {
        if key_id.trim().is_empty() {
            return Err(SigningError::KeyId);
        }
        Ok(ListKey {
            key_id: key_id.to_owned(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The private seed, to be sealed before it is stored; never logged or sent.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key id carried next to each signature.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, for receivers.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs a list's content hash.
    pub fn sign(&self, hash: &ContentHash) -> ListSignature {
        ListSignature {
            key_id: self.key_id.clone(),
            bytes: self.key.sign(hash.as_bytes()).to_bytes(),
        }
    }
}

/// Where a signing key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs its signer's new lists.
    Active,
    /// Replaced by a newer key: signs nothing more, what it signed still verifies.
    VerifyOnly,
    /// Withdrawn: signs nothing, and receivers refuse what it signed.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::VerifyOnly => "verify_only",
            KeyState::Retired => "retired",
        }
    }

    /// Parses the stored name.
    pub fn parse(name: &str) -> Option<KeyState> {
        match name {
            "active" => Some(KeyState::Active),
            "verify_only" => Some(KeyState::VerifyOnly),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// The id of a new key: `policy-<date>-<suffix>` for the service's policy key,
/// `officer-<officer id>-<date>-<suffix>` for an officer's, so a receiver's trust list reads
/// whose key it trusts.
pub fn new_key_id(officer_id: Option<&str>, date: chrono::NaiveDate, suffix: &str) -> String {
    let date = date.format("%Y%m%d");
    match officer_id {
        Some(officer_id) => format!("officer-{officer_id}-{date}-{suffix}"),
        None => format!("policy-{date}-{suffix}"),
    }
}

/// The public keys a receiver trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(HashMap<String, VerifyingKey>);

impl TrustedKeys {
    /// Trusts `key` under `key_id`.
    pub fn with(mut self, key_id: &str, key: VerifyingKey) -> TrustedKeys {
        self.0.insert(key_id.to_owned(), key);
        self
    }

    /// Checks that `signature` (raw bytes, made by `key_id`) signs `hash`.
    pub fn verify(
        &self,
        hash: &ContentHash,
        key_id: &str,
        signature: &[u8],
    ) -> Result<(), SigningError> {
        let key = self
            .0
            .get(key_id)
            .ok_or_else(|| SigningError::UnknownKey(key_id.to_owned()))?;
        let signature = Signature::from_slice(signature).map_err(|_| SigningError::Malformed)?;
        key.verify(hash.as_bytes(), &signature)
            .map_err(|_| SigningError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn a_signed_hash_verifies_with_the_public_key() {
        let key = ListKey::from_seed_hex("policy-1", SEED).unwrap();
        let hash = ContentHash([7; 32]);
        let signature = key.sign(&hash);
        let trusted = TrustedKeys::default().with("policy-1", key.verifying_key());

        assert_eq!(signature.key_id, "policy-1");
        assert_eq!(trusted.verify(&hash, "policy-1", &signature.bytes), Ok(()));
    }

    #[test]
    fn another_hash_or_key_id_fails_verification() {
        let key = ListKey::from_seed_hex("policy-1", SEED).unwrap();
        let signature = key.sign(&ContentHash([7; 32]));
        let trusted = TrustedKeys::default().with("policy-1", key.verifying_key());

        assert_eq!(
            trusted.verify(&ContentHash([8; 32]), "policy-1", &signature.bytes),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            trusted.verify(&ContentHash([7; 32]), "policy-2", &signature.bytes),
            Err(SigningError::UnknownKey("policy-2".into()))
        );
        assert_eq!(
            trusted.verify(&ContentHash([7; 32]), "policy-1", &[0; 10]),
            Err(SigningError::Malformed)
        );
    }

    #[test]
    fn a_key_rebuilt_from_its_seed_signs_alike() {
        let key = ListKey::from_seed_hex("policy-1", SEED).unwrap();
        let again = ListKey::from_seed("policy-1", &key.seed()).unwrap();
        assert_eq!(again.verifying_key(), key.verifying_key());
    }

    #[test]
    fn key_ids_name_their_signer() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 19).unwrap();
        assert_eq!(new_key_id(None, day, "a1b2c3"), "policy-20260319-a1b2c3");
        assert_eq!(
            new_key_id(Some("ss-42"), day, "a1b2c3"),
            "officer-ss-42-20260319-a1b2c3"
        );
        assert_eq!(KeyState::parse("verify_only"), Some(KeyState::VerifyOnly));
        assert_eq!(
            KeyState::parse(KeyState::Retired.as_str()),
            Some(KeyState::Retired)
        );
    }

    #[test]
    fn a_bad_seed_is_refused() {
        assert_eq!(
            ListKey::from_seed_hex("k", "abcd").unwrap_err(),
            SigningError::Seed
        );
        assert_eq!(
            ListKey::from_seed_hex("", SEED).unwrap_err(),
            SigningError::KeyId
        );
    }
}
