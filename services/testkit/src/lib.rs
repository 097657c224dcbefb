//! The test harness every integration test uses: a fresh database provisioned like the real
//! one (one role and schema per service) on the real PostgreSQL, and fresh topics on the
//! real broker. Each test gets its own, so tests run in parallel without seeing each other.
//!
//! The servers come from `TEST_DATABASE_ADMIN_URL` and `TEST_KAFKA_BROKERS`, which the
//! test command exports; without them the local stack's addresses are used.

use std::time::Duration;

use anyhow::{Context, bail};
use database::DatabaseSettings;
use messaging::KafkaSettings;
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
    message::OwnedMessage,
};
use sqlx::{Connection, Executor, PgConnection, PgPool, postgres::PgConnectOptions};
use uuid::Uuid;

/// The services whose roles the harness provisions.
pub const SERVICES: [&str; 4] = ["eligibility", "checkin", "payroll", "transfer"];

/// The superuser URL of the test PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:54329/postgres".into())
}

/// The test broker's bootstrap servers.
pub fn brokers() -> String {
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A database of its own for one test, with every service's role and schema.
pub struct TestDatabase {
    /// The database name.
    pub name: String,
    admin: PgConnectOptions,
}

impl TestDatabase {
    /// Creates the database and provisions it as the local stack provisions `benefit`.
    pub async fn create() -> anyhow::Result<Self> {
        telemetry::init_for_tests();
        let admin: PgConnectOptions = admin_url().parse().context("TEST_DATABASE_ADMIN_URL")?;
        let mut server = PgConnection::connect_with(&admin)
            .await
            .context("test PostgreSQL unreachable; start it with deploy/local/up.sh")?;
        // Roles are cluster-wide; the lock keeps parallel tests from racing to create them.
        server.execute("SELECT pg_advisory_lock(727001)").await?;
        for service in SERVICES {
            server
                .execute(
                    format!(
                        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{service}') \
                         THEN CREATE ROLE {service} LOGIN PASSWORD '{service}'; END IF; END $$"
                    )
                    .as_str(),
                )
                .await?;
        }
        server.execute("SELECT pg_advisory_unlock(727001)").await?;
        let name = format!("test_{}", Uuid::new_v4().simple());
        server
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        server.close().await?;

        let database = Self { name, admin };
        let mut conn = database.admin_connection().await?;
        conn.execute(
            format!(
                "REVOKE ALL ON SCHEMA public FROM PUBLIC; \
                 REVOKE CONNECT, TEMPORARY ON DATABASE {name} FROM PUBLIC",
                name = database.name
            )
            .as_str(),
        )
        .await?;
        for service in SERVICES {
            conn.execute(
                format!(
                    "GRANT CONNECT ON DATABASE {name} TO {service}; \
                     CREATE SCHEMA {service} AUTHORIZATION {service}",
                    name = database.name
                )
                .as_str(),
            )
            .await?;
        }
        conn.close().await?;
        Ok(database)
    }

    /// A superuser connection to this database, for arranging and inspecting.
    pub async fn admin_connection(&self) -> anyhow::Result<PgConnection> {
        Ok(PgConnection::connect_with(&self.admin.clone().database(&self.name)).await?)
    }

    /// How `service` reaches this database: its own role, pinned to its own schema.
    pub fn settings(&self, service: &str) -> DatabaseSettings {
        DatabaseSettings {
            host: self.admin.get_host().to_owned(),
            port: self.admin.get_port(),
            name: self.name.clone(),
            password: settings::Secret::new(service),
            max_connections: 8,
            ..DatabaseSettings::local(service)
        }
    }

    /// A pool connected as `service`, with the shared messaging tables migrated.
    pub async fn pool(&self, service: &str) -> anyhow::Result<PgPool> {
        let pool = database::connect(&self.settings(service)).await?;
        database::migrate(&pool, &[&messaging::MIGRATOR]).await?;
        Ok(pool)
    }
}

/// A test's database is dropped when the test ends, so a run of hundreds of tests does not
/// fill the disk with hundreds of databases. A failed test keeps its database for inspection.
impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let admin = self.admin.clone();
        // FORCE ends the connections the test's pools and services still hold.
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await, and the test's runtime may be the one calling it: a short-lived
        // runtime on its own thread does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut server = PgConnection::connect_with(&admin).await?;
                server.execute(statement.as_str()).await?;
                server.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            tracing::warn!(database = %self.name, %error, "test database not dropped");
        }
    }
}

/// Topics of one test: each name gets a unique prefix, and its dead-letter topic is created
/// with it.
pub struct TestTopics {
    prefix: String,
}

impl TestTopics {
    /// Creates `names` (and `<name>.dlq`) with `partitions` partitions.
    pub async fn create(names: &[&str], partitions: i32) -> anyhow::Result<Self> {
        let topics = Self {
            prefix: format!("t{}.", Uuid::new_v4().simple()),
        };
        let mut all = Vec::new();
        for name in names {
            all.push(topics.name(name));
            all.push(messaging::dead_letter_topic(&topics.name(name)));
        }
        let specs: Vec<(&str, i32)> = all.iter().map(|name| (name.as_str(), partitions)).collect();
        messaging::admin::ensure_topics(&brokers(), &specs).await?;
        Ok(topics)
    }

    /// The broker's name for the test's topic `name`.
    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The prefix to put in `KafkaSettings::topic_prefix`, so a service under test uses
    /// this test's topics under their usual names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// Kafka settings for consumer group `group` on the test broker.
pub fn kafka_settings(group: &str) -> KafkaSettings {
    KafkaSettings {
        brokers: brokers(),
        group_id: format!("{group}-{}", Uuid::new_v4().simple()),
        ..KafkaSettings::local(group)
    }
}

/// Reads `topic` from the beginning until `count` messages arrived or `within` passed.
pub async fn read_topic(
    topic: &str,
    count: usize,
    within: Duration,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let consumer: StreamConsumer = kafka_settings("reader")
        .client_config()
        .set("group.id", format!("reader-{}", Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while messages.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(error)) => bail!("reading {topic}: {error}"),
            Err(_) => break,
        }
    }
    Ok(messages)
}

/// Polls `check` every 50 ms until it returns true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key of `message` as text, for assertions.
pub fn key_of(message: &OwnedMessage) -> Option<String> {
    message
        .key()
        .map(|key| String::from_utf8_lossy(key).into_owned())
}

/// The Prometheus text a service serves on `http` (its HTTP address), for asserting metrics.
pub async fn scrape_metrics(http: std::net::SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

/// The value of one series in the Prometheus text `metrics`: the sample whose name and labels,
/// as printed, are exactly `series`.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
