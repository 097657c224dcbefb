//! Duplicate detection: the signs that a claimant may already be known under another record.
//!
//! Domain rules ("Eligibility"): the same person can appear under a citizen id and a legacy
//! id, and under a mistyped id. An exact id match, a linked legacy id and near matches (same
//! social insurance number, or same name and birth date with an id one digit apart) put the
//! claim on hold for an officer instead of creating a decision.

use chrono::NaiveDate;

use super::ids::{CitizenId, LegacyId, SocialInsuranceNumber};

/// How a possible duplicate was matched, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// The claimant's own record already has an open claim or a live decision.
    ExactId,
    /// Another record carries one of the claimant's legacy ids.
    LinkedLegacyId,
    /// Another record carries one of the claimant's social insurance numbers.
    SameSocialInsuranceNumber,
    /// Another record has the same name and birth date and a citizen id one digit apart.
    NearId,
}

/// A person record as duplicate detection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord<Id> {
    /// The record's opaque id.
    pub person_id: Id,
    /// Full name as registered.
    pub full_name: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Citizen id.
    pub citizen_id: CitizenId,
    /// Linked legacy ids.
    pub legacy_ids: Vec<LegacyId>,
    /// Linked social insurance numbers.
    pub social_insurance_numbers: Vec<SocialInsuranceNumber>,
}

/// A match found, naming the other record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateMatch<Id> {
    /// How it matched.
    pub kind: MatchKind,
    /// The record matched; the claimant's own for [`MatchKind::ExactId`].
    pub person_id: Id,
}

/// Names differ only in case and surrounding or repeated spaces when they name one person.
fn same_name(a: &str, b: &str) -> bool {
    let normal = |name: &str| {
        name.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    normal(a) == normal(b)
}

/// The strongest sign that `claimant` duplicates another record, if any.
///
/// `claimant_has_open_case` says whether the claimant's own record already has an open claim
/// or a live decision; `others` are the other records that share an identifier or a name and
/// birth date with the claimant.
pub fn find_duplicate<Id: Clone>(
    claimant: &PersonRecord<Id>,
    claimant_has_open_case: bool,
    others: &[PersonRecord<Id>],
) -> Option<DuplicateMatch<Id>> {
    if claimant_has_open_case {
        return Some(DuplicateMatch {
            kind: MatchKind::ExactId,
            person_id: claimant.person_id.clone(),
        });
    }
    others
        .iter()
        .filter_map(|other| {
            let kind = if other
                .legacy_ids
                .iter()
                .any(|id| claimant.legacy_ids.contains(id))
            {
                MatchKind::LinkedLegacyId
            } else if other
                .social_insurance_numbers
                .iter()
                .any(|number| claimant.social_insurance_numbers.contains(number))
            {
                MatchKind::SameSocialInsuranceNumber
            } else if other.birth_date == claimant.birth_date
                && same_name(&other.full_name, &claimant.full_name)
                && other.citizen_id.is_one_digit_apart(&claimant.citizen_id)
            {
                MatchKind::NearId
            } else {
                return None;
            };
            Some(DuplicateMatch {
                kind,
                person_id: other.person_id.clone(),
            })
        })
        .min_by_key(|found| found.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn person(id: u32, name: &str, citizen_id: &str) -> PersonRecord<u32> {
        PersonRecord {
            person_id: id,
            full_name: name.into(),
            birth_date: date(1985, 3, 14),
            citizen_id: CitizenId::parse(citizen_id).unwrap(),
            legacy_ids: Vec::new(),
            social_insurance_numbers: Vec::new(),
        }
    }

    #[test]
    fn an_open_case_of_the_claimant_is_an_exact_match() {
        let claimant = person(1, "Nguyễn Văn An", "001085012345");

        let found = find_duplicate(&claimant, true, &[]).unwrap();

        assert_eq!(found.kind, MatchKind::ExactId);
        assert_eq!(found.person_id, 1);
    }

    #[test]
    fn the_same_name_and_birth_date_with_an_id_one_digit_apart_is_a_near_match() {
        let claimant = person(1, "Nguyễn Văn An", "001085012345");
        let other = person(2, "nguyễn  văn an", "001085012346");

        let found = find_duplicate(&claimant, false, &[other]).unwrap();

        assert_eq!(found.kind, MatchKind::NearId);
        assert_eq!(found.person_id, 2);
    }

    #[test]
    fn an_id_two_digits_apart_is_not_a_near_match() {
        let claimant = person(1, "Nguyễn Văn An", "001085012345");
        let other = person(2, "Nguyễn Văn An", "001085012356");

        assert_eq!(find_duplicate(&claimant, false, &[other]), None);
    }

    #[test]
    fn a_shared_legacy_id_outranks_a_shared_social_insurance_number() {
        let mut claimant = person(1, "Nguyễn Văn An", "001085012345");
        claimant.legacy_ids = vec![LegacyId::parse("123456789").unwrap()];
        claimant.social_insurance_numbers =
            vec![SocialInsuranceNumber::parse("0123456789").unwrap()];
        let mut by_number = person(2, "Trần Thị Bình", "079185000001");
        by_number.social_insurance_numbers = claimant.social_insurance_numbers.clone();
        let mut by_legacy = person(3, "Lê Văn Cường", "048085000002");
        by_legacy.legacy_ids = claimant.legacy_ids.clone();

        let found = find_duplicate(&claimant, false, &[by_number, by_legacy]).unwrap();

        assert_eq!(found.kind, MatchKind::LinkedLegacyId);
        assert_eq!(found.person_id, 3);
    }
}
