//! `eligibility import FILE [--header] [--officer ID] [--server URL]`: streams a contribution
//! CSV to a running service's ImportContributions, showing progress on stderr, and prints the
//! report of bad rows there too.

use std::fs::File;
use std::io::Read;
use std::time::Instant;

use contracts::common::v1::{Agency, Officer};
use contracts::eligibility::v1::{
    ImportContributionsRequest, ImportContributionsResponse, ImportHeader,
    eligibility_service_client::EligibilityServiceClient, import_contributions_request::Part,
};

use crate::Config;

/// Bytes per streamed chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// Why an import from the command line failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments are wrong.
    #[error("{0}; usage: import FILE [--header] [--officer ID] [--server URL]")]
    Usage(String),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The service could not be reached.
    #[error("cannot reach the service: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// The service refused the import.
    #[error("import refused: {0}")]
    Refused(#[from] tonic::Status),
}

struct Options {
    path: String,
    has_header_row: bool,
    officer_id: String,
    server: String,
}

fn options(config: &Config, args: &[String]) -> Result<Options, CliError> {
    let mut options = Options {
        path: String::new(),
        has_header_row: false,
        officer_id: "operator".to_owned(),
        server: format!(
            "http://{}:{}",
            config.base.server.host, config.base.server.grpc_port
        ),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--header" => options.has_header_row = true,
            "--officer" => {
                options.officer_id = args
                    .next()
                    .ok_or_else(|| CliError::Usage("--officer needs an id".into()))?
                    .clone();
            }
            "--server" => {
                options.server = args
                    .next()
                    .ok_or_else(|| CliError::Usage("--server needs a URL".into()))?
                    .clone();
            }
            path if options.path.is_empty() && !path.starts_with("--") => {
                options.path = path.to_owned();
            }
            other => return Err(CliError::Usage(format!("unexpected argument {other}"))),
        }
    }
    if options.path.is_empty() {
        return Err(CliError::Usage("no file given".into()));
    }
    Ok(options)
}

fn bar(sent: u64, total: u64) -> String {
    let width = 40u64;
    // An empty file is complete from the start.
    let filled = sent
        .saturating_mul(width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    let percent = sent.saturating_mul(100).checked_div(total).unwrap_or(100);
    format!(
        "\r[{}{}] {percent:>3}% {} of {} MB",
        "#".repeat(usize::try_from(filled).unwrap_or_default()),
        " ".repeat(usize::try_from(width - filled).unwrap_or_default()),
        sent / 1_000_000,
        total / 1_000_000
    )
}

/// Runs `import` with the arguments after the command name.
pub async fn import(
    config: &Config,
    args: &[String],
) -> Result<ImportContributionsResponse, CliError> {
    let options = options(config, args)?;
    let file_error = |source| CliError::File {
        path: options.path.clone(),
        source,
    };
    let mut file = File::open(&options.path).map_err(file_error)?;
    let total = file.metadata().map_err(file_error)?.len();
    let mut client = EligibilityServiceClient::connect(options.server.clone()).await?;

    let header = ImportContributionsRequest {
        part: Some(Part::Header(ImportHeader {
            source_name: options.path.clone(),
            has_header_row: options.has_header_row,
            officer: Some(Officer {
                officer_id: options.officer_id.clone(),
                agency: Agency::Operator as i32,
            }),
        })),
    };
    let mut sent = 0u64;
    let chunks = std::iter::from_fn(move || {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        // A read error ends the stream early; the report then shows fewer rows than the file has.
        let read = file.read(&mut buffer).ok().filter(|read| *read > 0)?;
        buffer.truncate(read);
        sent += u64::try_from(read).unwrap_or_default();
        eprint!("{}", bar(sent, total));
        Some(ImportContributionsRequest {
            part: Some(Part::CsvChunk(buffer)),
        })
    });
    let started = Instant::now();
    let report = client
        .import_contributions(futures::stream::iter(std::iter::once(header).chain(chunks)))
        .await?
        .into_inner();
    eprintln!();
    eprintln!(
        "{} rows read, {} loaded, {} rejected in {:.1} s",
        report.rows_read,
        report.rows_loaded,
        report.rows_rejected,
        started.elapsed().as_secs_f64()
    );
    for bad in &report.bad_rows {
        eprintln!("line {}: {} {}", bad.line, bad.field, bad.reason);
    }
    if report.bad_rows_truncated {
        eprintln!("(more bad rows than listed)");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_bytes_sent() {
        assert!(bar(50, 100).contains(" 50%"));
        assert!(bar(100, 100).starts_with(&format!("\r[{}]", "#".repeat(40))));
    }

    #[test]
    fn a_file_is_required() {
        let result = options(&Config::default(), &["--header".to_owned()]);
        assert!(matches!(result, Err(CliError::Usage(_))));
    }
}
