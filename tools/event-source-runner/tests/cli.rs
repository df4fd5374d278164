//! The `event-source-runner` binary's command line (no emulator needed).

use std::process::Command;

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_event-source-runner"))
        .args(args)
        .env_remove("ORDER_EVENTS_STREAM")
        .env_remove("ORDER_COMMANDS_STREAM")
        .output()
        .unwrap()
}

#[test]
fn lists_every_function_as_runnable_in_process() {
    let out = runner(&["--list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for function in event_source_runner::catalog::FUNCTIONS {
        let line = text
            .lines()
            .find(|l| l.starts_with(function.name))
            .unwrap_or_else(|| panic!("{} missing from:\n{text}", function.name));
        assert!(line.contains("in process or --http"), "{line}");
    }
}

#[test]
fn a_function_without_its_configuration_stops_with_the_variable_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_event-source-runner"))
        .args(["inventory-update=order-events", "--until-idle"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:1/123456789012/dlq",
        )
        .env("IDEMPOTENCY_TABLE", "idempotency")
        .env("ORDER_EVENTS_STREAM", "order-events")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("inventory-update"), "{stderr}");
    assert!(stderr.contains("INVENTORY_TABLE"), "{stderr}");
}
