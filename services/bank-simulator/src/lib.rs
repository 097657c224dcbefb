//! A bank outside the system, for the local stack, tests and benchmarks, and the reference
//! for banks writing their own consumer.
//!
//! # Contract
//!
//! - Read `bank.<bank-id>.transfers.v1` (your 6-digit NAPAS id; the deployment may put a
//!   prefix in front of every topic name). Each record is a protobuf
//!   `benefit.bank.v1.TransferInstruction` keyed by its end-to-end id; the `event-id` header
//!   identifies the record and `traceparent` carries the trace.
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
//! This simulator answers every instruction of its configured banks after a delay, with an
//! outcome drawn from configured shares. The draw depends only on the seed and the
//! end-to-end id, so the same seed gives the same outcomes whatever the order of arrival.

mod config;
pub mod files;

use std::time::Duration;

use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::common::v1::EventMeta;
use contracts::topics;
use messaging::{KafkaSettings, headers};
use prost::Message as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
    message::OwnedHeaders,
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
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

/// The simulated bank, connected.
pub struct Simulator {
    consumer: StreamConsumer,
    producer: FutureProducer,
    settings: SimulatorSettings,
    results_topic: String,
}

impl Simulator {
    /// Connects to the brokers of `kafka` and subscribes to the topics of the configured
    /// banks.
    pub fn connect(kafka: &KafkaSettings, settings: SimulatorSettings) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("group.id", &kafka.group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true");
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
        })
    }

    /// Answers instructions until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(banks = ?self.settings.bank_ids, seed = self.settings.seed, "bank simulator started");
        let delay = Duration::from_millis(self.settings.delay_ms);
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "kafka receive failed");
                    continue;
                }
            };
            let instruction = match TransferInstruction::decode(
                message.payload().unwrap_or_default(),
            ) {
                Ok(instruction) => instruction,
                Err(error) => {
                    tracing::warn!(%error, topic = message.topic(), "instruction does not decode; ignored");
                    continue;
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
                continue;
            }
            let answer = decide(
                self.settings.seed,
                &instruction.end_to_end_id,
                &self.settings.shares,
            );
            let traceparent = headers::get(message.headers(), "traceparent").map(str::to_owned);
            // Each answer waits out its delay on its own, so a slow bank is not a slow consumer.
            tokio::spawn(answer_later(
                self.producer.clone(),
                self.results_topic.clone(),
                instruction,
                answer,
                traceparent,
                delay,
            ));
        }
        tracing::info!("bank simulator stopped");
    }
}

async fn answer_later(
    producer: FutureProducer,
    topic: String,
    instruction: TransferInstruction,
    answer: Answer,
    traceparent: Option<String>,
    delay: Duration,
) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
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
    let pairs = std::iter::once((headers::EVENT_ID, event_id.as_str()))
        .chain(traceparent.as_deref().map(|value| ("traceparent", value)));
    let record = FutureRecord::to(&topic)
        .key(&instruction.end_to_end_id)
        .payload(&payload)
        .headers(headers::with_pairs(OwnedHeaders::new(), pairs));
    if let Err((error, _)) = producer
        .send(record, Timeout::After(Duration::from_secs(30)))
        .await
    {
        tracing::warn!(%error, end_to_end_id = %instruction.end_to_end_id, "answer not delivered");
    }
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
