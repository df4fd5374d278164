use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    dead_letters::run(dead_letters::cli::Cli::parse()).await
}
