//! The plain-HTTP side of a service: `/metrics` for Prometheus and `/health` for load
//! balancers and the local stack's start script.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use axum::{Router, http::StatusCode, routing::get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The process-wide Prometheus recorder; `metrics` allows one per process.
fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
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
