//! End-to-end ids: the payment's idempotency key at the bank, unchanged from us to the
//! beneficiary's account.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why an end-to-end id or attempt was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EndToEndError {
    /// ISO 20022 allows 1 to 35 characters.
    #[error("end-to-end id must have 1 to 35 characters")]
    Length,
    /// Only letters, digits and '-' travel safely through every bank's core.
    #[error("end-to-end id must contain only letters, digits and '-'")]
    Characters,
    /// Attempts are numbered from 1 to [`Attempt::MAX`].
    #[error("attempt must be between 1 and 999")]
    AttemptOutOfRange,
}

/// The number of one try at paying an entitlement, 1 for the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(u16);

impl Attempt {
    /// The first attempt.
    pub const FIRST: Attempt = Attempt(1);
    /// The largest attempt number an end-to-end id can carry.
    pub const MAX: u16 = 999;

    /// Parses an attempt number.
    pub fn new(number: i64) -> Result<Attempt, EndToEndError> {
        u16::try_from(number)
            .ok()
            .filter(|number| (1..=Self::MAX).contains(number))
            .map(Attempt)
            .ok_or(EndToEndError::AttemptOutOfRange)
    }

    /// The attempt after this one, or `None` past [`Attempt::MAX`].
    pub fn next(self) -> Option<Attempt> {
        Attempt::new(i64::from(self.0) + 1).ok()
    }

    /// The number.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// An ISO 20022 EndToEndId (at most 35 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndToEndId(String);

impl EndToEndId {
    /// The id of `attempt` at paying `entitlement_id`: `UB`, 24 base32 characters of the
    /// SHA-256 of the entitlement id, `-`, the attempt in 3 digits (30 characters).
    ///
    /// Derived, not random, so the same attempt always has the same id: a retried write can
    /// never send one attempt under two ids, and the entitlement id (a UUID of 36
    /// characters) does not fit ISO's 35 as it is.
    pub fn derive(entitlement_id: &str, attempt: Attempt) -> EndToEndId {
        let digest = Sha256::digest(entitlement_id.as_bytes());
        let encoded = BASE32_NOPAD.encode(&digest[..15]);
        EndToEndId(format!("UB{encoded}-{:03}", attempt.get()))
    }

    /// Parses an id a bank sent back.
    pub fn parse(text: &str) -> Result<EndToEndId, EndToEndError> {
        if text.is_empty() || text.len() > 35 {
            return Err(EndToEndError::Length);
        }
        if !text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            return Err(EndToEndError::Characters);
        }
        Ok(EndToEndId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndToEndId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTITLEMENT: &str = "0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";

    #[test]
    fn the_id_is_stable_short_and_differs_per_attempt() {
        let first = EndToEndId::derive(ENTITLEMENT, Attempt::FIRST);
        let again = EndToEndId::derive(ENTITLEMENT, Attempt::FIRST);
        let second = EndToEndId::derive(ENTITLEMENT, Attempt::new(2).unwrap());

        assert_eq!(first, again);
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 30);
        assert!(first.as_str().ends_with("-001"));
        assert!(second.as_str().ends_with("-002"));
        assert_eq!(EndToEndId::parse(first.as_str()), Ok(first));
    }

    #[test]
    fn different_entitlements_get_different_ids() {
        assert_ne!(
            EndToEndId::derive(ENTITLEMENT, Attempt::FIRST),
            EndToEndId::derive("another", Attempt::FIRST)
        );
    }

    #[test]
    fn a_bank_s_id_is_checked_for_length_and_characters() {
        assert_eq!(EndToEndId::parse(""), Err(EndToEndError::Length));
        assert_eq!(
            EndToEndId::parse(&"A".repeat(36)),
            Err(EndToEndError::Length)
        );
        assert_eq!(EndToEndId::parse("AB 12"), Err(EndToEndError::Characters));
    }

    #[test]
    fn attempts_run_from_1_to_999() {
        assert_eq!(Attempt::new(0), Err(EndToEndError::AttemptOutOfRange));
        assert_eq!(Attempt::new(1000), Err(EndToEndError::AttemptOutOfRange));
        assert_eq!(Attempt::new(999).unwrap().next(), None);
        assert_eq!(Attempt::FIRST.next().map(Attempt::get), Some(2));
    }
}
