//! Where a benefit is paid: a domestic card or a bank account at a NAPAS bank.

use thiserror::Error;

/// Why a bank destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BankError {
    /// The bank id is not six digits.
    #[error("bank id must be the bank's 6-digit NAPAS id")]
    BankId,
    /// A card number of the wrong shape.
    #[error("card number must be 16 or 19 digits starting with 9704")]
    CardNumber,
    /// An account number of the wrong shape.
    #[error("account number must be 6 to 19 digits")]
    AccountNumber,
    /// No holder name.
    #[error("holder name must not be empty")]
    HolderName,
}

/// Card or account; banks treat the two numbers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    /// A domestic card.
    Card,
    /// A bank account.
    Account,
}

/// A card or account number at a bank, checked for shape (standards: "Cards", "Account numbers").
///
/// A Luhn failure is not a rejection (standards): banks issue numbers that fail it.
#[derive(Clone, PartialEq, Eq)]
pub struct BankDestination {
    bank_id: String,
    kind: DestinationKind,
    number: String,
    holder_name: String,
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

impl BankDestination {
    /// Parses a destination, naming the first part that is wrong.
    pub fn parse(
        bank_id: &str,
        kind: DestinationKind,
        number: &str,
        holder_name: &str,
    ) -> Result<BankDestination, BankError> {
        if bank_id.len() != 6 || !all_digits(bank_id) {
            return Err(BankError::BankId);
        }
        let shape_ok = match kind {
            DestinationKind::Card => {
                all_digits(number)
                    && (number.len() == 16 || number.len() == 19)
                    && number.starts_with("9704")
            }
            DestinationKind::Account => all_digits(number) && (6..=19).contains(&number.len()),
        };
        if !shape_ok {
            return Err(match kind {
                DestinationKind::Card => BankError::CardNumber,
                DestinationKind::Account => BankError::AccountNumber,
            });
        }
        let holder_name = holder_name.trim();
        if holder_name.is_empty() {
            return Err(BankError::HolderName);
        }
        Ok(BankDestination {
            bank_id: bank_id.to_owned(),
            kind,
            number: number.to_owned(),
            holder_name: holder_name.to_owned(),
        })
    }

    /// The bank's 6-digit NAPAS id.
    pub fn bank_id(&self) -> &str {
        &self.bank_id
    }

    /// Card or account.
    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    /// The full number; personal data, never logged.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The holder's name in Unicode.
    pub fn holder_name(&self) -> &str {
        &self.holder_name
    }
}

impl std::fmt::Debug for BankDestination {
    // The number is personal data: only its last four digits may be shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = self
            .number
            .get(self.number.len().saturating_sub(4)..)
            .unwrap_or("");
        f.debug_struct("BankDestination")
            .field("bank_id", &self.bank_id)
            .field("kind", &self.kind)
            .field("number", &format!("…{tail}"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vietcombank_card_is_accepted() {
        let card =
            BankDestination::parse("970436", DestinationKind::Card, "9704360000000001", "An")
                .unwrap();
        assert_eq!(card.bank_id(), "970436");
    }

    #[test]
    fn a_card_number_outside_the_domestic_range_is_refused() {
        let result =
            BankDestination::parse("970436", DestinationKind::Card, "4111111111111111", "An");
        assert_eq!(result, Err(BankError::CardNumber));
    }

    #[test]
    fn a_five_digit_account_is_refused() {
        let result = BankDestination::parse("970415", DestinationKind::Account, "12345", "An");
        assert_eq!(result, Err(BankError::AccountNumber));
    }

    #[test]
    fn debug_output_shows_only_the_last_four_digits() {
        let card =
            BankDestination::parse("970436", DestinationKind::Card, "9704360000001234", "An")
                .unwrap();
        let shown = format!("{card:?}");
        assert!(shown.contains("…1234"));
        assert!(!shown.contains("970436000000"));
    }
}
