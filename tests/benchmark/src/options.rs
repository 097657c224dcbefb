//! The command line.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

/// What to run and where the local stack listens.
#[derive(Debug, Clone)]
pub struct Options {
    /// Payments to make: people checked in and paid.
    pub payments: u64,
    /// The population's seed.
    pub seed: u64,
    /// Kiosk calls in flight at once.
    pub concurrency: usize,
    /// The offset file the services' clocks follow (`clock.offset_file`).
    pub clock_file: PathBuf,
    /// Where the services' pid files are (`.local/run`), to read their memory.
    pub run_dir: PathBuf,
    /// Where the results are written.
    pub results: PathBuf,
    /// The broker.
    pub brokers: String,
    /// PostgreSQL as its administrator, to read the printed notices' barcode texts.
    pub database_url: String,
    /// gRPC endpoints.
    pub eligibility: String,
    /// gRPC endpoint of checkin.
    pub checkin: String,
    /// gRPC endpoint of transfer.
    pub transfer: String,
    /// Only set the clock file to the intake day and stop, so the services start there:
    /// their time then only moves forward.
    pub clock_only: bool,
}

const USAGE: &str = "usage: benchmark --clock-file FILE [--payments N] [--seed S] \
[--concurrency C] [--run-dir DIR] [--results FILE] [--brokers HOST:PORT] [--database-url URL] \
[--clock-only]";

impl Options {
    /// Reads the options from `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let mut options = Self {
            payments: 1_000_000,
            seed: 2026,
            concurrency: 64,
            clock_file: PathBuf::new(),
            run_dir: PathBuf::from(".local/run"),
            results: PathBuf::new(),
            brokers: "127.0.0.1:9092".into(),
            database_url: "postgres://postgres:postgres@127.0.0.1:54329/benefit".into(),
            eligibility: "http://127.0.0.1:50051".into(),
            checkin: "http://127.0.0.1:50052".into(),
            transfer: "http://127.0.0.1:50054".into(),
            clock_only: false,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                bail!("{USAGE}");
            }
            if flag == "--clock-only" {
                options.clock_only = true;
                continue;
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value; {USAGE}"))?;
            let number = |value: &str| {
                value
                    .replace('_', "")
                    .parse::<u64>()
                    .with_context(|| format!("{flag} takes a whole number, not {value:?}"))
            };
            match flag.as_str() {
                "--payments" => options.payments = number(&value)?,
                "--seed" => options.seed = number(&value)?,
                "--concurrency" => options.concurrency = usize::try_from(number(&value)?)?,
                "--clock-file" => options.clock_file = value.into(),
                "--run-dir" => options.run_dir = value.into(),
                "--results" => options.results = value.into(),
                "--brokers" => options.brokers = value,
                "--database-url" => options.database_url = value,
                _ => bail!("unknown option {flag}; {USAGE}"),
            }
        }
        if options.clock_file.as_os_str().is_empty() {
            bail!("--clock-file is required: the file the services' clocks follow; {USAGE}");
        }
        if options.payments == 0 || options.concurrency == 0 {
            bail!("--payments and --concurrency must be at least 1");
        }
        if options.results.as_os_str().is_empty() {
            options.results = PathBuf::from(format!(
                ".local/bench/results-{}.json",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ));
        }
        Ok(options)
    }
}
