//! Trace context over gRPC: a server span per call that continues the caller's trace, and a
//! client interceptor that sends the current span's context along.

use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::propagation::{context_from_headers, headers_for_span};

/// The server span for one gRPC call, named `package.Service/Method` as the OpenTelemetry
/// RPC conventions ask, and parented on the caller's `traceparent` when there is one.
///
/// Pass it to `tonic::transport::Server::builder().trace_fn(...)`.
pub fn server_span<B>(request: &http::Request<B>) -> tracing::Span {
    let path = request.uri().path().trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        otel.status_code = tracing::field::Empty,
    );
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    // A span that is filtered out cannot take a parent; the request goes on untraced.
    let _ = span.set_parent(context_from_headers(headers));
    span
}

/// A tonic client interceptor that puts the current span's `traceparent` into the metadata.
pub fn inject_into_grpc_request(
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    for (key, value) in headers_for_span(&tracing::Span::current()) {
        let key = tonic::metadata::MetadataKey::from_bytes(key.as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(value.as_str());
        if let (Ok(key), Ok(value)) = (key, value) {
            request.metadata_mut().insert(key, value);
        }
    }
    Ok(request)
}
