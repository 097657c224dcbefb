//! The background worker driven by the injected clock: it refuses lists whose chunks did not
//! all arrive in time, sends the next attempt of payments whose retry is due, and flags
//! attempts whose bank has not answered in time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::events::{alert_refused, count_refused};
use crate::policy::Policy;
use crate::store;

/// Payments resent per transaction.
const RETRY_BATCH: i64 = 500;
/// Overdue attempts flagged per statement.
const OVERDUE_BATCH: i64 = 10_000;

/// Runs until `stop` is cancelled.
pub async fn run(pool: PgPool, policy: Arc<Policy>, stop: CancellationToken) {
    // Banks whose overdue gauge was set, so that it is brought back to 0 once they answer.
    let mut gauged = BTreeSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(policy.poll_interval) => {}
        }
        if let Err(error) = pass(&pool, &policy).await {
            tracing::warn!(%error, "housekeeping pass failed; the next one tries again");
        }
        if let Err(error) = watch_answers(&pool, &policy, &mut gauged).await {
            tracing::warn!(%error, "overdue attempts not checked; the next pass tries again");
        }
    }
}

async fn pass(pool: &PgPool, policy: &Policy) -> Result<(), store::StoreError> {
    let now = policy.clock.now();
    // Committed already when they come back: counted at once.
    for overdue in store::refuse_overdue_lists(pool, now, policy.completion_timeout).await? {
        alert_refused(&overdue.list_id, &overdue.refusal);
        count_refused(overdue.refusal.reason);
    }
    loop {
        let sent = store::send_due_retries(pool, policy, now, RETRY_BATCH).await?;
        if sent > 0 {
            metrics::counter!("transfer_retries_sent_total").increment(sent as u64);
            tracing::info!(sent, "retries sent after bank timeouts");
        }
        if i64::try_from(sent).unwrap_or(0) < RETRY_BATCH {
            return Ok(());
        }
    }
}

/// Flags attempts whose bank gave no final status within the deadline, alerts once per
/// attempt (log and `transfer_attempts_overdue_total`), and keeps the gauge
/// `transfer_attempts_overdue` of those still in flight per bank, for alert rules.
async fn watch_answers(
    pool: &PgPool,
    policy: &Policy,
    gauged: &mut BTreeSet<String>,
) -> Result<(), store::StoreError> {
    let now = policy.clock.now();
    loop {
        let flagged =
            store::flag_overdue_attempts(pool, now, policy.answer_deadline, OVERDUE_BATCH).await?;
        let mut per_bank: BTreeMap<&str, u64> = BTreeMap::new();
        for bank_id in &flagged {
            *per_bank.entry(bank_id.as_str()).or_default() += 1;
        }
        for (bank_id, attempts) in per_bank {
            metrics::counter!("transfer_attempts_overdue_total", "bank" => bank_id.to_owned())
                .increment(attempts);
            tracing::error!(
                bank_id,
                attempts,
                deadline_secs = policy.answer_deadline.as_secs(),
                "attempts sent to the bank got no final status in time; ask the bank"
            );
        }
        if i64::try_from(flagged.len()).unwrap_or(0) < OVERDUE_BATCH {
            break;
        }
    }
    let current: BTreeMap<String, i64> = store::overdue_attempts(pool).await?.into_iter().collect();
    for bank_id in gauged.iter() {
        if !current.contains_key(bank_id) {
            metrics::gauge!("transfer_attempts_overdue", "bank" => bank_id.clone()).set(0.0);
        }
    }
    for (bank_id, attempts) in &current {
        metrics::gauge!("transfer_attempts_overdue", "bank" => bank_id.clone())
            .set(*attempts as f64);
    }
    gauged.extend(current.into_keys());
    Ok(())
}
