//! Consumer lag: for each assigned partition, the messages the group has not finished yet,
//! published as the `consumer_lag` gauge.
//!
//! "Finished" means applied and stored by the loop, not merely fetched: librdkafka prefetches
//! far ahead of the handler, so its fetch position would hide a handler that is stuck.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use rdkafka::{
    Offset,
    consumer::{Consumer, StreamConsumer},
};
use tokio_util::sync::CancellationToken;

/// How long one broker question (watermarks, committed offsets) may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// The next offset to process per (broker topic, partition), as the loop finishes messages.
#[derive(Clone, Default)]
pub(crate) struct Progress(Arc<Mutex<HashMap<(String, i32), i64>>>);

impl Progress {
    /// Notes that the message at `offset` is done, so `offset + 1` is the next one.
    pub(crate) fn finished(&self, topic: &str, partition: i32, offset: i64) {
        let mut next = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = next.entry((topic.to_owned(), partition)).or_insert(0);
        *entry = (*entry).max(offset + 1);
    }

    fn next(&self, topic: &str, partition: i32) -> Option<i64> {
        let next = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        next.get(&(topic.to_owned(), partition)).copied()
    }
}

/// What the gauge needs besides the consumer.
pub(crate) struct LagReporter {
    pub(crate) consumer: Arc<StreamConsumer>,
    pub(crate) progress: Progress,
    pub(crate) group: String,
    pub(crate) topic_prefix: String,
    pub(crate) interval: Duration,
}

/// One partition's lag.
struct PartitionLag {
    topic: String,
    partition: i32,
    lag: i64,
}

impl LagReporter {
    /// Refreshes the gauge every interval until `stop` is cancelled.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let reporter = Arc::new(self);
        // Partitions reported before: one this instance lost reads 0 here, not a stale figure.
        let mut reported: Vec<(String, i32)> = Vec::new();
        loop {
            let measuring = Arc::clone(&reporter);
            // The broker questions block, so they run off the async workers.
            match tokio::task::spawn_blocking(move || measuring.measure()).await {
                Ok(lags) => {
                    for (topic, partition) in &reported {
                        let still_assigned = lags
                            .iter()
                            .any(|lag| &lag.topic == topic && lag.partition == *partition);
                        if !still_assigned {
                            reporter.publish(topic, *partition, 0);
                        }
                    }
                    reported.clear();
                    for lag in lags {
                        reporter.publish(&lag.topic, lag.partition, lag.lag);
                        reported.push((lag.topic, lag.partition));
                    }
                }
                Err(error) => tracing::warn!(%error, "consumer lag not measured"),
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(reporter.interval) => {}
            }
        }
    }

    fn publish(&self, topic: &str, partition: i32, lag: i64) {
        // Handlers and dashboards speak of logical topics; only the broker knows the prefix.
        let logical = topic
            .strip_prefix(self.topic_prefix.as_str())
            .unwrap_or(topic);
        metrics::gauge!(
            "consumer_lag",
            "topic" => logical.to_owned(),
            "partition" => partition.to_string(),
            "group" => self.group.clone(),
        )
        .set(lag as f64);
    }

    /// The lag of every partition assigned to this consumer right now.
    fn measure(&self) -> Vec<PartitionLag> {
        let assignment = match self.consumer.assignment() {
            Ok(assignment) => assignment,
            Err(error) => {
                tracing::debug!(%error, "no partition assignment to measure lag on");
                return Vec::new();
            }
        };
        // What an earlier instance of the group finished before this one took over.
        let committed = self
            .consumer
            .committed_offsets(assignment.clone(), BROKER_TIMEOUT)
            .ok();
        let mut lags = Vec::new();
        for element in assignment.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let (low, high) = match self
                .consumer
                .fetch_watermarks(topic, partition, BROKER_TIMEOUT)
            {
                Ok(watermarks) => watermarks,
                Err(error) => {
                    tracing::debug!(%error, topic, partition, "watermarks unavailable");
                    continue;
                }
            };
            let committed = committed
                .as_ref()
                .and_then(|list| list.find_partition(topic, partition))
                .and_then(|element| match element.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                });
            let next = match (self.progress.next(topic, partition), committed) {
                (Some(done), Some(committed)) => done.max(committed),
                (Some(next), None) | (None, Some(next)) => next,
                // Nothing finished by anyone yet: the group starts at the earliest message.
                (None, None) => low,
            };
            lags.push(PartitionLag {
                topic: topic.to_owned(),
                partition,
                lag: (high - next.max(low)).max(0),
            });
        }
        lags
    }
}
