use rdkafka::{error::KafkaError, producer::FutureProducer};

use crate::KafkaSettings;

/// A producer whose retries never duplicate or reorder records within a partition.
pub fn idempotent_producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    let mut config = settings.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    // The operator's own properties win over these defaults too.
    settings.apply_properties(&mut config);
    config.create()
}
