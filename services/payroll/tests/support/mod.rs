//! A payroll service running against the real PostgreSQL and broker on its own database and
//! topics, with a manual clock, and the events a test feeds it.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use clock::ManualClock;
use contracts::{
    checkin::v1::{CheckinEvent, CheckinRecorded, checkin_event},
    common::v1::{
        Agency, BankDestination, CheckinWindow, Date, EventMeta, Officer, SigningKey,
        SigningKeyState,
    },
    eligibility::v1::{
        BankDestinationChanged, DecisionActivated, DecisionEvent, DecisionTerminated,
        decision_event,
    },
    payroll::v1::{
        ListSigningKeysRequest, PaymentListChunk, RotateSigningKeyRequest,
        payroll_service_client::PayrollServiceClient,
    },
    topics,
};
use messaging::headers;
use payroll::domain::{ContentHash, ListKey, TrustedKeys, list};
use prost::Message as _;
use rdkafka::{
    Message as _,
    message::OwnedHeaders,
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use serving::ServerSettings;
use sqlx::{Connection, PgConnection};
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings, read_topic};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

/// How long a test waits for the service to act.
pub const WAIT: Duration = Duration::from_secs(20);

/// The account every test beneficiary is paid to unless it says otherwise.
pub const PROVINCE: &str = "91";

/// A running payroll service and its surroundings.
pub struct Payroll {
    pub database: TestDatabase,
    pub topics: TestTopics,
    pub clock: ManualClock,
    pub grpc: SocketAddr,
    pub key: ListKey,
    config: payroll::Config,
    producer: FutureProducer,
    shutdown: CancellationToken,
    running: JoinHandle<Result<(), serving::ServeError>>,
}

/// Starts payroll with `configure` applied to its test configuration.
pub async fn start_with(configure: impl FnOnce(&mut payroll::Config)) -> anyhow::Result<Payroll> {
    let database = TestDatabase::create().await?;
    let topics = TestTopics::create(
        &[
            topics::DECISIONS,
            topics::CHECKIN_SCANS,
            topics::TRANSFER_OUTCOMES,
            topics::PAYMENT_LISTS,
        ],
        1,
    )
    .await?;
    let mut config = payroll::Config::default();
    config.base.database = database.settings(payroll::SERVICE);
    config.base.kafka = kafka_settings(payroll::SERVICE);
    config.base.kafka.topic_prefix = topics.prefix().to_owned();
    config.base.server = ServerSettings::local(0, 0);
    configure(&mut config);
    let key = config.lists.policy_key()?;
    // Thursday 19 March 2026, 09:00 in Hà Nội.
    let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 3, 19, 2, 0, 0).unwrap());
    let app = payroll::build(config.clone(), Arc::new(clock.clone())).await?;
    let grpc = app.grpc_address();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let producer = messaging::idempotent_producer(&kafka_settings("feeder"))?;
    Ok(Payroll {
        database,
        topics,
        clock,
        grpc,
        key,
        config,
        producer,
        shutdown,
        running,
    })
}

/// Starts payroll with the test configuration.
pub async fn start() -> anyhow::Result<Payroll> {
    start_with(|_| {}).await
}

fn meta(subject: &str) -> Option<EventMeta> {
    Some(EventMeta {
        event_id: Uuid::new_v4().to_string(),
        occurred_at: None,
        subject_id: subject.to_owned(),
        schema_version: 1,
        producer: "test".into(),
    })
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// An account destination with `number`.
pub fn account(number: &str) -> BankDestination {
    BankDestination {
        bank_id: "970436".into(),
        kind: 2,
        number: number.into(),
        holder_name: "NGUYỄN VĂN A".into(),
    }
}

/// A social-security officer.
pub fn officer(id: &str) -> Officer {
    Officer {
        officer_id: id.into(),
        agency: Agency::SocialSecurity as i32,
    }
}

/// A 3-month decision of 6,000,000 đồng a month starting 16 March 2026 (months start on the
/// 16th of March, April and May), paid to `destination`.
pub fn activated(
    decision_id: &str,
    person_id: &str,
    destination: BankDestination,
) -> DecisionEvent {
    let windows = (1..=3)
        .map(|n| CheckinWindow {
            benefit_month: n,
            month_start: date(2026, 2 + n as i32, 16),
            month_end: date(2026, 3 + n as i32, 15),
            opens_on: date(2026, 2 + n as i32, 16),
            closes_on: date(2026, 2 + n as i32, 19),
        })
        .collect();
    DecisionEvent {
        meta: meta(decision_id),
        decision_id: decision_id.into(),
        decision_version: 1,
        change: Some(decision_event::Change::Activated(DecisionActivated {
            decision_number: format!("QD-{decision_id}"),
            person_id: person_id.into(),
            beneficiary_name: "NGUYỄN VĂN A".into(),
            amount_dong: 6_000_000,
            months: 3,
            start_date: date(2026, 3, 16),
            end_date: date(2026, 6, 15),
            checkin_windows: windows,
            bank_destination: Some(destination),
            province: PROVINCE.into(),
            centre_id: "centre-1".into(),
            handover_date: date(2026, 3, 16),
        })),
    }
}

/// The decision ended from `effective` (year, month, day), at `version`.
pub fn terminated(decision_id: &str, version: u64, effective: (i32, i32, i32)) -> DecisionEvent {
    DecisionEvent {
        meta: meta(decision_id),
        decision_id: decision_id.into(),
        decision_version: version,
        change: Some(decision_event::Change::Terminated(DecisionTerminated {
            reason: 1,
            effective_date: date(effective.0, effective.1, effective.2),
            reserved_months: 0,
            note: String::new(),
        })),
    }
}

/// The decision's destination changed, proposed by `maker`, confirmed by `checker`.
pub fn destination_changed(
    decision_id: &str,
    version: u64,
    destination: BankDestination,
    maker: &str,
    checker: &str,
) -> DecisionEvent {
    DecisionEvent {
        meta: meta(decision_id),
        decision_id: decision_id.into(),
        decision_version: version,
        change: Some(decision_event::Change::BankDestinationChanged(
            BankDestinationChanged {
                bank_destination: Some(destination),
                proposed_by: Some(officer(maker)),
                confirmed_by: Some(officer(checker)),
            },
        )),
    }
}

/// A recorded check-in for `month` of `decision_id`.
pub fn checked_in(decision_id: &str, month: u32) -> CheckinEvent {
    CheckinEvent {
        meta: meta(decision_id),
        decision_id: decision_id.into(),
        benefit_month: month,
        kind: Some(checkin_event::Kind::Recorded(CheckinRecorded {
            scanned_at: None,
            notice_id: format!("notice-{decision_id}"),
            kiosk_id: "kiosk-1".into(),
            centre_id: "centre-1".into(),
            province: PROVINCE.into(),
            excused: false,
            excuse_reason: 0,
            document_reference: String::new(),
            excused_by: None,
            payment_by: None,
        })),
    }
}

/// A record to publish: a copy of it is a redelivery (same event id).
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: &'static str,
    pub key: String,
    pub payload: Vec<u8>,
    pub event_id: String,
}

/// `message` as a record on `topic`, keyed, with its own event id.
pub fn record(topic: &'static str, key: &str, message: &impl prost::Message) -> Record {
    Record {
        topic,
        key: key.to_owned(),
        payload: message.encode_to_vec(),
        event_id: Uuid::new_v4().to_string(),
    }
}

/// A recorded check-in event as a record on the check-in topic.
pub fn checkin_record(event: &CheckinEvent) -> Record {
    record(topics::CHECKIN_SCANS, &event.decision_id, event)
}

/// Publishes `record` with `producer` on its topic's copy among `topics`.
async fn publish(
    producer: &FutureProducer,
    topics: &TestTopics,
    record: &Record,
) -> anyhow::Result<()> {
    let name = topics.name(record.topic);
    let future = FutureRecord::to(&name)
        .key(&record.key)
        .payload(&record.payload)
        .headers(headers::with_pairs(
            OwnedHeaders::new(),
            [(headers::EVENT_ID, record.event_id.as_str())],
        ));
    producer
        .send(future, Timeout::After(Duration::from_secs(10)))
        .await
        .map_err(|(error, _)| error)?;
    Ok(())
}

impl Payroll {
    /// Publishes `message` on the test's copy of `topic`, keyed and with its own event id.
    pub async fn send(
        &self,
        topic: &'static str,
        key: &str,
        message: &impl prost::Message,
    ) -> anyhow::Result<()> {
        self.publish(&record(topic, key, message)).await
    }

    /// Publishes `record` on the test's copy of its topic.
    pub async fn publish(&self, record: &Record) -> anyhow::Result<()> {
        publish(&self.producer, &self.topics, record).await
    }

    /// Stops the service, publishes `backlog` while it is down and starts it again: the
    /// restarted consumer finds the whole backlog waiting and takes it in one batch.
    pub async fn restart_after(self, backlog: &[Record]) -> anyhow::Result<Payroll> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.running).await???;
        // Sent together, so the producer writes them as one batch, in order.
        let publishes = backlog
            .iter()
            .map(|record| publish(&self.producer, &self.topics, record));
        for published in futures::future::join_all(publishes).await {
            published?;
        }
        let app = payroll::build(self.config.clone(), Arc::new(self.clock.clone())).await?;
        let grpc = app.grpc_address();
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Ok(Payroll {
            grpc,
            shutdown,
            running,
            ..self
        })
    }

    /// How many database transactions processed the messages of `topic` in the inbox: every
    /// message a transaction records gets its start time.
    pub async fn transactions_for(&self, topic: &str) -> anyhow::Result<i64> {
        self.count(&format!(
            "SELECT count(DISTINCT processed_at) FROM payroll.inbox \
             WHERE topic = '{topic}' AND outcome = 'processed'"
        ))
        .await
    }

    /// Publishes a decision event.
    pub async fn decide(&self, event: &DecisionEvent) -> anyhow::Result<()> {
        self.send(topics::DECISIONS, &event.decision_id, event)
            .await
    }

    /// Publishes a check-in event.
    pub async fn check_in(&self, event: &CheckinEvent) -> anyhow::Result<()> {
        self.send(topics::CHECKIN_SCANS, &event.decision_id, event)
            .await
    }

    /// A superuser connection to the service's database.
    pub async fn db(&self) -> anyhow::Result<PgConnection> {
        self.database.admin_connection().await
    }

    /// The number of rows `sql` (a `SELECT count(*)` over payroll's tables) counts.
    pub async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        let mut conn = self.db().await?;
        let count = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(count)
    }

    /// Waits until `sql` counts `expected` rows; fails the test otherwise.
    pub async fn wait_for_count(&self, sql: &str, expected: i64) -> anyhow::Result<()> {
        let reached = eventually(WAIT, || async { Ok(self.count(sql).await? == expected) }).await?;
        anyhow::ensure!(
            reached,
            "{sql} never counted {expected}: {}",
            self.count(sql).await?
        );
        Ok(())
    }

    /// Moves the clock past the cut interval, so the cutter cuts.
    pub fn pass_cut_interval(&self) {
        self.clock.advance(chrono::Duration::seconds(2));
    }

    /// The payment list chunks published so far, waiting up to `within` for `at_least`.
    pub async fn published_chunks(
        &self,
        at_least: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<(String, PaymentListChunk)>> {
        let messages =
            read_topic(&self.topics.name(topics::PAYMENT_LISTS), at_least, within).await?;
        let mut chunks = Vec::new();
        for message in messages {
            let key = testkit::key_of(&message).unwrap_or_default();
            let chunk = PaymentListChunk::decode(message.payload().unwrap_or_default())?;
            chunks.push((key, chunk));
        }
        Ok(chunks)
    }

    /// A gRPC client.
    pub async fn client(&self) -> anyhow::Result<PayrollServiceClient<Channel>> {
        Ok(PayrollServiceClient::connect(format!("http://{}", self.grpc)).await?)
    }

    /// The receiver's trust store: the service's first policy key.
    pub fn trusted_keys(&self) -> TrustedKeys {
        TrustedKeys::default().with(self.key.key_id(), self.key.verifying_key())
    }

    /// Registers (or rotates) `officer_id`'s approval key, as operator "key-admin"; returns
    /// its public half.
    pub async fn register_officer_key(&self, officer_id: &str) -> anyhow::Result<SigningKey> {
        let key = self
            .client()
            .await?
            .rotate_signing_key(RotateSigningKeyRequest {
                officer: Some(officer("key-admin")),
                signer_officer_id: officer_id.into(),
            })
            .await?
            .into_inner()
            .key
            .ok_or_else(|| anyhow::anyhow!("no key in the answer"))?;
        Ok(key)
    }

    /// The receiver's trust store: every key `ListSigningKeys` lists as active or verify-only,
    /// as an operator would copy them.
    pub async fn listed_keys(&self) -> anyhow::Result<TrustedKeys> {
        let keys = self
            .client()
            .await?
            .list_signing_keys(ListSigningKeysRequest {})
            .await?
            .into_inner()
            .keys;
        let mut trusted = TrustedKeys::default();
        for key in keys {
            if key.state == SigningKeyState::Retired as i32 {
                continue;
            }
            let bytes = <[u8; 32]>::try_from(key.public_key.as_slice())?;
            trusted = trusted.with(
                &key.key_id,
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)?,
            );
        }
        Ok(trusted)
    }

    /// Stops the service and starts it again on the same database, topics and clock, as a new
    /// release would.
    pub async fn restart(self) -> anyhow::Result<Payroll> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.running).await???;
        let app = payroll::build(self.config.clone(), Arc::new(self.clock.clone())).await?;
        let grpc = app.grpc_address();
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Ok(Payroll {
            grpc,
            shutdown,
            running,
            ..self
        })
    }

    /// Stops the service and waits for it to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.running).await???;
        Ok(())
    }
}

/// Groups chunks by list id, ordered by chunk index.
pub fn by_list(chunks: Vec<(String, PaymentListChunk)>) -> BTreeMap<String, Vec<PaymentListChunk>> {
    let mut lists: BTreeMap<String, Vec<PaymentListChunk>> = BTreeMap::new();
    for (_, chunk) in chunks {
        lists.entry(chunk.list_id.clone()).or_default().push(chunk);
    }
    for chunks in lists.values_mut() {
        chunks.sort_by_key(|chunk| chunk.chunk_index);
    }
    lists
}

/// Reassembles one list's chunks and checks it as a receiver would: every chunk present once,
/// totals equal to the lines, the hash recomputed from the lines, the signature verified.
pub fn verify_list(chunks: &[PaymentListChunk], trusted: &TrustedKeys) -> anyhow::Result<()> {
    let first = chunks.first().ok_or_else(|| anyhow::anyhow!("no chunks"))?;
    let indices: Vec<u32> = chunks.iter().map(|chunk| chunk.chunk_index).collect();
    let expected: Vec<u32> = (0..first.chunk_count).collect();
    anyhow::ensure!(
        indices == expected,
        "chunks {indices:?} of {}",
        first.chunk_count
    );
    let mut lines = Vec::new();
    for chunk in chunks {
        for line in &chunk.lines {
            lines.push(payroll::wire::line_from(line).map_err(anyhow::Error::msg)?);
        }
    }
    let totals = list::totals(&lines)?;
    let announced = first.totals.unwrap_or_default();
    anyhow::ensure!(
        totals.line_count == announced.line_count,
        "line count differs"
    );
    anyhow::ensure!(totals.sum.as_i64() == announced.sum_dong, "sum differs");
    let list_id = Uuid::parse_str(&first.list_id)?;
    let hash = list::content_hash(list_id, &first.province, &totals, &lines);
    let carried = ContentHash::from_slice(&first.content_hash)
        .ok_or_else(|| anyhow::anyhow!("hash is not 32 bytes"))?;
    anyhow::ensure!(hash == carried, "content hash does not match the lines");
    let signature = first.signature.clone().unwrap_or_default();
    trusted.verify(&hash, &signature.key_id, &signature.signature)?;
    Ok(())
}
