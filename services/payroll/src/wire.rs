//! Conversions between the contracts' messages and the domain's types, and the chunking of a
//! list into records the broker accepts.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use contracts::common::v1 as common;
use contracts::payroll::v1::PaymentLine;
use prost::Message;
use uuid::Uuid;

use crate::domain::{BenefitMonth, Destination, DestinationKind, Dong, Line};

/// A contract date as a calendar date, if it is one.
pub fn date_from(date: Option<&common::Date>) -> Option<NaiveDate> {
    let date = date?;
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}

/// A calendar date as a contract date.
pub fn date_to(date: NaiveDate) -> common::Date {
    common::Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or_default(),
        day: i32::try_from(date.day()).unwrap_or_default(),
    }
}

/// An instant as a protobuf timestamp.
pub fn timestamp_to(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or_default(),
    }
}

/// A protobuf timestamp as an instant, if it is one.
pub fn timestamp_from(timestamp: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let timestamp = timestamp?;
    DateTime::from_timestamp(timestamp.seconds, u32::try_from(timestamp.nanos).ok()?)
}

/// A contract destination as a domain one; the error names what is wrong.
pub fn destination_from(
    destination: Option<&common::BankDestination>,
) -> Result<Destination, String> {
    let destination = destination.ok_or("bank destination is missing")?;
    let kind = DestinationKind::from_code(destination.kind).map_err(|error| error.to_string())?;
    Destination::new(
        &destination.bank_id,
        kind,
        &destination.number,
        &destination.holder_name,
    )
    .map_err(|error| error.to_string())
}

/// A domain destination as a contract one, its number in full (for the bank).
pub fn destination_to(destination: &Destination) -> common::BankDestination {
    common::BankDestination {
        bank_id: destination.bank_id().to_owned(),
        kind: destination.kind().code(),
        number: destination.number().to_owned(),
        holder_name: destination.holder_name().to_owned(),
    }
}

/// A domain line as a published one.
pub fn line_to(line: &Line) -> PaymentLine {
    PaymentLine {
        entitlement_id: line.entitlement_id.to_string(),
        decision_id: line.decision_id.clone(),
        benefit_month: line.benefit_month.get(),
        amount_dong: line.amount.as_i64(),
        payment_by: Some(date_to(line.payment_by)),
        bank_destination: Some(destination_to(&line.destination)),
        ..PaymentLine::default()
    }
}

/// A published line as a domain one, so a receiver can recompute the list's hash.
pub fn line_from(line: &PaymentLine) -> Result<Line, String> {
    Ok(Line {
        entitlement_id: Uuid::parse_str(&line.entitlement_id)
            .map_err(|_| "entitlement id is not a uuid".to_owned())?,
        decision_id: line.decision_id.clone(),
        benefit_month: BenefitMonth::new(line.benefit_month).map_err(|error| error.to_string())?,
        amount: Dong::new(line.amount_dong).map_err(|error| error.to_string())?,
        payment_by: date_from(line.payment_by.as_ref()).ok_or("payment date is missing")?,
        destination: destination_from(line.bank_destination.as_ref())?,
    })
}

/// Room left in every chunk for the header (ids, totals, hash, signature, trail).
const HEADER_ALLOWANCE: usize = 4 * 1024;

/// Splits `lines` into consecutive runs whose encoding stays under `max_bytes` with the
/// header; a list always has at least one chunk.
pub fn chunk_lines(lines: Vec<PaymentLine>, max_bytes: usize) -> Vec<Vec<PaymentLine>> {
    let budget = max_bytes.saturating_sub(HEADER_ALLOWANCE).max(1);
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut size = 0usize;
    for line in lines {
        // Field tag and length prefix of a repeated message field.
        let line_size = line.encoded_len() + 1 + prost::length_delimiter_len(line.encoded_len());
        if !current.is_empty() && size + line_size > budget {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
        size += line_size;
        current.push(line);
    }
    if !current.is_empty() || chunks.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u32) -> PaymentLine {
        PaymentLine {
            entitlement_id: Uuid::new_v4().to_string(),
            decision_id: format!("decision-{n}"),
            benefit_month: 1,
            amount_dong: 6_000_000,
            payment_by: Some(date_to(NaiveDate::from_ymd_opt(2026, 3, 26).unwrap())),
            bank_destination: Some(common::BankDestination {
                bank_id: "970436".into(),
                kind: 2,
                number: "0011001234567".into(),
                holder_name: "NGUYỄN VĂN A".into(),
            }),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            checked_in_at: Some(timestamp_to(Utc::now())),
        }
    }

    /// A chunk with every header field filled as a real list fills it.
    fn full_header_chunk(lines: Vec<PaymentLine>) -> contracts::payroll::v1::PaymentListChunk {
        use contracts::payroll::v1::{ApprovalStep, ListSignature, ListTotals, PaymentListChunk};
        let id = Uuid::new_v4().to_string();
        let step = ApprovalStep {
            action: 3,
            at: Some(timestamp_to(Utc::now())),
            officer: Some(common::Officer {
                officer_id: "officer-with-a-long-directory-id-0001".into(),
                agency: 3,
            }),
            note: "x".repeat(500),
        };
        PaymentListChunk {
            meta: Some(common::EventMeta {
                event_id: Uuid::new_v4().to_string(),
                occurred_at: Some(timestamp_to(Utc::now())),
                subject_id: id.clone(),
                schema_version: 1,
                producer: "payroll".into(),
            }),
            list_id: id,
            province: "91".into(),
            chunk_index: u32::MAX,
            chunk_count: u32::MAX,
            totals: Some(ListTotals {
                line_count: u64::MAX,
                sum_dong: i64::MAX,
            }),
            content_hash: vec![0xff; 32],
            signature: Some(ListSignature {
                key_id: "payroll-policy-key-2026-01".into(),
                signature: vec![0xff; 64],
                signed_by: None,
            }),
            approval_trail: vec![step.clone(), step.clone(), step],
            created_at: Some(timestamp_to(Utc::now())),
            lines,
        }
    }

    #[test]
    fn chunks_keep_every_line_in_order_under_the_size_limit() {
        let lines: Vec<PaymentLine> = (0..2_000).map(line).collect();
        let chunks = chunk_lines(lines.clone(), 50_000);

        assert!(chunks.len() > 1);
        for lines in &chunks {
            let record = full_header_chunk(lines.clone());
            assert!(record.encoded_len() <= 50_000, "{}", record.encoded_len());
        }
        let rejoined: Vec<PaymentLine> = chunks.into_iter().flatten().collect();
        assert_eq!(rejoined, lines);
    }

    #[test]
    fn a_small_list_is_one_chunk() {
        assert_eq!(chunk_lines(vec![line(1)], 900_000).len(), 1);
    }

    #[test]
    fn a_line_survives_the_round_trip_through_the_contract() {
        let published = line(7);
        let domain = line_from(&published).unwrap();
        // What is paid round-trips; the trace and check-in time are not part of the domain
        // line (nor of the content hash) and are set by the cut beside it.
        let paid = PaymentLine {
            traceparent: String::new(),
            checked_in_at: None,
            ..published
        };
        assert_eq!(line_to(&domain), paid);
    }
}
