// The served pipeline's future (the core's batch processing, contained
// per invocation, over a Kinesis publisher) nests deeper than the
// compiler's default query depth allows when its layout is computed.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    participant_simulator::run().await
}
