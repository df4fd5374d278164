//! A minimal Kinesis function on `lambda_runtime`, for checking the
//! benchmark harness without AWS. It answers every batch with
//! `batchItemFailures` naming the records whose data contains `FAIL`, and
//! reports an invocation error when a record's data contains `ERROR`.

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

fn contains(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len()).any(|w| w == needle)
}

async fn handle(event: LambdaEvent<KinesisEvent>) -> Result<Value, Error> {
    let mut failures = Vec::new();
    for record in &event.payload.records {
        let data: &[u8] = &record.kinesis.data;
        if contains(data, b"ERROR") {
            return Err(format!(
                "record {} asked for an error",
                record.kinesis.sequence_number
            )
            .into());
        }
        if contains(data, b"FAIL") {
            failures.push(json!({ "itemIdentifier": record.kinesis.sequence_number }));
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
