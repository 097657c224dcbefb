//! Everything before the first scan, through the system's real paths: contribution histories
//! through eligibility's import stream, every person and claim registered at a job centre, the
//! eligible approved by the labour department, their notices issued by checkin, one kiosk per
//! province. Not timed as the month: it is what a province has done before check-in day.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use clock::OffsetFileClock;
use contracts::checkin::v1::RegisterKioskRequest;
use contracts::checkin::v1::checkin_service_client::CheckinServiceClient;
use contracts::common::v1::{Agency, Officer};
use contracts::eligibility::v1::eligibility_service_client::EligibilityServiceClient;
use contracts::eligibility::v1::{
    ApproveClaimRequest, ClaimStatus, ImportContributionsRequest, ImportHeader,
    import_contributions_request::Part,
};
use futures::{StreamExt as _, TryStreamExt as _};
use population::{Person, Spec};
use sqlx::PgPool;
use system_tests::intake;
use tonic::transport::Channel;

use crate::Options;
use crate::progress::Progress;

/// Claims are filed on the job centre's intake day, Wednesday 1 April 2026 ...
pub const INTAKE: (i32, u32, u32) = (2026, 4, 1);
/// ... approved by the labour department on Tuesday 7 April ...
const APPROVAL: (i32, u32, u32) = (2026, 4, 7);
/// ... and handed over on Thursday 9 April, when month 1's check-in window is open.
pub const HANDOVER: (i32, u32, u32) = (2026, 4, 9);
/// People imported and registered per batch.
const BATCH: u64 = 2_000;
/// Bytes of CSV per streamed chunk, well under gRPC's 4 MiB message limit.
const CHUNK: usize = 1 << 20;

/// A beneficiary ready for check-in day.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The decision paying them.
    pub decision_id: String,
    /// Their notice's barcode text.
    pub token: String,
    /// The administrative code of their province, where they scan.
    pub province: String,
}

/// A kiosk: its id and credential.
#[derive(Debug, Clone)]
pub struct Kiosk {
    /// Id given at registration.
    pub kiosk_id: String,
    /// Credential sent in the `x-kiosk-credential` metadata.
    pub credential: String,
}

/// What the setup produced.
pub struct Prepared {
    /// One per payment to make, in scan order.
    pub holders: Vec<Holder>,
    /// Kiosks by province.
    pub kiosks: BTreeMap<String, Kiosk>,
    /// People generated to find that many eligible.
    pub people: u64,
}

/// 09:00 in Hà Nội on `(year, month, day)`.
pub fn nine_am((year, month, day): (i32, u32, u32)) -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(year, month, day, 2, 0, 0)
        .single()
        .context("a valid day")
}

/// Moves every service's clock to `instant`.
pub fn set_clock(options: &Options, instant: DateTime<Utc>) -> anyhow::Result<()> {
    OffsetFileClock::write(&options.clock_file, instant - Utc::now())
        .with_context(|| format!("writing {}", options.clock_file.display()))
}

fn officer(officer_id: &str, agency: Agency) -> Option<Officer> {
    Some(Officer {
        officer_id: officer_id.into(),
        agency: agency as i32,
    })
}

/// The administrative province code ("01") of a 3-digit citizen-id province code ("001").
fn province_of(person: &Person) -> String {
    person
        .province_code
        .get(1..)
        .unwrap_or(person.province_code)
        .to_owned()
}

/// Runs the setup until `options.payments` beneficiaries hold notices.
pub async fn prepare(options: &Options, pool: &PgPool) -> anyhow::Result<Prepared> {
    let intake_day = NaiveDate::from_ymd_opt(INTAKE.0, INTAKE.1, INTAKE.2).context("intake day")?;
    let spec = Spec {
        // Every payment of the month is meant to reach its bank: no wrong accounts, no
        // duplicate registrations waiting for an officer, no one back at work in month 1.
        wrong_account_share: 0.0,
        duplicate_share: 0.0,
        reemployed_share: 0.0,
        ..Spec::new(u64::MAX, options.seed, intake_day)
    };
    let eligibility = EligibilityServiceClient::new(
        Channel::from_shared(options.eligibility.clone())?
            .connect()
            .await
            .context("connecting to eligibility")?,
    );
    set_clock(options, nine_am(INTAKE)?)?;

    // Intake: import and register batch after batch until enough claims are eligible.
    let mut claims: Vec<(String, String)> = Vec::new();
    let mut next = 0_u64;
    let progress = Progress::start("claims", options.payments);
    while (claims.len() as u64) < options.payments {
        // About four in five people are eligible; a small month needs no full batch.
        let missing = options.payments - claims.len() as u64;
        let batch = BATCH.min(missing + missing / 3 + 10);
        let people: Vec<Person> = (next..next + batch)
            .map(|number| population::person(&spec, number))
            .collect();
        next += batch;
        import(&eligibility, &people).await?;
        let eligible = register(&eligibility, &people, options.concurrency, intake_day).await?;
        claims.extend(eligible);
        progress.set(claims.len() as u64);
    }
    claims.truncate(usize::try_from(options.payments)?);
    progress.finish();

    // Approval, then hand-over day.
    set_clock(options, nine_am(APPROVAL)?)?;
    let handover =
        NaiveDate::from_ymd_opt(HANDOVER.0, HANDOVER.1, HANDOVER.2).context("hand-over day")?;
    let approved = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("decisions", options.payments);
    let decisions: Vec<(String, String)> = futures::stream::iter(claims)
        .map(|(claim_id, province)| {
            let mut eligibility = eligibility.clone();
            let approved = approved.clone();
            let progress = progress.clone();
            async move {
                let decision = eligibility
                    .approve_claim(ApproveClaimRequest {
                        claim_id,
                        decision_number: String::new(),
                        handover_date: intake::date_of(handover),
                        officer: officer("labour-officer-1", Agency::LabourDepartment),
                    })
                    .await?
                    .into_inner()
                    .decision
                    .context("no decision in the approval's reply")?;
                progress.set(approved.fetch_add(1, Ordering::Relaxed) + 1);
                anyhow::Ok((decision.decision_id, province))
            }
        })
        .buffer_unordered(options.concurrency)
        .try_collect()
        .await?;
    progress.finish();

    let holders = notices(pool, decisions).await?;
    let kiosks = kiosks(options, &holders).await?;
    Ok(Prepared {
        holders,
        kiosks,
        people: next,
    })
}

async fn import(
    eligibility: &EligibilityServiceClient<Channel>,
    people: &[Person],
) -> anyhow::Result<()> {
    let mut parts = vec![ImportContributionsRequest {
        part: Some(Part::Header(ImportHeader {
            source_name: "benchmark.csv".into(),
            has_header_row: false,
            officer: officer("registrar-1", Agency::JobCentre),
        })),
    }];
    let mut chunk = Vec::new();
    for person in people {
        let rows = population::contributions_csv([person])?.into_bytes();
        if chunk.len() + rows.len() > CHUNK && !chunk.is_empty() {
            parts.push(ImportContributionsRequest {
                part: Some(Part::CsvChunk(std::mem::take(&mut chunk))),
            });
        }
        chunk.extend(rows);
    }
    parts.push(ImportContributionsRequest {
        part: Some(Part::CsvChunk(chunk)),
    });
    let reply = eligibility
        .clone()
        .import_contributions(futures::stream::iter(parts))
        .await
        .context("importing contributions")?
        .into_inner();
    if reply.rows_rejected > 0 {
        bail!(
            "the import rejected {} rows, e.g. {:?}",
            reply.rows_rejected,
            reply.bad_rows.first()
        );
    }
    Ok(())
}

/// Calls again, after a pause, while the service answers "unavailable": as a registrar's
/// screen would, when a busy service had no connection free for the call within its
/// time limit (nothing was written then).
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut attempt: u64 = 0;
    loop {
        match call().await {
            Err(status) if status.code() == tonic::Code::Unavailable && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            answered => return answered,
        }
    }
}

/// Registers each person and their claim; returns the (claim, province) of those assessed
/// eligible.
async fn register(
    eligibility: &EligibilityServiceClient<Channel>,
    people: &[Person],
    concurrency: usize,
    filed_on: NaiveDate,
) -> anyhow::Result<Vec<(String, String)>> {
    let registered: Vec<Option<(String, String)>> = futures::stream::iter(people)
        .map(|person| {
            async move {
                let province = province_of(person);
                let registered = patiently(|| {
                    let mut eligibility = eligibility.clone();
                    let request = intake::person_request(
                        person,
                        &province,
                        officer("registrar-1", Agency::JobCentre),
                    );
                    async move { eligibility.register_person(request).await }
                })
                .await;
                // At this scale the generator draws a few citizen ids twice; the job centre
                // refuses the second person, who then simply files no claim.
                let person_id = match registered {
                    Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                        return anyhow::Ok(None);
                    }
                    registered => {
                        registered?
                            .into_inner()
                            .person
                            .context("no person in the registration's reply")?
                            .person_id
                    }
                };
                let centre_id = format!("centre-{province}-1");
                let claim = patiently(|| {
                    let mut eligibility = eligibility.clone();
                    let request = intake::claim_request(
                        person,
                        person_id.clone(),
                        intake::Filing {
                            on: filed_on,
                            province: &province,
                            centre_id: &centre_id,
                            officer: officer("registrar-1", Agency::JobCentre),
                        },
                    );
                    async move { eligibility.register_claim(request).await }
                })
                .await?
                .into_inner()
                .claim
                .context("no claim in the registration's reply")?;
                anyhow::Ok(
                    (claim.status() == ClaimStatus::AwaitingApproval)
                        .then_some((claim.claim_id, province)),
                )
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(registered.into_iter().flatten().collect())
}

/// Waits until checkin has issued every decision's notice and reads their barcode texts.
///
/// A shortcut, named: the texts are read from checkin's notices table, as the print run would
/// print them, instead of rendering a million PDFs and reading their QR codes back (the
/// system tests do that for a few). The scans themselves go through the kiosk API.
async fn notices(pool: &PgPool, decisions: Vec<(String, String)>) -> anyhow::Result<Vec<Holder>> {
    let wanted = decisions.len() as u64;
    let progress = Progress::start("notices", wanted);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM checkin.notices")
            .fetch_one(pool)
            .await?;
        progress.set(u64::try_from(issued)?);
        if u64::try_from(issued)? >= wanted {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("checkin issued {issued} of {wanted} notices within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    progress.finish();
    let tokens: BTreeMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT decision_id, token FROM checkin.notices")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    decisions
        .into_iter()
        .map(|(decision_id, province)| {
            let token = tokens
                .get(&decision_id)
                .with_context(|| format!("no notice for decision {decision_id}"))?
                .clone();
            Ok(Holder {
                decision_id,
                token,
                province,
            })
        })
        .collect()
}

/// One kiosk in each province's job centre.
async fn kiosks(options: &Options, holders: &[Holder]) -> anyhow::Result<BTreeMap<String, Kiosk>> {
    let mut checkin = CheckinServiceClient::new(
        Channel::from_shared(options.checkin.clone())?
            .connect()
            .await
            .context("connecting to checkin")?,
    );
    let mut kiosks = BTreeMap::new();
    for holder in holders {
        if kiosks.contains_key(&holder.province) {
            continue;
        }
        let kiosk = checkin
            .register_kiosk(RegisterKioskRequest {
                centre_id: format!("centre-{}-1", holder.province),
                province: holder.province.clone(),
                label: "Quầy 1".into(),
                officer: officer("registrar-1", Agency::JobCentre),
            })
            .await?
            .into_inner();
        kiosks.insert(
            holder.province.clone(),
            Kiosk {
                kiosk_id: kiosk.kiosk_id,
                credential: kiosk.credential,
            },
        );
    }
    Ok(kiosks)
}
