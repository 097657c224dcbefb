//! Payment lines, a list's control totals and its canonical content hash.

use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use super::{
    entitlement::BenefitMonth,
    money::{Dong, MoneyError},
    signing::ContentHash,
};

/// Why a destination or a list was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ListError {
    /// The bank id is not 6 digits.
    #[error("bank id must be 6 digits")]
    BankId,
    /// The card or account number has the wrong shape.
    #[error("{0}")]
    Number(&'static str),
    /// The destination kind is not card or account.
    #[error("destination kind must be card or account")]
    Kind,
    /// The totals overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Whether money goes to a card or to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// A domestic card, 16 or 19 digits.
    Card,
    /// A bank account, 6 to 19 digits.
    Account,
}

impl DestinationKind {
    /// The wire and storage code (the `DestinationKind` enum of the contracts).
    pub fn code(self) -> i32 {
        match self {
            DestinationKind::Card => 1,
            DestinationKind::Account => 2,
        }
    }

    /// Parses the wire and storage code.
    pub fn from_code(code: i32) -> Result<DestinationKind, ListError> {
        match code {
            1 => Ok(DestinationKind::Card),
            2 => Ok(DestinationKind::Account),
            _ => Err(ListError::Kind),
        }
    }
}

/// Where one payment goes; the number is personal data and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    bank_id: String,
    kind: DestinationKind,
    number: String,
    holder_name: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("bank_id", &self.bank_id)
            .field("kind", &self.kind)
            .field("number", &self.masked_number())
            .finish_non_exhaustive()
    }
}

impl Destination {
    /// Parses a destination: a 6-digit bank id and a card (16 or 19 digits) or account
    /// (6 to 19 digits) number.
    pub fn new(
        bank_id: &str,
        kind: DestinationKind,
        number: &str,
        holder_name: &str,
    ) -> Result<Destination, ListError> {
        if bank_id.len() != 6 || !bank_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ListError::BankId);
        }
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ListError::Number("number must be digits only"));
        }
        let fits = match kind {
            DestinationKind::Card => matches!(number.len(), 16 | 19),
            DestinationKind::Account => (6..=19).contains(&number.len()),
        };
        if !fits {
            return Err(ListError::Number(match kind {
                DestinationKind::Card => "card number must have 16 or 19 digits",
                DestinationKind::Account => "account number must have 6 to 19 digits",
            }));
        }
        Ok(Destination {
            bank_id: bank_id.to_owned(),
            kind,
            number: number.to_owned(),
            holder_name: holder_name.to_owned(),
        })
    }

    /// The receiving bank's NAPAS id.
    pub fn bank_id(&self) -> &str {
        &self.bank_id
    }

    /// Card or account.
    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    /// The full number, for storage and the bank only.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The holder's name in Unicode.
    pub fn holder_name(&self) -> &str {
        &self.holder_name
    }

    /// The number with all but its last 4 digits hidden, for officers' screens.
    pub fn masked_number(&self) -> String {
        let keep = self.number.len().saturating_sub(4);
        format!("{}{}", "*".repeat(keep), &self.number[keep..])
    }
}

/// One payment line: one entitlement, paid once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Entitlement paid.
    pub entitlement_id: Uuid,
    /// Decision it belongs to.
    pub decision_id: String,
    /// Benefit month paid.
    pub benefit_month: BenefitMonth,
    /// Amount.
    pub amount: Dong,
    /// Last day by which the law requires the money to be sent.
    pub payment_by: NaiveDate,
    /// Where the money goes.
    pub destination: Destination,
}

/// A list's control totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Number of lines.
    pub line_count: u64,
    /// Sum of the lines' amounts.
    pub sum: Dong,
}

/// Counts and sums `lines`.
pub fn totals(lines: &[Line]) -> Result<Totals, ListError> {
    let mut sum = Dong::ZERO;
    for line in lines {
        sum = sum.checked_add(line.amount)?;
    }
    Ok(Totals {
        line_count: lines.len() as u64,
        sum,
    })
}

/// Domain-separation tag at the start of every list hash, so no other hash signed with the
/// same key can be passed off as a list's.
pub const HASH_TAG: &str = "benefit.payroll.list.v1";

/// The canonical SHA-256 of a list, the bytes the transfer service recomputes:
///
/// ```text
/// str(HASH_TAG) str(list_id) str(province) u64(line_count) i64(sum)
/// for each line in order:
///     str(entitlement_id) str(decision_id) u32(benefit_month) i64(amount)
///     i32(payment_by.year) i32(payment_by.month) i32(payment_by.day)
///     str(bank_id) i32(destination kind code) str(number) str(holder_name)
/// ```
///
/// `str(s)` is the UTF-8 byte length of `s` as a big-endian u32 followed by the bytes;
/// integers are big-endian. Length prefixes keep any two different lists from sharing a byte
/// stream.
pub fn content_hash(list_id: Uuid, province: &str, totals: &Totals, lines: &[Line]) -> ContentHash {
    let mut hasher = Sha256::new();
    text(&mut hasher, HASH_TAG);
    text(&mut hasher, &list_id.to_string());
    text(&mut hasher, province);
    hasher.update(totals.line_count.to_be_bytes());
    hasher.update(totals.sum.as_i64().to_be_bytes());
    for line in lines {
        text(&mut hasher, &line.entitlement_id.to_string());
        text(&mut hasher, &line.decision_id);
        hasher.update(line.benefit_month.get().to_be_bytes());
        hasher.update(line.amount.as_i64().to_be_bytes());
        let date = line.payment_by;
        // Month and day are at most 31, so the conversions never fall back.
        let month = i32::try_from(date.month()).unwrap_or_default();
        let day = i32::try_from(date.day()).unwrap_or_default();
        hasher.update(date.year().to_be_bytes());
        hasher.update(month.to_be_bytes());
        hasher.update(day.to_be_bytes());
        text(&mut hasher, line.destination.bank_id());
        hasher.update(line.destination.kind().code().to_be_bytes());
        text(&mut hasher, line.destination.number());
        text(&mut hasher, line.destination.holder_name());
    }
    ContentHash(hasher.finalize().into())
}

fn text(hasher: &mut Sha256, value: &str) {
    let length = u32::try_from(value.len()).unwrap_or(u32::MAX);
    hasher.update(length.to_be_bytes());
    hasher.update(value.as_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn line(decision: &str, amount: i64, number: &str) -> Line {
        Line {
            entitlement_id: Uuid::new_v4(),
            decision_id: decision.into(),
            benefit_month: BenefitMonth::new(1).unwrap(),
            amount: Dong::new(amount).unwrap(),
            payment_by: NaiveDate::from_ymd_opt(2026, 3, 26).unwrap(),
            destination: Destination::new(
                "970436",
                DestinationKind::Account,
                number,
                "NGUYỄN VĂN A",
            )
            .unwrap(),
        }
    }

    #[test]
    fn totals_count_and_sum_the_lines() {
        let lines = [
            line("d1", 6_000_000, "0011001234567"),
            line("d2", 18_500_000, "0011001234568"),
        ];
        let totals = totals(&lines).unwrap();
        assert_eq!(totals.line_count, 2);
        assert_eq!(totals.sum, Dong::new(24_500_000).unwrap());
    }

    #[test]
    fn the_hash_changes_with_any_line_field() {
        let id = Uuid::new_v4();
        let lines = vec![line("d1", 6_000_000, "0011001234567")];
        let t = totals(&lines).unwrap();
        let original = content_hash(id, "91", &t, &lines);
        assert_eq!(original, content_hash(id, "91", &t, &lines));

        let mut amount = lines.clone();
        amount[0].amount = Dong::new(6_000_001).unwrap();
        assert_ne!(original, content_hash(id, "91", &t, &amount));

        let mut account = lines.clone();
        account[0].destination = Destination::new(
            "970436",
            DestinationKind::Account,
            "0011001234999",
            "NGUYỄN VĂN A",
        )
        .unwrap();
        assert_ne!(original, content_hash(id, "91", &t, &account));

        assert_ne!(original, content_hash(id, "48", &t, &lines));
    }

    #[test]
    fn the_hash_follows_the_documented_byte_layout() {
        let line = line("d1", 6_000_000, "0011001234567");
        let list_id = Uuid::new_v4();
        let t = totals(std::slice::from_ref(&line)).unwrap();

        let mut expected = Vec::new();
        let mut put = |bytes: &[u8]| expected.extend_from_slice(bytes);
        let str_bytes = |s: &str| {
            let mut out = (s.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(s.as_bytes());
            out
        };
        put(&str_bytes(HASH_TAG));
        put(&str_bytes(&list_id.to_string()));
        put(&str_bytes("91"));
        put(&1u64.to_be_bytes());
        put(&6_000_000i64.to_be_bytes());
        put(&str_bytes(&line.entitlement_id.to_string()));
        put(&str_bytes("d1"));
        put(&1u32.to_be_bytes());
        put(&6_000_000i64.to_be_bytes());
        put(&2026i32.to_be_bytes());
        put(&3i32.to_be_bytes());
        put(&26i32.to_be_bytes());
        put(&str_bytes("970436"));
        put(&2i32.to_be_bytes());
        put(&str_bytes("0011001234567"));
        put(&str_bytes("NGUYỄN VĂN A"));

        let digest: [u8; 32] = Sha256::digest(&expected).into();
        assert_eq!(content_hash(list_id, "91", &t, &[line]).0, digest);
    }

    #[test]
    fn the_hash_depends_on_line_order() {
        let id = Uuid::new_v4();
        let lines = vec![
            line("d1", 1_000_000, "0011001234567"),
            line("d2", 1_000_000, "0011001234568"),
        ];
        let t = totals(&lines).unwrap();
        let reversed: Vec<Line> = lines.iter().rev().cloned().collect();
        assert_ne!(
            content_hash(id, "91", &t, &lines),
            content_hash(id, "91", &t, &reversed)
        );
    }

    #[test]
    fn destinations_of_the_wrong_shape_are_refused() {
        assert_eq!(
            Destination::new("97043", DestinationKind::Card, "9704361234567890", "A"),
            Err(ListError::BankId)
        );
        assert!(Destination::new("970436", DestinationKind::Card, "970436123456", "A").is_err());
        assert!(Destination::new("970436", DestinationKind::Account, "12a456", "A").is_err());
        assert!(Destination::new("970436", DestinationKind::Card, "9704361234567890", "A").is_ok());
    }

    #[test]
    fn a_masked_number_shows_only_its_last_four_digits() {
        let destination =
            Destination::new("970436", DestinationKind::Card, "9704361234567890", "A").unwrap();
        assert_eq!(destination.masked_number(), "************7890");
        assert!(!format!("{destination:?}").contains("9704361234567890"));
    }
}
