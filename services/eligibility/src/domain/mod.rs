//! Pure rules of unemployment-benefit eligibility: no I/O, every rate read from a dated book.

pub mod amount;
pub mod bank;
pub mod bookkeeping;
pub mod calendar;
pub mod claim;
pub mod contributions;
pub mod duplicates;
pub mod duration;
pub mod ids;
pub mod money;
pub mod month;
pub mod period;
pub mod rates;
pub mod reemployment;
