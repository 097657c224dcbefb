//! Whole-đồng money and percentages, with the one rounding rule the law leaves open.

use std::fmt;

use thiserror::Error;

/// Why an amount of money was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Benefit amounts, salaries, wages and caps are never negative.
    #[error("amount {0} is negative")]
    Negative(i64),
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

    /// An amount that cannot be negative by its type, for published values such as wages.
    pub const fn from_u32(amount: u32) -> Dong {
        Dong(amount as i64)
    }

    /// The amount as a plain integer, for storage and wire formats.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// Sum, or `None` on overflow.
    pub fn checked_add(self, other: Dong) -> Option<Dong> {
        self.0.checked_add(other.0).map(Dong)
    }

    /// Difference, or `None` when it would be negative.
    pub fn checked_sub(self, other: Dong) -> Option<Dong> {
        self.0.checked_sub(other.0).filter(|d| *d >= 0).map(Dong)
    }

    /// Product with a whole multiplier (such as the cap's "5 ×"), or `None` on overflow.
    pub fn checked_mul(self, multiplier: u32) -> Option<Dong> {
        self.0.checked_mul(i64::from(multiplier)).map(Dong)
    }

    /// `percent` of this amount, rounded by [`round_down_to_dong`].
    pub fn percent_floor(self, percent: Percent) -> Dong {
        let scaled = i128::from(self.0) * i128::from(percent.basis_points());
        Dong(round_down_to_dong(
            scaled,
            i128::from(Percent::BASIS_POINTS_IN_WHOLE),
        ))
    }

    /// Mean of the amounts rounded by [`round_down_to_dong`]; `None` for an empty list.
    pub fn average_floor(amounts: &[Dong]) -> Option<Dong> {
        let count = i128::try_from(amounts.len()).ok().filter(|n| *n > 0)?;
        // i128 holds any sum of i64 amounts a person could have, so the sum cannot overflow.
        let sum: i128 = amounts.iter().map(|d| i128::from(d.0)).sum();
        Some(Dong(round_down_to_dong(sum, count)))
    }
}

/// The single rounding rule for benefit arithmetic: drop the fraction of a đồng.
///
/// Domain rules ("Amount"): the average and the 60% are rounded down to the đồng; the rule is
/// unconfirmed, so every division in money arithmetic goes through here and nowhere else.
/// Inputs are non-negative, and the result of dividing non-negative i64-sized values by a
/// positive divisor fits back into i64; anything else saturates rather than panics.
pub fn round_down_to_dong(numerator: i128, denominator: i128) -> i64 {
    if denominator <= 0 || numerator <= 0 {
        return 0;
    }
    i64::try_from(numerator / denominator).unwrap_or(i64::MAX)
}

impl fmt::Display for Dong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{grouped} VND")
    }
}

/// A non-negative percentage held in basis points (1/100 of a percent), so 4.5% needs no float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u32);

impl Percent {
    const BASIS_POINTS_IN_WHOLE: u32 = 10_000;

    /// A whole percentage such as 60%.
    pub const fn whole(percent: u16) -> Percent {
        Percent(percent as u32 * 100)
    }

    /// A percentage in basis points: 450 is 4.5%.
    pub const fn basis_points_of(basis_points: u32) -> Percent {
        Percent(basis_points)
    }

    /// True when the percentage is at most 100%, as any share of a salary must be.
    pub fn is_at_most_whole(self) -> bool {
        self.0 <= Percent::BASIS_POINTS_IN_WHOLE
    }

    /// The percentage in basis points.
    pub fn basis_points(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 100;
        let fraction = self.0 % 100;
        if fraction == 0 {
            write!(f, "{whole}%")
        } else {
            write!(f, "{whole}.{fraction:02}%")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dong(amount: i64) -> Dong {
        Dong::new(amount).unwrap()
    }

    #[test]
    fn a_negative_amount_is_refused() {
        assert_eq!(Dong::new(-1), Err(MoneyError::Negative(-1)));
    }

    #[test]
    fn sixty_percent_of_an_odd_amount_drops_the_fraction_of_a_dong() {
        // 60% of 10,000,001 is 6,000,000.6.
        assert_eq!(
            dong(10_000_001).percent_floor(Percent::whole(60)),
            dong(6_000_000)
        );
    }

    #[test]
    fn an_average_with_a_remainder_rounds_down() {
        let average = Dong::average_floor(&[dong(1), dong(2)]).unwrap();
        assert_eq!(average, dong(1));
    }

    #[test]
    fn the_average_of_no_months_is_undefined() {
        assert_eq!(Dong::average_floor(&[]), None);
    }

    #[test]
    fn subtraction_below_zero_is_refused() {
        assert_eq!(dong(5).checked_sub(dong(6)), None);
        assert_eq!(dong(6).checked_sub(dong(5)), Some(dong(1)));
    }

    #[test]
    fn multiplication_that_overflows_is_refused() {
        assert_eq!(dong(i64::MAX).checked_mul(2), None);
        assert_eq!(dong(3_700_000).checked_mul(5), Some(dong(18_500_000)));
    }

    #[test]
    fn percent_of_a_huge_amount_does_not_overflow() {
        let huge = dong(i64::MAX);
        assert_eq!(huge.percent_floor(Percent::whole(100)), huge);
    }

    #[test]
    fn a_percentage_above_one_hundred_is_flagged() {
        assert!(!Percent::whole(101).is_at_most_whole());
        assert!(Percent::whole(100).is_at_most_whole());
    }

    #[test]
    fn a_fractional_percentage_needs_no_float() {
        let rate = Percent::basis_points_of(450);
        assert_eq!(dong(6_000_000).percent_floor(rate), dong(270_000));
        assert_eq!(rate.to_string(), "4.50%");
    }

    #[test]
    fn amounts_display_with_thousands_separators() {
        assert_eq!(dong(26_550_000).to_string(), "26,550,000 VND");
        assert_eq!(dong(0).to_string(), "0 VND");
        assert_eq!(dong(999).to_string(), "999 VND");
    }
}
