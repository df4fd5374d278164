fn main() -> Result<(), lambda_runtime::Error> {
    stream_core::lambda::main::<participant_simulator::ParticipantSimulator>()
}
