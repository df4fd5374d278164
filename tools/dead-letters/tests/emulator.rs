//! Against the local emulator (`scripts/local-aws.sh run -- cargo test -p
//! dead-letters`): a real queue and a real stream, letters written by the
//! functions' own dead-letter code.

use std::time::Duration;

use aws_config::SdkConfig;
use dead_letters::queue::SqsQueue;
use dead_letters::redrive::{redrive, Outcome, RedriveOptions, RedriveReport, Retry};
use dead_letters::select::Selection;
use dead_letters::streams::KinesisStreams;
use stream_core::{DeadLetter, RecordOrigin};

const DATA: &[u8] = br#"{"eventType":"ORDER_CREATED","timestamp":"2025-10-30T12:00:00Z","payload":{"orderId":"o-1","items":[{"productId":"p-404","quantity":1}]}}"#;

struct Fixture {
    cfg: SdkConfig,
    stream_arn: String,
    stream_name: String,
    queue_url: String,
}

async fn fixture() -> Fixture {
    let cfg = testkit::aws_config().await;
    let stream_name = testkit::unique_name("redrive");
    let stream_arn = testkit::create_stream(&cfg, &stream_name, 1).await;
    let queue_url = testkit::create_queue(&cfg, &testkit::unique_name("dead-letters")).await;
    Fixture {
        cfg,
        stream_arn,
        stream_name,
        queue_url,
    }
}

impl Fixture {
    /// A dead letter as the functions write it.
    fn letter(&self, sequence_number: &str, partition_key: &str, data: &[u8]) -> String {
        let origin = RecordOrigin {
            event_source_arn: Some(self.stream_arn.clone()),
            event_id: Some(format!("shardId-000000000000:{sequence_number}")),
            shard_id: Some("shardId-000000000000".to_owned()),
            sequence_number: sequence_number.to_owned(),
            sub_sequence_number: None,
            partition_key: partition_key.to_owned(),
            approximate_arrival_timestamp: Some(1_761_825_600.0),
        };
        DeadLetter::new("inventory-update", &origin, data, "unknown product p-404").to_json()
    }

    async fn send(&self, body: &str) {
        aws_sdk_sqs::Client::new(&self.cfg)
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage to the emulator");
    }

    fn queue(&self) -> SqsQueue {
        SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.cfg),
            &self.queue_url,
            Duration::from_secs(60),
            Duration::ZERO,
            1000,
        )
    }

    async fn redrive_all(&self) -> RedriveReport {
        let options = RedriveOptions {
            selection: Selection {
                all: true,
                ..Selection::default()
            },
            stream: None,
            dry_run: false,
            retry: Retry::default(),
        };
        let streams = KinesisStreams::new(aws_sdk_kinesis::Client::new(&self.cfg));
        redrive(&self.queue(), &streams, &options)
            .await
            .expect("redrive runs")
    }

    async fn records(&self) -> Vec<(Vec<u8>, String)> {
        testkit::read_stream(&self.cfg, &self.stream_name)
            .await
            .into_iter()
            .map(|r| (r.data.into_inner(), r.partition_key.unwrap_or_default()))
            .collect()
    }
}

#[tokio::test]
async fn redrives_the_letter_with_data_once_and_keeps_the_one_without() {
    let f = fixture().await;
    let with_data = f.letter("101", "o-1", DATA);
    // Too large for a message: the functions keep everything but the data.
    let without_data = f.letter("102", "o-2", &vec![b'x'; 300 * 1024]);
    assert!(!without_data.contains("\"data\":"), "{without_data}");
    f.send(&with_data).await;
    f.send(&without_data).await;

    let report = f.redrive_all().await;
    assert_eq!(report.read, 2);
    assert_eq!(report.published(), 1, "{report:?}");
    assert!(!report.has_failures(), "{report:?}");
    assert!(report
        .chosen
        .iter()
        .any(|c| c.outcome == Outcome::NeedsReread));
    assert_eq!(f.records().await, vec![(DATA.to_vec(), "o-1".to_owned())]);

    let again = f.redrive_all().await;
    assert_eq!(
        again.read, 1,
        "the data-less letter is visible again: {again:?}"
    );
    assert_eq!(again.published(), 0);
    assert_eq!(again.calls, 0);
    assert_eq!(f.records().await.len(), 1);

    assert_eq!(
        testkit::receive_all(&f.cfg, &f.queue_url).await,
        vec![without_data]
    );
}

#[tokio::test]
async fn a_letter_sent_twice_is_published_once_and_both_messages_go() {
    let f = fixture().await;
    let letter = f.letter("201", "o-9", DATA);
    f.send(&letter).await;
    f.send(&letter).await;

    let report = f.redrive_all().await;
    assert_eq!(report.published(), 1, "{report:?}");
    assert!(report.chosen.iter().any(|c| matches!(
        c.outcome,
        Outcome::Duplicate {
            deleted: Some(Ok(())),
            ..
        }
    )));
    assert_eq!(f.records().await, vec![(DATA.to_vec(), "o-9".to_owned())]);
    assert!(testkit::receive_all(&f.cfg, &f.queue_url).await.is_empty());
}

/// The binary: `list`, then `redrive --dry-run`, then a real redrive of one
/// sequence number.
#[tokio::test]
async fn the_command_lists_dry_runs_and_redrives() {
    let f = fixture().await;
    f.send(&f.letter("301", "o-3", DATA)).await;
    f.send(&f.letter("302", "o-4", b"{\"eventType\":\"ORDER_CANCELLED\"}"))
        .await;
    f.send("not a dead letter").await;

    let list = run(&f, &["list"]).await;
    assert!(list.status.success(), "{list:?}");
    let stdout = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("FUNCTION\tREASON"));
    let row = lines
        .iter()
        .find(|l| l.contains("\t301\t"))
        .expect("a line for sequence number 301");
    let columns: Vec<&str> = row.split('\t').collect();
    assert_eq!(columns[0], "inventory-update");
    assert_eq!(columns[2], f.stream_arn);
    assert!(columns[6].starts_with("yes"));
    assert!(stdout.contains("unreadable message"));

    let dry = run(&f, &["redrive", "--all", "--dry-run"]).await;
    assert!(dry.status.success(), "{dry:?}");
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout)
            .matches("would publish")
            .count(),
        2
    );
    assert!(f.records().await.is_empty());

    let one = run(&f, &["redrive", "--sequence-number", "301"]).await;
    assert!(one.status.success(), "{one:?}");
    assert_eq!(f.records().await, vec![(DATA.to_vec(), "o-3".to_owned())]);
    let left = testkit::receive_all(&f.cfg, &f.queue_url).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left
        .iter()
        .all(|body| !body.contains("\"sequenceNumber\":\"301\"")));
}

async fn run(f: &Fixture, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_dead-letters"))
        .args(args)
        .args(["--queue-url", &f.queue_url, "--wait-seconds", "0"])
        .env("AWS_ENDPOINT_URL", testkit::endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", testkit::REGION)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("DEAD_LETTER_QUEUE_URL")
        .output()
        .await
        .expect("the dead-letters binary runs")
}
