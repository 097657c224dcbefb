//! The worker that completes every decision whose last benefit month has passed. Driven by the
//! injected clock, so a test can end a benefit period by moving time.

use std::time::Duration;

use clock::SharedClock;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::CompletionSettings;
use crate::lifecycle::{self, LifecycleError};

/// Completes ended decisions until `stop` is cancelled.
pub async fn run(
    pool: PgPool,
    clock: SharedClock,
    settings: CompletionSettings,
    stop: CancellationToken,
) {
    tracing::info!("decision completion worker started");
    let idle = Duration::from_millis(settings.poll_interval_ms);
    let mut last_count: Option<tokio::time::Instant> = None;
    while !stop.is_cancelled() {
        if last_count.is_none_or(|at| at.elapsed() >= COUNT_EVERY) {
            last_count = Some(tokio::time::Instant::now());
            count_by_state(&pool).await;
        }
        let pause = match pass(&pool, &clock, settings.batch_size).await {
            Ok(completed)
                if i64::try_from(completed).unwrap_or(i64::MAX) >= settings.batch_size =>
            {
                tracing::info!(completed, "decisions completed");
                continue;
            }
            Ok(completed) => {
                if completed > 0 {
                    tracing::info!(completed, "decisions completed");
                    // The gauge shows a completion at once rather than at the next count.
                    last_count = None;
                }
                idle
            }
            Err(error) => {
                tracing::warn!(%error, "decision completion pass failed");
                idle.max(Duration::from_secs(1))
            }
        };
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("decision completion worker stopped");
}

/// How often the `eligibility_decisions{state}` gauge is recounted.
const COUNT_EVERY: Duration = Duration::from_secs(15);

/// Sets `eligibility_decisions{state}`: counted from the table rather than from the changes,
/// so it is right whatever transactions rolled back and however many instances run.
async fn count_by_state(pool: &PgPool) {
    let counted: Result<Vec<(String, i64)>, sqlx::Error> =
        sqlx::query_as("SELECT state, count(*) FROM decisions GROUP BY state")
            .fetch_all(pool)
            .await;
    match counted {
        Ok(rows) => {
            for state in ["active", "suspended", "terminated", "completed"] {
                let count = rows
                    .iter()
                    .find(|(name, _)| name == state)
                    .map_or(0, |(_, count)| *count);
                metrics::gauge!("eligibility_decisions", "state" => state).set(count as f64);
            }
        }
        Err(error) => tracing::debug!(%error, "decisions not counted by state"),
    }
}

async fn pass(
    pool: &PgPool,
    clock: &SharedClock,
    batch_size: i64,
) -> Result<usize, LifecycleError> {
    let mut tx = pool.begin().await?;
    let completed =
        lifecycle::complete_ended(&mut tx, clock.now(), clock.today(), batch_size).await?;
    tx.commit().await?;
    Ok(completed)
}
