//! The foundation every service stands on, checked on the real PostgreSQL and broker: each
//! service starts healthy and stops cleanly, and each service's role is fenced into its own
//! schema.

use std::{net::SocketAddr, time::Duration};

use contracts::topics;
use serving::ServerSettings;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use testkit::{SERVICES, TestDatabase, TestTopics, kafka_settings};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The status line and body of a plain HTTP/1.0 GET.
async fn http_get(address: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

async fn grpc_health(address: SocketAddr, service: &str) -> anyhow::Result<i32> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let mut client = HealthClient::new(channel);
    let reply = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

/// The system's topics, under a prefix of this test's own.
async fn system_topics() -> anyhow::Result<TestTopics> {
    TestTopics::create(
        &[
            topics::CONTRIBUTIONS,
            topics::DECISIONS,
            topics::CHECKIN_SCANS,
            topics::PAYMENT_LISTS,
            topics::BANK_RESULTS,
            topics::TRANSFER_OUTCOMES,
        ],
        2,
    )
    .await
}

macro_rules! check_service_lifecycle {
    ($service:ident, $grpc_name:expr) => {{
        let database = TestDatabase::create().await?;
        let topics = system_topics().await?;
        let mut config = $service::Config::default();
        config.base.database = database.settings($service::SERVICE);
        config.base.kafka = kafka_settings($service::SERVICE);
        config.base.kafka.topic_prefix = topics.prefix().to_owned();
        config.base.server = ServerSettings::local(0, 0);
        let app = $service::build(config, clock::system()).await?;
        let (grpc, http) = (app.grpc_address(), app.http_address());
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));

        let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
        assert_eq!(
            grpc_health(grpc, $grpc_name).await?,
            serving,
            "{}",
            $grpc_name
        );
        assert!(http_get(http, "/health").await?.starts_with("HTTP/1.0 200"));
        let metrics = http_get(http, "/metrics").await?;
        assert!(metrics.starts_with("HTTP/1.0 200"), "{metrics}");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), running).await???;
        assert!(TcpStream::connect(grpc).await.is_err(), "gRPC port closed");
    }};
}

#[tokio::test]
async fn every_service_starts_healthy_and_stops_cleanly() -> anyhow::Result<()> {
    check_service_lifecycle!(eligibility, "benefit.eligibility.v1.EligibilityService");
    check_service_lifecycle!(checkin, "benefit.checkin.v1.CheckinService");
    check_service_lifecycle!(payroll, "benefit.payroll.v1.PayrollService");
    check_service_lifecycle!(transfer, "benefit.transfer.v1.TransferService");
    Ok(())
}

#[tokio::test]
async fn each_service_role_is_denied_every_other_schema() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    for service in SERVICES {
        // Creates the service's tables in its own schema, as its role.
        database.pool(service).await?.close().await;
    }

    for service in SERVICES {
        let settings = database.settings(service);
        let options = PgConnectOptions::new()
            .host(&settings.host)
            .port(settings.port)
            .database(&settings.name)
            .username(service)
            .password(service);
        let mut conn = PgConnection::connect_with(&options).await?;
        let own: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {service}.outbox"))
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(own, 0);

        for other in SERVICES.iter().filter(|other| **other != service) {
            for statement in [
                format!("SELECT count(*) FROM {other}.outbox"),
                format!(
                    "INSERT INTO {other}.inbox (consumer_group, message_id, topic, outcome) VALUES ('x', 'y', 'z', 'processed')"
                ),
                format!("CREATE TABLE {other}.intruder (id INT)"),
            ] {
                let error = sqlx::query(&statement)
                    .execute(&mut conn)
                    .await
                    .expect_err(&format!("{service} must not run: {statement}"));
                let code = error
                    .as_database_error()
                    .and_then(|db| db.code())
                    .map(|code| code.into_owned());
                assert_eq!(
                    code.as_deref(),
                    Some("42501"),
                    "{service}: {statement}: {error}"
                );
            }
        }
        let public = sqlx::query("CREATE TABLE public.intruder (id INT)")
            .execute(&mut conn)
            .await;
        assert!(
            public.is_err(),
            "{service} must not create tables in public"
        );
    }
    Ok(())
}
