//! The whole system arranged for the end-to-end tests: the four services and the bank
//! simulator on one database, one set of topics and one clock driven by the test, and the
//! fixtures of one beneficiary, Nguyễn Văn An, from his claim to his first check-in.

pub mod intake;
pub mod law;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use clock::{ManualClock, SharedClock};
use contracts::checkin::v1::{
    GetNoticeRequest, NoticeFormat, RegisterKioskRequest, ScanRequest, ScanResponse,
    checkin_service_client::CheckinServiceClient,
};
use contracts::common::v1::{
    Agency, BankDestination, ContractType, Date, DestinationKind, Officer, YearMonth,
};
use contracts::eligibility::v1::{
    ApproveClaimRequest, EmploymentEndReason, ImportContributionsRequest, ImportHeader,
    RegisterClaimRequest, RegisterPersonRequest, Sex,
    eligibility_service_client::EligibilityServiceClient, import_contributions_request::Part,
};
use contracts::payroll::v1::{
    GetMonthlyStatisticsRequest, ProvinceMonthStatistics, RotateSigningKeyRequest,
    payroll_service_client::PayrollServiceClient,
};
use contracts::topics;
use contracts::transfer::v1::{
    GetReconciliationRequest, ReconciliationRow, transfer_service_client::TransferServiceClient,
};
use messaging::KafkaSettings;
use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use serving::ServerSettings;
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How long each hop of the flow may take.
pub const HOP: Duration = Duration::from_secs(30);
/// The beneficiary's bank: Vietcombank.
pub const BANK: &str = "970436";
/// The beneficiary's card; it passes the Luhn check.
pub const CARD: &str = "9704360000000000002";
/// Hà Nội.
pub const PROVINCE: &str = "01";
/// Payroll's local policy key, which signs lists approved by policy.
pub const PAYROLL_KEY_ID: &str = "payroll-local-1";
/// Its public key, which transfer must trust.
pub const PAYROLL_PUBLIC_KEY: &str =
    "cb3da9e93ddf4e8e4ce31342239492352d32525d2fdc4bcbbb333f3f0861cf96";
/// Payroll cuts a list at least this often, on the shared clock.
pub const CUT_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// 09:00 in Hà Nội on the given day.
pub fn morning_of(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

pub fn officer(officer_id: &str, agency: Agency) -> Option<Officer> {
    Some(Officer {
        officer_id: officer_id.into(),
        agency: agency as i32,
    })
}

/// The job-centre officer who registers the person and the claim.
pub fn registrar() -> Option<Officer> {
    officer("centre-officer-1", Agency::JobCentre)
}

/// The labour-department officer who approves the claim.
pub fn approver() -> Option<Officer> {
    officer("labour-officer-1", Agency::LabourDepartment)
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
        province: PROVINCE.into(),
        officer: registrar(),
    }
}

/// 40 months at 10,000,000 đồng a month with one employer, up to March 2026.
pub fn contribution_history() -> String {
    let mut rows = String::new();
    let (mut year, mut month) = (2022, 12);
    for _ in 0..40 {
        rows.push_str(&format!(
            "0101234567,,EMP-OLD,{year}-{month:02},10000000,indefinite,1\n"
        ));
        if month == 12 {
            year += 1;
            month = 1;
        } else {
            month += 1;
        }
    }
    rows
}

/// Employment ended 10 March 2026, claim filed 16 March, paid to An's card.
pub fn claim(person_id: &str) -> RegisterClaimRequest {
    RegisterClaimRequest {
        person_id: person_id.into(),
        termination_date: date(2026, 3, 10),
        end_reason: EmploymentEndReason::ContractExpired as i32,
        last_contract_type: ContractType::Indefinite as i32,
        filing_date: date(2026, 3, 16),
        bank_destination: Some(BankDestination {
            bank_id: BANK.into(),
            kind: DestinationKind::Card as i32,
            number: CARD.into(),
            holder_name: "Nguyễn Văn An".into(),
        }),
        qualifies_for_pension: false,
        province: PROVINCE.into(),
        centre_id: "centre-hn-1".into(),
        officer: registrar(),
    }
}

/// The text a kiosk camera reads from the notice's QR code.
pub fn decode_qr(png_bytes: &[u8]) -> anyhow::Result<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader.next_frame(&mut pixels)?;
    let width = info.width as usize;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, info.height as usize, |x, y| {
            pixels[y * width + x]
        });
    let grids = image.detect_grids();
    anyhow::ensure!(
        grids.len() == 1,
        "expected one QR code, found {}",
        grids.len()
    );
    let (_, content) = grids[0].decode()?;
    Ok(content)
}

/// Fails naming `hop` unless `check` holds within [`HOP`].
pub async fn hop<F, Fut>(hop: &str, check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    anyhow::ensure!(
        eventually(HOP, check).await?,
        "hop not reached within {HOP:?}: {hop}"
    );
    Ok(())
}

/// The whole system on one database, one set of topics and one manual clock.
pub struct System {
    // Held so the database and topics outlive the services.
    _database: TestDatabase,
    _topics: TestTopics,
    /// The clock every service reads.
    pub clock: Arc<ManualClock>,
    /// Eligibility's client.
    pub eligibility: EligibilityServiceClient<Channel>,
    /// Checkin's client.
    pub checkin: CheckinServiceClient<Channel>,
    payroll: PayrollServiceClient<Channel>,
    transfer: TransferServiceClient<Channel>,
    stop: CancellationToken,
    topic_prefix: String,
    // Consumer group of each service and of the bank simulator.
    groups: BTreeMap<String, String>,
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl System {
    /// Starts the four services and the bank simulator, the clock at `now`.
    pub async fn start(now: DateTime<Utc>) -> anyhow::Result<Self> {
        Self::start_with(now, Setup::default()).await
    }

    /// Starts the four services and the bank simulator as `setup` says, the clock at `now`.
    pub async fn start_with(now: DateTime<Utc>, setup: Setup) -> anyhow::Result<Self> {
        let database = TestDatabase::create().await?;
        let bank_topics: Vec<String> = setup
            .banks
            .iter()
            .map(|bank| topics::bank_transfers(bank))
            .collect();
        let mut names = vec![
            topics::CONTRIBUTIONS,
            topics::DECISIONS,
            topics::CHECKIN_SCANS,
            topics::PAYMENT_LISTS,
            topics::BANK_RESULTS,
            topics::TRANSFER_OUTCOMES,
        ];
        names.extend(bank_topics.iter().map(String::as_str));
        let test_topics = TestTopics::create(&names, 1).await?;
        let mut groups = BTreeMap::new();
        let mut kafka = |service: &str| {
            let settings = KafkaSettings {
                topic_prefix: test_topics.prefix().to_owned(),
                // Offsets reach the broker quickly, so a test can tell when a group caught up.
                properties: BTreeMap::from([(
                    "auto_commit_interval_ms".to_owned(),
                    "100".to_owned(),
                )]),
                ..kafka_settings(service)
            };
            groups.insert(service.to_owned(), settings.group_id.clone());
            settings
        };
        let clock = Arc::new(ManualClock::starting_at(now));
        let shared: SharedClock = clock.clone();
        let stop = CancellationToken::new();

        let mut config = eligibility::Config::default();
        config.base.database = database.settings(eligibility::SERVICE);
        config.base.kafka = kafka(eligibility::SERVICE);
        config.base.server = ServerSettings::local(0, 0);
        let app = eligibility::build(config, shared.clone()).await?;
        let eligibility_url = format!("http://{}", app.grpc_address());
        tokio::spawn(app.run_until_stopped(stop.clone()));

        let mut config = checkin::Config::default();
        config.base.database = database.settings(checkin::SERVICE);
        config.base.kafka = kafka(checkin::SERVICE);
        config.base.server = ServerSettings::local(0, 0);
        config.missed.poll_interval_ms = 50;
        let app = checkin::build(config, shared.clone()).await?;
        let checkin_url = format!("http://{}", app.grpc_address());
        tokio::spawn(app.run_until_stopped(stop.clone()));

        let mut config = payroll::Config::default();
        config.base.database = database.settings(payroll::SERVICE);
        config.base.kafka = kafka(payroll::SERVICE);
        config.base.server = ServerSettings::local(0, 0);
        config.lists.cut_interval_ms = u64::try_from(CUT_INTERVAL.num_milliseconds())?;
        let app = payroll::build(config, shared.clone()).await?;
        let payroll_url = format!("http://{}", app.grpc_address());
        tokio::spawn(app.run_until_stopped(stop.clone()));
        let mut payroll = PayrollServiceClient::connect(payroll_url).await?;

        // Officers who release held lines sign the lists they approve with their own keys,
        // which transfer must trust as it trusts payroll's policy key.
        let mut trusted_keys =
            BTreeMap::from([(PAYROLL_KEY_ID.to_owned(), PAYROLL_PUBLIC_KEY.to_owned())]);
        for officer_id in &setup.list_approvers {
            let key = payroll
                .rotate_signing_key(RotateSigningKeyRequest {
                    officer: officer("operator-1", Agency::SocialSecurity),
                    signer_officer_id: officer_id.clone(),
                })
                .await?
                .into_inner()
                .key
                .ok_or_else(|| anyhow::anyhow!("no key in the reply"))?;
            trusted_keys.insert(key.key_id, hex(&key.public_key));
        }

        let mut config = transfer::Config::default();
        config.base.database = database.settings(transfer::SERVICE);
        config.base.kafka = kafka(transfer::SERVICE);
        config.base.server = ServerSettings::local(0, 0);
        config.lists.trusted_keys = trusted_keys;
        config.retry.poll_interval_ms = 50;
        let app = transfer::build(config, shared).await?;
        let transfer_url = format!("http://{}", app.grpc_address());
        tokio::spawn(app.run_until_stopped(stop.clone()));

        let bank = bank_simulator::Simulator::connect(
            &kafka("bank-simulator"),
            bank_simulator::SimulatorSettings {
                bank_ids: setup.banks.clone(),
                delay_ms: 10,
                shares: setup.shares.clone(),
                seed: setup.bank_seed,
            },
        )?;
        tokio::spawn(bank.run(stop.clone()));

        Ok(Self {
            topic_prefix: test_topics.prefix().to_owned(),
            groups,
            _database: database,
            _topics: test_topics,
            clock,
            eligibility: EligibilityServiceClient::connect(eligibility_url).await?,
            checkin: CheckinServiceClient::connect(checkin_url).await?,
            payroll,
            transfer: TransferServiceClient::connect(transfer_url).await?,
            stop,
        })
    }

    /// The broker's name of this system's topic `name`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }

    /// True when `service`'s consumer group has committed every message on its topic `name`
    /// (a one-partition test topic): everything published there so far is applied.
    pub async fn caught_up(&self, service: &str, name: &str) -> anyhow::Result<bool> {
        let group = self
            .groups
            .get(service)
            .ok_or_else(|| anyhow::anyhow!("no consumer group for {service}"))?;
        caught_up(group, &self.topic(name)).await
    }

    /// Imports `csv` through eligibility's import stream.
    pub async fn import(&mut self, csv: &str) -> anyhow::Result<()> {
        let messages = vec![
            ImportContributionsRequest {
                part: Some(Part::Header(ImportHeader {
                    source_name: "contributions.csv".into(),
                    has_header_row: false,
                    officer: registrar(),
                })),
            },
            ImportContributionsRequest {
                part: Some(Part::CsvChunk(csv.as_bytes().to_vec())),
            },
        ];
        self.eligibility
            .import_contributions(futures::stream::iter(messages))
            .await?;
        Ok(())
    }

    /// Scans `text` at the kiosk holding `credential`.
    pub async fn scan(&mut self, credential: &str, text: &str) -> anyhow::Result<ScanResponse> {
        let mut request = tonic::Request::new(ScanRequest {
            scanned_text: text.into(),
            kiosk_id: String::new(),
        });
        request
            .metadata_mut()
            .insert(checkin::KIOSK_CREDENTIAL_HEADER, credential.parse()?);
        Ok(self.checkin.scan(request).await?.into_inner())
    }

    /// Clones of the clients, for polling.
    pub fn clients(&self) -> Clients {
        Clients {
            payroll: self.payroll.clone(),
            transfer: self.transfer.clone(),
        }
    }
}

/// The clients the hops poll.
pub struct Clients {
    /// Payroll's client.
    pub payroll: PayrollServiceClient<Channel>,
    /// Transfer's client.
    pub transfer: TransferServiceClient<Channel>,
}

/// Every reconciliation row for the beneficiary's bank.
pub async fn reconciliation(
    transfer: &mut TransferServiceClient<Channel>,
) -> anyhow::Result<Vec<ReconciliationRow>> {
    Ok(transfer
        .get_reconciliation(GetReconciliationRequest {
            list_id: String::new(),
            bank_id: BANK.into(),
            month: None,
        })
        .await?
        .into_inner()
        .rows)
}

/// Payroll's statistics for the province over 2026.
pub async fn statistics(
    payroll: &mut PayrollServiceClient<Channel>,
) -> anyhow::Result<Vec<ProvinceMonthStatistics>> {
    Ok(payroll
        .get_monthly_statistics(GetMonthlyStatisticsRequest {
            province: PROVINCE.into(),
            from_month: Some(YearMonth {
                year: 2026,
                month: 1,
            }),
            to_month: Some(YearMonth {
                year: 2026,
                month: 12,
            }),
        })
        .await?
        .into_inner()
        .rows)
}

/// The sum of `figure` over every province and month.
pub fn total<T: std::iter::Sum<T>>(
    rows: &[ProvinceMonthStatistics],
    figure: impl Fn(&ProvinceMonthStatistics) -> T,
) -> T {
    rows.iter().map(figure).sum()
}

/// Sums over the reconciliation rows: (approved, credited, approved count, credited count).
pub fn reconciled(rows: &[ReconciliationRow]) -> (i64, i64, u64, u64) {
    rows.iter().fold((0, 0, 0, 0), |sum, row| {
        (
            sum.0 + row.approved_dong,
            sum.1 + row.credited_dong,
            sum.2 + row.approved_count,
            sum.3 + row.credited_count,
        )
    })
}

/// What a beneficiary holds on hand-over day: his notice's barcode text, and the kiosk he
/// scans it at.
pub struct ReadyToCheckIn {
    /// The monthly amount the claim was assessed at, in đồng.
    pub monthly_amount: i64,
    /// The decision approving the claim.
    pub decision_id: String,
    /// The text a kiosk camera reads from the notice.
    pub token: String,
    /// The kiosk's credential.
    pub kiosk_credential: String,
}

impl System {
    /// An's contribution history, person and claim registered on 16 March 2026, approved on
    /// 24 March with hand-over on 27 March, his notice issued and a kiosk registered; the
    /// clock is left at 09:00 on hand-over day, inside month 1's check-in window.
    pub async fn prepare_first_check_in(&mut self) -> anyhow::Result<ReadyToCheckIn> {
        self.import(&contribution_history()).await?;
        let person = self
            .eligibility
            .register_person(an())
            .await?
            .into_inner()
            .person
            .ok_or_else(|| anyhow::anyhow!("no person in the reply"))?;
        let claim = self
            .eligibility
            .register_claim(claim(&person.person_id))
            .await?
            .into_inner()
            .claim
            .ok_or_else(|| anyhow::anyhow!("no claim in the reply"))?;
        let monthly_amount = claim
            .assessment
            .as_ref()
            .map(|assessment| assessment.monthly_amount_dong)
            .unwrap_or_default();
        anyhow::ensure!(
            monthly_amount > 0,
            "the claim was assessed without an amount"
        );

        self.clock.set(morning_of(2026, 3, 24));
        let decision_id = self
            .eligibility
            .approve_claim(ApproveClaimRequest {
                claim_id: claim.claim_id.clone(),
                decision_number: String::new(),
                handover_date: date(2026, 3, 27),
                officer: approver(),
            })
            .await?
            .into_inner()
            .decision
            .map(|decision| decision.decision_id)
            .ok_or_else(|| anyhow::anyhow!("no decision in the reply"))?;

        let checkin = self.checkin.clone();
        let notice_request = GetNoticeRequest {
            decision_id: decision_id.clone(),
            format: NoticeFormat::Png as i32,
            officer: registrar(),
        };
        hop(
            "the decision reaches checkin and a notice is issued",
            || {
                let mut checkin = checkin.clone();
                let request = notice_request.clone();
                async move { Ok(checkin.get_notice(request).await.is_ok()) }
            },
        )
        .await?;
        let notice = self.checkin.get_notice(notice_request).await?.into_inner();
        let token = decode_qr(&notice.content)?;
        let kiosk = self
            .checkin
            .register_kiosk(RegisterKioskRequest {
                centre_id: "centre-hn-1".into(),
                province: PROVINCE.into(),
                label: "Quầy 1, tầng 1".into(),
                officer: registrar(),
            })
            .await?
            .into_inner();
        self.clock.set(morning_of(2026, 3, 27));
        Ok(ReadyToCheckIn {
            monthly_amount,
            decision_id,
            token,
            kiosk_credential: kiosk.credential,
        })
    }

    /// Waits, hop by hop, until a check-in already accepted is paid: payroll records the
    /// entitlement, cuts a list on its next interval, transfer instructs the bank, the bank
    /// credits, and payroll learns of it.
    pub async fn follow_check_in_to_payment(&mut self) -> anyhow::Result<()> {
        hop("the check-in reaches payroll as an entitlement", || {
            let mut system = self.clients();
            async move {
                Ok(total(&statistics(&mut system.payroll).await?, |row| {
                    row.entitlements
                }) == 1)
            }
        })
        .await?;
        self.clock.advance(CUT_INTERVAL * 2);
        hop("payroll cuts a list with the entitlement", || {
            let mut system = self.clients();
            async move { Ok(total(&statistics(&mut system.payroll).await?, |row| row.lists) >= 1) }
        })
        .await?;
        hop("transfer verifies the list and instructs the bank", || {
            let mut system = self.clients();
            async move { Ok(reconciled(&reconciliation(&mut system.transfer).await?).2 >= 1) }
        })
        .await?;
        hop("the bank's credit is reconciled at transfer", || {
            let mut system = self.clients();
            async move { Ok(reconciled(&reconciliation(&mut system.transfer).await?).3 >= 1) }
        })
        .await?;
        hop(
            "the outcome reaches payroll and the entitlement is paid",
            || {
                let mut system = self.clients();
                async move {
                    Ok(total(&statistics(&mut system.payroll).await?, |row| row.paid_dong) > 0)
                }
            },
        )
        .await
    }
}

/// How the system is started: which banks exist and how they answer, and which officers may
/// approve lists.
#[derive(Debug, Clone)]
pub struct Setup {
    /// 6-digit NAPAS ids of the banks the simulator plays, each with its topic.
    pub banks: Vec<String>,
    /// Shares of the simulator's refusals.
    pub shares: bank_simulator::Shares,
    /// Seed of the simulator's outcome draw.
    pub bank_seed: u64,
    /// Social-security officers given a list signing key that transfer trusts.
    pub list_approvers: Vec<String>,
}

impl Default for Setup {
    /// One bank, [`BANK`], that credits every instruction.
    fn default() -> Self {
        Self {
            banks: vec![BANK.to_owned()],
            shares: bank_simulator::Shares::default(),
            bank_seed: bank_simulator::SimulatorSettings::default().seed,
            list_approvers: Vec::new(),
        }
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// True when consumer group `group` has committed up to the end of the one-partition `topic`.
pub async fn caught_up(group: &str, topic: &str) -> anyhow::Result<bool> {
    let (_, high, next) =
        committed_position(kafka_settings("observer").client_config(), group, topic).await?;
    Ok(next >= high)
}

/// The low and high watermarks of the one-partition `topic` and the offset consumer group
/// `group` committed there (0 when none), asked of the brokers `config` names.
pub async fn committed_position(
    mut config: ClientConfig,
    group: &str,
    topic: &str,
) -> anyhow::Result<(i64, i64, i64)> {
    let consumer: BaseConsumer = config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let topic = topic.to_owned();
    // The broker questions block; they run off the test's runtime threads.
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(5);
        let (low, high) = consumer.fetch_watermarks(&topic, 0, timeout)?;
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&topic, 0);
        let committed = consumer.committed_offsets(partitions, timeout)?;
        let next = committed
            .find_partition(&topic, 0)
            .and_then(|partition| match partition.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            })
            .unwrap_or(0);
        anyhow::Ok((low, high, next))
    })
    .await?
}
