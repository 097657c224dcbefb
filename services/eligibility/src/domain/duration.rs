//! How many benefit months contribution months buy, and what is reserved or lost.

use super::rates::RegimeRules;

/// The number of benefit months and the fate of every contribution month counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenefitDuration {
    /// Contribution months counted (new plus reserved from an earlier benefit).
    pub contribution_months: u32,
    /// Benefit months granted; zero below the minimum.
    pub benefit_months: u32,
    /// Contribution months used up by those benefit months.
    pub converted_months: u32,
    /// Contribution months kept for a future claim.
    pub reserved_months: u32,
    /// Contribution months above the conversion ceiling, which no claim can use.
    pub lost_months: u32,
}

/// Converts contribution months into benefit months.
///
/// Law 74/2025 art. 39 and Law 38/2013 art. 50(2): 12 to 36 months give 3 benefit months,
/// each further full 12 months one more, at most 12. Months above those converted are
/// reserved up to the ceiling (144) and lost above it (Law 74/2025 art. 39; Law 38/2013 art. 53). Below the
/// minimum nothing is granted or converted.
pub fn benefit_duration(contribution_months: u32, rules: &RegimeRules) -> BenefitDuration {
    let none = BenefitDuration {
        contribution_months,
        benefit_months: 0,
        converted_months: 0,
        reserved_months: 0,
        lost_months: 0,
    };
    if contribution_months < rules.minimum_contribution_months {
        return none;
    }
    let per_extra = rules.contribution_months_per_extra_benefit_month;
    let above_base = contribution_months.saturating_sub(rules.base_contribution_months);
    let extra_months = above_base.checked_div(per_extra).unwrap_or(0);
    let benefit_months = rules
        .base_benefit_months
        .saturating_add(extra_months)
        .min(rules.max_benefit_months);

    let extra_granted = benefit_months.saturating_sub(rules.base_benefit_months);
    let converted_limit = rules
        .base_contribution_months
        .saturating_add(extra_granted.saturating_mul(per_extra));
    let converted_months = contribution_months.min(converted_limit);
    let usable = contribution_months.min(rules.conversion_ceiling_months());
    BenefitDuration {
        benefit_months,
        converted_months,
        reserved_months: usable.saturating_sub(converted_months),
        lost_months: contribution_months.saturating_sub(usable),
        ..none
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::rates::RateBook;

    fn duration(months: u32) -> BenefitDuration {
        let book = RateBook::vietnam_defaults();
        let rules = book.rules_for_termination(NaiveDate::from_ymd_opt(2026, 3, 10).unwrap());
        benefit_duration(months, rules.unwrap())
    }

    fn summary(months: u32) -> (u32, u32, u32) {
        let d = duration(months);
        (d.benefit_months, d.reserved_months, d.lost_months)
    }

    #[test]
    fn eleven_months_give_no_benefit() {
        assert_eq!(summary(11), (0, 0, 0));
        assert_eq!(duration(11).converted_months, 0);
    }

    #[test]
    fn exactly_twelve_months_give_three_months_with_nothing_reserved() {
        assert_eq!(summary(12), (3, 0, 0));
        assert_eq!(duration(12).converted_months, 12);
    }

    #[test]
    fn thirty_six_months_give_three_months_with_nothing_reserved() {
        assert_eq!(summary(36), (3, 0, 0));
    }

    #[test]
    fn worked_example_1_forty_months_give_three_months_and_reserve_four() {
        assert_eq!(summary(40), (3, 4, 0));
    }

    #[test]
    fn forty_seven_months_give_three_months_and_reserve_eleven() {
        assert_eq!(summary(47), (3, 11, 0));
    }

    #[test]
    fn forty_eight_months_give_four_months_with_nothing_reserved() {
        assert_eq!(summary(48), (4, 0, 0));
    }

    #[test]
    fn one_hundred_forty_three_months_give_eleven_months_and_reserve_eleven() {
        assert_eq!(summary(143), (11, 11, 0));
    }

    #[test]
    fn one_hundred_forty_four_months_reach_the_twelve_month_maximum() {
        assert_eq!(summary(144), (12, 0, 0));
    }

    #[test]
    fn worked_example_3_one_hundred_fifty_months_give_twelve_and_lose_six() {
        assert_eq!(summary(150), (12, 0, 6));
        assert_eq!(duration(150).converted_months, 144);
    }

    #[test]
    fn every_contribution_month_is_converted_reserved_or_lost() {
        for months in 12..=400 {
            let d = duration(months);
            assert_eq!(
                d.converted_months + d.reserved_months + d.lost_months,
                months,
                "{months}"
            );
        }
    }
}
