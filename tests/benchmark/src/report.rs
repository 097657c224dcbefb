//! The figures of a run, as text for people and JSON for the results file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::memory::Memory;
use crate::observe::{STAGES, Stage};

/// Targets of a 1,000,000-payment month on two cores.
const TARGET_PER_SECOND: f64 = 5_000.0;
const TARGET_SCAN_TO_INSTRUCTION_P95_MS: i64 = 2_000;
const TARGET_RSS_KIB: u64 = 150 * 1024;

/// Percentiles of a latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// How many measured.
    pub count: usize,
    /// Median.
    pub p50: i64,
    /// 95th percentile.
    pub p95: i64,
    /// 99th percentile.
    pub p99: i64,
    /// Largest.
    pub max: i64,
}

impl Percentiles {
    /// Percentiles of `values` (sorted here), nearest-rank.
    pub fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let at = |share: f64| -> i64 {
            if values.is_empty() {
                return 0;
            }
            let rank = ((share * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[rank - 1]
        };
        Self {
            count: values.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: values.last().copied().unwrap_or_default(),
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Payments asked for.
    pub payments: u64,
    /// People generated to find that many eligible.
    pub people: u64,
    /// Seconds the setup took (import, claims, decisions, notices).
    pub setup_seconds: f64,
    /// Scans answered "accepted".
    pub accepted: u64,
    /// Other scan answers, by outcome.
    pub other_answers: BTreeMap<String, u64>,
    /// Seconds from the first scan until the last scan was answered.
    pub scan_seconds: f64,
    /// Scan latency at the kiosk API.
    pub scan_latency: Percentiles,
    /// Seconds from the first scan until every payment was credited and reconciliation was exact.
    pub month_seconds: f64,
    /// Whether every payment was credited and reconciliation came out exact.
    pub complete: bool,
    /// What reconciliation said at the end.
    pub reconciliation: String,
    /// Each stage's records, with the month's start in milliseconds since the epoch.
    pub stages: BTreeMap<&'static str, Stage>,
    /// Milliseconds since the epoch when the month started.
    pub started_ms: i64,
    /// Scan answered → line in a signed list.
    pub scan_to_list: Percentiles,
    /// Scan answered → instruction on the bank's topic.
    pub scan_to_instruction: Percentiles,
    /// Scan answered → credit recorded by transfer.
    pub scan_to_credit: Percentiles,
    /// Outcomes other than credited.
    pub not_credited: u64,
    /// Memory of each process.
    pub memory: BTreeMap<&'static str, Memory>,
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Report {
    /// End-to-end payments per second over the month.
    pub fn payments_per_second(&self) -> f64 {
        per_second(self.accepted, self.month_seconds)
    }

    /// The report as people read it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n== A benefit month: {} payments ({} people generated; setup {:.0} s) ==",
            self.payments, self.people, self.setup_seconds
        );
        let _ = writeln!(
            out,
            "scans at the kiosk API: {} accepted{} in {:.1} s = {:.0}/s; latency ms p50 {} p95 {} p99 {}",
            self.accepted,
            self.other_answers
                .iter()
                .map(|(outcome, count)| format!(", {count} {outcome}"))
                .collect::<String>(),
            self.scan_seconds,
            per_second(self.accepted, self.scan_seconds),
            self.scan_latency.p50,
            self.scan_latency.p95,
            self.scan_latency.p99
        );
        let _ = writeln!(
            out,
            "\nstage                      records   first (s)  last (s)   per second   republished   second events"
        );
        for name in STAGES {
            let stage = self.stages.get(name).copied().unwrap_or_default();
            let first = (stage.first_ms - self.started_ms) as f64 / 1000.0;
            let last = (stage.last_ms - self.started_ms) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{name:<24} {:>10} {:>10.1} {:>9.1} {:>12.0} {:>13} {:>15}",
                stage.count,
                first,
                last,
                per_second(stage.count, last - first),
                stage.republished,
                stage.second_events
            );
        }
        let _ = writeln!(
            out,
            "\nend to end: {} payments credited and reconciled in {:.1} s = {:.0} payments/s \
             (target ≥ {TARGET_PER_SECOND:.0}/s, 1,000,000 in ≤ 200 s: {})",
            self.accepted,
            self.month_seconds,
            self.payments_per_second(),
            met(self.complete && self.payments_per_second() >= TARGET_PER_SECOND)
        );
        for (label, latency) in [
            ("scan → signed list", self.scan_to_list),
            ("scan → bank instruction", self.scan_to_instruction),
            ("scan → credit", self.scan_to_credit),
        ] {
            let _ = writeln!(
                out,
                "{label:<24} ms p50 {:>7} p95 {:>7} p99 {:>7} max {:>7} ({} payments)",
                latency.p50, latency.p95, latency.p99, latency.max, latency.count
            );
        }
        let _ = writeln!(
            out,
            "scan → instruction p95 target ≤ {TARGET_SCAN_TO_INSTRUCTION_P95_MS} ms: {}",
            met(self.scan_to_instruction.count > 0
                && self.scan_to_instruction.p95 <= TARGET_SCAN_TO_INSTRUCTION_P95_MS)
        );
        let _ = writeln!(
            out,
            "\nmemory (MiB)       peak RSS in the month   high-water mark since start"
        );
        for (name, memory) in &self.memory {
            let _ = writeln!(
                out,
                "{name:<18} {:>21.1} {:>29.1}",
                memory.peak_rss_kib as f64 / 1024.0,
                memory.high_water_kib as f64 / 1024.0
            );
        }
        let _ = writeln!(
            out,
            "each service ≤ 150 MB RSS in the month: {}",
            met(!self.memory.is_empty()
                && self
                    .memory
                    .values()
                    .all(|memory| memory.peak_rss_kib <= TARGET_RSS_KIB))
        );
        let _ = writeln!(
            out,
            "\nreconciliation: {}{}",
            self.reconciliation,
            if self.not_credited > 0 {
                format!(
                    "; {} outcomes other than credited (parked or failed)",
                    self.not_credited
                )
            } else {
                String::new()
            }
        );
        if !self.complete {
            let _ = writeln!(out, "THE MONTH DID NOT COMPLETE: see above what is missing");
        }
        out
    }

    /// The report as the results file holds it.
    pub fn json(&self) -> serde_json::Value {
        let latency = |p: Percentiles| json!({"count": p.count, "p50_ms": p.p50, "p95_ms": p.p95, "p99_ms": p.p99, "max_ms": p.max});
        let stages: Vec<_> = STAGES
            .iter()
            .map(|name| {
                let stage = self.stages.get(name).copied().unwrap_or_default();
                let seconds = (stage.last_ms - stage.first_ms) as f64 / 1000.0;
                json!({
                    "stage": name,
                    "records": stage.count,
                    "first_s": (stage.first_ms - self.started_ms) as f64 / 1000.0,
                    "last_s": (stage.last_ms - self.started_ms) as f64 / 1000.0,
                    "per_second": per_second(stage.count, seconds),
                    "republished": stage.republished,
                    "second_events": stage.second_events,
                })
            })
            .collect();
        let memory: serde_json::Map<String, serde_json::Value> = self
            .memory
            .iter()
            .map(|(name, memory)| {
                (
                    (*name).to_owned(),
                    json!({"peak_rss_mib": memory.peak_rss_kib as f64 / 1024.0,
                           "high_water_mib": memory.high_water_kib as f64 / 1024.0}),
                )
            })
            .collect();
        json!({
            "payments": self.payments,
            "people_generated": self.people,
            "setup_seconds": self.setup_seconds,
            "complete": self.complete,
            "accepted_scans": self.accepted,
            "other_scan_answers": self.other_answers,
            "scan_seconds": self.scan_seconds,
            "scans_per_second": per_second(self.accepted, self.scan_seconds),
            "scan_latency": latency(self.scan_latency),
            "month_seconds": self.month_seconds,
            "payments_per_second": self.payments_per_second(),
            "stages": stages,
            "scan_to_list": latency(self.scan_to_list),
            "scan_to_instruction": latency(self.scan_to_instruction),
            "scan_to_credit": latency(self.scan_to_credit),
            "memory": memory,
            "reconciliation": self.reconciliation,
            "not_credited": self.not_credited,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Percentiles::of((1..=100).rev().collect());
        assert_eq!(
            (
                latency.count,
                latency.p50,
                latency.p95,
                latency.p99,
                latency.max
            ),
            (100, 50, 95, 99, 100)
        );
        assert_eq!(Percentiles::of(vec![7]).p99, 7);
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }
}
