//! A running transfer service on a fresh database and fresh topics, with a signing key
//! trusted by it, a producer standing in for payroll and the banks, and readers.

#![allow(dead_code, reason = "each test file uses its own subset")]

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use clock::ManualClock;
use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::common::v1::{BankDestination, DestinationKind, EventMeta};
use contracts::payroll::v1::{ListSignature, ListTotals, PaymentLine, PaymentListChunk};
use contracts::topics;
use contracts::transfer::v1::transfer_service_client::TransferServiceClient;
use contracts::transfer::v1::{ListRefusedListsRequest, RefusedList, TransferOutcome};
use ed25519_dalek::{Signer, SigningKey};
use messaging::headers;
use prost::Message as _;
use rdkafka::{
    Message as _,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use serving::ServerSettings;
use sqlx::PgPool;
use testkit::{TestDatabase, TestTopics, kafka_settings};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use transfer::domain::list::content_hash;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(30);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_secs(3);
/// Vietcombank.
pub const BANK_A: &str = "970436";
/// VietinBank.
pub const BANK_B: &str = "970415";
/// A card that passes the Luhn check.
pub const CARD: &str = "9704360000000000002";
/// The key id payroll signs with in these tests.
pub const KEY_ID: &str = "payroll-test-1";

/// The service under test and everything around it.
pub struct Rig {
    pub database: TestDatabase,
    pub topics: TestTopics,
    pub pool: PgPool,
    pub clock: ManualClock,
    pub producer: FutureProducer,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub key: SigningKey,
    stop: CancellationToken,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts transfer with a trusted test key and its own topics.
pub async fn start() -> anyhow::Result<Rig> {
    let database = TestDatabase::create().await?;
    let topics = TestTopics::create(
        &[
            topics::PAYMENT_LISTS,
            topics::DECISIONS,
            topics::BANK_RESULTS,
            topics::TRANSFER_OUTCOMES,
            &topics::bank_transfers(BANK_A),
            &topics::bank_transfers(BANK_B),
        ],
        1,
    )
    .await?;
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let mut config = transfer::Config::default();
    config.base.database = database.settings(transfer::SERVICE);
    config.base.kafka = kafka_settings(transfer::SERVICE);
    config.base.kafka.topic_prefix = topics.prefix().to_owned();
    config.base.server = ServerSettings::local(0, 0);
    config.lists.trusted_keys = BTreeMap::from([(
        KEY_ID.to_owned(),
        hex::encode(key.verifying_key().to_bytes()),
    )]);
    config.lists.completion_timeout_secs = 600;
    config.retry.base_delay_secs = 60;
    config.retry.poll_interval_ms = 50;
    let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap());
    let app = transfer::build(config, Arc::new(clock.clone())).await?;
    let grpc = app.grpc_address();
    let http = app.http_address();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let pool = database.pool(transfer::SERVICE).await?;
    let producer = messaging::idempotent_producer(&kafka_settings("test-producer"))?;
    Ok(Rig {
        database,
        topics,
        pool,
        clock,
        producer,
        grpc,
        http,
        key,
        stop,
    })
}

/// A payment line to `bank`.
pub fn line(entitlement_id: &str, bank: &str, amount_dong: i64) -> PaymentLine {
    PaymentLine {
        entitlement_id: entitlement_id.into(),
        decision_id: format!("decision-{entitlement_id}"),
        benefit_month: 2,
        amount_dong,
        payment_by: None,
        bank_destination: Some(BankDestination {
            bank_id: bank.into(),
            kind: DestinationKind::Card as i32,
            number: CARD.into(),
            holder_name: "Nguyễn Thị Đào".into(),
        }),
        ..PaymentLine::default()
    }
}

/// A unique id for this test run.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

impl Rig {
    /// `lines` as a list signed with the trusted key, cut into chunks of `per_chunk` lines.
    pub fn signed_list(
        &self,
        list_id: &str,
        lines: Vec<PaymentLine>,
        per_chunk: usize,
    ) -> Vec<PaymentListChunk> {
        let totals = ListTotals {
            line_count: lines.len() as u64,
            sum_dong: lines.iter().map(|line| line.amount_dong).sum(),
        };
        let hash = content_hash(list_id, "91", totals.line_count, totals.sum_dong, &lines);
        let signature = ListSignature {
            key_id: KEY_ID.into(),
            signature: self.key.sign(&hash).to_bytes().to_vec(),
            signed_by: None,
        };
        let parts: Vec<Vec<PaymentLine>> = lines.chunks(per_chunk).map(<[_]>::to_vec).collect();
        let count = parts.len() as u32;
        parts
            .into_iter()
            .enumerate()
            .map(|(index, lines)| PaymentListChunk {
                meta: Some(EventMeta {
                    event_id: uuid::Uuid::new_v4().to_string(),
                    subject_id: list_id.into(),
                    schema_version: 1,
                    producer: "payroll".into(),
                    occurred_at: None,
                }),
                list_id: list_id.into(),
                province: "91".into(),
                chunk_index: index as u32,
                chunk_count: count,
                totals: Some(totals),
                content_hash: hash.to_vec(),
                signature: Some(signature.clone()),
                lines,
                ..PaymentListChunk::default()
            })
            .collect()
    }

    /// Publishes `payload` on the logical `topic` under `key`, with a fresh event id.
    pub async fn publish(&self, topic: &str, key: &str, payload: &[u8]) -> anyhow::Result<()> {
        let event_id = uuid::Uuid::new_v4().to_string();
        let name = self.topics.name(topic);
        let record =
            FutureRecord::to(&name)
                .key(key)
                .payload(payload)
                .headers(OwnedHeaders::new().insert(Header {
                    key: headers::EVENT_ID,
                    value: Some(event_id.as_str()),
                }));
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }

    /// Publishes every chunk of a list, as payroll would.
    pub async fn publish_list(&self, chunks: &[PaymentListChunk]) -> anyhow::Result<()> {
        for chunk in chunks {
            self.publish(
                topics::PAYMENT_LISTS,
                &chunk.list_id,
                &chunk.encode_to_vec(),
            )
            .await?;
        }
        Ok(())
    }

    /// Publishes a bank's answer, as a bank would.
    pub async fn publish_result(
        &self,
        end_to_end_id: &str,
        bank: &str,
        status: TransactionStatus,
        reason_code: &str,
    ) -> anyhow::Result<()> {
        let result = BankResult {
            meta: None,
            end_to_end_id: end_to_end_id.into(),
            status: status as i32,
            reason_code: reason_code.into(),
            bank_id: bank.into(),
            additional_information: String::new(),
        };
        self.publish(topics::BANK_RESULTS, end_to_end_id, &result.encode_to_vec())
            .await
    }

    /// Messages the consumer has finished on the logical `topic`.
    pub async fn processed(&self, topic: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE topic = $1")
                .bind(topic)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Waits until `count` messages of `topic` were processed.
    pub async fn wait_processed(&self, topic: &str, count: i64) -> anyhow::Result<()> {
        let reached =
            testkit::eventually(WAIT, || async { Ok(self.processed(topic).await? >= count) })
                .await?;
        anyhow::ensure!(
            reached,
            "{count} messages of {topic} were not processed in time"
        );
        Ok(())
    }

    /// The state of the payment of `entitlement_id`, if any.
    pub async fn payment_state(&self, entitlement_id: &str) -> anyhow::Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM payments WHERE entitlement_id = $1")
                .bind(entitlement_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Waits until the payment of `entitlement_id` is in `state`.
    pub async fn wait_payment_state(
        &self,
        entitlement_id: &str,
        state: &str,
    ) -> anyhow::Result<()> {
        let reached = testkit::eventually(WAIT, || async {
            Ok(self.payment_state(entitlement_id).await?.as_deref() == Some(state))
        })
        .await?;
        anyhow::ensure!(reached, "payment {entitlement_id} did not reach {state}");
        Ok(())
    }

    /// Transfers (attempts) stored for `list_id`.
    pub async fn transfers_of_list(&self, list_id: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM transfers t JOIN payments p USING (entitlement_id) \
             WHERE p.list_id = $1",
        )
        .bind(list_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Instructions on `bank`'s topic, reading for at most `within` until `count` arrived.
    pub async fn instructions(
        &self,
        bank: &str,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<(String, TransferInstruction)>> {
        let messages = testkit::read_topic(
            &self.topics.name(&topics::bank_transfers(bank)),
            count,
            within,
        )
        .await?;
        let mut decoded = Vec::new();
        for message in messages {
            let key = testkit::key_of(&message).unwrap_or_default();
            decoded.push((
                key,
                TransferInstruction::decode(message.payload().unwrap_or_default())?,
            ));
        }
        Ok(decoded)
    }

    /// Events published on `transfer.outcomes.v1` so far, with their keys, reading for at
    /// most `within` until `count` arrived.
    pub async fn outcomes(
        &self,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<(String, TransferOutcome)>> {
        let messages =
            testkit::read_topic(&self.topics.name(topics::TRANSFER_OUTCOMES), count, within)
                .await?;
        let mut decoded = Vec::new();
        for message in messages {
            decoded.push((
                testkit::key_of(&message).unwrap_or_default(),
                TransferOutcome::decode(message.payload().unwrap_or_default())?,
            ));
        }
        Ok(decoded)
    }

    /// The refused lists the API reports, newest first.
    pub async fn refused_lists(&self) -> anyhow::Result<Vec<RefusedList>> {
        Ok(self
            .client()
            .await?
            .list_refused_lists(ListRefusedListsRequest {
                page_size: 10,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .lists)
    }

    /// The service's `/metrics` page.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        testkit::scrape_metrics(self.http).await
    }

    /// A client of the service's API.
    pub async fn client(&self) -> anyhow::Result<TransferServiceClient<Channel>> {
        Ok(TransferServiceClient::connect(format!("http://{}", self.grpc)).await?)
    }
}

/// The vendored pain.001.001.09 schema.
pub const PAIN_001_XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/pain.001.001.09.xsd");
/// The vendored pain.002.001.10 schema.
pub const PAIN_002_XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/pain.002.001.10.xsd");

/// What xmllint finds wrong with `xml` against the schema at `xsd`, or `None` when it
/// validates.
pub fn schema_errors(xsd: &str, xml: &str) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", xsd, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("xmllint is not installed (Debian package libxml2-utils)")?;
    child
        .stdin
        .take()
        .context("no pipe to xmllint")?
        .write_all(xml.as_bytes())?;
    let output = child.wait_with_output()?;
    Ok((!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned()))
}

/// Fails with xmllint's findings unless `xml` validates against the schema at `xsd`.
pub fn schema_valid(xsd: &str, xml: &str) -> anyhow::Result<()> {
    if let Some(errors) = schema_errors(xsd, xml)? {
        anyhow::bail!("not valid against {xsd}:\n{errors}\n{xml}");
    }
    Ok(())
}
