//! The simulator against the real broker: it answers only its own banks, and the same seed
//! answers the same outcomes on every run.

use std::{collections::BTreeMap, time::Duration};

use bank_simulator::{Shares, Simulator, SimulatorSettings};
use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::topics;
use prost::Message as _;
use rdkafka::{
    Message as _,
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use testkit::{TestTopics, kafka_settings, read_topic};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_secs(3);
const OURS: &str = "970436";
const OTHER: &str = "970415";
const INSTRUCTIONS: usize = 40;

async fn send(
    producer: &FutureProducer,
    topic: &str,
    instruction: &TransferInstruction,
) -> anyhow::Result<()> {
    let payload = instruction.encode_to_vec();
    let record = FutureRecord::to(topic)
        .key(&instruction.end_to_end_id)
        .payload(&payload);
    producer
        .send(record, Timeout::After(Duration::from_secs(10)))
        .await
        .map_err(|(error, _)| error)?;
    Ok(())
}

fn instruction(end_to_end_id: &str, bank: &str) -> TransferInstruction {
    TransferInstruction {
        end_to_end_id: end_to_end_id.into(),
        instruction_id: end_to_end_id.into(),
        amount_dong: 6_000_000,
        creditor_agent_bank_id: bank.into(),
        ..TransferInstruction::default()
    }
}

/// Runs the simulator with `seed` on fresh topics, sends it instructions for its bank and
/// for another, and returns its answers by end-to-end id.
async fn answers_with_seed(seed: u64) -> anyhow::Result<BTreeMap<String, (i32, String)>> {
    let topics = TestTopics::create(
        &[
            &topics::bank_transfers(OURS),
            &topics::bank_transfers(OTHER),
            topics::BANK_RESULTS,
        ],
        2,
    )
    .await?;
    let mut kafka = kafka_settings("bank-simulator");
    kafka.topic_prefix = topics.prefix().to_owned();
    let settings = SimulatorSettings {
        bank_ids: vec![OURS.into()],
        seed,
        delay_ms: 10,
        shares: Shares {
            ac01_per_mille: 200,
            ac04_per_mille: 100,
            md07_per_mille: 50,
            timeout_per_mille: 150,
        },
    };
    let simulator = Simulator::connect(&kafka, settings)?;
    let stop = CancellationToken::new();
    tokio::spawn(simulator.run(stop.clone()));
    let producer = messaging::idempotent_producer(&kafka_settings("test-bank-producer"))?;

    for index in 0..INSTRUCTIONS {
        let id = format!("UBTEST{index:04}-001");
        send(
            &producer,
            &topics.name(&topics::bank_transfers(OURS)),
            &instruction(&id, OURS),
        )
        .await?;
    }
    send(
        &producer,
        &topics.name(&topics::bank_transfers(OTHER)),
        &instruction("UBOTHER-001", OTHER),
    )
    .await?;

    let results_topic = topics.name(topics::BANK_RESULTS);
    assert_eq!(
        read_topic(&results_topic, INSTRUCTIONS, WAIT).await?.len(),
        INSTRUCTIONS
    );
    let messages = read_topic(&results_topic, INSTRUCTIONS + 1, QUIET).await?;
    stop.cancel();
    let mut answers = BTreeMap::new();
    for message in messages {
        let result = BankResult::decode(message.payload().unwrap_or_default())?;
        assert_eq!(result.bank_id, OURS, "only its own bank answers");
        assert_eq!(
            testkit::key_of(&message).as_deref(),
            Some(result.end_to_end_id.as_str())
        );
        answers.insert(result.end_to_end_id, (result.status, result.reason_code));
    }
    Ok(answers)
}

#[tokio::test]
async fn with_one_seed_the_simulator_answers_the_same_outcomes_twice() -> anyhow::Result<()> {
    let first = answers_with_seed(11).await?;
    let second = answers_with_seed(11).await?;

    assert_eq!(
        first.len(),
        INSTRUCTIONS,
        "every instruction of its bank answered once"
    );
    assert!(
        !first.contains_key("UBOTHER-001"),
        "another bank's instruction is not answered"
    );
    assert_eq!(first, second);
    let credited = first
        .values()
        .filter(|(status, _)| *status == TransactionStatus::Accc as i32)
        .count();
    let wrong_account = first
        .values()
        .filter(|(_, reason)| reason == "AC01")
        .count();
    assert!(
        credited > 0 && credited < INSTRUCTIONS,
        "{credited} credited"
    );
    assert!(
        wrong_account > 0,
        "some AC01 among {INSTRUCTIONS} at a 20% share"
    );
    Ok(())
}
