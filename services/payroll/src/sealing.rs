//! Secrets at rest: card and account numbers and the private halves of list signing keys are
//! sealed with the vault key (AES-256-GCM, one purpose each), so a copy of the database or a
//! backup reveals neither. Where rows must be compared by number (one account paying several
//! people, an account that changed), a keyed digest of the number stands for it.

use ring::hmac;
use vault::{Vault, VaultError};

/// What payroll seals card and account numbers for.
pub const NUMBER_PURPOSE: &[u8] = b"benefit.payroll.destination-number.v1";
/// What payroll seals signing key seeds for.
pub const SEED_PURPOSE: &[u8] = b"benefit.payroll.signing-key-seed.v1";
/// Label deriving the digest key from the vault key.
const DIGEST_LABEL: &[u8] = b"benefit.payroll.destination-digest.v1";

/// A card or account number as stored: sealed, with its keyed digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedNumber {
    /// Version, nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
    /// HMAC-SHA-256 of the number: equal numbers, equal digests; the number does not follow.
    pub digest: Vec<u8>,
}

impl std::fmt::Debug for SealedNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedNumber")
    }
}

/// Seals and opens numbers and key seeds under the vault key.
pub struct Sealer {
    numbers: Vault,
    seeds: Vault,
    digest: hmac::Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// A sealer over the 32-byte vault key written as 64 hex digits.
    pub fn from_hex(key_hex: &str) -> Result<Sealer, VaultError> {
        let numbers = Vault::from_hex(key_hex, NUMBER_PURPOSE)?;
        let seeds = Vault::from_hex(key_hex, SEED_PURPOSE)?;
        let bytes = hex::decode(key_hex.trim()).map_err(|_| VaultError::BadKey)?;
        // The digest gets a key of its own, derived from the vault key under a label, so the
        // digests say nothing about the sealing key and one secret is all an operator keeps.
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &bytes), DIGEST_LABEL);
        Ok(Sealer {
            numbers,
            seeds,
            digest: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        })
    }

    /// `number` sealed, with its digest.
    pub fn seal_number(&self, number: &str) -> Result<SealedNumber, VaultError> {
        Ok(SealedNumber {
            sealed: self.numbers.seal(number)?,
            digest: self.digest(number),
        })
    }

    /// The number inside `sealed`.
    pub fn open_number(&self, sealed: &[u8]) -> Result<String, VaultError> {
        self.numbers.open(sealed)
    }

    /// The keyed digest of `number`.
    pub fn digest(&self, number: &str) -> Vec<u8> {
        hmac::sign(&self.digest, number.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// A signing key's 32-byte seed, sealed.
    pub fn seal_seed(&self, seed: &[u8; 32]) -> Result<Vec<u8>, VaultError> {
        self.seeds.seal(&hex::encode(seed))
    }

    /// The seed inside `sealed`.
    pub fn open_seed(&self, sealed: &[u8]) -> Result<[u8; 32], VaultError> {
        let hex_seed = self.seeds.open(sealed)?;
        hex::decode(hex_seed)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .ok_or(VaultError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_number_opens_and_its_digest_is_stable_but_keyed() {
        let sealer = Sealer::from_hex(KEY).unwrap();
        let sealed = sealer.seal_number("0011001000001").unwrap();

        assert_eq!(sealer.open_number(&sealed.sealed).unwrap(), "0011001000001");
        assert_eq!(sealed.digest, sealer.digest("0011001000001"));
        assert_ne!(sealed.digest, sealer.digest("0011001000002"));
        let other = Sealer::from_hex(&KEY.replace("00", "ff")).unwrap();
        assert_ne!(sealed.digest, other.digest("0011001000001"));
    }

    #[test]
    fn a_sealed_number_does_not_open_as_a_seed_nor_the_reverse() {
        let sealer = Sealer::from_hex(KEY).unwrap();
        let number = sealer.seal_number("0011001000001").unwrap();
        let seed = sealer.seal_seed(&[7; 32]).unwrap();

        assert!(sealer.open_seed(&number.sealed).is_err());
        assert!(sealer.open_number(&seed).is_err());
        assert_eq!(sealer.open_seed(&seed).unwrap(), [7; 32]);
    }
}
