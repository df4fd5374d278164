//! The demo behind `make demo`: a shop's burst of orders through every
//! function of the project, on a local emulator, in well under a minute.
//!
//! 1. Creates this run's streams (two shards each), the four tables of
//!    the contract, the dead-letter queue and the sender's SES identity,
//!    and stocks the shop: eight products and one scarce one.
//! 2. Publishes, as the shop's order service would ([`publisher`]):
//!    `USER_REGISTERED` for each customer, then the `ORDER_PLACED` burst
//!    (half with an `email`, half relying on the registered address); then
//!    one order's record again (a producer retry), one invalid order and
//!    one record that is not JSON.
//! 3. Runs order-saga-step, inventory-update, email-notification and the
//!    payment/shipping simulator in process behind the local event source
//!    runner, with the template's filters, until every stream is drained.
//!    The simulator declines some payments and fails some shipments; one
//!    customer cancels an order as soon as its stock is reserved.
//! 4. Reads what the run left in the emulator and reports it, checking the
//!    invariants: every saga ended, stock moved by exactly the completed
//!    orders and never below zero, one email of each kind per order or
//!    customer, only the invalid order dead-lettered ([`report`]).
//! 5. Draws the template's CloudWatch dashboard from the run's data points
//!    as an HTML page ([`dashboard`]), when asked to.
//!
//! Layout:
//! - [`shop`]: the catalogue, the customers and the plan of the burst.
//! - [`publisher`]: the producer (`OrderEventPublisher`).
//! - [`setup`]: the resources, created under this run's own names.
//! - [`wiring`]: the functions behind the runner, and the tap that watches
//!   their batches (progress, data points, the cancelling customer).
//! - [`samples`]: the data points of the run, as CloudWatch would get them.
//! - [`dashboard`]: the template's dashboard drawn from those data points.
//! - [`progress`]: the progress line.
//! - [`inspect`]: reading tables, queue and recorded mail afterwards.
//! - [`report`]: the checks and the printed report.

pub mod chaos;
pub mod dashboard;
pub mod inspect;
pub mod progress;
pub mod publisher;
pub mod report;
pub mod samples;
pub mod setup;
pub mod shop;
pub mod wiring;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use event_source_runner::{RunOptions, StreamRef};
use order_events::{EmailAddress, Event, OutgoingRecord};

pub use progress::ProgressOutput;
pub use publisher::OrderEventPublisher;
pub use report::{DemoReport, Outcome};
pub use shop::{Plan, Role};

/// How big a run, and how it shows progress.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Orders in the burst ([`shop::MIN_ORDERS`]..=[`shop::MAX_ORDERS`]).
    pub orders: usize,
    /// Customers who register and order ([`shop::MIN_CUSTOMERS`]..=10).
    pub customers: usize,
    /// The From address; its domain gets an SES identity. Mail is told
    /// apart by sender, so concurrent runs on one emulator use different
    /// senders.
    pub sender: String,
    pub progress: ProgressOutput,
    /// How often the line is printed.
    pub progress_every: Duration,
    /// How often the runner polls drained shards.
    pub poll_interval: Duration,
    /// Longest the functions may run before the demo gives up.
    pub max_duration: Duration,
    /// Where to write the dashboard page, if anywhere.
    pub dashboard: Option<std::path::PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            orders: 40,
            customers: 10,
            sender: "orders@shop.example.com".to_owned(),
            progress: ProgressOutput::Off,
            progress_every: Duration::from_millis(500),
            poll_interval: Duration::from_millis(100),
            max_duration: Duration::from_secs(180),
            dashboard: None,
        }
    }
}

/// Runs the demo against the emulator `AWS_ENDPOINT_URL` points at.
///
/// Refuses to run without it: the demo creates resources and reads the
/// mail the emulator recorded, neither of which belongs in an AWS account.
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .context(
            "AWS_ENDPOINT_URL is not set: the demo runs against a local emulator only; \
             start it with `make demo`",
        )?;
    let plan = Plan::new(options.orders, options.customers)?;
    let sender = EmailAddress::parse(options.sender.as_str())
        .map_err(|e| anyhow::anyhow!("sender {}: {e}", options.sender))?;
    let sdk = stream_core::aws::load_config().await;

    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let resources = setup::Resources::create(&sdk, &run_id[..8], sender.clone()).await?;
    resources.seed_stock(&sdk, plan.stock().iter()).await?;
    let before = inspect::inventory(&sdk, &resources.inventory_table).await?;
    let setup_time = started.elapsed();

    let publishing = Instant::now();
    let publisher = Arc::new(OrderEventPublisher::new(
        aws_sdk_kinesis::Client::new(&sdk),
        StreamRef::Name(resources.events_stream.clone()),
    ));
    let published = publish_burst(&publisher, &plan).await?;
    let publish_time = publishing.elapsed();

    let running = Instant::now();
    let progress = Arc::new(progress::Progress::default());
    let wiring::Wiring {
        mut runner,
        cancel,
        samples,
    } = wiring::wire(&sdk, &resources, &plan, &progress, &publisher)?;
    let printer = progress::Printer::start(
        Arc::clone(&progress),
        plan.orders.len(),
        options.progress,
        options.progress_every,
    );
    let run = runner
        .run_until_idle(&RunOptions {
            poll_interval: options.poll_interval,
            quiet_polls: 3,
            max_duration: Some(options.max_duration),
            ..RunOptions::default()
        })
        .await;
    printer.finish().await;
    let run = run.context("running the functions")?;
    let run_time = running.elapsed();
    let dashboard = options
        .dashboard
        .as_deref()
        .and_then(|path| write_dashboard(path, &sdk, &resources, &samples));

    let inspecting = Instant::now();
    let (after, sagas, dead_letters, mail) = tokio::try_join!(
        inspect::inventory(&sdk, &resources.inventory_table),
        inspect::sagas(&sdk, &resources.saga_table),
        inspect::dead_letters(&sdk, &resources.dead_letter_queue_url),
        inspect::sent_mail(&endpoint, sender.as_str()),
    )?;
    let cancel = cancel.map(|c| (c.order().to_string(), c.published()));
    let mut timings = report::Timings {
        setup: setup_time,
        publish: publish_time,
        run: run_time,
        inspect: Duration::ZERO,
        total: Duration::ZERO,
    };
    timings.inspect = inspecting.elapsed();
    timings.total = started.elapsed();
    let mut report = report::evaluate(report::Observed {
        plan: &plan,
        sender: sender.as_str(),
        events_stream: &resources.events_stream,
        before: &before,
        after: &after,
        sagas: &sagas,
        dead_letters: &dead_letters,
        mail: &mail,
        run: &run,
        published,
        cancel,
        timings,
    });
    report.dashboard = dashboard;
    Ok(report)
}

/// The template's dashboard drawn from `samples`, written to `path`; the
/// path written, or `None` (and a line on stderr) when it could not be.
fn write_dashboard(
    path: &std::path::Path,
    sdk: &aws_config::SdkConfig,
    resources: &setup::Resources,
    samples: &samples::Samples,
) -> Option<String> {
    let locals = dashboard::Locals {
        stack: "demo".to_owned(),
        region: sdk.region().map_or("us-east-1", |r| r.as_ref()).to_owned(),
        values: [(
            "DeadLetterQueue.QueueName".to_owned(),
            resources.dead_letter_queue_name(),
        )]
        .into(),
    };
    let source = dashboard::Source {
        template: dashboard::TEMPLATE,
        locals: &locals,
        samples,
    };
    match dashboard::write(path, &source) {
        Ok(()) => Some(path.display().to_string()),
        Err(err) => {
            eprintln!(
                "demo: cannot write the dashboard to {}: {err}",
                path.display()
            );
            None
        }
    }
}

/// An SDK error with its whole chain of causes in the message.
pub(crate) fn sdk_error<E: std::error::Error>(err: E) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(err))
}

/// The producer's burst, in the order a shop would write it.
pub(crate) async fn publish_burst(
    publisher: &OrderEventPublisher,
    plan: &Plan,
) -> anyhow::Result<report::PublishedSummary> {
    let users = plan
        .customers
        .iter()
        .map(|c| c.registered().map(Event::UserRegistered))
        .collect::<Result<Vec<_>, _>>()?;
    let registered = publisher
        .publish_events(&users)
        .await
        .context("publishing USER_REGISTERED")?;

    let orders = plan
        .orders
        .iter()
        .map(|o| OrderEventPublisher::record(&Event::OrderPlaced(o.placed.clone())))
        .collect::<anyhow::Result<Vec<OutgoingRecord>>>()?;
    let placed = publisher
        .publish(&orders)
        .await
        .context("publishing ORDER_PLACED")?;

    // A producer whose call timed out after it landed sends the very same
    // record again: same bytes, same eventId, new sequence number.
    let Some(again) = orders
        .iter()
        .find(|r| r.partition_key == plan.duplicated.as_str())
    else {
        bail!(
            "the plan duplicates {}, which it does not place",
            plan.duplicated
        );
    };
    let retried = publisher
        .publish(std::slice::from_ref(again))
        .await
        .context("publishing the retried ORDER_PLACED")?;
    let bad = publisher
        .publish(&[
            OrderEventPublisher::raw(&plan.invalid_order, plan.invalid_order_data()),
            OrderEventPublisher::raw("garbled-1", plan.not_json.clone()),
        ])
        .await
        .context("publishing the bad records")?;
    Ok(report::PublishedSummary {
        users: users.len(),
        orders: orders.len(),
        duplicated: plan.duplicated.to_string(),
        invalid: 1,
        not_json: 1,
        put_records_calls: registered.calls + placed.calls + retried.calls + bad.calls,
        // Counted from the mail once the run is over.
        duplicate_confirmations: 0,
    })
}

/// Where a local run writes the functions' logs: the file the variable
/// `var` names, or `file` in the temporary directory.
pub fn log_path(var: &str, file: &str) -> std::path::PathBuf {
    std::env::var_os(var)
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join(file))
}

/// The functions' logs for a local run: warnings and errors (or what
/// `RUST_LOG` asks for), one JSON line each, in the file `path`, so the
/// terminal keeps the progress line and the report.
pub fn log_to_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let filter = stream_core::logging::level_filter(&filter);
    let subscriber = stream_core::logging::json_subscriber(std::sync::Mutex::new(file), filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}
