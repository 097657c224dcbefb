//! The simulator against the real broker: it answers only its own banks, and the same seed
//! answers the same outcomes on every run.

use std::{collections::BTreeMap, time::Duration};

use bank_simulator::{Shares, Simulator, SimulatorSettings};
use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::topics;
use prost::Message as _;
use rdkafka::{
    Message as _,
    message::Headers as _,
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

fn settings(seed: u64, delay_ms: u64) -> SimulatorSettings {
    SimulatorSettings {
        bank_ids: vec![OURS.into()],
        seed,
        delay_ms,
        shares: Shares {
            ac01_per_mille: 200,
            ac04_per_mille: 100,
            md07_per_mille: 50,
            timeout_per_mille: 150,
        },
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
    let settings = settings(seed, 10);
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

/// End-to-end ids answered on `topic` so far, reading for at most `within` until `count`.
async fn answered(topic: &str, count: usize, within: Duration) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for message in read_topic(topic, count, within).await? {
        ids.push(BankResult::decode(message.payload().unwrap_or_default())?.end_to_end_id);
    }
    Ok(ids)
}

#[tokio::test]
async fn instructions_read_but_not_yet_answered_when_the_simulator_dies_are_answered_after_restart()
-> anyhow::Result<()> {
    let topics =
        TestTopics::create(&[&topics::bank_transfers(OURS), topics::BANK_RESULTS], 1).await?;
    let mut kafka = kafka_settings("bank-simulator");
    kafka.topic_prefix = topics.prefix().to_owned();
    let instructions_topic = topics.name(&topics::bank_transfers(OURS));
    let results_topic = topics.name(topics::BANK_RESULTS);
    let producer = messaging::idempotent_producer(&kafka_settings("test-bank-producer"))?;
    // A slow bank: each answer waits 4 s.
    let first = Simulator::connect(&kafka, settings(5, 4_000))?;
    let crashed = tokio::spawn(first.run(CancellationToken::new()));
    // A probe answered proves the first simulator owns the partition and is reading.
    send(
        &producer,
        &instructions_topic,
        &instruction("UBPROBE-001", OURS),
    )
    .await?;
    assert_eq!(
        answered(&results_topic, 1, WAIT).await?,
        vec!["UBPROBE-001"]
    );

    let ids: Vec<String> = (0..10)
        .map(|index| format!("UBCRASH{index:02}-001"))
        .collect();
    for id in &ids {
        send(&producer, &instructions_topic, &instruction(id, OURS)).await?;
    }
    // Read at once, answered only 4 s later: the process dies in between, without the
    // orderly stop that would deliver what it holds.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    crashed.abort();
    let _ = crashed.await;
    assert_eq!(
        answered(&results_topic, 2, QUIET).await?.len(),
        1,
        "nothing but the probe was answered before the crash"
    );

    let restarted = Simulator::connect(&kafka, settings(5, 10))?;
    let stop = CancellationToken::new();
    tokio::spawn(restarted.run(stop.clone()));
    let after = answered(&results_topic, 1 + ids.len(), WAIT).await?;
    stop.cancel();

    for id in &ids {
        assert!(
            after.contains(id),
            "{id} was read before the crash and must still be answered: {after:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_simulator_serves_health_and_metrics() -> anyhow::Result<()> {
    let topics =
        TestTopics::create(&[&topics::bank_transfers(OURS), topics::BANK_RESULTS], 1).await?;
    let mut kafka = kafka_settings("bank-simulator");
    kafka.topic_prefix = topics.prefix().to_owned();
    let config = bank_simulator::Config {
        kafka,
        server: serving::ServerSettings::local(0, 0),
        simulator: settings(3, 0),
        ..bank_simulator::Config::default()
    };
    let app = bank_simulator::build(&config).await?;
    let http = app.http_address();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let producer = messaging::idempotent_producer(&kafka_settings("test-bank-producer"))?;
    send(
        &producer,
        &topics.name(&topics::bank_transfers(OURS)),
        &instruction("UBHEALTH-001", OURS),
    )
    .await?;
    answered(&topics.name(topics::BANK_RESULTS), 1, WAIT).await?;

    let health = get(http, "/health").await?;
    let metrics = get(http, "/metrics").await?;
    stop.cancel();

    assert!(
        health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"),
        "{health}"
    );
    assert!(health.ends_with("SERVING"), "{health}");
    assert!(
        metrics.contains("bank_simulator_answers_total{"),
        "answers are counted: {metrics}"
    );
    Ok(())
}

/// The response to a plain HTTP GET of `path`.
async fn get(address: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

/// The trace and span ids of a W3C `traceparent`.
fn trace_and_span(traceparent: &str) -> Option<(String, String)> {
    let mut parts = traceparent.split('-');
    let (_version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    Some((trace.to_owned(), span.to_owned()))
}

#[tokio::test]
async fn an_answer_continues_the_instruction_s_trace_in_a_span_of_its_own() -> anyhow::Result<()> {
    telemetry::init_for_tests();
    let topics =
        TestTopics::create(&[&topics::bank_transfers(OURS), topics::BANK_RESULTS], 1).await?;
    let mut kafka = kafka_settings("bank-simulator");
    kafka.topic_prefix = topics.prefix().to_owned();
    let simulator = Simulator::connect(&kafka, settings(9, 0))?;
    let stop = CancellationToken::new();
    tokio::spawn(simulator.run(stop.clone()));
    let producer = messaging::idempotent_producer(&kafka_settings("test-bank-producer"))?;
    let sent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let sent_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{sent_trace}-{sent_span}-01");
    let payload = instruction("UBTRACE-001", OURS).encode_to_vec();
    let instructions_topic = topics.name(&topics::bank_transfers(OURS));
    let record = FutureRecord::to(&instructions_topic)
        .key("UBTRACE-001")
        .payload(&payload)
        .headers(
            rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                key: "traceparent",
                value: Some(traceparent.as_str()),
            }),
        );
    producer
        .send(record, Timeout::After(Duration::from_secs(10)))
        .await
        .map_err(|(error, _)| error)?;

    let answers = read_topic(&topics.name(topics::BANK_RESULTS), 1, WAIT).await?;
    stop.cancel();

    assert_eq!(answers.len(), 1);
    let answer_parent = answers[0]
        .headers()
        .and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == "traceparent")
                .and_then(|header| header.value)
        })
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let (trace, span) = answer_parent
        .as_deref()
        .and_then(trace_and_span)
        .expect("the answer carries a traceparent");
    assert_eq!(
        trace, sent_trace,
        "the answer is in the instruction's trace"
    );
    assert_ne!(span, sent_span, "the answer comes from a span of its own");
    assert_ne!(span, "0000000000000000");
    Ok(())
}
