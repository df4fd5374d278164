//! `order-saga-sweep`: applies passed saga step deadlines, once per
//! invocation (an EventBridge schedule). See `order_saga_step::sweep`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    order_saga_step::sweep::run().await
}
