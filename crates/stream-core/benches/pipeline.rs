//! The core pipeline against its floor, on Lambda's largest batch.
//!
//! Floor: deserialising the Lambda `KinesisEvent` JSON (base64 data
//! included), which any Rust consumer pays. Pipeline: the same, then the
//! whole core (deaggregation check, envelope parse, payload validation,
//! grouping by key, scheduling, the per-record outcome) with a no-op handler.
//! Both run interleaved in one process and the medians are compared.
//!
//! Run: `cargo bench -p stream-core --bench pipeline` (or `make bench`).

use std::time::{Duration, Instant};

use aws_lambda_events::event::kinesis::KinesisEvent;
use order_events::EventKind;
use stream_core::testing::kinesis_event;
use stream_core::{
    CoreConfig, Deadline, Handled, Handler, HandlerError, InMemoryDeadLetters, IncomingEvent,
    Pipeline,
};

const RECORDS: usize = 10_000;
const ROUNDS: usize = 21;

struct NoOp;

impl Handler for NoOp {
    fn handles(&self, kind: EventKind) -> bool {
        kind == EventKind::OrderCreated
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        std::hint::black_box(&event);
        Ok(Handled::done())
    }
}

fn order_created(n: usize) -> String {
    format!(
        r#"{{"eventId":"{id}","eventType":"ORDER_CREATED","timestamp":"2025-10-30T12:00:00.000Z","payload":{{"orderId":"order-{n:06}","userId":"user-{u:05}","items":[{{"productId":"prod-{p1:04}","quantity":2,"price":"19.99"}},{{"productId":"prod-{p2:04}","quantity":1,"price":"5.00"}}],"status":"PENDING","total":"44.98","email":"user{u}@example.com"}}}}"#,
        id = uuid::Uuid::from_u128(n as u128),
        u = n % 5000,
        p1 = n % 997,
        p2 = (n * 7 + 3) % 997,
    )
}

fn lambda_event_json() -> String {
    let event = kinesis_event((0..RECORDS).map(|n| (format!("order-{n:06}"), order_created(n))));
    serde_json::to_string(&event).expect("serialisable event")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent;
    // a quick smoke run keeps that cheap.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { ROUNDS };
    let json = lambda_event_json();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pipeline = Pipeline::new(
        NoOp,
        InMemoryDeadLetters::default(),
        CoreConfig {
            max_concurrency: 64,
            ..CoreConfig::new("bench")
        },
    );

    let mut floor = Vec::with_capacity(rounds);
    let mut full = Vec::with_capacity(rounds);
    for round in 0..rounds + 2 {
        let started = Instant::now();
        let event: KinesisEvent = serde_json::from_str(&json).expect("valid event");
        std::hint::black_box(&event);
        drop(event);
        let floor_time = started.elapsed();

        let started = Instant::now();
        let event: KinesisEvent = serde_json::from_str(&json).expect("valid event");
        let outcome =
            runtime.block_on(pipeline.process(&event, Deadline::in_(Duration::from_secs(900))));
        assert_eq!(outcome.report.processed, RECORDS, "every record processed");
        std::hint::black_box(&outcome);
        drop(event);
        let full_time = started.elapsed();
        // The first two rounds warm caches and the allocator.
        if round >= 2 {
            floor.push(floor_time);
            full.push(full_time);
        }
    }
    let (floor, full) = (median(floor), median(full));
    let ratio = full.as_secs_f64() / floor.as_secs_f64();
    let per_record_us = (full.as_secs_f64() - floor.as_secs_f64()) * 1e6 / RECORDS as f64;
    println!("core pipeline, {RECORDS} ORDER_CREATED records, {} bytes of event JSON, median of {rounds} rounds", json.len());
    println!(
        "  floor (deserialise KinesisEvent): {:>8.2} ms",
        floor.as_secs_f64() * 1e3
    );
    println!(
        "  whole pipeline, no-op handler:    {:>8.2} ms",
        full.as_secs_f64() * 1e3
    );
    println!("  ratio pipeline / floor:           {ratio:>8.2}x  (target <= 1.50x)");
    println!("  core cost beyond the floor:       {per_record_us:>8.2} us per record");
}
