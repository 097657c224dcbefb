//! Pure rules of the check-in: notice tokens and their keys, check-in windows, and the answer
//! a kiosk shows. No I/O.

pub mod answer;
pub mod ids;
pub mod token;
pub mod window;
