//! The transfer gRPC API: parse the request, apply the domain, store, reply.

use std::sync::Arc;

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use contracts::common::v1::{
    Agency, BankDestination, DestinationKind as WireKind, FileChunk, Officer, YearMonth,
};
use contracts::transfer::v1::export_payment_initiation_response as export_part;
use contracts::transfer::v1::import_status_report_request as import_part;
use contracts::transfer::v1::transfer_service_server::TransferService;
use contracts::transfer::v1::{
    ConfirmAccountCorrectionRequest, ConfirmAccountCorrectionResponse,
    ExportPaymentInitiationRequest, ExportPaymentInitiationResponse, GetReconciliationRequest,
    GetReconciliationResponse, GetTransferRequest, GetTransferResponse, ImportStatusReportRequest,
    ImportStatusReportResponse, ListRefusedListsRequest, ListRefusedListsResponse,
    PaymentInitiationSummary, ProposeAccountCorrectionRequest, ProposeAccountCorrectionResponse,
    ReconciliationRow as WireRow, RefusalReason as WireReason, RefusedList,
    RejectAccountCorrectionRequest, RejectAccountCorrectionResponse, Transfer, TransferStatus,
    TransferStatusChange,
};
use data_encoding::BASE32_NOPAD;
use serving::ApiError;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::Streaming;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::bank::{BankError, BankId, Destination, DestinationKind};
use crate::domain::end_to_end::EndToEndId;
use crate::domain::list::RefusalReason;
use crate::domain::result::BankStatus;
use crate::iso20022::{self, CreditTransfer, PaymentInitiation};
use crate::policy::{Policy, timestamp, wire_kind, wire_refusal};
use crate::results::{self, Applied, ResultError};
use crate::store::{self, StoreError};

/// The TransferService implementation.
pub struct Api {
    pool: PgPool,
    policy: Arc<Policy>,
}

impl Api {
    /// An API over the service's pool and policy.
    pub fn new(pool: PgPool, policy: Arc<Policy>) -> Self {
        Self { pool, policy }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => ApiError::from(error),
            StoreError::Corrupt(reason) => ApiError::Internal(reason),
            StoreError::Vault(error) => ApiError::Internal(error.to_string()),
        }
    }
}

/// The officer's id, when a social-security officer acts.
fn social_security_officer(officer: Option<&Officer>, field: &str) -> Result<String, ApiError> {
    officer_for(officer, field, "correct bank accounts")
}

/// The officer's id, when a social-security officer may do `action`.
fn officer_for(officer: Option<&Officer>, field: &str, action: &str) -> Result<String, ApiError> {
    let officer = officer.ok_or_else(|| ApiError::invalid(field, "is required"))?;
    if officer.officer_id.trim().is_empty() {
        return Err(ApiError::invalid(
            format!("{field}.officer_id"),
            "must not be empty",
        ));
    }
    if officer.agency != Agency::SocialSecurity as i32 {
        return Err(ApiError::PermissionDenied(format!(
            "only social-security officers {action}"
        )));
    }
    Ok(officer.officer_id.clone())
}

/// Bytes per streamed file chunk.
const CHUNK_BYTES: usize = 64 * 1024;
/// The largest status report accepted.
const MAX_REPORT_BYTES: usize = 64 * 1024 * 1024;

/// The status a stored state stands for.
fn stored_status(state: &str) -> TransferStatus {
    match state {
        "in_flight" => TransferStatus::InFlight,
        "paid" => TransferStatus::Paid,
        "parked" => TransferStatus::Parked,
        "failed" => TransferStatus::Failed,
        "retrying" => TransferStatus::Retrying,
        _ => TransferStatus::Unspecified,
    }
}

/// A CSV field, quoted when it holds a separator, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// 24 base32 characters naming one pain.001 batch; with a prefix of 3 it stays inside
/// ISO's 35 and, being derived from the instant, unique far beyond the 90 days required.
fn batch_id(list_id: &str, bank_id: &str, now: DateTime<Utc>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(list_id.as_bytes());
    hasher.update([0]);
    hasher.update(bank_id.as_bytes());
    hasher.update(now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
    BASE32_NOPAD.encode(&hasher.finalize()[..15])
}

/// The request field a destination error is about.
fn destination_field(error: &BankError) -> &'static str {
    match error {
        BankError::BankIdShape | BankError::UnknownBank(_) => "bank_destination.bank_id",
        BankError::KindUnset => "bank_destination.kind",
        BankError::HolderNameMissing => "bank_destination.holder_name",
        BankError::NonDigit | BankError::CardLength(_) | BankError::AccountLength(_) => {
            "bank_destination.number"
        }
    }
}

fn correction_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::invalid("correction_id", "must be a UUID"))
}

fn month_filter(month: Option<&YearMonth>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(month) = month else {
        return Ok(None);
    };
    let month_number = u32::try_from(month.month).unwrap_or(0);
    NaiveDate::from_ymd_opt(month.year, month_number, 1)
        .map(Some)
        .ok_or_else(|| ApiError::invalid("month", "must be a valid year and month"))
}

fn wire_reason(stored: &str) -> WireReason {
    RefusalReason::from_stored(stored).map_or(WireReason::Unspecified, wire_refusal)
}

#[tonic::async_trait]
impl TransferService for Api {
    async fn propose_account_correction(
        &self,
        request: Request<ProposeAccountCorrectionRequest>,
    ) -> Result<Response<ProposeAccountCorrectionResponse>, Status> {
        let request = request.into_inner();
        if request.decision_id.trim().is_empty() {
            return Err(ApiError::invalid("decision_id", "is required").into());
        }
        let officer_id = social_security_officer(request.officer.as_ref(), "officer")?;
        let wire = request
            .bank_destination
            .ok_or_else(|| ApiError::invalid("bank_destination", "is required"))?;
        let kind = match WireKind::try_from(wire.kind) {
            Ok(WireKind::Card) => Some(DestinationKind::Card),
            Ok(WireKind::Account) => Some(DestinationKind::Account),
            _ => None,
        };
        let (destination, warnings) =
            Destination::parse(&wire.bank_id, kind, &wire.number, &wire.holder_name)
                .map_err(|error| ApiError::invalid(destination_field(&error), error.to_string()))?;
        let now = self.policy.clock.now();
        let correction_id = store::propose_correction(
            &self.pool,
            &self.policy.vault,
            &request.decision_id,
            &destination,
            &request.reason,
            &officer_id,
            now,
        )
        .await
        .map_err(ApiError::from)?;
        tracing::info!(%correction_id, decision_id = %request.decision_id, bank_id = %destination.bank(), "account correction proposed");
        Ok(Response::new(ProposeAccountCorrectionResponse {
            correction_id: correction_id.to_string(),
            warnings: warnings.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn confirm_account_correction(
        &self,
        request: Request<ConfirmAccountCorrectionRequest>,
    ) -> Result<Response<ConfirmAccountCorrectionResponse>, Status> {
        let request = request.into_inner();
        let id = correction_id(&request.correction_id)?;
        let officer_id = social_security_officer(request.officer.as_ref(), "officer")?;
        let now = self.policy.clock.now();
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        let correction = store::lock_correction(&mut tx, &self.policy.vault, id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("correction {id}")))?;
        if correction.state != "proposed" {
            return Err(ApiError::Conflict(format!(
                "correction {id} is already {}",
                correction.state
            ))
            .into());
        }
        if correction.proposed_by == officer_id {
            return Err(ApiError::PermissionDenied(
                "a correction must be confirmed by an officer other than its proposer".into(),
            )
            .into());
        }
        store::decide_correction(&mut tx, id, "confirmed", &officer_id, "", now)
            .await
            .map_err(ApiError::from)?;
        let resent = store::resend_parked(
            &mut tx,
            &self.policy,
            &correction.decision_id,
            &correction.destination,
            now,
        )
        .await
        .map_err(ApiError::from)?;
        store::announce_correction(&mut tx, id, &correction, &officer_id, &resent, now)
            .await
            .map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        tracing::info!(correction_id = %id, resent = resent.len(), "account correction confirmed");
        Ok(Response::new(ConfirmAccountCorrectionResponse {
            resent_end_to_end_ids: resent.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn reject_account_correction(
        &self,
        request: Request<RejectAccountCorrectionRequest>,
    ) -> Result<Response<RejectAccountCorrectionResponse>, Status> {
        let request = request.into_inner();
        let id = correction_id(&request.correction_id)?;
        let officer_id = social_security_officer(request.officer.as_ref(), "officer")?;
        let now = self.policy.clock.now();
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        let correction = store::lock_correction(&mut tx, &self.policy.vault, id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("correction {id}")))?;
        if correction.state != "proposed" {
            return Err(ApiError::Conflict(format!(
                "correction {id} is already {}",
                correction.state
            ))
            .into());
        }
        if correction.proposed_by == officer_id {
            return Err(ApiError::PermissionDenied(
                "a correction must be rejected by an officer other than its proposer".into(),
            )
            .into());
        }
        store::decide_correction(&mut tx, id, "rejected", &officer_id, &request.reason, now)
            .await
            .map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        Ok(Response::new(RejectAccountCorrectionResponse {}))
    }

    async fn get_reconciliation(
        &self,
        request: Request<GetReconciliationRequest>,
    ) -> Result<Response<GetReconciliationResponse>, Status> {
        let request = request.into_inner();
        let month = month_filter(request.month.as_ref())?;
        let list_id = Some(request.list_id.as_str()).filter(|id| !id.is_empty());
        let bank_id = Some(request.bank_id.as_str()).filter(|id| !id.is_empty());
        let rows = store::reconciliation(&self.pool, list_id, bank_id, month)
            .await
            .map_err(ApiError::from)?;
        let mut reply = Vec::with_capacity(rows.len());
        for row in rows {
            let difference = row.approved_dong
                - row.credited_dong
                - row.in_flight_dong
                - row.parked_dong
                - row.failed_dong;
            if difference != 0 {
                metrics::counter!("transfer_reconciliation_differences_total").increment(1);
                tracing::error!(list_id = %row.list_id, bank_id = %row.bank_id, difference_dong = difference, "reconciliation does not balance");
            }
            let count = |value: i64| u64::try_from(value).unwrap_or(0);
            reply.push(WireRow {
                list_id: row.list_id,
                bank_id: row.bank_id,
                month: Some(YearMonth {
                    year: chrono::Datelike::year(&row.month),
                    month: i32::try_from(chrono::Datelike::month(&row.month)).unwrap_or(0),
                }),
                approved_dong: row.approved_dong,
                credited_dong: row.credited_dong,
                in_flight_dong: row.in_flight_dong,
                parked_dong: row.parked_dong,
                failed_dong: row.failed_dong,
                difference_dong: difference,
                approved_count: count(row.approved_count),
                credited_count: count(row.credited_count),
                in_flight_count: count(row.in_flight_count),
                parked_count: count(row.parked_count),
                failed_count: count(row.failed_count),
            });
        }
        Ok(Response::new(GetReconciliationResponse { rows: reply }))
    }

    async fn list_refused_lists(
        &self,
        request: Request<ListRefusedListsRequest>,
    ) -> Result<Response<ListRefusedListsResponse>, Status> {
        let request = request.into_inner();
        // 0 asks for the default page.
        let page_size = match request.page_size {
            0 => 50,
            size => i64::from(size.min(500)),
        };
        let offset = if request.page_token.is_empty() {
            0
        } else {
            request
                .page_token
                .parse::<i64>()
                .ok()
                .filter(|offset| *offset >= 0)
                .ok_or_else(|| {
                    ApiError::invalid("page_token", "is not a token this service gave")
                })?
        };
        let rows = store::refused_lists(&self.pool, page_size + 1, offset)
            .await
            .map_err(ApiError::from)?;
        let more = rows.len() as i64 > page_size;
        let lists = rows
            .into_iter()
            .take(usize::try_from(page_size).unwrap_or(0))
            .map(|row| RefusedList {
                reason: wire_reason(&row.refusal_reason) as i32,
                list_id: row.list_id,
                province: row.province,
                detail: row.refusal_detail,
                refused_at: Some(timestamp(row.decided_at)),
            })
            .collect();
        Ok(Response::new(ListRefusedListsResponse {
            lists,
            next_page_token: if more {
                (offset + page_size).to_string()
            } else {
                String::new()
            },
        }))
    }

    async fn get_transfer(
        &self,
        request: Request<GetTransferRequest>,
    ) -> Result<Response<GetTransferResponse>, Status> {
        let request = request.into_inner();
        let end_to_end_id = EndToEndId::parse(&request.end_to_end_id)
            .map_err(|error| ApiError::invalid("end_to_end_id", error.to_string()))?;
        let row = store::transfer(&self.pool, end_to_end_id.as_str())
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("transfer {end_to_end_id}")))?;
        let history = store::history(&self.pool, end_to_end_id.as_str())
            .await
            .map_err(ApiError::from)?;
        let kind = match DestinationKind::from_stored(&row.destination_kind) {
            Some(kind) => wire_kind(kind),
            None => WireKind::Unspecified,
        };
        let transfer = Transfer {
            end_to_end_id: row.end_to_end_id,
            entitlement_id: row.entitlement_id,
            decision_id: row.decision_id,
            list_id: row.list_id,
            attempt: u32::try_from(row.attempt).unwrap_or(0),
            bank_id: row.bank_id.clone(),
            amount_dong: row.amount_dong,
            bank_destination: Some(BankDestination {
                bank_id: row.bank_id,
                kind: kind as i32,
                number: format!("************{}", row.destination_last4),
                holder_name: row.holder_name,
            }),
            status: stored_status(&row.state) as i32,
            reason_code: row.reason_code,
            history: history
                .into_iter()
                .map(|(state, reason_code, at)| TransferStatusChange {
                    status: stored_status(&state) as i32,
                    reason_code,
                    at: Some(timestamp(at)),
                })
                .collect(),
        };
        Ok(Response::new(GetTransferResponse {
            transfer: Some(transfer),
        }))
    }

    async fn export_reconciliation(
        &self,
        request: Request<GetReconciliationRequest>,
    ) -> Result<Response<BoxStream<FileChunk>>, Status> {
        let rows = self.get_reconciliation(request).await?.into_inner().rows;
        let mut csv = String::from(
            "list_id,bank_id,month,approved_count,approved_dong,credited_count,credited_dong,\
             in_flight_count,in_flight_dong,parked_count,parked_dong,failed_count,failed_dong,\
             difference_dong\n",
        );
        for row in rows {
            let month = row
                .month
                .map(|month| format!("{:04}-{:02}", month.year, month.month))
                .unwrap_or_default();
            csv.push_str(&format!(
                "{},{},{month},{},{},{},{},{},{},{},{},{},{},{}\n",
                csv_field(&row.list_id),
                csv_field(&row.bank_id),
                row.approved_count,
                row.approved_dong,
                row.credited_count,
                row.credited_dong,
                row.in_flight_count,
                row.in_flight_dong,
                row.parked_count,
                row.parked_dong,
                row.failed_count,
                row.failed_dong,
                row.difference_dong,
            ));
        }
        let chunks: Vec<Result<FileChunk, Status>> = csv
            .into_bytes()
            .chunks(CHUNK_BYTES)
            .map(|data| {
                Ok(FileChunk {
                    data: data.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn export_payment_initiation(
        &self,
        request: Request<ExportPaymentInitiationRequest>,
    ) -> Result<Response<BoxStream<ExportPaymentInitiationResponse>>, Status> {
        let request = request.into_inner();
        let bank = BankId::parse(&request.bank_id)
            .map_err(|error| ApiError::invalid("bank_id", error.to_string()))?;
        if request.list_id.is_empty() {
            return Err(ApiError::invalid("list_id", "is required").into());
        }
        let officer_id = officer_for(
            request.officer.as_ref(),
            "officer",
            "take payment files out",
        )?;
        let rows = store::batch(&self.pool, &request.list_id, bank.as_str())
            .await
            .map_err(ApiError::from)?;
        if rows.is_empty() {
            return Err(ApiError::NotFound(format!(
                "transfers of list {} waiting at bank {bank}",
                request.list_id
            ))
            .into());
        }
        let now = self.policy.clock.now();
        let batch_id = batch_id(&request.list_id, bank.as_str(), now);
        let mut transfers = Vec::with_capacity(rows.len());
        for row in rows {
            let number = self
                .policy
                .vault
                .open(&row.destination_sealed)
                .map_err(|error| ApiError::Internal(error.to_string()))?;
            transfers.push(CreditTransfer {
                remittance: format!("TRO CAP THAT NGHIEP QD {}", row.decision_id),
                end_to_end_id: row.end_to_end_id,
                amount_dong: row.amount_dong,
                creditor_bank_id: row.bank_id,
                creditor_name: row.holder_name,
                creditor_account: number,
            });
        }
        let batch = PaymentInitiation {
            message_id: format!("UBM{batch_id}"),
            payment_information_id: format!("UBP{batch_id}"),
            created_at: now,
            execution_date: self.policy.clock.today(),
            debtor_name: self.policy.debtor_name.clone(),
            debtor_account: self.policy.debtor_account.clone(),
            debtor_bank_id: self.policy.debtor_bank_id.clone(),
            transfers,
        };
        let xml = iso20022::write_pain_001(&batch)
            .map_err(|error| ApiError::Internal(format!("pain.001 not written: {error}")))?;
        let summary = PaymentInitiationSummary {
            message_id: batch.message_id.clone(),
            payment_information_id: batch.payment_information_id.clone(),
            number_of_transactions: batch.number_of_transactions() as u64,
            control_sum_dong: batch.control_sum(),
        };
        // Recorded before a byte leaves: a file no one can trace to an officer is not sent.
        let digest = hex::encode(Sha256::digest(&xml));
        store::record_file_export(
            &self.pool,
            &store::FileExport {
                message_id: &batch.message_id,
                payment_information_id: &batch.payment_information_id,
                list_id: &request.list_id,
                bank_id: bank.as_str(),
                transactions: i64::try_from(batch.number_of_transactions()).unwrap_or(i64::MAX),
                control_sum_dong: batch.control_sum(),
                sha256: &digest,
                officer_id: &officer_id,
            },
            now,
        )
        .await
        .map_err(ApiError::from)?;
        tracing::info!(list_id = %request.list_id, bank_id = %bank, message_id = %summary.message_id, transactions = summary.number_of_transactions, %officer_id, "pain.001 written");
        let mut parts = vec![Ok(ExportPaymentInitiationResponse {
            part: Some(export_part::Part::Summary(summary)),
        })];
        parts.extend(xml.chunks(CHUNK_BYTES).map(|data| {
            Ok(ExportPaymentInitiationResponse {
                part: Some(export_part::Part::XmlChunk(data.to_vec())),
            })
        }));
        Ok(Response::new(Box::pin(futures::stream::iter(parts))))
    }

    async fn import_status_report(
        &self,
        request: Request<Streaming<ImportStatusReportRequest>>,
    ) -> Result<Response<ImportStatusReportResponse>, Status> {
        let mut stream = request.into_inner();
        let Some(first) = stream.message().await? else {
            return Err(ApiError::invalid("header", "the first message must be the header").into());
        };
        let Some(import_part::Part::Header(header)) = first.part else {
            return Err(ApiError::invalid("header", "the first message must be the header").into());
        };
        let bank = BankId::parse(&header.bank_id)
            .map_err(|error| ApiError::invalid("header.bank_id", error.to_string()))?;
        social_security_officer(header.officer.as_ref(), "header.officer")?;
        let mut xml = Vec::new();
        while let Some(message) = stream.message().await? {
            match message.part {
                Some(import_part::Part::XmlChunk(data)) => {
                    if xml.len() + data.len() > MAX_REPORT_BYTES {
                        return Err(ApiError::invalid(
                            "xml_chunk",
                            "status report larger than 64 MiB",
                        )
                        .into());
                    }
                    xml.extend_from_slice(&data);
                }
                _ => return Err(ApiError::invalid("header", "sent more than once").into()),
            }
        }
        let text = String::from_utf8(xml)
            .map_err(|_| ApiError::invalid("xml_chunk", "status report is not UTF-8"))?;
        let report = iso20022::read_pain_002(&text)
            .map_err(|error| ApiError::invalid("xml_chunk", error.to_string()))?;

        let mut reply = ImportStatusReportResponse {
            original_message_id: report.original_message_id.clone(),
            statuses_read: report.transactions.len() as u64,
            ..ImportStatusReportResponse::default()
        };
        // The statuses settle in bulk through the path `bank.results.v1` takes: a file can
        // answer for a whole month's batch.
        let mut statuses = Vec::with_capacity(report.transactions.len());
        let mut originals = Vec::with_capacity(report.transactions.len());
        for entry in &report.transactions {
            let Ok(end_to_end_id) = EndToEndId::parse(&entry.original_end_to_end_id) else {
                reply
                    .unknown_end_to_end_ids
                    .push(entry.original_end_to_end_id.clone());
                continue;
            };
            let Some(status) = BankStatus::from_code(&entry.status) else {
                reply.statuses_ignored += 1;
                continue;
            };
            statuses.push(results::Status {
                end_to_end_id,
                bank_id: bank.as_str(),
                status,
                reason_code: &entry.reason_code,
                span: None,
            });
            originals.push(&entry.original_end_to_end_id);
        }
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        let mut tally = messaging::Tally::default();
        let applied = results::apply_all(&mut tx, &mut tally, &self.policy, &statuses)
            .await
            .map_err(ApiError::from)?;
        for (original, applied) in originals.into_iter().zip(applied) {
            match applied {
                Ok(Applied::Changed(_)) => reply.statuses_applied += 1,
                Ok(Applied::Unchanged) => reply.statuses_ignored += 1,
                Err(ResultError::UnknownTransfer(_) | ResultError::WrongBank { .. }) => {
                    reply.unknown_end_to_end_ids.push(original.clone());
                }
                Err(ResultError::Store(error)) => return Err(ApiError::from(error).into()),
            }
        }
        tx.commit().await.map_err(ApiError::from)?;
        tally.settle();
        tracing::info!(bank_id = %bank, original_message_id = %reply.original_message_id, read = reply.statuses_read, applied = reply.statuses_applied, "pain.002 status report imported");
        Ok(Response::new(reply))
    }
}
