//! `demo`: run with `make demo` (it starts a private emulator first).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // The functions' warnings and errors go to a file, so the terminal
    // keeps the progress line and the report.
    let path = demo::log_path("DEMO_LOG", "order-saga-demo.log");
    if let Err(err) = demo::log_to_file(&path) {
        eprintln!("demo: cannot write logs to {}: {err}", path.display());
        return ExitCode::from(2);
    }
    let options = demo::DemoOptions {
        progress: demo::ProgressOutput::for_stdout(),
        dashboard: Some(demo::dashboard::default_path()),
        ..demo::DemoOptions::default()
    };
    let functions: Vec<&str> = event_source_runner::linked::LINKED
        .iter()
        .map(|f| f.name)
        .collect();
    println!(
        "Order saga demo: {} orders from {} customers, through {},",
        options.orders,
        options.customers,
        functions.join(", ")
    );
    println!("on a local emulator.");
    let mut report = match demo::run(options).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("demo: {err:#}");
            return ExitCode::from(2);
        }
    };
    let lines = std::fs::read_to_string(&path)
        .map(|text| text.lines().count())
        .unwrap_or(0);
    report.log = Some((path.display().to_string(), lines));
    print!("{report}");
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!("demo: {} invariant violations", report.violations().len());
        ExitCode::from(1)
    }
}
