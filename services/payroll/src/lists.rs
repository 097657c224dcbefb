//! Cutting pending entitlements into signed payment lists, and publishing them.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, NaiveDate, Utc};
use clock::SharedClock;
use contracts::{
    common::v1::{EventMeta, Officer},
    payroll::v1::{
        ApprovalAction, ApprovalStep, ListSignature, ListTotals, PaymentLine, PaymentListChunk,
    },
    topics,
};
use messaging::{OutboxEvent, enqueue_all};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    config::ListSettings,
    domain::{
        BenefitMonth, Candidate, CutSchedule, Destination, DestinationKey, DestinationKind, Dong,
        Line, ListKey, Totals, anomaly, list,
    },
    sealing::Sealer,
    secrets::{self, KeyError},
    store::{self, CandidateRow, ListRow, NewList, StepRow},
    wire,
};

/// Why a cut or a publication failed; nothing of it is committed.
#[derive(Debug, thiserror::Error)]
pub enum ListsError {
    /// The database refused or is unreachable.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The list's sum does not fit in 64 bits.
    #[error("list totals overflow")]
    Totals,
    /// No active policy key; a fault of ours, as the last one cannot be retired.
    #[error("no active policy signing key")]
    NoPolicyKey,
    /// A signing key could not be read.
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    /// A stored line no longer parses; a fault of ours.
    #[error("stored entitlement {entitlement_id} is invalid: {reason}")]
    Corrupt {
        /// The entitlement.
        entitlement_id: Uuid,
        /// What is wrong.
        reason: String,
    },
}

/// Who approved a list.
#[derive(Debug, Clone)]
pub enum Approval {
    /// No line was flagged.
    Policy,
    /// An officer released a held line.
    Officer {
        /// The officer.
        officer: Officer,
        /// Why it is safe to pay.
        reason: String,
    },
}

/// Everything needed to build and publish lists; the signing key is read per cut or
/// approval, as keys rotate.
#[derive(Clone)]
pub struct Publisher {
    /// Opens the sealed numbers the lines carry to the bank.
    pub sealer: Arc<Sealer>,
    /// Largest encoded chunk.
    pub max_chunk_bytes: usize,
}

/// A line to put in a list, as stored.
#[derive(Debug, Clone)]
pub struct LineSource {
    /// Entitlement id.
    pub entitlement_id: Uuid,
    /// Decision.
    pub decision_id: String,
    /// Benefit month.
    pub benefit_month: i32,
    /// Amount.
    pub amount_dong: i64,
    /// Deadline.
    pub payment_by: NaiveDate,
    /// Bank id.
    pub bank_id: String,
    /// Kind code.
    pub destination_kind: i16,
    /// Number, sealed.
    pub destination_sealed: Vec<u8>,
    /// Holder.
    pub holder_name: String,
    /// When the check-in that earned it was scanned.
    pub checked_in_at: DateTime<Utc>,
    /// The check-in's W3C traceparent, which the payment's trace continues.
    pub traceparent: String,
}

impl LineSource {
    fn to_line(&self, sealer: &Sealer) -> Result<Line, ListsError> {
        let corrupt = |reason: String| ListsError::Corrupt {
            entitlement_id: self.entitlement_id,
            reason,
        };
        let number = sealer
            .open_number(&self.destination_sealed)
            .map_err(|error| corrupt(error.to_string()))?;
        let kind = DestinationKind::from_code(i32::from(self.destination_kind))
            .map_err(|error| corrupt(error.to_string()))?;
        Ok(Line {
            entitlement_id: self.entitlement_id,
            decision_id: self.decision_id.clone(),
            benefit_month: u32::try_from(self.benefit_month)
                .ok()
                .and_then(|n| BenefitMonth::new(n).ok())
                .ok_or_else(|| corrupt("benefit month".into()))?,
            amount: Dong::new(self.amount_dong).map_err(|error| corrupt(error.to_string()))?,
            payment_by: self.payment_by,
            destination: Destination::new(&self.bank_id, kind, &number, &self.holder_name)
                .map_err(|error| corrupt(error.to_string()))?,
        })
    }
}

impl From<&CandidateRow> for LineSource {
    fn from(row: &CandidateRow) -> Self {
        Self {
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
        }
    }
}

fn step(
    action: ApprovalAction,
    at: DateTime<Utc>,
    officer: Option<&Officer>,
    note: String,
) -> StepRow {
    StepRow {
        action: i16::try_from(action as i32).unwrap_or_default(),
        at,
        officer_id: officer.map(|officer| officer.officer_id.clone()),
        officer_agency: officer.map(|officer| i16::try_from(officer.agency).unwrap_or_default()),
        note,
    }
}

/// The trail step as published.
pub fn step_to(row: &StepRow) -> ApprovalStep {
    ApprovalStep {
        action: i32::from(row.action),
        at: Some(wire::timestamp_to(row.at)),
        officer: row.officer_id.as_ref().map(|officer_id| Officer {
            officer_id: officer_id.clone(),
            agency: i32::from(row.officer_agency.unwrap_or_default()),
        }),
        note: row.note.clone(),
    }
}

/// A list built and signed, with its chunks, ready to be written.
pub struct SignedList {
    list: NewList,
    chunks: Vec<OutboxEvent>,
    totals: Totals,
}

impl SignedList {
    /// The list's id.
    pub fn list_id(&self) -> Uuid {
        self.list.row.list_id
    }
}

impl Publisher {
    /// Builds one list of `sources` (in order) and signs it with `key`: the policy key for a
    /// policy approval, the approving officer's key otherwise.
    pub fn sign(
        &self,
        now: DateTime<Utc>,
        province: &str,
        sources: &[LineSource],
        approval: &Approval,
        key: &ListKey,
    ) -> Result<SignedList, ListsError> {
        let list_id = Uuid::new_v4();
        let lines = sources
            .iter()
            .map(|source| source.to_line(&self.sealer))
            .collect::<Result<Vec<_>, _>>()?;
        let totals = list::totals(&lines).map_err(|_| ListsError::Totals)?;
        let hash = list::content_hash(list_id, province, &totals, &lines);
        let signature = key.sign(&hash);
        let signed_by = match approval {
            Approval::Policy => None,
            Approval::Officer { officer, .. } => Some(officer),
        };

        let mut trail = vec![step(
            ApprovalAction::Cut,
            now,
            None,
            format!("{} lines", totals.line_count),
        )];
        match approval {
            Approval::Policy => trail.push(step(
                ApprovalAction::ApprovedByPolicy,
                now,
                None,
                "no line flagged".into(),
            )),
            Approval::Officer { officer, reason } => trail.push(step(
                ApprovalAction::ApprovedByOfficer,
                now,
                Some(officer),
                reason.clone(),
            )),
        }
        trail.push(match signed_by {
            None => step(
                ApprovalAction::Signed,
                now,
                None,
                format!("policy key {}", signature.key_id),
            ),
            Some(officer) => step(
                ApprovalAction::Signed,
                now,
                Some(officer),
                format!("officer key {}", signature.key_id),
            ),
        });

        // The trace and the check-in time ride along each line; the content hash leaves them
        // out, as they say how the payment came about, not what is paid.
        let published: Vec<_> = lines
            .iter()
            .zip(sources)
            .map(|(line, source)| PaymentLine {
                traceparent: source.traceparent.clone(),
                checked_in_at: Some(wire::timestamp_to(source.checked_in_at)),
                ..wire::line_to(line)
            })
            .collect();
        let chunks = wire::chunk_lines(published, self.max_chunk_bytes);
        let chunk_count = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        let approval_trail: Vec<ApprovalStep> = trail.iter().map(step_to).collect();
        let key = list_id.to_string();
        let mut events = Vec::with_capacity(chunks.len());
        for (index, lines) in chunks.into_iter().enumerate() {
            let event_id = Uuid::new_v4();
            let chunk = PaymentListChunk {
                meta: Some(EventMeta {
                    event_id: event_id.to_string(),
                    occurred_at: Some(wire::timestamp_to(now)),
                    subject_id: key.clone(),
                    schema_version: 1,
                    producer: crate::SERVICE.into(),
                }),
                list_id: key.clone(),
                province: province.to_owned(),
                chunk_index: u32::try_from(index).unwrap_or(u32::MAX),
                chunk_count,
                totals: Some(ListTotals {
                    line_count: totals.line_count,
                    sum_dong: totals.sum.as_i64(),
                }),
                content_hash: hash.as_bytes().to_vec(),
                signature: Some(ListSignature {
                    key_id: signature.key_id.clone(),
                    signature: signature.bytes.to_vec(),
                    signed_by: signed_by.cloned(),
                }),
                approval_trail: approval_trail.clone(),
                created_at: Some(wire::timestamp_to(now)),
                lines,
            };
            events.push(OutboxEvent::new(
                event_id,
                topics::PAYMENT_LISTS,
                &key,
                &chunk,
            ));
        }

        let row = ListRow {
            list_id,
            province: province.to_owned(),
            line_count: i64::try_from(totals.line_count).unwrap_or(i64::MAX),
            sum_dong: totals.sum.as_i64(),
            content_hash: hash.as_bytes().to_vec(),
            key_id: signature.key_id.clone(),
            signature: signature.bytes.to_vec(),
            chunk_count: i32::try_from(chunk_count).unwrap_or(i32::MAX),
            created_at: now,
            signed_by_officer_id: signed_by.map(|officer| officer.officer_id.clone()),
            signed_by_agency: signed_by
                .map(|officer| i16::try_from(officer.agency).unwrap_or_default()),
            refused_at: None,
        };
        Ok(SignedList {
            list: NewList {
                row,
                trail,
                entitlement_ids: lines.iter().map(|line| line.entitlement_id).collect(),
            },
            chunks: events,
            totals,
        })
    }
}

/// Writes signed lists in the caller's transaction, with their chunks in the outbox, in a
/// fixed number of statements however many lists there are.
pub async fn write(conn: &mut PgConnection, signed: Vec<SignedList>) -> Result<(), ListsError> {
    if signed.is_empty() {
        return Ok(());
    }
    let count = signed.len();
    let mut lists = Vec::with_capacity(count);
    let mut chunks = Vec::new();
    let mut published = Vec::with_capacity(count);
    for list in signed {
        published.push((list.list.row.clone(), list.totals, list.chunks.len()));
        lists.push(list.list);
        chunks.extend(list.chunks);
    }
    store::insert_lists(conn, &lists).await?;
    enqueue_all(conn, &chunks).await?;
    metrics::counter!("payroll_lists_published_total").increment(count as u64);
    for (row, totals, chunks) in published {
        tracing::info!(
            list_id = %row.list_id,
            province = %row.province,
            lines = totals.line_count,
            sum_dong = totals.sum.as_i64(),
            chunks,
            key_id = %row.key_id,
            "payment list signed and published"
        );
    }
    Ok(())
}

/// What one cut did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutSummary {
    /// Entitlements taken.
    pub taken: usize,
    /// Lists published.
    pub lists: usize,
    /// Lines held for an officer.
    pub held: usize,
}

/// Cuts up to `max_lines` pending entitlements: flagged ones are held, the others are listed
/// per province, approved by policy, signed and published, all in one transaction.
pub async fn cut_once(
    pool: &PgPool,
    now: DateTime<Utc>,
    publisher: &Publisher,
    max_lines: i64,
) -> Result<CutSummary, ListsError> {
    let mut tx = pool.begin().await?;
    let rows = store::lock_pending(&mut tx, max_lines).await?;
    if rows.is_empty() {
        return Ok(CutSummary::default());
    }

    let digests: Vec<Vec<u8>> = rows.iter().map(|r| r.destination_digest.clone()).collect();
    let months: Vec<NaiveDate> = rows.iter().map(|r| r.earned_month).collect();
    let payees = store::month_payees(&mut tx, &digests, &months).await?;
    let mut by_month: HashMap<NaiveDate, Vec<(DestinationKey, String)>> = HashMap::new();
    for (bank_id, number_digest, person, month) in payees {
        by_month.entry(month).or_default().push((
            DestinationKey {
                bank_id,
                number_digest,
            },
            person,
        ));
    }
    let people: HashMap<NaiveDate, HashMap<DestinationKey, usize>> = by_month
        .iter()
        .map(|(month, pairs)| {
            let counts = anomaly::people_per_destination(
                pairs.iter().map(|(key, person)| (key, person.as_str())),
            );
            (*month, counts)
        })
        .collect();

    let mut summary = CutSummary {
        taken: rows.len(),
        ..CutSummary::default()
    };
    let mut approved: BTreeMap<String, Vec<LineSource>> = BTreeMap::new();
    for row in &rows {
        let destination = DestinationKey {
            bank_id: row.bank_id.clone(),
            number_digest: row.destination_digest.clone(),
        };
        let candidate = Candidate {
            amount: Dong::new(row.amount_dong).unwrap_or_default(),
            decision_amount: Dong::new(row.decision_amount).unwrap_or_default(),
            previous_destination: match (&row.previous_bank_id, &row.previous_digest) {
                (Some(bank_id), Some(number_digest)) => Some(DestinationKey {
                    bank_id: bank_id.clone(),
                    number_digest: number_digest.clone(),
                }),
                _ => None,
            },
            terminated_after_checkin: row.terminated_after_checkin,
            destination: destination.clone(),
        };
        let sharing = people
            .get(&row.earned_month)
            .and_then(|counts| counts.get(&destination))
            .copied()
            .unwrap_or(1);
        let holds = anomaly::assess(&candidate, sharing);
        if holds.is_held() {
            let codes: Vec<i16> = holds.reasons.iter().map(|reason| reason.code()).collect();
            store::hold(&mut tx, row.entitlement_id, &codes, &holds.explanation, now).await?;
            tracing::warn!(
                entitlement_id = %row.entitlement_id,
                reasons = ?holds.reasons,
                "payment line held for review"
            );
            summary.held += 1;
            continue;
        }
        approved
            .entry(row.province.clone())
            .or_default()
            .push(LineSource::from(row));
    }
    if !approved.is_empty() {
        let key = secrets::active_key(&mut tx, &publisher.sealer, None)
            .await?
            .ok_or(ListsError::NoPolicyKey)?;
        let mut signed = Vec::with_capacity(approved.len());
        for (province, sources) in &approved {
            signed.push(publisher.sign(now, province, sources, &Approval::Policy, &key)?);
        }
        summary.lists = signed.len();
        write(&mut tx, signed).await?;
    }
    tx.commit().await?;
    metrics::counter!("payroll_lines_held_total").increment(summary.held as u64);
    Ok(summary)
}

/// True when `max_lines` entitlements wait; a database error counts as not full, and the
/// timer cut reports it.
async fn backlog_full(pool: &PgPool, max_lines: i64) -> bool {
    let Ok(mut conn) = pool.acquire().await else {
        return false;
    };
    store::pending_count(&mut conn, max_lines)
        .await
        .is_ok_and(|waiting| waiting >= max_lines)
}

/// The list cutter as a worker: cuts on `schedule` (read on the service's clock), at once
/// when `max_lines` entitlements wait under an interval schedule, and again straight away
/// while full batches come back.
pub fn cutter(
    pool: PgPool,
    clock: SharedClock,
    publisher: Publisher,
    schedule: CutSchedule,
    settings: &ListSettings,
) -> serving::Worker {
    let poll = Duration::from_millis(settings.poll_interval_ms);
    let max_lines = settings.max_lines;
    serving::worker(move |stop: CancellationToken| async move {
        let mut last_cut = clock.now();
        let mut backlog = false;
        loop {
            if !backlog {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = stop.cancelled() => return,
                }
            } else if stop.is_cancelled() {
                return;
            }
            let now = clock.now();
            // A clock set back (an operator's correction, a test moving the date) would
            // otherwise wait until it passes the last cut again: count from now instead.
            if now < last_cut {
                last_cut = now;
            }
            let due = backlog || schedule.is_due(last_cut, now);
            let full = !due && schedule.cuts_on_size() && backlog_full(&pool, max_lines).await;
            if !due && !full {
                continue;
            }
            match cut_once(&pool, now, &publisher, max_lines).await {
                Ok(summary) => {
                    last_cut = now;
                    backlog = i64::try_from(summary.taken).unwrap_or(i64::MAX) >= max_lines;
                }
                Err(error) => {
                    backlog = false;
                    tracing::warn!(%error, "payment list cut failed; retrying on the next tick");
                }
            }
        }
    })
}
