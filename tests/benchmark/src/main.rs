//! `benchmark`: a national-scale benefit month through the local stack. Run it with
//! `deploy/local/bench.sh`, which starts the stack as the benchmark needs it.

#![allow(clippy::print_stdout, reason = "the report is the program's output")]

use anyhow::Context as _;
use benchmark::Options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    if options.clock_only {
        return benchmark::setup::set_clock(
            &options,
            benchmark::setup::nine_am(benchmark::setup::INTAKE)?,
        );
    }
    let report = benchmark::run(&options).await?;
    println!("{}", report.text());
    if let Some(directory) = options.results.parent() {
        std::fs::create_dir_all(directory)?;
    }
    std::fs::write(
        &options.results,
        serde_json::to_string_pretty(&report.json())?,
    )
    .with_context(|| format!("writing {}", options.results.display()))?;
    println!("results written to {}", options.results.display());
    anyhow::ensure!(report.complete, "the month did not complete");
    Ok(())
}
