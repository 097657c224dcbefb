//! Identifiers the check-in service receives from others and carries in its tokens.

use std::fmt;

use thiserror::Error;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// Empty, too long, or with characters outside the allowed set.
    #[error("must be 1 to {max} characters of {allowed}")]
    Malformed {
        /// Longest accepted length.
        max: usize,
        /// The characters allowed, in words.
        allowed: &'static str,
    },
}

fn check(
    value: &str,
    max: usize,
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), IdError> {
    if value.is_empty() || value.len() > max || !value.chars().all(ok) {
        return Err(IdError::Malformed { max, allowed });
    }
    Ok(())
}

/// A benefit decision's id as eligibility issues it; opaque here, but short and printable so it
/// fits in a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DecisionId(String);

impl DecisionId {
    /// Longest decision id a token can carry.
    pub const MAX_LEN: usize = 64;

    /// Parses a decision id: 1 to 64 printable ASCII characters without spaces.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            value,
            Self::MAX_LEN,
            "printable ASCII without spaces",
            |c| c.is_ascii_graphic(),
        )?;
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a notice signing key, carried in every token next to its signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Longest key id a token can carry.
    pub const MAX_LEN: usize = 32;

    /// Parses a key id: 1 to 32 ASCII letters, digits, `-` or `_`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            value,
            Self::MAX_LEN,
            "ASCII letters, digits, '-' and '_'",
            |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        )?;
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_id_must_be_short_printable_text() {
        assert!(DecisionId::parse("0190f3a2-7c1e-7d3b-9a55-2f0c1b3d4e5f").is_ok());
        assert!(DecisionId::parse("").is_err());
        assert!(DecisionId::parse("with space").is_err());
        assert!(DecisionId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_key_id_allows_letters_digits_dash_and_underscore() {
        assert!(KeyId::parse("notice-2026_01").is_ok());
        assert!(KeyId::parse("key.1").is_err());
        assert!(KeyId::parse(&"k".repeat(33)).is_err());
    }
}
