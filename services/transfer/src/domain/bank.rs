//! Banks and where money goes: NAPAS bank ids, card and account numbers.

use std::fmt;

use thiserror::Error;

use crate::domain::text::fold_ascii;

/// Why a bank id or destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BankError {
    /// Bank ids are the 6-digit NAPAS ids.
    #[error("bank id must have 6 digits")]
    BankIdShape,
    /// The bank id is well-shaped but not a bank this system pays.
    #[error("bank id {0} is not a known bank")]
    UnknownBank(String),
    /// The destination kind was not set.
    #[error("destination kind must be card or account")]
    KindUnset,
    /// A card or account number holds something other than digits.
    #[error("number must contain only digits")]
    NonDigit,
    /// Domestic cards have 16 or 19 digits.
    #[error("card number must have 16 or 19 digits, got {0}")]
    CardLength(usize),
    /// Account numbers have 6 to 19 digits.
    #[error("account number must have 6 to 19 digits, got {0}")]
    AccountLength(usize),
    /// The holder's name is needed by the bank to match the account.
    #[error("holder name must not be empty")]
    HolderNameMissing,
}

/// NAPAS ids of the banks the system pays (standards.md, "Bank ids"), with their names.
pub const KNOWN_BANKS: [(&str, &str); 24] = [
    ("970436", "Vietcombank"),
    ("970415", "VietinBank"),
    ("970418", "BIDV"),
    ("970405", "Agribank"),
    ("970422", "MB"),
    ("970407", "Techcombank"),
    ("970416", "ACB"),
    ("970432", "VPBank"),
    ("970423", "TPBank"),
    ("970403", "Sacombank"),
    ("970443", "SHB"),
    ("970437", "HDBank"),
    ("970441", "VIB"),
    ("970426", "MSB"),
    ("970431", "Eximbank"),
    ("970440", "SeABank"),
    ("970448", "OCB"),
    ("970449", "LPBank"),
    ("970452", "Kienlongbank"),
    ("970428", "Nam A"),
    ("970409", "Bac A"),
    ("970419", "NCB"),
    ("970425", "ABBank"),
    ("970438", "BaoViet"),
];

/// A known bank's 6-digit NAPAS id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BankId(String);

impl BankId {
    /// Parses a bank id, refusing a wrong shape and banks the system does not know.
    pub fn parse(text: &str) -> Result<BankId, BankError> {
        if text.len() != 6 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(BankError::BankIdShape);
        }
        if !KNOWN_BANKS.iter().any(|(id, _)| *id == text) {
            return Err(BankError::UnknownBank(text.to_owned()));
        }
        Ok(BankId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BankId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the number is a card or an account; banks route the two differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// A domestic card, 16 or 19 digits.
    Card,
    /// A bank account, 6 to 19 digits.
    Account,
}

impl DestinationKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Card => "card",
            DestinationKind::Account => "account",
        }
    }

    /// The kind stored as `text`, if it is one.
    pub fn from_stored(text: &str) -> Option<DestinationKind> {
        match text {
            "card" => Some(DestinationKind::Card),
            "account" => Some(DestinationKind::Account),
            _ => None,
        }
    }
}

/// A warning that does not block a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationWarning {
    /// The card number fails the Luhn check; some domestic cards do, so the bank decides.
    CardFailsLuhn,
}

impl fmt::Display for DestinationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationWarning::CardFailsLuhn => f.write_str("card number fails the Luhn check"),
        }
    }
}

/// A well-shaped card or account at a known bank. The number is personal data: its `Debug`
/// and `Display` show only the last 4 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    bank: BankId,
    kind: DestinationKind,
    number: String,
    holder_name: String,
}

impl Destination {
    /// Parses a destination; a Luhn failure of a card is returned as a warning, not an error.
    pub fn parse(
        bank_id: &str,
        kind: Option<DestinationKind>,
        number: &str,
        holder_name: &str,
    ) -> Result<(Destination, Vec<DestinationWarning>), BankError> {
        let bank = BankId::parse(bank_id)?;
        let kind = kind.ok_or(BankError::KindUnset)?;
        if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(BankError::NonDigit);
        }
        let mut warnings = Vec::new();
        match kind {
            DestinationKind::Card => {
                if number.len() != 16 && number.len() != 19 {
                    return Err(BankError::CardLength(number.len()));
                }
                if !luhn_valid(number) {
                    warnings.push(DestinationWarning::CardFailsLuhn);
                }
            }
            DestinationKind::Account => {
                if !(6..=19).contains(&number.len()) {
                    return Err(BankError::AccountLength(number.len()));
                }
            }
        }
        let holder_name = holder_name.trim();
        if fold_ascii(holder_name).is_empty() {
            return Err(BankError::HolderNameMissing);
        }
        let destination = Destination {
            bank,
            kind,
            number: number.to_owned(),
            holder_name: holder_name.to_owned(),
        };
        Ok((destination, warnings))
    }

    /// The receiving bank.
    pub fn bank(&self) -> &BankId {
        &self.bank
    }

    /// Card or account.
    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    /// The full number, only for the bank instruction and the database.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The holder's full Unicode name.
    pub fn holder_name(&self) -> &str {
        &self.holder_name
    }

    /// The number with all but its last 4 digits hidden.
    pub fn masked_number(&self) -> String {
        mask(&self.number)
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("bank", &self.bank)
            .field("kind", &self.kind)
            .field("number", &self.masked_number())
            .finish_non_exhaustive()
    }
}

/// `number` with all but its last 4 characters replaced by `*`.
pub fn mask(number: &str) -> String {
    let count = number.chars().count();
    number
        .chars()
        .enumerate()
        .map(|(index, character)| if index + 4 < count { '*' } else { character })
        .collect()
}

/// The Luhn (mod 10) check over a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (position, byte) in digits.bytes().rev().enumerate() {
        let mut digit = u32::from(byte.wrapping_sub(b'0'));
        if position % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID_CARD: &str = "9704360000000000002";

    #[test]
    fn known_napas_ids_parse_and_others_are_refused() {
        assert_eq!(
            BankId::parse("970436").map(|id| id.to_string()),
            Ok("970436".into())
        );
        assert_eq!(BankId::parse("97043"), Err(BankError::BankIdShape));
        assert_eq!(BankId::parse("97043a"), Err(BankError::BankIdShape));
        assert_eq!(
            BankId::parse("970499"),
            Err(BankError::UnknownBank("970499".into()))
        );
    }

    #[test]
    fn luhn_accepts_a_valid_number_and_spots_a_typo() {
        assert!(luhn_valid("4539578763621486"));
        assert!(!luhn_valid("4539578763621487"));
        assert!(luhn_valid(VALID_CARD));
    }

    #[test]
    fn a_card_has_16_or_19_digits_and_a_luhn_failure_only_warns() {
        let parse = |number: &str| {
            Destination::parse("970436", Some(DestinationKind::Card), number, "Lê Văn An")
        };
        assert!(matches!(parse(VALID_CARD), Ok((_, warnings)) if warnings.is_empty()));
        assert!(matches!(
            parse("9704360000000000003"),
            Ok((_, warnings)) if warnings == vec![DestinationWarning::CardFailsLuhn]
        ));
        assert_eq!(
            parse("97043600000000").err(),
            Some(BankError::CardLength(14))
        );
        assert_eq!(
            parse("970436000000000000a").err(),
            Some(BankError::NonDigit)
        );
    }

    #[test]
    fn an_account_has_6_to_19_digits() {
        let parse = |number: &str| {
            Destination::parse(
                "970415",
                Some(DestinationKind::Account),
                number,
                "Lê Văn An",
            )
            .map(|(destination, _)| destination.number().to_owned())
        };
        assert_eq!(parse("123456"), Ok("123456".into()));
        assert_eq!(
            parse("1234567890123456789"),
            Ok("1234567890123456789".into())
        );
        assert_eq!(parse("12345"), Err(BankError::AccountLength(5)));
        assert_eq!(
            parse("12345678901234567890"),
            Err(BankError::AccountLength(20))
        );
    }

    #[test]
    fn a_destination_needs_a_kind_and_a_holder_name() {
        assert_eq!(
            Destination::parse("970415", None, "123456", "An").err(),
            Some(BankError::KindUnset)
        );
        assert_eq!(
            Destination::parse("970415", Some(DestinationKind::Account), "123456", " ").err(),
            Some(BankError::HolderNameMissing)
        );
    }

    #[test]
    fn a_destination_never_prints_its_full_number() {
        let (destination, _) =
            Destination::parse("970436", Some(DestinationKind::Card), VALID_CARD, "An").unwrap();
        let printed = format!("{destination:?}");
        assert!(!printed.contains(VALID_CARD));
        assert!(printed.contains("***************0002"));
        assert_eq!(mask("123456"), "**3456");
    }
}
