//! The functions under measurement. Which functions exist comes from the
//! descriptors' manifest (`functions.json`, written from each crate's
//! `DESCRIPTOR`), so a new function is measured without touching this
//! file, or reported as having no workload. What each is fed and which
//! call counts as its effect is benchmark data, kept here keyed by the
//! descriptor's name. A Python counterpart is a module under
//! `bench/python/` named after the function (`inventory_update.py`).

use std::path::Path;

use serde_json::json;

use crate::fake_aws::CallCounts;

/// The manifest, as `make manifest` writes it from the descriptors.
const MANIFEST: &str = include_str!("../../../functions.json");

/// Products the inventory orders draw from; each order takes two of them.
const PRODUCTS: usize = 100;
const TIMESTAMP: &str = "2026-01-01T12:00:00.000Z";
/// The harness's own minimal function, for checking the harness.
pub const ECHO: &str = "echo-function";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// The function's release binary on `provided.al2023`.
    Rust,
    /// The Python counterpart under `awslambdaric`.
    Python,
}

/// One thing to measure: a function in one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub runtime: Runtime,
}

impl Function {
    pub fn rust(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            runtime: Runtime::Rust,
        }
    }

    pub fn python(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            runtime: Runtime::Python,
        }
    }

    /// How the function is named in tables.
    pub fn label(&self) -> String {
        match self.runtime {
            Runtime::Rust => self.name.clone(),
            Runtime::Python => format!("{} (python)", self.name),
        }
    }

    /// The Python module of the counterpart (`inventory_update`).
    pub fn python_module(&self) -> String {
        self.name.replace('-', "_")
    }

    pub fn workload(&self) -> Option<&'static Workload> {
        WORKLOADS.iter().find(|w| w.function == self.name)
    }

    pub fn needs_aws(&self) -> bool {
        self.workload().is_some_and(|w| w.effect != Effect::None)
    }
}

/// The deployed functions' names, from the manifest.
pub fn deployed() -> anyhow::Result<Vec<String>> {
    let manifest: serde_json::Value = serde_json::from_str(MANIFEST)?;
    let functions = manifest["functions"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("functions.json has no `functions` list"))?;
    Ok(functions
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect())
}

/// Every name `--function` accepts: the deployed functions and the echo
/// function.
pub fn known() -> anyhow::Result<Vec<String>> {
    let mut names = deployed()?;
    names.push(ECHO.to_owned());
    Ok(names)
}

/// The Python counterparts present in `dir`, for `names`.
pub fn python_counterparts(names: &[String], dir: &Path) -> Vec<Function> {
    names
        .iter()
        .map(|name| Function::python(name))
        .filter(|f| dir.join(format!("{}.py", f.python_module())).is_file())
        .collect()
}

/// The event every record of a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Two lines of distinct existing products.
    OrderCreated,
    /// With an email address.
    OrderPlaced,
}

/// The call that is a record's effect: one per record is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Operation(&'static str),
    /// A Kinesis entry of this `eventType` or `commandType`.
    KinesisType(&'static str),
    /// No AWS call at all.
    None,
}

/// What one function is fed and how its effect is counted.
#[derive(Debug)]
pub struct Workload {
    pub function: &'static str,
    pub description: &'static str,
    pub event: Event,
    pub effect: Effect,
    /// The function's own variables (as in template.yaml), by resource:
    /// `(variable, resource suffix)`; a suffix of `stream:` names a stream
    /// ARN, `sender` the sender address.
    env: &'static [(&'static str, &'static str)],
}

const WORKLOADS: &[Workload] = &[
    Workload {
        function: "email-notification",
        description: "ORDER_PLACED with email, distinct orders (Rust: idempotency claim + SES \
                      send + confirm; Python: SES send)",
        event: Event::OrderPlaced,
        effect: Effect::Operation("SESv2.SendEmail"),
        env: &[
            ("SENDER_EMAIL", "sender"),
            ("CUSTOMERS_TABLE", "customers"),
            ("IDEMPOTENCY_TABLE", "idempotency"),
        ],
    },
    Workload {
        function: "inventory-update",
        description: "ORDER_CREATED, 2 lines each, distinct orders (one TransactWriteItems each)",
        event: Event::OrderCreated,
        effect: Effect::Operation("DynamoDB.TransactWriteItems"),
        env: &[
            ("INVENTORY_TABLE", "inventory"),
            ("ORDER_EVENTS_STREAM", "stream:events"),
            ("IDEMPOTENCY_TABLE", "idempotency"),
        ],
    },
    Workload {
        function: "order-saga-step",
        description: "ORDER_PLACED, distinct orders (saga start + RESERVE_INVENTORY command)",
        event: Event::OrderPlaced,
        effect: Effect::KinesisType("RESERVE_INVENTORY"),
        env: &[
            ("SAGA_TABLE", "sagas"),
            ("ORDER_COMMANDS_STREAM", "stream:commands"),
            ("ORDER_EVENTS_STREAM", "stream:events"),
            ("IDEMPOTENCY_TABLE", "idempotency"),
        ],
    },
    Workload {
        function: ECHO,
        description: "any records, no AWS calls",
        event: Event::OrderPlaced,
        effect: Effect::None,
        env: &[],
    },
];

/// A run of one function against the fake endpoint: its variables and
/// the records it is fed.
#[derive(Debug, Clone)]
pub struct Setup {
    pub workload: &'static Workload,
    /// The function's own variables and the AWS ones.
    pub env: Vec<(String, String)>,
    /// Unique per setup: resource names, order ids and email domains.
    tag: String,
}

/// What a batch left behind, as the fake endpoint counted it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effects {
    pub dead_letters: u64,
    pub aws_calls: CallCounts,
    /// The check, in words.
    pub summary: String,
    /// Every record had its effect and none was dead-lettered.
    pub as_expected: bool,
}

impl Setup {
    /// A run against the fake endpoint at `endpoint`: resources are only
    /// names, unique to this run.
    pub fn new(workload: &'static Workload, endpoint: &str) -> Self {
        let tag = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let arn = |name: &str| format!("arn:aws:kinesis:us-east-1:123456789012:stream/{name}");
        // Static credentials and region: a function must never pick up
        // real ones here.
        let mut env: Vec<(String, String)> = [
            ("AWS_ENDPOINT_URL", endpoint.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            (
                "DEAD_LETTER_QUEUE_URL",
                format!("{endpoint}/123456789012/{tag}-dlq"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (variable, resource) in workload.env {
            let value = match (*resource, resource.strip_prefix("stream:")) {
                ("sender", _) => format!("shop@{}", email_domain(&tag)),
                (_, Some(stream)) => arn(&format!("{tag}-{stream}")),
                (table, None) => format!("{tag}-{table}"),
            };
            env.push(((*variable).to_owned(), value));
        }
        Self { workload, env, tag }
    }

    /// Record `i` of a batch spread over `keys` partition keys:
    /// (partition key, data). Every record is a distinct order, so no
    /// record is a duplicate of another.
    pub fn record(&self, i: usize, keys: usize) -> (String, Vec<u8>) {
        let tag = &self.tag;
        let order = format!("{tag}-o{i}");
        let user = format!("u{}", i % 1000);
        let (kind, payload) = match self.workload.event {
            Event::OrderCreated => {
                // Two distinct products: the second is 1..=99 places on.
                let a = i % PRODUCTS;
                let b = (a + 1 + (i / PRODUCTS) % (PRODUCTS - 1)) % PRODUCTS;
                (
                    "ORDER_CREATED",
                    json!({
                        "orderId": order, "userId": user, "status": "PENDING", "total": "18.99",
                        "items": [
                            {"productId": product(tag, a), "quantity": 1, "price": "9.99"},
                            {"productId": product(tag, b), "quantity": 2, "price": 4.5}
                        ]
                    }),
                )
            }
            Event::OrderPlaced => (
                "ORDER_PLACED",
                json!({
                    "orderId": order, "userId": user, "total": 18.99,
                    "email": format!("customer{i}@{}", email_domain(tag)),
                    "items": [
                        {"productId": "sku-mug", "quantity": 1, "price": "9.99"},
                        {"productId": "sku-tea", "quantity": 2, "price": 4.5}
                    ]
                }),
            ),
        };
        let envelope = json!({
            "eventId": format!("{tag}-e{i}"),
            "eventType": kind,
            "timestamp": TIMESTAMP,
            "payload": payload,
        });
        let key = format!("{tag}-k{}", i % keys.max(1));
        (key, envelope.to_string().into_bytes())
    }

    /// The Lambda Kinesis event of `records` records over `keys` partition
    /// keys, as JSON.
    pub fn batch(&self, records: usize, keys: usize) -> anyhow::Result<Vec<u8>> {
        let event = stream_core::testing::kinesis_event((0..records).map(|i| self.record(i, keys)));
        Ok(serde_json::to_vec(&event)?)
    }

    /// Checks a batch of `records` against the calls the fake endpoint
    /// saw: one effect per record, and no dead letter.
    pub fn verify(&self, calls: &CallCounts, records: usize) -> Effects {
        let (done, expected) = match self.workload.effect {
            Effect::Operation(operation) => (calls.calls(operation), records as u64),
            Effect::KinesisType(kind) => (
                calls.kinesis_types.get(kind).copied().unwrap_or(0),
                records as u64,
            ),
            Effect::None => (calls.total(), 0),
        };
        let what = match self.workload.effect {
            Effect::Operation(operation) => operation,
            Effect::KinesisType(kind) => kind,
            Effect::None => "AWS calls",
        };
        let dead_letters = calls.calls("SQS.SendMessage");
        let per_record = calls.total() as f64 / records.max(1) as f64;
        let mut summary = format!(
            "{done} {what}, {expected} expected; {} AWS calls ({per_record:.1}/record)",
            calls.total()
        );
        if calls.unknown > 0 {
            summary.push_str(&format!(
                "; {} calls the fake does not serve",
                calls.unknown
            ));
        }
        Effects {
            dead_letters,
            aws_calls: calls.clone(),
            summary,
            as_expected: done == expected && dead_letters == 0 && calls.unknown == 0,
        }
    }
}

fn email_domain(tag: &str) -> String {
    format!("{tag}.example")
}

fn product(tag: &str, p: usize) -> String {
    format!("{tag}-p{p:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup_for(name: &str) -> Setup {
        let workload = Function::rust(name).workload().unwrap();
        Setup::new(workload, "http://127.0.0.1:9")
    }

    #[test]
    fn every_deployed_function_has_a_workload() {
        let deployed = deployed().unwrap();
        assert!(deployed.len() >= 3, "{deployed:?}");
        for name in &deployed {
            assert!(Function::rust(name).workload().is_some(), "{name}");
            assert!(Function::rust(name).needs_aws(), "{name}");
        }
        assert!(!Function::rust(ECHO).needs_aws());
        assert_eq!(known().unwrap().last().map(String::as_str), Some(ECHO));
    }

    #[test]
    fn python_counterparts_are_the_modules_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/python");
        let names = vec!["inventory-update".to_owned(), "order-saga-step".to_owned()];
        let found = python_counterparts(&names, &dir);
        assert_eq!(found, vec![Function::python("inventory-update")]);
        assert_eq!(found[0].label(), "inventory-update (python)");
        assert_eq!(found[0].python_module(), "inventory_update");
    }

    #[test]
    fn inventory_orders_take_two_distinct_existing_products() {
        let setup = setup_for("inventory-update");
        let mut orders = std::collections::HashSet::new();
        for i in 0..10_000 {
            let (_, data) = setup.record(i, 100);
            let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
            assert_eq!(v["eventType"], "ORDER_CREATED");
            let items = v["payload"]["items"].as_array().unwrap();
            assert_eq!(items.len(), 2);
            assert_ne!(items[0]["productId"], items[1]["productId"], "record {i}");
            for item in items {
                let id = item["productId"].as_str().unwrap();
                let n: usize = id.rsplit_once("-p").unwrap().1.parse().unwrap();
                assert!(n < PRODUCTS);
            }
            assert!(orders.insert(v["payload"]["orderId"].to_string()));
        }
    }

    #[test]
    fn batches_are_lambda_kinesis_events_over_the_keys_asked_for() {
        for name in known().unwrap() {
            let setup = setup_for(&name);
            let event: serde_json::Value =
                serde_json::from_slice(&setup.batch(5, 2).unwrap()).unwrap();
            let records = event["Records"].as_array().unwrap();
            assert_eq!(records.len(), 5);
            assert_eq!(records[2]["eventSource"], "aws:kinesis");
            let keys: std::collections::BTreeSet<_> = records
                .iter()
                .map(|r| r["kinesis"]["partitionKey"].as_str().unwrap())
                .collect();
            assert_eq!(keys.len(), 2, "{name}");
            assert!(records[2]["kinesis"]["data"].as_str().is_some());
        }
    }

    #[test]
    fn setups_name_every_variable_and_point_at_the_fake() {
        for (name, names) in [
            (
                "email-notification",
                &["SENDER_EMAIL", "CUSTOMERS_TABLE", "IDEMPOTENCY_TABLE"][..],
            ),
            (
                "inventory-update",
                &[
                    "INVENTORY_TABLE",
                    "ORDER_EVENTS_STREAM",
                    "IDEMPOTENCY_TABLE",
                ],
            ),
            (
                "order-saga-step",
                &["SAGA_TABLE", "ORDER_COMMANDS_STREAM", "ORDER_EVENTS_STREAM"],
            ),
        ] {
            let setup = setup_for(name);
            let get = |k: &str| {
                setup
                    .env
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(
                get("AWS_ENDPOINT_URL").as_deref(),
                Some("http://127.0.0.1:9")
            );
            assert_eq!(get("AWS_ACCESS_KEY_ID").as_deref(), Some("test"));
            assert!(get("DEAD_LETTER_QUEUE_URL")
                .unwrap()
                .starts_with("http://127.0.0.1:9/"));
            for variable in names {
                assert!(
                    get(variable).is_some_and(|v| !v.is_empty()),
                    "{name} {variable}"
                );
            }
        }
        let saga = setup_for("order-saga-step");
        let stream = &saga.env.iter().find(|(k, _)| k == "ORDER_EVENTS_STREAM");
        assert!(stream.unwrap().1.starts_with("arn:aws:kinesis:"));
    }

    #[test]
    fn effects_need_one_effect_per_record_and_no_dead_letter() {
        let setup = setup_for("inventory-update");
        let mut calls = CallCounts::default();
        calls
            .operations
            .insert("DynamoDB.TransactWriteItems".into(), 10);
        let effects = setup.verify(&calls, 10);
        assert!(effects.as_expected, "{}", effects.summary);
        assert!(
            effects.summary.contains("10 AWS calls (1.0/record)"),
            "{}",
            effects.summary
        );
        assert!(!setup.verify(&calls, 11).as_expected);

        calls.operations.insert("SQS.SendMessage".into(), 1);
        let effects = setup.verify(&calls, 10);
        assert_eq!(effects.dead_letters, 1);
        assert!(!effects.as_expected);

        let saga = setup_for("order-saga-step");
        let mut calls = CallCounts::default();
        calls.kinesis_types.insert("RESERVE_INVENTORY".into(), 3);
        assert!(saga.verify(&calls, 3).as_expected);
        calls.unknown = 1;
        assert!(!saga.verify(&calls, 3).as_expected);

        let echo = setup_for(ECHO);
        assert!(echo.verify(&CallCounts::default(), 3).as_expected);
    }
}
