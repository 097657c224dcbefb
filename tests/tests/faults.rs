//! The fault suite: one benefit month of a synthetic province, paid while the system is being
//! broken. The four services and the bank simulator run as real processes on a PostgreSQL
//! cluster and a Tansu broker of the suite's own, so that a SIGKILL is a real one and the
//! database and the broker can be restarted without touching anybody else's.
//!
//! While the check-ins come in, checkin, payroll and eligibility are each killed at a seeded
//! random moment and started again, and PostgreSQL restarts in immediate mode (a crash, as
//! far as the services can tell); the kiosk retries a scan whose call failed, with the same
//! code, as a kiosk would. While the lists, instructions and bank answers are in flight,
//! transfer and the bank simulator are killed and the broker is killed and restarted on its
//! storage. Every record of the scans, lists, bank answers and transfer outcomes is then
//! delivered a second time.
//!
//! The final ledger — per beneficiary and benefit month: the amount credited, to which
//! account, by how many credited transfers — is read twice, as the banks saw it (the bank
//! topics) and as transfer recorded it (its tables), and each must equal the ledger the
//! scenario and the law give, which the end-to-end month test shows the fault-free run
//! reaches. Reconciliation must balance to the đồng, nothing may be left in flight, and no
//! record may have been dead-lettered.
//!
//! The services run from the binaries next to the test executable (`cargo build --workspace
//! --bins` first; `deploy/local/test.sh` does). The broker is the Tansu 0.6.0 the local stack
//! installs, built with the `libsql` feature, on SQLite storage, which keeps records and
//! consumer groups across a restart; `FAULT_TANSU` names its binary (`test.sh` sets it), else
//! the `tansu` on the `PATH` or in cargo's bin directory is used. The services join their
//! groups with static membership (`group.instance.id`), so one killed and started again takes
//! its place back at once.
//!
//! Settings: `FAULT_PEOPLE` (the population, default 40), `FAULT_SEED` (the moments of the
//! faults; by default drawn from the clock and printed, so a failing run can be replayed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the suite's fixtures are test code: a broken fixture stops the test loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use clock::OffsetFileClock;
use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::checkin::v1::{
    GetNoticeRequest, NoticeFormat, RegisterKioskRequest, ScanOutcome, ScanRequest, ScanResponse,
    checkin_service_client::CheckinServiceClient,
};
use contracts::common::v1::Agency;
use contracts::eligibility::v1::{
    ApproveClaimRequest, ClaimStatus, ImportContributionsRequest, ImportHeader,
    eligibility_service_client::EligibilityServiceClient, import_contributions_request::Part,
};
use contracts::payroll::v1::payroll_service_client::PayrollServiceClient;
use contracts::topics;
use contracts::transfer::v1::{
    GetReconciliationRequest, transfer_service_client::TransferServiceClient,
};
use futures::StreamExt as _;
use population::{Person, Spec};
use prost::Message as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::{Headers as _, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};
use sqlx::{Connection as _, Row as _};
use system_tests::intake;
use system_tests::law::{Benefit, benefit_of};
use system_tests::{
    CUT_INTERVAL, PAYROLL_KEY_ID, PAYROLL_PUBLIC_KEY, PROVINCE, date, morning_of, officer,
    registrar, statistics,
};
use tonic::transport::{Channel, Endpoint};

/// The population's seed.
const SEED: u64 = 20_260_801;
/// Hà Nội's citizen-id province code.
const CITIZEN_PROVINCE: &str = "001";
/// Every claim is filed on one intake day, Wednesday 1 April 2026 ...
const INTAKE: (i32, u32, u32) = (2026, 4, 1);
/// ... approved on Tuesday 7 April ...
const APPROVAL: (i32, u32, u32) = (2026, 4, 7);
/// ... and handed over on Thursday 9 April.
const HANDOVER: (i32, u32, u32) = (2026, 4, 9);
/// How long a step may take when nothing is broken.
const SETTLE: Duration = Duration::from_secs(60);
/// How long a step may take while processes are killed and restarted around it.
const RECOVER: Duration = Duration::from_secs(150);
/// The benefit month the suite pays.
const MONTH: u32 = 1;
/// The services the suite runs, each from its binary.
const SERVICES: [&str; 5] = [
    "eligibility",
    "checkin",
    "payroll",
    "transfer",
    "bank-simulator",
];
/// Where Debian's postgresql-15 package puts its programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn setting(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

fn day((year, month, day): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

fn nine_am(date: NaiveDate) -> DateTime<Utc> {
    morning_of(date.year(), date.month(), date.day())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("({} missing)", path.display());
    };
    let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<String> = text.lines().map(plain).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A log line without its colours, cut to a readable length.
fn plain(line: &str) -> String {
    let mut text = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence runs to its final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    if text.chars().count() > 400 {
        text = text.chars().take(400).collect::<String>() + " …";
    }
    text
}

/// A child process writing to `log`, started from `cwd`.
fn spawn(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    log: &Path,
) -> anyhow::Result<Child> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().cloned())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|error| anyhow::anyhow!("cannot start {}: {error}", program.display()))?;
    Ok(child)
}

/// Runs `program` to completion, as the `postgres` user when the suite runs as root
/// (PostgreSQL refuses to run as root).
fn run_pg(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let path = format!("{PG_BIN}/{program}");
    // psql is a client and may run as anybody; it reads the provisioning script from the
    // repository, which the postgres user may not be allowed to reach.
    let root = program != "psql" && nix_is_root();
    let mut command = if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", &path]);
        command
    } else {
        Command::new(&path)
    };
    let output = command
        .args(args)
        .current_dir("/")
        .env("PGPASSWORD", "postgres")
        .output()
        .map_err(|error| anyhow::anyhow!("cannot run {path}: {error}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    Ok(text)
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when `port` answers `GET /health` with 200.
async fn healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        std::io::Result::Ok(
            answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200"),
        )
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

async fn port_open(port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", port))
        )
        .await,
        Ok(Ok(_))
    )
}

// ---------------------------------------------------------------------------------------------
// The stack: a private PostgreSQL cluster, a private broker, five processes.
// ---------------------------------------------------------------------------------------------

/// One service process and how to start it again.
struct Service {
    child: Option<Child>,
    grpc_port: u16,
    http_port: u16,
    config: PathBuf,
    log: PathBuf,
}

struct Stack {
    dir: PathBuf,
    bin_dir: PathBuf,
    tansu_bin: PathBuf,
    pg_data: PathBuf,
    pg_log: PathBuf,
    pg_port: u16,
    kafka_port: u16,
    tansu: Mutex<Option<Child>>,
    services: Mutex<BTreeMap<&'static str, Service>>,
    clock_file: PathBuf,
    offset: Mutex<TimeDelta>,
    /// Set once the test passed: the temporary directory is removed with the stack.
    passed: Mutex<bool>,
}

impl Drop for Stack {
    /// Every child ends with the test, also when it fails.
    fn drop(&mut self) {
        if let Ok(mut services) = self.services.lock() {
            for service in services.values_mut() {
                if let Some(mut child) = service.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        if let Ok(mut tansu) = self.tansu.lock()
            && let Some(mut child) = tansu.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        let data = self.pg_data.display().to_string();
        let _ = run_pg("pg_ctl", &["stop", "-D", &data, "-m", "immediate", "-w"]);
        if self.passed.lock().map(|passed| *passed).unwrap_or(false) {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("fault suite: files and logs kept in {}", self.dir.display());
        }
    }
}

impl Stack {
    async fn start(banks: &[String], bank_seed: u64) -> anyhow::Result<Arc<Self>> {
        // The binaries sit next to the directory of this test executable (target/<profile>).
        let exe = std::env::current_exe()?;
        let bin_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| anyhow::anyhow!("no profile directory above {}", exe.display()))?
            .to_owned();
        for name in SERVICES {
            anyhow::ensure!(
                bin_dir.join(name).is_file(),
                "{} is missing: run `cargo build --workspace --bins` before the fault suite",
                bin_dir.join(name).display()
            );
        }
        let tansu_bin = find_tansu()?;
        anyhow::ensure!(
            Path::new(PG_BIN).join("initdb").is_file(),
            "PostgreSQL 15 is missing ({PG_BIN}); deploy/local/up.sh installs it"
        );

        let dir =
            std::env::temp_dir().join(format!("fault-suite-{}", uuid::Uuid::new_v4().simple()));
        let pg_dir = dir.join("pg");
        std::fs::create_dir_all(&pg_dir)?;
        std::fs::create_dir_all(dir.join("broker"))?;
        let clock_file = dir.join("clock-offset");
        OffsetFileClock::write(&clock_file, TimeDelta::zero())?;
        let stack = Arc::new(Self {
            pg_data: pg_dir.join("data"),
            pg_log: pg_dir.join("postgres.log"),
            pg_port: free_port()?,
            kafka_port: free_port()?,
            dir,
            bin_dir,
            tansu_bin,
            tansu: Mutex::new(None),
            services: Mutex::new(BTreeMap::new()),
            clock_file,
            offset: Mutex::new(TimeDelta::zero()),
            passed: Mutex::new(false),
        });
        stack.start_postgres()?;
        stack.start_broker().await?;
        stack.create_topics(banks).await?;
        stack.configure(banks, bank_seed)?;
        for name in SERVICES {
            if name != "bank-simulator" {
                stack.migrate(name)?;
            }
        }
        for name in SERVICES {
            stack.launch(name)?;
            stack.await_healthy(name, SETTLE).await?;
        }
        Ok(stack)
    }

    fn start_postgres(&self) -> anyhow::Result<()> {
        let pg_dir = self.pg_data.parent().unwrap_or(&self.dir);
        let password = pg_dir.join("password");
        std::fs::write(&password, "postgres\n")?;
        std::fs::write(&self.pg_log, "")?;
        if nix_is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(pg_dir)
                .status()?;
            anyhow::ensure!(status.success(), "chown of {} failed", pg_dir.display());
        }
        let data = self.pg_data.display().to_string();
        run_pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                &format!("--pwfile={}", password.display()),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        // A commit must be in the write-ahead log before it is acknowledged
        // (synchronous_commit stays on, unlike the local stack): an immediate restart would
        // otherwise lose check-ins the kiosk was told are recorded. Skipping fsync is safe
        // here, since only the server crashes and the operating system's cache survives.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories='' \
             -c fsync=off -c full_page_writes=off -c max_connections=200",
            self.pg_port
        );
        run_pg(
            "pg_ctl",
            &[
                "start",
                "-D",
                &data,
                "-l",
                &self.pg_log.display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
            ],
        )?;
        let provision = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/provision.sql");
        run_pg(
            "psql",
            &[
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &self.pg_port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                &provision.display().to_string(),
            ],
        )?;
        Ok(())
    }

    /// Crashes PostgreSQL (immediate mode: no checkpoint, every connection cut) and starts it
    /// again on the same data.
    fn restart_postgres(&self) -> anyhow::Result<()> {
        let data = self.pg_data.display().to_string();
        run_pg(
            "pg_ctl",
            &[
                "restart",
                "-D",
                &data,
                // Without a log file the new server would write to the suite's pipe and
                // keep it open.
                "-l",
                &self.pg_log.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
            ],
        )?;
        Ok(())
    }

    fn admin_url(&self) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/benefit",
            self.pg_port
        )
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    fn spawn_broker(&self) -> anyhow::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.kafka_port);
        // SQLite storage in the broker's directory (a relative sqlite:// URL is relative to
        // the working directory), so records and committed offsets survive a restart.
        let child = spawn(
            &self.tansu_bin,
            &[
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ],
            &[],
            &self.dir.join("broker"),
            &self.dir.join("tansu.log"),
        )?;
        *self.tansu.lock().unwrap() = Some(child);
        Ok(())
    }

    async fn start_broker(&self) -> anyhow::Result<()> {
        self.spawn_broker()?;
        let deadline = Instant::now() + SETTLE;
        while !port_open(self.kafka_port).await {
            let exited = self
                .tansu
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                let log = tail(&self.dir.join("tansu.log"), 20);
                anyhow::bail!(
                    "the broker exited ({status}) at start{}:\n{log}",
                    if log.contains("FeatureNotEnabled") {
                        "; it needs the libsql feature: cargo install tansu --version 0.6.0 \
                         --locked --features dynostore,libsql (FAULT_TANSU names the binary)"
                    } else {
                        ""
                    }
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the broker did not open its port"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Kills the broker and starts it again on the same port and storage.
    async fn restart_broker(&self, pause: Duration) -> anyhow::Result<()> {
        if let Some(mut child) = self.tansu.lock().unwrap().take() {
            child.kill()?;
            child.wait()?;
        }
        tokio::time::sleep(pause).await;
        self.start_broker().await
    }

    async fn create_topics(&self, banks: &[String]) -> anyhow::Result<()> {
        let mut names: Vec<String> = [
            topics::CONTRIBUTIONS,
            topics::DECISIONS,
            topics::CHECKIN_SCANS,
            topics::PAYMENT_LISTS,
            topics::BANK_RESULTS,
            topics::TRANSFER_OUTCOMES,
        ]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
        names.extend(banks.iter().map(|bank| topics::bank_transfers(bank)));
        let mut all = Vec::new();
        for name in &names {
            all.push(name.clone());
            all.push(messaging::dead_letter_topic(name));
        }
        // One partition each, so "caught up" is one committed offset against one watermark.
        let specs: Vec<(&str, i32)> = all.iter().map(|name| (name.as_str(), 1)).collect();
        messaging::admin::ensure_topics(&self.brokers(), &specs).await?;
        Ok(())
    }

    /// Writes each service's configuration file, on ports of its own.
    fn configure(&self, banks: &[String], bank_seed: u64) -> anyhow::Result<()> {
        let mut services = self.services.lock().unwrap();
        for name in SERVICES {
            let grpc_port = free_port()?;
            let http_port = free_port()?;
            let common = format!(
                "[server]\nhost = \"127.0.0.1\"\ngrpc_port = {grpc_port}\nhttp_port = {http_port}\n\n\
                 [kafka]\nbrokers = \"{brokers}\"\n\n\
                 [kafka.properties]\n\
                 # Offsets reach the broker quickly, so the suite can tell when a group caught up.\n\
                 auto_commit_interval_ms = \"100\"\n\
                 # Static membership: a service killed and started again takes its place in\n\
                 # its group back at once. Without it, a restarted service often consumed\n\
                 # nothing for minutes on Tansu 0.6.0, its group never forming again.\n\
                 group_instance_id = \"{name}\"\n\n",
                brokers = self.brokers(),
            );
            let own = match name {
                "bank-simulator" => format!(
                    "[simulator]\nbank_ids = [{}]\nseed = {bank_seed}\ndelay_ms = 100\n\
                     ac01_per_mille = 0\nac04_per_mille = 0\nmd07_per_mille = 0\n\
                     timeout_per_mille = 0\n",
                    banks
                        .iter()
                        .map(|bank| format!("\"{bank}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => {
                    let extra = match name {
                        "checkin" => "[missed]\npoll_interval_ms = 50\n".to_owned(),
                        "payroll" => format!(
                            "[lists]\ncut_interval_ms = {}\n",
                            CUT_INTERVAL.num_milliseconds()
                        ),
                        "transfer" => format!(
                            "[retry]\npoll_interval_ms = 50\n\n[lists.trusted_keys]\n\
                             \"{PAYROLL_KEY_ID}\" = \"{PAYROLL_PUBLIC_KEY}\"\n"
                        ),
                        _ => String::new(),
                    };
                    format!(
                        "[database]\nhost = \"127.0.0.1\"\nport = {}\nname = \"benefit\"\n\
                         max_connections = 8\n\n[clock]\noffset_file = \"{}\"\n\n{extra}",
                        self.pg_port,
                        self.clock_file.display()
                    )
                }
            };
            let config = self.dir.join(format!("{name}.toml"));
            std::fs::write(&config, format!("{common}{own}"))?;
            services.insert(
                name,
                Service {
                    child: None,
                    grpc_port,
                    http_port,
                    config,
                    log: self.dir.join(format!("{name}.log")),
                },
            );
        }
        Ok(())
    }

    fn env_of(&self, name: &str) -> Vec<(String, String)> {
        let services = self.services.lock().unwrap();
        let service = &services[name];
        let variable = format!("{}_CONFIG", name.to_ascii_uppercase().replace('-', "_"));
        vec![
            (variable, service.config.display().to_string()),
            ("RUST_LOG".into(), "info".into()),
        ]
    }

    fn migrate(&self, name: &str) -> anyhow::Result<()> {
        let log = self.services.lock().unwrap()[name].log.clone();
        let mut child = spawn(
            &self.bin_dir.join(name),
            &["migrate"],
            &self.env_of(name),
            &self.dir,
            &log,
        )?;
        let status = child.wait()?;
        anyhow::ensure!(
            status.success(),
            "{name} migrate failed:\n{}",
            tail(&log, 30)
        );
        Ok(())
    }

    fn launch(&self, name: &'static str) -> anyhow::Result<()> {
        let env = self.env_of(name);
        let mut services = self.services.lock().unwrap();
        let service = services
            .get_mut(name)
            .ok_or_else(|| anyhow::anyhow!("no service {name}"))?;
        let child = spawn(&self.bin_dir.join(name), &[], &env, &self.dir, &service.log)?;
        service.child = Some(child);
        Ok(())
    }

    /// Waits until `name` answers its health check, starting it again whenever it exits
    /// meanwhile (it may start while PostgreSQL or the broker is down), as a supervisor would.
    async fn await_healthy(&self, name: &'static str, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let port = self.services.lock().unwrap()[name].http_port;
        let mut starts = 1;
        loop {
            if healthy(port).await {
                return Ok(());
            }
            let exited = {
                let mut services = self.services.lock().unwrap();
                services
                    .get_mut(name)
                    .and_then(|service| service.child.as_mut())
                    .and_then(|child| child.try_wait().ok().flatten())
            };
            if Instant::now() >= deadline {
                let log = self.services.lock().unwrap()[name].log.clone();
                anyhow::bail!(
                    "{name} not healthy within {within:?} ({starts} starts):\n{}",
                    tail(&log, 30)
                );
            }
            if exited.is_some() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.launch(name)?;
                starts += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, a pause, and a fresh start.
    async fn kill_and_restart(&self, name: &'static str, pause: Duration) -> anyhow::Result<()> {
        let child = self
            .services
            .lock()
            .unwrap()
            .get_mut(name)
            .and_then(|service| service.child.take());
        if let Some(mut child) = child {
            // Child::kill sends SIGKILL: no shutdown hook, no flush, nothing finished.
            child.kill()?;
            child.wait()?;
        }
        tokio::time::sleep(pause).await;
        self.launch(name)?;
        self.await_healthy(name, RECOVER).await
    }

    fn url(&self, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.services.lock().unwrap()[name].grpc_port
        )
    }

    /// A channel that reconnects by itself after the service restarts.
    fn channel(&self, name: &str) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(self.url(name))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy())
    }

    /// Sets the services' time to `now`; it flows on from there.
    async fn set_time(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let offset = now - Utc::now();
        *self.offset.lock().unwrap() = offset;
        OffsetFileClock::write(&self.clock_file, offset)?;
        Self::until_read().await;
        Ok(())
    }

    /// Moves the services' time forward by `by`.
    async fn advance(&self, by: TimeDelta) -> anyhow::Result<()> {
        {
            let mut offset = self.offset.lock().unwrap();
            *offset += by;
            OffsetFileClock::write(&self.clock_file, *offset)?;
        }
        Self::until_read().await;
        Ok(())
    }

    /// Every service reads a new offset within its re-read interval; until then it still
    /// lives at the old time.
    async fn until_read() {
        tokio::time::sleep(OffsetFileClock::REREAD * 3).await;
    }

    /// The tails of every log, for a failure message.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<(String, PathBuf)> = self
            .services
            .lock()
            .map(|services| {
                services
                    .iter()
                    .map(|(name, service)| ((*name).to_owned(), service.log.clone()))
                    .collect()
            })
            .unwrap_or_default();
        files.push(("tansu".into(), self.dir.join("tansu.log")));
        files.push(("postgres".into(), self.pg_log.clone()));
        for (name, file) in files {
            text.push_str(&format!(
                "\n---- last lines of {name} ({}) ----\n{}\n",
                file.display(),
                tail(&file, 15)
            ));
        }
        text
    }
}

/// The Tansu binary: `FAULT_TANSU`, else `tansu` on the `PATH`, else cargo's bin directory.
fn find_tansu() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("FAULT_TANSU") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("tansu"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME").or_else(|| {
        std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo").into_os_string())
    }) {
        candidates.push(Path::new(&home).join("bin").join("tansu"));
    }
    candidates
        .into_iter()
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no tansu binary: cargo install tansu --version 0.6.0 --locked --features \
                 dynostore,libsql (or set FAULT_TANSU)"
            )
        })
}

// ---------------------------------------------------------------------------------------------
// The broker, read and written by the suite.
// ---------------------------------------------------------------------------------------------

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// Every record on the one-partition `topic`, from the beginning to its end now.
async fn read_all(brokers: &str, topic: &str) -> anyhow::Result<Vec<OwnedMessage>> {
    let consumer: StreamConsumer = client_config(brokers)
        .set(
            "group.id",
            format!("fault-reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .create()?;
    let (low, high) = {
        let consumer = &consumer;
        let topic = topic.to_owned();
        tokio::task::block_in_place(|| {
            consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10))
        })?
    };
    if high <= low {
        return Ok(Vec::new());
    }
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition_offset(topic, 0, Offset::Offset(low))?;
    consumer.assign(&partitions)?;
    // Read until the end is reached and nothing more comes for a moment.
    let mut messages: BTreeMap<i64, OwnedMessage> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let idle = if messages
            .keys()
            .next_back()
            .is_some_and(|last| last + 1 >= high)
        {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        };
        match tokio::time::timeout(idle, consumer.recv()).await {
            Ok(message) => {
                let message = message?;
                messages.insert(message.offset(), message.detach());
            }
            Err(_) => break,
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{topic}: reading offsets {low}..{high} took longer than {SETTLE:?}"
        );
    }
    // Tansu 0.6.0's high watermark can lag behind its last record, so the records read are
    // checked for gaps instead of being counted against it.
    let first = messages.keys().next().copied().unwrap_or(low);
    let last = messages.keys().next_back().copied().unwrap_or(low - 1);
    anyhow::ensure!(
        first == low && messages.len() as i64 == last - first + 1 && last + 1 >= high,
        "{topic}: read {} records from offset {first} to {last}, watermarks {low}..{high}",
        messages.len()
    );
    Ok(messages.into_values().collect())
}

/// Delivers every record of `topic` a second time: same key, payload and headers.
async fn duplicate(brokers: &str, topic: &str) -> anyhow::Result<usize> {
    let records = read_all(brokers, topic).await?;
    let producer: FutureProducer = client_config(brokers).create()?;
    for record in &records {
        let mut headers = OwnedHeaders::new();
        if let Some(original) = record.headers() {
            for header in original.iter() {
                headers = headers.insert(rdkafka::message::Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        let mut copy = FutureRecord::to(topic)
            .payload(record.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = record.key() {
            copy = copy.key(key);
        }
        producer
            .send(copy, Duration::from_secs(10))
            .await
            .map_err(|(error, _)| error)?;
    }
    Ok(records.len())
}

/// True when consumer group `group` has committed up to the end of the one-partition `topic`.
async fn caught_up(brokers: &str, group: &str, topic: &str) -> anyhow::Result<bool> {
    let (_, high, next) = position(brokers, group, topic).await?;
    Ok(next >= high)
}

/// The low and high watermarks of the one-partition `topic` and the offset `group` committed
/// there (0 when none).
async fn position(brokers: &str, group: &str, topic: &str) -> anyhow::Result<(i64, i64, i64)> {
    system_tests::committed_position(client_config(brokers), group, topic).await
}

/// Where each consumer group stands on its topic, for a failure message.
async fn positions(brokers: &str, pairs: &[(&str, &str)]) -> String {
    let mut lines = Vec::new();
    for (group, topic) in pairs {
        lines.push(match position(brokers, group, topic).await {
            Ok((low, high, next)) => {
                format!("{topic}: offsets {low}..{high}, {group} committed {next}")
            }
            Err(error) => format!("{topic}, {group}: {error:#}"),
        });
    }
    lines.join("; ")
}

/// Polls `check` until it holds; an error counts as "not yet", since a process or a server
/// may be down for a moment. Fails with `what` and the last error after `within`.
async fn until<F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => "did not hold".to_owned(),
            Err(error) => format!("{error:#}"),
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: not reached within {within:?} ({last})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger.
// ---------------------------------------------------------------------------------------------

/// What one beneficiary received for one benefit month.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Paid {
    /// Đồng credited, over every credited transfer.
    amount: i64,
    /// The accounts credited (as much of the number as the source shows).
    accounts: BTreeSet<String>,
    /// Credited transfers.
    transfers: u32,
}

type Ledger = BTreeMap<(String, u32), Paid>;

fn add(ledger: &mut Ledger, decision_id: &str, month: u32, amount: i64, account: String) {
    let paid = ledger
        .entry((decision_id.to_lowercase(), month))
        .or_insert_with(|| Paid {
            amount: 0,
            accounts: BTreeSet::new(),
            transfers: 0,
        });
    paid.amount += amount;
    paid.accounts.insert(account);
    paid.transfers += 1;
}

/// "TRO CAP THAT NGHIEP THANG <month> QD <decision id>", as the bank's customer reads it.
fn remittance(text: &str) -> Option<(u32, String)> {
    let after = text.split_once("THANG ")?.1;
    let (month, rest) = after.split_once(' ')?;
    let decision = rest.strip_prefix("QD ")?;
    Some((month.parse().ok()?, decision.trim().to_lowercase()))
}

/// The ledger as the banks saw it: each instruction (one end-to-end id) they answered ACCC,
/// however many times the answer was delivered.
async fn bank_ledger(brokers: &str, banks: &[String]) -> anyhow::Result<Ledger> {
    let mut instructions: BTreeMap<String, TransferInstruction> = BTreeMap::new();
    for bank in banks {
        for record in read_all(brokers, &topics::bank_transfers(bank)).await? {
            let instruction = TransferInstruction::decode(record.payload().unwrap_or_default())?;
            instructions.insert(instruction.end_to_end_id.clone(), instruction);
        }
    }
    let mut credited = BTreeSet::new();
    for record in read_all(brokers, topics::BANK_RESULTS).await? {
        let result = BankResult::decode(record.payload().unwrap_or_default())?;
        if result.status() == TransactionStatus::Accc {
            credited.insert(result.end_to_end_id);
        }
    }
    let mut ledger = Ledger::new();
    for end_to_end_id in credited {
        let instruction = instructions
            .get(&end_to_end_id)
            .ok_or_else(|| anyhow::anyhow!("credit {end_to_end_id} without an instruction"))?;
        let (month, decision_id) =
            remittance(&instruction.remittance_information).ok_or_else(|| {
                anyhow::anyhow!("remittance {:?}", instruction.remittance_information)
            })?;
        add(
            &mut ledger,
            &decision_id,
            month,
            instruction.amount_dong,
            instruction.creditor_account.clone(),
        );
    }
    Ok(ledger)
}

/// The ledger as transfer recorded it: its credited transfers (the number is sealed; its last
/// four digits are kept in clear), and its payments not settled.
async fn transfer_ledger(stack: &Stack) -> anyhow::Result<(Ledger, Vec<String>)> {
    let mut connection = sqlx::PgConnection::connect(&stack.admin_url()).await?;
    let rows = sqlx::query(
        "SELECT p.decision_id, p.benefit_month, t.amount_dong, t.destination_last4 \
         FROM transfer.payments p JOIN transfer.transfers t USING (entitlement_id) \
         WHERE t.state = 'paid'",
    )
    .fetch_all(&mut connection)
    .await?;
    let mut ledger = Ledger::new();
    for row in rows {
        let decision_id: String = row.try_get(0)?;
        let month: i32 = row.try_get(1)?;
        add(
            &mut ledger,
            &decision_id,
            u32::try_from(month)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
    }
    let unsettled = sqlx::query(
        "SELECT decision_id, benefit_month, state, reason_code FROM transfer.payments \
         WHERE state <> 'paid'",
    )
    .fetch_all(&mut connection)
    .await?
    .into_iter()
    .map(|row| {
        format!(
            "decision {} month {}: {} {}",
            row.get::<String, _>(0),
            row.get::<i32, _>(1),
            row.get::<String, _>(2),
            row.get::<String, _>(3)
        )
    })
    .collect();
    connection.close().await?;
    Ok((ledger, unsettled))
}

/// Lines of difference between an expected and an actual ledger.
fn differences(expected: &Ledger, actual: &Ledger, last4: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let keys: BTreeSet<&(String, u32)> = expected.keys().chain(actual.keys()).collect();
    for key in keys {
        let want = expected.get(key).map(|paid| {
            let mut paid = paid.clone();
            if last4 {
                paid.accounts = paid
                    .accounts
                    .iter()
                    .map(|number| number[number.len().saturating_sub(4)..].to_owned())
                    .collect();
            }
            paid
        });
        let got = actual.get(key).cloned();
        if want != got {
            lines.push(format!(
                "decision {} month {}: expected {want:?}, got {got:?}",
                key.0, key.1
            ));
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// The kiosk.
// ---------------------------------------------------------------------------------------------

/// Scans `token` until checkin answers, retrying a failed call with the same code as a kiosk
/// does; returns the answer and how many calls failed first.
async fn scan_until_answered(
    channel: Channel,
    kiosk: &str,
    token: &str,
) -> anyhow::Result<(ScanResponse, u32)> {
    let mut checkin = CheckinServiceClient::new(channel);
    let deadline = Instant::now() + RECOVER;
    let mut failed = 0;
    loop {
        let mut request = tonic::Request::new(ScanRequest {
            scanned_text: token.into(),
            kiosk_id: String::new(),
        });
        request
            .metadata_mut()
            .insert(checkin::KIOSK_CREDENTIAL_HEADER, kiosk.parse()?);
        match checkin.scan(request).await {
            Ok(answer) => return Ok((answer.into_inner(), failed)),
            Err(status) => {
                failed += 1;
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "a scan found no answer within {RECOVER:?} ({failed} calls): {status}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One eligible person of the scenario.
struct Beneficiary {
    benefit: Benefit,
    decision_id: String,
    account: String,
    token: String,
    /// Whether the person comes to month 1's check-in.
    scans: bool,
}

// ---------------------------------------------------------------------------------------------
// The month.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_paid_through_crashes_restarts_and_duplicates_pays_everyone_once()
-> anyhow::Result<()> {
    let people = setting("FAULT_PEOPLE").unwrap_or(40);
    let fault_seed = setting("FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0)
    });
    eprintln!("fault suite: FAULT_PEOPLE={people} FAULT_SEED={fault_seed}");

    let spec = Spec {
        duplicate_share: 0.0,
        // Wrong accounts and their corrections are the month test's; here every refusal
        // would be a fault the suite did not cause.
        wrong_account_share: 0.0,
        ..Spec::new(people, SEED, day(INTAKE))
            .in_province(CITIZEN_PROVINCE)
            .expect("Hà Nội's code")
    };
    let population: Vec<Person> = population::generate(&spec).collect();
    let banks: Vec<String> = population
        .iter()
        .map(|person| person.bank.bank_id.to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let started = Instant::now();
    let stack = Stack::start(&banks, SEED).await?;
    eprintln!(
        "{:>6.1} s  stack up in {}",
        started.elapsed().as_secs_f64(),
        stack.dir.display()
    );
    let result = run(&stack, &population, &banks, fault_seed, started).await;
    match result {
        Ok(()) => {
            *stack.passed.lock().unwrap() = true;
            eprintln!(
                "{:>6.1} s  passed (FAULT_SEED={fault_seed})",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(error) => {
            eprintln!(
                "fault suite failed with FAULT_SEED={fault_seed}:{}",
                stack.logs()
            );
            Err(error)
        }
    }
}

async fn run(
    stack: &Arc<Stack>,
    population: &[Person],
    banks: &[String],
    fault_seed: u64,
    started: Instant,
) -> anyhow::Result<()> {
    let progress = |step: &str| eprintln!("{:>6.1} s  {step}", started.elapsed().as_secs_f64());
    let mut rng = ChaCha8Rng::seed_from_u64(fault_seed);
    stack.set_time(nine_am(day(INTAKE))).await?;
    let mut eligibility = EligibilityServiceClient::new(stack.channel("eligibility")?);
    let mut checkin = CheckinServiceClient::new(stack.channel("checkin")?);

    // Arrange, with nothing broken yet: histories imported, claims filed and approved,
    // notices printed, a kiosk registered.
    let import = eligibility
        .import_contributions(futures::stream::iter(vec![
            ImportContributionsRequest {
                part: Some(Part::Header(ImportHeader {
                    source_name: "province-01.csv".into(),
                    has_header_row: false,
                    officer: registrar(),
                })),
            },
            ImportContributionsRequest {
                part: Some(Part::CsvChunk(
                    population::contributions_csv(population)?.into_bytes(),
                )),
            },
        ]))
        .await?
        .into_inner();
    anyhow::ensure!(import.rows_rejected == 0, "{:?}", import.bad_rows);
    let mut claims = Vec::new();
    for person in population {
        let claim = intake::register(
            &mut eligibility,
            person,
            intake::Filing {
                on: day(INTAKE),
                province: PROVINCE,
                centre_id: "centre-hn-1",
                officer: registrar(),
            },
        )
        .await?;
        let expected = benefit_of(person);
        anyhow::ensure!(
            (claim.status() == ClaimStatus::AwaitingApproval) == expected.is_some(),
            "claim of {} assessed {:?}, the law gives {expected:?}",
            person.citizen_id,
            claim.status()
        );
        if let Some(benefit) = expected {
            claims.push((benefit, claim.claim_id, person));
        }
    }
    progress(&format!(
        "{} claims filed, {} eligible",
        population.len(),
        claims.len()
    ));

    stack.set_time(nine_am(day(APPROVAL))).await?;
    let mut beneficiaries = Vec::new();
    for (at, (benefit, claim_id, person)) in claims.into_iter().enumerate() {
        let decision = eligibility
            .approve_claim(ApproveClaimRequest {
                claim_id,
                decision_number: String::new(),
                handover_date: date(HANDOVER.0, HANDOVER.1 as i32, HANDOVER.2 as i32),
                officer: officer("labour-officer-1", Agency::LabourDepartment),
            })
            .await?
            .into_inner()
            .decision
            .expect("the decision");
        let window = decision
            .months_status
            .first()
            .and_then(|month| month.window)
            .and_then(|window| window.opens_on)
            .expect("month 1's window");
        beneficiaries.push((
            Beneficiary {
                benefit,
                decision_id: decision.decision_id,
                account: person.bank.number.clone(),
                token: String::new(),
                // Every seventh stays away from month 1's check-in and must not be paid.
                scans: at % 7 != 3,
            },
            NaiveDate::from_ymd_opt(window.year, window.month as u32, window.day as u32)
                .expect("a date"),
        ));
    }
    let opens_on = beneficiaries
        .iter()
        .map(|(_, opens)| *opens)
        .max()
        .ok_or_else(|| anyhow::anyhow!("nobody is eligible"))?;
    let mut beneficiaries: Vec<Beneficiary> = beneficiaries.into_iter().map(|(b, _)| b).collect();
    let printing = beneficiaries.iter().map(|beneficiary| {
        let checkin = checkin.clone();
        let request = GetNoticeRequest {
            decision_id: beneficiary.decision_id.clone(),
            format: NoticeFormat::Pdf as i32,
            officer: registrar(),
        };
        async move {
            let code = Arc::new(Mutex::new(String::new()));
            until("a notice is issued", SETTLE, || {
                let mut checkin = checkin.clone();
                let request = request.clone();
                let code = code.clone();
                async move {
                    let notice = checkin.get_notice(request).await?.into_inner();
                    *code.lock().unwrap() = notice.short_code;
                    Ok(true)
                }
            })
            .await?;
            let code = code.lock().unwrap().clone();
            anyhow::Ok(code)
        }
    });
    let tokens: Vec<anyhow::Result<String>> =
        futures::stream::iter(printing).buffered(4).collect().await;
    for (beneficiary, token) in beneficiaries.iter_mut().zip(tokens) {
        beneficiary.token = token?;
    }
    let kiosk = checkin
        .register_kiosk(RegisterKioskRequest {
            centre_id: "centre-hn-1".into(),
            province: PROVINCE.into(),
            label: "Quầy 1, tầng 1".into(),
            officer: registrar(),
        })
        .await?
        .into_inner()
        .credential;
    progress("notices printed, kiosk registered");

    // Act, phase 1: the check-ins, while checkin, payroll and eligibility are killed and
    // PostgreSQL crashes, each at a seeded moment among the scans.
    stack.set_time(nine_am(opens_on)).await?;
    let scanners: Vec<&Beneficiary> = beneficiaries.iter().filter(|b| b.scans).collect();
    let count = scanners.len();
    anyhow::ensure!(
        count >= 4,
        "too few people check in for the faults to land among them"
    );
    let mut phase_one: BTreeMap<usize, Vec<Fault>> = BTreeMap::new();
    for fault in [
        Fault::Kill("checkin"),
        Fault::Kill("payroll"),
        Fault::Kill("eligibility"),
        Fault::RestartPostgres,
    ] {
        phase_one
            .entry(rng.gen_range(1..count))
            .or_default()
            .push(fault);
    }
    eprintln!("phase 1 faults, by scan: {phase_one:?}");
    let mut running = Vec::new();
    let mut retried = 0;
    let mut answers = Vec::new();
    let checkin_channel = stack.channel("checkin")?;
    for (at, beneficiary) in scanners.iter().enumerate() {
        for fault in phase_one.remove(&at).unwrap_or_default() {
            let pause = Duration::from_millis(rng.gen_range(200..2000));
            running.push(fault.inject(stack.clone(), pause));
        }
        let (answer, failed) =
            scan_until_answered(checkin_channel.clone(), &kiosk, &beneficiary.token).await?;
        retried += u32::from(failed > 0);
        answers.push((beneficiary.decision_id.clone(), answer));
    }
    for fault in running {
        fault.await??;
    }
    progress(&format!(
        "{count} check-ins answered, {retried} after a failed call"
    ));
    // A retried scan answers "already recorded" when its first call was recorded before
    // the reply was lost; either way the month is recorded once.
    let unrecorded: Vec<String> = answers
        .iter()
        .filter(|(_, answer)| {
            !(matches!(
                answer.outcome(),
                ScanOutcome::Accepted | ScanOutcome::AlreadyRecorded
            ) && answer.benefit_month == MONTH)
        })
        .map(|(decision_id, answer)| format!("{decision_id}: {answer:?}"))
        .collect();
    anyhow::ensure!(
        unrecorded.is_empty(),
        "scans not recorded:\n{}",
        unrecorded.join("\n")
    );

    // Every scan delivered a second time while payroll still has to cut.
    let brokers = stack.brokers();
    let copies = duplicate(&brokers, topics::CHECKIN_SCANS).await?;
    progress(&format!("{copies} check-in records delivered again"));
    let payroll_channel = stack.channel("payroll")?;
    let entitled = until("every check-in reaches payroll once", RECOVER, || {
        let mut payroll = PayrollServiceClient::new(payroll_channel.clone());
        async move {
            let entitlements: u64 = statistics(&mut payroll)
                .await?
                .iter()
                .map(|row| row.entitlements)
                .sum();
            anyhow::ensure!(
                entitlements <= count as u64,
                "payroll holds {entitlements} entitlements for {count} check-ins"
            );
            Ok(entitlements == count as u64)
        }
    })
    .await;
    if let Err(error) = entitled {
        let at = positions(&brokers, &[("payroll", topics::CHECKIN_SCANS)]).await;
        return Err(error.context(format!("{count} check-ins; {at}")));
    }
    until("payroll applied the repeated check-ins", RECOVER, || {
        caught_up(&brokers, "payroll", topics::CHECKIN_SCANS)
    })
    .await?;

    // Phase 2: the cut, the lists, the instructions and the banks' answers, while transfer
    // and the bank simulator are killed and the broker restarts, at seeded moments.
    stack.advance(CUT_INTERVAL * 2).await?;
    // The broker restarts first; transfer and the bank simulator die once it is back, so
    // each fault meets a broker that keeps time for the consumer groups.
    let broker_after = Duration::from_millis(rng.gen_range(0..1500));
    let broker_pause = Duration::from_millis(rng.gen_range(200..2000));
    let kills: Vec<(Fault, Duration, Duration)> =
        [Fault::Kill("transfer"), Fault::Kill("bank-simulator")]
            .into_iter()
            .map(|fault| {
                (
                    fault,
                    Duration::from_millis(rng.gen_range(0..2500)),
                    Duration::from_millis(rng.gen_range(200..2000)),
                )
            })
            .collect();
    let phase_two = format!(
        "RestartBroker after {broker_after:?}, down {broker_pause:?}, then {kills:?} (after, down)"
    );
    let running = {
        let stack = stack.clone();
        tokio::spawn(async move {
            tokio::time::sleep(broker_after).await;
            Fault::RestartBroker
                .inject(stack.clone(), broker_pause)
                .await??;
            let mut killed = Vec::new();
            for (fault, after, pause) in kills {
                let stack = stack.clone();
                killed.push(tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    fault.inject(stack, pause).await?
                }));
            }
            for kill in killed {
                kill.await??;
            }
            anyhow::Ok(())
        })
    };
    eprintln!("phase 2 faults: {phase_two:?}");
    let expected: Ledger = beneficiaries
        .iter()
        .filter(|beneficiary| beneficiary.scans)
        .map(|beneficiary| {
            (
                (beneficiary.decision_id.to_lowercase(), MONTH),
                Paid {
                    amount: beneficiary.benefit.monthly_amount,
                    accounts: BTreeSet::from([beneficiary.account.clone()]),
                    transfers: 1,
                },
            )
        })
        .collect();
    let expected_total: i64 = expected.values().map(|paid| paid.amount).sum();
    let transfer_channel = stack.channel("transfer")?;
    let advanced = Arc::new(Mutex::new(Instant::now()));
    let credited = until("every check-in is credited", RECOVER, || {
        let mut transfer = TransferServiceClient::new(transfer_channel.clone());
        let stack = stack.clone();
        let advanced = advanced.clone();
        async move {
            // Time passes at the centre: payroll cuts again for anything a crash delayed.
            let due = {
                let mut advanced = advanced.lock().unwrap();
                let due = advanced.elapsed() > Duration::from_secs(3);
                if due {
                    *advanced = Instant::now();
                }
                due
            };
            if due {
                stack.advance(CUT_INTERVAL).await?;
            }
            let rows = transfer
                .get_reconciliation(GetReconciliationRequest::default())
                .await?
                .into_inner()
                .rows;
            let credited: u64 = rows.iter().map(|row| row.credited_count).sum();
            Ok(credited >= count as u64)
        }
    })
    .await;
    running.await??;
    credited?;
    progress("every check-in credited");

    // Phase 3: every list, bank answer and transfer outcome delivered a second time.
    for topic in [
        topics::PAYMENT_LISTS,
        topics::BANK_RESULTS,
        topics::TRANSFER_OUTCOMES,
    ] {
        let copies = duplicate(&brokers, topic).await?;
        progress(&format!("{copies} records of {topic} delivered again"));
    }
    stack.advance(CUT_INTERVAL * 2).await?;
    let mut consumed: Vec<(&str, String)> = [
        ("payroll", topics::CHECKIN_SCANS),
        ("payroll", topics::TRANSFER_OUTCOMES),
        ("transfer", topics::PAYMENT_LISTS),
        ("transfer", topics::BANK_RESULTS),
        ("eligibility", topics::TRANSFER_OUTCOMES),
    ]
    .iter()
    .map(|(group, topic)| (*group, (*topic).to_owned()))
    .collect();
    consumed.extend(
        banks
            .iter()
            .map(|bank| ("bank-simulator", topics::bank_transfers(bank))),
    );
    for (group, topic) in &consumed {
        let applied = until(&format!("{group} catches up on {topic}"), SETTLE, || {
            caught_up(&brokers, group, topic)
        })
        .await;
        if let Err(error) = applied {
            let at = positions(&brokers, &[(group, topic)]).await;
            return Err(error.context(at));
        }
    }
    // Anything a duplicate set off would be on its way by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    progress("duplicates applied");

    // Assert: the banks credited each check-in once, at its amount, to the person's account,
    // and nothing else; transfer's books say the same.
    let banks_saw = bank_ledger(&brokers, banks).await?;
    let wrong = differences(&expected, &banks_saw, false);
    anyhow::ensure!(
        wrong.is_empty(),
        "the banks' ledger differs from the scenario's ({} lines):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let (recorded, unsettled) = transfer_ledger(stack).await?;
    let wrong = differences(&expected, &recorded, true);
    anyhow::ensure!(
        wrong.is_empty(),
        "transfer's ledger differs from the scenario's ({} lines):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    anyhow::ensure!(
        unsettled.is_empty(),
        "payments not settled:\n{}",
        unsettled.join("\n")
    );

    // Reconciliation, to the đồng, with nothing in flight.
    let rows = TransferServiceClient::new(transfer_channel.clone())
        .get_reconciliation(GetReconciliationRequest::default())
        .await?
        .into_inner()
        .rows;
    let sum = |figure: fn(&contracts::transfer::v1::ReconciliationRow) -> i64| -> i64 {
        rows.iter().map(figure).sum()
    };
    anyhow::ensure!(
        sum(|row| row.approved_dong) == expected_total,
        "approved: {rows:?}"
    );
    anyhow::ensure!(
        sum(|row| row.credited_dong) == expected_total,
        "credited: {rows:?}"
    );
    anyhow::ensure!(
        sum(|row| row.in_flight_dong) == 0
            && sum(|row| row.parked_dong) == 0
            && sum(|row| row.failed_dong) == 0,
        "not settled: {rows:?}"
    );
    anyhow::ensure!(
        rows.iter().all(|row| row.difference_dong == 0),
        "differences: {rows:?}"
    );
    anyhow::ensure!(
        rows.iter().map(|row| row.credited_count).sum::<u64>() == count as u64,
        "credited count: {rows:?}"
    );

    // Payroll: one entitlement per check-in, each paid once.
    let statistics = statistics(&mut PayrollServiceClient::new(payroll_channel)).await?;
    let total = |figure: fn(&contracts::payroll::v1::ProvinceMonthStatistics) -> i64| -> i64 {
        statistics.iter().map(figure).sum()
    };
    anyhow::ensure!(
        total(|row| row.entitlements as i64) == count as i64
            && total(|row| row.beneficiaries_checked_in as i64) == count as i64,
        "payroll's check-ins: {statistics:?}"
    );
    anyhow::ensure!(
        total(|row| row.paid_dong) == expected_total
            && total(|row| row.approved_dong) == expected_total,
        "payroll's paid and approved đồng, expected {expected_total}: {statistics:?}"
    );

    // Nothing was dead-lettered: every record, the repeated ones too, was applied or
    // recognised as already applied.
    let mut dead = Vec::new();
    let mut watched: Vec<String> = [
        topics::DECISIONS,
        topics::CHECKIN_SCANS,
        topics::PAYMENT_LISTS,
        topics::BANK_RESULTS,
        topics::TRANSFER_OUTCOMES,
    ]
    .iter()
    .map(|topic| (*topic).to_owned())
    .collect();
    watched.extend(banks.iter().map(|bank| topics::bank_transfers(bank)));
    for topic in watched {
        for record in read_all(&brokers, &messaging::dead_letter_topic(&topic)).await? {
            let reason = record.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|header| header.key == "dlq-reason")
                    .and_then(|header| header.value)
                    .map(|value| String::from_utf8_lossy(value).into_owned())
            });
            dead.push(format!("{topic}: {reason:?}"));
        }
    }
    anyhow::ensure!(dead.is_empty(), "dead letters:\n{}", dead.join("\n"));
    progress(&format!(
        "{count} payments, {expected_total} đồng, each credited once"
    ));
    Ok(())
}

/// One thing the suite breaks.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL of a service, a pause, and a fresh start.
    Kill(&'static str),
    /// PostgreSQL stopped in immediate mode and started again.
    RestartPostgres,
    /// The broker killed and started again on its storage.
    RestartBroker,
}

impl Fault {
    /// Starts the fault in the background; the handle ends when the system is whole again.
    fn inject(
        self,
        stack: Arc<Stack>,
        pause: Duration,
    ) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        tokio::spawn(async move {
            let at = Instant::now();
            match self {
                Fault::Kill(name) => stack.kill_and_restart(name, pause).await?,
                Fault::RestartPostgres => {
                    let stack = stack.clone();
                    tokio::task::spawn_blocking(move || stack.restart_postgres()).await??;
                }
                Fault::RestartBroker => stack.restart_broker(pause).await?,
            }
            eprintln!("  {self:?}: whole again after {:?}", at.elapsed());
            Ok(())
        })
    }
}
