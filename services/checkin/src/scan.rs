//! Kiosk scans, answered in groups. Each call checks its credential and its token's format on
//! its own (pure and cheap), then joins the scans in flight: one task takes whatever has queued
//! up, reads the context of all of them in one statement, verifies at once the signatures the
//! store does not vouch for, judges each scan with the domain rules, and records every
//! check-in that counts, each with its event, in one more statement. A scan never waits for
//! company: when nothing else is queued it is a batch of one.
//!
//! The answers are the ones the scans would get one after another in arrival order: of two
//! scans of the same month in one batch the first records it and the second is a repeat.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contracts::checkin::v1::{InvalidReason, ScanOutcome, ScanResponse, WindowPosition};
use serving::ApiError;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};
use tracing::Span;
use uuid::Uuid;

use crate::announce::{self, NewCheckin, Source, window_to_proto};
use crate::convert::{date_to_proto, timestamp};
use crate::domain::answer::{self, ScreenText, Verdict};
use crate::domain::ids::DecisionId;
use crate::domain::token::{self, NoticePayload, Sealed, TokenRefusal};
use crate::domain::window::{CheckinWindow, Placement, payment_by, vietnam_date};
use crate::store::{
    self, CheckinRecord, IssuedNotice, NoticeKey, Recorded, ScanCheckin, ScanContext, ScanLookup,
    Settlement, StoreError,
};

/// Most scans one batch takes; the rest wait for the next, which starts as this one ends.
const MAX_BATCH: usize = 256;

/// Scans queued at most; a call beyond that waits for room, which holds kiosks back rather
/// than letting the queue grow without end.
const QUEUE: usize = 4_096;

/// How long the batch loop keeps its connection once scans stop coming.
const HOLD_WHILE_IDLE: Duration = Duration::from_secs(1);

/// How long the batch loop keeps one connection at most, so that under steady load the pool
/// still gets it back now and then to test it and retire it past its lifetime.
const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// The batch loop's connection, and since when it has held it.
type Held = (PoolConnection<Postgres>, Instant);

/// What the scanned text is, before anything is read.
pub enum Scanned {
    /// A short code typed by an officer; only the stored notice can vouch for it.
    Code(String),
    /// A token in the right format under a key in use; its signature is verified with the
    /// rest of its batch.
    Sealed(Box<Sealed>),
    /// Refused offline.
    Refused(TokenRefusal),
}

/// What the scanned text proved once its batch's signatures were verified.
enum Presented {
    /// A short code typed by an officer.
    Code,
    /// A token whose signature verified, or the very token its notice was issued with.
    Signed(NoticePayload),
    /// Refused.
    Refused(TokenRefusal),
}

impl From<Result<NoticePayload, TokenRefusal>> for Presented {
    fn from(token: Result<NoticePayload, TokenRefusal>) -> Self {
        match token {
            Ok(payload) => Self::Signed(payload),
            Err(refusal) => Self::Refused(refusal),
        }
    }
}

/// A scan checked offline, ready to be answered.
pub struct Scan {
    /// Hash of the credential the kiosk presented.
    pub credential_hash: Vec<u8>,
    /// The kiosk id the request claims, if any; it must be the credential's kiosk.
    pub claimed_kiosk: String,
    /// What was scanned.
    pub scanned: Scanned,
    /// When it was scanned.
    pub now: DateTime<Utc>,
}

impl Scan {
    fn lookup(&self) -> ScanLookup<'_> {
        let notice = match &self.scanned {
            Scanned::Code(code) => NoticeKey::ShortCode(code),
            Scanned::Sealed(token) => NoticeKey::Token {
                notice_id: token.claimed_notice(),
                text: token.text(),
            },
            Scanned::Refused(_) => NoticeKey::Nothing,
        };
        ScanLookup {
            credential_hash: &self.credential_hash,
            notice,
        }
    }
}

/// Where a scan happened, for the scan metrics: the kiosk's centre and province.
pub struct Site {
    /// Job centre of the kiosk.
    pub centre: String,
    /// Province of that centre.
    pub province: String,
}

/// A scan's answer, and where it happened once the kiosk is known.
pub struct Answered {
    /// The authenticated kiosk's site.
    pub site: Option<Site>,
    /// The answer.
    pub answer: Result<ScanResponse, ApiError>,
}

impl Answered {
    fn failed(error: ApiError) -> Self {
        Self {
            site: None,
            answer: Err(error),
        }
    }
}

/// A scan waiting for its batch, with the span of its call and where its answer goes.
struct Pending {
    scan: Scan,
    span: Span,
    reply: oneshot::Sender<Answered>,
}

/// The queue of scans in flight and the task answering them in batches.
pub struct Scans {
    queue: mpsc::Sender<Pending>,
}

impl Scans {
    /// Starts the task answering scans over `pool`; it ends once this handle is dropped and
    /// the scans queued are answered.
    pub fn start(pool: PgPool) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(answer_batches(pool, waiting));
        Self { queue }
    }

    /// Answers `scan` with the batch it joins; the caller's span stays the scan's span, and
    /// its event continues that span's trace.
    pub async fn answer(&self, scan: Scan) -> Answered {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            scan,
            span: Span::current(),
            reply,
        };
        if self.queue.send(pending).await.is_err() {
            return Answered::failed(stopped());
        }
        answer.await.unwrap_or_else(|_| Answered::failed(stopped()))
    }
}

fn stopped() -> ApiError {
    ApiError::Unavailable("the scan queue has stopped".into())
}

async fn answer_batches(pool: PgPool, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The connection stays with the loop while scans keep coming: handing it back to the pool
    // after every batch costs a round trip (the pool tests it on return) and wakes another
    // server process for the next. It goes back once scans pause, after a failure, or after
    // [`HOLD_AT_MOST`]; the pool's test then decides whether it is kept.
    let mut held: Option<Held> = None;
    while next_batch(&mut waiting, &mut batch, &mut held).await > 0 {
        metrics::histogram!("checkin_scan_batch_size").record(batch.len() as f64);
        let batch = std::mem::take(&mut batch);
        let (mut conn, since) = match held.take() {
            Some(held) => held,
            None => match pool.acquire().await {
                Ok(conn) => (conn, Instant::now()),
                Err(error) => {
                    fail_all(batch, &error.into());
                    continue;
                }
            },
        };
        if answer_batch(&mut conn, batch).await.is_ok() && since.elapsed() < HOLD_AT_MOST {
            held = Some((conn, since));
        }
    }
}

/// Waits for the first scan, then takes whatever else is queued without waiting for more;
/// lets the held connection go if no scan comes for [`HOLD_WHILE_IDLE`]. 0 once the queue has
/// closed.
async fn next_batch(
    waiting: &mut mpsc::Receiver<Pending>,
    batch: &mut Vec<Pending>,
    held: &mut Option<Held>,
) -> usize {
    if held.is_some() {
        // `recv_many` is cancel safe: a timeout loses no scan.
        match tokio::time::timeout(HOLD_WHILE_IDLE, waiting.recv_many(batch, MAX_BATCH)).await {
            Ok(received) => return received,
            Err(_) => *held = None,
        }
    }
    waiting.recv_many(batch, MAX_BATCH).await
}

/// What a scan comes to once its context is read.
enum Step {
    /// Answered from the read alone.
    Answered(Result<ScanResponse, ApiError>),
    /// Counts for `window`'s month; answered from what recording it finds.
    Record {
        window: CheckinWindow,
        checkin: Box<ScanCheckin>,
    },
}

/// A scan judged, waiting for the batch's write.
struct Judged {
    span: Span,
    reply: oneshot::Sender<Answered>,
    site: Option<Site>,
    step: Step,
}

/// Answers one batch over `conn`; an error when the store failed for any of its scans.
async fn answer_batch(conn: &mut PgConnection, batch: Vec<Pending>) -> Result<(), StoreFailed> {
    let lookups: Vec<ScanLookup<'_>> = batch.iter().map(|pending| pending.scan.lookup()).collect();
    let contexts = store::scan_contexts(conn, &lookups).await;
    drop(lookups);
    let contexts = match contexts {
        Ok(contexts) => contexts,
        Err(error) => {
            fail_all(batch, &error.into());
            return Err(StoreFailed);
        }
    };
    let presented = verify_signatures(&batch, &contexts);
    let judged: Vec<Judged> = batch
        .into_iter()
        .zip(presented)
        .zip(contexts)
        .map(|((pending, presented), context)| {
            let Pending { scan, span, reply } = pending;
            // In the scan's span, so what judging logs and the event's trace are the scan's.
            let (site, step) = span.in_scope(|| judge(&scan, presented, context));
            Judged {
                span,
                reply,
                site,
                step,
            }
        })
        .collect();

    let claims = claim(judged.iter().map(|scan| match &scan.step {
        Step::Record { checkin, .. } => Some((checkin.decision_id.as_str(), checkin.benefit_month)),
        Step::Answered(_) => None,
    }));
    let writes: Vec<ScanCheckin> = judged
        .iter()
        .zip(&claims)
        .filter_map(|(scan, claim)| match (&scan.step, claim) {
            (Step::Record { checkin, .. }, Some(Claim::First(_))) => Some(checkin.as_ref().clone()),
            _ => None,
        })
        .collect();
    let recorded = record(conn, &writes).await;
    let failed = recorded.iter().any(Result::is_err);

    for (scan, claim) in judged.into_iter().zip(claims) {
        let Judged {
            span,
            reply,
            site,
            step,
        } = scan;
        let answer = match (step, claim) {
            (Step::Answered(answer), _) => answer,
            (Step::Record { window, checkin }, Some(claim)) => {
                let outcome = match claim {
                    Claim::First(write) => copy(&recorded[write]),
                    Claim::Repeat(write) => copy(&recorded[write]).map(Recorded::repeated),
                };
                if let Ok(Recorded::New(_)) = &outcome {
                    span.in_scope(|| {
                        tracing::info!(
                            decision_id = %checkin.decision_id,
                            benefit_month = checkin.benefit_month,
                            kiosk_id = %checkin.kiosk_id,
                            "check-in recorded"
                        );
                    });
                }
                outcome
                    .and_then(|outcome| scan_answer(&window, Some(outcome), &checkin.decision_id))
            }
            (Step::Record { .. }, None) => Err(ApiError::Internal(
                "a scan that counts was left out of its batch".into(),
            )),
        };
        // A caller that went away meanwhile needs no answer.
        let _ = reply.send(Answered { site, answer });
    }
    if failed { Err(StoreFailed) } else { Ok(()) }
}

/// The store failed for a batch: its connection goes back to the pool to be tested.
struct StoreFailed;

/// Records the batch's check-ins: what each found, in order. A failed write fails every one
/// of them and writes nothing; a failed read after it fails only the scans it was for.
async fn record(
    conn: &mut sqlx::PgConnection,
    writes: &[ScanCheckin],
) -> Vec<Result<Recorded, ApiError>> {
    let written = match store::record_scans(conn, writes).await {
        Ok(written) => written,
        Err(error) => {
            let error = ApiError::from(error);
            return writes.iter().map(|_| Err(copy_error(&error))).collect();
        }
    };
    let refused: Vec<(&str, u32)> = writes
        .iter()
        .zip(&written)
        .filter(|(_, written)| !**written)
        .map(|(write, _)| (write.decision_id.as_str(), write.benefit_month))
        .collect();
    let mut settled = if refused.is_empty() {
        Vec::new()
    } else {
        match store::settled_months(conn, &refused).await {
            Ok(settled) => settled
                .into_iter()
                .map(|found| found.map_err(ApiError::from))
                .collect(),
            Err(error) => {
                let error = ApiError::from(error);
                refused.iter().map(|_| Err(copy_error(&error))).collect()
            }
        }
    }
    .into_iter();
    writes
        .iter()
        .zip(written)
        .map(|(write, written)| {
            if written {
                return Ok(Recorded::New(CheckinRecord {
                    recorded_at: write.recorded_at,
                    payment_by: write.payment_by,
                }));
            }
            settled.next().unwrap_or_else(|| {
                Err(ApiError::Internal(format!(
                    "no settlement read for benefit month {} of decision {}",
                    write.benefit_month, write.decision_id
                )))
            })
        })
        .collect()
}

fn fail_all(batch: Vec<Pending>, error: &ApiError) {
    for pending in batch {
        let _ = pending.reply.send(Answered::failed(copy_error(error)));
    }
}

/// The batch's failure for each of its scans; the store fails only as unavailable or internal.
fn copy_error(error: &ApiError) -> ApiError {
    match error {
        ApiError::Unavailable(reason) => ApiError::Unavailable(reason.clone()),
        ApiError::Internal(cause) => ApiError::Internal(cause.clone()),
        other => ApiError::Internal(other.to_string()),
    }
}

fn copy(outcome: &Result<Recorded, ApiError>) -> Result<Recorded, ApiError> {
    match outcome {
        Ok(recorded) => Ok(recorded.clone()),
        Err(error) => Err(copy_error(error)),
    }
}

/// Which scan of a batch writes a month's check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// The first scan counting for its month: it writes the check-in numbered here.
    First(usize),
    /// A later scan of a month an earlier one in the batch writes; it answers from that write.
    Repeat(usize),
}

/// Claims each month (decision, benefit month) for the first scan counting for it, so the
/// batch writes each month once; `None` for a scan that counts for nothing.
fn claim<'a>(months: impl Iterator<Item = Option<(&'a str, u32)>>) -> Vec<Option<Claim>> {
    let mut first: HashMap<(&str, u32), usize> = HashMap::new();
    months
        .map(|month| {
            let month = month?;
            if let Some(&write) = first.get(&month) {
                return Some(Claim::Repeat(write));
            }
            let write = first.len();
            first.insert(month, write);
            Some(Claim::First(write))
        })
        .collect()
}

/// What each scan of a batch proved. A token that is, character for character, the one its
/// notice was issued with is vouched for by the store: this service signed it. Every other
/// token's signature is verified, all of them at once.
fn verify_signatures(
    batch: &[Pending],
    contexts: &[Result<Option<ScanContext>, StoreError>],
) -> Vec<Presented> {
    let unvouched: Vec<(&Sealed, DateTime<Utc>)> = batch
        .iter()
        .zip(contexts)
        .filter_map(|(pending, context)| match &pending.scan.scanned {
            Scanned::Sealed(token) if !vouched_for(context) => {
                Some((token.as_ref(), pending.scan.now))
            }
            Scanned::Sealed(_) | Scanned::Code(_) | Scanned::Refused(_) => None,
        })
        .collect();
    metrics::counter!("checkin_signatures_verified_total").increment(unvouched.len() as u64);
    let mut verified = token::verify_all(&unvouched).into_iter();
    batch
        .iter()
        .zip(contexts)
        .map(|(pending, context)| match &pending.scan.scanned {
            Scanned::Code(_) => Presented::Code,
            Scanned::Refused(refusal) => Presented::Refused(*refusal),
            Scanned::Sealed(token) if vouched_for(context) => {
                Presented::from(token.vouched(pending.scan.now))
            }
            // verify_all answers each token it is given, in order.
            Scanned::Sealed(_) => {
                Presented::from(verified.next().unwrap_or(Err(TokenRefusal::BadSignature)))
            }
        })
        .collect()
}

/// Whether the store vouches for the scanned token: it is the one the notice was issued with.
fn vouched_for(context: &Result<Option<ScanContext>, StoreError>) -> bool {
    matches!(context, Ok(Some(ScanContext { notice: Some(notice), .. })) if notice.scanned_as_issued)
}

/// Judges one scan on its context: who scanned, which notice, and what the decision allows
/// on the day; a scan that counts comes back with its check-in and event, in the current
/// span's trace.
fn judge(
    scan: &Scan,
    presented: Presented,
    context: Result<Option<ScanContext>, StoreError>,
) -> (Option<Site>, Step) {
    let refused = || ApiError::Unauthenticated("kiosk credential refused".into());
    let context = match context {
        Ok(Some(context)) => context,
        Ok(None) => return (None, Step::Answered(Err(refused()))),
        Err(error) => return (None, Step::Answered(Err(error.into()))),
    };
    let kiosk = context.kiosk;
    if kiosk.revoked_at.is_some() {
        tracing::warn!(kiosk_id = %kiosk.kiosk_id, "revoked kiosk refused");
        return (None, Step::Answered(Err(refused())));
    }
    if !scan.claimed_kiosk.is_empty() && scan.claimed_kiosk != kiosk.kiosk_id.to_string() {
        return (
            None,
            Step::Answered(Err(ApiError::Unauthenticated(
                "kiosk_id does not match the credential".into(),
            ))),
        );
    }
    let site = Some(Site {
        centre: kiosk.centre_id.clone(),
        province: kiosk.province.clone(),
    });
    let step = match identify(presented, context.notice, scan.now) {
        Ok(notice) => counts_for(&kiosk, notice, scan.now),
        Err(refusal) => Step::Answered(Ok(invalid(refusal))),
    };
    (site, step)
}

/// What a valid notice scanned at `now` comes to: an answer from the stored months, or the
/// check-in to record.
fn counts_for(kiosk: &store::Kiosk, notice: IssuedNotice, now: DateTime<Utc>) -> Step {
    let view = &notice.view;
    let decision_id = notice.decision_id.as_str();
    let placement = view.schedule.locate(vietnam_date(now));
    // A late repeat of a month already recorded gets the same answer as the first scan.
    if let Placement::TooLate(window) = placement
        && let Some(stored) = view.month(window.month())
        && stored.checked_in()
    {
        return Step::Answered(
            stored
                .settled()
                .map_err(ApiError::from)
                .and_then(|settled| scan_answer(&window, settled, decision_id)),
        );
    }
    let verdict = answer::judge(view.standing, placement, |month| {
        view.month(month).is_some_and(|stored| stored.suspended)
    });
    let window = match verdict {
        Verdict::CountsFor(window) => window,
        Verdict::Outside(placement) => return Step::Answered(Ok(outside(placement))),
        Verdict::MonthSuspended(window) => return Step::Answered(Ok(suspended(&window))),
        Verdict::Terminated(reason) => return Step::Answered(Ok(terminated(reason))),
    };
    // A month settled before this scan's read stays settled: answer from the read.
    let settled = match view.month(window.month()) {
        Some(stored) => stored.settled(),
        None => Ok(Some(Recorded::NoSuchMonth)),
    };
    match settled {
        Err(error) => return Step::Answered(Err(error.into())),
        Ok(Some(settled)) => {
            return Step::Answered(scan_answer(&window, Some(settled), decision_id));
        }
        Ok(None) => {}
    }
    let new = NewCheckin {
        decision_id: decision_id.to_owned(),
        benefit_month: window.month().number(),
        recorded_at: now,
        payment_by: payment_by(&window),
        centre_id: kiosk.centre_id.clone(),
        province: kiosk.province.clone(),
        source: Source::Scan {
            notice_id: notice.notice_id,
            kiosk_id: kiosk.kiosk_id,
        },
    };
    let event = announce::recorded(Uuid::now_v7(), &new);
    let (traceparent, tracestate) = event.trace_context();
    let checkin = ScanCheckin {
        decision_id: new.decision_id,
        benefit_month: new.benefit_month,
        recorded_at: new.recorded_at,
        payment_by: new.payment_by,
        centre_id: new.centre_id,
        province: new.province,
        notice_id: notice.notice_id,
        kiosk_id: kiosk.kiosk_id,
        event,
        traceparent,
        tracestate,
    };
    Step::Record {
        window,
        checkin: Box::new(checkin),
    }
}

/// The notice a scan names, checked against the notice stored under its id or short code.
fn identify(
    presented: Presented,
    stored: Option<IssuedNotice>,
    now: DateTime<Utc>,
) -> Result<IssuedNotice, TokenRefusal> {
    match presented {
        Presented::Refused(refusal) => Err(refusal),
        Presented::Code => {
            let notice = stored.ok_or(TokenRefusal::UnknownNotice)?;
            if now >= notice.expires_at {
                return Err(TokenRefusal::Expired);
            }
            Ok(notice)
        }
        Presented::Signed(payload) => {
            let issued_for = stored
                .as_ref()
                .and_then(|notice| DecisionId::parse(&notice.decision_id).ok());
            if let Err(refusal) = token::check_issued(&payload, issued_for.as_ref()) {
                tracing::warn!(notice_id = %payload.notice_id, ?refusal, "signed notice refused");
                return Err(refusal);
            }
            stored.ok_or(TokenRefusal::UnknownNotice)
        }
    }
}

/// The answer to a scan counting for `window`'s month, from what recording it found or did.
fn scan_answer(
    window: &CheckinWindow,
    recorded: Option<Recorded>,
    decision_id: &str,
) -> Result<ScanResponse, ApiError> {
    match recorded {
        Some(Recorded::New(record)) => Ok(accepted(window, record)),
        Some(Recorded::Existing(record)) => Ok(already_recorded(window, record)),
        Some(Recorded::Settled(Settlement::Missed)) => Ok(outside(Placement::TooLate(*window))),
        Some(Recorded::Settled(_)) => Ok(terminated(0)),
        Some(Recorded::NoSuchMonth) | None => Err(ApiError::Internal(format!(
            "decision {decision_id} lost benefit month {}",
            window.month().number()
        ))),
    }
}

fn with_text(mut response: ScanResponse, text: ScreenText) -> ScanResponse {
    response.message_vi = text.vi;
    response.message_en = text.en;
    response
}

fn invalid(refusal: TokenRefusal) -> ScanResponse {
    let reason = match refusal {
        TokenRefusal::BadFormat => InvalidReason::BadFormat,
        TokenRefusal::BadSignature => InvalidReason::BadSignature,
        TokenRefusal::UnknownKey => InvalidReason::UnknownKey,
        TokenRefusal::RetiredKey => InvalidReason::RetiredKey,
        TokenRefusal::Expired => InvalidReason::Expired,
        TokenRefusal::OtherDecision => InvalidReason::OtherDecision,
        TokenRefusal::UnknownNotice => InvalidReason::UnknownNotice,
    };
    let response = ScanResponse {
        outcome: ScanOutcome::Invalid as i32,
        invalid_reason: reason as i32,
        ..ScanResponse::default()
    };
    with_text(response, answer::invalid_text(refusal))
}

fn recorded_response(
    outcome: ScanOutcome,
    window: &CheckinWindow,
    record: CheckinRecord,
    text: ScreenText,
) -> ScanResponse {
    let response = ScanResponse {
        outcome: outcome as i32,
        benefit_month: window.month().number(),
        payment_by: Some(date_to_proto(record.payment_by)),
        window: Some(window_to_proto(window)),
        recorded_at: Some(timestamp(record.recorded_at)),
        ..ScanResponse::default()
    };
    with_text(response, text)
}

fn accepted(window: &CheckinWindow, record: CheckinRecord) -> ScanResponse {
    let text = answer::accepted_text(window.month(), record.payment_by);
    recorded_response(ScanOutcome::Accepted, window, record, text)
}

fn already_recorded(window: &CheckinWindow, record: CheckinRecord) -> ScanResponse {
    let text = answer::already_recorded_text(window.month(), record.payment_by);
    recorded_response(ScanOutcome::AlreadyRecorded, window, record, text)
}

fn outside(placement: Placement) -> ScanResponse {
    let (window, position) = match placement {
        Placement::TooEarly(window) | Placement::Inside(window) => {
            (window, WindowPosition::TooEarly)
        }
        Placement::TooLate(window) => (window, WindowPosition::TooLate),
    };
    let response = ScanResponse {
        outcome: ScanOutcome::OutsideWindow as i32,
        benefit_month: window.month().number(),
        window: Some(window_to_proto(&window)),
        window_position: position as i32,
        ..ScanResponse::default()
    };
    with_text(response, answer::outside_text(placement))
}

fn suspended(window: &CheckinWindow) -> ScanResponse {
    let response = ScanResponse {
        outcome: ScanOutcome::DecisionSuspended as i32,
        benefit_month: window.month().number(),
        window: Some(window_to_proto(window)),
        ..ScanResponse::default()
    };
    with_text(response, answer::suspended_text(window.month()))
}

fn terminated(reason: i32) -> ScanResponse {
    let response = ScanResponse {
        outcome: ScanOutcome::DecisionTerminated as i32,
        termination_reason: reason,
        ..ScanResponse::default()
    };
    with_text(response, answer::terminated_text())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_first_scan_of_a_month_in_a_batch_writes_it_and_later_ones_repeat_it() {
        let months = [
            Some(("decision-1", 1)),
            None,
            Some(("decision-2", 1)),
            Some(("decision-1", 1)),
            Some(("decision-1", 2)),
            Some(("decision-2", 1)),
        ];

        let claims = claim(months.into_iter());

        assert_eq!(
            claims,
            vec![
                Some(Claim::First(0)),
                None,
                Some(Claim::First(1)),
                Some(Claim::Repeat(0)),
                Some(Claim::First(2)),
                Some(Claim::Repeat(1)),
            ]
        );
    }

    #[test]
    fn a_repeat_of_a_month_recorded_in_its_batch_finds_that_check_in() {
        let record = CheckinRecord {
            recorded_at: Utc.with_ymd_and_hms(2026, 3, 16, 3, 0, 0).unwrap(),
            payment_by: chrono::NaiveDate::from_ymd_opt(2026, 3, 27).unwrap(),
        };

        assert_eq!(Recorded::New(record).repeated(), Recorded::Existing(record));
        assert_eq!(
            Recorded::Settled(Settlement::Missed).repeated(),
            Recorded::Settled(Settlement::Missed)
        );
    }
}
