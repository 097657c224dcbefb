//! What a bank's answer means for a payment (standards.md, pain.002 reasons).

use std::time::Duration;

/// ISO 20022 transaction statuses a bank reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankStatus {
    /// ACCP, ACSP, ACSC or PDNG: on its way; no final answer yet.
    Pending,
    /// ACCC: credited to the beneficiary, the only proof of payment.
    Credited,
    /// RJCT: refused; the reason code says why.
    Rejected,
}

impl BankStatus {
    /// The bank status an ISO 20022 TxSts code stands for, if it is one.
    pub fn from_code(code: &str) -> Option<BankStatus> {
        match code {
            "ACCC" => Some(BankStatus::Credited),
            "RJCT" => Some(BankStatus::Rejected),
            "ACCP" | "ACSP" | "ACSC" | "ACTC" | "ACWC" | "PDNG" | "PART" => {
                Some(BankStatus::Pending)
            }
            _ => None,
        }
    }
}

/// Where a payment stands; stored as text, published as `TransferStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Sent; no final answer yet.
    InFlight,
    /// Credited (ACCC).
    Paid,
    /// Refused for an account reason; waits for a correction.
    Parked,
    /// Failed for good.
    Failed,
    /// Timed out; a new attempt follows after a backoff.
    Retrying,
}

impl PaymentState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::InFlight => "in_flight",
            PaymentState::Paid => "paid",
            PaymentState::Parked => "parked",
            PaymentState::Failed => "failed",
            PaymentState::Retrying => "retrying",
        }
    }
}

/// The effect of one bank answer on an attempt that is still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultEffect {
    /// Nothing final yet; the attempt stays in flight.
    NoChange,
    /// The money arrived.
    Paid,
    /// The account is wrong; park until an officer corrects it. `ends_benefit` is set for a
    /// deceased beneficiary (MD07): eligibility ends the benefit, and no correction resends.
    Parked {
        /// True for MD07.
        ends_benefit: bool,
    },
    /// A timeout at a bank: try again under a new attempt after a backoff.
    Retry,
    /// Refused for a reason no retry or correction can fix here.
    Failed,
}

impl ResultEffect {
    /// The state the payment reaches, or `None` when nothing changes.
    pub fn state(self) -> Option<PaymentState> {
        match self {
            ResultEffect::NoChange => None,
            ResultEffect::Paid => Some(PaymentState::Paid),
            ResultEffect::Parked { .. } => Some(PaymentState::Parked),
            ResultEffect::Retry => Some(PaymentState::Retrying),
            ResultEffect::Failed => Some(PaymentState::Failed),
        }
    }
}

/// Account reasons: the number, the account's state or the name is wrong, so only a
/// corrected account can help.
const ACCOUNT_REASONS: [&str; 5] = ["AC01", "AC03", "AC04", "AC06", "BE01"];
/// Timeouts at the creditor's bank or a clearing agent; the same payment may well go through
/// on a later try.
const TIMEOUT_REASONS: [&str; 2] = ["AB05", "AB06"];

/// The effect of a bank's `status` with `reason` on an attempt still in flight.
///
/// Only a rejection with a timeout reason retries: the bank has then stopped that attempt
/// for good, so a new one cannot pay twice. A timeout reported as pending may still be
/// credited, so it waits for the bank's final word like any pending status. AM04
/// (insufficient funds on the paying account) is ours to fix, so it retries like a timeout.
pub fn classify(status: BankStatus, reason: &str) -> ResultEffect {
    if status == BankStatus::Credited {
        return ResultEffect::Paid;
    }
    if status == BankStatus::Rejected && (TIMEOUT_REASONS.contains(&reason) || reason == "AM04") {
        return ResultEffect::Retry;
    }
    match status {
        BankStatus::Pending | BankStatus::Credited => ResultEffect::NoChange,
        BankStatus::Rejected if reason == "MD07" => ResultEffect::Parked { ends_benefit: true },
        BankStatus::Rejected if ACCOUNT_REASONS.contains(&reason) => ResultEffect::Parked {
            ends_benefit: false,
        },
        BankStatus::Rejected => ResultEffect::Failed,
    }
}

/// How long to wait before attempt `failed_attempt + 1` after a timeout: `base` doubled for
/// each earlier attempt, at most `cap`, so a bank that is down is not flooded.
pub fn retry_delay(base: Duration, cap: Duration, failed_attempt: u16) -> Duration {
    let doublings = u32::from(failed_attempt.saturating_sub(1)).min(16);
    base.saturating_mul(1u32 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_reported_as_pending_waits_instead_of_paying_again() {
        assert_eq!(
            classify(BankStatus::Pending, "AB05"),
            ResultEffect::NoChange
        );
        assert_eq!(
            classify(BankStatus::Pending, "AB06"),
            ResultEffect::NoChange
        );
        assert_eq!(classify(BankStatus::Rejected, "AB05"), ResultEffect::Retry);
    }

    #[test]
    fn only_accc_pays() {
        assert_eq!(classify(BankStatus::Credited, ""), ResultEffect::Paid);
        assert_eq!(classify(BankStatus::Pending, ""), ResultEffect::NoChange);
    }

    #[test]
    fn account_reasons_park_for_correction() {
        for reason in ["AC01", "AC03", "AC04", "AC06", "BE01"] {
            assert_eq!(
                classify(BankStatus::Rejected, reason),
                ResultEffect::Parked {
                    ends_benefit: false
                },
                "{reason}"
            );
        }
    }

    #[test]
    fn a_deceased_beneficiary_parks_and_ends_the_benefit() {
        assert_eq!(
            classify(BankStatus::Rejected, "MD07"),
            ResultEffect::Parked { ends_benefit: true }
        );
    }

    #[test]
    fn other_rejections_fail_for_good() {
        assert_eq!(classify(BankStatus::Rejected, "AM05"), ResultEffect::Failed);
        assert_eq!(classify(BankStatus::Rejected, "NARR"), ResultEffect::Failed);
        assert_eq!(classify(BankStatus::Rejected, ""), ResultEffect::Failed);
    }

    #[test]
    fn the_retry_delay_doubles_up_to_the_cap() {
        let base = Duration::from_secs(60);
        let cap = Duration::from_secs(600);
        assert_eq!(retry_delay(base, cap, 1), Duration::from_secs(60));
        assert_eq!(retry_delay(base, cap, 2), Duration::from_secs(120));
        assert_eq!(retry_delay(base, cap, 3), Duration::from_secs(240));
        assert_eq!(retry_delay(base, cap, 10), cap);
    }
}
