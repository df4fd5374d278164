//! X-Ray subsegments: the invocation, each record, and each AWS call.
//!
//! Built from parts that already exist rather than by hand:
//! - lambda_runtime's [`OpenTelemetryLayer`] gives every invocation a span
//!   (function name, request id, cold start) and flushes after it;
//! - the AWS SDK already opens a span per operation (`DynamoDB.PutItem`,
//!   with `rpc.service` and `rpc.method`);
//! - the pipeline opens a [`record_span`] per record;
//! - `tracing-opentelemetry` turns those spans into OpenTelemetry spans,
//!   and `opentelemetry-aws`'s X-Ray exporter sends them as subsegment
//!   documents to the X-Ray daemon Lambda runs beside the function
//!   (`AWS_XRAY_DAEMON_ADDRESS`).
//!
//! Lambda decides what is traced: its trace header (`Root`, `Parent`,
//! `Sampled`) becomes the invocation span's parent, so the subsegments hang
//! under the function's segment, and an invocation Lambda did not sample
//! records nothing. Without `AWS_XRAY_DAEMON_ADDRESS` (tracing off, local
//! runs, tests) none of this is installed and a record costs no span.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::task;

use lambda_runtime::layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_aws::trace::xray_propagator::span_context_from_str;
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
use opentelemetry_aws::xray_exporter::{SegmentTranslator, XrayExporter};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{dynamic_filter_fn, Filtered};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer as _;

/// Where Lambda's X-Ray daemon listens; set only when tracing is active.
pub const DAEMON_ADDRESS_VAR: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// The target of the pipeline's record spans, so the exporter's filter
/// can tell them from every other span.
pub const RECORD_TARGET: &str = "stream_core::xray";

/// The record span's fields, indexed as X-Ray annotations.
const RECORD_ANNOTATIONS: [&str; 3] = ["partition_key", "sequence_number", "outcome"];

/// The tracer provider, once export is on.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether Lambda sampled the invocation running now. Lambda hands a
/// process one invocation at a time; [`LambdaTraceParent`] sets it as each
/// begins. While it is false no span is made for X-Ray at all, so the
/// invocations Lambda does not sample (most of them) cost nothing extra.
static SAMPLED: AtomicBool = AtomicBool::new(false);

/// Whether subsegments are being exported.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

fn sampling() -> bool {
    SAMPLED.load(Ordering::Relaxed)
}

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`,
/// or Lambda's two-address form `tcp:host:port udp:host:port`.
pub fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(value.trim());
    udp.parse().ok()
}

/// The layer that turns the traced spans into subsegments, when
/// `AWS_XRAY_DAEMON_ADDRESS` is set; `None` otherwise. Call once, while
/// installing the log subscriber.
pub fn export_layer<S>() -> Option<impl tracing_subscriber::Layer<S>>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let configured = std::env::var(DAEMON_ADDRESS_VAR).ok()?;
    let Some(address) = daemon_address(&configured) else {
        eprintln!(
            "{DAEMON_ADDRESS_VAR}={configured:?} is not an address; X-Ray subsegments are off"
        );
        return None;
    };
    let client = match XrayDaemonClient::new(address) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("X-Ray daemon at {address}: {err}; X-Ray subsegments are off");
            return None;
        }
    };
    Some(layer_sending_to(client))
}

fn layer_sending_to<S>(
    client: XrayDaemonClient,
) -> Filtered<impl tracing_subscriber::Layer<S>, impl tracing_subscriber::layer::Filter<S>, S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    // A record's key, position and outcome are annotations (searchable:
    // "the traces where a record was dead-lettered"); the rest (the SDK's
    // rpc.*, lambda_runtime's faas.*) is metadata.
    let mut translator = SegmentTranslator::new()
        .with_indexed_attrs(RECORD_ANNOTATIONS.map(String::from))
        .metadata_all_attrs();
    if let Ok(group) = std::env::var("AWS_LAMBDA_LOG_GROUP_NAME") {
        // The trace then links to the function's logs.
        translator = translator.with_log_group_name(group);
    }
    let provider = SdkTracerProvider::builder()
        .with_id_generator(XrayIdGenerator::default())
        // Only what Lambda sampled: a span with no sampled parent is
        // never recorded.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        // One UDP datagram per finished span, sent as it ends: no thread,
        // nothing held between invocations.
        .with_simple_exporter(XrayExporter::new(client).with_translator(translator))
        .build();
    let tracer = provider.tracer("stream-core");
    let _ = PROVIDER.set(provider);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(
            // Which callsites can be traced is fixed; whether one is,
            // depends on the invocation.
            dynamic_filter_fn(|meta, _| sampling() && is_traced(meta))
                .with_callsite_filter(|meta| {
                    if is_traced(meta) {
                        tracing::subscriber::Interest::sometimes()
                    } else {
                        tracing::subscriber::Interest::never()
                    }
                })
                .with_max_level_hint(tracing::level_filters::LevelFilter::DEBUG),
        )
}

/// The spans that become subsegments: the invocation, each record, and
/// each AWS operation. Never events, and never the SDK's inner spans
/// (serialisation, attempts), which would only add noise.
fn is_traced(meta: &Metadata<'_>) -> bool {
    if !meta.is_span() {
        return false;
    }
    let target = meta.target();
    (target.starts_with("aws_sdk_") && target.contains("::operation::"))
        || target == "lambda_runtime::layers::otel"
        || target == RECORD_TARGET
}

/// The span of one record; a disabled span when export is off or the
/// invocation is not sampled, so an untraced record pays nothing for it.
pub fn record_span(sequence_number: &str, partition_key: Option<&str>) -> tracing::Span {
    // Only ever true with export on: the layer that sets it is installed
    // with the exporter.
    if !sampling() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        target: RECORD_TARGET,
        "record",
        sequence_number = sequence_number,
        partition_key = partition_key,
        outcome = tracing::field::Empty,
    )
}

/// Writes where a record ended up on its span.
pub fn record_outcome(span: &tracing::Span, outcome: &'static str) {
    span.record("outcome", outcome);
}

/// Sends what is still buffered; lambda_runtime calls it after each
/// invocation.
fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// lambda_runtime's invocation span, flushed after each invocation.
pub fn invocation_layer() -> OpenTelemetryLayer<fn()> {
    OpenTelemetryLayer::new(flush as fn()).with_trigger(OpenTelemetryFaasTrigger::PubSub)
}

/// Makes Lambda's trace header the parent of what the inner service opens
/// (lambda_runtime's invocation span), so the subsegments join the
/// function's trace and follow its sampling decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaTraceParent;

impl<S> Layer<S> for LambdaTraceParent {
    type Service = WithLambdaTraceParent<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithLambdaTraceParent { inner }
    }
}

/// The service [`LambdaTraceParent`] makes.
#[derive(Debug, Clone)]
pub struct WithLambdaTraceParent<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for WithLambdaTraceParent<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let parent = invocation
            .context
            .xray_trace_id
            .as_deref()
            .and_then(span_context_from_str)
            .filter(|parent| parent.is_valid() && parent.is_sampled());
        SAMPLED.store(parent.is_some(), Ordering::Relaxed);
        match parent {
            // The inner service creates its span during `call`, while the
            // parent is attached.
            Some(parent) => {
                let _attached = Context::new().with_remote_span_context(parent).attach();
                self.inner.call(invocation)
            }
            None => self.inner.call(invocation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_address_is_read_in_both_forms() {
        let expected: SocketAddr = "169.254.79.129:2000".parse().unwrap();
        assert_eq!(daemon_address("169.254.79.129:2000"), Some(expected));
        assert_eq!(
            daemon_address("tcp:169.254.79.129:2000 udp:169.254.79.129:2000"),
            Some(expected)
        );
        assert_eq!(daemon_address("localhost"), None);
        assert_eq!(daemon_address(""), None);
    }

    #[test]
    fn only_the_invocation_records_and_aws_operations_are_traced() {
        use std::collections::BTreeSet;
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::filter::filter_fn;
        use tracing_subscriber::layer::SubscriberExt as _;

        // Every callsite's metadata, read through a throwaway subscriber.
        let traced = Arc::new(Mutex::new(BTreeSet::new()));
        let seen = Arc::clone(&traced);
        let recorder = tracing_subscriber::registry().with(filter_fn(move |meta| {
            if is_traced(meta) {
                seen.lock().unwrap().insert(meta.target().to_owned());
            }
            true
        }));
        tracing::subscriber::with_default(recorder, || {
            let _ = tracing::info_span!(target: RECORD_TARGET, "record");
            let _ = tracing::debug_span!(
                target: "aws_sdk_dynamodb::operation::put_item",
                "DynamoDB.PutItem"
            );
            let _ = tracing::debug_span!(
                target: "aws_smithy_runtime::client::orchestrator",
                "try_attempt"
            );
            tracing::info!(target: "aws_sdk_sqs::operation::send_message", "an event");
            let _ = tracing::info_span!("invocation");
        });
        let traced = traced.lock().unwrap().clone();
        assert_eq!(
            traced,
            BTreeSet::from([
                RECORD_TARGET.to_owned(),
                "aws_sdk_dynamodb::operation::put_item".to_owned()
            ])
        );
    }
}
