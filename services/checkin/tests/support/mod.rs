//! A running checkin service against a fresh database and fresh topics, fed decisions through
//! its real topic and called through its real gRPC API.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::{net::SocketAddr, time::Duration};

use checkin::domain::ids::{DecisionId, KeyId};
use checkin::domain::token::NoticeSigner;
use checkin::{AcceptedKey, Config, KIOSK_CREDENTIAL_HEADER};
use chrono::{DateTime, TimeZone, Utc};
use clock::ManualClock;
use contracts::checkin::v1::{
    CheckinEvent, RegisterKioskRequest, ScanRequest, ScanResponse,
    checkin_service_client::CheckinServiceClient,
};
use contracts::common::v1::{Agency, CheckinWindow, Date, Officer};
use contracts::eligibility::v1::{DecisionActivated, DecisionEvent, decision_event};
use contracts::topics;
use prost::Message as _;
use rdkafka::{
    Message,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use serving::ServerSettings;
use sqlx::PgConnection;
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings, read_topic};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};
use uuid::Uuid;

/// Seed of the key that signs notices in tests.
pub const SIGNING_SEED: [u8; 32] = [2; 32];
/// Id of the key that signs notices in tests.
pub const SIGNING_KEY_ID: &str = "test-2";
/// Seed of a key that once signed notices and is now retired.
pub const RETIRED_SEED: [u8; 32] = [1; 32];
/// Id of the retired key.
pub const RETIRED_KEY_ID: &str = "test-1";

/// 10:00 in Hà Nội on `day`.
pub fn morning_of(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 3, 0, 0).unwrap()
}

fn date(year: i32, month: u32, day: u32) -> Option<Date> {
    Some(Date {
        year,
        month: month as i32,
        day: day as i32,
    })
}

/// Three benefit months from 16 March 2026, check-in windows 13–18 Mar, 16–20 Apr, 18–20 May.
pub fn windows() -> Vec<CheckinWindow> {
    vec![
        CheckinWindow {
            benefit_month: 1,
            month_start: date(2026, 3, 16),
            month_end: date(2026, 4, 15),
            opens_on: date(2026, 3, 13),
            closes_on: date(2026, 3, 18),
        },
        CheckinWindow {
            benefit_month: 2,
            month_start: date(2026, 4, 16),
            month_end: date(2026, 5, 15),
            opens_on: date(2026, 4, 16),
            closes_on: date(2026, 4, 20),
        },
        CheckinWindow {
            benefit_month: 3,
            month_start: date(2026, 5, 16),
            month_end: date(2026, 6, 15),
            opens_on: date(2026, 5, 18),
            closes_on: date(2026, 5, 20),
        },
    ]
}

/// The activation of `decision_id` with [`windows`].
pub fn activation(decision_id: &str) -> DecisionEvent {
    DecisionEvent {
        decision_id: decision_id.into(),
        decision_version: 1,
        change: Some(decision_event::Change::Activated(DecisionActivated {
            decision_number: "123/QĐ-SLĐTBXH".into(),
            person_id: "person-1".into(),
            beneficiary_name: "Nguyễn Thị Lan".into(),
            amount_dong: 6_000_000,
            months: 3,
            start_date: date(2026, 3, 16),
            end_date: date(2026, 6, 15),
            checkin_windows: windows(),
            province: "91".into(),
            centre_id: "centre-kg".into(),
            handover_date: date(2026, 3, 13),
            ..DecisionActivated::default()
        })),
        ..DecisionEvent::default()
    }
}

/// A signer with `seed` under `key_id`, for forging and re-signing tokens.
pub fn signer(key_id: &str, seed: &[u8; 32]) -> anyhow::Result<NoticeSigner> {
    Ok(NoticeSigner::from_seed(KeyId::parse(key_id)?, seed))
}

/// A token for `notice_id` and `decision_id`, signed by `signer`, expiring at `expires_at`.
pub fn token(
    signer: &NoticeSigner,
    notice_id: Uuid,
    decision_id: &str,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<String> {
    let decision_id = DecisionId::parse(decision_id)?;
    Ok(signer.sign(notice_id, decision_id, expires_at).1)
}

/// The service under test and what it runs on.
pub struct Harness {
    pub database: TestDatabase,
    pub topics: TestTopics,
    pub clock: ManualClock,
    pub config: Config,
    pub client: CheckinServiceClient<Channel>,
    /// The service's gRPC address, for clients of their own.
    pub grpc: SocketAddr,
    /// The service's `/metrics` and `/health` address.
    pub http: SocketAddr,
    producer: FutureProducer,
    shutdown: CancellationToken,
    running: JoinHandle<Result<(), serving::ServeError>>,
}

impl Harness {
    /// Starts checkin at `now` on its own database and topics.
    pub async fn start(now: DateTime<Utc>) -> anyhow::Result<Self> {
        let database = TestDatabase::create().await?;
        let topics = TestTopics::create(&[topics::DECISIONS, topics::CHECKIN_SCANS], 1).await?;
        let mut config = Config::default();
        config.base.database = database.settings(checkin::SERVICE);
        config.base.kafka = kafka_settings(checkin::SERVICE);
        config.base.kafka.topic_prefix = topics.prefix().to_owned();
        config.base.server = ServerSettings::local(0, 0);
        config.notices.signing_key_id = SIGNING_KEY_ID.into();
        config.notices.signing_key_seed = settings::Secret::new(hex::encode(SIGNING_SEED));
        config.notices.accepted_keys = vec![AcceptedKey {
            key_id: RETIRED_KEY_ID.into(),
            public_key: hex::encode(
                signer(RETIRED_KEY_ID, &RETIRED_SEED)?
                    .public_key()
                    .to_bytes(),
            ),
            retired: true,
        }];
        config.missed.poll_interval_ms = 50;
        let clock = ManualClock::starting_at(now);
        let producer: FutureProducer = kafka_settings("feeder").client_config().create()?;
        let (client, shutdown, running, grpc, http) = launch(&config, &clock).await?;
        Ok(Self {
            database,
            topics,
            clock,
            config,
            client,
            grpc,
            http,
            producer,
            shutdown,
            running,
        })
    }

    /// Stops the service and starts it again on the same database, topics and clock.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), &mut self.running).await???;
        let (client, shutdown, running, grpc, http) = launch(&self.config, &self.clock).await?;
        self.client = client;
        self.grpc = grpc;
        self.http = http;
        self.shutdown = shutdown;
        self.running = running;
        Ok(())
    }

    /// A client on a connection of its own, as a kiosk has.
    pub async fn connect(&self) -> anyhow::Result<CheckinServiceClient<Channel>> {
        Ok(CheckinServiceClient::connect(format!("http://{}", self.grpc)).await?)
    }

    /// Produces `event` on the test's decisions topic, keyed by its decision id.
    pub async fn publish_decision(&self, event: &DecisionEvent) -> anyhow::Result<()> {
        let topic = self.topics.name(topics::DECISIONS);
        let payload = event.encode_to_vec();
        let event_id = Uuid::new_v4().to_string();
        let headers = OwnedHeaders::new().insert(Header {
            key: messaging::headers::EVENT_ID,
            value: Some(event_id.as_str()),
        });
        let record = FutureRecord::to(&topic)
            .key(&event.decision_id)
            .payload(&payload)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }

    /// Activates `decision_id` through the topic and returns its notice's token once issued.
    pub async fn activate(&self, decision_id: &str) -> anyhow::Result<String> {
        self.publish_decision(&activation(decision_id)).await?;
        // After a restart the consumer first rejoins its group. The local broker lets the
        // previous member go only after its session times out (45 s), and a loaded CI machine
        // has taken longer than 60 s in all.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(token) = self.notice_token(decision_id).await? {
                return Ok(token);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no notice issued for {decision_id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The token of `decision_id`'s notice, once issued.
    pub async fn notice_token(&self, decision_id: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.admin().await?;
        Ok(
            sqlx::query_scalar("SELECT token FROM checkin.notices WHERE decision_id = $1")
                .bind(decision_id)
                .fetch_optional(&mut conn)
                .await?,
        )
    }

    /// The notice id of `decision_id`'s notice.
    pub async fn notice_id(&self, decision_id: &str) -> anyhow::Result<Uuid> {
        let mut conn = self.admin().await?;
        Ok(
            sqlx::query_scalar("SELECT notice_id FROM checkin.notices WHERE decision_id = $1")
                .bind(decision_id)
                .fetch_one(&mut conn)
                .await?,
        )
    }

    /// Waits until `decision_id`'s stored state is `state`.
    pub async fn wait_for_state(&self, decision_id: &str, state: &str) -> anyhow::Result<()> {
        let reached = eventually(Duration::from_secs(20), || async {
            let mut conn = self.admin().await?;
            let stored: Option<String> =
                sqlx::query_scalar("SELECT state FROM checkin.decisions WHERE decision_id = $1")
                    .bind(decision_id)
                    .fetch_optional(&mut conn)
                    .await?;
            Ok(stored.as_deref() == Some(state))
        })
        .await?;
        anyhow::ensure!(reached, "{decision_id} never became {state}");
        Ok(())
    }

    /// A superuser connection to the test database.
    pub async fn admin(&self) -> anyhow::Result<PgConnection> {
        self.database.admin_connection().await
    }

    /// How many check-ins are stored.
    pub async fn checkin_count(&self) -> anyhow::Result<i64> {
        let mut conn = self.admin().await?;
        Ok(sqlx::query_scalar("SELECT count(*) FROM checkin.checkins")
            .fetch_one(&mut conn)
            .await?)
    }

    /// How many events are in the outbox, published or not.
    pub async fn outbox_count(&self) -> anyhow::Result<i64> {
        let mut conn = self.admin().await?;
        Ok(sqlx::query_scalar("SELECT count(*) FROM checkin.outbox")
            .fetch_one(&mut conn)
            .await?)
    }

    /// Registers a kiosk and returns its id and credential.
    pub async fn register_kiosk(&self) -> anyhow::Result<(String, String)> {
        let reply = self
            .client
            .clone()
            .register_kiosk(RegisterKioskRequest {
                centre_id: "centre-kg".into(),
                province: "91".into(),
                label: "Quầy 2, tầng 1".into(),
                officer: Some(officer()),
            })
            .await?
            .into_inner();
        Ok((reply.kiosk_id, reply.credential))
    }

    /// Scans `text` at the kiosk holding `credential`.
    pub async fn scan(&self, credential: &str, text: &str) -> Result<ScanResponse, tonic::Status> {
        scan_with(self.client.clone(), credential, text).await
    }

    /// The check-in events on the test's topic, reading until `count` arrived or a few
    /// seconds passed.
    pub async fn checkin_events(&self, count: usize) -> anyhow::Result<Vec<CheckinEvent>> {
        let topic = self.topics.name(topics::CHECKIN_SCANS);
        let messages = read_topic(&topic, count, Duration::from_secs(5)).await?;
        let mut events = Vec::new();
        for message in messages {
            let event = CheckinEvent::decode(message.payload().unwrap_or_default())?;
            assert_eq!(
                testkit::key_of(&message).as_deref(),
                Some(event.decision_id.as_str())
            );
            events.push(event);
        }
        Ok(events)
    }

    /// Stops the service.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.running).await???;
        Ok(())
    }
}

/// A job-centre officer.
pub fn officer() -> Officer {
    Officer {
        officer_id: "officer-7".into(),
        agency: Agency::JobCentre as i32,
    }
}

/// Scans `text` at the kiosk holding `credential`, through `client`.
pub async fn scan_with(
    mut client: CheckinServiceClient<Channel>,
    credential: &str,
    text: &str,
) -> Result<ScanResponse, tonic::Status> {
    let mut request = Request::new(ScanRequest {
        scanned_text: text.into(),
        kiosk_id: String::new(),
    });
    let value = credential
        .parse()
        .map_err(|_| tonic::Status::invalid_argument("credential is not metadata"))?;
    request
        .metadata_mut()
        .insert(KIOSK_CREDENTIAL_HEADER, value);
    Ok(client.scan(request).await?.into_inner())
}

type Launched = (
    CheckinServiceClient<Channel>,
    CancellationToken,
    JoinHandle<Result<(), serving::ServeError>>,
    SocketAddr,
    SocketAddr,
);

async fn launch(config: &Config, clock: &ManualClock) -> anyhow::Result<Launched> {
    let app = checkin::build(config.clone(), std::sync::Arc::new(clock.clone())).await?;
    let address: SocketAddr = app.grpc_address();
    let http = app.http_address();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = CheckinServiceClient::connect(format!("http://{address}")).await?;
    Ok((client, shutdown, running, address, http))
}
