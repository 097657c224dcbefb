//! Logs and traces for every service: a `tracing` subscriber (text or JSON), OpenTelemetry
//! spans exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace-context
//! propagation through gRPC metadata and Kafka record headers, so one trace runs from the
//! kiosk scan to the bank's answer.

mod grpc;
mod propagation;

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt,
};

pub use grpc::{inject_into_grpc_request, server_span};
pub use propagation::{context_from_headers, headers_for_span, span_ids, trace_id};
pub use tracing_opentelemetry::OpenTelemetrySpanExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for Loki and other collectors.
    Json,
}

/// Telemetry configuration, the `[telemetry]` section of every service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// Log line format.
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` wins when it is set.
    pub filter: String,
    /// Where spans go over OTLP/gRPC, e.g. `http://collector:4317`; when unset, the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables decide,
    /// and without them nothing is exported.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info,sqlx=warn,rdkafka=warn,h2=warn,tower=warn,hyper=warn".into(),
            otlp_endpoint: None,
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built from its environment variables.
    #[error("otlp exporter could not be built: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The filter directive does not parse.
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the tracer provider alive; flush it with [`Telemetry::shutdown`] before exit.
#[must_use = "dropping the guard early loses the spans still buffered"]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes buffered spans to the collector.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "telemetry did not flush cleanly");
        }
    }
}

/// Installs the global subscriber and trace-context propagator for `service`.
///
/// Spans always get real OpenTelemetry ids, so trace context propagates even when nothing is
/// exported; export starts when `settings.otlp_endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// set (OTLP over gRPC).
pub fn init(
    service: &'static str,
    settings: &TelemetrySettings,
) -> Result<Telemetry, TelemetryError> {
    let provider = tracer_provider(service, settings.otlp_endpoint.as_deref())?;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) => EnvFilter::try_new(directive)?,
        Err(_) => EnvFilter::try_new(&settings.filter)?,
    };
    // Spans reach OpenTelemetry at INFO whatever the log filter says, so quieting the logs
    // never breaks a trace.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    match settings.format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_filter(filter))
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_filter(filter),
            )
            .try_init()?,
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(Telemetry { provider })
}

/// Writes the span's trace id into its `trace_id` field (declared `Empty` by the caller), so
/// every log line inside it carries the id that opens its trace in Tempo.
pub fn record_trace_id(span: &tracing::Span) {
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id.as_str());
    }
}

/// Installs telemetry once per test process; later calls do nothing.
pub fn init_for_tests() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let settings = TelemetrySettings {
            filter: "warn".into(),
            ..TelemetrySettings::default()
        };
        // A test binary keeps its provider for its whole life, so the guard is leaked on
        // purpose; another test framework may have installed a subscriber already.
        if let Ok(telemetry) = init("test", &settings) {
            std::mem::forget(telemetry);
        }
    });
}

fn tracer_provider(
    service: &'static str,
    endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder().with_service_name(service).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    let exporter = match endpoint {
        Some(endpoint) => exporter.with_endpoint(endpoint).build()?,
        None => {
            let exporting = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
            if !exporting {
                return Ok(builder.build());
            }
            exporter.build()?
        }
    };
    Ok(builder.with_batch_exporter(exporter).build())
}
