//! One kiosk scan, one trace: the services export their spans over the real OTLP/gRPC
//! protocol to a collector run by this test, and the trace of the scan must run from checkin
//! through payroll and transfer to the bank simulator and back, every span attached to it,
//! with none of the beneficiary's personal data in any attribute.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use contracts::{checkin::v1::ScanOutcome, topics};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};
use system_tests::{BANK, CARD, System, an, hex, morning_of};
use telemetry::TelemetrySettings;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// An OTLP trace receiver: keeps every span it is sent, with its resource's service name.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .map(|attribute| text(attribute.value.as_ref()))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Listens on a free local port until `stop`.
    async fn start(&self, stop: CancellationToken) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                stop.cancelled_owned(),
            );
        tokio::spawn(server);
        Ok(address)
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// An attribute value as text, whatever its type.
fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::BytesValue(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Some(Value::ArrayValue(array)) => array
            .values
            .iter()
            .map(|value| text(Some(value)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::KvlistValue(list)) => list
            .values
            .iter()
            .map(|pair| format!("{}={}", pair.key, text(pair.value.as_ref())))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
}

/// A span the trace of a payment must hold.
struct Hop {
    /// Who runs it, for the failure message.
    what: &'static str,
    kind: SpanKind,
    /// The topic it sends to or processes (logical name), or the RPC it serves.
    name_ends_with: String,
    /// For consumer spans: the consumer group's service, the prefix of its group id.
    group: Option<&'static str>,
}

impl Hop {
    fn matches(&self, span: &Span) -> bool {
        let group_matches = match self.group {
            None => true,
            Some(service) => attribute(&span.attributes, "messaging.consumer.group.name")
                .is_some_and(|group| text(Some(group)).starts_with(&format!("{service}-"))),
        };
        span.kind == self.kind as i32 && span.name.ends_with(&self.name_ends_with) && group_matches
    }
}

fn hop(
    what: &'static str,
    kind: SpanKind,
    name_ends_with: impl Into<String>,
    group: Option<&'static str>,
) -> Hop {
    Hop {
        what,
        kind,
        name_ends_with: name_ends_with.into(),
        group,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_scan_is_one_trace_from_the_kiosk_to_the_bank_and_back_without_personal_data()
-> anyhow::Result<()> {
    // Arrange: the collector first, so every span of the system reaches it.
    let collector = Collector::default();
    let collector_stop = CancellationToken::new();
    let address = collector.start(collector_stop.clone()).await?;
    let telemetry = telemetry::init(
        "benefit",
        &TelemetrySettings {
            filter: "warn".into(),
            otlp_endpoint: Some(format!("http://{address}")),
            ..TelemetrySettings::default()
        },
    )?;
    let mut system = System::start(morning_of(2026, 3, 16)).await?;
    let ready = system.prepare_first_check_in().await?;

    // Act: one scan at the kiosk, followed until payroll learns the bank credited it.
    let scan = system.scan(&ready.kiosk_credential, &ready.token).await?;
    anyhow::ensure!(
        scan.outcome() == ScanOutcome::Accepted,
        "the scan was not accepted: {scan:?}"
    );
    system.follow_check_in_to_payment().await?;
    // Eligibility reads the same outcome on its own; its span must exist before the flush.
    let following = &system;
    anyhow::ensure!(
        testkit::eventually(Duration::from_secs(30), || async move {
            following
                .caught_up("eligibility", topics::TRANSFER_OUTCOMES)
                .await
        })
        .await?,
        "eligibility never read the transfer's outcome"
    );
    // Dropping the system stops every service.
    drop(system);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Shutting down flushes the batch exporter; it blocks, so off the async workers.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    collector_stop.cancel();
    let spans = collector.spans();

    // Assert: the scan's server span roots one trace.
    let scan_spans: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.name == "benefit.checkin.v1.CheckinService/Scan")
        .collect();
    assert_eq!(scan_spans.len(), 1, "one scan, one server span");
    let scan_span = scan_spans[0];
    assert!(
        scan_span.parent_span_id.is_empty(),
        "the kiosk sent no trace context, so the scan starts the trace"
    );
    let trace_id = scan_span.trace_id.clone();
    let trace: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.trace_id == trace_id)
        .collect();

    let bank_transfers = topics::bank_transfers(BANK);
    let hops = [
        hop(
            "checkin publishes the check-in",
            SpanKind::Producer,
            topics::CHECKIN_SCANS,
            None,
        ),
        hop(
            "payroll applies the check-in",
            SpanKind::Consumer,
            topics::CHECKIN_SCANS,
            Some("payroll"),
        ),
        hop(
            "transfer instructs the bank",
            SpanKind::Producer,
            bank_transfers.clone(),
            None,
        ),
        hop(
            "the bank simulator takes the instruction",
            SpanKind::Consumer,
            bank_transfers.clone(),
            None,
        ),
        hop(
            "the bank simulator answers",
            SpanKind::Producer,
            topics::BANK_RESULTS,
            None,
        ),
        hop(
            "transfer applies the bank's answer",
            SpanKind::Consumer,
            topics::BANK_RESULTS,
            Some("transfer"),
        ),
        hop(
            "payroll applies the transfer's outcome",
            SpanKind::Consumer,
            topics::TRANSFER_OUTCOMES,
            Some("payroll"),
        ),
        hop(
            "eligibility reads the transfer's outcome",
            SpanKind::Consumer,
            topics::TRANSFER_OUTCOMES,
            Some("eligibility"),
        ),
    ];
    let mut missing = Vec::new();
    for hop in &hops {
        if trace.iter().any(|span| hop.matches(span)) {
            continue;
        }
        // Where the hop went instead, so a broken link is easy to find.
        let elsewhere: BTreeSet<String> = spans
            .iter()
            .map(|(_, span)| span)
            .filter(|span| hop.matches(span))
            .map(|span| format!("{} in trace {}", span.name, hex(&span.trace_id)))
            .collect();
        missing.push(format!("{}: found {elsewhere:?}", hop.what));
    }
    // Every finding is gathered first, so one run shows every broken link and every leak.
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "the scan's trace {} lacks hops:\n{}",
            hex(&trace_id),
            missing.join("\n")
        ));
    }

    // Every span of the trace hangs from another span of it: one tree, rooted at the scan.
    let ids: BTreeSet<&[u8]> = trace.iter().map(|span| span.span_id.as_slice()).collect();
    let detached: Vec<&str> = trace
        .iter()
        .filter(|span| span.span_id != scan_span.span_id)
        .filter(|span| !ids.contains(span.parent_span_id.as_slice()))
        .map(|span| span.name.as_str())
        .collect();
    if !detached.is_empty() {
        problems.push(format!(
            "spans of the scan's trace whose parent is not in it: {detached:?}"
        ));
    }

    // Log lines travel as span events, so the scan below reads them too.
    let logged = trace
        .iter()
        .flat_map(|span| &span.events)
        .any(|event| event.name == "check-in recorded");
    if !logged {
        problems.push("checkin's \"check-in recorded\" log line is not in the trace".into());
    }

    // No personal data anywhere: span names, attributes, events (log lines) and links.
    let person = an();
    let personal = [
        person.full_name.clone(),
        "NGUYEN VAN AN".to_owned(),
        person.citizen_id.clone(),
        person.legacy_id.clone(),
        person.social_insurance_number.clone(),
        CARD.to_owned(),
    ];
    let mut leaks: BTreeMap<String, String> = BTreeMap::new();
    for (service, span) in &spans {
        let mut texts = vec![(String::from("name"), span.name.clone())];
        let attributes = span
            .attributes
            .iter()
            .chain(span.events.iter().flat_map(|event| &event.attributes))
            .chain(span.links.iter().flat_map(|link| &link.attributes));
        for attribute in attributes {
            texts.push((attribute.key.clone(), text(attribute.value.as_ref())));
        }
        for (key, value) in texts {
            let upper = value.to_uppercase();
            if personal
                .iter()
                .any(|secret| value.contains(secret.as_str()) || upper.contains(secret.as_str()))
            {
                leaks.insert(format!("{service} / {} / {key}", span.name), value);
            }
        }
    }
    if !leaks.is_empty() {
        problems.push(format!("personal data in spans: {leaks:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    Ok(())
}
