//! W3C `traceparent`/`tracestate` carried as plain key-value pairs, so the same code serves
//! gRPC metadata, Kafka record headers and the outbox table.

use std::collections::HashMap;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
    trace::TraceContextExt,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct Pairs<'a>(&'a mut Vec<(String, String)>);

impl Injector for Pairs<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

struct Lookup<'a>(&'a HashMap<String, String>);

impl Extractor for Lookup<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The trace-context headers (`traceparent`, and `tracestate` when set) that make `span` the
/// parent of whatever receives them.
pub fn headers_for_span(span: &tracing::Span) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut Pairs(&mut headers));
    });
    headers
}

/// The remote parent context described by trace-context headers; an empty context when
/// there are none or they do not parse, so a bad header never fails a request.
pub fn context_from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Context {
    let map: HashMap<String, String> = headers
        .into_iter()
        .map(|(key, value)| (key.to_ascii_lowercase(), value.to_owned()))
        .collect();
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&Lookup(&map)))
}

/// The hex trace id of `span`, or `None` when it has no valid OpenTelemetry context.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    span_ids(span).map(|(trace, _)| trace)
}

/// The hex trace and span ids of `span`, when it has a valid OpenTelemetry context.
pub fn span_ids(span: &tracing::Span) -> Option<(String, String)> {
    let context = span.context();
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_s_headers_carry_its_trace_id_to_the_receiver() {
        crate::init_for_tests();
        let sender = tracing::info_span!("sender");
        let headers = headers_for_span(&sender);

        let receiver = tracing::info_span!("receiver");
        receiver
            .set_parent(context_from_headers(
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ))
            .unwrap();

        assert!(headers.iter().any(|(key, _)| key == "traceparent"));
        assert_eq!(trace_id(&receiver), trace_id(&sender));
        assert!(trace_id(&sender).is_some());
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace_instead_of_failing() {
        crate::init_for_tests();
        let receiver = tracing::info_span!("receiver");
        receiver
            .set_parent(context_from_headers([("traceparent", "not-a-trace")]))
            .unwrap();

        assert!(trace_id(&receiver).is_some());
    }
}
