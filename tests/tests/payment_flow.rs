//! One person, one benefit month, from the claim to the bank's credit: the four services and
//! the bank simulator run together on one database, one set of topics and one clock driven by
//! the test, and are reached only through their gRPC APIs and Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use clock::{ManualClock, SharedClock};
use contracts::checkin::v1::{
    GetNoticeRequest, NoticeFormat, RegisterKioskRequest, ScanOutcome, ScanRequest, ScanResponse,
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
    GetMonthlyStatisticsRequest, ProvinceMonthStatistics,
    payroll_service_client::PayrollServiceClient,
};
use contracts::topics;
use contracts::transfer::v1::{
    GetReconciliationRequest, ReconciliationRow, transfer_service_client::TransferServiceClient,
};
use messaging::KafkaSettings;
use serving::ServerSettings;
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How long each hop of the flow may take.
const HOP: Duration = Duration::from_secs(30);
/// The beneficiary's bank: Vietcombank.
const BANK: &str = "970436";
/// The beneficiary's card; it passes the Luhn check.
const CARD: &str = "9704360000000000002";
/// Hà Nội.
const PROVINCE: &str = "01";
/// Payroll's local policy key, which signs lists approved by policy.
const PAYROLL_KEY_ID: &str = "payroll-local-1";
/// Its public key, which transfer must trust.
const PAYROLL_PUBLIC_KEY: &str = "cb3da9e93ddf4e8e4ce31342239492352d32525d2fdc4bcbbb333f3f0861cf96";
/// Payroll cuts a list at least this often, on the shared clock.
const CUT_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// 09:00 in Hà Nội on the given day.
fn morning_of(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn officer(officer_id: &str, agency: Agency) -> Option<Officer> {
    Some(Officer {
        officer_id: officer_id.into(),
        agency: agency as i32,
    })
}

/// The job-centre officer who registers the person and the claim.
fn registrar() -> Option<Officer> {
    officer("centre-officer-1", Agency::JobCentre)
}

/// The labour-department officer who approves the claim.
fn approver() -> Option<Officer> {
    officer("labour-officer-1", Agency::LabourDepartment)
}

/// Nguyễn Văn An, a man from Hà Nội born 14 March 1985.
fn an() -> RegisterPersonRequest {
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
fn contribution_history() -> String {
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
fn claim(person_id: &str) -> RegisterClaimRequest {
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
fn decode_qr(png_bytes: &[u8]) -> anyhow::Result<String> {
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
async fn hop<F, Fut>(hop: &str, check: F) -> anyhow::Result<()>
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
struct System {
    // Held so the database and topics outlive the services.
    _database: TestDatabase,
    _topics: TestTopics,
    clock: Arc<ManualClock>,
    eligibility: EligibilityServiceClient<Channel>,
    checkin: CheckinServiceClient<Channel>,
    payroll: PayrollServiceClient<Channel>,
    transfer: TransferServiceClient<Channel>,
    stop: CancellationToken,
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl System {
    /// Starts the four services and the bank simulator, the clock at `now`.
    async fn start(now: DateTime<Utc>) -> anyhow::Result<Self> {
        let database = TestDatabase::create().await?;
        let bank_topic = topics::bank_transfers(BANK);
        let test_topics = TestTopics::create(
            &[
                topics::CONTRIBUTIONS,
                topics::DECISIONS,
                topics::CHECKIN_SCANS,
                topics::PAYMENT_LISTS,
                topics::BANK_RESULTS,
                topics::TRANSFER_OUTCOMES,
                &bank_topic,
            ],
            1,
        )
        .await?;
        let kafka = |service: &str| KafkaSettings {
            topic_prefix: test_topics.prefix().to_owned(),
            ..kafka_settings(service)
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

        let mut config = transfer::Config::default();
        config.base.database = database.settings(transfer::SERVICE);
        config.base.kafka = kafka(transfer::SERVICE);
        config.base.server = ServerSettings::local(0, 0);
        config.lists.trusted_keys =
            BTreeMap::from([(PAYROLL_KEY_ID.to_owned(), PAYROLL_PUBLIC_KEY.to_owned())]);
        config.retry.poll_interval_ms = 50;
        let app = transfer::build(config, shared).await?;
        let transfer_url = format!("http://{}", app.grpc_address());
        tokio::spawn(app.run_until_stopped(stop.clone()));

        let bank = bank_simulator::Simulator::connect(
            &kafka("bank-simulator"),
            bank_simulator::SimulatorSettings {
                bank_ids: vec![BANK.to_owned()],
                delay_ms: 10,
                shares: bank_simulator::Shares::default(),
                ..bank_simulator::SimulatorSettings::default()
            },
        )?;
        tokio::spawn(bank.run(stop.clone()));

        Ok(Self {
            _database: database,
            _topics: test_topics,
            clock,
            eligibility: EligibilityServiceClient::connect(eligibility_url).await?,
            checkin: CheckinServiceClient::connect(checkin_url).await?,
            payroll: PayrollServiceClient::connect(payroll_url).await?,
            transfer: TransferServiceClient::connect(transfer_url).await?,
            stop,
        })
    }

    /// Imports `csv` through eligibility's import stream.
    async fn import(&mut self, csv: &str) -> anyhow::Result<()> {
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
    async fn scan(&mut self, credential: &str, text: &str) -> anyhow::Result<ScanResponse> {
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
    fn clients(&self) -> Clients {
        Clients {
            payroll: self.payroll.clone(),
            transfer: self.transfer.clone(),
        }
    }
}

/// The clients the hops poll.
struct Clients {
    payroll: PayrollServiceClient<Channel>,
    transfer: TransferServiceClient<Channel>,
}

/// Every reconciliation row for the beneficiary's bank.
async fn reconciliation(
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
async fn statistics(
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
fn total<T: std::iter::Sum<T>>(
    rows: &[ProvinceMonthStatistics],
    figure: impl Fn(&ProvinceMonthStatistics) -> T,
) -> T {
    rows.iter().map(figure).sum()
}

/// Sums over the reconciliation rows: (approved, credited, approved count, credited count).
fn reconciled(rows: &[ReconciliationRow]) -> (i64, i64, u64, u64) {
    rows.iter().fold((0, 0, 0, 0), |sum, row| {
        (
            sum.0 + row.approved_dong,
            sum.1 + row.credited_dong,
            sum.2 + row.approved_count,
            sum.3 + row.credited_count,
        )
    })
}

#[tokio::test]
async fn one_check_in_is_paid_once_from_claim_to_bank_credit() -> anyhow::Result<()> {
    // Arrange: the system on Monday 16 March 2026, the day An files his claim.
    let mut system = System::start(morning_of(2026, 3, 16)).await?;

    // Act: the contribution history, the person and the claim, at the job centre.
    system.import(&contribution_history()).await?;
    let person = system
        .eligibility
        .register_person(an())
        .await?
        .into_inner()
        .person
        .ok_or_else(|| anyhow::anyhow!("no person in the reply"))?;
    let claim = system
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

    // Approved on Tuesday 24 March by the labour department, handed over on Friday 27 March:
    // month 1's check-in window opens on hand-over.
    system.clock.set(morning_of(2026, 3, 24));
    let decision_id = system
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

    let mut checkin = system.checkin.clone();
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
    let notice = checkin.get_notice(notice_request).await?.into_inner();
    let token = decode_qr(&notice.content)?;

    let kiosk = checkin
        .register_kiosk(RegisterKioskRequest {
            centre_id: "centre-hn-1".into(),
            province: PROVINCE.into(),
            label: "Quầy 1, tầng 1".into(),
            officer: registrar(),
        })
        .await?
        .into_inner();

    // An scans his notice at the kiosk on hand-over day, inside month 1's window.
    system.clock.set(morning_of(2026, 3, 27));
    let first = system.scan(&kiosk.credential, &token).await?;
    anyhow::ensure!(
        first.outcome() == ScanOutcome::Accepted,
        "the first scan was not accepted: {first:?}"
    );
    hop("the check-in reaches payroll as an entitlement", || {
        let mut system = system.clients();
        async move {
            Ok(total(&statistics(&mut system.payroll).await?, |row| {
                row.entitlements
            }) == 1)
        }
    })
    .await?;

    // Payroll cuts, signs and publishes on its next interval; transfer pays; the bank credits.
    system.clock.advance(CUT_INTERVAL * 2);
    hop("payroll cuts a list with the entitlement", || {
        let mut system = system.clients();
        async move { Ok(total(&statistics(&mut system.payroll).await?, |row| row.lists) >= 1) }
    })
    .await?;
    hop("transfer verifies the list and instructs the bank", || {
        let mut system = system.clients();
        async move { Ok(reconciled(&reconciliation(&mut system.transfer).await?).2 >= 1) }
    })
    .await?;
    hop("the bank's credit is reconciled at transfer", || {
        let mut system = system.clients();
        async move { Ok(reconciled(&reconciliation(&mut system.transfer).await?).3 >= 1) }
    })
    .await?;
    hop(
        "the outcome reaches payroll and the entitlement is paid",
        || {
            let mut system = system.clients();
            async move {
                Ok(total(&statistics(&mut system.payroll).await?, |row| row.paid_dong) > 0)
            }
        },
    )
    .await?;
    let paid_once = reconciliation(&mut system.transfer).await?;

    // The same notice scanned again, and another cut interval.
    let second = system.scan(&kiosk.credential, &token).await?;
    system.clock.advance(CUT_INTERVAL * 2);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Assert: 40 months at 10,000,000 đồng give 60% of the average, as in worked example 1.
    assert_eq!(monthly_amount, 6_000_000, "the assessed monthly amount");
    assert_eq!(first.outcome(), ScanOutcome::Accepted, "{first:?}");
    assert_eq!(first.benefit_month, 1);
    assert_eq!(second.outcome(), ScanOutcome::AlreadyRecorded, "{second:?}");

    let rows = reconciliation(&mut system.transfer).await?;
    assert_eq!(
        rows, paid_once,
        "nothing more is paid after the repeat scan"
    );
    let (approved, credited, approved_count, credited_count) = reconciled(&rows);
    assert_eq!(approved_count, 1, "exactly one transfer: {rows:?}");
    assert_eq!(credited_count, 1, "and it is credited: {rows:?}");
    assert_eq!(
        approved, monthly_amount,
        "approved is the decision's amount"
    );
    assert_eq!(credited, approved, "credited to the đồng");
    assert!(
        rows.iter().all(|row| row.difference_dong == 0),
        "nothing unaccounted: {rows:?}"
    );

    let statistics = statistics(&mut system.payroll).await?;
    let paid = total(&statistics, |row| row.paid_dong);
    let paid_to_cards = total(&statistics, |row| row.paid_to_cards);
    let entitlements = total(&statistics, |row| row.entitlements);
    assert_eq!(
        entitlements, 1,
        "one entitlement for the one check-in: {statistics:?}"
    );
    assert_eq!(
        paid, monthly_amount,
        "payroll shows the month paid: {statistics:?}"
    );
    assert_eq!(paid_to_cards, 1, "to the card: {statistics:?}");
    Ok(())
}
