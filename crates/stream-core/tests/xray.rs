//! X-Ray subsegments, as the X-Ray daemon receives them: a UDP socket on
//! port 0 stands in for the daemon, the AWS calls go to the local emulator,
//! and the invocation goes through the same layers `serve` installs. Its
//! own test binary, because the subscriber is process-wide.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::tower::{service_fn, Layer as _, Service as _};
use lambda_runtime::{Config, Context, LambdaInvocation};
use serde_json::Value;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

use order_events::EventKind;
use stream_core::testing::kinesis_event;
use stream_core::{
    CoreConfig, Deadline, DynamoDbIdempotencyStore, Handled, Handler, HandlerError, Idempotency,
    IncomingEvent, Pipeline, SqsDeadLetters,
};

const LAMBDA_SEGMENT: &str = "53995c3f42cd8ad8";
const FUNCTION: &str = "xray-test";

/// Runs each event once through the DynamoDB idempotency store: two AWS
/// calls per record.
struct RunOnce(Idempotency<DynamoDbIdempotencyStore>);

impl Handler for RunOnce {
    fn handles(&self, kind: EventKind) -> bool {
        kind == EventKind::OrderCreated
    }

    async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
        let key = incoming.dedup_key.to_string();
        self.0
            .run(&key, incoming.deadline, || async {
                Ok::<_, HandlerError>("done".to_owned())
            })
            .await?;
        Ok(Handled::done())
    }
}

fn order_created(order: &str) -> String {
    format!(
        r#"{{"eventId":"evt-{order}","eventType":"ORDER_CREATED","timestamp":"2025-10-30T12:00:00Z","payload":{{"orderId":"{order}","userId":"u-1","items":[{{"productId":"p-1","quantity":1}}],"status":"PENDING","total":"9.99"}}}}"#
    )
}

fn invocation(
    trace_header: &str,
    event: &aws_lambda_events::event::kinesis::KinesisEvent,
) -> LambdaInvocation {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.xray_trace_id = Some(trace_header.to_owned());
    context.env_config = Arc::new(Config {
        function_name: FUNCTION.into(),
        ..Config::default()
    });
    LambdaInvocation {
        parts: http::Response::new(()).into_parts().0,
        body: serde_json::to_vec(event).unwrap().into(),
        context,
    }
}

/// Every segment document the daemon got until it went quiet.
fn received(daemon: &UdpSocket) -> Vec<Value> {
    daemon
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut documents = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(len) = daemon.recv(&mut buf) {
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        let (header, body) = text
            .split_once('\n')
            .expect("header line, then the document");
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        documents.push(serde_json::from_str(body).unwrap());
    }
    documents
}

fn str_of<'a>(doc: &'a Value, field: &str) -> &'a str {
    doc[field].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "current_thread")]
async fn each_invocation_record_and_aws_call_is_a_subsegment_of_the_lambda_trace() {
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    // SAFETY: set before anything else in this test binary reads it.
    unsafe {
        std::env::set_var(
            "AWS_XRAY_DAEMON_ADDRESS",
            daemon.local_addr().unwrap().to_string(),
        )
    };
    let logs = stream_core::logging::CapturedLogs::default();
    let subscriber = stream_core::logging::json_subscriber(
        logs.clone(),
        stream_core::logging::level_filter("info"),
    )
    .with(stream_core::xray::export_layer());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    assert!(stream_core::xray::enabled());

    let cfg = testkit::aws_config().await;
    let table = testkit::unique_name("xray-idem");
    testkit::create_table(&cfg, &table, "id").await;
    let queue = testkit::create_queue(&cfg, &testkit::unique_name("xray-dlq")).await;
    let store = DynamoDbIdempotencyStore::new(aws_sdk_dynamodb::Client::new(&cfg), table);
    let handler = RunOnce(Idempotency::new(store, FUNCTION, Duration::from_secs(3600)));
    let dead_letters = SqsDeadLetters::new(aws_sdk_sqs::Client::new(&cfg), queue);
    let pipeline = Arc::new(Pipeline::new(
        handler,
        dead_letters,
        CoreConfig::new(FUNCTION),
    ));

    // What `serve` installs, around a handler that runs the pipeline.
    let inner = service_fn(move |invocation: LambdaInvocation| {
        let pipeline = Arc::clone(&pipeline);
        async move {
            let event = serde_json::from_slice(&invocation.body)?;
            let span = stream_core::logging::invocation_span(
                &invocation.context.request_id,
                invocation.context.xray_trace_id.as_deref(),
            );
            pipeline
                .process(&event, Deadline::in_(Duration::from_secs(60)))
                .instrument(span)
                .await;
            Ok::<(), lambda_runtime::Error>(())
        }
    });
    let mut service = stream_core::xray::LambdaTraceParent
        .layer(stream_core::xray::invocation_layer().layer(inner));

    let event = kinesis_event([
        ("a", order_created("o-1").into_bytes()),
        ("b", order_created("o-2").into_bytes()),
        ("c", b"not an event".to_vec()),
    ]);
    // X-Ray refuses trace ids whose time part is not recent.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let root = format!("1-{now:08x}-bd862e3fe1be46a994272793");
    let sampled = format!("Root={root};Parent={LAMBDA_SEGMENT};Sampled=1");
    service.call(invocation(&sampled, &event)).await.unwrap();
    let documents = received(&daemon);

    // Every document is an independent subsegment of Lambda's trace.
    assert!(
        !documents.is_empty(),
        "no subsegment reached the daemon; logs:\n{}",
        logs.text()
    );
    for doc in &documents {
        assert_eq!(str_of(doc, "trace_id"), root, "{doc}");
        assert_eq!(str_of(doc, "type"), "subsegment", "{doc}");
        assert!(
            doc["end_time"].as_f64() >= doc["start_time"].as_f64(),
            "{doc}"
        );
    }
    let named = |name: &str| -> Vec<&Value> {
        documents
            .iter()
            .filter(|d| str_of(d, "name") == name)
            .collect()
    };
    // The invocation hangs under the function's segment...
    let invocations = named(FUNCTION);
    assert_eq!(invocations.len(), 1, "{documents:#?}\n{}", logs.text());
    assert_eq!(str_of(invocations[0], "parent_id"), LAMBDA_SEGMENT);
    let invocation_id = str_of(invocations[0], "id");
    // ...each record under the invocation...
    let records = named("record");
    assert_eq!(records.len(), 3, "{documents:#?}");
    let mut record_of_key = HashMap::new();
    for record in &records {
        assert_eq!(str_of(record, "parent_id"), invocation_id);
        let annotations = &record["annotations"];
        let key = annotations["partition_key"]
            .as_str()
            .unwrap_or_else(|| panic!("the record's partition key is an annotation: {record}"));
        assert!(annotations["sequence_number"].is_string(), "{record}");
        record_of_key.insert(key, (str_of(record, "id"), annotations["outcome"].clone()));
    }
    // ...and each AWS call under its record: the claim and the completion
    // in DynamoDB for the two events, the dead letter in SQS for the third.
    let parents = |name: &str| -> Vec<&str> {
        let mut ids: Vec<&str> = named(name).iter().map(|d| str_of(d, "parent_id")).collect();
        ids.sort_unstable();
        ids
    };
    let mut expected = vec![record_of_key["a"].0; 2];
    expected.extend([record_of_key["b"].0; 2]);
    expected.sort_unstable();
    assert_eq!(parents("DynamoDB"), expected, "{documents:#?}");
    assert_eq!(parents("SQS"), vec![record_of_key["c"].0], "{documents:#?}");
    // Each record says how it ended.
    assert_eq!(record_of_key["a"].1, "processed");
    assert_eq!(record_of_key["c"].1, "dead_lettered");

    // An invocation Lambda did not sample sends nothing.
    let unsampled = format!("Root={root};Parent={LAMBDA_SEGMENT};Sampled=0");
    let again = kinesis_event([("d", order_created("o-4").into_bytes())]);
    service.call(invocation(&unsampled, &again)).await.unwrap();
    assert_eq!(received(&daemon), Vec::<Value>::new());

    // A hostile partition key (the longest Kinesis allows, of control
    // characters and emoji) is still only an annotation: the record and
    // its calls are traced and nothing panics.
    let hostile: String = "\u{0}\u{1b}[31m\"}😀".chars().cycle().take(256).collect();
    let odd = kinesis_event([(hostile.as_str(), order_created("o-5").into_bytes())]);
    service.call(invocation(&sampled, &odd)).await.unwrap();
    let documents = received(&daemon);
    let names: Vec<&str> = documents.iter().map(|d| str_of(d, "name")).collect();
    assert!(names.contains(&"record"), "{documents:#?}");
    assert_eq!(
        names.iter().filter(|n| **n == "DynamoDB").count(),
        2,
        "{documents:#?}"
    );

    // The log lines still carry the invocation's ids.
    assert!(logs
        .lines()
        .iter()
        .any(|line| line["xrayTraceId"].as_str() == Some(sampled.as_str())));
}
