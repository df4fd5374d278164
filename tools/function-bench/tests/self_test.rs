//! The harness against a real `lambda_runtime` process (the echo function):
//! it starts, is seen ready, receives a batch through the fake Runtime API,
//! and its answer and figures come back. No AWS needed.

use std::path::PathBuf;
use std::time::Duration;

use function_bench::bench::failed_sequences;
use function_bench::process::{FunctionProcess, LaunchSpec, Xray};
use function_bench::runtime_api::Answer;

fn spec(name: &str) -> LaunchSpec {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-bench-self-test");
    std::fs::create_dir_all(&dir).unwrap();
    LaunchSpec {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_echo-function")),
        args: Vec::new(),
        dir: None,
        function_name: "echo-function".into(),
        log_level: "info".into(),
        env: Vec::new(),
        log_path: dir.join(format!("{name}.log")),
        cgroup_procs: None,
        xray: Xray::Off,
    }
}

fn batch(data: &[&str]) -> Vec<u8> {
    let event = stream_core::testing::kinesis_event(
        data.iter()
            .enumerate()
            .map(|(i, d)| (format!("k{i}"), d.as_bytes().to_vec())),
    );
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test]
async fn runs_batches_and_reads_the_answer_and_the_figures() {
    let mut process = FunctionProcess::launch(&spec("batches")).await.unwrap();
    let ready = process.wait_ready(Duration::from_secs(30)).await.unwrap();
    assert!(ready.init > Duration::ZERO);
    assert!(ready.snapshot.peak_rss_kib > 0);

    let mut data = vec![r#"{"eventType":"ORDER_PLACED"}"#; 2_000];
    data[3] = "FAIL";
    data[1_500] = "also FAIL";
    let invoked = process
        .invoke(
            batch(&data),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let Answer::Response(body) = &invoked.outcome.answer else {
        panic!("expected a response, got {:?}", invoked.outcome.answer);
    };
    assert_eq!(
        failed_sequences(body).unwrap(),
        vec![
            stream_core::testing::sequence(4),
            stream_core::testing::sequence(1_501)
        ]
    );
    let after = invoked
        .outcome
        .snapshot
        .expect("figures read at the answer");
    assert!(
        after.cpu_ns > invoked.before.cpu_ns,
        "parsing 2,000 records takes CPU"
    );
    assert!(after.peak_rss_kib >= invoked.before.peak_rss_kib);

    // The same process takes a second invocation (keep-alive, next poll),
    // and an invocation error is told apart from a response.
    let invoked = process
        .invoke(
            batch(&["ok", "ERROR"]),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    match invoked.outcome.answer {
        Answer::Error { error_type, body } => {
            assert!(error_type.is_some());
            assert!(String::from_utf8_lossy(&body).contains("asked for an error"));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    process.stop().await;
}

#[tokio::test]
async fn a_function_that_exits_at_start_is_reported_with_its_output() {
    let mut spec = spec("exits");
    // Without the Lambda variables lambda_runtime cannot start; a binary
    // that is not a function at all exits at once.
    spec.binary = PathBuf::from("/bin/sh");
    spec.env = vec![("ENV".into(), "/dev/null".into())];
    let mut process = FunctionProcess::launch(&spec).await.unwrap();
    let err = process
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("exited"), "{err}");
    assert!(err.contains("before polling the Runtime API"), "{err}");
}
