//! Every linked function (`event_source_runner::linked`), each built as
//! deployed and run in process behind the local event source runner, one
//! mapping per stream it reads with the template's filter.
//!
//! Each function is wrapped in a [`Tap`], which passes every batch through
//! unchanged and watches it: it counts what was processed for the progress
//! line, records the invocation's data points for the dashboard
//! ([`Samples`]), and plays the customer who cancels an order as soon as
//! its stock is reserved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use std::collections::HashMap;

use anyhow::Context;
use aws_config::SdkConfig;
use event_source_runner::linked::{self, Wire, WiringError};
use event_source_runner::{
    catalog, Deadline, Invoke, InvokeError, KinesisEvent, KinesisEventResponse, MappingConfig,
    Runner,
};
use order_events::{EventKind, OrderCancelled, OrderId};
use stream_core::FunctionDescriptor;

use crate::progress::Progress;
use crate::publisher::OrderEventPublisher;
use crate::samples::{Invocation, Samples};
use crate::setup::Resources;
use crate::shop::{Plan, Role};

/// What the tap reads of a record: its type and order, when it has them,
/// and when it reached the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Peek {
    sequence_number: String,
    arrival: SystemTime,
    event_type: Option<String>,
    order_id: Option<String>,
}

fn peek(sequence_number: &str, arrival: SystemTime, data: &[u8]) -> Peek {
    let value = serde_json::from_slice::<serde_json::Value>(data).ok();
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    Peek {
        sequence_number: sequence_number.to_owned(),
        arrival,
        event_type: text(value.as_ref().and_then(|v| v.get("eventType"))),
        order_id: text(
            value
                .as_ref()
                .and_then(|v| v.get("payload"))
                .and_then(|p| p.get("orderId")),
        ),
    }
}

/// Records processed for good in a batch: Lambda checkpoints before the
/// first record reported failed and redelivers everything from it; an
/// identifier that names no record of the batch fails all of it.
fn acknowledged(batch: &[Peek], response: &KinesisEventResponse) -> usize {
    let mut first_failed = batch.len();
    for failure in &response.batch_item_failures {
        let position = failure
            .item_identifier
            .as_deref()
            .and_then(|id| batch.iter().position(|r| r.sequence_number == id));
        first_failed = first_failed.min(position.unwrap_or(0));
    }
    first_failed
}

/// The customer who cancels an order right after its stock is reserved:
/// on the first batch carrying that order's `INVENTORY_RESERVED` to the
/// saga, an `ORDER_CANCELLED` is published before the saga sees the
/// reservation. It lands behind the reservation in the order's shard and
/// ahead of the payment reply (the payment is only requested by the saga's
/// answer to the reservation), so the saga is cancelled while it waits for
/// the payment, every time.
pub struct CancelOnReservation {
    order: OrderId,
    publisher: Arc<OrderEventPublisher>,
    fired: AtomicBool,
    error: Mutex<Option<String>>,
}

impl CancelOnReservation {
    pub fn new(order: OrderId, publisher: Arc<OrderEventPublisher>) -> Self {
        Self {
            order,
            publisher,
            fired: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    pub fn order(&self) -> &OrderId {
        &self.order
    }

    /// Whether the cancellation was published.
    pub fn published(&self) -> bool {
        self.fired.load(Ordering::SeqCst) && self.error().is_none()
    }

    /// Why publishing the cancellation failed.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    async fn observe(&self, batch: &[Peek]) {
        let reserved = batch.iter().any(|r| {
            r.event_type.as_deref() == Some("INVENTORY_RESERVED")
                && r.order_id.as_deref() == Some(self.order.as_str())
        });
        if !reserved || self.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        let cancelled = OrderCancelled {
            order_id: self.order.clone(),
            user_id: None,
            reason: Some("customer changed their mind".to_owned()),
        };
        if let Err(err) = self.publisher.cancel(cancelled).await {
            if let Ok(mut error) = self.error.lock() {
                *error = Some(format!("{err:#}"));
            }
        }
    }
}

/// When a record reached the stream, as Lambda's event says.
fn arrival(record: &event_source_runner::KinesisEventRecord) -> SystemTime {
    let millis = record
        .kinesis
        .approximate_arrival_timestamp
        .0
        .timestamp_millis();
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

/// A function with the demo watching its batches.
pub struct Tap<I> {
    inner: I,
    progress: Arc<Progress>,
    cancel: Option<Arc<CancelOnReservation>>,
    recording: Option<(&'static str, Arc<Samples>)>,
}

impl<I: Invoke> Tap<I> {
    pub fn new(inner: I, progress: Arc<Progress>) -> Self {
        Self {
            inner,
            progress,
            cancel: None,
            recording: None,
        }
    }

    pub fn cancelling(mut self, cancel: Arc<CancelOnReservation>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Records each invocation of `function` in `samples`.
    pub fn recording(mut self, function: &'static str, samples: Arc<Samples>) -> Self {
        self.recording = Some((function, samples));
        self
    }

    fn record(
        &self,
        started: SystemTime,
        wall: Duration,
        batch: &[Peek],
        metrics: Option<&serde_json::Value>,
    ) {
        let Some((function, samples)) = &self.recording else {
            return;
        };
        samples.invocation(&Invocation {
            function,
            started,
            wall,
            oldest_arrival: batch.iter().map(|r| r.arrival).min(),
            metrics,
        });
    }

    /// A saga's outcome event, processed for good.
    fn saga_ended(&self, record: &Peek, order: &str, completed: bool) {
        self.progress.saga_ended(order, completed);
        if let Some((_, samples)) = &self.recording {
            samples.saga_ended(SAGA_FUNCTION, order, completed, record.arrival);
        }
    }
}

/// The function whose log lines say how sagas end.
const SAGA_FUNCTION: &str =
    <order_saga_step::OrderSagaStep as stream_core::lambda::Function>::DESCRIPTOR.name;

impl<I: Invoke> Invoke for Tap<I> {
    async fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> Result<KinesisEventResponse, InvokeError> {
        let batch: Vec<Peek> = event
            .records
            .iter()
            .map(|r| peek(&r.kinesis.sequence_number, arrival(r), &r.kinesis.data.0))
            .collect();
        if let Some(cancel) = &self.cancel {
            cancel.observe(&batch).await;
        }
        let (started, clock) = (SystemTime::now(), Instant::now());
        let metered = self.inner.invoke_metered(event, deadline).await;
        self.record(started, clock.elapsed(), &batch, metered.metrics.as_ref());
        let answer = metered.answer;
        match &answer {
            Ok(response) => {
                let done = acknowledged(&batch, response);
                for record in &batch[..done] {
                    let (Some(kind), Some(order)) = (&record.event_type, &record.order_id) else {
                        continue;
                    };
                    match kind.as_str() {
                        "ORDER_COMPLETED" => self.saga_ended(record, order, true),
                        "ORDER_FAILED" => self.saga_ended(record, order, false),
                        _ => {}
                    }
                }
                self.progress.batch(done);
            }
            Err(_) => self.progress.batch(0),
        }
        answer
    }
}

/// The runner with every function wired, the cancelling customer, and
/// the data points the functions' invocations leave.
pub struct Wiring {
    pub runner: Runner,
    pub cancel: Option<Arc<CancelOnReservation>>,
    pub samples: Arc<Samples>,
}

/// Builds every linked function from `resources` and adds its mappings,
/// each with the template's filter and the runner's defaults.
pub fn wire(
    sdk: &SdkConfig,
    resources: &Resources,
    plan: &Plan,
    progress: &Arc<Progress>,
    publisher: &Arc<OrderEventPublisher>,
) -> anyhow::Result<Wiring> {
    wire_with(
        &WireOptions {
            clients: Clients {
                functions: sdk,
                runner: sdk,
            },
            tune: &|_| {},
            step_timeout: None,
        },
        resources,
        plan,
        progress,
        publisher,
    )
}

/// Which SDK configuration each side uses: the functions' own clients
/// (their tables, streams, queue and mail) and the runner's stream reads
/// may go to different endpoints, e.g. the functions' through a
/// fault-injecting proxy while the runner reads the emulator directly.
#[derive(Clone, Copy)]
pub struct Clients<'a> {
    pub functions: &'a SdkConfig,
    pub runner: &'a SdkConfig,
}

/// How [`wire_with`] departs from [`wire`].
pub struct WireOptions<'a> {
    pub clients: Clients<'a>,
    /// Applied to every mapping's configuration after the template's
    /// filter is set.
    pub tune: &'a dyn Fn(&mut MappingConfig),
    /// The saga's step timeout (`SAGA_STEP_TIMEOUT_SECONDS`); `None` keeps
    /// the function's default.
    pub step_timeout: Option<Duration>,
}

/// [`wire`] with separate clients, tuned mappings and a step timeout.
pub fn wire_with(
    options: &WireOptions<'_>,
    resources: &Resources,
    plan: &Plan,
    progress: &Arc<Progress>,
    publisher: &Arc<OrderEventPublisher>,
) -> anyhow::Result<Wiring> {
    let cancel = plan.cancelled().map(|order| {
        Arc::new(CancelOnReservation::new(
            order.id().clone(),
            Arc::clone(publisher),
        ))
    });
    let samples = Arc::new(Samples::with_queue(&resources.dead_letter_queue_name()));
    let mut wiring = Tapped {
        runner: Runner::new(),
        samples: Arc::clone(&samples),
        options,
        resources,
        scenario: scenario_vars(options, plan),
        progress,
        cancel: cancel.as_ref(),
    };
    for function in linked::LINKED {
        let vars = wiring.vars(function.name);
        linked::build(function.name, options.clients.functions, &vars, &mut wiring)
            .with_context(|| format!("wiring {}", function.name))?;
    }
    Ok(Wiring {
        runner: wiring.runner,
        cancel,
        samples,
    })
}

/// The variables that set the run's scenario, on top of the resources':
/// the simulated services fail exactly the orders the plan says, and the
/// saga's step timeout is the one asked for.
fn scenario_vars(options: &WireOptions<'_>, plan: &Plan) -> HashMap<String, String> {
    let ids = |role| {
        let ids: Vec<String> = plan
            .ids_with(role)
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect();
        ids.join(",")
    };
    let mut vars = HashMap::from([
        (
            participant_simulator::config::PAYMENT_FAILURES_VAR.to_owned(),
            ids(Role::PaymentDeclined),
        ),
        (
            participant_simulator::config::SHIPPING_FAILURES_VAR.to_owned(),
            ids(Role::ShippingFails),
        ),
    ]);
    if let Some(timeout) = options.step_timeout {
        vars.insert(
            order_saga_step::config::STEP_TIMEOUT_VAR.to_owned(),
            timeout.as_secs().max(1).to_string(),
        );
    }
    vars
}

/// Wires each function behind a [`Tap`]: the one that acts on stock
/// reservations also plays the cancelling customer. Its mappings read the
/// run's streams with the template's filter, then `tune`.
struct Tapped<'a> {
    runner: Runner,
    samples: Arc<Samples>,
    options: &'a WireOptions<'a>,
    resources: &'a Resources,
    scenario: HashMap<String, String>,
    progress: &'a Arc<Progress>,
    cancel: Option<&'a Arc<CancelOnReservation>>,
}

impl Tapped<'_> {
    fn vars(&self, function: &str) -> HashMap<String, String> {
        let mut vars = self.resources.vars(function);
        vars.extend(self.scenario.clone());
        vars
    }
}

impl Wire for Tapped<'_> {
    fn wire<I: Invoke + 'static>(
        &mut self,
        function: FunctionDescriptor,
        invoker: I,
    ) -> Result<(), WiringError> {
        let mut tap = Tap::new(invoker, Arc::clone(self.progress))
            .recording(function.name, Arc::clone(&self.samples));
        if let Some(cancel) = self
            .cancel
            .filter(|_| function.handles(EventKind::InventoryReserved))
        {
            tap = tap.cancelling(Arc::clone(cancel));
        }
        let mut configs = catalog::mapping_configs(&function, &self.vars(function.name))?;
        configs.iter_mut().for_each(self.options.tune);
        Ok(self
            .runner
            .push_function(tap, self.options.clients.runner, configs)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seqs: &[&str]) -> Vec<Peek> {
        seqs.iter()
            .map(|s| peek(s, SystemTime::UNIX_EPOCH, b"{}"))
            .collect()
    }

    fn failing(ids: &[&str]) -> KinesisEventResponse {
        let mut response = KinesisEventResponse::default();
        for id in ids {
            response.add_failure(*id);
        }
        response
    }

    #[test]
    fn peeks_type_and_order() {
        let record = peek(
            "7",
            SystemTime::UNIX_EPOCH,
            br#"{"eventType":"ORDER_FAILED","payload":{"orderId":"ord-1"}}"#,
        );
        assert_eq!(record.event_type.as_deref(), Some("ORDER_FAILED"));
        assert_eq!(record.order_id.as_deref(), Some("ord-1"));
        let junk = peek("8", SystemTime::UNIX_EPOCH, b"not json");
        assert_eq!((junk.event_type, junk.order_id), (None, None));
    }

    #[test]
    fn counts_records_before_the_first_failure_as_processed() {
        let records = batch(&["1", "2", "3", "4"]);
        assert_eq!(acknowledged(&records, &failing(&[])), 4);
        assert_eq!(acknowledged(&records, &failing(&["4", "3"])), 2);
        assert_eq!(acknowledged(&records, &failing(&["1"])), 0);
        assert_eq!(acknowledged(&records, &failing(&["99"])), 0);
    }
}
