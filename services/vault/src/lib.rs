//! Card and account numbers at rest: sealed with AES-256-GCM under a key from the
//! configuration, so a copy of the database or a backup does not reveal them (PCI DSS).
//! Each vault is bound to a purpose (the associated data), so a value sealed for one purpose
//! does not open as another.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

/// The version byte in front of every sealed value, so the key can be rotated later.
const FORMAT_V1: u8 = 1;

/// Why a number could not be sealed or opened.
#[derive(Debug, Error)]
pub enum VaultError {
    /// The key is not 32 bytes written as 64 hex digits.
    #[error("vault key must be 64 hex digits")]
    BadKey,
    /// The system's random source failed.
    #[error("no randomness available for a nonce")]
    Random,
    /// The value was not sealed by this key, or was altered.
    #[error("sealed value does not open under the vault key")]
    Tampered,
}

/// Seals and opens destination numbers.
pub struct Vault {
    key: LessSafeKey,
    purpose: &'static [u8],
    random: SystemRandom,
}

impl Vault {
    /// A vault over the 32-byte key written as hex, sealing for `purpose`
    /// (e.g. `b"benefit.transfer.destination-number.v1"`).
    pub fn from_hex(key_hex: &str, purpose: &'static [u8]) -> Result<Vault, VaultError> {
        let bytes = hex::decode(key_hex.trim()).map_err(|_| VaultError::BadKey)?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| VaultError::BadKey)?;
        Ok(Vault {
            key: LessSafeKey::new(key),
            purpose,
            random: SystemRandom::new(),
        })
    }

    /// `number` sealed: version, random nonce, ciphertext and tag.
    pub fn seal(&self, number: &str) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| VaultError::Random)?;
        let mut sealed = number.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.purpose),
                &mut sealed,
            )
            .map_err(|_| VaultError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The number inside `sealed`.
    pub fn open(&self, sealed: &[u8]) -> Result<String, VaultError> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            return Err(VaultError::Tampered);
        };
        if rest.len() < NONCE_LEN {
            return Err(VaultError::Tampered);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Tampered)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(self.purpose), &mut buffer)
            .map_err(|_| VaultError::Tampered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const PURPOSE: &[u8] = b"test.number.v1";

    #[test]
    fn a_sealed_number_opens_to_itself_and_does_not_show_it() {
        let vault = Vault::from_hex(KEY, PURPOSE).unwrap();
        let sealed = vault.seal("9704360000000000002").unwrap();

        assert!(!sealed.windows(4).any(|window| window == b"0002"));
        assert_eq!(vault.open(&sealed).unwrap(), "9704360000000000002");
        assert_ne!(
            sealed,
            vault.seal("9704360000000000002").unwrap(),
            "fresh nonce each time"
        );
    }

    #[test]
    fn an_altered_value_or_another_key_does_not_open() {
        let vault = Vault::from_hex(KEY, PURPOSE).unwrap();
        let mut sealed = vault.seal("123456789").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(vault.open(&sealed), Err(VaultError::Tampered)));

        let other = Vault::from_hex(&KEY.replace("00", "ff"), PURPOSE).unwrap();
        let sealed = vault.seal("123456789").unwrap();
        assert!(matches!(other.open(&sealed), Err(VaultError::Tampered)));
    }

    #[test]
    fn a_value_sealed_for_one_purpose_does_not_open_as_another() {
        let sealed = Vault::from_hex(KEY, PURPOSE)
            .unwrap()
            .seal("123456789")
            .unwrap();
        let other = Vault::from_hex(KEY, b"test.other.v1").unwrap();
        assert!(matches!(other.open(&sealed), Err(VaultError::Tampered)));
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(matches!(
            Vault::from_hex("abcd", PURPOSE),
            Err(VaultError::BadKey)
        ));
    }
}
