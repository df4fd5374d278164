fn main() -> Result<(), lambda_runtime::Error> {
    stream_core::lambda::main::<order_saga_step::OrderSagaStep>()
}
