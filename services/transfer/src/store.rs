//! Transfer's tables. Every state change and the event announcing it are written in the
//! caller's transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use contracts::payroll::v1::PaymentListChunk;
use contracts::topics;
use messaging::{OutboxEvent, enqueue, enqueue_all};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::bank::{Destination, DestinationKind};
use crate::domain::end_to_end::{Attempt, EndToEndId};
use crate::domain::list::{Refusal, RefusalReason, VerifiedList};
use crate::domain::result::PaymentState;
use crate::domain::termination;
use crate::policy::{self, AttemptFacts, Policy};
use vault::{Vault, VaultError};

/// Why a stored row could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored value no longer parses; a bug or a manual edit.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A number could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Where a list stands after one more chunk.
#[derive(Debug)]
pub enum ChunkProgress {
    /// The list was accepted or refused before; the chunk changes nothing.
    AlreadyDecided,
    /// More chunks are needed.
    Waiting,
    /// Every chunk is here, in any order.
    Complete(Vec<PaymentListChunk>),
    /// The chunk contradicts the chunks before it.
    Contradicts(String),
}

/// Stores one chunk and reports whether its list is complete.
///
/// A list in one chunk is complete as it arrives and is decided in the same transaction, so
/// its chunk is never stored: in a month most lists are that small, and storing, counting,
/// reading back and deleting the chunk would be four statements per list for nothing.
pub async fn record_chunk(
    tx: &mut PgConnection,
    chunk: PaymentListChunk,
    now: DateTime<Utc>,
) -> Result<ChunkProgress, StoreError> {
    let chunk_count = i32::try_from(chunk.chunk_count)
        .map_err(|_| StoreError::Corrupt("chunk count out of range".into()))?;
    // The row lock orders the chunks of one list, whichever consumer holds them: the insert
    // holds it for a list seen here first, the select takes it for a list seen before.
    let created: Option<String> = sqlx::query_scalar(
        "INSERT INTO payment_lists (list_id, province, chunk_count, state, first_chunk_at) \
         VALUES ($1, $2, $3, 'receiving', $4) ON CONFLICT DO NOTHING RETURNING state",
    )
    .bind(&chunk.list_id)
    .bind(&chunk.province)
    .bind(chunk_count)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let (state, expected): (String, i32) = match created {
        Some(state) => (state, chunk_count),
        None => {
            sqlx::query_as(
                "SELECT state, chunk_count FROM payment_lists WHERE list_id = $1 FOR UPDATE",
            )
            .bind(&chunk.list_id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    if state != "receiving" {
        return Ok(ChunkProgress::AlreadyDecided);
    }
    if expected != chunk_count {
        return Ok(ChunkProgress::Contradicts(format!(
            "chunk {} announces {} chunks, an earlier one {expected}",
            chunk.chunk_index, chunk.chunk_count
        )));
    }
    if expected == 1 {
        return Ok(ChunkProgress::Complete(vec![chunk]));
    }
    let index = i32::try_from(chunk.chunk_index)
        .map_err(|_| StoreError::Corrupt("chunk index out of range".into()))?;
    // Counted first: reading every payload on each chunk would move a list's lines
    // chunk-count times over. The count's snapshot precedes the insert beside it, so the
    // chunk stored now (none when it came before) is added to it.
    let received: i64 = sqlx::query_scalar(
        "WITH stored AS ( \
             INSERT INTO list_chunks (list_id, chunk_index, payload, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING chunk_index) \
         SELECT (SELECT count(*) FROM list_chunks WHERE list_id = $1) \
              + (SELECT count(*) FROM stored)",
    )
    .bind(&chunk.list_id)
    .bind(index)
    .bind(chunk.encode_to_vec())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if received < i64::from(expected) {
        return Ok(ChunkProgress::Waiting);
    }
    let payloads: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT payload FROM list_chunks WHERE list_id = $1 ORDER BY chunk_index",
    )
    .bind(&chunk.list_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut chunks = Vec::with_capacity(payloads.len());
    for payload in payloads {
        let decoded = PaymentListChunk::decode(payload.as_slice())
            .map_err(|error| StoreError::Corrupt(format!("stored chunk: {error}")))?;
        chunks.push(decoded);
    }
    Ok(ChunkProgress::Complete(chunks))
}

/// Marks a list refused whole; nothing in it is paid. Payroll is told on
/// `transfer.outcomes.v1`, once: a list already decided changes nothing and announces
/// nothing.
pub async fn refuse_list(
    tx: &mut PgConnection,
    list_id: &str,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let province: Option<String> = sqlx::query_scalar(
        "UPDATE payment_lists SET state = 'refused', refusal_reason = $2, refusal_detail = $3, \
         decided_at = $4 WHERE list_id = $1 AND state = 'receiving' RETURNING province",
    )
    .bind(list_id)
    .bind(refusal.reason.as_str())
    .bind(&refusal.detail)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(province) = province else {
        return Ok(());
    };
    let message = policy::list_refused(list_id, &province, refusal, now);
    let event = OutboxEvent::new(Uuid::new_v4(), topics::TRANSFER_OUTCOMES, list_id, &message);
    enqueue(tx, &event).await?;
    Ok(())
}

/// What accepting a list did.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Transfers created and sent.
    pub sent: usize,
    /// Lines whose entitlement already had a payment; nothing new was sent for them.
    pub already_paid: usize,
    /// Transfers sent, per bank.
    pub sent_by_bank: Vec<(String, u64)>,
}

/// Accepts a verified list: one payment and a first attempt per line whose entitlement has
/// none yet, each instruction on its own bank's topic.
pub async fn accept_list(
    tx: &mut PgConnection,
    policy: &Policy,
    list: &VerifiedList,
    now: DateTime<Utc>,
    month: NaiveDate,
) -> Result<Accepted, StoreError> {
    // One statement for all lines: a list can hold thousands of them.
    let entitlement_ids: Vec<&str> = list
        .lines
        .iter()
        .map(|l| l.entitlement_id.as_str())
        .collect();
    let decision_ids: Vec<&str> = list.lines.iter().map(|l| l.decision_id.as_str()).collect();
    let months: Vec<i64> = list
        .lines
        .iter()
        .map(|l| i64::from(l.benefit_month))
        .collect();
    let amounts: Vec<i64> = list.lines.iter().map(|l| l.amount.as_i64()).collect();
    let banks: Vec<&str> = list
        .lines
        .iter()
        .map(|l| l.destination.bank().as_str())
        .collect();
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO payments (entitlement_id, list_id, decision_id, benefit_month, \
         amount_dong, approved_bank_id, state, current_attempt, updated_at) \
         SELECT line.entitlement_id, $1, line.decision_id, line.benefit_month, line.amount_dong, \
                line.bank_id, 'in_flight', 1, $7 \
         FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[]) \
              AS line (entitlement_id, decision_id, benefit_month, amount_dong, bank_id) \
         ON CONFLICT DO NOTHING RETURNING entitlement_id",
    )
    .bind(&list.list_id)
    .bind(&entitlement_ids)
    .bind(&decision_ids)
    .bind(&months)
    .bind(&amounts)
    .bind(&banks)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let inserted: HashSet<String> = inserted.into_iter().collect();

    // Reconciliation's left side holds only the lines this list paid: a line whose entitlement
    // an earlier list already paid is counted there, and counting it here too would leave
    // this list a difference nothing could ever settle. The skipped lines are reported by
    // the caller (`Accepted::already_paid`).
    let mut approvals: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for line in &list.lines {
        if !inserted.contains(&line.entitlement_id) {
            continue;
        }
        let entry = approvals
            .entry(line.destination.bank().as_str())
            .or_default();
        entry.0 += 1;
        entry.1 += line.amount.as_i64();
    }

    let mut attempts = Vec::with_capacity(inserted.len());
    let mut origins = Vec::with_capacity(inserted.len());
    for line in &list.lines {
        if !inserted.contains(&line.entitlement_id) {
            continue;
        }
        let facts = AttemptFacts {
            entitlement_id: line.entitlement_id.clone(),
            decision_id: line.decision_id.clone(),
            benefit_month: line.benefit_month,
            list_id: list.list_id.clone(),
            amount_dong: line.amount.as_i64(),
            attempt: Attempt::FIRST.get(),
            end_to_end_id: EndToEndId::derive(&line.entitlement_id, Attempt::FIRST),
        };
        attempts.push((facts, &line.destination));
        origins.push(Origin {
            traceparent: &line.traceparent,
            checked_in_at: line.checked_in_at,
        });
    }
    send_traced(tx, policy, &attempts, &origins, now).await?;
    let accepted = Accepted {
        sent: attempts.len(),
        already_paid: list.lines.len() - attempts.len(),
        sent_by_bank: approvals
            .iter()
            .map(|(bank_id, (count, _))| {
                ((*bank_id).to_owned(), u64::try_from(*count).unwrap_or(0))
            })
            .collect(),
    };

    // The approvals, the list's new state and the end of its chunks in one statement: in a
    // month a list carries a line or two per bank, so statements per list cost more than
    // rows. The lines live on in payments and transfers; the raw chunks are not needed any
    // more (a list in one chunk stored none).
    let approved_banks: Vec<&str> = approvals.keys().copied().collect();
    let approved_counts: Vec<i64> = approvals.values().map(|(count, _)| *count).collect();
    let approved_dong: Vec<i64> = approvals.values().map(|(_, dong)| *dong).collect();
    sqlx::query(
        "WITH approval AS ( \
             INSERT INTO list_approvals (list_id, bank_id, approved_count, approved_dong) \
             SELECT $1, a.bank_id, a.approved_count, a.approved_dong \
             FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::BIGINT[]) \
                  AS a (bank_id, approved_count, approved_dong) \
             ON CONFLICT DO NOTHING), \
         chunk AS ( \
             DELETE FROM list_chunks WHERE list_id = $1) \
         UPDATE payment_lists SET state = 'accepted', decided_at = $5, month = $6 \
         WHERE list_id = $1",
    )
    .bind(&list.list_id)
    .bind(&approved_banks)
    .bind(&approved_counts)
    .bind(&approved_dong)
    .bind(now)
    .bind(month)
    .execute(&mut *tx)
    .await?;
    Ok(accepted)
}

/// Records an attempt in flight and enqueues its instruction on its bank's topic.
pub async fn send_attempt(
    tx: &mut PgConnection,
    policy: &Policy,
    facts: &AttemptFacts,
    destination: &Destination,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    send_attempts(tx, policy, &[(facts.clone(), destination)], now).await
}

/// Records attempts in flight, in bulk, and enqueues each instruction on its bank's topic.
pub async fn send_attempts(
    tx: &mut PgConnection,
    policy: &Policy,
    attempts: &[(AttemptFacts, &Destination)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    send_traced(tx, policy, attempts, &[], now).await
}

/// Where a first attempt comes from: the check-in that earned its line.
struct Origin<'a> {
    /// The check-in's W3C traceparent, which the instruction continues.
    traceparent: &'a str,
    /// When the check-in was scanned.
    checked_in_at: Option<DateTime<Utc>>,
}

/// `send_attempts`, with each attempt's origin when it is known (`origins` is then as long
/// as `attempts`): a list batches many payments, and each instruction continues its own
/// check-in's trace rather than the list's.
async fn send_traced(
    tx: &mut PgConnection,
    policy: &Policy,
    attempts: &[(AttemptFacts, &Destination)],
    origins: &[Origin<'_>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut sealed = Vec::with_capacity(attempts.len());
    for (_, destination) in attempts {
        sealed.push(policy.vault.seal(destination.number())?);
    }
    let ids: Vec<&str> = attempts
        .iter()
        .map(|(f, _)| f.end_to_end_id.as_str())
        .collect();
    let entitlements: Vec<&str> = attempts
        .iter()
        .map(|(f, _)| f.entitlement_id.as_str())
        .collect();
    let numbers: Vec<i32> = attempts.iter().map(|(f, _)| i32::from(f.attempt)).collect();
    let banks: Vec<&str> = attempts.iter().map(|(_, d)| d.bank().as_str()).collect();
    let kinds: Vec<&str> = attempts.iter().map(|(_, d)| d.kind().as_str()).collect();
    let last4s: Vec<String> = attempts.iter().map(|(_, d)| last4(d.number())).collect();
    let names: Vec<&str> = attempts.iter().map(|(_, d)| d.holder_name()).collect();
    let amounts: Vec<i64> = attempts.iter().map(|(f, _)| f.amount_dong).collect();
    // All attempts in one statement: a list sends thousands. An attempt's first state, in
    // flight since `created_at`, is the attempt row itself; `transfer_history` holds the
    // changes after it (see `history`), which spares a list a second row per line.
    sqlx::query(
        "INSERT INTO transfers (end_to_end_id, entitlement_id, attempt, bank_id, \
         destination_kind, destination_sealed, destination_last4, holder_name, amount_dong, \
         state, created_at, updated_at) \
         SELECT a.id, a.entitlement_id, a.attempt, a.bank_id, a.kind, a.sealed, a.last4, \
                a.name, a.amount, 'in_flight', $10, $10 \
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::INT[], $4::TEXT[], $5::TEXT[], \
                     $6::BYTEA[], $7::TEXT[], $8::TEXT[], $9::BIGINT[]) \
              AS a (id, entitlement_id, attempt, bank_id, kind, sealed, last4, name, amount)",
    )
    .bind(&ids)
    .bind(&entitlements)
    .bind(&numbers)
    .bind(&banks)
    .bind(&kinds)
    .bind(&sealed)
    .bind(&last4s)
    .bind(&names)
    .bind(&amounts)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The topic and the histogram are found once per bank, not once per line: a list sends
    // thousands of instructions to a handful of banks.
    let mut banks_seen: HashMap<&str, (String, metrics::Histogram)> = HashMap::new();
    let mut events = Vec::with_capacity(attempts.len());
    for (index, (facts, destination)) in attempts.iter().enumerate() {
        let bank = destination.bank().as_str();
        let (topic, waited_seconds) = banks_seen.entry(bank).or_insert_with(|| {
            (
                topics::bank_transfers(bank),
                metrics::histogram!("checkin_to_instruction_seconds", "bank" => bank.to_owned()),
            )
        });
        // Time-ordered ids append to the outbox's unique index on them, where random ones
        // would each land on a page of their own, once here and again when the relay marks
        // the row.
        let mut event = OutboxEvent::new(
            Uuid::now_v7(),
            topic,
            facts.end_to_end_id.as_str(),
            &policy::instruction(policy, facts, destination, now),
        );
        if let Some(origin) = origins.get(index) {
            event = event.continuing(origin.traceparent);
            if let Some(checked_in_at) = origin.checked_in_at {
                let waited = (now - checked_in_at).to_std().unwrap_or_default();
                waited_seconds.record(waited.as_secs_f64());
            }
        }
        events.push(event);
    }
    enqueue_all(tx, &events).await?;
    Ok(())
}

/// The last 4 characters of a number, the only part kept in clear.
fn last4(number: &str) -> String {
    let count = number.chars().count();
    number.chars().skip(count.saturating_sub(4)).collect()
}

/// An attempt as a bank result finds it, locked.
#[derive(Debug)]
pub struct LockedAttempt {
    /// Its facts.
    pub facts: AttemptFacts,
    /// The bank it was sent to.
    pub bank_id: String,
    /// Card or account.
    pub kind: DestinationKind,
    /// Its state, as stored.
    pub state: String,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    entitlement_id: String,
    attempt: i32,
    bank_id: String,
    destination_kind: String,
    amount_dong: i64,
    state: String,
    decision_id: String,
    benefit_month: i32,
    list_id: String,
}

/// Locks the attempt sent under `end_to_end_id` and its payment, if there is one.
pub async fn lock_attempt(
    tx: &mut PgConnection,
    end_to_end_id: &EndToEndId,
) -> Result<Option<LockedAttempt>, StoreError> {
    let row: Option<AttemptRow> = sqlx::query_as(
        "SELECT t.entitlement_id, t.attempt, t.bank_id, t.destination_kind, t.amount_dong, \
         t.state, p.decision_id, p.benefit_month, p.list_id \
         FROM transfers t JOIN payments p USING (entitlement_id) \
         WHERE t.end_to_end_id = $1 FOR UPDATE",
    )
    .bind(end_to_end_id.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|row| locked_attempt(row, end_to_end_id))
        .transpose()
}

/// An attempt row as the locked attempt it describes.
fn locked_attempt(
    row: AttemptRow,
    end_to_end_id: &EndToEndId,
) -> Result<LockedAttempt, StoreError> {
    let kind = DestinationKind::from_stored(&row.destination_kind)
        .ok_or_else(|| StoreError::Corrupt("destination kind".into()))?;
    let attempt = Attempt::new(i64::from(row.attempt))
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    Ok(LockedAttempt {
        facts: AttemptFacts {
            entitlement_id: row.entitlement_id,
            decision_id: row.decision_id,
            benefit_month: u32::try_from(row.benefit_month).unwrap_or(0),
            list_id: row.list_id,
            amount_dong: row.amount_dong,
            attempt: attempt.get(),
            end_to_end_id: end_to_end_id.clone(),
        },
        bank_id: row.bank_id,
        kind,
        state: row.state,
    })
}

/// Moves an attempt in flight and its payment to `state`, and enqueues the outcome.
pub async fn settle_attempt(
    tx: &mut PgConnection,
    attempt: &LockedAttempt,
    state: PaymentState,
    reason_code: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let facts = &attempt.facts;
    // One statement for the attempt, its payment and the history: results arrive by the
    // million in a month.
    sqlx::query(
        "WITH attempt AS ( \
             UPDATE transfers SET state = $2, reason_code = $3, updated_at = $4 \
             WHERE end_to_end_id = $1 RETURNING end_to_end_id), \
         payment AS ( \
             UPDATE payments SET state = $2, reason_code = $3, retry_at = $5, updated_at = $4 \
             WHERE entitlement_id = $6 AND current_attempt = $7 RETURNING entitlement_id) \
         INSERT INTO transfer_history (end_to_end_id, state, reason_code, at) \
         SELECT end_to_end_id, $2, $3, $4 FROM attempt",
    )
    .bind(facts.end_to_end_id.as_str())
    .bind(state.as_str())
    .bind(reason_code)
    .bind(now)
    .bind(retry_at)
    .bind(&facts.entitlement_id)
    .bind(i32::from(facts.attempt))
    .execute(&mut *tx)
    .await?;
    enqueue_outcome(tx, attempt, state, reason_code, now).await
}

/// Enqueues the outcome of `attempt` reaching `state` on `transfer.outcomes.v1`.
pub async fn enqueue_outcome(
    tx: &mut PgConnection,
    attempt: &LockedAttempt,
    state: PaymentState,
    reason_code: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    enqueue(tx, &outcome_event(attempt, state, reason_code, now)).await?;
    Ok(())
}

/// The event announcing that `attempt` reached `state`, on `transfer.outcomes.v1`.
pub fn outcome_event(
    attempt: &LockedAttempt,
    state: PaymentState,
    reason_code: &str,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let facts = &attempt.facts;
    let message = policy::outcome(
        facts,
        state,
        reason_code,
        &attempt.bank_id,
        attempt.kind,
        now,
    );
    OutboxEvent::new(
        Uuid::new_v4(),
        topics::TRANSFER_OUTCOMES,
        &facts.entitlement_id,
        &message,
    )
}

/// A final status (never a retry) for one attempt, as [`settle_all_in_flight`] takes it.
#[derive(Debug)]
pub struct FinalStatus<'a> {
    /// The attempt.
    pub end_to_end_id: &'a EndToEndId,
    /// The bank that answered.
    pub bank_id: &'a str,
    /// The state the payment reaches.
    pub state: PaymentState,
    /// The bank's reason code.
    pub reason_code: &'a str,
}

/// Moves each attempt, if it is in flight at the bank that answered, and its payment to the
/// final state (never a retry), with the history rows, in one statement; the end-to-end ids
/// must differ.
/// Returns, per status, the attempt as it was, or `None` when it is unknown, another bank's
/// or no longer in flight.
pub async fn settle_all_in_flight(
    tx: &mut PgConnection,
    statuses: &[FinalStatus<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Option<LockedAttempt>>, StoreError> {
    if statuses.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = statuses.iter().map(|s| s.end_to_end_id.as_str()).collect();
    let banks: Vec<&str> = statuses.iter().map(|s| s.bank_id).collect();
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    let reasons: Vec<&str> = statuses.iter().map(|s| s.reason_code).collect();
    // Each attempt must be found by primary key, one probe per status, whatever the table's
    // statistics say. Until they exist, PostgreSQL takes the in-flight partial index for a
    // few dozen rows where a list has just put thousands, and drove the update from it: it
    // read every attempt in flight for each batch (50 to 100 ms a batch of 256 instead of
    // 15). So the in-flight state is compared through the materialised statuses, which hides
    // it from the planner and leaves the index unusable here, and the generic plan, made
    // without the arrays' sizes, is forced: it probes the primary key where a plan for 256
    // statuses would hash the whole table. It is forced for this statement only: the lists
    // a consumer batch applies in the same transaction are planned for their own arrays.
    sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
        .execute(&mut *tx)
        .await?;
    // The payment is matched on its current attempt, as in `settle_attempt`; the facts come
    // from the statement's snapshot, taken before its updates.
    let rows: Vec<SettledRow> = sqlx::query_as(
        "WITH status AS MATERIALIZED ( \
             SELECT s.*, 'in_flight' AS settles FROM \
                 UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) \
                 AS s (end_to_end_id, bank_id, state, reason_code)), \
         attempt AS ( \
             UPDATE transfers t SET state = s.state, reason_code = s.reason_code, updated_at = $5 \
             FROM status s \
             WHERE t.end_to_end_id = s.end_to_end_id \
               AND t.state = s.settles AND t.bank_id = s.bank_id \
             RETURNING t.end_to_end_id, t.entitlement_id, t.attempt, t.bank_id, \
                       t.destination_kind, t.amount_dong, s.state AS new_state, \
                       s.reason_code AS new_reason), \
         payment AS ( \
             UPDATE payments p SET state = a.new_state, reason_code = a.new_reason, \
                    retry_at = NULL, updated_at = $5 \
             FROM attempt a \
             WHERE p.entitlement_id = a.entitlement_id AND p.current_attempt = a.attempt), \
         history AS ( \
             INSERT INTO transfer_history (end_to_end_id, state, reason_code, at) \
             SELECT end_to_end_id, new_state, new_reason, $5 FROM attempt) \
         SELECT a.end_to_end_id, a.entitlement_id, a.attempt, a.bank_id, a.destination_kind, \
                a.amount_dong, 'in_flight' AS state, p.decision_id, p.benefit_month, p.list_id \
         FROM attempt a JOIN payments p USING (entitlement_id)",
    )
    .bind(&ids)
    .bind(&banks)
    .bind(&states)
    .bind(&reasons)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("RESET plan_cache_mode")
        .execute(&mut *tx)
        .await?;
    let mut settled: std::collections::HashMap<String, AttemptRow> = rows
        .into_iter()
        .map(|row| (row.end_to_end_id, row.attempt))
        .collect();
    statuses
        .iter()
        .map(|status| {
            settled
                .remove(status.end_to_end_id.as_str())
                .map(|row| locked_attempt(row, status.end_to_end_id))
                .transpose()
        })
        .collect()
}

/// An attempt row with the end-to-end id it belongs to.
#[derive(sqlx::FromRow)]
struct SettledRow {
    end_to_end_id: String,
    #[sqlx(flatten)]
    attempt: AttemptRow,
}

#[derive(sqlx::FromRow)]
struct ResendRow {
    entitlement_id: String,
    decision_id: String,
    benefit_month: i32,
    list_id: String,
    amount_dong: i64,
    current_attempt: i32,
    bank_id: String,
    destination_kind: String,
    destination_sealed: Vec<u8>,
    holder_name: String,
}

/// The reason code a payment cancelled by its decision's termination fails with; not an
/// ISO 20022 code, since no bank gave it.
pub const TERMINATED_REASON: &str = "DECISION_TERMINATED";

/// Stores the first day of each benefit month of an activated decision; a repeated event
/// changes nothing.
pub async fn record_decision_months(
    tx: &mut PgConnection,
    decision_id: &str,
    months: &[(i32, NaiveDate)],
) -> Result<(), StoreError> {
    let numbers: Vec<i32> = months.iter().map(|(month, _)| *month).collect();
    let starts: Vec<NaiveDate> = months.iter().map(|(_, start)| *start).collect();
    sqlx::query(
        "INSERT INTO decision_months (decision_id, benefit_month, month_start) \
         SELECT $1, m.benefit_month, m.month_start \
         FROM UNNEST($2::INT[], $3::DATE[]) AS m (benefit_month, month_start) \
         ON CONFLICT DO NOTHING",
    )
    .bind(decision_id)
    .bind(&numbers)
    .bind(&starts)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Stores a decision's termination, keeping the earliest effective date when more than one
/// arrives (or one arrives twice).
pub async fn record_termination(
    tx: &mut PgConnection,
    decision_id: &str,
    effective_date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO decision_terminations (decision_id, effective_date, recorded_at) \
         VALUES ($1, $2, $3) ON CONFLICT (decision_id) DO UPDATE \
         SET effective_date = excluded.effective_date, recorded_at = excluded.recorded_at \
         WHERE excluded.effective_date < decision_terminations.effective_date",
    )
    .bind(decision_id)
    .bind(effective_date)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether `decision_id`'s termination cancelled `benefit_month`; false when it has none.
async fn cancelled_by_termination(
    tx: &mut PgConnection,
    decision_id: &str,
    benefit_month: i32,
) -> Result<bool, StoreError> {
    let found: Option<(NaiveDate, Option<NaiveDate>)> = sqlx::query_as(
        "SELECT t.effective_date, m.month_start FROM decision_terminations t \
         LEFT JOIN decision_months m \
           ON m.decision_id = t.decision_id AND m.benefit_month = $2 \
         WHERE t.decision_id = $1",
    )
    .bind(decision_id)
    .bind(benefit_month)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match found {
        None => false,
        Some((effective_date, month_start)) => termination::cancels(month_start, effective_date),
    })
}

/// Fails a parked or retrying payment whose month a termination cancelled, with its current
/// attempt, and announces the outcome.
async fn fail_terminated(
    tx: &mut PgConnection,
    row: ResendRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let attempt = Attempt::new(i64::from(row.current_attempt))
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    let kind = DestinationKind::from_stored(&row.destination_kind)
        .ok_or_else(|| StoreError::Corrupt("destination kind".into()))?;
    tracing::warn!(
        entitlement_id = %row.entitlement_id,
        decision_id = %row.decision_id,
        benefit_month = row.benefit_month,
        "payment not sent again: its decision was terminated before this benefit month"
    );
    metrics::counter!("transfer_payments_cancelled_by_termination_total").increment(1);
    let locked = LockedAttempt {
        facts: AttemptFacts {
            end_to_end_id: EndToEndId::derive(&row.entitlement_id, attempt),
            entitlement_id: row.entitlement_id,
            decision_id: row.decision_id,
            benefit_month: u32::try_from(row.benefit_month).unwrap_or(0),
            list_id: row.list_id,
            amount_dong: row.amount_dong,
            attempt: attempt.get(),
        },
        bank_id: row.bank_id,
        kind,
        state: String::new(),
    };
    settle_attempt(
        tx,
        &locked,
        PaymentState::Failed,
        TERMINATED_REASON,
        None,
        now,
    )
    .await
}

/// Sends a new attempt of a payment to `destination` (or, when `None`, to where the last
/// attempt went) and returns its end-to-end id; or, when its decision's termination cancelled
/// its month, fails it instead and returns `None`.
async fn resend(
    tx: &mut PgConnection,
    policy: &Policy,
    row: ResendRow,
    destination: Option<&Destination>,
    now: DateTime<Utc>,
) -> Result<Option<EndToEndId>, StoreError> {
    if cancelled_by_termination(tx, &row.decision_id, row.benefit_month).await? {
        fail_terminated(tx, row, now).await?;
        return Ok(None);
    }
    let previous = Attempt::new(i64::from(row.current_attempt))
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    let next = previous
        .next()
        .ok_or_else(|| StoreError::Corrupt("no attempt number left".into()))?;
    let stored;
    let destination = match destination {
        Some(destination) => destination,
        None => {
            let kind = DestinationKind::from_stored(&row.destination_kind);
            let number = policy.vault.open(&row.destination_sealed)?;
            stored = Destination::parse(&row.bank_id, kind, &number, &row.holder_name)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?
                .0;
            &stored
        }
    };
    let facts = AttemptFacts {
        end_to_end_id: EndToEndId::derive(&row.entitlement_id, next),
        entitlement_id: row.entitlement_id,
        decision_id: row.decision_id,
        benefit_month: u32::try_from(row.benefit_month).unwrap_or(0),
        list_id: row.list_id,
        amount_dong: row.amount_dong,
        attempt: next.get(),
    };
    sqlx::query(
        "UPDATE payments SET state = 'in_flight', current_attempt = $2, reason_code = '', \
         retry_at = NULL, updated_at = $3 WHERE entitlement_id = $1",
    )
    .bind(&facts.entitlement_id)
    .bind(i32::from(next.get()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    send_attempt(tx, policy, &facts, destination, now).await?;
    Ok(Some(facts.end_to_end_id))
}

const RESEND_COLUMNS: &str = "p.entitlement_id, p.decision_id, p.benefit_month, p.list_id, \
     p.amount_dong, p.current_attempt, t.bank_id, t.destination_kind, t.destination_sealed, \
     t.holder_name FROM payments p JOIN transfers t \
     ON t.entitlement_id = p.entitlement_id AND t.attempt = p.current_attempt";

/// Sends the next attempt of up to `limit` payments whose retry is due; returns how many.
pub async fn send_due_retries(
    pool: &PgPool,
    policy: &Policy,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<ResendRow> = sqlx::query_as(&format!(
        "SELECT {RESEND_COLUMNS} WHERE p.state = 'retrying' AND p.retry_at <= $1 \
         ORDER BY p.retry_at LIMIT $2 FOR UPDATE OF p SKIP LOCKED"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    // Counts the payments handled, sent or failed, so that the caller knows when a batch was
    // full.
    let count = rows.len();
    for row in rows {
        resend(&mut tx, policy, row, None, now).await?;
    }
    tx.commit().await?;
    Ok(count)
}

/// A list refused because its chunks did not all arrive in time.
#[derive(Debug)]
pub struct Overdue {
    /// List id.
    pub list_id: String,
    /// Why, with the facts.
    pub refusal: Refusal,
}

/// Refuses lists still incomplete `timeout` after their first chunk.
pub async fn refuse_overdue_lists(
    pool: &PgPool,
    now: DateTime<Utc>,
    timeout: std::time::Duration,
) -> Result<Vec<Overdue>, StoreError> {
    let cutoff = now - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT l.list_id, l.chunk_count, \
         (SELECT count(*) FROM list_chunks c WHERE c.list_id = l.list_id) \
         FROM payment_lists l WHERE l.state = 'receiving' AND l.first_chunk_at <= $1 \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(cutoff)
    .fetch_all(&mut *tx)
    .await?;
    let mut refused = Vec::with_capacity(rows.len());
    for (list_id, expected, received) in rows {
        let refusal = Refusal {
            reason: RefusalReason::Incomplete,
            detail: format!("{received} of {expected} chunks"),
        };
        refuse_list(&mut tx, &list_id, &refusal, now).await?;
        refused.push(Overdue { list_id, refusal });
    }
    tx.commit().await?;
    Ok(refused)
}

/// Flags up to `limit` attempts sent `deadline` or longer ago that have no final status yet,
/// each once; returns the bank of each attempt flagged.
pub async fn flag_overdue_attempts(
    pool: &PgPool,
    now: DateTime<Utc>,
    deadline: std::time::Duration,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let cutoff = now - chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::MAX);
    let banks = sqlx::query_scalar(
        "WITH due AS ( \
             SELECT end_to_end_id FROM transfers \
             WHERE state = 'in_flight' AND overdue_at IS NULL AND created_at <= $1 \
             ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         UPDATE transfers t SET overdue_at = $2 FROM due \
         WHERE t.end_to_end_id = due.end_to_end_id RETURNING t.bank_id",
    )
    .bind(cutoff)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(banks)
}

/// Attempts still in flight past their answer deadline, per bank.
pub async fn overdue_attempts(pool: &PgPool) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT bank_id, count(*) FROM transfers \
         WHERE state = 'in_flight' AND overdue_at IS NOT NULL GROUP BY bank_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A correction as proposed.
#[derive(Debug)]
pub struct ProposedCorrection {
    /// Decision whose destination it corrects.
    pub decision_id: String,
    /// The corrected destination.
    pub destination: Destination,
    /// Officer who proposed it.
    pub proposed_by: String,
    /// Its state as stored.
    pub state: String,
}

/// Records a proposed correction and returns its id.
pub async fn propose_correction(
    pool: &PgPool,
    vault: &Vault,
    decision_id: &str,
    destination: &Destination,
    reason: &str,
    officer_id: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let correction_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO account_corrections (correction_id, decision_id, bank_id, destination_kind, \
         destination_sealed, destination_last4, holder_name, reason, proposed_by, proposed_at, \
         state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'proposed')",
    )
    .bind(correction_id)
    .bind(decision_id)
    .bind(destination.bank().as_str())
    .bind(destination.kind().as_str())
    .bind(vault.seal(destination.number())?)
    .bind(last4(destination.number()))
    .bind(destination.holder_name())
    .bind(reason)
    .bind(officer_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(correction_id)
}

#[derive(sqlx::FromRow)]
struct CorrectionRow {
    decision_id: String,
    bank_id: String,
    destination_kind: String,
    destination_sealed: Vec<u8>,
    holder_name: String,
    proposed_by: String,
    state: String,
}

/// Locks a correction.
pub async fn lock_correction(
    tx: &mut PgConnection,
    vault: &Vault,
    correction_id: Uuid,
) -> Result<Option<ProposedCorrection>, StoreError> {
    let row: Option<CorrectionRow> = sqlx::query_as(
        "SELECT decision_id, bank_id, destination_kind, destination_sealed, holder_name, \
         proposed_by, state FROM account_corrections WHERE correction_id = $1 FOR UPDATE",
    )
    .bind(correction_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let number = vault.open(&row.destination_sealed)?;
    let (destination, _) = Destination::parse(
        &row.bank_id,
        DestinationKind::from_stored(&row.destination_kind),
        &number,
        &row.holder_name,
    )
    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    Ok(Some(ProposedCorrection {
        decision_id: row.decision_id,
        destination,
        proposed_by: row.proposed_by,
        state: row.state,
    }))
}

/// Records the checker's decision on a correction.
pub async fn decide_correction(
    tx: &mut PgConnection,
    correction_id: Uuid,
    state: &str,
    officer_id: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE account_corrections SET state = $2, decided_by = $3, decision_note = $4, \
         decided_at = $5 WHERE correction_id = $1",
    )
    .bind(correction_id)
    .bind(state)
    .bind(officer_id)
    .bind(note)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Sends a new attempt, to `destination`, of every parked payment of `decision_id` that a
/// correction can help (not MD07: the beneficiary died); returns the new end-to-end ids.
pub async fn resend_parked(
    tx: &mut PgConnection,
    policy: &Policy,
    decision_id: &str,
    destination: &Destination,
    now: DateTime<Utc>,
) -> Result<Vec<EndToEndId>, StoreError> {
    let rows: Vec<ResendRow> = sqlx::query_as(&format!(
        "SELECT {RESEND_COLUMNS} WHERE p.decision_id = $1 AND p.state = 'parked' \
         AND p.reason_code <> 'MD07' ORDER BY p.entitlement_id FOR UPDATE OF p"
    ))
    .bind(decision_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(end_to_end_id) = resend(tx, policy, row, Some(destination), now).await? {
            sent.push(end_to_end_id);
        }
    }
    Ok(sent)
}

/// One reconciliation row.
#[derive(Debug, sqlx::FromRow)]
pub struct ReconciliationRow {
    /// List.
    pub list_id: String,
    /// Bank of the approved lines.
    pub bank_id: String,
    /// First day of the list's month.
    pub month: NaiveDate,
    /// Approved, count and đồng.
    pub approved_count: i64,
    /// Approved đồng.
    pub approved_dong: i64,
    /// Credited count.
    pub credited_count: i64,
    /// Credited đồng.
    pub credited_dong: i64,
    /// In flight (including waiting to retry) count.
    pub in_flight_count: i64,
    /// In flight đồng.
    pub in_flight_dong: i64,
    /// Parked count.
    pub parked_count: i64,
    /// Parked đồng.
    pub parked_dong: i64,
    /// Failed count.
    pub failed_count: i64,
    /// Failed đồng.
    pub failed_dong: i64,
}

/// Reconciles accepted lists per list, approved bank and month; every filter is optional.
pub async fn reconciliation(
    pool: &PgPool,
    list_id: Option<&str>,
    bank_id: Option<&str>,
    month: Option<NaiveDate>,
) -> Result<Vec<ReconciliationRow>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT a.list_id, a.bank_id, l.month, a.approved_count, a.approved_dong, \
         count(*) FILTER (WHERE p.state = 'paid') AS credited_count, \
         COALESCE(sum(p.amount_dong) FILTER (WHERE p.state = 'paid'), 0)::BIGINT AS credited_dong, \
         count(*) FILTER (WHERE p.state IN ('in_flight', 'retrying')) AS in_flight_count, \
         COALESCE(sum(p.amount_dong) FILTER (WHERE p.state IN ('in_flight', 'retrying')), 0)::BIGINT \
             AS in_flight_dong, \
         count(*) FILTER (WHERE p.state = 'parked') AS parked_count, \
         COALESCE(sum(p.amount_dong) FILTER (WHERE p.state = 'parked'), 0)::BIGINT AS parked_dong, \
         count(*) FILTER (WHERE p.state = 'failed') AS failed_count, \
         COALESCE(sum(p.amount_dong) FILTER (WHERE p.state = 'failed'), 0)::BIGINT AS failed_dong \
         FROM list_approvals a JOIN payment_lists l ON l.list_id = a.list_id \
         LEFT JOIN payments p ON p.list_id = a.list_id AND p.approved_bank_id = a.bank_id \
         WHERE ($1::TEXT IS NULL OR a.list_id = $1) AND ($2::TEXT IS NULL OR a.bank_id = $2) \
           AND ($3::DATE IS NULL OR l.month = $3) \
         GROUP BY a.list_id, a.bank_id, l.month, a.approved_count, a.approved_dong \
         ORDER BY l.month, a.bank_id, a.list_id",
    )
    .bind(list_id)
    .bind(bank_id)
    .bind(month)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A refused list as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct RefusedRow {
    /// List id.
    pub list_id: String,
    /// Province.
    pub province: String,
    /// Reason, as stored.
    pub refusal_reason: String,
    /// Facts.
    pub refusal_detail: String,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Refused lists, newest first, `limit` from `offset`.
pub async fn refused_lists(
    pool: &PgPool,
    limit: i64,
    offset: i64,
) -> Result<Vec<RefusedRow>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT list_id, province, refusal_reason, refusal_detail, decided_at \
         FROM payment_lists WHERE state = 'refused' \
         ORDER BY decided_at DESC, list_id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A transfer as the API shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct TransferRow {
    /// End-to-end id.
    pub end_to_end_id: String,
    /// Entitlement.
    pub entitlement_id: String,
    /// Decision.
    pub decision_id: String,
    /// List.
    pub list_id: String,
    /// Attempt number.
    pub attempt: i32,
    /// Receiving bank.
    pub bank_id: String,
    /// Card or account, as stored.
    pub destination_kind: String,
    /// The sealed number; opened only for a bank file.
    pub destination_sealed: Vec<u8>,
    /// The number's last 4 digits, for officers.
    pub destination_last4: String,
    /// Holder's name.
    pub holder_name: String,
    /// Amount.
    pub amount_dong: i64,
    /// State, as stored.
    pub state: String,
    /// Latest reason code.
    pub reason_code: String,
}

/// The transfer sent under `end_to_end_id`, if any.
pub async fn transfer(
    pool: &PgPool,
    end_to_end_id: &str,
) -> Result<Option<TransferRow>, StoreError> {
    let row = sqlx::query_as(
        "SELECT t.end_to_end_id, t.entitlement_id, p.decision_id, p.list_id, t.attempt, \
         t.bank_id, t.destination_kind, t.destination_sealed, t.destination_last4, t.holder_name, \
         t.amount_dong, \
         t.state, t.reason_code FROM transfers t JOIN payments p USING (entitlement_id) \
         WHERE t.end_to_end_id = $1",
    )
    .bind(end_to_end_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// The states a transfer went through, oldest first: (state, reason code, when).
///
/// The first is the attempt's own: in flight since it was created. `transfer_history` holds
/// the changes after it, none of which is ever back to in flight; the in-flight rows it
/// holds are first states stored by earlier versions, which the attempt row already gives.
pub async fn history(
    pool: &PgPool,
    end_to_end_id: &str,
) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT state, reason_code, at FROM ( \
             SELECT 0::BIGINT AS position, 'in_flight' AS state, '' AS reason_code, \
                    created_at AS at \
             FROM transfers WHERE end_to_end_id = $1 \
             UNION ALL \
             SELECT id, state, reason_code, at FROM transfer_history \
             WHERE end_to_end_id = $1 AND state <> 'in_flight') AS change \
         ORDER BY position",
    )
    .bind(end_to_end_id)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The attempts of one list at one bank that the bank still has to execute.
pub async fn batch(
    pool: &PgPool,
    list_id: &str,
    bank_id: &str,
) -> Result<Vec<TransferRow>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT t.end_to_end_id, t.entitlement_id, p.decision_id, p.list_id, t.attempt, \
         t.bank_id, t.destination_kind, t.destination_sealed, t.destination_last4, t.holder_name, \
         t.amount_dong, \
         t.state, t.reason_code FROM transfers t JOIN payments p USING (entitlement_id) \
         WHERE p.list_id = $1 AND t.bank_id = $2 AND t.state = 'in_flight' \
         ORDER BY t.end_to_end_id",
    )
    .bind(list_id)
    .bind(bank_id)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Tells payroll, on `transfer.outcomes.v1`, that a confirmed correction moved a decision's
/// payments to a new destination; in the confirming transaction.
pub async fn announce_correction(
    tx: &mut PgConnection,
    correction_id: Uuid,
    correction: &ProposedCorrection,
    confirmed_by: &str,
    resent: &[EndToEndId],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let message = policy::destination_corrected(
        &correction_id.to_string(),
        &correction.decision_id,
        &correction.destination,
        (&correction.proposed_by, confirmed_by),
        resent,
        now,
    );
    let event = OutboxEvent::new(
        Uuid::new_v4(),
        topics::TRANSFER_OUTCOMES,
        &correction.decision_id,
        &message,
    );
    enqueue(tx, &event).await?;
    Ok(())
}

/// One pain.001 file taken out, for the audit trail.
#[derive(Debug)]
pub struct FileExport<'a> {
    /// MsgId.
    pub message_id: &'a str,
    /// PmtInfId.
    pub payment_information_id: &'a str,
    /// The list whose batch it is.
    pub list_id: &'a str,
    /// The bank it is for.
    pub bank_id: &'a str,
    /// NbOfTxs.
    pub transactions: i64,
    /// CtrlSum, in đồng.
    pub control_sum_dong: i64,
    /// SHA-256 of the XML, hex: proves later which bytes left.
    pub sha256: &'a str,
    /// The officer who took it out.
    pub officer_id: &'a str,
}

/// Records who took which pain.001 file out, and when.
pub async fn record_file_export(
    pool: &PgPool,
    export: &FileExport<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO payment_file_exports (message_id, payment_information_id, list_id, bank_id, \
         transactions, control_sum_dong, sha256, officer_id, exported_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(export.message_id)
    .bind(export.payment_information_id)
    .bind(export.list_id)
    .bind(export.bank_id)
    .bind(export.transactions)
    .bind(export.control_sum_dong)
    .bind(export.sha256)
    .bind(export.officer_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attempts in flight when the results come: a list's worth, never analysed.
    const IN_FLIGHT: i64 = 5_000;

    /// A database of its own with transfer's tables, and a pool on it as the service connects;
    /// the database lives as long as the first value is kept.
    async fn migrated() -> anyhow::Result<(testkit::TestDatabase, PgPool)> {
        let database = testkit::TestDatabase::create().await?;
        let pool = database.pool(crate::SERVICE).await?;
        serving::migrate(&pool, Some(&crate::MIGRATOR)).await?;
        Ok((database, pool))
    }

    #[tokio::test]
    async fn final_statuses_find_their_attempts_by_primary_key_however_many_are_in_flight()
    -> anyhow::Result<()> {
        let (_database, pool) = migrated().await?;
        sqlx::query(
            "INSERT INTO payment_lists (list_id, province, chunk_count, state, first_chunk_at) \
             VALUES ('list', '91', 1, 'accepted', now())",
        )
        .execute(&pool)
        .await?;
        let ids: Vec<String> = (0..IN_FLIGHT)
            .map(|index| EndToEndId::derive(&format!("e-{index}"), Attempt::FIRST).to_string())
            .collect();
        sqlx::query(
            "WITH payment AS ( \
                 INSERT INTO payments (entitlement_id, list_id, decision_id, benefit_month, \
                 amount_dong, approved_bank_id, state, current_attempt, updated_at) \
                 SELECT 'e-' || n, 'list', 'd-' || n, 1, 1000, '970436', 'in_flight', 1, now() \
                 FROM generate_series(0, $1 - 1) AS n) \
             INSERT INTO transfers (end_to_end_id, entitlement_id, attempt, bank_id, \
             destination_kind, destination_sealed, destination_last4, holder_name, amount_dong, \
             state, created_at, updated_at) \
             SELECT id, 'e-' || (n - 1), 1, '970436', 'card', '\\x00', '0002', 'A', 1000, \
                    'in_flight', now(), now() \
             FROM UNNEST($2::TEXT[]) WITH ORDINALITY AS a (id, n)",
        )
        .bind(IN_FLIGHT)
        .bind(&ids)
        .execute(&pool)
        .await?;
        let answered: Vec<EndToEndId> = ids
            .iter()
            .take(256)
            .map(String::as_str)
            .map(EndToEndId::parse)
            .collect::<Result<_, _>>()?;
        let statuses: Vec<FinalStatus<'_>> = answered
            .iter()
            .map(|end_to_end_id| FinalStatus {
                end_to_end_id,
                bank_id: "970436",
                state: PaymentState::Paid,
                reason_code: "",
            })
            .collect();

        let mut tx = pool.begin().await?;
        let before = reads_of_transfers(&mut tx).await?;
        let settled = settle_all_in_flight(&mut tx, &statuses, Utc::now()).await?;
        let after = reads_of_transfers(&mut tx).await?;

        assert!(settled.iter().all(Option::is_some), "every attempt settled");
        assert_eq!(after.0 - before.0, 0, "no sequential scan of the attempts");
        // A probe of the primary key per status, and its check of the new version's entry;
        // a scan of the attempts in flight would read thousands.
        let entries = after.1 - before.1;
        assert!(
            entries <= 2 * statuses.len() as i64,
            "{entries} index entries read for {} statuses",
            statuses.len()
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_attempt_s_history_starts_in_flight_once_whether_or_not_that_state_was_stored()
    -> anyhow::Result<()> {
        let (_database, pool) = migrated().await?;
        let sent = Utc::now() - chrono::Duration::minutes(5);
        let parked = sent + chrono::Duration::minutes(2);
        // `stored` as earlier versions wrote it, with its first state in the history too.
        for id in ["new", "stored"] {
            sqlx::query(
                "INSERT INTO transfers (end_to_end_id, entitlement_id, attempt, bank_id, \
                 destination_kind, destination_sealed, destination_last4, holder_name, \
                 amount_dong, state, reason_code, created_at, updated_at) \
                 VALUES ($1, $1, 1, '970436', 'card', '\\x00', '0002', 'A', 1000, 'parked', \
                         'AC04', $2, $3)",
            )
            .bind(id)
            .bind(sent)
            .bind(parked)
            .execute(&pool)
            .await?;
        }
        sqlx::query(
            "INSERT INTO transfer_history (end_to_end_id, state, reason_code, at) \
             VALUES ('stored', 'in_flight', '', $1)",
        )
        .bind(sent)
        .execute(&pool)
        .await?;
        sqlx::query(
            "INSERT INTO transfer_history (end_to_end_id, state, reason_code, at) \
             SELECT id, 'parked', 'AC04', $1 FROM UNNEST(ARRAY['new', 'stored']) AS id",
        )
        .bind(parked)
        .execute(&pool)
        .await?;

        // PostgreSQL keeps microseconds.
        let wanted = vec![
            (
                "in_flight".to_owned(),
                String::new(),
                sent.timestamp_micros(),
            ),
            (
                "parked".to_owned(),
                "AC04".to_owned(),
                parked.timestamp_micros(),
            ),
        ];
        for id in ["new", "stored"] {
            let found: Vec<(String, String, i64)> = history(&pool, id)
                .await?
                .into_iter()
                .map(|(state, reason, at)| (state, reason, at.timestamp_micros()))
                .collect();
            assert_eq!(found, wanted, "history of {id}");
        }
        assert!(history(&pool, "unknown").await?.is_empty());
        Ok(())
    }

    /// Sequential scans of `transfers` and entries read from its indexes, as the transaction
    /// has counted them so far (PostgreSQL's per-transaction counters; only differences tell
    /// what one statement did).
    async fn reads_of_transfers(tx: &mut PgConnection) -> anyhow::Result<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT pg_stat_get_xact_numscans(c.oid), \
                    (SELECT COALESCE(sum(pg_stat_get_xact_tuples_returned(i.indexrelid)), 0) \
                     FROM pg_index i WHERE i.indrelid = c.oid)::BIGINT \
             FROM pg_class c WHERE c.oid = 'transfers'::regclass",
        )
        .fetch_one(tx)
        .await?)
    }
}
