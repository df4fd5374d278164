#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    email_notification::run().await
}
