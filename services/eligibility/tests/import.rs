//! Bulk import of contribution history over a client stream: good rows load, bad rows come
//! back with their line number and reason, and a file sent twice loads once.

mod support;

use support::{Harness, months_csv, morning_of};

#[tokio::test]
async fn bad_rows_are_reported_by_line_while_good_rows_load() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let mut csv = months_csv("0101234567", "EMP-1", (2026, 2), 3, 9_000_000, 2);
    csv.push_str("0101234567,,EMP-1,2026-03,9000000.5,indefinite,2\n");
    csv.push_str("12345,,EMP-1,2026-03,9000000,indefinite,2\n");
    csv.push_str("0101234567,,EMP-2,2026-03,9000000,indefinite,5\n");
    csv.push_str("0101234567,,EMP-2,2026-04,9000000,indefinite,2");

    // Chunks of 10 bytes split rows across messages.
    let report = harness.import(&csv, 10).await?;

    assert_eq!(report.rows_read, 7);
    assert_eq!(report.rows_loaded, 4);
    assert_eq!(report.rows_rejected, 3);
    let bad: Vec<(u64, &str)> = report
        .bad_rows
        .iter()
        .map(|row| (row.line, row.field.as_str()))
        .collect();
    assert_eq!(
        bad,
        [
            (4, "salary_dong"),
            (5, "social_insurance_number"),
            (6, "region")
        ]
    );
    assert_eq!(
        report.bad_rows[1].reason,
        "social insurance number must have 10 digits, got 5 characters"
    );
    assert_eq!(harness.count("contributions").await?, 4);

    let again = harness.import(&csv, 4096).await?;
    assert_eq!(again.rows_loaded, 0, "the same rows load once");
    assert_eq!(harness.count("contributions").await?, 4);
    Ok(())
}

#[tokio::test]
async fn the_command_line_import_streams_a_file_to_the_service() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let path = std::env::temp_dir().join(format!("contributions-{}.csv", uuid::Uuid::new_v4()));
    let mut csv =
        "social_insurance_number,citizen_id,employer_id,month,salary_dong,contract_type,region\n"
            .to_owned();
    csv.push_str(&months_csv(
        "0101234567",
        "EMP-1",
        (2026, 2),
        12,
        9_000_000,
        2,
    ));
    std::fs::write(&path, csv)?;

    let report = eligibility::cli::import(
        &eligibility::Config::default(),
        &[
            path.display().to_string(),
            "--header".to_owned(),
            "--server".to_owned(),
            harness.url.clone(),
        ],
    )
    .await;
    std::fs::remove_file(&path)?;

    let report = report?;
    assert_eq!(report.rows_read, 12);
    assert_eq!(report.rows_loaded, 12);
    assert_eq!(harness.count("contributions").await?, 12);
    Ok(())
}

/// Loads a million rows and prints how long it took; run with `--ignored` to measure.
#[tokio::test]
#[ignore = "a measurement, not a check: loads a million rows"]
async fn a_million_rows_load_in_seconds() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let mut csv = String::with_capacity(70_000_000);
    for person in 0..20_000u32 {
        csv.push_str(&months_csv(
            &format!("{:010}", 1_000_000_000 + person),
            "EMP-1",
            (2026, 2),
            50,
            9_000_000,
            1,
        ));
    }

    let started = std::time::Instant::now();
    let report = harness.import(&csv, 1 << 20).await?;
    let took = started.elapsed();

    assert_eq!(report.rows_loaded, 1_000_000);
    eprintln!("imported 1,000,000 contribution rows in {took:?}");
    Ok(())
}
