//! Metrics owed by a handler's transaction.

/// Metrics owed for changes made in a transaction, moved once the caller knows the changes
/// stand: a batch that rolls back, and is retried or applied again message by message, must
/// not count its effects twice.
#[derive(Default)]
pub struct Tally {
    counts: Vec<Box<dyn FnOnce() + Send>>,
}

impl Tally {
    /// Owes `count`, to run on [`Tally::settle`].
    pub fn owe(&mut self, count: impl FnOnce() + Send + 'static) {
        self.counts.push(Box::new(count));
    }

    /// Moves every owed metric.
    pub fn settle(self) {
        for count in self.counts {
            count();
        }
    }
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("owed", &self.counts.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn owed_metrics_move_on_settle_and_a_dropped_tally_moves_none() {
        let moved = Arc::new(AtomicU32::new(0));
        let mut dropped = Tally::default();
        let counter = moved.clone();
        dropped.owe(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        drop(dropped);
        assert_eq!(moved.load(Ordering::Relaxed), 0);

        let mut settled = Tally::default();
        for _ in 0..2 {
            let counter = moved.clone();
            settled.owe(move || {
                counter.fetch_add(1, Ordering::Relaxed);
            });
        }
        settled.settle();
        assert_eq!(moved.load(Ordering::Relaxed), 2);
    }
}
