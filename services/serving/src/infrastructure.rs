//! The connections a service opens at start, and the workers built on them.

use messaging::{ConsumerLoop, Handler, KafkaSettings, Relay, RelaySettings};
use rdkafka::producer::FutureProducer;
use sqlx::{PgPool, migrate::Migrator};

use crate::{BaseConfig, ServeError, Worker, worker};

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A configuration value is unusable (caught at build when it was set in code).
    #[error(transparent)]
    Config(#[from] settings::SettingsError),
    /// The database could not be reached as the service's role.
    #[error("database unreachable: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A Kafka client could not be created.
    #[error("kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A port could not be bound.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// The service's pool (migrated) and its producer.
#[derive(Clone)]
pub struct Infrastructure {
    /// Pool connected as the service's role, pinned to its schema.
    pub pool: PgPool,
    /// Idempotent producer for the relay and dead letters.
    pub producer: FutureProducer,
    /// The broker's topic prefix (see `KafkaSettings::topic_prefix`).
    pub topic_prefix: String,
}

impl Infrastructure {
    /// Connects, applies the shared and the service's migrations, and creates the producer.
    pub async fn connect(
        config: &BaseConfig,
        migrator: Option<&Migrator>,
    ) -> Result<Self, StartupError> {
        let pool = database::connect(&config.database).await?;
        migrate(&pool, migrator).await?;
        let producer = messaging::idempotent_producer(&config.kafka)?;
        Ok(Self {
            pool,
            producer,
            topic_prefix: config.kafka.topic_prefix.clone(),
        })
    }

    /// The outbox relay as a worker.
    pub fn relay(&self, settings: &RelaySettings) -> Worker {
        let relay = Relay::new(self.pool.clone(), self.producer.clone(), settings.clone())
            .with_topic_prefix(&self.topic_prefix);
        worker(move |stop| relay.run(stop))
    }

    /// A consumer loop over `topics` as a worker.
    pub fn consumer<H: Handler>(
        &self,
        settings: &KafkaSettings,
        topics: &[&str],
        handler: H,
    ) -> Result<Worker, StartupError> {
        let consumer = ConsumerLoop::new(
            settings,
            topics,
            self.pool.clone(),
            self.producer.clone(),
            handler,
        )?;
        Ok(worker(move |stop| consumer.run(stop)))
    }
}

/// Applies the shared messaging migrations, then the service's own.
pub async fn migrate(pool: &PgPool, migrator: Option<&Migrator>) -> Result<(), StartupError> {
    let mut migrators = vec![&messaging::MIGRATOR];
    migrators.extend(migrator);
    database::migrate(pool, &migrators).await?;
    Ok(())
}
