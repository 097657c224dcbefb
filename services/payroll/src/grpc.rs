//! The payroll gRPC API: parse the request, apply the domain, store, reply.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use clock::SharedClock;
use contracts::{
    common::v1::{
        Agency, BankDestination, FileChunk, Officer, SigningKey, SigningKeyState, YearMonth,
    },
    payroll::v1::{
        CancelHeldLineRequest, CancelHeldLineResponse, Debt, DebtState,
        GetMonthlyStatisticsRequest, GetMonthlyStatisticsResponse, GetPaymentListRequest,
        GetPaymentListResponse, HeldLine, ListDebtsRequest, ListDebtsResponse,
        ListHeldLinesRequest, ListHeldLinesResponse, ListSignature, ListSigningKeysRequest,
        ListSigningKeysResponse, ListState, ListTotals, PaymentLine, ProvinceMonthStatistics,
        ReleaseHeldLineRequest, ReleaseHeldLineResponse, RetireSigningKeyRequest,
        RetireSigningKeyResponse, RotateSigningKeyRequest, RotateSigningKeyResponse,
        payroll_service_server::PayrollService,
    },
};
use serving::ApiError;
use sqlx::PgPool;
use tonic::{Request, Response, Status, codegen::BoxStream};
use uuid::Uuid;

use crate::{
    domain::{Destination, DestinationKind, HoldReason, KeyState},
    lists::{self, Approval, LineSource, ListsError, Publisher},
    sealing::Sealer,
    secrets::{self, KeyError},
    store::{self, HeldRow, KeyRow},
    wire,
};

/// Lines per page when the request names no page size.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// Most lines one page returns.
const MAX_PAGE_SIZE: u32 = 1_000;

/// Bytes per streamed chunk of an export.
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;

/// Columns of the statistics export, in order.
const STATISTICS_COLUMNS: [&str; 17] = [
    "province",
    "month",
    "beneficiaries_checked_in",
    "entitlements",
    "lists",
    "approved_dong",
    "paid_dong",
    "paid_to_cards",
    "paid_to_cards_dong",
    "paid_to_accounts",
    "paid_to_accounts_dong",
    "held_lines",
    "missed_checkins",
    "failed_transfers",
    "repaid_transfers",
    "median_scan_to_instruction_seconds",
    "share_paid_to_cards_percent",
];

/// The statistics as CSV, one row per province and month.
fn statistics_csv(rows: &[ProvinceMonthStatistics]) -> Result<Vec<u8>, ApiError> {
    let internal = |error: csv::Error| ApiError::Internal(format!("csv export: {error}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(STATISTICS_COLUMNS).map_err(internal)?;
    for row in rows {
        let month = row
            .month
            .map(|month| format!("{:04}-{:02}", month.year, month.month))
            .unwrap_or_default();
        let median = row
            .median_scan_to_instruction
            .map(|median| {
                format!(
                    "{:.3}",
                    median.seconds as f64 + f64::from(median.nanos) / 1e9
                )
            })
            .unwrap_or_default();
        let paid = row.paid_to_cards + row.paid_to_accounts;
        let card_share = if paid == 0 {
            String::new()
        } else {
            format!("{:.1}", row.paid_to_cards as f64 * 100.0 / paid as f64)
        };
        writer
            .write_record([
                row.province.clone(),
                month,
                row.beneficiaries_checked_in.to_string(),
                row.entitlements.to_string(),
                row.lists.to_string(),
                row.approved_dong.to_string(),
                row.paid_dong.to_string(),
                row.paid_to_cards.to_string(),
                row.paid_to_cards_dong.to_string(),
                row.paid_to_accounts.to_string(),
                row.paid_to_accounts_dong.to_string(),
                row.held_lines.to_string(),
                row.missed_checkins.to_string(),
                row.failed_transfers.to_string(),
                row.repaid_transfers.to_string(),
                median,
                card_share,
            ])
            .map_err(internal)?;
    }
    writer
        .into_inner()
        .map_err(|error| ApiError::Internal(format!("csv export: {error}")))
}

/// Longest reason an officer may give.
const MAX_REASON_CHARS: usize = 500;

/// The PayrollService implementation.
pub struct Api {
    pool: PgPool,
    clock: SharedClock,
    publisher: Publisher,
}

impl Api {
    /// An API over the service's pool, clock and list publisher.
    pub fn new(pool: PgPool, clock: SharedClock, publisher: Publisher) -> Self {
        Self {
            pool,
            clock,
            publisher,
        }
    }
}

impl From<ListsError> for ApiError {
    fn from(error: ListsError) -> Self {
        match error {
            ListsError::Database(error) => ApiError::from(error),
            ListsError::Key(error) => ApiError::from(error),
            other @ (ListsError::Corrupt { .. } | ListsError::Totals | ListsError::NoPolicyKey) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Database(error) => ApiError::from(error),
            KeyError::NotFound(what) => ApiError::NotFound(what),
            KeyError::Refused(reason) => ApiError::Conflict(reason),
            other @ (KeyError::Vault(_) | KeyError::Random | KeyError::Corrupt(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::invalid(field, "must be a uuid"))
}

fn parse_page(size: u32, token: &str, default: u32) -> Result<(i64, i64), ApiError> {
    let offset = if token.is_empty() {
        0
    } else {
        token
            .parse::<i64>()
            .ok()
            .filter(|offset| *offset >= 0)
            .ok_or_else(|| ApiError::invalid("page_token", "is not a token this service issued"))?
    };
    let size = if size == 0 {
        default
    } else {
        size.min(MAX_PAGE_SIZE)
    };
    Ok((offset, i64::from(size)))
}

fn next_token(offset: i64, size: i64, returned: usize) -> String {
    if i64::try_from(returned).unwrap_or(0) < size {
        return String::new();
    }
    (offset + size).to_string()
}

/// Checks that the request names a social-security officer, who alone may `action`.
fn social_security_officer(officer: Option<&Officer>, action: &str) -> Result<Officer, ApiError> {
    let officer = officer.ok_or_else(|| ApiError::invalid("officer", "is required"))?;
    if officer.officer_id.trim().is_empty() {
        return Err(ApiError::invalid("officer.officer_id", "must not be empty"));
    }
    if officer.agency != Agency::SocialSecurity as i32 {
        return Err(ApiError::PermissionDenied(format!(
            "only a social-security officer may {action}"
        )));
    }
    Ok(officer.clone())
}

/// Longest officer id a signing key may be named after.
const MAX_OFFICER_ID_CHARS: usize = 64;

/// Checks that a social-security officer, named, gave a reason.
fn officer_decision(
    officer: Option<&Officer>,
    reason: &str,
    action: &str,
) -> Result<Officer, ApiError> {
    if reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "must not be empty"));
    }
    // The reason travels in every chunk of the list, so it must stay small.
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::invalid(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    social_security_officer(officer, action)
}

/// A destination for an officer's screen: the card or account number, opened from its seal,
/// shows its last 4 digits only, as the full number is needed by the bank alone.
fn masked_destination(
    sealer: &Sealer,
    bank_id: &str,
    kind: i16,
    sealed: &[u8],
    holder_name: &str,
) -> Result<BankDestination, ApiError> {
    let number = sealer
        .open_number(sealed)
        .map_err(|error| ApiError::Internal(format!("stored number: {error}")))?;
    let masked_number = DestinationKind::from_code(i32::from(kind))
        .ok()
        .and_then(|kind| Destination::new(bank_id, kind, &number, holder_name).ok())
        .map(|destination| destination.masked_number())
        .unwrap_or_default();
    Ok(BankDestination {
        bank_id: bank_id.to_owned(),
        kind: i32::from(kind),
        number: masked_number,
        holder_name: holder_name.to_owned(),
    })
}

/// A key's public half, as listed.
fn signing_key(row: &KeyRow) -> SigningKey {
    let state = match KeyState::parse(&row.state) {
        Some(KeyState::Active) => SigningKeyState::Active,
        Some(KeyState::VerifyOnly) => SigningKeyState::VerifyOnly,
        Some(KeyState::Retired) => SigningKeyState::Retired,
        None => SigningKeyState::Unspecified,
    };
    SigningKey {
        key_id: row.key_id.clone(),
        public_key: row.public_key.clone(),
        state: state as i32,
        created_at: Some(wire::timestamp_to(row.created_at)),
        retired_at: row.retired_at.map(wire::timestamp_to),
    }
}

fn held_line(sealer: &Sealer, row: &HeldRow) -> Result<HeldLine, ApiError> {
    let destination = masked_destination(
        sealer,
        &row.bank_id,
        row.destination_kind,
        &row.destination_sealed,
        &row.holder_name,
    )?;
    Ok(HeldLine {
        entitlement_id: row.entitlement_id.to_string(),
        decision_id: row.decision_id.clone(),
        benefit_month: u32::try_from(row.benefit_month).unwrap_or_default(),
        amount_dong: row.amount_dong,
        province: row.province.clone(),
        bank_destination: Some(destination),
        reasons: row
            .hold_reasons
            .iter()
            .map(|code| i32::from(*code))
            .collect(),
        explanation: row.hold_explanation.clone(),
        held_at: row.held_at.map(wire::timestamp_to),
    })
}

/// The first day of a requested month; the error names `field`.
fn parse_month(field: &str, month: Option<&YearMonth>) -> Result<NaiveDate, ApiError> {
    let month = month.ok_or_else(|| ApiError::invalid(field, "is required"))?;
    u32::try_from(month.month)
        .ok()
        .and_then(|number| NaiveDate::from_ymd_opt(month.year, number, 1))
        .ok_or_else(|| ApiError::invalid(field, "must be a year and a month from 1 to 12"))
}

fn year_month(day: NaiveDate) -> YearMonth {
    YearMonth {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap_or_default(),
    }
}

/// The row of `province` in `month`, created empty on first use.
fn row_at<'a>(
    rows: &'a mut BTreeMap<(NaiveDate, String), ProvinceMonthStatistics>,
    month: NaiveDate,
    province: &str,
) -> &'a mut ProvinceMonthStatistics {
    rows.entry((month, province.to_owned()))
        .or_insert_with(|| ProvinceMonthStatistics {
            province: province.to_owned(),
            month: Some(year_month(month)),
            ..ProvinceMonthStatistics::default()
        })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn duration(seconds: f64) -> prost_types::Duration {
    let whole = seconds.trunc();
    prost_types::Duration {
        // Saturating float-to-int casts are the intent: a median never nears the limits.
        seconds: whole as i64,
        nanos: ((seconds - whole) * 1e9) as i32,
    }
}

impl Api {
    async fn statistics(
        &self,
        request: GetMonthlyStatisticsRequest,
    ) -> Result<GetMonthlyStatisticsResponse, ApiError> {
        let from = parse_month("from_month", request.from_month.as_ref())?;
        let to = parse_month("to_month", request.to_month.as_ref())?;
        if to < from {
            return Err(ApiError::invalid(
                "to_month",
                "must not be before from_month",
            ));
        }
        let province = Some(request.province.trim()).filter(|province| !province.is_empty());
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        let mut rows: BTreeMap<(NaiveDate, String), ProvinceMonthStatistics> = BTreeMap::new();
        for stats in store::entitlement_stats(&mut conn, province, from, to).await? {
            let row = row_at(&mut rows, stats.month, &stats.province);
            row.beneficiaries_checked_in = count(stats.checked_in);
            row.entitlements = count(stats.entitlements);
            row.approved_dong = stats.approved_dong;
            row.paid_dong = stats.paid_dong;
            row.paid_to_cards = count(stats.paid_to_cards);
            row.paid_to_cards_dong = stats.paid_to_cards_dong;
            row.paid_to_accounts = count(stats.paid_to_accounts);
            row.paid_to_accounts_dong = stats.paid_to_accounts_dong;
            row.held_lines = count(stats.held_lines);
            row.failed_transfers = count(stats.failed_transfers);
            row.repaid_transfers = count(stats.repaid_transfers);
            row.median_scan_to_instruction = stats.median_seconds.map(duration);
        }
        for (month, province, lists) in store::list_counts(&mut conn, province, from, to).await? {
            row_at(&mut rows, month, &province).lists = count(lists);
        }
        for (month, province, missed) in store::missed_counts(&mut conn, province, from, to).await?
        {
            row_at(&mut rows, month, &province).missed_checkins = count(missed);
        }
        Ok(GetMonthlyStatisticsResponse {
            rows: rows.into_values().collect(),
        })
    }

    async fn list_debts(&self, request: ListDebtsRequest) -> Result<ListDebtsResponse, ApiError> {
        let province = Some(request.province.trim()).filter(|province| !province.is_empty());
        let decision_id =
            Some(request.decision_id.trim()).filter(|decision_id| !decision_id.is_empty());
        let (offset, size) = parse_page(request.page_size, &request.page_token, DEFAULT_PAGE_SIZE)?;
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        let rows = store::debts(&mut conn, province, decision_id, offset, size).await?;
        Ok(ListDebtsResponse {
            next_page_token: next_token(offset, size, rows.len()),
            debts: rows
                .iter()
                .map(|row| Debt {
                    debt_id: row.debt_id.to_string(),
                    entitlement_id: row.entitlement_id.to_string(),
                    decision_id: row.decision_id.clone(),
                    benefit_month: u32::try_from(row.benefit_month).unwrap_or_default(),
                    amount_dong: row.amount_dong,
                    termination_reason: row.termination_reason,
                    effective_date: Some(wire::date_to(row.effective_date)),
                    state: match row.state.as_str() {
                        "recovered" => DebtState::Recovered,
                        "waived" => DebtState::Waived,
                        _ => DebtState::Open,
                    } as i32,
                    created_at: Some(wire::timestamp_to(row.created_at)),
                })
                .collect(),
        })
    }

    async fn list_held(
        &self,
        request: ListHeldLinesRequest,
    ) -> Result<ListHeldLinesResponse, ApiError> {
        let reason = match request.reason {
            0 => None,
            code => Some(
                HoldReason::from_code(code)
                    .ok_or_else(|| ApiError::invalid("reason", "is not a hold reason"))?
                    .code(),
            ),
        };
        let province = Some(request.province.trim()).filter(|province| !province.is_empty());
        let (offset, size) = parse_page(request.page_size, &request.page_token, DEFAULT_PAGE_SIZE)?;
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        let rows = store::held_lines(&mut conn, province, reason, offset, size).await?;
        let sealer = &self.publisher.sealer;
        Ok(ListHeldLinesResponse {
            next_page_token: next_token(offset, size, rows.len()),
            lines: rows
                .iter()
                .map(|row| held_line(sealer, row))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Locks a held line; refuses one that is unknown or no longer held.
    async fn lock_held(
        conn: &mut sqlx::PgConnection,
        entitlement_id: Uuid,
    ) -> Result<HeldRow, ApiError> {
        let (row, state) = store::lock_entitlement(conn, entitlement_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("entitlement {entitlement_id}")))?;
        if state != "held" {
            return Err(ApiError::Conflict(format!(
                "entitlement {entitlement_id} is not held (it is {state})"
            )));
        }
        Ok(row)
    }

    async fn release(
        &self,
        request: ReleaseHeldLineRequest,
    ) -> Result<ReleaseHeldLineResponse, ApiError> {
        let entitlement_id = parse_uuid("entitlement_id", &request.entitlement_id)?;
        let officer = officer_decision(
            request.officer.as_ref(),
            &request.reason,
            "release a held line",
        )?;
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        let row = Self::lock_held(&mut tx, entitlement_id).await?;
        // Maker-checker: whoever changed the account must not also approve paying into it.
        if row.destination_changed_by.contains(&officer.officer_id) {
            return Err(ApiError::PermissionDenied(
                "the officer who changed the account cannot release its payment".into(),
            ));
        }
        // The list the officer approves is signed with the officer's own key.
        let key = secrets::active_key(&mut tx, &self.publisher.sealer, Some(&officer.officer_id))
            .await?
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "officer {} has no active signing key; register one with RotateSigningKey",
                    officer.officer_id
                ))
            })?;
        store::decide_held(
            &mut tx,
            entitlement_id,
            "held",
            &officer.officer_id,
            &request.reason,
        )
        .await?;
        let source = LineSource {
            entitlement_id: row.entitlement_id,
            decision_id: row.decision_id.clone(),
            benefit_month: row.benefit_month,
            amount_dong: row.amount_dong,
            payment_by: row.payment_by,
            bank_id: row.bank_id.clone(),
            destination_kind: row.destination_kind,
            destination_sealed: row.destination_sealed.clone(),
            holder_name: row.holder_name.clone(),
            checked_in_at: row.scanned_at,
            traceparent: row.traceparent.clone(),
        };
        let approval = Approval::Officer {
            officer: officer.clone(),
            reason: request.reason.clone(),
        };
        let signed =
            self.publisher
                .sign(self.clock.now(), &row.province, &[source], &approval, &key)?;
        let list_id = signed.list_id();
        lists::write(&mut tx, vec![signed]).await?;
        tx.commit().await.map_err(ApiError::from)?;
        tracing::info!(%entitlement_id, %list_id, officer_id = %officer.officer_id, "held line released");
        Ok(ReleaseHeldLineResponse {
            list_id: list_id.to_string(),
        })
    }

    async fn cancel(
        &self,
        request: CancelHeldLineRequest,
    ) -> Result<CancelHeldLineResponse, ApiError> {
        let entitlement_id = parse_uuid("entitlement_id", &request.entitlement_id)?;
        let officer = officer_decision(
            request.officer.as_ref(),
            &request.reason,
            "cancel a held line",
        )?;
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        Self::lock_held(&mut tx, entitlement_id).await?;
        store::decide_held(
            &mut tx,
            entitlement_id,
            "cancelled",
            &officer.officer_id,
            &request.reason,
        )
        .await?;
        tx.commit().await.map_err(ApiError::from)?;
        tracing::info!(%entitlement_id, officer_id = %officer.officer_id, "held line cancelled");
        Ok(CancelHeldLineResponse {})
    }

    async fn get_list(
        &self,
        request: GetPaymentListRequest,
    ) -> Result<GetPaymentListResponse, ApiError> {
        let officer = social_security_officer(request.officer.as_ref(), "read a payment list")?;
        let list_id = parse_uuid("list_id", &request.list_id)?;
        let (offset, size) = parse_page(request.page_size, &request.page_token, 0)?;
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        let list = store::list(&mut conn, list_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("payment list {list_id}")))?;
        let trail = store::trail(&mut conn, list_id).await?;
        let lines = if size == 0 {
            Vec::new()
        } else {
            store::list_lines(&mut conn, list_id, offset, size).await?
        };
        let next_page_token = if size == 0 {
            String::new()
        } else {
            next_token(offset, size, lines.len())
        };
        // Who read which list is kept in the service's log, as lines name beneficiaries.
        tracing::info!(
            %list_id,
            officer_id = %officer.officer_id,
            lines = lines.len(),
            "payment list read"
        );
        let sealer = &self.publisher.sealer;
        let mut published = Vec::with_capacity(lines.len());
        for line in &lines {
            published.push(PaymentLine {
                entitlement_id: line.entitlement_id.to_string(),
                decision_id: line.decision_id.clone(),
                benefit_month: u32::try_from(line.benefit_month).unwrap_or_default(),
                amount_dong: line.amount_dong,
                payment_by: Some(wire::date_to(line.payment_by)),
                // Officers see the lines masked like held lines; the full numbers travel
                // only in the signed list to the bank.
                bank_destination: Some(masked_destination(
                    sealer,
                    &line.bank_id,
                    line.destination_kind,
                    &line.destination_sealed,
                    &line.holder_name,
                )?),
                ..PaymentLine::default()
            });
        }
        Ok(GetPaymentListResponse {
            list_id: list.list_id.to_string(),
            province: list.province.clone(),
            state: if list.refused_at.is_some() {
                ListState::Refused as i32
            } else {
                ListState::Published as i32
            },
            totals: Some(ListTotals {
                line_count: u64::try_from(list.line_count).unwrap_or_default(),
                sum_dong: list.sum_dong,
            }),
            content_hash: list.content_hash.clone(),
            signature: Some(ListSignature {
                key_id: list.key_id.clone(),
                signature: list.signature.clone(),
                signed_by: list
                    .signed_by_officer_id
                    .as_ref()
                    .map(|officer_id| Officer {
                        officer_id: officer_id.clone(),
                        agency: i32::from(list.signed_by_agency.unwrap_or_default()),
                    }),
            }),
            approval_trail: trail.iter().map(lists::step_to).collect(),
            lines: published,
            next_page_token,
        })
    }

    async fn rotate_key(
        &self,
        request: RotateSigningKeyRequest,
    ) -> Result<RotateSigningKeyResponse, ApiError> {
        let operator = social_security_officer(request.officer.as_ref(), "rotate a signing key")?;
        let signer = request.signer_officer_id.trim();
        let signer = if signer.is_empty() {
            None
        } else if signer.chars().count() > MAX_OFFICER_ID_CHARS
            || signer.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ApiError::invalid(
                "signer_officer_id",
                format!("must be at most {MAX_OFFICER_ID_CHARS} characters without spaces"),
            ));
        } else {
            Some(signer)
        };
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        let row = secrets::rotate(
            &mut tx,
            &self.publisher.sealer,
            signer,
            &operator.officer_id,
            self.clock.now(),
        )
        .await?;
        tx.commit().await.map_err(ApiError::from)?;
        tracing::info!(
            key_id = %row.key_id,
            signer = signer.unwrap_or("policy"),
            operator_id = %operator.officer_id,
            "list signing key rotated"
        );
        Ok(RotateSigningKeyResponse {
            key: Some(signing_key(&row)),
        })
    }

    async fn retire_key(
        &self,
        request: RetireSigningKeyRequest,
    ) -> Result<RetireSigningKeyResponse, ApiError> {
        let operator = officer_decision(
            request.officer.as_ref(),
            &request.reason,
            "retire a signing key",
        )?;
        if request.key_id.trim().is_empty() {
            return Err(ApiError::invalid("key_id", "must not be empty"));
        }
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        let row = secrets::retire(
            &mut tx,
            request.key_id.trim(),
            &operator.officer_id,
            &request.reason,
            self.clock.now(),
        )
        .await?;
        tx.commit().await.map_err(ApiError::from)?;
        tracing::info!(
            key_id = %row.key_id,
            operator_id = %operator.officer_id,
            "list signing key retired"
        );
        Ok(RetireSigningKeyResponse {
            key: Some(signing_key(&row)),
        })
    }
}

#[tonic::async_trait]
impl PayrollService for Api {
    async fn list_held_lines(
        &self,
        request: Request<ListHeldLinesRequest>,
    ) -> Result<Response<ListHeldLinesResponse>, Status> {
        Ok(Response::new(self.list_held(request.into_inner()).await?))
    }

    async fn release_held_line(
        &self,
        request: Request<ReleaseHeldLineRequest>,
    ) -> Result<Response<ReleaseHeldLineResponse>, Status> {
        Ok(Response::new(self.release(request.into_inner()).await?))
    }

    async fn cancel_held_line(
        &self,
        request: Request<CancelHeldLineRequest>,
    ) -> Result<Response<CancelHeldLineResponse>, Status> {
        Ok(Response::new(self.cancel(request.into_inner()).await?))
    }

    async fn get_payment_list(
        &self,
        request: Request<GetPaymentListRequest>,
    ) -> Result<Response<GetPaymentListResponse>, Status> {
        Ok(Response::new(self.get_list(request.into_inner()).await?))
    }

    async fn get_monthly_statistics(
        &self,
        request: Request<GetMonthlyStatisticsRequest>,
    ) -> Result<Response<GetMonthlyStatisticsResponse>, Status> {
        Ok(Response::new(self.statistics(request.into_inner()).await?))
    }

    async fn list_debts(
        &self,
        request: Request<ListDebtsRequest>,
    ) -> Result<Response<ListDebtsResponse>, Status> {
        Ok(Response::new(
            Api::list_debts(self, request.into_inner()).await?,
        ))
    }

    async fn export_monthly_statistics(
        &self,
        request: Request<GetMonthlyStatisticsRequest>,
    ) -> Result<Response<BoxStream<FileChunk>>, Status> {
        let rows = self.statistics(request.into_inner()).await?.rows;
        let file = statistics_csv(&rows)?;
        let chunks: Vec<Result<FileChunk, Status>> = file
            .chunks(EXPORT_CHUNK_BYTES)
            .map(|data| {
                Ok(FileChunk {
                    data: data.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn list_signing_keys(
        &self,
        _request: Request<ListSigningKeysRequest>,
    ) -> Result<Response<ListSigningKeysResponse>, Status> {
        let mut conn = self.pool.acquire().await.map_err(ApiError::from)?;
        let rows = store::keys(&mut conn).await.map_err(ApiError::from)?;
        Ok(Response::new(ListSigningKeysResponse {
            keys: rows.iter().map(signing_key).collect(),
        }))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<RotateSigningKeyRequest>,
    ) -> Result<Response<RotateSigningKeyResponse>, Status> {
        Ok(Response::new(self.rotate_key(request.into_inner()).await?))
    }

    async fn retire_signing_key(
        &self,
        request: Request<RetireSigningKeyRequest>,
    ) -> Result<Response<RetireSigningKeyResponse>, Status> {
        Ok(Response::new(self.retire_key(request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::payroll::v1::HoldReason as WireReason;

    #[test]
    fn wire_hold_reasons_match_the_domain_codes() {
        assert_eq!(
            WireReason::SharedDestination as i32,
            i32::from(HoldReason::SharedDestination.code())
        );
        assert_eq!(
            WireReason::TerminatedBeforeCut as i32,
            i32::from(HoldReason::TerminatedBeforeCut.code())
        );
    }

    #[test]
    fn the_statistics_export_has_a_header_and_one_line_per_row() {
        let row = ProvinceMonthStatistics {
            province: "91".into(),
            month: Some(YearMonth {
                year: 2026,
                month: 3,
            }),
            paid_to_cards: 3,
            paid_to_accounts: 1,
            median_scan_to_instruction: Some(prost_types::Duration {
                seconds: 2,
                nanos: 500_000_000,
            }),
            ..ProvinceMonthStatistics::default()
        };
        let csv = String::from_utf8(statistics_csv(&[row]).unwrap()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("province,month,"));
        assert!(lines[1].starts_with("91,2026-03,"), "{}", lines[1]);
        assert!(lines[1].ends_with(",2.500,75.0"), "{}", lines[1]);
    }

    #[test]
    fn a_foreign_page_token_is_refused_naming_the_field() {
        let error = parse_page(10, "abc", 100).unwrap_err();
        assert!(matches!(error, ApiError::InvalidInput { field, .. } if field == "page_token"));
    }

    #[test]
    fn a_release_without_a_social_security_officer_is_refused() {
        let job_centre = Officer {
            officer_id: "o1".into(),
            agency: Agency::JobCentre as i32,
        };
        assert!(matches!(
            officer_decision(Some(&job_centre), "checked", "release a held line"),
            Err(ApiError::PermissionDenied(_))
        ));
        assert!(matches!(
            officer_decision(None, "checked", "release a held line"),
            Err(ApiError::InvalidInput { field, .. }) if field == "officer"
        ));
        let officer = Officer {
            officer_id: "o1".into(),
            agency: Agency::SocialSecurity as i32,
        };
        assert!(matches!(
            officer_decision(Some(&officer), " ", "release a held line"),
            Err(ApiError::InvalidInput { field, .. }) if field == "reason"
        ));
    }
}
