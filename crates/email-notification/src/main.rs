fn main() -> Result<(), lambda_runtime::Error> {
    stream_core::lambda::main::<email_notification::EmailNotification>()
}
