// The served future (Lambda runtime, stream pipeline, idempotency layer,
// retries, SDK calls) nests deeper than the compiler's default limit of 128
// when its layout is computed.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inventory_update::run().await
}
