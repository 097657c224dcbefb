//! Verifying an approved payment list before anything is paid: every chunk present and
//! consistent, totals matching the lines, the content hash matching, the signature valid
//! under a trusted key, and every line payable.
//!
//! # Content hash
//!
//! The hash payroll signs is SHA-256 over this byte sequence, where `str(s)` is the length of
//! the UTF-8 bytes of `s` as a big-endian u32 followed by those bytes, and integers are
//! big-endian two's complement of the width named:
//!
//! ```text
//! str("benefit.payroll.list.v1")
//! str(list_id) str(province) u64(totals.line_count) i64(totals.sum_dong)
//! for each line, chunk 0's lines in order, then chunk 1's, and so on:
//!     str(entitlement_id) str(decision_id) u32(benefit_month) i64(amount_dong)
//!     i32(payment_by.year) i32(payment_by.month) i32(payment_by.day)      (0 0 0 when unset)
//!     str(bank_destination.bank_id) i32(bank_destination.kind)
//!     str(bank_destination.number) str(bank_destination.holder_name)      ("" 0 "" "" when unset)
//! ```
//!
//! The signature is Ed25519 over the 32 bytes of that hash.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use contracts::common::v1::DestinationKind as WireKind;
use contracts::payroll::v1::{PaymentLine, PaymentListChunk};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::domain::bank::{Destination, DestinationKind};
use crate::domain::money::Dong;

/// The domain tag that starts every content hash, so a list hash can never be mistaken for
/// the hash of anything else signed with the same key.
pub const CONTENT_HASH_TAG: &str = "benefit.payroll.list.v1";

/// Why a list was refused; mirrors `RefusalReason` of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// Not every chunk arrived in time.
    Incomplete,
    /// Chunks disagree on what is repeated in each.
    InconsistentChunks,
    /// The lines do not add up to the control totals.
    TotalsMismatch,
    /// The lines do not hash to the content hash.
    HashMismatch,
    /// The key id is not trusted.
    UntrustedKey,
    /// The signature does not verify.
    BadSignature,
    /// A line cannot be paid as written (unknown bank, malformed number, repeated entitlement).
    InvalidLine,
}

impl RefusalReason {
    /// The name stored in the database and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Incomplete => "incomplete",
            RefusalReason::InconsistentChunks => "inconsistent_chunks",
            RefusalReason::TotalsMismatch => "totals_mismatch",
            RefusalReason::HashMismatch => "hash_mismatch",
            RefusalReason::UntrustedKey => "untrusted_key",
            RefusalReason::BadSignature => "bad_signature",
            RefusalReason::InvalidLine => "invalid_line",
        }
    }

    /// The reason stored as `text`, if it is one.
    pub fn from_stored(text: &str) -> Option<RefusalReason> {
        [
            RefusalReason::Incomplete,
            RefusalReason::InconsistentChunks,
            RefusalReason::TotalsMismatch,
            RefusalReason::HashMismatch,
            RefusalReason::UntrustedKey,
            RefusalReason::BadSignature,
            RefusalReason::InvalidLine,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// A list refused whole, with facts an operator can act on (never personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// Facts, e.g. "3 of 5 chunks".
    pub detail: String,
}

impl Refusal {
    fn new(reason: RefusalReason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }
}

/// Why a trusted key could not be read from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A public key is 32 bytes, written as 64 hex digits.
    #[error("public key of {0} must be 64 hex digits of an Ed25519 key")]
    Malformed(String),
}

/// The public keys whose signatures on lists are trusted, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(BTreeMap<String, VerifyingKey>);

impl TrustedKeys {
    /// Reads `key id → hex public key` pairs.
    pub fn from_hex(keys: &BTreeMap<String, String>) -> Result<TrustedKeys, KeyError> {
        let mut trusted = BTreeMap::new();
        for (key_id, hex_key) in keys {
            let bytes: [u8; 32] = hex::decode(hex_key.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| KeyError::Malformed(key_id.clone()))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| KeyError::Malformed(key_id.clone()))?;
            trusted.insert(key_id.clone(), key);
        }
        Ok(TrustedKeys(trusted))
    }

    /// Trusts `key` under `key_id`.
    pub fn with(mut self, key_id: &str, key: VerifyingKey) -> TrustedKeys {
        self.0.insert(key_id.to_owned(), key);
        self
    }

    fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.0.get(key_id)
    }
}

/// One line of a verified list, ready to pay.
#[derive(Debug, Clone)]
pub struct ApprovedLine {
    /// Entitlement paid; the unit of idempotency.
    pub entitlement_id: String,
    /// Decision it belongs to.
    pub decision_id: String,
    /// Benefit month paid.
    pub benefit_month: u32,
    /// Amount.
    pub amount: Dong,
    /// Where the money goes.
    pub destination: Destination,
    /// W3C traceparent of the check-in that earned it; empty when the line carried none. Not
    /// covered by the content hash: it says how the payment came about, not what is paid.
    pub traceparent: String,
    /// When that check-in was scanned, when the line says.
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// A list that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedList {
    /// List id.
    pub list_id: String,
    /// Province code.
    pub province: String,
    /// Lines in chunk order.
    pub lines: Vec<ApprovedLine>,
    /// Sum of the lines, in đồng.
    pub sum_dong: i64,
}

/// The content hash of a list (see the module documentation for the exact bytes).
pub fn content_hash<'a>(
    list_id: &str,
    province: &str,
    line_count: u64,
    sum_dong: i64,
    lines: impl IntoIterator<Item = &'a PaymentLine>,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    put_str(&mut hasher, CONTENT_HASH_TAG);
    put_str(&mut hasher, list_id);
    put_str(&mut hasher, province);
    hasher.update(line_count.to_be_bytes());
    hasher.update(sum_dong.to_be_bytes());
    for line in lines {
        put_str(&mut hasher, &line.entitlement_id);
        put_str(&mut hasher, &line.decision_id);
        hasher.update(line.benefit_month.to_be_bytes());
        hasher.update(line.amount_dong.to_be_bytes());
        let (year, month, day) = line
            .payment_by
            .as_ref()
            .map_or((0, 0, 0), |date| (date.year, date.month, date.day));
        hasher.update(year.to_be_bytes());
        hasher.update(month.to_be_bytes());
        hasher.update(day.to_be_bytes());
        let destination = line.bank_destination.clone().unwrap_or_default();
        put_str(&mut hasher, &destination.bank_id);
        hasher.update(destination.kind.to_be_bytes());
        put_str(&mut hasher, &destination.number);
        put_str(&mut hasher, &destination.holder_name);
    }
    hasher.finalize().into()
}

/// Appends `text` to the hash as its byte length (big-endian u32) and its UTF-8 bytes.
fn put_str(hasher: &mut Sha256, text: &str) {
    // Protobuf strings are far below 4 GiB, so the length always fits.
    let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
    hasher.update(length.to_be_bytes());
    hasher.update(text.as_bytes());
}

/// The chunks' shared header, which must be identical in every chunk.
fn header(chunk: &PaymentListChunk) -> impl PartialEq + '_ {
    (
        &chunk.list_id,
        &chunk.province,
        chunk.chunk_count,
        &chunk.totals,
        &chunk.content_hash,
        &chunk.signature,
    )
}

/// Verifies a list from its chunks (in any order); every check must pass for any line to be
/// paid.
pub fn verify(chunks: &[PaymentListChunk], trusted: &TrustedKeys) -> Result<VerifiedList, Refusal> {
    let Some(first) = chunks.first() else {
        return Err(Refusal::new(RefusalReason::Incomplete, "no chunk received"));
    };
    if chunks.iter().any(|chunk| header(chunk) != header(first)) {
        return Err(Refusal::new(
            RefusalReason::InconsistentChunks,
            "chunks differ in list id, province, chunk count, totals, hash or signature",
        ));
    }
    let mut ordered: Vec<&PaymentListChunk> = chunks.iter().collect();
    ordered.sort_by_key(|chunk| chunk.chunk_index);
    let indices: Vec<u32> = ordered.iter().map(|chunk| chunk.chunk_index).collect();
    let expected: Vec<u32> = (0..first.chunk_count).collect();
    if indices != expected {
        return Err(Refusal::new(
            RefusalReason::Incomplete,
            format!("{} of {} chunks", chunks.len(), first.chunk_count),
        ));
    }

    let totals = first.totals.unwrap_or_default();
    let lines: Vec<&PaymentLine> = ordered.iter().flat_map(|chunk| &chunk.lines).collect();
    let sum: Option<i64> = lines
        .iter()
        .try_fold(0i64, |sum, line| sum.checked_add(line.amount_dong));
    if lines.len() as u64 != totals.line_count || sum != Some(totals.sum_dong) {
        return Err(Refusal::new(
            RefusalReason::TotalsMismatch,
            format!(
                "lines {} sum {} against totals {} sum {}",
                lines.len(),
                sum.map_or("overflow".to_owned(), |sum| sum.to_string()),
                totals.line_count,
                totals.sum_dong
            ),
        ));
    }

    let hash = content_hash(
        &first.list_id,
        &first.province,
        totals.line_count,
        totals.sum_dong,
        lines.iter().copied(),
    );
    if first.content_hash.as_slice() != hash.as_slice() {
        return Err(Refusal::new(
            RefusalReason::HashMismatch,
            "lines do not hash to the content hash",
        ));
    }
    let signature = first.signature.clone().unwrap_or_default();
    let Some(key) = trusted.get(&signature.key_id) else {
        return Err(Refusal::new(
            RefusalReason::UntrustedKey,
            format!("key id {:?} is not trusted", signature.key_id),
        ));
    };
    let verified = Signature::from_slice(&signature.signature)
        .ok()
        .is_some_and(|parsed| key.verify_strict(&hash, &parsed).is_ok());
    if !verified {
        return Err(Refusal::new(
            RefusalReason::BadSignature,
            format!("signature does not verify under key {}", signature.key_id),
        ));
    }

    let mut approved = Vec::with_capacity(lines.len());
    let mut seen = HashSet::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let invalid =
            |why: String| Refusal::new(RefusalReason::InvalidLine, format!("line {index}: {why}"));
        if line.entitlement_id.is_empty() || line.decision_id.is_empty() {
            return Err(invalid("entitlement and decision ids are required".into()));
        }
        if !seen.insert(line.entitlement_id.as_str()) {
            return Err(invalid("entitlement appears twice in the list".into()));
        }
        let amount = Dong::new(line.amount_dong).map_err(|error| invalid(error.to_string()))?;
        let wire = line.bank_destination.clone().unwrap_or_default();
        let kind = match WireKind::try_from(wire.kind) {
            Ok(WireKind::Card) => Some(DestinationKind::Card),
            Ok(WireKind::Account) => Some(DestinationKind::Account),
            _ => None,
        };
        // Warnings (a card failing Luhn) do not stop a signed list: the bank decides.
        let (destination, _warnings) =
            Destination::parse(&wire.bank_id, kind, &wire.number, &wire.holder_name)
                .map_err(|error| invalid(error.to_string()))?;
        approved.push(ApprovedLine {
            entitlement_id: line.entitlement_id.clone(),
            decision_id: line.decision_id.clone(),
            benefit_month: line.benefit_month,
            amount,
            destination,
            traceparent: line.traceparent.clone(),
            checked_in_at: line.checked_in_at.as_ref().and_then(|at| {
                DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0))
            }),
        });
    }
    Ok(VerifiedList {
        list_id: first.list_id.clone(),
        province: first.province.clone(),
        lines: approved,
        sum_dong: totals.sum_dong,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::common::v1::BankDestination;
    use contracts::payroll::v1::{ListSignature, ListTotals};
    use ed25519_dalek::{Signer, SigningKey};

    fn line(entitlement: &str, amount: i64) -> PaymentLine {
        PaymentLine {
            entitlement_id: entitlement.into(),
            decision_id: format!("decision-{entitlement}"),
            benefit_month: 1,
            amount_dong: amount,
            payment_by: None,
            bank_destination: Some(BankDestination {
                bank_id: "970436".into(),
                kind: WireKind::Card as i32,
                number: "9704360000000000002".into(),
                holder_name: "Nguyễn Văn An".into(),
            }),
            ..PaymentLine::default()
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::default().with("payroll-1", key().verifying_key())
    }

    /// A correctly signed list cut into chunks of `per_chunk` lines.
    fn signed(lines: Vec<PaymentLine>, per_chunk: usize) -> Vec<PaymentListChunk> {
        let sum: i64 = lines.iter().map(|line| line.amount_dong).sum();
        let totals = ListTotals {
            line_count: lines.len() as u64,
            sum_dong: sum,
        };
        let hash = content_hash("list-1", "91", totals.line_count, sum, &lines);
        let signature = ListSignature {
            key_id: "payroll-1".into(),
            signature: key().sign(&hash).to_bytes().to_vec(),
            signed_by: None,
        };
        let parts: Vec<&[PaymentLine]> = lines.chunks(per_chunk).collect();
        let count = parts.len() as u32;
        parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| PaymentListChunk {
                list_id: "list-1".into(),
                province: "91".into(),
                chunk_index: index as u32,
                chunk_count: count,
                totals: Some(totals),
                content_hash: hash.to_vec(),
                signature: Some(signature.clone()),
                lines: part.to_vec(),
                ..PaymentListChunk::default()
            })
            .collect()
    }

    fn three_lines() -> Vec<PaymentLine> {
        vec![
            line("e1", 6_000_000),
            line("e2", 18_500_000),
            line("e3", 3_000_000),
        ]
    }

    fn reason(result: Result<VerifiedList, Refusal>) -> Option<RefusalReason> {
        result.err().map(|refusal| refusal.reason)
    }

    #[test]
    fn a_complete_signed_list_verifies_in_any_chunk_order() {
        let mut chunks = signed(three_lines(), 2);
        chunks.reverse();

        let list = verify(&chunks, &trusted()).unwrap();

        let ids: Vec<&str> = list
            .lines
            .iter()
            .map(|l| l.entitlement_id.as_str())
            .collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        assert_eq!(list.sum_dong, 27_500_000);
    }

    #[test]
    fn a_missing_chunk_refuses_the_list() {
        let mut chunks = signed(three_lines(), 1);
        chunks.remove(1);

        let refusal = verify(&chunks, &trusted()).unwrap_err();

        assert_eq!(refusal.reason, RefusalReason::Incomplete);
        assert_eq!(refusal.detail, "2 of 3 chunks");
    }

    #[test]
    fn an_amount_changed_after_signing_is_caught() {
        let mut chunks = signed(three_lines(), 3);
        chunks[0].lines[1].amount_dong += 1_000_000;
        assert_eq!(
            reason(verify(&chunks, &trusted())),
            Some(RefusalReason::TotalsMismatch)
        );

        // Moving money between lines keeps the totals but not the hash.
        let mut chunks = signed(three_lines(), 3);
        chunks[0].lines[0].amount_dong -= 1_000_000;
        chunks[0].lines[1].amount_dong += 1_000_000;
        assert_eq!(
            reason(verify(&chunks, &trusted())),
            Some(RefusalReason::HashMismatch)
        );
    }

    #[test]
    fn a_redirected_account_is_caught() {
        let mut chunks = signed(three_lines(), 3);
        if let Some(destination) = chunks[0].lines[2].bank_destination.as_mut() {
            destination.number = "9704360000000000010".into();
        }
        assert_eq!(
            reason(verify(&chunks, &trusted())),
            Some(RefusalReason::HashMismatch)
        );
    }

    #[test]
    fn a_list_signed_by_an_unknown_key_or_forged_is_refused() {
        let chunks = signed(three_lines(), 3);
        assert_eq!(
            reason(verify(&chunks, &TrustedKeys::default())),
            Some(RefusalReason::UntrustedKey)
        );

        let forger = SigningKey::from_bytes(&[9u8; 32]);
        let mut forged = signed(three_lines(), 3);
        let hash = forged[0].content_hash.clone();
        if let Some(signature) = forged[0].signature.as_mut() {
            signature.signature = forger.sign(&hash).to_bytes().to_vec();
        }
        assert_eq!(
            reason(verify(&forged, &trusted())),
            Some(RefusalReason::BadSignature)
        );
    }

    #[test]
    fn chunks_that_disagree_are_refused() {
        let mut chunks = signed(three_lines(), 1);
        chunks[2].province = "79".into();
        assert_eq!(
            reason(verify(&chunks, &trusted())),
            Some(RefusalReason::InconsistentChunks)
        );
    }

    #[test]
    fn a_signed_line_to_an_unknown_bank_refuses_the_list() {
        let mut lines = three_lines();
        if let Some(destination) = lines[1].bank_destination.as_mut() {
            destination.bank_id = "970499".into();
        }
        let refusal = verify(&signed(lines, 3), &trusted()).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::InvalidLine);
        assert_eq!(refusal.detail, "line 1: bank id 970499 is not a known bank");
    }

    #[test]
    fn trusted_keys_are_read_from_hex() {
        let hex_key = hex::encode(key().verifying_key().to_bytes());
        let keys = BTreeMap::from([("payroll-1".to_owned(), hex_key)]);
        let trusted = TrustedKeys::from_hex(&keys).unwrap();
        assert!(verify(&signed(three_lines(), 2), &trusted).is_ok());

        let bad = BTreeMap::from([("k".to_owned(), "abcd".to_owned())]);
        assert_eq!(
            TrustedKeys::from_hex(&bad).err(),
            Some(KeyError::Malformed("k".into()))
        );
    }
}
