//! `demo`: run with `make demo` (it starts a private emulator first).

use std::process::ExitCode;

/// Where the functions' warnings and errors go, so the terminal keeps the
/// progress line and the report; `DEMO_LOG` overrides it.
fn log_path() -> std::path::PathBuf {
    std::env::var_os("DEMO_LOG")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("order-saga-demo.log"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let path = log_path();
    if let Err(err) = demo::log_to_file(&path) {
        eprintln!("demo: cannot write logs to {}: {err}", path.display());
        return ExitCode::from(2);
    }
    let options = demo::DemoOptions {
        progress: demo::ProgressOutput::for_stdout(),
        ..demo::DemoOptions::default()
    };
    println!(
        "Order saga demo: {} orders from {} customers, through order-saga-step, inventory-update,",
        options.orders, options.customers
    );
    println!("email-notification and the payment/shipping simulator, on a local emulator.");
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
