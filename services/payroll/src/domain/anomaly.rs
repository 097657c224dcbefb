//! The anomalies that hold a payment line for a social-security officer.

use std::collections::{BTreeSet, HashMap};

use super::money::Dong;

/// Why a line is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HoldReason {
    /// The same card or account receives for several people in the list or month.
    SharedDestination,
    /// The card or account changed since the previous paid month.
    DestinationChanged,
    /// The amount differs from the decision's monthly amount.
    AmountMismatch,
    /// A termination arrived between the check-in and the cut.
    TerminatedBeforeCut,
}

impl HoldReason {
    /// The wire and storage code (the `HoldReason` enum of the contracts).
    pub fn code(self) -> i16 {
        match self {
            HoldReason::SharedDestination => 1,
            HoldReason::DestinationChanged => 2,
            HoldReason::AmountMismatch => 3,
            HoldReason::TerminatedBeforeCut => 4,
        }
    }

    /// Parses the wire and storage code.
    pub fn from_code(code: i32) -> Option<HoldReason> {
        match code {
            1 => Some(HoldReason::SharedDestination),
            2 => Some(HoldReason::DestinationChanged),
            3 => Some(HoldReason::AmountMismatch),
            4 => Some(HoldReason::TerminatedBeforeCut),
            _ => None,
        }
    }
}

/// A card or account, as the bank knows it: bank id and number, the number standing as its
/// keyed digest (equal numbers, equal digests), so the checks never need it in clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationKey {
    /// NAPAS bank id.
    pub bank_id: String,
    /// Keyed digest of the card or account number.
    pub number_digest: Vec<u8>,
}

/// What the cut knows about one pending line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Amount on the entitlement.
    pub amount: Dong,
    /// The decision's current monthly amount.
    pub decision_amount: Dong,
    /// Where the line pays.
    pub destination: DestinationKey,
    /// Where the decision's previous paid (or listed) month went, if any.
    pub previous_destination: Option<DestinationKey>,
    /// True when a termination arrived after the check-in that earned the line.
    pub terminated_after_checkin: bool,
}

/// The hold decided for a line: empty reasons mean it is approved by policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holds {
    /// Every reason found, in a fixed order.
    pub reasons: Vec<HoldReason>,
    /// The facts behind them, for the officer.
    pub explanation: String,
}

impl Holds {
    /// True when the line must wait for an officer.
    pub fn is_held(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// Counts the distinct people paid on each destination from `(destination, person)` pairs
/// (the candidates themselves and the month's other live entitlements).
pub fn people_per_destination<'a>(
    pairs: impl IntoIterator<Item = (&'a DestinationKey, &'a str)>,
) -> HashMap<DestinationKey, usize> {
    let mut people: HashMap<&DestinationKey, BTreeSet<&str>> = HashMap::new();
    for (destination, person) in pairs {
        people.entry(destination).or_default().insert(person);
    }
    people
        .into_iter()
        .map(|(destination, persons)| (destination.clone(), persons.len()))
        .collect()
}

/// The anomalies of one line, given how many people its destination pays this month.
pub fn assess(candidate: &Candidate, people_on_destination: usize) -> Holds {
    let mut reasons = Vec::new();
    let mut facts = Vec::new();
    if people_on_destination > 1 {
        reasons.push(HoldReason::SharedDestination);
        facts.push(format!(
            "destination pays {people_on_destination} people this month"
        ));
    }
    if candidate
        .previous_destination
        .as_ref()
        .is_some_and(|previous| *previous != candidate.destination)
    {
        reasons.push(HoldReason::DestinationChanged);
        facts.push("destination differs from the previous paid month".to_owned());
    }
    if candidate.amount != candidate.decision_amount {
        reasons.push(HoldReason::AmountMismatch);
        facts.push(format!(
            "amount {} differs from the decision's {}",
            candidate.amount, candidate.decision_amount
        ));
    }
    if candidate.terminated_after_checkin {
        reasons.push(HoldReason::TerminatedBeforeCut);
        facts.push("decision terminated after the check-in".to_owned());
    }
    Holds {
        reasons,
        explanation: facts.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(number: &str) -> DestinationKey {
        DestinationKey {
            bank_id: "970436".into(),
            number_digest: number.as_bytes().to_vec(),
        }
    }

    fn clean() -> Candidate {
        Candidate {
            amount: Dong::new(6_000_000).unwrap(),
            decision_amount: Dong::new(6_000_000).unwrap(),
            destination: key("0011001234567"),
            previous_destination: Some(key("0011001234567")),
            terminated_after_checkin: false,
        }
    }

    #[test]
    fn a_line_without_anomalies_is_approved_by_policy() {
        let holds = assess(&clean(), 1);
        assert!(!holds.is_held());
        assert!(holds.explanation.is_empty());
    }

    #[test]
    fn an_account_shared_by_two_people_is_held() {
        let a = key("0011001234567");
        let b = key("0011009999999");
        let people = people_per_destination([(&a, "p1"), (&a, "p2"), (&b, "p3"), (&b, "p3")]);
        assert_eq!(people[&a], 2);
        assert_eq!(people[&b], 1, "one person twice is not shared");

        let holds = assess(&clean(), people[&a]);
        assert_eq!(holds.reasons, vec![HoldReason::SharedDestination]);
        assert!(holds.explanation.contains("2 people"));
    }

    #[test]
    fn a_changed_account_is_held_but_a_first_month_is_not() {
        let mut changed = clean();
        changed.previous_destination = Some(key("0011000000001"));
        assert_eq!(
            assess(&changed, 1).reasons,
            vec![HoldReason::DestinationChanged]
        );

        let mut first = clean();
        first.previous_destination = None;
        assert!(!assess(&first, 1).is_held());
    }

    #[test]
    fn an_amount_different_from_the_decision_is_held() {
        let mut different = clean();
        different.decision_amount = Dong::new(5_000_000).unwrap();
        assert_eq!(
            assess(&different, 1).reasons,
            vec![HoldReason::AmountMismatch]
        );
    }

    #[test]
    fn a_termination_after_the_check_in_is_held() {
        let mut terminated = clean();
        terminated.terminated_after_checkin = true;
        assert_eq!(
            assess(&terminated, 1).reasons,
            vec![HoldReason::TerminatedBeforeCut]
        );
    }

    #[test]
    fn hold_reason_codes_round_trip() {
        for reason in [
            HoldReason::SharedDestination,
            HoldReason::DestinationChanged,
            HoldReason::AmountMismatch,
            HoldReason::TerminatedBeforeCut,
        ] {
            assert_eq!(
                HoldReason::from_code(i32::from(reason.code())),
                Some(reason)
            );
        }
        assert_eq!(HoldReason::from_code(0), None);
    }
}
