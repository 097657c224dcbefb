use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use settings::SettingsError;

/// How a service reaches Kafka, the `[kafka]` section of its configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma-separated.
    pub brokers: String,
    /// The consumer group; one per service, so instances share the partitions.
    pub group_id: String,
    /// The client id shown in broker logs.
    pub client_id: String,
    /// Messages a consumer applies in one database transaction, at most; a batch is only
    /// what the broker has already delivered, so a lone message never waits for company.
    pub batch_size: usize,
    /// Put in front of every topic name on the broker (the code and the outbox use the
    /// logical names); lets several systems, or several tests, share one cluster.
    pub topic_prefix: String,
    /// Extra librdkafka properties (security, tuning); applied last, so they win. An
    /// underscore stands for a dot, so `KAFKA__PROPERTIES__SECURITY_PROTOCOL` can be set from
    /// the environment (librdkafka names have no underscores).
    pub properties: BTreeMap<String, String>,
    /// How often a consumer refreshes its `consumer_lag` gauge, in milliseconds; each
    /// refresh asks the broker for the watermarks of every assigned partition.
    pub lag_interval_ms: u64,
}

impl KafkaSettings {
    /// The local stack's settings for `service`.
    pub fn local(service: &str) -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: service.into(),
            client_id: service.into(),
            batch_size: 256,
            topic_prefix: String::new(),
            properties: BTreeMap::new(),
            lag_interval_ms: 5_000,
        }
    }

    /// Checks the values that would otherwise fail later and less clearly.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self
            .brokers
            .split(',')
            .all(|broker| broker.trim().is_empty())
        {
            return Err(SettingsError::invalid(
                "kafka.brokers",
                "must name a broker",
            ));
        }
        if self.batch_size == 0 {
            return Err(SettingsError::invalid(
                "kafka.batch_size",
                "must be at least 1",
            ));
        }
        if self.lag_interval_ms == 0 {
            return Err(SettingsError::invalid(
                "kafka.lag_interval_ms",
                "must be at least 1",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(SettingsError::invalid(
                "kafka.group_id",
                "must not be empty",
            ));
        }
        Ok(())
    }

    /// The broker's name for the logical topic `name`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }

    /// A client configuration with the brokers, client id and extra properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        self.apply_properties(&mut config);
        config
    }

    /// Sets the operator's extra properties on `config`, over whatever it holds.
    pub fn apply_properties(&self, config: &mut ClientConfig) {
        for (key, value) in &self.properties {
            config.set(key.replace('_', "."), value);
        }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self::local("benefit")
    }
}
