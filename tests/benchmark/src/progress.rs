//! Progress bars on standard error, redrawn every half second.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One or more counters drawn as bars on one line.
#[derive(Clone)]
pub struct Progress {
    bars: Arc<Vec<Bar>>,
    done: Arc<AtomicBool>,
}

struct Bar {
    label: String,
    total: u64,
    count: AtomicU64,
}

const WIDTH: u64 = 20;

impl Progress {
    /// One bar counting up to `total`.
    pub fn start(label: &str, total: u64) -> Self {
        Self::many(&[(label, total)])
    }

    /// Several bars on one line, counted with [`Progress::set_bar`].
    pub fn many(bars: &[(&str, u64)]) -> Self {
        let progress = Self {
            bars: Arc::new(
                bars.iter()
                    .map(|(label, total)| Bar {
                        label: (*label).to_owned(),
                        total: (*total).max(1),
                        count: AtomicU64::new(0),
                    })
                    .collect(),
            ),
            done: Arc::new(AtomicBool::new(false)),
        };
        let drawing = progress.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            while !drawing.done.load(Ordering::Relaxed) {
                drawing.draw(started, false);
                std::thread::sleep(Duration::from_millis(500));
            }
            drawing.draw(started, true);
        });
        progress
    }

    /// Sets the first bar's count.
    pub fn set(&self, count: u64) {
        self.set_bar(0, count);
    }

    /// Sets bar `index`'s count.
    pub fn set_bar(&self, index: usize, count: u64) {
        if let Some(bar) = self.bars.get(index) {
            bar.count.store(count, Ordering::Relaxed);
        }
    }

    /// Draws the final state and stops redrawing.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
        // The drawing thread prints the last line within one redraw interval.
        std::thread::sleep(Duration::from_millis(600));
    }

    fn draw(&self, started: Instant, last: bool) {
        let line: Vec<String> = self
            .bars
            .iter()
            .map(|bar| {
                let count = bar.count.load(Ordering::Relaxed).min(bar.total);
                let filled = count * WIDTH / bar.total;
                format!(
                    "{} [{}{}] {}/{}",
                    bar.label,
                    "#".repeat(usize::try_from(filled).unwrap_or_default()),
                    "-".repeat(usize::try_from(WIDTH - filled).unwrap_or_default()),
                    count,
                    bar.total
                )
            })
            .collect();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r{:>7.1} s  {}{}",
            started.elapsed().as_secs_f64(),
            line.join("  "),
            if last { "\n" } else { "" }
        );
        let _ = stderr.flush();
    }
}
