#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    order_saga_step::run().await
}
