//! One trace from a gRPC call, through the outbox and Kafka, into the consumer that handles
//! the event — the path a kiosk scan takes on its way to the bank.

use std::time::Duration;

use contracts::eligibility::v1::{
    DecisionEvent, GetDecisionRequest, GetDecisionResponse,
    eligibility_service_client::EligibilityServiceClient,
    eligibility_service_server::{EligibilityService, EligibilityServiceServer},
};
use contracts::topics;
use messaging::{Handler, HandlerError, Inbound, OutboxEvent, RelaySettings};
use rdkafka::message::{Headers, Message};
use serving::{Infrastructure, Server, ServerSettings, Workload};
use sqlx::{PgConnection, PgPool};
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings, read_topic};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, server::NamedService, service::Routes};
use tracing::Instrument;
use uuid::Uuid;

/// A gRPC service whose call announces an event through the outbox, as every state-changing
/// RPC of the four services does.
struct Announcing {
    pool: PgPool,
    topic: String,
}

#[tonic::async_trait]
impl EligibilityService for Announcing {
    async fn get_decision(
        &self,
        request: Request<GetDecisionRequest>,
    ) -> Result<Response<GetDecisionResponse>, Status> {
        let decision_id = request.into_inner().decision_id;
        let event = OutboxEvent::new(
            Uuid::new_v4(),
            &self.topic,
            &decision_id,
            &DecisionEvent::default(),
        );
        let mut tx = self.pool.begin().await.map_err(serving::ApiError::from)?;
        messaging::enqueue(&mut tx, &event)
            .await
            .map_err(serving::ApiError::from)?;
        tx.commit().await.map_err(serving::ApiError::from)?;
        Ok(Response::new(GetDecisionResponse::default()))
    }
}

/// Records the trace id of the span it runs in.
struct RecordTrace;

impl Handler for RecordTrace {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        _message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        let trace_id = telemetry::trace_id(&tracing::Span::current());
        sqlx::query("INSERT INTO seen_traces (trace_id) VALUES ($1)")
            .bind(trace_id)
            .execute(tx)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_trace_of_a_grpc_call_reaches_the_kafka_header_and_the_consumer_span()
-> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = database.pool("eligibility").await?;
    sqlx::query("CREATE TABLE seen_traces (trace_id TEXT)")
        .execute(&pool)
        .await?;
    // The services name topics logically; the test's prefix keeps them apart on the broker.
    let test_topics = TestTopics::create(&[topics::DECISIONS], 2).await?;
    let topic = topics::DECISIONS.to_owned();
    let mut kafka = kafka_settings("eligibility");
    kafka.topic_prefix = test_topics.prefix().to_owned();
    let infrastructure = Infrastructure {
        pool: pool.clone(),
        producer: messaging::idempotent_producer(&kafka)?,
        topic_prefix: kafka.topic_prefix.clone(),
    };
    let workload = Workload {
        routes: Routes::new(EligibilityServiceServer::new(Announcing {
            pool: pool.clone(),
            topic: topic.clone(),
        })),
        service_names: vec![<EligibilityServiceServer<Announcing> as NamedService>::NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![infrastructure.consumer(&kafka, &[topic.as_str()], RecordTrace)?],
        relay: Some(infrastructure.relay(&RelaySettings::default())),
    };
    let server = Server::bind(&ServerSettings::local(0, 0)).await?;
    let address = server.grpc_address();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(workload, shutdown.clone()));

    let kiosk_scan = tracing::info_span!("kiosk scan");
    let expected = telemetry::trace_id(&kiosk_scan).expect("the kiosk span has a trace id");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let mut client =
        EligibilityServiceClient::with_interceptor(channel, telemetry::inject_into_grpc_request);
    client
        .get_decision(GetDecisionRequest {
            decision_id: "decision-1".into(),
        })
        .instrument(kiosk_scan)
        .await?;

    let records = read_topic(
        &test_topics.name(topics::DECISIONS),
        1,
        Duration::from_secs(20),
    )
    .await?;
    let traceparent = records[0]
        .headers()
        .and_then(|headers| headers.iter().find(|header| header.key == "traceparent"))
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .expect("the record carries a traceparent header");
    assert_eq!(traceparent.split('-').nth(1), Some(expected.as_str()));

    let consumed = eventually(Duration::from_secs(20), || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM seen_traces")
            .fetch_one(&pool)
            .await?;
        Ok(count == 1)
    })
    .await?;
    assert!(consumed, "the consumer handled the event");
    let seen: Option<String> = sqlx::query_scalar("SELECT trace_id FROM seen_traces")
        .fetch_one(&pool)
        .await?;
    assert_eq!(seen.as_deref(), Some(expected.as_str()));

    shutdown.cancel();
    running.await??;
    Ok(())
}
