//! Whole-đồng money.

use std::fmt;

use thiserror::Error;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// A payment always moves money: zero or less is a mistake upstream.
    #[error("amount {0} is not positive")]
    NotPositive(i64),
}

/// A positive amount in whole Vietnamese đồng; VND has no minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dong(i64);

impl Dong {
    /// Parses a payment amount, refusing zero and negative values.
    pub fn new(amount: i64) -> Result<Dong, MoneyError> {
        if amount <= 0 {
            return Err(MoneyError::NotPositive(amount));
        }
        Ok(Dong(amount))
    }

    /// The amount as a plain integer, for storage and wire formats.
    pub fn as_i64(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Dong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} VND", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_amount_must_be_positive() {
        assert_eq!(Dong::new(0), Err(MoneyError::NotPositive(0)));
        assert_eq!(Dong::new(-5), Err(MoneyError::NotPositive(-5)));
        assert_eq!(Dong::new(6_000_000).map(Dong::as_i64), Ok(6_000_000));
    }
}
