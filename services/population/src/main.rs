//! `population --people N --seed S --reference-date YYYY-MM-DD --out DIR`: writes a synthetic
//! population as CSV.

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, bail};
use chrono::NaiveDate;

fn main() -> anyhow::Result<()> {
    let mut people: u64 = 1_000;
    let mut seed: u64 = 1;
    let mut reference_date = NaiveDate::from_ymd_opt(2026, 3, 15).context("reference date")?;
    let mut out = PathBuf::from("population");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--people" => people = value.parse().context("--people")?,
            "--seed" => seed = value.parse().context("--seed")?,
            "--reference-date" => reference_date = value.parse().context("--reference-date")?,
            "--out" => out = PathBuf::from(value),
            other => bail!(
                "unknown flag {other}; usage: population [--people N] [--seed S] \
                 [--reference-date YYYY-MM-DD] [--out DIR]"
            ),
        }
    }
    let started = Instant::now();
    let spec = population::Spec::new(people, seed, reference_date);
    let written = population::write_csv(population::generate(&spec), &out)?;
    eprintln!(
        "wrote {written} people to {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
