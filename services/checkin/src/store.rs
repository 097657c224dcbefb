//! The check-in service's SQL: decisions and their windows, notices, kiosks, check-ins and
//! missed months. Every state change that is announced writes its outbox row in the same
//! transaction.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::announce::{self, NewCheckin, Source};
use crate::domain::answer::DecisionStanding;
use crate::domain::window::{BenefitMonth, CheckinWindow, Schedule};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored row breaks a rule the schema could not express.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<StoreError> for serving::ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => error.into(),
            StoreError::Corrupt(reason) => Self::Internal(reason),
        }
    }
}

impl From<StoreError> for messaging::HandlerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => error.into(),
            StoreError::Corrupt(reason) => Self::Permanent(reason),
        }
    }
}

/// A newly activated decision, as checkin keeps it.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// Its id.
    pub decision_id: String,
    /// Legal number, for the notice.
    pub decision_number: String,
    /// Beneficiary's name, for the notice.
    pub beneficiary_name: String,
    /// Job centre the beneficiary checks in at.
    pub centre_id: String,
    /// Province paying the benefit.
    pub province: String,
    /// The event's decision version.
    pub version: i64,
    /// Its check-in windows.
    pub schedule: Schedule,
}

/// The notice issued for a new decision.
#[derive(Debug, Clone)]
pub struct NewNotice {
    /// Id carried in the token.
    pub notice_id: Uuid,
    /// Key that signed it.
    pub key_id: String,
    /// The token, as printed.
    pub token: String,
    /// The code an officer types when the scanner fails.
    pub short_code: String,
    /// When the token stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// Stores an activated decision, its windows and its notice; false when it was already known.
pub async fn insert_decision(
    conn: &mut PgConnection,
    decision: &NewDecision,
    notice: &NewNotice,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO decisions (decision_id, decision_number, beneficiary_name, centre_id, \
         province, version, state, activated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7) ON CONFLICT DO NOTHING",
    )
    .bind(&decision.decision_id)
    .bind(&decision.decision_number)
    .bind(&decision.beneficiary_name)
    .bind(&decision.centre_id)
    .bind(&decision.province)
    .bind(decision.version)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(false);
    }
    let windows = decision.schedule.windows();
    let months: Vec<i32> = windows.iter().map(|w| w.month().number() as i32).collect();
    let starts: Vec<NaiveDate> = windows.iter().map(CheckinWindow::month_start).collect();
    let ends: Vec<NaiveDate> = windows.iter().map(CheckinWindow::month_end).collect();
    let opens: Vec<NaiveDate> = windows.iter().map(CheckinWindow::opens_on).collect();
    let closes: Vec<NaiveDate> = windows.iter().map(CheckinWindow::closes_on).collect();
    sqlx::query(
        "INSERT INTO windows (decision_id, benefit_month, month_start, month_end, opens_on, closes_on) \
         SELECT $1, * FROM UNNEST($2::int[], $3::date[], $4::date[], $5::date[], $6::date[])",
    )
    .bind(&decision.decision_id)
    .bind(&months)
    .bind(&starts)
    .bind(&ends)
    .bind(&opens)
    .bind(&closes)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO notices (notice_id, decision_id, key_id, token, short_code, expires_at, \
         issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(notice.notice_id)
    .bind(&decision.decision_id)
    .bind(&notice.key_id)
    .bind(&notice.token)
    .bind(&notice.short_code)
    .bind(notice.expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A change to a known decision.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// One benefit month was suspended.
    Suspend(BenefitMonth),
    /// A later check-in resumed the decision.
    Resume,
    /// The decision ended; its unsettled months are cancelled.
    Terminate {
        /// The contract's termination reason.
        reason: i32,
        /// Day from which nothing more is paid.
        effective: Option<NaiveDate>,
    },
}

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The change is now stored.
    Applied,
    /// A newer version was already applied; nothing changed.
    Stale,
    /// No such decision was ever activated here.
    UnknownDecision,
}

/// Applies `change` at `version` unless a newer version was applied already.
pub async fn apply_change(
    conn: &mut PgConnection,
    decision_id: &str,
    version: i64,
    change: Change,
) -> Result<ChangeOutcome, StoreError> {
    // A terminated decision stays terminated whatever arrives after.
    let (reason, effective) = match change {
        Change::Terminate { reason, effective } => (Some(reason), effective),
        Change::Suspend(_) | Change::Resume => (None, None),
    };
    let statement = match change {
        Change::Suspend(_) => {
            "UPDATE decisions SET version = $2, \
             state = CASE WHEN state = 'terminated' THEN state ELSE 'suspended' END \
             WHERE decision_id = $1 AND version <= $2"
        }
        Change::Resume => {
            "UPDATE decisions SET version = $2, \
             state = CASE WHEN state = 'terminated' THEN state ELSE 'active' END \
             WHERE decision_id = $1 AND version <= $2"
        }
        Change::Terminate { .. } => {
            "UPDATE decisions SET version = $2, state = 'terminated', \
             termination_reason = $3, terminated_on = $4 \
             WHERE decision_id = $1 AND version <= $2"
        }
    };
    let mut query = sqlx::query(statement).bind(decision_id).bind(version);
    if matches!(change, Change::Terminate { .. }) {
        query = query.bind(reason).bind(effective);
    }
    let updated = query.execute(&mut *conn).await?.rows_affected();
    if updated == 0 {
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM decisions WHERE decision_id = $1)")
                .bind(decision_id)
                .fetch_one(&mut *conn)
                .await?;
        return Ok(if known {
            ChangeOutcome::Stale
        } else {
            ChangeOutcome::UnknownDecision
        });
    }
    match change {
        Change::Suspend(month) => {
            sqlx::query(
                "UPDATE windows SET suspended = true WHERE decision_id = $1 AND benefit_month = $2",
            )
            .bind(decision_id)
            .bind(month.number() as i32)
            .execute(&mut *conn)
            .await?;
        }
        Change::Resume => {}
        // Only months starting on or after the effective date are cancelled (all of them when
        // the date is unknown); earlier months are still checked in, missed or paid as usual.
        Change::Terminate { .. } => {
            sqlx::query(
                "UPDATE windows SET outcome = 'cancelled' WHERE decision_id = $1 \
                 AND outcome IS NULL AND ($2::date IS NULL OR month_start >= $2)",
            )
            .bind(decision_id)
            .bind(effective)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(ChangeOutcome::Applied)
}

/// A notice as issued.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredNotice {
    /// Notice id.
    pub notice_id: Uuid,
    /// Signing key.
    pub key_id: String,
    /// The token.
    pub token: String,
    /// The code an officer types when the scanner fails.
    pub short_code: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

const NOTICE_COLUMNS: &str = "notice_id, key_id, token, short_code, expires_at";

/// The notice of a decision, when it has one.
pub async fn decision_notice(
    pool: &PgPool,
    decision_id: &str,
) -> Result<Option<StoredNotice>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE decision_id = $1"
    ))
    .bind(decision_id)
    .fetch_optional(pool)
    .await?)
}

/// How a benefit month was settled; stored as text in `windows.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// A kiosk scan counted.
    CheckedIn,
    /// An officer excused the month; it counts as a check-in.
    Excused,
    /// The window closed without a check-in and the missed check-in was published.
    Missed,
    /// The decision ended before the month was settled.
    Cancelled,
}

impl Settlement {
    fn as_str(self) -> &'static str {
        match self {
            Self::CheckedIn => "checked_in",
            Self::Excused => "excused",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "checked_in" => Ok(Self::CheckedIn),
            "excused" => Ok(Self::Excused),
            "missed" => Ok(Self::Missed),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(StoreError::Corrupt(format!(
                "unknown month outcome {other}"
            ))),
        }
    }

    fn parse_optional(text: Option<&str>) -> Result<Option<Self>, StoreError> {
        text.map(Self::parse).transpose()
    }

    /// True when the month has a check-in that counts.
    pub fn counts(self) -> bool {
        matches!(self, Self::CheckedIn | Self::Excused)
    }
}

/// A benefit month as stored.
#[derive(Debug, Clone)]
pub struct StoredMonth {
    /// Its window.
    pub window: CheckinWindow,
    /// Suspended by eligibility.
    pub suspended: bool,
    /// How it was settled, if it was.
    pub outcome: Option<Settlement>,
    /// Its check-in, when one counts for it.
    pub record: Option<CheckinRecord>,
}

impl StoredMonth {
    /// True when a check-in (scan or excuse) counts for this month.
    pub fn checked_in(&self) -> bool {
        self.outcome.is_some_and(Settlement::counts)
    }

    /// What recording a check-in for this month would find, once the month is settled; `None`
    /// while it is open. A month is settled once, so this is also what a write would see.
    pub fn settled(&self) -> Result<Option<Recorded>, StoreError> {
        settled_as(
            self.outcome,
            self.record,
            self.window.month().number() as i32,
        )
    }
}

fn settled_as(
    outcome: Option<Settlement>,
    record: Option<CheckinRecord>,
    month: i32,
) -> Result<Option<Recorded>, StoreError> {
    match (outcome, record) {
        (None, _) => Ok(None),
        (Some(settled), Some(record)) if settled.counts() => Ok(Some(Recorded::Existing(record))),
        (Some(settled), None) if settled.counts() => Err(StoreError::Corrupt(format!(
            "checked-in month {month} without its check-in"
        ))),
        (Some(settled), _) => Ok(Some(Recorded::Settled(settled))),
    }
}

/// Everything a scan is judged on.
#[derive(Debug, Clone)]
pub struct DecisionView {
    /// Active or terminated (a suspension is per month).
    pub standing: DecisionStanding,
    /// Its check-in windows.
    pub schedule: Schedule,
    /// Its months in order, with their state.
    pub months: Vec<StoredMonth>,
    /// Job centre of the decision.
    pub centre_id: String,
    /// Province of the decision.
    pub province: String,
}

impl DecisionView {
    /// The stored month `month`, when the decision has it.
    pub fn month(&self, month: BenefitMonth) -> Option<&StoredMonth> {
        self.months.get(month.number() as usize - 1)
    }
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    state: String,
    termination_reason: Option<i32>,
    terminated_on: Option<NaiveDate>,
    centre_id: String,
    province: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct WindowRow {
    benefit_month: i32,
    month_start: NaiveDate,
    month_end: NaiveDate,
    opens_on: NaiveDate,
    closes_on: NaiveDate,
    suspended: bool,
    outcome: Option<String>,
}

impl WindowRow {
    fn window(&self) -> Result<CheckinWindow, StoreError> {
        let corrupt = |error: crate::domain::window::WindowError| {
            StoreError::Corrupt(format!("window {}: {error}", self.benefit_month))
        };
        let month =
            BenefitMonth::new(u32::try_from(self.benefit_month).unwrap_or(0)).map_err(corrupt)?;
        CheckinWindow::new(
            month,
            self.month_start,
            self.month_end,
            self.opens_on,
            self.closes_on,
        )
        .map_err(corrupt)
    }
}

/// A month with its check-in, as the month columns below read it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct MonthRow {
    #[sqlx(flatten)]
    window: WindowRow,
    recorded_at: Option<DateTime<Utc>>,
    payment_by: Option<NaiveDate>,
}

impl MonthRow {
    fn month(&self) -> Result<StoredMonth, StoreError> {
        let record = match (self.recorded_at, self.payment_by) {
            (Some(recorded_at), Some(payment_by)) => Some(CheckinRecord {
                recorded_at,
                payment_by,
            }),
            _ => None,
        };
        Ok(StoredMonth {
            window: self.window.window()?,
            suspended: self.window.suspended,
            outcome: Settlement::parse_optional(self.window.outcome.as_deref())?,
            record,
        })
    }
}

/// A month's columns, from `windows w` joined to its check-in `checkins c`.
const MONTH_COLUMNS: &str = "w.benefit_month, w.month_start, w.month_end, w.opens_on, \
     w.closes_on, w.suspended, w.outcome, c.recorded_at, c.payment_by";

fn view_of(
    decision_id: &str,
    decision: DecisionRow,
    rows: &[MonthRow],
) -> Result<DecisionView, StoreError> {
    let months = rows
        .iter()
        .map(MonthRow::month)
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = Schedule::new(months.iter().map(|month| month.window).collect())
        .map_err(|error| StoreError::Corrupt(format!("decision {decision_id}: {error}")))?;
    let standing = match decision.state.as_str() {
        "terminated" => DecisionStanding::Terminated {
            reason: decision.termination_reason.unwrap_or(0),
            effective: decision.terminated_on,
        },
        _ => DecisionStanding::Active,
    };
    Ok(DecisionView {
        standing,
        schedule,
        months,
        centre_id: decision.centre_id,
        province: decision.province,
    })
}

/// A decision with its months, when it is known.
pub async fn decision_view(
    pool: &PgPool,
    decision_id: &str,
) -> Result<Option<DecisionView>, StoreError> {
    let Some(decision) = sqlx::query_as::<_, DecisionRow>(
        "SELECT state, termination_reason, terminated_on, centre_id, province \
         FROM decisions WHERE decision_id = $1",
    )
    .bind(decision_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let rows: Vec<MonthRow> = sqlx::query_as(&format!(
        "SELECT {MONTH_COLUMNS} FROM windows w \
         LEFT JOIN checkins c USING (decision_id, benefit_month) \
         WHERE w.decision_id = $1 ORDER BY w.benefit_month"
    ))
    .bind(decision_id)
    .fetch_all(pool)
    .await?;
    view_of(decision_id, decision, &rows).map(Some)
}

/// What a scan names besides its kiosk.
#[derive(Debug, Clone, Copy)]
pub enum NoticeKey<'a> {
    /// Nothing to load: the scanned text was refused before any read.
    Nothing,
    /// The notice a token names, with the token's text to compare with the one issued.
    Token {
        /// The notice id in the token's payload.
        notice_id: Uuid,
        /// The token, in the form in which tokens are issued.
        text: &'a str,
    },
    /// The notice with this short code, typed by an officer.
    ShortCode(&'a str),
}

/// Everything a scan is answered from, read at once.
#[derive(Debug, Clone)]
pub struct ScanContext {
    /// The kiosk holding the credential, revoked or not.
    pub kiosk: Kiosk,
    /// The notice named, when it exists, with its decision.
    pub notice: Option<IssuedNotice>,
}

/// A notice as a scan sees it.
#[derive(Debug, Clone)]
pub struct IssuedNotice {
    /// Notice id.
    pub notice_id: Uuid,
    /// The decision it was issued for.
    pub decision_id: String,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
    /// Whether the scanned token is, character for character, the one this notice was issued
    /// with; never for a short code.
    pub scanned_as_issued: bool,
    /// Its decision with every month.
    pub view: DecisionView,
}

#[derive(sqlx::FromRow)]
struct ScanRow {
    #[sqlx(flatten)]
    kiosk: Kiosk,
    notice_id: Option<Uuid>,
    decision_id: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    scanned_as_issued: Option<bool>,
    state: Option<String>,
    termination_reason: Option<i32>,
    terminated_on: Option<NaiveDate>,
    decision_centre_id: Option<String>,
    decision_province: Option<String>,
    benefit_month: Option<i32>,
    month_start: Option<NaiveDate>,
    month_end: Option<NaiveDate>,
    opens_on: Option<NaiveDate>,
    closes_on: Option<NaiveDate>,
    suspended: Option<bool>,
    outcome: Option<String>,
    recorded_at: Option<DateTime<Utc>>,
    payment_by: Option<NaiveDate>,
}

impl ScanRow {
    /// The row's month, when the notice's decision has one on this row.
    fn month(&self) -> Option<MonthRow> {
        Some(MonthRow {
            window: WindowRow {
                benefit_month: self.benefit_month?,
                month_start: self.month_start?,
                month_end: self.month_end?,
                opens_on: self.opens_on?,
                closes_on: self.closes_on?,
                suspended: self.suspended?,
                outcome: self.outcome.clone(),
            },
            recorded_at: self.recorded_at,
            payment_by: self.payment_by,
        })
    }
}

/// What one scan of a batch names: the hash of its kiosk's credential and its notice.
#[derive(Debug, Clone, Copy)]
pub struct ScanLookup<'a> {
    /// Hash of the credential the kiosk presented.
    pub credential_hash: &'a [u8],
    /// The notice the scanned text names.
    pub notice: NoticeKey<'a>,
}

/// The context of every scan of a batch, in one round trip: for each, the kiosk holding its
/// credential and the notice it names with its decision's state, every month and their
/// check-ins. `None` for a scan whose credential no kiosk holds; an inconsistent row fails only
/// the scan that read it.
pub async fn scan_contexts(
    conn: &mut PgConnection,
    lookups: &[ScanLookup<'_>],
) -> Result<Vec<Result<Option<ScanContext>, StoreError>>, StoreError> {
    let credentials: Vec<&[u8]> = lookups.iter().map(|scan| scan.credential_hash).collect();
    let (notice_ids, tokens): (Vec<Option<Uuid>>, Vec<Option<&str>>) = lookups
        .iter()
        .map(|scan| match scan.notice {
            NoticeKey::Token { notice_id, text } => (Some(notice_id), Some(text)),
            NoticeKey::Nothing | NoticeKey::ShortCode(_) => (None, None),
        })
        .unzip();
    let short_codes: Vec<Option<&str>> = lookups
        .iter()
        .map(|scan| match scan.notice {
            NoticeKey::ShortCode(code) => Some(code),
            NoticeKey::Nothing | NoticeKey::Token { .. } => None,
        })
        .collect();
    // A scan names its notice by id or by short code, never both; the lateral join looks up
    // whichever it has through that column's index.
    let rows: Vec<BatchScanRow> = sqlx::query_as(&format!(
        "SELECT s.position, k.kiosk_id, k.centre_id, k.province, k.revoked_at, \
         n.notice_id, n.decision_id, n.expires_at, n.scanned_as_issued, \
         d.state, d.termination_reason, d.terminated_on, \
         d.centre_id AS decision_centre_id, d.province AS decision_province, {MONTH_COLUMNS} \
         FROM UNNEST($1::bytea[], $2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY \
              AS s (credential_hash, notice_id, short_code, token, position) \
         JOIN kiosks k ON k.credential_hash = s.credential_hash \
         LEFT JOIN LATERAL ( \
             SELECT notice_id, decision_id, expires_at, token = s.token AS scanned_as_issued \
             FROM notices WHERE notice_id = s.notice_id \
             UNION ALL \
             SELECT notice_id, decision_id, expires_at, false FROM notices \
             WHERE short_code = s.short_code \
         ) n ON true \
         LEFT JOIN decisions d ON d.decision_id = n.decision_id \
         LEFT JOIN windows w ON w.decision_id = n.decision_id \
         LEFT JOIN checkins c ON c.decision_id = w.decision_id \
         AND c.benefit_month = w.benefit_month"
    ))
    .bind(&credentials)
    .bind(&notice_ids)
    .bind(&short_codes)
    .bind(&tokens)
    .fetch_all(&mut *conn)
    .await?;
    let mut per_scan: Vec<Vec<ScanRow>> = lookups.iter().map(|_| Vec::new()).collect();
    for row in rows {
        // Positions count from 1, one per lookup.
        let index = usize::try_from(row.position - 1).ok();
        let Some(scan_rows) = index.and_then(|index| per_scan.get_mut(index)) else {
            return Err(StoreError::Corrupt(format!(
                "scan context for position {} of {}",
                row.position,
                lookups.len()
            )));
        };
        scan_rows.push(row.scan);
    }
    Ok(per_scan.iter().map(|rows| context_of(rows)).collect())
}

#[derive(sqlx::FromRow)]
struct BatchScanRow {
    position: i64,
    #[sqlx(flatten)]
    scan: ScanRow,
}

/// One scan's context from its rows: the kiosk on each, the notice's decision and one month
/// per row. `None` when there are no rows, i.e. no kiosk holds the credential.
fn context_of(rows: &[ScanRow]) -> Result<Option<ScanContext>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let kiosk = first.kiosk.clone();
    let (Some(notice_id), Some(decision_id), Some(expires_at)) =
        (first.notice_id, first.decision_id.clone(), first.expires_at)
    else {
        return Ok(Some(ScanContext {
            kiosk,
            notice: None,
        }));
    };
    let (Some(state), Some(centre_id), Some(province)) = (
        first.state.clone(),
        first.decision_centre_id.clone(),
        first.decision_province.clone(),
    ) else {
        return Err(StoreError::Corrupt(format!(
            "notice {notice_id} of unknown decision {decision_id}"
        )));
    };
    let decision = DecisionRow {
        state,
        termination_reason: first.termination_reason,
        terminated_on: first.terminated_on,
        centre_id,
        province,
    };
    // Ordered here rather than by the query: a sort node costs the server more to set up than
    // sorting a decision's few months costs here.
    let mut months: Vec<MonthRow> = rows.iter().filter_map(ScanRow::month).collect();
    months.sort_by_key(|month| month.window.benefit_month);
    let view = view_of(&decision_id, decision, &months)?;
    Ok(Some(ScanContext {
        kiosk,
        notice: Some(IssuedNotice {
            notice_id,
            decision_id,
            expires_at,
            scanned_as_issued: first.scanned_as_issued == Some(true),
            view,
        }),
    }))
}

/// A check-in as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckinRecord {
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Date promised for the money.
    pub payment_by: NaiveDate,
}

/// What recording a check-in did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now, and its event enqueued.
    New(CheckinRecord),
    /// The month already had its check-in; nothing changed.
    Existing(CheckinRecord),
    /// The month was settled otherwise (missed or cancelled); nothing changed.
    Settled(Settlement),
    /// The decision has no such month.
    NoSuchMonth,
}

impl Recorded {
    /// What a later scan of the same month finds: the check-in this one recorded, as existing.
    pub fn repeated(self) -> Self {
        match self {
            Self::New(record) => Self::Existing(record),
            other => other,
        }
    }
}

/// Settles the month, inserts the check-in and writes its outbox row in one statement, so one
/// round trip records a scan. The month's update is the gate: only an open month is updated, and
/// the check-in and the event follow only from the row it returns. Concurrent scans of one month
/// queue on that row's lock; the ones after the first find it settled and write nothing.
///
/// The outbox row has the shape `messaging::enqueue` writes (the relay reads nothing else);
/// this is the one place checkin writes it by hand, and the scan tests read the event back from
/// the topic.
const RECORD_CHECKIN: &str = "WITH settled AS ( \
        UPDATE windows SET outcome = $3 \
        WHERE decision_id = $1 AND benefit_month = $2 AND outcome IS NULL \
        RETURNING decision_id, benefit_month \
    ), recorded AS ( \
        INSERT INTO checkins (decision_id, benefit_month, recorded_at, payment_by, centre_id, \
        province, notice_id, kiosk_id, excused, excuse_reason, document_reference, note, \
        excused_by, event_id) \
        SELECT decision_id, benefit_month, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
        FROM settled RETURNING event_id \
    ), announced AS ( \
        INSERT INTO outbox (event_id, topic, message_key, payload, traceparent, tracestate) \
        SELECT event_id, $16, $17, $18, $19, $20 FROM recorded RETURNING event_id \
    ) \
    SELECT count(*) FROM announced";

/// Records a check-in and its event, once per decision and benefit month, in one statement:
/// an officer's excuse; kiosk scans are recorded a batch at a time by [`record_scans`].
pub async fn record_checkin(
    conn: &mut PgConnection,
    checkin: &NewCheckin,
) -> Result<Recorded, StoreError> {
    let month = checkin.benefit_month as i32;
    let event_id = Uuid::now_v7();
    let (notice_id, kiosk_id, excused, reason, document, note, officer) = match &checkin.source {
        Source::Scan {
            notice_id,
            kiosk_id,
        } => (
            Some(*notice_id),
            Some(*kiosk_id),
            false,
            None,
            None,
            None,
            None,
        ),
        Source::Excused {
            reason,
            document_reference,
            note,
            officer,
        } => (
            None,
            None,
            true,
            Some(*reason),
            Some(document_reference.as_str()),
            Some(note.as_str()),
            Some(officer.officer_id.as_str()),
        ),
    };
    let settlement = if excused {
        Settlement::Excused
    } else {
        Settlement::CheckedIn
    };
    let event = announce::recorded(event_id, checkin);
    let (traceparent, tracestate) = event.trace_context();
    let written: i64 = sqlx::query_scalar(RECORD_CHECKIN)
        .bind(&checkin.decision_id)
        .bind(month)
        .bind(settlement.as_str())
        .bind(checkin.recorded_at)
        .bind(checkin.payment_by)
        .bind(&checkin.centre_id)
        .bind(&checkin.province)
        .bind(notice_id)
        .bind(kiosk_id)
        .bind(excused)
        .bind(reason)
        .bind(document)
        .bind(note)
        .bind(officer)
        .bind(event_id)
        .bind(&event.topic)
        .bind(&event.key)
        .bind(&event.payload)
        .bind(traceparent)
        .bind(tracestate)
        .fetch_one(&mut *conn)
        .await?;
    if written == 1 {
        return Ok(Recorded::New(CheckinRecord {
            recorded_at: checkin.recorded_at,
            payment_by: checkin.payment_by,
        }));
    }
    // Nothing written: the month is settled or missing. This statement starts after the one
    // above, so it sees whatever settled the month meanwhile.
    let row: Option<MonthRow> = sqlx::query_as(&format!(
        "SELECT {MONTH_COLUMNS} FROM windows w \
         LEFT JOIN checkins c USING (decision_id, benefit_month) \
         WHERE w.decision_id = $1 AND w.benefit_month = $2"
    ))
    .bind(&checkin.decision_id)
    .bind(month)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Recorded::NoSuchMonth);
    };
    row.month()?.settled()?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "open month {month} of decision {} refused its check-in",
            checkin.decision_id
        ))
    })
}

/// A scan's check-in about to be recorded, with its event and the trace context of the call
/// that scanned, which the event continues.
#[derive(Debug, Clone)]
pub struct ScanCheckin {
    /// The decision.
    pub decision_id: String,
    /// The benefit month it counts for.
    pub benefit_month: u32,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Date promised for the money.
    pub payment_by: NaiveDate,
    /// Job centre of the kiosk.
    pub centre_id: String,
    /// Province of that centre.
    pub province: String,
    /// The notice scanned.
    pub notice_id: Uuid,
    /// The kiosk that scanned it.
    pub kiosk_id: Uuid,
    /// Its `Recorded` event.
    pub event: messaging::OutboxEvent,
    /// The scan's `traceparent`, stored with the event.
    pub traceparent: Option<String>,
    /// The scan's `tracestate`.
    pub tracestate: Option<String>,
}

/// [`RECORD_CHECKIN`] for many scans at once: every open month among them is settled, and its
/// check-in and outbox row written, in one statement and so one transaction. The months must
/// be distinct; each scan's update is its own gate, so a month settled meanwhile (by another
/// instance, an officer or the missed check-in worker) writes nothing for that scan alone.
const RECORD_SCANS: &str = "WITH scanned AS ( \
        SELECT * FROM UNNEST($1::text[], $2::int[], $3::timestamptz[], $4::date[], $5::text[], \
        $6::text[], $7::uuid[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::bytea[], \
        $13::text[], $14::text[]) \
        AS s (decision_id, benefit_month, recorded_at, payment_by, centre_id, province, \
        notice_id, kiosk_id, event_id, topic, message_key, payload, traceparent, tracestate) \
    ), settled AS ( \
        UPDATE windows w SET outcome = 'checked_in' FROM scanned s \
        WHERE w.decision_id = s.decision_id AND w.benefit_month = s.benefit_month \
        AND w.outcome IS NULL \
        RETURNING w.decision_id, w.benefit_month \
    ), recorded AS ( \
        INSERT INTO checkins (decision_id, benefit_month, recorded_at, payment_by, centre_id, \
        province, notice_id, kiosk_id, event_id) \
        SELECT s.decision_id, s.benefit_month, s.recorded_at, s.payment_by, s.centre_id, \
        s.province, s.notice_id, s.kiosk_id, s.event_id \
        FROM scanned s JOIN settled USING (decision_id, benefit_month) RETURNING event_id \
    ), announced AS ( \
        INSERT INTO outbox (event_id, topic, message_key, payload, traceparent, tracestate) \
        SELECT s.event_id, s.topic, s.message_key, s.payload, s.traceparent, s.tracestate \
        FROM scanned s JOIN recorded USING (event_id) RETURNING event_id \
    ) \
    SELECT event_id FROM announced";

/// Records the check-ins of many scans, each with its event, in one statement; returns, in
/// order, whether each was recorded. One not recorded found its month settled or missing:
/// [`settled_months`] says how.
pub async fn record_scans(
    conn: &mut PgConnection,
    checkins: &[ScanCheckin],
) -> Result<Vec<bool>, StoreError> {
    if checkins.is_empty() {
        return Ok(Vec::new());
    }
    // Rows are locked in the order given; in one order for every batch, two batches sharing
    // months (another instance's, or the next one here) wait for each other but never deadlock.
    let mut sorted: Vec<&ScanCheckin> = checkins.iter().collect();
    sorted
        .sort_by(|a, b| (&a.decision_id, a.benefit_month).cmp(&(&b.decision_id, b.benefit_month)));
    let column = |value: fn(&ScanCheckin) -> &str| -> Vec<&str> {
        sorted.iter().map(|checkin| value(checkin)).collect()
    };
    let months: Vec<i32> = sorted.iter().map(|c| c.benefit_month as i32).collect();
    let recorded_at: Vec<DateTime<Utc>> = sorted.iter().map(|c| c.recorded_at).collect();
    let payment_by: Vec<NaiveDate> = sorted.iter().map(|c| c.payment_by).collect();
    let notice_ids: Vec<Uuid> = sorted.iter().map(|c| c.notice_id).collect();
    let kiosk_ids: Vec<Uuid> = sorted.iter().map(|c| c.kiosk_id).collect();
    let event_ids: Vec<Uuid> = sorted.iter().map(|c| c.event.event_id).collect();
    let payloads: Vec<&[u8]> = sorted.iter().map(|c| c.event.payload.as_slice()).collect();
    let traceparents: Vec<Option<&str>> = sorted.iter().map(|c| c.traceparent.as_deref()).collect();
    let tracestates: Vec<Option<&str>> = sorted.iter().map(|c| c.tracestate.as_deref()).collect();
    let written: Vec<Uuid> = sqlx::query_scalar(RECORD_SCANS)
        .bind(column(|c| &c.decision_id))
        .bind(&months)
        .bind(&recorded_at)
        .bind(&payment_by)
        .bind(column(|c| &c.centre_id))
        .bind(column(|c| &c.province))
        .bind(&notice_ids)
        .bind(&kiosk_ids)
        .bind(&event_ids)
        .bind(column(|c| &c.event.topic))
        .bind(column(|c| &c.event.key))
        .bind(&payloads)
        .bind(&traceparents)
        .bind(&tracestates)
        .fetch_all(&mut *conn)
        .await?;
    let written: HashSet<Uuid> = written.into_iter().collect();
    Ok(checkins
        .iter()
        .map(|checkin| written.contains(&checkin.event.event_id))
        .collect())
}

/// How each of these months (decision, benefit month) is settled, for scans whose check-in
/// found it settled: what recording a check-in found, or a corrupt month for one still open.
/// Read after the write, so it sees whatever settled the month meanwhile.
pub async fn settled_months(
    conn: &mut PgConnection,
    months: &[(&str, u32)],
) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
    let decisions: Vec<&str> = months.iter().map(|(decision, _)| *decision).collect();
    let numbers: Vec<i32> = months.iter().map(|(_, month)| *month as i32).collect();
    let rows: Vec<PositionedMonthRow> = sqlx::query_as(&format!(
        "SELECT s.position, {MONTH_COLUMNS} \
         FROM UNNEST($1::text[], $2::int[]) WITH ORDINALITY AS s (decision_id, benefit_month, position) \
         JOIN windows w ON w.decision_id = s.decision_id AND w.benefit_month = s.benefit_month \
         LEFT JOIN checkins c ON c.decision_id = w.decision_id \
         AND c.benefit_month = w.benefit_month"
    ))
    .bind(&decisions)
    .bind(&numbers)
    .fetch_all(&mut *conn)
    .await?;
    let mut found: Vec<Option<MonthRow>> = months.iter().map(|_| None).collect();
    for row in rows {
        if let Some(slot) = usize::try_from(row.position - 1)
            .ok()
            .and_then(|index| found.get_mut(index))
        {
            *slot = Some(row.month);
        }
    }
    Ok(found
        .iter()
        .zip(months)
        .map(|(row, (decision_id, month))| {
            let Some(row) = row else {
                return Ok(Recorded::NoSuchMonth);
            };
            row.month()?.settled()?.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "open month {month} of decision {decision_id} refused its check-in"
                ))
            })
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct PositionedMonthRow {
    position: i64,
    #[sqlx(flatten)]
    month: MonthRow,
}

#[derive(sqlx::FromRow)]
struct ClosedRow {
    decision_id: String,
    #[sqlx(flatten)]
    window: WindowRow,
}

/// Settles up to `limit` months whose window closed before `today` without a check-in: each
/// becomes missed and its `Missed` event is enqueued, in one transaction. Returns how many.
///
/// A month is settled once, so the event is published once, across restarts and instances.
pub async fn settle_missed(
    pool: &PgPool,
    today: NaiveDate,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await?;
    // Rows a scan holds are skipped and taken on a later pass, once that scan has settled them
    // or let them go.
    let rows: Vec<ClosedRow> = sqlx::query_as(
        "SELECT decision_id, benefit_month, month_start, month_end, opens_on, closes_on, \
         suspended, outcome FROM windows \
         WHERE outcome IS NULL AND closes_on < $1 \
         ORDER BY closes_on, decision_id, benefit_month LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(today)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let window = row.window.window()?;
        let event_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO missed_checkins (decision_id, benefit_month, recorded_at, event_id) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.decision_id)
        .bind(row.window.benefit_month)
        .bind(now)
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE windows SET outcome = 'missed' WHERE decision_id = $1 AND benefit_month = $2",
        )
        .bind(&row.decision_id)
        .bind(row.window.benefit_month)
        .execute(&mut *tx)
        .await?;
        messaging::enqueue(
            &mut tx,
            &announce::missed(event_id, &row.decision_id, &window, now),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// A kiosk as authentication sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Kiosk {
    /// Its id.
    pub kiosk_id: Uuid,
    /// Job centre it stands in.
    pub centre_id: String,
    /// Province of the centre.
    pub province: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A kiosk about to be registered.
#[derive(Debug, Clone)]
pub struct NewKiosk {
    /// Its id.
    pub kiosk_id: Uuid,
    /// Job centre.
    pub centre_id: String,
    /// Province.
    pub province: String,
    /// Operator's label.
    pub label: String,
    /// Hash of its credential.
    pub credential_hash: Vec<u8>,
    /// Officer registering it.
    pub registered_by: String,
}

/// Registers a kiosk.
pub async fn insert_kiosk(
    pool: &PgPool,
    kiosk: &NewKiosk,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO kiosks (kiosk_id, centre_id, province, label, credential_hash, \
         registered_by, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(kiosk.kiosk_id)
    .bind(&kiosk.centre_id)
    .bind(&kiosk.province)
    .bind(&kiosk.label)
    .bind(&kiosk.credential_hash)
    .bind(&kiosk.registered_by)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Revokes a kiosk; false when there is no such kiosk. Revoking twice keeps the first record.
pub async fn revoke_kiosk(
    pool: &PgPool,
    kiosk_id: Uuid,
    officer_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "UPDATE kiosks SET revoked_at = COALESCE(revoked_at, $2), \
         revoked_by = COALESCE(revoked_by, $3), revoke_reason = COALESCE(revoke_reason, $4) \
         WHERE kiosk_id = $1 RETURNING kiosk_id",
    )
    .bind(kiosk_id)
    .bind(now)
    .bind(officer_id)
    .bind(reason)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Filters and position of a page of missed check-ins.
#[derive(Debug, Clone, Default)]
pub struct MissedQuery {
    /// Only this province; empty for all.
    pub province: String,
    /// Only this job centre; empty for all.
    pub centre_id: String,
    /// Only windows closed on or after this day.
    pub closed_from: Option<NaiveDate>,
    /// Only windows closed on or before this day.
    pub closed_to: Option<NaiveDate>,
    /// Resume after this entry (closing day, decision, month) of the previous page.
    pub after: Option<(NaiveDate, String, i32)>,
    /// Entries per page.
    pub limit: i64,
}

/// One missed check-in, for the officer's list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MissedRow {
    /// Decision concerned.
    pub decision_id: String,
    /// Legal decision number.
    pub decision_number: String,
    /// Beneficiary's name.
    pub beneficiary_name: String,
    /// Job centre.
    pub centre_id: String,
    #[sqlx(flatten)]
    window: WindowRow,
}

impl MissedRow {
    /// The window that closed.
    pub fn window(&self) -> Result<CheckinWindow, StoreError> {
        self.window.window()
    }

    /// Where the next page starts.
    pub fn position(&self) -> (NaiveDate, String, i32) {
        (
            self.window.closes_on,
            self.decision_id.clone(),
            self.window.benefit_month,
        )
    }
}

/// A page of missed check-ins, latest window first.
pub async fn missed_checkins(
    pool: &PgPool,
    query: &MissedQuery,
) -> Result<Vec<MissedRow>, StoreError> {
    let (after_day, after_decision, after_month) = match &query.after {
        Some((day, decision, month)) => (Some(*day), Some(decision.as_str()), Some(*month)),
        None => (None, None, None),
    };
    Ok(sqlx::query_as(
        "SELECT m.decision_id, d.decision_number, d.beneficiary_name, d.centre_id, \
         w.benefit_month, w.month_start, w.month_end, w.opens_on, w.closes_on, w.suspended, \
         w.outcome \
         FROM missed_checkins m \
         JOIN windows w USING (decision_id, benefit_month) \
         JOIN decisions d USING (decision_id) \
         WHERE ($1 = '' OR d.province = $1) AND ($2 = '' OR d.centre_id = $2) \
         AND ($3::date IS NULL OR w.closes_on >= $3) AND ($4::date IS NULL OR w.closes_on <= $4) \
         AND ($5::date IS NULL OR (w.closes_on, m.decision_id, m.benefit_month) < ($5, $6, $7)) \
         ORDER BY w.closes_on DESC, m.decision_id DESC, m.benefit_month DESC LIMIT $8",
    )
    .bind(&query.province)
    .bind(&query.centre_id)
    .bind(query.closed_from)
    .bind(query.closed_to)
    .bind(after_day)
    .bind(after_decision)
    .bind(after_month)
    .bind(query.limit)
    .fetch_all(pool)
    .await?)
}
