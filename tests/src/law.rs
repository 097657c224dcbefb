//! What the law gives a synthetic person, worked out independently of the services, so the
//! end-to-end and fault suites compare what was paid with what should have been.

use contracts::common::v1::ContractType;
use population::{Contract, Person};

/// Regional minimum wages from 1 January 2026 (Decree 293/2025), regions I to IV.
pub const MINIMUM_WAGE_2026: [i64; 4] = [5_310_000, 4_730_000, 4_140_000, 3_700_000];

/// The benefit a claim should be assessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Benefit {
    /// Paid for each benefit month, in đồng.
    pub monthly_amount: i64,
    /// How many benefit months the decision grants.
    pub months: u32,
}

/// Law 74/2025 art. 38–39 for the population's histories, which run without a gap up to the
/// termination month: eligible with 12 contribution months or more; 60% of the average of the
/// last 6 months (each rounded down to the đồng), at most 5 × the last employer's regional
/// minimum wage; 3 months for up to 36 contribution months, one more per further full 12, at
/// most 12.
pub fn benefit_of(person: &Person) -> Option<Benefit> {
    let count = person.contributions.len();
    if count < 12 {
        return None;
    }
    let last_six = &person.contributions[count - 6..];
    let average = last_six.iter().map(|month| month.salary_dong).sum::<i64>() / 6;
    let uncapped = average * 60 / 100;
    let region = person.contributions[count - 1].region;
    let cap = 5 * MINIMUM_WAGE_2026[usize::from(region.saturating_sub(1)).min(3)];
    let months = if count <= 36 {
        3
    } else {
        (3 + (count as u32 - 36) / 12).min(12)
    };
    Some(Benefit {
        monthly_amount: uncapped.min(cap),
        months,
    })
}

/// The contract type the claim declares: that of the last contribution month.
pub fn contract_type(person: &Person) -> ContractType {
    match person.contributions.last().map(|month| month.contract) {
        Some(Contract::FixedTerm(months)) if months < 12 => ContractType::ShortTerm,
        Some(Contract::FixedTerm(_)) => ContractType::FixedTerm,
        _ => ContractType::Indefinite,
    }
}
