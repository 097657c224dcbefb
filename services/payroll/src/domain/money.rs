//! Whole-đồng money.

use std::fmt;

use thiserror::Error;

/// Why an amount of money was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Benefit amounts are never negative.
    #[error("amount {0} is negative")]
    Negative(i64),
    /// A sum ran past what a 64-bit amount can hold.
    #[error("sum of amounts overflows")]
    Overflow,
}

/// An amount in whole Vietnamese đồng; VND has no minor unit, and this type is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dong(i64);

impl Dong {
    /// Zero đồng.
    pub const ZERO: Dong = Dong(0);

    /// Parses a whole-đồng amount, refusing negative values.
    pub fn new(amount: i64) -> Result<Dong, MoneyError> {
        if amount < 0 {
            return Err(MoneyError::Negative(amount));
        }
        Ok(Dong(amount))
    }

    /// The amount as a plain integer, for storage and wire formats.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// Sum, refusing overflow.
    pub fn checked_add(self, other: Dong) -> Result<Dong, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Dong)
            .ok_or(MoneyError::Overflow)
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
    fn a_negative_amount_is_refused() {
        assert_eq!(Dong::new(-1), Err(MoneyError::Negative(-1)));
        assert_eq!(Dong::new(0), Ok(Dong::ZERO));
    }

    #[test]
    fn an_overflowing_sum_is_refused() {
        let big = Dong::new(i64::MAX).unwrap();
        assert_eq!(
            big.checked_add(Dong::new(1).unwrap()),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Dong::new(6_000_000)
                .unwrap()
                .checked_add(Dong::new(18_500_000).unwrap()),
            Ok(Dong::new(24_500_000).unwrap())
        );
    }
}
