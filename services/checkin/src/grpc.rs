//! The checkin gRPC API: parse the request, apply the domain, store, reply.

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use clock::SharedClock;
use contracts::checkin::v1::checkin_service_server::CheckinService;
use contracts::checkin::v1::{
    ExcuseReason, GetNoticeRequest, GetNoticeResponse, InvalidReason, ListMissedCheckinsRequest,
    ListMissedCheckinsResponse, ListSigningKeysRequest, ListSigningKeysResponse, MissedCheckin,
    NoticeFormat, RecordExcusedCheckinRequest, RecordExcusedCheckinResponse, RegisterKioskRequest,
    RegisterKioskResponse, RetireSigningKeyRequest, RetireSigningKeyResponse, RevokeKioskRequest,
    RevokeKioskResponse, RotateSigningKeyRequest, RotateSigningKeyResponse, ScanOutcome,
    ScanRequest, ScanResponse, WindowPosition,
};
use contracts::common::v1::{Agency, Officer, SigningKey, SigningKeyState};
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use serving::ApiError;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::announce::{NewCheckin, Source, window_to_proto};
use crate::convert::{date_from_proto, date_to_proto, timestamp};
use crate::domain::ids::{DecisionId, KeyId};
use crate::domain::token::{self, KeyRing, NoticeSigner};
use crate::domain::window::{BenefitMonth, payment_by, vietnam_date};
use crate::notice::keys::{KeyError, KeyState, SigningKeys, StoredKey};
use crate::notice::{self, issued};
use crate::scan::{Answered, Scan, Scanned, Scans};
use crate::store::{self, Recorded, Settlement};

/// Metadata key under which a kiosk presents its credential.
pub const KIOSK_CREDENTIAL_HEADER: &str = "x-kiosk-credential";

/// The CheckinService implementation.
pub struct Api {
    pool: PgPool,
    clock: SharedClock,
    keys: SigningKeys,
    scans: Scans,
}

impl Api {
    /// An API over the service's pool and clock; `signer` is the configured signing key and
    /// `ring` every key configuration names, registered with the stored keys by [`Api::load_keys`].
    pub fn new(
        pool: PgPool,
        clock: SharedClock,
        signer: Arc<NoticeSigner>,
        ring: Arc<KeyRing>,
    ) -> Self {
        let keys = SigningKeys::new(pool.clone(), clock.clone(), signer, ring);
        let scans = Scans::start(pool.clone());
        Self {
            pool,
            clock,
            keys,
            scans,
        }
    }

    /// Loads the signing keys now, registering the configured ones, so a key configuration the
    /// stored keys contradict stops the start rather than the first scan.
    pub async fn load_keys(&self) -> Result<(), KeyError> {
        self.keys.load().await
    }

    /// Checks a scan offline: the kiosk's credential is present and the token's signature
    /// verifies (or the text is a short code); the rest is read and decided with the other
    /// scans in flight.
    async fn checked_scan(&self, request: Request<ScanRequest>) -> Result<Scan, ApiError> {
        let credential_hash = request
            .metadata()
            .get(KIOSK_CREDENTIAL_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(credential_hash)
            .ok_or_else(|| ApiError::Unauthenticated("kiosk credential missing".into()))?;
        let request = request.into_inner();
        let now = self.clock.now();
        // A signed token is opened offline first, so the batch's one read also loads its notice;
        // its signature is verified with the batch.
        let scanned = match token::parse_short_code(&request.scanned_text) {
            Some(code) => Scanned::Code(code),
            None => match self.keys.open(&request.scanned_text).await? {
                Ok(token) => Scanned::Sealed(Box::new(token)),
                Err(refusal) => Scanned::Refused(refusal),
            },
        };
        Ok(Scan {
            credential_hash,
            claimed_kiosk: request.kiosk_id.trim().to_owned(),
            scanned,
            now,
        })
    }

    async fn excuse(
        &self,
        request: RecordExcusedCheckinRequest,
    ) -> Result<RecordExcusedCheckinResponse, ApiError> {
        let decision_id = DecisionId::parse(&request.decision_id)
            .map_err(|error| ApiError::invalid("decision_id", error.to_string()))?;
        let month = BenefitMonth::new(request.benefit_month)
            .map_err(|error| ApiError::invalid("benefit_month", error.to_string()))?;
        let reason = match ExcuseReason::try_from(request.reason) {
            Ok(ExcuseReason::Unspecified) | Err(_) => {
                return Err(ApiError::invalid(
                    "reason",
                    "must be illness, maternity, accident or force majeure",
                ));
            }
            Ok(reason) => reason,
        };
        let document_reference =
            required_text("document_reference", &request.document_reference, MAX_TEXT)?;
        if request.note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid(
                "note",
                format!("must be at most {MAX_NOTE} characters"),
            ));
        }
        let officer = officer_of(request.officer.as_ref(), Agency::JobCentre)?;

        let view = store::decision_view(&self.pool, decision_id.as_str())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("decision {decision_id}")))?;
        let window =
            view.schedule.window(month).copied().ok_or_else(|| {
                ApiError::invalid("benefit_month", "the decision has no such month")
            })?;
        let now = self.clock.now();
        if vietnam_date(now) < window.opens_on() {
            return Err(ApiError::Conflict(format!(
                "the check-in window of benefit month {} opens on {}",
                month.number(),
                window.opens_on()
            )));
        }
        let checkin = NewCheckin {
            decision_id: decision_id.as_str().to_owned(),
            benefit_month: month.number(),
            recorded_at: now,
            payment_by: payment_by(&window),
            centre_id: view.centre_id.clone(),
            province: view.province.clone(),
            source: Source::Excused {
                reason: reason as i32,
                document_reference,
                note: request.note.trim().to_owned(),
                officer: officer.clone(),
            },
        };
        let mut conn = self.pool.acquire().await?;
        let (outcome, record) = match store::record_checkin(&mut conn, &checkin).await? {
            Recorded::New(record) => {
                tracing::info!(
                    decision_id = %decision_id,
                    benefit_month = month.number(),
                    officer_id = %officer.officer_id,
                    "excused check-in recorded"
                );
                (ScanOutcome::Accepted, record)
            }
            Recorded::Existing(record) => (ScanOutcome::AlreadyRecorded, record),
            Recorded::Settled(Settlement::Missed) => {
                return Err(ApiError::Conflict(format!(
                    "benefit month {} was already reported missed",
                    month.number()
                )));
            }
            Recorded::Settled(_) => {
                return Err(ApiError::Conflict("the decision is terminated".into()));
            }
            Recorded::NoSuchMonth => {
                return Err(ApiError::invalid(
                    "benefit_month",
                    "the decision has no such month",
                ));
            }
        };
        Ok(RecordExcusedCheckinResponse {
            outcome: outcome as i32,
            payment_by: Some(date_to_proto(record.payment_by)),
            recorded_at: Some(timestamp(record.recorded_at)),
        })
    }

    async fn notice(&self, request: GetNoticeRequest) -> Result<GetNoticeResponse, ApiError> {
        let decision_id = DecisionId::parse(&request.decision_id)
            .map_err(|error| ApiError::invalid("decision_id", error.to_string()))?;
        let format = match NoticeFormat::try_from(request.format) {
            Ok(NoticeFormat::Unspecified | NoticeFormat::Pdf) => NoticeFormat::Pdf,
            Ok(NoticeFormat::Png) => NoticeFormat::Png,
            Err(_) => {
                return Err(ApiError::invalid(
                    "format",
                    "must be NOTICE_FORMAT_PDF or NOTICE_FORMAT_PNG",
                ));
            }
        };
        let officer = officer_of(request.officer.as_ref(), Agency::JobCentre)?;
        let mut notice = issued::load(&self.pool, &decision_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("notice of decision {decision_id}")))?;
        // A notice whose key was retired would be refused at every kiosk: print it signed anew.
        if !self.keys.is_active(&notice.key_id).await? {
            let signer = self.keys.signer().await?;
            notice = issued::resign(&self.pool, &decision_id, notice, &signer).await?;
        }
        // Rendering takes a few milliseconds of CPU; it stays off the threads serving scans.
        let sheet = notice.sheet.clone();
        let (content, content_type) = tokio::task::spawn_blocking(move || match format {
            NoticeFormat::Png => notice::render_png(&sheet).map(|bytes| (bytes, "image/png")),
            _ => notice::render_pdf(&sheet).map(|bytes| (bytes, "application/pdf")),
        })
        .await
        .map_err(|error| ApiError::Internal(format!("notice rendering stopped: {error}")))?
        .map_err(|error| ApiError::Internal(error.to_string()))?;
        tracing::info!(
            decision_id = %decision_id,
            notice_id = %notice.notice_id,
            officer_id = %officer.officer_id,
            content_type,
            "notice printed"
        );
        Ok(GetNoticeResponse {
            notice_id: notice.notice_id.to_string(),
            content,
            content_type: content_type.into(),
            short_code: notice.sheet.short_code,
            key_id: notice.key_id,
            expires_at: Some(timestamp(notice.sheet.expires_at)),
        })
    }

    async fn signing_keys(&self) -> Result<ListSigningKeysResponse, ApiError> {
        let keys = self
            .keys
            .list()
            .await?
            .into_iter()
            .map(|(key, state)| signing_key(key, state))
            .collect();
        Ok(ListSigningKeysResponse { keys })
    }

    async fn rotate(
        &self,
        request: RotateSigningKeyRequest,
    ) -> Result<RotateSigningKeyResponse, ApiError> {
        let officer = officer_of(request.officer.as_ref(), Agency::Operator)?;
        let key = self.keys.rotate(&officer.officer_id).await?;
        Ok(RotateSigningKeyResponse {
            key: Some(signing_key(key, KeyState::Active)),
        })
    }

    async fn retire(
        &self,
        request: RetireSigningKeyRequest,
    ) -> Result<RetireSigningKeyResponse, ApiError> {
        let key_id = KeyId::parse(request.key_id.trim())
            .map_err(|error| ApiError::invalid("key_id", error.to_string()))?;
        let reason = required_text("reason", &request.reason, MAX_TEXT)?;
        let officer = officer_of(request.officer.as_ref(), Agency::Operator)?;
        let key = self
            .keys
            .retire(key_id.as_str(), &reason, &officer.officer_id)
            .await?;
        Ok(RetireSigningKeyResponse {
            key: Some(signing_key(key, KeyState::Retired)),
        })
    }

    async fn missed(
        &self,
        request: ListMissedCheckinsRequest,
    ) -> Result<ListMissedCheckinsResponse, ApiError> {
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size > MAX_PAGE_SIZE => {
                return Err(ApiError::invalid(
                    "page_size",
                    format!("must be at most {MAX_PAGE_SIZE}"),
                ));
            }
            size => size,
        };
        let day = |field: &str, date: Option<&contracts::common::v1::Date>| match date {
            None => Ok(None),
            Some(date) => date_from_proto(Some(date))
                .map(Some)
                .ok_or_else(|| ApiError::invalid(field, "is not a calendar date")),
        };
        let after = if request.page_token.is_empty() {
            None
        } else {
            Some(decode_page_token(&request.page_token).ok_or_else(|| {
                ApiError::invalid("page_token", "is not a token from a previous page")
            })?)
        };
        let query = store::MissedQuery {
            province: request.province.trim().to_owned(),
            centre_id: request.centre_id.trim().to_owned(),
            closed_from: day("closed_from", request.closed_from.as_ref())?,
            closed_to: day("closed_to", request.closed_to.as_ref())?,
            after,
            limit: i64::from(page_size) + 1,
        };
        let mut rows = store::missed_checkins(&self.pool, &query).await?;
        let more = rows.len() > page_size as usize;
        rows.truncate(page_size as usize);
        let next_page_token = match rows.last() {
            Some(last) if more => encode_page_token(&last.position()),
            _ => String::new(),
        };
        let mut missed = Vec::with_capacity(rows.len());
        for row in rows {
            let window = row.window()?;
            missed.push(MissedCheckin {
                decision_id: row.decision_id,
                decision_number: row.decision_number,
                beneficiary_name: row.beneficiary_name,
                centre_id: row.centre_id,
                window: Some(window_to_proto(&window)),
            });
        }
        Ok(ListMissedCheckinsResponse {
            missed,
            next_page_token,
        })
    }

    async fn register(
        &self,
        request: RegisterKioskRequest,
    ) -> Result<RegisterKioskResponse, ApiError> {
        let centre_id = required_text("centre_id", &request.centre_id, MAX_ID)?;
        let province = required_text("province", &request.province, MAX_ID)?;
        let label = required_text("label", &request.label, MAX_TEXT)?;
        let officer = officer_of(request.officer.as_ref(), Agency::JobCentre)?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let credential = BASE32_NOPAD.encode(&secret);
        let kiosk = store::NewKiosk {
            kiosk_id: Uuid::now_v7(),
            centre_id,
            province,
            label,
            credential_hash: credential_hash(&credential),
            registered_by: officer.officer_id,
        };
        store::insert_kiosk(&self.pool, &kiosk, self.clock.now()).await?;
        tracing::info!(kiosk_id = %kiosk.kiosk_id, centre_id = %kiosk.centre_id, "kiosk registered");
        Ok(RegisterKioskResponse {
            kiosk_id: kiosk.kiosk_id.to_string(),
            credential,
        })
    }

    async fn revoke(&self, request: RevokeKioskRequest) -> Result<RevokeKioskResponse, ApiError> {
        let kiosk_id = Uuid::parse_str(request.kiosk_id.trim())
            .map_err(|_| ApiError::invalid("kiosk_id", "must be a kiosk id"))?;
        let reason = required_text("reason", &request.reason, MAX_TEXT)?;
        let officer = officer_of(request.officer.as_ref(), Agency::JobCentre)?;
        let found = store::revoke_kiosk(
            &self.pool,
            kiosk_id,
            &officer.officer_id,
            &reason,
            self.clock.now(),
        )
        .await?;
        if !found {
            return Err(ApiError::NotFound(format!("kiosk {kiosk_id}")));
        }
        tracing::info!(kiosk_id = %kiosk_id, "kiosk revoked");
        Ok(RevokeKioskResponse {})
    }
}

/// The `result` label of `checkin_scans_total`: one short value per kind of answer.
fn scan_result(answer: &Result<ScanResponse, ApiError>) -> &'static str {
    let response = match answer {
        Ok(response) => response,
        Err(ApiError::Unauthenticated(_)) => return "unauthenticated",
        Err(_) => return "error",
    };
    match response.outcome() {
        ScanOutcome::Accepted => "accepted",
        ScanOutcome::AlreadyRecorded => "already_recorded",
        ScanOutcome::OutsideWindow => match response.window_position() {
            WindowPosition::TooLate => "too_late",
            _ => "too_early",
        },
        ScanOutcome::DecisionSuspended => "suspended",
        ScanOutcome::DecisionTerminated => "terminated",
        ScanOutcome::Invalid => match response.invalid_reason() {
            InvalidReason::BadFormat => "invalid_bad_format",
            InvalidReason::BadSignature => "invalid_bad_signature",
            InvalidReason::UnknownKey => "invalid_unknown_key",
            InvalidReason::RetiredKey => "invalid_retired_key",
            InvalidReason::Expired => "invalid_expired",
            InvalidReason::OtherDecision => "invalid_other_decision",
            InvalidReason::UnknownNotice => "invalid_unknown_notice",
            _ => "invalid",
        },
        _ => "error",
    }
}

const MAX_ID: usize = 64;
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;
const MAX_TEXT: usize = 200;
const MAX_NOTE: usize = 1_000;

/// A page token: the last entry's closing day, month and decision, base32 so it is opaque.
fn encode_page_token((day, decision_id, month): &(NaiveDate, String, i32)) -> String {
    BASE32_NOPAD.encode(format!("{day}|{month}|{decision_id}").as_bytes())
}

fn decode_page_token(token: &str) -> Option<(NaiveDate, String, i32)> {
    let text = String::from_utf8(BASE32_NOPAD.decode(token.as_bytes()).ok()?).ok()?;
    let mut parts = text.splitn(3, '|');
    let day = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let decision_id = parts.next()?.to_owned();
    Some((day, decision_id, month))
}

fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// The acting officer; `agency` (or an operator) may do this.
fn officer_of(officer: Option<&Officer>, agency: Agency) -> Result<Officer, ApiError> {
    let officer = officer.ok_or_else(|| ApiError::invalid("officer", "is required"))?;
    required_text("officer.officer_id", &officer.officer_id, MAX_ID)?;
    let acting = Agency::try_from(officer.agency).unwrap_or(Agency::Unspecified);
    if acting != agency && acting != Agency::Operator {
        return Err(ApiError::PermissionDenied(format!(
            "only {} officers may do this",
            agency.as_str_name()
        )));
    }
    Ok(officer.clone())
}

/// Credentials are random, so an unsalted hash is enough to keep them out of the database.
fn credential_hash(credential: &str) -> Vec<u8> {
    Sha256::digest(credential.trim().as_bytes()).to_vec()
}

fn signing_key(key: StoredKey, state: KeyState) -> SigningKey {
    let state = match state {
        KeyState::Active => SigningKeyState::Active,
        KeyState::VerifyOnly => SigningKeyState::VerifyOnly,
        KeyState::Retired => SigningKeyState::Retired,
    };
    SigningKey {
        key_id: key.key_id,
        public_key: key.public_key,
        state: state as i32,
        created_at: Some(timestamp(key.created_at)),
        retired_at: key.retired_at.map(timestamp),
    }
}

#[tonic::async_trait]
impl CheckinService for Api {
    async fn get_notice(
        &self,
        request: Request<GetNoticeRequest>,
    ) -> Result<Response<GetNoticeResponse>, Status> {
        Ok(Response::new(self.notice(request.into_inner()).await?))
    }

    async fn scan(&self, request: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        let started = Instant::now();
        let Answered { site, answer } = match self.checked_scan(request).await {
            Ok(scan) => self.scans.answer(scan).await,
            Err(error) => Answered {
                site: None,
                answer: Err(error),
            },
        };
        // Labels name the kiosk's centre and province only, never the person or the notice.
        let (centre, province) = match site {
            Some(site) => (site.centre, site.province),
            None => ("unknown".to_owned(), "unknown".to_owned()),
        };
        metrics::counter!(
            "checkin_scans_total",
            "result" => scan_result(&answer),
            "centre" => centre,
            "province" => province
        )
        .increment(1);
        metrics::histogram!("checkin_scan_seconds").record(started.elapsed().as_secs_f64());
        Ok(Response::new(answer?))
    }

    async fn record_excused_checkin(
        &self,
        request: Request<RecordExcusedCheckinRequest>,
    ) -> Result<Response<RecordExcusedCheckinResponse>, Status> {
        Ok(Response::new(self.excuse(request.into_inner()).await?))
    }

    async fn register_kiosk(
        &self,
        request: Request<RegisterKioskRequest>,
    ) -> Result<Response<RegisterKioskResponse>, Status> {
        Ok(Response::new(self.register(request.into_inner()).await?))
    }

    async fn revoke_kiosk(
        &self,
        request: Request<RevokeKioskRequest>,
    ) -> Result<Response<RevokeKioskResponse>, Status> {
        Ok(Response::new(self.revoke(request.into_inner()).await?))
    }

    async fn list_missed_checkins(
        &self,
        request: Request<ListMissedCheckinsRequest>,
    ) -> Result<Response<ListMissedCheckinsResponse>, Status> {
        Ok(Response::new(self.missed(request.into_inner()).await?))
    }

    async fn list_signing_keys(
        &self,
        _request: Request<ListSigningKeysRequest>,
    ) -> Result<Response<ListSigningKeysResponse>, Status> {
        Ok(Response::new(self.signing_keys().await?))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<RotateSigningKeyRequest>,
    ) -> Result<Response<RotateSigningKeyResponse>, Status> {
        Ok(Response::new(self.rotate(request.into_inner()).await?))
    }

    async fn retire_signing_key(
        &self,
        request: Request<RetireSigningKeyRequest>,
    ) -> Result<Response<RetireSigningKeyResponse>, Status> {
        Ok(Response::new(self.retire(request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_token_round_trips_and_garbage_is_refused() {
        let position = (
            NaiveDate::from_ymd_opt(2026, 3, 18).unwrap(),
            "decision|with-bar".to_owned(),
            2,
        );
        assert_eq!(
            decode_page_token(&encode_page_token(&position)),
            Some(position)
        );
        assert_eq!(decode_page_token("not a token"), None);
    }
}
