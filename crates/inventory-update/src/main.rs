#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inventory_update::run().await
}
