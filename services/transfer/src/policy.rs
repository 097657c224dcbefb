//! What the handlers, the API and the background worker share: the trusted keys, the paying
//! account, the retry rules and the clock; and the two messages transfer writes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clock::SharedClock;
use contracts::bank::v1::TransferInstruction;
use contracts::common::v1::{
    Agency, BankDestination, Date, DestinationKind as WireKind, EventMeta, Officer,
};
use contracts::transfer::v1::transfer_outcome::Notice;
use contracts::transfer::v1::{
    BankDestinationCorrected, PaymentListRefused, RefusalReason as WireReason, TransferOutcome,
    TransferStatus,
};
use uuid::Uuid;

use crate::config::Config;
use crate::domain::bank::{Destination, DestinationKind};
use crate::domain::end_to_end::EndToEndId;
use crate::domain::list::{Refusal, RefusalReason, TrustedKeys};
use crate::domain::result::{PaymentState, retry_delay};
use crate::domain::text::{fold_ascii, truncate_ascii};
use vault::{Vault, VaultError};

/// Version of the payload shapes transfer publishes.
const SCHEMA_VERSION: u32 = 1;

/// Rules and collaborators fixed at start.
pub struct Policy {
    /// Keys trusted to sign lists.
    pub trusted_keys: TrustedKeys,
    /// How long a list may wait for its missing chunks.
    pub completion_timeout: Duration,
    /// Dbtr Nm, already folded.
    pub debtor_name: String,
    /// DbtrAcct.
    pub debtor_account: String,
    /// DbtrAgt.
    pub debtor_bank_id: String,
    /// First retry delay after a timeout.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// Attempts after which a payment that keeps timing out fails.
    pub max_attempts: u16,
    /// How often the background worker looks for due work.
    pub poll_interval: Duration,
    /// How long an attempt may wait for its bank's final status before it is overdue.
    pub answer_deadline: Duration,
    /// Seals card and account numbers at rest.
    pub vault: Vault,
    /// The one source of time.
    pub clock: SharedClock,
}

impl Policy {
    /// The policy of `config`, with `clock`.
    ///
    /// A vault key that does not parse stops the start. Keys that do not parse are refused by `Config::validate` at load; should one get
    /// here anyway, no key is trusted, so every list is refused and nothing is paid.
    pub fn from_config(config: &Config, clock: SharedClock) -> Result<Policy, VaultError> {
        let trusted_keys =
            TrustedKeys::from_hex(&config.lists.trusted_keys).unwrap_or_else(|error| {
                tracing::error!(%error, "trusted list keys unreadable; every list will be refused");
                TrustedKeys::default()
            });
        Ok(Policy {
            vault: Vault::from_hex(config.vault.key.expose(), crate::VAULT_PURPOSE)?,
            trusted_keys,
            completion_timeout: Duration::from_secs(config.lists.completion_timeout_secs),
            debtor_name: truncate_ascii(&fold_ascii(&config.debtor.name), 140),
            debtor_account: config.debtor.account.clone(),
            debtor_bank_id: config.debtor.bank_id.clone(),
            retry_base: Duration::from_secs(config.retry.base_delay_secs),
            retry_cap: Duration::from_secs(config.retry.max_delay_secs),
            max_attempts: config.retry.max_attempts,
            poll_interval: Duration::from_millis(config.retry.poll_interval_ms),
            answer_deadline: Duration::from_secs(config.retry.answer_deadline_secs),
            clock,
        })
    }

    /// When the attempt after failed attempt `attempt` may go, counted from `now`.
    pub fn retry_at(&self, now: DateTime<Utc>, attempt: u16) -> DateTime<Utc> {
        let delay = retry_delay(self.retry_base, self.retry_cap, attempt);
        now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }
}

/// The facts of one attempt that its instruction and outcome carry.
#[derive(Debug, Clone)]
pub struct AttemptFacts {
    /// Entitlement paid.
    pub entitlement_id: String,
    /// Decision it belongs to.
    pub decision_id: String,
    /// Benefit month paid.
    pub benefit_month: u32,
    /// Payment list it came in.
    pub list_id: String,
    /// Amount in đồng.
    pub amount_dong: i64,
    /// Attempt number.
    pub attempt: u16,
    /// End-to-end id of the attempt.
    pub end_to_end_id: EndToEndId,
}

/// An event envelope for `subject_id`, stamped with `now`.
fn meta(subject_id: &str, now: DateTime<Utc>) -> EventMeta {
    EventMeta {
        event_id: Uuid::new_v4().to_string(),
        occurred_at: Some(timestamp(now)),
        subject_id: subject_id.to_owned(),
        schema_version: SCHEMA_VERSION,
        producer: crate::SERVICE.to_owned(),
    }
}

/// `instant` as a protobuf timestamp.
pub fn timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The wire kind of a destination.
pub fn wire_kind(kind: DestinationKind) -> WireKind {
    match kind {
        DestinationKind::Card => WireKind::Card,
        DestinationKind::Account => WireKind::Account,
    }
}

/// The instruction a bank receives for one attempt.
pub fn instruction(
    policy: &Policy,
    facts: &AttemptFacts,
    destination: &Destination,
    now: DateTime<Utc>,
) -> TransferInstruction {
    let today = policy.clock.today();
    let remittance = format!(
        "TRO CAP THAT NGHIEP THANG {} QD {}",
        facts.benefit_month, facts.decision_id
    );
    TransferInstruction {
        meta: Some(meta(facts.end_to_end_id.as_str(), now)),
        end_to_end_id: facts.end_to_end_id.to_string(),
        instruction_id: facts.end_to_end_id.to_string(),
        amount_dong: facts.amount_dong,
        creditor_agent_bank_id: destination.bank().to_string(),
        creditor_name: truncate_ascii(&fold_ascii(destination.holder_name()), 140),
        creditor_account_kind: wire_kind(destination.kind()) as i32,
        creditor_account: destination.number().to_owned(),
        purpose_code: "BENE".into(),
        remittance_information: truncate_ascii(&fold_ascii(&remittance), 140),
        requested_execution_date: Some(Date {
            year: chrono::Datelike::year(&today),
            month: i32::try_from(chrono::Datelike::month(&today)).unwrap_or(1),
            day: i32::try_from(chrono::Datelike::day(&today)).unwrap_or(1),
        }),
        debtor_name: policy.debtor_name.clone(),
        debtor_account: policy.debtor_account.clone(),
        debtor_agent_bank_id: policy.debtor_bank_id.clone(),
    }
}

/// The wire status of a payment state.
pub fn wire_status(state: PaymentState) -> TransferStatus {
    match state {
        PaymentState::InFlight => TransferStatus::InFlight,
        PaymentState::Paid => TransferStatus::Paid,
        PaymentState::Parked => TransferStatus::Parked,
        PaymentState::Failed => TransferStatus::Failed,
        PaymentState::Retrying => TransferStatus::Retrying,
    }
}

/// The outcome announcing that an attempt reached `state`.
pub fn outcome(
    facts: &AttemptFacts,
    state: PaymentState,
    reason_code: &str,
    bank_id: &str,
    kind: DestinationKind,
    now: DateTime<Utc>,
) -> TransferOutcome {
    TransferOutcome {
        meta: Some(meta(&facts.entitlement_id, now)),
        entitlement_id: facts.entitlement_id.clone(),
        end_to_end_id: facts.end_to_end_id.to_string(),
        attempt: u32::from(facts.attempt),
        status: wire_status(state) as i32,
        reason_code: reason_code.to_owned(),
        decision_id: facts.decision_id.clone(),
        benefit_month: facts.benefit_month,
        amount_dong: facts.amount_dong,
        bank_id: bank_id.to_owned(),
        destination_kind: wire_kind(kind) as i32,
        list_id: facts.list_id.clone(),
        notice: None,
    }
}

/// The wire reason of a refusal.
pub fn wire_refusal(reason: RefusalReason) -> WireReason {
    match reason {
        RefusalReason::Incomplete => WireReason::Incomplete,
        RefusalReason::InconsistentChunks => WireReason::InconsistentChunks,
        RefusalReason::TotalsMismatch => WireReason::TotalsMismatch,
        RefusalReason::HashMismatch => WireReason::HashMismatch,
        RefusalReason::UntrustedKey => WireReason::UntrustedKey,
        RefusalReason::BadSignature => WireReason::BadSignature,
        RefusalReason::InvalidLine => WireReason::InvalidLine,
    }
}

/// A notice on `transfer.outcomes.v1`: no attempt, only the envelope for `subject_id` and
/// the notice.
fn notice(subject_id: &str, notice: Notice, now: DateTime<Utc>) -> TransferOutcome {
    TransferOutcome {
        meta: Some(meta(subject_id, now)),
        notice: Some(notice),
        ..TransferOutcome::default()
    }
}

/// The notice that list `list_id` was refused whole, keyed by the list id.
pub fn list_refused(
    list_id: &str,
    province: &str,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> TransferOutcome {
    notice(
        list_id,
        Notice::ListRefused(PaymentListRefused {
            list_id: list_id.to_owned(),
            province: province.to_owned(),
            reason: wire_refusal(refusal.reason).as_str_name().to_owned(),
            detail: refusal.detail.clone(),
        }),
        now,
    )
}

/// The notice that a confirmed correction moved `decision_id`'s payments to `destination`,
/// keyed by the decision id. Carries the full number, as payment lists do, so that payroll
/// can put it on later lists.
pub fn destination_corrected(
    correction_id: &str,
    decision_id: &str,
    destination: &Destination,
    officers: (&str, &str),
    resent: &[EndToEndId],
    now: DateTime<Utc>,
) -> TransferOutcome {
    let officer = |officer_id: &str| Officer {
        officer_id: officer_id.to_owned(),
        agency: Agency::SocialSecurity as i32,
    };
    notice(
        decision_id,
        Notice::DestinationCorrected(BankDestinationCorrected {
            correction_id: correction_id.to_owned(),
            decision_id: decision_id.to_owned(),
            bank_destination: Some(BankDestination {
                bank_id: destination.bank().to_string(),
                kind: wire_kind(destination.kind()) as i32,
                number: destination.number().to_owned(),
                holder_name: destination.holder_name().to_owned(),
            }),
            proposed_by: Some(officer(officers.0)),
            confirmed_by: Some(officer(officers.1)),
            resent_end_to_end_ids: resent.iter().map(ToString::to_string).collect(),
        }),
        now,
    )
}
