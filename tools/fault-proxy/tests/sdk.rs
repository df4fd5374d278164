//! The proxy in front of the local emulator, with the real SDK clients
//! pointed at it. Run with `scripts/local-aws.sh run -- cargo test -p fault-proxy`.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use fault_proxy::{FaultKind, FaultProxy, Profile, ProxyConfig, Service};

/// SDK configuration for clients talking to `proxy` (or to the emulator
/// itself with `None`), with `attempts` attempts per call and short
/// backoffs.
async fn sdk(proxy: Option<&FaultProxy>, attempts: u32) -> SdkConfig {
    let retry = if attempts <= 1 {
        RetryConfig::disabled()
    } else {
        RetryConfig::standard()
            .with_max_attempts(attempts)
            .with_initial_backoff(Duration::from_millis(5))
    };
    let base = testkit::aws_config().await;
    let mut builder = base.to_builder();
    builder.set_retry_config(Some(retry));
    if let Some(proxy) = proxy {
        builder.set_endpoint_url(Some(proxy.endpoint_url()));
    }
    builder.build()
}

async fn proxy(profile: &str) -> FaultProxy {
    FaultProxy::start(
        ProxyConfig::new(testkit::endpoint()).profile(Profile::parse(profile).unwrap()),
    )
    .await
    .unwrap()
}

async fn table() -> String {
    let direct = sdk(None, 3).await;
    let name = testkit::unique_name("fault-proxy");
    testkit::create_table(&direct, &name, "id").await;
    name
}

async fn put(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> Result<(), String> {
    client
        .put_item()
        .table_name(table)
        .item("id", AttributeValue::S(id.to_owned()))
        .item("n", AttributeValue::N("1".to_owned()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            e.code()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
        })
}

async fn exists_at_emulator(table: &str, id: &str) -> bool {
    let direct = aws_sdk_dynamodb::Client::new(&sdk(None, 3).await);
    direct
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .is_some()
}

#[tokio::test]
async fn without_faults_requests_pass_through_on_kept_alive_connections() {
    let proxy = proxy("none").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 1).await);
    for i in 0..20 {
        put(&client, &table, &format!("item-{i}")).await.unwrap();
    }
    assert!(exists_at_emulator(&table, "item-19").await);
    let counts = proxy.counts();
    assert_eq!(counts.requests.get(&Service::DynamoDb), Some(&20));
    assert_eq!(counts.total_injected(), 0);
    assert_eq!(counts.upstream_errors, 0);
    // Twenty sequential calls share one connection to the proxy.
    assert_eq!(counts.connections, 1, "{counts:?}");
}

#[tokio::test]
async fn the_dynamodb_client_classifies_injected_throttling_as_throttling_and_retries_it() {
    let proxy = proxy("throttle=1.0").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 3).await);
    let code = put(&client, &table, "throttled").await.unwrap_err();
    assert!(
        code == "ThrottlingException" || code == "ProvisionedThroughputExceededException",
        "{code}"
    );
    // The SDK's own list of throttling codes, which its retry classifier uses.
    assert!(
        aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code.as_str()),
        "{code} is not a throttling code to the SDK"
    );
    // Retried as throttling: all three attempts reached the proxy.
    assert_eq!(
        proxy.counts().get(FaultKind::Throttle, Service::DynamoDb),
        3
    );
    assert!(!exists_at_emulator(&table, "throttled").await);

    // Both codes come up, each a modelled DynamoDB error.
    let mut codes = std::collections::BTreeSet::new();
    let single = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 1).await);
    for _ in 0..20 {
        let err = single
            .get_item()
            .table_name(&table)
            .key("id", AttributeValue::S("x".to_owned()))
            .send()
            .await
            .unwrap_err();
        let service_error = err.into_service_error();
        assert!(
            service_error.is_throttling_exception()
                || service_error.is_provisioned_throughput_exceeded_exception(),
            "{service_error:?}"
        );
        codes.insert(service_error.code().unwrap_or_default().to_owned());
    }
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        [
            "ProvisionedThroughputExceededException",
            "ThrottlingException"
        ]
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_a_later_attempt_can_succeed() {
    let proxy = proxy("5xx=1.0").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 2).await);
    let code = put(&client, &table, "five-hundred").await.unwrap_err();
    assert!(
        code == "InternalServerError" || code == "ServiceUnavailable",
        "{code}"
    );
    assert_eq!(
        proxy
            .counts()
            .get(FaultKind::ServerError, Service::DynamoDb),
        2
    );
    // With faults on half the requests, three attempts get through.
    proxy
        .set_profile(Profile::parse("5xx=0.5").unwrap())
        .unwrap();
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 10).await);
    for i in 0..10 {
        put(&client, &table, &format!("later-{i}")).await.unwrap();
    }
    assert!(exists_at_emulator(&table, "later-9").await);
}

#[tokio::test]
async fn a_lost_response_is_applied_at_the_emulator_although_the_client_saw_an_error() {
    let proxy = proxy("lost=1.0").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 1).await);
    let started = Instant::now();
    let error = put(&client, &table, "lost-but-written").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        exists_at_emulator(&table, "lost-but-written").await,
        "the request was applied (client saw: {error})"
    );
    assert_eq!(
        proxy
            .counts()
            .get(FaultKind::LostResponse, Service::DynamoDb),
        1
    );
}

#[tokio::test]
async fn a_reset_connection_applies_nothing() {
    let proxy = proxy("reset=1.0").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 1).await);
    put(&client, &table, "never-written").await.unwrap_err();
    assert!(!exists_at_emulator(&table, "never-written").await);
    assert_eq!(proxy.counts().get(FaultKind::Reset, Service::DynamoDb), 1);
    // The SDK treats it as transient: with retries and the faults switched
    // off meanwhile, the same client goes on.
    proxy.set_profile(Profile::none()).unwrap();
    put(&client, &table, "after-reset").await.unwrap();
}

#[tokio::test]
async fn a_latency_spike_delays_then_forwards() {
    let proxy = proxy("latency=1.0,latency_ms=300-300").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 1).await);
    let started = Instant::now();
    put(&client, &table, "slow").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(exists_at_emulator(&table, "slow").await);
    assert_eq!(proxy.counts().get(FaultKind::Latency, Service::DynamoDb), 1);
}

#[tokio::test]
async fn kinesis_sqs_and_ses_clients_see_their_own_throttling_codes() {
    let direct = sdk(None, 3).await;
    let stream = testkit::unique_name("fault-proxy");
    testkit::create_stream(&direct, &stream, 1).await;
    let queue = testkit::create_queue(&direct, &testkit::unique_name("fault-proxy")).await;
    testkit::verify_email_domain(&direct, "fault-proxy.example.com").await;

    let proxy = proxy("throttle=1.0").await;
    let config = sdk(Some(&proxy), 1).await;

    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let err = kinesis
        .put_record()
        .stream_name(&stream)
        .partition_key("k")
        .data(aws_smithy_types::Blob::new(b"{}".to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.is_provisioned_throughput_exceeded_exception(),
        "{err:?}"
    );

    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut sqs_codes = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let err = sqs
            .send_message()
            .queue_url(&queue)
            .message_body("x")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        let code = err.code().unwrap_or_default().to_owned();
        assert!(
            aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code.as_str()),
            "{code}"
        );
        sqs_codes.insert(code);
    }
    assert_eq!(
        sqs_codes.into_iter().collect::<Vec<_>>(),
        ["RequestThrottled", "ThrottlingException"]
    );

    let ses = aws_sdk_sesv2::Client::new(&config);
    let err = ses
        .send_email()
        .from_email_address("a@fault-proxy.example.com")
        .destination(
            aws_sdk_sesv2::types::Destination::builder()
                .to_addresses("b@example.com")
                .build(),
        )
        .content(
            aws_sdk_sesv2::types::EmailContent::builder()
                .simple(
                    aws_sdk_sesv2::types::Message::builder()
                        .subject(
                            aws_sdk_sesv2::types::Content::builder()
                                .data("s")
                                .build()
                                .unwrap(),
                        )
                        .body(
                            aws_sdk_sesv2::types::Body::builder()
                                .text(
                                    aws_sdk_sesv2::types::Content::builder()
                                        .data("b")
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    let status = err.raw_response().map(|r| r.status().as_u16());
    let err = err.into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    assert_eq!(status, Some(429));

    let counts = proxy.counts();
    for service in [Service::Kinesis, Service::Sqs, Service::Ses] {
        assert!(counts.get(FaultKind::Throttle, service) >= 1, "{counts:?}");
    }
}

#[tokio::test]
async fn the_admin_path_serves_counts_and_switches_profiles() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    let proxy = proxy("throttle=1.0").await;
    let table = table().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk(Some(&proxy), 1).await);
    put(&client, &table, "a").await.unwrap_err();

    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let url = |path: &str| -> hyper::Uri {
        format!("{}/__fault-proxy/{path}", proxy.endpoint_url())
            .parse()
            .unwrap()
    };
    let body = |response: hyper::Response<hyper::body::Incoming>| async move {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    let counts: serde_json::Value =
        serde_json::from_str(&body(http.get(url("counts")).await.unwrap()).await).unwrap();
    assert_eq!(counts["injected"]["throttle"]["dynamodb"], 1, "{counts}");
    assert_eq!(counts["requests"]["dynamodb"], 1);

    let put_profile = hyper::Request::put(url("profile"))
        .body(Full::new(Bytes::from_static(b"none")))
        .unwrap();
    let answer = http.request(put_profile).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(proxy.profile().name, "none");
    put(&client, &table, "b").await.unwrap();

    let bad = hyper::Request::put(url("profile"))
        .body(Full::new(Bytes::from_static(b"throttle=7")))
        .unwrap();
    assert_eq!(http.request(bad).await.unwrap().status(), 400);

    let reset = hyper::Request::post(url("counts/reset"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(http.request(reset).await.unwrap().status(), 200);
    assert_eq!(proxy.counts().total_requests(), 0);
    assert_eq!(http.get(url("nothing")).await.unwrap().status(), 404);
}
