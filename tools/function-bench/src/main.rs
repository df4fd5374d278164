use std::process::ExitCode;

use function_bench::{bench, cli, report};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("function-bench: {err}\n\n{}", cli::USAGE);
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

    let needs_moto = !options.plan.moto_batches.is_empty()
        && options.plan.functions.iter().any(|f| f.needs_aws());
    let endpoint_set = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.trim().is_empty());
    let aws = if needs_moto && endpoint_set {
        Some(testkit::aws_config().await)
    } else {
        if needs_moto {
            eprintln!(
                "function-bench: AWS_ENDPOINT_URL is not set, so the batches against the emulator \
                 are skipped (scripts/bench-functions.sh runs them; --moto-batch 0 silences this)"
            );
        }
        None
    };

    let results = bench::run(&options.plan, aws).await;
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
    if let Some(dir) = options.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(err) = std::fs::write(&options.out, json) {
        eprintln!(
            "function-bench: cannot write {}: {err}",
            options.out.display()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "\nJSON report: {}; each run's output: {}",
        options.out.display(),
        options.plan.logs_dir.display()
    );
    // Missing a target is a finding, not a failure of the tool; a
    // function that could not be measured is.
    if all_measured {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
