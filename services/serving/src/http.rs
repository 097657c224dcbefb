//! The plain-HTTP side of a service: `/metrics` for Prometheus and `/health` for load
//! balancers and the local stack's start script.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use axum::{Router, http::StatusCode, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The process-wide Prometheus recorder; `metrics` allows one per process.
fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match recorder().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
}

/// Durations, by convention named `*_seconds`, are histograms with buckets from a few
/// milliseconds (one scan) to the ten minutes within which a month's money should have left,
/// so Prometheus can compute percentiles across instances.
const SECONDS_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

fn recorder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        // Refused only for an empty bucket list, which the constant is not.
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "duration buckets refused; durations export as summaries");
            PrometheusBuilder::new()
        })
}

pub(crate) async fn serve(listener: TcpListener, ready: Arc<AtomicBool>, stop: CancellationToken) {
    let handle = prometheus();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || async move {
                match handle {
                    Some(handle) => (StatusCode::OK, handle.render()),
                    None => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
                }
            }),
        )
        .route(
            "/health",
            get(move || async move {
                if ready.load(Ordering::SeqCst) {
                    (StatusCode::OK, "SERVING")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "NOT_SERVING")
                }
            }),
        );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "http server failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_exported_as_a_histogram_with_buckets() {
        let recorder = recorder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("scan_to_instruction_seconds").record(0.3);
        });

        let text = handle.render();

        assert!(
            text.contains("scan_to_instruction_seconds_bucket{le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("scan_to_instruction_seconds_bucket{le=\"0.25\"} 0"),
            "{text}"
        );
    }
}
