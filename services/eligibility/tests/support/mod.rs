//! A running eligibility service on a fresh database and fresh topics, with a manual clock
//! and a gRPC client, plus helpers that arrange people, contributions and claims.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use clock::ManualClock;
use contracts::common::v1::{
    Agency, BankDestination, ContractType, Date, DestinationKind, Officer,
};
use contracts::eligibility::v1::{
    ApproveClaimRequest, Claim, DecisionEvent, EmploymentEndReason, ImportContributionsRequest,
    ImportHeader, RegisterClaimRequest, RegisterPersonRequest, Sex,
    eligibility_service_client::EligibilityServiceClient, import_contributions_request::Part,
};
use contracts::topics;
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serving::ServerSettings;
use testkit::{TestDatabase, TestTopics, kafka_settings, read_topic};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How long to wait for something asynchronous to happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// The service under test and what it runs on.
pub struct Harness {
    /// The service's database.
    pub database: TestDatabase,
    /// The test's topics.
    pub topics: TestTopics,
    /// The service's clock.
    pub clock: Arc<ManualClock>,
    /// A client of the service.
    pub client: EligibilityServiceClient<Channel>,
    /// The service's gRPC URL.
    pub url: String,
    /// The service's HTTP address (`/metrics`, `/health`).
    pub http: std::net::SocketAddr,
    producer: FutureProducer,
    stop: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// 09:00 in Hà Nội on the given day.
pub fn morning_of(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A protobuf date.
pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// A job-centre officer.
pub fn registrar() -> Option<Officer> {
    Some(Officer {
        officer_id: "centre-officer-1".into(),
        agency: Agency::JobCentre as i32,
    })
}

/// An operator, who may change the rate data.
pub fn operator() -> Option<Officer> {
    Some(Officer {
        officer_id: "operator-1".into(),
        agency: Agency::Operator as i32,
    })
}

/// Trần Thị Bình, a woman from Hà Nội born 2 June 1990, unrelated to An.
pub fn binh() -> RegisterPersonRequest {
    RegisterPersonRequest {
        full_name: "Trần Thị Bình".into(),
        birth_date: date(1990, 6, 2),
        sex: Sex::Female as i32,
        citizen_id: "001190054321".into(),
        legacy_id: String::new(),
        social_insurance_number: "0107654321".into(),
        province: "01".into(),
        officer: registrar(),
    }
}

/// A labour-department officer.
pub fn approver() -> Option<Officer> {
    Some(Officer {
        officer_id: "labour-officer-1".into(),
        agency: Agency::LabourDepartment as i32,
    })
}

/// Nguyễn Văn An, a man from Hà Nội born 14 March 1985.
pub fn an() -> RegisterPersonRequest {
    RegisterPersonRequest {
        full_name: "Nguyễn Văn An".into(),
        birth_date: date(1985, 3, 14),
        sex: Sex::Male as i32,
        citizen_id: "001085012345".into(),
        legacy_id: "012345678".into(),
        social_insurance_number: "0101234567".into(),
        province: "01".into(),
        officer: registrar(),
    }
}

/// Worked example 1's claim: ended 2026-03-10, filed 2026-03-16, indefinite contract.
pub fn example_1_claim(person_id: &str) -> RegisterClaimRequest {
    RegisterClaimRequest {
        person_id: person_id.into(),
        termination_date: date(2026, 3, 10),
        end_reason: EmploymentEndReason::ContractExpired as i32,
        last_contract_type: ContractType::Indefinite as i32,
        filing_date: date(2026, 3, 16),
        bank_destination: Some(BankDestination {
            bank_id: "970436".into(),
            kind: DestinationKind::Card as i32,
            number: "9704360000000001".into(),
            holder_name: "Nguyễn Văn An".into(),
        }),
        qualifies_for_pension: false,
        province: "01".into(),
        centre_id: "centre-hn-1".into(),
        officer: registrar(),
    }
}

/// CSV rows of `count` months ending with `last` (year, month), one employer, one salary.
pub fn months_csv(
    number: &str,
    employer: &str,
    last: (i32, u32),
    count: u32,
    salary: i64,
    region: u8,
) -> String {
    let mut rows = String::new();
    let (mut year, mut month) = last;
    let mut months = Vec::new();
    for _ in 0..count {
        months.push((year, month));
        if month == 1 {
            year -= 1;
            month = 12;
        } else {
            month -= 1;
        }
    }
    for (year, month) in months.into_iter().rev() {
        rows.push_str(&format!(
            "{number},,{employer},{year}-{month:02},{salary},indefinite,{region}\n"
        ));
    }
    rows
}

impl Harness {
    /// Starts the service with its clock at `now`.
    pub async fn start(now: DateTime<Utc>) -> anyhow::Result<Self> {
        let database = TestDatabase::create().await?;
        let topics = TestTopics::create(
            &[
                topics::CONTRIBUTIONS,
                topics::DECISIONS,
                topics::CHECKIN_SCANS,
                topics::TRANSFER_OUTCOMES,
            ],
            1,
        )
        .await?;
        let mut config = eligibility::Config::default();
        config.base.database = database.settings(eligibility::SERVICE);
        config.base.kafka = kafka_settings(eligibility::SERVICE);
        config.base.kafka.topic_prefix = topics.prefix().to_owned();
        config.base.server = ServerSettings::local(0, 0);
        // Moving the clock past a benefit's end completes it within a test's patience.
        config.completion.poll_interval_ms = 100;
        let clock = Arc::new(ManualClock::starting_at(now));
        let app = eligibility::build(config, clock.clone()).await?;
        let address = app.grpc_address();
        let http = app.http_address();
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(stop.clone()));
        let url = format!("http://{address}");
        let client = EligibilityServiceClient::connect(url.clone()).await?;
        let producer = messaging::idempotent_producer(&kafka_settings("test-producer"))?;
        Ok(Self {
            database,
            topics,
            clock,
            client,
            url,
            http,
            producer,
            stop,
        })
    }

    /// Registers a person and returns their id.
    pub async fn register(&mut self, person: RegisterPersonRequest) -> anyhow::Result<String> {
        let reply = self.client.register_person(person).await?.into_inner();
        Ok(reply
            .person
            .map(|person| person.person_id)
            .unwrap_or_default())
    }

    /// Imports CSV text in chunks of `chunk` bytes.
    pub async fn import(
        &mut self,
        csv: &str,
        chunk: usize,
    ) -> anyhow::Result<contracts::eligibility::v1::ImportContributionsResponse> {
        let mut messages = vec![ImportContributionsRequest {
            part: Some(Part::Header(ImportHeader {
                source_name: "test.csv".into(),
                has_header_row: false,
                officer: registrar(),
            })),
        }];
        for piece in csv.as_bytes().chunks(chunk) {
            messages.push(ImportContributionsRequest {
                part: Some(Part::CsvChunk(piece.to_vec())),
            });
        }
        Ok(self
            .client
            .import_contributions(futures::stream::iter(messages))
            .await?
            .into_inner())
    }

    /// Registers An with worked example 1's history and claim; returns the claim.
    pub async fn example_1_claim(&mut self) -> anyhow::Result<Claim> {
        let person_id = self.register(an()).await?;
        self.import(
            &months_csv("0101234567", "EMP-OLD", (2026, 3), 40, 10_000_000, 1),
            97,
        )
        .await?;
        let reply = self
            .client
            .register_claim(example_1_claim(&person_id))
            .await?
            .into_inner();
        reply
            .claim
            .ok_or_else(|| anyhow::anyhow!("no claim in the reply"))
    }

    /// Approves a claim as the labour-department officer; returns the decision id.
    pub async fn approve(&mut self, claim_id: &str) -> anyhow::Result<String> {
        let reply = self
            .client
            .approve_claim(ApproveClaimRequest {
                claim_id: claim_id.into(),
                decision_number: String::new(),
                handover_date: None,
                officer: approver(),
            })
            .await?
            .into_inner();
        Ok(reply
            .decision
            .map(|decision| decision.decision_id)
            .unwrap_or_default())
    }

    /// Publishes `message` on the test's `topic` with its own event id.
    pub async fn publish(
        &self,
        topic: &str,
        key: &str,
        message: &impl prost::Message,
    ) -> anyhow::Result<()> {
        let name = self.topics.name(topic);
        let payload = message.encode_to_vec();
        let event_id = uuid::Uuid::new_v4().to_string();
        let record =
            FutureRecord::to(&name)
                .key(key)
                .payload(&payload)
                .headers(OwnedHeaders::new().insert(Header {
                    key: messaging::headers::EVENT_ID,
                    value: Some(&event_id),
                }));
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }

    /// The decision events published once `count` have arrived and nothing more came for a
    /// few seconds, so a test can assert an exact number.
    pub async fn decision_events(
        &self,
        count: usize,
    ) -> anyhow::Result<Vec<(String, DecisionEvent)>> {
        let topic = self.topics.name(topics::DECISIONS);
        read_topic(&topic, count, WAIT).await?;
        let messages = read_topic(&topic, count + 1, Duration::from_secs(3)).await?;
        let mut events = Vec::new();
        for message in messages {
            let key = testkit::key_of(&message).unwrap_or_default();
            events.push((
                key,
                DecisionEvent::decode(message.payload().unwrap_or_default())?,
            ));
        }
        Ok(events)
    }

    /// A count from the service's schema, read as the superuser.
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        let mut conn = self.database.admin_connection().await?;
        Ok(
            sqlx::query_scalar(&format!("SELECT count(*) FROM eligibility.{table}"))
                .fetch_one(&mut conn)
                .await?,
        )
    }
}
