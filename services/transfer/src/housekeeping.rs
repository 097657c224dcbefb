//! The background worker driven by the injected clock: it refuses lists whose chunks did not
//! all arrive in time and sends the next attempt of payments whose retry is due.

use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::events::alert_refused;
use crate::policy::Policy;
use crate::store;

/// Payments resent per transaction.
const RETRY_BATCH: i64 = 500;

/// Runs until `stop` is cancelled.
pub async fn run(pool: PgPool, policy: Arc<Policy>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(policy.poll_interval) => {}
        }
        if let Err(error) = pass(&pool, &policy).await {
            tracing::warn!(%error, "housekeeping pass failed; the next one tries again");
        }
    }
}

async fn pass(pool: &PgPool, policy: &Policy) -> Result<(), store::StoreError> {
    let now = policy.clock.now();
    for overdue in store::refuse_overdue_lists(pool, now, policy.completion_timeout).await? {
        alert_refused(&overdue.list_id, &overdue.refusal);
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
