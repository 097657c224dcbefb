//! A bank outside the system, for the local stack, tests and benchmarks, and the reference
//! for banks writing their own consumer.
//!
//! # Contract
//!
//! - Read `bank.<bank-id>.transfers.v1` (your 6-digit NAPAS id; the deployment may put a
//!   prefix in front of every topic name). Each record is a protobuf
//!   `benefit.bank.v1.TransferInstruction` keyed by its end-to-end id; the `event-id` header
//!   identifies the record and `traceparent` carries the trace; answer in that trace.
//! - The end-to-end id is the idempotency key: an instruction seen twice is one payment.
//! - Answer on `bank.results.v1` with a protobuf `benefit.bank.v1.BankResult` keyed by the
//!   same end-to-end id, with your bank id: `ACCC` once the beneficiary's account is credited
//!   (the only proof of payment), or `RJCT` with a reason code — `AC01`, `AC03`, `AC04`,
//!   `AC06`, `BE01` (wrong or unusable account: parked until corrected), `MD07` (beneficiary
//!   deceased), `AB05`/`AB06` (timeout: paid again under a new end-to-end id).
//!
//! Banks that take files get a pain.001.001.09 batch and answer with a pain.002.001.10 status
//! report naming each `OrgnlEndToEndId` with its `TxSts` and `StsRsnInf/Rsn/Cd`;
//! [`files::answer_pain_001`] does that here, and `bank-simulator answer-file <pain.001>
//! <pain.002>` runs it on a file.
//!
//! - Commit your consumer offset only once the answer is on `bank.results.v1` (at least
//!   once): an instruction read but not answered before a crash must be read again. Answering
//!   twice is harmless; transfer applies a status once.
//!
//! This simulator answers every instruction of its configured banks after a delay, with an
//! outcome drawn from configured shares. The draw depends only on the seed and the
//! end-to-end id, so the same seed gives the same outcomes whatever the order of arrival. It
//! stores an offset only after the answers to that instruction and to every one before it
//! were delivered, and serves `/health` and `/metrics` (`bank_simulator_answers_total`,
//! `bank_simulator_pending_answers`, `bank_simulator_delivery_failures_total`) on
//! `server.http_port`.

mod config;
pub mod files;

use std::time::Duration;

use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::common::v1::EventMeta;
use contracts::topics;
use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use messaging::{KafkaSettings, headers};
use prost::Message as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    message::{BorrowedMessage, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

pub use config::{Config, Shares, SimulatorSettings};

/// The name the simulator reads its configuration and logs under.
pub const SERVICE: &str = "bank_simulator";

/// What the simulated bank answers to one instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// ACCC: credited.
    Credited,
    /// RJCT with this reason code.
    Rejected(&'static str),
}

impl Answer {
    /// The ISO 20022 TxSts code of the answer.
    pub fn status_code(self) -> &'static str {
        match self {
            Answer::Credited => "ACCC",
            Answer::Rejected(_) => "RJCT",
        }
    }

    /// The ISO 20022 status and reason of the answer.
    pub fn status_and_reason(self) -> (TransactionStatus, &'static str) {
        match self {
            Answer::Credited => (TransactionStatus::Accc, ""),
            Answer::Rejected(reason) => (TransactionStatus::Rjct, reason),
        }
    }
}

/// The answer to `end_to_end_id` under `seed` and `shares`: a draw in thousandths from a
/// ChaCha stream seeded by the seed and the id, so it is the same on every run.
pub fn decide(seed: u64, end_to_end_id: &str, shares: &Shares) -> Answer {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(end_to_end_id.as_bytes());
    let mut rng = ChaCha8Rng::from_seed(hasher.finalize().into());
    let draw: u32 = rng.gen_range(0..1000);
    let mut bound = 0;
    for (share, reason) in [
        (shares.ac01_per_mille, "AC01"),
        (shares.ac04_per_mille, "AC04"),
        (shares.md07_per_mille, "MD07"),
        (shares.timeout_per_mille, "AB05"),
    ] {
        bound += share;
        if draw < bound {
            return Answer::Rejected(reason);
        }
    }
    Answer::Credited
}

/// Answers waiting for their delay or their delivery, at most; past it the simulator stops
/// reading until some are delivered, so a stalled broker cannot fill its memory.
const MAX_PENDING: usize = 20_000;

/// How long one delivery of an answer may take before it is tried again.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The simulated bank, connected.
pub struct Simulator {
    consumer: StreamConsumer,
    producer: FutureProducer,
    settings: SimulatorSettings,
    results_topic: String,
    group: String,
}

/// Where a consumed instruction sits, so that its offset is stored once it is answered.
#[derive(Debug)]
struct Position {
    topic: String,
    partition: i32,
    offset: i64,
}

/// What became of one consumed record.
#[derive(Debug)]
struct Handled {
    position: Position,
    /// False only when the simulator stopped before the answer was delivered.
    done: bool,
}

impl Simulator {
    /// Connects to the brokers of `kafka` and subscribes to the topics of the configured
    /// banks.
    pub fn connect(kafka: &KafkaSettings, settings: SimulatorSettings) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("group.id", &kafka.group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            // At least once: an offset is stored by hand only after the answer to its
            // instruction, and to every one before it, was delivered; the periodic commit then
            // commits only answered work. A crash answers some instructions again, which the
            // end-to-end id makes harmless.
            .set("enable.auto.offset.store", "false");
        kafka.apply_properties(&mut config);
        let consumer: StreamConsumer = config.create()?;
        let names: Vec<String> = settings
            .bank_ids
            .iter()
            .map(|bank_id| kafka.topic(&topics::bank_transfers(bank_id)))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Self {
            consumer,
            producer: messaging::idempotent_producer(kafka)?,
            settings,
            results_topic: kafka.topic(topics::BANK_RESULTS),
            group: kafka.group_id.clone(),
        })
    }

    /// Answers instructions until `stop` is cancelled, then delivers the answers in hand and
    /// commits.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(banks = ?self.settings.bank_ids, seed = self.settings.seed, "bank simulator started");
        let delay = Duration::from_millis(self.settings.delay_ms);
        // Answers wait out their delays side by side, so a slow bank is not a slow consumer,
        // but they are settled in the order they were read: an offset is stored only when
        // everything before it is answered.
        let mut pending = FuturesOrdered::new();
        let mut gap = false;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some(handled) = pending.next(), if !pending.is_empty() => {
                    self.settle(handled, &mut gap);
                    metrics::gauge!("bank_simulator_pending_answers").set(pending.len() as f64);
                }
                received = self.consumer.recv(), if pending.len() < MAX_PENDING => {
                    let message = match received {
                        Ok(message) => message,
                        Err(error) => {
                            tracing::warn!(%error, "kafka receive failed");
                            continue;
                        }
                    };
                    let position = Position {
                        topic: message.topic().to_owned(),
                        partition: message.partition(),
                        offset: message.offset(),
                    };
                    let job = self.answer_to(&message);
                    let producer = self.producer.clone();
                    let topic = self.results_topic.clone();
                    let stop = stop.clone();
                    pending.push_back(async move {
                        let done = match job {
                            Some(job) => {
                                let span = job.span.clone();
                                deliver(producer, topic, job, delay, stop)
                                    .instrument(span)
                                    .await
                            }
                            None => true,
                        };
                        Handled { position, done }
                    });
                }
            }
        }
        while let Some(handled) = pending.next().await {
            self.settle(handled, &mut gap);
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing is lost: uncommitted instructions are answered again after the restart.
            tracing::debug!(%error, "final offset commit skipped");
        }
        tracing::info!("bank simulator stopped");
    }

    /// The answer to one consumed record, or `None` when it is not one of ours to answer.
    fn answer_to(&self, message: &BorrowedMessage<'_>) -> Option<Job> {
        let instruction = match TransferInstruction::decode(message.payload().unwrap_or_default()) {
            Ok(instruction) => instruction,
            Err(error) => {
                tracing::warn!(%error, topic = message.topic(), "instruction does not decode; ignored");
                return None;
            }
        };
        if !self
            .settings
            .bank_ids
            .contains(&instruction.creditor_agent_bank_id)
        {
            tracing::warn!(
                bank_id = %instruction.creditor_agent_bank_id,
                "instruction for another bank; ignored"
            );
            return None;
        }
        let answer = decide(
            self.settings.seed,
            &instruction.end_to_end_id,
            &self.settings.shares,
        );
        // The answer belongs to the trace of the payment, continued from the instruction.
        let span = messaging::spans::process(message, &self.group, &instruction.end_to_end_id);
        Some(Job {
            instruction,
            answer,
            span,
        })
    }

    /// Stores the offset of a handled record, unless an earlier one was left unanswered.
    fn settle(&self, handled: Handled, gap: &mut bool) {
        if !handled.done {
            *gap = true;
        }
        if *gap {
            return;
        }
        let Position {
            topic,
            partition,
            offset,
        } = &handled.position;
        if let Err(error) = self.consumer.store_offset(topic, *partition, *offset) {
            // After a rebalance took the partition away; its new owner answers again.
            tracing::debug!(%error, topic, partition, offset, "offset not stored");
        }
    }
}

/// One instruction to answer.
struct Job {
    instruction: TransferInstruction,
    answer: Answer,
    /// The `process` span of the instruction; the answer's `send` span is its child.
    span: tracing::Span,
}

/// Waits out `delay`, then publishes the answer until the broker confirms it; returns false
/// only if `stop` came before a delivery succeeded.
async fn deliver(
    producer: FutureProducer,
    topic: String,
    job: Job,
    delay: Duration,
    stop: CancellationToken,
) -> bool {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Job {
        instruction,
        answer,
        span,
    } = job;
    let (status, reason) = answer.status_and_reason();
    let event_id = Uuid::new_v4().to_string();
    let result = BankResult {
        meta: Some(EventMeta {
            event_id: event_id.clone(),
            occurred_at: None,
            subject_id: instruction.end_to_end_id.clone(),
            schema_version: 1,
            producer: "bank-simulator".into(),
        }),
        end_to_end_id: instruction.end_to_end_id.clone(),
        status: status as i32,
        reason_code: reason.to_owned(),
        bank_id: instruction.creditor_agent_bank_id.clone(),
        additional_information: String::new(),
    };
    let payload = result.encode_to_vec();
    let send =
        span.in_scope(|| messaging::spans::send(&topic, &event_id, None::<[(&str, &str); 0]>));
    let trace = telemetry::headers_for_span(&send);
    let mut wait = Duration::from_millis(100);
    loop {
        let pairs = std::iter::once((headers::EVENT_ID, event_id.as_str())).chain(
            trace
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        );
        let record = FutureRecord::to(&topic)
            .key(&instruction.end_to_end_id)
            .payload(&payload)
            .headers(headers::with_pairs(OwnedHeaders::new(), pairs));
        match producer
            .send(record, Timeout::After(DELIVERY_TIMEOUT))
            .instrument(send.clone())
            .await
        {
            Ok(_) => {
                metrics::counter!("bank_simulator_answers_total", "status" => answer.status_code(), "reason" => reason)
                    .increment(1);
                return true;
            }
            Err((error, _)) => {
                metrics::counter!("bank_simulator_delivery_failures_total").increment(1);
                tracing::warn!(%error, end_to_end_id = %instruction.end_to_end_id, "answer not delivered; trying again");
                if stop.is_cancelled() {
                    return false;
                }
                tokio::select! {
                    () = stop.cancelled() => return false,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Kafka client could not be created or subscribed.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A port could not be bound.
    #[error(transparent)]
    Serve(#[from] serving::ServeError),
}

/// The simulator as a served process: `/health` and `/metrics` on the HTTP port, gRPC health
/// and reflection on the other, and the answering loop as its one worker (it ending early
/// takes the process down, so it is restarted rather than silently idle).
pub async fn build(config: &Config) -> Result<serving::App, StartError> {
    let simulator = Simulator::connect(&config.kafka, config.simulator.clone())?;
    let workload = serving::Workload {
        routes: tonic::service::Routes::default(),
        service_names: Vec::new(),
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        consumers: vec![serving::worker(move |stop| simulator.run(stop))],
        relay: None,
    };
    Ok(serving::App::bind(&config.server, workload).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(ac01: u32, ac04: u32, md07: u32, timeout: u32) -> Shares {
        Shares {
            ac01_per_mille: ac01,
            ac04_per_mille: ac04,
            md07_per_mille: md07,
            timeout_per_mille: timeout,
        }
    }

    #[test]
    fn the_same_seed_and_id_always_get_the_same_answer() {
        let shares = shares(250, 250, 250, 0);
        for index in 0..100 {
            let id = format!("E2E-{index}");
            assert_eq!(decide(7, &id, &shares), decide(7, &id, &shares));
        }
        let answers = |seed| -> Vec<Answer> {
            (0..100)
                .map(|index| decide(seed, &format!("E2E-{index}"), &shares))
                .collect()
        };
        assert_ne!(answers(7), answers(8), "another seed draws differently");
    }

    #[test]
    fn no_shares_credit_everything_and_a_full_share_rejects_everything() {
        for index in 0..100 {
            let id = format!("E2E-{index}");
            assert_eq!(decide(1, &id, &shares(0, 0, 0, 0)), Answer::Credited);
            assert_eq!(
                decide(1, &id, &shares(0, 0, 0, 1000)),
                Answer::Rejected("AB05")
            );
        }
    }

    #[test]
    fn answers_follow_the_configured_shares() {
        let shares = shares(100, 50, 10, 200);
        let mut ac01 = 0;
        let mut timeouts = 0;
        for index in 0..10_000 {
            match decide(3, &format!("E2E-{index}"), &shares) {
                Answer::Rejected("AC01") => ac01 += 1,
                Answer::Rejected("AB05") => timeouts += 1,
                _ => {}
            }
        }
        assert!((800..1200).contains(&ac01), "{ac01}");
        assert!((1700..2300).contains(&timeouts), "{timeouts}");
    }
}
