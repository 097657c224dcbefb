//! The worker that publishes a missed check-in for every benefit month whose window closed
//! without one (Decree 374 art. 21: no check-in in a month suspends it). Driven by the
//! injected clock, so a test can close a window by moving time.

use std::time::Duration;

use clock::SharedClock;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::MissedSettings;
use crate::domain::window::vietnam_date;
use crate::store;

/// Settles closed windows until `stop` is cancelled.
pub async fn run(
    pool: PgPool,
    clock: SharedClock,
    settings: MissedSettings,
    stop: CancellationToken,
) {
    tracing::info!("missed check-in worker started");
    let idle = Duration::from_millis(settings.poll_interval_ms);
    while !stop.is_cancelled() {
        let now = clock.now();
        let pause =
            match store::settle_missed(&pool, vietnam_date(now), now, settings.batch_size).await {
                Ok(settled) if settled as i64 >= settings.batch_size => {
                    tracing::info!(settled, "missed check-ins published");
                    continue;
                }
                Ok(settled) => {
                    if settled > 0 {
                        tracing::info!(settled, "missed check-ins published");
                    }
                    idle
                }
                Err(error) => {
                    tracing::warn!(%error, "missed check-in pass failed");
                    idle.max(Duration::from_secs(1))
                }
            };
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("missed check-in worker stopped");
}
