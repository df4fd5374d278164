use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;
use function_bench::{bench, cli, report, svg};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match cli::Args::parse().into_options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("function-bench: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = std::fs::create_dir_all(&options.plan.logs_dir) {
        eprintln!(
            "function-bench: cannot create {}: {err}",
            options.plan.logs_dir.display()
        );
        return ExitCode::FAILURE;
    }

    let results = bench::run(&options.plan).await;
    let all_measured = results.iter().all(|r| r.status == "measured");
    let report = report::Report::new(&options.plan, results);
    print!("{}", report::render(&report));

    let json = match serde_json::to_vec_pretty(&report) {
        Ok(json) => json,
        Err(err) => {
            eprintln!("function-bench: cannot serialise the report: {err}");
            return ExitCode::FAILURE;
        }
    };
    for (path, bytes) in [
        (&options.out, json),
        (&options.svg, svg::render(&report).into_bytes()),
    ] {
        if let Err(err) = write(path, &bytes) {
            eprintln!("function-bench: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "\nJSON report: {}; chart: {}; each run's output: {}",
        options.out.display(),
        options.svg.display(),
        options.plan.logs_dir.display()
    );
    // A function that could not be measured is a failure of the run.
    if all_measured {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}
