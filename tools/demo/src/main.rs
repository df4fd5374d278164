//! `demo`: run with `make demo` (it starts a private emulator first).

use std::process::ExitCode;

/// Where the functions' warnings and errors go, so the terminal keeps the
/// progress line and the report; `DEMO_LOG` overrides it.
fn log_path() -> std::path::PathBuf {
    std::env::var_os("DEMO_LOG")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("order-saga-demo.log"))
}

/// The functions log one JSON line per record; the demo keeps warnings and
/// errors (or what `RUST_LOG` asks for), in a file.
fn init_logs(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let subscriber = stream_core::logging::json_subscriber(std::sync::Mutex::new(file), filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let path = log_path();
    if let Err(err) = init_logs(&path) {
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
