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
        trace_id = tracing::field::Empty,
    );
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    // A span that is filtered out cannot take a parent; the request goes on untraced.
    let _ = span.set_parent(context_from_headers(headers));
    crate::record_trace_id(&span);
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

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_json_log_line_inside_a_grpc_call_carries_the_caller_s_trace_id() {
        crate::init_for_tests();
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(captured.clone()),
            );
        let request = http::Request::builder()
            .uri("/benefit.checkin.v1.CheckinService/Scan")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(())
            .unwrap();

        tracing::subscriber::with_default(subscriber, || {
            server_span(&request).in_scope(|| tracing::info!("scan answered"));
        });

        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            output.contains(r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736""#),
            "{output}"
        );
    }
}
