//! Vietnamese personal identifiers, parsed once at the edge and trusted inside.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use thiserror::Error;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The identifier has the wrong number of characters.
    #[error("{kind} must have {expected} digits, got {actual} characters")]
    WrongLength {
        /// Which identifier was being parsed.
        kind: IdKind,
        /// The length the identifier must have.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
    /// The identifier contains something other than an ASCII digit.
    #[error("{kind} must contain only digits, found {found:?} at position {position}")]
    NonDigit {
        /// Which identifier was being parsed.
        kind: IdKind,
        /// The 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Digits 1–3 of a citizen id are not one of the 63 province codes.
    #[error("citizen id province code {0} is not in the official list")]
    UnknownProvinceCode(String),
    /// Digit 4 does not encode the person's century of birth and sex.
    #[error(
        "citizen id century and sex digit is {found} but a {sex} born in {birth_year} needs {expected}"
    )]
    CenturySexDigitMismatch {
        /// Digit 4 as written in the id.
        found: u8,
        /// Digit 4 that the person's birth year and sex call for.
        expected: u8,
        /// The person's sex.
        sex: Sex,
        /// The person's birth year.
        birth_year: i32,
    },
    /// The person was born in a century that the id's digit 4 cannot encode.
    #[error("citizen id cannot encode birth year {0}")]
    BirthYearOutOfRange(i32),
    /// Digits 5–6 are not the last two digits of the person's birth year.
    #[error("citizen id birth year digits are {found:02} but the person was born in {birth_year}")]
    BirthYearMismatch {
        /// Digits 5–6 as written in the id.
        found: u8,
        /// The person's birth year.
        birth_year: i32,
    },
}

/// Which identifier an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// The 12-digit citizen id (CCCD).
    CitizenId,
    /// The 9-digit legacy identity card number.
    LegacyId,
    /// The 10-digit social insurance number (mã số BHXH).
    SocialInsuranceNumber,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::CitizenId => "citizen id",
            IdKind::LegacyId => "legacy id",
            IdKind::SocialInsuranceNumber => "social insurance number",
        })
    }
}

/// A person's sex as recorded in the population register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Male: even century digit.
    Male,
    /// Female: odd century digit.
    Female,
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "male",
            Sex::Female => "female",
        })
    }
}

/// The province codes of Circular 07/2016/TT-BCA (appendix), in force for citizen ids.
///
/// 001 Hà Nội … 096 Cà Mau; the gaps are codes the circular does not assign.
const PROVINCE_CODES: [u16; 63] = [
    1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37,
    38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77,
    79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
];

/// The first year of the century that digit 4 = 0 or 1 denotes (Circular 07/2016 art. 7).
const FIRST_ENCODED_CENTURY: i32 = 1900;

/// Checks that `text` is exactly `N` ASCII digits and returns them as numbers.
fn parse_digits<const N: usize>(kind: IdKind, text: &str) -> Result<[u8; N], IdError> {
    let actual = text.chars().count();
    if actual != N {
        return Err(IdError::WrongLength {
            kind,
            expected: N,
            actual,
        });
    }
    let mut digits = [0u8; N];
    for (index, character) in text.chars().enumerate() {
        if !character.is_ascii_digit() {
            return Err(IdError::NonDigit {
                kind,
                position: index + 1,
                found: character,
            });
        }
        // An ASCII digit is one byte, so the cast keeps its value.
        digits[index] = character as u8 - b'0';
    }
    Ok(digits)
}

fn digits_to_string(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A 12-digit citizen id (căn cước công dân) whose shape and province code are valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CitizenId([u8; 12]);

impl CitizenId {
    /// Parses a citizen id, refusing a wrong length, non-digits or an unknown province code.
    pub fn parse(text: &str) -> Result<CitizenId, IdError> {
        let digits = parse_digits::<12>(IdKind::CitizenId, text)?;
        let province =
            u16::from(digits[0]) * 100 + u16::from(digits[1]) * 10 + u16::from(digits[2]);
        if !PROVINCE_CODES.contains(&province) {
            return Err(IdError::UnknownProvinceCode(digits_to_string(&digits[..3])));
        }
        Ok(CitizenId(digits))
    }

    /// The 3-digit code of the province where the birth was registered.
    pub fn province_code(&self) -> String {
        digits_to_string(&self.0[..3])
    }

    /// The sex that digit 4 encodes: even is male, odd is female.
    pub fn sex(&self) -> Sex {
        if self.0[3].is_multiple_of(2) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The birth year that digits 4–6 encode (century from digit 4, year from digits 5–6).
    pub fn birth_year(&self) -> i32 {
        let century = FIRST_ENCODED_CENTURY + i32::from(self.0[3] / 2) * 100;
        century + i32::from(self.0[4]) * 10 + i32::from(self.0[5])
    }

    /// Checks the id against the person's register data and names the first disagreement.
    pub fn check_against(&self, birth_date: NaiveDate, sex: Sex) -> Result<(), IdError> {
        let birth_year = birth_date.year();
        let expected = century_sex_digit(birth_year, sex)?;
        let found = self.0[3];
        if found != expected {
            return Err(IdError::CenturySexDigitMismatch {
                found,
                expected,
                sex,
                birth_year,
            });
        }
        let found_year = self.0[4] * 10 + self.0[5];
        if i32::from(found_year) != birth_year.rem_euclid(100) {
            return Err(IdError::BirthYearMismatch {
                found: found_year,
                birth_year,
            });
        }
        Ok(())
    }

    /// True when the two ids differ in exactly one digit: a likely typo for an officer to see.
    pub fn is_one_digit_apart(&self, other: &CitizenId) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .filter(|(a, b)| a != b)
            .count()
            == 1
    }

    /// The id as its 12 digits.
    pub fn as_string(&self) -> String {
        digits_to_string(&self.0)
    }
}

/// Digit 4 for a birth year and sex: 0/1 for the 1900s, 2/3 for the 2000s, and so on to 8/9.
fn century_sex_digit(birth_year: i32, sex: Sex) -> Result<u8, IdError> {
    let centuries_since_first = (birth_year - FIRST_ENCODED_CENTURY).div_euclid(100);
    let century_index = u8::try_from(centuries_since_first)
        .ok()
        .filter(|index| *index <= 4)
        .ok_or(IdError::BirthYearOutOfRange(birth_year))?;
    let sex_offset = match sex {
        Sex::Male => 0,
        Sex::Female => 1,
    };
    Ok(century_index * 2 + sex_offset)
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// A 9-digit legacy identity card number (chứng minh nhân dân) still found in old records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegacyId([u8; 9]);

impl LegacyId {
    /// Parses a legacy id: exactly nine digits, no further structure is checked.
    pub fn parse(text: &str) -> Result<LegacyId, IdError> {
        parse_digits::<9>(IdKind::LegacyId, text).map(LegacyId)
    }

    /// The id as its 9 digits.
    pub fn as_string(&self) -> String {
        digits_to_string(&self.0)
    }
}

impl fmt::Display for LegacyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// A 10-digit social insurance number (mã số BHXH); it has no public structure, so it is opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocialInsuranceNumber([u8; 10]);

impl SocialInsuranceNumber {
    /// Parses a social insurance number: exactly ten digits.
    pub fn parse(text: &str) -> Result<SocialInsuranceNumber, IdError> {
        parse_digits::<10>(IdKind::SocialInsuranceNumber, text).map(SocialInsuranceNumber)
    }

    /// The number as its 10 digits.
    pub fn as_string(&self) -> String {
        digits_to_string(&self.0)
    }
}

impl fmt::Display for SocialInsuranceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_hanoi_man_born_in_1985_has_a_valid_id() {
        let id = CitizenId::parse("001085012345").unwrap();
        assert_eq!(id.province_code(), "001");
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.birth_year(), 1985);
        assert_eq!(id.check_against(date(1985, 3, 14), Sex::Male), Ok(()));
    }

    #[test]
    fn a_ca_mau_woman_born_in_2003_has_a_valid_id() {
        let id = CitizenId::parse("096303000001").unwrap();
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.birth_year(), 2003);
        assert_eq!(id.check_against(date(2003, 12, 31), Sex::Female), Ok(()));
    }

    #[test]
    fn a_citizen_id_of_eleven_digits_is_refused_with_its_length() {
        assert_eq!(
            CitizenId::parse("00108501234"),
            Err(IdError::WrongLength {
                kind: IdKind::CitizenId,
                expected: 12,
                actual: 11
            })
        );
    }

    #[test]
    fn a_citizen_id_with_a_letter_is_refused_with_its_position() {
        assert_eq!(
            CitizenId::parse("0010850123O5"),
            Err(IdError::NonDigit {
                kind: IdKind::CitizenId,
                position: 11,
                found: 'O'
            })
        );
    }

    #[test]
    fn a_citizen_id_with_non_ascii_digits_is_refused() {
        // Arabic-Indic digits are digits to Unicode but not to the register.
        let text = "00108501234\u{0665}";
        assert!(matches!(
            CitizenId::parse(text),
            Err(IdError::NonDigit { position: 12, .. })
        ));
    }

    #[test]
    fn a_citizen_id_with_an_unassigned_province_code_is_refused() {
        assert_eq!(
            CitizenId::parse("003085012345"),
            Err(IdError::UnknownProvinceCode("003".to_owned()))
        );
        assert_eq!(
            CitizenId::parse("097085012345"),
            Err(IdError::UnknownProvinceCode("097".to_owned()))
        );
        assert_eq!(
            CitizenId::parse("000085012345"),
            Err(IdError::UnknownProvinceCode("000".to_owned()))
        );
    }

    #[test]
    fn every_listed_province_code_is_accepted() {
        for code in PROVINCE_CODES {
            let text = format!("{code:03}085012345");
            assert!(CitizenId::parse(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn a_woman_whose_id_says_male_is_refused_with_the_expected_digit() {
        let id = CitizenId::parse("001085012345").unwrap();
        assert_eq!(
            id.check_against(date(1985, 1, 1), Sex::Female),
            Err(IdError::CenturySexDigitMismatch {
                found: 0,
                expected: 1,
                sex: Sex::Female,
                birth_year: 1985
            })
        );
    }

    #[test]
    fn a_person_born_in_the_2000s_with_a_1900s_digit_is_refused() {
        let id = CitizenId::parse("001085012345").unwrap();
        assert!(matches!(
            id.check_against(date(2085, 1, 1), Sex::Male),
            Err(IdError::CenturySexDigitMismatch {
                found: 0,
                expected: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_birth_year_that_disagrees_with_digits_five_and_six_is_refused() {
        let id = CitizenId::parse("001085012345").unwrap();
        assert_eq!(
            id.check_against(date(1986, 1, 1), Sex::Male),
            Err(IdError::BirthYearMismatch {
                found: 85,
                birth_year: 1986
            })
        );
    }

    #[test]
    fn a_birth_year_before_1900_cannot_be_encoded() {
        let id = CitizenId::parse("001099012345").unwrap();
        assert_eq!(
            id.check_against(date(1899, 1, 1), Sex::Male),
            Err(IdError::BirthYearOutOfRange(1899))
        );
    }

    #[test]
    fn error_messages_are_lowercase_and_name_the_reason() {
        let message = CitizenId::parse("12345").unwrap_err().to_string();
        assert_eq!(message, "citizen id must have 12 digits, got 5 characters");
    }

    #[test]
    fn ids_differing_in_one_digit_are_near_matches() {
        let id = CitizenId::parse("001085012345").unwrap();
        let typo = CitizenId::parse("001085012346").unwrap();
        let two_apart = CitizenId::parse("001085012356").unwrap();
        assert!(id.is_one_digit_apart(&typo));
        assert!(!id.is_one_digit_apart(&two_apart));
        assert!(!id.is_one_digit_apart(&id));
    }

    #[test]
    fn a_legacy_id_has_nine_digits() {
        assert_eq!(
            LegacyId::parse("012345678").unwrap().as_string(),
            "012345678"
        );
        assert_eq!(
            LegacyId::parse("0123456789"),
            Err(IdError::WrongLength {
                kind: IdKind::LegacyId,
                expected: 9,
                actual: 10
            })
        );
    }

    #[test]
    fn a_social_insurance_number_has_ten_digits() {
        assert_eq!(
            SocialInsuranceNumber::parse("0123456789")
                .unwrap()
                .to_string(),
            "0123456789"
        );
        assert!(matches!(
            SocialInsuranceNumber::parse("01234-6789"),
            Err(IdError::NonDigit {
                kind: IdKind::SocialInsuranceNumber,
                position: 6,
                ..
            })
        ));
    }
}
