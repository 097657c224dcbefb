//! Resident memory of the services, sampled from `/proc` while the month runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The processes of the local stack, by the names of their pid files.
pub const PROCESSES: [&str; 5] = [
    "eligibility",
    "checkin",
    "payroll",
    "transfer",
    "bank-simulator",
];

/// Memory of one process, in kibibytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Highest resident set seen while sampling (the month).
    pub peak_rss_kib: u64,
    /// The kernel's high-water mark since the process started (includes the setup).
    pub high_water_kib: u64,
}

/// Samples every process's resident set until stopped.
pub struct Sampler {
    pids: BTreeMap<&'static str, u32>,
    peaks: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    stop: Arc<AtomicBool>,
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Sampler {
    /// Reads the pid files in `run_dir` and starts sampling every 250 ms.
    pub fn start(run_dir: &Path) -> Self {
        let pids: BTreeMap<&'static str, u32> = PROCESSES
            .iter()
            .filter_map(|name| {
                let pid = std::fs::read_to_string(run_dir.join(format!("{name}.pid"))).ok()?;
                Some((*name, pid.trim().parse().ok()?))
            })
            .collect();
        let peaks = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (watched, seen, stopped) = (pids.clone(), peaks.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                for (name, pid) in &watched {
                    if let Some(rss) = status_kib(*pid, "VmRSS:") {
                        let mut peaks = seen.lock().unwrap_or_else(PoisonError::into_inner);
                        let peak = peaks.entry(*name).or_insert(0);
                        *peak = (*peak).max(rss);
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Self { pids, peaks, stop }
    }

    /// Stops sampling; what each process used.
    pub fn finish(self) -> BTreeMap<&'static str, Memory> {
        self.stop.store(true, Ordering::Relaxed);
        let peaks = self.peaks.lock().unwrap_or_else(PoisonError::into_inner);
        self.pids
            .iter()
            .map(|(name, pid)| {
                (
                    *name,
                    Memory {
                        peak_rss_kib: peaks.get(name).copied().unwrap_or_default(),
                        high_water_kib: status_kib(*pid, "VmHWM:").unwrap_or_default(),
                    },
                )
            })
            .collect()
    }
}
