fn main() -> Result<(), lambda_runtime::Error> {
    stream_core::lambda::main::<inventory_update::InventoryUpdate>()
}
