#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    participant_simulator::run().await
}
