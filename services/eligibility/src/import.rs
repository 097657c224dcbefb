//! Bulk import of a contribution history CSV streamed in chunks: good rows load in batches
//! (one `UNNEST` insert each), bad rows come back with their line number and reason.
//!
//! Columns, in order: `social_insurance_number, citizen_id, employer_id, month (YYYY-MM),
//! salary_dong, contract_type (indefinite | fixed_term | short_term | seasonal), region (1-4),
//! state_salary_scale (true | false, optional)`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use contracts::eligibility::v1 as pb;
use futures::{Stream, StreamExt};
use serving::ApiError;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::ids::SocialInsuranceNumber;
use crate::domain::month::YearMonth;
use crate::domain::rates::RateBook;
use crate::lifecycle::{self, LifecycleError};
use crate::store::contributions::{self as contribution_store, ContributionRow};
use crate::store::decisions as decision_store;
use crate::wire;

/// Rows per insert statement.
const BATCH_ROWS: usize = 5_000;
/// Bad rows listed in the answer; the count covers the rest.
const BAD_ROWS_LISTED: usize = 1_000;

/// A row refused, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line in the file, counting the header.
    pub line: u64,
    /// Column at fault.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn bad(line: u64, field: &'static str, reason: impl Into<String>) -> BadRow {
    BadRow {
        line,
        field,
        reason: reason.into(),
    }
}

/// Parses one data row into a contribution record, naming the first bad column.
pub fn parse_row(line: u64, record: &csv::StringRecord) -> Result<ContributionRow, BadRow> {
    let field = |index: usize| record.get(index).map(str::trim).unwrap_or("");
    if record.len() < 7 || record.len() > 8 {
        return Err(bad(
            line,
            "row",
            format!("has {} columns, expected 7 or 8", record.len()),
        ));
    }
    let number = SocialInsuranceNumber::parse(field(0))
        .map_err(|error| bad(line, "social_insurance_number", error.to_string()))?;
    let employer_id = field(2);
    if employer_id.is_empty() {
        return Err(bad(line, "employer_id", "is empty"));
    }
    let month = field(3)
        .split_once('-')
        .and_then(|(year, month)| Some((year.parse().ok()?, month.parse().ok()?)))
        .and_then(|(year, month)| YearMonth::new(year, month).ok())
        .ok_or_else(|| bad(line, "month", "is not a month written YYYY-MM"))?;
    let salary_dong: i64 = field(4)
        .parse()
        .ok()
        .filter(|salary| *salary >= 0)
        .ok_or_else(|| {
            bad(
                line,
                "salary_dong",
                "is not a whole, non-negative number of đồng",
            )
        })?;
    let contract_type = match field(5) {
        "indefinite" => "indefinite",
        "fixed_term" => "fixed_term",
        "short_term" => "short_term",
        "seasonal" => "seasonal",
        _ => {
            return Err(bad(
                line,
                "contract_type",
                "is not indefinite, fixed_term, short_term or seasonal",
            ));
        }
    };
    let region = field(6)
        .parse::<i32>()
        .ok()
        .and_then(wire::region)
        .ok_or_else(|| bad(line, "region", "is not a region from 1 to 4"))?;
    let state_salary_scale = match field(7) {
        "" | "false" => false,
        "true" => true,
        _ => return Err(bad(line, "state_salary_scale", "is not true or false")),
    };
    Ok(ContributionRow {
        social_insurance_number: number.as_string(),
        month: month.first_day(),
        employer_id: employer_id.to_owned(),
        salary_dong,
        contract_type: contract_type.to_owned(),
        region: i16::from(region.number()),
        state_salary_scale,
        citizen_id: field(1).to_owned(),
    })
}

/// Counts and batches of one import.
struct Progress {
    import_id: Uuid,
    lines_done: u64,
    skip_header: bool,
    rows_read: u64,
    rows_loaded: u64,
    rows_rejected: u64,
    bad_rows: Vec<BadRow>,
    batch: Vec<ContributionRow>,
}

impl Progress {
    /// Parses complete lines; rows are numbered from the line after those already read.
    fn parse(&mut self, complete_lines: &[u8]) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(complete_lines);
        for result in reader.records() {
            let (line, record) = match result {
                Ok(record) => {
                    let line = self.lines_done + record.position().map_or(0, |p| p.line());
                    (line, Ok(record))
                }
                Err(error) => {
                    let line = self.lines_done + error.position().map_or(0, |p| p.line());
                    (line, Err(error))
                }
            };
            if self.skip_header && line == 1 {
                continue;
            }
            if matches!(&record, Ok(record) if record.iter().all(|field| field.trim().is_empty())) {
                continue;
            }
            self.rows_read += 1;
            let parsed = match record {
                Ok(record) => parse_row(line, &record),
                Err(error) => Err(bad(line, "row", format!("is not valid CSV: {error}"))),
            };
            match parsed {
                Ok(row) => self.batch.push(row),
                Err(bad_row) => {
                    self.rows_rejected += 1;
                    if self.bad_rows.len() < BAD_ROWS_LISTED {
                        self.bad_rows.push(bad_row);
                    }
                }
            }
        }
        let newlines = complete_lines.iter().filter(|byte| **byte == b'\n').count();
        self.lines_done += u64::try_from(newlines).unwrap_or(u64::MAX);
    }
}

/// Applies newly imported records as the contributions topic does: a new job ends the live
/// decision of its holder, in the batch's transaction.
async fn end_benefits_of_new_jobs(
    conn: &mut PgConnection,
    book: &RateBook,
    at: DateTime<Utc>,
    inserted: Vec<ContributionRow>,
) -> Result<(), ApiError> {
    let mut numbers: Vec<String> = inserted
        .iter()
        .map(|row| row.social_insurance_number.clone())
        .collect();
    numbers.sort();
    numbers.dedup();
    let live = decision_store::numbers_with_live_decisions(conn, &numbers).await?;
    let mut candidates: Vec<ContributionRow> = inserted
        .into_iter()
        .filter(|row| live.contains(&row.social_insurance_number))
        .collect();
    // The earliest new-job month of a person is the one that ends the benefit.
    candidates.sort_by_key(|row| row.month);
    for row in &candidates {
        lifecycle::contribution_recorded(conn, book, at, row)
            .await
            .map_err(|error| match error {
                LifecycleError::Store(error) => ApiError::from(error),
                other => ApiError::Internal(other.to_string()),
            })?;
    }
    Ok(())
}

/// Inserts batches on its own task, so parsing the next batch overlaps loading this one.
struct Loader {
    sender: mpsc::Sender<Vec<ContributionRow>>,
    task: JoinHandle<Result<u64, ApiError>>,
}

impl Loader {
    fn start(pool: PgPool, book: Arc<RateBook>, source: String, at: DateTime<Utc>) -> Self {
        // Two batches in flight bound the memory an import holds.
        let (sender, mut receiver) = mpsc::channel::<Vec<ContributionRow>>(2);
        let task = tokio::spawn(async move {
            let mut loaded = 0;
            while let Some(batch) = receiver.recv().await {
                let mut tx = pool.begin().await?;
                let inserted =
                    contribution_store::insert_batch(&mut tx, &batch, &source, at).await?;
                loaded += u64::try_from(inserted.len()).unwrap_or(u64::MAX);
                end_benefits_of_new_jobs(&mut tx, &book, at, inserted).await?;
                tx.commit().await?;
            }
            Ok(loaded)
        });
        Self { sender, task }
    }

    /// Hands over the rows parsed so far; a failed loader stops the import with its error.
    async fn load(self, progress: &mut Progress) -> Result<Self, ApiError> {
        if progress.batch.is_empty() {
            return Ok(self);
        }
        let batch = std::mem::take(&mut progress.batch);
        if self.sender.send(batch).await.is_ok() {
            return Ok(self);
        }
        Err(self
            .finish()
            .await
            .err()
            .unwrap_or_else(|| ApiError::Internal("contribution loader stopped early".into())))
    }

    /// Waits for every batch handed over and returns how many rows were new.
    async fn finish(self) -> Result<u64, ApiError> {
        drop(self.sender);
        self.task
            .await
            .map_err(|error| ApiError::Internal(format!("contribution loader failed: {error}")))?
    }
}

/// Runs one import over the request stream and reports what loaded and what did not.
pub async fn run<S>(
    pool: &PgPool,
    book: Arc<RateBook>,
    at: DateTime<Utc>,
    stream: S,
) -> Result<pb::ImportContributionsResponse, ApiError>
where
    S: Stream<Item = Result<pb::ImportContributionsRequest, tonic::Status>> + Unpin,
{
    let mut stream = stream;
    let header = match stream.next().await {
        Some(Ok(pb::ImportContributionsRequest {
            part: Some(pb::import_contributions_request::Part::Header(header)),
        })) => header,
        Some(Err(status)) => return Err(ApiError::Unavailable(status.message().to_owned())),
        _ => return Err(ApiError::invalid("header", "must be the first message")),
    };
    let officer = wire::officer("header.officer", header.officer.as_ref())?;
    let mut progress = Progress {
        import_id: Uuid::now_v7(),
        lines_done: 0,
        skip_header: header.has_header_row,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        bad_rows: Vec::new(),
        batch: Vec::new(),
    };
    let mut loader = Loader::start(pool.clone(), book, progress.import_id.to_string(), at);
    let mut pending: Vec<u8> = Vec::new();
    while let Some(message) = stream.next().await {
        let message =
            message.map_err(|status| ApiError::Unavailable(status.message().to_owned()))?;
        match message.part {
            Some(pb::import_contributions_request::Part::CsvChunk(chunk)) => {
                pending.extend_from_slice(&chunk);
                // Rows may span chunks: parse up to the last complete line, keep the rest.
                if let Some(end) = pending.iter().rposition(|byte| *byte == b'\n') {
                    let rest = pending.split_off(end + 1);
                    progress.parse(&pending);
                    pending = rest;
                }
                if progress.batch.len() >= BATCH_ROWS {
                    loader = loader.load(&mut progress).await?;
                }
            }
            _ => {
                return Err(ApiError::invalid(
                    "csv_chunk",
                    "only the first message is a header",
                ));
            }
        }
    }
    if !pending.is_empty() {
        pending.push(b'\n');
        progress.parse(&pending);
    }
    loader = loader.load(&mut progress).await?;
    progress.rows_loaded = loader.finish().await?;
    sqlx::query(
        "INSERT INTO contribution_imports (import_id, source_name, officer_id, started_at, \
         rows_read, rows_loaded, rows_rejected) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(progress.import_id)
    .bind(&header.source_name)
    .bind(&officer.id)
    .bind(at)
    .bind(i64::try_from(progress.rows_read).unwrap_or(i64::MAX))
    .bind(i64::try_from(progress.rows_loaded).unwrap_or(i64::MAX))
    .bind(i64::try_from(progress.rows_rejected).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    tracing::info!(
        import_id = %progress.import_id,
        rows_read = progress.rows_read,
        rows_loaded = progress.rows_loaded,
        rows_rejected = progress.rows_rejected,
        "contribution import finished"
    );
    Ok(pb::ImportContributionsResponse {
        import_id: progress.import_id.to_string(),
        rows_read: progress.rows_read,
        rows_loaded: progress.rows_loaded,
        rows_rejected: progress.rows_rejected,
        bad_rows_truncated: progress.rows_rejected > progress.bad_rows.len() as u64,
        bad_rows: progress
            .bad_rows
            .into_iter()
            .map(|row| pb::BadRow {
                line: row.line,
                field: row.field.to_owned(),
                reason: row.reason,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> csv::StringRecord {
        csv::StringRecord::from(text.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn a_good_row_becomes_a_record() {
        let parsed = parse_row(
            2,
            &row("0123456789,001085012345,EMP-1,2026-02,10000000,indefinite,1"),
        )
        .unwrap();
        assert_eq!(parsed.salary_dong, 10_000_000);
        assert_eq!(parsed.region, 1);
        assert_eq!(parsed.month.to_string(), "2026-02-01");
    }

    #[test]
    fn a_fractional_salary_is_refused_with_its_line_and_column() {
        let refused =
            parse_row(7, &row("0123456789,,EMP-1,2026-02,1000.5,indefinite,1")).unwrap_err();
        assert_eq!(refused.line, 7);
        assert_eq!(refused.field, "salary_dong");
    }

    #[test]
    fn a_short_social_insurance_number_is_refused() {
        let refused = parse_row(3, &row("12345,,EMP-1,2026-02,1000,indefinite,1")).unwrap_err();
        assert_eq!(refused.field, "social_insurance_number");
    }

    #[test]
    fn rows_spanning_chunks_keep_their_line_numbers() {
        let mut progress = Progress {
            import_id: Uuid::nil(),
            lines_done: 0,
            skip_header: true,
            rows_read: 0,
            rows_loaded: 0,
            rows_rejected: 0,
            bad_rows: Vec::new(),
            batch: Vec::new(),
        };
        progress.parse(b"header\n0123456789,,E,2026-01,1,indefinite,1\n");
        progress.parse(b"0123456789,,E,2026-13,1,indefinite,1\n");

        assert_eq!(progress.rows_read, 2);
        assert_eq!(progress.batch.len(), 1);
        assert_eq!(progress.bad_rows[0].line, 3);
        assert_eq!(progress.bad_rows[0].field, "month");
    }
}
